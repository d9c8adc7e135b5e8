"""`tf.estimator.train_and_evaluate` and its specs.

`specs.py` holds `TrainSpec`/`EvalSpec`, `executor.py` what each task of a
run does, `evaluation.py` how checkpoints are evaluated and exported. This
module is also 2.15's `tensorflow_estimator.python.estimator.training`, so it
keeps the private names programs and libraries import from there.
"""

from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator import run_config as run_config_lib
from tfcompat_estimator.train_eval import evaluation
from tfcompat_estimator.train_eval import executor
from tfcompat_estimator.train_eval import specs

EvalSpec = specs.EvalSpec
TrainSpec = specs.TrainSpec

# 2.15's private names, looked up here at call time (tests replace them).
_TrainingExecutor = executor.TrainingExecutor
_ContinuousEvalListener = evaluation.ContinuousEvalListener
_EvalResult = evaluation.EvalResult
_EvalStatus = evaluation.EvalStatus
_NewCheckpointListenerForEvaluate = evaluation.EvaluateOnSave
_StopAtSecsHook = executor.StopAtSecsHook
_assert_eval_spec = specs.check_eval_spec

_TaskType = run_config_lib.TaskType


def train_and_evaluate(estimator, train_spec, eval_spec):
  """Trains `estimator`, evaluating and exporting its checkpoints on the way.

  A local run trains once; each checkpoint the training saves is evaluated
  (at most once per `eval_spec.throttle_secs`, never the one written when
  training starts) and handed to the exporters, and when training ends the
  final checkpoint is evaluated unless it just was. Under a `TF_CONFIG`
  cluster each task plays its role (see `executor.py`).

  Args:
    estimator: a `tf.estimator.Estimator` (or a subclass, e.g. a canned one).
    train_spec: a `TrainSpec`: the training input, `max_steps` and hooks.
    eval_spec: an `EvalSpec`: the evaluation input, steps, exporters and
      throttling.

  Returns:
    For a local run, `(metrics of the last evaluation, what each exporter
    returned for it)`, or `(None, None)` when nothing was evaluated because the
    `model_dir` had already reached `max_steps`. None for the tasks of a cluster.

  Raises:
    TypeError: `estimator`, `train_spec` or `eval_spec` has the wrong type.
    ValueError: the `RunConfig` names a second evaluator task (index > 0), no
      task type, or one this run cannot play (e.g. 'local').
  """
  _assert_eval_spec(eval_spec)  # before anything else, as 2.15 failed fast
  run = _TrainingExecutor(estimator=estimator, train_spec=train_spec,
                          eval_spec=eval_spec)
  config = estimator.config
  if (config._distribute_coordinator_mode ==  # pylint: disable=protected-access
      run_config_lib._INDEPENDENT_WORKER):  # pylint: disable=protected-access
    # The RunConfig keeps local roles, as in 2.15, where a distribute
    # coordinator then started each task's run; TF_CONFIG names the task.
    task_type, task_id = run_config_lib.strategy_cluster_task()
    _check_one_evaluator(task_type, task_id)
    logging.info('Running `train_and_evaluate` as the %s of a cluster owned by '
                 'the training strategy.', task_type)
    return run.run_in_strategy_cluster(task_type, task_id)
  logging.info('Not using Distribute Coordinator.')  # 2.15's line
  _check_one_evaluator(config.task_type, config.task_id)
  return run.run()


def _check_one_evaluator(task_type, task_id):
  if task_type == _TaskType.EVALUATOR and task_id > 0:
    raise ValueError(
        'For distributed training, there can only be one `evaluator` task '
        f'(with task id 0).  Given task id {task_id}')
