"""LMNN's solver: the loss and gradient in ``L`` for points sorted by class
(:class:`LMNNProblem`, blockwise numba kernels), the whitened coordinates,
the initial scale along a ray, and L-BFGS-B to a stationary point
(:func:`solve`). Arrays in, arrays out; the estimator is in :mod:`._lmnn`."""

import sys
import time

import numpy as np

from ._compat import minimize_lbfgsb
from ._kernels.lmnn import (
    _BLOCK,
    _CHUNK,
    get_push_loss_terms,
    get_target_neighbors,
    target_distances,
    target_weight_terms,
)
from ._linalg import symmetric_eigh

__all__ = ["LMNNProblem", "solve"]

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
# L-BFGS-B
# --------------------------------------------------------------------------


def solve(X, bounds, L0, *, n_neighbors, regularization, squared, max_iter, min_iter,
          tol, verbose=0, callback=None, threads=1, name="LMNN"):
    """Minimise LMNN's loss with L-BFGS-B from ``L0``.

    ``X`` (float64, C order) is sorted by class, ``bounds`` the class
    boundaries in that order (:class:`~metriclearn._labels.LabelIndex`);
    ``callback(L, n_iter)``, if given, sees each iterate. Returns ``L``, the
    objective history, the number of iterations and whether the stopping
    rule was met; nothing here knows the estimator.
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
    state = {"n_iter": 0, "stalled": 0, "converged": False, "t": time.perf_counter()}
    if verbose:
        header = f"{'Iteration':>10} {'Objective':>20} {'Active triplets':>16} {'Time(s)':>8}"
        print(f"[{name}]\n[{name}] {header}\n[{name}] {'-' * len(header)}")
        print(f"[{name}] {0:>10d} {f0:>20.6e} {problem.n_active:>16,d}")
        sys.stdout.flush()

    def on_iteration(intermediate_result):
        state["n_iter"] += 1
        it = state["n_iter"]
        f = float(intermediate_result.fun)
        previous = history[-1]
        history.append(f)
        if verbose:
            now = time.perf_counter()
            print(f"[{name}] {it:>10d} {f:>20.6e} {problem.n_active:>16,d} "
                  f"{now - state['t']:>8.2f}")
            sys.stdout.flush()
            state["t"] = now
        if callback is not None:
            callback(intermediate_result.x.reshape(shape) @ W.T, it)
        if f <= 0.0:
            state["converged"] = True
            raise StopIteration
        rel = (previous - f) / abs(f)
        state["stalled"] = state["stalled"] + 1 if rel < tol else 0
        if it >= min_iter and state["stalled"] >= _WINDOW:
            state["converged"] = True
            raise StopIteration

    if f0 <= 0.0:  # nothing to pull, nothing to push
        return L_init, history, 0, True
    result = minimize_lbfgsb(
        problem.loss_grad, L0.ravel(), callback=on_iteration,
        options={"maxiter": max_iter, "maxfun": 20 * max_iter,
                 "ftol": 0.0, "gtol": 0.0},
    )
    n_iter = state["n_iter"]
    # L-BFGS-B also stops by itself when its line search finds no decrease
    # at working precision: a stationary point as far as it can tell
    converged = state["converged"] or n_iter < max_iter
    L = np.ascontiguousarray(result.x.reshape(shape) @ W.T)
    return L, history, n_iter, converged
