"""SGDTripletLearner: the SGD family's triplet losses (triplet, InfoNCE)
learned from triplets ``(anchor, positive, negative)``."""

from numbers import Real

from .._compat import Interval, _fit_context
from ..base import TripletsClassifierMixin, TupleLearnerMixin
from .base import BaseSGD
from .losses import TRIPLET_LOSSES

__all__ = ["SGDTripletLearner"]


class SGDTripletLearner(TupleLearnerMixin, TripletsClassifierMixin, BaseSGD):
    r"""Metric learning from triplets by mini-batch SGD on a triplet loss
    over ``L``.

    Read more in the :ref:`User Guide <sgd>`.

    Each triplet :math:`(a, p, n)` says that the anchor :math:`a` is more
    similar to the positive :math:`p` than to the negative :math:`n`. With
    :math:`d^2(x, x') = \|L(x - x')\|^2`, ``loss='triplet'`` (Schroff et
    al. [1]_) is

    .. math::

        \min_{L \in \mathbb{R}^{k \times d}} \;
        \frac{1}{n} \sum_{(a, p, n)} \max\big(0,\ d^2(a, p) - d^2(a, n) + m\big)

    and ``loss='infonce'`` is the softmax loss of the positive against the
    negative, with temperature :math:`\tau`,

    .. math::

        \min_{L \in \mathbb{R}^{k \times d}} \;
        \frac{1}{n} \sum_{(a, p, n)} -\log
        \frac{e^{-d^2(a, p) / \tau}}{e^{-d^2(a, p) / \tau} + e^{-d^2(a, n) / \tau}}
        = \frac{1}{n} \sum_{(a, p, n)}
        \log\big(1 + e^{(d^2(a, p) - d^2(a, n)) / \tau}\big)

    (InfoNCE of van den Oord et al. [2]_ and the N-pair loss of Sohn [3]_
    with one negative per anchor: a smooth triplet loss), where

    - :math:`m` is ``margin`` and :math:`\tau` is ``temperature``;
    - :math:`k` is ``n_components``; the learned metric is :math:`M = L^T L`.

    With many negatives per anchor, mined among the points of a batch, the
    same losses are learned from class labels by
    :class:`SGDMetricLearner_Supervised`. Each step costs :math:`O(B k d)`
    for a batch of :math:`B` triplets (two matrix products over the
    anchor-positive and anchor-negative differences); the preconditioner,
    initial maps, schedules and backends are those of
    :class:`SGDMetricLearner`.

    As a classifier of triplets, :meth:`predict` says whether the anchor is
    closer to the positive (+1) than to the negative (-1), and :meth:`score`
    is the fraction of triplets predicted +1.

    Parameters
    ----------
    n_components : int, default=None
        Rows of ``L``; ``None`` means ``n_features``.
    loss : {'triplet', 'infonce'}, default='triplet'
        The triplet loss (see above).
    margin : float, default=1.0
        Margin of 'triplet', on squared learned distances. Named ``init``
        maps start with the mean squared learned length of the sampled
        differences at ``margin``.
    temperature : float, default=0.5
        Temperature of 'infonce'.
    normalize : bool, default=False
        Compare the points embedded on the unit sphere,
        :math:`z = L(x - c) / \|L(x - c)\|` with :math:`c` the mean of the
        training points (``center_``): ``margin`` is then on squared
        distances of unit vectors, and 'infonce' compares cosine
        similarities, :math:`\log(1 + e^{(\cos(a, n) - \cos(a, p)) / \tau})`.
        ``transform`` returns unit rows (see the :ref:`User Guide <sgd>`).
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='adaptive'
        Learning rate schedule (see :class:`SGDMetricLearner`).
    eta0 : float, default=0.5
        Initial (relative) learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    batch_size : int, default=1024
        Triplets per mini-batch step.
    max_iter : int, default=100
        Maximum number of epochs (passes over the triplets).
    tol : float or None, default=1e-3
        Relative decrease of the epoch loss that counts as progress; ``None``
        runs ``max_iter`` epochs.
    n_iter_no_change : int, default=5
        Epochs without progress before the schedule stops or lowers the rate.
    shuffle : bool, default=True
        Visit the triplets in a new random order each epoch.
    init : {'auto', 'identity', 'pca', 'random'} or ndarray, default='auto'
        Starting map (see :class:`SGDMetricLearner`).
    warm_start : bool, default=False
        Start ``fit`` from the fitted ``components_``.
    backend : {'local', 'dask'}, default='local'
        Where to train (see :class:`SGDMetricLearner`).
    scheduler : str or None, default=None
        Dask scheduler address, or ``None`` for the current default client.
    local_steps : int, default=50
        Mini-batch steps per Dask task.
    verbose : int or bool, default=0
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, epochs run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every epoch (loss, learning rate,
        triplets per second); ``partial_fit`` prints its epoch's line at every
        level but 0. A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``triplets`` be given as ``(n_triplets, 3)`` integer indices
        (kept as indices with an array).
    random_state : int, RandomState instance or None, default=None
        Seed of the triplet order, of the scale sample and of
        ``init='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    n_iter_ : int
        Number of epochs run.
    objective_history_ : ndarray of shape (`n_iter_`,)
        Mean loss per triplet of each epoch, as met by its batches.
    converged_ : bool
        Whether the stopping criterion was met before ``max_iter``.
    preconditioner_ : ndarray of shape (n_features,)
        The per-feature factor multiplying every step.
    normalize_ : bool
        Whether the learned distance is that of the unit sphere.
    center_ : ndarray of shape (n_features,) or None
        The point mapped to the centre of the sphere; ``None`` off it.
    t_ : int
        Number of mini-batch steps taken.
    n_updates_ : int
        Dask backend only: number of task results applied.
    update_keys_ : ndarray of shape (`n_updates_`, 2)
        Dask backend only: ``(shard, round)`` of each applied result.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    SGDMetricLearner : the pair losses, from pairs.
    SGDMetricLearner_Supervised : every loss, from class labels, with
        negative mining.

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko, J. Philbin. "FaceNet: a unified
           embedding for face recognition and clustering". CVPR 2015.
    .. [2] A. van den Oord, Y. Li, O. Vinyals. "Representation learning with
           contrastive predictive coding". arXiv:1807.03748, 2018.
    .. [3] K. Sohn. "Improved deep metric learning with multi-class N-pair
           loss objective". NeurIPS 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import SGDTripletLearner
    >>> X = np.array([[0.0, 0.0], [0.1, 5.0], [1.0, 0.0], [1.1, 5.0]])
    >>> triplets = np.array([[0, 1, 2], [2, 3, 0], [1, 0, 3], [3, 2, 1]])
    >>> est = SGDTripletLearner(preprocessor=X, random_state=0).fit(triplets)
    >>> est.predict(triplets).tolist()
    [1, 1, 1, 1]
    >>> est.score(triplets)
    1.0
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseSGD._parameter_constraints.items() if k != "alpha"},
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }
    _losses = TRIPLET_LOSSES
    _other_losses_hint = (
        "; for the pair losses use SGDMetricLearner (pairs) or "
        "SGDMetricLearner_Supervised (class labels)"
    )

    def __init__(self, *, n_components=None, loss="triplet", margin=1.0, temperature=0.5,
                 normalize=False, learning_rate="adaptive", eta0=0.5, power_t=0.5,
                 batch_size=1024, max_iter=100, tol=1e-3, n_iter_no_change=5,
                 shuffle=True, init="auto", warm_start=False, backend="local",
                 scheduler=None, local_steps=50, verbose=0, preprocessor=None,
                 random_state=None):
        self.n_components = n_components
        self.loss = loss
        self.margin = margin
        self.temperature = temperature
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

    _tuple_size = 3

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, triplets, y=None):
        """Learn the metric from triplets.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets of points ``(anchor, positive, negative)``, or integer
            indices into ``preprocessor``. With ``backend='dask'`` also a
            Dask array of shape ``(n_triplets, 3, n_features)``.
        y : None
            Ignored (there for scikit-learn's pipelines and model selection).

        Returns
        -------
        self
        """
        return self._fit_from_tuples(triplets, None)

    def partial_fit(self, triplets, y=None):
        """One epoch of SGD over a batch of triplets (for streams).

        The first call starts the map as ``fit`` does; later calls continue
        from it with the same ``preconditioner_`` and schedule clock ``t_``.
        Always runs locally.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._partial_fit_tuples(triplets, None)
        return self
