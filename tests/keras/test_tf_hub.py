"""TF-Hub (tensorflow-hub 0.15) in Estimators, as the hub docs used it.

TF1 modules: a `hub.Module` imports the module's MetaGraph, variables included, into the
model graph and initializes them from the module's checkpoint with
`init_from_checkpoint`; `hub.text_embedding_column` does the same inside a
canned estimator's input layer, and `hub.LatestModuleExporter` exports the
trained module from a checkpoint. TF2 SavedModels: `hub.KerasLayer` in a
model_fn. The modules here are made by the tests: no hub download.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub  # the 'test' extra installs it (after install())

v1 = tf.compat.v1

BUCKETS, DIM = 8, 4
TABLE = np.arange(BUCKETS * DIM, dtype=np.float32).reshape(BUCKETS, DIM) / 10.
SENTENCES = ['great movie', 'loved it', 'awful movie', 'hated it']
LABELS = [1, 1, 0, 0]


def _module_fn():
  sentences = v1.placeholder(tf.string, [None])
  tokens = tf.compat.v1.string_split(sentences)
  ids = tf.SparseTensor(tokens.indices, tf.strings.to_hash_bucket_fast(
      tokens.values, BUCKETS), tokens.dense_shape)
  table = v1.get_variable('embeddings', initializer=TABLE)
  hub.add_signature(inputs=sentences, outputs=tf.nn.embedding_lookup_sparse(
      table, ids, None, combiner='sqrtn'))


@pytest.fixture(scope='module')
def module_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('hub') / 'module')
  spec = hub.create_module_spec(_module_fn)
  with tf.Graph().as_default():
    module = hub.Module(spec)
    with v1.Session() as session:
      session.run(v1.global_variables_initializer())
      module.export(path, session)
  return path


def _input_fn(with_labels=True):
  features = {'text': SENTENCES}
  data = (features, LABELS) if with_labels else features
  return lambda: tf.data.Dataset.from_tensor_slices(data).repeat(
      8 if with_labels else 1).batch(4)


def _checkpoint_value(model_dir, step, name):
  return tf.train.load_checkpoint(
      os.path.join(model_dir, f'model.ckpt-{step}')).get_tensor(name)


def test_hub_module_in_model_fn_and_latest_module_exporter(module_path,
                                                            tmp_path):

  def model_fn(features, labels, mode):
    embed = hub.Module(module_path, trainable=True)
    hub.register_module_for_export(embed, 'text_embedding')
    logits = v1.layers.dense(embed(features['text']), 2)
    predictions = {'class_ids': tf.argmax(logits, 1)}
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = v1.train.AdagradOptimizer(0.5).minimize(
        loss, v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      predictions=predictions)

  model_dir = str(tmp_path / 'model')
  est = tf.estimator.Estimator(model_fn, model_dir=model_dir)
  est.train(_input_fn(), steps=10)
  # The module's variables start from the module's own values ...
  np.testing.assert_array_equal(
      _checkpoint_value(model_dir, 0, 'module/embeddings'), TABLE)
  # ... and train (trainable=True).
  tuned = est.get_variable_value('module/embeddings')
  assert np.abs(tuned - TABLE).max() > 1e-4
  exporter = hub.LatestModuleExporter('tf_hub', lambda: (
      tf.estimator.export.ServingInputReceiver(
          {'text': v1.placeholder(tf.string, [None])}, {})))
  export_dir = os.fsdecode(exporter.export(est, str(tmp_path / 'export'),
                                           est.latest_checkpoint()))
  exported = os.path.join(export_dir, 'text_embedding')
  np.testing.assert_array_equal(
      tf.train.load_checkpoint(os.path.join(
          exported, 'variables', 'variables')).get_tensor('embeddings'), tuned)


def test_text_embedding_column_in_a_v1_dnn_classifier(module_path, tmp_path):
  model_dir = str(tmp_path / 'model')
  est = v1.estimator.DNNClassifier(
      [4], [hub.text_embedding_column('text', module_path)],
      model_dir=model_dir, config=tf.estimator.RunConfig(tf_random_seed=1))
  untrained = est.evaluate(_input_fn(), steps=1)['loss']  # no checkpoint yet
  est.train(_input_fn(), steps=30)
  assert est.evaluate(_input_fn(), steps=1)['loss'] < untrained
  prefix = 'dnn/input_from_feature_columns/input_layer/text_hub_module_embedding/'
  # Not trainable (the column's default): the module's values throughout.
  np.testing.assert_array_equal(
      _checkpoint_value(model_dir, 0, prefix + 'module/embeddings'), TABLE)
  np.testing.assert_array_equal(
      est.get_variable_value(prefix + 'module/embeddings'), TABLE)
  assert len(list(est.predict(_input_fn(False)))) == len(SENTENCES)


def test_text_embedding_column_in_a_v2_dnn_classifier(module_path, tmp_path):
  """The TF-Hub text classification tutorial's estimator (TF2 mode).

  2.15 built the v2 input layer in its graph, under Keras name scopes only,
  so the module's variables are `module/...` (observed on 2.15).
  """
  est = tf.estimator.DNNClassifier(
      [4], [hub.text_embedding_column('text', module_path)],
      model_dir=str(tmp_path / 'model'),
      optimizer=tf.keras.optimizers.legacy.Adagrad(0.5),
      config=tf.estimator.RunConfig(tf_random_seed=1))
  untrained = est.evaluate(_input_fn(), steps=1)['loss']
  est.train(_input_fn(), steps=30)
  assert est.evaluate(_input_fn(), steps=1)['loss'] < untrained
  np.testing.assert_array_equal(est.get_variable_value('module/embeddings'),
                                TABLE)
  assert len(list(est.predict(_input_fn(False)))) == len(SENTENCES)


class _Projection(tf.Module):
  """A TF2 SavedModel: a fixed projection of 4 features to 3."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.reshape(tf.range(12, dtype=tf.float32), [4, 3]) / 10.)

  @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
  def __call__(self, x):
    return tf.matmul(x, self.w)


def _save_projection(path):
  """The projection as a TF2 SavedModel listing its variables, as TF-Hub's
  reusable SavedModels do (hub.KerasLayer reports them as its weights)."""
  projection = _Projection()
  saved = tf.__internal__.tracking.AutoTrackable()
  saved.w = projection.w
  saved.variables = saved.trainable_variables = [projection.w]
  saved.__call__ = projection.__call__
  tf.saved_model.save(saved, path)


# Measured on 2.15 (TF1 and TF2 worlds), 4 steps: the projection's first
# four weights, the dense kernel and the evaluation loss.
_HUB_LAYER_ON_2_15 = {
    'frozen': ([0.0, 0.1, 0.2, 0.3], [1.0134, 1.0166, 1.0198], 0.11252),
    'fine_tuned': ([0.0087, 0.1087, 0.2087, 0.3081],
                   [1.0134, 1.0165, 1.0196], 0.11069),
}


@pytest.mark.parametrize('how', sorted(_HUB_LAYER_ON_2_15))
def test_a_keras_layer_trains_as_on_2_15(tmp_path, how):
  """hub.KerasLayer over a TF2 SavedModel in a model_fn.

  The loader's variables joined only GLOBAL_VARIABLES in 2.15's graph, so
  a v1 optimizer's default var_list left them alone (here it trained a
  `trainable=False` layer); a var_list naming the layer's weights trains
  them.
  """
  saved = str(tmp_path / 'projection')
  _save_projection(saved)

  def model_fn(features, labels, mode):
    layer = hub.KerasLayer(saved, trainable=how == 'fine_tuned')
    dense = tf.keras.layers.Dense(1, kernel_initializer='ones')
    logits = dense(layer(features['x']))
    loss = v1.losses.sigmoid_cross_entropy(labels, logits)
    var_list = (layer.trainable_weights + dense.trainable_weights
                if how == 'fine_tuned' else None)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_or_create_global_step(),
                          var_list=var_list))

  x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
  input_fn = lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, (x.sum(1, keepdims=True) > 0).astype(np.float32))).batch(
          4).repeat()
  est = tf.estimator.Estimator(model_fn, str(tmp_path / 'model'))
  est.train(input_fn, steps=4)
  projection, kernel, loss = _HUB_LAYER_ON_2_15[how]
  np.testing.assert_allclose(est.get_variable_value('Variable').ravel()[:4],
                             projection, atol=1e-4)
  np.testing.assert_allclose(est.get_variable_value('dense/kernel').ravel(),
                             kernel, atol=1e-4)
  assert est.evaluate(lambda: input_fn().take(2))['loss'] == pytest.approx(
      loss, abs=1e-5)
