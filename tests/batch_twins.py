"""Naive NumPy twins of the SGD losses over a whole batch of labelled points
(lifted structured, supervised contrastive, debiased contrastive) and of the
magnet loss, written from the papers' formulas (cosine similarities and the
real temperature on the unit sphere), one anchor at a time. Their gradients
are central finite differences of these losses."""

import numpy as np
from scipy.special import logsumexp

from metriclearn._kernels import sgd_batch as kb


def embed(X, L, normalize):
    E = X @ L.T
    if normalize:
        E = E / np.linalg.norm(E, axis=1, keepdims=True)
    return E


def similarities(E, tau, normalize):
    """``s / t`` of every pair of rows: ``cos / t`` with ``t = tau / 2`` on
    the sphere (the kernels' temperature divides squared distances), and
    ``-d2 / tau`` off it."""
    if normalize:
        return (E @ E.T) / (tau / 2.0)
    return -((E[:, None, :] - E[None, :, :]) ** 2).sum(-1) / tau


def _lifted(E, labels, b, margin):
    D = np.sqrt(((E[:, None, :] - E[None, :, :]) ** 2).sum(-1))
    total = 0.0
    for i in range(b):
        j = b + i
        neg = np.flatnonzero(labels != labels[i])
        if neg.size == 0:
            continue
        J = np.log(np.exp(margin - D[i, neg]).sum() + np.exp(margin - D[j, neg]).sum()) + D[i, j]
        total += max(J, 0.0) ** 2
    return total / (2 * b)


def _supcon(S, labels):
    m = S.shape[0]
    losses = []
    for i in range(m):
        others = np.array([r for r in range(m) if r != i])
        pos = [r for r in others if labels[r] == labels[i]]
        if not pos:
            continue
        # L_in: the positives' mean inside the log (without its constant log |P(i)|)
        losses.append(logsumexp(S[i, others]) - logsumexp(S[i, pos]))
    return np.mean(losses) if losses else 0.0


def _debiased(S, b, tau, prior, normalize):
    m = S.shape[0]
    total = 0.0
    if m <= 2:
        return 0.0
    for i in range(m):
        p = (i + b) % m
        neg = np.exp([S[i, r] for r in range(m) if r not in (i, p)])
        pos = np.exp(S[i, p])
        n = neg.shape[0]
        floor = np.exp(-1.0 / (tau / 2.0)) if normalize else neg.min()
        ng = max((neg.mean() - prior * pos) / (1.0 - prior), floor)
        total += -np.log(pos / (pos + n * ng))
    return total / m


def batch_loss_twin(X, codes, anchors, positives, L, loss, margin, temperature, prior,
                    normalize=False):
    """Mean loss of one batch (see :mod:`metriclearn._kernels.sgd_batch`)."""
    pts = np.concatenate([anchors, positives])
    E = embed(X[pts], L, normalize)
    b = anchors.shape[0]
    if loss == kb.LIFTED:
        return _lifted(E, codes[pts], b, margin)
    S = similarities(E, temperature, normalize)
    if loss == kb.SUPCON:
        return _supcon(S, codes[pts])
    return _debiased(S, b, temperature, prior, normalize)


def magnet_loss_twin(X, codes, anchors, assign, centers, cluster_class, L, margin,
                     normalize=False, variance=0.0):
    """Mean magnet loss of one batch, its clusters given; ``variance`` the
    fixed sigma^2, or ``<= 0`` for the batch's."""
    Z = embed(X[anchors], L, normalize)
    M = embed(centers, L, normalize) if normalize else centers @ L.T
    own = M[assign[anchors]]
    u = ((Z - own) ** 2).sum(1)
    b = anchors.shape[0]
    s2 = u.sum() / max(b - 1, 1) if variance <= 0 else variance
    total = 0.0
    for r in range(b):
        others = [c for c in range(M.shape[0])
                  if cluster_class[c] >= 0 and cluster_class[c] != codes[anchors[r]]]
        if not others:
            continue
        num = -u[r] / (2 * s2) - margin
        den = logsumexp([-((Z[r] - M[c]) ** 2).sum() / (2 * s2) for c in others])
        total += max(0.0, -(num - den))
    return total / b


def fd_gradient(f, L, h=1e-6):
    """Central finite differences of ``f`` at ``L``."""
    G = np.zeros_like(L)
    for idx in np.ndindex(L.shape):
        E = np.zeros_like(L)
        E[idx] = h
        G[idx] = (f(L + E) - f(L - E)) / (2 * h)
    return G


def batch_loss_grad_twin(X, codes, anchors, positives, L, loss, margin, temperature, prior,
                         normalize=False):
    def f(M):
        return batch_loss_twin(X, codes, anchors, positives, M, loss, margin, temperature,
                               prior, normalize)

    return f(L), fd_gradient(f, L)


def magnet_loss_grad_twin(X, codes, anchors, assign, centers, cluster_class, L, margin,
                          normalize=False, variance=0.0):
    def f(M):
        return magnet_loss_twin(X, codes, anchors, assign, centers, cluster_class, M, margin,
                                normalize, variance)

    return f(L), fd_gradient(f, L)


def steps_twin(L, etas, B, n, loss_grad, scale, precond):
    """SGD steps along ``scale`` times the gradient of each batch's mean loss
    (``loss_grad(slice, L)``); the kernels' summed losses are ``b`` times the
    means."""
    L = L.copy()
    losses = np.zeros(len(etas))
    for t, eta in enumerate(etas):
        s = slice(t * B, min((t + 1) * B, n))
        b = s.stop - s.start
        if b <= 0:
            break
        value, grad = loss_grad(s, L)
        losses[t] = b * value
        L = L - eta * scale * grad * precond
    return L, losses


def class_kmeans_twin(Z, order, bounds, n_clusters, u, max_iter):
    """k-means++ seeding with the draws ``u``, then Lloyd's iterations, per class."""
    assign = np.zeros(Z.shape[0], dtype=np.intp)
    for c in range(len(bounds) - 1):
        rows = order[bounds[c]:bounds[c + 1]]
        P = Z[rows]
        n = len(rows)
        kc = min(n_clusters, n)
        cent = [P[min(int(u[c, 0] * n), n - 1)]]
        for j in range(1, kc):
            d = np.min([((P - x) ** 2).sum(1) for x in cent], axis=0)
            total = d.sum()
            above = np.flatnonzero(np.cumsum(d) > u[c, j] * total) if total > 0 else []
            cent.append(P[above[0] if len(above) else n - 1])
        cent = np.array(cent)
        local = np.full(n, -1)
        for _ in range(max_iter):
            new = np.argmin(((P[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
            if np.array_equal(new, local):
                break
            local = new
            for j in range(kc):
                if np.any(local == j):
                    cent[j] = P[local == j].mean(0)
        assign[rows] = c * n_clusters + local
    return assign
