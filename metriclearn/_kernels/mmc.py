"""Kernels of MMC (Xing et al. 2002): the Euclidean projection onto the
feasible set {M PSD, <M, Sigma_S> <= 1} and the diagonal objective."""

import numpy as np
from numba import njit


@njit(cache=True)
def psd_clip(M):
    """Projection of a symmetric matrix onto the PSD cone (clip eigenvalues
    at zero). Returns the projection and its eigenvalues."""
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    d = w.shape[0]
    P = np.zeros_like(M)
    for k in range(d):
        if w[k] > 0.0:
            for i in range(d):
                vik = w[k] * V[i, k]
                for j in range(d):
                    P[i, j] += vik * V[j, k]
    return P, w


@njit(cache=True)
def _frob_inner(A, B):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += A[i, j] * B[i, j]
    return s


@njit(cache=True)
def project_c1_c2(M, Sigma, bound, max_proj, rtol):
    """Euclidean projection of ``M`` onto ``{X PSD, <X, Sigma> <= bound}``.

    With ``Sigma`` PSD, the projection is ``P(lam) = psd_clip(M - lam Sigma)``
    for the smallest ``lam >= 0`` such that ``<P(lam), Sigma> <= bound``
    (its KKT conditions); ``phi(lam) = <P(lam), Sigma>`` is non-increasing
    (the PSD projection is monotone), so ``lam`` is found by a safeguarded
    secant search (Illinois rule) inside a bracket.

    Returns ``(X, lam, n_proj, ok)``: ``n_proj`` PSD projections were made;
    ``ok`` is False when ``max_proj`` ran out before ``|phi - bound| <=
    rtol * bound``, in which case ``X`` is the feasible end of the bracket.
    """
    P, _ = psd_clip(M)
    n_proj = 1
    phi = _frob_inner(P, Sigma)
    if phi <= bound:
        return P, 0.0, n_proj, True
    ss = _frob_inner(Sigma, Sigma)
    # bracket [lo, hi] with phi(lo) > bound >= phi(hi); the first guess is
    # the step that projects onto the half-space alone
    lo, f_lo = 0.0, phi - bound
    hi = (phi - bound) / ss
    P_hi, _ = psd_clip(M - hi * Sigma)
    n_proj += 1
    f_hi = _frob_inner(P_hi, Sigma) - bound
    while f_hi > 0.0 and n_proj < max_proj:
        lo, f_lo = hi, f_hi
        hi *= 2.0
        P_hi, _ = psd_clip(M - hi * Sigma)
        n_proj += 1
        f_hi = _frob_inner(P_hi, Sigma) - bound
    if f_hi > 0.0:
        return P_hi, hi, n_proj, False
    side = 0
    while n_proj < max_proj and -f_hi > rtol * bound:
        # regula falsi with the Illinois modification
        lam = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not (lo < lam < hi):
            lam = 0.5 * (lo + hi)
        P, _ = psd_clip(M - lam * Sigma)
        n_proj += 1
        f = _frob_inner(P, Sigma) - bound
        if f > 0.0:
            lo, f_lo = lam, f
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi, P_hi = lam, f, P
            if side == 1:
                f_lo *= 0.5
            side = 1
            if -f <= rtol * bound:
                break
    return P_hi, hi, n_proj, -f_hi <= rtol * bound


@njit(cache=True)
def diagonal_objective(a, s_sum, diff_sq_D, c):
    """Xing's diagonal objective and its derivatives at ``a``.

    ``h(a) = s_sum @ a - c * log(sum_i sqrt(diff_sq_D[i] @ a))``; returns
    ``(h, grad, hess)``. Pairs at distance zero under ``a`` contribute no
    curvature (their square root is not differentiable there); the estimator
    removes pairs of identical points beforehand.
    """
    n, d = diff_sq_D.shape
    u = np.zeros(d)
    H = np.zeros((d, d))
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
        c3 = 0.25 / (q * r)
        for k in range(d):
            x = c3 * diff_sq_D[i, k]
            if x != 0.0:
                for m in range(k, d):
                    H[k, m] += x * diff_sq_D[i, m]
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
    """``h(a)`` alone (for the line search): O(n d), no derivatives."""
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
