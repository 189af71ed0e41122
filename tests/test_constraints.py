"""Constraints drawn from class labels: pairs, chunks and k-NN triplets."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import chisquare

from metriclearn import Constraints

# 4 classes of unequal sizes (the last one smallest), 3 unlabeled points
LABELS = np.array([0] * 6 + [1] * 9 + [-1] * 3 + [2] * 5 + [3] * 3)


def _pairs_set(a, b):
    return set(zip(a.tolist(), b.tolist(), strict=True))


# ------------------------------------------------------------------- pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_positive_and_negative_pairs_semantics(seed):
    c = Constraints(LABELS)
    a, b, cc, d = c.positive_negative_pairs(30, random_state=seed)
    assert a.shape == b.shape == (30,)
    assert cc.shape == d.shape == (30,)
    assert_array_equal(LABELS[a], LABELS[b])
    assert np.all(LABELS[cc] != LABELS[d])
    assert np.all(a != b) and np.all(cc != d)
    for idx in (a, b, cc, d):
        assert np.all(LABELS[idx] != -1)
    assert len(_pairs_set(a, b)) == 30
    assert len(_pairs_set(cc, d)) == 30


def test_pairs_form_matches_positive_negative_pairs():
    c = Constraints(LABELS)
    a, b, cc, d = c.positive_negative_pairs(20, random_state=3)
    pairs, y = c.pairs(20, random_state=3)
    assert pairs.shape == (40, 2)
    assert_array_equal(pairs[:20], np.stack([a, b], axis=1))
    assert_array_equal(pairs[20:], np.stack([cc, d], axis=1))
    assert_array_equal(y, [1] * 20 + [-1] * 20)


def test_pairs_are_deterministic_with_random_state():
    c = Constraints(LABELS)
    first = c.positive_negative_pairs(25, random_state=7)
    second = c.positive_negative_pairs(25, random_state=7)
    other = c.positive_negative_pairs(25, random_state=8)
    for x, y in zip(first, second, strict=True):
        assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))
    rs = np.random.RandomState(7)
    for x, y in zip(first, c.positive_negative_pairs(25, random_state=rs), strict=True):
        assert_array_equal(x, y)


def test_warns_when_not_enough_pairs():
    # at most 4 ordered similar pairs and 8 ordered dissimilar ones exist
    c = Constraints([0, 0, 1, 1])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        a, b, cc, d = c.positive_negative_pairs(10, random_state=0)
    messages = [str(w.message) for w in record]
    assert messages == [
        "Only generated 4 positive constraints (requested 10)",
        "Only generated 8 negative constraints (requested 10)",
    ]
    # the warning points at the caller, not inside the package
    assert all(w.filename == __file__ for w in record)
    assert _pairs_set(a, b) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert len(_pairs_set(cc, d)) == 8
    with pytest.warns(UserWarning, match=r"Only generated") as record:
        c.pairs(10, random_state=0)
    assert len(record) == 2
    assert all(w.filename == __file__ for w in record)


@pytest.mark.parametrize("seed", range(5))
def test_every_existing_pair_is_found_near_saturation(seed):
    labels = np.repeat([0, 1], 10)  # 180 ordered similar pairs, 200 dissimilar
    c = Constraints(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b, cc, d = c.positive_negative_pairs(180, random_state=seed)
    assert len(_pairs_set(a, b)) == 180
    assert len(_pairs_set(cc, d)) == 180
    with pytest.warns(UserWarning) as record:
        a, b, cc, d = c.positive_negative_pairs(201, random_state=seed)
    assert [str(w.message) for w in record] == [
        "Only generated 180 positive constraints (requested 201)",
        "Only generated 200 negative constraints (requested 201)",
    ]
    assert len(_pairs_set(a, b)) == 180
    assert len(_pairs_set(cc, d)) == 200


def test_same_length_truncates():
    c = Constraints([0, 0, 1, 1])
    with pytest.warns(UserWarning, match="Only generated"):
        a, b, cc, d = c.positive_negative_pairs(10, same_length=True, random_state=0)
    assert a.shape == b.shape == cc.shape == d.shape == (4,)


def test_no_pairs_possible():
    with pytest.warns(UserWarning, match=re.escape("Only generated 0 positive")):
        a, b, cc, d = Constraints([0, 1, 2]).positive_negative_pairs(3, random_state=0)
    assert a.shape == b.shape == (0,)
    assert cc.shape == (3,)
    with pytest.warns(UserWarning, match=re.escape("Only generated 0 negative")):
        a, b, cc, d = Constraints([5, 5, 5]).positive_negative_pairs(3, random_state=0)
    assert cc.shape == d.shape == (0,)
    assert a.shape == (3,)


def test_every_class_is_drawn_in_pairs():
    c = Constraints(LABELS)
    a, b, cc, d = c.positive_negative_pairs(60, random_state=0)
    assert set(LABELS[a].tolist()) == {0, 1, 2, 3}
    assert set(LABELS[cc].tolist()) | set(LABELS[d].tolist()) == {0, 1, 2, 3}


def test_negative_labels_other_than_unlabeled_are_classes():
    labels = np.array([-2, -2, -2, 0, 0, 0, -1, -1])
    c = Constraints(labels)  # unlabeled=-1: 12 similar pairs exist
    a, b, cc, d = c.positive_negative_pairs(12, random_state=0)
    assert len(_pairs_set(a, b)) == 12
    assert -2 in set(labels[a].tolist())
    assert -1 not in set(labels[np.concatenate([a, b, cc, d])].tolist())
    c = Constraints(labels, unlabeled=-2)
    a, b, cc, d = c.positive_negative_pairs(4, random_state=0)
    used = set(labels[np.concatenate([a, b, cc, d])].tolist())
    assert used == {-1, 0}


def test_unlabeled_none_makes_every_value_a_class():
    labels = np.array([-1, -1, -1, 0, 0, 0])
    c = Constraints(labels, unlabeled=None)
    a, b, cc, d = c.positive_negative_pairs(10, random_state=0)
    assert -1 in set(labels[a].tolist())
    assert np.all(labels[cc] != labels[d])
    with pytest.warns(UserWarning, match="Only generated 0 negative"):
        Constraints(labels).positive_negative_pairs(3, random_state=0)


@pytest.mark.parametrize("unlabeled", ["?", -1])
def test_string_labels(unlabeled):
    labels = np.array(["cat", "dog", "cat", "?", "bird", "dog", "bird", "cat"])
    c = Constraints(labels, unlabeled=unlabeled)
    a, b, cc, d = c.positive_negative_pairs(6, random_state=0)
    assert_array_equal(labels[a], labels[b])
    assert np.all(labels[cc] != labels[d])
    used = set(labels[np.concatenate([a, b, cc, d])].tolist())
    assert ("?" in used) == (unlabeled != "?")


def test_partial_labels_must_be_one_dimensional():
    with pytest.raises(
        ValueError, match=re.escape("partial_labels must be 1-dimensional; got shape (2, 2)")
    ):
        Constraints([[0, 1], [1, 0]])


@pytest.mark.parametrize("bad", [0, -3, 2.5, "5", True])
def test_n_constraints_must_be_a_positive_integer(bad):
    with pytest.raises(
        ValueError, match=re.escape(f"n_constraints must be a positive integer; got {bad!r}")
    ):
        Constraints(LABELS).positive_negative_pairs(bad)


def _first_points(same_label, n_draws=300, n_constraints=8):
    labels = np.array([0] * 4 + [1] * 12 + [2] * 24 + [3] + [-1] * 2)
    c = Constraints(labels)
    firsts = []
    for seed in range(n_draws):
        a, _, cc, _ = c.positive_negative_pairs(n_constraints, random_state=seed)
        firsts.append(a if same_label else cc)
    return labels, np.concatenate(firsts)


@pytest.mark.parametrize("same_label", [True, False], ids=["similar", "dissimilar"])
def test_first_point_is_uniform_over_eligible_points(same_label):
    labels, first = _first_points(same_label)
    if same_label:  # points with a partner of the same class (not the singleton)
        eligible = np.flatnonzero((labels != -1) & (labels != 3))
    else:
        eligible = np.flatnonzero(labels != -1)
    assert set(first.tolist()) == set(eligible.tolist())
    counts = np.bincount(first, minlength=labels.shape[0])[eligible]
    # a generous bound: a first point drawn per class, or per partner, would
    # give p-values below 1e-30 here
    assert chisquare(counts).pvalue > 1e-3


# ------------------------------------------------------------------ chunks


@pytest.mark.parametrize(("n_chunks", "chunk_size"), [(4, 2), (9, 2), (5, 3), (2, 5)])
def test_chunks_semantics(n_chunks, chunk_size):
    chunks = Constraints(LABELS).chunks(
        n_chunks=n_chunks, chunk_size=chunk_size, random_state=0
    )
    assert chunks.shape == LABELS.shape
    assert np.all(chunks[LABELS == -1] == -1)
    in_chunk = chunks[chunks != -1]
    assert_array_equal(np.unique(in_chunk), np.arange(n_chunks))
    # disjoint chunks of chunk_size points, one label each
    assert_array_equal(np.bincount(in_chunk), [chunk_size] * n_chunks)
    for k in range(n_chunks):
        assert np.unique(LABELS[chunks == k]).shape[0] == 1


def test_chunks_can_use_every_class_fully():
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    chunks = Constraints(labels).chunks(n_chunks=6, chunk_size=2, random_state=0)
    assert np.all(chunks >= 0)
    per_class = {cls: np.unique(chunks[labels == cls]).shape[0] for cls in (0, 1, 2)}
    assert per_class == {0: 2, 1: 2, 2: 2}


def test_chunks_pick_every_class_including_the_last():
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    c = Constraints(labels)
    picked = [
        labels[c.chunks(n_chunks=1, chunk_size=2, random_state=seed) == 0][0]
        for seed in range(60)
    ]
    counts = np.bincount(picked, minlength=3)
    assert np.all(counts >= 10)  # each class about 20 times


def test_chunks_deterministic_with_random_state():
    c = Constraints(LABELS)
    assert_array_equal(
        c.chunks(n_chunks=5, random_state=3), c.chunks(n_chunks=5, random_state=3)
    )
    assert not np.array_equal(
        c.chunks(n_chunks=5, random_state=3), c.chunks(n_chunks=5, random_state=4)
    )


def test_too_many_chunks_error():
    labels = np.array([0] * 5 + [1] * 3 + [-1] * 4)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Not enough possible chunks of 2 elements in each class to form "
            "expected 4 chunks - maximum number of chunks is 3"
        ),
    ):
        Constraints(labels).chunks(n_chunks=4, chunk_size=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_chunks": 0}, "n_chunks must be a positive integer; got 0"),
        ({"chunk_size": -1}, "chunk_size must be a positive integer; got -1"),
        ({"chunk_size": 2.0}, "chunk_size must be a positive integer; got 2.0"),
    ],
)
def test_chunk_parameter_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Constraints(LABELS).chunks(**kwargs)


# ---------------------------------------------------------------- triplets


def _brute_force_triplets(X, labels, kg, ki, unlabeled=-1):
    known = np.flatnonzero(labels != unlabeled)
    out = set()
    for a in known:
        dist = np.linalg.norm(X - X[a], axis=1)
        same = [i for i in known if labels[i] == labels[a] and i != a]
        other = [i for i in known if labels[i] != labels[a]]
        genuine = sorted(same, key=lambda i: dist[i])[:kg]
        impostors = sorted(other, key=lambda i: dist[i])[:ki]
        out |= {(a, g, i) for g in genuine for i in impostors}
    return out


@pytest.mark.parametrize(("k_genuine", "k_impostor"), [(1, 1), (2, 3), (3, 1)])
def test_knn_triplets_are_the_nearest_neighbours(k_genuine, k_impostor, rng):
    labels = np.array([0] * 7 + [1] * 8 + [2] * 6 + [-1] * 4)
    X = rng.normal(size=(labels.shape[0], 3))
    triplets = Constraints(labels).generate_knntriplets(X, k_genuine, k_impostor)
    assert triplets.shape == (21 * k_genuine * k_impostor, 3)
    a, g, i = triplets.T
    assert_array_equal(labels[a], labels[g])
    assert np.all(labels[a] != labels[i])
    assert np.all(a != g)
    assert np.all(labels[triplets] != -1)
    found = set(map(tuple, triplets.tolist()))
    assert len(found) == triplets.shape[0]
    assert found == _brute_force_triplets(X, labels, k_genuine, k_impostor)


def test_knn_triplets_warn_for_small_classes(rng):
    labels = np.array([0] * 6 + [1] * 2 + [2] * 5)
    X = rng.normal(size=(labels.shape[0], 2))
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "The class 1 has 2 elements, which is not sufficient to generate 4 "
            "genuine neighbors as specified by k_genuine. Will generate 1 genuine "
            "neighbors instead."
        ),
    ):
        triplets = Constraints(labels).generate_knntriplets(X, 3, 1)
    counts = np.bincount(labels[triplets[:, 0]])
    # classes 0 and 2: 3 genuine neighbours per point; class 1: only 1
    assert_array_equal(counts, [6 * 3, 2 * 1, 5 * 3])
    assert set(map(tuple, triplets.tolist())) == _brute_force_triplets(X, labels, 3, 1)


def test_knn_triplets_warn_for_few_impostors(rng):
    labels = np.array([0] * 9 + [1] * 3)
    X = rng.normal(size=(12, 2))
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "The class 0 has 3 elements of other classes, which is not sufficient "
            "to generate 5 impostor neighbors as specified by k_impostor. Will "
            "generate 3 impostor neighbors instead."
        ),
    ):
        triplets = Constraints(labels).generate_knntriplets(X, 1, 5)
    assert set(map(tuple, triplets.tolist())) == _brute_force_triplets(X, labels, 1, 5)


def test_knn_triplets_bad_x():
    with pytest.raises(
        ValueError, match=re.escape("X must have shape (26, n_features); got (5, 2)")
    ):
        Constraints(LABELS).generate_knntriplets(np.zeros((5, 2)), 1, 1)
