"""SGDMetricLearner_Supervised: the SGD family learned from class labels,
on pairs drawn from them or on anchors whose negatives are mined in each
batch."""

from numbers import Integral, Real

import numpy as np

from .._compat import Interval, StrOptions, _fit_context
from .._validation import check_points
from ..base import SupervisedLearnerMixin
from .base import BaseSGD
from .dask import compute, is_dask, train_labels
from .engine import start, train_local
from .losses import MINERS, PAIR_LOSSES, TRIPLET_LOSSES
from .sources import label_sampler, tuples_batch

__all__ = ["SGDMetricLearner_Supervised"]


class SGDMetricLearner_Supervised(SupervisedLearnerMixin, BaseSGD):
    r"""Metric learning from class labels by mini-batch SGD over ``L``, on a
    pair loss or on a triplet loss with negatives mined in each batch.

    Read more in the :ref:`User Guide <sgd>`.

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
        **BaseSGD._parameter_constraints,
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
    def _unit_of(cfg):
        return "pairs" if cfg.is_pair else "anchors"

    def _check_labels_input(self, X, y):
        if self.backend == "dask" and (is_dask(X) or is_dask(y)):
            return self._check_dask_labels(X, y)
        return super()._check_labels_input(X, y)

    def _check_dask_labels(self, X, y):
        y = np.asarray(compute(y, self.scheduler))
        if not is_dask(X):
            return super()._check_labels_input(X, y)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(
                "X given as a Dask array must have shape (n_samples, n_features) "
                f"matching y of shape {y.shape}; got shape {X.shape}"
            )
        self.n_features_in_ = X.shape[1]
        return X, y

    def _fit_labels(self, X, y, rng):
        settings = self._settings()
        sampler = label_sampler(y, type(self).__name__)
        if self.backend == "dask":
            return train_labels(X, sampler, settings, rng, scheduler=self.scheduler)
        return self._train_labels(X, sampler, settings, rng)

    def _train_labels(self, X, sampler, settings, rng, *, partial=False):
        """Local training on pairs (or anchors) drawn from labels: the
        first epoch's pairs also give the start."""
        cfg = settings.loss
        m = settings.per_epoch(X.shape[0])
        first_pairs, first_labels = sampler.draw(m, rng)
        if partial and hasattr(self, "components_"):
            precond, L = self.preconditioner_, self.components_
        else:
            precond, L = start(X, first_pairs, settings, rng)
        drawn = [(first_pairs, first_labels)] if cfg.is_pair else []

        def draw_epoch(rng):
            if not cfg.is_pair:
                return sampler.anchor_batch(X, m, rng)
            pairs, labels = drawn.pop() if drawn else sampler.draw(m, rng)
            return tuples_batch(X, pairs, labels, np.arange(pairs.shape[0]))

        return train_local(draw_epoch, L, precond, settings, rng, partial=partial,
                           t=getattr(self, "t_", 0))

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
        return self._fit_from_labels(X, y)

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

        def fit_input(first):
            return check_points(self, X, y=y, reset=first, ensure_min_samples=2)

        def train(data, settings, rng):
            X_, y_ = data
            X_ = np.ascontiguousarray(X_, dtype=np.float64)
            sampler = label_sampler(y_, type(self).__name__)
            return self._train_labels(X_, sampler, settings, rng, partial=True)

        self._partial_fit(fit_input, train)
        return self
