"""Local Fisher Discriminant Analysis (Sugiyama 2007): LFDA."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

from ._compat import Interval, StrOptions, _fit_context
from ._kernels.lfda import affinity_exponents, update_nearest
from ._labels import LabelIndex
from ._linalg import check_n_components, symmetric_eigh
from ._result import FitResult
from .base import BaseMetricLearner, SupervisedLearnerMixin

__all__ = ["LFDA"]

# side of the square blocks of inner products of a class (512 KiB each)
_BLOCK = 256
# the ridge added to the local within-class scatter, relative to the total
# scatter: it bounds the generalized eigenvalues by about 1 / _RIDGE where
# the local within-class scatter is singular
_RIDGE = 1e-10
# warnings.warn in _fit_labels -> the template -> fit -> _fit_context -> the user
_STACKLEVEL = 5


# --------------------------------------------------------------------------
# solver: arrays in, arrays out
# --------------------------------------------------------------------------


def class_local_scatter(Zc, k, block=_BLOCK):
    """The local scales of the points of one class and its local scatter
    ``G_c = 1/2 sum_ij A_ij (z_i - z_j)(z_i - z_j)^T = Z_c^T (diag(A 1) - A) Z_c``.

    Two passes over the square blocks on and above the diagonal of the
    class's matrix of inner products (the affinities are symmetric): the
    first finds each point's ``k`` nearest distances, the second forms the
    affinities and accumulates ``A Z_c``. A class of at most ``block`` points
    is one block, formed once; a larger one forms its blocks again in the
    second pass (keeping them costs more memory traffic than the matrix
    products save). Memory: one block and ``O(n_c (k + d))``.

    Parameters
    ----------
    Zc : ndarray of shape (n_c, n_features)
        The points of the class, centred on their mean.
    k : int
        ``1 <= k <= n_c - 1``.
    block : int

    Returns
    -------
    G : ndarray of shape (n_features, n_features)
    sigma : ndarray of shape (n_c,)
    """
    m, d = Zc.shape
    sq = np.einsum("ij,ij->i", Zc, Zc)
    starts = range(0, m, block)
    tiles = [(i, j) for i in starts for j in starts if j >= i]
    best = np.full((m, k), np.inf)
    for i, j in tiles:
        G = Zc[i:i + block] @ Zc[j:j + block].T
        update_nearest(G, sq[i:i + block], sq[j:j + block], i, j, i == j, best)
    sigma = np.sqrt(best[:, k - 1])
    degree = np.zeros(m)
    on_diagonal = np.zeros((d, d))  # Z^T A Z from the diagonal blocks
    above = np.zeros((d, d))  # and from the blocks above them
    for i, j in tiles:
        if len(tiles) > 1:
            G = Zc[i:i + block] @ Zc[j:j + block].T
        affinity_exponents(G, sq[i:i + block], sq[j:j + block], sigma[i:i + block],
                           sigma[j:j + block], i == j, G)
        np.exp(G, out=G)
        degree[i:i + block] += G.sum(axis=1)
        product = Zc[i:i + block].T @ (G @ Zc[j:j + block])
        if i == j:
            on_diagonal += product
        else:
            degree[j:j + block] += G.sum(axis=0)
            above += product
    S = (Zc.T * degree) @ Zc - on_diagonal - above - above.T
    return 0.5 * (S + S.T), sigma


def lfda_scatter_matrices(X, bounds, ks):
    """The local between-class, local within-class and total scatter
    matrices of LFDA.

    With affinities ``A_ij`` between points of one class (zero across
    classes), ``n`` points and ``n_c`` in class ``c``::

        S_w = 1/2 sum_ij W^w_ij (x_i - x_j)(x_i - x_j)^T,  W^w_ij = A_ij / n_c
        S_b = 1/2 sum_ij W^b_ij (x_i - x_j)(x_i - x_j)^T,
              W^b_ij = A_ij (1/n - 1/n_c) (same class c), 1/n (different classes)
        S_t = sum_i (x_i - m)(x_i - m)^T

    computed class by class from ``G_c = 1/2 sum_{i,j in c} A_ij (x_i -
    x_j)(x_i - x_j)^T``: ``S_w = sum_c G_c / n_c`` and
    ``S_b = S_t - 1/n sum_c n_c S_c + 1/n sum_c G_c - S_w``, with ``S_c`` the
    scatter of class ``c`` about its mean.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Points sorted by class (class ``c`` is rows ``bounds[c]:bounds[c+1]``).
    bounds : ndarray of shape (n_classes + 1,), intp
    ks : ndarray of shape (n_classes,), intp
        The neighbour that sets the local scale, per class
        (``1 <= ks[c] <= n_c - 1``).

    Returns
    -------
    S_b, S_w, S_t : ndarrays of shape (n_features, n_features)
    sigma : ndarray of shape (n_samples,)
        The local scale of each point.
    """
    n, d = X.shape
    counts = np.diff(bounds)
    weights = counts.astype(np.float64)
    means = np.add.reduceat(X, bounds[:-1], axis=0) / weights[:, None]
    sigma = np.empty(n)
    G_sum, G_w = np.zeros((d, d)), np.zeros((d, d))  # sum_c G_c, sum_c G_c / n_c
    within, within_weighted = np.zeros((d, d)), np.zeros((d, d))  # sum_c (n_c) S_c
    for c in range(counts.shape[0]):
        lo, hi = bounds[c], bounds[c + 1]
        Zc = X[lo:hi] - means[c]
        S_c = Zc.T @ Zc
        within += S_c
        within_weighted += weights[c] * S_c
        G, sigma[lo:hi] = class_local_scatter(Zc, int(ks[c]))
        G_sum += G
        G_w += G / weights[c]
    mean_dev = means - weights @ means / n
    S_t = within + (mean_dev.T * weights) @ mean_dev
    S_w = G_w
    S_b = S_t - within_weighted / n + G_sum / n - S_w
    return (0.5 * (S_b + S_b.T), 0.5 * (S_w + S_w.T), 0.5 * (S_t + S_t.T), sigma)


def _eigh(A, name):
    """``numpy.linalg.eigh`` (the fastest on small matrices), falling back on
    :func:`~metriclearn._linalg.symmetric_eigh` for its checks and messages."""
    if np.all(np.isfinite(A)):
        try:
            return np.linalg.eigh(A)
        except np.linalg.LinAlgError:
            pass
    return symmetric_eigh(A, name)


def _flip_signs(T):
    """Each column of ``T`` with its entry of largest magnitude positive."""
    if T.size == 0:
        return T
    rows = np.argmax(np.abs(T), axis=0)
    signs = np.sign(T[rows, np.arange(T.shape[1])])
    signs[signs == 0] = 1.0
    return T * signs


def lfda_embedding(S_b, S_w, S_t, n_components, embedding_type):
    """LFDA's linear map from its scatter matrices.

    Solves ``S_b t = lambda (S_w + rho S_t) t`` on the span of the data (the
    range of ``S_t``), with ``rho = _RIDGE``: a ridge relative to the total
    scatter, so that the problem stays well posed where ``S_w`` is
    singular. Directions along which the data do not vary get zero rows.

    Parameters
    ----------
    S_b, S_w, S_t : ndarrays of shape (n_features, n_features)
    n_components : int
    embedding_type : {'weighted', 'orthonormalized', 'plain'}

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
    eigenvalues : ndarray of shape (n_components,)
        The generalized eigenvalues of the rows, in decreasing order (zero
        for padding rows).
    n_singular : int
        Directions of the data along which ``S_w`` is singular (the ridge
        bounds their eigenvalues).
    """
    d = S_t.shape[0]
    w_t, U = _eigh(S_t, "the total scatter matrix")
    keep = w_t > d * np.finfo(np.float64).eps * max(w_t[-1], 0.0)
    # coordinates in which the total scatter is the identity
    P = U[:, keep] / np.sqrt(w_t[keep])
    w_w, V = _eigh(P.T @ S_w @ P, "the local within-class scatter matrix")
    n_singular = int(np.count_nonzero(w_w <= _RIDGE))
    Q = P @ (V / np.sqrt(np.maximum(w_w, 0.0) + _RIDGE))
    lam, E = _eigh(Q.T @ S_b @ Q, "the local between-class scatter matrix")
    lam, E = lam[::-1], E[:, ::-1]
    r = min(n_components, lam.shape[0])
    T = _flip_signs(Q @ E[:, :r])
    lam = lam[:r]
    if embedding_type == "weighted":
        T = T * np.sqrt(np.maximum(lam, 0.0))
    elif embedding_type == "orthonormalized":
        T, R = np.linalg.qr(T)
        signs = np.sign(np.diag(R))
        signs[signs == 0] = 1.0
        T = T * signs
    components = np.zeros((n_components, d))
    components[:r] = T.T
    eigenvalues = np.zeros(n_components)
    eigenvalues[:r] = lam
    return components, eigenvalues, n_singular


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class LFDA(SupervisedLearnerMixin, BaseMetricLearner):
    r"""Local Fisher Discriminant Analysis (LFDA).

    Read more in the :ref:`User Guide <lfda>`.

    A linear dimensionality reduction for labelled data that keeps the local
    structure of each class: like Fisher's discriminant analysis it
    separates the classes and gathers each one, but it weighs pairs of
    points of one class by their affinity, so that a class made of several
    separate clusters (multimodal) is not forced into one. The map
    ``L = T^T`` comes from the generalized eigenvectors ``t`` of

    .. math::

        S^{(b)} t = \lambda \, S^{(w)} t, \qquad
        S^{(b, w)} = \frac{1}{2} \sum_{i, j} W^{(b, w)}_{ij}
        (x_i - x_j)(x_i - x_j)^T

    with the largest eigenvalues :math:`\lambda` (the directions that
    maximise the ratio of local between-class to local within-class
    scatter), where

    - :math:`W^{(w)}_{ij} = A_{ij} / n_c` and
      :math:`W^{(b)}_{ij} = A_{ij} (1/n - 1/n_c)` when :math:`x_i` and
      :math:`x_j` are both of class :math:`c` (of :math:`n_c` points),
      :math:`W^{(w)}_{ij} = 0` and :math:`W^{(b)}_{ij} = 1/n` otherwise;
    - :math:`A_{ij} = \exp(-\|x_i - x_j\|^2 / (\sigma_i \sigma_j))` is the
      affinity of two points of one class, with :math:`\sigma_i` the
      distance from :math:`x_i` to its ``k``-th nearest point of the same
      class (local scaling; :math:`A_{ij} = 0` when
      :math:`\sigma_i \sigma_j = 0`).

    The eigenvectors are normalised by :math:`t^T S^{(w)} t = 1` and
    ``embedding_type`` scales them: by :math:`\sqrt{\lambda}`
    (``'weighted'``, the paper's choice, negative eigenvalues counting as
    zero), not at all (``'plain'``), or replaced by an orthonormal basis of
    their span (``'orthonormalized'``).

    The affinities join only points of one class, so the scatter matrices
    are accumulated class by class, in blocks of 256 x 256 pairs (one
    matrix product per block), never an ``n x n`` matrix. The eigenproblem
    is solved on the span of the data in coordinates that whiten the total
    scatter :math:`S^{(t)}`, with
    :math:`S^{(w)} + 10^{-10} S^{(t)}` in place of :math:`S^{(w)}` so that
    it stays well posed when :math:`S^{(w)}` is singular (a warning says
    so); directions along which the data do not vary at all get zero rows.
    Each eigenvector's sign makes its largest entry positive.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the learned space (rows of ``components_``), at most
        ``n_features``; ``None`` means ``n_features``.
    k : int, default=None
        The neighbour that sets each point's local scale :math:`\sigma_i`;
        ``None`` means ``max(1, min(7, n_features - 1))``, metric-learn's
        default. In a class of :math:`n_c \le k` points the
        :math:`(n_c - 1)`-th neighbour is used.
    embedding_type : {'weighted', 'orthonormalized', 'plain'}, default='weighted'
        How the eigenvectors make the rows of ``components_``: scaled by the
        square roots of their eigenvalues, orthonormalised, or as they are.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
    eigenvalues_ : ndarray of shape (n_components,)
        The generalized eigenvalue :math:`\lambda` of each row, in
        decreasing order: its ratio of local between-class to local
        within-class scatter.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``.
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
    sklearn.discriminant_analysis.LinearDiscriminantAnalysis : Fisher's
        discriminant analysis, global (at most ``n_classes - 1`` useful
        directions).
    RCA : whitening by the scatter within chunklets of points known to
        belong together.

    Notes
    -----
    metric-learn's LFDA reads each point's local scale from the wrong axis
    of a partitioned distance matrix (a distance from the ``k``-th point,
    not from the point itself; one point per class gets a zero scale), and
    adds :math:`S^{(w)}` to :math:`S^{(b)}` where the original algorithm
    [1]_ subtracts it (eigenvalues :math:`\lambda + 2`, which rescales the
    rows of a ``'weighted'`` embedding). It also caps ``k`` at
    ``n_features - 1`` and, once a small class has lowered ``k``, keeps the
    lowered value for the classes after it; here ``k`` is used as given,
    lowered only within a class that is too small.

    References
    ----------
    .. [1] M. Sugiyama. "Dimensionality reduction of multimodal labeled data
           by local Fisher discriminant analysis". JMLR 8, 2007.
    .. [2] L. Zelnik-Manor, P. Perona. "Self-tuning spectral clustering".
           NIPS 2004 (the local scaling of the affinities).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from metriclearn import LFDA
    >>> X, y = load_iris(return_X_y=True)
    >>> lfda = LFDA(n_components=2).fit(X, y)
    >>> lfda.transform(X).shape
    (150, 2)
    >>> bool(lfda.eigenvalues_[0] > lfda.eigenvalues_[1] > 0)
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "k": [Interval(Integral, 1, None, closed="left"), None],
        "embedding_type": [StrOptions({"weighted", "orthonormalized", "plain"})],
        "preprocessor": [None, callable, "array-like"],
    }

    def __init__(self, *, n_components=None, k=None, embedding_type="weighted",
                 preprocessor=None):
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.preprocessor = preprocessor

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the map from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least 2 points.

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y)

    def _fit_labels(self, X, y, rng):
        _check_class_labels(y)
        index = LabelIndex(y)
        n, d = X.shape
        _check_classes(index.classes, index.counts)
        n_components = d if self.n_components is None else self.n_components
        check_n_components(n_components, d)
        k = max(1, min(7, d - 1)) if self.k is None else self.k
        ks = np.minimum(k, index.counts - 1).astype(np.intp)
        bounds = index.bounds
        X_sorted = X[index.order]
        S_b, S_w, S_t, _ = lfda_scatter_matrices(X_sorted, bounds, ks)
        components, eigenvalues, n_singular = lfda_embedding(
            S_b, S_w, S_t, n_components, self.embedding_type
        )
        if n_singular:
            warnings.warn(
                f"LFDA: the local within-class scatter matrix is singular: along "
                f"{n_singular} direction(s) in which the data vary, no class does "
                "locally, and only a ridge of 1e-10 times the total scatter bounds "
                "their weight; reduce the features first (for instance with "
                "sklearn.decomposition.PCA) or give more points per class",
                UserWarning, stacklevel=_STACKLEVEL,
            )
        return FitResult(components, 0, True, [],
                         {"classes_": index.classes, "eigenvalues_": eigenvalues})


def _check_class_labels(y):
    """Reject targets that are not class labels (scikit-learn's
    ``check_classification_targets``, whose cost exceeds that of a small fit,
    only for labels held as objects)."""
    if y.dtype.kind == "f":
        fractional = y != np.round(y)
        if np.any(fractional):
            raise ValueError(
                "Unknown label type: continuous. LFDA needs class labels in y; got "
                f"non-integer values {y[fractional][:5].tolist()}"
            )
    elif y.dtype == object:
        check_classification_targets(y)


def _check_classes(classes, counts):
    if classes.shape[0] < 2:
        raise ValueError(
            f"LFDA needs at least 2 classes in y; got 1 class ({classes.tolist()})"
        )
    single = np.flatnonzero(counts < 2)
    if single.size:
        raise ValueError(
            f"class {classes[single[0]].item()!r} has 1 point, but LFDA needs at "
            "least 2 points in every class (a point's local scale is its distance "
            "to the k-th nearest point of its class); remove the class or add points"
        )
