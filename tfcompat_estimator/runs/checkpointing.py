"""Checkpoints of one `train()` call: native saves, or a user's saver hook's.

2.15 installed a `CheckpointSaverHook` when the RunConfig asked for
checkpoints. Here the chief saves natively (`Checkpointing`), on the same
schedule; a user's own `CheckpointSaverHook` saves instead, through the
saver it finds in the graph's SAVERS collection (`_SaverForHooks`).
"""

import os

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import tf1_graph
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator.session_emulation import hook_schedule

_train = tf.compat.v1.train
_NEVER = float('inf')


class CheckpointStores:
  """One `CheckpointStore` per directory a call saves into."""

  def __init__(self, model_dir, config, layout):
    self._model_dir = model_dir
    # A Scaffold saver's own retention wins, as its saves were 2.15's.
    self._retention = layout.retention or (
        config.keep_checkpoint_max, config.keep_checkpoint_every_n_hours)
    self._stores = {}

  def for_dir(self, directory=None):
    directory = directory or self._model_dir
    if directory not in self._stores:
      self._stores[directory] = checkpoints.CheckpointStore(directory,
                                                            *self._retention)
    return self._stores[directory]


def for_call(hooks, listeners, captured, config, is_chief, stores, meta_graph,
             writer=None):
  """The call's native `Checkpointing`, or None when nothing saves natively.

  A `CheckpointSaverHook` in `hooks` saves instead: it gets the listeners,
  and finds a saver (writing `meta_graph` as each checkpoint's .meta) in the
  SAVERS collection. `writer` (the model_dir's `EventWriter`) gets a
  CHECKPOINT session log per native save.

  Raises:
    ValueError: for saving listeners with nothing saving checkpoints.
  """
  saver_hooks = program_saver_hooks(hooks)
  if saver_hooks:
    tf_internals.add_saving_listeners(saver_hooks[0], listeners)
    graph = captured.graph
    savers = graph.get_collection(tf.compat.v1.GraphKeys.SAVERS)
    if not savers:
      graph.add_to_collection(tf.compat.v1.GraphKeys.SAVERS, _SaverForHooks(
          captured.checkpoint_layout, stores, meta_graph))
    for saver in savers + [tf_internals.checkpoint_hook_saver(h)
                           for h in saver_hooks]:
      if isinstance(saver, _train.Saver):
        _write_tf1_meta_graphs(saver, captured, config)
    return None
  if is_chief and (config.save_checkpoints_steps or
                   config.save_checkpoints_secs):
    return Checkpointing(stores.for_dir(), captured.checkpoint_layout, config,
                         listeners, meta_graph, writer)
  if listeners:
    raise ValueError('There should be a CheckpointSaverHook to use '
                     'saving_listeners. Enable checkpoints via RunConfig '
                     '(save_checkpoints_steps or save_checkpoints_secs).')
  return None


def log_saver_hook_made(config, hooks, spec):
  """2.15's "Create CheckpointSaverHook." line, where it made its own hook.

  It made one, chief or not, when the RunConfig saves checkpoints and no
  `CheckpointSaverHook` was among the call's and the model_fn's hooks.
  """
  if (config.save_checkpoints_steps or config.save_checkpoints_secs) and (
      not program_saver_hooks(list(hooks) + list(spec.training_hooks) +
                              list(spec.training_chief_hooks))):
    logging.info('Create CheckpointSaverHook.')


def program_saver_hooks(hooks):
  """The `CheckpointSaverHook`s among a call's hooks: they save instead of
  the Estimator, and write graph.pbtxt where they save."""
  return [h for h in hooks if isinstance(h, _train.CheckpointSaverHook)]


def _write_tf1_meta_graphs(saver, captured, config):
  """Makes a program's own `Saver` write the TF1 .meta 2.15's wrote.

  Mesh TensorFlow (under T5) builds a sharded `tf.compat.v1.train.Saver` in
  its model_fn and gives it to a `CheckpointSaverHook`. Its save ops run in
  the model graph and write the checkpoint 2.15 wrote, but its
  `export_meta_graph` serialized that graph as it is here, a function graph
  whose variables are placeholders: `import_meta_graph` + `restore` of the
  .meta failed ("You must feed a value for placeholder tensor ..."), and
  TF warned once per graph collection it could not serialize. The .meta is
  now the TF1 graph of `engine/tf1_graph.py` naming this Saver's ops, made
  at its first save (after the hooks' `begin()`, which may add to the
  graph) and kept with the graph, as the Estimator's own .meta is.
  """

  def export_meta_graph(filename=None, collection_list=None, as_text=False,
                        **unused_options):
    del collection_list  # the TF1 graph's own collections, as 2.15's
    meta = captured.cached(
        ('tf1_graph', saver),
        lambda: tf1_graph.meta_graph_def(captured, config,
                                         saver_def=saver.saver_def)[1])
    if filename:
      with tf.io.gfile.GFile(filename, 'w' if as_text else 'wb') as f:
        f.write(str(meta) if as_text else meta.SerializeToString())
    return meta

  saver.export_meta_graph = export_meta_graph


class _SaverForHooks:
  """What a user's `CheckpointSaverHook` finds in the SAVERS collection."""

  saver_def = None

  def __init__(self, layout, stores, meta_graph):
    self._layout = layout
    self._stores = stores
    self._meta_graph = meta_graph

  def save(self, sess, save_path, global_step=None, write_meta_graph=True,
           **unused_kwargs):
    del sess
    step = int(np.asarray(global_step)) if global_step is not None else 0
    return self._stores.for_dir(os.path.dirname(save_path)).save(
        self._layout.variables, step,
        self._meta_graph if write_meta_graph else None,
        self._layout.tensors_to_save())


class Checkpointing:
  """Native CheckpointSaverHook: saves at start, on schedule and at the end."""

  def __init__(self, store, layout, config, listeners, meta_graph,
               writer=None):
    self._store = store
    self._writer = writer
    self._layout = layout
    self._meta_graph = meta_graph  # written as each checkpoint's .meta
    self._listeners = list(listeners)
    self._timer = _train.SecondOrStepTimer(
        every_secs=config.save_checkpoints_secs,
        every_steps=config.save_checkpoints_steps)
    self.last_path = None

  def begin(self):
    for listener in self._listeners:
      listener.begin()

  def save(self, session, step, on_disk=None):
    """Saves; returns True if a listener asked training to stop.

    `on_disk` is a checkpoint already holding these values (the one just
    restored): listeners see a save, as in 2.15, but its files and the state
    file are left untouched, so a train call failing in its first step
    leaves the model_dir byte for byte as it was.
    """
    # 2.15's CheckpointSaverHook logged these lines, listeners or not.
    logging.info('Calling checkpoint listeners before saving checkpoint %d...',
                 step)
    for listener in self._listeners:
      listener.before_save(session, step)
    prefix = os.path.join(self._store.directory,
                          checkpoints.CHECKPOINT_BASENAME)
    logging.info('Saving checkpoints for %d into %s.', step, prefix)
    self.last_path = on_disk or self._store.save(
        self._layout.variables, step, self._meta_graph,
        self._layout.tensors_to_save())
    if self._writer:
      self._writer.add_session_log(tf.compat.v1.SessionLog.CHECKPOINT, step,
                                   checkpoint_path=prefix)
    self._timer.update_last_triggered_step(step)
    logging.info('Calling checkpoint listeners after saving checkpoint %d...',
                 step)
    stop = False
    for listener in self._listeners:
      if listener.after_save(session, step):
        logging.info('A CheckpointSaverListener requested that training stop.')
        stop = True
    return stop

  def due(self, step):
    return self._timer.should_trigger_for_step(step)

  def steps_until_due(self, step, secs_per_step=None):
    """Steps that may run, from `step` on, before a save is due.

    A timer of seconds is predicted from `secs_per_step`, the latest measured
    time of a step (unbounded without one): 2.15 checked it after every step,
    so a compiled call must end once its steps have used up the interval.
    Left to the other duties' bounds (100 steps by default), a program whose
    steps took 0.1 s saved every 10 s instead of every second, and a
    train_and_evaluate job lost an evaluation round.
    """
    if self._timer.last_triggered_step() is None or (
        tf_internals.timer_every_secs(self._timer) is not None and
        not secs_per_step):
      return _NEVER
    return hook_schedule.timer_quiet_steps(self._timer, step, secs_per_step)

  def end(self, session, step):
    if self._timer.last_triggered_step() != step:
      self.save(session, step)
    for listener in self._listeners:
      listener.end(session, step)
