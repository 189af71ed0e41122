"""Kernels of NCA (Goldberger et al. 2004): the neighbour softmax, one block
of rows at a time, and the objective with its gradient in ``L``.

Every kernel takes the points sorted by class, so that the points of class
``c`` are the rows ``bounds[c]:bounds[c + 1]`` and ``codes[i]`` is the class
of row ``i``. No kernel builds an ``n x n`` matrix: the softmax is formed
``block`` rows at a time in a ``block x n`` buffer, so the memory a kernel
needs beyond its inputs and outputs is one buffer (of float64, read as
float32 by sparse blocks) per group of blocks. A block runs one of two ways,
with the same terms:

- dense (:func:`row_weights`), while a row's softmax spreads over many
  points: the inner products by one GEMM, the probabilities and gradient
  weights by one pass over each row, their products with the points by a
  second GEMM;
- sparse (:func:`candidate_row`), once it has concentrated on a few: the
  inner products by one single-precision GEMM, which only selects each
  row's candidates (within reach of its softmax, with a rounding bound);
  their distances are then computed exactly, and their weights folded into
  the gradient one by one.

Terms below ``exp(-cutoff)`` times a row's largest are dropped (the caller
chooses ``cutoff`` so that they add up to less than the row's rounding
error). The exponential is computed by :func:`exp_neg`, which vectorises.

:func:`nca_value_grad` has a ``prange`` twin, chosen by
:func:`get_nca_value_grad`.
"""

import math

import numpy as np
from numba import njit, prange

from . import serial_and_parallel
from .distances import sq_norms

# ln 2 split in a part with trailing zero bits (so that k * _LN2_HI is exact
# for |k| < 2^11) and the rest (Cody and Waite)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00


@njit(cache=True, fastmath={"contract"})
def exp_neg(t):
    """``exp(-t)`` for ``0 <= t <= 700``, to about 2 ulp, in arithmetic that
    vectorises (libm's ``exp`` does not, and dominates a softmax otherwise).
    Pure arithmetic on finite values: its multiplications and additions may
    be fused, which only makes them more accurate.

    ``-t = k ln 2 + u`` with ``k`` an integer and ``|u| <= ln 2 / 2``; then
    ``exp(-t) = 2^k exp(u)`` with ``exp(u)`` from its Taylor polynomial of
    degree 13 (truncation error below ``u^14 / 14! < 5e-18``) and ``2^k``
    written into the exponent bits.

    Parameters
    ----------
    t : float

    Returns
    -------
    float
    """
    x = -t
    k = math.floor(x * _INV_LN2 + 0.5)
    u = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * u + 1.0 / 479001600.0
    p = p * u + 1.0 / 39916800.0
    p = p * u + 1.0 / 3628800.0
    p = p * u + 1.0 / 362880.0
    p = p * u + 1.0 / 40320.0
    p = p * u + 1.0 / 5040.0
    p = p * u + 1.0 / 720.0
    p = p * u + 1.0 / 120.0
    p = p * u + 1.0 / 24.0
    p = p * u + 1.0 / 6.0
    p = p * u + 0.5
    p = p * u + 1.0
    p = p * u + 1.0
    scale = np.int64((np.int64(k) + 1023) << 52).view(np.float64)
    return p * scale


@njit(cache=True)
def _range_sum(v, lo, hi):
    """``v[lo:hi].sum()`` in eight interleaved partial sums (a fixed order,
    which lets the additions overlap and vectorise)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    k = lo
    while k + 8 <= hi:
        s0 += v[k]
        s1 += v[k + 1]
        s2 += v[k + 2]
        s3 += v[k + 3]
        s4 += v[k + 4]
        s5 += v[k + 5]
        s6 += v[k + 6]
        s7 += v[k + 7]
        k += 8
    while k < hi:
        s0 += v[k]
        k += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=True)
def _row_min(v):
    """The smallest entry of ``v`` (no NaN), in four interleaved partial minima."""
    n = v.shape[0]
    m0 = m1 = m2 = m3 = np.inf
    k = 0
    while k + 4 <= n:
        m0 = min(m0, v[k])
        m1 = min(m1, v[k + 1])
        m2 = min(m2, v[k + 2])
        m3 = min(m3, v[k + 3])
        k += 4
    while k < n:
        m0 = min(m0, v[k])
        k += 1
    return min(min(m0, m1), min(m2, m3))


@njit(cache=True)
def row_weights(g, norms, i, lo, hi, cutoff, col_sums):
    """One row of the softmax and of the gradient weights, in place.

    On entry ``g[k] = z_i . z_k``; on exit ``g[k] = W_ik`` with
    ``p_ik = softmax_k(-||z_i - z_k||^2)`` over ``k != i``,
    ``p_i = sum_{k in [lo, hi)} p_ik`` and
    ``W_ik = p_ik (p_i - [lo <= k < hi])`` (``W_ii = 0``), the weights of
    ``d p_i / d L = 2 L sum_k W_ik (x_i - x_k)(x_i - x_k)^T``. The softmax is
    shifted by the smallest distance; terms with ``exp(-t) < exp(-cutoff)``
    relative to the largest are zero.

    Parameters
    ----------
    g : ndarray of shape (n,), float64, INOUT
        Work row: inner products in, weights out.
    norms : ndarray of shape (n,), float64, IN
        ``||z_k||^2``.
    i : int
        The row's point.
    lo, hi : int
        The rows of its class.
    cutoff : float
        At most 700.
    col_sums : ndarray of shape (n,), float64, INOUT
        ``W_ik`` is added to ``col_sums[k]``.

    Returns
    -------
    p_i : float
        The probability that ``i`` picks a neighbour of its class.
    n_kept : int
        The number of ``k`` in the softmax (``p_ik > 0``).
    nearest : int
        The nearest ``k`` (the first of equals).
    """
    n = g.shape[0]
    ni = norms[i]
    for k in range(n):
        g[k] = ni + norms[k] - 2.0 * g[k]
    g[i] = np.inf
    m = _row_min(g)
    best = 0
    while g[best] != m:
        best += 1
    count = 0
    for k in range(n):
        t = g[k] - m
        e = exp_neg(min(t, cutoff))
        keep = t <= cutoff
        g[k] = e if keep else 0.0
        count += 1 if keep else 0
    # p_i - 1 from the other classes' terms, without cancellation
    inside = _range_sum(g, lo, hi)
    outside = _range_sum(g, 0, lo) + _range_sum(g, hi, n)
    total = inside + outside
    p = inside / total
    other = p / total
    same = -(outside / total) / total
    for k in range(lo):
        g[k] *= other
    for k in range(lo, hi):
        g[k] *= same
    for k in range(hi, n):
        g[k] *= other
    for k in range(n):
        col_sums[k] += g[k]
    return p, count, best


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sq_dist(Z, a, b):
    """``||Z[a] - Z[b]||^2``. Pure arithmetic on finite values: the sum may
    be reordered (vectorised) and fused, which changes only its rounding."""
    s = 0.0
    for t in range(Z.shape[1]):
        e = Z[a, t] - Z[b, t]
        s += e * e
    return s


@njit(cache=True)
def _select(g, norms, i, unscale, rel, threshold, flags, idx):
    """Write to ``idx`` (in increasing order) the ``k != i`` whose lower
    bound ``(1 - rel)(|z_i|^2 + |z_k|^2) - 2 unscale g[k]`` on the squared
    distance is at most ``threshold``; return their number.

    A vectorised pass flags them, one byte each; the flags are then read
    eight at a time, as one 64-bit word (most words are zero: few points
    are candidates).
    """
    n = g.shape[0]
    shrink = 1.0 - rel
    two_u = 2.0 * unscale
    base = threshold - shrink * norms[i]
    for k in range(n):
        flags[k] = shrink * norms[k] - two_u * g[k] <= base
    flags[i] = 0
    words = flags.view(np.uint64)
    m = 0
    for w in range(words.shape[0]):
        if words[w] != 0:
            for k in range(8 * w, 8 * w + 8):
                idx[m] = k
                m += flags[k]
    return m


@njit(cache=True)
def candidate_row(g, Z, norms, i, lo, hi, cutoff, unscale, rel, slack, nearest, flags, idx,
                  work, M, out_row, col_sums, U, refresh):
    """One row of the softmax and of the gradient terms, from the candidates
    that single-precision inner products select: the sparse twin of
    :func:`row_weights`.

    ``g[k]`` approximates ``z_i . z_k / unscale`` to within a relative
    ``rel`` of ``(|z_i|^2 + |z_k|^2) / (2 unscale)`` plus ``slack / 2``. The
    exact distance to the previous nearest point ``nearest[i]`` bounds the
    smallest distance ``m`` from above, so every ``k`` with
    ``||z_i - z_k||^2 <= m + cutoff`` is among the candidates whose lower
    bound is within ``cutoff`` of it. Their distances are computed exactly
    (from the differences), and only those within ``cutoff`` of the
    smallest enter the softmax: the same terms as in :func:`row_weights`.
    With ``refresh``, the point nearest by the single-precision products
    (its exact distance) tightens that bound first, for a ``nearest[i]``
    that may be far (before any evaluation found the nearest points): any
    point's exact distance bounds ``m`` from above, so the terms are the
    same either way.

    Parameters
    ----------
    g : ndarray of shape (n,), float32, IN
        Scaled single-precision inner products of ``z_i`` with every point.
    Z : ndarray of shape (n, r), float64, IN
    norms : ndarray of shape (n,), float64, IN
    i, lo, hi : int
        The row's point and the rows of its class.
    cutoff, unscale, rel, slack : float
    nearest : ndarray of shape (n,), integer, INOUT
        For each row, a point other than itself (the nearest one seen
        last); ``nearest[i]`` is updated to the nearest point of ``i``.
    flags : ndarray of shape (8 * ceil(n / 8),), uint8, INOUT
        Work space, whose entries from ``n`` on are zero (and stay so).
    idx : ndarray of shape (n,), intp, OUT
        Work space: the candidates.
    work : ndarray of shape (n,), float64, OUT
        Work space: their distances, then weights.
    M : ndarray of shape (n, w), float64, IN
        The rows folded into ``out_row``: ``X``, or ``Z`` (with ``U``).
    out_row : ndarray of shape (w,), float64, OUT
        ``sum_k W_ik M[k]``.
    col_sums : ndarray of shape (n,), float64, INOUT
        ``W_ik`` is added to ``col_sums[k]``.
    U : ndarray of shape (n, r) or (0, r), float64, INOUT
        If not empty, ``W_ik z_i`` is added to ``U[k]``.
    refresh : bool
        Look for a nearer point than ``nearest[i]`` among all the points.

    Returns
    -------
    p_i : float
    n_candidates : int
    """
    bound = _sq_dist(Z, i, nearest[i])
    if refresh:
        # |z_k|^2 - 2 z_i . z_k, the distance up to |z_i|^2, from the
        # single-precision products; its argmin's exact distance
        two_u = 2.0 * unscale
        n = g.shape[0]
        for k in range(n):
            work[k] = norms[k] - two_u * g[k]
        work[i] = np.inf
        least = _row_min(work[:n])
        c = 0
        while work[c] != least:
            c += 1
        t = _sq_dist(Z, i, c)
        if t < bound:
            bound = t
            nearest[i] = c
    threshold = bound + cutoff + slack
    m = _select(g, norms, i, unscale, rel, threshold, flags, idx)
    # the candidates of i's class (contiguous rows) come between these
    m_lo = np.searchsorted(idx[:m], lo)
    m_hi = np.searchsorted(idx[:m], hi)
    for q in range(m):
        work[q] = _sq_dist(Z, i, idx[q])
    smallest = _row_min(work[:m])
    q = 0
    while work[q] != smallest:
        q += 1
    nearest[i] = idx[q]
    for q in range(m):
        t = work[q] - smallest
        e = exp_neg(min(t, cutoff))
        work[q] = e if t <= cutoff else 0.0
    # p_i - 1 from the other classes' terms, without cancellation
    same = _range_sum(work, m_lo, m_hi)
    outside = _range_sum(work, 0, m_lo) + _range_sum(work, m_hi, m)
    total = same + outside
    p = same / total
    other = p / total
    inside = -(outside / total) / total
    for q in range(m_lo):
        work[q] *= other
    for q in range(m_lo, m_hi):
        work[q] *= inside
    for q in range(m_hi, m):
        work[q] *= other
    out_row[:] = 0.0
    scatter = U.shape[0] > 0
    w_cols = M.shape[1]
    r = Z.shape[1]
    for q in range(m):
        w = work[q]
        if w == 0.0:
            continue
        k = idx[q]
        col_sums[k] += w
        for f in range(w_cols):
            out_row[f] += w * M[k, f]
        if scatter:
            for f in range(r):
                U[k, f] += w * Z[i, f]
    return p, m


def _nca_value_grad(X, L, bounds, codes, nearest, block, n_groups, by_map, cutoff,
                    dense_fraction, start_dense, refresh):
    """NCA's objective ``f(L) = sum_i p_i`` and its gradient in ``L``.

    ``p_ij = softmax_j(-||L x_i - L x_j||^2)`` over ``j != i`` and
    ``p_i = sum_{j: y_j = y_i} p_ij``. With the weights
    ``W_ik = p_ik (p_i - [y_k = y_i])``, the gradient is
    ``2 L sum_ik W_ik (x_i - x_k)(x_i - x_k)^T``, assembled without forming
    ``W`` whole, one block ``B`` of rows at a time, in one of two ways:

    - dense (while many weights are non-zero): ``Z_B Z^T`` in one GEMM into
      a ``block x n`` buffer, turned into ``W_B`` in place
      (:func:`row_weights`), then ``W_B M`` in a second GEMM;
    - sparse (once the softmax has concentrated): ``Z_B Z^T`` in one
      single-precision GEMM, which selects each row's candidates; their
      distances are then computed exactly and their weights folded in one
      by one (:func:`candidate_row`). The two give the same terms.

    A block goes sparse when fewer than ``dense_fraction`` of the entries of
    the previous block of its group were candidates (or non-zero), the
    first block of each group when ``start_dense`` is false.

    The products ``M`` are ``X`` (``by_map=False``): ``X_B^T (W_B X)`` is
    added to ``S = X^T W X``, and the gradient is
    ``2 L (X^T diag(c) X - S - S^T)`` with ``c`` the column sums of ``W``
    (its row sums are zero); or ``Z = X L^T`` (``by_map=True``, cheaper
    when ``2 r < d``): ``W_B Z`` gives the rows ``B`` of ``V = W Z``,
    ``W_B^T Z_B`` is added to ``U = W^T Z``, and the gradient is
    ``2 (diag(c) Z - U - V)^T X``.

    The blocks are dealt round-robin to ``n_groups`` groups, each with its
    own buffers and partial sums, added at the end: the groups run in
    parallel in the ``prange`` twin without races, and the result depends
    on ``n_groups`` but not on the threads. :func:`nca_value_grad` is the
    serial kernel; its twin is chosen by :func:`get_nca_value_grad`.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64, IN
        Points sorted by class (centred: the dense distances are expanded
        as ``|z_i|^2 + |z_k|^2 - 2 z_i . z_k``, which loses digits far from
        the origin).
    L : ndarray of shape (r, d), float64, IN
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    codes : ndarray of shape (n,), integer, IN
        Class of each row (an index into ``bounds``).
    nearest : ndarray of shape (n,), integer, INOUT
        For each row, a point other than itself (the nearest one found by
        the previous evaluation, or any other point); updated to its
        nearest point at ``L``.
    block : int
        Rows per block.
    n_groups : int
        Groups of blocks, each with its own buffers and partial sums.
    by_map : bool
        Fold the weights into ``Z`` rather than ``X`` (see above).
    dense_fraction : float
        The density of candidates above which a block runs dense.
    start_dense : bool
        Whether the first block of each group runs dense.
    refresh : bool
        Whether the sparse blocks look for nearer points than ``nearest``
        (when ``nearest`` is not from a previous evaluation).

    Returns
    -------
    value : float
        ``f(L) = sum_i p_i``.
    grad : ndarray of shape (r, d)
        Its gradient in ``L``.
    p : ndarray of shape (n,)
        ``p_i`` of every point.
    density : float
        The fraction of the ``n^2`` entries that were candidates or
        non-zero, for the next evaluation's ``start_dense``.
    """
    n, d = X.shape
    r = L.shape[0]
    Z = np.dot(X, L.T)
    norms = sq_norms(Z)
    # The single-precision products only select candidates (whose distances
    # are then computed exactly), on Z scaled by a power of two to entries
    # below 1 in magnitude. Rounding the entries and summing r products in
    # float32 errs by less than (r + 2) 2^-24 (|z_i|^2 + |z_k|^2) / 2 in
    # z_i . z_k, so the bounds below are safe.
    z_max = 0.0
    for k in range(n):
        for t in range(r):
            z_max = max(z_max, abs(Z[k, t]))
    scale = math.ldexp(1.0, -math.frexp(z_max)[1]) if z_max > 0.0 else 1.0
    Z32 = (Z * scale).astype(np.float32)
    unscale = 1.0 / (scale * scale)
    rel = (r + 4) * 2.0**-23
    slack = (r + 4) * 2.0**-100 * unscale
    n_blocks = (n + block - 1) // block
    g_count = max(1, min(n_groups, n_blocks))
    width = r if by_map else d
    M = Z if by_map else X
    p = np.empty(n)
    col = np.zeros((g_count, n))
    acc_rows = n if by_map else d
    acc = np.zeros((g_count, acc_rows, width))
    V = np.empty((n, r)) if by_map else np.empty((0, r))
    counts = np.zeros(g_count)
    for g in prange(g_count):
        # one buffer, read as float64 by dense blocks, float32 by sparse ones
        flat = np.empty(block * n)
        buf = flat.reshape((block, n))
        buf32 = flat.view(np.float32)[: block * n].reshape((block, n))
        out = np.empty((block, width))
        tmp = np.empty((acc_rows, width))
        idx = np.empty(n, dtype=np.intp)
        flags = np.zeros(-(-n // 8) * 8, dtype=np.uint8)
        work = np.empty(n)
        U = acc[g] if by_map else np.empty((0, r))
        dense = start_dense
        for b in range(g, n_blocks, g_count):
            start = b * block
            stop = min(start + block, n)
            m = stop - start
            Y = out[:m]
            count = 0
            if dense:
                W = buf[:m]
                np.dot(Z[start:stop], Z.T, W)
                for a in range(m):
                    i = start + a
                    c = codes[i]
                    pi, kept, best = row_weights(W[a], norms, i, bounds[c], bounds[c + 1],
                                                 cutoff, col[g])
                    p[i] = pi
                    nearest[i] = best
                    count += kept
                np.dot(W, M, Y)
                if by_map:
                    np.dot(W.T, Z[start:stop], tmp)
                    acc[g] += tmp
            else:
                G = buf32[:m]
                np.dot(Z32[start:stop], Z32.T, G)
                for a in range(m):
                    i = start + a
                    c = codes[i]
                    pi, cand = candidate_row(G[a], Z, norms, i, bounds[c], bounds[c + 1],
                                             cutoff, unscale, rel, slack, nearest, flags, idx,
                                             work, M, Y[a], col[g], U, refresh)
                    p[i] = pi
                    count += cand
            if by_map:
                V[start:stop] = Y
            else:
                np.dot(X[start:stop].T, Y, tmp)
                acc[g] += tmp
            counts[g] += count
            dense = count > dense_fraction * m * n
    for g in range(1, g_count):
        col[0] += col[g]
        acc[0] += acc[g]
    c = col[0]
    if by_map:
        H = -acc[0] - V
        for k in range(n):
            for t in range(r):
                H[k, t] += c[k] * Z[k, t]
        grad = 2.0 * np.dot(H.T, X)
    else:
        S = acc[0]
        Xc = np.empty((n, d))
        for k in range(n):
            for f in range(d):
                Xc[k, f] = c[k] * X[k, f]
        A = np.dot(X.T, Xc) - S - S.T
        grad = 2.0 * np.dot(L, A)
    return _range_sum(p, 0, n), grad, p, counts.sum() / (float(n) * n)


nca_value_grad, _nca_value_grad_parallel = serial_and_parallel(_nca_value_grad)


def get_nca_value_grad(n_jobs=1):
    """The serial kernel when ``n_jobs`` is ``None`` or 1, else its ``prange``
    twin (run on numba's current number of threads, which the caller sets)."""
    if n_jobs is None or n_jobs == 1:
        return nca_value_grad
    return _nca_value_grad_parallel
