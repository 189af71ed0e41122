"""The one peak-memory measure: resident set size above the start, read from the kernel.

Linux keeps a high-water mark of each process's resident set size
(``VmHWM``); writing ``5`` to ``/proc/self/clear_refs`` resets it to the
current size. The measure is that mark minus the size at the reset: every
allocation counts (NumPy's, numba's, BLAS work buffers, C extensions), at no
cost to the timing. glibc's free heap is handed back before each reset, and
the tool runs with ``MALLOC_MMAP_THRESHOLD_`` set (see :data:`MALLOC_ENV`),
so large arrays are mapped and unmapped rather than recycled in the heap,
and a measured call cannot reuse memory an earlier one freed without it
showing. Standard library only.
"""

import ctypes

# Set in the environment before the interpreter starts (glibc reads it once).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}

_STATUS = "/proc/self/status"
_libc = None


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
    """glibc's ``malloc_trim(0)``; a no-op where glibc is absent."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def reset_peak():
    """Trim the heap, reset the high-water mark; return the current RSS in KiB
    (None where the kernel offers no reset)."""
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def peak_above(start_kib):
    """Peak RSS since :func:`reset_peak` minus the RSS then, in MiB (or None)."""
    if start_kib is None:
        return None
    peak = _status_kib("VmHWM")
    return None if peak is None else max(peak - start_kib, 0) / 1024
