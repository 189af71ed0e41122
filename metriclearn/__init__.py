"""metriclearn: fast, scikit-learn-compatible linear metric learning.

Every learner finds a Mahalanobis matrix ``M = L^T L`` and is a transformer
(``transform(X) = X @ L.T``) that fits ahead of k-nearest neighbours or
k-means in a scikit-learn ``Pipeline``.
"""

from importlib.metadata import PackageNotFoundError, version

from ._config import config_context, get_config, set_config
from ._covariance import Covariance
from ._itml import ITML, ITML_Supervised
from ._lfda import LFDA
from ._lmnn import LMNN
from ._lsml import LSML, LSML_Supervised
from ._mlkr import MLKR
from ._mmc import MMC, MMC_Supervised
from ._nca import NCA
from ._rca import RCA, RCA_Supervised
from ._scml import SCML, SCML_Supervised
from ._sdml import SDML, SDML_Supervised
from ._sgd.pairs import SGDMetricLearner
from ._sgd.supervised import SGDMetricLearner_Supervised
from ._sgd.triplets import SGDTripletLearner
from ._sgd.twoview import SGDTwoViewLearner
from .constraints import Constraints

try:
    __version__ = version("metriclearn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "MMC", "MMC_Supervised", "ITML", "ITML_Supervised", "LMNN", "NCA", "LFDA", "MLKR",
    "RCA", "RCA_Supervised", "Covariance",
    "SGDMetricLearner", "SGDMetricLearner_Supervised", "SGDTripletLearner",
    "SGDTwoViewLearner",
    "LSML", "LSML_Supervised", "SDML", "SDML_Supervised", "SCML", "SCML_Supervised",
    "Constraints", "config_context", "get_config", "set_config", "__version__",
]
