"""The metric API shared by every learner, and the two fit templates.

:class:`MahalanobisMixin` derives the whole metric API from ``components_``
(the linear map ``L``, with ``M = L^T L``); the tuple classifiers
(:class:`PairsClassifierMixin`, :class:`TripletsClassifierMixin`,
:class:`QuadrupletsClassifierMixin`) are
defined in :mod:`metriclearn._classifiers` and re-exported here.

:class:`BaseMetricLearner` is the base of every learner: the hooks of the
fit templates with their defaults, and what a template does with a solver's
:class:`FitResult` (set the fitted attributes, warn at ``max_iter``, at one
stack level). :class:`TupleLearnerMixin` is the ``fit`` of a learner from
tuples (validate once, ``_fit_tuples``, calibrate) and
:class:`SupervisedLearnerMixin` the ``fit`` of a learner from class labels
(validate once, draw tuples from the labels, the same ``_fit_tuples``). The
input checks (:func:`check_tuples`, :func:`check_preprocessor`),
:class:`FitResult` and :func:`components_from_metric` are re-exported for
new learners.
"""

import copy
import warnings

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._calibration import best_threshold, check_calibration_params
from ._classifiers import (
    PairsClassifierMixin,
    QuadrupletsClassifierMixin,
    TripletsClassifierMixin,
)
from ._compat import ParamNamesOnce, _fit_context, check_is_fitted
from ._kernels.sgd import pair_sq_distances
from ._legacy import UNSET, is_unset, warn_ignored, warn_renamed
from ._linalg import components_from_metric
from ._progress import Progress, reporting
from ._result import FitResult
from ._threads import limit_threads, numba_threads
from ._validation import (
    TUPLE_NAMES,
    Tuples,
    check_points,
    check_preprocessor,
    check_tuples,
    restore_on_error,
)
from .constraints import pairs_from_labels

__all__ = [
    "DOC_LINK_TEMPLATE",
    "UNSET",
    "BaseMetricLearner",
    "FitResult",
    "MahalanobisMixin",
    "PairsClassifierMixin",
    "QuadrupletsClassifierMixin",
    "SupervisedLearnerMixin",
    "TripletsClassifierMixin",
    "TupleLearnerMixin",
    "check_preprocessor",
    "check_tuples",
    "components_from_metric",
]


# the API page of a public class, for the "?" link of its HTML representation
DOC_LINK_TEMPLATE = (
    "https://metriclearn.readthedocs.io/en/latest/gen_modules/"
    "{estimator_module}.{estimator_name}.html"
)


# --------------------------------------------------------------------------
# the metric
# --------------------------------------------------------------------------


class MahalanobisMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Metric API derived from ``components_`` (``L``, with ``M = L^T L``).

    The learned distance is ``d_M(x, x') = sqrt((x - x')^T M (x - x'))``, the
    Euclidean distance between ``L x`` and ``L x'``. The output features of
    :meth:`transform` are named ``<classname>0``, ``<classname>1``, ... by
    ``get_feature_names_out`` (as scikit-learn's linear transformers do), which
    also enables ``set_output(transform="pandas")``.
    """

    def get_mahalanobis_matrix(self):
        """A copy of the learned Mahalanobis matrix ``M = L^T L``.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self, "components_")
        return self.components_.T @ self.components_

    def transform(self, X):
        """Map points into the learned space: ``X @ L.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or (n_samples,)
            integer indices when the estimator has an array ``preprocessor``.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
            float32 for float32 points (as scikit-learn's transformers keep
            it: half the memory; ``L`` is rounded to float32 for the
            product), float64 otherwise.
        """
        check_is_fitted(self, "components_")
        X = check_points(self, X, reset=False, dtype=(np.float64, np.float32))
        return X @ self.components_.T.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def get_metric(self):
        """A function ``metric(u, v, squared=False)`` computing the learned
        distance between two points.

        It holds a copy of ``L``: refitting the estimator does not change it.
        It can be passed as ``metric=`` to scikit-learn's neighbours
        estimators (``KNeighborsClassifier(metric=learner.get_metric())``).
        """
        check_is_fitted(self, "components_")
        L = self.components_.copy()

        def metric(u, v, squared=False):
            u = np.asarray(u, dtype=np.float64).ravel()
            v = np.asarray(v, dtype=np.float64).ravel()
            if u.shape != v.shape or u.shape[0] != L.shape[1]:
                raise ValueError(
                    f"u and v must both have {L.shape[1]} features; got shapes "
                    f"{u.shape} and {v.shape}"
                )
            e = L @ (u - v)
            d2 = float(e @ e)
            return d2 if squared else np.sqrt(d2)

        return metric

    def pair_distance(self, pairs):
        """Learned distance between the two points of each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features), or (n_pairs, 2)
            integer indices when the estimator has a ``preprocessor``.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        return np.sqrt(self._sq_distances(self._check_tuples(pairs, size=2)))

    def score_pairs(self, pairs):
        """The learned distance of each pair (deprecated).

        .. deprecated::
            metric-learn's name, kept so that its users' code runs: it
            returns :meth:`pair_distance` (distances, as metric-learn 0.7.0
            does) with a ``FutureWarning``. Use :meth:`pair_distance` for
            distances or :meth:`pair_score` for similarities.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        warnings.warn(
            "score_pairs is deprecated: it returns pair_distance(pairs), the learned "
            "distances; use pair_distance for distances or pair_score for "
            "similarities (minus the distances)",
            FutureWarning, stacklevel=2,
        )
        return self.pair_distance(pairs)

    def pair_score(self, pairs):
        """Similarity of each pair: minus its learned distance (higher means
        more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return -self.pair_distance(pairs)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _check_tuples(self, tuples, y=None, *, size, ensure_both_labels=False):
        """Tuples given to a method of the fitted estimator, validated once:
        indices into an array preprocessor stay indices."""
        check_is_fitted(self, "components_")
        return check_tuples(
            tuples, y, size=size, preprocessor=getattr(self, "preprocessor_", None),
            n_features=self.components_.shape[1], gather=False,
            ensure_both_labels=ensure_both_labels,
        )

    def _sq_distances(self, tuples, first=0, second=1):
        """Squared learned distances between points ``first`` and ``second``
        of validated :class:`Tuples`, block by block."""
        idx = tuples.indices
        if idx.shape[1] != 2 or (first, second) != (0, 1):
            idx = np.ascontiguousarray(idx[:, [first, second]])
        return pair_sq_distances(tuples.X, idx, self.components_)


# --------------------------------------------------------------------------
# fit templates
# --------------------------------------------------------------------------

# the frames between the templates' warnings and the user's call:
# the warning's method -> template -> fit -> scikit-learn's _fit_context -> the user
_STACKLEVEL = 5


class BaseMetricLearner(MahalanobisMixin, ParamNamesOnce, BaseEstimator):
    """The base of every learner: the hooks of the fit templates with their
    defaults, and what the templates do with a solver's result.

    A learner family overrides the hooks it needs here (in its own base
    class); :class:`TupleLearnerMixin` and :class:`SupervisedLearnerMixin`
    hold only the template methods, so that no default of theirs shadows a
    family's override.
    """

    # points per tuple (2: pairs, 3: triplets) of a learner from tuples
    _tuple_size = 2
    # whether its solver wants the tuples' own points (see check_tuples)
    _gather = True
    # what max_iter counts, for the convergence warning
    _iteration_unit = "iterations"
    # the learner of points and class labels that draws this one's tuples
    _supervised_twin = None
    # the "?" link of the HTML representation goes to this package's API page
    _doc_link_module = "metriclearn"
    _doc_link_template = DOC_LINK_TEMPLATE

    # metric-learn's old parameter names, still accepted with a FutureWarning:
    # old name -> new name (the old one's value is used when given)
    _renamed_parameters = {}
    # metric-learn's parameters that have no effect here: name -> why
    _ignored_parameters = {}

    def __sklearn_clone__(self):
        """A clone that shares an array ``preprocessor`` instead of copying it.

        scikit-learn's ``clone`` deep-copies every parameter, so each fold of
        a cross-validation held its own copy of ``preprocessor=X``. The data
        are only read (never written) by the learners, so clones share them;
        the other parameters are cloned as scikit-learn does.
        """
        params = self.get_params(deep=False)
        new = type(self)(**{
            name: value if name == "preprocessor" else clone(value, safe=False)
            for name, value in params.items()
        })
        # what scikit-learn's clone carries over besides the parameters
        for attr in ("_sklearn_output_config", "_metadata_request"):
            if attr in vars(self):
                setattr(new, attr, copy.deepcopy(vars(self)[attr]))
        return new

    def _param(self, name):
        """The value of parameter ``name``: that of its old name when the
        user gave the old one, its own otherwise."""
        for old, new in self._renamed_parameters.items():
            if new == name and not is_unset(getattr(self, old)):
                return getattr(self, old)
        return getattr(self, name)

    def _warn_legacy_parameters(self):
        """A ``FutureWarning`` for each of metric-learn's old parameters the
        user gave."""
        for old, new in self._renamed_parameters.items():
            value = getattr(self, old)
            if not is_unset(value):
                warn_renamed(type(self).__name__, old, new, value, _STACKLEVEL)
        for old, why in self._ignored_parameters.items():
            if not is_unset(getattr(self, old)):
                warn_ignored(type(self).__name__, old, why, _STACKLEVEL)

    def _check_fit_params(self, **fit_params):
        """Check the extra arguments of ``fit`` before any work (none by default)."""

    def _check_tuples_input(self, tuples, y):
        """The training tuples, validated once."""
        hint = self._supervised_twin and (
            f"{type(self).__name__} learns from {TUPLE_NAMES[self._tuple_size]}; to learn "
            f"from points X and class labels y use {self._supervised_twin}"
        )
        return check_tuples(
            tuples, y, size=self._tuple_size, preprocessor=self.preprocessor_,
            gather=self._gather, ensure_both_labels=self._tuple_size == 2, hint=hint,
        )

    def _check_labels_input(self, X, y):
        """The training points and class labels, validated once."""
        X, y = check_points(self, X, y=y, reset=True, ensure_min_samples=2)
        return np.ascontiguousarray(X, dtype=np.float64), y

    def _set_fitted(self, result):
        """The fitted attributes from a solver's :class:`~metriclearn._result.FitResult`."""
        self.components_ = result.components
        self.n_iter_ = result.n_iter
        self.objective_history_ = np.asarray(result.history, dtype=np.float64)
        self.converged_ = result.converged
        for name, value in result.attributes.items():
            setattr(self, name, value)

    def _convergence_message(self):
        """The warning when the solver stopped at ``max_iter`` (``None``: no warning)."""
        return (
            f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
            f"{self._iteration_unit} (tol={self._param('tol')}); increase max_iter or tol"
        )

    def _solver_threads(self):
        """The numba threads of the solver (``n_jobs`` where the learner has
        it, else 1). The templates run the solver with these and one BLAS
        thread (scoped, then restored): the kernels parallelise themselves,
        and a BLAS pool of its own under them oversubscribes the cores."""
        return numba_threads(getattr(self, "n_jobs", None))

    def _progress(self):
        """The :class:`~metriclearn._progress.Progress` of a fit at the
        learner's ``verbose`` level (silent for a learner without one)."""
        return Progress(type(self).__name__, getattr(self, "verbose", 0),
                        getattr(self, "max_iter", None), self._iteration_unit)

    def _warn_about(self, result):
        """The solver's warnings, and a ``ConvergenceWarning`` when it stopped
        at ``max_iter``; issued inside ``restore_on_error``, so that a warning
        turned into an error leaves the estimator as it was."""
        for category, message in result.warnings:
            warnings.warn(message, category, stacklevel=_STACKLEVEL)
        message = None if result.converged else self._convergence_message()
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=_STACKLEVEL)


class TupleLearnerMixin:
    """``fit`` from tuples: validate them once, learn with ``_fit_tuples``,
    then (pairs) calibrate ``threshold_`` on the training pairs.

    A learner implements ``_fit_tuples(tuples, rng, **fit_params) ->
    FitResult``; ``_tuple_size`` and ``_gather`` (class attributes of
    :class:`BaseMetricLearner`) say what it learns from.
    """

    def _fit_from_tuples(self, tuples, y, *, calibration_params=None, **fit_params):
        calibrate = self._tuple_size == 2
        if calibrate:
            calibration_params = check_calibration_params(calibration_params)
        self._check_fit_params(**fit_params)
        self._warn_legacy_parameters()
        with restore_on_error(self):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            tuples = self._check_tuples_input(tuples, y)
            self.n_features_in_ = tuples.n_features
            progress = self._progress()
            progress.start(f"{tuples.n_tuples:,} {TUPLE_NAMES[self._tuple_size]} of "
                           f"{tuples.n_features:,} features")
            with limit_threads(self._solver_threads(), blas=1), reporting(progress):
                result = self._fit_tuples(tuples, check_random_state(self.random_state),
                                          **fit_params)
            progress.close(result.n_iter, result.converged)
            self._set_fitted(result)
            if calibrate:
                sq = result.sq_distances
                if sq is None:
                    sq = self._sq_distances(tuples)
                self.threshold_ = best_threshold(np.sqrt(sq), tuples.y, **calibration_params)
            self._warn_about(result)
        return self


class SupervisedLearnerMixin:
    """``fit`` from points and class labels (documented here, once, for the
    learners whose ``fit`` takes nothing more): validate them once, then
    ``_fit_labels``, which by default draws ``n_constraints`` similar and as
    many dissimilar pairs from the labels (:class:`~metriclearn.Constraints`)
    and learns from them with the learner's ``_fit_tuples``."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the metric from points and their class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points (or a 1-D array of indices into ``preprocessor``).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self
        """
        return self._fit_from_labels(X, y)

    def _fit_labels(self, X, y, rng, **fit_params):
        pairs, labels = pairs_from_labels(type(self).__name__, y,
                                          self._param("n_constraints"), rng)
        tuples = Tuples(X, pairs.astype(np.intp, copy=False), labels.astype(np.intp))
        return self._fit_tuples(tuples, rng, **fit_params)

    def _fit_from_labels(self, X, y, **fit_params):
        self._check_fit_params(**fit_params)
        self._warn_legacy_parameters()
        with restore_on_error(self):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
            X, y = self._check_labels_input(X, y)
            progress = self._progress()
            progress.start(f"{X.shape[0]:,} points of {X.shape[1]:,} features")
            # a learner that draws nothing has no random_state (LFDA, as in
            # metric-learn): its generator is unused
            rng = check_random_state(getattr(self, "random_state", None))
            with limit_threads(self._solver_threads(), blas=1), reporting(progress):
                result = self._fit_labels(X, y, rng, **fit_params)
            progress.close(result.n_iter, result.converged)
            self._set_fitted(result)
            self._warn_about(result)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
