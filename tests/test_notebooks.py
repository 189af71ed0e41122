"""Every notebook in docs/notebooks runs from top to bottom, and is stored without outputs."""

import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "docs" / "notebooks").glob("*.ipynb"))
# seconds allowed for one cell, and for a whole notebook
CELL_TIMEOUT = 120
NOTEBOOK_TIMEOUT = 300

nbformat = pytest.importorskip("nbformat")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebook found in docs/notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_stored_without_outputs(path):
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
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
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
