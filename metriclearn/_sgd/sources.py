"""Where the SGD family's training tuples come from: given tuples (pairs or
triplets as indices into a point array, :class:`~metriclearn._validation.Tuples`)
or pairs and anchors drawn from class labels (:class:`LabelPairSampler`)."""

import numpy as np

from .._labels import LabelIndex
from .losses import MinedBatch, PairBatch, TripletBatch

__all__ = ["LabelPairSampler", "label_sampler", "tuples_batch"]


def tuples_batch(X, indices, labels, order):
    """The batch visiting the given tuples in ``order``: labelled pairs
    (``labels`` int8) or triplets (``labels=None``)."""
    if labels is None:
        return TripletBatch(X, indices, order)
    return PairBatch(X, indices, labels, order)


class LabelPairSampler:
    """Draws similar and dissimilar index pairs from class labels, without
    listing the pairs that could be drawn.

    A similar pair takes its first point uniformly among the points whose
    class has a second point, and its partner uniformly among the other
    points of that class; a dissimilar pair takes its first point uniformly
    among all points and its partner uniformly among the points of the other
    classes.
    """

    def __init__(self, index):
        self.index = index
        self.with_partner = np.flatnonzero(index.counts[index.codes] >= 2)
        self.with_other = np.flatnonzero(index.counts[index.codes] < index.codes.shape[0])

    def draw(self, n_pairs, rng):
        """``2 n_pairs`` index pairs, similar and dissimilar alternating (so
        every batch of consecutive pairs is balanced), and their labels.

        When one kind cannot be drawn (no class with two points, or a single
        class) all pairs are of the other kind.
        """
        can_sim, can_dis = self.with_partner.size > 0, self.with_other.size > 0
        if not (can_sim or can_dis):
            return np.empty((0, 2), dtype=np.intp), np.empty(0, dtype=np.int8)
        n_sim = n_pairs if can_sim and can_dis else (2 * n_pairs if can_sim else 0)
        n_dis = 2 * n_pairs - n_sim
        sim = self._similar(n_sim, rng)
        dis = self._dissimilar(n_dis, rng)
        pairs = np.empty((2 * n_pairs, 2), dtype=np.intp)
        labels = np.empty(2 * n_pairs, dtype=np.int8)
        if n_sim and n_dis:
            pairs[0::2], pairs[1::2] = sim, dis
            labels[0::2], labels[1::2] = 1, -1
        else:
            pairs[:] = sim if n_sim else dis
            labels[:] = 1 if n_sim else -1
        return pairs, labels

    def anchor_batch(self, X, m, rng):
        """A :class:`MinedBatch` of ``m`` anchors, each with a positive of its
        class, and the uniform draws of the miners."""
        pairs = self._similar(m, rng)
        u = rng.random_sample(m)
        return MinedBatch(X, self.index.codes, np.ascontiguousarray(pairs[:, 0]),
                          np.ascontiguousarray(pairs[:, 1]), u)

    def _similar(self, m, rng):
        index = self.index
        first = self.with_partner[rng.randint(self.with_partner.shape[0], size=m)]
        c = index.codes[first]
        off = rng.randint(0, index.counts[c] - 1) if m else np.empty(0, dtype=np.intp)
        pos = index.start[c] + (index.rank[first] + 1 + off) % index.counts[c]
        return np.stack([first, index.order[pos]], axis=1)

    def _dissimilar(self, m, rng):
        index = self.index
        n = index.codes.shape[0]
        first = self.with_other[rng.randint(self.with_other.shape[0], size=m)]
        c = index.codes[first]
        u = rng.randint(0, n - index.counts[c]) if m else np.empty(0, dtype=np.intp)
        pos = u + index.counts[c] * (u >= index.start[c])
        return np.stack([first, index.order[pos]], axis=1)


def label_sampler(y, name):
    """A :class:`LabelPairSampler` over the labels ``y`` of a learner called
    ``name``; a ``ValueError`` when ``y`` cannot give similar and dissimilar
    pairs."""
    index = LabelIndex(y)
    if index.n_classes < 2:
        raise ValueError(
            f"{name} needs at least 2 classes in y; got "
            f"{index.n_classes} class ({index.classes.tolist()})"
        )
    sampler = LabelPairSampler(index)
    if sampler.with_partner.size == 0:
        raise ValueError(
            f"{name} needs a class with at least 2 samples "
            "to draw similar pairs; every class in y has a single sample"
        )
    return sampler
