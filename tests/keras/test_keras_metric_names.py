"""`model_to_estimator`'s metric names: Keras' TF1 names in a TF1 world.

With TF2 behaviour off, 2.15 compiled the model with Keras' v1 training
loop, and `evaluate()` reported the compiled metrics under that loop's
names. Programs of that era read `results['acc']`. Expected keys below
were measured on tensorflow-estimator 2.15 (TF 2.15.1, tf-keras 2.15),
same models, both worlds.
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tests.helpers import own_process

_CASES = {
    'strings': (['accuracy', 'crossentropy', 'mae', 'mse',
                 'categorical_accuracy'], None, False),
    'aliases_and_class': (['ce', 'acc', 'AUC'], None, False),
    'weighted': (['mae'], ['acc'], False),
    'two_outputs': ({'a': 'acc', 'b': ['crossentropy', 'mae']}, None, True),
}

_MEASURED_TF1 = {
    'strings': ['acc', 'categorical_accuracy', 'ce', 'mean_absolute_error',
                'mean_squared_error'],
    'aliases_and_class': ['acc', 'auc', 'ce'],
    'weighted': ['mean_absolute_error', 'weighted_acc'],
    'two_outputs': ['a_acc', 'b_ce', 'b_mean_absolute_error'],
}


def _metric_keys(case, model_dir):
  metrics, weighted, two_outputs = _CASES[case]
  keras = tf.compat.v1.keras
  if two_outputs:
    inputs = keras.layers.Input([4], name='x')
    outputs = [keras.layers.Dense(3, activation='softmax', name=name)(inputs)
               for name in ('a', 'b')]
    model = keras.models.Model(inputs, outputs)
  else:
    model = keras.models.Sequential([
        keras.layers.InputLayer(input_shape=[4], name='x'),
        keras.layers.Dense(3, activation='softmax', name='p')])
  model.compile(optimizer='adam', loss='categorical_crossentropy',
                metrics=metrics, weighted_metrics=weighted)
  estimator = keras.estimator.model_to_estimator(keras_model=model,
                                                 model_dir=model_dir)
  x = np.random.RandomState(0).rand(16, 4).astype(np.float32)
  y = np.eye(3, dtype=np.float32)[np.arange(16) % 3]
  input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      {'x': x}, {'a': y, 'b': y} if two_outputs else y, batch_size=8,
      num_epochs=1, shuffle=False)
  estimator.train(input_fn, steps=1)
  results = estimator.evaluate(input_fn)
  return sorted(k for k in results if k not in ('loss', 'global_step'))


def test_tf1_world_reports_keras_v1_metric_names(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  assert own_process.run_json(__file__, tmp_path) == _MEASURED_TF1


def test_tf2_world_keeps_the_given_names(tmp_path):
  """Measured on 2.15 with TF2 behaviour on: the strings as given."""
  assert _metric_keys('strings', str(tmp_path)) == sorted(_CASES['strings'][0])


def _tf1_child(model_dir):
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  tf.compat.v1.disable_v2_behavior()
  print(json.dumps({case: _metric_keys(case, os.path.join(model_dir, case))
                    for case in _CASES}))


if __name__ == '__main__':
  _tf1_child(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
