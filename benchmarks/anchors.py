"""The anchor libraries' estimators: metric-learn 0.7.0, pylmnn 1.6.4 (with its run-time shim), NCA.

pylmnn 1.6.4 no longer runs as released: its package ``__init__`` imports
GPyOpt for an optional hyperparameter search nothing here uses, and it hands
SciPy's ``minimize`` a 2-D ``x0`` and L-BFGS-B's removed ``disp`` option,
both rejected by current SciPy. :func:`pylmnn_class` fixes both at run time,
in this process only; the installed package is left as released.
"""

import sys
import types

METRIC_LEARN = "metric-learn"
PYLMNN = "pylmnn"
NCA = "scikit-learn NCA"
SCML = "metric-learn SCML"


def pylmnn_class():
    """pylmnn's ``LargeMarginNearestNeighbor``, made to run on current SciPy."""
    if "GPyOpt" not in sys.modules:
        stub = types.ModuleType("GPyOpt")
        stub.methods = types.ModuleType("GPyOpt.methods")
        stub.methods.BayesianOptimization = None
        sys.modules["GPyOpt"] = stub
        sys.modules["GPyOpt.methods"] = stub.methods
    import numpy as np
    import pylmnn.lmnn as module
    from scipy.optimize import minimize

    if not getattr(module, "_flat_x0", False):

        def flat_minimize(**kwargs):
            kwargs["x0"] = np.ravel(kwargs["x0"])
            options = dict(kwargs.get("options") or {})
            options.pop("disp", None)
            kwargs["options"] = options
            return minimize(**kwargs)

        module.minimize = flat_minimize
        module._flat_x0 = True
    return module.LargeMarginNearestNeighbor


def pylmnn(**params):
    """An unfitted pylmnn LMNN."""
    return pylmnn_class()(**params)


def metric_learn(name, **params):
    """An unfitted metric-learn estimator, by class name (``"MMC"``, ``"LMNN"``, ...)."""
    import metric_learn as ml

    return getattr(ml, name)(**params)


def nca(**params):
    """An unfitted scikit-learn ``NeighborhoodComponentsAnalysis``."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    return NeighborhoodComponentsAnalysis(**params)


def components(est):
    """``L`` of a fitted estimator of any library."""
    return est.components_


def mahalanobis(est):
    """``M = L^T L`` of a fitted estimator of any library."""
    L = components(est)
    return L.T @ L
