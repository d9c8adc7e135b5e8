"""The captured model graph of each mode, kept between calls.

Each mode's graph is captured once per input signature and kept; its variables
are reloaded only when the checkpoint a call needs differs from the one they
hold (`CapturedModel.holds`). That is why a second `evaluate` or `predict` on
an unchanged checkpoint costs only the steps themselves. A kept graph is
captured again when the Python values its model_fn read have changed
(`runs.model_fn_reads`) or the hooks it made have (`runs.model_fn_hooks`),
as 2.15 called the model_fn at every call.
"""

import copy
import gc
import os

import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.engine import graph_capture
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import large_variables
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator.runs import model_fn_hooks
from tfcompat_estimator.runs import model_fn_reads
from tfcompat_estimator.session_emulation import session as session_lib

_INITIAL = graph_capture.HOLDS_INITIAL_VALUES
_CHANGED = graph_capture.HOLDS_CHANGED_VALUES


class ModelGraphs:
  """One Estimator's captured graphs, keyed by mode and input signature."""

  def __init__(self, model_fn, params, config, warm_start=None):
    """Holds no graph yet; each is captured by its first `for_run`.

    Args:
      model_fn: The user's model_fn.
      params: Its `params`; each capture gets a deep copy, as each of 2.15's
        graphs got `Estimator.params`.
      config: The `RunConfig` the model_fn receives.
      warm_start: None, or a function warm-starting a captured graph's
        variables, called as a call without a checkpoint begins.
    """
    self._model_fn = model_fn
    self._params = params
    self._config = config
    self._warm_start = warm_start
    # (mode, repr(element_spec), tf_keras names taken) -> CapturedModel
    self._captured = {}
    # The same keys -> what the model_fn read as it built that graph.
    self._reads = {}
    # The same keys -> the state of that graph's hooks as the model_fn made
    # them.
    self._hooks = {}

  def __iter__(self):
    return iter(self._captured.values())

  def use_model_fn(self, model_fn):
    """Captures later graphs from `model_fn`; drops those of another one."""
    if model_fn is not self._model_fn:
      self._model_fn = model_fn
      self._drop(list(self._captured))

  def for_run(self, mode, batches, checkpoint_path, variables_from=None,
              before_loading=None, short_run=False):
    """The captured graph for `mode`, its variables loaded for this call.

    Args:
      mode: A `ModeKeys` value.
      batches: The call's `input_pipeline.BatchSource`; its element spec
        selects (or captures) the graph.
      checkpoint_path: The checkpoint to load, or None to begin from the
        initial values (as 2.15 began every call without one).
      variables_from: None, or checkpoint key -> variable (a running
        training's variables): they supply the values instead of a
        checkpoint, so an in-memory evaluation reuses the graph and touches
        no files.
      before_loading: None, or a function of the model_fn's spec, called
        once the graph is there and before its values are loaded (evaluate()
        logs "Starting evaluation" there, between the model_fn's lines and
        "Restoring parameters", as 2.15 did).
      short_run: Whether the call is a training run too short to pay for
        costly compiles (`engine.short_runs`). A graph whose model code
        skipped one for a short run serves later short runs; a longer run
        captures it again.

    Returns:
      The `CapturedModel`, its local variables initialized.
    """
    key = (mode, repr(batches.element_spec),
           tuple(sorted(batches.keras_names_taken.items())))
    identity = (_checkpoint_identity(checkpoint_path)
                if checkpoint_path is not None and variables_from is None
                else None)
    reads = model_fn_reads.snapshot(self._model_fn)
    captured = self._captured.get(key)
    if captured is not None and self._reads[key] != reads:
      logging.info('Calling model_fn again: values it reads changed since it '
                   'built the %s graph (%s).', mode,
                   ', '.join(model_fn_reads.changed(self._reads[key], reads)))
      captured = None
    if captured is not None:
      hooks_changed = model_fn_hooks.changed(
          self._hooks[key], model_fn_hooks.snapshot(captured.spec))
      if hooks_changed:
        logging.info('Calling model_fn again: the hooks it made for the %s '
                     'graph changed as they ran (%s); 2.15 made new ones at '
                     'every call.', mode, ', '.join(hooks_changed))
        captured = None
    if captured is not None and checkpoint_path is None and (
        variables_from is None and captured.holds != _INITIAL):
      captured = None  # its variables were changed; start from a fresh init
    if captured is not None and captured.skipped_compiles and not short_run:
      captured = None  # plain for short runs; this one pays for the compiles
    if captured is not None and captured.busy and (
        variables_from is not None or
        identity is not None and captured.holds != identity):
      captured = None  # an open predict generator reads these values: keep them
    if captured is None:
      self._drop([key])
      captured = self._capture(mode, batches, checkpoint_path, identity,
                               variables_from, short_run)
      self._captured[key] = captured
      self._note_reads_after_capture(key, reads)
      self._hooks[key] = model_fn_hooks.snapshot(captured.spec)
    if before_loading is not None:
      before_loading(captured.spec)
    # 2.15's session lines (MonitoredSession, SessionManager), which logs
    # are read by, as each call began its session.
    logging.info('Graph was finalized.')
    if variables_from is not None:
      _copy_variables(captured, variables_from)
      self.mark_changed(captured)  # a later checkpoint load must not be skipped
    elif identity is not None:
      # As 2.15's Saver logged it, also when the graph holds these values.
      logging.info('Restoring parameters from %s', checkpoint_path)
      if captured.holds != identity:
        _restore(captured, checkpoint_path)
        captured.holds = identity
    elif mode == model_fn_lib.ModeKeys.TRAIN or not captured.busy:
      self._initialize(captured)
    if not captured.busy:  # an open predict generator's locals stay as they are
      logging.info('Running local_init_op.')
      captured.init_locals()
      logging.info('Done running local_init_op.')
    return captured

  def _drop(self, keys):
    """Frees the graphs of `keys` now, before another one is captured.

    Otherwise a replaced graph would be held through the new capture, the
    call's peak of memory: its objects hold each other (functions, graphs,
    variables), so only a collection frees them. The benchmark's LSTM,
    trained 200 steps plainly and then 2,000 compiled
    (engine/short_runs.py), peaked 30 MB higher without the collection.
    """
    dropped = 0
    for key in keys:
      self._reads.pop(key, None)
      self._hooks.pop(key, None)
      dropped += self._captured.pop(key, None) is not None
    if dropped:
      gc.collect()

  def _note_reads_after_capture(self, key, before):
    """Records what the model_fn reads once it has run for `key`'s graph.

    What it changed itself as it ran (a list of its calls, a counter) is
    what the next call finds, and does not make the graphs built from the
    values it found (`before`) stale.
    """
    after = model_fn_reads.snapshot(self._model_fn)
    for other, reads in self._reads.items():
      if reads == before:
        self._reads[other] = after
    self._reads[key] = after

  def mark_changed(self, captured):
    """Records that `captured`'s variables match no checkpoint any more."""
    captured.holds = _CHANGED

  def mark_saved(self, captured, checkpoint_path):
    """Records that `captured`'s variables are those saved at `checkpoint_path`."""
    if checkpoint_path:
      captured.holds = _checkpoint_identity(checkpoint_path)

  def release_stale(self):
    """Frees the large variables of the eval and predict graphs not running.

    Called as training starts: its checkpoints will supersede what those
    graphs hold, so their next call reloads anyway. Meanwhile their memory
    (a copy of each embedding table per graph) serves training and its saves.
    """
    for captured in self:
      if captured.mode != model_fn_lib.ModeKeys.TRAIN and not captured.busy and (
          large_variables.release(captured.global_variables)):
        self.mark_changed(captured)

  def _capture(self, mode, batches, checkpoint_path, identity, variables_from,
               short_run):
    initial_values = (checkpoints.InitialValues(checkpoint_path)
                      if identity is not None else None)
    return graph_capture.CapturedModel(
        self._model_fn, mode, batches.features_spec, batches.labels_spec,
        copy.deepcopy(self._params), self._config, initial_values,
        values_overwritten=identity is not None or variables_from is not None,
        keras_names_taken=batches.keras_names_taken,
        op_seeds_drawn=batches.op_seeds_drawn, short_run=short_run,
        batch_op_name=batches.batch_op_name)

  def _initialize(self, captured):
    """A call with no checkpoint to read, as 2.15's Scaffold began it.

    The variables hold their initial values already. A Scaffold's own
    `init_op` (with its `init_feed_dict`) runs first: 2.15 warm-started by
    replacing initializers, which its init_op then ran, so warm starting
    comes after it here. The Scaffold's `init_fn` runs last, as in
    MonitoredSession.
    """
    scaffold = captured.spec.scaffold
    if captured.fed_variables and scaffold.init_op is None:
      raise ValueError(
          f'Variables {captured.fed_variables} take their initial values '
          'from placeholders, which nothing feeds. As in TF1, return '
          'tf.compat.v1.train.Scaffold(init_op=tf.compat.v1.'
          'global_variables_initializer(), init_feed_dict={placeholder: '
          'value}) in the EstimatorSpec.')
    session = session_lib.EmulatedSession(captured)
    if scaffold.init_op is not None:
      with captured.graph.as_default():
        session.run(scaffold.init_op, feed_dict=scaffold.init_feed_dict)
    if self._warm_start is not None:
      self._warm_start(captured)
    if scaffold.init_fn is not None:
      with captured.graph.as_default():
        scaffold.init_fn(session)


def _restore(captured, checkpoint_path):
  """Loads `captured`'s variables from `checkpoint_path`.

  Variables created from this checkpoint already hold its values and are
  skipped, unless a graph that held other values is reloaded.
  """
  loaded = (captured.loaded_from(checkpoint_path)
            if captured.holds == _INITIAL else ())
  layout = captured.checkpoint_layout
  if layout.restorer is not None:
    with captured.graph.as_default():
      layout.restorer.restore(session_lib.EmulatedSession(captured),
                              checkpoint_path)
  else:
    checkpoints.restore(
        layout.variables, checkpoint_path,
        # `loaded` holds keys by name: right only for the default layout.
        loaded if layout.variables is captured.global_variables else ())
    if layout.saveables is not None:
      layout.saveables.restore(checkpoint_path)


def _copy_variables(captured, source):
  """Assigns `captured`'s checkpointed variables from same-keyed `source` ones.

  A custom Scaffold saver or init_fn would decide the values otherwise, so
  they are refused rather than silently bypassed, as 2.15 did.
  """
  scaffold = captured.spec.scaffold
  for what in ('saver', 'init_fn'):
    if getattr(scaffold, what) is not None:
      raise ValueError(f'Evaluating on in-memory variables (InMemoryEvaluatorHook) '
                       f'does not support a custom Scaffold {what} in the '
                       f'{captured.mode} EstimatorSpec.')
  missing = [k for k in captured.global_variables if k not in source]
  if missing:
    raise ValueError(f'The {captured.mode} graph has variables the in-memory '
                     f'source lacks, so they cannot be set: {missing}.')
  with tf.init_scope():  # callers may be inside a hook's graph context
    for key, variable in captured.global_variables.items():
      large_variables.assign(variable, source[key])


def _checkpoint_identity(path):
  """What tells one checkpoint's contents from another's at the same path.

  Local files use os.stat: nanosecond mtime and the inode (our saves replace
  files by rename). gfile reports whole seconds only, which is kept for
  remote file systems.
  """
  index = path + '.index'
  if '://' not in index:
    try:
      stat = os.stat(index)
      return (path, stat.st_mtime_ns, stat.st_ino, stat.st_size)
    except OSError:
      return (path, None, None, None)
  try:
    stat = tf.io.gfile.stat(index)
    return (path, stat.mtime_nsec, None, stat.length)
  except tf.errors.NotFoundError:
    return (path, None, None, None)
