"""Kernels of SCML (Shi et al. 2014): the stochastic composite steps
(AdaGrad dual averaging) over the basis weights, and the triplets' hinge
loss at a metric."""

import numpy as np
from numba import njit


@njit(cache=True)
def rda_steps(XB, triplets, batches, start, w, avg_grad, ada_grad, beta, gamma, delta):
    r"""Steps of AdaGrad regularised dual averaging on SCML's objective.

    Step ``t`` (counted from ``start``) draws the triplets ``batches[s]``,
    takes the subgradient ``g`` of their mean hinge
    :math:`[1 + \sum_k w_k z_k]_+` with
    :math:`z_k = (b_k^T(a - p))^2 - (b_k^T(a - n))^2`, updates the running
    mean of the subgradients ``avg_grad`` and their root sum of squares
    ``ada_grad``, and sets

    .. math::

        w_k = \frac{t + 1}{\gamma (\delta + G_k)} \max(0, -(\bar g_k + \beta)),

    with :math:`\bar g` = ``avg_grad`` and :math:`G` = ``ada_grad``: the
    minimiser over ``w >= 0`` of :math:`\langle \bar g, w\rangle +
    \beta \|w\|_1 + \frac{\gamma}{2 (t + 1)} \sum_k (\delta + G_k) w_k^2`
    (Duchi et al.'s AdaGrad with regularised dual averaging).

    Parameters
    ----------
    XB : ndarray of shape (n_points, n_basis), float64, IN
        The points projected on the basis, ``X @ B.T``.
    triplets : ndarray of shape (n_triplets, 3), intp, IN
        Rows of ``XB``: anchor, positive, negative.
    batches : ndarray of shape (n_steps, batch_size), intp, IN
        The triplets of each step.
    start : int
        Steps taken before this call.
    w : ndarray of shape (n_basis,), float64, INOUT
    avg_grad : ndarray of shape (n_basis,), float64, INOUT
    ada_grad : ndarray of shape (n_basis,), float64, INOUT
    beta, gamma, delta : float
    """
    K = XB.shape[1]
    batch_size = batches.shape[1]
    grad = np.empty(K)
    row = np.empty(K)
    for s in range(batches.shape[0]):
        grad[:] = 0.0
        for b in range(batch_size):
            t = batches[s, b]
            a = triplets[t, 0]
            p = triplets[t, 1]
            n = triplets[t, 2]
            slack = 1.0
            for k in range(K):
                dp = XB[a, k] - XB[p, k]
                dn = XB[a, k] - XB[n, k]
                row[k] = dp * dp - dn * dn
                slack += w[k] * row[k]
            if slack > 0.0:
                for k in range(K):
                    grad[k] += row[k]
        it = start + s
        inv_batch = 1.0 / batch_size
        for k in range(K):
            g = grad[k] * inv_batch
            avg_grad[k] = (it * avg_grad[k] + g) / (it + 1)
            ada_grad[k] = np.sqrt(ada_grad[k] * ada_grad[k] + g * g)
            shrunk = avg_grad[k] + beta
            if shrunk < 0.0:
                w[k] = -(it + 1) * shrunk / (gamma * (delta + ada_grad[k]))
            else:
                w[k] = 0.0


@njit(cache=True)
def triplet_hinge(Z, triplets):
    r"""The mean hinge :math:`[1 + \|z_a - z_p\|^2 - \|z_a - z_n\|^2]_+` of
    the triplets in an embedding, and the number of triplets with a
    positive hinge.

    Parameters
    ----------
    Z : ndarray of shape (n_points, k), float64, IN
        The points embedded (``X @ L.T``).
    triplets : ndarray of shape (n_triplets, 3), intp, IN

    Returns
    -------
    loss : float
    n_active : int
    """
    total = 0.0
    n_active = 0
    k = Z.shape[1]
    for t in range(triplets.shape[0]):
        a = triplets[t, 0]
        p = triplets[t, 1]
        n = triplets[t, 2]
        slack = 1.0
        for j in range(k):
            dp = Z[a, j] - Z[p, j]
            dn = Z[a, j] - Z[n, j]
            slack += dp * dp - dn * dn
        if slack > 0.0:
            total += slack
            n_active += 1
    return total / triplets.shape[0], n_active
