"""Captures a TF1-style `model_fn` once as a TF2 function graph.

The model_fn runs inside `tf.compat.v1.wrap_function`, so graph-mode idioms
(`get_variable`, v1 layers, metrics, optimizers, collections, tensor names)
behave as they did under a v1 Session. Every variable it creates is lifted out
of the graph as a TF2 resource variable and recorded under its TF1 name, which
is also its checkpoint key. Fetching anything from the graph later goes through
`function_for`, which prunes the graph to a concrete function computing just
those fetches from the batch placeholders; pruned functions are cached, so the
graph is traced once per mode and input signature.
"""

import collections
import contextlib
import functools
import random
import types
import warnings
import weakref

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import batch_checks
from tfcompat_estimator.engine import distribution
from tfcompat_estimator.engine import feature_keys
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import graph_saveables
from tfcompat_estimator.engine import iterator_names
from tfcompat_estimator.engine import keras_names
from tfcompat_estimator.engine import loops
from tfcompat_estimator.engine import python_seeds
from tfcompat_estimator.engine import random_streams
from tfcompat_estimator.engine import short_runs
from tfcompat_estimator.engine import tf1_graph_semantics
# Without TensorBoard, TF2 summary calls in a model_fn write nothing, as on
# 2.15 (importing it puts that in place).
from tfcompat_estimator.engine import v2_summaries  # pylint: disable=unused-import
from tfcompat_estimator.io import checkpoint_layout
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.session_emulation import model_fn_sessions

_v1 = tf.compat.v1
_GLOBAL_STEP_READ_KEY = 'global_step_read_op_cache'  # TF's training_util key
# A TF1 summary op built while an eager program traces a model_fn warns
# that no TF2 summary writer is active; under 2.15 (graph mode) none did, and
# the summaries are written as 2.15 wrote them. The filter is set once: a
# `warnings.catch_warnings()` around each capture would reset Python's
# record of warnings already shown, so a model_fn's deprecation warnings
# would be printed again on every call.
warnings.filterwarnings(
    'ignore', 'Cannot activate TF2 compatibility support for TF1 summary ops',
    module='tensorflow.python.summary.summary', append=True)

# What a captured graph's variables hold (`CapturedModel.holds`), when not
# the values of a checkpoint (then they hold that checkpoint's identity).
HOLDS_INITIAL_VALUES = 'initial values'
HOLDS_CHANGED_VALUES = 'values matching no checkpoint'


class CapturedModel:
  """The model graph of one mode, its variables and its `EstimatorSpec`."""

  def __init__(self, model_fn, mode, features_spec, labels_spec, params,
               config, initial_values=None, values_overwritten=False,
               keras_names_taken=None, op_seeds_drawn=0, short_run=False,
               batch_op_name=None):
    """`initial_values` (a `checkpoints.InitialValues`) seeds large variables.

    `values_overwritten`: the caller will set every global variable (from a
    checkpoint or another graph), so their initializers' values do not matter.
    `keras_names_taken`: the tf_keras names the input_fn took
    (`keras_names.call`), which the model_fn's go on after.
    `op_seeds_drawn`: how many op seeds the input_fn's unseeded random ops
    took (`tf_internals.op_seeds_drawn`), which the model_fn's go on after.
    `short_run`: the graph serves a training run too short to pay for
    costly compiles (`short_runs`); model code then builds its plain graph.
    `batch_op_name`: the op whose outputs the batch was in 2.15's graph
    (an iterator's `IteratorGetNext`), if one op's (`iterator_names`).
    """
    self.mode = mode
    # Whether model code built plain what a longer run would compile.
    self.skipped_compiles = False
    self.features_spec = features_spec
    self.labels_spec = labels_spec
    self._variables = collections.OrderedDict()  # checkpoint key -> variable
    self._variable_names = set()  # the names variables were created with
    self._name_variables = False  # in the graph, once the engine named its ops
    self._initial_values = initial_values
    self._loaded = {}  # key -> initializer, of variables created from a checkpoint
    self.fed_variables = []  # names of variables initialized by a feed
    self._initialized_in_graph = []  # variables whose initial value it computes
    self._prune_cache = {}
    # Read tensor name -> the variable whose plain read it is (`values_now`).
    self._plain_reads = {}
    self._read_args = {}  # id(variable) -> its ReadVariableOp's (`_read_now`)
    self._released = set()  # names of ops built for calls that ended
    # {writer op name: names of the reads it now waits for}: the edges
    # `gate_global_step_writes` added, which 2.15's graph did not have.
    self.step_gates = {}
    self._users = 0  # calls running this graph now (e.g. predict generators)
    self.holds = HOLDS_INITIAL_VALUES  # kept by `runs.model_graphs`
    self.spec = None
    # TF2 summary writers the model_fn made: eager resources its graph
    # uses, which 2.15's session kept alive; flushed as each call ends.
    self.summary_writers = []
    # A train step's random ops draw from streams its compiled copies share.
    self.random_streams = random_streams.RandomStreams()

    def call(features, labels):
      features, labels = batch_checks.non_empty(features, labels, mode)
      # Legacy model_fns add to their input dicts (TF-Ranking does); they
      # are the traced function's arguments here, which TF forbids mutating.
      features = (dict(feature_keys.decode(features))
                  if isinstance(features, dict) else features)
      labels = dict(labels) if isinstance(labels, dict) else labels
      with tf_internals.summary_writers_made(self.summary_writers):
        return model_fn_lib.call_model_fn(model_fn, features, labels, mode,
                                          params, config)

    # Under a strategy the model_fn runs once per local replica, each with
    # its own batch (see `distribution`).
    strategy = distribution.strategy_for(mode, config)
    per_batch = 1 if labels_spec is None else 2
    replicas = distribution.local_replicas(strategy)
    # Under a strategy each replica's batch had a name of its own.
    if distribution.replicates(strategy):
      batch_op_name = None

    def build(*batch):
      batches = [(batch[i:i + per_batch] + (None,))[:2]
                 for i in range(0, len(batch), per_batch)]
      tf1_graph_semantics.mark(_v1.get_default_graph())
      if tf_internals.control_flow_v1_switched_on():
        tf_internals.build_v1_control_flow_in(_v1.get_default_graph())
      keras_names.continue_after(_v1.get_default_graph(), keras_names_taken)
      batch_checks.check_batches_of(_v1.get_default_graph())
      with tf.variable_creator_scope(self._record_variable):
        # A function graph inherits the eager global seed; 2.15's model_fn
        # graph had only the config's (None without one), and the op seeds
        # after its input_fn's (see `_record_variable`).
        _v1.get_default_graph().seed = config.tf_random_seed
        tf_internals.continue_op_seeds(_v1.get_default_graph(),
                                       op_seeds_drawn)
        self.global_step = _v1.train.get_or_create_global_step()
        # One read shared by TF's hooks (via the collection they consult) and
        # ours; the train op waits for it, so hooks always see the pre-step
        # value (2.15 left this order to chance).
        # Its read's ops under the variable's scope, as 2.15's read was:
        # at the root they took names (`Identity`) of the model_fn's ops.
        with tf.name_scope('global_step/'):
          read = self.global_step.read_value()
        self.global_step_read = tf.identity(read, name='global_step')
        _v1.add_to_collection(_GLOBAL_STEP_READ_KEY, self.global_step_read)
        self._name_variables = True
        if distribution.replicates(strategy):
          self.spec = distribution.replicated_spec(strategy, call, batches)
        else:
          batch = batches[0]
          if batch_op_name:
            batch = iterator_names.name_batch(*batch, batch_op_name)
          with tf1_graph_semantics.running_model_code(_v1.get_default_graph()):
            self.spec = call(*batch)
        # What fetches of the variable itself give. Under TF1's switches
        # 2.15's global step was a reference variable: fetched in a run of
        # the train op it gave the value after the step (a hook's log of
        # `get_global_step()` says "step = 1" for the first step), while
        # its read (StopAtStepHook's) gave the value before (see `_pruned`).
        self.global_step_value = self.global_step_read
        self._plain_reads[self.global_step_read.name] = self.global_step
        # A train_distribute strategy's variables were resource variables
        # even there (a parameter-server cluster without one had
        # between-graph reference variables).
        if not (_v1.resource_variables_enabled() or
                config.train_distribute is not None):
          self.global_step_value = tf.identity(self.global_step_read,
                                               name='global_step_value')
          self._plain_reads[self.global_step_value.name] = self.global_step
        # Hooks get the variable, as in 2.15 (AdaNet's assign to it);
        # fetched, it gives `global_step_value` (`as_graph_element`).
        global_step_list = _v1.get_collection_ref(_v1.GraphKeys.GLOBAL_STEP)
        global_step_list[:] = [self.global_step]
        # Run as a target op: a Tensor train_op (e.g. an assign's value) whose
        # output nobody uses would be pruned away inside compiled loops.
        self.train_op = getattr(self.spec.train_op, 'op', self.spec.train_op)
        writers = self.gate_global_step_writes()
        self.steps_advance_global_step_by_one = (
            self.train_op is None or _adds_one(writers, self.train_op))
        self._build_mode_extras()
        batch_checks.place(_v1.get_default_graph(), lambda: _writers(
            self._variables.values()) + _summaries())

    signature = ([features_spec] + ([labels_spec] if labels_spec is not None
                                    else [])) * replicas
    if batch_op_name:
      signature = iterator_names.named_signature(signature, batch_op_name)
    # The variables' initializers run eagerly, so they draw from the global
    # seed. Setting it also drops every compiled function's kernels in the
    # process (0.3 s to rebuild a canned DNN's eval loop), so it is set only
    # where the initializers decide the values.
    if config.tf_random_seed is not None and not values_overwritten:
      tf.random.set_seed(config.tf_random_seed)
    # tf_keras' initializers without a seed take theirs from Python's
    # `random` (2.15's Keras too): unless the program seeded it, a seeded
    # model with Keras layers (the canned RNNs' cells) started from other
    # values at every run (`python_seeds`).
    keras_seeds = (None if config.tf_random_seed is None or
                   python_seeds.program_seeded() else
                   random.Random(config.tf_random_seed))
    # Not under a strategy: its replicas' steps run on other devices or
    # hosts than a state variable made here.
    streams = (self.random_streams.building()
               if mode == model_fn_lib.ModeKeys.TRAIN and strategy is None
               else contextlib.nullcontext())
    with distribution.capture_scope(strategy), (
        tf_internals.keras_seeds_from(keras_seeds)), streams, (
            short_runs.capturing(short_run)) as capture, (
                model_fn_sessions.answered_while_capturing(
                    self._variables.values, self.random_streams.restart)):
      self._wrapped = _v1.wrap_function(build, signature=signature)
    for variable in self._initialized_in_graph:  # their initializers run below
      tf1_graph_semantics.value_on_first_read(variable, None)
    self.skipped_compiles = capture.skipped_compiles
    self.graph = self._wrapped.graph
    graph_saveables.make_tables_private(self.graph)
    # TF1's Saver saved the SAVEABLE_OBJECTS too: tables, and variables put
    # there (checkpointed below with the global ones).
    saveables = self.graph.get_collection(_v1.GraphKeys.SAVEABLE_OBJECTS)
    tables = [s for s in saveables if not isinstance(s, tf.Variable)]
    self.saveables = (graph_saveables.GraphSaveables(self._wrapped, tables)
                      if tables else None)
    self._adopt_graph_variables()
    n_feeds = len(tf.nest.flatten(signature, expand_composites=True))
    self.feeds = list(self._wrapped.inputs[:n_feeds])
    # Checkpoints hold GLOBAL_VARIABLES (and variables among the saveables),
    # as 2.15's Saver did. The rest (v1 metric locals, Keras metric weights,
    # which join no collection) restart from their initial values on every
    # evaluation.
    saved = {id(v) for v in self.graph.get_collection(
        _v1.GraphKeys.GLOBAL_VARIABLES) + saveables}
    self.global_variables = collections.OrderedDict(
        (k, v) for k, v in self._variables.items() if id(v) in saved)
    self.local_variables = collections.OrderedDict(
        (k, v) for k, v in self._variables.items() if id(v) not in saved)
    if not values_overwritten:
      self._run_replaced_initializers()
    self._reinitialize_loaded_locals()
    self._local_initial_values = {
        k: tf.identity(v) for k, v in self.local_variables.items()}
    self._initialize_tables()

  def _adopt_graph_variables(self):
    """Records the variables the graph itself created, lifted by wrap_function.

    Code that imports a graph with its variables (TF-Hub's `hub.Module`
    imports the module's MetaGraph) makes graph ops, not calls to a
    variable creator. wrap_function lifts such variables out of the graph
    uninitialized, leaving their initializers in it; they are recorded here
    under their TF1 names and initialized with the others.
    """
    known = {id(v) for v in self._variables.values()}
    for collection in (_v1.GraphKeys.GLOBAL_VARIABLES,
                       _v1.GraphKeys.LOCAL_VARIABLES):
      for variable in self.graph.get_collection(collection):
        if id(variable) not in known:
          known.add(id(variable))
          key = self._unique_key(variable.name.rsplit(':', 1)[0])
          tf1_graph_semantics.lift(variable, self.graph, key)
          self._variables[key] = variable

  def _run_replaced_initializers(self):
    """Runs the initializers that live in the graph, as 2.15's init_op did.

    `tf.compat.v1.train.init_from_checkpoint` (BERT-style fine-tuning, TF-Hub
    modules) replaces a variable's initializer with a read of the
    pretrained checkpoint, an op in this graph; variables the graph created
    itself (`_adopt_graph_variables`) have theirs there too. Variables made
    through our creator were initialized when created, so only such ops run
    here (and not when a checkpoint or other variables will set every value
    anyway). The random streams start afresh: a variable read while the
    model_fn ran may have drawn its value already (`value_on_first_read`),
    which this draws again.
    """
    self.random_streams.restart()
    replaced = [op for op in (tf_internals.initializer_op(v)
                              for v in self._variables.values())
                if isinstance(op, tf.Operation) and op.graph is self.graph]
    with self.graph.as_default():
      replaced += [v.initializer for v in self._initialized_in_graph]
    if replaced:
      graph_prune.prune(self._wrapped, [], replaced)()

  def _initialize_tables(self):
    """Runs the graph's table initializers once, as a v1 Scaffold did.

    v2 tables initialize when created (lifted out of the graph); v1 tables
    (`tf.compat.v1` vocabulary columns and lookup ops) leave an init op in
    the TABLE_INITIALIZERS collection that nothing else would run.
    """
    inits = [op for op in self.graph.get_collection(
        _v1.GraphKeys.TABLE_INITIALIZERS) if op is not None]
    if inits:
      graph_prune.prune(self._wrapped, [], inits)()

  def gate_global_step_writes(self):
    """Makes every op that writes the global step wait for its reads.

    The writer may be deep inside the train op (an optimizer's
    `iterations.assign_add`, a `train_op_fn`'s own increment), so the ops
    consuming the variable's handle are found in the graph. The model_fn's
    own reads (a TPU host_call's step, a summary's) are gated too, unless
    they come after a write: a step then always sees the value it started
    with, which is what TF1's executor happened to give 2.15's programs.
    Run at capture, and again once hooks have built their ops (a TF2
    summary's `step=get_global_step()` reads it).

    Returns:
      The ops that write the global step.
    """
    read_op = self.global_step_read.op
    users = [op for op in _handle_users([self.global_step])
             if op is not read_op and op.name not in self._released]
    writers = [op for op in users if op.type not in _READS]
    written = {id(op) for op in writers}
    reads = [read_op] + [
        op for op in users if op.type == 'ReadVariableOp' and
        not any(id(up) in written for up in graph_prune.upstream_ops([op]))]
    for op in writers:
      waits = {id(up) for up in op.control_inputs}
      added = [read for read in reads if id(read) not in waits]
      tf_internals.add_control_inputs(op, added)
      self.step_gates.setdefault(op.name, set()).update(
          read.name for read in added)
    self._step_writers = writers
    return writers

  def global_step_moves_by_one_per_step(self):
    """Whether the train op adds one to the global step, whatever happens.

    Then a step ends with the global step at its own read plus one, unless
    something else ran in the session meanwhile. That is so where the only
    writer of the global step is one `AssignAddVariableOp` of 1 that the
    train op runs, on the variable's handle itself: inside a v1 cond its
    handle passes a `Switch`, and a write inside a v2 cond or a function
    is that `If` or call (KMeans adds one only once its centers are
    chosen). Valid once hooks have built their ops (`gate_global_step_
    writes` has found every writer).
    """
    if len(self._step_writers) != 1:
      return False
    (writer,) = self._step_writers
    return (writer.type == 'AssignAddVariableOp' and
            writer.inputs[0].op.type == 'Placeholder' and
            tf.get_static_value(writer.inputs[1]) == 1 and
            any(op is writer
                for op in graph_prune.upstream_ops([self.train_op])))

  def release_ops_built_after(self, count):
    """Forgets the graph's ops after its first `count`, built by one call.

    2.15 built a new graph per call; here the graph outlives it, so a hook
    building ops in `begin()` adds new ones each call. What was compiled to
    fetch them (a pruned function per fetch set) and the global step's
    gates on their reads served that call only: kept, they grew memory by
    2.7-4.7 MB, TF's threads by about two and the train op by a control
    input per call (one such hook, two small models, 40-150 train()
    calls; tests/reliability/test_soak.py). The ops themselves stay (a
    graph cannot drop ops); nothing runs them again. The engine's own
    memoized reads (`as_graph_element` of a variable) are kept.
    """
    ops = self.graph.get_operations()[count:]
    memoized = {value.op.name for value in self._prune_cache.values()
                if isinstance(value, tf.Tensor)}
    released = {op.name for op in ops} - memoized
    if not released:
      return
    self._released |= released
    for key in [key for key in self._prune_cache
                if _names_in_key(key) & released]:
      del self._prune_cache[key]
    for op in self._step_writers:
      gates = op.control_inputs
      if op.name not in released and any(gate.name in released
                                         for gate in gates):
        tf_internals.set_control_inputs(
            op, [gate for gate in gates if gate.name not in released])

  def _revive_released(self, elements):
    """Gates again the step reads of a released call that `elements` need.

    A hook may keep a tensor it built in an earlier call and fetch it in
    this one. Its read of the global step lost its gate when that call
    ended, and ungated it raced the step's increment (seen: a step reading
    its post-step value on a loaded CI host).
    """
    if not self._released:
      return
    revived = {op.name for op in graph_prune.upstream_ops(elements)
               } & self._released
    if revived:
      self._released -= revived
      with self.graph.as_default():
        self.gate_global_step_writes()

  def _build_mode_extras(self):
    """Graph pieces the Estimator itself adds for a mode, as 2.15 did."""
    self.summary_op = None
    self.eval_metrics = None
    self.eval_step = None
    if self.mode == model_fn_lib.ModeKeys.TRAIN:
      # A head may already summarize the loss as 'loss'; 2.15 kept just one.
      if not any(s.op.name == 'loss' for s in
                 _v1.get_collection(_v1.GraphKeys.SUMMARIES)):
        _v1.summary.scalar('loss', self.spec.loss)
      # Hooks and a checkpoint's .meta find it there, as in 2.15.
      _v1.add_to_collection(_v1.GraphKeys.LOSSES, self.spec.loss)
      self.summary_op = _v1.summary.merge_all()
    elif self.mode == model_fn_lib.ModeKeys.EVAL:
      # (value, update_op) pairs. A value may be a variable, fetched in 2.15
      # as its value after the updates (training-data-analyst's anomaly
      # detection counts true positives so); fetched here as its read.
      metrics = {key: (tf.nest.map_structure(_read_if_variable, value), update)
                 for key, (value, update) in self.spec.eval_metric_ops.items()}
      for key in (model_fn_lib.LOSS_METRIC_KEY, _v1.GraphKeys.GLOBAL_STEP):
        if key in metrics:  # 2.15's words
          raise ValueError(
              f'Metric with name `{key}` is not allowed, because Estimator '
              'already defines a default metric with the same name. Rename '
              f'eval_metric_ops[{key!r}].')
      metrics[model_fn_lib.LOSS_METRIC_KEY] = _v1.metrics.mean(self.spec.loss)
      self.eval_metrics = metrics
      self.eval_update_op = tf.group(*[u for _, u in metrics.values()
                                       if u is not None])
      # Made after the model_fn, as 2.15 made it (or the model_fn's own).
      self.eval_step = tf_internals.get_or_create_eval_step()
      # Under TF1's switches 2.15's was a reference variable, which a hook
      # fetched after the step's add (1 in the first step); a resource
      # variable's read, unordered with the add, came before it (0).
      self.eval_step_counts_before_step = (
          not _v1.resource_variables_enabled())

  def count_eval_steps(self, runs):
    """Adds `runs` to the `eval_step` variable, as 2.15's runs each added one.

    Added eagerly between steps, not in them, so what a step's fetch sees
    is set by when the caller counts (`eval_step_counts_before_step`).
    """
    if isinstance(self.eval_step, tf.Variable):
      self.eval_step.assign_add(runs)

  def _record_variable(self, next_creator, **kwargs):
    graph = tf.compat.v1.get_default_graph()
    initializer = kwargs.get('initial_value')
    # The graph computing the initial value: TF1 drew it outside any control
    # flow, and a v1 `dynamic_rnn` makes its cell's variables in the loop's
    # body graph, where its initializer could never run (a seeded TF1
    # program's LSTM failed its first train(), cloudml-samples'
    # tpu_lstm_estimator).
    value_graph = tf1_graph_semantics.model_graph() or graph
    if _draws_as_a_graph_op(initializer, graph):
      # Without the control dependencies around the variable's creation,
      # as TF1's `init_scope` drew it: CANINE makes its variables under
      # assertions on the features, and its initial values then waited
      # for a feed that nothing gives.
      with value_graph.as_default(), value_graph.control_dependencies(None), (
          self.random_streams.paused()):
        initializer = kwargs['initial_value'] = initializer()
    computed = _computed_in(value_graph, initializer, self.random_streams)
    if computed:
      # A TF1 variable whose initial value is a tensor of the model graph
      # (`tf.Variable(tf.random_normal(...))`, TFP's TransformedVariable) or
      # is fed (a pretrained embedding through a placeholder and
      # Scaffold(init_op, init_feed_dict)). Created outside the graph, it
      # cannot compute that value: it starts as zeros, and its
      # `.initializer`, an op of the graph, assigns the value (run at
      # capture, or by the Scaffold's init_op with its feed).
      if not initializer.shape.is_fully_defined():
        raise ValueError(
            f'Variable {kwargs.get("name")!r} takes its initial value from '
            f'{"placeholders" if computed == "fed" else "ops of the graph"}'
            f', of shape {initializer.shape}; give it a fully defined shape.')
      kwargs['initial_value'] = functools.partial(
          tf.zeros, initializer.shape, initializer.dtype)
      if computed == 'fed':
        self.fed_variables.append(kwargs.get('name'))
    loaded_as = []
    declared = _declared_shape_and_dtype(kwargs)
    if self._initial_values is not None and declared is not None:
      kwargs['initial_value'] = functools.partial(
          self._initial_value, kwargs['initial_value'], declared, loaded_as)
    self._make_name_unique(kwargs)
    # A caching device placed a TF1 graph's cached read of the variable
    # (v1 `dynamic_rnn`/`static_rnn` set `lambda op: op.device`). Created
    # eagerly, a variable refuses a device function, and with a device
    # string it caches its initial value and answers every later `value()`
    # with that stale copy. The engine reads variables where they live.
    kwargs.pop('caching_device', None)
    with tf.init_scope():
      variable = next_creator(**kwargs)
    if isinstance(variable, tf_internals.UninitializedVariable):
      # Restored by a SavedModel loader (hub.KerasLayer): a TF1 graph put
      # it in GLOBAL_VARIABLES only, so a v1 optimizer's default var_list
      # left it alone (wrap_function's holder added it as trainable, and
      # training changed a `hub.KerasLayer(trainable=False)`'s weights).
      trainable = graph.get_collection_ref(_v1.GraphKeys.TRAINABLE_VARIABLES)
      trainable[:] = [v for v in trainable if v is not variable]
    key = self._unique_key(variable.name.rsplit(':', 1)[0])
    if self._name_variables:
      _name_in_graph(graph, variable, key)
    tf1_graph_semantics.lift(variable, value_graph, key,
                             initial_value=initializer)
    self._variables[key] = variable
    if computed == 'in graph':
      self._initialized_in_graph.append(variable)
      tf1_graph_semantics.value_on_first_read(variable, functools.partial(
          graph_prune.value_now, value_graph, initializer))
    if loaded_as == [key]:
      self._loaded[key] = initializer
    elif loaded_as:  # read under a key that turned out not to be its own
      with tf.init_scope():
        variable.assign(initializer())
    return variable

  def _initial_value(self, initializer, declared, loaded_as):
    """The checkpoint's value for the variable being created, else its initializer's.

    The variable's constructor calls this under the variable's own name scope,
    which (made unique as `_record_variable` will) is its checkpoint key.
    """
    key = self._unique_key(tf.get_current_name_scope())
    value = self._initial_values.read(key, *declared)
    if value is None:
      return initializer()
    loaded_as.append(key)
    return value

  def _make_name_unique(self, kwargs):
    """Names a second variable `x` `x_1`, as a TF1 graph did.

    Variables are created eagerly (under `init_scope`, which keeps the name
    scope), where names are not made unique; wrap_function's variable
    holder would then refuse the second `tf.Variable(...)` of a model_fn.
    """
    try:
      with tf.init_scope(), tf.name_scope(kwargs.get('name') or 'Variable') as scope:
        name = scope.rstrip('/')
    except ValueError:  # not a valid scope name; TF will say so itself
      return
    unique = tf1_graph_semantics.unique_name(name, self._variable_names)
    self._variable_names.add(unique)
    if unique != name:
      kwargs['name'] = unique + '/'  # absolute: used as it is

  def _unique_key(self, name):
    return tf1_graph_semantics.unique_name(name, self._variables)

  def _reinitialize_loaded_locals(self):
    """Local variables start from their initializers, even if a checkpoint had their name."""
    for key, variable in self.local_variables.items():
      if key in self._loaded:
        initializer = self._loaded.pop(key)
        variable.assign(initializer())

  def loaded_from(self, path):
    """Keys of the variables created holding their values in checkpoint `path`."""
    if self._initial_values is None or self._initial_values.path != path:
      return frozenset()
    return frozenset(self._loaded)

  @contextlib.contextmanager
  def in_use(self):
    """Marks the graph as running until the block ends (see `busy`)."""
    self._users += 1
    try:
      yield
    finally:
      self._users -= 1

  @property
  def busy(self):
    """Whether a call (a predict generator not yet finished) runs this graph."""
    return self._users > 0

  def init_locals(self):
    """What each new 2.15 session ran once variables were set: local init.

    The local variables return to their initial values. Then, as 2.15's
    SessionManager did with a Scaffold's own ops, `ready_for_local_init_op`
    is checked, `local_init_op` runs and `ready_op` is checked (the
    defaults need no run here: the engine's variables are always set).
    Random ops draw from the start of their streams, as a new session's
    kernels did.
    """
    self.random_streams.restart()
    for key, variable in self.local_variables.items():
      variable.assign(self._local_initial_values[key])
    scaffold = self.spec.scaffold
    self._check_ready(scaffold.ready_for_local_init_op,
                      'Model is not ready for local init')
    if scaffold.local_init_op is not None:
      self._run_scaffold_op('local_init_op', scaffold.local_init_op)
    self._check_ready(scaffold.ready_op,
                      'Init operations did not make model ready')

  def _run_scaffold_op(self, name, fetch):
    return self.cached(name, lambda: graph_prune.prune(
        self._wrapped, [], [self.graph.as_graph_element(fetch)]))()

  def _check_ready(self, ready_op, problem):
    """RuntimeError if `ready_op` (a Scaffold's) reports anything not ready."""
    if ready_op is None:
      return
    (not_ready,) = self._run_scaffold_op(ready_op.name, ready_op)
    names = [tf.compat.as_str(n) for n in np.ravel(not_ready.numpy())]
    if names:
      raise RuntimeError(f'{problem}: the Scaffold\'s {ready_op.name} '
                         f'reports {names}.')

  @functools.cached_property
  def checkpoint_layout(self):
    """What checkpoints hold, as the spec's Scaffold saver decides."""
    return checkpoint_layout.layout(self.spec.scaffold.saver,
                                    self.global_variables, self.saveables)

  def cached(self, key, make):
    """Memoizes `make()` for this graph (compiled loops and the like)."""
    if key not in self._prune_cache:
      self._prune_cache[key] = make()
    return self._prune_cache[key]

  def has_cached(self, key):
    """Whether `cached(key, ...)` has made its value."""
    return key in self._prune_cache

  def as_graph_element(self, fetch):
    """Resolves a fetch (tensor, op, name or variable) to a graph element."""
    if fetch is self.global_step:
      return self.global_step_value
    if isinstance(fetch, tf.Variable):
      return self._read_in_graph(fetch)
    try:
      return self.graph.as_graph_element(fetch)
    except (KeyError, ValueError, TypeError) as e:
      raise ValueError(f'Cannot fetch {fetch!r}: it is not a tensor, operation '
                       f'or tensor name of the {self.mode!r} model graph. '
                       f'({e})') from None

  def global_step_now(self):
    """The global step's current value, as an int (eagerly)."""
    return int(self._read_now(self.global_step))

  def values_now(self, elements):
    """The current values of `elements` if each is a variable's plain read
    (a fetch of the variable itself: a hook's `session.run(global_step)`),
    read eagerly; None otherwise."""
    variables = [self._plain_reads.get(element.name) for element in elements]
    if not elements or any(variable is None for variable in variables):
      return None
    return [self._read_now(variable) for variable in variables]

  def _read_now(self, variable):
    """`variable`'s value, by its bare `ReadVariableOp` if it is a plain one.

    The train loop reads the global step after every step the hooks see,
    and ELECTRA's ETAHook runs `session.run(global_step)` after each:
    `numpy()` took 39 us a read against 9 us, and a pruned function's call
    about 300 us (TF 2.21).
    """
    args = self._read_args.get(id(variable))
    if args is None:  # the variables live as long as the graph
      args = self._read_args[id(variable)] = (
          {'resource': variable.handle, 'dtype': variable.dtype}
          if isinstance(variable, tf_internals.BaseResourceVariable) else {})
    if not args:
      return variable.numpy()  # a distributed variable
    return tf.raw_ops.ReadVariableOp(**args)

  def _read_in_graph(self, variable):
    key = ('read', id(variable))
    if key not in self._prune_cache:
      with self.graph.as_default():
        self._prune_cache[key] = tf.identity(variable.read_value())
      # Only the model's own variables: an assign's result (a variable
      # whose read runs the assign first) is no plain read.
      if any(own is variable for own in self._variables.values()):
        self._plain_reads[self._prune_cache[key].name] = variable
    return self._prune_cache[key]

  def _global_step_after_train(self):
    key = 'global step after train op'
    if key not in self._prune_cache:
      with self.graph.as_default(), tf.control_dependencies([self.train_op]):
        self._prune_cache[key] = tf.identity(self.global_step.read_value())
    return self._prune_cache[key]

  def function_for(self, elements, run_ops=(), with_batch=True, fed=()):
    """A function from the flat batch to the values of `elements`.

    `run_ops` (e.g. the train op) are run for their effect; their outputs
    follow those of `elements` as None. Without `with_batch` the function
    takes no batch (for fetches that only read variables, e.g. metric
    values after an evaluation). `fed` tensors of the graph (a hook's
    feed_dict keys) are taken as further arguments, after the batch.
    """
    return self._pruned(elements, run_ops, with_batch, tuple(fed))[1]

  def pruned_for(self, elements, run_ops=()):
    """The bare pruned ConcreteFunction, for calls traced inside tf.function."""
    return self._pruned(elements, run_ops, True)[0]

  def step_for(self, elements, run_ops=()):
    """`step(iterator)`: draws a batch, returns the values of `elements`.

    `step` is a `CompiledStep`. Values come in `elements` order (None for
    operations); `step` returns None at end of input. Drawing the batch
    inside the compiled call saves the Python-side iterator step and
    argument binding, most of the cost of a hooked step. End of input is a
    flag rather than an OutOfRangeError: TF leaks about 1 KB for each error
    raised out of an eager function call, which would be once per predict()
    or evaluate() call.
    """
    key = ('step',) + _fetch_key(elements, run_ops)
    if key not in self._prune_cache:
      self._prune_cache[key] = CompiledStep(
          self.pruned_for(elements, run_ops), len(elements))
    return self._prune_cache[key]

  def made_step_for(self, elements, run_ops=()):
    """The step `step_for(elements, run_ops)` made and keeps, or None."""
    return self._prune_cache.get(('step',) + _fetch_key(elements, run_ops))

  def _pruned(self, elements, run_ops, with_batch, fed=()):
    key = _fetch_key(elements, run_ops) + (with_batch,
                                           tuple(t.name for t in fed))
    if key not in self._prune_cache:
      self._revive_released(elements)
      feeds = (self.feeds if with_batch else []) + list(fed)
      if (self.global_step_value is not self.global_step_read and
          self.train_op in run_ops):
        # A reference variable's value, fetched in a run of the train op.
        elements = [self._global_step_after_train() if element is
                    self.global_step_value else element for element in elements]
      pruned = graph_prune.prune(self._wrapped, feeds,
                                 list(elements) + list(run_ops))
      # Called as it is, one flat call of the runtime function. A
      # tf.function around it, even with a fixed signature, binds, casts
      # and looks up its arguments at every call: 3 ms of each hooked step
      # of dnn_dense's 33 batch tensors, where a TF1 queue-runner input
      # then trained a trivial model at 286 steps/s (452 without). Values
      # a hook feeds go through such a signature, which refuses a value of
      # another shape or dtype, as a v1 session's feed_dict did.
      eager_fn = pruned if not fed else tf.function(
          pruned, input_signature=[tf.TensorSpec(f.shape, f.dtype)
                                   for f in feeds], autograph=False)
      self._prune_cache[key] = (pruned, eager_fn)
    return self._prune_cache[key]


class CompiledStep:
  """One step as one compiled call that draws its batch (`step_for`)."""

  def __init__(self, pruned, n_elements):
    self._pruned = pruned
    self._n_elements = n_elements

    def draw(iterator):
      return loops.next_step(iterator, pruned, n_elements)

    def draw_endless(iterator):
      return loops.next_step(iterator, pruned, n_elements, endless=True)

    # `(ran, values)`; a parameter-server worker runs this function itself,
    # the chief then unpacks its result.
    self.draw = tf_internals.per_graph_function(draw, autograph=False)
    self._draw_endless = tf_internals.per_graph_function(draw_endless,
                                                         autograph=False)
    # (weakref to an iterator, its draw, whether its input is endless)
    self._drawing = (lambda: None, None, False)

  def __call__(self, iterator):
    # Called with the iterator, the tf.function works out its trace type
    # and binds it to the signature each time: 0.43 ms a call of a batch of
    # one, 0.21 ms through the concrete function's flat call (measured),
    # which a predict() of 2,000 single examples (the ML Crash Course's)
    # pays per example. The iterator is held weakly (and its handle not at
    # all): it is released as its call ends.
    known, call, endless = self._drawing
    if known() is not iterator:
      endless = tf_internals.endless(iterator)
      draw = self._draw_endless if endless else self.draw
      call = tf_internals.flat_call(draw.get_concrete_function(iterator))
      self._drawing = (weakref.ref(iterator), call, endless)
    try:
      outputs = call(tf.nest.flatten(iterator, expand_composites=True))
    except tf.errors.OutOfRangeError:
      if not endless:
        raise  # from an op of the model: the caller's to report
      return None  # `loops.next_step`: an endless input ended after all
    return self.unpack(*outputs)

  def unpack(self, has_batch, values):
    """`draw`'s result as the elements' values, or None at end of input."""
    if not has_batch:
      return None
    return loops.with_operations(self._pruned, self._n_elements, values)


def _name_in_graph(graph, variable, key):
  """Gives `graph` an op named `key` standing for `variable`, as in 2.15.

  A variable was an op of 2.15's graph under that name, so a later op or
  summary of that name was made unique: `summary.scalar('learning_rate',
  lr)` beside the variable 'OptimizeLoss/learning_rate' (`optimize_loss`'s
  idiom) was tagged 'OptimizeLoss/learning_rate_1' (measured on 2.15).
  And 'w:0' named it: under TF1's switches a reference variable, whose
  fetch or `get_tensor_by_name` gave its value (here a read, run only if
  fetched); otherwise a resource handle. The variable lives outside the
  graph here. Not for variables made in a nested graph (a loop body), nor
  under a name the graph already holds (TF1 renamed such a variable).
  """
  if tf1_graph_semantics.model_graph() is not graph:
    return
  try:  # a mirrored variable's first copy; a sharded one has no handle
    handle = distribution.components(variable)[0].handle
  except (AttributeError, ValueError):
    return
  with graph.name_scope(None), tf.control_dependencies(None):
    if graph.unique_name(key, mark_as_used=False) != key:
      return
    if _v1.resource_variables_enabled():
      tf.identity(handle, name=key)
    else:
      tf.raw_ops.ReadVariableOp(resource=handle, dtype=variable.dtype,
                                name=key)


def _read_if_variable(value):
  return tf.convert_to_tensor(value) if isinstance(value, tf.Variable) else value


def _writers(variables):
  """The ops of the current graph that may write one of `variables`.

  That is every op reading a variable's handle other than to read its
  value, but for the variables' own initializers: a step's input checks
  gate its writes, and a Scaffold's `local_init_op` (AdaNet's groups
  `default_local_init_op()`), run without a batch, assigns initial values.
  """
  initializers = {id(tf1_graph_semantics.initializer_built(v))
                  for v in variables}
  return [op for op in _handle_users(variables)
          if op.type not in _READS and id(op) not in initializers]


def _handle_users(variables):
  graph = _v1.get_default_graph()
  external = {id(component.handle) for variable in variables
              for component in distribution.components(variable)}
  handles = {id(internal) for outer, internal in graph.captures
             if id(outer) in external}
  return [op for op in graph.get_operations()
          if any(id(t) in handles for t in op.inputs)]


def _adds_one(writers, train_op):
  """False if the train op's writes of the global step do not add exactly one.

  A train op that adds more (the global step counting examples) or two
  optimizers that each add one (a GAN's) move it by more than a step; 2.15
  stopped training by the global step, not by steps run. One that nothing
  writes (`minimize` not given it) never moves. Writes it cannot see into
  (an op calling a function) are taken to add one, as optimizers do; the
  train loop finds out otherwise (`training.TrainLoop._run_compiled`).
  """
  if not writers:
    return False
  in_step = {id(op) for op in graph_prune.upstream_ops([train_op])}
  direct = [op for op in writers
            if op.type in _WRITES and id(op) in in_step]
  if not direct:
    return True
  if len(direct) > 1 or direct[0].type != 'AssignAddVariableOp':
    return False
  return tf.get_static_value(direct[0].inputs[1]) == 1


def _summaries():
  """The v1 summary ops of the current graph (a histogram fails on NaN)."""
  return [t.op for t in _v1.get_collection(_v1.GraphKeys.SUMMARIES)]


_READS = frozenset(['ReadVariableOp', 'ResourceGather', 'ResourceGatherNd',
                    'VariableShape', 'VarIsInitializedOp'])
_WRITES = frozenset(['AssignAddVariableOp', 'AssignSubVariableOp',
                     'AssignVariableOp'])


def _draws_as_a_graph_op(initial_value, graph):
  """Whether a variable's random initial value is drawn by an op of `graph`.

  `initial_value` is an initializer bound to a shape (as `get_variable` and
  Keras' `add_weight` bind it). Drawn eagerly, it would not draw 2.15's
  values, which its graph drew:
  - An initializer with a fixed seed, drawn eagerly, continues one random
    stream from variable to variable (TF caches the seeded kernel): the
    second layer of AdaNet's tutorial, which gives every layer
    `glorot_uniform_initializer(seed=42)`, started elsewhere than on 2.15,
    whose graph made each draw an op of its own, starting the stream
    afresh.
  - One of TensorFlow's without a seed, under `tf_random_seed`, took the
    graph's next op seed: the count of unseeded random ops made before it,
    the input_fn's first (`get_variable`'s default initializer, BERT's and
    TAPAS's `truncated_normal_initializer`). Eagerly it takes one from the
    global seed's stream, so a seeded program started from other values.
  - So did a function of the program's own, under `tf_random_seed`, whose
    random ops took none (EfficientDet's `conv_kernel_initializer` calls
    `tf.random.normal`): its variable and every later one started from
    values other than 2.15's.
  Not under a strategy, whose variables are created per replica.
  """
  if not isinstance(initial_value, functools.partial) or (
      tf.distribute.has_strategy()):
    return False
  func = initial_value.func
  if getattr(func, 'seed', None) is not None:
    return True
  return graph.seed is not None and (
      tf_internals.draws_graph_op_seed(func) or
      isinstance(func, types.FunctionType))


def _computed_in(graph, initial_value, random_streams):
  """'fed' for a tensor of `graph` computed from placeholders, 'in graph' for
  another tensor of it, else None.

  `random_streams`: the graph's `RandomStreams`, whose states' placeholders
  are not fed.
  """
  if not (tf.is_tensor(initial_value) and
          getattr(initial_value, 'graph', None) is graph):
    return None
  states = random_streams.states_in(graph)
  if any(graph_prune.is_placeholder(op)
         for op in graph_prune.upstream_ops([initial_value], states)):
    return 'fed'
  return 'in graph'


def _declared_shape_and_dtype(kwargs):
  """A variable's (shape, dtype), if known without running its initializer.

  Besides the `shape` and `dtype` arguments, TF's and Keras' bound
  initializers tell: `functools.partial(initializer, shape, dtype=...)`
  (variables, layer weights) or `partial(initializer, shape=..., dtype=...)`
  (Keras optimizer slots).
  """
  initializer = kwargs.get('initial_value')
  if not callable(initializer):
    return None
  shape, dtype = kwargs.get('shape'), kwargs.get('dtype')
  if isinstance(initializer, functools.partial):
    bound = initializer.args[0] if initializer.args else None
    shape = shape if shape is not None else initializer.keywords.get('shape', bound)
    dtype = dtype or initializer.keywords.get('dtype')
  if shape is None or dtype is None:
    return None
  try:
    shape, dtype = tf.TensorShape(shape), tf.as_dtype(dtype).base_dtype
  except (TypeError, ValueError):
    return None
  return (shape, dtype) if shape.is_fully_defined() else None


def _fetch_key(elements, run_ops):
  return (tuple(e.name for e in elements), tuple(op.name for op in run_ops))


def _names_in_key(key):
  """The op names a `_prune_cache` key mentions (fetched, run or fed)."""
  names = set()
  for part in key if isinstance(key, tuple) else ():
    if isinstance(part, tuple):
      names.update(name.split(':')[0] for name in part)
  return names

