"""Suite ``sgd``: SGD throughput (kernel, 10 million pairs, Dask) and the objectives side by side.

1. Kernel throughput at d = k = 64: one epoch of ``sgd_steps`` over 1
   million int32 index pairs into 100,000 points, per batch size; pairs per
   second and flop rate (``4 k d`` flops per pair) next to the GEMM rate.
2. ``SGDMetricLearner(preprocessor=X).fit(pairs, y)`` for one epoch over 10
   million int32 index pairs into a 1,000,000 x 64 ``X`` (the time includes
   the threshold calibration on all pairs), with its peak RSS.
3. The same fit with ``backend="dask"`` on a ``LocalCluster`` of 1 and 2
   single-threaded worker processes on 127.0.0.1 (the time includes moving
   ``X`` into the cluster).
4. The objectives table (:mod:`.sgd_quality`).
"""

import os
import warnings

import numpy as np

from .. import machine, timer
from ..threads import child_env
from ..writer import fmt, seconds
from . import sgd_quality

D = K = 64


def _problem(n_points, n_pairs, seed=0):
    """Points of 8 classes separated along a few directions, and random int32
    index pairs, half of them within a class, labelled by the classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(8, size=n_points)
    X = rng.standard_normal((n_points, D))
    X[:, :3] += 2.0 * rng.standard_normal((8, 3))[y]
    pairs = rng.integers(n_points, size=(n_pairs, 2), dtype=np.int32)
    half = n_pairs // 2
    order = np.argsort(y, kind="stable")
    start = np.searchsorted(y[order], np.arange(8))
    counts = np.bincount(y, minlength=8)
    c = y[pairs[:half, 0]]
    pairs[:half, 1] = order[start[c] + rng.integers(0, counts[c])]
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1).astype(np.int8)
    return X, pairs, labels


def throughput(points, n_pairs, batch_sizes, repeats, gemm):
    """The kernel's epoch time per batch size, median of ``repeats``."""
    from metriclearn._kernels.sgd import sgd_steps

    X, pairs, labels = _problem(points, n_pairs)
    L0, precond = np.eye(K, D) * 0.1, np.full(D, 1.0 / (2 * D))
    first = timer.measure(lambda: sgd_steps(X, pairs, labels, np.arange(8), L0,
                                            np.full(1, 0.1), 8, 1.0, 1.0, precond))
    rng = np.random.default_rng(1)
    rows = []
    for B in batch_sizes:
        order = rng.permutation(n_pairs)
        etas = np.full(-(-n_pairs // B), 0.05)
        secs, _ = timer.median_time(lambda B=B, order=order, etas=etas: sgd_steps(
            X, pairs, labels, order, L0, etas, B, 1.0, 1.0, precond), repeats=repeats)
        rate = n_pairs / secs
        rows.append({"batch_size": B, "seconds": secs, "pairs_per_s": rate,
                     "gflops": 4.0 * K * D * rate / 1e9,
                     "fraction_of_gemm": 4.0 * K * D * rate / 1e9 / gemm})
    return {"first_call_s": first.wall, "points": points, "pairs": n_pairs, "rows": rows}


def _epoch(X, pairs, y, **params):
    from metriclearn import SGDMetricLearner

    est = SGDMetricLearner(preprocessor=X, max_iter=1, tol=None, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timer.measure(lambda: est.fit(pairs, y))


def _load_kernels():
    """Worker warm-up: the kernels' first call, outside the timing."""
    from metriclearn._kernels.sgd import pair_sq_distances, sgd_steps

    X, pairs = np.zeros((2, 1)), np.array([[0, 1]])
    sgd_steps(X, pairs, np.ones(1, np.int8), np.zeros(1, np.intp), np.ones((1, 1)),
              np.ones(1), 1, 1.0, 1.0, np.ones(1))
    pair_sq_distances(X, pairs, np.ones((1, 1)))


def _dask_epoch(n_workers, X, pairs, y, local_steps):
    import distributed

    with distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0", memory_limit=0,
    ) as cluster, distributed.Client(cluster) as client:
        client.run(_load_kernels)
        s = _epoch(X, pairs, y, backend="dask", local_steps=local_steps)
    return {"workers": n_workers, "fit_s": s.wall, "error": s.error,
            "pairs_per_s": None if s.error else pairs.shape[0] / s.wall,
            "updates": None if s.error else int(s.value.n_updates_),
            "loss": None if s.error else float(s.value.objective_history_[-1])}


def big_epochs(points, n_pairs, local_steps, dask=True, log=print):
    """One epoch locally, then on Dask with 1 and 2 workers."""
    X, pairs, labels = _problem(points, n_pairs)
    y = labels.astype(np.int64)
    few = np.r_[:500, n_pairs - 500:n_pairs]  # similar and dissimilar pairs
    _epoch(X, pairs[few], y[few])  # the first call, apart
    local = _epoch(X, pairs, y)
    out = {"points": points, "pairs": n_pairs, "X_mib": X.nbytes / 2**20,
           "pairs_mib": pairs.nbytes / 2**20, "fit_s": local.wall, "cpu_s": local.cpu,
           "rss_mib": local.rss_mib, "error": local.error,
           "loss": None if local.error else float(local.value.objective_history_[-1]),
           "dask": []}
    log(f"[sgd] 1 epoch, {n_pairs:,} pairs: {seconds(local.wall)}, peak RSS "
        f"{fmt(local.rss_mib, '.0f')} MiB")
    if not dask:
        return out
    saved = dict(os.environ)
    os.environ.update(child_env(1))  # the workers start with the same pin
    try:
        for n_workers in (1, 2):
            try:
                out["dask"].append(_dask_epoch(n_workers, X, pairs, y, local_steps))
            except Exception as exc:  # a cluster that fails is a row, not a crash
                out["dask"].append({"workers": n_workers, "fit_s": None, "pairs_per_s": None,
                                    "loss": None, "error": f"{type(exc).__name__}: {exc}"})
            log(f"[sgd] dask, {n_workers} worker(s): "
                + (out["dask"][-1]["error"] or seconds(out["dask"][-1]["fit_s"])))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def run(args, ctx, log=print):
    gemm = machine.rates()["dgemm_gflops"]  # measured again, next to the kernel
    out = {"throughput": throughput(args.points, args.pairs, args.batch_sizes,
                                    args.repeats, gemm)}
    for r in out["throughput"]["rows"]:
        log(f"[sgd] batch {r['batch_size']:5d}: {r['pairs_per_s'] / 1e6:.2f} M pairs/s, "
            f"{r['gflops']:.1f} GFLOP/s")
    out["big"] = big_epochs(args.big_points, args.big_pairs, args.local_steps,
                            dask=not args.no_dask, log=log)
    out["quality"] = [sgd_quality.table(name, args.quality_repeats, args.quick, log)
                      for name in args.quality_datasets]
    return out


def blocks(results):
    tp, big = results["throughput"], results["big"]
    rows = [[str(r["batch_size"]), f"{r['pairs_per_s'] / 1e6:.2f}", f"{r['gflops']:.1f}",
             f"{100 * r['fraction_of_gemm']:.0f}%"] for r in tp["rows"]]
    dask_rows = [[f"local, {big['points']:,} x {D}", seconds(big["fit_s"]),
                  f"{big['pairs'] / big['fit_s'] / 1e6:.2f}", fmt(big["loss"], ".4f")]]
    dask_rows += [[f"Dask, {r['workers']} worker(s)",
                   "error" if r["error"] else seconds(r["fit_s"]),
                   fmt(r["pairs_per_s"] and r["pairs_per_s"] / 1e6, ".2f"),
                   fmt(r["loss"], ".4f")]
                  for r in big["dask"]]
    return [
        ("h", "SGD throughput"),
        ("p", f"``sgd_steps`` at d = k = {D} over {tp['pairs']:,} int32 index pairs into "
              f"{tp['points']:,} points, one epoch per batch size (median after a "
              f"warm-up; the process's first call, {seconds(tp['first_call_s'])}, made "
              "apart); flop rate at ``4 k d`` flops per pair against the float64 "
              "GEMM rate measured just before."),
        ("table", ["batch size", "M pairs/s", "GFLOP/s", "of GEMM"], rows),
        ("p", f"One epoch of ``SGDMetricLearner(preprocessor=X).fit(pairs, y)`` over "
              f"{big['pairs']:,} int32 index pairs ({big['pairs_mib']:.0f} MiB) into a "
              f"{big['points']:,} x {D} ``X`` ({big['X_mib']:.0f} MiB), the time including "
              "the threshold calibration on all pairs; peak RSS of the local fit "
              f"{fmt(big['rss_mib'], '.0f')} MiB above its start. The Dask fits run on a "
              "``LocalCluster`` of single-threaded worker processes and include moving "
              "``X`` into the cluster."),
        ("table", ["backend", "fit time", "M pairs/s overall", "final loss"], dask_rows),
        *[("p", f"Dask with {r['workers']} worker(s) failed: "
                + r["error"].strip().splitlines()[-1]) for r in big["dask"] if r["error"]],
        ("h", "SGD objectives"),
        *sgd_quality.blocks(results["quality"]),
    ]
