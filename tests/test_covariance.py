"""Covariance: the metric against a direct inverse (or pseudo-inverse) of the
covariance, the whitening it gives, the singular case, scikit-learn's
estimator checks, bad input, and 3-NN accuracy."""

import re
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from support import assert_fails_cleanly

from metriclearn._covariance import Covariance, covariance_metric
from metriclearn._linalg import components_from_metric


def _same_rows_up_to_sign(A, B, **tol):
    signs = np.sign(np.sum(A * B, axis=1))
    signs[signs == 0] = 1.0
    np.testing.assert_allclose(A * signs[:, None], B, **tol)


def test_metric_is_the_inverse_covariance(rng):
    X = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 4)) + 100.0
    L, rank = covariance_metric(X)
    assert rank == 4
    M = np.linalg.inv(np.cov(X, rowvar=False))
    np.testing.assert_allclose(L.T @ L, M, rtol=1e-9)
    cov = Covariance().fit(X)
    np.testing.assert_array_equal(cov.components_, L)
    np.testing.assert_allclose(cov.get_mahalanobis_matrix(), M, rtol=1e-9)
    # the rows components_from_metric gives M, up to their signs
    _same_rows_up_to_sign(L, components_from_metric(M), rtol=1e-8)
    rows = np.arange(4)
    assert np.all(L[rows, np.argmax(np.abs(L), axis=1)] > 0)
    # the transformed points have identity covariance
    np.testing.assert_allclose(np.cov(cov.transform(X), rowvar=False), np.eye(4), atol=1e-9)
    assert cov.n_iter_ == 0 and cov.converged_ and cov.objective_history_.shape == (0,)


def test_singular_covariance_uses_the_pseudo_inverse_silently(rng):
    X = rng.standard_normal((30, 3))
    X = np.hstack([X, np.full((30, 1), 2.0), X[:, :1] - 2 * X[:, 2:3]])
    L, rank = covariance_metric(X)
    assert rank == 3
    M = scipy.linalg.pinvh(np.cov(X, rowvar=False))
    np.testing.assert_allclose(L.T @ L, M, rtol=1e-8, atol=1e-10)
    _same_rows_up_to_sign(L[:3], components_from_metric(M)[:3], rtol=1e-7, atol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cov = Covariance().fit(X)
    L = cov.components_
    assert np.all(np.isfinite(L))
    np.testing.assert_array_equal(L[3:], 0.0)  # trailing zero rows
    # no weight on the constant feature nor on the dependent direction
    np.testing.assert_allclose(L[:, 3], 0.0, atol=1e-10 * np.abs(L).max())
    np.testing.assert_allclose(L @ [1.0, 0.0, -2.0, 0.0, -1.0], 0.0,
                               atol=1e-9 * np.abs(L).max())


def test_fewer_points_than_features_and_one_feature(rng):
    X = rng.standard_normal((4, 6))
    cov = Covariance().fit(X)
    assert np.linalg.matrix_rank(cov.components_) == 3
    np.testing.assert_allclose(cov.get_mahalanobis_matrix(),
                               np.linalg.pinv(np.cov(X, rowvar=False)), rtol=1e-8, atol=1e-10)
    x = rng.standard_normal((20, 1)) * 3.0
    L = Covariance().fit(x).components_
    np.testing.assert_allclose(L, [[1.0 / x.std(ddof=1)]], rtol=1e-12)


def test_y_is_ignored_and_preprocessor(rng):
    X = rng.standard_normal((20, 3))
    a = Covariance().fit(X).components_
    np.testing.assert_array_equal(Covariance().fit(X, np.arange(20)).components_, a)
    b = Covariance(preprocessor=X).fit(np.arange(20)).components_
    np.testing.assert_array_equal(a, b)


@parametrize_with_checks([Covariance()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_bad_input(rng):
    X = np.tile(rng.standard_normal((1, 3)), (5, 1))
    msg = ("X has no variance (every point is the same): its covariance is zero, and so "
           "is the covariance metric")
    assert_fails_cleanly(Covariance(), ValueError, re.escape(msg), X)
    fitted = Covariance().fit(rng.standard_normal((5, 3)))
    assert_fails_cleanly(fitted, ValueError, re.escape(msg), X)
    assert_fails_cleanly(Covariance(), ValueError, "minimum of 2 is required", X[:1])
    X = rng.standard_normal((5, 3))
    X[0, 0] = np.inf
    assert_fails_cleanly(Covariance(), ValueError, "Input X contains infinity", X)


# 3-NN test accuracy on standardised features (stratified 70/30 split, seed
# 0) of metric-learn 0.7.0's Covariance, measured with benchmarks/.venv-bench.
# The covariance metric is a baseline that learns nothing from the labels:
# it is below the Euclidean distance on three of these sets.
METRIC_LEARN_3NN = {"iris": 0.9333, "wine": 0.9444, "breast_cancer": 0.8129, "digits": 0.95}
LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer,
           "digits": load_digits}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_knn_accuracy_equals_metric_learn(name):
    X, y = LOADERS[name](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    cov = Covariance().fit(X_train)
    knn = KNeighborsClassifier(3).fit(cov.transform(X_train), y_train)
    assert knn.score(cov.transform(X_test), y_test) >= METRIC_LEARN_3NN[name] - 1e-4
