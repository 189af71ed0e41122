"""Large Margin Nearest Neighbor (Weinberger & Saul 2009): LMNN."""

import sys
import time
from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.multiclass import check_classification_targets

from ._compat import Interval, StrOptions, _fit_context, minimize_lbfgsb
from ._kernels.lmnn import (
    _BLOCK,
    _CHUNK,
    get_push_loss_terms,
    get_target_neighbors,
    target_distances,
    target_weight_terms,
)
from ._labels import LabelIndex
from ._linalg import symmetric_eigh
from ._result import FitResult
from ._threads import limit_threads, numba_threads
from .base import BaseMetricLearner, SupervisedLearnerMixin

__all__ = ["LMNN", "LMNNProblem"]

# consecutive iterations of negligible relative decrease that stop the solver
# (two, so that one short step of the line search does not end the fit)
_WINDOW = 2


# --------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------


class LMNNProblem:
    """LMNN's loss and gradient in ``L`` for points sorted by class.

    Holds the sorted points, the class bounds, the fixed target neighbours,
    the (constant) pull matrix ``sum_{i, j~>i} (x_i - x_j)(x_i - x_j)^T`` and
    the loss weights; :meth:`loss_grad` evaluates the loss at a flattened
    ``L``, as scipy's optimisers want it, searching the impostors afresh.
    """

    def __init__(self, X, bounds, targets, regularization, n_jobs=1, squared=False):
        self.X = X
        self.squared = bool(squared)
        self.bounds = bounds
        self.targets = targets
        self.pull_weight = float(regularization)
        self.push_weight = 1.0 - float(regularization)
        self.push_kernel = get_push_loss_terms(n_jobs)
        self.n_groups = 1 if n_jobs is None else max(int(n_jobs), 1)
        s, c, P = target_weight_terms(X, targets, np.ones(targets.shape, dtype=np.float64))
        self.C_pull = self._outer_sum(s + c, P)
        self.n_active = 0
        self._last = None  # (L_flat, loss, grad, n_active) of the last evaluation

    def _outer_sum(self, deg, P):
        """``X^T diag(deg) X - X^T P - P^T X``: the sum
        ``sum_pq W_pq (x_p - x_q)(x_p - x_q)^T`` when ``deg`` holds the row
        plus column sums of ``W`` and ``P = W X``."""
        # = S + S^T for S = X^T (diag(deg) X / 2 - P): one product
        S = self.X.T @ (0.5 * deg[:, None] * self.X - P)
        return S + S.T

    def loss_grad(self, L_flat):
        last = self._last
        if last is not None and np.array_equal(last[0], L_flat):
            # scipy evaluates its starting point again
            self.n_active = last[3]
            return last[1], last[2].copy()
        X = self.X
        L = L_flat.reshape(-1, X.shape[1])
        Z = X @ L.T
        dist_t = target_distances(Z, self.targets)
        push, n_active, w_target, deg, P = self.push_kernel(
            X, Z, self.bounds, self.targets, dist_t, _BLOCK, _CHUNK, self.n_groups,
            self.squared,
        )
        s_t, c_t, P_t = target_weight_terms(X, self.targets, w_target)
        A = self._outer_sum(deg + s_t + c_t, P + P_t)
        self.n_active = int(n_active)
        loss = self.pull_weight * dist_t.sum() + self.push_weight * push
        grad = (2.0 * L @ (self.pull_weight * self.C_pull + self.push_weight * A)).ravel()
        self._last = (L_flat.copy(), loss, grad.copy(), self.n_active)
        return loss, grad


def _whitening(X, L0):
    """``W`` of shape (n_features, rank) that whitens ``X`` within the range
    of its covariance, and ``L0`` in those coordinates (``L0_w W^T`` equals
    ``L0`` on that range).

    The range is judged on the correlation matrix (features first scaled to
    unit spread), so that features of small units are not mistaken for
    constant ones.
    """
    Xc = X - X.mean(axis=0)
    std = np.sqrt((Xc * Xc).mean(axis=0))
    if not np.any(std > 0.0):
        raise ValueError("LMNN needs points that are not all identical; X has no variance")
    inv_std = np.where(std > 0.0, 1.0 / np.where(std > 0.0, std, 1.0), 0.0)
    Xs = Xc * inv_std
    w, V = symmetric_eigh(Xs.T @ Xs / X.shape[0], "the correlation matrix of X")
    keep = w > 1e-10 * w[-1]
    root = np.sqrt(w[keep])
    W = (V[:, keep] / root) * inv_std[:, None]
    # L0 on the range: L0 x = L0_w W^T x for every centred x in it
    B = V[:, keep] * root
    safe_std = np.where(std > 0.0, std, 0.0)
    return W, np.ascontiguousarray(L0 @ (B * safe_std[:, None]))


# Points sampled (evenly over the class-sorted order, so every class is
# represented) for the initial scale: anchors, and points they are compared with.
_SCALE_ANCHORS = 128
_SCALE_OTHERS = 256


def _ray_sample(problem, L0):
    r"""The loss along the ray ``sqrt(s) L0`` on a sample, as the pieces of

    .. math::

        \phi(s) = a s + \sum_t w_t \left[1 + s \delta_t\right]_+^p

    (:math:`p` = 2 for the squared hinge, 1 for the hinge)

    (the squared distances scale with ``s``). ``a`` is the pull term at
    ``L0`` (every point). The triplets are those of up to ``_SCALE_ANCHORS``
    anchors against up to ``_SCALE_OTHERS`` points, with
    ``delta = ||L0 (x_i - x_j)||^2 - ||L0 (x_i - x_l)||^2`` and weights ``w``
    that make the sum an unbiased estimate of the push term over all
    triplets. Returns ``a, delta, w``.
    """
    X, targets, bounds = problem.X, problem.targets, problem.bounds
    n = X.shape[0]
    y = np.repeat(np.arange(bounds.shape[0] - 1), np.diff(bounds))
    Z = X @ L0.T
    dist_t = target_distances(Z, targets)
    rows = np.unique(np.linspace(0, n - 1, min(n, _SCALE_ANCHORS)).round().astype(np.intp))
    cols = np.unique(np.linspace(0, n - 1, min(n, _SCALE_OTHERS)).round().astype(np.intp))
    Zr, Zc = Z[rows], Z[cols]
    # X is centred, so the expansion loses little to cancellation; a starting
    # scale needs no more
    D = np.maximum((Zr * Zr).sum(axis=1)[:, None] + (Zc * Zc).sum(axis=1) - 2.0 * Zr @ Zc.T,
                   0.0)
    other = y[rows][:, None] != y[cols][None, :]
    n_other = n - np.diff(bounds)[y[rows]]
    m_other = other.sum(axis=1)
    # anchor i stands for n / len(rows) anchors, each of its m_other sampled
    # points for n_other / m_other points of other classes
    w_row = (n / rows.shape[0]) * n_other / np.maximum(m_other, 1)
    delta = dist_t[rows][:, :, None] - D[:, None, :]
    mask = np.broadcast_to(other[:, None, :], delta.shape)
    w = np.broadcast_to(w_row[:, None, None], delta.shape)[mask]
    return problem.pull_weight * dist_t.sum(), delta[mask], problem.push_weight * w


def _ray_minimiser_hinge(a, delta, w):
    """The ``s > 0`` minimising ``phi(s) = a s + sum_t w_t [1 + s delta_t]_+``.

    ``phi`` is convex and piecewise linear in ``s``; its slope grows by
    ``-w_t delta_t`` as ``s`` passes the kink ``-1 / delta_t`` of a triplet
    with ``delta_t < 0``. The minimiser is the first kink where the slope
    turns non-negative (the smallest kink if it is non-negative from the
    start, so that the map never collapses to zero; 1 if there is none).
    """
    neg = delta < 0.0
    if not np.any(neg):
        return 1.0
    kinks = -1.0 / delta[neg]
    order = np.argsort(kinks, kind="stable")
    slope = a + float(w @ delta) - np.cumsum((w[neg] * delta[neg])[order])
    crossed = np.flatnonzero(slope >= 0.0)
    return float(kinks[order][crossed[0]] if crossed.size else kinks[order][-1])


def _ray_minimiser(a, delta, w, max_iter=60):
    """The ``s > 0`` minimising ``phi(s) = a s + sum_t w_t [1 + s delta_t]_+^2``.

    ``phi`` is convex and piecewise quadratic in ``s``: its slope is
    bracketed by factors of 10 from ``s = 1``, then safeguarded Newton steps
    (bisection in ``log s`` when a step leaves the bracket) find its zero to
    0.1 percent.
    """

    wd = w * delta
    wdd = wd * delta

    def slope_curvature(s):
        u = 1.0 + s * delta
        return a + 2.0 * (wd @ np.maximum(u, 0.0)), 2.0 * (wdd @ (u > 0.0))

    s = 1.0
    g, _ = slope_curvature(s)
    if g == 0.0:
        return s
    step = 10.0 if g < 0.0 else 0.1
    for _ in range(30):
        s_new = s * step
        g_new, _ = slope_curvature(s_new)
        if (g_new >= 0.0) == (g < 0.0):
            lo, hi = min(s, s_new), max(s, s_new)
            break
        s, g = s_new, g_new
    else:
        return s
    s = np.sqrt(lo * hi)
    for _ in range(max_iter):
        g, h = slope_curvature(s)
        if g == 0.0:
            break
        if g < 0.0:
            lo = s
        else:
            hi = s
        if hi <= lo * 1.001:
            break
        s_new = s - g / h if h > 0.0 else 0.0
        s = s_new if lo < s_new < hi else np.sqrt(lo * hi)
    return s


def _initial_scale(problem, L0):
    """The multiple ``t L0`` of the initial map that minimises a sampled loss.

    LMNN's margin is 1 whatever the units of the data, so on raw features the
    initial distances can be orders of magnitude off the scale of the
    solution, where the quartic loss leaves L-BFGS many slow iterations.
    Along the ray ``t L0`` the loss is a convex, piecewise quadratic function
    of ``s = t^2`` (a linear pull term plus hinges, or squared hinges, of
    functions affine in ``s``). Its minimiser is found on a sample of the
    triplets (:func:`_ray_sample`: no full evaluation of the loss), which is
    all a starting point needs; L-BFGS does the rest.
    """
    sample = _ray_sample(problem, L0)
    s = _ray_minimiser(*sample) if problem.squared else _ray_minimiser_hinge(*sample)
    return np.sqrt(s) * L0


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class LMNN(SupervisedLearnerMixin, BaseMetricLearner):
    r"""Large Margin Nearest Neighbor (LMNN) metric learning.

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
    with scipy's L-BFGS-B [3]_, from the multiple of ``init`` that minimises
    the loss on a sample of the triplets (the margin fixes the scale of the
    solution, which raw features may be far from). At every evaluation the
    impostors are searched afresh, blockwise, each pair of classes once
    (``128`` anchors against tiles of ``2048`` points of a later class, one
    single-precision GEMM per tile that selects the pairs whose distances
    are then computed exactly), so memory stays bounded by the tile size and
    no ``n x n`` matrix is formed; the gradient is assembled from the active
    triplets' weights by a few dense products. The tiles run in parallel
    with ``n_jobs``.

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
    learn_rate : float, default=1e-7
        Kept for compatibility with metric-learn, whose gradient descent takes
        steps of this (absolute, hence scale-dependent) size. L-BFGS chooses
        its steps by a line search, so this parameter has no effect.
    regularization : float in [0, 1], default=0.5
        Weight :math:`\rho` of the pull term; the push term has weight
        ``1 - regularization``.
    convergence_tol : float, default=None
        Kept for compatibility with metric-learn, where it is an absolute
        tolerance on the change of the objective (so it depends on the scale
        of the data). Not used: convergence is judged by ``tol``.
    verbose : bool or int, default=False
        Print the objective, the number of active triplets and the time of
        each iteration.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.
    n_components : int, default=None
        Number of rows of ``L`` (the dimension of the learned space); ``None``
        means ``n_features``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'`` and of ``init='pca'`` (randomised SVD).
    tol : float, default=1e-5
        Relative tolerance (scale-free): the solver stops once the objective
        decreased by less than ``tol`` times its value in each of 2
        consecutive iterations (after ``min_iter`` iterations), that is once
        it no longer improves meaningfully. pylmnn's L-BFGS-B stops after one
        such iteration (its ``ftol``), metric-learn on an absolute change.
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
    .. [3] R. H. Byrd, P. Lu, J. Nocedal, C. Zhu. "A limited memory algorithm
           for bound constrained optimization". SIAM J. Sci. Comput. 16(5),
           1995.

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
        "learn_rate": [Interval(Real, 0, None, closed="neither")],
        "regularization": [Interval(Real, 0, 1, closed="both")],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "convergence_tol": [Interval(Real, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callback": [callable, None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, *, init="auto", n_neighbors=3, min_iter=0, max_iter=1000,
                 learn_rate=1e-7, regularization=0.5, convergence_tol=None,
                 verbose=False, preprocessor=None, n_components=None,
                 random_state=None, tol=1e-5, callback=None, n_jobs=None,
                 loss="hinge"):
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

    def _fit_labels(self, X, y, rng):
        check_classification_targets(y)
        index = LabelIndex(y)
        self._check_classes(index.classes, index.counts)
        L0 = self._initialize(X, y, index.n_classes, rng)
        threads = numba_threads(self.n_jobs)
        # parallelism is numba's (opt-in by n_jobs): BLAS, called on small
        # tiles inside the blocks, runs on one thread
        with limit_threads(threads, blas=1):
            L, history, n_iter, converged = self._solve(
                np.ascontiguousarray(X[index.order]), index.bounds, L0, threads
            )
        return FitResult(L, n_iter, converged, history, {"classes_": index.classes})

    def _check_classes(self, classes, counts):
        if classes.shape[0] < 2:
            raise ValueError(
                f"LMNN needs at least 2 classes in y; got 1 class ({classes.tolist()}): "
                "its impostors are points of other classes"
            )
        small = np.flatnonzero(counts < self.n_neighbors + 1)
        if small.size:
            c = small[np.argmin(counts[small])]
            raise ValueError(
                f"class {classes[c].item()!r} has {counts[c]} points, but n_neighbors="
                f"{self.n_neighbors} needs at least {self.n_neighbors + 1} points "
                "in every class (each point's target neighbours are other points "
                "of its class); lower n_neighbors or remove the class"
            )

    def _initialize(self, X, y, n_classes, rng):
        """The initial ``L`` named by ``init``, shape ``(n_components, n_features)``."""
        n_samples, d = X.shape
        r = d if self.n_components is None else self.n_components
        if r > d:
            raise ValueError(
                f"n_components={r} must be at most n_features={d}"
            )
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

    def _solve(self, X, bounds, L0, threads):
        """Minimise the loss with L-BFGS-B from ``L0``; ``X`` sorted by class."""
        targets = get_target_neighbors(threads)(X, bounds, self.n_neighbors, _BLOCK)
        # L-BFGS runs in whitened coordinates: with the covariance's
        # eigenpairs (w, V) restricted to its range, X_w = (X - mean) V w^(-1/2)
        # and L = L_w W^T for W = V w^(-1/2). The objective is unchanged
        # (differences of points lie in that range), and the solver is spared
        # features of very different units and strongly correlated ones
        L_init = L0
        W, L0 = _whitening(X, L0)
        problem = LMNNProblem(np.ascontiguousarray((X - X.mean(axis=0)) @ W), bounds,
                           targets, self.regularization, n_jobs=threads,
                           squared=self.loss == "squared_hinge")
        shape = L0.shape
        L0 = _initial_scale(problem, L0)
        f0, _ = problem.loss_grad(L0.ravel())
        history = [f0]
        state = {"n_iter": 0, "stalled": 0, "converged": False, "t": time.perf_counter()}
        name = type(self).__name__
        if self.verbose:
            header = f"{'Iteration':>10} {'Objective':>20} {'Active triplets':>16} {'Time(s)':>8}"
            print(f"[{name}]\n[{name}] {header}\n[{name}] {'-' * len(header)}")
            print(f"[{name}] {0:>10d} {f0:>20.6e} {problem.n_active:>16,d}")
            sys.stdout.flush()

        def callback(intermediate_result):
            state["n_iter"] += 1
            it = state["n_iter"]
            f = float(intermediate_result.fun)
            previous = history[-1]
            history.append(f)
            if self.verbose:
                now = time.perf_counter()
                print(f"[{name}] {it:>10d} {f:>20.6e} {problem.n_active:>16,d} "
                      f"{now - state['t']:>8.2f}")
                sys.stdout.flush()
                state["t"] = now
            if self.callback is not None:
                self.callback(intermediate_result.x.reshape(shape) @ W.T, it)
            if f <= 0.0:
                state["converged"] = True
                raise StopIteration
            rel = (previous - f) / abs(f)
            state["stalled"] = state["stalled"] + 1 if rel < self.tol else 0
            if it >= self.min_iter and state["stalled"] >= _WINDOW:
                state["converged"] = True
                raise StopIteration

        if f0 <= 0.0:  # nothing to pull, nothing to push
            return L_init, history, 0, True
        result = minimize_lbfgsb(
            problem.loss_grad, L0.ravel(), callback=callback,
            options={"maxiter": self.max_iter, "maxfun": 20 * self.max_iter,
                     "ftol": 0.0, "gtol": 0.0},
        )
        n_iter = state["n_iter"]
        # L-BFGS-B also stops by itself when its line search finds no decrease
        # at working precision: a stationary point as far as it can tell
        converged = state["converged"] or n_iter < self.max_iter
        L = np.ascontiguousarray(result.x.reshape(shape) @ W.T)
        return L, history, n_iter, converged
