"""Bad input gets a clear error naming the argument and the offending value,
and a failed ``fit`` leaves the estimator as it was (an already fitted one
keeps its fitted state, an unfitted one stays unfitted)."""

import copy
import re
import warnings

import numpy as np
import pytest
from conftest import (
    ALL_SPECS,
    PAIRS_SPECS,
    SUPERVISED_SPECS,
    all_specs,
    pairs_specs,
    spec_id,
    supervised_specs,
    toy_pairs,
    training_input,
)
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

# Xing's MMC: ``init`` is a Mahalanobis matrix, and pairs of identical points
# leave its objective undefined (algorithm-specific errors)
mmc_specs = pytest.mark.parametrize(
    "spec", [s for s in ALL_SPECS if s.cls.__name__.startswith("MMC")], ids=spec_id
)


def _state(est):
    return {k: copy.deepcopy(v) for k, v in vars(est).items() if k.endswith("_")}


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(after[key], value, err_msg=key)
        elif callable(value):
            assert after[key] is value, key
        else:
            assert after[key] == value, key


def assert_fit_fails_cleanly(spec, good_args, bad_args, exc, match, **bad_params):
    """``fit(*bad_args)`` with ``bad_params`` raises ``exc`` matching ``match``,
    on a fresh learner (which stays unfitted) and on one fitted on
    ``good_args`` (whose fitted state is unchanged)."""
    fresh = spec.make(**bad_params)
    with pytest.raises(exc, match=match):
        fresh.fit(*bad_args)
    assert _state(fresh) == {}
    with pytest.raises(NotFittedError):
        fresh.transform(np.zeros((2, 3)))
    fitted = spec.make().fit(*good_args)
    before = _state(fitted)
    components = fitted.components_.copy()
    fitted.set_params(**bad_params)
    with pytest.raises(exc, match=match):
        fitted.fit(*bad_args)
    assert_array_equal(fitted.components_, components)
    _assert_same_state(before, _state(fitted))


@pytest.fixture
def pair_data(toy):
    X, y = toy
    pairs, y_pairs = toy_pairs(X, y)
    return X, pairs, y_pairs


# -------------------------------------------------------- non-finite values


@pairs_specs
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pairs(spec, bad, pair_data):
    X, idx, y = pair_data
    pairs = X[idx]
    pairs[4, 1, 2] = bad
    message = "pairs contains NaN or infinity"
    assert_fit_fails_cleanly(spec, (X[idx], y), (pairs, y), ValueError, message)
    est = spec.make().fit(X[idx], y)
    for method in ("predict", "decision_function", "pair_distance", "pair_score"):
        with pytest.raises(ValueError, match=message):
            getattr(est, method)(pairs)
    with pytest.raises(ValueError, match=message):
        est.score(pairs, y)
    with pytest.raises(ValueError, match=message):
        est.calibrate_threshold(pairs, y)


@supervised_specs
@pytest.mark.parametrize(
    ("bad", "message"),
    [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")],
)
def test_non_finite_points(spec, bad, message, toy):
    X, y = toy
    X_bad = X.copy()
    X_bad[7, 0] = bad
    assert_fit_fails_cleanly(spec, (X, y), (X_bad, y), ValueError, message)
    est = spec.make().fit(X, y)
    with pytest.raises(ValueError, match=message):
        est.transform(X_bad)


@pairs_specs
def test_non_finite_preprocessor(spec, pair_data):
    X, idx, y = pair_data
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    assert_fit_fails_cleanly(
        spec, (X[idx], y), (idx, y), ValueError,
        r"preprocessor must be None, a callable, or an array of shape "
        r"\(n_samples, n_features\); got ndarray: Input preprocessor contains NaN",
        preprocessor=X_bad,
    )
    assert_fit_fails_cleanly(
        spec, (X[idx], y), (idx, y), ValueError,
        re.escape("the preprocessor callable returned NaN or inf values"),
        preprocessor=lambda i: X_bad[i],
    )


# ------------------------------------------------------------ pair shapes


@pairs_specs
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((10, 3, 3), "got shape (10, 3, 3)"),
        ((10, 2, 3, 1), "got shape (10, 2, 3, 1)"),
        ((10, 6), "got shape (10, 6)"),
        ((20,), "got shape (20,)"),
    ],
)
def test_wrong_pair_shapes(spec, shape, message, pair_data, rng):
    X, idx, y = pair_data
    pairs = rng.normal(size=shape)
    full = (
        "pairs must have shape (n, 2, n_features), or (n, 2) with a preprocessor; "
        + message
    )
    assert_fit_fails_cleanly(
        spec, (X[idx], y), (pairs, y[: shape[0]]), ValueError, re.escape(full)
    )


@pairs_specs
def test_index_pairs_without_preprocessor(spec, pair_data):
    X, idx, y = pair_data
    message = (
        f"pairs of shape {idx.shape} looks like indices, but no preprocessor was "
        "given: pass preprocessor=X to the estimator, or give pairs of shape "
        "(n, 2, n_features)"
    )
    assert_fit_fails_cleanly(spec, (X[idx], y), (idx, y), ValueError, re.escape(message))


@pairs_specs
def test_empty_and_featureless_pairs(spec, pair_data):
    X, idx, y = pair_data
    assert_fit_fails_cleanly(
        spec, (X[idx], y), (X[idx][:0], y[:0]), ValueError,
        "pairs is empty: at least one tuple is required",
    )
    assert_fit_fails_cleanly(
        spec, (X[idx], y), (X[idx][:, :, :0], y), ValueError,
        "pairs has 0 features: at least one is required",
    )


@pairs_specs
def test_pairs_with_other_number_of_features_after_fit(spec, pair_data, rng):
    X, idx, y = pair_data
    est = spec.make().fit(X[idx], y)
    message = "pairs has 4 features, but the estimator was fitted with 3 features"
    for method in ("predict", "decision_function", "pair_distance"):
        with pytest.raises(ValueError, match=message):
            getattr(est, method)(rng.normal(size=(5, 2, 4)))


@supervised_specs
def test_points_with_other_number_of_features_after_fit(spec, toy, rng):
    X, y = toy
    est = spec.make().fit(X, y)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"X has 4 features, but {spec.cls.__name__} is expecting 3 features"
        ),
    ):
        est.transform(rng.normal(size=(5, 4)))


# ------------------------------------------------------------ pair labels


@pairs_specs
@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("zero_one", "y must hold pair labels +1 (similar) and -1 (dissimilar); "
                     "got values [0, 1]"),
        ("two", "y must hold pair labels +1 (similar) and -1 (dissimilar); "
                "got values [-1, 1, 2]"),
        ("strings", "y must hold pair labels +1 (similar) and -1 (dissimilar); "
                    "got values ['-1', '1']"),
        ("only_similar", "y must contain both similar (+1) and dissimilar (-1) "
                         "pairs; got only [1]"),
        ("only_dissimilar", "y must contain both similar (+1) and dissimilar (-1) "
                            "pairs; got only [-1]"),
        ("short", "y must have shape (80,), one label per tuple in pairs; "
                  "got shape (79,)"),
        ("2d", "y must have shape (80,), one label per tuple in pairs; "
               "got shape (80, 1)"),
    ],
)
def test_bad_pair_labels(spec, labels, message, pair_data):
    X, idx, y = pair_data
    assert y.shape == (80,)
    bad = {
        "zero_one": np.where(y == -1, 0, 1),
        "two": np.where(np.arange(80) == 3, 2, y),
        "strings": y.astype(str),
        "only_similar": np.ones_like(y),
        "only_dissimilar": -np.ones_like(y),
        "short": y[:-1],
        "2d": y[:, None],
    }[labels]
    assert_fit_fails_cleanly(spec, (X[idx], y), (X[idx], bad), ValueError,
                             re.escape(message))


@pairs_specs
def test_float_pair_labels_are_accepted(spec, pair_data):
    X, idx, y = pair_data
    a = spec.make().fit(X[idx], y.astype(float))
    b = spec.make().fit(X[idx], y)
    assert_array_equal(a.components_, b.components_)


# -------------------------------------------------------------- classes


@supervised_specs
def test_single_class(spec, toy):
    X, y = toy
    assert_fit_fails_cleanly(
        spec, (X, y), (X, np.zeros_like(y)), ValueError,
        re.escape(f"{spec.cls.__name__} needs at least 2 classes in y; got 1 class"),
    )


@supervised_specs
def test_bad_class_labels(spec, toy):
    X, y = toy
    assert_fit_fails_cleanly(
        spec, (X, y), (X, y[:-1]), ValueError,
        re.escape("inconsistent numbers of samples: [60, 59]"),
    )
    assert_fit_fails_cleanly(
        spec, (X, y), (X, None), ValueError,
        re.escape("requires y to be passed, but the target y is None"),
    )


# ------------------------------------------------- indices and preprocessor


@pairs_specs
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("too_large", "pairs holds indices out of range for the preprocessor of 60 "
                      "samples: [60]"),
        ("negative", "pairs holds indices out of range for the preprocessor of 60 "
                     "samples: [-1]"),
        ("fraction", "pairs of shape (80, 2) must hold integer indices into the "
                     "preprocessor; got dtype float64 with non-integer values [2.5]"),
        ("nan", "pairs of shape (80, 2) must hold integer indices into the "
                "preprocessor; got dtype float64 with non-integer values [nan]"),
        ("strings", "pairs of shape (80, 2) must hold integer indices into the "
                    "preprocessor; got dtype <U"),
    ],
)
def test_bad_index_pairs(spec, case, message, pair_data):
    X, idx, y = pair_data
    bad = idx.astype(float) if case in ("fraction", "nan") else idx.copy()
    if case == "strings":
        bad = idx.astype(str)
    else:
        bad[5, 1] = {"too_large": 60, "negative": -1, "fraction": 2.5,
                     "nan": np.nan}[case]
    assert_fit_fails_cleanly(spec, (X[idx], y), (bad, y), ValueError,
                             re.escape(message), preprocessor=X)
    est = spec.make(preprocessor=X).fit(idx, y)
    with pytest.raises(ValueError, match=re.escape(message)):
        est.predict(bad)


@pairs_specs
def test_integral_float_indices_are_accepted(spec, pair_data):
    X, idx, y = pair_data
    a = spec.make(preprocessor=X).fit(idx.astype(float), y)
    b = spec.make(preprocessor=X).fit(idx, y)
    assert_array_equal(a.components_, b.components_)


@supervised_specs
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("too_large", "X holds indices out of range for the preprocessor of 60 "
                      "samples: [60]"),
        ("negative", "X holds indices out of range for the preprocessor of 60 "
                     "samples: [-1]"),
        ("fraction", "X of shape (60,) must hold integer indices into the "
                     "preprocessor; got dtype float64 with non-integer values [0.5]"),
    ],
)
def test_bad_point_indices(spec, case, message, toy):
    X, y = toy
    bad = np.arange(60) if case != "fraction" else np.arange(60.0)
    bad[9] = {"too_large": 60, "negative": -1, "fraction": 0.5}[case]
    assert_fit_fails_cleanly(spec, (X, y), (bad, y), ValueError,
                             re.escape(message), preprocessor=X)
    est = spec.make(preprocessor=X).fit(np.arange(60), y)
    with pytest.raises(ValueError, match=re.escape(message)):
        est.transform(bad)


@pairs_specs
@pytest.mark.parametrize(
    ("returns", "got"),
    [("flat", "got shape (480,)"), ("fixed", "got shape (5, 3)"),
     ("scalar_rows", "got shape (160, 1, 3)")],
)
def test_preprocessor_returning_the_wrong_shape(spec, returns, got, pair_data):
    X, idx, y = pair_data

    def preprocessor(i):
        if returns == "flat":
            return X[i].ravel()
        if returns == "fixed":
            return X[:5]
        return X[i][:, None, :]

    message = (
        "the preprocessor callable must return an array of shape (160, n_features) "
        f"for 160 indices; {got}"
    )
    assert_fit_fails_cleanly(spec, (X[idx], y), (idx, y), ValueError,
                             re.escape(message), preprocessor=preprocessor)


@all_specs
def test_preprocessor_of_the_wrong_kind(spec, toy):
    X, y = toy
    args = training_input(spec, X, y)
    if spec.kind == "pairs":
        idx, y_idx = toy_pairs(X, y)
        bad_args = (idx, y_idx)
    else:
        bad_args = (np.arange(60), y)
    assert_fit_fails_cleanly(
        spec, args, bad_args, InvalidParameterError,
        re.escape(f"The 'preprocessor' parameter of {spec.cls.__name__} must be None, "
                  "a callable or an array-like. Got 'abc' instead."),
        preprocessor="abc",
    )
    assert_fit_fails_cleanly(
        spec, args, bad_args, ValueError,
        re.escape("preprocessor must be None, a callable, or an array of shape "
                  "(n_samples, n_features); got ndarray: Expected 2D array"),
        preprocessor=X[:, 0],
    )


# ---------------------------------------------------------- identical points


@pairs_specs
def test_pairs_of_identical_points_do_not_produce_nan(spec, pair_data):
    X, idx, y = pair_data
    pairs = X[idx]
    pairs[::4, 1] = pairs[::4, 0]  # a quarter of the pairs, of both kinds
    assert set(y[::4]) == {-1, 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = spec.make().fit(pairs, y)
        dist = est.pair_distance(pairs)
    assert np.all(np.isfinite(est.components_))
    assert np.all(dist[::4] == 0.0)
    assert np.all(np.isfinite(dist))
    assert np.isfinite(est.threshold_)
    assert_array_equal(est.predict(pairs[::4]), 1)


@supervised_specs
def test_duplicated_points_do_not_produce_nan(spec, toy):
    X, y = toy
    X_dup = np.concatenate([X, X[:20]])
    y_dup = np.concatenate([y, y[:20]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = spec.make().fit(X_dup, y_dup)
    assert np.all(np.isfinite(est.components_))


mmc_pairs_specs = pytest.mark.parametrize(
    "spec", [s for s in PAIRS_SPECS if s.cls.__name__.startswith("MMC")], ids=spec_id
)
mmc_supervised_specs = pytest.mark.parametrize(
    "spec", [s for s in SUPERVISED_SPECS if s.cls.__name__.startswith("MMC")],
    ids=spec_id,
)


@mmc_pairs_specs
@pytest.mark.parametrize("kind", ["similar", "dissimilar"])
def test_mmc_needs_distinct_pairs_of_each_kind(spec, kind, pair_data):
    X, idx, y = pair_data
    label = 1 if kind == "similar" else -1
    pairs = X[idx]
    pairs[y == label, 1] = pairs[y == label, 0]
    message = (
        f"MMC needs at least one {kind} pair (y == {label:+d}) of distinct points"
    )
    assert_fit_fails_cleanly(spec, (X[idx], y), (pairs, y), ValueError,
                             re.escape(message))


@mmc_supervised_specs
def test_mmc_supervised_needs_distinct_points_in_a_class(spec, toy):
    X, y = toy
    X_bad = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [4.0, 0.0, 1.0]])[y]
    message = "MMC needs at least one similar pair (y == +1) of distinct points"
    assert_fit_fails_cleanly(spec, (X, y), (X_bad, y), ValueError, re.escape(message))


# ------------------------------------------------------------- parameters


@all_specs
@pytest.mark.parametrize(
    ("param", "value", "got"),
    [
        ("max_iter", -1, "Got -1 instead"),
        ("max_iter", 0, "Got 0 instead"),
        ("max_iter", 2.5, "Got 2.5 instead"),
        ("tol", -1e-3, "Got -0.001 instead"),
        ("tol", "small", "Got 'small' instead"),
        ("init", "pca_or_so", "Got 'pca_or_so' instead"),
        ("prior", "pca_or_so", "Got 'pca_or_so' instead"),
        ("random_state", "seed", "Got 'seed' instead"),
    ],
)
def test_bad_parameters(spec, param, value, got, toy):
    if param not in spec.make().get_params():
        pytest.skip(f"{spec.cls.__name__} has no parameter {param}")
    X, y = toy
    args = training_input(spec, X, y)
    match = re.escape(f"The '{param}' parameter of {spec.cls.__name__} must be ")
    match += ".*" + re.escape(got)
    assert_fit_fails_cleanly(spec, args, args, InvalidParameterError, match,
                             **{param: value})


@mmc_specs
@pytest.mark.parametrize(
    ("init", "message"),
    [
        (np.eye(2), "init must have shape (3, 3) to match the 3 features of the "
                    "input; got shape (2, 2)"),
        (np.ones((3, 4)), "init must have shape (3, 3) to match the 3 features of "
                          "the input; got shape (3, 4)"),
        (np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
         "init must be a symmetric matrix"),
        (np.diag([1.0, -1.0, 2.0]),
         "init must be positive semi-definite; smallest eigenvalue -1"),
        (np.diag([1.0, np.nan, 2.0]), "Input init contains NaN"),
    ],
    ids=["2x2", "3x4", "non_symmetric", "not_psd", "nan"],
)
def test_bad_init_matrix(spec, init, message, toy):
    X, y = toy
    args = training_input(spec, X, y)
    assert_fit_fails_cleanly(spec, args, args, ValueError, re.escape(message),
                             init=init)


@mmc_specs
def test_psd_init_matrix_is_accepted(spec, toy):
    X, y = toy
    args = training_input(spec, X, y)
    est = spec.make(init=np.diag([1.0, 0.0, 2.0])).fit(*args)
    assert np.all(np.isfinite(est.components_))
    assert_array_equal(est.init, np.diag([1.0, 0.0, 2.0]))  # not mutated


# ------------------------------------------------------------- not fitted


@all_specs
def test_methods_need_a_fitted_learner(spec, rng):
    est = spec.make()
    pairs = rng.normal(size=(4, 2, 3))
    with pytest.raises(NotFittedError):
        est.transform(pairs[:, 0])
    for method in ("pair_distance", "pair_score"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(pairs)
    with pytest.raises(NotFittedError):
        est.get_metric()
    with pytest.raises(NotFittedError):
        est.get_mahalanobis_matrix()
    if spec.kind == "pairs":
        for method in ("predict", "decision_function"):
            with pytest.raises(NotFittedError):
                getattr(est, method)(pairs)
        with pytest.raises(NotFittedError):
            est.calibrate_threshold(pairs, [1, -1, 1, -1])
