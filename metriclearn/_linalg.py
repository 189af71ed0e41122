"""Linear algebra shared by the learners: a symmetric eigen-decomposition
that says what went wrong, a log-determinant, ``L`` from ``M``, and the initial and prior
matrices named by ``init`` / ``prior``."""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, eigh
from sklearn.datasets import make_spd_matrix
from sklearn.utils import check_array

from .exceptions import NonPSDError

__all__ = ["components_from_metric", "initial_metric", "logdet", "symmetric_eigh"]


def logdet(M, name):
    """``log det M`` of a symmetric positive definite matrix, by Cholesky; a
    ``ValueError`` naming ``name`` when it is not positive definite."""
    try:
        c, _ = cho_factor(M, lower=True, check_finite=False)
    except LinAlgError:
        raise NonPSDError(f"the {name} is not positive definite") from None
    return 2.0 * np.log(np.diag(c)).sum()


def symmetric_eigh(A, name="the matrix"):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    A matrix with NaN or infinite entries (arithmetic that overflowed on
    the way) raises a ``ValueError`` naming ``name``; when LAPACK's
    divide-and-conquer driver fails to converge, the slower QR driver is
    tried before a ``ValueError`` says what to do.
    """
    A = np.asarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise ValueError(
            f"{name} has NaN or infinite entries (an overflow: are the features on "
            "a scale near the float64 limits? standardise them first)"
        )
    try:
        return eigh(A, check_finite=False)
    except LinAlgError:
        pass
    try:
        return eigh(A, check_finite=False, driver="ev")
    except LinAlgError as exc:
        raise ValueError(
            f"the eigen-decomposition of {name} did not converge ({exc}); "
            "standardise the features or remove nearly collinear ones"
        ) from exc


def components_from_metric(M, tol=None, n_components=None):
    """A linear map ``L`` (rows ordered by decreasing importance) with
    ``L.T @ L == M`` for a symmetric PSD ``M``.

    Eigenvalues below ``tol`` (default: ``d * eps * max|w|``) are treated as
    zero; a clearly negative eigenvalue raises a ``ValueError``. With
    ``n_components`` only the leading rows are kept: the best rank
    ``n_components`` approximation of ``M`` (exact when ``M`` has that
    rank, dropping its null directions).
    """
    M = np.asarray(M, dtype=np.float64)
    w, V = symmetric_eigh(0.5 * (M + M.T), "the Mahalanobis matrix")
    scale = np.max(np.abs(w)) if w.size else 0.0
    if tol is None:
        tol = M.shape[0] * np.finfo(np.float64).eps * scale
    if w.size and w[0] < -max(tol, 1e-10 * scale):
        raise NonPSDError(
            f"the matrix is not positive semi-definite: smallest eigenvalue {w[0]:g}"
        )
    w = np.where(w > tol, w, 0.0)
    order = np.argsort(w)[::-1]
    if n_components is not None:
        check_n_components(n_components, M.shape[0])
        order = order[:n_components]
    return np.sqrt(w[order])[:, None] * V[:, order].T


def check_n_components(n_components, n_features):
    """``n_components`` at most the number of features, or a ``ValueError``."""
    if n_components > n_features:
        raise ValueError(
            f"n_components={n_components} must be at most the number of features "
            f"({n_features})"
        )


def initial_metric(init, points, n_features, random_state, name="init"):
    """The initial (or prior) Mahalanobis matrix named by ``init``.

    ``'identity'``; ``'covariance'``: the (pseudo-)inverse of the covariance of
    ``points``; ``'random'``: a random SPD matrix; or a symmetric PSD array of
    shape ``(n_features, n_features)``.
    """
    if isinstance(init, str):
        if init == "identity":
            return np.eye(n_features)
        if init == "covariance":
            pts = points.reshape(-1, n_features)
            cov = np.atleast_2d(np.cov(pts, rowvar=False))
            w, V = symmetric_eigh(cov, f"the covariance of the points ({name}='covariance')")
            tol = n_features * np.finfo(np.float64).eps * max(w.max(), 0.0)
            inv = np.where(w > tol, 1.0 / np.where(w > tol, w, 1.0), 0.0)
            if np.all(inv == 0.0):
                raise ValueError(
                    f"{name}='covariance' needs points with non-zero variance"
                )
            return (V * inv) @ V.T
        if init == "random":
            return make_spd_matrix(n_features, random_state=random_state)
        raise ValueError(
            f"{name} must be 'identity', 'covariance', 'random' or an array of "
            f"shape ({n_features}, {n_features}); got {init!r}"
        )
    A = check_array(init, dtype=np.float64, input_name=name)
    if A.shape != (n_features, n_features):
        raise ValueError(
            f"{name} must have shape ({n_features}, {n_features}) to match the "
            f"{n_features} features of the input; got shape {A.shape}"
        )
    if not np.allclose(A, A.T, rtol=1e-8, atol=1e-12 * np.abs(A).max()):
        raise ValueError(f"{name} must be a symmetric matrix")
    w = np.linalg.eigvalsh(A)
    if w[0] < -1e-10 * max(abs(w[-1]), 1e-300):
        raise NonPSDError(
            f"{name} must be positive semi-definite; smallest eigenvalue {w[0]:g}"
        )
    return 0.5 * (A + A.T)
