"""Kernels of LSML (Liu et al. 2012): the squared residuals of the violated
comparisons and the coefficients of their gradient, and the whole objective
with its gradient in one call (:func:`evaluate`)."""

import numpy as np
from numba import njit

from .distances import sq_norms


@njit(cache=True)
def residual_terms(ab, cd, w, coef_ab, coef_cd):
    r"""The weighted squared residuals of the quadruplets whose comparison
    is violated, and the coefficients of their gradient in ``M``.

    For a quadruplet with squared learned distances ``a`` (first pair) and
    ``c`` (second pair), the residual is
    :math:`(\sqrt{a} - \sqrt{c})^2` when ``a > c`` and 0 otherwise; its
    derivatives are :math:`1 - \sqrt{c / a}` in ``a`` and
    :math:`1 - \sqrt{a / c}` in ``c`` (both 0 at ``a == c``, so the loss is
    continuously differentiable). The gradient of the loss in ``M`` is
    :math:`\sum_i coef\_ab_i\, v_i v_i^T + coef\_cd_i\, u_i u_i^T` with
    ``v``, ``u`` the differences of the two pairs. A second pair of identical
    points (``c == 0``) has ``u = 0``: its coefficient is 0.

    Parameters
    ----------
    ab : ndarray of shape (n,), float64, IN
        Squared learned distances of the first pairs.
    cd : ndarray of shape (n,), float64, IN
        Squared learned distances of the second pairs.
    w : ndarray of shape (n,), float64, IN
        Weights of the quadruplets.
    coef_ab : ndarray of shape (n,), float64, OUT
        ``w_i (1 - sqrt(c_i / a_i))`` for violated quadruplets, 0 otherwise.
    coef_cd : ndarray of shape (n,), float64, OUT
        ``w_i (1 - sqrt(a_i / c_i))`` for violated quadruplets, 0 otherwise.

    Returns
    -------
    loss : float
        :math:`\sum_i w_i (\sqrt{a_i} - \sqrt{c_i})_+^2`.
    n_violated : int
        Number of violated quadruplets.
    """
    loss = 0.0
    n_violated = 0
    for i in range(ab.shape[0]):
        a = ab[i]
        c = cd[i]
        if a > c:
            sa = np.sqrt(a)
            sc = np.sqrt(c)
            r = sa - sc
            loss += w[i] * r * r
            coef_ab[i] = w[i] * r / sa
            coef_cd[i] = -w[i] * r / sc if c > 0.0 else 0.0
            n_violated += 1
        else:
            coef_ab[i] = 0.0
            coef_cd[i] = 0.0
    return loss, n_violated


@njit(cache=True)
def evaluate(V, U, w, prior_inv, L, grad):
    r"""LSML's objective at ``M = L^T L``, its gradient in ``L`` and the norm
    of its gradient in ``M``, in one call.

    .. math::

        F = \sum_i w_i (\sqrt{v_i^T M v_i} - \sqrt{u_i^T M u_i})_+^2
            + \operatorname{tr}(L M_0^{-1} L^T) - 2 \log|\det L|,

    :math:`\nabla_L F = 2 (L A + L M_0^{-1} - L^{-T})` with
    :math:`A = \sum_i coef\_ab_i v_i v_i^T + coef\_cd_i u_i u_i^T` (the
    coefficients of :func:`residual_terms`), and
    :math:`\nabla_M F = L^{-1} \nabla_L F / 2`, symmetrised. The terms of
    ``A`` are summed over the violated quadruplets only.

    Parameters
    ----------
    V, U : ndarray of shape (n, d), float64, IN
        Differences of the first and of the second pairs.
    w : ndarray of shape (n,), float64, IN
        Weights of the quadruplets.
    prior_inv : ndarray of shape (d, d), float64, IN
        :math:`M_0^{-1}`.
    L : ndarray of shape (d, d), float64, IN
    grad : ndarray of shape (d, d), float64, OUT
        :math:`\nabla_L F`; zeros when ``L`` is singular.

    Returns
    -------
    value : float
        ``F``; ``inf`` when ``L`` is singular (or not finite).
    grad_norm : float
        Frobenius norm of :math:`\nabla_M F`; ``inf`` when ``L`` is singular.
    """
    n, d = V.shape
    grad[:] = 0.0
    for v in L.ravel():
        if not np.isfinite(v):
            return np.inf, np.inf
    sign, log_abs_det = np.linalg.slogdet(L)
    if sign == 0.0 or not np.isfinite(log_abs_det):
        return np.inf, np.inf
    Lt = np.ascontiguousarray(L.T)
    ZV = V @ Lt
    ZU = U @ Lt
    ab = sq_norms(ZV)
    cd = sq_norms(ZU)
    coef_ab = np.empty(n)
    coef_cd = np.empty(n)
    loss, n_violated = residual_terms(ab, cd, w, coef_ab, coef_cd)
    LP = L @ prior_inv
    trace = 0.0
    for i in range(d):
        for k in range(d):
            trace += LP[i, k] * L[i, k]
    value = loss + trace - 2.0 * log_abs_det
    Linv = np.linalg.inv(L)
    # half the gradient: L A + L M0^{-1} - L^{-T}
    for i in range(d):
        for k in range(d):
            grad[i, k] = LP[i, k] - Linv[k, i]
    if n_violated:
        # the violated rows, weighted, side by side: [ZV * a; ZU * c] and [V; U]
        Zh = np.empty((2 * n_violated, d))
        Xh = np.empty((2 * n_violated, d))
        r = 0
        for i in range(n):
            if coef_ab[i] != 0.0 or coef_cd[i] != 0.0:
                for k in range(d):
                    Zh[r, k] = ZV[i, k] * coef_ab[i]
                    Xh[r, k] = V[i, k]
                    Zh[r + 1, k] = ZU[i, k] * coef_cd[i]
                    Xh[r + 1, k] = U[i, k]
                r += 2
        grad += Zh[:r].T @ Xh[:r]
    G = Linv @ grad
    norm = 0.0
    for i in range(d):
        for k in range(d):
            s = 0.5 * (G[i, k] + G[k, i])
            norm += s * s
    for i in range(d):
        for k in range(d):
            grad[i, k] *= 2.0
    return value, np.sqrt(norm)
