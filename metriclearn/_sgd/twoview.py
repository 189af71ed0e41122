"""SGDTwoViewLearner: two linear maps, one per view, learned by mini-batch
SGD on the symmetric InfoNCE loss of paired rows (CLIP's objective)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from .._compat import (
    Interval,
    ParamNamesOnce,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from .._progress import Progress, reporting
from .._threads import limit_threads
from .._validation import restore_on_error
from .engine import (
    N_SCALE_SAMPLE,
    TrainingSettings,
    _initial_components,
    preconditioner,
    train_local,
)
from .losses import LossConfig, TwoViewBatch

__all__ = ["SGDTwoViewLearner"]

# the views, as the errors and the fitted attributes name them
_VIEWS = ("X", "Y")


class SGDTwoViewLearner(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ParamNamesOnce,
                        BaseEstimator):
    r"""Two linear maps, one per view, that bring paired rows together:
    the symmetric InfoNCE loss of CLIP, learned by mini-batch SGD.

    Read more in the :ref:`User Guide <twoview>`.

    **Problem.** Row :math:`i` of ``X`` (``n x p``) and row :math:`i` of
    ``Y`` (``n x q``) are two views of one object (the two halves of an
    image, an image and its caption, two sensors). The learner finds
    :math:`L_x \in \mathbb{R}^{k \times p}` and
    :math:`L_y \in \mathbb{R}^{k \times q}` embedding both views in one
    space of :math:`k` dimensions, where each row lies closest to its own
    partner. With ``normalize=True`` (the default) the embeddings are unit
    vectors of the centred, mapped rows,

    .. math::

        z^x_i = \frac{L_x (x_i - \bar x)}{\|L_x (x_i - \bar x)\|}, \qquad
        z^y_j = \frac{L_y (y_j - \bar y)}{\|L_y (y_j - \bar y)\|},

    and in a mini-batch of :math:`B` pairs, with logits
    :math:`S_{ij} = \langle z^x_i, z^y_j \rangle / \tau`, the loss is the
    mean of the two cross-entropies that pick each row's partner among the
    batch (rows: an ``X`` row against every ``Y`` row; columns: the
    reverse), Radford et al. [1]_, after van den Oord et al. [2]_:

    .. math::

        \ell = \frac{1}{2B} \sum_{i=1}^{B} \Big(
        \log \sum_{j=1}^{B} e^{S_{ij}} - S_{ii} \Big)
        + \frac{1}{2B} \sum_{j=1}^{B} \Big(
        \log \sum_{i=1}^{B} e^{S_{ij}} - S_{jj} \Big),

    where :math:`\tau` is ``temperature``. The other pairs of the batch are
    the negatives: a larger batch is a harder task, and :math:`\log B` is
    the loss of embeddings that tell nothing apart. With ``normalize=False``
    the embeddings are :math:`L_x (x - \bar x)` and :math:`L_y (y - \bar y)`
    themselves: the logits then grow with the scale of the maps, and the
    loss can be lowered by scaling them up alone.

    **Solver.** The engine of the SGD family (:class:`SGDMetricLearner`):
    each epoch visits the pairs in a new random order, one step per batch,
    with the learning-rate schedules ``'constant'``, ``'invscaling'`` and
    ``'adaptive'``, a per-feature preconditioner in each view (the inverse
    of the feature's second moment over the largest eigenvalue of the
    correlations, so that the steps do not depend on the units), and the
    stopping rule on the epoch loss (``tol``, ``n_iter_no_change``). It steps
    the map :math:`[L_x \; L_y]` of the concatenated features. The batch
    step is five matrix products (BLAS), the logits a :math:`B \times B`
    matrix.

    **Retrieval.** :meth:`transform` returns the ``X`` embeddings, and both
    when ``Y`` is given: the partner of a row is looked up as its nearest
    neighbour in the other view (:func:`metriclearn.metrics.recall_at_k`
    with the pair index as the class). The maps are not a Mahalanobis
    metric of one space, so this learner has no ``get_metric``.

    Parameters
    ----------
    n_components : int, default=None
        Dimension :math:`k` of the shared space; ``None`` means
        ``min(p, q)``.
    temperature : float, default=0.1
        Temperature :math:`\tau` of the logits (on cosines with
        ``normalize``).
    normalize : bool, default=True
        Embed on the unit sphere (see above). Off it the curvature of the
        loss grows with the scale of the maps: lower ``eta0`` (0.01 on the
        digits, where the default diverges), and expect less: on the digits'
        left and right halves, held-out recall@1 was 0.044 off the sphere
        against 0.085 on it.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='adaptive'
        Learning rate schedule: fixed ``eta0``; ``eta0 / (1 + t)^power_t``
        after ``t`` steps; or ``eta0``, divided by 5 each time the epoch loss
        stops improving (the fit stops when it would fall below 1e-6).
    eta0 : float, default=0.5
        Initial (preconditioned) learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    batch_size : int, default=256
        Pairs per mini-batch step (each row's negatives are the other
        ``batch_size - 1`` rows of the batch).
    max_iter : int, default=100
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Relative decrease of the epoch loss that counts as progress; ``None``
        runs ``max_iter`` epochs.
    n_iter_no_change : int, default=3
        Epochs without progress before the schedule stops or lowers the rate.
    init : {'auto', 'pca', 'identity', 'random'} or tuple of two ndarrays, default='auto'
        Starting maps: the leading principal directions of each view
        (``'pca'``; ``'auto'`` is ``'pca'``), the first :math:`k` features of
        each (``'identity'``), Gaussian entries (``'random'``), each scaled
        so that the centred rows start at a mean squared length of 1; or the
        pair ``(Lx, Ly)`` of shapes ``(k, p)`` and ``(k, q)``.
    warm_start : bool, default=False
        Start ``fit`` from the fitted maps.
    verbose : int or bool, default=0
        What the fit prints, as in every learner: 0 nothing; 1 a start and a
        closing line; 2 also a line every few seconds; 3 a line every epoch
        (loss, learning rate, pairs per second).
    random_state : int, RandomState instance or None, default=None
        Seed of the order of the pairs and of ``init='random'``.

    Attributes
    ----------
    x_components_ : ndarray of shape (n_components, n_features_x)
        The map :math:`L_x` of the first view.
    y_components_ : ndarray of shape (n_components, n_features_y)
        The map :math:`L_y` of the second view.
    x_mean_ : ndarray of shape (n_features_x,)
        :math:`\bar x`, the mean of the training rows of ``X``.
    y_mean_ : ndarray of shape (n_features_y,)
        :math:`\bar y`, the mean of the training rows of ``Y``.
    n_iter_ : int
        Number of epochs run.
    objective_history_ : ndarray of shape (`n_iter_`,)
        Mean loss per pair of each epoch (each batch's loss before its step).
    converged_ : bool
        Whether the stopping rule was met before ``max_iter``.
    t_ : int
        Number of mini-batch steps taken.
    n_features_in_ : int
        Number of features of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features of ``X``, when it has string column names.

    Notes
    -----
    The names follow scikit-learn's cross-decomposition estimators
    (:class:`~sklearn.cross_decomposition.PLSCanonical`,
    :class:`~sklearn.cross_decomposition.CCA`): ``fit(X, Y)``,
    ``transform(X, Y=None)``, a 1-D ``Y`` taken as one column, and the maps
    of the views as ``x_components_`` and ``y_components_`` (metric-learn's
    ``components_``, one per view, rows as output dimensions). One
    difference: ``fit_transform(X, y)`` is ``fit(X, y).transform(X)``, the
    ``X`` embeddings only, as a transformer inside a
    :class:`~sklearn.pipeline.Pipeline` must return (PLS returns both
    arrays there); ``transform(X, Y)`` gives both.

    References
    ----------
    .. [1] A. Radford, J. W. Kim, C. Hallacy et al. "Learning transferable
           visual models from natural language supervision". ICML 2021.
    .. [2] A. van den Oord, Y. Li, O. Vinyals. "Representation learning with
           contrastive predictive coding". arXiv:1807.03748, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from metriclearn import SGDTwoViewLearner
    >>> from metriclearn.metrics import recall_at_k
    >>> pixels = StandardScaler().fit_transform(load_digits().data)
    >>> left, right = pixels.reshape(-1, 8, 8)[:, :, :4], pixels.reshape(-1, 8, 8)[:, :, 4:]
    >>> X, Y = left.reshape(-1, 32), right.reshape(-1, 32)
    >>> model = SGDTwoViewLearner(n_components=16, random_state=0).fit(X[:1500], Y[:1500])
    >>> zx, zy = model.transform(X[1500:], Y[1500:])
    >>> pair = np.arange(zx.shape[0])
    >>> bool(recall_at_k(zx, pair, k=10, X_gallery=zy, y_gallery=pair) > 0.2)
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "normalize": ["boolean"],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"auto", "identity", "pca", "random"}), tuple],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_components=None, temperature=0.1, normalize=True,
                 learning_rate="adaptive", eta0=0.5, power_t=0.5, batch_size=256,
                 max_iter=100, tol=1e-3, n_iter_no_change=3, init="auto",
                 warm_start=False, verbose=0, random_state=None):
        self.n_components = n_components
        self.temperature = temperature
        self.normalize = normalize
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------ input

    def _settings(self, k):
        warm = None
        if self.warm_start and hasattr(self, "x_components_"):
            warm = np.hstack([self.x_components_, self.y_components_])
        return TrainingSettings(
            name=type(self).__name__, unit="pairs",
            loss=LossConfig("infonce", temperature=float(self.temperature),
                            normalize=bool(self.normalize)),
            n_components=k, init=self.init, warm_components=warm,
            learning_rate=self.learning_rate, eta0=float(self.eta0),
            power_t=float(self.power_t), batch_size=int(self.batch_size),
            max_iter=int(self.max_iter), tol=self.tol,
            n_iter_no_change=int(self.n_iter_no_change), shuffle=True, local_steps=1,
        )

    def _start(self, U, V, settings, rng):
        """The preconditioner and the starting map ``[Lx | Ly]``."""
        k = settings.n_components
        sample = rng.permutation(U.shape[0])[:N_SCALE_SAMPLE]
        precond = np.concatenate([preconditioner(U[sample]), preconditioner(V[sample])])
        if settings.warm_components is not None:
            W = settings.warm_components
            if W.shape != (k, U.shape[1] + V.shape[1]):
                raise ValueError(
                    f"warm_start needs maps of {k} rows on {U.shape[1]} and {V.shape[1]} "
                    f"features; the fitted ones are {self.x_components_.shape} and "
                    f"{self.y_components_.shape}"
                )
            return precond, W.copy()
        init = settings.init
        if isinstance(init, tuple):
            maps = self._given_init(init, k, U.shape[1], V.shape[1])
        else:
            init = "pca" if init == "auto" else init
            maps = [_initial_components(init, k, view.shape[1], view[sample], None, 1.0, rng,
                                        on_points=True) for view in (U, V)]
        return precond, np.hstack(maps)

    @staticmethod
    def _given_init(init, k, p, q):
        if len(init) != 2:
            raise ValueError(
                f"init given as a tuple must hold the two maps (Lx, Ly); got {len(init)} "
                "items"
            )
        maps = []
        for name, L, d in zip(_VIEWS, init, (p, q), strict=True):
            L = np.asarray(L, dtype=np.float64)
            if L.shape != (k, d):
                raise ValueError(
                    f"the map of {name} in init must have shape ({k}, {d}) "
                    f"(n_components, features of {name}); got shape {L.shape}"
                )
            if not np.all(np.isfinite(L)):
                raise ValueError(f"the map of {name} in init contains NaN or infinity")
            maps.append(L)
        return maps

    # -------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y):
        """Learn the two maps from paired rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)
            The first view.
        Y : array-like of shape (n_samples, n_features_y) or (n_samples,)
            The second view: row ``i`` is the partner of ``X[i]``. A 1-D
            ``Y`` is one feature.

        Returns
        -------
        self
        """
        with restore_on_error(self):
            X, Y = validate_data(self, X, Y, reset=True, multi_output=True, y_numeric=True,
                                 dtype=np.float64, ensure_min_samples=2)
            # a 1-D Y is one column, as in scikit-learn's PLS
            Y = np.ascontiguousarray(Y.reshape(-1, 1) if Y.ndim == 1 else Y)
            p, q = X.shape[1], Y.shape[1]
            k = min(p, q) if self.n_components is None else int(self.n_components)
            settings = self._settings(k)
            rng = check_random_state(self.random_state)
            x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
            U = np.ascontiguousarray(X - x_mean)
            V = np.ascontiguousarray(Y - y_mean)
            precond, W = self._start(U, V, settings, rng)
            n = U.shape[0]

            def draw_epoch(rng):
                return TwoViewBatch(U, V, rng.permutation(n).astype(np.intp))

            progress = Progress(type(self).__name__, self.verbose, self.max_iter, "epochs")
            progress.start(f"{n:,} pairs of {p:,} and {q:,} features")
            with limit_threads(1, blas=1), reporting(progress):
                result = train_local(draw_epoch, W, precond, settings, rng)
            progress.close(result.n_iter, result.converged)
            self.x_components_ = np.ascontiguousarray(result.components[:, :p])
            self.y_components_ = np.ascontiguousarray(result.components[:, p:])
            self.x_mean_, self.y_mean_ = x_mean, y_mean
            self.n_iter_ = result.n_iter
            self.objective_history_ = np.asarray(result.history, dtype=np.float64)
            self.converged_ = result.converged
            self.t_ = result.attributes["t_"]
            if not result.converged and self.tol is not None:
                warnings.warn(
                    f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                    f"epochs (tol={self.tol}); increase max_iter or tol",
                    ConvergenceWarning, stacklevel=3,
                )
        return self

    # -------------------------------------------------------- transform

    def _embed(self, W, L, mean):
        Z = (W - mean) @ L.T
        if self.normalize:
            norms = np.linalg.norm(Z, axis=1, keepdims=True)
            Z = np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)
        return Z

    def transform(self, X, Y=None):
        """Embed rows of the first view, and of the second when ``Y`` is given.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)
        Y : array-like of shape (n_samples_y, n_features_y) or (n_samples_y,), default=None

        Returns
        -------
        x_scores : ndarray of shape (n_samples, n_components)
            :math:`z^x` of each row of ``X`` (unit rows with ``normalize``).
        y_scores : ndarray of shape (n_samples_y, n_components)
            :math:`z^y` of each row of ``Y``; returned as the pair
            ``(x_scores, y_scores)``, only when ``Y`` is given.
        """
        check_is_fitted(self, "x_components_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        x_scores = self._embed(X, self.x_components_, self.x_mean_)
        if Y is None:
            return x_scores
        Y = check_array(Y, ensure_2d=False, dtype=np.float64, input_name="Y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        q = self.y_components_.shape[1]
        if Y.shape[1] != q:
            raise ValueError(
                f"Y has {Y.shape[1]} features, but {type(self).__name__} is expecting {q} "
                "features as input"
            )
        return x_scores, self._embed(Y, self.y_components_, self.y_mean_)

    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X)``: the embeddings of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)
        y : array-like of shape (n_samples, n_features_y) or (n_samples,)
            The second view ``Y`` (named ``y`` here, as scikit-learn's
            transformers and checks call it).

        Returns
        -------
        x_scores : ndarray of shape (n_samples, n_components)
        """
        return self.fit(X, y).transform(X)

    @property
    def _n_features_out(self):
        return self.x_components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
