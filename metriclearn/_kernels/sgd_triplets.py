"""Kernels of the triplet losses of the SGD learners: mini-batch steps on
given triplets, and on anchors with a positive whose negatives are mined in
the batch.

Both losses depend on ``L`` only through squared learned distances
``d2(a, x) = ||L (x_a - x)||^2``. With ``c`` the derivative of the loss with
respect to each such distance, the gradient is
``2 sum_{(a, x)} c (L (x_a - x)) (x_a - x)^T``:

- for given triplets ``(a, p, n)`` it is two GEMMs per batch, one over the
  differences ``x_a - x_p`` and one over ``x_a - x_n``;
- for mined negatives, the batch's ``m`` points ``X_b`` are embedded once,
  ``E = X_b L^T``, their distances come from a Gram matrix, and with ``C``
  the ``m x m`` matrix of derivatives the gradient is ``2 (Lap E)^T X_b``
  with ``Lap = diag(rowsum C + colsum C) - C - C^T`` (a weighted graph
  Laplacian): three GEMMs whatever the number of (anchor, negative) pairs.
"""

import numpy as np
from numba import njit

# losses
TRIPLET = 0
INFONCE = 1

# negative miners
ALL = 0
HARD = 1
SEMIHARD = 2
EASY = 3

_BLOCK = 2048


@njit(cache=True)
def _softplus(s):
    """``log(1 + exp(s))`` and its derivative ``1 / (1 + exp(-s))``, without
    overflow."""
    if s > 0.0:
        e = np.exp(-s)
        return s + np.log1p(e), 1.0 / (1.0 + e)
    e = np.exp(s)
    return np.log1p(e), e / (1.0 + e)


@njit(cache=True)
def _triplet_batch(X, triplets, order, start, LT, loss, margin, temperature, step_scale,
                   Dp, Dn, Zp, Zn, G):
    """Summed loss of the triplets ``order[start : start + m]`` at ``L``, and
    ``G = sum_i c_i (z_i^p (d_i^p)^T - z_i^n (d_i^n)^T)`` (half the gradient
    of the summed loss) in ``G``.

    For InfoNCE, ``G`` is multiplied by ``step_scale * temperature``:
    ``step_scale = 1 / temperature`` gives the gradient of the loss, and
    ``step_scale = 1`` that of ``temperature`` times the loss (the steps'
    choice: the same minimisers, and gradients bounded like the triplet
    loss's whatever the temperature).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    order : ndarray, integer, IN
    start : int
    LT : ndarray of shape (d, k), float64, C order, IN
        ``L^T``.
    loss : int
    margin, temperature, step_scale : float
    Dp, Dn : ndarray of shape (m, d), float64, OUT
        Overwritten with the differences ``x_a - x_p`` and ``x_a - x_n``.
    Zp, Zn : ndarray of shape (m, k), float64, OUT
        Work arrays: ``D L^T``, then scaled by the loss derivatives.
    G : ndarray of shape (k, d), float64, OUT
        Overwritten with half the gradient (see above).

    Returns
    -------
    loss : float
        Summed loss of the ``m`` triplets (not scaled by ``temperature``).
    """
    m, d = Dp.shape
    k = Zp.shape[1]
    for i in range(m):
        t = order[start + i]
        a = triplets[t, 0]
        p = triplets[t, 1]
        n = triplets[t, 2]
        for j in range(d):
            Dp[i, j] = X[a, j] - X[p, j]
            Dn[i, j] = X[a, j] - X[n, j]
    np.dot(Dp, LT, Zp)
    np.dot(Dn, LT, Zn)
    total = 0.0
    for i in range(m):
        dp = 0.0
        dn = 0.0
        for j in range(k):
            dp += Zp[i, j] * Zp[i, j]
            dn += Zn[i, j] * Zn[i, j]
        if loss == TRIPLET:
            h = dp - dn + margin
            if h > 0.0:
                total += h
                c = 1.0
            else:
                c = 0.0
        else:
            value, sig = _softplus((dp - dn) / temperature)
            total += value
            c = sig * step_scale
        for j in range(k):
            Zp[i, j] *= c
            Zn[i, j] *= -c
    np.dot(Zp.T, Dp, G)
    G += np.dot(Zn.T, Dn)
    return total


@njit(cache=True)
def triplet_steps(X, triplets, order, L0, etas, batch_size, loss, margin, temperature,
                  precond):
    """Mini-batch SGD steps on the mean triplet loss over ``L``.

    Step ``t`` takes the triplets ``order[t B : (t + 1) B]`` and, with ``m``
    triplets in it, updates
    ``L <- L - etas[t] (2 / m) G diag(precond)`` (see :func:`_triplet_batch`),
    a step along the gradient of the batch's mean loss: per triplet
    ``max(0, d2(a, p) - d2(a, n) + margin)`` (``loss=TRIPLET``) or
    ``temperature * log(1 + exp((d2(a, p) - d2(a, n)) / temperature))``
    (``loss=INFONCE`` with one negative, scaled by the temperature; the
    losses returned are not scaled).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
        Rows of ``X``: anchor, positive, negative.
    order : ndarray of shape (n_steps_triplets,), integer, IN
    L0 : ndarray of shape (k, d), float64, IN
        Starting map (not modified; the steps run on a copy).
    etas : ndarray of shape (n_steps,), float64, IN
    batch_size : int
    loss : int
        ``TRIPLET`` or ``INFONCE``.
    margin, temperature : float
    precond : ndarray of shape (d,), float64, IN

    Returns
    -------
    L : ndarray of shape (k, d), float64
        The map after the steps, newly allocated.
    losses : ndarray of shape (n_steps,), float64
        Summed loss of each batch at the map it was taken at (0 for steps
        beyond the end of ``order``, which are not taken).
    """
    k, d = L0.shape
    n_steps = etas.shape[0]
    L = L0.copy()
    LT = np.ascontiguousarray(L.T)
    losses = np.zeros(n_steps)
    B = batch_size
    Dp = np.empty((B, d))
    Dn = np.empty((B, d))
    Zp = np.empty((B, k))
    Zn = np.empty((B, k))
    G = np.empty((k, d))
    total = order.shape[0]
    for t in range(n_steps):
        start = t * B
        m = min(B, total - start)
        if m <= 0:
            break
        if m != Dp.shape[0]:
            Dp = np.empty((m, d))
            Dn = np.empty((m, d))
            Zp = np.empty((m, k))
            Zn = np.empty((m, k))
        losses[t] = _triplet_batch(X, triplets, order, start, LT, loss, margin,
                                   temperature, 1.0, Dp, Dn, Zp, Zn, G)
        c = etas[t] * 2.0 / m
        for r in range(k):
            for j in range(d):
                L[r, j] -= c * precond[j] * G[r, j]
                LT[j, r] = L[r, j]
    return L, losses


@njit(cache=True)
def triplet_loss_grad(X, triplets, L, loss, margin, temperature):
    """Mean triplet loss over all triplets at ``L`` and its gradient (the
    full-batch counterpart of one :func:`triplet_steps` step).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    L : ndarray of shape (k, d), float64, IN
    loss : int
    margin, temperature : float

    Returns
    -------
    loss : float
        Mean loss (for ``INFONCE``, not scaled by ``temperature``).
    grad : ndarray of shape (k, d), float64
        Its gradient.
    """
    k, d = L.shape
    n = triplets.shape[0]
    LT = np.ascontiguousarray(L.T)
    order = np.arange(n)
    grad = np.zeros((k, d))
    G = np.empty((k, d))
    total = 0.0
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        total += _triplet_batch(X, triplets, order, start, LT, loss, margin, temperature,
                                1.0 / temperature, np.empty((m, d)), np.empty((m, d)),
                                np.empty((m, k)), np.empty((m, k)), G)
        grad += G
    return total / n, grad * (2.0 / n)


@njit(cache=True)
def triplet_sq_distances(X, triplets, L):
    """``d2(a, p)`` and ``d2(a, n)`` of every index triplet, block by block.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    L : ndarray of shape (k, d), float64, IN

    Returns
    -------
    d2 : ndarray of shape (n_triplets, 2), float64
    """
    k, d = L.shape
    n = triplets.shape[0]
    LT = np.ascontiguousarray(L.T)
    out = np.empty((n, 2))
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        D = np.empty((2 * m, d))
        for i in range(m):
            a = triplets[start + i, 0]
            for j in range(d):
                D[2 * i, j] = X[a, j] - X[triplets[start + i, 1], j]
                D[2 * i + 1, j] = X[a, j] - X[triplets[start + i, 2], j]
        Z = np.dot(D, LT)
        for i in range(2 * m):
            s = 0.0
            for j in range(k):
                s += Z[i, j] * Z[i, j]
            out[start + i // 2, i % 2] = s
    return out


# --------------------------------------------------------------------------
# anchors and positives, negatives mined in the batch
# --------------------------------------------------------------------------


@njit(cache=True)
def mine_negatives(D2, codes_b, miner, margin, u, sel):
    """Mined negatives of each anchor of a batch.

    Anchor ``i`` is point ``i`` of the batch and its positive is point
    ``b + i`` (``b = D2.shape[0]``); its candidate negatives are the batch's
    points of another class (``codes_b[j] != codes_b[i]``). With
    ``dp = D2[i, b + i]`` and ``dn = D2[i, j]``:

    - ``ALL``: every candidate;
    - ``HARD``: the closest candidate (the first in batch order on ties);
    - ``SEMIHARD``: one candidate with ``dp < dn < dp + margin``, drawn
      uniformly by ``u[i]`` in [0, 1);
    - ``EASY``: one candidate with ``dn >= dp + margin``, drawn likewise.

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
    b, m = D2.shape
    count = np.zeros(b, dtype=np.intp)
    for i in range(b):
        ci = codes_b[i]
        dp = D2[i, b + i]
        if miner == ALL:
            c = 0
            for j in range(m):
                if codes_b[j] != ci:
                    sel[i, c] = j
                    c += 1
            count[i] = c
        elif miner == HARD:
            best = -1
            for j in range(m):
                if codes_b[j] != ci and (best < 0 or D2[i, j] < D2[i, best]):
                    best = j
            if best >= 0:
                sel[i, 0] = best
                count[i] = 1
        else:
            c = 0
            for j in range(m):
                if codes_b[j] == ci:
                    continue
                dn = D2[i, j]
                if miner == SEMIHARD:
                    ok = dp < dn and dn < dp + margin
                else:
                    ok = dn >= dp + margin
                if ok:
                    sel[i, c] = j
                    c += 1
            if c > 0:
                r = min(int(u[i] * c), c - 1)
                sel[i, 0] = sel[i, r]
                count[i] = 1
    return count


@njit(cache=True)
def _mined_batch(X, codes, anchors, positives, u, start, b, LT, loss, miner, margin,
                 temperature, step_scale):
    """Summed loss of the anchors ``start : start + b`` and half the gradient
    of the summed loss (``G``, shape ``(k, d)``), with negatives mined among
    the batch's points at ``L`` (``step_scale`` as in :func:`_triplet_batch`).

    Every array argument (``X``, ``codes``, ``anchors``, ``positives``, ``u``,
    ``LT``) is IN; the batch's work arrays are allocated here. Returns
    ``(loss, G)``.
    """
    d, k = LT.shape
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
    E = np.dot(Xb, LT)
    sq = np.empty(m)
    for i in range(m):
        s = 0.0
        for j in range(k):
            s += E[i, j] * E[i, j]
        sq[i] = s
    D2 = np.dot(E[:b], E.T)
    for i in range(b):
        for j in range(m):
            D2[i, j] = max(sq[i] + sq[j] - 2.0 * D2[i, j], 0.0)
    sel = np.empty((b, m), dtype=np.intp)
    count = mine_negatives(D2, cb, miner, margin, u[start:start + b], sel)
    C = np.zeros((b, m))
    s_buf = np.empty(m)
    total = 0.0
    for i in range(b):
        nc = count[i]
        if nc == 0:
            continue
        dp = D2[i, b + i]
        if loss == TRIPLET:
            w = 1.0 / nc
            for r in range(nc):
                j = sel[i, r]
                h = dp - D2[i, j] + margin
                if h > 0.0:
                    total += w * h
                    C[i, b + i] += w
                    C[i, j] -= w
        else:
            # log(1 + sum_n exp(s_n)), s_n = (dp - dn) / temperature
            top = 0.0
            for r in range(nc):
                s = (dp - D2[i, sel[i, r]]) / temperature
                s_buf[r] = s
                if s > top:
                    top = s
            z = np.exp(-top)
            for r in range(nc):
                z += np.exp(s_buf[r] - top)
            total += top + np.log(z)
            for r in range(nc):
                q = np.exp(s_buf[r] - top) / z * step_scale
                C[i, b + i] += q
                C[i, sel[i, r]] -= q
    # Y = Lap E with Lap = diag(rowsum C + colsum C) - C - C^T (C padded to m x m)
    deg = np.zeros(m)
    for i in range(b):
        for j in range(m):
            deg[i] += C[i, j]
            deg[j] += C[i, j]
    Y = np.empty((m, k))
    for i in range(m):
        for j in range(k):
            Y[i, j] = deg[i] * E[i, j]
    Y[:b] -= np.dot(C, E)
    Y -= np.dot(C.T, E[:b])
    return total, np.dot(Y.T, Xb)


@njit(cache=True)
def mined_steps(X, codes, anchors, positives, u, L0, etas, batch_size, loss, miner,
                margin, temperature, precond):
    """Mini-batch SGD steps on the mean mined triplet loss over ``L``.

    Step ``t`` takes the anchors ``anchors[t B : (t + 1) B]`` with their
    positives; the negatives of each anchor are mined among the other points
    of the batch (anchors and positives) of another class
    (:func:`mine_negatives`, with the draws ``u``). With ``N_i`` the mined
    negatives of anchor ``i``, its loss is
    ``(1 / |N_i|) sum_{n in N_i} max(0, d2(a, p) - d2(a, n) + margin)``
    (``loss=TRIPLET``) or
    ``log(1 + sum_{n in N_i} exp((d2(a, p) - d2(a, n)) / temperature))``
    (``loss=INFONCE``; the step follows ``temperature`` times it), and 0
    when ``N_i`` is empty; the step follows the gradient of the batch's mean
    loss, preconditioned by ``precond``.

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
        value, G = _mined_batch(X, codes, anchors, positives, u, start, b, LT, loss,
                                miner, margin, temperature, 1.0)
        losses[t] = value
        c = etas[t] * 2.0 / b
        for r in range(k):
            for j in range(d):
                L[r, j] -= c * precond[j] * G[r, j]
                LT[j, r] = L[r, j]
    return L, losses


@njit(cache=True)
def mined_loss_grad(X, codes, anchors, positives, u, L, loss, miner, margin, temperature):
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
    margin, temperature : float

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
    value, G = _mined_batch(X, codes, anchors, positives, u, 0, b, LT, loss, miner,
                            margin, temperature, 1.0 / temperature)
    return value / b, G * (2.0 / b)
