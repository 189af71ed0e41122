"""What a user meets before the first fit: the command that compiles and
caches every kernel, and where the cache goes."""

import os
import subprocess
import sys
from pathlib import Path

import metriclearn


def test_warmup_compiles_every_learner_into_the_cache(tmp_path):
    # the suite's own cache when it has one (then mostly loaded, not compiled)
    cache = Path(os.environ.get("NUMBA_CACHE_DIR") or tmp_path / "cache")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    result = subprocess.run(
        [sys.executable, "-m", "metriclearn", "warmup"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for name in metriclearn.__all__:
        cls = getattr(metriclearn, name)
        if isinstance(cls, type) and hasattr(cls, "transform"):
            assert f"  {name}(" in out, f"{name} was not warmed up:\n{out}"
    assert out.strip().splitlines()[-1].endswith(f"cache: {cache}")
    # the compiled kernels are in the cache, an index and an object file each
    cached = list(cache.rglob("*.nbi"))
    assert len(cached) >= 10
    assert len(list(cache.rglob("*.nbc"))) >= len(cached)


def test_cache_dir_follows_numba_cache_dir(tmp_path):
    code = "from metriclearn._kernels import cache_dir; print(cache_dir())"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=600).stdout.strip()
    assert out == str(tmp_path)
