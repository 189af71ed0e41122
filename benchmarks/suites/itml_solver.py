"""ITML's solver and defaults against metric-learn 0.7.0 (parts of suite ``itml``).

1. Time to objective. Both libraries' ``ITML`` on the pairs ``ITML_Supervised``
   would draw, with the same bounds (metriclearn's default bounds for those
   pairs), metric-learn's prior and weight (``prior='identity'``,
   ``gamma=1``) and otherwise each at its defaults: metric-learn's Bregman
   sweeps in Python (``tol=1e-3``, at most 1000 sweeps), metriclearn's dual
   solver (``tol=1e-9`` on the relative duality gap). Reported: each one's
   fit time and ITML's objective at its metric (best slacks, lower is
   better), and the time metriclearn takes to reach metric-learn's final
   objective (a fit stopped at the first iteration whose objective is at
   most metric-learn's).
2. Defaults. ``ITML_Supervised(random_state=0)`` of each library at all its
   defaults on raw and on standardised features: fit time and 3-NN test
   accuracy (different problems: bounds, prior and ``gamma`` differ).
3. k-NN table (``--knn-splits N``, off by default). Both libraries'
   ``ITML_Supervised`` at their defaults, and metriclearn with metric-learn's
   prior and weight, over ``N`` stratified 70/30 splits (seeds 300, 301, ...;
   at most 5 for digits), raw and standardised: mean 3-NN and 4-NN test
   accuracy, with the Euclidean distance for reference. The user guide's
   table.
"""

import statistics
import warnings
from functools import partial

import numpy as np

from .. import anchors, problems, timer
from ..learners import OURS
from ..writer import fmt, ratio, seconds

# metric-learn's prior and weight, given to both libraries in part 1
ML_PROBLEM = {"gamma": 1.0, "prior": "identity"}
KNN_SEED = 300
KNN_DIGITS_SPLITS = 5


def _objective(est, problem):
    from metriclearn.objectives import itml_pairs_objective

    M = anchors.mahalanobis(est)
    return float(itml_pairs_objective(M, problem.pairs, problem.y, problem.bounds,
                                      np.eye(M.shape[0]), ML_PROBLEM["gamma"]))


def _first_below(history, value):
    """The first iteration whose objective is at most ``value`` (at least 1)."""
    below = np.flatnonzero(np.asarray(history) <= value)
    return max(int(below[0]), 1) if below.size else None


def _medians(samples):
    s = timer.summary(samples)
    return {"wall": s["wall_median"], "cpu": s["cpu_median"], "n": s["n"],
            "error": s["error"]}


def time_to_objective(name, repeats, anchor_repeats, timeout, log=print):
    """Part 1 on one data set."""
    import metriclearn

    ds = problems.split(name)
    problem = problems.supervised_pairs_bounds(ds)
    ours = partial(metriclearn.ITML, **ML_PROBLEM)
    theirs = partial(anchors.metric_learn, "ITML", **ML_PROBLEM)
    warm = timer.measure_fit(ours, problem.fit_args, timeout=10 * timeout)
    first = timer.measure_fit(theirs, problem.fit_args, timeout=timeout)
    if warm.error or first.error:
        return {"dataset": name, "error": warm.error or first.error}
    target = _objective(first.value, problem)
    k = _first_below(warm.value.objective_history_, target)
    reach = partial(metriclearn.ITML, max_iter=k, **ML_PROBLEM)
    makers = {OURS: timer.fit_maker(ours, problem.fit_args),
              anchors.METRIC_LEARN: timer.fit_maker(theirs, problem.fit_args)}
    counts = {OURS: repeats,
              anchors.METRIC_LEARN: anchor_repeats - 1 if first.wall <= 1.0 else 0}
    if k is not None:
        makers["reach"] = timer.fit_maker(reach, problem.fit_args)
        counts["reach"] = repeats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stopped fits warn by design
        samples = timer.interleave(makers, counts, timeout=timeout)
    samples[anchors.METRIC_LEARN].insert(0, first)
    out = {"dataset": name, "problem": problem.text, "digest": problem.digest(),
           "first_call": warm.wall, "target": target, "reach_iter": k}
    for lib, fits in samples.items():
        out[lib] = _medians(fits)
        est = next((s.value for s in fits if s.error is None), None)
        if est is not None:
            out[lib]["objective"] = _objective(est, problem)
            out[lib]["n_iter"] = int(est.n_iter_)
            out[lib]["certificate"] = getattr(est, "certificate_", None)
    theirs_wall = out[anchors.METRIC_LEARN]["wall"]
    for lib in (OURS, "reach"):
        if lib in out and out[lib]["wall"]:
            out[lib]["ratio"] = theirs_wall / out[lib]["wall"]
    log(f"[itml] {name}: metric-learn {seconds(theirs_wall)} "
        f"({out[anchors.METRIC_LEARN].get('n_iter')} sweeps, objective {target:.6g}); "
        f"metriclearn {seconds(out[OURS]['wall'])} (objective "
        f"{out[OURS].get('objective', float('nan')):.6g}), "
        f"{ratio(out[OURS].get('ratio'))}; to metric-learn's objective "
        f"{seconds(out.get('reach', {}).get('wall'))}")
    return out


def defaults(name, standardise, repeats, anchor_repeats, timeout, log=print):
    """Part 2 on one data set, raw or standardised."""
    import metriclearn

    ds = problems.split(name, standardise=standardise)
    fit_args = (ds.X_train, ds.y_train)
    factories = {OURS: lambda: metriclearn.ITML_Supervised(random_state=problems.SEED),
                 anchors.METRIC_LEARN: lambda: anchors.metric_learn(
                     "ITML_Supervised", random_state=problems.SEED)}
    warm = timer.measure_fit(factories[OURS], fit_args, timeout=10 * timeout)
    makers = {lib: timer.fit_maker(f, fit_args) for lib, f in factories.items()}
    samples = timer.interleave(makers, {OURS: repeats, anchors.METRIC_LEARN: anchor_repeats},
                               slow=1.0, timeout=timeout)
    out = {"dataset": name, "standardised": standardise, "first_call": warm.wall,
           "euclidean": problems.knn_accuracy(ds)}
    for lib, fits in samples.items():
        out[lib] = _medians(fits)
        out[lib]["warnings"] = sorted({w for s in fits for w in s.warnings})
        est = next((s.value for s in fits if s.error is None), None)
        if est is not None:
            out[lib]["knn_accuracy"] = problems.knn_accuracy(ds, est.transform)
            out[lib]["n_iter"] = int(est.n_iter_)
    if out[OURS]["wall"] and out[anchors.METRIC_LEARN]["wall"]:
        out[OURS]["ratio"] = out[anchors.METRIC_LEARN]["wall"] / out[OURS]["wall"]
    log(f"[itml] defaults, {name} {'standardised' if standardise else 'raw'}: metric-learn "
        f"{seconds(out[anchors.METRIC_LEARN]['wall'])}, metriclearn "
        f"{seconds(out[OURS]['wall'])} ({ratio(out[OURS].get('ratio'))})")
    return out


KNN_VARIANTS = {
    "metric-learn": lambda seed: anchors.metric_learn("ITML_Supervised", random_state=seed),
    "metriclearn": lambda seed: _ours(seed),
    "metriclearn, gamma=1, prior='identity'": lambda seed: _ours(seed, **ML_PROBLEM),
}


def _ours(seed, **params):
    import metriclearn

    return metriclearn.ITML_Supervised(random_state=seed, **params)


def knn_table(datasets, n_splits, log=print):
    """Part 3: mean 3-NN and 4-NN test accuracy over ``n_splits`` splits."""
    rows = []
    for name in datasets:
        if name == "synthetic":
            continue
        seeds = range(KNN_SEED, KNN_SEED + (min(n_splits, KNN_DIGITS_SPLITS)
                                            if name == "digits" else n_splits))
        for standardise in (False, True):
            acc = {v: {3: [], 4: []} for v in ["euclidean", *KNN_VARIANTS]}
            for seed in seeds:
                ds = problems.split(name, standardise, seed)
                for k in (3, 4):
                    acc["euclidean"][k].append(problems.knn_accuracy(ds, k=k))
                for variant, make in KNN_VARIANTS.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # metric-learn's, on new scikit-learn
                        est = make(seed).fit(ds.X_train, ds.y_train)
                        for k in (3, 4):
                            acc[variant][k].append(
                                problems.knn_accuracy(ds, est.transform, k=k))
            rows.append({"dataset": name, "standardised": standardise,
                         "splits": len(seeds),
                         "accuracy": {v: {k: statistics.mean(a[k]) for k in a}
                                      for v, a in acc.items()}})
            log(f"[itml] k-NN, {name} {'standardised' if standardise else 'raw'}: " + ", ".join(
                f"{v} {rows[-1]['accuracy'][v][3]:.4f}" for v in acc))
    return rows


def blocks(results):
    out = []
    if results.get("time_to_objective"):
        rows = []
        for r in results["time_to_objective"]:
            if "error" in r:
                rows.append([r["dataset"], "failed"] + ["-"] * 7)
                continue
            ml, ours, reach = r[anchors.METRIC_LEARN], r[OURS], r.get("reach", {})
            rows.append([r["dataset"], seconds(ml["wall"]), str(ml.get("n_iter")),
                         fmt(ml.get("objective"), ".6g"), seconds(ours["wall"]),
                         fmt(ours.get("objective"), ".6g"), ratio(ours.get("ratio")),
                         seconds(reach.get("wall")), ratio(reach.get("ratio"))])
        out += [
            ("h", "ITML: time to objective"),
            ("p", "Both libraries' ``ITML`` on the pairs ``ITML_Supervised`` would draw, "
                  "the same bounds, ``prior='identity'``, ``gamma=1`` (metric-learn's "
                  "problem), each otherwise at its defaults: metric-learn's Python sweeps "
                  "(``tol=1e-3``, at most 1000 sweeps) and metriclearn's dual solver "
                  "(``tol=1e-9`` on the relative duality gap). Objective: ITML's, at the "
                  "learned metric with its best slacks (lower is better). *To metric-learn's "
                  "objective*: metriclearn stopped at its first iteration whose objective is "
                  "at most metric-learn's final one. Median wall times, one thread."),
            ("table", ["data", "metric-learn", "sweeps", "objective", "metriclearn",
                       "objective", "speed-up", "to metric-learn's objective", "speed-up"],
             rows),
        ]
    if results.get("defaults"):
        rows = []
        for r in results["defaults"]:
            ml, ours = r[anchors.METRIC_LEARN], r[OURS]
            rows.append([r["dataset"], "standardised" if r["standardised"] else "raw",
                         seconds(ml["wall"]), seconds(ours["wall"]), ratio(ours.get("ratio")),
                         fmt(r["euclidean"], ".3f"), fmt(ml.get("knn_accuracy"), ".3f"),
                         fmt(ours.get("knn_accuracy"), ".3f"), str(ours.get("n_iter"))])
        out += [
            ("h", "ITML: each library at its defaults"),
            ("p", "``ITML_Supervised(random_state=0)`` of each library at all its defaults "
                  "(different bounds, prior and ``gamma``: different problems), on raw and "
                  "standardised features; median wall times and 3-NN test accuracy."),
            ("table", ["data", "features", "metric-learn", "metriclearn", "speed-up",
                       "3-NN Euclidean", "3-NN metric-learn", "3-NN metriclearn",
                       "iterations"], rows),
        ]
    if results.get("knn"):
        variants = ["euclidean", *KNN_VARIANTS]
        rows = [[r["dataset"], "standardised" if r["standardised"] else "raw", str(r["splits"])]
                + [f"{r['accuracy'][v][3]:.4f} / {r['accuracy'][v][4]:.4f}" for v in variants]
                for r in results["knn"]]
        out += [
            ("h", "ITML: k-NN accuracy of the defaults"),
            ("p", "Mean 3-NN / 4-NN test accuracy over stratified 70/30 splits (seeds "
                  f"{KNN_SEED}, {KNN_SEED + 1}, ...), ``ITML_Supervised`` with "
                  "``random_state`` = the split's seed."),
            ("table", ["data", "features", "splits", "Euclidean", *list(KNN_VARIANTS)], rows),
        ]
    return out
