r"""Clustering with side-information: constrained k-means (Xing et al. 2002).

:class:`ConstrainedKMeans` clusters points of which a few pairs are known to
belong together (similar, ``+1``) or apart (dissimilar, ``-1``), given as
``(n_pairs, 2)`` row indices into ``X``: the form
:meth:`metriclearn.Constraints.pairs` returns and the pairs learners take with
``preprocessor=X``.

Learning a metric from the pairs, then clustering with the same pairs, takes
three lines; ``X_learned`` is ``X`` mapped by the learned ``L``, where the
Euclidean distance is the learned one::

    mmc = MMC(preprocessor=X, random_state=0).fit(pairs, pair_labels)
    X_learned = mmc.transform(X)
    labels = ConstrainedKMeans(n_clusters=3, random_state=0).fit_predict(
        X_learned, pairs=pairs, pair_labels=pair_labels)

No helper wraps these lines: each is one call with its own parameters, and a
:class:`~sklearn.pipeline.Pipeline` cannot hold them, since a pairs learner is
fitted on the pairs (``fit(pairs, y)``) and not on the points the next step
receives.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from ._compat import Interval, StrOptions, _fit_context, check_is_fitted
from ._kernels.cluster import INFEASIBLE, OK, search_components
from ._validation import check_index_pairs, check_points, restore_on_error
from .base import DOC_LINK_TEMPLATE

__all__ = ["ConstrainedKMeans"]


# --------------------------------------------------------------------------
# side-information: validation and structure
# --------------------------------------------------------------------------


def _similar_graph(pairs, n_samples):
    return coo_matrix(
        (np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])), shape=(n_samples, n_samples)
    ).tocsr()


def _path(graph, source, target):
    """Points on a shortest path of similar pairs from ``source`` to ``target``."""
    _, pred = breadth_first_order(graph, source, directed=False, return_predecessors=True)
    path = [target]
    while path[-1] != source:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def _chunklets(pairs, pair_labels, n_samples):
    """Connected components of the similar pairs, and the cannot-links between
    them.

    Returns
    -------
    chunklet : ndarray of shape (n_samples,)
        Chunklet of each point; chunklets are numbered in the order of their
        smallest point.
    cannot_link : ndarray of shape (n_links, 2)
        Distinct pairs ``a < b`` of chunklets joined by a dissimilar pair.
    """
    similar = pairs[pair_labels == 1]
    graph = _similar_graph(similar, n_samples)
    _, chunklet = connected_components(graph, directed=False)
    dissimilar = np.flatnonzero(pair_labels == -1)
    a, b = chunklet[pairs[dissimilar, 0]], chunklet[pairs[dissimilar, 1]]
    inside = np.flatnonzero(a == b)
    if inside.size:
        k = int(dissimilar[inside[0]])
        i, j = (int(v) for v in pairs[k])
        if i == j:
            raise ValueError(
                f"pair_labels: pair {k} is labelled dissimilar (-1) but joins point {i} "
                "to itself"
            )
        path = " - ".join(str(p) for p in _path(graph, i, j))
        raise ValueError(
            f"pair_labels: pair {k} (points {i} and {j}) is labelled dissimilar (-1), "
            f"but similar pairs join the two points ({path}): the side-information "
            "is contradictory"
        )
    links = np.unique(np.sort(np.stack([a, b], axis=1), axis=1), axis=0)
    return chunklet, links.reshape(-1, 2)


# placements the search may make in one component of the cannot-link graph:
# in the feasibility check of ``fit``, and in each iteration of a run
_MAX_STEPS = 100_000


def _run_steps(size):
    return 10 * size + 100


class _CannotLinks:
    """The cannot-link graph over the chunklets, split into its connected
    components, in the form :func:`search_components` takes.

    Attributes
    ----------
    chunklets : ndarray of shape (c,)
        The chunklets with dissimilar pairs; the other arrays index these.
    order, comp_ptr : ndarray
        Component ``g`` is ``order[comp_ptr[g]:comp_ptr[g + 1]]``.
    component : ndarray of shape (c,)
        Component of each chunklet.
    indptr, indices : ndarray
        Neighbours of each chunklet (CSR).
    """

    def __init__(self, links, m):
        self.chunklets = np.unique(links)
        c = self.chunklets.shape[0]
        local = np.searchsorted(self.chunklets, links)
        both = np.concatenate([local, local[:, ::-1]])
        adjacency = csr_matrix(
            (np.ones(both.shape[0]), (both[:, 0], both[:, 1])), shape=(c, c)
        )
        n_comp, self.component = connected_components(adjacency, directed=False)
        self.order = np.argsort(self.component, kind="stable").astype(np.intp)
        self.comp_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(self.component, minlength=n_comp))]
        ).astype(np.intp)
        self.indptr = adjacency.indptr.astype(np.intp)
        self.indices = adjacency.indices.astype(np.intp)
        self.sizes = np.diff(self.comp_ptr)

    def search(self, cost, weight, max_steps, interchangeable):
        return search_components(
            np.ascontiguousarray(cost, dtype=np.float64),
            np.ascontiguousarray(weight, dtype=np.intp),
            self.order, self.comp_ptr, self.indptr, self.indices,
            np.ascontiguousarray(max_steps, dtype=np.intp), interchangeable,
        )


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------


class ConstrainedKMeans(ClusterMixin, BaseEstimator):
    r"""K-means that keeps similar pairs together and dissimilar pairs apart.

    Read more in the :ref:`User Guide <clustering>`.

    Constrained k-means as Xing et al. [1]_ evaluate their learned metrics
    with, extended with cannot-links in the manner of COP-k-means [2]_:

    .. math::

        \min_{c, \mu} \sum_{i=1}^{n} \|x_i - \mu_{c_i}\|^2
        \quad \text{s.t.} \quad c_i = c_j \ \ \forall (i, j) \in S,
        \qquad c_i \ne c_j \ \ \forall (i, j) \in D

    where

    - :math:`x_i` are the points (rows of ``X``), :math:`c_i \in \{1, \dots,
      K\}` their clusters and :math:`\mu_1, \dots, \mu_K` the centres;
    - :math:`S` are the similar pairs (``pair_labels == +1``) and :math:`D`
      the dissimilar ones (``-1``, only with ``keep_dissimilar_apart=True``).

    **Chunklets.** Points joined by similar pairs, directly or through other
    points (the connected components of the graph of similar pairs), form a
    chunklet that always shares one cluster. Since
    :math:`\sum_{i \in C} \|x_i - \mu\|^2 = \sum_{i \in C} \|x_i - m_C\|^2 +
    |C| \, \|m_C - \mu\|^2` for a chunklet :math:`C` of mean :math:`m_C`, a
    chunklet moves as one point at its mean with weight :math:`|C|`, and the
    algorithm is weighted k-means over the chunklets (Lloyd's iterations from
    a k-means++ or random start, best of ``n_init`` runs by inertia). Without
    pairs every point is its own chunklet and this is ordinary k-means.

    **Cannot-links.** Two chunklets joined by a dissimilar pair must go to
    different clusters. The chunklets free of dissimilar pairs go to their
    nearest centres. The others are placed in the connected components of the
    graph of dissimilar pairs (between chunklets), each component on its own,
    one chunklet at a time in the manner of COP-k-means: next comes the
    chunklet with the most clusters closed to it (a cluster is closed when it
    holds a chunklet it must stay apart from), ties going to the larger
    chunklet, then to the lower index (the DSatur order [3]_); it goes to its
    nearest open cluster. If a chunklet finds every cluster closed, the
    placement backtracks (a depth-first search over the same order) and
    tries the next nearest cluster of the chunklets placed before; a
    component of :math:`s` chunklets whose search has not finished after
    :math:`10 s + 100` placements keeps the clusters it had in the previous
    iteration. Under cannot-links the k-means cost need not decrease at each
    iteration and the assignments can cycle: a run that makes an assignment it
    has made before stops, keeping the cheapest assignment it has made.

    **Feasibility.** Before any run, ``fit`` searches each component for an
    assignment that keeps its dissimilar pairs apart, whatever the centres
    (the same search, complete, with clusters tried in index order and empty
    clusters treated as interchangeable). If a component has none, or the
    search gives up after 100000 placements in one, ``fit`` raises a
    ``ValueError`` naming the component's chunklets by their smallest points.
    A component whose search gives up in the first iteration of a run takes
    the clusters of the assignment found here. A similar and a dissimilar
    label on the same chunklet are contradictory: ``fit`` raises a
    ``ValueError`` naming the dissimilar pair and a path of similar pairs
    that joins its points.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters. At most the number of chunklets (the number of
        samples when there are no similar pairs).
    keep_dissimilar_apart : bool, default=True
        Keep the two points of each dissimilar pair in different clusters.
        With ``False`` only similar pairs constrain the clustering, as in
        Xing et al.'s evaluation; dissimilar pairs are still validated.
    init : {'k-means++', 'random'} or array-like, default='k-means++'
        Initial centres: k-means++ seeding over the chunklet means weighted
        by size, ``n_clusters`` distinct chunklet means drawn with probability
        proportional to size, or given centres of shape
        ``(n_clusters, n_features)`` (then one run, ``n_init`` is not used).
    n_init : int, default=10
        Number of runs from different starts; the one with the lowest inertia
        is kept.
    max_iter : int, default=300
        Maximum number of iterations of one run.
    tol : float, default=1e-4
        A run stops when the squared distances that the centres moved in one
        iteration sum to at most ``tol`` times the mean variance of the
        features of ``X`` (as in scikit-learn's :class:`~sklearn.cluster.KMeans`),
        or when the assignment no longer changes.
    random_state : int, RandomState instance or None, default=None
        Source of randomness of the starts.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centres (the means of their points).
    inertia_ : float
        Sum of squared distances of the points to the centres of their
        clusters (which, under cannot-links, need not be their nearest).
    n_iter_ : int
        Number of iterations of the kept run.
    n_features_in_ : int
        Number of features of ``X``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    sklearn.cluster.KMeans : k-means without side-information.
    metriclearn.metrics.pair_constraint_satisfaction : fraction of the pairs a
        clustering respects.

    Notes
    -----
    ``predict`` assigns new points to their nearest centres: the pairs only
    constrain the points of ``fit``.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan, S. Russell. "Distance metric
           learning, with application to clustering with side-information".
           NIPS 2002.
    .. [2] K. Wagstaff, C. Cardie, S. Rogers, S. Schroedl. "Constrained
           k-means clustering with background knowledge". ICML 2001.
    .. [3] D. Brelaz. "New methods to color the vertices of a graph".
           Communications of the ACM 22(4), 1979.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn.cluster import ConstrainedKMeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [4.0, 0.0], [4.0, 1.0]])
    >>> ckm = ConstrainedKMeans(n_clusters=2, random_state=0)
    >>> ckm.fit_predict(X, pairs=[[0, 2], [1, 3]]).tolist()
    [1, 0, 1, 0]
    """

    # the "?" link of the HTML representation goes to this package's API page
    _doc_link_module = "metriclearn"
    _doc_link_template = DOC_LINK_TEMPLATE

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "keep_dissimilar_apart": ["boolean"],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        keep_dissimilar_apart=True,
        init="k-means++",
        n_init=10,
        max_iter=300,
        tol=1e-4,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.keep_dissimilar_apart = keep_dissimilar_apart
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, pairs=None, pair_labels=None):
        """Cluster ``X`` subject to the side-information pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to cluster.
        y : None
            Ignored; present for the scikit-learn API.
        pairs : array-like of shape (n_pairs, 2), default=None
            Row indices into ``X`` of the points of each pair.
        pair_labels : array-like of shape (n_pairs,), default=None
            +1 when the two points of a pair belong together (similar), -1
            when they belong apart (dissimilar). ``None``: all pairs similar.

        Returns
        -------
        self : ConstrainedKMeans
            The fitted clusterer.
        """
        with restore_on_error(self):  # a failed fit leaves a fitted estimator as it was
            self._fit(X, pairs, pair_labels)
        return self

    def _fit(self, X, pairs, pair_labels):
        X = check_points(self, X, reset=True, ensure_min_samples=1)
        n_samples, n_features = X.shape
        k = self.n_clusters
        if pairs is None:
            if pair_labels is not None:
                raise ValueError("pair_labels was given without pairs")
            pairs = np.empty((0, 2), dtype=np.intp)
        pairs, pair_labels = check_index_pairs(pairs, pair_labels, n_samples)
        chunklet, links = _chunklets(pairs, pair_labels, n_samples)
        if not self.keep_dissimilar_apart:
            links = links[:0]
        weight = np.bincount(chunklet)
        m = weight.shape[0]
        if k > m:
            if m == n_samples:
                raise ValueError(
                    f"n_clusters={k} is larger than the number of samples, n_samples={m}"
                )
            raise ValueError(
                f"n_clusters={k} is larger than the number of chunklets, {m}: the similar "
                f"pairs join the n_samples={n_samples} points into {m} groups, each of "
                "which goes into one cluster whole"
            )
        centres0 = None
        if not isinstance(self.init, str):
            centres0 = check_array(self.init, dtype=np.float64, input_name="init")
            if centres0.shape != (k, n_features):
                raise ValueError(
                    f"init must have shape (n_clusters, n_features) = ({k}, {n_features}); "
                    f"got shape {centres0.shape}"
                )

        # each chunklet as one point at its mean, weighted by its size
        member = csr_matrix(
            (np.ones(n_samples), (chunklet, np.arange(n_samples))), shape=(m, n_samples)
        )
        means = (member @ X) / weight[:, None]

        # feasibility: assign each component of the cannot-link graph to
        # clusters with no regard to the centres (an exact search)
        graph = _CannotLinks(links, m)
        colouring = np.full(m, -1, dtype=np.intp)
        if graph.chunklets.size:
            c = graph.chunklets.shape[0]
            found, status = graph.search(
                np.tile(np.arange(k, dtype=np.float64), (c, 1)), weight[graph.chunklets],
                np.full(graph.sizes.shape[0], _MAX_STEPS), interchangeable=True,
            )
            failed = np.flatnonzero(status != OK)
            if failed.size:
                g = failed[0]
                members = graph.chunklets[graph.order[graph.comp_ptr[g]:graph.comp_ptr[g + 1]]]
                raise _infeasible(k, members, status[g], chunklet)
            colouring[graph.chunklets] = found

        tol = self.tol * float(np.mean(np.var(X, axis=0)))
        rng = check_random_state(self.random_state)
        best = None
        for _ in range(1 if centres0 is not None else self.n_init):
            if centres0 is not None:
                centres = centres0.copy()
            elif self.init == "k-means++":
                centres, _ = kmeans_plusplus(
                    means, k, sample_weight=weight.astype(np.float64), random_state=rng
                )
            else:
                chosen = rng.choice(m, size=k, replace=False, p=weight / n_samples)
                centres = means[chosen]
            run = _lloyd(means, weight, centres, graph, colouring, self.max_iter, tol)
            labels = run[0][chunklet]
            inertia = float(np.sum((X - run[1][labels]) ** 2))
            if best is None or inertia < best[2]:
                best = (labels, run[1], inertia, run[2], run[3])
        labels, centres, inertia, n_iter, converged = best
        if not converged:
            warnings.warn(
                f"ConstrainedKMeans stopped at max_iter={self.max_iter} before the "
                "assignment settled; increase max_iter",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.labels_ = labels
        self.cluster_centers_ = centres
        self.inertia_ = inertia
        self.n_iter_ = n_iter

    def fit_predict(self, X, y=None, *, pairs=None, pair_labels=None):
        """Cluster ``X`` subject to the pairs and return ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to cluster.
        y : None
            Ignored; present for the scikit-learn API.
        pairs : array-like of shape (n_pairs, 2), default=None
            Row indices into ``X`` of the points of each pair.
        pair_labels : array-like of shape (n_pairs,), default=None
            +1 (similar) or -1 (dissimilar) for each pair; ``None``: all similar.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster of each point.
        """
        return self.fit(X, pairs=pairs, pair_labels=pair_labels).labels_

    def predict(self, X):
        """Nearest centre of each point (the pairs of ``fit`` play no part).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the nearest centre.
        """
        check_is_fitted(self, "cluster_centers_")
        X = check_points(self, X, reset=False)
        return _sq_distances(X, self.cluster_centers_).argmin(axis=1)


# --------------------------------------------------------------------------
# Lloyd's iterations over weighted chunklets
# --------------------------------------------------------------------------


def _sq_distances(points, centres):
    d2 = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centres.T
        + np.einsum("ij,ij->i", centres, centres)[None, :]
    )
    return np.maximum(d2, 0.0)


def _assign(means, weight, centres, graph, previous):
    """Nearest centre of each chunklet, under the cannot-links: each
    component of the cannot-link graph by :func:`search_components`
    (cheapest open cluster first), or at its ``previous`` clusters if the
    search gives up."""
    d2 = _sq_distances(means, centres)
    labels = d2.argmin(axis=1)
    if graph.chunklets.size:
        members = graph.chunklets
        found, status = graph.search(
            d2[members], weight[members], _run_steps(graph.sizes), interchangeable=False
        )
        gave_up = status[graph.component] != OK
        found[gave_up] = previous[members[gave_up]]
        labels[members] = found
    return labels, d2


def _update(means, weight, labels, d2, k):
    """Weighted means of the clusters; an empty cluster's centre moves to the
    chunklet that costs most where it is."""
    m = means.shape[0]
    onehot = csr_matrix((weight.astype(np.float64), (labels, np.arange(m))), shape=(k, m))
    size = np.asarray(onehot.sum(axis=1)).ravel()
    centres = onehot @ means
    empty = np.flatnonzero(size == 0)
    nonempty = size > 0
    centres[nonempty] /= size[nonempty, None]
    if empty.size:
        cost = weight * d2[np.arange(m), labels]
        far = np.argsort(-cost, kind="stable")[: empty.shape[0]]
        centres[empty] = means[far]
    return centres, bool(empty.size)


def _lloyd(means, weight, centres, graph, colouring, max_iter, tol):
    """One run from ``centres``: (labels, centres, n_iter, converged).

    Under cannot-links the assignment step can make the cost go up, and the
    assignments can cycle; an assignment met before ends the run (it would
    repeat forever) with the cheapest state of the run.
    """
    k = centres.shape[0]
    labels = None
    seen = set()
    best = (np.inf, None, None)
    for it in range(1, max_iter + 1):
        new, d2 = _assign(means, weight, centres, graph, colouring if labels is None else labels)
        new_centres, relocated = _update(means, weight, new, d2, k)
        shift = float(np.sum((new_centres - centres) ** 2))
        settled = labels is not None and np.array_equal(new, labels) and not relocated
        labels, centres = new, new_centres
        if settled or shift <= tol:
            return labels, centres, it, True
        cost = float(weight @ np.sum((means - centres[labels]) ** 2, axis=1))
        if cost < best[0]:
            best = (cost, labels, centres)
        key = labels.tobytes()
        if key in seen:
            return best[1], best[2], it, True
        seen.add(key)
    return best[1], best[2], max_iter, False


def _infeasible(k, members, status, chunklet):
    """The error raised when the cannot-links of one component of the
    cannot-link graph cannot be kept in ``k`` clusters."""
    _, first_point = np.unique(chunklet, return_index=True)  # smallest point of each
    points = np.sort(first_point[members])
    shown = points[:10].tolist()
    more = f" ({len(shown)} of {points.shape[0]} shown)" if points.shape[0] > 10 else ""
    if status == INFEASIBLE:
        what = "no assignment to"
    else:
        what = f"a search of {_MAX_STEPS} steps found no assignment to"
    return ValueError(
        f"keep_dissimilar_apart=True, but the dissimilar pairs cannot be kept apart: "
        f"{what} n_clusters={k} clusters keeps apart the chunklets of points "
        f"{shown}{more}, which dissimilar pairs join. Use more clusters, fewer "
        "dissimilar pairs, or keep_dissimilar_apart=False"
    )
