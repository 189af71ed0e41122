"""``python -m metriclearn warmup``: compile every numba kernel once, into the
cache that later processes (and parallel workers) load instead of compiling.

Each learner exported by the package is fitted on a tiny problem, once per
option that selects other kernels (``diagonal``, ``loss``, ``miner``), so the
first real fit of a process starts at once. Run it after installing, with
the same ``NUMBA_CACHE_DIR`` as the programs that will use the cache.
"""

import argparse
import inspect
import itertools
import sys
import time
import warnings

import numpy as np

# parameters whose values select different kernels (n_jobs: the parallel twins)
_KERNEL_OPTIONS = ("diagonal", "loss", "miner", "n_jobs")


def _options(cls):
    """Every combination of the kernel-selecting options ``cls`` has."""
    from metriclearn._compat import StrOptions

    params = cls().get_params()
    choices = {}
    for name in _KERNEL_OPTIONS:
        if name not in params:
            continue
        if isinstance(params[name], bool):
            choices[name] = [False, True]
            continue
        if name == "n_jobs":
            choices[name] = [None, 2]
            continue
        for constraint in getattr(cls, "_parameter_constraints", {}).get(name, []):
            if isinstance(constraint, StrOptions):
                choices[name] = sorted(constraint.options)
    names = list(choices)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(choices[n] for n in names))]


def _fit_input(cls, X, y):
    """What ``cls.fit`` takes, by the names of its arguments; None if unknown."""
    from metriclearn import Constraints

    names = [n for n in inspect.signature(cls.fit).parameters if n != "self"]
    if names[:2] == ["X", "y"]:
        return X, y
    if names[:2] == ["pairs", "y"]:
        pairs, y_pairs = Constraints(y).pairs(40, random_state=0)
        return X[pairs], y_pairs
    if names[:1] == ["triplets"]:
        return (X[Constraints(y).generate_knntriplets(X, 2, 2)],)
    if names[:1] == ["quadruplets"]:
        return (X[Constraints(y).quadruplets(40, random_state=0)],)
    if names[:2] == ["X", "chunks"]:
        return X, Constraints(y).chunks(n_chunks=10, chunk_size=3, random_state=0)
    if names[:2] == ["X", "Y"]:  # two views of the same rows
        return X[:, :2], X[:, 2:]
    return None


def warmup(verbose=True):
    """Fit every learner (and clusterer) on a tiny problem, once per
    kernel-selecting option; returns the seconds it took."""
    import metriclearn
    from metriclearn._kernels import cache_dir
    from metriclearn.cluster import ConstrainedKMeans

    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 20)
    X = rng.normal(size=(60, 4)) + y[:, None]
    start = time.perf_counter()
    learners = [getattr(metriclearn, name) for name in metriclearn.__all__]
    learners = [c for c in learners if inspect.isclass(c) and hasattr(c, "fit")
                and hasattr(c, "transform")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls in learners:
            data = _fit_input(cls, X, y)
            if data is None:
                continue
            for options in _options(cls):
                tic = time.perf_counter()
                params = {k: v for k, v in {"max_iter": 3, "random_state": 0}.items()
                          if k in cls().get_params()}
                try:
                    cls(**params, **options).fit(*data)
                except ValueError:
                    continue  # an option pair the learner rejects (e.g. a miner for pairs)
                if verbose:
                    label = ", ".join(f"{k}={v!r}" for k, v in options.items())
                    print(f"  {cls.__name__}({label})  {time.perf_counter() - tic:.1f} s")
        ConstrainedKMeans(n_clusters=3, random_state=0).fit(X, pairs=[[0, 1], [20, 21]])
    elapsed = time.perf_counter() - start
    if verbose:
        print(f"compiled and cached in {elapsed:.1f} s; cache: {cache_dir()}")
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m metriclearn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("warmup", help="compile and cache every numba kernel")
    args = parser.parse_args(argv)
    if args.command == "warmup":
        warmup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
