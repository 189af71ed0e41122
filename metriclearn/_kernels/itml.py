"""ITML kernels: the O(n_constraints) steps of the dual solver (its gradient,
its quasi-Newton direction, its exact line search), and cyclic sweeps of
Bregman projections (Davis et al. 2007), one at a time or until the dual
variables settle.

The dual solver's matrix products (one ``(m, d) x (d, d)`` product each for
the gradient and for the step) run in BLAS from the driver
(:mod:`metriclearn._itml_solver`); these kernels do the per-constraint work
in between, on arrays they are handed.

Each constraint ``delta * (v^T M v - xi) <= 0`` (``delta = +1`` for a similar
pair, ``-1`` for a dissimilar one) is visited once per sweep. Its projection
is a rank-one update ``M <- M + beta (M v)(M v)^T``: O(d^2) work, no
allocation. The state (``M``, the dual variables ``lam`` and the slack targets
``xi``) belongs to the solver that calls the sweep and is updated in place
(INOUT); the pair differences ``V`` and the bounds ``delta`` are only read (IN).
"""

import numpy as np
from numba import njit

# Reassociating the sums lets LLVM keep several vector accumulators (the
# order of additions changes, not their terms); contraction fuses the
# multiply-adds. No flag that assumes away NaN or infinity is set: the
# ``not p > 0`` test below must see a NaN.
_FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=_FASTMATH)
def _multiply(M, v, u):
    """``u = M v`` by rows, eight at a time (each row a contiguous dot
    product with ``v``; eight share every load of ``v``). ``M``, ``v`` IN,
    ``u`` OUT, all float64.
    """
    d = M.shape[0]
    j = 0
    while j + 8 <= d:
        block = M[j:j + 8]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        s5 = 0.0
        s6 = 0.0
        s7 = 0.0
        for i in range(d):
            vi = v[i]
            s0 += block[0, i] * vi
            s1 += block[1, i] * vi
            s2 += block[2, i] * vi
            s3 += block[3, i] * vi
            s4 += block[4, i] * vi
            s5 += block[5, i] * vi
            s6 += block[6, i] * vi
            s7 += block[7, i] * vi
        u[j] = s0
        u[j + 1] = s1
        u[j + 2] = s2
        u[j + 3] = s3
        u[j + 4] = s4
        u[j + 5] = s5
        u[j + 6] = s6
        u[j + 7] = s7
        j += 8
    while j < d:
        row = M[j]
        s0 = 0.0
        for i in range(d):
            s0 += row[i] * v[i]
        u[j] = s0
        j += 1


@njit(cache=True, fastmath=_FASTMATH)
def _update(M, t, sign):
    """``M += sign * t t^T`` (``M`` INOUT, ``t`` IN). The change of ``M[j, i]``
    is ``sign * t[j]`` (exact) times ``t[i]``, the same product as for
    ``M[i, j]``: ``M`` stays exactly symmetric.
    """
    d = M.shape[0]
    for j in range(d):
        b = sign * t[j]
        row = M[j]
        for i in range(d):
            row[i] = row[i] + b * t[i]


@njit(cache=True)
def _project(p, c, delta, lam, xi, gproj, inv_gamma):
    """The projection onto constraint ``c``, given ``p = v^T M v > 0``.

    Takes the step that makes the constraint and its slack meet, bounded by
    the dual variable so that it stays non-negative; updates ``lam[c]`` and
    ``xi[c]`` (``lam``, ``xi`` INOUT; ``delta`` IN) and returns ``beta`` of
    the update ``M <- M + beta (Mv)(Mv)^T``, ``0.0`` when the projection
    changes nothing. ``gproj, inv_gamma`` are ``gamma / (gamma + 1)`` and
    ``1 / gamma`` (1 and 0 for ``gamma = inf``).
    """
    dl = delta[c]
    alpha = dl * gproj * (1.0 / p - 1.0 / xi[c])
    if lam[c] < alpha:
        alpha = lam[c]
    if alpha == 0.0:
        return 0.0
    lam[c] -= alpha
    xi[c] = 1.0 / (1.0 / xi[c] + dl * alpha * inv_gamma)
    return dl * alpha / (1.0 - dl * alpha * p)


# Below this many features a row of ``M`` is one or two vectors, and the
# column-by-column sweep, which skips the zeros of ``v``, is as fast or faster
# than the sweep by rows. Measured time per sweep, rows against columns:
# iris (d=4) and d=8 1.4-1.5x slower, d=12 and wine (d=13) equal; d=16 1.4x,
# d=32 2.2x, d=48 2.7x and digits (d=64) 1.8x faster; d=96 and 128 1.2x.
# The column sweep keeps its own loop and update: one sweep compiled with
# _FASTMATH that chose only how to multiply was 3x slower on iris and 7x at
# d=8.
_ROWS_MIN_FEATURES = 12


@njit(cache=True)
def _sweep_columns(M, V, delta, lam, xi, gproj, inv_gamma):
    """:func:`bregman_sweep` for few features: ``u = M v`` column by column
    (skipping the zeros of ``v``), then the rank-one update.

    Arguments as in :func:`bregman_sweep` (``M``, ``lam`` and ``xi`` INOUT,
    ``V`` and ``delta`` IN), with ``gamma`` given as ``gproj`` and
    ``inv_gamma`` (see :func:`_project`); returns ``n_updates``.
    """
    m, d = V.shape
    u = np.empty(d)
    n_updates = 0
    for c in range(m):
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
        beta = _project(p, c, delta, lam, xi, gproj, inv_gamma)
        if beta == 0.0:
            continue
        # beta * (u[j] * u[i]) is the same product for M[j, i] and M[i, j]
        for j in range(d):
            uj = u[j]
            for i in range(d):
                M[j, i] += beta * (uj * u[i])
        n_updates += 1
    return n_updates


@njit(cache=True, fastmath=_FASTMATH)
def _sweep_rows(M, V, delta, lam, xi, gproj, inv_gamma):
    """:func:`bregman_sweep` with ``M v`` by rows (:func:`_multiply`) and the
    update row by row (:func:`_update`).

    Arguments as in :func:`bregman_sweep` (``M``, ``lam`` and ``xi`` INOUT,
    ``V`` and ``delta`` IN), with ``gamma`` given as ``gproj`` and
    ``inv_gamma`` (see :func:`_project`); returns ``n_updates``.
    """
    m, d = V.shape
    u = np.empty(d)
    t = np.empty(d)
    n_updates = 0
    for c in range(m):
        v = V[c]
        _multiply(M, v, u)
        p = 0.0
        for i in range(d):
            p += v[i] * u[i]
        if not p > 0.0:
            continue
        beta = _project(p, c, delta, lam, xi, gproj, inv_gamma)
        if beta == 0.0:
            continue
        # beta u u^T = sign * t t^T with t = sqrt(|beta|) u
        scale = np.sqrt(abs(beta))
        for i in range(d):
            t[i] = scale * u[i]
        _update(M, t, 1.0 if beta > 0.0 else -1.0)
        n_updates += 1
    return n_updates


@njit(cache=True)
def bregman_sweep(M, V, delta, lam, xi, gamma):
    """One pass of cyclic Bregman projections over every constraint.

    ``u = M v`` is computed by rows, eight at a time, and the update
    ``M <- M + beta u u^T`` row by row (:func:`_sweep_rows`); below
    ``_ROWS_MIN_FEATURES`` features, by columns (:func:`_sweep_columns`).

    Parameters
    ----------
    M : ndarray of shape (d, d), float64, C order, INOUT
        Symmetric positive definite matrix, updated in place; it stays
        exactly symmetric.
    V : ndarray of shape (m, d), float64, IN
        Pair differences ``x - x'``, one constraint per row.
    delta : ndarray of shape (m,), float64, IN
        ``+1.0`` for an upper bound (similar pair), ``-1.0`` for a lower bound.
    lam : ndarray of shape (m,), float64, INOUT
        Dual variables (non-negative), updated in place.
    xi : ndarray of shape (m,), float64, INOUT
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
    d = V.shape[1]
    if np.isinf(gamma):
        gproj = 1.0
        inv_gamma = 0.0
    else:
        gproj = gamma / (gamma + 1.0)
        inv_gamma = 1.0 / gamma
    if d < _ROWS_MIN_FEATURES:
        return _sweep_columns(M, V, delta, lam, xi, gproj, inv_gamma)
    return _sweep_rows(M, V, delta, lam, xi, gproj, inv_gamma)


@njit(cache=True)
def _logdet_spd(M, work):
    """``log det M`` by a Cholesky factorisation into ``work``; ``nan`` when
    ``M`` is not (numerically) positive definite.

    Parameters
    ----------
    M : ndarray of shape (d, d), float64, IN
        Only its lower triangle is read.
    work : ndarray of shape (d, d), float64, OUT
        Its lower triangle receives the Cholesky factor (up to the column
        where a non-positive pivot stops it); the upper triangle is untouched.

    Returns
    -------
    logdet : float
    """
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

    Parameters
    ----------
    M : ndarray of shape (d, d), float64, C order, INOUT
        The solver's matrix, updated in place (as in :func:`bregman_sweep`).
    V : ndarray of shape (m, d), float64, IN
        Pair differences, one constraint per row.
    delta : ndarray of shape (m,), float64, IN
        ``+1.0`` (similar pair) or ``-1.0`` (dissimilar pair).
    lam : ndarray of shape (m,), float64, INOUT
        Dual variables, updated in place.
    xi : ndarray of shape (m,), float64, INOUT
        Slack targets, updated in place.
    xi0 : ndarray of shape (m,), float64, IN
        The initial slack targets (the prior of the slack divergence).
    gamma : float
        As in :func:`bregman_sweep`.
    M0_inv : ndarray of shape (d, d), float64, IN
        Inverse of the prior ``M0`` (symmetric).
    logdet0 : float
        ``log det M0``.
    max_sweeps : int
    tol : float
    objective : ndarray of shape (>= max_sweeps,), float64, OUT
        Entries ``[0, n_sweeps)`` are written, the rest are left alone.
    change : ndarray of shape (>= max_sweeps,), float64, OUT
        Entries ``[0, n_sweeps)`` are written, the rest are left alone.

    Returns
    -------
    n_sweeps : int
        Sweeps run (entries written to ``objective`` and ``change``).
    converged : bool
        ``False`` when ``max_sweeps`` ran out or ``M`` lost positive
        definiteness.
    """
    d = M.shape[0]
    m = lam.shape[0]
    lam_old = lam.copy()
    work = np.zeros((d, d))
    slack = not np.isinf(gamma)
    # each constraint's term of the slack divergence, recomputed only when a
    # sweep changed its xi (a log per constraint per sweep was 2-3% of a fit
    # on digits); the sum, in the same order, is the same to the last bit
    xi_seen = xi.copy()
    terms = np.zeros(m)
    if slack:
        for c in range(m):
            r = xi[c] / xi0[c]
            terms[c] = r - np.log(r) - 1.0
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
                if xi[c] != xi_seen[c]:
                    xi_seen[c] = xi[c]
                    r = xi[c] / xi0[c]
                    terms[c] = r - np.log(r) - 1.0
                div += terms[c]
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


# --------------------------------------------------------------------------
# the dual solver (metriclearn._itml_solver)
# --------------------------------------------------------------------------
# In the units of the dual, constraint i is w_i^T N w_i <= 1 (delta_i = +1) or
# >= 1 (-1), with w_i = L0^T v_i / sqrt(xi0_i), M0 = L0 L0^T and
# M = L0 N L0^T; mu_i >= 0 is its multiplier, B(mu) = I + sum_i delta_i mu_i
# w_i w_i^T = N^-1 and q_i = w_i^T B^-1 w_i.


@njit(cache=True)
def _one_minus_log(r):
    """``r - 1 - log(r)`` without cancellation near ``r = 1`` (a scalar)."""
    e = r - 1.0
    if abs(e) < 1e-3:
        return e * e * (0.5 - e * (1.0 / 3.0 - e * (0.25 - 0.2 * e)))
    return e - np.log(r)


@njit(cache=True)
def dual_gradient(q, mu, delta, gamma, grad, hdiag):
    """The dual's gradient and Hessian diagonal at ``mu``, and its slack terms.

    The dual minimised is ``f(mu) = -log det B(mu) - gamma sum_i
    log(1 - delta_i mu_i / gamma)`` (``+ sum_i delta_i mu_i`` for
    ``gamma = inf``), whose gradient is ``-delta_i (q_i - r_i)`` with
    ``r_i = 1 / (1 - delta_i mu_i / gamma)`` (the slack ``xi_i / xi0_i`` that
    goes with ``mu``); the Hessian's diagonal is ``q_i^2 + r_i^2 / gamma``.

    Parameters
    ----------
    q : ndarray of shape (m,), float64, IN
    mu : ndarray of shape (m,), float64, IN
    delta : ndarray of shape (m,), float64, IN
    gamma : float
    grad : ndarray of shape (m,), float64, OUT
    hdiag : ndarray of shape (m,), float64, OUT

    Returns
    -------
    dual_slack : float
        The slack part of the dual objective ``-f - log det B``.
    primal_slack : float
        ``gamma`` times the slack divergence at the best slacks for ``M(mu)``
        (``xi_i / xi0_i = max(q_i, 1)`` or ``min(q_i, 1)``); 0 for
        ``gamma = inf``.
    violation : float
        The largest relative violation ``max(0, delta_i (q_i - 1))`` of a
        hard constraint.
    """
    finite = not np.isinf(gamma)
    inv_gamma = 1.0 / gamma if finite else 0.0
    dual_slack = 0.0
    primal_slack = 0.0
    violation = 0.0
    for i in range(mu.shape[0]):
        c = delta[i] * mu[i]
        qi = q[i]
        v = delta[i] * (qi - 1.0)
        if v > violation:
            violation = v
        if finite:
            r = 1.0 / (1.0 - c * inv_gamma)
            dual_slack += np.log1p(-c * inv_gamma)
            best = max(qi, 1.0) if delta[i] > 0.0 else min(qi, 1.0)
            primal_slack += _one_minus_log(best)
            hdiag[i] = qi * qi + r * r * inv_gamma
        else:
            r = 1.0
            dual_slack -= c
            hdiag[i] = qi * qi
        grad[i] = -delta[i] * (qi - r)
    if finite:
        return gamma * dual_slack, gamma * primal_slack, violation
    return dual_slack, 0.0, violation


@njit(cache=True)
def lbfgs_direction(grad, hdiag, free, S, Y, order, direction):
    """The L-BFGS direction on the free variables, scaled by ``1 / hdiag``.

    The two-loop recursion over the stored pairs ``(s, y)`` restricted to
    the free variables, with the initial matrix ``theta diag(1 / hdiag)``
    (``theta`` fitted to the newest pair); the direction is 0 on the others.
    A pair whose ``s^T y`` on the free variables is not positive is skipped.

    Parameters
    ----------
    grad, hdiag : ndarray of shape (m,), float64, IN
    free : ndarray of shape (m,), bool, IN
    S, Y : ndarray of shape (memory, m), float64, IN
        Steps and gradient changes, in the rows ``order`` names.
    order : ndarray of shape (n_pairs,), intp, IN
        Rows of ``S`` and ``Y`` from the oldest pair to the newest.
    direction : ndarray of shape (m,), float64, OUT
    """
    m = grad.shape[0]
    n = order.shape[0]
    alpha = np.zeros(n)
    rho = np.zeros(n)
    for i in range(m):
        direction[i] = -grad[i] if free[i] else 0.0
    for k in range(n - 1, -1, -1):
        j = order[k]
        sy = 0.0
        sd = 0.0
        for i in range(m):
            if free[i]:
                sy += S[j, i] * Y[j, i]
                sd += S[j, i] * direction[i]
        if sy > 0.0:
            rho[k] = 1.0 / sy
            alpha[k] = sd / sy
            for i in range(m):
                if free[i]:
                    direction[i] -= alpha[k] * Y[j, i]
    theta = 1.0
    if n > 0:
        j = order[n - 1]
        sy = 0.0
        yhy = 0.0
        for i in range(m):
            if free[i]:
                sy += S[j, i] * Y[j, i]
                yhy += Y[j, i] * Y[j, i] / hdiag[i]
        if sy > 0.0 and yhy > 0.0:
            theta = sy / yhy
    for i in range(m):
        if free[i]:
            direction[i] *= theta / hdiag[i]
    for k in range(n):
        if rho[k] > 0.0:
            j = order[k]
            b = 0.0
            for i in range(m):
                if free[i]:
                    b += Y[j, i] * direction[i]
            b *= rho[k]
            for i in range(m):
                if free[i]:
                    direction[i] += (alpha[k] - b) * S[j, i]


@njit(cache=True)
def _line_slope(t, theta, mu, step, delta, gamma):
    """First and second derivative of the dual along ``mu + t step``
    (``theta``, ``mu``, ``step``, ``delta`` IN, as in :func:`line_minimum`)."""
    h1 = 0.0
    h2 = 0.0
    for j in range(theta.shape[0]):
        a = theta[j] / (1.0 + t * theta[j])
        h1 -= a
        h2 += a * a
    finite = not np.isinf(gamma)
    for i in range(mu.shape[0]):
        if step[i] != 0.0:
            if finite:
                s = 1.0 - delta[i] * (mu[i] + t * step[i]) / gamma
                h1 += delta[i] * step[i] / s
                h2 += step[i] * step[i] / (gamma * s * s)
            else:
                h1 += delta[i] * step[i]
    return h1, h2


@njit(cache=True)
def line_minimum(theta, mu, step, delta, gamma, t_bound):
    """The exact minimum of the dual along the segment ``mu + t step``.

    With ``theta`` the eigenvalues of ``B^-1/2 dB B^-1/2`` (``dB`` the change
    of ``B`` per unit of ``t``), the dual along the segment is
    ``-sum_j log(1 + t theta_j)`` plus its slack terms: a convex function of
    ``t`` whose derivatives cost O(d + m). It is minimised over
    ``0 <= t <= t_bound`` (where a variable reaches 0) by Newton steps
    safeguarded by bisection; the domain's own ends (``B`` singular, a slack
    infinite) are barriers, never reached.

    ``theta`` (shape (d,)), ``mu``, ``step``, ``delta`` (shape (m,)) are
    float64, IN; ``t_bound`` is ``inf`` when no variable decreases. Returns
    ``t`` and a status: 0, an interior minimum; 1, ``t = t_bound``
    (variables reach 0); 2, the dual decreases without bound along the ray
    (``gamma = inf`` only: the hard constraints are infeasible).
    """
    hi = t_bound
    for j in range(theta.shape[0]):
        if theta[j] < 0.0:
            hi = min(hi, -1.0 / theta[j])
    if not np.isinf(gamma):
        for i in range(mu.shape[0]):
            g = delta[i] * step[i]
            if g > 0.0:
                hi = min(hi, (gamma - delta[i] * mu[i]) / g)
    h1, h2 = _line_slope(0.0, theta, mu, step, delta, gamma)
    if not h1 < 0.0:
        return 0.0, 0
    if t_bound <= hi and not np.isinf(t_bound):
        e1, _ = _line_slope(t_bound, theta, mu, step, delta, gamma)
        if e1 <= 0.0:
            return t_bound, 1
    slope0 = -h1
    lo = 0.0
    t = 0.0
    for _ in range(200):
        t_new = t - h1 / h2 if h2 > 0.0 else np.inf
        if np.isinf(hi) and (t_new > 1e300 or t > 1e300):
            return np.inf, 2  # no minimum within floating-point range
        if not (lo < t_new < hi):
            t_new = 2.0 * max(t, 1.0) if np.isinf(hi) else 0.5 * (lo + hi)
        t = t_new
        h1, h2 = _line_slope(t, theta, mu, step, delta, gamma)
        if h1 < 0.0:
            lo = t
        else:
            hi = t
        if abs(h1) <= 1e-12 * slope0 or (hi - lo) <= 1e-15 * hi < np.inf:
            break
    return t, 0
