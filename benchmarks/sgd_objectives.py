"""The SGD family's objectives side by side on digits: 3-NN accuracy,
recall@k and fit time, against LMNN and scikit-learn's NCA.

Every learner sees the same standardised training part of digits (one
stratified 70/30 split, seed 0); 3-NN accuracy and recall@k are measured on
the test part. recall@k is the fraction of test points with at least one
training point of their class among their k nearest training neighbours in
the learned space (the retrieval measure of the metric learning
literature). Threads (BLAS and numba) are pinned to ``--threads`` for every
learner; the median fit time over ``--repeats`` fits is reported, after one
untimed fit that loads the compiled kernels.

Run with the development environment::

    python benchmarks/sgd_objectives.py                 # the table
    python benchmarks/sgd_objectives.py --quick         # one repeat, fewer learners
    python benchmarks/sgd_objectives.py --json out.json # also write the rows
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.preprocessing import StandardScaler


def digits_split(seed=0):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def local_pairs(X, y, k_genuine=3, k_impostor=5):
    """Similar pairs to each point's nearest same-class neighbours, dissimilar
    pairs to its nearest other-class points (as index pairs into ``X``)."""
    from metriclearn import Constraints

    triplets = Constraints(y).generate_knntriplets(X, k_genuine, k_impostor)
    sim = np.unique(triplets[:, [0, 1]], axis=0)
    dis = np.unique(triplets[:, [0, 2]], axis=0)
    return np.concatenate([sim, dis]), np.r_[np.ones(len(sim)), -np.ones(len(dis))]


def learners(X_train, y_train, quick=False):
    """``name -> (make, fit arguments)``; ``make()`` builds a fresh learner."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    from metriclearn import (
        LMNN,
        Constraints,
        SGDMetricLearner,
        SGDMetricLearner_Supervised,
        SGDTripletLearner,
    )

    pairs, y_pairs = local_pairs(X_train, y_train)
    triplets = Constraints(y_train).generate_knntriplets(X_train, 2, 3)
    sup = dict(batch_size=256, random_state=0)
    out = {
        "SGD hinge, label pairs": (
            lambda: SGDMetricLearner_Supervised(loss="hinge", **sup), (X_train, y_train)),
        "SGD hinge, local pairs": (
            lambda: SGDMetricLearner(loss="hinge", eta0=0.1, preprocessor=X_train, **sup),
            (pairs, y_pairs)),
        "SGD contrastive, local pairs": (
            lambda: SGDMetricLearner(loss="contrastive", eta0=0.1, preprocessor=X_train,
                                     **sup),
            (pairs, y_pairs)),
        "SGD triplet, mined (all)": (
            lambda: SGDMetricLearner_Supervised(loss="triplet", miner="all", **sup),
            (X_train, y_train)),
        "SGD triplet, mined (hard)": (
            lambda: SGDMetricLearner_Supervised(loss="triplet", miner="hard", **sup),
            (X_train, y_train)),
        "SGD triplet, mined (semihard)": (
            lambda: SGDMetricLearner_Supervised(loss="triplet", miner="semihard", **sup),
            (X_train, y_train)),
        "SGD InfoNCE, mined (all)": (
            lambda: SGDMetricLearner_Supervised(loss="infonce", miner="all", **sup),
            (X_train, y_train)),
        "SGD triplet, kNN triplets": (
            lambda: SGDTripletLearner(loss="triplet", preprocessor=X_train, **sup),
            (triplets,)),
        "SGD InfoNCE, kNN triplets": (
            lambda: SGDTripletLearner(loss="infonce", preprocessor=X_train, **sup),
            (triplets,)),
        "LMNN (k=3)": (lambda: LMNN(n_neighbors=3, random_state=0), (X_train, y_train)),
        "NCA (scikit-learn)": (
            lambda: NeighborhoodComponentsAnalysis(random_state=0), (X_train, y_train)),
    }
    if quick:
        keep = ("SGD hinge, label pairs", "SGD contrastive, local pairs",
                "SGD triplet, mined (all)", "SGD InfoNCE, mined (all)",
                "SGD triplet, kNN triplets", "LMNN (k=3)", "NCA (scikit-learn)")
        out = {k: out[k] for k in keep}
    return out


def recall_at_k(E_train, y_train, E_test, y_test, ks):
    nn = NearestNeighbors(n_neighbors=max(ks)).fit(E_train)
    idx = nn.kneighbors(E_test, return_distance=False)
    hit = y_train[idx] == y_test[:, None]
    return {k: float(np.mean(hit[:, :k].any(axis=1))) for k in ks}


def evaluate(name, make, args, data, repeats, ks):
    X_train, X_test, y_train, y_test = data
    if make is None:
        E_train, E_test, times, cpu, n_iter = X_train, X_test, [], [], None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make().fit(*args)  # loads (or compiles) the kernels
            times, cpu = [], []
            for _ in range(repeats):
                est = make()
                tic, tic_cpu = time.perf_counter(), time.process_time()
                est.fit(*args)
                times.append(time.perf_counter() - tic)
                cpu.append(time.process_time() - tic_cpu)
        E_train, E_test = est.transform(X_train), est.transform(X_test)
        n_iter = getattr(est, "n_iter_", None)
    acc = KNeighborsClassifier(3).fit(E_train, y_train).score(E_test, y_test)
    return {
        "learner": name,
        "knn3": float(acc),
        **{f"recall@{k}": v for k, v in recall_at_k(E_train, y_train, E_test, y_test,
                                                    ks).items()},
        "fit_s": float(np.median(times)) if times else None,
        "cpu_s": float(np.median(cpu)) if cpu else None,
        "n_iter": None if n_iter is None else int(n_iter),
    }


def table(rows, ks):
    header = ["learner", "3-NN acc.", *[f"R@{k}" for k in ks], "fit (s)", "CPU (s)", "epochs"]
    body = [[r["learner"], f"{r['knn3']:.4f}", *[f"{r[f'recall@{k}']:.4f}" for k in ks],
             "-" if r["fit_s"] is None else f"{r['fit_s']:.2f}",
             "-" if r["cpu_s"] is None else f"{r['cpu_s']:.2f}",
             "-" if r["n_iter"] is None else str(r["n_iter"])] for r in rows]
    widths = [max(len(row[j]) for row in [header, *body]) for j in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in body:
        lines.append("| " + " | ".join(
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per learner")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and numba threads for every learner (default 1)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5], help="k of recall@k")
    parser.add_argument("--quick", action="store_true",
                        help="one timed fit, a subset of the learners")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats

    import numba
    from threadpoolctl import threadpool_limits

    data = digits_split()
    previous = numba.get_num_threads()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(args.threads):
            rows = [evaluate("Euclidean", None, None, data, repeats, args.ks)]
            for name, (make, fit_args) in learners(data[0], data[2], args.quick).items():
                rows.append(evaluate(name, make, fit_args, data, repeats, args.ks))
                print(f"  {name}: done", flush=True)
    finally:
        numba.set_num_threads(previous)
    print(f"\ndigits, standardised, 70/30 stratified split (seed 0); {args.threads} thread(s), "
          f"median of {repeats} fit(s)\n")
    print(table(rows, args.ks))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
