"""Kernels of LMNN's incremental impostor search: the push loss and its
gradient weights from the candidate pairs that a full search listed
(:func:`~metriclearn._kernels.lmnn_impostors.impostor_search`), from rows
searched afresh for the points whose bound failed, and the bound itself.

A pair the full search did not list had, at the map of that search
(``Z0 = X L0^T``), ``||z0_i - z0_l|| >= max(tau_i, tau_l)``. At a later
``L``, for any ``s > 0``, the triangle inequality gives
``||z_i - z_l|| >= s ||z0_i - z0_l|| - b_i - b_l`` with the movements
``b_i = ||z_i - s z0_i||`` (:func:`movement`): when both points keep
``b <= beta <= s tau - sqrt(R) - b`` the pair is outside both margins, so
only the listed pairs (:func:`candidate_terms`) and the pairs of the other
points (:func:`rescan_terms`) can hold impostors. A listed pair carries a
lower bound on its distance, moved along with each evaluation by the same
inequality, so that most listed pairs are cleared without their distance;
the others are decided on their exact distance, as in the full search, so
the active triplets are exactly those of a full search.
"""

import numpy as np
from numba import njit, prange

from . import serial_and_parallel
from .distances import sq_norms
from .lmnn_impostors import _row_terms, _sq_dist, margin_radii, single_precision


@njit(cache=True)
def movement(Z, Z0, s):
    """``b_i = ||z_i - s z0_i||`` of every point.

    Parameters
    ----------
    Z, Z0 : ndarray of shape (n, r), float64, IN
    s : float

    Returns
    -------
    b : ndarray of shape (n,), float64
    """
    n, r = Z.shape
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for t in range(r):
            e = Z[i, t] - s * Z0[i, t]
            acc += e * e
        out[i] = np.sqrt(acc)
    return out


@njit(cache=True)
def _steps(x, unit):
    """``x`` in whole multiples of ``unit``, rounded down (a lower bound kept
    in 16 bits)."""
    if not x > 0.0:
        return 0
    return min(65535, int(x * (1.0 - 1e-12) / unit))


def _candidate_terms(X, Z, dist_t, skip, segments, n_segments, offsets, lengths, unit, s,
                     b, rho, squared, eps):
    """The outputs of
    :func:`~metriclearn._kernels.lmnn_impostors.impostor_search` from its
    listed candidates, leaving out every pair with an end in ``skip``; and
    the listed lower bounds on the pairs' distances moved to ``Z``.

    A listed pair was at a distance of at least ``D1 = lengths * unit`` at
    the map ``Z1`` of the last update; with ``b_i >= ||z_i - s z1_i||`` it
    is now at least ``s D1 - b_i - b_l`` away. When that clears
    ``max(rho_i, rho_l)``, the pair lies outside both margins and is left
    out; else its exact distance decides. Either way the bound (or the
    exact distance) replaces ``lengths``, so the next evaluation moves from
    ``Z``. The runs of candidates are visited in the order of the full
    search, each group of runs with its own outputs (summed at the end), so
    that when every impostor is listed and ``skip`` is empty the result is
    that of a full search with as many groups, bit for bit: the other
    candidates add nothing.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float64, IN
    Z : ndarray of shape (n, r), float64, IN
    dist_t : ndarray of shape (n, k), float64, IN
    skip : ndarray of shape (n,), bool, IN
    segments, n_segments, offsets : ndarray, IN
        The candidates, as returned by the full search.
    lengths : ndarray of shape (n_groups', capacity // n_groups'), uint16, INOUT
        Lower bounds on the listed pairs' distances at ``Z1``, replaced by
        lower bounds at ``Z``.
    unit, s : float
    b : ndarray of shape (n,), float64, IN
        Upper bounds on the movements ``||z_i - s z1_i||``.
    rho : ndarray of shape (n,), float64, IN
        Upper bounds on ``sqrt(R_i + eps)``.
    squared : bool
    eps : float
        As in :func:`~metriclearn._kernels.lmnn_impostors.impostor_search`.

    Returns
    -------
    loss, n_active, w_target, deg, P
        As :func:`~metriclearn._kernels.lmnn_impostors.impostor_search`.
    """
    n, k = dist_t.shape
    d = X.shape[1]
    g_count = segments.shape[0]
    radii = margin_radii(dist_t)
    longest = 1
    for g in range(g_count):
        for t in range(n_segments[g]):
            longest = max(longest, segments[g, t, 2])
    su = s * unit
    sums = np.zeros((g_count, 2))
    w_target = np.zeros((g_count, n, k))
    deg = np.zeros((g_count, n))
    P = np.zeros((g_count, n, d))
    for g in prange(g_count):
        found = np.empty(longest, dtype=np.intp)
        dists = np.empty(longest)
        for t in range(n_segments[g]):
            i = segments[g, t, 0]
            start = segments[g, t, 1]
            c0 = segments[g, t, 3]
            skip_i = skip[i]
            bi = b[i]
            ri = rho[i]
            m = 0
            for q in range(start, start + segments[g, t, 2]):
                l = c0 + offsets[g, q]
                lo = su * lengths[g, q] - bi - b[l]
                if skip_i or skip[l] or lo >= max(ri, rho[l]):
                    lengths[g, q] = _steps(lo, unit)
                    continue
                dil = _sq_dist(Z, i, l)
                lengths[g, q] = _steps(np.sqrt(dil), unit)
                if dil < max(radii[i], radii[l]) + eps:
                    found[m] = l
                    dists[m] = dil
                    m += 1
            if m:
                _row_terms(i, found, dists, m, X, Z, dist_t, radii, w_target[g], deg[g],
                           P[g], sums[g], squared, eps)
    for g in range(1, g_count):
        sums[0] += sums[g]
        w_target[0] += w_target[g]
        deg[0] += deg[g]
        P[0] += P[g]
    return sums[0, 0], int(sums[0, 1]), w_target[0], deg[0], P[0]


candidate_terms, _candidate_terms_parallel = serial_and_parallel(_candidate_terms)


def _rescan_terms(X, Z, labels, dist_t, rows, marked, block, chunk, n_groups, squared,
                  eps):
    """The outputs of
    :func:`~metriclearn._kernels.lmnn_impostors.impostor_search` from the
    pairs of the points ``rows`` with every point of another class, each
    pair once.

    A pair of two points of ``rows`` (``marked`` flags them) is taken from
    its smaller index. The search is that of the full search: blocks of up
    to ``block`` rows against chunks of ``chunk`` columns, one
    single-precision GEMM per tile that selects the pairs whose exact
    distances then decide; tiles dealt round-robin to ``n_groups`` groups,
    each with its own outputs.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float64, IN
    Z : ndarray of shape (n, r), float64, IN
    labels : ndarray of shape (n,), integer, IN
        Class of every point.
    dist_t : ndarray of shape (n, k), float64, IN
    rows : ndarray of shape (n_rows,), integer, IN
        The points to search from, increasing.
    marked : ndarray of shape (n,), bool, IN
        True exactly at ``rows``.
    block, chunk, n_groups : int
    squared : bool
    eps : float
        As in :func:`~metriclearn._kernels.lmnn_impostors.impostor_search`.

    Returns
    -------
    loss, n_active, w_target, deg, P
        As :func:`~metriclearn._kernels.lmnn_impostors.impostor_search`.
    """
    n, k = dist_t.shape
    d = X.shape[1]
    r = Z.shape[1]
    n_rows = rows.shape[0]
    norms = sq_norms(Z)
    radii = margin_radii(dist_t)
    Z32, unscale, rel_slack, abs_slack = single_precision(Z)
    n_blocks = (n_rows + block - 1) // block
    n_chunks = (n + chunk - 1) // chunk
    n_tiles = n_blocks * n_chunks
    g_count = max(1, min(n_groups, n_tiles))
    sums = np.zeros((g_count, 2))
    w_target = np.zeros((g_count, n, k))
    deg = np.zeros((g_count, n))
    P = np.zeros((g_count, n, d))
    for g in prange(g_count):
        none = np.empty(0)
        A = np.empty((block, r), dtype=np.float32)
        found = np.empty(chunk, dtype=np.intp)
        excess = np.empty(chunk)
        for tile in range(g, n_tiles, g_count):
            r0 = (tile // n_chunks) * block
            r1 = min(r0 + block, n_rows)
            c0 = (tile % n_chunks) * chunk
            c1 = min(c0 + chunk, n)
            for a in range(r1 - r0):
                A[a] = Z32[rows[r0 + a]]
            G = np.dot(A[: r1 - r0], Z32[c0:c1].T)
            width = c1 - c0
            norms_c = norms[c0:c1]
            radii_c = radii[c0:c1]
            for a in range(r1 - r0):
                i = rows[r0 + a]
                ni = norms[i]
                ri = radii[i]
                for q in range(width):
                    excess[q] = (ni + norms_c[q] - unscale * G[a, q]
                                 - rel_slack * (ni + norms_c[q]) - abs_slack
                                 - max(ri, radii_c[q]) - eps)
                m = 0
                for q in range(width):
                    if excess[q] < 0.0:
                        l = c0 + q
                        if labels[l] != labels[i] and (l > i or not marked[l]):
                            found[m] = l
                            m += 1
                if m:
                    _row_terms(i, found, none, m, X, Z, dist_t, radii, w_target[g],
                               deg[g], P[g], sums[g], squared, eps)
    for g in range(1, g_count):
        sums[0] += sums[g]
        w_target[0] += w_target[g]
        deg[0] += deg[g]
        P[0] += P[g]
    return sums[0, 0], int(sums[0, 1]), w_target[0], deg[0], P[0]


rescan_terms, _rescan_terms_parallel = serial_and_parallel(_rescan_terms)


def get_candidate_terms(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return candidate_terms
    return _candidate_terms_parallel


def get_rescan_terms(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return rescan_terms
    return _rescan_terms_parallel
