"""Runs a suite inside the bench environment: context, pin, the suite, then the report writer."""

import shutil
import time
from pathlib import Path

from . import cli, machine, writer
from .env import COLD_PREFIX
from .learners import OURS
from .threads import blas_pools, pinned

TITLES = {"compare": "metriclearn against its anchors", "limits": "distance to the limit",
          "costs": "costs around the fit", "scaling": "scaling series",
          "sgd": "SGD throughput and objectives", "itml": "ITML's sweep",
          "parity": "LSML, SDML and SCML against metric-learn",
          "report": "metriclearn performance report"}


def _compare(args, ctx, folder, log):
    from .suites import compare

    with pinned(args.threads):
        results = compare.run(args, ctx, log)
    return results, compare.blocks(results), []


def _limits(args, ctx, folder, log):
    from .suites import limits

    with pinned(args.threads):
        results = limits.run(args, ctx, log)
    return results, limits.blocks(results), []


def _costs(args, ctx, folder, log):
    from .suites import costs

    results = costs.run(args, ctx, log)  # pins its n_jobs fits itself
    return results, costs.blocks(results), []


def _scaling(args, ctx, folder, log):
    from .suites import plots, scaling

    with pinned(args.threads):
        results = scaling.run(args, ctx, log)
    pngs = plots.scaling(results["series"], folder)
    return results, scaling.blocks(results, [p.name for p in pngs]), pngs


def _sgd(args, ctx, folder, log):
    from .suites import sgd

    with pinned(args.threads):
        results = sgd.run(args, ctx, log)
    return results, sgd.blocks(results), []


def _itml(args, ctx, folder, log, series=None):
    from .suites import itml, plots

    with pinned(args.threads):
        results = itml.run(args, ctx, log, series=series)
    pngs = plots.scaling(results["series"], folder) if "series" in results else []
    return results, itml.blocks(results), pngs


def _parity(args, ctx, folder, log):
    from .suites import parity

    with pinned(args.threads):
        results = parity.run(args, ctx, log)
    return results, parity.blocks(results), []


def _report(args, ctx, folder, log):
    """Every suite in one process; the ITML rates come from the scaling series."""
    results, blocks, pngs = {}, [], []
    for name in ("compare", "limits", "costs", "scaling", "sgd", "itml"):
        t0 = time.perf_counter()
        sub = cli.suite_args(name, args)
        if name == "itml":
            out = _itml(sub, ctx, folder, log, series=results["scaling"]["series"])
        else:
            out = RUNNERS[name](sub, ctx, folder, log)
        results[name], suite_blocks, suite_pngs = out
        blocks += suite_blocks
        pngs += suite_pngs
        ctx.setdefault("stages_s", {})[name] = time.perf_counter() - t0
    return results, blocks, pngs


RUNNERS = {"compare": _compare, "limits": _limits, "costs": _costs, "scaling": _scaling,
           "sgd": _sgd, "itml": _itml, "parity": _parity, "report": _report}


def _failed(suite, results):
    """Whether a metriclearn fit of the comparison failed (the exit code)."""
    compare = results if suite == "compare" else results.get("compare", {})
    return any(c["libraries"][OURS].get("error") or c["libraries"][OURS].get("score_error")
               for c in compare.get("cells", []))


def run(args, argv, log=print):
    """Run ``args.suite`` and write its report; returns the exit code."""
    ctx = machine.context(args.suite, argv)
    ctx["load_while_waiting"] = machine.wait_for_quiet(args.max_load, args.load_waits, log)
    ctx["threads"] = args.threads
    folder = writer.out_dir(args.suite, args.out_dir)
    with pinned(args.threads):
        ctx["blas_pinned"] = blas_pools()
        ctx["rates"] = machine.rates()
    log("\n".join(f"- {line}" for line in writer.header_lines(ctx)))
    results, blocks, pngs = RUNNERS[args.suite](args, ctx, folder, log)
    ctx["load_average_end"] = machine.load_average()
    blocks = writer.header_blocks(ctx) + blocks
    paths = writer.write(folder, TITLES[args.suite], blocks,
                         {"context": ctx, "results": results, "quick": args.quick})
    log(f"[bench] wrote {', '.join(str(p) for p in paths)}")
    if args.suite == "report" and args.publish:
        from .suites.compare import readme_summary

        done = writer.publish(blocks, readme_summary(results["compare"], ctx), pngs)
        log(f"[bench] published {', '.join(str(p) for p in done)}")
    cache = Path(ctx["numba_cache"]["dir"])
    if cache.name.startswith(COLD_PREFIX):  # --cold-numba's throw-away cache
        shutil.rmtree(cache, ignore_errors=True)
    return int(_failed(args.suite, results))

