"""Which coming steps a hook provably ignores, so they can run compiled.

A MonitoredSession called every hook around every step. For TF's own hooks
whose `before_run`/`after_run` depend only on step counters, the steps where
they would fetch nothing and do nothing are known in advance: those steps may
run inside a compiled loop, and the hook's counters are then advanced as if it
had seen them. The hook still sees, in order, every call that does something.

Any other hook (including a subclass overriding `before_run` or `after_run`)
is unknown and sees every step.
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_train = tf.compat.v1.train
_NEVER = float('inf')


def _overrides_step_calls(hook, base):
  # getattr: a mock hook's type (MagicMock(spec=SessionRunHook)) has neither.
  cls = type(hook)
  return (getattr(cls, 'before_run', None) is not base.before_run or
          getattr(cls, 'after_run', None) is not base.after_run)


def _logging_quiet_steps(hook, unused_global_step):
  timer = tf_internals.hook_timer(hook)
  if not isinstance(timer, _train.SecondOrStepTimer):
    return _NEVER  # logs only at end
  if tf_internals.timer_every_secs(timer) is not None:
    return 0  # wall-clock schedules cannot be predicted
  last = timer.last_triggered_step()
  if last is None:
    return 0
  return max(last + tf_internals.timer_every_steps(timer) -
             tf_internals.iter_count(hook), 0)


def _logging_skip(hook, steps):
  tf_internals.advance_iter_count(hook, steps)


def _stop_at_step_quiet_steps(hook, global_step):
  # after_run acts once the step that started at last_step - 1 has run.
  return max(tf_internals.last_step(hook) - 1 - global_step, 0)


def _step_counter_quiet_steps(hook, global_step):
  """Steps before the one whose after_run logs a rate (StepCounterHook).

  The step starting at global step g acts when its timer triggers for
  g + 1; a wall-clock schedule, or one not yet started, acts on every step.
  """
  timer = tf_internals.hook_timer(hook)
  last = timer.last_triggered_step()
  if tf_internals.timer_every_secs(timer) is not None or last is None:
    return 0
  return max(last + tf_internals.timer_every_steps(timer) - 1 - global_step, 0)


def _no_quiet_steps(unused_hook, unused_global_step):
  return _NEVER


def _nothing(unused_hook, unused_steps):
  pass


# Exact hook class -> (quiet_steps(hook, global_step), skip(hook, steps)).
_KNOWN = (
    (_train.LoggingTensorHook, _logging_quiet_steps, _logging_skip),
    (_train.StopAtStepHook, _stop_at_step_quiet_steps, _nothing),
    (_train.StepCounterHook, _step_counter_quiet_steps, _nothing),
)


def _rules(hook):
  for cls, quiet, skip in _KNOWN:
    if isinstance(hook, cls) and not _overrides_step_calls(hook, cls):
      return quiet, skip
  if not _overrides_step_calls(hook, _train.SessionRunHook):
    return _no_quiet_steps, _nothing  # e.g. a hook acting only in begin/end
  return None


def known(hooks):
  """Whether `quiet_steps` knows every hook.

  Then the step after the quiet steps may be hooked: the train loop runs
  the quiet steps in one compiled call and that step right after.
  """
  return all(_rules(hook) is not None for hook in hooks)


def quiet_steps(hooks, global_step):
  """How many steps, starting at `global_step`, no hook needs to see.

  0 when some hook must see the next step or is unknown; infinity for no hooks.
  """
  quiet = _NEVER
  for hook in hooks:
    rules = _rules(hook)
    if rules is None:
      return 0
    quiet = min(quiet, rules[0](hook, global_step))
  return quiet


def skip(hooks, steps):
  """Advances the hooks' counters over `steps` steps they did not see."""
  for hook in hooks:
    _rules(hook)[1](hook, steps)
