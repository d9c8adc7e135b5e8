"""graph_prune.prune: the fetches' subgraph as a function, like TF's prune."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import op_selector

from tfcompat_estimator.engine import graph_prune

_v1 = tf.compat.v1


def _model():
  """A wrapped v1 graph: two variables, a loss, an update op, a cond."""
  handles = {}

  def build(x, y):
    w = _v1.get_variable('w', [3, 1], initializer=_v1.ones_initializer())
    unused = _v1.get_variable('unused', [1000], initializer=_v1.zeros_initializer())
    prediction = tf.matmul(x, w, name='prediction')
    loss = tf.reduce_mean(tf.square(prediction - y), name='loss')
    handles.update(
        x=x, y=y, w=w, unused=unused, prediction=prediction, loss=loss,
        update=_v1.assign_sub(w, 0.1 * tf.ones([3, 1]), name='update').op,
        sign=tf.cond(loss > 1.0, lambda: tf.constant(1), lambda: tf.constant(-1)),
        norm=tf.identity(tf.reduce_sum(w.read_value()), name='norm'))

  wrapped = _v1.wrap_function(build, [tf.TensorSpec([None, 3], tf.float32),
                                      tf.TensorSpec([None, 1], tf.float32)])
  return wrapped, handles


X = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
Y = tf.constant([[1.0], [2.0]])


def test_values_match_tf_prune_and_shapes_are_kept():
  wrapped, h = _model()
  fetches = [h['prediction'], h['loss'], h['sign']]
  ours = graph_prune.prune(wrapped, [h['x'], h['y']], fetches)
  theirs = wrapped.prune([h['x'], h['y']], fetches)
  for a, b in zip(ours(X, Y), theirs(X, Y)):
    np.testing.assert_allclose(a.numpy(), b.numpy())
  assert [t.shape.as_list() for t in ours.structured_outputs] == [
      [None, 1], [], []]
  assert ours.structured_outputs[0].dtype == tf.float32


def test_operations_run_and_come_back_as_none():
  wrapped, h = _model()
  step = graph_prune.prune(wrapped, [], [h['update']])
  norm = graph_prune.prune(wrapped, [], [h['norm']])
  assert step() == [None]
  np.testing.assert_allclose(h['w'].numpy(), np.full([3, 1], 0.9), rtol=1e-6)
  np.testing.assert_allclose(norm()[0].numpy(), 2.7, rtol=1e-6)


def test_only_the_variables_read_are_captured():
  wrapped, h = _model()
  pruned = graph_prune.prune(wrapped, [h['x']], [h['prediction']])
  captured = {id(t) for t in pruned.captured_inputs}
  assert id(h['w'].handle) in captured
  assert id(h['unused'].handle) not in captured


def test_a_fed_tensor_can_be_fetched_as_is():
  wrapped, h = _model()
  pruned = graph_prune.prune(wrapped, [h['x'], h['y']], [h['y'], h['loss']])
  y, _ = pruned(X, Y)
  np.testing.assert_array_equal(y.numpy(), Y.numpy())


def test_a_fetch_needing_an_unfed_placeholder_is_unliftable():
  wrapped, h = _model()
  with pytest.raises(op_selector.UnliftableError, match='depend on placeholder Placeholder'):
    graph_prune.prune(wrapped, [], [h['loss']])


def test_a_captured_handle_can_be_fetched_as_is():
  wrapped, h = _model()
  internal = dict((id(e), i) for e, i in wrapped.graph.captures)[id(h['w'].handle)]
  pruned = graph_prune.prune(wrapped, [], [internal])
  assert [id(t) for t in pruned.captured_inputs] == [id(h['w'].handle)]
  (handle,) = pruned()
  np.testing.assert_array_equal(
      tf.raw_ops.ReadVariableOp(resource=handle, dtype=tf.float32).numpy(),
      h['w'].numpy())


def test_pruning_copies_no_operation_and_the_function_runs_when_traced():
  wrapped, h = _model()
  count = len(wrapped.graph.get_operations())
  pruned = graph_prune.prune(wrapped, [h['x'], h['y']], [h['loss'], h['sign']])
  assert len(wrapped.graph.get_operations()) == count
  # w is ones: predictions 3 and 12, loss ((3 - 1)^2 + (12 - 2)^2) / 2.
  loss, sign = tf.function(lambda x, y: pruned(x, y))(X, Y)
  assert float(loss) == 52. and int(sign) == 1
