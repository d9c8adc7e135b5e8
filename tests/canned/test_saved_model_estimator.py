"""`SavedModelEstimator`: an Estimator run from a SavedModel's graphs.

The fast tier checks the behaviours 2.15 had, in-process (TF2 mode):
which modes a SavedModel offers, the errors for missing modes and bad
inputs, the SavedModel's `variables` as the starting checkpoint, local init
ops, assets, and re-exports. A scenario script (`SCENARIO`) then trains a
small custom Estimator (an embedding, dense layers, Adagrad, v1 metrics),
exports all three modes, and wraps the export: the wrapper must evaluate,
predict and continue training exactly as the original Estimator does from
the same checkpoint. It runs in a process of its own for TF2 mode and for
TF1 mode (`disable_v2_behavior`, where variables are reference variables
whose ops the wrapper turns into resource ops).

The slow tier has tensorflow-estimator 2.15 export the SavedModel, then both
2.15's SavedModelEstimator and ours wrap it: same metrics, predictions,
continued training and re-exports.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import reference_runner
from tensorflow_estimator.python.estimator.canned import saved_model_estimator
from tfcompat_estimator.export import export_lib

ModeKeys = tf.estimator.ModeKeys
RTOL, ATOL = 1e-5, 1e-6


def _input_fn():
  return tf.data.Dataset.from_tensors(({
      'x': tf.constant([[1], [-2]], name='feature_x')
  }, tf.constant([[4], [-3]], name='truth'))).repeat()


def _features_input_fn():
  return tf.data.Dataset.from_tensors({'x': tf.constant([[5], [6]])}).repeat()


def _supervised_receiver_fn():
  return export_lib.build_supervised_input_receiver_fn_from_input_fn(_input_fn)


def _serving_receiver_fn():
  return export_lib.build_raw_serving_input_receiver_fn(
      {'x': tf.constant([[5], [6]])})


def _counting_model_fn(features, labels, mode):
  """Constants per mode, a variable training adds 3 to, a metric."""
  del features, labels
  v = tf.Variable(21, name='some_var')
  if mode == ModeKeys.TRAIN:
    loss, predictions = tf.constant(105), tf.constant([501])
    train_op = tf.group(
        tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1),
        tf.compat.v1.assign_add(v, 3))
  else:
    loss = tf.constant(106 if mode == ModeKeys.EVAL else 107)
    predictions = tf.constant([502 if mode == ModeKeys.EVAL else 503])
    train_op = None
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op, predictions=predictions,
      eval_metric_ops={'abs_err': tf.compat.v1.metrics.mean_absolute_error(
          tf.constant(0), predictions)})


def _export(tmp_path, model_fn=_counting_model_fn, modes=(
    ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT), name='original'):
  est = tf.estimator.Estimator(model_fn, str(tmp_path / name))
  est.train(_input_fn, steps=10)
  receivers = {ModeKeys.TRAIN: _supervised_receiver_fn(),
               ModeKeys.EVAL: _supervised_receiver_fn(),
               ModeKeys.PREDICT: _serving_receiver_fn()}
  return est.experimental_export_all_saved_models(
      str(tmp_path / f'{name}_export'), {m: receivers[m] for m in modes})


def _wrap(export_dir, tmp_path, name='sme'):
  return saved_model_estimator.SavedModelEstimator(export_dir,
                                                   str(tmp_path / name))


def test_evaluates_and_predicts_from_the_saved_model_variables(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)
  assert sme._available_modes == [ModeKeys.TRAIN, ModeKeys.EVAL,  # pylint: disable=protected-access
                                  ModeKeys.PREDICT]
  # No checkpoint in model_dir: the SavedModel's variables are the latest.
  assert sme.latest_checkpoint().endswith(os.path.join('variables', 'variables'))
  assert sme.get_variable_value('global_step') == 10
  assert sme.get_variable_value('some_var') == 51
  assert sme.evaluate(_input_fn, steps=5) == {
      'loss': 106, 'metrics/abs_err': 502, 'global_step': 10}
  assert next(sme.predict(_features_input_fn)) == {'output': 503}
  assert not os.path.exists(os.path.join(sme.model_dir, 'checkpoint'))


def test_training_continues_from_the_saved_model(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)
  sme.train(_input_fn, steps=1)
  sme.train(_input_fn, steps=2)
  assert sme.latest_checkpoint() == os.path.join(sme.model_dir, 'model.ckpt-13')
  assert sme.get_variable_value('global_step') == 13
  assert sme.get_variable_value('some_var') == 60
  assert sme.evaluate(_input_fn, steps=1)['global_step'] == 13
  sme.train(_input_fn, max_steps=13)  # already there
  assert sme.get_variable_value('global_step') == 13


def test_re_exports_all_modes_and_serving_only(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)
  sme.train(_input_fn, steps=3)
  receivers = {ModeKeys.TRAIN: _supervised_receiver_fn(),
               ModeKeys.EVAL: _supervised_receiver_fn(),
               ModeKeys.PREDICT: _serving_receiver_fn()}
  again = _wrap(sme.experimental_export_all_saved_models(
      str(tmp_path / 'again'), receivers), tmp_path, 'again_dir')
  assert again.get_variable_value('some_var') == 60
  assert again.evaluate(_input_fn, steps=1)['global_step'] == 13
  again.train(_input_fn, steps=7)
  assert again.get_variable_value('global_step') == 20
  assert again.get_variable_value('some_var') == 81
  served = _wrap(sme.export_saved_model(str(tmp_path / 'served'),
                                        _serving_receiver_fn()),
                 tmp_path, 'served_dir')
  assert served._available_modes == [ModeKeys.PREDICT]  # pylint: disable=protected-access
  assert next(served.predict(_features_input_fn)) == {'output': 503}
  assert served.get_variable_value('global_step') == 13


def test_export_before_any_training_reads_the_saved_model(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)
  served = _wrap(sme.export_saved_model(str(tmp_path / 'served'),
                                        _serving_receiver_fn()),
                 tmp_path, 'served_dir')
  assert served.get_variable_value('some_var') == 51
  assert next(served.predict(_features_input_fn)) == {'output': 503}


def _table_model_fn(features, labels, mode):
  """A table training fills with `x -> label` (2.15's test_saveable_resources)."""
  table = tf.lookup.experimental.MutableHashTable(tf.int32, tf.int32, -1)
  train_op = None
  if mode == ModeKeys.TRAIN:
    train_op = tf.group(
        table.insert(features['x'][:, 0], labels[:, 0]),
        tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1))
  return tf.estimator.EstimatorSpec(
      mode, loss=tf.constant(0), train_op=train_op,
      predictions=table.lookup(features['x']))


def test_the_saved_models_tables_are_restored_trained_and_re_exported(
    tmp_path):
  """The export's table maps 1 -> 4 and -2 -> -3 (see `_input_fn`)."""

  def features(x):
    return lambda: tf.data.Dataset.from_tensors({'x': tf.constant([[x]])})

  sme = _wrap(_export(tmp_path, _table_model_fn), tmp_path)
  assert next(sme.predict(features(1)))['output'] == [4]
  assert next(sme.predict(features(5)))['output'] == [-1]
  sme.train(lambda: tf.data.Dataset.from_tensors(
      ({'x': tf.constant([[5]])}, tf.constant([[6]]))).repeat(), steps=1)
  assert next(sme.predict(features(5)))['output'] == [6]
  assert next(sme.predict(features(1)))['output'] == [4]  # kept from the export
  again = _wrap(sme.export_saved_model(str(tmp_path / 'again'),
                                       _serving_receiver_fn()),
                tmp_path, 'again_dir')
  assert [next(again.predict(features(x)))['output'][0]
          for x in (1, -2, 5, 7)] == [4, -3, 6, -1]


def test_a_renaming_saver_keeps_its_keys(tmp_path):
  def model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable('w', [1, 1],
                                  initializer=tf.compat.v1.zeros_initializer())
    pred = tf.matmul(tf.cast(features['x'], tf.float32), w)
    step = tf.compat.v1.train.get_global_step()
    scaffold = tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver(
        {'renamed_w': w, 'global_step': step}))
    if mode == ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'y': pred},
                                        scaffold=scaffold)
    loss = tf.compat.v1.losses.mean_squared_error(
        tf.cast(labels, tf.float32), pred)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, global_step=step)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      predictions={'y': pred}, scaffold=scaffold)

  est = tf.estimator.Estimator(model_fn, str(tmp_path / 'original'))
  est.train(_input_fn, steps=10)
  export_dir = est.experimental_export_all_saved_models(
      str(tmp_path / 'export'), {ModeKeys.TRAIN: _supervised_receiver_fn(),
                                 ModeKeys.EVAL: _supervised_receiver_fn(),
                                 ModeKeys.PREDICT: _serving_receiver_fn()})
  sme = _wrap(export_dir, tmp_path)
  assert sme.evaluate(_input_fn, steps=1) == est.evaluate(_input_fn, steps=1)
  sme.train(_input_fn, steps=5)
  est.train(_input_fn, steps=5)
  assert sorted(sme.get_variable_names()) == ['global_step', 'renamed_w']
  np.testing.assert_allclose(sme.get_variable_value('renamed_w'),
                             est.get_variable_value('renamed_w'), rtol=RTOL)
  again = sme.experimental_export_all_saved_models(
      str(tmp_path / 'again'), {ModeKeys.EVAL: _supervised_receiver_fn()})
  assert sorted(name for name, _ in tf.train.list_variables(os.path.join(
      os.fsdecode(again), 'variables', 'variables'))) == [
          'global_step', 'renamed_w']


def test_missing_modes_are_runtime_errors(tmp_path):
  eval_only = _wrap(_export(tmp_path, modes=(ModeKeys.EVAL,)), tmp_path)
  eval_only.evaluate(_input_fn, steps=1)
  with pytest.raises(RuntimeError, match='train mode is not available'):
    eval_only.train(_input_fn, steps=1)
  with pytest.raises(RuntimeError, match='infer mode is not available'):
    next(eval_only.predict(_features_input_fn))
  no_eval = _wrap(_export(tmp_path, modes=(ModeKeys.TRAIN, ModeKeys.PREDICT),
                          name='no_eval'), tmp_path, 'no_eval_dir')
  no_eval.train(_input_fn, steps=1)
  next(no_eval.predict(_features_input_fn))
  with pytest.raises(RuntimeError, match='eval mode is not available'):
    no_eval.evaluate(_input_fn, steps=1)


def test_bad_inputs_are_value_errors(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)

  def dataset(features, labels):
    return lambda: tf.data.Dataset.from_tensors((features, labels))

  with pytest.raises(ValueError, match='Expected shape'):
    sme.train(dataset({'x': tf.constant([1, 2])}, tf.constant([[1], [2]])),
              steps=1)
  with pytest.raises(ValueError, match='Expected dtype: <dtype: \'int32\'>'):
    sme.train(dataset({'x': tf.constant([[1], [1]], tf.int64)},
                      tf.constant([[1], [1]])), steps=1)
  with pytest.raises(ValueError, match='Key "x" not found in features or labels'):
    sme.evaluate(dataset({'y': tf.constant([[1], [1]])},
                         tf.constant([[1], [1]])), steps=1)
  with pytest.raises(ValueError, match='Key "label" not found'):
    sme.evaluate(lambda: tf.data.Dataset.from_tensors(
        {'x': tf.constant([[1], [1]])}), steps=1)


def test_an_input_fn_making_a_global_step_is_refused(tmp_path):
  sme = _wrap(_export(tmp_path), tmp_path)

  def input_fn():
    tf.compat.v1.train.get_or_create_global_step()
    return _input_fn()

  with pytest.raises(RuntimeError, match='must not contain a global step'):
    sme.train(input_fn, steps=1)

  def graph_input_fn():  # returns tensors: called in a graph of its own
    tf.compat.v1.train.get_or_create_global_step()
    return {'x': tf.constant([[1], [-2]])}, tf.constant([[4], [-3]])

  with pytest.raises(RuntimeError, match='must not contain a global step'):
    sme.evaluate(graph_input_fn, steps=1)


def test_local_init_op_and_control_dependencies(tmp_path):
  def model_fn(features, labels, mode):
    del labels
    v = tf.Variable(21, name='some_var')
    scaffold = tf.compat.v1.train.Scaffold(
        local_init_op=tf.compat.v1.assign_add(v, -3).op)
    with tf.control_dependencies([features['x']]):
      loss = tf.identity(v) + 0 * features['x'][1][0]
    return tf.estimator.EstimatorSpec(
        mode, scaffold=scaffold, loss=loss,
        train_op=tf.compat.v1.assign_add(
            tf.compat.v1.train.get_global_step(), 1))

  sme = _wrap(_export(tmp_path, model_fn,
                      modes=(ModeKeys.TRAIN, ModeKeys.EVAL)), tmp_path)
  # The original ran its local init op once per train call: 21 - 3 = 18.
  assert sme.evaluate(_input_fn, steps=2)['loss'] == 15
  sme.train(_input_fn, steps=1)
  assert sme.get_variable_value('some_var') == 15
  assert sme.evaluate(_input_fn, steps=5)['loss'] == 12


def test_assets_are_the_saved_model_copies(tmp_path):
  source = tmp_path / 'vocab.txt'
  source.write_text('test')

  def model_fn(features, labels, mode):
    del features, labels
    v = tf.Variable(0, name='some_var', dtype=tf.int64)
    path = tf.constant(str(source))
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, path)
    scaffold = tf.compat.v1.train.Scaffold(local_init_op=tf.compat.v1.assign(
        v, tf.strings.to_hash_bucket_fast(path, 1000)).op)
    return tf.estimator.EstimatorSpec(
        mode, scaffold=scaffold, loss=tf.constant(0),
        train_op=tf.compat.v1.assign_add(
            tf.compat.v1.train.get_global_step(), 1))

  export_dir = _export(tmp_path, model_fn, modes=(ModeKeys.TRAIN, ModeKeys.EVAL))
  sme = _wrap(export_dir, tmp_path)
  copy = os.path.join(os.fsdecode(export_dir), 'assets', 'vocab.txt')
  sme.train(_input_fn, steps=1)
  assert sme.get_variable_value('some_var') == int(
      tf.strings.to_hash_bucket_fast(copy, 1000))
  # A re-export carries the asset file.
  again = sme.experimental_export_all_saved_models(
      str(tmp_path / 'again'), {ModeKeys.TRAIN: _supervised_receiver_fn()})
  with open(os.path.join(os.fsdecode(again), 'assets', 'vocab.txt')) as f:
    assert f.read() == 'test'


def test_serving_only_export_with_classification_signature(tmp_path):
  def model_fn(features, labels, mode):
    del features, labels
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant([103]),
        train_op=tf.compat.v1.assign_add(
            tf.compat.v1.train.get_global_step(), 1),
        predictions=tf.constant([502]),
        export_outputs={'test': tf.estimator.export.ClassificationOutput(
            tf.constant([[32.]]))})

  est = tf.estimator.Estimator(model_fn, str(tmp_path / 'original'))
  est.train(_input_fn, steps=10)

  def receiver_fn():
    return tf.estimator.export.ServingInputReceiver(
        {'test-features': tf.constant([[1], [1]])},
        tf.compat.v1.placeholder(dtype=tf.string))

  sme = _wrap(est.export_saved_model(str(tmp_path / 'export'), receiver_fn),
              tmp_path)
  assert next(sme.predict(lambda: {'inputs': tf.constant('someinputstr')})) == {
      'scores': 32}
  with pytest.raises(RuntimeError, match='train mode is not available'):
    sme.train(_input_fn, steps=1)


def test_not_a_saved_model(tmp_path):
  with pytest.raises(OSError):
    saved_model_estimator.SavedModelEstimator(str(tmp_path), str(tmp_path / 'm'))


# A custom Estimator exported and wrapped, in a process of its own per world.
# Step 'export' trains it, records its own evaluation, predictions and
# continued training, and exports all modes; step 'wrap' runs a
# SavedModelEstimator on the export (SME_DIR) and records the same things.
SCENARIO = r'''
import json
import os
import sys
import tempfile

if os.environ.get('SME_WORLD') == 'v1':
  import tensorflow as tf
  tf.compat.v1.disable_v2_behavior()
import numpy as np
import tensorflow as tf

X = np.array([[0.5, -1., 2.], [1., 0., -0.5], [-1.5, 0.3, 0.2], [0.1, 0.9, -1.],
              [2., -0.4, 0.6], [-0.3, -0.8, 1.1], [0.7, 1.2, -0.9],
              [-1.1, 0.4, 0.4]], np.float32)
IDS = np.array([[1, 2], [3, 3], [0, 9], [4, 5], [6, 1], [7, 8], [2, 2], [5, 0]],
               np.int64)
Y = np.array([[1.], [0.], [1.], [0.], [1.], [1.], [0.], [0.]], np.float32)
FEATURES = {'x': tf.io.FixedLenFeature([3], tf.float32),
            'ids': tf.io.FixedLenFeature([2], tf.int64)}


def model_fn(features, labels, mode):
  emb = tf.compat.v1.get_variable(
      'emb', [10, 4],
      initializer=tf.compat.v1.random_normal_initializer(seed=1))
  pooled = tf.reduce_mean(tf.nn.embedding_lookup(emb, features['ids']), 1)
  net = tf.concat([features['x'], pooled], 1)
  w1 = tf.compat.v1.get_variable(
      'hidden/kernel', [7, 8],
      initializer=tf.compat.v1.glorot_uniform_initializer(seed=2))
  b1 = tf.compat.v1.get_variable('hidden/bias', [8],
                                 initializer=tf.compat.v1.zeros_initializer())
  net = tf.nn.relu(tf.matmul(net, w1) + b1)
  w2 = tf.compat.v1.get_variable(
      'logits/kernel', [8, 1],
      initializer=tf.compat.v1.glorot_uniform_initializer(seed=3))
  logits = tf.matmul(net, w2)
  prob = tf.sigmoid(logits)
  predictions = {'prob': prob, 'logits': logits}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions=predictions)
  loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
  metrics = {
      'acc': tf.compat.v1.metrics.accuracy(labels, tf.cast(prob > 0.5, tf.float32)),
      'auc': tf.compat.v1.metrics.auc(labels, prob),
      'mean_prob': tf.compat.v1.metrics.mean(prob),
  }
  train_op = tf.compat.v1.train.AdagradOptimizer(0.3).minimize(
      loss, global_step=tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    eval_metric_ops=metrics,
                                    predictions=predictions)


def input_fn():
  return tf.data.Dataset.from_tensors(({'x': X, 'ids': IDS}, Y)).repeat()


def features_fn():
  return tf.data.Dataset.from_tensors({'x': X, 'ids': IDS})


def examples_fn():
  examples = []
  for x, ids in zip(X, IDS):
    example = tf.train.Example()
    example.features.feature['x'].float_list.value.extend(x.tolist())
    example.features.feature['ids'].int64_list.value.extend(ids.tolist())
    examples.append(example.SerializeToString())
  return tf.data.Dataset.from_tensors({'examples': tf.constant(examples)})


def receivers():
  def supervised():
    return tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
        {'x': tf.compat.v1.placeholder(tf.float32, [None, 3], name='x'),
         'ids': tf.compat.v1.placeholder(tf.int64, [None, 2], name='ids')},
        tf.compat.v1.placeholder(tf.float32, [None, 1], name='y'))()
  return {tf.estimator.ModeKeys.TRAIN: supervised,
          tf.estimator.ModeKeys.EVAL: supervised,
          tf.estimator.ModeKeys.PREDICT:
              tf.estimator.export.build_parsing_serving_input_receiver_fn(FEATURES)}


def rereceivers():
  # The wrapped serving graph takes serialized Examples as its features.
  raw = tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'examples': tf.constant(['example'])})
  return dict(receivers(), **{tf.estimator.ModeKeys.PREDICT: raw})


def plain(value):
  if isinstance(value, dict):
    return {k: plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  return np.asarray(value).tolist()


def variables(est):
  return {name: plain(est.get_variable_value(name))
          for name in est.get_variable_names()}


def evaluation(est):
  return plain(est.evaluate(input_fn, steps=1))


def predictions(est, fn):
  return plain([p for p in est.predict(fn)])


def export_step(out):
  est = tf.estimator.Estimator(model_fn, tempfile.mkdtemp())
  est.train(input_fn, steps=10)
  export_dir = est.experimental_export_all_saved_models(
      tempfile.mkdtemp(), receivers())
  out['export_dir'] = os.fsdecode(export_dir)
  out['eval0'] = evaluation(est)
  out['pred0'] = predictions(est, features_fn)
  est.train(input_fn, steps=5)
  out['eval1'] = evaluation(est)
  out['pred1'] = predictions(est, features_fn)
  out['vars1'] = variables(est)


def wrap_step(out):
  from tensorflow_estimator.python.estimator.canned import saved_model_estimator
  SME = saved_model_estimator.SavedModelEstimator
  sme = SME(os.environ['SME_DIR'], tempfile.mkdtemp())
  out['eval0'] = evaluation(sme)
  out['pred0'] = predictions(sme, examples_fn)
  sme.train(input_fn, steps=5)
  out['eval1'] = evaluation(sme)
  out['pred1'] = predictions(sme, examples_fn)
  out['vars1'] = variables(sme)
  again = SME(sme.experimental_export_all_saved_models(
      tempfile.mkdtemp(), rereceivers()), tempfile.mkdtemp())
  out['again_eval'] = evaluation(again)
  again.train(input_fn, steps=2)
  out['again_eval2'] = evaluation(again)
  served = SME(sme.export_saved_model(
      tempfile.mkdtemp(), rereceivers()[tf.estimator.ModeKeys.PREDICT]),
      tempfile.mkdtemp())
  out['served_pred'] = predictions(served, examples_fn)


out = {}
(export_step if os.environ['SME_STEP'] == 'export' else wrap_step)(out)
with open(sys.argv[1], 'w') as f:
  json.dump(out, f)
'''


def _run(python, step, world, tmp_path, tag, export_dir=None, ours=True):
  env = reference_runner.scenario_env()
  env.update(SME_STEP=step, SME_WORLD=world, SME_DIR=export_dir or '')
  if not ours:
    env.pop('TF_USE_LEGACY_KERAS', None)
  source = (reference_runner.OURS_PRELUDE if ours else '') + SCENARIO
  return reference_runner.run_script(python, source, tmp_path, f'{tag}_{world}',
                                     env)


def _close(actual, expected, what):
  if isinstance(expected, dict):
    assert sorted(actual) == sorted(expected), what
    for key in expected:
      _close(actual[key], expected[key], f'{what}.{key}')
  elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected)):
      _close(a, e, f'{what}[{i}]')
  else:
    np.testing.assert_allclose(np.asarray(actual, np.float64),
                               np.asarray(expected, np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize('export_world,wrap_world',
                         [('v2', 'v2'), ('v1', 'v1'), ('v2', 'v1')])
def test_wrapped_export_runs_as_the_original_estimator(export_world, wrap_world,
                                                       tmp_path):
  """Same evaluation, predictions and continued training as the Estimator.

  A TF1 program's export holds reference variables; a TF2 one's wrapped in a
  TF1 program is re-exported with the program's own global step beside it.
  """
  original = _run(sys.executable, 'export', export_world, tmp_path, 'export')
  wrapped = _run(sys.executable, 'wrap', wrap_world, tmp_path, 'wrap',
                 original['export_dir'])
  # As in 2.15, a wrapped metric is named by its signature output.
  for key in ('eval0', 'eval1', 'again_eval'):
    wrapped[key] = {k[len('metrics/'):] if k.startswith('metrics/') else k: v
                    for k, v in wrapped[key].items()}
  for key in ('eval0', 'pred0', 'eval1', 'pred1', 'vars1'):
    _close(wrapped[key], original[key], key)
  _close(wrapped['again_eval'], original['eval1'], 'again_eval')
  assert wrapped['again_eval2']['global_step'] == 17
  _close(wrapped['served_pred'], original['pred1'], 'served_pred')


@pytest.mark.slow
@pytest.mark.parametrize('world', ['v2', 'v1'])
def test_2_15_export_wrapped_as_by_2_15(world, venv215_python, tmp_path):
  """A SavedModel 2.15 exported: our wrapper gives 2.15's wrapper's numbers."""
  exported = _run(venv215_python, 'export', world, tmp_path, 'export215',
                  ours=False)
  theirs = _run(venv215_python, 'wrap', world, tmp_path, 'wrap215',
                exported['export_dir'], ours=False)
  ours = _run(sys.executable, 'wrap', world, tmp_path, 'wrap_ours',
              exported['export_dir'])
  assert sorted(ours) == sorted(theirs)
  for key in theirs:
    _close(ours[key], theirs[key], key)
  # And 2.15's wrapper agreed with 2.15's Estimator.
  _close(theirs['vars1'], exported['vars1'], '2.15 vars1')
  _close(theirs['eval1']['metrics/auc'], exported['eval1']['auc'], '2.15 auc')
