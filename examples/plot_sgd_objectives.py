"""
Contrastive and triplet objectives for SGD metric learning
==========================================================

The SGD learners minimise one of four losses over the linear map
:math:`L`:

- ``'hinge'``: squared distances of similar pairs, plus a hinge that pushes
  dissimilar pairs beyond a margin on the squared distance;
- ``'contrastive'`` (Chopra et al. 2005): the same pull, and a squared hinge
  on the distance of dissimilar pairs;
- ``'triplet'`` (Schroff et al. 2015): an anchor must be closer to a
  positive than to a negative by a margin;
- ``'infonce'``: a softmax of the positive against many negatives, with a
  temperature (the N-pair loss of Sohn 2016 over learned distances).

The pair losses are learned from pairs (:class:`~metriclearn.SGDMetricLearner`)
or class labels; the triplet losses from triplets
(:class:`~metriclearn.SGDTripletLearner`) or from class labels
(:class:`~metriclearn.SGDMetricLearner_Supervised`): each point is an anchor
with a positive among its 3 nearest same-class points, and its negatives are
mined among the points of a mini-batch (``miner=...``). The supervised
learner's default is the triplet loss with semi-hard negatives;
``normalize=True`` learns on the unit sphere instead, where the margin and
the temperature are those of the seed papers.

This example compares them on the digits data (standardised, one stratified
70/30 split) with two learners that optimise a neighbourhood criterion
directly, :class:`~metriclearn.LMNN` and scikit-learn's
:class:`~sklearn.neighbors.NeighborhoodComponentsAnalysis`: 3-NN accuracy on
the test part, recall@k (the fraction of test points with a training point of
their class among their k nearest neighbours) and fit time.

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
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import (
    KNeighborsClassifier,
    NearestNeighbors,
    NeighborhoodComponentsAnalysis,
)
from sklearn.preprocessing import StandardScaler

from metriclearn import (
    LMNN,
    Constraints,
    SGDMetricLearner,
    SGDMetricLearner_Supervised,
    SGDTripletLearner,
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
    "triplet (kNN triplets)": (SGDTripletLearner(loss="triplet", max_iter=30,
                                                 preprocessor=X_train, **sgd), (triplets,)),
    "LMNN": (LMNN(n_neighbors=3, random_state=0), (X_train, y_train)),
    "NCA": (NeighborhoodComponentsAnalysis(max_iter=30, random_state=0), (X_train, y_train)),
}

# numba loads (or compiles) the kernels on first use: fit each SGD learner
# once on a small problem so that the times below measure the fits only.
for learner, _ in learners.values():
    if learner is not None and "SGD" in type(learner).__name__:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            small = SGDMetricLearner_Supervised(loss=learner.loss, max_iter=1, random_state=0)
            for miner in ("all", "hard", "semihard"):
                for normalize in (False, True):
                    small.set_params(miner=miner, normalize=normalize).fit(
                        X_train[:100], y_train[:100])

# %%
# Evaluation
# ----------


def recall_at_k(E_train, E_test, ks=(1, 5)):
    idx = NearestNeighbors(n_neighbors=max(ks)).fit(E_train).kneighbors(
        E_test, return_distance=False)
    hit = y_train[idx] == y_test[:, None]
    return [float(np.mean(hit[:, :k].any(axis=1))) for k in ks]


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
    acc = KNeighborsClassifier(3).fit(E_train, y_train).score(E_test, y_test)
    rows.append((name, acc, *recall_at_k(E_train, E_test), fit_time))

header = ("objective", "3-NN acc.", "recall@1", "recall@5", "fit time")
cells = [[r[0], f"{r[1]:.4f}", f"{r[2]:.4f}", f"{r[3]:.4f}",
          "-" if r[4] is None else f"{r[4]:.2f} s"] for r in rows]
widths = [max(len(c[j]) for c in [header, *cells]) for j in range(len(header))]
print("  ".join(h.ljust(w) if j == 0 else h.rjust(w)
                for j, (h, w) in enumerate(zip(header, widths, strict=True))))
print("  ".join("-" * w for w in widths))
for c in cells:
    print("  ".join(v.ljust(w) if j == 0 else v.rjust(w)
                    for j, (v, w) in enumerate(zip(c, widths, strict=True))))

# %%
# The comparison as a figure
# --------------------------
# Left: 3-NN test accuracy (the dashed line is the Euclidean metric's);
# right: fit time on a logarithmic scale.

names = [r[0] for r in rows]
acc = np.array([r[1] for r in rows])
fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
colors = ["0.6" if n == "Euclidean" else ("C1" if n in ("LMNN", "NCA") else "C0")
          for n in names]
ax_acc.barh(names, acc, color=colors)
ax_acc.axvline(acc[0], color="k", linestyle="--", linewidth=1)
ax_acc.set_xlim(max(0.0, acc.min() - 0.02), 1.0)
ax_acc.set_xlabel("3-NN test accuracy")
ax_acc.invert_yaxis()
times = [r[4] if r[4] is not None else np.nan for r in rows]
ax_time.barh(names, times, color=colors)
ax_time.set_xscale("log")
ax_time.set_xlabel("fit time (s)")
fig.suptitle("Digits (standardised): SGD objectives against LMNN and NCA")
fig.tight_layout()

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure written to {args.figure}")
