"""The learners the benchmark knows: one ``Learner`` entry per learner.

To add a learner, add one entry to ``LEARNERS``: how to build each
library's unfitted estimator, which constraints it fits on (a key of
``data.CONSTRAINTS``), and how to score a fitted estimator with an objective
that compares solutions of both libraries. The first library of
``estimators`` is ours; the others are anchors. Every import beyond the
standard library happens inside the functions, so ``run.py --help`` can list
the learners before the benchmark environment exists.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OURS = "metriclearn"
ANCHOR = "metric-learn"


@dataclass(frozen=True)
class Learner:
    """How to run one learner in every library.

    Attributes
    ----------
    title : str
        One line for the report.
    constraints : str
        Key of ``data.CONSTRAINTS``: what ``fit`` receives (its ``fit_args``).
    estimators : dict of str to callable
        Library name -> function returning an unfitted estimator; ours first.
    objective : callable
        ``objective(estimator, constraints) -> float`` for a fitted estimator.
    higher_is_better : bool
        Direction of ``objective``.
    params : dict
        The hyperparameters given to every library (for the report).
    """

    title: str
    constraints: str
    estimators: dict[str, Callable[[], Any]]
    objective: Callable[[Any, Any], float]
    higher_is_better: bool
    params: dict


# MMC_Supervised's defaults in both libraries (note tol=1e-6, not MMC's 1e-3).
MMC_PARAMS = {
    "max_iter": 100,
    "max_proj": 10000,
    "tol": 1e-6,
    "init": "identity",
    "diagonal_c": 1.0,
    "random_state": 0,
}


def _ours_mmc(diagonal):
    from metriclearn import MMC

    return MMC(diagonal=diagonal, **MMC_PARAMS)


def _anchor_mmc(diagonal):
    from metric_learn import MMC

    return MMC(diagonal=diagonal, **MMC_PARAMS)


def _mmc_full_objective(estimator, constraints):
    """Scale-free ``sum_D ||d||_M / sqrt(sum_S ||d||_M^2)`` (higher is better)."""
    from metriclearn._mmc import mmc_objective

    M = estimator.get_mahalanobis_matrix()
    return float(mmc_objective(M, constraints.pairs, constraints.y))


def _mmc_diagonal_objective(estimator, constraints):
    """Xing's ``h(a)`` at the diagonal of ``M`` (lower is better)."""
    import numpy as np

    from metriclearn._mmc import mmc_diagonal_objective

    a = np.diag(estimator.get_mahalanobis_matrix())
    return float(
        mmc_diagonal_objective(a, constraints.pairs, constraints.y,
                               MMC_PARAMS["diagonal_c"])
    )


# ITML's defaults in both libraries, except tol=0: both then run exactly
# max_iter sweeps (neither converges within 1000 sweeps on these sets at
# tol=1e-3 anyway), so the timing compares equal work.
ITML_PARAMS = {"gamma": 1.0, "max_iter": 1000, "tol": 0.0, "prior": "identity"}


def _ours_itml():
    from metriclearn import ITML

    return ITML(**ITML_PARAMS)


def _anchor_itml():
    from metric_learn import ITML

    return ITML(**ITML_PARAMS)


def _itml_objective(estimator, constraints):
    """ITML's objective at the learned M with its best slacks (lower is better)."""
    import numpy as np

    from metriclearn._itml import itml_pairs_objective

    M = estimator.get_mahalanobis_matrix()
    return float(itml_pairs_objective(M, constraints.pairs, constraints.y,
                                      constraints.bounds, np.eye(M.shape[0]),
                                      ITML_PARAMS["gamma"]))


LEARNERS = {
    "mmc": Learner(
        title="MMC, full matrix (pairs learner on MMC_Supervised's constraints)",
        constraints="supervised_pairs",
        estimators={
            OURS: lambda: _ours_mmc(diagonal=False),
            ANCHOR: lambda: _anchor_mmc(diagonal=False),
        },
        objective=_mmc_full_objective,
        higher_is_better=True,
        params={**MMC_PARAMS, "diagonal": False},
    ),
    "mmc_diag": Learner(
        title="MMC, diagonal matrix (pairs learner on MMC_Supervised's constraints)",
        constraints="supervised_pairs",
        estimators={
            OURS: lambda: _ours_mmc(diagonal=True),
            ANCHOR: lambda: _anchor_mmc(diagonal=True),
        },
        objective=_mmc_diagonal_objective,
        higher_is_better=False,
        params={**MMC_PARAMS, "diagonal": True},
    ),
    "itml": Learner(
        title="ITML (pairs learner on ITML_Supervised's constraints, same bounds and sweeps)",
        constraints="supervised_pairs_bounds",
        estimators={OURS: _ours_itml, ANCHOR: _anchor_itml},
        objective=_itml_objective,
        higher_is_better=False,
        params=ITML_PARAMS,
    ),
}


# metric-learn's LMNN defaults (n_neighbors=3, regularization=0.5, max_iter=1000,
# ...) in both metric-learn and metriclearn; the other libraries at their own
# defaults with the same number of neighbours.
LMNN_PARAMS = {"n_neighbors": 3, "random_state": 0}
PYLMNN = "pylmnn"
NCA = "scikit-learn NCA"


def _ours_lmnn():
    from metriclearn import LMNN

    return LMNN(**LMNN_PARAMS)


def _anchor_lmnn():
    from metric_learn import LMNN

    return LMNN(**LMNN_PARAMS)


def _pylmnn_lmnn():
    from anchors import pylmnn_estimator_class

    return pylmnn_estimator_class()(**LMNN_PARAMS)


def _sklearn_nca():
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    return NeighborhoodComponentsAnalysis(random_state=0)


def _lmnn_objective(estimator, constraints):
    """LMNN's objective (the plain hinge, metriclearn's default and
    metric-learn's loss; target neighbours in the input space) at the
    estimator's ``L`` on the training data (lower is better)."""
    from metriclearn._lmnn import lmnn_objective

    return float(lmnn_objective(estimator.components_, constraints.X, constraints.y,
                                LMNN_PARAMS["n_neighbors"], loss="hinge"))


LEARNERS["lmnn"] = Learner(
    title="LMNN (class labels; NCA for reference)",
    constraints="labels",
    estimators={
        OURS: _ours_lmnn,
        ANCHOR: _anchor_lmnn,
        PYLMNN: _pylmnn_lmnn,
        NCA: _sklearn_nca,
    },
    objective=_lmnn_objective,
    higher_is_better=False,
    params=LMNN_PARAMS,
)


# Both libraries' stochastic learners from class labels, at their defaults
# (metric-learn's only stochastic learner is SCML). They minimise different
# losses, so there is no objective to compare: the accuracies are.
SGD_PARAMS = {"random_state": 0}


def _ours_sgd():
    from metriclearn import SGDMetricLearner_Supervised

    return SGDMetricLearner_Supervised(**SGD_PARAMS)


def _anchor_scml():
    from metric_learn import SCML_Supervised

    return SCML_Supervised(**SGD_PARAMS)


def _no_objective(estimator, constraints):
    """No objective that both libraries' solutions share (``nan``)."""
    return float("nan")


LEARNERS["sgd"] = Learner(
    title="SGDMetricLearner_Supervised against SCML_Supervised (class labels)",
    constraints="labels",
    estimators={OURS: _ours_sgd, ANCHOR: _anchor_scml},
    objective=_no_objective,
    higher_is_better=False,
    params=SGD_PARAMS,
)
