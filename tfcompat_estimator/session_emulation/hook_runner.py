"""Drives `SessionRunHook`s through the protocol MonitoredSession gave them.

begin -> after_create_session -> (before_run -> step -> after_run)* -> end.
Hook calls run with the captured graph as the default graph, because TF's own
hooks look tensors and the global step up in the default graph.
"""

import contextlib

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_train = tf.compat.v1.train


class HookRunner:

  def __init__(self, hooks, session):
    self.hooks = list(hooks)
    self.session = session
    self._coord = _train.Coordinator()
    self._stop_requested = False
    self._writers = []  # TF2 summary writers hooks made in begin()

  @property
  def stop_requested(self):
    return self._stop_requested

  def begin(self):
    # The graph outlives a call, where 2.15 built a new one per call: a
    # variable a hook's begin() made last call is reused, not an error.
    graph = self.session.graph
    version = graph.version
    self._ops_before = len(graph.get_operations())
    with graph.as_default(), tf.compat.v1.variable_scope(
        tf.compat.v1.get_variable_scope(), reuse=tf.compat.v1.AUTO_REUSE):
      for hook in self.hooks:
        _refuse_sync_replicas(hook)
        self._localize_variables(hook)
        # A TF2 summary writer made here lives while its Python object does
        # (the captured graph lifts it out, an eager resource); a hook that
        # keeps only its ops (AdaNet's summary hook) lost it at once, and
        # its summaries failed with NotFoundError. As 2.15's session did,
        # the call keeps it and closes it at its end.
        with tf_internals.summary_writers_made(self._writers):
          hook.begin()
      if graph.version != version:  # hooks built ops, may read the step
        self.session.captured.gate_global_step_writes()

  def _localize_variables(self, hook):
    """Points a LoggingTensorHook's variables at their reads in the graph.

    Variables live outside the captured graph (they are TF2 resources), and
    LoggingTensorHook.begin insists every tensor it logs belongs to it. The
    hook's dict is changed in place: a new one would tell
    `runs.model_fn_hooks` that the hook changed, and make every later call
    build the graph again.
    """
    if isinstance(hook, _train.LoggingTensorHook):
      tensors = tf_internals.logging_hook_tensors(hook)
      for tag, value in tensors.items():
        if isinstance(value, tf.Variable):
          tensors[tag] = self.session.captured.as_graph_element(value)

  def after_create_session(self):
    graph = self.session.graph
    with graph.as_default(), _lifted_variables_unmentioned(graph):
      for hook in self.hooks:
        hook.after_create_session(self.session, self._coord)

  def before_run(self, original_args):
    """Returns the run context and each hook's `SessionRunArgs` (or None)."""
    context = _train.SessionRunContext(original_args, self.session)
    if not self.hooks:
      # Entering the graph costs about 40 us: a predict() of one example
      # a batch, with no hooks, spent a sixth of its time here.
      return context, []
    with self.session.graph.as_default():
      requests = [hook.before_run(context) for hook in self.hooks]
    return context, requests

  def after_run(self, context, requests, results_per_hook, duties=()):
    """Gives each hook its results, in order.

    Args:
      context, requests: From `before_run`.
      results_per_hook: Each hook's values of its requested fetches.
      duties: `(position, fn)` pairs: `fn()` runs before the hook at that
        index of `hooks` (or after the last), where 2.15's built-in hook for
        that duty stood among the others. One that raises ends the step, as
        2.15's NanTensorHook did: later hooks do not see it.
    """
    duties = sorted(duties, key=lambda duty: duty[0])
    for index, (hook, request, results) in enumerate(
        zip(self.hooks, requests, results_per_hook)):
      while duties and duties[0][0] <= index:
        duties.pop(0)[1]()  # eagerly, outside the graph
      with self.session.graph.as_default():
        hook.after_run(context, _train.SessionRunValues(
            results=results, options=getattr(request, 'options', None),
            run_metadata=tf.compat.v1.RunMetadata()))
    for _, duty in duties:
      duty()
    if context.stop_requested:
      self._stop_requested = True

  def end(self):
    with self.session.graph.as_default():
      for hook in self.hooks:
        hook.end(self.session)
    with tf.init_scope():
      # Its events are on disk when the call returns; so are those of the
      # writers the model_fn made.
      for writer in self._writers + self.session.captured.summary_writers:
        writer.flush()
    del self._writers[:]
    self.session.captured.release_ops_built_after(self._ops_before)


@contextlib.contextmanager
def _lifted_variables_unmentioned(graph):
  """Drops TF's warnings that `graph`'s variable collections do not serialize.

  A program's own CheckpointSaverHook makes a meta graph of the default
  graph in `after_create_session`. Here the variables of its collections
  (`variables`, `trainable_variables`, `global_step`) are TF2 variables
  living outside it, which TF cannot write as TF1 `VariableDef`s: it warned
  "Issue encountered when serializing variables" once per collection, at
  every train(). That meta graph is not what gets written: the hook's graph
  events and the program's Saver's .meta files are the TF1 graph 2.15
  wrote (`file_writer_cache.SharedFileWriter.add_graph`,
  `runs.checkpointing`). Warnings about other collections still show.
  """
  keys = [key for key in graph.get_all_collection_keys()
          if _all_variables(graph.get_collection(key))]
  if not keys:
    yield
    return
  unmentioned = tuple(f'Issue encountered when serializing {key}.'
                      for key in keys)
  def quiet(record):
    return not record.getMessage().startswith(unmentioned)

  logger = tf.get_logger()
  logger.addFilter(quiet)
  try:
    yield
  finally:
    logger.removeFilter(quiet)


def _all_variables(members):
  return bool(members) and all(isinstance(m, tf.Variable) for m in members)


def _refuse_sync_replicas(hook):
  """SyncReplicasOptimizer's hook, refused before anything runs.

  Its train op waits for a token that the hook's queue-runner thread puts
  back after applying the replicas' gradients: between-graph replication
  through queues, which the engine does not run (parameter-server training
  here is TF2's, docs/parameter_servers.md). Left to run, TF failed deep in
  the hook with "Tensor.op is undefined when eager execution is enabled".
  2.15 trained one process with it, then waited two minutes at the end of
  each train() for the queue-runner thread, which never stopped (measured
  with tensorflow/models' cifar10_estimator --sync); even with
  `replicas_to_aggregate=1` its weights after five steps differed from the
  wrapped optimizer's (the worker ran ahead of the chief's updates).
  """
  if isinstance(hook, tf_internals.SyncReplicasOptimizerHook):
    raise ValueError(
        'SyncReplicasOptimizer (its make_session_run_hook() is among the '
        'training hooks) is not supported: it synchronizes between-graph '
        'replicas through queues and a chief queue-runner thread, which '
        'this Estimator does not run. Give the model_fn the optimizer it '
        'wraps instead, and for synchronous training on several devices or '
        'workers pass a tf.distribute strategy as '
        'RunConfig(train_distribute=...).')
