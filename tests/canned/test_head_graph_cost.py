"""What a head builds into each graph: every piece once, checks kept small.

Every op a head builds is paid twice by each process: building it in Python,
and compiling the loop that runs it (its first call). These tests pin the
structure that keeps that cost down, next to tests elsewhere (test_heads.py,
test_canned_bad_input.py) that the checks still fail with 2.15's words.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.canned.head import base_head

_EVAL = tf.estimator.ModeKeys.EVAL


def _ops(graph):
  """Every op of `graph` and of the functions it calls (branch bodies)."""
  graph_def = graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes.extend(function.node_def)
  return nodes


def _logits(x, dim):
  # Seeded: an unseeded Keras initializer draws from tf_keras' process-wide
  # seed generator, which would shift the initial weights of later tests.
  return tf.compat.v1.layers.dense(
      x, dim, kernel_initializer=tf.compat.v1.zeros_initializer())


def _eval_graph(head, logits_dim, labels_dtype):
  def build(x, labels):
    head.create_estimator_spec(
        features={'x': x}, mode=_EVAL, logits=_logits(x, logits_dim),
        labels=labels)

  return tf.compat.v1.wrap_function(build, [
      tf.TensorSpec([None, 2], tf.float32),
      tf.TensorSpec([None, 1], labels_dtype)]).graph


@pytest.mark.parametrize('head, logits_dim, labels_dtype, loss_op', [
    (tf.estimator.MultiClassHead(3), 3, tf.int64,
     'SparseSoftmaxCrossEntropyWithLogits'),
    (tf.estimator.BinaryClassHead(), 1, tf.float32, 'Log1p'),
    (tf.estimator.RegressionHead(), 1, tf.float32, 'SquaredDifference'),
])
def test_an_eval_spec_builds_its_loss_and_label_checks_once(
    head, logits_dim, labels_dtype, loss_op):
  """The loss and the metrics share one per-example loss and label check."""
  ops = _ops(_eval_graph(head, logits_dim, labels_dtype))
  assert sum(op.op == loss_op for op in ops) == 1
  label_checks = {op.name.split('/cond')[0] for op in ops
                  if op.op in ('If', 'StatelessIf') and
                  'check_label_range' in op.name}
  assert len(label_checks) == (0 if loss_op == 'SquaredDifference' else 1)


def _weight_checks(head, logits_dim, labels_dim, labels_dtype, weighted):
  """The run-time weight shape checks an eval spec's metrics build."""
  def build(x, labels, weights):
    features = {'x': x, 'w': weights} if weighted else {'x': x}
    head.create_estimator_spec(
        features=features, mode=_EVAL, logits=_logits(x, logits_dim),
        labels=labels)

  graph = tf.compat.v1.wrap_function(build, [
      tf.TensorSpec([None, 2], tf.float32),
      tf.TensorSpec([None, labels_dim], labels_dtype),
      tf.TensorSpec([None, 1], tf.float32)]).graph
  return sum(op.op in ('If', 'StatelessIf') and
             'assert_broadcastable' in op.name for op in _ops(graph))


@pytest.mark.parametrize('make_head, logits_dim, labels_dim, labels_dtype', [
    (tf.estimator.BinaryClassHead, 1, 1, tf.float32),
    (lambda **kw: tf.estimator.MultiLabelHead(3, **kw), 3, 3, tf.int64),
])
def test_unweighted_metrics_check_no_weight_shapes_at_run_time(
    make_head, logits_dim, labels_dim, labels_dtype):
  """Without a weight column the metrics get the scalar 1., not a tensor.

  A weight column's weights are still broadcast and checked, as in 2.15.
  """
  shapes = (logits_dim, labels_dim, labels_dtype)
  assert _weight_checks(make_head(), *shapes, weighted=False) == 0
  assert _weight_checks(make_head(weight_column='w'), *shapes,
                        weighted=True) > 0


def test_an_eval_spec_shares_loss_terms_only_while_it_is_built():
  """`loss()` called on its own afterwards builds its own terms again."""
  head = tf.estimator.MultiClassHead(3)

  def build(x, labels):
    logits = _logits(x, 3)
    head.create_estimator_spec(features={'x': x}, mode=_EVAL, logits=logits,
                               labels=labels)
    head.loss(labels=labels, logits=logits, features={'x': x})

  graph = tf.compat.v1.wrap_function(build, [
      tf.TensorSpec([None, 2], tf.float32),
      tf.TensorSpec([None, 1], tf.int64)]).graph
  assert sum(op.op == 'SparseSoftmaxCrossEntropyWithLogits'
             for op in _ops(graph)) == 2


def test_the_label_range_check_is_one_branch():
  """Its failure branch holds plain assertions, not further branches."""
  def build(labels):
    base_head.check_label_range(labels, 3)

  graph = tf.compat.v1.wrap_function(
      build, [tf.TensorSpec([None, 1], tf.int64)]).graph
  ops = _ops(graph)
  assert sum(op.op in ('If', 'StatelessIf') for op in ops) == 1
  assert sum(op.op == 'Assert' for op in ops) == 2


def test_the_one_branch_label_check_names_every_bad_label():
  def check(labels):
    return base_head.check_label_range(labels, 3)

  checked = tf.compat.v1.wrap_function(
      check, [tf.TensorSpec([None, 1], tf.int64)])
  np.testing.assert_array_equal(checked(tf.constant([[0], [2]], tf.int64)),
                                [[0], [2]])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'Labels must be <= n_classes - 1 \(n_classes=3\):'
                     r'\] \[3 7\]'):
    checked(tf.constant([[3], [1], [7]], tf.int64))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'Labels must be >= 0:\] \[-1\]'):
    checked(tf.constant([[-1], [1]], tf.int64))


def test_binary_heads_rows_of_all_classes_read_the_batch_from_its_logits():
  """2.15's binary head tiled `all_class_ids`/`all_classes` over the rows
  of its logits, not of the two-column logits it makes for argmax; a
  TFLite conversion of the predict signature had three more ops (SHAPE,
  STRIDED_SLICE, PACK) and was 560 bytes larger while it waited for those."""

  def build(x):
    head = tf.estimator.BinaryClassHead()
    head.predictions(_logits(x, 1))

  graph = tf.compat.v1.wrap_function(
      build, [tf.TensorSpec([None, 2], tf.float32)]).graph
  shapes = [n for n in graph.as_graph_def().node
            if n.op == 'Shape' and n.name.startswith('predictions/')]
  assert len(shapes) == 2  # one for each key
  assert not [n for n in shapes if 'two_class_logits' in n.input[0]]
