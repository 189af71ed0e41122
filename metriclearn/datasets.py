"""Toy data in the setting of Xing et al.'s figures."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions, validate_params

__all__ = ["make_xing_toy"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_classes": [Interval(Integral, 2, 3, closed="both")],
        "separated_along": [StrOptions({"y", "z"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_xing_toy(n_samples=100, n_classes=2, separated_along="y", random_state=None):
    """3D data whose classes differ along one axis only (Xing et al. 2002).

    The classes are thin slabs stacked along the ``separated_along`` axis
    (centres 4 apart, within-class standard deviation 0.5 along that axis)
    while the two other axes carry a much larger within-class spread
    (standard deviations 5 and 2.5, the same for every class). Euclidean
    k-means therefore splits the data along the wide axis, across the
    classes; a metric learned from side-information recovers them.

    Parameters
    ----------
    n_samples : int, default=100
        Total number of points, split as evenly as possible among the classes.
    n_classes : {2, 3}, default=2
        Number of classes.
    separated_along : {'y', 'z'}, default='y'
        Axis along which the classes differ.
    random_state : int, RandomState instance or None, default=None
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (n_samples, 3)
        Points (columns x, y, z).
    y : ndarray of shape (n_samples,)
        Class labels ``0 .. n_classes - 1``.

    Examples
    --------
    >>> from metriclearn.datasets import make_xing_toy
    >>> X, y = make_xing_toy(n_samples=60, n_classes=3, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((60, 3), [0, 1, 2])
    """
    rng = check_random_state(random_state)
    y = np.arange(n_samples) % n_classes
    axis = {"y": 1, "z": 2}[separated_along]
    wide = [k for k in range(3) if k != axis]
    X = np.empty((n_samples, 3))
    centres = 4.0 * (np.arange(n_classes) - (n_classes - 1) / 2.0)
    X[:, axis] = centres[y] + 0.5 * rng.standard_normal(n_samples)
    X[:, wide[0]] = 5.0 * rng.standard_normal(n_samples)
    X[:, wide[1]] = 2.5 * rng.standard_normal(n_samples)
    return X, y
