"""When the train loop needs a step of its own: its duties' schedule.

2.15 ran each of these duties as a hook around every step. Here each one
answers two questions: how many steps may run before it is due, and whether
it is due now. The loop runs the fewest any duty allows as quiet steps in one
compiled call. Duties of two kinds:

- those that want to see a step (loss logging, summaries, hooks whose
  schedule is known): their step is hooked, run alone or as the last step of
  the compiled call;
- those that act between steps (steps/sec, checkpoints, the last step): a
  compiled call stops where they are due; for checkpoints every N seconds,
  where the latest measured step time predicts the interval ends.
"""

import time
import typing

from tfcompat_estimator.session_emulation import hook_schedule

_NEVER = float('inf')


class Wants(typing.NamedTuple):
  """What the loop's own duties want of a hooked step."""
  log: bool  # the loss and global step logged
  summary: bool  # the model's summaries written


class _Every:
  """A duty due every `every` steps, counted on a step number of its own.

  `offset` maps the global step a step starts at to the number the duty
  counts: the same step for steps/sec, the step after it for summaries
  (written at the step the training step produces). `first`: the steps that
  may run before it has ever been done (0: it wants the very first step).
  Its timing is `SecondOrStepTimer`'s by steps, plus `exclude`.
  """

  def __init__(self, every, offset=0, first=0):
    self.every = every
    self.offset = offset
    self._first = first
    self._last_count = None
    self._last_time = None

  def due(self, count):
    return (self._last_count is None or
            count + self.offset >= self._last_count + self.every)

  def steps_until_due(self, count):
    """Steps that may run before the one at `count` is due."""
    if self._last_count is None:
      return self._first
    return max(self._last_count + self.every - count - self.offset, 0)

  def done(self, count):
    """Records the duty done at `count` (already offset); returns
    `(elapsed_secs, elapsed_steps)` since the last time, Nones the first."""
    now = time.time()
    elapsed = (None, None) if self._last_count is None else (
        now - self._last_time, count - self._last_count)
    self._last_count, self._last_time = count, now
    return elapsed

  def exclude(self, seconds):
    """Leaves `seconds` out of the interval being timed."""
    if self._last_time is not None:
      self._last_time += seconds


class TrainSchedule:
  """The duties of one `train()` call and the steps between them."""

  def __init__(self, config, hooks, loss, last_step, compiled, summaries,
               checkpointing, fetched_after_step=False):
    """Creates every duty's timer; none has triggered yet.

    Args:
      config: The `RunConfig`: `log_step_count_steps` (loss log, steps/sec),
        `save_summary_steps`, `steps_per_loop`.
      hooks: Every hook of the call.
      loss: The model's loss tensor, which each compiled step checks.
      last_step: The global step training stops at, or None.
      compiled: Whether quiet steps may run in compiled calls (the input is a
        dataset iterator and the strategy runs steps in bulk).
      summaries: Whether the model's summaries are written (chief, summary
        ops, `save_summary_steps`).
      checkpointing: None, or the call's native `Checkpointing`; a compiled
        call stops where a save is due.
      fetched_after_step: A fetch of the global step variable gives its
        value after the step (`hook_schedule.quiet_steps`).
    """
    self._hooks = hooks
    self._loss = loss
    self._fetched_after_step = fetched_after_step
    self._last_step = last_step
    self._compiled = compiled
    self._steps_per_loop = config.steps_per_loop
    every_log = config.log_step_count_steps
    # The loss log counts this call's steps, as 2.15's LoggingTensorHook did.
    self.loss_log = _Every(every_log) if every_log else None
    # Steps/sec is first counted after the first call, which it does not bound.
    self.step_rate = _Every(every_log, first=_NEVER) if every_log else None
    self.summaries = (_Every(config.save_summary_steps, offset=1)
                      if summaries and config.save_summary_steps else None)
    self._checkpointing = checkpointing
    # The latest call's, which predicts schedules of seconds.
    self._secs_per_step = None
    self._one_by_one = 0  # steps to run one by one (`run_steps_one_by_one`)
    self.iteration = 0  # steps run by this call

  def ran(self, steps, seconds):
    """Records a call that ran `steps` steps in `seconds`.

    Quiet steps and steps run alone are timed, not a hooked step ending a
    compiled call: its hooks' work made the quiet steps predicted from it
    end short of a hook's interval, and a second hooked step followed.
    """
    if steps > 0:
      self._secs_per_step = seconds / steps
    self._one_by_one = max(self._one_by_one - steps, 0)

  def run_steps_one_by_one(self):
    """Runs the next `steps_per_loop` steps one by one, not compiled.

    For a step that left the global step where it was: compiled calls run
    a count of steps, and would miss the global steps their duties are due
    at. Training with loss scaling leaves it so now and then, and goes back
    to compiled calls once the steps add one again.
    """
    self._one_by_one = self._steps_per_loop

  def _hooks_quiet_steps(self, step):
    return hook_schedule.quiet_steps(
        self._hooks, step, self._secs_per_step, loss=self._loss,
        fetched_after_step=self._fetched_after_step)

  def skip_hooks(self, steps):
    """Advances the hooks' counters over `steps` quiet steps."""
    hook_schedule.skip(self._hooks, steps, loss=self._loss)

  def _steps_to_checkpoint(self, step):
    """Steps that may run from `step` before a checkpoint is due."""
    if not self._checkpointing:
      return _NEVER
    return self._checkpointing.steps_until_due(step, self._secs_per_step)

  def exclude_from_timing(self, seconds):
    """Leaves `seconds` out of the intervals steps/sec and the loss log time."""
    for duty in (self.step_rate, self.loss_log):
      if duty:
        duty.exclude(seconds)

  def steps_left(self, step):
    """Steps from global step `step` to the last step; None without one."""
    return None if self._last_step is None else self._last_step - step

  def reached_last_step(self, step, pre_step=None):
    """Whether training stops at global step `step`.

    As 2.15's StopAtStepHook decided after a step: the global step has
    reached the last step, and so had the step's own read of it plus one
    (`pre_step`, None where each step adds one). A hook that moved the global
    step past the last step during a step leaves one more step to run.
    """
    if self._last_step is None or step < self._last_step:
      return False
    return pre_step is None or pre_step + 1 >= self._last_step

  def wants_at(self, step, iteration=None, summary_step=None):
    """`Wants` of the step starting at global step `step`.

    `summary_step`: the global step as 2.15's SummarySaverHook took it to
    be, if not `step`: after a step without summaries, its read of the
    step plus one, whatever the train op added.
    """
    iteration = self.iteration if iteration is None else iteration
    summary_step = step if summary_step is None else summary_step
    return Wants(bool(self.loss_log and self.loss_log.due(iteration)),
                 bool(self.summaries and self.summaries.due(summary_step)))

  def quiet_steps(self, step):
    """How many steps from `step` may run compiled before a duty needs one."""
    if not self._compiled or self._one_by_one or any(self.wants_at(step)):
      return 0
    limits = [self._steps_per_loop, self._hooks_quiet_steps(step)]
    if self.loss_log:
      limits.append(self.loss_log.steps_until_due(self.iteration))
    if self.summaries:
      limits.append(self.summaries.steps_until_due(step))
    limits.append(self._steps_to_checkpoint(step))
    if self.step_rate:
      limits.append(self.step_rate.steps_until_due(step))
    if self._last_step is not None:
      limits.append(self._last_step - step)
    return max(int(min(limits)), 0)

  def hooked_step_after(self, step, quiet):
    """`Wants` of a hooked step ending the compiled call of `quiet` steps.

    That is the step at `step + quiet` if a duty (loss log, summaries, a
    known hook) wants it and no step-scheduled checkpoint comes between.
    None if the call ends without one.
    """
    end = step + quiet
    if not self._compiled or self._one_by_one or self.reached_last_step(end) or (
        not hook_schedule.known(self._hooks, loss=self._loss)):
      return None
    if quiet and self._steps_to_checkpoint(step) <= quiet:
      return None
    wants = self.wants_at(end, self.iteration + quiet)
    hooks_want = self._hooks_quiet_steps(step) <= quiet
    return wants if any(wants) or hooks_want else None
