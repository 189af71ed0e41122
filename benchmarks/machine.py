"""What a run ran on: versions, CPU, load average, BLAS, numba cache, and the machine's rates."""

import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from .env import BLAS_VARS
from .threads import blas_pools

PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "threadpoolctl", "metriclearn",
            "metric-learn", "PyLMNN", "dask")


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average():
    """The 1, 5 and 15 minute load averages."""
    return list(os.getloadavg())


def wait_for_quiet(max_load, waits, log=print):
    """Wait, 30 s at a time and ``waits`` times at most, for the 1-minute load
    average to fall to ``max_load``; return the load averages seen."""
    seen = [os.getloadavg()[0]]
    for _ in range(waits):
        if seen[-1] <= max_load:
            break
        log(f"[bench] load average {seen[-1]:.2f} > {max_load}: waiting 30 s")
        time.sleep(30)
        seen.append(os.getloadavg()[0])
    return seen


def numba_cache():
    """Where numba caches metriclearn's kernels, and whether it holds any."""
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        where = Path(custom)
        n_index = sum(1 for _ in where.rglob("*.nbi")) if where.exists() else 0
    else:
        spec = find_spec("metriclearn")
        where = Path(spec.submodule_search_locations[0]) / "_kernels" / "__pycache__"
        n_index = len(list(where.glob("*.nbi"))) if where.exists() else 0
    return {"dir": str(where), "index_files": n_index, "state": "warm" if n_index else "cold"}


def context(suite, argv):
    """Everything a report header shows, gathered before any timing."""
    import numpy  # noqa: F401  (loads the BLAS libraries threadpoolctl reports)
    import scipy.linalg  # noqa: F401

    return {
        "suite": suite,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "versions": {name: _version(name) for name in PACKAGES},
        "blas_env": {name: os.environ.get(name) for name in BLAS_VARS},
        "blas_default": blas_pools(),
        "numba_cache": numba_cache(),
    }


def rates(n=1000, copy_mib=128):
    """float64 and float32 GEMM rates (GFLOP/s, ``n x n``) and a STREAM-like
    copy rate (GB/s, bytes read plus written), medians; call under the pin."""
    import numpy as np

    from .timer import median_time

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    dgemm = 2.0 * n**3 / median_time(lambda: A @ B)[0] / 1e9
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    sgemm = 2.0 * n**3 / median_time(lambda: A32 @ B32)[0] / 1e9
    size = copy_mib * 2**20 // 8  # far beyond the caches
    src, dst = np.ones(size), np.empty(size)
    copy = 2.0 * 8 * size / median_time(lambda: np.copyto(dst, src))[0] / 1e9
    return {"dgemm_gflops": dgemm, "sgemm_gflops": sgemm, "copy_gbs": copy,
            "gemm_n": n}
