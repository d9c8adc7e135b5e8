"""What a `TPUEstimator` run knows about where and how it runs.

2.15 kept this in an `_InternalTPUContext` (the estimator's `_ctx`): the
configuration, the three batch sizes and `use_tpu`, read per mode through
`with_mode(mode)`. It answers the questions the estimator asks before a run:
does this mode run on CPU, which batch size do `input_fn` and `model_fn` get,
and on which job would the TPU computation be placed. Without a TPU, a run on
CPU/GPU is one replica on one host, so the batch sizes are the global ones.

`TPUContext` is the object 2.15 put in `params['context']` when a run was on
a TPU. A CPU/GPU run never gets one (as in 2.15); programs that name the
class (for `isinstance` checks or a default) find it here.
"""

import contextlib
import copy

from tensorflow.python.platform import tf_logging as logging
from tensorflow.python.tpu import tpu_system_metadata

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.tpu import tpu_config as tpu_config_lib

ModeKeys = model_fn_lib.ModeKeys
_BATCH_NAMES = {ModeKeys.TRAIN: 'train', ModeKeys.EVAL: 'eval',
                ModeKeys.PREDICT: 'predict'}


class TPUContext:
  """The run's configuration, as `params['context']` showed it on a TPU.

  Args:
    internal_ctx: The estimator's `_InternalTPUContext`.
    input_device: The device the `input_fn` is called on.
    invocation_index: Which of the `input_fn` calls this is (0-based).
    call_from_input_fn: Whether the context is given to the `input_fn`
      (True) or the `model_fn`.
    host_id: The index of the host calling the `input_fn`.
  """

  def __init__(self, internal_ctx, input_device=None, invocation_index=None,
               call_from_input_fn=True, host_id=None):
    self._internal_ctx = internal_ctx
    self._input_device = input_device
    self._invocation_index = invocation_index
    self._call_from_input_fn = call_from_input_fn
    self._host_id = host_id

  def _require_caller(self, input_fn):
    if self._call_from_input_fn != input_fn:
      caller = 'model_fn' if input_fn else 'input_fn'
      raise RuntimeError(
          f'This TPUContext instance must not be called from {caller}.')

  def current_input_fn_deployment(self):
    """This `input_fn` call's place among all of them (input_fn only).

    Returns:
      `(input device, invocation index, total invocations, replicas fed by
      this invocation)`; a CPU/GPU run calls the input_fn once for its one
      replica.

    Raises:
      RuntimeError: Called from the model_fn's context.
    """
    self._require_caller(input_fn=True)
    return (self._input_device, self._invocation_index, 1,
            self._internal_ctx.num_replicas)

  @property
  def num_replicas(self):
    """The number of model replicas (1 on CPU/GPU)."""
    return self._internal_ctx.num_replicas

  @property
  def num_hosts(self):
    """The number of hosts feeding the replicas (1 on CPU/GPU)."""
    return self._internal_ctx.num_hosts

  @property
  def current_host(self):
    """The index of the host calling the `input_fn` (input_fn only)."""
    self._require_caller(input_fn=True)
    return self._host_id

  @property
  def num_of_replicas_per_host(self):
    """Replicas per host (1 on CPU/GPU)."""
    return self._internal_ctx.num_of_replicas_per_host

  @property
  def device_assignment(self):
    """The TPU device assignment (model_fn only); there is none here."""
    self._require_caller(input_fn=False)
    return self._internal_ctx.device_assignment

  def device_for_replica(self, replica_id):
    """The `(host device, device ordinal)` of a replica."""
    return self._internal_ctx.device_for_replica(replica_id)

  @property
  def tpu_host_placement_function(self):
    """A function from a host index to that host's device."""
    return self._internal_ctx.tpu_host_placement_function


class _InternalTPUContext:
  """The estimator's settings, read per mode (2.15's `TPUEstimator._ctx`).

  Use as `with ctx.with_mode(mode) as mode_ctx: ...`: the mode-dependent
  answers (batch sizes, `is_running_on_cpu`, `master_job`) need a mode.

  Args:
    config: The `tpu_config.RunConfig`.
    train_batch_size, eval_batch_size, predict_batch_size: Global batch
      sizes, or None.
    use_tpu: The estimator's `use_tpu`.
    eval_on_tpu: Whether evaluation would run on the TPU with `use_tpu`.
    embedding_config_spec: The estimator's `EmbeddingConfigSpec`, or None.
  """

  def __init__(self, config, train_batch_size, eval_batch_size,
               predict_batch_size, use_tpu, eval_on_tpu=True,
               embedding_config_spec=None):
    self._config = config
    self._batch_sizes = {ModeKeys.TRAIN: train_batch_size,
                         ModeKeys.EVAL: eval_batch_size,
                         ModeKeys.PREDICT: predict_batch_size}
    self._use_tpu = use_tpu
    logging.info('_TPUContext: eval_on_tpu %s', eval_on_tpu)
    if not use_tpu and eval_on_tpu:
      logging.warning('eval_on_tpu ignored because use_tpu is False.')
    self._eval_on_tpu = eval_on_tpu
    self._embedding_config_spec = embedding_config_spec
    self._mode = None

  @contextlib.contextmanager
  def with_mode(self, mode):
    """Yields a copy of this context that answers for `mode`."""
    ctx = copy.copy(self)
    ctx._mode = mode  # pylint: disable=protected-access
    yield ctx

  @property
  def mode(self):
    return self._assert_mode()

  def _assert_mode(self):
    if self._mode is None:
      raise RuntimeError(
          '`mode` needs to be set via contextmanager `with_mode`.')
    return self._mode

  @property
  def config(self):
    return self._config

  @property
  def embedding_config_spec(self):
    return self._embedding_config_spec

  def is_running_on_cpu(self, is_export_mode=False):
    """Whether this mode's `input_fn` and `model_fn` run on CPU/GPU.

    True unless `use_tpu` asks for a TPU: exports and (with
    `eval_on_tpu=False`) evaluation run on CPU even then.

    Args:
      is_export_mode: Whether the PREDICT graph is built for an export.

    Returns:
      bool.
    """
    mode = self._assert_mode()
    return (not self._use_tpu or is_export_mode or
            (mode == ModeKeys.EVAL and not self._eval_on_tpu))

  def is_input_slice_broadcast_to_all_cores(self):
    """Whether this mode's input_fn would run once and be sliced to all cores.

    That is `eval_training_input_configuration=SLICED`, which applies to
    evaluation and prediction only (2.15's meaning of the name).
    """
    mode = self._assert_mode()
    return (mode != ModeKeys.TRAIN and
            self._config.tpu_config.eval_training_input_configuration is
            tpu_config_lib.InputPipelineConfig.SLICED)

  @property
  def global_batch_size(self):
    """This mode's batch size as given to the estimator (or None)."""
    return self._batch_sizes.get(self._assert_mode())

  @property
  def batch_size_for_input_fn(self):
    """`params['batch_size']` for the `input_fn`: the whole batch here."""
    return self.global_batch_size

  @property
  def batch_size_for_model_fn(self):
    """`params['batch_size']` for the `model_fn`: the whole batch here."""
    return self.global_batch_size

  # One replica on one host: what a CPU/GPU run is.
  num_replicas = 1
  num_hosts = 1
  num_of_replicas_per_host = 1

  @property
  def device_assignment(self):
    raise RuntimeError(
        'There is no TPU device assignment: tfcompat_estimator runs '
        'TPUEstimator programs on CPU and GPU only.')

  def device_for_replica(self, replica_id):
    """The host device and ordinal of the one replica."""
    if replica_id != 0:
      raise ValueError(f'replica_id {replica_id} out of range: a CPU/GPU run '
                       'has one replica (0).')
    return '/device:CPU:0', 0

  def tpu_host_placement_function(self, host_id=0):
    """The device of host `host_id` (the one host, 0)."""
    if host_id != 0:
      raise ValueError(f'host_id {host_id} out of range: a CPU/GPU run has '
                       'one host (0).')
    return '/device:CPU:0'

  def tpu_system(self):
    """The TPU cores of this process's machine, checked against the config.

    A TPU run would need them; 2.15 looked them up first and checked the
    configuration against them, and those checks are kept. A remote master
    is not contacted (an unreachable one would stall for minutes).

    Returns:
      TensorFlow's `TPUSystemMetadata` (`num_cores` 0 without a TPU), or
      None for a remote master.

    Raises:
      ValueError: The configuration does not fit the TPU system found.
    """
    mode = self._assert_mode()
    master = (self._config.evaluation_master if mode == ModeKeys.EVAL
              else self._config.master)
    if master not in ('', 'local'):
      return None
    system = tpu_system_metadata._query_tpu_system_metadata(  # pylint: disable=protected-access
        master, cluster_def=None,
        query_topology=bool(self._config.tpu_config.num_cores_per_replica))
    if system.num_cores:
      _check_against_tpu_system(self._config.tpu_config, mode, master,
                                self.global_batch_size, system)
    return system

  @property
  def master_job(self):
    """The job a TPU computation would be placed on, or None (local).

    `TPUConfig.tpu_job_name` if set; otherwise inferred from the mode's
    master address and the session config's cluster, by TensorFlow's rule.

    Raises:
      ValueError: The job name cannot be inferred.
    """
    if self._config.tpu_config.tpu_job_name:
      return self._config.tpu_config.tpu_job_name
    mode = self._assert_mode()
    master = (self._config.evaluation_master if mode == ModeKeys.EVAL
              else self._config.master)
    session_config = self._config.session_config
    cluster_def = session_config.cluster_def if session_config else None
    try:
      return tpu_system_metadata.master_job(master, cluster_def)
    except ValueError as e:
      raise ValueError(f'{e} Please specify a tpu_job_name as part of your '
                       'TPUConfig.') from e


def _check_against_tpu_system(tpu_config, mode, master, batch_size, system):
  """2.15's checks of a TPU run's configuration, with its messages."""
  per_replica = tpu_config.num_cores_per_replica
  replicas = system.num_cores // (per_replica or 1)
  pipeline = tpu_config.per_host_input_for_training
  broadcast = pipeline == tpu_config_lib.InputPipelineConfig.BROADCAST
  per_host_v2 = pipeline == tpu_config_lib.InputPipelineConfig.PER_HOST_V2
  if tpu_config.num_shards and tpu_config.num_shards != replicas:
    raise ValueError(
        'TPUConfig.num_shards is not set correctly. According to TPU system '
        f'metadata for Tensorflow master ({master}): num_replicas should be '
        f'({replicas}), got '
        f'({tpu_config.num_shards}). For non-model-parallelism, num_replicas '
        'should be the total num of TPU cores in the system. For '
        'model-parallelism, the total number of TPU cores should be '
        'num_cores_per_replica * num_replicas. Please set it accordingly or '
        'leave it as `None`')
  if per_replica and not per_host_v2 and (
      per_replica > system.num_of_cores_per_host):
    raise ValueError(
        'Except the PER_HOST_V2 mode, the num of cores required by model '
        'parallelism specified by TPUConfig.num_cores_per_replica should be '
        'less than or equal to the num_cores_per_host. num_cores_per_replica: '
        f'{per_replica}, num_cores_per_host: {system.num_of_cores_per_host}')
  if batch_size is not None and batch_size % replicas and not broadcast:
    raise ValueError(f'{_BATCH_NAMES[mode]} batch size {batch_size} must be '
                     f'divisible by number of replicas {replicas}')


def _get_tpu_context(config, train_batch_size, eval_batch_size,
                     predict_batch_size, use_tpu, eval_on_tpu,
                     embedding_config_spec):
  """The estimator's context; 2.15's one-shard warning and check first."""
  if (config.tpu_config.num_shards == 1 and
      config.tpu_config.num_cores_per_replica is None):
    if embedding_config_spec is not None:
      raise ValueError('Setting TPUConfig.num_shards==1 is unsupported '
                       'when embedding_config_spec is not None.')
    logging.warning(
        'Setting TPUConfig.num_shards==1 is an unsupported behavior. '
        'Please fix as soon as possible (leaving num_shards as None.)')
  return _InternalTPUContext(config, train_batch_size, eval_batch_size,
                             predict_batch_size, use_tpu, eval_on_tpu,
                             embedding_config_spec)
