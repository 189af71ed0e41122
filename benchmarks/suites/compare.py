"""Suite ``compare``: every learner against its anchors on the same data and constraints.

MMC (full and diagonal) and ITML against metric-learn 0.7.0 on the pairs
``*_Supervised`` would draw; LMNN against metric-learn, pylmnn and
scikit-learn's NCA on the class labels; ``SGDMetricLearner_Supervised``
against metric-learn's ``SCML_Supervised``. Per cell: metriclearn warmed up
by one untimed fit (the *first call*), then the libraries' fits interleaved;
median wall and CPU time, peak RSS, the objective of each solution, 3-NN and
clustering accuracy on the test part, rank of ``M``, ``n_iter_``.
"""

import math
import warnings

import numpy as np

from .. import problems, timer
from ..anchors import SCML
from ..learners import LEARNERS, OURS
from ..writer import fmt, md_table, ratio, seconds


def _scores(learner, est, ds, problem):
    """Objective, accuracies, rank, ``n_iter_``; warnings of ``transform`` recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _score_values(learner, est, ds, problem)
    out["score_warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


def _score_values(learner, est, ds, problem):
    out = {"objective": learner.objective(est, problem),
           "knn_accuracy": problems.knn_accuracy(ds, est.transform),
           "clustering_accuracy": problems.clustering_accuracy(ds, est.transform),
           "rank": problems.metric_rank(est.components_.T @ est.components_)}
    n_iter, converged = getattr(est, "n_iter_", None), getattr(est, "converged_", None)
    out["n_iter"] = None if n_iter is None else int(n_iter)
    out["converged"] = None if converged is None else bool(converged)
    return out


def run_cell(learner, ds, problem, args):
    """One learner on one data set in every library; returns ``{library: result}``."""
    factories = learner.estimators()
    skipped = {}
    budget = getattr(args, "dense_budget", float("inf")) * 2.0**30
    for lib in factories:
        need = learner.dense(lib, ds) if learner.dense else 0.0
        if need > budget:
            skipped[lib] = (f"SKIPPED: its dense n x n matrices need about {need / 2**30:.0f} "
                            f"GiB, above the budget of {budget / 2**30:g} GiB "
                            "(--dense-budget)")
    factories = {lib: f for lib, f in factories.items() if lib not in skipped}
    # the first call may compile the kernels: a longer limit than a fit's
    warm = timer.measure_fit(factories[OURS], problem.fit_args,
                             timeout=10 * args.fit_timeout)
    makers = {lib: timer.fit_maker(f, problem.fit_args) for lib, f in factories.items()}
    repeats = {lib: args.repeats if lib == OURS else args.anchor_repeats for lib in makers}
    if warm.error is not None:
        repeats[OURS] = 0
    samples = timer.interleave(makers, repeats, slow=args.slow_fit, timeout=args.fit_timeout)
    if warm.error is not None:
        samples[OURS] = [warm]
    out = {}
    for lib, fits in samples.items():
        res = timer.summary(fits)
        good = [s.value for s in fits if s.error is None]
        if good:
            try:
                res.update(_scores(learner, good[-1], ds, problem))
                values = [learner.objective(est, problem) for est in good]
                if all(np.isfinite(values)):
                    res["objective_spread"] = max(values) - min(values)
            except Exception as exc:  # reported like a failed fit
                res["score_error"] = f"{type(exc).__name__}: {exc}"
        out[lib] = res
    for lib, reason in skipped.items():
        out[lib] = {**timer.summary([]), "error": reason}
    out[OURS]["first_call"] = warm.wall
    for lib, res in out.items():
        for key in ("wall", "cpu"):
            a, b = res[f"{key}_median"], out[OURS][f"{key}_median"]
            res[f"ratio_{key}"] = a / b if lib != OURS and a is not None and b else None
    return out


def _progress(name, ds_name, libs):
    lines = [f"[compare] {ds_name} / {name}"]
    for lib, r in libs.items():
        if r.get("error"):
            lines.append(f"    {lib:17s} ERROR {r['error'].strip().splitlines()[-1]}")
            continue
        lines.append(f"    {lib:17s} wall {seconds(r['wall_median'])}  cpu "
                     f"{seconds(r['cpu_median'])}  ratio {ratio(r.get('ratio_wall'))}  "
                     f"objective {fmt(r.get('objective'), '.8g')}  3-NN "
                     f"{fmt(r.get('knn_accuracy'), '.3f')}")
    return "\n".join(lines)


def run(args, ctx, log=print):
    """Every (data set, learner) cell of the flags; call under the thread pin."""
    ctx.update(repeats=args.repeats, anchor_repeats=args.anchor_repeats)
    cells = []
    for ds_name in args.datasets:
        ds = problems.split(ds_name)
        drawn = {}
        for name in args.learners:
            learner = LEARNERS[name]
            if learner.constraints not in drawn:
                drawn[learner.constraints] = problems.CONSTRAINTS[learner.constraints](ds)
            problem = drawn[learner.constraints]
            libs = run_cell(learner, ds, problem, args)
            cells.append({
                "dataset": ds_name, "learner": name, "title": learner.title,
                "params": learner.params, "higher_is_better": learner.higher_is_better,
                "n_train": int(ds.X_train.shape[0]), "n_features": int(ds.n_features),
                "n_classes": int(ds.n_classes), "constraints": problem.text,
                "constraints_digest": problem.digest(),
                "euclidean_knn_accuracy": problems.knn_accuracy(ds),
                "euclidean_clustering_accuracy": problems.clustering_accuracy(ds),
                "libraries": libs})
            log(_progress(name, ds_name, libs))
    return {"cells": cells, "repeats": args.repeats, "anchor_repeats": args.anchor_repeats}


# -- report -------------------------------------------------------------------


def _time(res):
    if res.get("error"):
        if res["error"].startswith("SKIPPED"):
            return "not run (memory)"
        return "time-out" if res["error"].startswith("TIMEOUT") else "error"
    return seconds(res.get("wall_median"))


def _pair(a, b, spec=".3f"):
    return f"{fmt(a, spec)} / {fmt(b, spec)}"


def better(cell, lib):
    """Which library's solution reaches the better objective (equal within 1e-6)."""
    ours = cell["libraries"][OURS].get("objective")
    theirs = cell["libraries"][lib].get("objective")
    if ours is None or theirs is None or not (math.isfinite(ours) and math.isfinite(theirs)):
        return "-"
    if abs(ours - theirs) <= 1e-6 * max(abs(ours), abs(theirs), 1e-300):
        return "equal"
    return OURS if (ours > theirs) == cell["higher_is_better"] else lib


def _main_rows(cells):
    rows = []
    for cell in cells:
        ours = cell["libraries"][OURS]
        for lib, res in cell["libraries"].items():
            if lib == OURS:
                continue
            rows.append([cell["learner"], cell["dataset"],
                         f"{cell['n_train']} x {cell['n_features']}", lib, _time(ours),
                         _time(res), ratio(res.get("ratio_wall")),
                         ratio(res.get("ratio_cpu")),
                         _pair(ours.get("knn_accuracy"), res.get("knn_accuracy")),
                         _pair(ours.get("clustering_accuracy"),
                               res.get("clustering_accuracy")),
                         _pair(ours.get("rss_mib"), res.get("rss_mib"), ".1f"),
                         better(cell, lib)])
    return rows


def _detail_rows(cells):
    rows = []
    for cell in cells:
        for lib, res in cell["libraries"].items():
            rows.append([cell["learner"], cell["dataset"], lib, str(res["n"]),
                         seconds(res.get("wall_median")), seconds(res.get("cpu_median")),
                         seconds(res.get("first_call")), fmt(res.get("objective"), ".8g"),
                         fmt(res.get("rank"), "d"), fmt(res.get("n_iter"), "d"),
                         fmt(res.get("converged"), ""), cell["constraints"],
                         cell["constraints_digest"]])
    return rows


def _notes(cells):
    """Warnings and errors, each with the cells it came from."""
    where = {}
    for cell in cells:
        for lib, res in cell["libraries"].items():
            cell_name = f"{cell['dataset']} / {cell['learner']}"
            texts = [f"{w} (in fit)" for w in res["warnings"]]
            texts += [f"{w} (in transform)" for w in res.get("score_warnings", [])
                      if w not in res["warnings"]]
            if res.get("objective_spread"):
                texts.append(f"objective varies across fits (by up to "
                             f"{res['objective_spread']:.3g})")
            texts += [res[key].strip().splitlines()[-1] for key in ("error", "score_error")
                      if res.get(key)]
            for text in texts:
                where.setdefault((lib, text), []).append(cell_name)
    return [f"{lib}: {text}: {', '.join(cells_)}" for (lib, text), cells_ in where.items()]


def blocks(results):
    cells = results["cells"]
    return [
        ("h", "Every learner against its anchors"),
        ("p", f"Median wall time of ``fit`` (metriclearn: {results['repeats']} fit(s) after "
              f"an untimed warm-up; anchors: {results['anchor_repeats']}, or 1 when the "
              "first took over a second; libraries interleaved), speed-up = anchor time / "
              "metriclearn time (wall; the CPU ratio beside it), 3-NN test accuracy, "
              "Xing's clustering accuracy of k-means on the transformed test part, peak "
              "RSS above the start of the fit, and which solution reaches the better "
              "value of the learner's objective (``metriclearn.objectives``). Raw "
              "features; ``synthetic`` is ``make_classification(5000, 50)``, "
              "``synthetic60k`` ``make_classification(60000, 50)``. SGD and SCML "
              "minimise different losses, LFDA, RCA and Covariance are closed forms: "
              "compare their accuracies. An anchor whose dense n x n matrices would "
              "exceed the memory budget is not run."),
        ("table", ["learner", "data set", "n x d", "anchor", "metriclearn", "anchor time",
                   "speed-up", "CPU ratio", "3-NN acc. (ours / anchor)",
                   "clust. acc. (ours / anchor)", "peak RSS MiB (ours / anchor)",
                   "better objective"], _main_rows(cells)),
        ("details", ["learner", "data set", "library", "fits", "median wall",
                     "median CPU", "first call", "objective", "rank of M", "n_iter",
                     "converged", "constraints", "digest"], _detail_rows(cells)),
        ("p", "Warnings and errors of the fits:"),
        ("list", _notes(cells) or ["none"]),
    ]


def readme_summary(results, ctx):
    """README's table: each learner against metric-learn (and pylmnn, NCA)."""
    rows = []
    for cell in results["cells"]:
        libs = cell["libraries"]
        anchor_name = SCML if cell["learner"] == "sgd" else "metric-learn"
        anchor = libs.get(anchor_name, {})
        others = [f"{lib} {_time(res)} ({ratio(res.get('ratio_wall'))})"
                  for lib, res in libs.items() if lib not in (OURS, anchor_name)]
        rows.append([cell["learner"], cell["dataset"], _time(libs[OURS]),
                     ("SCML " if cell["learner"] == "sgd" else "") + _time(anchor),
                     ratio(anchor.get("ratio_wall")),
                     _pair(libs[OURS].get("knn_accuracy"), anchor.get("knn_accuracy")),
                     _pair(libs[OURS].get("clustering_accuracy"),
                           anchor.get("clustering_accuracy")),
                     better(cell, anchor_name) if anchor else "-",
                     "; ".join(others) or "-"])
    load = ctx.get("load_average") or [float("nan")]
    gemm = ctx.get("rates", {}).get("dgemm_gflops", float("nan"))
    text = (f"Measured by `python -m benchmarks report` on {ctx['cpu_count']} cores "
            f"({ctx['cpu']}, float64 GEMM {gemm:.0f} GFLOP/s on one thread), started "
            f"{ctx['started']} at a load average of {load[0]:.2f}; every library on one "
            f"thread; median fit times (metriclearn {results['repeats']} fits after a "
            f"warm-up, anchors {results['anchor_repeats']} or 1); speed-up = anchor time / "
            "metriclearn time. Accuracies are ours / anchor's on the test part: 3-NN, and "
            "Xing's clustering accuracy of k-means. The SGD rows compare "
            "`SGDMetricLearner_Supervised` with metric-learn's `SCML_Supervised`.")
    table = md_table(["learner", "data set", "metriclearn", "metric-learn", "speed-up",
                      "3-NN acc.", "clust. acc.", "better objective",
                      "pylmnn, scikit-learn NCA (speed-up)"], rows)
    return "\n".join([text, "", *table])
