"""Wide & deep canned estimators: a linear model plus a DNN, logits summed.

Each tower keeps its own variables and optimizer, with the names
tensorflow-estimator 2.15 gave them (`linear/linear_model/...`, `dnn/...`,
and their slots). The two updates are grouped into one train op, and the
global step advances once a step: in v2 the DNN optimizer (or the linear
one, without a DNN) counts it, while the other optimizer keeps its own
`iter` variable; in v1 an explicit increment follows both updates.
"""

import math

import tensorflow as tf

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.canned import dnn
from tfcompat_estimator.canned import input_checks
from tfcompat_estimator.canned import linear
from tfcompat_estimator.canned import optimizers
from tfcompat_estimator.canned.head import head_utils
from tfcompat_estimator.canned.head import regression_head
from tfcompat_estimator.canned.head import v1_heads
from tfcompat_estimator.model_fn import ModeKeys

# 2.15's rates for named optimizers: the DNN's, and the cap of the linear's
# (which is otherwise 1/sqrt(number of linear columns)).
_DNN_LEARNING_RATE = 0.001
_LINEAR_LEARNING_RATE = 0.005


def _linear_learning_rate(n_linear_columns):
  return min(_LINEAR_LEARNING_RATE, 1. / math.sqrt(n_linear_columns))


def _check_not_sync_replicas(optimizer):
  if isinstance(optimizer, tf.compat.v1.train.SyncReplicasOptimizer):
    raise ValueError(
        'SyncReplicasOptimizer does not support multi optimizers case. '
        'Therefore, it is not supported in DNNLinearCombined model. If you '
        'want to use this optimizer, please use either DNN or Linear model.')


def _check_columns(linear_feature_columns, dnn_feature_columns):
  """Both column lists as tuples; at least one must be non-empty."""
  linear_columns = tuple(linear_feature_columns or ())
  dnn_columns = tuple(dnn_feature_columns or ())
  if not linear_columns and not dnn_columns:
    raise ValueError('Either linear_feature_columns or dnn_feature_columns '
                     'must be defined.')
  return linear_columns, dnn_columns


def _check_hidden_units(dnn_hidden_units):
  if not dnn_hidden_units:
    raise ValueError('dnn_hidden_units must be defined when '
                     'dnn_feature_columns is specified.')


def _add_layer_summary(value, tag):
  tf.compat.v1.summary.scalar(tag + '/fraction_of_zero_values',
                              tf.math.zero_fraction(value))
  tf.compat.v1.summary.histogram(tag + '/activation', value)


def _sum_logits(dnn_logits, linear_logits):
  if dnn_logits is None:
    return linear_logits
  if linear_logits is None:
    return dnn_logits
  return dnn_logits + linear_logits


def _v2_model_fn(features, labels, mode, head, p):
  """v2: tf-keras layers and legacy tf-keras optimizers, one per tower."""
  linear._check_features(features)  # pylint: disable=protected-access
  input_checks.checked(
      features, labels, tuple(p.linear_columns or ()) + tuple(p.dnn_columns or ()))
  input_checks.finite_dense_inputs(features, p.dnn_columns or (), mode)
  training = mode == ModeKeys.TRAIN
  dnn_logits = linear_logits = None
  if p.dnn_columns:
    if training:
      dnn_optimizer = optimizers.get_optimizer_instance_v2(
          p.dnn_optimizer, learning_rate=_DNN_LEARNING_RATE)
      _check_not_sync_replicas(dnn_optimizer)
    _check_hidden_units(p.dnn_hidden_units)
    dnn_logits, dnn_variables, dnn_update_ops = dnn.dnn_logits_v2(
        head.logits_dimension, p.dnn_hidden_units, p.dnn_columns,
        p.dnn_activation_fn, p.dnn_dropout, p.batch_norm, features, mode)
  if p.linear_columns:
    if training:
      linear_optimizer = optimizers.get_optimizer_instance_v2(
          p.linear_optimizer,
          learning_rate=_linear_learning_rate(len(p.linear_columns)))
      _check_not_sync_replicas(linear_optimizer)
    linear_logits, linear_variables = linear.linear_logits_v2(
        head.logits_dimension, p.linear_columns, p.linear_sparse_combiner,
        features)
    _add_layer_summary(linear_logits, 'linear')

  def train_op_fn(loss):
    updates = []
    if dnn_logits is not None:
      updates += dnn_optimizer.get_updates(loss, dnn_variables)
      updates += dnn_update_ops
    if linear_logits is not None:
      updates += linear_optimizer.get_updates(loss, linear_variables)
    return tf.group(*updates)

  if training:
    counting = dnn_optimizer if dnn_logits is not None else linear_optimizer
    counting.iterations = tf.compat.v1.train.get_or_create_global_step()
  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels, train_op_fn=train_op_fn,
      logits=_sum_logits(dnn_logits, linear_logits))


def _v1_model_fn(features, labels, mode, head, p, config):
  """v1: TF1 layers, partitioned variables, one v1 optimizer per tower."""
  linear._check_features(features)  # pylint: disable=protected-access
  input_checks.checked(
      features, labels, tuple(p.linear_columns or ()) + tuple(p.dnn_columns or ()))
  input_checks.finite_dense_inputs(features, p.dnn_columns or (), mode)
  dnn_partitioner, input_partitioner = dnn.v1_partitioners(
      config, p.input_layer_partitioner)
  values = tuple(features.values())
  dnn_logits = linear_logits = None
  if p.dnn_columns:
    dnn_optimizer = optimizers.get_optimizer_instance(
        p.dnn_optimizer, learning_rate=_DNN_LEARNING_RATE)
    _check_not_sync_replicas(dnn_optimizer)
    _check_hidden_units(p.dnn_hidden_units)
    with tf.compat.v1.variable_scope('dnn', values=values,
                                     partitioner=dnn_partitioner) as scope:
      dnn_scope = scope.name
      dnn_logits = dnn.dnn_logits_v1(
          head.logits_dimension, p.dnn_hidden_units, p.dnn_columns,
          p.dnn_activation_fn, p.dnn_dropout, input_partitioner, p.batch_norm,
          features, mode)
  if p.linear_columns:
    linear_optimizer = optimizers.get_optimizer_instance(
        p.linear_optimizer,
        learning_rate=_linear_learning_rate(len(p.linear_columns)))
    _check_not_sync_replicas(linear_optimizer)
    with tf.compat.v1.variable_scope('linear', values=values,
                                     partitioner=input_partitioner) as scope:
      linear_scope = scope.name
      linear_logits = linear.linear_logit_fn_builder(
          head.logits_dimension, p.linear_columns,
          p.linear_sparse_combiner)(features)
      _add_layer_summary(linear_logits, scope.name)

  def train_op_fn(loss):
    # Each optimizer trains its tower's variables (by scope, as in 2.15);
    # the global step is incremented once, after both updates.
    def trainable(scope):
      return tf.compat.v1.get_collection(
          tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES, scope=scope)

    updates = []
    if dnn_logits is not None:
      updates.append(dnn_optimizer.minimize(loss,
                                            var_list=trainable(dnn_scope)))
    if linear_logits is not None:
      updates.append(linear_optimizer.minimize(
          loss, var_list=trainable(linear_scope)))
    with tf.control_dependencies([tf.group(*updates)]):
      return tf.compat.v1.assign_add(
          tf.compat.v1.train.get_global_step(), 1).op

  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels, train_op_fn=train_op_fn,
      logits=_sum_logits(dnn_logits, linear_logits))


class _Params:
  """The tower settings a combined model_fn reads."""

  def __init__(self, linear_columns, linear_optimizer, dnn_columns,
               dnn_optimizer, dnn_hidden_units, dnn_activation_fn,
               dnn_dropout, batch_norm, linear_sparse_combiner,
               input_layer_partitioner):
    self.linear_columns = linear_columns
    self.linear_optimizer = linear_optimizer
    self.dnn_columns = dnn_columns
    self.dnn_optimizer = dnn_optimizer
    self.dnn_hidden_units = (
        dnn.checked_hidden_units(dnn_hidden_units, 'dnn_hidden_units')
        if dnn_hidden_units else dnn_hidden_units)
    dnn.check_dropout(dnn_dropout, 'dnn_dropout')
    self.dnn_activation_fn = dnn_activation_fn
    self.dnn_dropout = dnn_dropout
    self.batch_norm = batch_norm
    self.linear_sparse_combiner = linear_sparse_combiner
    self.input_layer_partitioner = input_layer_partitioner


def _dnn_linear_combined_model_fn_v2(
    features, labels, mode, head, linear_feature_columns=None,
    linear_optimizer='Ftrl', dnn_feature_columns=None, dnn_optimizer='Adagrad',
    dnn_hidden_units=None, dnn_activation_fn=tf.nn.relu, dnn_dropout=None,
    config=None, batch_norm=False, linear_sparse_combiner='sum',
    loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE):
  """2.15's v2 wide & deep model_fn, with its keyword arguments.

  Custom model_fns (and 2.15's tests) call it with a head of their own; the
  head reduces the loss, so `loss_reduction` and `config` are unused, as there.
  """
  del config, loss_reduction
  linear_columns, dnn_columns = _check_columns(linear_feature_columns,
                                               dnn_feature_columns)
  if linear_columns:
    linear.check_sparse_combiner(linear_sparse_combiner)
  return _v2_model_fn(features, labels, mode, head, _Params(
      linear_columns, linear_optimizer, dnn_columns, dnn_optimizer,
      dnn_hidden_units, dnn_activation_fn, dnn_dropout, batch_norm,
      linear_sparse_combiner, input_layer_partitioner=None))


class _CombinedBase:
  """Builds the `model_fn` closure shared by the six combined estimators."""

  _V1 = False

  def _init_combined(self, head, model_dir, linear_feature_columns,
                     linear_optimizer, dnn_feature_columns, dnn_optimizer,
                     dnn_hidden_units, dnn_activation_fn, dnn_dropout, config,
                     warm_start_from, batch_norm, linear_sparse_combiner,
                     input_layer_partitioner=None):
    linear_columns, dnn_columns = _check_columns(linear_feature_columns,
                                                 dnn_feature_columns)
    if linear_columns:
      linear.check_sparse_combiner(linear_sparse_combiner)
    self._feature_columns = list(linear_columns) + list(dnn_columns)
    params = _Params(linear_columns, linear_optimizer, dnn_columns,
                     dnn_optimizer, dnn_hidden_units, dnn_activation_fn,
                     dnn_dropout, batch_norm, linear_sparse_combiner,
                     input_layer_partitioner)

    def model_fn(features, labels, mode, config):
      if self._V1:
        return _v1_model_fn(features, labels, mode, head, params, config)
      return _v2_model_fn(features, labels, mode, head, params)

    super().__init__(model_fn=model_fn, model_dir=model_dir, config=config,
                     warm_start_from=warm_start_from)


class DNNLinearCombinedClassifierV2(_CombinedBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNLinearCombinedClassifier`: wide & deep classifier.

  Linear ('wide') columns train with `linear_optimizer` (default Ftrl at
  min(0.005, 1/sqrt(#linear columns))), DNN ('deep') columns with
  `dnn_optimizer` (default Adagrad at 0.001); either may be a name, a
  `tf.keras.optimizers.legacy` instance or a callable returning one.
  """

  def __init__(self, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None, n_classes=2,
               weight_column=None, label_vocabulary=None, config=None,
               warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               batch_norm=False, linear_sparse_combiner='sum'):
    head = head_utils.binary_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, warm_start_from, batch_norm,
                        linear_sparse_combiner)


class DNNLinearCombinedRegressorV2(_CombinedBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNLinearCombinedRegressor`: wide & deep regressor."""

  def __init__(self, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None,
               label_dimension=1, weight_column=None, config=None,
               warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               batch_norm=False, linear_sparse_combiner='sum'):
    head = regression_head.RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column,
        loss_reduction=loss_reduction)
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, warm_start_from, batch_norm,
                        linear_sparse_combiner)


class DNNLinearCombinedEstimatorV2(_CombinedBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNLinearCombinedEstimator`: wide & deep, any v2 head.

  Like 2.15's, it takes no `warm_start_from`.
  """

  def __init__(self, head, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None, config=None,
               batch_norm=False, linear_sparse_combiner='sum'):
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, None, batch_norm, linear_sparse_combiner)


class DNNLinearCombinedClassifier(_CombinedBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNLinearCombinedClassifier`.

  Differs from the v2 class as 2.15 did: `tf.compat.v1.train` optimizers
  (a named DNN optimizer at 0.001), loss reduction SUM by default, v1 or v2
  feature columns, partitioned variables (`input_layer_partitioner`).
  """

  _V1 = True

  def __init__(self, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None, n_classes=2,
               weight_column=None, label_vocabulary=None,
               input_layer_partitioner=None, config=None,
               warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               batch_norm=False, linear_sparse_combiner='sum'):
    head = v1_heads.binary_logistic_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, warm_start_from, batch_norm,
                        linear_sparse_combiner, input_layer_partitioner)


class DNNLinearCombinedRegressor(_CombinedBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNLinearCombinedRegressor` (v1 as above)."""

  _V1 = True

  def __init__(self, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None,
               label_dimension=1, weight_column=None,
               input_layer_partitioner=None, config=None,
               warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               batch_norm=False, linear_sparse_combiner='sum'):
    head = v1_heads.regression_head_v1(
        weight_column=weight_column, label_dimension=label_dimension,
        loss_reduction=loss_reduction)
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, warm_start_from, batch_norm,
                        linear_sparse_combiner, input_layer_partitioner)


class DNNLinearCombinedEstimator(_CombinedBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNLinearCombinedEstimator`: any head, v1.

  Like 2.15's, it takes no `warm_start_from`.
  """

  _V1 = True

  def __init__(self, head, model_dir=None, linear_feature_columns=None,
               linear_optimizer='Ftrl', dnn_feature_columns=None,
               dnn_optimizer='Adagrad', dnn_hidden_units=None,
               dnn_activation_fn=tf.nn.relu, dnn_dropout=None,
               input_layer_partitioner=None, config=None, batch_norm=False,
               linear_sparse_combiner='sum'):
    self._init_combined(head, model_dir, linear_feature_columns,
                        linear_optimizer, dnn_feature_columns, dnn_optimizer,
                        dnn_hidden_units, dnn_activation_fn, dnn_dropout,
                        config, None, batch_norm, linear_sparse_combiner,
                        input_layer_partitioner)
