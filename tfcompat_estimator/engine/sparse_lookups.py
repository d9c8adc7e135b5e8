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

from tfcompat_estimator.engine import tf1_graph_semantics

_SEGMENT_REDUCTIONS = frozenset(
    f'SparseSegment{kind}{suffix}' for kind in ('Sum', 'Mean', 'SqrtN')
    for suffix in ('', 'WithNumSegments'))
_UNIQUES = ('Unique', 'UniqueV2')
_SPARSE_UPDATE_PREFIXES = ('ResourceSparseApply', 'ResourceScatter')


def guard(graph_def):
  """Rewires, in place, the lookups of `graph_def` that read updated tables."""
  nodes = {node.name: node for node in graph_def.node}
  updated = {_source(nodes, node.input[0]) for node in graph_def.node
             if node.op.startswith(_SPARSE_UPDATE_PREFIXES)}
  snapshots = []
  for node in graph_def.node:
    if node.op not in _SEGMENT_REDUCTIONS:
      continue
    gather = _node(nodes, _source(nodes, node.input[0]))
    if (gather is None or gather.op != 'ResourceGather' or
        _source(nodes, gather.input[0]) not in updated):
      continue
    unique = _node(nodes, _source(nodes, gather.input[1]))
    if (unique is None or unique.op not in _UNIQUES or
        _source(nodes, node.input[1]) != f'{unique.name}:1'):
      continue
    snapshot = tf.compat.v1.NodeDef(
        name=tf1_graph_semantics.unique_name(node.name + '/indices_snapshot',
                                             nodes),
        op='Snapshot', input=[node.input[1]])
    snapshot.attr['T'].CopyFrom(unique.attr['out_idx'])
    nodes[snapshot.name] = snapshot
    node.input[1] = snapshot.name
    snapshots.append(snapshot)
  graph_def.node.extend(snapshots)


def _source(nodes, tensor_name):
  """'node:index' of the tensor `tensor_name` carries, through Identity ops."""
  name, _, index = tensor_name.partition(':')
  node = nodes.get(name)
  if node is not None and node.op == 'Identity':
    return _source(nodes, node.input[0])
  return f'{name}:{index or 0}'


def _node(nodes, tensor_name):
  """The node of `graph_def` making `tensor_name`; None for an input."""
  return nodes.get(tensor_name.partition(':')[0])
