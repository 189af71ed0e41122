"""Every input check of the package, each message written once.

- :func:`check_preprocessor`: ``None``, a callable, or an array of points;
- :func:`check_points`: points (or 1-D indices into the preprocessor) with
  scikit-learn's ``validate_data``;
- :func:`check_tuples`: pairs, triplets or quadruplets, given as points
  ``(n, size, d)`` or as indices ``(n, size)`` with a preprocessor, and their
  labels; the result is one record, :class:`Tuples`, whatever the form;
- :func:`check_index_pairs`: row indices of pairs into an array that is not a
  preprocessor (the clusterer's ``X``, the metrics' ``labels_pred``);
- :func:`restore_on_error`: a ``fit`` body that leaves the estimator as it was
  when it raises.

Nothing here imports an estimator.
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array

from ._compat import validate_data
from .exceptions import PreprocessorError

__all__ = [
    "Tuples",
    "check_index_pairs",
    "check_points",
    "check_preprocessor",
    "check_tuple_labels",
    "check_tuples",
    "restore_on_error",
]

TUPLE_NAMES = {2: "pairs", 3: "triplets", 4: "quadruplets"}
_PREPROCESSOR = "the preprocessor"


# --------------------------------------------------------------------------
# preprocessor and points
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
            f"(n_samples, n_features); got {type(preprocessor).__name__}: "
            f"{_dim_message(str(exc))}"
        ) from exc
    return X


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
        kwargs.setdefault("dtype", np.float64)
        return validate_data(estimator, X, y, reset=reset, **kwargs)
    except ValueError as exc:
        # scikit-learn's messages about an array's shape do not say which
        # argument they mean (its other messages name X or y), and their
        # wording of a dimension too many changed in scikit-learn 1.7
        message = _dim_message(str(exc))
        if message.startswith(_UNNAMED_SHAPE_ERRORS):
            raise ValueError(f"X: {message}") from exc
        raise


_UNNAMED_SHAPE_ERRORS = ("Found array with", "Expected 2D array", "Expected a 2-dimensional")
# scikit-learn < 1.7: "Found array with dim 3. NCA expected <= 2." ("None"
# when no estimator is named)
_OLD_DIM_MESSAGE = re.compile(r"^Found array with dim (\d+)\. (\w+) expected <= (\d+)\.")


def _dim_message(message):
    """scikit-learn's message about a dimension too many in the wording of
    scikit-learn 1.7 and later, whatever the installed version."""
    match = _OLD_DIM_MESSAGE.match(message)
    if match is None:
        return message
    dim, name, most = match.groups()
    by = "" if name == "None" else f" by {name}"
    return f"Found array with dim {dim}, while dim <= {most} is required{by}." + message[
        match.end():]


# --------------------------------------------------------------------------
# indices
# --------------------------------------------------------------------------


def _check_indices(indices, name, n_samples, target):
    """``indices`` (any shape) as integers in ``[0, n_samples)``: int32 stays
    int32 (half the memory of index pairs), other integers and integral floats
    become ``np.intp``. ``n_samples=None`` skips the range check."""
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        whole = arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(
            arr == np.round(arr)
        )
        if not whole:
            # name the offending values (the shape alone was misleading for
            # 1-D indices, which it described as "(n, n_samples)")
            detail = f"dtype {arr.dtype}"
            if arr.dtype.kind == "f":
                flat = arr.ravel()
                bad = flat[~(np.isfinite(flat) & (flat == np.round(flat)))]
                detail += f" with non-integer values {bad[:5].tolist()}"
            raise ValueError(
                f"{name} of shape {arr.shape} must hold integer indices into "
                f"{target}; got {detail}"
            )
    if n_samples is not None and arr.size and (arr.min() < 0 or arr.max() >= n_samples):
        bad = arr[(arr < 0) | (arr >= n_samples)].ravel()[:5]
        raise ValueError(
            f"{name} holds indices out of range for {target} of {n_samples} "
            f"samples: {bad.astype(np.int64).tolist()}"
        )
    return arr if arr.dtype == np.int32 else arr.astype(np.intp, copy=False)


def _gather(preprocessor, indices, name):
    """Points for ``indices`` (any shape) from an array or callable
    preprocessor: shape ``indices.shape + (n_features,)``.

    An array preprocessor takes integer indices into its rows. A callable
    takes whatever ``indices`` holds (integers, file paths, string ids: the
    lazy-loading use of metric-learn), flattened, and returns one point per
    value; an exception it raises becomes a
    :class:`~metriclearn.exceptions.PreprocessorError`.
    """
    if callable(preprocessor):
        values = np.asarray(indices)
        flat = values.ravel()
        try:
            points = np.asarray(preprocessor(flat), dtype=np.float64)
        except Exception as exc:
            raise PreprocessorError(
                f"the preprocessor callable failed on the {flat.shape[0]} values of "
                f"{name} ({type(exc).__name__}: {exc})"
            ) from exc
        if points.ndim != 2 or points.shape[0] != flat.shape[0]:
            raise ValueError(
                f"the preprocessor callable must return an array of shape "
                f"({flat.shape[0]}, n_features) for {flat.shape[0]} indices; "
                f"got shape {points.shape}"
            )
        if not np.all(np.isfinite(points)):
            raise ValueError("the preprocessor callable returned NaN or inf values")
        return points.reshape(values.shape + (points.shape[1],))
    indices = _check_indices(indices, name, preprocessor.shape[0], _PREPROCESSOR)
    return preprocessor[indices]


# --------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------


def _check_labels(y, n_tuples, name, label_name="y"):
    """``y`` as an array of one label per tuple of ``name``."""
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != n_tuples:
        raise ValueError(
            f"{label_name} must have shape ({n_tuples},), one label per tuple in "
            f"{name}; got shape {y_arr.shape}"
        )
    return y_arr


def _check_pair_labels(y_arr, ensure_both_labels, label_name="y"):
    """``y_arr`` as ``np.intp`` pair labels +1 / -1 (both of them when
    ``ensure_both_labels``)."""
    values = np.unique(y_arr)
    if y_arr.dtype.kind not in "biuf" or not np.all(np.isin(values, [-1, 1])):
        raise ValueError(
            f"{label_name} must hold pair labels +1 (similar) and -1 (dissimilar); "
            f"got values {values[:10].tolist()}"
        )
    if ensure_both_labels and values.shape[0] < 2:
        raise ValueError(
            f"{label_name} must contain both similar (+1) and dissimilar (-1) pairs; "
            f"got only {values.tolist()}"
        )
    return y_arr.astype(np.intp)


# --------------------------------------------------------------------------
# tuples
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Tuples:
    """Validated tuples (pairs, triplets or quadruplets) as rows of a point
    array.

    Attributes
    ----------
    X : ndarray of shape (n_points, n_features), float64, C order
        The points the tuples address: the preprocessor itself (index tuples
        with ``gather=False``) or the tuples' own points, stacked tuple by
        tuple (``X[indices[i, j]]`` is point ``j`` of tuple ``i``).
    indices : ndarray of shape (n_tuples, size), intp or int32
        Rows of ``X``.
    y : ndarray of shape (n_tuples,) or None
        The labels (``np.intp`` +1 / -1 for pairs), when given.
    """

    X: np.ndarray
    indices: np.ndarray
    y: np.ndarray | None = None

    @property
    def n_tuples(self):
        return self.indices.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def points(self):
        """The tuples as points, shape ``(n_tuples, size, n_features)``."""
        return self.X[self.indices]

    def differences(self, first=0, second=1):
        """``x_first - x_second`` for every tuple, shape ``(n_tuples, n_features)``."""
        return self.X[self.indices[:, first]] - self.X[self.indices[:, second]]


def check_tuples(tuples, y=None, *, size, preprocessor=None, n_features=None,
                 gather=True, ensure_both_labels=False, hint=None):
    """Validate tuples of points (pairs, triplets or quadruplets) and their
    labels.

    Parameters
    ----------
    tuples : array-like of shape (n, size, n_features) or (n, size)
        Tuples of points, or integer indices into ``preprocessor``.
    y : array-like of shape (n,), optional
        One label per tuple; for pairs +1 (similar) or -1 (dissimilar).
    size : {2, 3, 4}
        Points per tuple: pairs, triplets or quadruplets (the name used in
        messages).
    preprocessor : None, ndarray or callable
        As returned by :func:`check_preprocessor`.
    n_features : int, optional
        Expected number of features (from a fitted estimator).
    gather : bool, default=True
        With ``True`` the result's ``X`` holds exactly the tuples' points,
        stacked tuple by tuple (a copy, when they were given as indices).
        With ``False``, index tuples into an array ``preprocessor`` stay
        indices into it, never copied (the scalable form for many tuples).
    ensure_both_labels : bool, default=False
        Require at least one similar and one dissimilar pair.
    hint : str, optional
        Appended to the error for a 2-D array that is not index tuples: the
        learner to use for points (a pairs learner in a pipeline on ``X, y``).

    Returns
    -------
    Tuples
        The points ``X`` (float64, C order, finite) and the ``indices`` of
        each tuple into them, with the labels ``y`` when given.
    """
    name = TUPLE_NAMES[size]
    if hasattr(tuples, "toarray"):  # scipy.sparse
        raise TypeError(
            f"{name} must be a dense array; sparse input is not supported for tuples"
        )
    arr = np.asarray(tuples)
    by_callable = callable(preprocessor) and arr.ndim == 2 and arr.shape[1:] == (size,)
    if arr.dtype == object and not by_callable:
        raise ValueError(f"{name} must be a numeric array; got dtype object")
    if arr.ndim == 2 and arr.shape[1] == size:
        if preprocessor is None:
            raise ValueError(
                f"{name} of shape {arr.shape} looks like indices, but no "
                "preprocessor was given: pass preprocessor=X to the estimator, "
                f"or give {name} of shape (n, {size}, n_features)"
            )
        if not gather and isinstance(preprocessor, np.ndarray):
            indices = np.ascontiguousarray(
                _check_indices(arr, name, preprocessor.shape[0], _PREPROCESSOR)
            )
            _check_shape(indices.shape[0], preprocessor.shape[1], name, n_features)
            return Tuples(preprocessor, indices,
                          check_tuple_labels(y, indices.shape[0], size, ensure_both_labels))
        arr = _gather(preprocessor, arr, name)
    elif arr.ndim != 3 or arr.shape[1] != size:
        raise ValueError(
            f"{name} must have shape (n, {size}, n_features), or "
            f"(n, {size}) with a preprocessor; got shape {arr.shape}"
            + (f". {hint}" if hint and arr.ndim == 2 else "")
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    _check_shape(arr.shape[0], arr.shape[2], name, None)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    _check_shape(arr.shape[0], arr.shape[2], name, n_features)
    n, _, d = arr.shape
    indices = np.arange(n * size, dtype=np.intp).reshape(n, size)
    return Tuples(arr.reshape(n * size, d), indices,
                  check_tuple_labels(y, n, size, ensure_both_labels))


def _check_shape(n_tuples, d, name, n_features):
    if n_tuples == 0:
        raise ValueError(f"{name} is empty: at least one tuple is required")
    if d == 0:
        raise ValueError(f"{name} has 0 features: at least one is required")
    if n_features is not None and d != n_features:
        raise ValueError(
            f"{name} has {d} features, but the estimator was fitted "
            f"with {n_features} features"
        )


def check_tuple_labels(y, n_tuples, size, ensure_both_labels=False):
    """``y`` as one label per tuple (``None`` stays ``None``); for pairs,
    ``np.intp`` labels +1 / -1 (both of them when ``ensure_both_labels``)."""
    if y is None:
        return None
    y_arr = _check_labels(y, n_tuples, TUPLE_NAMES[size])
    return _check_pair_labels(y_arr, ensure_both_labels) if size == 2 else y_arr


def check_index_pairs(pairs, pair_labels, n_samples, *, target="X", allow_empty=True):
    """Validate ``(n_pairs, 2)`` row indices into ``target`` (an array of
    ``n_samples`` rows that is not a preprocessor: the points to cluster, the
    predicted labels) and their +1/-1 ``pair_labels`` (``None``: all similar).

    Returns ``pairs`` and ``pair_labels``, both ``np.intp``.
    """
    arr = np.asarray(pairs)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"pairs must have shape (n_pairs, 2), row indices into {target}; "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError("pairs is empty: at least one tuple is required")
    arr = _check_indices(arr, "pairs", n_samples, target).astype(np.intp, copy=False)
    if pair_labels is None:
        return arr, np.ones(arr.shape[0], dtype=np.intp)
    labels = _check_labels(pair_labels, arr.shape[0], "pairs", "pair_labels")
    return arr, _check_pair_labels(labels, False, "pair_labels")


# --------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------


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
