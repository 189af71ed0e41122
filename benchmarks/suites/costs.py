"""Suite ``costs``: what a user pays around the fit: import, numba's first call, LMNN's ``n_jobs``.

The import and the first fits are measured in fresh interpreters, as a
script starting up meets them: ``import X`` as the wall time of an
interpreter that imports it less that of one that does not; the first and
second fit of every learner once with an empty numba cache (the kernels
compile) and once more with that cache filled (they load).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings

from .. import timer
from ..threads import child_env, pinned
from ..writer import seconds

MODULES = ("sklearn", "metriclearn", "metric_learn")
LEARNERS = ("mmc", "mmc_diag", "itml", "lmnn", "sgd")


def _interpreter(code, env=None):
    """A function that makes the call of a fresh interpreter running ``code``."""

    def make():
        return lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                      capture_output=True, text=True)

    return make


def import_times(repeats):
    """Median wall time of ``import X`` in a fresh interpreter, over the
    interpreter's own start-up (measured interleaved with it)."""
    calls = {"": _interpreter("pass")}
    calls.update({name: _interpreter(f"import {name}") for name in MODULES})
    samples = timer.interleave(calls, dict.fromkeys(calls, repeats))
    for name, fits in samples.items():
        if fits[-1].error:
            raise RuntimeError(f"import {name}: " + fits[-1].error.strip().splitlines()[-1])
    base = statistics.median(s.wall for s in samples[""])
    out = {name: {"median_s": statistics.median(s.wall for s in samples[name]) - base}
           for name in MODULES}
    out["interpreter_s"] = base
    return out


def first_fits_child():
    """In a fresh interpreter: first and second fit of every learner on iris;
    prints their times as JSON."""
    from sklearn.datasets import load_iris

    import metriclearn

    X, y = load_iris(return_X_y=True)
    idx, pair_y = metriclearn.Constraints(y).pairs(60, random_state=0)
    pairs = X[idx]
    makers = {
        "mmc": (lambda: metriclearn.MMC(random_state=0), (pairs, pair_y)),
        "mmc_diag": (lambda: metriclearn.MMC(diagonal=True, random_state=0), (pairs, pair_y)),
        "itml": (lambda: metriclearn.ITML(random_state=0), (pairs, pair_y)),
        "lmnn": (lambda: metriclearn.LMNN(random_state=0), (X, y)),
        "sgd": (lambda: metriclearn.SGDMetricLearner_Supervised(random_state=0), (X, y)),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (make, args) in makers.items():
            first, second = (timer.measure_fit(make, args) for _ in range(2))
            out[name] = {"first_s": first.wall, "second_s": second.wall,
                         "error": first.error or second.error}
    print(json.dumps(out))


def first_fits(n_threads=1):
    """First fits with a cold, then a warm numba cache (a new folder), the
    interpreters started with the thread pin of the run."""
    cache = tempfile.mkdtemp(prefix="metriclearn-bench-numba-")
    env = {**child_env(n_threads), "NUMBA_CACHE_DIR": cache}
    code = "from benchmarks.suites.costs import first_fits_child; first_fits_child()"
    try:
        out = {}
        for state in ("cold", "warm"):
            sample = timer.measure(_interpreter(code, env)())
            if sample.error:
                raise RuntimeError(sample.error.strip().splitlines()[-1])
            out[state] = json.loads(sample.value.stdout.strip().splitlines()[-1])
            out[state]["interpreter_s"] = sample.wall
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def lmnn_n_jobs(n, repeats, d=50):
    """LMNN with ``n_jobs=1`` and ``2`` on ``make_classification(n, d)``,
    interleaved, BLAS on one thread, numba on as many as ``n_jobs`` asks."""
    import numba
    from sklearn.datasets import make_classification

    from metriclearn import LMNN

    X, y = make_classification(n_samples=n, n_features=d, random_state=0)
    load = [os.getloadavg()[0]]
    with pinned(1, numba_threads=numba.config.NUMBA_NUM_THREADS), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for jobs in (2, 1):  # warm-up: both kernels' first calls
            LMNN(n_jobs=jobs, random_state=0, max_iter=3).fit(X[:500], y[:500])
        calls = {jobs: timer.fit_maker(lambda j=jobs: LMNN(n_jobs=j, random_state=0),
                                       (X, y)) for jobs in (1, 2)}
        samples = timer.interleave(calls, {1: repeats, 2: repeats})
    load.append(os.getloadavg()[0])
    out = {"n": n, "d": d, "repeats": repeats, "load_average_1min": load,
           "cpu_count": os.cpu_count()}
    for jobs, fits in samples.items():
        out[f"n_jobs={jobs}"] = {**timer.summary(fits),
                                 "n_iter": int(fits[-1].value.n_iter_)}
    out["speedup"] = out["n_jobs=1"]["wall_median"] / out["n_jobs=2"]["wall_median"]
    return out


def run(args, ctx, log=print):
    out = {"import": import_times(args.import_repeats)}
    log(f"[costs] import: {json.dumps(out['import'])}")
    out["first_fit"] = first_fits(args.threads)
    log(f"[costs] first fits: {json.dumps(out['first_fit'])[:300]}")
    out["n_jobs"] = lmnn_n_jobs(args.lmnn_n, args.repeats)
    log(f"[costs] LMNN n_jobs speed-up {out['n_jobs']['speedup']:.2f}")
    return out


def blocks(results):
    imp = results["import"]
    cold, warm = results["first_fit"]["cold"], results["first_fit"]["warm"]
    rows = [[name, seconds(cold[name]["first_s"]), seconds(warm[name]["first_s"]),
             seconds(warm[name]["second_s"])] for name in LEARNERS]
    jobs = results["n_jobs"]
    one, two = jobs["n_jobs=1"], jobs["n_jobs=2"]
    return [
        ("h", "Costs around the fit"),
        ("p", "``import`` in a fresh interpreter (median wall time over the "
              f"interpreter's own start-up of {seconds(imp['interpreter_s'])}): "
              f"``import metriclearn`` {seconds(imp['metriclearn']['median_s'])}, of which "
              f"scikit-learn alone takes {seconds(imp['sklearn']['median_s'])}; "
              f"``import metric_learn`` {seconds(imp['metric_learn']['median_s'])}."),
        ("p", "First fit of each learner on iris in a fresh interpreter (started with the "
              "run's thread pin), with an empty "
              "numba cache (``NUMBA_CACHE_DIR`` a new folder: the kernels compile) and "
              "again with that cache filled (the kernels load), next to the second fit of "
              "the same process. The learners run in the order of the table, so a kernel "
              "shared with an earlier learner is already compiled."),
        ("table", ["learner", "first fit, cold cache", "first fit, warm cache",
                   "second fit"], rows),
        ("p", f"LMNN on ``make_classification({jobs['n']}, {jobs['d']})``, BLAS on one "
              f"thread, median of {jobs['repeats']} interleaved fits: ``n_jobs=1`` "
              f"{seconds(one['wall_median'])} (CPU {seconds(one['cpu_median'])}), "
              f"``n_jobs=2`` {seconds(two['wall_median'])} (CPU "
              f"{seconds(two['cpu_median'])}): a speed-up of {jobs['speedup']:.2f} on "
              f"{jobs['cpu_count']} cores, with a 1-minute load average of "
              + " then ".join(f"{x:.2f}" for x in jobs["load_average_1min"])
              + " around the measurement (a second thread only helps on an idle core)."),
    ]
