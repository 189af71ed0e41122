"""Scaling series: fit time and peak memory of every learner and its anchors
against n_samples, n_features and the number of constraints, with the
exponent of a least-squares line on log-log axes, and their plots.

Used by ``report_all.py`` (inside ``benchmarks/.venv-bench``). Each point is
one problem from ``make_classification`` (4 classes, half the features
informative, seed 0); metriclearn is fitted ``repeats`` times after the
warm-up of the main comparison (median), an anchor once, or ``repeats``
times when its fit takes under a second. Memory is the peak resident set
size above the RSS at the start of the fit (``harness.fit_once``). On an
axis, a library whose fit took longer than ``stop_after`` seconds is not run
at the larger sizes, and a fit is stopped after ``timeout`` seconds.

For the pairs learners (MMC, ITML) a sample *is* a pair, so their
n_samples axis is their constraints axis: they have two axes.
"""

import math
import statistics
import warnings

import numpy as np
from harness import fit_once
from registry import ANCHOR, MMC_PARAMS, OURS, PYLMNN

SCML = "metric-learn SCML"
ITML_SWEEPS = 20


def _classification(n, d, seed=0):
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n, n_features=d, n_informative=max(2, d // 2),
                               n_redundant=0, n_classes=4, n_clusters_per_class=1,
                               random_state=seed)


def _pairs(m, d):
    """``m`` similar and ``m`` dissimilar pairs of 2,000 points in ``d`` dimensions."""
    from metriclearn import Constraints

    X, y = _classification(2000, d)
    idx, labels = Constraints(y, unlabeled=None).pairs(m, random_state=0)
    return X, np.ascontiguousarray(X[idx]), labels


def _mmc_problem(diagonal):
    def problem(d, m):
        import metric_learn

        import metriclearn

        _, pairs, labels = _pairs(m, d)
        params = {**MMC_PARAMS, "diagonal": diagonal}
        return {OURS: lambda: metriclearn.MMC(**params),
                ANCHOR: lambda: metric_learn.MMC(**params)}, (pairs, labels)

    return problem


def _itml_problem(d, m):
    import metric_learn

    import metriclearn
    from metriclearn._itml import itml_default_bounds

    X, pairs, labels = _pairs(m, d)
    bounds = itml_default_bounds(X, np.eye(d), random_state=0)
    params = {"max_iter": ITML_SWEEPS, "tol": 0.0}
    return {OURS: lambda: metriclearn.ITML(**params),
            ANCHOR: lambda: metric_learn.ITML(**params)}, (pairs, labels, bounds)


def _lmnn_problem(n, d, k=3):
    import metric_learn
    from anchors import pylmnn_estimator_class

    import metriclearn

    X, y = _classification(n, d)
    return {OURS: lambda: metriclearn.LMNN(n_neighbors=k, random_state=0),
            ANCHOR: lambda: metric_learn.LMNN(n_neighbors=k, random_state=0),
            PYLMNN: lambda: pylmnn_estimator_class()(n_neighbors=k, random_state=0),
            }, (X, y)


def _sgd_problem(n, d, m=None):
    """SGD with ``m`` pairs per epoch against SCML with about as many
    triplets (``n * k_genuine * k_impostor``, ``k_genuine=3``)."""
    from metric_learn import SCML_Supervised

    import metriclearn

    X, y = _classification(n, d)
    k_imp = 10 if m is None else max(1, round(m / (3 * n)))
    return {OURS: lambda: metriclearn.SGDMetricLearner_Supervised(
                n_constraints=m, random_state=0),
            SCML: lambda: SCML_Supervised(k_genuine=3, k_impostor=k_imp, random_state=0),
            }, (X, y)


# learner -> axis -> (x label, values, function(value) -> (factories, fit_args),
#                     function(value) -> the x plotted)
def series(quick=False):
    """The grid of every learner's axes (``quick``: three small points each)."""

    def pick(values):
        return values[:3] if quick else values

    pair_sizes = pick([100, 200, 400, 800, 1600])
    dims = pick([4, 8, 16, 32, 64])
    out = {}
    for name, problem in (("mmc", _mmc_problem(False)), ("mmc_diag", _mmc_problem(True)),
                          ("itml", _itml_problem)):
        out[name] = {
            "constraints": ("pairs (= samples)", pair_sizes,
                            lambda m, p=problem: p(16, m), lambda m: 2 * m),
            "n_features": ("n_features", dims,
                           lambda d, p=problem: p(d, 200), lambda d: d),
        }
    sizes = pick([250, 500, 1000, 2000, 4000])
    feats = pick([5, 10, 20, 40, 80])
    ks = pick([1, 2, 4, 8])
    out["lmnn"] = {
        "n_samples": ("n_samples", sizes, lambda n: _lmnn_problem(n, 20), lambda n: n),
        "n_features": ("n_features", feats, lambda d: _lmnn_problem(1000, d), lambda d: d),
        "constraints": ("target pairs (n x n_neighbors)", ks,
                        lambda k: _lmnn_problem(1000, 20, k), lambda k: 1000 * k),
    }
    per_epoch = pick([1000, 3000, 9000, 27000])
    out["sgd"] = {
        "n_samples": ("n_samples", sizes, lambda n: _sgd_problem(n, 20), lambda n: n),
        "n_features": ("n_features", feats, lambda d: _sgd_problem(1000, d), lambda d: d),
        "constraints": ("pairs per epoch (SCML: triplets)", per_epoch,
                        lambda m: _sgd_problem(1000, 20, m), lambda m: m),
    }
    return out


def _point(factory, fit_args, repeats, timeout):
    """Median wall and CPU time and peak RSS of ``repeats`` fits (one when
    the first takes a second or more); None on failure."""
    fits = []
    for r in range(repeats):
        fit = fit_once(factory, fit_args, timeout)
        if fit.error is not None:
            return {"error": fit.error.strip().splitlines()[-1]}
        fits.append(fit)
        if r == 0 and fit.wall >= 1.0:
            break
    return {
        "wall": statistics.median(f.wall for f in fits),
        "cpu": statistics.median(f.cpu for f in fits),
        "rss_mib": max((f.rss_mib or 0.0) for f in fits),
        "n_fits": len(fits),
    }


def run(quick=False, repeats=3, stop_after=8.0, timeout=40.0, log=print):
    """Every series; returns ``{learner: {axis: {"label", "points"}}}``."""
    results = {}
    for learner, axes in series(quick).items():
        results[learner] = {}
        for axis, (label, values, make, xval) in axes.items():
            points, stopped = [], set()
            for v in values:
                factories, fit_args = make(v)
                for lib, factory in factories.items():
                    if lib in stopped:
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if lib == OURS:  # the first call of a new shape
                            fit_once(factory, fit_args, timeout)
                        res = _point(factory, fit_args, repeats, timeout)
                    res.update(library=lib, value=v, x=xval(v))
                    points.append(res)
                    if "error" in res or res["wall"] > stop_after:
                        stopped.add(lib)
                    log(f"[scaling] {learner:8s} {axis:11s} {v:>6} {lib:17s} "
                        + (res["error"][:60] if "error" in res else
                           f"{res['wall']:.4f} s  {res['rss_mib']:.1f} MiB"))
            results[learner][axis] = {"label": label, "points": points,
                                      "fits": exponents(points)}
    return results


def _slope(xs, ys):
    """Least-squares slope of ``log y`` on ``log x`` (None under 3 points)."""
    if len(xs) < 3:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


MIN_MEMORY_MIB = 0.5  # memory points below this are page-size noise


def exponents(points):
    """Per library: the fitted exponents of time and of memory."""
    out = {}
    for lib in dict.fromkeys(p["library"] for p in points):
        good = [p for p in points if p["library"] == lib and "error" not in p]
        mem = [p for p in good if p["rss_mib"] >= MIN_MEMORY_MIB]
        out[lib] = {
            "time": _slope([p["x"] for p in good], [p["wall"] for p in good]),
            "memory": _slope([p["x"] for p in mem], [p["rss_mib"] for p in mem]),
        }
    return out


TITLES = {"mmc": "MMC (full)", "mmc_diag": "MMC (diagonal)", "itml": "ITML",
          "lmnn": "LMNN", "sgd": "SGDMetricLearner_Supervised / SCML"}
COLORS = {OURS: "C0", ANCHOR: "C3", PYLMNN: "C2", SCML: "C3"}


def _fmt_slope(value):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def plot(results, out_dir):
    """One PNG per learner (time above, memory below, one column per axis);
    returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    paths = []
    for learner, axes in results.items():
        n_axes = len(axes)
        fig, grid = plt.subplots(2, n_axes, figsize=(3.6 * n_axes, 5.6), squeeze=False)
        for col, (_axis, res) in enumerate(axes.items()):
            for row, (key, ylabel) in enumerate((("wall", "fit time (s)"),
                                                 ("rss_mib", "peak memory (MiB)"))):
                ax = grid[row][col]
                for lib, fits in res["fits"].items():
                    pts = [p for p in res["points"] if p["library"] == lib
                           and "error" not in p]
                    if key == "rss_mib":
                        pts = [p for p in pts if p["rss_mib"] >= MIN_MEMORY_MIB]
                    if not pts:
                        continue
                    slope = fits["time" if key == "wall" else "memory"]
                    ax.loglog([p["x"] for p in pts], [p[key] for p in pts], "o-",
                              color=COLORS.get(lib), ms=3,
                              label=f"{lib} (slope {_fmt_slope(slope)})")
                ax.set_xlabel(res["label"], fontsize=8)
                if col == 0:
                    ax.set_ylabel(ylabel, fontsize=8)
                ax.tick_params(labelsize=7)
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.grid(True, which="major", alpha=0.3)
                if ax.has_data():
                    ax.legend(fontsize=6.5, loc="upper left")
        fig.suptitle(f"{TITLES.get(learner, learner)}: fit time and peak memory",
                     fontsize=10)
        fig.tight_layout()
        path = out_dir / f"scaling-{learner}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths
