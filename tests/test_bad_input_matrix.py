"""The bad-input matrix: every learner, in every input form it takes, fed each
kind of awkward or wrong input.

Each case ends in one of two outcomes, stated in :data:`EXPECTED` below:

- ``OK``: a correct fit: a finite, symmetric positive semi-definite ``M``
  (finite centres for the clusterer) and a working ``transform``;
- ``Err(exception, pattern)``: a clear error whose message names the
  argument (asserted with ``match=``), which leaves an estimator fitted
  before it exactly as it was (same attributes, same ``components_``).

Never a NaN matrix, an overflow warning (``RuntimeWarning`` from the package
is an error in this test suite), a hang (per-test timeout) or a crash deep
inside a kernel.

Input forms (the first argument of ``fit``):

=================  ========================================================
``points``         ``fit(X, y)`` with class labels (supervised learners)
``clusterer``      ``ConstrainedKMeans.fit(X, pairs=, pair_labels=)``
``pairs``          ``fit(pairs, y)``, pairs of points ``(n, 2, d)``
``index_pairs``    ``fit(pairs, y)``, ``(n, 2)`` indices, ``preprocessor=X``
``triplets``       ``fit(triplets)``, triplets of points ``(n, 3, d)``
``index_triplets`` ``fit(triplets)``, ``(n, 3)`` indices, ``preprocessor=X``
=================  ========================================================

``{t}`` in a pattern stands for the tuples' name (``pairs`` or
``triplets``), ``{cls}`` for the class name. A case that does not apply to a
form (a DataFrame of 3-D pairs, indices for a points learner) is left out.

27 cases over 16 learner-and-form targets (8 learner classes, MMC's full
and diagonal solvers, the clusterer): 379 combinations, 236 of them a
correct fit and 143 a clear error.
"""

import copy
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import ALL_SPECS, TRIPLETS_SPECS, LearnerSpec
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from metriclearn import Constraints
from metriclearn.cluster import ConstrainedKMeans
from metriclearn.datasets import make_xing_toy

pd = pytest.importorskip("pandas")

OK = "fits"


@dataclass(frozen=True)
class Err:
    """A clear error: ``exc`` whose message matches the regular expression
    ``pattern`` (with ``{t}`` and ``{cls}`` filled in)."""

    exc: type
    pattern: str

    def __str__(self):
        return f"{self.exc.__name__}: {self.pattern}"


def _E(pattern, exc=ValueError):
    return Err(exc, pattern)


TUPLE_FORMS = ("pairs", "triplets")
INDEX_FORMS = ("index_pairs", "index_triplets")
POINT_FORMS = ("points", "clusterer")
ALL_FORMS = POINT_FORMS + TUPLE_FORMS + INDEX_FORMS

_PRE = re.escape("preprocessor must be None, a callable, or an array of shape "
                 "(n_samples, n_features); got ")
_SPARSE_PRE = re.escape("The 'preprocessor' parameter of ") + "{cls}" + re.escape(
    " must be None, a callable or an array-like. Got <")
_PARAM = re.escape("The 'max_iter' parameter of ") + "{cls}" + re.escape(" must be ")

# --------------------------------------------------------------------------
# the matrix: case -> {form: expected outcome}; "*" is every other form,
# a form left out means the case does not apply to it
# --------------------------------------------------------------------------
EXPECTED = {
    "nan": {
        "*": _E("Input X contains NaN"),
        "pairs": _E("{t} contains NaN or infinity"),
        "triplets": _E("{t} contains NaN or infinity"),
        "index_pairs": _E(_PRE + ".*Input preprocessor contains NaN"),
        "index_triplets": _E(_PRE + ".*Input preprocessor contains NaN"),
    },
    "inf": {
        "*": _E("Input X contains infinity"),
        "pairs": _E("{t} contains NaN or infinity"),
        "triplets": _E("{t} contains NaN or infinity"),
        "index_pairs": _E(_PRE + ".*Input preprocessor contains infinity"),
        "index_triplets": _E(_PRE + ".*Input preprocessor contains infinity"),
    },
    "empty": {
        "*": _E(r"X: Found array with 0 sample\(s\)"),
        "pairs": _E("{t} is empty: at least one tuple is required"),
        "triplets": _E("{t} is empty: at least one tuple is required"),
        "index_pairs": _E("{t} is empty: at least one tuple is required"),
        "index_triplets": _E("{t} is empty: at least one tuple is required"),
    },
    "one_sample": {
        "points": _E(r"X: Found array with 1 sample\(s\)"),
        "clusterer": _E("n_clusters=3 is larger than the number of samples, n_samples=1"),
        "pairs": _E(r"y must contain both similar \(\+1\) and dissimilar \(-1\) pairs"),
        "index_pairs": _E(r"y must contain both similar \(\+1\) and dissimilar \(-1\) pairs"),
        "triplets": OK,
        "index_triplets": OK,
    },
    "one_feature": {"*": OK},
    "constant_feature": {"*": OK},
    "duplicate_rows": {"*": OK},
    "identical_tuples": {
        **{f: OK for f in TUPLE_FORMS + INDEX_FORMS},
        "clusterer": _E(r"pair_labels: pair \d+ is labelled dissimilar \(-1\) but joins "
                        r"point \d+ to itself"),
    },
    "scale_1e-8": {"*": OK},
    "scale_1e+8": {"*": OK},
    "rank_deficient": {"*": OK},
    "ill_conditioned": {"*": OK},
    "int": {"*": OK},
    "bool": {"*": OK},
    "float32": {"*": OK},
    "list": {"*": OK},
    "dataframe": {f: OK for f in POINT_FORMS + INDEX_FORMS},
    "readonly_memmap": {"*": OK},
    "fortran": {"*": OK},
    "sparse": {
        "*": _E("Sparse data was passed for X, but dense data is required", TypeError),
        "pairs": _E("{t} must be a dense array", TypeError),
        "triplets": _E("{t} must be a dense array", TypeError),
        "index_pairs": _E(_SPARSE_PRE, InvalidParameterError),
        "index_triplets": _E(_SPARSE_PRE, InvalidParameterError),
    },
    "string_labels": {
        "points": OK,
        "clusterer": _E(r"pair_labels must hold pair labels \+1 \(similar\) and -1 \(dissimilar\)"),
        "pairs": _E(r"y must hold pair labels \+1 \(similar\) and -1 \(dissimilar\)"),
        "index_pairs": _E(r"y must hold pair labels \+1 \(similar\) and -1 \(dissimilar\)"),
    },
    "wrong_tuple_shape": {
        "points": _E(r"X: Found array with dim 3"),
        "clusterer": _E(re.escape("pairs must have shape (n_pairs, 2), row indices into X; "
                                  "got shape (")),
        "pairs": _E(re.escape("pairs must have shape (n, 2, n_features), or (n, 2) with a "
                              "preprocessor; got shape (")),
        "triplets": _E(re.escape("triplets must have shape (n, 3, n_features), or (n, 3) "
                                 "with a preprocessor; got shape (")),
        "index_pairs": _E(re.escape("pairs must have shape (n, 2, n_features), or (n, 2) "
                                    "with a preprocessor; got shape (")),
        "index_triplets": _E(re.escape("triplets must have shape (n, 3, n_features), or "
                                       "(n, 3) with a preprocessor; got shape (")),
    },
    "index_out_of_range": {
        "clusterer": _E(re.escape("pairs holds indices out of range for X of 60 "
                                  "samples: [60]")),
        "index_pairs": _E("{t} holds indices out of range .*60 samples: \\[60\\]"),
        "index_triplets": _E("{t} holds indices out of range .*60 samples: \\[60\\]"),
    },
    "index_negative": {
        "clusterer": _E(re.escape("pairs holds indices out of range for X of 60 "
                                  "samples: [-1]")),
        "index_pairs": _E("{t} holds indices out of range .*60 samples: \\[-1\\]"),
        "index_triplets": _E("{t} holds indices out of range .*60 samples: \\[-1\\]"),
    },
    "index_non_integer": {
        "clusterer": _E(r"pairs of shape \(\d+, 2\) must hold integer indices into X; got "
                        r"dtype float64 with non-integer values \[2\.5\]"),
        "index_pairs": _E("{t} .*must hold integer indices.* non-integer values \\[2.5\\]"),
        "index_triplets": _E("{t} .*must hold integer indices.* non-integer values \\[2.5\\]"),
    },
    "preprocessor_wrong_shape": {
        f: _E(re.escape("the preprocessor callable must return an array of shape (")
              + r"\d+, n_features\) for \d+ indices; got shape \(\d+, 1, 3\)")
        for f in INDEX_FORMS
    },
    "param_out_of_range": {"*": _E(_PARAM, InvalidParameterError)},
}

# --------------------------------------------------------------------------
# the inputs: a base problem, and one edit of it per case
# --------------------------------------------------------------------------


@dataclass
class Inputs:
    """A problem in every form: points ``X`` with class labels ``y``, index
    pairs ``idx`` into ``X`` with pair labels ``yp``, index triplets ``trip``.

    ``wrap`` turns the data argument (``X`` for the point and index forms,
    the array of tuples for the tuple forms) into the container under test;
    ``tuples`` replaces the tuples; ``params`` are estimator parameters."""

    X: np.ndarray
    y: np.ndarray
    idx: np.ndarray
    yp: np.ndarray
    trip: np.ndarray
    wrap: object = None
    tuples: object = None
    params: dict = field(default_factory=dict)


def _base():
    X, y = make_xing_toy(n_samples=60, n_classes=3, random_state=0)
    idx, yp = Constraints(y).pairs(40, random_state=0)
    trip = Constraints(y).generate_knntriplets(X, 2, 2)
    return Inputs(X, y, idx, yp, trip)


def _set_column(value):
    def edit(d, form, tmp_path):
        X = d.X.copy()
        X[::2, 0] = value  # every other point: every form's tuples meet one
        return replace(d, X=X)
    return edit


def _scale(factor):
    return lambda d, form, tmp_path: replace(d, X=d.X * factor)


def _dtype(kind):
    def edit(d, form, tmp_path):
        if kind == "bool":
            X = d.X > np.median(d.X, axis=0)
        elif kind == "int":
            X = np.round(2 * d.X).astype(np.int64)
        else:
            X = d.X.astype(np.float32)
        return replace(d, X=X)
    return edit


def _wrap(fn):
    return lambda d, form, tmp_path: replace(d, wrap=fn)


def _memmap(d, form, tmp_path):
    def wrap(a):
        a = np.asarray(a)
        path = tmp_path / "data.mmap"
        mm = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        mm[...] = a
        mm.flush()
        return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    return replace(d, wrap=wrap)


def _empty(d, form, tmp_path):
    return replace(d, X=d.X[:0], y=d.y[:0], idx=d.idx[:0], yp=d.yp[:0],
                   trip=d.trip[:0]) if form in POINT_FORMS else replace(
        d, idx=d.idx[:0], yp=d.yp[:0], trip=d.trip[:0])


def _one_sample(d, form, tmp_path):
    if form in POINT_FORMS:
        return replace(d, X=d.X[:1], y=d.y[:1], idx=d.idx[:0], yp=d.yp[:0])
    return replace(d, idx=d.idx[:1], yp=d.yp[:1], trip=d.trip[:1])


def _one_feature(d, form, tmp_path):
    return replace(d, X=d.X[:, 1:2].copy())  # the feature that separates classes


def _constant_feature(d, form, tmp_path):
    X = d.X.copy()
    X[:, 0] = 5.0
    return replace(d, X=X)


def _duplicate_rows(d, form, tmp_path):
    n = d.X.shape[0]
    return replace(d, X=np.concatenate([d.X, d.X[:20]]), y=np.concatenate([d.y, d.y[:20]]),
                   idx=np.concatenate([d.idx, d.idx[:10] % 20 + n]),
                   yp=np.concatenate([d.yp, d.yp[:10]]),
                   trip=np.concatenate([d.trip, d.trip[:10] % 20 + n]))


def _identical_tuples(d, form, tmp_path):
    idx, trip = d.idx.copy(), d.trip.copy()
    idx[::4, 1] = idx[::4, 0]
    trip[::4, 1] = trip[::4, 0]
    trip[1::4, 2] = trip[1::4, 0]
    return replace(d, idx=idx, trip=trip)


def _rank_deficient(d, form, tmp_path):
    X = d.X.copy()
    X[:, 2] = X[:, 0] - 2.0 * X[:, 1]
    return replace(d, X=X)


def _ill_conditioned(d, form, tmp_path):
    X = d.X.copy()
    X[:, 2] = X[:, 0] + 1e-9 * X[:, 2]  # condition number about 1e9
    return replace(d, X=X)


def _string_labels(d, form, tmp_path):
    names = np.array(["setosa", "versicolor", "virginica"])
    return replace(d, y=names[d.y], yp=np.where(d.yp == 1, "same", "apart"))


def _wrong_tuple_shape(d, form, tmp_path):
    if form == "points":
        return replace(d, X=d.X[:, :, None])
    if form in ("pairs", "index_pairs", "clusterer"):
        return replace(d, idx=d.trip[: d.idx.shape[0]])
    return replace(d, trip=d.idx)


def _bad_index(value):
    def edit(d, form, tmp_path):
        idx = d.idx.astype(type(value))
        trip = d.trip.astype(type(value))
        idx[5, 1] = value
        trip[5, 1] = value
        return replace(d, idx=idx, trip=trip)
    return edit


def _preprocessor_wrong_shape(d, form, tmp_path):
    X = d.X
    return replace(d, params={"preprocessor": lambda i: X[i][:, None, :]})


def _param_out_of_range(d, form, tmp_path):
    return replace(d, params={"max_iter": 0})


EDITS = {
    "nan": _set_column(np.nan),
    "inf": _set_column(np.inf),
    "empty": _empty,
    "one_sample": _one_sample,
    "one_feature": _one_feature,
    "constant_feature": _constant_feature,
    "duplicate_rows": _duplicate_rows,
    "identical_tuples": _identical_tuples,
    "scale_1e-8": _scale(1e-8),
    "scale_1e+8": _scale(1e8),
    "rank_deficient": _rank_deficient,
    "ill_conditioned": _ill_conditioned,
    "int": _dtype("int"),
    "bool": _dtype("bool"),
    "float32": _dtype("float32"),
    "list": _wrap(lambda a: np.asarray(a).tolist()),
    "dataframe": _wrap(lambda a: pd.DataFrame(a, columns=[f"f{j}" for j in range(a.shape[1])])),
    "readonly_memmap": _memmap,
    "fortran": _wrap(np.asfortranarray),
    "sparse": _wrap(lambda a: sp.csr_matrix(np.asarray(a).reshape(a.shape[0], -1))),
    "string_labels": _string_labels,
    "wrong_tuple_shape": _wrong_tuple_shape,
    "index_out_of_range": _bad_index(60),
    "index_negative": _bad_index(-1),
    "index_non_integer": _bad_index(2.5),
    "preprocessor_wrong_shape": _preprocessor_wrong_shape,
    "param_out_of_range": _param_out_of_range,
}
assert EDITS.keys() == EXPECTED.keys()


def _fit_call(form, d):
    """``(args, kwargs, params)`` of the ``fit`` call for ``form``."""
    wrap = d.wrap or (lambda a: a)
    params = dict(d.params)
    if form == "points":
        return (wrap(d.X), d.y), {}, params
    if form == "clusterer":
        return (wrap(d.X),), {"pairs": d.idx, "pair_labels": d.yp}, params
    if form in TUPLE_FORMS:
        tuples = d.X[d.idx] if form == "pairs" else d.X[d.trip]
        args = (wrap(tuples),)
    else:
        params.setdefault("preprocessor", wrap(d.X))
        args = (d.idx if form == "index_pairs" else d.trip,)
    return (args + (d.yp,) if "pairs" in form else args), {}, params


# --------------------------------------------------------------------------
# the learners, each with the forms it takes
# --------------------------------------------------------------------------

_CLUSTERER = LearnerSpec(ConstrainedKMeans, "clusterer",
                         {"n_clusters": 3, "n_init": 2, "random_state": 0})
_FORMS_OF_KIND = {
    "supervised": ("points",),
    "pairs": ("pairs", "index_pairs"),
    "triplets": ("triplets", "index_triplets"),
    "clusterer": ("clusterer",),
}
TARGETS = [
    (spec, form)
    for spec in ALL_SPECS + TRIPLETS_SPECS + [_CLUSTERER]
    for form in _FORMS_OF_KIND[spec.kind]
]


def expected(case, form):
    row = EXPECTED[case]
    return row.get(form, row.get("*"))


MATRIX = [
    pytest.param(spec, form, case, id=f"{spec.id}-{form}-{case}")
    for spec, form in TARGETS
    for case in EXPECTED
    if expected(case, form) is not None
]


def test_the_matrix_is_complete():
    """Every case applies to some learner, every form meets at least 20 cases,
    and the matrix counts what the module docstring promises."""
    for case in EXPECTED:
        assert any(expected(case, form) is not None for _, form in TARGETS), case
    for form in ALL_FORMS:
        assert sum(expected(case, form) is not None for case in EXPECTED) >= 20, form
    assert len(EXPECTED) == 27
    assert len(TARGETS) == 16
    assert len(MATRIX) == 379
    fits = sum(expected(p.values[2], p.values[1]) is OK for p in MATRIX)
    assert (fits, len(MATRIX) - fits) == (236, 143)


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------


def _state(est):
    return {k: copy.deepcopy(v) for k, v in vars(est).items()}


def _assert_unchanged(before, est):
    """The same attributes, and the same fitted ones (the parameters were
    changed on purpose by ``set_params``)."""
    after = vars(est)
    assert before.keys() == after.keys()
    for key, value in before.items():
        if key.endswith("_") and isinstance(value, np.ndarray):
            assert_array_equal(after[key], value, err_msg=key)
        elif key.endswith("_") and np.isscalar(value):
            assert after[key] == value, key


def _assert_correct_fit(est, form, d):
    if isinstance(est, ConstrainedKMeans):
        assert np.all(np.isfinite(est.cluster_centers_))
        assert est.labels_.shape == (np.asarray(d.X).shape[0],)
        return
    L = est.components_
    assert np.all(np.isfinite(L))
    M = est.get_mahalanobis_matrix()
    assert_array_equal(M, M.T)
    w = np.linalg.eigvalsh(M)
    assert w[0] >= -1e-10 * max(abs(w[-1]), 1e-300), w
    if form == "points" and d.wrap is not None:
        X = d.wrap(d.X)  # the container it was fitted on (feature names)
    else:
        X = np.asarray(d.X, dtype=np.float64)
    Z = est.transform(X)
    assert Z.shape == (np.asarray(d.X).shape[0], L.shape[0])
    assert np.all(np.isfinite(Z))


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("spec", "form", "case"), MATRIX)
def test_bad_input(spec, form, case, tmp_path):
    outcome = expected(case, form)
    base = _base()
    bad = EDITS[case](base, form, tmp_path)
    args, kwargs, params = _fit_call(form, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if outcome is OK:
            est = spec.make(**params).fit(*args, **kwargs)
            _assert_correct_fit(est, form, bad)
            return
        tuples = "triplets" if "triplets" in form else "pairs"
        match = outcome.pattern.format(t=tuples, cls=spec.cls.__name__)
        # a fresh estimator: the error, and it stays unfitted
        fresh = spec.make(**params)
        with pytest.raises(outcome.exc, match=match):
            fresh.fit(*args, **kwargs)
        assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")]
        # a fitted one: the same error, and its fitted state as it was
        good_args, good_kwargs, good_params = _fit_call(form, base)
        est = spec.make(**good_params).fit(*good_args, **good_kwargs)
        before = _state(est)
        est.set_params(**params)
        with pytest.raises(outcome.exc, match=match):
            est.fit(*args, **kwargs)
        _assert_unchanged(before, est)
