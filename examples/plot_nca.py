"""
NCA: a two-dimensional map for nearest neighbours
=================================================

:class:`~metriclearn.NCA` learns a linear map under which a stochastic
nearest-neighbour rule (each point picks a neighbour with probability
decreasing with its squared distance) classifies the training points as
well as it can. With ``n_components=2`` it is also a supervised
dimensionality reduction: the map to the plane in which neighbours are most
often of the same class.

This example maps the standardised digits (64 pixels) to the plane with PCA,
with scikit-learn's
:class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis` and with
:class:`~metriclearn.NCA` (same objective, same start), and compares the
3-NN test accuracy in the plane and the fit time.
The figure shows the test points in the two learned planes and the
objective over the L-BFGS iterations.

Run it as a script to print the table and write the figure::

    python examples/plot_nca.py --figure nca.png
"""

# %%
# Setup
# -----

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, NeighborhoodComponentsAnalysis
from sklearn.preprocessing import StandardScaler

from metriclearn import NCA
from metriclearn.plotting import plot_objective

RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(description="NCA on the digits.")
parser.add_argument(
    "--figure",
    default="nca.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Data and maps
# -------------
# One stratified 70/30 split, features standardised on the training part.
# Both NCAs start from the same map (LDA's two most discriminative
# directions: ``init='auto'`` for two components and ten classes) and run
# at most 100 L-BFGS iterations; scikit-learn's default ``tol=1e-5`` stops
# sooner than metriclearn's (metric-learn's, ``tol=None``). The same
# ``tol=1e-5`` makes metriclearn stop where scikit-learn does.

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.3, stratify=digits.target, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

maps = {
    "PCA": PCA(n_components=2, random_state=0),
    "scikit-learn NCA": NeighborhoodComponentsAnalysis(n_components=2, random_state=0),
    "metriclearn NCA": NCA(n_components=2, random_state=0),
}
rows = []
for name, model in maps.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    knn = KNeighborsClassifier(3).fit(model.transform(X_train), y_train)
    rows.append((name, knn.score(model.transform(X_test), y_test), elapsed))

width = max(len(name) for name, _, _ in rows)
print(f"{'map to the plane':<{width}}  3-NN test acc.  fit time")
for name, accuracy, elapsed in rows:
    print(f"{name:<{width}}  {accuracy:14.3f}  {1e3 * elapsed:7.1f} ms")

# %%
# The objective
# -------------
# ``objective_history_`` holds the expected number of training points that
# the stochastic rule classifies correctly, :math:`\sum_i p_i`, at the start
# and after every iteration: it rises quickly, then levels off as the map
# settles.

nca = maps["metriclearn NCA"]
print(f"\nmetriclearn NCA: {nca.n_iter_} iterations, converged: {nca.converged_}, "
      f"objective {nca.objective_history_[0]:.1f} -> {nca.objective_history_[-1]:.1f} "
      f"of {len(y_train)} training points")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
for ax, name in zip(axes[:2], ["scikit-learn NCA", "metriclearn NCA"], strict=True):
    Z = maps[name].transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=8)
    # the central 99% of the points (a few outlying digits would squash the rest)
    for axis, limits in ((0, ax.set_xlim), (1, ax.set_ylim)):
        low, high = np.percentile(Z[:, axis], [0.5, 99.5])
        limits(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_title(f"{name}: test digits in the plane")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(points, ax=axes[1], label="digit")
plot_objective(nca, ax=axes[2])
axes[2].set_title("metriclearn NCA: objective over the iterations")
fig.tight_layout()

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=110, bbox_inches="tight")
    print(f"\nfigure written to {args.figure}")
