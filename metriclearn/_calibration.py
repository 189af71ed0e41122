"""The distance threshold of a pairs classifier: the strategies it can
optimise, their parameters, and the optimal cut over every distinct
distance."""

import numbers

import numpy as np

__all__ = ["STRATEGIES", "best_threshold", "check_calibration_params", "check_strategy"]


STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def check_strategy(strategy, min_rate, beta):
    """Raise a ``ValueError`` naming the argument when ``strategy``, or the
    ``min_rate`` or ``beta`` it needs, is not valid."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {list(STRATEGIES)}; got {strategy!r}"
        )
    if strategy in ("max_tpr", "max_tnr"):
        if (
            min_rate is None
            or isinstance(min_rate, bool)
            or not isinstance(min_rate, numbers.Real)
            or not 0 <= min_rate <= 1
        ):
            raise ValueError(
                f"min_rate must be a number in [0, 1] for strategy={strategy!r}; "
                f"got {min_rate!r}"
            )
    if strategy == "f_beta" and (
        isinstance(beta, bool) or not isinstance(beta, numbers.Real)
        or not 0 <= beta < np.inf
    ):
        # beta = 0 is the precision of the similar class, as in metric-learn
        raise ValueError(f"beta must be a finite number >= 0; got {beta!r}")


def check_calibration_params(calibration_params):
    """Validate the ``calibration_params`` of a pairs learner's ``fit`` before
    any work, and return them as the full dict of keyword arguments of
    :func:`best_threshold` (``strategy``, ``min_rate``, ``beta``)."""
    calibration_params = dict(calibration_params or {})
    unknown = sorted(set(calibration_params) - {"strategy", "min_rate", "beta"})
    if unknown:
        raise ValueError(
            "calibration_params accepts the keys 'strategy', 'min_rate' and "
            f"'beta'; got unknown keys {unknown}"
        )
    params = {"strategy": "accuracy", "min_rate": None, "beta": 1.0, **calibration_params}
    check_strategy(**params)
    return params


def best_threshold(dist, y, strategy, min_rate=None, beta=1.0):
    """Threshold on distances optimising ``strategy`` over every distinct cut.

    Cut ``j`` (``j = 0..m``) accepts the ``j`` smallest distinct distances.
    """
    values, inverse = np.unique(dist, return_inverse=True)
    m = values.shape[0]
    pos = np.bincount(inverse, weights=(y == 1), minlength=m)
    neg = np.bincount(inverse, weights=(y != 1), minlength=m)
    tp = np.concatenate([[0.0], np.cumsum(pos)])
    fp = np.concatenate([[0.0], np.cumsum(neg)])
    n_pos, n_neg = tp[-1], fp[-1]
    fn, tn = n_pos - tp, n_neg - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.where(n_pos > 0, tp / n_pos, 1.0)
        tnr = np.where(n_neg > 0, tn / n_neg, 1.0)
        if strategy == "accuracy":
            crit = tp + tn
        elif strategy == "f_beta":
            b2 = beta * beta
            den = (1 + b2) * tp + b2 * fn + fp
            crit = np.where(den > 0, (1 + b2) * tp / den, 0.0)
        elif strategy == "max_tpr":
            crit = np.where(tnr >= min_rate, tpr + 1e-9 * tnr, -np.inf)
        else:
            crit = np.where(tpr >= min_rate, tnr + 1e-9 * tpr, -np.inf)
    j = int(np.argmax(crit))
    if j == 0:
        low = values[0]
        return float(low - max(1.0, abs(low)))
    if j == m:
        return float(values[-1])
    return float(0.5 * (values[j - 1] + values[j]))
