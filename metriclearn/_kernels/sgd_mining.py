"""Kernels of the SGD learners trained from class labels with mined
negatives: target neighbours (the positives of ``sampling='neighbors'``),
the miners, and mini-batch steps whose negatives are mined in the batch.

A batch holds ``b`` anchors and their positives: ``m = 2 b`` points ``X_b``.
Each step costs one GEMM for the embeddings ``E = X_b L^T`` (normalised to
``Z`` on the unit sphere with ``normalize``), one GEMM for the ``b x m``
Gram matrix ``Z_a Z^T`` that gives every anchor-to-point squared distance,
one pass over it to mine the negatives, and one GEMM for the gradient
``dE^T X_b``. With ``miner=ALL`` every anchor keeps every candidate, and the
derivatives form a dense ``b x m`` matrix ``C`` whose weighted graph
Laplacian gives ``dZ`` in two more GEMMs; the other miners keep one
negative per anchor and ``dZ`` is assembled pair by pair.

Every loss depends on ``L`` through squared distances
``d2(i, j) = ||z_i - z_j||^2`` only; with ``c`` its derivative,
``d/dz_i = 2 c (z_i - z_j)``, and with ``normalize`` (``z = e / ||e||``)
``d/de = (I - z z^T) d/dz / ||e||``.
"""

import numpy as np
from numba import njit

from .sgd import (
    CONTRASTIVE,
    HINGE,
    INFONCE,
    TRIPLET,
    _apply_step,
    embed_rows,
    unembed_rows,
)

# negative miners
ALL = 0
HARD = 1
SEMIHARD = 2
EASY = 3

# rows of a block of the target neighbour search
_BLOCK = 256


@njit(cache=True)
def target_neighbors(Xs, bounds, n_neighbors):
    """The ``n_neighbors`` nearest points of the same class of every point,
    in the input space.

    ``Xs`` is sorted by class: class ``c`` holds the rows
    ``bounds[c]:bounds[c + 1]``. A class of ``n_c`` points gives each of its
    points ``min(n_neighbors, n_c - 1)`` neighbours (nearest first; a point
    is never its own neighbour, ties go to the smaller row) and ``-1`` in
    the other entries. Cost: one GEMM of ``block x n_c`` per block of rows.

    Parameters
    ----------
    Xs : ndarray of shape (n, d), float64, IN
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    n_neighbors : int

    Returns
    -------
    targets : ndarray of shape (n, n_neighbors), intp
        Rows of ``Xs``.
    """
    n, d = Xs.shape
    k = n_neighbors
    out = np.full((n, k), -1, dtype=np.intp)
    norms = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(d):
            s += Xs[i, j] * Xs[i, j]
        norms[i] = s
    best_d = np.empty(k)
    best_i = np.empty(k, dtype=np.intp)
    for c in range(bounds.shape[0] - 1):
        cs, ce = bounds[c], bounds[c + 1]
        kc = min(k, ce - cs - 1)
        if kc <= 0:
            continue
        XcT = np.ascontiguousarray(Xs[cs:ce].T)
        for start in range(cs, ce, _BLOCK):
            stop = min(start + _BLOCK, ce)
            G = np.dot(Xs[start:stop], XcT)
            for a in range(stop - start):
                i = start + a
                for t in range(kc):
                    best_d[t] = np.inf
                    best_i[t] = -1
                for col in range(ce - cs):
                    j = cs + col
                    if j == i:
                        continue
                    dist = norms[i] + norms[j] - 2.0 * G[a, col]
                    if dist < best_d[kc - 1]:
                        t = kc - 1
                        while t > 0 and best_d[t - 1] > dist:
                            best_d[t] = best_d[t - 1]
                            best_i[t] = best_i[t - 1]
                            t -= 1
                        best_d[t] = dist
                        best_i[t] = j
                for t in range(kc):
                    out[i, t] = best_i[t]
    return out


@njit(cache=True)
def _mine_row(D2, i, dp, codes_b, miner, margin, u, sel):
    """The mined negatives of anchor ``i`` (row ``i`` of ``D2``) into
    ``sel`` (OUT); returns their number (see :func:`mine_negatives`)."""
    m = D2.shape[1]
    ci = codes_b[i]
    if miner == ALL:
        c = 0
        for j in range(m):
            if codes_b[j] != ci:
                sel[c] = j
                c += 1
        return c
    if miner == HARD:
        best = -1
        for j in range(m):
            if codes_b[j] != ci and D2[i, j] < dp and (best < 0 or D2[i, j] < D2[i, best]):
                best = j
        if best < 0:
            return 0
        sel[0] = best
        return 1
    # semi-hard and easy: count the qualifying candidates, then take the
    # r-th of them, r drawn uniformly by u
    c = 0
    for j in range(m):
        if codes_b[j] != ci:
            dn = D2[i, j]
            if (dp < dn and dn < dp + margin) if miner == SEMIHARD else dn >= dp + margin:
                c += 1
    if c == 0:
        return 0
    r = min(int(u * c), c - 1)
    for j in range(m):
        if codes_b[j] != ci:
            dn = D2[i, j]
            if (dp < dn and dn < dp + margin) if miner == SEMIHARD else dn >= dp + margin:
                if r == 0:
                    sel[0] = j
                    return 1
                r -= 1
    return 0  # not reached


@njit(cache=True)
def mine_negatives(D2, codes_b, miner, margin, u, sel):
    """Mined negatives of each anchor of a batch.

    Anchor ``i`` is point ``i`` of the batch and its positive is point
    ``b + i`` (``b = D2.shape[0]``); its candidate negatives are the batch's
    points of another class (``codes_b[j] != codes_b[i]``). With
    ``dp = D2[i, b + i]`` and ``dn = D2[i, j]``:

    - ``ALL``: every candidate;
    - ``HARD``: the closest candidate among those closer than the positive,
      ``dn < dp`` (the first in batch order on ties); none when no candidate
      is closer than the positive;
    - ``SEMIHARD``: one candidate with ``dp < dn < dp + margin``, drawn
      uniformly by ``u[i]`` in [0, 1);
    - ``EASY``: one candidate with ``dn >= dp + margin``, drawn likewise.

    An anchor with no qualifying candidate gets none (its loss is zero).

    Parameters
    ----------
    D2 : ndarray of shape (b, m), float64, IN
        Squared distances from each anchor to every point of the batch.
    codes_b : ndarray of shape (m,), integer, IN
        Class code of each point of the batch.
    miner : int
    margin : float
    u : ndarray of shape (b,), float64, IN
        Uniform draws in [0, 1) (read by ``SEMIHARD`` and ``EASY``).
    sel : ndarray of shape (b, m), integer, OUT
        Row ``i`` receives the batch columns of the mined negatives of anchor
        ``i`` in ``sel[i, :count[i]]``; its other entries are work space.

    Returns
    -------
    count : ndarray of shape (b,), intp
        Mined negatives of each anchor (0 when none qualifies).
    """
    b = D2.shape[0]
    count = np.zeros(b, dtype=np.intp)
    for i in range(b):
        count[i] = _mine_row(D2, i, D2[i, b + i], codes_b, miner, margin, u[i], sel[i])
    return count


@njit(cache=True)
def _negative_term(loss, dp, dn, margin, alpha, w):
    """Loss and derivative (in ``dn``) of one mined negative of weight ``w``
    for the pair and triplet losses (InfoNCE is handled by its caller)."""
    if loss == TRIPLET:
        h = dp - dn + margin
        if h > 0.0:
            return w * h, -w
        return 0.0, 0.0
    if loss == HINGE:
        if dn < margin:
            return w * alpha * (margin - dn), -w * alpha
        return 0.0, 0.0
    # contrastive: alpha (margin - r)^2 with r = sqrt(dn)
    r = np.sqrt(dn)
    if r < margin:
        return w * alpha * (margin - r) ** 2, (-w * alpha * (margin - r) / r if r > 0.0
                                               else 0.0)
    return 0.0, 0.0


@njit(cache=True)
def _add_pair(dZ, Z, i, j, c):
    """``dZ[i] += 2 c (z_i - z_j)`` and ``dZ[j] -= 2 c (z_i - z_j)`` (dZ INOUT)."""
    for t in range(Z.shape[1]):
        g = 2.0 * c * (Z[i, t] - Z[j, t])
        dZ[i, t] += g
        dZ[j, t] -= g


@njit(cache=True)
def _sq_dist(Z, i, j):
    s = 0.0
    for t in range(Z.shape[1]):
        diff = Z[i, t] - Z[j, t]
        s += diff * diff
    return s


@njit(cache=True)
def _gather_batch(X, codes, anchors, positives, start, b):
    """The ``2 b`` points of a batch (``anchors[start:start + b]``, then
    their positives) and their class codes, newly allocated."""
    d = X.shape[1]
    m = 2 * b
    Xb = np.empty((m, d))
    cb = np.empty(m, dtype=np.intp)
    for i in range(b):
        a = anchors[start + i]
        p = positives[start + i]
        cb[i] = codes[a]
        cb[b + i] = codes[p]
        for j in range(d):
            Xb[i, j] = X[a, j]
            Xb[b + i, j] = X[p, j]
    return Xb, cb


@njit(cache=True)
def _mined_batch(X, codes, anchors, positives, u, start, b, LT, loss, miner, margin,
                temperature, alpha, normalize, step_scale):
    """Summed loss of the anchors ``start : start + b`` and the gradient of
    the summed loss over ``L``, negatives mined among the batch's points at
    ``L`` (:func:`mine_negatives`).

    With ``N_i`` the mined negatives of anchor ``i`` and ``w = 1 / |N_i|``,
    its loss is ``w sum_n max(0, dp - dn + margin)`` (``TRIPLET``),
    ``log(1 + sum_n exp((dp - dn) / temperature))`` (``INFONCE``),
    ``dp + alpha w sum_n max(0, margin - dn)`` (``HINGE``) or
    ``dp + alpha w sum_n max(0, margin - sqrt(dn))^2`` (``CONTRASTIVE``),
    and 0 (``dp`` for the pair losses) when ``N_i`` is empty. The InfoNCE
    derivatives are multiplied by ``step_scale * temperature`` (1 / temperature
    gives the gradient of the loss). Squared distances to the positives and
    to single mined negatives are computed from the embeddings' differences;
    those of ``ALL`` from the Gram matrix.

    Every array argument (``X``, ``codes``, ``anchors``, ``positives``, ``u``,
    ``LT`` = ``L^T`` of shape (d, k)) is IN; the work arrays are allocated
    here. Returns ``(loss, grad)`` with ``grad`` of shape (k, d).
    """
    d, k = LT.shape
    m = 2 * b
    Xb, cb = _gather_batch(X, codes, anchors, positives, start, b)
    Z = np.dot(Xb, LT)
    nrm = embed_rows(Z, normalize)
    sq = np.empty(m)
    for i in range(m):
        s = 0.0
        for t in range(k):
            s += Z[i, t] * Z[i, t]
        sq[i] = s
    D2 = np.dot(Z[:b], np.ascontiguousarray(Z.T))
    for i in range(b):
        for j in range(m):
            D2[i, j] = max(sq[i] + sq[j] - 2.0 * D2[i, j], 0.0)
    dense = miner == ALL
    C = np.zeros((b, m)) if dense else np.zeros((1, 1))
    deg = np.zeros(m)  # row and column sums of C
    dZ = np.zeros((m, k))
    sel = np.empty(m, dtype=np.intp)
    s_buf = np.empty(m)
    pair = loss == HINGE or loss == CONTRASTIVE
    total = 0.0
    for i in range(b):
        dp = _sq_dist(Z, i, b + i)
        nc = _mine_row(D2, i, dp, cb, miner, margin, u[start + i], sel)
        cp = 0.0
        if pair:
            total += dp
            cp = 1.0
        if nc > 0:
            if not dense:
                dn = _sq_dist(Z, i, sel[0])
                D2[i, sel[0]] = dn
            if loss == INFONCE:
                # log(1 + sum_n exp(s_n)), s_n = (dp - dn) / temperature
                top = 0.0
                for r in range(nc):
                    s = (dp - D2[i, sel[r]]) / temperature
                    s_buf[r] = s
                    top = max(top, s)
                z = np.exp(-top)
                for r in range(nc):
                    e = np.exp(s_buf[r] - top)
                    s_buf[r] = e
                    z += e
                total += top + np.log(z)
                scale = step_scale / z
                for r in range(nc):
                    q = s_buf[r] * scale
                    cp += q
                    if dense:
                        j = sel[r]
                        C[i, j] = -q
                        deg[i] -= q
                        deg[j] -= q
                    else:
                        _add_pair(dZ, Z, i, sel[r], -q)
            else:
                w = 1.0 / nc
                for r in range(nc):
                    j = sel[r]
                    value, cn = _negative_term(loss, dp, D2[i, j], margin, alpha, w)
                    total += value
                    if loss == TRIPLET:
                        cp -= cn
                    if cn != 0.0:
                        if dense:
                            C[i, j] = cn
                            deg[i] += cn
                            deg[j] += cn
                        else:
                            _add_pair(dZ, Z, i, j, cn)
        if cp != 0.0:
            _add_pair(dZ, Z, i, b + i, cp)
    if dense:
        # dZ += 2 Lap Z, Lap = diag(rowsum C + colsum C) - C - C^T (C padded to m x m)
        CZ = np.dot(C, Z)
        # (C^T Z_a)^T = Z_a^T C: no transposed copy of C
        ZCt = np.dot(np.ascontiguousarray(Z[:b].T), C)
        for i in range(m):
            for t in range(k):
                dZ[i, t] += 2.0 * (deg[i] * Z[i, t] - ZCt[t, i])
        for i in range(b):
            for t in range(k):
                dZ[i, t] -= 2.0 * CZ[i, t]
    unembed_rows(dZ, Z, nrm, normalize)
    return total, np.dot(np.ascontiguousarray(dZ.T), Xb)


@njit(cache=True)
def mined_steps(X, codes, anchors, positives, u, L0, etas, batch_size, loss, miner,
                margin, temperature, precond, alpha=1.0, normalize=False):
    """Mini-batch SGD steps on the mean mined loss over ``L``.

    Step ``t`` takes the anchors ``anchors[t B : (t + 1) B]`` with their
    positives, mines their negatives among the batch's points
    (:func:`_mined_batch`) and updates
    ``L <- L - etas[t] (1 / b) grad diag(precond)``: a step along the
    gradient of the batch's mean loss (InfoNCE's scaled by the temperature),
    preconditioned by a fixed positive diagonal.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    codes : ndarray of shape (n_points,), integer, IN
        Class code of each point.
    anchors, positives : ndarray of shape (n_anchors,), integer, IN
        Rows of ``X``.
    u : ndarray of shape (n_anchors,), float64, IN
        Draws in [0, 1) for the miners that pick one negative.
    L0 : ndarray of shape (k, d), float64, IN
        Starting map (not modified; the steps run on a copy).
    etas : ndarray of shape (n_steps,), float64, IN
    batch_size : int
    loss, miner : int
    margin, temperature : float
    precond : ndarray of shape (d,), float64, IN
    alpha : float
        Weight of the dissimilar term of the pair losses.
    normalize : bool
        Embed on the unit sphere, ``z = L x / ||L x||``.

    Returns
    -------
    L : ndarray of shape (k, d), float64
        The map after the steps, newly allocated.
    losses : ndarray of shape (n_steps,), float64
        Summed loss of each batch at the map it was taken at (0 for steps
        beyond the end of ``anchors``, which are not taken).
    """
    k, d = L0.shape
    n_steps = etas.shape[0]
    L = L0.copy()
    LT = np.ascontiguousarray(L.T)
    losses = np.zeros(n_steps)
    total = anchors.shape[0]
    B = batch_size
    for t in range(n_steps):
        start = t * B
        b = min(B, total - start)
        if b <= 0:
            break
        value, G = _mined_batch(X, codes, anchors, positives, u, start, b, LT, loss, miner,
                               margin, temperature, alpha, normalize, 1.0)
        losses[t] = value
        c = etas[t] / b
        _apply_step(L, LT, G, c, precond)
    return L, losses


@njit(cache=True)
def mined_loss_grad(X, codes, anchors, positives, u, L, loss, miner, margin, temperature,
                    alpha=1.0, normalize=False):
    """Mean mined loss of one batch (all the anchors given) at ``L`` and its
    gradient: the counterpart of one :func:`mined_steps` step.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    codes : ndarray of shape (n_points,), integer, IN
    anchors, positives : ndarray of shape (b,), integer, IN
    u : ndarray of shape (b,), float64, IN
    L : ndarray of shape (k, d), float64, IN
    loss, miner : int
    margin, temperature, alpha : float
    normalize : bool

    Returns
    -------
    loss : float
        Mean loss over the anchors (for ``INFONCE``, not scaled by
        ``temperature``).
    grad : ndarray of shape (k, d), float64
        Its gradient.
    """
    LT = np.ascontiguousarray(L.T)
    b = anchors.shape[0]
    value, G = _mined_batch(X, codes, anchors, positives, u, 0, b, LT, loss, miner, margin,
                           temperature, alpha, normalize, 1.0 / temperature)
    return value / b, G / b
