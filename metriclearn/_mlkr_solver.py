"""MLKR's solver: the leave-one-out kernel regression error and its gradient
in ``L`` (:class:`MLKRProblem`, from the blockwise kernels of
:mod:`._kernels.mlkr`), and scipy's L-BFGS-B over ``L`` (:func:`solve`).
Arrays in, arrays out; the estimator is in :mod:`._mlkr`."""


import numpy as np

from ._compat import minimize_lbfgsb
from ._kernels.mlkr import _MEMORY, block_rows, get_loss_grad
from ._progress import current

__all__ = ["MLKRProblem", "solve"]

# what tol=None stands for: scipy's defaults for L-BFGS-B (its ``factr=1e7``
# times the machine epsilon, and ``pgtol``), which metric-learn keeps
DEFAULT_FTOL = 1e7 * np.finfo(np.float64).eps
DEFAULT_GTOL = 1e-5


# --------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------


class MLKRProblem:
    r"""MLKR's leave-one-out error and its gradient in ``L``.

    .. math::

        f(L) = \sum_i (\hat y_i - y_i)^2, \qquad
        \nabla f(L) = 4 L \sum_{i, j} w_{ij} (x_i - x_j)(x_i - x_j)^T,

    with :math:`w_{ij} = (\hat y_i - y_i)\, p_{ij}\, (\hat y_i - y_j)` and
    :math:`p_{ij}` the kernel weights of row :math:`i` normalised to sum to
    one. Holds the points (centred: the objective depends on their
    differences only, and the expanded distances lose fewer digits), the
    targets and the block size; :meth:`loss_grad` evaluates both at a
    flattened ``L``, as scipy's minimisers want them.
    """

    def __init__(self, X, y, n_jobs=1, memory=_MEMORY):
        X = np.asarray(X, dtype=np.float64)
        self.X = np.ascontiguousarray(X - X.mean(axis=0))
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n_groups = 1 if n_jobs is None else max(int(n_jobs), 1)
        self.block = block_rows(X.shape[0], self.n_groups, memory)
        self.kernel = get_loss_grad(self.n_groups)
        self.yhat = None
        self.n_evaluations = 0
        # (L_flat, loss, grad, yhat) of the first evaluation, until the
        # solver asks for the starting point once more
        self._pending = None

    def value_grad(self, L):
        """``f(L)`` and its gradient (shape of ``L``); sets :attr:`yhat`."""
        L = np.ascontiguousarray(L, dtype=np.float64)
        loss, grad, self.yhat = self.kernel(self.X, L, self.y, self.block, self.n_groups)
        self.n_evaluations += 1
        return float(loss), grad

    def loss_grad(self, L_flat):
        """``f`` and its gradient at the flattened ``L``."""
        pending, self._pending = self._pending, None
        if pending is not None and np.array_equal(pending[0], L_flat):
            self.yhat = pending[3]
            return pending[1], pending[2].copy()
        loss, grad, self.yhat = self.kernel(
            self.X, L_flat.reshape(-1, self.X.shape[1]), self.y, self.block, self.n_groups)
        loss, grad = float(loss), grad.ravel()
        self.n_evaluations += 1
        if self.n_evaluations == 1:
            self._pending = (L_flat.copy(), loss, grad.copy(), self.yhat)
        return loss, grad


# --------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------


def solve(X, y, L0, *, max_iter, ftol, gtol, callback=None, threads=1,
          name="MLKR"):
    """Minimise MLKR's leave-one-out error with L-BFGS-B from ``L0``.

    L-BFGS-B runs over ``L`` itself with scipy's stopping rule, as
    metric-learn's solver does, so that from the same ``init`` and with the
    same tolerances both follow the same path and stop at the same iterate
    (up to rounding): an iteration that changes the objective by at most
    ``ftol`` relative to ``max(|f_k|, |f_{k+1}|, 1)``, or a largest gradient
    entry at most ``gtol`` in magnitude, or no descent found by the line
    search; ``max_iter`` iterations otherwise.

    ``callback(L, n_iter)``, if given, sees each iterate. Returns ``L``, the
    objective history, the number of iterations and whether it stopped
    before ``max_iter``; nothing here knows the estimator.
    """
    L0 = np.ascontiguousarray(L0, dtype=np.float64)
    shape = L0.shape
    problem = MLKRProblem(X, y, n_jobs=threads)
    f0 = problem.loss_grad(L0.ravel())[0]
    if not np.isfinite(f0):
        raise ValueError(
            f"{name}: the squared norms of the initial map applied to X overflow "
            "(are the features on a scale near the float64 limits? standardise them)"
        )
    history = [f0]
    if f0 == 0.0:  # a perfect fit (constant targets, or far apart groups)
        return L0.copy(), history, 0, True

    state = {"n_iter": 0}
    progress = current()
    progress.update(0, f"objective {history[0]:.6e}")

    def on_iteration(intermediate_result):
        state["n_iter"] += 1
        it = state["n_iter"]
        f = float(intermediate_result.fun)
        history.append(f)
        progress.update(it, f"objective {f:.6e}")
        if callback is not None:
            callback(intermediate_result.x.reshape(shape).copy(), it)

    result = minimize_lbfgsb(
        problem.loss_grad, L0.ravel(), callback=on_iteration,
        options={"maxiter": max_iter, "ftol": ftol, "gtol": gtol},
    )
    # status 1: stopped by the limit on iterations (or on evaluations);
    # otherwise converged, or no descent found at working precision: a
    # stationary point as far as L-BFGS-B can tell
    converged = result.status != 1
    return np.ascontiguousarray(result.x.reshape(shape)), history, state["n_iter"], converged
