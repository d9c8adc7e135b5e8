"""How many loop iterations fit in a time budget, learnt from past loops.

`TPUConfig(iterations_per_loop='10m')` asks for training loops of about ten
minutes rather than a fixed step count. The number of steps that takes is
only known by running: `IterationCountEstimator` keeps the runtimes of the
most recent loops and projects the step count from their mean step time,
then holds the count still once loops land close to the budget with a steady
step time, so the loop length does not jitter with noise.
"""

import collections

import numpy as np
import tensorflow as tf

RuntimeCounter = collections.namedtuple(
    'RuntimeCounter', ['runtime_secs', 'steps', 'step_time_secs'])

# Closeness to the budget that counts as "on target": of the last loop's
# runtime, or (more strictly) of the mean runtime.
_LAST_RUNTIME_TOLERANCE_PERCENT = 10
_MEAN_RUNTIME_TOLERANCE_PERCENT = 5
# Step times whose standard deviation is below this (seconds) are steady.
_STEADY_STEP_TIME_STD_SECS = 0.03


class IterationCountEstimator:
  """Estimates the iteration count of a loop from recent loop runtimes.

  The last `capacity` loops are kept (oldest dropped first) as
  `RuntimeCounter`s. A larger capacity smooths the estimate but follows a
  change of step time more slowly. With no sample yet, the estimate is one
  iteration.

  Args:
    capacity: How many recent loops the estimate is based on.

  Raises:
    ValueError: `capacity` is not positive.
  """

  def __init__(self, capacity=20):
    self._reset(capacity=capacity)

  def _reset(self, capacity=20):
    """Forgets all samples and sets the buffer's capacity."""
    if capacity <= 0:
      raise ValueError('IterationCountEstimator `capacity` must be positive. '
                       'Actual:%d.' % capacity)
    self._capacity = capacity
    self._buffer_wheel = collections.deque(maxlen=capacity)
    self._min_iterations = 1
    self._last_iterations = self._min_iterations
    self._sample_count = 0  # samples ever taken, beyond the buffer's

  def _column(self, field):
    return np.array([getattr(sample, field) for sample in self._buffer_wheel],
                    dtype=np.float64)

  def _mean_runtime_secs(self):
    return self._column('runtime_secs').mean() if self._buffer_wheel else 0

  def _mean_step_time_secs(self):
    return self._column('step_time_secs').mean() if self._buffer_wheel else 0

  def _std_step_time_secs(self):
    return self._column('step_time_secs').std() if self._buffer_wheel else 0

  def _diff_less_than_percentage(self, actual, target, percentage):
    """Whether `actual` is within `percentage` percent of `target`.

    Args:
      actual: The measured value.
      target: The value aimed at.
      percentage: The tolerance, in percent of `target`.

    Returns:
      True if |target - actual| <= percentage% of target.

    Raises:
      ValueError: `actual` or `target` is zero.
    """
    if actual == 0:
      raise ValueError('Invalid `actual` value. Value must not be zero.')
    if target == 0:
      raise ValueError('Invalid `target` value. Value must not be zero.')
    return float(abs(target - actual)) / target <= percentage * 0.01

  def _is_step_time_stable(self):
    """Step times vary little, over more loops than the buffer holds."""
    return (self._std_step_time_secs() < _STEADY_STEP_TIME_STD_SECS and
            self._sample_count > self._capacity)

  def update(self, runtime_secs, count):
    """Records that a loop of `count` iterations ran `runtime_secs` seconds.

    Samples with a non-positive runtime or count are ignored (a loop that
    did not run tells nothing about step time).

    Args:
      runtime_secs: The loop's elapsed time, in seconds.
      count: The loop's number of iterations.
    """
    if runtime_secs <= 0.0:
      tf.compat.v1.logging.debug(
          'Invalid `runtime_secs`. Value must be positive. Actual:%.3f.',
          runtime_secs)
      return
    if count <= 0.0:
      tf.compat.v1.logging.debug(
          'Invalid samples `count`. Value must be positive. Actual:%d.', count)
      return
    self._buffer_wheel.append(
        RuntimeCounter(runtime_secs=runtime_secs, steps=count,
                       step_time_secs=float(runtime_secs) / count))
    self._sample_count += 1

  def get(self, total_secs):
    """The iteration count expected to run for about `total_secs` seconds.

    The count is the budget over the mean step time, except that it is left
    unchanged once the loops run close to the budget with a steady step time.

    Args:
      total_secs: The time budget of one loop, in seconds.

    Returns:
      A positive int.

    Raises:
      ValueError: `total_secs` is not positive.
    """
    if total_secs <= 0:
      raise ValueError(
          'Invalid `total_secs`. It must be positive number. Actual:%d' %
          total_secs)
    if not self._buffer_wheel:
      tf.compat.v1.logging.debug(
          'IterationCountEstimator has no sample(s). Returns min '
          'iterations:%d.', self._min_iterations)
      return self._min_iterations
    last = self._buffer_wheel[-1]
    mean_runtime_secs = self._mean_runtime_secs()
    on_target = (
        self._diff_less_than_percentage(last.runtime_secs, total_secs,
                                        _LAST_RUNTIME_TOLERANCE_PERCENT) or
        self._diff_less_than_percentage(mean_runtime_secs, total_secs,
                                        _MEAN_RUNTIME_TOLERANCE_PERCENT))
    if not (on_target and self._is_step_time_stable()):
      projected = total_secs / self._mean_step_time_secs()
      self._last_iterations = max(projected, self._min_iterations)
    tf.compat.v1.logging.info(
        'IterationCountEstimator -- target_runtime:%.3fs. last_runtime:%.3fs. '
        'mean_runtime:%.3fs. last_step_time:%.3f. std_step_time:%.3f. '
        'mean_step_time:%.3fs. prev_steps:%d. next_steps:%.2f.', total_secs,
        last.runtime_secs, mean_runtime_secs, last.step_time_secs,
        self._std_step_time_secs(), self._mean_step_time_secs(), last.steps,
        self._last_iterations)
    return int(self._last_iterations + 0.5)
