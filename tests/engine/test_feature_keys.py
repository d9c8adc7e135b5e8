"""A features dict may hold int keys beside str ones, as in 2.15.

2.15 handed the input_fn's dict to the model_fn as it was; the engine
flattens batches with `tf.nest`, which cannot sort such keys, so they travel
under stand-in strings (`engine/feature_keys.py`). The figures were measured
with this program on tensorflow-estimator 2.15, in both worlds: its
train, evaluate and export gave these values; its predict raised
`TypeError: '<' not supported between instances of 'int' and 'str'`, which
works here.
"""

import itertools
import json
import sys

import pytest
import tensorflow as tf

from tfcompat_estimator.engine import feature_keys
from tests.helpers import own_process

_v1 = tf.compat.v1


def _input_fn():
  return ({'x': tf.constant([[1.0], [2.0]]), 7: tf.constant([[3.0], [0.5]])},
          tf.constant([[4.0], [5.0]]))


def _serving_input_fn():
  x = _v1.placeholder(tf.float32, [None, 1])
  seven = _v1.placeholder(tf.float32, [None, 1])
  # Receiver tensors are a signature's inputs: str keys only.
  return tf.estimator.export.ServingInputReceiver({'x': x, 7: seven},
                                                  {'x': x, 'seven': seven})


def _run(model_dir, export_base):
  keys_seen = set()

  def model_fn(features, labels, mode):
    keys_seen.update((type(k).__name__, k) for k in features)
    w = _v1.get_variable('w', [1], initializer=_v1.ones_initializer())
    pred = tf.maximum(features['x'], features[7]) * w
    loss = train_op = None
    if labels is not None:
      loss = tf.reduce_mean(tf.square(pred - labels))
    if mode == tf.estimator.ModeKeys.TRAIN:
      train_op = _v1.train.GradientDescentOptimizer(0.01).minimize(
          loss, global_step=_v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(
        mode, predictions={'p': pred}, loss=loss, train_op=train_op,
        export_outputs={'out': tf.estimator.export.PredictOutput({'p': pred})})

  est = tf.estimator.Estimator(model_fn, model_dir)
  est.train(_input_fn, steps=3)
  loss = est.evaluate(_input_fn, steps=1)['loss']
  predictions = [p['p'].tolist() for p in
                 itertools.islice(est.predict(lambda: _input_fn()[0]), 2)]
  export_dir = est.export_saved_model(export_base, _serving_input_fn)
  with tf.Graph().as_default(), _v1.Session() as session:
    signature = _v1.saved_model.load(
        session, ['serve'], export_dir).signature_def['serving_default']
    served = session.run(signature.outputs['p'].name, {
        signature.inputs['x'].name: [[1.0]],
        signature.inputs['seven'].name: [[2.5]]})
  return {'keys': sorted(keys_seen), 'loss': float(loss),
          'predictions': predictions, 'served': served.tolist()}


def _check(result):
  assert result['keys'] == [['int', 7], ['str', 'x']]
  assert result['loss'] == pytest.approx(3.23553, abs=1e-5)
  # 2.15 gave no predictions: these are max(x, features[7]) times the w
  # its export served with (3.0910525 / 2.5).
  assert sum(result['predictions'], []) == pytest.approx([3.7092628, 2.4728420])
  assert result['served'][0] == pytest.approx([3.0910525])


def test_a_model_fn_gets_int_and_str_keys_in_tf2(tmp_path):
  result = _run(str(tmp_path / 'model'), str(tmp_path / 'export'))
  _check(json.loads(json.dumps(result)))


def test_a_model_fn_gets_int_and_str_keys_in_a_tf1_world(tmp_path):
  _check(own_process.run_json(__file__, tmp_path / 'model',
                              tmp_path / 'export'))


def test_only_keys_that_cannot_be_sorted_together_are_replaced():
  str_keys = {'b': 1, 'a': 2}
  int_keys = {2: 1, 1: 2}
  assert feature_keys.encode(str_keys) is str_keys
  assert feature_keys.encode(int_keys) is int_keys
  mixed = feature_keys.encode({'a': 1, 3: 2})
  assert all(isinstance(k, str) for k in mixed)
  assert feature_keys.decode(mixed) == {'a': 1, 3: 2}
  features, labels = feature_keys.encode_result(({'a': 1, 3: 2}, {'y': 3}))
  assert features == mixed and labels == {'y': 3}


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  print(json.dumps(_run(sys.argv[1], sys.argv[2])))
