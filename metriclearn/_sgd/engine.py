"""The SGD engine: training settings, the starting map and preconditioner,
the learning-rate schedule, the divergence check, and the local training
loop :func:`train_local`. Arrays and settings in, a
:class:`~metriclearn._result.FitResult` out; nothing here knows an estimator."""

import math
import time
from dataclasses import dataclass

import numpy as np

from .._linalg import check_n_components
from .._progress import current
from .._result import FitResult
from .losses import LossConfig

__all__ = [
    "TrainingSettings",
    "check_diverged",
    "preconditioner",
    "report",
    "start",
    "start_from_sample",
    "train_local",
    "Schedule",
]

# pairs sampled to estimate the scale of the differences and to scale the init
N_SCALE_SAMPLE = 4096
# 'adaptive' divides the learning rate by this, and stops below _ETA_MIN
_ADAPTIVE_FACTOR = 5.0
_ETA_MIN = 1e-6


@dataclass(frozen=True)
class TrainingSettings:
    """Everything the engine and the Dask driver need from an estimator's
    parameters (plain values, so that it travels to Dask tasks)."""

    name: str  # the estimator's class name, for progress lines and errors
    unit: str  # what the throughput counts: pairs, triplets or anchors
    loss: LossConfig
    n_components: int | None
    init: object
    warm_components: np.ndarray | None
    learning_rate: str
    eta0: float
    power_t: float
    batch_size: int
    max_iter: int
    tol: float | None
    n_iter_no_change: int
    shuffle: bool
    local_steps: int
    n_constraints: int | None = None
    sampling: str = "random"  # from labels: 'neighbors' or 'random' positives
    n_neighbors: int = 3

    @property
    def init_scale(self):
        """Mean squared learned length of the sampled differences at the start:
        the margin (squared, for the contrastive and lifted losses, which put
        it on the distance itself). On the unit sphere the scale of ``L``
        leaves the losses unchanged; it sets the size of the steps instead,
        and the sampled points start at a mean squared length of 1."""
        if self.loss.normalize:
            return 1.0
        margin = self.loss.margin
        return margin * margin if self.loss.name in ("contrastive", "lifted") else margin

    def per_epoch(self, n_samples, n_distinct=None):
        """Pairs of each kind (or anchors) drawn from labels per epoch, and
        the warning (``(category, message)`` for :class:`FitResult`) when
        ``n_constraints`` was cut.

        ``n_constraints`` beyond ``n_distinct``, the distinct tuples the
        labels allow (and beyond the default), is cut to that: an epoch is
        drawn at once, so its size bounds the memory of a fit."""
        default = max(n_samples, int(self.batch_size) // 2)
        if self.n_constraints is None:
            return default, None
        m = int(self.n_constraints)
        limit = default if n_distinct is None else max(default, int(n_distinct))
        if m <= limit:
            return m, None
        return limit, (UserWarning, (
            f"n_constraints={m} is more than the {limit} distinct tuples the labels allow; "
            f"an epoch draws {limit} (more epochs, max_iter, draw more)"))


def preconditioner(diffs):
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


class Schedule:
    """Learning rate schedule and stopping rule of the training settings.

    ``t`` counts the steps taken (the 'invscaling' clock); :meth:`end_epoch`
    takes an epoch's loss and says whether to stop.
    """

    def __init__(self, settings, t=0):
        self.kind = settings.learning_rate
        self.eta0 = self.eta = float(settings.eta0)
        self.power_t = float(settings.power_t)
        self.tol = settings.tol
        self.patience = settings.n_iter_no_change
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


def check_diverged(L, history, eta0):
    """Raise when the map stopped being finite or the loss exploded."""
    if not np.all(np.isfinite(L)) or not history[-1] <= _DIVERGED * max(history[0], 1e-300):
        raise ValueError(
            f"SGD diverged at epoch {len(history)} (loss {history[-1]:.3g} after "
            f"{history[0]:.3g} at the first epoch); lower eta0={eta0}"
        )


def report(settings, epoch, loss, eta, rate):
    """The progress line of an epoch (:func:`metriclearn._progress.current`)."""
    current().update(epoch, f"loss {loss:.6g}  eta {eta:.3g}  {rate:,.0f} {settings.unit}/s")


def _initial_components(init, k, d, points, diffs, margin, rng, on_points=False):
    """``init`` as a ``(k, d)`` map; a named init is scaled so that the mean
    squared learned length of the sampled differences ``diffs`` (of the
    sampled ``points`` with ``on_points``) is ``margin``."""
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
    sample = points if on_points else diffs
    sq = np.einsum("ij,ij->i", sample @ L.T, sample @ L.T)
    mean_sq = float(sq.mean()) if sq.size else 0.0
    if mean_sq > 0:
        L *= math.sqrt(margin / mean_sq)
    return np.ascontiguousarray(L)


def start_from_sample(first, second, settings, rng):
    """The diagonal preconditioner and the starting map, from the points of
    a sample of training pairs (``first[i]`` against ``second[i]``)."""
    diffs = first - second
    precond = preconditioner(diffs)
    d = diffs.shape[1]
    k = d if settings.n_components is None else settings.n_components
    check_n_components(k, d)
    if settings.warm_components is not None:
        if settings.warm_components.shape != (k, d):
            raise ValueError(
                f"warm_start needs components_ of shape ({k}, {d}); the "
                f"fitted ones have shape {settings.warm_components.shape}"
            )
        L = settings.warm_components.copy()
    else:
        points = np.concatenate([first, second])
        L = _initial_components(settings.init, k, d, points, diffs, settings.init_scale, rng,
                                on_points=settings.loss.normalize)
    return precond, L


def start(X, tuples, settings, rng):
    """:func:`start_from_sample` on a sample of index pairs (or of index
    triplets: their anchor-positive and anchor-negative differences) into ``X``."""
    sample = rng.randint(tuples.shape[0], size=min(tuples.shape[0], N_SCALE_SAMPLE))
    p = tuples[sample]
    if tuples.shape[1] == 3:
        first = X[np.concatenate([p[:, 0], p[:, 0]])]
        return start_from_sample(first, X[np.concatenate([p[:, 1], p[:, 2]])], settings, rng)
    return start_from_sample(X[p[:, 0]], X[p[:, 1]], settings, rng)


def train_local(draw_epoch, L, precond, settings, rng, *, partial=False, t=0):
    """Epochs of mini-batch SGD in this process.

    ``draw_epoch(rng)`` returns the batch of one epoch (a
    :mod:`~metriclearn._sgd.losses` batch). ``partial`` runs one epoch from the
    step clock ``t`` and never stops early; otherwise up to
    ``settings.max_iter`` epochs until the schedule stops. Returns a
    :class:`~metriclearn._result.FitResult` whose attributes are
    ``preconditioner_`` and ``t_``.
    """
    cfg = settings.loss
    B = int(settings.batch_size)
    schedule = Schedule(settings, t=t if partial else 0)
    history = []
    epoch, converged = 0, False
    for epoch in range(1, (1 if partial else settings.max_iter) + 1):
        batch = draw_epoch(rng)
        n_items = batch.n_items
        n_steps = -(-n_items // B)
        tic = time.perf_counter()
        L, losses = batch.steps(L, schedule.etas(n_steps), B, cfg, precond)
        elapsed = time.perf_counter() - tic
        schedule.t += n_steps
        loss = float(losses.sum()) / max(n_items, 1)
        history.append(loss)
        check_diverged(L, history, settings.eta0)
        report(settings, epoch, loss, schedule.eta, n_items / max(elapsed, 1e-12))
        if not partial and schedule.end_epoch(loss):
            converged = True
            break
    return FitResult(L, epoch, converged, history,
                     {"preconditioner_": precond, "t_": schedule.t})
