"""What one task runs for `train_and_evaluate`, chosen by its `RunConfig`.

`TrainingExecutor.run` picks `run_<task type>`: a local run trains with
`evaluation.EvaluateOnSave` listening to its checkpoint saves; under a
`TF_CONFIG` cluster the `chief` and `worker`s train, a `master` trains and
evaluates, the `evaluator` follows model_dir with its own loop. In a cluster
with `ps` tasks the chief coordinates training (`parameter_servers.py`): the
ps tasks hold the variables and the workers run the steps it schedules, both
only serving. One method per role, as in 2.15, so a program or library that
subclasses 2.15's `_TrainingExecutor` finds the same seams.

Cluster tasks start TensorFlow's standard server first, as 2.15 did: the
cluster manager reserved the task's address for it, and other tasks may
connect to it. A task whose cluster a distribution strategy owns starts none
(the strategy already serves the address).

The module reads its clock through `time` and the server class through
`server_lib`, so tests can replace them.
"""

import json
import os
import time

import tensorflow as tf

from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator.platform.tf_internals import server_lib
from tfcompat_estimator import run_config as run_config_lib
from tfcompat_estimator.train_eval import evaluation
from tfcompat_estimator.train_eval import specs

_TaskType = run_config_lib.TaskType
_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
# Non-chief workers start staggered (as in 2.15): 5 s per index, 60 s at most.
_WORKER_DELAY_SECS_PER_INDEX = 5
_MAX_WORKER_DELAY_SECS = 60
# How often a parameter-server worker looks for the end of training.
_WORKER_POLL_SECS = 2
# Tasks that may skip the server when they are the cluster's only node.
_TRAINER_JOBS = (_TaskType.CHIEF, _TaskType.MASTER, _TaskType.WORKER)


class TrainingExecutor:
  """Runs the part of `train_and_evaluate` that this task plays.

  Args:
    estimator: the `Estimator` to train and evaluate.
    train_spec: a `TrainSpec`.
    eval_spec: an `EvalSpec`, or None for tasks that only train.
    train_hooks: hooks added to `train_spec.hooks` when training.
    continuous_eval_listener: a `ContinuousEvalListener` told about each
      evaluation of a local run or an evaluator task.
  """

  def __init__(self, estimator, train_spec, eval_spec, train_hooks=None,
               continuous_eval_listener=None):
    if not isinstance(estimator, estimator_lib.Estimator):
      raise TypeError('`estimator` must have type `tf.estimator.Estimator`. '
                      f'Got: {type(estimator)}')
    if not isinstance(train_spec, specs.TrainSpec):
      raise TypeError('`train_spec` must have type `tf.estimator.TrainSpec`. '
                      f'Got: {type(train_spec)}')
    if eval_spec and not isinstance(eval_spec, specs.EvalSpec):
      raise TypeError('`eval_spec` must be either `None` or have type '
                      f'`tf.estimator.EvalSpec`. Got: {type(eval_spec)}')
    if continuous_eval_listener and not isinstance(
        continuous_eval_listener, evaluation.ContinuousEvalListener):
      raise TypeError('`continuous_eval_listener` must have type '
                      '`_ContinuousEvalListener`.')
    self._estimator = estimator
    self._train_spec = train_spec
    self._eval_spec = eval_spec
    self._train_hooks = specs.checked_hooks(train_hooks, 'train_hooks')
    self._continuous_eval_listener = (continuous_eval_listener or
                                      evaluation.ContinuousEvalListener())

  @property
  def estimator(self):
    """The `Estimator` this task trains or evaluates."""
    return self._estimator

  def run(self):
    """Runs `run_<task type>` for this task's `RunConfig`.

    Returns:
      For a local run, `(metrics of the last evaluation, the exporters'
      results for it)`, `(None, None)` if nothing was evaluated. None for the
      tasks of a cluster.

    Raises:
      ValueError: when the RunConfig names no task, or one with no run here.
    """
    config = self._estimator.config
    if not config.cluster_spec and config.task_type != _TaskType.EVALUATOR:
      tf.compat.v1.logging.info(
          'Running training and evaluation locally (non-distributed).')
      return self.run_local()
    if not config.task_type:
      raise ValueError(
          '`estimator.config` must have task_type set. This usually means '
          'TF_CONFIG environment is not set correctly: its "task" needs a '
          '"type" that names one of its "cluster" jobs.')
    if config.task_type == 'local':
      raise ValueError(
          '`task.type` in TF_CONFIG cannot be `local`. Leaving `cluster` and '
          '`task` properties in TF_CONFIG absent triggers train and evaluate '
          '`Estimator` locally (non-distributed).')
    self._run_task(config.task_type)
    return None

  def run_in_strategy_cluster(self, task_type, task_id):
    """Runs `task_type`'s part in a cluster a distribution strategy owns.

    The strategy started this task's server and keeps the workers in step,
    so there is neither a server to start nor a start to stagger. Under a
    parameter-server strategy the chief's coordinator connects to the
    workers and ps tasks, which serve it from servers of their own; the
    RunConfig kept local roles (as in 2.15), so TF_CONFIG's task names them.
    """
    if task_type == _TaskType.EVALUATOR:
      return self.run_evaluator()
    config = self._estimator.config
    if parameter_servers.has_ps_tasks(config) and (
        task_type in (_TaskType.PS, _TaskType.WORKER)):
      if parameter_servers.leads(config.cluster_spec, task_type, task_id):
        _start_std_server(config, (task_type, task_id),
                          parameter_servers.server_config_for_leader(
                              config.cluster_spec))
        self._lead_training(self._train_spec.saving_listeners)
        return None
      server = _start_std_server(config, (task_type, task_id))
      if task_type == _TaskType.PS:
        server.join()  # until the job is ended, as in run_ps
      else:
        self._serve_until_trained(server, task_id)
      return None
    if task_type == _TaskType.CHIEF:
      self._train(self._train_spec.saving_listeners)
    elif task_type == _TaskType.MASTER:
      self._train(self._listeners_evaluating(
          evaluation.ContinuousEvalListener()))
    elif task_type == _TaskType.WORKER:
      self._train(None)
    else:
      self._run_task(task_type)  # the error naming the supported types
    return None

  def _run_task(self, task_type):
    run = getattr(self, 'run_' + task_type, None)
    if task_type == 'local' or not callable(run):
      raise ValueError(
          f'Task type {task_type} is not supported. Supported task types are '
          f'{self._task_types()}: check the "task" of TF_CONFIG.')
    run()

  def _task_types(self):
    return [name[len('run_'):] for name in dir(self)
            if name.startswith('run_') and name not in (
                'run_local', 'run_in_strategy_cluster')
            and callable(getattr(self, name))]

  # The run of each role ---------------------------------------------------------
  def run_chief(self):
    """Trains, with the train spec's saving listeners."""
    self._start_distributed_training(self._train_spec.saving_listeners)

  def run_worker(self):
    """Trains after a staggered start; the chief owns the saving listeners.

    In a cluster with ps tasks the chief schedules the training steps on
    the workers: a worker serves them until the chief's training is over.
    """
    config = self._estimator.config
    if parameter_servers.has_ps_tasks(config):
      self._serve_until_trained(_start_std_server(config), config.task_id)
      return
    self._start_distributed_training()

  def run_master(self):
    """Trains and evaluates each new checkpoint, like a local run."""
    specs.check_eval_spec(self._eval_spec)
    self._start_distributed_training(self._listeners_evaluating(
        evaluation.ContinuousEvalListener()))

  def run_evaluator(self):
    """Evaluates new checkpoints in model_dir until one reaches max_steps."""
    self._start_continuous_evaluation()

  def run_ps(self):
    """A parameter server: holds variables for the chief until killed.

    As in 2.15, the task never returns: the cluster manager ends it.
    """
    server = _start_std_server(self._estimator.config)
    server.join()

  def run_local(self):
    """Trains here, evaluating checkpoints as they are saved.

    Returns:
      `(metrics of the last evaluation, the exporters' results for it)`, or
      `(None, None)` when nothing was evaluated because model_dir had already
      reached max_steps.
    """
    specs.check_eval_spec(self._eval_spec)
    config = self._estimator.config
    # 2.15's line, word for word (job logs are searched for it).
    tf.compat.v1.logging.info(
        'Start train and evaluate loop. The evaluate will happen after every '
        'checkpoint. Checkpoint frequency is determined based on RunConfig '
        'arguments: save_checkpoints_steps %s or save_checkpoints_secs %s.',
        config.save_checkpoints_steps, config.save_checkpoints_secs)
    listeners = self._listeners_evaluating(self._continuous_eval_listener)
    self._train(listeners)
    evaluating = listeners[-1]
    result = evaluating.eval_result or evaluation.EvalResult(
        evaluation.EvalStatus.MISSING_CHECKPOINT)
    return result.metrics, evaluating.export_results

  # Training -----------------------------------------------------------------------
  def _listeners_evaluating(self, continuous_eval_listener):
    """The spec's saving listeners, then one evaluating each checkpoint."""
    evaluator = evaluation.Evaluator(self._estimator, self._eval_spec,
                                     self._train_spec.max_steps)
    return self._train_spec.saving_listeners + (evaluation.EvaluateOnSave(
        evaluator, self._eval_spec.throttle_secs, continuous_eval_listener),)

  def _start_distributed_training(self, saving_listeners=None):
    """Starts this task's server, waits a worker's turn, then trains."""
    config = self._estimator.config
    # The server comes first: the other tasks wait to reach it. The chief of
    # a cluster with ps tasks gets its server from the coordinator instead.
    if not _is_google_env() and not parameter_servers.has_ps_tasks(config):
      _start_std_server(config)
    delay = _worker_start_delay(config)
    if delay > 0:
      tf.compat.v1.logging.info('Waiting %d secs before starting training.',
                                delay)
      time.sleep(delay)
    if parameter_servers.has_ps_tasks(config):
      self._lead_training(saving_listeners)
    else:
      self._train(saving_listeners)

  def _lead_training(self, saving_listeners):
    """Trains as the coordinator of a ps cluster, then lets the workers go."""
    self._train(saving_listeners)
    parameter_servers.announce_training_over(
        self._estimator.config.cluster_spec)

  def _serve_until_trained(self, server, task_id):
    """Serves the chief's steps until its training is over.

    The leader announces that to each worker's server. A worker (re)started
    after the announcement learns it from model_dir's checkpoint at
    `max_steps`, when the job has one.
    """
    max_steps = self._train_spec.max_steps
    while True:
      path = max_steps and tf.train.latest_checkpoint(
          self._estimator.model_dir)
      if path and tf.train.load_variable(path, _GLOBAL_STEP) >= max_steps:
        tf.compat.v1.logging.info(
            'Training reached max_steps=%d (%s); this worker is done.',
            max_steps, path)
        return
      if parameter_servers.training_over(server, task_id):
        tf.compat.v1.logging.info('Training is over; this worker is done.')
        return
      time.sleep(_WORKER_POLL_SECS)

  def _train(self, saving_listeners):
    self._estimator.train(
        input_fn=self._train_spec.input_fn,
        max_steps=self._train_spec.max_steps,
        hooks=list(self._train_spec.hooks) + list(self._train_hooks),
        saving_listeners=saving_listeners)

  # The evaluator task -------------------------------------------------------------
  def _start_continuous_evaluation(self):
    """Evaluates and exports until a checkpoint reaches max_steps.

    The task exits right after the final evaluation; 2.15 first slept
    `throttle_secs` more.
    """
    specs.check_eval_spec(self._eval_spec)
    delay = self._eval_spec.start_delay_secs
    if delay:
      tf.compat.v1.logging.info('Waiting %f secs before starting eval.', delay)
      time.sleep(delay)
    evaluator = evaluation.Evaluator(self._estimator, self._eval_spec,
                                     self._train_spec.max_steps)
    while True:
      started = time.time()
      result = self._evaluate_once(evaluator)
      if result is None or self._reached_max_steps(result):
        return
      self._throttle(started, result)

  def _evaluate_once(self, evaluator):
    """One look at model_dir; None when the listener ends evaluating."""
    listener = self._continuous_eval_listener
    if not listener.before_eval():
      tf.compat.v1.logging.info('Exiting evaluation, as requested by '
                                '_ContinuousEvalListener.before_eval.')
      return None
    result, _ = evaluator.evaluate_and_export()
    if not listener.after_eval(result):
      tf.compat.v1.logging.info('Exiting evaluation, as requested by '
                                '_ContinuousEvalListener.after_eval.')
      return None
    return result

  def _reached_max_steps(self, result):
    if result.status != evaluation.EvalStatus.EVALUATED:
      return False
    step, max_steps = result.metrics[_GLOBAL_STEP], self._train_spec.max_steps
    if step and max_steps and step >= max_steps:
      tf.compat.v1.logging.info(
          'Exiting evaluation, global_step=%s >= train max_steps=%s', step,
          max_steps)
      return True
    return False

  def _throttle(self, started, result):
    """Waits until `throttle_secs` have passed since `started`."""
    throttle_secs = self._eval_spec.throttle_secs
    wait = throttle_secs - (time.time() - started)
    if wait > 0:
      tf.compat.v1.logging.info('Waiting %f secs before starting next eval run.',
                                wait)
      time.sleep(wait)
    elif throttle_secs == 0 and result.status != evaluation.EvalStatus.EVALUATED:
      tf.compat.v1.logging.warning(
          'EvalSpec.throttle_secs is set as 0. This might overload the job '
          'before finding (next) new checkpoint. Please consider to increase '
          'it.')


# Cluster helpers ------------------------------------------------------------------
def _worker_start_delay(config):
  """Seconds a worker waits so workers join one by one (none for the chief).

  With a distribution strategy the workers train in step, so none wait.
  """
  if config.task_type != _TaskType.WORKER or config.train_distribute is not None:
    return 0
  max_delay = _MAX_WORKER_DELAY_SECS
  if config.experimental_max_worker_delay_secs is not None:
    max_delay = int(config.experimental_max_worker_delay_secs)
  return min(max_delay, (config.task_id + 1) * _WORKER_DELAY_SECS_PER_INDEX)


def _is_google_env():
  """Google's cluster manager started the servers itself."""
  tf_config = json.loads(os.environ.get('TF_CONFIG') or '{}')
  return tf_config.get('environment') == 'google'


def _check_server_config(config):
  """True if this task needs a server; RuntimeError if it cannot have one."""
  if not config.cluster_spec or not config.task_type or config.task_id is None:
    raise RuntimeError(
        'Could not start server; be sure to specify cluster_spec, task_type, '
        'and task in RunConfig or set the TF_CONFIG environment variable.')
  if config.master:
    return True
  jobs = config.cluster_spec.jobs
  if (len(jobs) == 1 and len(config.cluster_spec.job_tasks(jobs[0])) == 1 and
      config.task_type in _TRAINER_JOBS):
    # The only node of its cluster: no one else would connect.
    tf.compat.v1.logging.info('Skip starting Tensorflow server as there is '
                              'only one node in the cluster.')
    return False
  raise RuntimeError(
      'Could not start server; be sure to specify master in RunConfig or set '
      'the TF_CONFIG environment variable.')


def _start_std_server(config, task=None, server_config=None):
  """This task's server (None for a one-node cluster), started once.

  A process that runs `train_and_evaluate` again in the same role keeps the
  server it started: a second one cannot bind the address (2.15 failed
  there with "Could not start gRPC server").

  Args:
    config: The RunConfig: its cluster, protocol and GPU options.
    task: `(task_type, task_id)` of this process in `config.cluster_spec`,
      if not the RunConfig's own (a strategy left it the local roles).
    server_config: The server's `ConfigProto`, if not the default one.
  """
  if task is None:
    if not _check_server_config(config):
      return None
    task = (config.task_type, config.task_id)
  key = (server_lib.Server, config.cluster_spec.as_cluster_def().SerializeToString(),
         *task, config.protocol)
  if key not in _started_servers:
    tf.compat.v1.logging.info('Start Tensorflow server.')
    session_config = server_config or tf.compat.v1.ConfigProto(
        log_device_placement=False)
    if config.session_config is not None:
      session_config.gpu_options.CopyFrom(config.session_config.gpu_options)
    server = server_lib.Server(
        config.cluster_spec, job_name=task[0], task_index=task[1],
        config=session_config, start=False, protocol=config.protocol)
    server.start()
    _started_servers[key] = server
  return _started_servers[key]


# Servers cannot be stopped; the ones this process started, by what they serve
# (the class first, so a test's replacement never meets a real server).
_started_servers = {}


class StopAtSecsHook(tf.compat.v1.train.SessionRunHook):
  """Requests a stop once `stop_after_secs` have passed since `begin`.

  Args:
    stop_after_secs: seconds of training after which the hook asks to stop
      (checked after each step).
  """

  def __init__(self, stop_after_secs):
    self._stop_after_secs = stop_after_secs
    self._start_time = None

  def begin(self):
    self._start_time = time.time()

  def after_run(self, run_context, run_values):
    del run_values
    if time.time() - self._start_time >= self._stop_after_secs:
      run_context.request_stop()
