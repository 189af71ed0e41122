"""What fits print: the same ``verbose`` levels in every learner (0 nothing;
1 a start and a closing line; 2 periodic lines with an estimate of the time
left; 3 a line every iteration), a progress bar instead when asked for, and
the package settings that ask for it."""

import os
import re
import subprocess
import sys
import threading

import pytest
from support import ALL_SPECS, spec_id, training_input

import metriclearn
import metriclearn._progress as progress_module
from metriclearn import config_context, get_config, set_config

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_UNITS = r"(iterations|sweeps|epochs|steps)"

# the learners with a verbose parameter, and those among them with a limit
# on their iterations (the others report a start and a closing line)
VERBOSE = [s for s in ALL_SPECS if "verbose" in s.make().get_params()]
ITERATIVE = [s for s in VERBOSE if "max_iter" in s.make().get_params()]
verbose_specs = pytest.mark.parametrize("spec", VERBOSE, ids=spec_id)
iterative_specs = pytest.mark.parametrize("spec", ITERATIVE, ids=spec_id)


def test_every_iterative_learner_reports():
    assert {s.name for s in VERBOSE} >= {"MMC", "ITML", "LMNN", "SGDMetricLearner"}
    assert len(ITERATIVE) >= len(VERBOSE) - 2  # SDML's graphical lasso has no max_iter


def _fit_lines(spec, toy, capsys, **params):
    X, y = toy
    est = spec.make(**params).fit(*training_input(spec, X, y))
    out, err = capsys.readouterr()
    return est, out.splitlines(), err


@verbose_specs
def test_silent_by_default(spec, toy, capsys):
    _, lines, err = _fit_lines(spec, toy, capsys)
    assert lines == [] and err == ""


@verbose_specs
def test_level_1_prints_a_start_and_a_closing_line(spec, toy, capsys):
    est, lines, _ = _fit_lines(spec, toy, capsys, verbose=1)
    name = re.escape(spec.name)
    assert len(lines) == 2, lines
    limit = rf": up to [\d,]+ {_UNITS}" if spec in ITERATIVE else ""
    assert re.fullmatch(rf"\[{name}\] fitting [\d,]+ (points|pairs|triplets|quadruplets) "
                        rf"of 3 features{limit}", lines[0]), lines[0]
    state = "converged" if est.converged_ else "stopped at max_iter"
    assert re.fullmatch(rf"\[{name}\] {state} after {est.n_iter_:,} {_UNITS} in "
                        r"[\d.]+ s", lines[1]), lines[1]
    # True is level 1
    assert _fit_lines(spec, toy, capsys, verbose=True)[1][0] == lines[0]


@iterative_specs
def test_level_3_prints_every_iteration(spec, toy, capsys):
    est, lines, _ = _fit_lines(spec, toy, capsys, verbose=3)
    # SCML evaluates its whole objective every output_iter steps
    every = spec.make().get_params().get("output_iter", 1)
    want = list(range(every, est.n_iter_ + 1, every))
    want += [est.n_iter_] if est.n_iter_ % every else []
    # LMNN and LSML also report their starting point (iteration 0)
    numbers = [int(re.match(rf"\[{re.escape(spec.name)}\] \w+ +(\d+)  ", line).group(1))
               for line in lines[1:-1]]
    assert numbers in (want, [0] + want), numbers


@iterative_specs
def test_level_2_prints_at_most_every_interval_with_the_time_left(spec, toy, capsys,
                                                                  monkeypatch):
    # the interval of the periodic lines: none between two lines when it is
    # 0, none at all when it is longer than the fit
    monkeypatch.setattr(progress_module, "INTERVAL", 1e9)
    _, lines, _ = _fit_lines(spec, toy, capsys, verbose=2)
    assert len(lines) == 2
    monkeypatch.setattr(progress_module, "INTERVAL", 0.0)
    est, lines, _ = _fit_lines(spec, toy, capsys, verbose=2)
    periodic = lines[1:-1]
    assert len(periodic) >= min(est.n_iter_, 1)
    assert all(re.search(r"\(at most [\d.]+ s left\)$", line) for line in periodic), periodic


def test_progress_bar_when_asked_for(toy, capsys):
    pytest.importorskip("tqdm")
    X, y = toy
    with config_context(progress_bar=True):
        est = metriclearn.LMNN(verbose=1).fit(X, y)
    out, err = capsys.readouterr()
    # the start and closing lines, the bar on stderr
    assert len(out.splitlines()) == 2
    assert "LMNN" in err and "iteration" in err
    assert est.n_iter_ >= 1


def test_settings_and_their_context():
    assert get_config() == {"progress_bar": False}
    with config_context(progress_bar=True):
        assert get_config()["progress_bar"] is True
        seen = []
        # per thread: a new thread starts from the defaults
        thread = threading.Thread(target=lambda: seen.append(get_config()["progress_bar"]))
        thread.start()
        thread.join()
        assert seen == [False]
    assert get_config()["progress_bar"] is False
    try:
        set_config(progress_bar=True)
        assert get_config()["progress_bar"] is True
        set_config()  # None leaves it as it is
        assert get_config()["progress_bar"] is True
    finally:
        set_config(progress_bar=False)
    with pytest.raises(ValueError, match=r"progress_bar must be True or False; got 'yes'"):
        set_config(progress_bar="yes")


def test_a_first_compilation_is_announced_once(tmp_path):
    """In a fresh process with an empty numba cache, the first fit that
    compiles says so (once); a later fit, or a process that finds the
    kernels cached, does not."""
    script = (
        "from metriclearn import MMC\n"
        "from metriclearn.datasets import make_xing_toy\n"
        "from metriclearn import Constraints\n"
        "X, y = make_xing_toy(n_samples=60, n_classes=3, random_state=0)\n"
        "pairs, yp = Constraints(y).pairs(30, random_state=0)\n"
        "MMC(verbose=1, max_iter=5).fit(X[pairs], yp)\n"
        "MMC(verbose=1, max_iter=5, diagonal=True).fit(X[pairs], yp)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env,
                           capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0].count("compiling numba kernels") == 1
    assert runs[0].splitlines()[1].startswith("[MMC] compiling numba kernels: their first use")
    assert runs[1].count("compiling numba kernels") == 0
