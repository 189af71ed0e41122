"""SGDMetricLearner at scale: pairs per second and flop rate next to the
machine's GEMM rate, an epoch over 10 million index pairs, Dask with 1 and 2
workers, and metric-learn's SCML side by side.

Run with the development environment (it needs Dask for the Dask part)::

    python benchmarks/sgd_throughput.py                 # everything
    python benchmarks/sgd_throughput.py --quick         # small sizes, a smoke run

The SCML comparison needs metric-learn 0.7.0, which only runs with
scikit-learn < 1.8: the script re-runs its ``--scml-only`` part with
``benchmarks/.venv-bench/bin/python`` (built by ``benchmarks/run.py``) and
skips it when that environment is missing.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

D = K = 64


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return float(np.median(times)), times


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _problem(n_points, n_pairs, seed=0):
    """Points with 8 classes separated along a few directions, and random
    index pairs (int32) labelled by the classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(8, size=n_points)
    X = rng.standard_normal((n_points, D))
    X[:, :3] += 2.0 * rng.standard_normal((8, 3))[y]
    pairs = rng.integers(n_points, size=(n_pairs, 2), dtype=np.int32)
    # half the pairs similar: partner drawn within the class
    half = n_pairs // 2
    order = np.argsort(y, kind="stable")
    start = np.searchsorted(y[order], np.arange(8))
    counts = np.bincount(y, minlength=8)
    c = y[pairs[:half, 0]]
    pairs[:half, 1] = order[start[c] + rng.integers(0, counts[c])]
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1).astype(np.int8)
    return X, pairs, labels


def throughput(args, gemm):
    """Kernel throughput at d = k = 64 for a few batch sizes."""
    from metriclearn._kernels.sgd import sgd_steps

    X, pairs, labels = _problem(args.points, args.pairs)
    L0 = np.eye(K, D) * 0.1
    precond = np.full(D, 1.0 / (2 * D))
    rows = []
    tic = time.perf_counter()
    sgd_steps(X, pairs, labels, np.arange(8), L0, np.full(1, 0.1), 8, 1.0, 1.0, precond)
    first_call = time.perf_counter() - tic
    rng = np.random.default_rng(1)
    for B in args.batch_sizes:
        order = rng.permutation(pairs.shape[0])
        etas = np.full(-(-order.shape[0] // B), 0.05)
        sgd_steps(X, pairs, labels, order[: 50 * B], L0, etas[:50], B, 1.0, 1.0, precond)
        t, _ = _median_time(
            lambda B=B, order=order, etas=etas: sgd_steps(
                X, pairs, labels, order, L0, etas, B, 1.0, 1.0, precond
            ),
            args.repeats,
        )
        rate = order.shape[0] / t
        gflops = 4.0 * K * D * rate / 1e9
        rows.append({"batch_size": B, "seconds": t, "pairs_per_s": rate,
                     "gflops": gflops, "fraction_of_gemm": gflops / gemm})
    return {"first_call_s": first_call, "points": args.points, "pairs": args.pairs,
            "rows": rows}


def big_epoch(args):
    """One epoch of SGDMetricLearner.fit over 10 million int32 index pairs
    into a 1,000,000 x 64 X (local backend)."""
    from metriclearn import SGDMetricLearner

    X, pairs, labels = _problem(args.big_points, args.big_pairs)
    y = labels.astype(np.int64)
    memory = {"X_MB": X.nbytes / 2**20, "pairs_int32_MB": pairs.nbytes / 2**20,
              "labels_int8_MB": labels.nbytes / 2**20}
    est = SGDMetricLearner(preprocessor=X, max_iter=1, tol=None, random_state=0, verbose=1)
    rss_before = _peak_rss_mb()
    tic = time.perf_counter()
    est.fit(pairs, y)
    fit_s = time.perf_counter() - tic
    return {"points": args.big_points, "pairs": args.big_pairs, "fit_s": fit_s,
            "memory": memory, "peak_rss_MB_before_fit": rss_before,
            "peak_rss_MB_after_fit": _peak_rss_mb(),
            "loss": float(est.objective_history_[-1]), "X": X, "pairs_arr": pairs,
            "y": y}


def _warm_up():
    from metriclearn._kernels.sgd import pair_sq_distances, sgd_steps

    X, pairs = np.zeros((2, 1)), np.array([[0, 1]])
    sgd_steps(X, pairs, np.ones(1, np.int8), np.zeros(1, np.intp), np.ones((1, 1)),
              np.ones(1), 1, 1.0, 1.0, np.ones(1))
    pair_sq_distances(X, pairs, np.ones((1, 1)))


def dask_epochs(args, big):
    """The same epoch on a LocalCluster with 1 and 2 workers."""
    import distributed

    from metriclearn import SGDMetricLearner

    X, pairs, y = big["X"], big["pairs_arr"], big["y"]
    out = []
    env = os.environ.copy()
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        for n_workers in (1, 2):
            with distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address="127.0.0.1:0",
                memory_limit=0,
            ) as cluster, distributed.Client(cluster) as client:
                client.run(_warm_up)  # numba's first call, outside the timing
                est = SGDMetricLearner(backend="dask", preprocessor=X, max_iter=1, tol=None,
                                       local_steps=args.local_steps, random_state=0)
                tic = time.perf_counter()
                est.fit(pairs, y)
                fit_s = time.perf_counter() - tic
                out.append({"workers": n_workers, "fit_s": fit_s,
                            "pairs_per_s_overall": pairs.shape[0] / fit_s,
                            "updates": int(est.n_updates_),
                            "loss": float(est.objective_history_[-1])})
    finally:
        os.environ.clear()
        os.environ.update(env)
    return out


def scml_comparison(repeats):
    """SCML_Supervised against SGDMetricLearner_Supervised: fit time and
    3-NN test accuracy on standardised wine and digits (runs in .venv-bench)."""
    from metric_learn import SCML_Supervised
    from sklearn.datasets import load_digits, load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from metriclearn import SGDMetricLearner_Supervised

    rows = []
    with threadpool_limits(1):
        for name, loader in (("wine", load_wine), ("digits", load_digits)):
            X, y = loader(return_X_y=True)
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=0)
            scaler = StandardScaler().fit(Xtr)
            Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)

            def knn(Z_tr, Z_te, ytr=ytr, yte=yte):
                return KNeighborsClassifier(3).fit(Z_tr, ytr).score(Z_te, yte)

            row = {"dataset": name, "euclidean_3nn": knn(Xtr, Xte)}
            SGDMetricLearner_Supervised(max_iter=2, random_state=0).fit(Xtr, ytr)  # compile
            makers = {
                "sgd": lambda: SGDMetricLearner_Supervised(random_state=0),
                "scml": lambda: SCML_Supervised(random_state=0),
            }
            for lib in makers:
                row[lib] = {"times": [], "cpu": []}
            for _ in range(repeats):  # interleaved: A B A B ...
                for lib, make in makers.items():
                    est = make()
                    gc.collect()
                    tic, cpu = time.perf_counter(), time.process_time()
                    est.fit(Xtr, ytr)
                    row[lib]["times"].append(time.perf_counter() - tic)
                    row[lib]["cpu"].append(time.process_time() - cpu)
                    row[lib]["3nn"] = knn(est.transform(Xtr), est.transform(Xte))
            for lib in makers:
                row[lib]["median_s"] = float(np.median(row[lib]["times"]))
                row[lib]["median_cpu_s"] = float(np.median(row[lib]["cpu"]))
            rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--big-points", type=int, default=1_000_000)
    parser.add_argument("--big-pairs", type=int, default=10_000_000)
    parser.add_argument("--local-steps", type=int, default=50)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--no-scml", action="store_true")
    parser.add_argument("--scml-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.pairs, args.points = 1, 200_000, 20_000
        args.big_points, args.big_pairs = 100_000, 1_000_000

    if args.scml_only:
        print(json.dumps(scml_comparison(max(1, min(args.repeats, 3)))))
        return

    from envinfo import blas_info, gemm_gflops
    from threadpoolctl import threadpool_limits

    import metriclearn  # noqa: F401  (loads scipy's BLAS too, so the pin covers it)
    from metriclearn._kernels import sgd  # noqa: F401

    results = {}
    with threadpool_limits(1):
        results["blas"] = blas_info()
        gemm = float(np.median([gemm_gflops(1000) for _ in range(3)]))
        results["gemm_gflops"] = gemm
        print(f"BLAS under the pin: {[(b['internal_api'], b['architecture'], b['num_threads'], b['library']) for b in results['blas']]}")  # noqa: E501
        print(f"float64 GEMM (1000 x 1000, 1 thread): {gemm:.1f} GFLOP/s")
        tp = throughput(args, gemm)
        results["throughput"] = tp
        print(f"numba first call (compile or cache load): {tp['first_call_s']:.2f} s")
        print(f"kernel, d = k = {D}, {tp['pairs']:,} pairs into {tp['points']:,} points "
              f"(median of {args.repeats}):")
        for r in tp["rows"]:
            print(f"  batch {r['batch_size']:5d}: {r['pairs_per_s'] / 1e6:6.2f} M pairs/s  "
                  f"{r['gflops']:6.1f} GFLOP/s  = {100 * r['fraction_of_gemm']:5.1f}% of GEMM")
        big = big_epoch(args)
        print(f"fit, 1 epoch, {big['pairs']:,} int32 index pairs into {big['points']:,} x {D}"
              f" X: {big['fit_s']:.2f} s (incl. threshold calibration); memory "
              f"{json.dumps({k: round(v, 1) for k, v in big['memory'].items()})}, peak RSS "
              f"{big['peak_rss_MB_after_fit']:.0f} MB (before fit "
              f"{big['peak_rss_MB_before_fit']:.0f} MB)")
    if not args.no_dask:
        results["dask"] = dask_epochs(args, big)
        for r in results["dask"]:
            print(f"dask, {r['workers']} worker(s): {r['fit_s']:.2f} s for 1 epoch "
                  f"({r['pairs_per_s_overall'] / 1e6:.2f} M pairs/s overall, "
                  f"{r['updates']} updates, loss {r['loss']:.4f}; local loss {big['loss']:.4f})")
    results["big_epoch"] = {k: v for k, v in big.items() if k not in ("X", "pairs_arr", "y")}
    bench_python = HERE / ".venv-bench" / "bin" / "python"
    if not args.no_scml and bench_python.exists():
        proc = subprocess.run(
            [str(bench_python), __file__, "--scml-only", "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=True,
        )
        results["scml"] = json.loads(proc.stdout.strip().splitlines()[-1])
        for r in results["scml"]:
            print(f"{r['dataset']}: SGD {r['sgd']['median_s']:.3f} s (3-NN {r['sgd']['3nn']:.3f})"
                  f"  SCML {r['scml']['median_s']:.3f} s (3-NN {r['scml']['3nn']:.3f})"
                  f"  Euclidean 3-NN {r['euclidean_3nn']:.3f}")
    elif not args.no_scml:
        print(f"SCML comparison skipped: {bench_python} not found (run benchmarks/run.py once)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
