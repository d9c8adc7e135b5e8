"""The `Head` interface and the checks and graph pieces every head shares.

Heads run inside the TF1-style graph the Estimator captures from `model_fn`,
so shape and range checks that depend on the batch are graph assertions: a bad
label fails the step with `tf.errors.InvalidArgumentError`, as it did in 2.15.
Checks that can be decided from static shapes raise `ValueError` at once, and
so do the value checks of a head called eagerly (e.g. `head.loss` on numpy
arrays), whose values are known: 2.15 did the same.
"""

import abc
import contextlib
import re

import numpy as np

import tensorflow as tf
from tensorflow.python.feature_column import feature_column_v2 as fc_v2

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned import prediction_keys
from tfcompat_estimator.canned.head import label_lookup
from tfcompat_estimator.model_fn import ModeKeys
from tfcompat_estimator.platform import tf_internals

DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
CLASSIFY_SERVING_KEY = 'classification'
REGRESS_SERVING_KEY = 'regression'
PREDICT_SERVING_KEY = 'predict'

_v1 = tf.compat.v1
_pred = prediction_keys.PredictionKeys
export_output = model_fn_lib.export_output_lib
# How 2.15's v2 heads began the errors for labels >= n_classes and < 0.
LABEL_RANGE_WORDS = ('Labels must be <= n_classes - 1', 'Labels must be >= 0')


class _HeadType(abc.ABCMeta):
  """The v2 heads' metaclass: the v1 heads that reuse them are not v2 heads.

  The v1 head classes (`v1_heads`) inherit the v2 classes' implementation,
  but in 2.15 they were a separate hierarchy, and libraries branch on the
  difference: TensorFlow Constrained Optimization's `HeadV1` refuses a
  `tf.estimator.Head` as its base head. So a class marked `_IS_V1_HEAD`
  passes as an instance or subclass of the v1 classes only.
  """

  def __subclasscheck__(cls, subclass):
    if (getattr(subclass, '_IS_V1_HEAD', False) and
        not getattr(cls, '_IS_V1_HEAD', False)):
      return False
    return super().__subclasscheck__(subclass)


class Head(metaclass=_HeadType):
  """Turns logits into predictions, a loss, eval metrics and a train op.

  A model_fn builds the network up to its logits (`logits_dimension` wide)
  and hands them to `create_estimator_spec`, which returns the
  `EstimatorSpec` for the mode.
  """

  @property
  @abc.abstractmethod
  def name(self):
    """Suffix of metric and summary keys (`<key>/<name>`), or None."""

  @property
  @abc.abstractmethod
  def logits_dimension(self):
    """Size of the last dimension of the logits this head expects."""

  @property
  @abc.abstractmethod
  def loss_reduction(self):
    """How the per-example losses are reduced to the training loss."""

  @abc.abstractmethod
  def loss(self, labels, logits, features=None, mode=None,
           regularization_losses=None):
    """The scalar (regularized) training loss."""

  @abc.abstractmethod
  def predictions(self, logits, keys=None):
    """Dict of prediction tensors keyed by `PredictionKeys`."""

  @abc.abstractmethod
  def metrics(self, regularization_losses=None):
    """Dict of fresh metric objects keyed by metric key."""

  @abc.abstractmethod
  def update_metrics(self, eval_metrics, features, logits, labels,
                     mode=None, regularization_losses=None):
    """Updates `eval_metrics` with one batch and returns them."""

  def _summary_key(self, key):
    return f'{key}/{self.name}' if self.name else key

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, trainable_variables=None,
                            train_op_fn=None, update_ops=None,
                            regularization_losses=None):
    """The `EstimatorSpec` for `mode`, built from `logits`.

    A subclass implements this or `_create_tpu_estimator_spec`, whose
    `_TPUEstimatorSpec` this default converts (as in 2.15).
    """
    return spec_from_tpu_spec(
        self, 'Head', features=features, mode=mode, logits=logits,
        labels=labels, optimizer=optimizer,
        trainable_variables=trainable_variables, train_op_fn=train_op_fn,
        update_ops=update_ops, regularization_losses=regularization_losses)

  def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                 optimizer=None, trainable_variables=None,
                                 train_op_fn=None, update_ops=None,
                                 regularization_losses=None):
    """A `model_fn._TPUEstimatorSpec` for `mode`, if the head provides one."""
    raise NotImplementedError(
        'TPUEstimatorSpec not available for this model head.')


def spec_from_tpu_spec(head, interface, *args, **kwargs):
  """`head._create_tpu_estimator_spec(...)` as an `EstimatorSpec`.

  2.15's default `create_estimator_spec` of both head interfaces (`Head`,
  v1 `_Head`, named by `interface` in the error).
  """
  try:
    tpu_spec = head._create_tpu_estimator_spec(*args, **kwargs)  # pylint: disable=protected-access
  except NotImplementedError:
    raise NotImplementedError(
        f'Subclasses of {interface} must implement `create_estimator_spec()` '
        'or _create_tpu_estimator_spec().') from None
  return tpu_spec.as_estimator_spec()


class SingleHead(Head):
  """A head with one logits tensor: the spec is assembled the same way.

  Subclasses set `_name` and `_loss_reduction` (see `_init_loss_config`),
  provide `logits_dimension`, `_processed_labels(logits, labels)`,
  `_unweighted_loss_and_weights(logits, processed_labels, features)` and
  `_export_outputs(predictions)` for PREDICT mode.
  """

  _label_range_words = LABEL_RANGE_WORDS  # the v1 heads word them differently

  def _threshold_keys(self, threshold):
    """Keys of the accuracy, precision and recall metrics at `threshold`."""
    keys = metric_keys.MetricKeys
    return (self._summary_key(keys.ACCURACY_AT_THRESHOLD % threshold),
            self._summary_key(keys.PRECISION_AT_THRESHOLD % threshold),
            self._summary_key(keys.RECALL_AT_THRESHOLD % threshold))

  def _threshold_metric_factories(self):
    """`build_metrics` factories for each of `self._thresholds`."""
    import tf_keras  # pylint: disable=g-import-not-at-top
    m = tf_keras.metrics
    factories = []
    for threshold in self._thresholds:
      acc_key, prec_key, rec_key = self._threshold_keys(threshold)
      factories += [
          (acc_key, lambda k=acc_key, t=threshold: m.BinaryAccuracy(
              name=k, threshold=t)),
          (prec_key, lambda k=prec_key, t=threshold: m.Precision(
              name=k, thresholds=t)),
          (rec_key, lambda k=rec_key, t=threshold: m.Recall(
              name=k, thresholds=t)),
      ]
    return factories

  def _init_loss_config(self, loss_reduction, loss_fn, name):
    """Validates and stores the loss reduction, custom loss_fn and name."""
    validate_loss_reduction(loss_reduction)
    if loss_fn:
      validate_loss_fn_args(loss_fn)
    self._loss_reduction = loss_reduction
    self._loss_fn = loss_fn
    self._name = name

  @property
  def name(self):
    return self._name

  @property
  def loss_reduction(self):
    return self._loss_reduction

  _shared_loss_terms = None  # set while `_sharing_loss_terms` runs

  def _labels_and_unweighted_loss(self, logits, labels, features):
    """Checked logits, processed labels, per-example loss and weights.

    Inside `_sharing_loss_terms`, a second call with the same arguments
    returns the first call's tensors instead of building them again.
    """
    key = (id(logits), id(labels), id(features))
    shared = self._shared_loss_terms
    if shared is not None and key in shared:
      return shared[key]
    checked_logits = check_logits_final_dim(logits, self.logits_dimension)
    processed_labels = self._processed_labels(checked_logits, labels)
    unweighted_loss, weights = self._unweighted_loss_and_weights(
        checked_logits, processed_labels, features)
    terms = checked_logits, processed_labels, unweighted_loss, weights
    if shared is not None:
      shared[key] = terms
    return terms

  @contextlib.contextmanager
  def _sharing_loss_terms(self):
    """One set of label checks and per-example losses for a whole spec.

    In an EVAL spec, `loss()` and `update_metrics()` each derive the same
    terms from the same logits, labels and features; 2.15 built them twice.
    Each copy is a label range check (a branch holding the failure
    message's ops), the loss and the logits check: on the benchmark's canned
    DNN, 127 of the evaluation loop's 821 nodes, paid in building the graph
    and again in compiling the loop (with the one-branch label check below,
    the canned models' first evaluate() got 9-11% faster in paired runs).
    Keyed by the objects' ids, which stay valid because the caller holds the
    objects for the whole block.
    """
    self._shared_loss_terms = {}
    try:
      yield
    finally:
      self._shared_loss_terms = None

  def loss(self, labels, logits, features=None, mode=None,
           regularization_losses=None):
    del mode
    with _v1.name_scope('losses'):
      _, _, unweighted_loss, weights = self._labels_and_unweighted_loss(
          logits, labels, features)
      training_loss = reduce_weighted_loss(
          unweighted_loss, weights, self._loss_reduction)
      return add_regularization(training_loss, regularization_losses)

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, trainable_variables=None,
                            train_op_fn=None, update_ops=None,
                            regularization_losses=None):
    """The spec of `_create_tpu_estimator_spec`, converted, as in 2.15.

    Subclasses override that method (TF Privacy's DP heads reduce their
    per-example loss there). The metrics, built by the conversion, share
    the loss terms (`_sharing_loss_terms`).
    """
    with self._sharing_loss_terms():
      return super().create_estimator_spec(
          features, mode, logits, labels, optimizer, trainable_variables,
          train_op_fn, update_ops, regularization_losses)

  def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                 optimizer=None, trainable_variables=None,
                                 train_op_fn=None, update_ops=None,
                                 regularization_losses=None):
    tpu_spec = model_fn_lib._TPUEstimatorSpec  # pylint: disable=protected-access
    with _v1.name_scope(self.name, 'head'):
      predictions = self.predictions(logits)
      if mode == ModeKeys.PREDICT:
        return tpu_spec(mode=ModeKeys.PREDICT, predictions=predictions,
                        export_outputs=self._export_outputs(predictions))
      loss = self.loss(labels=labels, logits=logits, features=features,
                       mode=mode, regularization_losses=regularization_losses)
      if mode == ModeKeys.EVAL:
        return tpu_spec(
            mode=ModeKeys.EVAL, predictions=predictions, loss=loss,
            eval_metrics=create_eval_metrics_tuple(self.update_metrics, {
                'eval_metrics': self.metrics(
                    regularization_losses=regularization_losses),
                'features': features, 'logits': logits, 'labels': labels,
                'regularization_losses': regularization_losses}))
      if mode != ModeKeys.TRAIN:
        raise ValueError(f'mode={mode} unrecognized.')
      train_op = create_estimator_spec_train_op(
          head_name=self.name, optimizer=optimizer,
          trainable_variables=trainable_variables, train_op_fn=train_op_fn,
          update_ops=update_ops, regularized_training_loss=loss,
          loss_reduction=self.loss_reduction)
    create_estimator_spec_summary(loss, regularization_losses,
                                  self._summary_key)
    return tpu_spec(mode=ModeKeys.TRAIN, predictions=predictions, loss=loss,
                    train_op=train_op)

  def _export_outputs(self, predictions):
    raise NotImplementedError


# --- argument validation -----------------------------------------------------

_LABEL_NONE_ERR_MSG = (
    'You must provide a labels Tensor. Given: None. Check that your data '
    'contains the label feature and that your input_fn returns labels.')


def validate_loss_fn_args(loss_fn):
  """`loss_fn` must take labels and logits, and may take features."""
  args = model_fn_lib.fn_args(loss_fn)
  for required in ('labels', 'logits'):
    if required not in args:
      raise ValueError(f'loss_fn must contain argument: {required}. '
                       f'Given arguments: {args}')
  unexpected = sorted(set(args) - {'labels', 'logits', 'features',
                                   'loss_reduction'})
  if unexpected:
    raise ValueError(f'loss_fn has unexpected args: {unexpected}')


def validate_loss_reduction(loss_reduction):
  if (loss_reduction not in tf.losses.Reduction.all() or
      loss_reduction == tf.losses.Reduction.NONE):
    raise ValueError(f'Invalid loss_reduction: {loss_reduction}. See '
                     '`tf.losses.Reduction` for valid options.')


def validate_update_ops(update_ops=None):
  if update_ops is not None and not isinstance(update_ops, (list, tuple)):
    raise ValueError(f'update_ops should be a list or a tuple. Given type: '
                     f'{type(update_ops)}.')


def validate_v2_optimizer(optimizer):
  import tf_keras  # pylint: disable=g-import-not-at-top
  if not isinstance(optimizer, (tf_keras.optimizers.Optimizer,
                                tf_keras.optimizers.legacy.Optimizer)):
    raise ValueError('The given optimizer is not a tf.keras.optimizers.'
                     f'Optimizer instance. Received optimizer of type '
                     f'{type(optimizer)}')


def validate_trainable_variables(trainable_variables=None):
  if trainable_variables is None:
    raise ValueError(f'trainable_variables cannot be None. Given '
                     f'{trainable_variables}')
  if not isinstance(trainable_variables, (list, tuple)):
    raise ValueError(f'trainable_variables should be a list or a tuple. '
                     f'Given type: {type(trainable_variables)}.')


def validate_n_classes(n_classes):
  if isinstance(n_classes, int) and n_classes <= 2:
    raise ValueError(f'n_classes must be > 2: {n_classes}.')
  return n_classes


def validate_label_vocabulary(label_vocabulary, n_classes=None):
  if label_vocabulary is None:
    return
  if not isinstance(label_vocabulary, (list, tuple)):
    raise ValueError('label_vocabulary should be a list or a tuple. Given '
                     f'type: {type(label_vocabulary)}')
  if n_classes is not None and len(label_vocabulary) != n_classes:
    raise ValueError(
        f'"label_vocabulary" does not have "n_classes" items. '
        f'len(label_vocabulary)={len(label_vocabulary)}, n_classes='
        f'{n_classes}, label_vocabulary={label_vocabulary}')


def validate_thresholds(thresholds):
  thresholds = tuple(thresholds) if thresholds else ()
  for threshold in thresholds:
    if threshold <= 0.0 or threshold >= 1.0:
      raise ValueError(f'thresholds not in (0, 1): {(thresholds,)}.')
  return thresholds


def check_prediction_keys(pred_keys, valid_keys):
  for key in pred_keys:
    if key not in valid_keys:
      raise ValueError(f'Prediction key must be in PredictionKeys, given: '
                       f'{key}.Valid prediction keys include {valid_keys}.')


# --- tensors in, checked tensors out -----------------------------------------


def _shape_message(expected_labels_dimension):
  return (f'labels shape must be [D0, D1, ... DN, {expected_labels_dimension}]'
          '. Suggested Fix: check your n_classes argument to the head and/or '
          'the shape of your label. Labels and logits must agree on every '
          'dimension but the last: a different first dimension means the '
          'features and labels of the batch differ in batch size')


_EMPTY_BATCH_MESSAGE = (
    'labels are empty: the input_fn gave a batch with no examples. Such a '
    'batch would train a step on nothing, or count as a loss of 0 in '
    'evaluation; do not emit empty batches (e.g. filter them out of the '
    'dataset).')


def _check_static_label_shape(labels, logits, expected_labels_dimension):
  """Raises ValueError for label shape mistakes visible before any step."""
  if labels.shape.rank is None or logits.shape.rank is None:
    return
  if labels.shape.rank != logits.shape.rank:
    raise ValueError(
        f'Labels have shape {labels.shape.as_list()}, but must be [D0, ..., '
        f'DN, {expected_labels_dimension}] like the logits (shape '
        f'{logits.shape.as_list()}), or that without its last dimension: '
        f'e.g. [batch_size, {expected_labels_dimension}] or [batch_size].')
  final_dim = tf.compat.dimension_value(labels.shape[-1])
  if final_dim is not None and final_dim != expected_labels_dimension:
    raise ValueError(
        f'Mismatched label shape. Expected labels dimension='
        f'{expected_labels_dimension}.  Received {final_dim}. Suggested '
        'Fix: If your classifier expects one-hot encoding label, check '
        'your n_classes argument to the estimator and/or the shape of '
        'your label. Otherwise, check the shape of your label.')
  if not labels.shape[:-1].is_compatible_with(logits.shape[:-1]):
    raise ValueError(
        f'The labels shape {tuple(labels.shape)}, batch shape '
        f'{tuple(labels.shape[:-1])}, does not match the logits shape '
        f'{tuple(logits.shape)}: the features and labels of a batch must '
        'have the same batch size (one label row per example).')
  if labels.shape.num_elements() == 0:
    raise ValueError(f'{_EMPTY_BATCH_MESSAGE} Labels shape: '
                     f'{labels.shape.as_list()}.')


def check_dense_labels_match_logits_and_reshape(labels, logits,
                                                expected_labels_dimension):
  """Labels as `[D0, ..., DN, expected_labels_dimension]`, like the logits.

  Labels one rank short of the logits get a trailing dimension of 1. A
  mismatch known statically raises ValueError; otherwise graph assertions
  check the shape, and that the batch is not empty, per batch.
  """
  labels = dense_labels_like_logits(labels, logits, expected_labels_dimension)
  return check_dense_labels_match_logits(labels, logits,
                                         expected_labels_dimension)


def dense_labels_like_logits(labels, logits, expected_labels_dimension):
  """The first half of `check_dense_labels_match_logits_and_reshape`.

  Converts and reshapes the labels and raises for what is wrong statically;
  the result is not yet checked against the logits at run time.
  """
  if labels is None:
    raise ValueError(_LABEL_NONE_ERR_MSG)
  with _v1.name_scope(None, 'labels', (labels, logits)):
    labels = _v1.convert_to_tensor_or_sparse_tensor(labels)
    if isinstance(labels, tf.SparseTensor):
      raise ValueError(
          'SparseTensor labels are not supported. Labels must be a Tensor of '
          f'shape [D0, D1, ..., DN, {expected_labels_dimension}], e.g. '
          f'[batch_size, {expected_labels_dimension}]. In your input_fn, use '
          'tf.sparse.to_dense() to turn labels into a Tensor.')
    if (labels.shape.ndims is not None and logits.shape.ndims is not None and
        labels.shape.ndims == logits.shape.ndims - 1):
      labels = tf.expand_dims(labels, -1)
    _check_static_label_shape(labels, logits, expected_labels_dimension)
    return labels


def check_dense_labels_match_logits(labels, logits, expected_labels_dimension):
  """The second half: `labels`, gated on run-time checks of their shape."""
  with _v1.name_scope(None, 'labels', (labels, logits)) as scope:
    message = _shape_message(expected_labels_dimension)
    assert_rank = _v1.debugging.assert_rank_at_least(labels, 2,
                                                     message=message)
    with tf.control_dependencies([assert_rank]):
      logits_shape = tf.shape(logits)
      expected_shape = tf.concat(
          [logits_shape[:-1], [expected_labels_dimension]], axis=0)
      labels_shape = tf.shape(labels)
      assert_dimension = _v1.debugging.assert_equal(
          expected_shape, labels_shape, message=message,
          data=['expected_labels_shape: ', expected_shape,
                'labels_shape: ', labels_shape])
      assert_not_empty = tf.debugging.Assert(
          tf.size(labels, out_type=tf.int64) > 0,
          [_EMPTY_BATCH_MESSAGE, 'labels_shape: ', labels_shape])
      with tf.control_dependencies([assert_dimension, assert_not_empty]):
        return tf.identity(labels, name=scope)


def get_weights_and_check_match_logits(features, weight_column, logits,
                                       allow_per_logit_weights=False):
  """Example weights from `features`, shaped to broadcast against the loss.

  Returns the float 1. when there is no weight column. Weights one rank short
  of the logits get a trailing dimension of 1.
  """
  if allow_per_logit_weights:
    err_msg = ('weights shape must be [D0, D1, ... DN], [D0, D1, ... DN, 1] '
               'or [D0, D1, ... DN, logits_dimension]')
  else:
    err_msg = 'weights shape must be [D0, D1, ... DN] or [D0, D1, ... DN, 1]'
  if weight_column is None:
    return 1.
  with _v1.name_scope(None, 'weights',
                      tuple((features or {}).values()) + (logits,)) as scope:
    if isinstance(weight_column, str):
      weight_column = tf.feature_column.numeric_column(key=weight_column,
                                                       shape=(1,))
    if not isinstance(weight_column, fc_v2.NumericColumn):
      raise TypeError('Weight column must be either a string or '
                      f'NumericColumn. Given type: {type(weight_column)}.')
    if weight_column.key not in (features or {}):
      raise ValueError(f'Weight column {weight_column.key!r} is not in the '
                       f'features. Given feature keys: '
                       f'{sorted((features or {}).keys())}')
    raw = features[weight_column.key]
    raw_dtype = getattr(raw, 'dtype', None)
    if raw_dtype is not None and not (tf.as_dtype(raw_dtype).is_floating or
                                      tf.as_dtype(raw_dtype).is_integer):
      raise ValueError(f'Weight column {weight_column.key!r} should be '
                       f'castable to float. Given dtype: {raw_dtype}')
    weights = weight_column.get_dense_tensor(
        fc_v2.FeatureTransformationCache(features), None)
    weights = tf.cast(weights, tf.float32, name='weights')
    if tf.executing_eagerly():
      return _eager_weights_like_logits(weights, logits, allow_per_logit_weights,
                                        err_msg)
    weights_shape = tf.shape(weights, name='weights_shape')
    logits_shape = tf.shape(logits, name='logits_shape')
    if (weights.shape.ndims is not None and logits.shape.ndims is not None and
        weights.shape.ndims == logits.shape.ndims - 1):
      assert_dimension = _v1.debugging.assert_equal(
          logits_shape[:-1], weights_shape, message=err_msg,
          data=['logits_shape: ', logits_shape,
                'weights_shape: ', weights_shape])
      with tf.control_dependencies([assert_dimension]):
        return tf.expand_dims(weights, -1, name=scope)
    supported_shape = tf.concat([logits_shape[:-1], [1]], axis=0)
    if allow_per_logit_weights:
      assert_dimension = tf.debugging.Assert(
          tf.reduce_any([
              tf.reduce_all(tf.equal(logits_shape, weights_shape)),
              tf.reduce_all(tf.equal(supported_shape, weights_shape))]),
          data=[err_msg, 'logits_shape: ', logits_shape,
                'weights_shape: ', weights_shape])
    else:
      assert_dimension = _v1.debugging.assert_equal(
          supported_shape, weights_shape, message=err_msg,
          data=['logits_shape: ', logits_shape,
                'weights_shape: ', weights_shape])
    with tf.control_dependencies([assert_dimension]):
      return tf.identity(weights, name=scope)


def _eager_weights_like_logits(weights, logits, allow_per_logit_weights,
                               err_msg):
  """`get_weights_and_check_match_logits` on known shapes: ValueError."""
  weights_shape, logits_shape = tuple(weights.shape), tuple(logits.shape)
  shown = f'{err_msg}, logits_shape: {logits_shape}. weights_shape: {weights_shape}.'
  if len(weights_shape) == len(logits_shape) - 1:
    if weights_shape != logits_shape[:-1]:
      raise ValueError(shown)
    return tf.expand_dims(weights, -1)
  allowed = [logits_shape[:-1] + (1,)]
  if allow_per_logit_weights:
    allowed.append(logits_shape)
  if weights_shape not in allowed:
    raise ValueError(shown)
  return weights


def check_logits_final_dim(logits, expected_logits_dimension):
  """Logits as float32, checked to be `[D0, ..., DN, logits_dimension]`."""
  with _v1.name_scope(None, 'logits', (logits,)) as scope:
    logits = tf.cast(logits, tf.float32)
    message = 'logits shape must be [D0, D1, ... DN, logits_dimension]'
    logits_shape = tf.shape(logits)
    assert_rank = _v1.debugging.assert_rank_at_least(
        logits, 2, data=[logits_shape], message=message)
    with tf.control_dependencies([assert_rank]):
      static = logits.shape
      last = None if static.ndims is None else tf.compat.dimension_value(static[-1])
      if last is not None:
        if (isinstance(expected_logits_dimension, int) and
            last != expected_logits_dimension):
          raise ValueError(f'{message}, got {static}.')
        return logits
      assert_dimension = _v1.debugging.assert_equal(
          expected_logits_dimension, logits_shape[-1], data=[logits_shape],
          message=message)
      with tf.control_dependencies([assert_dimension]):
        return tf.identity(logits, name=scope)


def check_label_range(labels, n_classes, message=None, shown_labels=None,
                      label_vocabulary=None, unchecked=None,
                      words=LABEL_RANGE_WORDS):
  """`labels`, with graph assertions that they lie in `[0, n_classes)`.

  A failure keeps 2.15's wording and adds n_classes and the offending labels
  themselves (not just the first few of the batch); `shown_labels` are the
  labels as the user gave them (e.g. the strings behind vocabulary ids, where
  an unknown string maps to -1), shaped like `labels`. `words` begin the
  messages for too large and for negative labels.

  Labels known while the graph is built (constants) are checked at once, as
  2.15's assertions were folded then: the error names them before any step.

  `unchecked`: the same values as `labels` before their shape check (which
  waits for the logits). The range is then computed from them while the
  model runs, and only a failing batch waits for the shape check, whose
  error comes first.
  """
  shown = labels if shown_labels is None else shown_labels
  values = labels if unchecked is None else unchecked
  with _v1.name_scope(None, 'check_label_range', (labels,)):
    upper = tf.convert_to_tensor(n_classes - 1, dtype=values.dtype)
    if message:
      too_big_message = negative_message = message
    elif tf.executing_eagerly():
      # 2.15's eager wording put the number in: "Labels must be <= 3 - 1".
      too_big_message = words[0].replace('n_classes - 1', f'{n_classes} - 1')
      negative_message = words[1]
    else:
      too_big_message = f'{words[0]} (n_classes={n_classes})'
      negative_message = words[1]
    if label_vocabulary is not None:
      # Unquoted: the assertion would print quotes escaped.
      negative_message += (' (a label not in label_vocabulary maps to -1). '
                           f'label_vocabulary: [{", ".join(label_vocabulary)}]'
                           '; labels not in it')
    static = tf.get_static_value(values)
    if static is not None and tf.get_static_value(shown) is not None:
      _raise_for_static_labels(static, tf.get_static_value(shown), n_classes,
                               too_big_message, negative_message)
      return labels
    negative = values < 0
    if values.dtype.is_floating:  # NaN labels fail with the negative ones
      negative = tf.logical_or(negative, tf.math.is_nan(values))
    too_big = values > upper
    in_range = tf.logical_not(tf.reduce_any(tf.logical_or(too_big, negative)))

    def fail():
      # Only a failing batch pays for gathering the offending labels: in
      # every step this check is a comparison, a reduction and a branch.
      # The branch holds plain Assert ops. `tf.debugging.Assert` would guard
      # each with a branch of its own (its data are not all strings and
      # int32s); with those guards and a `tf.boolean_mask`, this check,
      # built in every graph with labels, took 34 ms and 97 nodes, now 6 ms
      # and 43 (TF 2.21). Flat: labels parsed from Examples may have an
      # unknown rank.
      flat_shown = tf.reshape(shown, [-1])
      asserts = [
          tf.raw_ops.Assert(
              condition=tf.logical_not(tf.reduce_any(bad)),
              data=[text + ':', tf.gather(
                  flat_shown, tf.where(tf.reshape(bad, [-1]))[:, 0])],
              summarize=10)
          for bad, text in ((too_big, too_big_message),
                            (negative, negative_message))]
      with tf.control_dependencies(asserts):
        return tf.identity(labels)

    return tf_internals.cond_v2(in_range, lambda: tf.identity(labels), fail)


def _raise_for_static_labels(values, shown, n_classes, too_big_message,
                             negative_message):
  """An error naming the labels outside `[0, n_classes)`.

  ValueError when running eagerly; InvalidArgumentError for constants in a
  graph, as 2.15's folded assertions raised while the graph was built.
  """
  values = np.asarray(values)
  shown = np.asarray(shown).reshape(values.shape)
  negative = values < 0
  if values.dtype.kind == 'f':
    negative |= np.isnan(values)
  for bad, text in ((values > n_classes - 1, too_big_message),
                    (negative, negative_message)):
    if bad.any():
      raise _value_error(f'{text}: {shown[bad][:10]}')


def _value_error(message):
  """What a failed check of known values raises (see the module docstring)."""
  if tf.executing_eagerly():
    return ValueError(message)
  return tf.errors.InvalidArgumentError(None, None, message)


def call_loss_fn(loss_fn, labels, logits, features, expected_loss_dim=1):
  """Runs a user `loss_fn`; asserts it returns `[D0, ..., DN, dim]`."""
  kwargs = {}
  if 'features' in model_fn_lib.fn_args(loss_fn):
    kwargs['features'] = features
  with _v1.name_scope(None, 'call_loss_fn', [labels, logits]):
    unweighted_loss = loss_fn(labels=labels, logits=logits, **kwargs)
    if tf.executing_eagerly():
      loss_shape = tuple(unweighted_loss.shape)
      expected = tuple(logits.shape[:-1]) + (expected_loss_dim,)
      if loss_shape != expected:
        raise ValueError(f'loss_fn must return Tensor of shape [D0, D1, ... DN, '
                         f'{expected_loss_dim}]. logits_shape: '
                         f'{tuple(logits.shape)} loss_shape: {loss_shape}')
      return unweighted_loss
    logits_shape = tf.shape(logits, name='logits_shape')
    expected_shape = tf.concat([logits_shape[:-1], [expected_loss_dim]],
                               axis=0, name='expected_loss_shape')
    loss_shape = tf.shape(unweighted_loss, name='loss_shape')
    check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(loss_shape, expected_shape)),
        data=[f'loss_fn must return Tensor of shape [D0, D1, ... DN, '
              f'{expected_loss_dim}]. ', 'logits_shape: ', logits_shape,
              'loss_shape: ', loss_shape],
        name='check_loss_shape')
    with tf.control_dependencies([check]):
      return tf.identity(unweighted_loss)


def reduce_weighted_loss(unweighted_loss, weights, loss_reduction):
  """The training loss: per-example losses weighted, then reduced (Keras)."""
  import tf_keras  # pylint: disable=g-import-not-at-top
  return tf_keras.__internal__.losses.compute_weighted_loss(
      unweighted_loss, sample_weight=weights, reduction=loss_reduction)


def add_regularization(training_loss, regularization_losses):
  if regularization_losses is None:
    return training_loss
  return training_loss + tf.math.add_n(regularization_losses)


# --- predictions and exports --------------------------------------------------


def add_class_predictions(predictions, keys, class_logits, n_classes,
                          label_vocabulary, batch_of=None):
  """Adds the keys a single-label classifier derives from per-class logits.

  `class_logits` has one column per class (the binary head passes its
  two-column form), so probabilities and argmax are computed the same way.
  `all_class_ids` and `all_classes` take their batch size from `batch_of`
  (default `class_logits`): the binary head gives its own logits, as 2.15
  did, so an exported graph's rows of class names do not wait for the
  two-column form (a TFLite conversion of it had three more ops).
  """
  rows = class_logits if batch_of is None else batch_of
  if _pred.PROBABILITIES in keys:
    predictions[_pred.PROBABILITIES] = tf.nn.softmax(
        class_logits, name=_pred.PROBABILITIES)
  if _pred.CLASS_IDS in keys or _pred.CLASSES in keys:
    class_ids = tf.expand_dims(
        tf.argmax(class_logits, axis=-1, name=_pred.CLASS_IDS), -1)
    if _pred.CLASS_IDS in keys:
      predictions[_pred.CLASS_IDS] = class_ids
    if _pred.CLASSES in keys:
      predictions[_pred.CLASSES] = class_ids_to_strings(class_ids,
                                                        label_vocabulary)
  if _pred.ALL_CLASS_IDS in keys:
    predictions[_pred.ALL_CLASS_IDS] = all_class_ids(rows, n_classes)
  if _pred.ALL_CLASSES in keys:
    predictions[_pred.ALL_CLASSES] = all_classes(rows, n_classes,
                                                 label_vocabulary)


def all_class_ids(logits, n_classes):
  batch_size = tf.shape(logits)[0]
  return tf.tile(tf.expand_dims(tf.range(n_classes), 0), [batch_size, 1])


def all_classes(logits, n_classes, label_vocabulary=None):
  batch_size = tf.shape(logits)[0]
  if label_vocabulary:
    names = tf.convert_to_tensor([list(label_vocabulary)])
  else:
    names = tf.strings.as_string(tf.expand_dims(tf.range(n_classes), 0))
  return tf.tile(names, [batch_size, 1])


def classification_output(scores, n_classes, label_vocabulary=None):
  return export_output.ClassificationOutput(
      scores=scores, classes=all_classes(scores, n_classes, label_vocabulary))


def class_ids_to_strings(class_ids, label_vocabulary):
  """Class ids as strings: the vocabulary entry, or the id in decimal."""
  if label_vocabulary:
    return label_lookup.strings_from_ids(class_ids, label_vocabulary)
  return tf.strings.as_string(class_ids, name='str_classes')


# --- metrics -----------------------------------------------------------------


def build_metrics(factories):
  """Builds `{key: factory()}`, each metric under a name scope of its own.

  Keras metrics name their variables `total`, `count`... under the current
  name scope; lifted out of the captured graph, same-named variables would
  collide, so every metric gets a distinct scope.
  """
  metrics = {}
  for key, factory in factories:
    with _v1.name_scope(None, re.sub(r'[^A-Za-z0-9_.]', '_', key)):
      metrics[key] = factory()
  return metrics


def update_metric_with_broadcast_weights(eval_metric, values, weights):
  values = tf.cast(values, tf.float32)
  eval_metric.update_state(values=values,
                           sample_weight=broadcast_weights(weights, values))


def broadcast_weights(weights, values):
  """`weights` broadcast to the shape of `values`, as a metric receives them.

  The float 1. of a head without a weight column stays a scalar: a metric
  broadcasts a scalar itself, statically, to the same values, while a
  tensor broadcast here has an unknown batch size, so the metric built two
  run-time shape checks (conds) of its own. A binary head made four such
  pairs; without them linear_ftrl_hashed's first evaluate took 0.66 s
  instead of 0.77 s (paired cold runs, one core).
  """
  if weights is None or isinstance(weights, float):
    return weights
  return tf.__internal__.ops.broadcast_weights(weights, values)


# --- TRAIN mode ---------------------------------------------------------------


def create_estimator_spec_train_op(head_name=None, optimizer=None,
                                   trainable_variables=None, train_op_fn=None,
                                   update_ops=None,
                                   regularized_training_loss=None,
                                   loss_reduction=None):
  """The train op, built under the root `training` name scope.

  The scope makes a Keras optimizer's slots `training/<Opt>/<var>/<slot>`, the
  names 2.15 checkpoints hold.

  The canned models make the global step their optimizer's step counter, as
  2.15's did. A custom model_fn handing the head a Keras optimizer without
  one (TF Privacy's DP heads, TF Lattice's custom-estimator example) left
  2.15's global step at 0: `steps=` never stopped its training and the only
  checkpoint was `model.ckpt-0`. Here the train op also adds one to the
  global step, while the optimizer keeps its own `training/<Opt>/iter`, a
  key 2.15 requires to resume such a model_dir (it failed with "Key
  training/Adam/iter not found" when the global step stood in for it).
  """
  del head_name, loss_reduction  # One replica: nothing to rescale.
  validate_update_ops(update_ops)
  with _v1.name_scope(''), _v1.name_scope('training'):
    if optimizer is not None:
      if train_op_fn is not None:
        raise ValueError('train_op_fn and optimizer cannot both be set.')
      validate_v2_optimizer(optimizer)
      validate_trainable_variables(trainable_variables)
      counts_no_steps = getattr(optimizer, '_iterations', 0) is None
      train_op = optimizer.get_updates(regularized_training_loss,
                                       list(trainable_variables))[0]
      if counts_no_steps:
        with tf.control_dependencies([train_op]):
          train_op = _v1.assign_add(_v1.train.get_or_create_global_step(),
                                    1).op
    elif train_op_fn is not None:
      train_op = train_op_fn(regularized_training_loss)
    else:
      raise ValueError('train_op_fn and optimizer cannot both be None.')
    if update_ops is not None:
      train_op = tf.group(train_op, *update_ops)
    return train_op


def create_estimator_spec_summary(regularized_training_loss,
                                  regularization_losses=None,
                                  summary_key_fn=None):
  """TRAIN-mode scalar summaries: the loss and the regularization loss."""
  keys = metric_keys.MetricKeys
  key_fn = summary_key_fn or (lambda key: key)
  with _v1.name_scope(''):
    _v1.summary.scalar(key_fn(keys.LOSS), regularized_training_loss)
    if regularization_losses is not None:
      _v1.summary.scalar(key_fn(keys.LOSS_REGULARIZATION),
                         tf.math.add_n(regularization_losses))


def create_eval_metrics_tuple(fn, kwargs):
  """`(metric_fn, tensors)` for `TPUEstimatorSpec.eval_metrics` from `fn(**kwargs)`.

  A TPUEstimatorSpec's metric_fn may take Tensors only; the other arguments
  of `fn` are bound into the returned function.

  Args:
    fn: Returns a dict of metric name -> `(value, update_op)`.
    kwargs: All of `fn`'s arguments, Tensors and others.

  Returns:
    `(metric_fn, tensor_kwargs)`.
  """
  tensors = {k: v for k, v in kwargs.items() if tf.is_tensor(v)}
  bound = {k: v for k, v in kwargs.items() if k not in tensors}
  return (lambda **given: fn(**bound, **given)), tensors
