"""Suite ``scaling``: fit time and peak RSS against n_samples, n_features and constraints.

Each point is one problem from ``make_classification`` (4 classes, half the
features informative, seed 0), every library fitted on it interleaved:
metriclearn after an untimed first call of the new shape, 3 fits (1 when the
first takes over a second) for every library. On an axis, an anchor whose
fit took longer than ``--stop-after`` seconds is not run at the larger sizes.
The exponent of each series is the slope of a least-squares line on log-log
axes. For the pairs learners (MMC, ITML) a sample *is* a pair, so their
n_samples axis is their constraints axis. LMNN's n_samples axis also scores
3-NN accuracy on 2,000 held-out points, as does NCA's (against
scikit-learn's NCA, both at its tolerance).
"""

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import learners, problems, timer
from ..learners import OURS
from ..writer import fmt

MIN_MEMORY_MIB = 0.5  # memory points below this are page-size noise
ITML_SWEEPS = 20
N_TEST = 2000


@dataclass(frozen=True)
class Axis:
    label: str
    values: list
    make: Any  # value -> (factories, fit_args, held-out Split or None)
    x: Any  # value -> the x plotted


def _pairs_problem(name):
    def make(d, m):
        X, y = problems.classification(2000, d)
        idx, labels = problems.draw_pairs(y, m)
        pairs = np.ascontiguousarray(X[idx])
        if name == "itml":
            bounds = problems.itml_bounds(X)
            return learners.itml_sweeps(ITML_SWEEPS), (pairs, labels, bounds), None
        return learners.mmc(name == "mmc_diag"), (pairs, labels), None

    return make


def _lmnn_problem(n, d, k=3, held_out=False):
    X, y = problems.classification(n + (N_TEST if held_out else 0), d)
    test = None
    if held_out:
        from sklearn.model_selection import train_test_split

        X, X_t, y, y_t = train_test_split(X, y, test_size=N_TEST, stratify=y,
                                          random_state=problems.SEED)
        test = problems.Split(f"n={n}", X, y, X_t, y_t)
    return learners.lmnn(n_neighbors=k, with_nca=False), (X, y), test


def _nca_problem(n, d):
    """NCA at scikit-learn's tolerance against scikit-learn's NCA on ``n``
    training points, 3-NN accuracy on ``N_TEST`` held-out ones."""
    from sklearn.model_selection import train_test_split

    from ..anchors import NCA

    X, y = problems.classification(n + N_TEST, d)
    X, X_t, y, y_t = train_test_split(X, y, test_size=N_TEST, stratify=y,
                                      random_state=problems.SEED)
    return learners.nca(NCA), (X, y), problems.Split(f"n={n}", X, y, X_t, y_t)


def _sgd_problem(n, d, m=None):
    """SGD with ``m`` pairs per epoch against SCML with about as many
    triplets (``n * k_genuine * k_impostor``, ``k_genuine=3``)."""
    from .. import anchors

    X, y = problems.classification(n, d)
    k_imp = 10 if m is None else max(1, round(m / (3 * n)))
    factories = learners.sgd(n_constraints=m)
    factories[anchors.SCML] = lambda: anchors.metric_learn(
        "SCML_Supervised", k_genuine=3, k_impostor=k_imp, random_state=0)
    return factories, (X, y), None


def series(quick=False):
    """Every learner's axes (``quick``: the first three points of each)."""

    def pick(values):
        return values[:3] if quick else values

    out = {}
    for name in ("mmc", "mmc_diag"):
        p = _pairs_problem(name)
        out[name] = {
            "constraints": Axis("pairs (= samples)", pick([100, 200, 400, 800, 1600]),
                                lambda m, p=p: p(16, m), lambda m: 2 * m),
            "n_features": Axis("n_features", pick([4, 8, 16, 32, 64]),
                               lambda d, p=p: p(d, 200), lambda d: d)}
    p = _pairs_problem("itml")
    out["itml"] = {
        "constraints": Axis("pairs (= samples), d=32", pick([250, 1000, 4000, 16000]),
                            lambda m: p(32, m), lambda m: 2 * m),
        "n_features": Axis("n_features, 2000 pairs", pick([8, 16, 32, 64, 128]),
                           lambda d: p(d, 1000), lambda d: d)}
    out["lmnn"] = {
        "n_samples": Axis("n_samples, d=50", pick([250, 500, 1000, 2000, 5000, 10000, 20000]),
                          lambda n: _lmnn_problem(n, 50, held_out=True), lambda n: n),
        "n_features": Axis("n_features", pick([5, 10, 20, 40, 80]),
                           lambda d: _lmnn_problem(1000, d), lambda d: d),
        "constraints": Axis("target pairs (n x n_neighbors)", pick([1, 2, 4, 8]),
                            lambda k: _lmnn_problem(1000, 20, k), lambda k: 1000 * k)}
    out["nca_sk"] = {
        "n_samples": Axis("n_samples, d=50", pick([250, 500, 1000, 2000, 5000]),
                          lambda n: _nca_problem(n, 50), lambda n: n)}
    out["sgd"] = {
        "n_samples": Axis("n_samples", pick([250, 500, 1000, 2000, 4000]),
                          lambda n: _sgd_problem(n, 20), lambda n: n),
        "n_features": Axis("n_features", pick([5, 10, 20, 40, 80]),
                           lambda d: _sgd_problem(1000, d), lambda d: d),
        "constraints": Axis("pairs per epoch (SCML: triplets)",
                            pick([1000, 3000, 9000, 27000]),
                            lambda m: _sgd_problem(1000, 20, m), lambda m: m)}
    return out


def _point(factories, fit_args, test, args, stopped):
    libs = {lib: f for lib, f in factories.items() if lib not in stopped}
    if OURS in libs:  # the first call of a new shape
        timer.measure_fit(libs[OURS], fit_args, timeout=args.fit_timeout)
    calls = {lib: timer.fit_maker(f, fit_args) for lib, f in libs.items()}
    samples = timer.interleave(calls, dict.fromkeys(calls, args.repeats), slow=1.0,
                               timeout=args.fit_timeout)
    out = {}
    euclid = None if test is None else problems.knn_accuracy(test)
    for lib, fits in samples.items():
        s = timer.summary(fits)
        if s["error"]:
            out[lib] = {"error": s["error"].strip().splitlines()[-1]}
            continue
        out[lib] = {"wall": s["wall_median"], "cpu": s["cpu_median"],
                    "rss_mib": s["rss_mib"] or 0.0, "n_fits": s["n"]}
        if test is not None:
            out[lib]["knn_accuracy"] = problems.knn_accuracy(test, fits[-1].value.transform)
            out[lib]["euclidean_knn_accuracy"] = euclid
    return out


def run(args, ctx, log=print):
    """Every series of ``args.learners``; ``{learner: {axis: {...}}}``."""
    results = {}
    for learner, axes in series(args.quick).items():
        if learner not in args.learners:
            continue
        results[learner] = {}
        for axis_name, axis in axes.items():
            points, stopped = [], set()
            for v in axis.values:
                factories, fit_args, test = axis.make(v)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    measured = _point(factories, fit_args, test, args, stopped)
                for lib, res in measured.items():
                    res.update(library=lib, value=v, x=axis.x(v))
                    points.append(res)
                    if "error" in res or (lib != OURS and res["wall"] > args.stop_after):
                        stopped.add(lib)
                    log(f"[scaling] {learner:8s} {axis_name:11s} {v:>6} {lib:17s} "
                        + (res["error"][:60] if "error" in res else
                           f"{res['wall']:.4f} s  {res['rss_mib']:.1f} MiB"))
            results[learner][axis_name] = {"label": axis.label, "points": points,
                                           "fits": exponents(points)}
    return {"series": results}


def _slope(xs, ys):
    """Least-squares slope of ``log y`` on ``log x`` (None under 3 points)."""
    if len(xs) < 3:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def exponents(points):
    """Per library: the fitted exponents of time and of memory."""
    out = {}
    for lib in dict.fromkeys(p["library"] for p in points):
        good = [p for p in points if p["library"] == lib and "error" not in p]
        mem = [p for p in good if p["rss_mib"] >= MIN_MEMORY_MIB]
        out[lib] = {"time": _slope([p["x"] for p in good], [p["wall"] for p in good]),
                    "memory": _slope([p["x"] for p in mem], [p["rss_mib"] for p in mem])}
    return out


TITLES = {"mmc": "MMC (full)", "mmc_diag": "MMC (diagonal)", "itml": "ITML",
          "lmnn": "LMNN", "nca_sk": "NCA / scikit-learn NCA (tol=1e-5)",
          "sgd": "SGDMetricLearner_Supervised / SCML"}


def _exp(value):
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}"


def blocks(results, images=()):
    rows, acc_rows = [], []
    for learner, axes in results["series"].items():
        for res in axes.values():
            for lib, fits in res["fits"].items():
                done = [p for p in res["points"] if p["library"] == lib and "error" not in p]
                span = f"{done[0]['x']:g} to {done[-1]['x']:g}" if done else "-"
                rows.append([TITLES.get(learner, learner), res["label"], lib, span,
                             _exp(fits["time"]), _exp(fits["memory"])])
            for p in res["points"]:
                if "knn_accuracy" in p:
                    acc_rows.append([TITLES.get(learner, learner), f"{p['value']}",
                                     p["library"], f"{p['wall']:.3g} s", f"{p['cpu']:.3g} s",
                                     f"{p['rss_mib']:.0f}", fmt(p["knn_accuracy"], ".4f"),
                                     fmt(p["euclidean_knn_accuracy"], ".4f")])
    out = [
        ("h", "Scaling"),
        ("p", "Fit time and peak memory (RSS above the start of the fit) against the size "
              "of the problem, on ``make_classification`` data (4 classes), log-log axes; "
              "the exponent is the slope of a least-squares line through the points "
              "(memory: points of at least 0.5 MiB). An anchor whose fit passed 8 s is not "
              "run at the larger sizes of that axis. MMC takes 2,000 points in 16 "
              "dimensions (pairs axis) or 400 pairs (features axis); ITML runs exactly "
              f"{ITML_SWEEPS} sweeps on pairs of 2,000 points; LMNN's n_samples axis is in "
              "50 dimensions, its other axes and SGD's take 1,000 points in 20 dimensions; "
              "SGD's constraints are its pairs per epoch, SCML's ``n x k_genuine x "
              "k_impostor`` triplets. Small fits are dominated by fixed costs, which "
              "flattens the slopes at the small end."),
        ("table", ["learner", "axis", "library", "range", "time exponent",
                   "memory exponent"], rows),
    ]
    if acc_rows:
        out += [("p", "LMNN against n_samples, with the 3-NN accuracy on 2,000 held-out "
                      "points:"),
                ("table", ["learner", "n_samples", "library", "fit time", "CPU time",
                           "peak RSS MiB", "3-NN acc.", "Euclid. 3-NN"], acc_rows)]
    return out + [("img", name) for name in images]
