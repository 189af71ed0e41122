"""
Choosing a metric learner and its parameters with GridSearchCV
==============================================================

Every metric learner is a scikit-learn transformer, so it is one step of a
:class:`~sklearn.pipeline.Pipeline`, and
:class:`~sklearn.model_selection.GridSearchCV` can tune it together with the
classifier after it: here which learner to use (``'passthrough'`` for the
Euclidean metric, :class:`~metriclearn.MMC_Supervised`,
:class:`~metriclearn.ITML_Supervised`, :class:`~metriclearn.LMNN`), a
parameter of each, and the number of neighbours of the k-NN classifier. The
metric is learned inside each cross-validation fold, on the training part
only.

Run it as a script to print the table and write the figure::

    python examples/plot_pipeline_gridsearch.py --figure gridsearch.png
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
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from metriclearn import LMNN, ITML_Supervised, MMC_Supervised

RUN_AS_SCRIPT = "__file__" in globals()
parser = argparse.ArgumentParser(description="GridSearchCV over metric learners.")
parser.add_argument(
    "--figure",
    default="gridsearch.png",
    metavar="PATH",
    help="where to write the PNG figure (default: %(default)s)",
)
args, _ = parser.parse_known_args() if RUN_AS_SCRIPT else parser.parse_known_args([])

# %%
# The search
# ----------
# One grid per learner, each with its own parameter; the pipeline's
# ``metric`` step is replaced by each learner in turn.

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
pipeline = Pipeline([
    ("scale", StandardScaler()),
    ("metric", "passthrough"),
    ("knn", KNeighborsClassifier()),
])
k_values = [1, 3, 5]
param_grid = [
    {"metric": ["passthrough"], "knn__n_neighbors": k_values},
    {"metric": [MMC_Supervised(random_state=0)], "metric__diagonal": [False, True],
     "knn__n_neighbors": k_values},
    {"metric": [ITML_Supervised(max_iter=2000, random_state=0)],
     "metric__gamma": [0.1, 1.0, 10.0], "knn__n_neighbors": k_values},
    {"metric": [LMNN(random_state=0)], "metric__regularization": [0.3, 0.5, 0.7],
     "knn__n_neighbors": k_values},
]
search = GridSearchCV(pipeline, param_grid, cv=StratifiedKFold(5, shuffle=True, random_state=0))
with warnings.catch_warnings():
    # a few ITML folds stop at max_iter; their metrics are still usable
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)


def learner_name(params):
    metric = params["metric"]
    if metric == "passthrough":
        return "Euclidean"
    name = type(metric).__name__.replace("_Supervised", "")
    extra = {k.split("__")[1]: v for k, v in params.items() if k.startswith("metric__")}
    return name + "".join(f" {k}={v}" for k, v in extra.items())


results = search.cv_results_
names = [learner_name(p) for p in results["params"]]
ks = [p["knn__n_neighbors"] for p in results["params"]]
scores = results["mean_test_score"]
print(f"{'metric':<28} " + "  ".join(f"{f'k={k}':>5}" for k in k_values))
for name in dict.fromkeys(names):
    row = [scores[i] for i in range(len(names)) if names[i] == name]
    print(f"{name:<28} " + "  ".join(f"{s:.3f}" for s in row))
print(f"\nbest: {learner_name(search.best_params_)}, "
      f"k={search.best_params_['knn__n_neighbors']}, CV accuracy {search.best_score_:.3f}")
print(f"test accuracy of the refitted best pipeline: {search.score(X_test, y_test):.3f}")

# %%
# Cross-validated accuracy of every candidate
# -------------------------------------------

fig, ax = plt.subplots(figsize=(10, 4.5))
labels = list(dict.fromkeys(names))
positions = np.arange(len(labels))
width = 0.8 / len(k_values)
for j, k in enumerate(k_values):
    values = [scores[[i for i in range(len(names)) if names[i] == n and ks[i] == k][0]]
              for n in labels]
    ax.bar(positions + (j - 1) * width, values, width, label=f"k = {k}")
ax.set_xticks(positions, labels, rotation=30, ha="right")
ax.set_ylim(0.85, 1.0)
ax.set_ylabel("5-fold CV accuracy")
ax.set_title("Standardised wine: metric learner x k-NN, tuned by GridSearchCV")
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
fig.tight_layout()

if RUN_AS_SCRIPT:
    fig.savefig(args.figure, dpi=110)
    print(f"\nfigure written to {args.figure}")
