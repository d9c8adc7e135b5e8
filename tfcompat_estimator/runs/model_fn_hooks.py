"""Whether the hooks a kept graph's model_fn made are still as it made them.

2.15 called the model_fn at every train(), evaluate() and predict(), so the
hooks of its spec (`training_hooks`, `evaluation_hooks`, ...) were new
objects at every call. The engine keeps a mode's graph between calls
(`runs.model_graphs`), and with it the spec and its hook objects. A hook
that counts in its own attributes then went on counting: a user's hook
stopping after 3 steps (`self.seen` set to 0 in `__init__`, never reset)
stopped the second train(steps=10) after one step where 2.15 ran three, and
TF's own `StopAtStepHook(num_steps=...)` keeps the last step it computed in
its first run.

`snapshot(spec)` records each hook's attributes as the model_fn left them:
the value of plain ones (numbers, strings, small containers of them), the
identity and size of the others. A kept graph serves a call only while its
hooks match the snapshot taken right after capture; otherwise the model_fn
is called again, as 2.15 did. Attributes a hook adds later (`begin()`
setting `self._global_step_tensor`) are not compared: a new hook would set
them again the same way. What is not seen: changes inside objects a hook
holds (its timer's last step). Hooks this package adds to a spec itself
(TPUEstimator's) say `restarts_in_begin = True`: their `begin()` puts back
the state they had when made, so they never call for a new graph.
"""

import tensorflow as tf

from tfcompat_estimator.runs import model_fn_reads

_HOOK_LISTS = ('training_chief_hooks', 'training_hooks', 'evaluation_hooks',
               'prediction_hooks')
_SIZED = (list, dict, set)


def snapshot(spec):
  """The state of `spec`'s hooks: comparable with `==`, and `changed` names it.

  Args:
    spec: An `EstimatorSpec` (or one with the same hook lists), or None.

  Returns:
    A tuple of `(where, value)` pairs, one per attribute of each hook.
  """
  state = []
  for hooks_name in _HOOK_LISTS:
    for i, hook in enumerate(getattr(spec, hooks_name, None) or ()):
      if getattr(type(hook), 'restarts_in_begin', False):
        continue
      where = f'{hooks_name}[{i}] {type(hook).__name__}'
      for name, value in sorted(model_fn_reads.instance_dict(hook).items()):
        state.append((f'{where}.{name}', _state_of(value)))
  return tuple(state)


def changed(before, after):
  """The hook attributes that differ between two snapshots, for the log.

  Only attributes present in `before` count (see the module doc).
  """
  now = dict(after)
  return sorted(where for where, value in before
                if where in now and now[where] != value)


def _state_of(value):
  if isinstance(value, tf.compat.v1.summary.FileWriter):
    # Where a hook writes, not what it counted: TF's SummarySaverHook (and
    # gin's GinConfigSaverHook) set it from `FileWriterCache.get` in
    # `begin()` when made without one, and a new hook would get the same.
    return repr(None)
  if model_fn_reads.plain(value):
    return repr(value)
  size = len(value) if isinstance(value, _SIZED) else None
  return model_fn_reads.Same(value), size
