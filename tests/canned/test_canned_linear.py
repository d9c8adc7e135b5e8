"""Linear estimators against values observed from tensorflow-estimator 2.15.

Linear models start from zero weights and train deterministically, so the
expected losses and logits below (2.15's, on the same input) must match.
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.feature_column import feature_column as fc_old

from tfcompat_estimator.canned import linear

fc = tf.feature_column
X = np.array([[1.], [2.], [3.], [4.], [-1.], [.5]], np.float32)
C = np.array([['a'], ['b'], ['c'], ['a'], ['b'], ['z']])
I = np.array([[0], [1], [2], [3], [1], [0]], np.int64)
J = np.array([[3], [1], [0], [3], [2], [2]], np.int64)
W = np.array([[1.], [2.], [1.], [.5], [1.], [1.]], np.float32)
Y = np.array([[0], [1], [1], [0], [1], [0]], np.int64)
Y3 = np.array([[0], [1], [2], [0], [2], [1]], np.int64)
YR = np.array([[.5, 1.], [1.5, -1.], [2., 0.], [-1., 2.], [0., 0.], [1., 1.]],
              np.float32)
FTRL_V2_HYPER = ['training/Ftrl/' + n for n in (
    'beta', 'decay', 'l1_regularization_strength',
    'l2_regularization_strength', 'learning_rate', 'learning_rate_power')]


def _with_multivalent(features, labels):
  """Adds sparse 'm': row r holds 'a' in the columns of parity r % 2."""
  features = dict(features)
  n = tf.shape(features['x'])[0]
  parity = tf.cast(tf.range(n)[:, None] % 2, tf.int32)
  dense = tf.where(tf.equal(tf.range(3)[None, :] % 2, parity), 'a', '')
  features['m'] = tf.sparse.from_dense(dense)
  return features, labels


def input_fn(labels, repeat=1, sparse=False):
  def fn():
    features = {'x': X, 'c': C, 'i': I, 'j': J, 'w': W}
    ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(3)
    ds = ds.repeat(repeat)
    return ds.map(_with_multivalent) if sparse else ds
  return fn


def train_and_evaluate(est, labels, sparse=False):
  est.train(input_fn(labels, repeat=2, sparse=sparse), steps=4)
  metrics = est.evaluate(input_fn(labels, sparse=sparse))
  first = next(iter(est.predict(input_fn(labels, sparse=sparse))))
  return metrics, first


def saved_shapes(est):
  return dict(tf.train.list_variables(est.model_dir))


def v2_names(shapes, slots=('accumulator', 'linear'), opt='Ftrl',
             hyper=FTRL_V2_HYPER):
  """Checkpoint of a v2 linear model: variables, their slots, hyper-params."""
  names = {'global_step': []}
  names.update(shapes)
  for var, shape in shapes.items():
    for slot in slots:
      names[f'training/{opt}/{var}/{slot}'] = shape
  names.update({h: [] for h in hyper})
  return names


def v1_names(shapes, slots=('Ftrl', 'Ftrl_1')):
  """Checkpoint of a v1 linear model: 2.15 names slots after `part_0`."""
  names = {'global_step': []}
  names.update(shapes)
  for var, shape in shapes.items():
    for slot in slots:
      names[f'{var}/part_0/{slot}'] = shape
  return names


def col(name):
  return f'linear/linear_model/{name}'


def x_and_c():
  return [fc.numeric_column('x'),
          fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])]


XC_SHAPES = {col('x/weights'): [1, 1], col('c/weights'): [3, 1],
             col('bias_weights'): [1]}


def test_classifier_v2_names_metrics_and_logits(tmp_path):
  est = tf.estimator.LinearClassifier(x_and_c(), model_dir=str(tmp_path))
  metrics, first = train_and_evaluate(est, Y)
  assert saved_shapes(est) == v2_names(XC_SHAPES)
  np.testing.assert_allclose(metrics['loss'], 0.5778303742408752, rtol=1e-5)
  np.testing.assert_allclose(metrics['prediction/mean'], 0.4929479658603668,
                             rtol=1e-5)
  assert metrics['accuracy'] == 1.
  np.testing.assert_allclose(first['logits'], [-0.3840274214744568],
                             rtol=1e-5)


def test_classifier_v1_partitions_like_2_15(tmp_path):
  est = tf.compat.v1.estimator.LinearClassifier(x_and_c(),
                                                model_dir=str(tmp_path))
  metrics, first = train_and_evaluate(est, Y)
  assert saved_shapes(est) == v1_names(XC_SHAPES)
  np.testing.assert_allclose(metrics['average_loss'], 0.527802050113678,
                             rtol=1e-5)
  np.testing.assert_allclose(metrics['loss'], 1.5834060907363892, rtol=1e-5)
  np.testing.assert_allclose(first['logits'], [-0.5187081694602966],
                             rtol=1e-5)


@pytest.mark.parametrize('v1, prefix', [
    (False, 'linear/linear_model/linear/linear_model/linear/linear_model'),
    (True, 'linear/linear_model/linear_model/linear_model')])
def test_logits_tensor_has_2_15s_name(tmp_path, v1, prefix):
  """A TF1 client may fetch an export's logits by tensor name (TF
  Transform's census example's export; names measured on 2.15)."""
  module = tf.compat.v1.estimator if v1 else tf.estimator
  columns = [fc.numeric_column('x')]
  est = module.LinearClassifier(columns, model_dir=str(tmp_path / 'model'))
  est.train(input_fn(Y), steps=1)
  export = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_parsing_serving_input_receiver_fn(
          fc.make_parse_example_spec(columns)))
  with tf.Graph().as_default(), tf.compat.v1.Session() as session:
    meta = tf.compat.v1.saved_model.load(session, ['serve'], export)
    logits = meta.signature_def['predict'].outputs['logits'].name
    assert logits == prefix + '/weighted_sum:0'
    session.graph.get_tensor_by_name(logits)


def test_v1_columns_and_two_partitions(tmp_path):
  """Real v1 columns; a 2-way partitioner adds part_1 slots, as in 2.15."""
  columns = [fc_old._numeric_column('x'),  # pylint: disable=protected-access
             fc_old._categorical_column_with_vocabulary_list(  # pylint: disable=protected-access
                 'c', ['a', 'b', 'c'])]
  est = tf.compat.v1.estimator.LinearClassifier(
      columns, model_dir=str(tmp_path),
      partitioner=tf.compat.v1.fixed_size_partitioner(2))
  metrics, _ = train_and_evaluate(est, Y)
  expected = v1_names(XC_SHAPES)
  expected.update({col('c/weights/part_1/Ftrl'): [3, 1],
                   col('c/weights/part_1/Ftrl_1'): [3, 1]})
  assert saved_shapes(est) == expected
  np.testing.assert_allclose(metrics['loss'], 1.5834060907363892, rtol=1e-5)


ALL_SHAPES = {  # units = 3
    col('x/weights'): [1, 3], col('x_bucketized/weights'): [3, 3],
    col('c/weights'): [5, 3], col('i/weights'): [4, 3],
    col('c_X_x_bucketized/weights'): [7, 3],
    col('i_embedding/embedding_weights'): [4, 2],
    col('i_embedding/weights'): [2, 3], col('c_indicator/weights'): [3, 3],
    col('i_weighted_by_w/weights'): [4, 3], col('bias_weights'): [3]}


def all_column_types():
  x = fc.numeric_column('x')
  return [
      x, fc.bucketized_column(x, [0., 2.]),
      fc.categorical_column_with_hash_bucket('c', 5),
      fc.categorical_column_with_identity('i', 4),
      fc.crossed_column(['c', fc.bucketized_column(x, [2.])], 7),
      fc.embedding_column(
          fc.categorical_column_with_identity('i', 4, default_value=0), 2,
          initializer=tf.constant_initializer(.1)),
      fc.indicator_column(
          fc.categorical_column_with_vocabulary_list('c', ['a', 'b', 'c'])),
      fc.weighted_categorical_column(
          fc.categorical_column_with_identity('i', 4), 'w')]


@pytest.mark.parametrize('v1, loss, logits', [
    (False, 0.4571145474910736,
     [1.0738714933395386, -0.3118784725666046, -1.1522331237792969]),
    (True, 0.9408767223358154,
     [1.2475905418395996, -0.7077423930168152, -1.8932909965515137]),
])
def test_every_column_type_multi_class(tmp_path, v1, loss, logits):
  module = tf.compat.v1.estimator if v1 else tf.estimator
  est = module.LinearClassifier(all_column_types(), model_dir=str(tmp_path),
                                n_classes=3)
  metrics, first = train_and_evaluate(est, Y3)
  assert saved_shapes(est) == (v1_names(ALL_SHAPES) if v1
                               else v2_names(ALL_SHAPES))
  np.testing.assert_allclose(metrics['loss'], loss, rtol=1e-5)
  np.testing.assert_allclose(first['logits'], logits, rtol=1e-5)


def test_shared_embeddings_keep_their_own_untrained_table(tmp_path):
  with tf.Graph().as_default():
    shared = fc.shared_embeddings(
        [fc.categorical_column_with_identity('i', 4),
         fc.categorical_column_with_identity('j', 4)], 2,
        initializer=tf.constant_initializer(.2))
  est = tf.estimator.LinearRegressor(
      [fc.numeric_column('x')] + shared, model_dir=str(tmp_path),
      label_dimension=2, weight_column='w')
  metrics, first = train_and_evaluate(est, YR)
  expected = v2_names({col('x/weights'): [1, 2],
                       col('i_shared_embedding/weights'): [2, 2],
                       col('j_shared_embedding/weights'): [2, 2],
                       col('bias_weights'): [2]})
  expected['i_j_shared_embedding'] = [4, 2]
  assert saved_shapes(est) == expected
  np.testing.assert_allclose(est.get_variable_value('i_j_shared_embedding'),
                             np.full((4, 2), .2))
  np.testing.assert_allclose(metrics['loss'], 0.883664071559906, rtol=1e-5)
  np.testing.assert_allclose(first['predictions'],
                             [0.5855951309204102, 0.15532967448234558],
                             rtol=1e-5)


@pytest.mark.parametrize('combiner, v1, average_loss, predictions', [
    ('sum', False, 0.9202434420585632, [0.40877988934516907, 0.8694553375244141]),
    ('mean', False, 0.9583406448364258, [0.37878602743148804, 0.5369511246681213]),
    ('sqrtn', False, 0.9424700736999512, [0.39737802743911743, 0.6832570433616638]),
    ('sqrtn', True, 0.9514140486717224, [0.3996996581554413, 0.7630153298377991]),
])
def test_sparse_combiners_on_sparse_input(tmp_path, combiner, v1,
                                          average_loss, predictions):
  module = tf.compat.v1.estimator if v1 else tf.estimator
  m = fc.categorical_column_with_vocabulary_list('m', ['a', 'b', 'c'])
  est = module.LinearRegressor([fc.numeric_column('x'), m],
                               model_dir=str(tmp_path), label_dimension=2,
                               sparse_combiner=combiner)
  metrics, first = train_and_evaluate(est, YR, sparse=True)
  np.testing.assert_allclose(metrics['average_loss'], average_loss, rtol=1e-5)
  np.testing.assert_allclose(first['predictions'], predictions, rtol=1e-5)


def test_vocabulary_file_column_equals_vocabulary_list(tmp_path):
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text('a\nb\nc\n')
  columns = [fc.numeric_column('x'),
             fc.categorical_column_with_vocabulary_file('c', str(vocab))]
  est = tf.estimator.LinearClassifier(columns,
                                      model_dir=str(tmp_path / 'model'))
  metrics, first = train_and_evaluate(est, Y)
  np.testing.assert_allclose(metrics['loss'], 0.5778303742408752, rtol=1e-5)
  np.testing.assert_allclose(first['logits'], [-0.3840274214744568],
                             rtol=1e-5)


def test_estimator_v2_with_decaying_optimizer_callable(tmp_path):
  def adam():
    return tf.keras.optimizers.legacy.Adam(
        learning_rate=tf.compat.v1.train.exponential_decay(
            .1, tf.compat.v1.train.get_global_step(), 2, .5))

  est = tf.estimator.LinearEstimator(tf.estimator.BinaryClassHead(),
                                     x_and_c(), model_dir=str(tmp_path),
                                     optimizer=adam)
  metrics, first = train_and_evaluate(est, Y)
  # A tensor learning rate is no variable, so 2.15 saved no learning_rate.
  assert saved_shapes(est) == v2_names(
      XC_SHAPES, slots=('m', 'v'), opt='Adam',
      hyper=['training/Adam/beta_1', 'training/Adam/beta_2',
             'training/Adam/decay'])
  np.testing.assert_allclose(metrics['average_loss'], 0.6116030812263489,
                             rtol=1e-5)
  np.testing.assert_allclose(first['logits'], [-0.10477243363857269],
                             rtol=1e-5)


def test_named_and_instance_optimizers(tmp_path):
  est = tf.estimator.LinearClassifier(x_and_c(), optimizer='SGD',
                                      model_dir=str(tmp_path / 'v2'))
  metrics, _ = train_and_evaluate(est, Y)
  assert saved_shapes(est) == v2_names(
      XC_SHAPES, slots=(), opt='SGD',
      hyper=['training/SGD/decay', 'training/SGD/learning_rate',
             'training/SGD/momentum'])
  np.testing.assert_allclose(metrics['loss'], 0.6395713686943054, rtol=1e-5)
  est = tf.compat.v1.estimator.LinearClassifier(
      x_and_c(), optimizer=tf.compat.v1.train.AdagradOptimizer(.1),
      model_dir=str(tmp_path / 'v1'))
  metrics, _ = train_and_evaluate(est, Y)
  assert saved_shapes(est) == v1_names(XC_SHAPES, slots=('Adagrad',))
  np.testing.assert_allclose(metrics['loss'], 1.8126130104064941, rtol=1e-5)


def test_logit_fn_builder_in_a_custom_model_fn(tmp_path):
  logit_fn = tf.compat.v1.estimator.experimental.linear_logit_fn_builder(
      units=1, feature_columns=x_and_c())

  def model_fn(features, labels, mode):
    logits = logit_fn(features)
    loss = tf.compat.v1.losses.mean_squared_error(
        tf.cast(labels, tf.float32), logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(.1).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(input_fn(Y), steps=1)
  assert est.get_variable_names() == [
      'global_step', 'linear_model/bias_weights', 'linear_model/c/weights',
      'linear_model/x/weights']


def test_bad_arguments_raise_2_15_errors(tmp_path):
  with pytest.raises(ValueError, match="combiner must be one of 'mean', "
                     "'sqrtn' or 'sum', got foo"):
    tf.estimator.LinearRegressor(x_and_c(), sparse_combiner='foo')
  v1_column = fc_old._numeric_column('x')  # pylint: disable=protected-access
  est = tf.estimator.LinearRegressor([v1_column], model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='Received a feature column from '
                     'TensorFlow v1'):
    est.train(input_fn(YR[:, :1]), steps=1)
  est = tf.estimator.LinearRegressor([], model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='feature_columns must not be empty'):
    est.train(input_fn(YR[:, :1]), steps=1)
  est = tf.estimator.LinearRegressor([fc.numeric_column('x')] * 2,
                                     model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='Duplicate feature column name'):
    est.train(input_fn(YR[:, :1]), steps=1)
  est = tf.compat.v1.estimator.LinearRegressor(
      [fc.numeric_column('x')], optimizer=tf.keras.optimizers.legacy.Ftrl(),
      model_dir=str(tmp_path))
  with pytest.raises(ValueError, match='not an Optimizer instance'):
    est.train(input_fn(YR[:, :1]), steps=1)


def test_features_must_be_a_dict():
  with pytest.raises(ValueError, match='features should be a dictionary'):
    linear._check_features(tf.constant([1.]))  # pylint: disable=protected-access


_ORACLE = '''
import json, sys, numpy as np, tensorflow as tf
fc = tf.feature_column
data = json.loads(sys.argv[2])
feats = {k: np.array(v, np.float32 if k == 'x' else None) for k, v in data['f'].items()}
y = np.array(data['y'], np.int64)
fn = lambda: tf.data.Dataset.from_tensor_slices((feats, y)).batch(3)
cols = lambda: [fc.numeric_column('x'), fc.categorical_column_with_hash_bucket('c', 5)]
out = {}
for name, cls in (('v2', tf.estimator.LinearClassifier),
                  ('v1', tf.compat.v1.estimator.LinearClassifier)):
  est = cls(cols(), model_dir=sys.argv[1] + '/' + name)
  if sys.argv[3] == 'train':
    est.train(lambda: fn().repeat(3), steps=6)
  out[name] = {'metrics': {k: float(v) for k, v in est.evaluate(fn).items()},
               'logits': [p['logits'].tolist() for p in est.predict(fn)]}
print(json.dumps(out))
'''


def _oracle(python, model_dir, action):
  data = {'f': {'x': X.tolist(), 'c': C.tolist()}, 'y': Y.tolist()}
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', _ORACLE, model_dir, json.dumps(data),
                        action], env=env, capture_output=True, text=True,
                       check=True, timeout=300)
  return json.loads(out.stdout.strip().splitlines()[-1])


def _ours(model_dir, train):
  out = {}
  columns = [fc.numeric_column('x'),
             fc.categorical_column_with_hash_bucket('c', 5)]
  fn = lambda: tf.data.Dataset.from_tensor_slices(({'x': X, 'c': C}, Y)).batch(3)
  for name, cls in (('v2', tf.estimator.LinearClassifier),
                    ('v1', tf.compat.v1.estimator.LinearClassifier)):
    est = cls(columns, model_dir=os.path.join(model_dir, name))
    if train:
      est.train(lambda: fn().repeat(3), steps=6)
    out[name] = {'metrics': est.evaluate(fn),
                 'logits': [p['logits'].tolist() for p in est.predict(fn)]}
  return out


def _assert_same(ours, theirs):
  for name in ('v1', 'v2'):
    assert set(ours[name]['metrics']) == set(theirs[name]['metrics'])
    for key, value in theirs[name]['metrics'].items():
      np.testing.assert_allclose(ours[name]['metrics'][key], value,
                                 rtol=1e-5, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(ours[name]['logits'], theirs[name]['logits'],
                               rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_model_dirs_are_interchangeable_with_2_15(tmp_path, venv215_python):
  """2.15 evaluates what we trained, and we evaluate what 2.15 trained."""
  python = venv215_python
  ours_dir, theirs_dir = str(tmp_path / 'ours'), str(tmp_path / 'theirs')
  ours = _ours(ours_dir, train=True)
  _assert_same(ours, _oracle(python, ours_dir, 'evaluate'))
  theirs = _oracle(python, theirs_dir, 'train')
  _assert_same(_ours(theirs_dir, train=False), theirs)


def test_compute_fraction_of_zero_as_2_15():
  """2.15's private helper (v1 code calls it): nested lists, NaN when empty."""
  from tensorflow_estimator.python.estimator.canned import linear  # pylint: disable=g-import-not-at-top
  # pylint: disable=protected-access
  assert float(linear._compute_fraction_of_zero(
      [tf.constant([0., 0.]), [tf.constant([0, 1])]])) == 0.75
  assert np.isnan(float(linear._compute_fraction_of_zero([tf.constant([])]))
                  )
  with pytest.raises(ValueError, match='at least one'):
    linear._compute_fraction_of_zero([])


def test_keras_linear_model_as_2_15():
  """2.15's `linear.LinearModel`: names, zero start, weighted sums."""
  age = tf.feature_column.numeric_column('age')
  job = tf.feature_column.categorical_column_with_vocabulary_list(
      'job', ['doctor', 'engineer'])
  model = linear.LinearModel([age, job], units=2, name='linear_model')
  features = {'age': tf.constant([[2.], [3.]]),
              'job': tf.constant([['doctor'], ['engineer']])}
  np.testing.assert_array_equal(model(features), np.zeros((2, 2)))
  assert sorted(v.name for v in model.variables) == [
      'linear_model/age/weights:0', 'linear_model/bias_weights:0',
      'linear_model/job/weights:0']
  weights = {v.name: v for v in model.variables}
  weights['linear_model/age/weights:0'].assign([[1., -1.]])
  weights['linear_model/job/weights:0'].assign([[10., 0.], [0., 10.]])
  model.bias.assign([.5, .5])
  np.testing.assert_allclose(model(features),
                             [[12.5, -1.5], [3.5, 7.5]])
  with pytest.raises(ValueError, match='must be a FeatureColumn'):
    linear.LinearModel(['age'])
  with pytest.raises(ValueError, match='DenseColumn or CategoricalColumn'):
    linear.LinearModel([tf.feature_column.sequence_numeric_column('s')])


def test_2_15s_linear_model_fns_by_their_names(tmp_path):
  """TF Privacy's DP LinearClassifier calls 2.15's private v1 model_fn.

  It also sets 2.15's usage gauge. Neither name existed here.
  """
  from tensorflow_estimator.python.estimator import estimator as estimator_215  # pylint: disable=g-import-not-at-top
  from tensorflow_estimator.python.estimator.canned import head as head_215  # pylint: disable=g-import-not-at-top
  from tensorflow_estimator.python.estimator.canned import linear as linear_215  # pylint: disable=g-import-not-at-top
  # pylint: disable=protected-access
  estimator_215._canned_estimator_api_gauge.get_cell('Classifier').set(
      'Linear')
  columns = [tf.feature_column.numeric_column('x', shape=[2])]
  head = head_215._binary_logistic_or_multi_class_head(
      3, None, None, tf.compat.v1.losses.Reduction.SUM)

  def model_fn(features, labels, mode, config):
    return linear_215._linear_model_fn(
        features, labels, mode, head, columns,
        tf.compat.v1.train.GradientDescentOptimizer(0.1), None, config)

  def input_fn():
    x = np.random.RandomState(0).rand(16, 2).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(
        ({'x': x}, (x[:, :1] * 3).astype(np.int64))).batch(8)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=2)
  assert est.get_variable_value('linear/linear_model/x/weights').shape == (
      2, 3)
  assert linear_215._linear_model_fn_v2 is linear._linear_model_fn_v2
