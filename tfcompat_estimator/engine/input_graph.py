"""An input_fn's own `tf.Graph`, run the way its v1 session ran it.

Input functions that return tensors build TF1 input machinery: one-shot and
initializable iterators, placeholders fed by hooks, queues filled by queue
runners, local variables counting epochs. 2.15 ran that graph in the
training session: its variables and tables were initialized with the model's,
queue runners were started as the session was created (before
`after_create_session`, where hooks may run `iterator.initializer` with a
`feed_dict`), and each step ran the graph's outputs.

A dataset that reads nothing else of the graph (the Dataset an input_fn
returns, or the one behind a bare one-shot iterator) is rebuilt from its own
ops as an eager dataset (`dataset`, `iterator_dataset`). Anything else runs
in the graph: imported into one wrapped function when first run, every run
is a function pruned from it (`run`, `next_batch`). Pruned functions do not
share kernels, so every stateful resource of the graph (iterator, queue,
variable, table) is given a shared name of its own: all runs then reach the
same one, as all `session.run` calls did. One-shot iterators are fed as
eager iterators instead (`one_shot_iterators`). Queue runners run in TF's
own `QueueRunner` threads, with this object as their session, under a
`Coordinator` that `close` stops and joins (re-raising a runner's error).
"""

import functools
import threading
import time
import uuid

import tensorflow as tf

from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import iterator_release
from tfcompat_estimator.engine import one_shot_iterators
from tfcompat_estimator.platform import tf_internals

_v1 = tf.compat.v1
# How long `close` waits for queue-runner threads blocked in an op.
_STOP_GRACE_SECS = 10
# Ops a queue runner calls over and over, each call adding to a queue.
_ENQUEUES = frozenset(['QueueEnqueue', 'QueueEnqueueV2', 'QueueEnqueueMany',
                       'QueueEnqueueManyV2'])
# How many times one call of a queue runner runs its enqueue op.
_ENQUEUES_PER_CALL = 32


class InputGraph:
  """Runs fetches of `graph` (where input_fn ran) and draws its `outputs`.

  Args:
    graph: the `tf.Graph` the input_fn built.
    outputs: the flat list of its tensors that make up a batch.
  """

  def __init__(self, graph, outputs):
    self.graph = graph  # also keeps py_func callbacks (from_generator) alive
    init_op = _initializer(graph)
    with graph.as_default():
      # E.g. numpy_input_fn's queue fill fraction, in 2.15's train summaries.
      self._summary_op = _v1.summary.merge_all()
    self._wrapped = None  # the graph as a function, made when first run
    self._own_functions = []
    self._iterators = None  # made on first run: `dataset` needs none
    self._iterators_created = None
    self._outputs = list(outputs)
    self.per_step_placeholders = sorted(
        op.outputs[0].name for op in graph_prune.upstream_ops(self._outputs)
        if graph_prune.is_placeholder(op))
    self._pruned = {}
    self._prune_lock = threading.Lock()
    self._coord = None
    self._threads = []
    # What a step of the graph does besides drawing its outputs (its
    # initializer runs once, here).
    self._runs_more = bool(
        self._summary_op is not None or
        graph.get_collection(_v1.GraphKeys.QUEUE_RUNNERS))
    if init_op is not None:
      self.run(init_op)

  def _build(self):
    """Imports the graph into one wrapped function and makes its datasets.

    Not done where a dataset is all a run needs (`dataset`,
    `iterator_dataset`): it costs 0.06 s of the first call of a process on
    a canned DNN.
    """
    if self._wrapped is not None:
      return
    graph_def, detached = one_shot_iterators.detach(self.graph.as_graph_def())
    _share_resources(graph_def, f'tfcompat_input_{uuid.uuid4().hex}')
    self._own_functions = [f.signature.name for f in graph_def.library.function
                           if not tf_internals.has_function(f.signature.name)]

    def build():
      tf.graph_util.import_graph_def(graph_def, name='')
      return one_shot_iterators.make_datasets(detached)

    self._wrapped = _v1.wrap_function(build, signature=[])
    self._detached_inputs = [self._wrapped.graph.as_graph_element(d.input_name)
                             for d in detached]
    # Pruned: a call of the whole graph would also run its stateful ops
    # (e.g. an initializable iterator's MakeIterator and its placeholders).
    self._variants = graph_prune.prune(self._wrapped, [],
                                       self._wrapped.outputs)()
    self._detached = detached

  # Session interface, for hooks and queue runners ------------------------
  def owns(self, fetch):
    """Whether `fetch` (tensor, op or its name) is an element of this graph."""
    if isinstance(fetch, str):
      try:
        self.graph.as_graph_element(fetch)
        return True
      except (KeyError, ValueError):
        return False
    return getattr(fetch, 'graph', None) is self.graph

  def is_placeholder(self, name):
    try:
      return graph_prune.is_placeholder(self.graph.as_graph_element(name).op)
    except (KeyError, ValueError):
      return False

  def as_graph_element(self, fetch):
    return self.graph.as_graph_element(fetch)

  def run_elements(self, elements, feed_dict=None):
    """Numpy values of graph `elements` (None for operations)."""
    return [feed_values.to_numpy(o)
            for o in self._call(elements, feed_dict)]

  def _call(self, elements, feed_dict, times=1):
    """The eager values of `elements`, `feed_dict` (name -> value) fed.

    `times`: how often to run them, in order, in one call (operations
    only; the values returned are the last run's).
    """
    feeds = sorted(feed_dict or {})
    key = (tuple(e.name for e in elements), tuple(feeds), times)
    with engine_scope.scope():  # queue runners call from threads of their own
      with self._prune_lock:  # they start at once: prune and make iterators once
        self._build()
        if key not in self._pruned:
          pruned = self._prune(elements, feeds)
          self._pruned[key] = (pruned if times == 1 else
                               _repeated(pruned, times))
        if self._iterators is None:
          self._iterators = one_shot_iterators.eager_iterators(
              self._variants, self._detached)
          self._iterators_created = time.monotonic()
      values = [tf.convert_to_tensor(feed_dict[name],
                                     self.graph.as_graph_element(name).dtype)
                for name in feeds]
      return self._pruned[key](*values, *map(one_shot_iterators.resource,
                                             self._iterators))

  def run(self, fetch):
    """Runs one tensor or operation (what `QueueRunner` asks of a session)."""
    return self.run_elements([self.as_graph_element(fetch)])[0]

  def make_callable(self, fetch):
    """A callable running `fetch`: what `QueueRunner` calls in its loop.

    An enqueue op runs `_ENQUEUES_PER_CALL` times a call, in one compiled
    loop. A call per element held the GIL for each (2.15's session ran the
    runner's call in C++): a reader's `tf.train.batch` of 32 lines a step
    made 32 Python calls a step, which the training step then waited for,
    3x slower than 2.15 (google-research's group_agnostic_fairness).
    """
    element = self.as_graph_element(fetch)
    if isinstance(element, tf.Operation) and element.type in _ENQUEUES:
      return functools.partial(self._call, [element], None,
                               _ENQUEUES_PER_CALL)
    return lambda: self.run(fetch)

  def summary(self):
    """The serialized `Summary` of the graph's own summaries, or None."""
    return None if self._summary_op is None else self.run(self._summary_op)

  def _prune(self, elements, feeds):
    graph = self._wrapped.graph
    inner = [graph.as_graph_element(e.name) for e in elements]
    fed = [graph.as_graph_element(name) for name in feeds]
    return graph_prune.prune(self._wrapped, fed + self._detached_inputs, inner)

  # Batches ---------------------------------------------------------------
  def next_batch(self, feed_dict):
    """The outputs' eager values for one step; `EndOfInput` at its end."""
    try:
      return self._call(self._outputs, feed_dict)
    except tf.errors.OutOfRangeError:
      raise end_of_input.EndOfInput from None

  def iterator_dataset(self, element):
    """`element`, the input_fn's tensors, as an eager dataset, or None.

    That is when they are exactly values of one one-shot iterator's
    `get_next()` (the classic `make_one_shot_iterator(ds).get_next()`
    input_fn) and a step of the graph does nothing else (no placeholders,
    variables, queue runners or summaries): each step then only draws the
    dataset's next element, so the dataset itself is the input and compiled
    loops can consume it. Run step by step from Python instead, tensorflow/
    models' custom_estimator sample trained at 0.28x 2.15's rate.
    """
    if self._runs_more:
      return None
    leaves = tf.nest.flatten(element)  # a SparseTensor is one leaf
    found = _one_get_next(leaves)
    if found is None:
      return self._mapped_iterator_dataset(element, leaves)
    get_next, indices = found
    graph_def = self.graph.as_graph_def()
    variant = _copied_dataset(self.graph, graph_def, get_next.inputs[0].op)
    if variant is None:
      return None
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in get_next.outputs]
    for leaf, index in zip(leaves, indices):
      if isinstance(leaf, tf.SparseTensor):
        specs[index] = tf.type_spec_from_value(leaf)
    if indices == list(range(len(specs))):
      # `element` is the dataset's element as it is (get_next()'s result,
      # returned whole): read with its structure, without a map (0.04 s).
      return _from_graph(graph_def, variant,
                         tf.nest.pack_sequence_as(element, specs))

    @tf.autograph.experimental.do_not_convert
    def pick(*flat):
      return tf.nest.pack_sequence_as(element, [flat[i] for i in indices])

    return _from_graph(graph_def, variant, tuple(specs)).map(pick)

  def _mapped_iterator_dataset(self, element, leaves):
    """`element` as one-shot iterator values mapped by the graph's ops, or None.

    Legacy input_fns compute on the iterator's values outside the dataset:
    cloudml-samples' census looks its labels up in a vocabulary table. Such
    ops, from one iterator's `get_next()` to `element`, pure but for reads
    of tables the graph's initializer filled, become a function mapped over
    the iterator's dataset, so compiled loops consume it. Run step by step
    in the graph instead, that census trained at 0.6x 2.15's rate.
    """
    components = tf.nest.flatten(leaves, expand_composites=True)
    get_nexts = [op for op in graph_prune.upstream_ops(components)
                 if op.type == 'IteratorGetNext']
    if len(get_nexts) != 1:
      return None
    (get_next,) = get_nexts
    tail = graph_prune.upstream_ops(components, {id(get_next)})
    if not all(_maps_values(op) for op in tail):
      return None
    graph_def = self.graph.as_graph_def()
    variant = _copied_dataset(self.graph, graph_def, get_next.inputs[0].op)
    if variant is None:
      return None
    if any(op.type in _TABLE_READS or get_next in op.control_inputs
           for op in tail):
      self._build()  # the tables, under the names the initializer filled
      inner = self._wrapped.graph.as_graph_element
      step = graph_prune.prune(self._wrapped,
                               [inner(t.name) for t in get_next.outputs],
                               [inner(t.name) for t in components])
    else:
      # Its own nodes, imported where the map traces them: importing the
      # whole graph into a function (`_build`) would cost the first call
      # 0.1-0.15 s more (dnn_dense, custom_model_fn in bench/TF1_MODE.md).
      step = _importer(graph_def, {op.name for op in tail}, get_next,
                       [t.name for t in components])

    @tf.autograph.experimental.do_not_convert
    def apply(*flat):
      return tf.nest.pack_sequence_as(element, step(*flat),
                                      expand_composites=True)

    specs = tuple(tf.TensorSpec(t.shape, t.dtype) for t in get_next.outputs)
    return _from_graph(graph_def, variant, specs).map(apply)

  def dataset(self, dataset):
    """`dataset`, built in the graph and `stands_alone`, as an eager dataset.

    For an input_fn that returned a Dataset: run eagerly, it feeds compiled
    loops like any eager dataset.
    """
    return _from_graph(self.graph.as_graph_def(),
                       tf.data.experimental.to_variant(dataset),
                       dataset.element_spec)

  def table_dataset(self, dataset):
    """`dataset`, built in the graph and `reads_only_tables`, as an eager one.

    Made by the graph's own ops, so it reads the tables its initializer
    filled (a dataset rebuilt from its ops alone would make empty ones).
    """
    self._build()
    variant = self._wrapped.graph.as_graph_element(
        tf.data.experimental.to_variant(dataset).name)
    return tf.data.experimental.from_variant(
        graph_prune.prune(self._wrapped, [], [variant])()[0],
        dataset.element_spec)

  # Queue runners -----------------------------------------------------------
  def start_queue_runners(self, coord):
    """Starts the graph's queue runners under `coord` (as MonitoredSession did)."""
    self._coord = coord
    for runner in self.graph.get_collection(_v1.GraphKeys.QUEUE_RUNNERS):
      self._threads += runner.create_threads(self, coord=coord, daemon=True,
                                             start=True)

  def close(self):
    """Stops and joins the queue runners; raises the error one of them hit."""
    try:
      if self._coord is not None:
        self._coord.request_stop()
        self._coord.join(self._threads, stop_grace_period_secs=_STOP_GRACE_SECS,
                         ignore_live_threads=True)
    finally:
      self._threads = []
      self._pruned = {}
      # Released without waiting out tf.data's autotuning thread (see
      # iterator_release); a closed graph runs nothing.
      iterators, self._iterators = self._iterators or [], []
      while iterators:
        iterator_release.release(iterators.pop(), self._iterators_created)
      for name in self._own_functions:
        while tf_internals.has_function(name):
          tf_internals.remove_function(name)


def _repeated(pruned, times):
  """`pruned` (a `PrunedFunction` of operations) run `times` times a call.

  The runs are in order, each as a call of `pruned` would be; an error
  (a closed queue, the end of a reader's epochs) ends the call, after the
  runs before it.
  """

  @tf.function(autograph=False)
  def repeat(*args):
    def body(i):
      pruned(*args)
      return i + 1

    tf.while_loop(lambda i: i < times, body, [tf.constant(0)],
                  parallel_iterations=1)

  return lambda *args: repeat(*args) or [None] * len(pruned.structured_outputs)


# Stateful ops that only read a table (and its creation, which finds it by
# its shared name): the initializer filled it once.
_TABLE_READS = frozenset([
    'HashTable', 'HashTableV2', 'LookupTableFind', 'LookupTableFindV2',
    'LookupTableSize', 'LookupTableSizeV2'])
# Stateful only to run in order; running them again changes nothing
# (`Dataset.list_files` asserts that its pattern matched files).
_CHECKS = ('Assert', 'Print', 'PrintV2')


def reads_only_tables(dataset):
  """Whether graph `dataset` reads nothing of its graph but tables (and ops
  of its own): a vocabulary lookup in its `map`, say (`table_dataset`)."""
  return _stands_alone(tf.data.experimental.to_variant(dataset), _TABLE_READS)


def stands_alone(dataset):
  """Whether graph `dataset` reads nothing of its graph but its own ops.

  The test `make_one_shot_iterator` applies before copying a dataset into
  its factory function: no placeholder, and no stateful op but dataset ops
  (a table or variable it reads must stay the graph's own); here also over
  control edges, whose ops run too, where only checks may be stateful.
  Such a dataset can be rebuilt from its ops alone (`_from_graph`).
  """
  return _stands_alone(tf.data.experimental.to_variant(dataset))


def _stands_alone(variant, also_reads=frozenset()):
  return all(_runs_alone(op, lambda op: (
      op.outputs and op.outputs[0].dtype == tf.variant or
      op.type == 'DummyIterationCounter' or op.type in _CHECKS or
      op.type in also_reads)) for op in graph_prune.upstream_ops([variant]))


def _runs_alone(op, stateful_allowed):
  """Whether `op` reads no placeholder and is stateless or `stateful_allowed`.

  A function called as an op (no registered op type) is not known to be.
  """
  if graph_prune.is_placeholder(op):
    return False
  op_def = tf_internals.op_def(op.type)
  return op_def is not None and (not op_def.is_stateful or
                                 bool(stateful_allowed(op)))


def _subgraph(graph_def, names):
  """A new GraphDef of `graph_def`'s nodes `names`, with its functions."""
  subgraph = _v1.GraphDef()
  subgraph.versions.CopyFrom(graph_def.versions)
  subgraph.library.CopyFrom(graph_def.library)
  subgraph.node.extend(node for node in graph_def.node if node.name in names)
  return subgraph


def _importer(graph_def, names, get_next, fetches):
  """A function importing `graph_def`'s nodes `names`, fed `get_next`'s values.

  It returns the tensors named `fetches`; called while a function is traced.
  """
  tail = _subgraph(graph_def, names)
  for node in tail.node:
    node.attr.pop('_class', None)  # colocation with the dataset's ops
  read = {name if ':' in name else name + ':0'
          for node in tail.node for name in node.input}
  fed = {t.name: i for i, t in enumerate(get_next.outputs)}
  computed = [name for name in fetches if name not in fed]

  def step(*flat):
    values = iter(tf.graph_util.import_graph_def(
        tail, name='tail', return_elements=computed,
        input_map={name: flat[i] for name, i in fed.items() if name in read}))
    return [flat[fed[name]] if name in fed else next(values)
            for name in fetches]

  return step


def _maps_values(op):
  """Whether `op` computes from its inputs alone, or reads a table."""
  return op.type != 'PlaceholderWithDefault' and (  # a hook may feed it
      _runs_alone(op, lambda op: op.type in _TABLE_READS))


def _from_graph(graph_def, variant, element_spec):
  """An eager dataset made by the ops of `graph_def` that compute `variant`.

  They are cut out of the graph and run by `DatasetFromGraph` (the kernel
  tf.data's service rebuilds serialized datasets with) in C++, without
  importing the graph into a function and instantiating it (`_build`): 0.02
  s against 0.08 s on a canned DNN's input, paid by every first call of a
  process.
  """
  graph_def = _subgraph(
      graph_def, {op.name for op in graph_prune.upstream_ops([variant])})
  for node in graph_def.node:
    node.device = ''  # runs where the kernel runs, as a serialized dataset
  # The kernel returns what the graph's `_Retval` node reads.
  retval = graph_def.node.add(name='tfcompat_input_dataset', op='_Retval',
                              input=[variant.name])
  retval.attr['T'].type = tf.variant.as_datatype_enum
  retval.attr['index'].i = 0
  return tf.data.experimental.from_variant(
      tf.raw_ops.DatasetFromGraph(graph_def=graph_def.SerializeToString()),
      element_spec)


def _copied_dataset(graph, graph_def, iterator):
  """The variant of `graph`'s dataset that one-shot `iterator` copied, or None.

  `make_one_shot_iterator` copies the dataset's ops, names and attributes
  kept, into its factory function; the copy of its last op is the
  factory's output. None if that op is not in the graph as copied (e.g.
  tf.data's debug mode adds one) or the dataset does not stand alone.
  """
  if iterator.type != 'OneShotIterator':
    return None
  factory = iterator.get_attr('dataset_factory').name
  function = next(f for f in graph_def.library.function
                  if f.signature.name == factory)
  (output,) = function.ret.values()
  name = output.split(':')[0]
  copy = next((node for node in function.node_def if node.name == name), None)
  try:
    op = graph.get_operation_by_name(name)
  except KeyError:
    return None
  if copy is None or op.type != copy.op or op.node_def.attr != copy.attr:
    return None
  variant = op.outputs[0]
  return variant if _stands_alone(variant) else None


def get_next_of(element):
  """The name of the `IteratorGetNext` whose outputs `element` is, or None.

  `element`'s leaves must be that op's outputs in order, from the first
  (`make_one_shot_iterator(ds).get_next()` returned whole; in predict, its
  features without the labels after them).
  """
  found = _one_get_next(tf.nest.flatten(element))
  if found is None or found[1] != list(range(len(found[1]))):
    return None
  return found[0].name


def _one_get_next(leaves):
  """`(IteratorGetNext op, each leaf's component index)`, or None.

  None unless every leaf is a component of one such op.
  """
  sources = [_iterator_component(leaf) for leaf in leaves]
  if not leaves or None in sources or len({op for op, _ in sources}) != 1:
    return None
  return sources[0][0], [index for _, index in sources]


def _iterator_component(value):
  """`(IteratorGetNext op, component index)` that `value` is, or None.

  A dense component is an output of the op; a sparse one is deserialized
  from one, its dense shape packed from the deserialized shape and the
  dimensions its spec knows (how `get_next()` builds it).
  """
  if isinstance(value, tf.Tensor):
    if value.op.type == 'IteratorGetNext':
      return value.op, value.value_index
    return None
  if not isinstance(value, tf.SparseTensor):
    return None
  deserialize = value.indices.op
  if (deserialize.type != 'DeserializeSparse' or
      value.values.op is not deserialize or
      deserialize.inputs[0].op.type != 'IteratorGetNext'):
    return None
  shape = value.dense_shape
  if shape.op is not deserialize and not (shape.op.type == 'Pack' and all(
      part.op.type == 'Const' or (part.op.type == 'Unpack' and
                                  part.op.inputs[0] is deserialize.outputs[2])
      for part in shape.op.inputs)):
    return None
  component = deserialize.inputs[0]
  return component.op, component.value_index


def _initializer(graph):
  """The op a Scaffold would run first for this graph's state, or None.

  Variables (e.g. the epoch counters of `limit_epochs`) and v1 tables of the
  input graph were initialized with the model's by 2.15's Scaffold.
  """
  with graph.as_default():
    ops = []
    if _v1.global_variables() or _v1.local_variables():
      ops += [_v1.global_variables_initializer(),
              _v1.local_variables_initializer()]
    if graph.get_collection(_v1.GraphKeys.TABLE_INITIALIZERS):
      ops.append(_v1.tables_initializer())
    return tf.group(*ops, name='tfcompat_input_init') if ops else None


def _share_resources(graph_def, prefix):
  """Gives each stateful resource op without a shared name one of its own."""
  for node in graph_def.node:  # not in functions: those run per call
    op_def = tf_internals.op_def(node.op)
    if op_def is None or not op_def.is_stateful:
      continue
    if any(a.name == 'shared_name' for a in op_def.attr) and not (
        node.attr['shared_name'].s):
      node.attr['shared_name'].s = f'{prefix}/{node.name}'.encode()
