"""Optimizer lookup shared by the canned estimators.

Canned estimators accept an optimizer as a short name, an instance, or a
zero-argument callable (called inside `model_fn`, so it may read the global
step, e.g. for learning-rate decay). The v1 estimators train with
`tf.compat.v1.train` optimizers, the v2 ones with tf-keras *legacy*
optimizers, exactly like tensorflow-estimator 2.15; both choices decide the
slot and hyper-parameter variable names written to checkpoints.
"""

import inspect

from absl import logging
import tensorflow as tf
import tf_keras

_V1_BY_NAME = {
    'Adagrad': tf.compat.v1.train.AdagradOptimizer,
    'Adam': tf.compat.v1.train.AdamOptimizer,
    'Ftrl': tf.compat.v1.train.FtrlOptimizer,
    'RMSProp': tf.compat.v1.train.RMSPropOptimizer,
    'SGD': tf.compat.v1.train.GradientDescentOptimizer,
}

_V2_BY_NAME = {
    'Adagrad': tf_keras.optimizers.legacy.Adagrad,
    'Adam': tf_keras.optimizers.legacy.Adam,
    'Ftrl': tf_keras.optimizers.legacy.Ftrl,
    'RMSProp': tf_keras.optimizers.legacy.RMSprop,
    'SGD': tf_keras.optimizers.legacy.SGD,
}

# Used by a v2 name lookup only if the class had no default learning rate
# (every tf-keras legacy optimizer has one today).
_FALLBACK_LEARNING_RATE = 0.05


def _unsupported_name(name, table):
  return ValueError(
      'Unsupported optimizer name: {}. Supported names are: {}'.format(
          name, tuple(sorted(table))))


def get_optimizer_instance(opt, learning_rate=None):
  """A `tf.compat.v1.train.Optimizer` for a v1 canned estimator.

  Args:
    opt: 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' or 'SGD'; a v1 optimizer
      instance; or a callable returning one.
    learning_rate: the rate for a named optimizer; required with a name,
      since v1 optimizers have no default rate. Ignored otherwise.

  Returns:
    The optimizer instance.

  Raises:
    ValueError: unknown name, a name without `learning_rate`, or an object
      that is not a v1 optimizer.
  """
  if isinstance(opt, str):
    if opt not in _V1_BY_NAME:
      raise _unsupported_name(opt, _V1_BY_NAME)
    if not learning_rate:
      raise ValueError('learning_rate must be specified when opt is string.')
    return _V1_BY_NAME[opt](learning_rate=learning_rate)
  if callable(opt):
    opt = opt()
  if not isinstance(opt, tf.compat.v1.train.Optimizer):
    raise ValueError(
        'The given object is not an Optimizer instance. Given: {}'.format(opt))
  return opt


def _has_default_learning_rate(cls):
  parameter = inspect.signature(cls.__init__).parameters.get('learning_rate')
  return (parameter is not None and
          parameter.default is not inspect.Parameter.empty)


def _named_v2(name, learning_rate):
  if name not in _V2_BY_NAME:
    raise _unsupported_name(name, _V2_BY_NAME)
  cls = _V2_BY_NAME[name]
  if learning_rate:
    return cls(learning_rate=learning_rate)
  if _has_default_learning_rate(cls):
    return cls()
  return cls(learning_rate=_FALLBACK_LEARNING_RATE)


def get_optimizer_instance_v2(opt, learning_rate=None):
  """A tf-keras legacy optimizer for a v2 canned estimator.

  Args:
    opt: 'Adagrad', 'Adam', 'Ftrl', 'RMSProp' or 'SGD'; a
      `tf.keras.optimizers.legacy.Optimizer` instance; or a callable returning
      one. A new-style (non-legacy) tf-keras optimizer is converted when
      called eagerly and rejected inside a graph, as 2.15 did.
    learning_rate: the rate for a named optimizer; when falsy, the optimizer's
      own default rate is used (Keras: 0.001, SGD 0.01).

  Returns:
    The optimizer instance.

  Raises:
    ValueError: unknown name, or an object that is not a tf-keras optimizer.
  """
  if isinstance(opt, str):
    return _named_v2(opt, learning_rate)
  if callable(opt):
    opt = opt()
  if isinstance(opt, tf_keras.optimizers.Optimizer):
    if not tf.executing_eagerly():
      raise ValueError(
          'Please set your optimizer as an instance of '
          '`tf.keras.optimizers.legacy.Optimizer`, e.g., '
          f'`tf.keras.optimizers.legacy.{type(opt).__name__}`.'
          f'Received optimizer type: {type(opt)}.')
    logging.warning(
        'Converting %s to a `tf.keras.optimizers.legacy` optimizer: canned '
        'estimators train with legacy optimizers only.', type(opt).__name__)
    opt = tf_keras.__internal__.optimizers.convert_to_legacy_optimizer(opt)
  if not isinstance(opt, tf_keras.optimizers.legacy.Optimizer):
    raise ValueError(
        'The given object is not a tf.keras.optimizers.Optimizer instance.'
        ' Given: {}'.format(opt))
  return opt
