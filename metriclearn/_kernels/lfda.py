"""Kernels of LFDA (Sugiyama 2007): the local scaling of each point and the
exponents of the affinities, on blocks of inner products.

The points of a class are centred on their mean (the scatter matrices do not
depend on the origin, and squared distances formed from inner products lose
fewer digits near it). The solver forms square blocks of inner products of
the points of one class, on and above the diagonal, one matrix product each,
and hands them to :func:`update_nearest` (first pass: each point's ``k``
smallest distances, whose largest is its local scale) and
:func:`affinity_exponents` (second pass: the exponents of the affinities,
whose ``exp`` NumPy evaluates vectorised). Affinities only join points of
one class, so no ``n x n`` matrix over all points is ever formed.

The affinity of two points of one class is
``A_ij = exp(-||z_i - z_j||^2 / (sigma_i sigma_j))``, where ``sigma_i`` is
the distance from ``z_i`` to its ``k``-th nearest other point of the class;
``A_ij = 0`` when ``sigma_i sigma_j = 0`` and on the diagonal (which adds
nothing to a scatter matrix). The kernels use no BLAS and few NumPy
functions, so that they compile in about a second each.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def update_nearest(G, sq_rows, sq_cols, row0, col0, diagonal, best):
    """Fold one block of squared distances into each point's ``k`` smallest
    squared distances to other points (``k = best.shape[1]``).

    The squared distance of row ``r`` and column ``j`` of the block is
    ``max(sq_rows[r] + sq_cols[j] - 2 G[r, j], 0)``. A block on the diagonal
    (``diagonal``: the rows are the columns) updates the row points only,
    skipping each point's distance to itself; a block off the diagonal
    updates both its row and its column points (the block below the
    diagonal is never formed).

    Parameters
    ----------
    G : ndarray of shape (n_rows, n_cols), IN
        Inner products of the row points with the column points.
    sq_rows : ndarray of shape (n_rows,), IN
        Squared norms of the row points.
    sq_cols : ndarray of shape (n_cols,), IN
        Squared norms of the column points.
    row0, col0 : int
        Rows of ``best`` of the first row point and the first column point.
    diagonal : bool
    best : ndarray of shape (n_points, k), INOUT
        Each point's ``k`` smallest squared distances so far, sorted
        ascending (``inf`` where fewer were seen).
    """
    n_rows, n_cols = G.shape
    k = best.shape[1]
    # the current k-th smallest of each column point, contiguous
    col_kth = np.empty(n_cols)
    for j in range(n_cols):
        col_kth[j] = best[col0 + j, k - 1]
    v = np.empty(n_cols)
    for r in range(n_rows):
        i = row0 + r
        s = sq_rows[r]
        for j in range(n_cols):  # branch-free: vectorised
            t = s + sq_cols[j] - 2.0 * G[r, j]
            v[j] = t if t > 0.0 else 0.0
        if diagonal:
            v[r] = np.inf
        kth = best[i, k - 1]
        for j in range(n_cols):
            t = v[j]
            if t < kth:
                _insert(best, i, k, t)
                kth = best[i, k - 1]
            if not diagonal and t < col_kth[j]:
                _insert(best, col0 + j, k, t)
                col_kth[j] = best[col0 + j, k - 1]


@njit(cache=True)
def _insert(best, i, k, v):
    """Insert ``v`` (smaller than ``best[i, k - 1]``) into the sorted row ``i``."""
    p = k - 1
    while p > 0 and best[i, p - 1] > v:
        best[i, p] = best[i, p - 1]
        p -= 1
    best[i, p] = v


@njit(cache=True)
def affinity_exponents(G, sq_rows, sq_cols, sigma_rows, sigma_cols, diagonal, out):
    """The exponents ``-||z_r - z_j||^2 / (sigma_r sigma_j)`` of a block of
    affinities (``-inf`` where the affinity is zero: ``sigma_r sigma_j = 0``,
    or on the diagonal of a ``diagonal`` block, whose rows are its columns).

    Parameters
    ----------
    G : ndarray of shape (n_rows, n_cols), IN
        Inner products of the row points with the column points.
    sq_rows, sq_cols : ndarray of shape (n_rows,) and (n_cols,), IN
        Squared norms.
    sigma_rows, sigma_cols : ndarray of shape (n_rows,) and (n_cols,), IN
        Local scales.
    diagonal : bool
    out : ndarray of shape (n_rows, n_cols), OUT
        The exponents; may be ``G`` itself (each entry is read before it is
        written).
    """
    n_rows, n_cols = G.shape
    inv_cols = np.empty(n_cols)
    zero_cols = False
    for j in range(n_cols):
        if sigma_cols[j] > 0.0:
            inv_cols[j] = 1.0 / sigma_cols[j]
        else:
            inv_cols[j] = 0.0
            zero_cols = True
    for r in range(n_rows):
        if sigma_rows[r] > 0.0:
            # branch-free, so that the loop vectorises
            inv_r = 1.0 / sigma_rows[r]
            for j in range(n_cols):
                v = sq_rows[r] + sq_cols[j] - 2.0 * G[r, j]
                out[r, j] = -(v if v > 0.0 else 0.0) * (inv_r * inv_cols[j])
            if zero_cols:
                for j in range(n_cols):
                    if inv_cols[j] == 0.0:
                        out[r, j] = -np.inf
        else:
            for j in range(n_cols):
                out[r, j] = -np.inf
        if diagonal:
            out[r, r] = -np.inf
