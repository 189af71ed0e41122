"""Package-wide settings: :func:`set_config`, :func:`get_config` and
:func:`config_context`, as scikit-learn has them.

The settings are per thread (a fit in one thread does not see a context
entered in another) and start from the defaults in every new thread.
"""

import threading
from contextlib import contextmanager

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {"progress_bar": False}
_local = threading.local()


def _settings():
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config():
    """The current settings, as a new dict.

    Returns
    -------
    config : dict
        ``progress_bar`` (bool): whether fits with ``verbose=1`` or ``2``
        show a ``tqdm`` progress bar (when ``tqdm`` is installed) instead of
        periodic lines.
    """
    return dict(_settings())


def set_config(progress_bar=None):
    """Change settings; ``None`` leaves a setting as it is.

    Parameters
    ----------
    progress_bar : bool, default=None
        Fits with ``verbose=1`` or ``2`` show a ``tqdm`` progress bar on
        stderr (when ``tqdm`` is installed; the periodic lines otherwise).
    """
    if progress_bar is not None:
        if not isinstance(progress_bar, bool):
            raise ValueError(f"progress_bar must be True or False; got {progress_bar!r}")
        _settings()["progress_bar"] = progress_bar


@contextmanager
def config_context(*, progress_bar=None):
    """:func:`set_config` for the body of a ``with`` statement, then the
    settings as they were.

    Examples
    --------
    >>> import metriclearn
    >>> with metriclearn.config_context(progress_bar=True):
    ...     metriclearn.get_config()["progress_bar"]
    True
    >>> metriclearn.get_config()["progress_bar"]
    False
    """
    before = get_config()
    set_config(progress_bar=progress_bar)
    try:
        yield
    finally:
        _settings().clear()
        _settings().update(before)
