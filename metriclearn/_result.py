"""The record every solver returns to its estimator's fit template."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """What a solver (or a training driver) found.

    The fit template sets ``components_``, ``n_iter_``,
    ``objective_history_`` and ``converged_`` from it, then every entry of
    ``attributes``, and warns when ``converged`` is false.

    Attributes
    ----------
    components : ndarray of shape (n_components, n_features)
        The linear map ``L``.
    n_iter : int
        Iterations (sweeps, epochs) run.
    converged : bool
        Whether the stopping criterion was met before ``max_iter``.
    history : array-like of shape (n_iter,) or (n_iter + 1,)
        The objective along the way.
    attributes : dict
        Further fitted attributes, by name (``bounds_``, ``classes_``, ...).
    sq_distances : ndarray of shape (n_pairs,) or None
        Squared learned distances of the training pairs, when the solver
        computed them where the pairs live (the Dask backend); the template
        computes them otherwise.
    warnings : list of (category, message)
        Warnings about the result (an unbounded objective, ...), which the
        template issues at the user's call.
    """

    components: np.ndarray
    n_iter: int
    converged: bool
    history: object
    attributes: dict = field(default_factory=dict)
    sq_distances: np.ndarray | None = None
    warnings: list = field(default_factory=list)
