"""Kernels of SCML (Shi et al. 2014): the stochastic composite steps
(AdaGrad dual averaging) over the basis weights, and the triplets' hinge
loss at a metric."""

import numpy as np
from numba import njit

# The sums may be reordered (vectorised), divisions taken as products by a
# reciprocal: the steps' results move in the last bits only. The inputs are
# finite (validated), so the flags that assume it change nothing.
_FASTMATH = {"reassoc", "contract", "nnan", "ninf", "nsz", "arcp"}


@njit(cache=True, fastmath=_FASTMATH)
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

    The weights are sparse and most triplets meet their margin once the
    first steps are past, so a step is computed from what changes: with
    :math:`S_k = (t + 1) \bar g_k` the sum of the subgradients,
    :math:`w_k = \max(0, -S_k - \beta (t + 1)) / (\gamma (\delta + G_k))`
    changes between two steps only through :math:`\beta`'s term unless the
    step has a subgradient. A triplet's slack is summed over the bases with
    a positive weight only; the whole row ``z`` is formed only for the
    triplets whose hinge is positive; ``S``, ``G`` and the set of positive
    weights are updated only after a step whose subgradient is not zero.
    The result is that of the step-by-step recursion above, up to rounding.

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
    sums = avg_grad * start
    squares = ada_grad * ada_grad
    inv_den = np.empty(K)
    for k in range(K):
        inv_den[k] = 1.0 / (gamma * (delta + ada_grad[k]))
    # the bases whose weight may be positive at this step, and their weights:
    # those of w at the first step, those of the state (sums, squares) after
    support = np.empty(K, dtype=np.intp)
    weight = np.empty(K)
    n_support = 0
    for k in range(K):
        if w[k] > 0.0:
            support[n_support] = k
            weight[n_support] = w[k]
            n_support += 1
    grad = np.empty(K)
    for s in range(batches.shape[0]):
        it = start + s
        if s > 0:
            shift = beta * it
            for j in range(n_support):
                k = support[j]
                v = -sums[k] - shift
                weight[j] = v * inv_den[k] if v > 0.0 else 0.0
        n_hit = 0
        for b in range(batch_size):
            t = batches[s, b]
            xa = XB[triplets[t, 0]]
            xp = XB[triplets[t, 1]]
            xn = XB[triplets[t, 2]]
            # z_k = (a - p)^2 - (a - n)^2 = (n - p)(2a - p - n), coordinate by coordinate
            slack = 1.0
            for j in range(n_support):
                k = support[j]
                slack += weight[j] * ((xn[k] - xp[k]) * (2.0 * xa[k] - xp[k] - xn[k]))
            if slack > 0.0:
                if n_hit == 0:
                    grad[:] = 0.0
                n_hit += 1
                for k in range(K):
                    grad[k] += (xn[k] - xp[k]) * (2.0 * xa[k] - xp[k] - xn[k])
        if n_hit:
            inv_batch = 1.0 / batch_size
            for k in range(K):
                g = grad[k] * inv_batch
                sums[k] += g
                squares[k] += g * g
                inv_den[k] = 1.0 / (gamma * (delta + np.sqrt(squares[k])))
        if n_hit or s == 0:
            n_support = _support(sums, beta * (it + 1), support)
    steps = start + batches.shape[0]
    for k in range(K):
        avg_grad[k] = sums[k] / steps
        ada_grad[k] = np.sqrt(squares[k])
        v = -sums[k] - beta * steps
        w[k] = v * inv_den[k] if v > 0.0 else 0.0


@njit(cache=True)
def _support(sums, shift, support):
    """The bases ``k`` with ``-sums[k] - shift > 0`` into ``support``; their
    number."""
    n = 0
    for k in range(sums.shape[0]):
        if -sums[k] - shift > 0.0:
            support[n] = k
            n += 1
    return n


@njit(cache=True, fastmath={"reassoc", "contract"})
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
