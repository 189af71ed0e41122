"""Suite ``itml``: ITML's solver against metric-learn, its defaults, and what a sweep costs.

Parts (``--parts``): ``solver``, ``defaults`` and ``knn`` are in
:mod:`.itml_solver` (time to objective against metric-learn's 1000 sweeps,
each library at its defaults, the user guide's k-NN table); ``rates`` and
``ceiling`` are the Bregman sweep's (``solver='bregman'``):

1. The sweep rate: ITML fitted for exactly 20 sweeps (``tol=0``) in both
   libraries on the same pairs and bounds, against the number of pairs and
   against d (the ITML series of the ``scaling`` suite), as constraint
   updates per second.
2. The ceiling, on the digits problem of ``compare`` (``ITML_Supervised``'s
   pairs and bounds): metric-learn's time per sweep; metriclearn's sweep
   kernel after ``--settle`` sweeps from the identity (the state of a long
   fit), median of ``--sweeps``, with the share of visits whose projection
   changed ``M``; and the least a visit can cost when it reads all of ``M``:
   a read pass over the ``d x d`` matrix for a visit that changes nothing, a
   read-write pass for one that changes ``M``, compiled like the kernel.
"""

import time
import warnings

import numpy as np
from numba import njit

from .. import anchors, problems, timer
from ..writer import seconds
from . import itml_solver, scaling

_FASTMATH = {"reassoc", "contract", "nsz"}


@njit(fastmath=_FASTMATH)
def read_pass(M, repeats):
    """Every element of ``M`` loaded and added up, ``repeats`` times."""
    d = M.shape[0]
    total = 0.0
    for _ in range(repeats):
        for j in range(d):
            row = M[j]
            s = 0.0
            for i in range(d):
                s += row[i]
            total += s
    return total


@njit(fastmath=_FASTMATH)
def read_write_pass(M, repeats):
    """Every element of ``M`` loaded, changed and stored, ``repeats`` times."""
    d = M.shape[0]
    for _ in range(repeats):
        for j in range(d):
            row = M[j]
            for i in range(d):
                row[i] = row[i] * 1.0000001 + 1e-300
    return M[0, 0]


def ceiling(settle, sweeps, anchor_sweeps):
    """Time per sweep of both libraries on digits, and the floor of a sweep."""
    from metriclearn._kernels.itml import bregman_sweep

    problem = problems.supervised_pairs_bounds(problems.split("digits"))
    pairs, y, bounds = problem.fit_args
    V, delta, xi0 = problems.sweep_constraints(pairs, y, bounds)
    m, d = V.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anchor = timer.measure_fit(
            lambda: anchors.metric_learn("ITML", gamma=1.0, max_iter=anchor_sweeps, tol=0.0),
            problem.fit_args)
    M, lam, xi = np.eye(d), np.zeros(m), xi0.copy()
    for _ in range(settle):
        bregman_sweep(M, V, delta, lam, xi, 1.0)
    times, updates = [], 0
    for _ in range(sweeps):
        t0 = time.perf_counter()
        updates += bregman_sweep(M, V, delta, lam, xi, 1.0)
        times.append(time.perf_counter() - t0)
    ours = float(np.median(times))
    changed = updates / (sweeps * m)
    A = np.eye(d)
    reps = 100_000
    t_read = timer.median_time(lambda: read_pass(A, reps), repeats=7)[0] / reps
    t_rw = timer.median_time(lambda: read_write_pass(A, reps), repeats=7)[0] / reps
    floor = m * ((1.0 - changed) * t_read + changed * t_rw)
    return {"m": m, "d": d, "settle": settle, "sweeps": sweeps,
            "anchor_sweeps": anchor_sweeps, "anchor_per_sweep": anchor.wall / anchor_sweeps,
            "anchor_error": anchor.error, "ours_per_sweep": ours, "changed": changed,
            "read_pass": t_read, "read_write_pass": t_rw, "floor": floor}


def rates(series):
    """Constraint updates per second of each library from the ITML series."""
    rows = []
    for name, axis in series["itml"].items():
        for p in axis["points"]:
            if "error" not in p:  # the features axis has 1000 pairs of each kind
                rows.append({"axis": axis["label"], "value": p["value"],
                             "pairs": p["x"] if name == "constraints" else 2000,
                             "library": p["library"], "wall": p["wall"]})
    for r in rows:
        r["updates_per_s"] = r["pairs"] * scaling.ITML_SWEEPS / r["wall"]
    return rows


def run(args, ctx, log=print, series=None):
    """The parts named in ``args.parts``; the rates come from ``series`` when
    the scaling suite ran."""
    out = {}
    parts = set(args.parts)
    if args.knn_splits:
        parts.add("knn")
    if "solver" in parts:
        out["time_to_objective"] = [
            itml_solver.time_to_objective(name, args.repeats, args.anchor_repeats,
                                          args.fit_timeout, log)
            for name in args.datasets]
    if "defaults" in parts:
        out["defaults"] = [
            itml_solver.defaults(name, standardise, args.repeats, args.anchor_repeats,
                                 args.fit_timeout, log)
            for name in args.datasets for standardise in (False, True)]
    if "knn" in parts:
        out["knn"] = itml_solver.knn_table(args.datasets, args.knn_splits or 10, log)
    if "rates" in parts:
        if series is None:
            args.learners = ["itml"]
            series = out["series"] = scaling.run(args, ctx, log)["series"]
        out["rates"] = rates(series)
    if "ceiling" in parts:
        out["ceiling"] = ceiling(args.settle, args.sweeps, args.anchor_sweeps)
        c = out["ceiling"]
        log(f"[itml] per sweep: metric-learn {seconds(c['anchor_per_sweep'])}, metriclearn "
            f"{seconds(c['ours_per_sweep'])}, floor {seconds(c['floor'])}")
    return out


def blocks(results):
    out = itml_solver.blocks(results)
    if "rates" in results:
        out += _rate_blocks(results["rates"])
    if "ceiling" in results:
        out += _ceiling_blocks(results["ceiling"])
    return out


def _rate_blocks(rates):
    by_point = {}
    for r in rates:
        by_point.setdefault((r["axis"], r["value"]), {})[r["library"]] = r
    rows = []
    for (axis, value), libs in by_point.items():
        ours, theirs = libs.get("metriclearn"), libs.get(anchors.METRIC_LEARN)
        rows.append([axis, str(value), seconds(ours and ours["wall"]),
                     seconds(theirs and theirs["wall"]),
                     f"{theirs['wall'] / ours['wall']:.1f}x" if ours and theirs else "-",
                     f"{ours['updates_per_s']:.3g}" if ours else "-",
                     f"{theirs['updates_per_s']:.3g}" if theirs else "-"])
    return [
        ("h", "ITML: the sweep"),
        ("p", f"Both libraries fit ``ITML`` for exactly {scaling.ITML_SWEEPS} sweeps of "
              "Bregman projections (metriclearn with ``solver='bregman'``, ``tol=0``) on "
              "the same pairs and bounds; constraint updates per second = pairs x sweeps / "
              "fit time."),
        ("table", ["axis", "value (pairs of each kind, or d)", "metriclearn",
                   "metric-learn", "speed-up", "updates/s metriclearn",
                   "updates/s metric-learn"], rows),
    ]


def _ceiling_blocks(c):
    anchor = c["anchor_per_sweep"]
    return [
        ("p", f"On digits ({c['m']} constraints, d = {c['d']}, one thread): metriclearn's "
              f"sweep after {c['settle']} sweeps from the identity (median of "
              f"{c['sweeps']}) against metric-learn's time per sweep over a fit of "
              f"{c['anchor_sweeps']} sweeps, and the floor of a sweep that reads all of "
              "``M`` on each visit (visits that changed nothing x read pass + visits that "
              "changed ``M`` x read-write pass)."),
        ("table", ["quantity", "value"], [
            ["metric-learn, per sweep", seconds(anchor)],
            ["metriclearn, per sweep", seconds(c["ours_per_sweep"])],
            ["speed-up", f"{anchor / c['ours_per_sweep']:.1f}x"],
            ["visits whose projection changed M", f"{100 * c['changed']:.1f}%"],
            [f"read pass over M ({c['d']} x {c['d']})", seconds(c["read_pass"])],
            ["read-write pass over M", seconds(c["read_write_pass"])],
            ["floor per sweep (passes only)", seconds(c["floor"])],
            ["speed-up at the floor", f"{anchor / c['floor']:.1f}x"],
            ["metriclearn's time over the floor", f"{c['ours_per_sweep'] / c['floor']:.2f}"],
            ["per sweep for a 50x speed-up", seconds(anchor / 50)],
        ]),
    ]
