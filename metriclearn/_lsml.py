"""Least Squared-residual Metric Learning (Liu et al. 2012): LSML and
LSML_Supervised."""

from numbers import Integral, Real

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ._compat import Interval, StrOptions, _fit_context
from ._linalg import components_from_metric, initial_metric
from ._lsml_solver import LSMLProblem, solve
from ._result import FitResult
from ._validation import Tuples
from .base import (
    UNSET,
    BaseMetricLearner,
    QuadrupletsClassifierMixin,
    SupervisedLearnerMixin,
    TupleLearnerMixin,
)
from .constraints import quadruplets_from_labels
from .exceptions import NonPSDError

__all__ = ["LSML", "LSML_Supervised"]


def check_weights(weights, n_quadruplets):
    """``weights`` as non-negative finite float64 weights of the
    ``n_quadruplets`` quadruplets, scaled to sum to 1 (``None``: uniform);
    never the caller's array."""
    if weights is None:
        return np.full(n_quadruplets, 1.0 / n_quadruplets)
    try:
        w = np.array(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"weights must be an array of {n_quadruplets} non-negative numbers, one per "
            f"quadruplet; got {weights!r}"
        ) from None
    if w.shape != (n_quadruplets,):
        raise ValueError(
            f"weights must have shape ({n_quadruplets},), one weight per quadruplet; "
            f"got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = w[~(np.isfinite(w) & (w >= 0))][:5]
        raise ValueError(f"weights must be finite and non-negative; got values {bad.tolist()}")
    total = w.sum()
    if not total > 0:
        raise ValueError("weights must not all be zero")
    return w / total


def _prior(prior, points, d, rng):
    """The prior ``M0`` and its inverse; a :class:`NonPSDError` unless it is
    positive definite (the LogDet term is infinite otherwise)."""
    M0 = initial_metric(prior, points, d, rng, name="prior")
    try:
        factor = cho_factor(M0, lower=False, check_finite=False)
    except LinAlgError:
        factor = None
    if factor is None or not np.all(np.diag(factor[0]) > 1e-12 * np.sqrt(np.abs(M0).max())):
        w = np.linalg.eigvalsh(M0)
        hint = (" With prior='covariance', this means the points' covariance is singular: "
                "use prior='identity' or drop constant or collinear features"
                if isinstance(prior, str) and prior == "covariance" else "")
        raise NonPSDError(
            "LSML needs a positive definite prior (its LogDet term is infinite "
            f"otherwise); smallest eigenvalue {w[0]:g}.{hint}"
        )
    R = np.triu(factor[0])  # M0 = R^T R
    return M0, cho_solve(factor, np.eye(d), check_finite=False), R


class _BaseLSML(BaseMetricLearner):
    """The parameters and the problem shared by LSML and LSML_Supervised."""

    _parameter_constraints = {
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
    }
    _tuple_size = 4

    def __init__(self, *, tol=1e-3, max_iter=1000, prior="identity", verbose=False,
                 preprocessor=None, random_state=None):
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _fit_tuples(self, tuples, rng, weights=None):
        """Learn M from validated quadruplets (:class:`~metriclearn._validation.Tuples`)."""
        d = tuples.n_features
        w = check_weights(weights, tuples.n_tuples)
        points = self._prior_points(tuples)
        M0, M0_inv, R = _prior(self.prior, points, d, rng)
        V = np.ascontiguousarray(tuples.differences(0, 1))
        U = np.ascontiguousarray(tuples.differences(2, 3))
        problem = LSMLProblem(V, U, w, M0_inv)
        M, history, n_iter, converged, grad_norm = solve(
            problem, R, max_iter=self.max_iter, tol=self.tol)
        return FitResult(components_from_metric(M), n_iter, converged, history,
                         {"prior_": M0, "w_": w, "gradient_norm_": grad_norm})

    def _convergence_message(self):
        return (
            f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
            f"iterations: the gradient's norm is {self.gradient_norm_:.3g} > "
            f"tol={self.tol}; increase max_iter or tol"
        )


class LSML(TupleLearnerMixin, QuadrupletsClassifierMixin, _BaseLSML):
    r"""Least Squared-residual Metric Learning (LSML), learned from quadruplets.

    Read more in the :ref:`User Guide <lsml>`.

    Each quadruplet :math:`(a, b, c, d)` says that :math:`a` and :math:`b`
    are more similar than :math:`c` and :math:`d`. LSML (Liu et al. [1]_)
    finds the matrix whose violated comparisons have the least squared
    residual, regularised by the LogDet divergence to a prior :math:`M_0`:

    .. math::

        \min_{M \succ 0} \;
        \sum_i w_i \, \big(d_M(a_i, b_i) - d_M(c_i, d_i)\big)_+^2
        + \operatorname{tr}(M M_0^{-1}) - \log\det M

    where

    - :math:`d_M(x, x') = \sqrt{(x - x')^T M (x - x')}` is the learned
      distance and :math:`(t)_+ = \max(0, t)`;
    - :math:`w_i` are the weights of the quadruplets, scaled to sum to 1;
    - :math:`M_0` is the prior (``prior_``).

    The residual :math:`(\sqrt{p} - \sqrt{q})_+^2` is the perspective of a
    convex function of :math:`q / p`, hence jointly convex in the squared
    distances :math:`p, q`, which are linear in :math:`M`: the problem is
    convex, with a continuously differentiable objective. It is solved by
    L-BFGS over a factor :math:`L` of :math:`M = L^T L`, started at the
    prior: over invertible :math:`L` there is no constraint to keep (the
    LogDet term is a barrier), and a stationary :math:`L` is a minimum in
    :math:`M`. Each evaluation costs two products of the ``(n, d)``
    differences with :math:`L` (and two more over the violated comparisons
    for the gradient). metric-learn runs a projected gradient with ten
    trial steps and an eigen-decomposition per step, and stops at the
    first iteration none of them improves.

    As a classifier of quadruplets, :meth:`predict` says whether the first
    pair is closer (+1) than the second (-1), and :meth:`score` is the
    fraction of quadruplets predicted +1.

    Parameters
    ----------
    tol : float, default=1e-3
        Stop when the Frobenius norm of the objective's gradient in ``M`` is
        at most ``tol`` (metric-learn's criterion).
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0`` (also the starting point): the identity, the
        inverse covariance of the points of the quadruplets, a random SPD
        matrix, or a positive definite array of shape
        ``(n_features, n_features)``. It must be positive definite.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration (objective,
        gradient norm). A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``quadruplets`` be given as ``(n_quadruplets, 4)`` integer
        indices: rows of this array, or the points a callable returns.
    random_state : int, RandomState instance or None, default=None
        Seed of ``prior='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    prior_ : ndarray of shape (n_features, n_features)
        The prior ``M0`` that was used.
    w_ : ndarray of shape (n_quadruplets,)
        The weights of the quadruplets, scaled to sum to 1.
    n_iter_ : int
        L-BFGS iterations run.
    objective_history_ : ndarray
        The objective at the prior and after each iteration.
    gradient_norm_ : float
        The Frobenius norm of the gradient in ``M`` at the end.
    converged_ : bool
        Whether ``tol`` was reached before ``max_iter``.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    LSML_Supervised : the same learner, from class labels.

    References
    ----------
    .. [1] E. Y. Liu, Z. Guo, X. Zhang, V. Jojic, W. Wang. "Metric learning
           from relative comparisons by minimizing squared residual".
           ICDM 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import LSML
    >>> # each first pair differs along the second feature, each second pair
    >>> # along the first: the second feature should count less
    >>> quadruplets = np.array([[[0.0, 0.0], [0.0, 1.2], [0.0, 0.0], [1.0, 0.0]],
    ...                         [[1.0, 1.0], [1.0, 2.2], [1.0, 1.0], [2.0, 1.0]],
    ...                         [[2.0, 0.0], [2.0, 1.2], [2.0, 0.0], [3.0, 0.0]]])
    >>> M = LSML().fit(quadruplets).get_mahalanobis_matrix()
    >>> bool(M[0, 0] > 1.0 > M[1, 1])
    True
    """

    _supervised_twin = "LSML_Supervised"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, quadruplets, weights=None):
        """Learn the metric from quadruplets.

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)
            Quadruplets of points ``(a, b, c, d)`` with ``d(a, b)`` meant to
            be smaller than ``d(c, d)``, or integer indices into
            ``preprocessor``.
        weights : array-like of shape (n_quadruplets,), default=None
            Non-negative weight of each quadruplet (scaled to sum to 1);
            ``None`` weighs them equally. Never modified.

        Returns
        -------
        self
        """
        return self._fit_from_tuples(quadruplets, None, weights=weights)

    @staticmethod
    def _prior_points(tuples):
        """The distinct points of the quadruplets (prior='covariance')."""
        return np.unique(tuples.points().reshape(-1, tuples.n_features), axis=0)


class LSML_Supervised(SupervisedLearnerMixin, _BaseLSML):
    """Least Squared-residual Metric Learning (LSML), learned from class labels.

    Read more in the :ref:`User Guide <lsml>`.

    Draws ``n_constraints`` quadruplets from the labels
    (:meth:`Constraints.quadruplets <metriclearn.Constraints.quadruplets>`):
    a similar pair (same class) then a dissimilar one (different classes),
    as metric-learn does, and solves :class:`LSML`'s problem on them.

    Parameters
    ----------
    tol : float, default=1e-3
        Tolerance on the norm of the gradient in ``M`` (see :class:`LSML`).
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0`` (see :class:`LSML`); 'covariance' is the inverse
        covariance of ``X``.
    n_constraints : int, default=None
        Number of quadruplets to draw; ``None`` means ``20 * n_classes**2``.
    weights : array-like of shape (n_constraints,), default=None
        Weight of each drawn quadruplet (see :meth:`LSML.fit`).
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration (objective,
        gradient norm). A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the quadruplets drawn and of ``prior='random'``.
    num_constraints : int, default="deprecated"
        metric-learn's old name of ``n_constraints``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    prior_ : ndarray of shape (n_features, n_features)
        The prior ``M0`` that was used.
    w_ : ndarray of shape (n_quadruplets,)
        The weights of the quadruplets, scaled to sum to 1.
    n_iter_ : int
        L-BFGS iterations run.
    objective_history_ : ndarray
        The objective at the prior and after each iteration.
    gradient_norm_ : float
        The Frobenius norm of the gradient in ``M`` at the end.
    converged_ : bool
        Whether ``tol`` was reached before ``max_iter``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import LSML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(LSML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseLSML._parameter_constraints,
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "weights": ["array-like", None],
        "num_constraints": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {"num_constraints": "n_constraints"}

    def __init__(self, *, tol=1e-3, max_iter=1000, prior="identity", n_constraints=None,
                 weights=None, verbose=False, preprocessor=None, random_state=None,
                 num_constraints=UNSET):
        super().__init__(tol=tol, max_iter=max_iter, prior=prior, verbose=verbose,
                         preprocessor=preprocessor, random_state=random_state)
        self.n_constraints = n_constraints
        self.weights = weights
        self.num_constraints = num_constraints

    def _fit_labels(self, X, y, rng):
        quadruplets = quadruplets_from_labels(type(self).__name__, y,
                                              self._param("n_constraints"), rng)
        return self._fit_tuples(Tuples(X, quadruplets), rng, weights=self.weights)

    @staticmethod
    def _prior_points(tuples):
        """The points of ``X`` (prior='covariance')."""
        return tuples.X
