"""ITML's Bregman sweep: how time grows with the number of constraints and with d.

Usage: ``python benchmarks/itml_scaling.py [--sweeps N] [--out STEM]``

Runs in the benchmark environment (``benchmarks/.venv-bench``, created by
``run.py``; this script re-executes itself there the same way). On synthetic
data (``make_classification``), both libraries fit the pairs learner ``ITML``
on the same pairs with the same bounds for exactly ``--sweeps`` sweeps
(``tol=0``), with BLAS and numba pinned to one thread. Reported: median wall
time of metriclearn (3 fits after a warm-up) and of metric-learn (1 fit),
their ratio, and the constraint updates per second each achieves
(constraints x sweeps / time).
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

N_CONSTRAINTS = (250, 1000, 4000, 16000)  # pairs of each kind, at d = 32
DIMENSIONS = (8, 16, 32, 64, 128)  # at 1000 pairs of each kind


def _problem(n_constraints, d, seed=0):
    import numpy as np
    from sklearn.datasets import make_classification

    from metriclearn import Constraints
    from metriclearn._itml import itml_default_bounds

    X, y = make_classification(n_samples=2000, n_features=d, n_informative=max(2, d // 2),
                               n_redundant=0, n_classes=4, random_state=seed)
    idx, labels = Constraints(y, unlabeled=None).pairs(n_constraints, random_state=seed)
    pairs = np.ascontiguousarray(X[idx])
    bounds = itml_default_bounds(X, np.eye(d), random_state=seed)
    return pairs, labels, bounds


def _time_fit(cls, pairs, y, bounds, sweeps, repeats):
    times = []
    for _ in range(repeats):
        est = cls(max_iter=sweeps, tol=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            est.fit(pairs, y, bounds)
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def run(sweeps, out):
    import metric_learn
    from harness import pinned_threads

    import metriclearn

    rows = []
    grid = [(m, 32) for m in N_CONSTRAINTS] + [(1000, d) for d in DIMENSIONS if d != 32]
    with pinned_threads(1):
        for m, d in grid:
            pairs, y, bounds = _problem(m, d)
            _time_fit(metriclearn.ITML, pairs, y, bounds, 1, 1)  # compile / load cache
            ours = _time_fit(metriclearn.ITML, pairs, y, bounds, sweeps, 3)
            anchor = _time_fit(metric_learn.ITML, pairs, y, bounds, sweeps, 1)
            n_updates = pairs.shape[0] * sweeps
            row = {
                "n_pairs": int(pairs.shape[0]), "d": d, "sweeps": sweeps,
                "metriclearn_s": ours, "metric_learn_s": anchor, "ratio": anchor / ours,
                "metriclearn_updates_per_s": n_updates / ours,
                "metric_learn_updates_per_s": n_updates / anchor,
            }
            rows.append(row)
            print(f"[itml-scaling] pairs={row['n_pairs']:6d} d={d:4d}  ours {ours:.4f} s  "
                  f"metric-learn {anchor:.3f} s  ratio {row['ratio']:.1f}", flush=True)
    lines = [
        "# ITML sweep scaling: metriclearn vs metric-learn 0.7.0",
        "",
        f"{sweeps} sweeps (tol=0), same pairs and bounds, 1 thread; median of 3 fits "
        "(metriclearn, after a warm-up) and 1 fit (metric-learn).",
        "",
        "| pairs | d | metriclearn (s) | metric-learn (s) | ratio | updates/s ours | "
        "updates/s metric-learn |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_pairs']} | {r['d']} | {r['metriclearn_s']:.4f} | "
            f"{r['metric_learn_s']:.3f} | {r['ratio']:.1f} | "
            f"{r['metriclearn_updates_per_s']:.3g} | {r['metric_learn_updates_per_s']:.3g} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    print(f"[itml-scaling] wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "results" / "itml-scaling"))
    args = parser.parse_args(argv)
    from run import run_in_bench_venv

    run_in_bench_venv(__file__, sys.argv[1:])
    run(args.sweeps, args.out)


if __name__ == "__main__":
    main()
