"""Reference solutions: each learner's problem stated exactly in cvxpy.

For tests and examples on small problems only (never on a fit path): they
tell what objective value a learner must reach. cvxpy is an optional
dependency (the ``reference`` extra) imported on first use.
"""

import numpy as np

__all__ = [
    "mmc_full_reference", "mmc_diagonal_reference", "itml_reference", "lmnn_reference",
    "lsml_reference", "sdml_reference",
]

# Solver used for every reference problem: an interior-point method for
# exponential, second-order and PSD cones, accurate to about 1e-8.
SOLVER = "CLARABEL"


def _cvxpy():
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "metriclearn._reference needs cvxpy: install the 'reference' extra "
            "(pip install 'metriclearn[reference]')"
        ) from exc
    return cp


def _solve(problem, **solver_options):
    cp = _cvxpy()
    problem.solve(solver=SOLVER, **solver_options)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(
            f"the reference solver {SOLVER} ended with status {problem.status!r}"
        )
    return problem.value


def _differences(pairs, y):
    """Similar and dissimilar differences in rescaled units, and the scale.

    Each feature is divided by its root-sum-square over the similar pairs:
    ``M = diag(1/scale) M' diag(1/scale)`` is an exact change of variables
    (the objective values are unchanged) that spares the conic solver
    features of very different magnitudes.
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    y = np.asarray(y)
    diff = pairs[:, 0, :] - pairs[:, 1, :]
    scale = np.sqrt((diff * diff).sum(axis=0))
    sim_scale = np.sqrt((diff[y == 1] ** 2).sum(axis=0))
    scale = np.where(sim_scale > 0, sim_scale, np.where(scale > 0, scale, 1.0))
    diff = diff / scale
    # pairs of identical points add nothing and sit on the cones' boundary
    dis = diff[(y == -1) & np.any(diff != 0, axis=1)]
    return diff[y == 1], dis, scale


def mmc_full_reference(pairs, y):
    """Xing's full problem, ``max sum_D ||d||_M s.t. sum_S ||d||_M^2 <= 1, M PSD``.

    Returns
    -------
    value : float
        The optimal objective ``sum_D ||d||_M``.
    M : ndarray of shape (n_features, n_features)
        An optimal matrix (the optimum need not be unique).
    """
    cp = _cvxpy()
    sim, dis, scale = _differences(pairs, y)
    d = sim.shape[1]
    M = cp.Variable((d, d), PSD=True)
    sq_dist_D = cp.sum(cp.multiply(dis @ M, dis), axis=1)
    sigma_S = sim.T @ sim
    problem = cp.Problem(
        cp.Maximize(cp.sum(cp.sqrt(sq_dist_D))),
        [cp.trace(sigma_S @ M) <= 1],
    )
    value = _solve(problem)
    return float(value), np.asarray(M.value) / np.outer(scale, scale)


def mmc_diagonal_reference(pairs, y, diagonal_c=1.0):
    """Xing's diagonal problem,
    ``min_{a >= 0} h(a) = sum_S ||d||_a^2 - c log sum_D ||d||_a``.

    Solved through its homogeneous form, a second-order cone program: with
    ``G = max {sum_D ||d||_b : b >= 0, sum_S ||d||_b^2 <= 1}`` attained at
    ``b``, minimising ``h`` along the ray ``t b`` gives ``t = c / 2`` and
    ``min h = c/2 - (c/2) log(c/2) - c log G`` (exact; the exponential-cone
    form of ``h`` is poorly conditioned with many pairs).

    Returns
    -------
    value : float
        The optimal objective.
    a : ndarray of shape (n_features,)
        An optimal diagonal.
    """
    cp = _cvxpy()
    sim, dis, scale = _differences(pairs, y)
    b = cp.Variable(sim.shape[1], nonneg=True)
    s_sum = (sim * sim).sum(axis=0)
    problem = cp.Problem(
        cp.Maximize(cp.sum(cp.sqrt((dis * dis) @ b))), [s_sum @ b <= 1]
    )
    G = _solve(problem)
    c = float(diagonal_c)
    value = 0.5 * c - 0.5 * c * np.log(0.5 * c) - c * np.log(G)
    return float(value), 0.5 * c * np.maximum(np.asarray(b.value), 0.0) / scale**2


def itml_reference(pairs, y, bounds, prior, gamma=1.0):
    """ITML's problem, ``min D_ld(M, M0) + gamma D_ld(diag xi, diag xi0)``
    subject to ``||d||_M^2 <= xi`` on similar and ``>= xi`` on dissimilar pairs.

    ``xi0`` is ``bounds[0]`` for a similar pair and ``bounds[1]`` for a
    dissimilar one; ``gamma=np.inf`` makes the constraints hard (``xi = xi0``).
    Pairs of identical points are left out (they constrain nothing).

    Returns
    -------
    value : float
        The optimal objective, constants included (0 at ``M = M0``,
        ``xi = xi0``).
    M : ndarray of shape (n_features, n_features)
        The optimal matrix (unique: the objective is strictly convex).
    """
    cp = _cvxpy()
    pairs = np.asarray(pairs, dtype=np.float64)
    y = np.asarray(y)
    M0 = np.asarray(prior, dtype=np.float64)
    diff = pairs[:, 0, :] - pairs[:, 1, :]
    keep = np.any(diff != 0, axis=1)
    diff, y = diff[keep], y[keep]
    d = diff.shape[1]
    delta = np.where(y == 1, 1.0, -1.0)
    xi0 = np.where(delta > 0, bounds[0], bounds[1])
    M0_inv = np.linalg.inv(M0)
    _, logdet0 = np.linalg.slogdet(M0)
    M = cp.Variable((d, d), PSD=True)
    sq = cp.sum(cp.multiply(diff @ M, diff), axis=1)
    objective = cp.trace(M0_inv @ M) - cp.log_det(M) + logdet0 - d
    if np.isinf(gamma):
        constraints = [cp.multiply(delta, sq) <= delta * xi0]
    else:
        xi = cp.Variable(diff.shape[0], pos=True)
        objective += gamma * cp.sum(xi / xi0 - cp.log(xi) + np.log(xi0) - 1.0)
        constraints = [cp.multiply(delta, sq - xi) <= 0]
    value = _solve(cp.Problem(cp.Minimize(objective), constraints))
    return float(value), np.asarray(M.value)


def lmnn_reference(X, y, n_neighbors=3, regularization=0.5, loss="hinge"):
    """LMNN's problem in ``M = L^T L``, with the hinge of ``LMNN`` (squared for
    ``loss='squared_hinge'``):

    ``min_{M PSD} rho sum_{i, j~>i} ||x_i - x_j||_M^2 + (1 - rho) sum_{i, j~>i}
    sum_{l: y_l != y_i} max(0, 1 + ||x_i - x_j||_M^2 - ||x_i - x_l||_M^2)^p``,
    ``p = 1`` (hinge) or 2 (squared hinge),

    with ``rho = regularization`` and the target neighbours ``j~>i`` the
    ``n_neighbors`` nearest points of ``i``'s class in the input space (ties
    to the smaller index). Every triplet is stated (a hinge at zero costs
    nothing), so this is the whole problem, not one impostor set: a convex
    program over the PSD cone. Small problems only.

    Returns
    -------
    value : float
        The optimal objective.
    M : ndarray of shape (n_features, n_features)
        An optimal matrix.
    """
    cp = _cvxpy()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n, d = X.shape
    same = y[:, None] == y[None, :]
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    sq = np.where(same & ~np.eye(n, dtype=bool), sq, np.inf)
    targets = np.argsort(sq, axis=1, kind="stable")[:, :n_neighbors]
    # pairs (i, j) of targets first, then every pair (i, l) of different classes
    ti = np.repeat(np.arange(n), n_neighbors)
    tj = targets.ravel()
    li, ll = np.nonzero(~same)
    diff = np.concatenate([X[ti] - X[tj], X[li] - X[ll]])
    M = cp.Variable((d, d), PSD=True)
    dist = cp.sum(cp.multiply(diff @ M, diff), axis=1)
    n_t = ti.shape[0]
    # triplet (i, j, l): target pair t of anchor i, impostor pair p of anchor i
    pos_l = {}
    for p, i in enumerate(li):
        pos_l.setdefault(int(i), []).append(n_t + p)
    trip_t, trip_l = [], []
    for t, i in enumerate(ti):
        for p in pos_l.get(int(i), []):
            trip_t.append(t)
            trip_l.append(p)
    hinge = cp.pos(1 + dist[np.array(trip_t)] - dist[np.array(trip_l)])
    objective = (
        regularization * cp.sum(dist[:n_t])
        + (1.0 - regularization)
        * (cp.sum_squares(hinge) if loss == "squared_hinge" else cp.sum(hinge))
    )
    value = _solve(cp.Problem(cp.Minimize(objective)))
    return float(value), np.asarray(M.value)


def lsml_reference(quadruplets, weights=None, prior=None):
    r"""LSML's problem,
    ``min_{M PD} sum_i w_i (d_M(a_i, b_i) - d_M(c_i, d_i))_+^2 + tr(M M0^-1) - log det M``.

    The residual :math:`(\sqrt{p} - \sqrt{q})_+^2` of squared distances
    ``p``, ``q`` (linear in ``M``) is the perspective ``p h(q / p)`` of the
    convex ``h(t) = (1 - sqrt(t))_+^2``; in disciplined form it is
    ``min_{s >= 0} s^2 / p`` subject to ``sqrt(p q) >= p - s``.

    Returns
    -------
    value : float
    M : ndarray of shape (n_features, n_features)
    """
    cp = _cvxpy()
    q = np.asarray(quadruplets, dtype=np.float64)
    n, _, d = q.shape
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    P_inv = np.eye(d) if prior is None else np.linalg.inv(np.asarray(prior, float))
    V, U = q[:, 0] - q[:, 1], q[:, 2] - q[:, 3]
    M = cp.Variable((d, d), PSD=True)
    p = cp.sum(cp.multiply(V @ M, V), axis=1)
    r = cp.sum(cp.multiply(U @ M, U), axis=1)
    s = cp.Variable(n, nonneg=True)
    terms = [w[i] * cp.quad_over_lin(s[i], p[i]) for i in range(n)]
    constraints = [cp.geo_mean(cp.hstack([p[i], r[i]])) >= p[i] - s[i] for i in range(n)]
    objective = cp.sum(cp.hstack(terms)) + cp.trace(P_inv @ M) - cp.log_det(M)
    value = _solve(cp.Problem(cp.Minimize(objective), constraints))
    return float(value), np.asarray(M.value)


def sdml_reference(pairs, y, balance_param, sparsity_param, prior=None):
    """SDML's problem, the graphical lasso of ``S = M0^-1 + balance * K``:
    ``min_{M PD} tr(M S) - log det M + sparsity * sum_{i != j} |M_ij|`` with
    ``K`` the similar pairs' scatter minus the dissimilar pairs'.

    Returns
    -------
    value : float
    M : ndarray of shape (n_features, n_features)
    """
    cp = _cvxpy()
    pairs = np.asarray(pairs, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    diff = pairs[:, 0] - pairs[:, 1]
    d = diff.shape[1]
    P_inv = np.eye(d) if prior is None else np.linalg.inv(np.asarray(prior, float))
    S = P_inv + balance_param * (diff.T * y) @ diff
    M = cp.Variable((d, d), PSD=True)
    off = 1.0 - np.eye(d)
    objective = (cp.trace(S @ M) - cp.log_det(M)
                 + sparsity_param * cp.sum(cp.abs(cp.multiply(off, M))))
    value = _solve(cp.Problem(cp.Minimize(objective)))
    return float(value), np.asarray(M.value)
