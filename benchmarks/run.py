"""Time metriclearn against metric-learn 0.7.0, side by side in one run.

Usage: ``python benchmarks/run.py [--quick] [--datasets ...] [--learners ...]``
(``--help`` lists every flag). See ``benchmarks/README.md``.

metric-learn 0.7.0 breaks on scikit-learn 1.8+, so the benchmark runs in its
own virtual environment, ``benchmarks/.venv-bench``. This script creates it
when missing (``python3 -m venv``, then ``pip install`` of the pinned anchors
and of this repository, editable so the current tree is what gets timed) and
re-executes itself inside it. Only the standard library is used here; the
harness proper lives in ``harness.py``.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli import parse_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-bench"
STAMP = VENV / "metriclearn-bench.stamp"
REQUIREMENTS = (
    "metric-learn==0.7.0",
    "scikit-learn>=1.6,<1.8",
    "threadpoolctl>=3.1",
    # pylmnn 1.6.4 needs six, and a run-time shim for current SciPy (anchors.py)
    "PyLMNN==1.6.4",
    "six",
    # the plots of the scaling series (report_all.py)
    "matplotlib",
)
# Set by the parent before re-executing, so the child does not loop.
CHILD_FLAG = "METRICLEARN_BENCH_CHILD"
# OpenBLAS tuning variables the environment may set; --native-blas drops them.
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Prefix of the throw-away numba cache of --cold-numba (removed at the end).
COLD_CACHE_PREFIX = "metriclearn-bench-numba-"


def venv_python():
    """Path of the benchmark environment's interpreter."""
    return VENV / "bin" / "python"


def _stamp_text():
    """What the environment was built from: requirements and pyproject hash."""
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject).hexdigest()[:16]
    return "\n".join([*REQUIREMENTS, f"-e {ROOT}", f"pyproject {digest}", ""])


def ensure_venv(rebuild=False):
    """Create or refresh ``benchmarks/.venv-bench``.

    The environment is (re)installed when it is missing, when ``rebuild`` is
    set, or when the requirements or ``pyproject.toml`` changed since the last
    install (tracked in a stamp file inside the environment).

    Parameters
    ----------
    rebuild : bool, default=False
        Reinstall the packages even if the stamp is current.
    """
    python = venv_python()
    if not python.exists():
        print(f"[bench] creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = _stamp_text()
    if not rebuild and STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("[bench] installing " + ", ".join(REQUIREMENTS) + f", -e {ROOT}", flush=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, *REQUIREMENTS, "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def run_in_bench_venv(script, argv, *, rebuild=False, env=None):
    """Re-execute ``script`` with ``argv`` under the benchmark interpreter.

    Creates or refreshes the environment first (:func:`ensure_venv`), then
    replaces this process; returns at once when already inside it. ``env``
    sets variables for the child (a value of ``None`` removes one); they are
    applied here because OpenBLAS and numba read theirs once, when loaded.
    """
    if os.environ.get(CHILD_FLAG) == "1":
        return
    ensure_venv(rebuild=rebuild)
    child = {**os.environ, CHILD_FLAG: "1"}
    for name, value in (env or {}).items():
        if value is None:
            child.pop(name, None)
        else:
            child[name] = value
    python = str(venv_python())
    os.execve(python, [python, str(Path(script).resolve()), *argv], child)


def main(argv=None):
    """Bootstrap the environment, or run the harness when already inside it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)  # --help and bad flags exit here, before any install
    env = {}
    if args.native_blas:  # OpenBLAS's own choice of kernel and cache size
        env.update(dict.fromkeys(BLAS_VARS))
    if args.cold_numba:  # a fresh, empty numba cache
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix=COLD_CACHE_PREFIX)
    run_in_bench_venv(__file__, argv, rebuild=args.rebuild_venv, env=env)
    from harness import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
