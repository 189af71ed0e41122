"""Numerical robustness: eigen-decompositions that fail or meet non-finite
entries end in a fallback or a clear error (never a NaN matrix), extreme
feature scales do not overflow, pairs of identical points and duplicated
points give no NaN, and every convergence warning says which parameter to
change."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import LinAlgError
from sklearn.exceptions import ConvergenceWarning
from support import (
    ALL_SPECS,
    all_specs,
    assert_fails_cleanly,
    pairs_specs,
    point_specs,
    spec_id,
    toy_pairs,
    training_input,
)

import metriclearn._linalg as base
from metriclearn._linalg import components_from_metric, initial_metric, symmetric_eigh
from metriclearn.cluster import ConstrainedKMeans


def _failing_eigh(fail_drivers):
    """scipy's ``eigh`` whose given drivers fail to converge."""
    real = base.eigh

    def eigh(a, *args, driver=None, **kwargs):
        if driver in fail_drivers:
            raise LinAlgError("the algorithm failed to converge")
        return real(a, *args, driver=driver, **kwargs)

    return eigh


# --------------------------------------------------------- eigen-solvers


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_metric_is_a_clear_error(bad):
    M = np.eye(3)
    M[1, 2] = M[2, 1] = bad
    with pytest.raises(ValueError, match="the Mahalanobis matrix has NaN or infinite entries"):
        components_from_metric(M)


def test_covariance_init_of_overflowing_points_is_a_clear_error():
    X = np.array([[1e200, 0.0], [-1e200, 1.0], [3e200, 2.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ValueError, match=re.escape(
            "the covariance of the points (init='covariance') has NaN or infinite entries"
        )):
            initial_metric("covariance", X, 2, None)


def test_eigh_falls_back_to_the_qr_driver(monkeypatch, rng):
    A = rng.normal(size=(5, 5))
    A = A @ A.T
    expected_w, _ = symmetric_eigh(A)
    monkeypatch.setattr(base, "eigh", _failing_eigh({None}))
    w, V = symmetric_eigh(A)
    assert_allclose(w, expected_w, rtol=1e-10)
    assert_allclose((V * w) @ V.T, A, atol=1e-10)
    L = components_from_metric(A)
    assert_allclose(L.T @ L, A, atol=1e-10)


def test_eigh_that_never_converges_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(base, "eigh", _failing_eigh({None, "ev"}))
    with pytest.raises(ValueError, match=re.escape(
        "the eigen-decomposition of the Mahalanobis matrix did not converge"
    )):
        components_from_metric(np.eye(3))


@pytest.mark.parametrize(
    "spec", [s for s in ALL_SPECS if s.cls.__name__.startswith("ITML")], ids=spec_id
)
def test_eigen_failure_in_fit_leaves_a_fitted_learner_unchanged(spec, toy, monkeypatch):
    X, y = toy
    args = training_input(spec, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = spec.make().fit(*args)
        monkeypatch.setattr(base, "eigh", _failing_eigh({None, "ev"}))
        message = "the eigen-decomposition of the Mahalanobis matrix did not converge"
        for learner in (spec.make(), est):
            assert_fails_cleanly(learner, ValueError, message, *args)


# ---------------------------------------------------------- large scales


@all_specs
@pytest.mark.parametrize("scale", [1e-8, 1e8, 1e12])
def test_extreme_scales_give_a_finite_scaled_fit(spec, scale, toy):
    """The fit on ``X * scale`` is finite, and maps ``X * scale`` to points
    whose distance ratios are those of some metric: no overflow warning
    (an error in this suite) and no NaN."""
    X, y = toy
    args = training_input(spec, X * scale, y)
    if spec.name.startswith("SCML") and scale < 1:
        # SCML's margin is 1 in squared units of the features (as the paper
        # and metric-learn state it): no weight pays off at 1e-8, and the
        # metric is zero, with a warning that says why (documented)
        with pytest.warns(UserWarning, match="the learned metric is zero. The triplets' "
                                             "margin is 1 in squared units"):
            est = spec.make().fit(*args)
        assert np.all(est.components_ == 0)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = spec.make().fit(*args)
    assert np.all(np.isfinite(est.components_))
    Z = est.transform(X * scale)
    assert np.all(np.isfinite(Z))
    assert np.ptp(Z) > 0


# ------------------------------------------------- identical and duplicated


@pairs_specs
def test_pairs_of_identical_points_do_not_produce_nan(spec, toy):
    X, y = toy
    idx, y_pairs = toy_pairs(y)
    pairs = X[idx]
    pairs[::4, 1] = pairs[::4, 0]  # a quarter of the pairs, of both kinds
    assert set(y_pairs[::4]) == {-1, 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = spec.make().fit(pairs, y_pairs)
        dist = est.pair_distance(pairs)
    assert np.all(np.isfinite(est.components_))
    assert np.all(dist[::4] == 0.0)
    assert np.all(np.isfinite(dist))
    assert np.isfinite(est.threshold_)
    assert_array_equal(est.predict(pairs[::4]), 1)


@point_specs
def test_duplicated_points_do_not_produce_nan(spec, toy):
    X, y = toy
    args = training_input(spec, np.concatenate([X, X[:20]]), np.concatenate([y, y[:20]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = spec.make().fit(*args)
    assert np.all(np.isfinite(est.components_))


# ------------------------------------------------------ convergence warnings


def _iterative(spec):
    return "max_iter" in spec.cls().get_params()


def _closed_form(spec):
    # SDML runs scikit-learn's graphical lasso to its own tolerance: iterative,
    # with no max_iter of its own
    return not _iterative(spec) and not spec.name.startswith("SDML")


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if {"max_iter", "tol"}
                                  <= set(s.make().get_params())], ids=spec_id)
def test_convergence_warning_names_the_parameter_to_change(spec, toy):
    """Every learner with a stopping rule (``tol``) and a limit (``max_iter``):
    SDML's graphical lasso has neither, SCML runs its ``max_iter`` steps."""
    X, y = toy
    args = training_input(spec, X, y)
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1\b.*increase max_iter"):
        spec.make(max_iter=1).fit(*args)


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if _closed_form(s)], ids=spec_id)
def test_closed_form_learners_converge_in_no_iteration(spec, toy):
    X, y = toy
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = spec.make().fit(*training_input(spec, X, y))
    assert est.n_iter_ == 0 and est.converged_
    assert est.objective_history_.shape == (0,)


def test_clusterer_convergence_warning_names_the_parameter_to_change(toy):
    X, _ = toy
    with pytest.warns(ConvergenceWarning, match=r"max_iter=1\b.*increase max_iter"):
        ConstrainedKMeans(n_clusters=3, max_iter=1, n_init=1, random_state=0).fit(X)
