"""tf.estimator for TensorFlow 2.16+: legacy Estimator code runs unchanged.

`import tfcompat_estimator as estimator` gives the `tf.estimator` (v2) names;
`tfcompat_estimator.compat.v1` gives `tf.compat.v1.estimator`. Call
`tfcompat_estimator.install()` once to make `tf.estimator`,
`tf.compat.v1.estimator` and `import tensorflow_estimator` resolve here.

`dir()` lists only the 2.15 `tf.estimator` names; `install`, `compat`,
`inputs` and the implementation submodules resolve but are not listed.
"""

import os

# TF1 layers and RNN cells (tf.compat.v1.layers, nn.rnn_cell) need tf-keras;
# this must be decided before tf.keras is first touched.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

# pylint: disable=g-import-not-at-top,wrong-import-position
from tfcompat_estimator import experimental
from tfcompat_estimator import export
from tfcompat_estimator import inputs
from tfcompat_estimator.estimator import EstimatorV2 as Estimator
from tfcompat_estimator.hooks import *  # pylint: disable=wildcard-import
from tfcompat_estimator.model_fn import EstimatorSpec
from tfcompat_estimator.model_fn import ModeKeys
from tfcompat_estimator.run_config import RunConfig
from tfcompat_estimator.warm_starting import VocabInfo
from tfcompat_estimator.warm_starting import WarmStartSettings
from tfcompat_estimator import compat
from tfcompat_estimator.install import install
from tfcompat_estimator.platform import tensorflow_alias as _tensorflow_alias
from tfcompat_estimator import lazy_exports as _lazy

_tensorflow_alias.guard()
__getattr__ = _lazy.module_getattr(__name__, _lazy.V2)
__dir__ = _lazy.module_dir(__name__, _lazy.EAGER_V2, _lazy.V2)

__version__ = '0.1.0'
