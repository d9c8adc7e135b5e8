"""Deep neural network (DNN) canned estimators.

The network is built TF1-style inside `model_fn`, with the layer types and
scopes tensorflow-estimator 2.15 used, because those decide every variable
name in a checkpoint (`dnn/hiddenlayer_0/kernel`, optimizer slots, batch-norm
moving statistics). Matching them keeps `model_dir`s interchangeable with
2.15 and keeps warm-starting from old checkpoints working.

Shared with the other canned families (`dnn_linear_combined`, `linear`,
`baseline`):
  * `dnn_logits_v2(...)` -> (logits, trainable_variables, update_ops), for the
    v2 estimators (tf-keras layers, variables under `dnn/`).
  * `dnn_logits_v1(...)` -> logits, for the v1 estimators (TF1 layers, built in
    the caller's variable scope, which the caller opens with the partitioner
    from `v1_partitioners(config, input_layer_partitioner)`).
"""

import numbers

import tensorflow as tf
import tf_keras

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.canned import input_checks
from tfcompat_estimator.canned import optimizers
from tfcompat_estimator.canned.head import head_utils
from tfcompat_estimator.canned.head import regression_head
from tfcompat_estimator.canned.head import v1_heads
from tfcompat_estimator.model_fn import ModeKeys
from tfcompat_estimator.platform import tf_internals

# The v1 estimators' default rate for a named optimizer (2.15's value).
_V1_LEARNING_RATE = 0.05
# 2.15's batch-norm momentum (the layer default 0.99 was found unstable).
_BATCH_NORM_MOMENTUM = 0.999
# Input layers are split only when a slice would exceed this many bytes.
_INPUT_MIN_SLICE_BYTES = 64 << 20

_V1_COLUMNS_IN_V2_ESTIMATOR = (
    'Received a feature column from TensorFlow v1, but this is a TensorFlow '
    'v2 Estimator. Please either use v2 feature columns (accessible via '
    'tf.feature_column.* in TF 2.x) with this Estimator, or switch to a v1 '
    'Estimator for use with v1 feature columns (accessible via '
    'tf.compat.v1.estimator.* and tf.compat.v1.feature_column.*, '
    'respectively.')


def _layer_summaries(value, tag):
  """The sparsity and activation summaries 2.15 wrote for each layer.

  The tag is relative to the current name scope, as in 2.15 (so v1 tags read
  `dnn/dnn/hiddenlayer_0/...`, v2 tags `dnn/hiddenlayer_0/...`).
  """
  tf.compat.v1.summary.scalar(tag + '/fraction_of_zero_values',
                              tf.math.zero_fraction(value))
  tf.compat.v1.summary.histogram(tag + '/activation', value)


def _check_units(units):
  if not isinstance(units, int) or isinstance(units, bool):
    raise ValueError('units must be an int.  Given type: {}'.format(
        type(units)))


def checked_hidden_units(hidden_units, name='hidden_units'):
  """`hidden_units` as a tuple of layer widths, checked when the model is made.

  A width below 1 reached TensorFlow's matmul kernel in 2.15, which aborted
  the whole process for 0 (and for 0.5, truncated to 0).
  """
  try:
    widths = tuple(hidden_units)
  except TypeError:
    raise TypeError(f'{name} must be an iterable of layer widths, given: '
                    f'{hidden_units!r}') from None
  if any(isinstance(w, numbers.Real) and w < 1 for w in widths):
    raise ValueError(f'{name} must hold layer widths >= 1, given: '
                     f'{hidden_units!r}')
  return widths


def check_dropout(dropout, name='dropout'):
  """Checked when the model is made; the layers would name only `rate`."""
  if isinstance(dropout, numbers.Real) and not 0 <= dropout <= 1:
    raise ValueError(f'{name} must be a probability in [0, 1] (or None), '
                     f'given: {dropout!r}')


def _check_features(features):
  if not isinstance(features, dict):
    raise ValueError('features should be a dictionary of `Tensor`s. '
                     'Given type: {}'.format(type(features)))


def _all_v2_columns(feature_columns):
  """True if every column is a v2 column (v1 columns would lack v2 state)."""
  return all(
      isinstance(column, tf.__internal__.feature_column.FeatureColumn) and
      getattr(column, '_is_v2_column', False) for column in feature_columns)


def _glorot():
  return tf.compat.v1.glorot_uniform_initializer()


# --- v2: tf-keras layers ---------------------------------------------------


def dnn_logits_v2(units, hidden_units, feature_columns, activation_fn, dropout,
                  batch_norm, features, mode):
  """Builds the v2 DNN; returns (logits, trainable_variables, update_ops).

  Variables are created under `dnn/` whatever the caller's scope:
  `dnn/input_from_feature_columns/input_layer/...`, `dnn/hiddenlayer_<i>/`,
  `dnn/hiddenlayer_<i>/batchnorm_<i>/` and `dnn/logits/`. The caller hands
  the variables and update ops (batch-norm moving statistics) to the head,
  which builds the train op from them.

  Args:
    units: logits dimension (an int).
    hidden_units: sizes of the hidden layers.
    feature_columns: v2 feature columns for the input layer.
    activation_fn: activation of each hidden layer.
    dropout: drop probability applied after each hidden layer in training,
      or None.
    batch_norm: whether to batch-normalize after each hidden layer.
    features: dict of feature tensors.
    mode: a `ModeKeys` value.
  """
  _check_units(units)
  feature_columns = list(feature_columns)
  if not _all_v2_columns(feature_columns):
    raise ValueError(_V1_COLUMNS_IN_V2_ESTIMATOR)
  training = mode == ModeKeys.TRAIN
  layers = []

  def apply(layer, inputs, **kwargs):
    layers.append(layer)
    return layer(inputs, **kwargs)

  # 2.15 named the layers after name scopes opened where its Keras model
  # was made, so the second DNN of one graph (a canned model_fn called
  # twice, as Neural Structured Learning's wrappers do) has `dnn_1/
  # hiddenlayer_0_1`, `dnn_1/logits_1`, ...: checkpoint keys and tags.
  names = [_name_scope_here(n) for n in (
      ['input_from_feature_columns'] +
      ['hiddenlayer_%d' % i for i in range(len(hidden_units))] + ['logits'])]
  with tf.compat.v1.variable_scope('dnn'):
    # As in 2.15, the input layer is named by Keras name scopes alone, in
    # the root variable scope: TF1 state a column makes with variable
    # scopes (hub.text_embedding_column's hub.Module) is `module/...`, and
    # a shared embedding table, made by get_variable in the layer's call,
    # keeps its top-level name and, not a layer weight, is never trained.
    # Made there, after the tables the layer's build makes, it takes the
    # op seed after theirs, as on 2.15 (made first, the two swapped draws).
    with tf.compat.v1.variable_scope(tf.compat.v1.VariableScope(None),
                                     auxiliary_name_scope=False), (
                                         tf.name_scope(names[0])):
      input_layer = tf_keras.layers.DenseFeatures(feature_columns,
                                                  name='input_layer')
      # Keras builds a layer under tf.init_scope, that is eagerly, when the
      # program outside functions is eager, as ours is while a model_fn is
      # captured; 2.15 built it in its graph. Such TF1 state needs the graph.
      input_layer._keras_style = False  # pylint: disable=protected-access
      net = apply(input_layer, features, training=training)
    for index, width in enumerate(hidden_units):
      name = names[1 + index]
      net = apply(tf_keras.layers.Dense(width, activation=activation_fn,
                                        kernel_initializer=_glorot(),
                                        name=name), net)
      if dropout is not None and training:
        net = apply(tf_keras.layers.Dropout(rate=dropout), net, training=True)
      if batch_norm:
        net = apply(tf_keras.layers.BatchNormalization(
            momentum=_BATCH_NORM_MOMENTUM,
            name='%s/batchnorm_%d' % (name, index)), net, training=training)
      _layer_summaries(net, name)
    logits = apply(tf_keras.layers.Dense(units, kernel_initializer=_glorot(),
                                         name=names[-1]), net)
    _layer_summaries(logits, names[-1])

  trainable_variables = [v for layer in layers
                         for v in layer.trainable_weights]
  update_ops = [op for layer in layers for op in layer.updates]
  return logits, trainable_variables, update_ops


def _name_scope_here(name):
  """`name` made unique among the graph's name scopes here, as TF1's were."""
  with tf.name_scope(name) as scope:
    return scope.rstrip('/')


# --- v1: TF1 layers, partitioned variables ----------------------------------


def dnn_logits_v1(units, hidden_units, feature_columns, activation_fn, dropout,
                  input_layer_partitioner, batch_norm, features, mode):
  """Builds the v1 DNN in the caller's variable scope; returns logits.

  Variables: `input_from_feature_columns/input_layer/...` (partitioned by
  `input_layer_partitioner`), `hiddenlayer_<i>/{kernel,bias}`,
  `hiddenlayer_<i>/batchnorm_<i>/...` and `logits/{kernel,bias}`, all under
  the caller's variable scope, which in the canned estimators is `dnn` with a
  partitioner. Batch-norm moving-average updates go to the `UPDATE_OPS`
  collection, where v1 heads pick them up.

  Args:
    units: logits dimension (an int).
    hidden_units: sizes of the hidden layers.
    feature_columns: v1 or v2 feature columns for the input layer.
    activation_fn: activation of each hidden layer.
    dropout: drop probability applied after each hidden layer in training,
      or None.
    input_layer_partitioner: partitioner for the input layer's variables.
    batch_norm: whether to batch-normalize after each hidden layer.
    features: dict of feature tensors.
    mode: a `ModeKeys` value.
  """
  _check_units(units)
  feature_columns = list(feature_columns)
  training = mode == ModeKeys.TRAIN
  scope_name = tf.compat.v1.get_variable_scope().name
  prefix = scope_name + '/' if scope_name else ''
  with tf.compat.v1.variable_scope(
      'input_from_feature_columns', partitioner=input_layer_partitioner), (
          tf_internals.deprecations_unannounced()):
    net = tf.compat.v1.feature_column.input_layer(features, feature_columns)
  # The v1 layers' classes: their functions warn on each call (2.15's did not).
  layers = tf.compat.v1.layers
  for index, width in enumerate(hidden_units):
    name = 'hiddenlayer_%d' % index
    net = tf_internals.v1_layer(layers.Dense, name, units=width,
                                activation=activation_fn,
                                kernel_initializer=_glorot())(net)
    if dropout is not None and training:
      net = layers.Dropout(rate=dropout)(net, training=True)
    if batch_norm:
      with tf.compat.v1.variable_scope(name):
        net = tf_internals.v1_layer(
            layers.BatchNormalization, 'batchnorm_%d' % index,
            momentum=_BATCH_NORM_MOMENTUM)(net, training=training)
    _layer_summaries(net, prefix + name)
  logits = tf_internals.v1_layer(layers.Dense, 'logits', units=units,
                                 kernel_initializer=_glorot())(net)
  _layer_summaries(logits, prefix + 'logits')
  return logits


def dnn_logit_fn_builder_v2(units, hidden_units, feature_columns,
                            activation_fn, dropout, batch_norm):
  """2.15's v2 logit_fn builder: `logit_fn(features, mode)` -> logits.

  The v2 DNN (`dnn_logits_v2`) under `dnn/`, for custom model_fns.
  """
  _check_units(units)

  def dnn_logit_fn(features, mode):
    return dnn_logits_v2(units, hidden_units, feature_columns, activation_fn,
                         dropout, batch_norm, features, mode)[0]

  return dnn_logit_fn


def dnn_logit_fn_builder(units, hidden_units, feature_columns, activation_fn,
                         dropout, input_layer_partitioner, batch_norm):
  """`tf.compat.v1.estimator.experimental.dnn_logit_fn_builder`.

  Returns `logit_fn(features, mode)`, which builds the v1 DNN in the caller's
  variable scope and returns its logits; for custom `model_fn`s that want the
  canned network.
  """
  _check_units(units)

  def dnn_logit_fn(features, mode):
    return dnn_logits_v1(units, hidden_units, feature_columns, activation_fn,
                         dropout, input_layer_partitioner, batch_norm,
                         features, mode)

  return dnn_logit_fn


# --- model_fns ----------------------------------------------------------------


def dnn_model_fn_v2(features, labels, mode, head, hidden_units,
                    feature_columns, optimizer='Adagrad',
                    activation_fn=tf.nn.relu, dropout=None, config=None,
                    use_tpu=False, batch_norm=False):
  """The v2 `model_fn`: tf-keras layers and a legacy tf-keras optimizer.

  2.15's name and signature, which custom model_fns reuse with a head of
  their own; `config` is unused, as there.
  """
  del config
  if use_tpu:
    raise NotImplementedError(
        'dnn_model_fn_v2(use_tpu=True) builds a TPUEstimatorSpec, which needs '
        'a TPU; pass use_tpu=False.')
  _check_features(features)
  input_checks.checked(features, labels, feature_columns)
  input_checks.finite_dense_inputs(features, feature_columns, mode)
  logits, trainable_variables, update_ops = dnn_logits_v2(
      head.logits_dimension, hidden_units, feature_columns, activation_fn,
      dropout, batch_norm, features, mode)
  train_optimizer = None
  if mode == ModeKeys.TRAIN:
    train_optimizer = optimizers.get_optimizer_instance_v2(optimizer)
    # Hooks count steps by the global step, so the optimizer must advance it.
    train_optimizer.iterations = (
        tf.compat.v1.train.get_or_create_global_step())
  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels, optimizer=train_optimizer,
      logits=logits, trainable_variables=trainable_variables,
      update_ops=update_ops)


def v1_partitioners(config, input_layer_partitioner=None):
  """(variable partitioner, input-layer partitioner) of a v1 canned DNN.

  2.15 partitions every v1 DNN variable, into `num_ps_replicas` parts at most
  (one part without parameter servers). Even a single part matters: v1
  optimizer slots of a partitioned variable are saved as
  `<var>/t_0/<Optimizer>` when the train op is built in the `dnn` scope.
  """
  num_ps = config.num_ps_replicas if config else 0
  partitioner = tf.compat.v1.min_max_variable_partitioner(max_partitions=num_ps)
  input_partitioner = input_layer_partitioner or (
      tf.compat.v1.min_max_variable_partitioner(
          max_partitions=num_ps, min_slice_size=_INPUT_MIN_SLICE_BYTES))
  return partitioner, input_partitioner


def _dnn_model_fn(features, labels, mode, head, hidden_units, feature_columns,
                  optimizer='Adagrad', activation_fn=tf.nn.relu, dropout=None,
                  input_layer_partitioner=None, config=None, use_tpu=False,
                  batch_norm=False):
  """The v1 `model_fn`: TF1 layers, partitioned variables, v1 optimizer.

  2.15's name and signature, which v1 code calls with a head of its own.
  """
  if use_tpu:
    raise NotImplementedError(
        '_dnn_model_fn(use_tpu=True) builds a TPUEstimatorSpec, which needs a '
        'TPU; pass use_tpu=False.')
  optimizer = optimizers.get_optimizer_instance(
      optimizer, learning_rate=_V1_LEARNING_RATE)
  _check_features(features)
  input_checks.checked(features, labels, feature_columns)
  input_checks.finite_dense_inputs(features, feature_columns, mode)
  partitioner, input_partitioner = v1_partitioners(config,
                                                   input_layer_partitioner)
  with tf.compat.v1.variable_scope('dnn', values=tuple(features.values()),
                                   partitioner=partitioner):
    logits = dnn_logits_v1(head.logits_dimension, hidden_units,
                           feature_columns, activation_fn, dropout,
                           input_partitioner, batch_norm, features, mode)
    # Inside the `dnn` scope, as in 2.15: slot names depend on it.
    return head.create_estimator_spec(
        features=features, mode=mode, labels=labels, optimizer=optimizer,
        logits=logits)


# --- estimators ---------------------------------------------------------------


class _DNNBase:
  """Builds the `model_fn` closure shared by the six DNN estimators."""

  _V1 = False

  def _init_dnn(self, head, hidden_units, feature_columns, model_dir,
                optimizer, activation_fn, dropout, input_layer_partitioner,
                config, warm_start_from, batch_norm):
    feature_columns = tuple(feature_columns or [])
    hidden_units = checked_hidden_units(hidden_units)
    check_dropout(dropout)

    def model_fn(features, labels, mode, config):
      if self._V1:
        return _dnn_model_fn(features, labels, mode, head, hidden_units,
                             feature_columns, optimizer, activation_fn,
                             dropout, input_layer_partitioner, config,
                             batch_norm=batch_norm)
      return dnn_model_fn_v2(features, labels, mode, head, hidden_units,
                             feature_columns, optimizer, activation_fn,
                             dropout, batch_norm=batch_norm)

    super().__init__(model_fn=model_fn, model_dir=model_dir, config=config,
                     warm_start_from=warm_start_from)


class DNNClassifierV2(_DNNBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNClassifier`: a feed-forward classifier.

  `n_classes=2` trains a logistic (binary) head, more classes a softmax head.
  `optimizer` is a name ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD'), a
  `tf.keras.optimizers.legacy` instance or a callable returning one (called
  in `model_fn`, so it may decay on `tf.compat.v1.train.get_global_step()`).
  """

  def __init__(self, hidden_units, feature_columns, model_dir=None,
               n_classes=2, weight_column=None, label_vocabulary=None,
               optimizer='Adagrad', activation_fn=tf.nn.relu, dropout=None,
               config=None, warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               batch_norm=False):
    head = head_utils.binary_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, None, config, warm_start_from,
                   batch_norm)


class DNNRegressorV2(_DNNBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNRegressor`: a feed-forward regressor (squared error)."""

  def __init__(self, hidden_units, feature_columns, model_dir=None,
               label_dimension=1, weight_column=None, optimizer='Adagrad',
               activation_fn=tf.nn.relu, dropout=None, config=None,
               warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               batch_norm=False):
    head = regression_head.RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column,
        loss_reduction=loss_reduction)
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, None, config, warm_start_from,
                   batch_norm)


class DNNEstimatorV2(_DNNBase, estimator_lib.EstimatorV2):
  """`tf.estimator.DNNEstimator`: the DNN network with any v2 `head`."""

  def __init__(self, head, hidden_units, feature_columns, model_dir=None,
               optimizer='Adagrad', activation_fn=tf.nn.relu, dropout=None,
               config=None, warm_start_from=None, batch_norm=False):
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, None, config, warm_start_from,
                   batch_norm)


class DNNClassifier(_DNNBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNClassifier`.

  Differs from the v2 class as 2.15 did: `tf.compat.v1.train` optimizers
  (named ones at learning rate 0.05), loss reduction SUM by default, v1 or v2
  feature columns, partitioned variables (`input_layer_partitioner`).
  """

  _V1 = True

  def __init__(self, hidden_units, feature_columns, model_dir=None,
               n_classes=2, weight_column=None, label_vocabulary=None,
               optimizer='Adagrad', activation_fn=tf.nn.relu, dropout=None,
               input_layer_partitioner=None, config=None, warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               batch_norm=False):
    head = v1_heads.binary_logistic_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, input_layer_partitioner, config,
                   warm_start_from, batch_norm)


class DNNRegressor(_DNNBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNRegressor` (v1 differences as DNNClassifier)."""

  _V1 = True

  def __init__(self, hidden_units, feature_columns, model_dir=None,
               label_dimension=1, weight_column=None, optimizer='Adagrad',
               activation_fn=tf.nn.relu, dropout=None,
               input_layer_partitioner=None, config=None, warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               batch_norm=False):
    head = v1_heads.regression_head_v1(
        weight_column=weight_column, label_dimension=label_dimension,
        loss_reduction=loss_reduction)
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, input_layer_partitioner, config,
                   warm_start_from, batch_norm)


class DNNEstimator(_DNNBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.DNNEstimator`: the v1 DNN with any v1 `head`."""

  _V1 = True

  def __init__(self, head, hidden_units, feature_columns, model_dir=None,
               optimizer='Adagrad', activation_fn=tf.nn.relu, dropout=None,
               input_layer_partitioner=None, config=None, warm_start_from=None,
               batch_norm=False):
    self._init_dnn(head, hidden_units, feature_columns, model_dir, optimizer,
                   activation_fn, dropout, input_layer_partitioner, config,
                   warm_start_from, batch_norm)
