"""SCML's building blocks: the basis sets ('triplet_diffs', 'lda') and the
stochastic solver over the basis weights (numba steps, checkpoints on the
whole objective). Arrays in, arrays out; the estimators are in
:mod:`._scml`."""

import numpy as np
from sklearn.cluster import KMeans

from ._kernels.scml import rda_steps, triplet_hinge
from ._linalg import components_from_metric
from ._progress import current

__all__ = ["lda_basis", "solve", "triplet_diffs_basis"]

# AdaGrad's offset of the root sum of squared gradients (the paper's delta)
_DELTA = 1e-3
# relative size below which an eigenvalue is taken as zero
_EIG_TOL = 1e-10
# ridge of the within-class scatter in the local LDAs, relative to its trace
_LDA_RIDGE = 1e-3


def triplet_diffs_basis(X, triplets, n_basis, rng):
    """Unit basis vectors from the triplets' differences (metric-learn's
    'triplet_diffs'): draw ``min(n_features, n_triplets)`` triplets, take the
    eigenvectors of ``D_pos^T D_pos - D_neg^T D_neg`` with a non-zero
    eigenvalue, and repeat until there are ``n_basis`` of them.

    Returns an array of shape ``(n_basis, n_features)``; a ``ValueError``
    when the triplets' differences are all zero.
    """
    d = X.shape[1]
    D_pos = X[triplets[:, 0]] - X[triplets[:, 1]]
    D_neg = X[triplets[:, 0]] - X[triplets[:, 2]]
    if not (np.any(D_pos) or np.any(D_neg)):
        raise ValueError(
            "basis='triplet_diffs' needs triplets with distinct points: every "
            "difference within the triplets is zero"
        )
    m = min(d, triplets.shape[0])
    found, total = [], 0
    for _ in range(10 * n_basis + 100):
        sel = rng.choice(triplets.shape[0], size=m, replace=False)
        S = D_pos[sel].T @ D_pos[sel] - D_neg[sel].T @ D_neg[sel]
        w, V = np.linalg.eigh(S)
        keep = np.abs(w) > _EIG_TOL * max(np.abs(w).max(), 1e-300)
        if keep.any():
            found.append(V[:, keep].T)
            total += int(keep.sum())
        if total >= n_basis:
            break
    basis = np.concatenate(found)[:n_basis]
    return np.ascontiguousarray(basis)


def lda_basis(X, y, n_basis, rng):
    """Locally discriminative unit vectors (metric-learn's 'lda'): k-means
    centres of ``X``; around each centre, the ``k`` nearest points of each
    class at two scales (``k`` in (10, 20), or (20, 50) above 50 features);
    the leading ``min(n_classes - 1, n_features)`` discriminant directions
    of each neighbourhood (generalised eigenvectors of its between- and
    within-class scatters, the latter with a small ridge), normalised.

    Every neighbourhood of a scale has the same number of points of each
    class, so their scatters and eigenproblems are solved together, as
    stacks of matrices (:func:`_discriminant_directions`), a block of
    neighbourhoods at a time.

    Returns an array of shape ``(n_basis, n_features)``.
    """
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    n, d = X.shape
    n_eig = min(classes.shape[0] - 1, d)
    n_clusters = int(np.ceil(n_basis / (2 * n_eig)))
    centres = KMeans(n_clusters=n_clusters, n_init=1,
                     random_state=rng.randint(np.iinfo(np.int32).max)).fit(X).cluster_centers_
    scales = (20, 50) if d > 50 else (10, 20)
    sizes = np.minimum(counts, scales[1])
    # neighbourhoods per block: their points, as float64, within about 32 MiB
    block = max(1, int(4 * 2**20 // max(1, int(sizes.sum()) * d)))
    members = [np.flatnonzero(codes == c) for c in range(classes.shape[0])]
    sq_norms = np.einsum("ij,ij->i", X, X)
    found = {scale: [] for scale in scales}
    for lo in range(0, centres.shape[0], block):
        C = centres[lo:lo + block]
        # each class's nearest members to each centre, nearest first
        near = [_nearest(X, sq_norms, rows, C, k) for rows, k in zip(members, sizes, strict=True)]
        for scale in scales:
            take = np.minimum(sizes, scale)
            idx = np.concatenate([nb[:, :k] for nb, k in zip(near, take, strict=True)], axis=1)
            found[scale].append(_discriminant_directions(X[idx], take, n_eig))
    # metric-learn's order: every neighbourhood of the first scale, then the second
    basis = np.concatenate([rows for scale in scales for rows in found[scale]])[:n_basis]
    return np.ascontiguousarray(basis)


def _nearest(X, sq_norms, rows, C, k):
    """The ``k`` rows of ``rows`` nearest to each centre of ``C``, nearest
    first: an array of shape ``(len(C), k)``."""
    D = sq_norms[rows][None, :] - 2.0 * (C @ X[rows].T)
    part = np.argpartition(D, k - 1, axis=1)[:, :k] if k < rows.shape[0] else \
        np.broadcast_to(np.arange(rows.shape[0]), D.shape)
    order = np.take_along_axis(part, np.argsort(np.take_along_axis(D, part, axis=1),
                                                  axis=1, kind="stable"), axis=1)
    return rows[order]


def _discriminant_directions(Xn, sizes, n_eig):
    """The ``n_eig`` leading discriminant directions of each neighbourhood,
    as unit rows, neighbourhood after neighbourhood.

    ``Xn`` has shape ``(J, m, d)``: ``J`` neighbourhoods of ``m`` points,
    the first ``sizes[0]`` of class 0, the next ``sizes[1]`` of class 1, and
    so on. The generalised eigenproblem :math:`S_b v = \\lambda (S_w + r I) v`
    is solved through the Cholesky factor ``C`` of :math:`S_w + r I`:
    :math:`S_b = D^T D` with ``D`` the class means' deviations, weighted, so
    that the leading eigenvectors are :math:`C^{-T} u` with ``u`` the leading
    left singular vectors of :math:`C^{-1} D^T`.

    Returns an array of shape ``(J * n_eig, d)``.
    """
    J, m, d = Xn.shape
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    means = np.stack([Xn[:, a:b].mean(axis=1)                     # (J, n_classes, d)
                      for a, b in zip(bounds[:-1], bounds[1:], strict=True)], axis=1)
    R = Xn - np.repeat(means, sizes, axis=1)
    Sw = np.matmul(R.transpose(0, 2, 1), R)
    D = (means - Xn.mean(axis=1)[:, None, :]) * np.sqrt(sizes)[None, :, None]
    trace_w = np.trace(Sw, axis1=1, axis2=2) / d
    trace_b = np.einsum("jcd,jcd->j", D, D) / d
    ridge = _LDA_RIDGE * np.maximum(trace_w, 1e-12 * np.maximum(trace_b, 1e-300))
    Sw[:, np.arange(d), np.arange(d)] += ridge[:, None]
    chol = np.linalg.cholesky(Sw)
    E = np.linalg.solve(chol, D.transpose(0, 2, 1))                 # (J, d, n_classes)
    U = np.linalg.svd(E, full_matrices=False)[0][:, :, :n_eig]
    V = np.linalg.solve(chol.transpose(0, 2, 1), U)                 # (J, d, n_eig)
    V = V.transpose(0, 2, 1).reshape(J * n_eig, d)
    norms = np.linalg.norm(V, axis=1, keepdims=True)
    return V / np.where(norms > 0, norms, 1.0)


def _metric_from_weights(basis, w, d):
    """``L`` with ``L^T L = sum_k w_k b_k b_k^T``: the rows ``sqrt(w_k) b_k``
    of the active bases when there are fewer than ``d`` of them, a square
    factor otherwise."""
    active = np.flatnonzero(w > 0)
    Lw = np.sqrt(w[active])[:, None] * basis[active]
    if active.shape[0] < d:
        return Lw
    return components_from_metric(Lw.T @ Lw)


def checkpoint_objective(X, triplets, basis, w, beta):
    """SCML's objective at ``w``: the triplets' mean hinge plus ``beta`` times
    the sum of the weights, and the number of triplets with a positive
    hinge."""
    L = _metric_from_weights(basis, w, X.shape[1])
    hinge, n_active = triplet_hinge(np.ascontiguousarray(X @ L.T), triplets)
    return hinge + beta * w.sum(), n_active


def solve(X, triplets, basis, *, beta, gamma, max_iter, output_iter, batch_size, rng):
    """AdaGrad dual averaging over the basis weights, ``max_iter`` steps of
    ``batch_size`` triplets drawn with ``rng``; the whole objective is
    evaluated every ``output_iter`` steps and after the last, and the best
    of these checkpoints is kept.

    Returns ``w, history`` (the objective at each checkpoint).
    """
    XB = np.ascontiguousarray(X @ basis.T)
    K = basis.shape[0]
    w, avg_grad, ada_grad = np.zeros(K), np.zeros(K), np.zeros(K)
    batches = rng.randint(0, triplets.shape[0], size=(max_iter, batch_size)).astype(np.intp)
    best, best_w, history = np.inf, w.copy(), []
    done = 0
    while done < max_iter:
        steps = min(output_iter, max_iter - done)
        rda_steps(XB, triplets, batches[done:done + steps], done, w, avg_grad, ada_grad,
                  float(beta), float(gamma), _DELTA)
        done += steps
        value, n_active = checkpoint_objective(X, triplets, basis, w, beta)
        history.append(value)
        current().update(done, f"objective {value:.6f}  "
                               f"triplets with a positive hinge {n_active}")
        if value < best:
            best, best_w = value, w.copy()
    return best_w, history
