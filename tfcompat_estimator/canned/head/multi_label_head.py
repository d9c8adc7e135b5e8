"""`MultiLabelHead`: any subset of `n_classes` labels per example."""

import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned import prediction_keys
from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.canned.head import label_lookup

_v1 = tf.compat.v1
_keys = metric_keys.MetricKeys
_pred = prediction_keys.PredictionKeys


class MultiLabelHead(base_head.SingleHead):
  """Head for multi-label classification: one sigmoid per class.

  Labels are a dense 0/1 indicator `[D0, ..., DN, n_classes]`, or a
  SparseTensor of class ids (integers, or strings from `label_vocabulary`).
  The loss of an example is its sigmoid cross-entropy averaged over classes.
  `classes_for_class_based_metrics` (ids, or vocabulary strings) add
  per-class probability mean and AUC metrics.
  """

  def __init__(self, n_classes, weight_column=None, thresholds=None,
               label_vocabulary=None,
               loss_reduction=tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
               loss_fn=None, classes_for_class_based_metrics=None, name=None):
    if n_classes is None or n_classes < 2:
      raise ValueError('n_classes must be > 1 for multi-label '
                       f'classification. Given: {n_classes}')
    thresholds = tuple(thresholds) if thresholds else ()
    for threshold in thresholds:
      if threshold <= 0.0 or threshold >= 1.0:
        raise ValueError(f'thresholds must be in (0, 1) range. Given: '
                         f'{threshold}')
    if label_vocabulary is not None:
      if not isinstance(label_vocabulary, (list, tuple)):
        raise ValueError('label_vocabulary must be a list or tuple. Given '
                         f'type: {type(label_vocabulary)}')
      if len(label_vocabulary) != n_classes:
        raise ValueError(f'Length of label_vocabulary must be n_classes '
                         f'({n_classes}). Given: {len(label_vocabulary)}')
    if loss_fn:
      base_head.validate_loss_fn_args(loss_fn)
    base_head.validate_loss_reduction(loss_reduction)
    self._n_classes = n_classes
    self._weight_column = weight_column
    self._thresholds = thresholds
    self._label_vocabulary = label_vocabulary
    self._loss_reduction = loss_reduction
    self._loss_fn = loss_fn
    self._classes_for_class_based_metrics = self._class_ids_for_metrics(
        classes_for_class_based_metrics)
    self._name = name

  def _class_ids_for_metrics(self, classes):
    if not classes:
      return ()
    classes = tuple(classes)
    if isinstance(classes[0], str):
      if not self._label_vocabulary:
        raise ValueError('label_vocabulary must be provided when '
                         'classes_for_class_based_metrics are strings.')
      unknown = [c for c in classes if c not in self._label_vocabulary]
      if unknown:
        raise ValueError(f'classes_for_class_based_metrics {unknown} are not '
                         f'in label_vocabulary {self._label_vocabulary}.')
      return tuple(self._label_vocabulary.index(c) for c in classes)
    for class_id in classes:
      if class_id < 0 or class_id >= self._n_classes:
        raise ValueError('All classes_for_class_based_metrics must be in '
                         f'range [0, {self._n_classes - 1}]. Given: '
                         f'{class_id}')
    return classes

  @property
  def logits_dimension(self):
    return self._n_classes

  def _processed_labels(self, logits, labels):
    """Labels as an int64 0/1 indicator `[D0, ..., DN, n_classes]`."""
    if labels is None:
      raise ValueError(base_head._LABEL_NONE_ERR_MSG)  # pylint: disable=protected-access
    if isinstance(labels, tf.SparseTensor):
      if labels.dtype == tf.string:
        if self._label_vocabulary is None:
          raise ValueError('String SparseTensor labels need a '
                           'label_vocabulary.')
        ids = label_lookup.ids_from_strings(labels.values,
                                            self._label_vocabulary)
        ids = base_head.check_label_range(
            ids, self._n_classes, shown_labels=labels.values,
            message=f'labels must be strings of label_vocabulary '
            f'{list(self._label_vocabulary)}')
      else:
        if not labels.values.dtype.is_integer:
          raise ValueError(f'Labels dtype should be integer. Instead got '
                           f'{labels.values.dtype}.')
        ids = base_head.check_label_range(
            labels.values, self._n_classes,
            message=f'labels must be an integer SparseTensor with values in '
            f'[0, {self._n_classes})')
      ids = tf.SparseTensor(labels.indices, ids, labels.dense_shape)
      indicator = tf.cast(tf.sparse.to_indicator(ids, self._n_classes),
                          tf.int64)
    else:
      labels = tf.convert_to_tensor(labels)
      if labels.dtype == tf.string:
        raise ValueError('Dense labels must be an integer 0/1 indicator of '
                         'shape [batch_size, n_classes]; pass string class '
                         'names as a SparseTensor.')
      indicator = base_head.check_label_range(
          labels, 2,
          message='labels must be an integer indicator Tensor with values in '
          '[0, 1]')
    return base_head.check_dense_labels_match_logits_and_reshape(
        labels=indicator, logits=logits,
        expected_labels_dimension=self._n_classes)

  def _unweighted_loss_and_weights(self, logits, processed_labels, features):
    if self._loss_fn:
      unweighted_loss = base_head.call_loss_fn(
          loss_fn=self._loss_fn, labels=processed_labels, logits=logits,
          features=features, expected_loss_dim=1)
    else:
      unweighted_loss = tf.reduce_mean(
          _v1.losses.sigmoid_cross_entropy(
              multi_class_labels=processed_labels, logits=logits,
              reduction=_v1.losses.Reduction.NONE),
          axis=-1, keepdims=True)
    weights = base_head.get_weights_and_check_match_logits(
        features=features, weight_column=self._weight_column, logits=logits)
    return unweighted_loss, weights


  def predictions(self, logits, keys=None):
    valid_keys = [_pred.LOGITS, _pred.PROBABILITIES, _pred.CLASSES]
    if keys:
      base_head.check_prediction_keys(keys, valid_keys)
    else:
      keys = valid_keys
    logits = base_head.check_logits_final_dim(logits, self._n_classes)
    predictions = {}
    with _v1.name_scope('predictions'):
      if _pred.LOGITS in keys:
        predictions[_pred.LOGITS] = logits
      if _pred.PROBABILITIES in keys:
        predictions[_pred.PROBABILITIES] = tf.sigmoid(
            logits, name=_pred.PROBABILITIES)
      if _pred.CLASSES in keys:
        predictions[_pred.CLASSES] = base_head.all_classes(
            logits, self._n_classes, self._label_vocabulary)
    return predictions

  def _class_keys(self, class_id):
    """Keys of the per-class metrics: by id, or by vocabulary name."""
    if self._label_vocabulary is None:
      names = (_keys.PROBABILITY_MEAN_AT_CLASS % class_id,
               _keys.AUC_AT_CLASS % class_id,
               _keys.AUC_PR_AT_CLASS % class_id)
    else:
      label = self._label_vocabulary[class_id]
      names = (_keys.PROBABILITY_MEAN_AT_NAME % label,
               _keys.AUC_AT_NAME % label, _keys.AUC_PR_AT_NAME % label)
    return tuple(self._summary_key(name) for name in names)

  def metrics(self, regularization_losses=None):
    key = self._summary_key
    m = tf_keras.metrics
    factories = [
        (key(_keys.LOSS_MEAN), lambda: m.Mean(name=_keys.LOSS_MEAN)),
        (key(_keys.AUC), lambda: m.AUC(name=_keys.AUC)),
        (key(_keys.AUC_PR), lambda: m.AUC(curve='PR', name=_keys.AUC_PR)),
    ]
    if regularization_losses is not None:
      factories.append((key(_keys.LOSS_REGULARIZATION),
                        lambda: m.Mean(name=_keys.LOSS_REGULARIZATION)))
    factories += self._threshold_metric_factories()
    for class_id in self._classes_for_class_based_metrics:
      prob_key, auc_key, auc_pr_key = self._class_keys(class_id)
      factories += [
          (prob_key, lambda k=prob_key: m.Mean(name=k)),
          (auc_key, lambda k=auc_key: m.AUC(name=k)),
          (auc_pr_key, lambda k=auc_pr_key: m.AUC(curve='PR', name=k)),
      ]
    with _v1.name_scope('metrics'):
      return base_head.build_metrics(factories)

  def update_metrics(self, eval_metrics, features, logits, labels,
                     regularization_losses=None):
    key = self._summary_key
    logits, processed_labels, unweighted_loss, weights = (
        self._labels_and_unweighted_loss(logits, labels, features))
    probabilities = self.predictions(
        logits, [_pred.PROBABILITIES])[_pred.PROBABILITIES]
    eval_metrics[key(_keys.LOSS_MEAN)].update_state(
        values=unweighted_loss, sample_weight=weights)
    for name in (_keys.AUC, _keys.AUC_PR):
      eval_metrics[key(name)].update_state(
          y_true=processed_labels, y_pred=probabilities,
          sample_weight=weights)
    if regularization_losses is not None:
      eval_metrics[key(_keys.LOSS_REGULARIZATION)].update_state(
          values=tf.math.add_n(regularization_losses))
    for threshold in self._thresholds:
      for metric_key in self._threshold_keys(threshold):
        eval_metrics[metric_key].update_state(
            y_true=processed_labels, y_pred=probabilities,
            sample_weight=weights)
    for class_id in self._classes_for_class_based_metrics:
      prob_key, auc_key, auc_pr_key = self._class_keys(class_id)
      class_probabilities = probabilities[..., class_id:class_id + 1]
      class_labels = processed_labels[..., class_id:class_id + 1]
      base_head.update_metric_with_broadcast_weights(
          eval_metrics[prob_key], class_probabilities, weights)
      for metric_key in (auc_key, auc_pr_key):
        eval_metrics[metric_key].update_state(
            y_true=class_labels, y_pred=class_probabilities,
            sample_weight=weights)
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

