"""Large variables: loaded from the checkpoint on create, released when stale.

`checkpoints.InitialValues` lets evaluate(), predict() and a resumed train()
create a variable of 1 MiB or more directly from its saved value. These tests
pin down that the values are exactly the checkpoint's (under the variable's own
key), that the skipped initializers really are skipped, and that validation
and local variables behave as before.

`large_variables.release` frees the eval and predict graphs' copies when
training starts; the tests below check that every later call, including a
predict generator left open and an in-memory evaluation, sees full values.
"""

import collections
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator import early_stopping
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import large_variables

BIG = [512, 600]  # 1.2 MB of float32: above InitialValues' threshold
_v1 = tf.compat.v1


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': np.ones([4, 1], np.float32)},
                                             np.ones([4, 1], np.float32))).batch(2)


def _predict_input_fn():
  return tf.data.Dataset.from_tensor_slices({'x': np.ones([2, 1], np.float32)}).batch(2)


class _Counted:
  """Initializers that fill with a constant and count their calls by name."""

  def __init__(self):
    self.calls = collections.Counter()

  def __call__(self, name, value):
    def initializer(shape, dtype=tf.float32, partition_info=None):
      del partition_info
      self.calls[name] += 1
      return tf.fill(shape, tf.cast(value, dtype))
    return initializer


def _record_loaded_keys(monkeypatch):
  """The keys InitialValues hands a saved tensor for, in order, from now on."""
  loaded = []
  read = checkpoints.InitialValues.read

  def spy(self, key, shape, dtype):
    value = read(self, key, shape, dtype)
    if value is not None:
      loaded.append(key)
    return value

  monkeypatch.setattr(checkpoints.InitialValues, 'read', spy)
  return loaded


def _estimator(model_dir, build):
  """An Estimator whose model_fn reports each variable's mean.

  `build()` returns (variables, updates): the train op applies `updates`.
  """

  def model_fn(features, labels, mode):
    variables, updates = build()
    means = {v.name.split(':')[0].replace('/', '_'): tf.reduce_mean(v) for v in variables}
    batch = tf.shape(features['x'])[0]
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={
          k: tf.fill([batch], m) for k, m in means.items()})
    loss = tf.reduce_mean(labels) * sum(means.values())
    if mode == tf.estimator.ModeKeys.EVAL:
      return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
          k: _v1.metrics.mean(m) for k, m in means.items()})
    step = _v1.train.get_or_create_global_step()
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=tf.group(
        [v.assign_add(tf.fill(v.shape, d)) for v, d in updates] + [step.assign_add(1)]))

  return tf.estimator.Estimator(model_fn, str(model_dir))


def test_large_variable_starts_from_checkpoint_without_its_initializer(tmp_path):
  counted = _Counted()

  def build():
    big = _v1.get_variable('big', BIG, initializer=counted('big', 1.0))
    small = _v1.get_variable('small', [3], initializer=counted('small', 1.0))
    return [big, small], [(big, 5.0), (small, 7.0)]

  _estimator(tmp_path, build).train(_input_fn, steps=1)  # big 6, small 8
  assert counted.calls == {'big': 1, 'small': 1}

  counted.calls.clear()
  metrics = _estimator(tmp_path, build).evaluate(_input_fn)
  assert (metrics['big'], metrics['small']) == (6.0, 8.0)
  prediction = next(_estimator(tmp_path, build).predict(_predict_input_fn))
  assert (prediction['big'], prediction['small']) == (6.0, 8.0)
  resumed = _estimator(tmp_path, build)
  resumed.train(_input_fn, steps=1)  # from the checkpoint: big 11, small 15
  assert resumed.get_variable_value('big').mean() == 11.0
  assert resumed.get_variable_value('small').mean() == 15.0
  # The small variable still runs its initializer before the one batched read.
  assert counted.calls == {'small': 3}


def test_canned_embedding_starts_from_checkpoint_under_its_own_key(tmp_path, monkeypatch):
  """A feature column's table: its key is not its creator's `name` argument."""
  ids = tf.feature_column.categorical_column_with_hash_bucket('id', 5000)
  columns = [tf.feature_column.embedding_column(ids, 64)]  # 1.28 MB

  def input_fn():
    keys = np.array([[b'a'], [b'b'], [b'c'], [b'd']])
    return tf.data.Dataset.from_tensor_slices(({'id': keys}, np.array([[0], [1], [0], [1]]))).batch(2)

  def estimator():
    return tf.estimator.DNNClassifier([4], columns, model_dir=str(tmp_path))

  estimator().train(input_fn, steps=3)
  loaded = _record_loaded_keys(monkeypatch)
  from_checkpoint = [p['logits'] for p in estimator().predict(input_fn)]
  table = 'dnn/input_from_feature_columns/input_layer/id_embedding/embedding_weights'
  assert loaded == [table]
  monkeypatch.setattr(large_variables, 'MIN_BYTES', float('inf'))
  restored_after = [p['logits'] for p in estimator().predict(input_fn)]
  assert loaded == [table]
  np.testing.assert_array_equal(from_checkpoint, restored_after)


def test_partitioned_variable_starts_each_part_from_its_saved_slice(
    tmp_path, monkeypatch):
  """TF1's Saver saved a partitioned variable whole, each part a slice of it.

  Read under the parts' own keys nothing was found: every part ran its
  initializer and was then restored, two copies of the table at the peak.
  Each part here is filled with its own offset along the partitioned axis;
  two-part and one-part variables (the v1 canned models' tables) are read
  from their slices, and never initialized.
  """
  calls = collections.Counter()

  def by_offset(name):
    def initializer(shape, dtype=tf.float32, partition_info=None):
      calls[name] += 1
      return tf.fill(shape, tf.cast(partition_info.var_offset[0], dtype))
    return initializer

  def build():
    two = _v1.get_variable('two', [2 * BIG[0], BIG[1]],
                           initializer=by_offset('two'),
                           partitioner=_v1.fixed_size_partitioner(2))
    one = _v1.get_variable('one', BIG, initializer=by_offset('one'),
                           partitioner=_v1.fixed_size_partitioner(1))
    return list(two) + list(one), []

  _estimator(tmp_path, build).train(_input_fn, steps=1)
  assert calls == {'two': 2, 'one': 1}
  calls.clear()
  loaded = _record_loaded_keys(monkeypatch)
  prediction = next(_estimator(tmp_path, build).predict(_predict_input_fn))
  assert loaded == ['two/part_0', 'two/part_1', 'one/part_0']
  assert not calls
  assert (prediction['two_part_0'], prediction['two_part_1'],
          prediction['one_part_0']) == (0.0, BIG[0], 0.0)


def test_resumed_training_loads_table_and_optimizer_slot(tmp_path, monkeypatch):
  """Keras optimizer slots declare their shape as a keyword of their initializer."""
  ids = tf.feature_column.categorical_column_with_hash_bucket('id', 5000)
  columns = [tf.feature_column.embedding_column(ids, 64)]

  def input_fn():
    keys = np.array([[b'a'], [b'b'], [b'c'], [b'd']])
    return tf.data.Dataset.from_tensor_slices(
        ({'id': keys}, np.array([[0], [1], [0], [1]]))).repeat().batch(2)

  first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
  tf.estimator.DNNClassifier([4], columns, model_dir=first).train(input_fn, steps=2)
  shutil.copytree(first, second)
  loaded = _record_loaded_keys(monkeypatch)
  resumed = tf.estimator.DNNClassifier([4], columns, model_dir=first)
  resumed.train(input_fn, steps=2)
  table = 'dnn/input_from_feature_columns/input_layer/id_embedding/embedding_weights'
  assert loaded == [table, f'training/Adagrad/{table}/accumulator']
  monkeypatch.setattr(large_variables, 'MIN_BYTES', float('inf'))
  restored_after = tf.estimator.DNNClassifier([4], columns, model_dir=second)
  restored_after.train(input_fn, steps=2)
  for name in resumed.get_variable_names():
    np.testing.assert_array_equal(resumed.get_variable_value(name),
                                  restored_after.get_variable_value(name), err_msg=name)


def test_local_variable_named_like_a_saved_one_starts_from_its_initializer(tmp_path):
  counted = _Counted()
  locality = {'collections': None}

  def build():
    big = _v1.get_variable('big', BIG, initializer=counted('big', 1.0),
                           collections=locality['collections'])
    return [big], [(big, 5.0)]

  _estimator(tmp_path, build).train(_input_fn, steps=1)  # saves big = 6
  locality['collections'] = [_v1.GraphKeys.LOCAL_VARIABLES]
  assert _estimator(tmp_path, build).evaluate(_input_fn)['big'] == 1.0


def test_large_variable_of_another_shape_is_refused_by_name(tmp_path):
  shape = {'value': BIG}

  def build():
    big = _v1.get_variable('big', shape['value'], initializer=tf.zeros_initializer())
    return [big], [(big, 1.0)]

  _estimator(tmp_path, build).train(_input_fn, steps=1)
  shape['value'] = BIG[::-1]
  with pytest.raises(checkpoints.CheckpointError, match=r"'big' is float32\[600, 512\]"):
    _estimator(tmp_path, build).evaluate(_input_fn)


def test_initial_values_read_only_large_matching_tensors(tmp_path):
  prefix = str(tmp_path / 'ckpt')
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=['big', 'small'], shape_and_slices=['', ''],
                    tensors=[tf.fill(BIG, 3.0), tf.fill([3], 4.0)])
  values = checkpoints.InitialValues(prefix)
  assert values.read('big', tf.TensorShape(BIG), tf.float32).numpy().mean() == 3.0
  assert values.read('big', tf.TensorShape(BIG[::-1]), tf.float32) is None
  assert values.read('big', tf.TensorShape(BIG), tf.float64) is None
  assert values.read('small', tf.TensorShape([3]), tf.float32) is None
  assert values.read('absent', tf.TensorShape(BIG), tf.float32) is None


def test_value_read_under_another_variables_key_is_not_kept(tmp_path, monkeypatch):
  """If the name scope ever stops giving the key, the checkpoint still decides."""

  def build():
    big = _v1.get_variable('big', BIG, initializer=tf.ones_initializer())
    other = _v1.get_variable('other', BIG, initializer=tf.constant_initializer(2.0))
    return [big, other], [(big, 5.0), (other, 7.0)]

  _estimator(tmp_path, build).train(_input_fn, steps=1)  # big 6, other 9
  monkeypatch.setattr(tf, 'get_current_name_scope', lambda: 'other')
  metrics = _estimator(tmp_path, build).evaluate(_input_fn)
  assert (metrics['big'], metrics['other']) == (6.0, 9.0)


def _big_and_small():
  big = _v1.get_variable('big', BIG, initializer=tf.ones_initializer())
  small = _v1.get_variable('small', [3], initializer=tf.ones_initializer())
  return [big, small], [(big, 5.0), (small, 7.0)]


def _three_batches():
  return tf.data.Dataset.from_tensor_slices({'x': np.ones([6, 1], np.float32)}).batch(2)


def _held_sizes(est, mode):
  """Elements each global variable of `est`'s `mode` graph holds now."""
  [captured] = [c for c in est._graphs if c.mode == mode]  # pylint: disable=protected-access
  return {k: int(tf.size(v.read_value())) for k, v in captured.global_variables.items()}


def test_training_releases_eval_and_predict_copies_and_later_calls_reload(tmp_path):
  est = _estimator(tmp_path, _big_and_small)
  est.train(_input_fn, steps=1)  # big 6, small 8
  assert est.evaluate(_input_fn)['big'] == 6.0
  assert next(est.predict(_predict_input_fn))['big'] == 6.0
  full = {'big': 512 * 600, 'small': 3, 'global_step': 1}
  assert _held_sizes(est, tf.estimator.ModeKeys.EVAL) == full

  est.train(_input_fn, steps=1)  # big 11, small 15
  second = est.latest_checkpoint()
  for mode in (tf.estimator.ModeKeys.EVAL, tf.estimator.ModeKeys.PREDICT):
    assert _held_sizes(est, mode) == dict(full, big=0), mode
  assert _held_sizes(est, tf.estimator.ModeKeys.TRAIN) == full
  assert est.evaluate(_input_fn)['big'] == 11.0
  assert next(est.predict(_predict_input_fn))['big'] == 11.0
  # The eval graph held `second` when released: it must reload even that one.
  est.train(_input_fn, steps=1)
  metrics = est.evaluate(_input_fn, checkpoint_path=second)
  assert (metrics['big'], metrics['small'], metrics['global_step']) == (11.0, 15.0, 2)


def test_open_predict_generator_keeps_its_variables_through_training(tmp_path):
  est = _estimator(tmp_path, _big_and_small)
  est.train(_input_fn, steps=1)  # big 6

  predictions = est.predict(_three_batches)
  assert next(predictions)['big'] == 6.0
  est.train(_input_fn, steps=1)  # big 11 in the new checkpoint
  assert [p['big'] for p in predictions] == [6.0] * 5
  assert _held_sizes(est, tf.estimator.ModeKeys.PREDICT)['big'] == 512 * 600
  est.train(_input_fn, steps=1)  # the generator has ended: now it is released
  assert _held_sizes(est, tf.estimator.ModeKeys.PREDICT)['big'] == 0


def test_in_memory_evaluation_refills_a_released_copy(tmp_path):
  est = _estimator(tmp_path, _big_and_small)
  est.train(_input_fn, steps=1)  # big 6
  assert est.evaluate(_input_fn)['big'] == 6.0
  hook = tf.estimator.experimental.InMemoryEvaluatorHook(
      est, _input_fn, every_n_iter=1, name='mem')
  est.train(_input_fn, hooks=[hook], steps=1)  # releases, then evaluates at 1 and 2
  in_memory = early_stopping.read_eval_metrics(est.eval_dir('mem'))
  assert {step: m['big'] for step, m in in_memory.items()} == {1: 6.0, 2: 11.0}


def test_release_frees_only_large_plain_variables():
  big, small = tf.Variable(tf.fill(BIG, 2.0)), tf.Variable(tf.fill([3], 2.0))
  assert large_variables.release({'big': big, 'small': small})
  assert (int(tf.size(big.read_value())), int(tf.size(small.read_value()))) == (0, 3)
  assert not large_variables.release({'small': small})
  large_variables.assign(big, tf.fill(BIG, 4.0))
  assert big.read_value().shape == BIG and float(tf.reduce_min(big)) == 4.0
  with pytest.raises(ValueError, match=r"shape \(600, 512\) to variable 'Variable:0' of shape \(512, 600\)"):
    large_variables.assign(big, tf.zeros(BIG[::-1]))


def test_open_predict_generators_each_keep_their_checkpoint(tmp_path):
  """A second predict() on another checkpoint must not change the first's values."""
  est = _estimator(tmp_path, _big_and_small)
  est.train(_input_fn, steps=1)  # big 6
  first = est.latest_checkpoint()
  est.train(_input_fn, steps=1)  # big 11

  older = est.predict(_three_batches, checkpoint_path=first)
  assert next(older)['big'] == 6.0
  newer = est.predict(_three_batches)
  assert next(newer)['big'] == 11.0
  assert [p['big'] for p in older] == [6.0] * 5
  assert [p['big'] for p in newer] == [11.0] * 5
  # Once both have ended, one graph serves later calls again.
  assert next(est.predict(_three_batches, checkpoint_path=first))['big'] == 6.0
