"""The metric contract every learner keeps, derived from ``components_``:
``M = L^T L`` is symmetric PSD, ``pair_distance`` is the Euclidean distance
after ``transform``, ``get_metric`` is a pseudo-metric that works in KNN, the
learner pickles and refits identically, and indices with a ``preprocessor``
are the same as the points they select."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import (
    all_specs,
    fit_spec,
    pairs_specs,
    supervised_specs,
    toy_pairs,
    training_input,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy


@pytest.fixture
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(params=["toy", "iris"])
def data(request, toy, iris):
    return {"toy": toy, "iris": iris}[request.param]


def _random_points(rng, n, d):
    return rng.normal(scale=3.0, size=(n, d))


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
    scale = np.abs(M).max()
    assert scale > 0
    assert_allclose(M, M.T, rtol=0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(M).min() >= -1e-10 * scale
    assert_allclose(M, L.T @ L, rtol=1e-12, atol=1e-14 * scale)
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


@all_specs
def test_pickle_roundtrip(spec, toy, rng):
    X, y = toy
    est = fit_spec(spec, X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.components_, est.components_)
    assert restored.get_params() == est.get_params()
    assert_array_equal(restored.transform(X), est.transform(X))
    pairs = _random_points(rng, 20, 3).reshape(10, 2, 3)
    assert_array_equal(restored.pair_distance(pairs), est.pair_distance(pairs))
    if spec.kind == "pairs":
        assert restored.threshold_ == est.threshold_
        assert_array_equal(restored.predict(pairs), est.predict(pairs))


@all_specs
def test_clone_refits_to_the_same_result(spec, toy):
    X, y = toy
    inputs = training_input(spec, X, y)
    est = spec.make().fit(*inputs)
    again = clone(est)
    assert not hasattr(again, "components_")
    again.fit(*inputs)
    assert_array_equal(again.components_, est.components_)
    assert again.n_iter_ == est.n_iter_
    if spec.kind == "pairs":
        assert again.threshold_ == est.threshold_


@supervised_specs
def test_supervised_random_state_controls_the_pairs_drawn(spec, toy):
    X, y = toy
    a = spec.make(random_state=1).fit(X, y)
    b = spec.make(random_state=np.random.RandomState(1)).fit(X, y)
    assert_array_equal(a.components_, b.components_)


@all_specs
def test_n_features_in_counts_features(spec, toy):
    X, y = toy
    est = fit_spec(spec, X, y)
    assert est.n_features_in_ == X.shape[1]
    if spec.kind == "pairs":
        pairs, y_pairs = toy_pairs(X, y)
        est = spec.make(preprocessor=X).fit(pairs, y_pairs)
        assert est.n_features_in_ == X.shape[1]


@all_specs
def test_get_feature_names_out(spec, toy):
    X, y = toy
    est = fit_spec(spec, X, y)
    prefix = type(est).__name__.lower()
    expected = [f"{prefix}{i}" for i in range(est.components_.shape[0])]
    assert_array_equal(est.get_feature_names_out(), expected)


@supervised_specs
def test_feature_names_from_dataframe(spec, toy):
    pd = pytest.importorskip("pandas")
    X, y = toy
    df = pd.DataFrame(X, columns=["width", "height", "depth"])
    est = spec.make().fit(df, y)
    assert_array_equal(est.feature_names_in_, ["width", "height", "depth"])
    assert_array_equal(est.components_, spec.make().fit(X, y).components_)
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


@pairs_specs
def test_index_pairs_with_preprocessor_equal_point_pairs(spec, toy):
    X, y = toy
    pairs, y_pairs = toy_pairs(X, y)
    on_points = spec.make().fit(X[pairs], y_pairs)
    on_array = spec.make(preprocessor=X).fit(pairs, y_pairs)
    on_callable = spec.make(preprocessor=lambda idx: X[idx]).fit(pairs, y_pairs)
    for est in (on_array, on_callable):
        assert_array_equal(est.components_, on_points.components_)
        assert est.threshold_ == on_points.threshold_
        assert_array_equal(est.pair_distance(pairs), on_points.pair_distance(X[pairs]))
        assert_array_equal(est.predict(pairs), on_points.predict(X[pairs]))
        # points can still be given directly
        assert_array_equal(est.predict(X[pairs]), on_points.predict(X[pairs]))


@supervised_specs
def test_index_points_with_preprocessor_equal_points(spec, toy):
    X, y = toy
    idx = np.arange(X.shape[0])
    on_points = spec.make().fit(X, y)
    on_array = spec.make(preprocessor=X).fit(idx, y)
    on_callable = spec.make(preprocessor=lambda i: X[i]).fit(idx, y)
    for est in (on_array, on_callable):
        assert est.n_features_in_ == X.shape[1]
        assert_array_equal(est.components_, on_points.components_)


@all_specs
@pytest.mark.parametrize("kind", ["array", "callable"])
def test_transform_takes_indices_with_preprocessor(spec, kind, toy):
    X, y = toy
    preprocessor = X if kind == "array" else (lambda idx: X[idx])
    if spec.kind == "pairs":
        pairs, y_pairs = toy_pairs(X, y)
        est = spec.make(preprocessor=preprocessor).fit(pairs, y_pairs)
    else:
        est = spec.make(preprocessor=preprocessor).fit(X, y)
    idx = np.array([3, 0, 7, 7, 12])
    assert_allclose(est.transform(idx), X[idx] @ est.components_.T, rtol=1e-12)
    assert_array_equal(est.transform(idx), est.transform(X[idx]))


@supervised_specs
def test_pipeline_with_knn_beats_euclidean_knn(spec):
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=2)
    pipe = Pipeline([("learner", spec.make()), ("knn", KNeighborsClassifier(5))])
    learned = cross_val_score(pipe, X, y, cv=5).mean()
    euclidean = cross_val_score(KNeighborsClassifier(5), X, y, cv=5).mean()
    assert learned > euclidean
    assert learned >= 0.97


@all_specs
def test_kmeans_after_transform_beats_kmeans_on_raw_data(spec):
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=1)
    est = fit_spec(spec, X, y)
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0)
    raw = pairwise_clustering_accuracy(y, kmeans.fit_predict(X))
    learned = pairwise_clustering_accuracy(y, kmeans.fit_predict(est.transform(X)))
    assert learned > raw
    assert learned >= 0.95
