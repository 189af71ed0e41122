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


def reexec_in_venv(argv, native_blas=False, cold_numba=False):
    """Replace this process by ``run.py`` under the benchmark interpreter.

    ``--native-blas`` and ``--cold-numba`` are applied here, because OpenBLAS
    and numba read their variables once, when first loaded.

    Parameters
    ----------
    argv : list of str
        The command-line flags, passed on unchanged.
    native_blas : bool, default=False
        Drop ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` from the environment.
    cold_numba : bool, default=False
        Give numba a fresh, empty cache directory.
    """
    env = os.environ.copy()
    env[CHILD_FLAG] = "1"
    if native_blas:
        for name in BLAS_VARS:
            env.pop(name, None)
    if cold_numba:
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix=COLD_CACHE_PREFIX)
    python = str(venv_python())
    os.execve(python, [python, str(Path(__file__).resolve()), *argv], env)


def main(argv=None):
    """Bootstrap the environment, or run the harness when already inside it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)  # --help and bad flags exit here, before any install
    if os.environ.get(CHILD_FLAG) != "1":
        ensure_venv(rebuild=args.rebuild_venv)
        reexec_in_venv(argv, args.native_blas, args.cold_numba)
    from harness import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
