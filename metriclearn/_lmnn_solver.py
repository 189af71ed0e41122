"""LMNN's solver: the loss and gradient in ``L`` for points sorted by class
(:class:`LMNNProblem`, blockwise numba kernels), the whitened coordinates,
the initial scale along a ray, and L-BFGS to a stationary point
(:func:`solve`). Arrays in, arrays out; the estimator is in :mod:`._lmnn`."""


import numpy as np
import scipy.linalg
import scipy.optimize

from ._kernels.lmnn import (
    _BLOCK,
    first_crossing,
    get_target_neighbors,
    target_distances,
    target_weight_terms,
)
from ._lbfgs import minimize
from ._linalg import symmetric_eigh
from ._lmnn_search import ImpostorSearch
from ._progress import current

__all__ = ["LMNNProblem", "solve"]

# consecutive iterations of negligible relative decrease that stop the solver
# (two, so that one short step of the line search does not end the fit)
_WINDOW = 2
# length of L-BFGS's first trial step, relative to the initial map
_FIRST_STEP = 0.05


# --------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------


class LMNNProblem:
    """LMNN's loss and gradient in ``L`` for points sorted by class.

    Holds the sorted points, the class bounds, the fixed target neighbours,
    the (constant) pull matrix ``sum_{i, j~>i} (x_i - x_j)(x_i - x_j)^T`` and
    the loss weights; :meth:`loss_grad` evaluates the loss at a flattened
    ``L``, as the optimiser wants it, with the impostors of
    :class:`~metriclearn._lmnn_search.ImpostorSearch` (exactly those of a
    full search; ``incremental=False`` searches in full every time, 'auto'
    from a few hundred thousand pairs on).
    """

    def __init__(self, X, bounds, targets, regularization, n_jobs=1, squared=False,
                 incremental="auto", **search_options):
        self.X = X
        self.squared = bool(squared)
        self.bounds = bounds
        self.targets = targets
        self.pull_weight = float(regularization)
        self.push_weight = 1.0 - float(regularization)
        self.search = ImpostorSearch(X, bounds, targets, n_jobs=n_jobs, squared=squared,
                                     incremental=incremental, **search_options)
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
            # the optimiser evaluates its starting point again
            self.n_active = last[3]
            return last[1], last[2].copy()
        X = self.X
        L = L_flat.reshape(-1, X.shape[1])
        Z = X @ L.T
        dist_t = target_distances(Z, self.targets)
        push, n_active, w_target, deg, P = self.search(Z, dist_t)
        s_t, c_t, P_t = target_weight_terms(X, self.targets, w_target)
        A = self._outer_sum(deg + s_t + c_t, P + P_t)
        self.n_active = int(n_active)
        loss = self.pull_weight * dist_t.sum() + self.push_weight * push
        G = self.pull_weight * self.C_pull + self.push_weight * A
        grad = (2.0 * L @ G).ravel()
        self._last = (L_flat.copy(), loss, grad.copy(), self.n_active, G, w_target.sum(), push)
        return loss, grad

    def dual_terms(self, L_flat, eps=0.0):
        """``G = rho C + (1 - rho) sum_t w_t A_t``, ``sum_t w_t`` and
        ``sum_t w_t^2`` at ``L`` for the loss's weights ``w_t`` of every
        triplet (1 or ``2 h_t`` on the active ones), or with ``eps > 0`` (the
        hinge) the smoothed hinge's ``min(1, (h_t + eps) / (2 eps))`` on
        those of ``h_t > -eps``; ``A_t = d_ij d_ij^T - d_il d_il^T``
        (``sum_t w_t^2`` is None for the hinge)."""
        last = self._last
        if eps == 0.0 and last is not None and np.array_equal(last[0], L_flat):
            G, sum_w, push = last[4], last[5], last[6]
        else:
            X = self.X
            L = L_flat.reshape(-1, X.shape[1])
            Z = X @ L.T
            dist_t = target_distances(Z, self.targets)
            push, _, w_target, deg, P = self.search(Z, dist_t, eps)
            s_t, c_t, P_t = target_weight_terms(X, self.targets, w_target)
            A = self._outer_sum(deg + s_t + c_t, P + P_t)
            G = self.pull_weight * self.C_pull + self.push_weight * A
            sum_w = w_target.sum()
        return G, float(sum_w), 4.0 * float(push) if self.squared else None


# --------------------------------------------------------------------------
# the certificate
# --------------------------------------------------------------------------

# widths of the smoothed hinge tried for the dual weights of the hinge
_DUAL_EPS = (0.0, 1e-3, 1e-2, 1e-1)
# In a fit, on problems of at most _KINK_TRIPLETS triplets (formed densely;
# more with refine=True), the weights of the hinge's triplets within tau of
# their kink are solved for, for each tau in _KINK_WIDTHS: at most
# _KINK_ENTRIES / (n_features * n_components) of them (the size of the
# least-squares problem)
_KINK_TRIPLETS = 20_000
_KINK_ENTRIES = 400_000
_KINK_WIDTHS = (1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3)


def _feasible_scale(G, C):
    """The largest ``theta >= 0`` with ``(1 - theta) C + theta G`` PSD (up to
    rounding; ``inf`` when every ``theta`` is), for PSD ``C``."""
    try:
        mu = scipy.linalg.eigh(G, C, eigvals_only=True, subset_by_index=[0, 0])[0]
    except (np.linalg.LinAlgError, ValueError):
        # C singular (regularization=0, or too few target pairs): theta = 1
        # is the only value to try
        w = np.linalg.eigvalsh(G)
        return 1.0 if w[0] >= -1e-12 * max(abs(w[-1]), 1.0) else 0.0
    return np.inf if mu >= 1.0 else 1.0 / (1.0 - mu)


def _kink_bounds(problem, L_flat, C):
    """Dual bounds of the hinge whose weights on the triplets at a kink are
    solved for.

    At an optimum :math:`M = L^T L` of the hinge, a triplet with
    :math:`h_t > 0` has weight 1, one with :math:`h_t < 0` weight 0, and the
    weights :math:`a_t \\in [0, 1]` of those at the kink make
    :math:`G(a) L^T = 0` (complementary slackness, :math:`G(a) M = 0`). For
    each width ``tau``, the triplets with :math:`|h_t| \\le \\tau` get the
    weights of that box-constrained least-squares problem (scipy's
    ``lsq_linear``), the others 1 or 0 by the sign of :math:`h_t`; the
    bound is then that of :func:`certificate`. Every triplet is formed, so
    only on small problems."""
    X, targets = problem.X, problem.targets
    n, k = targets.shape
    y = problem.search.labels
    L = L_flat.reshape(-1, X.shape[1])
    Z = X @ L.T
    dist_t = target_distances(Z, targets)
    nz = (Z * Z).sum(axis=1)
    sq = np.maximum(nz[:, None] + nz[None, :] - 2.0 * Z @ Z.T, 0.0)
    H = 1.0 + dist_t[:, :, None] - sq[:, None, :]
    H[np.broadcast_to(y[:, None, None] == y[None, None, :], H.shape)] = -np.inf
    mu = problem.push_weight
    columns = max(_KINK_ENTRIES // L.size, 1)
    bounds = []
    for tau in _KINK_WIDTHS:
        kink = np.argwhere(np.abs(H) <= tau)
        if kink.shape[0] > columns:
            kink = kink[np.argsort(np.abs(H[tuple(kink.T)]), kind="stable")[:columns]]
        active = H > 0.0
        active[tuple(kink.T)] = False
        # G without the kink's triplets: pair weights of the active ones
        W = np.zeros((n, n))
        np.add.at(W, (np.repeat(np.arange(n), k), targets.ravel()), active.sum(axis=2).ravel())
        W -= active.sum(axis=1)
        lap = np.diag(W.sum(axis=0) + W.sum(axis=1)) - W - W.T
        G0 = problem.pull_weight * problem.C_pull + mu * (X.T @ lap @ X)
        a = np.zeros(0)
        dj = X[kink[:, 0]] - X[targets[kink[:, 0], kink[:, 1]]]
        dl = X[kink[:, 0]] - X[kink[:, 2]]
        if kink.shape[0]:
            cols = (dj[:, :, None] * (dj @ L.T)[:, None, :]
                    - dl[:, :, None] * (dl @ L.T)[:, None, :]).reshape(kink.shape[0], -1)
            a = scipy.optimize.lsq_linear(mu * cols.T, -(G0 @ L.T).ravel(),
                                          bounds=(0.0, 1.0)).x
        G = G0 + mu * ((dj.T * a) @ dj - (dl.T * a) @ dl)
        theta = min(_feasible_scale(G, C), 1.0)
        bounds.append(mu * theta * (active.sum() + a.sum()))
    return bounds


def certificate(problem, L_flat, value, refine=None):
    r"""Relative duality gap of LMNN's problem in ``M = L^T L`` at ``L``.

    The problem is convex in :math:`M`:

    .. math::

        f(M) = \rho \langle C, M \rangle + (1 - \rho) \sum_t
        \ell(1 + \langle A_t, M \rangle), \qquad M \succeq 0,

    with :math:`C = \sum_{i, j \rightsquigarrow i} d_{ij} d_{ij}^T`,
    :math:`A_t = d_{ij} d_{ij}^T - d_{il} d_{il}^T` for each triplet
    :math:`t = (i, j, l)`, and :math:`\ell(u) = [u]_+ = \max_{0 \le a \le 1} a u`
    (hinge) or :math:`[u]_+^2 = \max_{a \ge 0} (a u - a^2 / 4)` (squared
    hinge). Exchanging min and max, every :math:`a` in that set with
    :math:`G(a) = \rho C + (1 - \rho) \sum_t a_t A_t \succeq 0` bounds the
    optimum from below:

    .. math::

        f^* \ge g(a) = (1 - \rho) \sum_t a_t \quad \text{or} \quad
        (1 - \rho) \sum_t (a_t - a_t^2 / 4).

    The weights of the gradient at ``L`` (1 on the active triplets, or
    :math:`2 h_t`), and for the hinge also those of a hinge smoothed over
    a width ``eps`` (which gives the triplets near a kink a fraction), are
    scaled by the largest :math:`\theta` that keeps
    :math:`G(\theta a) = (1 - \theta) \rho C + \theta G(a)` PSD (a
    generalized eigenvalue), :math:`\theta \le 1` for the hinge and the
    best :math:`\theta` for the squared hinge; the best bound :math:`g`
    gives ``(f - g) / f``: ``f <= f* / (1 - certificate)``, a proof up to
    rounding, 0 at an exact optimum. Near a stationary point
    :math:`f - g(a) = \langle G(a), M \rangle = \tfrac12 \langle
    \nabla_L f, L \rangle` before scaling, so the gap is small when the
    gradient is and :math:`G(a)` is nearly PSD.

    For the hinge, the weights of the triplets at a kink are also solved
    for (:func:`_kink_bounds`) when ``refine`` (by default on problems of at
    most ``_KINK_TRIPLETS`` triplets: it forms every triplet): that bound is
    tight near an optimum, the smoothed one only within a few percent.

    Parameters
    ----------
    problem : LMNNProblem
    L_flat : ndarray of shape (n_components * n_features,)
    value : float
        The objective at ``L``.
    refine : bool, default=None

    Returns
    -------
    float in [0, 1]
    """
    if value <= 0.0:
        return 0.0
    C = problem.pull_weight * problem.C_pull
    best = 0.0
    for eps in (0.0,) if problem.squared else _DUAL_EPS:
        G, sum_w, sum_w2 = problem.dual_terms(L_flat, eps)
        theta = _feasible_scale(G, C)
        if problem.squared:
            if sum_w2 > 0.0:
                theta = min(theta, 2.0 * sum_w / sum_w2)
                bound = theta * sum_w - 0.25 * theta * theta * sum_w2
            else:
                bound = 0.0
        else:
            bound = min(theta, 1.0) * sum_w
        best = max(best, problem.push_weight * bound)
    X, targets = problem.X, problem.targets
    if refine is None:
        refine = X.shape[0] ** 2 * targets.shape[1] <= _KINK_TRIPLETS
    if refine and not problem.squared:
        best = max(best, *_kink_bounds(problem, L_flat, C))
    return float(min(max((value - best) / value, 0.0), 1.0))


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
    # the slope at 0 is a + w . delta; passing kinks adds -w delta > 0
    # (a weighted selection, no sort)
    return float(first_crossing(-1.0 / delta[neg], -(w[neg] * delta[neg]),
                                -(a + float(w @ delta))))


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
# L-BFGS
# --------------------------------------------------------------------------


def solve(X, bounds, L0, *, n_neighbors, regularization, squared, max_iter, min_iter,
          tol, callback=None, threads=1):
    """Minimise LMNN's loss with L-BFGS (:mod:`._lbfgs`) from ``L0``.

    ``X`` (float64, C order) is sorted by class, ``bounds`` the class
    boundaries in that order (:class:`~metriclearn._labels.LabelIndex`);
    ``callback(L, n_iter)``, if given, sees each iterate. Returns ``L``, the
    objective history, the number of iterations, whether the stopping rule
    was met and the :func:`certificate` of ``L``; nothing here knows the
    estimator.
    """
    targets = get_target_neighbors(threads)(X, bounds, n_neighbors, _BLOCK)
    # L-BFGS runs in whitened coordinates: with the covariance's
    # eigenpairs (w, V) restricted to its range, X_w = (X - mean) V w^(-1/2)
    # and L = L_w W^T for W = V w^(-1/2). The objective is unchanged
    # (differences of points lie in that range), and the solver is spared
    # features of very different units and strongly correlated ones
    L_init = L0
    W, L0 = _whitening(X, L0)
    problem = LMNNProblem(np.ascontiguousarray((X - X.mean(axis=0)) @ W), bounds,
                       targets, regularization, n_jobs=threads,
                       squared=squared)
    shape = L0.shape
    L0 = _initial_scale(problem, L0)
    f0, _ = problem.loss_grad(L0.ravel())
    history = [f0]
    state = {"n_iter": 0, "stalled": 0, "converged": False}
    progress = current()
    progress.update(0, f"objective {f0:.6e}  active triplets {problem.n_active:,d}")

    def on_iteration(it, x, f, g):
        state["n_iter"] = it
        f = float(f)
        previous = history[-1]
        history.append(f)
        progress.update(it, f"objective {f:.6e}  active triplets {problem.n_active:,d}")
        if callback is not None:
            callback((x / state["kappa"]).reshape(shape) @ W.T, it)
        if f <= 0.0:
            state["converged"] = True
            return True
        rel = (previous - f) / abs(f)
        state["stalled"] = state["stalled"] + 1 if rel < tol else 0
        if it >= min_iter and state["stalled"] >= _WINDOW:
            state["converged"] = True
            return True
        return False

    if f0 <= 0.0:  # nothing to pull, nothing to push
        return L_init, history, 0, True, 0.0
    # L-BFGS's first trial step has length at most 1 (then its secant pairs set
    # the scale). On problems large enough for the incremental search it runs
    # on x = kappa L, kappa a power of two (exact) that makes that step
    # _FIRST_STEP of ||L0||, not a leap that the search must follow in full
    kappa = 1.0
    if problem.search.incremental:
        kappa = 2.0 ** round(-np.log2(_FIRST_STEP * max(np.linalg.norm(L0), 1e-300)))

    def fun(x):
        f, g = problem.loss_grad(x / kappa)
        return f, g / kappa

    state["kappa"] = kappa
    result = minimize(fun, kappa * L0.ravel(), max_iter=max_iter, callback=on_iteration)
    n_iter = state["n_iter"]
    # L-BFGS also stops by itself when its line search finds no decrease at
    # working precision: a stationary point as far as it can tell
    converged = state["converged"] or n_iter < max_iter
    x = result.x / kappa
    L = np.ascontiguousarray(x.reshape(shape) @ W.T)
    # (the value at the final iterate: usually the last evaluation, cached)
    value = problem.loss_grad(x)[0]
    return L, history, n_iter, converged, certificate(problem, x, value)
