"""Parameter-server training on TensorFlow 2's `ParameterServerStrategy`.

A legacy parameter-server job is a `TF_CONFIG` cluster of `chief`, `worker`
and `ps` tasks all running the same program. In 2.15 each worker built its
own graph, with its variables placed on the ps tasks in turn, and trained
asynchronously. Here the chief (or worker 0 of a cluster without one) is
TensorFlow 2's cluster coordinator: it captures the model_fn graph once,
creates the variables on the ps tasks (one by one in turn, as 2.15's
`replica_device_setter` placed them, so the parts of a TF1 partitioned
variable land on different ps tasks, and optimizer slots beside their
variables), and schedules compiled steps on the workers, each reading its
own input. The workers and ps tasks only serve; the leader tells each
worker's server when training is over, so the workers can exit. A lost
worker is trained around (the coordinator reruns its steps; `fetch` covers
a result lost with it); a lost ps task ends training with a
`ParameterServerError` naming it.

This module is the one user of the strategy's private variable placement
and of the coordinator's workers (through `platform.tf_internals`).
"""

import contextlib
import functools
import json
import re

import tensorflow as tf

from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging

# The errors the coordinator raises when a ps task (or the chief's link to
# the cluster) is gone; a failed worker is retried by the coordinator itself.
_LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
                tf.errors.CancelledError, tf.errors.DeadlineExceededError,
                tf.errors.NotFoundError)


class ParameterServerError(RuntimeError):
  """Training lost a parameter server (or the cluster) and stopped."""


def is_strategy(strategy):
  """Whether `strategy` is TensorFlow 2's parameter-server strategy."""
  return isinstance(
      strategy, tf.distribute.experimental.ParameterServerStrategy)


def has_ps_tasks(config):
  return bool(config.cluster_spec) and 'ps' in config.cluster_spec.jobs


_strategies = {}  # the cluster's TF_CONFIG -> the strategy connected to it


def leads(cluster_spec, task_type, task_id):
  """Whether this task coordinates training: the chief, else worker 0.

  A cluster without a `chief` job comes with 2.15's strategy in the
  RunConfig (2.15's RunConfig refused it otherwise); there worker 0 led.
  """
  if 'chief' in cluster_spec.jobs:
    return task_type == 'chief'
  return (task_type, task_id) == ('worker', 0)


def strategy_for_cluster(config, task_type, task_id):
  """The coordinator's strategy for a `TF_CONFIG` cluster with ps tasks.

  One per process: connecting makes this process the cluster's coordinator.
  Without a `chief` job, worker 0 coordinates from its own process, beside
  the worker server it started (see `leads`); TensorFlow then adds a
  `chief` job for the coordinator at a free local port.

  Args:
    config: The `RunConfig`, whose `cluster_spec` is the cluster.
    task_type: The task this process plays (`config.task_type`, unless a
      strategy in the RunConfig left it the local roles, as in 2.15).
    task_id: Its index.

  Raises:
    ValueError: This task does not lead the cluster.
  """
  if not leads(config.cluster_spec, task_type, task_id):
    leader = ('the chief' if 'chief' in config.cluster_spec.jobs else
              'worker 0, as the cluster has no chief')
    raise ValueError(
        f'Only {leader} trains in a parameter-server cluster; this task is '
        f'{task_type}:{task_id}, which serves it (train_and_evaluate does '
        'that for it).')
  # An evaluator listed in the cluster (Kubeflow's TFJob lists every
  # task) serves nothing here; connecting to it would wait forever.
  cluster = tf.train.ClusterSpec({
      job: tasks for job, tasks in config.cluster_spec.as_dict().items()
      if job != 'evaluator'})
  key = json.dumps(cluster.as_dict(), sort_keys=True)
  if key not in _strategies:
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        cluster,
        task_type='chief' if task_type == 'chief' else None,
        task_id=0 if task_type == 'chief' else None,
        rpc_layer=config.protocol or 'grpc')
    _strategies[key] = tf.distribute.experimental.ParameterServerStrategy(
        resolver)
  return _strategies[key]


def server_config_for_leader(cluster_spec):
  """A worker server's `ConfigProto` when its process also coordinates.

  Steps scheduled on it and the coordinator's own calls share the
  process's inter-op threads; with fewer than one per worker plus one, a
  step waiting on a ps read starves (measured as a hang of the first step
  with optimizer slots; TF's in-process test clusters set the same).
  """
  server_config = tf.compat.v1.ConfigProto()
  server_config.inter_op_parallelism_threads = (
      len(cluster_spec.job_tasks('worker')) + 1)
  return server_config


def check_strategy(strategy):
  """Raises if a user's `ParameterServerStrategy` would shard TF1 variables.

  A model_fn's variables are partitioned by their own TF1 partitioners
  (`get_variable(partitioner=)`, a canned model's
  `input_layer_partitioner`), which is what saves them as the `part_N`
  slices 2.15 reads. The strategy's `variable_partitioner` would turn them
  into TF2 `ShardedVariable`s, which TF1 optimizers cannot update.

  Raises:
    ValueError: The strategy has a `variable_partitioner`.
  """
  if tf_internals.variable_partitioner(strategy) is not None:
    raise ValueError(
        'RunConfig(train_distribute=ParameterServerStrategy(..., '
        'variable_partitioner=...)): an Estimator\'s variables are TF1 '
        'variables, partitioned by their own partitioner (get_variable('
        'partitioner=...), or input_layer_partitioner= of a canned '
        'estimator), and saved as 2.15 saved them. Construct the strategy '
        'without variable_partitioner and partition in the model_fn.')


def check_hooks(hooks, global_step):
  """Raises for a hook that would wait for steps only it can let start.

  Hooks run on the chief, which schedules every step; a 2.15 worker's
  `GlobalStepWaiterHook` waited for the chief's first steps instead.

  Raises:
    ValueError: A `GlobalStepWaiterHook` waits for a step not reached yet.
  """
  for hook in hooks:
    if not isinstance(hook, tf.compat.v1.train.GlobalStepWaiterHook):
      continue
    wait_until = tf_internals.wait_until_step(hook)
    if wait_until > global_step:
      raise ValueError(
          f'GlobalStepWaiterHook(wait_until_step={wait_until}) would wait '
          f'forever at global step {global_step}: in parameter-server '
          'training the hooks run on the chief, which schedules every step '
          '(2.15 let a worker wait for the chief\'s first steps with it). '
          'Remove the hook; workers start together here.')


def coordinator(strategy):
  """The strategy's `ClusterCoordinator` (one per strategy)."""
  return tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)


def create_variable(strategy, next_creator, **kwargs):
  """Creates a variable on the next ps task in turn, or where it was asked.

  An optimizer creates its slots (and Adam its beta powers) under
  `colocate_with(variable)`, which TF1's slot creator and Keras optimizers
  enter eagerly, as a device scope naming the variable's ps task. Such a
  variable goes there without taking a turn, as under 2.15's
  `replica_device_setter`, whose device function TF1 skipped inside
  `colocate_with` and merged with an explicit `/job:ps` device. The update
  op (e.g. `ResourceApplyFtrl`) needs a variable and its slots on one task.
  """
  requested = tf_internals.current_device_name()
  if not requested or tf.DeviceSpec.from_string(requested).job != 'ps':
    return tf_internals.ps_create_variable(strategy, next_creator, **kwargs)
  create = tf_internals.ps_variable_creator(strategy, next_creator, **kwargs)
  with tf.device(requested):
    return create(**kwargs)


def num_workers(strategy):
  return tf_internals.ps_num_workers(strategy)


def per_worker_iterator(strategy, dataset_fn):
  """An iterator whose `next` on a worker reads that worker's own dataset.

  TensorFlow's `create_per_worker_dataset` traces one dataset function for
  all workers, so each would see the same input context. A 2.15 worker
  built its own input pipeline, so here the function is traced once per
  worker, with that worker's `InputContext` (its index as a Python int, as
  input_fns use it in `shard` or to pick files).

  Args:
    strategy: The parameter-server strategy.
    dataset_fn: `input_context -> tf.data.Dataset`.

  Returns:
    The per-worker iterator to pass to scheduled functions.
  """
  workers = tf_internals.coordinator_workers(coordinator(strategy))
  iterators = []
  for index, worker in enumerate(workers):
    input_context = tf.distribute.InputContext(
        num_input_pipelines=len(workers), input_pipeline_id=index)
    make_dataset = tf.function(
        functools.partial(dataset_fn, input_context)).get_concrete_function()
    iterator = worker.create_resource(lambda fn=make_dataset: iter(fn()))
    # Scheduled functions are traced against this spec.
    tf_internals.set_iterator_spec(iterator, strategy,
                                   make_dataset.structured_outputs)
    iterators.append(iterator)
  return tf_internals.PerWorkerDistributedIterator(tuple(iterators))


def schedule(strategy, fn, args):
  """Schedules `fn(*args)` on a free worker; returns its `RemoteValue`.

  Raises:
    ParameterServerError: An earlier call failed for want of a ps task.
  """
  with translated_errors():
    return coordinator(strategy).schedule(fn, args=args)


def fetch(remote_value):
  """A scheduled call's result, or None if its worker was lost with it.

  The coordinator reruns a call whose worker fails while running it, but
  a finished call's result stays on the worker until fetched: a worker
  lost in between takes it along (measured: a worker killed mid-job
  surfaced here as `UnavailableError ... RecvTensor`). Its steps' updates
  are on the ps tasks already; the caller decides what else to redo.

  Raises:
    ParameterServerError: A ps task or the chief's link to the cluster failed.
  """
  try:
    with translated_errors():
      return remote_value.fetch()
  except _WorkerLost as e:
    logging.warning('A worker was lost with the result of a finished call; '
                    'training goes on without it: %s', e)
    return None


# A flag each worker's server holds once the leader's training is over.
# Workers poll their own server for it: they only serve, so nothing else
# tells them that the chief's input ended (2.15's workers trained until
# their own input ended) or that the chief's model_dir, which may not be
# theirs, reached max_steps.
_TRAINING_OVER = 'tfcompat_estimator_training_over'


def announce_training_over(cluster_spec):
  """Sets the training-over flag on every worker's server.

  Called by the task that led training, once its `train()` returned. A
  worker that is gone is skipped: the job is over either way.
  """
  with engine_scope.scope():
    for index in range(len(cluster_spec.job_tasks('worker'))):
      try:
        with tf.device(f'/job:worker/replica:0/task:{index}/device:CPU:0'):
          tf.raw_ops.AssignVariableOp(
              resource=_training_over_flag(), value=tf.constant(True))
      except tf.errors.OpError as e:  # e.g. a lost worker's unknown device
        logging.warning('Worker %d did not take the end of training (%s).',
                        index, _first_cause(e))


def training_over(server, task_id):
  """Whether the leader announced the end of training to this worker.

  Args:
    server: This worker's `tf.distribute.Server`.
    task_id: Its index in the cluster's `worker` job.
  """
  graph = tf.Graph()
  with graph.as_default(), tf.device(f'/job:worker/task:{task_id}'):
    announced = tf.raw_ops.VarIsInitializedOp(resource=_training_over_flag())
  # Filtered to this task, the session does not wait for the other tasks.
  config = tf.compat.v1.ConfigProto(
      device_filters=[f'/job:worker/task:{task_id}'])
  with tf.compat.v1.Session(server.target, graph=graph, config=config) as sess:
    return bool(sess.run(announced))


def _training_over_flag():
  return tf.raw_ops.VarHandleOp(dtype=tf.bool, shape=[],
                                shared_name=_TRAINING_OVER)


class _WorkerLost(Exception):
  """A worker failed; the coordinator goes on with the others."""


@contextlib.contextmanager
def translated_errors():
  """Turns the coordinator's cluster errors into a `ParameterServerError`."""
  try:
    yield
  except _LOST_ERRORS as e:
    if tf_internals.is_worker_failure(e):
      raise _WorkerLost(str(e).splitlines()[0]) from e
    ps_tasks = sorted(set(re.findall(r'/job:ps/replica:\d+/task:\d+', str(e))))
    lost = (f'ps task {", ".join(ps_tasks)}' if ps_tasks else
            'a ps task or the link to the cluster')
    raise ParameterServerError(
        f'Parameter-server training stopped: {lost} failed '
        f'({type(e).__name__}: {_first_cause(e)}). Restart the job with '
        'every ps task up; it resumes from the latest checkpoint in '
        'model_dir.') from e


def _first_cause(error):
  """The first line of `error` that says what happened.

  TF heads a remote failure with 'Graph execution error:' and 'N root
  error(s) found.'; the first root error follows as '(0) UNAVAILABLE: ...'.
  """
  for line in (error.message or str(error)).splitlines():
    line = line.strip()
    if not line or re.match(r'Graph execution error:$|\d+ root error', line):
      continue
    return re.sub(r'^\(\d+\) (\w+):\s*', r'\1: ', line)
  return type(error).__name__
