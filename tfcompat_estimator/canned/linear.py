"""Linear canned estimators and the linear model they share with DNN+Linear.

The model is one weight matrix per feature column plus a bias, created with
`tf.compat.v1.get_variable` in the variable scopes tensorflow-estimator 2.15
used, so checkpoints carry the same names: `linear/linear_model/<column>/
weights` and `linear/linear_model/bias_weights` (v1 estimators partition
them, which adds `part_<i>` to their optimizer slot names, exactly as 2.15's
slot naming did). Weighted sums come from TensorFlow's own feature-column
code, so sparse inputs and the `sparse_combiner` behave as before.

Shared with `dnn_linear_combined`:
  * `linear_logits_v2(units, feature_columns, sparse_combiner, features)` ->
    (logits, trainable_variables), variables under `linear/linear_model/`.
  * `linear_logit_fn_builder(...)` (public, v1): builds `linear_model/...` in
    the caller's variable scope.

`LinearSDCA` (`tf.estimator.experimental.LinearSDCA`) given as the
`optimizer` switches a linear estimator to 2.15's SDCA `model_fn`: the same
variables, trained by `linear_optimizer.sdca_ops` (binary logistic or
squared loss) instead of a gradient optimizer.
"""

import math

import tensorflow as tf
from tensorflow.python.feature_column import feature_column_v2 as fc_v2
from tensorflow.python.ops import variables as variables_lib
import tf_keras

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.canned import dnn
from tfcompat_estimator.canned import input_checks
from tfcompat_estimator.canned import optimizers
from tfcompat_estimator.canned.head import binary_class_head
from tfcompat_estimator.canned.head import head_utils
from tfcompat_estimator.canned.head import regression_head
from tfcompat_estimator.canned.head import v1_heads
from tfcompat_estimator.canned.linear_optimizer import sdca_ops
from tfcompat_estimator.model_fn import ModeKeys

# 2.15's rate for a named optimizer, and the cap of the default Ftrl's rate.
_LEARNING_RATE = 0.2
# v1 estimators split a linear variable only past this many bytes a slice.
_MIN_SLICE_BYTES = 64 << 20
_SPARSE_COMBINERS = ('mean', 'sqrtn', 'sum')


def check_sparse_combiner(sparse_combiner):
  if sparse_combiner not in _SPARSE_COMBINERS:
    raise ValueError("combiner must be one of 'mean', 'sqrtn' or 'sum', got "
                     f'{sparse_combiner}')


def _check_features(features):
  if not isinstance(features, dict):
    raise ValueError('features should be a dictionary of `Tensor`s. '
                     'Given type: {}'.format(type(features)))


def default_learning_rate(n_columns, cap):
  """2.15's rate for a default Ftrl: 1/sqrt(#columns), at most `cap`."""
  if not n_columns:
    raise ValueError('feature_columns must not be empty.')
  return min(cap, 1. / math.sqrt(n_columns))


class _ColumnState(fc_v2.StateManager):
  """Variables and lookup tables of v2 feature columns.

  Variables are made with `tf.compat.v1.get_variable` in the variable scope
  open at creation (so a scope's partitioner applies); tables are kept per
  column, so each vocabulary is built once per graph.
  """

  def __init__(self):
    self._variables = {}
    self._resources = {}

  def create_variable(self, feature_column, name, shape, dtype=None,
                      trainable=True, use_resource=True, initializer=None):
    del use_resource  # Always resource variables.
    key = (feature_column, name)
    if key in self._variables:
      raise ValueError(f'Variable {name!r} of feature column '
                       f'{feature_column.name!r} already exists.')
    self._variables[key] = tf.compat.v1.get_variable(
        name, shape=shape, dtype=dtype or tf.float32, initializer=initializer,
        trainable=trainable, use_resource=True)
    return self._variables[key]

  def get_variable(self, feature_column, name):
    return self._variables[(feature_column, name)]

  def add_resource(self, feature_column, name, resource):
    self._resources[(feature_column, name)] = resource

  def has_resource(self, feature_column, name):
    return (feature_column, name) in self._resources

  def get_resource(self, feature_column, name):
    return self._resources[(feature_column, name)]

  def trainable_variables(self):
    return [v for v in self._variables.values() if _is_trainable(v)]


def _is_trainable(variable):
  return all(part.trainable for part in _parts([variable]))


def _parts(variables):
  """Variables with partitioned ones replaced by their parts."""
  return [part for v in variables
          for part in (list(v) if isinstance(
              v, variables_lib.PartitionedVariable) else [v])]


def _v2_columns_logits(features, feature_columns, units, sparse_combiner,
                       scope_name):
  """The linear model of v2 columns; (logits, bias, other variables).

  Variables are created first, each column in its own variable scope under
  `scope_name`; the weighted sums are computed outside those scopes, so a
  shared embedding's table keeps its own top-level name, as in 2.15. A shared
  embedding table is not among the returned variables (2.15 did not train it
  in the linear model either).
  """
  logits, bias, state = _v2_columns_model(features, feature_columns, units,
                                          sparse_combiner, scope_name)
  return logits, bias, state.trainable_variables()


def _v2_columns_model(features, feature_columns, units, sparse_combiner,
                      scope_name):
  """`_v2_columns_logits`, with the `_ColumnState` in place of the variables."""
  columns = _linear_columns(feature_columns)
  state = _ColumnState()
  with tf.compat.v1.variable_scope(scope_name):
    weights = _column_weights(columns, units, state)
    bias = tf.compat.v1.get_variable(
        'bias_weights', shape=[units], dtype=tf.float32,
        initializer=tf.compat.v1.zeros_initializer(), use_resource=True)
  # 2.15's Keras LinearModel put its ops under its scope three times over
  # (`linear/linear_model/linear/linear_model/linear/linear_model/
  # weighted_sum` in a v2 estimator): the exported logits' tensor name.
  outer = tf.compat.v1.get_default_graph().get_name_scope()
  with tf.name_scope('/'.join(([outer] if outer else []) + [scope_name] * 3)
                     + '/'):
    logits = _weighted_sum(features, columns, weights, bias, state,
                           sparse_combiner)
  return logits, bias, state


def _linear_columns(feature_columns):
  """The v2 columns, sorted; ValueError for one a linear model cannot read."""
  columns = fc_v2._normalize_feature_columns(feature_columns)  # pylint: disable=protected-access
  for column in columns:
    if not isinstance(column, (fc_v2.DenseColumn, fc_v2.CategoricalColumn)):
      raise ValueError('Items of feature_columns must be either a DenseColumn '
                       'or CategoricalColumn. Given: {}'.format(column))
  return columns


def _column_weights(columns, units, state, trainable=True, **scope_kwargs):
  """Each column's `weights` [rows, units] (and state) under its own scope.

  `scope_kwargs` go to each column's `variable_scope`.
  """
  weights = []
  for column in columns:
    with tf.compat.v1.variable_scope(
        fc_v2._sanitize_column_name_for_variable_scope(column.name),  # pylint: disable=protected-access
        **scope_kwargs):
      column.create_state(state)
      rows = (column.num_buckets
              if isinstance(column, fc_v2.CategoricalColumn)
              else column.variable_shape.num_elements())
      weights.append(state.create_variable(
          column, 'weights', shape=(rows, units), dtype=tf.float32,
          trainable=trainable, initializer=tf.compat.v1.zeros_initializer()))
  return weights


def _weighted_sum(features, columns, weights, bias, state, sparse_combiner):
  """`sum_i features_i . weights_i + bias`, each column in its name scope."""
  cache = fc_v2.FeatureTransformationCache(features)
  sums = []
  for column, weight in zip(columns, weights):
    with tf.name_scope(
        fc_v2._sanitize_column_name_for_variable_scope(column.name)):  # pylint: disable=protected-access
      sums.append(fc_v2._create_weighted_sum(  # pylint: disable=protected-access
          column=column, transformation_cache=cache, state_manager=state,
          sparse_combiner=sparse_combiner, weight_var=weight))
  fc_v2._verify_static_batch_size_equality(sums, columns)  # pylint: disable=protected-access
  return tf.nn.bias_add(tf.math.add_n(sums, name='weighted_sum_no_bias'),
                        bias, name='weighted_sum')


def _v1_columns_logits(features, feature_columns, units, sparse_combiner):
  """The linear model of (some) v1 columns, by TensorFlow's v1 linear_model."""
  cols_to_vars = {}
  logits = tf.compat.v1.feature_column.linear_model(
      features, feature_columns, units=units, sparse_combiner=sparse_combiner,
      cols_to_vars=cols_to_vars)
  bias = cols_to_vars.pop('bias')
  return logits, bias, [v for vs in cols_to_vars.values() for v in vs]


def _add_summaries(bias, units, weights):
  """2.15's train summaries: the bias and the fraction of zero weights."""
  bias_parts = _parts([bias])
  if units > 1:
    tf.compat.v1.summary.histogram('bias', bias_parts)
  else:
    tf.compat.v1.summary.scalar('bias', tf.reshape(bias_parts[0], [-1])[0])
  tf.compat.v1.summary.scalar('fraction_of_zero_weights',
                              _compute_fraction_of_zero(weights))


def _compute_fraction_of_zero(variables):
  """Share of exact zeros over all elements of (nested) `variables`.

  NaN when they have no elements; 2.15's name, which v1 code calls.
  """
  with tf.name_scope('zero_fraction'):
    parts = _parts(tf.nest.flatten(variables))
    if not parts:
      raise ValueError('_compute_fraction_of_zero needs at least one '
                       'variable or tensor; got none.')
    sizes = [tf.size(p, out_type=tf.int64) for p in parts]
    nonzero = [tf.math.count_nonzero(p, dtype=tf.int64) for p in parts]
    total = tf.cast(tf.math.add_n(sizes), tf.float32)
    zeros = total - tf.cast(tf.math.add_n(nonzero), tf.float32)
    return tf.identity(zeros / total, name='zero_fraction_or_nan')


def _all_v2(feature_columns):
  return fc_v2.is_feature_column_v2(feature_columns)


class LinearModel(tf_keras.Model):
  """2.15's Keras linear model over v2 feature columns.

  Computes `sum_i w_i * x_i + bias` with `units` outputs; categorical columns
  count as indicators. Variables are named as 2.15 named them:
  `<name>/<column>/weights` and `<name>/bias_weights`.

  Args:
    feature_columns: v2 `DenseColumn`s and `CategoricalColumn`s.
    units: the number of outputs.
    sparse_combiner: 'sum', 'mean' or 'sqrtn', for multivalent columns.
    trainable: whether the variables are trainable.
    name: the model's name, which scopes its variables.
    **kwargs: passed to `tf_keras.Model`.
  """

  def __init__(self, feature_columns, units=1, sparse_combiner='sum',
               trainable=True, name=None, **kwargs):
    super().__init__(name=name, trainable=trainable, **kwargs)
    check_sparse_combiner(sparse_combiner)
    self._feature_columns = _linear_columns(feature_columns)
    self._units = units
    self._sparse_combiner = sparse_combiner
    self._state_manager = fc_v2._StateManagerImpl(self, self.trainable)  # pylint: disable=protected-access
    self._bias = None

  def build(self, input_shape):
    del input_shape
    with tf.compat.v1.variable_scope(self.name, auxiliary_name_scope=False):
      _column_weights(self._feature_columns, self._units, self._state_manager,
                      trainable=self.trainable, auxiliary_name_scope=False)
      self._bias = self.add_weight(
          name='bias_weights', dtype=tf.float32, shape=[self._units],
          initializer=tf_keras.initializers.zeros(), trainable=self.trainable,
          use_resource=True, getter=tf.compat.v1.get_variable)
    self.built = True  # a Model's build() wants an input shape

  @property
  def bias(self):
    """The bias variable, `[units]`; None until the model is built."""
    return self._bias

  def call(self, features):
    """The `[batch_size, units]` float32 predictions for a features dict."""
    _check_features(features)
    weights = [self._state_manager.get_variable(column, 'weights')
               for column in self._feature_columns]
    with tf.name_scope(self.name):
      return _weighted_sum(features, self._feature_columns, weights, self.bias,
                           self._state_manager, self._sparse_combiner)


def linear_logits_v2(units, feature_columns, sparse_combiner, features):
  """The v2 linear model under `linear/linear_model/`; (logits, variables).

  `variables` (weights, embedding tables, bias) are what the caller's
  optimizer trains.
  """
  check_sparse_combiner(sparse_combiner)
  feature_columns = tuple(feature_columns)
  if not _all_v2(feature_columns):
    raise ValueError(dnn._V1_COLUMNS_IN_V2_ESTIMATOR)  # pylint: disable=protected-access
  logits, bias, weights = _v2_columns_logits(
      features, feature_columns, units, sparse_combiner, 'linear/linear_model')
  _add_summaries(bias, units, weights)
  return logits, weights + [bias]


def linear_logit_fn_builder(units, feature_columns, sparse_combiner='sum'):
  """`tf.compat.v1.estimator.experimental.linear_logit_fn_builder`.

  Returns `linear_logit_fn(features)`, which builds `linear_model/...` in the
  caller's variable scope (with its partitioner) and returns the logits, for
  custom `model_fn`s that want the canned linear model.
  """
  check_sparse_combiner(sparse_combiner)
  feature_columns = tuple(feature_columns)

  def linear_logit_fn(features):
    if _all_v2(feature_columns):
      logits, bias, weights = _v2_columns_logits(
          features, feature_columns, units, sparse_combiner, 'linear_model')
    else:
      logits, bias, weights = _v1_columns_logits(
          features, feature_columns, units, sparse_combiner)
    _add_summaries(bias, units, weights)
    return logits

  return linear_logit_fn


def linear_logit_fn_builder_v2(units, feature_columns, sparse_combiner='sum'):
  """2.15's v2 `linear_logit_fn_builder`: v2 feature columns only.

  Raises:
    ValueError: from the returned logit_fn, for v1 feature columns.
  """
  feature_columns = tuple(feature_columns)
  build = linear_logit_fn_builder(units, feature_columns, sparse_combiner)

  def linear_logit_fn(features):
    if not _all_v2(feature_columns):
      raise ValueError(dnn._V1_COLUMNS_IN_V2_ESTIMATOR)  # pylint: disable=protected-access
    return build(features)

  return linear_logit_fn


def v1_partitioner(config, partitioner=None):
  """The partitioner 2.15's v1 linear model used when none was given."""
  num_ps = config.num_ps_replicas if config else 0
  return partitioner or tf.compat.v1.min_max_variable_partitioner(
      max_partitions=num_ps, min_slice_size=_MIN_SLICE_BYTES)


# --- SDCA ---------------------------------------------------------------------


class LinearSDCA:
  """Stochastic dual coordinate ascent for `LinearClassifier`/`LinearRegressor`.

  Given as their `optimizer` (it is not a `tf.train.Optimizer`), it trains
  the linear model by SDCA, with logistic loss for a binary classifier and
  squared loss for a regressor. It needs v2 feature columns,
  `sparse_combiner='sum'`, binary labels (classifier) or one-dimensional ones
  (regressor), and a string feature `example_id_column` naming each example
  (`[batch_size]`): the solver keeps per-example state under that id, in
  checkpoints too.

      sdca = tf.estimator.experimental.LinearSDCA(
          example_id_column='example_id', symmetric_l2_regularization=2.0)
      classifier = tf.estimator.LinearClassifier(columns, optimizer=sdca)

  Args:
    example_id_column: the feature key of the example ids.
    num_loss_partitions: sigma' of [3] below: the number of trainers updating
      concurrently (workers times train ops per worker); convergence is
      guaranteed when at least that. Defaults to 1 (one machine).
    num_table_shards: shards of the example state table, e.g. the number of
      parameter servers for large data sets (None: 1).
    symmetric_l1_regularization: >= 0.
    symmetric_l2_regularization: > 0; typically above 1.
    adaptive: whether to sample examples adaptively ([4]).

  SDCA: [1] www.jmlr.org/papers/volume14/shalev-shwartz13a/shalev-shwartz13a.pdf,
  the L1 proximal step [2] https://arxiv.org/pdf/1309.2375.pdf, distributed
  SDCA [3] https://arxiv.org/pdf/1502.03508.pdf, adaptive sampling
  [4] https://arxiv.org/pdf/1502.08053.pdf.
  """

  def __init__(self, example_id_column, num_loss_partitions=1,
               num_table_shards=None, symmetric_l1_regularization=0.0,
               symmetric_l2_regularization=1.0, adaptive=False):
    self._example_id_column = example_id_column
    self._num_loss_partitions = num_loss_partitions
    self._num_table_shards = num_table_shards
    self._symmetric_l1_regularization = symmetric_l1_regularization
    self._symmetric_l2_regularization = symmetric_l2_regularization
    self._adaptive = adaptive

  def _prune_and_unique_sparse_ids(self, id_weight_pair):
    """The `_SparseFeatureColumn` of a categorical column's ids.

    Negative ids (out-of-vocabulary lookups without OOV buckets) are
    dropped, and an id repeated within an example becomes one entry whose
    value is the sum of the repeats' weights.
    """
    ids = id_weight_pair.id_tensor
    rows = tf.reshape(ids.indices[:, 0], [-1])
    feature_ids = tf.cast(tf.reshape(ids.values, [-1]), tf.int64)
    if id_weight_pair.weight_tensor is not None:
      values = tf.cast(id_weight_pair.weight_tensor.values, tf.float32)
    else:
      values = tf.ones(tf.shape(ids.indices)[:1], tf.float32)
    valid = feature_ids >= 0
    rows = tf.boolean_mask(rows, valid)
    feature_ids = tf.boolean_mask(feature_ids, valid)
    values = tf.boolean_mask(values, valid)
    # One key per (example, id) pair; `unique` keeps first appearances in
    # order, so examples stay sorted.
    stride = tf.reduce_max(feature_ids) + 1
    pairs, pair_of_entry = tf.unique(rows * stride + feature_ids)
    n_pairs = tf.shape(pairs)[0]
    pair_rows = tf.math.unsorted_segment_min(rows, pair_of_entry, n_pairs)
    pair_values = tf.math.unsorted_segment_sum(values, pair_of_entry, n_pairs)
    return sdca_ops._SparseFeatureColumn(  # pylint: disable=protected-access
        pair_rows, pairs - stride * pair_rows, tf.reshape(pair_values, [-1]))

  def get_train_step(self, state_manager, weight_column_name, loss_type,
                     feature_columns, features, targets, bias_var,
                     global_step):
    """`(sdca_model, train_op)` of the solver over the columns' variables.

    Categorical columns are sparse features and dense columns dense ones,
    with the variables `state_manager` holds for them (`'weights'`); the
    bias is a dense feature that is always 1. `train_op` increments
    `global_step`; `sdca_model.update_weights(train_op)` then sets the
    model's weights.
    """
    batch_size = tf.shape(targets)[0]
    cache = fc_v2.FeatureTransformationCache(features)
    dense_features, dense_weights = [], []
    sparse_features, sparse_weights = [], []
    for column in sorted(feature_columns, key=lambda c: c.name):
      if isinstance(column, fc_v2.CategoricalColumn):
        sparse_features.append(self._prune_and_unique_sparse_ids(
            column.get_sparse_tensors(cache, state_manager)))
        sparse_weights.append(state_manager.get_variable(column, 'weights'))
      elif isinstance(column, fc_v2.DenseColumn):
        if column.variable_shape.ndims != 1:
          raise ValueError(f'Column {type(column).__name__} has rank '
                           f'{column.variable_shape.ndims}, larger than 1.')
        dense_features.append(column.get_dense_tensor(cache, state_manager))
        dense_weights.append(state_manager.get_variable(column, 'weights'))
      else:
        raise ValueError('LinearSDCA does not support column type '
                         f'{type(column).__name__}.')
    dense_features.append(tf.ones([batch_size, 1]))
    dense_weights.append(bias_var)

    if weight_column_name:
      key = getattr(weight_column_name, 'key', weight_column_name)
      example_weights = tf.cast(tf.reshape(features[key], [-1]), tf.float32)
    else:
      example_weights = tf.ones([batch_size])
    example_ids = tf.reshape(features[self._example_id_column], [-1])
    if example_ids.dtype != tf.string:
      example_ids = tf.strings.as_string(example_ids)
    sdca_model = sdca_ops._SDCAModel(  # pylint: disable=protected-access
        examples=dict(
            sparse_features=sparse_features,
            dense_features=dense_features,
            example_labels=tf.cast(tf.reshape(targets, [-1]), tf.float32),
            example_weights=example_weights,
            example_ids=example_ids),
        variables=dict(sparse_features_weights=sparse_weights,
                       dense_features_weights=dense_weights),
        options=dict(
            symmetric_l1_regularization=self._symmetric_l1_regularization,
            symmetric_l2_regularization=self._symmetric_l2_regularization,
            adaptive=self._adaptive,
            num_loss_partitions=self._num_loss_partitions,
            num_table_shards=self._num_table_shards,
            loss_type=loss_type))
    return sdca_model, sdca_model.minimize(global_step=global_step)


def _sdca_loss_type(head):
  # The v1 heads reuse the v2 classes but are not instances of them.
  if isinstance(head, (binary_class_head.BinaryClassHead,
                       v1_heads.BinaryClassHeadV1)):
    return 'logistic_loss'
  if isinstance(head, (regression_head.RegressionHead,
                       v1_heads.RegressionHeadV1)):
    assert head.logits_dimension == 1
    return 'squared_loss'
  raise ValueError(f'Unsupported head type: {head}')


def _sdca_model_fn(features, labels, mode, head, feature_columns, optimizer):
  """The `model_fn` of a linear model trained by a `LinearSDCA`.

  The model's variables are those of the gradient-trained one; as in 2.15, a
  v2 head names them `linear/linear_model/...` from the root, a v1 head
  `linear_model/...` in the caller's variable scope (`linear` in the v1
  estimators). Training runs one SDCA step per batch, then sets the weights
  from their unshrunk copies (2.15 ran that in a chief-only hook, within the
  same step).
  """
  assert fc_v2.is_feature_column_v2(feature_columns)
  loss_type = _sdca_loss_type(head)
  scope_name = ('linear_model' if isinstance(head, v1_heads._Head)  # pylint: disable=protected-access
                else 'linear/linear_model')
  logits, bias, state = _v2_columns_model(features, feature_columns, 1, 'sum',
                                          scope_name)
  _add_summaries(bias, 1, state.trainable_variables())
  if mode != ModeKeys.TRAIN:
    return head.create_estimator_spec(features=features, mode=mode,
                                      labels=labels, logits=logits)
  sdca_model, minimize_op = optimizer.get_train_step(
      state, head._weight_column, loss_type, feature_columns, features,  # pylint: disable=protected-access
      labels, bias, tf.compat.v1.train.get_global_step())
  train_op = sdca_model.update_weights(minimize_op)
  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels,
      train_op_fn=lambda unused_loss: train_op, logits=logits)


def _check_sdca_combiner(sparse_combiner):
  if sparse_combiner != 'sum':
    raise AssertionError('sparse_combiner must be "sum" when optimizer is a '
                         'LinearSDCA object.')


def _validate_linear_sdca(feature_columns, optimizer, sparse_combiner):
  """Checks shared by classifier and regressor; whether `optimizer` is SDCA."""
  if not isinstance(optimizer, LinearSDCA):
    return False
  if sparse_combiner != 'sum':
    raise ValueError('sparse_combiner must be "sum" when optimizer is a '
                     'LinearSDCA object.')
  if not fc_v2.is_feature_column_v2(feature_columns):
    raise ValueError('V2 feature columns required when optimizer is a '
                     'LinearSDCA object.')
  return True


def _validate_linear_sdca_optimizer_for_linear_classifier(
    feature_columns, n_classes, optimizer, sparse_combiner):
  """A `LinearClassifier`'s checks of a `LinearSDCA`; its columns as a tuple."""
  feature_columns = tuple(feature_columns or [])
  if _validate_linear_sdca(feature_columns, optimizer, sparse_combiner) and (
      n_classes > 2):
    raise ValueError('LinearSDCA cannot be used in a multi-class setting.')
  return feature_columns


def _validate_linear_sdca_optimizer_for_linear_regressor(
    feature_columns, label_dimension, optimizer, sparse_combiner):
  """A `LinearRegressor`'s checks of a `LinearSDCA`; its columns as a tuple."""
  feature_columns = tuple(feature_columns or [])
  if _validate_linear_sdca(feature_columns, optimizer, sparse_combiner) and (
      label_dimension > 1):
    raise ValueError('LinearSDCA can only be used with one-dimensional label.')
  return feature_columns


# --- model_fns ----------------------------------------------------------------


def _linear_model_fn_v2(features, labels, mode, head, feature_columns,
                        optimizer, config, sparse_combiner='sum'):
  """The v2 `model_fn`: a tf-keras legacy optimizer steps the global step.

  2.15's name and arguments (`config` unused), which libraries call (TF
  Privacy's DP linear estimators).
  """
  del config
  _check_features(features)
  input_checks.checked(features, labels, feature_columns)
  if isinstance(optimizer, LinearSDCA):
    _check_sdca_combiner(sparse_combiner)
    return _sdca_model_fn(features, labels, mode, head, feature_columns,
                          optimizer)
  logits, variables = linear_logits_v2(head.logits_dimension, feature_columns,
                                       sparse_combiner, features)
  train_optimizer = None
  if mode == ModeKeys.TRAIN:
    if optimizer is None:
      optimizer = tf_keras.optimizers.legacy.Ftrl(
          learning_rate=default_learning_rate(len(feature_columns),
                                              _LEARNING_RATE))
    train_optimizer = optimizers.get_optimizer_instance_v2(
        optimizer, learning_rate=_LEARNING_RATE)
    train_optimizer.iterations = tf.compat.v1.train.get_or_create_global_step()
  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels, optimizer=train_optimizer,
      trainable_variables=variables, logits=logits)


def _linear_model_fn(features, labels, mode, head, feature_columns, optimizer,
                     partitioner, config, sparse_combiner='sum'):
  """The v1 `model_fn`: partitioned variables, a v1 optimizer's minimize.

  2.15's name and arguments, which libraries call (TF Privacy's v1 DP
  `LinearClassifier`).
  """
  _check_features(features)
  input_checks.checked(features, labels, feature_columns)
  if isinstance(optimizer, LinearSDCA):
    _check_sdca_combiner(sparse_combiner)
    with tf.compat.v1.variable_scope(
        'linear', values=tuple(features.values()),
        partitioner=v1_partitioner(config, partitioner)):
      return _sdca_model_fn(features, labels, mode, head, feature_columns,
                            optimizer)
  if optimizer is None:
    optimizer = tf.compat.v1.train.FtrlOptimizer(
        learning_rate=default_learning_rate(len(feature_columns),
                                            _LEARNING_RATE))
  with tf.compat.v1.variable_scope('linear', values=tuple(features.values()),
                                   partitioner=v1_partitioner(config,
                                                              partitioner)):
    logits = linear_logit_fn_builder(head.logits_dimension, feature_columns,
                                     sparse_combiner)(features)
    train_optimizer = optimizers.get_optimizer_instance(
        optimizer, learning_rate=_LEARNING_RATE)
    # Inside the `linear` scope, as in 2.15: slot names depend on it.
    return head.create_estimator_spec(
        features=features, mode=mode, labels=labels,
        optimizer=train_optimizer, logits=logits)


# --- estimators ---------------------------------------------------------------


class _LinearBase:
  """Builds the `model_fn` closure shared by the six linear estimators."""

  _V1 = False

  def _init_linear(self, head, feature_columns, model_dir, optimizer, config,
                   warm_start_from, sparse_combiner, partitioner=None):
    feature_columns = tuple(feature_columns or [])
    check_sparse_combiner(sparse_combiner)

    def model_fn(features, labels, mode, config):
      if self._V1:
        return _linear_model_fn(features, labels, mode, head, feature_columns,
                                optimizer, partitioner, config,
                                sparse_combiner)
      return _linear_model_fn_v2(features, labels, mode, head,
                                 feature_columns, optimizer, config,
                                 sparse_combiner)

    super().__init__(model_fn=model_fn, model_dir=model_dir, config=config,
                     warm_start_from=warm_start_from)


class LinearClassifierV2(_LinearBase, estimator_lib.EstimatorV2):
  """`tf.estimator.LinearClassifier`: logistic or softmax regression.

  `optimizer` is a name ('Ftrl' by default, at rate 0.2), a
  `tf.keras.optimizers.legacy` instance, a callable returning one (called in
  `model_fn`, so it may decay on the global step), or None for Ftrl at
  min(0.2, 1/sqrt(len(feature_columns))), or a `LinearSDCA` (binary labels
  only; see there). `sparse_combiner` ('sum', 'mean' or 'sqrtn') reduces
  multivalent categorical inputs.
  """

  def __init__(self, feature_columns, model_dir=None, n_classes=2,
               weight_column=None, label_vocabulary=None, optimizer='Ftrl',
               config=None, warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               sparse_combiner='sum'):
    feature_columns = _validate_linear_sdca_optimizer_for_linear_classifier(
        feature_columns, n_classes, optimizer, sparse_combiner)
    head = head_utils.binary_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner)


class LinearRegressorV2(_LinearBase, estimator_lib.EstimatorV2):
  """`tf.estimator.LinearRegressor`: least-squares linear regression.

  `optimizer` as for `LinearClassifierV2` (a `LinearSDCA` needs
  `label_dimension=1`).
  """

  def __init__(self, feature_columns, model_dir=None, label_dimension=1,
               weight_column=None, optimizer='Ftrl', config=None,
               warm_start_from=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               sparse_combiner='sum'):
    feature_columns = _validate_linear_sdca_optimizer_for_linear_regressor(
        feature_columns, label_dimension, optimizer, sparse_combiner)
    head = regression_head.RegressionHead(
        label_dimension=label_dimension, weight_column=weight_column,
        loss_reduction=loss_reduction)
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner)


class LinearEstimatorV2(_LinearBase, estimator_lib.EstimatorV2):
  """`tf.estimator.LinearEstimator`: the linear model with any v2 `head`."""

  def __init__(self, head, feature_columns, model_dir=None, optimizer='Ftrl',
               config=None, sparse_combiner='sum', warm_start_from=None):
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner)


class LinearClassifier(_LinearBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.LinearClassifier`.

  Differs from the v2 class as 2.15 did: `tf.compat.v1.train` optimizers,
  loss reduction SUM by default, v1 or v2 feature columns, and variables
  split by `partitioner` (by default into as many parts as parameter
  servers, and at least one).
  """

  _V1 = True

  def __init__(self, feature_columns, model_dir=None, n_classes=2,
               weight_column=None, label_vocabulary=None, optimizer='Ftrl',
               config=None, partitioner=None, warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               sparse_combiner='sum'):
    feature_columns = _validate_linear_sdca_optimizer_for_linear_classifier(
        feature_columns, n_classes, optimizer, sparse_combiner)
    head = v1_heads.binary_logistic_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner, partitioner)


class LinearRegressor(_LinearBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.LinearRegressor` (v1 as LinearClassifier)."""

  _V1 = True

  def __init__(self, feature_columns, model_dir=None, label_dimension=1,
               weight_column=None, optimizer='Ftrl', config=None,
               partitioner=None, warm_start_from=None,
               loss_reduction=tf.compat.v1.losses.Reduction.SUM,
               sparse_combiner='sum'):
    feature_columns = _validate_linear_sdca_optimizer_for_linear_regressor(
        feature_columns, label_dimension, optimizer, sparse_combiner)
    head = v1_heads.regression_head_v1(
        weight_column=weight_column, label_dimension=label_dimension,
        loss_reduction=loss_reduction)
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner, partitioner)


class LinearEstimator(_LinearBase, estimator_lib.Estimator):
  """`tf.compat.v1.estimator.LinearEstimator`: any head, v1 optimizers."""

  _V1 = True

  def __init__(self, head, feature_columns, model_dir=None, optimizer='Ftrl',
               config=None, partitioner=None, sparse_combiner='sum',
               warm_start_from=None):
    self._init_linear(head, feature_columns, model_dir, optimizer, config,
                      warm_start_from, sparse_combiner, partitioner)
