"""`EstimatorSpec` accepts and rejects what 2.15 did, and the Estimator
evaluates what it accepts: metric values that are nests or Operations,
placeholder specs, and the errors for foreign graphs and sparse values.

Values marked "2.15" were measured on tensorflow-estimator 2.15.0.
"""

import pytest
import tensorflow as tf
import tf_keras

import tfcompat_estimator as te

ModeKeys = te.ModeKeys


def nested_metrics_model_fn(features, labels, mode):
  del labels
  w = tf.compat.v1.get_variable('w', [], initializer=tf.compat.v1.zeros_initializer())
  loss = tf.reduce_mean(features['x']) * w
  mean, update = tf.compat.v1.metrics.mean(features['x'])
  return te.EstimatorSpec(
      mode, loss=loss,
      train_op=tf.compat.v1.assign_add(
          tf.compat.v1.train.get_or_create_global_step(), 1),
      eval_metric_ops={'nested': ((mean, (mean * 2, tf.constant(3))), update),
                       'op': (tf.no_op(), update), 'plain': (mean, update)})


def input_fn():
  return tf.data.Dataset.from_tensors({'x': tf.constant([1., 2.])}).repeat(3)


def test_nested_and_operation_metric_values_are_evaluated(tmp_path):
  est = te.Estimator(nested_metrics_model_fn, model_dir=str(tmp_path))
  est.train(input_fn, steps=1)
  metrics = est.evaluate(input_fn)
  # 2.15: {'loss': 0.0, 'nested': (1.5, (3.0, 3)), 'op': None, 'plain': 1.5,
  # 'global_step': 1}; the nested value's summary is skipped.
  assert metrics['nested'] == (1.5, (3.0, 3)) and metrics['op'] is None
  assert metrics['plain'] == 1.5 and metrics['global_step'] == 1


def test_what_2_15_accepted_builds():
  with tf.Graph().as_default():
    loss = tf.constant(1.)
    metric = tf_keras.metrics.Mean()
    metric.update_state(loss)
    spec = te.EstimatorSpec(
        ModeKeys.TRAIN, loss=loss, train_op=tf.no_op(),
        eval_metric_ops={'loss': (tf.no_op(), loss), 'mean': metric,
                         'tuple': ((loss, (tf.constant(2), loss)), tf.no_op())})
    value, update = spec.eval_metric_ops['mean']
    assert value.graph is loss.graph and isinstance(update, tf.Operation)
    # A placeholder spec (tests and mocks use one).
    assert te.EstimatorSpec(None).mode is None


@pytest.mark.parametrize('spec_class', [
    te.EstimatorSpec, te.compat.v1.tpu.TPUEstimatorSpec])
def test_export_outputs_are_checked_in_predict_mode_only(spec_class):
  """google-research's explaining_risk_increase passes `export_outputs={}`
  in TRAIN and EVAL, filling it in PREDICT only; 2.15 kept what it was
  given there and trained (measured), ours refused the TRAIN spec."""
  with tf.Graph().as_default():
    loss = tf.constant(1.)
    predictions = {'y': loss}
    two = {'a': te.export.PredictOutput(predictions),
           'b': te.export.PredictOutput(predictions)}
    for outputs in ({}, two):
      spec = spec_class(ModeKeys.TRAIN, loss=loss, train_op=tf.no_op(),
                        export_outputs=outputs)
      assert spec.export_outputs == outputs
    with pytest.raises(ValueError, match='none of them is specified as the '
                       'default'):
      spec_class(ModeKeys.PREDICT, predictions=predictions, export_outputs=two)


def test_placeholder_spec_is_checked_against_the_run(tmp_path):
  def model_fn(features, labels, mode):
    del features, labels, mode
    return te.EstimatorSpec(None, loss=tf.constant(1.))

  est = te.Estimator(model_fn, model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='Missing train_op'):
    est.train(input_fn, steps=1)
  assert not tf.io.gfile.listdir(str(tmp_path))


@pytest.mark.parametrize('make, error, match', [
    (lambda g, loss: te.EstimatorSpec(ModeKeys.TRAIN, loss=loss,
                                      train_op='Not an Operation'),
     TypeError, 'train_op must be Operation or Tensor'),
    (lambda g, loss: te.EstimatorSpec(ModeKeys.TRAIN, loss=loss,
                                      train_op=g['op']),
     ValueError, 'train_op must be from the default graph'),
    (lambda g, loss: te.EstimatorSpec(
        ModeKeys.EVAL, loss=tf.sparse.SparseTensor([[0]], [0.], [1])),
     TypeError, 'loss must be Tensor'),
    (lambda g, loss: te.EstimatorSpec(
        ModeKeys.EVAL, loss=loss,
        predictions={'s': tf.sparse.SparseTensor([[0]], [0.], [1])}),
     TypeError, r'predictions\[s\] must be Tensor'),
    (lambda g, loss: te.EstimatorSpec(ModeKeys.EVAL, loss=loss,
                                      eval_metric_ops=loss),
     TypeError, 'eval_metric_ops must be a dict'),
    (lambda g, loss: te.EstimatorSpec(ModeKeys.EVAL, loss=loss,
                                      eval_metric_ops={'m': (g['op'], loss)}),
     ValueError, "eval_metric_ops\\['m'\\] must be from the default graph"),
    (lambda g, loss: te.EstimatorSpec(ModeKeys.EVAL, loss=loss,
                                      eval_metric_ops={'m': g['metric']}),
     ValueError, 'must be from the default graph'),
])
def test_what_2_15_rejected_is_rejected(make, error, match):
  other = {}
  with tf.Graph().as_default():
    other['op'] = tf.no_op()
    other['metric'] = tf_keras.metrics.Mean()
    other['metric'].update_state(1.)
  with tf.Graph().as_default():
    with pytest.raises(error, match=match):
      make(other, tf.constant(1.))
