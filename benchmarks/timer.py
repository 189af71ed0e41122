"""The one timer: warm-up apart, wall and CPU time, medians, interleaved libraries, time limits.

Every measured call goes through :func:`measure`: ``gc.collect()`` first,
then ``time.perf_counter`` (wall) and ``time.process_time`` (CPU, all
threads of the process) around the call alone, the peak memory of
:mod:`.memory`, the warnings it raised and any exception with its traceback.
The first call of a process pays numba's compilation (or its cache loading):
the suites make it apart, report its time as *first call*, and never put it
inside a median (:func:`median_time` does the same for kernels).
"""

import gc
import signal
import statistics
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .memory import peak_above, reset_peak


class TimeLimit(Exception):
    """A call ran past its time limit."""


@contextmanager
def time_limit(seconds):
    """Raise :class:`TimeLimit` in the main thread after ``seconds`` (None: no
    limit); Python loops are interrupted between two bytecodes."""
    if not seconds:
        yield
        return

    def _raise(signum, frame):
        raise TimeLimit(f"stopped after the time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Sample:
    """One measured call: its cost, what it returned, or what went wrong."""

    wall: float = float("nan")
    cpu: float = float("nan")
    rss_mib: float | None = None
    value: Any = None
    warnings: list = field(default_factory=list)
    error: str | None = None

    @property
    def timed_out(self):
        return self.error is not None and self.error.startswith("TIMEOUT")


def measure(fn, *, timeout=None):
    """Call ``fn()`` once and measure it (see the module docstring)."""
    gc.collect()
    out = Sample()
    start_kib = reset_peak()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            with time_limit(timeout):
                out.value = fn()
        except TimeLimit as exc:
            out.error = f"TIMEOUT: {exc}"
        except Exception as exc:  # any failure is a result to report
            # the limit raised inside compiled code surfaces as a SystemError
            # of numba's dispatcher, with the TimeLimit as its context
            limit = next((e for e in (exc.__cause__, exc.__context__)
                          if isinstance(e, TimeLimit)), None)
            out.error = f"TIMEOUT: {limit}" if limit else traceback.format_exc()
        out.cpu = time.process_time() - cpu0
        out.wall = time.perf_counter() - wall0
    out.rss_mib = peak_above(start_kib)
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


def fit_maker(factory, fit_args):
    """For :func:`interleave`: a function that builds a fresh estimator
    (outside the timer) and returns the call of its ``fit``."""

    def make():
        est = factory()
        return lambda: est.fit(*fit_args)

    return make


def measure_fit(factory, fit_args, *, timeout=None):
    """:func:`measure` of ``factory().fit(*fit_args)``, the estimator built
    outside the timer; the fitted estimator is the sample's ``value``."""
    return measure(fit_maker(factory, fit_args)(), timeout=timeout)


def summary(samples):
    """Medians of the successful samples: wall, CPU, peak RSS."""
    good = [s for s in samples if s.error is None]
    rss = [s.rss_mib for s in good]
    return {
        "n": len(good),
        "wall": [s.wall for s in good],
        "cpu": [s.cpu for s in good],
        "wall_median": statistics.median(s.wall for s in good) if good else None,
        "cpu_median": statistics.median(s.cpu for s in good) if good else None,
        "rss_mib": statistics.median(rss) if good and None not in rss else None,
        "error": next((s.error for s in samples if s.error is not None), None),
        "warnings": sorted({w for s in samples for w in s.warnings}),
    }


def interleave(calls, repeats, *, slow=None, timeout=None):
    """Measure several libraries' calls in rounds: ``A B A B ...``.

    ``calls`` maps a name to a function that builds a fresh call (so the
    estimator is built outside the timer), ``repeats`` a name to its number
    of measured calls. Round ``r`` measures each name that still has repeats
    left, so a change in the machine's load falls on every library alike. A
    name whose first call took over ``slow`` seconds is measured once; one
    that fails is not measured again. Returns ``{name: [Sample, ...]}``.
    """
    samples = {name: [] for name in calls}
    failed = set()
    slow = slow or float("inf")
    for r in range(max(repeats.values(), default=0)):
        for name, make in calls.items():
            if name in failed or r >= repeats[name]:
                continue
            if r > 0 and samples[name] and samples[name][0].wall > slow:
                continue
            sample = measure(make(), timeout=timeout)
            samples[name].append(sample)
            if sample.error is not None:
                failed.add(name)
    return samples


def steady_fits(calls, first, *, rounds=3, target=0.25, max_calls=100):
    """Seconds per fit of fits run back to back, the way ``timeit`` and
    pyperf time short calls; libraries interleaved round by round.

    A single measured call (:func:`measure`) starts from a collected heap
    and caches its own work has not warmed: for a fit of a few milliseconds
    that start is a fixed cost of the measurement, not of the fit. Here each
    round builds ``k`` estimators (outside the timer; ``k`` such that the
    round lasts about ``target`` seconds by the ``first`` single-call times,
    at most ``max_calls``), collects garbage, then times the ``k`` fits in a
    row with the collector paused, and keeps the time per fit. ``calls``
    maps a name to a function that builds a fresh call, as for
    :func:`interleave`; names whose single call failed are left out by the
    caller. Returns ``{name: median seconds per fit over the rounds}``.
    """
    counts = {name: max(1, min(max_calls, int(target / max(first[name], 1e-6))))
              for name in calls}
    per_fit = {name: [] for name in calls}
    for _ in range(rounds):
        for name, make in calls.items():
            fits = [make() for _ in range(counts[name])]
            gc.collect()
            gc.disable()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    for fit in fits:
                        fit()
                    per_fit[name].append((time.perf_counter() - t0) / len(fits))
            finally:
                gc.enable()
    return {name: statistics.median(v) for name, v in per_fit.items()}


def median_time(fn, *, repeats=5, min_time=0.0):
    """Median seconds per call of ``fn()`` after one warm-up call.

    Each of the ``repeats`` measurements calls ``fn`` until ``min_time`` has
    passed (for calls far shorter than the clock's resolution). Returns
    ``(median seconds per call, first call seconds)``.
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        times.append(elapsed / n)
    return statistics.median(times), first
