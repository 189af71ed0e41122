"""LSML and LSML_Supervised: the objective and its gradient, the solver's
stopping rule, weights, the prior, quadruplets from labels, the classifier of
quadruplets, and 3-NN accuracy on the scikit-learn data sets."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import check_grad
from sklearn.exceptions import ConvergenceWarning
from support import assert_fails_cleanly, toy_quadruplets

from metriclearn import LSML, Constraints, LSML_Supervised
from metriclearn._lsml_solver import LSMLProblem
from metriclearn.exceptions import NonPSDError
from metriclearn.objectives import lsml_objective


@pytest.fixture
def quadruplets(toy):
    X, y = toy
    return X, toy_quadruplets(y, n_constraints=50)


def _problem(X, q, w=None, prior_inv=None):
    V = np.ascontiguousarray(X[q[:, 0]] - X[q[:, 1]])
    U = np.ascontiguousarray(X[q[:, 2]] - X[q[:, 3]])
    n, d = V.shape
    w = np.full(n, 1.0 / n) if w is None else w / w.sum()
    return LSMLProblem(V, U, w, np.eye(d) if prior_inv is None else prior_inv)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_in_L_matches_finite_differences(quadruplets, seed):
    X, q = quadruplets
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 2.0, q.shape[0])
    A = rng.normal(size=(3, 3))
    problem = _problem(X, q, w, A @ A.T + np.eye(3))
    x0 = (np.eye(3) + 0.3 * rng.normal(size=(3, 3))).ravel()
    err = check_grad(lambda x: problem.loss_grad(x)[0], lambda x: problem.loss_grad(x)[1],
                     x0, epsilon=1e-7)
    assert err < 1e-5 * max(1.0, np.linalg.norm(problem.loss_grad(x0)[1]))


def test_solver_value_is_the_public_objective(quadruplets, rng):
    X, q = quadruplets
    w = rng.uniform(0.5, 1.5, q.shape[0])
    L = np.eye(3) + 0.2 * rng.normal(size=(3, 3))
    M = L.T @ L
    value = _problem(X, q, w).value_grad_L(L)[0]
    assert value == pytest.approx(lsml_objective(M, X[q], w), rel=1e-12)
    assert lsml_objective(-M, X[q], w) == np.inf


def test_fit_lowers_the_objective_to_a_small_gradient(quadruplets):
    X, q = quadruplets
    lsml = LSML(tol=1e-6).fit(X[q])
    assert lsml.converged_ and lsml.gradient_norm_ <= 1e-6
    h = lsml.objective_history_
    assert h.shape == (lsml.n_iter_ + 1,) and h[-1] < h[0]
    assert lsml_objective(lsml.get_mahalanobis_matrix(), X[q]) == pytest.approx(h[-1],
                                                                               rel=1e-9)
    assert_allclose(lsml.prior_, np.eye(3))
    assert_allclose(lsml.w_, np.full(q.shape[0], 1.0 / q.shape[0]))


def test_max_iter_warns(quadruplets):
    X, q = quadruplets
    with pytest.warns(ConvergenceWarning, match=r"LSML did not converge in max_iter=1 "):
        lsml = LSML(tol=1e-12, max_iter=1).fit(X[q])
    assert not lsml.converged_ and lsml.n_iter_ == 1


def test_weights_are_scaled_and_never_modified(quadruplets):
    X, q = quadruplets
    weights = np.arange(1.0, q.shape[0] + 1.0)
    given = weights.copy()
    lsml = LSML(preprocessor=X).fit(q, weights)
    assert_array_equal(weights, given)
    assert_allclose(lsml.w_, given / given.sum())
    # scaling the weights changes nothing
    assert_allclose(LSML(preprocessor=X).fit(q, 3.0 * weights).components_,
                    lsml.components_, rtol=1e-12)


@pytest.mark.parametrize(("weights", "message"), [
    (np.ones(3), "weights must have shape (50,), one weight per quadruplet; got shape (3,)"),
    (-np.ones(50), "weights must be finite and non-negative; got values [-1.0, -1.0"),
    (np.zeros(50), "weights must not all be zero"),
    ("heavy", "weights must be an array of 50 non-negative numbers, one per quadruplet; "
              "got 'heavy'"),
])
def test_bad_weights(quadruplets, weights, message):
    X, q = quadruplets
    assert_fails_cleanly(LSML(), ValueError, re.escape(message), X[q], weights)


def test_supervised_weights_must_match_the_quadruplets(toy):
    X, y = toy
    est = LSML_Supervised(n_constraints=30, weights=np.ones(7), random_state=0)
    assert_fails_cleanly(est, ValueError, re.escape("weights must have shape (30,)"), X, y)


def test_prior_must_be_positive_definite(quadruplets):
    X, q = quadruplets
    singular = np.diag([1.0, 1.0, 0.0])
    with pytest.raises(NonPSDError, match="LSML needs a positive definite prior"):
        LSML(prior=singular).fit(X[q])
    flat = np.c_[X[:, :2], np.full(X.shape[0], 2.0)]
    with pytest.raises(NonPSDError, match="prior='covariance'.*singular"):
        LSML(prior="covariance").fit(flat[q])


def test_prior_is_the_starting_point_and_the_regulariser(quadruplets):
    X, q = quadruplets
    P = np.diag([2.0, 0.5, 1.0])
    lsml = LSML(prior=P, tol=1e-8).fit(X[q])
    assert_allclose(lsml.prior_, P)
    M = lsml.get_mahalanobis_matrix()
    assert lsml_objective(M, X[q], prior=P) <= lsml_objective(P, X[q], prior=P)


def test_quadruplets_classifier(quadruplets):
    X, q = quadruplets
    lsml = LSML(preprocessor=X).fit(q)
    d_ab = lsml.pair_distance(q[:, :2])
    d_cd = lsml.pair_distance(q[:, 2:])
    assert_allclose(lsml.decision_function(q), d_cd - d_ab)
    assert_array_equal(lsml.predict(q), np.where(d_cd > d_ab, 1, -1))
    assert lsml.score(q) == np.mean(d_cd > d_ab)
    assert_array_equal(lsml.classes_, [-1, 1])
    # a tie is predicted -1; swapping the pairs flips the prediction
    tie = np.array([[0, 1, 0, 1]])
    assert lsml.predict(tie).tolist() == [-1]
    assert_array_equal(lsml.predict(q[:, [2, 3, 0, 1]]), -lsml.predict(q))


def test_constraints_quadruplets_pair_a_similar_and_a_dissimilar_pair(toy):
    _, y = toy
    q = Constraints(y).quadruplets(60, random_state=0)
    assert q.shape == (60, 4) and q.dtype == np.intp
    assert np.all(y[q[:, 0]] == y[q[:, 1]]) and np.all(q[:, 0] != q[:, 1])
    assert np.all(y[q[:, 2]] != y[q[:, 3]])
    a, b, c, d = Constraints(y).positive_negative_pairs(60, same_length=True,
                                                        random_state=0)
    assert_array_equal(q, np.stack([a, b, c, d], 1))


def test_supervised_draws_twenty_times_the_classes_squared(toy):
    X, y = toy
    lsml = LSML_Supervised(random_state=0).fit(X, y)
    assert lsml.w_.shape == (20 * 3**2,)


def test_num_constraints_is_the_old_name(toy):
    X, y = toy
    with pytest.warns(FutureWarning, match="num_constraints was renamed n_constraints"):
        old = LSML_Supervised(num_constraints=30, random_state=0).fit(X, y)
    new = LSML_Supervised(n_constraints=30, random_state=0).fit(X, y)
    assert_array_equal(old.components_, new.components_)


def test_a_pairs_input_names_the_supervised_twin(toy):
    X, y = toy
    with pytest.raises(ValueError, match="to learn from points X and class labels y use "
                                         "LSML_Supervised"):
        LSML().fit(X)


# 3-NN test accuracy on standardised data, 70/30 stratified splits of seeds
# 0-4, mean; metric-learn 0.7.0's LSML_Supervised at its defaults
# (random_state=0) measured by `python -m benchmarks parity`
METRIC_LEARN_KNN3 = {"iris": 0.9511, "wine": 0.9667, "breast_cancer": 0.9649,
                     "digits": 0.9767}


def _mean_knn3(make, name, splits=5):
    """Mean 3-NN test accuracy over 70/30 stratified splits of seeds 0, 1, ...
    of standardised data, after ``make().fit`` (``None``: Euclidean)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    accs = []
    for seed in range(splits):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=seed)
        scaler = StandardScaler().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        if make is None:  # the Euclidean metric
            accs.append(KNeighborsClassifier(3).fit(Xtr, ytr).score(Xte, yte))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            est = make().fit(Xtr, ytr)
        knn = KNeighborsClassifier(3).fit(est.transform(Xtr), ytr)
        accs.append(knn.score(est.transform(Xte), yte))
    return float(np.mean(accs))


@pytest.mark.parametrize("name", sorted(METRIC_LEARN_KNN3))
def test_knn_accuracy_at_least_metric_learns(name):
    acc = _mean_knn3(lambda: LSML_Supervised(random_state=0), name)
    assert acc >= METRIC_LEARN_KNN3[name] - 0.01
