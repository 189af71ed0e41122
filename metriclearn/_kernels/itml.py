"""ITML kernel: one cyclic sweep of Bregman projections (Davis et al. 2007).

Each constraint ``delta * (v^T M v - xi) <= 0`` (``delta = +1`` for a similar
pair, ``-1`` for a dissimilar one) is visited once per sweep. Its projection
is a rank-one update ``M <- M + beta (M v)(M v)^T``: O(d^2) work, no
allocation. The state (``M``, the dual variables ``lam`` and the slack targets
``xi``) belongs to the solver that calls the sweep and is updated in place;
the pair differences ``V`` are only read.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def bregman_sweep(M, V, delta, lam, xi, gamma):
    """One pass of cyclic Bregman projections over every constraint.

    Parameters
    ----------
    M : ndarray of shape (d, d)
        Symmetric positive definite matrix, updated in place. The update
        ``M[j, i] += beta * (u[j] * u[i])`` keeps it exactly symmetric
        (floating-point multiplication commutes).
    V : ndarray of shape (m, d)
        Pair differences ``x - x'``, one constraint per row.
    delta : ndarray of shape (m,)
        ``+1.0`` for an upper bound (similar pair), ``-1.0`` for a lower bound.
    lam : ndarray of shape (m,)
        Dual variables (non-negative), updated in place.
    xi : ndarray of shape (m,)
        Slack targets (positive), updated in place.
    gamma : float
        Weight of the slack divergence; ``inf`` keeps ``xi`` fixed (hard
        constraints).

    Returns
    -------
    n_updates : int
        Number of constraints whose projection changed ``M``. Rows of ``V``
        with ``v^T M v == 0`` (pairs of identical points) are skipped.
    """
    m, d = V.shape
    if np.isinf(gamma):
        gproj = 1.0
        inv_gamma = 0.0
    else:
        gproj = gamma / (gamma + 1.0)
        inv_gamma = 1.0 / gamma
    u = np.empty(d)
    n_updates = 0
    for c in range(m):
        # u = M v, column by column (M is symmetric: row j is column j); the
        # inner loop is contiguous and free of reductions, so it vectorises
        for i in range(d):
            u[i] = 0.0
        for j in range(d):
            vj = V[c, j]
            if vj != 0.0:
                for i in range(d):
                    u[i] += M[j, i] * vj
        p = 0.0
        for i in range(d):
            p += V[c, i] * u[i]
        if not p > 0.0:
            continue
        dl = delta[c]
        # the step that makes the constraint and its slack meet, bounded by
        # the dual variable so it stays non-negative
        alpha = dl * gproj * (1.0 / p - 1.0 / xi[c])
        if lam[c] < alpha:
            alpha = lam[c]
        if alpha == 0.0:
            continue
        lam[c] -= alpha
        beta = dl * alpha / (1.0 - dl * alpha * p)
        xi[c] = 1.0 / (1.0 / xi[c] + dl * alpha * inv_gamma)
        for j in range(d):
            uj = u[j]
            for i in range(d):
                M[j, i] += beta * (uj * u[i])
        n_updates += 1
    return n_updates
