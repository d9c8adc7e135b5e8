"""SessionRunHook / CheckpointSaverListener behaviour of the Estimator.

Reference behaviour comes from tensorflow-estimator 2.15.0 on tensorflow-cpu
2.15.1: either the golden file (golden/custom_dnn/expected.json) or values
marked "measured on 2.15", observed by running the same code there.

TensorFlow's own hook classes (tf.compat.v1.train.*) are used unchanged. Hooks
that need tensors of the model graph are built inside a model_fn and returned
through EstimatorSpec.*_hooks, or refer to tensors by name.
"""

import glob
import json
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn

_v1 = tf.compat.v1
_train = _v1.train


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope='module')
def golden(golden_dir):
  with open(os.path.join(golden_dir, 'expected.json')) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def golden_dir():  # module-scoped twin of conftest's fixture
  return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), 'third_party', 'tensorflow_estimator_2_15', 'golden',
                      'custom_dnn')


def _estimator(model_dir, model_fn=custom_dnn.model_fn, **config_overrides):
  config = dict(custom_dnn.RUN_CONFIG_KWARGS)
  config.update(config_overrides)
  return tf.estimator.Estimator(
      model_fn=model_fn, model_dir=str(model_dir),
      config=tf.estimator.RunConfig(**config),
      params=dict(custom_dnn.PARAMS))


def _with_hooks(**hook_factories):
  """A model_fn: custom_dnn's, with EstimatorSpec hook fields filled in.

  Each keyword is an EstimatorSpec field (training_hooks, ...) mapped to a
  function (spec, mode) -> list of hooks, called inside the model graph; it is
  only used in the modes where that field means something.
  """
  modes = {'training_hooks': 'train', 'training_chief_hooks': 'train',
           'evaluation_hooks': 'eval', 'prediction_hooks': 'infer'}

  def model_fn(features, labels, mode, params):
    spec = custom_dnn.model_fn(features, labels, mode, params)
    updates = {field: make(spec, mode)
               for field, make in hook_factories.items()
               if modes[field] == mode}
    return spec._replace(**updates) if updates else spec

  return model_fn


def _logits_bias():
  return [v for v in _v1.global_variables()
          if v.name.startswith('custom_dnn/logits/bias')][0]


def _model_fn_with_snapshot(features, labels, mode, params):
  """custom_dnn.model_fn plus 'bias_snapshot:0', a batch-free tensor."""
  spec = custom_dnn.model_fn(features, labels, mode, params)
  tf.identity(_logits_bias(), name='bias_snapshot')
  return spec


def _event_tags(directory):
  """{tag: [steps]} over every event file directly in `directory`.

  A hook's `output_dir` writer (the v1 FileWriterCache's, which writes into
  the run's events file since install()) buffers; it is flushed first, so
  its last event is on disk.
  """
  cached = _v1.summary.FileWriterCache._cache.get(str(directory))  # pylint: disable=protected-access
  if cached is not None:
    cached.flush()
  tags = {}
  for path in sorted(glob.glob(os.path.join(directory,
                                            'events.out.tfevents.*'))):
    for event in _train.summary_iterator(path):
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  return {tag: sorted(steps) for tag, steps in tags.items()}


def _checkpoint_steps(directory):
  return sorted(int(p[len('model.ckpt-'):-len('.index')])
                for p in os.listdir(directory)
                if p.startswith('model.ckpt-') and p.endswith('.index'))


class LossRecorder(_train.SessionRunHook):
  """Records (pre-step global step, loss) of every training step."""

  def __init__(self, loss_name=custom_dnn.LOSS_TENSOR_NAME):
    self.values = []
    self._loss_name = loss_name

  def before_run(self, run_context):
    return _train.SessionRunArgs({'loss': self._loss_name,
                                  'step': _train.get_global_step()})

  def after_run(self, run_context, run_values):
    self.values.append((int(run_values.results['step']),
                        float(run_values.results['loss'])))


class StopAfter(_train.SessionRunHook):
  """Requests a stop from after_run once it has seen `n` steps."""

  def __init__(self, n):
    self.n = n
    self.seen = 0

  def after_run(self, run_context, run_values):
    self.seen += 1
    if self.seen >= self.n:
      run_context.request_stop()


class StopAtListener(custom_dnn.RecordingListener):
  """A RecordingListener whose after_save asks to stop at given steps."""

  def __init__(self, stop_at):
    super().__init__()
    self.stop_at = set(stop_at)

  def after_save(self, session, global_step_value):
    super().after_save(session, global_step_value)
    return global_step_value in self.stop_at


# ------------------------------------------- 1. golden RecordingHook sequences


def test_recording_hook_sequences_match_golden(tmp_path, golden):
  expected = golden['hook_sequences']
  est = _estimator(tmp_path / 'model')

  hook = custom_dnn.RecordingHook()
  est.train(custom_dnn.train_input_fn, max_steps=5, hooks=[hook])
  assert hook.events == expected['train_max_steps_5']

  hook = custom_dnn.RecordingHook()
  est.evaluate(custom_dnn.eval_input_fn, steps=3, hooks=[hook])
  assert hook.events == expected['evaluate_steps_3']

  hook = custom_dnn.RecordingHook()
  predictions = est.predict(custom_dnn.predict_input_fn, hooks=[hook])
  first = [next(predictions) for _ in range(3)]
  assert len(first) == 3 and set(first[0]) == {'logits', 'probability',
                                               'class_id'}
  assert hook.events == expected['predict_first_3_consumed']
  predictions.close()
  assert hook.events == expected['predict_first_3_then_close']

  hook = custom_dnn.RecordingHook()
  consumed = list(est.predict(custom_dnn.predict_input_fn, hooks=[hook]))
  assert len(consumed) == custom_dnn.N_PREDICT
  assert hook.events == expected['predict_fully_consumed']


def test_recording_hook_sequence_with_tensor_input_fn(tmp_path, golden):
  est = _estimator(tmp_path)
  hook = custom_dnn.RecordingHook()
  est.train(custom_dnn.tensor_train_input_fn, max_steps=5, hooks=[hook])
  assert hook.events == golden['hook_sequences'][
      'train_tensor_input_fn_max_steps_5']


# ------------------------------------------------------ 2. saving listeners


def test_main_train_run_hook_listener_and_summaries_match_golden(tmp_path,
                                                                 golden):
  hook = custom_dnn.RecordingHook()
  listener = custom_dnn.RecordingListener()
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn, max_steps=60, hooks=[hook],
            saving_listeners=[listener])
  assert listener.events == golden['listener_sequence']
  # Ours reads the global step before the train op, deterministically; the
  # golden run happened to show exactly the pre-step values as well.
  assert hook.events == golden['train_hook_sequence_main']
  assert _checkpoint_steps(tmp_path) == [20, 40, 60]
  assert os.path.basename(est.latest_checkpoint()) == golden[
      'latest_checkpoint']
  assert _event_tags(tmp_path) == golden['train_summaries']['tags']


@pytest.mark.parametrize('how', [{'steps': 40}, {'max_steps': 100}])
def test_continued_training_listener_matches_golden(tmp_path, golden_dir,
                                                    golden, how):
  model_dir = tmp_path / 'model'
  shutil.copytree(os.path.join(golden_dir, 'model_dir'), model_dir)
  expected = golden['continued_training']
  listener = custom_dnn.RecordingListener()
  est = _estimator(model_dir)
  est.train(custom_dnn.train_input_fn, saving_listeners=[listener], **how)
  assert listener.events == expected['listener_sequence']
  assert int(est.get_variable_value('global_step')) == expected['global_step']
  state = tf.train.get_checkpoint_state(str(model_dir))
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == (
      expected['kept_checkpoints'])
  # Sanity only (see the golden notes): same checkpoint, data and math.
  metrics = est.evaluate(custom_dnn.eval_input_fn)
  for key, value in expected['eval_metrics'].items():
    assert float(metrics[key]) == pytest.approx(value, rel=1e-3, abs=1e-4), key


def test_listener_after_save_true_stops_training_at_that_checkpoint(tmp_path):
  listener = StopAtListener([20])
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn, max_steps=60,
            saving_listeners=[listener])
  # Measured on 2.15.
  assert listener.events == ['begin', 'before_save:0', 'after_save:0',
                             'before_save:20', 'after_save:20', 'end:20']
  assert int(est.get_variable_value('global_step')) == 20
  assert os.path.basename(est.latest_checkpoint()) == 'model.ckpt-20'
  assert _checkpoint_steps(tmp_path) == [0, 20]


def test_listener_stop_request_at_initial_save_is_ignored(tmp_path):
  # Measured on 2.15: the step-0 save happens in after_create_session, whose
  # listener return values do not stop training.
  listener = StopAtListener([0])
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn, max_steps=60,
            saving_listeners=[listener])
  assert listener.events == [
      'begin', 'before_save:0', 'after_save:0', 'before_save:20',
      'after_save:20', 'before_save:40', 'after_save:40', 'before_save:60',
      'after_save:60', 'end:60']
  assert int(est.get_variable_value('global_step')) == 60


# ----------------------------------------------------- 3. TF's hook classes


def test_logging_tensor_hook_names_and_dicts_in_train(tmp_path, caplog):
  caplog.set_level(logging.INFO, logger='tensorflow')
  recorder = LossRecorder()
  formatted = []

  def formatter(values):
    formatted.append(dict(values))
    return 'FORMATTED %s' % sorted(values)

  by_name = _train.LoggingTensorHook([custom_dnn.LOSS_TENSOR_NAME],
                                     every_n_iter=2)
  by_dict = _train.LoggingTensorHook({'L': custom_dnn.LOSS_TENSOR_NAME},
                                     every_n_iter=3, formatter=formatter)
  in_spec = {}

  def spec_hooks(spec, mode):
    in_spec['hook'] = _train.LoggingTensorHook(
        {'loss': spec.loss, 'prob': spec.predictions['probability']},
        every_n_iter=4, formatter=lambda v: in_spec.setdefault(
            'values', []).append(dict(v)) or 'spec hook')
    return [in_spec['hook']]

  est = _estimator(tmp_path, model_fn=_with_hooks(training_hooks=spec_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=6,
            hooks=[recorder, by_name, by_dict])

  losses = dict(recorder.values)
  assert sorted(losses) == [0, 1, 2, 3, 4, 5]
  # The formatter sees the logged values (iterations 0 and 3).
  assert [set(v) for v in formatted] == [{'L'}, {'L'}]
  assert [float(v['L']) for v in formatted] == [losses[0], losses[3]]
  # Tensor-object dict: iterations 0 and 4.
  assert [float(v['loss']) for v in in_spec['values']] == [losses[0],
                                                           losses[4]]
  for values in in_spec['values']:
    prob = values['prob']
    assert prob.shape == (custom_dnn.BATCH_SIZE, 1)
    assert np.all((prob > 0) & (prob < 1))

  messages = [r.getMessage() for r in caplog.records
              if r.name == 'tensorflow']
  logged = [m for m in messages if m.startswith('loss_for_hooks:0 = ')]
  # Iterations 0, 2, 4; the first message measured on 2.15.
  assert len(logged) == 3
  assert logged[0] == 'loss_for_hooks:0 = 0.562001'
  for message, step in zip(logged, [0, 2, 4]):
    value = float(message.split(' = ')[1].split()[0])
    assert value == pytest.approx(losses[step], rel=1e-5)
  assert logged[1].endswith(' sec)')
  assert messages.count("FORMATTED ['L']") == 2
  assert messages.count('spec hook') == 2


def test_logging_tensor_hook_dict_with_variables(tmp_path):
  # Measured on 2.15: variables (the global step, model weights) can be
  # logged like tensors.
  logged = []

  def training_hooks(spec, mode):
    return [_train.LoggingTensorHook(
        {'loss': spec.loss, 'step': _train.get_global_step(),
         'bias': _logits_bias()},
        every_n_iter=2, formatter=lambda v: logged.append(dict(v)) or 'x')]

  recorder = LossRecorder()
  est = _estimator(tmp_path, model_fn=_with_hooks(
      training_hooks=training_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=3, hooks=[recorder])
  losses = dict(recorder.values)
  assert [int(v['step']) for v in logged] == [0, 2]
  assert [float(v['loss']) for v in logged] == [losses[0], losses[2]]
  np.testing.assert_array_equal(logged[0]['bias'], [0.0])
  assert logged[1]['bias'].shape == (1,) and logged[1]['bias'][0] != 0.0


def test_logging_tensor_hook_in_evaluate_and_predict(tmp_path, caplog):
  caplog.set_level(logging.INFO, logger='tensorflow')
  seen = {}

  def prediction_hooks(spec, mode):
    return [_train.LoggingTensorHook(
        {'p': spec.predictions['probability']}, every_n_iter=1,
        formatter=lambda v: seen.setdefault('p', []).append(v['p']) or 'pred')]

  est = _estimator(tmp_path,
                   model_fn=_with_hooks(prediction_hooks=prediction_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=3)
  est.evaluate(custom_dnn.eval_input_fn, steps=2, hooks=[
      _train.LoggingTensorHook({'L': custom_dnn.LOSS_TENSOR_NAME},
                               every_n_iter=1)])
  messages = [r.getMessage() for r in caplog.records
              if r.name == 'tensorflow']
  # Measured on 2.15 (same 3-step model, first two eval batches).
  assert [m for m in messages if m.startswith('L = ')][:1] == [
      'L = 0.55095667']
  second = [m for m in messages if m.startswith('L = ')][1]
  assert second.startswith('L = 0.54412043 (')

  predictions = list(est.predict(custom_dnn.predict_input_fn))
  assert len(seen['p']) == 1  # one batch of 16
  np.testing.assert_allclose(
      seen['p'][0][:, 0], [p['probability'][0] for p in predictions],
      rtol=1e-6)


def test_stop_at_step_hook_num_steps_and_last_step(tmp_path):
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn,
            hooks=[_train.StopAtStepHook(num_steps=3)])
  assert int(est.get_variable_value('global_step')) == 3
  est.train(custom_dnn.train_input_fn,
            hooks=[_train.StopAtStepHook(last_step=7)])
  assert int(est.get_variable_value('global_step')) == 7
  est.train(custom_dnn.train_input_fn,
            hooks=[_train.StopAtStepHook(num_steps=2)], max_steps=100)
  assert int(est.get_variable_value('global_step')) == 9
  est.train(custom_dnn.train_input_fn,
            hooks=[_train.StopAtStepHook(last_step=20)], steps=3)
  assert int(est.get_variable_value('global_step')) == 12
  # Measured on 2.15: a final checkpoint per call, keep_checkpoint_max=3.
  assert _checkpoint_steps(tmp_path) == [7, 9, 12]


def test_user_checkpoint_saver_hook_with_listeners(tmp_path):
  model_dir = str(tmp_path)
  hook_listener = custom_dnn.RecordingListener()
  saving_listener = custom_dnn.RecordingListener()
  est = _estimator(model_dir, save_checkpoints_steps=5, keep_checkpoint_max=10)
  hook = _train.CheckpointSaverHook(model_dir, save_steps=7,
                                    listeners=[hook_listener])
  est.train(custom_dnn.train_input_fn, max_steps=16, hooks=[hook],
            saving_listeners=[saving_listener])
  # Measured on 2.15: saving_listeners join the user's hook; the Estimator
  # adds no saver of its own (no checkpoints at 5, 10, 15).
  expected = ['begin', 'before_save:0', 'after_save:0', 'before_save:7',
              'after_save:7', 'before_save:14', 'after_save:14',
              'before_save:16', 'after_save:16', 'end:16']
  assert hook_listener.events == expected
  assert saving_listener.events == expected
  assert _checkpoint_steps(model_dir) == [0, 7, 14, 16]
  for step in (0, 7, 14, 16):
    assert os.path.exists(os.path.join(
        model_dir, 'model.ckpt-%d.data-00000-of-00001' % step))
  state = tf.train.get_checkpoint_state(model_dir)
  assert os.path.basename(state.model_checkpoint_path) == 'model.ckpt-16'
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      'model.ckpt-0', 'model.ckpt-7', 'model.ckpt-14', 'model.ckpt-16']
  reader = tf.train.load_checkpoint(os.path.join(model_dir, 'model.ckpt-7'))
  assert int(reader.get_tensor('global_step')) == 7
  assert int(est.get_variable_value('global_step')) == 16


def test_user_checkpoint_saver_hook_into_another_directory(tmp_path):
  model_dir, other = str(tmp_path / 'model'), str(tmp_path / 'other')
  listener = custom_dnn.RecordingListener()
  est = _estimator(model_dir)
  est.train(custom_dnn.train_input_fn, max_steps=16, hooks=[
      _train.CheckpointSaverHook(other, save_steps=7, listeners=[listener])])
  # Measured on 2.15: only the hook's directory gets checkpoints, and
  # graph.pbtxt (the TF1 graph, its variables VarHandleOps).
  assert listener.events[-1] == 'end:16'
  assert _checkpoint_steps(other) == [7, 14, 16]  # keep_checkpoint_max=3
  assert _checkpoint_steps(model_dir) == []
  assert tf.train.latest_checkpoint(other).endswith('model.ckpt-16')
  assert not os.path.exists(os.path.join(model_dir, 'graph.pbtxt'))
  with open(os.path.join(other, 'graph.pbtxt')) as f:
    assert 'op: "VarHandleOp"' in f.read()


def test_step_counter_hook_writes_steps_per_sec(tmp_path):
  model_dir, out = str(tmp_path / 'model'), str(tmp_path / 'counter')
  est = _estimator(model_dir)
  est.train(custom_dnn.train_input_fn, max_steps=7,
            hooks=[_train.StepCounterHook(every_n_steps=2, output_dir=out)])
  # Measured on 2.15.
  assert _event_tags(out) == {'global_step/sec': [3, 5, 7]}
  assert _event_tags(model_dir) == {'train_accuracy_batch': [1], 'loss': [1]}


def test_step_counter_hook_into_model_dir(tmp_path):
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn, max_steps=7, hooks=[
      _train.StepCounterHook(every_n_steps=2, output_dir=str(tmp_path))])
  # Measured on 2.15 (there: one event file).
  assert _event_tags(tmp_path) == {'train_accuracy_batch': [1], 'loss': [1],
                                   'global_step/sec': [3, 5, 7]}


def test_summary_saver_hook_from_model_fn(tmp_path):
  out = str(tmp_path / 'summaries')

  def training_hooks(spec, mode):
    return [_train.SummarySaverHook(save_steps=3, output_dir=out,
                                    summary_op=_v1.summary.merge_all())]

  est = _estimator(tmp_path / 'model',
                   model_fn=_with_hooks(training_hooks=training_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=7)
  # Measured on 2.15: the merge_all() of model_fn time has no 'loss' yet.
  assert _event_tags(out) == {'train_accuracy_batch': [1, 4, 7]}
  values = [v.simple_value
            for path in glob.glob(os.path.join(out, 'events.out.tfevents.*'))
            for e in _train.summary_iterator(path) for v in e.summary.value]
  assert all(0.0 <= v <= 1.0 for v in values)


def _nan_model_fn(features, labels, mode, params):
  """Training loss becomes NaN (with NaN gradients) from global step 4 on."""
  spec = custom_dnn.model_fn(features, labels, mode, params)
  if mode != tf.estimator.ModeKeys.TRAIN:
    return spec
  global_step = _train.get_global_step()
  factor = tf.where(global_step >= 4, np.float32('nan'), np.float32(1.0))
  loss = tf.identity(spec.loss * factor, name='nan_loss')
  train_op = _train.GradientDescentOptimizer(0.1).minimize(
      loss, global_step=global_step)
  return spec._replace(loss=loss, train_op=train_op)


@pytest.mark.parametrize('with_hook', [True, False])
def test_nan_loss_raises_and_keeps_last_checkpoint_restorable(tmp_path,
                                                             with_hook):
  est = _estimator(tmp_path, model_fn=_nan_model_fn, save_checkpoints_steps=2)
  hooks = [_train.NanTensorHook('nan_loss:0')] if with_hook else None
  with pytest.raises(_train.NanLossDuringTrainingError):
    est.train(custom_dnn.train_input_fn, max_steps=20, hooks=hooks)
  # Measured on 2.15 (both ways): the NaN step (4 -> 5) is not checkpointed.
  assert os.path.basename(est.latest_checkpoint()) == 'model.ckpt-4'
  reader = tf.train.load_checkpoint(est.latest_checkpoint())
  for name in reader.get_variable_to_shape_map():
    assert np.all(np.isfinite(reader.get_tensor(name))), name
  metrics = est.evaluate(custom_dnn.eval_input_fn, steps=1)
  assert int(metrics['global_step']) == 4
  assert np.isfinite(metrics['loss'])


class _Named(_train.SessionRunHook):
  """Logs `HOOK <name>` in after_run, on the tensorflow logger."""

  def __init__(self, name):
    self.name = name

  def after_run(self, run_context, run_values):
    _v1.logging.info('HOOK %s', self.name)


def _order(caplog):
  lines = []
  for record in caplog.records:
    message = record.getMessage()
    if message.startswith('HOOK '):
      lines.append(message[len('HOOK '):])
    elif message.startswith('loss = '):
      lines.append('loss')
    elif message.startswith('global_step/sec: '):
      lines.append('rate')
  return lines


def test_built_in_duties_stand_among_hooks_as_2_15s(tmp_path, caplog):
  """2.15's after_run order: training_chief_hooks, StepCounterHook, the
  caller's hooks, NanTensorHook and the loss log, the spec's training_hooks.

  Measured on 2.15 (3 steps, log_step_count_steps=2): chief, user, loss,
  spec; chief, user, spec; chief, rate, user, loss, spec.
  """
  model_fn = _with_hooks(
      training_hooks=lambda spec, mode: [_Named('spec')],
      training_chief_hooks=lambda spec, mode: [_Named('chief')])
  est = _estimator(tmp_path, model_fn=model_fn, log_step_count_steps=2)
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    est.train(custom_dnn.train_input_fn, steps=3, hooks=[_Named('user')])
  assert _order(caplog) == ['chief', 'user', 'loss', 'spec',
                            'chief', 'user', 'spec',
                            'chief', 'rate', 'user', 'loss', 'spec']


def test_nan_loss_ends_the_step_before_the_specs_hooks(tmp_path, caplog):
  """2.15's NanTensorHook raised after the caller's hooks' after_run, so the
  model_fn's training_hooks never saw the NaN step (measured: chief, user)."""
  model_fn = _with_hooks(
      training_hooks=lambda spec, mode: [_Named('spec')],
      training_chief_hooks=lambda spec, mode: [_Named('chief')])

  def nan_from_start(features, labels, mode, params):
    spec = model_fn(features, labels, mode, params)
    if mode != tf.estimator.ModeKeys.TRAIN:
      return spec
    return spec._replace(loss=spec.loss * np.float32('nan'))

  est = _estimator(tmp_path, model_fn=nan_from_start)
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    with pytest.raises(_train.NanLossDuringTrainingError):
      est.train(custom_dnn.train_input_fn, steps=3, hooks=[_Named('user')])
  assert _order(caplog) == ['chief', 'user']


def test_final_ops_hook_in_evaluate_and_train(tmp_path):
  hooks = {}

  def evaluation_hooks(spec, mode):
    hooks['eval'] = _train.FinalOpsHook({
        'acc': spec.eval_metric_ops['accuracy'][0],
        'step': _train.get_global_step(),
        'nested': [spec.eval_metric_ops['auc'][0]]})
    return [hooks['eval']]

  def training_hooks(spec, mode):
    hooks['train'] = _train.FinalOpsHook(
        [_train.get_global_step(), _logits_bias()])
    return [hooks['train']]

  est = _estimator(tmp_path, model_fn=_with_hooks(
      evaluation_hooks=evaluation_hooks, training_hooks=training_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=5)
  step, bias = hooks['train'].final_ops_values
  assert int(step) == 5
  np.testing.assert_array_equal(
      bias, est.get_variable_value('custom_dnn/logits/bias'))

  metrics = est.evaluate(custom_dnn.eval_input_fn, steps=2)
  final = hooks['eval'].final_ops_values
  # Measured on 2.15: accuracy 0.734375, auc 0.8413414 at step 5.
  assert float(final['acc']) == metrics['accuracy'] == 0.734375
  assert float(final['nested'][0]) == pytest.approx(0.8413414, rel=1e-6)
  assert float(final['nested'][0]) == metrics['auc']
  assert int(final['step']) == 5


_PLACEHOLDERS = {}


def _placeholder_input_fn():
  x = _v1.placeholder(tf.float32, [None, 4], name='x_ph')
  cat = _v1.placeholder(tf.int64, [None, 1], name='cat_ph')
  y = _v1.placeholder(tf.int32, [None, 1], name='y_ph')
  _PLACEHOLDERS.update(x=x, cat=cat, y=y)
  return {'x': x, 'cat': cat}, y


@pytest.mark.parametrize('keys', ['tensors', 'names'])
def test_feed_fn_hook_feeds_input_fn_placeholders(tmp_path, keys):
  features, labels = custom_dnn.make_data(64, 5)
  calls = []

  def feed_fn():
    s = slice(32 * (len(calls) % 2), 32 * (len(calls) % 2) + 32)
    calls.append(s)
    values = (features['x'][s], features['cat'][s], labels[s])
    if keys == 'names':
      return dict(zip(['x_ph:0', 'cat_ph:0', 'y_ph:0'], values))
    return dict(zip([_PLACEHOLDERS[k] for k in ('x', 'cat', 'y')], values))

  fed = LossRecorder()
  est = _estimator(tmp_path / 'fed')
  est.train(_placeholder_input_fn, max_steps=4,
            hooks=[_train.FeedFnHook(feed_fn), fed])
  assert len(calls) == 4  # measured on 2.15: once per step
  assert int(est.get_variable_value('global_step')) == 4

  # The same batches from a Dataset give the same losses.
  def dataset_input_fn():
    return tf.data.Dataset.from_tensor_slices(
        (features, labels)).batch(32).repeat()

  reference = LossRecorder()
  _estimator(tmp_path / 'ds').train(dataset_input_fn, max_steps=4,
                                    hooks=[reference])
  assert [s for s, _ in fed.values] == [0, 1, 2, 3]
  np.testing.assert_allclose([l for _, l in fed.values],
                             [l for _, l in reference.values], rtol=1e-6)


def test_global_step_waiter_hook(tmp_path):
  est = _estimator(tmp_path)
  recorder = LossRecorder()
  est.train(custom_dnn.train_input_fn, max_steps=3, hooks=[
      _train.GlobalStepWaiterHook(wait_until_step=0), recorder])
  assert [s for s, _ in recorder.values] == [0, 1, 2]
  # Already past the step to wait for: starts at once.
  est.train(custom_dnn.train_input_fn, max_steps=6,
            hooks=[_train.GlobalStepWaiterHook(wait_until_step=2)])
  assert int(est.get_variable_value('global_step')) == 6


def test_profiler_hook_writes_timeline_files(tmp_path):
  out = str(tmp_path / 'profile')

  def training_hooks(spec, mode):
    # ProfilerHook opens a v1 FileWriter in __init__, which needs graph mode
    # (true on 2.15 as well), hence it is built in model_fn.
    return [_train.ProfilerHook(save_steps=2, output_dir=out)]

  est = _estimator(tmp_path / 'model',
                   model_fn=_with_hooks(training_hooks=training_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=5)
  assert int(est.get_variable_value('global_step')) == 5
  files = sorted(os.listdir(out))
  # Same timeline file names as 2.15. There is no v1 step_stats to trace
  # here, so the traces hold (almost) no events, but they are valid JSON.
  assert [f for f in files if f.startswith('timeline-')] == [
      'timeline-2.json', 'timeline-4.json']
  for name in ('timeline-2.json', 'timeline-4.json'):
    with open(os.path.join(out, name)) as f:
      trace = json.load(f)
    assert isinstance(trace['traceEvents'], list)


# --------------------------------- 4. session.run in hooks, stops, spec hooks


class SessionFetchHook(_train.SessionRunHook):
  """session.run of nested structures in after_create_session and end."""

  def __init__(self):
    self.at_create = None
    self.at_end = None

  def _fetch(self, session):
    step = _train.get_global_step()
    return session.run({'a': [step, 'bias_snapshot:0'], 'v': _logits_bias(),
                        't': (step,), 'n': step})

  def after_create_session(self, session, coord):
    assert isinstance(coord, _train.Coordinator)
    self.at_create = self._fetch(session)

  def end(self, session):
    self.at_end = self._fetch(session)


def _assert_fetched(values, step, bias):
  assert set(values) == {'a', 'v', 't', 'n'}
  assert isinstance(values['a'], list) and isinstance(values['t'], tuple)
  assert int(values['a'][0]) == int(values['t'][0]) == int(values['n']) == step
  assert isinstance(values['a'][1], np.ndarray)
  np.testing.assert_array_equal(values['a'][1], bias)
  np.testing.assert_array_equal(values['v'], bias)


def test_session_run_in_after_create_session_and_end(tmp_path):
  est = _estimator(tmp_path, model_fn=_model_fn_with_snapshot)
  hook = SessionFetchHook()
  est.train(custom_dnn.train_input_fn, max_steps=4, hooks=[hook])
  bias = est.get_variable_value('custom_dnn/logits/bias')
  _assert_fetched(hook.at_create, 0, np.zeros([1], np.float32))
  _assert_fetched(hook.at_end, 4, bias)
  assert not np.array_equal(bias, np.zeros([1], np.float32))

  hook = SessionFetchHook()
  est.evaluate(custom_dnn.eval_input_fn, steps=2, hooks=[hook])
  _assert_fetched(hook.at_create, 4, bias)
  _assert_fetched(hook.at_end, 4, bias)

  hook = SessionFetchHook()
  list(est.predict(custom_dnn.predict_input_fn, hooks=[hook]))
  _assert_fetched(hook.at_create, 4, bias)
  _assert_fetched(hook.at_end, 4, bias)


def test_request_stop_ends_train_evaluate_and_predict(tmp_path):
  listener = custom_dnn.RecordingListener()
  est = _estimator(tmp_path)
  est.train(custom_dnn.train_input_fn, max_steps=50, hooks=[StopAfter(3)],
            saving_listeners=[listener])
  # Measured on 2.15: a final checkpoint at the stop.
  assert int(est.get_variable_value('global_step')) == 3
  assert listener.events == ['begin', 'before_save:0', 'after_save:0',
                             'before_save:3', 'after_save:3', 'end:3']
  assert os.path.basename(est.latest_checkpoint()) == 'model.ckpt-3'

  stopper = StopAfter(2)
  recorder = custom_dnn.RecordingHook()
  est.evaluate(custom_dnn.eval_input_fn, hooks=[stopper, recorder])
  assert stopper.seen == 2
  assert recorder.events.count('after_run:3') == 2
  assert recorder.events[-1] == 'end'

  stopper = StopAfter(1)
  predictions = list(est.predict(custom_dnn.predict_input_fn,
                                 hooks=[stopper]))
  assert stopper.seen == 1
  assert len(predictions) == custom_dnn.N_PREDICT  # the whole first batch


def test_estimator_spec_hooks_are_called(tmp_path):
  recorders = {}

  def make(name):
    def factory(spec, mode):
      recorders[name] = custom_dnn.RecordingHook()
      return [recorders[name]]
    return factory

  est = _estimator(tmp_path, model_fn=_with_hooks(
      training_hooks=make('train'), training_chief_hooks=make('chief'),
      evaluation_hooks=make('eval'), prediction_hooks=make('predict')))
  user = custom_dnn.RecordingHook()
  est.train(custom_dnn.train_input_fn, max_steps=2, hooks=[user])
  est.evaluate(custom_dnn.eval_input_fn, steps=1)
  list(est.predict(custom_dnn.predict_input_fn))
  train_events = ['begin', 'after_create_session', 'before_run',
                  'after_run:0', 'before_run', 'after_run:1', 'end']
  # Measured on 2.15.
  assert user.events == train_events
  assert recorders['train'].events == train_events
  assert recorders['chief'].events == train_events
  assert recorders['eval'].events == ['begin', 'after_create_session',
                                      'before_run', 'after_run:2', 'end']
  assert recorders['predict'].events == [
      'begin', 'after_create_session', 'before_run', 'after_run:2',
      'before_run', 'end']


def test_spec_hooks_without_user_hooks_run_per_step(tmp_path):
  recorders = {}

  def training_hooks(spec, mode):
    recorders['train'] = custom_dnn.RecordingHook()
    return [recorders['train']]

  est = _estimator(tmp_path, model_fn=_with_hooks(
      training_hooks=training_hooks))
  est.train(custom_dnn.train_input_fn, max_steps=3)
  assert recorders['train'].events == [
      'begin', 'after_create_session', 'before_run', 'after_run:0',
      'before_run', 'after_run:1', 'before_run', 'after_run:2', 'end']


class _OrderHook(_train.SessionRunHook):

  def __init__(self, name, log):
    self.name = name
    self.log = log

  def begin(self):
    self.log.append(self.name)


def test_hook_call_order_chief_user_training(tmp_path):
  log = []

  def model_fn(features, labels, mode, params):
    spec = custom_dnn.model_fn(features, labels, mode, params)
    return spec._replace(training_hooks=[_OrderHook('training', log)],
                         training_chief_hooks=[_OrderHook('chief', log)])

  est = _estimator(tmp_path, model_fn=model_fn)
  est.train(custom_dnn.train_input_fn, max_steps=1,
            hooks=[_OrderHook('user', log)])
  # Measured on 2.15: MonitoredTrainingSession puts chief-only hooks first.
  assert log == ['chief', 'user', 'training']


# ------------------------------------------------ 5. SessionRunArgs fetches


class FetchStructureHook(_train.SessionRunHook):

  def __init__(self):
    self.results = []

  def before_run(self, run_context):
    graph = _v1.get_default_graph()
    loss = graph.get_tensor_by_name(custom_dnn.LOSS_TENSOR_NAME)
    return _train.SessionRunArgs({
        'op': graph.get_operation_by_name('loss_for_hooks'),
        'op_name': 'loss_for_hooks',
        'names': [custom_dnn.LOSS_TENSOR_NAME, 'bias_snapshot:0'],
        'nested': {'a': (_train.get_global_step(), [loss])},
    })

  def after_run(self, run_context, run_values):
    self.results.append(run_values.results)


def test_session_run_args_fetch_structures(tmp_path):
  hook = FetchStructureHook()
  recorder = LossRecorder()
  est = _estimator(tmp_path, model_fn=_model_fn_with_snapshot)
  est.train(custom_dnn.train_input_fn, max_steps=2, hooks=[hook, recorder])
  assert len(hook.results) == 2
  for step, (result, (rec_step, rec_loss)) in enumerate(
      zip(hook.results, recorder.values)):
    assert set(result) == {'op', 'op_name', 'names', 'nested'}
    assert result['op'] is None and result['op_name'] is None
    assert isinstance(result['names'], list) and len(result['names']) == 2
    loss, bias = result['names']
    assert isinstance(loss, np.float32) and float(loss) == rec_loss
    assert isinstance(bias, np.ndarray) and bias.shape == (1,)
    assert bias.dtype == np.float32
    assert set(result['nested']) == {'a'}
    a = result['nested']['a']
    assert isinstance(a, tuple) and len(a) == 2
    assert int(a[0]) == step == rec_step
    assert isinstance(a[1], list) and float(a[1][0]) == rec_loss
  # Measured on 2.15: the second step's values.
  assert float(hook.results[1]['names'][0]) == pytest.approx(0.54608226,
                                                             rel=1e-6)
  # A variable read in the same run as the train op: 2.15 left its order
  # to chance (pre- or post-update value), so only its type is checked.
  assert all(np.all(np.isfinite(r['names'][1])) for r in hook.results)


def test_session_run_args_in_evaluate_and_predict(tmp_path):

  class EvalFetch(_train.SessionRunHook):

    def __init__(self, fetches):
      self.fetches = fetches
      self.results = []

    def before_run(self, run_context):
      return _train.SessionRunArgs(self.fetches)

    def after_run(self, run_context, run_values):
      self.results.append(run_values.results)

  est = _estimator(tmp_path, model_fn=_model_fn_with_snapshot)
  est.train(custom_dnn.train_input_fn, max_steps=2)
  eval_hook = EvalFetch({'loss': [custom_dnn.LOSS_TENSOR_NAME],
                         'bias': ('bias_snapshot:0',)})
  est.evaluate(custom_dnn.eval_input_fn, steps=2, hooks=[eval_hook])
  assert len(eval_hook.results) == 2
  bias = est.get_variable_value('custom_dnn/logits/bias')
  for result in eval_hook.results:
    assert isinstance(result['loss'], list) and np.isfinite(result['loss'][0])
    assert isinstance(result['bias'], tuple)
    np.testing.assert_array_equal(result['bias'][0], bias)
  assert eval_hook.results[0]['loss'][0] != eval_hook.results[1]['loss'][0]

  predict_hook = EvalFetch(['Sigmoid:0', {'b': 'bias_snapshot:0'}])
  predictions = list(est.predict(custom_dnn.predict_input_fn,
                                 hooks=[predict_hook]))
  assert len(predict_hook.results) == 1
  probabilities, extra = predict_hook.results[0]
  assert probabilities.shape == (custom_dnn.N_PREDICT, 1)
  np.testing.assert_allclose(probabilities[:, 0],
                             [p['probability'][0] for p in predictions])
  np.testing.assert_array_equal(extra['b'], bias)
