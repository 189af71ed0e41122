"""The errors metriclearn raises beyond scikit-learn's, named as metric-learn
names them so that code catching them keeps working."""

import numpy as np

__all__ = ["NonPSDError", "PreprocessorError", "UnboundedObjectiveWarning"]


# numpy's LinAlgError is a ValueError already
_LINALG_ERRORS = ((np.linalg.LinAlgError,) if issubclass(np.linalg.LinAlgError, ValueError)
                  else (ValueError, np.linalg.LinAlgError))


class NonPSDError(*_LINALG_ERRORS):
    """A matrix that must be positive (semi-)definite is not.

    Both a ``ValueError`` (bad input, as scikit-learn reports it) and a
    ``numpy.linalg.LinAlgError`` (as metric-learn reports it), so that code
    catching either keeps working.
    """


class PreprocessorError(ValueError):
    """A callable ``preprocessor`` failed on the values it was given; the
    original exception is chained as ``__cause__``."""


class UnboundedObjectiveWarning(UserWarning):
    """A learner's objective is unbounded on the given side-information, and
    the learned metric is the limit of its optimisation.

    Turn it into an error with
    ``warnings.simplefilter("error", UnboundedObjectiveWarning)``: ``fit``
    then raises it and leaves the estimator as it was.
    """
