"""Input functions over in-memory data (`tf.compat.v1.estimator.inputs`)."""

from tfcompat_estimator.inputs.numpy_io import numpy_input_fn
from tfcompat_estimator.inputs.pandas_io import pandas_input_fn

__all__ = ['numpy_input_fn', 'pandas_input_fn']
