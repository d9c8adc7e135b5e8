"""API generations: `compat.v1` is `tf.compat.v1.estimator`, `compat.v2` the package."""

import sys

from tfcompat_estimator import lazy_exports as _lazy
from tfcompat_estimator.compat import v1

v2 = sys.modules['tfcompat_estimator']
__dir__ = _lazy.module_dir(__name__, ('v1', 'v2'))
