"""Shared test helpers: the learners of the package, discovered, and data.

Learners are discovered from ``metriclearn.__all__`` (never a hand-kept list):
every public :class:`~sklearn.base.BaseEstimator` subclass, classified by the
signature of its ``fit``: ``fit(X, y)`` with class labels ("supervised"),
``fit(pairs, y)`` with pair labels ("pairs") or ``fit(triplets)``
("triplets"). A new learner exported from the
package is picked up by every test parametrised over these lists.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import metriclearn
from metriclearn import Constraints
from metriclearn.datasets import make_xing_toy

# parameters given to every learner that has them: small problems, few
# iterations, deterministic
_SMALL = {"max_iter": 30, "random_state": 0}


def fit_kind(cls):
    """``'supervised'`` for ``fit(X, y)``, ``'pairs'`` for ``fit(pairs, y)``,
    ``'triplets'`` for ``fit(triplets, ...)``, None for anything else."""
    names = [
        name
        for name, p in inspect.signature(cls.fit).parameters.items()
        if name != "self" and p.kind is not p.VAR_KEYWORD
    ]
    if names[:2] == ["X", "y"]:
        return "supervised"
    if names[:2] == ["pairs", "y"]:
        return "pairs"
    if names[:1] == ["triplets"]:
        return "triplets"
    return None


def discover_estimators():
    """Every public estimator class exported by ``metriclearn``."""
    classes = []
    for name in metriclearn.__all__:
        obj = getattr(metriclearn, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, BaseEstimator)
            and not inspect.isabstract(obj)
        ):
            classes.append(obj)
    return classes


@dataclass(frozen=True, eq=False)
class LearnerSpec:
    """A discovered learner class and the parameters of one variant of it."""

    cls: type
    kind: str
    params: dict = field(default_factory=dict)

    @property
    def id(self):
        extra = ",".join(f"{k}={v}" for k, v in self.params.items() if k not in _SMALL)
        return f"{self.cls.__name__}({extra})" if extra else self.cls.__name__

    def make(self, **overrides):
        return self.cls(**{**self.params, **overrides})


def _variants(cls):
    defaults = cls().get_params()
    base = {k: v for k, v in _SMALL.items() if k in defaults}
    if "diagonal" in defaults:  # MMC: the full and the diagonal solver
        return [{**base, "diagonal": False}, {**base, "diagonal": True}]
    return [base]


def discover_specs(kind=None):
    specs = []
    for cls in discover_estimators():
        k = fit_kind(cls)
        if k is None or (kind is not None and k != kind):
            continue
        specs.extend(LearnerSpec(cls, k, params) for params in _variants(cls))
    return specs


# the learners of the common tests, which take (X, y) or (pairs, y); a
# triplets learner gets the metric contract in its own module (its (n, 3)
# toy points would read as index triplets in tests written for points)
ALL_SPECS = [spec for spec in discover_specs() if spec.kind != "triplets"]
PAIRS_SPECS = discover_specs("pairs")
SUPERVISED_SPECS = discover_specs("supervised")
TRIPLETS_SPECS = discover_specs("triplets")


def spec_id(spec):
    return spec.id


# parametrize markers over the discovered learners, shared by the test modules
all_specs = pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_id)
pairs_specs = pytest.mark.parametrize("spec", PAIRS_SPECS, ids=spec_id)
supervised_specs = pytest.mark.parametrize("spec", SUPERVISED_SPECS, ids=spec_id)


def toy_pairs(X, y, n_constraints=40, random_state=0):
    """Index pairs (similar first) and their +1/-1 labels drawn from labels."""
    return Constraints(y).pairs(n_constraints, random_state=random_state)


def training_input(spec, X, y, *, n_constraints=40, random_state=0):
    """What ``spec``'s learner is fitted on: ``(X, y)`` for a supervised one,
    ``(X[pairs], y_pairs)`` (3-D pairs) for a pairs learner, ``(X[triplets],)``
    (each point's 2 nearest same-class and 2 nearest other-class neighbours)
    for a triplets learner."""
    if spec.kind == "supervised":
        return X, y
    if spec.kind == "triplets":
        return (X[Constraints(y).generate_knntriplets(X, 2, 2)],)
    pairs, y_pairs = toy_pairs(X, y, n_constraints, random_state)
    return X[pairs], y_pairs


def fit_spec(spec, X, y, **params):
    """A learner of ``spec`` fitted on data with class labels ``y``."""
    return spec.make(**params).fit(*training_input(spec, X, y))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def toy():
    """Xing's 3D toy data: 3 classes apart along y, wide spread along x, z."""
    return make_xing_toy(n_samples=60, n_classes=3, random_state=0)
