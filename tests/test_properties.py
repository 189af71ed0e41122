"""Properties every learner keeps on random problems (hypothesis, seeded and
bounded in time): ``M`` symmetric PSD, ``pair_distance`` equal to the
Euclidean distance after ``transform``, the triangle inequality, a fixed
``random_state`` reproducing the fit bit for bit, and no dependence on the
order of the training data beyond rounding for the learners whose result is
an optimum (not a path through the data)."""

import warnings

import numpy as np
import pytest
from conftest import ALL_SPECS, spec_id, training_input
from sklearn.exceptions import ConvergenceWarning

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# every example is a full fit: few of them, no per-example deadline, and a
# fixed derandomised seed so that a run is reproducible
PROPERTY_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# (n_samples, n_features, n_classes, seed, feature scale exponent)
problems = st.tuples(
    st.integers(24, 48),
    st.integers(2, 5),
    st.integers(2, 3),
    st.integers(0, 2**16),
    st.integers(-2, 2),
)


def _problem(n, d, n_classes, seed, scale_exp):
    """Labelled points whose classes differ along the first feature, at a
    scale of ``10**scale_exp``, with every class at least 8 points."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d))
    X[:, 0] += 3.0 * y
    return X * 10.0**scale_exp, y


def _fit(spec, X, y, **params):
    est = spec.make(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(*training_input(spec, X, y))
    return est


all_specs = pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_id)


@all_specs
@PROPERTY_SETTINGS
@given(problem=problems)
def test_metric_is_symmetric_psd_and_matches_transform(spec, problem):
    X, y = _problem(*problem)
    est = _fit(spec, X, y)
    M = est.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    scale = np.abs(M).max()
    np.testing.assert_allclose(M, M.T, rtol=0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(M).min() >= -1e-10 * scale
    rng = np.random.default_rng(problem[3])
    idx = rng.integers(0, X.shape[0], size=(30, 2))
    pairs = X[idx]
    Z = est.transform(X)
    euclidean = np.linalg.norm(Z[idx[:, 0]] - Z[idx[:, 1]], axis=1)
    np.testing.assert_allclose(est.pair_distance(pairs), euclidean,
                               rtol=1e-9, atol=1e-12 * np.abs(Z).max())


@all_specs
@PROPERTY_SETTINGS
@given(problem=problems)
def test_learned_distance_satisfies_the_triangle_inequality(spec, problem):
    X, y = _problem(*problem)
    est = _fit(spec, X, y)
    metric = est.get_metric()
    rng = np.random.default_rng(problem[3] + 1)
    for a, b, c in rng.integers(0, X.shape[0], size=(20, 3)):
        ab, bc, ac = metric(X[a], X[b]), metric(X[b], X[c]), metric(X[a], X[c])
        assert ac <= ab + bc + 1e-9 * max(ab + bc, 1e-300)


@all_specs
@PROPERTY_SETTINGS
@given(problem=problems)
def test_fixed_random_state_reproduces_the_fit(spec, problem):
    X, y = _problem(*problem)
    a = _fit(spec, X, y, random_state=problem[3] % 97)
    b = _fit(spec, X, y, random_state=problem[3] % 97)
    np.testing.assert_array_equal(a.components_, b.components_)


# learners whose result is the optimum of a convex problem: permuting the
# training pairs (MMC) or points (LMNN) changes the objective reached by
# rounding and stopping tolerance only (the optimal matrix need not be unique,
# so objective values are compared). MMC_Supervised is left out: its pairs
# are drawn from the order of the points, so a permutation is another problem.
ORDER_FREE = [s for s in ALL_SPECS if s.cls.__name__ in {"MMC", "LMNN"}]


def _objective(est, X, y):
    from metriclearn.objectives import lmnn_objective, mmc_diagonal_objective, mmc_objective

    if type(est).__name__ == "LMNN":
        return lmnn_objective(est.components_, X, y, est.n_neighbors)
    M = est.get_mahalanobis_matrix()
    if est.diagonal:
        return mmc_diagonal_objective(np.diag(M), X, y, est.diagonal_c)
    return mmc_objective(M, X, y)


@pytest.mark.parametrize("spec", ORDER_FREE, ids=spec_id)
@PROPERTY_SETTINGS
@given(problem=problems)
def test_order_of_the_training_data_does_not_matter(spec, problem):
    X, y = _problem(*problem)
    args = training_input(spec, X, y)
    perm = np.random.default_rng(problem[3]).permutation(args[0].shape[0])
    params = {"max_iter": 1000, "tol": 1e-9} if spec.cls.__name__ == "MMC" else {}
    a, b = spec.make(**params), spec.make(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(*args)
        b.fit(args[0][perm], args[1][perm])
    value_a = _objective(a, *args)
    value_b = _objective(b, *args)
    assert value_b == pytest.approx(value_a, rel=1e-4, abs=1e-9)
