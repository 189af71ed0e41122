"""The SGD family's losses and miners, and the batches of training tuples
their kernels step on.

A batch is a typed record (:class:`PairBatch`, :class:`TripletBatch`,
:class:`MinedBatch`, :class:`MagnetBatch`, :class:`TwoViewBatch`) whose
``steps`` method runs the mini-batch steps of its kernel; the local engine
and the Dask tasks both call it, so neither knows which kind of tuple it
trains on.
"""

from dataclasses import dataclass

import numpy as np

from .._kernels import sgd_batch as _bk
from .._kernels import sgd_magnet as _gk
from .._kernels import sgd_mining as _mk
from .._kernels import sgd_triplets as _tk
from .._kernels import twoview as _vk
from .._kernels.sgd import CONTRASTIVE, HINGE, INFONCE, TRIPLET, sgd_steps

__all__ = [
    "BATCH_LOSSES",
    "LABEL_LOSSES",
    "LOSS_CODES",
    "MINERS",
    "MINER_CODES",
    "PAIR_LOSSES",
    "TRIPLET_LOSSES",
    "LossConfig",
    "MagnetBatch",
    "MagnetClusters",
    "MinedBatch",
    "PairBatch",
    "TripletBatch",
    "TwoViewBatch",
    "class_prior",
    "kernel_temperature",
]

# the losses, by the input they compare: pairs, or an anchor with a positive
# and negatives
PAIR_LOSSES = ("hinge", "contrastive")
TRIPLET_LOSSES = ("triplet", "infonce")
# the losses over a whole batch of labelled points, and all those that need
# class labels
BATCH_LOSSES = ("lifted", "supcon", "debiased")
LABEL_LOSSES = BATCH_LOSSES + ("magnet",)
LOSS_CODES = {"hinge": HINGE, "contrastive": CONTRASTIVE, "triplet": TRIPLET,
              "infonce": INFONCE, "lifted": _bk.LIFTED, "supcon": _bk.SUPCON,
              "debiased": _bk.DEBIASED, "magnet": _gk.MAGNET}
# Lloyd's iterations of the magnet loss's k-means, at most
KMEANS_MAX_ITER = 50
MINERS = ("all", "hard", "semihard", "easy")
MINER_CODES = {"all": _mk.ALL, "hard": _mk.HARD, "semihard": _mk.SEMIHARD,
               "easy": _mk.EASY}


def kernel_temperature(temperature, normalize):
    """The temperature the kernels divide squared distances by.

    On the unit sphere InfoNCE compares cosine similarities,
    ``exp(cos(z_a, z_x) / tau)`` as in the seeds; since
    ``||z_a - z_x||^2 = 2 - 2 cos(z_a, z_x)``, that is the kernels' softmax of
    ``-d2 / (2 tau)``. Off the sphere the similarity is ``-d2 / tau``.
    """
    return 2.0 * temperature if normalize else temperature


def class_prior(codes):
    """The probability that a point drawn at random among the others has
    the class of a point drawn at random: ``sum_c n_c (n_c - 1) / (n (n -
    1))`` over the class counts ``n_c`` of ``codes``."""
    counts = np.bincount(np.asarray(codes)).astype(np.float64)
    n = counts.sum()
    return float(np.sum(counts * (counts - 1.0)) / max(n * (n - 1.0), 1.0))


@dataclass(frozen=True)
class LossConfig:
    """What the kernels need to know about the loss (it travels to Dask
    tasks, so it holds plain values only)."""

    name: str
    alpha: float = 1.0
    margin: float = 1.0
    temperature: float = 1.0
    miner: str = "all"
    normalize: bool = False
    prior: float = 0.0  # the class prior of 'debiased'
    n_clusters: int = 1  # clusters per class of 'magnet'
    refresh: int = 1  # epochs between the magnet clusters' refreshes

    @property
    def code(self):
        return LOSS_CODES[self.name]

    @property
    def miner_code(self):
        return MINER_CODES[self.miner]

    @property
    def is_pair(self):
        return self.name in PAIR_LOSSES

    @property
    def is_batch(self):
        """Whether the loss is over the whole batch (:data:`BATCH_LOSSES`)."""
        return self.name in BATCH_LOSSES

    @property
    def tau(self):
        """The temperature as the kernels take it (:func:`kernel_temperature`)."""
        return kernel_temperature(self.temperature, self.normalize)


@dataclass(frozen=True, eq=False)
class PairBatch:
    """Labelled index pairs into ``X``, visited in ``order``."""

    X: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray  # int8, +1 / -1
    order: np.ndarray

    @property
    def n_items(self):
        return self.order.shape[0]

    def steps(self, L, etas, batch_size, cfg, precond):
        """Mini-batch steps from ``L``: the new map and each step's summed loss."""
        return sgd_steps(self.X, self.pairs, self.labels, self.order, L, etas, batch_size,
                         cfg.alpha, cfg.margin, precond, cfg.code, cfg.normalize)


@dataclass(frozen=True, eq=False)
class TripletBatch:
    """Index triplets ``(anchor, positive, negative)`` into ``X``, visited in
    ``order``."""

    X: np.ndarray
    triplets: np.ndarray
    order: np.ndarray

    @property
    def n_items(self):
        return self.order.shape[0]

    def steps(self, L, etas, batch_size, cfg, precond):
        """Mini-batch steps from ``L``: the new map and each step's summed loss."""
        return _tk.triplet_steps(self.X, self.triplets, self.order, L, etas, batch_size,
                                 cfg.code, cfg.margin, cfg.tau, precond, cfg.normalize)


@dataclass(frozen=True, eq=False)
class MinedBatch:
    """Anchors with a positive of their class (indices into ``X``), whose
    negatives are mined among the batch's other points; ``u`` holds the
    miners' uniform draws."""

    X: np.ndarray
    codes: np.ndarray
    anchors: np.ndarray
    positives: np.ndarray
    u: np.ndarray

    @property
    def n_items(self):
        return self.anchors.shape[0]

    def steps(self, L, etas, batch_size, cfg, precond):
        """Mini-batch steps from ``L``: the new map and each step's summed loss
        (for the batch losses, over every point of each batch: no miner)."""
        if cfg.is_batch:
            return _bk.batch_steps(self.X, self.codes, self.anchors, self.positives, L, etas,
                                   batch_size, cfg.code, cfg.margin, cfg.tau, cfg.prior,
                                   precond, cfg.normalize)
        return _mk.mined_steps(self.X, self.codes, self.anchors, self.positives, self.u, L,
                               etas, batch_size, cfg.code, cfg.miner_code, cfg.margin,
                               cfg.tau, precond, cfg.alpha, cfg.normalize)


@dataclass(frozen=True, eq=False)
class TwoViewBatch:
    """Paired rows ``(X[i], Y[i])`` of two views, visited in ``order``, for
    the symmetric InfoNCE loss of :mod:`metriclearn._kernels.twoview`.

    The engine steps one map: here ``L = [Lx | Ly]`` of shape ``(k, p + q)``,
    the map of the concatenated features ``(x, y)`` (``Lx`` reads the first
    ``p``, ``Ly`` the last ``q``), with the two preconditioners side by side
    in ``precond``.
    """

    X: np.ndarray
    Y: np.ndarray
    order: np.ndarray

    @property
    def n_items(self):
        return self.order.shape[0]

    def steps(self, L, etas, batch_size, cfg, precond):
        """Mini-batch steps from ``L``: the new map and each step's summed loss."""
        p = self.X.shape[1]
        Lx, Ly, losses = _vk.twoview_steps(
            self.X, self.Y, self.order, L[:, :p], L[:, p:], etas, batch_size,
            cfg.temperature, cfg.normalize, precond[:p], precond[p:])
        return np.hstack([Lx, Ly]), losses


@dataclass(frozen=True, eq=False)
class MagnetClusters:
    """The clusters of the magnet loss over the points ``X``: each point's
    cluster (``assign``; class ``c``'s are ``c K .. c K + K - 1``), each
    cluster's mean input point (``centers``) and class code
    (``cluster_class``, ``-1`` for an empty cluster), and the variance
    ``sigma^2`` the loss divides squared distances by (``variance``)."""

    assign: np.ndarray
    centers: np.ndarray
    cluster_class: np.ndarray
    variance: float = 0.0

    @classmethod
    def fit(cls, X, codes, L, cfg, rng, variance=None):
        """k-means of each class's points in the embedding of ``L`` (on the
        unit sphere with ``cfg.normalize``), ``cfg.n_clusters`` per class.

        ``variance`` is kept as given; ``None`` (the first clusters of a
        fit) measures it at ``L``: ``sum_r ||z_r - centre(r)||^2 / (n - 1)``
        over the ``n`` points, the paper's variance of the points about
        their cluster centres."""
        codes = np.asarray(codes, dtype=np.intp)
        n_classes = int(codes.max()) + 1 if codes.size else 0
        K = int(cfg.n_clusters)
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_classes))])
        Z = X @ L.T
        if cfg.normalize:
            norms = np.linalg.norm(Z, axis=1, keepdims=True)
            Z = np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)
        u = rng.random_sample((n_classes, K))
        assign = _gk.class_kmeans(np.ascontiguousarray(Z), order, bounds.astype(np.intp), K,
                                  u, KMEANS_MAX_ITER)
        centers, counts = _gk.cluster_means(X, assign, n_classes * K)
        cluster_class = np.where(counts > 0, np.repeat(np.arange(n_classes), K), -1)
        if variance is None:
            M = centers @ L.T
            if cfg.normalize:
                norms = np.linalg.norm(M, axis=1, keepdims=True)
                M = np.divide(M, norms, out=np.zeros_like(M), where=norms > 0)
            spread = float(np.sum((Z - M[assign]) ** 2))
            variance = spread / max(Z.shape[0] - 1, 1)
        return cls(assign, centers, cluster_class.astype(np.intp), float(variance))


@dataclass(frozen=True, eq=False)
class MagnetBatch:
    """Anchors (indices into ``X``) for the magnet loss. Its clusters are
    ``clusters`` as given, or, with ``refresh`` (a ``(holder, seed)``
    pair), refitted at the map the steps start from and kept in
    ``holder["clusters"]`` for the epochs that follow; a refit keeps the
    variance of the clusters it replaces (that of the fit's first
    clusters)."""

    X: np.ndarray
    codes: np.ndarray
    anchors: np.ndarray
    clusters: MagnetClusters | None = None
    refresh: tuple | None = None

    @property
    def n_items(self):
        return self.anchors.shape[0]

    def steps(self, L, etas, batch_size, cfg, precond):
        """Mini-batch steps from ``L``: the new map and each step's summed loss."""
        clusters = self.clusters
        if self.refresh is not None:
            holder, seed = self.refresh
            previous = holder.get("clusters")
            clusters = MagnetClusters.fit(
                self.X, self.codes, L, cfg, np.random.RandomState(seed),
                variance=None if previous is None else previous.variance)
            holder["clusters"] = clusters
        c = clusters
        return _gk.magnet_steps(self.X, self.codes, self.anchors, c.assign, c.centers,
                                c.cluster_class, L, etas, batch_size, cfg.margin, precond,
                                cfg.normalize, c.variance)
