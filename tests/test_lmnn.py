"""LMNN: loss and gradient against a naive implementation, kernels against
NumPy twins, the cvxpy optimum, 3-NN accuracy, and behaviour at the edges."""

import re

import numpy as np
import pytest
from scipy.optimize import check_grad
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from metriclearn import LMNN
from metriclearn._kernels.lmnn import (
    class_blocks,
    class_pair_tiles,
    get_push_loss_terms,
    get_target_neighbors,
    margin_radii,
    target_distances,
    target_weight_terms,
)
from metriclearn._labels import LabelIndex
from metriclearn._lmnn_solver import LMNNProblem as _Problem
from metriclearn._lmnn_solver import (
    _ray_minimiser,
    _ray_minimiser_hinge,
    _ray_sample,
)
from metriclearn.objectives import lmnn_objective

# ---------------------------------------------------------------- helpers


def _sorted_problem(rng, n_per_class=(4, 3, 3), d=3, k=2, spread=1.0):
    """Random points sorted by class, with their class bounds."""
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    X = rng.standard_normal((y.shape[0], d)) * spread
    X[:, 0] += 0.8 * y  # classes overlap: plenty of impostors
    index = LabelIndex(y)
    order, bounds = index.order, index.bounds
    return np.ascontiguousarray(X[order]), y[order], bounds, k


def naive_targets(X, y, k):
    """The k nearest points of the same class (not itself), ties to the
    smaller index."""
    n = X.shape[0]
    out = np.empty((n, k), dtype=np.intp)
    for i in range(n):
        cand = [(float(np.sum((X[i] - X[j]) ** 2)), j)
                for j in range(n) if j != i and y[j] == y[i]]
        out[i] = [j for _, j in sorted(cand)[:k]]
    return out


def naive_loss_grad(L, X, y, targets, rho, squared=False):
    """LMNN's loss (hinge, or squared hinge) and its gradient in L, one
    triplet at a time."""
    n, d = X.shape
    loss, G = 0.0, np.zeros((d, d))
    for i in range(n):
        for j in targets[i]:
            dij = X[i] - X[j]
            Dij = float(np.sum((L @ dij) ** 2))
            loss += rho * Dij
            G += rho * np.outer(dij, dij)
            for l in range(n):
                if y[l] == y[i]:
                    continue
                dil = X[i] - X[l]
                h = 1.0 + Dij - float(np.sum((L @ dil) ** 2))
                if h > 0:
                    loss += (1 - rho) * (h * h if squared else h)
                    weight = 2 * h if squared else 1.0
                    G += (1 - rho) * weight * (np.outer(dij, dij) - np.outer(dil, dil))
    return loss, 2 * L @ G


# ---------------------------------------------------------------- twins


def target_neighbors_twin(X, bounds, k):
    y = np.repeat(np.arange(bounds.shape[0] - 1), np.diff(bounds))
    sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    sq = np.where((y[:, None] == y[None, :]) & ~np.eye(X.shape[0], dtype=bool), sq, np.inf)
    return np.argsort(sq, axis=1, kind="stable")[:, :k]


def push_loss_terms_twin(X, Z, bounds, targets, dist_t, squared=True):
    """Every triplet (i, j, l) with its hinge, the weight matrix W formed densely;
    returns the loss, the number of active triplets, the target weights and
    sum_pq W_pq (x_p - x_q)(x_p - x_q)^T of the impostor part."""
    n, k = targets.shape
    y = np.repeat(np.arange(bounds.shape[0] - 1), np.diff(bounds))
    sq = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    loss = 0.0
    n_active = 0
    w_target = np.zeros((n, k))
    W = np.zeros((n, n))
    for t in range(k):
        h = 1.0 + dist_t[:, t][:, None] - sq  # h[i, l]
        h = np.where((y[:, None] != y[None, :]) & (h > 0), h, 0.0)
        loss += (h * h).sum() if squared else h.sum()
        n_active += int((h > 0).sum())
        weight = 2 * h if squared else (h > 0).astype(float)
        w_target[:, t] += weight.sum(axis=1)
        W -= weight
    D = X[:, None, :] - X[None, :, :]
    return loss, n_active, w_target, np.einsum("pq,pqa,pqb->ab", W, D, D)


def impostor_matrix(X, deg, P):
    """X^T diag(deg) X - X^T P - P^T X, as the kernel's outputs mean it."""
    B = X.T @ P
    return (X.T * deg) @ X - B - B.T


@pytest.mark.parametrize("block", [1, 3, 128])
def test_class_blocks(block):
    bounds = np.array([0, 5, 5, 12, 13], dtype=np.intp)
    blocks = class_blocks(bounds, block)
    rows = np.concatenate([np.arange(b[0], b[1]) for b in blocks])
    np.testing.assert_array_equal(rows, np.arange(13))
    for start, stop, cs, ce in blocks:
        assert cs <= start < stop <= ce and stop - start <= block
        assert (cs, ce) in {(0, 5), (5, 12), (12, 13)}


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("block", [2, 128])
def test_target_neighbors_matches_twin(rng, n_jobs, block):
    X, _, bounds, k = _sorted_problem(rng, (9, 6, 11), d=4, k=3)
    got = get_target_neighbors(n_jobs)(X, bounds, k, block)
    np.testing.assert_array_equal(got, target_neighbors_twin(X, bounds, k))


def test_target_neighbors_with_duplicates_never_self():
    # every point of class 0 has two copies; class 1 is 4 copies of one point
    X = np.array([[0.0], [0.0], [1.0], [1.0], [5.0], [5.0], [5.0], [5.0]])
    bounds = np.array([0, 4, 8], dtype=np.intp)
    got = target_neighbors(X, bounds, 3)
    for i in range(8):
        assert i not in got[i]
        c = 0 if i < 4 else 1
        assert np.all((got[i] >= bounds[c]) & (got[i] < bounds[c + 1]))
    # a duplicate is a neighbour at distance zero, found first
    assert got[0, 0] == 1 and got[1, 0] == 0 and got[2, 0] == 3


def target_neighbors(X, bounds, k):
    return get_target_neighbors(1)(X, bounds, k, 128)


@pytest.mark.parametrize("block, chunk", [(1, 1), (2, 3), (128, 2048)])
def test_class_pair_tiles(block, chunk):
    bounds = np.array([0, 5, 5, 12, 13], dtype=np.intp)
    y = np.repeat(np.arange(4), np.diff(bounds))
    seen = np.zeros((13, 13), dtype=int)
    for start, stop, c0, c1 in class_pair_tiles(bounds, block, chunk):
        assert stop - start <= block and c1 - c0 <= chunk
        assert np.unique(y[start:stop]).size == 1 and np.all(y[c0:c1] > y[start])
        seen[start:stop, c0:c1] += 1
    # every pair of different classes exactly once
    np.testing.assert_array_equal(seen + seen.T, (y[:, None] != y[None, :]).astype(int))


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("n_groups", [1, 3])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("block, chunk", [(1, 1), (2, 3), (128, 2048)])
def test_push_loss_terms_matches_twin(rng, n_jobs, block, chunk, n_groups, squared):
    X, _, bounds, k = _sorted_problem(rng, (9, 6, 11), d=4, k=3)
    L = rng.standard_normal((3, 4))
    check_push_loss_terms(X, L, bounds, k, get_push_loss_terms(n_jobs), block, chunk, n_groups,
                          squared=squared)


@pytest.mark.parametrize("offset, scale", [(1e4, 1.0), (0.0, 1e-30), (1e3, 1e30)])
def test_push_loss_terms_far_from_origin_and_extreme_scales(rng, offset, scale):
    # the single-precision products that select candidates lose most digits
    # to cancellation far from the origin, and would underflow or overflow
    # at extreme scales without the rescaling; no impostor may be missed
    X, _, bounds, k = _sorted_problem(rng, (9, 6, 11), d=4, k=3)
    X = X + offset
    L = scale * rng.standard_normal((3, 4))
    if scale != 1.0:
        # margins of 1 at such scales: put the points on that scale
        X = X / scale
    # (X^T diag(deg) X - X^T P - P^T X itself loses digits far from the
    # origin, which is why the estimator centres X: compare it loosely there)
    check_push_loss_terms(X, L, bounds, k, get_push_loss_terms(1), 2, 3, 1,
                          rtol_A=1e-5 if offset else 1e-9)


def check_push_loss_terms(X, L, bounds, k, kernel, block, chunk, n_groups, rtol_A=1e-9,
                          squared=True):
    Z = X @ L.T
    targets = target_neighbors(X, bounds, k)
    dist_t = target_distances(Z, targets)
    loss, n_active, w_target, deg, P = kernel(
        X, Z, bounds, targets, dist_t, block, chunk, n_groups, squared
    )
    want_loss, want_active, want_w, want_A = push_loss_terms_twin(
        X, Z, bounds, targets, dist_t, squared
    )
    assert want_active > 0  # the problem has active triplets
    assert n_active == want_active
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(w_target, want_w, rtol=1e-12, atol=1e-12 * np.abs(want_w).max())
    A = impostor_matrix(X, deg, P)
    np.testing.assert_allclose(A, want_A, rtol=rtol_A, atol=rtol_A * np.abs(want_A).max())


def test_margin_radii(rng):
    dist_t = rng.random((5, 3))
    np.testing.assert_array_equal(margin_radii(dist_t), 1.0 + dist_t.max(axis=1))


def test_target_distances_and_weight_terms_match_twins(rng):
    X = rng.standard_normal((7, 3))
    Z = X @ rng.standard_normal((2, 3)).T
    targets = rng.integers(0, 7, size=(7, 2)).astype(np.intp)
    np.testing.assert_allclose(
        target_distances(Z, targets), ((Z[:, None, :] - Z[targets]) ** 2).sum(axis=2)
    )
    weights = rng.standard_normal((7, 2))
    W = np.zeros((7, 7))
    np.add.at(W, (np.repeat(np.arange(7), 2), targets.ravel()), weights.ravel())
    s, c, P = target_weight_terms(X, targets, weights)
    np.testing.assert_allclose(s, W.sum(axis=1))
    np.testing.assert_allclose(c, W.sum(axis=0))
    np.testing.assert_allclose(P, W @ X)


def test_kernels_do_not_write_into_inputs(rng):
    X, _, bounds, k = _sorted_problem(rng)
    Z = X @ rng.standard_normal((2, X.shape[1])).T
    targets = target_neighbors(X, bounds, k)
    dist_t = target_distances(Z, targets)
    for a in [X, Z, bounds, targets, dist_t]:
        a.setflags(write=False)
    get_push_loss_terms(1)(X, Z, bounds, targets, dist_t, 128, 2048, 1)
    get_target_neighbors(1)(X, bounds, k, 128)
    target_weight_terms(X, targets, dist_t)


# ---------------------------------------------------------------- loss, gradient


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("n_components", [3, 2])
def test_loss_and_gradient_match_naive(rng, rho, n_components, loss):
    squared = loss == "squared_hinge"
    X, y, bounds, k = _sorted_problem(rng)  # 10 points, 3 classes
    targets = target_neighbors(X, bounds, k)
    np.testing.assert_array_equal(targets, naive_targets(X, y, k))
    problem = _Problem(X, bounds, targets, rho, squared=squared)
    L = rng.standard_normal((n_components, X.shape[1]))
    value, grad = problem.loss_grad(L.ravel())
    want_loss, want_grad = naive_loss_grad(L, X, y, targets, rho, squared)
    assert problem.n_active > 0
    assert value == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad.reshape(L.shape), want_grad, rtol=1e-10, atol=1e-10)
    assert lmnn_objective(L, X, y, k, rho, loss=loss) == pytest.approx(want_loss, rel=1e-12)


@pytest.mark.parametrize("squared", [False, True])
def test_gradient_check_grad(rng, squared):
    # (away from the hinge's kinks, which random points avoid almost surely)
    X, _, bounds, k = _sorted_problem(rng, (6, 6, 5), d=4, k=2)
    problem = _Problem(X, bounds, target_neighbors(X, bounds, k), 0.5, squared=squared)
    L = 0.7 * rng.standard_normal(12)

    def fun(v):
        return problem.loss_grad(v)[0]

    def jac(v):
        return problem.loss_grad(v)[1]

    err = check_grad(fun, jac, L, epsilon=1e-7)
    assert err < 1e-5 * max(1.0, np.linalg.norm(jac(L)))


@pytest.mark.parametrize("squared", [False, True])
def test_ray_sample_is_the_loss_on_small_problems(rng, squared):
    # with fewer points than the sample sizes, the sample is every triplet
    X, _, bounds, k = _sorted_problem(rng, (9, 6, 11), d=4, k=3)
    problem = _Problem(X, bounds, target_neighbors(X, bounds, k), 0.3, squared=squared)
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


# ---------------------------------------------------------------- optimality


@pytest.mark.reference
@pytest.mark.parametrize("rho", [0.25, 0.5])
def test_reaches_cvxpy_optimum_squared_hinge(rho):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import lmnn_reference

    rng = np.random.default_rng(0)
    X = rng.standard_normal((15, 3)) * [1.0, 2.0, 0.5]
    y = np.repeat([0, 1, 2], 5)
    X[y == 1, 0] += 1.5
    ref_value, _ = lmnn_reference(X, y, n_neighbors=2, regularization=rho,
                                  loss="squared_hinge")
    lmnn = LMNN(n_neighbors=2, regularization=rho, init="identity", tol=1e-10,
                max_iter=5000, loss="squared_hinge").fit(X, y)
    assert lmnn.converged_
    value = lmnn_objective(lmnn.components_, X, y, 2, rho, loss="squared_hinge")
    # Clarabel is accurate to about 1e-8 relative
    assert value == pytest.approx(ref_value, rel=1e-6)
    assert lmnn.objective_history_[-1] == pytest.approx(value, rel=1e-12)


@pytest.mark.reference
@pytest.mark.parametrize("rho", [0.25, 0.5])
def test_reaches_cvxpy_optimum_hinge(rho):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import lmnn_reference

    rng = np.random.default_rng(0)
    X = rng.standard_normal((15, 3)) * [1.0, 2.0, 0.5]
    y = np.repeat([0, 1, 2], 5)
    X[y == 1, 0] += 1.5
    ref_value, _ = lmnn_reference(X, y, n_neighbors=2, regularization=rho, loss="hinge")
    lmnn = LMNN(n_neighbors=2, regularization=rho, init="identity", tol=1e-12,
                max_iter=5000, loss="hinge").fit(X, y)
    value = lmnn_objective(lmnn.components_, X, y, 2, rho, loss="hinge")
    # L-BFGS on the kinks of the hinge ends within a small margin of the
    # optimum rather than on it
    assert value == pytest.approx(ref_value, rel=1e-3)
    assert value >= ref_value * (1 - 1e-6)


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
    msg = "LMNN did not converge in max_iter=2 iterations (tol=1e-05); increase max_iter or tol"
    with pytest.warns(ConvergenceWarning, match=re.escape(msg)):
        lmnn = LMNN(max_iter=2, min_iter=0).fit(X, y)
    assert lmnn.n_iter_ == 2 and not lmnn.converged_
    assert lmnn.objective_history_.shape == (3,)
    assert np.all(np.diff(lmnn.objective_history_) <= 0)


def test_verbose_and_callback(capsys):
    X, y = load_iris(return_X_y=True)
    seen = []
    lmnn = LMNN(verbose=1, callback=lambda L, it: seen.append((L.copy(), it))).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[LMNN]"
    assert "Objective" in out[1] and "Active triplets" in out[1]
    assert len(out) == 3 + 1 + lmnn.n_iter_
    assert [it for _, it in seen] == list(range(1, lmnn.n_iter_ + 1))
    np.testing.assert_allclose(seen[-1][0], lmnn.components_, rtol=1e-12, atol=1e-12)
    # silent by default
    LMNN().fit(X, y)
    assert capsys.readouterr().out == ""


def test_deterministic_and_parallel_agree():
    X, y = load_wine(return_X_y=True)
    a = LMNN(random_state=0).fit(X, y).components_
    b = LMNN(random_state=0).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    c = LMNN(random_state=0, n_jobs=2).fit(X, y).components_
    np.testing.assert_allclose(c, a, rtol=1e-6, atol=1e-8 * np.abs(a).max())


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


@pytest.mark.parametrize(
    "params, msg",
    [
        ({"n_components": 5}, "n_components=5 must be at most the number of features (4)"),
        ({"init": "lda", "n_components": 3},
         "init='lda' needs n_components <= min(n_features, n_classes - 1) = 2; "
         "got n_components=3"),
        ({"init": np.eye(3)},
         "init must have shape (n_components, 4) to match the 4 features of X; "
         "got shape (3, 3)"),
        ({"init": np.eye(4)[:2], "n_components": 3}, "init has 2 rows, but n_components=3"),
    ],
)
def test_bad_init(params, msg):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=re.escape(msg)):
        LMNN(**params).fit(X, y)
