"""2.15's `training._TrainingExecutor` seams, which programs and libraries use.

The executor runs one task's part of `train_and_evaluate`; a
`_ContinuousEvalListener` may end evaluating (and a local training) early;
cluster tasks start TensorFlow's standard server, as 2.15 did. The roles'
schedules themselves are tested in test_train_and_evaluate.py.
"""

import json
import os
import socket

import pytest
import tensorflow as tf
from tensorflow.python.training import server_lib

from .test_train_and_evaluate import FakeTime
from .test_train_and_evaluate import Recorder
from .test_train_and_evaluate import eval_input_fn
from .test_train_and_evaluate import free_port
from .test_train_and_evaluate import make_estimator
from .test_train_and_evaluate import set_tf_config
from .test_train_and_evaluate import train_input_fn
import tfcompat_estimator as te
from tfcompat_estimator import train_eval
from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator.train_eval import executor as executor_lib

training = None  # 2.15's module path, bound by the fixture below


@pytest.fixture(autouse=True)
def _training_module(monkeypatch):
  global training
  te.install()
  from tensorflow_estimator.python.estimator import training as module  # pylint: disable=g-import-not-at-top
  training = module
  monkeypatch.delenv('TF_CONFIG', raising=False)


class Listener(train_eval._ContinuousEvalListener):
  """Says yes `before` times to before_eval and `after` times to after_eval."""

  def __init__(self, before=None, after=None):
    self._before, self._after = before, after
    self.results = []

  def before_eval(self):
    if self._before is None:
      return True
    self._before -= 1
    return self._before >= 0

  def after_eval(self, eval_result):
    self.results.append(eval_result)
    if self._after is None:
      return True
    self._after -= 1
    return self._after >= 0


def specs(max_steps=30, **eval_kwargs):
  eval_kwargs.setdefault('throttle_secs', 0)
  return (te.TrainSpec(train_input_fn, max_steps=max_steps),
          te.EvalSpec(eval_input_fn, steps=None, start_delay_secs=0,
                      **eval_kwargs))


class FakeServer:
  """Stands in for `server_lib.Server`; records what each instance serves."""

  started = []

  def __init__(self, cluster_spec, job_name, task_index, config, start,
               protocol):
    assert not start
    self.args = dict(cluster=cluster_spec.as_dict(), job_name=job_name,
                     task_index=task_index, protocol=protocol,
                     gpu_growth=config.gpu_options.allow_growth)

  def start(self):
    FakeServer.started.append(self.args)

  def join(self):
    FakeServer.started.append('joined')


@pytest.fixture
def fake_server(monkeypatch):
  FakeServer.started = []
  monkeypatch.setattr(server_lib, 'Server', FakeServer)
  return FakeServer


class TrainCalls:

  def __init__(self, est):
    self.calls = []
    est.train = lambda **kwargs: self.calls.append(kwargs)


# ---------------------------------------------------------------- the module
def test_2_15_names_resolve_to_the_executor():
  assert training._TrainingExecutor is train_eval._TrainingExecutor
  assert training._EvalStatus.EVALUATED == 'evaluated'
  assert training._StopAtSecsHook.__bases__ == (
      tf.compat.v1.train.SessionRunHook,)
  assert issubclass(training._NewCheckpointListenerForEvaluate,
                    tf.compat.v1.train.CheckpointSaverListener)


def test_train_and_evaluate_runs_the_module_executor(tmp_path, monkeypatch):
  """Libraries replace `training._TrainingExecutor`; 2.15 looked it up."""
  calls = []

  class Executor:

    def __init__(self, **kwargs):
      calls.append(kwargs)

    def run(self):
      return 'ran'

  monkeypatch.setattr(training, '_TrainingExecutor', Executor)
  est = make_estimator(tmp_path)
  train, evaluation = specs()
  assert training.train_and_evaluate(est, train, evaluation) == 'ran'
  assert calls == [dict(estimator=est, train_spec=train, eval_spec=evaluation)]


@pytest.mark.parametrize('args, match', [
    (lambda est, t, e: (object(), t, e), '`estimator` must have type'),
    (lambda est, t, e: (est, e, e), '`train_spec` must have type'),
    (lambda est, t, e: (est, t, t),
     '`eval_spec` must be either `None` or have type'),
])
def test_constructor_checks_its_arguments(tmp_path, args, match):
  train, evaluation = specs()
  with pytest.raises(TypeError, match=match):
    training._TrainingExecutor(*args(make_estimator(tmp_path), train,
                                     evaluation))


def test_constructor_checks_hooks_and_listener(tmp_path):
  est = make_estimator(tmp_path)
  train, evaluation = specs()
  with pytest.raises(TypeError, match='All hooks must be `SessionRunHook` '
                     'instances: each of train_hooks'):
    training._TrainingExecutor(est, train, evaluation, train_hooks=[object()])
  with pytest.raises(TypeError, match='must have type `_ContinuousEvalListener`'):
    training._TrainingExecutor(est, train, evaluation,
                               continuous_eval_listener=object())


def test_tasks_that_only_train_need_no_eval_spec(tmp_path, monkeypatch,
                                                  fake_server):
  set_tf_config(monkeypatch, 'worker', index=0)
  est = make_estimator(tmp_path, experimental_max_worker_delay_secs=0)
  train = TrainCalls(est)
  hook = tf.compat.v1.train.StopAtStepHook(last_step=3)
  executor = training._TrainingExecutor(est, specs()[0], None,
                                        train_hooks=[hook])
  executor.run()
  assert train.calls == [dict(input_fn=train_input_fn, max_steps=30,
                              hooks=[hook], saving_listeners=None)]
  with pytest.raises(TypeError, match='`eval_spec` must have type'):
    executor.run_evaluator()


# ---------------------------------------------------------------- local runs
def test_local_run_returns_the_last_evaluation(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  recorder = Recorder()
  train, evaluation = specs(25, exporters=[recorder])
  metrics, exports = training._TrainingExecutor(est, train, evaluation).run()
  assert metrics['global_step'] == 25 and exports == ['rec@25']
  assert recorder.steps == [10, 20, 25]


def test_listener_refusing_an_evaluation_stops_the_local_training(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  listener = Listener(before=1)  # evaluate step 10, refuse the next
  train, evaluation = specs(100)
  metrics, _ = training._TrainingExecutor(
      est, train, evaluation, continuous_eval_listener=listener).run_local()
  assert metrics['global_step'] == 10
  # Stopped at the save of step 20; the end evaluation was refused too.
  assert est.get_variable_value('global_step') == 20
  assert [r.metrics['global_step'] for r in listener.results] == [10]


def test_listener_ending_after_an_evaluation_stops_the_local_training(tmp_path):
  est = make_estimator(tmp_path, save_checkpoints_steps=10)
  listener = Listener(after=0)
  train, evaluation = specs(100)
  metrics, _ = training._TrainingExecutor(
      est, train, evaluation, continuous_eval_listener=listener).run_local()
  assert est.get_variable_value('global_step') == 10
  assert metrics['global_step'] == 10
  assert listener.results[0].checkpoint_path.endswith('model.ckpt-10')


# ---------------------------------------------------------------- evaluator
def test_evaluator_task_reports_every_look_to_the_listener(tmp_path,
                                                          monkeypatch):
  make_estimator(tmp_path).train(train_input_fn, max_steps=30)
  FakeTime().install(monkeypatch)
  set_tf_config(monkeypatch, 'evaluator')
  est = make_estimator(tmp_path)
  listener = Listener()
  train, evaluation = specs(30)
  training._TrainingExecutor(est, train, evaluation,
                             continuous_eval_listener=listener).run()
  (result,) = listener.results
  assert result.status == training._EvalStatus.EVALUATED
  assert result.metrics['global_step'] == 30


def test_evaluator_task_stops_when_the_listener_says_so(tmp_path, monkeypatch):
  clock = FakeTime().install(monkeypatch)
  set_tf_config(monkeypatch, 'evaluator')
  listener = Listener(after=2)  # three looks at an empty model_dir
  train, evaluation = specs(30, throttle_secs=60)
  training._TrainingExecutor(make_estimator(tmp_path), train, evaluation,
                             continuous_eval_listener=listener).run()
  assert [r.status for r in listener.results] == ['missing checkpoint'] * 3
  assert clock.sleeps == [60, 60]


def test_eval_result_checks_what_evaluate_returned():
  evaluated = training._EvalStatus.EVALUATED
  with pytest.raises(ValueError, match='should never return empty metrics'):
    training._EvalResult(evaluated, {}, 'ckpt')
  with pytest.raises(TypeError, match='should return dict'):
    training._EvalResult(evaluated, 3, 'ckpt')
  with pytest.raises(ValueError, match='metrics must be `None`'):
    training._EvalResult(training._EvalStatus.NO_NEW_CHECKPOINT, {'loss': 1})
  result = training._EvalResult(evaluated, {'global_step': 3}, 'ckpt')
  assert result == (evaluated, {'global_step': 3}, 'ckpt')


# ---------------------------------------------------------------- servers
def test_cluster_tasks_start_their_server_once(tmp_path, monkeypatch,
                                               fake_server):
  set_tf_config(monkeypatch, 'chief')
  session_config = tf.compat.v1.ConfigProto()
  session_config.gpu_options.allow_growth = True
  est = make_estimator(tmp_path, session_config=session_config)
  train = TrainCalls(est)
  for _ in range(2):  # as a program calling train_and_evaluate twice
    te.train_and_evaluate(est, *specs())
  cluster = json.loads(os.environ['TF_CONFIG'])['cluster']
  assert fake_server.started == [dict(cluster=cluster, job_name='chief',
                                      task_index=0, protocol=None,
                                      gpu_growth=True)]
  assert len(train.calls) == 2


def test_chief_serves_its_address(tmp_path, monkeypatch):
  """A real server: other tasks can connect to the chief's port."""
  set_tf_config(monkeypatch, 'chief')
  est = make_estimator(tmp_path)
  TrainCalls(est)
  te.train_and_evaluate(est, *specs())
  address = json.loads(os.environ['TF_CONFIG'])['cluster'][
      'chief'][0]
  host, port = address.split(':')
  with socket.create_connection((host, int(port)), timeout=5):
    pass


def test_no_server_for_a_one_node_cluster_or_under_google(tmp_path,
                                                          monkeypatch,
                                                          fake_server):
  monkeypatch.setenv('TF_CONFIG', json.dumps({
      'cluster': {'chief': [f'localhost:{free_port()}']},
      'task': {'type': 'chief', 'index': 0}}))
  est = make_estimator(tmp_path)
  TrainCalls(est)
  te.train_and_evaluate(est, *specs())
  set_tf_config(monkeypatch, 'chief')
  monkeypatch.setenv('TF_CONFIG', json.dumps(dict(
      json.loads(os.environ['TF_CONFIG']), environment='google')))
  est = make_estimator(tmp_path)
  TrainCalls(est)
  te.train_and_evaluate(est, *specs())
  assert fake_server.started == []


def test_a_cluster_without_master_cannot_serve(tmp_path, monkeypatch):
  set_tf_config(monkeypatch, 'worker')
  monkeypatch.setenv('TF_CONFIG', json.dumps(dict(
      json.loads(os.environ['TF_CONFIG']), session_master='')))
  est = make_estimator(tmp_path)
  with pytest.raises(RuntimeError, match='Could not start server; be sure to '
                     'specify master in RunConfig or set the TF_CONFIG'):
    training._TrainingExecutor(est, *specs()).run_worker()


def test_ps_task_serves_until_ended(tmp_path, monkeypatch, fake_server):
  set_tf_config(monkeypatch, 'ps', jobs=('chief', 'worker', 'ps'))
  est = make_estimator(tmp_path)
  TrainCalls(est)
  training._TrainingExecutor(est, *specs()).run()
  # As in 2.15, the task starts its server and joins it (the fake returns).
  assert [s if s == 'joined' else s['job_name']
          for s in fake_server.started] == ['ps', 'joined']


@pytest.fixture
def announcements(monkeypatch):
  """The end of training as announced to, and asked by, the workers."""
  record = {'announced': [], 'asked': [], 'over_at_ask': None}

  def announce(cluster_spec):
    record['announced'].append(sorted(cluster_spec.jobs))

  def training_over(server, task_id):
    record['asked'].append((server.args['job_name'], task_id))
    return len(record['asked']) == record['over_at_ask']

  monkeypatch.setattr(parameter_servers, 'announce_training_over', announce)
  monkeypatch.setattr(parameter_servers, 'training_over', training_over)
  return record


def test_chief_of_a_ps_cluster_announces_the_end_of_training(
    tmp_path, monkeypatch, announcements):
  set_tf_config(monkeypatch, 'chief', jobs=('chief', 'worker', 'ps'))
  est = make_estimator(tmp_path)
  train = TrainCalls(est)
  training._TrainingExecutor(est, *specs()).run()
  assert len(train.calls) == 1
  assert announcements['announced'] == [['chief', 'ps', 'worker']]


def test_worker_of_a_ps_cluster_serves_until_training_is_over(
    tmp_path, monkeypatch, fake_server, announcements):
  # Without max_steps (training until the input ends) the worker waited
  # forever; 2.15's returned when its own input ended.
  set_tf_config(monkeypatch, 'worker', jobs=('chief', 'worker', 'ps'))
  announcements['over_at_ask'] = 3
  polls = []
  monkeypatch.setattr(executor_lib.time, 'sleep', polls.append)
  est = make_estimator(tmp_path)
  train = TrainCalls(est)
  training._TrainingExecutor(est, *specs(max_steps=None)).run()
  assert train.calls == []
  assert announcements['asked'] == [('worker', 0)] * 3
  assert polls == [executor_lib._WORKER_POLL_SECS] * 2


def test_worker_of_a_ps_cluster_serves_until_max_steps(
    tmp_path, monkeypatch, fake_server, announcements):
  set_tf_config(monkeypatch, 'worker', jobs=('chief', 'worker', 'ps'))
  est = make_estimator(tmp_path)
  train = TrainCalls(est)
  polls = []

  def sleep(secs):  # the chief's checkpoints arrive while the worker waits
    polls.append(secs)
    with monkeypatch.context() as chief:
      chief.delenv('TF_CONFIG')
      make_estimator(tmp_path).train(train_input_fn,
                                     max_steps=15 * len(polls))

  monkeypatch.setattr(executor_lib.time, 'sleep', sleep)
  training._TrainingExecutor(est, *specs(max_steps=30)).run()
  assert train.calls == []  # the chief schedules the steps; the worker serves
  assert [s['job_name'] for s in fake_server.started] == ['worker']
  assert polls == [executor_lib._WORKER_POLL_SECS] * 2


@pytest.mark.parametrize('task', ['local', 'alloc'])
def test_task_types_without_a_run(tmp_path, monkeypatch, task):
  set_tf_config(monkeypatch, task, jobs=('chief', task))
  executor = training._TrainingExecutor(make_estimator(tmp_path), *specs())
  match = ('`task.type` in TF_CONFIG cannot be `local`' if task == 'local'
           else r"Task type alloc is not supported. Supported task types are "
           r"\['chief', 'evaluator', 'master', 'ps', 'worker'\]")
  with pytest.raises(ValueError, match=match):
    executor.run()


# ---------------------------------------------------------------- StopAtSecsHook
def test_stop_at_secs_hook_stops_training(tmp_path, monkeypatch):
  clock = FakeTime().install(monkeypatch)

  class Tick(tf.compat.v1.train.SessionRunHook):

    def after_run(self, run_context, run_values):
      clock.now += 10

  est = make_estimator(tmp_path)
  est.train(train_input_fn, steps=100,
            hooks=[Tick(), training._StopAtSecsHook(35)])
  assert est.get_variable_value('global_step') == 4
