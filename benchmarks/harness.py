"""Timing harness: fits every library on the same constraints, interleaved,
with BLAS threads pinned, and collects times, objectives and accuracies.

Run through ``benchmarks/run.py``, which provides the environment; the test
suite never imports this module.
"""

import gc
import statistics
import time
import traceback
import tracemalloc
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import data
import envinfo
import numpy as np
import report
from registry import LEARNERS, OURS


@dataclass
class Fit:
    """One fit call: its cost, the fitted estimator, or what went wrong."""

    wall: float = float("nan")
    cpu: float = float("nan")
    estimator: Any = None
    warnings: list = field(default_factory=list)  # (text, "fit" or "transform")
    error: str | None = None


def _warning_text(w):
    return f"{w.category.__name__}: {w.message}"


def _merge_warnings(fits):
    """Distinct warnings of ``fits``, each with where it was raised."""
    where = {}
    for fit in fits:
        for text, origin in fit.warnings:
            where.setdefault(text, set()).add(origin)
    return [f"{text} (in {', '.join(sorted(origins))})"
            for text, origins in sorted(where.items())]


@contextmanager
def pinned_threads(n_threads):
    """Limit BLAS, OpenMP and numba to ``n_threads`` threads, then restore."""
    from threadpoolctl import threadpool_limits

    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency of ours
        numba = None
    previous = numba.get_num_threads() if numba is not None else None
    with threadpool_limits(limits=n_threads):
        try:
            if numba is not None:
                numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            yield
        finally:
            if numba is not None:
                numba.set_num_threads(previous)


def fit_once(factory, fit_args):
    """Build an estimator (untimed) and time its ``fit`` on ``fit_args``.

    Wall time is ``time.perf_counter``; CPU time is ``time.process_time``
    (all threads of this process). Warnings raised during the fit are
    recorded, exceptions are caught with their traceback.
    """
    estimator = factory()
    gc.collect()
    result = Fit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            estimator.fit(*fit_args)
        except Exception:  # any failure is a result to report
            result.error = traceback.format_exc()
        result.cpu = time.process_time() - cpu0
        result.wall = time.perf_counter() - wall0
    result.warnings = [(_warning_text(w), "fit") for w in caught]
    if result.error is None:
        result.estimator = estimator
    return result


def peak_memory_mib(factory, fit_args):
    """Peak of the memory traced by ``tracemalloc`` during one extra fit, in MiB.

    Python and NumPy allocations are traced; arrays allocated inside
    numba-compiled code and BLAS work buffers are not. Returns ``None`` when
    the fit raises (the timed fits report the error).
    """
    estimator = factory()
    gc.collect()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(*fit_args)
        _, peak = tracemalloc.get_traced_memory()
    except Exception:  # not this function's to report
        return None
    finally:
        tracemalloc.stop()
    return peak / 2**20


def mahalanobis_matrix(est):
    """``M = L^T L`` of a fitted estimator (pylmnn and scikit-learn's NCA have
    ``components_`` but no ``get_mahalanobis_matrix``)."""
    if hasattr(est, "get_mahalanobis_matrix"):
        return est.get_mahalanobis_matrix()
    return est.components_.T @ est.components_


def metric_rank(M, rtol=1e-8):
    """Numerical rank of a PSD matrix: eigenvalues above ``rtol`` times the largest."""
    w = np.linalg.eigvalsh(0.5 * (M + M.T))
    return int(np.sum(w > rtol * max(w.max(), 0.0))) if w.size else 0


def _score(learner, fit, ds, constraints):
    """Objective, 3-NN accuracy, n_iter and convergence of a fitted estimator.

    Warnings raised while scoring (by ``transform``) are added to the fit's.
    """
    est = fit.estimator
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            objective = learner.objective(est, constraints)
            accuracy = data.knn_accuracy(ds, est.transform)
        except Exception:  # reported like a failed fit
            return {"score_error": traceback.format_exc()}
    fit.warnings += [(_warning_text(w), "transform") for w in caught]
    n_iter = getattr(est, "n_iter_", None)
    converged = getattr(est, "converged_", None)
    return {
        "objective": objective,
        "rank": metric_rank(mahalanobis_matrix(est)),
        "knn_accuracy": accuracy,
        "n_iter": None if n_iter is None else int(n_iter),
        "converged": None if converged is None else bool(converged),
    }


def _library_summary(learner, fits, ds, constraints):
    """Medians, scores of the last successful fit and the warnings of all fits."""
    good = [f for f in fits if f.error is None]
    scores = _score(learner, good[-1], ds, constraints) if good else {}
    out = {
        "n_fits": len(good),
        "wall": [f.wall for f in good],
        "cpu": [f.cpu for f in good],
        "wall_median": statistics.median(f.wall for f in good) if good else None,
        "cpu_median": statistics.median(f.cpu for f in good) if good else None,
        "warnings": _merge_warnings(fits),
        "error": next((f.error for f in fits if f.error is not None), None),
    }
    out.update(scores)
    if "objective" in scores:
        values = [learner.objective(f.estimator, constraints) for f in good]
        out["objective_spread"] = max(values) - min(values)
    return out


def _repeats(library, args):
    return args.repeats if library == OURS else args.anchor_repeats


def run_cell(learner, ds, constraints, args):
    """Time one learner on one data set in every library.

    metriclearn is fitted once untimed first (numba compiles on the first
    call of a process; that call's wall time is reported as ``first_call``).
    Then the libraries' timed fits are interleaved: round ``r`` fits every
    library that still has repeats left, in registry order.
    """
    libraries = list(learner.estimators)
    fits = {lib: [] for lib in libraries}
    warm = fit_once(learner.estimators[OURS], constraints.fit_args)
    failed = {OURS} if warm.error is not None else set()
    if warm.error is not None:
        fits[OURS].append(warm)
    for r in range(max(args.repeats, args.anchor_repeats)):
        for lib in libraries:
            if lib in failed or r >= _repeats(lib, args):
                continue
            fit = fit_once(learner.estimators[lib], constraints.fit_args)
            fits[lib].append(fit)
            if fit.error is not None:
                failed.add(lib)
    summary = {lib: _library_summary(learner, fits[lib], ds, constraints)
               for lib in libraries}
    summary[OURS]["first_call"] = warm.wall
    for lib in libraries:
        median = summary[lib]["wall_median"]
        if median is not None and 0 < median <= args.memory_budget:
            summary[lib]["peak_mib"] = peak_memory_mib(
                learner.estimators[lib], constraints.fit_args
            )
    return summary


def _cell_record(name, learner, ds, constraints, libraries):
    """The JSON record of one (data set, learner) cell, with the ratios."""
    ours = libraries[OURS]
    for lib, res in libraries.items():
        if lib == OURS:
            continue
        for key in ("wall", "cpu"):
            a, b = res[f"{key}_median"], ours[f"{key}_median"]
            res[f"ratio_{key}"] = a / b if a is not None and b else None
    return {
        "dataset": ds.name,
        "learner": name,
        "title": learner.title,
        "params": learner.params,
        "higher_is_better": learner.higher_is_better,
        "n_train": int(ds.X_train.shape[0]),
        "n_test": int(ds.X_test.shape[0]),
        "n_features": int(ds.n_features),
        "n_classes": int(ds.n_classes),
        "constraints": constraints.describe(),
        "constraints_digest": constraints.digest(),
        "euclidean_knn_accuracy": data.knn_accuracy(ds),
        "libraries": libraries,
    }


def run(args):
    """Run the benchmark described by the parsed flags; return an exit code."""
    env = envinfo.collect(args)
    with pinned_threads(args.threads):
        env["blas_pinned"] = envinfo.blas_info()
        env["gemm_gflops"] = envinfo.gemm_gflops()
        print("\n".join(report.header_lines(env)), flush=True)
        cells = []
        for ds_name in args.datasets:
            ds = data.load(ds_name)
            drawn = {}
            for name in args.learners:
                learner = LEARNERS[name]
                kind = learner.constraints
                if kind not in drawn:
                    drawn[kind] = data.CONSTRAINTS[kind](ds)
                constraints = drawn[kind]
                print(f"[bench] {ds_name} / {name} ...", flush=True)
                libraries = run_cell(learner, ds, constraints, args)
                cell = _cell_record(name, learner, ds, constraints, libraries)
                cells.append(cell)
                print(report.cell_text(cell), flush=True)
    env["load_average_end"] = envinfo.load_average()
    paths = report.write(env, cells, args.out)
    print(report.markdown(env, cells))
    print("[bench] wrote " + ", ".join(str(p) for p in paths))
    envinfo.cleanup(env)
    # exit 1 when metriclearn itself failed somewhere; anchors may fail freely
    ours = [c["libraries"][OURS] for c in cells]
    return int(any(r.get("error") or r.get("score_error") for r in ours))
