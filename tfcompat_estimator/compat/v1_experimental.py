"""`tf.compat.v1.estimator.experimental`: 2.15's v1 experimental names.

The same objects as `tf.estimator.experimental`'s (see `experimental.py`);
only `dir()` differs, listing v1's names (`KMeans` and the logit function
builders, not the RNN estimators).
"""

# pylint: disable=unused-import
from tfcompat_estimator import lazy_exports as _lazy
from tfcompat_estimator.experimental import *  # pylint: disable=wildcard-import
from tfcompat_estimator.experimental import EAGER_NAMES as _EAGER_NAMES

__getattr__ = _lazy.module_getattr(
    __name__, {**_lazy.EXPERIMENTAL_V2, **_lazy.EXPERIMENTAL_V1})
__dir__ = _lazy.module_dir(__name__, _EAGER_NAMES, _lazy.EXPERIMENTAL_V1)
