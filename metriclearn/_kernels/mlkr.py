"""Kernels of MLKR (Weinberger & Tesauro 2007): the leave-one-out kernel
regression error and the pair weights of its gradient, row block by row block.

For points ``z_i = L x_i`` (rows of ``Z``) and targets ``y``, the kernel
weights are ``k_ij = exp(-||z_i - z_j||^2)`` (``k_ii = 0``), the leave-one-out
estimates ``yhat_i = sum_j k_ij y_j / sum_j k_ij`` and the loss
``sum_i (yhat_i - y_i)^2``. Its gradient with respect to ``L`` is
``4 L sum_ij w_ij (x_i - x_j)(x_i - x_j)^T`` with

    w_ij = (yhat_i - y_i) p_ij (yhat_i - y_j),   p_ij = k_ij / sum_l k_il.

No kernel forms an ``n x n`` matrix: the squared distances of a block of
rows against every point come from one GEMM into a ``block x n`` buffer,
which then holds, row by row (in cache), the kernel weights and the pair
weights ``w_ij``; a second product turns the block's weights into its share
of ``W @ X`` (or ``(W + W^T) @ Z``). Memory beyond the outputs is one buffer
per group of blocks.

Each row is stabilised by its smallest distance ``m_i`` (``p_ij`` is
unchanged by the shift), so its largest weight is 1; a weight below
``exp(-_CUTOFF)`` of it is zero, which changes ``yhat_i`` by less than
``n exp(-_CUTOFF)`` of the spread of ``y``: far below double precision for
any ``n`` that fits in memory. When few weights of a block are non-zero, its
product is a sparse loop over them rather than a GEMM. The exponentials are
a polynomial that the compiler vectorises (:func:`shifted_neg_exp`).

:func:`loss_grad` has a ``prange`` twin, chosen by :func:`get_loss_grad`.
"""

import numpy as np
from numba import njit, prange

from . import serial_and_parallel
from .distances import sq_norms

# Weights below exp(-_CUTOFF) ~ 2e-22 of a row's largest are zero.
_CUTOFF = 50.0
# (larger shifts are capped here before the exponential, then zeroed)
_CAP = _CUTOFF + 1.0
# A block whose share of non-zero weights is below 1 / _SPARSE_RATIO takes
# the sparse product (a GEMM does 2 flops per entry at several times the
# speed of the loop, which does 2 per non-zero and feature).
_SPARSE_RATIO = 8
# Bytes of the buffers of one evaluation: one ``block x n`` buffer of
# float64 per group of blocks, whatever the number of points ...
_MEMORY = 32 << 20
# ... with at least this many rows per block, for the matrix products, and
# at most this many, so that a block stays in cache between its two
# products (measured: 256 rows against all 5,000 points is 40% faster than
# one block of every row)
_MIN_BLOCK = 32
_MAX_BLOCK = 256


def block_rows(n, n_groups=1, memory=_MEMORY):
    """Rows per block: ``n_groups`` buffers of ``block x n`` float64 fit in
    ``memory`` bytes (but at least ``_MIN_BLOCK`` rows and at most
    ``_MAX_BLOCK``), and a parallel evaluation has at least four blocks per
    group to share out."""
    n_groups = max(int(n_groups), 1)
    rows = min(_MAX_BLOCK, max(_MIN_BLOCK, memory // (8 * n * n_groups)))
    if n_groups > 1:
        rows = min(rows, max(_MIN_BLOCK, -(-n // (4 * n_groups))))
    return int(max(1, min(rows, n)))


# exp(-u) = 2^-k exp(-r) with k = round(u / ln 2) and |r| <= ln(2) / 2:
# ln 2 in two parts (the high part exact in few bits, so that k ln2_hi is
# exact), the round-to-integer trick of adding and subtracting 1.5 * 2^52,
# and the degree-13 Taylor polynomial of exp on [-0.35, 0.35] (remainder
# below 1e-16 relative).
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0
_C = (1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0,
      1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0,
      1.0 / 39916800.0, 1.0 / 479001600.0, 1.0 / 6227020800.0)
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = _C


@njit(cache=True, fastmath={"contract"})
def shifted_neg_exp(d, m, out, scale):
    """``out[j] = exp(-(d[j] - m))``, zero where ``d[j] - m > _CUTOFF``, to 2
    units in the last place (``d[j] >= m``).

    A pure arithmetic leaf written so that the compiler vectorises it (the
    polynomial in Estrin's order, the power of two built in the bits of an
    integer, the cutoff folded into that power): several times faster than a
    call to the scalar ``exp`` per entry. Its only relaxation of IEEE
    arithmetic is the contraction of a product and a sum into one fused
    operation.

    Parameters
    ----------
    d : ndarray of shape (n,), float64, IN
    m : float
    out : ndarray of shape (n,), float64, OUT
        Not ``d`` itself: the compiler vectorises the loop only for
        distinct arrays.
    scale : ndarray of shape (>= n,), int64, OUT
        Work space.

    Returns
    -------
    count : int
        The number of entries within the cutoff (non-zero).
    """
    n = d.shape[0]
    count = 0
    for j in range(n):
        v = min(d[j] - m, _CAP)
        k = (v * _LOG2E + _ROUND) - _ROUND
        r = (k * _LN2_HI - v) + k * _LN2_LO
        r2 = r * r
        r4 = r2 * r2
        q0 = (_C0 + r * _C1) + r2 * (_C2 + r * _C3)
        q1 = (_C4 + r * _C5) + r2 * (_C6 + r * _C7)
        q2 = (_C8 + r * _C9) + r2 * (_C10 + r * _C11)
        q3 = _C12 + r * _C13
        out[j] = (q0 + r4 * q1) + (r4 * r4) * (q2 + r4 * q3)
        # 2^-k in the bits of a double; zero beyond the cutoff
        inside = v <= _CUTOFF
        scale[j] = ((np.int64(1023) - np.int64(k)) << 52) if inside else 0
        count += inside
    pow2 = scale[:n].view(np.float64)
    for j in range(n):
        out[j] *= pow2[j]
    return count


@njit(cache=True)
def _row_min(a):
    """The smallest entry of ``a`` (no NaN), in four interleaved partial minima."""
    n = a.shape[0]
    m0 = m1 = m2 = m3 = np.inf
    j = 0
    while j + 4 <= n:
        m0 = min(m0, a[j])
        m1 = min(m1, a[j + 1])
        m2 = min(m2, a[j + 2])
        m3 = min(m3, a[j + 3])
        j += 4
    while j < n:
        m0 = min(m0, a[j])
        j += 1
    return min(min(m0, m1), min(m2, m3))


@njit(cache=True, fastmath={"reassoc", "contract"})
def row_sums(a, b):
    """``sum(a)`` and ``sum(a * b)``.

    A pure arithmetic leaf: its sums may be reassociated (so that the
    compiler vectorises them); the order is fixed by the compiled code, so
    the result is deterministic.

    Parameters
    ----------
    a, b : ndarray of shape (n,), float64, IN

    Returns
    -------
    s, t : float
    """
    s = 0.0
    t = 0.0
    for j in range(a.shape[0]):
        s += a[j]
        t += a[j] * b[j]
    return s, t


@njit(cache=True)
def row_weights(row, i, sq_i, sq, y, colsum, kw, scale, w_out):
    """Turn one row of inner products into the pair weights of row ``i``.

    On entry ``row[j] = z_i . z_j``; on exit ``row[j] = w_ij`` (zero for
    ``j = i`` and for the pairs beyond the cutoff). A few sweeps over the
    row, which stays in cache: squared distances and their minimum over
    ``j != i``; shifted kernel weights and their sums; pair weights.

    The row's pair weights sum to zero
    (``sum_j p_ij (yhat_i - y_j) = yhat_i - yhat_i``): only their column
    sums are accumulated.

    Parameters
    ----------
    row : ndarray of shape (n,), float64, INOUT
        Inner products in, pair weights out.
    i : int
        The row's index among the points (its own column).
    sq_i : float
        ``||z_i||^2`` (finite).
    sq : ndarray of shape (n,), float64, IN
        ``||z_j||^2`` for every point (finite).
    y : ndarray of shape (n,), float64, IN
        Targets.
    colsum : ndarray of shape (n,), float64, INOUT
        The row's pair weights are added to it (column sums of ``W``).
    kw : ndarray of shape (n,), float64, OUT
        Work space (the row's kernel weights).
    scale : ndarray of shape (n,), int64, OUT
        Work space.
    w_out : ndarray of shape (3,), float64, OUT
        ``w_out[0]`` the estimate ``yhat_i``, ``w_out[1]`` the row's number
        of non-zero kernel weights, ``w_out[2]`` its squared error
        ``(yhat_i - y_i)^2``.
    """
    n = row.shape[0]
    for j in range(n):
        # rounding can make the distance of close points negative
        row[j] = max(sq_i + sq[j] - 2.0 * row[j], 0.0)
    row[i] = np.inf
    m = _row_min(row)
    if m == np.inf:
        # every other point infinitely far (sums overflowed): nothing to
        # estimate from
        row[:] = 0.0
        w_out[0] = np.nan
        w_out[1] = 0.0
        w_out[2] = np.inf
        return
    count = shifted_neg_exp(row, m, kw, scale)
    s, t = row_sums(kw, y)
    yhat = t / s
    e = yhat - y[i]
    a = e / s
    for j in range(n):
        w = a * kw[j] * (yhat - y[j])
        row[j] = w
        colsum[j] += w
    w_out[0] = yhat
    w_out[1] = count
    w_out[2] = e * e


def _loss_grad(X, L, y, block, n_groups):
    """MLKR's loss, its gradient in ``L`` and the leave-one-out estimates.

    With ``Z = X L^T`` and ``W`` the ``n x n`` matrix of pair weights
    ``w_ij`` (module docstring), the gradient is ``4 L S`` for

        S = sum_ij w_ij (x_i - x_j)(x_i - x_j)^T
          = X^T diag(deg) X - X^T W X - X^T W^T X,

    ``deg`` the column sums of ``W`` (its row sums vanish). Each block of
    rows adds its share of ``deg`` and of either ``V = W X`` (then
    ``S = Q + Q^T`` with ``Q = X^T (diag(deg) X / 2 - V)``) or, when
    ``2 r < d``, ``V = (W + W^T) Z`` (then ``L S = (diag(deg) Z - V)^T X``):
    the form with fewer products per pair, ``d`` or ``2 r``.

    Blocks of ``block`` consecutive rows are dealt round-robin to
    ``n_groups`` groups, each with its own buffer and its own copy of the
    outputs that every block adds to, summed at the end: groups run in
    parallel in the ``prange`` twin without races, and the result depends on
    ``n_groups`` but not on the threads. :func:`loss_grad` is the serial
    kernel; its twin is chosen by :func:`get_loss_grad`.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64, C order, IN
        Points (centred, for accuracy).
    L : ndarray of shape (r, d), float64, C order, IN
        The linear map.
    y : ndarray of shape (n,), float64, IN
        Targets.
    block : int
        Rows per block (``block x n`` floats per group).
    n_groups : int
        Groups of blocks, each with its own buffer and outputs.

    Returns
    -------
    loss : float
        ``sum_i (yhat_i - y_i)^2``; infinite when the map overflows (the
        gradient is then zero).
    grad : ndarray of shape (r, d)
    yhat : ndarray of shape (n,)
        Leave-one-out estimates.
    """
    n, d = X.shape
    r = L.shape[0]
    z_form = 2 * r < d
    q = r if z_form else d
    block = max(1, min(block, n))
    n_blocks = (n + block - 1) // block
    n_groups = max(1, min(n_groups, n_blocks))
    Z = np.dot(X, L.T)
    sq = sq_norms(Z)
    yhat = np.empty(n)
    grad = np.zeros((r, d))
    if not np.all(np.isfinite(sq)):
        # the map overflowed: an infinite loss (L-BFGS backtracks from it)
        yhat[:] = np.nan
        return np.inf, grad, yhat
    # the rows of a block are its own in V (X-form); the column sums and the
    # W^T Z part of the Z-form reach every row: one copy per group
    V = np.zeros((n, q))
    deg_g = np.zeros((n_groups, n))
    V_g = np.zeros((n_groups if z_form else 0, n, q))
    loss_g = np.zeros(n_groups)
    for g in prange(n_groups):
        buf = np.empty((block, n))
        tmp = np.empty((n if z_form else 0, q))
        stats = np.empty(3)
        kw = np.empty(n)
        scale = np.empty(n, dtype=np.int64)
        deg = deg_g[g]
        for b in range(g, n_blocks, n_groups):
            start = b * block
            stop = min(start + block, n)
            m = stop - start
            G = buf[:m]
            np.dot(Z[start:stop], Z.T, G)
            nnz = 0.0
            loss = 0.0
            for a in range(m):
                i = start + a
                row_weights(G[a], i, sq[i], sq, y, deg, kw, scale, stats)
                yhat[i] = stats[0]
                nnz += stats[1]
                loss += stats[2]
            loss_g[g] += loss
            if nnz * _SPARSE_RATIO < m * n:
                # few non-zero weights: loop over them
                for a in range(m):
                    i = start + a
                    for j in range(n):
                        w = G[a, j]
                        if w != 0.0:
                            if z_form:
                                for t in range(q):
                                    V[i, t] += w * Z[j, t]
                                    V_g[g, j, t] += w * Z[i, t]
                            else:
                                for t in range(q):
                                    V[i, t] += w * X[j, t]
            elif z_form:
                np.dot(G, Z, V[start:stop])
                np.dot(G.T, Z[start:stop], tmp)
                V_g[g] += tmp
            else:
                np.dot(G, X, V[start:stop])
    loss = loss_g[0]
    for g in range(1, n_groups):
        loss += loss_g[g]
    deg = deg_g[0].copy()
    for g in range(1, n_groups):
        deg += deg_g[g]
    if not np.isfinite(loss):
        return np.inf, grad, yhat
    if z_form:
        for g in range(n_groups):
            V += V_g[g]
        # A = diag(deg) Z - V; the gradient is 4 A^T X
        for i in range(n):
            for t in range(q):
                V[i, t] = deg[i] * Z[i, t] - V[i, t]
        np.dot(V.T, X, grad)
        grad *= 4.0
    else:
        # A = diag(deg) X / 2 - V; Q = X^T A; the gradient is 4 L (Q + Q^T)
        for i in range(n):
            for t in range(q):
                V[i, t] = 0.5 * deg[i] * X[i, t] - V[i, t]
        Q = np.dot(X.T, V)
        np.dot(L, Q + Q.T, grad)
        grad *= 4.0
    return loss, grad, yhat


loss_grad, _loss_grad_parallel = serial_and_parallel(_loss_grad)


def get_loss_grad(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return loss_grad
    return _loss_grad_parallel
