"""Information-Theoretic Metric Learning (Davis et al. 2007): ITML and ITML_Supervised."""

from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions, _fit_context
from ._itml_solver import dual_certificate, dual_solve
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


def _constraints(tuples):
    """The constraints from validated pairs
    (:class:`~metriclearn._validation.Tuples`): ``V`` (the differences,
    C-contiguous) and ``delta`` (+1.0 for an upper bound, -1.0 for a lower
    one), similar pairs first, then dissimilar ones, each in the given order;
    pairs of identical points constrain nothing and are left out.
    """
    V, y = tuples.differences(), tuples.y
    keep = np.any(V != 0.0, axis=1)
    order = np.concatenate([np.flatnonzero(keep & (y == 1)),
                            np.flatnonzero(keep & (y == -1))])
    return np.ascontiguousarray(V[order]), np.where(y[order] == 1, 1.0, -1.0)


# prior='auto': feature variances below this fraction of their median count
# as this fraction, so that nearly constant features are not blown up
_VARIANCE_FLOOR = 0.1


def _separation(sq, delta):
    """The ROC AUC of squared distances ``sq`` as a score of dissimilarity:
    the chance that a dissimilar pair is farther than a similar one (ties
    count one half)."""
    similar = np.sort(sq[delta > 0])
    dissimilar = sq[delta < 0]
    below = np.searchsorted(similar, dissimilar, side="left")
    tied = np.searchsorted(similar, dissimilar, side="right") - below
    return (below.sum() + 0.5 * tied.sum()) / (similar.shape[0] * dissimilar.shape[0])


def _auto_prior(points, V, delta):
    """``prior='auto'``: the identity, or ``diag(1 / var)`` (the identity in
    standardised units, each variance floored at ``_VARIANCE_FLOOR`` times
    their median) when the pairs are better told apart under it."""
    d = V.shape[1]
    var = points.var(axis=0)
    positive = var > 0.0
    if not positive.any() or np.all(delta > 0) or np.all(delta < 0):
        return np.eye(d)
    median = np.median(var[positive])
    scale = 1.0 / np.where(positive, np.maximum(var, _VARIANCE_FLOOR * median), median)
    V2 = V * V
    if _separation(V2 @ scale, delta) > _separation(V2.sum(axis=1), delta):
        return np.diag(scale)
    return np.eye(d)


def _solve(V, delta, M0, xi0, gamma, max_iter, tol, lam=None):
    """Cyclic Bregman projections (``solver='bregman'``) until the dual
    variables settle.

    The sweeps run in compiled code (:func:`bregman_solve`), all at once, or
    one call per sweep when the fit's progress report has lines for them
    (``verbose >= 2``); both give the same result. ``lam``, when given
    (zeros of shape ``(m,)``), receives the dual variables.

    Returns ``M, xi, history, n_iter, converged``.
    """
    M = np.array(M0, dtype=np.float64, order="C")
    lam = np.zeros(V.shape[0]) if lam is None else lam
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
        "prior": [StrOptions({"auto", "identity", "covariance", "random"}), "array-like"],
        "solver": [StrOptions({"dual", "bregman"})],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "convergence_threshold": [StrOptions({UNSET}), Interval(Real, 0, None, closed="left")],
    }
    _renamed_parameters = {"convergence_threshold": "tol"}

    def __init__(self, *, gamma=0.2, max_iter=1000, tol=1e-9, prior="auto",
                 solver="dual", verbose=False, preprocessor=None, random_state=None,
                 n_components=None, convergence_threshold=UNSET):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.prior = prior
        self.solver = solver
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_components = n_components
        self.convergence_threshold = convergence_threshold

    @property
    def _iteration_unit(self):
        """What ``max_iter`` counts: iterations of the dual solver (each one
        quasi-Newton step: two products of the constraints' ``(m, d)``
        matrix with a ``d x d`` one), or sweeps of Bregman projections."""
        return "sweeps" if self.solver == "bregman" else "iterations"

    def _check_fit_params(self, bounds=None):
        if bounds is not None:
            _check_bounds(bounds)

    def _fit_tuples(self, tuples, rng, bounds=None):
        """Learn M from validated pairs (:class:`~metriclearn._validation.Tuples`)."""
        d = tuples.n_features
        points = self._prior_points(tuples)
        V, delta = _constraints(tuples)
        if isinstance(self.prior, str) and self.prior == "auto":
            M0 = _auto_prior(points, V, delta)
        else:
            M0 = initial_metric(self.prior, points, d, rng, name="prior")
        _check_prior(M0)
        if bounds is None:
            bounds = itml_default_bounds(points, M0, rng)
        else:
            bounds = _check_bounds(bounds)
        xi0 = np.where(delta > 0, bounds[0], bounds[1])
        gamma, tol = float(self.gamma), self._param("tol")
        warnings = []
        if V.shape[0] == 0:  # only pairs of identical points: nothing to learn
            M, history, n_iter, converged, certificate = M0.copy(), [0.0], 0, True, 0.0
        elif self.solver == "bregman":
            lam = np.zeros(V.shape[0])
            M, _, history, n_iter, converged = _solve(
                V, delta, M0, xi0, gamma, self.max_iter, tol, lam=lam)
            certificate, _ = dual_certificate(V, delta, xi0, M0, gamma, lam)
        else:
            M, history, n_iter, converged, certificate, warnings = dual_solve(
                V, delta, xi0, M0, gamma, self.max_iter, tol)
        return FitResult(components_from_metric(M, n_components=self.n_components), n_iter,
                         converged, history,
                         {"bounds_": bounds, "prior_": M0, "certificate_": certificate},
                         warnings=warnings)


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

    The problem is convex. By default (``solver='dual'``) it is solved
    through its dual, one multiplier :math:`\lambda_i \ge 0` per constraint:
    :math:`M(\lambda) = (M_0^{-1} + \sum_i \delta_i \lambda_i v_i v_i^T)^{-1}`
    (:math:`\delta_i = \pm 1`, :math:`v_i = x - x'`), the slacks have a closed
    form in :math:`\lambda`, and the concave dual
    :math:`\log\det(M_0 M(\lambda)^{-1}) + \gamma \sum_i
    \log(1 - \delta_i \lambda_i \xi_{0,i} / \gamma)` is maximised by a
    projected L-BFGS with an exact line search [2]_, started from 8 sweeps of
    the paper's Bregman projections [1]_. Its gradient, the constraints'
    violations :math:`\delta_i (v_i^T M(\lambda) v_i - \xi_i)`, costs two
    matrix products per iteration. Every :math:`M(\lambda)` is feasible with
    its best slacks, so the duality gap bounds the distance to the optimum:
    the solver stops when it falls below ``tol`` (relative), and reports it
    as ``certificate_``. ``solver='bregman'`` runs the paper's cyclic Bregman
    projections instead. Pairs of identical points constrain nothing and are
    skipped. See the :ref:`User Guide <itml>` for the derivation.

    Parameters
    ----------
    gamma : float, default=0.2
        Weight of the slack divergence: the larger, the closer the
        constraints are enforced (``np.inf`` makes them hard, and a
        ``ValueError`` says so when no metric meets them all).
        metric-learn's default is 1.0; with the default prior, 0.2 gave
        k-NN accuracies at least metric-learn's defaults' on raw and
        standardised data, where 1.0 lost on standardised digits (see Notes).
    max_iter : int, default=1000
        Maximum number of iterations: quasi-Newton iterations of the dual
        solver, or sweeps over the constraints (``solver='bregman'``).
    tol : float, default=1e-9
        ``solver='dual'``: stop when the relative duality gap
        ``certificate_`` is at most ``tol`` (the objective is then within
        that fraction of the optimum). ``'bregman'``: stop when the dual
        variables changed by less than ``tol`` over a sweep, relative to
        their sum, or when no projection changed ``M``; metric-learn's
        default, 1e-3, is this rule (the sweeps rarely reach 1e-9 within
        1000 sweeps, and warn).
    prior : {'auto', 'identity', 'covariance', 'random'} or array-like, default='auto'
        The prior ``M0``: the identity, the inverse covariance of the points
        in ``pairs``, a random SPD matrix, or a positive definite array of
        shape ``(n_features, n_features)``. ``'auto'`` picks the identity or
        the inverse feature variances (see Notes).
    solver : {'dual', 'bregman'}, default='dual'
        The dual solver, or the cyclic Bregman projections of the paper
        (Algorithm 1; metric-learn's solver, many times slower to converge).
    verbose : bool or int, default=False
        Print the objective and the gap after each iteration (sweep).
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
        The prior matrix ``M0`` that was used.
    n_iter_ : int
        Iterations run: quasi-Newton iterations (each two products of the
        ``(n_pairs, n_features)`` constraint matrix with a square one), or
        sweeps (``solver='bregman'``).
    objective_history_ : ndarray
        The objective (with the best slacks) at the solver's starting point
        and after each iteration (``solver='dual'``), or after each sweep.
    certificate_ : float
        The relative duality gap ``(P(M) - g(lambda)) / max(|P(M)|, 1)`` at
        the end: the objective at the learned metric exceeds the optimum by
        at most this fraction (0 at the exact optimum). With ``gamma=inf``,
        the larger of that and the largest relative violation of a bound.
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
    are on squared distances): over every pair of distinct points when there
    are at most 100,000 pairs, over 100,000 pairs drawn with
    ``random_state`` otherwise. metric-learn 0.7.0 uses percentiles of
    *non-squared* Euclidean distances as bounds on squared distances.
    Pass ``bounds=[u, l]`` to reproduce any other choice.

    **Defaults robust to feature units.** With the identity prior and
    ``gamma=1`` (the paper's and metric-learn's defaults), a feature in
    large units dominates the prior and the learned metric stays close to
    it (on raw wine, 3-NN accuracy 0.90 against metric-learn's 0.97).
    ``prior='auto'`` takes, of the identity and ``diag(1 / var)`` (the
    identity in standardised units, each variance floored at a tenth of
    their median so that nearly constant features are not blown up), the
    one under which the training pairs are better told apart (the ROC AUC
    of similar against dissimilar pairs by squared distance). With it and
    ``gamma=0.2``, the mean 3-NN and 4-NN test accuracy of
    :class:`ITML_Supervised` on raw and standardised iris, wine,
    breast_cancer and digits was, over 45 splits (8 of digits), above
    metric-learn's defaults' or below by at most 0.21 points, within a
    standard error (the user guide has the tables).

    References
    ----------
    .. [1] J. V. Davis, B. Kulis, P. Jain, S. Sra, I. S. Dhillon.
           "Information-theoretic metric learning". ICML 2007.
    .. [2] D. P. Bertsekas. "Projected Newton methods for optimization
           problems with simple constraints". SIAM J. Control Optim., 1982.

    Examples
    --------
    Two classes apart along the second axis, with a larger spread along the
    others; pairs of points given as indices into ``X``:

    >>> from metriclearn import ITML, Constraints
    >>> from metriclearn.datasets import make_xing_toy
    >>> X, labels = make_xing_toy(60, 2, "y", random_state=0)
    >>> pairs, y = Constraints(labels).pairs(40, random_state=0)
    >>> itml = ITML(preprocessor=X).fit(pairs, y)
    >>> itml.score(pairs, y)
    1.0
    >>> M = itml.get_mahalanobis_matrix()
    >>> bool(M[1, 1] > 10 * max(M[0, 0], M[2, 2]))
    True
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
    gamma : float, default=0.2
        Weight of the slack divergence (``np.inf``: hard constraints);
        metric-learn's default is 1.0 (see :class:`ITML`).
    max_iter : int, default=1000
        Maximum number of iterations (sweeps with ``solver='bregman'``).
    tol : float, default=1e-9
        Tolerance on the relative duality gap, or on the relative change of
        the dual variables with ``solver='bregman'`` (see :class:`ITML`).
    n_constraints : int, default=None
        Number of similar and of dissimilar pairs to draw; ``None`` means
        ``20 * n_classes**2``.
    prior : {'auto', 'identity', 'covariance', 'random'} or array-like, default='auto'
        The prior ``M0`` (see :class:`ITML`); 'covariance' is the inverse
        covariance of ``X``, 'auto' the identity or the inverse variances of
        the features of ``X``, whichever tells the drawn pairs apart better.
    solver : {'dual', 'bregman'}, default='dual'
        The dual solver or the paper's Bregman projections (see :class:`ITML`).
    verbose : bool or int, default=False
        Print progress after each iteration (sweep).
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
        The prior matrix ``M0`` that was used.
    n_iter_ : int
        Iterations (sweeps with ``solver='bregman'``) run.
    objective_history_ : ndarray
        The objective along the way (see :class:`ITML`).
    certificate_ : float
        The relative duality gap at the end (see :class:`ITML`).
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
    :class:`ITML`, which takes them from the points of its pairs, for these
    and for the defaults of ``prior`` and ``gamma``).

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

    def __init__(self, *, gamma=0.2, max_iter=1000, tol=1e-9, n_constraints=None,
                 prior="auto", solver="dual", verbose=False, preprocessor=None,
                 random_state=None, n_components=None, num_constraints=UNSET,
                 convergence_threshold=UNSET):
        super().__init__(
            gamma=gamma, max_iter=max_iter, tol=tol, prior=prior, solver=solver,
            verbose=verbose, preprocessor=preprocessor, random_state=random_state,
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
