"""scikit-learn's common estimator checks over every discovered learner that
takes ``fit(X, y)`` with class labels, and the discovery itself."""

import importlib
import inspect
import pkgutil

import pytest
from conftest import ALL_SPECS, SUPERVISED_SPECS, discover_estimators, fit_kind
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import metriclearn
from metriclearn.base import MahalanobisMixin


def _expected_failed_checks(estimator):
    # No check is expected to fail: every learner passes scikit-learn's
    # common checks as it is. A check that genuinely does not apply would be
    # listed here with its reason.
    if type(estimator).__name__ == "LMNN":
        return {
            "check_fit2d_1feature": (
                "its labels make classes of 3 points, fewer than n_neighbors + 1 = 4: "
                "LMNN rejects them with a ValueError naming the class"
            )
        }
    return {}


@parametrize_with_checks(
    [spec.make() for spec in SUPERVISED_SPECS],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_discovery_finds_the_learners():
    names = {cls.__name__ for cls in discover_estimators()}
    # the learners of the first release that exist today; discovery must not
    # come back empty or lose one silently
    assert {"MMC", "MMC_Supervised"} <= names
    assert {"MMC_Supervised"} <= {s.cls.__name__ for s in SUPERVISED_SPECS}
    # full and diagonal MMC are both exercised
    diag = {s.params.get("diagonal") for s in ALL_SPECS if s.cls.__name__ == "MMC"}
    assert diag == {False, True}


def test_every_estimator_is_exported_and_classified():
    """Every public metric learner defined in the package is in
    ``metriclearn.__all__`` and takes pairs or class labels, so the tests
    parametrised over the discovered learners cover it."""
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
        f"fit of {unclassified} is neither fit(X, y) nor fit(pairs, y)"
    )


@pytest.mark.parametrize("cls", discover_estimators(), ids=lambda c: c.__name__)
def test_constructor_only_assigns(cls):
    """Keyword-only parameters, stored unchanged under their own names."""
    sig = inspect.signature(cls.__init__)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert all(p.kind is p.KEYWORD_ONLY for p in params)
    est = cls()
    assert est.get_params(deep=False) == {p.name: p.default for p in params}
