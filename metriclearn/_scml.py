"""Sparse Compositional Metric Learning (Shi et al. 2014): SCML and
SCML_Supervised."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array

from ._compat import Interval, StrOptions, _fit_context
from ._result import FitResult
from ._scml_solver import _metric_from_weights, lda_basis, solve, triplet_diffs_basis
from .base import (
    BaseMetricLearner,
    SupervisedLearnerMixin,
    TripletsClassifierMixin,
    TupleLearnerMixin,
)
from .constraints import Constraints

__all__ = ["SCML", "SCML_Supervised"]


class _BaseSCML(BaseMetricLearner):
    """The parameters and the solver shared by SCML and SCML_Supervised."""

    _parameter_constraints = {
        "beta": [Interval(Real, 0, None, closed="left")],
        "basis": [StrOptions({"triplet_diffs"}), "array-like"],
        "n_basis": [Interval(Integral, 1, None, closed="left"), None],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "output_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
    }
    _tuple_size = 3
    _iteration_unit = "steps"
    _gather = False

    def __init__(self, *, beta=1e-5, basis="triplet_diffs", n_basis=None, gamma=5e-3,
                 max_iter=10000, output_iter=500, batch_size=10, verbose=False,
                 preprocessor=None, random_state=None):
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _array_basis(self, d):
        B = check_array(self.basis, dtype=np.float64, input_name="basis")
        if B.shape[1] != d:
            raise ValueError(
                f"basis must have shape (n_basis, {d}) to match the {d} features of the "
                f"input; got shape {B.shape}"
            )
        if self.n_basis is not None and self.n_basis != B.shape[0]:
            raise ValueError(
                f"n_basis={self.n_basis} does not match the {B.shape[0]} rows of basis"
            )
        return np.ascontiguousarray(B)

    def _learn(self, X, triplets, basis, rng):
        """The weights of ``basis`` from index ``triplets`` into ``X``."""
        X = np.ascontiguousarray(X)
        w, history = solve(X, triplets, basis, beta=self.beta, gamma=self.gamma,
                           max_iter=self.max_iter, output_iter=self.output_iter,
                           batch_size=self.batch_size, rng=rng)
        d = X.shape[1]
        n_active = int(np.count_nonzero(w > 0))
        found = []
        if n_active == 0:
            L = np.zeros((1, d))
            found.append((UserWarning, (
                f"{type(self).__name__}: no basis element has a positive weight, so the "
                "learned metric is zero. The triplets' margin is 1 in squared units of "
                "the features: standardise them, or lower beta")))
        else:
            L = _metric_from_weights(basis, w, d)
            if n_active < d:
                found.append((UserWarning, (
                    f"{type(self).__name__}: {n_active} basis elements have a positive "
                    f"weight, fewer than the {d} features: the learned map reduces the "
                    f"dimension to {n_active}")))
        return FitResult(L, self.max_iter, True, history,
                         {"basis_": basis, "weights_": w}, warnings=found)


class SCML(TupleLearnerMixin, TripletsClassifierMixin, _BaseSCML):
    r"""Sparse Compositional Metric Learning (SCML), learned from triplets.

    Read more in the :ref:`User Guide <scml>`.

    SCML (Shi et al. [1]_) builds the metric from a set of rank-one
    components :math:`b_k b_k^T` (the basis), with sparse non-negative
    weights learned from triplets :math:`(a, p, n)` (the anchor :math:`a`
    closer to :math:`p` than to :math:`n`):

    .. math::

        \min_{w \ge 0} \; \frac{1}{|T|} \sum_{(a, p, n) \in T}
        \big[1 + d_w(a, p) - d_w(a, n)\big]_+ + \beta \|w\|_1,
        \qquad M = \sum_k w_k b_k b_k^T

    where :math:`d_w(x, x') = \sum_k w_k (b_k^T (x - x'))^2` is the squared
    learned distance and :math:`\beta` is ``beta``. The problem is convex in
    :math:`w`, with one variable per basis element. It is solved as in the
    paper: stochastic subgradients of mini-batches of ``batch_size``
    triplets, with AdaGrad's per-coordinate steps and regularised dual
    averaging (the l1 term and ``w >= 0`` handled in closed form), for
    ``max_iter`` steps in compiled code; the whole objective is evaluated
    every ``output_iter`` steps and after the last, and the best of these
    weights is kept. metric-learn runs the same steps as NumPy calls and
    precomputes an ``(n_triplets, n_basis)`` table; the steps here compute
    each row from the points projected on the basis.

    Parameters
    ----------
    beta : float, default=1e-5
        Weight of the l1 penalty on the basis weights.
    basis : 'triplet_diffs' or array-like of shape (n_basis, n_features), default='triplet_diffs'
        The basis: 'triplet_diffs' takes the eigenvectors of
        ``D_pos^T D_pos - D_neg^T D_neg`` for random draws of
        ``min(n_features, n_triplets)`` triplets (``D_pos``, ``D_neg``:
        their anchor-positive and anchor-negative differences) until there
        are ``n_basis``; an array is used as it is.
    n_basis : int, default=None
        Number of basis elements; ``None`` means ``80 * n_features`` for
        'triplet_diffs'.
    gamma : float, default=5e-3
        The step scale of the solver (larger: smaller steps).
    max_iter : int, default=10000
        Number of stochastic steps (all are run: a fixed budget, as in the
        paper; no convergence test).
    output_iter : int, default=500
        Steps between evaluations of the whole objective (and progress lines
        with ``verbose``); may exceed ``max_iter`` (then only the last
        weights are evaluated).
    batch_size : int, default=10
        Triplets per step.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, steps run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every evaluation of the whole
        objective (every ``output_iter`` steps). A progress bar instead:
        :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``triplets`` be given as ``(n_triplets, 3)`` integer indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the basis draws and of the mini-batches.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``: ``sqrt(w_k) b_k`` for the basis elements of
        positive weight when there are fewer than ``n_features`` of them
        (the metric has that rank), a square factor of ``M`` otherwise.
    basis_ : ndarray of shape (n_basis, n_features)
        The basis.
    weights_ : ndarray of shape (n_basis,)
        The learned weights (zero for unused basis elements).
    n_iter_ : int
        Steps run (``max_iter``).
    objective_history_ : ndarray
        The objective at each evaluation.
    converged_ : bool
        Always True: the solver runs its budget of steps.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    SCML_Supervised : the same learner, from class labels.

    References
    ----------
    .. [1] Y. Shi, A. Bellet, F. Sha. "Sparse compositional metric
           learning". AAAI 2014.
    .. [2] J. Duchi, E. Hazan, Y. Singer. "Adaptive subgradient methods for
           online learning and stochastic optimization". JMLR 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import SCML
    >>> triplets = np.array([[[1.2, 7.5], [1.3, 1.5], [6.2, 9.7]],
    ...                      [[1.3, 4.5], [3.2, 4.6], [5.4, 5.4]],
    ...                      [[3.2, 7.5], [3.3, 1.5], [8.2, 9.7]],
    ...                      [[3.3, 4.5], [5.2, 4.6], [7.4, 5.4]]])
    >>> scml = SCML(random_state=0).fit(triplets)
    >>> scml.score(triplets)
    1.0
    """

    _supervised_twin = "SCML_Supervised"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, triplets, y=None):
        """Learn the metric from triplets.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets of points ``(anchor, positive, negative)``, or integer
            indices into ``preprocessor``.
        y : None
            Ignored (there for scikit-learn's pipelines and model selection).

        Returns
        -------
        self
        """
        return self._fit_from_tuples(triplets, None)

    def _fit_tuples(self, tuples, rng):
        d = tuples.n_features
        # the distinct points, whether the triplets came as points or indices
        X, inverse = np.unique(tuples.points().reshape(-1, d), axis=0, return_inverse=True)
        triplets = inverse.reshape(-1, 3).astype(np.intp)
        if isinstance(self.basis, str):
            n_basis = 80 * d if self.n_basis is None else self.n_basis
            basis = triplet_diffs_basis(X, triplets, n_basis, rng)
        else:
            basis = self._array_basis(d)
        return self._learn(X, triplets, basis, rng)


class SCML_Supervised(SupervisedLearnerMixin, _BaseSCML):
    """Sparse Compositional Metric Learning (SCML), learned from class labels.

    Read more in the :ref:`User Guide <scml>`.

    Builds the triplets ``(a, b, c)`` with ``b`` among the ``k_genuine``
    nearest neighbours of ``a`` in its class and ``c`` among its
    ``k_impostor`` nearest neighbours of other classes
    (:meth:`Constraints.generate_knntriplets
    <metriclearn.Constraints.generate_knntriplets>`), then solves
    :class:`SCML`'s problem, by default over a basis of locally
    discriminative directions.

    Parameters
    ----------
    k_genuine : int, default=3
        Same-class neighbours per point.
    k_impostor : int, default=10
        Other-class neighbours per point.
    beta : float, default=1e-5
        Weight of the l1 penalty on the basis weights.
    basis : {'lda', 'triplet_diffs'} or array-like of shape (n_basis, n_features), default='lda'
        'lda': k-means centres of ``X`` (``ceil(n_basis / (2 r))`` of them,
        ``r = min(n_classes - 1, n_features)``); around each centre, the
        ``k`` nearest points of each class at two scales (``k`` = 10 and
        20, or 20 and 50 above 50 features); the ``r`` leading discriminant
        directions of each neighbourhood, normalised. 'triplet_diffs' and
        arrays as in :class:`SCML`.
    n_basis : int, default=None
        Number of basis elements; ``None`` means
        ``min(20 * n_features, 2 * n_samples * r - 1)`` for 'lda' and
        ``80 * n_features`` for 'triplet_diffs'.
    gamma : float, default=5e-3
        The step scale of the solver.
    max_iter : int, default=10000
        Number of stochastic steps.
    output_iter : int, default=500
        Steps between evaluations of the whole objective.
    batch_size : int, default=10
        Triplets per step.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, steps run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every evaluation of the whole
        objective (every ``output_iter`` steps). A progress bar instead:
        :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the k-means, of the basis draws and of the mini-batches.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L`` (see :class:`SCML`).
    basis_ : ndarray of shape (n_basis, n_features)
        The basis.
    weights_ : ndarray of shape (n_basis,)
        The learned weights.
    n_iter_ : int
        Steps run (``max_iter``).
    objective_history_ : ndarray
        The objective at each evaluation.
    converged_ : bool
        Always True: the solver runs its budget of steps.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Notes
    -----
    The local discriminant directions are the generalised eigenvectors of
    each neighbourhood's between- and within-class scatters (the latter
    plus a ridge of 1e-3 times its mean eigenvalue), computed directly;
    metric-learn fits scikit-learn's ``LinearDiscriminantAnalysis`` on each
    neighbourhood and runs k-means with ``n_init=10`` (here 1: the centres
    only place the neighbourhoods).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import SCML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(SCML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseSCML._parameter_constraints,
        "basis": [StrOptions({"lda", "triplet_diffs"}), "array-like"],
        "k_genuine": [Interval(Integral, 1, None, closed="left")],
        "k_impostor": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, k_genuine=3, k_impostor=10, beta=1e-5, basis="lda", n_basis=None,
                 gamma=5e-3, max_iter=10000, output_iter=500, batch_size=10, verbose=False,
                 preprocessor=None, random_state=None):
        super().__init__(beta=beta, basis=basis, n_basis=n_basis, gamma=gamma,
                         max_iter=max_iter, output_iter=output_iter, batch_size=batch_size,
                         verbose=verbose, preprocessor=preprocessor, random_state=random_state)
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor

    def _fit_labels(self, X, y, rng):
        name = type(self).__name__
        classes, counts = np.unique(y, return_counts=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{name} needs at least 2 classes in y; got {classes.shape[0]} class "
                f"({classes.tolist()})"
            )
        n, d = X.shape
        if isinstance(self.basis, str) and self.basis == "lda":
            n_eig = min(classes.shape[0] - 1, d)
            limit = 2 * n * n_eig
            n_basis = min(20 * d, limit - 1) if self.n_basis is None else self.n_basis
            if n_basis >= limit:
                raise ValueError(
                    f"n_basis={n_basis} is too large for basis='lda' on {n} samples of "
                    f"{classes.shape[0]} classes: it must be smaller than {limit}"
                )
            if n_basis < classes.shape[0]:
                warnings.warn(
                    f"{name}: n_basis={n_basis} is smaller than the number of classes "
                    f"({classes.shape[0]}), which may discriminate them poorly",
                    UserWarning, stacklevel=5)
            basis = lda_basis(X, y, n_basis, rng)
        elif isinstance(self.basis, str):
            basis = None
        else:
            basis = self._array_basis(d)
        triplets = Constraints(y, unlabeled=None).generate_knntriplets(
            X, self.k_genuine, self.k_impostor)
        if triplets.shape[0] == 0:
            raise ValueError(
                f"{name} found no triplets: every class needs at least 2 points"
            )
        if basis is None:
            n_basis = 80 * d if self.n_basis is None else self.n_basis
            basis = triplet_diffs_basis(X, triplets, n_basis, rng)
        return self._learn(X, triplets, basis, rng)
