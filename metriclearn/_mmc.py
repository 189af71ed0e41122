"""Mahalanobis Metric for Clustering (Xing et al. 2002): MMC and MMC_Supervised."""

from numbers import Integral, Real

import numpy as np

from ._compat import Interval, StrOptions, _fit_context
from ._linalg import components_from_metric, initial_metric
from ._mmc_solver import (
    solve_diagonal,
    solve_diagonal_limit,
    solve_full,
    unbounded_features,
    unbounded_message,
)
from ._result import FitResult
from .base import (
    UNSET,
    BaseMetricLearner,
    PairsClassifierMixin,
    SupervisedLearnerMixin,
    TupleLearnerMixin,
)
from .exceptions import UnboundedObjectiveWarning

__all__ = ["MMC", "MMC_Supervised"]


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


class _BaseMMC(BaseMetricLearner):
    """The parameters and the problem shared by MMC and MMC_Supervised."""

    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_proj": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"identity", "covariance", "random"}), np.ndarray],
        "diagonal": ["boolean"],
        "diagonal_c": [Interval(Real, 0, None, closed="neither")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
        "convergence_threshold": [StrOptions({UNSET}), Interval(Real, 0, None, closed="left")],
    }
    _renamed_parameters = {"convergence_threshold": "tol"}

    def __init__(self, *, max_iter=100, max_proj=10000, tol=1e-3, init="identity",
                 diagonal=False, diagonal_c=1.0, verbose=False, preprocessor=None,
                 random_state=None, n_components=None, convergence_threshold=UNSET):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_components = n_components
        self.convergence_threshold = convergence_threshold

    def _fit_tuples(self, tuples, rng):
        """Learn M from validated pairs (:class:`~metriclearn._validation.Tuples`)."""
        diff = tuples.differences()
        sim, dis = diff[tuples.y == 1], diff[tuples.y == -1]
        dis = dis[np.any(dis != 0.0, axis=1)]  # identical points: no information
        if dis.shape[0] == 0:
            raise ValueError(
                "MMC needs at least one dissimilar pair (y == -1) of distinct points"
            )
        if not np.any(sim != 0.0):
            raise ValueError(
                "MMC needs at least one similar pair (y == +1) of distinct points"
            )
        d = tuples.n_features
        M0 = initial_metric(self.init, tuples.points().reshape(-1, d), d, rng)
        tol, warn = self._param("tol"), []
        if self.diagonal:
            unbounded = unbounded_features(sim, dis)
            if unbounded.size:
                a, history, n_iter, converged, gap = solve_diagonal_limit(
                    dis, unbounded, self.max_iter, tol)
                warn.append((UnboundedObjectiveWarning, unbounded_message(
                    f"features {unbounded[:10].tolist()} vary in dissimilar pairs but in "
                    "no similar pair")))
            else:
                a, history, n_iter, converged, gap = solve_diagonal(
                    sim, dis, np.diag(M0), float(self.diagonal_c), self.max_iter, tol)
            M = np.diag(a)
        else:
            M, history, n_iter, converged, gap, B = solve_full(
                sim, dis, M0, self.max_iter, tol)
            if B is not None:
                load = np.abs(B).max(axis=0)
                top = [j for j in np.argsort(-load)[:5] if load[j] > 1e-6 * load.max()]
                warn.append((UnboundedObjectiveWarning, unbounded_message(
                    f"the similar pairs leave {B.shape[0]} direction(s) of the dissimilar "
                    f"pairs unconstrained (led by features {sorted(int(j) for j in top)})")))
        components = components_from_metric(M, n_components=self.n_components)
        return FitResult(components, n_iter, converged, history,
                         {"certificate_": gap}, warnings=warn)


class MMC(TupleLearnerMixin, PairsClassifierMixin, _BaseMMC):
    r"""Mahalanobis Metric for Clustering (MMC), learned from pairs.

    Read more in the :ref:`User Guide <mmc>`.

    Full matrix (Xing et al. 2002, problem (4)):

    .. math::

        \max_{M \succeq 0} \sum_{(x, x') \in D} \|x - x'\|_M
        \quad \text{s.t.} \quad \sum_{(x, x') \in S} \|x - x'\|_M^2 \le 1

    Diagonal matrix ``M = diag(a)`` (``diagonal=True``, their problem (6)):

    .. math::

        \min_{a \ge 0} \sum_{(x, x') \in S} \|x - x'\|_a^2
        - c \log \sum_{(x, x') \in D} \|x - x'\|_a

    where

    - :math:`S` are the similar pairs (``y == +1``), :math:`D` the dissimilar
      ones (``y == -1``);
    - :math:`\|d\|_M = \sqrt{d^T M d}`;
    - :math:`c` is ``diagonal_c``.

    Both problems are convex. The full problem is solved by projected gradient
    ascent with Barzilai-Borwein steps and an Armijo line search [3]_, in
    coordinates whitened by the similar pairs' scatter
    :math:`\Sigma_S = \sum_S d d^T`: there the constraint reads
    :math:`\operatorname{tr} M' \le 1`, and the projection onto both
    constraints (Xing et al.'s C1 and C2, which they project onto alternately
    until both hold) is exact in one eigen-decomposition. The diagonal problem
    is solved by a projected Newton method for the bound :math:`a \ge 0` [2]_.
    Pairs of identical points carry no information and are ignored. If
    dissimilar pairs vary along a direction in which no similar pair does,
    the problem is unbounded and ``fit`` raises a ``ValueError``.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations (gradient steps, or Newton steps when
        ``diagonal=True``).
    max_proj : int, default=10000
        Kept for compatibility with metric-learn, where it caps the alternating
        projections onto the two constraint sets in each iteration. Here the
        projection onto their intersection is exact in one eigen-decomposition,
        so it needs no cap and this parameter has no effect.
    tol : float, default=1e-3
        Convergence tolerance. The full solver stops when the objective has
        gained less than ``tol`` (relative) in each of the last 3 iterations;
        the diagonal solver when the Newton decrement, which estimates the
        distance to the minimum, is below ``tol * max(1, |h|)``.
    init : {'identity', 'covariance', 'random'} or ndarray, default='identity'
        Starting matrix: the identity, the (pseudo-)inverse covariance of the
        points in ``pairs``, a random SPD matrix, or a symmetric PSD array of
        shape ``(n_features, n_features)``. With ``diagonal=True`` its diagonal
        is the start. The optimum does not depend on it (the problems are
        convex), only the path does.
    diagonal : bool, default=False
        Learn a diagonal matrix (a weighting of the features).
    diagonal_c : float, default=1.0
        Weight ``c`` of the dissimilarity term of the diagonal objective.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration (objective, step).
        A progress bar instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``pairs`` be given as ``(n_pairs, 2)`` integer indices: rows of
        this array, or the points a callable returns for an array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of ``init='random'``.
    n_components : int, default=None
        Rows of ``components_`` (the dimension of :meth:`transform`'s output):
        the leading ``n_components`` directions of the learned ``M`` (the
        best rank-``n_components`` approximation of it; exact, dropping its
        null directions, when ``M`` has at most that rank). ``None`` keeps
        all ``n_features`` rows, as metric-learn does.
    convergence_threshold : float, default="deprecated"
        metric-learn's old name of ``tol``: accepted with a ``FutureWarning``
        (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L`` (rows by decreasing weight).
    n_iter_ : int
        Number of iterations run.
    objective_history_ : ndarray
        Objective after each iteration: ``sum_D ||d||_M`` (with
        ``sum_S ||d||_M^2 = 1``) for the full matrix, ``h(a)`` for the diagonal.
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    certificate_ : float
        How far the solution may be from the optimum: the relative
        Frank-Wolfe gap of Xing's objective ``g = sum_D ||d||_M`` over the
        feasible set (for the diagonal problem, its equivalent scale-free
        form), so that ``g* <= g (1 + certificate_)``. ``g`` is concave, so
        this is a bound, not an estimate; 0 at an exact optimum.
    threshold_ : float
        Pairs at a learned distance at most this are predicted similar.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    MMC_Supervised : the same learner, from class labels.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan, S. Russell. "Distance metric
           learning, with application to clustering with side-information".
           NIPS 2002.
    .. [2] D. P. Bertsekas. "Projected Newton methods for optimization problems
           with simple constraints". SIAM J. Control Optim. 20(2), 1982.
    .. [3] E. G. Birgin, J. M. Martinez, M. Raydan. "Nonmonotone spectral
           projected gradient methods on convex sets". SIAM J. Optim. 10(4), 2000.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import MMC
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]], [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]], [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> mmc = MMC().fit(pairs, y)
    >>> mmc.predict(pairs).tolist()
    [1, 1, -1, -1]
    """

    _supervised_twin = "MMC_Supervised"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, pairs, y, calibration_params=None):
        """Learn the metric from labelled pairs, then calibrate ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or integer indices into ``preprocessor``.
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


class MMC_Supervised(SupervisedLearnerMixin, _BaseMMC):
    """Mahalanobis Metric for Clustering (MMC), learned from class labels.

    Read more in the :ref:`User Guide <mmc>`.

    Draws ``n_constraints`` similar pairs (same class) and as many dissimilar
    pairs (different classes) from the labels with
    :class:`~metriclearn.Constraints`, then solves :class:`MMC`'s problem.
    Every distinct label is a class (also negative ones).

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations.
    max_proj : int, default=10000
        Kept for compatibility with metric-learn, where it caps the alternating
        projections onto the two constraint sets in each iteration. Here the
        projection onto their intersection is exact in one eigen-decomposition,
        so it needs no cap and this parameter has no effect.
    tol : float, default=1e-6
        Convergence tolerance (see :class:`MMC`).
    n_constraints : int, default=None
        Number of similar and of dissimilar pairs to draw; ``None`` means
        ``20 * n_classes**2``.
    init : {'identity', 'covariance', 'random'} or ndarray, default='identity'
        Starting matrix (see :class:`MMC`).
    diagonal : bool, default=False
        Learn a diagonal matrix.
    diagonal_c : float, default=1.0
        Weight of the dissimilarity term of the diagonal objective.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 a start
        line (the problem's size) and a closing line (time, iterations run,
        convergence); 2 also a line every few seconds with the objective and an
        estimate of the time left; 3 a line every iteration. A progress bar
        instead: :func:`metriclearn.set_config`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the pairs drawn and of ``init='random'``.
    n_components : int, default=None
        Rows of ``components_`` (the dimension of :meth:`transform`'s output):
        the leading ``n_components`` directions of the learned ``M`` (the
        best rank-``n_components`` approximation of it; exact, dropping its
        null directions, when ``M`` has at most that rank). ``None`` keeps
        all ``n_features`` rows, as metric-learn does.
    num_constraints : int, default="deprecated"
        metric-learn's old name of ``n_constraints``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.
    convergence_threshold : float, default="deprecated"
        metric-learn's old name of ``tol``: accepted with a ``FutureWarning``
        (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    n_iter_ : int
        Number of iterations run.
    objective_history_ : ndarray
        Objective after each iteration (see :class:`MMC`).
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    certificate_ : float
        How far the solution may be from the optimum: the relative
        Frank-Wolfe gap of Xing's objective ``g = sum_D ||d||_M`` over the
        feasible set (for the diagonal problem, its equivalent scale-free
        form), so that ``g* <= g (1 + certificate_)``. ``g`` is concave, so
        this is a bound, not an estimate; 0 at an exact optimum.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import MMC_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(MMC_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseMMC._parameter_constraints,
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "num_constraints": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {**_BaseMMC._renamed_parameters, "num_constraints": "n_constraints"}

    def __init__(self, *, max_iter=100, max_proj=10000, tol=1e-6, n_constraints=None,
                 init="identity", diagonal=False, diagonal_c=1.0, verbose=False,
                 preprocessor=None, random_state=None, n_components=None,
                 num_constraints=UNSET, convergence_threshold=UNSET):
        super().__init__(
            max_iter=max_iter, max_proj=max_proj, tol=tol, init=init,
            diagonal=diagonal, diagonal_c=diagonal_c, verbose=verbose,
            preprocessor=preprocessor, random_state=random_state,
            n_components=n_components, convergence_threshold=convergence_threshold,
        )
        self.n_constraints = n_constraints
        self.num_constraints = num_constraints
