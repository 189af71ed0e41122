"""SCML and SCML_Supervised: the bases, the stochastic solver against its
objective, the map from the weights, determinism, and 3-NN accuracy on the
scikit-learn data sets."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from support import assert_fails_cleanly, toy_triplets

from metriclearn import SCML, SCML_Supervised
from metriclearn.objectives import scml_objective


@pytest.fixture
def triplets(toy):
    X, y = toy
    return X, toy_triplets(X, y)


def test_triplet_diffs_basis_is_unit_vectors(triplets):
    X, t = triplets
    scml = SCML(n_basis=20, max_iter=200, random_state=0).fit(X[t])
    B = scml.basis_
    assert B.shape == (20, 3)
    assert_allclose(np.linalg.norm(B, axis=1), 1.0)
    assert scml.weights_.shape == (20,) and np.all(scml.weights_ >= 0)


def test_default_n_basis(triplets, toy):
    X, t = triplets
    assert SCML(max_iter=10, random_state=0).fit(X[t]).basis_.shape == (240, 3)
    X, y = toy
    n_basis = min(20 * 3, 2 * 60 * 2 - 1)
    assert SCML_Supervised(max_iter=10, random_state=0).fit(X, y).basis_.shape == (n_basis, 3)


def test_metric_is_the_weighted_basis(triplets):
    X, t = triplets
    scml = SCML(max_iter=500, output_iter=100, random_state=0).fit(X[t])
    w, B = scml.weights_, scml.basis_
    assert_allclose(scml.get_mahalanobis_matrix(), (B.T * w) @ B, rtol=1e-9, atol=1e-12)


def test_best_checkpoint_is_kept_and_lowers_the_objective(triplets):
    X, t = triplets
    scml = SCML(max_iter=2000, output_iter=250, random_state=0).fit(X[t])
    h = scml.objective_history_
    assert h.shape == (8,)
    value = scml_objective(scml.weights_, scml.basis_, X[t], beta=1e-5)
    assert value == pytest.approx(h.min(), rel=1e-9)
    assert value < 1.0  # the objective at w = 0
    assert scml.n_iter_ == 2000 and scml.converged_


def test_output_iter_above_max_iter_evaluates_the_last_weights(triplets):
    X, t = triplets
    scml = SCML(max_iter=50, output_iter=500, random_state=0).fit(X[t])
    assert scml.objective_history_.shape == (1,)


def test_same_seed_same_result(triplets):
    X, t = triplets
    a = SCML(max_iter=300, random_state=3).fit(X[t])
    b = SCML(max_iter=300, random_state=3).fit(X[t])
    assert_array_equal(a.components_, b.components_)


def test_array_basis_is_used_as_given(triplets):
    X, t = triplets
    B = np.eye(3)
    scml = SCML(basis=B, max_iter=500, random_state=0).fit(X[t])
    assert_array_equal(scml.basis_, B)
    M = scml.get_mahalanobis_matrix()
    assert_allclose(M, np.diag(scml.weights_), atol=1e-12)


@pytest.mark.parametrize(("basis", "n_basis", "message"), [
    (np.eye(2), None, "basis must have shape (n_basis, 3) to match the 3 features of the "
                      "input; got shape (2, 2)"),
    (np.eye(3), 5, "n_basis=5 does not match the 3 rows of basis"),
])
def test_bad_array_basis(triplets, basis, n_basis, message):
    X, t = triplets
    assert_fails_cleanly(SCML(basis=basis, n_basis=n_basis), ValueError,
                         re.escape(message), X[t])


def test_lda_n_basis_too_large(toy):
    X, y = toy
    message = "n_basis=240 is too large for basis='lda' on 60 samples of 3 classes"
    assert_fails_cleanly(SCML_Supervised(n_basis=240), ValueError, re.escape(message), X, y)


def test_fewer_triplets_than_features_still_fit(rng):
    X = rng.normal(size=(4, 6))
    t = np.array([[0, 1, 2], [1, 0, 3]])
    scml = SCML(preprocessor=X, max_iter=500, random_state=0).fit(t)
    assert np.all(np.isfinite(scml.components_))
    # the basis spans the triplets' differences only: a metric of rank <= 4
    w = np.linalg.eigvalsh(scml.get_mahalanobis_matrix())
    assert np.sum(w > 1e-10 * w.max()) <= 4


def test_triplets_of_identical_points_raise():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="basis='triplet_diffs' needs triplets with distinct"):
        SCML(preprocessor=X).fit(np.array([[0, 1, 2]]))


def test_low_rank_metric_reduces_the_dimension(triplets):
    X, t = triplets
    B = np.array([[0.0, 1.0, 0.0]])
    with pytest.warns(UserWarning, match="reduces the dimension to 1"):
        scml = SCML(basis=B, max_iter=300, random_state=0).fit(X[t])
    assert scml.components_.shape == (1, 3)
    assert scml.transform(X).shape == (X.shape[0], 1)


# 3-NN test accuracy on standardised data, mean over the 70/30 stratified
# splits of seeds 0-4; metric-learn 0.7.0's SCML_Supervised at its defaults
# (random_state=0) measured by `python -m benchmarks parity`
METRIC_LEARN_KNN3 = {"iris": 0.9644, "wine": 0.9778, "breast_cancer": 0.9649,
                     "digits": 0.9789}


@pytest.mark.parametrize("name", sorted(METRIC_LEARN_KNN3))
def test_knn_accuracy_at_least_metric_learns(name):
    from test_lsml import _mean_knn3

    acc = _mean_knn3(lambda: SCML_Supervised(random_state=0), name)
    assert acc >= METRIC_LEARN_KNN3[name] - 0.01
