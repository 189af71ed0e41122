"""
ITML from pairs only: a metric as a classifier of pairs
=======================================================

A pairs learner needs no class labels: only pairs of points, each known to be
similar (``+1``) or dissimilar (``-1``). This example learns a metric with
:class:`~metriclearn.ITML` from such pairs on the wine data, and uses it the
way a pairs learner is used in practice:

- the pairs are integer indices into the points, given once as
  ``preprocessor=X``, so that no point is copied into a pair;
- the learner is a classifier of pairs, so scikit-learn's
  :func:`~sklearn.model_selection.cross_val_score` works over pairs, scored by
  the ROC AUC of the learned distances (the learner's ``score``);
- its distance threshold, above which a pair is predicted dissimilar, is
  recalibrated on held-out pairs with ``calibrate_threshold`` for different
  criteria.

The pairs are drawn from the wine labels with :class:`~metriclearn.Constraints`
to have a ground truth; the learner never sees the labels themselves.

Run it as a script to print the tables and write the figure::

    python examples/plot_itml_pairs.py --figure itml_pairs.png
"""

# %%
# Setup
# -----
# The figure is drawn with matplotlib's Agg backend, so the example runs
# without a display. Run as a script, it writes the figure to the path given
# by ``--figure``.

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.preprocessing import StandardScaler

from metriclearn import ITML, Constraints

# Sphinx-Gallery runs examples without ``__file__``: only a script run reads
# the command line and writes the figure file (the gallery keeps the figure).
RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(description="ITML learned from pairs on the wine data.")
parser.add_argument(
    "--figure",
    default="itml_pairs.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# Points and pairs
# ----------------
# The 13 wine features have very different units (alcohol in percent, proline
# in mg/l), so they are standardised first. ``Constraints(y).pairs(n)`` draws
# ``n`` similar pairs (two wines of one cultivar) and ``n`` dissimilar ones,
# as an ``(2 n, 2)`` array of row indices into ``X``.
#
# The pairs are split three ways: training pairs (for cross-validation and the
# final fit), validation pairs (to calibrate the threshold) and test pairs (to
# measure the result). The three sets of pairs share points, but no pair.

X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)

pairs, y_pairs = Constraints(y).pairs(300, random_state=0)
pairs_train, pairs_rest, y_train, y_rest = train_test_split(
    pairs, y_pairs, test_size=0.4, stratify=y_pairs, random_state=0
)
pairs_valid, pairs_test, y_valid, y_test = train_test_split(
    pairs_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
)
print(f"{X.shape[0]} points, {X.shape[1]} features")
print(
    f"pairs: {len(pairs_train)} training, {len(pairs_valid)} validation, "
    f"{len(pairs_test)} test (half similar, half dissimilar)"
)

# %%
# Cross-validation over pairs
# ---------------------------
# ``ITML(preprocessor=X)`` takes the index pairs as they are; it solves its
# problem through the dual and reports, as ``certificate_``, the relative
# duality gap at the end: how far (at most) its objective lies above the
# optimum. Its ``score`` is
# the ROC AUC of minus the learned distance: the probability that a random
# similar pair is closer than a random dissimilar one, a measure of the metric
# that does not depend on the threshold. ``cross_val_score`` uses it by
# default. The Euclidean distance is the baseline.

itml = ITML(preprocessor=X, random_state=0)
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
auc_cv = cross_val_score(itml, pairs_train, y_train, cv=cv)


def euclidean_distance(pairs):
    return np.linalg.norm(X[pairs[:, 0]] - X[pairs[:, 1]], axis=1)


auc_euclidean_cv = np.array(
    [
        roc_auc_score(y_train[test], -euclidean_distance(pairs_train[test]))
        for _, test in cv.split(pairs_train, y_train)
    ]
)

itml.fit(pairs_train, y_train)
auc_test = itml.score(pairs_test, y_test)
auc_euclidean_test = roc_auc_score(y_test, -euclidean_distance(pairs_test))

print()
print(f"{'ROC AUC':<10}  {'5-fold CV (training pairs)':>26}  {'test pairs':>10}")
print(f"{'-' * 10}  {'-' * 26}  {'-' * 10}")
for name, scores, test in [
    ("Euclidean", auc_euclidean_cv, auc_euclidean_test),
    ("ITML", auc_cv, auc_test),
]:
    print(f"{name:<10}  {f'{scores.mean():.3f} +/- {scores.std():.3f}':>26}  {test:>10.3f}")
print(
    f"\nITML: {itml.n_iter_} iterations of the dual solver, converged: {itml.converged_}, "
    f"relative duality gap (certificate_) {itml.certificate_:.1e}"
)

# %%
# Calibrating the threshold
# -------------------------
# ``fit`` chose ``threshold_`` to maximise the accuracy on the training
# pairs. ``calibrate_threshold`` chooses it again on the validation pairs,
# for the criterion an application needs: plain accuracy, the
# :math:`F_1` score of the similar class, or the best true positive rate
# (similar pairs accepted) subject to a true negative rate (dissimilar pairs
# rejected) of at least 95 %, or the reverse. The metric itself does not
# change; only the cut does. Each threshold is then applied to the test pairs.

strategies = [
    ("fit (training pairs)", None),
    ("accuracy", dict(strategy="accuracy")),
    ("f_beta, beta=1", dict(strategy="f_beta", beta=1.0)),
    ("max_tpr, TNR >= 0.95", dict(strategy="max_tpr", min_rate=0.95)),
    ("max_tnr, TPR >= 0.95", dict(strategy="max_tnr", min_rate=0.95)),
]
fit_threshold = itml.threshold_
rows = []
for name, params in strategies:
    if params is None:
        itml.set_threshold(fit_threshold)
    else:
        itml.calibrate_threshold(pairs_valid, y_valid, **params)
    predicted = itml.predict(pairs_test)
    rows.append(
        [
            name,
            f"{itml.threshold_:.3f}",
            f"{np.mean(predicted == y_test):.3f}",
            f"{np.mean(predicted[y_test == 1] == 1):.3f}",
            f"{np.mean(predicted[y_test == -1] == -1):.3f}",
        ]
    )
itml.set_threshold(fit_threshold)

header = ["threshold from", "threshold", "test acc.", "TPR", "TNR"]
widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
print()
for row in [header, ["-" * w for w in widths], *rows]:
    print("  ".join(
        cell.ljust(w) if j == 0 else cell.rjust(w)
        for j, (cell, w) in enumerate(zip(row, widths, strict=True))
    ))

# %%
# Distances of test pairs before and after
# ----------------------------------------
# Histograms of the distances of similar and dissimilar test pairs, under the
# Euclidean metric and under the metric ITML learned. The learned metric
# shrinks the similar pairs relative to the dissimilar ones, so the two
# distributions overlap less; the dashed line is the threshold calibrated for
# accuracy on the validation pairs.

itml.calibrate_threshold(pairs_valid, y_valid, strategy="accuracy")
panels = [
    ("Euclidean distance", euclidean_distance(pairs_test), auc_euclidean_test, None),
    ("ITML distance", itml.pair_distance(pairs_test), auc_test, itml.threshold_),
]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for ax, (title, dist, auc, threshold) in zip(axes, panels, strict=True):
    bins = np.linspace(0.0, dist.max(), 30)
    ax.hist(dist[y_test == 1], bins=bins, alpha=0.6, label="similar pairs")
    ax.hist(dist[y_test == -1], bins=bins, alpha=0.6, label="dissimilar pairs")
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set(title=f"{title} (test ROC AUC {auc:.3f})", xlabel="distance", ylabel="pairs")
    ax.legend(fontsize=8)
fig.suptitle("Wine: test pairs before and after learning the metric from pairs")

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=120)
    print(f"\nfigure written to {args.figure}")
