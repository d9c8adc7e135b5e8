"""Compiled multi-step loops: many steps per Python call.

Used when no hook needs to see individual steps. Each loop pulls batches from
a `tf.data` iterator inside one `tf.function` and stops early at end of input
or, for training, at the first non-finite loss, so callers can reproduce the
per-step semantics (NaN errors, end-of-input) exactly at the boundary.
"""

import tensorflow as tf


def make_loop(step_fn, watch_loss):
  """A `tf.function(iterator, n) -> (steps_run, last_loss, stopped_early)`.

  `step_fn` is a pruned function of the flat batch. With `watch_loss`, its
  first output is the scalar loss, returned for the last step run and watched
  for NaN/Inf.
  """

  @tf.function(autograph=False)
  def loop(iterator, n):

    def cond(i, loss, stopped):
      return tf.logical_and(i < n, tf.logical_not(stopped))

    def body(i, loss, stopped):
      optional = iterator.get_next_as_optional()

      def step():
        outputs = step_fn(*tf.nest.flatten(optional.get_value(),
                                           expand_composites=True))
        if not watch_loss:
          return i + 1, loss, stopped
        new_loss = tf.cast(outputs[0], tf.float32)
        return i + 1, new_loss, tf.logical_not(tf.math.is_finite(new_loss))

      return tf.cond(optional.has_value(), step,
                     lambda: (i, loss, tf.constant(True)))

    return tf.while_loop(cond, body, (tf.constant(0), tf.constant(0.0),
                                      tf.constant(False)))

  return loop
