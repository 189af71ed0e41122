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


@njit(cache=True)
def _logdet_spd(M, work):
    """``log det M`` by a Cholesky factorisation into ``work``; ``nan`` when
    ``M`` is not (numerically) positive definite."""
    d = M.shape[0]
    total = 0.0
    for j in range(d):
        s = M[j, j]
        for k in range(j):
            s -= work[j, k] * work[j, k]
        if not s > 0.0:
            return np.nan
        r = np.sqrt(s)
        work[j, j] = r
        total += np.log(r)
        for i in range(j + 1, d):
            t = M[i, j]
            for k in range(j):
                t -= work[i, k] * work[j, k]
            work[i, j] = t / r
    return 2.0 * total


@njit(cache=True)
def bregman_solve(M, V, delta, lam, xi, xi0, gamma, M0_inv, logdet0, max_sweeps, tol,
                  objective, change):
    """Run sweeps of :func:`bregman_sweep` until the dual variables settle.

    After each sweep ``s`` the objective
    ``D_ld(M, M0) + gamma * D_ld(diag xi, diag xi0)`` is written to
    ``objective[s]`` (``nan`` if ``M`` is no longer positive definite, which
    ends the run) and the relative change of the dual variables,
    ``sum |lam - lam_old| / sum lam``, to ``change[s]``. The run stops after a
    sweep whose change is below ``tol`` or that changed nothing.

    ``M``, ``lam`` and ``xi`` are the solver's state, updated in place (as in
    :func:`bregman_sweep`); ``objective`` and ``change`` are outputs of length
    at least ``max_sweeps``.

    Returns
    -------
    n_sweeps : int
    converged : bool
    """
    d = M.shape[0]
    m = lam.shape[0]
    lam_old = lam.copy()
    work = np.zeros((d, d))
    slack = not np.isinf(gamma)
    for s in range(max_sweeps):
        n_updates = bregman_sweep(M, V, delta, lam, xi, gamma)
        logdet = _logdet_spd(M, work)
        value = -logdet + logdet0 - d
        for i in range(d):
            for j in range(d):
                value += M[i, j] * M0_inv[i, j]
        if slack:
            div = 0.0
            for c in range(m):
                r = xi[c] / xi0[c]
                div += r - np.log(r) - 1.0
            value += gamma * div
        objective[s] = value
        total = 0.0
        diff = 0.0
        for c in range(m):
            total += lam[c]
            diff += abs(lam[c] - lam_old[c])
            lam_old[c] = lam[c]
        rel = diff / total if total > 0.0 else 0.0
        change[s] = rel
        if np.isnan(logdet):
            return s + 1, False
        if rel < tol or n_updates == 0:
            return s + 1, True
    return max_sweeps, False
