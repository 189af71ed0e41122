"""Kernels of LMNN (Weinberger & Saul 2009): target neighbours, and the push
loss with its gradient weights from a blockwise impostor search.

Every kernel takes the points sorted by class, so that the points of class
``c`` are the rows ``bounds[c]:bounds[c + 1]``. No kernel builds an
``n x n`` matrix: distances are formed ``block x chunk`` at a time (one GEMM
per tile), so the memory they need beyond their outputs is one tile per
thread.
"""

import numpy as np
from numba import njit, prange

# Rows (anchors) per block and columns per GEMM tile: a tile of
# ``_BLOCK x _CHUNK`` float64 distances is 2 MiB.
_BLOCK = 128
_CHUNK = 2048


@njit(cache=True)
def class_blocks(bounds, block):
    """Blocks of at most ``block`` consecutive rows that never straddle two
    classes: an array of ``(start, stop, class_start, class_stop)`` rows."""
    n_classes = bounds.shape[0] - 1
    count = 0
    for c in range(n_classes):
        size = bounds[c + 1] - bounds[c]
        count += (size + block - 1) // block
    out = np.empty((count, 4), dtype=np.intp)
    b = 0
    for c in range(n_classes):
        for start in range(bounds[c], bounds[c + 1], block):
            out[b, 0] = start
            out[b, 1] = min(start + block, bounds[c + 1])
            out[b, 2] = bounds[c]
            out[b, 3] = bounds[c + 1]
            b += 1
    return out


@njit(cache=True)
def _sq_norms(Z):
    n, r = Z.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for t in range(r):
            s += Z[i, t] * Z[i, t]
        out[i] = s
    return out


@njit(cache=True)
def _sq_dist(Z, a, b):
    """``||Z[a] - Z[b]||^2``, summed in four interleaved partial sums (an
    exact, fixed order that lets the additions overlap)."""
    r = Z.shape[1]
    s0 = s1 = s2 = s3 = 0.0
    t = 0
    while t + 4 <= r:
        e0 = Z[a, t] - Z[b, t]
        e1 = Z[a, t + 1] - Z[b, t + 1]
        e2 = Z[a, t + 2] - Z[b, t + 2]
        e3 = Z[a, t + 3] - Z[b, t + 3]
        s0 += e0 * e0
        s1 += e1 * e1
        s2 += e2 * e2
        s3 += e3 * e3
        t += 4
    while t < r:
        e0 = Z[a, t] - Z[b, t]
        s0 += e0 * e0
        t += 1
    return (s0 + s1) + (s2 + s3)


def _target_neighbors(X, bounds, n_neighbors, block):
    """The ``n_neighbors`` nearest points of the same class of every point.

    ``X`` is sorted by class (``bounds`` as in the module docstring). A point
    is never its own neighbour, also when it has duplicates (those are other
    points, at distance zero). Ties are broken by the smaller index. Returns
    an ``(n, n_neighbors)`` array of row indices, nearest first.
    """
    n = X.shape[0]
    k = n_neighbors
    blocks = class_blocks(bounds, block)
    norms = _sq_norms(X)
    out = np.empty((n, k), dtype=np.intp)
    for b in prange(blocks.shape[0]):
        start, stop, cs, ce = blocks[b, 0], blocks[b, 1], blocks[b, 2], blocks[b, 3]
        best_d = np.empty(k)
        best_i = np.empty(k, dtype=np.intp)
        G = np.dot(X[start:stop], X[cs:ce].T)
        for a in range(stop - start):
            i = start + a
            for t in range(k):
                best_d[t] = np.inf
                best_i[t] = -1
            for c in range(ce - cs):
                j = cs + c
                if j == i:
                    continue
                d = norms[i] + norms[j] - 2.0 * G[a, c]
                # insertion into the sorted short list (ties: smaller index,
                # which comes first in the scan, stays ahead)
                if d < best_d[k - 1]:
                    t = k - 1
                    while t > 0 and best_d[t - 1] > d:
                        best_d[t] = best_d[t - 1]
                        best_i[t] = best_i[t - 1]
                        t -= 1
                    best_d[t] = d
                    best_i[t] = j
            for t in range(k):
                out[i, t] = best_i[t]
    return out


target_neighbors = njit(cache=True)(_target_neighbors)
_target_neighbors_parallel = njit(cache=True, parallel=True)(_target_neighbors)


@njit(cache=True)
def target_distances(Z, targets):
    """Squared distances ``||z_i - z_{targets[i, t]}||^2``, shape ``(n, k)``."""
    n, k = targets.shape
    out = np.empty((n, k))
    for i in range(n):
        for t in range(k):
            out[i, t] = _sq_dist(Z, i, targets[i, t])
    return out


@njit(cache=True)
def target_weight_terms(X, targets, weights):
    """Row sums, column sums and ``W @ X`` of the sparse ``n x n`` matrix
    ``W`` with ``W[i, targets[i, t]] = weights[i, t]``.

    With them, ``sum_ij W_ij (x_i - x_j)(x_i - x_j)^T`` is
    ``X^T diag(s + c) X - X^T P - P^T X`` (see :func:`push_loss_terms`).
    """
    n, k = targets.shape
    d = X.shape[1]
    s = np.zeros(n)
    c = np.zeros(n)
    P = np.zeros((n, d))
    for i in range(n):
        for t in range(k):
            w = weights[i, t]
            if w == 0.0:
                continue
            j = targets[i, t]
            s[i] += w
            c[j] += w
            for f in range(d):
                P[i, f] += w * X[j, f]
    return s, c, P


@njit(cache=True)
def _row_terms(i, others, m, X, Z, dist_t, radii, loss, n_active, w_target, s, c, P):
    """Add the pairs ``(i, l)`` for ``l`` in ``others[:m]`` (points of other
    classes) to row ``i`` of the outputs of :func:`push_loss_terms`.

    Called once per row and tile rather than once per pair: a call passes
    arrays, whose reference counting would otherwise cost more than the pair.
    """
    k = dist_t.shape[1]
    d = X.shape[1]
    for q in range(m):
        l = others[q]
        dil = _sq_dist(Z, i, l)
        if dil < radii[i]:
            # i anchors: triplets (i, j, l)
            w = 0.0
            for t in range(k):
                h = 1.0 + dist_t[i, t] - dil
                if h > 0.0:
                    loss[i] += h * h
                    n_active[i] += 1
                    w_target[i, t] += 2.0 * h
                    w -= 2.0 * h
            if w != 0.0:
                s[i] += w
                for f in range(d):
                    P[i, f] += w * X[l, f]
        if dil < radii[l]:
            # l anchors: its triplets (l, j, i) put weight on W[l, i], which
            # is in the column sum of i
            w = 0.0
            for t in range(k):
                h = 1.0 + dist_t[l, t] - dil
                if h > 0.0:
                    w -= 2.0 * h
            c[i] += w


@njit(cache=True)
def margin_radii(dist_t):
    """``1 + max_j dist_t[i, j]``: inside it, a point of another class is an
    impostor of ``i``."""
    n, k = dist_t.shape
    radii = np.empty(n)
    for i in range(n):
        m = 0.0
        for t in range(k):
            if dist_t[i, t] > m:
                m = dist_t[i, t]
        radii[i] = 1.0 + m
    return radii


def _push_loss_terms(X, Z, bounds, targets, dist_t, block, chunk, record, cap):
    """Squared-hinge push loss of LMNN and the pair weights of its gradient.

    For every point ``i`` (sorted by class), its targets ``j`` (rows of
    ``targets``, squared distances ``dist_t`` in the space of ``Z = X L^T``)
    and every point ``l`` of another class, the triplet ``(i, j, l)`` costs
    ``max(0, 1 + dist_t[i, j] - ||z_i - z_l||^2)^2``. Only ``l`` inside the
    margin radius ``1 + max_j dist_t[i, j]`` of ``i`` (the impostors of
    ``i``) can cost anything; they are found by scanning, per block of
    anchors, tiles of the other classes' points (one GEMM per tile, exact
    distances recomputed for the candidates).

    The gradient of the push loss with respect to ``L`` is
    ``2 L sum_pq W_pq (x_p - x_q)(x_p - x_q)^T`` for the sparse matrix
    ``W`` with ``W[i, j] += 2 h`` and ``W[i, l] -= 2 h`` for each active
    triplet of hinge ``h``. That sum is ``X^T diag(s + c) X - X^T P - P^T X``
    with ``s`` the row sums of ``W``, ``c`` its column sums and ``P = W X``.
    ``W`` itself is never formed: its target part is returned as an
    ``(n, k)`` array ``w_target``, and its impostor part is folded into
    ``s``, ``c`` and ``P`` row by row. The column sum of a point ``l`` is
    gathered while scanning ``l``'s own row (the pair ``(i, l)`` is seen
    from both ends), so every output row is written by one block only and
    the blocks run in parallel without races.

    The scan also records, for each row ``i``, up to ``cap`` points ``l``
    with ``||z_i - z_l||^2 < max(record[i], record[l])`` (``record`` at
    least the margin radii), for :func:`push_loss_terms_cached`; ``count[i]``
    is their number (above ``cap`` when some did not fit).

    Returns
    -------
    loss : ndarray of shape (n,)
        Push loss of the triplets anchored at each point.
    n_active : ndarray of shape (n,)
        Number of active triplets anchored at each point.
    w_target : ndarray of shape (n, k)
        Weights ``W[i, targets[i, t]]`` of the push loss.
    s, c : ndarray of shape (n,)
        Row and column sums of the impostor part of ``W``.
    P : ndarray of shape (n, n_features)
        ``W_impostor @ X``.
    candidates : ndarray of shape (n, cap), int32
    count : ndarray of shape (n,)
    """
    n, k = targets.shape
    d = X.shape[1]
    blocks = class_blocks(bounds, block)
    norms = _sq_norms(Z)
    radii = margin_radii(dist_t)
    loss = np.zeros(n)
    n_active = np.zeros(n, dtype=np.intp)
    w_target = np.zeros((n, k))
    s = np.zeros(n)
    c = np.zeros(n)
    P = np.zeros((n, d))
    candidates = np.empty((n, cap), dtype=np.int32)
    count = np.zeros(n, dtype=np.intp)
    for b in prange(blocks.shape[0]):
        start, stop, cs, ce = blocks[b, 0], blocks[b, 1], blocks[b, 2], blocks[b, 3]
        Zb = Z[start:stop]
        found = np.empty(chunk, dtype=np.intp)
        # the other classes: columns [0, cs) and [ce, n)
        for part in range(2):
            lo = 0 if part == 0 else ce
            hi = cs if part == 0 else n
            for c0 in range(lo, hi, chunk):
                c1 = min(c0 + chunk, hi)
                G = np.dot(Zb, Z[c0:c1].T)
                for a in range(stop - start):
                    i = start + a
                    ti = record[i]
                    m = 0
                    for q in range(c1 - c0):
                        l = c0 + q
                        est = norms[i] + norms[l] - 2.0 * G[a, q]
                        # GEMM rounding is at most a few ulps of the norms
                        bound = max(ti, record[l]) + 1e-10 * (norms[i] + norms[l])
                        if est < bound:
                            found[m] = l
                            m += 1
                    for q in range(m):
                        if count[i] < cap:
                            candidates[i, count[i]] = found[q]
                        count[i] += 1
                    if m:
                        _row_terms(i, found, m, X, Z, dist_t, radii, loss, n_active,
                                   w_target, s, c, P)
    return loss, n_active, w_target, s, c, P, candidates, count


def _push_loss_terms_cached(X, Z, targets, dist_t, candidates, count):
    """:func:`push_loss_terms` over the recorded candidate pairs only.

    Exact whenever every pair that is an impostor in either direction under
    the current ``Z`` is among row ``i``'s ``candidates[i, :count[i]]`` (the
    estimator guarantees it by bounding how far ``L`` moved since the scan).
    """
    n, k = targets.shape
    d = X.shape[1]
    radii = margin_radii(dist_t)
    loss = np.zeros(n)
    n_active = np.zeros(n, dtype=np.intp)
    w_target = np.zeros((n, k))
    s = np.zeros(n)
    c = np.zeros(n)
    P = np.zeros((n, d))
    for i in prange(n):
        _row_terms(i, candidates[i], count[i], X, Z, dist_t, radii, loss, n_active,
                   w_target, s, c, P)
    return loss, n_active, w_target, s, c, P


push_loss_terms_cached = njit(cache=True)(_push_loss_terms_cached)
_push_loss_terms_cached_parallel = njit(cache=True, parallel=True)(_push_loss_terms_cached)


push_loss_terms = njit(cache=True)(_push_loss_terms)
_push_loss_terms_parallel = njit(cache=True, parallel=True)(_push_loss_terms)


def get_target_neighbors(n_jobs=1):
    """The serial kernel, or its ``prange`` twin when ``n_jobs != 1``."""
    if n_jobs is None or n_jobs == 1:
        return target_neighbors
    return _target_neighbors_parallel


def get_push_loss_terms(n_jobs=1):
    """The serial kernel, or its ``prange`` twin when ``n_jobs != 1``."""
    if n_jobs is None or n_jobs == 1:
        return push_loss_terms
    return _push_loss_terms_parallel


def get_push_loss_terms_cached(n_jobs=1):
    """The serial kernel, or its ``prange`` twin when ``n_jobs != 1``."""
    if n_jobs is None or n_jobs == 1:
        return push_loss_terms_cached
    return _push_loss_terms_cached_parallel
