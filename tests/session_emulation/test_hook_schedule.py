"""Known hooks let the steps they ignore run compiled, without changing what they see.

Each scenario trains twice: with TF's hook as is (steps between its triggers
run in bulk) and with a subclass that overrides `after_run` with the same
behaviour (unknown to the schedule, so it sees every step, as under 2.15).
Both must log, stop and record identically.
"""

import logging
import time
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn
from tfcompat_estimator.runs import training
from tfcompat_estimator.session_emulation import hook_schedule
from tfcompat_estimator.session_emulation import hooked_step

_train = tf.compat.v1.train


class _SeesEveryStep(_train.LoggingTensorHook):
  """Same behaviour; overriding after_run makes it unknown to the schedule."""

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


class _StopSeesEveryStep(_train.StopAtStepHook):

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


def _estimator(model_dir, model_fn=custom_dnn.model_fn):
  return tf.estimator.Estimator(
      model_fn, model_dir=str(model_dir), params=dict(custom_dnn.PARAMS),
      # Checkpoints only at start and end; no built-in per-step work.
      config=tf.estimator.RunConfig(tf_random_seed=3, save_checkpoints_steps=10000,
                                    log_step_count_steps=None, save_summary_steps=None))


class _StepCounter:
  """Counts the steps hooks see, and those run on their own (not compiled)."""

  def __init__(self, monkeypatch):
    self.seen = 0
    self.single = 0
    begin = hooked_step.HookedStep.__init__
    run_single = training.TrainLoop._run_single

    def seen(*args, **kwargs):
      self.seen += 1
      return begin(*args, **kwargs)

    def single(loop, step):
      self.single += 1
      return run_single(loop, step)

    monkeypatch.setattr(hooked_step.HookedStep, '__init__', seen)
    monkeypatch.setattr(training.TrainLoop, '_run_single', single)


def _logged_losses(caplog, est, hook, steps):
  caplog.clear()
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    est.train(custom_dnn.train_input_fn, steps=steps, hooks=[hook])
  return [r.getMessage() for r in caplog.records if r.getMessage().startswith('loss_for_hooks')]


def test_logging_hook_logs_the_same_steps_and_values_with_bulk_steps(tmp_path, caplog, monkeypatch):
  counter = _StepCounter(monkeypatch)
  fast = _logged_losses(caplog, _estimator(tmp_path / 'a'), _train.LoggingTensorHook(
      [custom_dnn.LOSS_TENSOR_NAME], every_n_iter=7), 30)
  # The hook sees only its own steps, each ending a compiled call.
  assert (counter.seen, counter.single) == (5, 0)
  slow = _logged_losses(caplog, _estimator(tmp_path / 'b'), _SeesEveryStep(
      [custom_dnn.LOSS_TENSOR_NAME], every_n_iter=7), 30)
  assert len(fast) == 5  # iterations 0, 7, 14, 21, 28
  # Same tensor values at the same iterations; elapsed-time suffixes differ.
  assert [m.split(' (')[0] for m in fast] == [m.split(' (')[0] for m in slow]
  assert (counter.seen, counter.single) == (35, 30)


def test_stop_at_step_hook_stops_at_the_same_step(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  fast, slow = _estimator(tmp_path / 'a'), _estimator(tmp_path / 'b')
  fast.train(custom_dnn.train_input_fn, steps=100, hooks=[_train.StopAtStepHook(num_steps=23)])
  # It sees only the step after which it requests the stop.
  assert (counter.seen, counter.single) == (1, 0)
  slow.train(custom_dnn.train_input_fn, steps=100, hooks=[_StopSeesEveryStep(num_steps=23)])
  assert fast.get_variable_value('global_step') == slow.get_variable_value('global_step') == 23
  assert (fast.get_variable_value('custom_dnn/logits/kernel') ==
          pytest.approx(slow.get_variable_value('custom_dnn/logits/kernel')))


def test_hook_acting_only_at_begin_and_end_allows_bulk_steps(tmp_path, monkeypatch):
  events = []

  class EndOnly(_train.SessionRunHook):

    def begin(self):
      events.append('begin')

    def end(self, session):
      events.append(('end', int(session.run(_train.get_global_step()))))

  counter = _StepCounter(monkeypatch)
  _estimator(tmp_path).train(custom_dnn.train_input_fn, steps=40, hooks=[EndOnly()])
  assert events == ['begin', ('end', 40)]
  assert (counter.seen, counter.single) == (0, 0)


def _begun(hook):
  with tf.Graph().as_default():
    tf.constant(0.0, name='t')
    hook.begin()
  return hook


def test_unknown_or_time_based_hooks_see_every_step():
  per_secs = _begun(_train.LoggingTensorHook(['t'], every_n_secs=5))
  assert hook_schedule.quiet_steps([per_secs], 0) == 0
  assert hook_schedule.quiet_steps([_SeesEveryStep(['t'], every_n_iter=5)], 0) == 0
  at_end = _begun(_train.LoggingTensorHook(['t'], at_end=True))
  assert hook_schedule.quiet_steps([at_end], 0) == float('inf')
  every = _begun(_train.LoggingTensorHook(['t'], every_n_iter=10))
  assert hook_schedule.quiet_steps([every], 0) == 0  # logs the first iteration
  every._timer.update_last_triggered_step(0)
  hook_schedule.skip([every], 4)
  assert hook_schedule.quiet_steps([every], 4) == 6
  assert hook_schedule.quiet_steps([every, per_secs], 4) == 0


def test_time_based_hooks_are_predicted_from_the_step_time():
  """The steps that fit before the interval ends may run compiled: those
  before a LoggingTensorHook's step (it checks its timer before the step),
  and one fewer before a StepCounterHook's (it checks after)."""
  per_secs = _begun(_train.LoggingTensorHook(['t'], every_n_secs=5))
  assert hook_schedule.quiet_steps([per_secs], 0, secs_per_step=0.1) == 0
  per_secs._timer.update_last_triggered_step(0)
  # 5 s at 0.1 s a step; read within a tenth of a second of the trigger.
  assert hook_schedule.quiet_steps([per_secs], 0, secs_per_step=0.1) == 50
  assert hook_schedule.quiet_steps([per_secs], 0) == 0  # no step timed yet
  counter = _train.StepCounterHook(every_n_steps=None, every_n_secs=5)
  counter._timer.update_last_triggered_step(0)
  assert hook_schedule.quiet_steps([counter], 0, secs_per_step=0.1) == 49
  per_secs._timer._last_triggered_time -= 10  # overdue
  assert hook_schedule.quiet_steps([per_secs], 0, secs_per_step=0.1) == 0


def _slowed(model_fn, seconds):
  """`model_fn` whose training steps each last at least `seconds`."""

  def slow_model_fn(features, labels, mode, params):
    spec = model_fn(features, labels, mode, params)
    if mode != tf.estimator.ModeKeys.TRAIN:
      return spec
    pause = tf.numpy_function(lambda: np.float32(time.sleep(seconds) or 0),
                              [], tf.float32)
    return spec._replace(train_op=tf.group(spec.train_op, pause))

  return slow_model_fn


def test_a_hook_on_seconds_logs_on_time_from_compiled_steps(tmp_path, caplog,
                                                            monkeypatch):
  counter = _StepCounter(monkeypatch)
  est = _estimator(tmp_path, _slowed(custom_dnn.model_fn, 0.01))
  hook = _train.LoggingTensorHook([custom_dnn.LOSS_TENSOR_NAME],
                                  every_n_secs=0.3)
  start = time.time()
  logged = _logged_losses(caplog, est, hook, 150)  # 1.5 s or more
  elapsed = time.time() - start
  intervals = [float(m.split(' (')[1].split(' sec')[0]) for m in logged[1:]]
  # One line per 0.3 s (the first at the first step), none early.
  assert len(logged) >= 4 and len(logged) <= elapsed / 0.3 + 1, logged
  assert min(intervals) >= 0.3, logged
  # The other steps ran compiled: the hook saw its own steps and a few it
  # was predicted to want too early (10 for 6 lines in one run); 2.15's
  # hook saw all 150.
  assert counter.seen <= 3 * len(logged), (counter.seen, logged)


class _SaverSeesEveryStep(_train.CheckpointSaverHook):

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


def _saving_estimator(model_fn, model_dir):
  """Saves through a program's CheckpointSaverHook only, keeping 50."""
  return tf.estimator.Estimator(
      model_fn, model_dir=str(model_dir), params=dict(custom_dnn.PARAMS),
      config=tf.estimator.RunConfig(
          save_checkpoints_steps=None, save_checkpoints_secs=None,
          keep_checkpoint_max=50, log_step_count_steps=None,
          save_summary_steps=None))


def _saved_steps(model_dir):
  state = tf.train.get_checkpoint_state(str(model_dir))
  return [int(p.rsplit('-', 1)[1]) for p in state.all_model_checkpoint_paths]


@pytest.mark.parametrize('saver', [_train.CheckpointSaverHook,
                                   _SaverSeesEveryStep])
def test_a_programs_own_saver_hook_saves_at_the_same_steps(tmp_path,
                                                           monkeypatch, saver):
  counter = _StepCounter(monkeypatch)
  model_dir = tmp_path / saver.__name__
  _saving_estimator(custom_dnn.model_fn, model_dir).train(
      custom_dnn.train_input_fn, steps=30,
      hooks=[saver(str(model_dir), save_steps=7)])
  assert _saved_steps(model_dir) == [0, 7, 14, 21, 28, 30]
  if saver is _train.CheckpointSaverHook:
    assert (counter.seen, counter.single) == (4, 0)  # its own steps only
  else:
    assert counter.single == 30


def test_a_programs_own_saver_hook_on_seconds_saves_on_time(tmp_path,
                                                            monkeypatch):
  counter = _StepCounter(monkeypatch)
  est = _saving_estimator(_slowed(custom_dnn.model_fn, 0.01), tmp_path)
  hook = _train.CheckpointSaverHook(str(tmp_path), save_secs=0.3)
  est.train(custom_dnn.train_input_fn, steps=150, hooks=[hook])  # >= 1.5 s
  saved = _saved_steps(tmp_path)
  assert saved[0] == 0 and saved[-1] == 150 and len(saved) >= 6, saved
  # A save each 0.3 s: at most 30 steps of 0.01 s and the step ending it.
  assert max(b - a for a, b in zip(saved[:-1], saved[1:-1])) <= 31, saved
  assert counter.seen <= 3 * len(saved), (counter.seen, saved)


class _SummariesSeeEveryStep(_train.SummarySaverHook):

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


def _with_summary_hook(hook_class, output_dir, **schedule):
  """custom_dnn's model_fn with a SummarySaverHook of the loss."""

  def model_fn(features, labels, mode, params):
    spec = custom_dnn.model_fn(features, labels, mode, params)
    if mode != tf.estimator.ModeKeys.TRAIN:
      return spec
    summary = tf.compat.v1.summary.scalar('hooked_loss', spec.loss)
    return spec._replace(training_hooks=[hook_class(
        output_dir=str(output_dir), summary_op=summary, **schedule)])

  return model_fn


def _hook_events(output_dir):
  return sorted(
      (e.step, v.tag, round(float(v.simple_value), 5))
      for path in output_dir.glob('events.out.tfevents.*')
      for e in _train.summary_iterator(str(path)) for v in e.summary.value)


def _summary_hook_run(tmp_path, hook_class):
  """The hook's events over 30 steps, saving every 7."""
  out = tmp_path / hook_class.__name__
  est = tf.estimator.Estimator(
      _with_summary_hook(hook_class, out, save_steps=7),
      model_dir=str(tmp_path / f'{hook_class.__name__}_model'),
      params=dict(custom_dnn.PARAMS),
      config=tf.estimator.RunConfig(tf_random_seed=3,
                                    save_checkpoints_steps=10000,
                                    log_step_count_steps=None,
                                    save_summary_steps=None))
  est.train(custom_dnn.train_input_fn, steps=30)
  return _hook_events(out)


def test_a_summary_hook_writes_the_same_events(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  fast = _summary_hook_run(tmp_path, _train.SummarySaverHook)
  # It saw only its own steps, each ending a compiled call.
  assert (counter.seen, counter.single) == (5, 0)
  slow = _summary_hook_run(tmp_path, _SummariesSeeEveryStep)
  assert counter.single == 30
  # 2.15's steps: the first step's (global step 1), then every 7.
  assert [step for step, _, _ in fast] == [1, 8, 15, 22, 29]
  assert fast == slow


def test_mock_hook_is_unknown():
  # 2.15's distribute-strategy tests pass MagicMock(spec=SessionRunHook)
  # hooks, whose type has no before_run/after_run attributes.
  hook = mock.MagicMock(spec=_train.SessionRunHook)
  assert not hook_schedule.known([hook])
  assert hook_schedule.quiet_steps([hook], 0) == 0


class _NanSeesEveryStep(_train.NanTensorHook):

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


def _diverging_at(nan_step, hook_of_loss):
  """A model_fn whose loss turns NaN from global step `nan_step` on, with
  `hook_of_loss(loss)` among its training_hooks."""

  def model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable('w', [1], initializer=tf.compat.v1.ones_initializer())
    step = _train.get_global_step()
    loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
    loss = tf.where(step >= nan_step, tf.constant(np.nan), loss)
    train_op = _train.GradientDescentOptimizer(0.01).minimize(loss, step)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      training_hooks=[hook_of_loss(loss)])

  return model_fn


def _input_fn():
  return tf.data.Dataset.from_tensors(({'x': [[1.0]]}, [[2.0]])).repeat()


def _diverge(model_dir, hook_of_loss):
  est = tf.estimator.Estimator(
      _diverging_at(37, hook_of_loss), model_dir=str(model_dir),
      config=tf.estimator.RunConfig(save_checkpoints_steps=10000,
                                    log_step_count_steps=None,
                                    save_summary_steps=None))
  with pytest.raises(_train.NanLossDuringTrainingError):
    est.train(_input_fn, steps=100)
  return est.latest_checkpoint()


@pytest.mark.parametrize('fail', [True, False])
def test_nan_hook_on_the_loss_leaves_the_steps_compiled(tmp_path, monkeypatch, fail):
  # 2.15 put its own NanTensorHook on the loss after the caller's hooks, so
  # a program's hook on the same loss changed nothing: training raised at
  # the first NaN step even when the program's hook only requested a stop.
  counter = _StepCounter(monkeypatch)
  fast = _diverge(tmp_path / 'a', lambda loss: _train.NanTensorHook(loss, fail))
  assert (counter.seen, counter.single) == (0, 0)
  slow = _diverge(tmp_path / 'b', lambda loss: _NanSeesEveryStep(loss, fail))
  assert counter.single == 38  # steps 0-37, the last one NaN
  # Neither saved the NaN step: only the checkpoint of step 0 is there.
  assert [path.rsplit('-', 1)[1] for path in (fast, slow)] == ['0', '0']


def test_nan_hook_on_another_tensor_sees_every_step(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  _diverge(tmp_path, lambda loss: _train.NanTensorHook(loss * 2.0))
  assert counter.single == 38


class _Delegating(_train.SessionRunHook):
  """Another hook's behaviour, unknown to the schedule: sees every step."""

  def __init__(self, hook):
    self._hook = hook

  def begin(self):
    self._hook.begin()

  def after_create_session(self, session, coord):
    self._hook.after_create_session(session, coord)

  def before_run(self, run_context):
    return self._hook.before_run(run_context)

  def after_run(self, run_context, run_values):
    self._hook.after_run(run_context, run_values)

  def end(self, session):
    self._hook.end(session)


def _early_stopping_run(model_dir, wrap):
  """Steps at which an early-stopping check ran, and the step training
  stopped at (the third check says stop)."""
  est = _estimator(model_dir)
  checked = []

  def should_stop():
    checked.append(None)
    return len(checked) == 3

  hook = tf.estimator.experimental.make_early_stopping_hook(
      est, should_stop, run_every_secs=None, run_every_steps=9)
  est.train(custom_dnn.train_input_fn, steps=100, hooks=[wrap(hook)])
  return len(checked), est.get_variable_value('global_step')


def test_early_stopping_checks_leave_the_other_steps_compiled(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  fast = _early_stopping_run(tmp_path / 'a', lambda hook: hook)
  # Checks at global steps 0, 9 and 18; the step checked at 18 is the last.
  assert (counter.seen, counter.single) == (3, 0)
  slow = _early_stopping_run(tmp_path / 'b', _Delegating)
  assert counter.single == 19
  assert fast == slow == (3, 19)


def test_early_stopping_on_seconds_is_predicted_from_the_step_time(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  est = _estimator(tmp_path, _slowed(custom_dnn.model_fn, 0.01))
  checked = []

  def should_stop():
    checked.append(time.time())
    return False

  hook = tf.estimator.experimental.make_early_stopping_hook(est, should_stop,
                                                            run_every_secs=0.3)
  est.train(custom_dnn.train_input_fn, steps=150, hooks=[hook])  # 1.5 s or more
  # One check per 0.3 s, none early; 2.15's hook saw all 150 steps.
  assert len(checked) >= 4
  assert min(b - a for a, b in zip(checked, checked[1:])) >= 0.3
  assert counter.seen <= 3 * len(checked), (counter.seen, len(checked))


def _in_memory_evaluations(model_dir, wrap):
  est = _estimator(model_dir)
  hook = tf.estimator.experimental.InMemoryEvaluatorHook(
      est, custom_dnn.eval_input_fn, every_n_iter=9)
  est.train(custom_dnn.train_input_fn, steps=30, hooks=[wrap(hook)])
  steps = []
  for path in tf.io.gfile.glob(est.eval_dir() + '/events.out.tfevents.*'):
    steps += [e.step for e in tf.compat.v1.train.summary_iterator(path)
              if e.summary.value]
  return sorted(steps)


def test_in_memory_evaluations_leave_the_other_steps_compiled(tmp_path, monkeypatch):
  counter = _StepCounter(monkeypatch)
  fast = _in_memory_evaluations(tmp_path / 'a', lambda hook: hook)
  assert (counter.seen, counter.single) == (3, 0)  # after steps 9, 18, 27
  slow = _in_memory_evaluations(tmp_path / 'b', _Delegating)
  assert counter.single == 30
  assert fast == slow == [0, 9, 18, 27, 30]
