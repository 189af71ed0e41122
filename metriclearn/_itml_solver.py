r"""ITML's dual solver: projected L-BFGS with an exact line search.

ITML's problem (Davis et al. 2007) with slack weight :math:`\gamma`,

.. math::

    \min_{M \succ 0,\ \xi} D_{ld}(M, M_0)
    + \gamma \sum_i \Big(\frac{\xi_i}{\xi_{0,i}} - \log\frac{\xi_i}{\xi_{0,i}} - 1\Big)
    \quad \text{s.t.} \quad \delta_i (v_i^T M v_i - \xi_i) \le 0,

has one multiplier per constraint. Write :math:`M_0 = L_0 L_0^T`,
:math:`w_i = L_0^T v_i / \sqrt{\xi_{0,i}}` and :math:`\mu_i = \lambda_i
\xi_{0,i} \ge 0` (dimensionless). Minimising the Lagrangian over :math:`M`
gives :math:`M(\mu) = L_0 B(\mu)^{-1} L_0^T` with
:math:`B(\mu) = I + \sum_i \delta_i \mu_i w_i w_i^T`, and over :math:`\xi`
gives :math:`\xi_i / \xi_{0,i} = r_i = 1 / (1 - \delta_i \mu_i / \gamma)`.
The dual function is

.. math::

    g(\mu) = \log\det B(\mu) + \gamma \sum_i \log(1 - \delta_i \mu_i / \gamma)
    \qquad (\gamma = \infty:\ \log\det B(\mu) - \sum_i \delta_i \mu_i),

concave, to be maximised over :math:`\mu \ge 0` with :math:`B(\mu) \succ 0`
and :math:`\mu_i < \gamma` on similar pairs (both are barriers of
:math:`g`, never active). Its gradient is
:math:`\partial g / \partial \mu_i = \delta_i (q_i - r_i)`,
:math:`q_i = w_i^T B^{-1} w_i = v_i^T M(\mu) v_i / \xi_{0,i}`: the relative
violation of constraint :math:`i` at :math:`M(\mu)`. One gradient costs one
product ``W @ B^-1`` (``m x d`` by ``d x d``) and a row-wise dot product.

Every :math:`M(\mu)` is feasible for the primal with the slacks that suit it
best, so the duality gap

.. math::

    P(M(\mu)) - g(\mu) = \operatorname{tr} B^{-1} - d
    + \gamma \sum_i \phi(\text{best } r_i) - \gamma \sum_i \log(1 - \delta_i\mu_i/\gamma),
    \quad \phi(r) = r - 1 - \log r,

bounds how far the objective at :math:`M(\mu)` lies above the optimum; it
is the stopping rule and the fitted ``certificate_``.

The solver is a two-metric projected L-BFGS (Bertsekas 1982): variables at
0 whose gradient pushes them below 0 are held; the others move along the
L-BFGS direction with initial matrix ``theta diag(1 / hdiag)`` (the
Hessian's diagonal, which makes the method insensitive to the spread of the
constraints' scales). The step is the exact minimiser of :math:`-g` on the
projected segment: with ``dB`` the change of ``B`` along it (the second
product) and ``theta_j`` the eigenvalues of :math:`B^{-1/2} dB B^{-1/2}`,
:math:`\log\det B` along the segment is :math:`\sum_j \log(1 + t\theta_j)`,
so the line search costs O(d + m) per trial and never evaluates ``B``
outside its domain. Two matrix products per iteration in all.
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor
from scipy.linalg.blas import dtrmm, strmm
from scipy.linalg.lapack import dpotrf, dtrtri

from ._kernels.itml import bregman_sweep, dual_gradient, lbfgs_direction, line_minimum
from ._progress import current

__all__ = ["dual_certificate", "dual_solve"]

# pairs kept by L-BFGS
_MEMORY = 10
# sweeps of Bregman projections (cyclic coordinate ascent on the same dual)
# that start the solver: cheap steps that settle the multipliers' scale
# (8 sweeps saved 10-25% of the time on iris, wine, breast_cancer, digits)
_SWEEPS = 8
# B is rebuilt from mu (instead of updated by steps) this often, and before
# the solver stops, so that rounding in the updates never accumulates
_REFRESH = 25
# below this fraction of non-zero steps, dB is built from those rows only
_SPARSE_STEP = 0.6
# from this many multiply-adds in a product (m d^2) the products run in
# float32 until the relative gap falls below _SINGLE_UNTIL, then in float64
# (the float32 products take half the time; the switch rebuilds B in float64)
_SINGLE_MIN = 1 << 20
_SINGLE_UNTIL = 1e-4


def _whiten(V, xi0, M0):
    """``W`` (rows ``L0^T v_i / sqrt(xi0_i)``) and ``L0`` (``M0 = L0 L0^T``)."""
    L0 = np.linalg.cholesky(M0)
    W = (V @ L0) / np.sqrt(xi0)[:, None]
    return np.ascontiguousarray(W), L0


def _gram(W, weights, rows=None):
    """``W^T diag(weights) W`` in float64 (over ``rows`` only, when given),
    computed in ``W``'s precision."""
    if rows is not None:
        W, weights = W[rows], weights[rows]
    G = W.T @ (W * weights.astype(W.dtype)[:, None])
    G = G.astype(np.float64)
    return 0.5 * (G + G.T)


class _State:
    """The dual at one point: ``B``'s Cholesky factor ``R`` and its inverse,
    ``Z = W R^-T`` (``q`` is its rows' squared norms, and ``Z^T diag(c) Z``
    is ``B^-1/2 dB B^-1/2`` for a step ``c``), the gradient, the objective
    values and the gap. With ``W32`` (``W`` in float32), ``Z`` and ``q`` are
    computed in float32."""

    def __init__(self, W, delta, gamma, mu, B, W32=None):
        d = B.shape[0]
        # factors with zeroed upper triangles
        self.R, info = dpotrf(B, lower=1, clean=1)
        if info != 0:
            raise LinAlgError("B is not positive definite")
        self.R_inv, info = dtrtri(self.R, lower=1)
        if info != 0:  # pragma: no cover - R has a positive diagonal here
            raise LinAlgError("singular factor of B")
        # Z^T = R^-1 W^T, with W^T the Fortran-ordered view of W: no copy
        if W32 is None:
            self.Z = dtrmm(1.0, self.R_inv, W.T, lower=1).T
        else:
            self.Z = strmm(1.0, self.R_inv.astype(np.float32), W32.T, lower=1).T
        self.q = np.einsum("ij,ij->i", self.Z, self.Z).astype(np.float64)
        self.grad = np.empty_like(mu)
        self.hdiag = np.empty_like(mu)
        dual_slack, primal_slack, self.violation = dual_gradient(
            self.q, mu, delta, gamma, self.grad, self.hdiag)
        logdet = 2.0 * np.log(np.diag(self.R)).sum()
        trace = float(np.einsum("ij,ij->", self.R_inv, self.R_inv))
        # P(M(mu)) and g(mu); log det B cancels in the gap
        self.primal = trace - d + logdet + primal_slack
        self.dual = logdet + dual_slack
        self.gap = trace - d + primal_slack - dual_slack
        scale = max(abs(self.primal), 1.0)
        if np.isinf(gamma):
            # M(mu) meets the hard constraints only to within `violation`
            self.certificate = max(abs(self.gap) / scale, self.violation)
        else:
            self.certificate = abs(self.gap) / scale  # a rounding below 0 counts too

    def metric(self, L0):
        """``M(mu) = L0 B^-1 L0^T``."""
        A = L0 @ self.R_inv.T
        M = A @ A.T
        return 0.5 * (M + M.T)


def dual_certificate(V, delta, xi0, M0, gamma, lam):
    """The relative duality gap (``certificate_``) of the dual point
    ``lam`` (multipliers in the units of ``V``, as the Bregman sweeps keep
    them) and the matrix ``M(lam)`` it defines; returns ``(certificate,
    M)``."""
    W, L0 = _whiten(V, xi0, M0)
    mu = lam * xi0
    state = _State(W, delta, gamma, mu, np.eye(W.shape[1]) + _gram(W, delta * mu))
    return state.certificate, state.metric(L0)


def _contradiction(W, delta, mu):
    """A dual point that proves the hard constraints infeasible (Farkas),
    or None.

    For any ``N = L0^-1 M L0^-T`` meeting every bound and any ``nu >= 0``,
    ``<N, G(nu)> = sum_i delta_i nu_i w_i^T N w_i <= sum_i delta_i nu_i``
    with ``G(nu) = sum_i delta_i nu_i w_i w_i^T``. If that sum is negative
    while ``G(nu)`` is positive semi-definite, the left side is not
    negative: no such ``N`` exists.

    When the dual grows without bound, ``mu`` runs along the boundary of the
    dual's domain (``I + G(mu)`` nearly singular) and ``G(mu)`` keeps an
    eigenvalue near -1 while it grows like ``sum(mu)``: normalised, it is a
    certificate but for a negative eigenvalue of order ``1 / sum(mu)``. A
    little more weight on the similar pairs lifts it,
    ``nu = mu / sum(mu) + tau`` on each similar pair, with ``tau`` from the
    eigenvalues of ``G`` below the margin and the similar pairs' scatter on
    their eigenvectors. Everything is in the span of the ``w_i`` (``G`` is
    zero outside it), so that fewer pairs than features can prove it too.
    The candidate counts when ``G(nu)`` is positive definite there with a
    margin of ``1e-10`` of its largest eigenvalue (so that rounding does not
    make the case) and ``sum_i delta_i nu_i < -1e-9``: the lift is a guess,
    this test is the proof.
    """
    total = float(np.sum(mu))
    if not total > 0.0 or not float(np.dot(delta, mu)) < -1e-9 * total:
        return None
    # coordinates in the span of the constraints (G lives there)
    _, sv, Qt = np.linalg.svd(W, full_matrices=False)
    Wr = W @ Qt[sv > sv[0] * W.shape[1] * np.finfo(np.float64).eps].T
    nu = mu / total
    w, U = np.linalg.eigh(_gram(Wr, delta * nu))
    margin = 1e-10 * max(abs(w[-1]), 1e-300)
    negative = w < margin
    if negative[0]:
        # lift the eigenvalues below the margin by weight on the similar pairs
        similar = (delta > 0).astype(np.float64)
        Un = U[:, negative]
        s = np.linalg.eigvalsh(Un.T @ _gram(Wr, similar) @ Un)[0]
        if not s > 0.0:
            return None
        nu = nu + similar * (2.0 * (margin - w[0]) / s)
    if not float(np.dot(delta, nu)) < -1e-9:
        return None
    G = _gram(Wr, delta * nu)
    try:
        cho_factor(G - margin * np.eye(G.shape[0]), lower=True, check_finite=False)
    except LinAlgError:
        return None
    return nu


def _infeasible(delta, mu, proven):
    n_sim = int(np.count_nonzero(mu[delta > 0]))
    n_dis = int(np.count_nonzero(mu[delta < 0]))
    how = ("contradict each other: a weighted sum of them would need a positive "
           "definite metric with a negative trace" if proven else
           "appear to contradict each other: the dual problem grows without bound "
           "until the arithmetic breaks down")
    return ValueError(
        f"ITML with gamma=inf cannot meet every bound: the bounds on {n_sim} similar "
        f"and {n_dis} dissimilar pairs {how}. Use a finite gamma, which lets each "
        "bound be relaxed at a cost, or wider bounds"
    )


class _LBFGS:
    """The pairs ``(s, y)`` of the last iterations, in a ring of rows."""

    def __init__(self, m):
        self.S = np.zeros((_MEMORY, m))
        self.Y = np.zeros((_MEMORY, m))
        self.order = []

    def direction(self, state, free, out):
        lbfgs_direction(state.grad, state.hdiag, free, self.S, self.Y,
                        np.asarray(self.order, dtype=np.intp), out)

    def update(self, s, y):
        if np.dot(s, y) > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            slot = len(self.order) if len(self.order) < _MEMORY else self.order.pop(0)
            self.S[slot], self.Y[slot] = s, y
            self.order.append(slot)


def _step(state, mu, memory, direction):
    """The projected quasi-Newton step: ``step`` (``mu + step >= 0``), the
    variables it decreases, and the ``t`` at which the first reaches 0."""
    free = ~((mu <= 0.0) & (state.grad > 0.0))
    memory.direction(state, free, direction)
    step = np.maximum(mu + direction, 0.0) - mu
    if not np.dot(state.grad, step) < 0.0:
        # the projection spoilt the quasi-Newton direction: scaled gradient
        memory.order.clear()
        step = np.maximum(mu - np.where(free, state.grad, 0.0) / state.hdiag, 0.0) - mu
    decreasing = step < 0.0
    t_bound = np.min(mu[decreasing] / -step[decreasing]) if decreasing.any() else np.inf
    return step, decreasing, t_bound


def dual_solve(V, delta, xi0, M0, gamma, max_iter, tol, n_sweeps=_SWEEPS):
    """Solve ITML's dual by projected L-BFGS with an exact line search.

    Parameters
    ----------
    V : ndarray of shape (m, d)
        Pair differences (none zero).
    delta : ndarray of shape (m,)
        +1.0 (similar pair, upper bound) or -1.0 (dissimilar, lower bound).
    xi0 : ndarray of shape (m,)
        The bounds on squared distances.
    M0 : ndarray of shape (d, d)
        The positive definite prior.
    gamma : float
        Weight of the slack divergence (``np.inf``: hard constraints).
    max_iter : int
        Most quasi-Newton iterations.
    tol : float
        Stop when the relative duality gap (the ``certificate`` of
        :class:`_State`) is at most ``tol``.
    n_sweeps : int
        Sweeps of Bregman projections that give the starting point.

    Returns
    -------
    M : ndarray of shape (d, d)
    history : ndarray of shape (n_iter + 1,)
        The objective at the starting point and after each iteration.
    n_iter : int
    converged : bool
    certificate : float
    warnings : list of (category, message)

    Raises
    ------
    ValueError
        ``gamma=inf`` and bounds that no metric meets: the dual is
        unbounded along a ray, or a dual point proves it (Farkas).
    """
    m, d = V.shape
    W, L0 = _whiten(V, xi0, M0)
    hard = np.isinf(gamma)
    mu = np.zeros(m)
    if n_sweeps:
        N, xi = np.eye(d), np.ones(m)
        for _ in range(n_sweeps):
            bregman_sweep(N, W, delta, mu, xi, gamma)
    W32 = W.astype(np.float32) if m * d * d >= _SINGLE_MIN else None
    B = np.eye(d) + _gram(W, delta * mu)
    state = _State(W, delta, gamma, mu, B, W32)
    memory = _LBFGS(m)
    direction = np.empty(m)
    history = [state.primal]
    n_iter, converged, stalled, breakdown = 0, False, False, False
    exact_B, rebuilt_at = True, 0
    checked_at = 0.0  # sum(mu) at the last infeasibility check
    while True:
        rebuild = False
        if W32 is not None and state.certificate <= max(tol, _SINGLE_UNTIL):
            W32 = None  # float64 from now on
            memory.order.clear()
            rebuild = True
        elif not exact_B:
            rebuild = state.certificate <= tol or n_iter - rebuilt_at >= _REFRESH
        if rebuild:  # B rebuilt from mu, free of the rounding of its updates
            B = np.eye(d) + _gram(W, delta * mu)
            state = _State(W, delta, gamma, mu, B, W32)
            history[-1] = state.primal
            exact_B, rebuilt_at = W32 is None, n_iter
        if state.certificate <= tol and exact_B:
            converged = True
            break
        if n_iter == max_iter:
            break
        step, decreasing, t_bound = _step(state, mu, memory, direction)
        nonzero = np.flatnonzero(step)
        rows = nonzero if nonzero.shape[0] < _SPARSE_STEP * m else None
        dB_white = _gram(state.Z, delta * step, rows)  # B^-1/2 dB B^-1/2
        t, status = line_minimum(np.linalg.eigvalsh(dB_white), mu, step, delta, gamma,
                                 t_bound)
        if status == 2:  # a ray along which the dual grows without bound
            raise _infeasible(delta, np.maximum(mu + step, 0.0), True)
        if t == 0.0:
            if memory.order:  # no progress along the quasi-Newton direction: restart
                memory.order.clear()
                continue
            stalled = True  # not even along the scaled gradient: rounding has won
            break
        mu_new = np.maximum(mu + t * step, 0.0)
        if status == 1:  # the variables that stop the segment reach 0 exactly
            mu_new[decreasing & (mu <= t_bound * -step * (1.0 + 1e-12))] = 0.0
        n_iter += 1
        B = B + t * (state.R @ dB_white @ state.R.T)
        exact_B = False
        try:
            new = _State(W, delta, gamma, mu_new, B, W32)
        except LinAlgError:
            if hard:
                raise _infeasible(delta, mu_new, False) from None
            breakdown = True  # B lost positive definiteness to rounding
            break
        if hard and np.sum(mu_new) > 2.0 * checked_at:
            # the check costs an eigen-decomposition: once each time the
            # dual variables double (they grow without bound when it holds)
            checked_at = float(np.sum(mu_new))
            if _contradiction(W, delta, mu_new) is not None:
                raise _infeasible(delta, mu_new, True)
        memory.update(mu_new - mu, new.grad - state.grad)
        mu, state = mu_new, new
        history.append(state.primal)
        current().update(n_iter, f"objective {state.primal:.8e}  "
                                 f"relative gap {state.certificate:.3e}")
    return (state.metric(L0), np.asarray(history), n_iter, converged,
            float(state.certificate),
            _solver_warnings(n_iter, tol, state, hard and not converged
                             and np.dot(delta, mu) < 0.0, stalled, breakdown))


def _solver_warnings(n_iter, tol, state, diverging, stalled, breakdown):
    warnings = []
    if breakdown:
        warnings.append((UserWarning, (
            f"ITML's dual solver stopped after {n_iter} iterations: the metric lost "
            "positive definiteness to rounding errors (features on very different "
            "scales, or a very large gamma); the last positive definite iterate is "
            f"returned, at a relative duality gap of {state.certificate:.2e}"
        )))
    if diverging:
        warnings.append((UserWarning, (
            f"ITML with gamma=inf: after {n_iter} iterations the bounds are still "
            f"violated by up to {state.violation:.3g} (relative) and the dual bound "
            "keeps growing: any metric that meets every bound lies at a LogDet "
            f"divergence of at least {state.dual:.4g} from the prior, and the bounds "
            "may be infeasible. Use a finite gamma or wider bounds"
        )))
    if stalled:
        warnings.append((UserWarning, (
            f"ITML's dual solver stopped after {n_iter} iterations: no step improves "
            f"the dual any more, at a relative duality gap of {state.certificate:.2e} "
            f"(tol={tol}); rounding errors limit the accuracy on this problem"
        )))
    return warnings
