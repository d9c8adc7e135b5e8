"""Early stopping: training hooks that stop once a predicate holds.

The `stop_if_*` predicates read the evaluation metrics that `evaluate` (or an
InMemoryEvaluatorHook) wrote as event files into the estimator's eval dir.

2.15 let only the chief call the predicate and published its decision in a
`signal_early_stopping/STOP` variable that other workers polled (and that
ended up in every checkpoint). Here hooks run in Python between compiled
steps and variables live outside the captured graph, so no such variable is
created: each worker calls the predicate itself (workers of a multi-worker
strategy then all-reduce their votes, see `make_early_stopping_hook`), and
checkpoints hold only the model's variables.
(2.15 could not add such a hook to a model_dir trained without one: restoring
found no STOP variable. That works here; the reverse, 2.15 continuing a
model_dir from here with an early-stopping hook, fails the same way.)
"""

import collections
import numbers
import operator
import os

import tensorflow as tf

from tfcompat_estimator.engine import distribution
from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import evaluation_hooks
from tfcompat_estimator.io import summaries
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator.session_emulation import hook_schedule

_train = tf.compat.v1.train
_EVENT_FILES = 'events.out.tfevents.*'


def make_early_stopping_hook(estimator, should_stop_fn, run_every_secs=60,
                             run_every_steps=None):
  """A hook that stops training once `should_stop_fn()` returns True.

  The predicate is called at the first step and then every `run_every_secs`
  seconds or every `run_every_steps` global steps (exactly one of them must be
  set, so `run_every_steps` needs `run_every_secs=None`). The step during which
  it answers True is the last one.

  On a non-chief worker (`config.is_chief` False) 2.15 only polled the chief's
  decision through a shared variable. There is none here, so the worker calls
  `should_stop_fn` itself on the same schedule: a predicate over files every
  worker can read (like the `stop_if_*` ones, over the eval dir) stops each
  worker at most one check interval after the chief would have; a predicate
  that depends on state only the chief has does not stop the workers.

  With `config.train_distribute` set, 2.15 took a step-only path whatever the
  strategy, so `run_every_secs` must be None there too. Under a multi-worker
  strategy every worker calls `should_stop_fn` at the same global steps and
  all stop together if any of them says so, as in 2.15.

  Args:
    estimator: the `tf.estimator.Estimator` the hook is for.
    should_stop_fn: a function of no arguments returning a truth value.
    run_every_secs: seconds between calls of `should_stop_fn`, or None.
    run_every_steps: global steps between calls of `should_stop_fn`, or None.

  Returns:
    A `SessionRunHook` for `estimator.train` (or a `TrainSpec`'s hooks).

  Raises:
    TypeError: `estimator` is not an Estimator or `should_stop_fn` is not
      callable.
    ValueError: both or neither of `run_every_secs` and `run_every_steps` are
      set, or `run_every_secs` is set with `train_distribute`.
  """
  _check_estimator(estimator)
  if run_every_secs is not None and run_every_steps is not None:
    raise ValueError('Only one of `run_every_secs` and `run_every_steps` may be '
                     f'set, got run_every_secs={run_every_secs} and '
                     f'run_every_steps={run_every_steps} (pass '
                     'run_every_secs=None to check every N steps).')
  if run_every_secs is None and run_every_steps is None:
    raise ValueError('One of `run_every_secs` and `run_every_steps` must be set.')
  if estimator.config.train_distribute is not None and run_every_secs is not None:
    raise ValueError('With RunConfig.train_distribute the early-stopping check '
                     'runs by steps only: pass run_every_secs=None and '
                     'run_every_steps.')
  if not callable(should_stop_fn):
    raise TypeError(f'`should_stop_fn` must be callable, got {should_stop_fn!r}.')
  strategy = estimator.config.train_distribute
  return _StopOnPredicateHook(
      should_stop_fn, run_every_secs, run_every_steps,
      strategy if distribution.is_multi_worker(strategy) else None)


def stop_if_higher_hook(estimator, metric_name, threshold, eval_dir=None,
                        min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops training once an evaluation had `metric_name` > `threshold`.

  Only evaluations at global steps >= `min_steps` count. They are read from
  `eval_dir` (default `estimator.eval_dir()`) as scheduled by `run_every_secs`
  or `run_every_steps`, see `make_early_stopping_hook`.

  Args:
    estimator: the `tf.estimator.Estimator` being trained.
    metric_name: key of the metric in the evaluation results, e.g. 'loss'.
    threshold: the number the metric must exceed.
    eval_dir: directory of the evaluation event files; None means
      `estimator.eval_dir()`.
    min_steps: evaluations at global steps below this are ignored.
    run_every_secs: seconds between checks, or None (see
      `make_early_stopping_hook`).
    run_every_steps: global steps between checks, or None.

  Returns:
    An early-stopping `SessionRunHook`.

  Raises:
    TypeError: `estimator` is not an Estimator, or `threshold` or
      `min_steps` is not a number.
    ValueError: `metric_name` is not a non-empty string, or the check
      schedule is invalid (see `make_early_stopping_hook`). During training,
      an evaluation without `metric_name` raises KeyError naming the
      metrics it has.
  """
  return _threshold_hook(estimator, metric_name, threshold, operator.gt,
                         eval_dir, min_steps, run_every_secs, run_every_steps)


def stop_if_lower_hook(estimator, metric_name, threshold, eval_dir=None,
                       min_steps=0, run_every_secs=60, run_every_steps=None):
  """Stops training once an evaluation had `metric_name` < `threshold`.

  Args:
    estimator: the `tf.estimator.Estimator` being trained.
    metric_name: key of the metric in the evaluation results, e.g. 'loss'.
    threshold: the number the metric must fall below.
    eval_dir: as in `stop_if_higher_hook`.
    min_steps: as in `stop_if_higher_hook`.
    run_every_secs: as in `stop_if_higher_hook`.
    run_every_steps: as in `stop_if_higher_hook`.

  Returns:
    An early-stopping `SessionRunHook`.

  Raises:
    TypeError, ValueError: as in `stop_if_higher_hook`.
  """
  return _threshold_hook(estimator, metric_name, threshold, operator.lt,
                         eval_dir, min_steps, run_every_secs, run_every_steps)


def stop_if_no_increase_hook(estimator, metric_name, max_steps_without_increase,
                             eval_dir=None, min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops training once `metric_name` has stopped rising.

  That is, once an evaluation lies `max_steps_without_increase` or more
  global steps after the one with the highest value so far (evaluations
  before `min_steps` ignored).

  Args:
    estimator: the `tf.estimator.Estimator` being trained.
    metric_name: key of the metric in the evaluation results.
    max_steps_without_increase: how many global steps the best value may lie
      behind the latest evaluation.
    eval_dir: as in `stop_if_higher_hook`.
    min_steps: as in `stop_if_higher_hook`.
    run_every_secs: as in `stop_if_higher_hook`.
    run_every_steps: as in `stop_if_higher_hook`.

  Returns:
    An early-stopping `SessionRunHook`.

  Raises:
    TypeError, ValueError: as in `stop_if_higher_hook` (TypeError for a
      non-number `max_steps_without_increase`).
  """
  return _no_improvement_hook(estimator, metric_name, max_steps_without_increase,
                              operator.gt, eval_dir, min_steps, run_every_secs,
                              run_every_steps)


def stop_if_no_decrease_hook(estimator, metric_name, max_steps_without_decrease,
                             eval_dir=None, min_steps=0, run_every_secs=60,
                             run_every_steps=None):
  """Stops training once `metric_name` has stopped falling.

  That is, once an evaluation lies `max_steps_without_decrease` or more
  global steps after the one with the lowest value so far (evaluations
  before `min_steps` ignored).

  Args:
    estimator: the `tf.estimator.Estimator` being trained.
    metric_name: key of the metric in the evaluation results, e.g. 'loss'.
    max_steps_without_decrease: how many global steps the best value may lie
      behind the latest evaluation.
    eval_dir: as in `stop_if_higher_hook`.
    min_steps: as in `stop_if_higher_hook`.
    run_every_secs: as in `stop_if_higher_hook`.
    run_every_steps: as in `stop_if_higher_hook`.

  Returns:
    An early-stopping `SessionRunHook`.

  Raises:
    TypeError, ValueError: as in `stop_if_higher_hook` (TypeError for a
      non-number `max_steps_without_decrease`).
  """
  return _no_improvement_hook(estimator, metric_name, max_steps_without_decrease,
                              operator.lt, eval_dir, min_steps, run_every_secs,
                              run_every_steps)


def read_eval_metrics(eval_dir):
  """`{global_step: {metric: value}}` from the event files in `eval_dir`.

  Only scalar (`simple_value`) summaries count; several events at one step
  merge, later ones winning. A corrupt event file is read up to the damage,
  with a warning.

  Args:
    eval_dir: directory holding `events.out.tfevents.*` files (a str or
      `os.PathLike`).

  Returns:
    An `OrderedDict` from global step to a dict of metric name to value,
    steps in ascending order; empty if there are no event files.
  """
  by_step = collections.defaultdict(dict)
  pattern = os.path.join(os.fspath(eval_dir), _EVENT_FILES)
  for _, step, values in summaries.read_scalars(pattern):
    by_step[step].update(values)
  return collections.OrderedDict(sorted(by_step.items()))


def _threshold_hook(estimator, metric_name, threshold, beyond, eval_dir,
                    min_steps, run_every_secs, run_every_steps):
  _check_number('threshold', threshold)
  values = _metric_reader(estimator, metric_name, eval_dir, min_steps)
  relation = 'greater than' if beyond is operator.gt else 'less than'

  def should_stop():
    for step, value in values():
      if beyond(value, threshold):
        # 2.15's words, which job logs are searched for.
        logging.info('At step %s, metric "%s" has value %s which is %s the '
                     'configured threshold (%s) for early stopping.', step,
                     metric_name, value, relation, threshold)
        return True
    return False

  return make_early_stopping_hook(estimator, should_stop, run_every_secs,
                                  run_every_steps)


def _no_improvement_hook(estimator, metric_name, max_steps, better, eval_dir,
                         min_steps, run_every_secs, run_every_steps):
  direction = 'increase' if better is operator.gt else 'decrease'
  _check_number(f'max_steps_without_{direction}', max_steps)
  values = _metric_reader(estimator, metric_name, eval_dir, min_steps)

  def should_stop():
    best = best_step = None
    for step, value in values():
      if best is None or better(value, best):
        best, best_step = value, step
      if step - best_step >= max_steps:
        logging.info('No %s in metric "%s" for %s steps, which is greater than '
                     'or equal to max steps (%s) configured for early '
                     'stopping.', direction, metric_name, step - best_step,
                     max_steps)
        return True
    return False

  return make_early_stopping_hook(estimator, should_stop, run_every_secs,
                                  run_every_steps)


def _metric_reader(estimator, metric_name, eval_dir, min_steps):
  """A function yielding (step, value) of `metric_name` at steps >= min_steps.

  Evaluations are read lazily in step order, so (as in 2.15) an evaluation
  lacking the metric is an error only if the predicate gets that far.
  """
  if not isinstance(metric_name, str) or not metric_name:
    raise ValueError(f'metric_name must be a non-empty string, got '
                     f'{metric_name!r}.')
  _check_number('min_steps', min_steps)
  _check_estimator(estimator)
  eval_dir = estimator.eval_dir() if eval_dir is None else os.fspath(eval_dir)

  def values():
    for step, metrics in read_eval_metrics(eval_dir).items():
      if step < min_steps:
        continue
      if metric_name not in metrics:
        raise KeyError(f'Early stopping metric {metric_name!r} is not among the '
                       f'evaluation results at global step {step} in '
                       f'{eval_dir}: {sorted(metrics)}.')
      yield step, metrics[metric_name]

  return values


def _check_estimator(estimator):
  if not isinstance(estimator, estimator_lib.Estimator):
    raise TypeError(f'`estimator` must be a tf.estimator.Estimator, got '
                    f'{type(estimator)}.')


def _check_number(name, value):
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise TypeError(f'{name} must be a number, got {value!r}.')


class _StopOnPredicateHook(evaluation_hooks.GlobalStepWatcher,
                           hook_schedule.OwnSchedule):
  """Requests a stop when `should_stop_fn()` is true, checked on a timer.

  The timer runs on the global step its fetch of the variable gives (the
  value a step starts from; under TF1's switches, as 2.15's reference
  variable gave it, the value after the step) and, as in 2.15, keeps its
  state when the hook is reused by another `train` call. The steps
  between checks run compiled: seen every step, the default hook (a check
  every 60 s) trained a small DNN at 1,379 steps/s against 5,929 without
  it (2.15: 1,512 and 1,988).
  """

  def __init__(self, should_stop_fn, run_every_secs, run_every_steps,
               multi_worker_strategy=None):
    self._should_stop_fn = should_stop_fn
    self._strategy = multi_worker_strategy
    self._timer = _train.SecondOrStepTimer(every_secs=run_every_secs,
                                           every_steps=run_every_steps)

  def quiet_steps(self, global_step, secs_per_step):
    """Steps before the one whose check is due (checked after it ran)."""
    return hook_schedule.timer_quiet_steps(self._timer, global_step,
                                           secs_per_step, acts_after_step=True)

  def after_run(self, run_context, run_values):
    step = int(run_values.results)
    if not self._timer.should_trigger_for_step(step):
      return
    self._timer.update_last_triggered_step(step)
    stop = bool(self._should_stop_fn())
    if self._strategy is not None:
      stop = _any_worker_votes(self._strategy, stop)
    if stop:
      logging.info('Requesting early stopping at global step %d', step)
      run_context.request_stop()


def _any_worker_votes(strategy, vote):
  """Whether any worker of a multi-worker job voted to stop.

  Workers of a synchronous job must leave the loop at the same step, or the
  others would wait forever in the next step's collectives. Every worker
  checks at the same global steps, so they can all-reduce their votes there
  (what 2.15 did through an aggregated variable).
  """
  with tf.init_scope():  # hooks run inside the training graph's context
    votes = strategy.run(lambda: tf.constant(int(vote)))
    return int(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)) > 0
