"""LSML's solver: the objective and its gradient in a factor ``L`` of
``M = L^T L`` (:class:`LSMLProblem`, one numba kernel per evaluation),
minimised by the lean L-BFGS of :mod:`._lbfgs` until the gradient in ``M``
is small (:func:`solve`). Arrays in, arrays out; the estimator is in
:mod:`._lsml`."""

import numpy as np

from ._kernels.lsml import evaluate
from ._lbfgs import minimize
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
        self.V = np.ascontiguousarray(V, dtype=np.float64)
        self.U = np.ascontiguousarray(U, dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.prior_inv = np.ascontiguousarray(prior_inv, dtype=np.float64)
        self.d = V.shape[1]
        # the last evaluation: x, value, gradient in L, norm of the gradient in M
        self._last = (None, None, None, None)

    def value_grad_L(self, L):
        """``F(L^T L)``, its gradient in ``L`` and the Frobenius norm of its
        gradient in ``M`` (:math:`L^{-1} \\nabla_L F / 2`, symmetrised);
        ``inf`` and zeros at a singular ``L``."""
        grad = np.empty((self.d, self.d))
        value, grad_norm = evaluate(self.V, self.U, self.w, self.prior_inv,
                                    np.ascontiguousarray(L, dtype=np.float64), grad)
        return value, grad, grad_norm

    def evaluate(self, x):
        """The value, gradient in ``L`` (flat) and gradient norm in ``M`` at
        a flattened ``L``; the last evaluation is kept, so that the iterate
        the solver reports is not evaluated twice."""
        last = self._last
        if last[0] is not None and np.array_equal(last[0], x):
            return last[1:]
        value, grad, grad_norm = self.value_grad_L(x.reshape(self.d, self.d))
        self._last = (x.copy(), value, grad.ravel(), grad_norm)
        return self._last[1:]

    def loss_grad(self, x):
        """For the solver: the objective and its gradient at a flattened ``L``."""
        return self.evaluate(x)[:2]

    def value(self, M):
        """``F(M)`` (``inf`` when ``M`` is not positive definite)."""
        try:
            L = np.linalg.cholesky(M).T
        except np.linalg.LinAlgError:
            return np.inf
        return self.value_grad_L(L)[0]


def solve(problem, L0, *, max_iter, tol):
    """Minimise LSML's objective from ``L0`` (``L0^T L0`` the prior) by
    L-BFGS over ``L`` (:func:`._lbfgs.minimize`).

    Stops when the Frobenius norm of the gradient in ``M`` is at most
    ``tol`` (metric-learn's criterion), after ``max_iter`` iterations, or
    when the line search finds no decrease at working precision (a
    stationary point as far as floating point can tell: converged when the
    gradient is within ``100 * tol``).

    Returns ``M, history, n_iter, converged, grad_norm``.
    """
    d = problem.d
    x0 = np.array(L0, dtype=np.float64).ravel()
    f0, _, grad_norm = problem.evaluate(x0)
    history = [f0]
    progress = current()
    progress.update(0, f"objective {f0:.8e}  gradient {grad_norm:.3e}")
    x, n_iter = x0, 0
    if grad_norm > tol:
        def on_iteration(k, x, f, g):
            grad_norm = problem.evaluate(x)[2]
            history.append(f)
            progress.update(k, f"objective {f:.8e}  gradient {grad_norm:.3e}")
            return grad_norm <= tol

        result = minimize(problem.loss_grad, x0, max_iter=max_iter, callback=on_iteration,
                          memory=20)
        x, n_iter = result.x, result.n_iter
        grad_norm = problem.evaluate(x)[2]
    converged = grad_norm <= tol or (n_iter < max_iter and grad_norm <= 100 * tol)
    L = x.reshape(d, d)
    M = L.T @ L
    # at least 1 (scikit-learn's convention): when the prior is already the
    # minimum, no step is taken, and checking it counts as one
    return 0.5 * (M + M.T), history, max(n_iter, 1), bool(converged), grad_norm
