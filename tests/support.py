"""What the test modules share besides fixtures: the learners of the package,
discovered, how each is fitted, and the state snapshot of every "a failed call
leaves the estimator as it was" check.

Learners are discovered from ``metriclearn.__all__`` (never a hand-kept list):
every public :class:`~sklearn.base.BaseEstimator` subclass, classified by the
signature of its ``fit``: ``fit(X, y)`` with class labels or targets
("supervised"), ``fit(X, y=None)`` that ignores ``y`` ("unsupervised", as
scikit-learn's unsupervised transformers), ``fit(pairs, y)`` with pair labels
("pairs"), ``fit(triplets)`` ("triplets"), ``fit(quadruplets)``
("quadruplets"), ``fit(X, chunks)`` with chunklet labels ("chunks") or
``fit(X, Y)`` with a second view of the points ("twoview": two maps, not one
Mahalanobis metric, so outside the metric learners' lists).
Clusterers are discovered likewise from
``metriclearn.cluster.__all__``. A new learner exported from the package is
picked up by every test parametrised over these lists.
"""

import copy
import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClusterMixin

import metriclearn
import metriclearn.cluster
from metriclearn import Constraints

# parameters given to every estimator that has them: small problems, few
# iterations, deterministic
_SMALL = {"max_iter": 30, "random_state": 0, "n_clusters": 3, "n_init": 2}

# the Dask cluster of the tests (DESIGN.md, section 4.5)
LOCAL_CLUSTER = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0")


def fit_kind(cls):
    """``'supervised'`` for ``fit(X, y)``, ``'unsupervised'`` for
    ``fit(X, y=None)``, ``'pairs'`` for ``fit(pairs, y)``, ``'triplets'``
    for ``fit(triplets, ...)``, ``'quadruplets'`` for ``fit(quadruplets,
    ...)``, ``'chunks'`` for ``fit(X, chunks)``, ``'twoview'`` for
    ``fit(X, Y)``, ``'clusterer'`` for a scikit-learn clusterer, None for
    anything else."""
    params = {
        name: p
        for name, p in inspect.signature(cls.fit).parameters.items()
        if name != "self" and p.kind is not p.VAR_KEYWORD
    }
    names = list(params)
    if issubclass(cls, ClusterMixin):
        return "clusterer"
    if names[:2] == ["X", "Y"]:
        return "twoview"
    if names[:2] == ["X", "y"]:
        return "unsupervised" if params["y"].default is None else "supervised"
    if names[:2] == ["pairs", "y"]:
        return "pairs"
    if names[:1] == ["triplets"]:
        return "triplets"
    if names[:2] == ["X", "chunks"]:
        return "chunks"
    if names[:1] == ["quadruplets"]:
        return "quadruplets"
    return None


def discover_estimators(module=metriclearn):
    """Every public estimator class exported by ``module``."""
    classes = []
    for name in module.__all__:
        obj = getattr(module, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, BaseEstimator)
            and not inspect.isabstract(obj)
        ):
            classes.append(obj)
    return classes


@dataclass(frozen=True, eq=False)
class LearnerSpec:
    """A discovered estimator class and the parameters of one variant of it."""

    cls: type
    kind: str
    params: dict = field(default_factory=dict)

    @property
    def id(self):
        extra = ",".join(f"{k}={v}" for k, v in self.params.items() if k not in _SMALL)
        return f"{self.cls.__name__}({extra})" if extra else self.cls.__name__

    @property
    def name(self):
        return self.cls.__name__

    def make(self, **overrides):
        return self.cls(**{**self.params, **overrides})

    @property
    def seeded(self):
        """Whether the learner takes a ``random_state`` (learners that draw
        nothing have none, as in metric-learn: LFDA, RCA, Covariance)."""
        return "random_state" in self.cls().get_params()

    def make_seeded(self, random_state, **overrides):
        """:meth:`make`, with ``random_state`` when the learner takes one."""
        if self.seeded:
            overrides["random_state"] = random_state
        return self.make(**overrides)


def _variants(cls):
    defaults = cls().get_params()
    base = {k: v for k, v in _SMALL.items() if k in defaults}
    if "diagonal" in defaults:  # MMC: the full and the diagonal solver
        return [{**base, "diagonal": False}, {**base, "diagonal": True}]
    return [base]


def discover_specs(kind=None, module=metriclearn):
    specs = []
    for cls in discover_estimators(module):
        k = fit_kind(cls)
        if k is None or (kind is not None and k != kind):
            continue
        specs.extend(LearnerSpec(cls, k, params) for params in _variants(cls))
    return specs


# every metric learner (each variant), and the learners by the input they take
ALL_SPECS = [spec for spec in discover_specs() if spec.kind != "twoview"]
# the learners of two views (fit(X, Y)): a map per view
TWOVIEW_SPECS = discover_specs("twoview")
PAIRS_SPECS = discover_specs("pairs")
SUPERVISED_SPECS = discover_specs("supervised")
UNSUPERVISED_SPECS = discover_specs("unsupervised")
TRIPLETS_SPECS = discover_specs("triplets")
CHUNKS_SPECS = discover_specs("chunks")
QUADRUPLETS_SPECS = discover_specs("quadruplets")
TUPLE_SPECS = PAIRS_SPECS + TRIPLETS_SPECS + QUADRUPLETS_SPECS
CLUSTERER_SPECS = discover_specs("clusterer", metriclearn.cluster)


# learners whose LogDet term keeps the metric near its prior (LSML, SDML):
# on Xing's toy data (classes apart along one axis, more spread along the
# others) they improve on the Euclidean metric without separating the
# classes fully, so the quality checks on that data ask them to improve on
# the Euclidean metric only
NEAR_PRIOR = frozenset({"LSML", "LSML_Supervised", "SDML", "SDML_Supervised"})


def spec_id(spec):
    return spec.id


def over(specs):
    """A parametrize marker over ``specs`` (argument ``spec``)."""
    return pytest.mark.parametrize("spec", specs, ids=spec_id)


all_specs = over(ALL_SPECS)
pairs_specs = over(PAIRS_SPECS)
supervised_specs = over(SUPERVISED_SPECS)
# the learners of points: fit(X, y), fit(X) and fit(X, chunks)
POINT_SPECS = SUPERVISED_SPECS + UNSUPERVISED_SPECS + CHUNKS_SPECS
point_specs = over(POINT_SPECS)
triplets_specs = over(TRIPLETS_SPECS)
quadruplets_specs = over(QUADRUPLETS_SPECS)
tuple_specs = over(TUPLE_SPECS)


# --------------------------------------------------------------------------
# fitting a learner of a spec on labelled points
# --------------------------------------------------------------------------


def second_view(X, y):
    """A second view of the points ``X`` for a two-view learner: a fixed
    mixing of their features plus a feature for the class."""
    mix = np.random.RandomState(1).standard_normal((X.shape[1], X.shape[1]))
    return np.column_stack([X @ mix, np.unique(y, return_inverse=True)[1]])


def toy_pairs(y, n_constraints=40, random_state=0):
    """Index pairs (similar first) and their +1/-1 labels drawn from labels."""
    return Constraints(y).pairs(n_constraints, random_state=random_state)


def toy_triplets(X, y):
    """Each point's 2 nearest same-class and 2 nearest other-class neighbours."""
    return Constraints(y).generate_knntriplets(X, 2, 2)


def toy_chunks(y):
    """Chunklets of 2 same-class points, as many as the classes allow (at
    most 20): each point's chunk, or -1."""
    n_chunks = min(20, int(sum(np.unique(y, return_counts=True)[1] // 2)))
    return Constraints(y).chunks(n_chunks=n_chunks, chunk_size=2, random_state=0)


def toy_quadruplets(y, n_constraints=40, random_state=0):
    """Index quadruplets (a similar pair, then a dissimilar one) drawn from
    labels."""
    return Constraints(y).quadruplets(n_constraints, random_state=random_state)


def training_input(spec, X, y, *, indices=False, n_constraints=40, random_state=0):
    """The arguments of ``fit`` for ``spec``'s learner on points ``X`` with
    class labels ``y``: ``(X, y)`` for a supervised one, ``(X[pairs],
    y_pairs)`` for a pairs learner, ``(X[triplets],)`` for a triplets learner,
    ``(X[quadruplets],)`` for a quadruplets learner, ``(X, chunks)`` for a
    chunklets learner, ``(X,)`` for an unsupervised one.
    With ``indices=True``, the same as row indices into ``X``, for a learner
    made with ``preprocessor=X``."""
    if spec.kind == "supervised":
        return (np.arange(X.shape[0]) if indices else X), y
    if spec.kind == "unsupervised":
        return ((np.arange(X.shape[0]) if indices else X),)
    if spec.kind == "twoview":
        return X, second_view(X, y)
    if spec.kind == "chunks":
        chunks = toy_chunks(y)
        return (np.arange(X.shape[0]) if indices else X), chunks
    if spec.kind == "triplets":
        triplets = toy_triplets(X, y)
        return (triplets if indices else X[triplets],)
    if spec.kind == "quadruplets":
        quadruplets = toy_quadruplets(y, n_constraints, random_state)
        return (quadruplets if indices else X[quadruplets],)
    pairs, y_pairs = toy_pairs(y, n_constraints, random_state)
    return (pairs if indices else X[pairs]), y_pairs


def fit_spec(spec, X, y, *, indices=False, **params):
    """A learner of ``spec`` fitted on data with class labels ``y`` (on indices
    with ``preprocessor=X`` when ``indices``)."""
    if indices:
        params.setdefault("preprocessor", X)
    return spec.make(**params).fit(*training_input(spec, X, y, indices=indices))


# --------------------------------------------------------------------------
# the state of an estimator, before and after a call that fails
# --------------------------------------------------------------------------


def snapshot(est):
    """Every attribute of ``est`` (its parameters and its fitted state),
    deep-copied."""
    return copy.deepcopy(vars(est))


def _same(a, b):
    if isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=b.dtype.kind in "fc"))
    if hasattr(b, "equals"):  # pandas
        return type(a) is type(b) and b.equals(a)
    if hasattr(b, "toarray"):  # scipy.sparse
        return hasattr(a, "toarray") and _same(a.toarray(), b.toarray())
    if isinstance(b, np.random.RandomState):
        return isinstance(a, np.random.RandomState) and _same(a.get_state(), b.get_state())
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(
            _same(a[k], b[k]) for k in b)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(b, float) and np.isnan(b):
        return isinstance(a, float) and np.isnan(a)
    return a is b or bool(a == b)


def assert_unchanged(est, before):
    """``est`` has the attributes of the :func:`snapshot` ``before``, with the
    same values (arrays bit for bit)."""
    after = vars(est)
    assert after.keys() == before.keys(), (
        f"attributes added {sorted(after.keys() - before.keys())}, "
        f"removed {sorted(before.keys() - after.keys())}"
    )
    changed = [key for key, value in before.items() if not _same(after[key], value)]
    assert not changed, f"{type(est).__name__} changed {changed}"


def assert_fails_cleanly(est, exc, match, *args, method="fit", **kwargs):
    """``est.<method>(*args, **kwargs)`` raises ``exc`` matching ``match``
    and leaves ``est`` exactly as it was (unfitted stays unfitted, fitted
    keeps its fitted state)."""
    before = snapshot(est)
    with pytest.raises(exc, match=match):
        getattr(est, method)(*args, **kwargs)
    assert_unchanged(est, before)
