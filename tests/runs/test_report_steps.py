"""The step that logs the loss, writes summaries or a known hook wants runs compiled.

Such a step ends the compiled loop of the steps before it
(`TrainLoop._run_compiled`). Each scenario trains twice: as is, and
with a hook unknown to the schedule, which sends every step through the
hook protocol one by one (the path checked against 2.15 elsewhere). Both
must log, write summaries, checkpoint, stop and fail identically.
"""

import glob
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn
from tfcompat_estimator.runs import training

_train = tf.compat.v1.train


class _SeesEveryStep(_train.SessionRunHook):
  """Does nothing, but overrides before_run: the schedule must show it every step."""

  def before_run(self, run_context):
    return None


class _SingleSteps:
  """Counts the steps run one by one through the hook protocol."""

  def __init__(self, monkeypatch):
    self.count = 0
    original = training.TrainLoop._run_single

    def counting(loop, step):
      self.count += 1
      return original(loop, step)

    monkeypatch.setattr(training.TrainLoop, '_run_single', counting)


def _nan_from_step_10(features, labels, mode, params):
  spec = custom_dnn.model_fn(features, labels, mode, params)
  if mode != tf.estimator.ModeKeys.TRAIN:
    return spec
  global_step = _train.get_global_step()
  loss = spec.loss * tf.where(global_step >= 10, np.float32('nan'), np.float32(1.0))
  return spec._replace(loss=loss, train_op=_train.GradientDescentOptimizer(0.1).minimize(
      loss, global_step=global_step))


def _finite_input_fn():  # 16 batches
  return custom_dnn.train_input_fn().take(custom_dnn.N_TRAIN // custom_dnn.BATCH_SIZE)


def _run(model_dir, caplog, every, hooks=(), model_fn=custom_dnn.model_fn,
         input_fn=custom_dnn.train_input_fn, steps=35, save_checkpoints_steps=None):
  config = tf.estimator.RunConfig(
      tf_random_seed=3, log_step_count_steps=every, save_summary_steps=every,
      save_checkpoints_steps=save_checkpoints_steps,
      save_checkpoints_secs=None if save_checkpoints_steps else 600)
  est = tf.estimator.Estimator(model_fn, model_dir=str(model_dir),
                               params=dict(custom_dnn.PARAMS), config=config)
  caplog.clear()
  error = None
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    try:
      est.train(input_fn, steps=steps, hooks=list(hooks))
    except _train.NanLossDuringTrainingError as e:
      error = type(e)
  # In order; elapsed-time suffixes and directories differ from run to run.
  logged = [r.getMessage().split(' (')[0].split(' into ')[0] for r in caplog.records
            if r.getMessage().startswith(('loss = ', 'loss_for_hooks', 'Saving'))]
  summaries = sorted(
      (e.step, v.tag, v.simple_value)
      for path in glob.glob(os.path.join(str(model_dir), 'events.out.tfevents.*'))
      for e in _train.summary_iterator(path) for v in e.summary.value
      if v.tag != 'global_step/sec')
  checkpoints = {}
  for path in tf.train.get_checkpoint_state(str(model_dir)).all_model_checkpoint_paths:
    reader = tf.train.load_checkpoint(path)
    checkpoints[os.path.basename(path)] = {
        name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
  return dict(error=error, logged=logged, summaries=summaries, checkpoints=checkpoints)


def _assert_same(fused, single):
  assert fused['error'] == single['error']
  assert fused['logged'] == single['logged']
  assert [s[:2] for s in fused['summaries']] == [s[:2] for s in single['summaries']]
  np.testing.assert_allclose([s[2] for s in fused['summaries']],
                             [s[2] for s in single['summaries']], rtol=1e-6)
  assert fused['checkpoints'].keys() == single['checkpoints'].keys()
  for name, values in fused['checkpoints'].items():
    assert values.keys() == single['checkpoints'][name].keys()
    for key, value in values.items():
      np.testing.assert_allclose(value, single['checkpoints'][name][key], rtol=1e-6,
                                 err_msg=f'{name} {key}')


def _logging_hook(every_n_iter):
  return lambda: [_train.LoggingTensorHook([custom_dnn.LOSS_TENSOR_NAME],
                                           every_n_iter=every_n_iter)]


SCENARIOS = {
    'reports every 10 steps': dict(every=10),
    'checkpoint due just before a report step': dict(every=10, save_checkpoints_steps=10),
    'checkpoints between report steps': dict(every=10, save_checkpoints_steps=4),
    'checkpoint due just after a report step': dict(every=10, save_checkpoints_steps=11),
    'end of input at a report step': dict(every=8, input_fn=_finite_input_fn),
    'end of input between report steps': dict(every=5, input_fn=_finite_input_fn),
    'loss becomes NaN at a report step': dict(every=10, model_fn=_nan_from_step_10,
                                              save_checkpoints_steps=4),
    'a LoggingTensorHook on the report steps': dict(every=10, hooks=_logging_hook(10)),
    'a LoggingTensorHook between report steps': dict(every=10, hooks=_logging_hook(7)),
    'loss becomes NaN at a hook step': dict(every=4, hooks=_logging_hook(5),
                                            model_fn=_nan_from_step_10),
    'a StopAtStepHook': dict(every=10, hooks=lambda: [_train.StopAtStepHook(num_steps=23)]),
}


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_report_steps_run_compiled_with_unchanged_results(tmp_path, caplog, monkeypatch,
                                                          scenario):
  kwargs = dict(SCENARIOS[scenario])
  make_hooks = kwargs.pop('hooks', list)
  single_steps = _SingleSteps(monkeypatch)
  fused = _run(tmp_path / 'fused', caplog, hooks=make_hooks(), **kwargs)
  assert single_steps.count == 0
  single = _run(tmp_path / 'single', caplog, hooks=make_hooks() + [_SeesEveryStep()],
                **kwargs)
  assert single_steps.count > 0
  assert any(m.startswith('loss = ') for m in fused['logged'])
  _assert_same(fused, single)


def test_nan_at_a_report_step_raises_and_is_not_checkpointed(tmp_path, caplog):
  run = _run(tmp_path, caplog, **SCENARIOS['loss becomes NaN at a report step'])
  assert run['error'] is _train.NanLossDuringTrainingError
  assert sorted(run['checkpoints']) == ['model.ckpt-0', 'model.ckpt-4', 'model.ckpt-8']
  assert [m for m in run['logged'] if m.startswith('loss = ')][-1].endswith(
      'step = 0')  # step 10's loss is never logged


def test_end_of_input_at_a_report_step_counts_every_batch(tmp_path, caplog):
  run = _run(tmp_path, caplog, **SCENARIOS['end of input at a report step'])
  assert [m.split('step = ')[1] for m in run['logged'] if m.startswith('loss = ')] == [
      '0', '8']
  assert list(run['checkpoints']) == ['model.ckpt-0', 'model.ckpt-16']
