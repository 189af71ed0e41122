"""The SGD family's losses and miners, and the batches of training tuples
their kernels step on.

A batch is a typed record (:class:`PairBatch`, :class:`TripletBatch`,
:class:`MinedBatch`, :class:`TwoViewBatch`) whose ``steps`` method runs the mini-batch steps of its
kernel; the local engine and the Dask tasks both call it, so neither knows
which kind of tuple it trains on.
"""

from dataclasses import dataclass

import numpy as np

from .._kernels import sgd_mining as _mk
from .._kernels import sgd_triplets as _tk
from .._kernels import twoview as _vk
from .._kernels.sgd import CONTRASTIVE, HINGE, INFONCE, TRIPLET, sgd_steps

__all__ = [
    "LOSS_CODES",
    "MINERS",
    "MINER_CODES",
    "PAIR_LOSSES",
    "TRIPLET_LOSSES",
    "LossConfig",
    "MinedBatch",
    "PairBatch",
    "TripletBatch",
    "TwoViewBatch",
    "kernel_temperature",
]

# the losses, by the input they compare: pairs, or an anchor with a positive
# and negatives
PAIR_LOSSES = ("hinge", "contrastive")
TRIPLET_LOSSES = ("triplet", "infonce")
LOSS_CODES = {"hinge": HINGE, "contrastive": CONTRASTIVE, "triplet": TRIPLET,
              "infonce": INFONCE}
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
        """Mini-batch steps from ``L``: the new map and each step's summed loss."""
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
