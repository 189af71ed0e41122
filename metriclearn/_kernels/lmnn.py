"""Kernels of LMNN (Weinberger & Saul 2009): target neighbours, their
distances and gradient weights. The impostor search is in
:mod:`.lmnn_impostors` (full search) and :mod:`.lmnn_incremental` (its
incremental form); its public names are re-exported here.

Every kernel takes the points sorted by class, so that the points of class
``c`` are the rows ``bounds[c]:bounds[c + 1]``. No kernel builds an
``n x n`` matrix.

:func:`target_neighbors` has a ``prange`` twin, chosen by
:func:`get_target_neighbors`.
"""

import numpy as np
from numba import njit, prange

from . import serial_and_parallel
from .distances import sq_norms
from .lmnn_impostors import (
    _BLOCK,
    _CHUNK,
    _sq_dist,
    class_blocks,
    class_pair_tiles,
    get_impostor_search,
    get_push_loss_terms,
    impostor_search,
    margin_radii,
    push_loss_terms,
)

__all__ = [
    "_BLOCK", "_CHUNK", "class_blocks", "class_pair_tiles", "first_crossing",
    "get_impostor_search",
    "get_push_loss_terms", "get_target_neighbors", "impostor_search", "margin_radii",
    "push_loss_terms", "target_distances", "target_neighbors", "target_weight_terms",
]


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
    norms = sq_norms(X)
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


target_neighbors, _target_neighbors_parallel = serial_and_parallel(_target_neighbors)


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


def get_target_neighbors(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return target_neighbors
    return _target_neighbors_parallel


@njit(cache=True)
def first_crossing(keys, weights, need):
    """The smallest key at which the weights of the keys up to it (ties
    included) add up to at least ``need``; the largest key if they never do.

    A weighted selection (three-way quickselect, pivot the median of three):
    expected linear time, no sort.

    Parameters
    ----------
    keys : ndarray of shape (m,), float64, IN
        ``m >= 1``.
    weights : ndarray of shape (m,), float64, IN
        Non-negative.
    need : float

    Returns
    -------
    key : float
    """
    a = keys.copy()
    w = weights.copy()
    lo, hi = 0, a.shape[0]
    while True:
        x, y, z = a[lo], a[lo + (hi - lo) // 2], a[hi - 1]
        pivot = max(min(x, y), min(max(x, y), z))
        # three-way partition of a[lo:hi] (with w): < pivot, == pivot, > pivot
        lt, i, gt = lo, lo, hi
        while i < gt:
            if a[i] < pivot:
                a[lt], a[i] = a[i], a[lt]
                w[lt], w[i] = w[i], w[lt]
                lt += 1
                i += 1
            elif a[i] > pivot:
                gt -= 1
                a[gt], a[i] = a[i], a[gt]
                w[gt], w[i] = w[i], w[gt]
            else:
                i += 1
        below = 0.0
        for t in range(lo, lt):
            below += w[t]
        if lt > lo and below >= need:
            hi = lt
            continue
        at = 0.0
        for t in range(lt, gt):
            at += w[t]
        if below + at >= need or gt == hi:
            return pivot
        need -= below + at
        lo = gt
