"""Every example runs, as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "figure.png"
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(path), "--figure", str(figure)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if path.name == "quickstart.py":
        out = result.stdout
        for row in ("Xing toy, 2 classes", "Xing toy, 3 classes", "iris", "MMC full",
                    "MMC diagonal", "Euclidean"):
            assert row in out
        assert figure.stat().st_size > 10_000
