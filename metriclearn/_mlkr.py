"""Metric Learning for Kernel Regression (Weinberger & Tesauro 2007): MLKR.

The estimator; its problem and solver (L-BFGS-B over ``L``) are in
:mod:`._mlkr_solver`, the objective at a given map is
:func:`metriclearn.objectives.mlkr_objective`.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA

from ._compat import Interval, StrOptions, _fit_context
from ._linalg import check_n_components
from ._mlkr_solver import DEFAULT_FTOL, DEFAULT_GTOL, solve
from ._result import FitResult
from ._validation import check_points
from .base import BaseMetricLearner, SupervisedLearnerMixin

__all__ = ["MLKR"]


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class MLKR(SupervisedLearnerMixin, BaseMetricLearner):
    r"""Metric Learning for Kernel Regression (MLKR).

    Learns a linear map ``L`` under which Gaussian kernel regression
    predicts each point's real target from the other points as well as
    possible.

    Read more in the :ref:`User Guide <mlkr>`.

    It minimises the leave-one-out error

    .. math::

        \min_{L} \; f(L) = \sum_i \left(\hat y_i - y_i\right)^2, \qquad
        \hat y_i = \frac{\sum_{j \ne i} k_{ij}\, y_j}{\sum_{j \ne i} k_{ij}},
        \qquad k_{ij} = \exp\left(-\|L x_i - L x_j\|^2\right)

    where

    - :math:`\hat y_i` is the Nadaraya-Watson estimate of :math:`y_i` from
      the other points, with a Gaussian kernel of unit width in the learned
      space (the scale of ``L`` plays the part of the bandwidth);
    - ``L`` has shape ``(n_components, n_features)``, so
      ``n_components < n_features`` learns a reduction of the dimension
      (a supervised PCA) as well as a metric.

    The error is minimised with scipy's L-BFGS-B [2]_, from the gradient

    .. math::

        \nabla f(L) = 4 L \sum_{i, j} w_{ij} (x_i - x_j)(x_i - x_j)^T, \qquad
        w_{ij} = (\hat y_i - y_i)\, \frac{k_{ij}}{\sum_{l \ne i} k_{il}}\,
        (\hat y_i - y_j),

    over ``L`` itself, as in metric-learn: from the same ``init`` both
    follow the same path, up to rounding. Objective and gradient are
    computed block of rows by block of rows: each block forms its rows of
    the kernel (each row scaled by its largest entry, so that nothing
    overflows or underflows to zero) in one buffer of bounded size (at most
    256 rows, 32 MiB), and folds them into the gradient by matrix products,
    so no ``n x n`` matrix is ever formed. The blocks run in parallel with
    ``n_jobs``.

    Parameters
    ----------
    n_components : int, default=None
        Number of rows of ``L`` (the dimension of the learned space); ``None``
        means ``n_features``.
    init : {'auto', 'pca', 'identity', 'random'} or ndarray, default='auto'
        Initial ``L`` (an array has shape ``(n_components, n_features)``):

        - 'auto': 'pca' if ``n_components < min(n_features, n_samples)``,
          else 'identity';
        - 'pca': the ``n_components`` principal axes of ``X``;
        - 'identity': the identity, truncated to ``n_components`` rows;
        - 'random': standard normal entries (seeded by ``random_state``);
        - an array: used as given (copied).

        The kernel has unit width, so the scale of ``init`` sets the
        initial bandwidth: with 'identity' and 'pca', that of the features.
    tol : float, default=None
        Tolerance of L-BFGS-B, as in metric-learn: the solver stops once an
        iteration changes the objective by at most ``tol`` relative to it
        (``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)``), or once the largest
        entry of the gradient is at most ``tol`` in magnitude. ``None`` keeps
        scipy's defaults, ``2.2e-9`` and ``1e-5`` (as metric-learn does): the
        same iterates as metric-learn's MLKR, up to rounding, and the same
        stop. Both tests depend on the units of ``y`` (an objective below 1
        is judged by absolute changes): with targets of a very small or very
        large scale, pass a ``tol`` to match.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration (objective). A
        progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'`` and of ``init='pca'`` (randomised SVD).
    callback : callable, default=None
        Called after every iteration as ``callback(L, n_iter)`` with the
        current ``L`` (a copy, shape ``(n_components, n_features)``).
    warm_start : bool, default=False
        Start from the ``components_`` of the previous call to :meth:`fit`
        (``init`` and ``n_components`` are then ignored).
    n_jobs : int, default=None
        Threads for the blocks of the kernel (numba, with single-threaded
        BLAS in each); ``None`` means 1, ``-1`` all of them. With one thread
        the result is deterministic bit for bit.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
    n_iter_ : int
        Number of L-BFGS iterations run (metric-learn counts evaluations of
        the objective instead, line searches included).
    objective_history_ : ndarray of shape (`n_iter_` + 1,)
        The leave-one-out error at the start and after every iteration.
    converged_ : bool
        Whether the solver stopped before ``max_iter``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    NCA : the same softmax over the other points, for class labels.
    sklearn.neighbors.KNeighborsRegressor : a regressor to use in the
        learned space.

    Notes
    -----
    The objective is not convex: the solution depends on ``init``. Nor is
    it invariant to the scale of ``L`` (a larger ``L`` is a narrower
    kernel), so the units of the features matter; standardise them when
    they are not comparable. With few points per dimension the
    leave-one-out error can be driven well below the error on new points
    (a narrow kernel fits the noise): compare on held-out data.

    Each row of kernel weights is divided by its largest entry (exactly, as
    the weights are normalised), so it never underflows to zero: a point
    far from all others still gets the estimate of its nearest neighbours.
    Weights below ``exp(-50)`` of a row's largest are zero.

    References
    ----------
    .. [1] K. Q. Weinberger, G. Tesauro. "Metric Learning for Kernel
           Regression". AISTATS 2007.
    .. [2] R. H. Byrd, P. Lu, J. Nocedal, C. Zhu. "A limited memory algorithm
           for bound constrained optimization". SIAM J. Sci. Comput. 16(5),
           1995.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from metriclearn import MLKR
    >>> X, y = make_regression(n_samples=100, n_features=6, n_informative=2,
    ...                        noise=1.0, random_state=0)
    >>> mlkr = MLKR(n_components=2, random_state=0).fit(X, y)
    >>> mlkr.components_.shape
    (2, 6)
    >>> bool(mlkr.objective_history_[-1] < mlkr.objective_history_[0])
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "pca", "identity", "random"}), np.ndarray],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "callback": [callable, None],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, *, n_components=None, init="auto", tol=None, max_iter=1000,
                 verbose=False, preprocessor=None, random_state=None, callback=None,
                 warm_start=False, n_jobs=None):
        self.n_components = n_components
        self.init = init
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.callback = callback
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from points and their real targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Real targets (class labels are taken as numbers).

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y)

    def _check_labels_input(self, X, y):
        """The training points and real targets (float64), validated once."""
        y_arr = None if y is None else np.asarray(y)
        if y_arr is not None and y_arr.dtype.kind in "OSU":
            try:
                y_arr.astype(np.float64)
            except (TypeError, ValueError):
                values = np.unique(y_arr.astype(str).ravel())[:3].tolist()
                raise ValueError(
                    f"y must hold real targets: {type(self).__name__} is a metric "
                    f"learner for regression; got non-numeric values {values} (encode "
                    "class labels as numbers)"
                ) from None
        X, y = check_points(self, X, y=y, reset=True, ensure_min_samples=2,
                            y_numeric=True)
        return (np.ascontiguousarray(X, dtype=np.float64),
                np.ascontiguousarray(y, dtype=np.float64))

    def _fit_labels(self, X, y, rng):
        L0 = self._initialize(X, rng)
        # parallelism is numba's (opt-in by n_jobs; the template sets the
        # threads, BLAS on one)
        ftol, gtol = ((DEFAULT_FTOL, DEFAULT_GTOL) if self.tol is None
                      else (self.tol, self.tol))
        L, history, n_iter, converged = solve(
            X, y, L0, max_iter=self.max_iter, ftol=ftol, gtol=gtol,
            callback=self.callback, threads=self._solver_threads(),
            name=type(self).__name__,
        )
        return FitResult(L, n_iter, converged, history)

    def _convergence_message(self):
        tol = "None: ftol=2.2e-09, gtol=1e-05" if self.tol is None else self.tol
        return (
            f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
            f"{self._iteration_unit} (tol={tol}); increase max_iter or tol"
        )

    def _initialize(self, X, rng):
        """The initial ``L``: the previous solution (``warm_start``) or the
        one named by ``init``, shape ``(n_components, n_features)``."""
        n_samples, d = X.shape
        if self.warm_start and hasattr(self, "components_"):
            L = self.components_
            if L.shape[1] != d:
                raise ValueError(
                    f"warm_start=True needs X with the {L.shape[1]} features of the "
                    f"previous fit; got {d} features"
                )
            return np.array(L, dtype=np.float64, order="C")
        r = d if self.n_components is None else self.n_components
        check_n_components(r, d)
        init = self.init
        if isinstance(init, np.ndarray):
            L = np.array(init, dtype=np.float64, order="C")
            if L.ndim != 2 or L.shape[1] != d:
                raise ValueError(
                    f"init must have shape (n_components, {d}) to match the {d} "
                    f"features of X; got shape {L.shape}"
                )
            if self.n_components is not None and L.shape[0] != r:
                raise ValueError(f"init has {L.shape[0]} rows, but n_components={r}")
            if L.shape[0] > d:
                raise ValueError(f"init has {L.shape[0]} rows, more than n_features={d}")
            if not np.all(np.isfinite(L)):
                raise ValueError("init contains NaN or infinity")
            return L
        if init == "auto":
            init = "pca" if r < min(d, n_samples) else "identity"
        if init == "identity":
            return np.eye(r, d)
        if init == "random":
            return rng.standard_normal((r, d))
        if r > min(n_samples, d):
            raise ValueError(
                "init='pca' needs n_components <= min(n_samples, n_features) "
                f"= {min(n_samples, d)}; got n_components={r}"
            )
        pca = PCA(n_components=r, random_state=rng).fit(X)
        return np.ascontiguousarray(pca.components_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # real targets: a metric for regression, not a classifier
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags

