"""Kernels of the triplet losses of the SGD learners on given triplets
``(a, p, n)``: mini-batch steps, the full loss and gradient, and squared
distances.

Both losses depend on ``L`` only through squared learned distances
``d2(a, x) = ||L (x_a - x)||^2``. With ``c`` the derivative of the loss with
respect to each such distance, the gradient is
``2 sum_{(a, x)} c (L (x_a - x)) (x_a - x)^T``: two GEMMs per batch, one over
the differences ``x_a - x_p`` and one over ``x_a - x_n``. With ``normalize``
the points are embedded on the unit sphere, ``z = L x / ||L x||``, and a
batch embeds its ``3 B`` points instead (see :mod:`.sgd`).

The steps on anchors whose negatives are mined in the batch live in
:mod:`.sgd_mining`; its kernels and miner codes are re-exported here.
"""

import numpy as np
from numba import njit

from .sgd import (  # noqa: F401  (loss codes)
    INFONCE,
    TRIPLET,
    _apply_step,
    embed_rows,
    unembed_rows,
)
from .sgd_mining import (  # noqa: F401  (re-exported)
    ALL,
    EASY,
    HARD,
    SEMIHARD,
    mine_negatives,
    mined_loss_grad,
    mined_steps,
)

_BLOCK = 2048


@njit(cache=True)
def softplus(s):
    """``log(1 + exp(s))`` and its derivative ``1 / (1 + exp(-s))``, without
    overflow."""
    if s > 0.0:
        e = np.exp(-s)
        return s + np.log1p(e), 1.0 / (1.0 + e)
    e = np.exp(s)
    return np.log1p(e), e / (1.0 + e)


@njit(cache=True)
def _terms(loss, dp, dn, margin, temperature, step_scale):
    """Loss of one triplet and its derivative ``c`` in ``dp`` (``-c`` in
    ``dn``); InfoNCE's derivative is multiplied by ``step_scale *
    temperature``."""
    if loss == TRIPLET:
        h = dp - dn + margin
        return (h, 1.0) if h > 0.0 else (0.0, 0.0)
    value, sig = softplus((dp - dn) / temperature)
    return value, sig * step_scale


@njit(cache=True)
def _triplet_batch(X, triplets, order, start, LT, loss, margin, temperature, step_scale,
                   Dp, Dn, Zp, Zn, G):
    """Summed loss of the triplets ``order[start : start + m]`` at ``L``, and
    ``G = sum_i c_i (z_i^p (d_i^p)^T - z_i^n (d_i^n)^T)`` (half the gradient
    of the summed loss) in ``G``.

    For InfoNCE, ``G`` is multiplied by ``step_scale * temperature``:
    ``step_scale = 1 / temperature`` gives the gradient of the loss, and
    ``step_scale = 1`` that of ``temperature`` times the loss (the steps'
    choice: the same minimisers, and gradients bounded like the triplet
    loss's whatever the temperature).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    order : ndarray, integer, IN
    start : int
    LT : ndarray of shape (d, k), float64, C order, IN
        ``L^T``.
    loss : int
    margin, temperature, step_scale : float
    Dp, Dn : ndarray of shape (m, d), float64, OUT
        Overwritten with the differences ``x_a - x_p`` and ``x_a - x_n``.
    Zp, Zn : ndarray of shape (m, k), float64, OUT
        Work arrays: ``D L^T``, then scaled by the loss derivatives.
    G : ndarray of shape (k, d), float64, OUT
        Overwritten with half the gradient (see above).

    Returns
    -------
    loss : float
        Summed loss of the ``m`` triplets (not scaled by ``temperature``).
    """
    m, d = Dp.shape
    k = Zp.shape[1]
    for i in range(m):
        t = order[start + i]
        a = triplets[t, 0]
        p = triplets[t, 1]
        n = triplets[t, 2]
        for j in range(d):
            Dp[i, j] = X[a, j] - X[p, j]
            Dn[i, j] = X[a, j] - X[n, j]
    np.dot(Dp, LT, Zp)
    np.dot(Dn, LT, Zn)
    total = 0.0
    for i in range(m):
        dp = 0.0
        dn = 0.0
        for j in range(k):
            dp += Zp[i, j] * Zp[i, j]
            dn += Zn[i, j] * Zn[i, j]
        value, c = _terms(loss, dp, dn, margin, temperature, step_scale)
        total += value
        for j in range(k):
            Zp[i, j] *= c
            Zn[i, j] *= -c
    np.dot(Zp.T, Dp, G)
    G += np.dot(Zn.T, Dn)
    return total


@njit(cache=True)
def _sphere_batch(X, triplets, order, start, m, LT, loss, margin, temperature, step_scale):
    """Summed loss of the triplets ``order[start : start + m]`` embedded on the
    unit sphere at ``L`` and the gradient of the summed loss (shape
    ``(k, d)``; InfoNCE's scaled as in :func:`_triplet_batch`). Every array
    argument is IN (``LT`` is ``L^T``)."""
    d, k = LT.shape
    P = np.empty((3 * m, d))
    for i in range(m):
        t = order[start + i]
        for r in range(3):
            row = triplets[t, r]
            for j in range(d):
                P[r * m + i, j] = X[row, j]
    E = np.dot(P, LT)
    norms = embed_rows(E, True)
    dZ = np.zeros((3 * m, k))
    total = 0.0
    for i in range(m):
        dp = 0.0
        dn = 0.0
        for t in range(k):
            dp += (E[i, t] - E[m + i, t]) ** 2
            dn += (E[i, t] - E[2 * m + i, t]) ** 2
        value, c = _terms(loss, dp, dn, margin, temperature, step_scale)
        total += value
        if c != 0.0:
            for t in range(k):
                gp = 2.0 * c * (E[i, t] - E[m + i, t])
                gn = 2.0 * c * (E[i, t] - E[2 * m + i, t])
                dZ[i, t] += gp - gn
                dZ[m + i, t] -= gp
                dZ[2 * m + i, t] += gn
    unembed_rows(dZ, E, norms, True)
    return total, np.dot(np.ascontiguousarray(dZ.T), P)


@njit(cache=True)
def triplet_steps(X, triplets, order, L0, etas, batch_size, loss, margin, temperature,
                  precond, normalize=False):
    """Mini-batch SGD steps on the mean triplet loss over ``L``.

    Step ``t`` takes the triplets ``order[t B : (t + 1) B]`` and, with ``m``
    triplets in it, updates
    ``L <- L - etas[t] (2 / m) G diag(precond)`` (see :func:`_triplet_batch`),
    a step along the gradient of the batch's mean loss: per triplet
    ``max(0, d2(a, p) - d2(a, n) + margin)`` (``loss=TRIPLET``) or
    ``temperature * log(1 + exp((d2(a, p) - d2(a, n)) / temperature))``
    (``loss=INFONCE`` with one negative, scaled by the temperature; the
    losses returned are not scaled). With ``normalize`` the distances are
    those of the points embedded on the unit sphere.

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, C order, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
        Rows of ``X``: anchor, positive, negative.
    order : ndarray of shape (n_steps_triplets,), integer, IN
    L0 : ndarray of shape (k, d), float64, IN
        Starting map (not modified; the steps run on a copy).
    etas : ndarray of shape (n_steps,), float64, IN
    batch_size : int
    loss : int
        ``TRIPLET`` or ``INFONCE``.
    margin, temperature : float
    precond : ndarray of shape (d,), float64, IN
    normalize : bool

    Returns
    -------
    L : ndarray of shape (k, d), float64
        The map after the steps, newly allocated.
    losses : ndarray of shape (n_steps,), float64
        Summed loss of each batch at the map it was taken at (0 for steps
        beyond the end of ``order``, which are not taken).
    """
    k, d = L0.shape
    n_steps = etas.shape[0]
    L = L0.copy()
    LT = np.ascontiguousarray(L.T)
    losses = np.zeros(n_steps)
    B = batch_size
    Dp = np.empty((B, d))
    Dn = np.empty((B, d))
    Zp = np.empty((B, k))
    Zn = np.empty((B, k))
    G = np.empty((k, d))
    total = order.shape[0]
    for t in range(n_steps):
        start = t * B
        m = min(B, total - start)
        if m <= 0:
            break
        if normalize:
            losses[t], G = _sphere_batch(X, triplets, order, start, m, LT, loss, margin,
                                         temperature, 1.0)
            c = etas[t] / m
            _apply_step(L, LT, G, c, precond)
            continue
        if m != Dp.shape[0]:
            Dp = np.empty((m, d))
            Dn = np.empty((m, d))
            Zp = np.empty((m, k))
            Zn = np.empty((m, k))
        losses[t] = _triplet_batch(X, triplets, order, start, LT, loss, margin,
                                   temperature, 1.0, Dp, Dn, Zp, Zn, G)
        c = etas[t] * 2.0 / m
        _apply_step(L, LT, G, c, precond)
    return L, losses


@njit(cache=True)
def triplet_loss_grad(X, triplets, L, loss, margin, temperature, normalize=False):
    """Mean triplet loss over all triplets at ``L`` and its gradient (the
    full-batch counterpart of one :func:`triplet_steps` step).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    L : ndarray of shape (k, d), float64, IN
    loss : int
    margin, temperature : float
    normalize : bool

    Returns
    -------
    loss : float
        Mean loss (for ``INFONCE``, not scaled by ``temperature``).
    grad : ndarray of shape (k, d), float64
        Its gradient.
    """
    k, d = L.shape
    n = triplets.shape[0]
    LT = np.ascontiguousarray(L.T)
    order = np.arange(n)
    grad = np.zeros((k, d))
    G = np.empty((k, d))
    total = 0.0
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        if normalize:
            value, G = _sphere_batch(X, triplets, order, start, m, LT, loss, margin,
                                     temperature, 1.0 / temperature)
            total += value
            grad += 0.5 * G
            continue
        total += _triplet_batch(X, triplets, order, start, LT, loss, margin, temperature,
                                1.0 / temperature, np.empty((m, d)), np.empty((m, d)),
                                np.empty((m, k)), np.empty((m, k)), G)
        grad += G
    return total / n, grad * (2.0 / n)


@njit(cache=True)
def triplet_sq_distances(X, triplets, L, normalize=False):
    """``d2(a, p)`` and ``d2(a, n)`` of every index triplet, block by block
    (on the unit sphere with ``normalize``).

    Parameters
    ----------
    X : ndarray of shape (n_points, d), float64, IN
    triplets : ndarray of shape (n_triplets, 3), integer, IN
    L : ndarray of shape (k, d), float64, IN
    normalize : bool

    Returns
    -------
    d2 : ndarray of shape (n_triplets, 2), float64
    """
    k, d = L.shape
    n = triplets.shape[0]
    LT = np.ascontiguousarray(L.T)
    out = np.empty((n, 2))
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        if normalize:
            P = np.empty((3 * m, d))
            for i in range(m):
                for r in range(3):
                    for j in range(d):
                        P[r * m + i, j] = X[triplets[start + i, r], j]
            E = np.dot(P, LT)
            embed_rows(E, True)
            Z = np.empty((2 * m, k))
            for i in range(m):
                Z[2 * i] = E[i] - E[m + i]
                Z[2 * i + 1] = E[i] - E[2 * m + i]
        else:
            D = np.empty((2 * m, d))
            for i in range(m):
                a = triplets[start + i, 0]
                for j in range(d):
                    D[2 * i, j] = X[a, j] - X[triplets[start + i, 1], j]
                    D[2 * i + 1, j] = X[a, j] - X[triplets[start + i, 2], j]
            Z = np.dot(D, LT)
        for i in range(2 * m):
            s = 0.0
            for j in range(k):
                s += Z[i, j] * Z[i, j]
            out[start + i // 2, i % 2] = s
    return out
