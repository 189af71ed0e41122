"""The one place where metriclearn touches private or moving scikit-learn API.

scikit-learn moves private helpers between releases; every estimator imports
them from here, so a release that moves one breaks this file and nothing else.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
    "validate_params",
]
