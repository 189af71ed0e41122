"""The command line: a sub-command per suite, its flags and its ``--quick`` sizes (stdlib only)."""

import argparse

from .learners import DEFAULT_LEARNERS, LEARNERS

DATASETS = ("iris", "wine", "breast_cancer", "digits", "synthetic", "synthetic60k")
# the data sets of a comparison unless --datasets names others
DEFAULT_DATASETS = ("iris", "wine", "breast_cancer", "digits", "synthetic")
# the SGD table also runs on 60,000 training points of 10 classes
SGD_DATASETS = (*DATASETS, "large")
SUITES = {
    "compare": "every learner against metric-learn 0.7.0, pylmnn and scikit-learn's NCA "
               "on the same data and constraints",
    "limits": "each learner's inner loop against the machine's GEMM and copy rates",
    "costs": "import time, numba's first call with a cold and a warm cache, LMNN's n_jobs",
    "scaling": "fit time and peak RSS against n_samples, n_features and constraints, "
               "with exponents and plots",
    "sgd": "SGD kernel throughput, 10 million pairs, Dask, and the objectives side by side",
    "itml": "ITML's solver against metric-learn's sweeps (time to objective), both "
            "libraries' defaults, and the sweep's rate and ceiling",
    "parity": "LSML, SDML and SCML (the _Supervised twins) against metric-learn 0.7.0: "
              "fit time and 3-NN accuracy over splits",
    "report": "every suite, then the docs page, README's table and the plots",
}


def _common(parser):
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS, OpenMP and numba threads for every library (default 1)")
    parser.add_argument("--max-load", type=float, default=1.2,
                        help="wait while the 1-minute load average is above this (1.2)")
    parser.add_argument("--load-waits", type=int, default=6,
                        help="30 s waits for a quiet machine before starting anyway (6)")
    parser.add_argument("--out-dir", default=None,
                        help="results folder (default benchmarks/results/<suite>-<time>)")
    parser.add_argument("--rebuild-venv", action="store_true",
                        help="reinstall the packages of benchmarks/.venv-bench first")
    parser.add_argument("--native-blas", action="store_true",
                        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE")
    parser.add_argument("--cold-numba", action="store_true",
                        help="start with an empty numba cache (the first call compiles)")


def _compare(p):
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DEFAULT_DATASETS))
    p.add_argument("--learners", nargs="+", choices=list(LEARNERS),
                   default=list(DEFAULT_LEARNERS))
    p.add_argument("--repeats", type=int, default=5, help="metriclearn fits per cell (5)")
    p.add_argument("--anchor-repeats", type=int, default=3, help="anchor fits per cell (3)")
    p.add_argument("--slow-fit", type=float, default=1.0,
                   help="fit a library once when its first fit took longer (s, 1)")
    p.add_argument("--fit-timeout", type=float, default=150.0, help="stop a fit (s, 150)")
    p.add_argument("--dense-budget", type=float, default=4.0,
                   help="skip an anchor whose n x n matrices need more GiB (4)")


def _scaling(p, learners=True):
    if learners:
        p.add_argument("--learners", nargs="+", choices=list(LEARNERS), default=list(LEARNERS))
    p.add_argument("--repeats", type=int, default=3,
                   help="fits per library and point, 1 when a fit takes over 1 s (3)")
    p.add_argument("--stop-after", type=float, default=8.0,
                   help="drop an anchor from an axis after a fit this long (s, 8)")
    p.add_argument("--fit-timeout", type=float, default=40.0, help="stop a fit (s, 40)")


def _costs(p):
    p.add_argument("--import-repeats", type=int, default=7,
                   help="fresh interpreters per import (7)")
    p.add_argument("--lmnn-n", type=int, default=10000, help="points of LMNN's n_jobs fit")
    p.add_argument("--repeats", type=int, default=3, help="interleaved fits per n_jobs (3)")


def _sgd(p):
    p.add_argument("--repeats", type=int, default=5, help="kernel epochs per batch size (5)")
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--pairs", type=int, default=1_000_000)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--big-points", type=int, default=1_000_000)
    p.add_argument("--big-pairs", type=int, default=10_000_000)
    p.add_argument("--local-steps", type=int, default=50, help="Dask: steps per round")
    p.add_argument("--no-dask", action="store_true", help="skip the Dask fits")
    p.add_argument("--quality-datasets", nargs="+", choices=SGD_DATASETS,
                   default=["wine", "digits"], help="data sets of the objectives table")
    p.add_argument("--quality-repeats", type=int, default=3,
                   help="timed fits per learner in the objectives table (3)")


ITML_PARTS = ("solver", "defaults", "knn", "rates", "ceiling")


def _itml(p):
    p.add_argument("--parts", nargs="+", choices=ITML_PARTS,
                   default=["solver", "defaults", "rates", "ceiling"],
                   help="what to measure (all but knn)")
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--anchor-repeats", type=int, default=3,
                   help="metric-learn fits per data set (3; 1 when a fit takes over 1 s)")
    p.add_argument("--knn-splits", type=int, default=0,
                   help="splits of the k-NN table (0: no table; the user guide's has 10)")
    p.add_argument("--settle", type=int, default=300, help="sweeps before timing (300)")
    p.add_argument("--sweeps", type=int, default=100, help="timed sweeps (100)")
    p.add_argument("--anchor-sweeps", type=int, default=50, help="metric-learn sweeps (50)")
    _scaling(p, learners=False)
    # metric-learn's ITML_Supervised takes 35-45 s on digits
    p.set_defaults(fit_timeout=150.0)


def _report(p):
    p.add_argument("--publish", action="store_true",
                   help="publish after --quick too (the default without it)")
    p.add_argument("--no-publish", action="store_true",
                   help="write benchmarks/results/ only")


def _parity(p):
    from .suites.parity import DATASETS as PARITY_DATASETS
    from .suites.parity import LEARNERS as PARITY_LEARNERS

    p.add_argument("--datasets", nargs="+", choices=PARITY_DATASETS,
                   default=list(PARITY_DATASETS))
    p.add_argument("--learners", nargs="+", choices=PARITY_LEARNERS,
                   default=list(PARITY_LEARNERS))
    p.add_argument("--repeats", type=int, default=5, help="metriclearn fits per cell (5)")
    p.add_argument("--anchor-repeats", type=int, default=3, help="anchor fits per cell (3)")
    p.add_argument("--splits", type=int, default=20, help="splits of the mean accuracy (20)")
    p.add_argument("--steady-rounds", type=int, default=3,
                   help="rounds of fits back to back per library (3)")
    p.add_argument("--slow-fit", type=float, default=1.0,
                   help="fit a library once when its first fit took longer (s, 1)")
    p.add_argument("--fit-timeout", type=float, default=150.0, help="stop a fit (s, 150)")


FLAGS = {"parity": _parity, "compare": _compare, "limits": lambda p: None, "costs": _costs,
         "scaling": _scaling, "sgd": _sgd, "itml": _itml, "report": _report}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of metriclearn against metric-learn 0.7.0, pylmnn and "
                    "scikit-learn, run inside benchmarks/.venv-bench.")
    sub = parser.add_subparsers(dest="suite", required=True, metavar="suite")
    for name, text in SUITES.items():
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        FLAGS[name](p)
    return parser


def _quick(args):
    """Smoke-run sizes of ``args.suite``."""
    s = args.suite
    if s == "compare":
        args.datasets, args.repeats, args.anchor_repeats, args.fit_timeout = (
            ["iris"], 1, 1, 30.0)
    elif s == "costs":
        args.import_repeats, args.lmnn_n, args.repeats = 3, 2000, 1
    elif s == "sgd":
        args.repeats, args.points, args.pairs = 1, 20_000, 200_000
        args.big_points, args.big_pairs = 100_000, 1_000_000
        args.quality_datasets, args.quality_repeats = ["wine"], 1
    elif s == "parity":
        args.datasets, args.repeats, args.anchor_repeats, args.splits = ["iris"], 1, 1, 1
        args.steady_rounds = 1
    elif s == "itml":
        args.settle, args.sweeps, args.anchor_sweeps = 30, 10, 5
        args.datasets, args.anchor_repeats = ["iris"], 1
    if s in ("scaling", "itml"):
        args.repeats = 1


def parse(argv):
    """Parse ``argv``; ``--quick`` replaces the sizes."""
    args = build_parser().parse_args(argv)
    if args.quick:
        _quick(args)
    if args.suite == "report":
        args.publish = not args.no_publish and (args.publish or not args.quick)
    return args


def suite_args(suite, report_args):
    """The flags of one suite run by ``report``: its defaults (or ``--quick`` sizes)."""
    argv = [suite] + (["--quick"] if report_args.quick else [])
    args = parse(argv)
    args.threads = report_args.threads
    return args
