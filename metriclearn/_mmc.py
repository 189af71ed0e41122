"""Mahalanobis Metric for Clustering (Xing et al. 2002): MMC and MMC_Supervised."""

from numbers import Integral, Real

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ._compat import Interval, StrOptions, _fit_context
from ._kernels.distances import paired_sq_mahalanobis, weighted_outer_sum
from ._kernels.mmc import diagonal_objective, diagonal_value, project_psd_trace
from ._linalg import components_from_metric, initial_metric
from ._result import FitResult
from .base import (
    UNSET,
    BaseMetricLearner,
    PairsClassifierMixin,
    SupervisedLearnerMixin,
    TupleLearnerMixin,
)

__all__ = ["MMC", "MMC_Supervised"]


# --------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------


def _unbounded(detail):
    return ValueError(
        f"MMC's objective is unbounded: {detail}. Along such a direction the "
        "dissimilar distances grow at no cost; add similar pairs that vary "
        "along it, or remove it first (drop the features, or reduce the "
        "dimension with PCA)"
    )


def _check_bounded_diagonal(sim, dis):
    """Raise if a feature varies in dissimilar pairs but in no similar pair."""
    s = (sim * sim).sum(axis=0)
    q = (dis * dis).max(axis=0)
    bad = np.flatnonzero((q > 0) & (s <= 1e-12 * q))
    if bad.size:
        raise _unbounded(
            f"features {bad[:10].tolist()} vary in dissimilar pairs but in no "
            "similar pair"
        )


def _whitening(sim, dis):
    """``T`` of shape (r, d) with ``T Sigma_S T^T = I_r`` (``r`` the rank of
    the similar pairs' scatter ``Sigma_S``).

    In the coordinates ``T d`` the constraint ``sum_S ||d||_M^2 <= 1`` is
    ``trace(M') <= 1`` with ``M = T^T M' T``, so the projection onto the
    feasible set is exact in one eigen-decomposition. Features are scaled to
    unit similar-pair spread before the rank is judged, so the result does not
    depend on the units of the features. Raises when a dissimilar pair varies
    outside the span of the similar ones (the problem is then unbounded).
    """
    _check_bounded_diagonal(sim, dis)
    s = (sim * sim).sum(axis=0)
    keep = np.flatnonzero(s > 0)
    scale = 1.0 / np.sqrt(s[keep])
    sim_k = sim[:, keep] * scale
    dis_k = dis[:, keep] * scale
    corr = weighted_outer_sum(np.ascontiguousarray(sim_k), np.ones(sim.shape[0]))
    w, U = np.linalg.eigh(corr)
    span = w > 1e-10 * w.max()
    U_r = U[:, span]
    leak = dis_k - (dis_k @ U_r) @ U_r.T
    rel = np.linalg.norm(leak, axis=1) / np.maximum(np.linalg.norm(dis_k, axis=1), 1e-300)
    if np.any(rel > 1e-6):
        raise _unbounded(
            f"the similar pairs span only {int(span.sum())} of {sim.shape[1]} "
            "dimensions and dissimilar pairs vary outside that span"
        )
    T = np.zeros((U_r.shape[1], sim.shape[1]))
    T[:, keep] = (U_r / np.sqrt(w[span])).T * scale
    return T


# consecutive iterations of negligible gain that stop the full solver
_WINDOW = 3


def _full_value(M, dis):
    """``g(M) = sum_D ||d||_M`` and the distances it sums."""
    dist = np.sqrt(np.maximum(paired_sq_mahalanobis(dis, M), 0.0))
    return dist.sum(), dist


def _full_grad(dis, dist):
    """``grad g = sum_D d d^T / (2 ||d||_M)``, from the distances at ``M``."""
    floor = 1e-12 * max(dist.max(), 1e-300)
    return weighted_outer_sum(dis, 0.5 / np.maximum(dist, floor))


def _solve_full(sim, dis, M0, max_iter, tol, verbose):
    """max sum_D ||d||_M  s.t.  sum_S ||d||_M^2 <= 1, M PSD.

    Solved in the coordinates whitened by the similar pairs (see
    :func:`_whitening`) by projected gradient ascent: a spectral
    (Barzilai-Borwein) step along the gradient, the exact projection onto the
    feasible set, and an Armijo search along the projected direction.
    """
    T = _whitening(sim, dis)
    dis_w = np.ascontiguousarray(dis @ T.T)
    T_pinv = np.linalg.pinv(T)
    M = T_pinv.T @ M0 @ T_pinv
    M = project_psd_trace(M / max(np.trace(M), 1e-300), 1.0)
    g, dist = _full_value(M, dis_w)
    G = _full_grad(dis_w, dist)
    history = [g]
    alpha = np.linalg.norm(M) / max(np.linalg.norm(G), 1e-300)
    alpha_lo, alpha_hi = alpha * 1e-10, alpha * 1e10
    converged, it, stalled = False, 0, 0
    for it in range(1, max_iter + 1):
        D = project_psd_trace(M + alpha * G, 1.0) - M
        slope = float(np.sum(G * D))
        t = 1.0
        while True:
            Mn = M + t * D
            gn, dist = _full_value(Mn, dis_w)
            if gn >= g + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-10:
                break
        if gn < g:
            # no ascent left at working precision: M is stationary
            converged = True
            break
        # the gradient only at the accepted point, not at rejected trials
        Gn = _full_grad(dis_w, dist)
        s = Mn - M
        sy = -float(np.sum(s * (Gn - G)))
        ss = float(np.sum(s * s))
        alpha = min(max(ss / sy, alpha_lo), alpha_hi) if sy > 0 else alpha_hi
        rel_obj = (gn - g) / max(g, 1e-300)
        rel_M = np.sqrt(ss) / max(np.linalg.norm(M), 1e-300)
        M, g, G = Mn, gn, Gn
        history.append(g)
        if verbose:
            print(
                f"[MMC] iter {it:4d}  objective {g:.10g}  rel. change of M "
                f"{rel_M:.3e}  step {t * alpha:.3e}"
            )
        # the maximiser need not be unique (M can drift along an optimal face
        # at no gain), so convergence is judged on the objective: less than
        # tol of relative gain over each of the last _WINDOW iterations
        stalled = stalled + 1 if rel_obj < tol else 0
        if stalled >= _WINDOW:
            converged = True
            break
    M = T.T @ M @ T
    return 0.5 * (M + M.T), history, it, converged


def _collapsed_features(a, Q):
    """Features at zero along which some dissimilar pair at distance zero
    under ``a`` differs."""
    collapsed = (Q @ a <= 0) & np.any(Q > 0, axis=1)
    if not collapsed.any():
        return np.zeros(a.shape[0], dtype=bool)
    return (a <= 0) & np.any(Q[collapsed] > 0, axis=0)


def _solve_diagonal(sim, dis, a0, c, max_iter, tol, verbose):
    """min_{a >= 0} sum_S ||d||_a^2 - c log sum_D ||d||_a.

    Projected Newton method for bound constraints (Bertsekas 1982): variables
    at (or within epsilon of) the bound with a positive gradient form the
    active set and take a scaled gradient step; the others take a Newton step
    on the reduced Hessian; an Armijo search on the projected arc keeps
    ``a >= 0`` and decreases ``h`` itself.
    """
    s_sum = (sim * sim).sum(axis=0)
    Q = np.ascontiguousarray(dis * dis)
    a = np.maximum(np.asarray(a0, dtype=np.float64), 0.0)
    if not np.isfinite(diagonal_value(a, s_sum, Q, c)):
        a = np.ones_like(a)
    # start at the best multiple of a0: along the ray t * a0 the objective
    # t * (s @ a0) - (c / 2) log t - ... is least at t = c / (2 s @ a0)
    a = a * (0.5 * c / max(float(s_sum @ a), 1e-300))
    h, grad, H = diagonal_objective(a, s_sum, Q, c)
    history = [h]
    converged, n_iter, n_lifts = False, 0, 0
    d = a.shape[0]
    for _ in range(max_iter + 1):
        hdiag = np.maximum(np.diag(H), 1e-300)
        scaled = grad / hdiag
        # epsilon-active set: at (or near) the bound with the gradient pushing out
        eps = min(1e-3 * max(a.max(), 1e-300),
                  np.linalg.norm(a - np.maximum(a - scaled, 0.0)))
        active = (a <= eps) & (grad > 0)
        free = ~active
        p = np.where(active, scaled, 0.0)
        if free.any():
            Hf = H[np.ix_(free, free)]
            ridge = 1e-12 * max(np.trace(Hf) / free.sum(), 1e-300)
            Hf = Hf + ridge * np.eye(Hf.shape[0])
            p[free] = cho_solve(cho_factor(Hf, check_finite=False), grad[free])
        # Newton decrement on the free variables: the decrease a full step
        # promises, in the (scale-free) units of h
        decrement = float(grad[free] @ p[free])
        if 0.5 * decrement <= tol * max(1.0, abs(h)):
            # h has an infinite downward slope wherever a dissimilar pair that
            # differs only along features at zero has distance zero: the
            # kernel's gradient cannot show it, so lift those features and go on
            lift = _collapsed_features(a, Q)
            if lift.any() and n_lifts < 5:
                n_lifts += 1
                a = a.copy()
                a[lift] = 1e-6 * 0.5 * c / s_sum[lift]
                h, grad, H = diagonal_objective(a, s_sum, Q, c)
                continue
            converged = True
            break
        if n_iter == max_iter:
            break
        beta = 1.0
        while True:
            a_new = np.maximum(a - beta * p, 0.0)
            pred = beta * decrement + float(grad[active] @ (a[active] - a_new[active]))
            h_new = diagonal_value(a_new, s_sum, Q, c)
            if h - h_new >= 1e-4 * pred or beta < 1e-12:
                break
            beta *= 0.5
        if not h_new < h:
            # no decrease left at working precision: a is stationary
            converged = True
            break
        a = a_new
        n_iter += 1
        h, grad, H = diagonal_objective(a, s_sum, Q, c)
        history.append(h)
        if verbose:
            print(
                f"[MMC diagonal] iter {n_iter:4d}  objective {h:.10g}  "
                f"Newton decrement {decrement:.3e}  step {beta:.3g}  "
                f"active {int(active.sum())}/{d}"
            )
    return a, history, n_iter, converged


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


class _BaseMMC(BaseMetricLearner):
    """The parameters and the problem shared by MMC and MMC_Supervised."""

    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_proj": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"identity", "covariance", "random"}), np.ndarray],
        "diagonal": ["boolean"],
        "diagonal_c": [Interval(Real, 0, None, closed="neither")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "convergence_threshold": [StrOptions({UNSET}), Interval(Real, 0, None, closed="left")],
    }
    _renamed_parameters = {"convergence_threshold": "tol"}

    def __init__(self, *, max_iter=100, max_proj=10000, tol=1e-3, init="identity",
                 diagonal=False, diagonal_c=1.0, verbose=False, preprocessor=None,
                 random_state=None, n_components=None, convergence_threshold=UNSET):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_components = n_components
        self.convergence_threshold = convergence_threshold

    def _fit_tuples(self, tuples, rng):
        """Learn M from validated pairs (:class:`~metriclearn._validation.Tuples`)."""
        diff = tuples.differences()
        sim, dis = diff[tuples.y == 1], diff[tuples.y == -1]
        dis = dis[np.any(dis != 0.0, axis=1)]  # identical points: no information
        if dis.shape[0] == 0:
            raise ValueError(
                "MMC needs at least one dissimilar pair (y == -1) of distinct points"
            )
        if not np.any(sim != 0.0):
            raise ValueError(
                "MMC needs at least one similar pair (y == +1) of distinct points"
            )
        d = tuples.n_features
        M0 = initial_metric(self.init, tuples.points().reshape(-1, d), d, rng)
        if self.diagonal:
            _check_bounded_diagonal(sim, dis)
            a, history, n_iter, converged = _solve_diagonal(
                sim, dis, np.diag(M0), float(self.diagonal_c), self.max_iter,
                self._param("tol"), self.verbose,
            )
            components = components_from_metric(np.diag(a), n_components=self.n_components)
        else:
            M, history, n_iter, converged = _solve_full(
                sim, dis, M0, self.max_iter, self._param("tol"), self.verbose,
            )
            components = components_from_metric(M, n_components=self.n_components)
        return FitResult(components, n_iter, converged, history)


class MMC(TupleLearnerMixin, PairsClassifierMixin, _BaseMMC):
    r"""Mahalanobis Metric for Clustering (MMC), learned from pairs.

    Read more in the :ref:`User Guide <mmc>`.

    Full matrix (Xing et al. 2002, problem (4)):

    .. math::

        \max_{M \succeq 0} \sum_{(x, x') \in D} \|x - x'\|_M
        \quad \text{s.t.} \quad \sum_{(x, x') \in S} \|x - x'\|_M^2 \le 1

    Diagonal matrix ``M = diag(a)`` (``diagonal=True``, their problem (6)):

    .. math::

        \min_{a \ge 0} \sum_{(x, x') \in S} \|x - x'\|_a^2
        - c \log \sum_{(x, x') \in D} \|x - x'\|_a

    where

    - :math:`S` are the similar pairs (``y == +1``), :math:`D` the dissimilar
      ones (``y == -1``);
    - :math:`\|d\|_M = \sqrt{d^T M d}`;
    - :math:`c` is ``diagonal_c``.

    Both problems are convex. The full problem is solved by projected gradient
    ascent with Barzilai-Borwein steps and an Armijo line search [3]_, in
    coordinates whitened by the similar pairs' scatter
    :math:`\Sigma_S = \sum_S d d^T`: there the constraint reads
    :math:`\operatorname{tr} M' \le 1`, and the projection onto both
    constraints (Xing et al.'s C1 and C2, which they project onto alternately
    until both hold) is exact in one eigen-decomposition. The diagonal problem
    is solved by a projected Newton method for the bound :math:`a \ge 0` [2]_.
    Pairs of identical points carry no information and are ignored. If
    dissimilar pairs vary along a direction in which no similar pair does,
    the problem is unbounded and ``fit`` raises a ``ValueError``.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations (gradient steps, or Newton steps when
        ``diagonal=True``).
    max_proj : int, default=10000
        Kept for compatibility with metric-learn, where it caps the alternating
        projections onto the two constraint sets in each iteration. Here the
        projection onto their intersection is exact in one eigen-decomposition,
        so it needs no cap and this parameter has no effect.
    tol : float, default=1e-3
        Convergence tolerance. The full solver stops when the objective has
        gained less than ``tol`` (relative) in each of the last 3 iterations;
        the diagonal solver when the Newton decrement, which estimates the
        distance to the minimum, is below ``tol * max(1, |h|)``.
    init : {'identity', 'covariance', 'random'} or ndarray, default='identity'
        Starting matrix: the identity, the (pseudo-)inverse covariance of the
        points in ``pairs``, a random SPD matrix, or a symmetric PSD array of
        shape ``(n_features, n_features)``. With ``diagonal=True`` its diagonal
        is the start. The optimum does not depend on it (the problems are
        convex), only the path does.
    diagonal : bool, default=False
        Learn a diagonal matrix (a weighting of the features).
    diagonal_c : float, default=1.0
        Weight ``c`` of the dissimilarity term of the diagonal objective.
    verbose : bool or int, default=False
        Print the objective, the step and the projections at each iteration.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``pairs`` be given as ``(n_pairs, 2)`` integer indices: rows of
        this array, or the points a callable returns for an array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'``.
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
    n_iter_ : int
        Number of iterations run.
    objective_history_ : ndarray
        Objective after each iteration: ``sum_D ||d||_M`` (with
        ``sum_S ||d||_M^2 = 1``) for the full matrix, ``h(a)`` for the diagonal.
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    threshold_ : float
        Pairs at a learned distance at most this are predicted similar.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    MMC_Supervised : the same learner, from class labels.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan, S. Russell. "Distance metric
           learning, with application to clustering with side-information".
           NIPS 2002.
    .. [2] D. P. Bertsekas. "Projected Newton methods for optimization problems
           with simple constraints". SIAM J. Control Optim. 20(2), 1982.
    .. [3] E. G. Birgin, J. M. Martinez, M. Raydan. "Nonmonotone spectral
           projected gradient methods on convex sets". SIAM J. Optim. 10(4), 2000.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import MMC
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]], [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]], [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> mmc = MMC().fit(pairs, y)
    >>> mmc.predict(pairs).tolist()
    [1, 1, -1, -1]
    """

    _supervised_twin = "MMC_Supervised"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, pairs, y, calibration_params=None):
        """Learn the metric from labelled pairs, then calibrate ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or integer indices into ``preprocessor``.
        y : array-like of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.
        calibration_params : dict, optional
            Keyword arguments of :meth:`calibrate_threshold` (default: strategy
            'accuracy').

        Returns
        -------
        self
        """
        return self._fit_from_tuples(pairs, y, calibration_params=calibration_params)


class MMC_Supervised(SupervisedLearnerMixin, _BaseMMC):
    """Mahalanobis Metric for Clustering (MMC), learned from class labels.

    Read more in the :ref:`User Guide <mmc>`.

    Draws ``n_constraints`` similar pairs (same class) and as many dissimilar
    pairs (different classes) from the labels with
    :class:`~metriclearn.Constraints`, then solves :class:`MMC`'s problem.
    Every distinct label is a class (also negative ones).

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations.
    max_proj : int, default=10000
        Kept for compatibility with metric-learn, where it caps the alternating
        projections onto the two constraint sets in each iteration. Here the
        projection onto their intersection is exact in one eigen-decomposition,
        so it needs no cap and this parameter has no effect.
    tol : float, default=1e-6
        Convergence tolerance (see :class:`MMC`).
    n_constraints : int, default=None
        Number of similar and of dissimilar pairs to draw; ``None`` means
        ``20 * n_classes**2``.
    init : {'identity', 'covariance', 'random'} or ndarray, default='identity'
        Starting matrix (see :class:`MMC`).
    diagonal : bool, default=False
        Learn a diagonal matrix.
    diagonal_c : float, default=1.0
        Weight of the dissimilarity term of the diagonal objective.
    verbose : bool or int, default=False
        Print progress at each iteration.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the pairs drawn and of ``init='random'``.
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
    n_iter_ : int
        Number of iterations run.
    objective_history_ : ndarray
        Objective after each iteration (see :class:`MMC`).
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import MMC_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(MMC_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseMMC._parameter_constraints,
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "num_constraints": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {**_BaseMMC._renamed_parameters, "num_constraints": "n_constraints"}

    def __init__(self, *, max_iter=100, max_proj=10000, tol=1e-6, n_constraints=None,
                 init="identity", diagonal=False, diagonal_c=1.0, verbose=False,
                 preprocessor=None, random_state=None, n_components=None,
                 num_constraints=UNSET, convergence_threshold=UNSET):
        super().__init__(
            max_iter=max_iter, max_proj=max_proj, tol=tol, init=init,
            diagonal=diagonal, diagonal_c=diagonal_c, verbose=verbose,
            preprocessor=preprocessor, random_state=random_state,
            n_components=n_components, convergence_threshold=convergence_threshold,
        )
        self.n_constraints = n_constraints
        self.num_constraints = num_constraints

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y)
