"""NCA's solver: the objective and gradient in ``L`` for points sorted by
class (:class:`NCAProblem`, blockwise numba kernels with a bounded buffer),
and scipy's L-BFGS-B to a stationary point (:func:`solve`). Arrays in,
arrays out; the estimator is in :mod:`._nca`."""


import numpy as np

from ._compat import minimize_lbfgsb
from ._kernels.nca import get_nca_value_grad
from ._progress import current

__all__ = ["NCAProblem", "solve"]

# Bytes of the buffers of one evaluation (a float64 ``block x n`` buffer per
# group of blocks), whatever the number of points: 64 MB keeps the blocks tall
# enough for efficient GEMMs at 60,000 points (139 rows).
_MEMORY = 64 << 20
# Above this fraction of candidates (entries within reach of a row's softmax)
# in a block, the next block runs dense (see nca_value_grad).
_DENSE_FRACTION = 0.2
# A row's softmax drops the terms below exp(-_CUTOFF) = 8.5e-17 times its
# largest (which is 1 after the shift): less than half an ulp of the row's
# sum (at least 1), so that adding any one of them would not change it.
_CUTOFF = 37.0


# Rows whose softmax the first evaluation samples to choose how it runs.
_PROBE_ROWS = 64

# --------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------


def probe_density(X, L, cutoff, n_rows=_PROBE_ROWS):
    """The fraction of the other points within ``cutoff`` of the nearest, in
    squared distance under ``L``, over ``n_rows`` evenly spaced rows: an
    estimate of the density of the softmax (the share of its terms kept)."""
    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n_rows, n)).astype(np.intp))
    Z = X @ L.T
    norms = np.einsum("ij,ij->i", Z, Z)
    # (an estimate: the expanded distances are accurate enough to count)
    D = np.maximum(norms[rows, None] + norms[None, :] - 2.0 * (Z[rows] @ Z.T), 0.0)
    D[np.arange(rows.shape[0]), rows] = np.inf
    kept = D <= D.min(axis=1, keepdims=True) + cutoff
    return float(kept.sum()) / (rows.shape[0] * max(n - 1, 1))


def block_rows(n, n_groups, memory=_MEMORY):
    """Rows per block: the buffers of ``n_groups`` groups (each a float64
    ``block x n`` array) fit in ``memory`` bytes, and a parallel evaluation
    has at least four blocks per group to share out."""
    rows = max(1, memory // (8 * n * max(n_groups, 1)))
    if n_groups > 1:
        rows = min(rows, max(16, -(-n // (4 * n_groups))))
    return int(min(rows, n))


class NCAProblem:
    """NCA's objective ``sum_i p_i`` and its gradient in ``L``, for points
    sorted by class.

    Holds the sorted, centred points, their classes and the block size;
    :meth:`value_grad` evaluates the objective at ``L``, and
    :meth:`loss_grad` its negative at a flattened ``L``, as scipy's
    minimisers want it. Between evaluations it keeps each point's nearest
    point and the density of the softmax, from which the next evaluation
    bounds the candidates and chooses how its first blocks run (the value
    and gradient do not depend on them, up to rounding).
    """

    def __init__(self, X, bounds, codes, n_jobs=1, memory=_MEMORY):
        self.X = X
        self.bounds = np.asarray(bounds, dtype=np.intp)
        self.codes = np.asarray(codes, dtype=np.intp)
        self.n_groups = 1 if n_jobs is None else max(int(n_jobs), 1)
        self.block = block_rows(X.shape[0], self.n_groups, memory)
        self.kernel = get_nca_value_grad(self.n_groups)
        n = X.shape[0]
        # a point other than each point (found by the first evaluation)
        self.nearest = (np.arange(n, dtype=np.intp) + 1) % n
        self.density = 1.0
        self.cutoff = _CUTOFF
        self.p = None
        self._last = None  # (L_flat, loss, grad, p) of the last evaluation

    def value_grad(self, L):
        """``f(L) = sum_i p_i`` and its gradient, shape of ``L``."""
        L = np.ascontiguousarray(L, dtype=np.float64)
        r, d = L.shape
        first = self.p is None
        if first:
            # no nearest points yet: a dense evaluation finds them, unless a
            # sample of rows shows a softmax concentrated from the start
            # (features on a large scale), where sparse blocks find them
            # from the single-precision products
            sparse = probe_density(self.X, L, self.cutoff) <= _DENSE_FRACTION
            dense_fraction, start_dense = (_DENSE_FRACTION, False) if sparse else (-1.0, True)
        else:
            sparse = False
            dense_fraction, start_dense = _DENSE_FRACTION, self.density > _DENSE_FRACTION
        value, grad, p, density = self.kernel(
            self.X, L, self.bounds, self.codes, self.nearest, self.block, self.n_groups,
            2 * r < d, self.cutoff, dense_fraction, start_dense, sparse,
        )
        self.p = p
        self.density = density
        return value, grad

    def loss_grad(self, L_flat):
        """``-f`` and its gradient at the flattened ``L`` (to minimise)."""
        last = self._last
        if last is not None and np.array_equal(last[0], L_flat):
            # scipy evaluates its starting point again
            self.p = last[3]
            return last[1], last[2].copy()
        value, grad = self.value_grad(L_flat.reshape(-1, self.X.shape[1]))
        loss, grad = -value, -grad.ravel()
        self._last = (L_flat.copy(), loss, grad.copy(), self.p)
        return loss, grad


# --------------------------------------------------------------------------
# L-BFGS-B
# --------------------------------------------------------------------------


def solve(X, bounds, codes, L0, *, max_iter, ftol, gtol, callback=None,
          threads=1, name="NCA"):
    """Maximise NCA's objective with scipy's L-BFGS-B from ``L0``.

    ``X`` (float64, C order) is sorted by class, ``bounds`` the class
    boundaries in that order and ``codes`` the class of each row
    (:class:`~metriclearn._labels.LabelIndex`); ``callback(L, n_iter)``, if
    given, sees each iterate. L-BFGS-B stops on its own criteria: the
    relative change of the objective in an iteration at most ``ftol``, or
    its largest gradient entry at most ``gtol`` in magnitude, or no ascent
    found by its line search; ``max_iter`` iterations otherwise. Returns
    ``L``, the objective history, the number of iterations and whether it
    stopped before ``max_iter``; nothing here knows the estimator.
    """
    # the objective depends on differences of points only: centring them
    # keeps the expanded distances |z_i|^2 + |z_k|^2 - 2 z_i . z_k accurate
    problem = NCAProblem(np.ascontiguousarray(X - X.mean(axis=0)), bounds, codes,
                         n_jobs=threads)
    shape = L0.shape
    x0 = np.ascontiguousarray(L0, dtype=np.float64).ravel()
    loss0, _ = problem.loss_grad(x0)
    history = [-loss0]
    state = {"n_iter": 0}
    progress = current()
    progress.update(0, f"objective {history[0]:.6e}")

    def on_iteration(intermediate_result):
        state["n_iter"] += 1
        it = state["n_iter"]
        f = -float(intermediate_result.fun)
        history.append(f)
        progress.update(it, f"objective {f:.6e}")
        if callback is not None:
            callback(intermediate_result.x.reshape(shape).copy(), it)

    result = minimize_lbfgsb(
        problem.loss_grad, x0, callback=on_iteration,
        options={"maxiter": max_iter, "ftol": ftol, "gtol": gtol},
    )
    n_iter = state["n_iter"]
    # status 1: stopped by the limit on iterations (or on evaluations);
    # otherwise converged, or no ascent found at working precision: a
    # stationary point as far as L-BFGS-B can tell
    converged = result.status != 1
    L = np.ascontiguousarray(result.x.reshape(shape))
    return L, history, n_iter, converged
