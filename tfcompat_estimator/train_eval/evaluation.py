"""Evaluating and exporting the checkpoints a training writes.

`Evaluator` looks at model_dir once: it evaluates the latest checkpoint unless
it already did, then hands the metrics to the exporters. Two drivers use it:
`EvaluateOnSave`, a saving listener inside a local (or `master`) training, and
the evaluator task's loop in `executor.py`. A `ContinuousEvalListener` may end
either early.

2.15's tests and libraries patch `tf.compat.v1.logging` (and the timer class
in `basic_session_run_hooks`) to watch these; both are looked up at call time.
"""

import collections
import os
import time

import tensorflow as tf

from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform.tf_internals import basic_session_run_hooks
from tfcompat_estimator.train_eval import specs

_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
# Waiting for a checkpoint is reported at most this often.
_WAIT_WARNING_SECS = 600


class EvalStatus:
  """What one look at model_dir found.

  A local training always ends with a new checkpoint, so it only sees
  `EVALUATED`; an evaluator task also sees the other two while it waits.
  """

  EVALUATED = 'evaluated'
  MISSING_CHECKPOINT = 'missing checkpoint'
  NO_NEW_CHECKPOINT = 'no new checkpoint'


class EvalResult(collections.namedtuple(
    'EvalResult', ['status', 'metrics', 'checkpoint_path'])):
  """An `EvalStatus`, and with `EVALUATED` the metrics and their checkpoint."""

  __slots__ = ()

  def __new__(cls, status, metrics=None, checkpoint_path=None):
    if status != EvalStatus.EVALUATED:
      if metrics:
        raise ValueError(f'metrics must be `None` if status is not '
                         f'{EvalStatus.EVALUATED}; got status {status}, '
                         f'metrics {metrics}')
      if checkpoint_path:
        raise ValueError(f'checkpoint must be `None` if status is not '
                         f'{EvalStatus.EVALUATED}; got status {status}, '
                         f'checkpoint_path {checkpoint_path}')
      return super().__new__(cls, status, metrics, checkpoint_path)
    # Only a subclassed or replaced `Estimator.evaluate` gets these wrong.
    if not metrics:
      raise ValueError('Internal error: `Estimator.evaluate` should never '
                       f'return empty metrics (checkpoint {checkpoint_path}).')
    if not isinstance(metrics, dict):
      raise TypeError(f'`Estimator.evaluate` should return dict. Given '
                      f'{type(metrics)} for checkpoint {checkpoint_path}.')
    if _GLOBAL_STEP not in metrics:
      raise ValueError(
          'Internal error: `Estimator.evaluate` result should have '
          f'`global_step` in result; train_and_evaluate needs it to know when '
          f'training is done. Given {metrics} for checkpoint {checkpoint_path}')
    if not checkpoint_path:
      raise ValueError('Internal error: `checkpoint_path` should never be '
                       'empty.')
    return super().__new__(cls, status, metrics, checkpoint_path)


class ContinuousEvalListener:
  """Hooks around each evaluation; returning False ends evaluating early."""

  def before_eval(self):
    """Called before each evaluation.

    Returns:
      False to skip this evaluation and stop evaluating (and, inside a local
      training, stop the training); True otherwise.
    """
    return True

  def after_eval(self, eval_result):
    """Called after each look at model_dir.

    Args:
      eval_result: the `EvalResult`, evaluated or not.

    Returns:
      False to stop evaluating (and training, in a local run); True otherwise.
    """
    del eval_result
    return True


class Evaluator:
  """Evaluates the latest checkpoint unless it was already, then exports.

  Args:
    estimator: the `Estimator` whose model_dir is read.
    eval_spec: the `EvalSpec`: input, steps, name, hooks and exporters.
    max_training_steps: `TrainSpec.max_steps`; an evaluation at or past it is
      the final export.
  """

  def __init__(self, estimator, eval_spec, max_training_steps):
    specs.check_eval_spec(eval_spec)
    self._estimator = estimator
    self._spec = eval_spec
    self._max_training_steps = max_training_steps
    self._previous_path = None
    self._last_warning = None  # time of the last "waiting" warning
    self.is_final_export_triggered = False

  @property
  def model_dir(self):
    """The estimator's model directory, where checkpoints are looked for."""
    return self._estimator.model_dir

  def evaluate_and_export(self):
    """Evaluates and exports the latest checkpoint if it is new.

    Returns:
      `(EvalResult, the exporters' results)`; the list is empty when nothing
      was evaluated.
    """
    # The training may delete a checkpoint before it is evaluated and
    # exported; the newer one is used then.
    return checkpoints.reading_latest(self._estimator.latest_checkpoint,
                                      self._evaluate_and_export)

  def _evaluate_and_export(self, path):
    if not path:
      self._warn_while_waiting(
          'Estimator is not trained yet: no checkpoint in model_dir %s. '
          'Evaluation starts when training saves one.')
      return EvalResult(EvalStatus.MISSING_CHECKPOINT), []
    if path == self._previous_path:
      self._warn_while_waiting(
          'No new checkpoint ready for evaluation in model_dir %s; skipping '
          'this pass, as the same checkpoint gives the same results.')
      return EvalResult(EvalStatus.NO_NEW_CHECKPOINT), []
    metrics = self._estimator.evaluate(
        input_fn=self._spec.input_fn, steps=self._spec.steps,
        name=self._spec.name, checkpoint_path=path, hooks=self._spec.hooks)
    result = EvalResult(EvalStatus.EVALUATED, metrics, path)
    is_final = bool(self._max_training_steps and
                    metrics[_GLOBAL_STEP] >= self._max_training_steps)
    exports = [self._export(e, result, is_final) for e in self._spec.exporters]
    self.is_final_export_triggered |= is_final
    self._previous_path = path
    self._last_warning = None
    return result, exports

  def _export(self, exporter, result, is_final):
    export_path = os.path.join(tf.compat.as_str_any(self.model_dir), 'export',
                               exporter.name)
    return exporter.export(estimator=self._estimator, export_path=export_path,
                           checkpoint_path=result.checkpoint_path,
                           eval_result=result.metrics,
                           is_the_final_export=is_final)

  def _warn_while_waiting(self, message):
    now = time.time()
    if self._last_warning is None or now - self._last_warning > _WAIT_WARNING_SECS:
      tf.compat.v1.logging.warning(message, self.model_dir)
      self._last_warning = now


class EvaluateOnSave(tf.compat.v1.train.CheckpointSaverListener):
  """Inside a training: evaluates saved checkpoints, throttled, and the last.

  The save made when training starts holds no new training, so it is never
  evaluated. A `ContinuousEvalListener` refusing an evaluation stops the
  training. The last result is kept for `train_and_evaluate` to return.

  Args:
    evaluator: an `Evaluator`.
    eval_throttle_secs: the least time between two evaluations' starts.
    continuous_eval_listener: a `ContinuousEvalListener`.
  """

  def __init__(self, evaluator, eval_throttle_secs, continuous_eval_listener):
    self._evaluator = evaluator
    self._throttle_secs = eval_throttle_secs
    self._listener = continuous_eval_listener
    self.eval_result, self.export_results = None, None

  def begin(self):
    self._timer = basic_session_run_hooks.SecondOrStepTimer(
        every_secs=self._throttle_secs)
    self._skip_next_save = True

  def after_save(self, session, global_step_value):
    """Returns True (stop training) when the listener ends evaluating."""
    del session
    if self._skip_next_save:
      self._skip_next_save = False
      return False
    if not self._listener.before_eval():
      tf.compat.v1.logging.info('Exiting training and evaluation loop, as '
                                'requested by _ContinuousEvalListener.before_eval.')
      return True
    if not self._timer.should_trigger_for_step(global_step_value):
      tf.compat.v1.logging.info('Skip the current checkpoint eval due to '
                                'throttle secs (%s secs).', self._throttle_secs)
      return False
    self._evaluate(global_step_value)
    if not self._listener.after_eval(self.eval_result):
      tf.compat.v1.logging.info('Exiting evaluation, as requested by '
                                '_ContinuousEvalListener.after_eval.')
      return True
    return False

  def end(self, session, global_step_value):
    del session
    if (global_step_value != self._timer.last_triggered_step() and
        self._listener.before_eval()):
      self._evaluate(global_step_value)
      self._listener.after_eval(self.eval_result)

  def _evaluate(self, step):
    self._timer.update_last_triggered_step(step)
    self.eval_result, self.export_results = (
        self._evaluator.evaluate_and_export())
    if self.eval_result.status != EvalStatus.EVALUATED:
      raise RuntimeError(
          f'There was no new checkpoint after the training. Eval status: '
          f'{self.eval_result.status}. Training saved step {step}, but '
          f'model_dir {self._evaluator.model_dir} lists no new checkpoint; '
          'does a CheckpointSaverHook among the hooks save elsewhere?')
