"""LSML, SDML and SCML side by side with metric-learn 0.7.0: fit time and 3-NN accuracy.

Each ``*_Supervised`` learner fits the standardised training part of iris,
wine, breast_cancer and digits in both libraries at their defaults
(``random_state=0``), on the split of seed 0. Times: one untimed fit of
each, then the libraries' single fits interleaved (``A B A B ...``, each
after a garbage collection, with its peak memory: *fit alone*), then rounds
of fits back to back (:func:`benchmarks.timer.steady_fits`, about 0.25 s a
round, the way ``timeit`` times short calls: *fit*); medians. A fit alone
of a few milliseconds carries the cost of starting from a collected heap
and cold caches, which back-to-back fits (a cross-validation, a grid
search) do not pay; both are reported, with their speed-ups. 3-NN test
accuracy: on that split, and the mean over ``--splits`` stratified 70/30
splits (seeds 0, 1, ...), since one split of 45 to 540 test points moves by
a point or two, and each library draws its own constraints. metric-learn's
``SDML_Supervised`` raises at its defaults on all four data sets; it is also
run with ``balance_param`` set to the value metriclearn's ``'auto'`` chose
(the same problem, solved by the same scikit-learn graphical lasso).
"""

import warnings

import numpy as np

from .. import anchors, problems, timer
from ..writer import fmt, ratio

DATASETS = ("iris", "wine", "breast_cancer", "digits")
LEARNERS = ("LSML_Supervised", "SDML_Supervised", "SCML_Supervised")
SAME_PROBLEM = "metric-learn, balance_param as metriclearn's"


def _split(name, seed):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = problems._load(name)
    X_train, X_test, y_train, y_test = train_test_split(
        np.asarray(X, dtype=np.float64), y, test_size=problems.TEST_SIZE, stratify=y,
        random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return problems.Split(name, scaler.transform(X_train), y_train, scaler.transform(X_test),
                          y_test)


def _factories(learner, ours_fitted=None):
    import metriclearn

    out = {"metriclearn": lambda: getattr(metriclearn, learner)(random_state=0),
           "metric-learn": lambda: anchors.metric_learn(learner, random_state=0)}
    if learner == "SDML_Supervised" and ours_fitted is not None:
        balance = float(ours_fitted.balance_param_)
        out[SAME_PROBLEM] = lambda: anchors.metric_learn(
            learner, random_state=0, balance_param=balance)
    return out


def _accuracy(factory, ds):
    try:
        est = factory().fit(ds.X_train, ds.y_train)
    except Exception:
        return None
    return problems.knn_accuracy(ds, est.transform)


def cell(dataset, learner, args, log=print):
    ds = _split(dataset, 0)
    fit_args = (ds.X_train, ds.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = timer.measure_fit(_factories(learner)["metriclearn"], fit_args)
        factories = _factories(learner, first.value)
        for name, f in factories.items():
            if name != "metriclearn":
                timer.measure_fit(f, fit_args, timeout=args.fit_timeout)
        calls = {name: timer.fit_maker(f, fit_args) for name, f in factories.items()}
        repeats = {name: args.repeats if name == "metriclearn" else args.anchor_repeats
                   for name in calls}
        samples = timer.interleave(calls, repeats, slow=args.slow_fit,
                                   timeout=args.fit_timeout)
        rows = {}
        for name, fits in samples.items():
            s = timer.summary(fits)
            good = [f.value for f in fits if f.error is None]
            rows[name] = {
                "single_s": s["wall_median"], "cpu_s": s["cpu_median"], "n": s["n"],
                "error": s["error"], "fit_s": None,
                "knn3": problems.knn_accuracy(ds, good[-1].transform) if good else None,
            }
        ok = {name: calls[name] for name, row in rows.items() if row["single_s"] is not None}
        steady = timer.steady_fits(ok, {name: rows[name]["single_s"] for name in ok},
                                   rounds=args.steady_rounds)
        for name, seconds in steady.items():
            rows[name]["fit_s"] = seconds
        for seed in range(args.splits):
            split = ds if seed == 0 else _split(dataset, seed)
            fs = _factories(learner, first.value if seed == 0 else None)
            if seed:
                ours = fs["metriclearn"]().fit(split.X_train, split.y_train)
                fs = _factories(learner, ours)
            for name, f in fs.items():
                acc = _accuracy(f, split)
                rows[name].setdefault("split_knn3", []).append(acc)
    for name, row in rows.items():
        accs = row["split_knn3"]
        row["mean_knn3"] = None if None in accs else float(np.mean(accs))
        log(f"[parity] {dataset} {learner} {name}: {fmt(row['fit_s'])} s a fit back to back, "
            f"{fmt(row['single_s'])} s alone, 3-NN "
            f"{fmt(row['knn3'], '.4f')} (mean {fmt(row['mean_knn3'], '.4f')})"
            + (f", error {row['error']}" if row["error"] else ""))
    return {"dataset": dataset, "learner": learner, "rows": rows,
            "euclidean": problems.knn_accuracy(ds)}


def run(args, ctx, log=print):
    return {"cells": [cell(d, learner, args, log) for learner in args.learners
                      for d in args.datasets]}


def blocks(results):
    out = [("p", __doc__.split("\n\n", 1)[1].replace("\n", " ").strip())]
    rows = []
    for c in results["cells"]:
        ours = c["rows"]["metriclearn"]
        for name, r in c["rows"].items():
            mine = name == "metriclearn" or r["error"]
            speed = None if mine or r["fit_s"] is None else r["fit_s"] / ours["fit_s"]
            alone = None if mine or r["single_s"] is None else r["single_s"] / ours["single_s"]
            rows.append([c["learner"], c["dataset"], name,
                         "error" if r["error"] else fmt(r["fit_s"]), ratio(speed) if speed else "-",
                         fmt(r["single_s"]), fmt(r["cpu_s"]), ratio(alone) if alone else "-",
                         fmt(r["knn3"], ".4f"), fmt(r["mean_knn3"], ".4f"),
                         fmt(c["euclidean"], ".4f")])
    out.append(("table", ["learner", "data", "library", "fit (s)", "speed-up",
                          "fit alone (s)", "CPU alone (s)", "speed-up alone", "3-NN",
                          "3-NN mean", "Euclidean"], rows))
    return out
