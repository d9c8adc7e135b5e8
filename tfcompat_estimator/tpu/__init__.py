"""`tf.compat.v1.estimator.tpu`: TPUEstimator programs, run on CPU and GPU.

See `tpu_estimator.py` for what running without a TPU keeps and changes.
"""

# pylint: disable=unused-import
from tfcompat_estimator import lazy_exports as _lazy
from tfcompat_estimator.tpu import experimental
from tfcompat_estimator.tpu.tpu_config import InputPipelineConfig
from tfcompat_estimator.tpu.tpu_config import RunConfig
from tfcompat_estimator.tpu.tpu_config import TPUConfig
from tfcompat_estimator.tpu.tpu_estimator import TPUEstimator
from tfcompat_estimator.tpu.tpu_estimator import TPUEstimatorSpec

# dir() shows 2.15's names, not the implementation submodules (which the
# deep module paths `tensorflow_estimator.python.estimator.tpu.*` reach).
__dir__ = _lazy.module_dir(__name__, (
    'InputPipelineConfig', 'RunConfig', 'TPUConfig', 'TPUEstimator',
    'TPUEstimatorSpec', 'experimental'))
