"""A kept graph is built again when the hooks its model_fn made have changed.

2.15 called the model_fn at every call, so a spec's hooks were new objects
at every train() and evaluate(). The engine keeps the graph, and with it
the hooks: a hook counting steps in its own attributes went on counting
from the last call. The expected values are 2.15's, measured with
tensorflow-estimator 2.15.0 on the same programs.
"""

import tensorflow as tf

from tfcompat_estimator.runs import model_fn_hooks

_v1 = tf.compat.v1


class _StopAfter(_v1.train.SessionRunHook):
  """Stops its run after `n` steps, counted from its creation."""

  def __init__(self, n):
    self.n, self.seen = n, 0

  def after_run(self, run_context, run_values):
    self.seen += 1
    if self.seen >= self.n:
      run_context.request_stop()


class _RecordLoss(_v1.train.SessionRunHook):
  """Records the loss of every step of its run (arrays, not plain values)."""

  def __init__(self, loss):
    self.loss, self.losses = loss, []

  def before_run(self, run_context):
    return _v1.train.SessionRunArgs(self.loss)

  def after_run(self, run_context, run_values):
    self.losses.append(run_values.results)


class _FindsGlobalStep(_v1.train.SessionRunHook):
  """Keeps nothing from its creation; sets an attribute in `begin`."""

  def begin(self):
    self.global_step = _v1.train.get_global_step()


def _estimator(tmp_path, make_hooks, calls):
  def model_fn(features, labels, mode):
    calls.append(mode)
    w = _v1.get_variable('w', [1])
    loss = tf.reduce_sum((features['x'] * w - labels) ** 2)
    train_op = _v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, _v1.train.get_global_step())
    training_hooks, evaluation_hooks = make_hooks(loss, w)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op, training_hooks=training_hooks,
        evaluation_hooks=evaluation_hooks)

  return tf.estimator.Estimator(model_fn, str(tmp_path))


def _input_fn():
  return tf.data.Dataset.from_tensors(({'x': [1.]}, [2.])).repeat(4)


def test_a_hook_counting_from_its_creation_counts_again_at_every_train(
    tmp_path):
  calls = []
  est = _estimator(tmp_path, lambda loss, w: ([_StopAfter(3)], []), calls)
  steps = []
  for _ in range(3):
    est.train(lambda: _input_fn().repeat(), steps=10)
    steps.append(est.get_variable_value('global_step'))
  assert steps == [3, 6, 9]  # 2.15; kept hooks stopped at 3, 4, 5
  assert calls == ['train'] * 3


def test_stop_at_step_hook_and_a_recording_eval_hook_are_new_each_call(
    tmp_path):
  recorders = []

  def make_hooks(loss, w):
    del w
    recorders.append(_RecordLoss(loss))
    return [_v1.train.StopAtStepHook(num_steps=2)], [recorders[-1]]

  calls = []
  est = _estimator(tmp_path, make_hooks, calls)
  steps = []
  for _ in range(3):
    est.train(_input_fn, steps=10)
    steps.append(est.get_variable_value('global_step'))
    est.evaluate(_input_fn)
  # 2.15: StopAtStepHook(num_steps=2) ran 2 steps a call; each evaluation's
  # hook saw that evaluation's 4 batches.
  assert steps == [2, 4, 6]
  assert calls == ['train', 'eval'] * 3
  # (The model_fn made a recorder in train mode too, unused there.)
  assert [len(r.losses) for r in recorders] == [0, 4] * 3


def test_hooks_that_keep_their_state_keep_the_graph(tmp_path):
  def make_hooks(loss, w):
    summary = _v1.summary.scalar('eval_loss', loss)
    return ([_FindsGlobalStep(),
             _v1.train.LoggingTensorHook({'loss': loss, 'w': w},
                                         every_n_iter=1)],
            [_FindsGlobalStep(),
             # Takes its writer from FileWriterCache in begin().
             _v1.train.SummarySaverHook(save_steps=1, summary_op=summary,
                                        output_dir=str(tmp_path / 'hook'))])

  calls = []
  est = _estimator(tmp_path, make_hooks, calls)
  for _ in range(3):
    est.train(_input_fn, steps=10)
    est.evaluate(_input_fn)
  assert est.get_variable_value('global_step') == 12
  # Each mode's model_fn ran once: its hooks came back as it made them
  # (a LoggingTensorHook's variable is pointed at its read in place).
  assert calls == ['train', 'eval']


def test_snapshot_compares_what_the_hook_had_when_made():
  hook = _RecordLoss('loss:0')
  spec = tf.estimator.EstimatorSpec('infer', predictions={'x': tf.zeros(1)},
                                    prediction_hooks=[hook])
  made = model_fn_hooks.snapshot(spec)
  hook.begin_time = 1.0  # added after its creation: a new hook adds it too
  assert not model_fn_hooks.changed(made, model_fn_hooks.snapshot(spec))
  hook.losses.append(1.0)
  assert model_fn_hooks.changed(made, model_fn_hooks.snapshot(spec)) == [
      'prediction_hooks[0] _RecordLoss.losses']
  hook.losses.clear()
  hook.loss = 'other:0'
  assert model_fn_hooks.changed(made, model_fn_hooks.snapshot(spec)) == [
      'prediction_hooks[0] _RecordLoss.loss']
