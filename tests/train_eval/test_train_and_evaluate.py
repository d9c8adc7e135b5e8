"""`train_and_evaluate`, `TrainSpec` and `EvalSpec`.

Expected evaluation schedules were measured on tensorflow-estimator 2.15
(tests/train_eval/test_train_and_evaluate_oracle.py re-checks them against 2.15).
Throttling and waiting run on a fake clock that replaces the module's `time`.
"""

import json
import os
import socket

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.training import server_lib

from tensorflow.python.training import basic_session_run_hooks
import tfcompat_estimator as te
from tfcompat_estimator import train_eval
from tfcompat_estimator.train_eval import evaluation
from tfcompat_estimator.train_eval import executor


# ---------------------------------------------------------------- helpers
def model_fn(features, labels, mode):
  weights = tf.compat.v1.get_variable('w', [2, 1])
  predictions = tf.matmul(features['x'], weights)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': predictions})
  loss = tf.compat.v1.losses.mean_squared_error(labels, predictions)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op,
      eval_metric_ops={
          'mae': tf.compat.v1.metrics.mean_absolute_error(labels, predictions)})


def train_input_fn():
  x = np.arange(16, dtype=np.float32).reshape(8, 2) / 16
  return tf.data.Dataset.from_tensor_slices(
      ({'x': x}, x.sum(axis=1, keepdims=True))).repeat().batch(4)


def eval_input_fn():
  return train_input_fn().take(2)


def make_estimator(model_dir, **config):
  return tf.estimator.Estimator(model_fn, model_dir=str(model_dir),
                                config=tf.estimator.RunConfig(**config))


class Recorder(tf.estimator.Exporter):
  """Records each export call; returns a path-like marker."""

  def __init__(self, name='rec'):
    self._name = name
    self.calls = []

  @property
  def name(self):
    return self._name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    self.calls.append(dict(estimator=estimator, export_path=export_path,
                           checkpoint_path=checkpoint_path,
                           eval_result=eval_result,
                           final=is_the_final_export))
    return f'{self._name}@{eval_result["global_step"]}'

  @property
  def steps(self):
    return [int(c['eval_result']['global_step']) for c in self.calls]

  @property
  def finals(self):
    return [c['final'] for c in self.calls]


class StopAtStep(tf.compat.v1.train.SessionRunHook):
  """Requests a stop once the step about to finish reaches `step` (early stop)."""

  def __init__(self, step):
    self._step = step

  def begin(self):
    self._global_step = tf.compat.v1.train.get_global_step()

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    if run_values.results + 1 >= self._step:
      run_context.request_stop()


class FakeTime:
  """Stands in for the `time` module of train_eval: a clock tests move."""

  def install(self, monkeypatch):
    """The clock of train_eval's modules and of the throttle's timer."""
    for module in (executor, evaluation, basic_session_run_hooks):
      monkeypatch.setattr(module, 'time', self)
    return self

  def __init__(self, on_sleep=None):
    self.now = 1000.0
    self.sleeps = []
    self._on_sleep = on_sleep

  def time(self):
    return self.now

  def sleep(self, secs):
    self.sleeps.append(secs)
    self.now += secs
    if self._on_sleep:
      self._on_sleep()


class Tick(tf.compat.v1.train.SessionRunHook):
  """Advances a FakeTime by `secs` per training step."""

  def __init__(self, clock, secs):
    self._clock, self._secs = clock, secs

  def after_run(self, run_context, run_values):
    self._clock.now += self._secs


@pytest.fixture
def fake_time(monkeypatch):
  return FakeTime().install(monkeypatch)


@pytest.fixture(autouse=True)
def _no_tf_config(monkeypatch):
  monkeypatch.delenv('TF_CONFIG', raising=False)


def eval_steps(model_dir, name='eval'):
  """Global steps with evaluation summaries in `model_dir/<name>`."""
  steps = set()
  for path in tf.io.gfile.glob(os.path.join(str(model_dir), name, 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      if any(v.tag == 'mae' for v in event.summary.value):
        steps.add(event.step)
  return sorted(steps)


def run(est, max_steps, throttle_secs=0, exporters=(), hooks=(), **eval_kwargs):
  return tf.estimator.train_and_evaluate(
      est, tf.estimator.TrainSpec(train_input_fn, max_steps=max_steps,
                                  hooks=list(hooks)),
      tf.estimator.EvalSpec(eval_input_fn, steps=None, exporters=list(exporters),
                            throttle_secs=throttle_secs, **eval_kwargs))


# ---------------------------------------------------------------- specs
def test_public_names():
  assert tf.estimator.train_and_evaluate is train_eval.train_and_evaluate
  assert tf.compat.v1.estimator.TrainSpec is train_eval.TrainSpec
  assert te.compat.v1.EvalSpec is train_eval.EvalSpec


def test_spec_defaults_and_normalised_fields():
  hook = tf.compat.v1.train.StopAtStepHook(last_step=3)
  listener = tf.compat.v1.train.CheckpointSaverListener()
  train = te.TrainSpec(train_input_fn, 7, [hook], [listener])
  assert train == (train_input_fn, 7, (hook,), (listener,))
  assert te.TrainSpec(train_input_fn) == (train_input_fn, None, (), ())
  evaluation = te.EvalSpec(eval_input_fn)
  assert evaluation._asdict() == dict(
      input_fn=eval_input_fn, steps=100, name=None, hooks=(), exporters=(),
      start_delay_secs=120, throttle_secs=600)
  single = Recorder()
  assert te.EvalSpec(eval_input_fn, exporters=single).exporters == (single,)


class NamedExporter(tf.estimator.Exporter):

  def __init__(self, name):
    self._name = name

  name = property(lambda self: self._name)


@pytest.mark.parametrize('make, error, match', [
    (lambda: te.TrainSpec('data'), TypeError, '`input_fn` must be callable'),
    (lambda: te.TrainSpec(train_input_fn, max_steps=0), ValueError,
     'max_steps > 0, given: 0'),
    (lambda: te.TrainSpec(train_input_fn, hooks=['h']), TypeError,
     'All hooks must be `SessionRunHook` instances'),
    (lambda: te.TrainSpec(train_input_fn, saving_listeners=[object()]),
     TypeError, 'All saving_listeners must be `CheckpointSaverListener` '
     'instances'),
    (lambda: te.EvalSpec(None), TypeError, '`input_fn` must be callable'),
    (lambda: te.EvalSpec(eval_input_fn, steps=-1), ValueError,
     'steps > 0, given: -1'),
    (lambda: te.EvalSpec(eval_input_fn, name=3), TypeError, '`name` must be'),
    (lambda: te.EvalSpec(eval_input_fn, hooks=[1]), TypeError,
     'SessionRunHook'),
    (lambda: te.EvalSpec(eval_input_fn, start_delay_secs=-1), ValueError,
     'start_delay_secs >= 0'),
    (lambda: te.EvalSpec(eval_input_fn, throttle_secs=-5), ValueError,
     'throttle_secs >= 0'),
    (lambda: te.EvalSpec(eval_input_fn, exporters=['latest']), TypeError,
     '`exporters` must be an Exporter'),
    (lambda: te.EvalSpec(eval_input_fn, exporters=7), TypeError,
     '`exporters` must be an Exporter'),
    (lambda: te.EvalSpec(eval_input_fn, exporters=[Recorder('a'),
                                                   Recorder('a')]),
     ValueError, r"unique names.*\['a', 'a'\]"),
    (lambda: te.EvalSpec(eval_input_fn, exporters=[NamedExporter('')]),
     ValueError, 'cannot have a name that is `None` or empty'),
    (lambda: te.EvalSpec(eval_input_fn, exporters=NamedExporter(None)),
     ValueError, 'cannot have a name that is `None` or empty'),
    (lambda: te.EvalSpec(eval_input_fn, exporters=[NamedExporter(b'x')]),
     ValueError, 'must have a string name'),
])
def test_bad_specs(make, error, match):
  with pytest.raises(error, match=match):
    make()


def test_bad_arguments(tmp_path):
  est = make_estimator(tmp_path)
  train = te.TrainSpec(train_input_fn, 1)
  evaluation = te.EvalSpec(eval_input_fn)
  with pytest.raises(TypeError, match='`eval_spec` must have type'):
    te.train_and_evaluate(est, train, train)
  with pytest.raises(TypeError, match='`estimator` must have type'):
    te.train_and_evaluate(object(), train, evaluation)
  with pytest.raises(TypeError, match='`train_spec` must have type'):
    te.train_and_evaluate(est, evaluation, evaluation)


# ---------------------------------------------------------------- local runs
def test_local_run_evaluates_every_saved_checkpoint(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  first, second = Recorder('first'), Recorder('second')
  metrics, exports = run(est, 35, exporters=[first, second])
  # The save at step 0 (training start) is never evaluated; 35 is the end.
  assert first.steps == second.steps == [10, 20, 30, 35]
  assert first.finals == [False, False, False, True]
  assert eval_steps(tmp_path) == [10, 20, 30, 35]
  call = first.calls[-1]
  assert call['estimator'] is est
  assert call['export_path'] == os.path.join(str(tmp_path), 'export', 'first')
  assert second.calls[0]['export_path'].endswith(os.path.join('export', 'second'))
  assert call['checkpoint_path'] == os.path.join(str(tmp_path), 'model.ckpt-35')
  assert call['eval_result'] is metrics
  assert metrics['global_step'] == 35 and set(metrics) == {
      'global_step', 'loss', 'mae'}
  assert metrics == est.evaluate(eval_input_fn)
  assert exports == ['first@35', 'second@35']


def test_checkpoints_by_time_evaluate_only_the_final_one(tmp_path):
  est = make_estimator(tmp_path)  # save_checkpoints_secs=600
  recorder = Recorder()
  metrics, _ = run(est, 12, exporters=[recorder])
  assert recorder.steps == [12] and recorder.finals == [True]
  assert metrics['global_step'] == 12


def test_throttle_secs_skips_checkpoints(tmp_path, fake_time):
  est = make_estimator(tmp_path, save_checkpoints_steps=5)
  recorder = Recorder()
  # 10 fake seconds per step: a checkpoint every 50 s, an evaluation at most
  # every 100 s; the first saved checkpoint and the last one are evaluated.
  run(est, 30, throttle_secs=100, exporters=[recorder],
      hooks=[Tick(fake_time, 10)])
  assert recorder.steps == [5, 15, 25, 30]
  assert fake_time.sleeps == []


def test_evaluation_name_steps_and_hooks(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=4)
  counter = tf.compat.v1.train.StepCounterHook(every_n_steps=1000)
  seen = []

  class CountSteps(tf.compat.v1.train.SessionRunHook):

    def after_run(self, run_context, run_values):
      seen.append(1)

  tf.estimator.train_and_evaluate(
      est, te.TrainSpec(train_input_fn, 4),
      te.EvalSpec(eval_input_fn, steps=1, name='holdout', throttle_secs=0,
                  hooks=[CountSteps(), counter]))
  assert eval_steps(tmp_path, 'eval_holdout') == [4]
  assert len(seen) == 1  # steps=1 with the spec's hooks


def test_early_stop_ends_with_a_final_evaluation(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  recorder = Recorder()
  metrics, exports = run(est, 35, exporters=[recorder], hooks=[StopAtStep(17)])
  assert recorder.steps == [10, 17]
  # As in 2.15, the export is final only when max_steps was reached.
  assert recorder.finals == [False, False]
  assert metrics['global_step'] == 17 and exports == ['rec@17']


def test_no_max_steps_runs_until_a_hook_stops(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  recorder = Recorder()
  metrics, _ = run(est, None, exporters=[recorder], hooks=[StopAtStep(12)])
  assert recorder.steps == [10, 12] and recorder.finals == [False, False]
  assert metrics['global_step'] == 12


def test_finished_model_dir_returns_none_pair(tmp_path):
  run(make_estimator(tmp_path, save_checkpoints_steps=10), 10)
  recorder = Recorder()
  assert run(make_estimator(tmp_path, save_checkpoints_steps=10), 10,
             exporters=[recorder]) == (None, None)
  assert recorder.calls == []


def test_resumed_run_skips_the_restored_checkpoint(tmp_path):
  run(make_estimator(tmp_path, save_checkpoints_steps=10), 15)
  recorder = Recorder()
  metrics, _ = run(make_estimator(tmp_path, save_checkpoints_steps=10), 30,
                   exporters=[recorder])
  assert recorder.steps == [25, 30] and recorder.finals == [False, True]
  assert metrics['global_step'] == 30


def test_user_saving_listeners_run_too(tmp_path):

  class Saves(tf.compat.v1.train.CheckpointSaverListener):

    def __init__(self):
      self.steps = []

    def after_save(self, session, global_step_value):
      self.steps.append(global_step_value)

  listener = Saves()
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  tf.estimator.train_and_evaluate(
      est, te.TrainSpec(train_input_fn, 20, saving_listeners=[listener]),
      te.EvalSpec(eval_input_fn, steps=None, throttle_secs=0))
  assert listener.steps == [0, 10, 20]
  assert eval_steps(tmp_path) == [10, 20]


def test_no_checkpointing_is_an_error(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=None,
                       save_checkpoints_secs=None)
  with pytest.raises(ValueError, match='save_checkpoints_steps'):
    run(est, 5)


def test_checkpoints_saved_elsewhere_are_an_error(tmp_path):
  est = make_estimator(tmp_path / 'model', save_checkpoints_steps=10)
  elsewhere = tf.compat.v1.train.CheckpointSaverHook(str(tmp_path / 'other'),
                                                     save_steps=10)
  with pytest.raises(RuntimeError, match='no new checkpoint.*missing checkpoint'):
    run(est, 15, hooks=[elsewhere])


def test_evaluation_without_global_step_is_an_error(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  est.evaluate = lambda *args, **kwargs: {'loss': 0.5}
  with pytest.raises(ValueError, match='should have .global_step. in result.*model.ckpt-10'):
    run(est, 10)


def test_latest_exporter_writes_a_servable_export(tmp_path):
  exporter_lib = pytest.importorskip('tfcompat_estimator.exporter')

  def serving_input_receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2], name='x')
    return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})

  est = make_estimator(tmp_path, save_checkpoints_steps=5)
  latest = exporter_lib.LatestExporter('latest', serving_input_receiver_fn,
                                       exports_to_keep=None)
  _, (export_dir,) = run(est, 10, exporters=[latest])
  export_dir = export_dir.decode() if isinstance(export_dir, bytes) else export_dir
  base = os.path.join(str(tmp_path), 'export', 'latest')
  assert os.path.dirname(export_dir) == base
  assert len(os.listdir(base)) == 2  # steps 5 and 10 (timestamps may clash)
  served = tf.saved_model.load(export_dir).signatures['serving_default'](
      x=tf.constant([[1.0, 2.0]]))
  weights = est.get_variable_value('w')
  np.testing.assert_allclose(served['y'].numpy(), [[1.0, 2.0]] @ weights,
                             rtol=1e-6)


# ---------------------------------------------------------------- cluster roles
def free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def set_tf_config(monkeypatch, task_type, index=0, jobs=('chief', 'worker'),
                  workers=2):
  """A TF_CONFIG cluster on free ports: cluster tasks start real servers."""
  cluster = {job: [f'localhost:{free_port()}'
                   for _ in range(workers if job == 'worker' else 1)]
             for job in jobs}
  monkeypatch.setenv('TF_CONFIG', json.dumps(
      {'cluster': cluster, 'task': {'type': task_type, 'index': index}}))


def test_evaluator_follows_checkpoints_until_max_steps(tmp_path, monkeypatch):
  trainer = make_estimator(tmp_path, save_checkpoints_steps=100)
  # What the trainer does while the evaluator sleeps: train up to a step.
  plan = iter([None, 10, None, 20, 30])

  def trainer_progress():
    step = next(plan)
    if step:
      trainer.train(train_input_fn, max_steps=step)

  clock = FakeTime(on_sleep=trainer_progress).install(monkeypatch)
  set_tf_config(monkeypatch, 'evaluator')
  evaluator = make_estimator(tmp_path)
  assert evaluator.config.task_type == 'evaluator'
  recorder = Recorder()
  result = tf.estimator.train_and_evaluate(
      evaluator, te.TrainSpec(train_input_fn, max_steps=30),
      te.EvalSpec(eval_input_fn, steps=None, exporters=[recorder],
                  start_delay_secs=120, throttle_secs=60))
  assert result is None
  # Missing checkpoint, step 10, no new checkpoint, step 20, step 30: done.
  assert recorder.steps == [10, 20, 30]
  assert recorder.finals == [False, False, True]
  assert recorder.calls[-1]['checkpoint_path'] == os.path.join(
      str(tmp_path), 'model.ckpt-30')
  assert clock.sleeps == [120, 60, 60, 60, 60]
  assert eval_steps(tmp_path) == [10, 20, 30]


def test_evaluator_throttle_counts_the_evaluation_time(tmp_path, monkeypatch):
  make_estimator(tmp_path).train(train_input_fn, max_steps=5)
  clock = FakeTime().install(monkeypatch)
  set_tf_config(monkeypatch, 'evaluator')
  est = make_estimator(tmp_path)
  evaluate = est.evaluate

  def slow_evaluate(*args, **kwargs):
    clock.now += 25
    return evaluate(*args, **kwargs)

  est.evaluate = slow_evaluate

  class Interrupt(Exception):
    pass

  def sleep(secs):
    clock.sleeps.append(secs)
    raise Interrupt

  clock.sleep = sleep
  with pytest.raises(Interrupt):
    tf.estimator.train_and_evaluate(
        est, te.TrainSpec(train_input_fn, max_steps=10),
        te.EvalSpec(eval_input_fn, start_delay_secs=0, throttle_secs=60))
  assert clock.sleeps == [35]


def test_only_one_evaluator(tmp_path, monkeypatch):
  set_tf_config(monkeypatch, 'evaluator', index=1)
  with pytest.raises(ValueError, match='only be one `evaluator`.*id 1'):
    run(make_estimator(tmp_path), 5)


def test_ps_task_serves_without_training(tmp_path, monkeypatch):
  """A ps task starts its server and joins it (here a stand-in that returns)."""
  served = []

  class Server:

    def __init__(self, cluster_spec, job_name, task_index, **kwargs):
      del cluster_spec, kwargs
      served.append((job_name, task_index))

    def start(self):
      served.append('started')

    def join(self):
      served.append('joined')

  monkeypatch.setattr(server_lib, 'Server', Server)
  set_tf_config(monkeypatch, 'ps', jobs=('chief', 'worker', 'ps'))
  est = make_estimator(tmp_path)
  train = TrainCalls(est)
  assert run(est, 5) is None
  assert served == [('ps', 0), 'started', 'joined']
  assert train.calls == [] and not os.listdir(tmp_path)


class TrainCalls:
  """Replaces `Estimator.train` on one instance, recording its arguments."""

  def __init__(self, est):
    self.calls = []
    est.train = lambda **kwargs: self.calls.append(kwargs)


@pytest.mark.parametrize('index, max_delay, expected', [
    (0, None, [5]), (1, None, [10]), (20, None, [60]), (3, 12, [12])])
def test_worker_delays_its_start_then_trains(tmp_path, monkeypatch, fake_time,
                                              index, max_delay, expected):
  set_tf_config(monkeypatch, 'worker', index=index, workers=21)
  est = make_estimator(tmp_path, experimental_max_worker_delay_secs=max_delay)
  train = TrainCalls(est)
  hook = StopAtStep(3)
  listener = tf.compat.v1.train.CheckpointSaverListener()
  assert tf.estimator.train_and_evaluate(
      est, te.TrainSpec(train_input_fn, 9, [hook], [listener]),
      te.EvalSpec(eval_input_fn)) is None
  assert fake_time.sleeps == expected
  assert train.calls == [dict(input_fn=train_input_fn, max_steps=9,
                              hooks=[hook], saving_listeners=None)]


def test_worker_with_a_strategy_starts_at_once(tmp_path, monkeypatch, fake_time):
  set_tf_config(monkeypatch, 'worker', index=1)
  est = make_estimator(
      tmp_path, train_distribute=tf.distribute.OneDeviceStrategy('/cpu:0'))
  train = TrainCalls(est)
  tf.estimator.train_and_evaluate(est, te.TrainSpec(train_input_fn, 9),
                                  te.EvalSpec(eval_input_fn))
  assert fake_time.sleeps == [] and len(train.calls) == 1


def test_chief_trains_with_the_spec_listeners_only(tmp_path, monkeypatch,
                                                   fake_time):
  set_tf_config(monkeypatch, 'chief')
  est = make_estimator(tmp_path)
  train = TrainCalls(est)
  listener = tf.compat.v1.train.CheckpointSaverListener()
  assert tf.estimator.train_and_evaluate(
      est, te.TrainSpec(train_input_fn, 9, saving_listeners=[listener]),
      te.EvalSpec(eval_input_fn)) is None
  assert fake_time.sleeps == []
  assert train.calls == [dict(input_fn=train_input_fn, max_steps=9, hooks=[],
                              saving_listeners=(listener,))]


def test_master_trains_and_evaluates(tmp_path, monkeypatch):
  set_tf_config(monkeypatch, 'master', jobs=('master', 'worker'))
  est = make_estimator(tmp_path, save_checkpoints_steps=5)
  assert est.config.is_chief
  recorder = Recorder()
  assert run(est, 10, exporters=[recorder]) is None
  assert recorder.steps == [5, 10] and recorder.finals == [False, True]


def test_unknown_task_type(tmp_path, monkeypatch):
  set_tf_config(monkeypatch, 'trainer', jobs=('chief', 'trainer'))
  with pytest.raises(ValueError, match='Task type trainer is not supported.*TF_CONFIG'):
    run(make_estimator(tmp_path), 5)
