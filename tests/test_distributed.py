"""SGDMetricLearner on Dask: a real LocalCluster on 127.0.0.1, numpy and Dask
array input, a default client or a scheduler address, clone and pickle, the
result against the local backend, and a worker killed in the middle of fit."""

import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

from metriclearn import Constraints, SGDMetricLearner, SGDMetricLearner_Supervised
from metriclearn.datasets import make_xing_toy
from metriclearn.objectives import sgd_objective

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLUSTER = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
               dashboard_address="127.0.0.1:0")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(**CLUSTER) as cluster:
        with distributed.Client(cluster) as client:
            # load the compiled kernels in every worker once
            client.run(_warm_up)
        yield cluster


def _warm_up():
    from metriclearn._kernels.sgd import pair_sq_distances, sgd_steps

    X = np.zeros((2, 1))
    pairs = np.array([[0, 1]])
    sgd_steps(X, pairs, np.ones(1, np.int8), np.zeros(1, np.intp), np.ones((1, 1)),
              np.ones(1), 1, 1.0, 1.0, np.ones(1))
    pair_sq_distances(X, pairs, np.ones((1, 1)))


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    X, y = make_xing_toy(n_samples=2000, n_classes=3, random_state=0)
    pairs, y_pairs = Constraints(y).pairs(3000, random_state=0)
    return X, y, pairs, y_pairs


def _assert_keys_exactly_once(est, n_shards, rounds_per_shard):
    keys = [tuple(k) for k in est.update_keys_]
    expected = {(s, r) for s in range(n_shards) for r in range(rounds_per_shard)}
    assert len(keys) == len(set(keys)) == est.n_updates_
    assert set(keys) == expected
    # the rounds of a shard are applied in order
    for s in range(n_shards):
        assert [r for t, r in keys if t == s] == list(range(rounds_per_shard))


@pytest.mark.timeout(600)
def test_index_pairs_with_default_client_match_local(client, data):
    X, _, pairs, y_pairs = data
    params = dict(preprocessor=X, max_iter=10, tol=None, batch_size=256, random_state=0)
    local = SGDMetricLearner(**params).fit(pairs, y_pairs)
    est = SGDMetricLearner(backend="dask", local_steps=4, **params).fit(pairs, y_pairs)
    # 6000 pairs, 2 shards of 3000, rounds of 4 * 256 pairs: 3 rounds per epoch
    _assert_keys_exactly_once(est, 2, 3 * 10)
    assert est.n_iter_ == 10 and est.objective_history_.shape == (10,)
    local_loss = sgd_objective(local.components_, pairs, y_pairs, preprocessor=X)
    dask_loss = sgd_objective(est.components_, pairs, y_pairs, preprocessor=X)
    assert dask_loss == pytest.approx(local_loss, rel=0.15)
    assert est.score(pairs, y_pairs) > 0.99
    assert abs(est.threshold_ - local.threshold_) < 0.2 * local.threshold_


@pytest.mark.timeout(600)
def test_dask_array_pairs_via_scheduler_address(cluster, data):
    X, _, pairs, y_pairs = data
    points = da.from_array(X[pairs], chunks=(1000, 2, 3))
    est = SGDMetricLearner(backend="dask", scheduler=cluster.scheduler_address,
                           max_iter=10, tol=None, batch_size=256, local_steps=4,
                           random_state=0)
    est.fit(points, da.from_array(y_pairs, chunks=1000))
    _assert_keys_exactly_once(est, 2, 3 * 10)
    assert est.n_features_in_ == 3
    assert est.score(X[pairs], y_pairs) > 0.99
    # the connection opened from the address was closed, no default was set
    with pytest.raises(ValueError):
        distributed.get_client()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_supervised_numpy_and_dask_input(client, data, kind):
    X, y, pairs, y_pairs = data
    params = dict(max_iter=10, tol=None, batch_size=256, random_state=0)
    if kind == "dask":
        Xin, yin = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    else:
        Xin, yin = X, y
    est = SGDMetricLearner_Supervised(backend="dask", local_steps=2, **params).fit(Xin, yin)
    # an epoch draws 2000 + 2000 pairs: 2 shards of 2000, rounds of 512 pairs
    _assert_keys_exactly_once(est, 2, 4 * 10)
    local = SGDMetricLearner_Supervised(**params).fit(X, y)
    local_loss = sgd_objective(local.components_, pairs, y_pairs, preprocessor=X)
    dask_loss = sgd_objective(est.components_, pairs, y_pairs, preprocessor=X)
    assert dask_loss == pytest.approx(local_loss, rel=0.15)


@pytest.mark.timeout(600)
def test_clone_and_pickle(client, data):
    X, _, pairs, y_pairs = data
    est = SGDMetricLearner(backend="dask", max_iter=3, tol=None, local_steps=4,
                           batch_size=256, random_state=0)
    est.fit(X[pairs], y_pairs)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.components_, est.components_)
    assert_array_equal(restored.update_keys_, est.update_keys_)
    assert_array_equal(restored.predict(X[pairs]), est.predict(X[pairs]))
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "components_")
    # no client is held anywhere in the estimator
    assert not any(isinstance(v, distributed.Client) for v in vars(est).values())
    assert fresh.fit(X[pairs], y_pairs).n_updates_ == est.n_updates_


@pytest.mark.timeout(600)
def test_without_a_client_the_error_says_what_to_do(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="needs a running Dask client"):
        SGDMetricLearner_Supervised(backend="dask").fit(X, y)


@pytest.mark.timeout(600)
def test_worker_killed_mid_fit_applies_every_update_exactly_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 16))
    y = rng.integers(4, size=20000)
    X[:, 0] += 3 * y
    pairs, y_pairs = Constraints(y).pairs(100000, random_state=0)
    est = SGDMetricLearner(backend="dask", preprocessor=X, max_iter=4, tol=None,
                           batch_size=256, local_steps=50, random_state=0)
    killed = {}
    with distributed.LocalCluster(**CLUSTER) as cluster, distributed.Client(cluster) as client:
        client.run(_warm_up)
        pids = client.run(os.getpid)

        def kill_when_busy():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = {w: keys for w, keys in client.processing().items()
                        if any(str(k).startswith("metriclearn-sgd") for k in keys)}
                # kill once some rounds are done and one is running
                done = [k for k in client.who_has() if str(k).startswith("metriclearn-sgd")]
                if busy and (done or time.monotonic() > deadline - 55):
                    worker, keys = next(iter(busy.items()))
                    os.kill(pids[worker], signal.SIGKILL)
                    killed.update(worker=worker, keys=keys, at=time.monotonic())
                time.sleep(0.005)

        killer = threading.Thread(target=kill_when_busy)
        start = time.monotonic()
        killer.start()
        est.fit(pairs, y_pairs)
        end = time.monotonic()
        killer.join()
        assert killed, "no worker was killed"
        assert start < killed["at"] < end
        assert pids[killed["worker"]] not in client.run(os.getpid).values()
    # 200000 pairs, 2 shards of 100000, rounds of 12800 pairs: 8 rounds an epoch
    _assert_keys_exactly_once(est, 2, 8 * 4)
    assert est.n_iter_ == 4
    assert np.all(np.isfinite(est.components_))
    assert est.score(pairs, y_pairs) > 0.9


@pytest.mark.timeout(600)
@pytest.mark.parametrize("loss", ["contrastive", "triplet", "infonce"])
def test_supervised_new_losses_on_dask_match_local(client, data, loss):
    X, y, pairs, y_pairs = data
    params = dict(loss=loss, max_iter=5, tol=None, batch_size=256, random_state=0)
    if loss != "contrastive":
        params["miner"] = "semihard" if loss == "triplet" else "all"
    est = SGDMetricLearner_Supervised(backend="dask", local_steps=2, **params).fit(X, y)
    local = SGDMetricLearner_Supervised(**params).fit(X, y)
    assert est.n_iter_ == 5 and np.all(np.isfinite(est.components_))
    # both learn the class axis: same-class pairs end up shorter
    for fitted in (local, est):
        dist = fitted.pair_distance(X[pairs])
        assert np.median(dist[y_pairs < 0]) > 3 * np.median(dist[y_pairs > 0])
    assert est.objective_history_[-1] < 0.7 * est.objective_history_[0]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("form", ["indices", "dask"])
def test_triplets_learner_on_dask(client, data, form):
    from metriclearn import SGDTripletLearner
    from metriclearn.objectives import triplet_objective

    X, y, _, _ = data
    triplets = Constraints(y).generate_knntriplets(X, 2, 2)
    params = dict(max_iter=5, tol=None, batch_size=256, random_state=0)
    if form == "indices":
        est = SGDTripletLearner(backend="dask", local_steps=4, preprocessor=X, **params)
        est.fit(triplets)
    else:
        est = SGDTripletLearner(backend="dask", local_steps=4, **params)
        est.fit(da.from_array(X[triplets], chunks=(4000, 3, 3)))
    # 8000 triplets, 2 shards of 4000, rounds of 1024: 4 rounds an epoch
    _assert_keys_exactly_once(est, 2, 4 * 5)
    local = SGDTripletLearner(preprocessor=X, **params).fit(triplets)
    local_loss = triplet_objective(local.components_, triplets, preprocessor=X)
    dask_loss = triplet_objective(est.components_, triplets, preprocessor=X)
    assert dask_loss < 2 * local_loss + 0.01
    assert est.score(X[triplets]) > 0.95
