"""Timing harness: fits every library on the same constraints, interleaved,
with BLAS threads pinned, and collects times, objectives and accuracies.

Run through ``benchmarks/run.py``, which provides the environment; the test
suite never imports this module.
"""

import gc
import signal
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
    rss_mib: float | None = None  # peak resident set size above the start, MiB


class FitTimeout(Exception):
    """A fit ran past the harness's time limit (``--fit-timeout``)."""


_STATUS = "/proc/self/status"


def _status_kib(key):
    """A ``VmRSS``/``VmHWM`` line of ``/proc/self/status``, in KiB (or None)."""
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _malloc_trim():
    """Hand the free memory of malloc's heaps back to the system (glibc's
    ``malloc_trim(0)``), so a fit cannot reuse memory an earlier one freed
    without it showing in the RSS; a no-op where glibc is absent."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def reset_peak_rss():
    """Trim malloc's free memory, then reset the kernel's peak-RSS mark of
    this process to its current RSS (Linux >= 4.0: ``echo 5 >
    /proc/self/clear_refs``); return the current RSS in KiB, or None where
    that is not available."""
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def peak_rss_above(start_kib):
    """Peak RSS since :func:`reset_peak_rss` minus the RSS then, in MiB.

    Unlike ``tracemalloc`` this sees every allocation (numba's, BLAS work
    buffers, C extensions). ``report_all.py`` sets ``MALLOC_MMAP_THRESHOLD_``
    so that large arrays are mapped and unmapped rather than recycled inside
    the heap, and :func:`reset_peak_rss` trims the heap, so a fit cannot
    reuse memory freed by an earlier one unseen.
    """
    if start_kib is None:
        return None
    peak = _status_kib("VmHWM")
    return None if peak is None else max(peak - start_kib, 0) / 1024


@contextmanager
def time_limit(seconds):
    """Raise :class:`FitTimeout` in the main thread after ``seconds`` of wall
    time (``None``: no limit). The anchors' solvers are Python loops, which
    the signal interrupts between two bytecodes."""
    if not seconds:
        yield
        return

    def _raise(signum, frame):
        raise FitTimeout(f"fit stopped after the time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


def fit_once(factory, fit_args, timeout=None):
    """Build an estimator (untimed) and time its ``fit`` on ``fit_args``.

    Wall time is ``time.perf_counter``; CPU time is ``time.process_time``
    (all threads of this process); the peak resident set size above the RSS
    at the start of the fit is read from the kernel (no cost to the timing).
    Warnings raised during the fit are recorded, exceptions are caught with
    their traceback; a fit longer than ``timeout`` seconds is stopped and
    reported as an error starting with ``TIMEOUT``.
    """
    estimator = factory()
    gc.collect()
    result = Fit()
    start_kib = reset_peak_rss()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            with time_limit(timeout):
                estimator.fit(*fit_args)
        except FitTimeout as exc:
            result.error = f"TIMEOUT: {exc}"
        except Exception:  # any failure is a result to report
            result.error = traceback.format_exc()
        result.cpu = time.process_time() - cpu0
        result.wall = time.perf_counter() - wall0
    result.rss_mib = peak_rss_above(start_kib)
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
            clustering = data.clustering_accuracy(ds, est.transform)
        except Exception:  # reported like a failed fit
            return {"score_error": traceback.format_exc()}
    fit.warnings += [(_warning_text(w), "transform") for w in caught]
    n_iter = getattr(est, "n_iter_", None)
    converged = getattr(est, "converged_", None)
    return {
        "objective": objective,
        "rank": metric_rank(mahalanobis_matrix(est)),
        "knn_accuracy": accuracy,
        "clustering_accuracy": clustering,
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
        "peak_rss_mib": (statistics.median(f.rss_mib for f in good)
                         if good and all(f.rss_mib is not None for f in good) else None),
        "warnings": _merge_warnings(fits),
        "error": next((f.error for f in fits if f.error is not None), None),
    }
    out.update(scores)
    if "objective" in scores:
        values = [learner.objective(f.estimator, constraints) for f in good]
        if all(np.isfinite(values)):
            out["objective_spread"] = max(values) - min(values)
    return out


def _repeats(library, args):
    return args.repeats if library == OURS else args.anchor_repeats


def run_cell(learner, ds, constraints, args):
    """Time one learner on one data set in every library.

    metriclearn is fitted once untimed first (numba compiles on the first
    call of a process; that call's wall time is reported as ``first_call``).
    Then the libraries' timed fits are interleaved: round ``r`` fits every
    library that still has repeats left, in registry order. A library whose
    first timed fit took longer than ``args.slow_fit`` seconds is not fitted
    again (its single time is reported), and a fit longer than
    ``args.fit_timeout`` seconds is stopped and reported as a time-out.
    """
    libraries = list(learner.estimators)
    fits = {lib: [] for lib in libraries}
    timeout = getattr(args, "fit_timeout", None)
    slow = getattr(args, "slow_fit", None) or float("inf")
    warm = fit_once(learner.estimators[OURS], constraints.fit_args, timeout)
    failed = {OURS} if warm.error is not None else set()
    if warm.error is not None:
        fits[OURS].append(warm)
    for r in range(max(args.repeats, args.anchor_repeats)):
        for lib in libraries:
            if lib in failed or r >= _repeats(lib, args):
                continue
            if r > 0 and fits[lib] and fits[lib][0].wall > slow:
                continue
            fit = fit_once(learner.estimators[lib], constraints.fit_args, timeout)
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
        "euclidean_clustering_accuracy": data.clustering_accuracy(ds),
        "libraries": libraries,
    }


def run_cells(args, env):
    """Every (data set, learner) cell of the flags, under the thread pin;
    fills ``env`` with the pinned BLAS and GEMM rate; returns the cells."""
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
    return cells


def run(args):
    """Run the benchmark described by the parsed flags; return an exit code."""
    env = envinfo.collect(args)
    cells = run_cells(args, env)
    env["load_average_end"] = envinfo.load_average()
    paths = report.write(env, cells, args.out)
    print(report.markdown(env, cells))
    print("[bench] wrote " + ", ".join(str(p) for p in paths))
    envinfo.cleanup(env)
    # exit 1 when metriclearn itself failed somewhere; anchors may fail freely
    ours = [c["libraries"][OURS] for c in cells]
    return int(any(r.get("error") or r.get("score_error") for r in ours))
