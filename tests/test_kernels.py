"""numba kernels against their NumPy twins on small random inputs."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime, check_grad

from metriclearn._kernels.distances import (
    get_paired_sq_mahalanobis,
    paired_sq_mahalanobis,
    weighted_outer_sum,
)
from metriclearn._kernels.mmc import (
    diagonal_objective,
    diagonal_value,
    project_psd_trace,
)


def _random_psd(rng, d, rank=None):
    A = rng.standard_normal((d, rank or d))
    return A @ A.T


# ---------------------------------------------------------------- twins


def paired_sq_mahalanobis_twin(diff, M):
    return np.einsum("ij,jk,ik->i", diff, M, diff)


def weighted_outer_sum_twin(diff, w):
    return np.einsum("i,ij,ik->jk", w, diff, diff)


def project_psd_trace_twin(M, bound):
    """Eigenvalues projected onto {x >= 0, sum x <= bound} by bisection."""
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    x = np.maximum(w, 0.0)
    if x.sum() > bound:
        lo, hi = 0.0, w.max()
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.maximum(w - mid, 0.0).sum() > bound:
                lo = mid
            else:
                hi = mid
        x = np.maximum(w - hi, 0.0)
    return (V * x) @ V.T


def diagonal_value_twin(a, s_sum, Q, c):
    return s_sum @ a - c * np.log(np.sqrt(Q @ a).sum())


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("n, d", [(1, 1), (7, 3), (50, 8), (300, 17)])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_paired_sq_mahalanobis_matches_twin(n, d, n_jobs):
    rng = np.random.RandomState(n + d)
    diff = rng.standard_normal((n, d))
    M = _random_psd(rng, d)
    got = get_paired_sq_mahalanobis(n_jobs)(diff, M)
    np.testing.assert_allclose(got, paired_sq_mahalanobis_twin(diff, M), rtol=1e-12)


def test_paired_sq_mahalanobis_does_not_write_inputs():
    rng = np.random.RandomState(0)
    diff, M = rng.standard_normal((20, 4)), _random_psd(rng, 4)
    diff.flags.writeable = False
    M.flags.writeable = False
    paired_sq_mahalanobis(diff, M)  # read-only inputs are accepted
    weighted_outer_sum(diff, np.ones(20))


@pytest.mark.parametrize("n, d", [(0, 3), (1, 1), (10, 4), (257, 5), (1000, 12)])
def test_weighted_outer_sum_matches_twin(n, d):
    rng = np.random.RandomState(n + 3 * d)
    diff = rng.standard_normal((n, d))
    w = rng.uniform(0.1, 2.0, n)
    got = weighted_outer_sum(diff, w)
    np.testing.assert_allclose(got, weighted_outer_sum_twin(diff, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, got.T)  # exactly symmetric


@pytest.mark.parametrize("d", [1, 2, 5, 12])
@pytest.mark.parametrize("bound", [0.5, 1.0, 100.0])
def test_project_psd_trace_matches_twin(d, bound):
    rng = np.random.RandomState(d)
    A = rng.standard_normal((d, d))
    M = A + A.T
    P = project_psd_trace(M, bound)
    np.testing.assert_allclose(P, project_psd_trace_twin(M, bound), atol=1e-10)
    w = np.linalg.eigvalsh(P)
    assert w.min() >= -1e-12
    assert np.trace(P) <= bound * (1 + 1e-12)


def test_project_psd_trace_is_the_projection():
    """Variational inequality <M - P, X - P> <= 0 for feasible X."""
    rng = np.random.RandomState(1)
    d = 6
    A = rng.standard_normal((d, d))
    M = 3 * (A + A.T)
    P = project_psd_trace(M, 1.0)
    for _ in range(50):
        X = _random_psd(rng, d, rank=rng.randint(1, d + 1))
        X /= np.trace(X) * rng.uniform(1.0, 3.0)
        assert np.sum((M - P) * (X - P)) <= 1e-10
    np.testing.assert_allclose(project_psd_trace(P, 1.0), P, atol=1e-12)  # idempotent


def test_diagonal_objective_value_gradient_and_hessian():
    rng = np.random.RandomState(2)
    d = 5
    s_sum = rng.uniform(0.5, 2.0, d)
    Q = rng.uniform(0.0, 1.0, (30, d)) ** 2
    c = 1.7
    a = rng.uniform(0.2, 1.0, d)
    h, grad, H = diagonal_objective(a, s_sum, Q, c)
    assert h == pytest.approx(diagonal_value_twin(a, s_sum, Q, c), rel=1e-12)
    assert diagonal_value(a, s_sum, Q, c) == pytest.approx(h, rel=1e-13)

    def f(x):
        return diagonal_value(x, s_sum, Q, c)

    def g(x):
        return diagonal_objective(x, s_sum, Q, c)[1]

    assert check_grad(f, g, a) < 1e-6 * np.linalg.norm(grad) + 1e-7
    H_fd = np.array([approx_fprime(a, lambda x, k=k: g(x)[k], 1e-7) for k in range(d)])
    np.testing.assert_allclose(H, H_fd, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(H, H.T)
    assert np.linalg.eigvalsh(H).min() >= -1e-12  # convex


def test_diagonal_objective_is_infinite_when_all_distances_vanish():
    Q = np.array([[1.0, 0.0], [2.0, 0.0]])
    a = np.array([0.0, 1.0])
    assert diagonal_value(a, np.ones(2), Q, 1.0) == np.inf
    assert diagonal_objective(a, np.ones(2), Q, 1.0)[0] == np.inf
