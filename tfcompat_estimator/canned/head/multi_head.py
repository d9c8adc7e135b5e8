"""`MultiHead`: several named heads trained together on one logits tensor.

The logits are split along the last axis in head order (or given as a dict
keyed by head name); labels are a dict keyed by head name. The training loss
is the (optionally weighted) sum of the heads' losses. Metric keys carry the
head name (`accuracy/<head>`), plus `loss/<head>` for each head's loss, and
predictions are keyed by `(head_name, prediction_key)` tuples.
"""

import tensorflow as tf
import tf_keras

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.canned import metric_keys
from tfcompat_estimator.canned.head import base_head
from tfcompat_estimator.model_fn import ModeKeys

_v1 = tf.compat.v1
_keys = metric_keys.MetricKeys


def _no_op_train_fn(loss):
  del loss
  return tf.no_op()


def _default_export_output(export_outputs, head_name):
  """The serving-default output of one head's export outputs."""
  if len(export_outputs) == 1:
    return next(iter(export_outputs.values()))
  if base_head.DEFAULT_SERVING_KEY not in export_outputs:
    raise ValueError(
        f'{head_name} did not specify default export_outputs. Given: '
        f'{export_outputs} Suggested fix: Use one of the heads in '
        f'tf.estimator, or include key {base_head.DEFAULT_SERVING_KEY} in '
        'export_outputs.')
  return export_outputs[base_head.DEFAULT_SERVING_KEY]


class MultiHead(base_head.Head):
  """Combines named heads for multi-objective learning."""

  def __init__(self, heads, head_weights=None):
    if not heads:
      raise ValueError(f'Must specify heads. Given: {heads}')
    if head_weights and len(head_weights) != len(heads):
      raise ValueError(
          'heads and head_weights must have the same size. Given len(heads): '
          f'{len(heads)}. Given len(head_weights): {len(head_weights)}.')
    for head in heads:
      if head.name is None:
        raise ValueError(f'All given heads must have name specified. Given: '
                         f'{head}')
    self._heads = tuple(heads)
    self._head_weights = tuple(head_weights) if head_weights else ()
    self._loss_keys = tuple(f'{_keys.LOSS}/{head.name}' for head in heads)

  @property
  def name(self):
    return '_'.join(head.name for head in self._heads)

  @property
  def logits_dimension(self):
    return sum(head.logits_dimension for head in self._heads)

  @property
  def loss_reduction(self):
    reductions = [head.loss_reduction for head in self._heads]
    if len(set(reductions)) > 1:
      raise ValueError('The loss_reduction must be the same for different '
                       f'heads. Given: {reductions}')
    return reductions[0]

  def _split_logits(self, logits):
    with _v1.name_scope('split_logits'):
      logits = tf.convert_to_tensor(logits)
      dimensions = [head.logits_dimension for head in self._heads]
      last = logits.shape.as_list()[-1]
      if last is not None and last != sum(dimensions):
        raise ValueError(
            f'Could not split logits of shape {logits.shape.as_list()!r} '
            f'among the heads with individual logits dimensions: '
            f'{dimensions!r}. The last dimension of the logits tensor should '
            f'equal {sum(dimensions)} but is {last}.')
      parts = tf.split(logits, dimensions, axis=-1)
      return {head.name: part for head, part in zip(self._heads, parts)}

  def _check_logits_and_labels(self, logits, labels=None):
    names = [head.name for head in self._heads]
    if isinstance(logits, dict):
      missing = sorted(set(names) - set(logits))
      if missing:
        raise ValueError(f'logits has missing values for head(s): {missing}')
      logits_dict = logits
    else:
      logits_dict = self._split_logits(logits)
    if labels is not None:
      if not isinstance(labels, dict):
        raise ValueError(f'labels must be a dict. Given: {labels}')
      missing = sorted(set(names) - set(labels))
      if missing:
        raise ValueError(f'labels has missing values for head(s): {missing}')
    return logits_dict

  def loss(self, labels, logits, features=None, mode=None,
           regularization_losses=None):
    logits_dict = self._check_logits_and_labels(logits, labels)
    losses = [head.loss(logits=logits_dict[head.name],
                        labels=labels[head.name], features=features,
                        mode=mode)
              for head in self._heads]
    with _v1.name_scope('merge_losses'):
      if self._head_weights:
        losses = [tf.multiply(loss, weight)
                  for loss, weight in zip(losses, self._head_weights)]
      return base_head.add_regularization(tf.math.add_n(losses),
                                          regularization_losses)

  def predictions(self, logits, keys=None):
    del keys
    logits_dict = self._check_logits_and_labels(logits)
    predictions = {}
    with _v1.name_scope('merge_pred'):
      for head in self._heads:
        for key, value in head.predictions(
            logits=logits_dict[head.name]).items():
          predictions[(head.name, key)] = value
    return predictions

  def metrics(self, regularization_losses=None):
    factories = []
    if regularization_losses is not None:
      factories.append(
          (self._summary_key(_keys.LOSS_REGULARIZATION),
           lambda: tf_keras.metrics.Mean(name=_keys.LOSS_REGULARIZATION)))
    factories += [(key, lambda k=key: tf_keras.metrics.Mean(name=k))
                  for key in self._loss_keys]
    with _v1.name_scope('merge_eval'):
      return base_head.build_metrics(factories)

  def update_metrics(self, eval_metrics, features, logits, labels,
                     regularization_losses=None):
    logits_dict = self._check_logits_and_labels(logits, labels)
    if regularization_losses is not None:
      eval_metrics[self._summary_key(_keys.LOSS_REGULARIZATION)].update_state(
          values=tf.math.add_n(regularization_losses))
    for head, loss_key in zip(self._heads, self._loss_keys):
      head_logits = logits_dict[head.name]
      head_labels = labels[head.name]
      eval_metrics[loss_key].update_state(values=head.loss(
          logits=head_logits, labels=head_labels, features=features))
      eval_metrics.update(head.update_metrics(
          head.metrics(), features, head_logits, head_labels) or {})
    return eval_metrics

  def create_estimator_spec(self, features, mode, logits, labels=None,
                            optimizer=None, trainable_variables=None,
                            train_op_fn=None, update_ops=None,
                            regularization_losses=None):
    with _v1.name_scope(self.name, 'multi_head'):
      logits_dict = self._check_logits_and_labels(logits, labels)
      # Each head's own spec gives its export outputs (PREDICT) and its
      # per-head train summaries (TRAIN); it never trains anything itself.
      head_specs = [
          head.create_estimator_spec(
              features=features, mode=mode, logits=logits_dict[head.name],
              labels=labels[head.name] if labels else None,
              train_op_fn=_no_op_train_fn)
          for head in self._heads]
      predictions = self.predictions(logits)
      if mode == ModeKeys.PREDICT:
        return model_fn_lib.EstimatorSpec(
            mode=ModeKeys.PREDICT, predictions=predictions,
            export_outputs=self._merge_predict_export_outputs(head_specs))
      loss = self.loss(labels, logits, features, mode, regularization_losses)
      if mode == ModeKeys.EVAL:
        eval_metrics = self.update_metrics(
            self.metrics(regularization_losses=regularization_losses),
            features, logits, labels,
            regularization_losses=regularization_losses)
        return model_fn_lib.EstimatorSpec(
            mode=ModeKeys.EVAL, predictions=predictions, loss=loss,
            eval_metric_ops=eval_metrics)
      if mode != ModeKeys.TRAIN:
        raise ValueError(f'mode={mode} unrecognized')
      train_op = base_head.create_estimator_spec_train_op(
          head_name=self.name, optimizer=optimizer,
          trainable_variables=trainable_variables, train_op_fn=train_op_fn,
          update_ops=update_ops, regularized_training_loss=loss,
          loss_reduction=self.loss_reduction)
      base_head.create_estimator_spec_summary(loss, regularization_losses)
      return model_fn_lib.EstimatorSpec(
          mode=ModeKeys.TRAIN, loss=loss, train_op=train_op,
          predictions=predictions)

  def _merge_predict_export_outputs(self, head_specs):
    """Per-head signatures `<head>` and `<head>/<key>`, plus a merged predict.

    The first head's default output serves `serving_default`; `predict`
    returns every head's predictions as `<head>/<prediction key>`.
    """
    export_outputs = {base_head.DEFAULT_SERVING_KEY: _default_export_output(
        head_specs[0].export_outputs, self._heads[0].name)}
    merged = {}
    for head, spec in zip(self._heads, head_specs):
      for key, output in spec.export_outputs.items():
        name = (head.name if key == base_head.DEFAULT_SERVING_KEY
                else f'{head.name}/{key}')
        export_outputs[name] = output
        if (key == base_head.PREDICT_SERVING_KEY and
            isinstance(output, base_head.export_output.PredictOutput)):
          for pred_key, value in output.outputs.items():
            merged[f'{head.name}/{pred_key}'] = value
    export_outputs[base_head.PREDICT_SERVING_KEY] = (
        base_head.export_output.PredictOutput(merged))
    return export_outputs
