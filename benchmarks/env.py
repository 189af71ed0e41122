"""The benchmark environment: builds ``benchmarks/.venv-bench`` and re-executes the tool in it.

metric-learn 0.7.0 breaks on scikit-learn 1.8 and later, so the anchors run
in their own virtual environment: ``python3 -m venv``, then ``pip install``
of the pinned anchors and of this repository (editable, so the working tree
is what gets timed). The install is redone when the requirements or
``pyproject.toml`` change, or on ``--rebuild-venv``. Standard library only:
this runs before the environment exists.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from .memory import MALLOC_ENV

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-bench"
STAMP = VENV / "metriclearn-bench.stamp"
REQUIREMENTS = (
    "metric-learn==0.7.0",
    "scikit-learn>=1.6,<1.8",  # metric-learn 0.7.0 breaks on 1.8+
    "PyLMNN==1.6.4",
    "six",  # pylmnn imports it without declaring it
    "threadpoolctl>=3.1",
    "matplotlib",
    "dask[distributed]>=2024.1",  # the sgd suite's Dask backend
)
# Set by the parent before re-executing, so the child does not loop.
CHILD_FLAG = "METRICLEARN_BENCH_CHILD"
# OpenBLAS tuning variables the environment may set; --native-blas drops them.
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Prefix of --cold-numba's throw-away numba cache (removed after the run).
COLD_PREFIX = "metriclearn-bench-cold-"


def python():
    """Path of the benchmark environment's interpreter."""
    return VENV / "bin" / "python"


def inside():
    """Whether this process is the re-executed tool inside the environment."""
    return os.environ.get(CHILD_FLAG) == "1"


def _stamp_text():
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return "\n".join([*REQUIREMENTS, f"-e {ROOT}", f"pyproject {digest}", ""])


def ensure(rebuild=False):
    """Create ``benchmarks/.venv-bench`` or bring its packages up to date."""
    if not python().exists():
        print(f"[bench] creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = _stamp_text()
    if not rebuild and STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("[bench] installing " + ", ".join(REQUIREMENTS) + f", -e {ROOT}", flush=True)
    pip = [str(python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, *REQUIREMENTS, "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def reexec(argv, *, rebuild=False, native_blas=False, numba_cache=None):
    """Replace this process by ``python -m benchmarks argv`` inside the environment.

    Returns at once when already inside. Variables that OpenBLAS, glibc and
    numba read once, at load, are set here: ``MALLOC_MMAP_THRESHOLD_``
    (:mod:`.memory`), and on request no OpenBLAS tuning variables
    (``native_blas``) or another numba cache folder (``numba_cache``).
    """
    if inside():
        return
    ensure(rebuild=rebuild)
    child = {**os.environ, **MALLOC_ENV, CHILD_FLAG: "1"}
    if native_blas:
        for name in BLAS_VARS:
            child.pop(name, None)
    if numba_cache:
        child["NUMBA_CACHE_DIR"] = str(numba_cache)
    # worker processes (Dask, fresh interpreters) import the tool from here
    child["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), child.get("PYTHONPATH", "")) if p)
    os.chdir(ROOT)
    exe = str(python())
    os.execve(exe, [exe, "-m", "benchmarks", *argv], child)
