"""Kernels of SGDMetricLearner: mini-batch steps of the pair losses over
``L`` (hinge, contrastive), squared learned distances of index pairs, block
by block, and the embedding on the unit sphere that every SGD kernel shares.

Every pair is two row indices into a point array ``X``; point pairs of shape
``(n, 2, d)`` are handed in as ``X = pairs.reshape(2 n, d)`` with index pairs
``(2 i, 2 i + 1)``, so one kernel serves both input forms. A mini-batch is
gathered into a preallocated ``(B, d)`` buffer of differences ``D`` and costs
two GEMMs: ``Z = D L^T`` and ``G = (w * Z)^T D``.

With ``normalize`` the losses compare points embedded on the unit sphere,
``z = L x / ||L x||``: distances are no longer those of differences, so a
batch gathers its ``2 B`` points ``P``, embeds them (``E = P L^T``,
normalised rows ``Z``), and maps the derivatives in ``Z`` back through the
normalisation, ``d/de = (I - z z^T) d/dz / ||e||``, before the gradient
GEMM ``dE^T P``: twice the work of a plain step.
"""

import numpy as np
from numba import njit

# the losses (``loss`` argument of the kernels): the pair losses of this
# module, the triplet losses of :mod:`.sgd_triplets`; every code distinct, for
# the mined kernels of :mod:`.sgd_mining` take them all
HINGE = 0
CONTRASTIVE = 1
TRIPLET = 2
INFONCE = 3

# Rows per block in ``pair_sq_distances``: GEMMs large enough for BLAS to run
# at full speed, buffers small enough to stay in cache.
_BLOCK = 2048


@njit(cache=True)
def embed_rows(Z, normalize):
    """Norms of the rows of ``Z`` (INOUT), and with ``normalize`` the rows
    divided by them (a row of norm zero stays zero).

    Returns
    -------
    norms : ndarray of shape (n_rows,), float64
    """
    n, k = Z.shape
    norms = np.empty(n)
    for i in range(n):
        s = 0.0
        for t in range(k):
            s += Z[i, t] * Z[i, t]
        r = np.sqrt(s)
        norms[i] = r
        if normalize and r > 0.0:
            for t in range(k):
                Z[i, t] /= r
    return norms


@njit(cache=True)
def unembed_rows(dZ, Z, norms, normalize):
    """With ``normalize``, map derivatives in the normalised rows ``z = e /
    ||e||`` to derivatives in ``e``: ``dZ[i] <- (dZ[i] - (z_i . dZ[i]) z_i) /
    ||e_i||`` (0 for a row of norm zero). Without, leave ``dZ`` as it is.

    ``dZ`` is INOUT; ``Z`` (the normalised rows) and ``norms`` are IN.
    """
    if not normalize:
        return
    n, k = dZ.shape
    for i in range(n):
        r = norms[i]
        if r == 0.0:
            for t in range(k):
                dZ[i, t] = 0.0
            continue
        s = 0.0
        for t in range(k):
            s += Z[i, t] * dZ[i, t]
        for t in range(k):
            dZ[i, t] = (dZ[i, t] - s * Z[i, t]) / r


@njit(cache=True)
def _gather(X, pairs, order, start, buf):
    """``buf[i] = X[pairs[order[start + i], 0]] - X[pairs[order[start + i], 1]]``.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    pairs : ndarray of shape (n_pairs, 2), integer, IN
    order : ndarray, integer, IN
    start : int
    buf : ndarray of shape (m, d), float64, OUT
        Overwritten; ``m`` rows are gathered.
    """
    m, d = buf.shape
    for i in range(m):
        p = order[start + i]
        a = pairs[p, 0]
        b = pairs[p, 1]
        for j in range(d):
            buf[i, j] = X[a, j] - X[b, j]


@njit(cache=True)
def _batch_weights(Z, labels, order, start, alpha, margin, sq, w):
    """Squared norms ``sq`` of the rows of ``Z``, loss weights ``w`` and the
    summed loss of the batch.

    ``w`` is 1 for a similar pair and ``-alpha`` for a dissimilar pair whose
    hinge ``margin - sq`` is active (0 otherwise): the gradient of the batch
    loss is then ``2 (w * Z)^T D`` summed over the batch.

    Parameters
    ----------
    Z : ndarray of shape (m, k), float64, IN
        Mapped differences of the batch.
    labels : ndarray of shape (n_pairs,), integer, IN
    order : ndarray, integer, IN
    start : int
    alpha, margin : float
    sq : ndarray of shape (m,), float64, OUT
    w : ndarray of shape (m,), float64, OUT

    Returns
    -------
    loss : float
    """
    m, k = Z.shape
    loss = 0.0
    for i in range(m):
        s = 0.0
        for j in range(k):
            s += Z[i, j] * Z[i, j]
        sq[i] = s
        if labels[order[start + i]] > 0:
            w[i] = 1.0
            loss += s
        elif s < margin:
            w[i] = -alpha
            loss += alpha * (margin - s)
        else:
            w[i] = 0.0
    return loss


@njit(cache=True)
def _contrastive_weights(Z, labels, order, start, alpha, margin, sq, w):
    """:func:`_batch_weights` for the contrastive loss: ``sq`` for a similar
    pair, ``alpha (margin - ||z||)^2`` for a dissimilar pair closer than
    ``margin`` (the margin is on the distance, not its square).

    ``w`` is the derivative of the pair's loss with respect to ``sq``: 1, or
    ``-alpha (margin - r) / r`` with ``r = ||z||`` (0 when ``r = 0``, where
    the loss has no gradient; ``w z`` stays bounded as ``r`` goes to 0).

    Arguments as in :func:`_batch_weights` (``sq`` and ``w`` OUT, the others
    IN); returns the summed loss.
    """
    m, k = Z.shape
    loss = 0.0
    for i in range(m):
        s = 0.0
        for j in range(k):
            s += Z[i, j] * Z[i, j]
        sq[i] = s
        if labels[order[start + i]] > 0:
            w[i] = 1.0
            loss += s
        else:
            r = np.sqrt(s)
            if r < margin:
                loss += alpha * (margin - r) * (margin - r)
                w[i] = -alpha * (margin - r) / r if r > 0.0 else 0.0
            else:
                w[i] = 0.0
    return loss


@njit(cache=True)
def _weights(Z, labels, order, start, alpha, margin, sq, w, loss):
    """:func:`_contrastive_weights` when ``loss == CONTRASTIVE``, else
    :func:`_batch_weights` (``sq`` and ``w`` OUT, the other arrays IN)."""
    if loss == CONTRASTIVE:
        return _contrastive_weights(Z, labels, order, start, alpha, margin, sq, w)
    return _batch_weights(Z, labels, order, start, alpha, margin, sq, w)


@njit(cache=True)
def _sphere_batch(X, pairs, labels, order, start, m, LT, alpha, margin, loss):
    """Summed loss of the pairs ``order[start : start + m]`` embedded on the
    unit sphere at ``L``, and the gradient of the summed loss (shape
    ``(k, d)``). Every array argument is IN (``LT`` is ``L^T``)."""
    d, k = LT.shape
    P = np.empty((2 * m, d))
    for i in range(m):
        p = order[start + i]
        a = pairs[p, 0]
        b = pairs[p, 1]
        for j in range(d):
            P[i, j] = X[a, j]
            P[m + i, j] = X[b, j]
    E = np.dot(P, LT)
    norms = embed_rows(E, True)
    Zd = E[:m] - E[m:]
    sq = np.empty(m)
    w = np.empty(m)
    value = _weights(Zd, labels, order, start, alpha, margin, sq, w, loss)
    dZ = np.empty((2 * m, k))
    for i in range(m):
        for t in range(k):
            g = 2.0 * w[i] * Zd[i, t]
            dZ[i, t] = g
            dZ[m + i, t] = -g
    unembed_rows(dZ, E, norms, True)
    return value, np.dot(np.ascontiguousarray(dZ.T), P)


@njit(cache=True)
def _apply_step(L, LT, G, c, precond):
    """One preconditioned step in place: ``L <- L - c G diag(precond)``, with
    ``LT`` kept equal to ``L^T``."""
    k, d = L.shape
    for r in range(k):
        for j in range(d):
            L[r, j] -= c * precond[j] * G[r, j]
            LT[j, r] = L[r, j]


@njit(cache=True)
def sgd_steps(X, pairs, labels, order, L0, etas, batch_size, alpha, margin, precond,
              loss=HINGE, normalize=False):
    """Mini-batch SGD steps on the mean pair hinge loss over ``L`` (or, with
    ``loss=CONTRASTIVE``, the contrastive loss).

    Step ``t`` takes the pairs ``order[t B : (t + 1) B]`` (the last batch may
    be shorter), and with ``m`` pairs in it and ``d_i`` their differences
    updates

    ``L <- L - etas[t] * (2 / m) * (sum_i w_i (L d_i) d_i^T) diag(precond)``

    a step along the gradient of the batch's mean loss
    ``(1 / m) sum_i [y_i = +1] ||L d_i||^2 + alpha [y_i = -1] max(0, margin - ||L d_i||^2)``
    taken at the ``L`` before the step, preconditioned by a fixed positive
    diagonal (one factor per feature). The contrastive loss replaces the
    dissimilar term by ``alpha max(0, margin - ||L d_i||)^2`` and ``w_i`` by
    its derivative with respect to ``||L d_i||^2``. With ``normalize`` the
    learned distances are those of the points embedded on the unit sphere,
    ``||z_a - z_b||`` with ``z = L x / ||L x||``, and the step follows the
    gradient through the normalisation.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    pairs : ndarray of shape (n_pairs, 2), integer, IN
        Row indices into ``X``.
    labels : ndarray of shape (n_pairs,), integer, IN
        ``> 0`` means similar.
    order : ndarray of shape (n_steps_pairs,), integer, IN
        Which pairs, in which order; ``len(etas)`` batches are taken from it.
    L0 : ndarray of shape (k, d), float64, C order, IN
        Starting map (not modified; the steps run on a copy).
    etas : ndarray of shape (n_steps,), float64, IN
        Learning rate of each step.
    batch_size : int
    alpha, margin : float
    precond : ndarray of shape (d,), float64, IN
        Diagonal preconditioner: column ``j`` of every step is multiplied by
        ``precond[j]``.
    loss : int
        ``HINGE`` (0) or ``CONTRASTIVE`` (1).
    normalize : bool

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
    D = np.empty((B, d))
    Z = np.empty((B, k))
    G = np.empty((k, d))
    sq = np.empty(B)
    w = np.empty(B)
    total = order.shape[0]
    for t in range(n_steps):
        start = t * B
        m = min(B, total - start)
        if m <= 0:
            break
        if normalize:
            losses[t], G = _sphere_batch(X, pairs, labels, order, start, m, LT, alpha,
                                         margin, loss)
            c = etas[t] / m
            _apply_step(L, LT, G, c, precond)
            continue
        if m != D.shape[0]:
            D = np.empty((m, d))
            Z = np.empty((m, k))
            sq = np.empty(m)
            w = np.empty(m)
        _gather(X, pairs, order, start, D)
        np.dot(D, LT, Z)
        losses[t] = _weights(Z, labels, order, start, alpha, margin, sq, w, loss)
        for i in range(m):
            wi = w[i]
            for j in range(k):
                Z[i, j] *= wi
        np.dot(Z.T, D, G)
        c = etas[t] * 2.0 / m
        _apply_step(L, LT, G, c, precond)
    return L, losses


@njit(cache=True)
def pair_loss_grad(X, pairs, labels, L, alpha, margin, loss=HINGE, normalize=False):
    """Mean pair loss (hinge or contrastive) over all pairs at ``L`` and its
    gradient, in blocks (the full-batch counterpart of one :func:`sgd_steps`
    step).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    pairs : ndarray of shape (n_pairs, 2), integer, IN
    labels : ndarray of shape (n_pairs,), integer, IN
    L : ndarray of shape (k, d), float64, IN
    alpha, margin : float
    loss : int
        ``HINGE`` or ``CONTRASTIVE``.
    normalize : bool
        Compare the points embedded on the unit sphere.

    Returns
    -------
    loss : float
        Mean loss over the pairs.
    grad : ndarray of shape (k, d), float64
    """
    k, d = L.shape
    n = pairs.shape[0]
    LT = np.ascontiguousarray(L.T)
    order = np.arange(n)
    grad = np.zeros((k, d))
    total = 0.0
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        if normalize:
            value, G = _sphere_batch(X, pairs, labels, order, start, m, LT, alpha, margin,
                                     loss)
            total += value
            grad += 0.5 * G
            continue
        D = np.empty((m, d))
        Z = np.empty((m, k))
        sq = np.empty(m)
        w = np.empty(m)
        _gather(X, pairs, order, start, D)
        np.dot(D, LT, Z)
        total += _weights(Z, labels, order, start, alpha, margin, sq, w, loss)
        for i in range(m):
            for j in range(k):
                Z[i, j] *= w[i]
        grad += np.dot(Z.T, D)
    return total / n, grad * (2.0 / n)


@njit(cache=True)
def pair_sq_distances(X, pairs, L, normalize=False):
    """``||L (X[a] - X[b])||^2`` for every index pair ``(a, b)``, block by
    block (never an ``(n_pairs, d)`` array of differences); with
    ``normalize``, ``||z_a - z_b||^2`` with ``z = L x / ||L x||``.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    pairs : ndarray of shape (n_pairs, 2), integer, IN
    L : ndarray of shape (k, d), float64, IN
    normalize : bool

    Returns
    -------
    sq : ndarray of shape (n_pairs,), float64
    """
    k, d = L.shape
    n = pairs.shape[0]
    LT = np.ascontiguousarray(L.T)
    order = np.arange(n)
    out = np.empty(n)
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        if normalize:
            P = np.empty((2 * m, d))
            for i in range(m):
                for j in range(d):
                    P[i, j] = X[pairs[start + i, 0], j]
                    P[m + i, j] = X[pairs[start + i, 1], j]
            E = np.dot(P, LT)
            embed_rows(E, True)
            Z = E[:m] - E[m:]
        else:
            D = np.empty((m, d))
            Z = np.empty((m, k))
            _gather(X, pairs, order, start, D)
            np.dot(D, LT, Z)
        for i in range(m):
            s = 0.0
            for j in range(k):
                s += Z[i, j] * Z[i, j]
            out[start + i] = s
    return out
