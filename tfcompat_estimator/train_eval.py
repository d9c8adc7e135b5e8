"""`train_and_evaluate`, its `TrainSpec`/`EvalSpec`, and what each task runs.

A local run trains once; a checkpoint listener evaluates each checkpoint the
training saves (at most once per `throttle_secs`, never the one written when
training starts) and hands the result to the exporters, and when training
ends the final checkpoint is evaluated unless it just was. Under a `TF_CONFIG`
cluster, `estimator.config.task_type` picks one small run per role, so a role
can change without touching the others.

The module reads its clock through `time`, so tests can replace it.
"""

import collections
import os
import time

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

from tfcompat_estimator import checkpoints
from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator import run_config as run_config_lib
from tfcompat_estimator import safe_paths

_TaskType = run_config_lib.TaskType
_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
# Non-chief workers start staggered (as in 2.15): 5 s per index, 60 s at most.
_WORKER_DELAY_SECS_PER_INDEX = 5
_MAX_WORKER_DELAY_SECS = 60
# Waiting for a checkpoint is reported at most this often.
_WAIT_WARNING_SECS = 600


# Spec validation ---------------------------------------------------------------
def _check_exporters(exporters):
  """`exporters` as a tuple of `Exporter`s with distinct non-empty names."""
  if not exporters:
    return ()
  # Imported here: only programs that export need the exporter module.
  from tfcompat_estimator import exporter as exporter_lib  # pylint: disable=g-import-not-at-top
  if isinstance(exporters, exporter_lib.Exporter):
    return (exporters,)
  try:
    exporters = tuple(exporters)
  except TypeError:
    exporters = None
  if exporters is None or not all(
      isinstance(e, exporter_lib.Exporter) for e in exporters):
    raise TypeError('`exporters` must be an Exporter, an iterable of Exporter, '
                    f'or `None`, found {exporters}.')
  names = [e.name for e in exporters]
  for name in names:
    if not name:
      raise ValueError('An Exporter cannot have a name that is `None` or empty. '
                       f'All exporter names: {names}')
    if not isinstance(name, str):
      raise ValueError(f'An Exporter must have a string name. Given: {type(name)}')
    safe_paths.check_inside(name, 'Exporter name', '<model_dir>/export')
  if len(set(names)) != len(names):
    raise ValueError('`exporters` must have unique names. Such a name cannot be '
                     f'`None`. All exporter names: {names}')
  return exporters


class TrainSpec(collections.namedtuple(
    'TrainSpec', ['input_fn', 'max_steps', 'hooks', 'saving_listeners'])):
  """What `train_and_evaluate` trains on and for how long.

  `max_steps=None` trains until the input ends or a hook stops training; it is
  the only stop condition every task of a cluster agrees on.
  """

  __slots__ = ()

  def __new__(cls, input_fn, max_steps=None, hooks=None, saving_listeners=None):
    estimator_lib.check_callable('input_fn', input_fn)
    estimator_lib.check_number('max_steps', max_steps)
    if max_steps is not None and max_steps <= 0:
      raise ValueError(f'Must specify max_steps > 0, given: {max_steps}')
    return super().__new__(
        cls, input_fn, max_steps, model_fn_lib.checked_hooks(hooks),
        estimator_lib.checked_saving_listeners(saving_listeners))


class EvalSpec(collections.namedtuple('EvalSpec', [
    'input_fn', 'steps', 'name', 'hooks', 'exporters', 'start_delay_secs',
    'throttle_secs'])):
  """How `train_and_evaluate` evaluates and exports checkpoints.

  `throttle_secs` is the least time between the starts of two evaluations;
  `start_delay_secs` only delays a separate evaluator task.
  """

  __slots__ = ()

  def __new__(cls, input_fn, steps=100, name=None, hooks=None, exporters=None,
              start_delay_secs=120, throttle_secs=600):
    estimator_lib.check_callable('input_fn', input_fn)
    for arg, value in (('steps', steps), ('start_delay_secs', start_delay_secs),
                       ('throttle_secs', throttle_secs)):
      estimator_lib.check_number(arg, value)
    if steps is not None and steps <= 0:
      raise ValueError(f'Must specify steps > 0, given: {steps}')
    if name is not None and not isinstance(name, str):
      raise TypeError(f'`name` must be string, given: {name}')
    hooks = model_fn_lib.checked_hooks(hooks)
    exporters = _check_exporters(exporters)
    if start_delay_secs < 0:
      raise ValueError(
          f'Must specify start_delay_secs >= 0, given: {start_delay_secs}')
    if throttle_secs < 0:
      raise ValueError(f'Must specify throttle_secs >= 0, given: {throttle_secs}')
    return super().__new__(cls, input_fn, steps, name, hooks, exporters,
                           start_delay_secs, throttle_secs)


# train_and_evaluate --------------------------------------------------------------
def train_and_evaluate(estimator, train_spec, eval_spec):
  """Trains `estimator`, evaluating and exporting its checkpoints on the way.

  Args:
    estimator: a `tf.estimator.Estimator`.
    train_spec: a `TrainSpec`.
    eval_spec: an `EvalSpec`.

  Returns:
    For a local run, `(metrics of the last evaluation, what each exporter
    returned for it)`, or `(None, None)` when nothing was evaluated because the
    `model_dir` had already reached `max_steps`. None for the tasks of a cluster.

  Raises:
    TypeError: for arguments of the wrong types.
    ValueError: for a task type this run cannot play.
  """
  _check_arguments(estimator, train_spec, eval_spec)
  config = estimator.config
  if not config.cluster_spec and config.task_type != _TaskType.EVALUATOR:
    logging.info('Running training and evaluation locally (non-distributed).')
    return _run_local(estimator, train_spec, eval_spec)
  task_type = _task_type(config)
  run = _ROLE_RUNS.get(task_type)
  if run is None:
    raise ValueError(
        f'Task type {task_type!r} (from TF_CONFIG) is not supported by '
        f'train_and_evaluate. Supported task types are {sorted(_ROLE_RUNS)}.')
  run(estimator, train_spec, eval_spec)
  return None


def _task_type(config):
  """This process's role: TF_CONFIG's task when a strategy owns the cluster.

  Such a RunConfig keeps local roles, as in 2.15, where a distribute
  coordinator then started each task's run.
  """
  if (config._distribute_coordinator_mode ==  # pylint: disable=protected-access
      run_config_lib._INDEPENDENT_WORKER):  # pylint: disable=protected-access
    return run_config_lib.strategy_cluster_task()[0]
  return config.task_type


def _check_arguments(estimator, train_spec, eval_spec):
  if not isinstance(eval_spec, EvalSpec):
    raise TypeError('`eval_spec` must have type `tf.estimator.EvalSpec`. '
                    f'Got: {type(eval_spec)}')
  if not isinstance(estimator, estimator_lib.Estimator):
    raise TypeError('`estimator` must have type `tf.estimator.Estimator`. '
                    f'Got: {type(estimator)}')
  if not isinstance(train_spec, TrainSpec):
    raise TypeError('`train_spec` must have type `tf.estimator.TrainSpec`. '
                    f'Got: {type(train_spec)}')


# The run of each role ------------------------------------------------------------
def _run_local(estimator, train_spec, eval_spec):
  """Trains here, evaluating on checkpoint saves; returns the last result."""
  config = estimator.config
  logging.info(
      'Start train and evaluate loop. Checkpoints are evaluated as they are '
      'saved (save_checkpoints_steps %s or save_checkpoints_secs %s), at most '
      'once per %s secs.', config.save_checkpoints_steps,
      config.save_checkpoints_secs, eval_spec.throttle_secs)
  listener = _train_with_evaluation(estimator, train_spec, eval_spec)
  return listener.metrics, listener.export_results


def _run_master(estimator, train_spec, eval_spec):
  """A legacy `master` trains and evaluates like a local run."""
  _train_with_evaluation(estimator, train_spec, eval_spec)


def _run_chief(estimator, train_spec, eval_spec):
  del eval_spec  # the evaluator task evaluates
  _train(estimator, train_spec, train_spec.saving_listeners)


def _run_worker(estimator, train_spec, eval_spec):
  """Trains after a staggered start, unless a strategy coordinates workers."""
  del eval_spec  # the evaluator task evaluates
  config = estimator.config
  if config.train_distribute is None:
    max_delay = _MAX_WORKER_DELAY_SECS
    if config.experimental_max_worker_delay_secs is not None:
      max_delay = int(config.experimental_max_worker_delay_secs)
    delay = min(max_delay, (config.task_id + 1) * _WORKER_DELAY_SECS_PER_INDEX)
    if delay > 0:
      logging.info('Waiting %d secs before starting training.', delay)
      time.sleep(delay)
  _train(estimator, train_spec, ())


def _run_ps(estimator, train_spec, eval_spec):
  del estimator, train_spec, eval_spec
  raise ValueError(
      'TF_CONFIG makes this task a parameter server ("ps"), which '
      'train_and_evaluate does not support: TensorFlow 2 has no parameter-server '
      'training for Estimators. Train on "chief"/"worker" tasks with '
      'RunConfig(train_distribute=tf.distribute.MultiWorkerMirroredStrategy()) '
      'and drop the "ps" job from the cluster.')


def _run_evaluator(estimator, train_spec, eval_spec):
  """Evaluates new checkpoints in model_dir until one reaches max_steps."""
  if estimator.config.task_id > 0:
    raise ValueError(
        'For distributed training, there can only be one `evaluator` task '
        f'(with task id 0).  Given task id {estimator.config.task_id}')
  if eval_spec.start_delay_secs:
    logging.info('Waiting %f secs before starting eval.',
                 eval_spec.start_delay_secs)
    time.sleep(eval_spec.start_delay_secs)
  evaluator = _Evaluator(estimator, eval_spec, train_spec.max_steps)
  while True:
    started = time.time()
    result = evaluator.evaluate_and_export()
    if result.status == _EVALUATED and _reached(result.metrics,
                                                train_spec.max_steps):
      logging.info('Exiting evaluation, global_step=%s >= train max_steps=%s',
                   result.metrics[_GLOBAL_STEP], train_spec.max_steps)
      return
    wait = eval_spec.throttle_secs - (time.time() - started)
    if wait > 0:
      logging.info('Waiting %f secs before starting next eval run.', wait)
      time.sleep(wait)
    elif eval_spec.throttle_secs == 0 and result.status != _EVALUATED:
      logging.warning('EvalSpec.throttle_secs is 0: the evaluator polls '
                      'model_dir without pause until a new checkpoint appears.')


_ROLE_RUNS = {
    _TaskType.CHIEF: _run_chief,
    _TaskType.MASTER: _run_master,
    _TaskType.WORKER: _run_worker,
    _TaskType.PS: _run_ps,
    _TaskType.EVALUATOR: _run_evaluator,
}


def _train(estimator, train_spec, saving_listeners):
  estimator.train(input_fn=train_spec.input_fn, max_steps=train_spec.max_steps,
                  hooks=list(train_spec.hooks),
                  saving_listeners=list(saving_listeners))


def _train_with_evaluation(estimator, train_spec, eval_spec):
  listener = _EvaluateOnSave(
      _Evaluator(estimator, eval_spec, train_spec.max_steps),
      eval_spec.throttle_secs)
  _train(estimator, train_spec, train_spec.saving_listeners + (listener,))
  return listener


def _reached(metrics, max_steps):
  step = metrics[_GLOBAL_STEP]
  return bool(max_steps and step and step >= max_steps)


# Evaluating and exporting checkpoints --------------------------------------------
_EVALUATED = 'evaluated'
_MISSING_CHECKPOINT = 'missing checkpoint'
_NO_NEW_CHECKPOINT = 'no new checkpoint'

# What one look at model_dir gave: a status above, and with `_EVALUATED` the
# metrics, the checkpoint they belong to and the exporters' results.
_EvalResult = collections.namedtuple(
    '_EvalResult', ['status', 'metrics', 'checkpoint_path', 'export_results'],
    defaults=(None, None, None))


class _Evaluator:
  """Evaluates the latest checkpoint unless it was already, then exports."""

  def __init__(self, estimator, eval_spec, max_steps):
    self._estimator = estimator
    self._spec = eval_spec
    self._max_steps = max_steps
    self._previous_path = None
    self._last_warning = None  # time of the last "waiting" warning

  @property
  def model_dir(self):
    return self._estimator.model_dir

  def evaluate_and_export(self):
    # The training may delete a checkpoint before it is evaluated and
    # exported; the newer one is used then.
    return checkpoints.reading_latest(self._estimator.latest_checkpoint,
                                      self._evaluate_and_export)

  def _evaluate_and_export(self, path):
    if not path:
      self._warn_while_waiting('No checkpoint in model_dir %s yet; evaluation '
                               'starts when training saves one.')
      return _EvalResult(_MISSING_CHECKPOINT)
    if path == self._previous_path:
      self._warn_while_waiting('No new checkpoint in model_dir %s since the '
                               'last evaluation; waiting for one.')
      return _EvalResult(_NO_NEW_CHECKPOINT)
    metrics = self._estimator.evaluate(
        self._spec.input_fn, steps=self._spec.steps, hooks=self._spec.hooks,
        checkpoint_path=path, name=self._spec.name)
    _check_metrics(metrics, path)
    is_final = _reached(metrics, self._max_steps)
    exports = [self._export(e, path, metrics, is_final)
               for e in self._spec.exporters]
    self._previous_path = path
    self._last_warning = None
    return _EvalResult(_EVALUATED, metrics, path, exports)

  def _export(self, exporter, checkpoint_path, metrics, is_final):
    export_path = os.path.join(self._estimator.model_dir, 'export',
                               exporter.name)
    return exporter.export(estimator=self._estimator, export_path=export_path,
                           checkpoint_path=checkpoint_path, eval_result=metrics,
                           is_the_final_export=is_final)

  def _warn_while_waiting(self, message):
    now = time.time()
    if self._last_warning is None or now - self._last_warning > _WAIT_WARNING_SECS:
      logging.warning(message, self._estimator.model_dir)
      self._last_warning = now


def _check_metrics(metrics, path):
  if not isinstance(metrics, dict):
    raise TypeError(f'`Estimator.evaluate` should return dict. Given '
                    f'{type(metrics)} for checkpoint {path}.')
  if _GLOBAL_STEP not in metrics:
    raise ValueError(f'The evaluation of checkpoint {path} returned no '
                     f'{_GLOBAL_STEP!r}; train_and_evaluate needs it to know '
                     f'when training is done. Given: {metrics}')


class _EvaluateOnSave(tf.compat.v1.train.CheckpointSaverListener):
  """Evaluates saved checkpoints, throttled, and the final one.

  The save made when training starts holds no new training, so it is never
  evaluated. The last result is kept for `train_and_evaluate` to return.
  """

  def __init__(self, evaluator, throttle_secs):
    self._evaluator = evaluator
    self._throttle_secs = throttle_secs
    self.metrics = None
    self.export_results = None

  def begin(self):
    self._skip_next_save = True
    self._last_step = None  # of the last evaluation
    self._last_time = None

  def after_save(self, session, global_step_value):
    del session
    if self._skip_next_save:
      self._skip_next_save = False
    elif self._due(global_step_value):
      self._evaluate(global_step_value)
    else:
      logging.info('Skip the current checkpoint eval due to throttle secs '
                   '(%s secs).', self._throttle_secs)

  def end(self, session, global_step_value):
    del session
    if global_step_value != self._last_step:
      self._evaluate(global_step_value)

  def _due(self, step):
    if self._last_step is None:
      return True
    return step != self._last_step and (
        time.time() >= self._last_time + self._throttle_secs)

  def _evaluate(self, step):
    self._last_step, self._last_time = step, time.time()
    result = self._evaluator.evaluate_and_export()
    if result.status != _EVALUATED:
      raise RuntimeError(
          f'There was no new checkpoint after the training. Eval status: '
          f'{result.status}. Training saved step {step}, but model_dir '
          f'{self._evaluator.model_dir} lists no new checkpoint; does a '
          'CheckpointSaverHook among the hooks save elsewhere?')
    self.metrics, self.export_results = result.metrics, result.export_results
