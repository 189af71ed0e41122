"""Command-line flags of the benchmark runner (standard library only, so that
``run.py --help`` works before the benchmark environment exists)."""

import argparse

from registry import LEARNERS

DATASETS = ("iris", "wine", "breast_cancer", "digits", "synthetic")


def build_parser():
    """The argument parser of ``benchmarks/run.py``."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=(
            "Time metriclearn against metric-learn 0.7.0 on the same data and "
            "constraints, in one run, inside benchmarks/.venv-bench."
        ),
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[:4]),
        help=(
            "data sets to run (default: the four scikit-learn ones; 'synthetic' "
            "is make_classification(5000, 50, random_state=0))"
        ),
    )
    parser.add_argument(
        "--learners", nargs="+", choices=LEARNERS, default=list(LEARNERS),
        help="learners to run (default: all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="timed fits of metriclearn per cell (default: 3)",
    )
    parser.add_argument(
        "--anchor-repeats", type=int, default=None,
        help="timed fits of each anchor library per cell (default: --repeats)",
    )
    parser.add_argument(
        "--threads", type=int, default=1,
        help="BLAS / OpenMP / numba threads for every library (default: 1)",
    )
    parser.add_argument(
        "--native-blas", action="store_true",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the benchmark",
    )
    parser.add_argument(
        "--cold-numba", action="store_true",
        help=(
            "give numba an empty cache directory, so metriclearn's first call "
            "compiles its kernels instead of loading them"
        ),
    )
    parser.add_argument(
        "--memory-budget", type=float, default=30.0,
        help=(
            "seconds: skip the (untimed) tracemalloc fit of a library whose "
            "median timed fit took longer; 0 disables memory (default: 30)"
        ),
    )
    parser.add_argument(
        "--fit-timeout", type=float, default=None,
        help="seconds: stop a fit that runs longer and report a time-out (default: none)",
    )
    parser.add_argument(
        "--slow-fit", type=float, default=None,
        help=(
            "seconds: a library whose first timed fit took longer is not "
            "fitted again in that cell (default: every repeat)"
        ),
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="smoke run: iris only, 1 repeat for every library",
    )
    parser.add_argument(
        "--out", default=None,
        help=(
            "output path stem; writes STEM.json and STEM.md "
            "(default: benchmarks/results/bench-<timestamp>)"
        ),
    )
    parser.add_argument(
        "--rebuild-venv", action="store_true",
        help="reinstall the packages of benchmarks/.venv-bench first",
    )
    return parser


def parse_args(argv):
    """Parse and normalise the flags (``--quick`` overrides the sizes)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.anchor_repeats is None:
        args.anchor_repeats = args.repeats
    if args.quick:
        args.datasets = ["iris"]
        args.repeats = args.anchor_repeats = 1
    if args.repeats < 1 or args.anchor_repeats < 1 or args.threads < 1:
        parser.error("--repeats, --anchor-repeats and --threads must be >= 1")
    return args
