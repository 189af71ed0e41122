"""LMNN's impostor search over successive maps ``L``: a full search
(:mod:`._kernels.lmnn_impostors`) that also lists the pairs near a margin,
then incremental evaluations (:mod:`._kernels.lmnn_incremental`) that
rescan only those, with a proven bound on how far the other pairs moved.
Arrays in, arrays out; the solver is in :mod:`._lmnn_solver`."""

import numpy as np

from ._kernels.lmnn_impostors import _BLOCK, _CHUNK, get_impostor_search
from ._kernels.lmnn_incremental import get_candidate_terms, get_rescan_terms, movement

__all__ = ["ImpostorSearch"]

# Cost of a listed candidate (4 bytes read, a bound checked; the few that
# the bound does not clear get their exact distance), in pairs of the full
# search (a share of a single-precision GEMM and of a vectorised pass).
_CANDIDATE_COST = 2.0
# The list of candidates is sized so that going through it costs at most this
# share of a full search, and holds at most _MAX_LISTED pairs (4 bytes
# each); an incremental evaluation that would cost more than _REFRESH of a
# full search (the list, plus the rows searched afresh for the points whose
# bound failed) is replaced by one.
_LIST_SHARE = 0.15
_MAX_LISTED = 50_000_000
_REFRESH = 0.5
# Bins of the histogram, taken by each full search on one tile in _SAMPLE, of
# the pairs' distances beyond the margins: the next full search sizes its
# list from it.
_BINS = 64
_SAMPLE = 8
# Below this many pairs of different classes a full search costs less than
# the bookkeeping of an incremental one.
_MIN_PAIRS = 200_000
# Relative allowance for rounding in the bound (the distances it compares
# are computed to about 1e-15).
_ROUNDING = 1e-9


class ImpostorSearch:
    """The impostor terms of LMNN's loss at successive maps.

    Call it with ``Z = X L^T`` and the targets' squared distances
    ``dist_t``; it returns the push loss, the number of active triplets and
    the gradient weights ``w_target, deg, P`` of
    :func:`~metriclearn._kernels.lmnn_impostors.impostor_search`, with
    exactly the active triplets of a full search.

    A full search at ``L_0`` lists every pair with
    ``||z0_i - z0_l|| < max(tau_i, tau_l)``, ``tau_i = sqrt(R_i) + delta``
    (``R_i`` the squared margin radius of ``i``; ``delta`` the largest
    width whose list the histogram of the previous full search expects to
    hold at most ``_LIST_SHARE`` of a full search's cost). At a later ``L``,
    for ``s > 0`` and the movements ``b_i = ||z_i - s z0_i||``, a pair left
    out has ``||z_i - z_l|| >= s max(tau_i, tau_l) - b_i - b_l``; with the
    headroom ``h_i = s tau_i - sqrt(R_i) - b_i`` it lies outside both
    margins whenever ``b_i, b_l <= beta <= h_i, h_l``. The split ``beta``
    (and ``s``: the least-squares scale of ``Z0`` onto ``Z``, or 1) is
    chosen to leave the fewest points outside that condition; those points
    are searched afresh against every point of another class, and the
    listed pairs among the others are rescanned: each carries a lower bound
    on its distance (16 bits), moved to the new map by the same inequality
    from the last evaluation, which clears most of them; the rest are
    decided on their exact distances. When that would cost more than
    ``_REFRESH`` of a full search, or the list overflowed, the evaluation is
    a full search, which lists anew.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float64
        Points sorted by class.
    bounds : ndarray of shape (n_classes + 1,), integer
    targets : ndarray of shape (n, k), integer
    n_jobs : int, default=1
    squared : bool, default=False
    incremental : bool or 'auto', default='auto'
        False searches in full at every call; 'auto' is True from
        ``_MIN_PAIRS`` pairs of points of different classes on.
    list_share : float, default=_LIST_SHARE
        Share of a full search's cost that evaluating the list may take.
    refresh : float, default=_REFRESH
        Share of a full search's cost above which an incremental evaluation
        is replaced by a full search.
    block, chunk : int
        Tile shape of the searches.

    Attributes
    ----------
    counts : dict
        Number of ``'full'`` and ``'incremental'`` evaluations, and of
        ``'rescanned'`` rows.
    """

    def __init__(self, X, bounds, targets, n_jobs=1, squared=False, incremental="auto",
                 list_share=_LIST_SHARE, refresh=_REFRESH, block=_BLOCK, chunk=_CHUNK):
        self.X = X
        self.bounds = bounds
        self.targets = targets
        self.squared = bool(squared)
        self.incremental = bool(incremental)
        self.n_groups = 1 if n_jobs is None else max(int(n_jobs), 1)
        self.block, self.chunk = int(block), int(chunk)
        self.full_kernel = get_impostor_search(n_jobs)
        self.candidate_kernel = get_candidate_terms(n_jobs)
        self.rescan_kernel = get_rescan_terms(n_jobs)
        sizes = np.diff(bounds).astype(np.float64)
        n = X.shape[0]
        self.labels = np.repeat(np.arange(sizes.shape[0], dtype=np.intp), np.diff(bounds))
        # pairs of different classes: the work of a full search
        self.n_pairs = 0.5 * (float(n) ** 2 - float(sizes @ sizes))
        self.n_other = float(n) - float(sizes @ sizes) / max(n, 1)
        self.list_size = min(list_share * self.n_pairs / _CANDIDATE_COST, _MAX_LISTED)
        if incremental == "auto":
            self.incremental = self.n_pairs >= _MIN_PAIRS
        self.refresh = float(refresh)
        self.counts = {"full": 0, "incremental": 0, "rescanned": 0}
        self._ref = None  # the last full search's map and list
        self._hist = None  # (histogram, bin width) of the last full search

    def __call__(self, Z, dist_t, eps=0.0):
        """The terms at ``Z``; ``eps > 0`` (the hinge only) gives the
        smoothed hinge's weights of
        :func:`~metriclearn._kernels.lmnn_impostors._row_terms` instead,
        leaving the list as it is."""
        eps = float(eps)
        # the radii to cover: the margins, widened by eps
        rho = np.sqrt(1.0 + dist_t.max(axis=1) + eps)
        if self._ref is not None:
            plan = self._plan(Z, rho)
            if plan is not None:
                return self._incremental(Z, dist_t, eps, *plan)
        if eps > 0.0:
            self.counts["full"] += 1
            cover = rho * rho
            return self.full_kernel(self.X, Z, self.bounds, self.targets, dist_t, cover, cover,
                                    self.block, self.chunk, self.n_groups, self.squared, eps,
                                    0, 1.0, 0, 1)[:5]
        return self._full(Z, dist_t, rho)

    # ------------------------------------------------------------------

    def _plan(self, Z, rho):
        """The points whose bound fails (a bool mask), the scale ``s`` and
        movements ``b`` from the list's last update, and the inflated radii;
        or None when a full search is cheaper."""
        ref = self._ref
        rho_up = rho * (1.0 + _ROUNDING)
        best = None
        for s in (_scale(Z, ref["Z"]), 1.0):
            if not s > 0.0 or (best is not None and s == best[4]):
                continue
            b = movement(Z, ref["Z"], s) * (1.0 + _ROUNDING)
            h = s * ref["tau"] - rho_up - b
            beta, n_bad = _split(b, h)
            if best is None or n_bad < best[0]:
                best = (n_bad, beta, b, h, s)
        n_bad, beta, b, h, _ = best
        cost = _CANDIDATE_COST * ref["n_listed"] + n_bad * self.n_other
        if cost > self.refresh * self.n_pairs:
            return None
        s = _scale(Z, ref["Z1"])
        if not s > 0.0:
            s = 1.0
        return (b > beta) | (h < beta), s, movement(Z, ref["Z1"], s) * (1.0 + _ROUNDING), rho_up

    def _incremental(self, Z, dist_t, eps, skip, s, b, rho):
        ref = self._ref
        X = self.X
        out = self.candidate_kernel(X, Z, dist_t, skip, ref["segments"], ref["n_segments"],
                                    ref["offsets"], ref["lengths"], ref["unit"], s, b, rho,
                                    self.squared, eps)
        ref["Z1"] = Z
        rows = np.flatnonzero(skip)
        self.counts["incremental"] += 1
        if rows.shape[0]:
            self.counts["rescanned"] += rows.shape[0]
            more = self.rescan_kernel(X, Z, self.labels, dist_t, rows, skip, self.block,
                                      self.chunk, self.n_groups, self.squared, eps)
            out = (out[0] + more[0], out[1] + more[1], out[2] + more[2], out[3] + more[3],
                   out[4] + more[4])
        return out

    def _full(self, Z, dist_t, rho):
        self.counts["full"] += 1
        radii = rho * rho
        if not self.incremental:
            out = self.full_kernel(self.X, Z, self.bounds, self.targets, dist_t, radii, radii,
                                   self.block, self.chunk, self.n_groups, self.squared, 0.0,
                                   0, 1.0, 0, 1)
            return out[:5]
        delta, cap = self._widths(rho)
        capacity = 0 if delta is None else int(min(2.0 * self.list_size, _MAX_LISTED))
        store_at = radii if delta is None else (rho + delta) ** 2
        scan_at = (rho + cap) ** 2
        (loss, n_active, w_target, deg, P, segments, n_segments, offsets, lengths, unit,
         overflow, hist, sampled) = self.full_kernel(
            self.X, Z, self.bounds, self.targets, dist_t, store_at, scan_at, self.block,
            self.chunk, self.n_groups, self.squared, 0.0, capacity, cap / _BINS, _BINS, _SAMPLE)
        self._hist = (hist * (self.n_pairs / max(sampled, 1.0)), cap / _BINS)
        if delta is None or overflow:
            self._ref = None
        else:
            self._ref = {
                "Z": Z, "Z1": Z, "tau": (rho + delta) * (1.0 - _ROUNDING),
                "segments": segments, "n_segments": n_segments, "offsets": offsets,
                "lengths": lengths, "unit": unit,
                "n_listed": _listed(segments, n_segments),
            }
        return loss, n_active, w_target, deg, P

    def _widths(self, rho):
        """The list's width ``delta`` (None: list nothing) and the histogram's
        ``cap``, from the histogram of the last full search."""
        if self._hist is None:
            # nothing known yet: measure over a quarter of the typical radius
            return None, 0.25 * float(np.median(rho))
        hist, width = self._hist
        cum = np.cumsum(hist)
        fits = np.flatnonzero(cum <= self.list_size)
        if fits.size == 0:
            # the pairs inside the margins alone overflow the list: measure
            # them again next time, list nothing
            return None, width * _BINS
        top = int(fits[-1]) + 1  # bins [0, top) fit
        delta = top * width
        # the next histogram reaches twice as far as this list, or as the
        # last one when the list filled it
        cap = 2.0 * delta if top < _BINS else 2.0 * width * _BINS
        return delta, cap


def _scale(Z, Z0):
    """The least-squares ``s`` of ``Z ~ s Z0``."""
    return float(np.vdot(Z, Z0)) / max(float(np.vdot(Z0, Z0)), np.finfo(float).tiny)


def _listed(segments, n_segments):
    """Number of listed candidates."""
    total = 0
    for g in range(n_segments.shape[0]):
        total += int(segments[g, : n_segments[g], 2].sum())
    return total


def _split(b, h):
    """The ``beta`` that leaves the fewest points with ``b > beta`` or
    ``h < beta``, and (an upper bound on) their number."""
    n = b.shape[0]
    bs, hs = np.sort(b), np.sort(h)
    cand = np.concatenate([bs, hs])
    count = (n - np.searchsorted(bs, cand, side="right")) + np.searchsorted(hs, cand,
                                                                              side="left")
    best = int(np.argmin(count))
    return float(cand[best]), int(count[best])
