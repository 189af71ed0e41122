"""metric-learn's old parameter names, still accepted so that its users'
code runs: the default that says "not given", and the one warning that
names the new parameter."""

import warnings

__all__ = ["UNSET", "is_unset", "warn_ignored", "warn_renamed"]

# the default of an old parameter: not given
UNSET = "deprecated"


def is_unset(value):
    return isinstance(value, str) and value == UNSET


def warn_renamed(owner, old, new, value, stacklevel):
    """The ``FutureWarning`` for ``old=value`` given instead of ``new``."""
    warnings.warn(
        f"{owner}: {old} was renamed {new}; use {new}={value!r} ({old} will be "
        "removed; its value is used)",
        FutureWarning, stacklevel=stacklevel + 1,
    )


def warn_ignored(owner, old, why, stacklevel):
    """The ``FutureWarning`` for an old parameter that has no effect."""
    warnings.warn(
        f"{owner}: {old} has no effect ({why}); it will be removed",
        FutureWarning, stacklevel=stacklevel + 1,
    )
