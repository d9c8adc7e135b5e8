"""Training under a `tf.distribute` strategy (`RunConfig.train_distribute`).

The model_fn graph is still captured once; inside the capture each local
replica gets its own copy of the model_fn (`call_for_each_replica`), variables
are the strategy's mirrored variables, and v1 / Keras optimizers all-reduce the
gradients through the strategy's cross-device ops, as they did in 2.15's
graph mode. TensorFlow does the communication: `MirroredStrategy` across local
devices, `MultiWorkerMirroredStrategy` across the processes of a `TF_CONFIG`
cluster.

Each replica takes its own batch from the input_fn (2.15's convention: the
input_fn batch size is per replica); with several local replicas, consecutive
dataset elements go to consecutive replicas.
"""

import contextlib
import functools
import threading

import tensorflow as tf

from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator import run_config as run_config_lib

_v1 = tf.compat.v1
# The errors a collective raises when another worker of the job is gone.
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.CancelledError, tf.errors.AbortedError)


class WorkerUnavailableError(RuntimeError):
  """Multi-worker training lost another worker of its cluster."""


def strategy_for(mode, config):
  """The strategy a `mode` runs under, or None.

  Only training is distributed; evaluation and prediction run on one device
  (their results do not depend on it).
  """
  if mode != 'train':
    if config.eval_distribute is not None:
      logging.log_first_n(
          logging.WARN, 'RunConfig.eval_distribute is not used: %s runs '
          'on one device (its results do not depend on it).', 1, mode)
    return None
  strategy = config.train_distribute
  if strategy is None:
    if parameter_servers.has_ps_tasks(config):
      return parameter_servers.strategy_for_cluster(config, config.task_type,
                                                    config.task_id)
    return None
  if type(strategy).__name__.startswith('TPUStrategy'):
    raise ValueError('TPUStrategy is not supported by tfcompat_estimator; '
                     'use MirroredStrategy or MultiWorkerMirroredStrategy.')
  if parameter_servers.is_strategy(strategy):
    parameter_servers.check_strategy(strategy)
    return strategy
  if _is_parameter_server(strategy):
    # The v1 class builds graphs for between-graph replicas; the same job
    # runs on TF2's strategy, connected from the TF_CONFIG cluster. The
    # RunConfig kept local roles (as in 2.15): TF_CONFIG names the task.
    if not parameter_servers.has_ps_tasks(config):
      raise ValueError(
          f'{type(strategy).__name__} needs a TF_CONFIG cluster with "ps" '
          'tasks; this RunConfig has none.')
    return parameter_servers.strategy_for_cluster(
        config, *run_config_lib.strategy_cluster_task())
  # A multi-worker strategy's, or a one-task cluster's (devices by job).
  tf_internals.start_collective_server(strategy)
  tf_internals.add_collective_ordering_tokens(strategy)
  return strategy


def _is_parameter_server(strategy):
  return 'ParameterServer' in type(strategy).__name__


def local_replicas(strategy):
  """How many copies of the model_fn one capture builds (one per device)."""
  if not strategy or parameter_servers.is_strategy(strategy):
    return 1  # parameter servers: one model, run by each worker in turn
  return len(strategy.extended.worker_devices)


def replicates(strategy):
  """Whether the model_fn runs once per replica (see `replicated_spec`)."""
  return bool(strategy) and not parameter_servers.is_strategy(strategy)


def is_multi_worker(strategy):
  """Whether training runs in step with other workers (collectives)."""
  return replicates(strategy) and tf_internals.in_multi_worker_mode(strategy)


def steps_one_by_one(strategy):
  """Whether each training step must be its own function call.

  A collective inside a compiled multi-step loop is matched across workers
  by its loop iteration as well as its key, so workers would have to split
  their steps into identical loops; the chief's checkpoint and summary
  schedule makes them differ. Separate calls always match.
  """
  return is_multi_worker(strategy)


def is_chief(config, strategy):
  """Whether this process saves checkpoints and summaries.

  Under a multi-worker strategy the RunConfig keeps local roles (as in 2.15,
  the strategy owns the cluster), so the strategy decides.
  """
  if is_multi_worker(strategy):
    return strategy.extended.should_checkpoint
  return config.is_chief


def input_context(strategy):
  """The `tf.distribute.InputContext` an input_fn may ask for, or None."""
  if strategy is None:
    return None
  if parameter_servers.is_strategy(strategy):
    # What the chief reads its element spec with; each worker gets its own.
    return tf.distribute.InputContext(
        num_input_pipelines=parameter_servers.num_workers(strategy))
  resolver = getattr(strategy, 'cluster_resolver', None)
  workers, worker_id = 1, 0
  if is_multi_worker(strategy) and resolver is not None:
    spec = resolver.cluster_spec().as_dict()
    workers = len(spec.get('chief', [])) + len(spec.get('worker', []))
    worker_id = resolver.task_id + (len(spec.get('chief', []))
                                    if resolver.task_type == 'worker' else 0)
  return tf.distribute.InputContext(
      num_input_pipelines=workers, input_pipeline_id=worker_id,
      num_replicas_in_sync=strategy.num_replicas_in_sync)


def group_for_replicas(dataset, replicas):
  """A dataset whose elements are tuples of `replicas` consecutive elements."""
  if replicas == 1:
    return dataset
  return tf.data.Dataset.zip(tuple(dataset.shard(replicas, i)
                                   for i in range(replicas)))


@contextlib.contextmanager
def capture_scope(strategy):
  """The context a model graph is captured in for `strategy`.

  Besides the strategy scope: v1 optimizers scale the loss by the replica
  count (what 2.15 switched on for Estimators), and collectives get instance
  keys fixed at trace time. TF's default, keys drawn at each call, is a
  deferred capture that pruning a wrapped graph cannot carry.
  """
  if strategy is None:
    yield
    return
  if parameter_servers.is_strategy(strategy):
    # Only the variables go to the ps tasks; the graph stays the one model
    # a 2.15 worker built, its optimizer updating them directly.
    with tf.variable_creator_scope(functools.partial(
        parameter_servers.create_variable, strategy)):
      yield
    return
  with tf_internals.collective_keys_fixed_at_trace_time(strategy):
    with strategy.scope(), tf_internals.scale_loss_for_estimator(strategy):
      yield


def replicated_spec(strategy, call_model_fn, replica_batches):
  """Runs `call_model_fn(features, labels)` once per local replica.

  Returns one TRAIN `EstimatorSpec`: the loss reduced over the local replicas
  (mean when the optimizer scaled it per replica, else sum, as 2.15 reported
  it), the replicas' train ops grouped, hooks and scaffold of the first.
  Reducing only locally keeps the reported loss free of cross-worker
  collectives, so workers may fetch it on different schedules.
  """
  specs = {}
  lock = threading.Lock()

  def per_replica(features, labels):
    spec = call_model_fn(features, labels)
    if spec.train_op is None or spec.loss is None:
      raise ValueError('Under train_distribute, model_fn must return a loss '
                       'and a train_op in TRAIN mode.')
    replica = tf.get_static_value(
        tf.distribute.get_replica_context().replica_id_in_sync_group)
    with lock:
      specs[int(replica)] = spec
    return spec.loss, getattr(spec.train_op, 'op', spec.train_op)

  batches = iter(replica_batches)
  args = tf_internals.distribute_values_from_function(
      strategy, lambda _: next(batches))
  losses, train_ops = strategy.extended.call_for_each_replica(
      per_replica, args=args)
  first = specs[min(specs)]
  local_losses = [tf.cast(l, tf.float32)
                  for l in strategy.experimental_local_results(losses)]
  loss = tf.add_n(local_losses)
  graph = _v1.get_default_graph()
  if tf_internals.is_loss_scaled_by_optimizer(graph):
    loss = loss / len(local_losses)
  return first._replace(loss=loss, train_op=strategy.group(train_ops))


def reraise_peer_failure(strategy, error):
  """Turns a collective's failure into an error naming the lost peer."""
  if is_multi_worker(strategy) and isinstance(error, _PEER_ERRORS):
    raise WorkerUnavailableError(
        'Multi-worker training stopped: another worker of the TF_CONFIG '
        f'cluster is unreachable or failed ({type(error).__name__}: '
        f'{error.message.splitlines()[0] if error.message else error}). '
        'Restart the job; it resumes from the latest checkpoint.') from error
  raise error


def components(variable):
  """The per-device variables behind a (possibly mirrored) variable."""
  return tuple(getattr(variable, 'values', None) or (variable,))

