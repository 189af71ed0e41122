"""Anchor libraries that need help to run in the benchmark environment.

pylmnn 1.6.4 (unmaintained) no longer runs as released: its package
``__init__`` imports GPyOpt for an optional hyperparameter search the
benchmark does not use, and it hands scipy's ``minimize`` a 2-D ``x0`` and
the ``disp`` option of L-BFGS-B, both rejected by current SciPy. The shim
below fixes those at run time, in this process only; the installed package
is left as released.
"""

import sys
import types


def pylmnn_estimator_class():
    """pylmnn's ``LargeMarginNearestNeighbor``, made to run on current SciPy."""
    if "GPyOpt" not in sys.modules:
        # pylmnn.bayesopt imports it at package import; nothing here calls it
        stub = types.ModuleType("GPyOpt")
        stub.methods = types.ModuleType("GPyOpt.methods")
        stub.methods.BayesianOptimization = None
        sys.modules["GPyOpt"] = stub
        sys.modules["GPyOpt.methods"] = stub.methods
    import numpy as np
    import pylmnn.lmnn as module
    from scipy.optimize import minimize

    if not getattr(module, "_bench_shimmed", False):

        def patched_minimize(**kwargs):
            kwargs["x0"] = np.ravel(kwargs["x0"])
            options = dict(kwargs.get("options") or {})
            options.pop("disp", None)
            kwargs["options"] = options
            return minimize(**kwargs)

        module.minimize = patched_minimize
        module._bench_shimmed = True
    return module.LargeMarginNearestNeighbor
