"""`tf.compat.v1.estimator`: the v1 names, including `inputs` and `tpu`.

`dir()` lists only the 2.15 `tf.compat.v1.estimator` names.
"""

# pylint: disable=unused-import
from tfcompat_estimator import export
from tfcompat_estimator import inputs
from tfcompat_estimator.compat import v1_experimental as experimental
from tfcompat_estimator.estimator import Estimator
from tfcompat_estimator.hooks import *  # pylint: disable=wildcard-import
from tfcompat_estimator.model_fn import EstimatorSpec
from tfcompat_estimator.model_fn import ModeKeys
from tfcompat_estimator.run_config import RunConfig
from tfcompat_estimator.warm_starting import VocabInfo
from tfcompat_estimator.warm_starting import WarmStartSettings
from tfcompat_estimator import lazy_exports as _lazy

__getattr__ = _lazy.module_getattr(__name__, _lazy.V1)
__dir__ = _lazy.module_dir(__name__, _lazy.EAGER_V1, _lazy.V1)
