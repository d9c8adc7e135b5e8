"""Checkpoints every N seconds are saved between the steps of one train().

2.15's CheckpointSaverHook looked at its timer after every step and saved
at the first step that ended N seconds or more after the last save: with
steps of 0.1 s and `save_checkpoints_secs=1`, a 40-step call saved at
steps 0, 10, 20, 30 and 40 (measured on 2.15). The engine runs steps in
compiled calls, so it must end a call where the interval runs out; left to
the other duties (100 steps by default) it saved at 0 and 40 only, and a
third-party train_and_evaluate job on a timed schedule lost an evaluation.

Run as a script (`python this_file out.json`), the file trains once and
writes what it saved: that is how 2.15 runs the same program.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

_STEP_SECS = 0.1
_SAVE_SECS = 1
_STEPS = 40


def _model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [1], initializer=tf.zeros_initializer())
  loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
  # Each step lasts at least _STEP_SECS: a slow model, as the schedule sees it.
  pause = tf.numpy_function(lambda: np.float32(time.sleep(_STEP_SECS) or 0),
                            [], tf.float32)
  with tf.control_dependencies([pause]):
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
  x = np.ones((8, 1), np.float32)
  return tf.data.Dataset.from_tensors(({'x': x}, x)).repeat()


def _saved_on_timer(model_dir):
  """`{'steps': [...], 'times': [...]}` of the checkpoints of one train()."""
  config = tf.estimator.RunConfig(save_checkpoints_secs=_SAVE_SECS,
                                  keep_checkpoint_max=100)
  est = tf.estimator.Estimator(_model_fn, model_dir=model_dir, config=config)
  est.train(_input_fn, max_steps=_STEPS)
  paths = tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths
  # File times: 2.15's state file kept no timestamps.
  return {'steps': [int(p.rsplit('-', 1)[1]) for p in paths],
          'times': [os.path.getmtime(p + '.index') for p in paths]}


def _check_timed_saves(saved):
  steps, times = saved['steps'], saved['times']
  assert steps[0] == 0 and steps[-1] == _STEPS, steps
  # At least 0.1 s a step: 4 s or more of steps, a save each second.
  assert len(steps) - 2 >= 3, steps
  # A save no more than one step after its interval ran out (steps of 0.1 s
  # or more: at most 10 steps a second, plus the step that ends it).
  assert np.diff(steps[:-1]).max() <= 11, steps
  # And never before it: each save an interval after the last (file times,
  # give or take the time a save takes to reach its index file).
  assert np.diff(times[:-1]).min() >= _SAVE_SECS * 0.9, (steps, times)


def test_saves_on_a_timer_within_one_train_call(tmp_path):
  _check_timed_saves(_saved_on_timer(str(tmp_path)))


def test_timed_saves_as_on_2_15(venv215_python, tmp_path):
  from tests.helpers import reference_runner  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'saved.json'
  proc = subprocess.run([venv215_python, __file__, str(out)],
                        env=reference_runner.env_215(
                            reference_runner.scenario_env()),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  _check_timed_saves(json.loads(out.read_text()))  # the rule is 2.15's


if __name__ == '__main__':
  with open(sys.argv[1], 'w') as f:
    json.dump(_saved_on_timer(tempfile.mkdtemp()), f)
