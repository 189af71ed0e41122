"""Large Margin Nearest Neighbor (Weinberger & Saul 2009): LMNN."""

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.multiclass import check_classification_targets

from ._compat import Interval, StrOptions
from ._labels import LabelIndex
from ._linalg import check_n_components
from ._lmnn_solver import solve
from ._result import FitResult
from .base import UNSET, BaseMetricLearner, SupervisedLearnerMixin

__all__ = ["LMNN"]

# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class LMNN(SupervisedLearnerMixin, BaseMetricLearner):
    r"""Large Margin Nearest Neighbor (LMNN) metric learning.

    Read more in the :ref:`User Guide <lmnn>`.

    Learns a linear map ``L`` such that each point's ``n_neighbors`` target
    neighbours (its nearest points of the same class) are close, and points of
    other classes stay out of a unit margin around it:

    .. math::

        \min_{L} \; \rho \sum_{i, j \rightsquigarrow i} \|L(x_i - x_j)\|^2
        + (1 - \rho) \sum_{i, j \rightsquigarrow i} \sum_{l: y_l \ne y_i}
        \left[1 + \|L(x_i - x_j)\|^2 - \|L(x_i - x_l)\|^2\right]_+^p

    where

    - :math:`j \rightsquigarrow i` ranges over the ``n_neighbors`` target
      neighbours of :math:`x_i`: its nearest points of the same class in the
      input space (Euclidean distance), chosen once before optimisation;
    - :math:`l` ranges over the points of other classes; only the impostors,
      those inside the margin :math:`1 + \max_j \|L(x_i - x_j)\|^2` of
      :math:`x_i`, contribute;
    - :math:`[u]_+ = \max(0, u)`, with :math:`p = 1` (``loss='hinge'``, the
      default: the hinge of the paper [1]_ and of metric-learn) or
      :math:`p = 2` (``loss='squared_hinge'``: the smooth squared hinge of
      the original MATLAB implementation [2]_ and of pylmnn). The squared
      hinge has a continuous gradient but weighs large margin violations
      quadratically, so a few noisy labels pull harder; the hinge is the more
      robust to them, and L-BFGS copes with its kinks in practice;
    - :math:`\rho` is ``regularization``: the weight of the pull term, the
      push term having weight :math:`1 - \rho`, as in metric-learn (in the
      notation of [1]_, :math:`\mu = 1 - \rho`).

    The loss is minimised over ``L`` (of shape ``(n_components, n_features)``)
    by L-BFGS [3]_ with a weak Wolfe line search (suited to the hinge's kinks),
    from the multiple of ``init`` that minimises
    the loss on a sample of the triplets (the margin fixes the scale of the
    solution, which raw features may be far from). The impostors are found
    exactly at every evaluation, without an ``n x n`` matrix: a full search
    scans each pair of classes once, blockwise (``128`` anchors against
    tiles of ``2048`` points, one single-precision GEMM per tile that
    selects the pairs whose distances are then computed exactly) and lists
    the pairs near a margin; on larger problems the following evaluations
    rescan only that list, with a proven bound (the triangle inequality
    and how far each point moved since the list was made) that every other
    pair is still outside both margins, searching afresh only from the
    points whose bound fails, and a full search again when that would cost
    more. The active triplets are those of a full search, exactly. The
    searches run in parallel with ``n_jobs``.

    Parameters
    ----------
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray, default='auto'
        Initial ``L`` (an array has shape ``(n_components, n_features)``), as
        in scikit-learn's
        :class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis`:

        - 'auto': 'lda' if ``n_components <= min(n_features, n_classes - 1)``,
          else 'pca' if ``n_components < min(n_features, n_samples)``, else
          'identity';
        - 'pca': the ``n_components`` principal axes of ``X``;
        - 'lda': the ``n_components`` most discriminative directions of
          linear discriminant analysis (needs
          ``n_components <= n_classes - 1``);
        - 'identity': the identity, truncated to ``n_components`` rows;
        - 'random': standard normal entries (seeded by ``random_state``);
        - an array: used as given.

    n_neighbors : int, default=3
        Number of target neighbours of each point. Every class needs at least
        ``n_neighbors + 1`` points.
    min_iter : int, default=0
        The relative-decrease test of ``tol`` is not applied before this many
        iterations (the solver may still stop earlier if it reaches a
        stationary point). metric-learn's default, 50, suits its gradient
        descent with a fixed step; L-BFGS needs no minimum.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    learn_rate : float, default="deprecated"
        Kept for compatibility with metric-learn, whose gradient descent takes
        steps of this (absolute, hence scale-dependent) size. L-BFGS chooses
        its steps by a line search, so it has no effect: given, it is ignored
        with a ``FutureWarning``.
    regularization : float in [0, 1], default=0.5
        Weight :math:`\rho` of the pull term; the push term has weight
        ``1 - regularization``.
    convergence_tol : float, default="deprecated"
        Kept for compatibility with metric-learn, where it is an absolute
        tolerance on the change of the objective (so it depends on the scale
        of the data). Not used: convergence is judged by ``tol``; given, it is
        ignored with a ``FutureWarning``.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration (objective, active
        triplets). A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.
    n_components : int, default=None
        Number of rows of ``L`` (the dimension of the learned space); ``None``
        means ``n_features``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'`` and of ``init='pca'`` (randomised SVD).
    tol : float, default=1e-4
        Relative tolerance (scale-free): the solver stops once the objective
        decreased by less than ``tol`` times its value in each of 2
        consecutive iterations (after ``min_iter`` iterations), that is once
        it no longer improves meaningfully. pylmnn's L-BFGS-B stops after one
        such iteration (its ``ftol``), metric-learn on an absolute change.
        Against ``1e-5``, the default stops after 30-50% fewer iterations on
        iris, wine, breast_cancer and digits, raw or standardised, at an
        objective at most 0.15% higher and the same 3-NN accuracy (one test
        point lower on 2 of 40 splits); lower it for a tighter optimum (see
        ``certificate_``).
    callback : callable, default=None
        Called after every iteration as ``callback(L, n_iter)`` with the
        current ``L`` (a copy, shape ``(n_components, n_features)``).
    n_jobs : int, default=None
        Threads for the neighbour and impostor searches (numba); ``None``
        means 1, ``-1`` all of them. With one thread the result is
        deterministic bit for bit.
    loss : {'hinge', 'squared_hinge'}, default='hinge'
        The penalty of a margin violation: the hinge (the paper's and
        metric-learn's) or its square (pylmnn's).
    k : int, default="deprecated"
        metric-learn's old name of ``n_neighbors``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : ndarray of shape (`n_iter_` + 1,)
        The objective at the start and after every iteration.
    converged_ : bool
        Whether the solver stopped before ``max_iter``.
    certificate_ : float
        How far the solution may be from the optimum: a relative duality gap
        of the problem in :math:`M = L^T L` (convex), so that the objective
        ``f`` of ``components_`` and the optimum ``f*`` satisfy
        ``f <= f* / (1 - certificate_)``. It is a bound (up to rounding),
        not an estimate, from dual weights built from the solution's active
        triplets; 0 at an exact optimum. Tight for the squared hinge; for
        the hinge, tight on small problems (the weights of the triplets at a
        kink are solved for) and within a few percent otherwise
        (:func:`~metriclearn.objectives.lmnn_certificate` refines it at any
        size). With ``n_components < n_features`` the optimum is that of
        every ``M``, of any rank (the problem of bounded rank is not convex),
        so the gap may stay large. See the :ref:`User Guide <lmnn>`.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : a probabilistic
        neighbourhood learner, without margins.

    Notes
    -----
    The margin ``1`` fixes the scale of the learned space, so the objective
    depends on the units of ``X``; as usual for LMNN, standardising the
    features often helps. Target neighbours are fixed from the input space,
    as in [1]_ and metric-learn, so they do not depend on ``init``.

    References
    ----------
    .. [1] K. Q. Weinberger, L. K. Saul. "Distance metric learning for large
           margin nearest neighbor classification". JMLR 10, 2009.
    .. [2] K. Q. Weinberger, J. Blitzer, L. K. Saul. "Distance metric learning
           for large margin nearest neighbor classification". NIPS 2005.
    .. [3] J. Nocedal, S. J. Wright. "Numerical Optimization", 2nd ed.,
           Springer, 2006, Algorithm 7.4; A. S. Lewis, M. L. Overton.
           "Nonsmooth optimization via quasi-Newton methods". Mathematical
           Programming 141, 2013 (the line search).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(LMNN(n_neighbors=3), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), np.ndarray],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "min_iter": [Interval(Integral, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learn_rate": [StrOptions({UNSET}), Interval(Real, 0, None, closed="neither")],
        "regularization": [Interval(Real, 0, 1, closed="both")],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "convergence_tol": [StrOptions({UNSET}), Interval(Real, 0, None, closed="left")],
        "k": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callback": [callable, None],
        "n_jobs": [Integral, None],
    }
    _renamed_parameters = {"k": "n_neighbors"}
    _ignored_parameters = {
        "learn_rate": "L-BFGS chooses its steps by a line search",
        "convergence_tol": "metric-learn's absolute tolerance on the objective; "
                           "convergence is judged by the relative tol",
    }

    def __init__(self, *, init="auto", n_neighbors=3, min_iter=0, max_iter=1000,
                 learn_rate=UNSET, regularization=0.5, convergence_tol=UNSET,
                 verbose=False, preprocessor=None, n_components=None,
                 random_state=None, tol=1e-4, callback=None, n_jobs=None,
                 loss="hinge", k=UNSET):
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.n_components = n_components
        self.random_state = random_state
        self.tol = tol
        self.callback = callback
        self.n_jobs = n_jobs
        self.loss = loss
        self.k = k

    def _fit_labels(self, X, y, rng):
        check_classification_targets(y)
        index = LabelIndex(y)
        self._check_classes(index.classes, index.counts)
        L0 = self._initialize(X, y, index.n_classes, rng)
        # parallelism is numba's (opt-in by n_jobs; the template sets the
        # threads): BLAS, called on small tiles inside the blocks, runs on one
        L, history, n_iter, converged, gap = solve(
            np.ascontiguousarray(X[index.order]), index.bounds, L0,
            n_neighbors=self._param("n_neighbors"), regularization=self.regularization,
            squared=self.loss == "squared_hinge", max_iter=self.max_iter,
            min_iter=self.min_iter, tol=self._param("tol"), callback=self.callback,
            threads=self._solver_threads(),
        )
        return FitResult(L, n_iter, converged, history,
                         {"classes_": index.classes, "certificate_": gap})

    def _check_classes(self, classes, counts):
        if classes.shape[0] < 2:
            raise ValueError(
                f"LMNN needs at least 2 classes in y; got 1 class ({classes.tolist()}): "
                "its impostors are points of other classes"
            )
        k = self._param("n_neighbors")
        small = np.flatnonzero(counts < k + 1)
        if small.size:
            c = small[np.argmin(counts[small])]
            raise ValueError(
                f"class {classes[c].item()!r} has {counts[c]} points, but n_neighbors="
                f"{k} needs at least {k + 1} points "
                "in every class (each point's target neighbours are other points "
                "of its class); lower n_neighbors or remove the class"
            )

    def _initialize(self, X, y, n_classes, rng):
        """The initial ``L`` named by ``init``, shape ``(n_components, n_features)``."""
        n_samples, d = X.shape
        r = d if self.n_components is None else self.n_components
        check_n_components(r, d)
        init = self.init
        if isinstance(init, np.ndarray):
            L = np.asarray(init, dtype=np.float64)
            if L.ndim != 2 or L.shape[1] != d:
                raise ValueError(
                    f"init must have shape (n_components, {d}) to match the {d} "
                    f"features of X; got shape {L.shape}"
                )
            if self.n_components is not None and L.shape[0] != r:
                raise ValueError(
                    f"init has {L.shape[0]} rows, but n_components={r}"
                )
            if L.shape[0] > d:
                raise ValueError(
                    f"init has {L.shape[0]} rows, more than n_features={d}"
                )
            if not np.all(np.isfinite(L)):
                raise ValueError("init contains NaN or infinity")
            return np.ascontiguousarray(L)
        if init == "auto":
            if r <= min(d, n_classes - 1):
                init = "lda"
            elif r < min(d, n_samples):
                init = "pca"
            else:
                init = "identity"
        if init == "identity":
            return np.eye(r, d)
        if init == "random":
            return rng.standard_normal((r, d))
        if init == "pca":
            if r > min(n_samples, d):
                raise ValueError(
                    f"init='pca' needs n_components <= min(n_samples, n_features) "
                    f"= {min(n_samples, d)}; got n_components={r}"
                )
            pca = PCA(n_components=r, random_state=rng).fit(X)
            return np.ascontiguousarray(pca.components_)
        # lda
        if r > min(d, n_classes - 1):
            raise ValueError(
                "init='lda' needs n_components <= min(n_features, n_classes - 1) "
                f"= {min(d, n_classes - 1)}; got n_components={r}"
            )
        lda = LinearDiscriminantAnalysis(n_components=r).fit(X, y)
        return np.ascontiguousarray(lda.scalings_.T[:r])
