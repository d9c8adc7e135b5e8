"""API generations: `compat.v1` is `tf.compat.v1.estimator`, `compat.v2` the package."""

import sys

from tfcompat_estimator.compat import v1

v2 = sys.modules['tfcompat_estimator']
