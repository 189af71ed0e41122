"""The metric contract every learner keeps, derived from ``components_``:
``M = L^T L`` is symmetric PSD, ``pair_distance`` is the Euclidean distance
after ``transform``, ``get_metric`` is a pseudo-metric (triangle inequality
included) that works in KNN, the learned metric helps KNN and k-means, and
indices with a ``preprocessor`` are the same as the points they select. The
properties are also checked on random problems with hypothesis (seeded and
bounded in time)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from support import (
    NEAR_PRIOR,
    SUPERVISED_SPECS,
    TUPLE_SPECS,
    UNSUPERVISED_SPECS,
    all_specs,
    fit_spec,
    over,
    point_specs,
    training_input,
)

from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(params=["toy", "iris"])
def data(request, toy, iris):
    return {"toy": toy, "iris": iris}[request.param]


def _random_points(rng, n, d):
    return rng.normal(scale=3.0, size=(n, d))


def _assert_symmetric_psd(M):
    assert np.all(np.isfinite(M))
    scale = np.abs(M).max()
    assert scale > 0
    assert_allclose(M, M.T, rtol=0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(M).min() >= -1e-10 * scale


@all_specs
def test_mahalanobis_matrix_is_psd_and_factorised(spec, data):
    X, y = data
    est = fit_spec(spec, X, y)
    L = est.components_
    M = est.get_mahalanobis_matrix()
    d = X.shape[1]
    assert M.shape == (d, d)
    assert L.ndim == 2 and L.shape[1] == d and 1 <= L.shape[0] <= d
    assert np.all(np.isfinite(L))
    _assert_symmetric_psd(M)
    assert_allclose(M, L.T @ L, rtol=1e-12, atol=1e-14 * np.abs(M).max())
    # a copy: changing it does not touch the learner
    M[0, 0] += 1.0
    assert_allclose(est.get_mahalanobis_matrix(), L.T @ L, rtol=1e-12)


@all_specs
def test_pair_distance_is_euclidean_after_transform(spec, toy, rng):
    X, y = toy
    est = fit_spec(spec, X, y)
    pairs = _random_points(rng, 50, 3).reshape(25, 2, 3)
    dist = est.pair_distance(pairs)
    emb = est.transform(pairs.reshape(-1, 3)).reshape(25, 2, -1)
    assert_allclose(dist, np.linalg.norm(emb[:, 0] - emb[:, 1], axis=1), rtol=1e-10)
    diff = pairs[:, 0] - pairs[:, 1]
    M = est.get_mahalanobis_matrix()
    assert_allclose(dist**2, np.einsum("ij,jk,ik->i", diff, M, diff), rtol=1e-10)
    assert_array_equal(est.pair_score(pairs), -dist)
    assert_allclose(est.transform(X), X @ est.components_.T, rtol=1e-12)


@all_specs
def test_get_metric_is_a_pseudo_metric(spec, toy, rng):
    X, y = toy
    est = fit_spec(spec, X, y)
    metric = est.get_metric()
    U, V, W = (_random_points(rng, 40, 3) for _ in range(3))
    d_uv = np.array([metric(u, v) for u, v in zip(U, V, strict=True)])
    d_vu = np.array([metric(v, u) for u, v in zip(U, V, strict=True)])
    d_vw = np.array([metric(v, w) for v, w in zip(V, W, strict=True)])
    d_uw = np.array([metric(u, w) for u, w in zip(U, W, strict=True)])
    assert np.all(d_uv >= 0)
    assert_allclose(d_uv, d_vu, rtol=1e-12)
    assert all(metric(u, u) == 0.0 for u in U)
    assert np.all(d_uw <= d_uv + d_vw + 1e-9 * (d_uv + d_vw).max())
    d2 = np.array([metric(u, v, squared=True) for u, v in zip(U, V, strict=True)])
    assert_allclose(d2, d_uv**2, rtol=1e-12)
    assert_allclose(d_uv, est.pair_distance(np.stack([U, V], axis=1)), rtol=1e-10)
    with pytest.raises(ValueError, match=r"u and v must both have 3 features"):
        metric(U[0], V[0, :2])


@all_specs
def test_get_metric_keeps_its_own_copy(spec, toy, rng):
    X, y = toy
    est = fit_spec(spec, X, y)
    metric = est.get_metric()
    u, v = _random_points(rng, 2, 3)
    before = metric(u, v)
    est.fit(*training_input(spec, 10.0 * X[:, ::-1], y))
    assert metric(u, v) == before
    assert est.get_metric()(u, v) != before


@all_specs
def test_get_metric_in_knn_equals_knn_after_transform(spec, toy, rng):
    X, y = toy
    est = fit_spec(spec, X, y)
    X_test = X + rng.normal(scale=0.5, size=X.shape)
    knn_metric = KNeighborsClassifier(n_neighbors=3, metric=est.get_metric())
    knn_metric.fit(X, y)
    knn_emb = KNeighborsClassifier(n_neighbors=3).fit(est.transform(X), y)
    assert_array_equal(
        knn_metric.predict(X_test), knn_emb.predict(est.transform(X_test))
    )
    assert_array_equal(
        knn_metric.kneighbors(X_test[:10], return_distance=False),
        knn_emb.kneighbors(est.transform(X_test[:10]), return_distance=False),
    )


# the learners that fit in a Pipeline: a supervised one learns from the
# labels, an unsupervised one ignores them
@over(SUPERVISED_SPECS + UNSUPERVISED_SPECS)
def test_pipeline_with_knn_beats_euclidean_knn(spec):
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=2)
    pipe = Pipeline([("learner", spec.make()), ("knn", KNeighborsClassifier(5))])
    learned = cross_val_score(pipe, X, y, cv=5).mean()
    euclidean = cross_val_score(KNeighborsClassifier(5), X, y, cv=5).mean()
    assert learned > euclidean
    assert learned >= (0.95 if spec.name in NEAR_PRIOR else 0.97)


# Learners whose objective does not ask for compact classes, so that k-means
# after them is only held to beat k-means on the raw data (0.636 here), not to
# reach 0.95: measured on this problem (and reported in their user guides),
# with metric-learn 0.7.0's and scikit-learn's results on the same data.
KMEANS_NOT_THE_OBJECTIVE = {
    # the leave-one-out 1-NN objective is saturated (89.99999947 of 90) at
    # metric-learn's stopping rule, with the same iterate as metric-learn's
    # NCA: k-means 0.809 (scikit-learn's NCA 0.737); NCA pulls each point
    # next to some point of its class, not its class together
    "NCA": "stochastic 1-NN objective saturated: 0.809",
    # a regression learner given class labels as real targets: k-means 0.772
    # (metric-learn's MLKR 0.678)
    "MLKR": "kernel regression of the labels taken as numbers: 0.772",
    # unsupervised whitening, which ignores the labels: k-means 0.729, as with
    # metric-learn's Covariance (same metric)
    "Covariance": "whitening ignores the labels: 0.729",
}


@all_specs
def test_kmeans_after_transform_beats_kmeans_on_raw_data(spec):
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=1)
    est = fit_spec(spec, X, y)
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    raw = pairwise_clustering_accuracy(y, kmeans.fit_predict(X))
    learned = pairwise_clustering_accuracy(y, kmeans.fit_predict(est.transform(X)))
    assert learned > raw
    if spec.name not in NEAR_PRIOR and spec.name not in KMEANS_NOT_THE_OBJECTIVE:
        assert learned >= 0.95


def test_kmeans_exceptions_are_learners():
    names = {spec.name for spec in SUPERVISED_SPECS + UNSUPERVISED_SPECS}
    assert set(KMEANS_NOT_THE_OBJECTIVE) <= names


# ------------------------------------------------------ features and indices


@all_specs
def test_n_features_in_counts_features(spec, toy):
    X, y = toy
    assert fit_spec(spec, X, y).n_features_in_ == X.shape[1]
    assert fit_spec(spec, X, y, indices=True).n_features_in_ == X.shape[1]


@all_specs
def test_get_feature_names_out(spec, toy):
    X, y = toy
    est = fit_spec(spec, X, y)
    prefix = type(est).__name__.lower()
    expected = [f"{prefix}{i}" for i in range(est.components_.shape[0])]
    assert_array_equal(est.get_feature_names_out(), expected)


@point_specs
def test_feature_names_from_dataframe(spec, toy):
    pd = pytest.importorskip("pandas")
    X, y = toy
    df = pd.DataFrame(X, columns=["width", "height", "depth"])
    _, *labels = training_input(spec, X, y)
    est = spec.make().fit(df, *labels)
    assert_array_equal(est.feature_names_in_, ["width", "height", "depth"])
    assert_array_equal(est.components_, spec.make().fit(X, *labels).components_)
    prefix = type(est).__name__.lower()
    names = [f"{prefix}{i}" for i in range(est.components_.shape[0])]
    assert_array_equal(est.get_feature_names_out(), names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = est.transform(df)
    assert_allclose(emb, X @ est.components_.T, rtol=1e-12)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(df[["height", "width", "depth"]])
    out = est.set_output(transform="pandas").transform(df)
    assert list(out.columns) == names


def _same_fit(est, reference):
    assert_array_equal(est.components_, reference.components_)
    for name in ("threshold_", "objective_history_", "n_iter_"):
        if hasattr(reference, name):
            assert_array_equal(getattr(est, name), getattr(reference, name), err_msg=name)


@pytest.mark.parametrize(
    ("spec", "form"),
    [(spec, form) for spec in TUPLE_SPECS
     for form in ["array", "callable", "int32", "float64"] + ["float_labels"] * (
         spec.kind == "pairs")],
    ids=lambda v: getattr(v, "id", v),
)
def test_index_tuples_with_preprocessor_equal_point_tuples(spec, form, toy):
    """Index tuples (any integer dtype, or integral floats) into an array or
    a callable preprocessor, and pair labels as floats, give the fit on the
    points they select, and the same predictions."""
    X, y = toy
    on_points = fit_spec(spec, X, y)
    tuples, *labels = training_input(spec, X, y, indices=True)
    preprocessor = (lambda idx: X[idx]) if form == "callable" else X
    if form in ("int32", "float64"):
        tuples = tuples.astype(form)
    if form == "float_labels":
        tuples, labels = X[tuples], [labels[0].astype(float)]
        preprocessor = None
    est = spec.make(preprocessor=preprocessor).fit(tuples, *labels)
    _same_fit(est, on_points)
    points = training_input(spec, X, y)[0]
    for method in ("predict", "decision_function"):
        assert_array_equal(getattr(est, method)(tuples), getattr(on_points, method)(points))
        # points can still be given directly
        assert_array_equal(getattr(est, method)(points), getattr(on_points, method)(points))
    assert est.score(tuples, *labels) == on_points.score(points, *labels)


@point_specs
def test_index_points_with_preprocessor_equal_points(spec, toy):
    X, y = toy
    idx = np.arange(X.shape[0])
    _, *labels = training_input(spec, X, y)
    on_points = spec.make().fit(X, *labels)
    on_array = spec.make(preprocessor=X).fit(idx, *labels)
    on_callable = spec.make(preprocessor=lambda i: X[i]).fit(idx, *labels)
    for est in (on_array, on_callable):
        assert est.n_features_in_ == X.shape[1]
        _same_fit(est, on_points)


@all_specs
@pytest.mark.parametrize("kind", ["array", "callable"])
def test_transform_takes_indices_with_preprocessor(spec, kind, toy):
    X, y = toy
    preprocessor = X if kind == "array" else (lambda idx: X[idx])
    est = spec.make(preprocessor=preprocessor).fit(*training_input(spec, X, y, indices=True))
    idx = np.array([3, 0, 7, 7, 12])
    assert_allclose(est.transform(idx), X[idx] @ est.components_.T, rtol=1e-12)
    assert_array_equal(est.transform(idx), est.transform(X[idx]))


# ------------------------------------------------- properties (hypothesis)

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


def random_problem(n, d, n_classes, seed, scale_exp):
    """Labelled points whose classes differ along the first feature, at a
    scale of ``10**scale_exp``, with every class at least 8 points."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d))
    X[:, 0] += 3.0 * y
    return X * 10.0**scale_exp, y


def _quiet_fit(spec, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_spec(spec, X, y)


@all_specs
@PROPERTY_SETTINGS
@given(problem=problems)
def test_metric_is_symmetric_psd_and_matches_transform(spec, problem):
    X, y = random_problem(*problem)
    est = _quiet_fit(spec, X, y)
    _assert_symmetric_psd(est.get_mahalanobis_matrix())
    rng = np.random.default_rng(problem[3])
    idx = rng.integers(0, X.shape[0], size=(30, 2))
    Z = est.transform(X)
    euclidean = np.linalg.norm(Z[idx[:, 0]] - Z[idx[:, 1]], axis=1)
    assert_allclose(est.pair_distance(X[idx]), euclidean, rtol=1e-9,
                    atol=1e-12 * np.abs(Z).max())


@all_specs
@PROPERTY_SETTINGS
@given(problem=problems)
def test_learned_distance_satisfies_the_triangle_inequality(spec, problem):
    X, y = random_problem(*problem)
    metric = _quiet_fit(spec, X, y).get_metric()
    rng = np.random.default_rng(problem[3] + 1)
    for a, b, c in rng.integers(0, X.shape[0], size=(20, 3)):
        ab, bc, ac = metric(X[a], X[b]), metric(X[b], X[c]), metric(X[a], X[c])
        assert ac <= ab + bc + 1e-9 * max(ab + bc, 1e-300)


@all_specs
def test_transform_keeps_float32(spec, toy):
    """float32 in, float32 out (the fit itself runs in float64): the map
    of float32 points is the float64 map rounded."""
    X, y = toy
    est = spec.make().fit(*training_input(spec, X, y))
    X32 = X.astype(np.float32)
    Z32 = est.transform(X32)
    assert Z32.dtype == np.float32
    Z = est.transform(X32.astype(np.float64))
    assert Z.dtype == np.float64
    np.testing.assert_allclose(Z32, Z, rtol=1e-5, atol=1e-5 * np.abs(Z).max())
