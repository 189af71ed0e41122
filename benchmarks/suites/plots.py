"""The scaling plots: a PNG per learner, fit time above and peak memory below, an axis a column."""

import math

from ..anchors import METRIC_LEARN, NCA, PYLMNN, SCML
from ..learners import OURS
from .scaling import MIN_MEMORY_MIB, TITLES

COLORS = {OURS: "C0", METRIC_LEARN: "C3", PYLMNN: "C2", SCML: "C3", NCA: "C1"}


def _slope(value):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def scaling(series, folder):
    """Draw every learner's series into ``folder``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    paths = []
    for learner, axes in series.items():
        fig, grid = plt.subplots(2, len(axes), figsize=(3.6 * len(axes), 5.6), squeeze=False)
        for col, res in enumerate(axes.values()):
            for row, (key, ylabel) in enumerate((("wall", "fit time (s)"),
                                                 ("rss_mib", "peak memory (MiB)"))):
                ax = grid[row][col]
                for lib, fits in res["fits"].items():
                    pts = [p for p in res["points"]
                           if p["library"] == lib and "error" not in p]
                    if key == "rss_mib":
                        pts = [p for p in pts if p["rss_mib"] >= MIN_MEMORY_MIB]
                    if not pts:
                        continue
                    slope = fits["time" if key == "wall" else "memory"]
                    ax.loglog([p["x"] for p in pts], [p[key] for p in pts], "o-",
                              color=COLORS.get(lib), ms=3,
                              label=f"{lib} (slope {_slope(slope)})")
                ax.set_xlabel(res["label"], fontsize=8)
                if col == 0:
                    ax.set_ylabel(ylabel, fontsize=8)
                ax.tick_params(labelsize=7)
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.grid(True, which="major", alpha=0.3)
                if ax.has_data():
                    ax.legend(fontsize=6.5, loc="upper left")
        fig.suptitle(f"{TITLES.get(learner, learner)}: fit time and peak memory", fontsize=10)
        fig.tight_layout()
        path = folder / f"scaling-{learner}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths
