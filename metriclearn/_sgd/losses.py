"""The SGD family's losses and miners, and the batches of training tuples
their kernels step on.

A batch is a typed record (:class:`PairBatch`, :class:`TripletBatch`,
:class:`MinedBatch`) whose ``steps`` method runs the mini-batch steps of its
kernel; the local engine and the Dask tasks both call it, so neither knows
which kind of tuple it trains on.
"""

from dataclasses import dataclass

import numpy as np

from .._kernels import sgd_triplets as _tk
from .._kernels.sgd import CONTRASTIVE, HINGE, sgd_steps

__all__ = [
    "LOSS_CODES",
    "MINERS",
    "PAIR_LOSSES",
    "TRIPLET_LOSSES",
    "LossConfig",
    "MinedBatch",
    "PairBatch",
    "TripletBatch",
]

# the losses, by the input they compare: pairs, or an anchor with a positive
# and negatives
PAIR_LOSSES = ("hinge", "contrastive")
TRIPLET_LOSSES = ("triplet", "infonce")
LOSS_CODES = {"hinge": HINGE, "contrastive": CONTRASTIVE,
              "triplet": _tk.TRIPLET, "infonce": _tk.INFONCE}
MINERS = ("all", "hard", "semihard", "easy")
_MINER_CODES = {"all": _tk.ALL, "hard": _tk.HARD, "semihard": _tk.SEMIHARD,
                "easy": _tk.EASY}


@dataclass(frozen=True)
class LossConfig:
    """What the kernels need to know about the loss (it travels to Dask
    tasks, so it holds plain values only)."""

    name: str
    alpha: float = 1.0
    margin: float = 1.0
    temperature: float = 1.0
    miner: str = "all"

    @property
    def code(self):
        return LOSS_CODES[self.name]

    @property
    def is_pair(self):
        return self.name in PAIR_LOSSES


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
                         cfg.alpha, cfg.margin, precond, cfg.code)


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
                                 cfg.code, cfg.margin, cfg.temperature, precond)


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
        return _tk.mined_steps(self.X, self.codes, self.anchors, self.positives, self.u, L,
                               etas, batch_size, cfg.code, _MINER_CODES[cfg.miner],
                               cfg.margin, cfg.temperature, precond)
