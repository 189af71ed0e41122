"""The covariance metric (Mahalanobis 1936): Covariance, a baseline that
learns nothing beyond the covariance of the data."""

import numpy as np

from ._compat import _fit_context
from ._linalg import symmetric_eigh
from ._result import FitResult
from ._validation import check_points, check_preprocessor, restore_on_error
from .base import BaseMetricLearner

__all__ = ["Covariance"]


def covariance_metric(X):
    """The (pseudo-)inverse of the covariance of ``X``, as a linear map.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), n_samples >= 2

    Returns
    -------
    L : ndarray of shape (n_features, n_features)
        ``L^T L = Sigma^+``, with ``Sigma`` the unbiased covariance of ``X``;
        eigenvalues of ``Sigma`` below ``n_features * eps * max(eigenvalue)``
        count as zero. The rows are the eigenvectors of ``Sigma^+`` scaled by
        the square roots of its eigenvalues, largest first, the trailing rows
        zero when ``Sigma`` is singular: the form
        :func:`~metriclearn._linalg.components_from_metric` gives, computed
        from one eigen-decomposition of ``Sigma`` instead of a second one of
        ``Sigma^+`` (which would square the condition number). Each row's
        entry of largest magnitude is positive.
    rank : int
        The rank of ``Sigma``.
    """
    d = X.shape[1]
    Z = X - X.mean(axis=0)
    S = Z.T @ Z
    S /= X.shape[0] - 1
    S = 0.5 * (S + S.T)
    if np.all(np.isfinite(S)):
        try:
            w, V = np.linalg.eigh(S)
        except np.linalg.LinAlgError:
            w, V = symmetric_eigh(S, "the covariance matrix")
    else:
        w, V = symmetric_eigh(S, "the covariance matrix")
    keep = w > d * np.finfo(np.float64).eps * max(w[-1], 0.0)
    rank = int(np.count_nonzero(keep))
    # ascending eigenvalues of Sigma: descending ones of its inverse
    L = np.zeros((d, d))
    L[:rank] = V[:, keep].T / np.sqrt(w[keep])[:, None]
    rows = np.arange(rank)
    signs = np.sign(L[rows, np.argmax(np.abs(L[:rank]), axis=1)])
    L[:rank] *= signs[:, None]
    return L, rank


class Covariance(BaseMetricLearner):
    r"""The covariance metric: the Mahalanobis distance of the data.

    Read more in the :ref:`User Guide <covariance>`.

    A baseline that learns nothing from labels: the metric is the inverse of
    the covariance of the training points, so that the points
    :meth:`transform` returns have identity covariance (they are whitened;
    the map is linear, so their mean is not moved to zero),

    .. math::

        M = \Sigma^{+}, \qquad
        \Sigma = \frac{1}{n - 1} \sum_{i=1}^{n} (x_i - \bar x)(x_i - \bar x)^T

    where :math:`\bar x` is the mean of the points and :math:`\Sigma^{+}`
    the inverse of :math:`\Sigma`, or its Moore-Penrose pseudo-inverse when
    :math:`\Sigma` is singular (constant features, features that are linear
    combinations of others, fewer points than features; eigenvalues below
    ``n_features * eps`` times the largest count as zero). The directions in
    which the training points do not vary then get weight zero: the
    distance is the Mahalanobis distance within the affine span of the
    training data, and ignores any difference outside it. This happens
    without a warning, as in metric-learn: the pseudo-inverse is the
    standard meaning of the Mahalanobis distance of degenerate data, and
    degenerate data are common (standardised ``load_digits``, 70/30 split:
    the training covariance has rank 60 of 64, four pixels being constant;
    the 3-NN test accuracy is 0.950 with the pseudo-inverse, as with a ridge
    of ``1e-10`` to ``1e-3`` added to the diagonal).

    ``components_`` has the form
    :func:`~metriclearn.base.components_from_metric` gives :math:`M`: its
    rows are the eigenvectors of :math:`M` scaled by the square roots of
    their eigenvalues, in decreasing order, the trailing rows zero when
    :math:`\Sigma` is singular. It is computed from one eigen-decomposition
    of :math:`\Sigma` (not a second one of :math:`M`, which would square
    the condition number), and each row's largest entry is positive.

    Parameters
    ----------
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``L^T L = M``.
    n_iter_ : int
        0: the solution is in closed form.
    objective_history_ : ndarray of shape (0,)
        Empty (no iterations).
    converged_ : bool
        True.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    RCA : whitening by the covariance within chunklets of points known to
        belong together, instead of all points.
    sklearn.covariance.EmpiricalCovariance : the covariance itself, and the
        Mahalanobis distances of points to its mean.

    References
    ----------
    .. [1] P. C. Mahalanobis. "On the generalized distance in statistics".
           Proceedings of the National Institute of Sciences of India 2(1),
           1936.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from metriclearn import Covariance
    >>> X, _ = load_iris(return_X_y=True)
    >>> cov = Covariance().fit(X)
    >>> X_white = cov.transform(X)
    >>> bool(np.allclose(np.cov(X_white, rowvar=False), np.eye(4)))
    True
    """

    _parameter_constraints = {"preprocessor": [None, callable, "array-like"]}

    def __init__(self, *, preprocessor=None):
        self.preprocessor = preprocessor

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the metric: the (pseudo-)inverse of the covariance of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``); at least
            2 of them.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        with restore_on_error(self):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            X = check_points(self, X, reset=True, ensure_min_samples=2)
            L, rank = covariance_metric(np.ascontiguousarray(X, dtype=np.float64))
            if rank == 0:
                raise ValueError(
                    "X has no variance (every point is the same): its covariance is "
                    "zero, and so is the covariance metric"
                )
            self._set_fitted(FitResult(L, 0, True, []))
        return self
