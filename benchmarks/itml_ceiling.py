"""ITML on digits: what a sweep costs, and the least one pass over ``M`` can cost.

Usage: ``python benchmarks/itml_ceiling.py [--settle N] [--sweeps N] [--anchor-sweeps N]``

Runs in the benchmark environment (``benchmarks/.venv-bench``; this script
re-executes itself there, as ``run.py`` does), with BLAS and numba on one
thread, on the report's digits constraints (``ITML_Supervised``'s 2000
similar and 2000 dissimilar pairs of the training part, the same bounds):

1. metric-learn 0.7.0's ``ITML``: seconds per sweep, from a fit of
   ``--anchor-sweeps`` sweeps (``tol=0``).
2. metriclearn's sweep (``bregman_sweep``): ``--settle`` sweeps from the
   identity bring it to the state of a long fit, then the median time of
   ``--sweeps`` more, and the share of visits whose projection changed ``M``.
3. The least a visit can cost when it reads all of ``M``: the median time of a
   read pass over the ``d x d`` matrix (every element loaded once and added
   up: a visit that changes nothing needs at least this) and of a
   read-write pass (every element loaded, changed and stored: a visit that
   changes ``M`` needs at least this), compiled like the kernel.

Printed: metriclearn's and metric-learn's time per sweep and their ratio, and
the floor per sweep (visits that changed nothing x read pass + visits that
changed ``M`` x read-write pass) with the ratio it would give.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _passes():
    """The read and read-write passes, compiled once."""
    from numba import njit

    fastmath = {"reassoc", "contract", "nsz"}

    @njit(fastmath=fastmath)
    def read_pass(M, repeats):
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

    @njit(fastmath=fastmath)
    def read_write_pass(M, repeats):
        d = M.shape[0]
        for _ in range(repeats):
            for j in range(d):
                row = M[j]
                for i in range(d):
                    row[i] = row[i] * 1.0000001 + 1e-300
        return M[0, 0]

    return read_pass, read_write_pass


def _median_seconds(fn, args, repeats, runs=7):
    fn(*args, 10)  # compile
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(*args, repeats)
        times.append((time.perf_counter() - start) / repeats)
    times.sort()
    return times[len(times) // 2]


def _digits():
    """The report's digits constraints, and the sweep's inputs made from them
    exactly as ``ITML.fit`` makes them."""
    import data

    from metriclearn._itml import _sweep_constraints

    c = data.supervised_pairs_bounds(data.load("digits"))
    return (c, *_sweep_constraints(c.pairs, c.y, c.bounds))


def run(settle, sweeps, anchor_sweeps):
    import metric_learn
    import numpy as np
    from harness import pinned_threads

    from metriclearn._kernels.itml import bregman_sweep

    c, V, delta, xi0 = _digits()
    m, d = V.shape
    with pinned_threads(1):
        anchor = metric_learn.ITML(gamma=1.0, max_iter=anchor_sweeps, tol=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            anchor.fit(c.pairs, c.y, bounds=c.bounds)
            anchor_sweep = (time.perf_counter() - start) / anchor_sweeps

        M, lam, xi = np.eye(d), np.zeros(m), xi0.copy()
        for _ in range(settle):
            bregman_sweep(M, V, delta, lam, xi, 1.0)
        times, updates = [], 0
        for _ in range(sweeps):
            start = time.perf_counter()
            updates += bregman_sweep(M, V, delta, lam, xi, 1.0)
            times.append(time.perf_counter() - start)
        times.sort()
        ours = times[len(times) // 2]
        changed = updates / (sweeps * m)

        read_pass, read_write_pass = _passes()
        A = np.eye(d)
        t_read = _median_seconds(read_pass, (A,), 100_000)
        t_rw = _median_seconds(read_write_pass, (A,), 100_000)
    floor = m * ((1.0 - changed) * t_read + changed * t_rw)

    lines = [
        "# ITML on digits: time per sweep against the least a pass over M costs",
        "",
        f"{m} constraints, d = {d}; one thread. metriclearn after {settle} sweeps "
        f"from the identity, median of {sweeps}; metric-learn 0.7.0 over a fit of "
        f"{anchor_sweeps} sweeps.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| metric-learn, per sweep | {anchor_sweep * 1e3:.2f} ms |",
        f"| metriclearn, per sweep | {ours * 1e3:.3f} ms |",
        f"| speed-up | {anchor_sweep / ours:.1f}x |",
        f"| visits whose projection changed M | {100 * changed:.1f} % |",
        f"| read pass over M ({d} x {d}) | {t_read * 1e6:.3f} us |",
        f"| read-write pass over M | {t_rw * 1e6:.3f} us |",
        f"| floor per sweep (passes only, nothing else) | {floor * 1e3:.3f} ms |",
        f"| speed-up at the floor | {anchor_sweep / floor:.1f}x |",
        f"| metriclearn's time over the floor | {ours / floor:.2f} |",
        f"| per sweep for 50x | {anchor_sweep / 50 * 1e3:.3f} ms |",
    ]
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=int, default=300)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--anchor-sweeps", type=int, default=50)
    args = parser.parse_args(argv)
    from run import run_in_bench_venv

    run_in_bench_venv(__file__, sys.argv[1:])
    run(args.settle, args.sweeps, args.anchor_sweeps)


if __name__ == "__main__":
    main()
