"""2.15's `util.py`: splitting an input_fn's result in a TF1 graph.

Used where an input_fn runs in a graph of its own (the supervised receiver
built from an input_fn) and by legacy code that drives its own session.
"""

import tensorflow as tf

from tfcompat_estimator import model_fn as _model_fn

fn_args = _model_fn.fn_args


def parse_input_fn_result(result):
  """`(features, labels or None, input_hooks)` of an input_fn's result.

  Args:
    result: a `tf.data.Dataset` of `(features, labels)` or of features, or
      such a tuple (or features alone) of tensors.

  Returns:
    Features, labels (None if absent) and the hooks a session must run: for
    a Dataset, one initializing its (initializable) iterator.

  Raises:
    ValueError: a tuple or list of other than 2 items.
  """
  input_hooks = []
  if isinstance(result, tf.data.Dataset):
    iterator = tf.compat.v1.data.make_initializable_iterator(result)
    input_hooks.append(_DatasetInitializerHook(iterator))
    result = iterator.get_next()
  return parse_iterator_result(result) + (input_hooks,)


def parse_iterator_result(result):
  """`(features, labels or None)` of an iterator's element."""
  if isinstance(result, (list, tuple)):
    if len(result) != 2:
      raise ValueError(
          'input_fn should return (features, labels) as a len 2 tuple.')
    return result[0], result[1]
  return result, None


class _DatasetInitializerHook(tf.compat.v1.train.SessionRunHook):
  """Initializes an initializable iterator when the session is created."""

  def __init__(self, iterator):
    self._iterator = iterator

  def begin(self):
    self._initializer = self._iterator.initializer  # pylint: disable=attribute-defined-outside-init

  def after_create_session(self, session, coord):
    del coord
    session.run(self._initializer)
