"""batch_checks on run-time shapes: mixed dtypes, sparse and unknown-rank tensors."""

import pytest
import tensorflow as tf

from tfcompat_estimator.engine import batch_checks
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import iterator_names
from tfcompat_estimator.model_fn import ModeKeys

SPECS = {
    'price': tf.TensorSpec([None, 2], tf.float32),
    'tint': tf.TensorSpec([None], tf.string),
    'shop': tf.SparseTensorSpec([None, 3], tf.int64),
    'blob': tf.TensorSpec(None, tf.int32),  # rank unknown until run time
}


def _batch(rows):
  return {
      'price': tf.zeros([rows['price'], 2]),
      'tint': tf.fill([rows['tint']], 'a'),
      'shop': tf.sparse.from_dense(tf.ones([rows['shop'], 3], tf.int64)),
      'blob': tf.zeros([rows['blob'], 4], tf.int32),
  }


def _captured(build, signature):
  """`build` in a graph as the engine captures a model_fn, checks placed."""

  def placed(*args):
    graph = tf.compat.v1.get_default_graph()
    batch_checks.check_batches_of(graph)
    outputs = build(*args)
    batch_checks.place(graph, lambda: [op for op in graph.get_operations()
                                       if op.type == 'AssignAddVariableOp'])
    return outputs

  return tf.compat.v1.wrap_function(placed, signature)


def _run(wrapped, fetches, *args):
  """Runs only what `fetches` need, as the engine's pruned step functions do."""
  feeds = wrapped.inputs[:len(tf.nest.flatten(args, expand_composites=True))]
  return graph_prune.prune(wrapped, feeds, fetches)(
      *tf.nest.flatten(args, expand_composites=True))


def _sizes_meet(features, labels, keys):
  """One op reading every checked tensor: where a mismatch could first show."""
  parts = tf.nest.flatten([features[key] for key in keys] + [labels],
                          expand_composites=True)
  return tf.add_n([tf.size(part, out_type=tf.int64) for part in parts])


def _same_batch_size(features, labels, keys):
  def build(f, l):
    batch_checks.same_batch_size(f, l, keys)
    return _sizes_meet(f, l, keys)

  wrapped = _captured(build, [SPECS, tf.TensorSpec([None, 1], tf.float32)])
  return _run(wrapped, wrapped.outputs, features, labels)[0]


# With 'blob' the sizes are stacked one by one (no static offsets).
KEYS = {'known ranks': ['price', 'shop', 'tint'], 'an unknown rank': sorted(SPECS)}


@pytest.mark.parametrize('keys', KEYS.values(), ids=KEYS.keys())
def test_equal_sizes_pass_and_the_batch_comes_through(keys):
  total = _same_batch_size(_batch(dict.fromkeys(SPECS, 3)), tf.ones([3, 1]), keys)
  sizes = {'price': 6, 'tint': 3, 'shop': 9 * 2 + 9 + 2, 'blob': 12}
  assert int(total) == sum(sizes[key] for key in keys) + 3


@pytest.mark.parametrize('keys', KEYS.values(), ids=KEYS.keys())
def test_a_different_size_fails_listing_sizes_in_key_order(keys):
  rows = dict.fromkeys(SPECS, 3)
  rows['shop'] = 2
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    _same_batch_size(_batch(rows), tf.ones([3, 1]), keys)
  names = ', '.join([f'feature {key}' for key in keys] + ['labels'])
  sizes = ' '.join('2' if key == 'shop' else '3' for key in keys + ['labels'])
  assert f'({names}):] [{sizes}]' in str(raised.value)


def test_a_model_fn_called_outside_an_estimator_checks_nothing():
  """As in 2.15: a canned model_fn called on its own takes any labels."""
  with tf.Graph().as_default():
    batch_checks.same_batch_size({'price': tf.zeros([2, 2])}, tf.ones([1, 1]),
                                 ['price'])
    assert not tf.compat.v1.get_collection(batch_checks._MEET_GATES)  # pylint: disable=protected-access
  with tf.Graph().as_default() as graph:
    batch_checks.check_batches_of(graph)
    with pytest.raises(ValueError, match='feature price: 2, labels: 1'):
      batch_checks.same_batch_size({'price': tf.zeros([2, 2])},
                                   tf.ones([1, 1]), ['price'])


def test_an_empty_batch_fails_and_a_side_tensor_does_not_count():
  empty = tf.function(
      lambda f: batch_checks.non_empty(f, None, ModeKeys.TRAIN)[0]['price'],
      input_signature=[SPECS])
  rows = dict.fromkeys(SPECS, 0)
  with pytest.raises(tf.errors.InvalidArgumentError, match='empty batch'):
    empty(_batch(rows))
  rows['blob'] = 5  # one batched tensor with rows: not an empty batch
  assert empty(_batch(rows)).shape == (0, 2)


# As the engine captures a Dataset's batch, all tensors are outputs of one
# op (`iterator_names`); a reader of one of them meets nothing.
@pytest.mark.parametrize('one_op', [False, True], ids=['placeholders',
                                                       'IteratorGetNext'])
def test_only_the_ops_where_checked_tensors_meet_wait_for_the_size_check(
    one_op):
  def build(f, l):
    if one_op:
      f, l = iterator_names.name_batch(f, l, 'IteratorGetNext')
    batch_checks.same_batch_size(f, l, ['price', 'tint'])
    price = tf.square(f['price'])  # one input each: free to start at once
    tint = tf.strings.length(f['tint'])
    met = tf.reduce_sum(price, 1) + tf.cast(tint, tf.float32)
    return met * tf.reshape(l, [-1]), price, tint

  wrapped = _captured(build, [SPECS, tf.TensorSpec([None, 1], tf.float32)])
  waiting = [op for op in wrapped.graph.get_operations()
             if op.control_inputs and op.type != 'NoOp']  # not the check's own
  # The labels meet the features after `met`, so that op waits through it.
  assert waiting == [wrapped.outputs[0].op.inputs[0].op]
  rows = dict.fromkeys(SPECS, 3)
  rows['tint'] = 2
  price, tint = _run(wrapped, wrapped.outputs[1:], _batch(rows), tf.ones([3, 1]))
  assert price.shape == (3, 2) and tint.shape == (2,)
  with pytest.raises(tf.errors.InvalidArgumentError, match='same batch size'):
    _run(wrapped, wrapped.outputs[:1], _batch(rows), tf.ones([3, 1]))


def test_the_size_check_is_one_assert_op_without_a_branch():
  # tf.debugging.Assert puts int64 data behind a cond, which every step runs.
  def build(f, l):
    batch_checks.same_batch_size(f, l, ['price', 'tint'])
    return _sizes_meet(f, l, ['price', 'tint'])

  wrapped = _captured(build, [SPECS, tf.TensorSpec([None, 1], tf.float32)])
  ops = wrapped.graph.get_operations()
  gates = {gate.type for op in ops for gate in op.control_inputs}
  assert gates == {'Assert'}
  assert not [op.type for op in ops if op.type in ('If', 'StatelessIf')]


def test_a_check_before_writes_fails_the_step_before_any_variable_changes():
  total = tf.Variable(0.0)

  def build(x):
    batch_checks.before_writes(
        lambda: tf.debugging.check_numerics(x, 'x is bad').op)
    prediction = tf.reduce_sum(x)
    return prediction, total.assign_add(prediction)

  wrapped = _captured(build, [tf.TensorSpec([None], tf.float32)])
  nan = tf.constant([1.0, float('nan')])
  assert tf.math.is_nan(_run(wrapped, wrapped.outputs[:1], nan)[0])
  with pytest.raises(tf.errors.InvalidArgumentError, match='x is bad'):
    _run(wrapped, wrapped.outputs[1:], nan)
  assert float(total) == 0.0
  _run(wrapped, wrapped.outputs[1:], tf.constant([1.0, 2.0]))
  assert float(total) == 3.0


def test_outside_an_estimators_capture_checks_are_neither_built_nor_kept():
  # An exported EVAL graph kept the registration as a collection of its own
  # (2.15's exports have none) and an op nothing ran.
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, [None])
    batch_checks.before_writes(
        lambda: tf.debugging.check_numerics(x, 'x is bad').op)
  assert not graph.get_all_collection_keys()
  assert 'CheckNumerics' not in {op.type for op in graph.get_operations()}
