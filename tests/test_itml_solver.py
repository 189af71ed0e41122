"""ITML's dual solver: the dual's gradient and exact line search (the
kernels' NumPy twins are in test_kernels.py), the cvxpy optimum and the
duality-gap certificate, hard constraints (and their infeasibility), the
priors, the Bregman option, and the default problem's convergence and
accuracy on real data."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from metriclearn import ITML, Constraints, ITML_Supervised
from metriclearn._itml import _solve
from metriclearn._itml_solver import _contradiction, _whiten, dual_solve
from metriclearn._kernels.itml import dual_gradient, line_minimum
from metriclearn.objectives import itml_default_bounds, itml_pairs_objective

GAMMAS = [0.5, 1.0, np.inf]


def _problem(n=40, d=4, n_constraints=15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.arange(1, d + 1)
    labels = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    idx, y = Constraints(labels).pairs(n_constraints, random_state=seed)
    return X, idx, y


def _dual_point(seed=0, m=12, d=4, gamma=1.0):
    """Whitened constraints and a dual point inside the dual's domain."""
    rng = np.random.default_rng(seed)
    W = 0.5 * rng.normal(size=(m, d))
    delta = np.where(np.arange(m) < m // 2, 1.0, -1.0)
    mu = rng.uniform(0.0, 0.3, size=m) * (rng.random(m) < 0.7)
    if np.isfinite(gamma):
        mu = np.minimum(mu, 0.5 * gamma)
    B = np.eye(d) + W.T @ (W * (delta * mu)[:, None])
    assert np.linalg.eigvalsh(B)[0] > 0.2
    return W, delta, mu


def _dual_value(W, delta, mu, gamma):
    """The dual minimised, ``-log det B(mu) - gamma sum log(1 - delta mu / gamma)``."""
    B = np.eye(W.shape[1]) + W.T @ (W * (delta * mu)[:, None])
    value = -np.linalg.slogdet(B)[1]
    if np.isinf(gamma):
        return value + np.sum(delta * mu)
    return value - gamma * np.sum(np.log1p(-delta * mu / gamma))


# --------------------------------------------------------------------------
# the dual's gradient and its line search
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", GAMMAS)
def test_dual_gradient_is_the_derivative_of_the_dual(gamma):
    W, delta, mu = _dual_point(seed=1, gamma=gamma)
    mu = mu + 0.05  # every variable inside the domain, away from 0
    B = np.eye(4) + W.T @ (W * (delta * mu)[:, None])
    q = np.einsum("ij,jk,ik->i", W, np.linalg.inv(B), W)
    grad, hdiag = np.empty_like(mu), np.empty_like(mu)
    dual_gradient(q, mu, delta, gamma, grad, hdiag)
    h = 1e-6
    numeric = np.array([
        (_dual_value(W, delta, mu + h * e, gamma) - _dual_value(W, delta, mu - h * e, gamma))
        / (2 * h)
        for e in np.eye(mu.shape[0])
    ])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def _line_value(t, theta, mu, step, delta, gamma):
    value = -np.sum(np.log1p(t * theta))
    if np.isinf(gamma):
        return value + t * np.sum(delta * step)
    return value - gamma * np.sum(np.log1p(-delta * (mu + t * step) / gamma))


@pytest.mark.parametrize("gamma", [0.5, 1.0, np.inf])
@pytest.mark.parametrize("seed", range(4))
def test_line_minimum_is_the_minimum_on_the_segment(gamma, seed):
    W, delta, mu = _dual_point(seed=seed, gamma=gamma)
    rng = np.random.default_rng(seed + 10)
    step = rng.normal(scale=0.2, size=mu.shape[0])
    step = np.maximum(mu + step, 0.0) - mu
    decreasing = step < 0
    t_bound = np.min(mu[decreasing] / -step[decreasing]) if decreasing.any() else np.inf
    B = np.eye(4) + W.T @ (W * (delta * mu)[:, None])
    R_inv = np.linalg.inv(np.linalg.cholesky(B))
    theta = np.linalg.eigvalsh(R_inv @ (W.T @ (W * (delta * step)[:, None])) @ R_inv.T)
    t, status = line_minimum(theta, mu, step, delta, gamma, t_bound)
    assert status in (0, 1)
    # the domain: B + t dB positive definite, slacks finite, t <= t_bound
    end = min(t_bound, 1e6)
    if np.any(theta < 0):
        end = min(end, -1.0 / theta.min())
    if np.isfinite(gamma):
        up = delta * step > 0
        if up.any():
            end = min(end, np.min((gamma - delta[up] * mu[up]) / (delta[up] * step[up])))
    grid = np.linspace(0.0, end, 20001)[:-1]
    values = [_line_value(s, theta, mu, step, delta, gamma) for s in grid]
    best = _line_value(t, theta, mu, step, delta, gamma)
    assert best <= min(values) + 1e-9
    if status == 1:
        assert t == t_bound


def test_line_minimum_special_cases():
    theta = np.array([0.5, 1.0])
    mu, delta = np.array([1.0, 1.0]), np.array([1.0, -1.0])
    # not a descent direction: no step
    assert line_minimum(np.array([-0.5, 0.0]), np.array([0.2, 1.0]), np.array([0.5, 0.0]),
                        delta, 1.0, np.inf) == (0.0, 0)
    # hard constraints, B growing and the linear term falling: an unbounded ray
    t, status = line_minimum(theta, mu, np.array([0.0, 1.0]), delta, np.inf, np.inf)
    assert status == 2 and t == np.inf
    # the minimum lies beyond the first variable's zero: stop there exactly
    t, status = line_minimum(np.array([-0.1, -0.2]), np.array([0.5, 0.5]),
                             np.array([-0.5, -0.5]), np.array([1.0, 1.0]), 1.0, 2.0)
    assert (t, status) == (2.0, 1)


def test_default_bounds_under_a_full_prior():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(30, 3))
    A = rng.normal(size=(3, 3))
    prior = A @ A.T + 0.1 * np.eye(3)
    diff = points[:, None, :] - points[None, :, :]
    sq = np.einsum("ijk,kl,ijl->ij", diff, prior, diff)[np.triu_indices(30, k=1)]
    np.testing.assert_allclose(itml_default_bounds(points, prior),
                               np.percentile(sq, [5, 95]), rtol=1e-12)


# --------------------------------------------------------------------------
# the optimum and the certificate
# --------------------------------------------------------------------------


def _prior(kind, X):
    if kind == "array":
        return np.diag([2.0, 1.0, 0.5, 0.25])
    return kind


@pytest.mark.reference
@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("prior", ["identity", "covariance", "random", "array"])
def test_dual_solver_reaches_the_cvxpy_optimum(gamma, prior):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import itml_reference

    X, idx, y = _problem()
    pairs = X[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = ITML(gamma=gamma, prior=_prior(prior, X), random_state=0).fit(pairs, y)
    assert model.converged_ and model.certificate_ <= 1e-9
    ref_value, M_ref = itml_reference(pairs, y, model.bounds_, model.prior_, gamma)
    M = model.get_mahalanobis_matrix()
    value = itml_pairs_objective(M, pairs, y, model.bounds_, model.prior_, gamma)
    assert value == pytest.approx(model.objective_history_[-1], rel=1e-10)
    assert value == pytest.approx(ref_value, rel=1e-6, abs=1e-8)
    # (the objective is the comparison; cvxpy's solvers stop near, not at,
    # the optimal matrix: 1.0e-4 of its largest entry apart once, with the
    # oldest supported cvxpy and clarabel)
    np.testing.assert_allclose(M, M_ref, atol=2e-4 * np.abs(M_ref).max())


@pytest.mark.reference
@pytest.mark.parametrize("tol", [1e-1, 1e-2, 1e-4, 1e-7])
def test_certificate_bounds_the_distance_to_the_optimum(tol):
    """The relative duality gap is an upper bound on how far the objective
    at the learned metric lies above the cvxpy optimum, at any tolerance;
    it is small exactly when the objective matches the optimum."""
    pytest.importorskip("cvxpy")
    from metriclearn._reference import itml_reference

    X, idx, y = _problem(n_constraints=40, seed=3)
    pairs = X[idx]
    model = ITML(tol=tol, gamma=1.0, prior="identity").fit(pairs, y)
    ref_value, _ = itml_reference(pairs, y, model.bounds_, np.eye(4), 1.0)
    value = itml_pairs_objective(model.get_mahalanobis_matrix(), pairs, y, model.bounds_,
                                 np.eye(4), 1.0)
    excess = (value - ref_value) / max(abs(value), 1.0)
    assert model.certificate_ <= tol
    assert excess <= model.certificate_ + 1e-8  # cvxpy's own accuracy
    if tol <= 1e-7:
        assert abs(excess) <= 1e-6


@pytest.mark.reference
def test_bregman_certificate_matches_its_distance_to_the_optimum():
    pytest.importorskip("cvxpy")
    from metriclearn._reference import itml_reference

    X, idx, y = _problem()
    pairs = X[idx]
    with pytest.warns(ConvergenceWarning, match=r"max_iter=20 sweeps"):
        model = ITML(solver="bregman", max_iter=20, tol=0.0, gamma=1.0,
                     prior="identity").fit(pairs, y)
    ref_value, _ = itml_reference(pairs, y, model.bounds_, np.eye(4), 1.0)
    value = itml_pairs_objective(model.get_mahalanobis_matrix(), pairs, y, model.bounds_,
                                 np.eye(4), 1.0)
    excess = (value - ref_value) / max(abs(value), 1.0)
    assert 0.0 < excess <= model.certificate_ + 1e-8
    assert model.certificate_ > 1e-6  # 20 sweeps are far from the optimum


# --------------------------------------------------------------------------
# hard constraints
# --------------------------------------------------------------------------


def _hard_bounds(pairs, y, shrink=0.8, stretch=1.2):
    sq = ((pairs[:, 0] - pairs[:, 1]) ** 2).sum(axis=1)
    return [np.max(sq[y == 1]) * shrink, np.min(sq[y == -1]) * stretch]


@pytest.mark.reference
@pytest.mark.parametrize("shrink, stretch", [(0.8, 1.2), (0.6, 1.5)])
def test_hard_constraints_reach_the_cvxpy_optimum(shrink, stretch):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import itml_reference

    X, idx, y = _problem()
    pairs = X[idx]
    bounds = _hard_bounds(pairs, y, shrink, stretch)
    model = ITML(gamma=np.inf, prior="identity").fit(pairs, y, bounds=bounds)
    assert model.converged_ and model.certificate_ <= 1e-9
    ref_value, _ = itml_reference(pairs, y, bounds, np.eye(4), np.inf)
    assert model.objective_history_[-1] == pytest.approx(ref_value, rel=1e-6)
    sq = model.pair_distance(pairs) ** 2
    assert np.all(sq[y == 1] <= bounds[0] * (1 + 1e-8))
    assert np.all(sq[y == -1] >= bounds[1] * (1 - 1e-8))


@pytest.mark.parametrize("bounds", [[1.0, 2.0], [1.0, 30.0], [1.0, 300.0]])
def test_infeasible_hard_constraints_are_a_clear_error(bounds):
    X, idx, y = _problem()
    with pytest.raises(ValueError, match=r"ITML with gamma=inf cannot meet every bound: "
                                         r"the bounds on \d+ similar and \d+ dissimilar pairs "
                                         r".*contradict each other.*Use a finite gamma"):
        ITML(gamma=np.inf, prior="identity").fit(X[idx], y, bounds=bounds)


def _farkas_problem():
    """Whitened constraints of a 3-D problem whose bounds contradict each
    other: a dissimilar pair that is the sum of two similar pairs, with a
    lower bound above what the upper bounds allow (||a + b||^2 <= 4 when
    ||a||^2 <= 1 and ||b||^2 <= 1)."""
    a, b, c = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0, 0, 1.0])
    W = np.array([a, b, c, (a + b) / np.sqrt(5.0)])  # the last: ||a + b||^2 >= 5
    delta = np.array([1.0, 1.0, 1.0, -1.0])
    return W, delta


def test_farkas_certificate_from_a_point_on_the_dual_boundary():
    # nu = (2, 2, 0, 5) proves it: G(nu) = 2 a a^T + 2 b b^T - (a + b)(a + b)^T
    # = (a - b)(a - b)^T is PSD (singular) and 2 + 2 - 5 < 0. The solver's
    # iterates run along that ray on the boundary of the dual's domain
    # (I + G(mu) nearly singular): G(mu) keeps an eigenvalue near -1
    W, delta = _farkas_problem()
    for t in (1e2, 1e4, 1e7):
        mu = t * np.array([2.0, 2.0, 0.0, 5.0]) + np.array([0.0, 0.0, 0.0, 2.0])
        assert np.linalg.eigvalsh(W.T @ (W * (delta * mu)[:, None]))[0] == pytest.approx(-0.8)
        nu = _contradiction(W, delta, mu)
        assert nu is not None and np.all(nu >= 0)
        # the Farkas conditions, checked directly
        G_nu = W.T @ (W * (delta * nu)[:, None])
        assert np.linalg.eigvalsh(G_nu)[0] > 0.0
        assert np.dot(delta, nu) < 0.0


def test_no_farkas_certificate_for_feasible_bounds():
    W, delta = _farkas_problem()
    W = W.copy()
    W[3] = (W[0] + W[1]) / np.sqrt(1.5)  # ||a + b||^2 >= 1.5: met by N = I
    rng = np.random.default_rng(0)
    for _ in range(200):
        mu = rng.exponential(size=4) * 10.0 ** rng.uniform(-3, 6)
        assert _contradiction(W, delta, mu) is None


@pytest.mark.reference
@pytest.mark.parametrize("bounds", [[1.0, 2.0], [1.0, 30.0], [1.0, 300.0]])
def test_cvxpy_agrees_the_hard_constraints_are_infeasible(bounds):
    pytest.importorskip("cvxpy")
    from metriclearn._reference import itml_reference

    X, idx, y = _problem()
    with pytest.raises(RuntimeError, match="infeasible"):
        itml_reference(X[idx], y, bounds, np.eye(4), np.inf)


def test_hard_constraints_with_few_iterations_warn_with_the_dual_bound():
    # the bounds [1, 30] contradict each other; stopped before its first
    # iteration the solver has not proved it yet, and its warning states the
    # dual bound reached by the starting sweeps
    X, idx, y = _problem()
    V = X[idx][:, 0] - X[idx][:, 1]
    delta = np.where(y == 1, 1.0, -1.0)
    xi = np.where(y == 1, 1.0, 30.0)
    *_, warns = dual_solve(V, delta, xi, np.eye(4), np.inf, max_iter=0, tol=1e-9)
    assert [c for c, _ in warns] == [UserWarning]
    assert re.match(r"ITML with gamma=inf: after 0 iterations the bounds are still violated "
                    r"by up to \S+ \(relative\) and the dual bound keeps growing: any metric "
                    r"that meets every bound lies at a LogDet divergence of at least \S+ from "
                    r"the prior, and the bounds may be infeasible\. Use a finite gamma or "
                    r"wider bounds$", warns[0][1])


def test_farkas_certificate_with_fewer_pairs_than_features():
    # the contradiction of _farkas_problem in 6-D: the pairs span 3 dimensions
    W, delta = _farkas_problem()
    W6 = np.hstack([W, np.zeros((4, 3))]) @ np.linalg.qr(
        np.random.default_rng(0).normal(size=(6, 6)))[0]
    mu = 1e4 * np.array([2.0, 2.0, 0.0, 5.0]) + np.array([0.0, 0.0, 0.0, 2.0])
    nu = _contradiction(W6, delta, mu)
    assert nu is not None
    G = W6.T @ (W6 * (delta * nu)[:, None])
    assert np.linalg.eigvalsh(G)[0] >= -1e-12 and np.dot(delta, nu) < 0.0


# --------------------------------------------------------------------------
# the solver's record, options, determinism
# --------------------------------------------------------------------------


def test_history_certificate_and_iterations():
    X, idx, y = _problem()
    model = ITML(gamma=1.0, prior="identity").fit(X[idx], y)
    assert model.converged_ and 0 < model.n_iter_ < 200
    assert model.objective_history_.shape == (model.n_iter_ + 1,)
    value = itml_pairs_objective(model.get_mahalanobis_matrix(), X[idx], y, model.bounds_,
                                 model.prior_, 1.0)
    assert model.objective_history_[-1] == pytest.approx(value, rel=1e-10)
    assert 0.0 <= model.certificate_ <= 1e-9


def test_verbose_prints_each_iteration(capsys):
    X, idx, y = _problem()
    model = ITML(verbose=3, gamma=1.0, prior="identity").fit(X[idx], y)
    out = capsys.readouterr().out
    assert out.count("[ITML] iteration") == model.n_iter_
    assert "relative gap" in out


def test_convergence_warning_counts_iterations_and_names_tol():
    X, idx, y = _problem()
    with pytest.warns(ConvergenceWarning, match=r"ITML did not converge in max_iter=2 "
                                                r"iterations \(tol=1e-09\); increase"):
        model = ITML(max_iter=2, gamma=1.0, prior="identity").fit(X[idx], y)
    assert model.n_iter_ == 2 and not model.converged_
    assert model.certificate_ > 1e-9


def test_bregman_solver_is_the_sweep():
    """solver='bregman' runs the cyclic projections of metriclearn._itml._solve."""
    X, idx, y = _problem()
    pairs = X[idx]
    model = ITML(solver="bregman", max_iter=50, tol=0.0, gamma=1.0, prior="identity")
    with pytest.warns(ConvergenceWarning, match=r"max_iter=50 sweeps"):
        model.fit(pairs, y, bounds=[2.0, 20.0])
    V = pairs[:, 0] - pairs[:, 1]
    V = np.ascontiguousarray(np.concatenate([V[y == 1], V[y == -1]]))
    delta = np.where(np.concatenate([y[y == 1], y[y == -1]]) == 1, 1.0, -1.0)
    xi0 = np.where(delta > 0, 2.0, 20.0)
    M, _, history, n_iter, _ = _solve(V, delta, np.eye(4), xi0, 1.0, 50, 0.0)
    np.testing.assert_allclose(model.get_mahalanobis_matrix(), M, rtol=1e-10, atol=1e-12)
    assert n_iter == model.n_iter_ == 50
    assert ITML().tol == ITML(solver="bregman").tol == 1e-9


def test_dual_solver_beats_a_thousand_sweeps():
    Xtr, _, ytr, _ = _split(load_iris, scale=True)
    pairs, y = Constraints(ytr).pairs(180, random_state=0)
    bounds = itml_default_bounds(Xtr, np.eye(4))
    values = {}
    for solver in ("dual", "bregman"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = ITML(solver=solver, tol=0.0 if solver == "bregman" else 1e-9, gamma=1.0,
                         prior="identity", preprocessor=Xtr).fit(pairs, y, bounds=bounds)
        values[solver] = itml_pairs_objective(model.get_mahalanobis_matrix(), Xtr[pairs], y,
                                              bounds, np.eye(4), 1.0)
    assert values["dual"] < values["bregman"] * (1 - 1e-4)


def test_fits_are_deterministic_in_both_precisions():
    X, y = load_digits(return_X_y=True)  # large enough for the float32 phase
    a = ITML_Supervised(random_state=0).fit(X, y)
    b = ITML_Supervised(random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.n_iter_ == b.n_iter_ and a.certificate_ == b.certificate_


def test_whitening_is_exact():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(6, 3))
    A = rng.normal(size=(3, 3))
    M0 = A @ A.T + np.eye(3)
    xi0 = rng.uniform(1, 2, size=6)
    W, L0 = _whiten(V, xi0, M0)
    np.testing.assert_allclose(L0 @ L0.T, M0, rtol=1e-12)
    np.testing.assert_allclose(np.einsum("ij,ij->i", W, W),
                               np.einsum("ij,jk,ik->i", V, M0, V) / xi0, rtol=1e-12)


def test_only_identical_points_learn_nothing():
    X = np.arange(12.0).reshape(6, 2)
    pairs = np.stack([X, X], axis=1)
    y = np.array([1, 1, 1, -1, -1, -1])
    model = ITML(prior="identity").fit(pairs, y, bounds=[1.0, 2.0])
    np.testing.assert_allclose(model.get_mahalanobis_matrix(), np.eye(2))
    assert model.converged_ and model.n_iter_ == 0 and model.certificate_ == 0.0


def test_dual_solve_returns_the_documented_record():
    X, idx, y = _problem()
    V = X[idx[:, 0]] - X[idx[:, 1]]
    delta = np.where(y == 1, 1.0, -1.0)
    xi0 = np.where(delta > 0, 3.0, 30.0)
    M, history, n_iter, converged, certificate, warns = dual_solve(
        V, delta, xi0, np.eye(4), 1.0, 500, 1e-10)
    assert converged and warns == [] and certificate <= 1e-10
    assert history.shape == (n_iter + 1,)
    np.testing.assert_array_equal(M, M.T)
    assert np.linalg.eigvalsh(M)[0] > 0


# --------------------------------------------------------------------------
# the defaults on real data
# --------------------------------------------------------------------------


def _split(load, scale=False):
    X, y = load(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    if scale:
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    return Xtr, Xte, ytr, yte


def _make_classification_2000(return_X_y=True):
    return make_classification(2000, 50, random_state=0)


def _make_classification_5000(return_X_y=True):
    return make_classification(5000, 20, random_state=0)


DATASETS = [load_iris, load_wine, load_breast_cancer, load_digits,
            _make_classification_2000, _make_classification_5000]


@pytest.mark.parametrize("scale", [False, True], ids=["raw", "standardised"])
@pytest.mark.parametrize("load", DATASETS, ids=lambda f: f.__name__.strip("_"))
def test_defaults_converge_without_warning(load, scale):
    Xtr, _, ytr, _ = _split(load, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no solver warning
        model = ITML_Supervised(random_state=0).fit(Xtr, ytr)
    assert model.converged_ and model.n_iter_ < 1000
    assert model.certificate_ <= 1e-9


def test_separation_is_the_roc_auc():
    from sklearn.metrics import roc_auc_score

    from metriclearn._itml import _separation

    rng = np.random.default_rng(0)
    for _ in range(5):
        sq = rng.integers(0, 20, 100).astype(float)  # with ties
        delta = np.where(rng.random(100) < 0.5, 1.0, -1.0)
        assert _separation(sq, delta) == pytest.approx(roc_auc_score(delta < 0, sq), rel=1e-12)


@pytest.mark.parametrize("load, scale, scaled_prior", [
    (load_wine, False, True),  # proline (mg/l) dominates the identity
    (load_wine, True, False),  # standardised: the two priors coincide
    (load_digits, False, False),  # pixels share their units
])
def test_auto_prior_picks_the_prior_that_tells_the_pairs_apart(load, scale, scaled_prior):
    Xtr, _, ytr, _ = _split(load, scale)
    model = ITML_Supervised(random_state=0).fit(Xtr, ytr)
    identity = np.allclose(model.prior_, np.eye(Xtr.shape[1]))
    assert identity != scaled_prior
    if scaled_prior:
        var = Xtr.var(axis=0)
        floor = 0.1 * np.median(var[var > 0])
        np.testing.assert_allclose(np.diag(model.prior_), 1 / np.maximum(var, floor))
        assert np.count_nonzero(model.prior_ - np.diag(np.diag(model.prior_))) == 0


@pytest.mark.parametrize("load", [load_iris, load_wine, load_breast_cancer])
def test_defaults_do_not_depend_on_feature_units(load):
    """The 3-NN accuracy of the defaults on raw features is that on
    standardised ones (within a test point or two) and beats the Euclidean
    distance on raw features."""
    Xtr, Xte, ytr, yte = _split(load)
    scaler = StandardScaler().fit(Xtr)

    def accuracy(A, B, **params):
        model = ITML_Supervised(random_state=0, **params).fit(A, ytr)
        knn = KNeighborsClassifier(3).fit(model.transform(A), ytr)
        return knn.score(model.transform(B), yte)

    raw = accuracy(Xtr, Xte)
    standardised = accuracy(scaler.transform(Xtr), scaler.transform(Xte))
    euclidean = KNeighborsClassifier(3).fit(Xtr, ytr).score(Xte, yte)
    assert raw >= standardised - 2.5 / len(yte)
    assert raw >= euclidean
    if load is load_wine:
        assert raw == 1.0 and euclidean < 0.7
