"""Pictures of learned metrics: data in 3-D, the matrix, pair distances, objective curves.

Matplotlib is an optional dependency (``pip install "metriclearn[plot]"``); it
is imported when a function is called, never when this module is imported.
Every function draws on the Axes given as ``ax`` (or on a new figure), returns
that Axes, and never calls ``plt.show()``.
"""

from numbers import Integral

import numpy as np

__all__ = ["plot_3d", "plot_matrix", "plot_pair_distances", "plot_objective"]

_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")


def _pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "metriclearn.plotting needs matplotlib; install it with "
            'pip install "metriclearn[plot]"'
        ) from exc
    return plt


def _is_learner(obj):
    return hasattr(obj, "get_mahalanobis_matrix")


def _square_matrix(M, name):
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square matrix; got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{name} must contain only finite values")
    return M


def _metric_matrix(metric, n_features, name="metric"):
    """The PSD matrix that ``metric`` stands for: the identity for None, a
    fitted learner's ``get_mahalanobis_matrix()``, or a symmetric PSD array."""
    if metric is None:
        return np.eye(n_features)
    if _is_learner(metric):
        M = np.asarray(metric.get_mahalanobis_matrix(), dtype=np.float64)
    else:
        M = _square_matrix(metric, name)
        scale = max(np.abs(M).max(), 1e-300)
        if not np.allclose(M, M.T, rtol=0.0, atol=1e-10 * scale):
            raise ValueError(f"{name} must be a symmetric matrix")
        if np.linalg.eigvalsh(0.5 * (M + M.T)).min() < -1e-10 * scale:
            raise ValueError(f"{name} must be positive semi-definite")
    if M.shape != (n_features, n_features):
        raise ValueError(
            f"{name} must be a ({n_features}, {n_features}) matrix for data with "
            f"{n_features} features; got shape {M.shape}"
        )
    return M


def _sqrt_psd(M):
    """Symmetric square root of a positive semi-definite matrix."""
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def plot_3d(X, y=None, *, metric=None, ax=None, title=None):
    """Draw 3-D points as seen by a metric: each ``x`` at ``M^{1/2} x``.

    ``M^{1/2}`` is the symmetric square root of the Mahalanobis matrix, so the
    Euclidean distances between the drawn points are the learned distances
    and the picture keeps the original axes (a learner's ``transform`` gives
    the same distances in the coordinates of ``M``'s principal directions).
    The three axes have equal scales, so a direction the metric shrinks looks
    shrunk. This is the picture of Xing et al.'s toy experiments.

    Parameters
    ----------
    X : array-like of shape (n_samples, 3)
        Points with three features.
    y : array-like of shape (n_samples,), default=None
        Class labels: one marker and colour per class, and a legend. None
        draws every point alike.
    metric : None, fitted learner or array-like of shape (3, 3), default=None
        The metric: None for the Euclidean one, a fitted metric learner
        (its ``get_mahalanobis_matrix()``), or a symmetric positive
        semi-definite matrix ``M``.
    ax : matplotlib 3-D Axes, default=None
        Where to draw (created with ``projection='3d'``). None creates a new
        figure, seen from ``elev=20, azim=-25``.
    title : str, default=None
        Title of the Axes.

    Returns
    -------
    ax : matplotlib 3-D Axes

    Examples
    --------
    >>> from metriclearn import MMC_Supervised
    >>> from metriclearn.datasets import make_xing_toy
    >>> from metriclearn.plotting import plot_3d
    >>> X, y = make_xing_toy(n_samples=60, random_state=0)
    >>> mmc = MMC_Supervised(random_state=0).fit(X, y)
    >>> ax = plot_3d(X, y, metric=mmc, title="full MMC")
    >>> len(ax.collections)  # one scatter per class
    2
    """
    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(f"X must have shape (n_samples, 3); got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X must contain at least one point")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must contain only finite values")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y must have shape ({X.shape[0]},) to match X; got shape {y.shape}"
            )
    M = _metric_matrix(metric, 3)
    if ax is None:
        fig = plt.figure()
        ax = fig.add_subplot(projection="3d")
        ax.view_init(elev=20, azim=-25)
    elif getattr(ax, "name", None) != "3d":
        raise ValueError("ax must be a 3-D Axes, created with projection='3d'")

    Z = X @ _sqrt_psd(M)
    if y is None:
        ax.scatter(*Z.T, s=12, depthshade=False)
    else:
        for k, label in enumerate(np.unique(y)):
            ax.scatter(*Z[y == label].T, s=12, marker=_MARKERS[k % len(_MARKERS)],
                       depthshade=False, label=f"class {label}")
        ax.legend(loc="upper left", fontsize="small")
    # equal scales: the same half-width around the centre on the three axes
    centre = 0.5 * (Z.max(axis=0) + Z.min(axis=0))
    half = 0.55 * np.ptp(Z, axis=0).max()
    if half <= 0:
        half = 1.0
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_matrix(M, *, ax=None, feature_names=None):
    """Heatmap of a Mahalanobis matrix on a symmetric diverging colour scale.

    White is zero, red positive and blue negative, with the colour scale
    running from ``-max|M|`` to ``max|M|``, so the sign of every entry and its
    size relative to the others can be read at a glance. Entries are printed
    in the cells when the matrix has at most 10 rows, all with the same number
    of decimals (three significant digits on the largest entry).

    Parameters
    ----------
    M : fitted learner or array-like of shape (n_features, n_features)
        A fitted metric learner (its ``get_mahalanobis_matrix()``) or a
        square matrix.
    ax : matplotlib Axes, default=None
        Where to draw. None creates a new figure.
    feature_names : sequence of str, default=None
        Labels of the rows and columns (default: the feature indices).

    Returns
    -------
    ax : matplotlib Axes
        The heatmap is ``ax.images[0]``; its colour bar is drawn next to it.

    Examples
    --------
    >>> import numpy as np
    >>> from metriclearn.plotting import plot_matrix
    >>> ax = plot_matrix(np.array([[2.0, -1.0], [-1.0, 1.0]]), feature_names=["a", "b"])
    >>> ax.images[0].get_array().tolist()
    [[2.0, -1.0], [-1.0, 1.0]]
    """
    plt = _pyplot()
    if _is_learner(M):
        M = np.asarray(M.get_mahalanobis_matrix(), dtype=np.float64)
    M = _square_matrix(M, "M")
    d = M.shape[0]
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]
        if len(feature_names) != d:
            raise ValueError(
                f"feature_names must have {d} names, one per feature of M; "
                f"got {len(feature_names)}"
            )
    if ax is None:
        _, ax = plt.subplots()
    vmax = np.abs(M).max()
    if vmax == 0:
        vmax = 1.0
    image = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax)
    ticks = np.arange(d)
    labels = feature_names if feature_names is not None else [str(i) for i in ticks]
    if d <= 30:
        ax.set_xticks(ticks, labels, rotation=90 if feature_names is not None else 0)
        ax.set_yticks(ticks, labels)
    if d <= 10:
        # one number of decimals for all cells: 3 significant digits on the largest
        decimals = max(0, 2 - int(np.floor(np.log10(vmax))))
        for i in range(d):
            for j in range(d):
                value = round(float(M[i, j]), decimals) + 0.0  # no "-0.000"
                strong = abs(M[i, j]) > 0.6 * vmax
                ax.text(j, i, f"{value:.{decimals}f}", ha="center", va="center",
                        fontsize="small", color="white" if strong else "black")
    return ax


def plot_pair_distances(learner, pairs, y_pairs, *, ax=None, bins=30):
    """Overlaid histograms of the distances of similar and dissimilar pairs.

    A good metric puts the similar pairs (``y_pairs == 1``) at small distances
    and the dissimilar ones (``y_pairs == -1``) at large distances, so the two
    histograms barely overlap. Both use the same bins. When the learner has a
    calibrated threshold (``threshold_``, pairs classifiers) it is drawn as a
    dashed vertical line.

    Parameters
    ----------
    learner : None, fitted learner or array-like of shape (n_features, n_features)
        The metric: None for the Euclidean one, a fitted metric learner (its
        ``pair_distance``), or a symmetric positive semi-definite matrix.
    pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        Pairs of points; integer indices only with a learner fitted with a
        ``preprocessor``.
    y_pairs : array-like of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    ax : matplotlib Axes, default=None
        Where to draw. None creates a new figure.
    bins : int, sequence or str, default=30
        Bins shared by both histograms, as in :func:`numpy.histogram_bin_edges`.

    Returns
    -------
    ax : matplotlib Axes
        The histograms are ``ax.containers[0]`` (similar pairs) and
        ``ax.containers[1]`` (dissimilar pairs), when both kinds are present.

    Examples
    --------
    >>> from metriclearn import Constraints, MMC_Supervised
    >>> from metriclearn.datasets import make_xing_toy
    >>> from metriclearn.plotting import plot_pair_distances
    >>> X, y = make_xing_toy(n_samples=60, random_state=0)
    >>> pairs, y_pairs = Constraints(y).pairs(50, random_state=0)
    >>> mmc = MMC_Supervised(random_state=0).fit(X, y)
    >>> ax = plot_pair_distances(mmc, X[pairs], y_pairs, bins=20)
    >>> int(sum(bar.get_height() for bar in ax.containers[0]))  # the 50 similar pairs
    50
    """
    plt = _pyplot()
    y_pairs = np.asarray(y_pairs)
    if y_pairs.ndim != 1:
        raise ValueError(f"y_pairs must be 1-D; got shape {y_pairs.shape}")
    bad = ~np.isin(y_pairs, (-1, 1))
    if bad.any():
        raise ValueError(
            "y_pairs must contain only +1 (similar) and -1 (dissimilar); got "
            f"{np.unique(y_pairs[bad])[:5].tolist()}"
        )
    if _is_learner(learner):
        distances = np.asarray(learner.pair_distance(pairs), dtype=np.float64)
    else:
        pairs = np.asarray(pairs)
        if pairs.ndim != 3 or pairs.shape[1] != 2:
            raise ValueError(
                "pairs must have shape (n_pairs, 2, n_features) when learner is None "
                f"or a matrix (index pairs need a fitted learner); got shape {pairs.shape}"
            )
        diff = pairs[:, 0, :].astype(np.float64) - pairs[:, 1, :]
        M = _metric_matrix(learner, pairs.shape[2], name="learner")
        distances = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, M, diff), 0.0))
    if distances.shape != y_pairs.shape:
        raise ValueError(
            f"pairs and y_pairs must have the same length; got {distances.shape[0]} pairs "
            f"and {y_pairs.shape[0]} labels"
        )
    if distances.shape[0] == 0:
        raise ValueError("pairs must contain at least one pair")
    if not (isinstance(bins, (Integral, str)) or np.ndim(bins) == 1):
        raise ValueError(f"bins must be an int, a sequence of edges or a str; got {bins!r}")
    edges = np.histogram_bin_edges(distances, bins=bins)
    if ax is None:
        _, ax = plt.subplots()
    for value, name, colour in ((1, "similar", "tab:blue"), (-1, "dissimilar", "tab:red")):
        selected = distances[y_pairs == value]
        if selected.shape[0]:
            ax.hist(selected, bins=edges, alpha=0.55, color=colour,
                    label=f"{name} ({selected.shape[0]} pairs)")
    threshold = getattr(learner, "threshold_", None) if _is_learner(learner) else None
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1,
                   label="threshold")
    ax.set_xlabel("Euclidean distance" if learner is None else "learned distance")
    ax.set_ylabel("number of pairs")
    ax.legend(fontsize="small")
    return ax


def plot_objective(learners, *, ax=None, log=False, labels=None):
    """Objective curves of fitted learners, from their ``objective_history_``.

    The x axis counts iterations as each learner does (gradient steps,
    Newton steps, sweeps or epochs). When a history holds ``n_iter_ + 1``
    values, the first is the objective at the start (iteration 0); otherwise
    the values are those after iterations 1, 2, ...

    Parameters
    ----------
    learners : fitted learner or list of fitted learners
        Learners with an ``objective_history_``. Objectives differ between
        algorithms (some are maximised, some minimised, at different scales):
        compare curves of one algorithm, or use one Axes per algorithm.
    ax : matplotlib Axes, default=None
        Where to draw. None creates a new figure.
    log : bool, default=False
        Logarithmic y axis (every objective value must then be positive).
    labels : list of str, default=None
        Legend entries, one per learner (default: the class names, with
        "(diagonal)" for a diagonal MMC).

    Returns
    -------
    ax : matplotlib Axes
        One line per learner, in ``ax.lines``.

    Examples
    --------
    >>> from metriclearn import MMC_Supervised
    >>> from metriclearn.datasets import make_xing_toy
    >>> from metriclearn.plotting import plot_objective
    >>> X, y = make_xing_toy(n_samples=60, random_state=0)
    >>> mmc = MMC_Supervised(random_state=0).fit(X, y)
    >>> ax = plot_objective(mmc)
    >>> len(ax.lines[0].get_ydata()) == len(mmc.objective_history_)
    True
    """
    plt = _pyplot()
    if isinstance(learners, (list, tuple)):
        learners = list(learners)
    else:
        learners = [learners]
    if not learners:
        raise ValueError("learners must contain at least one fitted learner")
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != len(learners):
            raise ValueError(
                f"labels must have one entry per learner ({len(learners)}); "
                f"got {len(labels)}"
            )
    histories = []
    for learner in learners:
        history = getattr(learner, "objective_history_", None)
        if history is None:
            raise ValueError(
                f"{type(learner).__name__} has no objective_history_: pass fitted "
                "metric learners"
            )
        history = np.asarray(history, dtype=np.float64).ravel()
        if history.shape[0] == 0:
            raise ValueError(f"{type(learner).__name__}'s objective_history_ is empty")
        if log and np.any(history <= 0):
            raise ValueError(
                f"log=True needs positive objective values; {type(learner).__name__}'s "
                f"objective_history_ has a minimum of {history.min():.6g}"
            )
        histories.append(history)
    if ax is None:
        _, ax = plt.subplots()
    for k, (learner, history) in enumerate(zip(learners, histories, strict=True)):
        start = 0 if history.shape[0] == getattr(learner, "n_iter_", -1) + 1 else 1
        if labels is not None:
            label = labels[k]
        else:
            label = type(learner).__name__
            if getattr(learner, "diagonal", False):
                label += " (diagonal)"
        iterations = np.arange(start, start + history.shape[0])
        ax.plot(iterations, history, marker="." if history.shape[0] <= 50 else None,
                label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.legend(fontsize="small")
    return ax
