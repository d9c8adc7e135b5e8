"""A variable's tensor name under TF1's switches: its value, as in 2.15.

With `disable_v2_behavior()` 2.15's variables were reference variables,
ops of the model graph: `get_tensor_by_name('dense/kernel:0')` in a
model_fn and a hook's fetch of 'dense/kernel:0' gave the variable's value
(TF1 programs log and regularize weights that way). Measured on
tensorflow-estimator 2.15 with this program (`python <this file> DIR`
there prints the same numbers).
"""

import json
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tests.helpers import own_process

_v1 = tf.compat.v1


def _input_fn():
  x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
  return tf.data.Dataset.from_tensor_slices(
      ({'x': x}, x.sum(1, keepdims=True))).repeat().batch(2)


class _FetchByName(_v1.train.SessionRunHook):

  def __init__(self, seen):
    self._seen = seen

  def before_run(self, run_context):
    return _v1.train.SessionRunArgs('dense/kernel:0')

  def after_run(self, run_context, run_values):
    self._seen.append(np.asarray(run_values.results).ravel().tolist())


def _run(model_dir):
  seen = []

  def model_fn(features, labels, mode):
    logits = _v1.layers.dense(features['x'], 1,
                              kernel_initializer=_v1.constant_initializer(0.5))
    kernel = _v1.get_default_graph().get_tensor_by_name('dense/kernel:0')
    loss = (_v1.losses.mean_squared_error(labels, logits) +
            0.01 * tf.reduce_sum(tf.square(kernel)))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=_v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, _v1.train.get_global_step()),
        eval_metric_ops={'kernel_sum': _v1.metrics.mean(tf.reduce_sum(kernel))},
        evaluation_hooks=[_FetchByName(seen)])

  estimator = tf.estimator.Estimator(model_fn, model_dir)
  estimator.train(_input_fn, steps=3)
  metrics = estimator.evaluate(_input_fn, steps=1)
  return {'fetched': seen[0], 'kernel_sum': float(metrics['kernel_sum']),
          'loss': float(metrics['loss']),
          'kernel': estimator.get_variable_value('dense/kernel').ravel().tolist()}


def test_tf1_world_reads_a_variable_by_its_tensor_name(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  got = own_process.run_json(__file__, tmp_path)
  np.testing.assert_allclose(got['fetched'], got['kernel'], rtol=1e-6)
  np.testing.assert_allclose(got['kernel_sum'], sum(got['kernel']), rtol=1e-6)
  # 2.15's numbers for this program (the kernel's L2 term in the loss).
  np.testing.assert_allclose(got['kernel'], _MEASURED['kernel'], rtol=1e-5)
  np.testing.assert_allclose(got['loss'], _MEASURED['loss'], rtol=1e-5)


_MEASURED = {'kernel': [0.6921282410621643, 0.7202634811401367,
                        0.7483987212181091],
             'loss': 0.037498630583286285}


if __name__ == '__main__':
  try:
    import tfcompat_estimator  # pylint: disable=g-import-not-at-top
    tfcompat_estimator.install()
  except ImportError:  # run on tensorflow-estimator 2.15 itself
    pass
  _v1.disable_v2_behavior()
  print(json.dumps(_run(sys.argv[1] if len(sys.argv) > 1 else
                        tempfile.mkdtemp())))
