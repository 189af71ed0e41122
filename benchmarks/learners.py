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
    """How to run one learner in every library."""

    title: str
    constraints: str
    estimators: Callable[[], dict[str, Callable[[], Any]]]  # {library: factory}, ours first
    objective: Callable[[Any, Any], float]
    higher_is_better: bool
    params: dict


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
    """SGD and SCML minimise different losses: no shared objective."""
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
}
