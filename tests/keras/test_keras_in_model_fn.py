"""Keras models built inside a model_fn, in TF2 and TF1 worlds, as on 2.15.

A model with an input shape (`Sequential([Layer(..., input_shape=...)])`,
`tf.keras.Input` with `tf.keras.Model`) recursed until the stack overflowed
(tensorflow/models' official mnist; the model_fn of TF2's estimator guide
and multi-worker Estimator tutorial): see engine/tf1_graph_semantics.py. The
numbers below were measured on tensorflow-estimator 2.15 (TF 2.15.1) with
the same program, in both worlds: a functional model with batch
normalization, its moving averages updated through `get_updates_for` or not
at all (the UPDATE_OPS collection is empty for Keras layers, on 2.15 too).
"""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import own_process

_v1 = tf.compat.v1
_X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
_Y = (_X.sum(1, keepdims=True) > 0).astype(np.float32)
# Measured on 2.15 (TF1 and TF2 worlds alike), 6 steps of batch 4.
_MEASURED = {
    'get_updates_for': {'moving_mean': 0.15258, 'loss': 0.14666,
                        'logits': [-8.20915, -6.23338, -4.25761, -2.28185]},
    'collection': {'moving_mean': 0.0, 'loss': 0.3144,
                   'logits': [-1.9928, -1.42242, -0.85203, -0.28165]},
}


def _batch_norm_model_fn(updates_idiom):
  """A functional Keras model with batch normalization, made in the model_fn."""

  def model_fn(features, labels, mode):
    inputs = tf.keras.Input((3,))
    hidden = tf.keras.layers.Dense(
        4, kernel_initializer=tf.keras.initializers.Constant(0.3))(inputs)
    hidden = tf.keras.layers.BatchNormalization(momentum=0.5)(hidden)
    model = tf.keras.Model(
        inputs, tf.keras.layers.Dense(1, kernel_initializer='ones')(hidden))
    logits = model(features['x'], training=mode == tf.estimator.ModeKeys.TRAIN)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'logits': logits})
    loss = _v1.losses.sigmoid_cross_entropy(labels, logits)
    if updates_idiom == 'get_updates_for':
      updates = model.get_updates_for(features['x'])
    else:
      updates = _v1.get_collection(_v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train_op = _v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=_v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  return model_fn


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).batch(4).repeat()


def _train_evaluate_predict(model_dir, updates_idiom):
  est = tf.estimator.Estimator(_batch_norm_model_fn(updates_idiom), model_dir)
  est.train(_input_fn, steps=6)
  metrics = est.evaluate(lambda: _input_fn().take(2))
  predictions = est.predict(
      lambda: tf.data.Dataset.from_tensor_slices({'x': _X}).batch(4))
  return {
      'moving_mean': est.get_variable_value(
          'batch_normalization/moving_mean').tolist(),
      'loss': float(metrics['loss']),
      'logits': [float(p['logits'][0]) for p in predictions][:4],
  }


def _assert_as_measured(got, updates_idiom):
  expected = _MEASURED[updates_idiom]
  np.testing.assert_allclose(got['moving_mean'], [expected['moving_mean']] * 4,
                             atol=1e-5)
  np.testing.assert_allclose(got['loss'], expected['loss'], atol=1e-5)
  np.testing.assert_allclose(got['logits'], expected['logits'], atol=1e-4)


@pytest.mark.parametrize('updates_idiom', sorted(_MEASURED))
def test_a_functional_model_trains_as_on_2_15(tmp_path, updates_idiom):
  _assert_as_measured(_train_evaluate_predict(str(tmp_path), updates_idiom),
                      updates_idiom)


def test_functional_model_in_tf1_world_as_on_2_15(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  got = own_process.run_json(__file__, tmp_path)
  for updates_idiom in _MEASURED:
    _assert_as_measured(got[updates_idiom], updates_idiom)
  assert got['sequential_steps'] == 2
  _assert_names_as_on_2_15(got['names'])


def _sequential_model_fn(features, labels, mode):
  """official/mnist's idiom: the first layer names the input shape."""
  model = tf.keras.Sequential([
      tf.keras.layers.Reshape([2, 2, 1], input_shape=(4,)),
      tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])
  logits = model(features, training=mode == tf.estimator.ModeKeys.TRAIN)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions={'classes': tf.argmax(logits, axis=1)})
  loss = _v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=_v1.train.AdamOptimizer(1e-3).minimize(
          loss, _v1.train.get_or_create_global_step()))


_SEQUENTIAL_X = np.arange(32, dtype=np.float32).reshape(8, 4) / 32


def _sequential_input_fn():
  return tf.data.Dataset.from_tensor_slices(
      (_SEQUENTIAL_X, np.arange(8) % 2)).batch(4)


def test_a_sequential_model_with_an_input_shape_trains_and_exports(tmp_path):
  est = tf.estimator.Estimator(_sequential_model_fn, str(tmp_path / 'model'))
  est.train(_sequential_input_fn, steps=2)
  assert est.get_variable_value('global_step') == 2
  assert est.evaluate(_sequential_input_fn)['global_step'] == 2
  predictions = list(est.predict(lambda: _sequential_input_fn().map(
      lambda x, y: x)))
  assert len(predictions) == 8

  def receiver():
    x = _v1.placeholder(tf.float32, [None, 4])
    return tf.estimator.export.TensorServingInputReceiver(x, x)

  export_dir = est.export_saved_model(str(tmp_path / 'export'), receiver)
  served = tf.saved_model.load(export_dir.decode()).signatures[
      'serving_default'](tf.constant(_SEQUENTIAL_X))
  assert served['classes'].numpy().tolist() == [
      p['classes'] for p in predictions]


def _guide_model_fn(optimizer):
  """TF2's estimator guide: regularization losses and updates taken from the
  model, a v1 or a Keras (legacy, iterations = global step) optimizer."""

  def model_fn(features, labels, mode):
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(8, activation='relu', input_shape=(4,),
                              kernel_initializer='ones',
                              kernel_regularizer=tf.keras.regularizers.l2(0.01)),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Dense(
            2, kernel_initializer=tf.keras.initializers.Constant(0.1))])
    logits = model(features['x'], training=mode == tf.estimator.ModeKeys.TRAIN)
    losses = model.get_losses_for(None) + model.get_losses_for(features['x'])
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, logits) + tf.math.add_n(losses)
    if mode == tf.estimator.ModeKeys.EVAL:
      return tf.estimator.EstimatorSpec(mode, loss=loss)
    updates = model.get_updates_for(None) + model.get_updates_for(features['x'])
    step = _v1.train.get_or_create_global_step()
    if optimizer == 'v1':
      minimize = _v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, var_list=model.trainable_variables, global_step=step)
    else:
      keras_optimizer = tf.keras.optimizers.legacy.SGD(0.1)
      keras_optimizer.iterations = step
      minimize = keras_optimizer.get_updates(loss, model.trainable_variables)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=tf.group(minimize, updates))

  return model_fn


@pytest.mark.parametrize('optimizer', ['v1', 'keras'])
def test_the_tf2_guides_model_fn_trains_as_on_2_15(tmp_path, optimizer):
  x = np.linspace(-1, 1, 256, dtype=np.float32).reshape(64, 4)
  input_fn = lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, (x.sum(1) > 0).astype(np.int64))).batch(16).repeat()
  est = tf.estimator.Estimator(_guide_model_fn(optimizer), str(tmp_path))
  est.train(input_fn, steps=8)
  # Measured on 2.15, both optimizers.
  assert est.evaluate(lambda: input_fn().take(4))['loss'] == pytest.approx(
      1.00321, abs=1e-5)
  np.testing.assert_allclose(
      est.get_variable_value('batch_normalization/moving_mean'),
      [0.0778] * 8, atol=1e-4)


def test_a_model_graph_answers_executing_eagerly_outside_functions_as_tf1(
    tmp_path):
  answers = []

  def model_fn(features, labels, mode):
    answers.append(_v1.executing_eagerly_outside_functions())
    return _sequential_model_fn(features, labels, mode)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(_sequential_input_fn, steps=1)
  # False in the model graph, as in 2.15's; the process is still eager.
  assert answers == [False]
  assert _v1.executing_eagerly_outside_functions()


class Net(tf.keras.Model):
  """Auto-named, as the Object Detection API's detection models are."""

  def __init__(self):
    super().__init__()
    self.dense = tf.keras.layers.Dense(
        1, kernel_initializer=tf.keras.initializers.Constant(0.5))

  def call(self, x):
    return self.dense(x)


def _names_input_fn():
  # The Object Detection API's input functions build a detection model to
  # use its preprocess(); its serving input function does too.
  Net()
  return tf.data.Dataset.from_tensors(({'x': [[1.0], [2.0]]}, [[1.], [3.]]))


def _names_receiver():
  Net()
  x = _v1.placeholder(tf.float32, [None, 1], name='x')
  return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})


def _names_model_fn(features, labels, mode):
  prediction = Net()(features['x'])
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': prediction})
  loss = tf.reduce_mean(tf.square(prediction - labels))
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=_v1.train.GradientDescentOptimizer(
          0.1).minimize(loss, _v1.train.get_or_create_global_step()))


def _names_train_export(model_dir):
  """Trains, evaluates and exports; returns names and the served output."""
  est = tf.estimator.Estimator(_names_model_fn, model_dir)
  est.train(_names_input_fn, steps=1)
  est.train(_names_input_fn, steps=1)
  loss = est.evaluate(_names_input_fn, steps=1)['loss']
  export_dir = est.export_saved_model(os.path.join(model_dir, 'export'),
                                      _names_receiver)
  with tf.Graph().as_default(), _v1.Session() as session:
    signature = _v1.saved_model.load(
        session, ['serve'], export_dir).signature_def['serving_default']
    served = session.run(signature.outputs['y'].name,
                         {signature.inputs['x'].name: [[2.0]]})
  return {'variables': sorted(est.get_variable_names()),
          'loss': float(loss), 'served': served.tolist()}


# Measured on 2.15 (TF1 and TF2 worlds alike): the input_fn's model took
# `net` and `dense` in the graph the model_fn was then called in.
_NAMES_ON_2_15 = ['global_step', 'net_1/dense_1/bias', 'net_1/dense_1/kernel']


def _assert_names_as_on_2_15(got):
  assert got['variables'] == _NAMES_ON_2_15
  # Two steps of gradient descent from w=0.5, b=0 on (1, 1) and (2, 3).
  w, b = 0.5, 0.0
  for _ in range(2):
    w, b = w - 0.1 * ((w + b - 1) + 2 * (2 * w + b - 3)), b - 0.1 * (
        (w + b - 1) + (2 * w + b - 3))
  assert got['loss'] == pytest.approx(
      ((w + b - 1) ** 2 + (2 * w + b - 3) ** 2) / 2, rel=1e-5)
  np.testing.assert_allclose(got['served'], [[2 * w + b]], rtol=1e-5)


def test_keras_names_go_on_from_the_input_fn_as_on_2_15(tmp_path):
  """Checkpoints name the model_fn's model as 2.15's did, so exports restore."""
  before = tf.keras.layers.Dense(1).name
  _assert_names_as_on_2_15(_names_train_export(str(tmp_path)))
  # The input_fn took its names in the call's graph, as in 2.15, not in the
  # program's: the program's next layer is named as if no call had run.
  number = int(before.rpartition('_')[2]) if '_' in before else 0
  assert tf.keras.layers.Dense(1).name == f'dense_{number + 1}'


def _tf1_child(model_dir):
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  results = {idiom: _train_evaluate_predict(os.path.join(model_dir, idiom),
                                            idiom) for idiom in _MEASURED}
  est = tf.estimator.Estimator(_sequential_model_fn,
                               os.path.join(model_dir, 'sequential'))
  est.train(_sequential_input_fn, steps=2)
  results['sequential_steps'] = int(est.get_variable_value('global_step'))
  results['names'] = _names_train_export(os.path.join(model_dir, 'names'))
  print(json.dumps(results))


if __name__ == '__main__':
  _tf1_child(sys.argv[1])


def test_objects_of_a_module_named_keras_something_deserialize(tmp_path,
                                                                monkeypatch):
  """keras-tuner round-trips its hyperparameters through tf.keras.

  tf_keras looked a module named 'keras...' up as 'tf_keras...', so
  `keras_tuner`'s objects failed to deserialize ("parent module
  tf_keras_tuner cannot be imported"; Model Search's first trial); Keras
  2.15, tf.keras on 2.15, imported the module as named (measured).
  """
  package = tmp_path / 'keras_plugin_for_test'
  package.mkdir()
  (package / '__init__.py').write_text(
      'class Knob:\n'
      '  def __init__(self, value):\n'
      '    self.value = value\n'
      '  def get_config(self):\n'
      '    return {"value": self.value}\n'
      '  @classmethod\n'
      '  def from_config(cls, config):\n'
      '    return cls(**config)\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  import keras_plugin_for_test  # pylint: disable=g-import-not-at-top
  config = tf.keras.utils.serialize_keras_object(keras_plugin_for_test.Knob(3))
  assert config['module'] == 'keras_plugin_for_test'
  knob = tf.keras.utils.deserialize_keras_object(config)
  assert type(knob) is keras_plugin_for_test.Knob and knob.value == 3
  with pytest.raises(TypeError, match='Could not'):  # Keras' own words
    tf.keras.utils.deserialize_keras_object(
        dict(config, class_name='Nothing', registered_name='Nothing'))
