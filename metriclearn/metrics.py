"""Evaluation measures for metric learning and clustering with side-information."""

import numpy as np
from sklearn.metrics.cluster import pair_confusion_matrix

from ._validation import check_index_pairs

__all__ = ["pair_constraint_satisfaction", "pairwise_clustering_accuracy"]


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
