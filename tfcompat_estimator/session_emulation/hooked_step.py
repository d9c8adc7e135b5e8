"""One hooked step: the emulation of `MonitoredSession.run(fetches)`, in phases.

Creating a `HookedStep` is the first phase: hooks ask for extra fetches and
feeds in `before_run`, and one fetch plan gathers theirs and the caller's.
The caller then computes the plan's elements: with the session
(`HookedStep.compute`), or at the end of a compiled loop of quiet steps. The
last phase, `finish`, gives each hook its own results in `after_run`.
Between the two, the train loop saves a due checkpoint, where 2.15's built-in
CheckpointSaverHook acted before the user's hooks.
"""

import typing

import tensorflow as tf

from tfcompat_estimator.session_emulation import session as session_lib


class StepResults(typing.NamedTuple):
  """A step's values: the caller's fetches and each hook's, in their nests."""
  main: typing.Any
  hooks: list


class HookedStep:
  """One step through the hook protocol, begun: `before_run` has run."""

  def __init__(self, session, hook_runner, fetches):
    """Runs the hooks' `before_run` and plans the step's fetches.

    Args:
      session: The `EmulatedSession` the hooks see.
      hook_runner: The `HookRunner` of the call's hooks.
      fetches: The caller's fetches, any nest of graph elements.
    """
    self._session = session
    self._hook_runner = hook_runner
    self._context, self._requests = hook_runner.before_run(
        tf.compat.v1.train.SessionRunArgs(fetches))
    self.feed_dict = {}
    for request in self._requests:
      if request is not None and request.feed_dict:
        self.feed_dict.update(request.feed_dict)
    hook_fetches = [None if r is None else r.fetches for r in self._requests]
    self._plan = session_lib.FetchPlan(session.captured, {
        'main': fetches, 'hooks': hook_fetches}, session.fetch_plans)

  @property
  def elements(self):
    """The unique graph elements the step computes, in the plan's order."""
    return self._plan.elements

  def draws_in_step(self, batches):
    """Whether `compute` runs `captured.step_for(elements, run_ops)`."""
    return batches.iterator is not None and not self.feed_dict

  def compute(self, batches, run_ops=(), step=None):
    """Computes the step with the session; returns the elements' values.

    The batch is drawn inside the compiled step unless a hook feeds it (or
    the input is an input_fn's graph): then it is drawn here, feeds applied.
    `step`, if given, is the compiled step drawing it (one that computes
    the elements among others, `StepRental.lend`); otherwise the session's
    own for the elements.

    Raises:
      EndOfInput: at the end of the input, after the hooks' `before_run`
        (as a v1 session raised OutOfRangeError from inside `run`).
    """
    if self.draws_in_step(batches):
      return self._session.compute_next(self.elements, run_ops,
                                        batches.iterator, step)
    self._session.current_batch = batches.flat_batch(self.feed_dict)
    return self._session.compute(self.elements, run_ops)

  def results(self, computed):
    """`StepResults` of the elements' values `computed` for this step."""
    return StepResults(**self._plan.pack(computed))

  def finish(self, results, duties=()):
    """Gives the hooks their results (`after_run`); returns the caller's.

    `duties`: the caller's own work among the hooks' (`HookRunner.after_run`).
    """
    self._hook_runner.after_run(self._context, self._requests, results.hooks,
                                duties)
    return results.main


def run(session, hook_runner, batches, fetches, run_ops=()):
  """One hooked step computed by the session; returns the values of `fetches`.

  Raises:
    EndOfInput: at the end of the input.
  """
  step = HookedStep(session, hook_runner, fetches)
  return step.finish(step.results(step.compute(batches, run_ops)))
