"""Keras `model_to_estimator`, reached as tf-keras reaches it.

Values marked "2.15" were measured on tensorflow-estimator 2.15.0 with the
same model (tests/keras/test_keras_model_to_estimator.py keeps only the facts).
"""

import logging
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcompat_estimator as te
from tfcompat_estimator.io import checkpoints

_RS = np.random.RandomState(0)
X = _RS.rand(64, 10).astype(np.float32)
Y = tf_keras.utils.to_categorical(_RS.randint(2, size=64), 2)


def input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': X}, Y)).batch(16)


def functional_model(batch_norm=True):
  tf_keras.backend.clear_session()  # layer names as in a fresh program
  tf_keras.utils.set_random_seed(1)
  inputs = tf_keras.Input(shape=(10,), name='x')
  hidden = tf_keras.layers.Dense(16, activation='relu')(inputs)
  if batch_norm:
    hidden = tf_keras.layers.BatchNormalization()(hidden)
  outputs = tf_keras.layers.Dense(2, activation='softmax', name='probs')(hidden)
  model = tf_keras.Model(inputs, outputs)
  model.compile(optimizer='rmsprop', loss='categorical_crossentropy',
                metrics=['accuracy'])
  return model


@pytest.fixture(autouse=True)
def _installed():
  te.install()


def to_estimator(model, tmp_path, **kwargs):
  return tf_keras.estimator.model_to_estimator(
      keras_model=model, model_dir=str(tmp_path), **kwargs)


def test_starts_from_the_keras_weights_and_names_variables_as_2_15(tmp_path):
  model = functional_model()
  model.fit(X, Y, epochs=1, verbose=0)
  keras_loss, keras_accuracy = model.evaluate(X, Y, verbose=0)
  est = to_estimator(model, tmp_path, checkpoint_format='saver')
  assert isinstance(est, tf.estimator.Estimator)  # tf-keras asks for v2
  metrics = est.evaluate(input_fn)
  # No training yet: the Keras model's own weights, batch norm included.
  np.testing.assert_allclose(metrics['loss'], keras_loss, rtol=1e-5)
  np.testing.assert_allclose(metrics['accuracy'], keras_accuracy)
  prediction = next(est.predict(input_fn))['probs']
  np.testing.assert_allclose(prediction, model.predict(X[:1], verbose=0)[0],
                             rtol=1e-5)
  est.train(input_fn, steps=4)
  assert est.get_variable_value('global_step') == 4
  # 2.15, measured (checkpoint_format='saver').
  assert sorted(est.get_variable_names()) == [
      'batch_normalization/beta', 'batch_normalization/gamma',
      'batch_normalization/moving_mean', 'batch_normalization/moving_variance',
      'dense/bias', 'dense/kernel', 'global_step', 'probs/bias',
      'probs/kernel', 'training/RMSprop/batch_normalization/beta/rms',
      'training/RMSprop/batch_normalization/gamma/rms', 'training/RMSprop/decay',
      'training/RMSprop/dense/bias/rms', 'training/RMSprop/dense/kernel/rms',
      'training/RMSprop/learning_rate', 'training/RMSprop/momentum',
      'training/RMSprop/probs/bias/rms', 'training/RMSprop/probs/kernel/rms',
      'training/RMSprop/rho']
  # Batch norm's moving averages are updated by training.
  moving_mean = est.get_variable_value('batch_normalization/moving_mean')
  assert not np.allclose(moving_mean, model.layers[2].moving_mean.numpy())
  assert os.path.exists(str(tmp_path / 'keras' / 'keras_model.ckpt.index'))


def test_default_format_keys_checkpoints_by_object_path_as_2_15(tmp_path):
  model = functional_model()
  est = to_estimator(model, tmp_path)
  est.train(input_fn, steps=4)
  # 2.15, measured (the default checkpoint_format='checkpoint'); 2.15
  # resumes only from checkpoints with these keys.
  slot = '.OPTIMIZER_SLOT/optimizer/rms/.ATTRIBUTES/VARIABLE_VALUE'
  value = '.ATTRIBUTES/VARIABLE_VALUE'
  assert sorted(est.get_variable_names()) == sorted(
      ['_CHECKPOINTABLE_OBJECT_GRAPH', f'estimator_global_step/{value}'] +
      [f'layer_with_weights-{i}/{w}/{suffix}'
       for i, weights in ((0, ('bias', 'kernel')), (1, ('beta', 'gamma')),
                          (2, ('bias', 'kernel')))
       for w in weights for suffix in (value, slot)] +
      [f'layer_with_weights-1/{w}/{value}' for w in ('moving_mean', 'moving_variance')] +
      [f'optimizer/{h}/{value}' for h in ('decay', 'learning_rate', 'momentum', 'rho')])
  assert est.get_variable_value(f'estimator_global_step/{value}') == 4
  # Keras itself reads them, as 2.15 meant: the model of the checkpoint
  # predicts as the Estimator does.
  restored = tf_keras.models.clone_model(model)  # not compiled: weights only
  restored.load_weights(est.latest_checkpoint()).expect_partial()
  np.testing.assert_allclose(restored.predict(X[:4], verbose=0),
                             [p['probs'] for p in est.predict(input_fn)][:4],
                             rtol=1e-5)


def test_name_keyed_checkpoints_of_the_same_model_still_restore(tmp_path):
  # The 'saver' format's model_dir (and this package's before it keyed the
  # default format by object path) evaluates and trains on as before.
  saver_est = to_estimator(functional_model(), tmp_path, checkpoint_format='saver')
  saver_est.train(input_fn, steps=4)
  expected = saver_est.evaluate(input_fn)
  est = to_estimator(functional_model(), tmp_path)
  metrics = est.evaluate(input_fn)
  np.testing.assert_allclose(metrics['loss'], expected['loss'], rtol=1e-6)
  assert metrics['global_step'] == 4
  est.train(input_fn, steps=2)
  assert est.get_variable_value('estimator_global_step/.ATTRIBUTES/VARIABLE_VALUE') == 6


def test_logs_2_15s_lines_and_no_checkpoint_state_noise(tmp_path, caplog):
  """2.15 logged 'Using the Keras model provided.' and wrote the keras/
  checkpoint state silently (no deprecation warning, no 'Manually adding')."""
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    est = to_estimator(functional_model(), tmp_path)
    est.train(input_fn, steps=1)
  messages = [r.getMessage() for r in caplog.records]
  assert messages.count('Using the Keras model provided.') == 1
  assert not [m for m in messages
              if 'Manually adding' in m or 'update_checkpoint_state' in m]
  assert [m for m in messages if m.startswith('Warm-started ')] == [
      'Warm-started 8 variables.']  # two Dense layers' 4, batch norm's 4


def test_train_loss_summary_is_tagged_loss_1_as_on_2_15(tmp_path):
  """2.15's Keras computed the loss under the scope 'loss', so the
  Estimator's loss summary was tagged 'loss_1' (measured, both worlds)."""
  est = to_estimator(functional_model(), tmp_path,
                     config=tf.estimator.RunConfig(save_summary_steps=1))
  est.train(input_fn, steps=2)
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(str(tmp_path), 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  assert 'loss_1' in tags and 'loss' not in tags


def test_training_lowers_the_loss_and_exports_a_servable_model(tmp_path):
  model = functional_model(batch_norm=False)
  est = to_estimator(model, tmp_path)
  before = est.evaluate(input_fn)['loss']
  est.train(lambda: input_fn().repeat(), steps=50)
  assert est.evaluate(input_fn)['loss'] < before
  receiver = tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'x': tf.constant(X[:1])}, default_batch_size=None)
  export_dir = est.export_saved_model(str(tmp_path / 'export'), receiver)
  served = tf.saved_model.load(export_dir).signatures['serving_default'](
      x=tf.constant(X[:3]))
  expected = np.stack([p['probs'] for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices({'x': X[:3]}).batch(3))])
  np.testing.assert_allclose(served['probs'].numpy(), expected, rtol=1e-5)


def test_export_before_training_uses_the_keras_weights(tmp_path):
  """As in 2.15: no checkpoint yet, the warm-start checkpoint is exported."""
  model = functional_model(batch_norm=False)
  expected = model.predict(X[:2], verbose=0)
  est = to_estimator(model, tmp_path)
  receiver = tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'x': tf.constant(X[:1])}, default_batch_size=None)
  export_dir = est.export_saved_model(str(tmp_path / 'export'), receiver)
  served = tf.saved_model.load(export_dir).signatures['serving_default'](
      x=tf.constant(X[:2]))
  np.testing.assert_allclose(served['probs'].numpy(), expected, rtol=1e-5)


def test_the_serving_graph_is_the_network_on_its_features_as_2_15s(tmp_path):
  """One copy of the network, in the inference phase, named as in 2.15.

  2.15 built the clone on the receiver's tensors (serving graph of this
  model: output `probs/Softmax:0`, the op types below, no learning-phase
  placeholder). A clone built on Inputs of its own, then called, added a
  dead second copy (a batch norm's training branch behind
  `keras_learning_phase`) and named the output `model/probs/Softmax:0`.
  """
  est = to_estimator(functional_model(batch_norm=True), tmp_path / 'm')
  est.train(input_fn, steps=4)
  receiver = tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'x': tf.constant(X[:1])}, default_batch_size=None)
  export_dir = est.export_saved_model(str(tmp_path / 'export'), receiver)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    meta_graph = tf.compat.v1.saved_model.load(sess, ['serve'],
                                               os.fsdecode(export_dir))
    signature = meta_graph.signature_def['serving_default']
    assert signature.outputs['probs'].name == 'probs/Softmax:0'
    nodes = meta_graph.graph_def.node
    assert not [n.name for n in nodes if 'learning_phase' in n.name]
    assert not {n.op for n in nodes} & {'If', 'StatelessIf', 'Switch', 'Merge'}
    served = sess.run('probs/Softmax:0',
                      {signature.inputs['x'].name: X[:3]})
  expected = np.stack([p['probs'] for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices({'x': X[:3]}).batch(3))])
  np.testing.assert_allclose(served, expected, rtol=1e-5)


def test_a_serving_input_narrower_than_the_model_is_refused(tmp_path):
  """Built on a width-1 input, the kernel is [1, 16]; the checkpoint's is
  [10, 16]. 2.15's Saver filled it anyway (its keras_test exports such a
  model), and the SavedModel failed when served."""
  est = to_estimator(functional_model(batch_norm=False), tmp_path / 'm')
  receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(
      {'x': tf.io.FixedLenFeature([1], tf.float32)})
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r"'dense/kernel' is float32\[1, 16\] in the model "
                     r'but float32\[10, 16\]'):
    est.export_saved_model(str(tmp_path / 'export'), receiver)
  assert not os.path.exists(tmp_path / 'export') or not [
      d for d in os.listdir(tmp_path / 'export') if d.isdigit()]


def test_an_exported_eval_graph_lists_its_keras_metric_variables(tmp_path):
  # As 2.15 did; the loader's main op then initializes them. TF Model
  # Analysis runs the metric updates of a loaded EVAL graph, which failed:
  # "Resource localhost/total/... does not exist".
  est = to_estimator(functional_model(batch_norm=False), tmp_path / 'm')
  receiver_fn = tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
      {'x': tf.constant(X[:1])}, tf.constant(Y[:1]))
  path = est.experimental_export_all_saved_models(
      str(tmp_path / 'export'), {tf.estimator.ModeKeys.EVAL: receiver_fn})
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    meta_graph = tf.compat.v1.saved_model.load(sess, ['eval'], os.fsdecode(path))
    v1_keys = tf.compat.v1.GraphKeys
    names = lambda key: sorted(v.op.name for v in tf.compat.v1.get_collection(key))
    assert names(v1_keys.LOCAL_VARIABLES) == ['count', 'total']
    assert names(v1_keys.METRIC_VARIABLES) == ['count', 'total']
    signature = meta_graph.signature_def['eval']
    feeds = {signature.inputs[k].name: v
             for k, v in (('x', X[:4]), ('label', Y[:4]))}
    sess.run(signature.outputs['metrics/accuracy/update_op'].name, feeds)
    accuracy = sess.run(signature.outputs['metrics/accuracy/value'].name)
  assert 0.0 <= accuracy <= 1.0


def test_multiple_inputs_outputs_sample_weights_and_metric_names(tmp_path):
  a = tf_keras.Input(shape=(4,), name='a')
  b = tf_keras.Input(shape=(4,), name='b')
  merged = tf_keras.layers.concatenate([a, b])
  out_c = tf_keras.layers.Dense(3, activation='softmax', name='c')(merged)
  out_d = tf_keras.layers.Dense(1, name='d')(merged)
  model = tf_keras.Model([a, b], [out_c, out_d])
  model.compile(optimizer='adam', loss=['categorical_crossentropy', 'mse'],
                loss_weights=[1., .5], metrics={'c': 'categorical_accuracy',
                                                'd': 'mae'})
  xa, xb = _RS.rand(8, 4).astype(np.float32), _RS.rand(8, 4).astype(np.float32)
  yc = tf_keras.utils.to_categorical(_RS.randint(3, size=8), 3)
  yd = _RS.rand(8, 1).astype(np.float32)
  weights = np.array([1., 0., 1., 1., 0., 1., 1., 1.], np.float32)
  keras_loss = model.evaluate([xa, xb], [yc, yd], sample_weight=[weights, weights],
                              verbose=0, batch_size=8)[0]

  def multi_input_fn():
    features = {'features': {'a': xa, 'b': xb},
                'sample_weights': (weights, weights)}
    return tf.data.Dataset.from_tensors((features, {'c': yc, 'd': yd}))

  est = to_estimator(model, tmp_path, metric_names_map={
      'c_categorical_accuracy': 'accuracy_c', 'd_mae': 'mae_d'})
  metrics = est.evaluate(multi_input_fn)
  assert set(metrics) == {'accuracy_c', 'mae_d', 'loss', 'global_step'}
  np.testing.assert_allclose(metrics['loss'], keras_loss, rtol=1e-5)
  with pytest.raises(ValueError, match='Invalid `metric_names_map`.*do not exist'):
    to_estimator(model, tmp_path / 'bad', metric_names_map={'x': 'y'}).evaluate(
        multi_input_fn)
  with pytest.raises(KeyError, match='does not cover requested inputs'):
    est.evaluate(lambda: tf.data.Dataset.from_tensors(({'a': xa}, (yc, yd))))


def test_a_rank_1_feature_feeds_a_one_column_input_as_keras_does(tmp_path):
  """tf-estimator-tutorials' Estimators-to-Keras notebook feeds a column of
  numbers to `Input(shape=(1,))`. The model is called on the features, so
  they take Keras' own path (`model.evaluate` makes the column too); 2.15
  built `Input` layers from the tensors and failed in `Concatenate`."""
  a = tf_keras.Input(shape=(1,), name='a')
  b = tf_keras.Input(shape=(3,), name='b')
  out = tf_keras.layers.Dense(1, activation='sigmoid')(
      tf_keras.layers.Concatenate()([a, b]))
  model = tf_keras.Model([a, b], out)
  model.compile('sgd', 'binary_crossentropy')
  xa, xb = _RS.rand(8).astype(np.float32), _RS.rand(8, 3).astype(np.float32)
  y = (_RS.rand(8, 1) > 0.5).astype(np.float32)
  keras_loss = model.evaluate([xa[:, None], xb], y, verbose=0, batch_size=8)
  metrics = to_estimator(model, tmp_path).evaluate(
      lambda: tf.data.Dataset.from_tensors(({'a': xa, 'b': xb}, y)))
  np.testing.assert_allclose(metrics['loss'], keras_loss, rtol=1e-5)


def test_subclassed_model_trains_from_fresh_weights(tmp_path):

  class Small(tf_keras.Model):

    def __init__(self):
      super().__init__()
      self.hidden = tf_keras.layers.Dense(8, activation='relu')
      self.out = tf_keras.layers.Dense(2, activation='softmax')

    def call(self, inputs):
      return self.out(self.hidden(inputs))

    def get_config(self):
      return {}

    @classmethod
    def from_config(cls, config):
      return cls()

  model = Small()
  model.compile(optimizer=tf.compat.v1.train.AdamOptimizer(0.05),
                loss='categorical_crossentropy')
  with pytest.raises(ValueError, match='Object-based checkpoints'):
    to_estimator(model, tmp_path)
  est = to_estimator(model, tmp_path, checkpoint_format='saver')
  data = lambda: tf.data.Dataset.from_tensor_slices((X, Y)).batch(16).repeat()
  before = est.evaluate(data, steps=4)['loss']
  est.train(data, steps=40)
  assert est.evaluate(data, steps=4)['loss'] < before
  assert est.get_variable_value('global_step') == 40


@pytest.mark.parametrize('kwargs, match', [
    (lambda: dict(), 'Either `keras_model` or `keras_model_path`'),
    (lambda: dict(keras_model='m', keras_model_path='p'), 'but not both'),
    (lambda: dict(keras_model=tf_keras.Sequential([tf_keras.layers.Dense(1)])),
     'has not been compiled yet'),
    (lambda: dict(keras_model=functional_model(), checkpoint_format='pickle'),
     'Checkpoint format must be one of'),
])
def test_bad_arguments(kwargs, match, tmp_path):
  from tensorflow_estimator.python.estimator import keras_lib  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=match):
    keras_lib.model_to_estimator(model_dir=str(tmp_path), **kwargs())


def test_an_existing_keras_checkpoint_is_the_starting_point(tmp_path):
  """2.15: a checkpoint already in model_dir/keras (here Keras save_weights,
  object-based) is warm started from instead of the model's weights."""
  model = functional_model(batch_norm=False)
  model.fit(X, Y, epochs=2, verbose=0)
  keras_loss = model.evaluate(X, Y, verbose=0)[0]
  path = str(tmp_path / 'keras' / 'warm_start.ckpt')
  model.save_weights(path)
  model.set_weights([np.zeros_like(w) for w in model.get_weights()])
  est = to_estimator(model, tmp_path, checkpoint_format='saver')
  assert est._warm_start_settings.ckpt_to_initialize_from == path  # pylint: disable=protected-access
  np.testing.assert_allclose(est.evaluate(input_fn)['loss'], keras_loss,
                             rtol=1e-5)


# A scenario both interpreters run: with MODE 'train' it trains a Keras
# estimator in model_dir (2.15's default, object-keyed checkpoints); with
# 'evaluate' it only evaluates what is there.
_SCENARIO = '''
import json, sys
import numpy as np
import tensorflow as tf
out, model_dir, mode = sys.argv[1], MODEL_DIR, MODE
keras = tf.keras
keras.utils.set_random_seed(0)
inputs = keras.Input(shape=(10,), name='x')
hidden = keras.layers.Dense(16, activation='relu')(inputs)
model = keras.Model(inputs, keras.layers.Dense(2, activation='softmax',
                                               name='probs')(hidden))
model.compile(optimizer=keras.optimizers.legacy.RMSprop(),
              loss='categorical_crossentropy', metrics=['accuracy'])
rs = np.random.RandomState(0)
x = rs.rand(64, 10).astype(np.float32)
y = keras.utils.to_categorical(rs.randint(2, size=64), 2)
input_fn = lambda: tf.data.Dataset.from_tensor_slices(({'x': x}, y)).batch(16)
est = keras.estimator.model_to_estimator(model, model_dir=model_dir)
if mode == 'train':
  est.train(input_fn, steps=4)
result = {k: float(v) for k, v in est.evaluate(input_fn).items()}
with open(out, 'w') as f:
  json.dump(result, f)
'''


@pytest.mark.slow
def test_reads_a_2_15_keras_model_dir_with_object_keyed_checkpoints(
    tmp_path, venv215_python):
  """2.15's default format keys checkpoints by object path; read by name."""
  from tests.helpers import reference_runner  # pylint: disable=g-import-not-at-top
  env = reference_runner.scenario_env()
  model_dir = tmp_path / 'model'

  def scenario(mode):
    return _SCENARIO.replace('MODEL_DIR', repr(str(model_dir))).replace(
        'MODE', repr(mode))

  theirs = reference_runner.run_script(
      venv215_python, scenario('train'), tmp_path, 'tf215',
      {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'})
  assert any(name.startswith('layer_with_weights-0/')
             for name, _ in tf.train.list_variables(str(model_dir)))
  ours = reference_runner.run_script(
      sys.executable, reference_runner.OURS_PRELUDE + scenario('evaluate'),
      tmp_path, 'ours', env)
  assert theirs['global_step'] == ours['global_step'] == 4
  np.testing.assert_allclose(ours['loss'], theirs['loss'], rtol=1e-6)
  assert ours['accuracy'] == theirs['accuracy']


@pytest.mark.slow
def test_2_15_reads_and_trains_on_a_model_dir_written_here(tmp_path, venv215_python):
  """The way back: 2.15 resumes from this package's default-format model_dir."""
  from tests.helpers import reference_runner  # pylint: disable=g-import-not-at-top
  env = reference_runner.scenario_env()
  env215 = {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'}
  model_dir = tmp_path / 'model'

  def scenario(mode):
    return _SCENARIO.replace('MODEL_DIR', repr(str(model_dir))).replace(
        'MODE', repr(mode))

  ours = reference_runner.run_script(
      sys.executable, reference_runner.OURS_PRELUDE + scenario('train'),
      tmp_path, 'ours', env)
  theirs = reference_runner.run_script(
      venv215_python, scenario('evaluate'), tmp_path, 'tf215', env215)
  assert theirs['global_step'] == ours['global_step'] == 4
  np.testing.assert_allclose(theirs['loss'], ours['loss'], rtol=1e-6)
  assert theirs['accuracy'] == ours['accuracy']
  # 2.15 trains on from it (its first step restores every variable).
  trained = reference_runner.run_script(
      venv215_python, scenario('train'), tmp_path, 'tf215_more', env215)
  assert trained['global_step'] == 8
