"""SCML's building blocks: the basis sets ('triplet_diffs', 'lda') and the
stochastic solver over the basis weights (numba steps, checkpoints on the
whole objective). Arrays in, arrays out; the estimators are in
:mod:`._scml`."""

import numpy as np
from scipy.linalg import eigh
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

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

    Returns an array of shape ``(n_basis, n_features)``.
    """
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    n, d = X.shape
    n_eig = min(classes.shape[0] - 1, d)
    n_clusters = int(np.ceil(n_basis / (2 * n_eig)))
    centres = KMeans(n_clusters=n_clusters, n_init=1,
                     random_state=rng.randint(np.iinfo(np.int32).max)).fit(X).cluster_centers_
    scales = (20, 50) if d > 50 else (10, 20)
    # each class's nearest members to every centre, at the larger scale
    near = []
    for c in range(classes.shape[0]):
        members = np.flatnonzero(codes == c)
        k = min(counts[c], scales[1])
        nn = NearestNeighbors(n_neighbors=k).fit(X[members])
        near.append(members[nn.kneighbors(centres, return_distance=False)])
    blocks = []
    for scale in scales:
        idx = np.concatenate([nb[:, :min(counts[c], scale)] for c, nb in enumerate(near)],
                             axis=1)
        for rows in idx:
            blocks.append(_discriminant_directions(X[rows], codes[rows], n_eig))
    basis = np.concatenate(blocks)[:n_basis]
    return np.ascontiguousarray(basis)


def _discriminant_directions(Xn, labels, n_eig):
    """The ``n_eig`` leading discriminant directions of labelled points, as
    unit rows."""
    d = Xn.shape[1]
    mean = Xn.mean(axis=0)
    Sw = np.zeros((d, d))
    Sb = np.zeros((d, d))
    for c in np.unique(labels):
        Xc = Xn[labels == c]
        mc = Xc.mean(axis=0)
        R = Xc - mc
        Sw += R.T @ R
        diff = mc - mean
        Sb += Xc.shape[0] * np.outer(diff, diff)
    ridge = _LDA_RIDGE * max(np.trace(Sw) / d, 1e-12 * max(np.trace(Sb) / d, 1e-300))
    _, V = eigh(Sb, Sw + ridge * np.eye(d), check_finite=False,
                subset_by_index=[d - n_eig, d - 1])
    V = V[:, ::-1].T
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
