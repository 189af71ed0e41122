"""The one thread pin: BLAS/OpenMP through threadpoolctl and numba, the same for every library."""

import os
from contextlib import contextmanager


@contextmanager
def pinned(n_threads=1, numba_threads=None):
    """Limit BLAS, OpenMP and numba to ``n_threads`` threads, then restore them.

    With ``numba_threads`` different from ``n_threads`` only BLAS is limited
    (a limit on OpenMP would cap numba's ``omp`` pool too) and numba gets
    ``numba_threads``: how a learner's ``n_jobs`` is measured on its own.
    """
    import numba
    from threadpoolctl import threadpool_limits

    numba_threads = n_threads if numba_threads is None else numba_threads
    user_api = None if numba_threads == n_threads else "blas"
    previous = numba.get_num_threads()
    with threadpool_limits(limits=n_threads, user_api=user_api):
        try:
            numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
            yield
        finally:
            numba.set_num_threads(previous)


def child_env(n_threads=1):
    """Environment of worker processes (Dask workers): the same pin, set
    before their libraries load."""
    value = str(n_threads)
    return {**os.environ, "OPENBLAS_NUM_THREADS": value, "OMP_NUM_THREADS": value,
            "MKL_NUM_THREADS": value, "NUMBA_NUM_THREADS": value}


def blas_pools():
    """The thread pools threadpoolctl sees: kernel, version, thread count."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "architecture", "num_threads", "version")
    return [{**{k: pool.get(k) for k in keys},
             "library": os.path.basename(pool.get("filepath", ""))}
            for pool in threadpool_info()]


def describe_pools(pools):
    """One line for the report header."""
    return "; ".join(
        f"{p['internal_api']} {p['version']} ({p['user_api']}, "
        f"architecture={p['architecture']}, num_threads={p['num_threads']}, "
        f"{p['library']})" for p in pools) or "none found"
