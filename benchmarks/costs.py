"""Costs a user feels before and around the fit: the import, numba's first
call with a cold and a warm cache, and LMNN's ``n_jobs``.

Used by ``report_all.py`` (inside ``benchmarks/.venv-bench``). The import
and the first calls are measured in fresh interpreters (``subprocess``), as
a user starting a script would meet them.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

IMPORT_CODE = (
    "import time; t0 = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t0)"
)

# Fits every learner twice on iris in a fresh interpreter; prints their times.
FIRST_FIT_CODE = r"""
import json, time, warnings
t0 = time.perf_counter()
import metriclearn
from sklearn.datasets import load_iris
import_s = time.perf_counter() - t0
X, y = load_iris(return_X_y=True)
pairs_idx, pair_y = metriclearn.Constraints(y).pairs(60, random_state=0)
pairs = X[pairs_idx]
makers = {
    "mmc": lambda: (metriclearn.MMC(random_state=0), (pairs, pair_y)),
    "mmc_diag": lambda: (metriclearn.MMC(diagonal=True, random_state=0), (pairs, pair_y)),
    "itml": lambda: (metriclearn.ITML(random_state=0), (pairs, pair_y)),
    "lmnn": lambda: (metriclearn.LMNN(random_state=0), (X, y)),
    "sgd": lambda: (metriclearn.SGDMetricLearner_Supervised(random_state=0), (X, y)),
}
out = {"import_s": import_s}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name, make in makers.items():
        times = []
        for _ in range(2):
            est, args = make()
            t0 = time.perf_counter()
            est.fit(*args)
            times.append(time.perf_counter() - t0)
        out[name] = {"first_s": times[0], "second_s": times[1]}
print(json.dumps(out))
"""


def _run(code, env=None):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    return proc.stdout.strip().splitlines()[-1]


def import_times(repeats=7):
    """Median wall time of ``import X`` in a fresh interpreter, for
    metriclearn and, for scale, scikit-learn (which it imports) and
    metric-learn."""
    out = {}
    for module in ("sklearn", "metriclearn", "metric_learn"):
        times = [float(_run(IMPORT_CODE.format(module=module))) for _ in range(repeats)]
        out[module] = {"median_s": statistics.median(times), "times": times}
    return out


def first_fits():
    """First and second fit of every learner on iris in fresh interpreters:
    once with an empty numba cache (``NUMBA_CACHE_DIR`` a new directory, so
    the first fit compiles) and once more with that cache now filled (the
    first fit loads the compiled kernels)."""
    cache = tempfile.mkdtemp(prefix="metriclearn-bench-numba-")
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    try:
        cold = json.loads(_run(FIRST_FIT_CODE, env))
        warm = json.loads(_run(FIRST_FIT_CODE, env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"cold": cold, "warm": warm}


def lmnn_n_jobs(n=10000, d=50, repeats=3):
    """LMNN with ``n_jobs=1`` and ``n_jobs=2`` on ``make_classification(n, d)``,
    interleaved, BLAS pinned to one thread (the numba threads are LMNN's
    ``n_jobs``; OpenMP is left alone, as a limit there would cap numba's
    ``omp`` pool too): median wall and CPU time of ``fit``."""
    import numba
    from sklearn.datasets import make_classification
    from threadpoolctl import threadpool_limits

    from metriclearn import LMNN

    X, y = make_classification(n_samples=n, n_features=d, random_state=0)
    results = {1: {"wall": [], "cpu": []}, 2: {"wall": [], "cpu": []}}
    previous = numba.get_num_threads()
    load = [os.getloadavg()[0]]
    # BLAS only: a limit on OpenMP would also cap numba's thread pool
    with threadpool_limits(limits=1, user_api="blas"):
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        LMNN(n_jobs=2, random_state=0, max_iter=3).fit(X[:500], y[:500])  # warm-up
        LMNN(n_jobs=1, random_state=0, max_iter=3).fit(X[:500], y[:500])
        for _ in range(repeats):
            for jobs in (1, 2):
                est = LMNN(n_jobs=jobs, random_state=0)
                w0, c0 = time.perf_counter(), time.process_time()
                est.fit(X, y)
                results[jobs]["wall"].append(time.perf_counter() - w0)
                results[jobs]["cpu"].append(time.process_time() - c0)
                results[jobs]["n_iter"] = int(est.n_iter_)
        numba.set_num_threads(previous)
    load.append(os.getloadavg()[0])
    out = {"n": n, "d": d, "repeats": repeats, "load_average_1min": load,
           "cpu_count": os.cpu_count()}
    for jobs, r in results.items():
        out[f"n_jobs={jobs}"] = {"wall_median": statistics.median(r["wall"]),
                                 "cpu_median": statistics.median(r["cpu"]),
                                 "n_iter": r["n_iter"], "wall": r["wall"]}
    out["speedup"] = out["n_jobs=1"]["wall_median"] / out["n_jobs=2"]["wall_median"]
    return out


def measure(quick=False):
    """Every cost above (``quick``: fewer repeats, a smaller LMNN problem)."""
    import warnings

    out = {"import": import_times(3 if quick else 7), "first_fit": first_fits()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["n_jobs"] = lmnn_n_jobs(n=2000 if quick else 10000,
                                    repeats=1 if quick else 3)
    return out
