"""Evaluation measures: of clustering with side-information, and of a
learned representation (alignment and uniformity, retrieval by recall@k and
MAP@R, and scikit-learn scorers of the retrieval measures)."""

import numpy as np
from sklearn.metrics.cluster import pair_confusion_matrix

from ._validation import check_index_pairs

__all__ = [
    "alignment",
    "make_retrieval_scorer",
    "mean_average_precision_at_r",
    "pair_constraint_satisfaction",
    "pairwise_clustering_accuracy",
    "recall_at_k",
    "uniformity",
]


def pairwise_clustering_accuracy(labels_true, labels_pred, *, balanced="auto"):
    """Xing et al.'s clustering accuracy: how often a pair of points is judged
    correctly as "same cluster" or "different clusters".

    With ``balanced=False`` it is the fraction of all pairs ``i < j`` on which
    the two labelings agree (the Rand index). With ``balanced=True`` a pair is
    drawn from the same-class pairs or from the different-class pairs (by the
    true labels) with probability 1/2 each::

        0.5 * P(predicted same | same class)
        + 0.5 * P(predicted different | different classes)

    which Xing et al. use with more than two clusters, where different-class
    pairs would otherwise dominate. When the true labels have no same-class
    pair (every point its own class) or no different-class pair (a single
    class), all pairs are of the other kind and both definitions agree.
    Computed exactly from the pair confusion matrix, without drawing pairs.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        True classes.
    labels_pred : array-like of shape (n_samples,)
        Cluster assignments.
    balanced : bool or 'auto', default='auto'
        'auto' means balanced when ``labels_true`` has more than two classes.

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from metriclearn.metrics import pairwise_clustering_accuracy
    >>> pairwise_clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1:
        raise ValueError(
            "labels_true and labels_pred must be 1-D arrays of the same length; "
            f"got shapes {labels_true.shape} and {labels_pred.shape}"
        )
    if labels_true.shape[0] < 2:
        raise ValueError(
            f"at least 2 samples are needed to form a pair; got {labels_true.shape[0]}"
        )
    if balanced not in (True, False, "auto"):
        raise ValueError(f"balanced must be True, False or 'auto'; got {balanced!r}")
    if balanced == "auto":
        balanced = np.unique(labels_true).shape[0] > 2
    # rows: true different / same; columns: predicted different / same
    (tn, fp), (fn, tp) = pair_confusion_matrix(labels_true, labels_pred)
    if not balanced:
        return float((tp + tn) / (tn + fp + fn + tp))
    same, diff = tp + fn, tn + fp
    # a kind of pair the true labels do not have is never drawn: the other
    # kind takes all the probability (scoring the empty kind as perfect would
    # give 0.5 to a clustering that judges every pair wrongly)
    if not same:
        return float(tn / diff)
    if not diff:
        return float(tp / same)
    return float(0.5 * (tp / same + tn / diff))


_KINDS = {"all": None, "similar": 1, "dissimilar": -1}


def pair_constraint_satisfaction(pairs, pair_labels, labels_pred, *, kind="all"):
    r"""Fraction of the side-information pairs that a clustering respects.

    .. math::

        \frac{1}{|P|} \sum_{(i, j) \in P}
        \begin{cases}
            [c_i = c_j] & (i, j) \text{ similar} \\
            [c_i \ne c_j] & (i, j) \text{ dissimilar}
        \end{cases}

    where :math:`c` is ``labels_pred`` and :math:`P` the pairs selected by
    ``kind``: all of them, the similar ones or the dissimilar ones.
    :class:`~metriclearn.cluster.ConstrainedKMeans` respects every similar
    pair, and every dissimilar pair with ``keep_dissimilar_apart=True``;
    measured on pairs held out from ``fit``, the fraction shows how well the
    side-information generalises.

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2)
        Row indices into ``labels_pred`` of the points of each pair.
    pair_labels : array-like of shape (n_pairs,) or None
        +1 (similar: the two points belong together) or -1 (dissimilar) for
        each pair; ``None`` means all pairs are similar.
    labels_pred : array-like of shape (n_samples,)
        Cluster assignments.
    kind : {'all', 'similar', 'dissimilar'}, default='all'
        Which pairs to count.

    Returns
    -------
    fraction : float in [0, 1]

    Examples
    --------
    >>> from metriclearn.metrics import pair_constraint_satisfaction
    >>> pairs = [[0, 1], [2, 3], [0, 2]]
    >>> pair_constraint_satisfaction(pairs, [1, 1, -1], [0, 0, 1, 2])
    0.6666666666666666
    >>> pair_constraint_satisfaction(pairs, [1, 1, -1], [0, 0, 1, 2], kind="dissimilar")
    1.0
    """
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"kind must be 'all', 'similar' or 'dissimilar'; got {kind!r}")
    labels_pred = np.asarray(labels_pred)
    if labels_pred.ndim != 1:
        raise ValueError(
            f"labels_pred must be a 1-D array of cluster labels; got shape {labels_pred.shape}"
        )
    pairs, pair_labels = check_index_pairs(
        pairs, pair_labels, labels_pred.shape[0], target="labels_pred", allow_empty=False
    )
    if _KINDS[kind] is not None:
        keep = pair_labels == _KINDS[kind]
        if not keep.any():
            sign = "+1" if _KINDS[kind] == 1 else "-1"
            raise ValueError(
                f"pair_labels holds no {kind} ({sign}) pair to measure with kind={kind!r}"
            )
        pairs, pair_labels = pairs[keep], pair_labels[keep]
    same = labels_pred[pairs[:, 0]] == labels_pred[pairs[:, 1]]
    return float(np.mean(same == (pair_labels == 1)))


# --------------------------------------------------------------------------
# measures of a representation: embeddings in, Euclidean distances
# --------------------------------------------------------------------------

# entries of a block of distances (rows x gallery): 4 Mi float64, 32 MiB
_BLOCK_ENTRIES = 1 << 22


def _check_embedding(Z, name, min_rows=1):
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of embeddings; got shape {Z.shape}")
    if Z.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows; got {Z.shape[0]}")
    if not np.all(np.isfinite(Z)):
        raise ValueError(f"{name} contains NaN or infinity")
    return Z


def _sq_distances(A, B, sq_a, sq_b):
    """Squared Euclidean distances between the rows of ``A`` and ``B`` (from
    their squared norms; clipped at 0 against rounding)."""
    D = sq_a[:, None] + sq_b[None, :] - 2.0 * (A @ B.T)
    return np.maximum(D, 0.0, out=D)


def _blocks(n_rows, n_cols):
    step = max(1, _BLOCK_ENTRIES // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def alignment(z_a, z_b, *, alpha=2):
    r"""Alignment of positive pairs (Wang and Isola [1]_): the mean distance
    between the embeddings of the two points of each pair, to the power
    ``alpha``.

    .. math::

        \mathcal{L}_{align} = \frac{1}{n} \sum_{i=1}^{n} \|a_i - b_i\|_2^\alpha

    where :math:`a_i` is row :math:`i` of ``z_a`` and :math:`b_i` its partner,
    row :math:`i` of ``z_b``. Lower is better: positive pairs embedded
    together. Wang and Isola measure it on unit vectors (then in [0,
    :math:`2^\alpha`]); any embeddings are accepted.

    Parameters
    ----------
    z_a : array-like of shape (n_pairs, n_components)
        Embeddings of the first point of each pair.
    z_b : array-like of shape (n_pairs, n_components)
        Embeddings of their partners.
    alpha : float, default=2
        The power of the distances (> 0).

    Returns
    -------
    alignment : float

    References
    ----------
    .. [1] T. Wang, P. Isola. "Understanding contrastive representation
           learning through alignment and uniformity on the hypersphere".
           ICML 2020.

    Examples
    --------
    >>> from metriclearn.metrics import alignment
    >>> alignment([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]])
    1.0
    """
    z_a = _check_embedding(z_a, "z_a")
    z_b = _check_embedding(z_b, "z_b")
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must have the same shape (row i of each is a pair); got "
            f"{z_a.shape} and {z_b.shape}"
        )
    if not (isinstance(alpha, (int, float, np.number)) and alpha > 0):
        raise ValueError(f"alpha must be a positive number; got {alpha!r}")
    diff = z_a - z_b
    sq = np.einsum("ij,ij->i", diff, diff)
    return float(np.mean(sq ** (alpha / 2)))


def uniformity(z, *, t=2):
    r"""Uniformity of embeddings (Wang and Isola [1]_): the log of the mean
    Gaussian potential over the distinct pairs of points.

    .. math::

        \mathcal{L}_{uniform} = \log \frac{2}{n (n - 1)} \sum_{i < j}
        e^{-t \|z_i - z_j\|_2^2}

    Lower is better (points spread out). It is at most 0, reached when
    every point is the same (two identical rows give exactly 0), and on the
    unit sphere at least :math:`-4t`. Computed as a log-sum-exp over blocks
    of rows, so it is finite for any finite input (never ``-inf`` however
    far apart the points are) and never holds the :math:`n \times n`
    distances at once.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_components)
        Embeddings, at least 2 rows.
    t : float, default=2
        The scale of the potential (> 0).

    Returns
    -------
    uniformity : float

    References
    ----------
    .. [1] T. Wang, P. Isola. "Understanding contrastive representation
           learning through alignment and uniformity on the hypersphere".
           ICML 2020.

    Examples
    --------
    >>> from metriclearn.metrics import uniformity
    >>> uniformity([[1.0, 0.0], [1.0, 0.0]])
    0.0
    >>> round(uniformity([[1.0, 0.0], [-1.0, 0.0]]), 6)
    -8.0
    """
    z = _check_embedding(z, "z", min_rows=2)
    if not (isinstance(t, (int, float, np.number)) and t > 0):
        raise ValueError(f"t must be a positive number; got {t!r}")
    n = z.shape[0]
    sq = np.einsum("ij,ij->i", z, z)
    top, total = -np.inf, 0.0  # running log-sum-exp: exp(top) * total
    for start, stop in _blocks(n, n):
        # the pairs (i, j) with i in the block and j > i
        D = _sq_distances(z[start:stop], z, sq[start:stop], sq)
        rows = np.arange(start, stop)
        keep = np.arange(n)[None, :] > rows[:, None]
        if not keep.any():
            continue
        E = -t * D[keep]
        m = float(E.max())
        if m > top:
            total = total * np.exp(top - m) + float(np.exp(E - m).sum())
            top = m
        else:
            total += float(np.exp(E - top).sum())
    n_pairs = n * (n - 1) / 2
    return float(top + np.log(total) - np.log(n_pairs))


def _check_labels(y, n, name):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"{name} must be a 1-D array with one label per row ({n}); got shape {y.shape}"
        )
    return y


def _retrieval_input(X, y, X_gallery, y_gallery):
    """Queries, their labels, the gallery and its labels, and whether the
    gallery is the queries themselves (leave-one-out)."""
    X = _check_embedding(X, "X")
    y = _check_labels(y, X.shape[0], "y")
    if (X_gallery is None) != (y_gallery is None):
        raise ValueError("X_gallery and y_gallery must be given together")
    if X_gallery is None:
        if X.shape[0] < 2:
            raise ValueError(f"leave-one-out retrieval needs at least 2 rows; got {X.shape[0]}")
        return X, y, X, y, True
    G = _check_embedding(X_gallery, "X_gallery")
    if G.shape[1] != X.shape[1]:
        raise ValueError(
            f"X and X_gallery must have the same number of columns; got {X.shape[1]} and "
            f"{G.shape[1]}"
        )
    return X, y, G, _check_labels(y_gallery, G.shape[0], "y_gallery"), False


def _kth_smallest(D, k):
    """The k-th smallest entry of each row of ``D``, as a column."""
    if k == 1:
        return D.min(axis=1, keepdims=True)
    return np.partition(D, k - 1, axis=1)[:, k - 1:k]


def _first_k(D, k):
    """Mask of the ``k`` smallest entries of each row of ``D``, ties at the
    k-th distance broken by the lower column index."""
    kth = _kth_smallest(D, k)
    less = D < kth
    equal = D == kth
    need = k - less.sum(axis=1, keepdims=True)
    return less | (equal & (np.cumsum(equal, axis=1) <= need))


def _hit_in_first_k(D, same, k):
    """Whether each row's ``k`` smallest entries (ties by the lower column
    index, as :func:`_first_k`) hold one where ``same`` is true; the masks of
    :func:`_first_k` only for the rows with more ties at the k-th entry than
    places left."""
    kth = _kth_smallest(D, k)
    less = D < kth
    equal = D == kth
    found = (less & same).any(axis=1)
    n_equal = equal.sum(axis=1)
    need = k - less.sum(axis=1)
    whole = n_equal <= need  # every tied entry is among the first k
    found[whole] |= (equal[whole] & same[whole]).any(axis=1)
    cut = ~whole
    if cut.any():
        found[cut] = (_first_k(D[cut], k) & same[cut]).any(axis=1)
    return found


def _ranked(X, y, G, yg, loo):
    """Blocks of ``(start, stop, D, same)``: the squared distances of the
    queries ``start:stop`` to the gallery (a query's own row at ``inf`` when
    leave-one-out) and whether each gallery point shares its class."""
    sq_x = np.einsum("ij,ij->i", X, X)
    sq_g = np.einsum("ij,ij->i", G, G)
    for start, stop in _blocks(X.shape[0], G.shape[0]):
        D = _sq_distances(X[start:stop], G, sq_x[start:stop], sq_g)
        same = y[start:stop, None] == yg[None, :]
        if loo:
            rows = np.arange(stop - start)
            D[rows, start + rows] = np.inf
            same[rows, start + rows] = False
        yield start, stop, D, same


def recall_at_k(X, y, *, k=1, X_gallery=None, y_gallery=None):
    r"""Recall@k: the fraction of queries whose ``k`` nearest points hold at
    least one point of their class.

    .. math::

        R@k = \frac{1}{|Q|} \sum_{q \in Q} [\, y_q \in \{y_g : g \in N_k(q)\} \,]

    where :math:`N_k(q)` are the :math:`k` gallery points nearest to query
    :math:`q` in Euclidean distance. Without a gallery every row of ``X`` is a
    query and the gallery is the other rows (leave-one-out: a query never
    retrieves itself, but an exact duplicate of it is another point, at
    distance 0). With ``X_gallery`` the rows of ``X`` are queries against it
    (cross-view retrieval: the pair index as the class). Queries with no
    point of their class in the gallery are left out of :math:`Q` (they
    could not succeed whatever the metric); if none is left, it is a
    ``ValueError``.

    The measure takes embeddings: for a learned metric, pass
    ``learner.transform(X)`` (the learned distance is the Euclidean one
    there), or score a fitted learner with :func:`make_retrieval_scorer`.
    Ties are broken deterministically: among points at the same distance
    (as computed), the one with the lower row index in the gallery ranks
    first. Distances are computed in blocks of queries, so memory stays
    bounded (about 32 MiB) whatever the number of points.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_components)
        Embeddings of the queries.
    y : array-like of shape (n_queries,)
        Their classes.
    k : int, default=1
        Neighbours looked at, at most the gallery's size (less one,
        leave-one-out).
    X_gallery : array-like of shape (n_gallery, n_components), default=None
        Embeddings searched; ``None`` means leave-one-out among ``X``.
    y_gallery : array-like of shape (n_gallery,), default=None
        Their classes (given with ``X_gallery``).

    Returns
    -------
    recall : float in [0, 1]

    Examples
    --------
    >>> from metriclearn.metrics import recall_at_k
    >>> X = [[0.0], [0.1], [1.0], [1.2]]
    >>> recall_at_k(X, [0, 0, 1, 1], k=1)
    1.0
    >>> recall_at_k(X, [0, 1, 0, 1], k=1)
    0.0
    """
    X, y, G, yg, loo = _retrieval_input(X, y, X_gallery, y_gallery)
    n_candidates = G.shape[0] - int(loo)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= n_candidates):
        raise ValueError(
            f"k must be an int in [1, {n_candidates}] (the points a query can retrieve); "
            f"got {k!r}"
        )
    hits, counted = 0, 0
    for _, _, D, same in _ranked(X, y, G, yg, loo):
        has = same.any(axis=1)
        found = _hit_in_first_k(D, same, k)
        hits += int(found[has].sum())
        counted += int(has.sum())
    if counted == 0:
        raise ValueError("no query has a point of its class to retrieve")
    return hits / counted


def mean_average_precision_at_r(X, y, *, X_gallery=None, y_gallery=None):
    r"""MAP@R (Musgrave et al. [1]_): mean over queries of the average
    precision of the :math:`R` nearest points, :math:`R` the number of
    points of the query's class that it can retrieve.

    .. math::

        \text{MAP@R} = \frac{1}{|Q|} \sum_{q \in Q} \frac{1}{R_q}
        \sum_{i=1}^{R_q} P_q(i) \, [\text{the } i\text{-th nearest is of
        } q\text{'s class}]

    where :math:`P_q(i)` is the precision of the :math:`i` nearest points.
    It is 1 when every query's class is retrieved first, and, unlike
    recall@k, it rewards the order of the whole class. Without a gallery,
    leave-one-out among the rows of ``X`` (:math:`R` is then the number of
    *other* points of the class); queries with :math:`R = 0` are left out.
    Embeddings, ties and memory as in :func:`recall_at_k`.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_components)
    y : array-like of shape (n_queries,)
    X_gallery : array-like of shape (n_gallery, n_components), default=None
    y_gallery : array-like of shape (n_gallery,), default=None

    Returns
    -------
    map_at_r : float in [0, 1]

    References
    ----------
    .. [1] K. Musgrave, S. Belongie, S.-N. Lim. "A metric learning reality
           check". ECCV 2020.

    Examples
    --------
    >>> from metriclearn.metrics import mean_average_precision_at_r
    >>> X = [[0.0], [0.1], [0.2], [1.0], [1.1]]
    >>> mean_average_precision_at_r(X, [0, 0, 0, 1, 1])
    1.0
    """
    X, y, G, yg, loo = _retrieval_input(X, y, X_gallery, y_gallery)
    total, counted = 0.0, 0
    columns = np.arange(G.shape[0])
    for _, _, D, same in _ranked(X, y, G, yg, loo):
        for d, rel in zip(D, same, strict=True):
            R = int(rel.sum())
            if R == 0:
                continue
            top = np.flatnonzero(_first_k(d[None, :], R)[0])
            top = top[np.lexsort((columns[top], d[top]))]
            hit = rel[top]
            precision = np.cumsum(hit) / np.arange(1, R + 1)
            total += float(precision[hit].sum()) / R
            counted += 1
    if counted == 0:
        raise ValueError("no query has a point of its class to retrieve")
    return total / counted


_RETRIEVAL_MEASURES = {"recall_at_k": recall_at_k,
                       "mean_average_precision_at_r": mean_average_precision_at_r}


class _RetrievalScorer:
    """``scorer(estimator, X, y)``: a retrieval measure of
    ``estimator.transform(X)`` with the classes ``y``."""

    def __init__(self, name, kwargs):
        self.name = name
        self.kwargs = kwargs

    def __call__(self, estimator, X, y):
        if not hasattr(estimator, "transform"):
            raise ValueError(
                f"a retrieval scorer embeds X with the estimator's transform; "
                f"{type(estimator).__name__} has none (score a metric learner, or a "
                "Pipeline that ends in one)"
            )
        return _RETRIEVAL_MEASURES[self.name](estimator.transform(X), y, **self.kwargs)

    def __repr__(self):
        args = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"make_retrieval_scorer({self.name!r}{args})"


def make_retrieval_scorer(measure="recall_at_k", **kwargs):
    """A scikit-learn scorer of a retrieval measure of the learned embedding.

    ``scorer(estimator, X, y)`` embeds ``X`` with ``estimator.transform``
    (a fitted metric learner, or a :class:`~sklearn.pipeline.Pipeline` that
    ends in a transformer) and returns ``measure(embedding, y, **kwargs)``,
    leave-one-out among the rows given: in a cross-validation, the queries
    and the gallery are the held-out fold. Higher is better, so it goes as
    ``scoring=`` to :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and the like.

    Parameters
    ----------
    measure : {'recall_at_k', 'mean_average_precision_at_r'}, default='recall_at_k'
        :func:`recall_at_k` or :func:`mean_average_precision_at_r`.
    **kwargs
        Passed on to the measure (``k`` for recall@k).

    Returns
    -------
    scorer : callable

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from metriclearn import NCA
    >>> from metriclearn.metrics import make_retrieval_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scores = cross_val_score(NCA(random_state=0), X, y,
    ...                          scoring=make_retrieval_scorer("recall_at_k", k=1))
    >>> bool(scores.mean() > 0.9)
    True
    """
    if not isinstance(measure, str) or measure not in _RETRIEVAL_MEASURES:
        raise ValueError(
            f"measure must be one of {sorted(_RETRIEVAL_MEASURES)}; got {measure!r}"
        )
    if measure == "mean_average_precision_at_r" and kwargs:
        raise ValueError(
            f"mean_average_precision_at_r takes no options; got {sorted(kwargs)}"
        )
    unknown = set(kwargs) - {"k"}
    if unknown:
        raise ValueError(f"recall_at_k takes k only; got {sorted(unknown)}")
    return _RetrievalScorer(measure, dict(kwargs))
