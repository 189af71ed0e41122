"""Neighbourhood Components Analysis (Goldberger et al. 2004): NCA."""

from numbers import Integral, Real

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.multiclass import check_classification_targets

from ._compat import Interval, StrOptions
from ._labels import LabelIndex
from ._linalg import check_n_components
from ._nca_solver import solve
from ._result import FitResult
from .base import BaseMetricLearner, SupervisedLearnerMixin

__all__ = ["NCA"]

# what tol=None stands for: scipy's defaults for L-BFGS-B (its ``factr=1e7``
# times the machine epsilon, and ``pgtol``), which metric-learn keeps
_DEFAULT_FTOL = 1e7 * np.finfo(np.float64).eps
_DEFAULT_GTOL = 1e-5


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class NCA(SupervisedLearnerMixin, BaseMetricLearner):
    r"""Neighbourhood Components Analysis (NCA).

    Read more in the :ref:`User Guide <nca>`.

    Learns a linear map ``L`` that maximises the expected number of points
    that a stochastic nearest-neighbour rule classifies correctly, leaving
    each point out in turn (Goldberger et al. [1]_):

    .. math::

        \max_{L} \; f(L) = \sum_{i} p_i, \qquad
        p_i = \sum_{j \ne i:\, y_j = y_i} p_{ij}, \qquad
        p_{ij} = \frac{\exp(-\|L x_i - L x_j\|^2)}
                      {\sum_{k \ne i} \exp(-\|L x_i - L x_k\|^2)}

    where

    - :math:`p_{ij}` is the probability that :math:`x_i` picks :math:`x_j`
      as its neighbour (a softmax over the other points of minus their
      squared distances in the learned space);
    - :math:`p_i` is the probability that :math:`x_i` picks a point of its
      own class, so that :math:`f(L) / n` is the expected leave-one-out
      accuracy of the stochastic rule.

    The objective is maximised over ``L`` (of shape
    ``(n_components, n_features)``) with scipy's L-BFGS-B [2]_. Its value
    and gradient

    .. math::

        \nabla f(L) = 2 L \sum_{i, k} p_{ik} \left(p_i - [y_k = y_i]\right)
        (x_i - x_k)(x_i - x_k)^T

    are computed block of rows by block of rows: each block forms its rows
    of the softmax (shifted by the row's largest term) in buffers of bounded
    size (64 MB in all), and folds them into the gradient by matrix
    products, so no ``n x n`` matrix is ever formed. Once the softmax has
    concentrated on a few neighbours per point, a single-precision product
    selects them (with a rounding bound, so that none is missed) and only
    their terms are computed, exactly. Terms below ``2^-53`` of a row's sum
    in all are dropped. The blocks run in parallel with ``n_jobs``.

    Parameters
    ----------
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray, default='auto'
        Initial ``L`` (an array has shape ``(n_components, n_features)``):

        - 'auto': 'lda' if ``n_components <= min(n_features, n_classes - 1)``,
          else 'pca' if ``n_components < min(n_features, n_samples)``, else
          'identity';
        - 'pca': the ``n_components`` principal axes of ``X``;
        - 'lda': the ``n_components`` most discriminative directions of
          linear discriminant analysis (needs
          ``n_components <= n_classes - 1``);
        - 'identity': the identity, truncated to ``n_components`` rows;
        - 'random': standard normal entries (seeded by ``random_state``);
        - an array: used as given (copied).

    n_components : int, default=None
        Number of rows of ``L`` (the dimension of the learned space); ``None``
        means ``n_features``.
    max_iter : int, default=100
        Maximum number of L-BFGS iterations.
    tol : float, default=None
        Tolerance of L-BFGS-B, as in metric-learn and scikit-learn: the solver
        stops once an iteration changes the objective by at most ``tol``
        relative to it (``(f_{k+1} - f_k) / max(|f_k|, |f_{k+1}|, 1)``), or
        once the largest entry of the gradient is at most ``tol`` in
        magnitude. ``None`` keeps scipy's defaults, ``2.2e-9`` and ``1e-5``
        (as metric-learn does): the same iterates as metric-learn's NCA, up
        to rounding. scikit-learn's default is ``1e-5``.
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
        (``init`` and ``n_components`` are then ignored), as scikit-learn's
        :class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis` does.
    n_jobs : int, default=None
        Threads for the blocks of the softmax (numba, with single-threaded
        BLAS in each); ``None`` means 1, ``-1`` all of them. With one thread
        the result is deterministic bit for bit.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : ndarray of shape (`n_iter_` + 1,)
        The objective :math:`f(L) = \sum_i p_i` at the start and after every
        iteration (it increases).
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
    LMNN : a large-margin learner for k-nearest neighbours.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : the same objective,
        computed over a dense ``n x n`` matrix.

    Notes
    -----
    The objective is not convex: the solution depends on ``init``. It is not
    invariant to the scale of ``L`` either (a larger ``L`` makes the softmax
    harder), so features in very different units are best standardised.

    References
    ----------
    .. [1] J. Goldberger, S. Roweis, G. Hinton, R. Salakhutdinov.
           "Neighbourhood Components Analysis". NIPS 2004.
    .. [2] R. H. Byrd, P. Lu, J. Nocedal, C. Zhu. "A limited memory algorithm
           for bound constrained optimization". SIAM J. Sci. Comput. 16(5),
           1995.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import NCA
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(NCA(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), np.ndarray],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "callback": [callable, None],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, *, init="auto", n_components=None, max_iter=100, tol=None,
                 verbose=False, preprocessor=None, random_state=None, callback=None,
                 warm_start=False, n_jobs=None):
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.callback = callback
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def _fit_labels(self, X, y, rng):
        # (n_jobs=0 is refused by the template's thread count, _threads.numba_threads)
        check_classification_targets(y)
        index = LabelIndex(y)
        L0 = self._initialize(X, y, index.n_classes, rng)
        ftol, gtol = ((_DEFAULT_FTOL, _DEFAULT_GTOL) if self.tol is None
                      else (self.tol, self.tol))
        # parallelism is numba's (opt-in by n_jobs; the template sets the
        # threads, BLAS on one)
        L, history, n_iter, converged = solve(
            np.ascontiguousarray(X[index.order]), index.bounds,
            index.codes[index.order], L0, max_iter=self.max_iter, ftol=ftol,
            gtol=gtol, callback=self.callback, threads=self._solver_threads(),
            name=type(self).__name__,
        )
        return FitResult(L, n_iter, converged, history)

    def _convergence_message(self):
        tol = ("None: ftol=2.2e-09, gtol=1e-05" if self.tol is None else self.tol)
        return (
            f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
            f"{self._iteration_unit} (tol={tol}); increase max_iter or tol"
        )

    def _initialize(self, X, y, n_classes, rng):
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
        return initial_components(self.init, self.n_components, X, y, n_classes, rng)


def initial_components(init, n_components, X, y, n_classes, rng):
    """The initial ``L`` named by ``init`` (see :class:`NCA`), checked
    against ``X``: shape ``(n_components, n_features)``."""
    n_samples, d = X.shape
    r = d if n_components is None else n_components
    check_n_components(r, d)
    if isinstance(init, np.ndarray):
        L = np.array(init, dtype=np.float64, order="C")
        if L.ndim != 2 or L.shape[1] != d:
            raise ValueError(
                f"init must have shape (n_components, {d}) to match the {d} "
                f"features of X; got shape {L.shape}"
            )
        if n_components is not None and L.shape[0] != r:
            raise ValueError(f"init has {L.shape[0]} rows, but n_components={r}")
        if L.shape[0] > d:
            raise ValueError(f"init has {L.shape[0]} rows, more than n_features={d}")
        if not np.all(np.isfinite(L)):
            raise ValueError("init contains NaN or infinity")
        return L
    if init == "auto":
        if r <= min(d, n_classes - 1):
            init = "lda"
        elif r < min(d, n_samples):
            init = "pca"
        else:
            init = "identity"
    if init == "identity":
        return np.eye(r, d)
    if init == "random":
        return rng.standard_normal((r, d))
    if init == "pca":
        if r > min(n_samples, d):
            raise ValueError(
                "init='pca' needs n_components <= min(n_samples, n_features) "
                f"= {min(n_samples, d)}; got n_components={r}"
            )
        pca = PCA(n_components=r, random_state=rng).fit(X)
        return np.ascontiguousarray(pca.components_)
    # lda
    if r > min(d, n_classes - 1):
        raise ValueError(
            "init='lda' needs n_components <= min(n_features, n_classes - 1) "
            f"= {min(d, n_classes - 1)}; got n_components={r}"
        )
    lda = LinearDiscriminantAnalysis(n_components=r).fit(X, y)
    return np.ascontiguousarray(lda.scalings_.T[:r])
