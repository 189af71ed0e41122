"""The benchmark's outputs: header, progress lines, a Markdown table and JSON."""

import json
import math
from datetime import datetime
from pathlib import Path

from registry import OURS

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(value, spec=".4g", missing="-"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def _pools(pools):
    return "; ".join(
        f"{p['internal_api']} {p['version']} ({p['user_api']}, "
        f"architecture={p['architecture']}, num_threads={p['num_threads']}, "
        f"{p['library']})"
        for p in pools
    ) or "none found"


def _load(values):
    return "/".join(f"{x:.2f}" for x in values) if values else "-"


def header_lines(env):
    """The run's circumstances, one fact per line."""
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    blas_env = ", ".join(
        f"{k}={v if v is not None else '(unset)'}" for k, v in env["blas_env"].items()
    )
    cache = env["numba_cache"]
    return [
        "# metriclearn vs metric-learn 0.7.0",
        f"- started {env['started']}: `{env['command']}`",
        f"- Python {env['python']} on {env['platform']}; CPU {env['cpu']}, "
        f"{env['cpu_count']} cores, load average {_load(env['load_average'])} at "
        f"start, {_load(env.get('load_average_end'))} at end",
        f"- {versions}",
        f"- threads pinned to {env['threads']} for every library "
        "(threadpoolctl for BLAS/OpenMP, numba.set_num_threads)",
        f"- BLAS (pinned): {_pools(env.get('blas_pinned', []))}",
        f"- BLAS (default): {_pools(env['blas_default'])}",
        f"- {blas_env}" + (" (unset by --native-blas)" if env["native_blas"] else ""),
        f"- GEMM rate under the pin: {_fmt(env.get('gemm_gflops'), '.1f')} GFLOP/s "
        "(1000 x 1000 float64, best of 3)",
        f"- numba cache {cache['state']} at start ({cache['index_files']} index "
        f"files in {cache['dir']})",
        f"- features {env['features']}; stratified 70/30 train/test split, seed 0; "
        "constraints drawn once per data set from the training labels "
        "(20 * n_classes**2 similar and as many dissimilar pairs, "
        "metriclearn.Constraints, seed 0), the same pairs for every library",
        f"- timed fits per cell: metriclearn {env['repeats']}, anchors "
        f"{env['anchor_repeats']}, interleaved; metriclearn warmed up by one "
        "untimed fit per cell",
    ]


def cell_text(cell):
    """Progress lines printed when a cell is done."""
    lines = []
    for lib, res in cell["libraries"].items():
        if res.get("error"):
            last = res["error"].strip().splitlines()[-1]
            lines.append(f"    {lib:13s} ERROR {last}")
            continue
        ratio = "" if lib == OURS else f"  ratio {_fmt(res.get('ratio_wall'), '.3g')}x"
        lines.append(
            f"    {lib:13s} wall {_fmt(res['wall_median'])} s  "
            f"cpu {_fmt(res['cpu_median'])} s{ratio}  "
            f"objective {_fmt(res.get('objective'), '.8g')}  "
            f"3-NN {_fmt(res.get('knn_accuracy'), '.3f')}  "
            f"clust. {_fmt(res.get('clustering_accuracy'), '.3f')}  "
            f"rank {_fmt(res.get('rank'), 'd')}  "
            f"n_iter {_fmt(res.get('n_iter'), 'd')}"
        )
    return "\n".join(lines)


def _better(cell, lib):
    """Which library reached the better objective, and by how much (absolute,
    and relative to the larger magnitude); equal within 1e-9 relative."""
    ours = cell["libraries"][OURS].get("objective")
    theirs = cell["libraries"][lib].get("objective")
    if ours is None or theirs is None or math.isnan(ours) or math.isnan(theirs):
        return "-"
    if abs(ours - theirs) <= 1e-9 * max(abs(ours), abs(theirs), 1e-300):
        return "equal"
    ours_wins = (ours > theirs) == cell["higher_is_better"]
    gap = abs(ours - theirs)
    rel = gap / max(abs(ours), abs(theirs))
    return f"{OURS if ours_wins else lib} by {gap:.3g} ({rel:.1e} rel.)"


COLUMNS = (
    "data set", "learner", "n x d", "pairs", "library", "fits",
    "median wall (s)", "median CPU (s)", "first call (s)", "wall ratio",
    "CPU ratio", "objective", "better objective", "3-NN acc", "Euclid. 3-NN",
    "clust. acc", "Euclid. clust.", "rank of M", "n_iter", "converged", "peak MiB",
    "peak RSS MiB",
)


def _row(cell, lib, res):
    first = lib == OURS
    direction = "max" if cell["higher_is_better"] else "min"
    failed = "ERROR" if res.get("error") else "-"
    return [
        cell["dataset"] if first else "",
        f"{cell['learner']} ({direction})" if first else "",
        f"{cell['n_train']} x {cell['n_features']}" if first else "",
        cell["constraints"] if first else "",
        lib,
        str(res["n_fits"]),
        _fmt(res["wall_median"], missing=failed),
        _fmt(res["cpu_median"], missing=failed),
        _fmt(res.get("first_call")),
        "" if first else _fmt(res.get("ratio_wall"), ".3g"),
        "" if first else _fmt(res.get("ratio_cpu"), ".3g"),
        _fmt(res.get("objective"), ".8g"),
        "" if first else _better(cell, lib),
        _fmt(res.get("knn_accuracy"), ".3f"),
        _fmt(cell["euclidean_knn_accuracy"], ".3f") if first else "",
        _fmt(res.get("clustering_accuracy"), ".3f"),
        _fmt(cell.get("euclidean_clustering_accuracy"), ".3f") if first else "",
        _fmt(res.get("rank"), "d"),
        _fmt(res.get("n_iter"), "d"),
        _fmt(res.get("converged"), ""),
        _fmt(res.get("peak_mib"), ".2f"),
        _fmt(res.get("peak_rss_mib"), ".1f"),
    ]


def _notes(cells):
    lines = []
    for cell in cells:
        for lib, res in cell["libraries"].items():
            where = f"{cell['dataset']} / {cell['learner']} / {lib}"
            for w in res["warnings"]:
                lines.append(f"- {where}: {w}")
            spread = res.get("objective_spread")
            if spread:
                lines.append(f"- {where}: objective varies by {spread:.3g} across fits")
            for key in ("error", "score_error"):
                if res.get(key):
                    lines.append(f"- {where}: {key}\n\n```\n{res[key].rstrip()}\n```")
    return lines


def markdown(env, cells):
    """The whole report as Markdown: header, results table, warnings and errors."""
    table = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for cell in cells:
        for lib, res in cell["libraries"].items():
            table.append("| " + " | ".join(_row(cell, lib, res)) + " |")
    notes = _notes(cells) or ["- none"]
    legend = (
        "Ratios are anchor / metriclearn (above 1: metriclearn is faster). "
        "Objectives: mmc is sum_D ||d||_M / sqrt(sum_S ||d||_M^2) (max, "
        "scale-free); mmc_diag is h(a) = sum_S ||d||_a^2 - c log sum_D ||d||_a "
        "(min); itml is D_ld(M, I) + gamma D_ld(xi, xi0) at the best slacks for "
        "M (min); lmnn is LMNN's hinge loss (metriclearn's default and "
        "metric-learn's) at L on the training data (min); sgd has no "
        "objective shared with SCML ('-'). Clust. acc is Xing et al.'s pairwise "
        "clustering accuracy of KMeans (k = number of classes) on the "
        "transformed test part. 'first "
        "call' is metriclearn's untimed warm-up fit (numba "
        "compilation or cache loading on a process's first data set). Peak MiB "
        "is the tracemalloc peak of one extra untimed fit (NumPy and Python "
        "allocations; not numba-internal or BLAS buffers); '-' when the "
        "library's median fit exceeded the memory budget. Peak RSS MiB is the "
        "median over the timed fits of the peak resident set size above the "
        "RSS at the start of the fit (every allocation, numba's and BLAS's "
        "included)."
    )
    return "\n".join([
        *header_lines(env), "", *table, "", legend, "",
        "## Warnings, errors", "", *notes, "",
    ])


def write(env, cells, out=None):
    """Write ``STEM.json`` and ``STEM.md``; return both paths.

    Parameters
    ----------
    env : dict
        The run's circumstances (``envinfo.collect``).
    cells : list of dict
        One record per (data set, learner).
    out : str or None, default=None
        Output path stem; ``None`` is ``benchmarks/results/bench-<timestamp>``.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        stem = RESULTS / f"bench-{stamp}"
    else:
        stem = Path(out)
        stem = stem.with_suffix("") if stem.suffix in (".json", ".md") else stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(
        json.dumps({"environment": env, "cells": cells}, indent=2, default=str)
    )
    md_path.write_text(markdown(env, cells))
    return json_path, md_path
