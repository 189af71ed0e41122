"""The SGD objectives side by side with LMNN, NCA and SCML: 3-NN accuracy, recall@k, fit time.

Every learner sees the same standardised training part (one stratified 70/30
split, seed 0); 3-NN accuracy and recall@k (the fraction of test points with
a training point of their class among their k nearest training points in
the learned space) are measured on the test part. Each learner is fitted
once untimed, then the learners' timed fits are interleaved.
"""

import warnings

import numpy as np

from .. import anchors, problems, timer
from ..writer import fmt

KS = (1, 5)


def local_pairs(X, y, k_genuine=3, k_impostor=5):
    """Index pairs of each point with its nearest same-class points (similar)
    and its nearest other-class points (dissimilar)."""
    from metriclearn import Constraints

    triplets = Constraints(y).generate_knntriplets(X, k_genuine, k_impostor)
    sim = np.unique(triplets[:, [0, 1]], axis=0)
    dis = np.unique(triplets[:, [0, 2]], axis=0)
    return np.concatenate([sim, dis]), np.r_[np.ones(len(sim)), -np.ones(len(dis))]


def learners(X, y, quick=False):
    """``{name: (factory, fit arguments)}``."""
    from metriclearn import (
        LMNN,
        Constraints,
        SGDMetricLearner,
        SGDMetricLearner_Supervised,
        SGDTripletLearner,
    )

    pairs, y_pairs = local_pairs(X, y)
    triplets = Constraints(y).generate_knntriplets(X, 2, 3)
    sup = {"batch_size": 256, "random_state": 0}

    def supervised(**kw):
        return lambda: SGDMetricLearner_Supervised(**kw, **sup), (X, y)

    def local(loss):
        return lambda: SGDMetricLearner(loss=loss, eta0=0.1, preprocessor=X, **sup), (
            pairs, y_pairs)

    def knn_triplets(loss):
        return lambda: SGDTripletLearner(loss=loss, preprocessor=X, **sup), (triplets,)

    out = {
        "SGD defaults": (lambda: SGDMetricLearner_Supervised(random_state=0), (X, y)),
        "SGD hinge, label pairs": supervised(loss="hinge", miner="all", sampling="random"),
        "SGD hinge, neighbour pairs": supervised(loss="hinge"),
        "SGD hinge, local pairs": local("hinge"),
        "SGD contrastive, local pairs": local("contrastive"),
        "SGD triplet, mined (all)": supervised(loss="triplet", miner="all"),
        "SGD triplet, random anchors, mined (all)": supervised(
            loss="triplet", miner="all", sampling="random"),
        "SGD triplet, mined (hard)": supervised(loss="triplet", miner="hard"),
        "SGD triplet, mined (semihard)": supervised(loss="triplet", miner="semihard"),
        "SGD InfoNCE, mined (all)": supervised(loss="infonce", miner="all"),
        "SGD triplet, kNN triplets": knn_triplets("triplet"),
        "SGD InfoNCE, kNN triplets": knn_triplets("infonce"),
        "LMNN (k=3)": (lambda: LMNN(n_neighbors=3, random_state=0), (X, y)),
        "NCA (scikit-learn)": (lambda: anchors.nca(random_state=0), (X, y)),
        "SCML_Supervised (metric-learn)": (
            lambda: anchors.metric_learn("SCML_Supervised", random_state=0), (X, y)),
    }
    if X.shape[0] > 10_000:  # scikit-learn's NCA and SCML hold n x n or per-triplet arrays
        out = {k: v for k, v in out.items() if not k.startswith(("NCA", "SCML"))}
    if quick:
        keep = ("SGD defaults", "SGD hinge, label pairs", "SGD contrastive, local pairs",
                "SGD triplet, mined (all)", "SGD InfoNCE, mined (all)",
                "SGD triplet, kNN triplets", "LMNN (k=3)", "NCA (scikit-learn)",
                "SCML_Supervised (metric-learn)")
        out = {k: out[k] for k in keep if k in out}
    return out


def _row(name, ds, est, summary):
    if est is None and summary is not None:  # every fit failed
        return {"learner": name, "knn3": None, **{f"recall@{k}": None for k in KS},
                "fit_s": None, "cpu_s": None, "n_iter": None, "error": summary["error"]}
    transform = None if est is None else est.transform
    n_iter = getattr(est, "n_iter_", None)
    return {"learner": name, "knn3": problems.knn_accuracy(ds, transform),
            **{f"recall@{k}": v for k, v in problems.recall_at_k(ds, transform, KS).items()},
            "fit_s": summary and summary["wall_median"],
            "cpu_s": summary and summary["cpu_median"],
            "n_iter": None if n_iter is None else int(n_iter),
            "error": summary and summary["error"]}


def table(dataset, repeats, quick=False, log=print):
    """Every learner's row on a standardised data set."""
    ds = problems.split(dataset, standardise=True)
    entries = learners(ds.X_train, ds.y_train, quick)
    calls = {name: timer.fit_maker(f, args) for name, (f, args) in entries.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f, args in entries.values():  # first calls, untimed
            timer.measure_fit(f, args)
        samples = timer.interleave(calls, dict.fromkeys(calls, repeats))
        rows = [_row("Euclidean", ds, None, None)]
        for name, fits in samples.items():
            good = [s.value for s in fits if s.error is None]
            rows.append(_row(name, ds, good[-1] if good else None, timer.summary(fits)))
            log(f"[sgd] {dataset}: {name}: {fmt(rows[-1]['fit_s'])} s, 3-NN "
                f"{rows[-1]['knn3']:.4f}")
    return {"dataset": dataset, "n_train": int(ds.X_train.shape[0]),
            "n_test": int(ds.X_test.shape[0]), "repeats": repeats, "rows": rows}


def blocks(tables):
    out = [("p", "The SGD family's losses next to LMNN, scikit-learn's NCA and "
                 "metric-learn's ``SCML_Supervised`` on standardised data (70/30 split, "
                 "seed 0): 3-NN test accuracy, recall@k, median fit time (interleaved "
                 "fits after a warm-up) and epochs (``n_iter_``). Local pairs are each "
                 "point with its 3 nearest same-class and 5 nearest other-class points; "
                 "kNN triplets each point with 2 same-class and 3 other-class neighbours.")]
    for t in tables:
        rows = [[r["learner"], fmt(r["knn3"], ".4f"),
                 *[fmt(r[f"recall@{k}"], ".4f") for k in KS],
                 "error" if r["error"] else fmt(r["fit_s"]), fmt(r["cpu_s"]),
                 fmt(r["n_iter"], "d")] for r in t["rows"]]
        out += [("p", f"{t['dataset']} ({t['n_train']} training, {t['n_test']} test points, "
                      f"median of {t['repeats']} fits):"),
                ("table", ["learner", "3-NN acc.", *[f"R@{k}" for k in KS], "fit (s)",
                           "CPU (s)", "epochs"], rows)]
    return out
