"""Early-stopping hooks stop a real `train` from the eval event files."""

import inspect
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator import early_stopping
from tfcompat_estimator.io import summaries


def _data():
  x = np.random.RandomState(0).rand(32, 2).astype(np.float32)
  return x, x @ np.array([[1.], [2.]], np.float32)


_X, _Y = _data()


def model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [2, 1],
                                initializer=tf.compat.v1.zeros_initializer())
  predictions = tf.matmul(features['x'], w)
  loss = tf.compat.v1.losses.mean_squared_error(labels, predictions)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op, eval_metric_ops={
          'mae': tf.compat.v1.metrics.mean_absolute_error(labels, predictions)})


def train_input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).repeat().batch(4)


def eval_input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).batch(8)


def run_oracle(python, body, *args):
  """Runs `body` under tensorflow-estimator 2.15 with this file's model.

  The model, data and input_fns are this module's own functions, sent as
  source; `body` prints one JSON line, which is returned parsed.
  """
  prelude = 'import json, sys\nimport numpy as np\nimport tensorflow as tf\n'
  prelude += '\n'.join(inspect.getsource(f) for f in (
      _data, model_fn, train_input_fn, eval_input_fn, write_evals_215))
  prelude += '_X, _Y = _data()\n'
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', prelude + body, *map(str, args)], env=env,
                       capture_output=True, text=True, check=True, timeout=600)
  return json.loads(out.stdout.strip().splitlines()[-1])


def write_evals_215(eval_dir, history):
  """`write_evals` for the 2.15 side, with TF's own summary writer."""
  writer = tf.summary.create_file_writer(eval_dir)
  with writer.as_default():
    for step, metrics in history.items():
      summary = tf.compat.v1.Summary(value=[
          tf.compat.v1.Summary.Value(tag=k, simple_value=v)
          for k, v in metrics.items()])
      tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step)
  writer.close()


def make_estimator(model_dir, **config):
  return tf.estimator.Estimator(model_fn, model_dir=str(model_dir),
                                config=tf.estimator.RunConfig(**config))


def write_evals(eval_dir, history):
  """Writes `{step: {metric: value}}` as an evaluation job would."""
  writer = summaries.EventWriter(str(eval_dir))
  try:
    for step, metrics in history.items():
      writer.write_dict(metrics, step)
  finally:
    writer.close()


class StepCounter(tf.estimator.SessionRunHook):

  def __init__(self):
    self.steps = 0

  def after_run(self, run_context, run_values):
    self.steps += 1


def trained_steps(est, hook, steps=10):
  """How many steps `train` ran (non-chief workers write no checkpoint)."""
  counter = StepCounter()
  est.train(train_input_fn, hooks=[hook, counter], steps=steps)
  return counter.steps


def every_step(**kwargs):
  return dict(kwargs, run_every_secs=None, run_every_steps=1)


class TestReadEvalMetrics:

  def test_steps_sorted_and_merged_scalars_only(self, tmp_path):
    write_evals(tmp_path, {7: {'loss': 3.0}, 2: {'loss': 1.5, 'auc': 0.25}})
    write_evals(tmp_path, {7: {'auc': 0.75, 'checkpoint_path': b'/m/ckpt-7'}})
    metrics = early_stopping.read_eval_metrics(str(tmp_path))
    assert list(metrics) == [2, 7]
    assert metrics[2] == {'loss': 1.5, 'auc': 0.25}
    assert metrics[7] == {'loss': 3.0, 'auc': 0.75}

  def test_missing_dir_has_no_metrics(self, tmp_path):
    assert early_stopping.read_eval_metrics(tmp_path / 'nope') == {}

  def test_corrupt_file_read_up_to_the_damage(self, tmp_path):
    write_evals(tmp_path, {1: {'loss': 1.0}, 2: {'loss': 2.0}})
    [path] = tf.io.gfile.glob(str(tmp_path / 'events.out.tfevents.*'))
    with open(path, 'ab') as f:
      f.write(b'\x10\x00\x00\x00\x00\x00\x00\x00garbage')
    assert early_stopping.read_eval_metrics(str(tmp_path)) == {
        1: {'loss': 1.0}, 2: {'loss': 2.0}}

  def test_reads_what_evaluate_wrote(self, tmp_path):
    est = make_estimator(tmp_path)
    est.train(train_input_fn, steps=3)
    results = est.evaluate(eval_input_fn)
    metrics = early_stopping.read_eval_metrics(est.eval_dir())
    assert list(metrics) == [3]
    assert set(metrics[3]) == {'loss', 'mae'}
    assert np.float32(metrics[3]['mae']) == results['mae']


class TestStopsRealTraining:

  def test_stops_once_evaluate_shows_the_condition(self, tmp_path):
    est = make_estimator(tmp_path)
    est.train(train_input_fn, steps=5)
    loss = float(est.evaluate(eval_input_fn)['loss'])
    not_yet = tf.estimator.experimental.stop_if_lower_hook(
        est, 'loss', loss * 0.99, **every_step())
    assert trained_steps(est, not_yet) == 10
    # The evaluation at step 5 had loss < threshold: the first step is the last.
    crossed = tf.estimator.experimental.stop_if_lower_hook(
        est, 'loss', loss * 1.01, **every_step())
    assert trained_steps(est, crossed, steps=100) == 1
    assert int(est.get_variable_value('global_step')) == 16

  def test_stops_right_after_an_evaluation_appears(self, tmp_path):
    est = make_estimator(tmp_path)

    class EvaluatorAtStep4(tf.estimator.SessionRunHook):
      """Plays an evaluation job whose result lands during training."""

      def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(tf.compat.v1.train.get_global_step())

      def after_run(self, run_context, run_values):
        if run_values.results == 4:
          write_evals(est.eval_dir(), {4: {'mae': 0.01}})

    stop = tf.estimator.experimental.stop_if_lower_hook(est, 'mae', 0.1,
                                                        **every_step())
    est.train(train_input_fn, hooks=[EvaluatorAtStep4(), stop], steps=50)
    assert int(est.get_variable_value('global_step')) == 5


HISTORIES = {
    'rising': {10: {'m': 0.3}, 20: {'m': 0.6}},
    'falling': {10: {'m': 0.6}, 20: {'m': 0.4}},
    'peak_at_10': {0: {'m': 0.5}, 10: {'m': 0.7}, 20: {'m': 0.6}, 30: {'m': 0.65}},
    'low_at_10': {0: {'m': 1.0}, 10: {'m': 0.5}, 20: {'m': 0.6}, 30: {'m': 0.55}},
}
_exp = tf.estimator.experimental


@pytest.mark.parametrize('make_hook,history,stops', [
    (lambda e: _exp.stop_if_higher_hook(e, 'm', 0.5, **every_step()), 'rising', True),
    (lambda e: _exp.stop_if_higher_hook(e, 'm', 0.65, **every_step()), 'rising', False),
    (lambda e: _exp.stop_if_higher_hook(e, 'm', 0.5, **every_step()), 'falling', True),
    (lambda e: _exp.stop_if_higher_hook(e, 'm', 0.5, **every_step(min_steps=11)),
     'falling', False),
    (lambda e: _exp.stop_if_lower_hook(e, 'm', 0.5, **every_step()), 'falling', True),
    (lambda e: _exp.stop_if_lower_hook(e, 'm', 0.25, **every_step()), 'rising', False),
    (lambda e: _exp.stop_if_lower_hook(e, 'm', 0.5, **every_step(min_steps=20)),
     'rising', False),
    (lambda e: _exp.stop_if_no_increase_hook(e, 'm', 20, **every_step()),
     'peak_at_10', True),
    (lambda e: _exp.stop_if_no_increase_hook(e, 'm', 21, **every_step()),
     'peak_at_10', False),
    (lambda e: _exp.stop_if_no_increase_hook(e, 'm', 5, **every_step()),
     'rising', False),
    (lambda e: _exp.stop_if_no_decrease_hook(e, 'm', 20, **every_step()),
     'low_at_10', True),
    (lambda e: _exp.stop_if_no_decrease_hook(e, 'm', 25, **every_step()),
     'low_at_10', False),
    # From step 15 on the best is 0.6 at 20, beaten at 30: no stop.
    (lambda e: _exp.stop_if_no_decrease_hook(e, 'm', 20, **every_step(min_steps=15)),
     'low_at_10', False),
    (lambda e: _exp.stop_if_no_decrease_hook(e, 'm', 10, **every_step()),
     'rising', True),
    (lambda e: _exp.stop_if_no_decrease_hook(e, 'm', 10, **every_step()),
     'falling', False),
])
def test_predicates(tmp_path, make_hook, history, stops):
  est = make_estimator(tmp_path)
  write_evals(est.eval_dir(), HISTORIES[history])
  assert trained_steps(est, make_hook(est)) == (1 if stops else 10)


@pytest.mark.parametrize('make_hook,history,line', [
    (lambda e: _exp.stop_if_higher_hook(e, 'm', 0.5, **every_step()), 'rising',
     # The float32 of the event file, as 2.15 read it too.
     'At step 20, metric "m" has value 0.6000000238418579 which is greater '
     'than the configured threshold (0.5) for early stopping.'),
    (lambda e: _exp.stop_if_lower_hook(e, 'm', 0.5, **every_step()), 'falling',
     'At step 20, metric "m" has value 0.4000000059604645 which is less than '
     'the configured threshold (0.5) for early stopping.'),
    (lambda e: _exp.stop_if_no_increase_hook(e, 'm', 20, **every_step()),
     'peak_at_10', 'No increase in metric "m" for 20 steps, which is greater '
     'than or equal to max steps (20) configured for early stopping.'),
])
def test_the_reason_to_stop_is_logged_in_2_15s_words(tmp_path, caplog,
                                                     make_hook, history, line):
  # Job logs are searched for these lines (2.15's early_stopping.py).
  est = make_estimator(tmp_path)
  write_evals(est.eval_dir(), HISTORIES[history])
  with caplog.at_level('INFO', logger='tensorflow'):
    assert trained_steps(est, make_hook(est)) == 1
  assert line in [record.getMessage() for record in caplog.records]


def test_eval_dir_argument_overrides_the_estimators(tmp_path):
  est = make_estimator(tmp_path / 'model')
  write_evals(tmp_path / 'elsewhere', HISTORIES['falling'])
  hook = _exp.stop_if_lower_hook(est, 'm', 0.5, eval_dir=tmp_path / 'elsewhere',
                                 **every_step())
  assert trained_steps(est, hook) == 1


class CountingPredicate:

  def __init__(self, true_from_call=None):
    self.calls = 0
    self._true_from_call = true_from_call

  def __call__(self):
    self.calls += 1
    return self._true_from_call is not None and self.calls >= self._true_from_call


class TestSchedule:

  def test_run_every_steps(self, tmp_path):
    predicate = CountingPredicate()
    est = make_estimator(tmp_path)
    hook = _exp.make_early_stopping_hook(est, predicate, run_every_secs=None,
                                         run_every_steps=3)
    assert trained_steps(est, hook) == 10
    assert predicate.calls == 4  # at global steps 0, 3, 6, 9

  def test_stops_after_the_step_where_the_predicate_turned_true(self, tmp_path):
    predicate = CountingPredicate(true_from_call=3)
    est = make_estimator(tmp_path)
    hook = _exp.make_early_stopping_hook(est, predicate, run_every_secs=None,
                                         run_every_steps=3)
    assert trained_steps(est, hook) == 7  # third check is at step 6

  def test_run_every_secs_checks_once_in_a_short_run(self, tmp_path):
    predicate = CountingPredicate()
    est = make_estimator(tmp_path)
    hook = _exp.make_early_stopping_hook(est, predicate)
    assert trained_steps(est, hook) == 10
    assert predicate.calls == 1

  def test_non_chief_worker_also_stops(self, tmp_path, monkeypatch):
    monkeypatch.setenv('TF_CONFIG', json.dumps({
        'cluster': {'chief': ['localhost:1'], 'worker': ['localhost:2']},
        'task': {'type': 'worker', 'index': 0}}))
    est = make_estimator(tmp_path)
    assert not est.config.is_chief
    write_evals(est.eval_dir(), HISTORIES['falling'])
    hook = _exp.stop_if_lower_hook(est, 'm', 0.5, **every_step())
    assert trained_steps(est, hook) == 1


class TestErrors:

  def test_unknown_metric_names_it_and_the_available_ones(self, tmp_path):
    est = make_estimator(tmp_path)
    write_evals(est.eval_dir(), {3: {'loss': 1.0, 'mae': 0.5}})
    hook = _exp.stop_if_higher_hook(est, 'accuracy', 0.9, **every_step())
    with pytest.raises(KeyError, match=r"'accuracy'.*\['loss', 'mae'\]"):
      est.train(train_input_fn, hooks=[hook], steps=3)

  def test_metric_missing_only_before_min_steps_is_fine(self, tmp_path):
    est = make_estimator(tmp_path)
    write_evals(est.eval_dir(), {3: {'loss': 1.0}, 9: {'loss': 1.0, 'acc': 1.0}})
    hook = _exp.stop_if_higher_hook(est, 'acc', 0.9, **every_step(min_steps=5))
    assert trained_steps(est, hook) == 1

  def test_secs_and_steps_are_exclusive(self, tmp_path):
    est = make_estimator(tmp_path)
    with pytest.raises(ValueError, match='run_every_secs=None'):
      _exp.stop_if_lower_hook(est, 'loss', 1.0, run_every_steps=5)
    with pytest.raises(ValueError, match='must be set'):
      _exp.make_early_stopping_hook(est, lambda: True, run_every_secs=None)

  def test_bad_arguments(self, tmp_path):
    est = make_estimator(tmp_path)
    with pytest.raises(TypeError, match='should_stop_fn'):
      _exp.make_early_stopping_hook(est, 5)
    with pytest.raises(TypeError, match='estimator'):
      _exp.make_early_stopping_hook('est', lambda: True)
    with pytest.raises(TypeError, match='estimator'):
      _exp.stop_if_higher_hook('est', 'loss', 1.0)
    with pytest.raises(ValueError, match='metric_name'):
      _exp.stop_if_higher_hook(est, None, 1.0)
    with pytest.raises(TypeError, match='threshold'):
      _exp.stop_if_lower_hook(est, 'loss', '1.0')
    with pytest.raises(TypeError, match='max_steps_without_decrease'):
      _exp.stop_if_no_decrease_hook(est, 'loss', None)
    with pytest.raises(TypeError, match='min_steps'):
      _exp.stop_if_no_increase_hook(est, 'auc', 10, min_steps='5')

  def test_train_distribute_checks_by_steps_only(self, tmp_path):
    est = make_estimator(
        tmp_path, train_distribute=tf.distribute.OneDeviceStrategy('/cpu:0'))
    with pytest.raises(ValueError, match='train_distribute'):
      _exp.make_early_stopping_hook(est, lambda: True)
    assert _exp.make_early_stopping_hook(est, lambda: True, run_every_secs=None,
                                         run_every_steps=2) is not None


def test_compat_v1_exports_the_same_functions():
  v1 = tf.compat.v1.estimator.experimental
  for name in ('stop_if_higher_hook', 'stop_if_lower_hook',
               'stop_if_no_increase_hook', 'stop_if_no_decrease_hook',
               'make_early_stopping_hook'):
    assert getattr(v1, name) is getattr(early_stopping, name)
    assert getattr(tf.estimator.experimental, name) is getattr(early_stopping, name)


def test_checkpoints_hold_only_model_variables(tmp_path):
  est = make_estimator(tmp_path)
  hook = _exp.stop_if_lower_hook(est, 'loss', 0.0, **every_step())
  est.train(train_input_fn, hooks=[hook], steps=2)
  # 2.15 added signal_early_stopping/STOP; nothing here needs a variable.
  assert est.get_variable_names() == ['global_step', 'w']


# (hook factory, positional args after the estimator, history) per case.
ORACLE_CASES = [
    ('stop_if_higher_hook', ['m', 0.5], 'rising'),
    ('stop_if_higher_hook', ['m', 0.65], 'rising'),
    ('stop_if_lower_hook', ['m', 0.5], 'falling'),
    ('stop_if_no_increase_hook', ['m', 20], 'peak_at_10'),
    ('stop_if_no_decrease_hook', ['m', 20], 'low_at_10'),
    ('stop_if_no_decrease_hook', ['m', 25], 'low_at_10'),
]

_ORACLE_BODY = """
cases, histories = json.loads(sys.argv[2]), json.loads(sys.argv[3])
out = []
for i, (factory, args, history) in enumerate(cases):
  est = tf.estimator.Estimator(model_fn, model_dir=f'{sys.argv[1]}/{i}')
  write_evals_215(est.eval_dir(), {int(k): v for k, v in histories[history].items()})
  hook = getattr(tf.estimator.experimental, factory)(
      est, *args, run_every_secs=None, run_every_steps=1)
  est.train(train_input_fn, hooks=[hook], steps=10)
  out.append(int(est.get_variable_value('global_step')))
calls = []
est = tf.estimator.Estimator(model_fn, model_dir=sys.argv[1] + '/schedule')
hook = tf.estimator.experimental.make_early_stopping_hook(
    est, lambda: calls.append(1) or len(calls) >= 3, run_every_secs=None,
    run_every_steps=3)
est.train(train_input_fn, hooks=[hook], steps=10)
out.append(int(est.get_variable_value('global_step')))
print(json.dumps(out))
"""


@pytest.mark.slow
def test_2_15_stops_at_the_same_steps(tmp_path, venv215_python):
  theirs = run_oracle(venv215_python, _ORACLE_BODY, tmp_path / 'theirs',
                      json.dumps(ORACLE_CASES), json.dumps(HISTORIES))
  ours = []
  for i, (factory, args, history) in enumerate(ORACLE_CASES):
    est = make_estimator(tmp_path / 'ours' / str(i))
    write_evals(est.eval_dir(), HISTORIES[history])
    ours.append(trained_steps(est, getattr(_exp, factory)(est, *args,
                                                          **every_step())))
  predicate = CountingPredicate(true_from_call=3)
  est = make_estimator(tmp_path / 'ours' / 'schedule')
  ours.append(trained_steps(est, _exp.make_early_stopping_hook(
      est, predicate, run_every_secs=None, run_every_steps=3)))
  assert ours == theirs


_TF1_WORLD = """
import sys
import tfcompat_estimator
tfcompat_estimator.install()
import tensorflow as tf
tf.compat.v1.disable_v2_behavior()
from test_early_stopping import model_fn, train_input_fn
est = tf.estimator.Estimator(model_fn, sys.argv[1])
calls = []
hook = tf.estimator.experimental.make_early_stopping_hook(
    est, lambda: calls.append(1) or len(calls) == 3, run_every_secs=None,
    run_every_steps=10)
est.train(train_input_fn, hooks=[hook], steps=100)
print(int(est.get_variable_value('global_step')))
"""


def test_a_tf1_programs_checks_run_on_the_step_it_fetches(tmp_path):
  """Under TF1's switches 2.15's hook fetched its reference variable's value
  after each step (1, 11, 21: stopped at 21, measured on 2.15); the steps
  between checks were planned on the value before (1, 12, 23). A process
  of its own: the switches are process-wide."""
  here = os.path.dirname(os.path.abspath(__file__))
  out = subprocess.run(
      [sys.executable, '-c', _TF1_WORLD, str(tmp_path)], cwd=here,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3',
               PYTHONPATH=os.pathsep.join(
                   [here] + [p for p in [os.environ.get('PYTHONPATH')] if p])),
      capture_output=True, text=True, timeout=600, check=True)
  assert out.stdout.strip().splitlines()[-1] == '21'


_WORKER = """
import json, os, sys
import tfcompat_estimator
tfcompat_estimator.install()
import tensorflow as tf
from test_early_stopping import model_fn, train_input_fn, StepCounter

index = json.loads(os.environ['TF_CONFIG'])['task']['index']
config = tf.estimator.RunConfig(
    train_distribute=tf.distribute.MultiWorkerMirroredStrategy())
est = tf.estimator.Estimator(model_fn, f'{sys.argv[1]}/{index}', config=config)
calls = []
# Only worker 0 wants to stop, at its second check (global step 2).
hook = tf.estimator.experimental.make_early_stopping_hook(
    est, lambda: calls.append(1) or (index == 0 and len(calls) >= 2),
    run_every_secs=None, run_every_steps=2)
counter = StepCounter()
est.train(train_input_fn, hooks=[hook, counter], steps=10)
print(json.dumps([counter.steps, len(calls)]))
"""


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_job_stops_together_on_any_workers_vote(tmp_path):
  workers = [f'localhost:{_free_port()}' for _ in range(2)]
  here = os.path.dirname(os.path.abspath(__file__))
  procs = []
  for index in range(2):
    env = dict(os.environ, PYTHONPATH=here, TF_CPP_MIN_LOG_LEVEL='2',
               TF_CONFIG=json.dumps({'cluster': {'worker': workers},
                                     'task': {'type': 'worker', 'index': index}}))
    procs.append(subprocess.Popen(
        [sys.executable, '-c', _WORKER, str(tmp_path)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  results = []
  try:
    for proc in procs:
      out, err = proc.communicate(timeout=300)
      assert proc.returncode == 0, err[-3000:]
      results.append(json.loads(out.strip().splitlines()[-1]))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  assert results == [[3, 2], [3, 2]]  # checks at steps 0 and 2, then stop
