"""Extracts the part of a captured graph that computes some fetches.

`WrappedFunction.prune` does this by copying the needed operations one at a
time in Python, about 0.25 ms each: 0.05-0.3 s for a canned estimator's
train, eval or predict graph, paid by the first train(), evaluate() and
predict() of every process. Here the needed nodes are found by walking the
graph, then imported into a new function graph in one `import_graph_def`
call, which builds them in C++. The result is the same kind of function TF's
prune returns, except that it captures only the variables it reads, and
that `sparse_lookups.guard` keeps its embedding lookups from copying the
tables it trains.
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
  """
  graph = wrapped.graph
  captured = {id(internal): external for external, internal in graph.captures}
  needed = _needed_ops(fetches, _sources(graph, feeds))

  with graph.as_default():
    pruned_graph = tf_internals.FuncGraph('pruned')
  with pruned_graph.as_default():
    # Feeds first, then captures: the order of a function's inputs.
    input_map = {}
    for feed in feeds:
      placeholder = tf.compat.v1.placeholder(feed.dtype, feed.shape,
                                             name=feed.op.name)
      pruned_graph.inputs.append(placeholder)
      input_map[feed.name] = placeholder
    for internal in _used_captures(needed, fetches, graph):
      # capture() gives a resource placeholder the handle's dtype and shape,
      # which the imported reads need for their shapes.
      input_map[internal.name] = pruned_graph.capture(
          captured[id(internal)], name=internal.op.name)
    tf_internals.copy_graph_functions(graph, pruned_graph)
    imported = _import(needed, input_map, fetches)

  outputs, run = [], set()
  for fetch, element in zip(fetches, imported):
    if isinstance(fetch, tf.Operation):
      # An op fetched twice runs once, as in a TF1 `tf.group`; TF refuses a
      # function naming a control output twice. TF1 programs list one op
      # twice (a table's init added to TABLE_INITIALIZERS by hand too; an
      # initializer that init_from_checkpoint replaced).
      if element not in run:
        run.add(element)
        pruned_graph.control_outputs.append(element)
      outputs.append(None)
    else:
      pruned_graph.outputs.append(element)
      outputs.append(element)
  pruned_graph.structured_outputs = outputs
  pruned_graph.variables = graph.variables
  return tf_internals.pruned_function(wrapped, pruned_graph, feeds)


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
  """The captured placeholders that are read or fetched, in capture order."""
  used = {id(t) for op in needed for t in op.inputs} | {id(f) for f in fetches}
  return [internal for _, internal in graph.captures if id(internal) in used]


def _import(needed, input_map, fetches):
  """Imports `needed` into the default graph; returns the fetches' copies."""
  graph_def = tf.compat.v1.GraphDef()
  source_ops = {name.rsplit(':', 1)[0] for name in input_map}
  used = set()
  for op in needed:
    node = graph_def.node.add()
    node.CopyFrom(op.node_def)
    # Colocation names nodes that may be left out (e.g. a variable's handle);
    # the runtime places resource ops with their resources by itself.
    node.attr.pop('_class', None)
    # A control edge from a placeholder orders nothing.
    kept = [i for i in node.input
            if not (i.startswith('^') and i[1:] in source_ops)]
    del node.input[:]
    node.input.extend(kept)
    used.update(i if ':' in i else i + ':0' for i in kept)
  sparse_lookups.guard(graph_def)
  names = [f.name for f in fetches if f.name not in input_map]
  elements = iter(tf.graph_util.import_graph_def(
      graph_def, input_map={k: v for k, v in input_map.items() if k in used},
      return_elements=names, name=''))
  # A fetch that is itself a feed or capture is that input of the function.
  return [input_map[f.name] if f.name in input_map else next(elements)
          for f in fetches]
