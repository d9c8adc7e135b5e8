"""Drives `SessionRunHook`s through the protocol MonitoredSession gave them.

begin -> after_create_session -> (before_run -> step -> after_run)* -> end.
Hook calls run with the captured graph as the default graph, because TF's own
hooks look tensors and the global step up in the default graph.
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_train = tf.compat.v1.train


class HookRunner:

  def __init__(self, hooks, session):
    self.hooks = list(hooks)
    self.session = session
    self._coord = _train.Coordinator()
    self._stop_requested = False

  @property
  def stop_requested(self):
    return self._stop_requested

  def begin(self):
    # The graph outlives a call, where 2.15 built a new one per call: a
    # variable a hook's begin() made last call is reused, not an error.
    with self.session.graph.as_default(), tf.compat.v1.variable_scope(
        tf.compat.v1.get_variable_scope(), reuse=tf.compat.v1.AUTO_REUSE):
      for hook in self.hooks:
        self._localize_variables(hook)
        hook.begin()

  def _localize_variables(self, hook):
    """Points a LoggingTensorHook's variables at their reads in the graph.

    Variables live outside the captured graph (they are TF2 resources), and
    LoggingTensorHook.begin insists every tensor it logs belongs to it.
    """
    if isinstance(hook, _train.LoggingTensorHook):
      tf_internals.set_logging_hook_tensors(hook, {
          tag: (self.session.captured.as_graph_element(value)
                if isinstance(value, tf.Variable) else value)
          for tag, value in tf_internals.logging_hook_tensors(hook).items()})

  def after_create_session(self):
    with self.session.graph.as_default():
      for hook in self.hooks:
        hook.after_create_session(self.session, self._coord)

  def before_run(self, original_args):
    """Returns the run context and each hook's `SessionRunArgs` (or None)."""
    context = _train.SessionRunContext(original_args, self.session)
    with self.session.graph.as_default():
      requests = [hook.before_run(context) for hook in self.hooks]
    return context, requests

  def after_run(self, context, requests, results_per_hook):
    with self.session.graph.as_default():
      for hook, request, results in zip(self.hooks, requests, results_per_hook):
        hook.after_run(context, _train.SessionRunValues(
            results=results, options=getattr(request, 'options', None),
            run_metadata=tf.compat.v1.RunMetadata()))
    if context.stop_requested:
      self._stop_requested = True

  def end(self):
    with self.session.graph.as_default():
      for hook in self.hooks:
        hook.end(self.session)
