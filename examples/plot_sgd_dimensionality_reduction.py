"""
Dimensionality reduction with SGDMetricLearner_Supervised
=========================================================

With ``n_components=k``, :class:`~metriclearn.SGDMetricLearner_Supervised`
learns a linear map :math:`L` of shape ``(k, n_features)``: ``transform``
returns :math:`k` columns, and the Euclidean distance between them is the
learned distance. Unlike principal component analysis (PCA), which keeps the
directions of largest variance whatever the classes, the map is learned to
bring each point closer to its nearest points of the same class than to the
nearby points of other classes (triplets drawn from the labels, with
negatives mined in every mini-batch). The maps are learned off the unit
sphere (``normalize=False``, the default): on it, a two-dimensional map
would put every point on a circle.

This example learns such maps on the handwritten digits (64 pixel features,
10 classes) and compares them with PCA of the same dimension:

- a two-dimensional view of held-out digits under both maps (figure);
- the accuracy of a 3-nearest-neighbours classifier on held-out digits after
  reducing to :math:`k \\in \\{2, 8, 16, 64\\}` dimensions (table).

Run it as a script to print the table and write the figure::

    python examples/plot_sgd_dimensionality_reduction.py --figure sgd_digits.png
"""

# %%
# Setup
# -----
# The figure is drawn with matplotlib's Agg backend, so the example runs
# without a display. Run as a script, it writes the figure to the path given
# by ``--figure``.

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from metriclearn import SGDMetricLearner_Supervised

# Sphinx-Gallery runs examples without ``__file__``: only a script run reads
# the command line and writes the figure file (the gallery keeps the figure).
RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(
    description="Learned low-dimensional maps against PCA on the digits."
)
parser.add_argument(
    "--figure",
    default="sgd_digits.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Data
# ----
# 1,797 digits of 8 x 8 pixels. A stratified split keeps 30 % of them for
# testing; every map, and the standardisation ahead of it, is learned on the
# training digits only (a ``Pipeline``).

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)


def learned_map(k):
    return make_pipeline(
        StandardScaler(),
        SGDMetricLearner_Supervised(n_components=k, normalize=False, random_state=0),
    )


def pca_map(k):
    return make_pipeline(StandardScaler(), PCA(n_components=k, random_state=0))


# numba compiles the kernels on first use (and caches them on disk): fit once
# on a few points so that the times below measure training only.
SGDMetricLearner_Supervised(n_components=2, normalize=False, max_iter=1, tol=None).fit(
    X[:50], y[:50])

# %%
# Learned maps and PCA, from 2 to 64 dimensions
# ---------------------------------------------
# For each dimension :math:`k`, fit both maps on the training digits, reduce
# the training and test digits, and score a 3-NN classifier fitted on the
# reduced training digits against the reduced test digits. The last row,
# 64 dimensions, is a full-rank map: PCA is then only a rotation, and gives
# the accuracy of the Euclidean distance on standardised pixels.


def knn_accuracy(mapping):
    knn = KNeighborsClassifier(n_neighbors=3)
    knn.fit(mapping.transform(X_train), y_train)
    return knn.score(mapping.transform(X_test), y_test)


rows = []
fitted = {}
for k in (2, 8, 16, 64):
    start = time.perf_counter()
    sgd = learned_map(k).fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    pca = pca_map(k).fit(X_train)
    fitted[k] = sgd, pca
    learner = sgd[-1]
    rows.append(
        [
            str(k),
            f"{knn_accuracy(pca):.3f}",
            f"{knn_accuracy(sgd):.3f}",
            str(learner.n_iter_),
            f"{fit_time:.2f} s",
        ]
    )

# %%
# Results
# -------
# With few dimensions the learned map keeps clearly more of what tells the
# digits apart than PCA does; at full dimension both are close to the Euclidean
# distance on standardised pixels, which is already a good metric for 3-NN on
# this data.

header = ["k", "3-NN acc. PCA", "3-NN acc. learned", "epochs", "fit time"]
widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
for row in [header, ["-" * w for w in widths], *rows]:
    print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))

# %%
# Two-dimensional views of the test digits
# ----------------------------------------
# Each test digit is drawn at its two coordinates under each map, coloured by
# its class (the number marks the class median). PCA keeps the two
# directions in which the pixels vary most, and most classes pile up in the
# middle; the learned map spreads the classes around the plane, although a
# plane cannot separate ten classes completely.

fig, axes = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
sgd, pca = fitted[2]
for ax, (title, mapping) in zip(
    axes, [("PCA, 2 components", pca), ("SGDMetricLearner_Supervised, n_components=2", sgd)],
    strict=True,
):
    Z = mapping.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=10, vmin=-0.5, vmax=9.5)
    for digit in range(10):
        centre = np.median(Z[y_test == digit], axis=0)
        ax.annotate(str(digit), centre, fontsize=14, fontweight="bold", ha="center",
                    va="center", bbox=dict(boxstyle="circle", fc="white", alpha=0.7))
    ax.set(title=title, xticks=[], yticks=[])
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
fig.suptitle("Held-out digits in two dimensions")

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=120)
    print(f"\nfigure written to {args.figure}")
