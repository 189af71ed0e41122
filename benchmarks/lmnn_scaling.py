"""LMNN scaling series: fit time, peak memory (RSS) and 3-NN accuracy against
the number of training points, for metriclearn and the anchor libraries.

Usage (inside ``benchmarks/.venv-bench``, which ``run.py`` builds)::

    benchmarks/.venv-bench/bin/python benchmarks/lmnn_scaling.py \\
        [--sizes 1000 2000 5000 10000 20000] [--libraries metriclearn pylmnn]

Data: ``make_classification(n_samples=n + 2000, n_features=50,
random_state=0)``, of which 2,000 points (stratified, seed 0) are held out
for the 3-NN accuracy and the other ``n`` are the training set. Each fit runs
in a fresh subprocess, with BLAS and numba pinned to one thread, so that the
child's peak resident set size (``resource.getrusage``, which also sees
numba's and BLAS's allocations, unlike ``tracemalloc``) is the fit's. The
child first fits once on 200 points, untimed: for metriclearn that call
loads (or compiles) the numba kernels, and its time is reported as
``first call``, outside the timed fit.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_TEST = 2000
# fits that would take far too long, or an n x n matrix that would not fit
DEFAULT_MAX_N = {"metriclearn": 10**9, "pylmnn": 20000, "metric-learn": 2000,
                 "scikit-learn NCA": 5000}

CHILD = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from registry import LEARNERS

library, n = {library!r}, {n}
X, y = make_classification(n_samples=n + {n_test}, n_features=50, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size={n_test}, stratify=y, random_state=0)
factory = LEARNERS["lmnn"].estimators[library]
with threadpool_limits(limits=1), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import numba
        numba.set_num_threads(1)
    except ImportError:
        pass
    t0 = time.perf_counter()
    factory().fit(X_train[:200], y_train[:200])
    first = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    est = factory()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    est.fit(X_train, y_train)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    knn = KNeighborsClassifier(3).fit(est.transform(X_train), y_train)
    acc = knn.score(est.transform(X_test), y_test)
    euclid = KNeighborsClassifier(3).fit(X_train, y_train).score(X_test, y_test)
print(json.dumps(dict(library=library, n=n, wall=wall, cpu=cpu, first_call=first,
                      peak_rss_mib=peak / 1024, rss_before_fit_mib=rss_before / 1024,
                      knn_accuracy=acc, euclidean_knn_accuracy=euclid,
                      n_iter=int(getattr(est, "n_iter_", -1)))))
"""


def run_one(library, n):
    code = CHILD.format(here=str(HERE), library=library, n=n, n_test=N_TEST)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"library": library, "n": n, "error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int,
                        default=[1000, 2000, 5000, 10000, 20000])
    parser.add_argument("--libraries", nargs="+", default=["metriclearn", "pylmnn"],
                        choices=sorted(DEFAULT_MAX_N))
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    print("| n | library | wall (s) | CPU (s) | first call (s) | peak RSS (MiB) | "
          "3-NN acc | Euclid. 3-NN | n_iter |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for library in args.libraries:
            if n > DEFAULT_MAX_N[library]:
                continue
            r = run_one(library, n)
            rows.append(r)
            if "error" in r:
                print(f"| {n} | {library} | ERROR {r['error']} |||||||", flush=True)
                continue
            print(f"| {n} | {library} | {r['wall']:.3f} | {r['cpu']:.3f} | "
                  f"{r['first_call']:.3f} | {r['peak_rss_mib']:.0f} | "
                  f"{r['knn_accuracy']:.4f} | {r['euclidean_knn_accuracy']:.4f} | "
                  f"{r['n_iter']} |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
