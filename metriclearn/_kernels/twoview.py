"""Kernels of SGDTwoViewLearner: the symmetric InfoNCE loss of a batch of
paired rows and its gradient in the two maps, and the mini-batch steps of an
epoch.

A batch of ``B`` pairs costs five GEMMs: the embeddings ``Ex = U Lx^T`` and
``Ey = V Ly^T``, the ``B x B`` logits ``S = Zx Zy^T / tau``, the
derivatives in the embeddings ``dS Zy`` and ``dS^T Zx``, and the gradients
``dEx^T U`` and ``dEy^T V``; everything else is linear in ``B^2``. The
arithmetic is NumPy's (BLAS), which is what a GEMM-bound step wants.
"""

import numpy as np

__all__ = ["infonce_loss_grad", "twoview_steps"]


def _embed(E, normalize):
    """The rows of ``E`` (a new array) and their norms; with ``normalize``
    the rows divided by their norms (a row of norm zero stays zero)."""
    norms = np.sqrt(np.einsum("ij,ij->i", E, E))
    if not normalize:
        return E, norms
    Z = np.divide(E, norms[:, None], out=np.zeros_like(E), where=norms[:, None] > 0)
    return Z, norms


def _unembed(dZ, Z, norms, normalize):
    """Derivatives in ``e`` from derivatives in ``z = e / ||e||``:
    ``(dz - (z . dz) z) / ||e||`` (0 for a row of norm zero); ``dZ``
    itself without ``normalize``."""
    if not normalize:
        return dZ
    radial = np.einsum("ij,ij->i", Z, dZ)
    dE = dZ - radial[:, None] * Z
    return np.divide(dE, norms[:, None], out=np.zeros_like(dE), where=norms[:, None] > 0)


def _log_softmax_parts(S, axis):
    """``logsumexp`` of ``S`` along ``axis`` and the softmax along it."""
    top = S.max(axis=axis, keepdims=True)
    E = np.exp(S - top)
    total = E.sum(axis=axis, keepdims=True)
    return (np.log(total) + top).squeeze(axis), E / total


def infonce_loss_grad(U, V, Lx, Ly, tau, normalize):
    """Symmetric InfoNCE loss of the paired rows ``(U[i], V[i])`` and its
    gradient in ``Lx`` and ``Ly``.

    With ``zx_i`` the embedding of ``U[i]`` (``Lx U[i]``, divided by its norm
    with ``normalize``), ``zy_j`` that of ``V[j]`` and
    ``S_ij = zx_i . zy_j / tau``,
    ``loss = (1 / 2B) sum_i (logsumexp_j S_ij - S_ii)
    + (1 / 2B) sum_j (logsumexp_i S_ij - S_jj)``.

    Parameters
    ----------
    U : ndarray of shape (B, p), float64, IN
        Rows of the first view (centred).
    V : ndarray of shape (B, q), float64, IN
        Their partners in the second view (centred).
    Lx : ndarray of shape (k, p), float64, IN
    Ly : ndarray of shape (k, q), float64, IN
    tau : float
        Temperature.
    normalize : bool
        Embed on the unit sphere.

    Returns
    -------
    loss : float
        The mean loss of the batch.
    grad_x : ndarray of shape (k, p)
    grad_y : ndarray of shape (k, q)
    """
    B = U.shape[0]
    Zx, nx = _embed(U @ Lx.T, normalize)
    Zy, ny = _embed(V @ Ly.T, normalize)
    S = (Zx @ Zy.T) / tau
    lse_rows, P_rows = _log_softmax_parts(S, 1)
    lse_cols, P_cols = _log_softmax_parts(S, 0)
    diag = np.diagonal(S)
    loss = 0.5 * (float(np.sum(lse_rows - diag)) + float(np.sum(lse_cols - diag))) / B
    # d loss / d S: the two softmaxes less the targets, over 2B
    dS = P_rows + P_cols
    dS[np.diag_indices(B)] -= 2.0
    dS *= 0.5 / (B * tau)
    dEx = _unembed(dS @ Zy, Zx, nx, normalize)
    dEy = _unembed(dS.T @ Zx, Zy, ny, normalize)
    return loss, dEx.T @ U, dEy.T @ V


def twoview_steps(X, Y, order, Lx0, Ly0, etas, batch_size, tau, normalize, px, py):
    """Mini-batch steps over the pairs ``(X[i], Y[i])`` visited in ``order``.

    Step ``t`` takes the next ``batch_size`` pairs (the last batch may be
    smaller) and moves both maps against the gradient of their mean loss,
    preconditioned by fixed positive diagonals:
    ``Lx <- Lx - etas[t] grad_x diag(px)``, likewise ``Ly``.

    Parameters
    ----------
    X : ndarray of shape (n, p), float64, IN
    Y : ndarray of shape (n, q), float64, IN
    order : ndarray of shape (m,), intp, IN
        Rows visited, batch after batch.
    Lx0, Ly0 : ndarray of shape (k, p) and (k, q), IN
        The maps before the first step (not written).
    etas : ndarray of shape (ceil(m / batch_size),), IN
        Learning rate of each step.
    batch_size : int
    tau : float
    normalize : bool
    px : ndarray of shape (p,), IN
    py : ndarray of shape (q,), IN

    Returns
    -------
    Lx, Ly : ndarrays of shape (k, p) and (k, q)
        The maps after the last step.
    losses : ndarray of shape (ceil(m / batch_size),)
        Each step's summed loss (its mean loss times its pairs), before the step.
    """
    Lx = Lx0.copy()
    Ly = Ly0.copy()
    m = order.shape[0]
    n_steps = -(-m // batch_size)
    losses = np.empty(n_steps)
    for t in range(n_steps):
        rows = order[t * batch_size:(t + 1) * batch_size]
        loss, gx, gy = infonce_loss_grad(X[rows], Y[rows], Lx, Ly, tau, normalize)
        losses[t] = loss * rows.shape[0]
        Lx -= etas[t] * gx * px
        Ly -= etas[t] * gy * py
    return Lx, Ly, losses
