"""Parameter validation of every estimator: the declared constraints are the
parameters, each parameter has an invalid value in one table whose error
(type and whole message) is checked on every estimator that takes it, and
parameters that are valid in themselves but wrong for the data get a clear
``ValueError``. A failed ``fit`` (or ``partial_fit``) leaves the estimator as
it was, fitted or not."""

import copy
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError
from support import (
    ALL_SPECS,
    CLUSTERER_SPECS,
    TWOVIEW_SPECS,
    assert_fails_cleanly,
    assert_unchanged,
    snapshot,
    spec_id,
    training_input,
)

from metriclearn.datasets import make_xing_toy

# one spec per class: the parameters do not depend on the variant
ESTIMATORS = list({spec.name: spec
                   for spec in ALL_SPECS + CLUSTERER_SPECS + TWOVIEW_SPECS}.values())

INT_0 = "an int in the range [0, inf)"
INT_1 = "an int in the range [1, inf)"
INT_1_NONE = INT_1 + " or None"
FLOAT_0 = "a float in the range [0.0, inf)"
FLOAT_POS = "a float in the range (0.0, inf)"
# (numpy's boolean scalar type is numpy.bool_ before numpy 2)
BOOL = f"an instance of 'bool' or an instance of 'numpy.{np.bool_.__name__}'"
NDARRAY = " or an instance of 'numpy.ndarray'"
DEPRECATED = "a str among {'deprecated'} or "  # metric-learn's old names
SGD = ("SGDMetricLearner", "SGDMetricLearner_Supervised", "SGDTripletLearner")
SCML = ("SCML", "SCML_Supervised")
# tol=None: the solver's own default (scipy's for NCA, a relative 1e-7 for MLKR)
TOL_NONE = SGD + ("NCA", "MLKR", "SGDTwoViewLearner")

# parameter -> [(an invalid value, what the error says the parameter must
# be)]; where classes differ, a dict from class names to that description
INVALID = {
    "max_iter": [(0, INT_1), (-1, INT_1), (2.5, INT_1)],
    "tol": [(-1e-3, {TOL_NONE: FLOAT_0 + " or None", "*": FLOAT_0}),
            ("small", {TOL_NONE: FLOAT_0 + " or None", "*": FLOAT_0})],
    "init": [("pca_or_so", {
        ("MMC", "MMC_Supervised"): "a str among {'covariance', 'identity', 'random'}" + NDARRAY,
        ("LMNN", "NCA"): "a str among {'auto', 'identity', 'lda', 'pca', 'random'}" + NDARRAY,
        SGD + ("MLKR",): "a str among {'auto', 'identity', 'pca', 'random'}" + NDARRAY,
        ("ConstrainedKMeans",): "a str among {'k-means++', 'random'} or an array-like",
        ("SGDTwoViewLearner",): "a str among {'auto', 'identity', 'pca', 'random'} or an "
                                "instance of 'tuple'",
    })],
    "prior": [("pca_or_so", {
        ("ITML", "ITML_Supervised"): "a str among {'auto', 'covariance', 'identity', 'random'} "
                                     "or an array-like",
        "*": "a str among {'covariance', 'identity', 'random'} or an array-like",
    })],
    "random_state": [("seed", "an int in the range [0, 4294967295], an instance of "
                              "'numpy.random.mtrand.RandomState' or None")],
    "verbose": [(-1, INT_0 + ", " + BOOL), ("loud", INT_0 + ", " + BOOL)],
    "preprocessor": [("abc", "None, a callable or an array-like")],
    "max_proj": [(0, INT_1)],
    "diagonal": [("yes", BOOL)],
    "diagonal_c": [(0.0, FLOAT_POS)],
    "n_constraints": [(0, INT_1_NONE)],
    "gamma": [(0.0, {SCML: FLOAT_POS, "*": "a float in the range (0.0, inf]"}),
              (-1.0, {SCML: FLOAT_POS, "*": "a float in the range (0.0, inf]"})],
    "n_neighbors": [(0, INT_1)],
    "min_iter": [(-1, INT_0)],
    "learn_rate": [(0.0, DEPRECATED + FLOAT_POS)],
    "regularization": [(1.5, "a float in the range [0.0, 1.0]")],
    "loss": [("npairs", {
        ("LMNN",): "a str among {'hinge', 'squared_hinge'}",
        SGD: "a str among {'contrastive', 'debiased', 'hinge', 'infonce', 'lifted', "
             "'magnet', 'supcon', 'triplet'}",
    })],
    "convergence_tol": [(-1.0, DEPRECATED + FLOAT_0)],
    "convergence_threshold": [(-1.0, DEPRECATED + FLOAT_0)],
    "num_constraints": [(0, DEPRECATED + INT_1)],
    # LMNN: metric-learn's old name of n_neighbors; LFDA: its own parameter
    "k": [(0, {("LFDA",): INT_1_NONE, "*": DEPRECATED + INT_1})],
    "embedding_type": [("pca", "a str among {'orthonormalized', 'plain', 'weighted'}")],
    "n_chunks": [(0, INT_1)],
    "chunk_size": [(0, INT_1)],
    "num_chunks": [(0, DEPRECATED + INT_1)],
    "n_components": [(0, INT_1_NONE)],
    "callback": [(3, "a callable or None")],
    "n_jobs": [(1.5, "an instance of 'int' or None")],
    "alpha": [(-1.0, FLOAT_0)],
    "margin": [(v, {("SGDMetricLearner_Supervised",): FLOAT_POS + " or a str among {'auto'}",
                    "*": FLOAT_POS}) for v in (0.0, -1.0)],
    "learning_rate": [("optimal", "a str among {'adaptive', 'constant', 'invscaling'}")],
    "eta0": [(0.0, FLOAT_POS)],
    "class_prior": [(1.0, "a float in the range [0.0, 1.0) or a str among {'auto'}"),
                    ("uniform", "a float in the range [0.0, 1.0) or a str among {'auto'}")],
    "n_clusters_per_class": [(0, INT_1)],
    "refresh": [(0, INT_1)],
    "power_t": [(-0.5, FLOAT_0)],
    "batch_size": [(0, INT_1)],
    "n_iter_no_change": [(0, INT_1)],
    "shuffle": [("yes", BOOL)],
    "warm_start": [("yes", BOOL)],
    "backend": [("spark", "a str among {'dask', 'local'}")],
    "scheduler": [(8786, "an instance of 'str' or None")],
    "local_steps": [(0, INT_1)],
    "temperature": [(v, {("SGDMetricLearner_Supervised",): FLOAT_POS + " or a str among "
                                                            "{'auto'}", "*": FLOAT_POS})
                    for v in (0.0, -1.0)],
    "miner": [("hardest", "a str among {'all', 'easy', 'hard', 'semihard'}")],
    "sampling": [("knn", "a str among {'neighbors', 'random'}")],
    "n_clusters": [(0, INT_1)],
    "n_init": [(0, INT_1)],
    "keep_dissimilar_apart": [("yes", BOOL)],
    "normalize": [("yes", {("SGDTwoViewLearner",): BOOL,
                           "*": BOOL + " or a str among {'auto'}"})],
    "solver": [("newton", "a str among {'bregman', 'dual'}")],
    # LSML, SDML, SCML
    "weights": [("heavy", "an array-like or None")],
    "balance_param": [(-1.0, "a str among {'auto'} or " + FLOAT_0)],
    "sparsity_param": [(-1.0, FLOAT_0)],
    "beta": [(-1.0, FLOAT_0)],
    "basis": [("pca", {("SCML",): "a str among {'triplet_diffs'} or an array-like",
                       ("SCML_Supervised",): "a str among {'lda', 'triplet_diffs'} or an "
                                             "array-like"})],
    "n_basis": [(0, INT_1_NONE)],
    "output_iter": [(0, INT_1)],
    "k_genuine": [(0, INT_1)],
    "k_impostor": [(0, INT_1)],
}


def _must_be(description, name):
    if isinstance(description, str):
        return description
    for names, text in description.items():
        if name in names:
            return text
    return description.get("*")


CASES = [
    pytest.param(spec, param, value, _must_be(must_be, spec.name),
                 id=f"{spec.name}-{param}={value!r}")
    for spec in ESTIMATORS
    for param, rows in INVALID.items()
    if param in spec.cls._parameter_constraints
    for value, must_be in rows
]


def _normalised(message):
    """``message`` with the options of each ``{...}`` sorted: scikit-learn
    lists a set of options in the set's (hash) order."""
    return re.sub(r"\{([^{}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def _fit_args(spec, X, y):
    return (X,) if spec.kind == "clusterer" else training_input(spec, X, y)


@pytest.fixture(scope="module")
def fitted():
    """Each estimator fitted on the toy data once, with its training input."""
    X, y = make_xing_toy(n_samples=60, n_classes=3, random_state=0)
    return {spec.name: (spec.make().fit(*_fit_args(spec, X, y)), _fit_args(spec, X, y))
            for spec in ESTIMATORS}


def _assert_exact_error(est, method, args, exc, message):
    before = snapshot(est)
    with pytest.raises(exc) as info:
        getattr(est, method)(*args)
    assert _normalised(str(info.value)) == _normalised(message)
    assert_unchanged(est, before)


@pytest.mark.parametrize("spec", ESTIMATORS, ids=spec_id)
def test_constraints_are_the_parameters(spec):
    assert set(spec.cls._parameter_constraints) == set(spec.make().get_params())


@pytest.mark.parametrize("spec", ESTIMATORS, ids=spec_id)
def test_every_parameter_has_an_invalid_value(spec):
    for param in spec.cls._parameter_constraints:
        assert param in INVALID, f"no invalid value of {param} in the table"
        for _, must_be in INVALID[param]:
            assert _must_be(must_be, spec.name), f"{param} of {spec.name}: no message"


@pytest.mark.parametrize(("spec", "param", "value", "must_be"), CASES)
def test_invalid_parameter(spec, param, value, must_be, fitted):
    message = f"The {param!r} parameter of {spec.name} must be {must_be}. Got {value!r} instead."
    est, args = fitted[spec.name]
    # unfitted, it stays unfitted (also when a stream starts)
    _assert_exact_error(spec.make(**{param: value}), "fit", args, InvalidParameterError,
                        message)
    if hasattr(est, "partial_fit"):
        _assert_exact_error(spec.make(**{param: value}), "partial_fit", args,
                            InvalidParameterError, message)
    # fitted, it keeps its fitted state (and the parameter it was given)
    est = copy.deepcopy(est).set_params(**{param: value})
    _assert_exact_error(est, "fit", args, InvalidParameterError, message)


@pytest.mark.parametrize("spec", [s for s in ESTIMATORS if hasattr(s.cls, "partial_fit")],
                         ids=spec_id)
@pytest.mark.parametrize(("param", "value"), [("batch_size", 0), ("eta0", -1.0)])
def test_partial_fit_validates_the_parameters_of_every_call(spec, param, value, fitted):
    """A stream continued with a bad parameter gets the same error as its
    first call (not a ZeroDivisionError, nor steps uphill)."""
    args = fitted[spec.name][1]
    message = (f"The {param!r} parameter of {spec.name} must be "
               f"{_must_be(INVALID[param][0][1], spec.name)}. Got {value!r} instead.")
    est = spec.make().partial_fit(*args).set_params(**{param: value})
    _assert_exact_error(est, "partial_fit", args, InvalidParameterError, message)


# parameters of a valid type and range that do not fit the data (the toy
# data: 3 features, 3 classes), for the classes whose names start so
NON_SYMMETRIC = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
WRONG_FOR_THE_DATA = [
    ("MMC", {"init": np.eye(2)},
     "init must have shape (3, 3) to match the 3 features of the input; got shape (2, 2)"),
    ("MMC", {"init": np.ones((3, 4))},
     "init must have shape (3, 3) to match the 3 features of the input; got shape (3, 4)"),
    ("MMC", {"init": NON_SYMMETRIC}, "init must be a symmetric matrix"),
    ("MMC", {"init": np.diag([1.0, -1.0, 2.0])},
     "init must be positive semi-definite; smallest eigenvalue -1"),
    ("MMC", {"init": np.diag([1.0, np.nan, 2.0])}, "Input init contains NaN."),
    ("ITML", {"prior": np.diag([1.0, 1.0, 0.0])},
     "ITML needs a positive definite prior (the LogDet divergence is infinite otherwise); "
     "smallest eigenvalue 0. With prior='covariance', this means the points' covariance is "
     "singular: use prior='identity' or drop constant or collinear features"),
    ("ITML", {"prior": np.eye(2)},
     "prior must have shape (3, 3) to match the 3 features of the input; got shape (2, 2)"),
    ("ITML", {"prior": np.diag([1.0, np.nan, 1.0])}, "Input prior contains NaN."),
    ("LMNN", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("LMNN", {"init": "lda", "n_components": 3},
     "init='lda' needs n_components <= min(n_features, n_classes - 1) = 2; got n_components=3"),
    ("LMNN", {"init": np.eye(2)},
     "init must have shape (n_components, 3) to match the 3 features of X; got shape (2, 2)"),
    ("LMNN", {"init": np.eye(3)[:2], "n_components": 3}, "init has 2 rows, but n_components=3"),
    ("LMNN", {"init": np.full((3, 3), np.nan)}, "init contains NaN or infinity"),
    ("SGD", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("NCA", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("NCA", {"init": "lda", "n_components": 3},
     "init='lda' needs n_components <= min(n_features, n_classes - 1) = 2; got n_components=3"),
    ("NCA", {"init": np.eye(2)},
     "init must have shape (n_components, 3) to match the 3 features of X; got shape (2, 2)"),
    ("NCA", {"init": np.full((3, 3), np.nan)}, "init contains NaN or infinity"),
    ("MLKR", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("MLKR", {"init": np.eye(3)[:2], "n_components": 3}, "init has 2 rows, but n_components=3"),
    ("LFDA", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("RCA", {"n_components": 4}, "n_components=4 must be at most the number of features (3)"),
    ("SGD", {"n_components": 2, "init": np.eye(3)},
     "init must have shape (2, 3) (n_components, n_features); got shape (3, 3)"),
    ("SGD", {"init": np.full((3, 3), np.nan)}, "init contains NaN or infinity"),
    ("SGDMetricLearner", {"loss": "triplet"},
     "loss='triplet' needs triplets or class labels; SGDMetricLearner learns with loss in "
     "['hinge', 'contrastive']; for the triplet losses use SGDTripletLearner (triplets) or "
     "SGDMetricLearner_Supervised (class labels)"),
    ("SGDTripletLearner", {"loss": "contrastive"},
     "loss='contrastive' needs pairs; SGDTripletLearner learns with loss in "
     "['triplet', 'infonce']; for the pair losses use SGDMetricLearner (pairs) or "
     "SGDMetricLearner_Supervised (class labels)"),
    ("SGDMetricLearner_Supervised", {"miner": "hard", "loss": "hinge", "sampling": "random"},
     "miner='hard' selects the negatives of the triplet losses; with loss='hinge' and "
     "sampling='random' the pairs are drawn at random: use miner='all', "
     "sampling='neighbors', or loss='triplet' or 'infonce'"),
]
DATA_CASES = [
    pytest.param(spec, params, message, id=f"{spec.id}-{i}")
    for i, (prefix, params, message) in enumerate(WRONG_FOR_THE_DATA)
    for spec in ALL_SPECS
    if spec.name.startswith(prefix) and set(params) <= set(spec.cls._parameter_constraints)
    and not (prefix == "SGDMetricLearner" and spec.name != prefix)
]


def test_every_case_for_the_data_applies():
    assert {case.values[2] for case in DATA_CASES} == {m for _, _, m in WRONG_FOR_THE_DATA}


@pytest.mark.parametrize(("spec", "params", "message"), DATA_CASES)
def test_parameter_wrong_for_the_data(spec, params, message, toy):
    X, y = toy
    args = training_input(spec, X, y)
    assert_fails_cleanly(spec.make(**params), ValueError, re.escape(message), *args)
    fitted = spec.make().fit(*args).set_params(**params)
    assert_fails_cleanly(fitted, ValueError, re.escape(message), *args)


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.name.startswith("MMC")],
                         ids=spec_id)
def test_singular_psd_init_matrix_is_accepted_and_not_mutated(spec, toy):
    X, y = toy
    init = np.diag([1.0, 0.0, 2.0])
    est = spec.make(init=init).fit(*training_input(spec, X, y))
    assert np.all(np.isfinite(est.components_))
    assert est.init is init
    assert_array_equal(init, np.diag([1.0, 0.0, 2.0]))
