"""A TF2 summary writer a model_fn makes writes for the whole call.

SimCLR's TF1 model_fn makes `tf.summary.create_file_writer(model_dir)`,
waits on `writer.init()` and writes its scalars under it. In 2.15 the
writer was a resource of the call's session and `init()` an op. Here the
captured graph lifts the writer out as an eager resource: `init()` gave
None (`tf.control_dependencies([None])`: TypeError) and the writer died
with the model_fn's local variable (its summaries failed with
NotFoundError). Measured on tensorflow-estimator 2.15 with this program in
TF2 and TF1 worlds: every step's value is in the events file when train()
returns, with no flush in the graph (`tf.summary.write` needs no
TensorBoard; SimCLR's `tf.summary.scalar` does here, see
docs/tpu_estimator.md).
"""

import glob
import json
import os
import sys

import numpy as np
import tensorflow as tf

from tests.helpers import own_process

_v1 = tf.compat.v1


def _model_fn_writing_to(logdir):

  def model_fn(features, labels, mode):
    w = _v1.get_variable('w', [1, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
    step = _v1.train.get_or_create_global_step()
    writer = tf.summary.create_file_writer(logdir)
    with tf.control_dependencies([writer.init()]), writer.as_default():
      written = tf.summary.write('model_loss', loss, step=step)
    train_op = _v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, global_step=step)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=tf.group(train_op, written))

  return model_fn


def _input_fn():
  x = np.arange(8, dtype=np.float32).reshape(8, 1)
  return tf.data.Dataset.from_tensor_slices(({'x': x}, x * 2)).repeat().batch(4)


def _observe(root):
  logdir = os.path.join(root, 'writer')
  est = tf.estimator.Estimator(_model_fn_writing_to(logdir),
                               os.path.join(root, 'model'))
  est.train(_input_fn, max_steps=3)
  steps = []
  for path in glob.glob(os.path.join(logdir, 'events.out.tfevents.*')):
    for event in _v1.train.summary_iterator(path):
      steps += [event.step for value in event.summary.value
                if value.tag == 'model_loss']
  return {'steps': sorted(steps)}


def test_a_model_fn_writer_lives_for_the_call(tmp_path):
  assert _observe(str(tmp_path)) == {'steps': [0, 1, 2]}


def test_in_a_tf1_world_too(tmp_path):
  assert own_process.run_json(__file__, tmp_path) == {'steps': [0, 1, 2]}


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  print(json.dumps(_observe(sys.argv[1])))
