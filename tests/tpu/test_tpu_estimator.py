"""TPUEstimator programs (use_tpu=False) on CPU, as tensorflow-estimator 2.15 ran them.

Facts marked "2.15:" were measured with tensorflow-estimator 2.15.0 on
TF 2.15.1; `test_tpu_estimator_oracle.py` checks a whole program against it.
"""

import glob
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.core.util import event_pb2

import tfcompat_estimator
from tfcompat_estimator.session_emulation import hook_schedule
from tfcompat_estimator.tpu import hooks as tpu_hooks

v1 = tf.compat.v1
tpu = tfcompat_estimator.compat.v1.tpu

# model_dir -> what each model_fn call saw (params are deep-copied per call).
_SEEN = {}
_X = np.arange(32, dtype=np.float32).reshape(16, 2) / 10.
_Y = _X.sum(axis=1, keepdims=True)


def _input_fn(params):
  dataset = tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y))
  return dataset.repeat().batch(params['batch_size'], drop_remainder=True)


def _predict_input_fn(params):
  dataset = tf.data.Dataset.from_tensor_slices({'x': _X})
  return dataset.batch(params['batch_size'])


def _pretrained_checkpoint(directory):
  """A 'pretrained' checkpoint with bert/w = [[1], [2]] and bert/b = [0.5]."""
  prefix = os.path.join(directory, 'pretrained', 'model.ckpt')
  os.makedirs(os.path.dirname(prefix))
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=['bert/w', 'bert/b'],
                    shape_and_slices=['', ''],
                    tensors=[tf.constant([[1.], [2.]]), tf.constant([0.5])])
  return prefix


def _model_fn(features, labels, mode, params, config):
  """A BERT-style model_fn: variables from a checkpoint via scaffold_fn."""
  _SEEN.setdefault(config.model_dir, []).append(
      (mode, sorted(params), params.get('batch_size'), params.get('use_tpu')))
  with v1.variable_scope('bert'):
    w = v1.get_variable('w', [2, 1])
    b = v1.get_variable('b', [1])
  logits = tf.matmul(features['x'], w) + b

  def scaffold_fn():
    v1.train.init_from_checkpoint(params['init_checkpoint'], {'bert/': 'bert/'})
    return v1.train.Scaffold()

  if mode == tfcompat_estimator.ModeKeys.PREDICT:
    return tpu.TPUEstimatorSpec(
        mode, predictions={'logits': logits}, scaffold_fn=scaffold_fn,
        export_outputs={'out': tfcompat_estimator.export.PredictOutput(
            {'logits': logits})})
  loss = v1.losses.mean_squared_error(labels, logits)
  train_op = v1.train.GradientDescentOptimizer(params['lr']).minimize(
      loss, global_step=v1.train.get_global_step())

  def metric_fn(labels, logits):
    return {'mse': v1.metrics.mean_squared_error(labels, logits),
            'mean_logit': v1.metrics.mean(logits)}

  def host_fn(global_step, loss):
    with tf.summary.create_file_writer(
        os.path.join(config.model_dir, 'host')).as_default():
      tf.summary.write('host_loss', loss[0], step=global_step[0])
      return v1.summary.all_v2_summary_ops()

  return tpu.TPUEstimatorSpec(
      mode, loss=loss, train_op=train_op, scaffold_fn=scaffold_fn,
      eval_metrics=(metric_fn, [labels, logits]),
      host_call=(host_fn, [tf.reshape(v1.train.get_global_step(), [1]),
                           tf.reshape(loss, [1])]))


def _estimator(model_dir, pretrained, lr=0.0, use_tpu=False, **kwargs):
  config = tpu.RunConfig(
      model_dir=str(model_dir), save_checkpoints_steps=5,
      log_step_count_steps=4,
      tpu_config=tpu.TPUConfig(iterations_per_loop=3))
  estimator = tpu.TPUEstimator(
      model_fn=_model_fn, config=config, use_tpu=use_tpu,
      params={'init_checkpoint': pretrained, 'lr': lr},
      train_batch_size=4, eval_batch_size=2, predict_batch_size=8, **kwargs)
  return estimator, _SEEN.setdefault(str(model_dir), [])


def _tags(path):
  tags = {}
  for record in v1.io.tf_record_iterator(path):
    event = event_pb2.Event.FromString(record)
    for value in event.summary.value:
      tags.setdefault(value.tag, []).append(event.step)
  return tags


def _meta_graphs(export_dir):
  saved_model = saved_model_pb2.SavedModel()
  with open(os.path.join(export_dir, b'saved_model.pb'), 'rb') as f:
    saved_model.ParseFromString(f.read())
  return saved_model.meta_graphs


def _serving_input_fn():
  x = v1.placeholder(tf.float32, [None, 2], name='x')
  return tfcompat_estimator.export.ServingInputReceiver({'x': x}, {'x': x})


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A TPUEstimator trained 7 steps with lr 0: its variables stay pretrained."""
  base = tmp_path_factory.mktemp('tpu')
  pretrained = _pretrained_checkpoint(str(base))
  estimator, seen = _estimator(base / 'model', pretrained)
  estimator.train(_input_fn, max_steps=7)
  return estimator, seen, pretrained


def test_scaffold_fn_initializes_from_pretrained_checkpoint(trained):
  estimator, _, _ = trained
  np.testing.assert_allclose(estimator.get_variable_value('bert/w'),
                             [[1.], [2.]])
  np.testing.assert_allclose(estimator.get_variable_value('bert/b'), [0.5])
  assert estimator.get_variable_value('global_step') == 7


def test_params_get_each_modes_batch_size(trained):
  estimator, seen, _ = trained
  del seen[:]
  estimator.evaluate(_input_fn, steps=1)
  next(estimator.predict(_predict_input_fn))
  # 2.15: the input_fn's and model_fn's params held the mode's batch size,
  # the model_fn's also use_tpu=False; the reserved keys are not kept.
  assert seen == [
      ('eval', ['batch_size', 'init_checkpoint', 'lr', 'use_tpu'], 2, False),
      ('infer', ['batch_size', 'init_checkpoint', 'lr', 'use_tpu'], 8, False)]
  assert 'batch_size' not in estimator.params


def test_eval_metrics_and_predictions(trained):
  estimator, _, _ = trained
  logits = _X @ np.array([[1.], [2.]], np.float32) + 0.5
  results = estimator.evaluate(_input_fn, steps=2)  # batches of 2: 4 rows
  np.testing.assert_allclose(results['mse'],
                             np.mean((logits[:4] - _Y[:4]) ** 2), rtol=1e-5)
  np.testing.assert_allclose(results['mean_logit'], logits[:4].mean(),
                             rtol=1e-5)
  assert results['global_step'] == 7
  predictions = [p['logits'] for p in estimator.predict(_predict_input_fn)]
  np.testing.assert_allclose(np.array(predictions), logits, rtol=1e-5)


def test_host_call_and_rates_write_summaries(trained):
  estimator, _, _ = trained
  host_files = glob.glob(os.path.join(estimator.model_dir, 'host', 'events*'))
  # 2.15: the host call ran after every training step, at global steps 0..6
  # (evaluations, which also run it, write files of their own).
  assert list(range(7)) in [_tags(f)['host_loss'] for f in host_files]
  # One events file, as 2.15's shared writer kept: the loss summaries and the
  # rates. 2.15 logged rates every ceil(4 / 3) = 2 steps (3, 5, 7); here no
  # more often than once per loop of 3 steps, which would stop otherwise.
  files = glob.glob(os.path.join(estimator.model_dir, 'events*'))
  assert len(files) == 1
  tags = _tags(files[0])
  assert tags['global_step/sec'] == tags['examples/sec'] == [4, 7]
  assert 'loss' in tags


def test_rates_come_at_2_15s_steps_when_loops_are_shorter(tmp_path):
  # SMITH and CANINE (iterations_per_loop 10, the default 100 steps per
  # log) found no rate at all in a 40-step run. 2.15 on CPU logged every
  # ceil(100 / 7) = 15 steps: at 16 and 31 (measured, 31 steps).
  config = tpu.RunConfig(
      model_dir=str(tmp_path), save_checkpoints_steps=None,
      tpu_config=tpu.TPUConfig(iterations_per_loop=7))
  estimator = tpu.TPUEstimator(
      model_fn=_model_fn, config=config, use_tpu=False,
      params={'init_checkpoint': _pretrained_checkpoint(str(tmp_path)),
              'lr': 0.0}, train_batch_size=4)
  estimator.train(_input_fn, max_steps=31)
  (events,) = glob.glob(os.path.join(str(tmp_path), 'events*'))
  tags = _tags(events)
  assert tags['global_step/sec'] == tags['examples/sec'] == [16, 31]


def test_host_call_through_contrib_summary_writers(tmp_path):
  """XLNet's and UDA's host calls wrote with tf.contrib.summary, whose
  graph-mode writer is an op made by an init op 2.15's hook ran first."""
  from tensorflow.python.ops import summary_ops_v2 as contrib_summary  # pylint: disable=g-import-not-at-top

  def model_fn(features, labels, mode, params):
    del params
    loss = v1.losses.mean_squared_error(
        labels, v1.layers.dense(features['x'], 1))
    global_step = v1.train.get_global_step()
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(loss, global_step)

    def host_fn(global_step, loss):
      with contrib_summary.create_file_writer(
          str(tmp_path / 'host'), filename_suffix='.host_call').as_default():
        with contrib_summary.always_record_summaries():
          contrib_summary.scalar('train/loss', loss[0], step=global_step[0])
          return contrib_summary.all_v2_summary_ops()

    return tpu.TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op,
        host_call=(host_fn, [tf.reshape(global_step, [1]), tf.reshape(loss, [1])]))

  estimator = tpu.TPUEstimator(
      model_fn=model_fn, use_tpu=False, train_batch_size=4,
      config=tpu.RunConfig(model_dir=str(tmp_path),
                           tpu_config=tpu.TPUConfig(iterations_per_loop=3)))
  estimator.train(_input_fn, max_steps=7)
  [events] = glob.glob(str(tmp_path / 'host' / '*.host_call'))
  # Flushed at the end of train(): every step's value, as on 2.15.
  assert _tags(events)['train/loss'] == list(range(7))


def test_export_writes_cpu_and_tpu_graphs(trained):
  estimator, _, _ = trained
  path = estimator.export_saved_model(
      os.path.join(estimator.model_dir, 'export'), _serving_input_fn)
  graphs = _meta_graphs(path)
  # 2.15 (use_tpu=False, export_to_tpu left True): both graphs.
  assert [sorted(g.meta_info_def.tags) for g in graphs] == [
      ['serve'], ['serve', 'tpu']]
  tpu_ops = {n.op for n in graphs[1].graph_def.node}
  assert {'TPUPartitionedCall', 'TPUOrdinalSelector'} <= tpu_ops
  with tf.Graph().as_default(), v1.Session() as session:
    meta_graph = v1.saved_model.loader.load(session, ['serve'], path)
    signature = meta_graph.signature_def['serving_default']
    logits = session.run(signature.outputs['logits'].name,
                         {signature.inputs['x'].name: _X[:3]})
  np.testing.assert_allclose(logits, _X[:3] @ [[1.], [2.]] + 0.5, rtol=1e-5)


@pytest.mark.parametrize('to_cpu,to_tpu,expected', [
    (True, False, [['serve']]),
    (False, True, [['serve', 'tpu']]),
])
def test_export_flags(trained, tmp_path, to_cpu, to_tpu, expected):
  estimator, _, pretrained = trained
  other, _ = _estimator(estimator.model_dir, pretrained, export_to_cpu=to_cpu,
                        export_to_tpu=to_tpu)
  path = other.export_saved_model(str(tmp_path), _serving_input_fn)
  assert [sorted(g.meta_info_def.tags) for g in _meta_graphs(path)] == expected
  assert os.path.exists(os.path.join(path, b'variables', b'variables.index'))


def test_export_needs_a_target(trained, tmp_path):
  estimator, _, pretrained = trained
  other, _ = _estimator(estimator.model_dir, pretrained, export_to_cpu=False,
                        export_to_tpu=False)
  with pytest.raises(ValueError, match='One of export_to_cpu and export_to_tpu'):
    other.export_saved_model(str(tmp_path), _serving_input_fn)


def test_training_changes_the_model(tmp_path):
  pretrained = _pretrained_checkpoint(str(tmp_path))
  estimator, seen = _estimator(tmp_path / 'model', pretrained, lr=0.01)
  estimator.train(_input_fn, max_steps=3)
  assert seen[0][:3] == ('train', ['batch_size', 'init_checkpoint', 'lr',
                                   'use_tpu'], 4)
  assert not np.allclose(estimator.get_variable_value('bert/w'), [[1.], [2.]])
  # iterations_per_loop is the compiled loop's length; the Estimator's own
  # step-rate logging is off (2.15 replaced it with the examples hook).
  assert estimator.config.steps_per_loop == 3
  assert estimator.config.log_step_count_steps is None


def test_use_tpu_true_says_to_pass_false(trained):
  estimator, _, pretrained = trained
  on_tpu, _ = _estimator(estimator.model_dir, pretrained, use_tpu=True)
  with pytest.raises(ValueError, match='Pass use_tpu=False'):
    on_tpu.train(_input_fn, steps=1)
  with pytest.raises(ValueError, match='use_tpu=False'):
    on_tpu.predict(_predict_input_fn)
  evaluator, _ = _estimator(estimator.model_dir, pretrained, use_tpu=True,
                            eval_on_tpu=False)
  assert evaluator.evaluate(_input_fn, steps=1)['global_step'] == 7


def test_sliced_eval_input_needs_a_tpu(trained, tmp_path):
  """2.15: SLICED eval/predict input raises when the input_fn would be called.

  Training ignores the setting; evaluation (also with use_tpu=True and
  eval_on_tpu=False) and the first prediction raise, and nothing is written.
  """
  estimator, _, pretrained = trained
  sliced = tpu.TPUConfig(
      iterations_per_loop=3,
      eval_training_input_configuration=tpu.InputPipelineConfig.SLICED)
  config = estimator.config.replace(tpu_config=sliced)
  message = ('Invalid TPUConfig `eval_training_input_configuration` value. '
             'SLICED mode only works on use_tpu = True.')
  for use_tpu in (False, True):
    other = tpu.TPUEstimator(
        model_fn=_model_fn, config=config, use_tpu=use_tpu, eval_on_tpu=False,
        params={'init_checkpoint': pretrained, 'lr': 0.},
        train_batch_size=4, eval_batch_size=2, predict_batch_size=8)
    before = sorted(os.listdir(estimator.model_dir))
    with pytest.raises(ValueError, match=re.escape(message)):
      other.evaluate(_input_fn, steps=1)
    assert sorted(os.listdir(estimator.model_dir)) == before
  trainer = tpu.TPUEstimator(
      model_fn=_model_fn, config=config.replace(model_dir=str(tmp_path)),
      use_tpu=False, params={'init_checkpoint': pretrained, 'lr': 0.},
      train_batch_size=4, predict_batch_size=8)
  trainer.train(_input_fn, max_steps=1)
  assert trainer.get_variable_value('global_step') == 1
  predictions = trainer.predict(_predict_input_fn)
  with pytest.raises(ValueError, match=re.escape(message)):
    next(predictions)


def test_input_fn_and_model_fn_need_params(trained):
  estimator, _, _ = trained
  with pytest.raises(ValueError, match=r"input_fn .* does not include params "
                     r"argument, required by TPUEstimator"):
    estimator.evaluate(lambda: tf.data.Dataset.range(2), steps=1)
  with pytest.raises(ValueError, match='does not include params argument'):
    tpu.TPUEstimator(model_fn=lambda features, labels, mode: None,
                     config=tpu.RunConfig(), use_tpu=False,
                     train_batch_size=4).train(_input_fn, steps=1)


def test_missing_batch_size_names_the_argument(trained):
  estimator, _, pretrained = trained
  other = tpu.TPUEstimator(model_fn=_model_fn, config=estimator.config,
                           params={'init_checkpoint': pretrained, 'lr': 0.},
                           use_tpu=False, train_batch_size=4)
  # 2.15 let the input_fn's KeyError through: still one, for its catchers.
  with pytest.raises(KeyError) as raised:
    other.evaluate(_input_fn, steps=1)
  assert isinstance(raised.value, ValueError)
  assert str(raised.value).endswith('pass TPUEstimator(eval_batch_size=...).')


def test_constructor_checks():
  with pytest.raises(ValueError, match='must be provided with type '
                     '`tpu_config.RunConfig`'):
    tpu.TPUEstimator(model_fn=_model_fn,
                     config=tfcompat_estimator.RunConfig(), use_tpu=False)
  with pytest.raises(ValueError, match='reserved keys'):
    tpu.TPUEstimator(model_fn=_model_fn, config=tpu.RunConfig(),
                     params={'batch_size': 2}, use_tpu=False)
  with pytest.raises(ValueError, match='`train_batch_size` cannot be `None`'):
    tpu.TPUEstimator(model_fn=_model_fn, config=tpu.RunConfig(), use_tpu=True)
  spec = tpu.experimental.EmbeddingConfigSpec(feature_columns=['c'],
                                              partition_strategy='mod')
  with pytest.raises(ValueError, match='Mod sharding'):
    tpu.TPUEstimator(model_fn=_model_fn, config=tpu.RunConfig(),
                     use_tpu=False, embedding_config_spec=spec)


def test_tpu_estimator_spec_checks():
  metric_fn = lambda labels, logits: {}  # pylint: disable=g-long-lambda
  with pytest.raises(ValueError, match='eval_metrics should be tuple or list'):
    tpu.TPUEstimatorSpec('eval', eval_metrics=metric_fn)
  with pytest.raises(ValueError, match='should have two elements'):
    tpu.TPUEstimatorSpec('eval', eval_metrics=(metric_fn,))
  with pytest.raises(TypeError, match=r'eval_metrics\[0\] should be callable'):
    tpu.TPUEstimatorSpec('eval', eval_metrics=(1, []))
  with pytest.raises(RuntimeError, match='length of tensors 1 does not match'):
    tpu.TPUEstimatorSpec('eval', eval_metrics=(metric_fn, [1]))
  with pytest.raises(TypeError, match='must be SessionRunHook'):
    tpu.TPUEstimatorSpec('train', training_hooks=[object()])
  # A function taking *args accepts any number of tensors.
  tpu.TPUEstimatorSpec('eval', loss=tf.constant(1.0),
                       eval_metrics=(lambda *a: {}, [1, 2, 3]))
  # As 2.15, when the spec is made (transformer-xl's model_fn met it there).
  with pytest.raises(ValueError, match='Missing train_op'):
    tpu.TPUEstimatorSpec('train', loss=tf.constant(1.0))
  with pytest.raises(ValueError, match='Missing loss'):
    tpu.TPUEstimatorSpec('eval')


def test_tpu_config_values():
  config = tpu.TPUConfig()
  assert (config.iterations_per_loop, config.per_host_input_for_training) == (
      2, tpu.InputPipelineConfig.PER_HOST_V1)
  assert tpu.TPUConfig(per_host_input_for_training=False
                      ).per_host_input_for_training == 1
  for bad in (0, '0', '5d', 2.0):
    with pytest.raises(ValueError, match='iterations_per_loop'):
      tpu.TPUConfig(iterations_per_loop=bad)
  with pytest.raises(ValueError, match='num_cores_per_replica must be'):
    tpu.TPUConfig(num_cores_per_replica=3)
  with pytest.raises(TypeError, match='num_shards must be int'):
    tpu.TPUConfig(num_shards='8')


def test_run_config_master_and_replace():
  config = tpu.RunConfig(master='grpc://10.0.0.1:8470',
                         tpu_config=tpu.TPUConfig(iterations_per_loop='90s'))
  assert config.evaluation_master == 'grpc://10.0.0.1:8470'
  replaced = config.replace(save_summary_steps=7,
                            tpu_config=tpu.TPUConfig(iterations_per_loop=5))
  assert (replaced.save_summary_steps, replaced.master,
          replaced.tpu_config.iterations_per_loop) == (
              7, 'grpc://10.0.0.1:8470', 5)
  assert config.tpu_config.iterations_per_loop == '90s'

  class Resolver:
    def master(self):
      return 'grpc://resolved:8470'

    def cluster_spec(self):
      return tf.train.ClusterSpec({'worker': ['resolved:8470']})

  with pytest.raises(ValueError, match='Both master and cluster are set'):
    tpu.RunConfig(master='x', cluster=Resolver())
  clustered = tpu.RunConfig(cluster=Resolver())
  assert clustered.master == 'grpc://resolved:8470'
  assert clustered.session_config.cluster_def.job[0].name == 'worker'


def test_a_later_train_keeps_the_graph_and_its_own_hooks(tmp_path):
  # The spec's host-call hook and the examples hook are this package's,
  # and start in `begin` as made: a kept graph serves the second call
  # (runs/model_fn_hooks.py would otherwise call the model_fn again).
  pretrained = _pretrained_checkpoint(str(tmp_path))
  estimator, seen = _estimator(tmp_path / 'model', pretrained, lr=0.01)
  estimator.train(_input_fn, max_steps=3)
  estimator.train(_input_fn, max_steps=6)
  assert estimator.get_variable_value('global_step') == 6
  assert [call[0] for call in seen] == ['train']


def test_the_examples_hook_times_each_train_call_afresh():
  # One hook serves every train() (the model_fn is captured once); 2.15's
  # was new in each, so no rate spans the evaluate() between two calls.
  hook = tpu_hooks.ExamplesPerSecondHook(4, every_n_steps=2)
  with tf.Graph().as_default():
    v1.train.create_global_step()
    hook.begin()
    hook._timer.update_last_triggered_step(5)  # pylint: disable=protected-access
    hook.begin()
  assert hook._timer.last_triggered_step() is None  # pylint: disable=protected-access


def test_step_counter_hook_quiet_steps():
  hook = v1.train.StepCounterHook(every_n_steps=6)
  assert hook_schedule.known([hook])
  assert hook_schedule.quiet_steps([hook], 0) == 0  # first step starts timing
  hook._timer.update_last_triggered_step(1)  # pylint: disable=protected-access
  # The step starting at global step 6 ends at 7 = 1 + 6 and logs.
  assert hook_schedule.quiet_steps([hook], 1) == 5
  assert hook_schedule.quiet_steps([hook], 6) == 0
  timed = v1.train.StepCounterHook(every_n_steps=None, every_n_secs=10)
  timed._timer.update_last_triggered_step(1)  # pylint: disable=protected-access
  assert hook_schedule.quiet_steps([timed], 1) == 0


def test_legacy_paths():
  from tensorflow_estimator.python.estimator.tpu import tpu_config  # pylint: disable=g-import-not-at-top
  from tensorflow_estimator.python.estimator.tpu import tpu_estimator  # pylint: disable=g-import-not-at-top
  assert tf.compat.v1.estimator.tpu.TPUEstimator is tpu_estimator.TPUEstimator
  assert tf.compat.v1.estimator.tpu.RunConfig is tpu_config.RunConfig
  assert (tf.compat.v1.estimator.tpu.experimental.EmbeddingConfigSpec is
          tpu.experimental.EmbeddingConfigSpec)
  assert issubclass(tpu_estimator.TPUEstimator, tf.compat.v1.estimator.Estimator)


def test_export_estimator_savedmodel_writes_tpu_graphs(trained, tmp_path):
  estimator, _, pretrained = trained
  plain = tfcompat_estimator.compat.v1.Estimator(
      _model_fn, model_dir=estimator.model_dir,
      params={'init_checkpoint': pretrained, 'lr': 0.})
  from tensorflow_estimator.python.estimator.tpu import tpu_estimator  # pylint: disable=g-import-not-at-top
  path = tpu_estimator.export_estimator_savedmodel(plain, str(tmp_path),
                                                   _serving_input_fn)
  assert [sorted(g.meta_info_def.tags) for g in _meta_graphs(path)] == [
      ['serve'], ['serve', 'tpu']]


def test_each_loop_logs_2_15s_lines(tmp_path, caplog):
  # 2.15's _TPUContext and ErrorRendezvous lines, which logs are read by:
  # the context's after the config's; each loop's end, failed or not, and
  # then a failed one's "Reraising"; predict's twice at the end of input,
  # once when the program stops early.
  pretrained = _pretrained_checkpoint(str(tmp_path))

  def lines():
    found = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith(
                 ('_TPUContext', 'eval_on_tpu', 'Using config', 'Reraising'))
             or r.getMessage().endswith('marked as finished')]
    caplog.clear()
    return [line.split(':')[0] if line.startswith('Using config') else line
            for line in found]

  with caplog.at_level('INFO', logger='tensorflow'):
    estimator, _ = _estimator(tmp_path / 'model', pretrained)
    assert lines() == ['Using config', '_TPUContext: eval_on_tpu True',
                       'eval_on_tpu ignored because use_tpu is False.']
    estimator.train(_input_fn, max_steps=2)
    assert lines() == ['training_loop marked as finished']
    estimator.evaluate(_input_fn, steps=1)
    assert lines() == ['evaluation_loop marked as finished']
    list(estimator.predict(_predict_input_fn))
    assert lines() == ['prediction_loop marked as finished'] * 2
    predictions = estimator.predict(_predict_input_fn)
    next(predictions)
    predictions.close()
    assert lines() == ['prediction_loop marked as finished']
    with pytest.raises(RuntimeError, match='no input'):
      estimator.train(_broken_input_fn, steps=1)
    assert lines() == ['training_loop marked as finished',
                       'Reraising captured error']
    # 2.15 checked for `params` when it called the input_fn, in the loop.
    with pytest.raises(ValueError, match=r'params\["batch_size"\]'):
      estimator.evaluate(lambda: _input_fn({'batch_size': 2}), steps=1)
    assert lines() == ['evaluation_loop marked as finished',
                       'Reraising captured error']


def test_an_export_logs_2_15s_model_fn_lines(trained, tmp_path, caplog):
  # Measured on 2.15 (export_to_tpu=False): an Estimator's lines around it.
  trained_estimator, _, pretrained = trained
  estimator, _ = _estimator(trained_estimator.model_dir, pretrained,
                            export_to_tpu=False)
  with caplog.at_level('INFO', logger='tensorflow'):
    estimator.export_saved_model(str(tmp_path), _serving_input_fn)
  assert [m for m in caplog.messages if 'model_fn.' in m or 'on CPU' in m] == [
      'Calling model_fn.', 'Running infer on CPU/GPU', 'Done calling model_fn.']


def _broken_input_fn(params):
  del params
  raise RuntimeError('no input')
