"""Small legacy programs that use the canned estimators, one per case.

Like ``custom_dnn.py`` this is old-style user code: it touches only
``tf.estimator``, ``tf.compat.v1.estimator``, ``tf.feature_column`` and numpy,
and looks them up inside functions. The golden generator imports it on the
real tensorflow-estimator 2.15; the test-suite imports it on TF 2.21 after
``tfcompat_estimator.install()``. Both must see the same data, columns and
settings, so everything here is deterministic (fixed numpy seeds, no shuffle).

Each ``Case`` bundles the estimator builder, its input_fns, the parsing spec
for a serving receiver and the serialized tf.Examples fed to the export.
"""

import collections

import numpy as np
import tensorflow as tf

N_TRAIN = 96
N_EVAL = 32
N_PREDICT = 8
BATCH_SIZE = 16
TRAIN_STEPS = 30
SEQ_LEN = 5  # longest sequence; the per-step label case uses fixed length 4
FIXED_SEQ_LEN = 4

TRAIN_SEED = 11
EVAL_SEED = 12
PREDICT_SEED = 13

COLORS = ['red', 'green', 'blue', 'black']
CITIES = ['paris', 'tokyo', 'lima', 'oslo', 'cairo', 'perth']
TAGS = ['t0', 't1', 't2', 't3', 't4']
TOKENS = ['a', 'b', 'c', 'd', 'e', 'f']
CLASS_NAMES = ['low', 'mid', 'high']

RUN_CONFIG_KWARGS = {
    'tf_random_seed': 7,
    'save_checkpoints_steps': 1000,  # only at step 0 and at the end
    'keep_checkpoint_max': 1,
    'save_summary_steps': 1000,
    'log_step_count_steps': 1000,
}


def make_data(n, seed):
  """Every feature and label any case uses, as numpy arrays of n rows."""
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  age = rng.uniform(15, 75, size=(n, 1)).astype(np.float32)
  color_idx = rng.randint(0, len(COLORS), size=(n, 1))
  color2_idx = rng.randint(0, len(COLORS), size=(n, 1))
  city_idx = rng.randint(0, len(CITIES), size=(n, 1))
  item_id = rng.randint(0, 5, size=(n, 1)).astype(np.int64)
  tag_idx = rng.randint(0, len(TAGS), size=(n, 2))
  tag_weight = rng.uniform(0.5, 2.0, size=(n, 2)).astype(np.float32)
  weight = rng.uniform(0.5, 1.5, size=(n, 1)).astype(np.float32)

  lengths = rng.randint(1, SEQ_LEN + 1, size=(n,))
  token_idx = rng.randint(0, len(TOKENS), size=(n, SEQ_LEN))
  seq_x = rng.normal(size=(n, SEQ_LEN)).astype(np.float32)
  pad = np.arange(SEQ_LEN)[None, :] >= lengths[:, None]
  tokens = np.array(TOKENS, dtype=object)[token_idx]
  tokens[pad] = ''
  seq_x[pad] = 0.0

  score = (x[:, 0] - 0.5 * x[:, 1] + 0.02 * (age[:, 0] - 45.0)
           + 0.6 * (color_idx[:, 0] == 1) - 0.4 * (city_idx[:, 0] == 2)
           + 0.3 * item_id[:, 0] - 0.6)
  noisy = score + 0.3 * rng.normal(size=(n,))
  class_id = np.digitize(noisy, [-0.5, 0.5]).astype(np.int64)
  seq_sum = np.where(pad, 0.0, seq_x).sum(axis=1)
  step_target = np.cumsum(seq_x[:, :FIXED_SEQ_LEN], axis=1) > 0.0

  features = {
      'x': x,
      'age': age,
      'color': np.array(COLORS, dtype=object)[color_idx],
      'color2': np.array(COLORS, dtype=object)[color2_idx],
      'city': np.array(CITIES, dtype=object)[city_idx],
      'item_id': item_id,
      'tag': np.array(TAGS, dtype=object)[tag_idx],
      'tag_weight': tag_weight,
      'w': weight,
      'tokens': tokens,
      'seq_x': seq_x,
      'seq_len': lengths.astype(np.int64),
  }
  labels = {
      'binary': (noisy > 0.0).astype(np.int64).reshape(n, 1),
      'class_id': class_id.reshape(n, 1),
      'class_name': np.array(CLASS_NAMES, dtype=object)[class_id].reshape(n, 1),
      'reg1': score.astype(np.float32).reshape(n, 1),
      'reg2': np.stack([score, x[:, 2] * 2.0], axis=1).astype(np.float32),
      'multilabel': np.stack([noisy > 0.0, x[:, 1] > 0.0, item_id[:, 0] > 2],
                             axis=1).astype(np.int64),
      'count': rng.poisson(np.exp(0.5 * np.clip(score, -2, 2))).astype(
          np.float32).reshape(n, 1),
      'seq_binary': (seq_sum > 0.0).astype(np.int64).reshape(n, 1),
      'seq_sum': seq_sum.astype(np.float32).reshape(n, 1),
      'seq_steps': step_target.astype(np.int64),
  }
  return features, labels


# --------------------------------------------------------------------------
# Feature columns (built on demand: tf.feature_column only, no estimator)
# --------------------------------------------------------------------------
def _fc():
  return tf.feature_column


def x_column():
  return _fc().numeric_column('x', shape=(3,))


def age_buckets():
  return _fc().bucketized_column(_fc().numeric_column('age'),
                                 boundaries=[25.0, 35.0, 50.0, 65.0])


def color_column():
  return _fc().categorical_column_with_vocabulary_list('color', COLORS)


def city_column():
  return _fc().categorical_column_with_hash_bucket('city', 7)


def item_column():
  return _fc().categorical_column_with_identity('item_id', num_buckets=5)


def weighted_tag_column():
  tag = _fc().categorical_column_with_vocabulary_list('tag', TAGS)
  return _fc().weighted_categorical_column(tag, 'tag_weight')


def linear_columns():
  """Every categorical flavour a linear model sees in the cases."""
  return [
      age_buckets(),
      _fc().crossed_column([age_buckets(), 'color'], hash_bucket_size=11),
      city_column(),
      color_column(),
      item_column(),
      weighted_tag_column(),
      x_column(),
  ]


def dnn_columns(dimension=2):
  return [
      x_column(),
      _fc().embedding_column(color_column(), dimension=dimension),
      _fc().indicator_column(item_column()),
  ]


def _shared_color_columns(make_shared):
  # Both shared-embedding functions refuse eager callers; old TF2 programs
  # built the columns inside a throwaway graph.
  color2 = _fc().categorical_column_with_vocabulary_list('color2', COLORS)
  with tf.Graph().as_default():
    return make_shared([color_column(), color2], dimension=2)


def shared_color_columns_v1():
  return _shared_color_columns(
      tf.compat.v1.feature_column.shared_embedding_columns)


def shared_color_columns_v2():
  return _shared_color_columns(_fc().shared_embeddings)


def token_columns():
  tokens = _fc().sequence_categorical_column_with_vocabulary_list(
      'tokens', TOKENS)
  return [_fc().embedding_column(tokens, dimension=3),
          _fc().sequence_numeric_column('seq_x')]


# --------------------------------------------------------------------------
# Input functions
# --------------------------------------------------------------------------
SEQUENCE_KEYS = ('tokens', 'seq_x')


def _to_sparse(dense, lengths):
  """Right-padded [batch, time] -> SparseTensor holding the first lengths."""
  mask = tf.sequence_mask(lengths, tf.shape(dense)[1])
  indices = tf.where(mask)
  return tf.sparse.SparseTensor(indices, tf.gather_nd(dense, indices),
                                tf.shape(dense, out_type=tf.int64))


def _select(case, features, labels):
  feats = {k: features[k] for k in case.feature_keys}
  if case.sequence_keys:
    feats['seq_len'] = features['seq_len']
  if isinstance(case.label_key, dict):
    labs = {head: labels[key] for head, key in case.label_key.items()}
  else:
    labs = labels[case.label_key]
  return feats, labs


def _dataset(case, n, seed, with_labels, repeat):
  features, labels = _select(case, *make_data(n, seed))
  if case.fixed_length:
    features = dict(features, seq_len=np.full_like(features['seq_len'],
                                                   FIXED_SEQ_LEN))
    for key in case.sequence_keys:
      features[key] = features[key][:, :FIXED_SEQ_LEN]
  data = (features, labels) if with_labels else features
  ds = tf.data.Dataset.from_tensor_slices(data)
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(BATCH_SIZE)
  if not case.sequence_keys:
    return ds

  def sparsify(feats, *rest):
    feats = dict(feats)
    lengths = feats.pop('seq_len')
    for key in case.sequence_keys:
      feats[key] = _to_sparse(feats[key], lengths)
    return (feats,) + rest if rest else feats

  return ds.map(sparsify)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------
class Case(object):
  """One canned estimator set-up and everything needed to exercise it.

  `columns` returns the model's feature columns (the serving parse spec comes
  from them); `label_key` names the labels in `make_data` (a dict of them for
  a MultiHead); `weight_key` is an extra weight feature; `fixed_length` cuts
  sequences to FIXED_SEQ_LEN, since per-step labels need one length.
  """

  def __init__(self, name, builder, columns, label_key, weight_key=None,
               fixed_length=False, v1_columns=False):
    self.name = name
    self._builder = builder
    self._columns = columns
    self.label_key = label_key
    self.weight_key = weight_key
    self.fixed_length = fixed_length
    self.v1_columns = v1_columns  # v1-only columns need v1 spec parsing

  @property
  def serving_spec(self):
    """Parse spec of the model's inputs (what a serving request carries)."""
    if self.v1_columns:
      return tf.compat.v1.feature_column.make_parse_example_spec(
          self._columns())
    return tf.feature_column.make_parse_example_spec(self._columns())

  @property
  def feature_keys(self):
    keys = sorted(self.serving_spec)
    if self.weight_key:
      keys.append(self.weight_key)
    return keys

  @property
  def sequence_keys(self):
    return tuple(k for k in SEQUENCE_KEYS if k in self.serving_spec)

  def make(self, model_dir, config=None):
    if config is None:
      config = tf.estimator.RunConfig(**RUN_CONFIG_KWARGS)
    return self._builder(model_dir, config)

  def train_input_fn(self):
    return _dataset(self, N_TRAIN, TRAIN_SEED, with_labels=True, repeat=True)

  def eval_input_fn(self):
    return _dataset(self, N_EVAL, EVAL_SEED, with_labels=True, repeat=False)

  def predict_input_fn(self):
    return _dataset(self, N_PREDICT, PREDICT_SEED, with_labels=False,
                    repeat=False)

  def serving_input_receiver_fn(self):
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(
        self.serving_spec)()

  def serialized_examples(self):
    """The predict rows as tf.Example protos, as a serving client sends."""
    features, _ = make_data(N_PREDICT, PREDICT_SEED)
    length = FIXED_SEQ_LEN if self.fixed_length else None
    out = []
    for row in range(N_PREDICT):
      feature = {}
      for key, spec in sorted(self.serving_spec.items()):
        values = np.asarray(features[key][row]).reshape(-1)
        if isinstance(spec, tf.io.VarLenFeature):
          values = values[:length or features['seq_len'][row]]
        feature[key] = _to_feature(values, spec.dtype)
      example = tf.train.Example(features=tf.train.Features(feature=feature))
      out.append(example.SerializeToString())
    return out


def _to_feature(values, dtype):
  if dtype == tf.string:
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode('utf-8') for v in values]))
  if dtype == tf.int64:
    return tf.train.Feature(int64_list=tf.train.Int64List(
        value=[int(v) for v in values]))
  return tf.train.Feature(float_list=tf.train.FloatList(
      value=[float(v) for v in values]))


def _decayed(rate):
  """Learning rate that decays with the global step, as old tutorials did."""
  return tf.compat.v1.train.exponential_decay(
      rate, tf.compat.v1.train.get_global_step(), decay_steps=5,
      decay_rate=0.9)


# v2 estimators ------------------------------------------------------------
def _dnn_classifier_binary(model_dir, config):
  return tf.estimator.DNNClassifier(
      hidden_units=[8, 4], feature_columns=dnn_columns(), model_dir=model_dir,
      config=config)


def _dnn_classifier_multiclass_cols():
  return dnn_columns(dimension=3) + [_fc().embedding_column(city_column(), 2)]


def _dnn_classifier_multiclass(model_dir, config):
  return tf.estimator.DNNClassifier(
      hidden_units=[8, 6], feature_columns=_dnn_classifier_multiclass_cols(),
      n_classes=3, label_vocabulary=CLASS_NAMES, weight_column='w',
      optimizer='Adam', dropout=0.2, batch_norm=True, model_dir=model_dir,
      config=config)


def _dnn_regressor_cols():
  return ([x_column(), _fc().embedding_column(city_column(), 2)] +
          shared_color_columns_v2())


def _dnn_regressor(model_dir, config):
  return tf.estimator.DNNRegressor(
      hidden_units=[6], feature_columns=_dnn_regressor_cols(),
      label_dimension=2,
      optimizer=tf.keras.optimizers.legacy.RMSprop(learning_rate=0.01),
      activation_fn=tf.nn.tanh, model_dir=model_dir, config=config)


def _dnn_estimator(model_dir, config):
  return tf.estimator.DNNEstimator(
      head=tf.estimator.MultiLabelHead(n_classes=3),
      hidden_units=[8], feature_columns=dnn_columns(),
      optimizer='Adagrad', model_dir=model_dir, config=config)


def _linear_classifier(model_dir, config):
  return tf.estimator.LinearClassifier(
      feature_columns=linear_columns(), sparse_combiner='mean',
      model_dir=model_dir, config=config)


def _linear_regressor_cols():
  return [x_column(), age_buckets(), color_column()]


def _linear_regressor(model_dir, config):
  return tf.estimator.LinearRegressor(
      feature_columns=_linear_regressor_cols(),
      optimizer=lambda: tf.keras.optimizers.legacy.SGD(
          learning_rate=_decayed(0.05)),
      model_dir=model_dir, config=config)


def _linear_estimator_cols():
  return [x_column(), item_column(), color_column()]


def _linear_estimator(model_dir, config):
  return tf.estimator.LinearEstimator(
      head=tf.estimator.PoissonRegressionHead(),
      feature_columns=_linear_estimator_cols(),
      optimizer=tf.keras.optimizers.legacy.Ftrl(learning_rate=0.05),
      model_dir=model_dir, config=config)


def _combined_cols():
  return [age_buckets(), city_column(), x_column(),
          _fc().embedding_column(color_column(), 2)]


def _dnn_linear_combined_classifier(model_dir, config):
  return tf.estimator.DNNLinearCombinedClassifier(
      linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[6, 4], n_classes=3, model_dir=model_dir,
      config=config)


def _dnn_linear_combined_regressor(model_dir, config):
  return tf.estimator.DNNLinearCombinedRegressor(
      linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[5], dnn_optimizer='Adam',
      linear_optimizer=tf.keras.optimizers.legacy.Ftrl(learning_rate=0.1),
      dnn_activation_fn=tf.nn.elu, model_dir=model_dir, config=config)


def _dnn_linear_combined_estimator(model_dir, config):
  head = tf.estimator.MultiHead([
      tf.estimator.MultiClassHead(n_classes=3, name='cls'),
      tf.estimator.RegressionHead(name='reg')])
  return tf.estimator.DNNLinearCombinedEstimator(
      head=head, linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[6], model_dir=model_dir, config=config)


def _baseline_classifier(model_dir, config):
  return tf.estimator.BaselineClassifier(
      n_classes=3, model_dir=model_dir, config=config)


def _baseline_regressor(model_dir, config):
  return tf.estimator.BaselineRegressor(
      label_dimension=2, model_dir=model_dir, config=config)


# 2.15's v2 Baseline* fail at session creation (uninitialized iterator) when
# given a weight column, so the baseline cases use none.
def _baseline_estimator(model_dir, config):
  return tf.estimator.BaselineEstimator(
      head=tf.estimator.LogisticRegressionHead(),
      optimizer='Adagrad', model_dir=model_dir, config=config)


def _rnn_classifier_cols():
  return token_columns() + [x_column()]


def _rnn_classifier(model_dir, config):
  return tf.estimator.experimental.RNNClassifier(
      sequence_feature_columns=token_columns(),
      context_feature_columns=[x_column()], units=[4], cell_type='lstm',
      model_dir=model_dir, config=config)


def _rnn_classifier_sequences(model_dir, config):
  return tf.estimator.experimental.RNNClassifier(
      sequence_feature_columns=[_fc().sequence_numeric_column('seq_x')],
      units=[3], cell_type='simple_rnn', return_sequences=True,
      model_dir=model_dir, config=config)


# RNNEstimator only takes return_sequences=True with a sequential head, which
# 2.15 does not export; RNNClassifier wraps its own head for that.
def _rnn_estimator(model_dir, config):
  return tf.estimator.experimental.RNNEstimator(
      head=tf.estimator.RegressionHead(),
      sequence_feature_columns=[_fc().sequence_numeric_column('seq_x')],
      units=[3], cell_type='gru', model_dir=model_dir, config=config)


# v1 estimators ------------------------------------------------------------
def _v1_dnn_classifier_cols():
  return [x_column()] + shared_color_columns_v1()


def _v1_dnn_classifier(model_dir, config):
  return tf.compat.v1.estimator.DNNClassifier(
      hidden_units=[8, 4], feature_columns=_v1_dnn_classifier_cols(),
      model_dir=model_dir, config=config)


def _v1_dnn_regressor(model_dir, config):
  return tf.compat.v1.estimator.DNNRegressor(
      hidden_units=[6], feature_columns=dnn_columns(),
      optimizer=lambda: tf.compat.v1.train.AdamOptimizer(
          learning_rate=_decayed(0.02)),
      model_dir=model_dir, config=config)


def _v1_linear_classifier(model_dir, config):
  return tf.compat.v1.estimator.LinearClassifier(
      feature_columns=linear_columns(), n_classes=3,
      label_vocabulary=CLASS_NAMES, model_dir=model_dir, config=config)


def _v1_linear_regressor(model_dir, config):
  return tf.compat.v1.estimator.LinearRegressor(
      feature_columns=_linear_regressor_cols(), weight_column='w',
      model_dir=model_dir, config=config)


def _v1_dnn_linear_combined_classifier(model_dir, config):
  return tf.compat.v1.estimator.DNNLinearCombinedClassifier(
      linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[6, 4], model_dir=model_dir, config=config)


def _v1_dnn_linear_combined_regressor(model_dir, config):
  return tf.compat.v1.estimator.DNNLinearCombinedRegressor(
      linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[5], label_dimension=2, dnn_dropout=0.1,
      model_dir=model_dir, config=config)


def _v1_baseline_classifier(model_dir, config):
  return tf.compat.v1.estimator.BaselineClassifier(
      model_dir=model_dir, config=config)


def _v1_baseline_regressor(model_dir, config):
  return tf.compat.v1.estimator.BaselineRegressor(
      model_dir=model_dir, config=config)


# In 2.15 only the v1 estimators that hand the head a train_op_fn (combined,
# baseline) accept a v2 head; v1 DNNEstimator passes a v1 optimizer instead.
def _v1_combined_estimator(model_dir, config):
  return tf.compat.v1.estimator.DNNLinearCombinedEstimator(
      head=tf.estimator.MultiClassHead(n_classes=3,
                                       label_vocabulary=CLASS_NAMES),
      linear_feature_columns=[age_buckets(), city_column()],
      dnn_feature_columns=[x_column(),
                           _fc().embedding_column(color_column(), 2)],
      dnn_hidden_units=[5], model_dir=model_dir, config=config)


CASES = [
    Case('dnn_classifier_binary', _dnn_classifier_binary, dnn_columns,
         'binary'),
    Case('dnn_classifier_multiclass', _dnn_classifier_multiclass,
         _dnn_classifier_multiclass_cols, 'class_name', weight_key='w'),
    Case('dnn_regressor', _dnn_regressor, _dnn_regressor_cols, 'reg2'),
    Case('dnn_estimator_multilabel', _dnn_estimator, dnn_columns,
         'multilabel'),
    Case('linear_classifier', _linear_classifier, linear_columns, 'binary'),
    Case('linear_regressor', _linear_regressor, _linear_regressor_cols,
         'reg1'),
    Case('linear_estimator_poisson', _linear_estimator,
         _linear_estimator_cols, 'count'),
    Case('dnn_linear_combined_classifier', _dnn_linear_combined_classifier,
         _combined_cols, 'class_id'),
    Case('dnn_linear_combined_regressor', _dnn_linear_combined_regressor,
         _combined_cols, 'reg1'),
    Case('dnn_linear_combined_estimator_multihead',
         _dnn_linear_combined_estimator, _combined_cols,
         {'cls': 'class_id', 'reg': 'reg1'}),
    Case('baseline_classifier', _baseline_classifier, lambda: [x_column()],
         'class_id'),
    Case('baseline_regressor', _baseline_regressor, lambda: [x_column()],
         'reg2'),
    Case('baseline_estimator_logistic', _baseline_estimator,
         lambda: [x_column()], 'binary'),
    Case('rnn_classifier', _rnn_classifier, _rnn_classifier_cols,
         'seq_binary'),
    Case('rnn_classifier_sequences', _rnn_classifier_sequences,
         lambda: [_fc().sequence_numeric_column('seq_x')], 'seq_steps',
         fixed_length=True),
    Case('rnn_estimator', _rnn_estimator,
         lambda: [_fc().sequence_numeric_column('seq_x')], 'seq_sum'),
    Case('v1_dnn_classifier', _v1_dnn_classifier, _v1_dnn_classifier_cols,
         'binary', v1_columns=True),
    Case('v1_dnn_regressor', _v1_dnn_regressor, dnn_columns, 'reg1'),
    Case('v1_linear_classifier', _v1_linear_classifier, linear_columns,
         'class_name'),
    Case('v1_linear_regressor', _v1_linear_regressor, _linear_regressor_cols,
         'reg1', weight_key='w'),
    Case('v1_dnn_linear_combined_classifier',
         _v1_dnn_linear_combined_classifier, _combined_cols, 'binary'),
    Case('v1_dnn_linear_combined_regressor',
         _v1_dnn_linear_combined_regressor, _combined_cols, 'reg2'),
    Case('v1_baseline_classifier', _v1_baseline_classifier,
         lambda: [x_column()], 'binary'),
    Case('v1_baseline_regressor', _v1_baseline_regressor,
         lambda: [x_column()], 'reg1'),
    Case('v1_dnn_linear_combined_estimator_v2_head', _v1_combined_estimator,
         _combined_cols, 'class_name'),
]

CASES_BY_NAME = collections.OrderedDict((c.name, c) for c in CASES)
