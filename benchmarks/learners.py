"""The learners of the comparison: how each library builds them, and the objectives that score them.

One :class:`Learner` entry per learner in :data:`LEARNERS`: which constraints
it fits on (a key of ``problems.CONSTRAINTS``), how to build each library's
unfitted estimator (metriclearn first, then the anchors), and an objective
from :mod:`metriclearn.objectives` that compares the solutions of all
libraries. Imports happen inside the functions, so ``--help`` works before
the benchmark environment exists.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .anchors import METRIC_LEARN, NCA, PYLMNN, SCML

OURS = "metriclearn"


@dataclass(frozen=True)
class Learner:
    """How to run one learner in every library.

    ``dense`` estimates, for an anchor library and a data set, the bytes of
    the ``n x n`` (or per-class ``n_c x n_c``) float64 matrices its fit holds
    at once; an anchor above the memory budget of the comparison is not run
    (it would not finish, or take the machine's memory).
    """

    title: str
    constraints: str
    estimators: Callable[[], dict[str, Callable[[], Any]]]  # {library: factory}, ours first
    objective: Callable[[Any, Any], float]
    higher_is_better: bool
    params: dict
    dense: Callable[[str, Any], float] | None = None


# MMC_Supervised's defaults in both libraries (tol=1e-6, not MMC's 1e-3).
MMC_PARAMS = {"max_iter": 100, "max_proj": 10000, "tol": 1e-6, "init": "identity",
              "diagonal_c": 1.0, "random_state": 0}
# metric-learn's ITML prior and weight in both libraries, each with its own
# solver and stopping rule at their defaults: metric-learn's Bregman sweeps
# (tol=1e-3, at most 1000 sweeps), metriclearn's dual solver (tol=1e-9 on the
# relative duality gap); the objective says which solution is better.
ITML_PARAMS = {"gamma": 1.0, "prior": "identity"}
# metric-learn's LMNN defaults in both; pylmnn and NCA at their own defaults
# with the same number of neighbours.
LMNN_PARAMS = {"n_neighbors": 3, "random_state": 0}
SGD_PARAMS = {"random_state": 0}
# NCA and MLKR: each library's defaults (metric-learn's are metriclearn's)
NCA_PARAMS = {"random_state": 0}
# scikit-learn's NCA stops at tol=1e-5: metriclearn's NCA with the same tol
NCA_SK_PARAMS = {"random_state": 0, "tol": 1e-5}
MLKR_PARAMS = {"random_state": 0}
# RCA: chunklets of 2 points, 50 of them (iris's training part allows 51)
RCA_PARAMS = {"n_chunks": 50, "chunk_size": 2, "random_state": 0}


def mmc(diagonal, **extra):
    """metriclearn's and metric-learn's ``MMC`` with :data:`MMC_PARAMS`."""
    import metriclearn

    from . import anchors

    params = {**MMC_PARAMS, "diagonal": diagonal, **extra}
    return {OURS: lambda: metriclearn.MMC(**params),
            METRIC_LEARN: lambda: anchors.metric_learn("MMC", **params)}


def itml(**params):
    """metriclearn's and metric-learn's ``ITML`` with :data:`ITML_PARAMS`."""
    import metriclearn

    from . import anchors

    params = {**ITML_PARAMS, **params}
    return {OURS: lambda: metriclearn.ITML(**params),
            METRIC_LEARN: lambda: anchors.metric_learn("ITML", **params)}


def itml_sweeps(n_sweeps):
    """Both libraries' ``ITML`` running exactly ``n_sweeps`` sweeps of Bregman
    projections (``tol=0``; metriclearn with ``solver='bregman'``): equal work."""
    import metriclearn

    from . import anchors

    params = {**ITML_PARAMS, "max_iter": n_sweeps, "tol": 0.0}
    return {OURS: lambda: metriclearn.ITML(solver="bregman", **params),
            METRIC_LEARN: lambda: anchors.metric_learn("ITML", **params)}


def lmnn(n_neighbors=3, with_nca=True):
    """metriclearn's, metric-learn's and pylmnn's LMNN (and scikit-learn's NCA)."""
    import metriclearn

    from . import anchors

    params = {**LMNN_PARAMS, "n_neighbors": n_neighbors}
    out = {OURS: lambda: metriclearn.LMNN(**params),
           METRIC_LEARN: lambda: anchors.metric_learn("LMNN", **params),
           PYLMNN: lambda: anchors.pylmnn(**params)}
    if with_nca:
        out[NCA] = lambda: anchors.nca(random_state=0)
    return out


def sgd(**ours_params):
    """``SGDMetricLearner_Supervised`` against metric-learn's ``SCML_Supervised``
    (its only stochastic learner), both at their defaults."""
    import metriclearn

    from . import anchors

    return {OURS: lambda: metriclearn.SGDMetricLearner_Supervised(
                **SGD_PARAMS, **ours_params),
            SCML: lambda: anchors.metric_learn("SCML_Supervised", **SGD_PARAMS)}


def nca(anchor):
    """metriclearn's NCA against metric-learn's (both at metric-learn's
    defaults) or scikit-learn's (both at scikit-learn's tolerance)."""
    import metriclearn

    from . import anchors

    if anchor == METRIC_LEARN:
        return {OURS: lambda: metriclearn.NCA(**NCA_PARAMS),
                METRIC_LEARN: lambda: anchors.metric_learn("NCA", **NCA_PARAMS)}
    return {OURS: lambda: metriclearn.NCA(**NCA_SK_PARAMS),
            NCA: lambda: anchors.nca(random_state=0)}


def metric_learn_twin(name, **params):
    """metriclearn's and metric-learn's ``name`` with the same parameters."""
    import metriclearn

    from . import anchors

    return {OURS: lambda: getattr(metriclearn, name)(**params),
            METRIC_LEARN: lambda: anchors.metric_learn(name, **params)}


def _dense_bytes(per_point_pairs):
    """``dense(lib, ds)``: ``per_point_pairs`` float64 matrices of ``n x n``
    (the training points) for every anchor."""

    def dense(lib, ds):
        return 0.0 if lib == OURS else 8.0 * per_point_pairs * ds.X_train.shape[0] ** 2

    return dense


def _dense_class_bytes(lib, ds):
    """metric-learn's LFDA: dense ``n_c x n_c`` matrices of the largest class
    (distances, their partition, affinities, and temporaries)."""
    import numpy as np

    if lib == OURS:
        return 0.0
    largest = np.unique(ds.y_train, return_counts=True)[1].max()
    return 8.0 * 4 * float(largest) ** 2


def _nca_objective(est, problem):
    """NCA's objective ``sum_i p_i`` at ``L`` (higher is better)."""
    from metriclearn.objectives import nca_objective

    X, y = problem.fit_args
    return float(nca_objective(est.components_, X, y))


def _mlkr_objective(est, problem):
    """MLKR's leave-one-out kernel regression error at ``L`` (lower is better)."""
    from metriclearn.objectives import mlkr_objective

    X, y = problem.fit_args
    return float(mlkr_objective(est.components_, X, y))


def _mmc_objective(est, problem):
    """Scale-free ``sum_D ||d||_M / sqrt(sum_S ||d||_M^2)`` (higher is better)."""
    from metriclearn.objectives import mmc_objective

    from .anchors import mahalanobis

    return float(mmc_objective(mahalanobis(est), problem.pairs, problem.y))


def _mmc_diagonal_objective(est, problem):
    """Xing's ``h(a)`` at the diagonal of ``M`` (lower is better)."""
    import numpy as np

    from metriclearn.objectives import mmc_diagonal_objective

    from .anchors import mahalanobis

    return float(mmc_diagonal_objective(np.diag(mahalanobis(est)), problem.pairs,
                                        problem.y, MMC_PARAMS["diagonal_c"]))


def _itml_objective(est, problem):
    """ITML's objective at the learned ``M`` with its best slacks (lower is better)."""
    import numpy as np

    from metriclearn.objectives import itml_pairs_objective

    from .anchors import mahalanobis

    M = mahalanobis(est)
    return float(itml_pairs_objective(M, problem.pairs, problem.y, problem.bounds,
                                      np.eye(M.shape[0]), ITML_PARAMS["gamma"]))


def _lmnn_objective(est, problem):
    """LMNN's plain-hinge objective (metriclearn's default, metric-learn's
    loss; target neighbours in the input space) at ``L`` (lower is better)."""
    from metriclearn.objectives import lmnn_objective

    X, y = problem.fit_args
    return float(lmnn_objective(est.components_, X, y, LMNN_PARAMS["n_neighbors"],
                                loss="hinge"))


def _no_objective(est, problem):
    """No shared objective: SGD and SCML minimise different losses; LFDA,
    RCA and Covariance are closed forms."""
    return float("nan")


LEARNERS = {
    "mmc": Learner("MMC, full matrix (pairs learner on MMC_Supervised's constraints)",
                   "supervised_pairs", lambda: mmc(False), _mmc_objective, True,
                   {**MMC_PARAMS, "diagonal": False}),
    "mmc_diag": Learner("MMC, diagonal matrix (pairs learner on MMC_Supervised's "
                        "constraints)", "supervised_pairs", lambda: mmc(True),
                        _mmc_diagonal_objective, False, {**MMC_PARAMS, "diagonal": True}),
    "itml": Learner("ITML (pairs learner on ITML_Supervised's constraints, same bounds, "
                    "prior and gamma; each library's solver at its defaults)",
                    "supervised_pairs_bounds", itml, _itml_objective, False, ITML_PARAMS),
    "lmnn": Learner("LMNN (class labels; NCA for reference)", "labels", lmnn,
                    _lmnn_objective, False, LMNN_PARAMS),
    "sgd": Learner("SGDMetricLearner_Supervised against SCML_Supervised (class labels)",
                   "labels", sgd, _no_objective, False, SGD_PARAMS),
    "nca": Learner("NCA (class labels; metric-learn's defaults)", "labels",
                   lambda: nca(METRIC_LEARN), _nca_objective, True, NCA_PARAMS,
                   _dense_bytes(4)),
    "nca_sk": Learner("NCA against scikit-learn's (class labels; tol=1e-5 in both)",
                      "labels", lambda: nca(NCA), _nca_objective, True, NCA_SK_PARAMS,
                      _dense_bytes(4)),
    "mlkr": Learner("MLKR (class labels as real targets)", "labels",
                    lambda: metric_learn_twin("MLKR", **MLKR_PARAMS), _mlkr_objective, False,
                    MLKR_PARAMS, _dense_bytes(8)),
    "lfda": Learner("LFDA (class labels; metric-learn's LFDA is not LFDA as published: "
                    "different maps)", "labels", lambda: metric_learn_twin("LFDA"),
                    _no_objective, False, {}, _dense_class_bytes),
    "rca": Learner("RCA (the same chunklets: 50 of 2 points)", "chunks",
                   lambda: metric_learn_twin("RCA"), _no_objective, False,
                   {"n_chunks": RCA_PARAMS["n_chunks"], "chunk_size": 2}),
    "rca_supervised": Learner("RCA_Supervised (chunklets drawn from the labels)", "labels",
                              lambda: metric_learn_twin("RCA_Supervised", **RCA_PARAMS),
                              _no_objective, False, RCA_PARAMS),
    "covariance": Learner("Covariance (no labels)", "points",
                          lambda: metric_learn_twin("Covariance"), _no_objective, False, {}),
}
# the learners of the default comparison (the others on request, --learners)
DEFAULT_LEARNERS = ("mmc", "mmc_diag", "itml", "lmnn", "sgd", "nca", "mlkr", "lfda", "rca",
                    "rca_supervised", "covariance")
