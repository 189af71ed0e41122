"""RCA and RCA_Supervised: the within-chunklet covariance and the whitening
against direct NumPy computations, the reduction of the dimension, the
singular case, scikit-learn's estimator checks, bad input, metric-learn's old
parameter name, and 3-NN accuracy."""

import re
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from support import assert_fails_cleanly

from metriclearn import Constraints
from metriclearn._rca import RCA, RCA_Supervised, chunk_statistics, rca_components

# ---------------------------------------------------------------- twins


def naive_chunk_covariance(X, chunks):
    """1/p sum over chunklets of the scatter about the chunklet's mean, one
    chunklet at a time."""
    d = X.shape[1]
    C, p = np.zeros((d, d)), 0
    for c in np.unique(chunks[chunks != -1]):
        members = X[chunks == c]
        diff = members - members.mean(axis=0)
        C += diff.T @ diff
        p += members.shape[0]
    return C / p


def metric_learn_reduced_metric(X, chunks, dim):
    """The Mahalanobis matrix of metric-learn's RCA with dimensionality
    reduction, from its formulas: the eigenvectors A of S_t^{-1} C with the
    smallest eigenvalues, then M = A (A^T C A)^{-1} A^T."""
    C = naive_chunk_covariance(X, chunks)
    S_t = np.cov(X[chunks != -1], rowvar=False)
    vals, vecs = np.linalg.eig(np.linalg.solve(S_t, C))
    A = np.real(vecs[:, np.argsort(np.real(vals))[:dim]])
    return A @ np.linalg.inv(A.T @ C @ A) @ A.T


def _chunked_problem(seed=0, n=60, d=4, n_chunks=12, chunk_size=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, d)) * [1.0, 4.0, 0.5, 2.0][:d] + 3.0 * y[:, None]
    chunks = Constraints(y).chunks(n_chunks, chunk_size, random_state=seed)
    return X, y, chunks


# ---------------------------------------------------------------- closed form


def test_chunk_statistics_match_twin():
    X, _, chunks = _chunked_problem()
    chunks = np.where(chunks == 4, 40, chunks)  # labels need not be contiguous
    chunks[np.flatnonzero(chunks == -1)[0]] = 77  # a chunklet of one point
    X_chunked, C, sizes = chunk_statistics(X, chunks)
    np.testing.assert_allclose(C, naive_chunk_covariance(X, chunks), rtol=1e-12, atol=1e-14)
    assert sizes.sum() == X_chunked.shape[0] == np.count_nonzero(chunks != -1)
    assert sorted(sizes.tolist()) == [1] + [3] * 12
    Xr = X.copy()
    Xr.setflags(write=False)
    chunk_statistics(Xr, chunks)


def test_whitens_the_within_chunklet_covariance():
    X, _, chunks = _chunked_problem()
    rca = RCA().fit(X, chunks)
    L = rca.components_
    C = naive_chunk_covariance(X, chunks)
    # metric-learn's symmetric C^{-1/2}, computed directly
    np.testing.assert_allclose(L, np.real(scipy.linalg.inv(scipy.linalg.sqrtm(C))),
                               rtol=1e-9)
    np.testing.assert_allclose(L @ C @ L.T, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(rca.get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-9)
    # the chunklets of the transformed data have identity covariance
    Z = rca.transform(X)
    np.testing.assert_allclose(naive_chunk_covariance(Z, chunks), np.eye(4), atol=1e-10)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_reduction_matches_metric_learns_formulas(dim):
    X, _, chunks = _chunked_problem(seed=1)
    rca = RCA(n_components=dim).fit(X, chunks)
    assert rca.components_.shape == (dim, 4)
    M = rca.get_mahalanobis_matrix()
    want = metric_learn_reduced_metric(X, chunks, dim)
    np.testing.assert_allclose(M, want, rtol=1e-8, atol=1e-10 * np.abs(want).max())
    # each row's largest entry is positive
    L = rca.components_
    rows = np.arange(dim)
    assert np.all(L[rows, np.argmax(np.abs(L), axis=1)] > 0)


def test_full_n_components_is_no_reduction():
    X, _, chunks = _chunked_problem()
    np.testing.assert_array_equal(RCA(n_components=4).fit(X, chunks).components_,
                                  RCA().fit(X, chunks).components_)


def test_singular_covariance_warns_and_uses_the_pseudo_inverse():
    # 3 chunklets of 2 points in 5 dimensions: C has rank 3
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5))
    chunks = np.full(20, -1)
    chunks[:6] = [0, 0, 1, 1, 2, 2]
    msg = ("RCA: the within-chunklet covariance matrix has rank 3, less than the 5 "
           "dimensions the chunked points span, so it is not invertible: along 2 "
           "direction(s) no chunklet varies. Those directions get weight 0 (the "
           "pseudo-inverse), where whitening would give them an infinite weight. Give "
           "more chunklets (or larger ones), set n_components <= 3, or remove linearly "
           "dependent features (for instance with sklearn.decomposition.PCA)")
    with pytest.warns(UserWarning, match=re.escape(msg)) as record:
        rca = RCA().fit(X, chunks)
    assert record[0].filename == __file__  # the user's line
    C = naive_chunk_covariance(X, chunks)
    np.testing.assert_allclose(rca.get_mahalanobis_matrix(), np.linalg.pinv(C), rtol=1e-8,
                               atol=1e-10)
    X_chunked, C, _ = chunk_statistics(X, chunks)
    _, rank_c, rank_t = rca_components(X_chunked, C, 5)
    assert (rank_c, rank_t) == (3, 5)
    assert np.all(np.isfinite(rca.transform(X)))
    # reduced to at most the rank: no warning, a metric on the range of C
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reduced = RCA(n_components=2).fit(X, chunks)
    assert np.linalg.matrix_rank(reduced.components_) == 2
    with pytest.warns(UserWarning, match="set n_components <= 3"):
        RCA(n_components=4).fit(X, chunks)
    # identical points in every chunklet: an error, also when reducing
    msg = "the points of every chunklet are identical"
    X3 = X.copy()
    X3[1], X3[3], X3[5] = X3[0], X3[2], X3[4]
    assert_fails_cleanly(RCA(n_components=2), ValueError, msg, X3, chunks)


def test_supervised_singular_warning_names_its_parameters():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    y = np.repeat([0, 1], 20)
    with pytest.warns(UserWarning, match="Increase n_chunks or chunk_size") as record:
        RCA_Supervised(n_chunks=3, random_state=0).fit(X, y)
    assert record[0].filename == __file__


def test_constant_features_get_zero_weight_silently():
    X, _, chunks = _chunked_problem()
    X = np.hstack([X, np.full((X.shape[0], 1), 5.0), X[:, :1] + X[:, 1:2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rca = RCA().fit(X, chunks)
    L = rca.components_
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L[:, 4], 0.0, atol=1e-10 * np.abs(L).max())
    np.testing.assert_allclose(L @ [1.0, 1.0, 0.0, 0.0, 0.0, -1.0], 0.0,
                               atol=1e-9 * np.abs(L).max())
    assert np.linalg.matrix_rank(L) == 4


def test_supervised_draws_its_chunklets_with_constraints():
    X, y = load_iris(return_X_y=True)
    a = RCA_Supervised(n_chunks=30, chunk_size=3, random_state=5).fit(X, y)
    chunks = Constraints(y).chunks(n_chunks=30, chunk_size=3, random_state=5)
    b = RCA().fit(X, chunks)
    np.testing.assert_array_equal(a.components_, b.components_)
    # unlabelled points (-1) are in no chunklet
    y2 = y.copy()
    y2[::2] = -1
    c = RCA_Supervised(n_chunks=20, random_state=0).fit(X, y2)
    chunks2 = Constraints(y2).chunks(n_chunks=20, chunk_size=2, random_state=0)
    assert np.all(chunks2[::2] == -1)
    np.testing.assert_array_equal(c.components_, RCA().fit(X, chunks2).components_)
    # any label type; -1 is "unlabelled" for numbers only, as in Constraints
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    d = RCA_Supervised(n_chunks=20, random_state=0).fit(X, names)
    chunks3 = Constraints(names).chunks(n_chunks=20, chunk_size=2, random_state=0)
    np.testing.assert_array_equal(d.components_, RCA().fit(X, chunks3).components_)


def test_num_chunks_is_accepted_with_a_future_warning():
    X, y = load_iris(return_X_y=True)
    est = RCA_Supervised(num_chunks=20, random_state=0)  # no warning here
    with pytest.warns(FutureWarning, match=re.escape(
        "RCA_Supervised: num_chunks was renamed n_chunks; use n_chunks=20"
    )):
        est.fit(X, y)
    assert est.num_chunks == 20 and est.n_chunks == 100  # parameters untouched
    want = RCA_Supervised(n_chunks=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(est.components_, want.components_)


def test_too_few_chunklets_in_the_labels():
    X, y = load_iris(return_X_y=True)
    msg = ("RCA_Supervised: the classes in y allow only 75 chunklets of 2 points, fewer "
           "than n_chunks=100; using 75")
    with pytest.warns(UserWarning, match=re.escape(msg)) as record:
        rca = RCA_Supervised(random_state=0).fit(X, y)
    assert record[0].filename == __file__
    chunks = Constraints(y).chunks(n_chunks=75, chunk_size=2, random_state=0)
    np.testing.assert_array_equal(rca.components_, RCA().fit(X, chunks).components_)
    msg = ("no class in y has chunk_size=60 points: RCA_Supervised cannot draw a single "
           "chunklet; lower chunk_size")
    assert_fails_cleanly(RCA_Supervised(chunk_size=60), ValueError, re.escape(msg), X, y)


# ---------------------------------------------------------------- estimator


def _expected_failed_checks(estimator):
    if isinstance(estimator, RCA):
        return {
            "check_fit_score_takes_y": (
                "RCA.fit takes chunklet labels, named `chunks` as in metric-learn"
            )
        }
    return {}


@parametrize_with_checks(
    [RCA(), RCA(n_components=1), RCA_Supervised(n_chunks=4, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_fitted_attributes_and_preprocessor():
    X, y = load_wine(return_X_y=True)
    rca = RCA_Supervised(n_chunks=30, random_state=0).fit(X, y)
    assert rca.components_.shape == (13, 13)
    assert rca.n_iter_ == 0 and rca.converged_ and rca.objective_history_.shape == (0,)
    assert rca.n_features_in_ == 13
    chunks = Constraints(y).chunks(30, 2, random_state=0)
    a = RCA(preprocessor=X).fit(np.arange(X.shape[0]), chunks)
    np.testing.assert_array_equal(a.components_, rca.components_)


# ---------------------------------------------------------------- bad input


def test_bad_chunks():
    X, y = load_iris(return_X_y=True)
    msg = ("chunks puts no point in a chunklet (every value is -1): RCA needs at least "
           "one chunklet of 2 or more points")
    assert_fails_cleanly(RCA(), ValueError, re.escape(msg), X, np.full(150, -1))
    chunks = np.full(150, -1)
    chunks[:3] = [0, 1, 2]
    msg = ("every chunklet has a single point (3 chunklets): RCA needs at least one "
           "chunklet of 2 or more points")
    assert_fails_cleanly(RCA(), ValueError, re.escape(msg), X, chunks)
    msg = ("chunks must hold integer chunklet labels (-1 for a point in no chunklet); "
           "got dtype float64 with values [0.5]")
    assert_fails_cleanly(RCA(), ValueError, re.escape(msg), X, np.r_[0.5, np.zeros(149)])
    assert_fails_cleanly(RCA(), ValueError, "inconsistent numbers of samples", X, y[:10])
    msg = ("the points of every chunklet are identical: the within-chunklet covariance "
           "is zero and RCA has nothing to whiten")
    X2 = np.repeat(X[:5], 2, axis=0)
    assert_fails_cleanly(RCA(), ValueError, re.escape(msg), X2, np.repeat(np.arange(5), 2))


def test_bad_parameters():
    X, y = load_iris(return_X_y=True)
    msg = "n_components=5 must be at most the number of features (4)"
    assert_fails_cleanly(RCA(n_components=5), ValueError, re.escape(msg), X, y)
    fitted = RCA_Supervised(n_chunks=10, random_state=0).fit(X, y)
    fitted.set_params(n_components=5)
    assert_fails_cleanly(fitted, ValueError, re.escape(msg), X, y)
    for params, name in [({"n_chunks": 0}, "n_chunks"), ({"chunk_size": 0}, "chunk_size"),
                         ({"num_chunks": "many"}, "num_chunks")]:
        assert_fails_cleanly(RCA_Supervised(**params), InvalidParameterError,
                             f"The '{name}' parameter of RCA_Supervised must be", X, y)


# ---------------------------------------------------------------- accuracy

# Mean 3-NN test accuracy over chunklet seeds 0-19 on standardised features
# (stratified 70/30 split, seed 0), metric-learn 0.7.0's RCA_Supervised with
# min(100, possible) chunklets of 2, measured with benchmarks/.venv-bench
# (digits: its metric has NaN entries, the within-chunklet covariance of the
# four constant pixels being singular).
METRIC_LEARN_3NN = {"iris": 0.9922, "wine": 0.9963, "breast_cancer": 0.9094, "digits": None}
LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer,
           "digits": load_digits}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_knn_accuracy_against_metric_learn(name):
    X, y = LOADERS[name](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer chunklets than n_chunks
        for seed in range(20):
            rca = RCA_Supervised(random_state=seed).fit(X_train, y_train)
            knn = KNeighborsClassifier(3).fit(rca.transform(X_train), y_train)
            scores.append(knn.score(rca.transform(X_test), y_test))
    if METRIC_LEARN_3NN[name] is not None:
        assert np.mean(scores) >= METRIC_LEARN_3NN[name] - 0.01
    else:  # metric-learn fails; RCA stays a usable metric
        assert np.mean(scores) >= 0.94
