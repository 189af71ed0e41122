"""The tuple classifiers: :class:`PairsClassifierMixin` turns a pairs
learner into a classifier of pairs (similar ``+1`` / dissimilar ``-1``) with
a calibrated distance threshold, :class:`TripletsClassifierMixin` a triplets
learner into a classifier of triplets (anchor closer to the positive ``+1``,
or not ``-1``), :class:`QuadrupletsClassifierMixin` a quadruplets learner
into a classifier of quadruplets (first pair closer ``+1``, or not ``-1``).
They compute from the metric API of
:class:`~metriclearn.base.MahalanobisMixin`; :mod:`metriclearn.base`
re-exports them.
"""

import numbers

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import roc_auc_score

from ._calibration import best_threshold, check_strategy
from ._compat import check_is_fitted

__all__ = ["PairsClassifierMixin", "QuadrupletsClassifierMixin", "TripletsClassifierMixin"]


class PairsClassifierMixin(ClassifierMixin):
    """Classifier of pairs: a pair is similar (+1) when its learned distance
    is at most ``threshold_``, dissimilar (-1) otherwise.

    ``fit`` calibrates ``threshold_`` on the training pairs (strategy
    ``'accuracy'`` unless ``calibration_params`` says otherwise);
    :meth:`calibrate_threshold` recalibrates it on other pairs.
    """

    classes_ = np.array([-1, 1])

    def decision_function(self, pairs):
        """Minus the learned distance of each pair (higher: more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return self.pair_score(pairs)

    def predict(self, pairs):
        """+1 for pairs whose learned distance is at most ``threshold_``,
        -1 otherwise.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,) with values in {-1, +1}
        """
        check_is_fitted(self, "threshold_")
        return np.where(self.pair_distance(pairs) <= self.threshold_, 1, -1)

    def score(self, pairs, y):
        """ROC-AUC of the pair scores against the pair labels ``y``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y : array-like of shape (n_pairs,), values in {-1, +1}

        Returns
        -------
        score : float
        """
        tuples = self._check_tuples(pairs, y, size=2, ensure_both_labels=True)
        return roc_auc_score(tuples.y, -np.sqrt(self._sq_distances(tuples)))

    def set_threshold(self, threshold):
        """Set the distance threshold below which pairs are predicted similar.

        Parameters
        ----------
        threshold : float

        Returns
        -------
        self
        """
        check_is_fitted(self, "components_")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, numbers.Real)
            or not np.isfinite(threshold)
        ):
            raise ValueError(
                f"threshold must be a finite real number; got {threshold!r}"
            )
        self.threshold_ = float(threshold)
        return self

    def calibrate_threshold(self, pairs_valid, y_valid, strategy="accuracy",
                            min_rate=None, beta=1.0):
        """Choose ``threshold_`` to optimise a criterion on labelled pairs.

        Every distinct cut of the sorted distances is considered, so the
        chosen threshold is optimal for the criterion on ``pairs_valid``;
        it is placed halfway between the last pair accepted as similar and
        the first rejected one.

        Parameters
        ----------
        pairs_valid : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y_valid : array-like of shape (n_pairs,), values in {-1, +1}
        strategy : {'accuracy', 'f_beta', 'max_tpr', 'max_tnr'}
            - 'accuracy': maximise accuracy;
            - 'f_beta': maximise the F-beta score of the similar class;
            - 'max_tpr': maximise the true positive rate subject to a true
              negative rate of at least ``min_rate``;
            - 'max_tnr': maximise the true negative rate subject to a true
              positive rate of at least ``min_rate``.
        min_rate : float in [0, 1], required for 'max_tpr' and 'max_tnr'
        beta : float > 0, used by 'f_beta'

        Returns
        -------
        self
        """
        check_is_fitted(self, "components_")
        check_strategy(strategy, min_rate, beta)
        tuples = self._check_tuples(pairs_valid, y_valid, size=2)
        self.threshold_ = best_threshold(
            np.sqrt(self._sq_distances(tuples)), tuples.y, strategy, min_rate, beta
        )
        return self


class TripletsClassifierMixin:
    """Classifier of triplets ``(anchor, positive, negative)``: a triplet is
    predicted +1 when the anchor is closer to the positive than to the
    negative under the learned metric, -1 otherwise (ties included).

    The methods take triplets of shape ``(n, 3, n_features)``, or ``(n, 3)``
    integer indices with a ``preprocessor``.
    """

    classes_ = np.array([-1, 1])

    def _triplet_distances(self, triplets):
        t = self._check_tuples(triplets, size=3)
        return np.sqrt(self._sq_distances(t, 0, 1)), np.sqrt(self._sq_distances(t, 0, 2))

    def decision_function(self, triplets):
        """Learned distance from anchor to negative minus learned distance
        from anchor to positive (positive: the anchor is closer to the
        positive).

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)

        Returns
        -------
        scores : ndarray of shape (n_triplets,)
        """
        d_pos, d_neg = self._triplet_distances(triplets)
        return d_neg - d_pos

    def predict(self, triplets):
        """+1 for triplets whose anchor is closer to the positive than to
        the negative, -1 otherwise.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)

        Returns
        -------
        y_pred : ndarray of shape (n_triplets,) with values in {-1, +1}
        """
        return np.where(self.decision_function(triplets) > 0, 1, -1)

    def score(self, triplets, y=None):
        """Accuracy on triplets: the fraction predicted +1 (every triplet is
        meant to have its anchor closer to the positive).

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        y : None
            Ignored (there for scikit-learn's model selection tools).

        Returns
        -------
        score : float
        """
        return float(np.mean(self.predict(triplets) == 1))


class QuadrupletsClassifierMixin:
    """Classifier of quadruplets ``(a, b, c, d)``: a quadruplet is predicted
    +1 when its first pair is closer than its second under the learned
    metric (``d(a, b) < d(c, d)``), -1 otherwise (ties included).

    The methods take quadruplets of shape ``(n, 4, n_features)``, or
    ``(n, 4)`` integer indices with a ``preprocessor``.
    """

    classes_ = np.array([-1, 1])

    def decision_function(self, quadruplets):
        """Learned distance of the second pair minus that of the first
        (positive: the first pair is closer).

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)

        Returns
        -------
        scores : ndarray of shape (n_quadruplets,)
        """
        t = self._check_tuples(quadruplets, size=4)
        return np.sqrt(self._sq_distances(t, 2, 3)) - np.sqrt(self._sq_distances(t, 0, 1))

    def predict(self, quadruplets):
        """+1 for quadruplets whose first pair is closer than the second,
        -1 otherwise.

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)

        Returns
        -------
        y_pred : ndarray of shape (n_quadruplets,) with values in {-1, +1}
        """
        return np.where(self.decision_function(quadruplets) > 0, 1, -1)

    def score(self, quadruplets, y=None):
        """Accuracy on quadruplets: the fraction predicted +1 (every
        quadruplet is meant to have its first pair closer).

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)
        y : None
            Ignored (there for scikit-learn's model selection tools).

        Returns
        -------
        score : float
        """
        return float(np.mean(self.predict(quadruplets) == 1))
