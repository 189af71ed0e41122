"""Drop-in behaviour for metric-learn's users: its old parameter names, its
deprecated method, its exception types, its lazy-loading preprocessors, and
the errors that point a user to the right learner."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

import metriclearn
from metriclearn import (
    ITML,
    LMNN,
    MMC,
    Constraints,
    ITML_Supervised,
    MMC_Supervised,
    SGDMetricLearner,
)
from metriclearn.exceptions import NonPSDError, PreprocessorError


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def iris_pairs(iris):
    X, y = iris
    pairs, y_pairs = Constraints(y).pairs(60, random_state=0)
    return X, pairs, y_pairs


def _future_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, FutureWarning)]


# ------------------------------------------------------------ old parameter names


RENAMED = [
    # learner, old name and value, the new name and the same value
    (ITML_Supervised, {"num_constraints": 30}, {"n_constraints": 30}),
    (ITML_Supervised, {"convergence_threshold": 1e-2}, {"tol": 1e-2}),
    (MMC_Supervised, {"num_constraints": 30}, {"n_constraints": 30}),
    (MMC_Supervised, {"convergence_threshold": 1e-3}, {"tol": 1e-3}),
    (LMNN, {"k": 2}, {"n_neighbors": 2}),
]


@pytest.mark.parametrize(("cls", "old", "new"), RENAMED,
                         ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_old_parameter_names_warn_and_act_as_the_new_ones(iris, cls, old, new):
    X, y = iris
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        legacy = cls(random_state=0, max_iter=20, **old).fit(X, y)
    (old_name, value), (new_name, _) = next(iter(old.items())), next(iter(new.items()))
    assert _future_warnings(record) == [
        f"{cls.__name__}: {old_name} was renamed {new_name}; use {new_name}={value!r} "
        f"({old_name} will be removed; its value is used)"
    ]
    # the warning points at the caller's line, not into the package
    assert {w.filename for w in record if issubclass(w.category, FutureWarning)} == {__file__}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        current = cls(random_state=0, max_iter=20, **new).fit(X, y)
    assert_array_equal(legacy.components_, current.components_)
    # the parameter itself is never rewritten by fit
    assert legacy.get_params()[old_name] == value


def test_old_pairs_learner_parameter(iris_pairs):
    X, pairs, y_pairs = iris_pairs
    with pytest.warns(FutureWarning, match="ITML: convergence_threshold was renamed tol"):
        legacy = ITML(convergence_threshold=1e-2, random_state=0).fit(X[pairs], y_pairs)
    current = ITML(tol=1e-2, random_state=0).fit(X[pairs], y_pairs)
    assert_array_equal(legacy.components_, current.components_)


@pytest.mark.parametrize(("name", "value"), [("learn_rate", 1e-6), ("convergence_tol", 1e-3)])
def test_lmnn_parameters_without_effect_warn(iris, name, value):
    X, y = iris
    with pytest.warns(FutureWarning, match=f"LMNN: {name} has no effect"):
        with_it = LMNN(random_state=0, **{name: value}).fit(X, y)
    without = LMNN(random_state=0).fit(X, y)
    assert_array_equal(with_it.components_, without.components_)


def test_defaults_give_no_future_warning(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        LMNN(random_state=0).fit(X, y)
        MMC_Supervised(random_state=0).fit(X, y)


def test_old_parameter_values_are_validated(iris):
    X, y = iris
    with pytest.raises(ValueError, match="The 'num_constraints' parameter of "
                                         "ITML_Supervised must be"):
        ITML_Supervised(num_constraints=-3).fit(X, y)


def test_constraints_old_argument_names(iris):
    _, y = iris
    c = Constraints(y)
    with pytest.warns(FutureWarning, match="Constraints: num_constraints was renamed "
                                           "n_constraints"):
        old = c.positive_negative_pairs(num_constraints=20, random_state=0)
    new = c.positive_negative_pairs(20, random_state=0)
    for a, b in zip(old, new, strict=True):
        assert_array_equal(a, b)
    with pytest.warns(FutureWarning, match="Constraints: num_chunks was renamed n_chunks"):
        old = c.chunks(num_chunks=5, random_state=0)
    assert_array_equal(old, c.chunks(n_chunks=5, random_state=0))


# ------------------------------------------------------- methods and exceptions


def test_score_pairs_is_the_deprecated_distance(iris_pairs):
    X, pairs, y_pairs = iris_pairs
    model = ITML(random_state=0).fit(X[pairs], y_pairs)
    with pytest.warns(FutureWarning, match="score_pairs is deprecated: it returns "
                                           "pair_distance"):
        scores = model.score_pairs(X[pairs])
    assert_array_equal(scores, model.pair_distance(X[pairs]))


def test_set_threshold_needs_a_fitted_learner():
    with pytest.raises(NotFittedError):
        MMC().set_threshold(1.0)


def test_f_beta_with_beta_zero_is_precision(iris_pairs):
    X, pairs, y_pairs = iris_pairs
    model = ITML(random_state=0).fit(X[pairs], y_pairs)
    model.calibrate_threshold(X[pairs], y_pairs, strategy="f_beta", beta=0)
    d = model.pair_distance(X[pairs])
    accepted = d <= model.threshold_
    precision = np.mean(y_pairs[accepted] == 1)
    # no other cut of the distances has a higher precision
    best = max(np.mean(y_pairs[d <= t] == 1) for t in np.unique(d))
    assert precision == pytest.approx(best)
    with pytest.raises(ValueError, match=re.escape("beta must be a finite number >= 0; "
                                                   "got -1")):
        model.calibrate_threshold(X[pairs], y_pairs, strategy="f_beta", beta=-1)


def test_non_psd_prior_is_also_a_linalg_error(iris_pairs):
    X, pairs, y_pairs = iris_pairs
    model = ITML(prior=-np.eye(4))
    for exc in (NonPSDError, np.linalg.LinAlgError, ValueError):
        with pytest.raises(exc, match="prior must be positive semi-definite"):
            model.fit(X[pairs], y_pairs)
    assert not hasattr(model, "components_")


# -------------------------------------------------------------- preprocessors


def test_callable_preprocessor_receives_what_the_tuples_hold(iris_pairs):
    """metric-learn's lazy loading: tuples of file names or ids, turned into
    points by a callable."""
    X, pairs, y_pairs = iris_pairs
    names = np.array([f"flower_{i:03d}.csv" for i in range(X.shape[0])])
    seen = []

    def load(values):
        seen.append(values.dtype.kind)
        return X[[int(v[7:10]) for v in values]]

    lazy = ITML(preprocessor=load, random_state=0).fit(names[pairs], y_pairs)
    eager = ITML(random_state=0).fit(X[pairs], y_pairs)
    assert_array_equal(lazy.components_, eager.components_)
    assert set(seen) == {"U"}
    assert_array_equal(lazy.predict(names[pairs[:10]]), eager.predict(X[pairs[:10]]))
    assert_allclose(lazy.transform(names[:5]), eager.transform(X[:5]))


def test_failing_preprocessor_is_a_preprocessor_error(iris_pairs):
    X, pairs, y_pairs = iris_pairs

    def broken(values):
        raise KeyError("no such file")

    model = ITML(preprocessor=broken)
    with pytest.raises(PreprocessorError, match=re.escape(
            "the preprocessor callable failed on the 240 values of pairs "
            "(KeyError: 'no such file')")) as info:
        model.fit(pairs, y_pairs)
    assert isinstance(info.value.__cause__, KeyError)
    assert not hasattr(model, "components_")


def test_clone_shares_an_array_preprocessor(iris):
    X, y = iris
    model = ITML_Supervised(preprocessor=X, random_state=3)
    twin = clone(model)
    assert twin.preprocessor is X
    assert twin.get_params()["random_state"] == 3
    # what clone carries over besides the parameters
    assert clone(MMC_Supervised().set_output(transform="pandas"))._sklearn_output_config == {
        "transform": "pandas"
    }
    # cross-validation clones it per fold: still one X
    scores = cross_val_score(
        make_pipeline(ITML_Supervised(max_iter=20, random_state=0), KNeighborsClassifier(3)),
        X, y, cv=3,
    )
    assert scores.min() > 0.8


def test_fitted_pairs_model_pickles_its_preprocessor_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 10))
    y = rng.integers(3, size=4000)
    pairs, y_pairs = Constraints(y).pairs(40, random_state=0)
    model = ITML(preprocessor=X, random_state=0, max_iter=5).fit(pairs, y_pairs)
    assert model.preprocessor_ is X  # validated, not copied
    size = len(pickle.dumps(model))
    assert X.nbytes < size < 1.2 * X.nbytes  # X once, not twice


# ------------------------------------------------------- the errors of a pipeline


@pytest.mark.parametrize(("cls", "twin"), [
    (MMC, "MMC_Supervised"), (ITML, "ITML_Supervised"),
    (SGDMetricLearner, "SGDMetricLearner_Supervised"),
])
def test_pairs_learner_given_points_names_its_supervised_twin(iris, cls, twin):
    X, y = iris
    assert twin in metriclearn.__all__
    with pytest.raises(ValueError, match=re.escape(
            f"got shape (150, 4). {cls.__name__} learns from pairs; to learn from points X "
            f"and class labels y use {twin}")):
        make_pipeline(cls(), KNeighborsClassifier()).fit(X, y)


# ------------------------------------------------------------- n_components


@pytest.mark.parametrize("cls", [MMC_Supervised, ITML_Supervised])
def test_n_components_keeps_the_leading_directions(iris, cls):
    X, y = iris
    full = cls(random_state=0).fit(X, y)
    low = cls(random_state=0, n_components=2).fit(X, y)
    assert low.components_.shape == (2, 4)
    assert low.transform(X).shape == (150, 2)
    assert_allclose(low.components_, full.components_[:2])
    # the best rank-2 approximation of M: what is dropped is the smallest part
    w = np.linalg.eigvalsh(full.get_mahalanobis_matrix())
    rest = full.get_mahalanobis_matrix() - low.get_mahalanobis_matrix()
    assert np.linalg.norm(rest, 2) == pytest.approx(w[-3], rel=1e-6, abs=1e-12)
    with pytest.raises(ValueError, match=re.escape(
            "n_components=5 must be at most the number of features (4)")):
        cls(n_components=5).fit(X, y)


def test_rank_one_mmc_drops_its_null_directions(iris):
    X, y = iris
    # MMC's optimum on these pairs is rank one: with n_components=1 nothing is lost
    pairs, y_pairs = Constraints(y).pairs(100, random_state=0)
    full = MMC(random_state=0).fit(X[pairs], y_pairs)
    rank = np.sum(np.linalg.eigvalsh(full.get_mahalanobis_matrix()) > 1e-10)
    low = MMC(random_state=0, n_components=int(rank)).fit(X[pairs], y_pairs)
    assert_allclose(low.pair_distance(X[pairs]), full.pair_distance(X[pairs]), atol=1e-9)
