"""What the benchmark ran on: versions, BLAS kernel and threads, OpenBLAS
variables, numba cache state and the machine's GEMM rate."""

import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import numpy as np

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "threadpoolctl",
            "metriclearn", "metric-learn")
COLD_CACHE_PREFIX = "metriclearn-bench-numba-"


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
    """The 1, 5 and 15 minute load averages, or None where unknown."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def blas_info():
    """The thread pools threadpoolctl sees, with their kernel and thread count."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "architecture", "num_threads", "version")
    return [
        {**{k: pool.get(k) for k in keys},
         "library": os.path.basename(pool.get("filepath", ""))}
        for pool in threadpool_info()
    ]


def numba_cache_state():
    """Where numba caches metriclearn's kernels and how many index files exist.

    With a warm cache the first call of a process loads compiled kernels
    instead of compiling them.
    """
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        where = Path(custom)
        n_index = sum(1 for _ in where.rglob("*.nbi")) if where.exists() else 0
    else:
        spec = find_spec("metriclearn")
        where = Path(spec.submodule_search_locations[0]) / "_kernels" / "__pycache__"
        n_index = len(list(where.glob("*.nbi"))) if where.exists() else 0
    return {"dir": str(where), "index_files": n_index,
            "state": "warm" if n_index else "cold"}


def gemm_gflops(n=1000, repeats=3):
    """Double-precision GEMM rate (best of ``repeats`` n x n products), in GFLOP/s.

    Measured under the benchmark's thread pin, as the yardstick of the
    machine's arithmetic peak.
    """
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    A @ B  # first call: thread pool start-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def collect(args):
    """Everything the report header shows, gathered before any timing."""
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "versions": {name: _version(name) for name in PACKAGES},
        "threads": args.threads,
        "native_blas": args.native_blas,
        "blas_env": {name: os.environ.get(name) for name in BLAS_VARS},
        "blas_default": blas_info(),
        "numba_cache": numba_cache_state(),
        "repeats": args.repeats,
        "anchor_repeats": args.anchor_repeats,
        "features": "raw (not standardised)",
    }


def cleanup(env):
    """Remove the throw-away numba cache of ``--cold-numba``, if any."""
    where = Path(env["numba_cache"]["dir"])
    if where.name.startswith(COLD_CACHE_PREFIX):
        shutil.rmtree(where, ignore_errors=True)
