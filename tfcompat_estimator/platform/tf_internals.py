"""Every private TensorFlow API the package relies on, in one place.

tensorflow-estimator 2.15 was part of TensorFlow's own code base and used its
internals freely; re-implementing it on a TensorFlow without it still needs
some of them. The layers above (`io/`, `engine/`, `session_emulation/`,
`runs/` and the top-level modules) reach them only through the names below:
none of them imports `tensorflow.python` or reads a protected member of a
TensorFlow object itself. A TensorFlow release that moves one of these breaks
this module and `tests/platform/test_tf_internals.py`, not the call sites.

Each entry says why the public API does not do, and who uses it. Checked on:
TensorFlow 2.21 (the test calls every entry on real objects); setup.py allows
2.16-2.21, and no entry has been checked on the older releases of that range.

This is the package's lowest layer: it imports TensorFlow, NumPy and the
standard library only, never another tfcompat_estimator module.
"""

import collections
import contextlib
import importlib
import sys
import weakref

import numpy as np

from tensorflow.core.function import trace_type
from tensorflow.core.framework import function_pb2
from tensorflow.core.function.polymorphism import function_type as _function_type
from tensorflow.core.protobuf import tensorflow_server_pb2
from tensorflow.python.autograph.impl import api as autograph_api
from tensorflow.python.checkpoint import checkpoint_management
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.client import session as _session
from tensorflow.python.data.ops import dataset_ops
from tensorflow.python.data.util import traverse as _dataset_traverse
from tensorflow.python.checkpoint import graph_view
from tensorflow.python.training import evaluation as _evaluation
from tensorflow.python.training.saving import saveable_object as _saveable_object
from tensorflow.python.distribute import cross_device_utils
from tensorflow.python.distribute import input_lib
from tensorflow.python.distribute.coordinator import cluster_coordinator
from tensorflow.python.distribute.coordinator import values as coordinator_values
from tensorflow.python.eager import context
from tensorflow.python.eager import def_function
from tensorflow.python.eager import monitoring
from tensorflow.python.eager.polymorphic_function import atomic_function
from tensorflow.python.framework import dtypes
from tensorflow.python.framework import op_def_registry
from tensorflow.python.framework import ops
from tensorflow.python.framework import random_seed
from tensorflow.python.framework import stack as _stack
from tensorflow.python.framework import tensor_spec
from tensorflow.python.framework import tensor_util
from tensorflow.python.ops import cond_v2 as _cond_v2
from tensorflow.python.ops import control_flow_ops
from tensorflow.python.ops import control_flow_util
from tensorflow.python.ops import control_flow_util_v2
from tensorflow.python.ops import control_flow_v2_func_graphs
from tensorflow.python.ops import gen_functional_ops
from tensorflow.python.ops import gen_random_ops
from tensorflow.python.ops import gradients_util
from tensorflow.python.ops import init_ops
from tensorflow.python.ops import init_ops_v2
from tensorflow.python.ops import op_selector
from tensorflow.python.ops import resource_variable_ops
from tensorflow.python.ops import summary_ops_v2
from tensorflow.python.summary import summary as _summary_v1
from tensorflow.python.summary import tb_summary
from tensorflow.python.summary.writer import writer as _summary_writer
from tensorflow.python.summary.writer import writer_cache as _writer_cache
from tensorflow.python.platform import gfile as _gfile
from tensorflow.python.platform import tf_logging as _tf_logging
from tensorflow.python.saved_model.model_utils import export_output as _export_output
from tensorflow.python.saved_model.model_utils import export_utils
from tensorflow.python.saved_model.model_utils import mode_keys
from tensorflow.python.training import basic_session_run_hooks as _basic_session_run_hooks
from tensorflow.python.training import checkpoint_state_pb2
from tensorflow.python.training import saver as saver_lib
from tensorflow.python.training import server_lib as _server_lib
from tensorflow.python.training import slot_creator
from tensorflow.python.training import sync_replicas_optimizer as _sync_replicas
from tensorflow.python.util import deprecation as _deprecation
from tensorflow.python.util import numpy_compat as _numpy_compat

# pylint: disable=protected-access

# --- Logging and files ------------------------------------------------------

# TensorFlow's logging module, which the modules below imported directly
# before. `tf.compat.v1.logging` is another module object (a wrapper
# exporting the same functions), so a test or library patching one would not
# patch the other (tests/api/test_estimator_export.py patches this one).
# Imported as `logging` by runs/, io/, engine/distribution.py,
# engine/parameter_servers.py, estimator.py, evaluation_hooks.py,
# early_stopping.py, run_config.py and train_eval/. Checked on TF 2.21.
tf_logging = _tf_logging


@contextlib.contextmanager
def deprecations_unannounced():
  """A block in which TF's deprecated functions log no deprecation warning.

  The canned DNN builds its input layer with `tf.compat.v1.feature_column.
  input_layer`, which warns, as does each v1 method it calls on a v2 column
  (`_get_dense_tensor`, `_transform_feature`...): 17 lines for a wide-deep
  model's columns. 2.15 reached them through private classes that did not
  warn. A warning silenced here is still logged when the program itself
  calls that function. canned/dnn.py. Checked on TF 2.21 (its own
  `deprecation.silence` leaves them silenced after an exception).
  """
  announced = _deprecation._PRINT_DEPRECATION_WARNINGS
  _deprecation._PRINT_DEPRECATION_WARNINGS = False
  try:
    yield
  finally:
    _deprecation._PRINT_DEPRECATION_WARNINGS = announced


# TensorFlow's v1 gfile module: gc.py (which has it as `gfile`, as 2.15's
# gc.py had) lists export directories with its `ListDirectory`, looked up at
# call time on this module, where tests mock it; `tf.compat.v1.gfile` is
# another module object. Checked on TF 2.21.
gfile = _gfile

# The base of `tf.compat.v1.summary.FileWriter` that turns summaries, graphs
# and session logs into `Event`s for its `event_writer`;
# session_emulation/file_writer_cache.py builds cached writers on it over our
# events files. Not exported. Checked on TF 2.21.
SummaryToEventTransformer = _summary_writer.SummaryToEventTransformer


def make_file_writer_cache_use(file_writer_class):
  """`tf.compat.v1.summary.FileWriterCache.get` makes its writers of this class.

  The cache calls the `FileWriter` name of its own module with
  `(logdir, graph=default graph)`; writers it holds already stay. Checked
  on TF 2.21.
  """
  _writer_cache.FileWriter = file_writer_class


# --- Ops and graph building -------------------------------------------------

# The class of a graph's tensors (`tf.Tensor` is also the eager tensors'
# base): engine/tf1_graph_semantics.py gives it TF1's identity hashing for
# the graphs it marks. Not exported. Checked on TF 2.21.
SymbolicTensor = ops.SymbolicTensor

# The error `WrappedFunction.prune` raises for a fetch depending on an unfed
# placeholder; engine/graph_prune.py raises the same one so that callers
# (session_emulation/session.py) catch one class. Not exported. Checked on
# TF 2.21.
UnliftableError = op_selector.UnliftableError


def add_control_inputs(op, control_inputs):
  """Makes the existing `op` run after `control_inputs` (operations).

  The public `tf.control_dependencies` applies to ops created inside it
  only; engine/batch_checks.py and engine/graph_capture.py gate ops already
  in a captured graph. Checked on TF 2.21.
  """
  op._add_control_inputs(control_inputs)


def set_control_inputs(op, control_inputs):
  """Makes the existing `op` run after exactly `control_inputs`.

  Takes back gates `add_control_inputs` added (engine/graph_capture.py).
  Checked on TF 2.21.
  """
  op._remove_all_control_inputs()
  op._add_control_inputs(control_inputs)


def map_gradient_sources(map_xs, map_stops):
  """Makes every `tf.gradients` call use `map_xs(xs)`, `map_stops(stops)`.

  `tf.compat.v1.gradients`, `tf.gradients` and the v1 optimizers'
  `compute_gradients` all pass their `xs` through TF's one helper, which
  converts them in the current graph. In a function graph nested in a
  model graph (a `tf.while_loop` body) that captures an eager variable
  handle anew, which no path from `ys` reaches: every gradient was None.
  Their `stop_gradients` are taken as they come (`t.op` of each), which
  for a variable must be an op of the graph. engine/tf1_graph_semantics.py.
  Checked on TF 2.21, where `tf.gradients` passes `stop_gradients` as the
  helper's eighth positional argument.
  """
  helper = gradients_util._GradientsHelper
  stops_at = 5  # in `args`: grad_ys, name, colocate, gate, aggregation, stops

  def gradients_helper(ys, xs, *args, **kwargs):
    if len(args) > stops_at and args[stops_at] is not None:
      args = (args[:stops_at] + (map_stops(args[stops_at]),) +
              args[stops_at + 1:])
    elif kwargs.get('stop_gradients') is not None:
      kwargs['stop_gradients'] = map_stops(kwargs['stop_gradients'])
    return helper(ys, map_xs(xs), *args, **kwargs)

  gradients_util._GradientsHelper = gradients_helper


def set_op_attr(op, name, attr_value):
  """Sets attribute `name` of the existing `op` to `attr_value` (an AttrValue).

  Ops are immutable in the public API; engine/graph_saveables.py renames a
  captured graph's tables after it is built. Checked on TF 2.21.
  """
  op._set_attr(name, attr_value)


def op_def(op_type):
  """The registered `OpDef` of an op type, or None if there is none.

  No public API looks an `OpDef` up by name; engine/input_graph.py asks
  which ops of an input graph are stateful and take a `shared_name`.
  Checked on TF 2.21.
  """
  return op_def_registry.get(op_type)


def default_graph_stack_is_empty():
  """Whether no `Graph.as_default()` block is in effect in this thread.

  `tf.compat.v1.get_default_graph()` cannot tell: without such a block it
  returns (creating it if need be) the global default graph.
  engine/engine_scope.py. Checked on TF 2.21.
  """
  return not ops._default_graph_stack.stack


@contextlib.contextmanager
def no_default_graph(call_graph=None):
  """Runs the block with an empty default-graph stack and no caller's graph.

  This thread's stack and global default graph are back on exit. No public
  API leaves a caller's `as_default()` blocks for a while;
  engine/engine_scope.py runs public calls made from a TF1 world so.
  Checked on TF 2.21.

  Args:
    call_graph: None, or a list that is empty or holds the global default
      graph an earlier block of the same call used. The block sees that
      graph (without one, `get_default_graph` makes one when first asked),
      and leaves the graph it used in the list. A prediction generator
      enters a block per item; without the list, each calls a function
      (which asks for the default graph) and makes a new Graph, 17 us.
  """
  stack = ops._default_graph_stack
  saved = stack.stack, stack._global_default_graph
  stack.stack = []
  stack._global_default_graph = call_graph[0] if call_graph else None
  try:
    yield
  finally:
    if call_graph is not None and stack._global_default_graph is not None:
      call_graph[:] = [stack._global_default_graph]
    stack.stack, stack._global_default_graph = saved


# TensorFlow's own answer to `tf.compat.v1.executing_eagerly_outside_functions`,
# which engine/tf1_graph_semantics.py replaces in the public API for model
# graphs. TF's internals call this one. Checked on TF 2.21.
executing_eagerly_outside_functions = ops.executing_eagerly_outside_functions

# TensorFlow's own `tf.executing_eagerly` and `tf.compat.v1.executing_eagerly`,
# which engine/tf1_graph_semantics.py replaces in the public API for code a
# model graph's `init_scope` lifts. TF's internals call these. Checked on
# TF 2.21.
executing_eagerly = context.executing_eagerly
executing_eagerly_v1 = context.executing_eagerly_v1

# The evaluation's step counter in the default graph's `GraphKeys.EVAL_STEP`,
# the one TF1 code made or added to (old TPU model code), else a new local
# int64 variable 'eval_step', as 2.15's evaluate() made it. Checked on TF 2.21.
get_or_create_eval_step = _evaluation._get_or_create_eval_step  # pylint: disable=protected-access


def per_graph_function(python_function, **kwargs):
  """`tf.function(python_function, **kwargs)`, made once per model graph.

  TF warns about "frequent retracing" by the Python code a tf.function
  wraps, counted over every tf.function made of it; the engine makes its
  loops and steps anew for each Estimator's graph, so a process with
  several Estimators (TF Lattice's tutorial trains five) logged the
  warning, naming the engine's inner functions, where 2.15 logged none.
  The flag is TF's own for functions it makes per object (restored
  SavedModel functions). engine/loops.py, engine/graph_capture.py.
  Checked on TF 2.21.
  """
  function = def_function.function(python_function, **kwargs)
  function._omit_frequent_tracing_warning = True
  return function


def endless(iterator):
  """Whether `iterator` draws from a dataset of infinite cardinality.

  TF's cardinality is static: a `repeat()` of an input that turns out
  empty is infinite too. False for iterators that keep no dataset
  (distributed ones). `OwnedIterator._dataset` is its dataset, kept so
  that the dataset lives as long as it. engine/graph_capture.py. Checked
  on TF 2.21.
  """
  dataset = getattr(iterator, '_dataset', None)
  return (isinstance(dataset, dataset_ops.DatasetV2) and
          int(dataset.cardinality()) == dataset_ops.INFINITE)


def flat_call(concrete_function):
  """`concrete_function` as a callable of its flattened tensor inputs.

  A `ConcreteFunction` called with its structured arguments binds, casts
  and flattens them on every call, as much time as the run of a small step
  (a batch of one, engine/graph_capture.py). Checked on TF 2.21.
  """
  def call(flat_inputs):
    return concrete_function._call_flat(  # pylint: disable=protected-access
        list(flat_inputs), concrete_function.captured_inputs)
  return call


def replace_public_function(original, replacement, name=None):
  """Makes every loaded `tensorflow` API module export `replacement` for
  `original`.

  A function is exported by several API modules (`tf.compat.v1`, and
  `tf.compat.v2.compat.v1`, which tf_keras calls); `tensorflow.python`
  modules, through which TF's internals call it, keep it. `name` is the
  exported name, where it is not the function's own (`tf.compat.v1.
  executing_eagerly` is `executing_eagerly_v1`).
  engine/tf1_graph_semantics.py, engine/v2_summaries.py. Checked on TF 2.21.
  """
  name = name or original.__name__
  for module_name, module in list(sys.modules.items()):
    if (module is not None and (module_name == 'tensorflow' or
                                module_name.startswith(('tensorflow.compat.',
                                                        'tensorflow._api.')))
        and getattr(module, name, None) is original):
      setattr(module, name, replacement)


# Whether a TF2 summary writer is the default in this thread (no public
# API tells). engine/v2_summaries.py. Checked on TF 2.21.
has_default_summary_writer = summary_ops_v2.has_default_writer

# TF2's summary functions that TensorBoard implements; without TensorBoard
# (not a dependency of TF since 2.16) they raise TBNotInstalledError.
# engine/v2_summaries.py. Checked on TF 2.21.
tensorboard_summaries = (tb_summary.audio, tb_summary.histogram,
                         tb_summary.image, tb_summary.scalar, tb_summary.text)


@contextlib.contextmanager
def summary_writers_made(made):
  """Appends to `made` each TF2 summary writer created in the block.

  A writer created while a captured (function) graph is the default is an
  eager resource, destroyed with its Python object; 2.15's lived in the
  session. session_emulation/hook_runner.py keeps the writers hooks create
  in `begin()` for the call, engine/graph_capture.py those a model_fn
  creates, tpu/spec.py those a TPU host_call creates. Such a writer is
  initialized as it is made, so its `init()` gives None; in a graph it
  gives a no-op here, since TF1 code waits on it (SimCLR's model_fn:
  `tf.control_dependencies([writer.init()])`, a TypeError on None). No
  public API tells when a writer is created. Checked on TF 2.21.
  """
  writer_class = summary_ops_v2._ResourceSummaryWriter
  original_create, original_init = writer_class.__init__, writer_class.init

  def create(writer, *args, **kwargs):
    original_create(writer, *args, **kwargs)
    made.append(writer)

  def init(writer):
    op = original_init(writer)
    if op is None and not context.executing_eagerly():
      return control_flow_ops.no_op(name='summary_writer_initialized')
    return op

  writer_class.__init__, writer_class.init = create, init
  try:
    yield
  finally:
    writer_class.__init__, writer_class.init = original_create, original_init


class _OpSeeds:
  """Op seeds 0, 1, 2, ..., handed out as a graph hands them out.

  A graph with a seed gives an op without one the count of such requests
  made in it so far (`random_seed.get_seed`); the eager context draws a
  random number instead (`Context._internal_operation_seed`, which calls
  only `randint`).
  """

  def __init__(self):
    self.drawn = 0

  def randint(self, low, high):
    del low, high  # a graph's op seeds are a count
    self.drawn += 1
    return self.drawn - 1


@contextlib.contextmanager
def graph_seed(seed):
  """Random ops made eagerly in the block take their seeds as a graph's would.

  2.15 called every input_fn in a new graph whose seed was the RunConfig's
  `tf_random_seed`: `Dataset.shuffle(seed=42)` then drew the same order in
  every call and every process, and `Dataset.shuffle()` without a seed took
  the op seed 0 (the graph's first request). Called eagerly, its seeds come
  from the process's global seed instead (None before a model set one), and
  an op seed from a random stream. The public `tf.random.set_seed` would
  also drop every compiled function's kernels (0.3 s to rebuild a canned
  DNN's loop). engine/input_pipeline.py. Checked on TF 2.21.
  """
  eager = context.context()
  saved = eager._seed, getattr(eager, '_rng', None)
  eager._seed = seed
  eager._rng = _OpSeeds()
  try:
    yield
  finally:
    eager._seed, eager._rng = saved


def op_seeds_drawn():
  """How many op seeds the default graph, or graph_seed's block, handed out.

  2.15 built the model_fn in the input_fn's graph, so the model's unseeded
  random ops (initializers, dropout) took the op seeds after the input's.
  engine/input_pipeline.py, engine/graph_capture.py. Checked on TF 2.21.
  """
  if context.executing_eagerly():
    return getattr(context.context()._rng, 'drawn', 0)
  return random_seed._graph_to_seed_dict.get(ops.get_default_graph(), 0)


def continue_op_seeds(graph, drawn):
  """Makes `graph`'s unseeded random ops take op seeds from `drawn` on."""
  random_seed._graph_to_seed_dict[graph] = drawn


class _OpSeedCounts(weakref.WeakKeyDictionary):
  """`random_seed`'s op seed count per graph, some graphs using another's."""

  def __init__(self, counts, counter_of):
    self._counter_of = counter_of  # before the copy, which sets items
    super().__init__(counts)

  def get(self, graph, default=None):
    return super().get(self._counter_of(graph), default)

  def setdefault(self, graph, default=None):
    return super().setdefault(self._counter_of(graph), default)

  def __getitem__(self, graph):
    return super().__getitem__(self._counter_of(graph))

  def __setitem__(self, graph, value):
    super().__setitem__(self._counter_of(graph), value)


def count_op_seeds_in(counter_of):
  """An unseeded random op made in `graph` takes `counter_of(graph)`'s next
  op seed (`random_seed.get_seed` counts them per graph in a module dict).

  tf1_graph_semantics makes a TF1 program's control-flow graphs count in
  their model graph. Checked on TF 2.21.
  """
  random_seed._graph_to_seed_dict = _OpSeedCounts(
      random_seed._graph_to_seed_dict, counter_of)


# The builders (`gen_random_ops`) of the random ops whose kernel holds their
# stream; `random_streams` builds their `tf.random.Generator` kinds instead.
STREAM_RANDOM_OPS = ('random_uniform', 'random_standard_normal',
                     'truncated_normal', 'random_uniform_int')


@contextlib.contextmanager
def random_ops_built_by(builder):
  """`builder(kind, original, *args, **kwargs)` builds `STREAM_RANDOM_OPS`.

  `tf.random.uniform`, `tf.random.normal`, `tf.random.truncated_normal`,
  `tf.nn.dropout` and the initializers call these generated functions by
  their module's attribute; no public API builds another op in their place.
  engine/random_streams.py. Checked on TF 2.21.
  """
  originals = {kind: getattr(gen_random_ops, kind)
               for kind in STREAM_RANDOM_OPS}

  def builds(kind, original):
    return lambda *args, **kwargs: builder(kind, original, *args, **kwargs)

  for kind, original in originals.items():
    setattr(gen_random_ops, kind, builds(kind, original))
  try:
    yield
  finally:
    for kind, original in originals.items():
      setattr(gen_random_ops, kind, original)


def variable_unseen_by_creators(**kwargs):
  """A resource variable that the variable creator scopes in effect skip.

  A model graph's creator (engine/graph_capture.py) records every variable
  made while the model_fn runs as a model variable, to be checkpointed;
  random_streams' stream states are the engine's, made meanwhile. TF's
  default creator, which every chain of creators ends in, is not exported.
  Checked on TF 2.21.
  """
  return resource_variable_ops.default_variable_creator_v2(None, **kwargs)


def control_flow_v1_switched_on():
  """Whether the program chose TF1's control flow (`disable_v2_behavior()`,
  `disable_control_flow_v2()`).

  TF builds v2 control flow in every function graph regardless, so the
  public `control_flow_v2_enabled()` answers True in a model graph; this is
  the switch itself. Checked on TF 2.21.
  """
  return not control_flow_util.ENABLE_CONTROL_FLOW_V2


def build_v1_control_flow_in(graph):
  """Makes TF build TF1 control flow in the function graph `graph`.

  TF builds v2 control flow (`While`, `If` ops with bodies in graphs of
  their own) in every function graph but TF1's `Defun` graphs, which it
  tells apart by their `_captured` attribute. Checked on TF 2.21.
  """
  graph._captured = {}  # pylint: disable=protected-access


def cond_v2(pred, true_fn, false_fn, name='cond'):
  """`tf.cond` as an `If` op, in any graph (the branches run eagerly as
  `tf.cond` runs them).

  For the engine's own checks: a TF1 program's model graph builds TF1
  control flow (engine/graph_capture.py), and the two `Switch`/`Merge`
  conds of a canned DNN's checks trained about 7% slower than these
  (measured, 3 pairs). `tf.cond` makes the same op in a TF2 program.
  Checked on TF 2.21.
  """
  if context.executing_eagerly():
    return true_fn() if bool(pred) else false_fn()
  return _cond_v2.cond_v2(pred, true_fn, false_fn, name)


def is_control_flow_graph(graph):
  """Whether `graph` is a v2 cond branch, while-loop condition or body."""
  return isinstance(graph, control_flow_v2_func_graphs.ControlFlowFuncGraph)


def draws_graph_op_seed(initializer):
  """Whether `initializer` is TensorFlow's own, without a seed of its own.

  Its random op then takes the graph's next op seed (`get_variable`'s
  default `glorot_uniform_initializer()`, `truncated_normal_initializer`).
  tf_keras' initializers draw their own seeds. engine/graph_capture.py.
  """
  return (isinstance(initializer, (init_ops.Initializer,
                                   init_ops_v2.Initializer)) and
          getattr(initializer, 'seed', 0) is None)


def find_keras_named_modules_as_named():
  """tf_keras deserializes objects of `keras_tuner`-like modules again.

  tf_keras' `deserialize_keras_object` imports an object's module under a
  `tf_` prefix whenever its name starts with 'keras' (meaning Keras' own
  `keras.` modules), so a third-party module named so was looked for as
  `tf_keras_tuner` and the call raised TypeError. Keras 2.15, `tf.keras`
  on 2.15, imported it as named. keras-tuner's hyperparameters round-trip
  through it at every `Oracle.create_trial` (Model Search's first trial
  failed). Where tf_keras fails for such a module, the module as named is
  asked for the object, as Keras 2.15 did. For `install()`, by which
  tf_keras is imported (TF1 layers need it); does nothing before.
  Idempotent. Checked on TF 2.21 with tf_keras 2.21.
  """
  serialization_lib = sys.modules.get('tf_keras.src.saving.serialization_lib')
  if serialization_lib is None:
    return
  retrieve = serialization_lib._retrieve_class_or_fn
  if getattr(retrieve, 'finds_keras_named_modules', False):
    return

  def retrieve_class_or_fn(name, registered_name, module, *args, **kwargs):
    try:
      return retrieve(name, registered_name, module, *args, **kwargs)
    except TypeError:
      obj = _object_of_keras_named_module(module, name, registered_name)
      if obj is None:
        raise
      return obj

  retrieve_class_or_fn.finds_keras_named_modules = True
  serialization_lib._retrieve_class_or_fn = retrieve_class_or_fn


def _object_of_keras_named_module(module, name, registered_name):
  """`name` (or `registered_name`) of a module named 'keras...' that is
  not Keras itself, or None."""
  if (not module or not module.startswith('keras') or module == 'keras' or
      module.startswith('keras.')):
    return None
  try:
    found = vars(importlib.import_module(module))
  except ImportError:
    return None
  return found.get(name) or found.get(registered_name)


@contextlib.contextmanager
def keras_seeds_from(generator):
  """tf_keras' unseeded initializers take their seeds from `generator`.

  A tf_keras initializer without a seed (a Keras layer's default
  `glorot_uniform`, an RNN cell's `orthogonal`) draws one from Python's
  `random` when it first runs, unless `tf_keras.utils.set_random_seed`
  installed a generator (`backend._SEED_GENERATOR`, per thread), which
  then wins here too. The public setter also reseeds Python, numpy and
  TF's global seed. engine/graph_capture.py. Checked on TF 2.21 with
  tf_keras 2.21.

  Args:
    generator: a `random.Random`, or None to leave the draws as they are.
  """
  backend = sys.modules.get('tf_keras.src.backend')
  if (generator is None or backend is None or
      getattr(backend._SEED_GENERATOR, 'generator', None)):
    yield
    return
  backend._SEED_GENERATOR.generator = generator
  try:
    yield
  finally:
    backend._SEED_GENERATOR.generator = None


# Eager execution for this thread, for the block. The public switch
# (`tf.compat.v1.enable_eager_execution`) is process-wide and refused once
# graphs were built. engine/engine_scope.py. Checked on TF 2.21.
eager_mode = context.eager_mode


def current_device_name():
  """The device the enclosing `tf.device` scopes ask for ('' if none).

  Read eagerly, where no op exists to ask for its device: no public API
  reads the eager context's device. engine/parameter_servers.py places a
  variable created under `colocate_with` on its ps task. Checked on TF 2.21.
  """
  return context.context().device_name


def has_function(name):
  """Whether the eager context has a function of that name registered.

  Functions an imported GraphDef brings stay registered in the context,
  which no public API lists or removes; engine/input_graph.py removes the
  ones an input graph brought when it closes. Checked on TF 2.21.
  """
  return context.context().has_function(name)


def remove_function(name):
  """Unregisters a function from the eager context (see `has_function`)."""
  context.context().remove_function(name)


# --- Functions and tracing --------------------------------------------------

def keras_name_counts(graph):
  """tf_keras' counts of the object names it generated in `graph`, or None.

  tf_keras numbers the names it generates (`dense`, `dense_1`, ...) per
  graph, in a dict it keeps by graph: (namespace, base name) -> how many
  were taken. Returned live; None while tf_keras is not imported.
  engine/keras_names.py. Checked on TF 2.21 with tf_keras 2.21.
  """
  backend = sys.modules.get('tf_keras.src.backend')
  if backend is None:
    return None
  counts = backend.PER_GRAPH_OBJECT_NAME_UIDS.get(graph)
  if counts is None:
    counts = collections.defaultdict(int)
    backend.PER_GRAPH_OBJECT_NAME_UIDS[graph] = counts
  return counts


def graph_function_def(graph, name):
  """The `FunctionDef` of function `name` in `graph`'s library, or None.

  The public API gives a graph's functions only with the whole graph
  serialized (`as_graph_def().library`); runs/step_rental.py looks into the
  few a train step's ops call.
  Checked on TF 2.21.
  """
  function = graph._get_function(name)
  return None if function is None else function.cached_definition


# What `AtomicFunction` reads of the graph a function was made from: its
# inputs, whose consumers tell which resources a call only reads.
_FunctionInputs = collections.namedtuple('_FunctionInputs', ['inputs'])


def function_of_operations(graph, operations, inputs, outputs,
                           control_outputs):
  """A runtime function of some of `graph`'s operations, made in C++.

  TensorFlow makes a function of a whole graph (`TF_GraphToFunction`, the
  operations passed as a list); a `FuncGraph` would have to hold just the
  needed operations first, and copying them into one builds a Python object
  per operation (engine/graph_prune.py). Here `operations` stay where they
  are. Checked on TF 2.21.

  Args:
    graph: the graph holding `operations`.
    operations: the function's body; their inputs are `inputs` or outputs
      of `operations`.
    inputs: tensors of `graph`, the function's arguments in order.
    outputs: tensors of `graph`, returned in order.
    control_outputs: operations run by each call.

  Returns:
    An `AtomicFunction`: `call_flat(*values)` returns the outputs' values,
    eagerly, or as a call op inside a traced function.
  """
  name = f'__inference_pruned_{ops.uid()}'
  with graph._c_graph.get() as c_graph:  # pylint: disable=protected-access
    function = pywrap_tf_session.TF_GraphToFunction_wrapper(
        c_graph, name, False,
        [op._c_op for op in operations],  # pylint: disable=protected-access
        [t._as_tf_output() for t in inputs],  # pylint: disable=protected-access
        [t._as_tf_output() for t in outputs],  # pylint: disable=protected-access
        [], [op._c_op for op in control_outputs],  # pylint: disable=protected-access
        [], None, '')
  bound_context = context.context()
  bound_context.add_c_function(function)
  pywrap_tf_session.TF_DeleteFunction(function)
  return _atomic_function(
      name, bound_context, inputs, outputs,
      children=list(graph._functions.values()),  # pylint: disable=protected-access
      is_stateful=any(op._is_stateful for op in operations),  # pylint: disable=protected-access
      cached_graph=_FunctionInputs(list(inputs)))


def function_of_zeros(input_dtypes, outputs):
  """A runtime function that ignores its arguments and returns zeros.

  engine/loops.py's step at end of input: the `If` that runs a step takes the
  step's arguments, variables included, in both branches. A function graph
  traced for this branch holds a placeholder per argument, built in Python
  (about 0.1 ms each: 0.3 s of a step's trace for 2,000 variables, measured),
  where this `FunctionDef` lists their dtypes. Checked on TF 2.21.

  Args:
    input_dtypes: the `tf.DType` of each argument.
    outputs: a `tf.TensorSpec` per output, its shape fully defined; numeric,
      bool or string.

  Returns:
    An `AtomicFunction`.
  """
  definition = _function_def('zeros', input_dtypes)
  for i, spec in enumerate(outputs):
    dtype = spec.dtype.as_datatype_enum
    zero = b'' if spec.dtype == dtypes.string else np.zeros(
        (), spec.dtype.as_numpy_dtype)
    # Fill, not a constant of the whole shape: a batch-sized stand-in of a
    # static shape would be stored in the function.
    for name, value in ((f'shape{i}', tensor_util.make_tensor_proto(
        spec.shape.as_list(), np.int32)), (f'zero{i}',
                                           tensor_util.make_tensor_proto(zero))):
      node = definition.node_def.add(name=name, op='Const')
      node.attr['dtype'].type = value.dtype
      node.attr['value'].tensor.CopyFrom(value)
    fill = definition.node_def.add(
        name=f'fill{i}', op='Fill',
        input=[f'shape{i}:output:0', f'zero{i}:output:0'])
    fill.attr['T'].type = dtype
    fill.attr['index_type'].type = dtypes.int32.as_datatype_enum
  return _registered(definition, input_dtypes,
                     [f'fill{i}:output:0' for i in range(len(outputs))],
                     outputs, children=[], is_stateful=False)


def function_on_optional(function, input_dtypes, batch, outputs):
  """A runtime function of `(optional, *rest)` calling `function(*value, *rest)`.

  engine/loops.py's step when its batch is there: the `If` that runs it
  takes the `tf.experimental.Optional` the iterator gave, rather than its
  value, which exists only in that branch. Getting the value in a `tf.cond`
  of its own cost a model of many features a `Switch` and a `Merge` per
  feature (dnn_dense's first predict 0.54-0.59 -> 0.59-0.62 s, measured).
  The optional must hold plain tensors: a dataset keeps a sparse or ragged
  component encoded, which `Optional.get_value` decodes in Python-built
  ops. Checked on TF 2.21.

  Args:
    function: an `AtomicFunction` of the batch's components, then the rest.
    input_dtypes: the `tf.DType` of each of `function`'s arguments.
    batch: a `tf.TensorSpec` per tensor of the optional's value.
    outputs: a `tf.TensorSpec` per output of `function`.

  Returns:
    An `AtomicFunction`.
  """
  # arg0 is the optional, then the arguments after the batch's.
  signature = [dtypes.variant] + list(input_dtypes[len(batch):])
  definition = _function_def('on_optional', signature)
  value = definition.node_def.add(name='value', op='OptionalGetValue',
                                  input=['arg0'])
  value.attr['output_types'].list.type.extend(
      [spec.dtype.as_datatype_enum for spec in batch])
  value.attr['output_shapes'].list.shape.extend(
      [spec.shape.as_proto() for spec in batch])
  call = definition.node_def.add(
      name='call', op='StatefulPartitionedCall',
      input=[f'value:components:{i}' for i in range(len(batch))] +
      [f'arg{i}' for i in range(1, len(signature))])
  call.attr['Tin'].list.type.extend(
      [dtype.as_datatype_enum for dtype in input_dtypes])
  call.attr['Tout'].list.type.extend(
      [spec.dtype.as_datatype_enum for spec in outputs])
  call.attr['f'].func.name = function.name.decode()
  # Run when its outputs are not used (an update op's step has none).
  definition.signature.control_output.append('call')
  definition.control_ret['call'] = 'call'
  return _registered(definition, signature,
                     [f'call:output:{i}' for i in range(len(outputs))],
                     outputs, children=[function] + list(function.children),
                     is_stateful=True)


# `pass_through`'s functions, by their arguments' dtypes.
_PASS_THROUGH = {}


def pass_through(inputs, name):
  """`inputs` as the outputs of one function call op named `name`.

  engine/iterator_names.py names a batch 2.15's `IteratorGetNext`; an
  `IdentityN` of its components was that op before, and graph walkers
  that step through identities took its first input for every output
  (K-FAC's layer matcher asserted that they were one tensor). A call of a
  function returning its arguments is no identity to them, and the
  runtime inlines it into the step. Its outputs keep the inputs' static
  shapes. Checked on TF 2.21.
  """
  input_dtypes = tuple(tensor.dtype for tensor in inputs)
  function = _PASS_THROUGH.get(input_dtypes)
  if function is None:  # one per signature: each registers with the context
    definition = _function_def('batch', input_dtypes)
    function = _PASS_THROUGH[input_dtypes] = _registered(
        definition, input_dtypes, [f'arg{i}' for i in range(len(inputs))],
        [tensor_spec.TensorSpec(None, dtype) for dtype in input_dtypes],
        children=[], is_stateful=False)
  ops.get_default_graph()._add_function_recursive(function)  # pylint: disable=protected-access
  outputs = gen_functional_ops.partitioned_call(
      inputs, input_dtypes, f=function.name.decode(), name=name)
  for output, tensor in zip(outputs, inputs):
    output.set_shape(tensor.shape)
  return outputs


def _function_def(kind, input_dtypes):
  """A new `FunctionDef` named for `kind`, its arguments `arg0`, `arg1`, ..."""
  definition = function_pb2.FunctionDef()
  definition.signature.name = f'__inference_{kind}_{ops.uid()}'
  for i, dtype in enumerate(input_dtypes):
    definition.signature.input_arg.add(name=f'arg{i}',
                                       type=dtype.as_datatype_enum)
  return definition


def _registered(definition, input_dtypes, returned, outputs, children,
                is_stateful):
  """`definition`, returning `returned` typed by `outputs`, as a runtime function."""
  definition.signature.is_stateful = is_stateful
  for i, (tensor, spec) in enumerate(zip(returned, outputs)):
    definition.signature.output_arg.add(name=f'output{i}',
                                        type=spec.dtype.as_datatype_enum)
    definition.ret[f'output{i}'] = tensor
  bound_context = context.context()
  bound_context.add_function_def(definition)
  return _atomic_function(
      definition.signature.name, bound_context,
      [tensor_spec.TensorSpec(None, dtype) for dtype in input_dtypes], outputs,
      children=children, is_stateful=is_stateful, cached_graph=None)


def _atomic_function(name, bound_context, inputs, outputs, children,
                     is_stateful, cached_graph):
  """An `AtomicFunction` of runtime function `name`, typed by its tensors."""
  signature = _function_type.FunctionType(
      [_function_type.Parameter(
          f'arg{i}', _function_type.Parameter.POSITIONAL_ONLY, False,
          tensor_spec.TensorSpec(t.shape, t.dtype))
       for i, t in enumerate(inputs)],
      return_annotation=trace_type.from_value(
          [tensor_spec.TensorSpec(t.shape, t.dtype) for t in outputs]))
  return atomic_function.AtomicFunction(
      name, bound_context, signature, children=children,
      call_options=atomic_function.CallOptions(is_stateful=is_stateful),
      cached_graph=cached_graph)


def call_if(predicate, inputs, then_function, else_function, outputs):
  """An `If` op calling one of two `AtomicFunction`s of `inputs`.

  `tf.cond` traces a function graph per branch, each holding a placeholder
  per tensor it captures, and calls the branch's functions from there: for a
  step of 2,000 variables, 0.9 s more trace and 0.35 s more first call than
  this `If`, whose branches are the functions themselves (measured,
  engine/loops.py). It is lowered into `Switch` and `Merge` ops as
  `tf.cond`'s are: not lowered, its first call is faster still (by 0.7 ms a
  variable), but Grappler's TFG pipeline crashed the process on one
  (`ControlFlowSinkPass`, a linear regressor's hooked step). Checked on
  TF 2.21.

  Args:
    predicate: a scalar bool tensor.
    inputs: the arguments of both functions.
    then_function: called when `predicate` is true.
    else_function: called otherwise; the same argument and output dtypes.
    outputs: a `tf.TensorSpec` per output: its dtype, and the static shape
      of both functions' outputs.

  Returns:
    `(operation, outputs)`: the `If` and a list of its outputs.
  """
  graph = ops.get_default_graph()
  graph._add_function_recursive(then_function)  # pylint: disable=protected-access
  graph._add_function_recursive(else_function)  # pylint: disable=protected-access
  result = gen_functional_ops._if(  # pylint: disable=protected-access
      predicate, inputs, [spec.dtype for spec in outputs],
      then_branch=then_function.name.decode(),
      else_branch=else_function.name.decode(),
      output_shapes=[spec.shape for spec in outputs])
  outputs = [] if isinstance(result, ops.Operation) else list(result)
  operation = outputs[0].op if outputs else result
  # As tf.cond's: lowered except where XLA or a single-threaded executor
  # runs it.
  control_flow_util_v2.maybe_set_lowering_attr(operation)
  return operation, outputs


def rewire_input(operation, index, tensor):
  """Makes `tensor` input `index` of `operation`, in place.

  The public API builds operations, never changes one; engine/
  sparse_lookups.py puts a `Snapshot` between a lookup and its indices.
  Checked on TF 2.21.
  """
  operation._update_input(index, tensor)  # pylint: disable=protected-access


def leave_unconverted(function):
  """Marks `function` to be run as written by autograph, and returns it.

  Keras has autograph convert a layer's `call` and a metric's methods when
  the class is not tf_keras' own, which costs each process's first graph
  tens of milliseconds for code with no tensor-dependent branches.
  `tf.autograph.experimental.do_not_convert` would stop it, but wraps the
  function in `(*args, **kwargs)`: Keras then no longer sees `call`'s
  `training` argument and passes it twice (2.15's rnn_test: "got multiple
  values for argument 'training'"), and autograph is turned off for
  everything the function calls, a user's layers included. This is the
  mark autograph puts on its own functions: the function itself, unwrapped.
  canned/rnn.py, canned/head/binary_class_head.py. Checked on TF 2.21.
  """
  return autograph_api.autograph_artifact(function)


# --- Variables --------------------------------------------------------------

# The class of resource variables, without the distributed ones that
# `tf.Variable` also covers: engine/tf1_graph_semantics.py gives the former
# TF1's hashing, io/large_variables.py releases only them. Not exported.
# Checked on TF 2.21.
BaseResourceVariable = resource_variable_ops.BaseResourceVariable


def reads_after_graph_assigns_named_by_op(cls):
  """Class attributes naming a variable's reads after its graph assigns.

  A resource variable's `assign*()` returns a lazy read (`_UnreadVariable`)
  whose name is its assign op's for a variable made in a graph, and
  'UnreadVariable' for an eager one. engine/tf1_graph_semantics.py adds
  these to the class of variables lifted out of a model graph (eager, but
  assigned in the graph), so their reads answer as in 2.15's tf.Graph.
  Checked on TF 2.21.

  Args:
    cls: the lifted variable's original class.
  """
  def _lazy_read(self, assign_op):
    unread = cls._lazy_read(self, assign_op)  # pylint: disable=protected-access
    if isinstance(assign_op, ops.Operation):
      unread._in_graph_mode = True  # pylint: disable=protected-access
    return unread

  return {'_lazy_read': _lazy_read}


# The variables `tf.saved_model.load` restores (TF-Hub's `hub.KerasLayer`,
# `hub.load`). In a TF1 graph they join GLOBAL_VARIABLES only, never
# TRAINABLE_VARIABLES: engine/graph_capture.py keeps that rule. Not
# exported. Checked on TF 2.21.
UninitializedVariable = resource_variable_ops.UninitializedVariable


def initializer_op(variable):
  """The initializer op a variable was made with, or None.

  Not `variable.initializer`, which engine/tf1_graph_semantics.py redefines
  for the variables it lifts out of a captured graph; engine/graph_capture.py
  and that module want the op a graph-made variable came with. Checked on TF
  2.21.
  """
  return getattr(variable, '_initializer_op', None)


def save_slice_info(variable):
  """A partition's `tf.Variable.SaveSliceInfo` (its slice of the whole).

  None for a variable that is not a partition: TF1 partitioned variables
  carry one; no public API reads it (or sets it,
  see `set_save_slice_info`). io/checkpoints.py, warm_starting.py,
  engine/tf1_graph.py. Checked on TF 2.21.
  """
  return getattr(variable, '_save_slice_info', None)


def set_save_slice_info(variable, info):
  """Makes `variable` a partition saved as `info`'s slice of its variable."""
  variable._set_save_slice_info(info)


def resource_variable_from_proto(variable_def):
  """The resource variable a `VariableDef` describes, in the default graph.

  Its ops must be in that graph already (as `import_meta_graph` leaves
  them). No public API makes one from its ops; engine/tf1_graph.py imports
  the ops of many variables at once. Checked on TF 2.21.
  """
  return resource_variable_ops.ResourceVariable.from_proto(variable_def)


def regularize_new_legacy_layer_weights(layer_class, when):
  """A legacy layer's regularizer applies to weights it created, as in TF1.

  `layer_class` is `tf.compat.v1.layers.Layer` (tf_keras' legacy layers).
  Its `add_weight` regularizes a weight only if it did not reuse it, judged
  from the graph's global variables; in a function graph over an eager
  context it skips that check while `tf.compat.v1.
  executing_eagerly_outside_functions()` is True. A model graph answers
  False there (2.15's tf.Graph did), and `tf.compat.v1.layers.dense(...,
  kernel_regularizer=...)` failed with UnboundLocalError. While `when()`,
  `add_weight` runs without the regularizer, which is then added as tf_keras
  adds it in a tf.Graph: to a weight none of whose parts was among the
  graph's global variables before. engine/tf1_graph_semantics.py. Checked
  on TF 2.21 with tf_keras 2.21.
  """
  original = layer_class.add_weight

  def add_weight(layer, name, shape, dtype=None, initializer=None,
                 regularizer=None, *args, **kwargs):
    if regularizer is None or layer._keras_style or not when():
      return original(layer, name, shape, dtype, initializer, regularizer,
                      *args, **kwargs)
    existing = set(ops.get_default_graph().get_collection(
        ops.GraphKeys.GLOBAL_VARIABLES))
    weight = original(layer, name, shape, dtype, initializer, None, *args,
                      **kwargs)
    parts = (list(weight) if isinstance(weight, list) or
             hasattr(weight, '_variable_list') else [weight])
    if not any(part in existing for part in parts):
      layer._handle_weight_regularization(name, weight, regularizer)
    return weight

  layer_class.add_weight = add_weight


def v1_layer(layer_class, name, **kwargs):
  """A `tf.compat.v1.layers` layer as that module's function would make it.

  E.g. `v1_layer(tf.compat.v1.layers.Dense, 'logits', units=3)(net)` is
  `tf.compat.v1.layers.dense(net, 3, name='logits')`: the functions build
  their layer in the variable scope `name` itself (the private `_scope`),
  not a uniquified one. tf_keras's functions also warn (a UserWarning per
  call) where TF 2.15's logged, which failed a canned DNN's train() run
  with warnings as errors.
  """
  return layer_class(name=name, _scope=name, **kwargs)


def create_v1_slots_in(graph_of):
  """A v1 optimizer's slot variables are made in the graph that needs them.

  `tf.compat.v1.train.Optimizer.apply_gradients` makes its slots under
  `init_scope`, which lifts a function graph's code to the eager context,
  and there `get_variable` neither keeps nor reuses variables by name. So a
  second optimizer minimizing under `variable_scope(reuse=AUTO_REUSE)`
  (Neural Structured Learning's estimator wrappers) got slots
  `<var>/Adagrad_1` where 2.15's tf.Graph shared `<var>/Adagrad`. While
  `graph_of()` returns a graph (the one an `init_scope` lifted from), each
  slot's `get_variable` runs in it, as in a tf.Graph. No public API reaches
  slot creation. engine/tf1_graph_semantics.py. Checked on TF 2.21.
  """
  original = slot_creator._create_slot_var

  def create_slot_var(*args, **kwargs):
    graph = graph_of()
    if graph is None:
      return original(*args, **kwargs)
    with graph.as_default():
      return original(*args, **kwargs)

  slot_creator._create_slot_var = create_slot_var


# --- Checkpoints and saveables ----------------------------------------------

# The proto of a directory's `checkpoint` state file, which io/checkpoints.py
# parses from the text it read itself (`tf.train.get_checkpoint_state` reads
# the file with its own error handling). Not exported. Checked on TF 2.21.
CheckpointState = checkpoint_state_pb2.CheckpointState

# Writes a `checkpoint` state file: what the deprecated
# `tf.compat.v1.train.update_checkpoint_state` calls, without the deprecation
# warning it logs in the user's run. io/checkpoints.py. Checked on TF 2.21.
update_checkpoint_state = (
    checkpoint_management.update_checkpoint_state_internal)

# Variable name -> key in an object-based checkpoint, which a v1 Saver uses
# to read one by names. No public equivalent. io/checkpoints.py. Checked on
# TF 2.21.
object_graph_key_mapping = saver_lib.object_graph_key_mapping


def frozen_saveable_objects(root):
  """The saveables `root`'s object graph writes, the serialized graph's too.

  Keyed by object path. What `Scaffold.finalize` gave a v1 Saver for a
  `tf.train.Checkpoint` saver, and what 2.15's Keras estimators saved with
  one for a model; no public API lists them. io/checkpoint_layout.py,
  keras_lib.py. Checked on TF 2.21.
  """
  return graph_view.ObjectGraphView(root).frozen_saveable_objects()


def is_saveable_object(value):
  """Whether `value` is a `SaveableObject` (as `frozen_saveable_objects`)."""
  return isinstance(value, _saveable_object.SaveableObject)


def saveable_variable(saveable):
  """The variable a saveable of `frozen_saveable_objects` saves, or its op.

  A mirrored variable's (a distribution strategy's) saveable holds the
  variable apart; its `op` is a function that reads it. io/
  checkpoint_layout.py. Checked on TF 2.21.
  """
  return getattr(saveable, '_mirrored_variable', saveable.op)


def track(owner, trackable, name):
  """Makes `trackable` the child `name` of `owner` in its object graph.

  The public way, attribute assignment, cannot give names a Keras model
  tracks its own way (2.15's 'estimator_global_step'); keras_lib.py.
  Checked on TF 2.21.
  """
  owner._track_trackable(trackable, name, overwrite=True)


def saver_var_list(saver):
  """What a v1 `Saver` saves: its var_list (a list or a dict), or None.

  None stands for every variable, in a Saver not built yet. The Saver has no
  public getter for it. io/checkpoint_layout.py. Checked on TF 2.21.
  """
  return saver._var_list


def saver_retention(saver):
  """A v1 `Saver`'s `(max_to_keep, keep_checkpoint_every_n_hours)`.

  The Saver has no public getters for them. io/checkpoint_layout.py.
  Checked on TF 2.21.
  """
  return saver._max_to_keep, saver._keep_checkpoint_every_n_hours


# --- Datasets ---------------------------------------------------------------


def iterator_resource(iterator):
  """The resource handle of an eager dataset iterator.

  A function input fed with it reads that iterator; no public API gives it.
  engine/one_shot_iterators.py. Checked on TF 2.21.
  """
  return iterator._iterator_resource


def also_capture_by_value(op_types, when):
  """Lets one-shot iterators copy ops of `op_types` into their datasets.

  `make_one_shot_iterator` in a graph copies the dataset's ops into a
  factory function and refuses stateful ones TF does not list. Inside a
  function graph, TF2's `Dataset.shuffle` (and `Dataset.random`) take a
  `DummySeedGenerator` op, which is not listed; in 2.15's tf.Graph they had
  none. The ops are added only while `when()` is true. No public API
  changes the list. engine/tf1_graph_semantics.py. Checked on TF 2.21.
  """
  tf_ops = _dataset_traverse.obtain_capture_by_value_ops

  def capture_by_value_ops(dataset):
    ops_list = tf_ops(dataset)
    if when():
      ops_list += _dataset_traverse._traverse(
          dataset, lambda op: op.type in op_types)
    return ops_list

  _dataset_traverse.obtain_capture_by_value_ops = capture_by_value_ops


# --- Distribute -------------------------------------------------------------


def add_collective_ordering_tokens(strategy):
  """Gives the collectives of a strategy made in a TF1 graph their tokens.

  A `CollectiveReplicaLauncher` orders its all-reduces with a variable it
  creates only when made with eager execution outside functions; one made
  after `disable_v2_behavior()` has none, and its first all-reduce in a
  function failed ("'NoneType' object has no attribute 'handle'"):
  `MirroredStrategy(['/gpu:0'])` in a TF1 program. engine/distribution.py.
  Checked on TF 2.21.
  """
  extended = strategy.extended
  for ops_object in {id(o): o for o in (
      getattr(extended, '_collective_ops', None),
      getattr(extended, '_cross_device_ops', None)) if o is not None}.values():
    for launcher in getattr(ops_object, '_launchers', ()):
      if getattr(launcher, '_ordering_token', False) is None:
        with ops.init_scope(), ops.device(launcher._device):
          launcher._ordering_token = resource_variable_ops.ResourceVariable(0.)


def start_collective_server(strategy):
  """Starts this worker's server for a multi-worker strategy made in a graph.

  `MultiWorkerMirroredStrategy` starts the worker's server (and with it the
  cluster's devices) only when made with eager execution on; TensorFlow's
  multi-worker Estimator tutorial makes it after `disable_eager_execution()`,
  where 2.15's session runner started the server. Without one, the engine's
  eager steps fail: "/job:worker/replica:0/task:0/device:CPU:0 unknown
  device". So do they in a TF_CONFIG cluster of one task (kubeflow's
  keras_model_to_estimator example run as a lone chief): its devices are
  named by job too. Done as the strategy's own eager path does (same
  ServerDef, from its session config); collectives cannot be configured
  once the context exists, and need not be: the ServerDef carries the group
  leader. Strategies without a cluster (MirroredStrategy) are left alone.
  engine/distribution.py. Checked on TF 2.21.
  """
  extended = strategy.extended
  resolver = strategy.cluster_resolver
  if (getattr(extended, '_std_server_started', False)
      or getattr(extended, '_local_or_standalone_client_mode', False)
      or resolver is None or not resolver.cluster_spec().as_dict()):
    return
  eager = context.context()
  server_def = tensorflow_server_pb2.ServerDef(
      cluster=resolver.cluster_spec().as_cluster_def(),
      default_session_config=extended._update_config_proto(eager.config),
      job_name=resolver.task_type, task_index=resolver.task_id,
      protocol=resolver.rpc_layer or 'grpc',
      port=getattr(resolver, 'port', 0))
  eager.enable_collective_ops(server_def)
  eager.ensure_initialized()
  extended._std_server_started = True


def in_multi_worker_mode(strategy):
  """Whether a (mirrored) strategy runs in step with other workers.

  The public API has no such query for the v1 and v2 strategy classes
  alike. engine/distribution.py. Checked on TF 2.21.
  """
  return strategy.extended._in_multi_worker_mode()


# The next instance key no captured graph has used, over all strategies.
# Each strategy numbers its collectives from the same start (100), and the
# runtime keeps an instance's shape for the process: a second
# MirroredStrategy's model of other shapes failed with "Shape mismatch in
# the collective instance" (tensorflow/models' official/r1 ResNet-50, then
# ResNet-18, each Estimator with a MirroredStrategy of its own).
_unused_instance_key = [0]


@contextlib.contextmanager
def collective_keys_fixed_at_trace_time(strategy):
  """Collectives built in the block get instance keys fixed at trace time.

  TensorFlow's default, keys drawn at each call, is a deferred capture that
  a pruned wrapped graph cannot carry; there is no public switch. The keys
  are unique in the process: `strategy` numbers on from the last key any
  strategy gave out here. engine/distribution.py. Checked on TF 2.21.
  """
  # pylint: disable=protected-access
  launcher = cross_device_utils.CollectiveReplicaLauncher
  saved = launcher._prefer_unique_instance_key
  launcher._prefer_unique_instance_key = False
  keys = getattr(strategy.extended, '_collective_keys', None)
  # {group key: {device: next instance key}}, one counter per replica.
  table = keys._instance_key_table if keys is not None else {}
  for counters in table.values():
    for device, key in counters.items():
      counters[device] = max(key, _unused_instance_key[0])
  try:
    yield
  finally:
    launcher._prefer_unique_instance_key = saved
    _unused_instance_key[0] = max(
        [_unused_instance_key[0]] +
        [key for counters in table.values() for key in counters.values()])


def scale_loss_for_estimator(strategy):
  """A context where v1 optimizers scale the loss by the replica count.

  What TensorFlow switched on for 2.15's Estimators; not public.
  engine/distribution.py. Checked on TF 2.21.
  """
  return strategy._scale_loss_for_estimator_enabled()


def is_loss_scaled_by_optimizer(graph):
  """Whether a v1 optimizer in `graph` scaled the loss per replica.

  The optimizer records it on the graph only. engine/distribution.py.
  Checked on TF 2.21.
  """
  return getattr(graph, '_is_loss_scaled_by_optimizer', False)


def distribute_values_from_function(strategy, value_fn):
  """`strategy.experimental_distribute_values_from_function`, for v1 too.

  Through `extended`: the v1 strategy classes (tf.compat.v1.distribute, what
  the migration guide uses) lack the public v2 method.
  engine/distribution.py. Checked on TF 2.21.
  """
  return strategy.extended._experimental_distribute_values_from_function(
      value_fn)


def variable_partitioner(strategy):
  """A `ParameterServerStrategy`'s `variable_partitioner`, or None.

  Given to the constructor, not readable publicly.
  engine/parameter_servers.py. Checked on TF 2.21.
  """
  return strategy.extended._variable_partitioner


def ps_create_variable(strategy, next_creator, **kwargs):
  """Creates a variable on a `ParameterServerStrategy`'s next ps task in turn.

  The strategy's own placement, which it applies publicly only to variables
  created in `strategy.scope()`; engine/parameter_servers.py places the
  variables of a graph captured outside it. Checked on TF 2.21.
  """
  return strategy.extended._create_variable(next_creator, **kwargs)


def ps_variable_creator(strategy, next_creator, **kwargs):
  """The strategy's creator of such a variable, leaving placement to the caller.

  engine/parameter_servers.py calls it under the `tf.device` of the ps task a
  `colocate_with` asked for (see `ps_create_variable`). Checked on TF 2.21.
  """
  return strategy.extended._create_var_creator(next_creator, **kwargs)


def ps_num_workers(strategy):
  """How many workers a `ParameterServerStrategy`'s cluster has.

  Not public. engine/parameter_servers.py. Checked on TF 2.21.
  """
  return strategy._num_workers


def coordinator_workers(coordinator):
  """A `ClusterCoordinator`'s workers, in task order.

  Public only through `create_per_worker_dataset`, which traces one dataset
  function for all workers; engine/parameter_servers.py creates each
  worker's iterator itself. Checked on TF 2.21.
  """
  return coordinator._cluster.workers


def set_iterator_spec(remote_iterator, strategy, dataset):
  """Gives a worker's iterator resource the type spec of `dataset`'s iterator.

  Functions scheduled on the coordinator are traced against it;
  `create_per_worker_dataset` sets it the same way.
  engine/parameter_servers.py. Checked on TF 2.21.
  """
  remote_iterator._type_spec = input_lib.get_iterator_spec_from_dataset(
      strategy, dataset)


# The per-worker iterator `create_per_worker_dataset` returns, made of
# iterators created one per worker. Not exported. engine/parameter_servers.py.
# Checked on TF 2.21.
PerWorkerDistributedIterator = coordinator_values.PerWorkerDistributedIterator

# Whether an error of a scheduled function means a lost worker (which the
# coordinator retries around) rather than a lost ps task. Not public.
# engine/parameter_servers.py. Checked on TF 2.21.
is_worker_failure = cluster_coordinator._is_worker_failure

# TensorFlow's server module: train_eval/executor.py starts
# `server_lib.Server`, looked up at call time on this module, where tests
# replace it; `tf.distribute.Server` is the same class under another module.
# Checked on TF 2.21.
server_lib = _server_lib

# --- Summaries and events ---------------------------------------------------

# Writes a serialized `Event` (a graph, a meta graph) with the default
# summary writer; the public `tf.summary` writes `Summary` values only.
# io/summaries.py. Checked on TF 2.21.
import_event = summary_ops_v2.import_event


def legacy_summary_writers():
  """`(init_ops, flush_ops)` of the default graph's tf.contrib.summary writers.

  A graph-mode `summary_ops_v2.create_file_writer` (tf.contrib.summary's,
  which BERT-era host calls used) only adds its writer's init op to a
  collection; 2.15's host-call hook ran them and flushed the writers at the
  end (tpu/spec.py). Builds the flush ops. Checked on TF 2.21.
  """
  init_ops = summary_ops_v2.summary_writer_initializer_op()
  return init_ops, [summary_ops_v2.legacy_raw_flush(writer=op.inputs[0])
                    for op in init_ops]


def v1_summaries_build_v1_ops_when(when):
  """While `when()`, v1 summary functions build their ops as in a tf.Graph.

  Outside a tf.Graph `tf.compat.v1.summary.scalar` & co. first look for a
  default TF2 writer to act as TF2 summaries, and without one warn (a
  UserWarning: 'Cannot activate TF2 compatibility support for TF1 summary
  ops') before building the v1 op. 2.15's model graph was a tf.Graph: they
  built it at once, silently. Programs run with warnings as errors failed.
  engine/tf1_graph_semantics.py. Checked on TF 2.21.
  """
  original = _summary_v1._should_invoke_v2_op

  def should_invoke_v2_op():
    return False if when() else original()

  _summary_v1._should_invoke_v2_op = should_invoke_v2_op


# TensorFlow's in-process usage gauges. 2.15's estimator module had one that
# libraries set (TF Privacy's DP canned estimators); no public API makes
# one. estimator.py. Checked on TF 2.21.
StringGauge = monitoring.StringGauge

# --- SavedModel utilities ---------------------------------------------------

# TensorFlow's module of export outputs, and its mode keys: 2.15's
# `tf.estimator.export.*Output` classes were TensorFlow's own, and
# TensorFlow's signature building (below) checks against them; model_fn.py's
# `ModeKeys` subclasses `EstimatorModeKeys`. TensorFlow 2.21 does not export
# them. model_fn.py (which has the module as `export_output_lib`, where
# canned/head/base_head.py reads it). Checked on TF 2.21.
export_output = _export_output
EstimatorModeKeys = mode_keys.EstimatorModeKeys

# A mode's export outputs and the SignatureDefs of a SavedModel, as 2.15's
# Estimator built them; TensorFlow 2.21 does not export them.
# runs/exporting.py. Checked on TF 2.21.
export_outputs_for_mode = export_utils.export_outputs_for_mode
build_all_signature_defs = export_utils.build_all_signature_defs

# --- Training hooks ---------------------------------------------------------

# The base class TF's v1 `Saver.save` and `restore` require of their session
# ("'sess' must be a Session"); hooks pass them `run_context.session`, a
# save-the-best-model hook's own Saver, AdaNet's checkpoint overwrite.
# session_emulation/session.py. Checked on TF 2.21.
SessionInterface = _session.SessionInterface


@contextlib.contextmanager
def session_runs_answered_by(answer):
  """`answer(session, fetches, feed_dict)` runs v1 sessions' `run` in the block.

  It returns the run's result, or `NotImplemented` for the session to run
  as usual. `Tensor.eval()` and `Operation.run()` call `run` too. A
  model_fn's session on its own graph (session_emulation/
  model_fn_sessions.py) is made by the program, as a `tf.compat.v1.Session`
  of TF's own: no public API runs it in its place. Checked on TF 2.21.
  """
  original = _session.BaseSession.run

  def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
    result = answer(self, fetches, feed_dict)
    if result is NotImplemented:
      return original(self, fetches, feed_dict, options, run_metadata)
    return result

  _session.BaseSession.run = run
  try:
    yield
  finally:
    _session.BaseSession.run = original


# The context manager `Session.as_default()` returns: makes a session the
# one `Tensor.eval()` and `Operation.run()` use. session_emulation/
# session.py gives hooks' sessions the same. Checked on TF 2.21.
default_session = _stack.default_session

# The hook `SyncReplicasOptimizer.make_session_run_hook()` returns:
# session_emulation/hook_runner.py refuses it by name. Not exported. Checked
# on TF 2.21.
SyncReplicasOptimizerHook = _sync_replicas._SyncReplicasOptimizerHook  # pylint: disable=protected-access

# TensorFlow's module of the v1 session-run hooks: train_eval/evaluation.py
# makes its `SecondOrStepTimer` looked up at call time on this module, where
# tests and libraries patch it (`tf.compat.v1.train` is another module).
# Checked on TF 2.21.
basic_session_run_hooks = _basic_session_run_hooks

# The step counters of TF's own hooks (`hook_timer` to `last_step`): from
# them session_emulation/hook_schedule.py predicts which coming steps a hook
# ignores (to run those compiled), then advances the hook as if it had seen
# them. The hooks keep them private. Checked on TF 2.21.


def hook_timer(hook):
  """The timer of a `LoggingTensorHook`, `StepCounterHook`,
  `CheckpointSaverHook` or `SummarySaverHook`."""
  return hook._timer


def timer_every_secs(timer):
  """A `SecondOrStepTimer`'s `every_secs` (None if it counts steps)."""
  return timer._every_secs


def timer_every_steps(timer):
  """A `SecondOrStepTimer`'s `every_steps` (None if it counts seconds)."""
  return timer._every_steps


def timer_last_time(timer):
  """A `SecondOrStepTimer`'s `time.time()` when it last triggered (or None)."""
  return timer._last_triggered_time


def iter_count(hook):
  """The steps a `LoggingTensorHook` has seen since its `begin`."""
  return hook._iter_count


def advance_iter_count(hook, steps):
  """Makes a `LoggingTensorHook` count `steps` more seen steps."""
  hook._iter_count += steps


def summary_next_step(hook):
  """The global step a `SummarySaverHook` expects after its next step (None
  before its first step)."""
  return hook._next_step


def advance_summary_next_step(hook, steps):
  """Makes a `SummarySaverHook` expect `steps` more steps run."""
  if hook._next_step is not None:
    hook._next_step += steps


def last_step(hook):
  """The global step a `StopAtStepHook` stops at (once it knows)."""
  return hook._last_step


def nan_hook_tensor(hook):
  """The tensor a `NanTensorHook` checks."""
  return hook._loss_tensor


def wait_until_step(hook):
  """The step a `GlobalStepWaiterHook` waits for.

  Not public; engine/parameter_servers.py refuses a hook that would wait
  forever on the chief. Checked on TF 2.21.
  """
  return hook._wait_until_step


def logging_hook_tensors(hook):
  """A `LoggingTensorHook`'s tag -> tensor (or name, or variable) dict.

  session_emulation/hook_runner.py points its variables at their reads in
  the captured graph before `begin`, changing this dict in place; the hook
  keeps the dict private. Checked on TF 2.21.
  """
  return hook._tensors


def checkpoint_hook_saver(hook):
  """The saver a `CheckpointSaverHook` was given (itself or by a Scaffold).

  None when it looks one up in the SAVERS collection. Checked on TF 2.21.
  """
  if hook._saver is not None:
    return hook._saver
  return hook._scaffold.saver if hook._scaffold is not None else None


def checkpoint_hook_graph_dir(hook):
  """Where a `CheckpointSaverHook` writes graph.pbtxt, or None if it does
  not (`save_graph_def=False`). Checked on TF 2.21."""
  return hook._checkpoint_dir if hook._save_graph_def else None


def add_saving_listeners(hook, listeners):
  """Adds `CheckpointSaverListener`s to a `CheckpointSaverHook`.

  Public only as a constructor argument; runs/checkpointing.py gives a
  user's hook the listeners passed to train(), as 2.15 did. Checked on TF
  2.21.
  """
  hook._listeners.extend(listeners)


_NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= '2.0.0.dev0'


def _asarray_wrapping_overflow(values, dtype=None, order=None, copy=None):
  """TF's `numpy_compat.np_asarray`, with NumPy's version known beforehand.

  Its contract: under NumPy 2 a numeric `dtype` is applied after the
  conversion (`astype`), so out-of-range values wrap as they did under
  NumPy 1 instead of raising OverflowError; anything else is `np.asarray`.
  """
  if not _NUMPY_2:
    return np.asarray(values, dtype=dtype, order=order)
  if dtype is not None and np.issubdtype(dtype, np.number):
    return np.asarray(values, order=order, copy=copy).astype(dtype, copy=copy)
  return np.asarray(values, dtype=dtype, order=order, copy=copy)


def decide_numpy_version_once():
  """Stops TF from parsing NumPy's version in each `np_asarray` call.

  TF 2.21's `numpy_compat.np_asarray` compares `np.__version__` with
  '2.0.0.dev0' through `np.lib.NumpyVersion` on every call (12 us against
  0.6 us for the conversion itself). It converts each value a `py_func` or
  `numpy_function` returns, so it runs for every element a
  `Dataset.from_generator` yields: a generator input, common in legacy
  input_fns, drew 457-497 us an element against 2.15's 327-367 us, and
  352-396 us with the check made once (6 processes each, alternating).
  Installed by `install()`; TF's other callers (the v1 Session's feeds,
  tensor protos of half floats) get the same values faster. TF's own
  modules call it as `numpy_compat.np_asarray`, so rebinding the module's
  attribute reaches them all. Checked on TF 2.21.
  """
  _numpy_compat.np_asarray = _asarray_wrapping_overflow
