"""The measures of a representation (alignment, uniformity, recall@k,
MAP@R) against direct computations, blockwise as in one block, and the
retrieval scorer in a real grid search."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import metriclearn.metrics as measures
from metriclearn import NCA
from metriclearn.metrics import (
    alignment,
    make_retrieval_scorer,
    mean_average_precision_at_r,
    recall_at_k,
    uniformity,
)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that the blockwise paths are exercised."""
    monkeypatch.setattr(measures, "_BLOCK_ENTRIES", 7)


def _ranking(d):
    """Gallery indices by distance, ties by index (the documented order)."""
    return np.lexsort((np.arange(d.shape[0]), d))


def _direct_recall(X, y, k, G=None, yg=None):
    loo = G is None
    G, yg = (X, y) if loo else (G, yg)
    hits, counted = 0, 0
    for i in range(X.shape[0]):
        d = np.sum((G - X[i]) ** 2, axis=1)
        others = [j for j in _ranking(d) if not (loo and j == i)]
        if not any(yg[j] == y[i] for j in others):
            continue
        counted += 1
        hits += any(yg[j] == y[i] for j in others[:k])
    return hits / counted


def _direct_map_at_r(X, y, G=None, yg=None):
    loo = G is None
    G, yg = (X, y) if loo else (G, yg)
    aps = []
    for i in range(X.shape[0]):
        d = np.sum((G - X[i]) ** 2, axis=1)
        others = [j for j in _ranking(d) if not (loo and j == i)]
        R = sum(yg[j] == y[i] for j in others)
        if R == 0:
            continue
        rel = [yg[j] == y[i] for j in others[:R]]
        aps.append(sum(np.mean(rel[:r + 1]) for r in range(R) if rel[r]) / R)
    return float(np.mean(aps))


def _sphere(n, d, seed):
    Z = np.random.RandomState(seed).standard_normal((n, d))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


@pytest.mark.parametrize("alpha", [1, 2, 3.5])
def test_alignment_is_the_mean_powered_distance(alpha):
    a, b = _sphere(20, 4, 0), _sphere(20, 4, 1)
    want = np.mean([np.linalg.norm(a[i] - b[i]) ** alpha for i in range(20)])
    assert_allclose(alignment(a, b, alpha=alpha), want, rtol=1e-12)
    assert alignment(a, a) == 0.0


@pytest.mark.parametrize("t", [0.5, 2])
def test_uniformity_is_the_log_mean_potential_of_distinct_pairs(t, small_blocks):
    z = _sphere(15, 3, 2)
    pots = [np.exp(-t * np.sum((z[i] - z[j]) ** 2)) for i in range(15) for j in range(i + 1, 15)]
    assert_allclose(uniformity(z, t=t), np.log(np.mean(pots)), rtol=1e-12)


def test_uniformity_is_stable_on_small_and_duplicated_batches(small_blocks):
    assert uniformity([[0.3, 0.4], [0.3, 0.4]]) == 0.0
    assert uniformity(np.ones((5, 3))) == 0.0
    # points far apart: the potential underflows, the log-sum-exp does not
    assert_allclose(uniformity([[0.0], [100.0]], t=2), -2 * 100.0**2)
    # one pair at distance 0, two far apart (their potential is 0 in floats)
    assert_allclose(uniformity([[0.0], [100.0], [0.0]], t=1), np.log(1 / 3), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_recall_at_k_leave_one_out_matches_a_direct_computation(k, small_blocks):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    y = rng.randint(4, size=40)
    assert_allclose(recall_at_k(X, y, k=k), _direct_recall(X, y, k))


def test_recall_at_k_with_a_gallery_matches_a_direct_computation(small_blocks):
    rng = np.random.RandomState(1)
    X, G = rng.standard_normal((25, 2)), rng.standard_normal((30, 2))
    y, yg = rng.randint(5, size=25), rng.randint(4, size=30)  # class 4: no match
    for k in (1, 4):
        assert_allclose(recall_at_k(X, y, k=k, X_gallery=G, y_gallery=yg),
                        _direct_recall(X, y, k, G, yg))


def test_ties_and_duplicates_are_ranked_by_index():
    # the query (row 0) has two points at distance 1: row 1 (class 1) ranks
    # ahead of row 2 (class 0); its duplicate (row 3, class 2) is nearest
    X = np.array([[0.0], [1.0], [-1.0], [0.0]])
    y = np.array([0, 1, 0, 2])
    assert recall_at_k(X[:3], y[:3], k=1) == pytest.approx(
        _direct_recall(X[:3], y[:3], 1))
    assert _first_hit_of_query0(X[:3], y[:3], 1) is False
    assert _first_hit_of_query0(X[:3], y[:3], 2) is True
    # the duplicate is another point, at distance 0
    G, yg = X[1:], y[1:]
    assert recall_at_k(X[:1], [2], k=1, X_gallery=G, y_gallery=yg) == 1.0
    assert recall_at_k(X[:1], [0], k=2, X_gallery=G, y_gallery=yg) == 0.0


def _first_hit_of_query0(X, y, k):
    return bool(recall_at_k(X[:1], y[:1], k=k, X_gallery=X[1:], y_gallery=y[1:]) == 1.0)


def test_map_at_r_matches_a_direct_computation(small_blocks):
    rng = np.random.RandomState(2)
    X = rng.standard_normal((30, 2))
    y = rng.randint(3, size=30)
    assert_allclose(mean_average_precision_at_r(X, y), _direct_map_at_r(X, y))
    G, yg = rng.standard_normal((20, 2)), rng.randint(3, size=20)
    assert_allclose(mean_average_precision_at_r(X, y, X_gallery=G, y_gallery=yg),
                    _direct_map_at_r(X, y, G, yg))


def test_map_at_r_of_separated_classes_is_one_and_rewards_order():
    X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    assert mean_average_precision_at_r(X, [0, 0, 0, 1, 1, 1]) == 1.0
    # R = 1 and the class-mate ranks second: 0; with R = 2, at ranks 1 and 3
    # of 3: (1/1 + 2/3) / 2 over the first R = 2 only: (1 + 0) / 2
    gallery = [[1.0], [2.0], [3.0]]
    assert mean_average_precision_at_r([[0.0]], [0], X_gallery=gallery[:2],
                                       y_gallery=[1, 0]) == 0.0
    assert mean_average_precision_at_r([[0.0]], [0], X_gallery=gallery,
                                       y_gallery=[0, 1, 0]) == 0.5


@pytest.mark.parametrize(("call", "message"), [
    (lambda: recall_at_k([[0.0], [1.0]], [0, 0], k=2),
     "k must be an int in [1, 1] (the points a query can retrieve); got 2"),
    (lambda: recall_at_k([[0.0], [1.0]], [0, 1]),
     "no query has a point of its class to retrieve"),
    (lambda: recall_at_k([0.0, 1.0], [0, 1]),
     "X must be a 2-D array of embeddings; got shape (2,)"),
    (lambda: recall_at_k([[0.0], [1.0]], [0, 1, 1]),
     "y must be a 1-D array with one label per row (2); got shape (3,)"),
    (lambda: recall_at_k([[0.0]], [0], X_gallery=[[1.0]]),
     "X_gallery and y_gallery must be given together"),
    (lambda: uniformity([[0.0]]), "z needs at least 2 rows; got 1"),
    (lambda: uniformity([[0.0], [np.nan]]), "z contains NaN or infinity"),
    (lambda: alignment([[0.0]], [[0.0, 1.0]]),
     "z_a and z_b must have the same shape (row i of each is a pair); got (1, 1) and (1, 2)"),
    (lambda: alignment([[0.0]], [[1.0]], alpha=0), "alpha must be a positive number; got 0"),
    (lambda: make_retrieval_scorer("ndcg"),
     "measure must be one of ['mean_average_precision_at_r', 'recall_at_k']; got 'ndcg'"),
    (lambda: make_retrieval_scorer("recall_at_k", n=3), "recall_at_k takes k only; got ['n']"),
])
def test_errors_name_the_argument_and_value(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_the_scorer_ranks_a_grid_search_by_held_out_retrieval():
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), NCA(max_iter=50, random_state=0))
    cv = KFold(3, shuffle=True, random_state=0)
    scorer = make_retrieval_scorer("recall_at_k", k=1)
    search = GridSearchCV(pipe, {"nca__n_components": [1, 2, 13]}, scoring=scorer, cv=cv)
    search.fit(X, y)
    # each fold's score is recall@1 of the held-out fold, embedded by the
    # pipeline fitted on the others
    for c, k in enumerate((1, 2, 13)):
        for f, (train, test) in enumerate(cv.split(X, y)):
            fitted = make_pipeline(StandardScaler(), NCA(n_components=k, max_iter=50,
                                                         random_state=0)).fit(X[train], y[train])
            want = recall_at_k(fitted.transform(X[test]), y[test], k=1)
            assert_allclose(search.cv_results_[f"split{f}_test_score"][c], want)
    assert search.best_score_ > 0.9
    map_scorer = make_retrieval_scorer("mean_average_precision_at_r")
    assert 0 < map_scorer(search.best_estimator_, X, y) <= 1
    assert repr(scorer) == "make_retrieval_scorer('recall_at_k', k=1)"


def test_the_scorer_needs_a_transform():
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(1).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(ValueError, match="KNeighborsClassifier has none"):
        make_retrieval_scorer()(knn, [[0.0], [1.0]], [0, 1])


def test_recall_blocks_are_bounded_at_60000_points():
    # the block of queries at 60,000 gallery points holds at most 4 Mi entries
    starts = list(measures._blocks(60_000, 60_000))
    assert max(stop - start for start, stop in starts) * 60_000 <= measures._BLOCK_ENTRIES
    assert starts[-1][1] == 60_000


@pytest.mark.parametrize("k", [1, 2, 5])
def test_many_ties_are_broken_as_documented(k, small_blocks):
    # points on a coarse grid: most distances are tied, many points repeated
    rng = np.random.RandomState(4)
    X = rng.randint(3, size=(40, 2)).astype(float)
    y = rng.randint(3, size=40)
    assert_allclose(recall_at_k(X, y, k=k), _direct_recall(X, y, k))
    assert_allclose(mean_average_precision_at_r(X, y), _direct_map_at_r(X, y))
