"""`RunConfig`: where and how an Estimator runs.

A `RunConfig` bundles two kinds of settings:

* what the caller chose (model directory, checkpoint and summary cadence,
  distribution strategies, ...), validated as tf.estimator 2.15 did, so legacy
  code that relied on a given error type still sees it;
* what the cluster says about this process, read from the JSON in the
  `TF_CONFIG` environment variable (task type and index, master address,
  replica counts, chief-ness).

Both are read-only properties; `replace()` derives a changed copy.
"""

import copy
import inspect
import json
import os

import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from tfcompat_estimator.platform.tf_internals import tf_logging as logging

# Tells "not passed" apart from an explicit None for the checkpoint cadence:
# passing neither means "every 600 s"; an explicit None for both disables it.
_USE_DEFAULT = object()
_DEFAULT_SAVE_CHECKPOINTS_SECS = 600

# Messages begin with 2.15's words, which programs and tests match on.
_SAVE_CKPT_ERR = (
    '`save_checkpoints_steps` and `save_checkpoints_secs` cannot be both set. '
    'Pass only one of them (or set the other to None).')

# Keys `replace()` accepts: the 2.15 set plus our `steps_per_loop`.
_REPLACEABLE = (
    'model_dir', 'tf_random_seed', 'save_summary_steps',
    'save_checkpoints_steps', 'save_checkpoints_secs', 'session_config',
    'keep_checkpoint_max', 'keep_checkpoint_every_n_hours',
    'log_step_count_steps', 'train_distribute', 'device_fn', 'protocol',
    'eval_distribute', 'experimental_distribute',
    'experimental_max_worker_delay_secs', 'session_creation_timeout_secs',
    'checkpoint_save_graph_def', 'steps_per_loop')

_TF_CONFIG = 'TF_CONFIG'
# How a non-object TF_CONFIG value is named in errors.
_JSON_TYPE_NAMES = {list: 'an array', str: 'a string', int: 'a number',
                    float: 'a number', bool: 'a boolean', type(None): 'null'}
_LOCAL_MASTER = ''
_GRPC_SCHEME = 'grpc://'

# Values of the private `_distribute_coordinator_mode` attribute: the strings
# TF's distribute coordinator uses for these modes.
_STANDALONE_CLIENT = 'standalone_client'
_INDEPENDENT_WORKER = 'independent_worker'


class TaskType:
  """Names of the jobs a `TF_CONFIG` cluster may contain.

  `RunConfig.task_type` is one of these (`worker` for a local run).
  """
  MASTER = 'master'
  PS = 'ps'
  WORKER = 'worker'
  CHIEF = 'chief'
  EVALUATOR = 'evaluator'


def path_to_str(path):
  """Returns `path` as a `str` if it is `os.PathLike`, else unchanged.

  Lets callers pass `pathlib.Path` model directories while everything
  downstream (checkpoint paths, summaries) deals only with strings.
  """
  if isinstance(path, os.PathLike):
    return os.fsdecode(os.fspath(path))
  return path


def _session_config(device_filters=None):
  """Builds the ConfigProto Estimator sessions used by default.

  Soft placement is on and Grappler's meta optimizer runs a single pass,
  which kept start-up fast for the (usually large) Estimator graphs.
  """
  rewrite = rewriter_config_pb2.RewriterConfig(
      meta_optimizer_iterations=rewriter_config_pb2.RewriterConfig.ONE)
  return tf.compat.v1.ConfigProto(
      allow_soft_placement=True,
      graph_options=tf.compat.v1.GraphOptions(rewrite_options=rewrite),
      device_filters=device_filters)


def get_default_session_config():
  """Returns the default `tf.compat.v1.ConfigProto` for Estimator sessions.

  Soft placement is on and Grappler's meta optimizer runs one pass, as in
  2.15. Cluster tasks get device filters on top (see `RunConfig`).
  """
  return _session_config()


def _distributed_session_config(task_type, task_id):
  """Returns the between-graph default ConfigProto for one cluster task.

  Device filters make each task talk only to the parameter servers (and a
  ps to the training jobs), so a worker never waits on its peers. Tasks
  outside the training cluster, like the evaluator, get None.
  """
  filters = {
      TaskType.MASTER: ['/job:ps', '/job:master'],
      TaskType.CHIEF: ['/job:ps', '/job:chief'],
      TaskType.WORKER: ['/job:ps', f'/job:worker/task:{task_id}'],
      TaskType.PS: ['/job:ps', '/job:worker', '/job:chief', '/job:master'],
  }.get(task_type)
  return None if filters is None else _session_config(filters)


# TF_CONFIG parsing ----------------------------------------------------------


def _read_tf_config():
  """Returns the `TF_CONFIG` environment variable parsed as a dict.

  An unset variable means a local, single-process run. A set but empty or
  malformed one is an error: silently training locally because the cluster
  definition is broken would waste a whole job.
  """
  raw = os.environ.get(_TF_CONFIG, '{}')
  try:
    tf_config = json.loads(raw)
  except json.JSONDecodeError as e:
    # Same type as 2.15 raised (a ValueError), with the variable named.
    raise json.JSONDecodeError(
        f'The {_TF_CONFIG} environment variable is not valid JSON '
        f'({e.msg}); its value is {raw!r}', e.doc, e.pos) from e
  if not isinstance(tf_config, dict):
    raise ValueError(
        f'The {_TF_CONFIG} environment variable must hold a JSON object, '
        f'not {_JSON_TYPE_NAMES.get(type(tf_config), "another value")}; '
        f'its value is {raw!r}')
  return tf_config


def _cluster_spec_from(tf_config):
  """Builds the `tf.train.ClusterSpec` of `TF_CONFIG["cluster"]`."""
  try:
    return tf.train.ClusterSpec(tf_config.get('cluster', {}))
  except (TypeError, ValueError) as e:
    raise type(e)(f'{_TF_CONFIG}["cluster"] is malformed: {e}') from e


def _task_env(tf_config):
  task = tf_config.get('task', {})
  if not isinstance(task, dict):
    raise TypeError(f'{_TF_CONFIG}["task"] must be a JSON object with '
                    f'"type" and "index", got {task!r}.')
  return task


def _task_index(value):
  """Converts a TF_CONFIG task index with `int()`, as 2.15 did."""
  try:
    return int(value)
  except (TypeError, ValueError) as e:
    raise type(e)(f'{_TF_CONFIG}["task"]["index"] must be an integer, '
                  f'got {value!r}.') from e


def _validate_service(service):
  if service is not None and not isinstance(service, dict):
    raise TypeError(f'If "service" is set in {_TF_CONFIG}, it must be a '
                    f'dict. Given {type(service).__name__}.')
  return service


def _validate_task(cluster_spec, task_env, chief_type):
  """Checks the task in `task_env` against the cluster; returns (type, index).

  `chief_type` is the job of the single coordinating task: `chief`, or
  `master` in legacy clusters, or None when no such job is required. The
  evaluator runs outside the training cluster, so any non-negative index is
  accepted for it.
  """
  jobs = cluster_spec.jobs
  if chief_type is not None and (chief_type not in jobs or
                                 cluster_spec.num_tasks(chief_type) != 1):
    counts = {job: cluster_spec.num_tasks(job) for job in sorted(jobs)}
    problem = (f'If "cluster" is set in {_TF_CONFIG}, it must have one '
               f'"{chief_type}" node.' if chief_type not in jobs else
               f'The "cluster" in {_TF_CONFIG} must have only one '
               f'"{chief_type}" node.')
    raise ValueError(f'{problem} Its jobs have these numbers of tasks: '
                     f'{counts}.')

  task_type = task_env.get('type')
  task_id = task_env.get('index')
  if not task_type:
    raise ValueError(
        f'If "cluster" is set in {_TF_CONFIG}, task type must be set: one '
        f'of {sorted(jobs)} or "{TaskType.EVALUATOR}".')
  if task_id is None:
    raise ValueError(
        f'If "cluster" is set in {_TF_CONFIG}, task index must be set.')
  task_id = _task_index(task_id)
  if task_id < 0:
    raise ValueError(f'Task index must be non-negative number. '
                     f'{_TF_CONFIG}["task"]["index"] is {task_id}.')

  if task_type == TaskType.EVALUATOR:
    return task_type, task_id
  if task_type not in jobs:
    raise ValueError(
        f'{task_type} is not a valid task_type in the cluster_spec: the '
        f'jobs of {_TF_CONFIG}["cluster"] are {sorted(jobs)}.')
  num_addresses = len(cluster_spec.job_tasks(task_type))
  if not 0 <= task_id < num_addresses:
    raise ValueError(
        f'{task_id} is not a valid task_id for task_type {task_type} in '
        f'the cluster_spec: job {task_type!r} of {_TF_CONFIG}["cluster"] '
        f'has {num_addresses} task(s).')
  return task_type, task_id


def strategy_cluster_task():
  """`(task_type, task_id)` of this process in a strategy-owned cluster.

  When a training strategy owns the `TF_CONFIG` cluster, the RunConfig keeps
  local roles (as in 2.15), so the task this process plays is read here. A
  `chief` job is optional: without one, worker 0 leads.
  """
  tf_config = _read_tf_config()
  cluster_spec = _cluster_spec_from(tf_config)
  chief_type = TaskType.CHIEF if TaskType.CHIEF in cluster_spec.jobs else None
  return _validate_task(cluster_spec, _task_env(tf_config), chief_type)


def _session_master(cluster_spec, task_type, task_id, tf_config):
  """Returns the master address for a task of the training cluster.

  An explicit `session_master` wins; a one-task cluster runs in-process
  (''); otherwise each task is its own master (between-graph replication).
  """
  if 'session_master' in tf_config:
    return tf_config['session_master']
  jobs = cluster_spec.jobs
  if len(jobs) == 1 and len(cluster_spec.job_tasks(jobs[0])) == 1:
    return _LOCAL_MASTER
  return _GRPC_SCHEME + cluster_spec.job_tasks(task_type)[task_id]


def _eval_session_master(task_type, tf_config):
  if task_type == TaskType.EVALUATOR:
    return tf_config.get('eval_session_master', _LOCAL_MASTER)
  return _LOCAL_MASTER


def _count_tasks(cluster_spec, *job_names):
  return sum(cluster_spec.num_tasks(job) for job in job_names
             if job in cluster_spec.jobs)


def _global_id(cluster_spec, task_type, task_id, chief_type):
  """Numbers the cluster's tasks: chief, other jobs by name, then ps.

  These are 2.15's ids; legacy code used them to shard input.
  """
  others = sorted(j for j in cluster_spec.jobs
                  if j not in (chief_type, TaskType.PS))
  order = [chief_type] + others
  if TaskType.PS in cluster_spec.jobs:
    order.append(TaskType.PS)
  offset = 0
  for job in order:
    if job == task_type:
      return offset + task_id
    offset += len(cluster_spec.job_tasks(job))
  raise AssertionError(f'task type {task_type!r} is not in {cluster_spec}')


def _resolve_model_dir(model_dir, tf_config):
  """Picks the model directory from the argument and `TF_CONFIG["model_dir"]`.

  Both may be set only if they agree, so one process cannot silently
  override a cluster-wide setting.
  """
  if model_dir == '':
    raise ValueError('model_dir should be non-empty: a path, or None for '
                     'a temporary directory.')
  from_env = tf_config.get('model_dir')
  if from_env == '':
    raise ValueError(f'model_dir in {_TF_CONFIG} should be non-empty if '
                     'set.')
  if from_env:
    if model_dir and model_dir != from_env:
      raise ValueError(
          '`model_dir` provided in RunConfig construct, if set, must '
          f'have the same value as the model_dir in {_TF_CONFIG}. '
          f'model_dir: {model_dir!r}, {_TF_CONFIG}["model_dir"]: '
          f'{from_env!r}; pass the same directory or only one of them.')
    logging.info('Using model_dir in %s: %s', _TF_CONFIG, from_env)
  return model_dir or from_env


# Validation of user settings ------------------------------------------------


def _check_compare(name, value, cond, requirement):
  """Raises ValueError if `cond(value)` is false, TypeError if incomparable.

  2.15 only compared values, so any number (even a float or a bool) passes
  and a non-number fails with TypeError; we keep that, with clear messages.
  """
  if value is None:
    return
  try:
    ok = cond(value)
  except TypeError:
    raise TypeError(f'{name} must be a number {requirement}, got '
                    f'{type(value).__name__} {value!r}.') from None
  if not ok:
    raise ValueError(f'{name} should be {requirement}, got {value!r}.')


def _positional_arg_names(fn):
  """Names of the parameters `fn` takes positionally (None if unknown)."""
  try:
    params = inspect.signature(fn).parameters.values()
  except (TypeError, ValueError):
    return None
  return {p.name for p in params
          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _validate(c):
  """Checks the user settings of RunConfig `c`; None passes where 2.15 let it."""
  if c._model_dir is not None and not c._model_dir:
    raise ValueError(
        f'model_dir should be non-empty: a path, or None; got {c._model_dir!r}.')
  _check_compare('save_summary_steps', c._save_summary_steps,
                 lambda v: v >= 0, '>= 0')
  _check_compare('save_checkpoints_steps', c._save_checkpoints_steps,
                 lambda v: v >= 0, '>= 0')
  _check_compare('save_checkpoints_secs', c._save_checkpoints_secs,
                 lambda v: v >= 0, '>= 0')
  if (c._session_config is not None and
          not isinstance(c._session_config, tf.compat.v1.ConfigProto)):
    raise ValueError(
        'session_config must be instance of ConfigProto '
        '(tf.compat.v1.ConfigProto) or None, got '
        f'{type(c._session_config).__name__}.')
  _check_compare('keep_checkpoint_max', c._keep_checkpoint_max,
                 lambda v: v >= 0, '>= 0')
  _check_compare('keep_checkpoint_every_n_hours',
                 c._keep_checkpoint_every_n_hours, lambda v: v > 0, '> 0')
  _check_compare('log_step_count_steps', c._log_step_count_steps,
                 lambda v: v > 0, '> 0')
  # 2.15's two wordings.
  for name, rule in (('tf_random_seed', 'must be integer (or None)'),
                     ('experimental_max_worker_delay_secs',
                      'must be an integer if set')):
    value = getattr(c, '_' + name)
    if value is not None and not isinstance(value, int):
      raise ValueError(f'{name} {rule}, got {value!r}.')
  _check_compare('session_creation_timeout_secs',
                 c._session_creation_timeout_secs, lambda v: v > 0, '> 0')
  if c._device_fn is not None and not (
          callable(c._device_fn)
          and _positional_arg_names(c._device_fn) == {'op'}):
    raise ValueError('device_fn must be callable with exactly one '
                     f'argument "op". Given: {c._device_fn!r}.')
  if c._protocol not in (None, 'grpc', 'grpc+verbs'):
    raise ValueError('protocol must be None, "grpc" or "grpc+verbs", got '
                     f'{c._protocol!r}.')
  steps = c._steps_per_loop
  if not isinstance(steps, int) or isinstance(steps, bool):
    raise TypeError(f'steps_per_loop must be an int, got '
                    f'{type(steps).__name__} {steps!r}.')
  if steps < 1:
    raise ValueError(f'steps_per_loop must be >= 1, got {steps}.')


def _is_tpu_strategy(strategy):
  return type(strategy).__name__.startswith('TPUStrategy')


class RunConfig:
  """The configuration of an `Estimator` run.

  Constructor settings are validated and exposed as read-only properties;
  `replace()` derives a modified copy.

  The cluster properties (`cluster_spec`, `task_type`, `task_id`, `master`,
  `evaluation_master`, `is_chief`, `num_ps_replicas`, `num_worker_replicas`,
  `global_id_in_cluster`, `service`) come from the JSON object in the
  `TF_CONFIG` environment variable, read once at construction:

  * `"cluster"`: job name -> list of "host:port" addresses. It must have
    exactly one `chief` task (or, in legacy clusters, one `master` task and
    no `chief`).
  * `"task"`: `{"type": ..., "index": ...}`, required with a cluster. The
    `evaluator` task is not part of the training cluster: it sees an empty
    `cluster_spec`, no replicas and `is_chief == False`.
  * optional `"model_dir"`, `"session_master"`, `"eval_session_master"` and
    `"service"` (a dict handed through untouched).

  Without `TF_CONFIG` the run is local: one worker, index 0, which is the
  chief. A malformed `TF_CONFIG` raises ValueError or TypeError naming the
  offending entry.
  """

  # Defaults kept on the class, so that `vars(config)`, which
  # `Estimator.__init__` logs as "Using config:", lists 2.15's attributes:
  # 2.15 had no steps_per_loop and set `_distribute_coordinator_mode` only
  # for configs with distribution strategies. The mode says how a
  # distribute coordinator runs the config (one of the mode strings
  # above), or is None when the TF_CONFIG roles apply as they are.
  _steps_per_loop = 100
  _distribute_coordinator_mode = None

  def __init__(self,
               model_dir=None,
               tf_random_seed=None,
               save_summary_steps=100,
               save_checkpoints_steps=_USE_DEFAULT,
               save_checkpoints_secs=_USE_DEFAULT,
               session_config=None,
               keep_checkpoint_max=5,
               keep_checkpoint_every_n_hours=10000,
               log_step_count_steps=100,
               train_distribute=None,
               device_fn=None,
               protocol=None,
               eval_distribute=None,
               experimental_distribute=None,
               experimental_max_worker_delay_secs=None,
               session_creation_timeout_secs=7200,
               checkpoint_save_graph_def=True,
               *,
               steps_per_loop=100):
    """Creates a RunConfig.

    Args:
      model_dir: Directory for checkpoints, summaries and exports: a `str`
        or an `os.PathLike` (converted to `str`), or None to let the
        Estimator choose. Must agree with `TF_CONFIG["model_dir"]` if both
        are set.
      tf_random_seed: Integer graph-level random seed, for reproducible
        runs.
      save_summary_steps: Write summaries every this many steps.
      save_checkpoints_steps: Checkpoint every this many steps. Exclusive
        with `save_checkpoints_secs`.
      save_checkpoints_secs: Checkpoint every this many seconds. If neither
        this nor `save_checkpoints_steps` is passed, it is 600; passing
        None for both disables checkpointing.
      session_config: A `tf.compat.v1.ConfigProto`, or None. Kept for
        legacy callers; in a `TF_CONFIG` cluster, None becomes a default
        with per-task device filters.
      keep_checkpoint_max: How many recent checkpoints to keep; 0 or None
        keeps all.
      keep_checkpoint_every_n_hours: Also keep one checkpoint per this many
        hours; the default of 10000 effectively turns this off.
      log_step_count_steps: Log the loss and global steps/sec every this
        many steps.
      train_distribute: Optional `tf.distribute.Strategy` for training.
      device_fn: Optional callable `device_fn(op) -> device string`
        overriding the default device placement.
      protocol: Server protocol: None (grpc), "grpc" or "grpc+verbs".
      eval_distribute: Optional `tf.distribute.Strategy` for evaluation.
      experimental_distribute: Optional `DistributeConfig` namedtuple
        (`train_distribute`, `eval_distribute`, `remote_cluster`). Its
        strategies are an alternative to the two arguments above; giving
        the same one both ways is an error.
      experimental_max_worker_delay_secs: Optional integer cap on how long
        a worker waits before starting (workers start staggered).
      session_creation_timeout_secs: How long workers wait for a session
        to become available.
      checkpoint_save_graph_def: Whether to write the GraphDef and
        MetaGraphDefs next to the checkpoints.
      steps_per_loop: Not in tf.estimator; keyword-only. A positive int:
        how many training steps the engine may run inside one compiled
        function call when no hook needs results after every step. Larger
        values cut per-step Python overhead; hooks that need per-step
        results still get one step per call.

    Raises:
      ValueError: If both checkpoint cadences are set, a value is out of
        range, `TF_CONFIG` is malformed or inconsistent, or (2.15's error
        types) `tf_random_seed` or `experimental_max_worker_delay_secs` is
        not an int, `session_config` is not a ConfigProto, `device_fn` does
        not take exactly `op`, or `protocol` is unknown.
      TypeError: If a numeric setting is not a number, `steps_per_loop` is
        not an int, or a `TF_CONFIG` entry has the wrong JSON type.
    """
    if (save_checkpoints_steps is _USE_DEFAULT and
            save_checkpoints_secs is _USE_DEFAULT):
      save_checkpoints_steps = None
      save_checkpoints_secs = _DEFAULT_SAVE_CHECKPOINTS_SECS
    elif save_checkpoints_secs is _USE_DEFAULT:
      save_checkpoints_secs = None
    elif save_checkpoints_steps is _USE_DEFAULT:
      save_checkpoints_steps = None
    elif (save_checkpoints_steps is not None and
          save_checkpoints_secs is not None):
      raise ValueError(_SAVE_CKPT_ERR)

    tf_config = _read_tf_config()
    if tf_config:
      logging.info('%s environment variable: %s', _TF_CONFIG, tf_config)

    self._model_dir = _resolve_model_dir(path_to_str(model_dir), tf_config)
    self._tf_random_seed = tf_random_seed
    self._save_summary_steps = save_summary_steps
    self._save_checkpoints_steps = save_checkpoints_steps
    self._save_checkpoints_secs = save_checkpoints_secs
    self._session_config = session_config
    self._keep_checkpoint_max = keep_checkpoint_max
    self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
    self._log_step_count_steps = log_step_count_steps
    self._train_distribute = train_distribute
    self._device_fn = device_fn
    self._protocol = protocol
    self._eval_distribute = eval_distribute
    self._experimental_distribute = experimental_distribute
    self._experimental_max_worker_delay_secs = (
        experimental_max_worker_delay_secs)
    self._session_creation_timeout_secs = session_creation_timeout_secs
    self._checkpoint_save_graph_def = checkpoint_save_graph_def
    self._steps_per_loop = steps_per_loop
    _validate(self)
    if steps_per_loop == RunConfig._steps_per_loop:  # a valid int by now
      del self._steps_per_loop  # the class's default, left out of vars()

    if ((train_distribute is not None
         and not _is_tpu_strategy(train_distribute))
            or (eval_distribute is not None
                and not _is_tpu_strategy(eval_distribute))
            or experimental_distribute is not None):
      logging.info('Initializing RunConfig with distribution strategies.')
      self._init_with_strategies(tf_config)
    else:
      self._init_from_tf_config(tf_config)

  # Cluster set-up ---------------------------------------------------------

  def _init_with_strategies(self, tf_config):
    """Sets the cluster properties when distribution strategies are given.

    As in 2.15: a training strategy over a `TF_CONFIG` cluster without a
    `master` job, or over `experimental_distribute.remote_cluster`, owns
    the cluster, so this process keeps the local roles and only
    `cluster_spec` is set. Otherwise `TF_CONFIG` is read as usual.
    """
    exp = self._experimental_distribute
    if exp is not None and exp.train_distribute:
      if self._train_distribute:
        raise ValueError(
            'Set either train_distribute or '
            'experimental_distribute.train_distribute, not both.')
      self._train_distribute = exp.train_distribute
    if exp is not None and exp.eval_distribute:
      if self._eval_distribute:
        raise ValueError(
            'Set either eval_distribute or '
            'experimental_distribute.eval_distribute, not both.')
      self._eval_distribute = exp.eval_distribute

    cluster_spec = _cluster_spec_from(tf_config)
    if self._train_distribute and exp is not None and exp.remote_cluster:
      if cluster_spec:
        raise ValueError(
            f'Set either a "cluster" in {_TF_CONFIG} or '
            'experimental_distribute.remote_cluster, not both.')
      self._init_from_tf_config({})
      self._cluster_spec = exp.remote_cluster
      self._distribute_coordinator_mode = _STANDALONE_CLIENT
      logging.info('RunConfig initialized for Distribute Coordinator with '
                   'STANDALONE_CLIENT mode')
    elif (cluster_spec and TaskType.MASTER not in cluster_spec.jobs
          and self._train_distribute):
      self._init_from_tf_config({})
      self._cluster_spec = cluster_spec
      self._distribute_coordinator_mode = _INDEPENDENT_WORKER
      logging.info('RunConfig initialized for Distribute Coordinator with '
                   'INDEPENDENT_WORKER mode')
    else:
      self._distribute_coordinator_mode = None
      self._init_from_tf_config(tf_config)
      logging.info('Not using Distribute Coordinator.')

  def _init_from_tf_config(self, tf_config):
    """Sets the cluster properties from a parsed `TF_CONFIG`."""
    self._service = _validate_service(tf_config.get('service'))
    self._cluster_spec = _cluster_spec_from(tf_config)
    task_env = _task_env(tf_config)
    if not self._cluster_spec:
      self._init_local(task_env, tf_config)
      return
    if TaskType.MASTER in self._cluster_spec.jobs:
      self._init_master_cluster(task_env, tf_config)
    else:
      self._init_chief_cluster(task_env, tf_config)
    self._maybe_overwrite_session_config_for_distributed_training()

  def _maybe_overwrite_session_config_for_distributed_training(self):
    """Device filters for this task, unless a session_config was given.

    2.15's name: subclasses override it (TPU's RunConfig keeps None).
    """
    if self._session_config is None:
      self._session_config = _distributed_session_config(
          self._task_type, self._task_id)

  def _init_local(self, task_env, tf_config):
    """Single-process run: this task is worker 0 and the chief."""
    self._task_type = task_env.get('type', TaskType.WORKER)
    self._task_id = _task_index(task_env.get('index', 0))
    if self._task_type != TaskType.WORKER:
      raise ValueError(
          f'If "cluster" is not set in {_TF_CONFIG}, task type must be '
          f'WORKER; got {self._task_type!r}.')
    if self._task_id != 0:
      raise ValueError(f'If "cluster" is not set in {_TF_CONFIG}, task '
                       f'index must be 0; got {self._task_id}.')
    self._master = tf_config.get('session_master', _LOCAL_MASTER)
    self._evaluation_master = tf_config.get('eval_session_master',
                                            _LOCAL_MASTER)
    self._is_chief = True
    self._num_ps_replicas = 0
    self._num_worker_replicas = 1
    self._global_id_in_cluster = 0

  def _init_chief_cluster(self, task_env, tf_config):
    """Cluster coordinated by a `chief` task; may have an evaluator."""
    cluster_spec = self._cluster_spec
    self._task_type, self._task_id = _validate_task(
        cluster_spec, task_env, TaskType.CHIEF)
    self._evaluation_master = _eval_session_master(self._task_type,
                                                   tf_config)
    self._is_chief = self._task_type == TaskType.CHIEF
    if self._task_type == TaskType.EVALUATOR:
      self._cluster_spec = tf.train.ClusterSpec({})
      self._master = _LOCAL_MASTER
      self._num_ps_replicas = 0
      self._num_worker_replicas = 0
      self._global_id_in_cluster = None
      return
    self._master = _session_master(cluster_spec, self._task_type,
                                   self._task_id, tf_config)
    self._num_ps_replicas = _count_tasks(cluster_spec, TaskType.PS)
    self._num_worker_replicas = _count_tasks(
        cluster_spec, TaskType.WORKER, TaskType.CHIEF)
    self._global_id_in_cluster = _global_id(
        cluster_spec, self._task_type, self._task_id, TaskType.CHIEF)

  def _init_master_cluster(self, task_env, tf_config):
    """Legacy cluster coordinated by a `master` task (no evaluator)."""
    cluster_spec = self._cluster_spec
    if TaskType.CHIEF in cluster_spec.jobs:
      raise ValueError(
          'If `master` node exists in `cluster`, job `chief` is not '
          f'supported: {_TF_CONFIG}["cluster"] must use only one of '
          'them.')
    self._task_type, self._task_id = _validate_task(
        cluster_spec, task_env, TaskType.MASTER)
    if self._task_type == TaskType.EVALUATOR:
      raise ValueError(
          'If `master` node exists in `cluster`, task_type `evaluator` '
          'is not supported: name that job "chief" instead.')
    self._master = _session_master(cluster_spec, self._task_type,
                                   self._task_id, tf_config)
    self._evaluation_master = _eval_session_master(self._task_type,
                                                   tf_config)
    self._is_chief = self._task_type == TaskType.MASTER
    self._num_ps_replicas = _count_tasks(cluster_spec, TaskType.PS)
    self._num_worker_replicas = _count_tasks(
        cluster_spec, TaskType.WORKER, TaskType.MASTER)
    self._global_id_in_cluster = _global_id(
        cluster_spec, self._task_type, self._task_id, TaskType.MASTER)

  # Read-only properties ---------------------------------------------------

  cluster_spec = property(
      lambda self: self._cluster_spec,
      doc='The training cluster (`tf.train.ClusterSpec`); empty when local.')
  task_type = property(lambda self: self._task_type,
                       doc='This task\'s job name, e.g. "worker".')
  task_id = property(lambda self: self._task_id,
                     doc='This task\'s index within its job.')
  master = property(lambda self: self._master,
                    doc='Session master address; "" means in-process.')
  evaluation_master = property(
      lambda self: self._evaluation_master,
      doc='Session master address used for evaluation.')
  is_chief = property(
      lambda self: self._is_chief,
      doc='Whether this task coordinates training (chief or master).')
  num_ps_replicas = property(lambda self: self._num_ps_replicas,
                             doc='Number of parameter-server tasks.')
  num_worker_replicas = property(
      lambda self: self._num_worker_replicas,
      doc='Number of training replicas: workers plus the chief/master.')
  global_id_in_cluster = property(
      lambda self: self._global_id_in_cluster,
      doc='Unique id of this task in the whole cluster.\n\n'
      'The chief (or master) is 0, then come the other jobs by name, tasks '
      'by index, then the ps tasks. None for the evaluator.')
  service = property(
      lambda self: self._service,
      doc='`TF_CONFIG["service"]` (a dict) or None; passed through as is.')
  model_dir = property(lambda self: self._model_dir,
                       doc='Directory for checkpoints and summaries, or None.')
  tf_random_seed = property(lambda self: self._tf_random_seed,
                            doc='Graph-level random seed, or None.')
  save_summary_steps = property(lambda self: self._save_summary_steps,
                                doc='Summary cadence in steps.')
  save_checkpoints_secs = property(
      lambda self: self._save_checkpoints_secs,
      doc='Checkpoint cadence in seconds, or None.')
  save_checkpoints_steps = property(
      lambda self: self._save_checkpoints_steps,
      doc='Checkpoint cadence in steps, or None.')
  session_config = property(lambda self: self._session_config,
                            doc='The `tf.compat.v1.ConfigProto`, or None.')
  keep_checkpoint_max = property(
      lambda self: self._keep_checkpoint_max,
      doc='How many recent checkpoints to keep (0 or None: all).')
  keep_checkpoint_every_n_hours = property(
      lambda self: self._keep_checkpoint_every_n_hours,
      doc='Also keep one checkpoint per this many hours.')
  log_step_count_steps = property(lambda self: self._log_step_count_steps,
                                  doc='Step-rate logging cadence in steps.')
  train_distribute = property(
      lambda self: self._train_distribute,
      doc='Optional `tf.distribute.Strategy` for training.')
  eval_distribute = property(
      lambda self: self._eval_distribute,
      doc='Optional `tf.distribute.Strategy` for evaluation.')
  device_fn = property(
      lambda self: self._device_fn,
      doc='Optional `device_fn(op)` overriding default device placement.')
  protocol = property(lambda self: self._protocol,
                      doc='Server protocol, or None for grpc.')
  experimental_max_worker_delay_secs = property(
      lambda self: self._experimental_max_worker_delay_secs,
      doc='Cap on the staggered start delay of workers, or None.')
  session_creation_timeout_secs = property(
      lambda self: self._session_creation_timeout_secs,
      doc='How long workers wait for a session to become available.')
  checkpoint_save_graph_def = property(
      lambda self: self._checkpoint_save_graph_def,
      doc='Whether graph and meta-graph files are written with checkpoints.')
  steps_per_loop = property(
      lambda self: self._steps_per_loop,
      doc='Most training steps run per compiled call when no hook needs '
      'per-step results.')

  def replace(self, **kwargs):
    """Returns a copy of this config with some settings changed.

    Only constructor settings can be replaced; the `TF_CONFIG`-derived
    cluster properties are copied unchanged. Setting one checkpoint
    cadence to a value clears the other, so a config that checkpoints by
    time can switch to steps with `replace(save_checkpoints_steps=N)`;
    setting both to values is an error. Distribution strategies are shared
    with the copy, not deep-copied (they own devices and variables).

    Args:
      **kwargs: New values, named as the constructor arguments:
        `model_dir`, `tf_random_seed`, `save_summary_steps`,
        `save_checkpoints_steps`, `save_checkpoints_secs`, `session_config`,
        `keep_checkpoint_max`, `keep_checkpoint_every_n_hours`,
        `log_step_count_steps`, `train_distribute`, `device_fn`, `protocol`,
        `eval_distribute`, `experimental_distribute`,
        `experimental_max_worker_delay_secs`,
        `session_creation_timeout_secs`, `checkpoint_save_graph_def`, and
        (not in 2.15) `steps_per_loop`.

    Returns:
      A new `RunConfig`; this one is unchanged.

    Raises:
      ValueError: For a key that cannot be replaced, both checkpoint
        cadences set, or an invalid value (see the constructor).
      TypeError: For a value of the wrong type (see the constructor).
    """
    unknown = sorted(set(kwargs) - set(_REPLACEABLE))
    if unknown:
      raise ValueError(f'Replacing {", ".join(unknown)} is not '
                       f'supported. Allowed properties are '
                       f'{list(_REPLACEABLE)}.')
    # Strategies are shared, not deep-copied: they own devices and
    # variables, and some (like the default strategy) refuse to be copied.
    strategies = (self._train_distribute, self._eval_distribute,
                  self._experimental_distribute)
    new = copy.deepcopy(
        self, memo={id(s): s for s in strategies if s is not None})
    if 'model_dir' in kwargs:
      kwargs['model_dir'] = path_to_str(kwargs['model_dir'])
    for key, value in kwargs.items():
      setattr(new, '_' + key, value)

    steps = kwargs.get('save_checkpoints_steps')
    secs = kwargs.get('save_checkpoints_secs')
    if ('save_checkpoints_steps' in kwargs
            and 'save_checkpoints_secs' in kwargs):
      if steps is not None and secs is not None:
        raise ValueError(_SAVE_CKPT_ERR)
    elif steps is not None:
      new._save_checkpoints_secs = None
    elif secs is not None:
      new._save_checkpoints_steps = None
    _validate(new)
    return new
