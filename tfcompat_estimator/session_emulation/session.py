"""A stand-in for `tf.compat.v1.Session` that hooks can call `run` on.

Fetches are resolved against the captured model graph and computed by a pruned
concrete function, fed with the current batch when they depend on it. Results
come back as numpy values in the fetches' structure, like `Session.run`.
"""

import tensorflow as tf

from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.platform import tf_internals


# Fetch plans a session keeps (`FetchPlan`): a hook's fetches usually
# alternate between a few sets (a LoggingTensorHook's: with or without its
# tensors).
_PLANS_KEPT = 16


class EmulatedSession(tf_internals.SessionInterface):
  """`run(fetches, feed_dict=None, options=None, run_metadata=None)`.

  A `SessionInterface`, as TF's v1 `Saver` requires of the session a hook
  hands it.
  """

  def __init__(self, captured, batches=None):
    self.captured = captured
    # The call's input (an `input_pipeline.BatchSource`), if it has one.
    self._batches = batches
    # The input_fn's graph (an `input_graph.InputGraph`) when it returned
    # tensors: hooks run its ops too (e.g. an iterator's initializer).
    self.input_graph = batches.input_graph if batches is not None else None
    self.current_batch = None  # flat batch tensors of the step in progress
    self.runs = 0  # calls of `run` (by hooks, listeners, a Saver)
    self.fetch_plans = {}  # a `FetchPlan` cache of hooked steps and `run`

  @property
  def graph(self):
    return self.captured.graph

  def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
    del options, run_metadata  # Tracing options have no meaning here.
    self.runs += 1
    if self.input_graph is not None and _owned_by(self.input_graph, fetches):
      plan = FetchPlan(self.input_graph, fetches)
      feeds = {feed_values.feed_name(k): v for k, v in (feed_dict or {}).items()}
      return plan.pack(self.input_graph.run_elements(plan.elements, feeds))
    plan = FetchPlan(self.captured, fetches, self.fetch_plans)
    # A hook may feed tensors of the model graph (e.g. a placeholder whose
    # value an assign op writes: pretrained embeddings).
    fed = [(self.captured.as_graph_element(feed_values.feed_name(key)), value)
           for key, value in (feed_dict or {}).items()]
    return plan.pack(self.compute(plan.elements, fed=fed, draws=True))

  def compute(self, elements, run_ops=(), fed=(), draws=False):
    """Numpy values of graph `elements` (None for operations).

    `fed`: (tensor of the graph, value) pairs, as a feed_dict gives them.
    `draws`: outside a step, elements that read the input draw its next
    batch (a hook's `session.run`), as in a v1 session; otherwise they are
    an error (the engine's own reads, e.g. metric values).
    """
    if not elements and not run_ops:
      return []
    with tf.init_scope():
      values = None if run_ops or fed else self.captured.values_now(elements)
      if values is not None:
        return [feed_values.to_numpy(v) for v in values]
      batch = self.current_batch
      fed_tensors = [tensor for tensor, _ in fed]
      try:
        fn = self.captured.function_for(elements, run_ops, batch is not None,
                                        fed_tensors)
      except tf_internals.UnliftableError as e:
        if batch is not None or not (draws and self._draws_batches()):
          at_fault = graph_prune.unfed(elements, fed_tensors, self.graph)
          raise ValueError(
              f'{[e.name for e in at_fault or elements]} depend on the input '
              'batch, which is only available during a step (metric values '
              'must read variables only), or on a placeholder the '
              'feed_dict does not feed.') from e
        # Outside a step, as a v1 session did: this run draws the next
        # batch of the input (TF-GAN's RunTrainOpsHook runs its train ops
        # from before_run). At the end of the input it raises EndOfInput.
        batch = self._batches.flat_batch()
        fn = self.captured.function_for(elements, run_ops, True, fed_tensors)
      values = [tf.convert_to_tensor(value, tensor.dtype)
                for tensor, value in fed]
      outputs = fn(*(batch if batch is not None else ()), *values)
    return [feed_values.to_numpy(v) for v in outputs[:len(elements)]]

  def _draws_batches(self):
    return self._batches is not None and not self._batches.on_workers

  def compute_next(self, elements, run_ops, iterator, step=None):
    """Like `compute`, drawing the step's batch from `iterator` in the same call.

    `step` (`iterator -> values of elements, or None at the end`) computes
    them if given; `captured.step_for(elements, run_ops)` otherwise.
    Raises `EndOfInput` at the end of the input.
    """
    self.current_batch = None  # the batch never leaves the compiled step
    step = step or self.captured.step_for(elements, run_ops)
    with tf.init_scope():
      try:
        outputs = step(iterator)
      except tf.errors.OutOfRangeError:
        # From an op of the model itself: a v1 session stopped there too.
        raise end_of_input.EndOfInput from None
    if outputs is None:
      raise end_of_input.EndOfInput
    return [feed_values.to_numpy(v) for v in outputs]

  def make_callable(self, fetches, feed_list=None, accept_options=False):
    """A callable computing `fetches`, as `Session.make_callable`'s did.

    Its positional arguments feed `feed_list`'s tensors; with
    `accept_options` it takes (and ignores) `options` and `run_metadata`.
    """
    del accept_options  # `run` takes (and ignores) options, run_metadata
    feed_list = list(feed_list or [])

    def call(*feed_values, **kwargs):
      return self.run(fetches, feed_dict=dict(zip(feed_list, feed_values)),
                      **kwargs)

    return call

  def as_default(self):
    """Makes `Tensor.eval()` and `Operation.run()` run in this session."""
    return tf_internals.default_session(self)

  def close(self):
    pass

  def should_stop(self):
    return False

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False



def _owned_by(input_graph, fetches):
  leaves = [leaf for leaf in _flatten(fetches) if leaf is not None]
  return bool(leaves) and all(input_graph.owns(leaf) for leaf in leaves)



class FetchPlan:
  """Flattens a nested fetch structure into unique graph elements and back.

  `graph` resolves each fetch (`as_graph_element`): the captured model, or
  the input_fn's graph. `cache`, a dict kept by the caller, remembers the
  elements of the fetches it has seen: a hooked step plans the same
  fetches every step, and resolving them cost about 20 us of a small
  model's 700 us hooked step.
  """

  def __init__(self, graph, fetches, cache=None):
    self._structure = fetches
    leaves = _flatten(fetches)
    key = tuple(leaf if isinstance(leaf, str) else id(leaf) for leaf in leaves)
    known = cache.get(key) if cache is not None else None
    # The leaves are kept with their plan: no other object takes their ids.
    if known is not None and all(a is b or isinstance(b, str)
                                 for a, b in zip(known[0], leaves)):
      _, self._positions, self.elements = known
      return
    self._positions = []
    self.elements = []
    index = {}
    for leaf in leaves:
      if leaf is None:
        self._positions.append(None)
        continue
      element = graph.as_graph_element(leaf)
      if element.name not in index:
        index[element.name] = len(self.elements)
        self.elements.append(element)
      self._positions.append(index[element.name])
    if cache is not None:
      if len(cache) >= _PLANS_KEPT:
        cache.clear()
      cache[key] = (leaves, self._positions, self.elements)

  def pack(self, values):
    leaves = iter([None if p is None else values[p] for p in self._positions])
    return _pack(self._structure, leaves)


# A v1 Session walks fetches itself rather than with tf.nest: dicts keep their
# own order and may be keyed by tensors (LoggingTensorHook's are), which
# tf.nest would sort, comparing tensors.
def _flatten(fetches):
  if isinstance(fetches, dict):
    return [leaf for value in fetches.values() for leaf in _flatten(value)]
  if isinstance(fetches, (list, tuple)):
    return [leaf for value in fetches for leaf in _flatten(value)]
  return [fetches]


def _pack(structure, leaves):
  """`structure` with its leaves replaced, in order, from the iterator `leaves`."""
  if isinstance(structure, dict):
    values = [(key, _pack(value, leaves)) for key, value in structure.items()]
    return (type(structure)(values) if not hasattr(structure, 'default_factory')
            else _like_defaultdict(structure, values))
  if isinstance(structure, (list, tuple)):
    values = [_pack(value, leaves) for value in structure]
    if hasattr(structure, '_fields'):  # namedtuple
      return type(structure)(*values)
    return type(structure)(values)
  return next(leaves)


def _like_defaultdict(structure, values):
  packed = type(structure)(structure.default_factory)
  packed.update(values)
  return packed
