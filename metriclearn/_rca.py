"""Relevant Components Analysis (Bar-Hillel et al. 2003, 2005): RCA and
RCA_Supervised."""

import warnings
from numbers import Integral

import numpy as np

from ._compat import Interval, StrOptions, _fit_context
from ._legacy import UNSET
from ._linalg import check_n_components, symmetric_eigh
from ._result import FitResult
from ._validation import check_points, check_preprocessor, restore_on_error
from .base import BaseMetricLearner, SupervisedLearnerMixin
from .constraints import Constraints

__all__ = ["RCA", "RCA_Supervised"]

# warnings.warn in _fit_chunks -> fit (or the template) -> ... -> the user
_STACKLEVEL_RCA = 4  # _fit_chunks -> fit -> _fit_context -> the user
_STACKLEVEL_SUPERVISED = 6  # _fit_chunks -> _fit_labels -> template -> fit -> ... -> user


# --------------------------------------------------------------------------
# solver: arrays in, arrays out
# --------------------------------------------------------------------------


def _eigh(A, name):
    """``numpy.linalg.eigh`` (the fastest on small matrices), falling back on
    :func:`~metriclearn._linalg.symmetric_eigh` for its checks and messages."""
    if np.all(np.isfinite(A)):
        try:
            return np.linalg.eigh(A)
        except np.linalg.LinAlgError:
            pass
    return symmetric_eigh(A, name)


def _rank_tol(w):
    return w.shape[0] * np.finfo(np.float64).eps * max(w[-1], 0.0)


def chunk_statistics(X, chunks):
    """The points in chunklets and the within-chunklet covariance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    chunks : ndarray of shape (n_samples,), integer
        Chunklet of each point, ``-1`` for none.

    Returns
    -------
    X_chunked : ndarray of shape (n_chunked, n_features)
        The points that are in a chunklet.
    C : ndarray of shape (n_features, n_features)
        ``1/p sum_j sum_{i in chunklet j} (x_i - m_j)(x_i - m_j)^T``, with
        ``m_j`` the mean of chunklet ``j`` and ``p`` the number of points in
        chunklets (a chunklet of one point adds nothing but counts in ``p``,
        as in metric-learn).
    sizes : ndarray of shape (n_chunklets,)
        Points per chunklet.
    """
    mask = chunks != -1
    labels = chunks[mask]
    order = np.argsort(labels, kind="stable")
    X_chunked = X[mask][order]
    labels = labels[order]
    starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    sizes = np.diff(np.append(starts, labels.shape[0]))
    means = np.add.reduceat(X_chunked, starts, axis=0) / sizes[:, None]
    Z = X_chunked - np.repeat(means, sizes, axis=0)
    C = Z.T @ Z
    C /= labels.shape[0]
    return X_chunked, 0.5 * (C + C.T), sizes


def rca_components(X_chunked, C, n_components):
    """RCA's linear map from the within-chunklet covariance ``C``.

    Without reduction (``n_components`` is ``n_features``) the map is the
    symmetric ``C^{-1/2}``, metric-learn's, on the range of ``C``: the
    directions along which no chunklet varies get weight zero (the
    pseudo-inverse). With ``n_components < n_features`` it first keeps the
    ``n_components`` directions of the range of ``C`` with the smallest
    ratio of within-chunklet to total variance (a Fisher-like criterion;
    ``C u = mu S_t u``, smallest ``mu``, with ``S_t`` the covariance of the
    chunked points), then whitens ``C`` on them.

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
    rank_c : int
        Rank of ``C``.
    rank_t : int
        Rank of the covariance of the chunked points (the dimensions they
        span); ``rank_t > rank_c`` means that the chunklets do not vary along
        some directions in which the points do. Only computed when
        ``rank_c < n_features`` or ``n_components < n_features``
        (``n_features`` otherwise).
    """
    d = C.shape[0]
    w, V = _eigh(C, "the within-chunklet covariance matrix")
    keep = w > _rank_tol(w)
    rank_c = int(np.count_nonzero(keep))
    if rank_c == d and n_components == d:
        return (V / np.sqrt(w)) @ V.T, d, d
    Zt = X_chunked - X_chunked.mean(axis=0)
    S_t = Zt.T @ Zt
    w_t = np.linalg.eigvalsh(0.5 * (S_t + S_t.T))
    rank_t = int(np.count_nonzero(w_t > _rank_tol(w_t)))
    # coordinates that whiten C on its range
    W = V[:, keep] / np.sqrt(w[keep])
    if n_components == d:
        components = np.zeros((d, d))
        components[:] = W @ V[:, keep].T
        return components, rank_c, rank_t
    # the directions with the largest ratio of total to within-chunklet variance
    _, U = _eigh(W.T @ S_t @ W, "the covariance of the chunked points")
    r = min(n_components, rank_c)
    components = np.zeros((n_components, d))
    components[:r] = (W @ U[:, ::-1][:, :r]).T
    return _flip_rows(components), rank_c, rank_t


def _flip_rows(L):
    """Each row of ``L`` with its entry of largest magnitude positive."""
    rows = np.arange(L.shape[0])
    signs = np.sign(L[rows, np.argmax(np.abs(L), axis=1)])
    signs[signs == 0] = 1.0
    return L * signs[:, None]


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


class _BaseRCA(BaseMetricLearner):
    """The closed form shared by RCA and RCA_Supervised."""

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "preprocessor": [None, callable, "array-like"],
    }

    def _fit_chunks(self, X, chunks, stacklevel):
        """The :class:`~metriclearn._result.FitResult` of RCA on validated
        points and chunk labels."""
        n, d = X.shape
        n_components = d if self.n_components is None else self.n_components
        check_n_components(n_components, d)
        X_chunked, C, sizes = chunk_statistics(X, chunks)
        if not np.any(sizes >= 2):
            raise ValueError(
                f"every chunklet has a single point ({sizes.shape[0]} chunklets): RCA "
                "needs at least one chunklet of 2 or more points"
            )
        components, rank_c, rank_t = rca_components(X_chunked, C, n_components)
        if rank_c == 0:
            raise ValueError(
                "the points of every chunklet are identical: the within-chunklet "
                "covariance is zero and RCA has nothing to whiten"
            )
        if rank_c < rank_t and n_components > rank_c:
            warnings.warn(self._singular_message(rank_c, rank_t, d), UserWarning,
                          stacklevel=stacklevel)
        return FitResult(components, 0, True, [])

    def _singular_message(self, rank_c, rank_t, d):
        return (
            f"{type(self).__name__}: the within-chunklet covariance matrix has rank "
            f"{rank_c}, less than the {rank_t} dimensions the chunked points span, so "
            f"it is not invertible: along {rank_t - rank_c} direction(s) no chunklet "
            "varies. Those directions get weight 0 (the pseudo-inverse), where "
            "whitening would give them an infinite weight. "
            f"{self._more_chunks_hint()}, set n_components <= {rank_c}, or remove "
            "linearly dependent features (for instance with sklearn.decomposition.PCA)"
        )

    def _more_chunks_hint(self):
        return "Give more chunklets (or larger ones)"


class RCA(_BaseRCA):
    r"""Relevant Components Analysis (RCA), learned from chunklets.

    Read more in the :ref:`User Guide <rca>`.

    A *chunklet* is a group of points known to belong to one class (their
    labels need not be known). RCA whitens the data by their average scatter
    within the chunklets, so that directions along which points of one
    chunklet differ (irrelevant variability) shrink, and directions along
    which they agree grow:

    .. math::

        M = \hat C^{-1}, \qquad
        \hat C = \frac{1}{p} \sum_{j=1}^{K} \sum_{i=1}^{n_j}
        (x_{ji} - \hat m_j)(x_{ji} - \hat m_j)^T

    where

    - :math:`x_{ji}` is point :math:`i` of chunklet :math:`j`
      (:math:`K` chunklets of :math:`n_j` points, :math:`p = \sum_j n_j`);
    - :math:`\hat m_j` is the mean of chunklet :math:`j`.

    ``components_`` is the symmetric :math:`\hat C^{-1/2}`, as in
    metric-learn. This is the maximum-likelihood estimate of the metric when
    the classes are Gaussian with a shared covariance [1]_, and the solution
    of

    .. math::

        \min_{M \succ 0} \; \frac{1}{p} \sum_{j, i}
        \|x_{ji} - \hat m_j\|_M^2 \quad \text{s.t.} \quad \det M \ge 1

    up to scale.

    When :math:`\hat C` is singular (too few chunklets for the dimension, or
    features that no chunklet varies in), the directions in which no
    chunklet varies but the points do get weight 0 (the pseudo-inverse) and
    a warning says so; metric-learn returns NaN there. Directions in which
    the chunked points do not vary at all also get weight 0, silently.

    With ``n_components < n_features`` the data are first projected onto the
    ``n_components`` directions of largest ratio of total to within-chunklet
    variance (:math:`\hat C u = \mu S_t u` with the smallest :math:`\mu`,
    :math:`S_t` the covariance of the chunked points, as metric-learn does,
    within the range of :math:`\hat C`), and :math:`\hat C` is whitened on
    them.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the learned space, at most ``n_features``; ``None``
        means ``n_features`` (no reduction).
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
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
    RCA_Supervised : the same learner, with chunklets drawn from class
        labels.
    Covariance : whitening by the covariance of all the points.

    References
    ----------
    .. [1] A. Bar-Hillel, T. Hertz, N. Shental, D. Weinshall. "Learning a
           Mahalanobis metric from equivalence constraints". JMLR 6, 2005.
    .. [2] N. Shental, T. Hertz, D. Weinshall, M. Pavel. "Adjustment learning
           and relevant component analysis". ECCV 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import RCA
    >>> X = np.array([[-0.05, 3.0], [0.05, -3.0], [0.1, -3.55], [-0.1, 3.55],
    ...               [-0.95, -0.05], [0.95, 0.05], [0.4, 0.05], [-0.4, -0.05]])
    >>> chunks = [0, 0, 1, 1, 2, 2, 3, 3]
    >>> rca = RCA().fit(X, chunks)
    >>> rca.components_.shape
    (2, 2)
    """

    def __init__(self, *, n_components=None, preprocessor=None):
        self.n_components = n_components
        self.preprocessor = preprocessor

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, chunks):
        """Learn the metric from points and their chunklets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        chunks : array-like of shape (n_samples,), integer
            The chunklet of each point: points with the same value belong to
            one chunklet, and ``-1`` marks a point in no chunklet (the form
            :meth:`Constraints.chunks` returns).

        Returns
        -------
        self
        """
        with restore_on_error(self):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            X, chunks = check_points(self, X, y=chunks, reset=True, ensure_min_samples=2)
            X = np.ascontiguousarray(X, dtype=np.float64)
            chunks = _check_chunks(chunks)
            self._set_fitted(self._fit_chunks(X, chunks, _STACKLEVEL_RCA))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _check_chunks(chunks):
    """Chunk labels as integers, with at least one point in a chunklet."""
    arr = np.asarray(chunks)
    if arr.dtype == object:
        try:  # numbers held as objects
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if arr.dtype.kind not in "iub":
        whole = arr.dtype.kind == "f" and np.all(arr == np.round(arr))
        if not whole:
            bad = arr[arr != np.round(arr)] if arr.dtype.kind == "f" else arr
            raise ValueError(
                "chunks must hold integer chunklet labels (-1 for a point in no "
                f"chunklet); got dtype {arr.dtype} with values {bad[:5].tolist()}"
            )
    arr = arr.astype(np.int64)
    if np.all(arr == -1):
        raise ValueError(
            "chunks puts no point in a chunklet (every value is -1): RCA needs at "
            "least one chunklet of 2 or more points"
        )
    return arr


def _class_counts(labels):
    """Points per class, the label -1 (unlabelled, as :class:`Constraints`
    takes it) left out."""
    known = labels if labels.dtype.kind in "US" else labels[labels != -1]
    if known.size == 0:
        return np.zeros(0, dtype=np.intp)
    if known.dtype.kind in "iu" and known.max() - known.min() <= 4 * known.size:
        counts = np.bincount(known - known.min())  # O(n), where np.unique sorts
        return counts[counts > 0]
    return np.unique(known, return_counts=True)[1]


class RCA_Supervised(SupervisedLearnerMixin, _BaseRCA):
    """Relevant Components Analysis (RCA), learned from class labels.

    Read more in the :ref:`User Guide <rca>`.

    Draws ``n_chunks`` chunklets of ``chunk_size`` points of one class from
    the labels (:meth:`Constraints.chunks`: each chunklet picks a class
    uniformly among those with enough unused points, then its points among
    them), and whitens by the scatter within them, as :class:`RCA` does.
    The label ``-1`` means "unlabelled": such points are in no chunklet.

    When the labels allow fewer chunklets than ``n_chunks`` (iris's 150
    points make 75 pairs), as many as possible are drawn, with a warning;
    metric-learn raises an error.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the learned space (see :class:`RCA`); ``None`` means
        ``n_features``.
    n_chunks : int, default=100
        Number of chunklets to draw.
    chunk_size : int, default=2
        Points per chunklet.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the chunklets drawn.
    num_chunks : int, default="deprecated"
        metric-learn's old name of ``n_chunks``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
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
    RCA : the same learner, from chunklets given directly.

    References
    ----------
    .. [1] A. Bar-Hillel, T. Hertz, N. Shental, D. Weinshall. "Learning a
           Mahalanobis metric from equivalence constraints". JMLR 6, 2005.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from metriclearn import RCA_Supervised
    >>> X, y = load_wine(return_X_y=True)
    >>> rca = RCA_Supervised(n_chunks=50, random_state=0)
    >>> model = make_pipeline(StandardScaler(), rca, KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        **_BaseRCA._parameter_constraints,
        "n_chunks": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "num_chunks": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {"num_chunks": "n_chunks"}

    def __init__(self, *, n_components=None, n_chunks=100, chunk_size=2,
                 preprocessor=None, random_state=None, num_chunks=UNSET):
        self.n_components = n_components
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.num_chunks = num_chunks

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Draw chunklets from the class labels and learn the metric.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels; ``-1`` marks an unlabelled point.

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y)

    def _fit_labels(self, X, y, rng):
        n_chunks, chunk_size = self._param("n_chunks"), self.chunk_size
        constraints = Constraints(y)
        available = int(np.sum(_class_counts(constraints.partial_labels) // chunk_size))
        if available == 0:
            raise ValueError(
                f"no class in y has chunk_size={chunk_size} points: RCA_Supervised "
                "cannot draw a single chunklet; lower chunk_size"
            )
        if available < n_chunks:
            warnings.warn(
                f"RCA_Supervised: the classes in y allow only {available} chunklets of "
                f"{chunk_size} points, fewer than n_chunks={n_chunks}; using "
                f"{available}",
                UserWarning, stacklevel=_STACKLEVEL_SUPERVISED - 1,
            )
            n_chunks = available
        chunks = constraints.chunks(n_chunks=n_chunks, chunk_size=chunk_size,
                                    random_state=rng)
        return self._fit_chunks(X, chunks, _STACKLEVEL_SUPERVISED)

    def _more_chunks_hint(self):
        return "Increase n_chunks or chunk_size"
