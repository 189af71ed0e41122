"""A lean L-BFGS, unconstrained, for the learners that minimise over a factor
``L`` of the metric: LSML (smooth) and LMNN (piecewise smooth, its hinge).

scipy's ``minimize(method='L-BFGS-B')`` costs tens of microseconds of driver
per evaluation (argument checks, its bound handling, the Fortran interface
and the ``OptimizeResult`` machinery), more than the evaluation itself when
the problem has a few dozen variables; the whole fit of such a problem is
then mostly the driver's. This module is the unconstrained method alone:
the two-loop recursion (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
Algorithm 7.4) in one numba kernel (:func:`._kernels.lbfgs.two_loop`), and
a line search for the weak Wolfe conditions by doubling and bisection (Lewis
& Overton, "Nonsmooth optimization via quasi-Newton methods", Math.
Program. 141, 2013), which serves LMNN's piecewise smooth hinge as well as
smooth objectives: interpolating line searches converge onto the kinks of a
piecewise linear function, where neither the quasi-Newton direction nor
steepest descent lowers it any more. An objective may return ``inf``
outside its domain (a singular ``L``): the line search shortens its step
until it is back inside.

Stopping is the caller's: ``callback`` sees every iterate and returns True
to stop. The solver itself stops after ``max_iter`` iterations, or when the
line search finds no step that lowers the objective (a stationary point as
far as floating point can tell).
"""

from dataclasses import dataclass

import numpy as np

from ._kernels.lbfgs import two_loop

__all__ = ["LBFGSResult", "minimize"]

# sufficient decrease and curvature constants of the Wolfe conditions
_C1 = 1e-4
_C2 = 0.9
# evaluations one line search may spend
_MAX_EVAL = 30


@dataclass
class LBFGSResult:
    """The last iterate ``x`` with its value ``f`` and gradient ``g``;
    ``n_iter`` iterations taken; ``status`` is ``'callback'`` (the
    callback asked to stop), ``'max_iter'`` or ``'line_search'`` (no step
    lowered the objective)."""

    x: np.ndarray
    f: float
    g: np.ndarray
    n_iter: int
    status: str


def minimize(fun, x0, *, max_iter, callback=None, memory=10):
    """Minimise ``fun`` from ``x0`` by L-BFGS with a weak Wolfe line search.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, g)``: the value (``inf`` outside the domain) and the
        gradient, a float64 array of the shape of ``x``. ``x`` is never
        modified by the solver after the call, so ``fun`` may keep it.
    x0 : ndarray of shape (n,), float64
        The start; its value must be finite.
    max_iter : int
        Iterations at most.
    callback : callable, optional
        ``callback(n_iter, x, f, g)`` after each iteration; a true return
        stops the solver.
    memory : int, default=10
        Curvature pairs kept.

    Returns
    -------
    LBFGSResult
    """
    x = np.array(x0, dtype=np.float64)
    n = x.shape[0]
    f, g = fun(x)
    if not np.isfinite(f):
        raise ValueError("the starting point of L-BFGS must have a finite objective")
    S = np.empty((memory, n))
    Y = np.empty((memory, n))
    rho = np.empty(memory)
    p = np.empty(n)
    newest, count, gamma = -1, 0, 1.0
    n_iter = 0
    while n_iter < max_iter:
        if count:
            two_loop(g, S, Y, rho, newest, count, gamma, p)
            slope = float(g @ p)
            step = 1.0
        if not count or not slope < 0.0:
            # steepest descent, the first step of length at most 1
            np.negative(g, out=p)
            slope = -float(g @ g)
            if slope == 0.0:
                return LBFGSResult(x, f, g, n_iter, "line_search")
            step = min(1.0, 1.0 / np.sqrt(-slope))
            count = 0
        found = _wolfe_search(fun, x, f, p, slope, step)
        if found is None and count:
            # the curvature pairs may describe the function badly (near a
            # kink of a piecewise smooth one): forget them, try steepest descent
            count = 0
            continue
        if found is None:
            return LBFGSResult(x, f, g, n_iter, "line_search")
        t, x_new, f_new, g_new = found
        s = x_new - x
        y = g_new - g
        sy = float(s @ y)
        if sy > 1e-10 * np.sqrt(float(s @ s) * float(y @ y)):
            newest = (newest + 1) % memory
            S[newest] = s
            Y[newest] = y
            rho[newest] = 1.0 / sy
            count = min(count + 1, memory)
            gamma = sy / float(y @ y)
        x, f, g = x_new, f_new, g_new
        n_iter += 1
        if callback is not None and callback(n_iter, x, f, g):
            return LBFGSResult(x, f, g, n_iter, "callback")
    return LBFGSResult(x, f, g, n_iter, "max_iter")


def _wolfe_search(fun, x, f0, p, d0, step):
    """A step along ``p`` (slope ``d0 < 0``) that meets the weak Wolfe
    conditions, found by doubling and bisection (Lewis and Overton's line
    search, which suits piecewise smooth objectives as well as smooth ones:
    its trial steps never converge onto a kink, where interpolation would);
    failing that, the longest step found that meets sufficient decrease;
    None when no step lowers the objective.

    Returns ``(t, x + t p, f, g)``.
    """
    lo, hi = 0.0, np.inf
    best = None
    t = step
    for _ in range(_MAX_EVAL):
        xt = x + t * p
        ft, gt = fun(xt)
        if not np.isfinite(ft) or ft > f0 + _C1 * t * d0:
            hi = t  # too long: not enough decrease
        elif float(gt @ p) < _C2 * d0:
            lo, best = t, (t, xt, ft, gt)  # too short: the slope is still steep
        else:
            return t, xt, ft, gt
        if hi < np.inf:
            if hi - lo <= 1e-12 * hi:
                break
            t = 0.5 * (lo + hi)
        else:
            t = 2.0 * lo
    return best
