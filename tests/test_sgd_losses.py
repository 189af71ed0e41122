"""The SGD family's contrastive and triplet objectives: gradients and NumPy
twins of the kernels, negative mining on a hand-built example, learning on
digits, the triplets learner as a classifier of triplets and as a metric
learner, determinism and errors."""

import inspect
import re

import numpy as np
import pytest
import test_metric_contract as contract
from conftest import TRIPLETS_SPECS, spec_id, training_input
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import check_grad
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from metriclearn import (
    Constraints,
    SGDMetricLearner,
    SGDMetricLearner_Supervised,
    SGDTripletLearner,
)
from metriclearn._kernels import sgd_triplets as tk
from metriclearn._kernels.sgd import CONTRASTIVE, pair_loss_grad, sgd_steps
from metriclearn.objectives import sgd_objective, triplet_objective

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MINERS = {"all": tk.ALL, "hard": tk.HARD, "semihard": tk.SEMIHARD, "easy": tk.EASY}
LOSSES = {"triplet": tk.TRIPLET, "infonce": tk.INFONCE}

# ----------------------------------------------------------------- twins


def _naive_contrastive(X, pairs, labels, L, alpha, margin):
    loss, grad = 0.0, np.zeros_like(L)
    for (a, b), lab in zip(pairs, labels, strict=True):
        d = X[a] - X[b]
        e = L @ d
        r = np.linalg.norm(e)
        if lab > 0:
            loss += r * r
            grad += 2 * np.outer(e, d)
        elif r < margin:
            loss += alpha * (margin - r) ** 2
            if r > 0:  # a pair of identical points has no gradient
                grad -= 2 * alpha * (margin - r) / r * np.outer(e, d)
    return loss / len(pairs), grad / len(pairs)


def _naive_triplet_terms(dp, dns, loss, margin, temperature):
    """Loss of one anchor and its derivatives in ``dp`` and each ``dn``."""
    dns = np.asarray(dns, dtype=float)
    if loss == "triplet":
        h = dp - dns + margin
        active = h > 0
        w = 1.0 / dns.size
        return w * h[active].sum(), w * active.sum(), -w * active
    s = (dp - dns) / temperature
    z = 1.0 + np.exp(s).sum()
    q = np.exp(s) / z / temperature
    return np.log(z), q.sum(), -q


def _naive_mined(X, codes, anchors, positives, u, L, loss, miner, margin, temperature):
    """Mean mined loss of one batch and its gradient, one anchor at a time,
    distances from explicit differences."""
    pts = np.concatenate([anchors, positives])
    b = anchors.shape[0]
    total, grad = 0.0, np.zeros_like(L)

    def d2(i, j):
        e = L @ (X[i] - X[j])
        return e @ e

    def g(i, j):
        d = X[i] - X[j]
        return 2 * np.outer(L @ d, d)

    for i in range(b):
        a, p = anchors[i], positives[i]
        dp = d2(a, p)
        cand = [j for j in range(2 * b) if codes[pts[j]] != codes[a]]
        dn = {j: d2(a, pts[j]) for j in cand}
        if miner == "all":
            chosen = cand
        elif miner == "hard":
            chosen = [min(cand, key=lambda j: (dn[j], j))] if cand else []
        else:
            ok = [j for j in cand
                  if (dp < dn[j] < dp + margin if miner == "semihard"
                      else dn[j] >= dp + margin)]
            chosen = [ok[min(int(u[i] * len(ok)), len(ok) - 1)]] if ok else []
        if not chosen:
            continue
        value, cp, cn = _naive_triplet_terms(dp, [dn[j] for j in chosen], loss, margin,
                                             temperature)
        total += value
        grad += cp * g(a, p)
        for c, j in zip(cn, chosen, strict=True):
            grad += c * g(a, pts[j])
    return total / b, grad / b


@pytest.fixture
def problem(rng):
    X = rng.normal(size=(40, 5))
    codes = rng.integers(4, size=40)
    L = rng.normal(size=(3, 5)) * 0.4
    return X, codes, L


def _mined_batch_input(rng, codes, b=30):
    anchors = rng.integers(40, size=b)
    # a positive of the anchor's class (another point when there is one)
    positives = np.array([rng.choice(np.flatnonzero(codes == codes[a])) for a in anchors])
    return anchors, positives, rng.random(b)


def test_contrastive_gradient_and_twin(problem, rng):
    X, _, L = problem
    pairs = rng.integers(40, size=(150, 2))
    labels = np.where(rng.random(150) < 0.5, 1, -1).astype(np.int8)

    def f(v):
        return pair_loss_grad(X, pairs, labels, v.reshape(L.shape), 2.0, 1.5, CONTRASTIVE)[0]

    def g(v):
        return pair_loss_grad(X, pairs, labels, v.reshape(L.shape), 2.0, 1.5,
                              CONTRASTIVE)[1].ravel()

    assert check_grad(f, g, L.ravel(), epsilon=1e-7) < 1e-5 * np.linalg.norm(g(L.ravel()))
    loss, grad = pair_loss_grad(X, pairs, labels, L, 2.0, 1.5, CONTRASTIVE)
    ref_loss, ref_grad = _naive_contrastive(X, pairs, labels, L, 2.0, 1.5)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-12)
    # one step of the kernel is one step along that gradient
    order = np.arange(150)
    precond = rng.uniform(0.5, 1.5, size=5)
    out, _ = sgd_steps(X, pairs, labels, order, L, np.array([0.1]), 150, 2.0, 1.5, precond,
                       CONTRASTIVE)
    assert_allclose(out, L - 0.1 * grad * precond, rtol=1e-10, atol=1e-12)
    assert sgd_objective(L, pairs, labels, alpha=2.0, margin=1.5, loss="contrastive",
                         preprocessor=X) == pytest.approx(loss)


@pytest.mark.parametrize("loss", ["triplet", "infonce"])
def test_triplet_gradient_and_twin(problem, rng, loss):
    X, _, L = problem
    triplets = rng.integers(40, size=(100, 3))
    code = LOSSES[loss]

    def f(v):
        return tk.triplet_loss_grad(X, triplets, v.reshape(L.shape), code, 1.5, 0.7)[0]

    def g(v):
        return tk.triplet_loss_grad(X, triplets, v.reshape(L.shape), code, 1.5, 0.7)[1].ravel()

    assert check_grad(f, g, L.ravel(), epsilon=1e-7) < 1e-5 * np.linalg.norm(g(L.ravel()))
    value, grad = tk.triplet_loss_grad(X, triplets, L, code, 1.5, 0.7)
    ref, ref_grad = 0.0, np.zeros_like(L)
    for a, p, n in triplets:
        dp, dn = [np.sum((L @ (X[a] - X[x])) ** 2) for x in (p, n)]
        v, cp, cn = _naive_triplet_terms(dp, [dn], loss, 1.5, 0.7)
        ref += v
        ref_grad += 2 * cp * np.outer(L @ (X[a] - X[p]), X[a] - X[p])
        ref_grad += 2 * cn[0] * np.outer(L @ (X[a] - X[n]), X[a] - X[n])
    assert value == pytest.approx(ref / 100, rel=1e-12)
    assert_allclose(grad, ref_grad / 100, rtol=1e-10, atol=1e-12)
    assert triplet_objective(L, triplets, loss=loss, margin=1.5, temperature=0.7,
                             preprocessor=X) == pytest.approx(value)
    # the steps follow the gradient (InfoNCE's scaled by the temperature)
    precond = rng.uniform(0.5, 1.5, size=5)
    out, losses = tk.triplet_steps(X, triplets, np.arange(100), L, np.array([0.1]), 100,
                                   code, 1.5, 0.7, precond)
    scale = 0.7 if loss == "infonce" else 1.0
    assert_allclose(out, L - 0.1 * scale * grad * precond, rtol=1e-10, atol=1e-12)
    assert losses[0] == pytest.approx(100 * value)


@pytest.mark.parametrize("miner", list(MINERS))
@pytest.mark.parametrize("loss", ["triplet", "infonce"])
def test_mined_loss_gradient_and_twin(problem, rng, loss, miner):
    X, codes, L = problem
    anchors, positives, u = _mined_batch_input(rng, codes)
    args = (X, codes, anchors, positives, u)
    params = (LOSSES[loss], MINERS[miner], 1.5, 0.7)
    value, grad = tk.mined_loss_grad(*args, L, *params)
    ref, ref_grad = _naive_mined(*args, L, loss, miner, 1.5, 0.7)
    assert value == pytest.approx(ref, rel=1e-10, abs=1e-14)
    assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
    if miner != "easy" or loss == "infonce":  # easy negatives carry no triplet loss
        assert value > 0

    def f(v):
        return tk.mined_loss_grad(*args, v.reshape(L.shape), *params)[0]

    def g(v):
        return tk.mined_loss_grad(*args, v.reshape(L.shape), *params)[1].ravel()

    # the mined set is locally constant at a generic L
    assert check_grad(f, g, L.ravel(), epsilon=1e-7) < 1e-5 * max(1.0, np.linalg.norm(grad))


def test_mined_steps_equal_a_loop_of_batch_gradients(problem, rng):
    X, codes, L = problem
    anchors, positives, u = _mined_batch_input(rng, codes, b=50)
    etas = np.array([0.2, 0.1, 0.05])
    precond = rng.uniform(0.5, 1.5, size=5)
    out, losses = tk.mined_steps(X, codes, anchors, positives, u, L, etas, 20, tk.INFONCE,
                                 tk.SEMIHARD, 1.5, 0.7, precond)
    ref = L.copy()
    for t, eta in enumerate(etas):
        s = slice(20 * t, 20 * (t + 1))
        value, grad = _naive_mined(X, codes, anchors[s], positives[s], u[s], ref, "infonce",
                                   "semihard", 1.5, 0.7)
        assert losses[t] == pytest.approx(value * anchors[s].shape[0], rel=1e-10)
        ref = ref - eta * 0.7 * grad * precond
    assert_allclose(out, ref, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------- mining


@pytest.fixture
def line():
    """One anchor at 0 (class 0) with its positive at 1, on a line: squared
    distance 1 to the positive. Negatives (class 1): three closer than the
    positive (hard), three semi-hard (1 < d2 < 1 + margin = 2), two beyond the
    margin (easy)."""
    neg = np.array([0.3, 0.5, -0.9, 1.1, -1.2, 1.3, 1.6, -2.0])
    X = np.concatenate([[0.0, 1.0], neg])[:, None]
    codes = np.array([0, 0] + [1] * 8)
    return X, codes


def _mine(X, codes, miner, u, margin=1.0):
    """Mined negatives of the anchor (point 0) in a batch holding every point:
    anchors ``[0, 2..5]`` paired with positives ``[1, 6..9]``."""
    anchors = np.array([0, 2, 3, 4, 5])
    positives = np.array([1, 6, 7, 8, 9])
    pts = np.concatenate([anchors, positives])
    E = X[pts]
    D2 = ((E[:5, None, :] - E[None, :, :]) ** 2).sum(-1)
    sel = np.empty((5, 10), dtype=np.intp)
    count = tk.mine_negatives(D2, codes[pts], MINERS[miner], margin, u, sel)
    return pts[sel[0, :count[0]]]


def test_mining_follows_the_definitions(line):
    X, codes = line
    u = np.full(5, 0.5)
    assert sorted(_mine(X, codes, "all", u)) == list(range(2, 10))
    # hard: the closest negative
    assert_array_equal(_mine(X, codes, "hard", u), [2])
    # a class-0 anchor never takes a class-0 point as a negative
    assert 1 not in _mine(X, codes, "all", u)
    d2 = X[:, 0] ** 2
    semihard = {j for j in range(2, 10) if 1.0 < d2[j] < 2.0}
    easy = {j for j in range(2, 10) if d2[j] >= 2.0}
    assert semihard == {5, 6, 7} and easy == {8, 9}
    # one negative each, drawn uniformly among the qualifying ones by u
    draws = np.random.default_rng(0).random(3000)
    for miner, allowed in (("semihard", semihard), ("easy", easy)):
        picked = np.array([_mine(X, codes, miner, np.full(5, v))[0] for v in draws])
        assert set(picked) == allowed
        freq = np.array([np.mean(picked == j) for j in sorted(allowed)])
        assert_allclose(freq, 1 / len(allowed), atol=0.03)
    # the margin moves the boundary between semi-hard and easy
    assert set(_mine(X, codes, "semihard", np.full(5, v), margin=5.0)[0]
               for v in draws[:200]) == semihard | easy


def test_mining_without_qualifying_negatives_skips_the_anchor():
    # every negative is far: no semi-hard one, and the triplet loss is zero
    X = np.array([[0.0], [0.1], [5.0], [6.0]])
    codes = np.array([0, 0, 1, 1])
    anchors, positives, u = np.array([0, 2]), np.array([1, 3]), np.array([0.5, 0.5])
    L = np.eye(1)
    for loss in (tk.TRIPLET, tk.INFONCE):
        value, grad = tk.mined_loss_grad(X, codes, anchors, positives, u, L, loss,
                                         tk.SEMIHARD, 1.0, 0.5)
        assert value == 0.0 and np.all(grad == 0.0)


def test_mining_statistics_over_a_fit():
    # on data where every class is split in two far clusters, hard negatives
    # are closer than the positive on average, easy ones beyond the margin
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = rng.integers(4, size=200)
    X[:, 0] += 3 * y
    est = SGDMetricLearner_Supervised(loss="triplet", miner="semihard", max_iter=3, tol=None,
                                      batch_size=64, random_state=0).fit(X, y)
    E = est.transform(X)
    anchors = rng.integers(200, size=300)
    same = [rng.choice(np.flatnonzero((y == y[a]) & (np.arange(200) != a))) for a in anchors]
    anchors, positives = anchors, np.array(same)
    pts = np.concatenate([anchors[:64], positives[:64]])
    D2 = ((E[anchors[:64], None, :] - E[None, pts, :]) ** 2).sum(-1)
    sel = np.empty((64, 128), dtype=np.intp)
    for miner in MINERS:
        count = tk.mine_negatives(D2, y[pts], MINERS[miner], est.margin, rng.random(64), sel)
        for i in np.flatnonzero(count):
            dp, dn = D2[i, 64 + i], D2[i, sel[i, :count[i]]]
            assert np.all(y[pts[sel[i, :count[i]]]] != y[anchors[i]])
            if miner == "hard":
                others = D2[i, y[pts] != y[anchors[i]]]
                assert dn[0] == others.min()
            elif miner == "semihard":
                assert np.all((dp < dn) & (dn < dp + est.margin))
            elif miner == "easy":
                assert np.all(dn >= dp + est.margin)


# ----------------------------------------------------------- digits, 3-NN


@pytest.fixture(scope="module")
def digits():
    """Standardised digits, one stratified 70/30 split."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _knn(digits, est=None):
    X_train, X_test, y_train, y_test = digits
    if est is not None:
        X_train, X_test = est.transform(X_train), est.transform(X_test)
    return KNeighborsClassifier(3).fit(X_train, y_train).score(X_test, y_test)


def _local_pairs(X, y):
    """Similar pairs to each point's 3 nearest same-class neighbours,
    dissimilar pairs to its 5 nearest other-class points."""
    triplets = Constraints(y).generate_knntriplets(X, 3, 5)
    sim = np.unique(triplets[:, [0, 1]], axis=0)
    dis = np.unique(triplets[:, [0, 2]], axis=0)
    return np.concatenate([sim, dis]), np.r_[np.ones(len(sim)), -np.ones(len(dis))]


@pytest.mark.parametrize("loss", ["hinge", "contrastive"])
def test_pair_losses_on_local_pairs_beat_euclidean_knn(digits, loss):
    X_train, _, y_train, _ = digits
    pairs, y_pairs = _local_pairs(X_train, y_train)
    est = SGDMetricLearner(loss=loss, eta0=0.1, batch_size=256, preprocessor=X_train,
                           random_state=0).fit(pairs, y_pairs)
    assert _knn(digits, est) > _knn(digits)


@pytest.mark.parametrize(
    ("loss", "miner", "max_iter"),
    [("triplet", "all", 20), ("triplet", "hard", 40), ("infonce", "all", 20)],
)
def test_mined_losses_beat_euclidean_knn(digits, loss, miner, max_iter):
    X_train, _, y_train, _ = digits
    est = SGDMetricLearner_Supervised(loss=loss, miner=miner, batch_size=256,
                                      max_iter=max_iter, random_state=0).fit(X_train, y_train)
    assert _knn(digits, est) > _knn(digits)


@pytest.mark.parametrize("loss", ["triplet", "infonce"])
def test_triplets_learner_beats_euclidean_knn(digits, loss):
    X_train, _, y_train, _ = digits
    triplets = Constraints(y_train).generate_knntriplets(X_train, 2, 3)
    est = SGDTripletLearner(loss=loss, batch_size=256, max_iter=20, preprocessor=X_train,
                            random_state=0).fit(triplets)
    assert _knn(digits, est) > _knn(digits)
    assert est.score(triplets) > 0.95


# ------------------------------------------------- the triplets classifier


@pytest.fixture
def toy_triplets(toy):
    X, y = toy
    return X, Constraints(y).generate_knntriplets(X, 2, 2)


def test_triplets_classifier(toy_triplets):
    X, triplets = toy_triplets
    est = SGDTripletLearner(random_state=0).fit(X[triplets])
    points = X[triplets]
    d_pos = est.pair_distance(points[:, [0, 1]])
    d_neg = est.pair_distance(points[:, [0, 2]])
    assert_allclose(est.decision_function(points), d_neg - d_pos, rtol=1e-12)
    assert_array_equal(est.predict(points), np.where(d_neg > d_pos, 1, -1))
    assert est.score(points) == np.mean(d_neg > d_pos) > 0.95
    # swapping positive and negative flips every prediction (no ties here)
    swapped = points[:, [0, 2, 1]]
    assert_array_equal(est.predict(swapped), -est.predict(points))
    assert est.score(swapped) == pytest.approx(1 - est.score(points))
    # a triplet whose anchor is equidistant is not "closer to the positive"
    tie = np.array([[[0.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0]]])
    est.components_ = np.eye(3)
    assert est.predict(tie).tolist() == [-1]


def test_index_triplets_equal_point_triplets(toy_triplets):
    X, triplets = toy_triplets
    on_points = SGDTripletLearner(random_state=0).fit(X[triplets])
    for index_dtype in (np.int32, np.int64, np.float64):
        on_indices = SGDTripletLearner(random_state=0, preprocessor=X).fit(
            triplets.astype(index_dtype))
        assert_array_equal(on_indices.components_, on_points.components_)
        assert_array_equal(on_indices.objective_history_, on_points.objective_history_)
    on_callable = SGDTripletLearner(random_state=0, preprocessor=lambda i: X[i]).fit(triplets)
    assert_array_equal(on_callable.components_, on_points.components_)
    for method in ("predict", "decision_function"):
        assert_array_equal(getattr(on_indices, method)(triplets),
                           getattr(on_points, method)(X[triplets]))
    assert on_indices.score(triplets) == on_points.score(X[triplets])


def test_triplets_learner_in_model_selection(toy_triplets):
    X, triplets = toy_triplets
    scores = cross_val_score(SGDTripletLearner(max_iter=20, random_state=0), X[triplets],
                             cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)


def test_first_partial_fit_is_one_epoch_of_fit(toy_triplets):
    X, triplets = toy_triplets
    one = SGDTripletLearner(max_iter=1, tol=None, random_state=0).fit(X[triplets])
    streamed = SGDTripletLearner(random_state=0).partial_fit(X[triplets])
    assert_array_equal(streamed.components_, one.components_)
    streamed.partial_fit(X[triplets[:50]])
    assert streamed.n_iter_ == 2


@pytest.mark.parametrize("spec", TRIPLETS_SPECS, ids=spec_id)
@pytest.mark.parametrize(
    "check",
    [contract.test_mahalanobis_matrix_is_psd_and_factorised,
     contract.test_pair_distance_is_euclidean_after_transform,
     contract.test_get_metric_is_a_pseudo_metric,
     contract.test_get_metric_keeps_its_own_copy,
     contract.test_get_metric_in_knn_equals_knn_after_transform,
     contract.test_pickle_roundtrip,
     contract.test_clone_refits_to_the_same_result,
     contract.test_n_features_in_counts_features,
     contract.test_get_feature_names_out,
     contract.test_kmeans_after_transform_beats_kmeans_on_raw_data],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_triplets_learner_keeps_the_metric_contract(check, spec, toy, rng, request):
    """The metric contract of every learner, for the triplets learners."""
    available = {"spec": spec, "toy": toy, "rng": rng,
                 "data": toy if "data" in inspect.signature(check).parameters else None}
    check(**{name: available[name] for name in inspect.signature(check).parameters})


# ------------------------------------------------------------ determinism


@pytest.mark.parametrize(
    "make",
    [lambda: SGDMetricLearner_Supervised(loss="triplet", miner="semihard", max_iter=5,
                                         batch_size=64, random_state=3),
     lambda: SGDMetricLearner_Supervised(loss="infonce", miner="easy", max_iter=5,
                                         batch_size=64, random_state=3),
     lambda: SGDMetricLearner_Supervised(loss="contrastive", max_iter=5, random_state=3)],
    ids=["triplet-semihard", "infonce-easy", "contrastive"],
)
def test_new_losses_are_deterministic(toy, make):
    X, y = toy
    a, b = make().fit(X, y), make().fit(X, y)
    assert_array_equal(a.components_, b.components_)
    assert_array_equal(a.objective_history_, b.objective_history_)
    other = make().set_params(random_state=4).fit(X, y)
    assert not np.array_equal(a.components_, other.components_)


def test_verbose_counts_anchors(toy, capsys):
    X, y = toy
    SGDMetricLearner_Supervised(loss="triplet", max_iter=2, tol=None, verbose=1,
                                random_state=0).fit(X, y)
    assert "anchors/s" in capsys.readouterr().out


# ---------------------------------------------------------------- errors


def test_loss_not_for_this_input(toy, toy_triplets):
    X, y = toy
    pairs, y_pairs = Constraints(y).pairs(20, random_state=0)
    with pytest.raises(ValueError, match=re.escape(
        "loss='triplet' needs triplets or class labels; SGDMetricLearner learns with loss "
        "in ['hinge', 'contrastive']; for the triplet losses use SGDTripletLearner "
        "(triplets) or SGDMetricLearner_Supervised (class labels)"
    )):
        SGDMetricLearner(loss="triplet").fit(X[pairs], y_pairs)
    _, triplets = toy_triplets
    with pytest.raises(ValueError, match=re.escape(
        "loss='contrastive' needs pairs; SGDTripletLearner learns with loss in "
        "['triplet', 'infonce']; for the pair losses use SGDMetricLearner (pairs) or "
        "SGDMetricLearner_Supervised (class labels)"
    )):
        SGDTripletLearner(loss="contrastive").fit(X[triplets])
    with pytest.raises(ValueError, match=re.escape(
        "miner='hard' selects the negatives of the triplet losses; with loss='hinge' the "
        "pairs are drawn at random: use miner='all', or loss='triplet' or 'infonce'"
    )):
        SGDMetricLearner_Supervised(miner="hard").fit(X, y)


@pytest.mark.parametrize(
    ("cls", "param", "value"),
    [(SGDMetricLearner_Supervised, "loss", "npairs"),
     (SGDMetricLearner_Supervised, "miner", "hardest"),
     (SGDMetricLearner_Supervised, "temperature", 0.0),
     (SGDTripletLearner, "temperature", -1.0),
     (SGDTripletLearner, "margin", 0.0)],
)
def test_bad_parameters(toy, toy_triplets, cls, param, value):
    X, y = toy
    args = (X, y) if cls is SGDMetricLearner_Supervised else (X[toy_triplets[1]],)
    with pytest.raises(InvalidParameterError, match=re.escape(
        f"The '{param}' parameter of {cls.__name__} must be"
    )):
        cls(**{param: value}).fit(*args)


def test_bad_triplets(toy, toy_triplets):
    X, triplets = toy_triplets
    with pytest.raises(ValueError, match=re.escape(
        "triplets must have shape (n, 3, n_features), or (n, 3) with a preprocessor; "
        "got shape (10, 2, 3)"
    )):
        SGDTripletLearner().fit(np.zeros((10, 2, 3)))
    with pytest.raises(ValueError, match=re.escape(
        "triplets of shape (5, 3) looks like indices, but no preprocessor was given"
    )):
        SGDTripletLearner().fit(np.arange(15).reshape(5, 3))
    bad = triplets.copy()
    bad[3, 2] = 60
    with pytest.raises(ValueError, match=re.escape(
        "triplets holds indices out of range for the preprocessor of 60 samples: [60]"
    )):
        SGDTripletLearner(preprocessor=X).fit(bad)
    points = X[triplets]
    points[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="triplets contains NaN or infinity"):
        SGDTripletLearner().fit(points)
    est = SGDTripletLearner(max_iter=2, random_state=0).fit(X[triplets])
    with pytest.raises(ValueError, match=re.escape(
        "triplets has 2 features, but the estimator was fitted with 3 features"
    )):
        est.predict(X[triplets][:, :, :2])


def test_training_input_of_a_triplets_spec(toy):
    X, y = toy
    (triplets,) = training_input(TRIPLETS_SPECS[0], X, y)
    assert triplets.shape[1:] == (3, 3)
