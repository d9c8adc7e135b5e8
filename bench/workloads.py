"""The benchmark workloads: data, feature columns, input_fns and estimators.

Legacy Estimator code in the TF1 style, so the same definitions run under
tensorflow-estimator 2.15 (TF 2.15) and under tfcompat_estimator (TF 2.16+,
after `install()`). The Keras and hand-written-loop contenders reuse the data
(`train_dataset`) and the model shapes described here.

Categorical inputs arrive the way production pipelines feed them: serialized
tf.Examples parsed per batch, so categorical features are SparseTensors.
"""

import numpy as np
import tensorflow as tf

fc = tf.feature_column

N_TRAIN = 4096
N_EVAL = 2048
N_PREDICT = 512


def _float(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _int(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _serialize(rows):
  # A list, not a numpy bytes array: numpy strips trailing NUL bytes.
  return [tf.train.Example(features=tf.train.Features(feature=row)).SerializeToString()
          for row in rows]


class Workload:
  """One model + data set; subclasses fill in the specifics."""

  name = ''
  batch_size = 64
  n_classes = 2

  def __init__(self):
    self._data = {}

  # Subclass interface -------------------------------------------------------
  def columns(self):
    """Feature columns (a dict of lists for multi-part models)."""
    raise NotImplementedError

  def make_data(self, n, seed):
    """(serialized tf.Examples, int labels [n]) for n examples."""
    raise NotImplementedError

  def parse_spec(self):
    raise NotImplementedError

  def estimator(self, model_dir, config):
    raise NotImplementedError

  # Shared input pipeline ----------------------------------------------------
  def data(self, split):
    if split not in self._data:
      n, seed = {'train': (N_TRAIN, 0), 'eval': (N_EVAL, 1),
                 'predict': (N_PREDICT, 2)}[split]
      self._data[split] = self.make_data(n, seed)
    return self._data[split]

  def _parse(self, serialized, labels=None):
    features = tf.io.parse_example(serialized, self.parse_spec())
    return features if labels is None else (features, labels)

  def dataset(self, split, repeat=False):
    examples, labels = self.data(split)
    if split == 'predict':
      ds = tf.data.Dataset.from_tensor_slices(examples)
    else:
      ds = tf.data.Dataset.from_tensor_slices((examples, labels.reshape(-1, 1)))
    if repeat:
      ds = ds.repeat()
    return ds.batch(self.batch_size).map(self._parse)

  def train_input_fn(self):
    return self.dataset('train', repeat=True)

  def eval_input_fn(self):
    return self.dataset('eval')

  def predict_input_fn(self):
    return self.dataset('predict')

  def serving_input_receiver_fn(self):
    """The export's receiver fn: parses serialized tf.Examples."""
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(self.parse_spec())


class DenseDNN(Workload):
  """DNNClassifier on 32 dense numeric features, 3 classes."""

  name = 'dnn_dense'
  n_classes = 3
  hidden_units = [64, 32]

  def columns(self):
    return [fc.numeric_column(f'x{i}') for i in range(32)]

  def parse_spec(self):
    return fc.make_parse_example_spec(self.columns())

  def make_data(self, n, seed):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, 32)).astype(np.float32)
    w = np.random.RandomState(99).normal(size=(32, 3))
    labels = np.argmax(x @ w + rng.normal(size=(n, 3)), axis=1)
    rows = [{f'x{i}': _float([row[i]]) for i in range(32)} for row in x]
    return _serialize(rows), labels

  def estimator(self, model_dir, config):
    return tf.estimator.DNNClassifier(
        self.hidden_units, self.columns(), n_classes=self.n_classes,
        model_dir=model_dir, config=config)


_COUNTRIES = [f'country_{i}' for i in range(30)]
_DEVICES = ['phone', 'tablet', 'desktop', 'tv']


class WideDeep(Workload):
  """DNNLinearCombinedClassifier: hashed, vocabulary, crossed, embedding columns."""

  name = 'wide_deep_sparse'
  hidden_units = [64, 32]

  def _categorical(self):
    user = fc.categorical_column_with_hash_bucket('user', 5000)
    country = fc.categorical_column_with_vocabulary_list('country', _COUNTRIES)
    device = fc.categorical_column_with_vocabulary_list('device', _DEVICES)
    item = fc.categorical_column_with_hash_bucket('item', 20000)
    return user, country, device, item

  def columns(self):
    user, country, device, item = self._categorical()
    age = fc.numeric_column('age')
    wide = [user, country, device, fc.crossed_column(['country', 'device'], 200)]
    deep = [age, fc.embedding_column(item, 16), fc.embedding_column(user, 8),
            fc.indicator_column(country), fc.indicator_column(device)]
    return {'linear': wide, 'dnn': deep}

  def parse_spec(self):
    columns = self.columns()
    return fc.make_parse_example_spec(columns['linear'] + columns['dnn'])

  def make_data(self, n, seed):
    rng = np.random.RandomState(seed)
    users = rng.zipf(1.5, size=n) % 50000
    countries = rng.randint(0, len(_COUNTRIES), size=n)
    devices = rng.randint(0, len(_DEVICES), size=n)
    ages = rng.uniform(18, 80, size=n)
    rows, labels = [], []
    for i in range(n):
      n_items = rng.randint(1, 6)  # variable number of items per example
      items = rng.randint(0, 100000, size=n_items)
      rows.append({
          'user': _bytes([f'u{users[i]}'.encode()]),
          'country': _bytes([_COUNTRIES[countries[i]].encode()]),
          'device': _bytes([_DEVICES[devices[i]].encode()]),
          'item': _bytes([f'i{v}'.encode() for v in items]),
          'age': _float([ages[i]]),
      })
      score = (countries[i] % 3 - 1) + (devices[i] == 0) + (items % 7 == 0).mean() - ages[i] / 80
      labels.append(int(score + rng.normal(scale=0.5) > 0))
    return _serialize(rows), np.array(labels)

  def estimator(self, model_dir, config):
    columns = self.columns()
    return tf.estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=columns['linear'], dnn_feature_columns=columns['dnn'],
        dnn_hidden_units=self.hidden_units, model_dir=model_dir, config=config)


class LinearFtrl(Workload):
  """LinearClassifier + FTRL on high-cardinality hashed ids."""

  name = 'linear_ftrl_hashed'
  batch_size = 128
  buckets = 1000000

  def columns(self):
    return [fc.categorical_column_with_hash_bucket(key, self.buckets)
            for key in ('ad_id', 'site_id', 'query_tokens')]

  def parse_spec(self):
    return fc.make_parse_example_spec(self.columns())

  def make_data(self, n, seed):
    rng = np.random.RandomState(seed)
    ads = rng.randint(0, 2000000, size=n)
    sites = rng.zipf(1.3, size=n) % 500000
    rows, labels = [], []
    for i in range(n):
      tokens = rng.randint(0, 300000, size=rng.randint(1, 9))
      rows.append({'ad_id': _bytes([f'a{ads[i]}'.encode()]),
                   'site_id': _bytes([f's{sites[i]}'.encode()]),
                   'query_tokens': _bytes([f't{t}'.encode() for t in tokens])})
      labels.append(int((ads[i] % 5 == 0) or (sites[i] % 3 == 0) and rng.rand() < 0.7))
    return _serialize(rows), np.array(labels)

  def estimator(self, model_dir, config):
    return tf.estimator.LinearClassifier(
        self.columns(), model_dir=model_dir, config=config, optimizer='Ftrl')


class SequenceLSTM(Workload):
  """RNNClassifier (one LSTM layer) on variable-length token sequences."""

  name = 'rnn_lstm'
  batch_size = 32
  vocab = 1000
  units = [32]

  def columns(self):
    tokens = fc.sequence_categorical_column_with_identity('tokens', self.vocab)
    return [fc.embedding_column(tokens, 16)]

  def parse_spec(self):
    return {'tokens': tf.io.VarLenFeature(tf.int64)}

  def make_data(self, n, seed):
    rng = np.random.RandomState(seed)
    rows, labels = [], []
    for _ in range(n):
      tokens = rng.randint(0, self.vocab, size=rng.randint(2, 21))
      rows.append({'tokens': _int(tokens.tolist())})
      labels.append(int((tokens < 100).sum() >= 2))
    return _serialize(rows), np.array(labels)

  def estimator(self, model_dir, config):
    return tf.estimator.experimental.RNNClassifier(
        self.columns(), units=self.units, cell_type='lstm',
        model_dir=model_dir, config=config)


class _ProgramsOwnLoggingHook(tf.compat.v1.train.LoggingTensorHook):
  """A LoggingTensorHook as a program's own hook class: overriding
  `after_run`, it sees every step (as the `_LoggerHook`s of TF's tutorials
  did), so each step is a call of its own."""

  def after_run(self, run_context, run_values):
    super().after_run(run_context, run_values)


def _logging_hooks(tensors, every_n_secs, every_step):
  """A log of `tensors` every 100 steps, or every `every_n_secs` seconds,
  by a hook that sees every step if `every_step`."""
  cls = (_ProgramsOwnLoggingHook if every_step else
         tf.compat.v1.train.LoggingTensorHook)
  return [cls(tensors, every_n_iter=None if every_n_secs else 100,
              every_n_secs=every_n_secs)]


class CustomModelFn(Workload):
  """A custom model_fn (tf.compat.v1 layers, Adagrad, v1 metrics)."""

  name = 'custom_model_fn'
  hidden = 64
  loss_tensor = 'loss_for_hooks:0'

  def parse_spec(self):
    return {'x': tf.io.FixedLenFeature([16], tf.float32),
            'cat': tf.io.FixedLenFeature([1], tf.int64)}

  def make_data(self, n, seed):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    cat = rng.randint(0, 10, size=n)
    labels = ((x[:, 0] - x[:, 1] + 0.3 * (cat - 5) + 0.5 * rng.normal(size=n)) > 0)
    rows = [{'x': _float(x[i].tolist()), 'cat': _int([int(cat[i])])} for i in range(n)]
    return _serialize(rows), labels.astype(np.int64)

  def logits(self, features):
    with tf.compat.v1.variable_scope('custom'):
      embeddings = tf.compat.v1.get_variable('cat_embedding', [10, 4])
      cat = tf.nn.embedding_lookup(embeddings, tf.reshape(features['cat'], [-1]))
      net = tf.concat([features['x'], cat], axis=1)
      net = tf.compat.v1.layers.dense(net, self.hidden, tf.nn.relu, name='hidden')
      return tf.compat.v1.layers.dense(net, 1, name='logits')

  def model_fn(self, features, labels, mode, params):
    del params
    logits = self.logits(features)
    probability = tf.sigmoid(logits)
    class_id = tf.cast(probability > 0.5, tf.int64)
    predictions = {'probability': probability, 'class_id': class_id}
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions=predictions, export_outputs={
          'serving_default': tf.estimator.export.PredictOutput(predictions)})
    loss = tf.identity(tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits),
                       name='loss_for_hooks')
    if mode == tf.estimator.ModeKeys.EVAL:
      return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
          'accuracy': tf.compat.v1.metrics.accuracy(labels, class_id),
          'auc': tf.compat.v1.metrics.auc(labels, probability)})
    train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  def estimator(self, model_dir, config):
    return tf.estimator.Estimator(self.model_fn, model_dir=model_dir, config=config)

  def hooks(self, every_n_secs=None, every_step=False):
    return _logging_hooks({'loss': self.loss_tensor}, every_n_secs, every_step)


class KerasModelToEstimator(CustomModelFn):
  """The custom model's network as a compiled Keras model, through
  `tf.keras.estimator.model_to_estimator` (Keras 2.15 on the reference)."""

  name = 'keras_model_to_estimator'

  def keras_model(self):
    layers = tf.keras.layers
    x = tf.keras.Input(shape=(16,), name='x')
    cat = tf.keras.Input(shape=(1,), name='cat', dtype=tf.int64)
    embedded = layers.Flatten()(layers.Embedding(10, 4)(cat))
    net = layers.Dense(self.hidden, 'relu')(layers.concatenate([x, embedded]))
    model = tf.keras.Model([x, cat], layers.Dense(1, name='logits')(net))
    model.compile(optimizer=tf.keras.optimizers.legacy.Adagrad(0.1),
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.BinaryAccuracy(
                      name='accuracy', threshold=0.0)])
    return model

  def estimator(self, model_dir, config):
    # Name-keyed checkpoints, which the benchmark reads global_step from
    # (2.15's default 'checkpoint' format keys them by object path).
    return tf.keras.estimator.model_to_estimator(
        keras_model=self.keras_model(), model_dir=model_dir, config=config,
        checkpoint_format='saver')

  def hooks(self, every_n_secs=None, every_step=False):
    return _logging_hooks({'step': 'global_step:0'}, every_n_secs, every_step)


class TPUEstimatorOnCPU(CustomModelFn):
  """The custom model as a BERT-era TPUEstimator program with use_tpu=False:
  input_fns batched by `params['batch_size']`, a TPUEstimatorSpec with
  `eval_metrics=(metric_fn, tensors)`, `iterations_per_loop=100`."""

  name = 'tpu_estimator_cpu'

  def model_fn(self, features, labels, mode, params):
    del params  # batch_size, use_tpu: the input_fns read the batch size
    tpu = tf.compat.v1.estimator.tpu
    logits = self.logits(features)
    probability = tf.sigmoid(logits)
    if mode == tf.estimator.ModeKeys.PREDICT:
      predictions = {'probability': probability,
                     'class_id': tf.cast(probability > 0.5, tf.int64)}
      return tpu.TPUEstimatorSpec(mode, predictions=predictions)
    loss = tf.identity(tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits),
                       name='loss_for_hooks')
    if mode == tf.estimator.ModeKeys.EVAL:

      def metric_fn(labels, probability):
        return {'accuracy': tf.compat.v1.metrics.accuracy(
                    labels, tf.cast(probability > 0.5, tf.int64)),
                'auc': tf.compat.v1.metrics.auc(labels, probability)}

      return tpu.TPUEstimatorSpec(mode, loss=loss,
                                  eval_metrics=(metric_fn, [labels, probability]))
    train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_or_create_global_step())
    return tpu.TPUEstimatorSpec(mode, loss=loss, train_op=train_op)

  def estimator(self, model_dir, config):
    tpu = tf.compat.v1.estimator.tpu
    # The contender's config has only a seed; the rest are the defaults.
    tpu_config = tpu.RunConfig(
        model_dir=model_dir, tf_random_seed=config.tf_random_seed,
        tpu_config=tpu.TPUConfig(iterations_per_loop=100))
    return tpu.TPUEstimator(
        model_fn=self.model_fn, config=tpu_config, use_tpu=False,
        train_batch_size=self.batch_size, eval_batch_size=self.batch_size,
        predict_batch_size=self.batch_size)

  # `params` is optional: the Keras and hand-loop contenders call these
  # without it (TPUEstimator only needs the argument to exist).
  def _batched(self, split, params, repeat=False):
    assert params is None or params['batch_size'] == self.batch_size
    return self.dataset(split, repeat)

  def train_input_fn(self, params=None):
    return self._batched('train', params, repeat=True)

  def eval_input_fn(self, params=None):
    return self._batched('eval', params)

  def predict_input_fn(self, params=None):
    return self._batched('predict', params)


WORKLOADS = {w.name: w for w in (DenseDNN, WideDeep, LinearFtrl, SequenceLSTM,
                                  CustomModelFn, KerasModelToEstimator,
                                  TPUEstimatorOnCPU)}
