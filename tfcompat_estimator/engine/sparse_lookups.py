"""Keeps the embedding lookups of a training step from copying whole tables.

`embedding_lookup_sparse` (behind every embedding column and every
categorical column of a linear model) computes
`segment_reduce(gather(table, unique(ids).y), unique(ids).idx, rows)`.
Grappler's arithmetic optimizer rewrites that into
`segment_reduce(read(table), ids, rows)`, skipping the gather on the
assumption that reading a variable is free. It is not for a table that is
also updated sparsely, as trained embeddings and linear weights are: TF then
keeps the variable in copy-on-read mode, and every full read copies the
table. Profiled on the linear_ftrl_hashed benchmark (three 1M-bucket
tables), those copies were about 60% of the training step.

`guard` feeds such a reduction its indices through a `Snapshot`, an op the
rewrite does not look through, so the step gathers only the rows it uses.
Lookups of tables the same graph does not update sparsely (evaluation and
prediction) keep the rewrite, which saves them the gather.
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_SEGMENT_REDUCTIONS = frozenset(
    f'SparseSegment{kind}{suffix}' for kind in ('Sum', 'Mean', 'SqrtN')
    for suffix in ('', 'WithNumSegments'))
_UNIQUES = ('Unique', 'UniqueV2')
_SPARSE_UPDATE_PREFIXES = ('ResourceSparseApply', 'ResourceScatter')


def guard(operations):
  """Rewires the lookups among `operations` that read tables they update.

  The Snapshots are added to the operations' graph, and the reductions
  rewired in place: a later function of the same graph that also holds the
  reduction then gathers too, which costs a lookup without updates nothing
  but the rewrite's saving.

  Returns:
    The Snapshot operations made, to join `operations`.
  """
  updated = {_source(op.inputs[0]).name for op in operations
             if op.type.startswith(_SPARSE_UPDATE_PREFIXES)}
  snapshots = []
  for op in operations:
    if op.type not in _SEGMENT_REDUCTIONS:
      continue
    gather = _source(op.inputs[0]).op
    if (gather.type != 'ResourceGather' or
        _source(gather.inputs[0]).name not in updated):
      continue
    unique = _source(gather.inputs[1]).op
    if (unique.type not in _UNIQUES or
        _source(op.inputs[1]).name != unique.outputs[1].name):
      continue
    with op.graph.as_default(), op.graph.name_scope(None), \
        tf.control_dependencies(None):
      snapshot = tf.raw_ops.Snapshot(input=op.inputs[1],
                                     name=op.name + '/indices_snapshot')
    tf_internals.rewire_input(op, 1, snapshot)
    snapshots.append(snapshot.op)
  return snapshots


def _source(tensor):
  """The tensor `tensor` carries, through Identity ops."""
  while tensor.op.type == 'Identity':
    tensor = tensor.op.inputs[0]
  return tensor
