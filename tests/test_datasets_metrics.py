"""Xing's toy data (``make_xing_toy``) and his pairwise clustering accuracy."""

import itertools
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import InvalidParameterError

from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy

AXIS = {"y": 1, "z": 2}

# ---------------------------------------------------------------- datasets


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


# ----------------------------------------------------------------- metrics


def _brute_force_accuracy(labels_true, labels_pred, balanced):
    """Xing's accuracy by a loop over all pairs ``i < j``."""
    same_ok, same_n, diff_ok, diff_n = 0, 0, 0, 0
    for i, j in itertools.combinations(range(len(labels_true)), 2):
        same_true = labels_true[i] == labels_true[j]
        same_pred = labels_pred[i] == labels_pred[j]
        if same_true:
            same_n += 1
            same_ok += same_pred
        else:
            diff_n += 1
            diff_ok += not same_pred
    if not balanced:
        return (same_ok + diff_ok) / (same_n + diff_n)
    if same_n == 0:
        return diff_ok / diff_n
    if diff_n == 0:
        return same_ok / same_n
    return 0.5 * same_ok / same_n + 0.5 * diff_ok / diff_n


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize(
    ("n_true", "n_pred", "n"), [(2, 2, 30), (3, 3, 40), (4, 2, 25), (2, 5, 17)]
)
def test_accuracy_equals_brute_force(balanced, n_true, n_pred, n):
    rng = np.random.default_rng(n_true * 100 + n_pred * 10 + n)
    labels_true = rng.integers(n_true, size=n)
    labels_pred = rng.integers(n_pred, size=n)
    expected = _brute_force_accuracy(labels_true, labels_pred, balanced)
    got = pairwise_clustering_accuracy(labels_true, labels_pred, balanced=balanced)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("labels_true", "labels_pred"),
    [
        ([0, 0, 0, 0], [0, 1, 2, 3]),  # no different-class pair
        ([0, 0, 0, 0], [5, 5, 5, 5]),
        ([0, 1, 2, 3], [0, 0, 0, 0]),  # no same-class pair
        ([0, 1, 2, 3], [3, 2, 1, 0]),
        ([0, 0, 1, 2], [0, 1, 1, 1]),
    ],
)
@pytest.mark.parametrize("balanced", [True, False])
def test_accuracy_degenerate_labelings(labels_true, labels_pred, balanced):
    expected = _brute_force_accuracy(labels_true, labels_pred, balanced)
    got = pairwise_clustering_accuracy(labels_true, labels_pred, balanced=balanced)
    assert got == pytest.approx(expected, rel=1e-12)


def test_every_pair_judged_wrongly_scores_zero():
    assert pairwise_clustering_accuracy([0, 1, 2, 3], [7, 7, 7, 7]) == 0.0
    assert pairwise_clustering_accuracy([1, 1, 1], [0, 1, 2], balanced=True) == 0.0


def test_auto_balances_with_more_than_two_classes(rng):
    labels_true = rng.integers(3, size=30)
    labels_pred = rng.integers(3, size=30)
    assert pairwise_clustering_accuracy(labels_true, labels_pred) == (
        pairwise_clustering_accuracy(labels_true, labels_pred, balanced=True)
    )
    two = labels_true % 2
    assert pairwise_clustering_accuracy(two, labels_pred) == (
        pairwise_clustering_accuracy(two, labels_pred, balanced=False)
    )
    assert pairwise_clustering_accuracy(two, labels_pred, balanced=True) != (
        pairwise_clustering_accuracy(two, labels_pred, balanced=False)
    )


@pytest.mark.parametrize("balanced", [True, False, "auto"])
def test_perfect_and_permuted_clusterings_score_one(balanced, rng):
    labels = rng.integers(4, size=50)
    permuted = np.array([2, 0, 3, 1])[labels]
    names = np.array(["d", "a", "c", "b"])[labels]
    for pred in (labels, permuted, names, permuted + 10):
        assert pairwise_clustering_accuracy(labels, pred, balanced=balanced) == 1.0
    assert pairwise_clustering_accuracy(names, labels, balanced=balanced) == 1.0


def test_accuracy_is_symmetric_for_rand_index(rng):
    a = rng.integers(3, size=40)
    b = rng.integers(4, size=40)
    assert pairwise_clustering_accuracy(a, b, balanced=False) == pytest.approx(
        pairwise_clustering_accuracy(b, a, balanced=False)
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [0]), {}, "labels_true and labels_pred must be 1-D arrays of the "
                            "same length; got shapes (2,) and (1,)"),
        (([[0, 1]], [[0, 1]]), {}, "labels_true and labels_pred must be 1-D arrays "
                                   "of the same length; got shapes (1, 2) and (1, 2)"),
        (([0], [0]), {}, "at least 2 samples are needed to form a pair; got 1"),
        (([], []), {}, "at least 2 samples are needed to form a pair; got 0"),
        (([0, 1], [0, 1]), {"balanced": "yes"},
         "balanced must be True, False or 'auto'; got 'yes'"),
    ],
)
def test_accuracy_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pairwise_clustering_accuracy(*args, **kwargs)
