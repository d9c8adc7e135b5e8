"""How many copies of the training step a train() call compiles.

Each copy of the step in a compiled function is paid on that function's
first call (instantiation, Grappler, executor creation): the largest part
of the first train() of a process. The quiet steps' loop and the hooked
step are separate functions, so a train() that runs no quiet step compiles
one copy, and a longer one reuses it next to the loop's. Quiet steps run
through the hooked step's copy first while that has no effect of its own
(`step_rental`), so a run that ends early compiles no loop.
"""

import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context

from tfcompat_estimator.runs import step_rental

_APPLY_OP = 'ResourceApplyGradientDescent'


def _model_fn(features, labels, mode):
  logits = tf.compat.v1.layers.dense(
      features['x'], 1, kernel_initializer=tf.compat.v1.zeros_initializer())
  loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
  tf.compat.v1.summary.scalar('logits_mean', tf.reduce_mean(logits))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
  x = np.arange(64, dtype=np.float32).reshape(32, 2) / 64
  y = x.sum(axis=1, keepdims=True)
  return tf.data.Dataset.from_tensor_slices(({'x': x}, y)).repeat().batch(4)


def _step_copies(known):
  """Functions called since `known` was listed that apply the update.

  A function the context holds but no other calls is not a copy that runs
  (the captured model_fn graph is one).
  """
  ctx = context.context()
  defs = {name: ctx.get_function_def(name)
          for name in set(ctx.list_function_names()) - known}
  called = {attr.func.name for fdef in defs.values()
            for node in fdef.node_def for attr in node.attr.values()
            if attr.HasField('func')}
  return sorted(name for name, fdef in defs.items() if name in called and any(
      node.op == _APPLY_OP for node in fdef.node_def))


def _no_rented_steps(monkeypatch):
  monkeypatch.setattr(step_rental, 'BUDGET_FRACTION', 0.0)
  monkeypatch.setattr(step_rental, 'WHOLE_RUN_FRACTION', 0.0)


def _unlimited_rented_steps(monkeypatch):
  monkeypatch.setattr(step_rental, 'BUDGET_FRACTION', float('inf'))


def _batches_input_fn(n):
  def input_fn():
    return _input_fn().take(n)
  return input_fn


def test_a_one_step_train_compiles_one_copy_of_the_step(tmp_path,
                                                        monkeypatch):
  # The rental's budget is a share of measured time: none here, so the
  # second call's quiet steps compile the loop whatever the host's speed.
  _no_rented_steps(monkeypatch)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=1)
  assert len(_step_copies(known)) == 1

  # The next call's first step is hooked again (its loss log and summaries
  # are due) and reuses that copy; its other steps add the quiet loop's.
  estimator.train(_input_fn, steps=20)
  assert len(_step_copies(known)) == 2
  assert estimator.get_variable_value('global_step') == 21


def test_a_short_run_rents_its_quiet_steps_rather_than_compile_the_loop(
    tmp_path, monkeypatch):
  """Renting every step left (3, at most 2 ms each) costs less than the
  compile the first call measured; without that rule the loop is compiled.

  The 5% budget is off, so only the whole-run rule rents.
  """
  monkeypatch.setattr(step_rental, 'BUDGET_FRACTION', 0.0)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=4)
  assert len(_step_copies(known)) == 1  # the hooked step's, nothing more
  assert estimator.get_variable_value('global_step') == 4

  _no_rented_steps(monkeypatch)
  estimator.train(_input_fn, steps=4)
  assert len(_step_copies(known)) == 2
  assert estimator.get_variable_value('global_step') == 8


def test_quiet_and_hooked_steps_alternate_without_losing_one(tmp_path):
  """A hook every 10 steps, the loss log every 7, summaries every 5."""
  logged = []
  hook = tf.compat.v1.train.LoggingTensorHook(
      {'step': 'global_step'}, every_n_iter=10,
      formatter=lambda values: logged.append(int(values['step'])) or '')
  config = tf.estimator.RunConfig(log_step_count_steps=7,
                                  save_summary_steps=5)
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path), config=config)
  estimator.train(_input_fn, steps=30, hooks=[hook])
  assert logged == [0, 10, 20]
  assert estimator.get_variable_value('global_step') == 30


def test_a_run_whose_input_ends_early_compiles_no_loop(tmp_path, monkeypatch):
  _unlimited_rented_steps(monkeypatch)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path))
  estimator.train(_batches_input_fn(3))
  assert len(_step_copies(known)) == 1
  assert estimator.get_variable_value('global_step') == 3

  # The same steps through the loop: the same variables.
  _no_rented_steps(monkeypatch)
  other = tf.estimator.Estimator(_model_fn, str(tmp_path / 'loop'))
  other.train(_batches_input_fn(3))
  assert len(_step_copies(known)) == 3  # its own hooked step's and loop's
  np.testing.assert_allclose(
      estimator.get_variable_value('dense/kernel'),
      other.get_variable_value('dense/kernel'), rtol=1e-6)


def test_rented_steps_stop_at_a_nan_loss(tmp_path, monkeypatch):
  _unlimited_rented_steps(monkeypatch)

  def model_fn(features, labels, mode):
    step = tf.compat.v1.train.get_global_step()
    loss = tf.reduce_mean(features['x']) / tf.cast(2 - step, tf.float32) * 0
    loss += tf.cast(step, tf.float32)  # 0 * inf = NaN at step 2
    train_op = tf.compat.v1.assign_add(step, 1)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
    estimator.train(_input_fn, steps=10)


def test_a_hook_fetch_with_an_effect_is_not_rented(tmp_path, monkeypatch):
  """A logged tensor that increments a counter: 2.15 ran it when logged."""
  _unlimited_rented_steps(monkeypatch)

  def model_fn(features, labels, mode):
    spec = _model_fn(features, labels, mode)
    counter = tf.Variable(0, name='counter')
    hook = tf.compat.v1.train.LoggingTensorHook(
        {'count': counter.assign_add(1)}, every_n_iter=10)
    return spec._replace(training_hooks=[hook])

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=25)
  assert estimator.get_variable_value('counter') == 3  # steps 0, 10 and 20


def _shuffling_model_fn(features, labels, mode):
  """A step with a random op that keeps its stream in each compiled copy.

  (`RandomShuffle`; dropout's `RandomUniform` shares its stream between
  the copies, engine/random_streams.py.)
  """
  return _model_fn({'x': tf.random.shuffle(features['x'])}, labels, mode)


def test_a_step_with_own_streams_rents_nothing_without_a_last_step(
    tmp_path, monkeypatch):
  """Its quiet steps draw from the loop's random stream whatever the timing."""
  _unlimited_rented_steps(monkeypatch)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_shuffling_model_fn, str(tmp_path))
  estimator.train(_batches_input_fn(3))
  assert len(_step_copies(known)) == 2


def test_an_own_streams_run_beyond_the_count_compiles_the_loop(tmp_path,
                                                              monkeypatch):
  """Two runs of 5 quiet steps each against a count of 8: the first rents
  all of its steps, the second none (it would not fit), whatever the host."""
  monkeypatch.setattr(step_rental, 'OWN_STREAMS_STEPS', 8)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_shuffling_model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=6)
  assert len(_step_copies(known)) == 1
  estimator.train(_input_fn, steps=6)
  assert len(_step_copies(known)) == 2
  assert estimator.get_variable_value('global_step') == 12


def _dropout_model_fn(features, labels, mode):
  return _model_fn({'x': tf.nn.dropout(features['x'], rate=0.5)}, labels,
                   mode)


class _EveryStepHook(tf.compat.v1.train.SessionRunHook):
  """A program's hook that sees every step, fetching nothing."""

  def after_run(self, run_context, run_values):
    del run_context, run_values


@pytest.mark.parametrize('steps,log_step_count_steps,hooks,rented,values', [
    (6, 1, False, False, ([0.239073, 0.330423], 0.673675)),
    (6, 100, False, False, ([0.239073, 0.330423], 0.673675)),
    (6, 100, False, True, ([0.239073, 0.330423], 0.673675)),
    (300, 100, False, True, ([0.312462, 0.405925], 0.568138)),
    (300, 100, True, False, ([0.312462, 0.405925], 0.568138)),
])
def test_seeded_dropout_draws_2_15s_masks_whichever_copies_run_the_steps(
    tmp_path, monkeypatch, steps, log_step_count_steps, hooks, rented,
    values):
  """2.15's session kept one kernel, so one random stream, per dropout op
  for all its fetches, and began it afresh in each train() (two calls here).
  Here the steps run in several compiled copies (a hooked step with
  summaries, one without, the quiet loop; rented or not), which share the
  op's stream. A copy with a stream of its own trained other values (the
  kernel [0.193, 0.188] after one call of 6 steps through the loop).
  Values measured on 2.15.
  """
  if not rented:
    _no_rented_steps(monkeypatch)
  estimator = tf.estimator.Estimator(_dropout_model_fn, str(tmp_path), config=(
      tf.estimator.RunConfig(tf_random_seed=42,
                             log_step_count_steps=log_step_count_steps)))
  for _ in range(2):
    estimator.train(_input_fn, steps=steps,
                    hooks=[_EveryStepHook()] if hooks else None)
  kernel, bias = values
  np.testing.assert_allclose(
      estimator.get_variable_value('dense/kernel').ravel(), kernel, atol=1e-6)
  np.testing.assert_allclose(estimator.get_variable_value('dense/bias'),
                             [bias], atol=1e-6)


def _model_fn_with_cond(shuffle_in_branch):
  """_model_fn with a `cond` (a canned head's label check holds one)."""

  def model_fn(features, labels, mode):
    x = features['x']
    if shuffle_in_branch:
      x = tf.cond(tf.reduce_sum(x) > 0,
                  lambda: tf.random.shuffle(x, seed=1), lambda: x)
    else:
      x = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 1.0, lambda: -x)
    return _model_fn({'x': x}, labels, mode)

  return model_fn


@pytest.mark.parametrize('shuffle_in_branch,copies', [(False, 1), (True, 2)])
def test_a_cond_is_looked_into_for_random_ops(tmp_path, monkeypatch,
                                              shuffle_in_branch, copies):
  """A step calling a branch function is rented unless the branch draws."""
  _unlimited_rented_steps(monkeypatch)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_model_fn_with_cond(shuffle_in_branch),
                                     str(tmp_path))
  estimator.train(_batches_input_fn(3))
  assert len(_step_copies(known)) == copies
  assert estimator.get_variable_value('global_step') == 3


def test_slow_steps_are_charged_what_the_loop_could_save(tmp_path,
                                                         monkeypatch):
  """A large model's step costs the same in the loop; only its call is saved.

  Each step sleeps 0.1 s; the budget is the first call's time (at least
  that 0.1 s). Charged their whole time, the second quiet step used it up
  and compiled the loop; charged `LOOP_SAVING_BOUND` each, all seven ran
  through the hooked step's copy.
  """
  monkeypatch.setattr(step_rental, 'BUDGET_FRACTION', 1.0)

  def slow(x):
    time.sleep(0.1)
    return x

  def model_fn(features, labels, mode):
    x = tf.py_function(slow, [features['x']], tf.float32)
    x.set_shape(features['x'].shape)
    return _model_fn({'x': x}, labels, mode)

  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=8)
  assert len(_step_copies(known)) == 1
  assert estimator.get_variable_value('global_step') == 8


def _hook_every(n, logged=None):
  logged = [] if logged is None else logged
  return tf.compat.v1.train.LoggingTensorHook(
      {'step': 'global_step'}, every_n_iter=n,
      formatter=lambda values: logged.append(int(values['step'])) or '')


def test_a_hooked_step_without_summaries_runs_through_the_summary_steps_copy(
    tmp_path, monkeypatch):
  """A hook every 3 steps, summaries every 100: steps 3 and 6 fetch less.

  Their own copy would be a third one (beside the loop's): a large model's
  compile each (RetinaNet's step 8, 8-10 s). The summary step's copy
  computes them, its scalar summaries dropped.
  """
  _unlimited_rented_steps(monkeypatch)
  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path / 'lent'))
  logged = []
  estimator.train(_input_fn, steps=8, hooks=[_hook_every(3, logged)])
  assert len(_step_copies(known)) == 1
  assert logged == [0, 3, 6]  # the hook's own fetch, picked from the values

  _no_rented_steps(monkeypatch)
  other = tf.estimator.Estimator(_model_fn, str(tmp_path / 'own'))
  other.train(_input_fn, steps=8, hooks=[_hook_every(3)])
  assert len(_step_copies(known)) == 4  # its summary, hooked and loop copies
  for name in ('dense/kernel', 'dense/bias', 'global_step'):
    np.testing.assert_allclose(estimator.get_variable_value(name),
                               other.get_variable_value(name), rtol=1e-6)


def test_a_summary_steps_copy_with_small_outputs_computes_hooked_steps(
    tmp_path, monkeypatch):
  """EfficientDet's summaries: a global norm (a stack of per-variable norms)
  and the mean of a tensor of unknown rank (a range over its axes)."""
  _unlimited_rented_steps(monkeypatch)

  def model_fn(features, labels, mode):
    logits = tf.compat.v1.layers.dense(features['x'], 1)
    any_rank = tf.compat.v1.placeholder_with_default(logits, shape=None)
    loss = tf.compat.v1.losses.mean_squared_error(labels, any_rank)
    tf.compat.v1.summary.scalar('mean', tf.reduce_mean(any_rank))
    weights = tf.compat.v1.trainable_variables()
    tf.compat.v1.summary.scalar('norm', tf.linalg.global_norm(weights))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=8, hooks=[_hook_every(3)])
  assert len(_step_copies(known)) == 1


def test_no_hooked_step_runs_through_a_copy_computing_histograms(
    tmp_path, monkeypatch):
  """A histogram's cost grows with its input: not worth sparing a compile."""
  _unlimited_rented_steps(monkeypatch)

  def model_fn(features, labels, mode):
    tf.compat.v1.summary.histogram('x', features['x'])
    return _model_fn(features, labels, mode)

  known = set(context.context().list_function_names())
  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=8, hooks=[_hook_every(3)])
  assert len(_step_copies(known)) == 2  # the summary step's and the hook's
