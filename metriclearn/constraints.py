"""Side-information drawn from class labels: pairs, chunks, triplets and
quadruplets."""

import warnings

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

from ._labels import LabelIndex
from ._legacy import UNSET, is_unset, warn_renamed

__all__ = ["Constraints"]


class Constraints:
    """Build constraints (pairs, chunks, triplets, quadruplets) from class labels.

    Read more in the :ref:`User Guide <clustering>`.

    Parameters
    ----------
    partial_labels : array-like of shape (n_samples,)
        Class labels of any type (integers of any sign, strings, ...).
    unlabeled : scalar or None, default=-1
        The one label value that means "label unknown": samples carrying it
        are never used. ``None`` means every value is a class. Unlike
        metric-learn, which silently drops every negative label, only this
        exact value is treated as unknown; ``-2`` is an ordinary class.

    Attributes
    ----------
    partial_labels : ndarray of shape (n_samples,)
        The labels as given.
    """

    def __init__(self, partial_labels, *, unlabeled=-1):
        labels = np.asarray(partial_labels)
        if labels.ndim != 1:
            raise ValueError(
                f"partial_labels must be 1-dimensional; got shape {labels.shape}"
            )
        self.partial_labels = labels
        self.unlabeled = unlabeled
        if unlabeled is None or (
            labels.dtype.kind in "US" and not isinstance(unlabeled, str)
        ):
            # a number never marks a string label as unlabeled (said outright:
            # numpy < 2 compares a string array with a number as a scalar)
            known = np.ones(labels.shape[0], dtype=bool)
        else:
            known = labels != unlabeled
        self._known = np.flatnonzero(known)
        self._index = LabelIndex(labels[self._known])

    # ------------------------------------------------------------------ pairs

    def positive_negative_pairs(self, n_constraints=None, same_length=False,
                                random_state=None, num_constraints=UNSET):
        """Draw similar (same-label) and dissimilar (different-label) pairs.

        Each pair picks its first point uniformly among the points that have a
        partner, and its second uniformly among the partners; pairs are
        distinct as ordered pairs and never join a point to itself. When fewer
        than ``n_constraints`` distinct pairs exist, (almost surely) all of
        them are returned, with a warning.

        Parameters
        ----------
        n_constraints : int
            Number of similar and of dissimilar pairs to draw.
        same_length : bool, default=False
            Truncate the longer of the two lists to the length of the other.
        random_state : int, RandomState instance or None, default=None
            Source of randomness.
        num_constraints : int, default="deprecated"
            metric-learn's old name of ``n_constraints``: accepted with a
            ``FutureWarning``, to be removed.

        Returns
        -------
        a, b : ndarray of shape (n_similar,)
            Indices of the first and second points of the similar pairs.
        c, d : ndarray of shape (n_dissimilar,)
            Indices of the first and second points of the dissimilar pairs.
        """
        n_constraints = _renamed(num_constraints, "num_constraints", n_constraints,
                                 "n_constraints")
        return self._positive_negative_pairs(n_constraints, same_length, random_state)

    def _positive_negative_pairs(self, n_constraints, same_length, random_state):
        # called directly by both public methods, so that the shortage warning
        # of _draw_pairs (stacklevel=4) points at the user's call
        n_constraints = _check_positive_int(n_constraints, "n_constraints")
        rng = check_random_state(random_state)
        a, b = self._draw_pairs(n_constraints, True, rng)
        c, d = self._draw_pairs(n_constraints, False, rng)
        if same_length and a.shape[0] != c.shape[0]:
            n = min(a.shape[0], c.shape[0])
            a, b, c, d = a[:n], b[:n], c[:n], d[:n]
        return a, b, c, d

    def pairs(self, n_constraints, same_length=False, random_state=None):
        """:meth:`positive_negative_pairs` as one array of index pairs with
        labels, the form pairs learners take with ``preprocessor=X``.

        Returns
        -------
        pairs : ndarray of shape (n_pairs, 2)
            Similar pairs first, then dissimilar ones.
        y : ndarray of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.
        """
        a, b, c, d = self._positive_negative_pairs(
            n_constraints, same_length, random_state
        )
        pairs = np.concatenate([np.stack([a, b], 1), np.stack([c, d], 1)])
        y = np.concatenate([np.ones(a.shape[0], int), -np.ones(c.shape[0], int)])
        return pairs, y

    def _draw_pairs(self, n_constraints, same_label, rng, max_rounds=10):
        codes, counts, start = self._index.codes, self._index.counts, self._index.start
        n_known = codes.shape[0]
        if same_label:
            eligible = np.flatnonzero(counts[codes] >= 2)
            n_possible = int(np.sum(counts * (counts - 1)))
        else:
            eligible = np.flatnonzero(counts[codes] < n_known)
            n_possible = int(np.sum(counts * (n_known - counts)))
        target = min(n_constraints, n_possible)
        keys = np.empty(0, dtype=np.int64)
        for round_ in range(max_rounds):
            need = target - keys.shape[0]
            if need <= 0:
                break
            # The first round draws what is missing; once duplicates have been
            # met, later rounds draw more and more (a coupon collector near
            # saturation). Keeping the earliest distinct draws gives the same
            # distribution as drawing one pair at a time and rejecting repeats.
            size = need if round_ == 0 else min(need * 4**round_, 4 * n_possible)
            first = eligible[rng.randint(eligible.shape[0], size=size)]
            cls = codes[first]
            u = rng.random_sample(size)
            if same_label:
                r = np.floor(u * (counts[cls] - 1)).astype(np.intp)
                r += r >= self._index.rank[first]
                second = self._index.order[start[cls] + r]
            else:
                r = np.floor(u * (n_known - counts[cls])).astype(np.intp)
                r += (r >= start[cls]) * counts[cls]
                second = self._index.order[r]
            new = first.astype(np.int64) * n_known + second
            both = np.concatenate([keys, new])
            _, first_seen = np.unique(both, return_index=True)
            keys = both[np.sort(first_seen)][:n_constraints]
        if keys.shape[0] < n_constraints:
            warnings.warn(
                f"Only generated {keys.shape[0]} "
                f"{'positive' if same_label else 'negative'} constraints "
                f"(requested {n_constraints})",
                UserWarning,
                stacklevel=4,
            )
        return self._known[keys // n_known], self._known[keys % n_known]

    # ------------------------------------------------------------ quadruplets

    def quadruplets(self, n_constraints, random_state=None):
        """Quadruplets ``(a, b, c, d)`` whose first pair is similar (same
        label) and second pair dissimilar (different labels): ``d(a, b)``
        should be smaller than ``d(c, d)``.

        The similar and dissimilar pairs of
        :meth:`positive_negative_pairs` with ``same_length=True``, side by
        side (what metric-learn's ``LSML_Supervised`` learns from).

        Parameters
        ----------
        n_constraints : int
            Number of quadruplets (fewer, with a warning, when fewer distinct
            similar or dissimilar pairs exist).
        random_state : int, RandomState instance or None, default=None
            Source of randomness.

        Returns
        -------
        quadruplets : ndarray of shape (n_quadruplets, 4)
            Indices into the labels.
        """
        a, b, c, d = self._positive_negative_pairs(n_constraints, True, random_state)
        return np.stack([a, b, c, d], axis=1).astype(np.intp, copy=False)

    # ----------------------------------------------------------------- chunks

    def chunks(self, n_chunks=100, chunk_size=2, random_state=None, num_chunks=UNSET):
        """Group points into disjoint chunks of ``chunk_size`` same-label points.

        Each chunk picks its class uniformly among the classes that still have
        ``chunk_size`` unused points (every class is eligible), then its points
        uniformly among that class's unused points.

        Parameters
        ----------
        n_chunks : int, default=100
            Number of chunks.
        chunk_size : int, default=2
            Points per chunk.
        random_state : int, RandomState instance or None, default=None
            Source of randomness.
        num_chunks : int, default="deprecated"
            metric-learn's old name of ``n_chunks``: accepted with a
            ``FutureWarning``, to be removed.

        Returns
        -------
        chunks : ndarray of shape (n_samples,)
            Chunk index of each point, -1 for points in no chunk.
        """
        n_chunks = _renamed(num_chunks, "num_chunks", n_chunks, "n_chunks")
        n_chunks = _check_positive_int(n_chunks, "n_chunks")
        chunk_size = _check_positive_int(chunk_size, "chunk_size")
        rng = check_random_state(random_state)
        capacity = self._index.counts // chunk_size
        if capacity.sum() < n_chunks:
            raise ValueError(
                f"Not enough possible chunks of {chunk_size} elements in each "
                f"class to form expected {n_chunks} chunks - maximum number of "
                f"chunks is {int(capacity.sum())}"
            )
        # a random permutation of each class, consumed from the front
        index = self._index
        perm = index.order[
            np.lexsort((rng.random_sample(index.order.shape[0]), index.codes[index.order]))
        ]
        used = np.zeros_like(capacity)
        chunk_class = np.empty(n_chunks, dtype=np.intp)
        for i in range(n_chunks):
            open_classes = np.flatnonzero(used < capacity)
            c = open_classes[rng.randint(open_classes.shape[0])]
            chunk_class[i] = c
            used[c] += 1
        # chunk j of class c takes the j-th block of chunk_size points of c
        rank_in_class = np.zeros(n_chunks, dtype=np.intp)
        order = np.argsort(chunk_class, kind="stable")
        boundaries = np.concatenate([[0], np.cumsum(np.bincount(chunk_class[order],
                                                                minlength=capacity.shape[0]))])
        rank_in_class[order] = np.arange(n_chunks) - boundaries[chunk_class[order]]
        offsets = self._index.start[chunk_class] + rank_in_class * chunk_size
        members = perm[offsets[:, None] + np.arange(chunk_size)]
        out = np.full(self.partial_labels.shape[0], -1, dtype=int)
        out[self._known[members]] = np.arange(n_chunks)[:, None]
        return out

    # --------------------------------------------------------------- triplets

    def generate_knntriplets(self, X, k_genuine, k_impostor):
        """Triplets ``(a, b, c)``: ``b`` among the ``k_genuine`` nearest
        same-label neighbours of ``a``, ``c`` among its ``k_impostor`` nearest
        differently labelled points; all combinations.

        When a class is too small for ``k_genuine`` neighbours (or too large
        for ``k_impostor`` others) a warning is given and the largest possible
        number is used for that class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        k_genuine : int
        k_impostor : int

        Returns
        -------
        triplets : ndarray of shape (n_triplets, 3)
            Indices into ``X``.
        """
        k_genuine = _check_positive_int(k_genuine, "k_genuine")
        k_impostor = _check_positive_int(k_impostor, "k_impostor")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] != self.partial_labels.shape[0]:
            raise ValueError(
                f"X must have shape ({self.partial_labels.shape[0]}, n_features); "
                f"got {X.shape}"
            )
        known = self._known
        labels = self.partial_labels[known]
        Xk = X[known]
        n_known = known.shape[0]
        out = []
        index = self._index
        for c in range(index.n_classes):
            members = index.order[index.start[c]:index.start[c] + index.counts[c]]
            others = np.setdiff1d(np.arange(n_known), members, assume_unique=True)
            kg, ki = k_genuine, k_impostor
            label = labels[members[0]]
            if kg + 1 > members.shape[0]:
                kg = members.shape[0] - 1
                warnings.warn(
                    f"The class {label} has {members.shape[0]} elements, which is "
                    f"not sufficient to generate {k_genuine + 1} genuine neighbors "
                    f"as specified by k_genuine. Will generate {kg} genuine "
                    "neighbors instead.",
                    UserWarning,
                    stacklevel=2,
                )
            if ki > others.shape[0]:
                ki = others.shape[0]
                warnings.warn(
                    f"The class {label} has {ki} elements of other classes, which "
                    f"is not sufficient to generate {k_impostor} impostor neighbors "
                    f"as specified by k_impostor. Will generate {ki} impostor "
                    "neighbors instead.",
                    UserWarning,
                    stacklevel=2,
                )
            if kg == 0 or ki == 0:
                continue
            gen = members[
                NearestNeighbors(n_neighbors=kg).fit(Xk[members])
                .kneighbors(return_distance=False)
            ]
            imp = others[
                NearestNeighbors(n_neighbors=ki).fit(Xk[others])
                .kneighbors(Xk[members], return_distance=False)
            ]
            m = members.shape[0]
            anchor = np.repeat(members, kg * ki)
            genuine = np.repeat(gen.reshape(m, kg), ki, axis=1).ravel()
            impostor = np.tile(imp, (1, kg)).ravel()
            out.append(np.stack([anchor, genuine, impostor], axis=1))
        if not out:
            return np.empty((0, 3), dtype=np.intp)
        return known[np.concatenate(out)].astype(np.intp)


def _renamed(old_value, old, value, new):
    """``value``, or ``old_value`` with a ``FutureWarning`` when the caller
    used metric-learn's old name ``old`` of the argument ``new``."""
    if is_unset(old_value):
        return value
    warn_renamed("Constraints", old, new, old_value, stacklevel=3)
    return old_value


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def pairs_from_labels(name, y, n_constraints, random_state):
    """The pairs a ``*_Supervised`` learner fits on: ``n_constraints`` similar
    and as many dissimilar index pairs drawn from the class labels ``y``
    (``None``: ``20 * n_classes**2``), every label a class.

    ``name`` is the learner's, for the error when ``y`` has fewer than two
    classes. Returns ``(pairs, labels)`` as :meth:`Constraints.pairs` does.
    """
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 classes in y; got "
            f"{classes.shape[0]} class ({classes.tolist()})"
        )
    if n_constraints is None:
        n_constraints = 20 * classes.shape[0] ** 2
    return Constraints(y, unlabeled=None).pairs(n_constraints, random_state=random_state)


def quadruplets_from_labels(name, y, n_constraints, random_state):
    """The quadruplets a ``*_Supervised`` learner fits on: ``n_constraints``
    (``None``: ``20 * n_classes**2``) of :meth:`Constraints.quadruplets`
    drawn from the class labels ``y``, every label a class. ``name`` is the
    learner's, for the error when ``y`` has fewer than two classes."""
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 classes in y; got "
            f"{classes.shape[0]} class ({classes.tolist()})"
        )
    if n_constraints is None:
        n_constraints = 20 * classes.shape[0] ** 2
    return Constraints(y, unlabeled=None).quadruplets(n_constraints, random_state=random_state)
