"""Datasets a TF1 input_fn builds in its graph, read as eager datasets.

A TF1 caller's input_fn runs in a graph, as 2.15 ran it. When the Dataset
it returns (or the one behind a bare one-shot iterator it returns) reads
nothing else of that graph, its ops are rebuilt by `DatasetFromGraph`, and
the graph itself is imported into a function only if something runs it
(an initializer, a hook's fetch). The batches must be those a v1 session
draws from the same graph, as 2.15 drew them.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import input_graph
from tfcompat_estimator.engine import input_pipeline

_v1 = tf.compat.v1
_TRAIN = tf.estimator.ModeKeys.TRAIN
_X = np.arange(48, dtype=np.float32).reshape(24, 2)
_Y = _X.sum(axis=1, keepdims=True)


def _shuffled_noisy():
  """Shuffling and random ops draw from the graph's seed, as in 2.15."""
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).shuffle(24).map(
      lambda f, y: ({'x': f['x'] + tf.random.uniform([2])}, y)).batch(5)


def _generated():
  def rows():
    for x, y in zip(_X, _Y):
      yield {'x': x}, y
  return tf.data.Dataset.from_generator(
      rows, output_signature=({'x': tf.TensorSpec([2], tf.float32)},
                              tf.TensorSpec([1], tf.float32))).batch(5)


def _sparse():
  ids = tf.sparse.from_dense(np.array([[1, 0, 3], [0, 0, 2]] * 12, np.int64))
  return tf.data.Dataset.from_tensor_slices(({'ids': ids, 'x': _X}, _Y)).batch(5)


def _table_lookup():
  table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
      ['a', 'b'], [1.0, 2.0]), -1.0)
  words = tf.data.Dataset.from_tensor_slices(['a', 'b', 'b', 'z'] * 6)
  return words.map(lambda w: ({'x': tf.stack([table.lookup(w)] * 2)},
                              [1.0])).batch(5)


def _files(tmp_dir):
  """A TF1-era file pipeline: listed (shuffled) files, interleaved lines, CSV."""
  for part in range(3):
    with open(os.path.join(tmp_dir, f'part-{part}.csv'), 'w') as f:
      for row in range(8):
        f.write(f'{part * 8 + row},{row * 0.5}\n')

  def input_fn():
    files = tf.data.Dataset.list_files(os.path.join(tmp_dir, 'part-*.csv'))
    lines = files.interleave(tf.data.TextLineDataset, cycle_length=2)

    def parse(line):
      x, y = tf.io.decode_csv(line, [[0.0], [0.0]])
      return {'x': tf.stack([x, x])}, tf.reshape(y, [1])
    return lines.map(parse).batch(5)

  return input_fn


def _one_shot(make):
  return lambda: _v1.data.make_one_shot_iterator(make()).get_next()


def _swapped():
  """The iterator's components returned in another order than its element's."""
  labels_first = tf.data.Dataset.from_tensor_slices((_Y, {'x': _X})).batch(5)
  labels, features = _v1.data.make_one_shot_iterator(labels_first).get_next()
  return features, labels


def _looked_up_outside():
  """cloudml-samples' census idiom: labels looked up after the iterator."""
  words = tf.data.Dataset.from_tensor_slices(
      ({'x': _X}, ['a', 'b', 'b', 'z'] * 6)).shuffle(10).batch(5)
  features, labels = _v1.data.make_one_shot_iterator(words).get_next()
  table = _v1.lookup.StaticHashTable(_v1.lookup.KeyValueTensorInitializer(
      ['a', 'b'], np.array([0, 1], np.int64)), -1)
  return {'x': features['x'] * 2.0}, table.lookup(labels)


def _session_batches(make, seed):
  """What 2.15 drew: the graph's dataset through an initializable iterator."""
  with tf.Graph().as_default() as graph:
    graph.seed = seed
    result = make()
    if isinstance(result, tf.data.Dataset):
      iterator = _v1.data.make_initializable_iterator(result)
      result, init = iterator.get_next(), iterator.initializer
    else:
      init = tf.no_op()
    with _v1.Session() as session:
      session.run([_v1.tables_initializer(), init])
      batches = []
      while True:
        try:
          batches.append(session.run(result))
        except tf.errors.OutOfRangeError:
          return batches


def _engine_batches(make, seed):
  # A TF1 caller (a graph is its default): the input_fn runs in a graph.
  with tf.Graph().as_default(), engine_scope.scope():
    return _draw_all(input_pipeline.BatchSource(
        make, _TRAIN, {}, tf.estimator.RunConfig(tf_random_seed=seed)))


def _draw_all(batches):
  """(whether compiled loops can read it as a dataset, its batches)."""
  try:
    reads_dataset = batches.iterator is not None
    drawn = []
    while True:
      try:
        flat = batches.flat_batch()
      except end_of_input.EndOfInput:
        return reads_dataset, drawn
      drawn.append(tf.nest.pack_sequence_as(
          batches.element_spec, flat, expand_composites=True))
  finally:
    batches.close()


def _assert_same(session_batch, engine_batch):
  for ours, theirs in zip(tf.nest.flatten(engine_batch, expand_composites=True),
                          tf.nest.flatten(session_batch,
                                          expand_composites=True)):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize('make, reads_dataset', [
    (_shuffled_noisy, True), (_generated, True), (_sparse, True),
    (_table_lookup, True),  # made by its graph's ops: the table filled
    (_one_shot(_shuffled_noisy), True), (_one_shot(_sparse), True),
    (_swapped, True),
    (_looked_up_outside, True),  # the ops after the iterator, mapped
], ids=['shuffled_noisy', 'generated', 'sparse', 'table_lookup',
        'one_shot_shuffled_noisy', 'one_shot_sparse', 'swapped',
        'looked_up_outside'])
def test_batches_are_those_a_v1_session_draws(make, reads_dataset):
  expected = _session_batches(make, seed=7)
  read_as_dataset, drawn = _engine_batches(make, seed=7)
  assert read_as_dataset == reads_dataset
  assert len(drawn) == len(expected) == 5
  for theirs, ours in zip(expected, drawn):
    _assert_same(theirs, ours)


def test_file_pipelines_read_what_a_v1_session_reads(tmp_path):
  make = _files(str(tmp_path))
  expected = _session_batches(make, seed=3)
  read_as_dataset, drawn = _engine_batches(make, seed=3)
  assert read_as_dataset
  assert len(drawn) == len(expected) == 5
  for theirs, ours in zip(expected, drawn):
    _assert_same(theirs, ours)


def test_only_self_contained_datasets_stand_alone():
  with tf.Graph().as_default():
    assert input_graph.stands_alone(_shuffled_noisy())
    assert input_graph.stands_alone(_generated())
    assert not input_graph.stands_alone(_table_lookup())
    scale = tf.Variable(2.0)
    assert not input_graph.stands_alone(
        tf.data.Dataset.from_tensor_slices(_X).map(lambda x: x * scale))
    fed = _v1.placeholder(tf.float32, [None, 2])
    assert not input_graph.stands_alone(
        tf.data.Dataset.from_tensor_slices(fed))
    # Over control edges too, where only checks (list_files' Assert) may be
    # stateful: an assignment would run on a variable of its own.
    assert input_graph.stands_alone(tf.data.Dataset.list_files('/no/*.csv'))
    counter = tf.Variable(0)
    with tf.control_dependencies([counter.assign_add(1)]):
      counted = tf.identity(_X)
    assert not input_graph.stands_alone(
        tf.data.Dataset.from_tensor_slices(counted))


def test_a_file_pattern_matching_nothing_fails_naming_it(tmp_path):
  pattern = os.path.join(str(tmp_path), 'missing-*.csv')
  with pytest.raises(tf.errors.InvalidArgumentError, match='missing-'):
    _engine_batches(lambda: tf.data.Dataset.list_files(pattern), seed=1)


@pytest.mark.parametrize('make, runs_graph', [
    (_shuffled_noisy, False),
    (_one_shot(_shuffled_noisy), False),
    (_table_lookup, True),  # its table is initialized in the graph
])
def test_the_graph_becomes_a_function_only_when_run(make, runs_graph,
                                                    monkeypatch):
  """Importing and instantiating it cost a canned DNN's first call 0.06 s."""
  wrapped = []
  wrap_function = _v1.wrap_function

  def counting_wrap_function(*args, **kwargs):
    wrapped.append(args)
    return wrap_function(*args, **kwargs)

  monkeypatch.setattr(_v1, 'wrap_function', counting_wrap_function)
  _engine_batches(make, seed=1)
  assert bool(wrapped) == runs_graph


def test_a_hook_still_runs_the_input_graph_tensors(tmp_path):
  """The graph stays behind a Dataset the engine reads without it."""
  seen = []

  def input_fn():
    tf.constant(7.0, name='marker')
    return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).batch(6)

  class MarkerHook(_v1.train.SessionRunHook):

    def after_create_session(self, session, coord):
      del coord
      seen.append(session.run('marker:0'))

  def model_fn(features, labels, mode):
    w = _v1.get_variable('w', [2, 1])
    loss = _v1.losses.mean_squared_error(labels, tf.matmul(features['x'], w))
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=(
        _v1.train.GradientDescentOptimizer(1e-4).minimize(
            loss, _v1.train.get_global_step())))

  with tf.Graph().as_default():
    estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
    estimator.train(input_fn, hooks=[MarkerHook()])
  assert seen == [7.0]
  assert estimator.get_variable_value('global_step') == 4
