"""The documentation runs: every ``Examples`` section of a public docstring
(run as a doctest), every gallery example in ``examples/`` (as a user would
run it) and every notebook in ``docs/notebooks`` (top to bottom, stored
without outputs)."""

import doctest
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import metriclearn
import metriclearn.cluster
import metriclearn.constraints
import metriclearn.datasets
import metriclearn.metrics
import metriclearn.objectives
import metriclearn.plotting

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = [metriclearn, metriclearn.cluster, metriclearn.constraints,
                  metriclearn.datasets, metriclearn.metrics, metriclearn.objectives,
                  metriclearn.plotting]


def _doctests():
    """The doctests of every public object (and its methods), once each."""
    finder = doctest.DocTestFinder(recurse=True, exclude_empty=True)
    found = {}
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            for test in finder.find(obj, qualified, module=inspect.getmodule(obj)):
                if test.examples:
                    found.setdefault(test.name, test)
    return [found[name] for name in sorted(found)]


DOCTESTS = _doctests()


def test_the_docstrings_have_examples():
    """The finder sees the examples (or every doctest below passes by
    finding none)."""
    names = {test.name.rsplit(".", 1)[-1] for test in DOCTESTS}
    assert len(DOCTESTS) >= 5, names
    assert {"make_xing_toy", "pairwise_clustering_accuracy"} <= names


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    report = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


# ------------------------------------------------------------------ gallery

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    assert EXAMPLES, "no example found in examples/"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "figure.png"
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(path), "--figure", str(figure)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=500,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if path.name == "quickstart.py":
        out = result.stdout
        for row in ("Xing toy, 2 classes", "Xing toy, 3 classes", "iris", "MMC full",
                    "MMC diagonal", "Euclidean"):
            assert row in out
        assert figure.stat().st_size > 10_000


# ---------------------------------------------------------------- notebooks

NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
# seconds allowed for one cell
CELL_TIMEOUT = 240


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebook found in docs/notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {index} of {path.name} has stored outputs"
            assert cell.execution_count is None, (
                f"cell {index} of {path.name} has an execution count"
            )


def _kernel_manager():
    """A kernel manager starting ipykernel in the interpreter running the tests.

    A kernel named ``python3`` could otherwise resolve to a kernel spec of some
    other environment (a user-wide Jupyter installation, say), without this
    package or the test extra installed.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class RunningInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (tests)",
                language="python",
            )

    return KernelManager(kernel_name="python3", kernel_spec_manager=RunningInterpreter())


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    for extra in ("ipykernel", "matplotlib", "pandas"):
        pytest.importorskip(extra)
    from nbclient import NotebookClient

    # no display: the kernel inherits the environment
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=_kernel_manager(),
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # a failing cell raises CellExecutionError, with the cell and the traceback
    client.execute()
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
