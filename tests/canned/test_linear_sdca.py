"""`tf.estimator.experimental.LinearSDCA` against what 2.15 does.

The SDCA kernel visits a batch's examples in a random order, so only
batches of one example train deterministically; the tests that compare
weights use those. The checkpoint names below are the ones 2.15 wrote for the
same models, table entries included.
"""

import concurrent.futures
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.feature_column import feature_column as fc_old

from tests.helpers import reference_runner
from tfcompat_estimator.canned.linear_optimizer import sdca_ops
from tfcompat_estimator.canned.linear_optimizer import sharded_mutable_dense_hashtable

fc = tf.feature_column
IDS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']
X = [[1.], [2.], [-1.], [.5], [3.], [-2.]]
C = [['p'], ['q'], ['p'], ['r'], ['q'], ['zz']]
W = [[1.], [2.], [1.], [.5], [1.], [1.5]]
Y = [[0], [1], [0], [1], [1], [0]]
YR = [[.5], [2.], [-1.], [1.], [3.], [-2.]]
TABLE = 'ShardedMutableHashTable-{}-of-{}-{}'


def columns():
  return [fc.numeric_column('x'),
          fc.categorical_column_with_vocabulary_list('c', ['p', 'q', 'r'])]


def input_fn(labels, epochs=1, batch=1):
  def fn():
    features = {'example_id': IDS, 'x': X, 'c': C, 'w': W}
    return tf.data.Dataset.from_tensor_slices(
        (features, labels)).repeat(epochs).batch(batch)
  return fn


def sdca(l1=0., l2=.5, shards=None):
  return tf.estimator.experimental.LinearSDCA(
      example_id_column='example_id', symmetric_l1_regularization=l1,
      symmetric_l2_regularization=l2, num_table_shards=shards)


def saved(model_dir):
  return {name: tf.train.load_variable(model_dir, name)
          for name, _ in tf.train.list_variables(model_dir)}


def table_names(shards):
  return {TABLE.format(i, shards, part): shape
          for i in range(1, shards + 1)
          for part, shape in (('keys', [131072, 2]), ('values', [131072, 4]))}


def test_checkpoint_keys_as_2_15(tmp_path):
  """v2: unshrunk copies beside the weights; v1: of the partitions, scoped."""
  est = tf.estimator.LinearClassifier(columns(), model_dir=str(tmp_path / 'v2'),
                                      optimizer=sdca(shards=2))
  est.train(input_fn(Y, batch=3), steps=2)
  expected = {'global_step': [], **table_names(2)}
  for var, shape in (('x/weights', [1, 1]), ('c/weights', [3, 1]),
                     ('bias_weights', [1])):
    expected[f'linear/linear_model/{var}'] = shape
    expected[f'linear/linear_model/{var}_unshrunk'] = shape
  assert dict(tf.train.list_variables(est.model_dir)) == expected

  est = tf.compat.v1.estimator.LinearRegressor(
      columns(), model_dir=str(tmp_path / 'v1'), optimizer=sdca())
  est.train(input_fn(YR, batch=3), steps=2)
  expected = {'global_step': [], **table_names(1)}
  for var, shape in (('x/weights', [1, 1]), ('c/weights', [3, 1]),
                     ('bias_weights', [1])):
    expected[f'linear/linear_model/{var}'] = shape
    expected[f'linear/linear/linear_model/{var}/part_0_unshrunk'] = shape
  assert dict(tf.train.list_variables(est.model_dir)) == expected
  values = saved(est.model_dir)
  keys = values[TABLE.format(1, 1, 'keys')]
  assert (keys != 0).any(axis=1).sum() == 6  # every example id seen once


def test_resumed_training_continues_from_saved_example_state(tmp_path):
  """Two train() calls of two Estimators equal one call of one.

  The second Estimator captures a new graph, so the per-example duals come
  back from the checkpoint; it also steps through a hook (one step a call)
  where the first trained in compiled loops.
  """
  def make(model_dir):
    return tf.estimator.LinearRegressor(columns(), model_dir=model_dir,
                                        weight_column='w', optimizer=sdca())

  one_go = make(str(tmp_path / 'one'))
  one_go.train(input_fn(YR, epochs=3))
  first = make(str(tmp_path / 'two'))
  first.train(input_fn(YR, epochs=2))
  second = make(first.model_dir)
  second.train(input_fn(YR), hooks=[tf.estimator.StepCounterHook()])
  expected, got = saved(one_go.model_dir), saved(second.model_dir)
  assert set(got) == set(expected) and got['global_step'] == 18
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-7,
                               err_msg=name)


def test_l1_shrinks_the_unshrunk_weights(tmp_path):
  """weight = sign(u) * max(0, |u| - l1 / l2), u its unshrunk copy."""
  est = tf.estimator.LinearClassifier(columns(), model_dir=str(tmp_path),
                                      weight_column='w',
                                      optimizer=sdca(l1=.2, l2=.5))
  est.train(input_fn(Y, epochs=2))
  values = saved(est.model_dir)
  shrunk = 0
  for name in ('x/weights', 'c/weights', 'bias_weights'):
    unshrunk = values[f'linear/linear_model/{name}_unshrunk']
    np.testing.assert_allclose(
        values[f'linear/linear_model/{name}'],
        np.sign(unshrunk) * np.maximum(0., np.abs(unshrunk) - .4), atol=1e-6)
    shrunk += np.sum(np.abs(unshrunk) > 1e-3)
  assert shrunk > 0
  metrics = est.evaluate(input_fn(Y))
  assert metrics['global_step'] == 12 and np.isfinite(metrics['loss'])


def test_converges_on_separable_data(tmp_path):
  """A batch of all examples, stepped many times (as 2.15's own tests do)."""
  est = tf.estimator.LinearClassifier(
      columns(), model_dir=str(tmp_path), optimizer=sdca(l2=.01))
  est.train(lambda: input_fn(Y, batch=6)().repeat(), steps=30)
  assert est.evaluate(input_fn(Y, batch=6), steps=1)['loss'] < .2
  predicted = [int(p['class_ids'][0]) for p in est.predict(input_fn(Y))]
  assert predicted == [y[0] for y in Y]


def test_bad_arguments_raise_2_15_errors():
  with pytest.raises(ValueError, match='multi-class'):
    tf.estimator.LinearClassifier(columns(), n_classes=3, optimizer=sdca())
  with pytest.raises(ValueError, match='one-dimensional'):
    tf.compat.v1.estimator.LinearRegressor(columns(), label_dimension=2,
                                           optimizer=sdca())
  with pytest.raises(ValueError, match='sparse_combiner must be "sum"'):
    tf.estimator.LinearRegressor(columns(), optimizer=sdca(),
                                 sparse_combiner='mean')
  with pytest.raises(ValueError, match='V2 feature columns required'):
    tf.compat.v1.estimator.LinearClassifier(
        [fc_old._numeric_column('x')], optimizer=sdca())  # pylint: disable=protected-access
  with pytest.raises(ValueError, match='l2_regularization should be positive'):
    tf.estimator.LinearRegressor(columns(), optimizer=sdca(l2=0.)).train(
        input_fn(YR), steps=1)


def test_multi_class_head_is_refused_by_the_model_fn():
  head = tf.estimator.MultiClassHead(3)
  est = tf.estimator.LinearEstimator(head, columns(), optimizer=sdca())
  with pytest.raises(ValueError, match='Unsupported head type'):
    est.train(input_fn([[0], [1], [2], [0], [1], [2]]), steps=1)


def test_sdca_model_in_a_tf1_graph_saves_its_table_with_a_saver(tmp_path):
  """As in 2.15: the table is a graph saveable `<shard>-keys/-values`."""
  prefix = str(tmp_path / 'model')

  def build():
    weights = tf.compat.v1.get_variable('w', initializer=tf.zeros([2]))
    examples = dict(
        sparse_features=[sdca_ops._SparseFeatureColumn([0, 1], [0, 1], None)],  # pylint: disable=protected-access
        dense_features=[], example_labels=[0., 1.], example_weights=[1., 1.],
        example_ids=['first', 'second'])
    model = sdca_ops._SDCAModel(  # pylint: disable=protected-access
        examples, dict(sparse_features_weights=[weights],
                       dense_features_weights=[]),
        dict(symmetric_l1_regularization=0., symmetric_l2_regularization=1.,
             loss_type='logistic_loss', num_table_shards=3))
    return model, model.update_weights(model.minimize()), weights

  with tf.Graph().as_default():
    model, train_op, weights = build()
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      for _ in range(20):
        session.run(train_op)
      gap = session.run(model.approximate_duality_gap())
      trained = session.run(weights)
      saver.save(session, prefix)
  assert abs(gap) < .05 and trained[1] > 0 > trained[0]
  assert set(table_names(3)) <= set(dict(tf.train.list_variables(prefix)))
  with tf.Graph().as_default():
    model, _, _ = build()
    with tf.compat.v1.Session() as session:
      tf.compat.v1.train.Saver().restore(session, prefix)
      assert session.run(model._hashtable.size()) == 2  # pylint: disable=protected-access
      np.testing.assert_allclose(session.run(model.approximate_duality_gap()),
                                 gap, rtol=1e-6)


def test_sharded_table_eagerly():
  table = sharded_mutable_dense_hashtable._ShardedMutableDenseHashTable(  # pylint: disable=protected-access
      tf.int64, tf.float32, [0., 0.], [0, 0], [1, 1], num_shards=3)
  keys = tf.constant([[5, 1], [6, 2], [-7, 3], [9, 4]], tf.int64)
  table.insert(keys, tf.constant([[1., 2.], [3., 4.], [5., 6.], [7., 8.]]))
  assert int(table.size()) == 4
  np.testing.assert_array_equal(
      table.lookup(tf.constant([[9, 4], [2, 2], [-7, 3]], tf.int64)),
      [[7., 8.], [0., 0.], [5., 6.]])
  shard_keys, _ = table.export_sharded()
  assert [sorted(k[0] for k in s.numpy() if k.any()) for s in shard_keys] == [
      [6, 9], [-7], [5]]
  with pytest.raises(TypeError, match='Signature mismatch'):
    table.lookup(tf.constant([[1, 2]], tf.int32))


_SCENARIO = '''
import json, sys
import numpy as np
import tensorflow as tf
fc = tf.feature_column
MODEL_DIR, ACTION = {model_dir!r}, {action!r}
IDS = {ids!r}
X, C, W, Y, YR = {x!r}, {c!r}, {w!r}, {y!r}, {yr!r}

def columns():
  return [fc.numeric_column('x'),
          fc.categorical_column_with_vocabulary_list('c', ['p', 'q', 'r']),
          fc.bucketized_column(fc.numeric_column('x'), [0., 2.])]

def input_fn(labels, epochs=1):
  def fn():
    feats = {{'example_id': IDS, 'x': X, 'c': C, 'w': W}}
    return tf.data.Dataset.from_tensor_slices((feats, labels)).repeat(epochs).batch(1)
  return fn

def sdca(l1, shards=None):
  return tf.estimator.experimental.LinearSDCA(
      example_id_column='example_id', symmetric_l1_regularization=l1,
      symmetric_l2_regularization=0.5, num_table_shards=shards)

CASES = {{
  'cls_v2': (lambda d: tf.estimator.LinearClassifier(
      columns(), model_dir=d, weight_column='w', optimizer=sdca(.05, 2)), Y),
  'cls_v1': (lambda d: tf.compat.v1.estimator.LinearClassifier(
      columns(), model_dir=d, optimizer=sdca(0.)), Y),
  'reg_v2': (lambda d: tf.estimator.LinearRegressor(
      columns(), model_dir=d, optimizer=sdca(0.)), YR),
  'reg_v1': (lambda d: tf.compat.v1.estimator.LinearRegressor(
      columns(), model_dir=d, weight_column='w', optimizer=sdca(.1)), YR),
}}

out = {{}}
for name, (make, labels) in CASES.items():
  est = make(MODEL_DIR + '/' + name)
  if ACTION == 'train':
    est.train(input_fn(labels, 2))
  elif ACTION == 'continue':
    est.train(input_fn(labels))
  res = {{'metrics': {{k: float(v) for k, v in est.evaluate(input_fn(labels)).items()}},
         'predictions': [np.asarray(p['predictions'] if 'predictions' in p else p['logits']).tolist()
                         for p in est.predict(input_fn(labels))],
         'variables': {{}}, 'table': {{}}}}
  for var, _ in tf.train.list_variables(est.model_dir):
    value = tf.train.load_variable(est.model_dir, var)
    if var.endswith('-keys'):
      values = tf.train.load_variable(est.model_dir, var[:-4] + 'values')
      used = (value != 0).any(axis=1)
      order = np.lexsort(value[used].T[::-1])
      res['table'][var] = [value[used][order].tolist(), values[used][order].tolist()]
    elif not var.endswith('-values'):
      res['variables'][var] = value.tolist()
  out[name] = res
with open(sys.argv[1], 'w') as f:
  json.dump(out, f)
'''


def _scenario(model_dir, action):
  return _SCENARIO.format(model_dir=str(model_dir), action=action, ids=IDS,
                          x=X, c=C, w=W, y=Y, yr=YR)


def _assert_same(ours, theirs):
  assert set(ours) == set(theirs)
  for case, expected in theirs.items():
    got = ours[case]
    assert set(got['metrics']) == set(expected['metrics']), case
    for key, value in expected['metrics'].items():
      np.testing.assert_allclose(got['metrics'][key], value, rtol=1e-5,
                                 atol=1e-6, err_msg=f'{case} {key}')
    np.testing.assert_allclose(got['predictions'], expected['predictions'],
                               rtol=1e-5, atol=1e-6, err_msg=case)
    assert set(got['variables']) == set(expected['variables']), case
    for var, value in expected['variables'].items():
      np.testing.assert_allclose(got['variables'][var], value, rtol=1e-5,
                                 atol=1e-6, err_msg=f'{case} {var}')
    assert set(got['table']) == set(expected['table']), case
    for var, (keys, values) in expected['table'].items():
      assert got['table'][var][0] == keys, f'{case} {var}'
      np.testing.assert_allclose(got['table'][var][1], values, rtol=1e-5,
                                 atol=1e-6, err_msg=f'{case} {var}')


@pytest.mark.slow
def test_model_dirs_are_interchangeable_with_2_15(tmp_path, venv215_python):
  """Batches of one train deterministically, so both trainings agree.

  Then each side evaluates what the other trained (same metrics), and
  continues training from it (the example state comes from the table).
  """
  env = reference_runner.scenario_env()
  env_215 = {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'}

  def both(theirs_dir, ours_dir, action):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      theirs = pool.submit(reference_runner.run_script, venv215_python,
                           _scenario(theirs_dir, action), tmp_path,
                           f'tf215_{action}', env_215)
      ours = pool.submit(reference_runner.run_script, sys.executable,
                         reference_runner.OURS_PRELUDE +
                         _scenario(ours_dir, action), tmp_path,
                         f'ours_{action}', env)
      return theirs.result(), ours.result()

  theirs_dir, ours_dir = tmp_path / 'theirs', tmp_path / 'ours'
  theirs, ours = both(theirs_dir, ours_dir, 'train')
  _assert_same(ours, theirs)
  shutil.copytree(theirs_dir, tmp_path / 'theirs_copy')
  shutil.copytree(ours_dir, tmp_path / 'ours_copy')
  theirs_eval, ours_eval = both(ours_dir, theirs_dir, 'evaluate')
  _assert_same(ours_eval, theirs)  # we read 2.15's model_dir
  _assert_same(theirs_eval, ours)  # 2.15 reads ours
  theirs_more, ours_more = both(tmp_path / 'ours_copy',
                                tmp_path / 'theirs_copy', 'continue')
  _assert_same(ours_more, theirs_more)
  assert ours_more['cls_v2']['metrics']['global_step'] == 18
  assert os.path.exists(ours_dir / 'reg_v1' / 'checkpoint')
