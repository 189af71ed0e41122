"""Sparse Distance Metric Learning (Qi et al. 2009): SDML and SDML_Supervised."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.covariance import graphical_lasso
from sklearn.exceptions import ConvergenceWarning

from ._compat import Interval, StrOptions, _fit_context
from ._linalg import components_from_metric, initial_metric, symmetric_eigh
from ._result import FitResult
from .base import (
    UNSET,
    BaseMetricLearner,
    PairsClassifierMixin,
    SupervisedLearnerMixin,
    TupleLearnerMixin,
)
from .exceptions import NonPSDError

__all__ = ["SDML", "SDML_Supervised"]

# balance_param='auto': this fraction of the largest balance for which the
# graphical lasso's matrix stays positive definite
_AUTO_FRACTION = 0.9
# iterations and tolerance of scikit-learn's graphical lasso (its defaults)
_GLASSO_MAX_ITER = 100
_GLASSO_TOL = 1e-4


def _prior(prior, points, d, rng):
    """The prior ``M0`` and its inverse (a :class:`NonPSDError` unless it is
    positive definite)."""
    M0 = initial_metric(prior, points, d, rng, name="prior")
    w, V = symmetric_eigh(M0, "the prior")
    if not w[0] > 1e-12 * max(abs(w[-1]), 1e-300):
        hint = (" With prior='covariance', this means the points' covariance is singular: "
                "use prior='identity' or drop constant or collinear features"
                if isinstance(prior, str) and prior == "covariance" else "")
        raise NonPSDError(
            "SDML needs a positive definite prior (its LogDet term is infinite "
            f"otherwise); smallest eigenvalue {w[0]:g}.{hint}"
        )
    return M0, (V / w) @ V.T, V * np.sqrt(w)


def _auto_balance(K, prior_sqrt):
    """``balance_param='auto'``: 0.9 times the largest balance ``eta`` for
    which ``M0^-1 + eta K`` is positive definite, i.e. ``0.9 / |mu|`` with
    ``mu`` the most negative eigenvalue of ``M0^{1/2} K M0^{1/2}``
    (``0.9 / mu_max`` when none is negative; 0 when ``K`` is zero)."""
    mu = np.linalg.eigvalsh(prior_sqrt.T @ K @ prior_sqrt)
    scale = -mu[0] if mu[0] < 0 else mu[-1]
    if not scale > 1e-12 * max(np.abs(mu).max(), 1e-300):
        return 0.0
    return _AUTO_FRACTION / scale


def _not_pd_error(balance, S, detail):
    w = np.linalg.eigvalsh(S)
    return ValueError(
        f"SDML's problem has no solution with balance_param={balance!r}: the graphical "
        f"lasso's matrix prior^-1 + balance_param * K (K: the similar pairs' scatter "
        f"minus the dissimilar pairs') is not positive definite (smallest eigenvalue "
        f"{w[0]:.4g}) and {detail}. Use balance_param='auto' (the default), a smaller "
        "balance_param, or a larger sparsity_param"
    )


def _solve(S, alpha, balance):
    """The graphical lasso of ``S`` (scikit-learn's), with clear errors.

    Returns ``M, n_iter, converged, warnings``.
    """
    d = S.shape[0]
    if d == 1:  # no off-diagonal entry: the minimiser of s m - log m
        if not S[0, 0] > 0:
            raise _not_pd_error(balance, S, "the objective decreases without bound")
        return np.array([[1.0 / S[0, 0]]]), 0, True, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            with np.errstate(all="ignore"):
                _, M, n_iter = graphical_lasso(
                    S, alpha=alpha, max_iter=_GLASSO_MAX_ITER, tol=_GLASSO_TOL,
                    return_n_iter=True)
        except FloatingPointError as exc:
            raise _not_pd_error(
                balance, S, f"scikit-learn's graphical lasso failed on it ({exc})") from None
    M = 0.5 * (M + M.T)
    if not np.all(np.isfinite(M)) or np.linalg.eigvalsh(M)[0] <= 0:
        raise _not_pd_error(balance, S, "the graphical lasso found no positive definite "
                                        "solution")
    found = [(ConvergenceWarning,
              f"SDML: scikit-learn's graphical lasso did not converge in "
              f"{_GLASSO_MAX_ITER} iterations (tol={_GLASSO_TOL}); the metric may be "
              "inaccurate: standardise the features or increase sparsity_param")
             for w in caught if issubclass(w.category, ConvergenceWarning)][:1]
    return M, n_iter, not found, found


class _BaseSDML(BaseMetricLearner):
    """The parameters and the problem shared by SDML and SDML_Supervised."""

    _parameter_constraints = {
        "balance_param": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "sparsity_param": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "preprocessor": [None, callable, "array-like"],
        "random_state": ["random_state"],
    }

    def __init__(self, *, balance_param="auto", sparsity_param=0.01, prior="identity",
                 verbose=False, preprocessor=None, random_state=None):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _fit_tuples(self, tuples, rng):
        """Learn M from validated pairs (:class:`~metriclearn._validation.Tuples`)."""
        d = tuples.n_features
        M0, M0_inv, M0_sqrt = _prior(self.prior, self._prior_points(tuples), d, rng)
        diff = tuples.differences()
        K = (diff.T * tuples.y.astype(np.float64)) @ diff
        if isinstance(self.balance_param, str):
            balance = _auto_balance(K, M0_sqrt)
        else:
            balance = float(self.balance_param)
        S = M0_inv + balance * K
        S = 0.5 * (S + S.T)
        alpha = float(self.sparsity_param)
        M, n_iter, converged, found = _solve(S, alpha, self.balance_param)
        off = np.abs(M).sum() - np.abs(np.diag(M)).sum()
        value = np.sum(M * S) - np.linalg.slogdet(M)[1] + alpha * off
        return FitResult(components_from_metric(M), n_iter, converged, [value], {
            "prior_": M0, "balance_param_": balance}, warnings=found)

    def _convergence_message(self):
        return None  # the graphical lasso's own warning is issued instead


class SDML(TupleLearnerMixin, PairsClassifierMixin, _BaseSDML):
    r"""Sparse Distance Metric Learning (SDML), learned from pairs.

    Read more in the :ref:`User Guide <sdml>`.

    SDML (Qi et al. [1]_) keeps the metric close to a prior :math:`M_0` in
    LogDet divergence, shrinks the distances of similar pairs and stretches
    those of dissimilar ones, and asks for a sparse matrix:

    .. math::

        \min_{M \succ 0} \; \operatorname{tr}(M M_0^{-1}) - \log\det M
        + \eta \operatorname{tr}(M K) + \alpha \sum_{i \ne j} |M_{ij}|,
        \qquad K = \sum_{(x, x') \in S} (x - x')(x - x')^T
                 - \sum_{(x, x') \in D} (x - x')(x - x')^T

    where

    - :math:`S` are the similar pairs (``y == +1``), :math:`D` the
      dissimilar ones (``y == -1``);
    - :math:`\eta` is ``balance_param`` and :math:`\alpha` is
      ``sparsity_param``.

    This is the graphical lasso of :math:`M_0^{-1} + \eta K`, solved by
    scikit-learn's :func:`~sklearn.covariance.graphical_lasso`. It has a
    solution when :math:`M_0^{-1} + \eta K` is positive definite; otherwise
    the dissimilar pairs' term can make the objective decrease without
    bound. metric-learn's default ``balance_param=0.5`` is past that limit on
    iris, wine, breast_cancer and digits (its fit raises). Here the default
    ``balance_param='auto'`` takes 0.9 times the largest :math:`\eta` that
    keeps the matrix positive definite (see Notes); a problem without a solution
    raises a ``ValueError`` that says so, never a crash or a NaN metric.

    Parameters
    ----------
    balance_param : 'auto' or float, default='auto'
        :math:`\eta`, the weight of the pairs' term. 'auto' is
        ``0.9 / |mu|`` with ``mu`` the most negative eigenvalue of
        :math:`M_0^{1/2} K M_0^{1/2}` (see Notes); the value used is
        ``balance_param_``. metric-learn's default is 0.5.
    sparsity_param : float, default=0.01
        :math:`\alpha`, the weight of the l1 penalty on the off-diagonal
        entries of ``M``.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0``: the identity, the inverse covariance of the points
        of the pairs, a random SPD matrix, or a positive definite array of
        shape ``(n_features, n_features)``. It must be positive definite.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 and more a
        start line (the problem's size) and a closing line (time, the graphical
        lasso's iterations, convergence); scikit-learn's graphical lasso
        reports no iterations of its own.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``pairs`` be given as ``(n_pairs, 2)`` integer indices.
    random_state : int, RandomState instance or None, default=None
        Seed of ``prior='random'``.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    balance_param_ : float
        The balance :math:`\eta` used.
    prior_ : ndarray of shape (n_features, n_features)
        The prior ``M0`` used.
    n_iter_ : int
        Iterations of the graphical lasso.
    converged_ : bool
        Whether the graphical lasso converged.
    threshold_ : float
        Pairs at a learned distance at most this are predicted similar.
    n_features_in_ : int
        Number of features of each point.
    preprocessor_ : None, ndarray or callable
        The validated preprocessor.

    See Also
    --------
    SDML_Supervised : the same learner, from class labels.

    Notes
    -----
    **Why 'auto'.** With :math:`K` a sum over pairs, the dissimilar pairs'
    (larger) distances make :math:`\eta K` strongly indefinite unless
    :math:`\eta` is scaled to the data and the number of pairs; no fixed
    number works for every data set. Relative to the prior,
    :math:`M_0^{-1} + \eta K` is positive definite exactly when
    :math:`\eta < 1 / |\mu|`; 'auto' takes 0.9 of that, whatever the units
    of the features and the number of pairs: the matrix's smallest
    eigenvalue relative to the prior is then 0.1, so the metric stretches
    the direction that best separates the dissimilar pairs by up to 10
    times the prior's, and the graphical lasso stays well conditioned. On
    standardised iris, wine, breast_cancer and digits (3 splits) the 3-NN
    accuracy was within noise for fractions between 0.5 and 0.95; on
    Xing's toy data (classes apart along one axis, larger spread along the
    others) fractions below 0.9 did not separate the classes.

    References
    ----------
    .. [1] G.-J. Qi, J. Tang, Z.-J. Zha, T.-S. Chua, H.-J. Zhang. "An
           efficient sparse metric learning in high-dimensional space via
           l1-penalized log-determinant regularization". ICML 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn import SDML
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]], [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]], [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> sdml = SDML().fit(pairs, y)
    >>> sdml.predict(pairs).tolist()
    [1, 1, -1, -1]
    """

    _supervised_twin = "SDML_Supervised"

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

    @staticmethod
    def _prior_points(tuples):
        """The distinct points of the pairs (prior='covariance')."""
        return np.unique(tuples.points().reshape(-1, tuples.n_features), axis=0)


class SDML_Supervised(SupervisedLearnerMixin, _BaseSDML):
    """Sparse Distance Metric Learning (SDML), learned from class labels.

    Read more in the :ref:`User Guide <sdml>`.

    Draws ``n_constraints`` similar pairs (same class) and as many
    dissimilar pairs (different classes) from the labels with
    :class:`~metriclearn.Constraints`, then solves :class:`SDML`'s problem.

    Parameters
    ----------
    balance_param : 'auto' or float, default='auto'
        Weight of the pairs' term (see :class:`SDML`; metric-learn's default
        0.5 has no solution on iris, wine, breast_cancer or digits).
    sparsity_param : float, default=0.01
        Weight of the l1 penalty on the off-diagonal entries of ``M``.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The prior ``M0`` (see :class:`SDML`); 'covariance' is the inverse
        covariance of ``X``.
    n_constraints : int, default=None
        Number of similar and of dissimilar pairs to draw; ``None`` means
        ``20 * n_classes**2``.
    verbose : int or bool, default=False
        What the fit prints, the same in every learner: 0 nothing; 1 and more a
        start line (the problem's size) and a closing line (time, the graphical
        lasso's iterations, convergence); scikit-learn's graphical lasso
        reports no iterations of its own.
    preprocessor : array-like of shape (n_samples, n_features) or callable, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seed of the pairs drawn and of ``prior='random'``.
    num_constraints : int, default="deprecated"
        metric-learn's old name of ``n_constraints``: accepted with a
        ``FutureWarning`` (its value is used), to be removed.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The linear map ``L`` with ``M = L^T L``.
    balance_param_ : float
        The balance used.
    prior_ : ndarray of shape (n_features, n_features)
        The prior ``M0`` used.
    n_iter_ : int
        Iterations of the graphical lasso.
    converged_ : bool
        Whether the graphical lasso converged.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from metriclearn import SDML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(SDML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> model.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_BaseSDML._parameter_constraints,
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "num_constraints": [StrOptions({UNSET}), Interval(Integral, 1, None, closed="left")],
    }
    _renamed_parameters = {"num_constraints": "n_constraints"}

    def __init__(self, *, balance_param="auto", sparsity_param=0.01, prior="identity",
                 n_constraints=None, verbose=False, preprocessor=None, random_state=None,
                 num_constraints=UNSET):
        super().__init__(balance_param=balance_param, sparsity_param=sparsity_param,
                         prior=prior, verbose=verbose, preprocessor=preprocessor,
                         random_state=random_state)
        self.n_constraints = n_constraints
        self.num_constraints = num_constraints

    @staticmethod
    def _prior_points(tuples):
        """The points of ``X`` (prior='covariance')."""
        return tuples.X
