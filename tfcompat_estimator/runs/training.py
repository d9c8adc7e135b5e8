"""`Estimator.train`: the loop, its built-in logging, summaries and checkpoints.

The behaviours 2.15 installed as hooks (LoggingTensorHook for loss/step,
StepCounterHook, SummarySaverHook, CheckpointSaverHook, NanTensorHook,
StopAtStepHook) are done natively here, on a schedule known ahead of time
(`train_schedule`). Between the steps where one of them needs a value, steps
run in bulk inside a compiled loop; the step that needs it (to log the loss
or write summaries) is one compiled call of its own, which draws its batch
inside the call; until the loop is worth compiling, quiet steps may run
through that call instead (`step_rental`). User hooks see every step through
the hook protocol, except the steps `hook_schedule` proves a hook ignores
(e.g. between a LoggingTensorHook's every_n_iter logs).
"""

import functools
import os
import time

import numpy as np
import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.engine import distribution
from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator.engine import loops
from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator.engine import short_runs
from tfcompat_estimator.engine import tf1_graph
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import file_errors
from tfcompat_estimator.io import graph_text
from tfcompat_estimator.io import summaries
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator.runs import checkpointing as checkpointing_lib
from tfcompat_estimator.runs import step_rental
from tfcompat_estimator.runs import train_schedule
from tfcompat_estimator.session_emulation import file_writer_cache
from tfcompat_estimator.session_emulation import hook_runner as hook_runner_lib
from tfcompat_estimator.session_emulation import hooked_step
from tfcompat_estimator.session_emulation import session as session_lib

_train = tf.compat.v1.train
# How many times the step hooks wait for runs again on parameter-server
# workers that are lost with its result (each run waits for a live worker).
_HOOKED_STEP_ATTEMPTS = 5
# The captured graph's cache key of its compiled quiet loop.
_TRAIN_LOOP = 'train_loop'
# 2.15's StepCounterHook's words, for a step that left the global step as
# it was (up to five times a process).
_STEP_STAYED = (
    'It seems that global step (tf.train.get_global_step) has not been '
    'increased. Current value (could be stable): %s vs previous value: %s. '
    'You could increase the global step by passing '
    'tf.train.get_global_step() to Optimizer.apply_gradients or '
    'Optimizer.minimize.')


def validate_steps(steps, max_steps):
  if steps is not None and max_steps is not None:
    raise ValueError('Can not provide both steps and max_steps.')
  if steps is not None and steps <= 0:
    raise ValueError(f'Must specify steps > 0, given: {steps}')
  if max_steps is not None and max_steps <= 0:
    raise ValueError(f'Must specify max_steps > 0, given: {max_steps}')


class TrainLoop:
  """One call of `Estimator.train`."""

  def __init__(self, context, input_fn, hooks, last_step, steps,
               saving_listeners):
    """Prepares the call: its input, graph, hooks, checkpoints and schedule.

    Args:
      context: The Estimator's `RunContext`.
      input_fn, hooks, saving_listeners: As in `Estimator.train`.
      last_step: `max_steps`, or None.
      steps: `steps`, or None: `last_step` is then the restored step plus it.
    """
    self._context = context
    self._config = context.config
    self._strategy = distribution.strategy_for(model_fn_lib.ModeKeys.TRAIN,
                                               self._config)
    self._is_chief = distribution.is_chief(self._config, self._strategy)
    self._batches = input_pipeline.BatchSource(
        input_fn, model_fn_lib.ModeKeys.TRAIN, context.params, self._config)
    try:
      self._prepare(list(model_fn_lib.checked_hooks(hooks)), last_step, steps,
                    list(saving_listeners or []))
    except BaseException:
      self._batches.close()
      raise
    self._loss = None
    self._listener_stop = False

  def _prepare(self, user_hooks, last_step, steps, listeners):
    context, config = self._context, self._config
    self._restored = checkpoints.latest_checkpoint(context.model_dir)
    self.captured = context.graphs.for_run(
        model_fn_lib.ModeKeys.TRAIN, self._batches, self._restored,
        before_loading=lambda spec: checkpointing_lib.log_saver_hook_made(
            config, user_hooks, spec),
        short_run=short_runs.is_short(steps, last_step))
    self._start = self.captured.global_step_now()
    last_step = last_step if steps is None else self._start + steps
    self._session = session_lib.EmulatedSession(self.captured, self._batches)
    spec = self.captured.spec
    # 2.15's order: chief-only hooks, then the caller's, then the model_fn's.
    # Its built-in hooks stood among them: StepCounterHook after the chief
    # hooks; NanTensorHook and the loss LoggingTensorHook after the caller's.
    chief_hooks = list(spec.training_chief_hooks) if self._is_chief else []
    self._hooks = chief_hooks + user_hooks + list(spec.training_hooks)
    self._saver_hooks = checkpointing_lib.program_saver_hooks(self._hooks)
    self._rate_position = len(chief_hooks)
    self._loss_position = len(chief_hooks) + len(user_hooks)
    if self._batches.on_workers:
      parameter_servers.check_hooks(self._hooks, self._start)
    self._writer = (summaries.writer_for(context.model_dir)
                    if self._is_chief else None)
    self._graph_files = self._tf1_graphs()  # graph.pbtxt and .meta contents
    self._checkpointing = checkpointing_lib.for_call(
        self._hooks, listeners, self.captured, config, self._is_chief,
        checkpointing_lib.CheckpointStores(context.model_dir, config,
                                           self.captured.checkpoint_layout),
        self._graph_files[1].SerializeToString() if self._graph_files
        else None, self._writer)
    self._runner = hook_runner_lib.HookRunner(self._hooks, self._session)
    # A hook's FileWriterCache writer writes the graph 2.15 wrote.
    file_writer_cache.graph_events_of(
        self.captured, functools.partial(_tf1_graph_files, config=config))
    self._schedule = train_schedule.TrainSchedule(
        config, self._hooks, spec.loss, last_step,
        # Compiled calls run a count of steps: that is the global step's
        # distance to the last step only where each step adds one to it.
        compiled=(self._batches.iterator is not None and
                  not distribution.steps_one_by_one(self._strategy) and
                  self.captured.steps_advance_global_step_by_one),
        summaries=self._is_chief and self.captured.summary_op is not None,
        checkpointing=self._checkpointing,
        # TF1's reference variable (2.15's early-stopping hook fetched it).
        fetched_after_step=(self.captured.global_step_value is not
                            self.captured.global_step_read))

  def _tf1_graphs(self):
    """`(graph_def, meta_graph_def)` to write, as 2.15 did, or None.

    2.15's CheckpointSaverHook wrote them on the chief when it saved
    checkpoints, unless `RunConfig(checkpoint_save_graph_def=False)`.
    """
    config = self._config
    if not (self._is_chief and config.checkpoint_save_graph_def and (
        config.save_checkpoints_steps or config.save_checkpoints_secs or
        self._saver_hooks)):
      return None
    return _tf1_graph_files(self.captured, config)

  def _write_graph_events(self):
    """Writes the graph events, if 2.15 wrote them: before its first save
    (TensorBoard finds them ahead of step 0's checkpoint session log)."""
    if self._graph_files is not None:
      self._writer.add_graph_once(lambda: self._graph_files, 'training')

  def _write_graph_text(self):
    """Writes graph.pbtxt, if 2.15 wrote it.

    It goes where 2.15's CheckpointSaverHook wrote it: model_dir, or the
    directory of each of the program's own saver hooks (one saving
    elsewhere left model_dir without it).
    """
    if self._graph_files is None:
      return
    directories = ([tf_internals.checkpoint_hook_graph_dir(h)
                    for h in self._saver_hooks] if self._saver_hooks
                   else [self._context.model_dir])
    for directory in dict.fromkeys(d for d in directories if d):
      with file_errors.reporting('graph.pbtxt in', directory):
        graph_text.write(self._graph_files[0], directory, 'graph.pbtxt')

  def run(self):
    """Trains until `last_step`, end of input, or a stop request."""
    try:
      return self._run()
    except tf.errors.OpError as e:
      distribution.reraise_peer_failure(self._strategy, e)
    finally:
      self._batches.close()

  def _run(self):
    self._context.graphs.mark_changed(self.captured)
    checkpointing, runner = self._checkpointing, self._runner
    try:
      if checkpointing:
        checkpointing.begin()
      runner.begin()
      self._write_graph_events()
      if checkpointing:
        # Before the hooks' `after_create_session`, where 2.15's
        # CheckpointSaverHook, first of them, saved: KMeans' hook chooses
        # the centers there, which checkpoint 0 does not hold. As in 2.15,
        # a stop request from the initial save is not honoured.
        step = self._global_step()
        checkpointing.save(self._session, step, on_disk=self._restored_at(step))
      runner.after_create_session()
      # After the hooks': a program's own CheckpointSaverHook wrote
      # graph.pbtxt there, from the function graph as it is here.
      self._write_graph_text()
      # Whether a hooked step's read of the global step, plus one, is its
      # value after the step: then it is not read again (`_run_hooked`).
      self._step_follows_read = (
          not self._batches.on_workers and
          self.captured.global_step_moves_by_one_per_step())
      step = self._global_step()
      # The last step's read of the global step if it was a hooked step;
      # None after quiet steps (each added one) and before any step. The
      # next hooked step compares its own with it, as 2.15's
      # StepCounterHook compared each step's with the one before.
      self._pre_step = None
      # The global step after the last step as 2.15's SummarySaverHook
      # counted it, where that was not the global step (`_run_hooked`).
      self._summary_step = None
      self._session_started = False
      stop = False
      while not stop and not self._schedule.reached_last_step(
          step, self._pre_step):
        quiet = self._schedule.quiet_steps(step)
        wants = self._schedule.hooked_step_after(step, quiet)
        started = time.perf_counter()
        self._known_step = None
        try:
          if quiet > 0 or wants:
            self._run_compiled(step, quiet, wants)
          else:
            self._run_single(step)
        except end_of_input.ENDS_RUN:
          break
        if not quiet:  # a step of its own (`_run_quiet` times the others)
          self._schedule.ran(1, time.perf_counter() - started)
        step = (self._global_step() if self._known_step is None
                else self._known_step)
        if not self._session_started:  # the first call ran quiet steps only
          self._log_session_start(self._start + 1)
        stop = runner.stop_requested or self._listener_stop
        if self._pre_step is None:  # a hooked step's rate duty counted it
          self._count_rate(step)
        # After a hooked step (its pre-step value known) a due checkpoint was
        # saved before its hooks ran (2.15's CheckpointSaverHook came first);
        # a hook may have moved the global step since, which 2.15 saved at
        # the next step only.
        if (checkpointing and self._pre_step is None and
            checkpointing.due(step)):
          stop = checkpointing.save(self._session, step) or stop
      self._session.current_batch = None
      final_step = self._global_step()
      if checkpointing:
        checkpointing.end(self._session, final_step)
        self._context.graphs.mark_saved(self.captured,
                                        checkpointing.last_path)
      runner.end()
      if self._loss is not None:
        logging.info('Loss for final step: %s.', self._loss)
    finally:
      if self._writer:
        self._writer.flush()
    return self._loss

  def _log_session_start(self, step):
    """The START session log by which TensorBoard drops what a run that
    went further before restarting from an older checkpoint had written.

    As 2.15's SummarySaverHook: at the global step after the call's first
    step, before that step's summary (which it would drop otherwise).
    """
    self._session_started = True
    if self._writer and self._schedule.summaries:
      self._writer.add_session_log(tf.compat.v1.SessionLog.START, step)

  def _restored_at(self, step):
    """The checkpoint training started from, if it is the one a save at
    `step` would write (`model.ckpt-<step>`, nothing having moved the step
    since). A checkpoint of another name (AdaNet restores its
    `increment.ckpt-N`) is no save of this step: 2.15 wrote that one anew."""
    saved_as = os.path.join(self._context.model_dir,
                            f'{checkpoints.CHECKPOINT_BASENAME}-{step}')
    if step == self._start and self._restored and (
        os.path.realpath(self._restored) == os.path.realpath(saved_as)):
      return self._restored
    return None

  def _global_step(self):
    return self.captured.global_step_now()

  def _fetches(self, want_summary):
    """The loop's own fetches of a hooked step."""
    fetches = {'loss': self.captured.spec.loss,
               'step': self.captured.global_step_read,
               # 2.15 logged the global step variable's fetched value.
               'logged_step': self.captured.global_step_value}
    if want_summary and self._schedule.summaries:
      fetches['summary'] = self.captured.summary_op
    return fetches

  def _run_compiled(self, step, quiet, wants):
    """`quiet` steps in one compiled call, then a hooked step if `wants`.

    The hooks' counters pass the quiet steps first, so they see the hooked
    step through the hook protocol as if it had been run on its own.
    """
    self._schedule.skip_hooks(quiet)
    if quiet:
      ran = self._run_quiet(quiet, self._schedule.steps_left(step))
      now = self._step_after_quiet(step, ran)
      if now != step + ran:
        # The call was planned on each step adding one to the global step,
        # which the graph could not rule out (its write in a `cond`: a
        # loss-scaling optimizer skips the update of a step whose
        # gradients overflow, RigL's mask updates leave the step where it
        # is). Steps run one by one for a while, their duties scheduled on
        # the global step as 2.15's hooks were; `_run` plans the next one.
        self._schedule.run_steps_one_by_one()
        wants = None
      step = now
      if wants is None:
        self._known_step = step
    if wants is not None:
      if quiet:
        self._count_rate(step)  # as `_run` would have between calls
      self._run_hooked(wants)

  def _step_after_quiet(self, step, ran):
    """The global step after `ran` quiet steps from global step `step`.

    Read, unless the input is on parameter-server workers, whose steps move
    it too: there each step is taken to add one.
    """
    if self._batches.on_workers:
      return step + ran
    return self._global_step()

  def _run_quiet(self, n, steps_left):
    """Runs `n` steps no hook sees, in compiled calls.

    `steps_left`: the steps to the last step from the first of them (None
    without a last step), for `step_rental`.

    Returns:
      The number of steps run.

    Raises:
      NanLossDuringTrainingError: a step's loss was not finite.
      EndOfInput: the input ended first (the steps before it count).
    """
    started = time.perf_counter()
    if self._batches.on_workers:
      steps_run, loss, stopped = self._quiet_on_workers(n)
    else:
      steps_run, loss, stopped = self._quiet_here(n, steps_left)
    steps_run = int(steps_run)
    self._schedule.ran(steps_run, time.perf_counter() - started)
    self._schedule.iteration += steps_run
    if steps_run:
      # Each step added one (or `_run_compiled` stops quiet steps).
      self._pre_step = None
      self._summary_step = None
      if not np.isfinite(loss):
        self._raise_nan(loss)
      # Also when the input ended: 'Loss for final step' is the last step's.
      self._loss = loss
    if bool(stopped):
      raise end_of_input.EndOfInput
    return steps_run

  def _quiet_here(self, n, steps_left):
    """`(steps_run, last loss, stopped)` of up to `n` quiet steps.

    Rented steps first (`step_rental`), until the loop is worth compiling.
    """
    ran, loss, stopped = 0, None, False
    if not self.captured.has_cached(_TRAIN_LOOP):
      ran, loss, stopped = self._rental().run(self._batches.iterator, n,
                                              steps_left)
    if ran < n and not stopped:
      more, last, stopped = self._quiet_loop()(self._batches.iterator,
                                               tf.constant(n - ran))
      if int(more):
        ran, loss = ran + int(more), last.numpy()
    return ran, loss, bool(stopped)

  def _rental(self):
    return self.captured.cached(
        'step rental', lambda: step_rental.StepRental(self.captured))

  def _quiet_loop(self):
    return self.captured.cached(_TRAIN_LOOP, self._compiled_quiet_loop)

  def _compiled_quiet_loop(self):
    """The quiet loop, compiled by a call that runs no step.

    Its first call traces and instantiates it. 2.15 paid for optimising its
    graph in its first step, before its step counter started; this loop is
    first called after the first logged step, and its compile fell into the
    first interval: a 200-step iris program logged 650 global_step/sec
    against 2.15's 1,550 while training faster. Compiled apart, the compile
    is left out of steps/sec and of the loss log's interval, as on 2.15.
    """
    loop = loops.make_loop(
        self.captured.pruned_for([self.captured.spec.loss],
                                 [self.captured.train_op]),
        watch_loss=True)
    if not self._batches.on_workers:
      start = time.time()
      loop(self._batches.iterator, tf.constant(0))
      self._schedule.exclude_from_timing(time.time() - start)
    return loop

  def _quiet_on_workers(self, n):
    """The quiet loop's results, its steps run by the parameter-server workers.

    The steps are split into one compiled call per worker, run
    concurrently. A call whose worker was lost with its result counts no
    steps (the loop reads the global step, so none are run twice on that
    account).
    """
    strategy = self._strategy
    workers = parameter_servers.num_workers(strategy)
    sizes = [n // workers + (1 if i < n % workers else 0)
             for i in range(min(n, workers))]
    loop = self._quiet_loop()
    calls = [parameter_servers.schedule(
        strategy, loop, (self._batches.iterator, tf.constant(size)))
             for size in sizes]
    results = [r for r in map(parameter_servers.fetch, calls) if r is not None]
    steps_run = sum(int(r[0]) for r in results)
    ran = [r for r in results if int(r[0])]
    loss = ran[-1][1] if ran else 0.0
    stopped = any(bool(r[2]) for r in results)
    # A call stops at a NaN loss as at the end of its input: a NaN wins.
    loss = next((r[1] for r in results
                 if bool(r[2]) and not np.isfinite(r[1])), loss)
    return steps_run, loss, stopped

  def _hooked_on_workers(self, elements, run_ops,
                         attempts=_HOOKED_STEP_ATTEMPTS):
    """A hooked step's values, run by a worker, again while workers are lost.

    Hooks wait for its values, so a step lost with its result runs again.

    Raises:
      EndOfInput: the worker's input had ended.
    """
    step = self.captured.step_for(elements, run_ops)
    for _ in range(attempts):
      result = parameter_servers.fetch(parameter_servers.schedule(
          self._strategy, step.draw, (self._batches.iterator,)))
      if result is not None:
        values = step.unpack(*result)
        if values is None:
          raise end_of_input.EndOfInput
        return [feed_values.to_numpy(v) for v in values]
    raise parameter_servers.ParameterServerError(
        f'Parameter-server training stopped: {attempts} workers in a row '
        'were lost with the result of the step the hooks wait for. Check '
        'that the worker tasks stay up, then restart the job; it resumes '
        'from the latest checkpoint in model_dir.')

  def _run_single(self, step):
    self._run_hooked(self._schedule.wants_at(
        step, summary_step=self._summary_step))

  def _run_hooked(self, wants):
    """One step through the hook protocol, then its loss log and summary.

    In 2.15's order: the hooks' `before_run`, the step, a due checkpoint,
    the hooks' `after_run`. A worker computes the step when the input is
    on parameter-server workers; the session computes it otherwise.
    """
    hooked = hooked_step.HookedStep(self._session, self._runner,
                                    self._fetches(wants.summary))
    run_ops = [self.captured.train_op]
    if self._batches.on_workers:
      computed = self._hooked_on_workers(hooked.elements, run_ops)
    else:
      draws = hooked.draws_in_step(self._batches)
      lent = self._rental().lend(hooked.elements, run_ops) if draws else None
      start = time.perf_counter()
      computed = hooked.compute(self._batches, run_ops, lent)
      if draws and lent is None:
        self._rental().offer(hooked.elements, run_ops,
                             time.perf_counter() - start)
    results = hooked.results(computed)
    values = results.main
    stale_step, self._pre_step = self._pre_step, int(values['step'])
    if stale_step == self._pre_step:  # the step before left it
      self._schedule.run_steps_one_by_one()
    # With `_step_follows_read`, the two reads of the global step a hooked
    # step made (about 40 us each on a loaded two-core host, a twelfth of a
    # small DNN's hooked step) are saved, unless the session ran since.
    runs = self._session.runs
    post_step = self._pre_step + 1 if self._step_follows_read else None
    self._save_before_hooks(values, post_step)

    def loss_duties():
      self._schedule.iteration += 1
      self._loss = values['loss']
      if not np.isfinite(self._loss):
        self._raise_nan(self._loss)
      if wants.log:
        seconds, _ = self._schedule.loss_log.done(self._schedule.iteration - 1)
        suffix = '' if seconds is None else f' ({seconds:.3f} sec)'
        logging.info('loss = %s, step = %s%s', self._loss,
                     values['logged_step'], suffix)

    def rate_duty():
      # As 2.15's StepCounterHook: due one step on from the pre-step value
      # (read only then: a read per hooked step cost about 16 us), then
      # counted at the global step read again, whatever the train op added
      # (two optimizers adding 2, every 4 steps: rates at 8, 14, 20).
      duty = self._schedule.step_rate
      if duty and duty.due(int(values['step']) + 1):
        self._count_rate(self._global_step())
      if duty and stale_step == self._pre_step:
        logging.log_first_n(
            logging.WARN, _STEP_STAYED, 5, self._pre_step, stale_step)

    def summary_step_duty():
      # As 2.15's SummarySaverHook, after the chief's hooks and before the
      # others: a step with summaries read the global step again (they are
      # written at that step), another took it to be its read plus one,
      # whatever the train op added (two optimizers given the global step
      # add 2: summaries at steps 2, 10, 18 for save_summary_steps=5).
      self._summary_step = self._pre_step + 1
      if wants.summary:
        self._summary_step = (
            post_step if post_step is not None and self._session.runs == runs
            else self._global_step())

    hooked.finish(results, [(self._rate_position, rate_duty),
                            (self._rate_position, summary_step_duty),
                            (self._loss_position, loss_duties)])
    if self._session.runs == runs:  # nothing else can have moved the step
      self._known_step = post_step
    if not self._session_started:
      self._log_session_start(self._global_step())
    if wants.summary:
      self._schedule.summaries.done(self._summary_step)
      self._writer.write_serialized(values['summary'], self._summary_step)
      input_graph = self._batches.input_graph
      input_summary = input_graph.summary() if input_graph else None
      if input_summary is not None:
        self._writer.write_serialized(input_summary, self._summary_step)

  def _count_rate(self, step):
    """Logs and records global_step/sec when its timer is due at `step`."""
    rate_duty = self._schedule.step_rate
    if rate_duty and rate_duty.due(step):
      elapsed_time, elapsed_steps = rate_duty.done(step)
      if elapsed_time:
        rate = elapsed_steps / elapsed_time
        logging.info('global_step/sec: %g', rate)
        if self._writer:
          self._writer.write_dict({'global_step/sec': rate}, step)

  def _save_before_hooks(self, values, post_step):
    """Saves a due checkpoint before the hooks see the step, as 2.15 did.

    So a hook reacting to the save (e.g. an early-stopping hook reading the
    evaluation a listener just ran) acts at the same step. A non-finite loss
    is never saved; the step raises right after. `post_step`: the global
    step after the step, if known without a read.
    """
    if not self._checkpointing:
      return
    step = self._global_step() if post_step is None else post_step
    if self._checkpointing.due(step) and np.isfinite(values['loss']):
      self._listener_stop = self._checkpointing.save(self._session, step)

  def _raise_nan(self, loss):
    logging.error('Model diverged with loss = %s.', loss)
    raise _train.NanLossDuringTrainingError


def _tf1_graph_files(captured, config):
  """The `(GraphDef, MetaGraphDef)` of graph.pbtxt and the .meta files."""
  return captured.cached('tf1_graph',
                         lambda: tf1_graph.meta_graph_def(captured, config))
