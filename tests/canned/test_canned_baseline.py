"""Baseline estimators against values observed from tensorflow-estimator 2.15.

The expected numbers come from running the same input through 2.15
(Ftrl at rate 0.3 from a zero bias is deterministic, so they must match).
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

X = np.array([[1.], [2.], [3.], [4.], [-1.], [.5]], np.float32)
W = np.array([[1.], [2.], [1.], [.5], [1.], [1.]], np.float32)
Y = np.array([[0], [1], [1], [0], [1], [0]], np.int64)
Y3 = np.array([[0], [1], [2], [0], [2], [1]], np.int64)
YR = np.array([[.5, 1.], [1.5, -1.], [2., 0.], [-1., 2.], [0., 0.], [1., 1.]],
              np.float32)

FTRL_V2 = ['training/Ftrl/' + n for n in (
    'beta', 'decay', 'l1_regularization_strength',
    'l2_regularization_strength', 'learning_rate', 'learning_rate_power')]


def input_fn(labels, with_weight=False, repeat=1):
  def fn():
    features = {'x': X, 'w': W} if with_weight else {'x': X}
    return tf.data.Dataset.from_tensor_slices(
        (features, labels)).batch(3).repeat(repeat)
  return fn


def train_and_evaluate(est, labels, with_weight=False):
  est.train(input_fn(labels, with_weight, repeat=2), steps=4)
  metrics = est.evaluate(input_fn(labels, with_weight))
  first = next(iter(est.predict(input_fn(labels, with_weight))))
  return metrics, first


def assert_metrics(metrics, expected):
  assert set(metrics) == set(expected)
  for key, value in expected.items():
    np.testing.assert_allclose(metrics[key], value, rtol=1e-5, atol=1e-7,
                               err_msg=key)


def test_binary_classifier_v2_matches_2_15(tmp_path):
  est = tf.estimator.BaselineClassifier(model_dir=str(tmp_path))
  metrics, first = train_and_evaluate(est, Y)
  assert est.get_variable_names() == sorted(
      ['baseline/bias', 'global_step',
       'training/Ftrl/baseline/bias/accumulator',
       'training/Ftrl/baseline/bias/linear'] + FTRL_V2)
  assert_metrics(metrics, {
      'accuracy': .5, 'accuracy_baseline': .5, 'auc': .5,
      'auc_precision_recall': .5, 'average_loss': 0.6931694149971008,
      'label/mean': .5, 'loss': 0.6931694149971008, 'precision': 0.,
      'prediction/mean': 0.49666786193847656, 'recall': 0., 'global_step': 4})
  np.testing.assert_allclose(first['logits'], [-0.013328801840543747],
                             rtol=1e-5)
  assert first['classes'].tolist() == [b'0']


def test_binary_classifier_v1_sums_the_loss_and_uses_v1_slots(tmp_path):
  est = tf.compat.v1.estimator.BaselineClassifier(model_dir=str(tmp_path))
  metrics, first = train_and_evaluate(est, Y)
  assert est.get_variable_names() == [
      'baseline/bias', 'baseline/bias/Ftrl', 'baseline/bias/Ftrl_1',
      'global_step']
  assert_metrics(metrics, {
      'accuracy': .5, 'accuracy_baseline': .5, 'auc': .5,
      'auc_precision_recall': 0.7499997615814209,
      'average_loss': 0.6931608319282532, 'label/mean': .5,
      'loss': 2.0794825553894043, 'precision': .5,
      'prediction/mean': 0.5026087164878845, 'recall': 1., 'global_step': 4})
  np.testing.assert_allclose(first['logits'], [0.010434967465698719],
                             rtol=1e-5)


def test_multi_class_weighted_v2(tmp_path):
  est = tf.estimator.BaselineClassifier(model_dir=str(tmp_path), n_classes=3,
                                        weight_column='w')
  metrics, first = train_and_evaluate(est, Y3, with_weight=True)
  assert_metrics(metrics, {'accuracy': 0.4615384638309479,
                           'average_loss': 1.060757040977478,
                           'loss': 1.149153470993042, 'global_step': 4})
  np.testing.assert_allclose(
      first['logits'], [-0.25613126158714294, 0.25425729155540466,
                        -0.039901286363601685], rtol=1e-5)


def test_multi_class_v1_with_sgd_has_no_slots(tmp_path):
  est = tf.compat.v1.estimator.BaselineClassifier(
      model_dir=str(tmp_path), n_classes=3, optimizer='SGD')
  metrics, _ = train_and_evaluate(est, Y3)
  assert est.get_variable_names() == ['baseline/bias', 'global_step']
  assert est.get_variable_value('baseline/bias').shape == (3,)
  assert_metrics(metrics, {'accuracy': 0.3333333432674408,
                           'average_loss': 1.0986123085021973,
                           'loss': 3.295836925506592, 'global_step': 4})


def test_string_labels_with_vocabulary_v2(tmp_path):
  est = tf.estimator.BaselineClassifier(model_dir=str(tmp_path),
                                        label_vocabulary=['no', 'yes'])
  metrics, first = train_and_evaluate(est, np.where(Y == 1, 'yes', 'no'))
  np.testing.assert_allclose(metrics['average_loss'], 0.6931694149971008,
                             rtol=1e-5)
  assert first['classes'].tolist() == [b'no']
  assert first['all_classes'].tolist() == [b'no', b'yes']


def test_regressor_v1_weighted_two_dimensional(tmp_path):
  est = tf.compat.v1.estimator.BaselineRegressor(
      model_dir=str(tmp_path), label_dimension=2, weight_column='w')
  metrics, first = train_and_evaluate(est, YR, with_weight=True)
  assert_metrics(metrics, {'average_loss': 0.9305785298347473,
                           'label/mean': 0.5384615659713745,
                           'loss': 6.048760414123535,
                           'prediction/mean': 0.25740212202072144,
                           'global_step': 4})
  np.testing.assert_allclose(first['predictions'],
                             [0.4433872401714325, 0.07141701132059097],
                             rtol=1e-5)


def test_estimator_v2_with_head_and_named_optimizer(tmp_path):
  est = tf.estimator.BaselineEstimator(
      head=tf.estimator.RegressionHead(label_dimension=2),
      model_dir=str(tmp_path), optimizer='Adagrad')
  metrics, first = train_and_evaluate(est, YR)
  assert est.get_variable_names() == [
      'baseline/bias', 'global_step',
      'training/Adagrad/baseline/bias/accumulator', 'training/Adagrad/decay',
      'training/Adagrad/learning_rate']
  np.testing.assert_allclose(metrics['average_loss'], 1.0022550821304321,
                             rtol=1e-5)
  np.testing.assert_allclose(first['predictions'],
                             [0.34707504510879517, 0.38388556241989136],
                             rtol=1e-5)


def test_v2_with_several_features(tmp_path):
  """2.15's v2 baseline failed to initialize with a Dataset of 2+ features."""
  est = tf.estimator.BaselineRegressor(model_dir=str(tmp_path))

  def two_features():
    return tf.data.Dataset.from_tensor_slices(
        ({'x': X, 'z': X * 2}, YR[:, :1])).batch(3)

  est.train(two_features, steps=2)
  assert est.get_variable_value('global_step') == 2


def test_weight_column_of_wrong_type_is_rejected(tmp_path):
  est = tf.estimator.BaselineRegressor(
      model_dir=str(tmp_path),
      weight_column=tf.feature_column.categorical_column_with_identity('w', 2))
  with pytest.raises((TypeError, ValueError), match='[Ww]eight column'):
    est.train(input_fn(YR[:, :1], with_weight=True), steps=1)


@pytest.mark.slow
def test_tensorflow_estimator_2_15_evaluates_our_baselines(tmp_path, venv215_python):
  python = venv215_python
  ours = {}
  for name, est_class in (('v2', tf.estimator.BaselineRegressor),
                          ('v1', tf.compat.v1.estimator.BaselineRegressor)):
    est = est_class(model_dir=str(tmp_path / name), label_dimension=2)
    est.train(input_fn(YR, repeat=2), steps=4)
    ours[name] = est.evaluate(input_fn(YR))
  script = (
      'import json, sys, numpy as np, tensorflow as tf\n'
      f'x = np.array({X.tolist()}, np.float32)\n'
      f'y = np.array({YR.tolist()}, np.float32)\n'
      'fn = lambda: tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(3)\n'
      'out = {}\n'
      'for name, cls in (("v2", tf.estimator.BaselineRegressor),\n'
      '                  ("v1", tf.compat.v1.estimator.BaselineRegressor)):\n'
      '  est = cls(model_dir=sys.argv[1] + "/" + name, label_dimension=2)\n'
      '  out[name] = {k: float(v) for k, v in est.evaluate(fn).items()}\n'
      'print(json.dumps(out))\n')
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', script, str(tmp_path)], env=env,
                       capture_output=True, text=True, check=True, timeout=300)
  theirs = json.loads(out.stdout.strip().splitlines()[-1])
  for name in ('v1', 'v2'):
    assert_metrics(ours[name], theirs[name])


def test_baseline_logit_fn_builder_as_2_15():
  """2.15's private v1 logit_fn: `baseline/bias`, one row per example."""
  from tensorflow_estimator.python.estimator.canned import baseline  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    logit_fn = baseline._baseline_logit_fn_builder(num_outputs=2)  # pylint: disable=protected-access
    logits = logit_fn(features={'age': [[23.], [31.]]})
    with tf.compat.v1.variable_scope('baseline', reuse=True):
      bias = tf.compat.v1.get_variable('bias')
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(bias.assign([10., 5.]))
      np.testing.assert_allclose(sess.run(logits), [[10., 5.], [10., 5.]])


def test_baseline_model_fn_builder_v2_gives_the_bias_per_example():
  from tfcompat_estimator.canned import baseline  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    (bias,), logits = baseline._baseline_model_fn_builder_v2(  # pylint: disable=protected-access
        features={'age': [[23.], [31.]]}, num_outputs=2)
    assert bias.name == 'baseline/bias:0'
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(bias.assign([10., 5.]))
      np.testing.assert_allclose(sess.run(logits), [[10., 5.], [10., 5.]])
