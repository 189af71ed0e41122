"""Information-Theoretic Metric Learning (Davis et al. 2007): ITML and ITML_Supervised."""

from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions, _fit_context
from ._kernels.itml import bregman_solve
from ._linalg import components_from_metric, initial_metric, logdet
from ._progress import current
from ._result import FitResult
from .base import (
    UNSET,
    BaseMetricLearner,
    PairsClassifierMixin,
    SupervisedLearnerMixin,
    TupleLearnerMixin,
)
from .exceptions import NonPSDError
from .objectives import itml_default_bounds

__all__ = ["ITML", "ITML_Supervised"]


# --------------------------------------------------------------------------
# bounds and prior
# --------------------------------------------------------------------------


def _check_bounds(bounds):
    try:
        arr = np.asarray(bounds, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (2,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            "bounds must be two positive, finite numbers [u, l] (squared-distance "
            f"bounds for similar and dissimilar pairs); got {bounds!r}"
        )
    return arr


def _check_prior(M0, name="prior"):
    w = np.linalg.eigvalsh(M0)
    if not w[0] > 1e-12 * max(abs(w[-1]), 1e-300):
        raise NonPSDError(
            f"ITML needs a positive definite {name} (the LogDet divergence is "
            f"infinite otherwise); smallest eigenvalue {w[0]:g}. With "
            f"{name}='covariance', this means the points' covariance is singular: "
            f"use {name}='identity' or drop constant or collinear features"
        )


# --------------------------------------------------------------------------
# solver
# --------------------------------------------------------------------------


def _sweep_constraints(tuples, bounds):
    """The sweep's constraints from validated pairs
    (:class:`~metriclearn._validation.Tuples`) and ``bounds = [u, l]``.

    Returns ``V`` (the differences, C-contiguous), ``delta`` (+1.0 for an
    upper bound, -1.0 for a lower one) and ``xi0`` (the bounds), with similar
    pairs first, then dissimilar ones, each in the given order; pairs of
    identical points constrain nothing and are left out.
    """
    V, y = tuples.differences(), tuples.y
    keep = np.any(V != 0.0, axis=1)
    order = np.concatenate([np.flatnonzero(keep & (y == 1)),
                            np.flatnonzero(keep & (y == -1))])
    V = np.ascontiguousarray(V[order])
    delta = np.where(y[order] == 1, 1.0, -1.0)
    xi0 = np.where(delta > 0, bounds[0], bounds[1]).astype(np.float64)
    return V, delta, xi0


def _solve(V, delta, M0, xi0, gamma, max_iter, tol):
    """Cyclic Bregman projections until the dual variables settle.

    The sweeps run in compiled code (:func:`bregman_solve`), all at once, or
    one call per sweep when the fit's progress report has lines for them
    (``verbose >= 2``); both give the same result.

    Returns ``M, xi, history, n_iter, converged``.
    """
    M = np.array(M0, dtype=np.float64, order="C")
    lam = np.zeros(V.shape[0])
    xi = xi0.copy()
    M0_inv = np.ascontiguousarray(np.linalg.inv(M0))
    logdet0 = logdet(M0, "prior")
    objective = np.empty(max_iter)
    change = np.empty(max_iter)
    progress = current()
    if progress.level < 2:
        n_iter, converged = bregman_solve(M, V, delta, lam, xi, xi0, gamma, M0_inv,
                                          logdet0, max_iter, tol, objective, change)
    else:
        n_iter, converged = 0, False
        while n_iter < max_iter and not converged:
            _, converged = bregman_solve(M, V, delta, lam, xi, xi0, gamma, M0_inv, logdet0,
                                         1, tol, objective[n_iter:], change[n_iter:])
            n_iter += 1
            progress.update(n_iter, f"objective {objective[n_iter - 1]:.6e}  "
                                    f"dual change {change[n_iter - 1]:.3e}")
    if np.isnan(objective[n_iter - 1]):
        raise FloatingPointError(
            f"ITML lost positive definiteness after {n_iter} sweeps; the features "
            "may span too many orders of magnitude (standardise them) or gamma "
            "may be too large"
        )
    return M, xi, objective[:n_iter].copy(), n_iter, bool(converged)


class _BaseITML(BaseMetricLearner):
    """The parameters and the problem shared by ITML and ITML_Supervised."""

    _parameter_constraints = {
        "gamma": [Interval(Real, 0, np.inf, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "convergence_threshold": [StrOptions({UNSET}), Interval(Real, 0, None, closed="left")],
    }
    _renamed_parameters = {"convergence_threshold": "tol"}

    def __init__(self, *, gamma=1.0, max_iter=1000, tol=1e-3, prior="identity",
                 verbose=False, preprocessor=None, random_state=None,
                 n_components=None, convergence_threshold=UNSET):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_components = n_components
        self.convergence_threshold = convergence_threshold

    _iteration_unit = "sweeps"

    def _check_fit_params(self, bounds=None):
        if bounds is not None:
            _check_bounds(bounds)

    def _fit_tuples(self, tuples, rng, bounds=None):
        """Learn M from validated pairs (:class:`~metriclearn._validation.Tuples`)."""
        d = tuples.n_features
        points = self._prior_points(tuples)
        M0 = initial_metric(self.prior, points, d, rng, name="prior")
        _check_prior(M0)
        if bounds is None:
            bounds = itml_default_bounds(points, M0, rng)
        else:
            bounds = _check_bounds(bounds)
        V, delta, xi0 = _sweep_constraints(tuples, bounds)
        M, _, history, n_iter, converged = _solve(
            V, delta, M0, xi0, float(self.gamma), self.max_iter, self._param("tol"))
        return FitResult(components_from_metric(M, n_components=self.n_components), n_iter,
                         converged, history, {"bounds_": bounds, "prior_": M0})


class ITML(TupleLearnerMixin, PairsClassifierMixin, _BaseITML):
    r"""Information-Theoretic Metric Learning (ITML), learned from pairs.

    Read more in the :ref:`User Guide <itml>`.

    ITML finds the matrix closest to a prior ``M0`` in LogDet divergence
    whose squared distances stay below ``u`` on similar pairs and above ``l``
    on dissimilar ones, each bound relaxed by a slack that is itself kept
    close to its target (Davis et al. 2007, problem (4.4)):

    .. math::

        \min_{M \succ 0,\ \xi} \; D_{ld}(M, M_0)
        + \gamma\, D_{ld}(\operatorname{diag}\xi, \operatorname{diag}\xi_0)
        \quad \text{s.t.} \quad
        \|x - x'\|_M^2 \le \xi_{xx'} \ \ ((x, x') \in S), \qquad
        \|x - x'\|_M^2 \ge \xi_{xx'} \ \ ((x, x') \in D)

    where

    - :math:`D_{ld}(A, B) = \operatorname{tr}(A B^{-1}) - \log\det(A B^{-1}) - d`
      is the LogDet (Burg matrix) divergence;
    - :math:`S` are the similar pairs (``y == +1``), :math:`D` the dissimilar
      ones (``y == -1``), :math:`\|d\|_M^2 = d^T M d`;
    - :math:`\xi_0` is ``u`` for a similar pair and ``l`` for a dissimilar
      one (``bounds_``); :math:`\gamma` is ``gamma``.

    The problem is convex. It is solved by cyclic Bregman projections [1]_
    (their Algorithm 1): each sweep visits every constraint, similar pairs
    first, and projects onto it with a rank-one update
    :math:`M \leftarrow M + \beta\, M v v^T M` in O(d^2) operations, keeping
    a non-negative dual variable per constraint so that earlier projections
    can be undone. ``M`` stays symmetric positive definite throughout. The
    sweep runs in compiled code. Pairs of identical points constrain nothing
    and are skipped.

    Parameters
    ----------
    gamma : float, default=1.0
        Weight of the slack divergence: the larger, the closer the
        constraints are enforced (``np.inf`` makes them hard).
    max_iter : int, default=1000
        Maximum number of sweeps over the constraints.
    tol : float, default=1e-3
        Stop when the dual variables changed by less than ``tol`` over a
        sweep, relative to their sum (``sum |lam - lam_old| / sum lam``), or
        when no projection changed ``M``.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0``: the identity, the inverse covariance of the points
        in ``pairs``, a random SPD matrix, or a positive definite array of
        shape ``(n_features, n_features)``. It must be positive definite.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, sweeps run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every sweep (objective, dual
        change). A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``pairs`` be given as ``(n_pairs, 2)`` integer indices: rows of
        this array, or the points a callable returns for an array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of ``prior='random'`` and of the pairs drawn to estimate the
        default bounds on large inputs.
    n_components : int, default=None
        Rows of ``components_`` (the dimension of :meth:`transform`'s output):
        the leading ``n_components`` directions of the learned ``M`` (the
        best rank-``n_components`` approximation of it; exact, dropping its
        null directions, when ``M`` has at most that rank). ``None`` keeps
        all ``n_features`` rows, as metric-learn does.
    convergence_threshold : float, default="deprecated"
        metric-learn's old name of ``tol``: accepted with a ``FutureWarning``
        (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L`` (rows by decreasing weight).
    bounds_ : ndarray of shape (2,)
        ``[u, l]``, the bounds on squared distances that were used.
    prior_ : ndarray of shape (n_features, n_features)
        The prior matrix ``M0``.
    n_iter_ : int
        Number of sweeps run.
    objective_history_ : ndarray
        The objective after each sweep.
    converged_ : bool
        Whether ``tol`` was reached before ``max_iter``.
    threshold_ : float
        Pairs at a learned distance at most this are predicted similar.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    ITML_Supervised : the same learner, from class labels.

    Notes
    -----
    **Default bounds.** Without ``bounds``, ``u`` and ``l`` are the 5th and
    95th percentiles of the *squared* distances under the prior between
    distinct points of the input, as the paper defines them (the constraints
    are on squared distances). They are computed over every pair of distinct
    points when there are at most 100,000 pairs, and over 100,000 pairs drawn
    with ``random_state`` otherwise. metric-learn 0.7.0 instead takes the
    percentiles of *non-squared* Euclidean distances from a dense
    ``n x n`` matrix (including its zero diagonal) and uses them as bounds on
    squared distances, which sets much looser bounds for data at a scale
    above 1 and much tighter ones below. Pass
    ``bounds=[u, l]`` to reproduce any other choice.

    References
    ----------
    .. [1] J. V. Davis, B. Kulis, P. Jain, S. Sra, I. S. Dhillon.
           "Information-theoretic metric learning". ICML 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import ITML
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]], [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]], [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> itml = ITML(gamma=10.0).fit(pairs, y)  # gamma=1 gives up one pair of the four
    >>> itml.predict(pairs).tolist()
    [1, 1, -1, -1]
    """

    _supervised_twin = "ITML_Supervised"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, pairs, y, bounds=None, calibration_params=None):
        """Learn the metric from labelled pairs, then calibrate ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or integer indices into ``preprocessor``.
        y : array-like of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.
        bounds : array-like of two floats, default=None
            ``[u, l]``: bounds on the learned *squared* distance of similar
            (at most ``u``) and dissimilar (at least ``l``) pairs, before
            slack. ``None`` takes the 5th and 95th percentiles of squared
            distances under the prior (see Notes).
        calibration_params : dict, optional
            Keyword arguments of :meth:`calibrate_threshold` (default: strategy
            'accuracy').

        Returns
        -------
        self
        """
        return self._fit_from_tuples(pairs, y, calibration_params=calibration_params,
                                     bounds=bounds)

    @staticmethod
    def _prior_points(tuples):
        """The distinct points of the pairs: where the prior's covariance and
        the default bounds come from."""
        return np.unique(tuples.X, axis=0)


class ITML_Supervised(SupervisedLearnerMixin, _BaseITML):
    """Information-Theoretic Metric Learning (ITML), learned from class labels.

    Read more in the :ref:`User Guide <itml>`.

    Draws ``n_constraints`` similar pairs (same class) and as many dissimilar
    pairs (different classes) from the labels with
    :class:`~metriclearn.Constraints`, then solves :class:`ITML`'s problem.
    Every distinct label is a class (also negative ones).

    Parameters
    ----------
    gamma : float, default=1.0
        Weight of the slack divergence (``np.inf``: hard constraints).
    max_iter : int, default=1000
        Maximum number of sweeps over the constraints.
    tol : float, default=1e-3
        Tolerance on the relative change of the dual variables (see
        :class:`ITML`).
    n_constraints : int, default=None
        Number of similar and of dissimilar pairs to draw; ``None`` means
        ``20 * n_classes**2``.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0`` (see :class:`ITML`); 'covariance' is the inverse
        covariance of ``X``.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, sweeps run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every sweep. A progress bar
        instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the pairs drawn, of ``prior='random'`` and of the pairs drawn
        to estimate the default bounds on large inputs.
    n_components : int, default=None
        Rows of ``components_`` (the dimension of :meth:`transform`'s output):
        the leading ``n_components`` directions of the learned ``M`` (the
        best rank-``n_components`` approximation of it; exact, dropping its
        null directions, when ``M`` has at most that rank). ``None`` keeps
        all ``n_features`` rows, as metric-learn does.
    num_constraints : int, default="deprecated"
        metric-learn's old name of ``n_constraints``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.
    convergence_threshold : float, default="deprecated"
        metric-learn's old name of ``tol``: accepted with a ``FutureWarning``
        (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    bounds_ : ndarray of shape (2,)
        ``[u, l]``, the bounds on squared distances that were used.
    prior_ : ndarray of shape (n_features, n_features)
        The prior matrix ``M0``.
    n_iter_ : int
        Number of sweeps run.
    objective_history_ : ndarray
        The objective after each sweep.
    converged_ : bool
        Whether ``tol`` was reached before ``max_iter``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Notes
    -----
    Without ``bounds``, ``u`` and ``l`` are the 5th and 95th percentiles of
    squared distances under the prior between distinct points of ``X`` (see
    :class:`ITML`, which takes them from the points of its pairs).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import ITML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(ITML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseITML._parameter_constraints,
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "num_constraints": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {**_BaseITML._renamed_parameters, "num_constraints": "n_constraints"}

    def __init__(self, *, gamma=1.0, max_iter=1000, tol=1e-3, n_constraints=None,
                 prior="identity", verbose=False, preprocessor=None, random_state=None,
                 n_components=None, num_constraints=UNSET, convergence_threshold=UNSET):
        super().__init__(
            gamma=gamma, max_iter=max_iter, tol=tol, prior=prior, verbose=verbose,
            preprocessor=preprocessor, random_state=random_state,
            n_components=n_components, convergence_threshold=convergence_threshold,
        )
        self.n_constraints = n_constraints
        self.num_constraints = num_constraints

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, bounds=None):
        """Learn the metric from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels.
        bounds : array-like of two floats, default=None
            ``[u, l]``, bounds on squared distances (see :meth:`ITML.fit`).

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y, bounds=bounds)

    @staticmethod
    def _prior_points(tuples):
        """The points of ``X``: where the prior's covariance and the default
        bounds come from."""
        return tuples.X
