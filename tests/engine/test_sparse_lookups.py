"""sparse_lookups.guard: trained tables are gathered, not read whole.

The graphs are checked after Grappler, as TF runs them (run metadata's
post-optimization function graphs), with the guard and without it.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context

from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import sparse_lookups

_v1 = tf.compat.v1
IDS = tf.constant([[1, 2, 3], [4, 5, 5]], tf.int64)


def _lookup_model(combiner):
  """A wrapped v1 graph: a table, a sparse lookup, a loss, a sparse update."""
  handles = {}

  def build(ids):
    table = _v1.get_variable(
        'table', [1000, 4], use_resource=True, initializer=_v1.constant_initializer(
            np.sin(np.arange(4000, dtype=np.float32)).reshape(1000, 4)))
    embedded = tf.nn.embedding_lookup_sparse(
        table, tf.sparse.from_dense(ids), None, combiner=combiner)
    loss = tf.reduce_sum(embedded * embedded)
    handles.update(ids=ids, table=table, embedded=embedded, loss=loss,
                   train=_v1.train.AdagradOptimizer(0.1).minimize(loss))

  # wrap_function initializes the variables (and the optimizer's slot).
  wrapped = _v1.wrap_function(build, [tf.TensorSpec([None, 3], tf.int64)])
  return wrapped, handles


def _run_optimized(function, *args):
  """(outputs, post-Grappler node defs of the called function graphs)."""
  ctx = context.context()
  ctx.enable_run_metadata()
  try:
    outputs = function(*args)
    metadata = ctx.export_run_metadata()
  finally:
    ctx.disable_run_metadata()
  return outputs, [node for graph in metadata.function_graphs
                   for node in graph.post_optimization_graph.node]


def _full_table_reads(nodes):
  return [n.name for n in nodes if n.op == 'ReadVariableOp' and
          'SimplifyEmbeddingLookup' in n.name]


@pytest.mark.parametrize('combiner', ['sum', 'mean', 'sqrtn'])
def test_a_trained_table_is_gathered_and_training_is_unchanged(
    combiner, monkeypatch):
  results = {}
  for guarded in (True, False):
    if not guarded:
      monkeypatch.setattr(sparse_lookups, 'guard', lambda operations: [])
    wrapped, h = _lookup_model(combiner)
    step = graph_prune.prune(wrapped, [h['ids']], [h['loss'], h['train']])
    (loss, _), nodes = _run_optimized(step, IDS)
    results[guarded] = (loss.numpy(), h['table'].numpy(),
                        _full_table_reads(nodes))
  guarded_loss, guarded_table, guarded_reads = results[True]
  loss, table, reads = results[False]
  assert reads, 'Grappler no longer reads the table whole: guard unneeded'
  assert not guarded_reads
  assert guarded_loss == pytest.approx(loss, rel=1e-6)
  np.testing.assert_allclose(guarded_table, table, rtol=1e-6)


def test_a_table_only_read_keeps_the_rewrite():
  wrapped, h = _lookup_model('sum')
  predict = graph_prune.prune(wrapped, [h['ids']], [h['embedded']])
  _, nodes = _run_optimized(predict, IDS)
  assert _full_table_reads(nodes)
  assert not [n for n in nodes if n.op == 'Snapshot']


def test_guard_feeds_the_reduction_its_indices_through_a_snapshot():
  wrapped, _ = _lookup_model('mean')
  operations = wrapped.graph.get_operations()
  (reduction,) = [op for op in operations if op.type == 'SparseSegmentMean']
  indices = reduction.inputs[1]
  (snapshot,) = sparse_lookups.guard(operations)
  assert snapshot.type == 'Snapshot'
  assert reduction.inputs[1] is snapshot.outputs[0]
  assert snapshot.inputs[0] is indices
  assert snapshot.get_attr('T') == tf.int32
  # Rewired once: the reduction no longer reads the Unique's indices.
  assert not sparse_lookups.guard(wrapped.graph.get_operations())


def test_guard_leaves_a_graph_without_sparse_updates_alone():
  wrapped, _ = _lookup_model('mean')
  without_updates = [op for op in wrapped.graph.get_operations()
                     if not op.type.startswith('ResourceSparseApply')]
  before = wrapped.graph.as_graph_def().SerializeToString(deterministic=True)
  assert not sparse_lookups.guard(without_updates)
  assert wrapped.graph.as_graph_def().SerializeToString(
      deterministic=True) == before
