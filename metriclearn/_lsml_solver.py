"""LSML's solver: the objective and its gradient in a factor ``L`` of
``M = L^T L`` (:class:`LSMLProblem`), minimised by scipy's L-BFGS-B until
the gradient in ``M`` is small (:func:`solve`). Arrays in, arrays out; the
estimator is in :mod:`._lsml`."""

import numpy as np
from scipy.linalg import LinAlgError, lu_factor, lu_solve

from ._compat import minimize_lbfgsb
from ._kernels.lsml import residual_terms
from ._progress import current

__all__ = ["LSMLProblem", "solve"]


class LSMLProblem:
    r"""LSML's objective

    .. math::

        F(M) = \sum_i w_i \big(\sqrt{v_i^T M v_i} - \sqrt{u_i^T M u_i}\big)_+^2
        + \operatorname{tr}(M M_0^{-1}) - \log\det M

    and its gradient, evaluated at ``M = L^T L`` for a square ``L``.

    Over an invertible ``L`` the problem has no constraint: ``M`` is then
    positive definite, and ``log det M = 2 log|det L|`` grows without bound
    as ``L`` nears a singular matrix. A stationary ``L`` (gradient
    :math:`2 L \nabla_M F = 0`) has :math:`\nabla_M F = 0`: the minimum of
    the convex problem in ``M``.

    Parameters
    ----------
    V, U : ndarray of shape (n, d), float64, C order
        Differences of the first and of the second pairs.
    w : ndarray of shape (n,)
        Weights (summing to 1).
    prior_inv : ndarray of shape (d, d)
        :math:`M_0^{-1}`.
    """

    def __init__(self, V, U, w, prior_inv):
        self.V, self.U, self.w, self.prior_inv = V, U, w, prior_inv
        self.d = V.shape[1]
        n = V.shape[0]
        self._coef_ab = np.empty(n)
        self._coef_cd = np.empty(n)
        # the last evaluation: x, value, gradient in L, norm of the gradient in M
        self._last = (None, None, None, None)

    def value_grad_L(self, L):
        """``F(L^T L)``, its gradient in ``L`` and the Frobenius norm of its
        gradient in ``M`` (:math:`L^{-1} \\nabla_L F / 2`, symmetrised);
        ``inf`` and zeros at a singular ``L``."""
        V, U = self.V, self.U
        ZV = V @ L.T
        ZU = U @ L.T
        ab = np.einsum("ij,ij->i", ZV, ZV)
        cd = np.einsum("ij,ij->i", ZU, ZU)
        loss, n_violated = residual_terms(ab, cd, self.w, self._coef_ab, self._coef_cd)
        try:
            lu = lu_factor(L, check_finite=False)
        except (LinAlgError, ValueError):
            return np.inf, np.zeros_like(L), np.inf
        diag = np.abs(np.diag(lu[0]))
        if not np.all(diag > 0.0) or not np.all(np.isfinite(diag)):
            return np.inf, np.zeros_like(L), np.inf
        log_det_M = 2.0 * np.sum(np.log(diag))
        LP = L @ self.prior_inv
        value = loss + np.einsum("ij,ij->", LP, L) - log_det_M
        # d/dL: 2 L (sum_i a_i v v^T + c_i u u^T) + 2 L M0^{-1} - 2 L^{-T}
        grad = LP - lu_solve(lu, np.eye(self.d), trans=1, check_finite=False)
        if n_violated:
            hit = np.flatnonzero(self._coef_ab)
            grad += (ZV[hit].T * self._coef_ab[hit]) @ V[hit]
            hit = np.flatnonzero(self._coef_cd)
            grad += (ZU[hit].T * self._coef_cd[hit]) @ U[hit]
        G = lu_solve(lu, grad, check_finite=False)
        return value, 2.0 * grad, float(np.linalg.norm(0.5 * (G + G.T)))

    def evaluate(self, x):
        """The value, gradient in ``L`` (flat) and gradient norm in ``M`` at
        a flattened ``L``; the last evaluation is kept, so that the iterate
        L-BFGS-B reports is not evaluated twice."""
        last = self._last
        if last[0] is not None and np.array_equal(last[0], x):
            return last[1:]
        value, grad, grad_norm = self.value_grad_L(x.reshape(self.d, self.d))
        self._last = (x.copy(), value, grad.ravel(), grad_norm)
        return self._last[1:]

    def loss_grad(self, x):
        """For scipy: the objective and its gradient at a flattened ``L``."""
        return self.evaluate(x)[:2]

    def value(self, M):
        """``F(M)`` (``inf`` when ``M`` is not positive definite)."""
        try:
            L = np.linalg.cholesky(M).T
        except np.linalg.LinAlgError:
            return np.inf
        return self.value_grad_L(L)[0]


def solve(problem, L0, *, max_iter, tol):
    """Minimise LSML's objective from ``L0`` (``L0^T L0`` the prior) with
    scipy's L-BFGS-B over ``L``.

    Stops when the Frobenius norm of the gradient in ``M`` is at most
    ``tol`` (metric-learn's criterion), after ``max_iter`` iterations, or
    when the line search finds no decrease at working precision (a
    stationary point as far as floating point can tell: converged when the
    gradient is within ``100 * tol``).

    Returns ``M, history, n_iter, converged, grad_norm``.
    """
    d = problem.d
    x0 = np.ascontiguousarray(L0, dtype=np.float64).ravel()
    f0, _, g0_norm = problem.evaluate(x0)
    state = {"n_iter": 0, "grad_norm": g0_norm, "history": [f0], "x": x0}
    progress = current()
    progress.update(0, f"objective {f0:.8e}  gradient {state['grad_norm']:.3e}")

    def on_iteration(result):
        state["n_iter"] += 1
        x = result.x
        f, _, state["grad_norm"] = problem.evaluate(x)
        state["history"].append(f)
        state["x"] = x.copy()
        progress.update(state["n_iter"], f"objective {f:.8e}  "
                                         f"gradient {state['grad_norm']:.3e}")
        if state["grad_norm"] <= tol:
            raise StopIteration

    result = minimize_lbfgsb(
        problem.loss_grad, x0, callback=on_iteration,
        options={"maxiter": max_iter, "ftol": 0.0, "gtol": 0.0, "maxcor": 20},
    )
    x = result.x if np.isfinite(problem.evaluate(result.x)[0]) else state["x"]
    grad_norm = problem.evaluate(x)[2]
    converged = grad_norm <= tol or (state["n_iter"] < max_iter and grad_norm <= 100 * tol)
    L = x.reshape(d, d)
    M = L.T @ L
    # at least 1 (scikit-learn's convention): when the prior is already the
    # minimum, L-BFGS-B stops before any step, and checking it counts as one
    n_iter = max(state["n_iter"], 1)
    return 0.5 * (M + M.T), state["history"], n_iter, bool(converged), grad_norm
