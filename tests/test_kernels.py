"""Every numba kernel against a NumPy twin, from one registry.

Each entry of :data:`TWINS` names a kernel (or the getter of its serial and
``prange`` twins), a plain NumPy (or Python) implementation of the same
contract, and the small random inputs of its cases. The kernel is called
with its input arrays read-only (``setflags(write=False)``, as scikit-learn's
checks pass them): it may write only the arguments that are its in-place
state or output buffers (``inout``). A kernel added to ``metriclearn._kernels``
without an entry here fails :func:`test_every_kernel_has_a_twin`.
"""

import copy
import importlib
import itertools
import pkgutil
from dataclasses import dataclass

import batch_twins as bt
import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import metriclearn._kernels
from metriclearn._kernels import cluster as kc
from metriclearn._kernels import distances as kd
from metriclearn._kernels import itml as ki
from metriclearn._kernels import lbfgs as kbf
from metriclearn._kernels import lfda as kf
from metriclearn._kernels import lmnn as kl
from metriclearn._kernels import lmnn_impostors as kli
from metriclearn._kernels import lmnn_incremental as klm
from metriclearn._kernels import lsml as kls
from metriclearn._kernels import mlkr as kr
from metriclearn._kernels import mmc as km
from metriclearn._kernels import nca as kn
from metriclearn._kernels import scml as ksc
from metriclearn._kernels import sgd as ks
from metriclearn._kernels import sgd_batch as kb
from metriclearn._kernels import sgd_magnet as kg
from metriclearn._kernels import sgd_mining as ksm
from metriclearn._kernels import sgd_triplets as kt


@dataclass
class Twin:
    names: tuple  # "module.function" of the kernels it covers
    kernel: object  # the kernel, or its getter when a case has "n_jobs"
    twin: object  # the NumPy twin: same arguments, same in-place updates, same result
    make: object  # (rng, **case) -> the arguments
    cases: tuple = ({},)
    inout: tuple = ()  # arguments the kernel updates in place (state, output buffers)
    out: object = None  # (result, args) -> what is compared
    repeat: int = 1  # calls in a row (state carried over)
    rtol: float = 1e-12
    atol: float = 1e-12  # relative to the largest expected value


def _psd(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T


# ------------------------------------------------------------------ twins


def project_psd_trace_twin(M, bound):
    """Eigenvalues projected onto {x >= 0, sum x <= bound} by bisection."""
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    x = np.maximum(w, 0.0)
    if x.sum() > bound:
        lo, hi = 0.0, w.max()
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if np.maximum(w - mid, 0.0).sum() > bound else (lo, mid)
        x = np.maximum(w - hi, 0.0)
    return (V * x) @ V.T


def diagonal_objective_twin(a, s, Q, c):
    """h(a) = s a - c log sum_i sqrt(Q_i a), its gradient and Hessian."""
    r = np.sqrt(Q @ a)
    S, u = r.sum(), (Q / (2 * r[:, None])).sum(axis=0)
    H = c * (Q.T @ (Q / (4 * r[:, None] ** 3)) / S + np.outer(u, u) / S**2)
    return s @ a - c * np.log(S), s - c * u / S, H


def sweep_twin(M, V, delta, lam, xi, gamma):
    """One sweep of Davis et al.'s Algorithm 1, in place, written plainly."""
    g = 1.0 if np.isinf(gamma) else gamma / (gamma + 1.0)
    n = 0
    for c, v in enumerate(V):
        p = v @ M @ v
        if p <= 0:
            continue
        alpha = min(lam[c], delta[c] * g * (1.0 / p - 1.0 / xi[c]))
        if alpha == 0.0:
            continue
        lam[c] -= alpha
        if not np.isinf(gamma):
            xi[c] = 1.0 / (1.0 / xi[c] + delta[c] * alpha / gamma)
        u = M @ v
        M += delta[c] * alpha / (1.0 - delta[c] * alpha * p) * np.outer(u, u)
        n += 1
    return n


def solve_twin(M, V, delta, lam, xi, xi0, gamma, M0_inv, logdet0, max_sweeps, tol, obj, chg):
    d = M.shape[0]
    for s in range(max_sweeps):
        lam_old = lam.copy()
        n = sweep_twin(M, V, delta, lam, xi, gamma)
        sign, logdet = np.linalg.slogdet(M)
        logdet = logdet if sign > 0 else np.nan
        obj[s] = -logdet + logdet0 - d + np.sum(M * M0_inv)
        if not np.isinf(gamma):
            obj[s] += gamma * np.sum(xi / xi0 - np.log(xi / xi0) - 1.0)
        chg[s] = np.abs(lam - lam_old).sum() / lam.sum() if lam.sum() > 0 else 0.0
        if np.isnan(logdet):
            return s + 1, False
        if chg[s] < tol or n == 0:
            return s + 1, True
    return max_sweeps, False


def dual_gradient_twin(q, mu, delta, gamma, grad, hdiag):
    """ITML's dual gradient -delta (q - r), Hessian diagonal q^2 + r^2 / gamma,
    slack terms and largest violation, in NumPy."""
    if np.isinf(gamma):
        r, curvature = np.ones_like(mu), 0.0
        dual_slack, primal_slack = -np.sum(delta * mu), 0.0
    else:
        r = 1.0 / (1.0 - delta * mu / gamma)
        curvature = r**2 / gamma
        dual_slack = gamma * np.sum(np.log(1.0 - delta * mu / gamma))
        best = np.where(delta > 0, np.maximum(q, 1.0), np.minimum(q, 1.0))
        primal_slack = gamma * np.sum(best - 1.0 - np.log(best))
    grad[:] = -delta * (q - r)
    hdiag[:] = q**2 + curvature
    return dual_slack, primal_slack, max(0.0, np.max(delta * (q - 1.0)))


def lbfgs_direction_twin(grad, hdiag, free, S, Y, order, direction):
    """The two-loop recursion on the free variables, written plainly."""
    pairs = [(S[j] * free, Y[j] * free) for j in order]
    d = -np.where(free, grad, 0.0)
    kept = []
    for s, y in reversed(pairs):
        if s @ y > 0:
            a = (s @ d) / (s @ y)
            d = d - a * y
            kept.append((s, y, a))
    theta = 1.0
    if pairs:
        s, y = pairs[-1]
        yhy = np.sum(np.where(free, y * y / hdiag, 0.0))
        if s @ y > 0 and yhy > 0:
            theta = (s @ y) / yhy
    d = np.where(free, theta * d / hdiag, 0.0)
    for s, y, a in reversed(kept):
        d = d + (a - (y @ d) / (s @ y)) * s
    direction[:] = np.where(free, d, 0.0)


def line_minimum_twin(theta, mu, step, delta, gamma, t_bound):
    """The minimum over [0, t_bound] of -sum log(1 + t theta) minus the
    slack terms along mu + t step, by bisection on the derivative."""

    def slope(t):
        value = -np.sum(theta / (1.0 + t * theta))
        if np.isinf(gamma):
            return value + np.sum(delta * step)
        return value + np.sum(delta * step / (1.0 - delta * (mu + t * step) / gamma))

    hi = min([t_bound] + list(-1.0 / theta[theta < 0.0]))
    if np.isfinite(gamma):
        up = delta * step > 0.0
        hi = min([hi] + list((gamma - delta[up] * mu[up]) / (delta[up] * step[up])))
    if not slope(0.0) < 0.0:
        return 0.0, 0
    if t_bound <= hi < np.inf and slope(t_bound) <= 0.0:
        return t_bound, 1
    if np.isinf(hi):  # a ray: find where the slope turns, if it does
        hi = 1.0
        while slope(hi) < 0.0:
            if hi > 1e300:
                return np.inf, 2
            hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) < 0.0 else (lo, mid)
    return 0.5 * (lo + hi), 0


def _dual_point(rng, gamma, m=12, d=4):
    """Whitened ITML constraints ``W``, ``delta`` and a dual point ``mu``
    inside the dual's domain."""
    W = 0.5 * rng.normal(size=(m, d))
    delta = np.where(np.arange(m) < m // 2, 1.0, -1.0)
    mu = rng.uniform(0.0, 0.3, size=m) * (rng.random(m) < 0.7)
    if np.isfinite(gamma):
        mu = np.minimum(mu, 0.5 * gamma)
    return W, delta, mu


def _q(W, delta, mu):
    """``q_i = w_i^T B(mu)^-1 w_i``."""
    B = np.eye(W.shape[1]) + W.T @ (W * (delta * mu)[:, None])
    return np.einsum("ij,jk,ik->i", W, np.linalg.inv(B), W)


def _dual_gradient_input(rng, gamma, seed):
    W, delta, mu = _dual_point(rng, gamma)
    return _q(W, delta, mu), mu, delta, gamma, np.empty_like(mu), np.empty_like(mu)


def _lbfgs_input(rng, n_pairs, m=30, memory=5):
    S, Y = np.zeros((memory, m)), np.zeros((memory, m))
    order = rng.permutation(memory)[:n_pairs].astype(np.intp)
    for k, slot in enumerate(order):
        S[slot] = rng.normal(size=m)
        Y[slot] = S[slot] * rng.uniform(0.5, 2.0, size=m) + 0.1 * rng.normal(size=m)
        if k == 0 and n_pairs == 4:
            Y[slot] = -S[slot]  # a pair without positive curvature is skipped
    return (rng.normal(size=m), rng.uniform(0.5, 2.0, size=m), rng.random(m) < 0.7, S, Y,
            order, np.empty(m))


def _line_input(rng, gamma, scale, seed):
    """A segment of the dual: the eigenvalues of ``B^-1/2 dB B^-1/2``, the
    point, a projected gradient step of length ``scale`` (plus noise) and
    where the first variable reaches 0 (``t_bound``)."""
    W, delta, mu = _dual_point(rng, gamma)
    grad = np.empty_like(mu)
    dual_gradient_twin(_q(W, delta, mu), mu, delta, gamma, grad, np.empty_like(mu))
    noise = 0.2 * np.abs(grad).max() * rng.normal(size=mu.shape[0])
    step = np.maximum(mu - scale * (grad + noise), 0.0) - mu
    decreasing = step < 0.0
    t_bound = np.min(mu[decreasing] / -step[decreasing]) if decreasing.any() else np.inf
    B = np.eye(4) + W.T @ (W * (delta * mu)[:, None])
    R_inv = np.linalg.inv(np.linalg.cholesky(B))
    theta = np.linalg.eigvalsh(R_inv @ (W.T @ (W * (delta * step)[:, None])) @ R_inv.T)
    return theta, mu, step, delta, gamma, t_bound


def _labels_of(bounds):
    return np.repeat(np.arange(bounds.shape[0] - 1), np.diff(bounds))


def class_blocks_twin(bounds, block):
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    return np.array([(s, min(s + block, b), a, b) for a, b in spans
                     for s in range(a, b, block)], dtype=np.intp).reshape(-1, 4)


def class_pair_tiles_twin(bounds, block, chunk):
    return np.array([(s, t, c0, min(c0 + chunk, bounds[-1]))
                     for s, t, _, ce in class_blocks_twin(bounds, block)
                     for c0 in range(ce, bounds[-1], chunk)], dtype=np.intp).reshape(-1, 4)


def target_neighbors_twin(X, bounds, k, block=None):
    y = _labels_of(bounds)
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    sq = np.where((y[:, None] == y[None, :]) & ~np.eye(X.shape[0], dtype=bool), sq, np.inf)
    return np.argsort(sq, axis=1, kind="stable")[:, :k]


def push_loss_terms_twin(X, Z, bounds, targets, dist_t, block, chunk, n_groups, squared=True):
    """Every triplet (i, j, l) with its hinge; the impostor weights of each
    pair gathered in the entry U[i, l] of its earlier class, as the kernel
    returns them (deg: row plus column sums of U, P = U X)."""
    y = _labels_of(bounds)
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    h = 1.0 + dist_t[:, :, None] - sq[:, None, :]  # h[i, t, l]
    h = np.where((y[:, None, None] != y[None, None, :]) & (h > 0), h, 0.0)
    weight = 2 * h if squared else (h > 0).astype(float)
    W = weight.sum(axis=1)  # W[i, l]: the weight of l as an impostor of i
    U = np.triu(W + W.T)  # classes are sorted: the earlier class comes first
    return ((h * h).sum() if squared else h.sum(), int((h > 0).sum()), weight.sum(axis=2),
            -(U.sum(axis=0) + U.sum(axis=1)), -U @ X)


def target_weight_terms_twin(X, targets, weights):
    W = np.zeros((X.shape[0], X.shape[0]))
    np.add.at(W, (np.repeat(np.arange(X.shape[0]), targets.shape[1]), targets.ravel()),
              weights.ravel())
    return W.sum(axis=1), W.sum(axis=0), W @ X


def _pair_terms(sq, lab, alpha, margin, loss):
    """Loss of each pair and its derivative in the squared distance."""
    r = np.sqrt(sq)
    if loss == ks.CONTRASTIVE:
        hinge = np.maximum(margin - r, 0.0)
        dis_loss = alpha * hinge**2
        dis_w = np.where(r > 0, -alpha * hinge / np.where(r > 0, r, 1.0), 0.0)
    else:
        dis_loss = alpha * np.maximum(margin - sq, 0.0)
        dis_w = np.where(sq < margin, -alpha, 0.0)
    return np.where(lab > 0, sq, dis_loss), np.where(lab > 0, 1.0, dis_w)


def pair_loss_grad_twin(X, pairs, labels, L, alpha, margin, loss=ks.HINGE):
    D = X[pairs[:, 0]] - X[pairs[:, 1]]
    values, w = _pair_terms(((D @ L.T) ** 2).sum(axis=1), labels, alpha, margin, loss)
    return values.mean(), 2 * (w[:, None] * (D @ L.T)).T @ D / len(pairs)


def _steps_twin(L, etas, B, n, loss_grad, scale, precond):
    """Mini-batch steps along the twins' gradients: ``loss_grad(batch, L)`` is
    the mean loss of the items ``batch`` (a slice of the n) and its gradient."""
    L, losses = L.copy(), np.zeros(len(etas))
    for t, eta in enumerate(etas):
        batch = slice(t * B, min((t + 1) * B, n))
        if batch.start < n:
            value, grad = loss_grad(batch, L)
            losses[t] = value * (batch.stop - batch.start)
            L = L - eta * scale * grad * precond
    return L, losses


def sgd_steps_twin(X, pairs, labels, order, L, etas, B, alpha, margin, precond, loss=ks.HINGE):
    return _steps_twin(L, etas, B, len(order), lambda s, L: pair_loss_grad_twin(
        X, pairs[order[s]], labels[order[s]], L, alpha, margin, loss), 1.0, precond)


def _triplet_terms(dp, dns, loss, margin, temperature):
    """Loss of one anchor and its derivatives in ``dp`` and each ``dn``."""
    dns = np.asarray(dns, dtype=float)
    if loss == kt.TRIPLET:
        active = (dp - dns + margin > 0).astype(float)
        return (active * (dp - dns + margin)).sum() / dns.size, active.sum() / dns.size, (
            -active / dns.size)
    q = np.exp((dp - dns) / temperature)
    return np.log1p(q.sum()), q.sum() / (1 + q.sum()) / temperature, -q / (
        1 + q.sum()) / temperature


def _grad_of(X, L, a, x, coef):
    d = X[a] - X[x]
    return 2 * coef * np.outer(L @ d, d)


def triplet_loss_grad_twin(X, triplets, L, loss, margin, temperature):
    total, grad = 0.0, np.zeros_like(L)
    for a, p, n in triplets:
        dp, dn = (np.sum((L @ (X[a] - X[x])) ** 2) for x in (p, n))
        value, cp, cn = _triplet_terms(dp, [dn], loss, margin, temperature)
        total += value
        grad += _grad_of(X, L, a, p, cp) + _grad_of(X, L, a, n, cn[0])
    return total / len(triplets), grad / len(triplets)


def triplet_steps_twin(X, triplets, order, L, etas, B, loss, margin, temperature, precond):
    # the steps follow temperature times the InfoNCE loss
    return _steps_twin(L, etas, B, len(order), lambda s, L: triplet_loss_grad_twin(
        X, triplets[order[s]], L, loss, margin, temperature),
        temperature if loss == kt.INFONCE else 1.0, precond)


def mine_negatives_twin(D2, codes, miner, margin, u, sel):
    b, m = D2.shape
    count = np.zeros(b, dtype=np.intp)
    for i in range(b):
        dp = D2[i, b + i]
        cand = [j for j in range(m) if codes[j] != codes[i]]
        if miner == kt.HARD:  # the closest negative closer than the positive
            cand = [j for j in cand if D2[i, j] < dp]
            cand = [min(cand, key=lambda j: (D2[i, j], j))] if cand else []
        elif miner in (kt.SEMIHARD, kt.EASY):
            cand = [j for j in cand if (dp < D2[i, j] < dp + margin if miner == kt.SEMIHARD
                                        else D2[i, j] >= dp + margin)]
            cand = [cand[min(int(u[i] * len(cand)), len(cand) - 1)]] if cand else []
        count[i] = len(cand)
        sel[i, :len(cand)] = cand
    return count


def mined_loss_grad_twin(X, codes, anchors, positives, u, L, loss, miner, margin, temperature):
    """Mean mined loss of one batch and its gradient, one anchor at a time,
    distances from explicit differences."""
    pts = np.concatenate([anchors, positives])
    b = anchors.shape[0]
    D2 = np.array([[np.sum((L @ (X[a] - X[x])) ** 2) for x in pts] for a in anchors])
    sel = np.empty((b, 2 * b), dtype=np.intp)
    count = mine_negatives_twin(D2, codes[pts], miner, margin, u, sel)
    total, grad = 0.0, np.zeros_like(L)
    for i in np.flatnonzero(count):
        chosen = sel[i, :count[i]]
        value, cp, cn = _triplet_terms(D2[i, b + i], D2[i, chosen], loss, margin, temperature)
        total += value
        grad += _grad_of(X, L, anchors[i], positives[i], cp)
        for c, j in zip(cn, chosen, strict=True):
            grad += _grad_of(X, L, anchors[i], pts[j], c)
    return total / b, grad / b


def mined_steps_twin(X, codes, anchors, positives, u, L, etas, B, loss, miner, margin,
                     temperature, precond):
    return _steps_twin(L, etas, B, len(anchors), lambda s, L: mined_loss_grad_twin(
        X, codes, anchors[s], positives[s], u[s], L, loss, miner, margin, temperature),
        temperature if loss == kt.INFONCE else 1.0, precond)


def residual_terms_twin(ab, cd, w, coef_ab, coef_cd):
    """LSML's squared residuals of violated comparisons and their derivatives."""
    hit = ab > cd
    sa, sc = np.sqrt(ab), np.sqrt(cd)
    r = np.where(hit, sa - sc, 0.0)
    coef_ab[:] = np.where(hit, w * r / np.where(hit, sa, 1.0), 0.0)
    coef_cd[:] = np.where(hit & (cd > 0), -w * r / np.where(cd > 0, sc, 1.0), 0.0)
    return float(w @ r**2), int(hit.sum())


def lsml_evaluate_twin(V, U, w, prior_inv, L, grad):
    """LSML's objective at L^T L, its gradient in L and its gradient's norm in M."""
    grad[:] = 0.0
    sign, logdet = np.linalg.slogdet(L)
    if sign == 0:
        return np.inf, np.inf
    ZV, ZU = V @ L.T, U @ L.T
    ab, cd = (ZV**2).sum(axis=1), (ZU**2).sum(axis=1)
    coef_ab, coef_cd = np.zeros(len(w)), np.zeros(len(w))
    loss, _ = residual_terms_twin(ab, cd, w, coef_ab, coef_cd)
    half = (L @ prior_inv - np.linalg.inv(L).T + (ZV.T * coef_ab) @ V
            + (ZU.T * coef_cd) @ U)
    G = np.linalg.solve(L, half)
    grad[:] = 2.0 * half
    return (loss + np.trace(L @ prior_inv @ L.T) - 2.0 * logdet,
            np.linalg.norm(0.5 * (G + G.T)))


def two_loop_twin(g, S, Y, rho, newest, count, gamma, p):
    """-H g from the explicit inverse Hessian update (BFGS on gamma I), oldest pair first."""
    n = g.shape[0]
    H = gamma * np.eye(n)
    for j in range(count - 1, -1, -1):
        r = (newest - j) % S.shape[0]
        s, y = S[r], Y[r]
        V = np.eye(n) - rho[r] * np.outer(y, s)
        H = V.T @ H @ V + rho[r] * np.outer(s, s)
    p[:] = -H @ g


def _two_loop_input(rng, count):
    m, n = 5, 7
    S, Y = rng.standard_normal((m, n)), rng.standard_normal((m, n))
    Y += 3.0 * S  # positive curvature
    rho = 1.0 / np.einsum("ij,ij->i", S, Y)
    return rng.standard_normal(n), S, Y, rho, 3, count, 0.7, np.empty(n)


def _lsml_input(rng, n, singular):
    V, U = rng.standard_normal((n, 4)), rng.standard_normal((n, 4))
    L = np.eye(4) + 0.3 * rng.standard_normal((4, 4))
    if singular:
        L[3] = 0.0
    A = rng.standard_normal((4, 4))
    return V, U, rng.uniform(0.1, 1.0, n), A @ A.T + np.eye(4), L, np.empty((4, 4))


def rda_steps_twin(XB, triplets, batches, start, w, avg_grad, ada_grad, beta, gamma, delta):
    """AdaGrad dual averaging over SCML's basis weights, one step at a time."""
    Z = ((XB[triplets[:, 0]] - XB[triplets[:, 1]]) ** 2
         - (XB[triplets[:, 0]] - XB[triplets[:, 2]]) ** 2)
    for s, batch in enumerate(batches):
        rows = Z[batch]
        g = rows[1.0 + rows @ w > 0].sum(axis=0) / batches.shape[1]
        it = start + s
        avg_grad[:] = (it * avg_grad + g) / (it + 1)
        ada_grad[:] = np.sqrt(ada_grad**2 + g**2)
        w[:] = (it + 1) * np.maximum(-(avg_grad + beta), 0.0) / (gamma * (delta + ada_grad))


def triplet_hinge_twin(Z, triplets):
    slack = 1.0 + (((Z[triplets[:, 0]] - Z[triplets[:, 1]]) ** 2).sum(axis=1)
                   - ((Z[triplets[:, 0]] - Z[triplets[:, 2]]) ** 2).sum(axis=1))
    return np.maximum(slack, 0.0).mean(), int((slack > 0).sum())


def _rda_input(rng, n_steps, sparse=False):
    K = 7
    XB, triplets = rng.normal(size=(30, K)), rng.integers(30, size=(50, 3)).astype(np.intp)
    if not sparse:
        return (XB, triplets, rng.integers(50, size=(n_steps, 5)).astype(np.intp), 3,
                rng.uniform(0, 0.1, K), rng.normal(size=K) * 0.1, rng.uniform(0, 1, K),
                1e-3, 5e-3, 1e-3)
    # a state of large, sparse weights (w as the state gives it) and one triplet
    # a step: many steps meet every margin and have no subgradient
    start, beta, gamma, delta = 30, 1e-3, 5e-3, 1e-3
    avg_grad = np.where(rng.uniform(size=K) < 0.4, -0.05, 0.02)
    ada_grad = rng.uniform(0.5, 1.0, K)
    w = np.maximum(-(avg_grad + beta), 0.0) * start / (gamma * (delta + ada_grad))
    return (XB, triplets, rng.integers(50, size=(n_steps, 1)).astype(np.intp), start, w,
            avg_grad, ada_grad, beta, gamma, delta)


def search_twin(cost, weight, order, comp_ptr, indptr, indices, max_steps, interchangeable):
    """Each component's depth-first search in DSatur order, in plain Python."""
    c, k = cost.shape
    labels, status = np.full(c, -1, dtype=np.intp), np.zeros(len(comp_ptr) - 1, dtype=np.intp)
    for g in range(len(comp_ptr) - 1):
        nodes = list(order[comp_ptr[g]:comp_ptr[g + 1]])
        closed = {v: {} for v in nodes}  # v -> {cluster: neighbours placed there}
        used, stack, steps = np.zeros(k, dtype=int), [], 0
        while status[g] == kc.OK and any(labels[v] < 0 for v in nodes):
            v = max((v for v in nodes if labels[v] < 0),
                    key=lambda v: (len(closed[v]), weight[v], -nodes.index(v)))
            open_ = [j for j in range(k) if j not in closed[v]]
            if interchangeable:
                open_ = [j for j in open_ if used[j]] + [j for j in open_ if not used[j]][:1]
                open_.sort()
            stack.append((v, sorted(open_, key=lambda j: cost[v, j])))
            while True:
                if not stack:
                    status[g] = kc.INFEASIBLE
                    break
                v, candidates = stack[-1]
                for j in [labels[v]] * int(labels[v] >= 0):  # take v out of its cluster
                    used[j] -= 1
                    for nb in indices[indptr[v]:indptr[v + 1]]:
                        closed[nb][j] -= 1
                        closed[nb] = {c: n for c, n in closed[nb].items() if n}
                    labels[v] = -1
                if candidates:
                    j = labels[v] = candidates.pop(0)
                    used[j] += 1
                    for nb in indices[indptr[v]:indptr[v + 1]]:
                        closed[nb][j] = closed[nb].get(j, 0) + 1
                    steps += 1
                    break
                stack.pop()
            if status[g] == kc.OK and steps > max_steps[g]:
                status[g] = kc.GAVE_UP
        if status[g] != kc.OK:
            labels[nodes] = -1
    return labels, status


# ------------------------------------------------------------------ inputs


def _sorted_problem(rng, sizes=(9, 6, 11), d=4, k=3, offset=0.0, scale=1.0):
    """Points sorted by class (classes overlap: plenty of impostors), their
    class bounds, a map ``L``, the targets and their distances."""
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    X = rng.standard_normal((bounds[-1], d))
    X[:, 0] += 0.8 * _labels_of(bounds)
    # far from the origin, or at extreme scales with margins of 1 (single
    # precision products select the candidates: no impostor may be missed)
    X = (X + offset) / scale
    L = scale * rng.standard_normal((3, d))
    Z = X @ L.T
    targets = target_neighbors_twin(X, bounds, k)
    return X, Z, bounds, targets, ((Z[:, None, :] - Z[targets]) ** 2).sum(axis=2)


def _itml_problem(rng, d, m=15):
    V = rng.normal(size=(m, d)) * np.arange(1, d + 1)
    delta = np.where(np.arange(m) % 2 == 0, 1.0, -1.0)
    # bounds at the squared distances' scale: both kinds violated at I
    sq = np.einsum("ij,ij->i", V, V)
    return np.eye(d), V, delta, np.zeros(m), np.where(delta > 0, 0.5, 2.0) * np.median(sq)


def _pairs_problem(rng, index_dtype=np.intp):
    X = rng.normal(size=(40, 5))
    pairs = rng.integers(40, size=(150, 2)).astype(index_dtype)
    labels = np.where(rng.random(150) < 0.5, 1, -1).astype(np.int8)
    return X, pairs, labels, rng.normal(size=(3, 5)) * 0.4


def _mined_batch(rng, b=30):
    X = rng.normal(size=(40, 5))
    codes = rng.integers(4, size=40)
    anchors = rng.integers(40, size=b)
    # a positive of the anchor's class (another point when there is one)
    positives = np.array([rng.choice(np.flatnonzero(codes == codes[a])) for a in anchors])
    return X, codes, anchors, positives, rng.random(b), rng.normal(size=(3, 5)) * 0.4


def _label_batch(rng, b=12, n_classes=4):
    """A batch of anchors with positives of their class, and a map."""
    X, codes, anchors, positives, _, L = _mined_batch(rng, b)
    codes = codes % n_classes
    positives = np.array([rng.choice(np.flatnonzero(codes == codes[a])) for a in anchors])
    return X + 0.3, codes, anchors, positives, L


def _batch_input(rng, loss, normalize, prior=0.2, b=12):
    X, codes, anchors, positives, L = _label_batch(rng, b)
    return X, codes, anchors, positives, L, loss, 0.6 if normalize else 1.5, 0.7, prior, normalize


def _batch_steps_twin(X, codes, anchors, positives, L, etas, B, loss, margin, temperature,
                      prior, precond, normalize):
    return bt.steps_twin(L, etas, B, len(anchors), lambda s, L: bt.batch_loss_grad_twin(
        X, codes, anchors[s], positives[s], L, loss, margin, temperature, prior, normalize),
        1.0 if loss == kb.LIFTED else temperature, precond)


def _magnet_problem(rng, normalize, K, b=15):
    X = rng.normal(size=(40, 5)) + 0.3
    codes = rng.integers(3, size=40)
    L = rng.normal(size=(3, 5)) * 0.5
    Z = bt.embed(X, L, normalize)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=3))]).astype(np.intp)
    assign = bt.class_kmeans_twin(Z, order, bounds, K, rng.random((3, K)), 50)
    centers = np.array([X[assign == c].mean(0) if np.any(assign == c) else np.zeros(5)
                        for c in range(3 * K)])
    cluster_class = np.where(np.bincount(assign, minlength=3 * K) > 0,
                             np.repeat(np.arange(3), K), -1)
    return X, codes, rng.integers(40, size=b), assign, centers, cluster_class, L


def _magnet_steps_twin(X, codes, anchors, assign, centers, cluster_class, L, etas, B, margin,
                       precond, normalize, variance=0.0):
    return bt.steps_twin(L, etas, B, len(anchors), lambda s, L: bt.magnet_loss_grad_twin(
        X, codes, anchors[s], assign, centers, cluster_class, L, margin, normalize,
        variance), 1.0, precond)


def _kmeans_input(rng, sizes, K):
    Z = rng.standard_normal((sum(sizes), 3))
    codes = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(len(codes))
    Z, codes = Z[perm], codes[perm]
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    return Z, order, bounds, K, rng.random((len(sizes), K)), 50


def _laplacian_twin(C, Z):
    m = Z.shape[0]
    return np.array([sum(2 * (C[i, j] + C[j, i]) * (Z[i] - Z[j]) for j in range(m))
                     for i in range(m)])


def _components(rng, interchangeable, n_components=20):
    """Random cannot-link graphs of 1 to 8 chunklets, in one CSR structure."""
    sizes = rng.integers(1, 9, size=n_components)
    comp_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    c, k = comp_ptr[-1], int(rng.integers(1, 4))
    neighbours = [[] for _ in range(c)]
    for lo, hi in zip(comp_ptr[:-1], comp_ptr[1:], strict=True):
        density = rng.uniform(0.2, 0.7)
        for u, v in itertools.combinations(range(lo, hi), 2):
            if rng.random() < density:
                neighbours[u].append(v)
                neighbours[v].append(u)
    cost = (np.tile(np.arange(k, dtype=float), (c, 1)) if interchangeable
            else rng.integers(0, 3, size=(c, k)).astype(float))  # with ties
    indptr = np.concatenate([[0], np.cumsum([len(nb) for nb in neighbours])]).astype(np.intp)
    indices = np.array([u for nb in neighbours for u in nb], dtype=np.intp)
    return (cost, rng.integers(1, 3, size=c).astype(np.intp), np.arange(c, dtype=np.intp),
            comp_ptr, indptr, indices)


def embed_rows_twin(Z, normalize):
    norms = np.sqrt((Z * Z).sum(axis=1))
    if normalize:
        Z /= np.where(norms > 0, norms, 1.0)[:, None]
    return norms


def unembed_rows_twin(dZ, Z, norms, normalize):
    if normalize:
        tangent = dZ - (Z * dZ).sum(axis=1)[:, None] * Z
        dZ[:] = np.where(norms[:, None] > 0, tangent / np.where(norms > 0, norms, 1.0)[:, None],
                         0.0)


def _embed_input(rng, normalize):
    Z = rng.standard_normal((9, 4))
    Z[3] = 0.0  # a row of norm zero stays zero
    return Z, normalize


def _unembed_input(rng, normalize):
    Z, norms = rng.standard_normal((9, 4)), rng.uniform(0.5, 2.0, 9)
    Z /= np.linalg.norm(Z, axis=1)[:, None]
    norms[3] = 0.0
    return rng.standard_normal((9, 4)), Z, norms, normalize


def single_precision_twin(Z):
    """The entries scaled by the power of two that brings the largest below
    1 in magnitude, rounded to float32, and the constants of the bound."""
    r = Z.shape[1]
    scale = 2.0 ** -np.frexp(np.abs(Z).max())[1] if np.abs(Z).max() > 0 else 1.0
    return ((Z * scale).astype(np.float32), 2.0 / scale**2, (r + 4) * 2.0**-23,
            (r + 4) * 2.0**-100 / scale**2)


def first_crossing_twin(keys, weights, need):
    order = np.argsort(keys, kind="stable")
    crossed = np.flatnonzero(np.cumsum(weights[order]) >= need)
    return keys[order][crossed[0]] if crossed.size else keys.max()


def _crossing_input(rng, frac, seed):
    m = int(rng.integers(1, 300))
    keys = rng.choice(rng.standard_normal(max(m // 3, 1)), m)  # with ties
    weights = rng.random(m)
    return keys, weights, frac * weights.sum()


def mining_targets_twin(Xs, bounds, k):
    """Each point's nearest points of its class, -1 where its class runs out."""
    found = target_neighbors_twin(Xs, bounds, k)
    sizes = np.diff(bounds)[_labels_of(bounds)]
    return np.where(np.arange(k)[None, :] < (sizes - 1)[:, None], found, -1)


def impostor_search_twin(X, Z, bounds, targets, dist_t, store_at, scan_at, block, chunk,
                         n_groups, squared, eps, capacity, bin_width, n_bins, sample_every):
    # (the candidate lists and their bounds: test_lmnn.py)
    return push_loss_terms_twin(X, Z, bounds, targets, dist_t, block, chunk, n_groups, squared)


def _grid(**axes):
    return tuple(dict(zip(axes, values, strict=True))
                 for values in itertools.product(*axes.values()))


def _mine_input(rng, miner):
    X, codes, anchors, positives, u, L = _mined_batch(rng, b=12)
    pts = np.concatenate([anchors, positives])
    E = X[pts] @ L.T
    D2 = ((E[:12, None, :] - E[None, :, :]) ** 2).sum(-1)
    return D2, codes[pts], miner, 1.0, u, np.empty((12, 24), dtype=np.intp)


TWINS = [
    Twin(("distances.get_paired_sq_mahalanobis", "distances.paired_sq_mahalanobis"),
         kd.get_paired_sq_mahalanobis, lambda diff, M: np.einsum("ij,jk,ik->i", diff, M, diff),
         lambda rng, n, d, n_jobs: (rng.standard_normal((n, d)), _psd(rng, d)),
         _grid(n=[1, 7, 300], d=[1, 3, 17], n_jobs=[1, 2])),
    Twin(("distances.weighted_outer_sum",), kd.weighted_outer_sum,
         lambda diff, w: np.einsum("i,ij,ik->jk", w, diff, diff),
         lambda rng, n, d: (rng.standard_normal((n, d)), rng.uniform(0.1, 2.0, n)),
         _grid(n=[0, 1, 10, 257, 1000], d=[1, 5, 12])),
    Twin(("distances.index_sq_distances",), kd.index_sq_distances,
         lambda P, i, j, out: out.__setitem__(slice(None), ((P[i] - P[j]) ** 2).sum(axis=1)),
         lambda rng, n, d: (rng.standard_normal((20, d)), rng.integers(0, 20, n).astype(np.intp),
                            rng.integers(0, 20, n).astype(np.intp), np.empty(n)),
         _grid(n=[0, 1, 50], d=[1, 7]), inout=(3,), out=lambda r, a: a[3], rtol=1e-13),
    Twin(("mmc.project_psd_trace",), km.project_psd_trace, project_psd_trace_twin,
         lambda rng, d, bound: ((lambda A: A + A.T)(rng.standard_normal((d, d))), bound),
         _grid(d=[1, 2, 5, 12], bound=[0.5, 1.0, 100.0]), atol=1e-10),
    Twin(("mmc.diagonal_objective",), km.diagonal_objective, diagonal_objective_twin,
         lambda rng, c: (rng.uniform(0.2, 1.0, 5), rng.uniform(0.5, 2.0, 5),
                         rng.uniform(0.0, 1.0, (30, 5)) ** 2, c),
         _grid(c=[0.5, 1.7]), rtol=1e-10),
    Twin(("mmc.diagonal_value",), km.diagonal_value,
         lambda a, s, Q, c: s @ a - c * np.log(np.sqrt(Q @ a).sum()),
         lambda rng: (rng.uniform(0.2, 1.0, 5), rng.uniform(0.5, 2.0, 5),
                      rng.uniform(0.0, 1.0, (30, 5)) ** 2, 1.7)),
    # d = 4, 11 take the sweep by columns, 12, 13, 21 the sweep by rows
    # (eight rows at a time, and the rows left over)
    Twin(("itml.bregman_sweep",), ki.bregman_sweep, sweep_twin,
         lambda rng, d, gamma: (*_itml_problem(rng, d), gamma),
         _grid(d=[4, 11, 12, 13, 21], gamma=[0.5, 1.0, np.inf]), inout=(0, 3, 4),
         out=lambda r, a: (r, a[0], a[3], a[4]), repeat=5, rtol=1e-10),
    Twin(("itml.bregman_solve",), ki.bregman_solve, solve_twin,
         lambda rng, d, gamma: (*(p := _itml_problem(rng, d)), p[4].copy(), gamma, np.eye(d),
                                0.0, 50, 1e-3, np.zeros(50), np.zeros(50)),
         _grid(d=[4, 13], gamma=[1.0, np.inf]), inout=(0, 3, 4, 11, 12),
         out=lambda r, a: (r, a[0], a[3], a[4], a[11][:r[0]], a[12][:r[0]]), rtol=1e-9),
    Twin(("itml._logdet_spd",), ki._logdet_spd, lambda M, work: np.linalg.slogdet(M)[1],
         lambda rng: (_psd(rng, 7) + 0.1 * np.eye(7), np.zeros((7, 7))), inout=(1,)),
    Twin(("itml.dual_gradient",), ki.dual_gradient, dual_gradient_twin, _dual_gradient_input,
         _grid(gamma=[0.5, 1.0, np.inf], seed=[0, 1]), inout=(4, 5),
         out=lambda r, a: (r, a[4], a[5]), rtol=1e-12, atol=1e-15),
    Twin(("itml.lbfgs_direction",), ki.lbfgs_direction, lbfgs_direction_twin, _lbfgs_input,
         _grid(n_pairs=[0, 1, 4]), inout=(6,), out=lambda r, a: a[6], rtol=1e-12,
         atol=1e-14),
    Twin(("itml.line_minimum",), ki.line_minimum, line_minimum_twin, _line_input,
         _grid(gamma=[0.5, 1.0, np.inf], scale=[0.1, 1.0, 10.0], seed=[0, 1, 2]),
         rtol=1e-9, atol=0.0),
    Twin(("lmnn_impostors.class_blocks",), kli.class_blocks, class_blocks_twin,
         lambda rng, block: (np.array([0, 5, 5, 12, 13], dtype=np.intp), block),
         _grid(block=[1, 3, 128])),
    Twin(("lmnn_impostors.class_pair_tiles",), kli.class_pair_tiles, class_pair_tiles_twin,
         lambda rng, block, chunk: (np.array([0, 5, 5, 12, 13], dtype=np.intp), block, chunk),
         ({"block": 1, "chunk": 1}, {"block": 2, "chunk": 3}, {"block": 128, "chunk": 2048})),
    Twin(("lmnn.get_target_neighbors", "lmnn.target_neighbors"), kl.get_target_neighbors,
         target_neighbors_twin,
         lambda rng, block, n_jobs: ((p := _sorted_problem(rng))[0], p[2], 3, block),
         _grid(block=[2, 128], n_jobs=[1, 2])),
    Twin(("lmnn.target_distances",), kl.target_distances,
         lambda Z, t: ((Z[:, None, :] - Z[t]) ** 2).sum(axis=2),
         lambda rng: (rng.standard_normal((7, 2)), rng.integers(0, 7, (7, 2)).astype(np.intp))),
    Twin(("lmnn.target_weight_terms",), kl.target_weight_terms, target_weight_terms_twin,
         lambda rng: (rng.standard_normal((7, 3)), rng.integers(0, 7, (7, 2)).astype(np.intp),
                      rng.standard_normal((7, 2)))),
    Twin(("lmnn_impostors.margin_radii",), kli.margin_radii,
         lambda dist_t: 1.0 + dist_t.max(axis=1),
         lambda rng: (rng.random((5, 3)),)),
    Twin(("lmnn_impostors.get_push_loss_terms", "lmnn_impostors.push_loss_terms"),
         kli.get_push_loss_terms,
         push_loss_terms_twin,
         lambda rng, block, chunk, n_groups, squared, n_jobs, offset=0.0, scale=1.0: (
             *_sorted_problem(rng, offset=offset, scale=scale), block, chunk, n_groups, squared),
         tuple({"block": b, "chunk": c, "n_groups": g, "squared": sq, "n_jobs": j}
               for (b, c), g, sq, j in itertools.product(
                   [(1, 1), (2, 3), (128, 2048)], [1, 3], [False, True], [1, 2]))
         + tuple({"block": 2, "chunk": 3, "n_groups": 1, "squared": True, "n_jobs": 1,
                  "offset": o, "scale": sc} for o, sc in [(1e4, 1.0), (0.0, 1e-30), (1e3, 1e30)]),
         rtol=1e-10),
    Twin(("sgd.sgd_steps",), ks.sgd_steps, sgd_steps_twin,
         lambda rng, B, index_dtype, loss: (
             *(p := _pairs_problem(rng, index_dtype))[:3], rng.permutation(150), p[3],
             rng.uniform(0.05, 0.3, size=-(-150 // B)), B, 2.0, 1.5, rng.uniform(0.5, 1.5, 5),
             loss),
         _grid(B=[1, 16, 64, 200], index_dtype=[np.intp, np.int32],
               loss=[ks.HINGE, ks.CONTRASTIVE]), rtol=1e-10),
    Twin(("sgd.pair_loss_grad",), ks.pair_loss_grad, pair_loss_grad_twin,
         lambda rng, loss: (*_pairs_problem(rng), 2.0, 1.5, loss),
         _grid(loss=[ks.HINGE, ks.CONTRASTIVE]), rtol=1e-10),
    Twin(("sgd.pair_sq_distances",), ks.pair_sq_distances,
         lambda X, pairs, L: (((X[pairs[:, 0]] - X[pairs[:, 1]]) @ L.T) ** 2).sum(axis=1),
         lambda rng: (p := _pairs_problem(rng))[:2] + (p[3],)),
    Twin(("sgd_triplets.triplet_steps",), kt.triplet_steps, triplet_steps_twin,
         lambda rng, loss, B: (rng.normal(size=(40, 5)), rng.integers(40, size=(100, 3)),
                               rng.permutation(100), rng.normal(size=(3, 5)) * 0.4,
                               rng.uniform(0.05, 0.3, -(-100 // B)), B, loss, 1.5, 0.7,
                               rng.uniform(0.5, 1.5, 5)),
         _grid(loss=[kt.TRIPLET, kt.INFONCE], B=[7, 100]), rtol=1e-10),
    Twin(("sgd_triplets.triplet_loss_grad",), kt.triplet_loss_grad, triplet_loss_grad_twin,
         lambda rng, loss: (rng.normal(size=(40, 5)), rng.integers(40, size=(100, 3)),
                            rng.normal(size=(3, 5)) * 0.4, loss, 1.5, 0.7),
         _grid(loss=[kt.TRIPLET, kt.INFONCE]), rtol=1e-10),
    Twin(("sgd_triplets.triplet_sq_distances",), kt.triplet_sq_distances,
         lambda X, t, L: np.stack([(((X[t[:, 0]] - X[t[:, i]]) @ L.T) ** 2).sum(axis=1)
                                   for i in (1, 2)], axis=1),
         lambda rng: (rng.normal(size=(40, 5)), rng.integers(40, size=(100, 3)),
                      rng.normal(size=(3, 5)))),
    Twin(("sgd_mining.mine_negatives",), ksm.mine_negatives, mine_negatives_twin,
         _mine_input, _grid(miner=[kt.ALL, kt.HARD, kt.SEMIHARD, kt.EASY]), inout=(5,),
         out=lambda count, a: (count, [a[5][i, :c] for i, c in enumerate(count)])),
    Twin(("sgd_mining.mined_loss_grad",), ksm.mined_loss_grad, mined_loss_grad_twin,
         lambda rng, loss, miner: (*_mined_batch(rng), loss, miner, 1.5, 0.7),
         _grid(loss=[kt.TRIPLET, kt.INFONCE], miner=[kt.ALL, kt.HARD, kt.SEMIHARD, kt.EASY]),
         rtol=1e-9),
    Twin(("sgd_mining.mined_steps",), ksm.mined_steps, mined_steps_twin,
         lambda rng, loss, miner: (*_mined_batch(rng, b=50), np.array([0.2, 0.1, 0.05]),
                                   20, loss, miner, 1.5, 0.7, rng.uniform(0.5, 1.5, 5)),
         ({"loss": kt.INFONCE, "miner": kt.SEMIHARD}, {"loss": kt.TRIPLET, "miner": kt.HARD}),
         rtol=1e-9),
    Twin(("sgd_mining.target_neighbors",), ksm.target_neighbors, mining_targets_twin,
         lambda rng, sizes, k: (np.ascontiguousarray(rng.standard_normal((sum(sizes), 3))),
                                np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp), k),
         _grid(sizes=[(9, 6, 11), (1, 2, 8)], k=[1, 3])),
    Twin(("sgd_batch.batch_loss_grad",), kb.batch_loss_grad, bt.batch_loss_grad_twin,
         _batch_input, _grid(loss=[kb.LIFTED, kb.SUPCON, kb.DEBIASED],
                             normalize=[False, True], prior=[0.0, 0.2, 0.9]),
         rtol=1e-6, atol=1e-8),
    Twin(("sgd_batch.batch_steps",), kb.batch_steps, _batch_steps_twin,
         lambda rng, loss, normalize: (
             *(p := _label_batch(rng, b=20))[:4], p[4], np.array([0.2, 0.1, 0.05]), 8, loss,
             0.6 if normalize else 1.5, 0.7, 0.2, rng.uniform(0.5, 1.5, 5), normalize),
         _grid(loss=[kb.LIFTED, kb.SUPCON, kb.DEBIASED], normalize=[False, True]),
         rtol=1e-6, atol=1e-8),
    Twin(("sgd_batch.sq_distance_matrix",), kb.sq_distance_matrix,
         lambda Z: ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1),
         lambda rng: (rng.standard_normal((9, 4)),), rtol=1e-10, atol=1e-12),
    Twin(("sgd_batch.laplacian_grad",), kb.laplacian_grad, _laplacian_twin,
         lambda rng: (rng.standard_normal((9, 9)), rng.standard_normal((9, 4))), rtol=1e-10),
    Twin(("sgd_magnet.magnet_loss_grad",), kg.magnet_loss_grad, bt.magnet_loss_grad_twin,
         lambda rng, normalize, K, variance: (*_magnet_problem(rng, normalize, K), 0.5,
                                              normalize, variance),
         _grid(normalize=[False, True], K=[1, 3], variance=[0.0, 0.3]), rtol=1e-6, atol=1e-8),
    Twin(("sgd_magnet.magnet_steps",), kg.magnet_steps, _magnet_steps_twin,
         lambda rng, normalize, variance: (*_magnet_problem(rng, normalize, 2, b=30),
                                           np.array([0.2, 0.1, 0.05]), 12, 0.5,
                                           rng.uniform(0.5, 1.5, 5), normalize, variance),
         _grid(normalize=[False, True], variance=[0.0, 0.3]), rtol=1e-6, atol=1e-8),
    Twin(("sgd_magnet.class_kmeans",), kg.class_kmeans, bt.class_kmeans_twin, _kmeans_input,
         _grid(sizes=[(9, 6, 11), (1, 2, 30)], K=[1, 3, 5])),
    Twin(("sgd_magnet.cluster_means",), kg.cluster_means,
         lambda X, assign, n: (np.array([X[assign == c].mean(0) if np.any(assign == c)
                                         else np.zeros(X.shape[1]) for c in range(n)]),
                               np.bincount(assign, minlength=n).astype(float)),
         lambda rng: (rng.standard_normal((30, 4)), rng.integers(0, 6, 30).astype(np.intp), 7),
         rtol=1e-12),
    Twin(("sgd.embed_rows",), ks.embed_rows, embed_rows_twin, _embed_input,
         _grid(normalize=[False, True]), inout=(0,), out=lambda r, a: (r, a[0])),
    Twin(("sgd.unembed_rows",), ks.unembed_rows, unembed_rows_twin, _unembed_input,
         _grid(normalize=[False, True]), inout=(0,), out=lambda r, a: a[0]),
    Twin(("sgd_triplets.softplus",), kt.softplus,
         lambda s: (np.logaddexp(0.0, s), 0.5 * (1.0 + np.tanh(0.5 * s))),
         lambda rng, s: (s,), _grid(s=[-800.0, -3.0, 0.0, 1e-9, 3.0, 800.0]), rtol=1e-14),
    Twin(("lmnn.first_crossing",), kl.first_crossing, first_crossing_twin, _crossing_input,
         _grid(frac=[-0.1, 0.0, 0.5, 1.1], seed=[0, 1, 2])),
    Twin(("lmnn_impostors.single_precision",), kli.single_precision, single_precision_twin,
         lambda rng, scale: (rng.standard_normal((30, 5)) * scale,),
         _grid(scale=[1e-20, 1.0, 1e20]), rtol=0, atol=0),
    Twin(("lmnn_impostors.get_impostor_search", "lmnn_impostors.impostor_search"),
         kli.get_impostor_search, impostor_search_twin,
         lambda rng, n_groups, squared, n_jobs: (
             *(p := _sorted_problem(rng)), (r := kli.margin_radii(p[4])), r, 2, 3, n_groups,
             squared, 0.0, 0, 1.0, 0, 1),
         _grid(n_groups=[1, 3], squared=[False, True], n_jobs=[1, 2]),
         out=lambda r, a: r[:5], rtol=1e-10),
    Twin(("lmnn_incremental.movement",), klm.movement,
         lambda Z, Z0, s: np.linalg.norm(Z - s * Z0, axis=1),
         lambda rng: (*rng.standard_normal((2, 30, 5)), 0.7), rtol=1e-14),
    Twin(("lsml.residual_terms",), kls.residual_terms, residual_terms_twin,
         lambda rng, n: ((rng.uniform(0, 2, n) ** 2), np.r_[rng.uniform(0, 2, n - 1) ** 2, 0.0],
                         rng.uniform(0.1, 1.0, n), np.zeros(n), np.zeros(n)),
         _grid(n=[1, 9, 200]), inout=(3, 4), out=lambda r, a: (r, a[3], a[4])),
    Twin(("lsml.evaluate",), kls.evaluate, lsml_evaluate_twin, _lsml_input,
         _grid(n=[1, 9, 200], singular=[False]) + ({"n": 9, "singular": True},),
         inout=(5,), out=lambda r, a: (r, a[5]), rtol=1e-10),
    Twin(("lbfgs.two_loop",), kbf.two_loop, two_loop_twin, _two_loop_input,
         _grid(count=[0, 1, 5]), inout=(7,), out=lambda r, a: a[7], rtol=1e-10),
    Twin(("scml.rda_steps",), ksc.rda_steps, rda_steps_twin, _rda_input,
         _grid(n_steps=[1, 40]) + ({"n_steps": 60, "sparse": True},), inout=(4, 5, 6),
         out=lambda r, a: (a[4], a[5], a[6]),
         repeat=2, rtol=1e-10),
    Twin(("scml.triplet_hinge",), ksc.triplet_hinge, triplet_hinge_twin,
         lambda rng: (rng.normal(size=(30, 4)), rng.integers(30, size=(80, 3)).astype(np.intp))),
    Twin(("cluster.search_components",), kc.search_components, search_twin,
         lambda rng, interchangeable, max_steps, seed: (
             *_components(rng, interchangeable), np.full(20, max_steps, dtype=np.intp),
             interchangeable),
         _grid(interchangeable=[True, False], max_steps=[3, 10**6], seed=[1, 2, 3])),
]


# ------------------------------------------------ twins: NCA, MLKR, LFDA


def _softmax_problem(rng, n=(9, 6, 11), d=4, r=3, scale=1.0):
    """Points sorted by class (centred), class bounds and codes, and a map."""
    codes = np.repeat(np.arange(len(n)), n).astype(np.intp)
    X = rng.standard_normal((codes.shape[0], d))
    X[:, 0] += 0.8 * codes
    X -= X.mean(axis=0)
    bounds = np.concatenate([[0], np.cumsum(n)]).astype(np.intp)
    return X, rng.standard_normal((r, d)) * scale, bounds, codes


def _nca_dense(X, L, codes, cutoff):
    """NCA's softmax (terms beyond ``cutoff`` of a row's largest dropped) and
    the weights W_ik = p_ik (p_i - [y_k = y_i]), dense."""
    Z = X @ L.T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(D, np.inf)
    T = D - D.min(axis=1, keepdims=True)
    E = np.where(T <= cutoff, np.exp(-np.minimum(T, cutoff)), 0.0)
    P = E / E.sum(axis=1, keepdims=True)
    same = codes[:, None] == codes[None, :]
    p = (P * same).sum(axis=1)
    # p_i - 1 as minus the other classes' share (no cancellation)
    W = np.where(same, -P * (P * ~same).sum(axis=1, keepdims=True), P * p[:, None])
    return Z, D, p, W


def nca_row_weights_twin(g, norms, i, lo, hi, cutoff, col_sums):
    d = norms[i] + norms - 2.0 * g
    d[i] = np.inf
    t = d - d.min()
    keep = t <= cutoff
    q = np.where(keep, np.exp(-np.minimum(t, cutoff)), 0.0)
    q /= q.sum()
    same = np.zeros(g.shape[0], dtype=bool)
    same[lo:hi] = True
    p = q[same].sum()
    g[:] = np.where(same, -q * q[~same].sum(), q * p)
    col_sums += g
    return p, int(keep.sum()), int(np.argmin(d))


def _nca_row_input(rng):
    Z = rng.standard_normal((23, 3)) * 1.5
    return Z @ Z[7], kn.sq_norms(Z), 7, 5, 12, 37.0, np.full(23, 0.25)


def _candidate_input(rng, by_map, refresh):
    X, L, bounds, codes = _softmax_problem(rng, scale=3.0)
    n, r = X.shape[0], L.shape[0]
    Z = X @ L.T
    scale = 2.0 ** -np.frexp(np.abs(Z).max())[1]
    unscale = 1.0 / scale**2
    G = (Z * scale).astype(np.float32) @ (Z * scale).astype(np.float32).T
    i = 10
    M = Z if by_map else X
    return (G[i], Z, kn.sq_norms(Z), i, bounds[1], bounds[2], 37.0, unscale,
            (r + 4) * 2.0**-23, (r + 4) * 2.0**-100 * unscale, (np.arange(n) + 3) % n,
            np.zeros(-(-n // 8) * 8, dtype=np.uint8), np.empty(n, dtype=np.intp),
            np.empty(n), M, np.empty(M.shape[1]), np.full(n, 0.5),
            np.full((n, r), 0.25) if by_map else np.empty((0, r)), refresh)


def candidate_row_twin(g, Z, norms, i, lo, hi, cutoff, unscale, rel, slack, nearest, flags,
                       idx, work, M, out_row, col_sums, U, refresh):
    """The dense row's terms (the candidates only select them)."""
    codes = np.zeros(Z.shape[0], dtype=np.intp)
    codes[lo:hi] = 1
    codes[i] = 1
    _, D, p, W = _nca_dense(Z, np.eye(Z.shape[1]), codes, cutoff)
    w = W[i]
    nearest[i] = np.argmin(D[i])
    out_row[:] = w @ M
    col_sums += w
    if U.shape[0]:
        U += np.outer(w, Z[i])
    return p[i], -1


def nca_value_grad_twin(X, L, bounds, codes, nearest, block, n_groups, by_map, cutoff,
                        dense_fraction, start_dense, refresh):
    Z, D, p, W = _nca_dense(X, L, codes, cutoff)
    nearest[:] = np.argmin(D, axis=1)
    G = np.zeros((X.shape[1], X.shape[1]))
    for i in range(X.shape[0]):
        diff = X[i] - X
        G += (diff * W[i][:, None]).T @ diff
    return p.sum(), 2.0 * L @ G, p, -1.0


def _nca_value_grad_input(rng, block, n_groups, by_map, dense, n_jobs, refresh=False):
    X, L, bounds, codes = _softmax_problem(rng, r=1 if by_map else 3, scale=2.0)
    n = X.shape[0]
    return (X, L, bounds, codes, (np.arange(n) + 1) % n, block, n_groups, by_map, 37.0,
            -1.0 if dense else 2.0, dense, refresh)


def mlkr_loss_grad_twin(X, L, y, block, n_groups):
    """MLKR's loss, gradient and estimates: dense, each row shifted by its
    smallest distance, weights beyond the cutoff zero."""
    Z = X @ L.T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(D, np.inf)
    U = D - D.min(axis=1, keepdims=True)
    K = np.where(U <= kr._CUTOFF, np.exp(-np.minimum(U, kr._CUTOFF)), 0.0)
    s = K.sum(axis=1)
    yhat = K @ y / s
    W = ((yhat - y) / s)[:, None] * K * (yhat[:, None] - y[None, :])
    S = np.zeros((X.shape[1], X.shape[1]))
    for i in range(X.shape[0]):
        diff = X[i] - X
        S += (diff * W[i][:, None]).T @ diff
    return np.sum((yhat - y) ** 2), 4.0 * L @ S, yhat


def mlkr_row_weights_twin(row, i, sq_i, sq, y, colsum, kw, scale, w_out):
    d = np.maximum(sq_i + sq - 2.0 * row, 0.0)
    d[i] = np.inf
    u = d - d.min()
    k = np.where(u <= kr._CUTOFF, np.exp(-np.minimum(u, kr._CUTOFF)), 0.0)
    yhat = k @ y / k.sum()
    row[:] = (yhat - y[i]) / k.sum() * k * (yhat - y)
    colsum += row
    w_out[:] = yhat, np.count_nonzero(u <= kr._CUTOFF), (yhat - y[i]) ** 2


def _mlkr_row_input(rng):
    Z = rng.standard_normal((19, 3)) * 2.0
    sq = kr.sq_norms(Z)
    return (Z @ Z[4], 4, sq[4], sq, rng.standard_normal(19), np.full(19, 0.5), np.empty(19),
            np.empty(19, dtype=np.int64), np.empty(3))


def shifted_neg_exp_twin(d, m, out, scale):
    u = d - m
    out[:] = np.where(u <= kr._CUTOFF, np.exp(-np.minimum(u, kr._CUTOFF)), 0.0)
    return int(np.count_nonzero(u <= kr._CUTOFF))


def update_nearest_twin(G, sq_rows, sq_cols, row0, col0, diagonal, best):
    D = np.maximum(sq_rows[:, None] + sq_cols[None, :] - 2.0 * G, 0.0)
    if diagonal:
        np.fill_diagonal(D, np.inf)
    k = best.shape[1]
    rows = np.arange(row0, row0 + G.shape[0])
    best[rows] = np.sort(np.hstack([best[rows], D]), axis=1)[:, :k]
    if not diagonal:
        cols = np.arange(col0, col0 + G.shape[1])
        best[cols] = np.sort(np.hstack([best[cols], D.T]), axis=1)[:, :k]


def _update_nearest_input(rng, diagonal, k):
    R = rng.standard_normal((6, 3))
    C = R if diagonal else rng.standard_normal((5, 3))
    # earlier blocks' distances, some of which the block's replace
    best = np.sort(rng.uniform(0.5, 12.0, (11, k)), axis=1)
    return (R @ C.T, (R * R).sum(axis=1), (C * C).sum(axis=1), 0, 0 if diagonal else 6,
            diagonal, best)


def affinity_exponents_twin(G, sq_rows, sq_cols, sigma_rows, sigma_cols, diagonal, out):
    D = np.maximum(sq_rows[:, None] + sq_cols[None, :] - 2.0 * G, 0.0)
    scale = np.outer(sigma_rows, sigma_cols)
    out[:] = np.where(scale > 0, -D / np.where(scale > 0, scale, 1.0), -np.inf)
    if diagonal:
        np.fill_diagonal(out, -np.inf)


def _affinity_input(rng, diagonal):
    R = rng.standard_normal((6, 3))
    C = R if diagonal else rng.standard_normal((5, 3))
    sig_r, sig_c = rng.random(6) + 0.1, rng.random(C.shape[0]) + 0.1
    sig_r[1] = 0.0  # a point whose k-th neighbour coincides with it
    sig_c[3] = 0.0
    return (R @ C.T, (R * R).sum(axis=1), (C * C).sum(axis=1), sig_r, sig_c, diagonal,
            np.empty((6, C.shape[0])))


TWINS += [
    Twin(("nca.exp_neg",), kn.exp_neg, lambda t: np.exp(-t),
         lambda rng, seed, top: (float(rng.uniform(0.0, top)),),
         _grid(seed=[0, 1, 2, 3], top=[1.0, 40.0, 700.0]), rtol=4e-16, atol=0.0),
    Twin(("distances.sq_norms",), kd.sq_norms, lambda Z: (Z * Z).sum(axis=1),
         lambda rng: (rng.standard_normal((7, 3)),)),
    Twin(("nca.row_weights",), kn.row_weights, nca_row_weights_twin, _nca_row_input,
         inout=(0, 6), out=lambda r, a: (r, a[0], a[6])),
    # out: p_i, the nearest points, the row of W M, the column sums, W^T Z
    Twin(("nca.candidate_row",), kn.candidate_row, candidate_row_twin,
         _candidate_input, _grid(by_map=[False, True], refresh=[False, True]),
         inout=(10, 11, 12, 13, 15, 16, 17),
         out=lambda r, a: (r[0], a[10], a[15], a[16], a[17]), rtol=1e-10),
    # dense blocks, sparse ones (their candidates from the nearest points
    # of a first pass), in one or several groups, folded into X or into Z
    Twin(("nca.get_nca_value_grad", "nca.nca_value_grad"), kn.get_nca_value_grad,
         nca_value_grad_twin, _nca_value_grad_input,
         _grid(block=[1, 7, 128], n_groups=[1, 3], by_map=[False, True], dense=[True],
               n_jobs=[1, 2]) + _grid(block=[7], n_groups=[1, 2], by_map=[False, True],
                                      dense=[False], n_jobs=[1, 2], refresh=[False, True]),
         inout=(4,), out=lambda r, a: (r[0], r[1], r[2], a[4]), rtol=1e-10),
    Twin(("mlkr.shifted_neg_exp",), kr.shifted_neg_exp, shifted_neg_exp_twin,
         lambda rng: (np.concatenate([rng.uniform(0.5, 60.0, 37), [0.5, 50.5, 51.0]]), 0.5,
                      np.empty(40), np.empty(40, dtype=np.int64)),
         inout=(2, 3), out=lambda r, a: (r, a[2]), rtol=4e-16, atol=0.0),
    Twin(("mlkr.row_sums",), kr.row_sums, lambda a, b: (a.sum(), a @ b),
         lambda rng: (rng.random(37), rng.standard_normal(37))),
    Twin(("mlkr.row_weights",), kr.row_weights, mlkr_row_weights_twin, _mlkr_row_input,
         inout=(0, 5, 6, 7, 8), out=lambda r, a: (a[0], a[5], a[8]), rtol=1e-11),
    Twin(("mlkr.get_loss_grad", "mlkr.loss_grad"), kr.get_loss_grad, mlkr_loss_grad_twin,
         lambda rng, block, n_groups, scale, n_jobs: (
             (p := _softmax_problem(rng, scale=scale))[0], p[1], rng.standard_normal(26),
             block, n_groups),
         _grid(block=[1, 7, 256], n_groups=[1, 3], scale=[0.3, 3.0], n_jobs=[1, 2]),
         rtol=1e-10),
    Twin(("lfda.update_nearest",), kf.update_nearest, update_nearest_twin,
         _update_nearest_input, _grid(diagonal=[False, True], k=[1, 3]), inout=(6,),
         out=lambda r, a: a[6]),
    # the affinities themselves (the exponents' -inf would make atol infinite)
    Twin(("lfda.affinity_exponents",), kf.affinity_exponents, affinity_exponents_twin,
         _affinity_input, _grid(diagonal=[False, True]), inout=(6,),
         out=lambda r, a: np.exp(a[6])),
]


# ------------------------------------------------------------------ tests


def _compare(got, want, rtol, atol):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _compare(g, w, rtol, atol)
        return
    got, want = np.asarray(got), np.asarray(want)
    if want.dtype.kind in "biu" or rtol == atol == 0:
        assert_array_equal(got, want)
    else:
        assert_allclose(got, want, rtol=rtol, atol=atol * (np.abs(want).max() if want.size else 0))


def _run(fn, args, repeat):
    for _ in range(repeat):
        result = fn(*args)
    return result


CASES = [pytest.param(twin, case, id=twin.names[0] + "".join(
             f"-{k}={getattr(v, '__name__', v)}" for k, v in case.items()))
         for twin in TWINS for case in twin.cases]


@pytest.mark.parametrize(("twin", "case"), CASES)
def test_kernel_matches_its_numpy_twin_and_reads_its_inputs_only(twin, case):
    args = twin.make(np.random.default_rng(case.get("seed", 0)), **case)
    kernel = twin.kernel(case["n_jobs"]) if "n_jobs" in case else twin.kernel
    out = twin.out or (lambda result, args: result)
    writable, readonly, mine = (copy.deepcopy(args) for _ in range(3))
    got = out(_run(kernel, writable, twin.repeat), writable)
    _compare(got, out(_run(twin.twin, mine, twin.repeat), mine), twin.rtol, twin.atol)
    # the same call on read-only inputs: the same result, bit for bit, and
    # the inputs as they were (a write into one would not even compile)
    inputs = [i for i, a in enumerate(readonly) if isinstance(a, np.ndarray)
              and i not in twin.inout]
    for i in inputs:
        readonly[i].setflags(write=False)
    _compare(out(_run(kernel, readonly, twin.repeat), readonly), got, 0, 0)
    for i in inputs:
        assert_array_equal(readonly[i], args[i])


def _kernels():
    """Every public kernel (a numba dispatcher, or the getter of one)."""
    found = set()
    for info in pkgutil.iter_modules(metriclearn._kernels.__path__):
        module = importlib.import_module(f"metriclearn._kernels.{info.name}")
        for name, obj in vars(module).items():
            if (not name.startswith("_") and getattr(obj, "__module__", "") == module.__name__
                    and (isinstance(obj, numba.core.dispatcher.Dispatcher)
                         or name.startswith("get_"))):
                found.add(f"{info.name}.{name}")
    return found


# kernels that work on the candidate lists of an earlier search, whose
# contract a single call cannot state: checked against NumPy twins, with
# read-only inputs, by the named test of their family's file
CHECKED_BY = {
    "lmnn_incremental.get_candidate_terms":
        "test_lmnn.py::test_candidate_terms_match_twin_and_keep_lower_bounds",
    "lmnn_incremental.candidate_terms":
        "test_lmnn.py::test_candidate_terms_match_twin_and_keep_lower_bounds",
    "lmnn_incremental.get_rescan_terms":
        "test_lmnn.py::test_rescan_terms_match_twin_on_their_rows",
    "lmnn_incremental.rescan_terms":
        "test_lmnn.py::test_rescan_terms_match_twin_on_their_rows",
}


def test_every_kernel_has_a_twin():
    kernels = _kernels()
    assert len(kernels) >= 25  # the discovery read the modules
    for where in set(CHECKED_BY.values()):
        path, test = where.split("::")
        module = importlib.import_module(path.removesuffix(".py"))
        assert callable(getattr(module, test, None)), where
    covered = {name for twin in TWINS for name in twin.names} | set(CHECKED_BY)
    assert not kernels - covered, f"kernels without a NumPy twin: {sorted(kernels - covered)}"
    for twin in TWINS:
        module, name = twin.names[0].split(".")
        assert getattr(importlib.import_module(f"metriclearn._kernels.{module}"), name) in (
            twin.kernel, getattr(twin.kernel, "py_func", None))


# -------------------------------------------- properties beyond the twins


def test_parallel_twins_have_their_own_cache_files():
    # numba's cache index tells versions apart by signature, not by
    # parallel=True: a twin sharing its serial kernel's files would load
    # whichever was compiled first (n_jobs=2 then ran serially)
    pairs = []
    for name in sorted(_kernels()):
        module, attr = name.split(".")
        if not attr.startswith("get_"):
            continue
        getter = getattr(importlib.import_module(f"metriclearn._kernels.{module}"), attr)
        serial, twin = getter(1), getter(2)
        if serial is twin or not isinstance(twin, numba.core.dispatcher.Dispatcher):
            continue  # one kernel, or a Python wrapper of a twin listed here
        pairs.append(name)
        assert twin.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
        assert (twin._cache._cache_file._index_name
                != serial._cache._cache_file._index_name), name
    assert len(pairs) >= 7, pairs


def test_weighted_outer_sum_is_exactly_symmetric(rng):
    W = kd.weighted_outer_sum(rng.standard_normal((1000, 12)), rng.uniform(0.1, 2.0, 1000))
    assert_array_equal(W, W.T)


def test_diagonal_objective_is_infinite_when_all_distances_vanish():
    Q = np.array([[1.0, 0.0], [2.0, 0.0]])
    a = np.array([0.0, 1.0])
    assert km.diagonal_value(a, np.ones(2), Q, 1.0) == np.inf
    assert km.diagonal_objective(a, np.ones(2), Q, 1.0)[0] == np.inf


def test_logdet_of_a_matrix_that_is_not_positive_definite_is_nan():
    assert np.isnan(ki._logdet_spd(np.diag([1.0, -1.0, 2.0]), np.zeros((3, 3))))


@pytest.mark.parametrize("d", [4, 13])
def test_bregman_sweep_keeps_m_exactly_symmetric_and_duals_non_negative(d, rng):
    M, V, delta, lam, xi = _itml_problem(rng, d)
    for _ in range(5):
        ki.bregman_sweep(M, V, delta, lam, xi, 1.0)
    assert_array_equal(M, M.T)
    assert np.all(lam >= 0) and np.any(lam > 0)  # the projections did change M
