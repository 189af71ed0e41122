"""The base of the SGD family: parameters, the loss and the training
settings they name, and the training of given tuples (pairs or triplets) on
either backend, for ``fit`` and ``partial_fit``."""

import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._compat import Interval, StrOptions, check_is_fitted
from .._kernels.sgd import pair_sq_distances
from .._progress import Progress, reporting
from .._threads import limit_threads
from .._validation import (
    check_preprocessor,
    check_tuple_labels,
    check_tuples,
    restore_on_error,
)
from ..base import BaseMetricLearner
from .dask import DaskTuples, compute, is_dask, train_tuples
from .engine import TrainingSettings, start, train_local
from .losses import LABEL_LOSSES, PAIR_LOSSES, TRIPLET_LOSSES, LossConfig
from .sources import centered, tuples_batch

__all__ = ["BaseSGD"]

# the index pair of get_metric's two points
_ONE_PAIR = np.array([[0, 1]], dtype=np.intp)

# fitted attributes only the Dask backend sets (a local refit drops them)
_DASK_ATTRIBUTES = ("n_updates_", "update_keys_")


class BaseSGD(BaseMetricLearner):
    """Parameters and training shared by the SGD learners.

    ``backend`` picks the driver: :func:`~metriclearn._sgd.engine.train_local`
    or the Dask backend's :mod:`~metriclearn._sgd.dask` functions, which take
    the same :class:`~metriclearn._sgd.engine.TrainingSettings`.
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "loss": [StrOptions(set(PAIR_LOSSES + TRIPLET_LOSSES + LABEL_LOSSES))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "normalize": ["boolean", StrOptions({"auto"})],
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
                 normalize=False, learning_rate="adaptive", eta0=0.5, power_t=0.5,
                 batch_size=1024, max_iter=100, tol=1e-3, n_iter_no_change=5,
                 shuffle=True, init="auto", warm_start=False, backend="local",
                 scheduler=None, local_steps=50, verbose=0, preprocessor=None,
                 random_state=None):
        self.n_components = n_components
        self.loss = loss
        self.alpha = alpha
        self.margin = margin
        self.normalize = normalize
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

    _iteration_unit = "epochs"
    # index tuples into the preprocessor stay indices (never gathered)
    _gather = False
    _supervised_twin = "SGDMetricLearner_Supervised"

    def _loss_config(self):
        """The loss as the kernels take it; a loss this class cannot learn
        with is a ``ValueError`` that says which class can."""
        name = self.loss
        if name not in self._losses:
            wants = ("triplets or class labels" if name in TRIPLET_LOSSES
                     else "class labels" if name in LABEL_LOSSES else "pairs")
            raise ValueError(
                f"loss={name!r} needs {wants}; {type(self).__name__} learns with "
                f"loss in {list(self._losses)}{self._other_losses_hint}"
            )
        miner = getattr(self, "miner", "all")
        if name in PAIR_LOSSES and miner != "all" and not self._mines_pair_negatives():
            random = " and sampling='random'" if hasattr(self, "sampling") else ""
            raise ValueError(
                f"miner={miner!r} selects the negatives of the triplet losses; with "
                f"loss={name!r}{random} the pairs are drawn at random: use miner='all', "
                f"{'sampling=' + repr('neighbors') + ', ' if random else ''}"
                "or loss='triplet' or 'infonce'"
            )
        normalize = (name in TRIPLET_LOSSES if self.normalize == "auto"
                     else bool(self.normalize))
        prior = getattr(self, "class_prior", "auto")
        return LossConfig(name, float(getattr(self, "alpha", 1.0)), self._margin(name),
                          self._temperature(name, normalize), miner, normalize,
                          prior=0.0 if prior == "auto" else float(prior),
                          n_clusters=int(getattr(self, "n_clusters_per_class", 1)),
                          refresh=int(getattr(self, "refresh", 1)))

    def _mines_pair_negatives(self):
        """Whether the pair losses take their dissimilar pairs from a miner."""
        return False

    def _settings(self):
        """The training settings the parameters name."""
        warm = self.warm_start and hasattr(self, "components_")
        cfg = self._loss_config()
        return TrainingSettings(
            name=type(self).__name__, unit=self._unit_of(cfg),
            loss=cfg, n_components=self.n_components, init=self.init,
            warm_components=self.components_ if warm else None,
            learning_rate=self.learning_rate, eta0=float(self.eta0),
            power_t=float(self.power_t), batch_size=int(self.batch_size),
            max_iter=int(self.max_iter), tol=self.tol,
            n_iter_no_change=int(self.n_iter_no_change), shuffle=bool(self.shuffle),
            local_steps=int(self.local_steps),
            n_constraints=getattr(self, "n_constraints", None),
            sampling=getattr(self, "sampling", "random"),
            n_neighbors=int(getattr(self, "n_neighbors", 3)),
        )

    def _margin(self, loss):
        """The margin of the loss called ``loss``."""
        return float(self.margin)

    def _temperature(self, loss, normalize):
        """The temperature of the loss called ``loss`` (on the unit sphere
        with ``normalize``)."""
        return float(getattr(self, "temperature", 1.0))

    @staticmethod
    def _unit_of(cfg):
        """What the verbose throughput counts."""
        return "pairs" if cfg.is_pair else "triplets"

    def _check_fit_params(self):
        self._loss_config()

    def _convergence_message(self):
        # tol=None asks for max_iter epochs: reaching them is no failure
        return None if self.tol is None else super()._convergence_message()

    def _set_fitted(self, result):
        for name in _DASK_ATTRIBUTES:
            vars(self).pop(name, None)
        super()._set_fitted(result)
        self.normalize_ = self._loss_config().normalize

    # ------------------------------------------- the metric, on the sphere

    def _on_sphere(self):
        """Whether the fitted map embeds on the unit sphere."""
        return bool(getattr(self, "normalize_", False))

    def get_mahalanobis_matrix(self):
        """A copy of ``M = L^T L``.

        When the map embeds on the unit sphere (``normalize_``), the learned
        distance is not the Mahalanobis distance of ``M``: ``M`` gives the
        learned cosine similarity ``u^T M u' / sqrt(u^T M u  u'^T M u')`` of
        ``u = x - center_``, and the learned distance is ``sqrt(2 - 2 cos)``,
        the Euclidean distance between the rows of :meth:`transform`. ``M``
        then matters only up to a positive factor.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        return super().get_mahalanobis_matrix()

    def transform(self, X):
        """Map points into the learned space: ``X @ L.T``; on the unit sphere
        (``normalize_``), ``(X - center_) @ L.T`` with each row divided by its
        norm (a row mapped to zero stays zero).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples,)
            integer indices when the estimator has an array ``preprocessor``.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
        """
        Z = super().transform(X)
        if self._on_sphere():
            Z -= (self.components_ @ self.center_).astype(Z.dtype, copy=False)
            norms = np.linalg.norm(Z, axis=1, keepdims=True)
            Z = np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)
        return Z

    def get_metric(self):
        """A function ``metric(u, v, squared=False)`` computing the learned
        distance between two points (between their embeddings on the unit
        sphere when ``normalize_``); see :meth:`MahalanobisMixin.get_metric`."""
        if not self._on_sphere():
            return super().get_metric()
        check_is_fitted(self, "components_")
        L = self.components_.copy()
        center = self.center_.copy()

        def metric(u, v, squared=False):
            u = np.asarray(u, dtype=np.float64).ravel()
            v = np.asarray(v, dtype=np.float64).ravel()
            if u.shape != v.shape or u.shape[0] != L.shape[1]:
                raise ValueError(
                    f"u and v must both have {L.shape[1]} features; got shapes "
                    f"{u.shape} and {v.shape}"
                )
            d2 = float(pair_sq_distances(np.stack([u, v]) - center, _ONE_PAIR, L, True)[0])
            return d2 if squared else np.sqrt(d2)

        return metric

    def _sq_distances(self, tuples, first=0, second=1):
        if not self._on_sphere():
            return super()._sq_distances(tuples, first, second)
        idx = tuples.indices
        if idx.shape[1] != 2 or (first, second) != (0, 1):
            idx = np.ascontiguousarray(idx[:, [first, second]])
        return pair_sq_distances(np.ascontiguousarray(tuples.X - self.center_), idx,
                                 self.components_, True)

    # -------------------------------------------------------- given tuples

    def _check_tuples_input(self, tuples, y):
        if self.backend == "dask" and is_dask(tuples):
            return self._check_dask_tuples(tuples, y)
        return super()._check_tuples_input(tuples, y)

    def _check_dask_tuples(self, tuples, y):
        size = self._tuple_size
        name = "pairs" if size == 2 else "triplets"
        if tuples.ndim != 3 or tuples.shape[1] != size:
            raise ValueError(
                f"{name} given as a Dask array must have shape (n, {size}, n_features); "
                f"got shape {tuples.shape}"
            )
        labels = None
        if y is not None:
            y = compute(y, self.scheduler)
            labels = check_tuple_labels(y, tuples.shape[0], size, ensure_both_labels=True)
        return DaskTuples(tuples, labels)

    def _fit_tuples(self, tuples, rng):
        """Train on validated tuples (``fit``), on the chosen backend."""
        settings = self._settings()
        if self.backend == "dask":
            # index tuples into the preprocessor ship it once, other tuples
            # their own points shard by shard
            shared = getattr(tuples, "X", None) is self.preprocessor_
            return train_tuples(tuples, settings, rng, scheduler=self.scheduler,
                                      shared=shared)
        tuples, center = centered(tuples, settings)
        precond, L = start(tuples.X, tuples.indices, settings, rng)
        result = train_local(self._tuples_epoch(tuples), L, precond, settings, rng)
        result.attributes["center_"] = center
        return result

    def _tuples_epoch(self, tuples):
        """``draw_epoch`` of the given tuples: all of them, in a new random
        order each epoch with ``shuffle``."""
        labels = None if tuples.y is None else tuples.y.astype(np.int8)
        n = tuples.n_tuples

        def draw_epoch(rng):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            return tuples_batch(tuples.X, tuples.indices, labels, order)

        return draw_epoch

    # -------------------------------------------------------------- streams

    def _partial_fit(self, fit_input, train, finish=None, stacklevel=3):
        """One epoch on a batch, always local: ``fit_input(first)`` validates
        the batch (after the first call, against the fitted features),
        ``train(data, settings, rng)`` runs the epoch from the fitted map (or
        from a new start, on the first call) and ``finish(data)``, if given,
        completes the fitted state (a pairs classifier's threshold). The
        solver's warnings are issued at the user's call, ``stacklevel``
        frames up."""
        first = not hasattr(self, "components_")
        # every call: a stream continued with a bad parameter gets the error
        # of a first call
        self._validate_params()
        self._check_fit_params()
        with restore_on_error(self):
            if first:
                self.preprocessor_ = check_preprocessor(self.preprocessor)
            data = fit_input(first)
            rng = check_random_state(self.random_state)
            if not first:
                # a different order for each call, reproducible from the seed
                rng = np.random.RandomState(rng.randint(2**31 - 1) + self.t_)
            settings = self._settings()
            if first:
                self.center_ = None
            # a call is one epoch: its line, at every verbose level
            progress = Progress(type(self).__name__, 3 if self.verbose else 0, 1, "epochs")
            with limit_threads(1, blas=1), reporting(progress):
                result = train(data, settings, rng)
            self.objective_history_ = np.concatenate(
                [getattr(self, "objective_history_", np.empty(0)), result.history]
            )
            self.n_iter_ = getattr(self, "n_iter_", 0) + result.n_iter
            self.components_ = result.components
            self.converged_ = result.converged
            self.normalize_ = settings.loss.normalize
            for name, value in result.attributes.items():
                setattr(self, name, value)
            if finish is not None:
                finish(data)
            for category, message in result.warnings:  # at the user's call
                warnings.warn(message, category, stacklevel=stacklevel)
        return data

    def _centered_points(self, X, settings):
        """``X`` less the fitted centre (that of ``X`` on a first call) when
        the map embeds on the unit sphere; ``X`` itself otherwise."""
        if not settings.loss.normalize:
            return X
        if self.center_ is None:
            self.center_ = X.mean(axis=0)
        return np.ascontiguousarray(X - self.center_)

    def _partial_start(self, X, tuples, settings, rng):
        """The fitted preconditioner and map, or a new start."""
        if hasattr(self, "components_"):
            return self.preconditioner_, self.components_
        return start(X, tuples, settings, rng)

    def _partial_fit_tuples(self, tuples, y, finish=None):
        """:meth:`_partial_fit` on given tuples."""

        def fit_input(first):
            t = check_tuples(
                tuples, y, size=self._tuple_size, preprocessor=self.preprocessor_,
                n_features=None if first else self.n_features_in_, gather=False,
                ensure_both_labels=self._tuple_size == 2,
            )
            self.n_features_in_ = t.n_features
            return t

        def train(t, settings, rng):
            t = replace(t, X=self._centered_points(t.X, settings))
            precond, L = self._partial_start(t.X, t.indices, settings, rng)
            return train_local(self._tuples_epoch(t), L, precond, settings, rng,
                               partial=True, t=getattr(self, "t_", 0))

        return self._partial_fit(fit_input, train, finish, stacklevel=4)
