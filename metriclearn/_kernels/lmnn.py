"""Kernels of LMNN (Weinberger & Saul 2009): target neighbours, and the push
loss with its gradient weights from a blockwise impostor search.

Every kernel takes the points sorted by class, so that the points of class
``c`` are the rows ``bounds[c]:bounds[c + 1]``. No kernel builds an
``n x n`` matrix: distances are formed ``block x chunk`` at a time (one GEMM
per tile), so the memory they need beyond their outputs is one tile per
thread (and a copy of the outputs per group of tiles run in parallel).

:func:`target_neighbors` and :func:`push_loss_terms` each have a ``prange``
twin, chosen by :func:`get_target_neighbors` and :func:`get_push_loss_terms`.
"""

import math

import numpy as np
from numba import njit, prange

# Rows (anchors) per block and columns per GEMM tile: a tile of
# ``_BLOCK x _CHUNK`` products is 1 MiB in float32 (2 MiB in float64).
_BLOCK = 128
_CHUNK = 2048


@njit(cache=True)
def class_blocks(bounds, block):
    """Blocks of at most ``block`` consecutive rows that never straddle two
    classes.

    Parameters
    ----------
    bounds : ndarray of shape (n_classes + 1,), integer, IN
        Class boundaries (as in the module docstring).
    block : int

    Returns
    -------
    blocks : ndarray of shape (n_blocks, 4), intp
        Rows ``(start, stop, class_start, class_stop)``.
    """
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
    points, at distance zero). Ties are broken by the smaller index.

    Compiled twice: :func:`target_neighbors` (serial) and a ``prange`` twin,
    chosen by :func:`get_target_neighbors`. Each block of rows writes its own
    rows of the result, so both give the same result.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64, IN
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    n_neighbors : int
        At most the size of the smallest class minus one (a missing
        neighbour would be ``-1``).
    block : int
        Rows per block (``_BLOCK``).

    Returns
    -------
    targets : ndarray of shape (n, n_neighbors), intp
        Row indices into ``X``, nearest first.
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
    """Squared distances ``||z_i - z_{targets[i, t]}||^2``.

    Parameters
    ----------
    Z : ndarray of shape (n, r), float64, IN
        The mapped points ``X L^T``.
    targets : ndarray of shape (n, k), integer, IN

    Returns
    -------
    dist_t : ndarray of shape (n, k), float64
    """
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

    Parameters
    ----------
    X : ndarray of shape (n, d), float64, IN
    targets : ndarray of shape (n, k), integer, IN
    weights : ndarray of shape (n, k), float64, IN

    Returns
    -------
    s, c : ndarray of shape (n,), float64
        Row and column sums of ``W``.
    P : ndarray of shape (n, d), float64
        ``W @ X``.
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
def class_pair_tiles(bounds, block, chunk):
    """Tiles of the search for impostors, each unordered pair of classes once.

    Rows ``(start, stop, c0, c1)``: anchors ``start:stop`` (a block of at
    most ``block`` rows of one class) against columns ``c0:c1`` (at most
    ``chunk`` points of the classes after it in the sorted order). Every
    pair of points of different classes is in exactly one tile.

    Parameters
    ----------
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    block, chunk : int

    Returns
    -------
    tiles : ndarray of shape (n_tiles, 4), intp
    """
    n = bounds[-1]
    blocks = class_blocks(bounds, block)
    count = 0
    for b in range(blocks.shape[0]):
        count += (n - blocks[b, 3] + chunk - 1) // chunk
    out = np.empty((count, 4), dtype=np.intp)
    t = 0
    for b in range(blocks.shape[0]):
        for c0 in range(blocks[b, 3], n, chunk):
            out[t, 0] = blocks[b, 0]
            out[t, 1] = blocks[b, 1]
            out[t, 2] = c0
            out[t, 3] = min(c0 + chunk, n)
            t += 1
    return out


@njit(cache=True)
def margin_radii(dist_t):
    """``1 + max_j dist_t[i, j]``: inside it, a point of another class is an
    impostor of ``i``.

    Parameters
    ----------
    dist_t : ndarray of shape (n, k), float64, IN

    Returns
    -------
    radii : ndarray of shape (n,), float64
    """
    n, k = dist_t.shape
    radii = np.empty(n)
    for i in range(n):
        m = 0.0
        for t in range(k):
            if dist_t[i, t] > m:
                m = dist_t[i, t]
        radii[i] = 1.0 + m
    return radii


@njit(cache=True)
def _row_terms(i, found, m, X, Z, dist_t, radii, w_target, deg, P, sums, squared):
    """Add the pairs ``(i, l)``, ``l`` in ``found[:m]`` (points of other
    classes inside the margin of ``i`` or of ``l``), to the outputs of
    :func:`push_loss_terms`; ``sums`` holds the loss and the number of active
    triplets. A triplet of hinge ``h > 0`` costs ``h^2`` (weight ``2 h``) when
    ``squared``, else ``h`` (weight 1).

    Called once per row and tile rather than once per pair: a call passes
    arrays, whose reference counting would otherwise cost more than the pair.

    Parameters
    ----------
    i, m : int
    found : ndarray of shape (>= m,), integer, IN
    X : ndarray of shape (n, d), float64, IN
    Z : ndarray of shape (n, r), float64, IN
    dist_t : ndarray of shape (n, k), float64, IN
    radii : ndarray of shape (n,), float64, IN
    w_target : ndarray of shape (n, k), float64, INOUT
        Accumulated into (rows ``i`` and ``l``).
    deg : ndarray of shape (n,), float64, INOUT
        Accumulated into (entries ``i`` and ``l``).
    P : ndarray of shape (n, d), float64, INOUT
        Accumulated into (row ``i``).
    sums : ndarray of shape (2,), float64, INOUT
        Loss and number of active triplets, accumulated into.
    squared : bool
    """
    k = dist_t.shape[1]
    d = X.shape[1]
    for q in range(m):
        l = found[q]
        dil = _sq_dist(Z, i, l)
        v = 0.0
        if dil < radii[i]:
            # i anchors: triplets (i, j, l)
            for t in range(k):
                h = 1.0 + dist_t[i, t] - dil
                if h > 0.0:
                    wt = 2.0 * h if squared else 1.0
                    sums[0] += h * h if squared else h
                    sums[1] += 1.0
                    w_target[i, t] += wt
                    v -= wt
        if dil < radii[l]:
            # l anchors: triplets (l, j, i)
            for t in range(k):
                h = 1.0 + dist_t[l, t] - dil
                if h > 0.0:
                    wt = 2.0 * h if squared else 1.0
                    sums[0] += h * h if squared else h
                    sums[1] += 1.0
                    w_target[l, t] += wt
                    v -= wt
        if v != 0.0:
            deg[i] += v
            deg[l] += v
            for f in range(d):
                P[i, f] += v * X[l, f]


def _push_loss_terms(X, Z, bounds, targets, dist_t, block, chunk, n_groups, squared=True):
    """Push loss of LMNN (hinge or squared hinge) and the pair weights of its gradient.

    For every point ``i`` (sorted by class), its targets ``j`` (rows of
    ``targets``, squared distances ``dist_t`` in the space of ``Z = X L^T``)
    and every point ``l`` of another class, the triplet ``(i, j, l)`` costs
    ``h = max(0, 1 + dist_t[i, j] - ||z_i - z_l||^2)``, squared when
    ``squared``. Only ``l`` inside the
    margin radius ``1 + max_j dist_t[i, j]`` of ``i`` (the impostors of
    ``i``) can cost anything. Each unordered pair of classes is scanned once
    (:func:`class_pair_tiles`, one single-precision GEMM per tile, with a
    rounding bound): a pair ``(i, l)`` that may lie inside the margin of
    ``i`` or of ``l`` is kept, its exact distance recomputed in double
    precision, and the triplets anchored at either end are added.

    The gradient of the push loss with respect to ``L`` is
    ``2 L sum_pq W_pq (x_p - x_q)(x_p - x_q)^T`` for the sparse matrix
    ``W`` with ``W[i, j] += w`` and ``W[i, l] -= w`` for each active
    triplet of hinge ``h``, ``w = 2 h`` for the squared hinge and 1 for the
    hinge. ``W`` is never formed: its target part is
    returned as an ``(n, k)`` array ``w_target``; its impostor part, whose
    weights ``W[i, l] + W[l, i]`` of each pair are gathered in one entry
    ``U[i, l]`` (the sum is symmetric in the pair), enters as
    ``X^T diag(deg) X - X^T P - P^T X`` with ``deg`` the row plus column
    sums of ``U`` and ``P = U X``.

    The tiles are dealt round-robin to ``n_groups`` groups, each with its own
    outputs, summed at the end: the groups run in parallel in the ``prange``
    twin without races, and the result depends on ``n_groups`` but not on
    the threads. :func:`push_loss_terms` is the serial kernel; its ``prange``
    twin is chosen by :func:`get_push_loss_terms`.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float64, IN
        Points sorted by class.
    Z : ndarray of shape (n, r), float64, IN
        ``X L^T``.
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    targets : ndarray of shape (n, k), integer, IN
    dist_t : ndarray of shape (n, k), float64, IN
        :func:`target_distances` of ``Z`` and ``targets``.
    block, chunk : int
        Tile shape (``_BLOCK``, ``_CHUNK``).
    n_groups : int
        Groups of tiles, each with its own copy of the outputs.
    squared : bool

    Returns
    -------
    loss : float
        Push loss (sum over all triplets).
    n_active : int
        Number of active triplets.
    w_target : ndarray of shape (n, k)
        Weights ``W[i, targets[i, t]]`` of the push loss.
    deg : ndarray of shape (n,)
        Row plus column sums of ``U``.
    P : ndarray of shape (n, n_features)
        ``U @ X``.
    """
    n, k = targets.shape
    d = X.shape[1]
    r = Z.shape[1]
    tiles = class_pair_tiles(bounds, block, chunk)
    n_tiles = tiles.shape[0]
    norms = _sq_norms(Z)
    radii = margin_radii(dist_t)
    # The tiles' products only select the candidate pairs (whose distances
    # are then recomputed exactly), so they run in single precision, on Z
    # scaled by a power of two to entries below 1 in magnitude. Rounding the
    # entries and summing r products in float32 errs by less than
    # (r + 2) 2^-24 (|z_i|^2 + |z_l|^2) / 2 in z_i . z_l, so a pair within the
    # bound below of a margin is kept.
    z_max = 0.0
    for i in range(n):
        for t in range(r):
            z_max = max(z_max, abs(Z[i, t]))
    scale = math.ldexp(1.0, -math.frexp(z_max)[1]) if z_max > 0.0 else 1.0
    Z32 = (Z * scale).astype(np.float32)
    unscale = 2.0 / (scale * scale)
    rel_slack = (r + 4) * 2.0**-23
    abs_slack = (r + 4) * 2.0**-100 / (scale * scale)
    g_count = max(1, min(n_groups, n_tiles))
    sums = np.zeros((g_count, 2))
    w_target = np.zeros((g_count, n, k))
    deg = np.zeros((g_count, n))
    P = np.zeros((g_count, n, d))
    for g in prange(g_count):
        found = np.empty(chunk, dtype=np.intp)
        excess = np.empty(chunk)
        for tile in range(g, n_tiles, g_count):
            start, stop, c0, c1 = tiles[tile, 0], tiles[tile, 1], tiles[tile, 2], tiles[tile, 3]
            G = np.dot(Z32[start:stop], Z32[c0:c1].T)
            width = c1 - c0
            norms_c = norms[c0:c1]
            radii_c = radii[c0:c1]
            for a in range(stop - start):
                i = start + a
                ni = norms[i]
                ri = radii[i]
                # first a branch-free pass (it vectorises), then the rare hits
                for q in range(width):
                    est = ni + norms_c[q] - unscale * G[a, q]
                    excess[q] = (est - max(ri, radii_c[q]) - rel_slack * (ni + norms_c[q])
                                 - abs_slack)
                m = 0
                for q in range(width):
                    if excess[q] < 0.0:
                        found[m] = c0 + q
                        m += 1
                if m:
                    _row_terms(i, found, m, X, Z, dist_t, radii, w_target[g], deg[g],
                               P[g], sums[g], squared)
    for g in range(1, g_count):
        sums[0] += sums[g]
        w_target[0] += w_target[g]
        deg[0] += deg[g]
        P[0] += P[g]
    return sums[0, 0], int(sums[0, 1]), w_target[0], deg[0], P[0]


push_loss_terms = njit(cache=True)(_push_loss_terms)
_push_loss_terms_parallel = njit(cache=True, parallel=True)(_push_loss_terms)


def get_target_neighbors(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return target_neighbors
    return _target_neighbors_parallel


def get_push_loss_terms(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return push_loss_terms
    return _push_loss_terms_parallel
