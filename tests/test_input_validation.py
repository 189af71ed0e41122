"""Input validation: every learner, in every input form it takes, and the
clusterer and the clustering metric, fed each kind of awkward or wrong input.

Each case ends in one of two outcomes, stated in :data:`EXPECTED` (with
rows for a kind of learner or a learner where what is right depends on what
it learns from: :data:`EXPECTED_BY_KIND`, :data:`EXPECTED_BY_CLASS`):

- ``OK``: a correct fit: a finite, symmetric positive semi-definite ``M``
  (finite centres for the clusterer) and a working ``transform``;
- an error: the exception and its message (matched from its start), naming
  the argument and the offending value; a fresh estimator stays as it was
  (unfitted) and a fitted one keeps its fitted state.

Never a NaN matrix, an overflow warning (``RuntimeWarning`` from the package
is an error in this test suite), a hang or a crash deep inside a kernel.

Input forms (the first argument of ``fit``, or of the metric):

==================  =========================================================
``points``          ``fit(X, y)`` with class labels (supervised learners;
                    ``y`` ignored by unsupervised ones, chunklet labels for
                    ``fit(X, chunks)``)
``index_points``    ``fit(indices, y)``, 1-D indices, ``preprocessor=X``
``pairs``           ``fit(pairs, y)``, pairs of points ``(n, 2, d)``
``index_pairs``     ``fit(pairs, y)``, ``(n, 2)`` indices, ``preprocessor=X``
``triplets``        ``fit(triplets)``, triplets of points ``(n, 3, d)``
``index_triplets``  ``fit(triplets)``, ``(n, 3)`` indices, ``preprocessor=X``
``quadruplets``     ``fit(quadruplets)``, quadruplets of points ``(n, 4, d)``
``index_quadr...``  ``fit(quadruplets)``, ``(n, 4)`` indices, ``preprocessor=X``
``clusterer``       ``ConstrainedKMeans.fit(X, pairs=, pair_labels=)``
``metric``          ``pair_constraint_satisfaction(pairs, pair_labels, y)``
==================  =========================================================

In a message ``{t}`` stands for the name of the tuples (``pairs``,
``triplets``, ``quadruplets``; ``X`` for 1-D indices), ``{cls}`` for the class, ``{shape}``
for the shape of the wrong input, ``{m}`` for the number of indices given to
a preprocessor. A case left out of a form does not apply to it.
"""

import copy
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from support import (
    ALL_SPECS,
    CLUSTERER_SPECS,
    all_specs,
    assert_fails_cleanly,
    spec_id,
    toy_pairs,
    toy_quadruplets,
    toy_triplets,
    training_input,
)

from metriclearn.cluster import ConstrainedKMeans
from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pair_constraint_satisfaction

pd = pytest.importorskip("pandas")

OK = "fits"
INDEX_FORMS = ("index_points", "index_pairs", "index_triplets", "index_quadruplets")
TUPLE_FORMS = ("pairs", "triplets", "quadruplets")
LABEL_FORMS = ("pairs", "index_pairs", "clusterer", "metric")
FORMS = ("points", "clusterer") + TUPLE_FORMS + INDEX_FORMS  # "*": every form but metric


@dataclass(frozen=True)
class Err:
    exc: type
    message: str  # a literal, with the placeholders above

    def pattern(self, **names):
        return re.escape(self.message.format(**names))


_PRE = "preprocessor must be None, a callable, or an array of shape (n_samples, n_features); "
_INDEX_SHAPE = "{t} must have shape (n, {k}, n_features), or (n, {k}) with a preprocessor; "
_LABELS = "{y} must hold pair labels +1 (similar) and -1 (dissimilar); got values "
_BOTH = "y must contain both similar (+1) and dissimilar (-1) pairs; got only "
_INF = "infinity or a value too large for dtype('float64')."
_CLUSTER_SHAPE = "pairs must have shape (n_pairs, 2), row indices into {target}; got shape {shape}"


def _each(forms, message, exc=ValueError):
    return {f: Err(exc, message) for f in forms}


POINT_FORMS = ("points", "index_points")
PAIR_FORMS = ("pairs", "index_pairs")
SHAPED = TUPLE_FORMS + INDEX_FORMS[1:]  # (n, k, d) points or (n, k) indices
INDICES = INDEX_FORMS + ("clusterer", "metric")


def _index_errors(tail):
    """The same error on every form that takes indices."""
    return _each(INDEX_FORMS, "{t} " + tail) | _each(("clusterer", "metric"), "pairs " + tail)


def _non_finite(word):
    return (_each(("points", "clusterer"), f"Input X contains {word}")
            | _each(TUPLE_FORMS, "{t} contains NaN or infinity")
            | _each(INDEX_FORMS, _PRE + f"got ndarray: Input preprocessor contains {word}"))


def _found(what, shape, minimum, forms):
    return _each(forms, f"X: Found array with {what} (shape={shape}) while a minimum of "
                        f"{minimum} is required by {{cls}}.")


_Y_SHAPE = "{y} must have shape (80,), one label per tuple in pairs; got shape "
_CALLABLE = ("the preprocessor callable must return an array of shape ({m}, n_features) for "
             "{m} indices; got shape ")
_INTEGER = "of shape {shape} must hold integer indices into {target}; got dtype "

# case -> {form: outcome}; "*" is every form of FORMS not listed
EXPECTED = {
    "nan": _non_finite("NaN."),
    "inf": _non_finite(_INF),
    "-inf": _non_finite(_INF),
    "callable_nan": _each(INDEX_FORMS, "the preprocessor callable returned NaN or inf values"),
    "empty": (_found("0 sample(s)", (0, 3), 2, POINT_FORMS)
              | _found("0 sample(s)", (0, 3), 1, ("clusterer",))
              | _each(SHAPED + ("metric",), "{t} is empty: at least one tuple is required")),
    "no_features": (_found("0 feature(s)", (60, 0), 1, ("points", "clusterer"))
                    | _each(TUPLE_FORMS, "{t} has 0 features: at least one is required")
                    | _each(INDEX_FORMS, _PRE + "got ndarray: Found array with 0 feature(s) "
                                                "(shape=(60, 0)) while a minimum of 1 is "
                                                "required.")),
    "one_sample": (_found("1 sample(s)", (1, 3), 2, POINT_FORMS) | _each(PAIR_FORMS, _BOTH + "[1]")
                   | _each(("clusterer",), "n_clusters=3 is larger than the number of samples, "
                                           "n_samples=1")
                   | {f: OK for f in ("triplets", "index_triplets", "quadruplets",
                                     "index_quadruplets")}),
    "one_class": _each(POINT_FORMS, "{cls} needs at least 2 classes in y; got 1 class ([0])"),
    "short_labels": (_each(POINT_FORMS, "Found input variables with inconsistent numbers of "
                                        "samples: [60, 59]")
                     | _each(LABEL_FORMS, _Y_SHAPE + "(79,)")),
    "2d_labels": _each(PAIR_FORMS + ("clusterer",), _Y_SHAPE + "(80, 1)"),
    "no_labels": (_each(POINT_FORMS, "This {cls} estimator requires y to be passed, but the "
                                     "target y is None.")
                  | _each(("clusterer",), "pair_labels was given without pairs")),
    "zero_one_labels": _each(LABEL_FORMS, _LABELS + "[0, 1]"),
    "label_two": _each(LABEL_FORMS, _LABELS + "[-1, 1, 2]"),
    "string_labels": _each(LABEL_FORMS, _LABELS + "['apart', 'same']")
                     | {f: OK for f in POINT_FORMS},
    "only_similar": _each(PAIR_FORMS, _BOTH + "[1]") | {"clusterer": OK},
    "only_dissimilar": _each(PAIR_FORMS, _BOTH + "[-1]") | {"clusterer": OK},
    "identical_tuples": {f: OK for f in SHAPED} | _each(
        ("clusterer",), "pair_labels: pair 40 is labelled dissimilar (-1) but joins point 15 "
                        "to itself"),
    **{case: {"*": OK} for case in (
        "one_feature", "constant_feature", "duplicate_rows", "scale_1e-8", "scale_1e+8",
        "rank_deficient", "ill_conditioned", "int", "bool", "float32", "list",
        "readonly_memmap", "fortran")},
    "dataframe": {f: OK for f in ("points", "clusterer") + INDEX_FORMS},
    "sparse": ({"*": Err(TypeError, "Sparse data was passed for X, but dense data is required. "
                                    "Use '.toarray()' to convert to a dense numpy array.")}
               | _each(TUPLE_FORMS, "{t} must be a dense array; sparse input is not supported "
                                    "for tuples", TypeError)
               | _each(INDEX_FORMS, "The 'preprocessor' parameter of {cls} must be None, a "
                                    "callable or an array-like. Got <", InvalidParameterError)),
    "wrong_shape": (_each(("points",), "X: Found array with dim 3, while dim <= 2 is required "
                                       "by {cls}.")
                    | _each(("index_points",), _PRE + "got ndarray: Found array with dim 3, "
                                                      "while dim <= 2 is required.")
                    | _each(("clusterer", "metric"), _CLUSTER_SHAPE)
                    | _each(SHAPED, _INDEX_SHAPE + "got shape {shape}")),
    # ((n, k, 1) indices are n tuples of points with 1 feature)
    "extra_axis": (_each(TUPLE_FORMS, _INDEX_SHAPE + "got shape {shape}")
                   | _each(("clusterer", "metric"), _CLUSTER_SHAPE)),
    "one_dim": (_each(SHAPED, _INDEX_SHAPE + "got shape {shape}")
                | _each(("points",), "X: Expected 2D array, got 1D array instead")
                | _each(("clusterer", "metric"), _CLUSTER_SHAPE)),
    "flat_tuples": _each(TUPLE_FORMS, _INDEX_SHAPE + "got shape {shape}"),
    "indices_without_preprocessor": (
        _each(("points",), "X: Expected 2D array, got 1D array instead")
        | _each(TUPLE_FORMS, "{t} of shape {shape} looks like indices, but no preprocessor was "
                             "given: pass preprocessor=X to the estimator, or give {t} of "
                             "shape (n, {k}, n_features)")),
    "index_out_of_range": _index_errors("holds indices out of range for {target} of 60 "
                                        "samples: [60]"),
    "index_negative": _index_errors("holds indices out of range for {target} of 60 samples: "
                                    "[-1]"),
    "index_non_integer": _index_errors(_INTEGER + "float64 with non-integer values [2.5]"),
    "index_nan": _index_errors(_INTEGER + "float64 with non-integer values [nan]"),
    "index_strings": _index_errors(_INTEGER + "<U21"),
    "index_bool": _index_errors(_INTEGER + "bool"),
    "preprocessor_scalar_rows": _each(INDEX_FORMS, _CALLABLE + "({m}, 1, 3)"),
    "preprocessor_flat": _each(INDEX_FORMS, _CALLABLE + "({m3},)"),
    "preprocessor_fixed": _each(INDEX_FORMS, _CALLABLE + "(5, 3)"),
    "preprocessor_1d": _each(INDEX_FORMS, _PRE + "got ndarray: Expected 2D array, got 1D array "
                                                 "instead"),
}

_IGNORED_Y = ("one_class", "short_labels", "no_labels")

# Where what is right depends on what the learner learns from, rows that
# replace those of EXPECTED for some cases: first by the kind of learner,
# then by the learner.
EXPECTED_BY_KIND = {
    # fit(X, y=None) ignores y, as scikit-learn's unsupervised transformers do
    "unsupervised": {case: {f: OK for f in POINT_FORMS} for case in _IGNORED_Y},
    # fit(X, chunks): the labels are chunklet labels. One label is one
    # chunklet of every point (whitening by their covariance); strings are
    # no chunklet labels (metric-learn casts them to int, and fails)
    "chunks": {
        "one_class": {"points": OK},
        "string_labels": _each(("points",), "chunks must hold integer chunklet labels (-1 "
                                            "for a point in no chunklet); got dtype <U10 with "
                                            "values ['setosa', 'versicolor', 'virginica', "
                                            "'setosa', 'versicolor']"),
    },
}
EXPECTED_BY_CLASS = {
    # a regression learner: real targets. Constant targets (one "class") are
    # predicted exactly by any metric, the start is returned; strings are not
    # numbers
    "MLKR": {
        "one_class": {f: OK for f in POINT_FORMS},
        "string_labels": _each(POINT_FORMS, "y must hold real targets: {cls} is a metric "
                                            "learner for regression; got non-numeric values "
                                            "['setosa', 'versicolor', 'virginica'] (encode "
                                            "class labels as numbers)"),
    },
    # one class: every point picks a point of its class whatever the metric,
    # the objective is at its maximum at the start, which is returned (as by
    # scikit-learn's and metric-learn's NCA)
    "NCA": {"one_class": {f: OK for f in POINT_FORMS}},
    # chunklets drawn from one class are chunklets all the same (metric-learn
    # fits them too): whitening within them
    "RCA_Supervised": {"one_class": {f: OK for f in POINT_FORMS}},
}


# --------------------------------------------------------------------------
# the inputs: a base problem, and one edit of it per case
# --------------------------------------------------------------------------


@dataclass
class Inputs:
    """A problem in every form: points ``X`` with class labels ``y``, 1-D
    indices ``pts`` into ``X``, index pairs ``idx`` with labels ``yp``,
    index triplets ``trip``, index quadruplets ``quad``. ``wrap`` turns the data argument (``X``, or
    the array of tuples of points) into the container under test, ``first``
    replaces the tuples (or 1-D indices) given; ``params`` are estimator
    parameters."""

    X: np.ndarray
    y: np.ndarray
    pts: np.ndarray
    idx: np.ndarray
    yp: np.ndarray
    trip: np.ndarray
    quad: np.ndarray
    wrap: object = None
    first: object = None
    params: dict = field(default_factory=dict)


def _base():
    X, y = make_xing_toy(n_samples=60, n_classes=3, random_state=0)
    idx, yp = toy_pairs(y)
    return Inputs(X, y, np.arange(60), idx, yp, toy_triplets(X, y), toy_quadruplets(y))


def _tuples(d, form):
    """The tuples (or 1-D indices) of ``form`` before any edit of them."""
    return {"points": d.X, "index_points": d.pts, "triplets": d.X[d.trip],
            "index_triplets": d.trip, "pairs": d.X[d.idx], "quadruplets": d.X[d.quad],
            "index_quadruplets": d.quad}.get(form, d.idx)


def _first(fn):
    return lambda d, form, tmp: replace(d, first=fn(_tuples(d, form), form))


def _set_x(fn):
    return lambda d, form, tmp: replace(d, X=fn(d.X.copy()))


def _column(value):
    def edit(X):
        X[::2, 0] = value  # every other point: every form's tuples meet one
        return X
    return _set_x(edit)


def _x_and_labels(d, form, tmp, n):
    """The first ``n`` points (and no tuples) for the point forms, the first
    ``n`` tuples otherwise."""
    if form in ("points", "clusterer"):
        return replace(d, X=d.X[:n], y=d.y[:n], idx=d.idx[:0], yp=d.yp[:0])
    return replace(d, y=d.y[:n], pts=d.pts[:n], idx=d.idx[:n], yp=d.yp[:n], trip=d.trip[:n],
                   quad=d.quad[:n])


def _preprocessor(fn):
    return lambda d, form, tmp: replace(d, params={"preprocessor": fn(d.X)})


def _memmap(d, form, tmp_path):
    def wrap(a):
        a = np.asarray(a)
        mm = np.memmap(tmp_path / "data.mmap", dtype=a.dtype, mode="w+", shape=a.shape)
        mm[...] = a
        mm.flush()
        return np.memmap(tmp_path / "data.mmap", dtype=a.dtype, mode="r", shape=a.shape)
    return replace(d, wrap=wrap)


def _duplicate_rows(d, form, tmp):
    n = d.X.shape[0]
    return replace(d, X=np.concatenate([d.X, d.X[:20]]), y=np.concatenate([d.y, d.y[:20]]),
                   pts=np.arange(n + 20), idx=np.concatenate([d.idx, d.idx[:10] % 20 + n]),
                   yp=np.concatenate([d.yp, d.yp[:10]]),
                   trip=np.concatenate([d.trip, d.trip[:10] % 20 + n]),
                   quad=np.concatenate([d.quad, d.quad[:10] % 20 + n]))


def _identical_tuples(d, form, tmp):
    idx, trip, quad = d.idx.copy(), d.trip.copy(), d.quad.copy()
    idx[::4, 1] = idx[::4, 0]
    trip[::4, 1] = trip[::4, 0]
    trip[1::4, 2] = trip[1::4, 0]
    quad[::4, 1] = quad[::4, 0]
    quad[1::4, 3] = quad[1::4, 2]
    return replace(d, idx=idx, trip=trip, quad=quad)


def _bad_index(value, dtype):
    def edit(t, form):
        t = t.astype(dtype)
        t.flat[11] = value
        return t
    return _first(edit)


def _wrong_size(d, form, tmp):
    """Tuples of the other size: triplets and quadruplets given as pairs
    and pairs as triplets (points of dimension 3 for the point forms)."""
    if form in ("points", "index_points"):
        return replace(d, X=d.X[:, :, None])
    other = d.idx if "triplets" in form or "quadruplets" in form else d.trip[:80]
    return replace(d, first=d.X[other] if form in TUPLE_FORMS else other)


def _callable_nan(d, form, tmp):
    X = _column(np.nan)(d, form, tmp).X
    return replace(d, params={"preprocessor": lambda i: X[i]})


EDITS = {
    "nan": _column(np.nan),
    "inf": _column(np.inf),
    "-inf": _column(-np.inf),
    "callable_nan": _callable_nan,
    "empty": lambda d, form, tmp: _x_and_labels(d, form, tmp, 0),
    "no_features": _set_x(lambda X: X[:, :0]),
    "one_sample": lambda d, form, tmp: _x_and_labels(d, form, tmp, 1),
    "one_class": lambda d, form, tmp: replace(d, y=np.zeros_like(d.y)),
    "short_labels": lambda d, form, tmp: replace(
        d, y=d.y[:-1] if form in ("points", "index_points") else d.y, yp=d.yp[:-1]),
    "2d_labels": lambda d, form, tmp: replace(d, yp=d.yp[:, None]),
    "no_labels": lambda d, form, tmp: replace(
        d, y=None, idx=None if form == "clusterer" else d.idx),
    "zero_one_labels": lambda d, form, tmp: replace(d, yp=np.where(d.yp == -1, 0, 1)),
    "label_two": lambda d, form, tmp: replace(d, yp=np.where(np.arange(80) == 3, 2, d.yp)),
    "string_labels": lambda d, form, tmp: replace(
        d, y=np.array(["setosa", "versicolor", "virginica"])[d.y],
        yp=np.where(d.yp == 1, "same", "apart")),
    "only_similar": lambda d, form, tmp: replace(d, yp=np.ones_like(d.yp)),
    "only_dissimilar": lambda d, form, tmp: replace(d, yp=-np.ones_like(d.yp)),
    "one_feature": _set_x(lambda X: X[:, 1:2].copy()),  # the feature that separates classes
    "constant_feature": _set_x(lambda X: np.c_[np.full(60, 5.0), X[:, 1:]]),
    "duplicate_rows": _duplicate_rows,
    "identical_tuples": _identical_tuples,
    "scale_1e-8": _set_x(lambda X: X * 1e-8),
    "scale_1e+8": _set_x(lambda X: X * 1e8),
    "rank_deficient": _set_x(lambda X: np.c_[X[:, :2], X[:, 0] - 2.0 * X[:, 1]]),
    "ill_conditioned": _set_x(lambda X: np.c_[X[:, :2], X[:, 0] + 1e-9 * X[:, 2]]),
    "int": _set_x(lambda X: np.round(2 * X).astype(np.int64)),
    "bool": _set_x(lambda X: X > np.median(X, axis=0)),
    "float32": _set_x(lambda X: X.astype(np.float32)),
    "list": lambda d, form, tmp: replace(d, wrap=lambda a: np.asarray(a).tolist()),
    "dataframe": lambda d, form, tmp: replace(
        d, wrap=lambda a: pd.DataFrame(a, columns=[f"f{j}" for j in range(a.shape[1])])),
    "readonly_memmap": _memmap,
    "fortran": lambda d, form, tmp: replace(d, wrap=np.asfortranarray),
    "sparse": lambda d, form, tmp: replace(
        d, wrap=lambda a: sp.csr_matrix(np.asarray(a).reshape(a.shape[0], -1))),
    "wrong_shape": _wrong_size,
    "extra_axis": _first(lambda t, form: t[..., None]),
    "one_dim": _first(lambda t, form: t.ravel()),
    "flat_tuples": _first(lambda t, form: t.reshape(t.shape[0], -1)),
    "indices_without_preprocessor": lambda d, form, tmp: replace(
        d, first=_tuples(d, "index_" + form) if form in TUPLE_FORMS else d.pts,
        params={"preprocessor": None}),
    "index_out_of_range": _bad_index(60, np.intp),
    "index_negative": _bad_index(-1, np.intp),
    "index_non_integer": _bad_index(2.5, np.float64),
    "index_nan": _bad_index(np.nan, np.float64),
    "index_strings": _first(lambda t, form: t.astype(str)),
    "index_bool": _first(lambda t, form: t % 2 == 0),
    "preprocessor_scalar_rows": _preprocessor(lambda X: lambda i: X[i][:, None, :]),
    "preprocessor_flat": _preprocessor(lambda X: lambda i: X[i].ravel()),
    "preprocessor_fixed": _preprocessor(lambda X: lambda i: X[:5]),
    "preprocessor_1d": _preprocessor(lambda X: X[:, 0]),
}
assert EDITS.keys() == EXPECTED.keys()


def _call(form, d):
    """``(args, kwargs, params)`` of the call for ``form`` on inputs ``d``."""
    wrap = d.wrap or (lambda a: a)
    params, first = dict(d.params), d.first
    if form == "points":
        return (wrap(d.X) if first is None else first, d.y), {}, params
    if form == "clusterer":
        return (wrap(d.X),), {"pairs": d.idx if first is None else first,
                              "pair_labels": d.yp}, params
    if form == "metric":
        return (d.idx if first is None else first, d.yp, d.y), {}, params
    given = _tuples(d, form) if first is None else first
    if form in TUPLE_FORMS:
        args = (wrap(given),)
    else:
        params.setdefault("preprocessor", wrap(d.X))
        args = (given,)
    if form == "index_points":
        args += (d.y,)
    elif "pairs" in form:
        args += (d.yp,)
    return args, {}, params


def _names(spec, form, args, kwargs):
    """The values of the placeholders of the messages."""
    given = kwargs.get("pairs", args[0])
    m = int(np.size(given))  # the indices handed to a preprocessor
    return {
        "t": ("triplets" if "triplets" in form else "quadruplets" if "quadruplets" in form
              else "X" if form == "index_points" else "pairs"),
        "k": 3 if "triplets" in form else 4 if "quadruplets" in form else 2,
        "cls": spec.name if spec else "",
        "shape": np.shape(given), "m": m, "m3": 3 * m,
        "target": {"clusterer": "X", "metric": "labels_pred"}.get(form, "the preprocessor"),
        "y": "y" if form in ("pairs", "index_pairs") else "pair_labels",
    }


_FORMS_OF_KIND = {
    "supervised": ("points", "index_points"),
    "pairs": ("pairs", "index_pairs"),
    "triplets": ("triplets", "index_triplets"),
    # fit(X, chunks): the class labels stand for the chunklets (a chunklet a class)
    "chunks": ("points",),
    "quadruplets": ("quadruplets", "index_quadruplets"),
    "unsupervised": ("points", "index_points"),
    "clusterer": ("clusterer",),
}
TARGETS = [(spec, form) for spec in ALL_SPECS + CLUSTERER_SPECS
           for form in _FORMS_OF_KIND[spec.kind]] + [(None, "metric")]


def expected(case, form, spec=None):
    """The outcome of ``case`` in ``form`` (for ``spec``'s learner, whose
    kind's and own rows come first)."""
    if spec is not None:
        for row in (EXPECTED_BY_CLASS.get(spec.name, {}).get(case),
                    EXPECTED_BY_KIND.get(spec.kind, {}).get(case)):
            if row is not None and form in row:
                return row[form]
    row = EXPECTED[case]
    return row.get(form, row.get("*") if form != "metric" else None)


MATRIX = [
    pytest.param(spec, form, case, id=f"{spec.id if spec else 'metric'}-{form}-{case}")
    for spec, form in TARGETS
    for case in EXPECTED
    if expected(case, form, spec) is not None
]


def test_the_matrix_is_complete():
    """Every case applies to some form, every estimator's form meets at
    least 25 cases, and both outcomes occur."""
    for case in EXPECTED:
        assert any(expected(case, form) is not None for _, form in TARGETS), case
    for form in FORMS:
        assert sum(expected(case, form) is not None for case in EXPECTED) >= 25, form
    assert len({form for _, form in TARGETS}) == len(FORMS) + 1
    fits = sum(expected(p.values[2], p.values[1], p.values[0]) is OK for p in MATRIX)
    assert fits >= 200 and len(MATRIX) - fits >= 400
    # the rows by kind and by learner name kinds and learners that exist,
    # cases of the table, and forms the learner takes
    assert set(EXPECTED_BY_KIND) <= set(_FORMS_OF_KIND)
    names = {spec.name: spec.kind for spec in ALL_SPECS}
    for rows, forms_of in ((EXPECTED_BY_KIND, lambda k: _FORMS_OF_KIND[k]),
                           (EXPECTED_BY_CLASS, lambda n: _FORMS_OF_KIND[names[n]])):
        for key, cases in rows.items():
            for case, row in cases.items():
                assert case in EXPECTED, case
                assert set(row) <= set(forms_of(key)), (key, case)


@pytest.fixture(scope="module")
def good_fits():
    """``(spec id, form) ->`` a learner fitted on the base problem, made once."""
    cache = {}

    def get(spec, form):
        if (spec.id, form) not in cache:
            args, kwargs, params = _call(form, _base())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cache[spec.id, form] = spec.make(**params).fit(*args, **kwargs)
        return copy.deepcopy(cache[spec.id, form])

    return get


def _assert_correct_fit(est, form, d):
    n = np.asarray(d.X).shape[0]
    if isinstance(est, ConstrainedKMeans):
        assert np.all(np.isfinite(est.cluster_centers_))
        assert est.labels_.shape == (n,)
        return
    L = est.components_
    assert np.all(np.isfinite(L))
    M = est.get_mahalanobis_matrix()
    assert_array_equal(M, M.T)
    w = np.linalg.eigvalsh(M)
    assert w[0] >= -1e-10 * max(abs(w[-1]), 1e-300), w
    # the container it was fitted on (feature names), or the plain points
    X = d.wrap(d.X) if form == "points" and d.wrap else np.asarray(d.X, dtype=np.float64)
    Z = est.transform(X)
    assert Z.shape == (n, L.shape[0])
    assert np.all(np.isfinite(Z))


@pytest.mark.parametrize(("spec", "form", "case"), MATRIX)
def test_bad_input(spec, form, case, tmp_path, good_fits):
    outcome = expected(case, form, spec)
    bad = EDITS[case](_base(), form, tmp_path)
    args, kwargs, params = _call(form, bad)
    if outcome is not OK:
        match = outcome.pattern(**_names(spec, form, args, kwargs))
    if form == "metric":
        with pytest.raises(outcome.exc, match=match):
            pair_constraint_satisfaction(*args)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if outcome is OK:
            _assert_correct_fit(spec.make(**params).fit(*args, **kwargs), form, bad)
            return
        # a fresh estimator: the error, and it stays unfitted
        assert_fails_cleanly(spec.make(**params), outcome.exc, match, *args, **kwargs)
        # a fitted one: the same error, and its fitted state as it was
        fitted = good_fits(spec, form).set_params(**params)
        assert_fails_cleanly(fitted, outcome.exc, match, *args, **kwargs)


# --------------------------------------------------------------------------
# the methods of a fitted estimator check their input as fit does
# --------------------------------------------------------------------------


def _bad_calls(spec, X, y, value):
    """``(method, args, message)`` of calls with bad input (a non-finite
    ``value``, a feature too many) on ``spec``'s estimator fitted on ``(X, y)``."""
    nan_pairs = X[toy_pairs(y)[0]]
    nan_pairs[4, 1, 2] = value
    calls = [(m, (nan_pairs,), "pairs contains NaN or infinity")
             for m in ("pair_distance", "pair_score")]
    X_nan, X4 = X.copy(), np.c_[X, X[:, :1]]
    X_nan[7, 0] = value
    non_finite = "Input X contains " + ("NaN." if np.isnan(value) else _INF)
    if spec.kind in ("supervised", "unsupervised", "chunks"):
        calls += [("transform", (X_nan,), non_finite),
                  ("transform", (X4,), f"X has 4 features, but {spec.name} is expecting 3 "
                                       "features as input.")]
    elif spec.kind == "clusterer":
        return [("predict", (X_nan,), non_finite),
                ("predict", (X4,), "X has 4 features, but ConstrainedKMeans is expecting 3 "
                                   "features as input.")]
    else:
        name, k = {"pairs": ("pairs", 2), "triplets": ("triplets", 3),
                   "quadruplets": ("quadruplets", 4)}[spec.kind]
        bad, *y_bad = training_input(spec, X, y)
        bad[4, 1, 2] = value
        methods = ["predict", "decision_function"]
        calls += [(m, (bad,), f"{name} contains NaN or infinity") for m in methods]
        calls += [("score", (bad, *y_bad), f"{name} contains NaN or infinity")]
        if spec.kind == "pairs":
            calls += [("calibrate_threshold", (bad, *y_bad), "pairs contains NaN or infinity")]
        wide = training_input(spec, X4, y)[0]
        calls += [(m, (wide,), f"{name} has 4 features, but the estimator was fitted with 3 "
                               "features") for m in methods + ["pair_distance"][:k == 2]]
    return calls


@pytest.mark.parametrize("spec", ALL_SPECS + CLUSTERER_SPECS, ids=spec_id)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_methods_check_their_input(spec, value, toy):
    X, y = toy
    est = spec.make().fit(X) if spec.kind == "clusterer" else spec.make().fit(
        *training_input(spec, X, y))
    for method, args, message in _bad_calls(spec, X, y, value):
        assert_fails_cleanly(est, ValueError, re.escape(message), *args, method=method)


@all_specs
def test_methods_check_indices(spec, toy):
    X, y = toy
    args = training_input(spec, X, y, indices=True)
    est = spec.make(preprocessor=X).fit(*args)
    bad = args[0].astype(np.float64)
    bad.flat[11] = 60
    t = {"pairs": "pairs", "triplets": "triplets",
         "quadruplets": "quadruplets"}.get(spec.kind, "X")
    message = f"{t} holds indices out of range for the preprocessor of 60 samples: [60]"
    method = "transform" if spec.kind in ("supervised", "unsupervised", "chunks") else "predict"
    assert_fails_cleanly(est, ValueError, re.escape(message), bad, method=method)
    bad.flat[11] = 2.5
    message = (f"{t} of shape {bad.shape} must hold integer indices into the preprocessor; "
               "got dtype float64 with non-integer values [2.5]")
    assert_fails_cleanly(est, ValueError, re.escape(message), bad, method=method)


@all_specs
def test_methods_need_a_fitted_learner(spec, rng):
    est = spec.make()
    pairs = rng.normal(size=(4, 2, 3))
    calls = [("transform", pairs[:, 0]), ("pair_distance", pairs), ("pair_score", pairs),
             ("get_metric",), ("get_mahalanobis_matrix",)]
    if spec.kind == "pairs":
        calls += [("predict", pairs), ("decision_function", pairs),
                  ("calibrate_threshold", pairs, [1, -1, 1, -1])]
    if spec.kind == "triplets":
        triplets = rng.normal(size=(4, 3, 3))
        calls += [("predict", triplets), ("decision_function", triplets), ("score", triplets)]
    if spec.kind == "quadruplets":
        quadruplets = rng.normal(size=(4, 4, 3))
        calls += [("predict", quadruplets), ("decision_function", quadruplets),
                  ("score", quadruplets)]
    for method, *args in calls:
        assert_fails_cleanly(est, NotFittedError, "", *args, method=method)


@pytest.mark.parametrize("spec", CLUSTERER_SPECS, ids=spec_id)
def test_clusterer_needs_fitting_to_predict(spec, toy):
    assert_fails_cleanly(spec.make(), NotFittedError, "", toy[0], method="predict")
