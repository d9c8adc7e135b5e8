"""DNN canned estimators, parsing specs and add_metrics against 2.15 facts.

Every expected name, number and message below was observed by running the
same code on tensorflow-estimator 2.15 (the oracle venv). The numeric cases
start both implementations from one checkpoint whose values are computed from
the variable names, so random initializers play no part.
"""

import inspect
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import dnn

RTOL = 1e-5


def _xy_input_fn():
  features = {'x': tf.constant([[1., 2.], [3., 4.], [5., 6.], [7., 8.]]),
              'c': tf.constant([['a'], ['b'], ['a'], ['c']])}
  labels = tf.constant([[0], [1], [1], [0]])
  return tf.data.Dataset.from_tensors((features, labels)).repeat()


def _columns(v1=False):
  fc = tf.compat.v1.feature_column if v1 else tf.feature_column
  cat = fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])
  return [fc.numeric_column('x', shape=(2,)), fc.embedding_column(cat, 2)]


# --- variable names -------------------------------------------------------------

EMBEDDING = 'dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights'
ONE_LAYER = ['dnn/hiddenlayer_0/bias', 'dnn/hiddenlayer_0/kernel', EMBEDDING,
             'dnn/logits/bias', 'dnn/logits/kernel']
TWO_LAYERS = ONE_LAYER + ['dnn/hiddenlayer_1/bias', 'dnn/hiddenlayer_1/kernel']
BATCH_NORM = ['dnn/hiddenlayer_0/batchnorm_0/beta',
              'dnn/hiddenlayer_0/batchnorm_0/gamma']
MOVING = ['dnn/hiddenlayer_0/batchnorm_0/moving_mean',
          'dnn/hiddenlayer_0/batchnorm_0/moving_variance']
V1_EST = tf.compat.v1.estimator
V2_EST = tf.estimator

# case: (builder, trainable, slot templates, other variables). 2.15 wrote one
# slot per template per trainable variable, plus the other variables.
NAME_CASES = {
    'v2_adagrad': (
        lambda d: V2_EST.DNNClassifier([3, 2], _columns(), model_dir=d),
        TWO_LAYERS, ['training/Adagrad/{}/accumulator'],
        ['training/Adagrad/decay', 'training/Adagrad/learning_rate']),
    'v2_batch_norm_dropout': (
        lambda d: V2_EST.DNNClassifier([3], _columns(), model_dir=d,
                                       batch_norm=True, dropout=0.1),
        ONE_LAYER + BATCH_NORM, ['training/Adagrad/{}/accumulator'],
        MOVING + ['training/Adagrad/decay', 'training/Adagrad/learning_rate']),
    'v2_adam': (
        lambda d: V2_EST.DNNClassifier([3], _columns(), model_dir=d,
                                       optimizer='Adam'),
        ONE_LAYER, ['training/Adam/{}/m', 'training/Adam/{}/v'],
        ['training/Adam/beta_1', 'training/Adam/beta_2',
         'training/Adam/decay', 'training/Adam/learning_rate']),
    'v2_ftrl': (
        lambda d: V2_EST.DNNClassifier([3], _columns(), model_dir=d,
                                       optimizer='Ftrl'),
        ONE_LAYER, ['training/Ftrl/{}/accumulator', 'training/Ftrl/{}/linear'],
        ['training/Ftrl/' + h for h in (
            'beta', 'decay', 'l1_regularization_strength',
            'l2_regularization_strength', 'learning_rate',
            'learning_rate_power')]),
    # v1: every variable is partitioned (one part), and the slot is created in
    # the `dnn` variable scope, so its saved name gets the part's `t_0`.
    'v1_adagrad': (
        lambda d: V1_EST.DNNClassifier([3, 2], _columns(True), model_dir=d),
        TWO_LAYERS, ['{}/t_0/Adagrad'], []),
    'v1_batch_norm_dropout': (
        lambda d: V1_EST.DNNClassifier([3], _columns(True), model_dir=d,
                                       batch_norm=True, dropout=0.1),
        ONE_LAYER + BATCH_NORM, ['{}/t_0/Adagrad'], MOVING),
    'v1_adam': (
        lambda d: V1_EST.DNNClassifier([3], _columns(True), model_dir=d,
                                       optimizer='Adam'),
        ONE_LAYER, ['{}/t_0/Adam', '{}/t_0/Adam_1'],
        ['dnn/head/beta1_power', 'dnn/head/beta2_power']),
    'v1_with_v2_columns': (
        lambda d: V1_EST.DNNClassifier([3], _columns(), model_dir=d),
        ONE_LAYER, ['{}/t_0/Adagrad'], []),
    # Two input-layer parts: the embedding gets slots t_0 and t_1.
    'v1_input_layer_partitioner': (
        lambda d: V1_EST.DNNClassifier(
            [3], _columns(True), model_dir=d,
            input_layer_partitioner=tf.compat.v1.fixed_size_partitioner(2)),
        ONE_LAYER, ['{}/t_0/Adagrad'], [EMBEDDING + '/t_1/Adagrad']),
}


@pytest.mark.parametrize('case', sorted(NAME_CASES))
def test_checkpoint_variable_names_match_2_15(case, tmp_path):
  build, trainable, slots, others = NAME_CASES[case]
  est = build(str(tmp_path))
  est.train(_xy_input_fn, steps=1)
  expected = set(trainable) | set(others) | {'global_step'}
  expected |= {slot.format(v) for v in trainable for slot in slots}
  shapes = tf.train.load_checkpoint(str(tmp_path)).get_variable_to_shape_map()
  assert set(shapes) == expected
  assert shapes[EMBEDDING] == [3, 2]
  assert shapes['dnn/hiddenlayer_0/kernel'] == [4, 3]  # 2 numeric + 2 embedded


# --- numbers from a fixed checkpoint -----------------------------------------


def deterministic_case(case, model_dir, evaluate_only=False):
  """Evaluates, trains 3 steps, evaluates and predicts from fixed weights.

  Self-contained so the oracle test can run its source on 2.15: every
  variable of a probe model is overwritten with values computed from its name.
  With `evaluate_only`, only evaluates the model in `<model_dir>/start` (to
  let one implementation evaluate what the other trained).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top,redefined-outer-name,reimported
  import tensorflow as tf  # pylint: disable=g-import-not-at-top,redefined-outer-name,reimported
  rng = np.random.RandomState(5)
  n = 12
  x = rng.normal(size=(n, 2)).astype(np.float32)
  c = np.array([['a', 'b', 'c'][i % 3] for i in range(n)]).reshape(n, 1)
  w = rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)
  labels = {
      'binary': (x[:, :1] > x[:, 1:]).astype(np.int64),
      'multi': np.array([['lo', 'mid', 'hi'][i % 3] for i in range(n)]
                        ).reshape(n, 1),
      'reg': (x[:, :1] * 2 - x[:, 1:]).astype(np.float32),
  }
  v1 = case.startswith('v1')
  fc = tf.compat.v1.feature_column if v1 else tf.feature_column
  ns = tf.compat.v1.estimator if v1 else tf.estimator
  cat = fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])
  cols = [fc.numeric_column('x', shape=(2,)), fc.embedding_column(cat, 2)]
  builders = {
      'v2_binary': lambda d: ns.DNNClassifier(
          [3, 2], cols, model_dir=d, weight_column='w'),
      'v1_multi_bn': lambda d: ns.DNNClassifier(
          [3], cols, model_dir=d, n_classes=3, batch_norm=True,
          label_vocabulary=['lo', 'mid', 'hi']),
      'v2_reg_adam': lambda d: ns.DNNRegressor(
          [3], cols, model_dir=d, optimizer='Adam'),
      'v1_reg_adam': lambda d: ns.DNNRegressor(
          [3], cols, model_dir=d, optimizer='Adam'),
  }
  y = labels[case.split('_')[1]]

  def input_fn():
    features = {'x': x, 'c': c, 'w': w}
    return tf.data.Dataset.from_tensor_slices((features, y)).batch(4)

  def plain(value):
    value = np.asarray(value)
    if value.dtype.kind in 'SO':
      return [v.decode() for v in value.reshape(-1)]
    return np.round(value.astype(np.float64), 6).tolist()

  if evaluate_only:
    metrics = builders[case](model_dir + '/start').evaluate(input_fn)
    return {k: plain(v) for k, v in metrics.items()}
  builders[case](model_dir + '/probe').train(input_fn, steps=1)
  reader = tf.train.load_checkpoint(model_dir + '/probe')
  values = {}
  for name, shape in sorted(reader.get_variable_to_shape_map().items()):
    size = int(np.prod(shape))
    wave = np.sin(np.arange(size) * 0.7 + len(name)).reshape(shape)
    if name == 'global_step':
      value = np.int64(5)
    elif name.endswith(('/Adagrad', '/accumulator', 'moving_variance')):
      value = 0.2 + 0.1 * wave ** 2
    elif name.endswith(('/Adam_1', '/v')):
      value = 0.01 * wave ** 2
    elif name.endswith(('/Adam', '/m')):
      value = 0.01 * wave
    elif name.endswith('/bias'):  # keeps most ReLUs active
      value = 0.2 + 0.1 * wave
    elif len(shape) == 0:  # optimizer hyper-parameters and beta powers
      value = reader.get_tensor(name)
    else:
      value = 0.3 * wave
    values[name] = tf.Variable(np.asarray(value).astype(
        reader.get_tensor(name).dtype))
  saver = tf.compat.v1.train.Saver(values, save_relative_paths=True)
  saver.save(None, model_dir + '/start/model.ckpt-5')
  est = builders[case](model_dir + '/start')
  out = {'initial': est.evaluate(input_fn)}
  est.train(input_fn, steps=3)
  out['trained'] = est.evaluate(input_fn)
  out['predictions'] = list(est.predict(input_fn))[:2]
  return {
      'initial': {k: plain(v) for k, v in out['initial'].items()},
      'trained': {k: plain(v) for k, v in out['trained'].items()},
      'predictions': [{k: plain(v) for k, v in p.items()}
                      for p in out['predictions']],
  }


_BINARY_METRICS = dict(accuracy=0.238997, accuracy_baseline=0.761003, auc=1.0,
                       auc_precision_recall=1.0, precision=0.238997,
                       recall=1.0)
_REG_LABEL_MEAN = {'label/mean': -0.611384}
# What 2.15 returned: metrics before and after 3 steps, first prediction.
FIXED_CHECKPOINT_2_15 = {
    'v2_binary': (
        dict(_BINARY_METRICS, average_loss=0.718152, global_step=5.0,
             loss=0.664537, **{'label/mean': 0.238997,
                               'prediction/mean': 0.535171}),
        dict(_BINARY_METRICS, average_loss=0.717531, global_step=8.0,
             loss=0.663962, **{'label/mean': 0.238997,
                               'prediction/mean': 0.534697}),
        {'logits': [0.192203], 'classes': ['1']}),
    'v1_multi_bn': (
        dict(accuracy=0.416667, average_loss=1.100359, global_step=5.0,
             loss=4.401436),
        dict(accuracy=0.25, average_loss=1.096908, global_step=8.0,
             loss=4.387632),
        {'logits': [0.162691, 0.097673, 0.125427], 'classes': ['lo'],
         'all_classes': ['lo', 'mid', 'hi']}),
    'v2_reg_adam': (
        dict(average_loss=5.117687, global_step=5.0, loss=5.117687,
             **_REG_LABEL_MEAN, **{'prediction/mean': 0.119713}),
        dict(average_loss=5.112268, global_step=8.0, loss=5.112268,
             **_REG_LABEL_MEAN, **{'prediction/mean': 0.118593}),
        {'predictions': [0.180484]}),
    # SUM reduction: loss is 4x average_loss with batches of 4.
    'v1_reg_adam': (
        dict(average_loss=5.117687, global_step=5.0, loss=20.470747,
             **_REG_LABEL_MEAN, **{'prediction/mean': 0.119713}),
        dict(average_loss=4.570523, global_step=8.0, loss=18.282091,
             **_REG_LABEL_MEAN, **{'prediction/mean': 0.000403}),
        {'predictions': [0.169276]}),
}


def _assert_metrics(actual, expected):
  assert sorted(actual) == sorted(expected)
  for key, value in expected.items():
    assert actual[key] == pytest.approx(value, rel=RTOL, abs=2e-6), key


@pytest.mark.parametrize('case', sorted(FIXED_CHECKPOINT_2_15))
def test_fixed_checkpoint_evaluates_and_trains_like_2_15(case, tmp_path):
  result = deterministic_case(case, str(tmp_path))
  initial, trained, first_prediction = FIXED_CHECKPOINT_2_15[case]
  _assert_metrics(result['initial'], initial)
  _assert_metrics(result['trained'], trained)
  for key, value in first_prediction.items():
    got = result['predictions'][0][key]
    if isinstance(value[0], str):
      assert got == value
    else:
      np.testing.assert_allclose(got, value, rtol=RTOL, atol=2e-6)


def _run_on_2_15(python, tmp_path, call):
  """Runs `deterministic_case` on 2.15; `call` is the Python call to print."""
  script = (inspect.getsource(deterministic_case) +
            'import json, sys\n'
            f'print(json.dumps({call}))\n')
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', script, str(tmp_path),
                        *sorted(FIXED_CHECKPOINT_2_15)], env=env,
                       capture_output=True, text=True, check=True, timeout=600)
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_oracle_2_15_agrees_both_ways(tmp_path, venv215_python):
  """2.15 reproduces the table above and evaluates our trained model_dirs."""
  ours = {case: deterministic_case(case, str(tmp_path / 'ours' / case))
          for case in FIXED_CHECKPOINT_2_15}
  theirs = _run_on_2_15(
      venv215_python, tmp_path,
      '{c: deterministic_case(c, sys.argv[1] + "/theirs/" + c) '
      'for c in sys.argv[2:]}')
  evaluated = _run_on_2_15(
      venv215_python, tmp_path,
      '{c: deterministic_case(c, sys.argv[1] + "/ours/" + c, '
      'evaluate_only=True) for c in sys.argv[2:]}')
  for case, result in ours.items():
    _assert_metrics(result['initial'], theirs[case]['initial'])
    _assert_metrics(result['trained'], theirs[case]['trained'])
    _assert_metrics(evaluated[case], result['trained'])


# --- summaries, builders, optimizers --------------------------------------------


def _summary_tags(model_dir):
  tags = set()
  for name in os.listdir(model_dir):
    if name.startswith('events.'):
      for event in tf.compat.v1.train.summary_iterator(
          os.path.join(model_dir, name)):
        tags.update(value.tag for value in event.summary.value)
  return tags


@pytest.mark.parametrize('namespace, prefix', [(V2_EST, 'dnn/'),
                                               (V1_EST, 'dnn/dnn/')])
def test_layer_summaries_use_2_15_tags(namespace, prefix, tmp_path):
  est = namespace.DNNClassifier(
      [3], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path), config=tf.estimator.RunConfig(
          save_summary_steps=1))
  est.train(_xy_input_fn, steps=1)
  expected = {prefix + layer + '/' + kind
              for layer in ('hiddenlayer_0', 'logits')
              for kind in ('activation', 'fraction_of_zero_values')}
  assert expected <= _summary_tags(str(tmp_path))


def test_dnn_logit_fn_builder_builds_in_the_callers_scope(tmp_path):
  column = tf.feature_column.numeric_column('x', shape=(2,))

  def model_fn(features, labels, mode):
    logit_fn = tf.compat.v1.estimator.experimental.dnn_logit_fn_builder(
        1, [2], [column], tf.nn.relu, None, None, False)
    logits = logit_fn(features=features, mode=mode)
    loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(_xy_input_fn, steps=1)
  assert est.get_variable_names() == [
      'global_step', 'hiddenlayer_0/bias', 'hiddenlayer_0/kernel',
      'logits/bias', 'logits/kernel']


def test_a_canned_dnn_built_twice_in_one_graph_names_as_2_15(tmp_path):
  """Neural Structured Learning's wrappers call a canned model_fn twice.

  Names measured on 2.15: the second network's layers take the name
  scopes 2.15's Keras model opened where it was made (`hiddenlayer_0_1`,
  `logits_1`, `input_from_feature_columns_1`), inside `dnn_1`.
  """
  columns = [tf.feature_column.numeric_column('x', shape=[2]),
             tf.feature_column.embedding_column(
                 tf.feature_column.categorical_column_with_identity('c', 5),
                 2)]
  canned = tf.estimator.DNNClassifier([3], columns, batch_norm=True,
                                      model_dir=str(tmp_path / 'canned'))

  def model_fn(features, labels, mode, config):
    with tf.compat.v1.variable_scope(
        tf.compat.v1.get_variable_scope(), reuse=tf.compat.v1.AUTO_REUSE,
        auxiliary_name_scope=False):
      first = canned.model_fn(features, labels, mode, config)
      second = canned.model_fn(dict(features, x=features['x'] + 0.1),
                               labels, mode, config)
    return first._replace(loss=first.loss + second.loss)

  est = tf.estimator.Estimator(model_fn, str(tmp_path / 'twice'))
  est.train(lambda: tf.data.Dataset.from_tensor_slices((
      {'x': np.array([[0.5, -1.], [1., 2.]], np.float32),
       'c': np.array([[1], [3]])}, np.array([[1], [0]]))).batch(2), steps=1)
  second = [n for n in est.get_variable_names()
            if n.startswith('dnn_1/') and 'Adagrad' not in n]
  assert second == [
      'dnn_1/hiddenlayer_0_1/batchnorm_0/beta',
      'dnn_1/hiddenlayer_0_1/batchnorm_0/gamma',
      'dnn_1/hiddenlayer_0_1/batchnorm_0/moving_mean',
      'dnn_1/hiddenlayer_0_1/batchnorm_0/moving_variance',
      'dnn_1/hiddenlayer_0_1/bias', 'dnn_1/hiddenlayer_0_1/kernel',
      'dnn_1/input_from_feature_columns_1/input_layer/c_embedding/'
      'embedding_weights',
      'dnn_1/logits_1/bias', 'dnn_1/logits_1/kernel']


def test_logit_builders_require_int_units():
  with pytest.raises(ValueError) as info:
    dnn.dnn_logit_fn_builder(1.0, [2], [], tf.nn.relu, None, None, False)
  assert str(info.value) == ("units must be an int.  Given type: "
                             "<class 'float'>")


def test_v1_dnn_trains_with_warnings_as_errors(tmp_path):
  """tensorflow/models' census tests run so; tf_keras's v1 layer functions
  warn on each call, where 2.15's canned DNN warned nothing."""
  est = tf.compat.v1.estimator.DNNClassifier(
      [4, 3], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path), dropout=0.1, batch_norm=True)
  with warnings.catch_warnings():
    warnings.simplefilter('error', UserWarning)
    est.train(_xy_input_fn, steps=1)
  assert 'dnn/hiddenlayer_1/batchnorm_1/gamma' in est.get_variable_names()


def test_empty_hidden_units_is_a_linear_model_as_in_2_15(tmp_path):
  est = tf.estimator.DNNClassifier(
      [], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path))
  est.train(_xy_input_fn, steps=1)
  assert est.get_variable_names() == [
      'dnn/logits/bias', 'dnn/logits/kernel', 'global_step',
      'training/Adagrad/decay', 'training/Adagrad/dnn/logits/bias/accumulator',
      'training/Adagrad/dnn/logits/kernel/accumulator',
      'training/Adagrad/learning_rate']


def test_callable_optimizers_may_decay_on_the_global_step(tmp_path):
  column = tf.feature_column.numeric_column('x', shape=(2,))

  def decayed():
    return tf.compat.v1.train.exponential_decay(
        1.0, tf.compat.v1.train.get_global_step(), 1, 0.5)

  v2 = tf.estimator.DNNRegressor(
      [2], [column], model_dir=str(tmp_path / 'v2'),
      optimizer=lambda: tf_keras.optimizers.legacy.Adagrad(decayed()))
  v2.train(_xy_input_fn, steps=3)
  # A tensor learning rate is no variable (2.15 saved none either).
  assert 'training/Adagrad/learning_rate' not in v2.get_variable_names()
  assert 'training/Adagrad/decay' in v2.get_variable_names()
  v1 = tf.compat.v1.estimator.DNNRegressor(
      [2], [column], model_dir=str(tmp_path / 'v1'),
      optimizer=lambda: tf.compat.v1.train.AdagradOptimizer(decayed()))
  v1.train(_xy_input_fn, steps=3)
  assert 'dnn/logits/kernel/t_0/Adagrad' in v1.get_variable_names()
  assert v1.get_variable_value('global_step') == 3


def test_optimizer_instance_is_used_and_may_train_again(tmp_path):
  opt = tf_keras.optimizers.legacy.Adam(0.1)
  est = tf.estimator.DNNRegressor(
      [2], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path), optimizer=opt)
  est.train(_xy_input_fn, steps=1)
  assert 'training/Adam/beta_1' in est.get_variable_names()
  # 2.15 raised RuntimeError here (iterations re-bound); we keep training.
  est.train(_xy_input_fn, steps=1)
  assert est.get_variable_value('global_step') == 2


def test_warm_start_from_a_dnn_model_dir(tmp_path):
  source = tf.estimator.DNNClassifier([3], _columns(),
                                      model_dir=str(tmp_path / 'a'))
  source.train(_xy_input_fn, steps=2)
  target = tf.estimator.DNNClassifier(
      [3], _columns(), model_dir=str(tmp_path / 'b'),
      optimizer='SGD', warm_start_from=str(tmp_path / 'a'))
  target.train(_xy_input_fn, steps=1)
  # One SGD step at rate 0.01 barely moves the warm-started embedding.
  np.testing.assert_allclose(target.get_variable_value(EMBEDDING),
                             source.get_variable_value(EMBEDDING), atol=0.05)
  assert target.get_variable_value('global_step') == 1


def _two_label_input_fn():
  features = {'x': tf.constant([[1., 2.], [3., 4.]])}
  labels = tf.constant([[0, 1], [1, 1]])
  return tf.data.Dataset.from_tensors((features, labels)).repeat().take(3)


def test_dnn_estimator_takes_any_v2_head(tmp_path):
  est = tf.estimator.DNNEstimator(
      tf.estimator.MultiLabelHead(2), [2],
      [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path))
  est.train(_two_label_input_fn, steps=2)
  metrics = est.evaluate(_two_label_input_fn)
  assert sorted(metrics) == ['auc', 'auc_precision_recall', 'average_loss',
                             'global_step', 'loss']
  assert est.get_variable_value('dnn/logits/kernel').shape == (2, 2)


def test_v1_dnn_estimator_with_a_v2_head_fails_as_in_2_15(tmp_path):
  est = tf.compat.v1.estimator.DNNEstimator(
      tf.estimator.RegressionHead(2), [2],
      [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path))
  assert _train_error(est, _two_label_input_fn).startswith(
      'The given optimizer is not a tf.keras.optimizers.Optimizer instance.')


# --- errors -------------------------------------------------------------------


def _train_error(est, input_fn=_xy_input_fn):
  with pytest.raises(ValueError) as info:
    est.train(input_fn, steps=1)
  return str(info.value)


def test_v2_rejects_v1_only_feature_columns(tmp_path):
  message = _train_error(tf.estimator.DNNClassifier([2], ['x'],
                                                    model_dir=str(tmp_path)))
  assert message.startswith('Received a feature column from TensorFlow v1, '
                            'but this is a TensorFlow v2 Estimator.')


@pytest.mark.parametrize('namespace', [V2_EST, V1_EST])
def test_empty_feature_columns_rejected(namespace, tmp_path):
  est = namespace.DNNClassifier([2], None, model_dir=str(tmp_path))
  assert 'feature_columns must not be empty.' in _train_error(est)


@pytest.mark.parametrize('namespace', [V2_EST, V1_EST])
def test_missing_feature_is_named(namespace, tmp_path):
  est = namespace.DNNClassifier([2], [tf.feature_column.numeric_column('y')],
                                model_dir=str(tmp_path))
  assert 'Feature y is not in features dictionary.' in _train_error(est)


def test_features_must_be_a_dict(tmp_path):
  est = tf.estimator.DNNClassifier(
      [2], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path))
  message = _train_error(
      est, lambda: (tf.constant([[1., 2.]]), tf.constant([[1]])))
  assert message.startswith(
      'features should be a dictionary of `Tensor`s. Given type: ')


@pytest.mark.parametrize('namespace, optimizer, message', [
    (V2_EST, 'Foo', 'Unsupported optimizer name: Foo.'),
    (V1_EST, 'Foo', 'Unsupported optimizer name: Foo.'),
    (V2_EST, lambda: tf.compat.v1.train.AdagradOptimizer(0.1),
     'The given object is not a tf.keras.optimizers.Optimizer instance.'),
    (V1_EST, lambda: tf_keras.optimizers.legacy.Adam(),
     'The given object is not an Optimizer instance.'),
    # A new-style Keras optimizer cannot be converted inside the graph.
    (V2_EST, tf_keras.optimizers.Adam,
     'Please set your optimizer as an instance of '
     '`tf.keras.optimizers.legacy.Optimizer`'),
])
def test_bad_optimizers_rejected_at_train(namespace, optimizer, message,
                                          tmp_path):
  est = namespace.DNNClassifier(
      [2], [tf.feature_column.numeric_column('x', shape=(2,))],
      model_dir=str(tmp_path), optimizer=optimizer)
  assert _train_error(est).startswith(message)


# --- parsing specs and add_metrics ----------------------------------------------


def test_parse_example_specs_add_label_and_weight():
  spec = tf.estimator.classifier_parse_example_spec(_columns(), 'y',
                                                    weight_column='w')
  assert spec == {
      'c': tf.io.VarLenFeature(tf.string),
      'x': tf.io.FixedLenFeature((2,), tf.float32),
      'y': tf.io.FixedLenFeature((1,), tf.int64),
      'w': tf.io.FixedLenFeature((1,), tf.float32),
  }
  spec = tf.compat.v1.estimator.classifier_parse_example_spec(
      _columns(True), 'y', label_dtype=tf.string, label_default='a')
  assert spec['y'] == tf.io.FixedLenFeature((1,), tf.string, 'a')
  spec = tf.estimator.regressor_parse_example_spec(
      _columns(), 'y', label_dimension=3,
      weight_column=tf.feature_column.numeric_column('w', default_value=1.))
  assert spec['y'] == tf.io.FixedLenFeature((3,), tf.float32)
  assert spec['w'] == tf.io.FixedLenFeature((1,), tf.float32, (1.0,))


@pytest.mark.parametrize('kwargs, message', [
    ({'label_key': 'x'},
     "label should not be used as feature. label_key: x, features: "
     "dict_keys(['x', 'c'])"),
    ({'label_key': 'y', 'weight_column': 'c'},
     "weight_column should not be used as feature. weight_column: c, "
     "features: dict_keys(['x', 'c', 'y'])"),
    ({'label_key': 'y', 'weight_column': 3},
     "weight_column should be an instance of "
     "tf.feature_column.numeric_column. Given type: <class 'int'> value: 3"),
])
def test_parse_example_spec_errors_match_2_15(kwargs, message):
  with pytest.raises(ValueError) as info:
    tf.estimator.classifier_parse_example_spec(_columns(), **kwargs)
  assert str(info.value) == message


def test_add_metrics_adds_and_overrides_eval_metrics(tmp_path):
  est = tf.estimator.DNNClassifier([2], _columns(), model_dir=str(tmp_path))
  est.train(_xy_input_fn, steps=2)

  def metric_fn(labels, predictions, features):
    auc = tf_keras.metrics.AUC(name='my_auc')
    auc.update_state(labels, predictions['logistic'])
    return {'my_auc': auc,
            'x_mean': tf.compat.v1.metrics.mean(features['x']),
            'accuracy': tf.compat.v1.metrics.mean(tf.constant(7.))}

  extended = tf.estimator.add_metrics(est, metric_fn)
  assert extended.model_dir == est.model_dir
  assert hasattr(extended, 'export_savedmodel')  # a v1 Estimator, as in 2.15

  def eval_input_fn():
    return _xy_input_fn().take(2)

  base = est.evaluate(eval_input_fn)
  metrics = extended.evaluate(eval_input_fn)
  assert sorted(metrics) == sorted(list(base) + ['my_auc', 'x_mean'])
  assert metrics['x_mean'] == pytest.approx(4.5)
  assert metrics['accuracy'] == pytest.approx(7.0)  # overridden
  assert metrics['auc'] == pytest.approx(base['auc'])
  assert metrics['my_auc'] == pytest.approx(base['auc'], abs=1e-3)


def test_add_metrics_rejects_unknown_metric_fn_args():
  est = tf.estimator.DNNClassifier([2], _columns())
  with pytest.raises(ValueError, match=r"not expected args: \['foo'\]"):
    tf.estimator.add_metrics(est, lambda labels, foo: {})


def test_2_15s_v2_model_fn_and_logit_fn_builder_by_their_names(tmp_path):
  """Custom model_fns reuse 2.15's canned v2 DNN: its names, its variables."""
  from tensorflow_estimator.python.estimator.canned import dnn as dnn_215  # pylint: disable=g-import-not-at-top
  columns = [tf.feature_column.numeric_column('x', shape=[2])]
  head = tf.estimator.RegressionHead()

  def model_fn(features, labels, mode, config):
    return dnn_215.dnn_model_fn_v2(
        features, labels, mode, head, [3], columns,
        optimizer=tf.keras.optimizers.legacy.Adagrad(0.1), config=config)

  def input_fn():
    return tf.data.Dataset.from_tensors(
        ({'x': [[1., 2.], [3., 4.]]}, [[1.], [2.]])).repeat(5)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn)
  assert 'dnn/hiddenlayer_0/kernel' in est.get_variable_names()
  with tf.Graph().as_default():
    logit_fn = dnn_215.dnn_logit_fn_builder_v2(
        units=2, hidden_units=[3], feature_columns=columns,
        activation_fn=tf.nn.relu, dropout=None, batch_norm=False)
    logits = logit_fn({'x': tf.constant([[1., 2.]])},
                      tf.estimator.ModeKeys.PREDICT)
    assert logits.shape.as_list() == [1, 2]
  with pytest.raises(ValueError, match='units must be an int'):
    dnn_215.dnn_logit_fn_builder_v2('2', [3], columns, tf.nn.relu, None, False)


_DEPRECATIONS_SEEN_BY_A_WIDE_DEEP_PROGRAM = '''
import logging, sys
import numpy as np
import tfcompat_estimator
tfcompat_estimator.install()
import tensorflow as tf
fc = tf.feature_column
x = fc.numeric_column('x')
c = fc.categorical_column_with_vocabulary_list('c', ['a', 'b'])
cross = fc.crossed_column([fc.bucketized_column(x, [0.5]), c], 8)
seen = []
class Deprecations(logging.Handler):
  def emit(self, record):
    message = record.getMessage()  # the program's own calls warn, as on 2.15
    if 'is deprecated' in message and not message.startswith('From <string>'):
      seen.append(message.split(' (from')[0])
logging.getLogger('tensorflow').addHandler(Deprecations())
est = tf.compat.v1.estimator.DNNLinearCombinedRegressor(
    linear_feature_columns=[c, cross], dnn_hidden_units=[4],
    dnn_feature_columns=[x, fc.indicator_column(c), fc.embedding_column(cross, 2)],
    model_dir=sys.argv[1])
features = {'x': np.ones((4, 1), np.float32), 'c': np.array([['a'], ['b']] * 2)}
est.train(lambda: tf.data.Dataset.from_tensor_slices(
    (features, np.ones((4, 1), np.float32))).batch(2), steps=1)
print(seen)
'''


def test_a_v1_dnn_on_v2_columns_warns_of_no_deprecation_of_its_own(tmp_path):
  """2.15's v1 DNN read v2 columns through classes that did not warn; its
  input layer here warned of `input_layer` and of each v1 method it calls on
  a v2 column (17 lines for tf-estimator-tutorials' wide-deep model). TF
  warns once a process: a process of its own."""
  out = subprocess.run(
      [sys.executable, '-c', _DEPRECATIONS_SEEN_BY_A_WIDE_DEEP_PROGRAM,
       str(tmp_path)], capture_output=True, text=True, timeout=600,
      check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert out.stdout.strip().splitlines()[-1] == '[]'
