"""Large Margin Nearest Neighbor (Weinberger & Saul 2009): LMNN."""

import sys
import time
import warnings
from functools import lru_cache
from numbers import Integral, Real

import numba
import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from threadpoolctl import ThreadpoolController

from ._compat import Interval, StrOptions, _fit_context
from ._kernels.lmnn import (
    _BLOCK,
    _CHUNK,
    get_push_loss_terms,
    get_push_loss_terms_cached,
    get_target_neighbors,
    target_distances,
    target_weight_terms,
)
from .base import MahalanobisMixin, check_points, check_preprocessor, restore_on_error

__all__ = ["LMNN", "lmnn_objective"]

# consecutive iterations of negligible relative decrease that stop the solver
_WINDOW = 3


# --------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------


# How far L may move from the map of the last full impostor search before
# the next evaluation searches again: e = ||(L - L_ref) L_ref^+||_2. Every
# pair with ||L_ref (x_i - x_l)||^2 < (1 + (1 + e)^2 (R_ref - 1)) / (1 - e)^2
# is recorded (R_ref a margin radius at L_ref), which contains every impostor
# of any L within e of L_ref.
_MAX_MOVE = 0.1
# Recorded candidates are capped at this many in all (int32 entries), and
# never more than this many per point of the largest class' complement.
_MAX_CANDIDATES = 1 << 24


class _Problem:
    """LMNN's loss and gradient in ``L`` for points sorted by class.

    Holds the sorted points, the class bounds, the fixed target neighbours,
    the (constant) pull matrix ``sum_{i, j~>i} (x_i - x_j)(x_i - x_j)^T`` and
    the loss weights; :meth:`loss_grad` evaluates the loss at a flattened
    ``L``, as scipy's optimisers want it.

    Impostors are searched over all pairs of different classes at a
    reference map ``L_ref``, which records the pairs within an enlarged
    margin; while ``L`` stays within ``_MAX_MOVE`` of ``L_ref`` (in the sense
    above, which needs ``L_ref`` of full column rank) only those pairs are
    visited, which gives exactly the same loss and gradient.
    """

    def __init__(self, X, bounds, targets, regularization, n_jobs=1):
        self.X = X
        self.bounds = bounds
        self.targets = targets
        self.pull_weight = float(regularization)
        self.push_weight = 1.0 - float(regularization)
        self.push_kernel = get_push_loss_terms(n_jobs)
        self.cached_kernel = get_push_loss_terms_cached(n_jobs)
        s, c, P = target_weight_terms(X, targets, np.ones(targets.shape, dtype=np.float64))
        self.C_pull = self._outer_sum(s, c, P)
        n = X.shape[0]
        n_other = n - int(np.diff(bounds).min())
        self.cap = int(min(n_other, max(64, _MAX_CANDIDATES // max(n, 1))))
        self.n_active = 0
        self.n_searches = 0
        self._ref = None  # (L_ref^+, candidates, count) of the last search

    def _outer_sum(self, s, c, P):
        """``sum_pq W_pq (x_p - x_q)(x_p - x_q)^T`` from the row sums ``s``,
        column sums ``c`` and ``P = W X`` of ``W``."""
        X = self.X
        B = X.T @ P
        return (X.T * (s + c)) @ X - B - B.T

    def _push_terms(self, L, Z, dist_t):
        if self._ref is not None:
            L_ref, pinv, candidates, count = self._ref
            if np.linalg.norm((L - L_ref) @ pinv, 2) <= _MAX_MOVE:
                return self.cached_kernel(X=self.X, Z=Z, targets=self.targets,
                                          dist_t=dist_t, candidates=candidates,
                                          count=count)
        self._ref = None
        self.n_searches += 1
        e = _MAX_MOVE
        record = (1.0 + (1.0 + e) ** 2 * dist_t.max(axis=1)) / (1.0 - e) ** 2
        cap = self.cap if L.shape[0] >= L.shape[1] else 0
        *terms, candidates, count = self.push_kernel(
            self.X, Z, self.bounds, self.targets, dist_t, _BLOCK, _CHUNK, record, cap
        )
        if cap and count.max(initial=0) <= cap:
            sv = np.linalg.svd(L, compute_uv=False)
            if sv[-1] > 1e-8 * sv[0]:
                self._ref = (L.copy(), np.linalg.pinv(L), candidates, count)
        return terms

    def loss_grad(self, L_flat):
        X = self.X
        L = L_flat.reshape(-1, X.shape[1])
        Z = X @ L.T
        dist_t = target_distances(Z, self.targets)
        loss_rows, n_active, w_target, s, c, P = self._push_terms(L, Z, dist_t)
        s_t, c_t, P_t = target_weight_terms(X, self.targets, w_target)
        A = self._outer_sum(s + s_t, c + c_t, P + P_t)
        self.n_active = int(n_active.sum())
        loss = self.pull_weight * dist_t.sum() + self.push_weight * loss_rows.sum()
        grad = 2.0 * L @ (self.pull_weight * self.C_pull + self.push_weight * A)
        return loss, grad.ravel()


def _sort_by_class(y):
    """Class codes, the order that sorts the points by class (stable) and the
    class bounds in that order."""
    classes, codes = np.unique(y, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=classes.shape[0])
    bounds = np.zeros(classes.shape[0] + 1, dtype=np.intp)
    np.cumsum(counts, out=bounds[1:])
    return classes, counts, order, bounds


def lmnn_objective(L, X, y, n_neighbors=3, regularization=0.5):
    r"""LMNN's objective at ``L``, with target neighbours found in the input space.

    .. math::

        \varepsilon(L) = \rho \sum_{i, j \rightsquigarrow i}
        \|L(x_i - x_j)\|^2 + (1 - \rho) \sum_{i, j \rightsquigarrow i}
        \sum_{l: y_l \ne y_i}
        \left[1 + \|L(x_i - x_j)\|^2 - \|L(x_i - x_l)\|^2\right]_+^2

    with :math:`\rho` = ``regularization`` (see :class:`LMNN`).

    Parameters
    ----------
    L : array-like of shape (n_components, n_features)
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_neighbors : int, default=3
    regularization : float, default=0.5

    Returns
    -------
    float
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    _, _, order, bounds = _sort_by_class(np.asarray(y))
    Xs = np.ascontiguousarray(X[order])
    targets = get_target_neighbors(1)(Xs, bounds, int(n_neighbors), _BLOCK)
    problem = _Problem(Xs, bounds, targets, regularization)
    return problem.loss_grad(np.ascontiguousarray(L, dtype=np.float64).ravel())[0]


def _whitening(X, L0):
    """``W`` of shape (n_features, rank) that whitens ``X`` within the range
    of its covariance, and ``L0`` in those coordinates (``L0_w W^T`` equals
    ``L0`` on that range).

    The range is judged on the correlation matrix (features first scaled to
    unit spread), so that features of small units are not mistaken for
    constant ones.
    """
    Xc = X - X.mean(axis=0)
    std = np.sqrt((Xc * Xc).mean(axis=0))
    if not np.any(std > 0.0):
        raise ValueError("LMNN needs points that are not all identical; X has no variance")
    inv_std = np.where(std > 0.0, 1.0 / np.where(std > 0.0, std, 1.0), 0.0)
    Xs = Xc * inv_std
    w, V = np.linalg.eigh(Xs.T @ Xs / X.shape[0])
    keep = w > 1e-10 * w[-1]
    root = np.sqrt(w[keep])
    W = (V[:, keep] / root) * inv_std[:, None]
    # L0 on the range: L0 x = L0_w W^T x for every centred x in it
    B = V[:, keep] * root
    safe_std = np.where(std > 0.0, std, 0.0)
    return W, np.ascontiguousarray(L0 @ (B * safe_std[:, None]))


def _best_multiple(problem, L0, n_bisect=4):
    """The multiple ``t L0`` of the initial map that (nearly) minimises the loss.

    LMNN's margin is 1 whatever the units of the data, so on raw features the
    initial distances can be orders of magnitude off the scale of the
    solution, where the quartic loss leaves L-BFGS many slow iterations. Along
    the ray ``t L0`` the loss is a convex function of ``s = t^2`` (a linear
    pull term plus squared hinges of functions affine in ``s``), so its
    slope in ``s`` brackets the minimiser within a factor 10 and a few
    bisections in ``log s`` narrow it to about 15 percent; L-BFGS does the
    rest.
    """

    def evaluate(s):
        t = np.sqrt(s)
        f, g = problem.loss_grad((t * L0).ravel())
        return f, float(g @ L0.ravel()) / (2.0 * t)

    s = 1.0
    f, slope = evaluate(s)
    best = (f, s)
    if slope == 0.0:
        return L0
    step = 10.0 if slope < 0.0 else 0.1
    lo = hi = s
    for _ in range(30):
        s_new = s * step
        f_new, slope_new = evaluate(s_new)
        best = min(best, (f_new, s_new))
        if (slope_new >= 0.0) == (slope < 0.0):
            lo, hi = min(s, s_new), max(s, s_new)
            break
        s, slope = s_new, slope_new
    else:
        return np.sqrt(best[1]) * L0
    for _ in range(n_bisect):
        mid = np.sqrt(lo * hi)
        f_mid, slope_mid = evaluate(mid)
        best = min(best, (f_mid, mid))
        if slope_mid < 0.0:
            lo = mid
        else:
            hi = mid
    return np.sqrt(best[1]) * L0


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries loaded in this process (inspected once: a fresh
    inspection costs milliseconds, more than a small fit)."""
    return ThreadpoolController()


def _n_threads(n_jobs):
    """numba threads for ``n_jobs`` (None means 1, negative counts back from
    the number of threads numba may use)."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(available + 1 + n_jobs, 1)
    return min(n_jobs, available)


class LMNN(MahalanobisMixin, BaseEstimator):
    r"""Large Margin Nearest Neighbor (LMNN) metric learning.

    Learns a linear map ``L`` such that each point's ``n_neighbors`` target
    neighbours (its nearest points of the same class) are close, and points of
    other classes stay out of a unit margin around it:

    .. math::

        \min_{L} \; \rho \sum_{i, j \rightsquigarrow i} \|L(x_i - x_j)\|^2
        + (1 - \rho) \sum_{i, j \rightsquigarrow i} \sum_{l: y_l \ne y_i}
        \left[1 + \|L(x_i - x_j)\|^2 - \|L(x_i - x_l)\|^2\right]_+^2

    where

    - :math:`j \rightsquigarrow i` ranges over the ``n_neighbors`` target
      neighbours of :math:`x_i`: its nearest points of the same class in the
      input space (Euclidean distance), chosen once before optimisation;
    - :math:`l` ranges over the points of other classes; only the impostors,
      those inside the margin :math:`1 + \max_j \|L(x_i - x_j)\|^2` of
      :math:`x_i`, contribute;
    - :math:`[u]_+ = \max(0, u)`, squared: the smooth squared hinge of the
      original MATLAB implementation [2]_, so that the loss has a continuous
      gradient;
    - :math:`\rho` is ``regularization``: the weight of the pull term, the
      push term having weight :math:`1 - \rho`, as in metric-learn (in the
      notation of [1]_, :math:`\mu = 1 - \rho`).

    The loss is minimised over ``L`` (of shape ``(n_components, n_features)``)
    with scipy's L-BFGS-B [3]_. At every evaluation the impostors are searched
    afresh, blockwise (``128`` anchors against tiles of ``2048`` points of
    other classes, one GEMM per tile), so memory stays bounded by the block
    size and no ``n x n`` matrix is formed; the gradient is assembled from the
    active triplets' weights by a few dense products. The blocks run in
    parallel with ``n_jobs``.

    Parameters
    ----------
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray of shape \
            (n_components, n_features), default='auto'
        Initial ``L``, as in scikit-learn's
        :class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis`:

        - 'auto': 'lda' if ``n_components <= min(n_features, n_classes - 1)``,
          else 'pca' if ``n_components < min(n_features, n_samples)``, else
          'identity';
        - 'pca': the ``n_components`` principal axes of ``X``;
        - 'lda': the ``n_components`` most discriminative directions of
          linear discriminant analysis (needs
          ``n_components <= n_classes - 1``);
        - 'identity': the identity, truncated to ``n_components`` rows;
        - 'random': standard normal entries (seeded by ``random_state``);
        - an array: used as given.

    n_neighbors : int, default=3
        Number of target neighbours of each point. Every class needs at least
        ``n_neighbors + 1`` points.
    min_iter : int, default=50
        The relative-decrease test of ``tol`` is not applied before this many
        iterations (the solver may still stop earlier if it reaches a
        stationary point).
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    learn_rate : float, default=1e-7
        Kept for compatibility with metric-learn, whose gradient descent takes
        steps of this (absolute, hence scale-dependent) size. L-BFGS chooses
        its steps by a line search, so this parameter has no effect.
    regularization : float in [0, 1], default=0.5
        Weight :math:`\rho` of the pull term; the push term has weight
        ``1 - regularization``.
    convergence_tol : float, default=None
        Kept for compatibility with metric-learn, where it is an absolute
        tolerance on the change of the objective (so it depends on the scale
        of the data). Not used: convergence is judged by ``tol``.
    verbose : bool or int, default=False
        Print the objective, the number of active triplets and the time of
        each iteration.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices: rows of this array, or
        the points a callable returns for an array of indices.
    n_components : int, default=None
        Number of rows of ``L`` (the dimension of the learned space); ``None``
        means ``n_features``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'`` and of ``init='pca'`` (randomised SVD).
    tol : float, default=1e-5
        Relative tolerance (scale-free): the solver stops once the objective
        decreased by less than ``tol`` times its value in each of 3
        consecutive iterations (after ``min_iter`` iterations).
    callback : callable, default=None
        Called after every iteration as ``callback(L, n_iter)`` with the
        current ``L`` (a copy, shape ``(n_components, n_features)``).
    n_jobs : int, default=None
        Threads for the neighbour and impostor searches (numba); ``None``
        means 1, ``-1`` all of them. With one thread the result is
        deterministic bit for bit.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map ``L`` (``M = L^T L``).
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : ndarray of shape (`n_iter_` + 1,)
        The objective at the start and after every iteration.
    converged_ : bool
        Whether the solver stopped before ``max_iter``.
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    sklearn.neighbors.NeighborhoodComponentsAnalysis : a probabilistic
        neighbourhood learner, without margins.

    Notes
    -----
    The margin ``1`` fixes the scale of the learned space, so the objective
    depends on the units of ``X``; as usual for LMNN, standardising the
    features often helps. Target neighbours are fixed from the input space,
    as in [1]_ and metric-learn, so they do not depend on ``init``.

    References
    ----------
    .. [1] K. Q. Weinberger, L. K. Saul. "Distance metric learning for large
           margin nearest neighbor classification". JMLR 10, 2009.
    .. [2] K. Q. Weinberger, J. Blitzer, L. K. Saul. "Distance metric learning
           for large margin nearest neighbor classification". NIPS 2005.
    .. [3] R. H. Byrd, P. Lu, J. Nocedal, C. Zhu. "A limited memory algorithm
           for bound constrained optimization". SIAM J. Sci. Comput. 16(5),
           1995.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(LMNN(n_neighbors=3), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), np.ndarray],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "min_iter": [Interval(Integral, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learn_rate": [Interval(Real, 0, None, closed="neither")],
        "regularization": [Interval(Real, 0, 1, closed="both")],
        "convergence_tol": [Interval(Real, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callback": [callable, None],
        "n_jobs": [Integral, None],
    }

    def __init__(self, *, init="auto", n_neighbors=3, min_iter=50, max_iter=1000,
                 learn_rate=1e-7, regularization=0.5, convergence_tol=None,
                 verbose=False, preprocessor=None, n_components=None,
                 random_state=None, tol=1e-5, callback=None, n_jobs=None):
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.n_components = n_components
        self.random_state = random_state
        self.tol = tol
        self.callback = callback
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self
        """
        with restore_on_error(self):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            X, y = check_points(self, X, y=y, reset=True, ensure_min_samples=2)
            check_classification_targets(y)
            X = np.ascontiguousarray(X, dtype=np.float64)
            classes, counts, order, bounds = _sort_by_class(y)
            self._check_classes(classes, counts)
            rng = check_random_state(self.random_state)
            L0 = self._initialize(X, y, classes.shape[0], rng)
            threads = _n_threads(self.n_jobs)
            previous = numba.get_num_threads()
            try:
                if threads != 1:
                    numba.set_num_threads(threads)
                # parallelism is numba's (opt-in by n_jobs): BLAS, called on
                # small tiles inside the blocks, runs on one thread
                with _blas_controller().limit(limits=1, user_api="blas"):
                    L, history, n_iter, converged = self._solve(
                        np.ascontiguousarray(X[order]), bounds, L0, threads
                    )
            finally:
                numba.set_num_threads(previous)
            if not converged:
                warnings.warn(
                    f"LMNN did not converge in max_iter={self.max_iter} iterations "
                    f"(tol={self.tol}); increase max_iter or tol",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            self.classes_ = classes
            self.components_ = L
            self.n_iter_ = n_iter
            self.objective_history_ = np.asarray(history)
            self.converged_ = converged
        return self

    def _check_classes(self, classes, counts):
        if classes.shape[0] < 2:
            raise ValueError(
                f"LMNN needs at least 2 classes in y; got 1 class ({classes.tolist()}): "
                "its impostors are points of other classes"
            )
        small = np.flatnonzero(counts < self.n_neighbors + 1)
        if small.size:
            c = small[np.argmin(counts[small])]
            raise ValueError(
                f"class {classes[c].item()!r} has {counts[c]} points, but n_neighbors="
                f"{self.n_neighbors} needs at least {self.n_neighbors + 1} points "
                "in every class (each point's target neighbours are other points "
                "of its class); lower n_neighbors or remove the class"
            )

    def _initialize(self, X, y, n_classes, rng):
        """The initial ``L`` named by ``init``, shape ``(n_components, n_features)``."""
        n_samples, d = X.shape
        r = d if self.n_components is None else self.n_components
        if r > d:
            raise ValueError(
                f"n_components={r} must be at most n_features={d}"
            )
        init = self.init
        if isinstance(init, np.ndarray):
            L = np.asarray(init, dtype=np.float64)
            if L.ndim != 2 or L.shape[1] != d:
                raise ValueError(
                    f"init must have shape (n_components, {d}) to match the {d} "
                    f"features of X; got shape {L.shape}"
                )
            if self.n_components is not None and L.shape[0] != r:
                raise ValueError(
                    f"init has {L.shape[0]} rows, but n_components={r}"
                )
            if L.shape[0] > d:
                raise ValueError(
                    f"init has {L.shape[0]} rows, more than n_features={d}"
                )
            if not np.all(np.isfinite(L)):
                raise ValueError("init contains NaN or infinity")
            return np.ascontiguousarray(L)
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
                    f"init='pca' needs n_components <= min(n_samples, n_features) "
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

    def _solve(self, X, bounds, L0, threads):
        """Minimise the loss with L-BFGS-B from ``L0``; ``X`` sorted by class."""
        targets = get_target_neighbors(threads)(X, bounds, self.n_neighbors, _BLOCK)
        # L-BFGS runs in whitened coordinates: with the covariance's
        # eigenpairs (w, V) restricted to its range, X_w = (X - mean) V w^(-1/2)
        # and L = L_w W^T for W = V w^(-1/2). The objective is unchanged
        # (differences of points lie in that range), and the solver is spared
        # features of very different units and strongly correlated ones
        L_init = L0
        W, L0 = _whitening(X, L0)
        problem = _Problem(np.ascontiguousarray((X - X.mean(axis=0)) @ W), bounds,
                           targets, self.regularization, n_jobs=threads)
        shape = L0.shape
        L0 = _best_multiple(problem, L0)
        f0, _ = problem.loss_grad(L0.ravel())
        history = [f0]
        state = {"n_iter": 0, "stalled": 0, "converged": False, "t": time.perf_counter()}
        name = type(self).__name__
        if self.verbose:
            header = f"{'Iteration':>10} {'Objective':>20} {'Active triplets':>16} {'Time(s)':>8}"
            print(f"[{name}]\n[{name}] {header}\n[{name}] {'-' * len(header)}")
            print(f"[{name}] {0:>10d} {f0:>20.6e} {problem.n_active:>16,d}")
            sys.stdout.flush()

        def callback(intermediate_result):
            state["n_iter"] += 1
            it = state["n_iter"]
            f = float(intermediate_result.fun)
            previous = history[-1]
            history.append(f)
            if self.verbose:
                now = time.perf_counter()
                print(f"[{name}] {it:>10d} {f:>20.6e} {problem.n_active:>16,d} "
                      f"{now - state['t']:>8.2f}")
                sys.stdout.flush()
                state["t"] = now
            if self.callback is not None:
                self.callback(intermediate_result.x.reshape(shape) @ W.T, it)
            if f <= 0.0:
                state["converged"] = True
                raise StopIteration
            rel = (previous - f) / abs(f)
            state["stalled"] = state["stalled"] + 1 if rel < self.tol else 0
            if it >= self.min_iter and state["stalled"] >= _WINDOW:
                state["converged"] = True
                raise StopIteration

        if f0 <= 0.0:  # nothing to pull, nothing to push
            return L_init, history, 0, True
        result = minimize(
            problem.loss_grad, L0.ravel(), jac=True, method="L-BFGS-B",
            callback=callback,
            options={"maxiter": self.max_iter, "maxfun": 20 * self.max_iter,
                     "ftol": 0.0, "gtol": 0.0},
        )
        n_iter = state["n_iter"]
        # L-BFGS-B also stops by itself when its line search finds no decrease
        # at working precision: a stationary point as far as it can tell
        converged = state["converged"] or n_iter < self.max_iter
        L = np.ascontiguousarray(result.x.reshape(shape) @ W.T)
        return L, history, n_iter, converged

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
