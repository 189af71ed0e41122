"""LMNN: the solver's initial step along a ray, 3-NN accuracy against
Euclidean and metric-learn, low rank, and behaviour at the edges (classes too
small, no impostor, duplicates, convergence, verbose and callback, init);
then at scale: the incremental impostor search gives exactly the active
triplets of a full search (its kernels against NumPy twins with read-only
inputs, the bound across moves of L and along L-BFGS iterations), and the
certificate against the cvxpy optimum. The other kernels' NumPy twins are in
test_kernels.py, the loss and its gradient in
test_gradients.py, the cvxpy optimum in test_reference_optima.py."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

import metriclearn._lmnn_search as lmnn_search
from metriclearn import LMNN
from metriclearn._kernels.lmnn import (
    class_blocks,
    class_pair_tiles,
    first_crossing,
    get_target_neighbors,
    margin_radii,
    target_distances,
)
from metriclearn._kernels.lmnn_impostors import get_impostor_search, single_precision
from metriclearn._kernels.lmnn_incremental import (
    get_candidate_terms,
    get_rescan_terms,
    movement,
)
from metriclearn._labels import LabelIndex
from metriclearn._lmnn_search import ImpostorSearch
from metriclearn._lmnn_solver import (
    LMNNProblem,
    _ray_minimiser,
    _ray_minimiser_hinge,
    _ray_sample,
    certificate,
)
from metriclearn.objectives import lmnn_certificate, lmnn_objective


def _sorted_problem(rng, n_per_class=(9, 6, 11), d=4):
    """Random points sorted by class (classes overlap: plenty of impostors)
    and their class bounds."""
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    X = rng.standard_normal((y.shape[0], d))
    X[:, 0] += 0.8 * y
    index = LabelIndex(y)
    return np.ascontiguousarray(X[index.order]), index.bounds


# ------------------------------------------------------ blocks, neighbours


def test_blocks_and_tiles_cover_every_point_and_pair_of_classes_once():
    bounds = np.array([0, 5, 5, 12, 13], dtype=np.intp)
    y = np.repeat(np.arange(4), np.diff(bounds))
    for block, chunk in [(1, 1), (2, 3), (128, 2048)]:
        blocks = class_blocks(bounds, block)
        rows = np.concatenate([np.arange(b[0], b[1]) for b in blocks])
        np.testing.assert_array_equal(rows, np.arange(13))
        assert all(cs <= a < b <= ce and b - a <= block and (cs, ce) in {(0, 5), (5, 12), (12, 13)}
                   for a, b, cs, ce in blocks)
        seen = np.zeros((13, 13), dtype=int)
        for a, b, c0, c1 in class_pair_tiles(bounds, block, chunk):
            assert b - a <= block and c1 - c0 <= chunk
            assert np.unique(y[a:b]).size == 1 and np.all(y[c0:c1] > y[a])
            seen[a:b, c0:c1] += 1
        np.testing.assert_array_equal(seen + seen.T, (y[:, None] != y[None, :]).astype(int))


def test_target_neighbors_with_duplicates_never_self():
    # every point of class 0 has two copies; class 1 is 4 copies of one point
    X = np.array([[0.0], [0.0], [1.0], [1.0], [5.0], [5.0], [5.0], [5.0]])
    bounds = np.array([0, 4, 8], dtype=np.intp)
    got = get_target_neighbors(1)(X, bounds, 3, 128)
    for i in range(8):
        assert i not in got[i]
        c = 0 if i < 4 else 1
        assert np.all((got[i] >= bounds[c]) & (got[i] < bounds[c + 1]))
    # a duplicate is a neighbour at distance zero, found first
    assert got[0, 0] == 1 and got[1, 0] == 0 and got[2, 0] == 3


# ---------------------------------------------------------------- the ray


@pytest.mark.parametrize("squared", [False, True])
def test_ray_sample_is_the_loss_on_small_problems(rng, squared):
    # with fewer points than the sample sizes, the sample is every triplet
    X, bounds = _sorted_problem(rng)
    targets = get_target_neighbors(1)(X, bounds, 3, 128)
    problem = LMNNProblem(X, bounds, targets, 0.3, squared=squared)
    L0 = rng.standard_normal((3, 4))
    a, delta, w = _ray_sample(problem, L0)
    p = 2 if squared else 1
    for s in [0.01, 0.3, 1.0, 4.0]:
        phi = a * s + w @ np.maximum(1.0 + s * delta, 0.0) ** p
        assert phi == pytest.approx(problem.loss_grad((np.sqrt(s) * L0).ravel())[0], rel=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_ray_minimiser(seed):
    rng = np.random.default_rng(seed)
    delta = rng.standard_normal(200) * 10.0 ** rng.uniform(-3, 3)
    w = rng.random(200)
    a = rng.random() * np.abs(delta).mean()
    s = _ray_minimiser(a, delta, w)

    def phi(t):
        return a * t + w @ np.maximum(1.0 + t * delta, 0.0) ** 2

    grid = s * np.exp(np.linspace(-2, 2, 2001))
    assert phi(s) <= min(phi(t) for t in grid) * (1 + 1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_ray_minimiser_hinge(seed):
    rng = np.random.default_rng(seed)
    delta = rng.standard_normal(200) * 10.0 ** rng.uniform(-3, 3)
    w = rng.random(200)
    a = rng.random() * np.abs(delta).mean() * 0.1
    s = _ray_minimiser_hinge(a, delta, w)

    def phi(t):
        return a * t + w @ np.maximum(1.0 + t * delta, 0.0)

    assert s > 0
    if a + w @ delta >= 0.0:
        # phi grows from s = 0: the smallest kink, not a collapse to zero
        assert s == pytest.approx((-1.0 / delta[delta < 0]).min(), rel=1e-15)
    else:
        grid = s * np.exp(np.linspace(-4, 4, 4001))
        assert phi(s) <= min(phi(t) for t in grid) * (1 + 1e-12)


# ---------------------------------------------------------------- accuracy

# 3-NN test accuracy of metric-learn 0.7.0's LMNN with its defaults
# (LMNN(random_state=0)), measured in benchmarks/.venv-bench on the benchmark's
# split (raw features, stratified 70/30, seed 0), one BLAS thread.
METRIC_LEARN_3NN = {
    "iris": 1.0,
    "wine": 0.944444,
    "breast_cancer": 0.935673,
    "digits": 0.987037,
}
LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_knn_accuracy_against_euclidean_and_metric_learn(name):
    X, y = LOADERS[name](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    lmnn = LMNN(random_state=0).fit(X_train, y_train)
    assert lmnn.converged_

    def accuracy(transform):
        knn = KNeighborsClassifier(3).fit(transform(X_train), y_train)
        return knn.score(transform(X_test), y_test)

    ours = accuracy(lmnn.transform)
    assert ours >= accuracy(lambda A: A)
    assert ours >= METRIC_LEARN_3NN[name] - 0.01


def test_low_rank_in_pipeline():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    model = make_pipeline(LMNN(n_components=2, random_state=0), KNeighborsClassifier(3))
    model.fit(X_train, y_train)
    assert model[0].components_.shape == (2, 13)
    assert model[0].transform(X_test).shape == (X_test.shape[0], 2)
    assert model.score(X_test, y_test) > 0.9


# ---------------------------------------------------------------- edges


def test_class_smaller_than_n_neighbors_plus_one():
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0] * 4 + [1] * 3 + [2] * 3)
    msg = (
        "class 1 has 3 points, but n_neighbors=3 needs at least 4 points in every "
        "class (each point's target neighbours are other points of its class); "
        "lower n_neighbors or remove the class"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        LMNN(n_neighbors=3).fit(X, y)
    # a class of exactly n_neighbors + 1 points is enough
    LMNN(n_neighbors=2).fit(X, y)


def test_single_class():
    X = np.random.default_rng(0).standard_normal((10, 2))
    msg = "LMNN needs at least 2 classes in y; got 1 class ([7]): its impostors"
    with pytest.raises(ValueError, match=re.escape(msg)):
        LMNN().fit(X, np.full(10, 7))


def test_no_impostors_converges():
    # classes far apart: no impostor at the start
    rng = np.random.default_rng(0)
    X = np.vstack([rng.standard_normal((8, 2)), rng.standard_normal((8, 2)) + 100.0])
    y = np.repeat([0, 1], 8)
    lmnn = LMNN(init="identity").fit(X, y)
    assert lmnn.converged_
    assert np.all(np.isfinite(lmnn.components_))
    # without a pull term the loss is zero from the start: nothing to do
    lmnn = LMNN(init="identity", regularization=0.0).fit(X, y)
    assert lmnn.converged_ and lmnn.n_iter_ == 0
    np.testing.assert_array_equal(lmnn.components_, np.eye(2))
    assert lmnn.objective_history_.tolist() == [0.0]


def test_duplicate_points():
    X, y = load_iris(return_X_y=True)
    X2, y2 = np.vstack([X, X]), np.concatenate([y, y])
    lmnn = LMNN(random_state=0).fit(X2, y2)
    assert lmnn.converged_
    assert np.all(np.isfinite(lmnn.components_))
    # a class of one point and its copies: the copies are its neighbours
    Xd = np.array([[0.0, 0.0]] * 4 + [[1.0, 1.0]] * 4)
    LMNN(n_neighbors=3, init="identity").fit(Xd, np.repeat([0, 1], 4))


def test_convergence_warning_at_max_iter():
    X, y = load_wine(return_X_y=True)
    msg = "LMNN did not converge in max_iter=2 iterations (tol=0.0001); increase max_iter or tol"
    with pytest.warns(ConvergenceWarning, match=re.escape(msg)):
        lmnn = LMNN(max_iter=2, min_iter=0).fit(X, y)
    assert lmnn.n_iter_ == 2 and not lmnn.converged_
    assert lmnn.objective_history_.shape == (3,)
    assert np.all(np.diff(lmnn.objective_history_) <= 0)


def test_verbose_and_callback(capsys):
    X, y = load_iris(return_X_y=True)
    seen = []
    lmnn = LMNN(verbose=3, callback=lambda L, it: seen.append((L.copy(), it))).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[LMNN] fitting 150 points of 4 features: up to 1,000 iterations"
    assert out[1].startswith("[LMNN] iteration     0  objective ")
    assert "active triplets" in out[1]
    # the start line, the start point, one line per iteration, the closing line
    assert len(out) == 1 + 1 + lmnn.n_iter_ + 1
    assert [it for _, it in seen] == list(range(1, lmnn.n_iter_ + 1))
    np.testing.assert_allclose(seen[-1][0], lmnn.components_, rtol=1e-12, atol=1e-12)
    # silent by default
    LMNN().fit(X, y)
    assert capsys.readouterr().out == ""


def test_compatibility_parameters_have_no_effect():
    X, y = load_iris(return_X_y=True)
    a = LMNN().fit(X, y).components_
    b = LMNN(learn_rate=1e-3, convergence_tol=1e-9).fit(X, y).components_
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("init", ["auto", "pca", "lda", "identity", "random", "array"])
def test_init(init):
    X, y = load_iris(return_X_y=True)
    n_components = 2
    if init == "array":
        init = np.random.default_rng(0).standard_normal((n_components, 4))
    lmnn = LMNN(init=init, n_components=n_components, random_state=0).fit(X, y)
    assert lmnn.components_.shape == (2, 4)
    assert lmnn.transform(X).shape == (150, 2)


# ==========================================================================
# At scale: the incremental impostor search, exact against a full search; the certificate
# ==========================================================================


# ---------------------------------------------------------------- helpers


def sorted_problem(rng, sizes=(40, 30, 50), d=4, k=3, shift=0.8):
    """Points sorted by class (classes overlap: many impostors), labels,
    class bounds and target neighbours."""
    y = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.standard_normal((y.shape[0], d))
    X[:, 0] += shift * y
    index = LabelIndex(y)
    X, y = np.ascontiguousarray(X[index.order]), y[index.order]
    targets = get_target_neighbors(1)(X, index.bounds, k, 128)
    return X, y, index.bounds, targets


def twin_terms(X, Z, y, targets, dist_t, squared, eps=0.0):
    """Every triplet (i, j, l) formed densely: the loss (for eps > 0, the
    hinge: the sum of the smoothed weights), the number of counted triplets,
    the target weights and sum_pq W_pq d_pq d_pq^T of the impostor part."""
    n, k = targets.shape
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    other = y[:, None] != y[None, :]
    loss, count = 0.0, 0
    w_target, W = np.zeros((n, k)), np.zeros((n, n))
    for t in range(k):
        h = 1.0 + dist_t[:, t][:, None] - sq
        on = other & (h > -eps)
        if squared:
            w = np.where(on, 2.0 * h, 0.0)
            loss += np.where(on, h * h, 0.0).sum()
        elif eps > 0.0:
            w = np.where(on, np.minimum(1.0, (h + eps) / (2.0 * eps)), 0.0)
            loss += w.sum()
        else:
            w = on.astype(float)
            loss += np.where(on, h, 0.0).sum()
        count += int(on.sum())
        w_target[:, t] = w.sum(axis=1)
        W -= w
    D = X[:, None, :] - X[None, :, :]
    return loss, count, w_target, np.einsum("pq,pqa,pqb->ab", W, D, D)


def impostor_matrix(X, deg, P):
    B = X.T @ P
    return (X.T * deg) @ X - B - B.T


def assert_terms(got, want):
    loss, count, w_target, deg, P, X = got
    assert count == want[1]
    assert loss == pytest.approx(want[0], rel=1e-12, abs=1e-12)
    assert_allclose(w_target, want[2], rtol=1e-12, atol=1e-12 * max(np.abs(want[2]).max(), 1))
    A = impostor_matrix(X, deg, P)
    assert_allclose(A, want[3], rtol=1e-9, atol=1e-9 * max(np.abs(want[3]).max(), 1))


def listed_pairs(segments, n_segments, offsets, lengths):
    """(i, l, length) of every listed candidate, in listing order."""
    rows = []
    for g in range(n_segments.shape[0]):
        for i, start, count, c0 in segments[g, : n_segments[g]]:
            for q in range(start, start + count):
                rows.append((i, c0 + offsets[g, q], lengths[g, q]))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def full_search(X, Z, bounds, targets, dist_t, store_at, n_groups=1, squared=False,
                block=16, chunk=32, n_jobs=1, capacity=10**6, eps=0.0):
    scan_at = store_at * 1.1
    return get_impostor_search(n_jobs)(X, Z, bounds, targets, dist_t, store_at, scan_at, block,
                                       chunk, n_groups, squared, eps, capacity, 0.05, 16, 2)


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("n_groups", [1, 3])
@pytest.mark.parametrize("squared", [False, True])
def test_full_search_lists_every_pair_within_its_radius(rng, n_jobs, n_groups, squared):
    X, y, bounds, targets = sorted_problem(rng)
    Z = X @ rng.standard_normal((3, 4)).T
    dist_t = target_distances(Z, targets)
    radii = margin_radii(dist_t)
    store_at = (np.sqrt(radii) + 0.7) ** 2
    for a in (X, Z, bounds, targets, dist_t, store_at):
        a.setflags(write=False)
    out = full_search(X, Z, bounds, targets, dist_t, store_at, n_groups, squared, n_jobs=n_jobs)
    assert_terms((*out[:5], X), twin_terms(X, Z, y, targets, dist_t, squared))
    segments, n_segments, offsets, lengths, unit, overflow, hist, sampled = out[5:]
    assert not overflow
    pairs = listed_pairs(segments, n_segments, offsets, lengths)
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    i, l = pairs[:, 0], pairs[:, 1]
    # each listed pair is of two classes, once, i before l
    assert np.all(y[i] != y[l]) and np.all(i < l)
    assert np.unique(i * len(y) + l).shape[0] == pairs.shape[0]
    # every pair within the radius is listed; the lengths are lower bounds,
    # tight to 16 bits
    want = (y[:, None] < y[None, :]) & (sq < np.maximum(store_at[:, None], store_at[None, :]))
    listed = np.zeros_like(want)
    listed[i, l] = True
    assert np.all(listed[want])
    dist = np.sqrt(sq[i, l])
    assert np.all(pairs[:, 2] * unit <= dist)
    assert np.all(pairs[:, 2] * unit >= dist - 1e-3 * dist.max())
    # the histogram counts pairs of the sampled tiles only
    assert 0 < hist.sum() <= sampled


def test_full_search_overflow_is_reported(rng):
    X, y, bounds, targets = sorted_problem(rng)
    Z = X @ rng.standard_normal((3, 4)).T
    dist_t = target_distances(Z, targets)
    store_at = (np.sqrt(margin_radii(dist_t)) + 0.7) ** 2
    out = full_search(X, Z, bounds, targets, dist_t, store_at, capacity=10)
    assert out[10]
    # the loss does not depend on the list
    assert_terms((*out[:5], X), twin_terms(X, Z, y, targets, dist_t, False))


@pytest.mark.parametrize("eps", [1e-3, 0.3])
def test_smoothed_hinge_weights_match_twin(rng, eps):
    X, y, bounds, targets = sorted_problem(rng)
    Z = X @ rng.standard_normal((3, 4)).T
    dist_t = target_distances(Z, targets)
    cover = margin_radii(dist_t) + eps
    out = full_search(X, Z, bounds, targets, dist_t, cover, capacity=0, eps=eps)
    assert_terms((*out[:5], X), twin_terms(X, Z, y, targets, dist_t, False, eps))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_rescan_terms_match_twin_on_their_rows(rng, n_jobs):
    # rows searched afresh: every pair with an end in `rows`, once
    X, y, bounds, targets = sorted_problem(rng)
    Z = X @ rng.standard_normal((3, 4)).T
    dist_t = target_distances(Z, targets)
    marked = rng.random(len(y)) < 0.3
    rows = np.flatnonzero(marked)
    for a in (X, Z, y, dist_t, rows, marked):
        a.setflags(write=False)
    out = get_rescan_terms(n_jobs)(X, Z, y, dist_t, rows, marked, 8, 16, 2, True, 0.0)
    # the twin: the pairs with an end in the rows
    keep = marked[:, None] | marked[None, :]
    loss, count, w_target, A = _twin_on_pairs(X, Z, y, targets, dist_t, keep, True)
    assert_terms((*out, X), (loss, count, w_target, A))


def _twin_on_pairs(X, Z, y, targets, dist_t, keep, squared):
    """twin_terms restricted to the pairs (i, l) with keep[i, l]."""
    n, k = targets.shape
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    other = (y[:, None] != y[None, :]) & keep
    loss, count = 0.0, 0
    w_target, W = np.zeros((n, k)), np.zeros((n, n))
    for t in range(k):
        h = 1.0 + dist_t[:, t][:, None] - sq
        on = other & (h > 0)
        w = np.where(on, 2.0 * h if squared else 1.0, 0.0)
        loss += np.where(on, h * h if squared else h, 0.0).sum()
        count += int(on.sum())
        w_target[:, t] = w.sum(axis=1)
        W -= w
    D = X[:, None, :] - X[None, :, :]
    return loss, count, w_target, np.einsum("pq,pqa,pqb->ab", W, D, D)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_candidate_terms_match_twin_and_keep_lower_bounds(rng, n_jobs):
    X, y, bounds, targets = sorted_problem(rng)
    L0 = rng.standard_normal((3, 4))
    Z0 = X @ L0.T
    d0 = target_distances(Z0, targets)
    store_at = (np.sqrt(margin_radii(d0)) + 1.0) ** 2
    out = full_search(X, Z0, bounds, targets, d0, store_at, n_groups=2)
    segments, n_segments, offsets, lengths, unit = out[5:10]
    # a small move: every impostor of Z is listed (checked below); some
    # points skipped, their pairs left out
    Z = X @ (L0 + 0.02 * rng.standard_normal((3, 4))).T
    dist_t = target_distances(Z, targets)
    rho = np.sqrt(margin_radii(dist_t)) * (1 + 1e-9)
    s = 0.98
    b = movement(Z, Z0, s) * (1 + 1e-9)
    skip = rng.random(len(y)) < 0.2
    before = listed_pairs(segments, n_segments, offsets, lengths)
    for a in (X, Z, dist_t, skip, segments, n_segments, offsets, b, rho):
        a.setflags(write=False)
    got = get_candidate_terms(n_jobs)(X, Z, dist_t, skip, segments, n_segments, offsets,
                                      lengths, unit, s, b, rho, False, 0.0)
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    listed = np.zeros((len(y), len(y)), dtype=bool)
    listed[before[:, 0], before[:, 1]] = True
    listed |= listed.T
    radii = margin_radii(dist_t)
    inside = (y[:, None] != y[None, :]) & (sq < np.maximum(radii[:, None], radii[None, :]))
    assert np.all(listed[inside])  # (the move is small enough)
    keep = listed & ~skip[:, None] & ~skip[None, :]
    assert_terms((*got, X), _twin_on_pairs(X, Z, y, targets, dist_t, keep, False))
    # the lengths now bound the distances at Z from below
    after = listed_pairs(segments, n_segments, offsets, lengths)
    assert_array_equal(after[:, :2], before[:, :2])
    assert np.all(after[:, 2] * unit <= np.sqrt(sq[after[:, 0], after[:, 1]]))


def test_movement_and_single_precision_match_twins(rng):
    Z, Z0 = rng.standard_normal((2, 30, 5))
    assert_allclose(movement(Z, Z0, 0.7), np.linalg.norm(Z - 0.7 * Z0, axis=1), rtol=1e-14)
    Z32, unscale, rel, abs_ = single_precision(Z * 1e20)
    G = Z32.astype(np.float64) @ Z32.astype(np.float64).T * unscale / 2
    assert_allclose(G, (Z * 1e20) @ (Z * 1e20).T, rtol=1e-5, atol=1e-5 * 1e40)
    assert Z32.dtype == np.float32 and np.abs(Z32).max() < 1


@pytest.mark.parametrize("seed", range(6))
def test_first_crossing_matches_a_sort(seed):
    rng = np.random.default_rng(seed)
    m = rng.integers(1, 300)
    keys = rng.choice(rng.standard_normal(max(m // 3, 1)), m)  # with ties
    weights = rng.random(m)
    order = np.argsort(keys, kind="stable")
    cum = np.cumsum(weights[order])
    for need in [-1.0, 0.0, weights.sum() * rng.random(), weights.sum() + 1.0]:
        crossed = np.flatnonzero(cum >= need)
        want = keys[order][crossed[0]] if crossed.size else keys.max()
        assert first_crossing(keys, weights, need) == want


# ---------------------------------------------------------------- exactness


def moves(rng, L, count, size):
    """A walk of maps: small steps, a shrinking direction, now and then a leap."""
    for t in range(count):
        L = L + size * (0.8**t) * rng.standard_normal(L.shape)
        L[-1] *= 0.9
        if t == count // 2:
            L = L + 0.5 * rng.standard_normal(L.shape)
        yield L


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("list_share, refresh", [(15.0, 50.0), (1.0, 1.5)])
def test_incremental_search_is_exact_across_moves(seed, squared, n_jobs, list_share, refresh):
    rng = np.random.default_rng(seed)
    X, y, bounds, targets = sorted_problem(rng, sizes=(60, 45, 70, 50))
    search = ImpostorSearch(X, bounds, targets, n_jobs=n_jobs, squared=squared,
                            incremental=True, list_share=list_share, refresh=refresh,
                            block=16, chunk=64)
    for L in moves(rng, 0.6 * rng.standard_normal((3, 4)), 14, 0.03):
        Z = X @ L.T
        dist_t = target_distances(Z, targets)
        got = search(Z, dist_t)
        assert_terms((*got, X), twin_terms(X, Z, y, targets, dist_t, squared))
        if not squared:
            for eps in (1e-3, 0.1):  # the certificate's weights, from the same list
                got = search(Z, dist_t, eps)
                assert_terms((*got, X), twin_terms(X, Z, y, targets, dist_t, False, eps))
    assert search.counts["incremental"] > 0 and search.counts["rescanned"] > 0
    assert search.counts["full"] >= 2


def test_incremental_search_without_skipped_points_is_a_full_search_bit_for_bit(rng):
    X, y, bounds, targets = sorted_problem(rng, sizes=(60, 45, 70))
    search = ImpostorSearch(X, bounds, targets, incremental=True, list_share=15.0,
                            refresh=50.0, block=16, chunk=64)
    full = ImpostorSearch(X, bounds, targets, incremental=False, block=16, chunk=64)
    L = 0.6 * rng.standard_normal((3, 4))
    for step in (0.0, 0.0, 1e-3, 1e-3):
        L = L + step * rng.standard_normal(L.shape)
        Z = X @ L.T
        dist_t = target_distances(Z, targets)
        rescanned = search.counts["rescanned"]
        got, want = search(Z, dist_t), full(Z, dist_t)
        assert search.counts["rescanned"] == rescanned
        for g, w in zip(got, want, strict=True):
            assert_array_equal(g, w)
    assert search.counts["incremental"] == 2


def test_a_list_that_cannot_hold_the_impostors_is_not_used(rng):
    X, y, bounds, targets = sorted_problem(rng, sizes=(60, 45, 70))
    search = ImpostorSearch(X, bounds, targets, incremental=True, list_share=1e-6,
                            refresh=50.0, block=16, chunk=64)
    for L in moves(rng, 0.6 * rng.standard_normal((3, 4)), 4, 0.01):
        Z = X @ L.T
        dist_t = target_distances(Z, targets)
        assert_terms((*search(Z, dist_t), X), twin_terms(X, Z, y, targets, dist_t, False))
    assert search.counts == {"full": 4, "incremental": 0, "rescanned": 0}


@pytest.mark.parametrize("squared", [False, True])
def test_loss_and_gradient_are_exact_along_lbfgs_iterations(squared):
    rng = np.random.default_rng(3)
    X, y, bounds, targets = sorted_problem(rng, sizes=(70, 60, 80), d=5)
    fast = LMNNProblem(X, bounds, targets, 0.5, squared=squared, incremental=True,
                       list_share=15.0, refresh=50.0, block=16, chunk=64)
    exact = LMNNProblem(X, bounds, targets, 0.5, squared=squared, incremental=False)
    seen = []

    def fun(x):
        f, g = fast.loss_grad(x)
        f_want, g_want = exact.loss_grad(x)
        assert fast.n_active == exact.n_active
        assert f == pytest.approx(f_want, rel=1e-12)
        assert_allclose(g, g_want, rtol=1e-9, atol=1e-9 * np.abs(g_want).max())
        seen.append(f)
        return f, g

    L0 = 0.5 * rng.standard_normal((5, 5))
    minimize(fun, L0.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 25})
    assert len(seen) > 15
    assert fast.search.counts["incremental"] > 5


def test_fit_at_scale_deterministic_and_near_the_full_search_fit(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((900, 6))
    y = rng.integers(0, 3, 900)
    X[:, 0] += 0.8 * y
    a = LMNN(random_state=0).fit(X, y)
    b = LMNN(random_state=0).fit(X, y)
    assert_array_equal(a.components_, b.components_)
    c = LMNN(random_state=0, n_jobs=2).fit(X, y)
    monkeypatch.setattr(lmnn_search, "_MIN_PAIRS", np.inf)  # full searches only
    d = LMNN(random_state=0).fit(X, y)
    fa, fc, fd = (lmnn_objective(m.components_, X, y) for m in (a, c, d))
    assert a.converged_ and c.converged_ and d.converged_
    # the same problem, searched two ways: the same optimum up to the
    # stopping tolerance
    assert fc == pytest.approx(fa, rel=1e-3)
    assert fd == pytest.approx(fa, rel=1e-3)


# ---------------------------------------------------------------- certificate


def _tiny(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((15, 3)) * [1.0, 2.0, 0.5]
    y = np.repeat([0, 1, 2], 5)
    X[y == 1, 0] += 1.5
    return X, y


@pytest.mark.reference
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rho", [0.25, 0.5])
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_certificate_bounds_the_gap_to_the_cvxpy_optimum(seed, rho, loss):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import lmnn_reference

    X, y = _tiny(seed)
    ref, _ = lmnn_reference(X, y, n_neighbors=2, regularization=rho, loss=loss)
    for max_iter in (2, 5000):
        lmnn = LMNN(n_neighbors=2, regularization=rho, init="identity", tol=1e-12,
                    max_iter=max_iter, loss=loss)
        with pytest.warns() if max_iter == 2 else _nothing():
            lmnn.fit(X, y)
        value = lmnn_objective(lmnn.components_, X, y, 2, rho, loss=loss)
        gap = (value - ref) / value
        # a bound (Clarabel's optimum is accurate to about 1e-8)
        assert lmnn.certificate_ >= gap - 1e-7
    # and small at the optimum
    if loss == "squared_hinge":
        assert gap < 1e-6 and lmnn.certificate_ < 1e-6
    else:
        assert gap < 1e-3 and lmnn.certificate_ < 5e-3


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_certificate_is_zero_when_nothing_is_left_to_minimise():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.standard_normal((8, 2)), rng.standard_normal((8, 2)) + 100.0])
    y = np.repeat([0, 1], 8)
    assert LMNN(init="identity", regularization=0.0).fit(X, y).certificate_ == 0.0


def test_certificate_of_a_problem_directly(rng):
    X, y, bounds, targets = sorted_problem(rng, sizes=(8, 9, 7), d=3, k=2)
    problem = LMNNProblem(X - X.mean(axis=0), bounds, targets, 0.5, squared=True)
    L = rng.standard_normal((3, 3))
    value = problem.loss_grad(L.ravel())[0]
    gap = certificate(problem, L.ravel(), value)
    assert 0.0 <= gap <= 1.0
    # scaling L by zero is feasible, so a random L is far from certified
    assert gap > 1e-3


@pytest.mark.reference
def test_lmnn_certificate_refines_the_hinge_on_larger_problems():
    pytest.importorskip("cvxpy")
    from metriclearn._reference import lmnn_reference

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)) * [1.0, 2.0, 0.5]
    y = np.repeat([0, 1, 2], 20)
    X[y == 1, 0] += 1.5
    ref, _ = lmnn_reference(X, y, n_neighbors=2)
    lmnn = LMNN(n_neighbors=2, init="identity", tol=1e-12, max_iter=5000).fit(X, y)
    value = lmnn_objective(lmnn.components_, X, y, 2)
    gap = lmnn_certificate(lmnn.components_, X, y, 2)
    assert (value - ref) / value - 1e-7 <= gap < 2e-2
