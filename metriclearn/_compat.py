"""The one place where metriclearn touches private or moving API of its
dependencies.

scikit-learn moves private helpers between releases; every estimator imports
them from here, so a release that moves one breaks this file and nothing else.
SciPy's optimiser callbacks changed in 1.11 (an ``OptimizeResult`` argument,
``StopIteration`` to stop); :func:`minimize_lbfgsb` gives every supported
release the newer behaviour. :class:`ParamNamesOnce` overrides scikit-learn's
private ``_get_param_names`` hook to read the constructor's signature once
per class.
"""

import numpy as np
from scipy.optimize import OptimizeResult, minimize
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
    "ParamNamesOnce",
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "minimize_lbfgsb",
    "validate_data",
    "validate_params",
]


class ParamNamesOnce:
    """Mixin (ahead of ``BaseEstimator``): the parameter names of the class,
    read from its ``__init__`` signature once.

    scikit-learn's ``BaseEstimator._get_param_names`` (private) runs
    ``inspect.signature`` on every ``get_params``, hence on every ``fit``
    (parameter validation), ``clone`` and ``set_params``: about a fifth of a
    closed-form fit on small data. A class's signature does not change, so
    its names are kept on the class itself (each subclass computes its own).
    """

    @classmethod
    def _get_param_names(cls):
        names = cls.__dict__.get("_param_names_once")
        if names is None:
            names = tuple(super()._get_param_names())
            cls._param_names_once = names
        return list(names)


class _Stop(Exception):
    """Raised through SciPy's optimiser to stop it at the iterate ``x``."""

    def __init__(self, x):
        self.x = x


def minimize_lbfgsb(fun, x0, *, callback, options):
    """``scipy.optimize.minimize(fun, x0, jac=True, method='L-BFGS-B')`` whose
    ``callback(intermediate_result)`` gets an ``OptimizeResult`` with the
    iterate ``x`` and its value ``fun``, and may raise ``StopIteration`` to
    stop at that iterate, on every supported SciPy release (SciPy < 1.11
    passes the iterate alone and does not catch ``StopIteration``).

    Returns an ``OptimizeResult`` with at least ``x``.
    """
    last = {"x": None, "f": None}

    def fun_cached(x):
        f, g = fun(x)
        last["x"], last["f"] = x.copy(), f
        return f, g

    def legacy_callback(xk):
        # L-BFGS-B reports an iterate right after evaluating it
        if last["x"] is not None and np.array_equal(last["x"], xk):
            f = last["f"]
        else:
            f = fun(xk)[0]
        try:
            callback(OptimizeResult(x=xk, fun=f))
        except StopIteration:
            raise _Stop(np.copy(xk)) from None

    try:
        return minimize(fun_cached, x0, jac=True, method="L-BFGS-B",
                        callback=legacy_callback, options=options)
    except _Stop as stop:
        return OptimizeResult(x=stop.x, success=True,
                              message="stopped by the callback")
