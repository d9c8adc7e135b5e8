"""A program that puts `tf.compat.v1` in `sys.modules['tensorflow']`.

Launchers of TF1 scripts do this so that the scripts' own
`import tensorflow as tf` gets the v1 API. The canned estimators' modules
are imported on first use, after the swap; they must still get TensorFlow
itself (`platform/tensorflow_alias.py`). A process of its own: the swap and
TF1's switches are process-wide.
"""

import json
import sys

import numpy as np

from tests.helpers import own_process


def test_canned_estimators_run_after_the_program_aliased_tensorflow(tmp_path):
  result = own_process.run_json(__file__, tmp_path)
  # 2.15's keys for a DNNRegressor's evaluate, measured with this program.
  assert result['keys'] == ['average_loss', 'global_step', 'label/mean',
                            'loss', 'prediction/mean']
  assert result['global_step'] == 5
  assert result['loss_is_finite']
  # Only while the program's alias stands does the finder step in.
  assert result['tensorflow_after'] == 'tensorflow.compat.v1'


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  import tensorflow.compat.v1 as tf1  # pylint: disable=g-import-not-at-top
  tf1.disable_v2_behavior()
  sys.modules['tensorflow'] = tf1
  import tensorflow as tf  # pylint: disable=g-import-not-at-top,reimported
  x = np.random.RandomState(0).rand(40, 3)
  y = x.sum(1)
  estimator = tf.estimator.DNNRegressor(
      feature_columns=[tf.feature_column.numeric_column('x', shape=[3])],
      hidden_units=[4], model_dir=sys.argv[1])
  estimator.train(tf.estimator.inputs.numpy_input_fn(
      {'x': x}, y, batch_size=8, num_epochs=None, shuffle=True), steps=5)
  metrics = estimator.evaluate(tf.estimator.inputs.numpy_input_fn(
      {'x': x}, y, num_epochs=1, shuffle=False))
  print(json.dumps({'keys': sorted(metrics),
                    'global_step': int(metrics['global_step']),
                    'loss_is_finite': bool(np.isfinite(metrics['loss'])),
                    'tensorflow_after': sys.modules['tensorflow'].__name__}))
