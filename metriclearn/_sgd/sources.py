"""Where the SGD family's training tuples come from: given tuples (pairs or
triplets as indices into a point array, :class:`~metriclearn._validation.Tuples`)
or pairs and anchors drawn from class labels: :class:`NeighborSampler`
(each point with one of its nearest same-class points) and
:class:`LabelPairSampler` (pairs of points drawn at random)."""

from dataclasses import replace

import numpy as np

from .._kernels.sgd_mining import target_neighbors
from .._labels import LabelIndex
from .losses import MagnetBatch, MinedBatch, PairBatch, TripletBatch

__all__ = ["LabelPairSampler", "NeighborSampler", "centered", "epoch_source", "is_mined",
           "label_sampler", "label_source", "magnet_batch", "tuples_batch"]


def centered(data, settings):
    """On the unit sphere, the points of ``data`` (a
    :class:`~metriclearn._validation.Tuples`, or an array of points) less
    their mean, and the mean (the point the map sends to the centre of the
    sphere); off it, ``data`` and ``None``.

    ``z = L (x - c) / ||L (x - c)||`` is then the same whatever the origin of
    the features, as a Mahalanobis distance is.
    """
    if not settings.loss.normalize:
        return data, None
    X = data if isinstance(data, np.ndarray) else data.X
    center = X.mean(axis=0)
    Xc = np.ascontiguousarray(X - center)
    return (Xc if isinstance(data, np.ndarray) else replace(data, X=Xc)), center


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

    sampling = "random"

    def __init__(self, index):
        self.index = index
        self.pair_sampler = self
        self.with_partner = np.flatnonzero(index.counts[index.codes] >= 2)
        self.with_other = np.flatnonzero(index.counts[index.codes] < index.codes.shape[0])

    @property
    def n_distinct(self):
        """Distinct similar pairs (ordered) the labels allow."""
        counts = self.index.counts
        return int(np.sum(counts * (counts - 1)))

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


class NeighborSampler:
    """Anchors, each with a positive drawn among its ``n_neighbors`` nearest
    points of the same class (its target neighbours, found once in the
    input space, as LMNN's are).

    A point whose class has no other point is never an anchor (it is still a
    candidate negative of the others). An epoch of ``m`` anchors visits the
    anchors in a random order (every one once when ``m`` is their number).
    """

    sampling = "neighbors"

    def __init__(self, X, pair_sampler, n_neighbors):
        index = pair_sampler.index
        self.index = index
        # random pairs of the same labels (the scale sample of the start)
        self.pair_sampler = pair_sampler
        Xs = np.ascontiguousarray(X[index.order])
        found = target_neighbors(Xs, index.bounds, int(n_neighbors))
        targets = np.full(found.shape, -1, dtype=np.intp)
        targets[index.order] = np.where(found >= 0, index.order[np.maximum(found, 0)], -1)
        self.targets = targets
        self.n_targets = (targets >= 0).sum(axis=1)
        self.with_partner = np.flatnonzero(self.n_targets > 0)

    @property
    def n_distinct(self):
        """Distinct (anchor, target neighbour) pairs."""
        return int(self.n_targets.sum())

    def anchors(self, m, rng):
        """``m`` anchors: random orders of every anchor, one after the other."""
        n = self.with_partner.shape[0]
        reps = -(-m // n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(reps)] or
                               [np.empty(0, dtype=np.intp)])[:m]
        return self.with_partner[order]

    def anchor_batch(self, X, m, rng):
        """A :class:`MinedBatch` of ``m`` anchors, each with one of its target
        neighbours, and the uniform draws of the miners."""
        anchors = self.anchors(m, rng)
        pick = (rng.random_sample(anchors.shape[0]) * self.n_targets[anchors]).astype(np.intp)
        positives = self.targets[anchors, np.minimum(pick, self.n_targets[anchors] - 1)]
        u = rng.random_sample(anchors.shape[0])
        return MinedBatch(X, self.index.codes, np.ascontiguousarray(anchors),
                          np.ascontiguousarray(positives), u)


def is_mined(cfg, sampling):
    """Whether training with the loss ``cfg`` from labels with ``sampling``
    steps on anchors with mined negatives (otherwise on random labelled
    pairs)."""
    return not cfg.is_pair or sampling == "neighbors"


def _rows(n, m, rng):
    """``m`` rows of ``n``: random orders of all of them, one after the other."""
    reps = -(-m // n) if n else 0
    return np.concatenate([rng.permutation(n) for _ in range(reps)] or
                          [np.empty(0, dtype=np.intp)])[:m].astype(np.intp)


def magnet_batch(X, codes, m, rng, clusters=None, refresh=None):
    """A :class:`MagnetBatch` of ``m`` anchors, every point of ``X`` in a
    random order (again, beyond ``X.shape[0]``), with the given ``clusters``
    or their ``refresh``."""
    return MagnetBatch(X, codes, _rows(X.shape[0], m, rng), clusters, refresh)


def _magnet_epochs(X, codes, cfg, m):
    """``draw_epoch(rng)`` of the magnet loss: ``m`` anchors, the clusters
    refitted at the first epoch and every ``cfg.refresh`` epochs after it
    (at the map the epoch starts from)."""
    holder, epochs = {}, [0]

    def draw_epoch(rng):
        refresh = epochs[0] % cfg.refresh == 0
        epochs[0] += 1
        seed = int(rng.randint(2**31 - 1)) if refresh else None
        if refresh:
            return magnet_batch(X, codes, m, rng, refresh=(holder, seed))
        return magnet_batch(X, codes, m, rng, clusters=holder["clusters"])

    return draw_epoch


def epoch_source(X, sampler, cfg, m, first=None):
    """``draw_epoch(rng)`` of training from labels with the loss ``cfg``:
    the batch of ``m`` anchors (:func:`is_mined`; for the magnet loss every
    point is an anchor), or of ``m`` similar and ``m`` dissimilar random
    pairs; ``first``, pairs drawn already, are the first epoch's."""
    if cfg.name == "magnet":
        return _magnet_epochs(X, sampler.index.codes, cfg, m)
    mined = is_mined(cfg, sampler.sampling)
    drawn = [first] if first is not None and not mined else []

    def draw_epoch(rng):
        if mined:
            return sampler.anchor_batch(X, m, rng)
        pairs, labels = drawn.pop() if drawn else sampler.draw(m, rng)
        return tuples_batch(X, pairs, labels, np.arange(pairs.shape[0]))

    return draw_epoch


def label_source(X, y, name, sampling="random", n_neighbors=3):
    """The sampler of a learner called ``name`` over the points ``X`` and
    labels ``y``: a :class:`NeighborSampler` (``sampling='neighbors'``) or a
    :class:`LabelPairSampler` (``'random'``); a ``ValueError`` when ``y``
    cannot give similar and dissimilar pairs."""
    sampler = label_sampler(y, name)
    if sampling == "neighbors":
        return NeighborSampler(X, sampler, n_neighbors)
    return sampler


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
