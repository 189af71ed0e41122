"""The objective functions of the learners, to compare solutions.

Each evaluates the problem a learner solves at a given matrix (or map), on
the same input forms the learner takes, so that the solutions of two
implementations, or of two settings, can be compared on the objective
itself: :func:`mmc_objective` and :func:`mmc_diagonal_objective` (MMC),
:func:`itml_objective` and :func:`itml_pairs_objective` (ITML, with
:func:`itml_default_bounds`, the bounds that define its default problem),
:func:`lmnn_objective` (LMNN, with :func:`lmnn_certificate`, a duality gap
that bounds how far from the optimum a map is), :func:`nca_objective`
(NCA), :func:`mlkr_objective` (MLKR), :func:`sgd_objective` (the SGD
family's pair losses), :func:`triplet_objective` (its triplet losses),
:func:`lsml_objective` (LSML), :func:`sdml_objective` (SDML) and
:func:`scml_objective` (SCML).
"""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y

from ._kernels.distances import index_sq_distances, paired_sq_mahalanobis
from ._kernels.lmnn import _BLOCK, get_target_neighbors
from ._kernels.mlkr import block_rows as mlkr_block_rows
from ._kernels.mlkr import loss_grad as mlkr_loss_grad
from ._kernels.mmc import diagonal_value
from ._kernels.sgd import pair_loss_grad
from ._kernels.sgd_triplets import triplet_loss_grad
from ._labels import LabelIndex
from ._linalg import logdet
from ._lmnn_solver import LMNNProblem, certificate
from ._nca_solver import NCAProblem
from ._sgd.losses import LOSS_CODES, PAIR_LOSSES, TRIPLET_LOSSES, kernel_temperature
from ._validation import check_preprocessor, check_tuples

__all__ = [
    "itml_default_bounds",
    "itml_objective",
    "itml_pairs_objective",
    "lmnn_certificate",
    "lmnn_objective",
    "lsml_objective",
    "mmc_diagonal_objective",
    "mlkr_objective",
    "mmc_objective",
    "scml_objective",
    "sdml_objective",
    "nca_objective",
    "sgd_objective",
    "triplet_objective",
]
# Pairs of distinct points drawn to estimate ITML's default bounds. Below
# this many pairs in all, every pair is used and the bounds are exact.
_BOUNDS_SAMPLE = 100_000
_BOUNDS_PERCENTILES = (5.0, 95.0)


def _split_differences(pairs, y):
    """The differences of the similar and of the dissimilar pairs."""
    t = check_tuples(pairs, y, size=2)
    diff = t.differences()
    return diff[t.y == 1], diff[t.y == -1]


def _check_positive(strict=True, **values):
    """Each named value a finite real number, > 0 (``strict``) or >= 0."""
    for name, value in values.items():
        ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or value < 0 or (strict and value == 0):
            bound = "> 0" if strict else ">= 0"
            raise ValueError(f"{name} must be a finite real number {bound}; got {value!r}")


def _check_components(components, n_features):
    """``components`` as a finite float64 map of shape (k, n_features)."""
    L = np.ascontiguousarray(components, dtype=np.float64)
    if L.ndim != 2 or L.shape[1] != n_features or L.shape[0] == 0:
        raise ValueError(
            f"components must have shape (n_components, {n_features}); got shape {L.shape}"
        )
    if not np.all(np.isfinite(L)):
        raise ValueError("components contains NaN or infinity")
    return L


# --------------------------------------------------------------------------
# MMC
# --------------------------------------------------------------------------


def mmc_objective(M, pairs, y):
    """Xing's full objective, made scale-free: ``g(M) / sqrt(f(M))``.

    With ``g(M) = sum_D ||d||_M`` and ``f(M) = sum_S ||d||_M^2``, this is the
    value ``g`` takes at ``M`` rescaled onto the constraint ``f(M) = 1``, so
    it compares matrices of any scale (higher is better).
    """
    sim, dis = _split_differences(pairs, y)
    M = np.ascontiguousarray(M, dtype=np.float64)
    f = paired_sq_mahalanobis(sim, M).sum()
    g = np.sqrt(np.maximum(paired_sq_mahalanobis(dis, M), 0.0)).sum()
    return g / np.sqrt(f)




def mmc_diagonal_objective(a, pairs, y, diagonal_c=1.0):
    """Xing's diagonal objective ``h(a) = sum_S ||d||_a^2 - c log sum_D ||d||_a``
    (lower is better); ``a`` is the diagonal of ``M``."""
    sim, dis = _split_differences(pairs, y)
    a = np.ascontiguousarray(a, dtype=np.float64)
    return diagonal_value(a, (sim * sim).sum(axis=0), dis * dis, float(diagonal_c))


# --------------------------------------------------------------------------
# ITML
# --------------------------------------------------------------------------


def _slack_divergence(xi, xi0):
    r = xi / xi0
    return float(np.sum(r - np.log(r) - 1.0))


def itml_objective(M, M0, xi, xi0, gamma):
    r"""ITML's objective ``D_ld(M, M0) + gamma * D_ld(diag(xi), diag(xi0))``.

    With :math:`D_{ld}(A, B) = \operatorname{tr}(A B^{-1}) - \log\det(A B^{-1}) - d`
    (lower is better; ``gamma=inf`` drops the slack term, whose ``xi`` then
    equals ``xi0``).
    """
    M = np.asarray(M, dtype=np.float64)
    M0 = np.asarray(M0, dtype=np.float64)
    d = M.shape[0]
    M0_inv = np.linalg.inv(M0)
    value = float(np.sum(M * M0_inv)) - logdet(M, "matrix") + logdet(M0, "prior") - d
    if np.isfinite(gamma):
        value += gamma * _slack_divergence(np.asarray(xi), np.asarray(xi0))
    return value


def itml_pairs_objective(M, pairs, y, bounds, prior, gamma=1.0):
    """ITML's objective at ``M`` with the best slacks for it.

    For a fixed ``M`` the slack divergence is smallest at
    ``xi = max(d^T M d, u)`` on a similar pair and ``min(d^T M d, l)`` on a
    dissimilar one; this evaluates :func:`itml_objective` there, so the
    solutions of any two implementations compare on ``M`` alone (lower is
    better). With ``gamma=inf`` a violated constraint makes it ``inf``.
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    y = np.asarray(y)
    V = pairs[:, 0, :] - pairs[:, 1, :]
    keep = np.any(V != 0.0, axis=1)
    V, y = np.ascontiguousarray(V[keep]), y[keep]
    M = np.ascontiguousarray(M, dtype=np.float64)
    p = paired_sq_mahalanobis(V, 0.5 * (M + M.T))
    xi0 = np.where(y == 1, bounds[0], bounds[1])
    xi = np.where(y == 1, np.maximum(p, xi0), np.minimum(p, xi0))
    if np.isinf(gamma):
        return itml_objective(M, prior, None, None, gamma) if np.all(xi == xi0) else np.inf
    return itml_objective(M, prior, xi, xi0, gamma)


def itml_default_bounds(points, prior, random_state=None):
    """The 5th and 95th percentiles of squared distances under ``prior``.

    Over every pair of distinct rows of ``points`` when there are at most
    100,000 such pairs, otherwise over 100,000 pairs drawn at random (never an
    ``n x n`` matrix). Pairs at distance zero (duplicate points) are left out.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_features)
    prior : ndarray of shape (n_features, n_features)
        The prior Mahalanobis matrix ``M0``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw (used only above 100,000 pairs).

    Returns
    -------
    ndarray of shape (2,)
        ``[u, l]``: the upper bound for similar pairs and the lower bound for
        dissimilar ones, both on squared distances.
    """
    n = points.shape[0]
    if n * (n - 1) // 2 <= _BOUNDS_SAMPLE:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = check_random_state(random_state)
        i = rng.randint(0, n, size=_BOUNDS_SAMPLE)
        j = (i + rng.randint(1, n, size=_BOUNDS_SAMPLE)) % n  # j != i
    # d^T M0 d = ||L0^T d||^2 with M0 = L0 L0^T: map the points once, then
    # take plain squared distances of the index pairs (no difference array)
    prior = np.asarray(prior, dtype=np.float64)
    off_diagonal = prior - np.diag(np.diag(prior))
    if not np.any(off_diagonal):
        mapped = points * np.sqrt(np.diag(prior))
    else:
        w, U = np.linalg.eigh(0.5 * (prior + prior.T))
        mapped = points @ (U * np.sqrt(np.maximum(w, 0.0)))
    sq = np.empty(i.shape[0])
    index_sq_distances(np.ascontiguousarray(mapped, dtype=np.float64),
                       i.astype(np.intp, copy=False), j.astype(np.intp, copy=False), sq)
    sq = sq[sq > 0.0]
    if sq.shape[0] == 0:
        raise ValueError(
            "ITML cannot derive default bounds: all points are identical; pass "
            "bounds=[u, l] to fit"
        )
    return np.percentile(sq, _BOUNDS_PERCENTILES)


# --------------------------------------------------------------------------
# LMNN
# --------------------------------------------------------------------------


def lmnn_objective(L, X, y, n_neighbors=3, regularization=0.5, loss="hinge"):
    r"""LMNN's objective at ``L``, with target neighbours found in the input space.

    .. math::

        \varepsilon(L) = \rho \sum_{i, j \rightsquigarrow i}
        \|L(x_i - x_j)\|^2 + (1 - \rho) \sum_{i, j \rightsquigarrow i}
        \sum_{l: y_l \ne y_i}
        \left[1 + \|L(x_i - x_j)\|^2 - \|L(x_i - x_l)\|^2\right]_+^p

    with :math:`\rho` = ``regularization``, :math:`p = 1` for
    ``loss='hinge'`` and :math:`p = 2` for ``loss='squared_hinge'`` (see
    :class:`LMNN`).

    Parameters
    ----------
    L : array-like of shape (n_components, n_features)
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_neighbors : int, default=3
    regularization : float, default=0.5
    loss : {'hinge', 'squared_hinge'}, default='hinge'

    Returns
    -------
    float
    """
    problem, L = _lmnn_problem(L, X, y, n_neighbors, regularization, loss)
    return problem.loss_grad(L)[0]


def lmnn_certificate(L, X, y, n_neighbors=3, regularization=0.5, loss="hinge"):
    """Relative duality gap of LMNN's problem at ``L``: ``f(L) <= f* / (1 - gap)``.

    The bound of :attr:`LMNN.certificate_` (see
    :func:`~metriclearn._lmnn_solver.certificate`), with the hinge's
    weights at a kink solved for whatever the size of the problem: it forms
    every triplet, so keep to a few thousand points.

    Parameters
    ----------
    L : array-like of shape (n_components, n_features)
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_neighbors : int, default=3
    regularization : float, default=0.5
    loss : {'hinge', 'squared_hinge'}, default='hinge'

    Returns
    -------
    float in [0, 1]
    """
    problem, L = _lmnn_problem(L, X, y, n_neighbors, regularization, loss)
    return certificate(problem, L, problem.loss_grad(L)[0], refine=True)


def _lmnn_problem(L, X, y, n_neighbors, regularization, loss):
    X = np.ascontiguousarray(X, dtype=np.float64)
    index = LabelIndex(y)
    Xs = np.ascontiguousarray(X[index.order])
    targets = get_target_neighbors(1)(Xs, index.bounds, int(n_neighbors), _BLOCK)
    # centred: the loss depends on differences only, and the products that
    # assemble it lose fewer digits
    problem = LMNNProblem(Xs - Xs.mean(axis=0), index.bounds, targets, regularization,
                          squared=loss == "squared_hinge", incremental=False)
    return problem, np.ascontiguousarray(L, dtype=np.float64).ravel()


# --------------------------------------------------------------------------
# NCA and MLKR
# --------------------------------------------------------------------------


def nca_objective(components, X, y):
    r"""NCA's objective at a linear map: the expected number of points that
    the stochastic nearest-neighbour rule classifies correctly, leaving each
    point out in turn (to maximise).

    .. math::

        f(L) = \sum_{i} \sum_{j \ne i:\, y_j = y_i} p_{ij}, \qquad
        p_{ij} = \frac{\exp(-\|L x_i - L x_j\|^2)}
                      {\sum_{k \ne i} \exp(-\|L x_i - L x_k\|^2)}

    computed blockwise (memory bounded by a block, whatever ``n``), as
    :class:`~metriclearn.NCA` computes it: its ``objective_history_`` holds
    this value at each iterate.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
        The map ``L`` (``components_`` of a fitted learner, this package's,
        metric-learn's or scikit-learn's).
    X : array-like of shape (n_samples, n_features)
        At least 2 points.
    y : array-like of shape (n_samples,)
        Class labels.

    Returns
    -------
    value : float
        Between 0 and ``n_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn.objectives import nca_objective
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> y = np.array([0, 0, 1, 1])
    >>> round(nca_objective(np.eye(1), X, y), 6)
    4.0
    """
    X, y = check_X_y(X, y, dtype=np.float64, ensure_min_samples=2)
    check_classification_targets(y)
    L = _check_components(components, X.shape[1])
    index = LabelIndex(y)
    Xs = np.ascontiguousarray(X[index.order])
    # centred, as the learner centres them: the expanded distances lose
    # fewer digits
    problem = NCAProblem(np.ascontiguousarray(Xs - Xs.mean(axis=0)), index.bounds,
                         index.codes[index.order])
    return float(problem.value_grad(L)[0])


def mlkr_objective(components, X, y):
    r"""MLKR's objective at a linear map: the leave-one-out kernel regression
    error (to minimise).

    .. math::

        f(L) = \sum_i \left(\hat y_i - y_i\right)^2, \qquad
        \hat y_i = \frac{\sum_{j \ne i} k_{ij} y_j}{\sum_{j \ne i} k_{ij}},
        \qquad k_{ij} = \exp\left(-\|L x_i - L x_j\|^2\right),

    computed blockwise (memory bounded by a block, whatever ``n``), as
    :class:`~metriclearn.MLKR` computes it: its ``objective_history_`` holds
    this value at each iterate.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
        The map ``L`` (``components_`` of a fitted learner, this package's
        or metric-learn's).
    X : array-like of shape (n_samples, n_features)
        At least 2 points.
    y : array-like of shape (n_samples,)
        Real targets.

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn.objectives import mlkr_objective
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> y = np.array([1.0, 1.0, 3.0, 3.0])
    >>> round(mlkr_objective(np.eye(1), X, y), 6)
    0.0
    """
    X, y = check_X_y(X, y, dtype=np.float64, ensure_min_samples=2, y_numeric=True)
    L = _check_components(components, X.shape[1])
    Xc = np.ascontiguousarray(X - X.mean(axis=0))
    y = np.ascontiguousarray(y, dtype=np.float64)
    return float(mlkr_loss_grad(Xc, L, y, mlkr_block_rows(X.shape[0]), 1)[0])


# --------------------------------------------------------------------------
# the SGD family
# --------------------------------------------------------------------------


def sgd_objective(components, pairs, y, *, alpha=1.0, margin=1.0, loss="hinge",
                  normalize=False, preprocessor=None):
    """Mean pair loss of :class:`SGDMetricLearner` at ``components``.

    ``(1 / n) sum_i [y_i = +1] ||L d_i||^2 + alpha [y_i = -1] max(0, margin - ||L d_i||^2)``
    (``loss='hinge'``), or with ``max(0, margin - ||L d_i||)^2`` as the
    dissimilar term (``loss='contrastive'``). With ``normalize=True`` the
    learned distance of a pair ``(x, x')`` is ``||z - z'||`` with
    ``z = L x / ||L x||`` (the points on the unit sphere) instead of
    ``||L d_i||``.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        Pairs of points, or indices into the array ``preprocessor``.
    y : array-like of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    alpha, margin : float
        As in :class:`SGDMetricLearner`.
    loss : {'hinge', 'contrastive'}, default='hinge'
    normalize : bool, default=False
        As in :class:`SGDMetricLearner`.
    preprocessor : ndarray of shape (n_samples, n_features), optional

    Returns
    -------
    loss : float
    """
    if loss not in PAIR_LOSSES:
        raise ValueError(f"loss must be 'hinge' or 'contrastive'; got {loss!r}")
    t = check_tuples(pairs, y, size=2, preprocessor=check_preprocessor(preprocessor),
                     gather=False, ensure_both_labels=True)
    _check_positive(margin=margin)
    _check_positive(alpha=alpha, strict=False)
    L = _check_components(components, t.n_features)
    value, _ = pair_loss_grad(t.X, t.indices, t.y.astype(np.int8), L,
                              float(alpha), float(margin), LOSS_CODES[loss], bool(normalize))
    return float(value)


def triplet_objective(components, triplets, *, loss="triplet", margin=1.0,
                      temperature=1.0, normalize=False, preprocessor=None):
    """Mean triplet loss of :class:`SGDTripletLearner` at ``components``.

    ``(1 / n) sum_i max(0, d2(a_i, p_i) - d2(a_i, n_i) + margin)``
    (``loss='triplet'``) or
    ``(1 / n) sum_i log(1 + exp((d2(a_i, p_i) - d2(a_i, n_i)) / temperature))``
    (``loss='infonce'``), with ``d2(x, x') = ||L (x - x')||^2``. With
    ``normalize=True``, ``d2(x, x') = ||z - z'||^2`` with
    ``z = L x / ||L x||``, and InfoNCE compares cosine similarities:
    ``log(1 + exp((cos(a_i, n_i) - cos(a_i, p_i)) / temperature))``.

    Parameters
    ----------
    components : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        Triplets of points, or indices into the array ``preprocessor``.
    loss : {'triplet', 'infonce'}, default='triplet'
    margin, temperature : float
        As in :class:`SGDTripletLearner`.
    normalize : bool, default=False
        As in :class:`SGDTripletLearner`.
    preprocessor : ndarray of shape (n_samples, n_features), optional

    Returns
    -------
    loss : float
    """
    if loss not in TRIPLET_LOSSES:
        raise ValueError(f"loss must be 'triplet' or 'infonce'; got {loss!r}")
    t = check_tuples(triplets, size=3, preprocessor=check_preprocessor(preprocessor),
                     gather=False)
    _check_positive(margin=margin, temperature=temperature)
    L = _check_components(components, t.n_features)
    value, _ = triplet_loss_grad(t.X, t.indices, L, LOSS_CODES[loss], float(margin),
                                 kernel_temperature(float(temperature), bool(normalize)),
                                 bool(normalize))
    return float(value)


# --------------------------------------------------------------------------
# LSML, SDML, SCML
# --------------------------------------------------------------------------


def _prior_inverse(prior, d):
    """The inverse of a positive definite prior (``None``: the identity)."""
    if prior is None:
        return np.eye(d)
    P = np.asarray(prior, dtype=np.float64)
    if P.shape != (d, d):
        raise ValueError(f"prior must have shape ({d}, {d}); got shape {P.shape}")
    return np.linalg.inv(P)


def _logdet_or_none(M):
    sign, value = np.linalg.slogdet(M)
    return value if sign > 0 else None


def lsml_objective(M, quadruplets, weights=None, prior=None, preprocessor=None):
    r"""LSML's objective at ``M`` (lower is better):

    .. math::

        \sum_i w_i \big(d_M(a_i, b_i) - d_M(c_i, d_i)\big)_+^2
        + \operatorname{tr}(M M_0^{-1}) - \log\det M

    with the weights scaled to sum to 1 (``None``: equal) and the prior
    ``M_0`` (``None``: the identity); ``inf`` when ``M`` is not positive
    definite.
    """
    t = check_tuples(quadruplets, size=4, preprocessor=check_preprocessor(preprocessor),
                     gather=False)
    d = t.n_features
    M = np.asarray(M, dtype=np.float64)
    n = t.n_tuples
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    V, U = t.differences(0, 1), t.differences(2, 3)
    a = np.maximum(np.einsum("ij,jk,ik->i", V, M, V), 0.0)
    c = np.maximum(np.einsum("ij,jk,ik->i", U, M, U), 0.0)
    residual = np.maximum(np.sqrt(a) - np.sqrt(c), 0.0)
    logdet_M = _logdet_or_none(0.5 * (M + M.T))
    if logdet_M is None:
        return np.inf
    return float(w @ residual**2 + np.sum(M * _prior_inverse(prior, d)) - logdet_M)


def sdml_objective(M, pairs, y, *, balance_param, sparsity_param, prior=None,
                   preprocessor=None):
    r"""SDML's objective at ``M`` (lower is better), the graphical lasso of
    :math:`S = M_0^{-1} + \eta K`:

    .. math::

        \operatorname{tr}(M S) - \log\det M + \alpha \sum_{i \ne j} |M_{ij}|,
        \qquad K = \sum_{(x, x') \in S} (x - x')(x - x')^T
        - \sum_{(x, x') \in D} (x - x')(x - x')^T

    with :math:`\eta` = ``balance_param`` (a number: the fitted
    ``balance_param_`` of an ``SDML`` with ``balance_param='auto'``),
    :math:`\alpha` = ``sparsity_param`` and the prior :math:`M_0`
    (``None``: the identity); ``inf`` when ``M`` is not positive definite.
    """
    t = check_tuples(pairs, y, size=2, preprocessor=check_preprocessor(preprocessor),
                     gather=False)
    _check_positive(strict=False, balance_param=balance_param, sparsity_param=sparsity_param)
    diff = t.differences()
    K = (diff.T * t.y) @ diff
    S = _prior_inverse(prior, t.n_features) + balance_param * K
    M = np.asarray(M, dtype=np.float64)
    logdet_M = _logdet_or_none(0.5 * (M + M.T))
    if logdet_M is None:
        return np.inf
    off = np.abs(M).sum() - np.abs(np.diag(M)).sum()
    return float(np.sum(M * S) - logdet_M + sparsity_param * off)


def scml_objective(weights, basis, triplets, *, beta, preprocessor=None):
    r"""SCML's objective at the basis weights ``w >= 0`` (lower is better):

    .. math::

        \frac{1}{|T|} \sum_{(a, p, n) \in T}
        \big[1 + d_w(a, p) - d_w(a, n)\big]_+ + \beta \|w\|_1,
        \qquad d_w(x, x') = \sum_k w_k \big(b_k^T (x - x')\big)^2

    with the rows :math:`b_k` of ``basis``. For a fitted ``SCML``, pass its
    ``weights_`` and ``basis_``.
    """
    t = check_tuples(triplets, size=3, preprocessor=check_preprocessor(preprocessor),
                     gather=False)
    _check_positive(strict=False, beta=beta)
    B = np.asarray(basis, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if B.ndim != 2 or B.shape[1] != t.n_features or w.shape != (B.shape[0],):
        raise ValueError(
            f"basis must have shape (n_basis, {t.n_features}) and weights shape "
            f"(n_basis,); got {B.shape} and {w.shape}"
        )
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    pos = (t.differences(0, 1) @ B.T) ** 2 @ w
    neg = (t.differences(0, 2) @ B.T) ** 2 @ w
    return float(np.maximum(1.0 + pos - neg, 0.0).mean() + beta * w.sum())
