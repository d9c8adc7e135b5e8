"""`Estimator.train`: the loop, its built-in logging, summaries and checkpoints.

The behaviours 2.15 installed as hooks (LoggingTensorHook for loss/step,
StepCounterHook, SummarySaverHook, CheckpointSaverHook, NanTensorHook,
StopAtStepHook) are done natively here with TF's own `SecondOrStepTimer`s, so
their schedule is known ahead of time. Between the steps where one of them
needs a value, steps run in bulk inside a compiled loop, and the step that
needs it (to log the loss or write summaries) ends the same compiled call
instead of costing a call of its own. User hooks see every step through the
hook protocol, except the steps `hook_schedule` proves a hook ignores (e.g.
between a LoggingTensorHook's every_n_iter logs).
"""

import os
import time

from tensorflow.python.platform import tf_logging as logging
import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import distribution
from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator.engine import loops
from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator.engine import tf1_graph
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import file_errors
from tfcompat_estimator.io import summaries
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.session_emulation import hook_runner as hook_runner_lib
from tfcompat_estimator.session_emulation import hook_schedule
from tfcompat_estimator.session_emulation import session as session_lib
from tfcompat_estimator.session_emulation import step_runner

_train = tf.compat.v1.train
# How many times the step hooks wait for runs again on parameter-server
# workers that are lost with its result (each run waits for a live worker).
_REPORT_ATTEMPTS = 5


def validate_steps(steps, max_steps):
  if steps is not None and max_steps is not None:
    raise ValueError('Can not provide both steps and max_steps.')
  if steps is not None and steps <= 0:
    raise ValueError(f'Must specify steps > 0, given: {steps}')
  if max_steps is not None and max_steps <= 0:
    raise ValueError(f'Must specify max_steps > 0, given: {max_steps}')


class _CheckpointSaverAdapter:
  """What a user's `CheckpointSaverHook` finds in the SAVERS collection."""

  saver_def = None

  def __init__(self, layout, store_for_dir, meta_graph):
    self._layout = layout
    self._store_for_dir = store_for_dir
    self._meta_graph = meta_graph

  def save(self, sess, save_path, global_step=None, write_meta_graph=True,
           **unused_kwargs):
    del sess
    step = int(np.asarray(global_step)) if global_step is not None else 0
    return self._store_for_dir(os.path.dirname(save_path)).save(
        self._layout.variables, step,
        self._meta_graph if write_meta_graph else None, self._layout.constants)


class _Checkpointing:
  """Native CheckpointSaverHook: saves at start, on schedule and at the end."""

  def __init__(self, store, layout, config, listeners, meta_graph):
    self._store = store
    self._layout = layout
    self._meta_graph = meta_graph  # written as each checkpoint's .meta
    self._listeners = list(listeners)
    self.timer = _train.SecondOrStepTimer(every_secs=config.save_checkpoints_secs,
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
    logging.info('Saving checkpoints for %d into %s.', step,
                 os.path.join(self._store.directory, checkpoints.CHECKPOINT_BASENAME))
    for listener in self._listeners:
      listener.before_save(session, step)
    self.last_path = on_disk or self._store.save(
        self._layout.variables, step, self._meta_graph, self._layout.constants)
    self.timer.update_last_triggered_step(step)
    stop = False
    for listener in self._listeners:
      if listener.after_save(session, step):
        logging.info('A CheckpointSaverListener requested that training stop.')
        stop = True
    return stop

  def due(self, step):
    return self.timer.should_trigger_for_step(step)

  def end(self, session, step):
    if self.timer.last_triggered_step() != step:
      self.save(session, step)
    for listener in self._listeners:
      listener.end(session, step)


class TrainLoop:
  """One call of `Estimator.train`."""

  def __init__(self, estimator, input_fn, hooks, last_step, steps,
               saving_listeners):
    self._est = estimator
    self._config = estimator.config
    self._hooks = list(model_fn_lib.checked_hooks(hooks))
    self._listeners = list(saving_listeners or [])
    self._strategy = distribution.strategy_for(model_fn_lib.ModeKeys.TRAIN,
                                               self._config)
    self._is_chief = distribution.is_chief(self._config, self._strategy)
    self._one_by_one = distribution.steps_one_by_one(self._strategy)
    self._batches = input_pipeline.BatchSource(
        input_fn, model_fn_lib.ModeKeys.TRAIN, estimator.params, self._config)
    self._restored = checkpoints.latest_checkpoint(estimator.model_dir)
    self.captured = estimator._prepare(  # pylint: disable=protected-access
        model_fn_lib.ModeKeys.TRAIN, self._batches, self._restored)
    self._start = int(self.captured.global_step.numpy())
    self._last_step = last_step if steps is None else self._start + steps
    self._session = session_lib.EmulatedSession(self.captured,
                                                 self._batches.input_graph)
    self._stores = {}
    self._loop = None  # the compiled train loop last used

  def _store_for_dir(self, directory):
    directory = directory or self._est.model_dir
    if directory not in self._stores:
      # A Scaffold saver's own retention wins, as its saves were 2.15's.
      retention = self.captured.checkpoint_layout.retention or (
          self._config.keep_checkpoint_max,
          self._config.keep_checkpoint_every_n_hours)
      self._stores[directory] = checkpoints.CheckpointStore(directory,
                                                            *retention)
    return self._stores[directory]

  def _all_hooks(self):
    spec = self.captured.spec
    # 2.15's order: chief-only hooks, then the caller's, then the model_fn's.
    chief = list(spec.training_chief_hooks) if self._is_chief else []
    return chief + self._hooks + list(spec.training_hooks)

  def _checkpointing_for(self, hooks, meta_graph):
    """Native checkpointing, or None when a CheckpointSaverHook in `hooks` saves.

    Such a hook gets the listeners and finds our saver (which writes
    `meta_graph` as each checkpoint's .meta) in the SAVERS collection.
    """
    saver_hooks = [h for h in hooks if isinstance(h, _train.CheckpointSaverHook)]
    checkpointing = None
    if saver_hooks:
      saver_hooks[0]._listeners.extend(self._listeners)  # pylint: disable=protected-access
      graph = self.captured.graph
      if not graph.get_collection(tf.compat.v1.GraphKeys.SAVERS):
        graph.add_to_collection(tf.compat.v1.GraphKeys.SAVERS, _CheckpointSaverAdapter(
            self.captured.checkpoint_layout, self._store_for_dir, meta_graph))
    elif self._is_chief and (self._config.save_checkpoints_steps or
                                    self._config.save_checkpoints_secs):
      checkpointing = _Checkpointing(self._store_for_dir(None),
                                     self.captured.checkpoint_layout,
                                     self._config, self._listeners, meta_graph)
    elif self._listeners:
      raise ValueError('There should be a CheckpointSaverHook to use '
                       'saving_listeners. Enable checkpoints via RunConfig '
                       '(save_checkpoints_steps or save_checkpoints_secs).')
    return checkpointing

  def run(self):
    """Trains until `last_step`, end of input, or a stop request."""
    try:
      return self._run()
    except tf.errors.OpError as e:
      distribution.reraise_peer_failure(self._strategy, e)
    finally:
      self._batches.close()

  def _tf1_graph_files(self, hooks):
    """Writes graph.pbtxt and graph events; returns the serialized MetaGraphDef.

    As 2.15's CheckpointSaverHook did on the chief when it saved
    checkpoints, unless `RunConfig(checkpoint_save_graph_def=False)`.
    """
    config = self._config
    if not (self._is_chief and config.checkpoint_save_graph_def and (
        config.save_checkpoints_steps or config.save_checkpoints_secs or
        any(isinstance(h, _train.CheckpointSaverHook) for h in hooks))):
      return None
    graphs = self.captured.cached(
        'tf1_graph', lambda: tf1_graph.meta_graph_def(self.captured))
    with file_errors.reporting('graph.pbtxt in', self._est.model_dir):
      tf.io.write_graph(graphs[0], self._est.model_dir, 'graph.pbtxt')
    self._writer.add_graph_once(lambda: graphs)
    return graphs[1].SerializeToString()

  def _run(self):
    config = self._config
    self._writer = summaries.writer_for(self._est.model_dir) if self._is_chief else None
    hooks = self._all_hooks()
    if self._batches.on_workers:
      parameter_servers.check_hooks(hooks, self._global_step())
    self._checkpointing = self._checkpointing_for(hooks,
                                                  self._tf1_graph_files(hooks))
    runner = hook_runner_lib.HookRunner(hooks, self._session)
    self._log_timer = (_train.SecondOrStepTimer(every_steps=config.log_step_count_steps)
                       if config.log_step_count_steps else None)
    self._rate_timer = (_train.SecondOrStepTimer(every_steps=config.log_step_count_steps)
                        if config.log_step_count_steps else None)
    self._summary_timer = (_train.SecondOrStepTimer(every_steps=config.save_summary_steps)
                           if self._is_chief and config.save_summary_steps and
                           self.captured.summary_op is not None else None)
    self._iteration = 0
    self._last_log_time = None
    self._loss = None
    self._listener_stop = False
    self._est._mark_unsaved(self.captured)  # pylint: disable=protected-access
    try:
      if self._checkpointing:
        self._checkpointing.begin()
      runner.begin()
      runner.after_create_session()
      step = self._global_step()
      stop = False
      if self._checkpointing:
        # As in 2.15, a stop request from the initial save is not honoured.
        self._checkpointing.save(self._session, step, on_disk=self._restored_at(step))
      while not stop and not self._reached_last_step(step):
        bulk = self._bulk_steps(step, hooks)
        report = self._report_after(step, bulk, hooks)
        try:
          if bulk > 0 or report:
            self._run_compiled(step, bulk, report, runner, hooks)
          else:
            self._run_single(runner, step)
        except end_of_input.ENDS_RUN:
          break
        step = self._global_step()
        stop = runner.stop_requested or self._listener_stop
        self._count_rate(step)
        if self._checkpointing and self._checkpointing.due(step):
          stop = self._checkpointing.save(self._session, step) or stop
      self._session.current_batch = None
      final_step = self._global_step()
      if self._checkpointing:
        self._checkpointing.end(self._session, final_step)
        self._est._mark_saved(self.captured, self._checkpointing.last_path)  # pylint: disable=protected-access
      runner.end()
      if self._loss is not None:
        logging.info('Loss for final step: %s.', self._loss)
    finally:
      if self._writer:
        self._writer.flush()
    return self._loss

  def _restored_at(self, step):
    """The checkpoint training started from, if nothing has moved `step` since."""
    return self._restored if step == self._start else None

  def _global_step(self):
    return int(self.captured.global_step.numpy())

  def _reached_last_step(self, step):
    return self._last_step is not None and step >= self._last_step

  def _bulk_steps(self, step, hooks):
    """How many steps may run compiled before a hook or built-in needs one."""
    if self._batches.iterator is None or self._one_by_one:
      return 0
    if self._log_timer and self._log_timer.should_trigger_for_step(self._iteration):
      return 0
    if self._summary_timer and self._summary_timer.should_trigger_for_step(step + 1):
      return 0
    limit = min(self._config.steps_per_loop, hook_schedule.quiet_steps(hooks, step))
    if self._log_timer and self._log_timer.last_triggered_step() is not None:
      limit = min(limit, self._log_timer.last_triggered_step() +
                  self._config.log_step_count_steps - self._iteration)
    if self._summary_timer:
      limit = min(limit, self._summary_timer.last_triggered_step() +
                  self._config.save_summary_steps - 1 - step)
    timer = self._checkpointing.timer if self._checkpointing else None
    if timer and timer._every_steps:  # pylint: disable=protected-access
      limit = min(limit, timer.last_triggered_step() + timer._every_steps - step)  # pylint: disable=protected-access
    if self._rate_timer and self._rate_timer.last_triggered_step() is not None:
      limit = min(limit, self._rate_timer.last_triggered_step() +
                  self._config.log_step_count_steps - step)
    if self._last_step is not None:
      limit = min(limit, self._last_step - step)
    return max(int(limit), 0)

  def _report_after(self, step, n, hooks):
    """`(want_log, want_summary)` if step `step + n` can end a compiled call.

    That is a step a built-in (loss logging, summaries) or a known hook wants
    right after `n` quiet steps, with no step-scheduled checkpoint due
    between the two. Otherwise None.
    """
    if self._batches.iterator is None or self._one_by_one:
      return None
    if self._reached_last_step(step + n) or not hook_schedule.known(hooks):
      return None
    timer = self._checkpointing.timer if self._checkpointing else None
    if n and timer and timer._every_steps and timer.should_trigger_for_step(step + n):  # pylint: disable=protected-access
      return None
    wants = self._reports_at(step + n, self._iteration + n)
    hooks_want = hook_schedule.quiet_steps(hooks, step) <= n
    return wants if any(wants) or hooks_want else None

  def _reports_at(self, step, iteration):
    """Whether the step starting at global step `step` logs, writes summaries."""
    return (bool(self._log_timer and self._log_timer.should_trigger_for_step(iteration)),
            bool(self._summary_timer and self._summary_timer.should_trigger_for_step(step + 1)))

  def _report_fetches(self, want_summary=True):
    fetches = {'loss': self.captured.spec.loss, 'step': self.captured.global_step_read}
    if want_summary and self._summary_timer:
      fetches['summary'] = self.captured.summary_op
    return fetches

  def _run_compiled(self, step, n, report, runner, hooks):
    """`n` steps in one compiled call, ended by the `report` step if any.

    The hooks' counters pass the `n` steps first, so they see the report step
    through the hook protocol as if it had been run on its own.
    """
    hook_schedule.skip(hooks, n)
    if report is None:
      self._run_loop(step, n, None)
      return
    self._run_step(runner, report, compute=lambda elements, run_ops: self._run_loop(
        step, n, (elements, run_ops)))

  def _run_loop(self, step, n, report):
    """Runs `n` steps, then the step fetching `report = (elements, run_ops)`.

    Returns that step's numpy values. Without `report`, the last loop built
    runs with its report step switched off (one graph to trace, not two).
    """
    if report is not None or self._loop is None:
      elements, run_ops = report or (list(self._report_fetches().values()),
                                     [self.captured.train_op])
      report_fn = self.captured.pruned_for(elements, run_ops)
      self._loop = self.captured.cached(
          ('train_loop', report_fn.name), lambda: loops.make_loop(
              self.captured.pruned_for([self.captured.spec.loss], [self.captured.train_op]),
              watch_loss=True, report_fn=report_fn, n_reported=len(elements)))
    if self._batches.on_workers:
      steps_run, loss, stopped, reported, values = self._run_on_workers(
          n, report is not None)
    else:
      steps_run, loss, stopped, reported, values = self._loop(
          self._batches.iterator, tf.constant(n),
          tf.constant(report is not None))
    steps_run = int(steps_run)
    self._iteration += steps_run
    if bool(stopped):
      if steps_run and not np.isfinite(loss.numpy()):
        self._raise_nan(loss.numpy())
      raise end_of_input.EndOfInput
    if steps_run:
      self._loss = loss.numpy()
    if report is None:
      return None
    if n:
      self._count_rate(step + n)  # as `_run` would have between two calls
    if not bool(reported):
      raise end_of_input.EndOfInput
    return [feed_values.to_numpy(v) for v in loops.with_operations(
        report_fn, len(elements), values)]

  def _run_on_workers(self, n, report):
    """`self._loop`'s results, its steps run by the parameter-server workers.

    The `n` quiet steps are split into one compiled call per worker, run
    concurrently; the report step, if any, runs after them, so the values
    it returns follow every step before it. A call whose worker was lost
    with its result counts no steps (the loop reads the global step, so
    none are run twice on that account); a lost report step runs again,
    since hooks wait for its values.
    """
    strategy = self._strategy
    workers = parameter_servers.num_workers(strategy)
    sizes = [n // workers + (1 if i < n % workers else 0)
             for i in range(min(n, workers))]
    calls = [self._schedule_loop(size, False) for size in sizes]
    final = self._schedule_loop(0, True) if report else None
    results = [r for r in map(parameter_servers.fetch, calls) if r is not None]
    if report:
      results.append(self._report_result(final))
    steps_run = sum(int(r[0]) for r in results)
    ran = [r for r in results if int(r[0])]
    loss = ran[-1][1] if ran else 0.0
    stopped = any(bool(r[2]) for r in results)
    if stopped:  # the first call that stopped says why (NaN or end of input)
      loss = next(r[1] for r in results if bool(r[2]))
    reported, values = (results[-1][3], results[-1][4]) if report else (
        False, [])
    return steps_run, tf.constant(loss), stopped, reported, values

  def _schedule_loop(self, n, report):
    return parameter_servers.schedule(
        self._strategy, self._loop,
        (self._batches.iterator, tf.constant(n), tf.constant(report)))

  def _report_result(self, call, attempts=_REPORT_ATTEMPTS):
    """The report step's result, run again while workers are lost with it."""
    for _ in range(attempts):
      result = parameter_servers.fetch(call)
      if result is not None:
        return result
      call = self._schedule_loop(0, True)
    raise parameter_servers.ParameterServerError(
        f'Parameter-server training stopped: {attempts} workers in a row '
        'were lost with the result of the step the hooks wait for. Check '
        'that the worker tasks stay up, then restart the job; it resumes '
        'from the latest checkpoint in model_dir.')

  def _run_single(self, runner, step):
    wants = self._reports_at(step, self._iteration)
    if self._batches.on_workers:
      # A worker reads the batch: the step is a compiled call of no quiet
      # steps, ended by this one.
      self._run_compiled(step, 0, wants, runner, [])
      return
    self._run_step(runner, wants)

  def _run_step(self, runner, wants, compute=None):
    """One step through the hook protocol, then its loss log and summary.

    `wants` is `(want_log, want_summary)`; `compute` is `run_step`'s (the
    compiled loop that ends with this step), or None to run it on its own.
    """
    want_log, want_summary = wants
    values = step_runner.run_step(self._session, runner, self._batches,
                                  self._report_fetches(want_summary),
                                  run_ops=[self.captured.train_op],
                                  after_step=self._save_before_hooks, compute=compute)
    self._iteration += 1
    self._loss = values['loss']
    if not np.isfinite(self._loss):
      self._raise_nan(self._loss)
    if want_log:
      self._log_timer.update_last_triggered_step(self._iteration - 1)
      now = time.time()
      suffix = '' if self._last_log_time is None else f' ({now - self._last_log_time:.3f} sec)'
      self._last_log_time = now
      logging.info('loss = %s, step = %s%s', self._loss, values['step'], suffix)
    if want_summary:
      post_step = int(values['step']) + 1
      self._summary_timer.update_last_triggered_step(post_step)
      self._writer.write_serialized(values['summary'], post_step)
      input_graph = self._batches.input_graph
      input_summary = input_graph.summary() if input_graph else None
      if input_summary is not None:
        self._writer.write_serialized(input_summary, post_step)

  def _count_rate(self, step):
    """Logs and records global_step/sec when its timer is due at `step`."""
    if self._rate_timer and self._rate_timer.should_trigger_for_step(step):
      elapsed_time, elapsed_steps = self._rate_timer.update_last_triggered_step(step)
      if elapsed_time:
        rate = elapsed_steps / elapsed_time
        logging.info('global_step/sec: %g', rate)
        if self._writer:
          self._writer.write_dict({'global_step/sec': rate}, step)

  def _save_before_hooks(self, values):
    """Saves a due checkpoint before the hooks see the step, as 2.15 did.

    So a hook reacting to the save (e.g. an early-stopping hook reading the
    evaluation a listener just ran) acts at the same step. A non-finite loss
    is never saved; the step raises right after.
    """
    if not self._checkpointing:
      return
    step = self._global_step()
    if self._checkpointing.due(step) and np.isfinite(values['loss']):
      self._listener_stop = self._checkpointing.save(self._session, step)

  def _raise_nan(self, loss):
    logging.error('Model diverged with loss = %s.', loss)
    raise _train.NanLossDuringTrainingError
