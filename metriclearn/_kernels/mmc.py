"""Kernels of MMC (Xing et al. 2002): the projection onto the feasible set of
the full problem and the diagonal objective with its derivatives."""

import numpy as np
from numba import njit

from .distances import weighted_outer_sum


@njit(cache=True)
def project_psd_trace(M, bound):
    """Euclidean projection of a symmetric ``M`` onto ``{X PSD, trace X <= bound}``.

    This is MMC's feasible set ``C1 ∩ C2`` once the data are whitened by the
    similar pairs' scatter (``C1`` becomes ``trace X <= bound``). Both sets
    share ``M``'s eigenvectors, so the projection acts on the eigenvalues
    alone: clip them at zero (``C2``) and, if their sum still exceeds
    ``bound``, shift them down by the ``theta`` that makes the sum of the
    positive parts equal ``bound`` (the projection onto the capped simplex).
    One eigen-decomposition, exact.

    Parameters
    ----------
    M : ndarray of shape (d, d), float64, IN
        Symmetrised (``(M + M^T) / 2``) before the decomposition.
    bound : float

    Returns
    -------
    P : ndarray of shape (d, d), float64
        The projection, newly allocated.
    """
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    d = w.shape[0]
    total = 0.0
    for k in range(d):
        if w[k] > 0.0:
            total += w[k]
    theta = 0.0
    if total > bound:
        # largest rho with w_(rho) > (sum of the rho largest - bound) / rho,
        # eigenvalues being ascending
        acc = 0.0
        for rho in range(1, d + 1):
            acc += w[d - rho]
            t = (acc - bound) / rho
            if w[d - rho] > t:
                theta = t
    P = np.zeros_like(M)
    for k in range(d):
        lam = w[k] - theta
        if lam > 0.0:
            for i in range(d):
                vik = lam * V[i, k]
                for j in range(d):
                    P[i, j] += vik * V[j, k]
    return P


@njit(cache=True)
def diagonal_objective(a, s_sum, diff_sq_D, c):
    """Xing's diagonal objective and its derivatives at ``a``.

    ``h(a) = s_sum @ a - c * log(sum_i sqrt(diff_sq_D[i] @ a))``; returns
    ``(h, grad, hess)``. Pairs at distance zero under ``a`` contribute no
    curvature (their square root is not differentiable there); the estimator
    removes pairs of identical points beforehand.

    Parameters
    ----------
    a : ndarray of shape (d,), float64, IN
        The diagonal of ``M``.
    s_sum : ndarray of shape (d,), float64, IN
        Sum of the squared differences of the similar pairs.
    diff_sq_D : ndarray of shape (n, d), float64, IN
        Squared differences of the dissimilar pairs, one per row.
    c : float
        Weight of the log term.

    Returns
    -------
    h : float
        ``inf`` when every dissimilar pair is at distance zero (``grad`` and
        ``hess`` are then zero).
    grad : ndarray of shape (d,), float64
    hess : ndarray of shape (d, d), float64
    """
    n, d = diff_sq_D.shape
    u = np.zeros(d)
    w = np.zeros(n)
    S = 0.0
    for i in range(n):
        q = 0.0
        for k in range(d):
            q += diff_sq_D[i, k] * a[k]
        if q <= 0.0:
            continue
        r = np.sqrt(q)
        S += r
        for k in range(d):
            u[k] += 0.5 * diff_sq_D[i, k] / r
        w[i] = 0.25 / (q * r)
    # sum_i w_i outer(diff_sq_D[i], diff_sq_D[i]) by blocked GEMM
    H = weighted_outer_sum(diff_sq_D, w)
    if S <= 0.0:
        return np.inf, u, H
    h = 0.0
    for k in range(d):
        h += s_sum[k] * a[k]
    h -= c * np.log(S)
    grad = s_sum - (c / S) * u
    for k in range(d):
        for m in range(k, d):
            v = c * (H[k, m] / S + u[k] * u[m] / (S * S))
            H[k, m] = v
            H[m, k] = v
    return h, grad, H


@njit(cache=True)
def diagonal_value(a, s_sum, diff_sq_D, c):
    """``h(a)`` alone (for the line search): O(n d), no derivatives.

    Parameters
    ----------
    a, s_sum : ndarray of shape (d,), float64, IN
    diff_sq_D : ndarray of shape (n, d), float64, IN
    c : float
        As in :func:`diagonal_objective`.

    Returns
    -------
    h : float
    """
    n, d = diff_sq_D.shape
    S = 0.0
    for i in range(n):
        q = 0.0
        for k in range(d):
            q += diff_sq_D[i, k] * a[k]
        if q > 0.0:
            S += np.sqrt(q)
    if S <= 0.0:
        return np.inf
    h = 0.0
    for k in range(d):
        h += s_sum[k] * a[k]
    return h - c * np.log(S)
