"""One hooked step: the emulation of `MonitoredSession.run(fetches)`.

Hooks ask for extra fetches and feeds in `before_run`; the batch is drawn
(feeding input_fn placeholders if asked), everything is computed by one pruned
function, and each hook gets its own results back in `after_run`.
"""

import tensorflow as tf

from tfcompat_estimator.session_emulation import session as session_lib


def run_step(session, hook_runner, batches, fetches, run_ops=(),
             after_step=None, compute=None):
  """Runs one step; returns the values of `fetches`.

  `after_step(values)` runs between the step and the hooks' `after_run`,
  where 2.15's built-in hooks (checkpoint saving) ran before the user's.
  Raises `EndOfInput` at the end of the input, after the hooks'
  `before_run` (as a v1 session raised OutOfRangeError from inside `run`).

  `compute(elements, run_ops)`, if given, computes the step instead of the
  session (a compiled loop ending with this step); its caller knows that no
  hook feeds the step.
  """
  context, requests = hook_runner.before_run(
      tf.compat.v1.train.SessionRunArgs(fetches))
  feed_dict = {}
  for request in requests:
    if request is not None and request.feed_dict:
      feed_dict.update(request.feed_dict)
  hook_fetches = [None if r is None else r.fetches for r in requests]
  plan = session_lib.FetchPlan(session.captured, {'main': fetches,
                                                   'hooks': hook_fetches})
  if compute is not None:
    values = plan.pack(compute(plan.elements, run_ops))
  elif batches.iterator is not None and not feed_dict:
    values = plan.pack(session.compute_next(plan.elements, run_ops,
                                            batches.iterator))
  else:
    session.current_batch = batches.flat_batch(feed_dict)
    values = plan.pack(session.compute(plan.elements, run_ops))
  if after_step is not None:
    after_step(values['main'])
  hook_runner.after_run(context, requests, values['hooks'])
  return values['main']
