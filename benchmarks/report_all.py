"""The whole performance report in one command.

Usage::

    python3 benchmarks/report_all.py            # full run, publishes (about 13 minutes)
    python3 benchmarks/report_all.py --quick    # smoke run, results/ only

Builds or reuses ``benchmarks/.venv-bench`` (as ``run.py`` does), re-executes
itself there, and runs, in one process and under one thread pin:

1. the machine's yardsticks and each learner's inner loop (``limits.py``);
2. every learner against its anchors on iris, wine, breast_cancer, digits
   and a synthetic set (``harness.py``): fit time, CPU time, peak memory,
   objective, 3-NN and clustering accuracy;
3. the costs around the fit (``costs.py``): import, first fit with a cold
   and a warm numba cache, LMNN's ``n_jobs``;
4. the scaling series and their plots (``scaling.py``).

It writes ``report.md``, ``report.json`` and the PNGs to
``benchmarks/results/report-<timestamp>/`` (git-ignored) and, unless
``--no-publish`` (or ``--quick`` without ``--publish``), the tables between
the markers of ``docs/benchmarks.rst`` and of README's benchmark section,
and the plots to ``docs/_static/benchmarks/``. Standard library only up to
the re-execution.
"""

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DOCS_PAGE = ROOT / "docs" / "benchmarks.rst"
DOCS_STATIC = ROOT / "docs" / "_static" / "benchmarks"
README = ROOT / "README.md"
RST_BEGIN, RST_END = ".. BEGIN GENERATED REPORT", ".. END GENERATED REPORT"
MD_BEGIN, MD_END = "<!-- BEGIN BENCHMARK SUMMARY -->", "<!-- END BENCHMARK SUMMARY -->"
# Large arrays are mapped and unmapped by malloc rather than recycled inside
# the heap, so each fit's peak RSS is its own (see harness.peak_rss_above).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python3 benchmarks/report_all.py",
        description="Every comparison, the costs around the fit, the distance to "
                    "the machine's limits and the scaling series, in one run.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: iris only, one fit each, short series "
                             "(about 3 minutes); does not publish unless --publish")
    parser.add_argument("--publish", action="store_true",
                        help="write the docs page, README table and docs PNGs "
                             "(the default without --quick)")
    parser.add_argument("--no-publish", action="store_true",
                        help="write benchmarks/results/ only")
    parser.add_argument("--max-load", type=float, default=1.2,
                        help="wait while the 1-minute load average is above this "
                             "(default 1.2)")
    parser.add_argument("--load-waits", type=int, default=6,
                        help="how many 30 s waits for a quiet machine before "
                             "starting anyway (default 6)")
    parser.add_argument("--out-dir", default=None,
                        help="results folder (default benchmarks/results/report-<timestamp>)")
    parser.add_argument("--rebuild-venv", action="store_true",
                        help="reinstall the packages of benchmarks/.venv-bench first")
    args = parser.parse_args(argv)
    args.publish = not args.no_publish and (args.publish or not args.quick)
    return args


def wait_for_quiet(max_load, waits):
    """Wait (30 s at a time, ``waits`` times at most) for the 1-minute load
    average to drop to ``max_load``; return the load averages seen."""
    seen = [os.getloadavg()[0]]
    for _ in range(waits):
        if seen[-1] <= max_load:
            break
        print(f"[report] load average {seen[-1]:.2f} > {max_load}: waiting 30 s",
              flush=True)
        time.sleep(30)
        seen.append(os.getloadavg()[0])
    return seen


def _main_args(quick):
    """The flags of the main comparison (the namespace ``harness`` expects)."""
    from cli import DATASETS
    from registry import LEARNERS

    return argparse.Namespace(
        datasets=["iris"] if quick else list(DATASETS),
        learners=list(LEARNERS),
        repeats=1 if quick else 5,
        anchor_repeats=1 if quick else 3,
        threads=1,
        native_blas=False,
        cold_numba=False,
        memory_budget=3.0,
        slow_fit=1.0,
        fit_timeout=30.0 if quick else 150.0,
        quick=quick,
        out=None,
    )


def run(args):
    import json
    import shutil
    from datetime import datetime

    import costs
    import envinfo
    import limits
    import publish
    import scaling
    from harness import pinned_threads, run_cells

    started = time.perf_counter()
    loads_waiting = wait_for_quiet(args.max_load, args.load_waits)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out_dir) if args.out_dir else HERE / "results" / f"report-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    main_args = _main_args(args.quick)
    env = envinfo.collect(main_args)
    env["load_while_waiting"] = loads_waiting
    env["malloc_env"] = {k: os.environ.get(k) for k in MALLOC_ENV}
    stages = {}

    t0 = time.perf_counter()
    with pinned_threads(1):
        limit = limits.measure(quick=args.quick)
    stages["limits"] = time.perf_counter() - t0
    print(f"[report] machine: {json.dumps(limit['rates'])}", flush=True)

    t0 = time.perf_counter()
    cells = run_cells(main_args, env)
    stages["comparison"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cost = costs.measure(quick=args.quick)
    stages["costs"] = time.perf_counter() - t0
    print(f"[report] costs: {json.dumps(cost)[:400]}", flush=True)

    t0 = time.perf_counter()
    with pinned_threads(1):
        series = scaling.run(quick=args.quick)
    pngs = scaling.plot(series, out_dir)
    stages["scaling"] = time.perf_counter() - t0

    env["load_average_end"] = envinfo.load_average()
    env["stages_s"] = stages
    env["total_s"] = time.perf_counter() - started
    data = {"environment": env, "cells": cells, "limits": limit, "costs": cost,
            "scaling": series, "quick": args.quick}
    (out_dir / "report.json").write_text(json.dumps(data, indent=1, default=str))
    (out_dir / "report.md").write_text(publish.markdown_report(data, pngs))
    print(f"[report] wrote {out_dir / 'report.md'} and {out_dir / 'report.json'}")
    if args.publish:
        DOCS_STATIC.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copy2(png, DOCS_STATIC / png.name)
        publish.replace_between(DOCS_PAGE, RST_BEGIN, RST_END,
                                publish.rst_report(data, [p.name for p in pngs]))
        publish.replace_between(README, MD_BEGIN, MD_END, publish.readme_summary(data))
        print(f"[report] published to {DOCS_PAGE}, {README} and {DOCS_STATIC}")
    print(f"[report] total {env['total_s'] / 60:.1f} min "
          + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()))
    ours = [c["libraries"]["metriclearn"] for c in cells]
    return int(any(r.get("error") or r.get("score_error") for r in ours))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    from run import run_in_bench_venv

    run_in_bench_venv(__file__, argv, rebuild=args.rebuild_venv, env=MALLOC_ENV)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
