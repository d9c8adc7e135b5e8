"""TF1 graph semantics for the model graphs we capture as function graphs.

2.15 called the model_fn inside a plain `tf.Graph`. There, tensors and
variables hash by identity and `==` compares identity, so legacy code keys
dicts by tensors (`LoggingTensorHook(tensors=[loss, acc])` builds one), tests
`tensor in some_list`, and reads `variable.op.name` or `variable.graph`. We
capture the model_fn in a function graph with its variables lifted out as
eager resources, where TensorFlow makes all of that fail ("Tensor is
unhashable") because it assumes TF2 code.

This module is the one seam that restores those semantics, and only for what
the capture marks: tensors of a marked graph and the variables lifted out of
it. Every other tensor and variable in the process (the user's own eager
tensors, tf.function graphs) keeps TensorFlow's rules.

The same goes for the question Keras asks to choose between its TF1 and TF2
ways, `tf.compat.v1.executing_eagerly_outside_functions()`: in 2.15's model
graph it was False. In ours, TF says True (the process is eager around the
function graph) while tf_keras takes a `wrapped_function` graph for TF1 code
and picks its TF1 layer classes; a model with an input shape
(`Sequential([Dense(..., input_shape=...)])`, `tf.keras.Input`) then fed
TF2 symbolic inputs to TF1 layers, which recursed until the stack overflowed
(tensorflow/models' official mnist). The public function answers False in
a marked graph and the graphs nested in it, as in 2.15; TF's internals keep
the true answer.

A model_fn may build its own dataset and take a one-shot iterator of it
(AdaNet's AutoEnsembleSubestimator calls its train_input_fn there). In a
function graph TF2's `Dataset.shuffle` takes a seed-generator op, which
`make_one_shot_iterator` refused to copy ("Cannot capture a stateful node
(DummySeedGenerator)"); 2.15's tf.Graph built the shuffle without one. In a
marked graph the iterator copies it: the generator only stands for the
dataset's own seeds, so the order is 2.15's.

`tf.compat.v1.layers` with a regularizer (`dense(...,
kernel_regularizer=...)`, TF-GAN's networks) judge whether they reused a
weight from the graph's variables only when the outside is not eager; with
the False above they failed. In a marked graph they judge as in a tf.Graph.
And `tf.gradients` w.r.t. a lifted variable from a graph nested in a model
graph (a while-loop body) differentiates w.r.t. the model graph's capture of
its handle, which TF's own conversion missed (all gradients None).

The v1 summary functions build their ops at once in a marked graph, as in
a tf.Graph, where TF would first look for a TF2 writer and warn.

A TF1 program's `tf.cond` and `tf.while_loop` built their branches and body
into 2.15's model graph (v1 control flow), so an unseeded random op there
took the graph's next op seed and every initializer after it the seed after
that. A function graph builds them as graphs of their own, which count op
seeds from 0: with `tf_random_seed` set, SimCLR's random blur (a cond in
its model_fn) gave 24 of its 191 variables other initial values than 2.15.
Once the program has switched control flow to v1, such graphs in a marked
graph count their op seeds in it. (With v2 control flow 2.15 built them as
graphs of their own too, counting apart, as here.)

Code a model graph's `init_scope` lifts runs eagerly, where 2.15's tf.Graph
stayed a graph. Two consequences are undone for legacy code: `with
tf.init_scope(): tf.executing_eagerly()`, the TF1-era "is this program
eager?", answers False to it (the Object Detection API's fine-tuning
restore refused to run); and a v1 optimizer's slots, made under
`init_scope`, are made in the graph, so optimizers under `AUTO_REUSE` share
them by name (Neural Structured Learning's wrappers).
"""

import contextlib
import inspect
import threading
import types

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_MARK = '_tfcompat_tf1_semantics'
# Set on a model graph while its model_fn runs (`running_model_code`).
_MODEL_CODE = '_tfcompat_model_code_running'
_TF2_KERAS = '_tfcompat_tf2_keras'
_TF2_KERAS_LOCK = threading.Lock()


def unique_name(name, taken):
  """`name`, else the first of `name_1`, `name_2`, ... not in `taken`.

  TF1's rule for a graph's op and variable names.
  """
  unique, n = name, 0
  while unique in taken:
    n += 1
    unique = f'{name}_{n}'
  return unique


def mark(graph):
  """Gives `graph`'s tensors identity hashing and equality, as in a tf.Graph."""
  setattr(graph, _MARK, True)


@contextlib.contextmanager
def running_model_code(graph):
  """Within: the model_fn builds `graph`, and its variables' handles are
  tensors of it (`_answering_graph_queries`). The engine's own code after
  it finds the graph's captures by the eager handles."""
  setattr(graph, _MODEL_CODE, True)
  try:
    yield
  finally:
    setattr(graph, _MODEL_CODE, False)


@contextlib.contextmanager
def tf2_keras(graph, name):
  """Within: the marked `graph` answers executing_eagerly_outside_functions()
  as TF does (True) and is named `name`, for code that builds TF2 Keras in it.

  Re-entrant across threads: under a MirroredStrategy each replica's thread
  builds its model in the same graph, the threads taking turns at the
  strategy's merge calls, so their scopes interleave; the graph gets its
  name back when the last one leaves. (Undone per scope, the first to
  leave took the mark from the others: "'FuncGraph' object has no
  attribute '_tfcompat_tf2_keras'", 2.15's keras_distribute_strategy_test.)
  """
  with _TF2_KERAS_LOCK:
    inside = getattr(graph, _TF2_KERAS, None)
    if inside is None:
      inside = [0, graph.name]  # scopes open, the graph's own name
      setattr(graph, _TF2_KERAS, inside)
      graph.name = name
    inside[0] += 1
  try:
    yield
  finally:
    with _TF2_KERAS_LOCK:
      inside[0] -= 1
      if not inside[0]:
        graph.name = inside[1]
        delattr(graph, _TF2_KERAS)


def model_graph():
  """The marked graph ops built now land in (or in a graph nested in), or None."""
  if tf_internals.executing_eagerly():
    return None
  return _marked_graph_around(tf.compat.v1.get_default_graph())


def is_model_graph(graph):
  """Whether `graph` is a marked graph itself (not one nested in it)."""
  return bool(getattr(graph, _MARK, False))


def lifted_graph():
  """The graph (in a model graph) an `init_scope` lifted the code from, or None.

  Under `init_scope` code runs eagerly while that graph stays the default.
  """
  if not tf_internals.executing_eagerly():
    return None
  graph = tf.compat.v1.get_default_graph()
  return graph if _marked_graph_around(graph) is not None else None


def _marked_graph_around(graph):
  while graph is not None and not getattr(graph, _MARK, False):
    graph = getattr(graph, 'outer_graph', None)
  return graph


def _op_seed_counter(graph):
  """The graph whose op seed count `graph`'s unseeded random ops continue."""
  if not tf_internals.is_control_flow_graph(graph) or (
      not tf_internals.control_flow_v1_switched_on()):
    return graph
  outer = graph
  while tf_internals.is_control_flow_graph(outer):
    outer = outer.outer_graph
  return outer if getattr(outer, _MARK, False) else graph


def executing_eagerly_outside_functions():
  """`tf.compat.v1.executing_eagerly_outside_functions`, False in a model graph."""
  graph = model_graph()
  if graph is not None and getattr(graph, _TF2_KERAS, None) is None:
    return False
  return tf_internals.executing_eagerly_outside_functions()


def _told_it_runs_eagerly(tf_answer):
  """`tf.executing_eagerly`'s replacement around TF's `tf_answer`.

  Legacy code asks whether its program runs eagerly with `with
  tf.init_scope(): tf.executing_eagerly()` (the Object Detection API: its
  fine-tuning restore refuses to run eagerly, its target-assignment
  summaries skip themselves). In 2.15's tf.Graph the answer was False; a
  model graph's `init_scope` lifts the code to the eager context. So code
  lifted from a model graph is told False, but for the engine, TensorFlow
  and Keras, which work eagerly there (making variables, slots, weights).
  """

  def executing_eagerly():
    if not tf_answer():
      return False
    # Eager here, so `lifted_graph()`'s question is the graph's alone; the
    # first test spares eager programs the second's cost.
    if (tf_internals.default_graph_stack_is_empty() or _marked_graph_around(
        tf.compat.v1.get_default_graph()) is None):
      return True
    caller = inspect.currentframe().f_back.f_globals.get('__name__', '')
    return caller.partition('.')[0] in _TOLD_THE_TRUTH

  executing_eagerly.__doc__ = tf_answer.__doc__
  return executing_eagerly


_TOLD_THE_TRUTH = frozenset(('tfcompat_estimator', 'tensorflow', 'tf_keras',
                             'keras'))


def _model_graph_handles(xs):
  """Gradient sources as a graph nested in a model graph must see them.

  A lifted variable is read in the model graph through its handle's
  capture there; differentiating w.r.t. it from a nested graph (DP
  optimizers' per-microbatch `compute_gradients` in a `tf.while_loop`
  body, TF Privacy) must name that capture, as it named the graph's own
  variable in 2.15's tf.Graph.
  """
  graph = model_graph()
  if graph is None or graph is tf.compat.v1.get_default_graph():
    return xs
  internal = {id(outer): inner for outer, inner in graph.captures}

  def source(x):
    handle = x.handle if _marked_variable(x) else x
    return internal.get(id(handle), x)

  if isinstance(xs, (list, tuple)):
    return [source(x) for x in xs]
  return source(xs)


def _model_graph_stops(stops):
  """`tf.gradients`' `stop_gradients`, a lifted variable as its handle's input.

  TF takes each stop's `.op`, which for a TF1 variable was its own op in
  the graph; a lifted variable's `.op` only stands for the graph's input of
  its handle (`_answering_graph_queries`), which TF cannot hash. K-FAC
  differentiates its layers' outputs w.r.t. their parameters with the
  parameters among the stops.
  """
  graph = model_graph()
  if graph is None:
    return stops

  def stop(x):
    return graph.capture(x.handle) if _marked_variable(x) else x

  if isinstance(stops, (list, tuple)):
    return [stop(x) for x in stops]
  return stop(stops)


def _marked_tensor(tensor):
  return getattr(getattr(tensor, 'graph', None), _MARK, False)


def _marked_variable(variable):
  return getattr(variable, _MARK, None) is not None


def lift(variable, graph, key, initial_value=None):
  """Makes a variable lifted out of `graph` answer like one living in it.

  It gets identity hashing (a resource variable; a strategy's mirrored one
  keeps TF's rules) and equality, `.graph` (the capture graph) and an
  `.op` whose `.name` is `key`, its unique checkpoint key. TF's v1 optimizers
  key their slots by `(op.graph, op.name)` when `.op` exists, so the name must
  be unique: a lifted variable's own name need not be.

  `initial_value` (what its creator was given: a value or a callable) makes
  `.initializer` an op of `graph` assigning it afresh, as a TF1 variable's
  did; `global_variables_initializer()` and `local_variables_initializer()`
  in a model_fn group those.
  """
  setattr(variable, _MARK, _Lifted(graph, key, initial_value))
  variable.__class__ = _answering_graph_queries(type(variable))


def value_on_first_read(variable, compute):
  """An eager `read_value()` of a lifted `variable` first assigns `compute()`.

  For a variable whose value its graph draws (`_record_variable`): until
  that initializer runs, it holds zeros, and code reading it eagerly while
  the model_fn runs saw those. `tf.train.ExponentialMovingAverage.apply`
  reads each variable under `init_scope` for its shadow's start, which
  began at 0 (tensorflow/tpu's Inception v3); TF1 gave the initial value.
  None: reads are plain again.
  """
  getattr(variable, _MARK).pending_value = compute


def initializer_built(variable):
  """The op a lifted variable's `.initializer` built in its graph, or None."""
  lifted = getattr(variable, _MARK, None)
  return lifted.initializer if lifted is not None else None


class _Lifted:
  """What a lifted variable answers graph queries from."""

  def __init__(self, graph, key, initial_value):
    self.graph = graph
    self.key = key
    self.initial_value = initial_value
    self.initializer = None  # built on first use
    self.pending_value = None  # `value_on_first_read`


_CLASSES = {}


def _answering_graph_queries(cls):
  """A subclass of `cls` answering `.op`, `.graph`, `.initializer`, `.handle`."""
  if cls not in _CLASSES:
    eager_handle = cls.handle.fget  # a property on every variable class

    def handle(self):
      # TF1 model code walks the graph from a variable's handle: K-FAC maps
      # its layers' parameters to the graph's tensors by it (in a dict) and
      # follows its consumers, which an eager handle cannot do. While the
      # model_fn runs, as in TF1, the handle is the graph's tensor (not
      # under `init_scope`, which runs eagerly in the same default graph).
      graph = getattr(self, _MARK).graph
      if (getattr(graph, _MODEL_CODE, False) and
          not tf_internals.executing_eagerly() and
          tf.compat.v1.get_default_graph() is graph):
        return graph.capture(eager_handle(self))
      return eager_handle(self)

    def op(self):
      lifted = getattr(self, _MARK)
      # `tf.control_dependencies([variable])` (TF1 code; `v1.metrics.mean`
      # of a variable) depends on `variable.op`: in TF1 the variable's own
      # op, here the graph's input of its handle.
      return types.SimpleNamespace(
          name=lifted.key, graph=lifted.graph, type='VarHandleOp',
          _as_graph_element=lambda: lifted.graph.capture(self.handle).op)

    def graph(self):
      return getattr(self, _MARK).graph

    def initializer(self):
      lifted = getattr(self, _MARK)
      in_graph = tf_internals.initializer_op(self)  # e.g. graph-made
      if isinstance(in_graph, tf.Operation) and in_graph.graph is lifted.graph:
        return in_graph
      if lifted.initializer is None and lifted.initial_value is not None and (
          tf.compat.v1.get_default_graph() is lifted.graph):
        value = lifted.initial_value
        with tf.compat.v1.name_scope(lifted.key + '/'):
          value = tf.convert_to_tensor(value() if callable(value) else value,
                                       dtype=self.dtype.base_dtype)
          lifted.initializer = tf.raw_ops.AssignVariableOp(
              resource=self.handle, value=value, name='Assign')
      return lifted.initializer

    def read_value(self):
      lifted = getattr(self, _MARK)
      if lifted.pending_value is not None and tf_internals.executing_eagerly():
        compute, lifted.pending_value = lifted.pending_value, None
        self.assign(compute())
      return cls.read_value(self)

    def eval(self, session=None):  # pylint: disable=redefined-builtin
      # A TF1 variable ran its value tensor in the session; a lifted one
      # has none in the graph (TF failed on None), so the session fetches
      # the variable itself, as it does in `session.run(variable)`.
      session = session or tf.compat.v1.get_default_session()
      if tf.executing_eagerly() or session is None:
        return cls.eval(self, session)  # TF's errors for these cases
      return session.run(self)

    _CLASSES[cls] = type(cls.__name__, (cls,), {
        'op': property(op), 'graph': property(graph),
        'handle': property(handle),
        'initializer': property(initializer), 'eval': eval,
        'read_value': read_value,
        # `assign_sub()` and the like return a read named after the assign
        # op in a graph, 'UnreadVariable' for an eager variable, which a
        # lifted one is. TF1 code filters UPDATE_OPS by name scope (slim's
        # batch_norm updates, TF-GAN's `get_collection(UPDATE_OPS,
        # scope)`): named 'UnreadVariable' they fell outside every scope,
        # and moving averages silently kept their initial values.
        **tf_internals.reads_after_graph_assigns_named_by_op(cls),
        '__module__': cls.__module__})
  return _CLASSES[cls]


def _identity_for(is_marked, cls):
  """Wraps `cls`'s hash and (in)equality to use identity for marked objects."""
  tf_hash, tf_eq, tf_ne = cls.__hash__, cls.__eq__, cls.__ne__

  def __hash__(self):  # pylint: disable=invalid-name
    return id(self) if is_marked(self) else tf_hash(self)

  def __eq__(self, other):  # pylint: disable=invalid-name
    return self is other if is_marked(self) else tf_eq(self, other)

  def __ne__(self, other):  # pylint: disable=invalid-name
    return self is not other if is_marked(self) else tf_ne(self, other)

  cls.__hash__, cls.__eq__, cls.__ne__ = __hash__, __eq__, __ne__


_identity_for(_marked_tensor, tf_internals.SymbolicTensor)
_identity_for(_marked_variable, tf_internals.BaseResourceVariable)
tf_internals.replace_public_function(
    tf_internals.executing_eagerly_outside_functions,
    executing_eagerly_outside_functions)
tf_internals.also_capture_by_value(('DummySeedGenerator',),
                                   lambda: model_graph() is not None)
tf_internals.regularize_new_legacy_layer_weights(
    tf.compat.v1.layers.Layer, lambda: model_graph() is not None)
tf_internals.v1_summaries_build_v1_ops_when(lambda: model_graph() is not None)
tf_internals.map_gradient_sources(_model_graph_handles, _model_graph_stops)
tf_internals.count_op_seeds_in(_op_seed_counter)
tf_internals.create_v1_slots_in(lifted_graph)
for _tf_answer in (tf_internals.executing_eagerly,
                   tf_internals.executing_eagerly_v1):
  tf_internals.replace_public_function(
      _tf_answer, _told_it_runs_eagerly(_tf_answer), name='executing_eagerly')
