"""How evaluate() reads its metric values, with and without hooks.

Without hooks, batches run in compiled calls of up to 1,000 steps and the
values are read once after the last; with hooks, each step is its own call.
Both must report the same numbers, in the metrics' own nests.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf

_v1 = tf.compat.v1


def _model_fn(features, labels, mode):
  logits = _v1.layers.dense(features['x'], 1,
                            kernel_initializer=tf.constant_initializer(0.5))
  loss = tf.reduce_mean(tf.square(logits - labels))
  probabilities = tf.sigmoid(logits)
  return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
      'label_mean': _v1.metrics.mean(labels),
      'auc': _v1.metrics.auc(tf.cast(labels > 0.5, tf.int32), probabilities),
      # A nested value keeps its nest.
      'nested': ({'lo': tf.constant(-1.0), 'mean': _v1.metrics.mean(logits)[0]},
                 _v1.metrics.mean(logits)[1]),
  })


def _input_fn(n, batch):
  x = np.linspace(-1.0, 1.0, n, dtype=np.float32).reshape(-1, 1)
  y = (np.arange(n) % 3 == 0).astype(np.float32).reshape(-1, 1)
  return lambda: tf.data.Dataset.from_tensor_slices(({'x': x}, y)).batch(batch)


class _EveryStep(tf.estimator.SessionRunHook):
  """A hook that makes evaluate() run one step per call."""


def test_the_compiled_loop_and_the_hooked_steps_report_the_same(tmp_path):
  est = tf.estimator.Estimator(_model_fn, model_dir=str(tmp_path))
  compiled = est.evaluate(_input_fn(40, 4))
  hooked = est.evaluate(_input_fn(40, 4), hooks=[_EveryStep()])
  assert sorted(compiled) == sorted(hooked) == [
      'auc', 'global_step', 'label_mean', 'loss', 'nested']
  for key in ('auc', 'label_mean', 'loss'):
    assert compiled[key] == pytest.approx(hooked[key], rel=1e-6), key
  assert compiled['label_mean'] == pytest.approx(14 / 40)
  assert compiled['nested']['lo'] == -1.0
  assert compiled['nested']['mean'] == pytest.approx(
      hooked['nested']['mean'])
  assert isinstance(compiled['loss'], np.float32)


def test_values_read_in_the_last_call_cover_every_call(tmp_path):
  """2,500 batches take three compiled calls; the metrics count them all."""
  est = tf.estimator.Estimator(_model_fn, model_dir=str(tmp_path))
  results = est.evaluate(_input_fn(2500, 1))
  assert results['label_mean'] == pytest.approx(834 / 2500)
  assert est.evaluate(_input_fn(2500, 1), steps=1200)[
      'label_mean'] == pytest.approx(400 / 1200)


def test_a_metric_value_computed_from_the_batch_is_a_clear_error(tmp_path):
  def model_fn(features, labels, mode):
    loss = tf.reduce_mean(features['x']) + tf.constant(0.0) * tf.reduce_sum(
        labels)
    _v1.train.get_or_create_global_step()
    update = tf.no_op()
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
        'batch_max': (tf.reduce_max(features['x'], name='batch_max'), update)})

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  # It names the metric at fault, not the loss mean read beside it; 2.15
  # read it on one more batch, which this input does not have.
  with pytest.raises(ValueError, match=r"eval_metric_ops \['batch_max'\] "
                     'read the input batch'):
    est.evaluate(_input_fn(8, 4))


def test_the_evaluation_log_prints_float32_values_as_2_15_did(tmp_path,
                                                              caplog):
  """`str` of each value: a float32 metric is not printed as its double."""
  est = tf.estimator.Estimator(_model_fn, model_dir=str(tmp_path))
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    results = est.evaluate(_input_fn(9, 9))
  lines = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('Saving dict for global step')]
  label_mean = results['label_mean']
  assert label_mean.dtype == np.float32
  assert f'label_mean = {label_mean!s},' in lines[-1]
  assert str(label_mean) != f'{label_mean}'  # 0.33333334 and its double


@pytest.mark.parametrize('use_resource', [False, True])
def test_a_variable_as_a_metric_value_reads_its_value_after_the_updates(
    tmp_path, use_resource):
  """As training-data-analyst's anomaly detection counts true positives: the
  value is the counting variable itself (2.15 fetched it after the updates:
  'total' 10.0 over x = 1, 2, 3, 4 in TF1 mode, either kind of variable)."""

  def model_fn(features, labels, mode):
    loss = tf.reduce_mean(tf.square(features['x'] - labels))
    total = _v1.get_variable('total', [], initializer=tf.zeros_initializer(),
                             trainable=False, use_resource=use_resource,
                             collections=[_v1.GraphKeys.LOCAL_VARIABLES])
    with tf.control_dependencies(
        [_v1.assign_add(total, tf.reduce_sum(features['x']))]):
      update = tf.identity(total)
    return tf.estimator.EstimatorSpec(mode, loss=loss,
                                      eval_metric_ops={'total': (total, update)})

  x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
  input_fn = lambda: tf.data.Dataset.from_tensor_slices(({'x': x}, x)).batch(2)
  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  assert est.evaluate(input_fn)['total'] == pytest.approx(10.0)
  assert est.evaluate(input_fn, hooks=[_EveryStep()])['total'] == (
      pytest.approx(10.0))
