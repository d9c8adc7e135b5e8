"""`train_and_evaluate` schedules against the real tensorflow-estimator 2.15.

One scenario script runs under the 2.15 reference interpreter and under ours
(after `install()`). Per scenario it reports which checkpoints were evaluated
(eval event files and the exporter calls with their arguments), the returned
metric keys and exports, or the type of the error raised. Both must agree.
"""

import pytest
from tests.helpers import reference_runner

SCENARIO = r'''
import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf


def model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [2, 1])
  pred = tf.matmul(features['x'], w)
  loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op, eval_metric_ops={
          'mae': tf.compat.v1.metrics.mean_absolute_error(labels, pred)})


def input_fn():
  x = np.arange(16, dtype=np.float32).reshape(8, 2) / 16
  y = x.sum(axis=1, keepdims=True)
  return tf.data.Dataset.from_tensor_slices(({'x': x}, y)).repeat().batch(4)


def eval_input_fn():
  return input_fn().take(2)


class Recorder(tf.estimator.Exporter):

  def __init__(self, name, calls):
    self._name, self._calls = name, calls

  @property
  def name(self):
    return self._name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    self._calls.append([os.path.relpath(export_path, estimator.model_dir),
                        os.path.basename(checkpoint_path),
                        int(eval_result['global_step']),
                        bool(is_the_final_export)])
    return self._name


class StopAt(tf.compat.v1.train.SessionRunHook):
  """Stops training once `step` steps are done, like an early-stopping hook."""

  def __init__(self, step):
    self._step = step

  def begin(self):
    self._gs = tf.compat.v1.train.get_global_step()

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(self._gs)

  def after_run(self, run_context, run_values):
    if run_values.results + 1 >= self._step:
      run_context.request_stop()


def run(model_dir, max_steps, config, throttle_secs, hooks=(), start_delay=0):
  calls = []
  est = tf.estimator.Estimator(model_fn, model_dir=model_dir,
                               config=tf.estimator.RunConfig(**config))
  train = tf.estimator.TrainSpec(input_fn, max_steps=max_steps,
                                 hooks=list(hooks))
  evaluation = tf.estimator.EvalSpec(
      eval_input_fn, steps=None, throttle_secs=throttle_secs,
      start_delay_secs=start_delay,
      exporters=[Recorder('a', calls), Recorder('b', [])])
  try:
    result = tf.estimator.train_and_evaluate(est, train, evaluation)
  except Exception as e:  # pylint: disable=broad-except
    return {'error': type(e).__name__}
  out = {'calls': calls, 'eval_steps': sorted({
      int(e.step)
      for f in tf.io.gfile.glob(os.path.join(model_dir, 'eval', 'events*'))
      for e in tf.compat.v1.train.summary_iterator(f) if e.summary.value})}
  if result is None:
    out['result'] = None
  else:
    metrics, exports = result
    out['result'] = [
        None if metrics is None else sorted(metrics),
        None if metrics is None else int(metrics['global_step']), exports]
  return out


def main(out_path):
  root = tempfile.mkdtemp()
  d = lambda name: os.path.join(root, name)
  every10 = {'save_checkpoints_steps': 10}
  out = {
      'throttle_0': run(d('a'), 35, every10, 0),
      'throttle_600': run(d('b'), 35, every10, 600),
      'checkpoint_secs': run(d('c'), 35, {}, 0),
      'early_stop': run(d('e'), 35, every10, 0, [StopAt(17)]),
      'already_done': run(d('a'), 35, every10, 0),
      'resumed': run(d('a'), 50, every10, 0),
      'no_checkpointing': run(d('f'), 35, {'save_checkpoints_steps': None,
                                           'save_checkpoints_secs': None}, 0),
      'no_max_steps': run(d('g'), None, every10, 0, [StopAt(12)]),
      'saved_elsewhere': run(d('h'), 25, every10, 0, [
          tf.compat.v1.train.CheckpointSaverHook(d('other'), save_steps=10)]),
  }
  # An evaluator task over the finished model_dir of 'resumed' (step 50).
  os.environ['TF_CONFIG'] = json.dumps({
      'cluster': {'chief': ['localhost:2222'], 'worker': ['localhost:2223']},
      'task': {'type': 'evaluator', 'index': 0}})
  out['evaluator'] = run(d('a'), 50, {}, 1)
  with open(out_path, 'w') as f:
    json.dump(out, f)


main(sys.argv[1])
'''

@pytest.mark.slow
def test_train_and_evaluate_schedules_match_2_15(venv215_python, tmp_path):
  theirs, ours = reference_runner.run_both(
      venv215_python, SCENARIO, tmp_path, reference_runner.scenario_env())
  assert theirs['throttle_0']['eval_steps'] == [10, 20, 30, 35]  # sanity
  assert ours == theirs
