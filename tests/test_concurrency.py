"""Concurrency and persistence: learners fitted at the same time in threads
give the results they give one after the other, and pickled models load and
predict identically in a fresh process."""

import os
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from conftest import ALL_SPECS, TRIPLETS_SPECS, spec_id, training_input
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from metriclearn.datasets import make_xing_toy

SPECS = ALL_SPECS + TRIPLETS_SPECS
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _two_problems(spec):
    """Two different fits of ``spec``'s learner: other data, other seed."""
    problems = []
    for seed in (0, 1):
        X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=seed)
        problems.append((spec.make(random_state=seed), training_input(spec, X, y)))
    return problems


@pytest.mark.timeout(600)
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_fits_in_two_threads_equal_fits_in_sequence(spec):
    sequential = [est.fit(*args).components_ for est, args in _two_problems(spec)]
    problems = _two_problems(spec)
    barrier = threading.Barrier(len(problems))
    results, errors = [None] * len(problems), []

    def fit(i):
        est, args = problems[i]
        try:
            barrier.wait(timeout=30)  # start together
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                results[i] = est.fit(*args).components_
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    for got, expected in zip(results, sequential, strict=True):
        assert_array_equal(got, expected)


_LOAD_AND_PREDICT = """
import pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as f:
    models, inputs = pickle.load(f)
out = {}
for i, (model, (X, tuples)) in enumerate(zip(models, inputs, strict=True)):
    out[f"{i}-transform"] = model.transform(X)
    if tuples is not None:
        out[f"{i}-predict"] = model.predict(tuples)
        out[f"{i}-decision"] = model.decision_function(tuples)
np.savez(sys.argv[2], **out)
"""


def _outputs(model, X, tuples):
    out = {"transform": model.transform(X)}
    if tuples is not None:
        out["predict"] = model.predict(tuples)
        out["decision"] = model.decision_function(tuples)
    return out


@pytest.mark.timeout(600)
def test_pickled_models_predict_identically_in_a_fresh_process(tmp_path):
    X, y = make_xing_toy(n_samples=90, n_classes=3, random_state=0)
    models, inputs = [], []
    for spec in SPECS:
        args = training_input(spec, X, y)
        models.append(spec.make().fit(*args))
        inputs.append((X, None if spec.kind == "supervised" else args[0]))
    path = tmp_path / "models.pkl"
    with open(path, "wb") as f:
        pickle.dump((models, inputs), f)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(path), str(tmp_path / "out.npz")],
        check=True, timeout=150, env=env,
    )
    with np.load(tmp_path / "out.npz") as loaded:
        for i, (model, (Xi, tuples)) in enumerate(zip(models, inputs, strict=True)):
            for name, value in _outputs(model, Xi, tuples).items():
                assert_array_equal(loaded[f"{i}-{name}"], value, err_msg=f"{SPECS[i].id} {name}")
