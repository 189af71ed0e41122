"""Suite ``limits``: each learner's inner loop against the machine's GEMM and copy rates.

The yardsticks (float64 and float32 GEMM, a STREAM-like copy) are measured
just before the loops, under the same pin (:func:`benchmarks.machine.rates`). Each
inner loop runs on a problem of realistic size, its work is counted from
what the kernel computes, and its *efficiency* is the roofline time
``max(flops / GEMM rate, bytes / copy rate)`` over the measured time: 1.0
is the machine's limit for that work. The loops call the numba kernels of
``metriclearn._kernels`` directly.
"""

import time
import warnings

import numpy as np

from .. import machine, problems
from ..timer import median_time
from ..writer import fmt, seconds


def _row(learner, loop, secs, flops, bytes_, rates, problem, extra=None, sflops=0.0):
    """Achieved rates and efficiency against the roofline (``sflops``: the
    part of ``flops`` done in float32, against the float32 GEMM rate)."""
    ideal_flops = ((flops - sflops) / (rates["dgemm_gflops"] * 1e9)
                   + sflops / (rates["sgemm_gflops"] * 1e9))
    ideal = max(ideal_flops, bytes_ / (rates["copy_gbs"] * 1e9))
    row = {"learner": learner, "loop": loop, "problem": problem, "seconds": secs,
           "gflops": flops / secs / 1e9, "gbs": bytes_ / secs / 1e9,
           "efficiency": ideal / secs,
           "bound": "flops" if ideal_flops >= ideal * 0.999 else "memory"}
    row.update(extra or {})
    return row


def itml_sweep(rates, d=64, m=4000, sweeps=20):
    """ITML: one sweep of Bregman projections. Each visit costs ``u = M v``
    (``2 d^2`` flops), each update the rank-one change (``2 d^2`` more); ``M``
    is read per visit and read and written per update when not in cache."""
    from metriclearn._kernels.itml import bregman_sweep

    X, y = problems.classification(2000, d)
    idx, labels = problems.draw_pairs(y, m // 2)
    V, delta, xi0 = problems.sweep_constraints(X[idx], labels, problems.itml_bounds(X))
    M, lam, xi = np.eye(d), np.zeros(V.shape[0]), xi0.copy()
    bregman_sweep(M, V, delta, lam, xi, 1.0)  # compile or load, and settle
    updates, t0 = 0, time.perf_counter()
    for _ in range(sweeps):
        updates += bregman_sweep(M, V, delta, lam, xi, 1.0)
    secs = (time.perf_counter() - t0) / sweeps
    visits = V.shape[0]
    updates /= sweeps
    in_cache = 8 * d * d <= 256 * 1024
    traffic = 0.0 if in_cache else 8.0 * d * d * (visits + 2 * updates)
    return _row("itml", "Bregman sweep", secs, 2.0 * d * d * (visits + updates), traffic,
                rates, f"d={d}, {visits} pairs, one sweep (median of {sweeps})",
                {"visits_per_s": visits / secs, "updates_per_s": updates / secs,
                 "active_fraction": updates / visits})


def mmc_gradient(rates, d=64, n=2000):
    """MMC (full): one gradient, ``d^T M d`` of every dissimilar pair (one
    GEMM ``D M``, ``2 n d^2``) and ``sum w d d^T`` (blocked GEMMs, ``2 n d^2``)."""
    from metriclearn._kernels.distances import paired_sq_mahalanobis, weighted_outer_sum

    rng = np.random.default_rng(0)
    D = rng.standard_normal((n, d))
    A = rng.standard_normal((d, d))
    M = A @ A.T / d

    def step():
        weighted_outer_sum(D, 0.5 / np.sqrt(paired_sq_mahalanobis(D, M)))

    secs = median_time(step, min_time=0.05)[0]
    t_dist = median_time(lambda: paired_sq_mahalanobis(D, M), min_time=0.05)[0]
    t_outer = median_time(lambda: weighted_outer_sum(D, np.ones(n)), min_time=0.05)[0]
    return _row("mmc", "gradient: distances + weighted outer sum", secs, 4.0 * n * d * d,
                0.0, rates, f"d={d}, {n} dissimilar pairs",
                {"distances_gflops": 2.0 * n * d * d / t_dist / 1e9,
                 "outer_sum_gflops": 2.0 * n * d * d / t_outer / 1e9})


def mmc_projection(rates, d=64):
    """MMC (full): the projection onto ``{PSD, trace <= 1}``, against LAPACK's
    ``eigh`` plus one GEMM on the same matrix (the reference is the limit)."""
    from metriclearn._kernels.mmc import project_psd_trace

    A = np.random.default_rng(0).standard_normal((d, d))
    M = (A + A.T) / 2
    secs = median_time(lambda: project_psd_trace(M, 1.0), min_time=0.05)[0]

    def reference():
        w, V = np.linalg.eigh(M)
        return (V * np.maximum(w, 0.0)) @ V.T

    ref = median_time(reference, min_time=0.05)[0]
    t_eigh = median_time(lambda: np.linalg.eigh(M), min_time=0.05)[0]
    row = _row("mmc", "projection: eigh + reconstruction", secs, 0.0, 0.0, rates, f"d={d}")
    row.update(gflops=float("nan"), efficiency=ref / secs, bound="LAPACK eigh",
               reference_s=ref, reconstruction_share=max(secs - t_eigh, 0.0) / secs)
    return row


def mmc_diagonal(rates, d=64, n=2000):
    """MMC (diagonal): value, gradient and Hessian of Xing's ``h(a)``; the
    Hessian is a weighted outer sum over the dissimilar pairs (``2 n d^2``)."""
    from metriclearn._kernels.mmc import diagonal_objective

    Q = np.random.default_rng(0).standard_normal((n, d)) ** 2
    s, a = Q[:200].sum(axis=0), np.ones(d)
    secs = median_time(lambda: diagonal_objective(a, s, Q, 1.0), min_time=0.05)[0]
    return _row("mmc_diag", "objective, gradient and Hessian", secs, 2.0 * n * d * d, 0.0,
                rates, f"d={d}, {n} dissimilar pairs")


def lmnn_evaluation(rates, n=3500, d=50, k=3):
    """LMNN: one loss-and-gradient evaluation with a full impostor search, at
    the solution of a real fit, assembled from the kernels. Counted: ``Z = X L^T``
    (``2 n d r``), the float32 impostor tiles over every pair of points of
    different classes (``2 r`` each), two ``d x d`` outer sums (``2 n d^2``
    each) and the gradient ``2 L A`` (``2 r d^2``)."""
    from sklearn.datasets import make_classification

    from metriclearn import LMNN
    from metriclearn._kernels import lmnn as kernels

    X, y = make_classification(n_samples=n, n_features=d, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LMNN(n_neighbors=k, random_state=0, max_iter=2).fit(X[:300], y[:300])  # warm-up
        t0 = time.perf_counter()
        est = LMNN(n_neighbors=k, random_state=0).fit(X, y)
        fit_s = time.perf_counter() - t0
    order = np.argsort(y, kind="stable")
    Xs = np.ascontiguousarray(X[order] - X.mean(axis=0))
    counts = np.bincount(y)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)
    targets = kernels.get_target_neighbors(1)(Xs, bounds, k, kernels._BLOCK)
    push = kernels.get_push_loss_terms(1)

    def outer(deg, P):
        S = Xs.T @ (0.5 * deg[:, None] * Xs - P)
        return S + S.T

    s, c, P = kernels.target_weight_terms(Xs, targets, np.ones(targets.shape))
    C_pull = outer(s + c, P)
    L = np.ascontiguousarray(est.components_)

    def evaluation():
        Z = Xs @ L.T
        dist_t = kernels.target_distances(Z, targets)
        loss, _, w_t, deg, P = push(Xs, Z, bounds, targets, dist_t, kernels._BLOCK,
                                    kernels._CHUNK, 1, False)
        s_t, c_t, P_t = kernels.target_weight_terms(Xs, targets, w_t)
        return 0.5 * dist_t.sum() + 0.5 * loss, 2.0 * L @ (
            0.5 * C_pull + 0.5 * outer(deg + s_t + c_t, P + P_t))

    secs = median_time(evaluation)[0]
    r = L.shape[0]
    tiles = 2.0 * r * (n * n - float(np.sum(counts.astype(np.int64) ** 2))) / 2
    flops = 2.0 * n * d * r + tiles + 2 * 2.0 * n * d * d + 2.0 * r * d * d
    return _row("lmnn", "loss + gradient evaluation", secs, flops, 0.0, rates,
                f"n={n}, d={d}, k={k}, full search at the fitted L",
                {"fit_s": fit_s, "n_iter": int(est.n_iter_)}, sflops=tiles)


def sgd_kernel(rates, d=64, k=64, batch=1024, n_points=20000, n_pairs=400_000):
    """SGD: one epoch of the mini-batch kernel, ``4 B k d`` flops per batch
    (``Z = D L^T`` and ``G = (w Z)^T D``), on random index pairs."""
    from metriclearn._kernels.sgd import sgd_steps

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_points, d))
    pairs = rng.integers(n_points, size=(n_pairs, 2), dtype=np.int32)
    labels = np.where(rng.random(n_pairs) < 0.5, 1, -1).astype(np.int8)
    L0, precond = np.eye(k, d) * 0.1, np.full(d, 1.0 / (2 * d))
    order = rng.permutation(n_pairs)
    etas = np.full(-(-n_pairs // batch), 0.05)
    secs = median_time(lambda: sgd_steps(X, pairs, labels, order, L0, etas, batch, 1.0, 1.0,
                                         precond), repeats=3)[0]
    return _row("sgd", "mini-batch kernel (sgd_steps)", secs,
                4.0 * batch * k * d * etas.shape[0], 0.0, rates,
                f"d=k={d}, batch {batch}, {n_pairs:,} pairs", {"pairs_per_s": n_pairs / secs})


LOOPS = (itml_sweep, mmc_gradient, mmc_projection, mmc_diagonal, lmnn_evaluation, sgd_kernel)
QUICK = {"lmnn_evaluation": {"n": 1000}, "sgd_kernel": {"n_pairs": 100_000}}


def run(args, ctx, log=print):
    """The machine's rates, measured again next to the loops, and every inner
    loop's row (call under the pin)."""
    rates = machine.rates()
    rows = []
    for loop in LOOPS:
        kwargs = QUICK.get(loop.__name__, {}) if args.quick else {}
        try:
            rows.append(loop(rates, **kwargs))
        except Exception as exc:  # a broken loop is a row, not a crash
            rows.append({"learner": loop.__name__, "loop": loop.__name__,
                         "error": f"{type(exc).__name__}: {exc}"})
        r = rows[-1]
        log(f"[limits] {r['learner']:8s} {r['loop']:42s} "
            + (r["error"] if "error" in r else
               f"{seconds(r['seconds'])}  {fmt(r['gflops'])} GFLOP/s  "
               f"{100 * r['efficiency']:.0f}%"))
    return {"rates": rates, "rows": rows}


# Why each inner loop sits where it does.
NOTES = {
    "itml": "each projection is matrix-vector work on ``M`` (``u = M v``, then a rank-one "
            "update): two flops per element of ``M`` touched, and each projection depends "
            "on the one before, so the sweep runs at cache bandwidth, not at the GEMM rate.",
    "mmc": "the distances and the outer sum are GEMMs of a 64-column block against a "
           "64 x 64 matrix, too small for BLAS to reach its large-matrix rate.",
    "mmc_diag": "per pair, ``q = d^T a`` and a square root are scalar work beside the "
                "weighted outer sum of the Hessian, which runs through BLAS.",
    "lmnn": "the float32 tiles run through BLAS, but the candidate pairs' exact distances, "
            "the hinge terms and the scatter into ``P`` are scalar work per active pair, "
            "and the tiles are small (class blocks), so call overhead shows.",
    "sgd": "two GEMMs per batch on gathered rows; the gather of ``2 B`` random rows of "
           "``X`` and the per-pair hinge are what remains.",
}


def _why(row):
    if row["bound"] == "LAPACK eigh":
        return ("LAPACK's symmetric eigensolver bounds it; the reconstruction "
                "``V diag(w) V^T`` is a scalar triple loop.")
    return NOTES.get(row["learner"], "")


def blocks(results):
    rates, rows = results["rates"], results["rows"]
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["learner"], r["loop"], "-", "error", "-", "-", "-"])
            continue
        table.append([r["learner"], r["loop"], r["problem"], seconds(r["seconds"]),
                      fmt(r["gflops"]), r["bound"], f"{100 * r['efficiency']:.0f}%"])
    good = [r for r in rows if "efficiency" in r and np.isfinite(r["efficiency"])]
    gaps = sorted(good, key=lambda r: r["efficiency"])[:3]
    items = [f"{r['learner']}, {r['loop']} ({r['problem']}): "
             + (f"{r['gflops']:.3g} GFLOP/s" if np.isfinite(r["gflops"]) else
                "against its LAPACK reference")
             + f", {100 * r['efficiency']:.0f}% of the limit; {_why(r)}" for r in gaps]
    lmnn = next((r for r in rows if r["learner"] == "lmnn" and "error" not in r), None)
    extra = []
    if lmnn:
        extra = [("p", f"The LMNN fit the evaluation comes from took {seconds(lmnn['fit_s'])} "
                       f"({lmnn['n_iter']} iterations); the solver's later evaluations "
                       "search the impostors incrementally and cost less than a full one.")]
    return [
        ("h", "Distance to the limit"),
        ("p", f"Measured just before the loops, one thread: float64 GEMM "
              f"{rates['dgemm_gflops']:.1f} GFLOP/s, float32 GEMM "
              f"{rates['sgemm_gflops']:.1f} GFLOP/s ({rates['gemm_n']} x {rates['gemm_n']}), "
              f"copy {rates['copy_gbs']:.1f} GB/s (128 MiB arrays, bytes read plus "
              "written). Work is counted from what each kernel computes (ITML ``2 d^2`` "
              "flops per constraint visited plus ``2 d^2`` per update; MMC ``4 n d^2`` per "
              "gradient; diagonal MMC ``2 n d^2``; LMNN ``Z = X L^T``, the float32 impostor "
              "tiles at ``2 r`` flops per pair of points of different classes, two outer "
              "sums and the gradient; SGD ``4 B k d`` per batch). Efficiency is the "
              "roofline time (flops at the GEMM rate of their precision, or bytes at the "
              "copy rate, whichever is longer) over the measured median time; the MMC "
              "projection is compared with LAPACK's ``eigh`` plus one GEMM instead."),
        ("table", ["learner", "inner loop", "problem", "time", "GFLOP/s", "bound",
                   "efficiency"], table),
        *extra,
        ("p", "The three loops furthest from their limit:"),
        ("list", items),
    ]
