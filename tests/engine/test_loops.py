"""loops: compiled steps and loops that draw their batches, end of input."""

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import loops
from tfcompat_estimator.platform import tf_internals

_v1 = tf.compat.v1


def _step(n_variables=1):
  """A pruned step of a batch `x` fetching (loss, update op), and `w`."""
  handles = {}

  def build(x):
    ws = [_v1.get_variable(f'w{i}', [], initializer=_v1.ones_initializer())
          for i in range(n_variables)]
    # Reads every variable; its value does not depend on when (v1 graph
    # ops are not ordered).
    loss = tf.reduce_sum(x) + 0. * tf.add_n(ws)
    handles.update(x=x, w=ws[0], loss=loss,
                   update=_v1.assign_add(ws[0], tf.reduce_sum(x)).op)

  wrapped = _v1.wrap_function(build, [tf.TensorSpec([None], tf.float32)])
  pruned = graph_prune.prune(wrapped, [handles['x']],
                             [handles['loss'], handles['update']])
  return pruned, handles['w']


def _iterator(*batches):
  return iter(tf.data.Dataset.from_generator(
      lambda: iter(batches), output_signature=tf.TensorSpec([None], tf.float32)))


def test_next_step_runs_each_batch_then_gives_stand_ins():
  pruned, w = _step()
  draw = tf.function(lambda it: loops.next_step(it, pruned, 2),
                     autograph=False)
  iterator = _iterator([1., 2.], [4.])
  ran, (loss,) = draw(iterator)
  assert bool(ran) and float(loss) == 3. and float(w) == 4.
  ran, (loss,) = draw(iterator)
  assert bool(ran) and float(loss) == 4. and float(w) == 8.
  ran, (loss,) = draw(iterator)
  assert not bool(ran) and float(loss) == 0. and float(w) == 8.


def test_the_step_calls_the_pruned_function_itself():
  pruned, _ = _step(n_variables=30)
  draw = tf.function(lambda it: loops.next_step(it, pruned, 1),
                     autograph=False)
  graph = draw.get_concrete_function(_iterator([1.])).graph
  (step,) = [op for op in graph.get_operations() if op.type == 'If']
  then_branch = tf_internals.graph_function_def(
      graph, step.get_attr('then_branch').name)
  assert [(n.op, n.attr['f'].func.name) for n in then_branch.node_def
          if n.op == 'StatefulPartitionedCall'] == [
              ('StatefulPartitionedCall', pruned.function.name.decode())]
  # The optional and the variables: no placeholder per variable in a
  # branch graph, as tf.cond's branches had.
  assert len(step.inputs) == 1 + 1 + 30  # predicate, optional, variables
  assert len(graph.get_operations()) < 30 + 25


def test_loop_counts_steps_keeps_the_last_loss_and_stops_at_the_end():
  pruned, w = _step()
  loop = loops.make_loop(pruned, watch_loss=True)
  iterator = _iterator([1.], [2.], [3.])
  ran, loss, stopped = loop(iterator, tf.constant(2))
  assert (int(ran), bool(stopped)) == (2, False)
  assert float(loss) == 2. and float(w) == 4.
  ran, loss, stopped = loop(iterator, tf.constant(5))
  assert (int(ran), float(loss), bool(stopped)) == (1, 3., True)
  assert float(w) == 7.


def test_loop_stops_at_the_first_non_finite_loss():
  pruned, w = _step()
  loop = loops.make_loop(pruned, watch_loss=True)
  ran, loss, stopped = loop(_iterator([1.], [np.inf], [1.]), tf.constant(5))
  assert (int(ran), bool(stopped)) == (2, True)
  assert not np.isfinite(float(loss))


def _step_without_outputs():
  """A pruned step of a batch `x` fetching only its update op, and `w`."""
  handles = {}

  def build(x):
    w = _v1.get_variable('w', [], initializer=_v1.zeros_initializer())
    handles.update(x=x, w=w, update=_v1.assign_add(w, tf.reduce_sum(x)).op)

  wrapped = _v1.wrap_function(build, [tf.TensorSpec([None], tf.float32)])
  return (graph_prune.prune(wrapped, [handles['x']], [handles['update']]),
          handles['w'])


def test_loop_without_outputs_still_runs_its_step_each_time():
  pruned, w = _step_without_outputs()
  loop = loops.make_loop(pruned, watch_loss=False)
  ran, _, stopped = loop(_iterator([1.], [2.], [3.]), tf.constant(10))
  assert (int(ran), bool(stopped)) == (3, True)
  assert float(w) == 6.


def test_a_sparse_feature_is_decoded_for_the_step():
  """A dataset holds a SparseTensor encoded; the step gets its parts."""
  handles = {}

  def build(indices, values, dense_shape):
    w = _v1.get_variable('w', [], initializer=_v1.zeros_initializer())
    sparse = tf.SparseTensor(indices, values, dense_shape)
    total = tf.sparse.reduce_sum(sparse)
    handles.update(parts=[indices, values, dense_shape], w=w, total=total,
                   update=_v1.assign_add(w, total).op)

  wrapped = _v1.wrap_function(build, [
      tf.TensorSpec([None, 2], tf.int64), tf.TensorSpec([None], tf.float32),
      tf.TensorSpec([2], tf.int64)])
  pruned = graph_prune.prune(wrapped, handles['parts'],
                             [handles['total'], handles['update']])
  dataset = tf.data.Dataset.from_tensors(
      tf.sparse.from_dense([[1., 0.], [0., 2.]])).repeat(2)
  draw = tf.function(lambda it: loops.next_step(it, pruned, 1),
                     autograph=False)
  iterator = iter(dataset)
  assert [float(draw(iterator)[1][0]) for _ in range(3)] == [3., 3., 0.]
  assert float(handles['w']) == 6.


def test_an_endless_input_is_drawn_without_an_if():
  pruned, w = _step(n_variables=3)
  draw = tf.function(lambda it: loops.next_step(it, pruned, 2, endless=True),
                     autograph=False)
  iterator = iter(tf.data.Dataset.from_tensors([1., 2.]).repeat())
  graph = draw.get_concrete_function(iterator).graph
  assert not [op for op in graph.get_operations()
              if op.type in ('If', 'StatelessIf')]
  for expected_w in (4., 7.):
    ran, (loss,) = draw(iterator)
    assert bool(ran) and float(loss) == 3. and float(w) == expected_w


def test_an_endless_input_that_ends_raises_out_of_range():
  # A repeat() of an input that turns out empty is infinite to tf.data.
  pruned, w = _step()
  draw = tf.function(lambda it: loops.next_step(it, pruned, 2, endless=True),
                     autograph=False)
  iterator = iter(tf.data.Dataset.from_generator(
      lambda: iter([]),
      output_signature=tf.TensorSpec([None], tf.float32)).repeat())
  try:
    draw(iterator)
  except tf.errors.OutOfRangeError:
    pass
  else:
    raise AssertionError('the draw ran without a batch')
  assert float(w) == 1.


def test_an_endless_draw_without_outputs_still_runs_its_step():
  pruned, w = _step_without_outputs()
  draw = tf.function(lambda it: loops.next_step(it, pruned, 1, endless=True),
                     autograph=False)
  iterator = iter(tf.data.Dataset.from_tensors([1., 2.]).repeat())
  for expected_w in (3., 6.):
    ran, values = draw(iterator)
    assert bool(ran) and values == [] and float(w) == expected_w
