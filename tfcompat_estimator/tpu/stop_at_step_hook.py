"""`_TPUStopAtStepHook`: sizes each training loop and stops at the last step.

A TPU `Session.run` ran a whole loop of training steps; the loop length was
read from the `iterations_per_loop` variable of the graph, so the hook that
ends training also sets that variable before every loop: the configured
count (or, for a duration, the `IterationCountEstimator`'s estimate), cut to
the steps still left so that training ends exactly at the final step.

The hook works in a TF1 graph session, as 2.15's did (programs that build
their own TPU-style loops, and 2.15's tests, use it and the variable
directly), and among an Estimator's hooks.
"""

import contextlib
import time

import tensorflow as tf
from tensorflow.core.framework import variable_pb2
from tensorflow.python.framework import ops

from tfcompat_estimator.tpu import iteration_count_estimator

_TPU_ESTIMATOR = 'tpu_estimator'
_ITERATIONS_PER_LOOP_VAR = 'iterations_per_loop'
_ITERATIONS_PER_LOOP_COLLECTION = (
    f'{_TPU_ESTIMATOR}_{_ITERATIONS_PER_LOOP_VAR}')

# The collection holds a variable: serialize it in meta graphs (checkpoints'
# .meta files) as the variable collections are, so `import_meta_graph` gives
# back a variable, not a bare tensor name.
if ops.get_to_proto_function(_ITERATIONS_PER_LOOP_COLLECTION) is None:
  _VARIABLES = tf.compat.v1.GraphKeys.GLOBAL_VARIABLES
  ops.register_proto_function(
      _ITERATIONS_PER_LOOP_COLLECTION,
      proto_type=variable_pb2.VariableDef,
      to_proto=ops.get_to_proto_function(_VARIABLES),
      from_proto=ops.get_from_proto_function(_VARIABLES))


def _create_or_get_iterations_per_loop():
  """The default graph's `iterations_per_loop` variable, created if missing.

  The variable (`tpu_estimator/iterations_per_loop`, int32 scalar, a local
  variable initialised to 0) is the length of the next training loop. It is a
  variable rather than a constant so that the host can shorten the last loop:
  with `iterations_per_loop=4` and `steps=10`, loops run 4, 4 and 2 steps.
  It sits next to the global step, which the loop advances.

  Returns:
    The non-trainable int32 resource variable.

  Raises:
    RuntimeError: The graph holds more than one such variable.
  """
  graph = tf.compat.v1.get_default_graph()
  found = graph.get_collection(_ITERATIONS_PER_LOOP_COLLECTION)
  if len(found) == 1:
    return found[0]
  if len(found) > 1:
    raise RuntimeError('Multiple iterations_per_loop_var in collection.')
  global_step = tf.compat.v1.train.get_global_step(graph)
  colocation = (contextlib.nullcontext() if global_step is None else
                ops.colocate_with(global_step))
  with colocation:
    with tf.compat.v1.variable_scope(_TPU_ESTIMATOR,
                                     reuse=tf.compat.v1.AUTO_REUSE):
      return tf.compat.v1.get_variable(
          _ITERATIONS_PER_LOOP_VAR,
          shape=[],
          dtype=tf.int32,
          initializer=tf.compat.v1.initializers.zeros(),
          trainable=False,
          collections=[_ITERATIONS_PER_LOOP_COLLECTION,
                       tf.compat.v1.GraphKeys.LOCAL_VARIABLES],
          use_resource=True)


class _TPUStopAtStepHook(tf.compat.v1.train.SessionRunHook):
  """Sets each loop's iteration count and stops at the final step.

  The iteration count is written in `after_create_session` and `after_run`,
  not `before_run`, because another hook reads the variable in its own
  `before_run` and hooks run in no guaranteed order. The global step is read
  with its own `session.run` after each loop rather than fetched with it: a
  loop advances the global step many times and the fetched value could be
  stale.

  Args:
    iterations_per_loop_counter: A `util.IterationsPerLoopCounter`: `value`
      iterations per loop when `unit` is `'count'`, or loops of about `value`
      seconds when `unit` is `'seconds'` (the count is then estimated from
      the runtimes of past loops).
    num_steps: Steps to run from the global step at session creation.
    final_step: The global step to stop at.

  Raises:
    ValueError: Neither or both of `num_steps` and `final_step` are given, or
      the counter's unit is neither `'count'` nor `'seconds'`.
  """

  def __init__(self, iterations_per_loop_counter, num_steps=None,
               final_step=None):
    if num_steps is None and final_step is None:
      raise ValueError('One of `num_steps` or `final_step` must be specified.')
    if num_steps is not None and final_step is not None:
      raise ValueError(
          'Only one of `num_steps` or `final_step` can be specified.')
    if iterations_per_loop_counter.unit not in ('seconds', 'count'):
      raise ValueError('Only `count` or `seconds` are accepted as the '
                       '`iterations_per_loop_counter.unit')
    self._iterations_per_loop_counter = iterations_per_loop_counter
    self._num_steps = num_steps
    self._final_step = final_step
    self._next_iteration_count = 1
    self._iteration_count_estimator = None
    if iterations_per_loop_counter.unit == 'seconds':
      self._iteration_count_estimator = (
          iteration_count_estimator.IterationCountEstimator())
    # Reset before each loop; until the first `before_run`, a loop's runtime
    # counts from the hook's creation.
    self._start_time = time.time()

  def _next_iterations(self, global_step, final_step):
    """Sets and returns the next loop's count: the target, capped by the rest.

    Args:
      global_step: The current global step.
      final_step: The global step to stop at.

    Returns:
      The number of iterations of the next loop.
    """
    if self._iteration_count_estimator is not None:
      target = self._iteration_count_estimator.get(
          self._iterations_per_loop_counter.value)
    else:
      target = self._iterations_per_loop_counter.value
    self._next_iteration_count = min(final_step - global_step, target)
    return self._next_iteration_count

  def begin(self):
    """Finds the global step and the `iterations_per_loop` variable.

    Raises:
      RuntimeError: The graph has no global step.
    """
    self._global_step_tensor = tf.compat.v1.train.get_global_step()
    if self._global_step_tensor is None:
      raise RuntimeError('Global step should be created.')
    self._iterations_per_loop_var = _create_or_get_iterations_per_loop()
    # Loops are sized by feeding this assignment, built here because a
    # `MonitoredSession` finalizes the graph after `begin`. (2.15 used
    # `Variable.load`, which feeds the initializer; the Estimator's variables
    # live outside its graph and have none.)
    self._iterations = tf.compat.v1.placeholder(tf.int32, [],
                                                'iterations_per_loop_value')
    self._set_iterations = self._iterations_per_loop_var.assign(
        self._iterations, read_value=False)

  def _set_iterations_per_loop(self, session, global_step):
    """Writes the next loop's iteration count into the graph's variable."""
    session.run(self._set_iterations, {
        self._iterations: self._next_iterations(global_step, self._final_step)
    })

  def after_create_session(self, session, coord):
    """Fixes the final step and sets the first loop's iteration count.

    Args:
      session: The `tf.compat.v1.Session` just created.
      coord: Unused (the session's `Coordinator`).
    """
    del coord
    global_step = session.run(self._global_step_tensor)
    if self._final_step is None:
      self._final_step = global_step + self._num_steps
    self._set_iterations_per_loop(session, global_step)

  def before_run(self, run_context):
    """Starts timing the loop when the count is estimated from runtimes."""
    del run_context
    if self._iteration_count_estimator is not None:
      self._start_time = time.time()

  def after_run(self, run_context, run_values):
    """Records the loop's runtime, then stops or sets the next loop's count.

    Args:
      run_context: The `SessionRunContext` of the loop just run.
      run_values: Unused (the `SessionRunValues`).
    """
    del run_values
    if self._iteration_count_estimator is not None:
      elapsed_time = time.time() - self._start_time
      tf.compat.v1.logging.info('ElapsedTime: %.3f', elapsed_time)
      self._iteration_count_estimator.update(elapsed_time,
                                             self._next_iteration_count)
    global_step = run_context.session.run(self._global_step_tensor)
    if global_step >= self._final_step:
      run_context.request_stop()
    else:
      self._set_iterations_per_loop(run_context.session, global_step)
