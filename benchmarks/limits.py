"""Distance to the limit: each learner's inner loop against the machine.

The machine's yardsticks are measured in the same run, under the same thread
pin: the float64 and float32 GEMM rates (``numpy.matmul`` through the BLAS
NumPy links) and a STREAM-like copy rate (``numpy.copyto`` of 128 MiB,
counting the bytes read and written). Each inner loop is timed on a problem
of realistic size, its floating-point work (and memory traffic) counted from
its algorithm, and its *efficiency* reported as the roofline time
``max(flops / GEMM rate, bytes / copy rate)`` over the measured time: 1.0
would be the machine's limit for that amount of work.

Used by ``report_all.py`` (inside ``benchmarks/.venv-bench``).
"""

import time
import warnings

import numpy as np


def _best(fn, repeats=5, min_time=0.05):
    """Best time of ``repeats`` calls (each call repeated until ``min_time``)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = min(best, elapsed / n)
    return best


def machine_rates(n=1000):
    """float64 and float32 GEMM rates (GFLOP/s) and the copy rate (GB/s)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    dgemm = 2.0 * n**3 / _best(lambda: A @ B, 3) / 1e9
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    sgemm = 2.0 * n**3 / _best(lambda: A32 @ B32, 3) / 1e9
    size = 2**24  # 128 MiB per array: far beyond the caches
    src, dst = np.ones(size), np.empty(size)
    copy = 2.0 * 8 * size / _best(lambda: np.copyto(dst, src), 3) / 1e9
    return {"dgemm_gflops": dgemm, "sgemm_gflops": sgemm, "copy_gbs": copy}


def _row(name, loop, seconds, flops, bytes_, rates, what, extra=None, sflops=0.0):
    """One row: achieved rates and efficiency against the roofline.

    ``sflops`` is the part of ``flops`` done in float32 (measured against the
    float32 GEMM rate)."""
    dflops = flops - sflops
    ideal = max(dflops / (rates["dgemm_gflops"] * 1e9)
                + sflops / (rates["sgemm_gflops"] * 1e9),
                bytes_ / (rates["copy_gbs"] * 1e9))
    bound = "flops" if ideal * rates["copy_gbs"] * 1e9 >= bytes_ * 0.999 else "memory"
    row = {
        "learner": name, "loop": loop, "problem": what, "seconds": seconds,
        "gflops": flops / seconds / 1e9, "gbs": bytes_ / seconds / 1e9,
        "efficiency": ideal / seconds, "bound": bound,
    }
    row.update(extra or {})
    return row


def itml_sweep(rates, d=64, m=4000, sweeps=20):
    """ITML: cyclic Bregman projections. Every constraint visited costs
    ``u = M v`` (``2 d^2`` flops); one that changes ``M`` adds the rank-one
    update (``2 d^2`` more, about ``4 d^2`` in all). ``M`` is read once per
    visit and read and written once more per update when it is not
    cache-resident."""
    from sklearn.datasets import make_classification

    from metriclearn import Constraints
    from metriclearn._itml import itml_default_bounds
    from metriclearn._kernels.itml import bregman_sweep

    X, y = make_classification(n_samples=2000, n_features=d, n_informative=d // 2,
                               n_redundant=0, n_classes=4, random_state=0)
    idx, labels = Constraints(y, unlabeled=None).pairs(m // 2, random_state=0)
    V = np.ascontiguousarray(X[idx[:, 0]] - X[idx[:, 1]])
    lo, hi = itml_default_bounds(X, np.eye(d), random_state=0)
    delta = np.where(labels == 1, 1.0, -1.0)
    xi0 = np.where(labels == 1, hi, lo).astype(np.float64)
    M, lam, xi = np.eye(d), np.zeros(V.shape[0]), xi0.copy()
    bregman_sweep(M, V, delta, lam, xi, 1.0)  # compile / load, and settle
    updates, t0 = 0, time.perf_counter()
    for _ in range(sweeps):
        updates += bregman_sweep(M, V, delta, lam, xi, 1.0)
    seconds = time.perf_counter() - t0
    in_cache = 8 * d * d <= 256 * 1024
    visits = V.shape[0] * sweeps
    flops = 2.0 * d * d * (visits + updates)
    traffic = 8.0 * d * d * (visits + 2 * updates)
    return _row("itml", "Bregman sweep (numba)", seconds, flops,
                0.0 if in_cache else traffic, rates,
                f"d={d}, {V.shape[0]} pairs, {sweeps} sweeps",
                {"visits_per_s": visits / seconds, "updates_per_s": updates / seconds,
                 "active_fraction": updates / visits})


def mmc_gradient(rates, d=64, n=2000):
    """MMC (full): one gradient evaluation, ``||d||_M`` of every dissimilar
    pair (``n d^2`` flops, symmetric half) and ``sum w d d^T`` as blocked
    GEMMs (``2 n d^2``)."""
    from metriclearn._kernels.distances import paired_sq_mahalanobis, weighted_outer_sum

    rng = np.random.default_rng(0)
    D = rng.standard_normal((n, d))
    A = rng.standard_normal((d, d))
    M = A @ A.T / d

    def step():
        dist = np.sqrt(paired_sq_mahalanobis(D, M))
        weighted_outer_sum(D, 0.5 / dist)

    seconds = _best(step)
    t_dist = _best(lambda: paired_sq_mahalanobis(D, M))
    t_outer = _best(lambda: weighted_outer_sum(D, np.ones(n)))
    return _row("mmc", "gradient: distances + weighted outer sum", seconds,
                3.0 * n * d * d, 0.0, rates, f"d={d}, {n} dissimilar pairs",
                {"distances_gflops": n * d * d / t_dist / 1e9,
                 "outer_sum_gflops": 2.0 * n * d * d / t_outer / 1e9})


def mmc_projection(rates, d=64):
    """MMC (full): the projection onto ``{PSD, trace <= 1}``: one symmetric
    eigendecomposition and the reconstruction ``V diag(w) V^T``. Counted
    against LAPACK's ``eigh`` plus one GEMM, timed here on the same matrix:
    the limit is what the libraries NumPy links can do."""
    from metriclearn._kernels.mmc import project_psd_trace

    rng = np.random.default_rng(0)
    A = rng.standard_normal((d, d))
    M = (A + A.T) / 2
    seconds = _best(lambda: project_psd_trace(M, 1.0))

    def reference():
        w, V = np.linalg.eigh(M)
        (V * np.maximum(w, 0.0)) @ V.T

    ref = _best(reference)
    t_eigh = _best(lambda: np.linalg.eigh(M))
    row = _row("mmc", "projection: eigh + reconstruction", seconds, 0.0, 0.0, rates,
               f"d={d}")
    row.update({"gflops": float("nan"), "efficiency": ref / seconds,
                "bound": "LAPACK eigh", "reference_s": ref,
                "reconstruction_share": max(seconds - t_eigh, 0.0) / seconds})
    return row


def mmc_diagonal(rates, d=64, n=2000):
    """MMC (diagonal): value, gradient and Hessian of Xing's ``h(a)``, whose
    Hessian sums an outer product per dissimilar pair (``2 n d^2`` flops)."""
    from metriclearn._kernels.mmc import diagonal_objective

    rng = np.random.default_rng(0)
    Q = rng.standard_normal((n, d)) ** 2
    s = Q[:200].sum(axis=0)
    a = np.ones(d)
    seconds = _best(lambda: diagonal_objective(a, s, Q, 1.0))
    return _row("mmc_diag", "objective, gradient and Hessian", seconds,
                2.0 * n * d * d, 0.0, rates, f"d={d}, {n} dissimilar pairs")


def lmnn_evaluation(rates, n=3500, d=50):
    """LMNN: one loss-and-gradient evaluation inside a real fit. Counted:
    ``Z = X L^T`` (``2 n d r``), the float32 tiles of the impostor search
    over every pair of points of different classes (``2 r`` each), the two
    ``d x d`` outer sums (``2 n d^2`` each) and the gradient ``2 L A``
    (``2 r d^2``)."""
    from sklearn.datasets import make_classification

    from metriclearn import LMNN, _lmnn

    X, y = make_classification(n_samples=n, n_features=d, random_state=0)
    counts = np.bincount(y)
    n_diff = (n * n - int(np.sum(counts.astype(np.int64) ** 2))) / 2
    stats = {"calls": 0, "seconds": 0.0}
    original = _lmnn._Problem.loss_grad

    def counted(self, L_flat):
        t0 = time.perf_counter()
        out = original(self, L_flat)
        stats["seconds"] += time.perf_counter() - t0
        stats["calls"] += 1
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LMNN(n_neighbors=3, random_state=0, max_iter=2).fit(X[:300], y[:300])  # warm-up
    _lmnn._Problem.loss_grad = counted
    try:
        t0 = time.perf_counter()
        est = LMNN(n_neighbors=3, random_state=0).fit(X, y)
        fit_s = time.perf_counter() - t0
    finally:
        _lmnn._Problem.loss_grad = original
    r = est.components_.shape[0]
    per_eval = stats["seconds"] / max(stats["calls"], 1)
    tiles = 2.0 * r * n_diff
    flops = 2.0 * n * d * r + tiles + 2 * 2.0 * n * d * d + 2.0 * r * d * d
    return _row("lmnn", "loss + gradient evaluation", per_eval, flops, 0.0, rates,
                f"n={n}, d={d}, k=3", {"evaluations": stats["calls"],
                                       "share_of_fit": stats["seconds"] / fit_s},
                sflops=tiles)


def sgd_kernel(rates, d=64, k=64, batch=1024, n_points=20000, n_pairs=400_000):
    """SGD: the mini-batch kernel, ``4 B k d`` flops per batch (``Z = D L^T``
    and ``G = (w Z)^T D``), on random index pairs."""
    from metriclearn._kernels.sgd import sgd_steps

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_points, d))
    pairs = rng.integers(n_points, size=(n_pairs, 2), dtype=np.int32)
    labels = np.where(rng.random(n_pairs) < 0.5, 1, -1).astype(np.int8)
    L0 = np.eye(k, d) * 0.1
    precond = np.full(d, 1.0 / (2 * d))
    order = rng.permutation(n_pairs)
    etas = np.full(-(-n_pairs // batch), 0.05)
    sgd_steps(X, pairs, labels, order[: 20 * batch], L0, etas[:20], batch, 1.0, 1.0,
              precond)
    seconds = _best(lambda: sgd_steps(X, pairs, labels, order, L0, etas, batch, 1.0,
                                      1.0, precond), repeats=3, min_time=0.0)
    return _row("sgd", "mini-batch kernel (sgd_steps)", seconds,
                4.0 * batch * k * d * etas.shape[0], 0.0, rates,
                f"d=k={d}, batch {batch}, {n_pairs:,} pairs",
                {"pairs_per_s": n_pairs / seconds})


LOOPS = (itml_sweep, mmc_gradient, mmc_projection, mmc_diagonal, lmnn_evaluation,
         sgd_kernel)


def measure(quick=False):
    """The machine's rates and every inner loop's row (call under the pin)."""
    rates = machine_rates()
    rows = []
    for loop in LOOPS:
        kwargs = {}
        if quick and loop is lmnn_evaluation:
            kwargs = {"n": 1000}
        if quick and loop is sgd_kernel:
            kwargs = {"n_pairs": 100_000}
        try:
            rows.append(loop(rates, **kwargs))
        except Exception as exc:  # a broken loop is a row, not a crash
            rows.append({"learner": loop.__name__, "loop": loop.__name__,
                         "error": f"{type(exc).__name__}: {exc}"})
    return {"rates": rates, "rows": rows}


def biggest_gaps(rows, n=3):
    """The ``n`` loops furthest from their limit (lowest efficiency)."""
    good = [r for r in rows if "efficiency" in r and np.isfinite(r["efficiency"])]
    return sorted(good, key=lambda r: r["efficiency"])[:n]
