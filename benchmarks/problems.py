"""The problems every library fits: data sets and splits, constraints drawn once, and the scores.

Data sets are used with their raw features (as a user of metric-learn's
defaults would fit them) unless a suite standardises them, split once 70/30,
stratified, seed 0. Constraints are drawn once from the training labels with
``metriclearn.Constraints`` and handed to every library, so all fit exactly
the same problem.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

SEED = 0
TEST_SIZE = 0.3


@dataclass(frozen=True)
class Split:
    """A data set split once into a training and a test part."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def n_classes(self):
        return np.unique(self.y_train).shape[0]


def _load(name):
    from sklearn import datasets

    if name == "synthetic":  # 3,500 training points after the split
        return datasets.make_classification(n_samples=5000, n_features=50,
                                            random_state=SEED)
    if name == "large":  # 60,000 training points after the split, 10 classes
        return datasets.make_classification(n_samples=85_715, n_features=50,
                                            n_informative=30, n_classes=10,
                                            random_state=SEED)
    if name == "synthetic60k":  # 42,000 training points after the split
        return datasets.make_classification(n_samples=60000, n_features=50,
                                            random_state=SEED)
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def split(name, standardise=False, seed=SEED):
    """``iris``, ``wine``, ``breast_cancer``, ``digits``, ``synthetic``,
    ``synthetic60k`` or ``large``, split with ``seed`` (and standardised on
    its training part when ``standardise``)."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = _load(name)
    parts = train_test_split(np.asarray(X, dtype=np.float64), y, test_size=TEST_SIZE,
                             stratify=y, random_state=seed)
    X_train, X_test, y_train, y_test = parts
    if standardise:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return Split(name, X_train, y_train, X_test, y_test)


def classification(n, d, n_classes=4, seed=SEED):
    """``make_classification`` with half the features informative, one
    cluster per class: the synthetic problem of the scaling series."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n, n_features=d, n_informative=max(2, d // 2),
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=1,
                               random_state=seed)


@dataclass(frozen=True)
class Problem:
    """What ``fit`` receives (``fit_args``), with a description and a digest
    (a short hash, so two runs can be checked to have fitted the same problem)."""

    fit_args: tuple
    text: str

    def digest(self):
        h = hashlib.sha256()
        for a in self.fit_args:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:12]

    @property
    def pairs(self):
        return self.fit_args[0]

    @property
    def y(self):
        return self.fit_args[1]

    @property
    def bounds(self):
        return self.fit_args[2] if len(self.fit_args) > 2 else None


def draw_pairs(y, n_constraints, seed=SEED):
    """``n_constraints`` similar and as many dissimilar index pairs, every label a class."""
    from metriclearn import Constraints

    return Constraints(y, unlabeled=None).pairs(n_constraints, random_state=seed)


def supervised_pairs(ds):
    """The pairs ``MMC_Supervised`` and ``ITML_Supervised`` would draw:
    ``20 * n_classes**2`` of each kind, as points."""
    idx, y = draw_pairs(ds.y_train, 20 * ds.n_classes**2)
    n_sim = int(np.sum(y == 1))
    return Problem((ds.X_train[idx], y), f"{n_sim} S + {y.shape[0] - n_sim} D")


def itml_bounds(points):
    """metriclearn's default ITML bounds for ``points`` under the identity prior,
    passed explicitly so every library solves the same problem."""
    from metriclearn.objectives import itml_default_bounds

    points = np.unique(points, axis=0)
    return itml_default_bounds(points, np.eye(points.shape[1]), random_state=SEED)


def supervised_pairs_bounds(ds):
    """:func:`supervised_pairs` with ITML's bounds from their distinct points."""
    base = supervised_pairs(ds)
    pairs, y = base.fit_args
    bounds = itml_bounds(pairs.reshape(-1, ds.n_features))
    return Problem((pairs, y, bounds),
                   base.text + f", bounds [{bounds[0]:.4g}, {bounds[1]:.4g}]")


def labels(ds):
    """The training part and its labels, as they are."""
    return Problem((ds.X_train, ds.y_train), f"labels, {ds.n_classes} classes")


# the chunklets of the RCA comparison: as many as RCA_Supervised draws
N_CHUNKS = 50


def chunks(ds):
    """The training part and ``N_CHUNKS`` chunklets of 2 points of one class
    (``metriclearn.Constraints``, seed 0): RCA's input in every library."""
    from metriclearn import Constraints

    labels = Constraints(ds.y_train, unlabeled=None).chunks(
        n_chunks=N_CHUNKS, chunk_size=2, random_state=SEED)
    return Problem((ds.X_train, labels), f"{N_CHUNKS} chunklets of 2 points")


def points(ds):
    """The training part alone (no labels)."""
    return Problem((ds.X_train,), "points only")


CONSTRAINTS = {"supervised_pairs": supervised_pairs,
               "supervised_pairs_bounds": supervised_pairs_bounds, "labels": labels,
               "chunks": chunks, "points": points}


def sweep_constraints(pairs, y, bounds):
    """The constraints of ITML's Bregman sweep: pair differences ``V``
    (similar pairs first, then dissimilar ones, pairs of identical points
    left out), ``delta`` (+1 for an upper bound, -1 for a lower one) and the
    bound ``xi0`` of each."""
    V = np.asarray(pairs[:, 0, :] - pairs[:, 1, :], dtype=np.float64)
    keep = np.any(V != 0.0, axis=1)
    order = np.concatenate([np.flatnonzero(keep & (y == 1)), np.flatnonzero(keep & (y == -1))])
    V = np.ascontiguousarray(V[order])
    delta = np.where(y[order] == 1, 1.0, -1.0)
    xi0 = np.where(delta > 0, bounds[0], bounds[1]).astype(np.float64)
    return V, delta, xi0


def knn_accuracy(ds, transform=None, k=3):
    """Test accuracy of k-NN fitted on the (transformed) training part;
    ``transform=None`` is the Euclidean baseline."""
    from sklearn.neighbors import KNeighborsClassifier

    X_train, X_test = ds.X_train, ds.X_test
    if transform is not None:
        X_train, X_test = transform(X_train), transform(X_test)
    knn = KNeighborsClassifier(n_neighbors=k).fit(X_train, ds.y_train)
    return float(knn.score(X_test, ds.y_test))


def clustering_accuracy(ds, transform=None):
    """Xing et al.'s clustering accuracy of ``KMeans(n_clusters=n_classes)``
    on the (transformed) test part (:mod:`metriclearn.metrics`)."""
    from sklearn.cluster import KMeans

    from metriclearn.metrics import pairwise_clustering_accuracy

    X_test = ds.X_test if transform is None else transform(ds.X_test)
    pred = KMeans(n_clusters=ds.n_classes, n_init=10, random_state=SEED).fit_predict(X_test)
    return float(pairwise_clustering_accuracy(ds.y_test, pred))


def recall_at_k(ds, transform, ks):
    """Fraction of test points with a training point of their class among
    their k nearest training points, for each k of ``ks``."""
    from sklearn.neighbors import NearestNeighbors

    X_train, X_test = ds.X_train, ds.X_test
    if transform is not None:
        X_train, X_test = transform(X_train), transform(X_test)
    idx = NearestNeighbors(n_neighbors=max(ks)).fit(X_train).kneighbors(
        X_test, return_distance=False)
    hit = ds.y_train[idx] == ds.y_test[:, None]
    return {k: float(np.mean(hit[:, :k].any(axis=1))) for k in ks}


def metric_rank(M, rtol=1e-8):
    """Numerical rank of a PSD matrix: eigenvalues above ``rtol`` times the largest."""
    w = np.linalg.eigvalsh(0.5 * (M + M.T))
    return int(np.sum(w > rtol * max(w.max(), 0.0))) if w.size else 0
