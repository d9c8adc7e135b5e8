"""What a captured graph checkpoints besides its variables: its mutable tables.

TF1 code keeps state in tables (`tf.lookup.experimental.MutableHashTable`,
`DenseHashTable`, TF1's `tf.contrib.lookup` ones) and in custom
`SaveableObject`s, which join the SAVEABLE_OBJECTS collection. 2.15's
default Saver saved them beside the variables (a table as `<name>-keys` and
`<name>-values`) and restored them with the variables, so evaluation,
prediction, a resumed training and an export saw the trained contents.

Here the graph's own ops do both: `tensors()` fetches each spec's tensor
(the table's export) when a checkpoint is written, and `restore(path)` feeds
a checkpoint's tensors to each saveable's `restore`, built in the graph once.

A table must also keep its contents from one call of the graph to the next.
TF1 kept one resource per Session; here every pruned function has kernels of
its own, and a table shared by node name (how TF1 shares a checkpointed
table) is shared by every graph of the process with that node name, another
Estimator's included. `make_tables_private` names each unnamed mutable table
of a capture after that capture alone, so all its functions share it and no
other graph does. The resource lives as long as the process: TensorFlow's
resource manager holds it by that name.
"""

import itertools

import tensorflow as tf

from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform import tf_internals

_v1 = tf.compat.v1

# The ops creating tables a graph's ops write to.
_MUTABLE_TABLE_OPS = frozenset([
    'MutableHashTable', 'MutableHashTableV2', 'MutableHashTableOfTensors',
    'MutableHashTableOfTensorsV2', 'MutableDenseHashTable',
    'MutableDenseHashTableV2'])
_captures = itertools.count()


def make_tables_private(graph):
  """Gives each mutable table of `graph` without a shared name one of its own.

  A table its creator named (`shared_name`) stays shared under that name, as
  in TF1.
  """
  capture = next(_captures)
  for op in graph.get_operations():
    if op.type in _MUTABLE_TABLE_OPS and not op.get_attr('shared_name'):
      tf_internals.set_op_attr(op, 'shared_name', _v1.AttrValue(
          s=tf.compat.as_bytes(f'{op.name}_capture{capture}')))
      tf_internals.set_op_attr(op, 'use_node_name_sharing',
                               _v1.AttrValue(b=False))


class GraphSaveables:
  """The SAVEABLE_OBJECTS of a captured graph, saved and restored by name."""

  def __init__(self, wrapped, saveables):
    """`wrapped`: the captured `WrappedFunction`; `saveables` its graph's."""
    self._wrapped = wrapped
    self._saveables = [s for s in saveables if hasattr(s, 'specs')]
    # Refused when a checkpoint is written or read, as TF1's Saver refused
    # them when it was built.
    self._unknown = [s for s in saveables if not hasattr(s, 'specs')]
    self._specs = [spec for saveable in self._saveables
                   for spec in saveable.specs]
    sliced = [spec.name for spec in self._specs if spec.slice_spec]
    if sliced:
      raise ValueError(
          f'The model_fn\'s SAVEABLE_OBJECTS save slices of tensors {sliced}; '
          'only whole tensors (a table\'s keys and values, say) can be '
          'checkpointed beside the variables here.')
    with wrapped.graph.as_default():  # a spec's tensor may be made on demand
      self._tensors = [spec.tensor for spec in self._specs]
    self._names = [spec.name for spec in self._specs]
    self._dtypes = [t.dtype for t in self._tensors]
    self._save = self._restore = None

  def _check_known(self):
    if self._unknown:
      raise TypeError(
          f'The SAVEABLE_OBJECTS collection holds {self._unknown[0]!r}, which '
          'is neither a variable nor a SaveableObject: checkpoints cannot '
          'hold it.')

  def tensors(self):
    """Checkpoint key -> the saveables' current tensors, to save."""
    self._check_known()
    if self._save is None:
      self._save = graph_prune.prune(self._wrapped, [], self._tensors)
    with tf.init_scope():
      return dict(zip(self._names, self._save()))

  def restore(self, path):
    """Restores every saveable from checkpoint `path` (a CheckpointError
    names the keys it lacks)."""
    self._check_known()
    values = checkpoints.read_whole(path, self._names, self._dtypes)
    if self._restore is None:
      self._restore = self._build_restore()
    with tf.init_scope():
      self._restore(*values)

  def _build_restore(self):
    graph = self._wrapped.graph
    with graph.as_default():
      feeds = [_v1.placeholder(dtype, None, name=f'{name}_restored')
               for name, dtype in zip(self._names, self._dtypes)]
      ops = []
      start = 0
      for saveable in self._saveables:
        count = len(saveable.specs)
        restored = saveable.restore(feeds[start:start + count], None)
        ops.append(getattr(restored, 'op', restored))
        start += count
    return graph_prune.prune(self._wrapped, feeds, ops)
