"""The metric API shared by every learner, and the input checks it needs.

:class:`MahalanobisMixin` derives the whole metric API from ``components_``
(the linear map ``L``, with ``M = L^T L``); :class:`PairsClassifierMixin`
turns a pairs learner into a classifier of pairs (similar ``+1`` /
dissimilar ``-1``) with a calibrated distance threshold, and
:class:`TripletsClassifierMixin` a triplets learner into a classifier of
triplets (anchor closer to the positive ``+1``, or not ``-1``).
"""

import numbers
from contextlib import contextmanager

import numpy as np
from scipy.linalg import LinAlgError, eigh
from sklearn.base import (
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.datasets import make_spd_matrix
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_array

from ._compat import check_is_fitted, validate_data

__all__ = [
    "MahalanobisMixin",
    "PairsClassifierMixin",
    "TripletsClassifierMixin",
    "check_pairs",
    "check_triplets",
    "check_preprocessor",
    "components_from_metric",
]


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------


def check_preprocessor(preprocessor):
    """Validate ``preprocessor``: None, a callable, or an array of points.

    An array ``X`` of shape ``(n_samples, n_features)`` is returned as a
    finite float64 array; indices given to a learner then select rows of it.
    """
    if preprocessor is None or callable(preprocessor):
        return preprocessor
    try:
        X = check_array(
            preprocessor, dtype=np.float64, ensure_all_finite=True,
            input_name="preprocessor",
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "preprocessor must be None, a callable, or an array of shape "
            f"(n_samples, n_features); got {type(preprocessor).__name__}: {exc}"
        ) from exc
    return X


def _gather(preprocessor, indices, name):
    """Points for ``indices`` (any shape) from an array or callable
    preprocessor: shape ``indices.shape + (n_features,)``."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        if indices.dtype.kind == "f" and np.all(np.isfinite(indices)) and np.all(
            indices == np.round(indices)
        ):
            indices = indices.astype(np.intp)
        else:
            # name the offending values (the shape alone was misleading for
            # 1-D indices, which it described as "(n, n_samples)")
            detail = f"dtype {indices.dtype}"
            if indices.dtype.kind == "f":
                flat = indices.ravel()
                bad = flat[~(np.isfinite(flat) & (flat == np.round(flat)))]
                detail += f" with non-integer values {bad[:5].tolist()}"
            raise ValueError(
                f"{name} of shape {indices.shape} must hold integer indices "
                f"into the preprocessor; got {detail}"
            )
    if callable(preprocessor):
        flat = indices.ravel()
        points = np.asarray(preprocessor(flat), dtype=np.float64)
        if points.ndim != 2 or points.shape[0] != flat.shape[0]:
            raise ValueError(
                f"the preprocessor callable must return an array of shape "
                f"({flat.shape[0]}, n_features) for {flat.shape[0]} indices; "
                f"got shape {points.shape}"
            )
        if not np.all(np.isfinite(points)):
            raise ValueError("the preprocessor callable returned NaN or inf values")
        return points.reshape(indices.shape + (points.shape[1],))
    n = preprocessor.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)].ravel()[:5]
        raise ValueError(
            f"{name} holds indices out of range for a preprocessor of "
            f"{n} samples: {bad.tolist()}"
        )
    return preprocessor[indices]


def check_pairs(pairs, y=None, *, preprocessor=None, n_features=None,
                tuple_size=2, name="pairs", ensure_both_labels=False):
    """Validate tuples of points (pairs by default) and their labels.

    Parameters
    ----------
    pairs : array-like of shape (n, tuple_size, n_features) or (n, tuple_size)
        Tuples of points, or integer indices into ``preprocessor``.
    y : array-like of shape (n,), optional
        Pair labels, +1 (similar) or -1 (dissimilar).
    preprocessor : None, ndarray or callable
        As returned by :func:`check_preprocessor`.
    n_features : int, optional
        Expected number of features (from a fitted estimator).
    ensure_both_labels : bool
        Require at least one similar and one dissimilar pair.

    Returns
    -------
    pairs : ndarray of shape (n, tuple_size, n_features), float64, C order
    y : ndarray of shape (n,), int (only if ``y`` was given)
    """
    if hasattr(pairs, "toarray"):  # scipy.sparse
        raise TypeError(
            f"{name} must be a dense array; sparse input is not supported for tuples"
        )
    arr = np.asarray(pairs)
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array; got dtype object")
    if arr.ndim == 2 and arr.shape[1] == tuple_size:
        if preprocessor is None:
            raise ValueError(
                f"{name} of shape {arr.shape} looks like indices, but no "
                "preprocessor was given: pass preprocessor=X to the estimator, "
                f"or give {name} of shape (n, {tuple_size}, n_features)"
            )
        arr = _gather(preprocessor, arr, name)
    elif arr.ndim != 3 or arr.shape[1] != tuple_size:
        raise ValueError(
            f"{name} must have shape (n, {tuple_size}, n_features), or "
            f"(n, {tuple_size}) with a preprocessor; got shape {arr.shape}"
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one tuple is required")
    if arr.shape[2] == 0:
        raise ValueError(f"{name} has 0 features: at least one is required")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    if n_features is not None and arr.shape[2] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[2]} features, but the estimator was fitted "
            f"with {n_features} features"
        )
    if y is None:
        return arr
    y_arr = _check_tuple_labels(y, arr.shape[0], name)
    if tuple_size == 2:
        y_arr = _check_pair_labels(y_arr, ensure_both_labels).astype(np.intp)
    return arr, y_arr


def _check_tuple_labels(y, n_tuples, name):
    """``y`` as an array of one label per tuple of ``name``."""
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != n_tuples:
        raise ValueError(
            f"y must have shape ({n_tuples},), one label per tuple in "
            f"{name}; got shape {y_arr.shape}"
        )
    return y_arr


def _check_pair_labels(y_arr, ensure_both_labels=True):
    """Check that ``y_arr`` holds pair labels +1 / -1 (both of them when
    ``ensure_both_labels``); returns it unchanged."""
    values = np.unique(y_arr)
    if y_arr.dtype.kind not in "biuf" or not np.all(np.isin(values, [-1, 1])):
        raise ValueError(
            "y must hold pair labels +1 (similar) and -1 (dissimilar); "
            f"got values {values[:10].tolist()}"
        )
    if ensure_both_labels and values.shape[0] < 2:
        raise ValueError(
            "y must contain both similar (+1) and dissimilar (-1) pairs; "
            f"got only {values.tolist()}"
        )
    return y_arr


def check_points(estimator, X, *, reset, y="no_validation", **kwargs):
    """Validate points, gathering them first when ``X`` holds indices into an
    estimator's preprocessor (a 1-D integer array).

    Returns ``X`` alone when ``y`` is not given, ``(X, y)`` otherwise. Like
    scikit-learn's ``validate_data``, ``y=None`` is passed on (not taken as
    "no ``y``"), so an estimator that requires ``y`` raises a ``ValueError``
    saying so instead of failing to unpack the result.
    """
    preprocessor = getattr(estimator, "preprocessor_", None)
    if preprocessor is None and reset:
        preprocessor = check_preprocessor(getattr(estimator, "preprocessor", None))
    if preprocessor is not None:
        arr = np.asarray(X)
        if arr.ndim == 1:
            X = _gather(preprocessor, arr, "X")
    try:
        return validate_data(estimator, X, y, reset=reset, dtype=np.float64, **kwargs)
    except ValueError as exc:
        # scikit-learn's messages about an array's shape do not say which
        # argument they mean (its other messages name X or y)
        if str(exc).startswith(_UNNAMED_SHAPE_ERRORS):
            raise ValueError(f"X: {exc}") from exc
        raise


_UNNAMED_SHAPE_ERRORS = ("Found array with", "Expected 2D array", "Expected a 2-dimensional")


@contextmanager
def restore_on_error(estimator):
    """Run a ``fit`` body so that an exception leaves ``estimator`` exactly as
    it was before (an already fitted estimator stays fitted)."""
    state = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(state)
        raise


# --------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------


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


def components_from_metric(M, tol=None):
    """A linear map ``L`` (rows ordered by decreasing importance) with
    ``L.T @ L == M`` for a symmetric PSD ``M``.

    Eigenvalues below ``tol`` (default: ``d * eps * max|w|``) are treated as
    zero; a clearly negative eigenvalue raises a ``ValueError``.
    """
    M = np.asarray(M, dtype=np.float64)
    w, V = symmetric_eigh(0.5 * (M + M.T), "the Mahalanobis matrix")
    scale = np.max(np.abs(w)) if w.size else 0.0
    if tol is None:
        tol = M.shape[0] * np.finfo(np.float64).eps * scale
    if w.size and w[0] < -max(tol, 1e-10 * scale):
        raise ValueError(
            f"the matrix is not positive semi-definite: smallest eigenvalue {w[0]:g}"
        )
    w = np.where(w > tol, w, 0.0)
    order = np.argsort(w)[::-1]
    return np.sqrt(w[order])[:, None] * V[:, order].T


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
        raise ValueError(
            f"{name} must be positive semi-definite; smallest eigenvalue {w[0]:g}"
        )
    return 0.5 * (A + A.T)


# --------------------------------------------------------------------------
# mixins
# --------------------------------------------------------------------------


class MahalanobisMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Metric API derived from ``components_`` (``L``, with ``M = L^T L``).

    The learned distance is ``d_M(x, x') = sqrt((x - x')^T M (x - x'))``, the
    Euclidean distance between ``L x`` and ``L x'``. The output features of
    :meth:`transform` are named ``<classname>0``, ``<classname>1``, ... by
    ``get_feature_names_out`` (as scikit-learn's linear transformers do), which
    also enables ``set_output(transform="pandas")``.
    """

    def get_mahalanobis_matrix(self):
        """A copy of the learned Mahalanobis matrix ``M = L^T L``.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self, "components_")
        return self.components_.T @ self.components_

    def transform(self, X):
        """Map points into the learned space: ``X @ L.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples,)
            integer indices when the estimator has an array ``preprocessor``.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        X = check_points(self, X, reset=False)
        return X @ self.components_.T

    def get_metric(self):
        """A function ``metric(u, v, squared=False)`` computing the learned
        distance between two points.

        It holds a copy of ``L``: refitting the estimator does not change it.
        It can be passed as ``metric=`` to scikit-learn's neighbours
        estimators (``KNeighborsClassifier(metric=learner.get_metric())``).
        """
        check_is_fitted(self, "components_")
        L = self.components_.copy()

        def metric(u, v, squared=False):
            u = np.asarray(u, dtype=np.float64).ravel()
            v = np.asarray(v, dtype=np.float64).ravel()
            if u.shape != v.shape or u.shape[0] != L.shape[1]:
                raise ValueError(
                    f"u and v must both have {L.shape[1]} features; got shapes "
                    f"{u.shape} and {v.shape}"
                )
            e = L @ (u - v)
            d2 = float(e @ e)
            return d2 if squared else np.sqrt(d2)

        return metric

    def pair_distance(self, pairs):
        """Learned distance between the two points of each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features), or (n_pairs, 2)
            integer indices when the estimator has a ``preprocessor``.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "components_")
        pairs = check_pairs(
            pairs, preprocessor=getattr(self, "preprocessor_", None),
            n_features=self.components_.shape[1],
        )
        e = (pairs[:, 0, :] - pairs[:, 1, :]) @ self.components_.T
        return np.sqrt(np.einsum("ij,ij->i", e, e))

    def pair_score(self, pairs):
        """Similarity of each pair: minus its learned distance (higher means
        more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return -self.pair_distance(pairs)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]


_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def _validate_calibration(strategy, min_rate, beta):
    if strategy not in _STRATEGIES:
        raise ValueError(
            f"strategy must be one of {list(_STRATEGIES)}; got {strategy!r}"
        )
    if strategy in ("max_tpr", "max_tnr"):
        if (
            min_rate is None
            or isinstance(min_rate, bool)
            or not isinstance(min_rate, numbers.Real)
            or not 0 <= min_rate <= 1
        ):
            raise ValueError(
                f"min_rate must be a number in [0, 1] for strategy={strategy!r}; "
                f"got {min_rate!r}"
            )
    if strategy == "f_beta" and (
        isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0
    ):
        raise ValueError(f"beta must be a positive number; got {beta!r}")


def check_calibration_params(calibration_params):
    """Validate the ``calibration_params`` of a pairs learner's ``fit`` before
    any work, and return them as a dict of :meth:`calibrate_threshold`
    keyword arguments."""
    calibration_params = dict(calibration_params or {})
    unknown = sorted(set(calibration_params) - {"strategy", "min_rate", "beta"})
    if unknown:
        raise ValueError(
            "calibration_params accepts the keys 'strategy', 'min_rate' and "
            f"'beta'; got unknown keys {unknown}"
        )
    _validate_calibration(
        calibration_params.get("strategy", "accuracy"),
        calibration_params.get("min_rate"),
        calibration_params.get("beta", 1.0),
    )
    return calibration_params


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
        check_is_fitted(self, "components_")
        pairs, y = check_pairs(
            pairs, y, preprocessor=getattr(self, "preprocessor_", None),
            n_features=self.components_.shape[1], ensure_both_labels=True,
        )
        return roc_auc_score(y, self.decision_function(pairs))

    def set_threshold(self, threshold):
        """Set the distance threshold below which pairs are predicted similar.

        Parameters
        ----------
        threshold : float

        Returns
        -------
        self
        """
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
        _validate_calibration(strategy, min_rate, beta)
        pairs_valid, y_valid = check_pairs(
            pairs_valid, y_valid, preprocessor=getattr(self, "preprocessor_", None),
            n_features=self.components_.shape[1],
        )
        self.threshold_ = _best_threshold(
            self.pair_distance(pairs_valid), y_valid, strategy, min_rate, beta
        )
        return self


def _best_threshold(dist, y, strategy, min_rate=None, beta=1.0):
    """Threshold on distances optimising ``strategy`` over every distinct cut.

    Cut ``j`` (``j = 0..m``) accepts the ``j`` smallest distinct distances.
    """
    values, inverse = np.unique(dist, return_inverse=True)
    m = values.shape[0]
    pos = np.bincount(inverse, weights=(y == 1), minlength=m)
    neg = np.bincount(inverse, weights=(y != 1), minlength=m)
    tp = np.concatenate([[0.0], np.cumsum(pos)])
    fp = np.concatenate([[0.0], np.cumsum(neg)])
    n_pos, n_neg = tp[-1], fp[-1]
    fn, tn = n_pos - tp, n_neg - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.where(n_pos > 0, tp / n_pos, 1.0)
        tnr = np.where(n_neg > 0, tn / n_neg, 1.0)
        if strategy == "accuracy":
            crit = tp + tn
        elif strategy == "f_beta":
            b2 = beta * beta
            den = (1 + b2) * tp + b2 * fn + fp
            crit = np.where(den > 0, (1 + b2) * tp / den, 0.0)
        elif strategy == "max_tpr":
            crit = np.where(tnr >= min_rate, tpr + 1e-9 * tnr, -np.inf)
        else:
            crit = np.where(tpr >= min_rate, tnr + 1e-9 * tpr, -np.inf)
    j = int(np.argmax(crit))
    if j == 0:
        low = values[0]
        return float(low - max(1.0, abs(low)))
    if j == m:
        return float(values[-1])
    return float(0.5 * (values[j - 1] + values[j]))


# --------------------------------------------------------------------------
# triplets
# --------------------------------------------------------------------------


def check_triplets(triplets, *, preprocessor=None, n_features=None):
    """Validate triplets ``(anchor, positive, negative)`` of points.

    Parameters
    ----------
    triplets : array-like of shape (n, 3, n_features) or (n, 3)
        Triplets of points, or integer indices into ``preprocessor``.
    preprocessor : None, ndarray or callable
        As returned by :func:`check_preprocessor`.
    n_features : int, optional
        Expected number of features (from a fitted estimator).

    Returns
    -------
    triplets : ndarray of shape (n, 3, n_features), float64, C order
    """
    return check_pairs(triplets, preprocessor=preprocessor, n_features=n_features,
                       tuple_size=3, name="triplets")


class TripletsClassifierMixin:
    """Classifier of triplets ``(anchor, positive, negative)``: a triplet is
    predicted +1 when the anchor is closer to the positive than to the
    negative under the learned metric, -1 otherwise (ties included).

    The methods take triplets of shape ``(n, 3, n_features)``, or ``(n, 3)``
    integer indices with a ``preprocessor``.
    """

    classes_ = np.array([-1, 1])

    def _triplet_distances(self, triplets):
        check_is_fitted(self, "components_")
        t = check_triplets(
            triplets, preprocessor=getattr(self, "preprocessor_", None),
            n_features=self.components_.shape[1],
        )
        L = self.components_
        ep = (t[:, 0] - t[:, 1]) @ L.T
        en = (t[:, 0] - t[:, 2]) @ L.T
        return (np.sqrt(np.einsum("ij,ij->i", ep, ep)),
                np.sqrt(np.einsum("ij,ij->i", en, en)))

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
