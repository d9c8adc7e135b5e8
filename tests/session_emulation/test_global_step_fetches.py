"""What a fetch of the global step gives in a training step, in both worlds.

Under TF1's switches (`disable_v2_behavior`) 2.15's global step was a
reference variable: fetched in the same run as the train op, the variable
gave the value after the step, so a hook fetching `get_global_step()` saw
1, 2, 3, 4 over four steps and the loss log said "step = 1" first, while
the global step's read (what StopAtStepHook fetches) gave the value before.
With TF2 behaviour (a resource variable) both gave the value before the
step: 0, 1, 2, 3 and "step = 0", as under a `train_distribute` strategy in
either world. Measured on tensorflow-estimator 2.15 with this program
(cloudml-samples, training-data-analyst and tensorflow/models programs log
these lines).
"""

import json
import logging
import re
import sys

import pytest
import tensorflow as tf

from tests.helpers import own_process

_v1 = tf.compat.v1


def _model_fn(features, labels, mode):
  w = _v1.get_variable('w', [1], initializer=_v1.zeros_initializer())
  loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=_v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=_v1.train.get_or_create_global_step()))


def _input_fn():
  return tf.data.Dataset.from_tensors(
      ({'x': tf.constant([[1.0]])}, tf.constant([[2.0]]))).repeat()


class _FetchGlobalStep(_v1.train.SessionRunHook):

  def begin(self):
    self.variable = _v1.train.get_global_step()
    self.seen = []

  def before_run(self, run_context):
    return _v1.train.SessionRunArgs(self.variable)

  def after_run(self, run_context, run_values):
    self.seen.append(int(run_values.results))


class _Lines(logging.Handler):

  def __init__(self):
    super().__init__()
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


def _observe(model_dir, strategy=None):
  fetching = _FetchGlobalStep()
  lines = _Lines()
  logger = logging.getLogger('tensorflow')
  logger.addHandler(lines)
  old_level = _v1.logging.get_verbosity()
  _v1.logging.set_verbosity(_v1.logging.INFO)
  try:
    est = tf.estimator.Estimator(
        _model_fn, model_dir,
        config=tf.estimator.RunConfig(log_step_count_steps=3,
                                      train_distribute=strategy))
    est.train(_input_fn, max_steps=7,
              hooks=[fetching, _v1.train.StopAtStepHook(last_step=5)])
  finally:
    logger.removeHandler(lines)
    _v1.logging.set_verbosity(old_level)
  return {
      'fetched': fetching.seen,
      'logged': [int(m.group(1)) for m in
                 (re.match(r'loss = .*, step = (\d+)', l) for l in lines.lines)
                 if m],
      'last_step': int(est.get_variable_value('global_step')),
  }


def test_with_tf2_behaviour_fetches_give_the_value_before_the_step(tmp_path):
  assert _observe(str(tmp_path)) == {
      'fetched': [0, 1, 2, 3, 4], 'logged': [0, 3], 'last_step': 5}


def test_in_a_tf1_world_the_variable_gives_the_value_after_the_step(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  # StopAtStepHook (which fetches the read) still stops at step 5.
  assert own_process.run_json(__file__, tmp_path) == {
      'fetched': [1, 2, 3, 4, 5], 'logged': [1, 4], 'last_step': 5}


def test_in_a_tf1_world_a_strategys_variable_gives_the_value_before(tmp_path):
  # A strategy made resource variables under TF1's switches too (the
  # transformer of tensorflow/models' official/r1 logs "step = 0" so).
  assert own_process.run_json(__file__, tmp_path, 'mirrored') == {
      'fetched': [0, 1, 2, 3, 4], 'logged': [0, 3], 'last_step': 5}


class _RunsAfterEachStep(_v1.train.SessionRunHook):
  """Runs the session on variables after each step (ELECTRA's ETAHook)."""

  def begin(self):
    self.global_step = _v1.train.get_global_step()
    self.w = [v for v in _v1.global_variables() if v.op.name == 'w'][0]
    self.seen = []

  def after_run(self, run_context, run_values):
    session = run_context.session
    self.seen.append((int(session.run(self.global_step)),
                      int(session.run('global_step:0')),
                      float(session.run(self.w)[0]),
                      [int(x) for x in session.run([self.global_step,
                                                    self.global_step])]))


def test_a_hooks_session_run_of_variables_gives_their_values_now(tmp_path):
  hook = _RunsAfterEachStep()
  est = tf.estimator.Estimator(_model_fn, str(tmp_path))
  est.train(_input_fn, steps=3, hooks=[hook])
  # w after each step of gradient descent from 0 on loss (w - 2)^2.
  w = [0.4, 0.72, 0.976]
  assert [s[:2] + s[3:] for s in hook.seen] == [
      (step, step, [step, step]) for step in (1, 2, 3)]
  assert [s[2] for s in hook.seen] == pytest.approx(w)
  assert est.get_variable_value('w')[0] == pytest.approx(w[-1])


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  print(json.dumps(_observe(sys.argv[1], tf.distribute.MirroredStrategy(
      ['/cpu:0']) if sys.argv[2:] == ['mirrored'] else None)))
