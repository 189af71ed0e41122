"""metriclearn.plotting draws what it says: the points, matrices, counts and curves given."""

import re
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import sqrtm

from metriclearn import MMC, Constraints, MMC_Supervised, SGDMetricLearner_Supervised
from metriclearn.datasets import make_xing_toy

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from metriclearn.plotting import (  # noqa: E402
    plot_3d,
    plot_matrix,
    plot_objective,
    plot_pair_distances,
)


@pytest.fixture(autouse=True)
def close_figures(monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plotting functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def toy():
    return make_xing_toy(n_samples=60, n_classes=3, random_state=0)


@pytest.fixture(scope="module")
def full_mmc(toy):
    return MMC_Supervised(random_state=0).fit(*toy)


@pytest.fixture(scope="module")
def diagonal_mmc(toy):
    return MMC_Supervised(diagonal=True, random_state=0).fit(*toy)


@pytest.fixture(scope="module")
def pairs(toy):
    X, y = toy
    return Constraints(y).pairs(40, random_state=0)


def spd_matrix(seed=0):
    A = np.random.default_rng(seed).standard_normal((3, 3))
    return A @ A.T + 0.1 * np.eye(3)


def drawn_points(collection):
    return np.column_stack([np.asarray(c, dtype=float) for c in collection._offsets3d])


def sorted_rows(A):
    return A[np.lexsort(A.T[::-1])]


def check_is_psd_root(X, Z, M):
    """``Z = X @ S`` with ``S`` the PSD square root of ``M`` (the unique symmetric
    PSD ``S`` with ``S @ S = M``; scipy's ``sqrtm`` is inaccurate for the
    singular matrices MMC learns)."""
    S = np.linalg.lstsq(X, Z, rcond=None)[0]
    scale = np.abs(M).max()
    assert_allclose(X @ S, Z, atol=1e-9 * np.abs(Z).max())
    assert_allclose(S, S.T, atol=1e-9 * np.sqrt(scale))
    assert np.linalg.eigvalsh(0.5 * (S + S.T)).min() > -1e-9 * np.sqrt(scale)
    assert_allclose(S @ S, M, atol=1e-9 * scale)


# ------------------------------------------------------------------ import


def test_module_does_not_import_matplotlib():
    code = (
        "import sys, metriclearn.plotting; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_matplotlib_names_the_extra(monkeypatch, toy):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    message = (
        "metriclearn.plotting needs matplotlib; install it with "
        'pip install "metriclearn[plot]"'
    )
    for call in (
        lambda: plot_3d(toy[0], toy[1]),
        lambda: plot_matrix(np.eye(3)),
        lambda: plot_pair_distances(None, np.zeros((2, 2, 3)), [1, -1]),
        lambda: plot_objective([]),
    ):
        with pytest.raises(ImportError, match=re.escape(message)):
            call()


# ------------------------------------------------------------------ plot_3d


@pytest.mark.parametrize("kind", ["none", "matrix", "learner"])
def test_plot_3d_draws_points_at_sqrt_m(kind, toy, full_mmc):
    X, y = toy
    if kind == "none":
        metric, M = None, np.eye(3)
    elif kind == "matrix":
        metric = M = spd_matrix()
    else:
        metric, M = full_mmc, full_mmc.get_mahalanobis_matrix()
    ax = plot_3d(X, y, metric=metric, title="a title")
    assert len(ax.collections) == 3  # one scatter per class
    assert sum(len(c.get_offsets()) for c in ax.collections) == X.shape[0]
    for collection, label in zip(ax.collections, np.unique(y), strict=True):
        points = drawn_points(collection)
        assert points.shape == (np.sum(y == label), 3)
        check_is_psd_root(X[y == label], points, M)
        if kind != "learner":  # M is non-singular: scipy's square root is exact
            assert_allclose(sorted_rows(points), sorted_rows(X[y == label] @ sqrtm(M)),
                            atol=1e-9 * np.abs(points).max())
    assert ax.get_title() == "a title"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "class 0", "class 1", "class 2"
    ]


def test_plot_3d_distances_are_the_learned_ones(toy, full_mmc):
    X, y = toy
    ax = plot_3d(X, None, metric=full_mmc)
    assert len(ax.collections) == 1
    Z = drawn_points(ax.collections[0])
    check_is_psd_root(X, Z, full_mmc.get_mahalanobis_matrix())
    idx = np.array([[0, 1], [2, 7], [5, 30], [11, 59]])
    assert_allclose(
        np.linalg.norm(Z[idx[:, 0]] - Z[idx[:, 1]], axis=1),
        full_mmc.pair_distance(X[idx]),
        rtol=1e-7,
    )


def test_plot_3d_equal_scales_and_given_axes(toy, diagonal_mmc):
    X, y = toy
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    out = plot_3d(X, y, metric=diagonal_mmc, ax=ax)
    assert out is ax
    widths = [np.diff(lim)[0] for lim in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
    assert_allclose(widths, widths[0])
    assert_allclose(ax.get_box_aspect(), ax.get_box_aspect()[0])


@pytest.mark.parametrize(
    "X, y, metric, message",
    [
        (np.zeros((5, 2)), None, None, "X must have shape (n_samples, 3); got shape (5, 2)"),
        (np.zeros((0, 3)), None, None, "X must contain at least one point"),
        (np.full((2, 3), np.nan), None, None, "X must contain only finite values"),
        (np.zeros((5, 3)), np.zeros(4), None, "y must have shape (5,) to match X; got shape (4,)"),
        (np.zeros((5, 3)), None, np.ones((3, 2)),
         "metric must be a square matrix; got shape (3, 2)"),
        (np.zeros((5, 3)), None, np.eye(2),
         "metric must be a (3, 3) matrix for data with 3 features; got shape (2, 2)"),
        (np.zeros((5, 3)), None, np.triu(np.ones((3, 3))), "metric must be a symmetric matrix"),
        (np.zeros((5, 3)), None, -np.eye(3), "metric must be positive semi-definite"),
    ],
)
def test_plot_3d_bad_input(X, y, metric, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plot_3d(X, y, metric=metric)


def test_plot_3d_needs_3d_axes(toy):
    _, ax = plt.subplots()
    message = "ax must be a 3-D Axes, created with projection='3d'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plot_3d(*toy, ax=ax)


# ------------------------------------------------------------------ plot_matrix


def test_plot_matrix_shows_m_on_a_symmetric_scale():
    M = np.array([[2.0, -3.0, 0.5], [-3.0, 6.0, 1.0], [0.5, 1.0, 1.0]])
    ax = plot_matrix(M, feature_names=["a", "b", "c"])
    (image,) = ax.images
    assert_array_equal(image.get_array(), M)
    assert image.get_clim() == (-6.0, 6.0)
    assert image.get_cmap().name == "RdBu_r"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    # the values, printed in the cells with the decimals of the largest
    assert [t.get_text() for t in ax.texts] == [
        "2.00", "-3.00", "0.50", "-3.00", "6.00", "1.00", "0.50", "1.00", "1.00"
    ]
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar


def test_plot_matrix_small_entries_printed_alike():
    M = np.array([[0.0287, -0.00086], [-0.00086, 1e-6]])
    ax = plot_matrix(M)
    assert [t.get_text() for t in ax.texts] == ["0.0287", "-0.0009", "-0.0009", "0.0000"]


def test_plot_matrix_of_a_learner(full_mmc):
    _, ax = plt.subplots()
    out = plot_matrix(full_mmc, ax=ax)
    assert out is ax
    M = full_mmc.get_mahalanobis_matrix()
    assert_allclose(ax.images[0].get_array(), M)
    vmax = np.abs(M).max()
    assert_allclose(ax.images[0].get_clim(), (-vmax, vmax))


@pytest.mark.parametrize(
    "M, names, message",
    [
        (np.ones((2, 3)), None, "M must be a square matrix; got shape (2, 3)"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), None, "M must contain only finite values"),
        (np.eye(3), ["a", "b"],
         "feature_names must have 3 names, one per feature of M; got 2"),
    ],
)
def test_plot_matrix_bad_input(M, names, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plot_matrix(M, feature_names=names)


# ------------------------------------------------------------------ plot_pair_distances


def bar_heights(container):
    return np.array([bar.get_height() for bar in container])


def test_pair_distances_euclidean(toy, pairs):
    X, _ = toy
    idx, y_pairs = pairs
    ax = plot_pair_distances(None, X[idx], y_pairs, bins=12)
    similar, dissimilar = ax.containers
    n_sim, n_dis = int(np.sum(y_pairs == 1)), int(np.sum(y_pairs == -1))
    assert bar_heights(similar).sum() == n_sim == 40
    assert bar_heights(dissimilar).sum() == n_dis == 40
    d = np.linalg.norm(X[idx[:, 0]] - X[idx[:, 1]], axis=1)
    edges = np.histogram_bin_edges(d, bins=12)
    assert_array_equal(bar_heights(similar), np.histogram(d[y_pairs == 1], edges)[0])
    assert_array_equal(bar_heights(dissimilar), np.histogram(d[y_pairs == -1], edges)[0])
    assert ax.get_xlabel() == "Euclidean distance"
    assert not ax.lines  # no threshold without a pairs classifier


def test_pair_distances_learned_with_index_pairs(toy, pairs):
    X, _ = toy
    idx, y_pairs = pairs
    mmc = MMC(preprocessor=X, random_state=0).fit(idx, y_pairs)
    edges = np.linspace(0.0, 2.0, 9)
    ax = plot_pair_distances(mmc, idx, y_pairs, bins=edges)
    d = mmc.pair_distance(idx)
    for container, label in zip(ax.containers, (1, -1), strict=True):
        counts = bar_heights(container)
        assert_array_equal(counts, np.histogram(d[y_pairs == label], edges)[0])
    (line,) = ax.lines  # the calibrated threshold
    assert_allclose(line.get_xdata(), mmc.threshold_)
    # the same histograms from the learner's matrix and the pairs of points
    ax2 = plot_pair_distances(mmc.get_mahalanobis_matrix(), X[idx], y_pairs, bins=edges)
    for a, b in zip(ax.containers, ax2.containers, strict=True):
        assert_array_equal(bar_heights(a), bar_heights(b))


def test_pair_distances_one_kind_only(toy, pairs):
    X, _ = toy
    idx, y_pairs = pairs
    keep = y_pairs == -1
    ax = plot_pair_distances(None, X[idx[keep]], y_pairs[keep])
    (container,) = ax.containers
    assert bar_heights(container).sum() == keep.sum()


@pytest.mark.parametrize(
    "pairs, y_pairs, bins, message",
    [
        (np.zeros((3, 2, 3)), [1, -1, 0], 10,
         "y_pairs must contain only +1 (similar) and -1 (dissimilar); got [0]"),
        (np.zeros((3, 2, 3)), [1, -1], 10,
         "pairs and y_pairs must have the same length; got 3 pairs and 2 labels"),
        (np.zeros((3, 2), dtype=int), [1, -1, 1], 10,
         "pairs must have shape (n_pairs, 2, n_features) when learner is None or a "
         "matrix (index pairs need a fitted learner); got shape (3, 2)"),
        (np.zeros((0, 2, 3)), [], 10, "pairs must contain at least one pair"),
        (np.zeros((2, 2, 3)), [[1, -1]], 10, "y_pairs must be 1-D; got shape (1, 2)"),
        (np.zeros((2, 2, 3)), [1, -1], 2.5,
         "bins must be an int, a sequence of edges or a str; got 2.5"),
    ],
)
def test_pair_distances_bad_input(pairs, y_pairs, bins, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plot_pair_distances(None, pairs, y_pairs, bins=bins)


# ------------------------------------------------------------------ plot_objective


def test_objective_curves_are_the_histories(toy, full_mmc, diagonal_mmc):
    X, y = toy
    sgd = SGDMetricLearner_Supervised(max_iter=20, tol=None, random_state=0).fit(X, y)
    ax = plot_objective([full_mmc, diagonal_mmc, sgd])
    assert len(ax.lines) == 3
    for line, learner in zip(ax.lines, (full_mmc, diagonal_mmc, sgd), strict=True):
        assert_array_equal(line.get_ydata(), learner.objective_history_)
    # MMC records the start (n_iter_ + 1 values, from iteration 0); SGD one
    # value per epoch (from epoch 1)
    assert_array_equal(ax.lines[0].get_xdata(), np.arange(full_mmc.n_iter_ + 1))
    assert_array_equal(ax.lines[2].get_xdata(), np.arange(1, sgd.n_iter_ + 1))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "MMC_Supervised", "MMC_Supervised (diagonal)", "SGDMetricLearner_Supervised"
    ]
    assert ax.get_xlabel() == "iteration"


def test_objective_single_learner_log_scale(full_mmc):
    _, ax = plt.subplots()
    out = plot_objective(full_mmc, ax=ax, log=True, labels=["full"])
    assert out is ax
    assert ax.get_yscale() == "log"
    (line,) = ax.lines
    assert_array_equal(line.get_ydata(), full_mmc.objective_history_)
    assert ax.get_legend().get_texts()[0].get_text() == "full"


def test_objective_bad_input(full_mmc, diagonal_mmc):
    cases = [
        (lambda: plot_objective([]), "learners must contain at least one fitted learner"),
        (lambda: plot_objective(MMC_Supervised()),
         "MMC_Supervised has no objective_history_: pass fitted metric learners"),
        (lambda: plot_objective(full_mmc, labels=["a", "b"]),
         "labels must have one entry per learner (1); got 2"),
        (lambda: plot_objective(diagonal_mmc, log=True),
         "log=True needs positive objective values; MMC_Supervised's objective_history_ "
         f"has a minimum of {diagonal_mmc.objective_history_.min():.6g}"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()
