"""Data sets and constraints of the benchmark.

Raw features (no standardisation, as a user of metric-learn's defaults would
fit them), one fixed stratified train/test split per data set, and
constraints drawn once from the training labels so every library fits exactly
the same problem.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    # 5,000 x 50, two classes (3,500 training points after the split)
    "synthetic": lambda return_X_y: make_classification(
        n_samples=5000, n_features=50, random_state=0
    ),
}
TEST_SIZE = 0.3
SEED = 0
N_NEIGHBORS = 3


@dataclass(frozen=True)
class DataSet:
    """A data set split once into training and test parts."""

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


@dataclass(frozen=True)
class PairConstraints:
    """Labelled pairs of training points, the input of a pairs learner.

    Attributes
    ----------
    pairs : ndarray of shape (n_pairs, 2, n_features)
        The points of each pair.
    y : ndarray of shape (n_pairs,)
        +1 for a similar pair, -1 for a dissimilar one.
    n_constraints : int
        The number of pairs of each kind that was asked for.
    bounds : ndarray of shape (2,) or None
        Distance bounds passed to ``fit`` after the labels (ITML), or None.
    """

    pairs: np.ndarray
    y: np.ndarray
    n_constraints: int
    bounds: np.ndarray | None = None

    @property
    def fit_args(self):
        """Positional arguments of ``fit``."""
        if self.bounds is None:
            return (self.pairs, self.y)
        return (self.pairs, self.y, self.bounds)

    def digest(self):
        """Short hash of the pairs and labels, to tell whether two runs fitted
        the same problem."""
        h = hashlib.sha256(np.ascontiguousarray(self.pairs).tobytes())
        h.update(np.ascontiguousarray(self.y).tobytes())
        if self.bounds is not None:
            h.update(np.ascontiguousarray(self.bounds).tobytes())
        return h.hexdigest()[:12]

    def describe(self):
        """Short text for the report, e.g. ``"180 S + 180 D"``."""
        n_sim = int(np.sum(self.y == 1))
        text = f"{n_sim} S + {self.y.shape[0] - n_sim} D"
        if self.bounds is not None:
            text += f", bounds [{self.bounds[0]:.4g}, {self.bounds[1]:.4g}]"
        return text


def load(name):
    """Load a scikit-learn data set and split it (stratified, fixed seed).

    Parameters
    ----------
    name : str
        A key of ``LOADERS``.

    Returns
    -------
    DataSet
    """
    X, y = LOADERS[name](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        np.asarray(X, dtype=np.float64), y, test_size=TEST_SIZE, stratify=y,
        random_state=SEED,
    )
    return DataSet(name, X_train, y_train, X_test, y_test)


def supervised_pairs(ds):
    """The pairs ``MMC_Supervised`` would draw: ``20 * n_classes**2`` of each kind.

    Drawn with ``metriclearn.Constraints`` from the training labels, with a
    fixed seed; both libraries then fit their pairs learner on them.
    """
    from metriclearn import Constraints

    n_constraints = 20 * ds.n_classes**2
    idx, y = Constraints(ds.y_train, unlabeled=None).pairs(
        n_constraints, random_state=SEED
    )
    return PairConstraints(ds.X_train[idx], y, n_constraints)


def supervised_pairs_bounds(ds):
    """``supervised_pairs`` with ITML's distance bounds, given to every library.

    The bounds are metriclearn's defaults for these pairs (5th and 95th
    percentiles of squared Euclidean distances between their distinct
    points), passed explicitly so that both libraries solve the same problem.
    """
    from metriclearn._itml import itml_default_bounds

    c = supervised_pairs(ds)
    points = np.unique(c.pairs.reshape(-1, ds.n_features), axis=0)
    bounds = itml_default_bounds(points, np.eye(ds.n_features), random_state=SEED)
    return PairConstraints(c.pairs, c.y, c.n_constraints, bounds)


# name -> function(DataSet) -> constraints object with ``fit_args``.
CONSTRAINTS = {
    "supervised_pairs": supervised_pairs,
    "supervised_pairs_bounds": supervised_pairs_bounds,
}


@dataclass(frozen=True)
class Labels:
    """Training points and their class labels, the input of a supervised
    learner (``fit(X, y)``)."""

    X: np.ndarray
    y: np.ndarray

    @property
    def fit_args(self):
        """Positional arguments of ``fit``."""
        return (self.X, self.y)

    def digest(self):
        """Short hash of the points and labels."""
        h = hashlib.sha256(np.ascontiguousarray(self.X).tobytes())
        h.update(np.ascontiguousarray(self.y).tobytes())
        return h.hexdigest()[:12]

    def describe(self):
        """Short text for the report, e.g. ``"labels, 3 classes"``."""
        return f"labels, {np.unique(self.y).shape[0]} classes"


def labels(ds):
    """The training part and its labels, as they are."""
    return Labels(ds.X_train, ds.y_train)


CONSTRAINTS["labels"] = labels


def knn_accuracy(ds, transform=None):
    """Test accuracy of a 3-NN classifier fitted on the (transformed) training part.

    Parameters
    ----------
    ds : DataSet
    transform : callable or None, default=None
        Maps points to the learned space; ``None`` is the Euclidean baseline.

    Returns
    -------
    float
    """
    X_train, X_test = ds.X_train, ds.X_test
    if transform is not None:
        X_train, X_test = transform(X_train), transform(X_test)
    knn = KNeighborsClassifier(n_neighbors=N_NEIGHBORS).fit(X_train, ds.y_train)
    return float(knn.score(X_test, ds.y_test))


def clustering_accuracy(ds, transform=None):
    """Xing et al.'s clustering accuracy of k-means on the (transformed) test part.

    ``KMeans(n_clusters=n_classes, n_init=10, random_state=0)`` clusters the
    test points; :func:`metriclearn.metrics.pairwise_clustering_accuracy`
    scores the clusters against the classes (balanced over same-class and
    different-class pairs when there are more than two classes).

    Parameters
    ----------
    ds : DataSet
    transform : callable or None, default=None
        Maps points to the learned space; ``None`` is the Euclidean baseline.

    Returns
    -------
    float
    """
    from sklearn.cluster import KMeans

    from metriclearn.metrics import pairwise_clustering_accuracy

    X_test = ds.X_test if transform is None else transform(ds.X_test)
    pred = KMeans(n_clusters=ds.n_classes, n_init=10, random_state=SEED).fit_predict(X_test)
    return float(pairwise_clustering_accuracy(ds.y_test, pred))
