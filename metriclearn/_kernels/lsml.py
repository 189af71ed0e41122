"""Kernels of LSML (Liu et al. 2012): the squared residuals of the violated
comparisons and the coefficients of their gradient."""

import numpy as np
from numba import njit


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
