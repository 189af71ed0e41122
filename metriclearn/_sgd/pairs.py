"""SGDMetricLearner: the SGD family's pair losses (hinge, contrastive)
learned from labelled pairs."""

import numpy as np

from .._calibration import best_threshold, check_calibration_params
from .._compat import _fit_context
from ..base import PairsClassifierMixin, TupleLearnerMixin
from .base import BaseSGD

__all__ = ["SGDMetricLearner"]


class SGDMetricLearner(TupleLearnerMixin, PairsClassifierMixin, BaseSGD):
    r"""Metric learning from pairs by mini-batch SGD on a pair loss over ``L``.

    Read more in the :ref:`User Guide <sgd>`.

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
    normalize : bool, default=False
        Compare the points embedded on the unit sphere,
        :math:`z = L(x - c) / \|L(x - c)\|` with :math:`c` the mean of the
        training points (``center_``), instead of :math:`Lx`: the learned
        distance is :math:`\|z - z'\|` (in [0, 2]), and ``margin`` an
        absolute one. ``transform`` then returns unit rows and
        ``get_mahalanobis_matrix()`` the matrix of the learned cosine (see
        the :ref:`User Guide <sgd>`). Off the sphere the losses are
        scale-equivariant: ``margin`` only sets the scale of ``L``.
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
    verbose : int or bool, default=0
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, epochs run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every epoch (loss, learning rate,
        pairs per second); ``partial_fit`` prints its epoch's line at every
        level but 0. A progress bar instead: :func:`metriclearn.set_config`.
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
    normalize_ : bool
        Whether the learned distance is that of the unit sphere.
    center_ : ndarray of shape (n_features,) or None
        The point mapped to the centre of the sphere (the mean of the
        training points); ``None`` off the sphere.
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
        return self._fit_from_tuples(pairs, y, calibration_params=calibration_params)

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
        calibration_params = check_calibration_params(calibration_params)

        def calibrate(tuples):
            self.threshold_ = best_threshold(
                np.sqrt(self._sq_distances(tuples)), tuples.y, **calibration_params
            )

        self._partial_fit_tuples(pairs, y, finish=calibrate)
        return self
