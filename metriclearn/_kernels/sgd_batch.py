"""Kernels of the SGD losses over a whole batch of labelled points: lifted
structured (``LIFTED``), supervised contrastive (``SUPCON``) and debiased
contrastive (``DEBIASED``).

A batch holds ``b`` anchors and their positives: ``m = 2 b`` points ``X_b``
(point ``i < b`` is an anchor, point ``b + i`` its positive). Each step costs
one GEMM for the embeddings ``Z = X_b L^T`` (normalised on the unit sphere
with ``normalize``), one for the ``m x m`` Gram matrix that gives every
squared distance ``d2(i, j) = ||z_i - z_j||^2`` of the batch, one pass over
it for the loss and the matrix ``C`` of its derivatives in the squared
distances, one GEMM for ``dZ = 2 (diag(S 1) - S) Z`` with ``S = C + C^T``
(the weighted graph Laplacian of the derivatives), and one for the gradient
``dZ^T X_b``; with ``normalize`` the derivatives pass through
``z = e / ||e||`` as ``d/de = (I - z z^T) d/dz / ||e||``.

The losses (``tau`` the kernel temperature, which divides squared
distances; :func:`metriclearn._sgd.losses.kernel_temperature`):

- ``LIFTED``: for each positive pair ``(i, j = b + i)``, with ``D`` the
  (not squared) distance and ``N`` the batch's points of another class,
  ``J = log(sum_{n in N} exp(m - D_in) + sum_{n in N} exp(m - D_jn)) + D_ij``
  and the pair's loss ``max(0, J)^2 / 2`` (no negative: ``J = -inf``, no
  loss); the batch's summed loss is ``sum_P max(0, J)^2 / 2``, ``b`` times
  Song et al.'s ``1 / (2 |P|) sum_P max(0, J)^2``;
- ``SUPCON``: every point ``i`` of the batch is an anchor whose positives
  ``P(i)`` are the batch's other points of its class, with
  ``l_ij = -d2(i, j) / tau``, Khosla et al.'s ``L_in`` (the mean over the
  positives inside the logarithm):
  ``ell_i = log sum_{j != i} exp(l_ij) - log sum_{p in P(i)} exp(l_ip)``
  (the constant ``log |P(i)|`` left out), so each positive is pulled in
  proportion to its share ``exp(l_ip) / sum_{p'} exp(l_ip')``, the nearest
  most; anchors with no positive are skipped and the summed loss is ``b``
  times the mean over the others;
- ``DEBIASED``: every point ``i`` is an anchor with its partner (``b + i``
  or ``i - b``) as positive ``p`` and the ``N = m - 2`` other points as
  negatives whatever their class, ``prior`` the class prior ``tau+``:
  ``Ng = max((mean_n exp(l_in) - prior exp(l_ip)) / (1 - prior), floor)``,
  ``ell_i = log(exp(l_ip) + N Ng) - l_ip``; ``floor`` is Chuang et al.'s
  ``exp(-1 / t)`` on the sphere (the least ``exp(cos / t)``, ``-4 / tau``
  in these shifted logits) and the least ``exp(l_in)`` of the anchor's
  negatives off it; the summed loss is ``b`` times the mean over the ``m``
  anchors.
"""

import numpy as np
from numba import njit

from .sgd import _apply_step, embed_rows, unembed_rows
from .sgd_mining import _gather_batch

# loss codes, after those of :mod:`metriclearn._kernels.sgd`
LIFTED = 4
SUPCON = 5
DEBIASED = 6


@njit(cache=True)
def sq_distance_matrix(Z):
    """Squared distances between the rows of ``Z`` (IN), from the Gram
    matrix (clipped at zero; zero on the diagonal)."""
    m, k = Z.shape
    sq = np.empty(m)
    for i in range(m):
        s = 0.0
        for t in range(k):
            s += Z[i, t] * Z[i, t]
        sq[i] = s
    D2 = np.dot(Z, np.ascontiguousarray(Z.T))
    for i in range(m):
        for j in range(m):
            D2[i, j] = max(sq[i] + sq[j] - 2.0 * D2[i, j], 0.0)
        D2[i, i] = 0.0
    return D2


@njit(cache=True)
def laplacian_grad(C, Z):
    """``dZ`` of a function of the squared distances ``d2(i, j)`` of the
    rows of ``Z`` whose derivative in ``d2(i, j)`` is ``C[i, j]`` (both IN):
    ``dZ_i = 2 sum_j (C_ij + C_ji) (z_i - z_j)``."""
    m, k = Z.shape
    S = C + C.T
    SZ = np.dot(S, Z)
    dZ = np.empty((m, k))
    for i in range(m):
        deg = 0.0
        for j in range(m):
            deg += S[i, j]
        for t in range(k):
            dZ[i, t] = 2.0 * (deg * Z[i, t] - SZ[i, t])
    return dZ


@njit(cache=True)
def _pair_sq(Z, i, j):
    s = 0.0
    for t in range(Z.shape[1]):
        diff = Z[i, t] - Z[j, t]
        s += diff * diff
    return s


@njit(cache=True)
def _lifted(Z, cb, b, D2, margin, scale, C):
    """Summed lifted structured loss of the batch; ``C`` (OUT, zeros in)
    receives ``scale`` times its derivatives in the squared distances.

    The two points of a positive pair have the same negatives: each row
    ``x`` keeps ``a_x = log sum_n exp(m - D_xn)`` (shifted by its largest
    term) and the pair's log-sum-exp is ``logaddexp(a_i, a_j)``."""
    m = 2 * b
    D = np.sqrt(D2)
    W = np.zeros((m, m))  # exp(m - D_xn - top_x) over the negatives n of x
    lse = np.full(m, -np.inf)  # a_x
    top = np.full(m, -np.inf)
    for x in range(m):
        for r in range(m):
            if cb[r] != cb[x]:
                top[x] = max(top[x], margin - D[x, r])
        if top[x] == -np.inf:
            continue
        s = 0.0
        for r in range(m):
            if cb[r] != cb[x]:
                e = np.exp(margin - D[x, r] - top[x])
                W[x, r] = e
                s += e
        lse[x] = top[x] + np.log(s)
    total = 0.0
    for i in range(b):
        j = b + i
        if lse[i] == -np.inf:  # no negative in the batch: J = -inf
            continue
        hi = max(lse[i], lse[j])
        pair_lse = hi + np.log(np.exp(lse[i] - hi) + np.exp(lse[j] - hi))
        dij = np.sqrt(_pair_sq(Z, i, j))
        J = pair_lse + dij
        if J <= 0.0:
            continue
        total += 0.5 * J * J
        g = scale * J  # d(J^2 / 2) / dJ
        # dD / d(d2) = 1 / (2 D); a zero distance gets no derivative
        if dij > 0.0:
            C[i, j] += g / (2.0 * dij)
        for x in (i, j):
            f = g * np.exp(top[x] - pair_lse)  # dJ / dD_xn = -W_xn f / g
            for r in range(m):
                if W[x, r] > 0.0 and D[x, r] > 0.0:
                    C[x, r] -= f * W[x, r] / (2.0 * D[x, r])
    return total


@njit(cache=True)
def _supcon(cb, b, D2, tau, scale, C):
    """Summed supervised contrastive loss (L_in, without its constant
    ``log |P(i)|``) of the batch; ``C`` (OUT, zeros in) receives ``scale``
    times its derivatives in the squared distances. Both sums are shifted
    by the anchor's largest logit."""
    m = 2 * b
    n_valid = 0
    for i in range(m):
        for r in range(m):
            if r != i and cb[r] == cb[i]:
                n_valid += 1
                break
    if n_valid == 0:
        return 0.0
    w = b / n_valid
    total = 0.0
    soft = np.empty(m)
    for i in range(m):
        n_pos = 0
        top = -np.inf
        for r in range(m):
            if r != i:
                top = max(top, -D2[i, r] / tau)
                if cb[r] == cb[i]:
                    n_pos += 1
        if n_pos == 0:
            continue
        z = 0.0
        zp = 0.0
        for r in range(m):
            if r != i:
                e = np.exp(-D2[i, r] / tau - top)
                soft[r] = e
                z += e
                if cb[r] == cb[i]:
                    zp += e
        if zp <= 0.0:
            continue
        total += w * (np.log(z) - np.log(zp))
        for r in range(m):
            if r != i:
                dl = soft[r] / z - (soft[r] / zp if cb[r] == cb[i] else 0.0)
                C[i, r] -= scale * w * dl / tau
    return total


@njit(cache=True)
def _debiased(Z, b, D2, tau, prior, normalize, scale, C):
    """Summed debiased contrastive loss of the batch; ``C`` (OUT, zeros in)
    receives ``scale`` times its derivatives in the squared distances."""
    m = 2 * b
    n_neg = m - 2
    if n_neg <= 0:
        return 0.0
    w = 0.5  # b times the mean over the m anchors
    total = 0.0
    for i in range(m):
        p = i + b if i < b else i - b
        lp = -_pair_sq(Z, i, p) / tau
        top = lp
        low = np.inf
        r_low = -1
        for r in range(m):
            if r != i and r != p:
                ln = -D2[i, r] / tau
                top = max(top, ln)
                if ln < low:
                    low = ln
                    r_low = r
        mean = 0.0
        for r in range(m):
            if r != i and r != p:
                mean += np.exp(-D2[i, r] / tau - top)
        mean /= n_neg
        corr = (mean - prior * np.exp(lp - top)) / (1.0 - prior)  # in units of e^top
        log_floor = -4.0 / tau if normalize else low
        clamped = not (corr > 0.0 and top + np.log(corr) > log_floor)
        log_ng = log_floor if clamped else top + np.log(corr)
        x = np.log(n_neg) + log_ng - lp  # loss = log(1 + e^x)
        if x > 0.0:
            total += w * (x + np.log1p(np.exp(-x)))
            q = 1.0 / (1.0 + np.exp(-x))
        else:
            ex = np.exp(x)
            total += w * np.log1p(ex)
            q = ex / (1.0 + ex)
        # dloss/dl_p = -q directly, dloss/dA = q with A = log(N Ng)
        dlp = -q
        if not clamped:
            inv = 1.0 / ((1.0 - prior) * corr)
            dlp -= q * prior * np.exp(lp - top) * inv
            for r in range(m):
                if r != i and r != p:
                    dln = q * np.exp(-D2[i, r] / tau - top) * inv / n_neg
                    C[i, r] -= scale * w * dln / tau
        elif not normalize:
            C[i, r_low] -= scale * w * q / tau
        C[i, p] -= scale * w * dlp / tau
    return total


@njit(cache=True)
def _batch_value_grad(X, codes, anchors, positives, start, b, LT, loss, margin, tau, prior,
                      normalize, scale):
    """Summed loss of the batch of anchors ``start : start + b`` (see the
    module's docstring) and ``scale`` times its gradient over ``L``.

    Every array argument (``X``, ``codes``, ``anchors``, ``positives``,
    ``LT`` = ``L^T`` of shape (d, k)) is IN. Returns ``(loss, grad)`` with
    ``grad`` of shape (k, d).
    """
    Xb, cb = _gather_batch(X, codes, anchors, positives, start, b)
    Z = np.dot(Xb, LT)
    nrm = embed_rows(Z, normalize)
    D2 = sq_distance_matrix(Z)
    m = 2 * b
    C = np.zeros((m, m))
    if loss == LIFTED:
        total = _lifted(Z, cb, b, D2, margin, scale, C)
    elif loss == SUPCON:
        total = _supcon(cb, b, D2, tau, scale, C)
    else:
        total = _debiased(Z, b, D2, tau, prior, normalize, scale, C)
    dZ = laplacian_grad(C, Z)
    unembed_rows(dZ, Z, nrm, normalize)
    return total, np.dot(np.ascontiguousarray(dZ.T), Xb)


@njit(cache=True)
def batch_steps(X, codes, anchors, positives, L0, etas, batch_size, loss, margin,
                temperature, prior, precond, normalize=False):
    """Mini-batch SGD steps on the mean batch loss over ``L``.

    Step ``t`` takes the anchors ``anchors[t B : (t + 1) B]`` with their
    positives and updates ``L <- L - etas[t] (1 / b) grad diag(precond)``,
    ``grad`` the gradient of the batch's summed loss (for ``SUPCON`` and
    ``DEBIASED`` multiplied by ``temperature``, as InfoNCE's steps are, so
    that the step does not grow as the temperature falls).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    codes : ndarray of shape (n_points,), integer, IN
    anchors, positives : ndarray of shape (n_anchors,), integer, IN
    L0 : ndarray of shape (k, d), float64, IN
        Starting map (not modified).
    etas : ndarray of shape (n_steps,), float64, IN
    batch_size : int
    loss : int
        ``LIFTED``, ``SUPCON`` or ``DEBIASED``.
    margin, temperature, prior : float
    precond : ndarray of shape (d,), float64, IN
    normalize : bool

    Returns
    -------
    L : ndarray of shape (k, d), float64
        The map after the steps, newly allocated.
    losses : ndarray of shape (n_steps,), float64
        Summed loss of each batch at the map it was taken at.
    """
    k, d = L0.shape
    n_steps = etas.shape[0]
    L = L0.copy()
    LT = np.ascontiguousarray(L.T)
    losses = np.zeros(n_steps)
    total = anchors.shape[0]
    scale = 1.0 if loss == LIFTED else temperature
    for t in range(n_steps):
        start = t * batch_size
        b = min(batch_size, total - start)
        if b <= 0:
            break
        value, G = _batch_value_grad(X, codes, anchors, positives, start, b, LT, loss,
                                     margin, temperature, prior, normalize, scale)
        losses[t] = value
        c = etas[t] / b
        _apply_step(L, LT, G, c, precond)
    return L, losses


@njit(cache=True)
def batch_loss_grad(X, codes, anchors, positives, L, loss, margin, temperature, prior,
                    normalize=False):
    """Mean loss of one batch (all the anchors given) at ``L`` and its
    gradient: the counterpart of one :func:`batch_steps` step.

    Returns
    -------
    loss : float
        The batch's summed loss over ``b``: Song et al.'s lifted loss, the
        mean over the anchors of the contrastive losses.
    grad : ndarray of shape (k, d), float64
    """
    LT = np.ascontiguousarray(L.T)
    b = anchors.shape[0]
    value, G = _batch_value_grad(X, codes, anchors, positives, 0, b, LT, loss, margin,
                                 temperature, prior, normalize, 1.0)
    return value / b, G / b
