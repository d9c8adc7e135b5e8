"""Baseline canned estimators: logits that ignore the features.

A baseline learns one bias per logit and predicts it for every example (the
label prior for classifiers, the label mean for regressors), a yardstick for
real models. Features only give the batch size. The bias is `baseline/bias`
in both generations, as in tensorflow-estimator 2.15; v2 trains it with a
tf-keras legacy optimizer (slots under `training/`), v1 with a
`tf.compat.v1.train` optimizer.
"""

import tensorflow as tf
from tensorflow.python.feature_column import feature_column as fc_v1
from tensorflow.python.feature_column import feature_column_v2 as fc_v2

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.canned import optimizers
from tfcompat_estimator.canned.head import head_utils
from tfcompat_estimator.canned.head import regression_head
from tfcompat_estimator.canned.head import v1_heads
from tfcompat_estimator.model_fn import ModeKeys

# 2.15's rate for a named optimizer, in both generations.
_LEARNING_RATE = 0.3


def _weight_column_key(weight_column, numeric_column_type, type_name):
  """The feature key of `weight_column` (a string or a numeric column)."""
  if weight_column is None or isinstance(weight_column, str):
    return weight_column
  if not isinstance(weight_column, numeric_column_type):
    raise TypeError('Weight column must be either a string or {}. Given '
                    'type: {}.'.format(type_name, type(weight_column)))
  return weight_column.key


def _batch_size_and_checks(features, weight_column_key):
  """The batch size and assertions that every feature has that batch size.

  The weight feature is left out: the head checks it against the logits.
  """
  if not isinstance(features, dict):
    raise ValueError('features should be a dictionary of `Tensor`s. '
                     'Given type: {}'.format(type(features)))
  batch_size, checks = None, []
  for key, feature in features.items():
    if key == weight_column_key:
      continue
    first_dim = tf.compat.v1.shape(feature)[0]
    if batch_size is None:
      batch_size = first_dim
    else:
      checks.append(tf.compat.v1.debugging.assert_equal(
          batch_size, first_dim,
          message=f'Feature {key!r} has a different batch size than the '
                  'other features.'))
  if batch_size is None:
    raise ValueError('A baseline needs at least one feature (besides the '
                     'weight column) to know the batch size.')
  return batch_size, checks


def _broadcast_bias(bias, features, weight_column_key):
  batch_size, checks = _batch_size_and_checks(features, weight_column_key)
  with tf.control_dependencies(checks):
    return tf.math.multiply(bias, tf.ones([batch_size, tf.compat.dimension_value(bias.shape[0])]))


def _baseline_model_fn_builder_v2(features, num_outputs, weight_column=None):
  """The v2 baseline's `([baseline/bias], logits)`: one bias row per example.

  Args:
    features: the features dict (or Tensor); it only gives the batch size.
    num_outputs: the number of logits.
    weight_column: a string or `numeric_column` naming the example weights,
      which must have the features' batch size.

  Returns:
    `([bias variable], logits of shape [batch_size, num_outputs])`.
  """
  key = _weight_column_key(weight_column, fc_v2.NumericColumn, 'NumericColumn')
  with tf.name_scope('baseline'):
    bias = tf.Variable(lambda: tf.zeros([num_outputs]), name='bias')
    return [bias], _broadcast_bias(bias, features, key)


def _v2_model_fn(features, labels, mode, head, optimizer, weight_column):
  """Baseline on a tf-keras legacy optimizer, stepping the global step."""
  (bias,), logits = _baseline_model_fn_builder_v2(
      features, head.logits_dimension, weight_column)
  train_optimizer = None
  if mode == ModeKeys.TRAIN:
    train_optimizer = optimizers.get_optimizer_instance_v2(
        optimizer, learning_rate=_LEARNING_RATE)
    train_optimizer.iterations = tf.compat.v1.train.get_or_create_global_step()

  def train_op_fn(loss):
    return train_optimizer.get_updates(loss, [bias])[0]

  return head.create_estimator_spec(features=features, mode=mode,
                                    logits=logits, labels=labels,
                                    train_op_fn=train_op_fn)


def _baseline_logit_fn_builder(num_outputs, weight_column=None):
  """2.15's v1 logit_fn: the `baseline/bias` variable, one row per example.

  Args:
    num_outputs: the logits dimension.
    weight_column: the weight column's key or `_NumericColumn`, whose feature
      is not taken for the batch size.

  Returns:
    A function from `features` to `[batch_size, num_outputs]` logits.
  """
  key = _weight_column_key(weight_column, fc_v1._NumericColumn,  # pylint: disable=protected-access
                           '_NumericColumn')

  def baseline_logit_fn(features):
    with tf.compat.v1.variable_scope('baseline'):
      bias = tf.compat.v1.get_variable(
          'bias', shape=[num_outputs],
          initializer=tf.compat.v1.zeros_initializer())
      return _broadcast_bias(bias, features, key)

  return baseline_logit_fn


def _v1_model_fn(features, labels, mode, head, optimizer, weight_column):
  """Baseline on a `tf.compat.v1.train` optimizer."""
  logits = _baseline_logit_fn_builder(head.logits_dimension,
                                      weight_column)(features)

  def train_op_fn(loss):
    opt = optimizers.get_optimizer_instance(optimizer,
                                            learning_rate=_LEARNING_RATE)
    return opt.minimize(loss, global_step=tf.compat.v1.train.get_global_step())

  return head.create_estimator_spec(features=features, mode=mode,
                                    logits=logits, labels=labels,
                                    train_op_fn=train_op_fn)


class _BaselineBase:
  """Wires the baseline `model_fn` of the generation into the Estimator."""

  _MODEL_FN = staticmethod(_v2_model_fn)

  def _init_baseline(self, head, model_dir, optimizer, config,
                     weight_column=None):
    model_fn_impl = self._MODEL_FN

    def model_fn(features, labels, mode):
      return model_fn_impl(features, labels, mode, head, optimizer,
                           weight_column)

    super().__init__(model_fn=model_fn, model_dir=model_dir, config=config)


class BaselineClassifierV2(_BaselineBase, estimator_lib.EstimatorV2):
  """`tf.estimator.BaselineClassifier`: predicts the training label prior.

  `optimizer` is a name ('Ftrl' by default, at rate 0.3), a
  `tf.keras.optimizers.legacy` instance or a callable returning one.
  """

  def __init__(self, model_dir=None, n_classes=2, weight_column=None,
               label_vocabulary=None, optimizer='Ftrl', config=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE):
    head = head_utils.binary_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_baseline(head, model_dir, optimizer, config, weight_column)


class BaselineRegressorV2(_BaselineBase, estimator_lib.EstimatorV2):
  """`tf.estimator.BaselineRegressor`: predicts the training label mean."""

  def __init__(self, model_dir=None, label_dimension=1, weight_column=None,
               optimizer='Ftrl', config=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE):
    head = regression_head.RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column,
        loss_reduction=loss_reduction)
    self._init_baseline(head, model_dir, optimizer, config, weight_column)


class BaselineEstimatorV2(_BaselineBase, estimator_lib.EstimatorV2):
  """`tf.estimator.BaselineEstimator`: a learned bias with any v2 `head`."""

  def __init__(self, head, model_dir=None, optimizer='Ftrl', config=None):
    self._init_baseline(head, model_dir, optimizer, config)


class BaselineClassifier(_BaselineBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.BaselineClassifier`.

  As 2.15's v1 class: `tf.compat.v1.train` optimizers and loss reduction SUM.
  """

  _MODEL_FN = staticmethod(_v1_model_fn)

  def __init__(self, model_dir=None, n_classes=2, weight_column=None,
               label_vocabulary=None, optimizer='Ftrl', config=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM):
    head = v1_heads.binary_logistic_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_baseline(head, model_dir, optimizer, config, weight_column)


class BaselineRegressor(_BaselineBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.BaselineRegressor` (v1 optimizers, SUM loss)."""

  _MODEL_FN = staticmethod(_v1_model_fn)

  def __init__(self, model_dir=None, label_dimension=1, weight_column=None,
               optimizer='Ftrl', config=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM):
    head = v1_heads.regression_head_v1(
        weight_column=weight_column, label_dimension=label_dimension,
        loss_reduction=loss_reduction)
    self._init_baseline(head, model_dir, optimizer, config, weight_column)


class BaselineEstimator(_BaselineBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.BaselineEstimator`: any head, v1 optimizers."""

  _MODEL_FN = staticmethod(_v1_model_fn)

  def __init__(self, head, model_dir=None, optimizer='Ftrl', config=None):
    self._init_baseline(head, model_dir, optimizer, config)
