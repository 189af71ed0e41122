"""Xing's toy data (``make_xing_toy``): shapes and labels, determinism, the
classes apart along one axis with a wide spread along the others, Euclidean
k-means failing where k-means along the axis succeeds, and parameter errors.
(Xing's pairwise clustering accuracy is tested in test_cluster.py.)"""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import InvalidParameterError

from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy

AXIS = {"y": 1, "z": 2}

@pytest.mark.parametrize(
    ("n_samples", "n_classes"), [(2, 2), (3, 3), (7, 2), (7, 3), (100, 2), (100, 3)]
)
def test_make_xing_toy_shapes_and_labels(n_samples, n_classes):
    X, y = make_xing_toy(n_samples=n_samples, n_classes=n_classes, random_state=0)
    assert X.shape == (n_samples, 3) and X.dtype == np.float64
    assert y.shape == (n_samples,)
    assert np.all(np.isfinite(X))
    assert_array_equal(np.unique(y), np.arange(n_classes))
    counts = np.bincount(y, minlength=n_classes)
    assert counts.sum() == n_samples
    assert counts.max() - counts.min() <= 1


def test_make_xing_toy_is_deterministic():
    X1, y1 = make_xing_toy(n_samples=50, n_classes=3, random_state=4)
    X2, y2 = make_xing_toy(n_samples=50, n_classes=3, random_state=4)
    X3, _ = make_xing_toy(n_samples=50, n_classes=3, random_state=5)
    X4, _ = make_xing_toy(
        n_samples=50, n_classes=3, random_state=np.random.RandomState(4)
    )
    assert_array_equal(X1, X2)
    assert_array_equal(y1, y2)
    assert_array_equal(X1, X4)
    assert not np.allclose(X1, X3)


@pytest.mark.parametrize("separated_along", ["y", "z"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classes_are_separable_along_the_chosen_axis(n_classes, separated_along):
    X, y = make_xing_toy(
        n_samples=120, n_classes=n_classes, separated_along=separated_along,
        random_state=0,
    )
    axis = AXIS[separated_along]
    # sorted along the axis, the classes come in order, one block each
    assert_array_equal(y[np.argsort(X[:, axis])], np.sort(y))
    # ... and along no other axis
    for other in {0, 1, 2} - {axis}:
        assert not np.array_equal(y[np.argsort(X[:, other])], np.sort(y))


@pytest.mark.parametrize("separated_along", ["y", "z"])
def test_within_class_spread(separated_along):
    X, y = make_xing_toy(
        n_samples=3000, n_classes=3, separated_along=separated_along, random_state=0
    )
    axis = AXIS[separated_along]
    wide = [k for k in range(3) if k != axis]
    for c in range(3):
        std = X[y == c].std(axis=0)
        assert std[axis] == pytest.approx(0.5, rel=0.1)
        assert std[wide[0]] == pytest.approx(5.0, rel=0.1)
        assert std[wide[1]] == pytest.approx(2.5, rel=0.1)
    centres = [X[y == c, axis].mean() for c in range(3)]
    assert np.diff(centres) == pytest.approx([4.0, 4.0], abs=0.1)


@pytest.mark.parametrize("separated_along", ["y", "z"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_euclidean_kmeans_fails_axis_kmeans_succeeds(n_classes, separated_along, seed):
    X, y = make_xing_toy(
        n_samples=100, n_classes=n_classes, separated_along=separated_along,
        random_state=seed,
    )
    kmeans = KMeans(n_clusters=n_classes, n_init=10, random_state=0)
    euclidean = pairwise_clustering_accuracy(y, kmeans.fit_predict(X))
    along_axis = pairwise_clustering_accuracy(
        y, kmeans.fit_predict(X[:, [AXIS[separated_along]]])
    )
    assert euclidean < 0.75
    assert along_axis == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_classes": 4}, "The 'n_classes' parameter of make_xing_toy must be an "
                           "int in the range [2, 3]. Got 4 instead."),
        ({"n_classes": 1}, "The 'n_classes' parameter of make_xing_toy must be an "
                           "int in the range [2, 3]. Got 1 instead."),
        ({"separated_along": "x"}, "The 'separated_along' parameter of "
                                   "make_xing_toy must be a str among"),
        ({"n_samples": 1}, "The 'n_samples' parameter of make_xing_toy must be an "
                           "int in the range [2, inf). Got 1 instead."),
        ({"random_state": "seed"}, "The 'random_state' parameter of make_xing_toy"),
    ],
)
def test_make_xing_toy_errors(kwargs, message):
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        make_xing_toy(**kwargs)
