"""Certificates: every convex learner says how far its solution may be from
the optimum (``certificate_``), and the cvxpy optimum never contradicts it."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

from metriclearn import ITML, MMC, Constraints
from metriclearn.objectives import itml_pairs_objective, mmc_diagonal_objective, mmc_objective

pytest.importorskip("cvxpy")
from metriclearn._reference import itml_reference, mmc_diagonal_reference, mmc_full_reference

pytestmark = pytest.mark.reference

LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer}


def _pairs(name, seed):
    X, y = LOADERS[name](return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    pairs, y_pairs = Constraints(y).pairs(30, random_state=seed)
    return X[pairs], y_pairs


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["iris", "wine"])
def test_full_mmc_certificate_bounds_the_gap_to_the_optimum(name, seed):
    pairs, y = _pairs(name, seed)
    model = MMC(tol=1e-3).fit(pairs, y)
    optimum, _ = mmc_full_reference(pairs, y)
    value = mmc_objective(model.get_mahalanobis_matrix(), pairs, y)
    # g* <= g (1 + certificate_), up to the reference solver's accuracy
    assert optimum <= value * (1 + model.certificate_) + 1e-7 * optimum
    assert 0 <= model.certificate_ < 1e-2


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["iris", "wine"])
def test_diagonal_mmc_certificate_bounds_the_gap_to_the_optimum(name, seed):
    pairs, y = _pairs(name, seed)
    model = MMC(diagonal=True, tol=1e-6).fit(pairs, y)
    h_star, _ = mmc_diagonal_reference(pairs, y, 1.0)
    h = mmc_diagonal_objective(np.diag(model.get_mahalanobis_matrix()), pairs, y)
    # h - h* = log(g* / g) for the scale-free form the certificate bounds
    assert h - h_star <= np.log1p(model.certificate_) + 1e-7
    assert 0 <= model.certificate_ < 1e-2


@pytest.mark.parametrize("tol", [1e-2, 1e-9])
@pytest.mark.parametrize("solver", ["dual", "bregman"])
@pytest.mark.parametrize("name", ["iris", "wine"])
def test_itml_certificate_bounds_the_gap_to_the_optimum(name, solver, tol):
    pairs, y = _pairs(name, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sweeps may stop at max_iter
        model = ITML(solver=solver, tol=tol, max_iter=50).fit(pairs, y)
    optimum, _ = itml_reference(pairs, y, model.bounds_, model.prior_, model.gamma)
    value = itml_pairs_objective(model.get_mahalanobis_matrix(), pairs, y, model.bounds_,
                                 model.prior_, model.gamma)
    # P(M) - P* <= certificate_ * max(|P(M)|, 1), up to the reference's accuracy
    assert value - optimum <= model.certificate_ * max(abs(value), 1.0) + 1e-7 * abs(optimum)
    if solver == "dual":
        assert model.converged_ and model.certificate_ <= tol


def test_certificate_shrinks_with_the_tolerance():
    pairs, y = _pairs("wine", 0)
    loose = MMC(tol=1e-1, max_iter=3).fit(pairs, y).certificate_
    tight = MMC(tol=1e-10, max_iter=2000).fit(pairs, y).certificate_
    assert tight < loose
    assert tight < 1e-4


def test_certificate_of_a_far_point_is_large():
    """A certificate that cannot fail would be worthless: one step from the
    start the bound is far from zero."""
    pairs, y = _pairs("breast_cancer", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        early = MMC(max_iter=1).fit(pairs, y)
    assert early.certificate_ > 1e-2
