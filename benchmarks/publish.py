"""The report of ``report_all.py`` as Markdown (results folder, README) and
reStructuredText (the docs page).

The report is a list of blocks — ``("h", title)``, ``("p", text)``,
``("table", headers, rows)``, ``("img", file name)`` — rendered by either
writer. Texts use ``double backquotes`` for code (single in Markdown).
"""

import math
import re

from registry import ANCHOR, NCA, OURS, PYLMNN
from report import header_lines
from scaling import TITLES

# Why each inner loop sits where it does, for the list of the biggest gaps.
GAP_NOTES = {
    ("itml", "Bregman sweep (numba)"): (
        "each projection is matrix-vector work on ``M`` (``u = M v``, then a "
        "rank-one update): two flops per element of ``M`` touched, so the sweep "
        "runs at cache bandwidth, not at the GEMM rate, and a projection "
        "depends on the one before, so constraints cannot be batched into a "
        "GEMM. What is left: skip ``u = M v`` for constraints whose dual "
        "variable and slack are both at rest (most visits change nothing late "
        "in a run), and keep ``M`` as one triangle (half the traffic)."),
    ("mmc", "gradient: distances + weighted outer sum"): (
        "the weighted outer sum runs through BLAS at the GEMM rate, but the "
        "pair distances ``d^T M d`` are a scalar double loop over the upper "
        "triangle: computing them as row sums of ``(D M) * D`` with one GEMM "
        "does twice the flops at about ten times the rate."),
    ("mmc_diag", "objective, gradient and Hessian"): (
        "the Hessian adds an outer product per dissimilar pair in a scalar "
        "loop; as ``Q^T diag(w) Q`` (the weighted outer sum MMC already has) "
        "it would run at the GEMM rate."),
    ("mmc", "projection: eigh + reconstruction"): (
        "LAPACK's symmetric eigensolver bounds it; the reconstruction "
        "``V diag(w) V^T`` is a scalar triple loop that a GEMM would do faster."),
    ("lmnn", "loss + gradient evaluation"): (
        "the float32 tile products run at the SGEMM rate, but the candidate "
        "pairs' exact distances, the hinge terms and the scatter into ``P`` "
        "are scalar work per active pair, and the tiles are small (class "
        "blocks), so BLAS call overhead shows."),
    ("sgd", "mini-batch kernel (sgd_steps)"): (
        "two GEMMs per batch on gathered rows; the gather of ``2 B`` random rows "
        "of ``X`` and the per-pair hinge are what remains."),
}


def _fmt(value, spec=".3g", missing="-"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def _seconds(value):
    """A time with a unit that keeps three significant digits."""
    if value is None or not math.isfinite(value):
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.3g} us"
    if value < 1.0:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def _ratio(res):
    r = res.get("ratio_wall")
    return "-" if r is None else (f"{r:,.0f}x" if r >= 100 else f"{r:.3g}x")


def _time_or_error(res):
    if res.get("error"):
        return "time-out" if res["error"].startswith("TIMEOUT") else "error"
    return _seconds(res.get("wall_median"))


def _pair(a, b, spec=".3f"):
    return f"{_fmt(a, spec)} / {_fmt(b, spec)}"


# -- blocks -----------------------------------------------------------------


def _comparison_rows(cells):
    rows = []
    for cell in cells:
        ours = cell["libraries"][OURS]
        for lib, res in cell["libraries"].items():
            if lib == OURS:
                continue
            rows.append([
                cell["learner"], cell["dataset"], f"{cell['n_train']} x {cell['n_features']}",
                "metric-learn SCML" if cell["learner"] == "sgd" else lib,
                _time_or_error(ours), _time_or_error(res), _ratio(res),
                _fmt(res.get("ratio_cpu"), ".3g"),
                _pair(ours.get("knn_accuracy"), res.get("knn_accuracy")),
                _pair(ours.get("clustering_accuracy"), res.get("clustering_accuracy")),
                _pair(ours.get("peak_rss_mib"), res.get("peak_rss_mib"), ".1f"),
                _objective(cell, lib),
            ])
    return rows


def _objective(cell, lib):
    ours = cell["libraries"][OURS].get("objective")
    theirs = cell["libraries"][lib].get("objective")
    if ours is None or theirs is None or not (math.isfinite(ours) and math.isfinite(theirs)):
        return "-"
    if abs(ours - theirs) <= 1e-6 * max(abs(ours), abs(theirs), 1e-300):
        return "equal"
    better = (ours > theirs) == cell["higher_is_better"]
    return "metriclearn" if better else lib


COMPARISON_HEADERS = [
    "learner", "data set", "n x d", "anchor", "metriclearn", "anchor time",
    "speed-up", "CPU ratio", "3-NN acc. (ours / anchor)",
    "clust. acc. (ours / anchor)", "peak RSS MiB (ours / anchor)", "better objective",
]


def _costs_blocks(cost):
    imp = cost["import"]
    cold, warm = cost["first_fit"]["cold"], cost["first_fit"]["warm"]
    rows = [[name, _seconds(cold[name]["first_s"]), _seconds(warm[name]["first_s"]),
             _seconds(warm[name]["second_s"])]
            for name in ("mmc", "mmc_diag", "itml", "lmnn", "sgd")]
    jobs = cost["n_jobs"]
    one, two = jobs["n_jobs=1"], jobs["n_jobs=2"]
    return [
        ("h", "Costs around the fit"),
        ("p", "``import`` in a fresh interpreter (median of several): "
              f"``import metriclearn`` {_seconds(imp['metriclearn']['median_s'])}, of which "
              f"scikit-learn alone takes {_seconds(imp['sklearn']['median_s'])}; "
              f"``import metric_learn`` {_seconds(imp['metric_learn']['median_s'])}."),
        ("p", "First fit of each learner on iris in a fresh interpreter, with an "
              "empty numba cache (``NUMBA_CACHE_DIR`` a new folder: the kernels "
              "compile) and again with that cache filled (the kernels load), "
              "next to the second fit of the same process. The learners run in "
              "the order of the table, so a kernel shared with an earlier "
              "learner is already compiled."),
        ("table", ["learner", "first fit, cold cache", "first fit, warm cache",
                   "second fit"], rows),
        ("p", f"LMNN on ``make_classification({jobs['n']}, {jobs['d']})``, BLAS on "
              f"one thread, median of {jobs['repeats']} interleaved fits: ``n_jobs=1`` "
              f"{_seconds(one['wall_median'])} (CPU {_seconds(one['cpu_median'])}), "
              f"``n_jobs=2`` {_seconds(two['wall_median'])} (CPU "
              f"{_seconds(two['cpu_median'])}): a speed-up of {jobs['speedup']:.2f} on "
              f"{jobs['cpu_count']} cores, with a 1-minute load average of "
              + " then ".join(f"{x:.2f}" for x in jobs["load_average_1min"])
              + " around the measurement (a second thread only helps on an idle "
              "core)."),
    ]


def _limits_blocks(limit):
    from limits import biggest_gaps

    rates = limit["rates"]
    rows = []
    for r in limit["rows"]:
        if "error" in r:
            rows.append([r["learner"], r["loop"], "-", "error", "-", "-", "-"])
            continue
        rows.append([r["learner"], r["loop"], r["problem"], _seconds(r["seconds"]),
                     _fmt(r["gflops"], ".3g"), r["bound"], f"{100 * r['efficiency']:.0f}%"])
    gaps = biggest_gaps(limit["rows"])
    items = []
    for i, g in enumerate(gaps, 1):
        why = GAP_NOTES.get((g["learner"], g["loop"]), "")
        rate = (f"{g['gflops']:.3g} GFLOP/s" if math.isfinite(g["gflops"])
                else "its LAPACK reference")
        items.append(("p", f"{i}. {g['learner']}, {g['loop']} ({g['problem']}): "
                           f"{rate}, {100 * g['efficiency']:.0f}% of the limit; {why}"))
    return [
        ("h", "Distance to the limit"),
        ("p", "Measured in the same run, one thread: float64 GEMM "
              f"{rates['dgemm_gflops']:.1f} GFLOP/s, float32 GEMM "
              f"{rates['sgemm_gflops']:.1f} GFLOP/s (1000 x 1000), copy "
              f"{rates['copy_gbs']:.1f} GB/s (128 MiB arrays, bytes read plus "
              "written). Each inner loop's work is counted from its algorithm "
              "(ITML ``2 d^2`` flops per constraint visited plus ``2 d^2`` per "
              "update; MMC ``3 n d^2`` per gradient; diagonal MMC ``2 n d^2``; "
              "LMNN ``Z = X L^T``, the float32 impostor tiles at ``2 r`` flops "
              "per pair of points of different classes, two outer sums and the "
              "gradient; SGD ``4 B k d`` per batch). Efficiency is the roofline "
              "time (flops at the GEMM rate of their precision, or bytes at the "
              "copy rate, whichever is longer) over the measured time; the MMC "
              "projection is compared with LAPACK's ``eigh`` plus one GEMM "
              "instead."),
        ("table", ["learner", "inner loop", "problem", "time", "GFLOP/s", "bound",
                   "efficiency"], rows),
        ("p", "The three biggest gaps:"),
        *items,
    ]


def _scaling_blocks(series, images):
    rows = []
    for learner, axes in series.items():
        for _axis, res in axes.items():
            for lib, fits in res["fits"].items():
                pts = [p for p in res["points"] if p["library"] == lib]
                done = [p for p in pts if "error" not in p]
                span = (f"{done[0]['x']:g} to {done[-1]['x']:g}" if done else "-")
                rows.append([TITLES.get(learner, learner), res["label"], lib, span,
                             _fmt(fits["time"], ".2f"), _fmt(fits["memory"], ".2f")])
    blocks = [
        ("h", "Scaling"),
        ("p", "Fit time and peak memory (RSS above the start of the fit) against "
              "the size of the problem, on ``make_classification`` data (4 "
              "classes), log-log axes; the exponent is the slope of a "
              "least-squares line through the log-log points (memory: points "
              "of at least 0.5 MiB). An anchor whose fit passed 8 s is not run "
              "at the larger sizes. Pairs learners take 2,000 points in 16 "
              "dimensions (pairs axis) or 400 pairs (features axis); ITML runs "
              "exactly 20 sweeps; LMNN and SGD take 1,000 points in 20 "
              "dimensions on the other axes, SGD's constraints are its pairs per "
              "epoch and SCML's ``n x k_genuine x k_impostor`` triplets. "
              "metriclearn's small fits are dominated by fixed costs, which "
              "flattens its slopes at the small end."),
        ("table", ["learner", "axis", "library", "range", "time exponent",
                   "memory exponent"], rows),
    ]
    blocks += [("img", name) for name in images]
    return blocks


def _header_blocks(data):
    env = data["environment"]
    lines = header_lines(env)[1:]
    total = env.get("total_s", 0.0)
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in env.get("stages_s", {}).items())
    lines.append(f"- whole run {total / 60:.1f} min ({stages}); 1-minute load "
                 "average while waiting for a quiet machine: "
                 + ", ".join(f"{x:.2f}" for x in env.get("load_while_waiting", [])))
    return [("p", "Generated by ``python3 benchmarks/report_all.py``. The run:"),
            ("list", [line[2:] for line in lines])]


def blocks(data, images):
    env = data["environment"]
    main = [
        ("h", "Every learner against its anchors"),
        ("p", f"Median wall time of ``fit`` (metriclearn: {env['repeats']} fits after "
              f"a warm-up; anchors: {env['anchor_repeats']}, or 1 when the first took "
              "over a second), speed-up "
              "= anchor time / metriclearn time (wall; the CPU ratio beside it), "
              "3-NN test accuracy, Xing's clustering accuracy of k-means on the "
              "transformed test part, peak RSS above the start of the fit, and "
              "which solution reaches the better value of the learner's "
              "objective. ``synthetic`` is ``make_classification(5000, 50)``. "
              "SGD and SCML minimise different losses: compare their accuracies."),
        ("table", COMPARISON_HEADERS, _comparison_rows(data["cells"])),
    ]
    return (_header_blocks(data) + main + _limits_blocks(data["limits"])
            + _costs_blocks(data["costs"]) + _scaling_blocks(data["scaling"], images))


# -- writers ----------------------------------------------------------------


def _md_text(text):
    return text.replace("``", "`")


def _md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def markdown_report(data, pngs):
    lines = ["# metriclearn performance report", ""]
    for block in blocks(data, [p.name for p in pngs]):
        kind = block[0]
        if kind == "h":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [_md_text(block[1]), ""]
        elif kind == "list":
            lines += [f"- {_md_text(x)}" for x in block[1]] + [""]
        elif kind == "table":
            lines += _md_table(block[1], block[2]) + [""]
        elif kind == "img":
            lines += [f"![{block[1]}]({block[1]})", ""]
    return "\n".join(lines)


def _rst_text(text):
    """Markdown-ish text made safe for reStructuredText: ``code`` stays,
    stray markup characters outside it are escaped."""
    parts = text.split("``")
    for i in range(0, len(parts), 2):  # outside code
        parts[i] = (parts[i].replace("\\", "\\\\").replace("*", "\\*")
                    .replace("|", "\\|"))
        # a word ending in "_" would be a hyperlink reference
        parts[i] = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", parts[i])
    return "``".join(parts)


def _rst_table(headers, rows):
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [headers, *rows]:
        cells = [_rst_text(str(c)) or "-" for c in row]
        out.append(f"   * - {cells[0]}")
        out += [f"     - {c}" for c in cells[1:]]
    return out + [""]


def rst_report(data, images):
    lines = []
    for block in blocks(data, images):
        kind = block[0]
        if kind == "h":
            lines += [block[1], "-" * len(block[1]), ""]
        elif kind == "p":
            lines += [_rst_text(block[1]), ""]
        elif kind == "list":
            lines += [f"- {_rst_text(x)}" for x in block[1]] + [""]
        elif kind == "table":
            lines += _rst_table(block[1], block[2])
        elif kind == "img":
            lines += [f".. image:: _static/benchmarks/{block[1]}",
                      f"   :alt: scaling plot {block[1]}", ""]
    return "\n".join(lines)


def readme_summary(data):
    """README's table: each learner against metric-learn (and pylmnn, NCA)."""
    env = data["environment"]
    rows = []
    for cell in data["cells"]:
        libs = cell["libraries"]
        ours = libs[OURS]
        anchor = libs.get(ANCHOR, {})
        others = [f"{lib} {_time_or_error(libs[lib])} ({_ratio(libs[lib])})"
                  for lib in (PYLMNN, NCA) if lib in libs]
        rows.append([
            cell["learner"], cell["dataset"], _time_or_error(ours),
            ("SCML " if cell["learner"] == "sgd" else "") + _time_or_error(anchor),
            _ratio(anchor), _pair(ours.get("knn_accuracy"), anchor.get("knn_accuracy")),
            _pair(ours.get("clustering_accuracy"), anchor.get("clustering_accuracy")),
            _objective(cell, ANCHOR), "; ".join(others) or "-",
        ])
    load = env.get("load_average") or [float("nan")]
    gemm = data["limits"]["rates"]["dgemm_gflops"]
    lines = [
        f"Measured by `python3 benchmarks/report_all.py` on {env['cpu_count']} cores "
        f"({env['cpu']}, float64 GEMM {gemm:.0f} GFLOP/s on one thread), started "
        f"{env['started']} at a load average of {load[0]:.2f}; every library on one "
        f"thread; median fit times (metriclearn {env['repeats']} fits after a "
        f"warm-up, anchors {env['anchor_repeats']} or 1); speed-up = anchor time / "
        "metriclearn time. Accuracies are ours / "
        "anchor's on the test part: 3-NN, and Xing's clustering accuracy of "
        "k-means. The SGD rows compare `SGDMetricLearner_Supervised` with "
        "metric-learn's `SCML_Supervised`.",
        "",
        *_md_table(["learner", "data set", "metriclearn", "metric-learn", "speed-up",
                    "3-NN acc.", "clust. acc.", "better objective",
                    "pylmnn, scikit-learn NCA (speed-up)"], rows),
    ]
    return "\n".join(lines)


def replace_between(path, begin, end, text):
    """Replace what lies between the lines ``begin`` and ``end`` of ``path``."""
    content = path.read_text()
    start = content.index(begin) + len(begin)
    stop = content.index(end)
    path.write_text(content[:start] + "\n\n" + text.rstrip() + "\n\n" + content[stop:])
