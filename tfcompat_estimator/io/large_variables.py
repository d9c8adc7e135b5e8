"""Large variables (embedding tables, their optimizer slots) and their memory.

The graph of each mode keeps its own variables between calls, which is what
makes a repeated evaluate() or predict() cheap. For a large table that means
one copy per mode. Once training starts, the eval and predict copies are out
of date (its checkpoints supersede them, so their next call reloads anyway):
`release` frees them meanwhile, leaving that memory to training and its
checkpoint saves, and `assign` gives them a full value again.

Small variables are never released: they cost little, and a reload of its
own would (see `checkpoints.InitialValues`, which loads large ones on create).
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

MIN_BYTES = 1 << 20


def is_large(shape, dtype):
  """Whether a variable of this fully defined shape and dtype is large."""
  return shape.num_elements() * dtype.size >= MIN_BYTES


def _releasable(variable):
  # Distributed variables hold one copy per replica and go through the
  # strategy; they are never released.
  return (isinstance(variable, tf_internals.BaseResourceVariable) and
          variable.shape.is_fully_defined() and variable.shape.rank > 0 and
          is_large(variable.shape, variable.dtype.base_dtype))


def release(variables):
  """Frees the memory of the large variables among `variables` (key -> variable).

  Each keeps its handle, so the functions that use it stay valid, but holds
  an empty tensor until `assign` sets it again: the caller must not run them
  before. Returns whether any variable was released.
  """
  released = False
  with tf.init_scope():
    for variable in variables.values():
      if _releasable(variable):
        empty = tf.zeros([0] + variable.shape.as_list()[1:],
                         variable.dtype.base_dtype)
        tf.raw_ops.AssignVariableOp(resource=variable.handle, value=empty,
                                    validate_shape=False)
        released = True
  return released


def assign(variable, value):
  """`variable.assign(value)`, which also restores a released variable.

  `assign` would compare the value with the empty tensor a released variable
  holds; the variable's declared shape is checked instead.
  """
  if not _releasable(variable):
    variable.assign(value)
    return
  value = tf.convert_to_tensor(value, dtype=variable.dtype.base_dtype)
  if not variable.shape.is_compatible_with(value.shape):
    raise ValueError(f'Cannot assign a value of shape {value.shape} to '
                     f'variable {variable.name!r} of shape {variable.shape}.')
  tf.raw_ops.AssignVariableOp(resource=variable.handle, value=value,
                              validate_shape=False)
