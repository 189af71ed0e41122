"""
Quickstart: metric learning for clustering and neighbours
=========================================================

A Mahalanobis metric learner finds a positive semi-definite matrix
:math:`M = L^T L`; its ``transform`` maps the data through :math:`L`, so that
plain Euclidean distances afterwards are the learned distances. Any
distance-based method placed after it in a :class:`~sklearn.pipeline.Pipeline`
(k-means, k-nearest neighbours) then works in the learned metric.

This example reproduces the setting of Xing et al. (2002): 3D data whose
classes differ along one axis only, while the other axes carry a much larger
within-class spread. Euclidean k-means splits such data the wrong way; a
metric learned from pairs of same-class and different-class points recovers
the classes. Every learner of the package is compared:
:class:`~metriclearn.MMC_Supervised` (full matrix, and diagonal matrix with
``diagonal=True``), :class:`~metriclearn.ITML_Supervised`,
:class:`~metriclearn.LMNN` and
:class:`~metriclearn.SGDMetricLearner_Supervised`. The same comparison is
run on two real data sets, iris and wine (raw features, whose scales differ by
three orders of magnitude).

Two measures are reported for each metric:

- Xing et al.'s clustering accuracy
  (:func:`~metriclearn.metrics.pairwise_clustering_accuracy`) of k-means run on
  the transformed data, with the metric learned from the labels of all points;
- the accuracy of a 3-nearest-neighbours classifier under 5-fold stratified
  cross-validation, with the metric learned inside each fold (a ``Pipeline``),
  so that no test label is seen while learning it.

Run it as a script to print the table and write the figure::

    python examples/quickstart.py --figure quickstart.png
"""

# %%
# Setup
# -----
# The figure is drawn with matplotlib's Agg backend, so the example runs
# without a display. Run as a script, it writes the figure to the path given
# by ``--figure`` (default: ``quickstart.png`` in the current directory).

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from metriclearn import LMNN, ITML_Supervised, MMC_Supervised, SGDMetricLearner_Supervised
from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy

# Sphinx-Gallery runs examples without ``__file__``: only a script run reads
# the command line and writes the figure file (the gallery keeps the figure).
# Arguments meant for a caller (a test runner, say) are left alone.
RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(
    description="Compare Euclidean and learned metrics on toy data, iris and wine."
)
parser.add_argument(
    "--figure",
    default="quickstart.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Data
# ----
# Two toy data sets in the setting of Xing et al.'s figures (2 and 3 classes
# stacked along the y axis; x and z carry the larger spread), iris and wine.

datasets = {
    "Xing toy, 2 classes": make_xing_toy(
        n_samples=100, n_classes=2, separated_along="y", random_state=0
    ),
    "Xing toy, 3 classes": make_xing_toy(
        n_samples=150, n_classes=3, separated_along="y", random_state=0
    ),
    "iris": load_iris(return_X_y=True),
    "wine": load_wine(return_X_y=True),
}

# %%
# Metrics compared
# ----------------
# ``None`` stands for the Euclidean metric (no transformer). The supervised
# pairs learners draw their similar and dissimilar pairs from the class
# labels; ITML runs up to 5000 sweeps, since its cyclic projections converge
# slowly (the default of 1000 warns on these data).

learners = {
    "Euclidean": None,
    "MMC full": MMC_Supervised(random_state=0),
    "MMC diagonal": MMC_Supervised(diagonal=True, random_state=0),
    "ITML": ITML_Supervised(max_iter=5000, random_state=0),
    "LMNN": LMNN(n_neighbors=3, random_state=0),
    "SGD": SGDMetricLearner_Supervised(random_state=0),
}

# numba compiles the kernels on first use (and caches them on disk): fit once
# on a small problem so that the times below measure the solvers only.
X_warm, y_warm = make_xing_toy(n_samples=20, random_state=0)
for learner in learners.values():
    if learner is not None:
        learner.fit(X_warm, y_warm)

# %%
# Evaluation
# ----------
# For each data set and metric: learn the metric on all points (timed), run
# k-means with as many clusters as classes on the transformed data, and
# cross-validate a 3-NN classifier with the metric learned inside each fold.

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
rows = []
fitted = {}
for data_name, (X, y) in datasets.items():
    n_classes = np.unique(y).shape[0]
    for metric_name, learner in learners.items():
        if learner is None:
            X_metric, fit_time = X, None
        else:
            start = time.perf_counter()
            learner.fit(X, y)
            fit_time = time.perf_counter() - start
            X_metric = learner.transform(X)
            fitted[data_name, metric_name] = learner.get_mahalanobis_matrix()
        kmeans = KMeans(n_clusters=n_classes, n_init=10, random_state=0)
        clustering = pairwise_clustering_accuracy(y, kmeans.fit_predict(X_metric))
        model = Pipeline(
            [
                ("metric", "passthrough" if learner is None else learner),
                ("knn", KNeighborsClassifier(n_neighbors=3)),
            ]
        )
        knn = cross_val_score(model, X, y, cv=cv)
        rows.append(
            [
                data_name,
                metric_name,
                f"{clustering:.3f}",
                f"{knn.mean():.3f} +/- {knn.std():.3f}",
                "-" if fit_time is None else f"{1e3 * fit_time:.1f} ms",
            ]
        )

# %%
# Results
# -------
# Clustering accuracy is 0.5 for a random split (balanced over same-class and
# different-class pairs when there are more than two classes); the 3-NN
# accuracy is the mean and standard deviation over the 5 folds.

header = ["data set", "metric", "clustering acc.", "3-NN acc. (5-fold)", "fit time"]
left = [True, True, False, False, False]
widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]


def format_row(cells):
    return "  ".join(
        cell.ljust(width) if is_left else cell.rjust(width)
        for cell, width, is_left in zip(cells, widths, left, strict=True)
    ).rstrip()


print(format_row(header))
print("  ".join("-" * width for width in widths))
previous = None
for row in rows:
    shown = row if row[0] != previous else ["", *row[1:]]
    if previous is not None and row[0] != previous:
        print()
    print(format_row(shown))
    previous = row[0]

# %%
# The data before and after the learned transforms
# ------------------------------------------------
# As in Xing et al.'s figure, each point :math:`x` is drawn at
# :math:`M^{1/2} x` (the symmetric square root), which keeps the original
# axes; ``transform`` gives the same distances in the coordinates of ``M``'s
# principal directions. Each panel has equal scales on its three axes and is
# seen with the y axis running across it. The learned metrics shrink x and z,
# along which the classes do not differ: here both learned matrices are of
# rank one, and the data collapse onto a line along y.


def sqrt_psd(M):
    """Symmetric square root of a positive semi-definite matrix."""
    w, V = np.linalg.eigh(M)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def scatter_3d(ax, Z, y, title):
    markers = ["o", "^", "s"]
    for k in np.unique(y):
        ax.scatter(*Z[y == k].T, s=12, marker=markers[k], depthshade=False, label=f"class {k}")
    centre = 0.5 * (Z.max(axis=0) + Z.min(axis=0))
    half = 0.55 * np.ptp(Z, axis=0).max()
    ax.set(
        xlim=(centre[0] - half, centre[0] + half),
        ylim=(centre[1] - half, centre[1] + half),
        zlim=(centre[2] - half, centre[2] + half),
        xlabel="x",
        ylabel="y",
        zlabel="z",
    )
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=20, azim=-25)  # y (the class axis) runs across the panel
    ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=10)


toy_names = ["Xing toy, 2 classes", "Xing toy, 3 classes"]
columns = [
    ("Original data", None),
    ("Diagonal MMC", "MMC diagonal"),
    ("Full MMC", "MMC full"),
]
fig = plt.figure(figsize=(13, 9))
fig.subplots_adjust(left=0.0, right=0.96, bottom=0.03, top=0.92, wspace=0.1, hspace=0.1)
fig.suptitle("Toy data of Xing et al. (2002) before and after learning the metric")
for i, data_name in enumerate(toy_names):
    X, y = datasets[data_name]
    for j, (title, metric_name) in enumerate(columns):
        ax = fig.add_subplot(len(toy_names), len(columns), 3 * i + j + 1, projection="3d")
        Z = X if metric_name is None else X @ sqrt_psd(fitted[data_name, metric_name])
        scatter_3d(ax, Z, y, f"{data_name}: {title}")
        if j == 0:
            ax.legend(loc="upper left", fontsize=7)

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=120, bbox_inches="tight", pad_inches=0.3)
    print(f"\nfigure written to {args.figure}")
