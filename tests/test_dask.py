"""The SGD family's Dask backend. What both backends share runs on each of
them (the ``backend`` fixture: ``'local'``, or ``'dask'`` with a default
client of the session's ``LocalCluster``): fits on pairs, index pairs,
triplets and class labels, determinism as far as each promises it, the
calibrated threshold, ``transform`` and bad input. Then what only Dask has:
every update applied exactly once (keyed by shard and round), Dask array
input, a scheduler address, a worker killed in the middle of ``fit`` and the
scheduler lost in the middle of it (each on a cluster of its own), a
missing Dask extra named; and at real scale: shards that hold every class
whatever the order of the rows, epochs of the same number of tuples as the
local backend's, no result applied after the stop decision, and training on
class-sorted rows (iris as loaded) that learns instead of collapsing."""

import asyncio
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from support import LOCAL_CLUSTER, assert_fails_cleanly, assert_unchanged, snapshot

from metriclearn import (
    Constraints,
    SGDMetricLearner,
    SGDMetricLearner_Supervised,
    SGDTripletLearner,
)
from metriclearn._labels import LabelIndex
from metriclearn._sgd.dask import _round_sizes, epoch_sizes, stratified_shards
from metriclearn.datasets import make_xing_toy
from metriclearn.objectives import sgd_objective, triplet_objective

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# rounds of 4 steps of 128 tuples, 5 epochs: tens of tasks per fit
PARAMS = dict(max_iter=5, tol=None, batch_size=128, local_steps=4, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_xing_toy(n_samples=1000, n_classes=3, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(1000, random_state=0)
    return X, y, pairs, y_pairs, Constraints(y).generate_knntriplets(X, 2, 2)


def _assert_keys_exactly_once(est, n_shards, rounds_per_shard):
    """Every (shard, round) update applied once, the rounds of a shard in order."""
    keys = [tuple(k) for k in est.update_keys_]
    assert len(keys) == len(set(keys)) == est.n_updates_
    assert set(keys) == {(s, r) for s in range(n_shards) for r in range(rounds_per_shard)}
    for s in range(n_shards):
        assert [r for t, r in keys if t == s] == list(range(rounds_per_shard))


def _assert_dask_fit(est, backend, n_shards, rounds_per_shard):
    if backend == "dask":
        _assert_keys_exactly_once(est, n_shards, rounds_per_shard)
    else:
        assert not hasattr(est, "update_keys_")
    assert est.n_iter_ == PARAMS["max_iter"]
    assert est.objective_history_.shape == (PARAMS["max_iter"],)
    assert est.objective_history_[-1] < est.objective_history_[0]


# ------------------------------------------------- shared by both backends


@pytest.mark.parametrize("form", ["points", "indices"])
def test_fit_on_pairs(backend, form, data):
    X, _, pairs, y_pairs, _ = data
    args = (X[pairs], y_pairs) if form == "points" else (pairs, y_pairs)
    preprocessor = None if form == "points" else X
    est = SGDMetricLearner(backend=backend, preprocessor=preprocessor, **PARAMS).fit(*args)
    # 2000 pairs, 2 shards of 1000, rounds of 512 pairs: 2 rounds an epoch
    _assert_dask_fit(est, backend, 2, 2 * 5)
    assert est.score(X[pairs], y_pairs) > 0.99
    assert_array_equal(est.transform(X), X @ est.components_.T)
    # the threshold is the accuracy-optimal cut of the training pairs
    threshold = est.threshold_
    assert est.calibrate_threshold(X[pairs], y_pairs).threshold_ == threshold
    if backend == "dask":  # the same problem as the local backend's
        local = SGDMetricLearner(preprocessor=preprocessor, **PARAMS).fit(*args)
        assert sgd_objective(est.components_, X[pairs], y_pairs) == pytest.approx(
            sgd_objective(local.components_, X[pairs], y_pairs), rel=0.15)
        assert abs(threshold - local.threshold_) < 0.2 * local.threshold_


@pytest.mark.parametrize("form", ["points", "indices"])
def test_fit_on_triplets(backend, form, data):
    X, _, _, _, triplets = data
    est = SGDTripletLearner(backend=backend, preprocessor=None if form == "points" else X,
                            **PARAMS).fit(X[triplets] if form == "points" else triplets)
    # 4000 triplets, 2 shards of 2000, rounds of 512: 4 rounds an epoch
    _assert_dask_fit(est, backend, 2, 4 * 5)
    assert est.score(X[triplets]) > 0.95
    assert_array_equal(est.transform(X), X @ est.components_.T)
    if backend == "dask":
        local = SGDTripletLearner(preprocessor=X, **PARAMS).fit(triplets)
        assert triplet_objective(est.components_, triplets, preprocessor=X) < (
            2 * triplet_objective(local.components_, triplets, preprocessor=X) + 0.01)


@pytest.mark.parametrize("loss", ["hinge", "contrastive", "triplet", "infonce"])
def test_fit_on_labels(backend, loss, data):
    X, y, pairs, y_pairs, _ = data
    params = {**PARAMS, "loss": loss, "local_steps": 2}
    if loss in ("triplet", "infonce"):
        params["miner"] = "semihard" if loss == "triplet" else "all"
    est = SGDMetricLearner_Supervised(backend=backend, **params).fit(X, y)
    # an epoch takes each of the 1000 points once as an anchor: 2 shards of
    # 500 anchors, rounds of 2 x 128
    _assert_dask_fit(est, backend, 2, 2 * 5)
    assert np.all(np.isfinite(est.components_))
    assert est.objective_history_[-1] < 0.7 * est.objective_history_[0]
    # the class axis is learned: dissimilar pairs end up longer against
    # similar ones (the ratio of the medians is 1.5 in Euclidean distance,
    # 2.2 to 2.9 after these fits)
    def ratio(dist):
        return np.median(dist[y_pairs < 0]) / np.median(dist[y_pairs > 0])

    euclidean = np.linalg.norm(X[pairs[:, 0]] - X[pairs[:, 1]], axis=1)
    assert ratio(est.pair_distance(X[pairs])) > 1.4 * ratio(euclidean)


@pytest.mark.parametrize("loss", ["lifted", "supcon", "debiased", "magnet"])
def test_fit_on_labels_with_the_batch_and_magnet_losses(backend, loss, data):
    X, y, pairs, y_pairs, _ = data
    params = {**PARAMS, "loss": loss, "local_steps": 2}
    if loss == "magnet":
        # two clusters per class, refitted every other epoch: on Dask by a
        # task per shard at the map of the shard's first round of the epoch
        params.update(n_clusters_per_class=2, refresh=2)
    est = SGDMetricLearner_Supervised(backend=backend, **params).fit(X, y)
    # each point once as an anchor an epoch, as the mined losses: 2 shards
    # of 500 anchors, rounds of 2 x 128
    _assert_dask_fit(est, backend, 2, 2 * 5)
    assert np.all(np.isfinite(est.components_))
    # the class axis is learned: the ratio of the medians of dissimilar to
    # similar distances, 1.5 in Euclidean distance, is 1.7 to 3 after these
    # short fits (the smallest: 'debiased', whose negatives ignore labels,
    # and 'supcon' at its small eta0)
    def ratio(dist):
        return np.median(dist[y_pairs < 0]) / np.median(dist[y_pairs > 0])

    euclidean = np.linalg.norm(X[pairs[:, 0]] - X[pairs[:, 1]], axis=1)
    assert ratio(est.pair_distance(X[pairs])) > 1.1 * ratio(euclidean)


def test_same_random_state(backend, data):
    """Bit for bit on the local backend; on Dask, where the updates arrive in
    the order the tasks finish, the same start and the same updates."""
    X, _, pairs, y_pairs, _ = data
    a, b, other = (SGDMetricLearner(backend=backend, **{**PARAMS, "random_state": seed})
                   .fit(X[pairs], y_pairs) for seed in (3, 3, 4))
    assert_array_equal(a.preconditioner_, b.preconditioner_)
    assert a.n_iter_ == b.n_iter_
    if backend == "local":
        assert_array_equal(a.components_, b.components_)
        assert_array_equal(a.objective_history_, b.objective_history_)
        assert a.threshold_ == b.threshold_
    else:
        assert sorted(map(tuple, a.update_keys_)) == sorted(map(tuple, b.update_keys_))
    assert not np.array_equal(a.components_, other.components_)


def test_calibration_params_in_fit(backend, data):
    X, _, pairs, y_pairs, _ = data
    params = {"strategy": "max_tnr", "min_rate": 0.9}
    est = SGDMetricLearner(backend=backend, **PARAMS).fit(X[pairs], y_pairs,
                                                          calibration_params=params)
    threshold = est.threshold_
    assert est.calibrate_threshold(X[pairs], y_pairs, **params).threshold_ == threshold


@pytest.mark.parametrize(
    ("bad", "message"),
    [("nan", "pairs contains NaN or infinity"),
     ("index", "pairs holds indices out of range for the preprocessor of 1000 samples: [1000]"),
     ("labels", "y must contain both similar (+1) and dissimilar (-1) pairs; got only [1]")],
)
def test_bad_input_leaves_the_learner_unchanged(backend, bad, message, data):
    X, _, pairs, y_pairs, _ = data
    if bad == "nan":
        args, preprocessor = (X[pairs], y_pairs), None
        args[0][7, 1, 2] = np.nan
    else:
        args, preprocessor = (pairs.copy(), y_pairs.copy()), X
        if bad == "index":
            args[0][7, 1] = 1000
        else:
            args[1][:] = 1
    fitted = SGDMetricLearner(preprocessor=preprocessor, **PARAMS).fit(pairs, y_pairs) if (
        preprocessor is not None) else SGDMetricLearner(**PARAMS).fit(X[pairs], y_pairs)
    for est in (SGDMetricLearner(preprocessor=preprocessor, **PARAMS), fitted):
        est.set_params(backend=backend)
        assert_fails_cleanly(est, ValueError, re.escape(message), *args)


# ------------------------------------------------------------ Dask only


def test_dask_array_pairs_via_a_scheduler_address(dask_cluster, data):
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    X, _, pairs, y_pairs, _ = data
    est = SGDMetricLearner(backend="dask", scheduler=dask_cluster.scheduler_address, **PARAMS)
    est.fit(da.from_array(X[pairs], chunks=(500, 2, 3)), da.from_array(y_pairs, chunks=500))
    _assert_keys_exactly_once(est, 2, 2 * 5)
    assert est.n_features_in_ == 3
    assert est.score(X[pairs], y_pairs) > 0.99
    # the threshold calibrated on distances computed on the cluster
    threshold = est.threshold_
    assert est.calibrate_threshold(X[pairs], y_pairs).threshold_ == threshold
    # the connection opened from the address was closed, no default was set
    with pytest.raises(ValueError):
        distributed.get_client()


def test_dask_array_points_and_triplets(dask_client, data):
    da = pytest.importorskip("dask.array")
    X, y, _, _, triplets = data
    est = SGDMetricLearner_Supervised(backend="dask", **{**PARAMS, "local_steps": 2})
    est.fit(da.from_array(X, chunks=250), da.from_array(y, chunks=250))
    _assert_keys_exactly_once(est, 2, 2 * 5)
    local = SGDMetricLearner_Supervised(**{**PARAMS, "local_steps": 2}).fit(X, y)
    pairs, y_pairs = Constraints(y).pairs(1000, random_state=1)
    assert sgd_objective(est.components_, pairs, y_pairs, preprocessor=X) == pytest.approx(
        sgd_objective(local.components_, pairs, y_pairs, preprocessor=X), rel=0.15)
    est = SGDTripletLearner(backend="dask", **PARAMS).fit(
        da.from_array(X[triplets], chunks=(2000, 3, 3)))
    _assert_keys_exactly_once(est, 2, 4 * 5)
    assert est.score(X[triplets]) > 0.95


def test_dask_array_with_nan_is_a_clear_error(dask_client, data):
    da = pytest.importorskip("dask.array")
    X, _, pairs, y_pairs, _ = data
    points = X[pairs]
    points[3, 0, 1] = np.nan
    assert_fails_cleanly(SGDMetricLearner(backend="dask", **PARAMS), ValueError,
                         "pairs contains NaN or infinity", da.from_array(points, chunks=500),
                         y_pairs)


def test_without_a_client_the_error_says_what_to_do(data):
    X, y, _, _, _ = data
    assert_fails_cleanly(SGDMetricLearner_Supervised(backend="dask"), ValueError,
                         r"backend='dask' with scheduler=None needs a running Dask client", X, y)


class _Interrupt:
    """``distributed.as_completed`` that calls ``act`` once the driver has
    taken ``after`` results: a fault in the middle of ``fit``, at a point
    that does not depend on the machine's speed."""

    def __init__(self, real, after, act):
        self.real, self.after, self.act = real, after, act

    def __call__(self, *args, **kwargs):
        queue = self.real(*args, **kwargs)
        outer = self

        class Queue:
            def add(self, future):
                queue.add(future)

            def __iter__(self):
                for i, future in enumerate(queue):
                    if i == outer.after:
                        outer.act()
                    yield future

        return Queue()


def _big_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 16))
    y = rng.integers(4, size=4000)
    X[:, 0] += 3 * y
    pairs, y_pairs = Constraints(y).pairs(12800, random_state=0)
    return X, pairs, y_pairs


def test_worker_killed_mid_fit_applies_every_update_exactly_once(monkeypatch):
    distributed = pytest.importorskip("distributed")
    X, pairs, y_pairs = _big_problem()
    # rounds of 50 steps of 256 pairs: one round per shard and epoch
    est = SGDMetricLearner(backend="dask", preprocessor=X, max_iter=6, tol=None,
                           batch_size=256, local_steps=50, random_state=0)
    killed = {}
    with distributed.LocalCluster(**LOCAL_CLUSTER) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_a_busy_worker():
            # a worker running a round, or else one holding a round's result
            for ask in (client.processing, client.has_what):
                busy = [w for w, keys in ask().items()
                        if any(str(k).startswith("metriclearn-sgd") for k in keys)]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed["worker"] = busy[0]
                    return

        monkeypatch.setattr(distributed, "as_completed",
                            _Interrupt(distributed.as_completed, 3, kill_a_busy_worker))
        est.fit(pairs, y_pairs)
        assert killed, "no worker was busy with the fit"
        assert pids[killed["worker"]] not in client.run(os.getpid).values()
    # 25600 pairs, 2 shards of 12800, rounds of 12800 pairs: 1 round an epoch
    _assert_keys_exactly_once(est, 2, 6)
    assert est.n_iter_ == 6
    assert np.all(np.isfinite(est.components_))
    assert est.score(pairs, y_pairs) > 0.9


@pytest.mark.parametrize("connect", ["address", "default_client"])
def test_scheduler_lost_mid_fit_is_a_connection_error(connect, monkeypatch):
    distributed = pytest.importorskip("distributed")
    dask = pytest.importorskip("dask")
    X, pairs, y_pairs = _big_problem()
    small = np.r_[0:500, -500:0]  # similar and dissimilar pairs
    # the workers and clients left without a scheduler give up sooner
    with dask.config.set({"distributed.comm.timeouts.connect": "10s"}), \
            distributed.LocalCluster(**LOCAL_CLUSTER) as cluster:
        address = cluster.scheduler_address
        client = distributed.Client(address) if connect == "default_client" else None
        try:
            est = SGDMetricLearner(
                backend="dask", scheduler=address if client is None else None,
                preprocessor=X, max_iter=1, tol=None, batch_size=256, local_steps=50,
                random_state=0,
            ).fit(pairs[small], y_pairs[small])
            est.set_params(max_iter=50)  # far more rounds than the two before the loss

            def close_the_scheduler():
                asyncio.run_coroutine_threadsafe(
                    cluster.scheduler.close(), cluster.loop.asyncio_loop).result(timeout=60)

            monkeypatch.setattr(distributed, "as_completed",
                                _Interrupt(distributed.as_completed, 2, close_the_scheduler))
            before = snapshot(est)
            with pytest.raises(ConnectionError, match=(
                    r"backend='dask': the connection to the Dask scheduler at .* was lost "
                    r"during fit")):
                est.fit(pairs, y_pairs)
        finally:
            if client is not None:
                client.close(timeout=10)
    # the learner as it was after its first fit, and it works without any scheduler
    assert_unchanged(est, before)
    assert np.all(np.isfinite(est.pair_distance(pairs[:10])))


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
    assert ("backend='dask' needs Dask's distributed scheduler, an optional dependency: "
            'pip install "metriclearn[dask]"') in out


# ==========================================================================
# At real scale: stratified shards, epochs as the local backend's, class-sorted rows
# ==========================================================================


distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


CLUSTER = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
               dashboard_address="127.0.0.1:0")


def _warm_up():
    """Load the compiled mining kernels in a worker."""
    from metriclearn._kernels.sgd_mining import mined_steps, target_neighbors

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    codes = np.array([0, 0, 1, 1])
    target_neighbors(X, np.array([0, 2, 4]), 1)
    for normalize in (False, True):
        for loss in range(4):
            for miner in range(4):
                mined_steps(X, codes, np.array([0, 2]), np.array([1, 3]), np.full(2, 0.5),
                            np.eye(1), np.ones(1), 2, loss, miner, 1.0, 1.0, np.ones(1),
                            1.0, normalize)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(**CLUSTER) as cluster:
        with distributed.Client(cluster) as client:
            client.run(_warm_up)
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


# ------------------------------------------------------------------ shards


def test_stratified_shards_hold_every_class_of_sorted_rows():
    y = np.repeat([0, 1, 2], [50, 30, 7])  # sorted by class, one small class
    rows = stratified_shards(LabelIndex(y), 3, np.random.RandomState(0))
    assert sorted(np.concatenate(rows).tolist()) == list(range(87))
    for r in rows:
        assert np.all(np.diff(r) > 0)
        counts = np.bincount(y[r], minlength=3)
        # about a third of every class, whatever the order of the rows
        assert np.all(np.abs(counts - np.array([50, 30, 7]) / 3) <= 1)
    sizes = [r.shape[0] for r in rows]
    assert max(sizes) - min(sizes) <= 1


def test_an_epoch_is_the_local_number_of_tuples():
    rows = [np.arange(49), np.arange(51)]
    # 150 anchors (a local epoch of 150 anchors), shared out by rows
    sizes = epoch_sizes(150, rows)
    assert sizes.sum() == 150 and sizes.tolist() == [74, 76]
    # rounds of at most batch_size * local_steps tuples, the rest in the last
    assert _round_sizes(74, 32).tolist() == [32, 32, 10]
    assert _round_sizes(74, 1024).tolist() == [74]
    assert _round_sizes(0, 1024).tolist() == [1]


# --------------------------------------------------- class-sorted rows


def _knn(est, X, y):
    pipe = make_pipeline(StandardScaler(), est, KNeighborsClassifier(3))
    return cross_val_score(pipe, X, y, cv=3).mean()


@pytest.mark.parametrize(
    "params",
    [dict(), dict(loss="triplet", miner="semihard"), dict(sampling="random")],
    ids=["default", "triplet-semihard", "random-pairs"],
)
def test_learns_on_class_sorted_iris(client, params):
    # iris as loaded: 50 rows of each class in turn; contiguous blocks of
    # rows gave shards of one class and a collapsed map
    X, y = load_iris(return_X_y=True)
    assert np.all(np.diff(y) >= 0)
    X = StandardScaler().fit_transform(X)
    est = SGDMetricLearner_Supervised(backend="dask", batch_size=32, local_steps=4,
                                      max_iter=30, random_state=0, **params).fit(X, y)
    s = np.linalg.svd(est.components_, compute_uv=False)
    assert s[0] > 0.1 and s[1] > 1e-3 * s[0], s
    emb = est.transform(X)
    acc = KNeighborsClassifier(3).fit(emb, y).score(emb, y)
    assert acc > 0.9


def test_learns_on_class_sorted_wine_from_a_dask_array(client):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xd, yd = da.from_array(X, chunks=60), da.from_array(y, chunks=60)
    est = SGDMetricLearner_Supervised(backend="dask", batch_size=32, local_steps=4,
                                      max_iter=20, random_state=0).fit(Xd, yd)
    emb = est.transform(X)
    euclidean = KNeighborsClassifier(3).fit(X, y).score(X, y)
    assert KNeighborsClassifier(3).fit(emb, y).score(emb, y) >= euclidean - 0.01


# ------------------------------------------------------- epochs, stopping


def test_dask_epoch_matches_the_local_epoch(client):
    # one local epoch is 150 anchors in 5 steps of 32; on 2 shards each
    # round is the shard's whole share (75 anchors): one round per epoch,
    # never the 2 * 4 * 32 anchors of full rounds
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(batch_size=32, max_iter=6, tol=None, random_state=0)
    est = SGDMetricLearner_Supervised(backend="dask", local_steps=4, **params).fit(X, y)
    keys = [tuple(k) for k in est.update_keys_]
    assert sorted(keys) == [(s, r) for s in range(2) for r in range(6)]
    # ceil(75 / 32) = 3 steps per round, damped by 1 / 2 shards
    assert est.t_ == 6 * 2 * 3 // 2
    local = SGDMetricLearner_Supervised(**params).fit(X, y)
    assert local.t_ == 6 * 5
    # the same settings reach a map of the same scale on both backends
    ratio = np.linalg.norm(est.components_) / np.linalg.norm(local.components_)
    assert 0.5 < ratio < 2.0


def test_no_result_is_applied_after_the_stop_decision(client):
    # with a constant rate, every epoch after the first is "no progress"
    # (tol is huge): the schedule stops at the end of epoch 2
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = SGDMetricLearner_Supervised(
        backend="dask", learning_rate="constant", tol=1e9, n_iter_no_change=1,
        batch_size=8, local_steps=1, max_iter=50, random_state=0,
    ).fit(X, y)
    assert est.converged_ and est.n_iter_ == 2
    keys = [tuple(k) for k in est.update_keys_]
    # 178 anchors: shards of 89, rounds of 8 anchors, 12 rounds an epoch
    rounds = 12
    for s in range(2):
        mine = [r for t, r in keys if t == s]
        assert mine == list(range(len(mine)))  # in order, each once
        assert len(mine) >= 2 * rounds
    # the stop came when the last shard finished epoch 2; the other shard
    # may have run ahead by the rounds applied before, never the whole of
    # epoch 3, and nothing after: the fit ends on the decision
    assert len(keys) < 2 * 3 * rounds
    assert est.n_updates_ == len(keys)
