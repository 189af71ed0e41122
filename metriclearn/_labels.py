"""One index of class labels, sorted by class: what :class:`Constraints`,
the SGD family's pair sampler and LMNN's class blocks are built on."""

import numpy as np

__all__ = ["LabelIndex"]


class LabelIndex:
    """Points grouped by class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (every distinct value a class).

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        The distinct labels, sorted.
    codes : ndarray of shape (n_samples,), intp
        Each point's class as an index into ``classes``.
    counts : ndarray of shape (n_classes,)
        Points per class.
    order : ndarray of shape (n_samples,), intp
        The stable order that sorts the points by class.
    start : ndarray of shape (n_classes,)
        Where each class begins in ``order``.
    rank : ndarray of shape (n_samples,), intp
        Each point's position within its class in ``order``.
    """

    def __init__(self, y):
        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        self.classes = classes
        self.codes = codes.ravel().astype(np.intp, copy=False)
        self.counts = np.bincount(self.codes, minlength=classes.shape[0])
        self.order = np.argsort(self.codes, kind="stable")
        self.start = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.intp)
        self.rank = np.empty(self.codes.shape[0], dtype=np.intp)
        self.rank[self.order] = np.arange(self.codes.shape[0]) - self.start[
            self.codes[self.order]
        ]

    @property
    def n_classes(self):
        return self.classes.shape[0]

    @property
    def bounds(self):
        """``start`` followed by the number of points: class ``c`` occupies
        ``order[bounds[c]:bounds[c + 1]]``."""
        return np.concatenate([self.start, [self.codes.shape[0]]]).astype(np.intp)
