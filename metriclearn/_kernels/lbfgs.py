"""The kernel of the L-BFGS solver of :mod:`metriclearn._lbfgs`: the
two-loop recursion (Nocedal & Wright, Algorithm 7.4)."""

import numpy as np
from numba import njit


@njit(cache=True)
def two_loop(g, S, Y, rho, newest, count, gamma, p):
    r"""The L-BFGS direction :math:`p = -H g`, with :math:`H` the inverse
    Hessian approximation of the ``count`` newest curvature pairs and the
    initial matrix :math:`\gamma I`.

    Parameters
    ----------
    g : ndarray of shape (n,), float64, IN
        The gradient.
    S, Y : ndarray of shape (m, n), float64, IN
        The steps :math:`s_j` and gradient changes :math:`y_j`, a ring of
        ``m`` rows; row ``newest`` holds the newest pair, the older ones
        precede it (cyclically).
    rho : ndarray of shape (m,), float64, IN
        :math:`1 / y_j^T s_j`.
    newest, count : int
        The newest pair's row and the number of pairs held.
    gamma : float
        Scale of the initial inverse Hessian.
    p : ndarray of shape (n,), float64, OUT
        The direction.
    """
    m, n = S.shape
    alpha = np.empty(m)
    q = g.copy()
    for j in range(count):
        r = (newest - j) % m
        a = 0.0
        for i in range(n):
            a += S[r, i] * q[i]
        a *= rho[r]
        alpha[r] = a
        for i in range(n):
            q[i] -= a * Y[r, i]
    for i in range(n):
        q[i] *= gamma
    for j in range(count - 1, -1, -1):
        r = (newest - j) % m
        b = 0.0
        for i in range(n):
            b += Y[r, i] * q[i]
        b = alpha[r] - rho[r] * b
        for i in range(n):
            q[i] += b * S[r, i]
    for i in range(n):
        p[i] = -q[i]
