"""SGDMetricLearner and SGDMetricLearner_Supervised (local backend): the loss
and its gradient, the kernels against NumPy twins, convergence, determinism,
input forms, streaming and errors."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import check_grad
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from metriclearn import Constraints, SGDMetricLearner, SGDMetricLearner_Supervised
from metriclearn._kernels.sgd import pair_loss_grad, pair_sq_distances, sgd_steps
from metriclearn._labels import LabelIndex
from metriclearn._sgd.engine import preconditioner as _preconditioner
from metriclearn._sgd.sources import LabelPairSampler
from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy
from metriclearn.objectives import sgd_objective

# short fits stop at max_iter on purpose; the warning has its own test
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# ----------------------------------------------------------------- twins


def _naive_loss_grad(X, pairs, labels, L, alpha, margin):
    """The mean pair hinge loss and its gradient, one pair at a time."""
    loss, grad = 0.0, np.zeros_like(L)
    for (a, b), lab in zip(pairs, labels, strict=True):
        d = X[a] - X[b]
        e = L @ d
        sq = e @ e
        if lab > 0:
            loss += sq
            grad += 2 * np.outer(e, d)
        elif sq < margin:
            loss += alpha * (margin - sq)
            grad -= 2 * alpha * np.outer(e, d)
    return loss / len(pairs), grad / len(pairs)


def _numpy_steps(X, pairs, labels, order, L, etas, B, alpha, margin, precond):
    """NumPy twin of ``sgd_steps``."""
    L = L.copy()
    losses = []
    for t, eta in enumerate(etas):
        idx = order[t * B:(t + 1) * B]
        if idx.size == 0:
            break
        D = X[pairs[idx, 0]] - X[pairs[idx, 1]]
        Z = D @ L.T
        sq = (Z * Z).sum(axis=1)
        sim = labels[idx] > 0
        active = ~sim & (sq < margin)
        w = np.where(sim, 1.0, np.where(active, -alpha, 0.0))
        losses.append(sq[sim].sum() + alpha * (margin - sq[active]).sum())
        G = (w[:, None] * Z).T @ D
        L -= eta * 2.0 / idx.size * G * precond
    return L, np.array(losses)


@pytest.fixture
def problem(rng):
    X = rng.normal(size=(40, 5))
    pairs = rng.integers(40, size=(150, 2))
    labels = np.where(rng.random(150) < 0.5, 1, -1).astype(np.int8)
    L = rng.normal(size=(3, 5)) * 0.4
    return X, pairs, labels, L


def test_gradient_check(problem):
    X, pairs, labels, L = problem

    def f(v):
        return pair_loss_grad(X, pairs, labels, v.reshape(L.shape), 2.0, 1.5)[0]

    def g(v):
        return pair_loss_grad(X, pairs, labels, v.reshape(L.shape), 2.0, 1.5)[1].ravel()

    err = check_grad(f, g, L.ravel(), epsilon=1e-7)
    assert err < 1e-5 * max(1.0, np.linalg.norm(g(L.ravel())))


def test_loss_and_gradient_equal_a_naive_loop(problem):
    X, pairs, labels, L = problem
    loss, grad = pair_loss_grad(X, pairs, labels, L, 2.0, 1.5)
    ref_loss, ref_grad = _naive_loss_grad(X, pairs, labels, L, 2.0, 1.5)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-12)
    # the hinge is active for some dissimilar pairs and not for others
    sq = pair_sq_distances(X, pairs, L)
    assert 0 < np.sum((labels < 0) & (sq < 1.5)) < np.sum(labels < 0)


@pytest.mark.parametrize("index_dtype", [np.intp, np.int32])
@pytest.mark.parametrize("B", [1, 16, 64, 200])
def test_sgd_steps_equal_numpy_twin(problem, rng, B, index_dtype):
    X, pairs, labels, L = problem
    pairs = pairs.astype(index_dtype)
    order = rng.permutation(150)
    n_steps = -(-150 // B)
    etas = rng.uniform(0.05, 0.3, size=n_steps)
    precond = rng.uniform(0.5, 1.5, size=5)
    X.setflags(write=False)
    L.setflags(write=False)
    out, losses = sgd_steps(X, pairs, labels, order, L, etas, B, 2.0, 1.5, precond)
    ref, ref_losses = _numpy_steps(X, pairs, labels, order, L, etas, B, 2.0, 1.5, precond)
    assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    assert_allclose(losses, ref_losses, rtol=1e-10, atol=1e-12)


def test_pair_sq_distances_equal_numpy(problem):
    X, pairs, _, L = problem
    e = (X[pairs[:, 0]] - X[pairs[:, 1]]) @ L.T
    assert_allclose(pair_sq_distances(X, pairs, L), (e * e).sum(axis=1), rtol=1e-12)


def test_preconditioner_bounds_the_curvature(rng):
    # features in wildly different units, correlated
    diffs = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) * [1e3, 1.0, 1e-2, 5.0]
    p = _preconditioner(diffs)
    H = (diffs * np.sqrt(p)).T @ (diffs * np.sqrt(p)) / diffs.shape[0]
    assert np.linalg.eigvalsh(H)[-1] == pytest.approx(1.0)
    # a constant feature gets no step
    assert _preconditioner(np.c_[diffs, np.zeros(500)])[-1] == 0.0


def test_label_pair_sampler(rng):
    y = np.repeat([0, 1, 2, 3], [5, 1, 7, 3])
    sampler = LabelPairSampler(LabelIndex(y))
    pairs, labels = sampler.draw(2000, np.random.RandomState(0))
    assert pairs.shape == (4000, 2)
    assert_array_equal(labels[0::2], 1)
    assert_array_equal(labels[1::2], -1)
    sim, dis = pairs[labels > 0], pairs[labels < 0]
    assert np.all(y[sim[:, 0]] == y[sim[:, 1]]) and np.all(sim[:, 0] != sim[:, 1])
    assert np.all(y[dis[:, 0]] != y[dis[:, 1]])
    # the single point of class 1 has no partner but is used in dissimilar pairs
    assert 5 not in sim and 5 in dis
    # every eligible similar pair appears
    possible = {(i, j) for i in range(16) for j in range(16) if i != j and y[i] == y[j]}
    assert set(map(tuple, sim)) == possible


# ------------------------------------------------------------ convergence


def test_pairs_learner_on_xing_toy():
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=1)
    pairs, y_pairs = Constraints(y).pairs(60, random_state=0)
    est = SGDMetricLearner(preprocessor=X, random_state=0).fit(pairs, y_pairs)
    assert est.converged_
    assert est.objective_history_[-1] < 0.5 * est.objective_history_[0]
    assert est.score(pairs, y_pairs) > 0.99
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    raw = pairwise_clustering_accuracy(y, kmeans.fit_predict(X))
    learned = pairwise_clustering_accuracy(y, kmeans.fit_predict(est.transform(X)))
    assert raw < 0.8 and learned > 0.99


def test_supervised_on_iris_beats_euclidean_clustering():
    X, y = load_iris(return_X_y=True)
    est = SGDMetricLearner_Supervised(random_state=0).fit(X, y)
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    raw = pairwise_clustering_accuracy(y, kmeans.fit_predict(X))
    learned = pairwise_clustering_accuracy(y, kmeans.fit_predict(est.transform(X)))
    assert learned > raw + 0.05


def test_supervised_on_wine_beats_euclidean_knn():
    # raw wine features span five orders of magnitude: the preconditioner
    # makes the steps independent of the units
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(SGDMetricLearner_Supervised(random_state=0), KNeighborsClassifier(3))
    learned = cross_val_score(pipe, X, y, cv=5).mean()
    euclidean = cross_val_score(KNeighborsClassifier(3), X, y, cv=5).mean()
    assert euclidean < 0.75 and learned > 0.95


@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_schedules_decrease_the_loss(schedule):
    X, y = make_xing_toy(n_samples=300, n_classes=2, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(400, random_state=0)
    est = SGDMetricLearner(learning_rate=schedule, eta0=0.3, batch_size=64, max_iter=20,
                           tol=None, preprocessor=X, random_state=0).fit(pairs, y_pairs)
    assert est.n_iter_ == 20 and not est.converged_
    assert est.objective_history_[-1] < 0.5 * est.objective_history_[0]
    assert est.t_ == 20 * -(-800 // 64)


def test_n_components_reduces_the_dimension():
    X, y = load_iris(return_X_y=True)
    est = SGDMetricLearner_Supervised(n_components=2, random_state=0).fit(X, y)
    assert est.components_.shape == (2, 4)
    assert est.transform(X).shape == (150, 2)
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    assert pairwise_clustering_accuracy(y, kmeans.fit_predict(est.transform(X))) > 0.9


@pytest.mark.parametrize("init", ["identity", "pca", "random", "auto"])
def test_named_inits_start_at_the_margin(init):
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(800, random_state=0)
    est = SGDMetricLearner(init=init, max_iter=1, eta0=1e-12, margin=3.0, tol=None,
                           preprocessor=X, random_state=0).fit(pairs, y_pairs)
    sq = pair_sq_distances(X, pairs, est.components_)
    assert sq.mean() == pytest.approx(3.0, rel=0.1)


# ------------------------------------------------------------ determinism


def test_fit_is_deterministic_bit_for_bit():
    X, y = load_wine(return_X_y=True)
    a = SGDMetricLearner_Supervised(random_state=3, max_iter=15).fit(X, y)
    b = SGDMetricLearner_Supervised(random_state=3, max_iter=15).fit(X, y)
    assert_array_equal(a.components_, b.components_)
    assert_array_equal(a.objective_history_, b.objective_history_)
    pairs, y_pairs = Constraints(y).pairs(300, random_state=0)
    c = SGDMetricLearner(random_state=3, preprocessor=X).fit(pairs, y_pairs)
    d = SGDMetricLearner(random_state=3, preprocessor=X).fit(pairs, y_pairs)
    assert_array_equal(c.components_, d.components_)
    assert c.threshold_ == d.threshold_
    other = SGDMetricLearner(random_state=4, preprocessor=X).fit(pairs, y_pairs)
    assert not np.array_equal(c.components_, other.components_)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64, np.float64])
def test_index_pairs_equal_point_pairs(index_dtype):
    X, y = make_xing_toy(n_samples=200, n_classes=3, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(500, random_state=0)
    on_points = SGDMetricLearner(random_state=0).fit(X[pairs], y_pairs)
    on_indices = SGDMetricLearner(random_state=0, preprocessor=X).fit(
        pairs.astype(index_dtype), y_pairs
    )
    assert_array_equal(on_indices.components_, on_points.components_)
    assert on_indices.threshold_ == on_points.threshold_
    assert_array_equal(on_indices.objective_history_, on_points.objective_history_)


# -------------------------------------------------------- streams, restarts


def test_first_partial_fit_is_one_epoch_of_fit():
    X, y = make_xing_toy(n_samples=100, n_classes=2, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(300, random_state=0)
    one_epoch = SGDMetricLearner(max_iter=1, tol=None, random_state=0).fit(X[pairs], y_pairs)
    streamed = SGDMetricLearner(random_state=0).partial_fit(X[pairs], y_pairs)
    assert_array_equal(streamed.components_, one_epoch.components_)
    assert streamed.threshold_ == one_epoch.threshold_
    assert streamed.n_iter_ == 1


def test_partial_fit_over_chunks_learns_the_metric():
    X, y = make_xing_toy(n_samples=600, n_classes=3, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(3000, random_state=0)
    chunks = np.array_split(np.random.default_rng(0).permutation(pairs.shape[0]), 20)
    est = SGDMetricLearner(preprocessor=X, batch_size=64, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for chunk in chunks:
            est.partial_fit(pairs[chunk], y_pairs[chunk])
    assert est.n_iter_ == 20 and est.objective_history_.shape == (20,)
    assert est.objective_history_[-1] < 0.5 * est.objective_history_[0]
    assert est.score(pairs, y_pairs) > 0.99
    sup = SGDMetricLearner_Supervised(random_state=0)
    for chunk in np.array_split(np.arange(600), 10):
        sup.partial_fit(X[chunk], y[chunk])
    assert sup.n_iter_ == 10
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    assert pairwise_clustering_accuracy(y, kmeans.fit_predict(sup.transform(X))) > 0.95


def test_partial_fit_checks_the_number_of_features():
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    est = SGDMetricLearner_Supervised(random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but SGDMetricLearner_Supervised"):
        est.partial_fit(X[:, :2], y)


def test_warm_start_continues_from_the_fitted_map():
    X, y = load_iris(return_X_y=True)
    first = SGDMetricLearner_Supervised(max_iter=3, tol=None, random_state=0).fit(X, y)
    warm = SGDMetricLearner_Supervised(max_iter=3, tol=None, random_state=0)
    warm.fit(X, y)
    warm.set_params(warm_start=True, random_state=1).fit(X, y)
    from_init = SGDMetricLearner_Supervised(
        max_iter=3, tol=None, random_state=1, init=first.components_
    ).fit(X, y)
    assert_array_equal(warm.components_, from_init.components_)
    cold = SGDMetricLearner_Supervised(max_iter=3, tol=None, random_state=1).fit(X, y)
    assert not np.array_equal(warm.components_, cold.components_)


# ------------------------------------------------------------ reporting


def test_verbose_prints_epochs_and_throughput(capsys):
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    SGDMetricLearner_Supervised(max_iter=3, tol=None, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert re.match(
        r"\[SGDMetricLearner_Supervised\] epoch    1  loss \S+  eta 0.5  [\d,]+ pairs/s",
        lines[0],
    )


def test_convergence_warning_at_max_iter():
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match=re.escape(
        "SGDMetricLearner_Supervised did not converge in max_iter=2 epochs (tol=0.001)"
    )) as record:
        SGDMetricLearner_Supervised(max_iter=2, random_state=0).fit(X, y)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        SGDMetricLearner_Supervised(max_iter=2, tol=None, random_state=0).fit(X, y)


def test_objective_history_matches_sgd_objective_at_the_end():
    X, y = make_xing_toy(n_samples=200, n_classes=3, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(500, random_state=0)
    est = SGDMetricLearner(preprocessor=X, random_state=0, max_iter=300).fit(pairs, y_pairs)
    final = sgd_objective(est.components_, pairs, y_pairs, preprocessor=X)
    assert final == pytest.approx(est.objective_history_[-1], rel=0.05)
    assert final == pytest.approx(sgd_objective(est.components_, X[pairs], y_pairs))


# ---------------------------------------------------------------- errors


def test_n_components_above_n_features():
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    with pytest.raises(ValueError, match=re.escape(
        "n_components=4 must be at most the number of features (3)"
    )):
        SGDMetricLearner_Supervised(n_components=4).fit(X, y)


def test_bad_init_array():
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    with pytest.raises(ValueError, match=re.escape(
        "init must have shape (2, 3) (n_components, n_features); got shape (3, 3)"
    )):
        SGDMetricLearner_Supervised(n_components=2, init=np.eye(3)).fit(X, y)
    with pytest.raises(ValueError, match="init contains NaN or infinity"):
        SGDMetricLearner_Supervised(init=np.full((3, 3), np.nan)).fit(X, y)


@pytest.mark.parametrize(
    ("param", "value"),
    [("learning_rate", "optimal"), ("eta0", 0.0), ("batch_size", 0), ("alpha", -1.0),
     ("margin", 0.0), ("backend", "spark"), ("local_steps", 0), ("scheduler", 8786)],
)
def test_bad_parameters(param, value):
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    with pytest.raises(InvalidParameterError, match=re.escape(
        f"The '{param}' parameter of SGDMetricLearner_Supervised must be"
    )):
        SGDMetricLearner_Supervised(**{param: value}).fit(X, y)


def test_classes_of_single_points():
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(ValueError, match=re.escape(
        "SGDMetricLearner_Supervised needs a class with at least 2 samples to draw "
        "similar pairs; every class in y has a single sample"
    )):
        SGDMetricLearner_Supervised().fit(X, [0, 1, 2, 3])


def test_bad_index_pairs_without_gathering():
    X, y = make_xing_toy(n_samples=60, n_classes=2, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(20, random_state=0)
    bad = pairs.copy()
    bad[3, 1] = 60
    with pytest.raises(ValueError, match=re.escape(
        "pairs holds indices out of range for the preprocessor of 60 samples: [60]"
    )):
        SGDMetricLearner(preprocessor=X).fit(bad, y_pairs)
    with pytest.raises(ValueError, match=re.escape(
        "y must contain both similar (+1) and dissimilar (-1) pairs; got only [1]"
    )):
        SGDMetricLearner(preprocessor=X).fit(pairs, np.ones(pairs.shape[0], dtype=int))
    with pytest.raises(ValueError, match=re.escape(
        "y must hold pair labels +1 (similar) and -1 (dissimilar); got values [-1, 0, 1]"
    )):
        SGDMetricLearner(preprocessor=X).fit(pairs, np.r_[y_pairs[:-1], 0])


def test_divergence_is_an_error_not_nan():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=re.escape(
        "SGD diverged at epoch"
    )), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        SGDMetricLearner_Supervised(eta0=1e6, learning_rate="constant",
                                    random_state=0).fit(X, y)


def test_dask_backend_without_dask_names_the_extra():
    code = (
        "import sys\n"
        "for name in ('dask', 'dask.array', 'distributed'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np\n"
        "from metriclearn import SGDMetricLearner_Supervised as S\n"
        "X = np.random.default_rng(0).normal(size=(40, 3)); y = np.arange(40) % 2\n"
        "S(max_iter=2, tol=None).fit(X, y)\n"
        "try:\n"
        "    S(backend='dask').fit(X, y)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert 'pip install "metriclearn[dask]"' in out
