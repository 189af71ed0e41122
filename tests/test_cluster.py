"""Clustering with side-information: ConstrainedKMeans (reduction to k-means,
constraints kept, the search for assignments under cannot-links, Xing's toy
experiment, contradictory and infeasible side-information) and the clustering
metrics, pair_constraint_satisfaction and Xing's pairwise_clustering_accuracy.
The search kernel's NumPy twin is in test_kernels.py; bad pairs and labels in
test_input_validation.py; the estimator checks in test_common.py."""

import itertools
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_wine, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from support import assert_fails_cleanly

import metriclearn.cluster as cluster_module
from metriclearn import MMC, Constraints
from metriclearn._kernels.cluster import GAVE_UP, INFEASIBLE, OK, search_components
from metriclearn.cluster import ConstrainedKMeans
from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pair_constraint_satisfaction, pairwise_clustering_accuracy


@pytest.fixture
def blobs():
    X, _ = make_blobs(n_samples=120, centers=3, cluster_std=1.0, random_state=0)
    return X


def _dissimilar_heavy(seed, n_samples=12, n_pairs=25):
    """Random points with many dissimilar pairs drawn from 3 random classes
    (so that an assignment to 3 clusters keeping them apart exists)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 2))
    y = rng.integers(3, size=n_samples)
    pairs, labels = Constraints(y).pairs(n_pairs, random_state=seed)
    return X, pairs[labels == -1], labels[labels == -1]


# ------------------------------------------------------------ the estimator


def test_clone_and_params():
    est = ConstrainedKMeans(4, keep_dissimilar_apart=False, init="random", n_init=3,
                            max_iter=50, tol=0.0, random_state=7)
    params = est.get_params()
    assert params == {
        "n_clusters": 4, "keep_dissimilar_apart": False, "init": "random", "n_init": 3,
        "max_iter": 50, "tol": 0.0, "random_state": 7,
    }
    copy = clone(est)
    assert copy is not est and copy.get_params() == params
    assert clone(est.set_params(n_clusters=2)).n_clusters == 2


def test_fitted_attributes_and_predict(blobs):
    est = ConstrainedKMeans(3, random_state=0)
    labels = est.fit_predict(blobs, pairs=[[0, 1], [2, 3]], pair_labels=[1, -1])
    assert_array_equal(labels, est.labels_)
    assert est.cluster_centers_.shape == (3, 2)
    assert est.n_features_in_ == 2
    assert isinstance(est.inertia_, float) and isinstance(est.n_iter_, int)
    # centres are the means of their points, inertia the cost of the labels
    for j in range(3):
        assert_allclose(est.cluster_centers_[j], blobs[labels == j].mean(axis=0))
    assert est.inertia_ == pytest.approx(
        np.sum((blobs - est.cluster_centers_[labels]) ** 2), rel=1e-12
    )
    # predict: nearest centre, no constraints
    nearest = np.argmin(
        ((blobs[:, None, :] - est.cluster_centers_[None]) ** 2).sum(-1), axis=1
    )
    assert_array_equal(est.predict(blobs), nearest)


# -------------------------------------------------- reduction to k-means


@pytest.mark.parametrize("data", ["blobs", "wine"])
@pytest.mark.parametrize("n_clusters", [3, 5])
def test_without_pairs_is_kmeans(data, n_clusters, blobs):
    X = blobs if data == "blobs" else load_wine(return_X_y=True)[0]
    ours = ConstrainedKMeans(n_clusters, random_state=0).fit(X)
    ref = KMeans(n_clusters, n_init=10, random_state=0).fit(X)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)
    assert adjusted_rand_score(ours.labels_, ref.labels_) == pytest.approx(1.0)
    # empty pairs are no pairs; random starts reach a local optimum about as good
    empty = ConstrainedKMeans(n_clusters, random_state=0).fit(
        X, pairs=np.empty((0, 2), dtype=int)
    )
    assert_array_equal(empty.labels_, ours.labels_)
    rand = ConstrainedKMeans(n_clusters, init="random", random_state=0).fit(X)
    assert rand.inertia_ == pytest.approx(ref.inertia_, rel=0.02)


def test_given_centres_start_one_run(blobs):
    start = blobs[:3].copy()
    ours = ConstrainedKMeans(3, init=start).fit(blobs)
    ref = KMeans(3, init=start, n_init=1).fit(blobs)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
    assert_array_equal(ours.labels_, ref.labels_)
    assert_array_equal(start, blobs[:3])  # not written into


# -------------------------------------------------------- the constraints


def test_similar_pairs_share_a_cluster_transitively(blobs):
    # a chain across the three blobs: 0 - 40 - 80, and another 1 - 41
    plain = ConstrainedKMeans(3, random_state=0).fit(blobs).labels_
    a, b, c = (np.flatnonzero(plain == j)[0] for j in range(3))
    pairs = np.array([[a, b], [b, c]])
    labels = ConstrainedKMeans(3, random_state=0).fit_predict(blobs, pairs=pairs)
    assert labels[a] == labels[b] == labels[c]


@pytest.mark.parametrize("seed", range(5))
def test_random_similar_pairs_always_satisfied(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    pairs = rng.integers(60, size=(25, 2))
    labels = ConstrainedKMeans(4, random_state=seed).fit_predict(X, pairs=pairs)
    assert pair_constraint_satisfaction(pairs, None, labels) == 1.0


def test_chunklet_moves_as_its_weighted_mean():
    # a chunklet of 3 points behaves as one point of weight 3 at its mean:
    # with the 3 far points bound together, their mean joins the near group
    X = np.array([[0.0], [1.0], [2.0], [10.0], [-6.0], [30.0]])
    pairs = [[3, 4], [4, 5]]  # mean 11.33, weight 3
    est = ConstrainedKMeans(2, random_state=0).fit(X, pairs=pairs)
    assert len(set(est.labels_[3:])) == 1
    assert est.labels_[0] == est.labels_[1] == est.labels_[2] != est.labels_[3]
    assert_allclose(sorted(est.cluster_centers_.ravel()), [1.0, 34.0 / 3.0])


def test_dissimilar_pairs_kept_apart(blobs):
    plain = ConstrainedKMeans(3, random_state=0).fit(blobs).labels_
    same = np.flatnonzero(plain == plain[0])[:6]
    pairs = np.array([[same[0], same[1]], [same[2], same[3]], [same[4], same[5]]])
    y = -np.ones(3, dtype=int)
    apart = ConstrainedKMeans(3, random_state=0).fit_predict(blobs, pairs=pairs, pair_labels=y)
    assert pair_constraint_satisfaction(pairs, y, apart) == 1.0
    ignored = ConstrainedKMeans(3, keep_dissimilar_apart=False, random_state=0).fit_predict(
        blobs, pairs=pairs, pair_labels=y
    )
    assert_array_equal(ignored, plain)


@pytest.mark.parametrize("seed", range(25))
def test_dense_dissimilar_pairs_kept_apart(seed):
    # many dissimilar pairs among few points: the greedy placement often
    # needs to backtrack, and every dissimilar pair must still be apart
    X, pairs, y = _dissimilar_heavy(seed)
    labels = ConstrainedKMeans(3, n_init=2, random_state=0).fit_predict(
        X, pairs=pairs, pair_labels=y
    )
    assert pair_constraint_satisfaction(pairs, y, labels) == 1.0


def test_search_succeeds_and_gives_up(monkeypatch):
    statuses = []
    search = cluster_module.search_components

    def recording(*args):
        labels, status = search(*args)
        statuses.extend((int(st), args[-1]) for st in status)
        return labels, status

    monkeypatch.setattr(cluster_module, "search_components", recording)
    X, pairs, y = _dissimilar_heavy(13)
    ConstrainedKMeans(3, n_init=1, random_state=13).fit(X, pairs=pairs, pair_labels=y)
    assert statuses and all(status == OK for status, _ in statuses)
    # with no room to search, the runs fall back on feasible assignments
    monkeypatch.setattr(cluster_module, "_run_steps", lambda sizes: 0 * sizes)
    statuses.clear()
    for seed in range(10):
        X, pairs, y = _dissimilar_heavy(seed)
        labels = ConstrainedKMeans(3, n_init=1, random_state=0).fit_predict(
            X, pairs=pairs, pair_labels=y
        )
        assert pair_constraint_satisfaction(pairs, y, labels) == 1.0
    assert (GAVE_UP, False) in statuses


# ------------------------------------------------------ the search kernel


def _random_graph(rng, s, density):
    edges = [e for e in itertools.combinations(range(s), 2) if rng.random() < density]
    neighbours = [[] for _ in range(s)]
    for u, v in edges:
        neighbours[u].append(v)
        neighbours[v].append(u)
    return edges, neighbours


def _kernel_one_component(cost, weight, neighbours, max_steps, interchangeable):
    s = cost.shape[0]
    indptr = np.concatenate([[0], np.cumsum([len(nb) for nb in neighbours])]).astype(np.intp)
    indices = np.array([u for nb in neighbours for u in nb], dtype=np.intp)
    labels, status = search_components(
        np.ascontiguousarray(cost, dtype=float), np.asarray(weight, dtype=np.intp),
        np.arange(s, dtype=np.intp), np.array([0, s], dtype=np.intp), indptr, indices,
        np.array([max_steps], dtype=np.intp), interchangeable,
    )
    return (labels if status[0] == OK else None), int(status[0])


def test_search_kernel_handles_components_separately():
    # component 0 (a triangle) cannot take 2 clusters, component 1 (a path) can
    cost = np.zeros((5, 2))
    order = np.arange(5, dtype=np.intp)
    comp_ptr = np.array([0, 3, 5], dtype=np.intp)
    indptr = np.array([0, 2, 4, 6, 7, 8], dtype=np.intp)
    indices = np.array([1, 2, 0, 2, 0, 1, 4, 3], dtype=np.intp)
    labels, status = search_components(
        cost, np.ones(5, dtype=np.intp), order, comp_ptr, indptr, indices,
        np.array([100, 100], dtype=np.intp), True,
    )
    assert_array_equal(status, [INFEASIBLE, OK])
    assert_array_equal(labels[:3], -1)
    assert labels[3] != labels[4]


def test_search_is_exact_on_small_graphs():
    # the kernel finds an assignment exactly when one exists (brute force)
    rng = np.random.default_rng(0)
    for _ in range(40):
        s, k = 7, int(rng.integers(2, 4))
        edges, neighbours = _random_graph(rng, s, 0.45)
        exists = any(
            all(c[u] != c[v] for u, v in edges)
            for c in itertools.product(range(k), repeat=s)
        )
        # cluster indices as costs (the feasibility check), and distances
        # (the assignment step: no symmetry to break, the search backtracks)
        for cost, interchangeable in [
            (np.tile(np.arange(k, dtype=float), (s, 1)), True),
            (rng.random((s, k)), False),
        ]:
            found, status = _kernel_one_component(
                cost, rng.integers(1, 4, size=s), neighbours, 10**6, interchangeable
            )
            assert status == (OK if exists else INFEASIBLE)
            if exists:
                assert all(found[u] != found[v] for u, v in edges)


def test_is_deterministic():
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=0)
    pairs, pair_labels = Constraints(y).pairs(30, random_state=0)
    fits = [
        ConstrainedKMeans(3, init=init, random_state=seed).fit(
            X, pairs=pairs, pair_labels=pair_labels
        )
        for init in ("k-means++", "random")
        for seed in (0, 0, np.random.RandomState(0))
    ]
    for first, *others in (fits[:3], fits[3:]):
        for other in others:
            assert_array_equal(other.labels_, first.labels_)
            assert_array_equal(other.cluster_centers_, first.cluster_centers_)
            assert other.inertia_ == first.inertia_


def test_cycling_run_stops_without_warning():
    # seed 1 with 20 pairs of each kind makes an assignment cycle
    X, y = make_xing_toy(n_samples=100, n_classes=3, random_state=1)
    pairs, pair_labels = Constraints(y).pairs(20, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ConstrainedKMeans(3, random_state=0).fit(X, pairs=pairs, pair_labels=pair_labels)
    assert est.n_iter_ < 300
    assert pair_constraint_satisfaction(pairs, pair_labels, est.labels_) == 1.0


def test_warns_at_max_iter(blobs):
    with pytest.warns(ConvergenceWarning, match=re.escape(
        "ConstrainedKMeans stopped at max_iter=1 before the assignment settled"
    )):
        ConstrainedKMeans(3, max_iter=1, n_init=1, random_state=0).fit(blobs)


# ------------------------------------------------- Xing's toy experiment


@pytest.mark.parametrize(("n_classes", "n_constraints"), [(2, 50), (3, 75)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_side_information_and_learned_metric_help(n_classes, n_constraints, seed):
    X, y = make_xing_toy(n_samples=150, n_classes=n_classes, separated_along="y",
                         random_state=seed)
    pairs, pair_labels = Constraints(y).pairs(n_constraints, random_state=seed)
    plain = pairwise_clustering_accuracy(
        y, KMeans(n_classes, n_init=10, random_state=0).fit_predict(X)
    )
    constrained = pairwise_clustering_accuracy(
        y, ConstrainedKMeans(n_classes, random_state=0).fit_predict(
            X, pairs=pairs, pair_labels=pair_labels)
    )
    X_learned = MMC(preprocessor=X, random_state=0).fit(pairs, pair_labels).transform(X)
    learned = pairwise_clustering_accuracy(
        y, ConstrainedKMeans(n_classes, random_state=0).fit_predict(
            X_learned, pairs=pairs, pair_labels=pair_labels)
    )
    assert constrained > plain + 0.005
    assert learned >= constrained
    assert learned > 0.99


# ------------------------------------------- side-information that fails

X10 = np.arange(20.0).reshape(10, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pairs": [[0, 1], [1, 2], [2, 0]], "pair_labels": [1, 1, -1]},
         "pair_labels: pair 2 (points 2 and 0) is labelled dissimilar (-1), but similar "
         "pairs join the two points (2 - 1 - 0): the side-information is contradictory"),
        ({"pairs": [[3, 3]], "pair_labels": [-1]},
         "pair_labels: pair 0 is labelled dissimilar (-1) but joins point 3 to itself"),
        ({"pairs": [[0, 1], [1, 2], [0, 2], [7, 8]], "pair_labels": [-1, -1, -1, -1]},
         "keep_dissimilar_apart=True, but the dissimilar pairs cannot be kept apart: no "
         "assignment to n_clusters=2 clusters keeps apart the chunklets of points "
         "[0, 1, 2], which dissimilar pairs join. Use more clusters, fewer dissimilar "
         "pairs, or keep_dissimilar_apart=False"),
    ],
)
def test_side_information_that_cannot_be_kept(kwargs, message):
    fitted = ConstrainedKMeans(2, random_state=0).fit(X10)
    for est in (ConstrainedKMeans(2, random_state=0), fitted):
        assert_fails_cleanly(est, ValueError, re.escape(message), X10, **kwargs)


def test_infeasible_names_the_component_after_similar_pairs():
    # similar pairs merge 0-5 and 1-6; then 0, 1, 2 are pairwise dissimilar
    pairs = [[0, 5], [1, 6], [5, 1], [6, 2], [2, 0]]
    labels = [1, 1, -1, -1, -1]
    with pytest.raises(ValueError, match=re.escape(
        "keeps apart the chunklets of points [0, 1, 2], which dissimilar pairs join"
    )):
        ConstrainedKMeans(2).fit(X10, pairs=pairs, pair_labels=labels)
    # three clusters are enough, and without the cannot-links any number is
    ConstrainedKMeans(3, random_state=0).fit(X10, pairs=pairs, pair_labels=labels)
    ConstrainedKMeans(2, keep_dissimilar_apart=False).fit(X10, pairs=pairs, pair_labels=labels)


def test_long_infeasible_component_is_shortened():
    # an odd cycle of 13 chunklets cannot be split into 2 clusters
    pairs = np.stack([np.arange(13), (np.arange(13) + 1) % 13], axis=1)
    X = np.arange(26.0).reshape(13, 2)
    with pytest.raises(ValueError, match=re.escape(
        "keeps apart the chunklets of points [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (10 of 13 "
        "shown), which dissimilar pairs join"
    )):
        ConstrainedKMeans(2).fit(X, pairs=pairs, pair_labels=-np.ones(13))
    ConstrainedKMeans(3, random_state=0).fit(X, pairs=pairs, pair_labels=-np.ones(13))


@pytest.mark.parametrize(
    ("n_clusters", "kwargs", "message"),
    [
        (11, {}, "n_clusters=11 is larger than the number of samples, n_samples=10"),
        (9, {"pairs": [[0, 1], [2, 3]]},
         "n_clusters=9 is larger than the number of chunklets, 8: the similar pairs join "
         "the n_samples=10 points into 8 groups, each of which goes into one cluster whole"),
    ],
)
def test_too_many_clusters(n_clusters, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ConstrainedKMeans(n_clusters).fit(X10, **kwargs)
    # as many clusters as chunklets is fine
    ConstrainedKMeans(n_clusters - 1, random_state=0).fit(X10, **kwargs)


def test_bad_init_array():
    message = "init must have shape (n_clusters, n_features) = (2, 2); got shape (3, 2)"
    for est in (ConstrainedKMeans(2), ConstrainedKMeans(2, random_state=0).fit(X10)):
        assert_fails_cleanly(est.set_params(init=np.zeros((3, 2))), ValueError,
                             re.escape(message), X10)


# ------------------------------------------------- constraint satisfaction


def _brute_satisfaction(pairs, pair_labels, labels_pred, kind):
    ok, n = 0, 0
    for (i, j), s in zip(pairs, pair_labels, strict=True):
        if kind == "similar" and s != 1 or kind == "dissimilar" and s != -1:
            continue
        n += 1
        ok += (labels_pred[i] == labels_pred[j]) == (s == 1)
    return ok / n


@pytest.mark.parametrize("kind", ["all", "similar", "dissimilar"])
def test_satisfaction_matches_brute_force(kind, rng):
    labels_pred = rng.integers(3, size=30)
    pairs = rng.integers(30, size=(50, 2))
    pair_labels = rng.choice([-1, 1], size=50)
    got = pair_constraint_satisfaction(pairs, pair_labels, labels_pred, kind=kind)
    assert isinstance(got, float)
    assert got == pytest.approx(_brute_satisfaction(pairs, pair_labels, labels_pred, kind))


def test_satisfaction_values():
    pairs = [[0, 1], [2, 3], [0, 2], [1, 3]]
    assert pair_constraint_satisfaction(pairs, [1, 1, -1, -1], [0, 0, 1, 1]) == 1.0
    assert pair_constraint_satisfaction(pairs, [1, 1, -1, -1], [0, 0, 0, 0]) == 0.5
    assert pair_constraint_satisfaction(pairs, None, ["a", "a", "b", "b"]) == 0.5
    assert pair_constraint_satisfaction(pairs, [1, 1, -1, -1], [0, 1, 2, 3],
                                        kind="similar") == 0.0
    assert pair_constraint_satisfaction(pairs, [1, 1, -1, -1], [0, 1, 2, 3],
                                        kind="dissimilar") == 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([[0, 1]], [1], [0, 0]), {"kind": "both"},
         "kind must be 'all', 'similar' or 'dissimilar'; got 'both'"),
        (([[0, 1]], [1], [[0, 0]]), {},
         "labels_pred must be a 1-D array of cluster labels; got shape (1, 2)"),
        (([[0, 1]], [1], [0, 0]), {"kind": "dissimilar"},
         "pair_labels holds no dissimilar (-1) pair to measure with kind='dissimilar'"),
        (([[0, 1]], [-1], [0, 0]), {"kind": "similar"},
         "pair_labels holds no similar (+1) pair to measure with kind='similar'"),
    ],
)
def test_satisfaction_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pair_constraint_satisfaction(*args, **kwargs)


# --------------------------------------------- Xing's pairwise accuracy


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
