"""RNN canned estimators: `RNNEstimator` and `RNNClassifier`.

These are `tf.estimator.experimental.RNN*` of tensorflow-estimator 2.15. The
model is a tf_keras model named `rnn_model` (sequence features -> optional
context features repeated at every step -> a Keras RNN layer -> a `logits`
Dense layer), built inside the Estimator's TF1-style `model_fn`, so variable,
slot and checkpoint names are the ones 2.15 wrote.

With `return_sequences=True` the model emits one logit vector per step; a
sequential head (see `SequentialHeadWrapper`) drops the padded steps before
the static head computes loss and metrics.
"""

import abc
import collections.abc

import numpy as np
import tensorflow as tf
from tensorflow.python.feature_column import serialization as fc_serialization
import tf_keras
# Keras' public API module: what `tf.keras` is under TF_USE_LEGACY_KERAS. The
# RNN and logits layers are built through it, as 2.15 built them through
# `tf.keras`, so code that wraps or patches `tf.keras.layers.RNN`/`Dense`
# (2.15's own tests set the logits' initial weights that way) reaches them.
from tf_keras.api._v2 import keras as keras_api

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.canned import compiled_rnn
from tfcompat_estimator.canned import fused_lstm
from tfcompat_estimator.canned import input_checks
from tfcompat_estimator.canned import optimizers
from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.canned.head import head_utils
from tfcompat_estimator.canned.head import multi_head
from tfcompat_estimator.platform import tf_internals

# 2.15's defaults for string optimizers (learning rate and gradient clip norm).
_DEFAULT_LEARNING_RATE = 0.05
_DEFAULT_CLIP_NORM = 5.0

_SIMPLE_RNN_KEY = 'simple_rnn'
_LSTM_KEY = 'lstm'
_GRU_KEY = 'gru'

# An int `units` with a named cell type builds the fused Keras layer (variables
# `rnn_model/lstm/lstm_cell/...`); otherwise cells go into a generic `RNN`
# layer (`rnn_model/rnn/...`), exactly as 2.15 chose.
_CELL_TYPE_TO_LAYER_MAPPING = {
    _SIMPLE_RNN_KEY: tf_keras.layers.SimpleRNN,
    _LSTM_KEY: tf_keras.layers.LSTM,
    _GRU_KEY: tf_keras.layers.GRU,
}
_CELL_TYPES = {
    _SIMPLE_RNN_KEY: tf_keras.layers.SimpleRNNCell,
    _LSTM_KEY: tf_keras.layers.LSTMCell,
    _GRU_KEY: tf_keras.layers.GRUCell,
}


class _UseDefault:
  """Marks a `cell_type` the caller left unset."""

  def __repr__(self):
    return 'USE_DEFAULT'


USE_DEFAULT = _UseDefault()


def _cell_class(cell_type):
  cell_class = _CELL_TYPES.get(cell_type, cell_type)
  if not callable(cell_class):
    raise ValueError(
        '`cell_type` should be a class producing a RNN cell, or a string '
        'specifying the cell type. Supported strings are: '
        f'{[_SIMPLE_RNN_KEY, _LSTM_KEY, _GRU_KEY]}. Given: {cell_type!r}.')
  return cell_class


def _single_rnn_cell(units, cell_type):
  cell = _cell_class(cell_type)(units=units)
  if not hasattr(cell, 'call') or not hasattr(cell, 'state_size'):
    raise ValueError('RNN cell should have a `call` and `state_size` method. '
                     f'Given: {cell!r}.')
  return cell


def _verify_rnn_cell_input(rnn_cell_fn, units, cell_type):
  """Rejects argument combinations 2.15 rejects, plus ones it failed on later."""
  if rnn_cell_fn and (units or cell_type is not USE_DEFAULT):
    raise ValueError(
        'units and cell_type must not be specified when using rnn_cell_fn')
  if rnn_cell_fn:
    return
  if units is None:
    raise ValueError('Either `units` (with an optional `cell_type`) or '
                     '`rnn_cell_fn` must be given.')
  if cell_type is not USE_DEFAULT:
    _cell_class(cell_type)
  if not isinstance(units, int):
    try:
      units = list(units)
    except TypeError:
      raise ValueError('`units` must be an int or an iterable of ints. '
                       f'Given: {units!r}.') from None
    if not units or not all(isinstance(u, int) for u in units):
      raise ValueError('`units` must be an int or a non-empty iterable of '
                       f'ints. Given: {units!r}.')


def _make_rnn_layer(rnn_cell_fn=None, units=None, cell_type=USE_DEFAULT,
                    return_sequences=False):
  """The Keras RNN layer for the estimator's arguments (built per model_fn).

  LSTM layers train through TF's fused kernel (see `fused_lstm`), other
  layers of built-in cells through XLA (see `compiled_rnn`).
  """
  layer = _keras_rnn_layer(rnn_cell_fn, units, cell_type, return_sequences)
  if fused_lstm.fusable(layer):
    fused_lstm.fuse_training_calls(layer)
  elif compiled_rnn.compilable(layer):
    compiled_rnn.compile_training_calls(layer)
  return layer


def _keras_rnn_layer(rnn_cell_fn, units, cell_type, return_sequences):
  if cell_type in _CELL_TYPE_TO_LAYER_MAPPING and isinstance(units, int):
    return _CELL_TYPE_TO_LAYER_MAPPING[cell_type](
        units=units, return_sequences=return_sequences)
  if rnn_cell_fn:
    cell = rnn_cell_fn()
  else:
    if cell_type is USE_DEFAULT:
      cell_type = _SIMPLE_RNN_KEY
    units = [units] if isinstance(units, int) else list(units)
    cells = [_single_rnn_cell(n, cell_type) for n in units]
    cell = cells[0] if len(cells) == 1 else cells
  return keras_api.layers.RNN(cell=cell, return_sequences=return_sequences)


def _concatenate_context(context_input, sequence_input):
  """Repeats `[batch, d]` context at every step of `[batch, T, k]` input."""
  if not context_input.dtype.is_floating:
    raise TypeError('Context features must be float tensors; got dtype '
                    f'{context_input.dtype.name}.')
  steps = tf.shape(sequence_input)[1]
  tiled = tf.tile(tf.expand_dims(context_input, 1), [1, steps, 1])
  return tf.concat([sequence_input, tf.cast(tiled, sequence_input.dtype)], 2)


class RNNModel(tf_keras.Model):
  """Keras model mapping a features dict to RNN logits.

  Its output carries the sequence-length mask as `_keras_mask` when
  `return_sequences` is set, so the estimator can hand it to a sequential head
  that must ignore padded steps.
  """

  def __init__(self, rnn_layer, units, sequence_feature_columns,
               context_feature_columns=None, activation=None,
               return_sequences=False, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(units, int):
      raise ValueError(f'units must be an int.  Given type: {type(units)}')
    self._return_sequences = return_sequences
    self._sequence_feature_columns = sequence_feature_columns
    self._context_feature_columns = context_feature_columns
    self._sequence_features_layer = tf_keras.experimental.SequenceFeatures(
        sequence_feature_columns)
    # 2.15 used the v1 DenseFeatures for context columns.
    self._dense_features_layer = (
        tf.compat.v1.keras.layers.DenseFeatures(context_feature_columns)
        if context_feature_columns else None)
    self._rnn_layer = rnn_layer
    self._logits_layer = keras_api.layers.Dense(
        units=units, activation=activation, name='logits')

  # Its branches test Python values only, so autograph's conversion (which
  # Keras asks for, the class not being tf_keras' own) would change nothing
  # and cost each process's first graph of the model 0.04 s (measured).
  @tf_internals.leave_unconverted
  def call(self, inputs, training=None):
    if not isinstance(inputs, dict):
      raise ValueError('inputs should be a dictionary of `Tensor`s. '
                       f'Given type: {type(inputs)}')
    with tf.name_scope('sequence_input_layer'):
      sequence_input, sequence_length = self._sequence_features_layer(
          inputs, training=training)
      tf.compat.v1.summary.histogram('sequence_length', sequence_length)
      if self._dense_features_layer is not None:
        context_input = self._dense_features_layer(inputs, training=training)
        sequence_input = _concatenate_context(context_input, sequence_input)
    mask = tf.sequence_mask(sequence_length)
    outputs = self._rnn_layer(sequence_input, mask=mask, training=training)
    logits = self._logits_layer(outputs)
    if self._return_sequences:
      logits._keras_mask = mask  # pylint: disable=protected-access
    return logits


  def get_config(self):
    """The constructor's arguments, serialized as 2.15 stored them."""
    context = self._context_feature_columns
    return {
        'name': self.name,
        'rnn_layer': {'class_name': type(self._rnn_layer).__name__,
                      'config': self._rnn_layer.get_config()},
        'units': self._logits_layer.units,
        'return_sequences': self._return_sequences,
        'activation': tf_keras.activations.serialize(
            self._logits_layer.activation),
        'sequence_feature_columns': fc_serialization.serialize_feature_columns(
            self._sequence_feature_columns),
        'context_feature_columns': (
            fc_serialization.serialize_feature_columns(context)
            if context else None),
    }

  @classmethod
  def from_config(cls, config, custom_objects=None):
    """An `RNNModel` from `get_config()`'s dict."""
    config = dict(config)
    rnn_layer = tf_keras.layers.deserialize(config.pop('rnn_layer'),
                                            custom_objects=custom_objects)
    columns = {
        key: fc_serialization.deserialize_feature_columns(
            config.pop(key), custom_objects=custom_objects)
        if config.get(key) else config.pop(key, None)
        for key in ('sequence_feature_columns', 'context_feature_columns')}
    activation = tf_keras.activations.deserialize(
        config.pop('activation', None), custom_objects=custom_objects)
    return cls(rnn_layer=rnn_layer, activation=activation, **columns, **config)


def _rnn_optimizer(optimizer):
  """The training optimizer, with 2.15's defaults for optimizer names."""
  if isinstance(optimizer, str):
    optimizer = optimizers.get_optimizer_instance_v2(
        optimizer, learning_rate=_DEFAULT_LEARNING_RATE)
    optimizer.clipnorm = _DEFAULT_CLIP_NORM
  else:
    optimizer = optimizers.get_optimizer_instance_v2(optimizer)
  # Hooks count steps by the global step, so the optimizer must advance it.
  optimizer.iterations = tf.compat.v1.train.get_or_create_global_step()
  return optimizer


def _rnn_model_fn(features, labels, mode, head, rnn_layer_args, model_args,
                  optimizer):
  """Builds the RNN model and asks `head` for the `EstimatorSpec`."""
  training = mode == model_fn_lib.ModeKeys.TRAIN
  optimizer = _rnn_optimizer(optimizer) if training else None
  if not isinstance(features, dict):
    raise ValueError('features should be a dictionary of `Tensor`s. '
                     f'Given type: {type(features)}')
  input_checks.checked(
      features, labels, list(model_args['sequence_feature_columns']) +
      list(model_args['context_feature_columns'] or ()))
  rnn_model = RNNModel(rnn_layer=_make_rnn_layer(**rnn_layer_args),
                       units=head.logits_dimension, name='rnn_model',
                       **model_args)
  logits = rnn_model(features, training)
  if model_args['return_sequences']:
    features = dict(features)
    features.setdefault(head.input_sequence_mask_key, logits._keras_mask)  # pylint: disable=protected-access
  return head.create_estimator_spec(
      features=features, mode=mode, labels=labels, optimizer=optimizer,
      logits=logits, update_ops=rnn_model.updates,
      trainable_variables=rnn_model.trainable_variables)


class _SequentialHead(base_head.Head):
  """A head whose logits and labels have a time axis.

  `input_sequence_mask_key` names the `[batch, T]` boolean feature marking
  the real (unpadded) steps.
  """

  @property
  @abc.abstractmethod
  def input_sequence_mask_key(self):
    """The features key of the sequence mask."""


class SequentialHeadWrapper(_SequentialHead):
  """Applies a static head to every unpadded step of a sequence model.

  In TRAIN and EVAL, logits `[batch, T, ...]`, labels and the features named
  in `feature_columns` (typically the weight) are flattened to the steps the
  mask keeps, then passed to the static head. In PREDICT the static head sees
  the unflattened logits and the mask is added to the predictions.
  """

  def __init__(self, static_head, sequence_length_mask='sequence_length_mask',
               feature_columns=None):
    if not isinstance(sequence_length_mask, str):
      raise TypeError('`sequence_mask` column must be a string. '
                      f'Given type: {type(sequence_length_mask)}.')
    feature_columns = feature_columns or []
    if isinstance(feature_columns, str):
      feature_columns = [feature_columns]
    elif not isinstance(feature_columns, collections.abc.Iterable):
      raise TypeError('`feature_columns` must be either a string or an '
                      'iterable of strings got '
                      f'{type(feature_columns)} instead.')
    for column in feature_columns:
      if not isinstance(column, str):
        raise TypeError(f'Column must a string. Given type: {type(column)}.')
    if isinstance(static_head, multi_head.MultiHead):
      raise ValueError(
          '`MultiHead` is not supported with `SequentialHeadWrapper`.')
    self._sequence_length_mask = sequence_length_mask
    self._feature_columns = list(feature_columns)
    self._static_head = static_head

  @property
  def input_sequence_mask_key(self):
    return self._sequence_length_mask

  @property
  def static_head(self):
    return self._static_head

  @property
  def logits_dimension(self):
    return self._static_head.logits_dimension

  @property
  def loss_reduction(self):
    return self._static_head.loss_reduction

  @property
  def name(self):
    if self._static_head.name:
      return f'{self._static_head.name}_sequential'
    return None

  def _flatten(self, labels, logits, features):
    """Keeps the unpadded steps of labels, logits and the wrapped features."""
    key = self.input_sequence_mask_key
    if key not in features:
      raise ValueError(
          f'The provided sequence_length_mask key `{key}` should be included '
          'in the features dictionary, but was not found. Found keys: '
          f'{list(features.keys())}.')
    mask = features[key]
    if mask.shape.ndims != 2:
      raise ValueError('Mask is expected to have two dimensions, got '
                       f'{mask.shape.ndims} instead.')
    with tf.name_scope('flatten'):
      expected_length = tf.reduce_sum(tf.cast(mask, tf.int32))
      flat_logits = _flatten_tensor(logits, mask, expected_length, 'logits')
      flat_labels = _flatten_tensor(labels, mask, expected_length, 'labels')
      flat_features = {}
      for column in self._feature_columns:
        if column not in features:
          raise ValueError(f'`{column}` column expected in features '
                           'dictionary.')
        flat_features[column] = _flatten_tensor(
            features[column], mask, expected_length, f'feature {column!r}')
    return flat_labels, flat_logits, flat_features

  def loss(self, logits, labels, features=None, mode=None,
           regularization_losses=None):
    flat_labels, flat_logits, flat_features = self._flatten(
        labels, logits, features)
    return self._static_head.loss(
        logits=flat_logits, labels=flat_labels, features=flat_features,
        mode=mode, regularization_losses=regularization_losses)

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, trainable_variables=None,
                            train_op_fn=None, update_ops=None,
                            regularization_losses=None):
    if mode == model_fn_lib.ModeKeys.PREDICT:
      spec = self._static_head.create_estimator_spec(
          features=features, mode=mode, logits=logits)
      predictions = dict(spec.predictions)
      predictions[self.input_sequence_mask_key] = features[
          self.input_sequence_mask_key]
      return spec._replace(predictions=predictions)
    flat_labels, flat_logits, flat_features = self._flatten(
        labels, logits, features)
    return self._static_head.create_estimator_spec(
        features=flat_features, mode=mode, logits=flat_logits,
        labels=flat_labels, optimizer=optimizer,
        trainable_variables=trainable_variables, train_op_fn=train_op_fn,
        update_ops=update_ops, regularization_losses=regularization_losses)

  def update_metrics(self, eval_metrics, features, logits, labels,
                     regularization_losses=None):
    flat_labels, flat_logits, flat_features = self._flatten(
        labels, logits, features)
    return self._static_head.update_metrics(
        eval_metrics=eval_metrics, features=flat_features, logits=flat_logits,
        labels=flat_labels, regularization_losses=regularization_losses)

  def predictions(self, logits, keys=None):
    return self._static_head.predictions(logits, keys=keys)

  def metrics(self, regularization_losses=None):
    return self._static_head.metrics(regularization_losses)


def _flatten_tensor(tensor, sequence_mask, expected_length, what='tensor'):
  """`[batch, T, D...]` -> `[n_unpadded, D...]` (`[n, 1]` for `[batch, T]`).

  A dense tensor keeps the steps `sequence_mask` marks; a sparse one keeps
  its values in index order. The result must have one row per unpadded step:
  a graph assertion checks it, or a ValueError when run eagerly (2.15 too).
  `what` names the tensor in errors.
  """
  shape = tensor.shape
  if shape.ndims is None or shape.ndims < 2:
    raise ValueError(f'Input tensor expected to have at least 2 dimensions, '
                     f'got {shape.ndims} instead: sequential {what}, shape '
                     f'{shape}.')
  if isinstance(tensor, tf.sparse.SparseTensor):
    flat = tf.sparse.reorder(tensor).values
    if shape.ndims > 2:
      flat = tf.reshape(flat, tf.concat([[-1], shape[2:]], axis=0))
  elif isinstance(tensor, tf.Tensor):
    flat = _masked_steps(tensor, sequence_mask, what)
  else:
    raise ValueError(f'Sequential {what} expected to be a `Tensor` or '
                     f'`SparseTensor`, got `{tensor!r}` instead.')
  if shape.ndims == 2:
    flat = tf.expand_dims(flat, -1)
    expected_shape = tf.stack([expected_length, 1])
  else:
    expected_shape = tf.concat([[expected_length], shape[2:]], axis=0)
  with tf.control_dependencies(_shapes_equal(
      tf.shape(flat), expected_shape,
      f'Tensor shape is incompatible with provided mask ({what}).')):
    return tf.identity(flat)


def _masked_steps(tensor, sequence_mask, what):
  """The steps of a dense `[batch, T, ...]` tensor that the mask keeps."""
  with tf.control_dependencies(_shapes_equal(
      tf.shape(tensor)[:2], tf.shape(sequence_mask),
      f'Sequential {what} must have shape [batch_size, seq_length, ...] '
      'matching the sequence mask; shapes are (tensor, mask)')):
    return tf.boolean_mask(tensor, tf.cast(sequence_mask, tf.bool))


def _shapes_equal(shape, expected, message):
  """Checks two shape vectors: ValueError now when run eagerly (2.15 too),
  else the graph assertion, returned as control dependencies."""
  if tf.executing_eagerly():
    if not np.array_equal(shape, expected):
      raise ValueError(f'{message}: {np.asarray(shape).tolist()}, expected '
                       f'{np.asarray(expected).tolist()}.')
    return []
  return [tf.compat.v1.debugging.assert_equal(shape, expected,
                                              message=message)]


class RNNEstimator(estimator_lib.Estimator):
  """An RNN over sequence feature columns with a caller-chosen head.

  The v1 Estimator class, as 2.15's was: it keeps `export_savedmodel`.

  Trains with `optimizer` (a name gets learning rate 0.05 and gradient clip
  norm 5, as in 2.15). `return_sequences=True` needs a sequential head such as
  `SequentialHeadWrapper`.
  """

  def __init__(self, head, sequence_feature_columns,
               context_feature_columns=None, units=None,
               cell_type=USE_DEFAULT, rnn_cell_fn=None, return_sequences=False,
               model_dir=None, optimizer='Adagrad', config=None):
    if return_sequences and not isinstance(head, _SequentialHead):
      raise ValueError('Provided head must be a `_SequentialHead` object when '
                       '`return_sequences` is set to True.')
    _verify_rnn_cell_input(rnn_cell_fn, units, cell_type)
    rnn_layer_args = dict(rnn_cell_fn=rnn_cell_fn, units=units,
                          cell_type=cell_type,
                          return_sequences=return_sequences)
    model_args = dict(sequence_feature_columns=sequence_feature_columns,
                      context_feature_columns=context_feature_columns,
                      return_sequences=return_sequences)

    def _model_fn(features, labels, mode):
      return _rnn_model_fn(features, labels, mode, head, rnn_layer_args,
                           model_args, optimizer)

    super().__init__(model_fn=_model_fn, model_dir=model_dir, config=config)


class RNNClassifier(RNNEstimator):
  """An RNN classifier: binary (`n_classes=2`) or multi-class softmax.

  With `return_sequences=True` every unpadded step is classified; the
  `sequence_mask` feature (computed from the sequence lengths when absent)
  marks those steps and is added to the predictions.
  """

  def __init__(self, sequence_feature_columns, context_feature_columns=None,
               units=None, cell_type=USE_DEFAULT, rnn_cell_fn=None,
               return_sequences=False, model_dir=None, n_classes=2,
               weight_column=None, label_vocabulary=None,
               optimizer='Adagrad',
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               sequence_mask='sequence_mask', config=None):
    head = head_utils.binary_or_multi_class_head(
        n_classes, weight_column, label_vocabulary, loss_reduction)
    if return_sequences:
      tf.compat.v1.logging.info(
          'Wrapping the head in a SequentialHeadWrapper for per-step '
          'predictions.')
      head = SequentialHeadWrapper(head, sequence_length_mask=sequence_mask,
                                   feature_columns=weight_column)
    super().__init__(
        head=head, sequence_feature_columns=sequence_feature_columns,
        context_feature_columns=context_feature_columns, units=units,
        cell_type=cell_type, rnn_cell_fn=rnn_cell_fn,
        return_sequences=return_sequences, model_dir=model_dir,
        optimizer=optimizer, config=config)
