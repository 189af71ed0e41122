"""The package's shape: imports flow one way, from the estimators down to the
drivers and kernels, and no module grows past what one person can hold.

Imports are read from the source (module level and inside functions alike),
so a lazy import counts as much as any other.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "metriclearn"

# a package file longer than this is two modules
MAX_LINES = 600


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path):
    """The ``metriclearn`` modules that ``path`` imports, anywhere in it."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "metriclearn":
                continue
            # ``from pkg import name`` imports the module pkg.name when there is one
            found.update(f"{target}.{alias.name}" for alias in node.names)
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "metriclearn")
    return found


def _with_packages(names):
    """``names`` and the packages they live in: importing ``a.b.c`` runs
    ``a/b/__init__.py`` first (the top-level package, imported before
    anything else, is left out)."""
    out = set(names)
    for name in names:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts)))
    return out


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(p): p for p in FILES}
GRAPH = {
    name: {m for m in _with_packages(_imports(path)) if m in MODULES and m != name
           # a module reaches its own packages by being imported
           and not name.startswith(m + ".")}
    for name, path in MODULES.items()
}


def _estimator_modules():
    """Modules that define an estimator class (a scikit-learn BaseEstimator)."""
    found = set()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra
            continue
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseEstimator)
                    and obj.__module__ == name):
                found.add(name)
    return found


def _reachable(start):
    seen, todo = set(), [start]
    while todo:
        for m in GRAPH[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_the_graph_was_read():
    # the reader must see the imports it is about, or every check below passes
    assert "metriclearn._sgd.engine" in GRAPH["metriclearn._sgd.base"]
    assert "metriclearn._kernels.itml" in GRAPH["metriclearn._itml"]
    assert "metriclearn.base" in _estimator_modules()


def test_no_import_circle():
    circles = sorted(name for name in GRAPH if name in _reachable(name))
    assert not circles, f"modules on an import circle: {circles}"


# below the estimators: arrays and settings in, results out
DRIVERS = [
    name for name in MODULES
    if name.startswith("metriclearn._kernels")
    or name in {
        "metriclearn._sgd.engine", "metriclearn._sgd.dask", "metriclearn._sgd.sources",
        "metriclearn._sgd.losses", "metriclearn._lmnn_solver", "metriclearn._lmnn_search",
        "metriclearn._mmc_solver", "metriclearn._nca_solver", "metriclearn._mlkr_solver",
        "metriclearn._validation",
        "metriclearn._linalg", "metriclearn._calibration", "metriclearn._labels",
        "metriclearn._result", "metriclearn._threads", "metriclearn.objectives",
        "metriclearn._itml_solver",
    }
]


@pytest.mark.parametrize("name", DRIVERS)
def test_drivers_and_kernels_reach_no_estimator(name):
    up = _reachable(name) & (_estimator_modules() | {"metriclearn"})
    assert not up, f"{name} imports estimator modules {sorted(up)}"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("metriclearn._kernels")])
def test_kernels_import_no_scikit_learn(name):
    source = MODULES[name].read_text()
    assert "sklearn" not in source and "import metriclearn" not in source


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_too_long(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.name} has {n} lines (at most {MAX_LINES}): split it"


def test_benchmarks_use_the_public_api():
    """Benchmarks survive refactors: besides the numba kernels (for kernel
    micro-benchmarks) they import only public modules."""
    private, readers = {}, 0
    bench = ROOT / "benchmarks"
    for path in sorted(bench.rglob("*.py")):
        if any(part.startswith(".") for part in path.relative_to(bench).parts):
            continue  # the benchmark environment
        names = _imports(path)
        readers += bool(names)
        for name in names:
            parts = name.split(".")
            if any(p.startswith("_") for p in parts[1:]) and parts[1] != "_kernels":
                private.setdefault(path.name, set()).add(name)
    assert readers, "no benchmark imports metriclearn: the check read nothing"
    assert not private, f"benchmarks importing private modules: {private}"
