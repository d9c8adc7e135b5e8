"""The two reference points of the benchmark: tf-keras `Model.fit` and a hand loop.

  python bench/limit_contenders.py {keras_fit,hand_loop} <workload> [scale]

Runs on TensorFlow 2.16+ with tf-keras (imported explicitly, never Keras 3)
and prints one JSON line with the keys of `estimator_contender.py` where they
apply, plus `train_loss_first` / `train_loss_last`: the mean training loss of
the warm-up call and of the last (big) call, to show the model trains.

- keras_fit: what a typical Keras user writes. `fit(steps_per_epoch=n)` with
  the default steps_per_execution, `evaluate`, `predict`, and an export with
  `tf.saved_model.save` of a serving signature that parses serialized
  tf.Examples (like the estimator's parsing receiver). The repeated predict
  first-result latency is `model.predict` on a one-batch dataset (input
  pipeline, parsing and Keras' predict loop included, as the estimator's
  generator includes its input_fn); examples/s is `model.predict` over the
  whole predict split.
- hand_loop: our practical limit. One `tf.function` runs K=100 steps (the
  estimator's default summary/log interval) of forward, loss, gradients and
  apply over one persistent iterator that reads ahead (`prefetch`, as the
  estimator engine's training input does); no summaries, no checkpoints. It reports
  training figures, peak RSS and the accuracy of one eval pass. It also
  measures two floors that hold for any TF program running the workload's
  input_fns, with no model at all: the training input's batches/s drained by
  the same K-step loop (a ceiling on training steps/s), and the time from
  calling the predict input_fn to its first batch (a floor under predict()'s
  first-result latency).

The models mirror the canned estimators' defaults: Keras' *legacy* optimizers
as the canned v2 estimators use them (Adagrad 0.05 for DNN/RNN parts, Ftrl 0.2
for linear parts; the custom model_fn's Adagrad 0.1), Glorot-uniform kernels,
zero-initialized linear weights, mean-over-batch losses. (The non-legacy
tf_keras Ftrl densifies sparse gradients: 34 instead of 530 hand-loop steps/s
on linear_ftrl_hashed at scale 0.2.) Simplifications:
- A linear part is one `embedding_column(dimension=1, combiner='sum')` per
  categorical column summed, plus a bias: the same function as the canned
  linear model's weighted sums, computed through embedding lookups.
- wide_deep_sparse under keras_fit uses a single optimizer (Adagrad 0.05) for
  both parts; the hand loop uses Ftrl for the wide part and Adagrad for the
  deep part like the canned estimator.
- rnn_lstm is `RNN([LSTMCell(32)])` masked by sequence length, as the canned
  RNNClassifier builds it. `tf_keras.layers.LSTM(32)` computes the same losses
  but was slower here on CPU (`fit` ran 75 instead of 188 steps/s at scale
  0.2, export took 3x longer; cause not investigated).
- Predictions are logits only (no probabilities / class ids heads add).
"""

import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from measure import peak_rss_mb, steps_per_sec, timed  # pylint: disable=g-import-not-at-top

import tensorflow as tf  # pylint: disable=g-import-not-at-top

# The floor of any TF program's memory, before tf-keras or any model.
TENSORFLOW_RSS_MB = peak_rss_mb()

import tf_keras  # pylint: disable=g-import-not-at-top

import workloads  # pylint: disable=g-import-not-at-top

fc = tf.feature_column
layers = tf_keras.layers
legacy = tf_keras.optimizers.legacy

STEPS_PER_CALL = 100  # the hand loop's K
CONTENDERS = ('keras_fit', 'hand_loop')


# Model pieces ---------------------------------------------------------------
class LinearPart(layers.Layer):
  """Sum of per-column weights of categorical columns, plus a bias."""

  def __init__(self, columns, **kwargs):
    super().__init__(**kwargs)
    self.weights_per_column = layers.DenseFeatures([
        fc.embedding_column(column, 1, combiner='sum',
                            initializer=tf.zeros_initializer())
        for column in columns])
    self.bias = self.add_weight('bias', shape=[1], initializer='zeros')

  def call(self, features):
    return tf.reduce_sum(self.weights_per_column(features), 1, keepdims=True) + self.bias


class MaskedLSTM(layers.Layer):
  """Stacked LSTM cells over (sequence, length) that skip the padding steps."""

  def __init__(self, units, **kwargs):
    super().__init__(**kwargs)
    self.rnn = layers.RNN([layers.LSTMCell(u) for u in units])

  def call(self, inputs):
    sequence, length = inputs
    return self.rnn(sequence, mask=tf.sequence_mask(length, tf.shape(sequence)[1]))


class CatEmbeddingConcat(layers.Layer):
  """CustomModelFn's input: x concatenated with an embedding of 'cat'."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.embedding = layers.Embedding(10, 4, embeddings_initializer='glorot_uniform')

  def call(self, features):
    cat = self.embedding(tf.reshape(features['cat'], [-1]))
    return tf.concat([features['x'], cat], axis=1)


class SummedParts(tf_keras.Model):
  """Logits as the sum of named parts (e.g. wide + deep); a part is a layer list."""

  def __init__(self, parts):
    super().__init__()
    self.parts = parts

  def call(self, features, training=None):
    del training  # no dropout or batch norm in these models
    outputs = []
    for part in self.parts.values():
      net = features
      for layer in part:
        net = layer(net)
      outputs.append(net)
    return tf.add_n(outputs)


def _dnn(input_layer, hidden_units, n_logits):
  return ([input_layer] + [layers.Dense(u, 'relu') for u in hidden_units] +
          [layers.Dense(n_logits)])


def _adagrad(learning_rate=0.05):
  return lambda: legacy.Adagrad(learning_rate)


def _ftrl():
  return lambda: legacy.Ftrl(0.2)


def _dnn_dense(work):
  parts = {'dnn': _dnn(layers.DenseFeatures(work.columns()), work.hidden_units,
                       work.n_classes)}
  return parts, {'dnn': _adagrad()}, _adagrad()


def _wide_deep(work):
  columns = work.columns()
  parts = {'linear': [LinearPart(columns['linear'])],
           'dnn': _dnn(layers.DenseFeatures(columns['dnn']), work.hidden_units, 1)}
  return parts, {'linear': _ftrl(), 'dnn': _adagrad()}, _adagrad()


def _linear(work):
  return {'linear': [LinearPart(work.columns())]}, {'linear': _ftrl()}, _ftrl()


def _rnn(work):
  parts = {'rnn': [tf_keras.experimental.SequenceFeatures(work.columns()),
                   MaskedLSTM(work.units), layers.Dense(1)]}
  return parts, {'rnn': _adagrad()}, _adagrad()


def _custom(work):
  parts = {'custom': _dnn(CatEmbeddingConcat(), [work.hidden], 1)}
  return parts, {'custom': _adagrad(0.1)}, _adagrad(0.1)


# workload name -> fn(workload) giving (parts, {part name: optimizer factory},
# the single optimizer factory keras_fit uses).
MODELS = {'dnn_dense': _dnn_dense, 'wide_deep_sparse': _wide_deep,
          'linear_ftrl_hashed': _linear, 'rnn_lstm': _rnn, 'custom_model_fn': _custom,
          'keras_model_to_estimator': _custom, 'tpu_estimator_cpu': _custom}


def loss_and_accuracy(work):
  if work.n_classes > 2:
    return (tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            tf_keras.metrics.SparseCategoricalAccuracy(name='accuracy'))
  return (tf_keras.losses.BinaryCrossentropy(from_logits=True),
          tf_keras.metrics.BinaryAccuracy(name='accuracy', threshold=0.0))


# Contenders -----------------------------------------------------------------
def keras_fit(work, small, big):
  parts, _, make_optimizer = MODELS[work.name](work)
  model = SummedParts(parts)
  loss, accuracy = loss_and_accuracy(work)
  model.compile(optimizer=make_optimizer(), loss=loss, metrics=[accuracy])
  train_data = work.dataset('train', repeat=True)
  losses = []

  def train(steps):
    history = model.fit(train_data, steps_per_epoch=steps, epochs=1, verbose=0)
    losses.append(history.history['loss'][-1])

  results = {'train_steps_per_sec': steps_per_sec(train, small, big),
             'train_loss_first': losses[0], 'train_loss_last': losses[-1]}

  evaluations = []

  def evaluate():
    evaluations.append(model.evaluate(work.dataset('eval'), verbose=0, return_dict=True))

  results['first_evaluate_sec'] = timed(evaluate)
  results['repeat_evaluate_sec'] = statistics.median(timed(evaluate) for _ in range(3))

  def predict(data):
    model.predict(data, verbose=0)

  predict(work.dataset('predict'))
  results['repeat_predict_first_result_sec'] = statistics.median(
      timed(lambda: predict(work.dataset('predict').take(1))) for _ in range(3))
  n_predict = len(work.data('predict')[0])
  results['predict_examples_per_sec'] = statistics.median(
      n_predict / timed(lambda: predict(work.dataset('predict'))) for _ in range(3))

  results['export_sec'] = timed(lambda: export(model, work))
  results['peak_rss_mb'] = peak_rss_mb()
  results['final_step'] = int(model.optimizer.iterations.numpy())
  results['eval_accuracy'] = float(evaluations[-1]['accuracy'])
  return results


def export(model, work):
  """SavedModel whose serving signature parses serialized tf.Examples."""
  spec = work.parse_spec()

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(serialized):
    return {'logits': model(tf.io.parse_example(serialized, spec))}

  with tempfile.TemporaryDirectory() as export_dir:
    tf.saved_model.save(model, export_dir, signatures={'serving_default': serve})


def hand_model(work):
  """The workload's model, and its (optimizer, variables) groups.

  The variables are created eagerly on one training batch, outside any
  tf.function, so a checkpoint can be restored into them.
  """
  parts, optimizer_factories, _ = MODELS[work.name](work)
  model = SummedParts(parts)
  model(next(iter(work.dataset('train')))[0])
  groups = [(optimizer_factories[name](),
             [v for layer in part for v in layer.trainable_variables])
            for name, part in parts.items()]
  return model, groups


def hand_train_loop(model, groups, loss_fn):
  """The hand loop's compiled call: `run_steps(iterator, steps)` -> loss sum."""

  @tf.function
  def run_steps(iterator, steps):
    total = tf.constant(0.0)
    for _ in tf.range(steps):
      features, labels = next(iterator)
      with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(features, training=True))
      gradients = tape.gradient(loss, [group for _, group in groups])
      for (optimizer, group), group_gradients in zip(groups, gradients):
        optimizer.apply_gradients(zip(group_gradients, group))
      total += loss
    return total

  return run_steps


def hand_loop(work, small, big):
  model, groups = hand_model(work)
  loss_fn, accuracy = loss_and_accuracy(work)
  train_data = read_ahead_training_input(work)
  run_steps = hand_train_loop(model, groups, loss_fn)

  iterator = iter(train_data)
  losses = []

  def train(steps):
    total = 0.0
    for n in calls(steps):
      total += run_steps(iterator, tf.constant(n))
    losses.append(float(total) / steps)

  results = {'train_steps_per_sec': steps_per_sec(train, small, big),
             'train_loss_first': losses[0], 'train_loss_last': losses[-1]}

  @tf.function
  def evaluate(data):
    for features, labels in data:
      accuracy.update_state(labels, model(features))

  evaluate(work.dataset('eval'))
  results.update(input_floors(work, small, big))
  results['peak_rss_mb'] = peak_rss_mb()
  results['final_step'] = int(groups[0][0].iterations.numpy())
  results['eval_accuracy'] = float(accuracy.result())
  return results


def calls(steps):
  """The step counts of the K-step calls that together run `steps` steps."""
  return [min(STEPS_PER_CALL, steps - start) for start in range(0, steps, STEPS_PER_CALL)]


def read_ahead_training_input(work):
  """The training input read ahead as the estimator engine reads it.

  The hand loop and its input floor use it, so they stay a limit for the engine.
  """
  return work.dataset('train', repeat=True).prefetch(tf.data.AUTOTUNE)


def input_floors(work, small, big):
  """What the workload's input pipelines alone cost, with no model."""
  iterator = iter(read_ahead_training_input(work))

  @tf.function
  def drain(steps):
    for _ in tf.range(steps):
      next(iterator)

  def train(steps):
    for n in calls(steps):
      drain(tf.constant(n))

  def first_batch():
    next(iter(work.predict_input_fn()))

  first_batch()  # warm-up, as the estimators' predict() is warmed up
  return {'input_batches_per_sec': steps_per_sec(train, small, big),
          'predict_input_first_batch_sec': statistics.median(
              timed(first_batch) for _ in range(5))}


def run(contender, workload, scale=1.0):
  """Measures one contender on one workload; returns the JSON-able dict."""
  if contender not in CONTENDERS:
    raise ValueError(f'unknown contender {contender!r}; expected one of {CONTENDERS}')
  if workload not in MODELS:
    raise ValueError(f'unknown workload {workload!r}; expected one of {sorted(MODELS)}')
  results = {'tf_version': tf.__version__, 'import_rss_mb': peak_rss_mb(),
             'tensorflow_rss_mb': TENSORFLOW_RSS_MB}
  work = workloads.WORKLOADS[workload]()
  for split in ('train', 'eval', 'predict'):
    work.data(split)
  tf_keras.utils.set_random_seed(1)
  small, big = max(int(200 * scale), 1), max(int(2000 * scale), 2)
  measure = keras_fit if contender == 'keras_fit' else hand_loop
  results.update(measure(work, small, big))
  return results


if __name__ == '__main__':
  if len(sys.argv) not in (3, 4):
    sys.exit(__doc__.split('\n\n')[1])
  print(json.dumps(run(sys.argv[1], sys.argv[2],
                       float(sys.argv[3]) if len(sys.argv) > 3 else 1.0)))
