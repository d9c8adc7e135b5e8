"""End of input ends a run, and so does a hook's StopIteration, as in 2.15.

The engine signals end of input with its own exception (`EndOfInput`). A
`StopIteration` raised by user code (a hook calling `next()` on an exhausted
iterator) also ends the run quietly: 2.15's MonitoredSession suppressed it.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf

_X = np.arange(8, dtype=np.float32).reshape(8, 1)


def _model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [1, 1])
  predictions = tf.matmul(features['x'], w)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': predictions})
  loss = tf.reduce_mean(tf.square(predictions - labels))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
      loss, global_step=tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _X)).batch(2)


class _StrayStopIteration(tf.estimator.SessionRunHook):
  """Raises StopIteration from `before_run` on its third step."""

  def __init__(self):
    self.calls = 0

  def before_run(self, run_context):
    self.calls += 1
    if self.calls == 3:
      next(iter([]))


def test_input_running_out_ends_each_run(tmp_path):
  est = tf.estimator.Estimator(_model_fn, str(tmp_path))
  est.train(_input_fn)  # four batches, no step limit
  assert est.get_variable_value('global_step') == 4
  assert est.evaluate(_input_fn)['global_step'] == 4
  assert len(list(est.predict(lambda: _input_fn().map(lambda f, l: f)))) == 8


def test_a_hooks_stop_iteration_ends_training_quietly(tmp_path):
  # Measured on 2.15: training stopped at global step 2, no error.
  est = tf.estimator.Estimator(_model_fn, str(tmp_path))
  est.train(_input_fn, hooks=[_StrayStopIteration()])
  assert est.get_variable_value('global_step') == 2


def test_a_hooks_stop_iteration_ends_predict_quietly(tmp_path):
  # Measured on 2.15: 4 of the 8 predictions, no error (not PEP 479's
  # RuntimeError from a StopIteration inside the generator).
  est = tf.estimator.Estimator(_model_fn, str(tmp_path))
  est.train(_input_fn, steps=1)
  predictions = est.predict(lambda: _input_fn().map(lambda f, l: f),
                            hooks=[_StrayStopIteration()])
  assert len(list(predictions)) == 4


def test_the_final_loss_logged_is_the_last_steps_at_end_of_input(tmp_path,
                                                                 caplog):
  """The steps after the last loss log run in a compiled loop; 2.15 logged
  the loss of the step the input ended after, not the last one logged."""

  def model_fn(features, labels, mode):
    del features
    step = tf.compat.v1.train.get_or_create_global_step()
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.reduce_mean(labels),
        train_op=tf.compat.v1.assign_add(step, 1))

  labels = np.arange(10, dtype=np.float32).reshape(10, 1)  # batch i: 2i + .5
  input_fn = lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': labels}, labels)).batch(2)
  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    estimator.train(input_fn)
  final = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('Loss for final step')]
  assert final == ['Loss for final step: 8.5.']


def test_the_final_loss_keeps_the_model_fns_dtype(tmp_path, caplog):
  """A float64 loss is logged as float64, as 2.15's session returned it (the
  compiled loop used to carry it as float32: '0.33333334')."""

  def model_fn(features, labels, mode):
    del features, labels
    step = tf.compat.v1.train.get_or_create_global_step()
    third = tf.constant(1 / 3, tf.float64)
    return tf.estimator.EstimatorSpec(
        mode, loss=third, train_op=tf.compat.v1.assign_add(step, 1))

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    estimator.train(_input_fn, steps=3)  # steps 2-3 in the compiled loop
  final = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith('Loss for final step')]
  assert final == [f'Loss for final step: {1 / 3}.']


class _SeesEveryStep(tf.estimator.SessionRunHook):
  """Fetches the global step in every step: each is a hooked step."""

  def before_run(self, run_context):
    return tf.estimator.SessionRunArgs(tf.compat.v1.train.get_global_step())


@pytest.mark.parametrize('hooks', [[], [_SeesEveryStep()]],
                         ids=['quiet_steps', 'hooked_steps'])
def test_an_endless_input_that_runs_out_ends_training_as_any_input(tmp_path,
                                                                   hooks):
  # tf.data counts a repeat() as endless even if its input turns out empty
  # (here after the generator's first pass): steps drawn one per call from
  # an endless input have no end-of-input branch (engine/loops.py).
  passes = []

  def once():
    passes.append(1)
    return iter(_X.reshape(4, 2, 1) if len(passes) == 1 else [])

  def input_fn():
    x = tf.data.Dataset.from_generator(
        once, output_signature=tf.TensorSpec([2, 1], tf.float32)).repeat()
    return x.map(lambda v: ({'x': v}, v))

  est = tf.estimator.Estimator(_model_fn, str(tmp_path))
  # With a last step ahead the quiet steps are rented hooked steps
  # (runs/step_rental.py), which meet the end.
  est.train(input_fn, hooks=hooks, steps=10)
  assert est.get_variable_value('global_step') == 4
