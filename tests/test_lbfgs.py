"""The lean L-BFGS of metriclearn._lbfgs: minima of known functions, a
domain outside which the objective is infinite, and its three ways to stop."""

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der

from metriclearn._lbfgs import minimize


def _rosen(x):
    return rosen(x), rosen_der(x)


@pytest.mark.parametrize("n", [2, 5, 30])
def test_reaches_the_minimum_of_rosenbrock(n):
    x0 = np.full(n, -1.2)
    result = minimize(_rosen, x0, max_iter=2000,
                      callback=lambda k, x, f, g: np.linalg.norm(g) <= 1e-9)
    assert result.status == "callback"
    np.testing.assert_allclose(result.x, np.ones(n), atol=1e-8)
    assert result.f == pytest.approx(0.0, abs=1e-15)
    assert x0[0] == -1.2  # the start is not modified


def test_convex_quadratic_in_a_few_times_n_iterations(rng):
    A = rng.standard_normal((8, 8))
    H, b = A @ A.T + np.eye(8), rng.standard_normal(8)
    result = minimize(lambda x: (0.5 * x @ H @ x - b @ x, H @ x - b), np.zeros(8),
                      max_iter=100, memory=20,
                      callback=lambda k, x, f, g: np.linalg.norm(g) <= 1e-8)
    assert result.status == "callback" and result.n_iter <= 30
    np.testing.assert_allclose(result.x, np.linalg.solve(H, b), rtol=1e-6)


def test_steps_back_inside_a_domain_where_the_objective_is_infinite():
    # f = sum(x - log x): infinite for x <= 0, minimum at 1; the first steps overshoot
    def fun(x):
        if np.any(x <= 0):
            return np.inf, np.full_like(x, np.nan)
        return float(np.sum(x - np.log(x))), 1.0 - 1.0 / x

    result = minimize(fun, np.array([1e-3, 50.0]), max_iter=200,
                      callback=lambda k, x, f, g: np.linalg.norm(g) <= 1e-10)
    assert result.status == "callback"
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-8)


def test_stops_at_max_iter_and_on_a_failed_line_search():
    result = minimize(_rosen, np.full(4, -1.2), max_iter=3)
    assert result.status == "max_iter" and result.n_iter == 3
    # a function that no step lowers: flat
    flat = minimize(lambda x: (1.0, np.zeros_like(x)), np.ones(3), max_iter=10)
    assert flat.status == "line_search" and flat.n_iter == 0
    # a linear function bounded by its domain's edge: every step along the
    # gradient leaves the domain, so the search ends where it started
    edge = minimize(lambda x: (float(x[0]), np.array([1.0])) if x[0] >= 0 else
                    (np.inf, np.array([np.nan])), np.zeros(1), max_iter=10)
    assert edge.status == "line_search" and edge.x[0] == 0.0


def test_an_infinite_start_is_an_error():
    with pytest.raises(ValueError, match="starting point of L-BFGS must have a finite"):
        minimize(lambda x: (np.inf, x), np.ones(2), max_iter=5)
