"""Fixtures shared by the test modules: seeded randomness, data, and the Dask
cluster of the SGD learners' distributed backend. Helpers and the learner
specs live in ``support.py``."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from support import LOCAL_CLUSTER

from metriclearn.datasets import make_xing_toy


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def toy():
    """Xing's 3D toy data: 3 classes apart along y, wide spread along x, z."""
    return make_xing_toy(n_samples=60, n_classes=3, random_state=0)


@pytest.fixture
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture
def wine():
    return load_wine(return_X_y=True)


@pytest.fixture(scope="session")
def dask_cluster():
    """One ``LocalCluster`` (2 worker processes of 1 thread on 127.0.0.1) for
    every test that does not kill a worker or the scheduler, the SGD kernels
    compiled (or loaded from numba's cache) in its workers once."""
    distributed = pytest.importorskip("distributed")

    def warm_up():
        from metriclearn._kernels.sgd import pair_sq_distances, sgd_steps

        X = np.zeros((2, 1))
        pairs = np.array([[0, 1]])
        sgd_steps(X, pairs, np.ones(1, np.int8), np.zeros(1, np.intp), np.ones((1, 1)),
                  np.ones(1), 1, 1.0, 1.0, np.ones(1))
        pair_sq_distances(X, pairs, np.ones((1, 1)))

    with distributed.LocalCluster(**LOCAL_CLUSTER) as cluster:
        with distributed.Client(cluster) as client:
            client.run(warm_up)
        yield cluster


@pytest.fixture
def dask_client(dask_cluster):
    """A client of the session's cluster, the default client during the test."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(dask_cluster) as client:
        yield client


@pytest.fixture(params=["local", "dask"])
def backend(request):
    """The SGD learners' ``backend`` parameter; with ``'dask'`` a default
    client of the session's cluster is running during the test."""
    if request.param == "dask":
        request.getfixturevalue("dask_client")
    return request.param
