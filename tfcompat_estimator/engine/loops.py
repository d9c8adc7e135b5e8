"""Compiled multi-step loops: many steps per Python call.

Used when no hook needs to see individual steps. Each loop pulls batches from
a `tf.data` iterator inside one `tf.function` and stops early at end of input
or, for training, at the first non-finite loss, so callers can reproduce the
per-step semantics (NaN errors, end-of-input) exactly at the boundary.
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals


def make_loop(step_fn, watch_loss):
  """A `tf.function(iterator, n) -> (steps_run, last_loss, stopped)`.

  `step_fn` is a pruned function of the flat batch. With `watch_loss`, its
  first output is the scalar loss, returned for the last step run and watched
  for NaN/Inf.

  The loop holds one copy of the step. A step that hooks see, or that logs
  or writes summaries, is a compiled call of its own (`next_step`): inside
  this loop, behind a flag, it cost the first call of every train() the
  instantiation of a second copy (dnn_dense's train(steps=1) 0.78 -> 0.61 s
  without it), and as its own call it costs steady training nothing
  measurable (one call per logging interval; paired in one process, the
  same steps/s within 0.3%).
  """

  # The loop carries the loss in the model_fn's own dtype: a float64 loss
  # cast to float32 here logged 'Loss for final step: 0.28080857.' where
  # 2.15 logs the float64 value train() returns.
  loss_dtype = tf.float32
  if watch_loss and step_fn.structured_outputs[0].dtype.is_floating:
    loss_dtype = step_fn.structured_outputs[0].dtype

  def steps(iterator, n):

    def cond(i, loss, stopped):
      return tf.logical_and(i < n, tf.logical_not(stopped))

    def body(i, loss, stopped):
      ran, step, outputs = _step_unless_ended(
          iterator.get_next_as_optional(), step_fn, 1 if watch_loss else 0)
      with tf.control_dependencies([step]):
        i = i + tf.cast(ran, tf.int32)
        if not watch_loss:
          return i, loss, tf.logical_not(ran)
        new_loss = tf.cast(outputs[0], loss_dtype)
        if new_loss.shape.rank != 0:
          # A loss from labels of unknown rank has no static shape; the
          # loop carries a scalar. (Only then: an op more per step.)
          new_loss = tf.reshape(new_loss, [])
        # Without a batch the step's loss is a stand-in zero: finite.
        return (i, tf.where(ran, new_loss, loss),
                tf.logical_not(tf.logical_and(ran,
                                              tf.math.is_finite(new_loss))))

    return tf.while_loop(cond, body, (tf.constant(0), tf.zeros([], loss_dtype),
                                      tf.constant(False)))

  return tf_internals.per_graph_function(steps, autograph=False)


def next_step(iterator, fn, n_outputs, endless=False):
  """Runs `fn` on the iterator's next batch, inside a traced function.

  `endless`: the iterator's dataset has infinite cardinality (a training
  input's `repeat()`), so the step calls `fn` on `get_next()` itself, with
  no `If` for an end that cannot come. The `If` passes every variable
  handle through a `Switch` and into both branches, which Grappler then
  removes again: 15,310 against 12,273 nodes for a step of 1,001 handles,
  and train(steps=2) 15.0 against 13.8 s (medians of 4 pairs); on
  EfficientDet-d0, 37,745 against 31,957 nodes and its first step 1.2-3.1 s
  sooner in 4 pairs (bench/ANALYSIS.md). The compiled loop keeps the `If`:
  it must stop where an input ends and count the steps run. Should such
  an input end after all (a `repeat()` of an input that turns out empty),
  the call raises OutOfRangeError, as a v1 session's step did, and ops of
  that step that do not read the batch may have run, as they did there.

  Returns `(ran, values)`: the tensors among `fn`'s first `n_outputs` outputs
  (None outputs, i.e. operations, are left out), or stand-ins of their dtype
  with `ran` false at end of input.
  """
  if endless:
    batch = tf.nest.flatten(iterator.get_next(), expand_composites=True)
    outputs = fn(*batch)[:n_outputs]
    return tf.constant(True), [o for o in outputs if o is not None]
  ran, _, values = _step_unless_ended(iterator.get_next_as_optional(), fn,
                                      n_outputs)
  return ran, values


def _step_unless_ended(optional, fn, n_outputs):
  """Calls `fn` on `optional`'s batch if it holds one, in an `If`.

  The `If`'s branches are made of `fn`'s runtime function itself, not traced
  (`PrunedFunction.branches`): tf.cond's branches, traced, held a
  placeholder per variable each (a step of 2,000 variables: 0.9 s more
  trace, 0.35 s more first call; EfficientDet-d0's first step about 5 s).

  Returns:
    `(ran, step, values)`: whether there was a batch, the `If` operation,
    and the tensors among `fn`'s first `n_outputs` fetches.
  """
  ran = optional.has_value()
  tensors = fn.tensor_fetches
  zeros = [tf.TensorSpec(_filler_dims(t.shape), t.dtype) for t in tensors]
  batch = tf.nest.flatten(optional.element_spec, expand_composites=True)
  if all(isinstance(spec, tf.TensorSpec)
         for spec in tf.nest.flatten(optional.element_spec)):
    # The optional holds the feeds as they are: the `If`'s branch gets its
    # value. In a tf.cond of its own, a model of many features paid a
    # `Switch` and a `Merge` per feature (dnn_dense's first predict 0.55 ->
    # 0.60 s, measured).
    arguments = tf.nest.flatten(optional, expand_composites=True)
    then_function, else_function = fn.branches(zeros, optional_batch=batch)
  else:
    # A sparse or ragged feature is held encoded; `get_value` decodes it.
    arguments = tf.cond(
        ran,
        lambda: tf.nest.flatten(optional.get_value(), expand_composites=True),
        lambda: [tf.zeros(_filler_dims(s.shape), s.dtype) for s in batch])
    then_function, else_function = fn.branches(zeros)
  step, outputs = tf_internals.call_if(
      ran, list(arguments) + list(fn.captured_inputs), then_function,
      else_function,
      [tf.TensorSpec(t.shape.most_specific_compatible_shape(z.shape), t.dtype)
       for t, z in zip(tensors, zeros)])
  n_values = sum(o is not None for o in fn.structured_outputs[:n_outputs])
  return ran, step, outputs[:n_values]


def with_operations(fn, n_outputs, values):
  """`next_step`'s values placed among `fn`'s first outputs, None for operations."""
  values = iter(values)
  return [None if output is None else next(values)
          for output in fn.structured_outputs[:n_outputs]]


def _filler_dims(shape):
  """A stand-in's dimensions: those known, 0 for the others, a scalar's if none."""
  return [] if shape.rank is None else [d or 0 for d in shape.as_list()]
