"""MLKR: the kernels against NumPy twins, loss and gradient against a naive
O(n^2) loop and finite differences, the objective against metric-learn's
solutions, scikit-learn's estimator checks, bad input, k-NN quality on real
data, and behaviour at the edges."""

import pickle
import re

import numpy as np
import pytest
from scipy.optimize import check_grad
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from support import assert_fails_cleanly

from metriclearn._kernels.mlkr import (
    _CUTOFF,
    block_rows,
    get_loss_grad,
    loss_grad,
    row_weights,
    shifted_neg_exp,
    sq_norms,
)
from metriclearn._mlkr import MLKR
from metriclearn._mlkr_solver import MLKRProblem
from metriclearn.objectives import mlkr_objective

# many fits here stop at a small max_iter on purpose (the warning itself is
# tested in test_convergence_warning_at_max_iter)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# ---------------------------------------------------------------- twins


def naive_loss_grad(L, X, y):
    """The loss and its gradient from the definitions, one pair at a time
    (no shift of the exponentials: keep the distances moderate)."""
    n = X.shape[0]
    k = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                e = L @ (X[i] - X[j])
                k[i, j] = np.exp(-(e @ e))
    yhat = k @ y / k.sum(axis=1)
    S = np.zeros((X.shape[1], X.shape[1]))
    for i in range(n):
        for j in range(n):
            w = (yhat[i] - y[i]) * k[i, j] / k[i].sum() * (yhat[i] - y[j])
            dx = X[i] - X[j]
            S += w * np.outer(dx, dx)
    return float(np.sum((yhat - y) ** 2)), 4.0 * L @ S, yhat


def stable_twin(L, X, y):
    """Dense NumPy twin with each row shifted by its smallest distance and
    the kernel's cutoff, for maps whose distances underflow exp."""
    Z = X @ L.T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(D, np.inf)
    U = D - D.min(axis=1, keepdims=True)
    K = np.where(U <= _CUTOFF, np.exp(-U), 0.0)
    s = K.sum(axis=1)
    yhat = K @ y / s
    W = ((yhat - y) / s)[:, None] * K * (yhat[:, None] - y[None, :])
    deg = W.sum(axis=0) + W.sum(axis=1)
    S = (X.T * deg) @ X - X.T @ W @ X - X.T @ W.T @ X
    # the size of the gradient's terms, against which rounding is judged
    D_x = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    size = 4.0 * np.abs(L).max() * np.sum(np.abs(W) * D_x)
    return float(np.sum((yhat - y) ** 2)), 4.0 * L @ S, yhat, size


def row_weights_twin(g, i, sq, y):
    d = np.maximum(sq[i] + sq - 2.0 * g, 0.0)
    d[i] = np.inf
    u = d - d.min()
    k = np.where(u <= _CUTOFF, np.exp(-u), 0.0)
    s = k.sum()
    yhat = k @ y / s
    w = (yhat - y[i]) / s * k * (yhat - y)
    return w, yhat, np.count_nonzero(k), (yhat - y[i]) ** 2


def _problem(rng, n=25, d=5, scale=0.5):
    X = rng.standard_normal((n, d))
    X -= X.mean(axis=0)
    y = rng.standard_normal(n)
    return X, y, scale


# ---------------------------------------------------------------- kernels


def test_shifted_neg_exp_matches_numpy(rng):
    d = np.concatenate([rng.uniform(0.0, 60.0, 997), [0.0, _CUTOFF, _CUTOFF + 1e-9]]) + 3.0
    out = np.empty_like(d)
    scale = np.empty(d.shape[0], dtype=np.int64)
    d.setflags(write=False)
    shifted_neg_exp(d, 3.0, out, scale)
    u = d - 3.0
    want = np.where(u <= _CUTOFF, np.exp(-u), 0.0)
    inside = u <= _CUTOFF
    # two units in the last place
    np.testing.assert_array_less(np.abs(out[inside] - want[inside]),
                                 2.5 * np.spacing(want[inside]))
    assert np.all(out[~inside] == 0.0)
    assert out[-3] == 1.0


def test_sq_norms(rng):
    Z = rng.standard_normal((7, 3))
    Z.setflags(write=False)
    np.testing.assert_allclose(sq_norms(Z), (Z * Z).sum(axis=1), rtol=1e-15)


@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_row_weights_matches_twin(rng, scale):
    X, y, _ = _problem(rng, n=30, d=4)
    Z = scale * X
    sq = (Z * Z).sum(axis=1)
    for i in [0, 11, 29]:
        row = Z @ Z[i]
        want_w, want_yhat, want_count, want_err = row_weights_twin(row.copy(), i, sq, y)
        colsum = np.ones(30)
        stats = np.empty(3)
        row_weights(row, i, sq[i], sq, y, colsum, np.empty(30), np.empty(30, np.int64),
                    stats)
        np.testing.assert_allclose(row, want_w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(colsum, 1.0 + want_w, rtol=1e-12, atol=1e-15)
        assert stats[0] == pytest.approx(want_yhat, rel=1e-12)
        assert stats[1] == want_count
        assert stats[2] == pytest.approx(want_err, rel=1e-10, abs=1e-300)
        assert row[i] == 0.0
        # the row's weights sum to zero
        assert abs(row.sum()) < 1e-9 * np.abs(row).sum()


def test_row_weights_duplicates_and_far_points():
    # i = 0 has a duplicate (distance 0) and a point far beyond the cutoff
    Z = np.array([[0.0], [0.0], [1.0], [100.0]])
    y = np.array([1.0, 2.0, 4.0, 100.0])
    sq = (Z * Z).ravel()
    row = (Z @ Z[0]).copy()
    stats = np.empty(3)
    row_weights(row, 0, sq[0], sq, y, np.zeros(4), np.empty(4), np.empty(4, np.int64), stats)
    k = np.array([0.0, 1.0, np.exp(-1.0), 0.0])
    assert stats[0] == pytest.approx((k @ y) / k.sum(), rel=1e-14)
    assert stats[1] == 2
    assert row[3] == 0.0 and row[0] == 0.0


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("n_groups", [1, 3])
@pytest.mark.parametrize("block", [1, 4, 1000])
@pytest.mark.parametrize("r", [5, 2])  # X-form (2r >= d), Z-form (2r < d)
def test_loss_grad_matches_naive(rng, r, block, n_groups, n_jobs):
    X, y, scale = _problem(rng)
    L = scale * rng.standard_normal((r, X.shape[1]))
    for a in (X, L, y):
        a.setflags(write=False)
    want_loss, want_grad, want_yhat = naive_loss_grad(L, X, y)
    loss, grad, yhat = get_loss_grad(n_jobs)(X, L, y, block, n_groups)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12 * np.abs(want_grad).max())
    np.testing.assert_allclose(yhat, want_yhat, rtol=1e-12)


@pytest.mark.parametrize("r", [5, 2])
@pytest.mark.parametrize("layout", ["narrow", "clusters"])
def test_loss_grad_shifted_and_sparse_match_stable_twin(rng, r, layout):
    # "narrow": distances far beyond exp's range (every row shifted by its
    # smallest distance); "clusters": ten clusters far apart, so that 90% of
    # the weights are beyond the cutoff and the blocks take the sparse product
    X, y, _ = _problem(rng, n=50)
    if layout == "narrow":
        L = 4.0 * rng.standard_normal((r, X.shape[1]))
    else:
        X += 40.0 * np.repeat(rng.standard_normal((10, X.shape[1])), 5, axis=0)
        X -= X.mean(axis=0)
        L = np.eye(X.shape[1])[:r] + 0.1 * rng.standard_normal((r, X.shape[1]))
        Z = X @ L.T
        D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2) + np.diag(np.full(50, np.inf))
        assert np.mean(D - D.min(axis=1, keepdims=True) <= _CUTOFF) < 1 / 8
    want_loss, want_grad, want_yhat, size = stable_twin(L, X, y)
    assert np.abs(want_grad).max() > 1e-6 * size  # a gradient worth comparing
    for block in (3, 50):
        loss, grad, yhat = loss_grad(X, L, y, block, 1)
        assert loss == pytest.approx(want_loss, rel=1e-9)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-7, atol=1e-12 * size)
        # (the expanded distances |z_i|^2 + |z_j|^2 - 2 z_i.z_j lose digits
        # to cancellation far from the origin)
        np.testing.assert_allclose(yhat, want_yhat, rtol=1e-9)


def test_loss_grad_overflow_is_infinite(rng):
    X, y, _ = _problem(rng)
    loss, grad, _ = loss_grad(X, 1e160 * np.eye(5), y, 25, 1)
    assert loss == np.inf and np.all(grad == 0.0)


def test_block_rows():
    assert block_rows(100) == 100
    assert block_rows(5000) == 256  # a block stays in cache
    # 60,000 points: a buffer of at most 32 MiB
    assert 32 <= block_rows(60_000) and block_rows(60_000) * 60_000 * 8 <= 32 << 20
    assert block_rows(10**7) == 32  # at least 32 rows
    # a parallel evaluation shares at least four blocks per group
    assert block_rows(1000, n_groups=2) <= 125


# ---------------------------------------------------------------- gradient


@pytest.mark.parametrize("r", [4, 2])
def test_gradient_check_grad(rng, r):
    X, y, scale = _problem(rng, n=20, d=4)
    problem = MLKRProblem(X, y)
    L0 = scale * rng.standard_normal(r * 4)

    def fun(v):
        return problem.loss_grad(v)[0]

    def jac(v):
        return problem.loss_grad(v)[1]

    err = check_grad(fun, jac, L0, epsilon=1e-7)
    assert err < 1e-6 * max(1.0, np.linalg.norm(jac(L0)))


def test_objective_is_the_definition(rng):
    X, y, scale = _problem(rng, n=15, d=3)
    L = scale * rng.standard_normal((2, 3))
    Z = X @ L.T
    D = ((Z[:, None] - Z[None]) ** 2).sum(axis=2)
    K = np.exp(-D) * (1 - np.eye(15))
    want = np.sum((K @ y / K.sum(axis=1) - y) ** 2)
    # translation of the points changes nothing
    assert mlkr_objective(L, X + 7.0, y) == pytest.approx(want, rel=1e-12)
    assert mlkr_objective(L, X, y) == pytest.approx(naive_loss_grad(L, X, y)[0], rel=1e-12)


def test_objective_history_is_the_objective():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X[:150])
    mlkr = MLKR(max_iter=40).fit(X, y[:150])
    assert mlkr.objective_history_.shape == (mlkr.n_iter_ + 1,)
    assert mlkr.objective_history_[-1] == pytest.approx(
        mlkr_objective(mlkr.components_, X, y[:150]), rel=1e-9)
    assert mlkr.objective_history_[0] == pytest.approx(
        mlkr_objective(np.eye(10), X, y[:150]), rel=1e-12)
    assert np.all(np.diff(mlkr.objective_history_) <= 0)


# ---------------------------------------------------------------- metric-learn

# metric-learn 0.7.0's MLKR() on the standardised 70/30 split (stratified for
# the classification sets), seed 0, one BLAS thread: its objective and k-NN
# score (3-NN accuracy; 5-NN regression R^2), measured in benchmarks/.venv-bench.
METRIC_LEARN = {
    "iris": (2.309863040, 1.0),
    "wine": (3.496415168e-06, 0.981481),
    "breast_cancer": (1.000004528, 0.941520),
    "digits": (156.0000006, 0.988889),
}
EUCLIDEAN_3NN = {"iris": 0.977778, "wine": 0.962963, "breast_cancer": 0.941520,
                 "digits": 0.979630}
LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer,
           "digits": load_digits}


def _split(X, y, stratify=True):
    parts = train_test_split(X, y, test_size=0.3, random_state=0,
                             stratify=y if stratify else None)
    scaler = StandardScaler().fit(parts[0])
    return scaler.transform(parts[0]), scaler.transform(parts[1]), parts[2], parts[3]


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_knn_accuracy_against_euclidean_and_metric_learn(name):
    X_train, X_test, y_train, y_test = _split(*LOADERS[name](return_X_y=True))
    mlkr = MLKR().fit(X_train, y_train)
    knn = KNeighborsClassifier(3).fit(mlkr.transform(X_train), y_train)
    accuracy = knn.score(mlkr.transform(X_test), y_test)
    assert accuracy >= METRIC_LEARN[name][1] - 0.01
    assert accuracy >= EUCLIDEAN_3NN[name] - 1e-9


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_objective_at_least_metric_learns(name):
    # same data, same init (the identity), same path and the same stopping
    # rule (scipy's) on standardised features: as low an objective. On iris
    # and breast cancer both stop at the same iterate (9 digits); on wine the
    # objective tends to zero (a near-perfect leave-one-out fit) and the
    # rule judges changes against max(|f|, 1), where the two paths, parted
    # by rounding, stop 2e-7 apart
    X_train, _, y_train, _ = _split(*LOADERS[name](return_X_y=True))
    mlkr = MLKR().fit(X_train, y_train)
    assert mlkr.converged_
    want = METRIC_LEARN[name][0]
    assert mlkr_objective(mlkr.components_, X_train, y_train) <= want + 1e-9 * max(want, 1e3)


def test_regression_with_irrelevant_features():
    # 3 informative features among 15: the learned metric finds them
    X, y = make_regression(n_samples=300, n_features=15, n_informative=3, noise=5.0,
                           random_state=0)
    X_train, X_test, y_train, y_test = _split(X, y, stratify=False)
    mlkr = MLKR(n_components=3, random_state=0).fit(X_train, y_train)

    def r2(transform):
        knn = KNeighborsRegressor(5).fit(transform(X_train), y_train)
        return knn.score(transform(X_test), y_test)

    euclidean, learned = r2(lambda A: A), r2(mlkr.transform)
    assert learned > 0.9 > euclidean + 0.2
    # the weight of the informative features
    informative = np.argsort(np.abs(make_regression(
        n_samples=300, n_features=15, n_informative=3, noise=5.0, random_state=0,
        coef=True)[2]))[-3:]
    M = mlkr.get_mahalanobis_matrix()
    assert np.diag(M)[informative].sum() > 0.9 * np.trace(M)


# ---------------------------------------------------------------- estimator


@parametrize_with_checks([MLKR(max_iter=30, random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_tags():
    tags = MLKR().__sklearn_tags__()
    assert tags.target_tags.required and tags.estimator_type != "classifier"
    assert tags.transformer_tags is not None


def test_real_targets_and_labels():
    X, y = load_diabetes(return_X_y=True)
    X = X[:80]
    a = MLKR(max_iter=20).fit(X, y[:80]).components_
    b = MLKR(max_iter=20).fit(X, list(y[:80])).components_
    np.testing.assert_array_equal(a, b)
    # integer labels are numbers
    c = MLKR(max_iter=20).fit(X, (y[:80] > 150).astype(int)).components_
    d = MLKR(max_iter=20).fit(X, (y[:80] > 150).astype(float)).components_
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize(
    "params, exc, msg",
    [
        ({"n_components": 0}, InvalidParameterError, "'n_components' parameter of MLKR"),
        ({"init": "lda"}, InvalidParameterError, "'init' parameter of MLKR"),
        ({"tol": -1.0}, InvalidParameterError, "'tol' parameter of MLKR"),
        ({"max_iter": 0}, InvalidParameterError, "'max_iter' parameter of MLKR"),
        ({"n_components": 5}, ValueError,
         re.escape("n_components=5 must be at most the number of features (4)")),
        ({"init": np.eye(3)}, ValueError,
         re.escape("init must have shape (n_components, 4) to match the 4 features of X; "
                   "got shape (3, 3)")),
        ({"init": np.eye(4)[:2], "n_components": 3}, ValueError,
         re.escape("init has 2 rows, but n_components=3")),
        ({"init": np.full((2, 4), np.nan)}, ValueError, "init contains NaN or infinity"),
        ({"init": "pca", "n_components": 4}, None, None),
    ],
)
def test_bad_parameters_leave_the_estimator_unchanged(params, exc, msg):
    X, y = load_iris(return_X_y=True)
    if exc is None:
        MLKR(**params).fit(X, y)  # a valid corner
        return
    assert_fails_cleanly(MLKR(**params), exc, msg, X, y)
    fitted = MLKR(max_iter=5).fit(X, y)
    fitted.set_params(**params)
    assert_fails_cleanly(fitted, exc, msg, X, y)


@pytest.mark.parametrize(
    "X, y, msg",
    [
        (np.ones((1, 2)), [1.0], re.escape("X: Found array with 1 sample(s) (shape=(1, 2)) "
                                           "while a minimum of 2 is required by MLKR")),
        (np.ones((4, 2)), [1.0, 2.0, 3.0], "inconsistent numbers of samples"),
        (np.ones((3, 2)), [1.0, np.nan, 2.0], "Input y contains NaN"),
        (np.ones((3, 2)), ["b", "a", "c"],
         re.escape("y must hold real targets: MLKR is a metric learner for regression; got "
                   "non-numeric values ['a', 'b', 'c'] (encode class labels as numbers)")),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), [1.0, 2.0], "Input X contains infinity"),
        (np.ones((3, 2)), None, "requires y to be passed"),
    ],
)
def test_bad_input_leaves_the_estimator_unchanged(X, y, msg):
    assert_fails_cleanly(MLKR(), ValueError, msg, X, y)


def test_overflowing_init():
    X = np.array([[0.0], [1.0], [3.0]])
    with pytest.raises(ValueError, match="the squared norms of the initial map applied to X "
                                         "overflow"):
        MLKR(init=np.array([[1e200]])).fit(X, [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- behaviour


def test_convergence_warning_at_max_iter():
    X, y = load_diabetes(return_X_y=True)
    msg = ("MLKR did not converge in max_iter=3 iterations (tol=None: ftol=2.2e-09, "
           "gtol=1e-05); increase max_iter or tol")
    with pytest.warns(ConvergenceWarning, match=re.escape(msg)):
        mlkr = MLKR(max_iter=3).fit(X, y)
    assert mlkr.n_iter_ == 3 and not mlkr.converged_
    assert mlkr.objective_history_.shape == (4,)


def test_verbose_and_callback(capsys):
    X, y = load_iris(return_X_y=True)
    seen = []
    mlkr = MLKR(verbose=3, callback=lambda L, it: seen.append((L.copy(), it))).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[MLKR] fitting 150 points of 4 features")
    assert out[1].startswith("[MLKR] iteration     0  objective ")
    assert len(out) == 1 + 1 + mlkr.n_iter_ + 1
    assert [it for _, it in seen] == list(range(1, mlkr.n_iter_ + 1))
    np.testing.assert_array_equal(seen[-1][0], mlkr.components_)
    assert mlkr_objective(seen[-1][0], X, y) == pytest.approx(mlkr.objective_history_[-1],
                                                             rel=1e-9)
    MLKR().fit(X, y)
    assert capsys.readouterr().out == ""


def test_deterministic_and_parallel_agree():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a = MLKR(max_iter=20).fit(X, y).components_
    b = MLKR(max_iter=20).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    problem, parallel = MLKRProblem(X, y), MLKRProblem(X, y, n_jobs=2)
    L = a.copy()
    f1, g1 = problem.value_grad(L)
    f2, g2 = parallel.value_grad(L)
    assert f2 == pytest.approx(f1, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12 * np.abs(g1).max())
    MLKR(max_iter=20, n_jobs=2).fit(X, y)


def test_warm_start_continues():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X[:120])
    y = y[:120]
    mlkr = MLKR(max_iter=5, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        mlkr.fit(X, y)
    first = mlkr.objective_history_[-1]
    with pytest.warns(ConvergenceWarning):
        mlkr.fit(X, y)
    assert mlkr.objective_history_[0] == pytest.approx(first, rel=1e-12)
    assert mlkr.objective_history_[-1] < first
    with pytest.raises(ValueError, match="warm_start=True needs X with the 10 features"):
        mlkr.fit(X[:, :3], y)


@pytest.mark.parametrize("init", ["auto", "pca", "identity", "random", "array"])
def test_init(init):
    X, y = load_diabetes(return_X_y=True)
    if init == "array":
        init = np.random.default_rng(0).standard_normal((2, 10))
    mlkr = MLKR(init=init, n_components=2, random_state=0, max_iter=50).fit(X[:100], y[:100])
    assert mlkr.components_.shape == (2, 10)
    assert mlkr.transform(X).shape == (442, 2)
    assert mlkr.objective_history_[-1] < mlkr.objective_history_[0]


def test_constant_targets_and_points():
    X = np.random.default_rng(0).standard_normal((10, 3))
    # every estimate exact from the start
    mlkr = MLKR(init="identity").fit(X, np.full(10, 4.0))
    assert mlkr.n_iter_ <= 1 and mlkr.converged_
    # identical points: no metric to learn, the init is returned
    mlkr = MLKR(init="identity").fit(np.ones((10, 3)), np.arange(10.0))
    assert mlkr.n_iter_ == 0 and mlkr.converged_
    np.testing.assert_array_equal(mlkr.components_, np.eye(3))


def test_constant_feature_keeps_its_init_column():
    X, y = load_diabetes(return_X_y=True)
    X = np.column_stack([X[:100], np.full(100, 2.0)])
    mlkr = MLKR(init="identity", max_iter=20).fit(X, y[:100])
    np.testing.assert_array_equal(mlkr.components_[:, -1], np.eye(11)[:, -1])


def test_same_path_as_lbfgsb_on_the_definition():
    # L-BFGS-B over L itself from the same init, as metric-learn runs it:
    # the iterates follow scipy's on the dense NumPy objective, up to rounding
    from scipy.optimize import minimize

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X[:80])
    y = y[:80]

    def dense(v):
        loss, grad, _, _ = stable_twin(v.reshape(10, 10), X, y)
        return loss, grad.ravel()

    want = minimize(dense, np.eye(10).ravel(), jac=True, method="L-BFGS-B",
                    options={"maxiter": 8, "ftol": 0.0, "gtol": 0.0}).x.reshape(10, 10)
    got = MLKR(init="identity", max_iter=8).fit(X, y).components_
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_duplicate_points():
    X, y = load_iris(return_X_y=True)
    mlkr = MLKR().fit(np.vstack([X, X]), np.concatenate([y, y]))
    assert np.all(np.isfinite(mlkr.components_))


def test_low_rank_pipeline_and_pickle():
    X, y = load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), MLKR(n_components=2, max_iter=50),
                          KNeighborsRegressor(10))
    model.fit(X, y)
    assert model[1].components_.shape == (2, 10)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X[:5]), model.predict(X[:5]))
