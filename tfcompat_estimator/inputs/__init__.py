"""Input functions over in-memory data (`tf.compat.v1.estimator.inputs`)."""

from tfcompat_estimator.inputs.numpy_io import numpy_input_fn
from tfcompat_estimator.inputs.pandas_io import pandas_input_fn
from tfcompat_estimator import lazy_exports as _lazy

__all__ = ['numpy_input_fn', 'pandas_input_fn']
# dir() shows the two input functions, not the implementation submodules.
__dir__ = _lazy.module_dir(__name__, __all__)
