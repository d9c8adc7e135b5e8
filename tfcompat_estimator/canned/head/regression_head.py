"""Regression heads: squared error, Poisson and logistic regression."""

import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned import prediction_keys
from tfcompat_estimator.canned.head import base_head

_v1 = tf.compat.v1
_keys = metric_keys.MetricKeys
_pred = prediction_keys.PredictionKeys


class RegressionHead(base_head.SingleHead):
  """Head for regression of `label_dimension` real values per example.

  The default loss is the squared error of the logits. With
  `inverse_link_fn`, predictions are `inverse_link_fn(logits)` and the logits
  are returned as well.
  """

  def __init__(self, label_dimension=1, weight_column=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               loss_fn=None, inverse_link_fn=None, name=None):
    if label_dimension < 1:
      raise ValueError(f'Invalid label_dimension {label_dimension}.')
    self._init_loss_config(loss_reduction, loss_fn, name)
    self._logits_dimension = label_dimension
    self._weight_column = weight_column
    self._inverse_link_fn = inverse_link_fn

  @property
  def logits_dimension(self):
    return self._logits_dimension

  def _processed_labels(self, logits, labels):
    labels = base_head.check_dense_labels_match_logits_and_reshape(
        labels=labels, logits=logits,
        expected_labels_dimension=self._logits_dimension)
    if not (labels.dtype.is_floating or labels.dtype.is_integer or
            labels.dtype.is_bool):
      raise ValueError(f'Regression labels must be numeric. Instead got '
                       f'{labels.dtype}.')
    return tf.cast(labels, tf.float32)

  def _unweighted_loss_and_weights(self, logits, labels, features):
    if self._loss_fn:
      unweighted_loss = base_head.call_loss_fn(
          loss_fn=self._loss_fn, labels=labels, logits=logits,
          features=features, expected_loss_dim=self._logits_dimension)
    else:
      unweighted_loss = _v1.losses.mean_squared_error(
          labels=labels, predictions=logits,
          reduction=_v1.losses.Reduction.NONE)
    weights = base_head.get_weights_and_check_match_logits(
        features=features, weight_column=self._weight_column, logits=logits,
        allow_per_logit_weights=True)
    return unweighted_loss, weights


  def predictions(self, logits, keys=None):
    del keys  # Regression heads always return all their predictions.
    logits = base_head.check_logits_final_dim(logits, self._logits_dimension)
    with _v1.name_scope('predictions'):
      if self._inverse_link_fn:
        return {_pred.PREDICTIONS: self._inverse_link_fn(logits),
                _pred.LOGITS: logits}
      return {_pred.PREDICTIONS: logits}

  def metrics(self, regularization_losses=None):
    key = self._summary_key
    m = tf_keras.metrics
    factories = [
        (key(_keys.LOSS_MEAN), lambda: m.Mean(name=_keys.LOSS_MEAN)),
        (key(_keys.PREDICTION_MEAN),
         lambda: m.Mean(name=_keys.PREDICTION_MEAN)),
        (key(_keys.LABEL_MEAN), lambda: m.Mean(name=_keys.LABEL_MEAN)),
    ]
    if regularization_losses is not None:
      factories.append((key(_keys.LOSS_REGULARIZATION),
                        lambda: m.Mean(name=_keys.LOSS_REGULARIZATION)))
    with _v1.name_scope('metrics'):
      return base_head.build_metrics(factories)

  def update_metrics(self, eval_metrics, features, logits, labels,
                     regularization_losses=None):
    key = self._summary_key
    predicted_value = self.predictions(logits)[_pred.PREDICTIONS]
    logits, _, unweighted_loss, weights = self._labels_and_unweighted_loss(
        logits, labels, features)
    eval_metrics[key(_keys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    # 2.15 averages the labels as given (not reshaped), weighted the same way.
    eval_metrics[key(_keys.LABEL_MEAN)].update_state(
        values=tf.cast(labels, tf.float32), sample_weight=weights)
    base_head.update_metric_with_broadcast_weights(
        eval_metrics[key(_keys.PREDICTION_MEAN)], predicted_value, weights)
    if regularization_losses is not None:
      eval_metrics[key(_keys.LOSS_REGULARIZATION)].update_state(
          values=tf.math.add_n(regularization_losses))
    return eval_metrics

  def _export_outputs(self, predictions):
    regression_output = base_head.export_output.RegressionOutput(
        value=predictions[_pred.PREDICTIONS])
    return {
        base_head.DEFAULT_SERVING_KEY: regression_output,
        base_head.REGRESS_SERVING_KEY: regression_output,
        base_head.PREDICT_SERVING_KEY: base_head.export_output.PredictOutput(
            predictions),
    }


class PoissonRegressionHead(RegressionHead):
  """Regression of counts: log-Poisson loss on logits, predicts exp(logits).

  `compute_full_loss` adds the Stirling approximation term of log(labels!).
  """

  def __init__(self, label_dimension=1, weight_column=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               compute_full_loss=True, name=None):
    self._compute_full_loss = compute_full_loss
    super().__init__(
        label_dimension=label_dimension, weight_column=weight_column,
        loss_reduction=loss_reduction, loss_fn=self._poisson_loss,
        inverse_link_fn=tf.math.exp, name=name)

  def _poisson_loss(self, labels, logits):
    return tf.nn.log_poisson_loss(targets=labels, log_input=logits,
                                  compute_full_loss=self._compute_full_loss)


class LogisticRegressionHead(RegressionHead):
  """Regression of a value in [0, 1]: sigmoid cross-entropy on one logit."""

  def __init__(self, weight_column=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               name=None):
    super().__init__(
        label_dimension=1, weight_column=weight_column,
        loss_reduction=loss_reduction, loss_fn=self._logistic_loss,
        inverse_link_fn=tf.math.sigmoid, name=name)

  def _logistic_loss(self, labels, logits):
    labels = base_head.check_label_range(
        labels, n_classes=2, message='Labels must be in range [0, 1]')
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                   logits=logits)
