"""
Training SGDMetricLearner on a Dask cluster
===========================================

With ``backend='dask'``, :class:`~metriclearn.SGDMetricLearner` trains on a
Dask cluster: ``fit`` holds the map :math:`L`, every shard of the pairs runs
``local_steps`` mini-batch steps in a task from a snapshot of :math:`L`, and
the changes are applied as they arrive, scaled by one over the number of
shards. Each change is keyed by its ``(shard, round)`` and applied exactly
once, even when a worker is lost.

This example starts a local cluster of two worker processes, fits the same
learner on the same index pairs with the local backend and with the Dask
backend, and compares their losses, their objective histories and their fit
times. On one machine the local backend is faster: the Dask backend adds the
cost of its tasks and of averaging the shards' changes, and pays off only
when the data outgrow one machine. The example shows how to use it, and what
it costs.

Run it as a script to print the table and write the figure::

    python examples/plot_sgd_dask.py --figure sgd_dask.png
"""

# %%
# Setup
# -----
# The figure is drawn with matplotlib's Agg backend, so the example runs
# without a display. Run as a script, it writes the figure to the path given
# by ``--figure``.
#
# The worker processes of a ``LocalCluster`` are started afresh and import
# this script when it runs as a file, so everything that starts the cluster
# or fits sits under ``if __name__ == "__main__":`` at the end; the top level
# only loads modules, builds the (small) data and defines functions.

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from metriclearn import Constraints, SGDMetricLearner

# Sphinx-Gallery runs examples without ``__file__``: only a script run reads
# the command line and writes the figure file (the gallery keeps the figure).
RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(
    description="SGDMetricLearner on a local Dask cluster against the local backend."
)
parser.add_argument(
    "--figure",
    default="sgd_dask.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Data and pairs
# --------------
# 20,000 points in 32 dimensions, 5 classes that differ in 6 of the
# dimensions, standardised. The pairs are 50,000 row indices into the points
# (25,000 similar, 25,000 dissimilar), the scalable input form: the learner
# gets the points once, as ``preprocessor=X``. Separate test pairs measure the
# learned metric.

X, y = make_classification(
    n_samples=20_000, n_features=32, n_informative=6, n_redundant=0, n_classes=5,
    n_clusters_per_class=1, class_sep=1.5, random_state=0,
)
X = StandardScaler().fit_transform(X)
pairs, y_pairs = Constraints(y).pairs(25_000, random_state=0)
pairs_test, y_test = Constraints(y).pairs(5_000, random_state=1)

# The learner: an 8-dimensional map, 15 epochs of mini-batches of 256 pairs
# (``tol=None``: exactly ``max_iter`` epochs, so both backends run as long).
PARAMS = dict(n_components=8, batch_size=256, max_iter=15, tol=None, random_state=0)


def pair_loss(learner):
    """The learner's loss over all training pairs at its final map: the mean
    of ``||L d||^2`` on similar pairs and ``alpha * max(0, margin - ||L d||^2)``
    on dissimilar ones."""
    Z = learner.transform(X)
    sq = np.sum((Z[pairs[:, 0]] - Z[pairs[:, 1]]) ** 2, axis=1)
    hinge = learner.alpha * np.maximum(0.0, learner.margin - sq)
    return float(np.mean(np.where(y_pairs == 1, sq, hinge)))


def timed_fit(learner):
    start = time.perf_counter()
    learner.fit(pairs, y_pairs)
    return learner, time.perf_counter() - start


def warm_up():
    """Load the compiled kernels in a process (numba caches them on disk)."""
    rng = np.random.RandomState(0)
    SGDMetricLearner(max_iter=1, tol=None).fit(rng.normal(size=(4, 2, 2)), [1, 1, -1, -1])


# %%
# Fitting with both backends
# --------------------------
# The cluster has two single-threaded worker processes on this machine, so
# ``fit`` cuts the pairs into two shards of 25,000. With
# ``local_steps=50`` (the default), a task runs 50 mini-batches of 256 pairs,
# so a shard runs 2 tasks per epoch and the fit 60 tasks in all. Fewer local
# steps would keep the snapshots fresher, at the price of more tasks: each
# costs some milliseconds of scheduling and transfers. ``scheduler=None``
# (the default) uses the client opened here; ``scheduler=cluster.scheduler_address``
# would open a connection of its own. The cluster is closed when the ``with``
# block ends, whatever happens inside it.


def fit_all():
    results = {}
    warm_up()
    results["local"] = timed_fit(SGDMetricLearner(preprocessor=X, **PARAMS))
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(warm_up)
        startup = time.perf_counter() - start
        learner = SGDMetricLearner(preprocessor=X, backend="dask", local_steps=50, **PARAMS)
        results["dask (2 workers)"] = timed_fit(learner)
    return results, startup


# %%
# Results
# -------
# The loss is measured over all training pairs at each final map; the ROC AUC
# (the learner's ``score``) on the test pairs. ``n_updates_`` is the number of
# task results applied, each ``(shard, round)`` once (``update_keys_``).


def print_table(results, startup):
    header = ["backend", "loss", "test ROC AUC", "updates", "fit time"]
    rows = []
    for name, (learner, fit_time) in results.items():
        updates = getattr(learner, "n_updates_", None)
        rows.append([
            name,
            f"{pair_loss(learner):.4f}",
            f"{learner.score(pairs_test, y_test):.4f}",
            "-" if updates is None else str(updates),
            f"{fit_time:.2f} s",
        ])
    widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(
            cell.ljust(w) if j == 0 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        ))
    print(f"\nstarting the cluster and loading the kernels took {startup:.1f} s")
    keys = [tuple(key) for key in results["dask (2 workers)"][0].update_keys_]
    print(f"dask: {len(keys)} updates applied, {len(set(keys))} distinct (shard, round) keys")


# %%
# Objective histories
# -------------------
# ``objective_history_`` holds each epoch's mean loss per pair as met by its
# batches. The Dask runs apply each shard's change at half its size (two
# shards), from snapshots that may be a task old, so its first epoch moves the
# map less far than the first epoch of sequential steps, and its loss starts
# higher. Both then level off: with ``tol=None`` the 'adaptive' schedule never
# lowers the rate, and the loss settles at the noise level of the constant
# step. The damping makes the Dask run's effective step smaller, and its
# level slightly lower (a smaller ``eta0`` or ``learning_rate='invscaling'``
# would do the same for the local backend).


def plot_histories(results):
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for (name, (learner, _)), marker in zip(results.items(), "os", strict=True):
        epochs = np.arange(1, learner.n_iter_ + 1)
        ax.plot(epochs, learner.objective_history_, marker=marker, label=name)
    ax.set(
        xlabel="epoch",
        ylabel="mean loss per pair",
        title="SGDMetricLearner: local backend and Dask backend (2 workers)",
    )
    ax.legend()
    return fig


# %%
# Run
# ---
# Everything that starts processes runs here, under the ``__main__`` guard.

if __name__ == "__main__":
    results, startup = fit_all()
    print_table(results, startup)
    fig = plot_histories(results)
    if RUN_AS_SCRIPT:
        fig.savefig(args.figure, dpi=120)
        print(f"\nfigure written to {args.figure}")
