"""`MultiClassHead`: `n_classes` logits, softmax cross-entropy loss."""

import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned import prediction_keys
from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.canned.head import label_lookup

_v1 = tf.compat.v1
_keys = metric_keys.MetricKeys
_pred = prediction_keys.PredictionKeys


class MultiClassHead(base_head.SingleHead):
  """Head for single-label classification over `n_classes` (> 2) classes.

  Labels are integer class ids in `[0, n_classes)` of shape `[D0, ..., DN]`
  or `[D0, ..., DN, 1]`, or strings from `label_vocabulary`.
  """

  def __init__(self, n_classes, weight_column=None, label_vocabulary=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               loss_fn=None, name=None):
    if n_classes is None:
      raise ValueError('n_classes cannot be None')
    base_head.validate_label_vocabulary(label_vocabulary, n_classes)
    self._init_loss_config(loss_reduction, loss_fn, name)
    self._n_classes = base_head.validate_n_classes(n_classes)
    self._weight_column = weight_column
    self._label_vocabulary = label_vocabulary

  @property
  def logits_dimension(self):
    return self._n_classes

  def _processed_labels(self, logits, labels):
    unchecked = base_head.dense_labels_like_logits(labels, logits, 1)
    labels = base_head.check_dense_labels_match_logits(unchecked, logits, 1)
    if self._label_vocabulary is None:
      if not labels.dtype.is_integer:
        raise ValueError(f'Labels dtype should be integer. Instead got '
                         f'{labels.dtype}.')
      return base_head.check_label_range(
          labels, self._n_classes, unchecked=unchecked,
          words=self._label_range_words)
    if labels.dtype != tf.string:
      raise ValueError('Labels dtype should be string if there is a '
                       f'vocabulary. Instead got {labels.dtype}')
    label_ids = label_lookup.ids_from_strings(labels, self._label_vocabulary)
    return base_head.check_label_range(
        label_ids, self._n_classes, shown_labels=labels,
        label_vocabulary=self._label_vocabulary,
        words=self._label_range_words)

  def _unweighted_loss_and_weights(self, logits, label_ids, features):
    if self._loss_fn:
      unweighted_loss = base_head.call_loss_fn(
          loss_fn=self._loss_fn, labels=label_ids, logits=logits,
          features=features, expected_loss_dim=1)
    else:
      unweighted_loss = tf.expand_dims(
          _v1.losses.sparse_softmax_cross_entropy(
              labels=label_ids, logits=logits,
              reduction=_v1.losses.Reduction.NONE), axis=-1)
    weights = base_head.get_weights_and_check_match_logits(
        features=features, weight_column=self._weight_column, logits=logits)
    return unweighted_loss, weights


  def predictions(self, logits, keys=None):
    valid_keys = [_pred.LOGITS, _pred.PROBABILITIES, _pred.CLASS_IDS,
                  _pred.CLASSES, _pred.ALL_CLASS_IDS, _pred.ALL_CLASSES]
    if keys:
      base_head.check_prediction_keys(keys, valid_keys)
    else:
      keys = valid_keys
    logits = base_head.check_logits_final_dim(logits, self._n_classes)
    predictions = {}
    with _v1.name_scope('predictions'):
      if _pred.LOGITS in keys:
        predictions[_pred.LOGITS] = logits
      base_head.add_class_predictions(predictions, keys, logits,
                                      self._n_classes, self._label_vocabulary)
    return predictions

  def metrics(self, regularization_losses=None):
    key = self._summary_key
    m = tf_keras.metrics
    factories = [(key(_keys.LOSS_MEAN), lambda: m.Mean(name=_keys.LOSS_MEAN))]
    if regularization_losses is not None:
      factories.append((key(_keys.LOSS_REGULARIZATION),
                        lambda: m.Mean(name=_keys.LOSS_REGULARIZATION)))
    factories.append((key(_keys.ACCURACY),
                      lambda: m.Accuracy(name=_keys.ACCURACY)))
    with _v1.name_scope('metrics'):
      return base_head.build_metrics(factories)

  def update_metrics(self, eval_metrics, features, logits, labels,
                     regularization_losses=None):
    key = self._summary_key
    class_ids = self.predictions(logits, [_pred.CLASS_IDS])[_pred.CLASS_IDS]
    logits, label_ids, unweighted_loss, weights = (
        self._labels_and_unweighted_loss(logits, labels, features))
    eval_metrics[key(_keys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    eval_metrics[key(_keys.ACCURACY)].update_state(
        y_true=label_ids, y_pred=class_ids, sample_weight=weights)
    if regularization_losses is not None:
      eval_metrics[key(_keys.LOSS_REGULARIZATION)].update_state(
          values=tf.math.add_n(regularization_losses))
    return eval_metrics

  def _export_outputs(self, predictions):
    classifier_output = base_head.classification_output(
        scores=predictions[_pred.PROBABILITIES], n_classes=self._n_classes,
        label_vocabulary=self._label_vocabulary)
    return {
        base_head.DEFAULT_SERVING_KEY: classifier_output,
        base_head.CLASSIFY_SERVING_KEY: classifier_output,
        base_head.PREDICT_SERVING_KEY: base_head.export_output.PredictOutput(
            predictions),
    }
