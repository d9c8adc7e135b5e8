"""A small custom-model_fn Estimator program in the classic TF1 style.

This module intentionally looks like tf.estimator user code from the
2015-2023 era: it only touches ``tf.estimator.*`` and ``tf.compat.v1.*``.
It is imported both by the golden generator (running on the real
tensorflow-estimator 2.15) and by the tfcompat_estimator test-suite (after
``tfcompat_estimator.install()``), so it must not reference either
implementation directly.  ``tf.estimator`` is only looked up inside
functions, never at import time.
"""

import numpy as np
import tensorflow as tf

N_TRAIN = 512
N_EVAL = 128
N_PREDICT = 16
BATCH_SIZE = 32
NUM_CATS = 3

TRAIN_SEED = 1
EVAL_SEED = 2
PREDICT_SEED = 3

PARAMS = {
    'hidden': 16,
    'emb_dim': 3,
    'lr': 0.1,
}

RUN_CONFIG_KWARGS = {
    'tf_random_seed': 42,
    'save_checkpoints_steps': 20,
    'keep_checkpoint_max': 3,
    'save_summary_steps': 10,
    'log_step_count_steps': 10,
}

FEATURE_SPEC = {
    'x': tf.io.FixedLenFeature([4], tf.float32),
    'cat': tf.io.FixedLenFeature([1], tf.int64),
}

LOSS_TENSOR_NAME = 'loss_for_hooks:0'


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def make_data(n, seed):
  """Returns (features, labels) numpy data, fully determined by (n, seed)."""
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(n, 4)).astype(np.float32)
  cat = rng.randint(0, NUM_CATS, size=(n, 1)).astype(np.int64)
  cat_shift = np.array([-0.75, 0.0, 0.75], dtype=np.float32)[cat[:, 0]]
  noise = 0.5 * rng.normal(size=(n,)).astype(np.float32)
  score = 1.0 * x[:, 0] - 0.5 * x[:, 1] + 0.25 * x[:, 2] * x[:, 3] + cat_shift
  labels = (score + noise > 0.0).astype(np.int32).reshape(n, 1)
  return {'x': x, 'cat': cat}, labels


def _dataset(n, seed, with_labels, repeat):
  features, labels = make_data(n, seed)
  if with_labels:
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
  else:
    ds = tf.data.Dataset.from_tensor_slices(features)
  if repeat:
    ds = ds.repeat()
  return ds.batch(BATCH_SIZE)


def train_input_fn():
  return _dataset(N_TRAIN, TRAIN_SEED, with_labels=True, repeat=True)


def eval_input_fn():
  return _dataset(N_EVAL, EVAL_SEED, with_labels=True, repeat=False)


def predict_input_fn():
  return _dataset(N_PREDICT, PREDICT_SEED, with_labels=False, repeat=False)


def tensor_train_input_fn():
  """TF1-style input_fn: returns tensors from a one-shot iterator."""
  ds = _dataset(N_TRAIN, TRAIN_SEED, with_labels=True, repeat=True)
  return tf.compat.v1.data.make_one_shot_iterator(ds).get_next()


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
def model_fn(features, labels, mode, params):
  hidden_units = params['hidden']
  emb_dim = params['emb_dim']

  with tf.compat.v1.variable_scope('custom_dnn'):
    x = tf.cast(features['x'], tf.float32)
    cat_ids = tf.reshape(tf.cast(features['cat'], tf.int64), [-1])
    # Explicit op-level seeds: combined with RunConfig.tf_random_seed this
    # makes the initial values independent of graph construction order.
    embeddings = tf.compat.v1.get_variable(
        'cat_embedding',
        shape=[NUM_CATS, emb_dim],
        dtype=tf.float32,
        initializer=tf.compat.v1.random_normal_initializer(
            stddev=0.1, seed=11))
    cat_emb = tf.nn.embedding_lookup(embeddings, cat_ids)
    net = tf.concat([x, cat_emb], axis=1)
    net = tf.compat.v1.layers.dense(
        net, hidden_units, activation=tf.nn.relu, name='hidden',
        kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=12))
    logits = tf.compat.v1.layers.dense(
        net, 1, activation=None, name='logits',
        kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=13))

  probability = tf.sigmoid(logits)
  class_id = tf.cast(probability > 0.5, tf.int64)
  predictions = {
      'logits': logits,
      'probability': probability,
      'class_id': class_id,
  }

  if mode == tf.estimator.ModeKeys.PREDICT:
    p = probability
    scores = tf.concat([1.0 - p, p], axis=1)
    batch = tf.shape(p)[0]
    classes = tf.tile(tf.constant([['0', '1']]), [batch, 1])
    classification = tf.estimator.export.ClassificationOutput(
        scores=scores, classes=classes)
    export_outputs = {
        'serving_default': classification,
        'classification': classification,
        'regression': tf.estimator.export.RegressionOutput(value=p[:, 0]),
        'predict': tf.estimator.export.PredictOutput(predictions),
    }
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, export_outputs=export_outputs)

  loss = tf.compat.v1.losses.sigmoid_cross_entropy(
      multi_class_labels=labels, logits=logits)
  loss = tf.identity(loss, name='loss_for_hooks')

  if mode == tf.estimator.ModeKeys.EVAL:
    eval_metric_ops = {
        'accuracy': tf.compat.v1.metrics.accuracy(
            labels=labels, predictions=class_id),
        'auc': tf.compat.v1.metrics.auc(
            labels=labels, predictions=probability),
        'mean_probability': tf.compat.v1.metrics.mean(probability),
    }
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, predictions=predictions,
        eval_metric_ops=eval_metric_ops)

  # TRAIN
  batch_accuracy = tf.reduce_mean(
      tf.cast(tf.equal(class_id, tf.cast(labels, tf.int64)), tf.float32))
  tf.compat.v1.summary.scalar('train_accuracy_batch', batch_accuracy)
  optimizer = tf.compat.v1.train.AdagradOptimizer(params['lr'])
  train_op = optimizer.minimize(
      loss, global_step=tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op, predictions=predictions)


# --------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------
def serving_input_receiver_fn():
  """Parses serialized tf.train.Example protos fed to 'examples'."""
  return tf.estimator.export.build_parsing_serving_input_receiver_fn(
      FEATURE_SPEC)()


def make_serialized_examples(features):
  """Turns a features dict (as from make_data) into serialized Examples."""
  xs = np.asarray(features['x'], dtype=np.float32)
  cats = np.asarray(features['cat'], dtype=np.int64).reshape(len(xs), -1)
  out = []
  for x_row, cat_row in zip(xs, cats):
    example = tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(
            float_list=tf.train.FloatList(value=[float(v) for v in x_row])),
        'cat': tf.train.Feature(
            int64_list=tf.train.Int64List(value=[int(v) for v in cat_row])),
    }))
    out.append(example.SerializeToString())
  return out


# --------------------------------------------------------------------------
# Hooks / listeners
# --------------------------------------------------------------------------
class RecordingHook(tf.compat.v1.train.SessionRunHook):
  """Records the order of SessionRunHook callbacks into self.events."""

  def __init__(self):
    self.events = []

  def begin(self):
    self.events.append('begin')

  def after_create_session(self, session, coord):
    del session, coord
    self.events.append('after_create_session')

  def before_run(self, run_context):
    del run_context
    self.events.append('before_run')
    global_step = tf.compat.v1.train.get_global_step()
    return tf.compat.v1.train.SessionRunArgs(global_step)

  def after_run(self, run_context, run_values):
    del run_context
    self.events.append('after_run:%s' % (run_values.results,))

  def end(self, session):
    del session
    self.events.append('end')


class RecordingListener(tf.compat.v1.train.CheckpointSaverListener):
  """Records the order of CheckpointSaverListener callbacks."""

  def __init__(self):
    self.events = []

  def begin(self):
    self.events.append('begin')

  def before_save(self, session, global_step_value):
    del session
    self.events.append('before_save:%d' % global_step_value)

  def after_save(self, session, global_step_value):
    del session
    self.events.append('after_save:%d' % global_step_value)

  def end(self, session, global_step_value):
    del session
    self.events.append('end:%d' % global_step_value)
