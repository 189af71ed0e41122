"""Constrained k-means kernel: the assignment of chunklets under cannot-links.

The chunklets that dissimilar pairs join are placed one connected component
of the cannot-link graph at a time, by a depth-first search in DSatur order
(the chunklet with the most closed clusters next; ties to the larger, then
to the earlier chunklet), each trying its open clusters cheapest first.
Without backtracking this is the greedy assignment of COP-k-means.
"""

import numpy as np
from numba import njit

OK, INFEASIBLE, GAVE_UP = 0, 1, 2


@njit(cache=True)
def _move(u, j, step, indptr, indices, count, n_closed, used):
    """Put chunklet ``u`` into (``step=1``) or out of (``step=-1``) cluster ``j``.

    Parameters
    ----------
    u, j, step : int
    indptr, indices : ndarray, integer, IN
        Cannot-link neighbours of each chunklet (CSR).
    count : ndarray of shape (c, n_clusters), integer, INOUT
        Neighbours of each chunklet placed in each cluster.
    n_closed : ndarray of shape (c,), integer, INOUT
        Clusters closed to each chunklet (those with ``count > 0``).
    used : ndarray of shape (n_clusters,), integer, INOUT
        Chunklets placed in each cluster.
    """
    used[j] += step
    for t in range(indptr[u], indptr[u + 1]):
        nb = indices[t]
        count[nb, j] += step
        if step > 0 and count[nb, j] == 1:
            n_closed[nb] += 1
        elif step < 0 and count[nb, j] == 0:
            n_closed[nb] -= 1


@njit(cache=True)
def search_components(cost, weight, order, comp_ptr, indptr, indices, max_steps,
                      interchangeable):
    """Assign each component's chunklets to clusters, no two neighbours in one.

    Parameters
    ----------
    cost : ndarray of shape (c, n_clusters), float64, IN
        Cost of each chunklet in each cluster.
    weight : ndarray of shape (c,), integer, IN
        Chunklet sizes (ties in the order go to the larger).
    order : ndarray of shape (c,), integer, IN
        Chunklets grouped by component, ascending within each.
    comp_ptr : ndarray of shape (n_components + 1,), integer, IN
        Component ``g`` is ``order[comp_ptr[g]:comp_ptr[g + 1]]``.
    indptr, indices : ndarray, integer, IN
        Cannot-link neighbours of each chunklet (CSR, within its component).
    max_steps : ndarray of shape (n_components,), integer, IN
        Placements the search of each component may make before giving up.
    interchangeable : bool
        Costs do not tell the clusters apart: of the clusters still empty in a
        component, only one is tried (the others would repeat the search).

    Returns
    -------
    labels : ndarray of shape (c,), intp
        Cluster of each chunklet; -1 in components without an assignment.
    status : ndarray of shape (n_components,), intp
        ``OK``, ``INFEASIBLE`` (proven: no assignment exists) or ``GAVE_UP``.
    """
    c, k = cost.shape
    n_comp = comp_ptr.shape[0] - 1
    labels = np.full(c, -1, dtype=np.intp)
    status = np.zeros(n_comp, dtype=np.intp)
    count = np.zeros((c, k), dtype=np.intp)  # neighbours placed in each cluster
    n_closed = np.zeros(c, dtype=np.intp)
    used = np.zeros(k, dtype=np.intp)
    candidates = np.empty((c, k), dtype=np.intp)  # per depth, cheapest first
    n_candidates = np.empty(c, dtype=np.intp)
    tried = np.empty(c, dtype=np.intp)
    stack = np.empty(c, dtype=np.intp)
    for g in range(n_comp):
        lo, hi = comp_ptr[g], comp_ptr[g + 1]
        size = hi - lo
        used[:] = 0
        depth = 0
        steps = 0
        n_placed = 0
        outcome = OK
        while n_placed < size:
            # DSatur: most closed clusters, then larger, then earlier
            v = -1
            for t in range(lo, hi):
                u = order[t]
                if labels[u] < 0 and (
                    v < 0
                    or n_closed[u] > n_closed[v]
                    or (n_closed[u] == n_closed[v] and weight[u] > weight[v])
                ):
                    v = u
            n = 0
            empty_taken = False
            for j in range(k):
                if count[v, j] != 0:
                    continue
                if interchangeable and used[j] == 0:
                    if empty_taken:
                        continue
                    empty_taken = True
                q = n  # insertion sort by cost, stable
                while q > 0 and cost[v, candidates[depth, q - 1]] > cost[v, j]:
                    candidates[depth, q] = candidates[depth, q - 1]
                    q -= 1
                candidates[depth, q] = j
                n += 1
            stack[depth] = v
            n_candidates[depth] = n
            tried[depth] = 0
            depth += 1
            # place the chunklet on top of the stack, backtracking as needed
            while True:
                if depth == 0:
                    outcome = INFEASIBLE
                    break
                u = stack[depth - 1]
                if labels[u] >= 0:
                    _move(u, labels[u], -1, indptr, indices, count, n_closed, used)
                    labels[u] = -1
                    n_placed -= 1
                if tried[depth - 1] < n_candidates[depth - 1]:
                    j = candidates[depth - 1, tried[depth - 1]]
                    tried[depth - 1] += 1
                    labels[u] = j
                    _move(u, j, 1, indptr, indices, count, n_closed, used)
                    n_placed += 1
                    steps += 1
                    break
                depth -= 1
            if outcome == OK and steps > max_steps[g]:
                outcome = GAVE_UP
            if outcome != OK:
                break
        if outcome != OK:
            status[g] = outcome
            for t in range(lo, hi):
                u = order[t]
                if labels[u] >= 0:
                    _move(u, labels[u], -1, indptr, indices, count, n_closed, used)
                    labels[u] = -1
    return labels, status
