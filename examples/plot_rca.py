"""
RCA and the covariance metric: whitening by what should not matter
===================================================================

:class:`~metriclearn.RCA` (relevant components analysis) learns from
*chunklets*: small groups of points known to belong together, without
knowing to which class. The spread within the chunklets is variability that
should not matter, so RCA whitens the data by the average covariance within
them: directions along which chunklet members differ shrink, directions along
which they agree grow. :class:`~metriclearn.Covariance` whitens by the
covariance of all the points instead, a baseline that uses no
side-information.

The data are Xing et al.'s toy set: three classes stacked along the y axis,
much wider along x and z, so that Euclidean k-means cuts across the
classes. The chunklets come from labelling a few points: each chunklet is 3
points of one class (:meth:`~metriclearn.Constraints.chunks` draws them; RCA
sees only the grouping). The example reports Xing's clustering accuracy of
k-means (:func:`~metriclearn.metrics.pairwise_clustering_accuracy`) in each
metric, against the number of chunklets, and draws the points as each metric
sees them.

Run it as a script to print the table and write the figure::

    python examples/plot_rca.py --figure rca.png
"""

# %%
# Setup
# -----

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from metriclearn import Constraints
from metriclearn._covariance import Covariance
from metriclearn._rca import RCA
from metriclearn.datasets import make_xing_toy
from metriclearn.metrics import pairwise_clustering_accuracy
from metriclearn.plotting import plot_3d

RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(description="RCA and the covariance metric on toy data.")
parser.add_argument(
    "--figure",
    default="rca.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

X, y = make_xing_toy(n_samples=300, n_classes=3, random_state=0)


def kmeans_accuracy(Z):
    labels = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(Z)
    return pairwise_clustering_accuracy(y, labels)


# %%
# Accuracy against the number of chunklets
# ----------------------------------------
# Ten draws of chunklets for each count. With two chunklets of 3 points the
# within-chunklet covariance has rank 4 at most but the data have 3
# dimensions, so it is invertible; with one chunklet it is singular (rank 2):
# RCA warns and gives the direction no chunklet varies in weight 0.

euclidean = kmeans_accuracy(X)
covariance = kmeans_accuracy(Covariance().fit(X).transform(X))
counts = [1, 2, 5, 10, 20, 40]
rca_mean, rca_low, rca_high = [], [], []
for n_chunks in counts:
    scores = []
    for seed in range(10):
        chunks = Constraints(y).chunks(n_chunks=n_chunks, chunk_size=3, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # singular with one chunklet
            scores.append(kmeans_accuracy(RCA().fit(X, chunks).transform(X)))
    rca_mean.append(np.mean(scores))
    rca_low.append(np.min(scores))
    rca_high.append(np.max(scores))

print(f"k-means clustering accuracy, Euclidean: {euclidean:.3f}, covariance: {covariance:.3f}")
print("chunklets of 3   RCA mean (min - max over 10 draws)")
for n_chunks, m, lo, hi in zip(counts, rca_mean, rca_low, rca_high, strict=True):
    print(f"{n_chunks:14d}   {m:.3f} ({lo:.3f} - {hi:.3f})")

# %%
# One fit, and what it learned
# ----------------------------
# Ten chunklets (30 labelled points of 300). RCA's ``n_components=1`` keeps
# the single direction with the largest ratio of total to within-chunklet
# variance: the y axis.

chunks = Constraints(y).chunks(n_chunks=10, chunk_size=3, random_state=0)
rca = RCA().fit(X, chunks)
rca_1d = RCA(n_components=1).fit(X, chunks)
direction = rca_1d.components_[0] / np.linalg.norm(rca_1d.components_[0])
print("\nRCA, n_components=1: direction", np.round(direction, 3), "(x, y, z)")

fig = plt.figure(figsize=(16, 4.8))
for i, (title, metric) in enumerate([
    (f"Euclidean (k-means {euclidean:.2f})", None),
    (f"Covariance (k-means {covariance:.2f})", Covariance().fit(X)),
    (f"RCA, 10 chunklets (k-means {kmeans_accuracy(rca.transform(X)):.2f})", rca),
]):
    ax = fig.add_subplot(1, 4, i + 1, projection="3d")
    plot_3d(X, y, metric=metric, ax=ax, title=title)
    ax.view_init(elev=20, azim=-25)
ax = fig.add_subplot(1, 4, 4)
ax.fill_between(counts, rca_low, rca_high, alpha=0.25, label="RCA, min - max")
ax.plot(counts, rca_mean, marker="o", label="RCA, mean of 10 draws")
ax.axhline(euclidean, color="gray", ls="--", label="Euclidean")
ax.axhline(covariance, color="k", ls=":", label="Covariance")
ax.set_xscale("log")
ax.set_xticks(counts, [str(c) for c in counts])
ax.minorticks_off()
ax.set_xlabel("chunklets of 3 points")
ax.set_ylabel("k-means clustering accuracy")
ax.legend(fontsize=8)
ax.set_title("Accuracy against side-information")
fig.tight_layout()

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=110, bbox_inches="tight")
    print(f"\nfigure written to {args.figure}")
