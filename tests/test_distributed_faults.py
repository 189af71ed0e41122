"""Faults of the Dask backend beyond a lost worker: the scheduler lost in the
middle of ``fit`` ends in a clear ``ConnectionError``, with the estimator as
it was and no hang."""

import asyncio
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from metriclearn import Constraints, SGDMetricLearner

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLUSTER = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
               dashboard_address="127.0.0.1:0")


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 16))
    y = rng.integers(4, size=20000)
    X[:, 0] += 3 * y
    pairs, y_pairs = Constraints(y).pairs(100000, random_state=0)
    return X, pairs, y_pairs


@pytest.mark.timeout(600)
@pytest.mark.parametrize("connect", ["address", "default_client"])
def test_scheduler_lost_mid_fit(connect):
    X, pairs, y_pairs = _problem()
    small = np.r_[0:500, -500:0]  # similar and dissimilar pairs
    closed = {}
    # the workers and clients left without a scheduler give up sooner
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}), \
            distributed.LocalCluster(**CLUSTER) as cluster:
        address = cluster.scheduler_address
        client = distributed.Client(address) if connect == "default_client" else None
        try:
            est = SGDMetricLearner(
                backend="dask", scheduler=address if client is None else None,
                preprocessor=X, max_iter=1, tol=None, batch_size=256, local_steps=50,
                random_state=0,
            ).fit(pairs[small], y_pairs[small])
            before = dict(vars(est))
            components = est.components_.copy()
            est.set_params(max_iter=50)  # far longer than the time to the loss

            def close_scheduler_when_busy():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    if any(str(k).startswith("metriclearn-sgd")
                           for k in cluster.scheduler.tasks):
                        break
                    time.sleep(0.01)
                time.sleep(0.5)  # some rounds applied
                closed["at"] = time.monotonic()
                asyncio.run_coroutine_threadsafe(
                    cluster.scheduler.close(), cluster.loop.asyncio_loop
                ).result(timeout=30)

            closer = threading.Thread(target=close_scheduler_when_busy, daemon=True)
            start = time.monotonic()
            closer.start()
            with pytest.raises(
                ConnectionError,
                match=r"the connection to the Dask scheduler at .* was lost during fit",
            ):
                est.fit(pairs, y_pairs)
            end = time.monotonic()
            closer.join(timeout=60)
        finally:
            if client is not None:
                client.close(timeout=10)
    assert start < closed["at"] < end
    assert end - closed["at"] < 60  # the error came promptly, no hang
    # the estimator as it was after its first fit
    assert vars(est).keys() == before.keys()
    assert_array_equal(est.components_, components)
    for key, value in before.items():
        if key.endswith("_") and isinstance(value, np.ndarray):
            assert_array_equal(vars(est)[key], value, err_msg=key)
    assert est.max_iter == 50
    # and it still works without any scheduler
    assert np.all(np.isfinite(est.pair_distance(pairs[:10])))
