"""In-graph checks on the batch a step receives.

An input_fn's batch sizes are usually unknown until run time (a Dataset's
last batch is short), so these checks are assertions that run in every step.
Where static shapes already decide, nothing is added.

A check must fail the step before anything it guards can go wrong, yet each
op a step waits for on its way from the batch to the model lengthens every
step (on two cores, a chain of small ops in front of a canned DNN cost 10-15%
of its training rate). So each check waits only where it must:
- `non_empty` gates the labels, which a supervised step reads last;
- `same_batch_size` gates the ops where two checked tensors first meet (an
  op reading only one of them cannot see a mismatch), placed by `place` once
  the model_fn's graph is complete;
- `before_writes` checks gate the ops that write variables or summaries, so
  a bad batch changes no weight or metric, while the forward pass runs
  alongside.
"""

import collections
import itertools
import weakref

import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals

# The checks' ops go under this scope: they keep out of the names the
# model_fn's own ops take (2.15's graph had no such checks), and the TF1
# graph written beside the checkpoints drops their edges (`strip_edges`).
_SCOPE = 'input_checks/'
# Graph collections of the checks `place` positions.
_MEET_GATES = 'tfcompat_estimator.batch_checks.meet'  # (assertion, [tensor])
_WRITE_GATES = 'tfcompat_estimator.batch_checks.write'  # ops
# The graphs whose checks `place` will position: the Estimator's captures.
# Not a graph collection: TF serializes every collection into the meta
# graphs a program's hooks make (a CheckpointSaverHook's), and warned that
# it could not serialize this one.
_CHECKED_GRAPHS = weakref.WeakSet()


def check_batches_of(graph):
  """Makes `graph`, a model_fn's capture, take the checks of this module.

  A canned model_fn called on its own, outside an Estimator, makes no batch
  checks: nothing would place them, and 2.15 made none there.
  """
  _CHECKED_GRAPHS.add(graph)


def _checked():
  """Whether the default graph is a capture's, or a function graph in one."""
  graph = tf.compat.v1.get_default_graph()
  while graph is not None:
    if graph in _CHECKED_GRAPHS:
      return True
    graph = getattr(graph, 'outer_graph', None)
  return False


def non_empty(features, labels, mode):
  """`(features, labels)`, gated on the batch having at least one example.

  A model trained or evaluated on a batch of zero examples does so silently:
  a mean over nothing, an update with zero gradients, a metric counting
  nothing (2.15 did). Train and evaluate steps refuse it; predict returns
  nothing for nothing, as before. The batch counts as empty only when every
  batched tensor (dense of rank >= 1, or sparse) has leading dimension 0, so
  side tensors of other sizes in a custom model_fn's features do not trip it.
  """
  if mode == model_fn_lib.ModeKeys.PREDICT:
    return features, labels
  named = _batched(features, 'feature') + _batched(labels, 'labels')
  if not named:
    return features, labels
  static = [_static_rows(value) for _, value in named]
  if any(rows for rows in static):
    return features, labels
  names = ', '.join(name for name, _ in named)
  message = (f'input_fn gave an empty batch (no examples) in mode {mode}: '
             f'{names} have batch size 0. Train and evaluate steps need at '
             'least one example per batch.')
  if all(rows == 0 for rows in static):
    raise ValueError(message)
  with tf.name_scope(_SCOPE):
    rows = _batch_sizes([value for _, value in named])
    assertion = tf.debugging.Assert(tf.reduce_any(rows > 0), [message])
    # A supervised step cannot finish without its labels, so gating them
    # is enough and keeps the per-step cost to one op (features may be
    # many).
    if labels is not None:
      return features, _gated(labels, assertion)
    return _gated(features, assertion), labels


def same_batch_size(features, labels, keys):
  """Asserts that `features[keys]` and labels share one batch size.

  For models that line their inputs up row by row (canned estimators): TF
  would otherwise fail deep inside the step, e.g. as a concat of mismatched
  shapes, naming neither the feature nor the labels. The assertion is
  registered with the graph; `place` makes the ops where these tensors first
  meet wait for it.
  """
  if not _checked():
    return
  read = {key: features[key] for key in keys if key in features}
  named = _batched(read, 'feature') + _batched(labels, 'labels')
  static = [_static_rows(value) for _, value in named]
  known = {rows for rows in static if rows is not None}
  if len(named) < 2 or (len(known) == 1 and None not in static):
    return
  header = 'Features and labels must have the same batch size, got:'
  if len(known) > 1:
    sizes = ', '.join(f'{name}: {rows}' for (name, _), rows in zip(named, static)
                      if rows is not None)
    raise ValueError(f'{header} {sizes}.')
  names = ', '.join(name for name, _ in named)
  with tf.name_scope(_SCOPE):
    rows = _batch_sizes([value for _, value in named])
    # The raw op: tf.debugging.Assert would put int64 data behind a cond,
    # whose switches and merge the model then waited for in every step.
    assertion = tf.raw_ops.Assert(
        condition=tf.reduce_all(tf.equal(rows, rows[0])),
        data=[f'{header} ({names}):', rows], summarize=len(named))
  tf.compat.v1.add_to_collection(_MEET_GATES, (assertion, [v for _, v in named]))


def before_writes(make_check):
  """Registers the op `make_check()` builds to run before the step writes.

  For checks that only those writes could fail before (e.g. a finite check
  on an input: NaN flows through the model without an error, and only a
  histogram summary of it would raise). Built in an Estimator's capture
  only: elsewhere (an exported graph) nothing places it, and its collection
  would be saved with the graph.
  """
  if _checked():
    with tf.name_scope(_SCOPE):
      tf.compat.v1.add_to_collection(_WRITE_GATES, make_check())


def place(graph, find_writers):
  """Adds the control edges of the checks registered in `graph`.

  Call once the graph is complete; `find_writers()` lists its ops that write
  variables or summaries (asked only if a check waits for them). Clears the
  registrations.
  """
  write_gates = graph.get_collection(_WRITE_GATES)
  if write_gates:
    with tf.name_scope(_SCOPE):
      gate = tf.group(*write_gates, name='before_writes')
    for op in find_writers():
      tf_internals.add_control_inputs(op, [gate])
  for assertion, tensors in graph.get_collection(_MEET_GATES):
    for op in _first_meetings(graph, assertion, tensors):
      tf_internals.add_control_inputs(op, [assertion])
  graph.clear_collection(_WRITE_GATES)
  graph.clear_collection(_MEET_GATES)


def strip_edges(graph_def):
  """Drops the edges that make `graph_def`'s ops wait for the checks.

  For the TF1 graph of graph.pbtxt and the `.meta` files, which programs
  run with a feed of the features alone (`IteratorGetNext:0`, see
  `iterator_names`): the batch-size check reads the labels too, and 2.15's
  graph had no such edge.
  """
  for node in graph_def.node:
    if any(name.startswith('^' + _SCOPE) for name in node.input):
      kept = [name for name in node.input
              if not name.startswith('^' + _SCOPE)]
      del node.input[:]
      node.input.extend(kept)


def _first_meetings(graph, assertion, tensors):
  """The ops where two of `tensors` first meet, other than the check's own.

  Each tensor (a sparse one's three parts together) is one bit; an op carries
  the bits of everything it reads. An op reading two bits is a meeting unless
  an op it reads or waits for already follows one (then it waits through
  that op), or it feeds the assertion (waiting would be a cycle).
  """
  # By output, not op: the batch's tensors may be outputs of one op
  # (`iterator_names`), whose other readers meet nothing.
  bit_of = {}
  for i, value in enumerate(tensors):
    parts = ([value.indices, value.values, value.dense_shape]
             if isinstance(value, tf.SparseTensor) else [value])
    for part in parts:
      key = (id(part.op), part.value_index)
      bit_of[key] = bit_of.get(key, 0) | 1 << i
  before = _ancestors(assertion)
  bits, after, meetings = {}, set(), []
  for op in graph.get_operations():
    inputs = [t.op for t in op.inputs]
    mask = 0
    for tensor in op.inputs:
      mask |= (bit_of.get((id(tensor.op), tensor.value_index), 0) |
               bits.get(id(tensor.op), 0))
    if not mask:
      continue
    bits[id(op)] = mask
    if id(op) in before:
      continue
    if any(id(source) in after for source in inputs + op.control_inputs):
      after.add(id(op))
    elif mask & (mask - 1):  # two bits or more
      meetings.append(op)
      after.add(id(op))
  return meetings


def _ancestors(op):
  """`op` and every op it depends on, by id."""
  seen, stack = set(), [op]
  while stack:
    op = stack.pop()
    if id(op) not in seen:
      seen.add(id(op))
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
  return seen


def _gated(structure, assertion):
  """`structure` (tensors, sparse tensors, nests) waiting for `assertion`."""
  if structure is None:
    return None

  def gate(value):
    with tf.control_dependencies([assertion]):
      return tf.identity(value)

  return tf.nest.map_structure(gate, structure, expand_composites=True)


def _batched(structure, kind):
  """[(display name, tensor)] for the batched tensors in `structure`.

  Names are unquoted: TF escapes quotes in an assertion's message.
  """
  if structure is None:
    return []
  if isinstance(structure, dict):
    items = sorted(structure.items(), key=lambda item: str(item[0]))
    return [(f'{kind} {key}', value) for key, value in items
            if _is_batched(value)]
  if _is_batched(structure):
    return [(kind if kind == 'labels' else 'the features', structure)]
  return []


def _is_batched(value):
  if isinstance(value, tf.SparseTensor):
    return True
  return isinstance(value, tf.Tensor) and value.shape.rank != 0


def _static_rows(value):
  """The static batch size, or None when it is only known at run time."""
  shape = value.shape
  return None if shape.rank is None else tf.compat.dimension_value(shape[0])


def _batch_sizes(values):
  """An int64 vector of the run-time batch sizes of `values`, in order.

  These checks run in every step, so this is a handful of ops whatever the
  number of features: one ShapeN per dtype for the dense tensors, the sparse
  ones' dense_shape, and one gather of each leading dimension from their
  concat.
  """
  vectors = [v.dense_shape if isinstance(v, tf.SparseTensor) else None
             for v in values]
  by_dtype = collections.defaultdict(list)
  for i, value in enumerate(values):
    if vectors[i] is None:
      by_dtype[value.dtype].append(i)
  for indices in by_dtype.values():
    shapes = tf.shape_n([values[i] for i in indices], out_type=tf.int64)
    for i, shape in zip(indices, shapes):
      vectors[i] = shape
  ranks = [tf.compat.dimension_value(vector.shape[0]) for vector in vectors]
  if None in ranks:  # a tensor of unknown rank: no static offsets
    return tf.stack([vector[0] for vector in vectors])
  offsets = [0] + list(itertools.accumulate(ranks))[:-1]
  return tf.gather(tf.concat(vectors, 0), offsets)
