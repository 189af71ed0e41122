"""Kernels of LMNN's full impostor search: the push loss and its gradient
weights from every pair of points of different classes, and the list of
candidate pairs that later evaluations rescan instead (see
:mod:`.lmnn_incremental`).

Every kernel takes the points sorted by class, so that the points of class
``c`` are the rows ``bounds[c]:bounds[c + 1]``. No kernel builds an
``n x n`` matrix: distances are formed ``block x chunk`` at a time (one
single-precision GEMM per tile), so the memory they need beyond their outputs
is one tile per thread (and a copy of the outputs per group of tiles run in
parallel).

:func:`impostor_search` has a ``prange`` twin, chosen by
:func:`get_impostor_search`.
"""

import math

import numpy as np
from numba import njit, prange

from . import serial_and_parallel
from .distances import sq_norms

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
def single_precision(Z):
    """``Z`` in float32 for the filtering products, with the constants of
    their rounding bound.

    ``Z`` is scaled by a power of two to entries below 1 in magnitude (no
    underflow or overflow at any scale). Rounding the entries and summing
    ``r`` products in float32 errs by less than
    ``(r + 2) 2^-24 (|z_i|^2 + |z_l|^2) / 2`` in ``z_i . z_l``, so
    ``|z_i|^2 + |z_l|^2 - unscale * G - rel (|z_i|^2 + |z_l|^2) - abs``
    (``G`` the float32 product, norms in double precision) is below the
    squared distance ``||z_i - z_l||^2``.

    Parameters
    ----------
    Z : ndarray of shape (n, r), float64, IN

    Returns
    -------
    Z32 : ndarray of shape (n, r), float32
    unscale, rel, abs : float
    """
    n, r = Z.shape
    z_max = 0.0
    for i in range(n):
        for t in range(r):
            z_max = max(z_max, abs(Z[i, t]))
    scale = math.ldexp(1.0, -math.frexp(z_max)[1]) if z_max > 0.0 else 1.0
    Z32 = (Z * scale).astype(np.float32)
    return (Z32, 2.0 / (scale * scale), (r + 4) * 2.0**-23,
            (r + 4) * 2.0**-100 / (scale * scale))


@njit(cache=True)
def _row_terms(i, found, dists, m, X, Z, dist_t, radii, w_target, deg, P, sums, squared, eps):
    """Add the pairs ``(i, l)``, ``l`` in ``found[:m]`` (points of other
    classes that may lie inside the margin of ``i`` or of ``l``), to the
    outputs of :func:`impostor_search`; ``sums`` holds the loss and the
    number of active triplets. A triplet of hinge ``h > 0`` costs ``h^2``
    (weight ``2 h``) when ``squared``, else ``h`` (weight 1). With
    ``eps > 0`` (the hinge only), the triplets of ``h > -eps`` get the
    weights ``min(1, (h + eps) / (2 eps))`` of a smoothed hinge instead, and
    ``sums[0]`` holds their sum (dual weights: see
    :func:`~metriclearn._lmnn_solver.certificate`).

    The exact squared distance of each pair decides: the candidates only
    need to contain every pair inside a margin (plus ``eps``), so any
    superset gives the same active triplets. Called once per row and tile
    rather than once per pair: a call passes arrays, whose reference counting
    would otherwise cost more than the pair.

    Parameters
    ----------
    i, m : int
    found : ndarray of shape (>= m,), integer, IN
    dists : ndarray of shape (>= m,), float64, IN
        The pairs' exact squared distances when already known, else empty.
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
    eps : float
    """
    k = dist_t.shape[1]
    d = X.shape[1]
    known = dists.shape[0] > 0
    for q in range(m):
        l = found[q]
        dil = dists[q] if known else _sq_dist(Z, i, l)
        v = 0.0
        for end in range(2):
            a = i if end == 0 else l
            if dil < radii[a] + eps:
                # a anchors: triplets (a, j, the other end)
                for t in range(k):
                    h = 1.0 + dist_t[a, t] - dil
                    if h > -eps:
                        if squared:
                            wt = 2.0 * h
                            sums[0] += h * h
                        elif eps > 0.0:
                            wt = min(1.0, (h + eps) / (2.0 * eps))
                            sums[0] += wt
                        else:
                            wt = 1.0
                            sums[0] += h
                        sums[1] += 1.0
                        w_target[a, t] += wt
                        v -= wt
        if v != 0.0:
            deg[i] += v
            deg[l] += v
            for f in range(d):
                P[i, f] += v * X[l, f]


def _impostor_search(X, Z, bounds, targets, dist_t, store_at, scan_at, block, chunk,
                     n_groups, squared, eps, capacity, bin_width, n_bins, sample_every):
    """Push loss of LMNN (hinge or squared hinge), the pair weights of its
    gradient, and the candidate pairs of later evaluations, from every pair
    of points of different classes.

    For every point ``i`` (sorted by class), its targets ``j`` (rows of
    ``targets``, squared distances ``dist_t`` in the space of ``Z = X L^T``)
    and every point ``l`` of another class, the triplet ``(i, j, l)`` costs
    ``h = max(0, 1 + dist_t[i, j] - ||z_i - z_l||^2)``, squared when
    ``squared``. Only ``l`` inside the margin radius
    ``R_i = 1 + max_j dist_t[i, j]`` of ``i`` (the impostors of ``i``) can
    cost anything. Each unordered pair of classes is scanned once
    (:func:`class_pair_tiles`, one single-precision GEMM per tile with the
    rounding bound of :func:`single_precision`): a pair ``(i, l)`` that may
    lie inside the margin of ``i`` or of ``l`` is kept, its exact distance
    recomputed in double precision, and the triplets anchored at either end
    are added (:func:`_row_terms`).

    The gradient of the push loss with respect to ``L`` is
    ``2 L sum_pq W_pq (x_p - x_q)(x_p - x_q)^T`` for the sparse matrix
    ``W`` with ``W[i, j] += w`` and ``W[i, l] -= w`` for each active
    triplet of hinge ``h``, ``w = 2 h`` for the squared hinge and 1 for the
    hinge. ``W`` is never formed: its target part is returned as an
    ``(n, k)`` array ``w_target``; its impostor part, whose weights
    ``W[i, l] + W[l, i]`` of each pair are gathered in one entry ``U[i, l]``
    (the sum is symmetric in the pair), enters as
    ``X^T diag(deg) X - X^T P - P^T X`` with ``deg`` the row plus column
    sums of ``U`` and ``P = U X``.

    Candidates: every pair whose squared distance may be below
    ``max(store_at[i], store_at[l])`` (``store_at >= R + eps``) is listed,
    in the order of the scan, while ``capacity`` allows, with a lower bound
    on its distance ``||z_i - z_l||`` (a multiple of ``unit``, in 16 bits).
    On one tile in ``sample_every``, a histogram counts the pairs by
    ``||z_i - z_l|| - max(sqrt(R_i), sqrt(R_l))`` in bins of ``bin_width``
    for those whose squared distance may be below
    ``max(scan_at[i], scan_at[l])`` (``scan_at >= store_at``; pairs inside
    the margins fall in the first bin); ``sampled`` counts the pairs of
    those tiles.

    The tiles are dealt round-robin to ``n_groups`` groups, each with its own
    outputs, summed at the end: the groups run in parallel in the ``prange``
    twin without races, and the result depends on ``n_groups`` but not on
    the threads. :func:`impostor_search` is the serial kernel; its
    ``prange`` twin is chosen by :func:`get_impostor_search`.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float64, IN
        Points sorted by class.
    Z : ndarray of shape (n, r), float64, IN
        ``X L^T``.
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    targets : ndarray of shape (n, k), integer, IN
    dist_t : ndarray of shape (n, k), float64, IN
        :func:`~metriclearn._kernels.lmnn.target_distances` of ``Z`` and
        ``targets``.
    store_at, scan_at : ndarray of shape (n,), float64, IN
        Squared radii of the candidates and of the histogram, at least
        ``R`` (:func:`margin_radii` of ``dist_t``) and ``store_at``.
    block, chunk : int
        Tile shape (``_BLOCK``, ``_CHUNK``).
    n_groups : int
        Groups of tiles, each with its own copy of the outputs.
    squared : bool
    eps : float
        0 for the loss; else the width of the smoothed hinge of
        :func:`_row_terms` (the margins are widened by ``eps``, and
        ``store_at``, ``scan_at`` must cover them).
    capacity : int
        Room for candidates (over all groups); 0 lists none.
    bin_width : float
    n_bins : int
        Histogram bins (0 for none).
    sample_every : int

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
    segments : ndarray of shape (n_groups', max_segments, 4), int64
        Per group (``n_groups' = min(n_groups, n_tiles)``), the runs of
        candidates ``(anchor i, start, count, c0)``: the candidates of ``i``
        in one tile are ``c0 + offsets[g, start:start + count]``.
    n_segments : ndarray of shape (n_groups',), int64
    offsets, lengths : ndarray of shape (n_groups', capacity // n_groups'), uint16
        Columns of the candidates (from ``c0``), and lower bounds on their
        distances in multiples of ``unit``.
    unit : float
    overflow : bool
        Whether some candidates did not fit (the list is then incomplete).
    histogram : ndarray of shape (max(n_bins, 1),), float64
    sampled : float
        Pairs in the tiles of the histogram.
    """
    n, k = targets.shape
    d = X.shape[1]
    tiles = class_pair_tiles(bounds, block, chunk)
    n_tiles = tiles.shape[0]
    norms = sq_norms(Z)
    radii = margin_radii(dist_t)
    rho = np.sqrt(radii)
    Z32, unscale, rel_slack, abs_slack = single_precision(Z)
    g_count = max(1, min(n_groups, n_tiles))
    sums = np.zeros((g_count, 2))
    w_target = np.zeros((g_count, n, k))
    deg = np.zeros((g_count, n))
    P = np.zeros((g_count, n, d))
    store = capacity > 0 and chunk <= 65536
    seg_room = np.zeros(g_count, dtype=np.int64)
    if store:
        for tile in range(n_tiles):
            seg_room[tile % g_count] += tiles[tile, 1] - tiles[tile, 0]
    segments = np.empty((g_count, seg_room.max(), 4), dtype=np.int64)
    room = capacity // g_count if store else 0
    offsets = np.empty((g_count, room), dtype=np.uint16)
    lengths = np.empty((g_count, room), dtype=np.uint16)
    # listed lengths ||z_i - z_l|| are lower bounds in multiples of `unit`
    top = 0.0
    for i in range(n):
        top = max(top, store_at[i])
    unit = math.sqrt(top) / 65000.0 if top > 0.0 else 1.0
    n_segments = np.zeros(g_count, dtype=np.int64)
    n_listed = np.zeros(g_count, dtype=np.int64)
    overflow = np.zeros(g_count, dtype=np.bool_)
    histogram = np.zeros((g_count, max(n_bins, 1)))
    sampled = np.zeros(g_count)
    for g in prange(g_count):
        none = np.empty(0)
        found = np.empty(chunk, dtype=np.intp)
        kept = np.empty(chunk, dtype=np.intp)
        lower = np.empty(chunk)
        excess = np.empty(chunk)
        for tile in range(g, n_tiles, g_count):
            start, stop, c0, c1 = tiles[tile, 0], tiles[tile, 1], tiles[tile, 2], tiles[tile, 3]
            G = np.dot(Z32[start:stop], Z32[c0:c1].T)
            width = c1 - c0
            norms_c = norms[c0:c1]
            # one tile in `sample_every` measures the histogram, out to scan_at
            hist = n_bins > 0 and tile % sample_every == 0
            thr = scan_at if hist else store_at
            thr_c = thr[c0:c1]
            if hist:
                sampled[g] += (stop - start) * width
            for a in range(stop - start):
                i = start + a
                ni = norms[i]
                ti = thr[i]
                # first a branch-free pass (it vectorises), then the rare hits
                for q in range(width):
                    lo = (ni + norms_c[q] - unscale * G[a, q]
                          - rel_slack * (ni + norms_c[q]) - abs_slack)
                    lower[q] = lo
                    excess[q] = lo - max(ti, thr_c[q])
                m = 0
                h = 0
                for q in range(width):
                    if excess[q] < 0.0:
                        l = c0 + q
                        lo = lower[q]
                        if lo < max(radii[i], radii[l]) + eps:
                            found[m] = l
                            m += 1
                        if store and lo < max(store_at[i], store_at[l]):
                            kept[h] = q
                            lower[h] = lo
                            h += 1
                        if hist:
                            e = math.sqrt(max(lo, 0.0)) - max(rho[i], rho[l])
                            b = int(e / bin_width) if e > 0.0 else 0
                            if b < n_bins:
                                histogram[g, b] += 1.0
                if m:
                    _row_terms(i, found, none, m, X, Z, dist_t, radii, w_target[g],
                               deg[g], P[g], sums[g], squared, eps)
                if h and not overflow[g]:
                    at = n_listed[g]
                    if at + h > room:
                        overflow[g] = True
                    else:
                        s = n_segments[g]
                        segments[g, s, 0] = i
                        segments[g, s, 1] = at
                        segments[g, s, 2] = h
                        segments[g, s, 3] = c0
                        for q in range(h):
                            offsets[g, at + q] = kept[q]
                            # (kept[q] <= q: lower[q] holds the q-th kept pair's)
                            lengths[g, at + q] = int(math.sqrt(max(lower[q], 0.0)) / unit)
                        n_listed[g] = at + h
                        n_segments[g] = s + 1
    for g in range(1, g_count):
        sums[0] += sums[g]
        w_target[0] += w_target[g]
        deg[0] += deg[g]
        P[0] += P[g]
        histogram[0] += histogram[g]
        sampled[0] += sampled[g]
    return (sums[0, 0], int(sums[0, 1]), w_target[0], deg[0], P[0], segments, n_segments,
            offsets, lengths, unit, overflow.any() or (capacity > 0 and not store),
            histogram[0], sampled[0])


impostor_search, _impostor_search_parallel = serial_and_parallel(_impostor_search)


def get_impostor_search(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return impostor_search
    return _impostor_search_parallel


def _push_loss_terms(search):
    def push_loss_terms(X, Z, bounds, targets, dist_t, block, chunk, n_groups, squared=True):
        """Push loss of LMNN and the pair weights of its gradient from a full
        search (:func:`impostor_search`, listing no candidates).

        Returns
        -------
        loss, n_active, w_target, deg, P
            As :func:`impostor_search`.
        """
        radii = margin_radii(dist_t)
        out = search(X, Z, bounds, targets, dist_t, radii, radii, block, chunk, n_groups,
                     squared, 0.0, 0, 1.0, 0, 1)
        return out[:5]
    return push_loss_terms


push_loss_terms = _push_loss_terms(impostor_search)
_push_loss_terms_parallel = _push_loss_terms(_impostor_search_parallel)


def get_push_loss_terms(n_jobs=1):
    """:func:`push_loss_terms` on the serial kernel when ``n_jobs`` is
    ``None`` or 1, else on its ``prange`` twin."""
    if n_jobs is None or n_jobs == 1:
        return push_loss_terms
    return _push_loss_terms_parallel
