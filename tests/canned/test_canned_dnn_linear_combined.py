"""Wide & deep estimators against tensorflow-estimator 2.15's behaviour.

Names and the linear-only model are compared with values 2.15 produced for
the same input. The DNN starts from random weights, so the full models are
compared through model_dirs exchanged with 2.15 (slow tier).
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

fc = tf.feature_column
X = np.array([[1.], [2.], [3.], [4.]], np.float32)
C = np.array([['a'], ['b'], ['c'], ['a']])
Y = np.array([[0], [1], [1], [0]], np.int64)


def input_fn(repeat=1):
  def fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'x': X, 'c': C}, Y)).batch(2).repeat(repeat)
  return fn


def columns():
  x = fc.numeric_column('x')
  c = fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])
  return [x, c], [x, fc.embedding_column(c, 2)]


def wide_and_deep(module, model_dir, **kwargs):
  linear_columns, dnn_columns = columns()
  return module.DNNLinearCombinedClassifier(
      linear_feature_columns=linear_columns, dnn_feature_columns=dnn_columns,
      dnn_hidden_units=[3], model_dir=model_dir, **kwargs)


EMBEDDING = 'dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights'
DNN_VARS = ['dnn/hiddenlayer_0/bias', 'dnn/hiddenlayer_0/kernel', EMBEDDING,
            'dnn/logits/bias', 'dnn/logits/kernel']
LINEAR_VARS = ['linear/linear_model/bias_weights',
               'linear/linear_model/c/weights',
               'linear/linear_model/x/weights']
FTRL_HYPER = ['training/Ftrl/' + n for n in (
    'beta', 'decay', 'l1_regularization_strength',
    'l2_regularization_strength', 'learning_rate', 'learning_rate_power')]


def test_v2_towers_keep_their_optimizers_and_step_once(tmp_path):
  est = wide_and_deep(tf.estimator, str(tmp_path))
  est.train(input_fn(repeat=3), steps=4)
  assert est.get_variable_names() == sorted(
      DNN_VARS + LINEAR_VARS + FTRL_HYPER + ['global_step'] +
      [f'training/Adagrad/{v}/accumulator' for v in DNN_VARS] +
      ['training/Adagrad/decay', 'training/Adagrad/learning_rate',
       'training/Ftrl/iter'] +
      [f'training/Ftrl/{v}/{s}' for v in LINEAR_VARS
       for s in ('accumulator', 'linear')])
  # The DNN optimizer counts the global step; the linear one its own `iter`.
  assert est.get_variable_value('global_step') == 4
  assert est.get_variable_value('training/Ftrl/iter') == 4
  np.testing.assert_allclose(
      est.get_variable_value('training/Adagrad/learning_rate'), .001)
  np.testing.assert_allclose(
      est.get_variable_value('training/Ftrl/learning_rate'), .005)


def test_v1_towers_keep_their_optimizers_and_step_once(tmp_path):
  est = wide_and_deep(tf.compat.v1.estimator, str(tmp_path))
  est.train(input_fn(repeat=3), steps=4)
  assert est.get_variable_names() == sorted(
      DNN_VARS + LINEAR_VARS + ['global_step'] +
      [f'{v}/Adagrad' for v in DNN_VARS] +
      [f'{v}/{s}' for v in LINEAR_VARS for s in ('Ftrl', 'Ftrl_1')])
  assert est.get_variable_value('global_step') == 4


@pytest.mark.parametrize('v1, loss, prediction_mean', [
    (False, 0.6891778, 0.49978852),
    (True, 0.6881611347198486, 0.5000509023666382)])
def test_linear_only_model_matches_2_15(tmp_path, v1, loss, prediction_mean):
  module = tf.compat.v1.estimator if v1 else tf.estimator
  linear_columns, _ = columns()
  est = module.DNNLinearCombinedClassifier(
      linear_feature_columns=linear_columns, model_dir=str(tmp_path))
  est.train(input_fn(repeat=3), steps=4)
  metrics = est.evaluate(input_fn(), steps=2)
  assert not [n for n in est.get_variable_names() if n.startswith('dnn')]
  np.testing.assert_allclose(metrics['average_loss'], loss, rtol=1e-5)
  np.testing.assert_allclose(metrics['prediction/mean'], prediction_mean,
                             rtol=1e-5)
  assert metrics['global_step'] == 4


def test_regressor_and_estimator_with_dnn_only(tmp_path):
  _, dnn_columns = columns()
  est = tf.estimator.DNNLinearCombinedRegressor(
      dnn_feature_columns=dnn_columns, dnn_hidden_units=[2], batch_norm=True,
      dnn_dropout=.1, model_dir=str(tmp_path / 'r'))
  est.train(input_fn(), steps=2)
  assert 'dnn/hiddenlayer_0/batchnorm_0/moving_mean' in est.get_variable_names()
  assert not [n for n in est.get_variable_names() if 'linear' in n]
  est = tf.compat.v1.estimator.DNNLinearCombinedEstimator(
      head=tf.estimator.RegressionHead(), dnn_feature_columns=dnn_columns,
      dnn_hidden_units=[2], dnn_optimizer='SGD',
      model_dir=str(tmp_path / 'e'))
  est.train(input_fn(), steps=2)  # A v2 head works: it gets a train_op_fn.
  assert est.get_variable_value('global_step') == 2


def test_invalid_combinations_raise_2_15_errors(tmp_path):
  with pytest.raises(ValueError, match='Either linear_feature_columns or '
                     'dnn_feature_columns must be defined.'):
    tf.estimator.DNNLinearCombinedRegressor()
  with pytest.raises(ValueError, match='Either linear_feature_columns'):
    tf.compat.v1.estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=[], dnn_feature_columns=[])
  with pytest.raises(ValueError, match='combiner must be one of'):
    tf.estimator.DNNLinearCombinedRegressor(
        linear_feature_columns=columns()[0], linear_sparse_combiner='max')
  for module in (tf.estimator, tf.compat.v1.estimator):
    est = module.DNNLinearCombinedRegressor(
        dnn_feature_columns=[fc.numeric_column('x')], model_dir=str(tmp_path))
    with pytest.raises(ValueError, match='dnn_hidden_units must be defined '
                       'when dnn_feature_columns is specified.'):
      est.train(input_fn(), steps=1)
  sync = tf.compat.v1.train.SyncReplicasOptimizer(
      tf.compat.v1.train.GradientDescentOptimizer(.1), 1)
  est = tf.compat.v1.estimator.DNNLinearCombinedRegressor(
      linear_feature_columns=[fc.numeric_column('x')], linear_optimizer=sync,
      model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='SyncReplicasOptimizer does not '
                     'support multi optimizers case'):
    est.train(input_fn(), steps=1)
  est = tf.estimator.DNNLinearCombinedRegressor(
      linear_feature_columns=[fc.numeric_column('x')],
      linear_optimizer='Foo', model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='Unsupported optimizer name: Foo'):
    est.train(input_fn(), steps=1)


_ORACLE = '''
import json, sys, numpy as np, tensorflow as tf
fc = tf.feature_column
data = json.loads(sys.argv[2])
feats = {'x': np.array(data['x'], np.float32), 'c': np.array(data['c'])}
y = np.array(data['y'], np.int64)
fn = lambda: tf.data.Dataset.from_tensor_slices((feats, y)).batch(2)
x = fc.numeric_column('x')
c = fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])
out = {}
for name, module in (('v2', tf.estimator), ('v1', tf.compat.v1.estimator)):
  est = module.DNNLinearCombinedClassifier(
      linear_feature_columns=[x, c], dnn_feature_columns=[x, fc.embedding_column(c, 2)],
      dnn_hidden_units=[3], model_dir=sys.argv[1] + '/' + name)
  if sys.argv[3] == 'train':
    est.train(lambda: fn().repeat(3), steps=5)
  out[name] = {'metrics': {k: float(v) for k, v in est.evaluate(fn).items()},
               'logits': [p['logits'].tolist() for p in est.predict(fn)]}
print(json.dumps(out))
'''


def _oracle(python, model_dir, action):
  data = {'x': X.tolist(), 'c': C.tolist(), 'y': Y.tolist()}
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', _ORACLE, model_dir, json.dumps(data),
                        action], env=env, capture_output=True, text=True,
                       check=True, timeout=300)
  return json.loads(out.stdout.strip().splitlines()[-1])


def _ours(model_dir, train):
  out = {}
  for name, module in (('v2', tf.estimator), ('v1', tf.compat.v1.estimator)):
    est = wide_and_deep(module, os.path.join(model_dir, name))
    if train:
      est.train(input_fn(repeat=3), steps=5)
    out[name] = {'metrics': est.evaluate(input_fn()),
                 'logits': [p['logits'].tolist()
                            for p in est.predict(input_fn())]}
  return out


def _assert_same(ours, theirs):
  for name in ('v1', 'v2'):
    assert set(ours[name]['metrics']) == set(theirs[name]['metrics'])
    for key, value in theirs[name]['metrics'].items():
      np.testing.assert_allclose(ours[name]['metrics'][key], value,
                                 rtol=1e-5, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(ours[name]['logits'], theirs[name]['logits'],
                               rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_model_dirs_are_interchangeable_with_2_15(tmp_path, venv215_python):
  """2.15 evaluates what we trained, and we evaluate what 2.15 trained."""
  python = venv215_python
  ours_dir, theirs_dir = str(tmp_path / 'ours'), str(tmp_path / 'theirs')
  ours = _ours(ours_dir, train=True)
  _assert_same(ours, _oracle(python, ours_dir, 'evaluate'))
  theirs = _oracle(python, theirs_dir, 'train')
  _assert_same(_ours(theirs_dir, train=False), theirs)


def test_2_15s_v2_model_fn_by_its_name(tmp_path):
  from tensorflow_estimator.python.estimator.canned import dnn_linear_combined as dlc  # pylint: disable=g-import-not-at-top
  head = tf.estimator.RegressionHead()

  def model_fn(features, labels, mode):
    return dlc._dnn_linear_combined_model_fn_v2(  # pylint: disable=protected-access
        features, labels, mode, head,
        linear_feature_columns=[tf.feature_column.numeric_column('x')],
        dnn_feature_columns=[tf.feature_column.numeric_column('x')],
        dnn_hidden_units=[2])

  def input_fn():
    return tf.data.Dataset.from_tensors(({'x': [[1.], [2.]]}, [[1.], [2.]]))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn)
  names = est.get_variable_names()
  assert 'linear/linear_model/x/weights' in names
  assert 'dnn/logits/kernel' in names
  with pytest.raises(ValueError, match='Either linear_feature_columns or'):
    dlc._dnn_linear_combined_model_fn_v2(  # pylint: disable=protected-access
        {'x': tf.constant([[1.]])}, None, tf.estimator.ModeKeys.PREDICT, head)
