"""The tuple classifiers: pairs learners as classifiers of pairs (predict,
decision_function, score, an optimal ``calibrate_threshold`` for every
strategy, ``set_threshold``) and triplets learners as classifiers of triplets
(is the anchor closer to the positive?), both in scikit-learn's model
selection over tuples."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import accuracy_score, fbeta_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from support import (
    NEAR_PRIOR,
    PAIRS_SPECS,
    assert_fails_cleanly,
    pairs_specs,
    spec_id,
    toy_pairs,
    toy_triplets,
    triplets_specs,
)

from metriclearn.datasets import make_xing_toy


@pytest.fixture
def toy_index_pairs():
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=0)
    pairs, y_pairs = toy_pairs(y, n_constraints=60, random_state=0)
    return X, pairs, y_pairs


@pytest.fixture
def fitted(request, toy_index_pairs):
    spec = request.param
    X, pairs, y_pairs = toy_index_pairs
    return spec.make().fit(X[pairs], y_pairs)


fitted_specs = pytest.mark.parametrize("fitted", PAIRS_SPECS, ids=spec_id, indirect=True)


def _tied_pairs(seed, n_pairs=80, n_distinct=12):
    """Pairs ``(0, delta_k)`` with ``delta_k`` drawn with replacement from a
    small pool (one of them zero): many exactly tied distances, random
    labels."""
    rng = np.random.default_rng(seed)
    pool = rng.normal(scale=3.0, size=(n_distinct, 3))
    pool[0] = 0.0
    pick = rng.integers(n_distinct, size=n_pairs)
    pairs = np.stack([np.zeros((n_pairs, 3)), pool[pick]], axis=1)
    y = rng.choice([-1, 1], size=n_pairs, p=[0.4, 0.6])
    y[:2] = [-1, 1]
    return pairs, y


def _rates(y, pred):
    tpr = np.mean(pred[y == 1] == 1)
    tnr = np.mean(pred[y == -1] == -1)
    return tpr, tnr


def _criterion(strategy, min_rate=None, beta=1.0):
    if strategy == "accuracy":
        return lambda y, pred: accuracy_score(y, pred)
    if strategy == "f_beta":
        return lambda y, pred: fbeta_score(
            y, pred, beta=beta, pos_label=1, zero_division=0.0
        )
    if strategy == "max_tpr":

        def crit(y, pred):
            tpr, tnr = _rates(y, pred)
            return tpr if tnr >= min_rate else -np.inf

        return crit

    def crit(y, pred):
        tpr, tnr = _rates(y, pred)
        return tnr if tpr >= min_rate else -np.inf

    return crit


def _brute_force_best(dist, y, criterion):
    """Best criterion value over every threshold: below all distances, and at
    each distinct distance (accepting every pair at most that far)."""
    candidates = np.concatenate([[-np.inf], np.unique(dist)])
    return max(criterion(y, np.where(dist <= t, 1, -1)) for t in candidates)


CALIBRATIONS = (
    [("accuracy", {})]
    + [("f_beta", {"beta": b}) for b in (0.1, 0.5, 1.0, 2.0, 10.0)]
    + [("max_tpr", {"min_rate": r}) for r in (0.0, 0.3, 0.75, 0.9, 1.0)]
    + [("max_tnr", {"min_rate": r}) for r in (0.0, 0.3, 0.75, 0.9, 1.0)]
)


@fitted_specs
@pytest.mark.parametrize(
    ("strategy", "kwargs"), CALIBRATIONS, ids=lambda v: str(v) if v else ""
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibrate_threshold_is_optimal(fitted, strategy, kwargs, seed):
    pairs, y = _tied_pairs(seed)
    dist = fitted.pair_distance(pairs)
    assert np.unique(dist).shape[0] < dist.shape[0]  # ties present
    criterion = _criterion(strategy, **kwargs)
    assert fitted.calibrate_threshold(pairs, y, strategy=strategy, **kwargs) is fitted
    pred = fitted.predict(pairs)
    assert_array_equal(pred, np.where(dist <= fitted.threshold_, 1, -1))
    best = _brute_force_best(dist, y, criterion)
    assert criterion(y, pred) == pytest.approx(best, abs=1e-12)
    if strategy == "max_tpr":
        assert _rates(y, pred)[1] >= kwargs["min_rate"]
    if strategy == "max_tnr":
        assert _rates(y, pred)[0] >= kwargs["min_rate"]
    # the threshold lies strictly between accepted and rejected distances
    accepted, rejected = dist[pred == 1], dist[pred == -1]
    if accepted.size and rejected.size:
        assert accepted.max() < fitted.threshold_ < rejected.min()


@fitted_specs
def test_calibrate_threshold_accepts_index_pairs(fitted, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    spec_params = fitted.get_params()
    with_pre = type(fitted)(**{**spec_params, "preprocessor": X}).fit(pairs, y_pairs)
    with_pre.calibrate_threshold(pairs, y_pairs, strategy="max_tnr", min_rate=0.8)
    fitted.calibrate_threshold(X[pairs], y_pairs, strategy="max_tnr", min_rate=0.8)
    assert with_pre.threshold_ == fitted.threshold_


@fitted_specs
def test_predict_decision_function_score(fitted, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    points = X[pairs]
    dist = fitted.pair_distance(points)
    assert_array_equal(fitted.classes_, [-1, 1])
    assert_array_equal(fitted.decision_function(points), -dist)
    pred = fitted.predict(points)
    assert set(np.unique(pred)) <= {-1, 1}
    assert_array_equal(pred, np.where(dist <= fitted.threshold_, 1, -1))
    assert fitted.score(points, y_pairs) == roc_auc_score(y_pairs, -dist)
    # the learned metric separates the training pairs of the toy data
    euclidean = roc_auc_score(y_pairs, -np.linalg.norm(points[:, 0] - points[:, 1], axis=1))
    assert fitted.score(points, y_pairs) > (
        euclidean if type(fitted).__name__ in NEAR_PRIOR else 0.95)
    assert accuracy_score(y_pairs, pred) > (0.7 if type(fitted).__name__ in NEAR_PRIOR
                                            else 0.9)


@fitted_specs
def test_threshold_after_fit_is_the_accuracy_calibration(fitted, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    threshold = fitted.threshold_
    assert isinstance(threshold, float) and np.isfinite(threshold)
    fitted.calibrate_threshold(X[pairs], y_pairs, strategy="accuracy")
    assert fitted.threshold_ == threshold


@pairs_specs
@pytest.mark.parametrize(
    "params",
    [
        {"strategy": "max_tpr", "min_rate": 0.95},
        {"strategy": "max_tnr", "min_rate": 0.95},
        {"strategy": "f_beta", "beta": 0.2},
    ],
    ids=lambda p: p["strategy"],
)
def test_calibration_params_in_fit(spec, params, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    est = spec.make().fit(X[pairs], y_pairs, calibration_params=params)
    reference = spec.make().fit(X[pairs], y_pairs)
    assert_array_equal(est.components_, reference.components_)
    reference.calibrate_threshold(X[pairs], y_pairs, **params)
    assert est.threshold_ == reference.threshold_


@fitted_specs
def test_set_threshold(fitted, toy_index_pairs):
    X, pairs, _ = toy_index_pairs
    dist = fitted.pair_distance(X[pairs])
    t = float(np.median(dist))
    assert fitted.set_threshold(t) is fitted
    assert fitted.threshold_ == t
    assert_array_equal(fitted.predict(X[pairs]), np.where(dist <= t, 1, -1))
    fitted.set_threshold(np.float32(-1.0))
    assert np.all(fitted.predict(X[pairs]) == -1)
    fitted.set_threshold(2)
    assert fitted.threshold_ == 2.0


@fitted_specs
@pytest.mark.parametrize("bad", [np.nan, np.inf, "1.0", None, True])
def test_set_threshold_rejects_bad_values(fitted, bad):
    message = f"threshold must be a finite real number; got {bad!r}"
    assert_fails_cleanly(fitted, ValueError, re.escape(message), bad, method="set_threshold")


@fitted_specs
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"strategy": "roc"},
            "strategy must be one of ['accuracy', 'f_beta', 'max_tpr', 'max_tnr']; "
            "got 'roc'",
        ),
        (
            {"strategy": "max_tpr"},
            "min_rate must be a number in [0, 1] for strategy='max_tpr'; got None",
        ),
        (
            {"strategy": "max_tnr", "min_rate": 1.5},
            "min_rate must be a number in [0, 1] for strategy='max_tnr'; got 1.5",
        ),
        (
            {"strategy": "max_tpr", "min_rate": -0.1},
            "min_rate must be a number in [0, 1] for strategy='max_tpr'; got -0.1",
        ),
        (
            {"strategy": "max_tpr", "min_rate": "0.5"},
            "min_rate must be a number in [0, 1] for strategy='max_tpr'; got '0.5'",
        ),
        ({"strategy": "f_beta", "beta": -1.0}, "beta must be a finite number >= 0; got -1.0"),
        ({"strategy": "f_beta", "beta": np.inf}, "beta must be a finite number >= 0; got inf"),
        ({"strategy": "f_beta", "beta": None}, "beta must be a finite number >= 0; got None"),
    ],
)
def test_calibrate_threshold_errors(fitted, toy_index_pairs, kwargs, message):
    X, pairs, y_pairs = toy_index_pairs
    assert_fails_cleanly(fitted, ValueError, re.escape(message), X[pairs], y_pairs,
                         method="calibrate_threshold", **kwargs)


@pairs_specs
@pytest.mark.parametrize(
    ("params", "message"),
    [({"strategy": "roc"}, "strategy must be one of ['accuracy', 'f_beta', 'max_tpr', "
                           "'max_tnr']; got 'roc'"),
     ({"foo": 1}, "got unknown keys ['foo']")],
)
def test_bad_calibration_params_in_fit_leave_learner_unchanged(spec, params, message,
                                                               toy_index_pairs):
    """Checked before fitting: an unfitted learner stays unfitted, a fitted
    one keeps its map and threshold."""
    X, pairs, y_pairs = toy_index_pairs
    args = (X[pairs][::-1], y_pairs[::-1])
    kwargs = {"calibration_params": params}
    assert_fails_cleanly(spec.make(), ValueError, re.escape(message), *args, **kwargs)
    fitted = spec.make().fit(X[pairs], y_pairs)
    assert_fails_cleanly(fitted, ValueError, re.escape(message), *args, **kwargs)


@pairs_specs
def test_cross_val_score_over_index_pairs(spec, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    scores = cross_val_score(spec.make(preprocessor=X), pairs, y_pairs, cv=3)
    assert scores.shape == (3,)
    near_prior = spec.name in NEAR_PRIOR
    assert np.all(scores > (0.6 if near_prior else 0.9))
    acc = cross_val_score(
        spec.make(preprocessor=X), pairs, y_pairs, cv=3, scoring="accuracy"
    )
    assert np.all(acc > (0.5 if near_prior else 0.8))
    on_points = cross_val_score(spec.make(), X[pairs], y_pairs, cv=3)
    assert_array_equal(scores, on_points)


@pairs_specs
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=2
def test_grid_search_over_index_pairs(spec, toy_index_pairs):
    X, pairs, y_pairs = toy_index_pairs
    # a parameter of every pairs learner (SDML has no max_iter: its solver
    # runs to convergence)
    name, values = (("max_iter", (2, 30)) if "max_iter" in spec.make().get_params()
                    else ("sparsity_param", (0.01, 0.1)))
    search = GridSearchCV(
        spec.make(preprocessor=X), {name: list(values)}, cv=3
    ).fit(pairs, y_pairs)
    assert search.best_params_[name] in values
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > (0.75 if spec.name in NEAR_PRIOR else 0.9)
    assert_array_equal(
        search.predict(pairs), search.best_estimator_.predict(X[pairs])
    )
    assert search.score(pairs, y_pairs) == search.best_estimator_.score(
        X[pairs], y_pairs
    )


# ------------------------------------------------- the triplets classifier


@triplets_specs
def test_triplets_classifier(spec, toy):
    X, y = toy
    points = X[toy_triplets(X, y)]
    est = spec.make().fit(points)
    d_pos = est.pair_distance(points[:, [0, 1]])
    d_neg = est.pair_distance(points[:, [0, 2]])
    assert_allclose(est.decision_function(points), d_neg - d_pos, rtol=1e-12)
    assert_array_equal(est.predict(points), np.where(d_neg > d_pos, 1, -1))
    assert est.score(points) == np.mean(d_neg > d_pos) > 0.95
    # swapping positive and negative flips every prediction (no ties here)
    swapped = points[:, [0, 2, 1]]
    assert_array_equal(est.predict(swapped), -est.predict(points))
    assert est.score(swapped) == pytest.approx(1 - est.score(points))
    # a triplet whose anchor is equidistant is not "closer to the positive"
    tie = np.array([[[0.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0]]])
    est.components_ = np.eye(3)
    assert est.predict(tie).tolist() == [-1]


@triplets_specs
def test_cross_val_score_over_triplets(spec, toy):
    X, y = toy
    triplets = toy_triplets(X, y)
    scores = cross_val_score(spec.make(max_iter=20), X[triplets], cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)
    on_indices = cross_val_score(spec.make(max_iter=20, preprocessor=X), triplets, cv=3)
    assert_array_equal(on_indices, scores)
