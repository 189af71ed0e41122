"""Large-scale metric learning by mini-batch SGD over ``L``:
SGDMetricLearner (pairs; hinge or contrastive loss) and
SGDMetricLearner_Supervised (class labels; pair losses, or triplet losses with
negatives mined per batch), and what the SGD family shares."""

import math
import time
import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions, _fit_context
from ._kernels import sgd_triplets as _tk
from ._kernels.sgd import CONTRASTIVE, HINGE, pair_loss_grad, pair_sq_distances, sgd_steps
from .base import (
    MahalanobisMixin,
    PairsClassifierMixin,
    _best_threshold,
    _check_pair_labels,
    _check_tuple_labels,
    check_calibration_params,
    check_pairs,
    check_points,
    check_preprocessor,
    restore_on_error,
)

__all__ = ["SGDMetricLearner", "SGDMetricLearner_Supervised", "sgd_objective"]

# the losses, by the input they compare: pairs, or an anchor with a positive
# and negatives
PAIR_LOSSES = ("hinge", "contrastive")
TRIPLET_LOSSES = ("triplet", "infonce")
_LOSS_CODES = {"hinge": HINGE, "contrastive": CONTRASTIVE,
               "triplet": _tk.TRIPLET, "infonce": _tk.INFONCE}
MINERS = ("all", "hard", "semihard", "easy")
_MINER_CODES = {"all": _tk.ALL, "hard": _tk.HARD, "semihard": _tk.SEMIHARD,
                "easy": _tk.EASY}


class _LossConfig(namedtuple("_LossConfig", "name code alpha margin temperature miner")):
    """What the kernels need to know about the loss (travels to Dask tasks)."""

    @property
    def is_pair(self):
        return self.name in PAIR_LOSSES


def _run_steps(batch, L, etas, batch_size, cfg, precond):
    """Mini-batch steps on one epoch's (or one task's) batch of training
    tuples, whatever their kind; returns the map and the summed loss of each
    step.

    ``batch`` is ``('pairs', X, pairs, labels, order)``, ``('triplets', X,
    triplets, order)`` or ``('mined', X, codes, anchors, positives, u)``.
    """
    kind = batch[0]
    if kind == "pairs":
        _, X, pairs, labels, order = batch
        return sgd_steps(X, pairs, labels, order, L, etas, batch_size, cfg.alpha,
                         cfg.margin, precond, cfg.code)
    if kind == "triplets":
        _, X, triplets, order = batch
        return _tk.triplet_steps(X, triplets, order, L, etas, batch_size, cfg.code,
                                 cfg.margin, cfg.temperature, precond)
    _, X, codes, anchors, positives, u = batch
    return _tk.mined_steps(X, codes, anchors, positives, u, L, etas, batch_size,
                           cfg.code, _MINER_CODES[cfg.miner], cfg.margin,
                           cfg.temperature, precond)


def _batch_size_of(batch):
    """Number of training tuples (pairs, triplets or anchors) in ``batch``."""
    return batch[4].shape[0] if batch[0] != "triplets" else batch[3].shape[0]


# pairs sampled to estimate the scale of the differences and to scale the init
_N_SCALE_SAMPLE = 4096
# 'adaptive' divides the learning rate by this, and stops below _ETA_MIN
_ADAPTIVE_FACTOR = 5.0
_ETA_MIN = 1e-6


# --------------------------------------------------------------------------
# pair sources: points and index pairs into them
# --------------------------------------------------------------------------


class _PairSource:
    """Training pairs as row indices into a point array (never an
    ``(n_pairs, 2, d)`` copy when the caller gave indices)."""

    def __init__(self, X, pairs, labels):
        self.X = X
        self.pairs = pairs
        self.labels = labels

    @property
    def n_pairs(self):
        return self.pairs.shape[0]

    def differences(self, idx):
        p = self.pairs[idx]
        return self.X[p[:, 0]] - self.X[p[:, 1]]

    def batch(self, order):
        """The :func:`_run_steps` batch visiting the tuples in ``order``."""
        if self.labels is None:  # triplets
            return ("triplets", self.X, self.pairs, order)
        return ("pairs", self.X, self.pairs, self.labels, order)


def _index_dtype(pairs):
    """int32 index pairs stay int32 (half the memory); others become intp."""
    return pairs if pairs.dtype == np.int32 else pairs.astype(np.intp, copy=False)


def _check_index_tuples(tuples, X, n_features=None, name="pairs"):
    """Validate integer indices (pairs or triplets) into the array ``X``
    without gathering the points; None when they are not integral (the
    caller then lets :func:`check_pairs` raise its message)."""
    arr = np.asarray(tuples)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.intp)
        else:
            # the same checks and messages as check_pairs, on the full array
            return None
    n = X.shape[0]
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one tuple is required")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features: at least one is required")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= n:
        bad = arr[(arr < 0) | (arr >= n)].ravel()[:5]
        raise ValueError(
            f"{name} holds indices out of range for a preprocessor of "
            f"{n} samples: {bad.tolist()}"
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the estimator was fitted "
            f"with {n_features} features"
        )
    return np.ascontiguousarray(_index_dtype(arr))


def _check_index_pairs(pairs, y, X, n_features=None):
    """Validate ``(n, 2)`` integer indices into the array ``X`` and their pair
    labels without gathering the points."""
    arr = _check_index_tuples(pairs, X, n_features)
    if arr is None:
        return None
    if y is None:
        return arr
    y_arr = _check_pair_labels(_check_tuple_labels(y, arr.shape[0], "pairs"))
    return arr, y_arr.astype(np.int8)


def _pair_source(pairs, y, preprocessor, n_features=None):
    """A :class:`_PairSource` from validated pairs of either form.

    Index pairs into an array preprocessor are kept as indices; anything else
    is validated by :func:`check_pairs` and its points are addressed as rows of
    ``pairs.reshape(2 n, d)``.
    """
    arr = np.asarray(pairs) if not hasattr(pairs, "toarray") else pairs
    if (
        isinstance(preprocessor, np.ndarray)
        and isinstance(arr, np.ndarray)
        and arr.ndim == 2
        and arr.shape[1] == 2
    ):
        checked = _check_index_pairs(arr, y, preprocessor, n_features)
        if checked is not None:
            idx, labels = checked
            return _PairSource(preprocessor, idx, labels)
    points, labels = check_pairs(
        pairs, y, preprocessor=preprocessor, n_features=n_features,
        ensure_both_labels=True,
    )
    n, _, d = points.shape
    idx = np.arange(2 * n, dtype=np.intp).reshape(n, 2)
    return _PairSource(points.reshape(2 * n, d), idx, labels.astype(np.int8))


# --------------------------------------------------------------------------
# pairs drawn from class labels
# --------------------------------------------------------------------------


class _LabelPairSampler:
    """Draws similar and dissimilar index pairs from integer class codes,
    without listing the pairs that could be drawn.

    A similar pair takes its first point uniformly among the points whose
    class has a second point, and its partner uniformly among the other
    points of that class; a dissimilar pair takes its first point uniformly
    among all points and its partner uniformly among the points of the other
    classes.
    """

    def __init__(self, codes, n_classes):
        codes = np.asarray(codes, dtype=np.intp)
        n = codes.shape[0]
        self.codes = codes
        self.order = np.argsort(codes, kind="stable")
        self.counts = np.bincount(codes, minlength=n_classes)
        self.start = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.rank = np.empty(n, dtype=np.intp)
        self.rank[self.order] = np.arange(n) - self.start[codes[self.order]]
        self.with_partner = np.flatnonzero(self.counts[codes] >= 2)
        self.with_other = np.flatnonzero(self.counts[codes] < n)

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
        """The :func:`_run_steps` batch of ``m`` anchors, each with a positive
        of its class, and the uniform draws of the miners."""
        pairs = self._similar(m, rng)
        u = rng.random_sample(m)
        return ("mined", X, self.codes, np.ascontiguousarray(pairs[:, 0]),
                np.ascontiguousarray(pairs[:, 1]), u)

    def _similar(self, m, rng):
        first = self.with_partner[rng.randint(self.with_partner.shape[0], size=m)]
        c = self.codes[first]
        off = rng.randint(0, self.counts[c] - 1) if m else np.empty(0, dtype=np.intp)
        pos = self.start[c] + (self.rank[first] + 1 + off) % self.counts[c]
        return np.stack([first, self.order[pos]], axis=1)

    def _dissimilar(self, m, rng):
        n = self.codes.shape[0]
        first = self.with_other[rng.randint(self.with_other.shape[0], size=m)]
        c = self.codes[first]
        u = rng.randint(0, n - self.counts[c]) if m else np.empty(0, dtype=np.intp)
        pos = u + self.counts[c] * (u >= self.start[c])
        return np.stack([first, self.order[pos]], axis=1)


# --------------------------------------------------------------------------
# the objective (tests and benchmarks compare solutions with it)
# --------------------------------------------------------------------------


def sgd_objective(components, pairs, y, *, alpha=1.0, margin=1.0, loss="hinge",
                  preprocessor=None):
    """Mean pair loss of :class:`SGDMetricLearner` at ``components``.

    ``(1 / n) sum_i [y_i = +1] ||L d_i||^2 + alpha [y_i = -1] max(0, margin - ||L d_i||^2)``
    (``loss='hinge'``), or with ``max(0, margin - ||L d_i||)^2`` as the
    dissimilar term (``loss='contrastive'``).

    Parameters
    ----------
    components : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        Pairs of points, or indices into the array ``preprocessor``.
    y : array-like of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    alpha, margin : float
        As in :class:`SGDMetricLearner`.
    loss : {'hinge', 'contrastive'}, default='hinge'
    preprocessor : ndarray of shape (n_samples, n_features), optional

    Returns
    -------
    loss : float
    """
    if loss not in PAIR_LOSSES:
        raise ValueError(f"loss must be 'hinge' or 'contrastive'; got {loss!r}")
    source = _pair_source(pairs, y, check_preprocessor(preprocessor))
    L = np.ascontiguousarray(components, dtype=np.float64)
    value, _ = pair_loss_grad(source.X, source.pairs, source.labels, L,
                              float(alpha), float(margin), _LOSS_CODES[loss])
    return float(value)


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


def _preconditioner(diffs):
    """Per-feature step factors ``p`` making the similar term's curvature at
    most 1 in every direction.

    With ``s_j`` the mean of ``d_j^2`` over the sampled differences and
    ``lam`` the largest eigenvalue of their second-moment matrix rescaled to a
    unit diagonal, ``p_j = 1 / (s_j lam)``: the step no longer depends on the
    units of the features, and ``eta < 1`` is stable for the similar term.
    A feature that never varies gets ``p_j = 0`` (its gradient is zero).
    """
    d = diffs.shape[1]
    s = np.einsum("ij,ij->j", diffs, diffs) / max(diffs.shape[0], 1)
    varies = s > 0
    if not varies.any():
        return np.zeros(d)
    u = diffs[:, varies] / np.sqrt(s[varies])
    lam = float(np.linalg.eigvalsh(u.T @ u / diffs.shape[0])[-1])
    p = np.zeros(d)
    p[varies] = 1.0 / (s[varies] * max(lam, 1e-12))
    return p


class _Schedule:
    """Learning rate schedule and stopping rule of an estimator's parameters.

    ``t`` counts the steps taken (the 'invscaling' clock); :meth:`end_epoch`
    takes an epoch's loss and says whether to stop.
    """

    def __init__(self, est, t=0):
        self.kind = est.learning_rate
        self.eta0 = self.eta = float(est.eta0)
        self.power_t = float(est.power_t)
        self.tol = est.tol
        self.patience = est.n_iter_no_change
        self.t = t
        self.best = np.inf
        self.no_change = 0

    def etas(self, n_steps):
        """Learning rates of the next ``n_steps`` steps."""
        if self.kind == "invscaling":
            return self.eta0 / (1.0 + self.t + np.arange(n_steps)) ** self.power_t
        return np.full(n_steps, self.eta)

    def end_epoch(self, loss):
        if self.tol is None:
            return False
        if loss > self.best - self.tol * abs(self.best):
            self.no_change += 1
        else:
            self.no_change = 0
        self.best = min(self.best, loss)
        if self.no_change < self.patience:
            return False
        if self.kind == "adaptive" and self.eta / _ADAPTIVE_FACTOR >= _ETA_MIN:
            self.eta /= _ADAPTIVE_FACTOR
            self.no_change = 0
            return False
        return True


# an epoch loss this many times the first one means the steps are unstable
_DIVERGED = 1e4


def _check_diverged(L, history, eta0):
    """Raise when the map stopped being finite or the loss exploded."""
    if not np.all(np.isfinite(L)) or not history[-1] <= _DIVERGED * max(history[0], 1e-300):
        raise ValueError(
            f"SGD diverged at epoch {len(history)} (loss {history[-1]:.3g} after "
            f"{history[0]:.3g} at the first epoch); lower eta0={eta0}"
        )


def _report(est, epoch, loss, eta, rate, unit="pairs"):
    """The verbose progress line of an epoch."""
    print(
        f"[{type(est).__name__}] epoch {epoch:4d}  loss {loss:.6g}  eta {eta:.3g}  "
        f"{rate:,.0f} {unit}/s"
    )


def _initial_components(init, k, d, points, diffs, margin, rng):
    """``init`` as a ``(k, d)`` map; a named init is scaled so that the mean
    squared learned length of the sampled differences ``diffs`` is ``margin``."""
    if not isinstance(init, str):
        L = np.asarray(init, dtype=np.float64)
        if L.ndim != 2 or L.shape != (k, d):
            raise ValueError(
                f"init must have shape ({k}, {d}) (n_components, n_features); "
                f"got shape {L.shape}"
            )
        if not np.all(np.isfinite(L)):
            raise ValueError("init contains NaN or infinity")
        return np.ascontiguousarray(L)
    if init == "auto":
        init = "identity" if k == d else "pca"
    if init == "identity":
        L = np.eye(k, d)
    elif init == "pca":
        centred = points - points.mean(axis=0)
        _, _, Vt = np.linalg.svd(centred, full_matrices=False)
        L = np.zeros((k, d))
        L[: min(k, Vt.shape[0])] = Vt[:k]
    else:  # random
        L = rng.standard_normal((k, d))
    sq = np.einsum("ij,ij->i", diffs @ L.T, diffs @ L.T)
    mean_sq = float(sq.mean()) if sq.size else 0.0
    if mean_sq > 0:
        L *= math.sqrt(margin / mean_sq)
    return np.ascontiguousarray(L)


class _BaseSGD(MahalanobisMixin, BaseEstimator):
    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "loss": [StrOptions(set(PAIR_LOSSES + TRIPLET_LOSSES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "init": [StrOptions({"auto", "identity", "pca", "random"}), np.ndarray],
        "warm_start": ["boolean"],
        "backend": [StrOptions({"local", "dask"})],
        "scheduler": [str, None],
        "local_steps": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
    }

    # the losses the class learns with, and where to go for the others
    _losses = PAIR_LOSSES
    _other_losses_hint = ""

    def __init__(self, *, n_components=None, loss="hinge", alpha=1.0, margin=1.0,
                 learning_rate="adaptive", eta0=0.5, power_t=0.5, batch_size=1024,
                 max_iter=100, tol=1e-3, n_iter_no_change=5, shuffle=True,
                 init="auto", warm_start=False, backend="local", scheduler=None,
                 local_steps=50, verbose=0, preprocessor=None, random_state=None):
        self.n_components = n_components
        self.loss = loss
        self.alpha = alpha
        self.margin = margin
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.init = init
        self.warm_start = warm_start
        self.backend = backend
        self.scheduler = scheduler
        self.local_steps = local_steps
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    # ---------------------------------------------------------------- set-up

    def _loss_config(self):
        """The loss as the kernels take it; a loss this class cannot learn
        with is a ``ValueError`` that says which class can."""
        name = self.loss
        if name not in self._losses:
            wants = "triplets or class labels" if name in TRIPLET_LOSSES else "pairs"
            raise ValueError(
                f"loss={name!r} needs {wants}; {type(self).__name__} learns with "
                f"loss in {list(self._losses)}{self._other_losses_hint}"
            )
        miner = getattr(self, "miner", "all")
        if name in PAIR_LOSSES and miner != "all":
            raise ValueError(
                f"miner={miner!r} selects the negatives of the triplet losses; with "
                f"loss={name!r} the pairs are drawn at random: use miner='all', or "
                "loss='triplet' or 'infonce'"
            )
        return _LossConfig(name, _LOSS_CODES[name], float(getattr(self, "alpha", 1.0)),
                           float(self.margin), float(getattr(self, "temperature", 1.0)),
                           miner)

    def _init_scale(self):
        """Mean squared learned length of the sampled differences at the start:
        the margin, which the contrastive loss puts on the distance itself."""
        margin = float(self.margin)
        return margin * margin if self.loss == "contrastive" else margin

    def _n_components(self, d):
        k = d if self.n_components is None else self.n_components
        if k > d:
            raise ValueError(
                f"n_components={k} must be at most the number of features ({d})"
            )
        return k

    def _start(self, X, pairs, rng):
        """The diagonal preconditioner and the starting map, from a sample of
        the pairs (or of the triplets: their anchor-positive and
        anchor-negative differences)."""
        sample = rng.randint(pairs.shape[0], size=min(pairs.shape[0], _N_SCALE_SAMPLE))
        p = pairs[sample]
        if pairs.shape[1] == 3:
            first = X[np.concatenate([p[:, 0], p[:, 0]])]
            return self._start_from_sample(first, X[np.concatenate([p[:, 1], p[:, 2]])], rng)
        return self._start_from_sample(X[p[:, 0]], X[p[:, 1]], rng)

    def _start_from_sample(self, first, second, rng):
        """:meth:`_start` from the points of the sampled pairs."""
        diffs = first - second
        precond = _preconditioner(diffs)
        d = diffs.shape[1]
        k = self._n_components(d)
        if self.warm_start and hasattr(self, "components_"):
            if self.components_.shape != (k, d):
                raise ValueError(
                    f"warm_start needs components_ of shape ({k}, {d}); the "
                    f"fitted ones have shape {self.components_.shape}"
                )
            L = self.components_.copy()
        else:
            points = np.concatenate([first, second])
            L = _initial_components(self.init, k, d, points, diffs, self._init_scale(), rng)
        return precond, L

    # -------------------------------------------------------------- training

    def _local_epochs(self, draw_epoch, L, precond, n_epochs, rng, stop_early):
        """Run epochs of the local backend.

        ``draw_epoch(rng)`` returns the :func:`_run_steps` batch of one epoch.
        Returns the map, the loss history, the number of epochs and whether
        the stopping criterion was met.
        """
        cfg = self._loss_config()
        B = int(self.batch_size)
        schedule = _Schedule(self, t=0 if stop_early else getattr(self, "t_", 0))
        history = []
        epoch, converged = 0, False
        for epoch in range(1, n_epochs + 1):
            batch = draw_epoch(rng)
            n_items = _batch_size_of(batch)
            n_steps = -(-n_items // B)
            tic = time.perf_counter()
            L, losses = _run_steps(batch, L, schedule.etas(n_steps), B, cfg, precond)
            elapsed = time.perf_counter() - tic
            schedule.t += n_steps
            loss = float(losses.sum()) / max(n_items, 1)
            history.append(loss)
            _check_diverged(L, history, self.eta0)
            if self.verbose:
                _report(self, epoch, loss, schedule.eta, n_items / max(elapsed, 1e-12),
                        self._unit(cfg))
            if stop_early and schedule.end_epoch(loss):
                converged = True
                break
        self.t_ = schedule.t
        return L, history, epoch, converged

    @staticmethod
    def _unit(cfg):
        """What the verbose throughput counts."""
        return "pairs" if cfg.is_pair else "triplets"

    def _finish(self, L, history, n_iter, converged, *, partial, stacklevel=5):
        if partial:
            self.objective_history_ = np.concatenate(
                [getattr(self, "objective_history_", np.empty(0)), history]
            )
            self.n_iter_ = getattr(self, "n_iter_", 0) + n_iter
        else:
            self.objective_history_ = np.asarray(history, dtype=np.float64)
            self.n_iter_ = n_iter
            if not converged and self.tol is not None:
                warnings.warn(
                    f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                    f"epochs (tol={self.tol}); increase max_iter or tol",
                    ConvergenceWarning,
                    stacklevel=stacklevel,
                )
        self.components_ = L
        self.converged_ = converged

    def _fit_source(self, source, rng, *, partial=False):
        """Train on a :class:`_PairSource` (pairs or triplets) with the local
        backend."""
        X, pairs = source.X, source.pairs
        n = pairs.shape[0]
        if partial and hasattr(self, "components_"):
            precond, L = self.preconditioner_, self.components_
        else:
            precond, L = self._start(X, pairs, rng)

        def draw_epoch(rng):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            return source.batch(order)

        n_epochs = 1 if partial else self.max_iter
        L, history, n_iter, converged = self._local_epochs(
            draw_epoch, L, precond, n_epochs, rng, stop_early=not partial
        )
        self.preconditioner_ = precond
        self._finish(L, history, n_iter, converged, partial=partial)


class SGDMetricLearner(PairsClassifierMixin, _BaseSGD):
    r"""Metric learning from pairs by mini-batch SGD on a pair loss over ``L``.

    With ``loss='hinge'`` (the default):

    .. math::

        \min_{L \in \mathbb{R}^{k \times d}} \;
        \frac{1}{n} \Big( \sum_{(x, x') \in S} \|L(x - x')\|^2
        + \alpha \sum_{(x, x') \in D} \max\big(0,\, m - \|L(x - x')\|^2\big) \Big)

    and with ``loss='contrastive'`` (Chopra et al. [2]_; the margin is on the
    distance, and the dissimilar term is a squared hinge):

    .. math::

        \min_{L \in \mathbb{R}^{k \times d}} \;
        \frac{1}{n} \Big( \sum_{(x, x') \in S} \|L(x - x')\|^2
        + \alpha \sum_{(x, x') \in D} \max\big(0,\, m - \|L(x - x')\|\big)^2 \Big)

    where

    - :math:`S` are the similar pairs (``y == +1``), :math:`D` the dissimilar
      ones (``y == -1``), :math:`n` the number of pairs;
    - :math:`\alpha` is ``alpha``, :math:`m` is ``margin``;
    - :math:`k` is ``n_components`` (at most :math:`d`, the number of
      features); the learned metric is :math:`M = L^T L`.

    The contrastive loss is differentiable everywhere except at dissimilar
    pairs of learned length zero, where the step ignores the pair. The
    triplet losses ('triplet', 'infonce') compare an anchor's distances to
    a positive and to negatives: they are learned from triplets by
    :class:`SGDTripletLearner` and from class labels by
    :class:`SGDMetricLearner_Supervised`.

    Similar pairs are pulled together; dissimilar pairs are pushed apart until
    their squared learned distance reaches the margin, and no further, so the
    loss is bounded below and the trivial map ``L = 0`` (loss
    :math:`\alpha m |D| / n`) is not optimal once a similar pair is shorter
    than the dissimilar ones. The problem is learned directly over ``L``
    (after Xie and Xing's large-scale formulation [1]_): no
    eigen-decomposition and no projection, each step costs
    :math:`O(B k d)` for a batch of :math:`B` pairs, and the pairs are never
    gathered into one array when given as indices into ``preprocessor``.

    **Scaling.** The loss is a *mean* over the pairs of a batch, so a step
    does not grow with the batch size. Each step is further multiplied,
    feature by feature, by a fixed preconditioner ``preconditioner_``
    (estimated once on a sample of pairs): :math:`p_j = 1 / (s_j \lambda)`,
    with :math:`s_j` the mean of :math:`d_j^2` over the sampled differences
    and :math:`\lambda` the largest eigenvalue of their unit-diagonal second
    moment matrix. It caps the curvature of the similar term at 1 in every
    direction, so ``eta0`` is a relative step whose meaning does not depend
    on the units of the features (``eta0 < 1`` is stable for the similar
    term). Named
    ``init`` maps are scaled so that the mean squared learned distance of the
    pairs starts at ``margin``.

    **Schedules.** With :math:`t` the number of steps taken,
    ``'constant'``: :math:`\eta = \eta_0`; ``'invscaling'``:
    :math:`\eta = \eta_0 / (1 + t)^{\text{power\_t}}`; ``'adaptive'``:
    :math:`\eta = \eta_0` until the epoch loss has not decreased by ``tol``
    (relative) for ``n_iter_no_change`` epochs, then :math:`\eta / 5`,
    stopping when :math:`\eta` would fall below ``1e-6``. The other schedules
    stop at the first such stall. (scikit-learn's ``'optimal'`` schedule
    assumes a strongly convex regularised loss, which this one is not, so it
    is not offered.)

    **Backends.** ``backend='local'`` runs numba-compiled mini-batch steps
    (two BLAS matrix products per batch) in this process, deterministically
    for a fixed ``random_state``. ``backend='dask'`` trains on a Dask cluster
    (``scheduler``: an address, or ``None`` for the current default client):
    ``fit`` keeps the map, each data shard runs ``local_steps`` steps from a
    snapshot of it in a task, and the returned changes are applied as they
    arrive, scaled by one over the number of shards. Dask is an optional
    dependency (``pip install "metriclearn[dask]"``).

    Parameters
    ----------
    n_components : int, default=None
        Rows of ``L`` (the dimension of the learned space); ``None`` means
        ``n_features``.
    loss : {'hinge', 'contrastive'}, default='hinge'
        The pair loss (see above).
    alpha : float, default=1.0
        Weight of the dissimilar term.
    margin : float, default=1.0
        Learned distance beyond which a dissimilar pair costs nothing:
        squared for 'hinge', not squared for 'contrastive'.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='adaptive'
        Learning rate schedule (see above).
    eta0 : float, default=0.5
        Initial (relative) learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    batch_size : int, default=1024
        Pairs per mini-batch step.
    max_iter : int, default=100
        Maximum number of epochs (passes over the pairs).
    tol : float or None, default=1e-3
        Relative decrease of the epoch loss that counts as progress; ``None``
        runs ``max_iter`` epochs.
    n_iter_no_change : int, default=5
        Epochs without progress before the schedule stops (or, for
        'adaptive', lowers the learning rate).
    shuffle : bool, default=True
        Visit the pairs in a new random order each epoch (with the Dask
        backend: draw each task's batches at random from its shard).
    init : {'auto', 'identity', 'pca', 'random'} or ndarray, default='auto'
        Starting map: the identity (or its first ``n_components`` rows), the
        leading principal directions of the points, a Gaussian random matrix
        (each scaled as described above), or an array of shape
        ``(n_components, n_features)`` used as given. 'auto' is 'identity'
        when ``n_components == n_features`` and 'pca' otherwise.
    warm_start : bool, default=False
        Start ``fit`` from the fitted ``components_``.
    backend : {'local', 'dask'}, default='local'
        Where to train (see above). :meth:`partial_fit` always runs locally.
    scheduler : str or None, default=None
        Address of the Dask scheduler for ``backend='dask'``; ``None`` uses
        the current default client. A connection opened from an address is
        closed when ``fit`` returns.
    local_steps : int, default=50
        Mini-batch steps per Dask task.
    verbose : int, default=0
        Print epoch, loss, learning rate and pairs per second after each epoch.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``pairs`` be given as ``(n_pairs, 2)`` integer indices. With an
        array they are used as indices directly (int32 indices are kept as
        int32), the scalable form for many pairs.
    random_state : int, RandomState instance or None, default=None
        Seed of the pair order, of the scale sample and of ``init='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    n_iter_ : int
        Number of epochs run.
    objective_history_ : ndarray of shape (`n_iter_`,)
        Mean loss per pair of each epoch, as met by its batches.
    converged_ : bool
        Whether the stopping criterion was met before ``max_iter``.
    preconditioner_ : ndarray of shape (n_features,)
        The per-feature factor multiplying every step (see Scaling).
    t_ : int
        Number of mini-batch steps taken (the 'invscaling' clock).
    threshold_ : float
        Pairs at a learned distance at most this are predicted similar.
    n_updates_ : int
        Dask backend only: number of task results applied to the map.
    update_keys_ : ndarray of shape (`n_updates_`, 2)
        Dask backend only: the ``(shard, round)`` of each applied result, in
        the order applied; each appears once.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    SGDMetricLearner_Supervised : the same learner, from class labels.
    SGDTripletLearner : the triplet losses, from triplets.

    References
    ----------
    .. [1] P. Xie, E. P. Xing. "Large scale distributed distance metric
           learning". arXiv:1412.5949, 2014.
    .. [2] S. Chopra, R. Hadsell, Y. LeCun. "Learning a similarity metric
           discriminatively, with application to face verification".
           CVPR 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import SGDMetricLearner
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]], [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]], [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> sgd = SGDMetricLearner(random_state=0).fit(pairs, y)
    >>> sgd.predict(pairs).tolist()
    [1, 1, -1, -1]
    """

    _other_losses_hint = (
        "; for the triplet losses use SGDTripletLearner (triplets) or "
        "SGDMetricLearner_Supervised (class labels)"
    )

    def _validate_fit_input(self, pairs, y, calibration_params):
        self._loss_config()
        calibration_params = check_calibration_params(calibration_params)
        return calibration_params

    def _calibrate(self, source, calibration_params):
        dist = np.sqrt(pair_sq_distances(source.X, source.pairs, self.components_))
        self.threshold_ = _best_threshold(
            dist, source.labels,
            calibration_params.get("strategy", "accuracy"),
            calibration_params.get("min_rate"),
            calibration_params.get("beta", 1.0),
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, pairs, y, calibration_params=None):
        """Learn the metric from labelled pairs, then calibrate ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or integer indices into ``preprocessor``. With
            ``backend='dask'`` also a Dask array of shape
            ``(n_pairs, 2, n_features)``.
        y : array-like of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.
        calibration_params : dict, optional
            Keyword arguments of :meth:`calibrate_threshold` (default: strategy
            'accuracy').

        Returns
        -------
        self
        """
        calibration_params = self._validate_fit_input(pairs, y, calibration_params)
        with restore_on_error(self):
            for name in ("n_updates_", "update_keys_"):
                vars(self).pop(name, None)
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            rng = check_random_state(self.random_state)
            if self.backend == "dask":
                from ._distributed import fit_pairs

                fit_pairs(self, pairs, y, rng, calibration_params)
                return self
            source = _pair_source(pairs, y, self.preprocessor_)
            self.n_features_in_ = source.X.shape[1]
            self._fit_source(source, rng)
            self._calibrate(source, calibration_params)
        return self

    def partial_fit(self, pairs, y, calibration_params=None):
        """One epoch of SGD over a batch of labelled pairs (for streams).

        The first call starts the map as ``fit`` does; later calls continue
        from it with the same ``preconditioner_`` and schedule clock ``t_``
        (the 'adaptive' schedule keeps ``eta0``). ``threshold_`` is
        recalibrated on the pairs of each call. Always runs locally.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y : array-like of shape (n_pairs,), values in {-1, +1}
        calibration_params : dict, optional
            Keyword arguments of :meth:`calibrate_threshold`.

        Returns
        -------
        self
        """
        first = not hasattr(self, "components_")
        if first:
            self._validate_params()
        calibration_params = self._validate_fit_input(pairs, y, calibration_params)
        with restore_on_error(self):
            if first:
                self.preprocessor_ = check_preprocessor(self.preprocessor)
            source = _pair_source(pairs, y, self.preprocessor_,
                                  None if first else self.n_features_in_)
            self.n_features_in_ = source.X.shape[1]
            rng = check_random_state(self.random_state)
            if not first:
                # a different order for each call, reproducible from the seed
                rng = np.random.RandomState(rng.randint(2**31 - 1) + self.t_)
            self._fit_source(source, rng, partial=True)
            self._calibrate(source, calibration_params)
        return self


class SGDMetricLearner_Supervised(_BaseSGD):
    r"""Metric learning from class labels by mini-batch SGD over ``L``, on a
    pair loss or on a triplet loss with negatives mined in each batch.

    **Pair losses.** ``loss='hinge'`` (the default):

    .. math::

        \min_{L \in \mathbb{R}^{k \times d}} \;
        \mathbb{E}_{(x, x') \sim S} \|L(x - x')\|^2
        + \alpha\, \mathbb{E}_{(x, x') \sim D} \max\big(0,\, m - \|L(x - x')\|^2\big)

    where :math:`S` are pairs of points of the same class and :math:`D` pairs
    of points of different classes, drawn afresh for every epoch
    (``n_constraints`` of each kind, alternating, so every mini-batch holds as
    many of both), :math:`\alpha` is ``alpha`` and :math:`m` is ``margin``.
    ``loss='contrastive'`` (Chopra et al. [2]_) replaces the dissimilar term
    by :math:`\alpha \max(0, m - \|L(x - x')\|)^2`: a squared hinge on the
    distance, not on its square.

    **Triplet losses.** Each epoch draws ``n_constraints`` anchors :math:`a`,
    each with a positive :math:`p` of its class. A mini-batch of :math:`B`
    anchors holds :math:`2B` points (the anchors and their positives); the
    candidate negatives of an anchor are the batch's points of other classes,
    and ``miner`` keeps a set :math:`N_a` of them. With
    :math:`d^2(a, x) = \|L(a - x)\|^2`, the loss of an anchor is, for
    ``loss='triplet'`` (Schroff et al. [3]_),

    .. math::

        \ell_a = \frac{1}{|N_a|} \sum_{n \in N_a}
        \max\big(0,\ d^2(a, p) - d^2(a, n) + m\big),

    and for ``loss='infonce'`` (a softmax over the positive and the mined
    negatives, with temperature :math:`\tau` = ``temperature``; the N-pair
    loss of Sohn [4]_ with the similarity :math:`-d^2/\tau` instead of an
    inner product, so that it depends on differences only, as a metric does)

    .. math::

        \ell_a = -\log \frac{e^{-d^2(a, p) / \tau}}
        {e^{-d^2(a, p) / \tau} + \sum_{n \in N_a} e^{-d^2(a, n) / \tau}}
        = \log\Big(1 + \sum_{n \in N_a} e^{(d^2(a, p) - d^2(a, n)) / \tau}\Big),

    with :math:`\ell_a = 0` when :math:`N_a` is empty; a step follows the
    gradient of the batch's mean :math:`\ell_a`. The miners, with all
    distances at the map before the step:

    - ``'all'``: every candidate;
    - ``'hard'``: the closest candidate;
    - ``'semihard'``: one candidate drawn uniformly among those with
      :math:`d^2(a, p) < d^2(a, n) < d^2(a, p) + m`;
    - ``'easy'``: one candidate drawn uniformly among those with
      :math:`d^2(a, n) \ge d^2(a, p) + m` (beyond the margin: they carry no
      triplet loss, only an InfoNCE one).

    The pairs, anchors and positives are drawn from the labels as indices
    into ``X``; no list of all possible pairs or triplets is ever made.
    Everything else (scaling, schedules, backends) is as in
    :class:`SGDMetricLearner`.

    Parameters
    ----------
    n_components : int, default=None
        Rows of ``L``; ``None`` means ``n_features``.
    loss : {'hinge', 'contrastive', 'triplet', 'infonce'}, default='hinge'
        The loss (see above).
    alpha : float, default=1.0
        Weight of the dissimilar term of the pair losses.
    margin : float, default=1.0
        The margin :math:`m`: on the squared distance for 'hinge', 'triplet'
        and the miners, on the distance for 'contrastive'.
    temperature : float, default=0.5
        Temperature :math:`\tau` of 'infonce'.
    miner : {'all', 'hard', 'semihard', 'easy'}, default='all'
        Which negatives of the batch each anchor is compared with (triplet
        losses only; the pair losses draw their pairs at random).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='adaptive'
        Learning rate schedule.
    eta0 : float, default=0.5
        Initial (relative) learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    batch_size : int, default=1024
        Pairs (anchors, for the triplet losses) per mini-batch step.
    max_iter : int, default=100
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Relative decrease of the epoch loss that counts as progress.
    n_iter_no_change : int, default=5
        Epochs without progress before the schedule stops or lowers the rate.
    shuffle : bool, default=True
        Kept for a common vocabulary: the pairs are drawn at random anyway.
    n_constraints : int, default=None
        Similar and dissimilar pairs drawn per epoch (each), or anchors per
        epoch for the triplet losses; ``None`` means
        ``max(n_samples, batch_size // 2)``.
    init : {'auto', 'identity', 'pca', 'random'} or ndarray, default='auto'
        Starting map (see :class:`SGDMetricLearner`).
    warm_start : bool, default=False
        Start ``fit`` from the fitted ``components_``.
    backend : {'local', 'dask'}, default='local'
        Where to train. With 'dask' each shard (a block of rows of ``X``)
        draws its pairs among its own points.
    scheduler : str or None, default=None
        Dask scheduler address, or ``None`` for the current default client.
    local_steps : int, default=50
        Mini-batch steps per Dask task.
    verbose : int, default=0
        Print progress after each epoch.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the pairs (or anchors, positives and mined choices) drawn and
        of ``init='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    n_iter_ : int
        Number of epochs run.
    objective_history_ : ndarray of shape (`n_iter_`,)
        Mean loss per pair (per anchor) of each epoch's drawn pairs (anchors).
    converged_ : bool
        Whether the stopping criterion was met before ``max_iter``.
    preconditioner_ : ndarray of shape (n_features,)
        The per-feature factor multiplying every step (see
        :class:`SGDMetricLearner`).
    t_ : int
        Number of mini-batch steps taken.
    n_updates_ : int
        Dask backend only: number of task results applied.
    update_keys_ : ndarray of shape (`n_updates_`, 2)
        Dask backend only: ``(shard, round)`` of each applied result.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    References
    ----------
    .. [1] P. Xie, E. P. Xing. "Large scale distributed distance metric
           learning". arXiv:1412.5949, 2014.
    .. [2] S. Chopra, R. Hadsell, Y. LeCun. "Learning a similarity metric
           discriminatively, with application to face verification".
           CVPR 2005.
    .. [3] F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet: a unified
           embedding for face recognition and clustering". CVPR 2015.
    .. [4] K. Sohn. "Improved deep metric learning with multi-class N-pair
           loss objective". NeurIPS 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import SGDMetricLearner_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(SGDMetricLearner_Supervised(random_state=0),
    ...                       KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseSGD._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "miner": [StrOptions(set(MINERS))],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
    }
    _losses = PAIR_LOSSES + TRIPLET_LOSSES

    def __init__(self, *, n_components=None, loss="hinge", alpha=1.0, margin=1.0,
                 temperature=0.5, miner="all", learning_rate="adaptive", eta0=0.5,
                 power_t=0.5, batch_size=1024, max_iter=100, tol=1e-3,
                 n_iter_no_change=5, shuffle=True, n_constraints=None, init="auto",
                 warm_start=False, backend="local", scheduler=None, local_steps=50,
                 verbose=0, preprocessor=None, random_state=None):
        super().__init__(
            n_components=n_components, loss=loss, alpha=alpha, margin=margin,
            learning_rate=learning_rate, eta0=eta0, power_t=power_t,
            batch_size=batch_size, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, shuffle=shuffle, init=init,
            warm_start=warm_start, backend=backend, scheduler=scheduler,
            local_steps=local_steps, verbose=verbose, preprocessor=preprocessor,
            random_state=random_state,
        )
        self.temperature = temperature
        self.miner = miner
        self.n_constraints = n_constraints

    @staticmethod
    def _unit(cfg):
        return "pairs" if cfg.is_pair else "anchors"

    def _pairs_per_epoch(self, n_samples):
        if self.n_constraints is not None:
            return int(self.n_constraints)
        return max(n_samples, int(self.batch_size) // 2)

    def _sampler(self, y):
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; got "
                f"{classes.shape[0]} class ({classes.tolist()})"
            )
        sampler = _LabelPairSampler(codes.ravel(), classes.shape[0])
        if sampler.with_partner.size == 0:
            raise ValueError(
                f"{type(self).__name__} needs a class with at least 2 samples "
                "to draw similar pairs; every class in y has a single sample"
            )
        return sampler

    def _fit_labels(self, X, y, rng, *, partial=False):
        cfg = self._loss_config()
        sampler = self._sampler(y)
        X = np.ascontiguousarray(X, dtype=np.float64)
        m = self._pairs_per_epoch(X.shape[0])
        first_pairs, first_labels = sampler.draw(m, rng)
        if partial and hasattr(self, "components_"):
            precond, L = self.preconditioner_, self.components_
        else:
            precond, L = self._start(X, first_pairs, rng)
        drawn = [(first_pairs, first_labels)] if cfg.is_pair else []

        def draw_epoch(rng):
            if not cfg.is_pair:
                return sampler.anchor_batch(X, m, rng)
            pairs, labels = drawn.pop() if drawn else sampler.draw(m, rng)
            return "pairs", X, pairs, labels, np.arange(pairs.shape[0])

        n_epochs = 1 if partial else self.max_iter
        L, history, n_iter, converged = self._local_epochs(
            draw_epoch, L, precond, n_epochs, rng, stop_early=not partial
        )
        self.preconditioner_ = precond
        self._finish(L, history, n_iter, converged, partial=partial)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``). With
            ``backend='dask'`` also a Dask array.
        y : array-like of shape (n_samples,)
            Class labels (with ``backend='dask'`` also a Dask array).

        Returns
        -------
        self
        """
        self._loss_config()
        with restore_on_error(self):
            for name in ("n_updates_", "update_keys_"):
                vars(self).pop(name, None)
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            rng = check_random_state(self.random_state)
            if self.backend == "dask":
                from ._distributed import fit_labels

                fit_labels(self, X, y, rng)
                return self
            X, y = check_points(self, X, y=y, reset=True, ensure_min_samples=2)
            self._fit_labels(X, y, rng)
        return self

    def partial_fit(self, X, y):
        """One epoch of SGD on pairs drawn from a batch of labelled points.

        The first call starts the map as ``fit`` does; later calls continue
        from it. Pairs are drawn among the points of each call. Always runs
        locally.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        first = not hasattr(self, "components_")
        if first:
            self._validate_params()
        with restore_on_error(self):
            if first:
                self.preprocessor_ = check_preprocessor(self.preprocessor)
            X, y = check_points(self, X, y=y, reset=first, ensure_min_samples=2)
            rng = check_random_state(self.random_state)
            if not first:
                rng = np.random.RandomState(rng.randint(2**31 - 1) + self.t_)
            self._fit_labels(X, y, rng, partial=True)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
