"""Every loss's gradient against finite differences (``scipy.optimize``'s
``check_grad``): the SGD family's pair losses (hinge, contrastive), its
triplet losses (triplet, InfoNCE; given or mined negatives), its losses over
a whole batch (lifted structured, supervised and debiased contrastive) and
the magnet loss, on and off the unit sphere, LMNN's loss
(hinge, squared hinge; also against a naive triplet loop), NCA's and MLKR's
objectives (also against naive loops over every pair, in one or several row
blocks and thread groups) and MMC's diagonal objective (with its Hessian).
The steps of the SGD kernels follow these gradients, and the public
objectives are these losses."""

import batch_twins as bt
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import approx_fprime, check_grad

from metriclearn._kernels import sgd_batch as kb
from metriclearn._kernels import sgd_magnet as kg
from metriclearn._kernels import sgd_triplets as kt
from metriclearn._kernels.lmnn import get_target_neighbors
from metriclearn._kernels.mmc import diagonal_objective, diagonal_value
from metriclearn._kernels.sgd import CONTRASTIVE, HINGE, pair_loss_grad, sgd_steps
from metriclearn._labels import LabelIndex
from metriclearn._lmnn_solver import LMNNProblem
from metriclearn._mlkr_solver import MLKRProblem
from metriclearn._nca_solver import NCAProblem
from metriclearn._sgd.losses import LossConfig, MagnetClusters
from metriclearn.objectives import (
    lmnn_objective,
    mlkr_objective,
    nca_objective,
    sgd_objective,
    triplet_objective,
)

PAIR_LOSSES = {"hinge": HINGE, "contrastive": CONTRASTIVE}
TRIPLET_LOSSES = {"triplet": kt.TRIPLET, "infonce": kt.INFONCE}
MINERS = {"all": kt.ALL, "hard": kt.HARD, "semihard": kt.SEMIHARD, "easy": kt.EASY}


def _assert_gradient(fun, jac, x):
    """``jac`` is the gradient of ``fun`` at ``x`` (away from kinks, which
    random points avoid almost surely)."""
    err = check_grad(fun, jac, x, epsilon=1e-7)
    assert err < 1e-5 * max(1.0, np.linalg.norm(jac(x)))


@pytest.fixture
def points(rng):
    X = rng.normal(size=(40, 5))
    return X, rng.integers(4, size=40), rng.normal(size=(3, 5)) * 0.4


# ----------------------------------------------------------- SGD, pairs


@pytest.mark.parametrize("loss", PAIR_LOSSES)
def test_pair_loss_gradient(points, rng, loss):
    X, _, L = points
    pairs = rng.integers(40, size=(150, 2))
    labels = np.where(rng.random(150) < 0.5, 1, -1).astype(np.int8)
    code = PAIR_LOSSES[loss]

    def value_grad(v):
        return pair_loss_grad(X, pairs, labels, v.reshape(L.shape), 2.0, 1.5, code)

    _assert_gradient(lambda v: value_grad(v)[0], lambda v: value_grad(v)[1].ravel(), L.ravel())
    value, grad = value_grad(L.ravel())
    # the hinge is active for some dissimilar pairs and not for others
    sq = (((X[pairs[:, 0]] - X[pairs[:, 1]]) @ L.T) ** 2).sum(axis=1)
    margin = 1.5 if loss == "hinge" else 1.5**2
    assert 0 < np.sum((labels < 0) & (sq < margin)) < np.sum(labels < 0)
    # one full-batch step of the kernel is one step along that gradient
    precond = rng.uniform(0.5, 1.5, size=5)
    out, losses = sgd_steps(X, pairs, labels, np.arange(150), L, np.array([0.1]), 150, 2.0, 1.5,
                            precond, code)
    assert_allclose(out, L - 0.1 * grad * precond, rtol=1e-10, atol=1e-12)
    assert losses[0] == pytest.approx(150 * value)
    # the public objective is this loss, on index pairs or on pairs of points
    kwargs = {"alpha": 2.0, "margin": 1.5, "loss": loss}
    assert sgd_objective(L, pairs, labels, preprocessor=X, **kwargs) == pytest.approx(value)
    assert sgd_objective(L, X[pairs], labels, **kwargs) == pytest.approx(value)


# -------------------------------------------------------- SGD, triplets


@pytest.mark.parametrize("loss", TRIPLET_LOSSES)
def test_triplet_loss_gradient(points, rng, loss):
    X, _, L = points
    triplets = rng.integers(40, size=(100, 3))
    code = TRIPLET_LOSSES[loss]

    def value_grad(v):
        return kt.triplet_loss_grad(X, triplets, v.reshape(L.shape), code, 1.5, 0.7)

    _assert_gradient(lambda v: value_grad(v)[0], lambda v: value_grad(v)[1].ravel(), L.ravel())
    value, grad = value_grad(L.ravel())
    assert triplet_objective(L, triplets, loss=loss, margin=1.5, temperature=0.7,
                             preprocessor=X) == pytest.approx(value)
    # the steps follow the gradient (InfoNCE's scaled by the temperature)
    precond = rng.uniform(0.5, 1.5, size=5)
    out, losses = kt.triplet_steps(X, triplets, np.arange(100), L, np.array([0.1]), 100,
                                   code, 1.5, 0.7, precond)
    scale = 0.7 if loss == "infonce" else 1.0
    assert_allclose(out, L - 0.1 * scale * grad * precond, rtol=1e-10, atol=1e-12)
    assert losses[0] == pytest.approx(100 * value)


@pytest.mark.parametrize("miner", MINERS)
@pytest.mark.parametrize("loss", TRIPLET_LOSSES)
def test_mined_loss_gradient(points, rng, loss, miner):
    X, codes, L = points
    anchors = rng.integers(40, size=30)
    positives = np.array([rng.choice(np.flatnonzero(codes == codes[a])) for a in anchors])
    args = (X, codes, anchors, positives, rng.random(30))
    params = (TRIPLET_LOSSES[loss], MINERS[miner], 1.5, 0.7)

    def value_grad(v):
        return kt.mined_loss_grad(*args, v.reshape(L.shape), *params)

    value, grad = value_grad(L.ravel())
    if miner != "easy" or loss == "infonce":  # easy negatives carry no triplet loss
        assert value > 0
    # the mined set is locally constant at a generic L
    _assert_gradient(lambda v: value_grad(v)[0], lambda v: value_grad(v)[1].ravel(), L.ravel())


def test_mining_without_qualifying_negatives_has_no_loss_and_no_gradient():
    # every negative is far: no semi-hard one, and the triplet loss is zero
    X = np.array([[0.0], [0.1], [5.0], [6.0]])
    codes = np.array([0, 0, 1, 1])
    anchors, positives, u = np.array([0, 2]), np.array([1, 3]), np.array([0.5, 0.5])
    for loss in (kt.TRIPLET, kt.INFONCE):
        value, grad = kt.mined_loss_grad(X, codes, anchors, positives, u, np.eye(1), loss,
                                         kt.SEMIHARD, 1.0, 0.5)
        assert value == 0.0 and np.all(grad == 0.0)


# ------------------------------------------------------------------ LMNN


# ------------------------------------------- SGD, losses over the batch


BATCH_LOSSES = {"lifted": kb.LIFTED, "supcon": kb.SUPCON, "debiased": kb.DEBIASED}


def _labelled_batch(rng, b=15):
    X = rng.normal(size=(40, 5)) + 0.3
    codes = rng.integers(4, size=40)
    anchors = rng.integers(40, size=b)
    positives = np.array([rng.choice(np.flatnonzero(codes == codes[a])) for a in anchors])
    return X, codes, anchors, positives, rng.normal(size=(3, 5)) * 0.5


def _clamped(X, codes, anchors, positives, L, temperature, prior, normalize):
    """Anchors whose debiased negative term is at its floor (the twin's
    formulas)."""
    pts = np.concatenate([anchors, positives])
    S = bt.similarities(bt.embed(X[pts], L, normalize), temperature, normalize)
    m, b = S.shape[0], anchors.shape[0]
    count = 0
    for i in range(m):
        p = (i + b) % m
        neg = np.exp([S[i, r] for r in range(m) if r not in (i, p)])
        floor = np.exp(-2.0 / temperature) if normalize else neg.min()
        count += (neg.mean() - prior * np.exp(S[i, p])) / (1 - prior) < floor
    return count


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "sphere"])
@pytest.mark.parametrize(("loss", "prior"), [("lifted", 0.0), ("supcon", 0.0),
                                             ("debiased", 0.0), ("debiased", 0.3),
                                             ("debiased", 0.95)])
def test_batch_loss_gradient(rng, loss, prior, normalize):
    X, codes, anchors, positives, L = _labelled_batch(rng)
    code, margin, temperature = BATCH_LOSSES[loss], 0.6 if normalize else 1.5, 0.7
    if loss == "debiased" and prior == 0.95:
        # the floor of the negative term is reached by some anchors, not all
        n = _clamped(X, codes, anchors, positives, L, temperature, prior, normalize)
        assert 0 < n < 2 * anchors.shape[0]

    def value_grad(v):
        return kb.batch_loss_grad(X, codes, anchors, positives, v.reshape(L.shape), code,
                                  margin, temperature, prior, normalize)

    _assert_gradient(lambda v: value_grad(v)[0], lambda v: value_grad(v)[1].ravel(), L.ravel())
    value, grad = value_grad(L.ravel())
    assert value > 0
    assert value == pytest.approx(bt.batch_loss_twin(X, codes, anchors, positives, L, code,
                                                     margin, temperature, prior, normalize),
                                  rel=1e-10)
    # one full-batch step of the kernel is one step along that gradient
    # (times the temperature for the contrastive losses)
    precond = rng.uniform(0.5, 1.5, size=5)
    out, losses = kb.batch_steps(X, codes, anchors, positives, L, np.array([0.1]), 15, code,
                                 margin, temperature, prior, precond, normalize)
    scale = 1.0 if loss == "lifted" else temperature
    assert_allclose(out, L - 0.1 * scale * grad * precond, rtol=1e-10, atol=1e-12)
    assert losses[0] == pytest.approx(15 * value)


@pytest.mark.parametrize("fixed", [False, True], ids=["batch-variance", "fixed-variance"])
@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "sphere"])
@pytest.mark.parametrize("n_clusters", [1, 3])
def test_magnet_loss_gradient(rng, n_clusters, normalize, fixed):
    X, codes, anchors, _, L = _labelled_batch(rng, b=25)
    cfg = LossConfig("magnet", normalize=normalize, n_clusters=n_clusters)
    c = MagnetClusters.fit(X, codes, L, cfg, np.random.RandomState(0))
    args = (X, codes, anchors, c.assign, c.centers, c.cluster_class)
    # the estimator's variance (measured at L, then a constant) or the batch's
    variance = c.variance if fixed else 0.0

    def value_grad(v):
        return kg.magnet_loss_grad(*args, v.reshape(L.shape), 0.5, normalize, variance)

    _assert_gradient(lambda v: value_grad(v)[0], lambda v: value_grad(v)[1].ravel(), L.ravel())
    value, grad = value_grad(L.ravel())
    assert value > 0
    assert value == pytest.approx(bt.magnet_loss_twin(*args, L, 0.5, normalize, variance),
                                  rel=1e-10)
    precond = rng.uniform(0.5, 1.5, size=5)
    out, _ = kg.magnet_steps(*args, L, np.array([0.1]), 25, 0.5, precond, normalize,
                             variance)
    assert_allclose(out, L - 0.1 * grad * precond, rtol=1e-10, atol=1e-12)


def _sorted_problem(rng, n_per_class=(4, 3, 3), d=3, k=2):
    """Random points sorted by class (classes overlap: plenty of impostors),
    their labels, class bounds and target neighbours."""
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    X = rng.standard_normal((y.shape[0], d))
    X[:, 0] += 0.8 * y
    index = LabelIndex(y)
    X, y = np.ascontiguousarray(X[index.order]), y[index.order]
    return X, y, index.bounds, get_target_neighbors(1)(X, index.bounds, k, 128)


def naive_lmnn_loss_grad(L, X, y, targets, rho, squared):
    """LMNN's loss (hinge, or squared hinge) and its gradient in L, one
    triplet at a time."""
    loss, G = 0.0, np.zeros((X.shape[1], X.shape[1]))
    for i in range(X.shape[0]):
        for j in targets[i]:
            dij = X[i] - X[j]
            Dij = float(np.sum((L @ dij) ** 2))
            loss += rho * Dij
            G += rho * np.outer(dij, dij)
            for l in np.flatnonzero(y != y[i]):
                dil = X[i] - X[l]
                h = 1.0 + Dij - float(np.sum((L @ dil) ** 2))
                if h > 0:
                    loss += (1 - rho) * (h * h if squared else h)
                    G += (1 - rho) * (2 * h if squared else 1.0) * (
                        np.outer(dij, dij) - np.outer(dil, dil))
    return loss, 2 * L @ G


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("n_components", [3, 2])
def test_lmnn_loss_and_gradient_match_a_naive_loop(rng, rho, n_components, loss):
    squared = loss == "squared_hinge"
    X, y, bounds, targets = _sorted_problem(rng)  # 10 points, 3 classes
    # the targets: each point's 2 nearest of its class, never itself
    for i in range(X.shape[0]):
        same = [j for j in np.flatnonzero(y == y[i]) if j != i]
        dist = {j: np.sum((X[i] - X[j]) ** 2) for j in same}
        assert list(targets[i]) == sorted(same, key=lambda j: (dist[j], j))[:2]
    problem = LMNNProblem(X, bounds, targets, rho, squared=squared)
    L = rng.standard_normal((n_components, X.shape[1]))
    value, grad = problem.loss_grad(L.ravel())
    want_loss, want_grad = naive_lmnn_loss_grad(L, X, y, targets, rho, squared)
    assert problem.n_active > 0
    assert value == pytest.approx(want_loss, rel=1e-12)
    assert_allclose(grad.reshape(L.shape), want_grad, rtol=1e-10, atol=1e-10)
    assert lmnn_objective(L, X, y, 2, rho, loss=loss) == pytest.approx(want_loss, rel=1e-12)


@pytest.mark.parametrize("squared", [False, True])
def test_lmnn_gradient(rng, squared):
    X, _, bounds, targets = _sorted_problem(rng, (6, 6, 5), d=4, k=2)
    problem = LMNNProblem(X, bounds, targets, 0.5, squared=squared)
    _assert_gradient(lambda v: problem.loss_grad(v)[0], lambda v: problem.loss_grad(v)[1],
                     0.7 * rng.standard_normal(12))


# ------------------------------------------------------------ MMC, diagonal


@pytest.mark.parametrize("c", [0.5, 1.0, 1.7])
def test_mmc_diagonal_gradient_and_hessian(rng, c):
    d = 5
    s_sum = rng.uniform(0.5, 2.0, d)
    Q = rng.uniform(0.0, 1.0, (30, d)) ** 2
    a = rng.uniform(0.2, 1.0, d)
    h, grad, H = diagonal_objective(a, s_sum, Q, c)
    assert diagonal_value(a, s_sum, Q, c) == pytest.approx(h, rel=1e-13)

    def gradient(x):
        return diagonal_objective(x, s_sum, Q, c)[1]

    assert check_grad(lambda x: diagonal_value(x, s_sum, Q, c), gradient, a) < (
        1e-6 * np.linalg.norm(grad) + 1e-7)
    H_fd = np.array([approx_fprime(a, lambda x, k=k: gradient(x)[k], 1e-7) for k in range(d)])
    assert_allclose(H, H_fd, rtol=1e-4, atol=1e-6)
    assert np.all(H == H.T)
    assert np.linalg.eigvalsh(H).min() >= -1e-12  # convex


# ------------------------------------------------------------ NCA and MLKR


def naive_nca_value_grad(L, X, y):
    """NCA's objective sum_i p_i and its gradient, one pair at a time, from
    Goldberger et al.'s formula: d f / d L = 2 L sum_i (p_i sum_k p_ik x_ik
    x_ik^T - sum_{j: y_j = y_i} p_ij x_ij x_ij^T)."""
    n, d = X.shape
    G = np.zeros((d, d))
    total = 0.0
    for i in range(n):
        e = np.array([np.exp(-np.sum((L @ (X[i] - X[k])) ** 2)) if k != i else 0.0
                      for k in range(n)])
        p = e / e.sum()
        p_i = p[y == y[i]].sum()
        total += p_i
        for k in range(n):
            outer = np.outer(X[i] - X[k], X[i] - X[k])
            G += p_i * p[k] * outer - (y[k] == y[i]) * p[k] * outer
    return total, 2.0 * L @ G


def naive_mlkr_loss_grad(L, X, y):
    """MLKR's leave-one-out error and its gradient, one pair at a time:
    d f / d L = 4 L sum_ij (yhat_i - y_i) p_ij (yhat_i - y_j) x_ij x_ij^T."""
    n, d = X.shape
    K = np.array([[np.exp(-np.sum((L @ (X[i] - X[j])) ** 2)) if i != j else 0.0
                   for j in range(n)] for i in range(n)])
    P = K / K.sum(axis=1, keepdims=True)
    yhat = P @ y
    G = np.zeros((d, d))
    for i in range(n):
        for j in range(n):
            w = (yhat[i] - y[i]) * P[i, j] * (yhat[i] - y[j])
            G += w * np.outer(X[i] - X[j], X[i] - X[j])
    return np.sum((yhat - y) ** 2), 4.0 * L @ G


def _sorted_by_class(X, y):
    index = LabelIndex(y)
    Xs = np.ascontiguousarray(X[index.order])
    return Xs - Xs.mean(axis=0), index.bounds, index.codes[index.order], y[index.order]


@pytest.mark.parametrize("n_components", [4, 2, 1])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_nca_gradient_against_a_naive_loop(rng, n_components, n_jobs):
    X, y = rng.normal(size=(30, 4)), rng.integers(3, size=30)
    L = 0.6 * rng.standard_normal((n_components, 4))
    Xs, bounds, codes, ys = _sorted_by_class(X, y)
    # blocks of 7 rows: several blocks, in one or several groups
    problem = NCAProblem(Xs, bounds, codes, n_jobs=n_jobs, memory=8 * 7 * 30 * n_jobs)
    value, grad = problem.value_grad(L)
    want_value, want_grad = naive_nca_value_grad(L, Xs, ys)
    assert value == pytest.approx(want_value, rel=1e-12)
    assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-11 * np.abs(want_grad).max())
    assert nca_objective(L, X, y) == pytest.approx(want_value, rel=1e-12)
    # the later evaluations select candidates from the first's nearest points
    for _ in range(2):
        again, grad_again = problem.value_grad(L)
        assert again == pytest.approx(want_value, rel=1e-12)
        assert_allclose(grad_again, want_grad, rtol=1e-9, atol=1e-11 * np.abs(want_grad).max())


@pytest.mark.parametrize("n_components", [4, 2, 1])
def test_nca_gradient(rng, n_components):
    X, y = rng.normal(size=(25, 4)), rng.integers(3, size=25)
    Xs, bounds, codes, _ = _sorted_by_class(X, y)
    problem = NCAProblem(Xs, bounds, codes)
    _assert_gradient(lambda v: problem.loss_grad(v)[0], lambda v: problem.loss_grad(v)[1],
                     0.7 * rng.standard_normal(n_components * 4))


@pytest.mark.parametrize("n_components", [4, 2, 1])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_mlkr_gradient_against_a_naive_loop(rng, n_components, n_jobs):
    X, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    L = 0.6 * rng.standard_normal((n_components, 4))
    problem = MLKRProblem(X, y, n_jobs=n_jobs)
    value, grad = problem.value_grad(L)
    want_value, want_grad = naive_mlkr_loss_grad(L, X, y)
    assert value == pytest.approx(want_value, rel=1e-12)
    assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-11 * np.abs(want_grad).max())
    assert mlkr_objective(L, X, y) == pytest.approx(want_value, rel=1e-12)


@pytest.mark.parametrize("n_components", [4, 2, 1])
def test_mlkr_gradient(rng, n_components):
    X, y = rng.normal(size=(25, 4)), rng.normal(size=25)
    problem = MLKRProblem(X, y)
    _assert_gradient(lambda v: problem.loss_grad(v)[0], lambda v: problem.loss_grad(v)[1],
                     0.7 * rng.standard_normal(n_components * 4))
