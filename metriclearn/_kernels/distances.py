"""Kernels shared by the Mahalanobis learners: paired squared distances and
the weighted sum of outer products of pair differences."""

import numpy as np
from numba import njit, prange

from . import serial_and_parallel

# Rows of ``diff`` handled per GEMM call in ``weighted_outer_sum``: large
# enough for BLAS to run at full speed, small enough to stay in cache.
_BLOCK = 256


def _paired_sq_mahalanobis(diff, M):
    """``out[i] = diff[i] @ M @ diff[i]``, block by block: one BLAS product
    ``diff[block] @ M`` per block of ``_BLOCK`` rows, then the row-wise dot
    products with ``diff[block]`` (memory beyond the result: one block per
    thread).

    Compiled twice: :func:`paired_sq_mahalanobis` (serial) and a ``prange``
    twin, chosen by :func:`get_paired_sq_mahalanobis`. Each block writes its
    own rows of ``out``, so both give the same result.

    Parameters
    ----------
    diff : ndarray of shape (n, d), float64, IN
        Pair differences, one per row.
    M : ndarray of shape (d, d), float64, IN
        The metric (copied to C order if it is not).

    Returns
    -------
    out : ndarray of shape (n,), float64
        Newly allocated.
    """
    n, d = diff.shape
    out = np.empty(n)
    Mc = np.ascontiguousarray(M)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        blk = np.ascontiguousarray(diff[start:stop])
        B = np.dot(blk, Mc)
        for i in range(stop - start):
            s = 0.0
            for j in range(d):
                s += B[i, j] * blk[i, j]
            out[start + i] = s
    return out


paired_sq_mahalanobis, _paired_sq_mahalanobis_parallel = serial_and_parallel(
    _paired_sq_mahalanobis)


def get_paired_sq_mahalanobis(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return paired_sq_mahalanobis
    return _paired_sq_mahalanobis_parallel


@njit(cache=True)
def weighted_outer_sum(diff, w):
    """``sum_i w[i] * outer(diff[i], diff[i])`` as ``diff.T @ diag(w) @ diff``.

    Runs block by block through BLAS, so the memory it needs beyond the result
    is one ``(block, d)`` buffer, never an ``(n, d, d)`` tensor.

    Parameters
    ----------
    diff : ndarray of shape (n, d), float64, IN
        Pair differences, one per row.
    w : ndarray of shape (n,), float64, IN
        Weight of each row (any sign).

    Returns
    -------
    out : ndarray of shape (d, d), float64
        Newly allocated, exactly symmetric.
    """
    n, d = diff.shape
    out = np.zeros((d, d))
    buf = np.empty((_BLOCK, d))
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        m = stop - start
        for i in range(m):
            wi = w[start + i]
            for j in range(d):
                buf[i, j] = wi * diff[start + i, j]
        out += np.dot(buf[:m].T, np.ascontiguousarray(diff[start:stop]))
    # exact symmetry, whatever the summation order of the GEMM
    for j in range(d):
        for k in range(j + 1, d):
            s = 0.5 * (out[j, k] + out[k, j])
            out[j, k] = s
            out[k, j] = s
    return out


# Pure arithmetic (no NaN guard, no comparison): reassociating the sum lets
# LLVM vectorise it (3x faster over 100,000 pairs in 50 dimensions); the
# terms are the same, and a pair of equal rows still gives exactly 0.
@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def index_sq_distances(P, i, j, out):
    """``out[k] = ||P[i[k]] - P[j[k]]||^2`` (``P``, ``i``, ``j`` IN; ``out``
    OUT): squared distances of index pairs, no difference array built."""
    for k in range(i.shape[0]):
        a = P[i[k]]
        b = P[j[k]]
        s = 0.0
        for c in range(P.shape[1]):
            t = a[c] - b[c]
            s += t * t
        out[k] = s


@njit(cache=True)
def sq_norms(Z):
    """``||z_k||^2`` of every row (NCA, MLKR and the LMNN searches expand
    squared distances with them).

    Parameters
    ----------
    Z : ndarray of shape (n, r), float64, IN

    Returns
    -------
    norms : ndarray of shape (n,), float64
    """
    n, r = Z.shape
    out = np.empty(n)
    for k in range(n):
        s = 0.0
        for t in range(r):
            s += Z[k, t] * Z[k, t]
        out[k] = s
    return out
