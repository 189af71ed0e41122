"""MMC's solvers (Xing et al. 2002), arrays in and arrays out: the full
problem by projected gradient ascent in coordinates whitened by the similar
pairs, the diagonal problem by a projected Newton method, the limits of both
when the similar pairs leave directions free (the problem is then unbounded),
and the certificates that bound the distance to the optimum. The estimators
are in :mod:`._mmc`."""

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ._kernels.distances import paired_sq_mahalanobis, weighted_outer_sum
from ._kernels.mmc import diagonal_objective, diagonal_value, project_psd_trace
from ._progress import current

__all__ = [
    "solve_diagonal",
    "solve_diagonal_limit",
    "solve_full",
    "unbounded_features",
    "unbounded_message",
]


def unbounded_message(detail):
    return (
        f"MMC's objective is unbounded: {detail}. Along such a direction the "
        "dissimilar distances grow at no cost; the learned metric is the limit of "
        "the optimisation, which measures only those directions (normalised). "
        "Add similar pairs that vary along them, or remove them first (drop the "
        "features, or reduce the dimension with PCA); to make this an error, "
        "turn UnboundedObjectiveWarning into one with warnings.simplefilter"
    )


def unbounded_features(sim, dis):
    """Features that vary in dissimilar pairs but in no similar pair."""
    s = (sim * sim).sum(axis=0)
    q = (dis * dis).max(axis=0)
    return np.flatnonzero((q > 0) & (s <= 1e-12 * q))


def _whitening(sim, dis):
    """``T`` of shape (r, d) with ``T Sigma_S T^T = I_r`` (``r`` the rank of
    the similar pairs' scatter ``Sigma_S``), and the dissimilar differences'
    part outside the span of the similar ones.

    In the coordinates ``T d`` the constraint ``sum_S ||d||_M^2 <= 1`` is
    ``trace(M') <= 1`` with ``M = T^T M' T``, so the projection onto the
    feasible set is exact in one eigen-decomposition. Features are scaled to
    unit similar-pair spread before the rank is judged, so the result does not
    depend on the units of the features. The second result is ``None`` when
    every dissimilar difference lies in that span (the problem is bounded),
    otherwise the unbounded parts of the differences, in features scaled to
    unit dissimilar spread (a feature of no similar spread keeps all of it).
    """
    s = (sim * sim).sum(axis=0)
    q = (dis * dis).sum(axis=0)
    keep = np.flatnonzero(s > 1e-12 * np.maximum(q, 1e-300))
    scale = np.zeros(sim.shape[1])
    scale[keep] = 1.0 / np.sqrt(s[keep])
    sim_k = sim[:, keep] * scale[keep]
    corr = weighted_outer_sum(np.ascontiguousarray(sim_k), np.ones(sim.shape[0]))
    w, U = np.linalg.eigh(corr)
    span = w > 1e-10 * w.max()
    U_r = np.zeros((sim.shape[1], int(span.sum())))
    U_r[keep] = U[:, span]
    T = (U_r / np.sqrt(w[span])).T * scale
    # the dissimilar differences in features scaled to unit similar spread
    # (or unit dissimilar spread where there is no similar spread), and
    # their part outside the span of the similar ones
    unit = np.where(scale > 0, scale, 1.0 / np.sqrt(np.maximum(q, 1e-300)))
    dis_u = dis * unit
    leak = dis_u - (dis_u @ U_r) @ U_r.T
    rel = np.linalg.norm(leak, axis=1) / np.maximum(np.linalg.norm(dis_u, axis=1), 1e-300)
    if not np.any(rel > 1e-6):
        return T, None
    return T, (leak, unit)


def _limit_basis(leak, unit):
    """The unbounded directions: ``B`` of shape (k, d) and the dissimilar
    differences' coordinates along them, from the parts ``leak`` (in units
    ``unit``) outside the similar pairs' span."""
    _, sv, Vt = np.linalg.svd(leak, full_matrices=False)
    k = int(np.sum(sv > 1e-6 * sv[0]))
    V = Vt[:k]  # orthonormal, in the scaled features
    return V * unit, leak @ V.T


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


def solve_full(sim, dis, M0, max_iter, tol):
    """max sum_D ||d||_M  s.t.  sum_S ||d||_M^2 <= 1, M PSD.

    Solved in the coordinates whitened by the similar pairs (see
    :func:`_whitening`) by :func:`_ascend`. When the problem is unbounded
    (dissimilar pairs vary outside the span of the similar ones) the result
    is the limit of the optimisation: the maximiser of ``sum_D ||d||_M`` over
    the metrics of trace one on the unbounded directions (in units of the
    dissimilar spread), which every path of increasing objective approaches
    once it is rescaled. Returns ``M``, the history, the iterations, whether
    it converged, the relative Frank-Wolfe gap (:func:`_trace_gap`) and the
    unbounded directions (``None`` when bounded).
    """
    T, unbounded = _whitening(sim, dis)
    if unbounded is not None:
        B, dis_b = _limit_basis(*unbounded)
        k = B.shape[0]
        M, history, it, converged, gap = _ascend(np.ascontiguousarray(dis_b),
                                                 np.eye(k) / k, max_iter, tol)
        M = B.T @ M @ B
        return 0.5 * (M + M.T), history, it, converged, gap, B
    dis_w = np.ascontiguousarray(dis @ T.T)
    T_pinv = np.linalg.pinv(T)
    M = T_pinv.T @ M0 @ T_pinv
    M = project_psd_trace(M / max(np.trace(M), 1e-300), 1.0)
    M, history, it, converged, gap = _ascend(dis_w, M, max_iter, tol)
    M = T.T @ M @ T
    return 0.5 * (M + M.T), history, it, converged, gap, None


def _ascend(dis_w, M, max_iter, tol):
    """max sum_D ||d||_M over PSD ``M`` of trace at most one, from ``M``.

    Projected gradient ascent: a spectral (Barzilai-Borwein) step along the
    gradient, the exact projection onto the feasible set, and an Armijo
    search along the projected direction.
    """
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
        current().update(it, f"objective {g:.10g}  rel. change of M {rel_M:.3e}  "
                             f"step {t * alpha:.3e}")
        # the maximiser need not be unique (M can drift along an optimal face
        # at no gain), so convergence is judged on the objective: less than
        # tol of relative gain over each of the last _WINDOW iterations
        stalled = stalled + 1 if rel_obj < tol else 0
        if stalled >= _WINDOW:
            converged = True
            break
    return M, history, it, converged, _trace_gap(M, dis_w)


def _trace_gap(M, dis_w):
    """:func:`_relative_gap` of ``max sum_D ||d||_M`` over PSD matrices of
    trace at most one: the best linear step goes to ``v v^T`` for the top
    eigenvector ``v`` of the weighted scatter (or to 0)."""
    sq = np.maximum(paired_sq_mahalanobis(dis_w, M), 0.0)

    def best(w):
        W = weighted_outer_sum(dis_w, w)
        return max(float(np.linalg.eigvalsh(0.5 * (W + W.T))[-1]), 0.0)

    return _relative_gap(sq, best)


def _relative_gap(sq, best):
    """A bound on how far ``g = sum_D sqrt(q_D)`` (each ``q_D`` linear in
    the variable, ``sq`` its values at the point) is from its maximum over
    a convex set, relative to ``g``: ``g* <= g (1 + gap)``.

    Each square root lies below its tangent at any ``x > 0``:
    ``sqrt(q) <= sqrt(x) / 2 + q / (2 sqrt(x))``, so ``g*`` is at most the
    largest value of the sum of tangents over the set, ``best(w)`` being the
    largest ``sum_D w_D q_D`` there. Tangents at the point itself give the
    Frank-Wolfe gap; pairs at distance zero (where the square root has no
    slope) are given tangents at a floor ``tau``, the best of a few.
    """
    g = float(np.sqrt(sq).sum())
    if g <= 0:
        return np.inf
    mean = float(sq.mean())
    bound = np.inf
    for tau in mean * 10.0 ** -np.arange(0, 16, 1.5):
        x = np.maximum(sq, tau)
        root = np.sqrt(x)
        bound = min(bound, 0.5 * float(root.sum()) + best(0.5 / root))
    return max(bound - g, 0.0) / g


def _project_simplex(v):
    """The Euclidean projection of ``v`` onto ``{a >= 0, sum(a) = 1}``."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.flatnonzero(u - css / np.arange(1, v.shape[0] + 1) > 0)[-1]
    return np.maximum(v - css[k] / (k + 1), 0.0)


def solve_diagonal_limit(dis, features, max_iter, tol):
    """The limit of the diagonal problem when it is unbounded: the weights of
    ``features`` (those of no similar spread, in units of their dissimilar
    spread) that maximise ``sum_D ||d||_a`` with ``sum(a) = 1``, by projected
    gradient ascent with Barzilai-Borwein steps and an Armijo search."""
    q = (dis[:, features] ** 2).sum(axis=0)
    Q = dis[:, features] ** 2 / q
    a = np.full(features.shape[0], 1.0 / features.shape[0])

    def value_grad(a):
        dist = np.sqrt(np.maximum(Q @ a, 0.0))
        floor = 1e-12 * max(dist.max(), 1e-300)
        return dist.sum(), Q.T @ (0.5 / np.maximum(dist, floor))

    g, G = value_grad(a)
    history, step, converged = [g], 1.0 / max(np.linalg.norm(G), 1e-300), False
    for _ in range(max_iter):
        D = _project_simplex(a + step * G) - a
        slope, t = float(G @ D), 1.0
        while True:
            gn, Gn = value_grad(a + t * D)
            if gn >= g + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        if gn < g:
            converged = True
            break
        s_, y_ = t * D, Gn - G
        sy = -float(s_ @ y_)
        step = float(s_ @ s_) / sy if sy > 0 else 1e10 * step
        rel = (gn - g) / max(g, 1e-300)
        a, g, G = a + t * D, gn, Gn
        history.append(g)
        if rel < tol:
            converged = True
            break
    weights = np.zeros(dis.shape[1])
    weights[features] = a / q
    # over the simplex the best linear step goes to a vertex
    gap = _relative_gap(Q @ a, lambda w: max(float((Q.T @ w).max()), 0.0))
    return weights, history, len(history) - 1, converged, gap


def _collapsed_features(a, Q):
    """Features at zero along which some dissimilar pair at distance zero
    under ``a`` differs."""
    collapsed = (Q @ a <= 0) & np.any(Q > 0, axis=1)
    if not collapsed.any():
        return np.zeros(a.shape[0], dtype=bool)
    return (a <= 0) & np.any(Q[collapsed] > 0, axis=0)


def solve_diagonal(sim, dis, a0, c, max_iter, tol):
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
        current().update(n_iter, f"objective {h:.10g}  Newton decrement {decrement:.3e}  "
                                 f"step {beta:.3g}  active {int(active.sum())}/{d}")
    return a, history, n_iter, converged, _diagonal_gap(a, s_sum, Q)


def _diagonal_gap(a, s_sum, Q):
    """:func:`_relative_gap` of the diagonal problem's scale-free form:
    ``h`` is least where ``b = a / (s . a)`` maximises ``g(b) = sum_D
    ||d||_b`` over ``{b >= 0, s . b <= 1}``, whose vertices are 0 and
    ``e_j / s_j``."""
    b = a / max(float(s_sum @ a), 1e-300)
    varies = s_sum > 0

    def best(w):
        r = (Q.T @ w)[varies] / s_sum[varies]
        return max(float(r.max()), 0.0) if r.size else 0.0

    return _relative_gap(np.maximum(Q @ b, 0.0), best)
