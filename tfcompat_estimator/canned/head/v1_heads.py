"""The heads the v1 canned estimators (`tf.compat.v1.estimator.*`) build.

They predict and export exactly like the v2 heads, but keep 2.15's v1
behaviour elsewhere: `tf.compat.v1.losses` reductions (default SUM), streaming
`tf.compat.v1.metrics`, a v1 optimizer's `minimize` (or `train_op_fn`) with the
`UPDATE_OPS` collection appended, and an `average_loss` train summary.

`install()` serves this module as 2.15's `canned/head.py`, so it also carries
that module's private names which v1 code subclasses and calls: the `_Head`
interface and the `_regression_head`, `_binary_logistic_head_with_sigmoid_...`
and `_multi_class_head_with_softmax_...` factories.
"""

import collections

import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned import prediction_keys
from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.canned.head import binary_class_head
from tfcompat_estimator.canned.head import multi_class_head
from tfcompat_estimator.canned.head import regression_head
from tfcompat_estimator.model_fn import ModeKeys

_v1 = tf.compat.v1
_keys = metric_keys.MetricKeys
_pred = prediction_keys.PredictionKeys

LossSpec = collections.namedtuple(
    'LossSpec', ['training_loss', 'unreduced_loss', 'weights',
                 'processed_labels'])


def _validate_v1_loss_reduction(loss_reduction):
  if (loss_reduction not in _v1.losses.Reduction.all() or
      loss_reduction == _v1.losses.Reduction.NONE):
    raise ValueError(f'Invalid loss_reduction: {loss_reduction}')


class _Head:
  """2.15's v1 head interface: what a v1 model_fn hands its logits to.

  A subclass has `name`, `logits_dimension` and `create_loss(features, mode,
  logits, labels)` (returning a `LossSpec`), and implements either
  `create_estimator_spec` or `_create_tpu_estimator_spec`; the default
  `create_estimator_spec` converts the latter's `_TPUEstimatorSpec`. `name` and
  `logits_dimension` are not declared here so that they do not shadow the v2
  heads' properties in the `_V1Head` mixins below.
  """

  _IS_V1_HEAD = True  # not a `tf.estimator.Head`, as in 2.15 (base_head)

  def create_loss(self, features, mode, logits, labels):
    raise NotImplementedError('Calling an abstract method.')

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, train_op_fn=None,
                            regularization_losses=None):
    """The `EstimatorSpec` of `_create_tpu_estimator_spec`."""
    return base_head.spec_from_tpu_spec(
        self, '_Head', features, mode, logits, labels, optimizer, train_op_fn,
        regularization_losses)

  def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                 optimizer=None, train_op_fn=None,
                                 regularization_losses=None):
    raise NotImplementedError(
        'TPUEstimatorSpec not available for this model head.')


class _V1Head(_Head):
  """Shared v1 behaviour; mixed in before a v2 head class.

  The v2 class supplies label processing, the unreduced loss, predictions and
  export outputs; subclasses add `_eval_metric_ops(predictions, loss_spec,
  labels)`.
  """

  _label_range_words = ('Labels must <= n_classes - 1',  # 2.15's v1 wording
                        'Labels must >= 0')

  def __init__(self, loss_reduction, **kwargs):
    # Not validated here: as in 2.15, the factories below refuse NONE, the
    # classes take it (TF Privacy's v1 DP heads reduce per example).
    # The v2 constructor checks v2 reductions; hand it one, then keep ours.
    super().__init__(loss_reduction=tf.losses.Reduction.SUM, **kwargs)
    self._loss_reduction = loss_reduction

  def create_loss(self, features, mode, logits, labels):
    """`LossSpec` of the reduced loss, per-example loss, weights and labels."""
    del mode
    logits = base_head.check_logits_final_dim(logits, self.logits_dimension)
    labels = self._processed_labels(logits, labels)
    unweighted_loss, weights = self._unweighted_loss_and_weights(
        logits, labels, features)
    training_loss = _v1.losses.compute_weighted_loss(
        unweighted_loss, weights=weights, reduction=self._loss_reduction)
    return LossSpec(training_loss, unweighted_loss, weights, labels)

  def loss(self, labels, logits, features=None, mode=None,
           regularization_losses=None):
    training_loss = self.create_loss(features, mode, logits,
                                     labels).training_loss
    if regularization_losses:
      return tf.math.add_n([training_loss] + list(regularization_losses))
    return training_loss

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, train_op_fn=None,
                            regularization_losses=None,
                            trainable_variables=None, update_ops=None):
    """The spec of `_create_tpu_estimator_spec`, converted, as in 2.15.

    Subclasses override that method (TF Privacy's v1 DP heads). `optimizer`
    is a `tf.compat.v1.train` optimizer; `update_ops` join the train op.
    """
    del trainable_variables  # v1 optimizers minimize the trainable collection.
    spec = super().create_estimator_spec(features, mode, logits, labels,
                                         optimizer, train_op_fn,
                                         regularization_losses)
    if update_ops and spec.train_op is not None:
      spec = spec._replace(train_op=tf.group(spec.train_op, *update_ops))
    return spec

  def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                 optimizer=None, train_op_fn=None,
                                 regularization_losses=None):
    tpu_spec = model_fn_lib._TPUEstimatorSpec  # pylint: disable=protected-access
    with _v1.name_scope(self.name, 'head'):
      predictions = self.predictions(logits)
      if mode == ModeKeys.PREDICT:
        return tpu_spec(mode=ModeKeys.PREDICT, predictions=predictions,
                        export_outputs=self._export_outputs(predictions))
      loss_spec = self.create_loss(features, mode, logits, labels)
      regularization_loss = (tf.math.add_n(regularization_losses)
                             if regularization_losses else None)
      loss = loss_spec.training_loss
      if regularization_loss is not None:
        loss = tf.math.add_n([loss, regularization_loss])
      if mode == ModeKeys.EVAL:
        return tpu_spec(
            mode=ModeKeys.EVAL, predictions=predictions, loss=loss,
            eval_metrics=base_head.create_eval_metrics_tuple(
                self._eval_metric_ops, dict(
                    self._metric_inputs(predictions, loss_spec, labels),
                    weights=loss_spec.weights,
                    unreduced_loss=loss_spec.unreduced_loss,
                    regularization_loss=regularization_loss)))
      if mode != ModeKeys.TRAIN:
        raise ValueError(f'mode={mode} unrecognized.')
      if optimizer is not None:
        if train_op_fn is not None:
          raise ValueError('train_op_fn and optimizer cannot both be set.')
        train_op = optimizer.minimize(
            loss, global_step=_v1.train.get_global_step())
      elif train_op_fn is not None:
        train_op = train_op_fn(loss)
      else:
        raise ValueError('train_op_fn and optimizer cannot both be None.')
      train_op = _append_update_ops(train_op)
      mean_loss = None
      if self._loss_reduction == _v1.losses.Reduction.SUM:
        mean_loss = loss_spec.training_loss / tf.reduce_sum(
            loss_spec.weights * tf.ones_like(loss_spec.unreduced_loss))
    with _v1.name_scope(''):
      _v1.summary.scalar(self._summary_key(_keys.LOSS), loss)
      if mean_loss is not None:
        _v1.summary.scalar(self._summary_key(_keys.LOSS_MEAN), mean_loss)
      if regularization_loss is not None:
        _v1.summary.scalar(self._summary_key(_keys.LOSS_REGULARIZATION),
                           regularization_loss)
    return tpu_spec(mode=ModeKeys.TRAIN, predictions=predictions, loss=loss,
                    train_op=train_op)

  def _regularization_metric(self, metric_ops, regularization_loss):
    if regularization_loss is not None:
      metric_ops[self._summary_key(_keys.LOSS_REGULARIZATION)] = (
          _v1.metrics.mean(regularization_loss,
                           name=_keys.LOSS_REGULARIZATION))
    return metric_ops


def _broadcast(weights, values):
  return tf.__internal__.ops.broadcast_weights(weights, values)


def _weighted_mean(values, weights, name):
  values = tf.cast(values, tf.float32)
  return _v1.metrics.mean(values, weights=_broadcast(weights, values),
                          name=name)


class BinaryClassHeadV1(_V1Head, binary_class_head.BinaryClassHead):
  """2.15's v1 binary logistic head (sigmoid cross-entropy)."""

  def __init__(self, weight_column=None, thresholds=None,
               label_vocabulary=None,
               loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None,
               name=None):
    super().__init__(loss_reduction, weight_column=weight_column,
                     thresholds=thresholds, label_vocabulary=label_vocabulary,
                     loss_fn=loss_fn, name=name)

  def _metric_inputs(self, predictions, loss_spec, labels):
    """`_eval_metric_ops`' arguments but weights and losses (2.15's)."""
    del labels
    return dict(labels=loss_spec.processed_labels,
                logits=predictions[_pred.LOGITS],
                logistic=predictions[_pred.LOGISTIC],
                class_ids=predictions[_pred.CLASS_IDS])

  def _eval_metric_ops(self, labels, logits, logistic, class_ids, weights,
                       unreduced_loss, regularization_loss):
    """2.15's metrics, and its signature (TF Privacy's DP heads call it)."""
    del logits
    with _v1.name_scope(None, 'metrics'):
      return self._regularization_metric(self._binary_metric_ops(
          labels, logistic, class_ids, weights, unreduced_loss),
                                         regularization_loss)

  def _binary_metric_ops(self, labels, logistic, class_ids, weights,
                         unreduced_loss):
    key = self._summary_key
    label_mean = _weighted_mean(labels, weights, _keys.LABEL_MEAN)
    mean_value, mean_update = label_mean
    ops = {
        key(_keys.LOSS_MEAN): _v1.metrics.mean(
            unreduced_loss, weights=weights, name=_keys.LOSS_MEAN),
        key(_keys.ACCURACY): _v1.metrics.accuracy(
            labels, class_ids, weights=weights, name=_keys.ACCURACY),
        key(_keys.PRECISION): _v1.metrics.precision(
            labels, class_ids, weights=weights, name=_keys.PRECISION),
        key(_keys.RECALL): _v1.metrics.recall(
            labels, class_ids, weights=weights, name=_keys.RECALL),
        key(_keys.PREDICTION_MEAN): _weighted_mean(
            logistic, weights, _keys.PREDICTION_MEAN),
        key(_keys.LABEL_MEAN): label_mean,
        key(_keys.ACCURACY_BASELINE): _accuracy_baseline(mean_value,
                                                         mean_update),
        key(_keys.AUC): _v1.metrics.auc(
            labels, logistic, weights=_broadcast(weights, logistic),
            name=_keys.AUC),
        key(_keys.AUC_PR): _v1.metrics.auc(
            labels, logistic, weights=_broadcast(weights, logistic),
            curve='PR', name=_keys.AUC_PR),
    }
    for threshold in self._thresholds:
      acc_key, prec_key, rec_key = self._threshold_keys(threshold)
      ops[acc_key] = _v1.metrics.accuracy(
          labels, tf.cast(logistic >= threshold, tf.float32),
          weights=weights, name=_keys.ACCURACY_AT_THRESHOLD % threshold)
      for metric_key, metric_fn, name in (
          (prec_key, _v1.metrics.precision_at_thresholds,
           _keys.PRECISION_AT_THRESHOLD % threshold),
          (rec_key, _v1.metrics.recall_at_thresholds,
           _keys.RECALL_AT_THRESHOLD % threshold)):
        value, update = metric_fn(labels, logistic, thresholds=(threshold,),
                                  weights=weights, name=name)
        ops[metric_key] = (tf.squeeze(value), tf.squeeze(update))
    return ops


def _accuracy_baseline(mean_value, mean_update):
  """The accuracy of always predicting the more frequent class.

  Named as 2.15 named it ('.../accuracy_baseline/value:0'): an EVAL
  SavedModel's signature names these tensors.
  """
  with _v1.name_scope(None, 'accuracy_baseline'):
    return (tf.maximum(mean_value, 1. - mean_value, name='value'),
            tf.maximum(mean_update, 1. - mean_update, name='update_op'))


class MultiClassHeadV1(_V1Head, multi_class_head.MultiClassHead):
  """2.15's v1 multi-class head (softmax cross-entropy)."""

  def __init__(self, n_classes, weight_column=None, label_vocabulary=None,
               loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None,
               name=None):
    super().__init__(loss_reduction, n_classes=n_classes,
                     weight_column=weight_column,
                     label_vocabulary=label_vocabulary, loss_fn=loss_fn,
                     name=name)

  def _metric_inputs(self, predictions, loss_spec, labels):
    """`_eval_metric_ops`' arguments but weights and losses (2.15's)."""
    del labels
    return dict(labels=loss_spec.processed_labels,
                class_ids=predictions[_pred.CLASS_IDS])

  def _eval_metric_ops(self, labels, class_ids, weights, unreduced_loss,
                       regularization_loss):
    """2.15's metrics, and its signature (TF Privacy's DP heads call it)."""
    key = self._summary_key
    with _v1.name_scope(None, 'metrics'):
      return self._regularization_metric({
          key(_keys.LOSS_MEAN): _v1.metrics.mean(
              unreduced_loss, weights=weights, name=_keys.LOSS_MEAN),
          key(_keys.ACCURACY): _v1.metrics.accuracy(
              labels, class_ids, weights=weights, name=_keys.ACCURACY),
      }, regularization_loss)


class RegressionHeadV1(_V1Head, regression_head.RegressionHead):
  """2.15's v1 regression head (squared error by default)."""

  def __init__(self, weight_column=None, label_dimension=1,
               loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None,
               inverse_link_fn=None, name=None):
    super().__init__(loss_reduction, label_dimension=label_dimension,
                     weight_column=weight_column, loss_fn=loss_fn,
                     inverse_link_fn=inverse_link_fn, name=name)

  def _metric_inputs(self, predictions, loss_spec, labels):
    """`_eval_metric_ops`' arguments but weights and losses (2.15's)."""
    del loss_spec
    # As in 2.15: the labels as given, not reshaped.
    return dict(predicted_value=predictions[_pred.PREDICTIONS], labels=labels)

  def _eval_metric_ops(self, predicted_value, labels, weights, unreduced_loss,
                       regularization_loss):
    """2.15's metrics, and its signature."""
    key = self._summary_key
    # Unlike the classification heads', under the caller's name scope: the
    # metric ops' names (and an EVAL SavedModel's signature outputs) are
    # 'linear/mean/value:0', not 'linear/metrics/mean/value:0', in 2.15.
    return self._regularization_metric({
        key(_keys.LOSS_MEAN): _v1.metrics.mean(unreduced_loss,
                                               weights=weights),
        key(_keys.PREDICTION_MEAN): _weighted_mean(
            predicted_value, weights, _keys.PREDICTION_MEAN),
        key(_keys.LABEL_MEAN): _v1.metrics.mean(
            tf.cast(labels, tf.float32), weights=weights),
    }, regularization_loss)


def binary_logistic_or_multi_class_head(n_classes, weight_column,
                                        label_vocabulary, loss_reduction):
  """The head a v1 canned classifier builds for `n_classes`."""
  _validate_v1_loss_reduction(loss_reduction)
  if n_classes == 2:
    return BinaryClassHeadV1(weight_column=weight_column,
                             label_vocabulary=label_vocabulary,
                             loss_reduction=loss_reduction)
  return MultiClassHeadV1(n_classes, weight_column=weight_column,
                          label_vocabulary=label_vocabulary,
                          loss_reduction=loss_reduction)


def regression_head_v1(weight_column=None, label_dimension=1,
                       loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None,
                       inverse_link_fn=None, name=None):
  """The head a v1 canned regressor builds."""
  _validate_v1_loss_reduction(loss_reduction)
  return RegressionHeadV1(weight_column=weight_column,
                          label_dimension=label_dimension,
                          loss_reduction=loss_reduction, loss_fn=loss_fn,
                          inverse_link_fn=inverse_link_fn, name=name)


# 2.15's private factories of `canned/head.py`, which v1 code calls directly.


def _binary_logistic_head_with_sigmoid_cross_entropy_loss(
    weight_column=None, thresholds=None, label_vocabulary=None,
    loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None, name=None):
  """A v1 binary classification `_Head` (sigmoid cross-entropy)."""
  _validate_v1_loss_reduction(loss_reduction)
  return BinaryClassHeadV1(weight_column=weight_column, thresholds=thresholds,
                           label_vocabulary=label_vocabulary,
                           loss_reduction=loss_reduction, loss_fn=loss_fn,
                           name=name)


def _multi_class_head_with_softmax_cross_entropy_loss(
    n_classes, weight_column=None, label_vocabulary=None,
    loss_reduction=_v1.losses.Reduction.SUM, loss_fn=None, name=None):
  """A v1 multi-class `_Head` (softmax cross-entropy) for `n_classes` > 2."""
  if n_classes is None:
    raise ValueError('n_classes cannot be None')
  _validate_v1_loss_reduction(loss_reduction)
  return MultiClassHeadV1(n_classes, weight_column=weight_column,
                          label_vocabulary=label_vocabulary,
                          loss_reduction=loss_reduction, loss_fn=loss_fn,
                          name=name)


_regression_head = regression_head_v1
_binary_logistic_or_multi_class_head = binary_logistic_or_multi_class_head

# More of 2.15's private names, which libraries subclass or call (TF
# Privacy's v1 DP heads import all of them).
_BinaryLogisticHeadWithSigmoidCrossEntropyLoss = BinaryClassHeadV1
_MultiClassHeadWithSoftmaxCrossEntropyLoss = MultiClassHeadV1
_DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_CLASSIFY_SERVING_KEY = 'classification'
_REGRESS_SERVING_KEY = 'regression'
_PREDICT_SERVING_KEY = 'predict'
_all_class_ids = base_head.all_class_ids
_all_classes = base_head.all_classes
_check_logits_final_dim = base_head.check_logits_final_dim
_classification_output = base_head.classification_output
_create_eval_metrics_tuple = base_head.create_eval_metrics_tuple
_validate_loss_fn_args = base_head.validate_loss_fn_args


def _summary_key(head_name, val):
  """A summary's key under a named head: 'loss/head' (2.15's order)."""
  return f'{val}/{head_name}' if head_name else val


def _append_update_ops(train_op):
  """`train_op`, grouped with the UPDATE_OPS collection if it has any."""
  update_ops = _v1.get_collection(_v1.GraphKeys.UPDATE_OPS)
  return tf.group(train_op, *update_ops) if update_ops else train_op
