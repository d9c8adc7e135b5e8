"""A TF2 summary writer a hook makes in `begin()` writes for the whole call.

AdaNet's summary hook makes a `tf.summary.create_file_writer` in `begin()`,
keeps only the summary ops it built under it, runs `writer.init()` in
`after_create_session` and fetches the ops in `before_run`. In 2.15 the
writer was a resource of the call's session: one events file per train()
call, every step's value in it when train() returned, flushed or not. Here
the captured graph makes it an eager resource, which died with the hook's
local variable (the summaries failed with NotFoundError). The values below
were measured on tensorflow-estimator 2.15 with this program, in TF2 and
TF1 worlds alike (`tf.summary.scalar` gives the same; `tf.summary.write`
needs no TensorBoard). Its step is the global step the step started with
(that read is ordered before the increment); the weight's read is not
ordered against the step's update, in 2.15 either, so a value may be the
weight after the step (0.8 ** (step + 1) instead of 0.8 ** step).
"""

import glob
import json
import os
import sys

import numpy as np
import tensorflow as tf

from tests.helpers import own_process

_v1 = tf.compat.v1


class _SummaryHook(_v1.train.SessionRunHook):

  def __init__(self, logdir):
    self._logdir = logdir

  def begin(self):
    writer = tf.summary.create_file_writer(self._logdir)
    weight = [v for v in _v1.trainable_variables() if v.op.name == 'w'][0]
    with writer.as_default():
      self._ops = [tf.summary.write('w_norm', tf.norm(weight),
                                    step=_v1.train.get_global_step())]
    self._init = writer.init()

  def after_create_session(self, session, coord):
    session.run(self._init)

  def before_run(self, run_context):
    return _v1.train.SessionRunArgs(self._ops)


def _model_fn(features, labels, mode):
  w = _v1.get_variable('w', [1], initializer=_v1.ones_initializer())
  loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
  return tf.estimator.EstimatorSpec(
      mode, loss=loss,
      train_op=_v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=_v1.train.get_global_step()))


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(
      ({'x': np.ones((8, 1), np.float32)}, np.zeros((8, 1), np.float32))
  ).repeat().batch(4)


def _events(logdir):
  """[(step, value), ...] of each events file, oldest file first."""
  files = sorted(glob.glob(os.path.join(logdir, 'events*')),
                 key=os.path.getmtime)
  return [[[event.step, round(float(tf.make_ndarray(value.tensor)), 4)]
           for event in _v1.train.summary_iterator(path)
           for value in event.summary.value] for path in files]


def _observe(model_dir):
  logdir = os.path.join(model_dir, 'hook_summaries')
  est = tf.estimator.Estimator(_model_fn, model_dir=model_dir)
  est.train(_input_fn, steps=3, hooks=[_SummaryHook(logdir)])
  after_first = _events(logdir)
  est.train(_input_fn, steps=2, hooks=[_SummaryHook(logdir)])
  return {'after_first': after_first, 'after_second': _events(logdir)}


# 2.15's steps per events file; it gave each step's weight before the step.
_STEPS_ON_2_15 = {'after_first': [[0, 1, 2]], 'after_second': [[0, 1, 2], [3, 4]]}


def _check(observed):
  for when, files in observed.items():
    assert [[step for step, _ in f] for f in files] == _STEPS_ON_2_15[when]
    for step, value in (event for f in files for event in f):
      assert value in (round(0.8 ** step, 4), round(0.8 ** (step + 1), 4))


def test_a_hook_writer_lives_for_the_call(tmp_path):
  _check(_observe(str(tmp_path)))


def test_in_a_tf1_world_too(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  _check(own_process.run_json(__file__, tmp_path))


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  print(json.dumps(_observe(sys.argv[1])))
