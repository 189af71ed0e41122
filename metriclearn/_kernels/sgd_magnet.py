"""Kernels of the magnet loss (``MAGNET``): the clusters of each class in the
embedding (k-means), their means in the input space, and mini-batch steps.

Each class holds ``K`` clusters, numbered ``c K + j`` for class ``c``; a
class of fewer than ``K`` points leaves clusters empty (``cluster_class``
is then ``-1`` and they take no part in the loss). A cluster's centre is
the embedding of the mean ``mu_c`` of its members' input points:
``L mu_c``, the mean of the members' embeddings (exactly, since the map is
linear), or ``L mu_c / ||L mu_c||`` on the unit sphere. So the gradient
flows through the centres exactly.

With ``z_r`` the embedding of point ``r``, ``c(r)`` its cluster, ``u_r =
||z_r - centre_c(r)||^2`` and ``s2`` the variance ``variance`` when it is
positive (a constant: the estimator's, measured once at the start of a fit)
or else ``sum_r u_r / (b - 1)``, the variance of the batch (a function of
``L`` in the gradient), the loss of ``r`` is

``max(0, u_r / (2 s2) + margin + log sum_{c: class != class(r)}
exp(-||z_r - centre_c||^2 / (2 s2)))``,

the magnet loss of Rippel et al. over every cluster of the other classes
(no such cluster: no loss). A step costs one GEMM for the embeddings, one
for the ``b x n_clusters`` distances to the centres, two for the
derivatives and two for the gradient.
"""

import numpy as np
from numba import njit

from .sgd import _apply_step, embed_rows, unembed_rows

MAGNET = 7


@njit(cache=True)
def class_kmeans(Z, order, bounds, n_clusters, u, max_iter):
    """k-means (k-means++ seeding, then Lloyd's iterations until no point
    moves or ``max_iter``) of each class's rows of ``Z``.

    Parameters
    ----------
    Z : ndarray of shape (n, k), float64, IN
        The points (embedded).
    order : ndarray of shape (n,), integer, IN
        Rows sorted by class: class ``c`` holds ``order[bounds[c]:bounds[c + 1]]``.
    bounds : ndarray of shape (n_classes + 1,), integer, IN
    n_clusters : int
        Clusters per class, ``K``.
    u : ndarray of shape (n_classes, K), float64, IN
        Uniform draws in [0, 1) of the seeding.
    max_iter : int

    Returns
    -------
    assign : ndarray of shape (n,), intp
        Cluster of each row, ``c K + j``.
    """
    n, k = Z.shape
    K = n_clusters
    assign = np.zeros(n, dtype=np.intp)
    for c in range(bounds.shape[0] - 1):
        rows = order[bounds[c]:bounds[c + 1]]
        nc = rows.shape[0]
        kc = min(K, nc)
        cent = np.empty((kc, k))
        # k-means++: the first centre uniformly, the next with probability
        # proportional to the squared distance to the nearest centre so far
        best = np.full(nc, np.inf)
        pick = min(int(u[c, 0] * nc), nc - 1)
        for j in range(kc):
            if j > 0:
                total = best.sum()
                pick = nc - 1
                if total > 0.0:
                    target = u[c, j] * total
                    acc = 0.0
                    for q in range(nc):
                        acc += best[q]
                        if acc > target:
                            pick = q
                            break
            for t in range(k):
                cent[j, t] = Z[rows[pick], t]
            for q in range(nc):
                s = 0.0
                for t in range(k):
                    diff = Z[rows[q], t] - cent[j, t]
                    s += diff * diff
                best[q] = min(best[q], s)
        local = np.full(nc, -1, dtype=np.intp)
        counts = np.zeros(kc)
        for _ in range(max_iter):
            moved = False
            for q in range(nc):
                bj, bd = 0, np.inf
                for j in range(kc):
                    s = 0.0
                    for t in range(k):
                        diff = Z[rows[q], t] - cent[j, t]
                        s += diff * diff
                    if s < bd:
                        bj, bd = j, s
                if bj != local[q]:
                    local[q] = bj
                    moved = True
            if not moved:
                break
            # the means of the clusters (an emptied cluster keeps its centre)
            sums = np.zeros((kc, k))
            counts[:] = 0.0
            for q in range(nc):
                counts[local[q]] += 1.0
                for t in range(k):
                    sums[local[q], t] += Z[rows[q], t]
            for j in range(kc):
                if counts[j] > 0.0:
                    for t in range(k):
                        cent[j, t] = sums[j, t] / counts[j]
        for q in range(nc):
            assign[rows[q]] = c * K + local[q]
    return assign


@njit(cache=True)
def cluster_means(X, assign, n_total):
    """Mean input point of each cluster and its number of points.

    Returns ``(centers, counts)``: ``centers`` of shape (n_total, d) (zero
    for an empty cluster) and ``counts`` of shape (n_total,).
    """
    n, d = X.shape
    centers = np.zeros((n_total, d))
    counts = np.zeros(n_total)
    for i in range(n):
        c = assign[i]
        counts[c] += 1.0
        for j in range(d):
            centers[c, j] += X[i, j]
    for c in range(n_total):
        if counts[c] > 0.0:
            for j in range(d):
                centers[c, j] /= counts[c]
    return centers, counts


@njit(cache=True)
def _magnet_value_grad(X, codes, anchors, start, b, assign, centers, cluster_class, LT,
                       margin, normalize, variance):
    """Summed magnet loss of the anchors ``start : start + b`` and its
    gradient over ``L`` (every array argument IN; ``LT`` = ``L^T``;
    ``variance`` the fixed ``s2``, or ``<= 0`` for the batch's)."""
    d, k = LT.shape
    nt = centers.shape[0]
    Xb = np.empty((b, d))
    for i in range(b):
        for j in range(d):
            Xb[i, j] = X[anchors[start + i], j]
    Z = np.dot(Xb, LT)
    nz = embed_rows(Z, normalize)
    M = np.dot(centers, LT)
    nm = embed_rows(M, normalize)
    G = np.dot(Z, np.ascontiguousarray(M.T))
    sqz = np.empty(b)
    for i in range(b):
        s = 0.0
        for t in range(k):
            s += Z[i, t] * Z[i, t]
        sqz[i] = s
    sqm = np.empty(nt)
    for c in range(nt):
        s = 0.0
        for t in range(k):
            s += M[c, t] * M[c, t]
        sqm[c] = s
    D2 = np.empty((b, nt))
    own = np.empty(b, dtype=np.intp)
    u = np.empty(b)
    for i in range(b):
        for c in range(nt):
            D2[i, c] = max(sqz[i] + sqm[c] - 2.0 * G[i, c], 0.0)
        o = assign[anchors[start + i]]
        own[i] = o
        s = 0.0
        for t in range(k):
            diff = Z[i, t] - M[o, t]
            s += diff * diff
        u[i] = s
    den = max(b - 1, 1)
    s2 = u.sum() / den if variance <= 0.0 else variance
    grad = np.zeros((k, d))
    if not s2 > 0.0:
        return 0.0, grad
    h = 1.0 / (2.0 * s2)
    Cm = np.zeros((b, nt))
    p = np.empty(nt)
    total = 0.0
    g_s2 = 0.0  # derivative of the summed loss in s2
    for i in range(b):
        ci = codes[anchors[start + i]]
        top = -np.inf
        for c in range(nt):
            if cluster_class[c] >= 0 and cluster_class[c] != ci:
                top = max(top, -D2[i, c] * h)
        if top == -np.inf:
            continue
        z = 0.0
        for c in range(nt):
            if cluster_class[c] >= 0 and cluster_class[c] != ci:
                e = np.exp(-D2[i, c] * h - top)
                p[c] = e
                z += e
        value = u[i] * h + margin + top + np.log(z)
        if value <= 0.0:
            continue
        total += value
        ev = 0.0
        for c in range(nt):
            if cluster_class[c] >= 0 and cluster_class[c] != ci:
                q = p[c] / z
                Cm[i, c] -= q * h
                ev += q * D2[i, c]
        # d(value)/d(s2) = (E_p[D2] - u) / (2 s2^2) = (E_p[D2] - u) 2 h^2
        g_s2 += (ev - u[i]) * 2.0 * h * h
        Cm[i, own[i]] += h
    # each u_j enters s2 with weight 1 / den
    if g_s2 != 0.0 and variance <= 0.0:
        for i in range(b):
            Cm[i, own[i]] += g_s2 / den
    # dZ_i = 2 sum_c Cm_ic (z_i - m_c), dM_c = -2 sum_i Cm_ic (z_i - m_c)
    CM = np.dot(Cm, M)
    CtZ = np.dot(np.ascontiguousarray(Cm.T), Z)
    dZ = np.empty((b, k))
    for i in range(b):
        r = 0.0
        for c in range(nt):
            r += Cm[i, c]
        for t in range(k):
            dZ[i, t] = 2.0 * (r * Z[i, t] - CM[i, t])
    dM = np.empty((nt, k))
    for c in range(nt):
        r = 0.0
        for i in range(b):
            r += Cm[i, c]
        for t in range(k):
            dM[c, t] = 2.0 * (r * M[c, t] - CtZ[c, t])
    unembed_rows(dZ, Z, nz, normalize)
    unembed_rows(dM, M, nm, normalize)
    grad = np.dot(np.ascontiguousarray(dZ.T), Xb) + np.dot(np.ascontiguousarray(dM.T), centers)
    return total, grad


@njit(cache=True)
def magnet_steps(X, codes, anchors, assign, centers, cluster_class, L0, etas, batch_size,
                 margin, precond, normalize=False, variance=0.0):
    """Mini-batch SGD steps on the mean magnet loss over ``L``, the
    clusters fixed (``assign``, ``centers``, ``cluster_class``: see the
    module's docstring).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    codes : ndarray of shape (n_points,), integer, IN
    anchors : ndarray of shape (n_anchors,), integer, IN
    assign : ndarray of shape (n_points,), integer, IN
        Cluster of each point.
    centers : ndarray of shape (n_clusters, d), float64, IN
        Mean input point of each cluster.
    cluster_class : ndarray of shape (n_clusters,), integer, IN
        Class code of each cluster, ``-1`` when empty.
    L0 : ndarray of shape (k, d), float64, IN
    etas : ndarray of shape (n_steps,), float64, IN
    batch_size : int
    margin : float
    precond : ndarray of shape (d,), float64, IN
    normalize : bool
    variance : float
        The variance ``s2`` the squared distances are divided by (twice),
        held fixed; ``<= 0`` takes the batch's, a function of ``L``.

    Returns
    -------
    L : ndarray of shape (k, d), float64
    losses : ndarray of shape (n_steps,), float64
        Summed loss of each batch at the map it was taken at.
    """
    k, d = L0.shape
    n_steps = etas.shape[0]
    L = L0.copy()
    LT = np.ascontiguousarray(L.T)
    losses = np.zeros(n_steps)
    total = anchors.shape[0]
    for t in range(n_steps):
        start = t * batch_size
        b = min(batch_size, total - start)
        if b <= 0:
            break
        value, G = _magnet_value_grad(X, codes, anchors, start, b, assign, centers,
                                      cluster_class, LT, margin, normalize, variance)
        losses[t] = value
        c = etas[t] / b
        _apply_step(L, LT, G, c, precond)
    return L, losses


@njit(cache=True)
def magnet_loss_grad(X, codes, anchors, assign, centers, cluster_class, L, margin,
                     normalize=False, variance=0.0):
    """Mean magnet loss of one batch (all the anchors given) at ``L`` and
    its gradient: the counterpart of one :func:`magnet_steps` step
    (``variance`` as there)."""
    LT = np.ascontiguousarray(L.T)
    b = anchors.shape[0]
    value, G = _magnet_value_grad(X, codes, anchors, 0, b, assign, centers, cluster_class,
                                  LT, margin, normalize, variance)
    return value / b, G / b
