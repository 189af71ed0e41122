"""MMC and MMC_Supervised: the KKT conditions of the diagonal solution, the
projection onto the feasible set, equivariance, initialisation, convergence,
unbounded problems, pairs of identical points and accuracy on real data (the
cvxpy optima are in test_reference_optima.py)."""

import re
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from support import (
    PAIRS_SPECS,
    SUPERVISED_SPECS,
    assert_fails_cleanly,
    over,
    toy_pairs,
    training_input,
)

from metriclearn import MMC, Constraints, MMC_Supervised
from metriclearn._kernels.mmc import diagonal_objective, diagonal_value, project_psd_trace
from metriclearn.datasets import make_xing_toy
from metriclearn.exceptions import UnboundedObjectiveWarning
from metriclearn.metrics import pairwise_clustering_accuracy
from metriclearn.objectives import mmc_diagonal_objective, mmc_objective


def _pairs(X, y, n_constraints, seed=0):
    idx, labels = Constraints(y, unlabeled=None).pairs(n_constraints, random_state=seed)
    return X[idx], labels


def _problems():
    iris_X, iris_y = load_iris(return_X_y=True)
    wine_X, wine_y = load_wine(return_X_y=True)
    return {
        "toy2y": _pairs(*make_xing_toy(60, 2, "y", random_state=0), 40),
        "toy3z": _pairs(*make_xing_toy(90, 3, "z", random_state=1), 60),
        "iris": _pairs(iris_X[::3], iris_y[::3], 60),
        "wine": _pairs(wine_X, wine_y, 80),
    }


PROBLEMS = _problems()


def _iris_all_pairs():
    """Every pair of iris: where metric-learn's diagonal Newton stops at a
    non-stationary point (h about 2015)."""
    X, y = load_iris(return_X_y=True)
    i, j = np.triu_indices(X.shape[0], 1)
    return np.stack([X[i], X[j]], axis=1), np.where(y[i] == y[j], 1, -1)


@pytest.mark.parametrize("name", sorted(PROBLEMS) + ["iris_all"])
def test_diagonal_solution_satisfies_kkt(name):
    pairs, y = PROBLEMS[name] if name != "iris_all" else _iris_all_pairs()
    mmc = MMC(diagonal=True, tol=1e-14).fit(pairs, y)
    a = np.diag(mmc.get_mahalanobis_matrix())
    diff = pairs[:, 0] - pairs[:, 1]
    s_sum = (diff[y == 1] ** 2).sum(0)
    Q = np.ascontiguousarray(diff[y == -1] ** 2)
    _, grad, _ = diagonal_objective(a, s_sum, Q, 1.0)
    assert np.all(a >= 0)
    # stationarity, in units free of the features' scales: a_k * grad_k is
    # dimensionless, and the bound's multiplier grad_k / s_k must be >= 0
    free = a > 0
    assert np.all(np.abs(a[free] * grad[free]) <= 1e-6)
    assert np.all(grad[~free] / s_sum[~free] >= -1e-9)
    # features at zero stay there: lifting one does not lower h (this probes
    # the one-sided slopes the gradient cannot see when dissimilar pairs
    # collapse to distance zero)
    h = diagonal_value(a, s_sum, Q, 1.0)
    for k in np.flatnonzero(~free):
        for lift in 10.0 ** np.arange(-14, -3):
            b = a.copy()
            b[k] = lift * 0.5 / s_sum[k]
            assert diagonal_value(b, s_sum, Q, 1.0) >= h - 1e-8 * max(1.0, abs(h))
    # complementary slackness at the optimum: sum_S ||d||_a^2 = c / 2
    assert s_sum @ a == pytest.approx(0.5, rel=1e-6)


def test_full_is_equivariant_to_feature_scales():
    """Rescaling a feature rescales M accordingly: same distances, same fit."""
    pairs, y = PROBLEMS["wine"]
    scales = np.logspace(-3, 3, pairs.shape[2])
    M = MMC(tol=1e-9, max_iter=500).fit(pairs, y).get_mahalanobis_matrix()
    M_s = MMC(tol=1e-9, max_iter=500).fit(pairs * scales, y).get_mahalanobis_matrix()
    np.testing.assert_allclose(
        M_s * np.outer(scales, scales), M, rtol=1e-4, atol=1e-6 * np.abs(M).max()
    )


@pytest.mark.parametrize("init", ["identity", "covariance", "random", "array"])
@pytest.mark.parametrize("diagonal", [False, True])
def test_every_init_reaches_the_same_optimum(init, diagonal):
    pairs, y = PROBLEMS["iris"]
    if init == "array":
        rng = np.random.RandomState(3)
        A = rng.standard_normal((4, 4))
        init = A @ A.T + np.eye(4)
    mmc = MMC(init=init, diagonal=diagonal, tol=1e-10, max_iter=1000, random_state=0)
    mmc.fit(pairs, y)
    base = MMC(diagonal=diagonal, tol=1e-10, max_iter=1000).fit(pairs, y)
    if diagonal:
        a, a_base = (np.diag(m.get_mahalanobis_matrix()) for m in (mmc, base))
        value = mmc_diagonal_objective(a, pairs, y)
        expected = mmc_diagonal_objective(a_base, pairs, y)
        assert value == pytest.approx(expected, abs=1e-7)
    else:
        value = mmc_objective(mmc.get_mahalanobis_matrix(), pairs, y)
        expected = mmc_objective(base.get_mahalanobis_matrix(), pairs, y)
        assert value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("axis", ["y", "z"])
def test_full_metric_collapses_onto_the_separating_axis(axis):
    """On Xing's toy data the optimum is (close to) rank one along the axis
    the classes differ on, as in the paper's figures."""
    X, y = make_xing_toy(120, 2, axis, random_state=0)
    M = MMC_Supervised(random_state=0).fit(X, y).get_mahalanobis_matrix()
    w, V = np.linalg.eigh(M)
    assert w[-1] > 0.9 * w.sum()
    assert abs(V[{"y": 1, "z": 2}[axis], -1]) > 0.95


@pytest.mark.parametrize("diagonal", [False, True])
def test_history_is_monotone_and_counts_iterations(diagonal):
    pairs, y = PROBLEMS["wine"]
    mmc = MMC(diagonal=diagonal, tol=1e-9, max_iter=500).fit(pairs, y)
    h = mmc.objective_history_
    steps = np.diff(h) if not diagonal else -np.diff(h)
    assert np.all(steps >= -1e-12 * np.abs(h).max())
    assert mmc.n_iter_ >= 1
    assert h.shape[0] <= mmc.n_iter_ + 1


@pytest.mark.parametrize("diagonal", [False, True])
def test_convergence_warning_at_max_iter(diagonal):
    pairs, y = PROBLEMS["wine"]
    with pytest.warns(ConvergenceWarning, match=r"MMC did not converge in max_iter=1 "):
        mmc = MMC(diagonal=diagonal, max_iter=1, tol=1e-12).fit(pairs, y)
    assert mmc.n_iter_ == 1
    assert not mmc.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MMC(diagonal=diagonal, tol=1e-6, max_iter=500).fit(pairs, y)


@pytest.mark.parametrize("diagonal", [False, True])
def test_verbose_prints_iterations(diagonal, capsys):
    pairs, y = PROBLEMS["toy2y"]
    mmc = MMC(diagonal=diagonal, verbose=3, tol=1e-8).fit(pairs, y)
    lines = capsys.readouterr().out.strip().splitlines()
    # the start line, one line per iteration, the closing line
    assert len(lines) == mmc.n_iter_ + 2
    assert all("objective" in line for line in lines[1:-1])
    assert lines[1].startswith("[MMC] iteration     1  objective ")


# similar pairs vary along x only; dissimilar pairs also vary along y
UNBOUNDED = (np.array([[[0.0, 0.0], [1.0, 0.0]], [[2.0, 1.0], [3.0, 1.0]],
                       [[0.0, 0.0], [0.0, 3.0]], [[1.0, 0.0], [2.0, 2.0]]]),
             np.array([1, 1, -1, -1]))


@pytest.mark.parametrize(("diagonal", "why"), [
    (False, "the similar pairs leave 1 direction(s) of the dissimilar pairs unconstrained "
            "(led by features [1])"),
    (True, "features [1] vary in dissimilar pairs but in no similar pair"),
])
def test_unbounded_problem_gives_the_limit_metric_with_a_warning(diagonal, why):
    pairs, y = UNBOUNDED
    message = f"MMC's objective is unbounded: {why}. Along such a direction"
    with pytest.warns(UnboundedObjectiveWarning, match=re.escape(message)):
        mmc = MMC(diagonal=diagonal).fit(pairs, y)
    # the limit of the optimisation measures the free direction (y) only,
    # normalised in units of its dissimilar spread (3^2 + 2^2)
    np.testing.assert_allclose(mmc.get_mahalanobis_matrix(), [[0.0, 0.0], [0.0, 1.0 / 13.0]],
                               atol=1e-8)
    # made an error, it leaves the learner as it was
    fitted = MMC(diagonal=diagonal).fit(*PROBLEMS["toy2y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnboundedObjectiveWarning)
        for est in (MMC(diagonal=diagonal), fitted):
            assert_fails_cleanly(est, UnboundedObjectiveWarning, re.escape(message), pairs, y)


def test_unbounded_detection_ignores_units():
    """Features in very different units are not mistaken for a null space."""
    pairs, y = PROBLEMS["wine"]
    scales = np.logspace(-4, 4, pairs.shape[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnboundedObjectiveWarning)
        MMC(max_iter=500).fit(pairs * scales, y)


def test_pairs_of_identical_points_are_ignored():
    pairs, y = PROBLEMS["toy2y"]
    dup = np.repeat(pairs[:1, :1], 2, axis=1)  # a pair (x, x)
    pairs2 = np.concatenate([pairs, dup, dup])
    y2 = np.concatenate([y, [1, -1]])
    for diagonal in (False, True):
        M = MMC(diagonal=diagonal, tol=1e-9).fit(pairs, y).get_mahalanobis_matrix()
        M2 = MMC(diagonal=diagonal, tol=1e-9).fit(pairs2, y2).get_mahalanobis_matrix()
        assert np.all(np.isfinite(M2))
        np.testing.assert_allclose(M2, M, rtol=1e-6, atol=1e-9 * np.abs(M).max())


def _cv_knn(model, X, y):
    return cross_val_score(model, X, y, cv=5).mean()


def _kmeans_accuracy(X, y):
    labels = KMeans(len(np.unique(y)), n_init=10, random_state=0).fit_predict(X)
    return pairwise_clustering_accuracy(y, labels)


@pytest.mark.parametrize("diagonal", [False, True])
def test_supervised_beats_euclidean_on_toy_iris_and_wine(diagonal):
    knn = KNeighborsClassifier(3)
    X, y = make_xing_toy(150, 3, "y", random_state=0)
    learned = make_pipeline(MMC_Supervised(diagonal=diagonal, random_state=0), knn)
    assert _cv_knn(learned, X, y) > _cv_knn(knn, X, y)
    # raw features, as a user would pass them
    for loader, knn_floor in [(load_iris, 0.93), (load_wine, 0.85)]:
        Xr, yr = loader(return_X_y=True)
        mmc = MMC_Supervised(diagonal=diagonal, random_state=0)
        assert _cv_knn(make_pipeline(mmc, knn), Xr, yr) >= knn_floor
        # clustering with the learned metric (Euclidean: 0.87 / 0.69)
        assert _kmeans_accuracy(mmc.fit_transform(Xr, yr), yr) > _kmeans_accuracy(Xr, yr) + 0.05
    # wine's features have very different scales: the learned metric
    # recovers what Euclidean 3-NN loses (0.70)
    Xw, yw = load_wine(return_X_y=True)
    learned = make_pipeline(MMC_Supervised(diagonal=diagonal, random_state=0), knn)
    assert _cv_knn(learned, Xw, yw) > _cv_knn(knn, Xw, yw) + 0.1


def test_supervised_uses_every_label_as_a_class():
    """Labels -1 / +1 are two classes (metric-learn drops the -1 points)."""
    X, y = make_xing_toy(80, 2, "y", random_state=0)
    y_signed = np.where(y == 0, -1, 1)
    M = MMC_Supervised(random_state=0).fit(X, y).get_mahalanobis_matrix()
    M_signed = MMC_Supervised(random_state=0).fit(X, y_signed).get_mahalanobis_matrix()
    np.testing.assert_allclose(M_signed, M, rtol=1e-10, atol=1e-14)


def test_supervised_is_deterministic_and_n_constraints_matters():
    X, y = load_iris(return_X_y=True)
    a = MMC_Supervised(random_state=7).fit(X, y).components_
    b = MMC_Supervised(random_state=7).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    c = MMC_Supervised(random_state=7, n_constraints=30).fit(X, y).components_
    assert not np.allclose(a, c)


def test_diagonal_components_are_ordered_by_weight():
    pairs, y = PROBLEMS["wine"]
    L = MMC(diagonal=True).fit(pairs, y).components_
    norms = np.linalg.norm(L, axis=1)
    assert np.all(np.diff(norms) <= 0)
    np.testing.assert_allclose(L.T @ L, np.diag(np.diag(L.T @ L)), atol=1e-15)


def test_projection_onto_the_feasible_set_is_the_projection():
    """Variational inequality <M - P, X - P> <= 0 for every feasible X (PSD,
    trace at most the bound), and P feasible and a fixed point."""
    rng = np.random.RandomState(1)
    d = 6
    A = rng.standard_normal((d, d))
    M = 3 * (A + A.T)
    P = project_psd_trace(M, 1.0)
    assert np.linalg.eigvalsh(P).min() >= -1e-12
    assert np.trace(P) <= 1.0 + 1e-12
    for _ in range(50):
        B = rng.standard_normal((d, rng.randint(1, d + 1)))
        X = B @ B.T
        X /= np.trace(X) * rng.uniform(1.0, 3.0)
        assert np.sum((M - P) * (X - P)) <= 1e-10
    np.testing.assert_allclose(project_psd_trace(P, 1.0), P, atol=1e-12)  # idempotent


mmc_pairs_specs = over([s for s in PAIRS_SPECS if s.name.startswith("MMC")])


@mmc_pairs_specs
@pytest.mark.parametrize("kind", ["similar", "dissimilar"])
def test_needs_distinct_pairs_of_each_kind(spec, kind, toy):
    X, y = toy
    idx, y_pairs = toy_pairs(y)
    label = 1 if kind == "similar" else -1
    pairs = X[idx]
    pairs[y_pairs == label, 1] = pairs[y_pairs == label, 0]
    message = f"MMC needs at least one {kind} pair (y == {label:+d}) of distinct points"
    for est in (spec.make(), spec.make().fit(X[idx], y_pairs)):
        assert_fails_cleanly(est, ValueError, re.escape(message), pairs, y_pairs)


def test_only_identical_dissimilar_pairs_is_an_error():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    pairs = np.array([[x[0], x[1]], [x[0], x[0]]])
    with pytest.raises(ValueError, match="at least one dissimilar pair"):
        MMC().fit(pairs, [1, -1])


@over([s for s in SUPERVISED_SPECS if s.name.startswith("MMC")])
def test_supervised_needs_distinct_points_in_a_class(spec, toy):
    X, y = toy
    X_bad = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [4.0, 0.0, 1.0]])[y]
    message = "MMC needs at least one similar pair (y == +1) of distinct points"
    for est in (spec.make(), spec.make().fit(*training_input(spec, X, y))):
        assert_fails_cleanly(est, ValueError, re.escape(message), X_bad, y)
