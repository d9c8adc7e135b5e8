"""Extracts the part of a captured graph that computes some fetches.

`WrappedFunction.prune` does this by copying the needed operations one at a
time in Python, about 0.25 ms each. Importing them into a new function graph
in one `import_graph_def` call (this module's way until 2026-11-28) still
built a Python object per operation: 0.06-0.13 s of the first train(),
evaluate() and predict() of a canned estimator, 5.9 s of EfficientDet-d0's
first step (35,000 operations; bench/ANALYSIS.md). Here the needed
operations are found by walking the graph, and TensorFlow makes the function
of them where they are, in C++ (`tf_internals.function_of_operations`):
0.8 s -> 0.1 s for a 3,800-operation train step (measured). The function
captures only the variables it reads, and `sparse_lookups.guard` keeps its
embedding lookups from copying the tables it trains.
"""

import tensorflow as tf

from tfcompat_estimator.engine import sparse_lookups
from tfcompat_estimator.platform import tf_internals

_PLACEHOLDERS = ('Placeholder', 'PlaceholderV2')


def prune(wrapped, feeds, fetches):
  """Like `wrapped.prune(feeds, fetches)`: a function from feeds to fetches.

  `fetches` are Tensors (returned in order) and Operations (run, returned as
  None). Raises tf_internals.UnliftableError if a fetch depends on a
  placeholder other than `feeds` and the graph's captures.

  Returns:
    A `PrunedFunction` of the feeds' values.
  """
  return _pruned(wrapped.graph, feeds, fetches, wrapped)


def value_now(graph, fetch):
  """The value of `fetch`, a tensor of `graph` (even one being built) that
  needs no feed, computed eagerly."""
  return prune_graph(graph, [], [fetch])()[0]


def prune_graph(graph, feeds, fetches):
  """`prune` of a graph itself (even one being built), which owns its
  variables."""
  return _pruned(graph, feeds, fetches, graph)


def _pruned(graph, feeds, fetches, owner):
  """`prune`'s function, kept with `owner`, which owns the variables."""
  captured = {id(internal): external for external, internal in graph.captures}
  needed = _needed_ops(fetches, _sources(graph, feeds))
  needed.extend(sparse_lookups.guard(needed))
  used = _used_captures(needed, fetches, graph)
  # An op fetched twice runs once, as in a TF1 `tf.group`; TF refuses a
  # function naming a control output twice. TF1 programs list one op twice
  # (a table's init added to TABLE_INITIALIZERS by hand too; an initializer
  # that init_from_checkpoint replaced).
  run = list({id(f): f for f in fetches if isinstance(f, tf.Operation)
              }.values())
  outputs = [f for f in fetches if not isinstance(f, tf.Operation)]
  inputs = list(feeds) + used
  function = tf_internals.function_of_operations(
      graph, needed, inputs, outputs, run)
  return PrunedFunction(function, [t.dtype for t in inputs],
                        [captured[id(t)] for t in used], fetches, owner)


class PrunedFunction:
  """A pruned function: the feeds' values in, the fetches' values out.

  Called eagerly, or inside a traced function (a compiled step or loop),
  where it is one call op. Returns a list in fetch order, None for an
  operation fetched.
  """

  def __init__(self, function, input_dtypes, captured_inputs, fetches,
               wrapped):
    # The runtime function: the feeds, then the captured inputs, in.
    self.function = function
    self._input_dtypes = input_dtypes
    # The variables' handles, passed after the feeds on every call.
    self.captured_inputs = captured_inputs
    # The fetches (None for operations): dtypes and static shapes.
    self.structured_outputs = [None if isinstance(f, tf.Operation) else f
                               for f in fetches]
    # Those that are tensors: the runtime function's outputs, in order.
    self.tensor_fetches = [f for f in self.structured_outputs if f is not None]
    # The wrapped function owns the variables the handles refer to.
    self._wrapped = wrapped
    self._branches = {}

  def branches(self, zeros, optional_batch=None):
    """The two branches of an `If` that runs this function (engine/loops.py).

    Made once per argument values.

    Args:
      zeros: a fully defined `tf.TensorSpec` per tensor fetch.
      optional_batch: None, or a `tf.TensorSpec` per feed when the `If`
        passes an optional holding the feeds instead of the feeds.

    Returns:
      `(then_function, else_function)`: runtime functions of this one's
      arguments (or of the optional and the captured inputs); one calls
      this function, the other returns zeros of `zeros`' shapes.
    """
    key = (tuple(zeros), None if optional_batch is None else tuple(
        optional_batch))
    if key not in self._branches:
      if optional_batch is None:
        then_function, input_dtypes = self.function, self._input_dtypes
      else:
        then_function = tf_internals.function_on_optional(
            self.function, self._input_dtypes, optional_batch,
            [tf.TensorSpec(f.shape, f.dtype) for f in self.tensor_fetches])
        input_dtypes = ([tf.variant] +
                        self._input_dtypes[len(optional_batch):])
      self._branches[key] = (then_function, tf_internals.function_of_zeros(
          input_dtypes, zeros))
    return self._branches[key]

  def __call__(self, *feeds):
    # An eager call of a function without outputs returns None.
    values = iter(self.function.call_flat(*feeds, *self.captured_inputs)
                  or ())
    return [None if fetch is None else next(values)
            for fetch in self.structured_outputs]


def upstream_ops(fetches, sources=frozenset()):
  """Operations the fetches depend on, through data and control edges.

  The walk stops at the operations whose ids `sources` holds (not included).
  """
  needed, stack = {}, [getattr(f, 'op', f) for f in fetches]
  while stack:
    op = stack.pop()
    if id(op) in needed or id(op) in sources:
      continue
    needed[id(op)] = op
    stack.extend(t.op for t in op.inputs)
    stack.extend(op.control_inputs)
  return list(needed.values())


def is_placeholder(op):
  return op.type in _PLACEHOLDERS


def unfed(fetches, feeds, graph):
  """The fetches `prune(..., feeds, fetches)` cannot compute, each alone.

  Those that depend on a placeholder of `graph` other than `feeds` and its
  captures; for errors naming the fetches at fault.
  """
  sources = _sources(graph, feeds)
  return [fetch for fetch in fetches
          if any(map(is_placeholder, upstream_ops([fetch], sources)))]


def _sources(graph, feeds):
  """Ids of the ops a pruned function takes as inputs: feeds and captures."""
  return {id(t.op) for t in feeds} | {id(t.op) for _, t in graph.captures}


def _needed_ops(fetches, sources):
  """`upstream_ops`, which may reach no placeholder outside `sources`."""
  needed = upstream_ops(fetches, sources)
  for op in needed:
    if is_placeholder(op):
      raise tf_internals.UnliftableError(
          f'{[getattr(f, "name", f) for f in fetches]} depend on placeholder '
          f'{op.name}, which is neither fed nor captured.')
  return needed


def _used_captures(needed, fetches, graph):
  """The captured placeholders that are read, fetched or waited for (a
  control input), in capture order."""
  used = {id(t) for op in needed for t in op.inputs} | {id(f) for f in fetches}
  used |= {id(c) for op in needed for c in op.control_inputs}
  return [internal for _, internal in graph.captures
          if id(internal) in used or id(internal.op) in used]
