"""Thread counts of a fit: numba's (opt-in parallelism, ``n_jobs``) and
BLAS's (held at one thread inside blocked kernels), always restored."""

from contextlib import contextmanager
from functools import lru_cache

import numba
from threadpoolctl import ThreadpoolController

__all__ = ["limit_threads", "numba_threads"]


@lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries loaded in this process (inspected once: a fresh
    inspection costs milliseconds, more than a small fit)."""
    return ThreadpoolController()


def numba_threads(n_jobs):
    """numba threads for ``n_jobs`` (None means 1, negative counts back from
    the number of threads numba may use)."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return 1
    if n_jobs == 0:
        raise ValueError(
            "n_jobs=0 is not a number of threads: use None or 1 for one thread, "
            "a positive count, or a negative one (-1 for all of them)"
        )
    if n_jobs < 0:
        return max(available + 1 + n_jobs, 1)
    return min(n_jobs, available)


@contextmanager
def limit_threads(threads, blas=1):
    """Run the body with ``threads`` numba threads and ``blas`` BLAS threads,
    then restore both."""
    previous = numba.get_num_threads()
    try:
        if threads != previous:
            numba.set_num_threads(threads)
        with _blas_controller().limit(limits=blas, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)
