"""scikit-learn's common estimator checks over every discovered estimator that
takes points (``fit(X, y)``, ``fit(X, y=None)``, ``fit(X, chunks)``: the
supervised and unsupervised learners, the learners from chunklets, the
clusterers), the discovery itself, and what the package exports."""

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks
from support import (
    ALL_SPECS,
    CHUNKS_SPECS,
    CLUSTERER_SPECS,
    PAIRS_SPECS,
    QUADRUPLETS_SPECS,
    SUPERVISED_SPECS,
    TRIPLETS_SPECS,
    TWOVIEW_SPECS,
    UNSUPERVISED_SPECS,
    discover_estimators,
    fit_kind,
)

import metriclearn
import metriclearn.cluster
import metriclearn.datasets
import metriclearn.metrics
import metriclearn.objectives
import metriclearn.plotting
from metriclearn.base import MahalanobisMixin


def _expected_failed_checks(estimator):
    # No check is expected to fail but these, which do not apply: a check
    # that genuinely does not apply is listed here with its reason.
    if type(estimator).__name__ == "LMNN":
        return {
            "check_fit2d_1feature": (
                "its labels make classes of 3 points, fewer than n_neighbors + 1 = 4: "
                "LMNN rejects them with a ValueError naming the class"
            )
        }
    if type(estimator).__name__ == "RCA":
        return {
            "check_fit_score_takes_y": (
                "RCA.fit(X, chunks) takes chunklet labels, named chunks as in metric-learn "
                "0.7.0 (the drop-in promise); the checks pass them as y by position"
            )
        }
    return {}


@parametrize_with_checks(
    [spec.make() for spec in
     SUPERVISED_SPECS + UNSUPERVISED_SPECS + CHUNKS_SPECS + TWOVIEW_SPECS
     + CLUSTERER_SPECS],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_discovery_finds_the_learners():
    # the learners of the first release; discovery must not come back empty
    # or lose one silently
    names = {cls.__name__ for cls in discover_estimators()}
    assert {"MMC", "MMC_Supervised", "ITML", "ITML_Supervised", "LMNN", "SGDMetricLearner",
            "SGDMetricLearner_Supervised", "SGDTripletLearner"} <= names
    kinds = {spec.cls.__name__: spec.kind for spec in ALL_SPECS}
    assert kinds["MMC"] == kinds["ITML"] == kinds["SGDMetricLearner"] == "pairs"
    assert kinds["MMC_Supervised"] == kinds["LMNN"] == "supervised"
    assert kinds["SGDTripletLearner"] == kinds["SCML"] == "triplets"
    assert kinds["SDML"] == "pairs" and kinds["LSML"] == "quadruplets"
    assert kinds["LSML_Supervised"] == kinds["SDML_Supervised"] == kinds[
        "SCML_Supervised"] == "supervised"
    assert kinds["RCA"] == "chunks"
    assert kinds["Covariance"] == "unsupervised"
    assert kinds["NCA"] == kinds["LFDA"] == kinds["MLKR"] == kinds["RCA_Supervised"] == (
        "supervised")
    assert sorted(s.id for s in ALL_SPECS) == sorted(
        s.id for s in PAIRS_SPECS + SUPERVISED_SPECS + TRIPLETS_SPECS + QUADRUPLETS_SPECS
        + CHUNKS_SPECS + UNSUPERVISED_SPECS)
    # full and diagonal MMC are both exercised
    for name in ("MMC", "MMC_Supervised"):
        diag = {s.params.get("diagonal") for s in ALL_SPECS if s.cls.__name__ == name}
        assert diag == {False, True}
    assert [s.cls.__name__ for s in CLUSTERER_SPECS] == ["ConstrainedKMeans"]
    # the two-view learner has its own list, apart from the metric learners
    assert [s.cls.__name__ for s in TWOVIEW_SPECS] == ["SGDTwoViewLearner"]
    assert "SGDTwoViewLearner" not in kinds


def test_every_estimator_is_exported_and_classified():
    """Every public metric learner defined in the package is in
    ``metriclearn.__all__`` and takes class labels (or targets), no labels,
    chunklets, pairs or triplets, so the tests parametrised over the
    discovered learners cover it."""
    exported = set(discover_estimators())
    found = set()
    for info in pkgutil.walk_packages(metriclearn.__path__, "metriclearn."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # a module that needs an optional extra
            continue
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and issubclass(obj, MahalanobisMixin)  # learners, not clusterers
                and obj.__module__.startswith("metriclearn")
                and not name.startswith(("_", "Base"))  # bases, as scikit-learn names them
                and not inspect.isabstract(obj)
            ):
                found.add(obj)
    missing = {cls.__name__ for cls in found - exported}
    assert not missing, f"estimators not exported in metriclearn.__all__: {missing}"
    unclassified = {cls.__name__ for cls in exported if fit_kind(cls) is None}
    assert not unclassified, (
        f"fit of {unclassified} is none of fit(X, y), fit(X, y=None), fit(X, chunks), "
        "fit(pairs, y), fit(triplets), fit(quadruplets), fit(X, Y)"
    )


@pytest.mark.parametrize("cls", discover_estimators() + discover_estimators(metriclearn.cluster),
                         ids=lambda c: c.__name__)
def test_constructor_only_assigns(cls):
    """Keyword-only parameters (the clusterer's ``n_clusters`` may be
    positional, as in scikit-learn), stored unchanged under their own names."""
    sig = inspect.signature(cls.__init__)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert all(p.kind is p.KEYWORD_ONLY for p in params if p.name != "n_clusters")
    est = cls()
    assert est.get_params(deep=False) == {p.name: p.default for p in params}


@pytest.mark.parametrize("cls", discover_estimators(), ids=lambda c: c.__name__)
def test_parameter_names_read_once_are_scikit_learns(cls):
    """The names kept per class (``_compat.ParamNamesOnce``) are those
    scikit-learn reads from the signature, for each class apart."""
    want = BaseEstimator._get_param_names.__func__(cls)
    assert cls._get_param_names() == want
    assert cls._get_param_names() == want  # from the class's own cache
    assert sorted(cls().get_params()) == want


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (metriclearn, {"MMC", "MMC_Supervised", "ITML", "ITML_Supervised", "LMNN",
                       "NCA", "LFDA", "MLKR", "RCA", "RCA_Supervised", "Covariance",
                       "SGDMetricLearner", "SGDMetricLearner_Supervised", "SGDTripletLearner",
                       "SGDTwoViewLearner", "LSML", "LSML_Supervised", "SDML",
                       "SDML_Supervised", "SCML", "SCML_Supervised", "Constraints",
                       "config_context", "get_config", "set_config", "__version__"}),
        # a clusterer, not a learner: the common tests discover learners from
        # metriclearn.__all__
        (metriclearn.cluster, {"ConstrainedKMeans"}),
        (metriclearn.metrics, {"pair_constraint_satisfaction", "pairwise_clustering_accuracy",
                               "alignment", "uniformity", "recall_at_k",
                               "mean_average_precision_at_r", "make_retrieval_scorer"}),
        (metriclearn.datasets, {"make_xing_toy"}),
        (metriclearn.plotting, {"plot_3d", "plot_matrix", "plot_pair_distances",
                                "plot_objective"}),
        (metriclearn.objectives, {"mmc_objective", "mmc_diagonal_objective", "itml_objective",
                                  "itml_pairs_objective", "itml_default_bounds",
                                  "lmnn_objective", "nca_objective", "mlkr_objective",
                                  "sgd_objective", "triplet_objective"}),
    ],
    ids=lambda v: v.__name__ if hasattr(v, "__name__") else "",
)
def test_public_names(module, names):
    """The names each public module exports: these exactly (new objectives
    may join the comparison functions), each defined."""
    exported = set(module.__all__)
    assert exported == names if module is not metriclearn.objectives else names <= exported
    for name in exported:
        obj = getattr(module, name)
        assert callable(obj) or name == "__version__"


def test_version_comes_from_the_installed_metadata():
    from importlib.metadata import version

    assert metriclearn.__version__ == version("metriclearn")
