"""numba kernels: arrays in, arrays out.

One module per algorithm (:mod:`.itml`, :mod:`.lmnn` with its impostor
search in :mod:`.lmnn_impostors` and :mod:`.lmnn_incremental`, :mod:`.mmc`,
:mod:`.sgd`, :mod:`.sgd_triplets`, :mod:`.sgd_mining`, :mod:`.cluster`), and
:mod:`.distances` for what the Mahalanobis learners share. Kernels never see
an estimator, never import scikit-learn and keep no mutable global state.

Kernels never write into arrays the user gave an estimator: the estimators
convert their inputs once (float64, C order, ``np.intp`` indices) and the
kernels only read them. Each kernel's docstring marks its array arguments:

- IN: only read (it may be a read-only array). An argument not marked OUT
  or INOUT is IN.
- OUT: a work or result array the caller allocated, which the kernel writes
  without reading what was in it before.
- INOUT: state read and updated in place, such as ITML's ``M``, ``lam`` and
  ``xi`` in :func:`.itml.bregman_sweep`. It belongs to the solver that
  allocated it, never to the user.

Arrays a kernel returns are allocated by the kernel and belong to the caller.

Where a loop pays for threads, one Python function is compiled twice: the
public name is the serial kernel, and a private ``..._parallel`` twin is
compiled with ``parallel=True`` so that its ``prange`` loop runs on numba's
threads; :func:`serial_and_parallel` compiles both, each with its own cache
files (numba would otherwise give both one cached version). A getter
chooses between them by the thread count of the fit:
``get_target_neighbors(n_jobs)`` and ``get_push_loss_terms(n_jobs)``
(:mod:`.lmnn`) and ``get_paired_sq_mahalanobis(n_jobs)`` (:mod:`.distances`)
return the serial kernel when ``n_jobs`` is ``None`` or 1 and the twin
otherwise; the caller sets (and restores) numba's number of threads. Each
iteration of a ``prange`` loop writes only its own rows or its own copy of
the outputs, so a twin gives its serial kernel's result whatever the number
of threads (that of ``push_loss_terms`` depends on its ``n_groups``
argument instead).
"""

import os
import tempfile
import types

import numba

__all__ = ["cache_dir", "serial_and_parallel"]


def _probe():  # pragma: no cover - compiled only if ever called
    return 0


def _ensure_cache_locator():
    """Make ``@njit(cache=True)`` work on a read-only install.

    numba caches next to the source (``__pycache__``) or in the user's cache
    folder; when neither is writable (a package installed read-only, run by
    a user without a writable home) decorating a cached function raises at
    import. Then the kernels cache into a per-user folder of the temporary
    directory instead (``NUMBA_CACHE_DIR``, when set, always wins).
    """
    if numba.config.CACHE_DIR:
        return
    try:
        numba.njit(cache=True)(_probe)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(),
                                              f"metriclearn-numba-cache-{uid}")


def cache_dir():
    """Where the kernels of this process are cached: ``NUMBA_CACHE_DIR`` (or
    the fallback of a read-only install), else numba's default (next to the
    sources, or the user's cache folder)."""
    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR
    cache = getattr(numba.njit(cache=True)(_probe), "_cache", None)
    return getattr(cache, "_cache_path", None)


_ensure_cache_locator()


def serial_and_parallel(func):
    """The serial kernel and its ``prange`` twin (``parallel=True``) of one
    Python function, both cached.

    numba names a function's cache files after its qualified name and first
    line, and its index tells compiled versions apart by signature alone,
    not by ``parallel``: two dispatchers of one function share one cache
    entry, and whichever compiles first is what the other loads. The twin
    is therefore compiled from a copy of the function under the name
    ``<name>_parallel``, so that each version has its own cache files (with
    one shared entry, ``n_jobs=2`` ran the serial code whenever the serial
    kernel had been compiled first).
    """
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_parallel",
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + "_parallel"
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    return numba.njit(cache=True)(func), numba.njit(cache=True, parallel=True)(twin)
