"""Evaluation measures for metric learning and clustering with side-information."""

import numpy as np
from sklearn.metrics.cluster import pair_confusion_matrix

__all__ = ["pairwise_clustering_accuracy"]


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
