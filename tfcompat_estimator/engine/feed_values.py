"""Feed keys and fetched values as a v1 session took and gave them.

Shared by the emulated session and the input graph, which both take a
`feed_dict` and return numpy values (`SparseTensorValue` for sparse ones).
"""

import numpy as np
import tensorflow as tf


def feed_name(key):
  """The tensor name a feed_dict key stands for (a name, tensor or `.ref()`)."""
  if isinstance(key, str):
    return key if ':' in key else key + ':0'
  key = key.deref() if hasattr(key, 'deref') else key
  return key.name


def to_numpy(value):
  """`value` (a fetched eager tensor, or None) as a v1 session returned it."""
  if value is None:
    return None
  if isinstance(value, tf.SparseTensor):
    return tf.compat.v1.SparseTensorValue(value.indices.numpy(),
                                          value.values.numpy(),
                                          value.dense_shape.numpy())
  return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)
