"""Each learner against the optimum of its problem stated in cvxpy
(``metriclearn._reference``) on tiny problems, compared on objective values
(optima need not be unique). Needs the 'reference' extra."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from metriclearn import ITML, LMNN, MMC, Constraints
from metriclearn.datasets import make_xing_toy
from metriclearn.objectives import lmnn_objective, mmc_diagonal_objective, mmc_objective

pytest.importorskip("cvxpy")
from metriclearn._reference import (
    itml_reference,
    lmnn_reference,
    mmc_diagonal_reference,
    mmc_full_reference,
)

pytestmark = pytest.mark.reference

# Clarabel's default accuracy is about 1e-8; the learners stop at tol=1e-9
# in these tests, so both sides agree to well within this.
REF_RTOL = 1e-6


def _pairs(X, y, n_constraints, seed=0):
    idx, labels = Constraints(y, unlabeled=None).pairs(n_constraints, random_state=seed)
    return X[idx], labels


def _mmc_problems():
    iris_X, iris_y = load_iris(return_X_y=True)
    wine_X, wine_y = load_wine(return_X_y=True)
    return {
        "toy2y": _pairs(*make_xing_toy(60, 2, "y", random_state=0), 40),
        "toy3z": _pairs(*make_xing_toy(90, 3, "z", random_state=1), 60),
        "iris": _pairs(iris_X[::3], iris_y[::3], 60),
        "wine": _pairs(wine_X, wine_y, 80),
    }


MMC_PROBLEMS = _mmc_problems()


@pytest.mark.parametrize("name", sorted(MMC_PROBLEMS))
def test_mmc_full_reaches_the_optimum(name):
    pairs, y = MMC_PROBLEMS[name]
    ref_value, ref_M = mmc_full_reference(pairs, y)
    assert mmc_objective(ref_M, pairs, y) == pytest.approx(ref_value, rel=REF_RTOL)
    mmc = MMC(tol=1e-9, max_iter=1000).fit(pairs, y)
    assert mmc.converged_
    assert mmc_objective(mmc.get_mahalanobis_matrix(), pairs, y) == pytest.approx(
        ref_value, rel=REF_RTOL
    )
    # the history ends at the same value (it is reported with f(M) = 1)
    assert mmc.objective_history_[-1] == pytest.approx(ref_value, rel=REF_RTOL)


@pytest.mark.parametrize("diagonal_c", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("name", sorted(MMC_PROBLEMS))
def test_mmc_diagonal_reaches_the_optimum(name, diagonal_c):
    pairs, y = MMC_PROBLEMS[name]
    ref_value, _ = mmc_diagonal_reference(pairs, y, diagonal_c)
    mmc = MMC(diagonal=True, diagonal_c=diagonal_c, tol=1e-10).fit(pairs, y)
    a = np.diag(mmc.get_mahalanobis_matrix())
    value = mmc_diagonal_objective(a, pairs, y, diagonal_c)
    # never above the optimum beyond the solver's accuracy
    assert value == pytest.approx(ref_value, abs=REF_RTOL * max(1.0, abs(ref_value)))


def _itml_problem(n=40, d=4, n_constraints=15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.arange(1, d + 1)
    labels = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    idx, y = Constraints(labels).pairs(n_constraints, random_state=seed)
    return X[idx], y


@pytest.mark.parametrize("gamma", [1.0, 10.0])
def test_itml_reaches_the_optimum(gamma):
    pairs, y = _itml_problem()
    model = ITML(gamma=gamma, tol=1e-9).fit(pairs, y)
    assert model.converged_
    ref_value, M_ref = itml_reference(pairs, y, model.bounds_, model.prior_, gamma)
    assert model.objective_history_[-1] == pytest.approx(ref_value, rel=1e-6, abs=1e-8)
    # the objective is strictly convex: the matrix is the optimum too
    M = model.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, M_ref, atol=1e-4 * np.abs(M_ref).max())


def test_itml_with_hard_constraints_reaches_the_optimum():
    pairs, y = _itml_problem()
    sq = ((pairs[:, 0] - pairs[:, 1]) ** 2).sum(axis=1)
    bounds = [np.max(sq[y == 1]) * 0.8, np.min(sq[y == -1]) * 1.2]  # feasible, active
    model = ITML(gamma=np.inf, tol=1e-10, prior="identity").fit(pairs, y, bounds=bounds)
    assert model.converged_
    ref_value, _ = itml_reference(pairs, y, bounds, np.eye(4), np.inf)
    assert model.objective_history_[-1] == pytest.approx(ref_value, rel=1e-6)


def _lmnn_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((15, 3)) * [1.0, 2.0, 0.5]
    y = np.repeat([0, 1, 2], 5)
    X[y == 1, 0] += 1.5
    return X, y


@pytest.mark.parametrize("rho", [0.25, 0.5])
def test_lmnn_squared_hinge_reaches_the_optimum(rho):
    X, y = _lmnn_problem()
    ref_value, _ = lmnn_reference(X, y, n_neighbors=2, regularization=rho,
                                  loss="squared_hinge")
    lmnn = LMNN(n_neighbors=2, regularization=rho, init="identity", tol=1e-10,
                max_iter=5000, loss="squared_hinge").fit(X, y)
    assert lmnn.converged_
    value = lmnn_objective(lmnn.components_, X, y, 2, rho, loss="squared_hinge")
    # Clarabel is accurate to about 1e-8 relative
    assert value == pytest.approx(ref_value, rel=1e-6)
    assert lmnn.objective_history_[-1] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("rho", [0.25, 0.5])
def test_lmnn_hinge_reaches_the_optimum(rho):
    X, y = _lmnn_problem()
    ref_value, _ = lmnn_reference(X, y, n_neighbors=2, regularization=rho, loss="hinge")
    lmnn = LMNN(n_neighbors=2, regularization=rho, init="identity", tol=1e-12,
                max_iter=5000, loss="hinge").fit(X, y)
    value = lmnn_objective(lmnn.components_, X, y, 2, rho, loss="hinge")
    # L-BFGS on the kinks of the hinge ends within a small margin of the
    # optimum rather than on it
    assert value == pytest.approx(ref_value, rel=1e-3)
    assert value >= ref_value * (1 - 1e-6)


# ------------------------------------------------------------- LSML, SDML


def _lsml_problem(name, n):
    from metriclearn import Constraints

    X, y = {"iris": load_iris, "wine": load_wine}[name](return_X_y=True)
    X = X[:, :4] if name == "wine" else X
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X[Constraints(y).quadruplets(n, random_state=0)]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "n"), [("iris", 30), ("wine", 25)])
def test_lsml_reaches_the_optimum(name, n, weighted):
    from metriclearn import LSML
    from metriclearn._reference import lsml_reference
    from metriclearn.objectives import lsml_objective

    q = _lsml_problem(name, n)
    w = np.random.default_rng(0).uniform(0.5, 2.0, n) if weighted else None
    ref_value, ref_M = lsml_reference(q, w)
    assert lsml_objective(ref_M, q, w) == pytest.approx(ref_value, rel=REF_RTOL)
    lsml = LSML(tol=1e-8).fit(q, w)
    assert lsml.converged_
    value = lsml_objective(lsml.get_mahalanobis_matrix(), q, w)
    assert value <= ref_value + REF_RTOL * abs(ref_value)
    assert value == pytest.approx(ref_value, rel=REF_RTOL)


@pytest.mark.parametrize("prior", ["identity", "diagonal"])
def test_lsml_with_a_prior_reaches_the_optimum(prior):
    from metriclearn import LSML
    from metriclearn._reference import lsml_reference
    from metriclearn.objectives import lsml_objective

    q = _lsml_problem("iris", 30)
    P = np.eye(4) if prior == "identity" else np.diag([2.0, 0.5, 1.0, 3.0])
    ref_value, _ = lsml_reference(q, prior=P)
    lsml = LSML(prior=P, tol=1e-8).fit(q)
    assert lsml_objective(lsml.get_mahalanobis_matrix(), q, prior=P) == pytest.approx(
        ref_value, rel=REF_RTOL)


@pytest.mark.parametrize("sparsity", [0.0, 0.01, 0.1])
@pytest.mark.parametrize("name", ["toy", "iris"])
def test_sdml_reaches_the_optimum(name, sparsity):
    from metriclearn import SDML
    from metriclearn._reference import sdml_reference
    from metriclearn.objectives import sdml_objective

    if name == "toy":
        X, y = make_xing_toy(60, 3, random_state=0)
    else:
        X, y = load_iris(return_X_y=True)
    pairs, yp = _pairs(X, y, 30)
    sdml = SDML(sparsity_param=sparsity).fit(pairs, yp)
    eta = sdml.balance_param_
    ref_value, ref_M = sdml_reference(pairs, yp, eta, sparsity)
    value = sdml_objective(sdml.get_mahalanobis_matrix(), pairs, yp, balance_param=eta,
                           sparsity_param=sparsity)
    # scikit-learn's graphical lasso stops at its default tolerance (1e-4 on
    # the duality gap)
    assert value == pytest.approx(ref_value, rel=1e-4)
