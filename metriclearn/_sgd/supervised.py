"""SGDMetricLearner_Supervised: the SGD family learned from class labels,
on anchors with a target neighbour whose negatives are mined in each batch
(or on random pairs drawn from the labels)."""

from dataclasses import replace
from numbers import Integral, Real

import numpy as np

from .._compat import Interval, StrOptions, _fit_context
from .._validation import check_points
from ..base import SupervisedLearnerMixin
from .base import BaseSGD
from .dask import compute, is_dask, train_labels
from .engine import start, train_local
from .losses import LABEL_LOSSES, MINERS, PAIR_LOSSES, TRIPLET_LOSSES, class_prior
from .sources import centered, epoch_source, label_sampler, label_source

__all__ = ["SGDMetricLearner_Supervised"]

# temperature='auto' off the unit sphere: each loss's, 0.1 unless named here
# (on the sphere 0.1 for every loss; measured: see the class's docstring and
# the user guide)
_AUTO_TEMPERATURE = {"debiased": 0.5}
# margin='auto': 0.5 unless named here, on and off the sphere
_AUTO_MARGIN = {"magnet": 8.0}


class SGDMetricLearner_Supervised(SupervisedLearnerMixin, BaseSGD):
    r"""Metric learning from class labels by mini-batch SGD over ``L``: each
    point with one of its nearest same-class points, against negatives mined
    in each batch.

    Read more in the :ref:`User Guide <sgd>`.

    **What is drawn.** With ``sampling='neighbors'`` (the default) an epoch
    visits ``n_constraints`` anchors :math:`a` (by default every point, in a
    random order), each with a positive :math:`p` drawn among its
    ``n_neighbors`` nearest points of the same class (its *target
    neighbours*, found once in the input space as LMNN's are). A mini-batch
    of :math:`B` anchors (``batch_size``) holds :math:`2B` points, the
    anchors and their positives; the candidate negatives of an anchor are
    the batch's points of other classes, and ``miner`` keeps a set
    :math:`N_a` of them, with the distances at the map before the step:

    - ``'semihard'`` (the default): one candidate drawn uniformly among those
      with :math:`d^2(a, p) < d^2(a, n) < d^2(a, p) + m`, farther than the
      positive but inside the margin (Schroff et al. [3]_);
    - ``'hard'``: the closest candidate among those *closer than the
      positive*, :math:`d^2(a, n) < d^2(a, p)`; when no candidate is, the
      anchor has no negative (no fallback to another kind);
    - ``'easy'``: one candidate drawn uniformly among those with
      :math:`d^2(a, n) \ge d^2(a, p) + m`;
    - ``'all'``: every candidate.

    Why: pulling random same-class pairs together asks each class to shrink
    to a point, which a class made of several clusters cannot do without
    mixing with others (3-NN then gets worse than with no learning). A
    target neighbour is already close; the loss only asks it to be closer
    than the nearby points of other classes, which is what a nearest
    neighbour classifier needs. ``sampling='random'`` draws the positive
    uniformly among the anchor's class instead, and with a pair loss draws
    random similar and dissimilar pairs (no mining), as Xie and Xing's
    formulation [1]_ does.

    **Losses.** With :math:`d^2(x, x') = \|z - z'\|^2` the squared learned
    distance, the loss of an anchor is, for ``loss='triplet'`` (the
    default; Schroff et al. [3]_)

    .. math::

        \ell_a = \frac{1}{|N_a|} \sum_{n \in N_a}
        \max\big(0,\ d^2(a, p) - d^2(a, n) + m\big),

    for ``loss='infonce'`` (Sohn [4]_; a softmax over the positive and the
    mined negatives with temperature :math:`\tau`)

    .. math::

        \ell_a = -\log \frac{e^{s(a, p) / \tau}}
        {e^{s(a, p) / \tau} + \sum_{n \in N_a} e^{s(a, n) / \tau}},

    with :math:`\ell_a = 0` when :math:`N_a` is empty, and for the pair
    losses :math:`\ell_a = d^2(a, p) + \alpha / |N_a| \sum_{n \in N_a}
    \max(0, m - d^2(a, n))` (``'hinge'``) or
    :math:`\max(0, m - d(a, n))^2` in the sum (``'contrastive'``, Chopra et
    al. [2]_). A step follows the gradient of the batch's mean
    :math:`\ell_a`.

    **Losses over the whole batch.** Three losses use every point of the
    batch (``miner`` does not apply to them; ``sampling`` still draws the
    positives). With :math:`P` the batch's pairs (anchor, positive),
    :math:`D = d` the learned distance, *not* squared as in Song et al.
    [6]_ (``margin`` is then on the distance, as for 'contrastive'), and
    :math:`N_x` the batch's points of classes other than :math:`x`'s,
    ``loss='lifted'`` (lifted structured) is

    .. math::

        J_{ij} = \log\Big(\sum_{k \in N_i} e^{m - D_{ik}}
        + \sum_{l \in N_j} e^{m - D_{jl}}\Big) + D_{ij}, \qquad
        \ell = \frac{1}{2 |P|} \sum_{(i, j) \in P} \max(0, J_{ij})^2,

    the smooth log-sum-exp computed with its largest term factored out (a
    pair with no negative in its batch has :math:`J = -\infty`: no loss).
    With :math:`s_{ij} = s(i, j) / \tau` the similarities of the two
    softmax losses, ``loss='supcon'`` (supervised contrastive, Khosla et
    al.'s :math:`\mathcal{L}_{in}` [7]_) makes each of the :math:`2B`
    points :math:`i` an anchor whose positives :math:`P(i)` are all the
    batch's other points of its class,

    .. math::

        \ell_i = -\log \frac{\sum_{p \in P(i)} e^{s_{ip}}}
        {\sum_{a \ne i} e^{s_{ia}}},

    averaged over the anchors with a positive (the others are skipped).
    This is the paper's :math:`\mathcal{L}_{in}`, the mean over the
    positives *inside* the logarithm, without its constant
    :math:`\log |P(i)|`; the paper prefers :math:`\mathcal{L}_{out}`, the
    mean of :math:`-\log(e^{s_{ip}} / \sum_a e^{s_{ia}})` over the
    positives, for deep networks on the sphere. Here the map is linear:
    :math:`\mathcal{L}_{out}` pulls every positive of the batch with the
    same weight :math:`1/|P(i)|`, so a class made of several clusters is
    pulled together through the other classes (3-NN accuracy 58.6% on the
    60,000 x 50 set of the user guide, 65.7% Euclidean), while
    :math:`\mathcal{L}_{in}` pulls each positive in proportion to
    :math:`e^{s_{ip}} / \sum_{p'} e^{s_{ip'}}`, the nearest most, as NCA
    does (79.4%).
    ``loss='debiased'`` (debiased contrastive, Chuang et al. [8]_) makes
    each point an anchor with its partner (the anchor's positive, or the
    positive's anchor) as :math:`p` and *every* other point of the batch as
    a negative, whatever its class (:math:`N = 2B - 2` of them), as if the
    labels of negatives were unknown; the class prior
    :math:`\tau^+` (``class_prior``) corrects the negative term for the
    points of the anchor's class among them:

    .. math::

        N_g = \max\Big(\frac{1}{1 - \tau^+}\Big(\frac{1}{N}\sum_n
        e^{s_{an}} - \tau^+ e^{s_{ap}}\Big),\ e^{-1/\tau}\Big), \qquad
        \ell_a = -\log \frac{e^{s_{ap}}}{e^{s_{ap}} + N N_g},

    averaged over the anchors. The floor :math:`e^{-1/\tau}` is the
    paper's, the least :math:`e^{s/\tau}` of a cosine, on the sphere; off
    it, where similarities have no least value, the floor is the anchor's
    least :math:`e^{s_{an}}` (the estimate is never below its smallest
    term). ``class_prior='auto'`` is the probability that a point drawn at
    random among the others has the class of a point drawn at random,
    :math:`\sum_c n_c (n_c - 1) / (n (n - 1))` over the training class
    counts (about 0.1 for ten balanced classes). The steps of 'supcon' and
    'debiased' follow :math:`\tau` times the gradient, as InfoNCE's do.

    **Magnet loss.** ``loss='magnet'`` (Rippel et al. [9]_) splits each
    class into :math:`K` clusters (``n_clusters_per_class``) by k-means of
    its points in the current embedding (k-means++ seeds, Lloyd's
    iterations), refitted at the map an epoch starts from every
    ``refresh`` epochs (and at the first). A cluster's centre
    :math:`\mu` is the embedding of the mean of its members' input points:
    off the sphere, :math:`L \bar x` *is* the mean of their embeddings, so
    the gradient flows through the centres exactly; on the sphere it is
    :math:`L \bar x / \|L \bar x\|`, the direction of that mean (not the
    mean of the unit vectors, which lies inside the sphere), again with its
    exact gradient. With :math:`\mu(r)` the cluster of a point :math:`r`
    and :math:`\sigma^2 = \sum_r \|z_r - \mu(r)\|^2 / (n - 1)` the
    variance of the :math:`n` training points about their cluster centres,
    measured once, at the starting map with the first clusters, and then
    held fixed (a constant in the gradient, kept by the refits),

    .. math::

        \ell_r = \max\Big(0,\ -\log \frac{e^{-\|z_r - \mu(r)\|^2 /
        (2\sigma^2) - m}}{\sum_{\mu:\ C(\mu) \ne C(r)}
        e^{-\|z_r - \mu\|^2 / (2\sigma^2)}}\Big),

    with ``margin`` as :math:`m` (:math:`\alpha` in the paper;
    ``margin='auto'`` is 8 for this loss). The batches are the engine's,
    not the paper's neighbourhoods of a seed cluster: an epoch visits every
    point once as :math:`r`, in random batches of :math:`B`, and the sum
    runs over *every* cluster of the other classes (their centres cost one
    small GEMM a step), not only those in the batch. A class of fewer than
    :math:`K` points has fewer clusters. Two deviations from the paper, for
    a linear map: the paper estimates :math:`\sigma^2` on each batch, which
    makes the loss blind to the scale of :math:`L`, so that a map lowers it
    by keeping only its few most discriminative directions (with a batch
    :math:`\sigma^2` the map fell to a low rank and 3-NN accuracy to 13.2%
    on the 60,000 x 50 set of the user guide, 65.7% Euclidean); held fixed,
    :math:`\sigma^2` only sets the unit of the squared distances, as the
    initial scale does for the triplet losses (89.5% there, with
    ``margin='auto'``). And the paper's
    :math:`\alpha = 1` lets a point go once its own cluster is
    :math:`e` times likelier than the other classes' clusters together;
    points let go stop shaping the map, and the 3-NN accuracy rose with
    :math:`m` up to 8 on both sets measured (the user guide's table).

    **On the unit sphere.** With ``normalize=True`` the points are embedded
    as :math:`z = L(x - c) / \|L(x - c)\|`, with :math:`c` the mean of the
    training points (``center_``; so that the embedding does not depend on
    the origin of the features): the similarity :math:`s` is the cosine
    :math:`z^T z'`, :math:`d^2 = 2 - 2 s` lies in [0, 4], and ``margin`` and
    ``temperature`` have the meaning they have in the seeds (a margin of
    0.2 to 0.5 on squared distances of unit vectors, a temperature of 0.1 on
    cosines), independent of the scale of ``L``. Off the sphere
    (:math:`z = Lx`, :math:`s = -d^2 / 2`) the pair and triplet losses are
    scale-equivariant: maps fitted at two margins are the same up to a
    factor, so ``margin`` is only a scale. The default is off the sphere
    (``normalize=False``): the learned distance is then a Mahalanobis
    distance, and the default was measured no worse than the Euclidean
    metric for 3-NN on every set tried, small and low-dimensional ones
    included, where the sphere lost (a 3-D toy whose three classes lie along
    one line: 93% on the sphere, 94% Euclidean, 100% off it). On
    high-dimensional data the sphere did far better (60,000 x 50
    ``make_classification``: 16.7% 3-NN error against 34.0% off it and 39.0%
    Euclidean; Fashion-MNIST: 13.3% against 14.4% and 14.8%): try
    ``normalize=True`` there. ``normalize='auto'`` embeds on the sphere for
    the triplet losses only. The losses over the batch and the magnet loss
    were measured off the sphere by default too (see the user guide's
    figures).

    On the sphere :meth:`transform` returns unit rows, ``pair_distance`` and
    :meth:`get_metric` measure the distance between them, and
    ``get_mahalanobis_matrix()`` gives the learned cosine
    :math:`u^T M u' / \sqrt{u^T M u \; u'^T M u'}` of :math:`u = x - c`, with
    :math:`M = L^T L`, rather than the learned distance.

    Everything else (preconditioner, schedules, backends) is as in
    :class:`SGDMetricLearner`. The tuples are drawn as indices into ``X``;
    no list of all possible pairs or triplets is ever made.

    Parameters
    ----------
    n_components : int, default=None
        Rows of ``L``; ``None`` means ``n_features``.
    loss : str, default='triplet'
        The loss (see above): 'triplet', 'infonce', 'hinge', 'contrastive',
        'lifted', 'supcon', 'debiased' or 'magnet'.
    alpha : float, default=1.0
        Weight of the dissimilar term of the pair losses.
    margin : float or 'auto', default='auto'
        The margin :math:`m`: on the squared distance for 'hinge', 'triplet'
        and the miners, on the distance for 'contrastive' and 'lifted', in
        the exponent for 'magnet'. 'auto' is 8 for 'magnet' (see above),
        0.5 for every other loss (the former default).
    temperature : float or 'auto', default='auto'
        Temperature :math:`\tau` of 'infonce', 'supcon' and 'debiased' (on
        cosines on the sphere); 'auto' is 0.5 for 'debiased' off the sphere,
        0.1 otherwise.
    miner : {'semihard', 'hard', 'easy', 'all'}, default='semihard'
        Which negatives of the batch each anchor is compared with (for a
        pair loss, with ``sampling='neighbors'``: its dissimilar pairs).
        The losses over the batch and 'magnet' take no miner.
    sampling : {'neighbors', 'random'}, default='neighbors'
        Positives among each anchor's target neighbours, or anywhere in its
        class (see above). 'magnet' draws no positive.
    n_neighbors : int, default=3
        Target neighbours per point (``sampling='neighbors'``); a class of
        fewer points gives each of them its other points.
    class_prior : float in [0, 1) or 'auto', default='auto'
        The class prior :math:`\tau^+` of 'debiased'; 'auto' estimates it
        from the training labels (see above; with ``partial_fit``, from each
        call's labels).
    n_clusters_per_class : int, default=32
        Clusters :math:`K` of each class for 'magnet'.
    refresh : int, default=1
        Epochs between two k-means of the magnet clusters. On the Dask
        backend each shard refits its own points' clusters, by a task, at
        the map of its first round of every ``refresh``-th epoch, and its
        rounds use them until the next. A refit keeps the variance
        :math:`\sigma^2` measured with the first clusters (on Dask, the
        shard's first).
    normalize : bool or 'auto', default=False
        Embed on the unit sphere; 'auto' for the triplet losses only. The
        fitted choice is ``normalize_``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='adaptive'
        Learning rate schedule.
    eta0 : float, default=0.5
        Initial (relative) learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    batch_size : int, default=256
        Anchors (pairs, for random pairs) per mini-batch step; the
        negatives of an anchor are mined among ``2 * batch_size`` points.
    max_iter : int, default=100
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Relative decrease of the epoch loss that counts as progress.
    n_iter_no_change : int, default=3
        Epochs without progress before the schedule stops or lowers the rate
        (the epoch loss of mined tuples is noisy: with 5, most of the epochs
        of a fit were spent at rates too small to change the map).
    shuffle : bool, default=True
        Kept for a common vocabulary: the tuples are drawn at random anyway.
    n_constraints : int, default=None
        Anchors per epoch, or similar and dissimilar pairs (each) for a pair
        loss with ``sampling='random'``; ``None`` means
        ``max(n_samples, batch_size // 2)``.
    init : {'auto', 'identity', 'pca', 'random'} or ndarray, default='auto'
        Starting map (see :class:`SGDMetricLearner`). On the sphere a named
        map is scaled so that the sampled points start at a mean squared
        length of 1.
    warm_start : bool, default=False
        Start ``fit`` from the fitted ``components_``.
    backend : {'local', 'dask'}, default='local'
        Where to train. With 'dask' each shard (a stratified share of the
        rows) draws its tuples among its own points.
    scheduler : str or None, default=None
        Dask scheduler address, or ``None`` for the current default client.
    local_steps : int, default=50
        Mini-batch steps per Dask task.
    verbose : int or bool, default=0
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, epochs run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every epoch (loss, learning rate,
        tuples per second); ``partial_fit`` prints its epoch's line at every
        level but 0. A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the tuples drawn (anchors, positives, mined choices) and of
        ``init='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    normalize_ : bool
        Whether ``transform`` and the distances embed on the unit sphere.
    center_ : ndarray of shape (n_features,) or None
        The point mapped to the centre of the sphere (the mean of the
        training points); ``None`` off the sphere.
    n_iter_ : int
        Number of epochs run.
    objective_history_ : ndarray of shape (`n_iter_`,)
        Mean loss per anchor (per pair) of each epoch's tuples.
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
    .. [5] K. Q. Weinberger, L. K. Saul. "Distance metric learning for large
           margin nearest neighbor classification". JMLR 10, 2009.
    .. [6] H. O. Song, Y. Xiang, S. Jegelka, S. Savarese. "Deep metric
           learning via lifted structured feature embedding". CVPR 2016.
    .. [7] P. Khosla et al. "Supervised contrastive learning". NeurIPS 2020.
    .. [8] C.-Y. Chuang, J. Robinson, L. Yen-Chen, A. Torralba, S. Jegelka.
           "Debiased contrastive learning". NeurIPS 2020.
    .. [9] O. Rippel, M. Paluri, P. Dollar, L. Bourdev. "Metric learning with
           adaptive density discrimination". ICLR 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from metriclearn import SGDMetricLearner_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(),
    ...                       SGDMetricLearner_Supervised(random_state=0),
    ...                       KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseSGD._parameter_constraints,
        "margin": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "temperature": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "miner": [StrOptions(set(MINERS))],
        "sampling": [StrOptions({"neighbors", "random"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "class_prior": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "n_clusters_per_class": [Interval(Integral, 1, None, closed="left")],
        "refresh": [Interval(Integral, 1, None, closed="left")],
    }
    _losses = PAIR_LOSSES + TRIPLET_LOSSES + LABEL_LOSSES

    def __init__(self, *, n_components=None, loss="triplet", alpha=1.0, margin="auto",
                 temperature="auto", miner="semihard", sampling="neighbors", n_neighbors=3,
                 class_prior="auto", n_clusters_per_class=32, refresh=1, normalize=False,
                 learning_rate="adaptive", eta0=0.5, power_t=0.5, batch_size=256,
                 max_iter=100, tol=1e-3, n_iter_no_change=3, shuffle=True,
                 n_constraints=None, init="auto",
                 warm_start=False, backend="local", scheduler=None, local_steps=50,
                 verbose=0, preprocessor=None, random_state=None):
        super().__init__(
            n_components=n_components, loss=loss, alpha=alpha, margin=margin,
            normalize=normalize, learning_rate=learning_rate, eta0=eta0, power_t=power_t,
            batch_size=batch_size, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, shuffle=shuffle, init=init,
            warm_start=warm_start, backend=backend, scheduler=scheduler,
            local_steps=local_steps, verbose=verbose, preprocessor=preprocessor,
            random_state=random_state,
        )
        self.temperature = temperature
        self.miner = miner
        self.sampling = sampling
        self.n_neighbors = n_neighbors
        self.class_prior = class_prior
        self.n_clusters_per_class = n_clusters_per_class
        self.refresh = refresh
        self.n_constraints = n_constraints

    def _mines_pair_negatives(self):
        return self.sampling == "neighbors"

    def _margin(self, loss):
        if self.margin != "auto":
            return float(self.margin)
        return _AUTO_MARGIN.get(loss, 0.5)

    def _temperature(self, loss, normalize):
        if self.temperature != "auto":
            return float(self.temperature)
        return 0.1 if normalize else _AUTO_TEMPERATURE.get(loss, 0.1)

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

    def _with_prior(self, settings, codes):
        """``settings`` with ``class_prior='auto'`` estimated from the class
        codes of the training points (:func:`~metriclearn._sgd.losses.class_prior`)."""
        if self.class_prior != "auto" or settings.loss.name != "debiased":
            return settings
        return replace(settings, loss=replace(settings.loss, prior=class_prior(codes)))

    def _fit_labels(self, X, y, rng):
        settings = self._settings()
        if self.backend == "dask":
            sampler = label_sampler(y, type(self).__name__)
            settings = self._with_prior(settings, sampler.index.codes)
            return train_labels(X, sampler, settings, rng, scheduler=self.scheduler)
        X, center = centered(X, settings)
        result = self._train_labels(X, y, settings, rng)
        result.attributes["center_"] = center
        return result

    def _train_labels(self, X, y, settings, rng, *, partial=False):
        """Local training on pairs (or anchors) drawn from labels: the
        first epoch's random pairs also give the start."""
        # (the magnet loss's anchors are every point: no target neighbours)
        sampling = "random" if settings.loss.name == "magnet" else settings.sampling
        sampler = label_source(X, y, type(self).__name__, sampling, settings.n_neighbors)
        settings = self._with_prior(settings, sampler.index.codes)
        m, cut = settings.per_epoch(X.shape[0], sampler.n_distinct)
        first_pairs, first_labels = sampler.pair_sampler.draw(m, rng)
        if partial and hasattr(self, "components_"):
            precond, L = self.preconditioner_, self.components_
        else:
            precond, L = start(X, first_pairs, settings, rng)
        draw_epoch = epoch_source(X, sampler, settings.loss, m, (first_pairs, first_labels))
        result = train_local(draw_epoch, L, precond, settings, rng, partial=partial,
                             t=getattr(self, "t_", 0))
        result.warnings.extend([cut] if cut else [])
        return result

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
            X_ = self._centered_points(np.ascontiguousarray(X_, dtype=np.float64), settings)
            return self._train_labels(X_, y_, settings, rng, partial=True)

        self._partial_fit(fit_input, train)
        return self
