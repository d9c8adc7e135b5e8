"""Which coming steps a hook provably ignores, so they can run compiled.

A MonitoredSession called every hook around every step. For TF's own hooks
whose `before_run`/`after_run` depend only on step counters, the steps where
they would fetch nothing and do nothing are known in advance: those steps may
run inside a compiled loop, and the hook's counters are then advanced as if it
had seen them. The hook still sees, in order, every call that does something.

A hook's wall-clock schedule (`every_n_secs`) is predicted from the latest
measured time of a step: the steps that fit before its interval ends run
compiled, and the step after them is the hook's. Seen every step instead, a
`LoggingTensorHook(every_n_secs=1)` trained a small DNN at 1,531 steps/s
against 5,630 with `every_n_iter=100` (2.15: 2,167).

A `NanTensorHook` on the model's loss repeats the check every compiled
step makes (2.15's own NanTensorHook, which stood right after the caller's
hooks and raised at the same step). Seen every step, one in a model_fn's
`training_hooks` trained a small DNN at 1,652 steps/s against 7,514
without it (2.15: 2,021 and 2,269).

This package's own step hooks (early stopping, InMemoryEvaluatorHook) say
which steps they ignore themselves (`OwnSchedule`).

Any other hook (including a subclass overriding `before_run` or `after_run`)
is unknown and sees every step.
"""

import math
import time

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_train = tf.compat.v1.train
_NEVER = float('inf')


def _overrides_step_calls(hook, base):
  # getattr: a mock hook's type (MagicMock(spec=SessionRunHook)) has neither.
  cls = type(hook)
  return (getattr(cls, 'before_run', None) is not base.before_run or
          getattr(cls, 'after_run', None) is not base.after_run)


def timer_quiet_steps(timer, count, secs_per_step, acts_after_step=False):
  """Steps that may run before a `SecondOrStepTimer` triggers.

  `count` is the number the timer's owner will check it for on the next
  step. A timer of seconds is predicted from `secs_per_step`, the latest
  measured time of a step (0 without one): an owner checking it before a
  step (`LoggingTensorHook`) wants the first step starting once the
  interval is over; one checking after (`StepCounterHook`, a checkpoint
  saver), the first step ending then. 0 before the timer first triggered.
  """
  last = timer.last_triggered_step()
  if last is None:
    return 0
  every_secs = tf_internals.timer_every_secs(timer)
  if every_secs is None:
    return max(last + tf_internals.timer_every_steps(timer) - count, 0)
  if not secs_per_step:
    return 0
  remaining = tf_internals.timer_last_time(timer) + every_secs - time.time()
  return max(math.ceil(remaining / secs_per_step) - int(acts_after_step), 0)


class OwnSchedule:
  """Base of this package's hooks that know which coming steps they ignore."""

  def quiet_steps(self, global_step, secs_per_step):
    """How many steps, starting at `global_step`, the hook needs not see.

    Args:
      global_step: The global step the next step starts from, as a fetch
        of the global step variable in that step gives it (under TF1's
        switches 2.15's reference variable gave the value after the step).
      secs_per_step: The latest measured time of a step, or None.
    """
    raise NotImplementedError

  def skip(self, steps):
    """Advances the hook's counters over `steps` steps it did not see."""


def _own_quiet_steps(hook, global_step, secs_per_step):
  return hook.quiet_steps(global_step, secs_per_step)


def _own_skip(hook, steps):
  hook.skip(steps)


def _logging_quiet_steps(hook, unused_global_step, secs_per_step):
  timer = tf_internals.hook_timer(hook)
  if not isinstance(timer, _train.SecondOrStepTimer):
    return _NEVER  # logs only at end
  return timer_quiet_steps(timer, tf_internals.iter_count(hook), secs_per_step)


def _logging_skip(hook, steps):
  tf_internals.advance_iter_count(hook, steps)


def _stop_at_step_quiet_steps(hook, global_step, unused_secs_per_step):
  # after_run acts once the step that started at last_step - 1 has run.
  return max(tf_internals.last_step(hook) - 1 - global_step, 0)


def _after_step_quiet_steps(hook, global_step, secs_per_step):
  """Steps before the one whose after_run acts (StepCounterHook logs a
  rate, CheckpointSaverHook saves): the step starting at global step g
  checks its timer for g + 1."""
  return timer_quiet_steps(tf_internals.hook_timer(hook), global_step + 1,
                           secs_per_step, acts_after_step=True)


def _summary_quiet_steps(hook, unused_global_step, secs_per_step):
  """Steps before the one whose before_run asks for the summaries
  (SummarySaverHook): its first, then the one its timer triggers for,
  counted on the hook's own next-step number."""
  next_step = tf_internals.summary_next_step(hook)
  if next_step is None:
    return 0
  return timer_quiet_steps(tf_internals.hook_timer(hook), next_step,
                           secs_per_step)


def _summary_skip(hook, steps):
  tf_internals.advance_summary_next_step(hook, steps)


def _no_quiet_steps(unused_hook, unused_global_step, unused_secs_per_step):
  return _NEVER


def _nothing(unused_hook, unused_steps):
  pass


# Exact hook class ->
# (quiet_steps(hook, global_step, secs_per_step), skip(hook, steps)).
_KNOWN = (
    (_train.LoggingTensorHook, _logging_quiet_steps, _logging_skip),
    (_train.StopAtStepHook, _stop_at_step_quiet_steps, _nothing),
    (_train.StepCounterHook, _after_step_quiet_steps, _nothing),
    # A program's own, saving instead of the Estimator (runs/checkpointing.py).
    (_train.CheckpointSaverHook, _after_step_quiet_steps, _nothing),
    (_train.SummarySaverHook, _summary_quiet_steps, _summary_skip),
)


def _rules(hook, loss):
  if isinstance(hook, OwnSchedule):
    return _own_quiet_steps, _own_skip
  for cls, quiet, skip in _KNOWN:
    if isinstance(hook, cls) and not _overrides_step_calls(hook, cls):
      return quiet, skip
  if (isinstance(hook, _train.NanTensorHook) and
      not _overrides_step_calls(hook, _train.NanTensorHook) and
      loss is not None and tf_internals.nan_hook_tensor(hook) is loss):
    return _no_quiet_steps, _nothing  # the steps check their loss themselves
  if not _overrides_step_calls(hook, _train.SessionRunHook):
    return _no_quiet_steps, _nothing  # e.g. a hook acting only in begin/end
  return None


def known(hooks, loss=None):
  """Whether `quiet_steps` knows every hook.

  Then the step after the quiet steps may be hooked: the train loop runs
  the quiet steps in one compiled call and that step right after.
  `loss`: the loss tensor whose non-finite values stop a compiled call
  (None: a NanTensorHook sees every step).
  """
  return all(_rules(hook, loss) is not None for hook in hooks)


def quiet_steps(hooks, global_step, secs_per_step=None, loss=None,
                fetched_after_step=False):
  """How many steps, starting at `global_step`, no hook needs to see.

  0 when some hook must see the next step or is unknown; infinity for no hooks.
  `secs_per_step`: the latest measured time of a step, which predicts
  wall-clock schedules (without it they see every step). `loss`: as in
  `known`. `fetched_after_step`: a fetch of the global step variable gives
  its value after the step (`OwnSchedule.quiet_steps`).
  """
  quiet = _NEVER
  for hook in hooks:
    rules = _rules(hook, loss)
    if rules is None:
      return 0
    step = global_step
    if fetched_after_step and isinstance(hook, OwnSchedule):
      step += 1
    quiet = min(quiet, rules[0](hook, step, secs_per_step))
  return quiet


def skip(hooks, steps, loss=None):
  """Advances the hooks' counters over `steps` steps they did not see."""
  for hook in hooks:
    _rules(hook, loss)[1](hook, steps)
