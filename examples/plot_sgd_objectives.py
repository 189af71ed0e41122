"""
Every loss of the SGD family, compared on digits
================================================

The SGD learners minimise one of eight losses over the linear map
:math:`L`:

- ``'hinge'``: squared distances of similar pairs, plus a hinge that pushes
  dissimilar pairs beyond a margin on the squared distance;
- ``'contrastive'`` (Chopra et al. 2005): the same pull, and a squared hinge
  on the distance of dissimilar pairs;
- ``'triplet'`` (Schroff et al. 2015): an anchor must be closer to a
  positive than to a negative by a margin;
- ``'infonce'``: a softmax of the positive against many negatives, with a
  temperature (the N-pair loss of Sohn 2016 over learned distances);
- ``'lifted'`` (Song et al. 2016): every positive pair of a mini-batch
  against all the negatives of both its points, through a smooth
  log-sum-exp;
- ``'supcon'`` (Khosla et al. 2020): every point of a batch an anchor, all
  the other points of its class its positives;
- ``'debiased'`` (Chuang et al. 2020): InfoNCE whose negatives are all the
  other points of the batch, labels unseen, with the share of the anchor's
  own class among them (``class_prior``) subtracted;
- ``'magnet'`` (Rippel et al. 2016): clusters per class, each point pulled
  to its cluster's centre and pushed from the other classes' centres.

The pair losses are learned from pairs (:class:`~metriclearn.SGDMetricLearner`)
or class labels; the triplet losses from triplets
(:class:`~metriclearn.SGDTripletLearner`) or from class labels
(:class:`~metriclearn.SGDMetricLearner_Supervised`, which also has the four
batch losses): each point is an anchor with a positive among its 3 nearest
same-class points, and its negatives are mined among the points of a
mini-batch (``miner=...``). The supervised learner's default is the triplet
loss with semi-hard negatives; ``normalize=True`` learns on the unit sphere
instead, where the margin and the temperature are those of the seed papers.

This example compares them on the digits data (standardised, one stratified
70/30 split) with two learners that optimise a neighbourhood criterion
directly, :class:`~metriclearn.LMNN` and scikit-learn's
:class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis`, by the measures
of :mod:`metriclearn.metrics`, each test point a query against the training
points:

- 3-NN accuracy on the test part;
- recall@1 (:func:`~metriclearn.metrics.recall_at_k`): the fraction of test
  points whose nearest training point is of their class;
- MAP@R (:func:`~metriclearn.metrics.mean_average_precision_at_r`, Musgrave
  et al. 2020): how well the whole class ranks ahead of the rest;
- alignment and uniformity (:func:`~metriclearn.metrics.alignment`,
  :func:`~metriclearn.metrics.uniformity`, Wang and Isola 2020) of the test
  embeddings scaled to unit length: how close same-class pairs lie (lower is
  better) and how evenly the points spread over the sphere (lower is more
  uniform);
- fit time.

Run it as a script to print the table and write the figure::

    python examples/plot_sgd_objectives.py --figure sgd_objectives.png
"""

# %%
# Setup
# -----

import argparse
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, NeighborhoodComponentsAnalysis
from sklearn.preprocessing import StandardScaler

from metriclearn import (
    LMNN,
    Constraints,
    SGDMetricLearner,
    SGDMetricLearner_Supervised,
    SGDTripletLearner,
)
from metriclearn.metrics import (
    alignment,
    mean_average_precision_at_r,
    recall_at_k,
    uniformity,
)

# Sphinx-Gallery runs examples without ``__file__``: only a script run reads
# the command line and writes the figure file.
RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(description="Compare the SGD objectives on digits.")
parser.add_argument("--figure", default="sgd_objectives.png", metavar="PATH",
                    help="where to write the PNG figure (default: %(default)s)")
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Data and side-information
# -------------------------
# The pairs learner is given *local* pairs: each training point with its 3
# nearest neighbours of the same class (similar) and its 5 nearest points of
# other classes (dissimilar). Pairs drawn at random from the labels ask every
# class to collapse to a point, which suits clustering more than neighbours.
# The triplets learner is given each point with 2 same-class and 3
# other-class neighbours.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

constraints = Constraints(y_train)
knn_triplets = constraints.generate_knntriplets(X_train, 3, 5)
similar = np.unique(knn_triplets[:, [0, 1]], axis=0)
dissimilar = np.unique(knn_triplets[:, [0, 2]], axis=0)
pairs = np.concatenate([similar, dissimilar])
y_pairs = np.r_[np.ones(len(similar)), -np.ones(len(dissimilar))]
triplets = constraints.generate_knntriplets(X_train, 2, 3)

# %%
# Learners
# --------
# Each entry is the learner and what it is fitted on.

sgd = dict(batch_size=256, random_state=0)
learners = {
    "Euclidean": (None, None),
    "default (triplet, semi-hard)": (SGDMetricLearner_Supervised(random_state=0),
                                     (X_train, y_train)),
    "triplet, semi-hard, sphere": (SGDMetricLearner_Supervised(normalize=True,
                                                               random_state=0),
                                   (X_train, y_train)),
    "hinge (random label pairs)": (SGDMetricLearner_Supervised(
        loss="hinge", miner="all", sampling="random", **sgd), (X_train, y_train)),
    "hinge (local pairs)": (SGDMetricLearner(loss="hinge", eta0=0.1, preprocessor=X_train,
                                             **sgd), (pairs, y_pairs)),
    "contrastive (local pairs)": (
        SGDMetricLearner(loss="contrastive", eta0=0.1, preprocessor=X_train, **sgd),
        (pairs, y_pairs)),
    "triplet (mined, all)": (SGDMetricLearner_Supervised(loss="triplet", miner="all",
                                                         max_iter=30, **sgd),
                             (X_train, y_train)),
    "triplet (mined, hard)": (SGDMetricLearner_Supervised(loss="triplet", miner="hard",
                                                          max_iter=30, **sgd),
                              (X_train, y_train)),
    "InfoNCE (mined, all, sphere)": (SGDMetricLearner_Supervised(
        loss="infonce", miner="all", normalize=True, max_iter=30, **sgd),
        (X_train, y_train)),
    "lifted (batch)": (SGDMetricLearner_Supervised(loss="lifted", random_state=0),
                       (X_train, y_train)),
    "supcon (batch)": (SGDMetricLearner_Supervised(loss="supcon", random_state=0),
                       (X_train, y_train)),
    "debiased (batch)": (SGDMetricLearner_Supervised(loss="debiased", random_state=0),
                         (X_train, y_train)),
    "magnet (clusters)": (SGDMetricLearner_Supervised(loss="magnet", random_state=0),
                          (X_train, y_train)),
    "triplet (kNN triplets)": (SGDTripletLearner(loss="triplet", max_iter=30,
                                                 preprocessor=X_train, **sgd), (triplets,)),
    "LMNN": (LMNN(n_neighbors=3, random_state=0), (X_train, y_train)),
    "NCA": (NeighborhoodComponentsAnalysis(max_iter=30, random_state=0), (X_train, y_train)),
}

# numba loads (or compiles) the kernels on first use: fit a copy of each SGD
# learner once on a small problem so that the times below measure the fits
# only.
for learner, fit_args in learners.values():
    if learner is not None and "SGD" in type(learner).__name__:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            some = np.random.default_rng(0).permutation(len(fit_args[0]))[:200]
            clone(learner).set_params(max_iter=1).fit(*(a[some] for a in fit_args))

# %%
# Evaluation
# ----------


# Alignment is measured on positive pairs: each test point with another test
# point of its class, drawn once for every learner.
rng = np.random.default_rng(0)
partner = np.array([rng.choice(np.flatnonzero((y_test == c) & (np.arange(y_test.size) != i)))
                    for i, c in enumerate(y_test)])


def unit(E):
    return E / np.linalg.norm(E, axis=1, keepdims=True)


rows = []
for name, (learner, fit_args) in learners.items():
    if learner is None:
        E_train, E_test, fit_time = X_train, X_test, None
    else:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            learner.fit(*fit_args)
        fit_time = time.perf_counter() - start
        E_train, E_test = learner.transform(X_train), learner.transform(X_test)
    gallery = dict(X_gallery=E_train, y_gallery=y_train)
    rows.append((
        name,
        KNeighborsClassifier(3).fit(E_train, y_train).score(E_test, y_test),
        recall_at_k(E_test, y_test, k=1, **gallery),
        mean_average_precision_at_r(E_test, y_test, **gallery),
        alignment(unit(E_test), unit(E_test[partner])),
        uniformity(unit(E_test)),
        fit_time,
    ))

header = ("objective", "3-NN acc.", "recall@1", "MAP@R", "alignment", "uniformity",
          "fit time")
cells = [[r[0], *(f"{v:.4f}" for v in r[1:4]), f"{r[4]:.3f}", f"{r[5]:.3f}",
          "-" if r[6] is None else f"{r[6]:.2f} s"] for r in rows]
widths = [max(len(c[j]) for c in [header, *cells]) for j in range(len(header))]
print("  ".join(h.ljust(w) if j == 0 else h.rjust(w)
                for j, (h, w) in enumerate(zip(header, widths, strict=True))))
print("  ".join("-" * w for w in widths))
for c in cells:
    print("  ".join(v.ljust(w) if j == 0 else v.rjust(w)
                    for j, (v, w) in enumerate(zip(c, widths, strict=True))))

# %%
# Reading the table
# -----------------
# Accuracy and recall@1 look at the nearest points only; MAP@R asks the whole
# class to rank first. The two can disagree: random label pairs ask each
# class to shrink to a point, which ranks whole classes well (a high MAP@R,
# the lowest alignment) but mixes neighbours where a class has several
# clusters (the lowest 3-NN accuracy). Alignment and uniformity are the two
# halves of a contrastive loss on the sphere: the losses that pull pairs
# together (the pair losses, ``'lifted'``) align classes most and spread the
# points least, the neighbourhood losses (hard and semi-hard triplets, NCA)
# stay closest to the spread of the data.

# %%
# The comparison as a figure
# --------------------------
# Left: 3-NN test accuracy (the dashed line is the Euclidean metric's);
# middle: MAP@R; right: alignment against uniformity (lower left is better
# on both), as Wang and Isola plot them.

names = [r[0] for r in rows]
acc = np.array([r[1] for r in rows])
map_r = np.array([r[3] for r in rows])
colors = ["0.6" if n == "Euclidean" else ("C1" if n in ("LMNN", "NCA") else "C0")
          for n in names]
fig, (ax_acc, ax_map, ax_au) = plt.subplots(1, 3, figsize=(15, 5),
                                            gridspec_kw=dict(width_ratios=[1, 1, 1.1]))
ax_acc.barh(names, acc, color=colors)
ax_acc.axvline(acc[0], color="k", linestyle="--", linewidth=1)
ax_acc.set_xlim(max(0.0, acc.min() - 0.02), 1.0)
ax_acc.set_xlabel("3-NN test accuracy")
ax_acc.invert_yaxis()
ax_map.barh(names, map_r, color=colors)
ax_map.axvline(map_r[0], color="k", linestyle="--", linewidth=1)
ax_map.set_yticks([])
ax_map.invert_yaxis()
ax_map.set_xlabel("MAP@R (test queries, training gallery)")
for r, color in zip(rows, colors, strict=True):
    ax_au.scatter(r[5], r[4], color=color)
    ax_au.annotate(r[0], (r[5], r[4]), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax_au.set_xlabel("uniformity (lower: more uniform)")
ax_au.set_ylabel("alignment (lower: classes tighter)")
fig.suptitle("Digits (standardised): the SGD losses against LMNN and NCA")
fig.tight_layout()

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure written to {args.figure}")
