"""Tests for `RunConfig`.

Expected values marked "measured on 2.15" were observed by running
tensorflow-estimator 2.15.0 on tensorflow-cpu 2.15.1 with the same inputs.
"""

import collections
import functools
import inspect
import json
import pathlib

import pytest
import tensorflow as tf

from tfcompat_estimator import run_config as rc
from tfcompat_estimator.run_config import RunConfig, TaskType

# The example cluster of the 2.15 docs.
CLUSTER = {'chief': ['host0:2222'],
           'ps': ['host1:2222', 'host2:2222'],
           'worker': ['host3:2222', 'host4:2222', 'host5:2222']}


@pytest.fixture(autouse=True)
def _no_tf_config(monkeypatch):
  monkeypatch.delenv('TF_CONFIG', raising=False)


def set_tf_config(monkeypatch, value):
  monkeypatch.setenv(
      'TF_CONFIG', value if isinstance(value, str) else json.dumps(value))


def cluster_view(config):
  """The TF_CONFIG-derived properties of `config`, as plain values."""
  return {
      'cluster_spec': config.cluster_spec.as_dict(),
      'task_type': config.task_type,
      'task_id': config.task_id,
      'master': config.master,
      'evaluation_master': config.evaluation_master,
      'is_chief': config.is_chief,
      'num_ps_replicas': config.num_ps_replicas,
      'num_worker_replicas': config.num_worker_replicas,
      'global_id_in_cluster': config.global_id_in_cluster,
  }


LOCAL_VIEW = {  # Measured on 2.15 without TF_CONFIG.
    'cluster_spec': {}, 'task_type': 'worker', 'task_id': 0, 'master': '',
    'evaluation_master': '', 'is_chief': True, 'num_ps_replicas': 0,
    'num_worker_replicas': 1, 'global_id_in_cluster': 0}


# Constructor signature and defaults -----------------------------------------


def test_signature_matches_2_15_plus_keyword_only_steps_per_loop():
  params = inspect.signature(RunConfig.__init__).parameters
  # Names, order and plain defaults measured on 2.15.
  expected = [
      ('model_dir', None), ('tf_random_seed', None),
      ('save_summary_steps', 100), ('save_checkpoints_steps', 'sentinel'),
      ('save_checkpoints_secs', 'sentinel'), ('session_config', None),
      ('keep_checkpoint_max', 5), ('keep_checkpoint_every_n_hours', 10000),
      ('log_step_count_steps', 100), ('train_distribute', None),
      ('device_fn', None), ('protocol', None), ('eval_distribute', None),
      ('experimental_distribute', None),
      ('experimental_max_worker_delay_secs', None),
      ('session_creation_timeout_secs', 7200),
      ('checkpoint_save_graph_def', True)]
  positional = [p for p in params.values()
                if p.kind == p.POSITIONAL_OR_KEYWORD][1:]  # drop self
  assert [p.name for p in positional] == [name for name, _ in expected]
  for p, (_, default) in zip(positional, expected):
    if default != 'sentinel':
      assert p.default == default, p.name
  assert params['steps_per_loop'].kind == inspect.Parameter.KEYWORD_ONLY
  assert params['steps_per_loop'].default == 100
  with pytest.raises(TypeError):
    RunConfig(*([None] * 18))  # steps_per_loop cannot be positional


def test_defaults():
  config = RunConfig()
  # Measured on 2.15.
  assert config.model_dir is None
  assert config.tf_random_seed is None
  assert config.save_summary_steps == 100
  assert config.save_checkpoints_steps is None
  assert config.save_checkpoints_secs == 600
  assert config.session_config is None
  assert config.keep_checkpoint_max == 5
  assert config.keep_checkpoint_every_n_hours == 10000
  assert config.log_step_count_steps == 100
  assert config.train_distribute is None
  assert config.eval_distribute is None
  assert config.device_fn is None
  assert config.protocol is None
  assert config.experimental_max_worker_delay_secs is None
  assert config.session_creation_timeout_secs == 7200
  assert config.checkpoint_save_graph_def is True
  assert config.service is None
  assert cluster_view(config) == LOCAL_VIEW
  assert isinstance(config.cluster_spec, tf.train.ClusterSpec)
  assert not config.cluster_spec
  # Ours.
  assert config.steps_per_loop == 100


def test_properties_are_read_only():
  config = RunConfig()
  with pytest.raises(AttributeError):
    config.model_dir = '/tmp/x'
  # 2.15 has no public `experimental_distribute` property either.
  assert not hasattr(config, 'experimental_distribute')


def test_task_type_constants():
  # Measured on 2.15.
  assert (TaskType.CHIEF, TaskType.WORKER, TaskType.PS, TaskType.EVALUATOR,
          TaskType.MASTER) == ('chief', 'worker', 'ps', 'evaluator', 'master')


# Checkpoint cadence ---------------------------------------------------------


@pytest.mark.parametrize('kwargs, steps, secs', [
    # Measured on 2.15: (save_checkpoints_steps, save_checkpoints_secs).
    ({}, None, 600),
    ({'save_checkpoints_steps': 5}, 5, None),
    ({'save_checkpoints_secs': 5}, None, 5),
    ({'save_checkpoints_steps': None}, None, None),
    ({'save_checkpoints_secs': None}, None, None),
    ({'save_checkpoints_steps': None, 'save_checkpoints_secs': None},
     None, None),
    ({'save_checkpoints_steps': None, 'save_checkpoints_secs': 5}, None, 5),
])
def test_checkpoint_cadence(kwargs, steps, secs):
  config = RunConfig(**kwargs)
  assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (
      steps, secs)


def test_both_checkpoint_cadences_is_value_error():
  with pytest.raises(ValueError, match='cannot be both set'):
    RunConfig(save_checkpoints_steps=1, save_checkpoints_secs=1)


# Validation -----------------------------------------------------------------


@pytest.mark.parametrize('name, value, error', [
    # Error types measured on 2.15 (the TypeErrors came from comparing a
    # string with a number; our messages say so).
    ('model_dir', '', ValueError),
    ('tf_random_seed', 1.5, ValueError),
    ('tf_random_seed', '1', ValueError),
    ('save_summary_steps', -1, ValueError),
    ('save_summary_steps', '1', TypeError),
    ('save_checkpoints_steps', -1, ValueError),
    ('save_checkpoints_steps', '1', TypeError),
    ('save_checkpoints_secs', -1, ValueError),
    ('save_checkpoints_secs', '1', TypeError),
    ('session_config', {}, ValueError),
    ('keep_checkpoint_max', -1, ValueError),
    ('keep_checkpoint_max', '1', TypeError),
    ('keep_checkpoint_every_n_hours', 0, ValueError),
    ('keep_checkpoint_every_n_hours', '1', TypeError),
    ('log_step_count_steps', 0, ValueError),
    ('log_step_count_steps', '1', TypeError),
    ('experimental_max_worker_delay_secs', 1.5, ValueError),
    ('experimental_max_worker_delay_secs', '1', ValueError),
    ('session_creation_timeout_secs', 0, ValueError),
    ('session_creation_timeout_secs', '1', TypeError),
    ('protocol', 'http', ValueError),
    ('device_fn', 'x', ValueError),
])
def test_invalid_values(name, value, error):
  with pytest.raises(error, match=name):
    RunConfig(**{name: value})


@pytest.mark.parametrize('name, value', [
    # Accepted by 2.15 (measured), so accepted here too.
    ('tf_random_seed', -1), ('tf_random_seed', True),
    ('save_summary_steps', 0), ('save_summary_steps', 1.5),
    ('save_summary_steps', None), ('save_checkpoints_steps', 0),
    ('save_checkpoints_secs', 0), ('keep_checkpoint_max', 0),
    ('keep_checkpoint_max', None), ('keep_checkpoint_every_n_hours', 0.5),
    ('keep_checkpoint_every_n_hours', None), ('log_step_count_steps', 0.5),
    ('log_step_count_steps', None), ('experimental_max_worker_delay_secs', -1),
    ('session_creation_timeout_secs', 0.5),
    ('session_creation_timeout_secs', None), ('protocol', 'grpc'),
    ('protocol', 'grpc+verbs'), ('checkpoint_save_graph_def', False),
    ('checkpoint_save_graph_def', None), ('model_dir', 12),
])
def test_values_2_15_accepts(name, value):
  assert getattr(RunConfig(**{name: value}), name) == value


def test_falsy_model_dir_becomes_none():
  # Measured on 2.15: model_dir=0 or False gives model_dir None.
  assert RunConfig(model_dir=0).model_dir is None
  assert RunConfig(model_dir=False).model_dir is None


def _op_and_x(op, x):
  return ''


class _DeviceChooser:

  def __call__(self, op):
    return '/cpu:0'


@pytest.mark.parametrize('device_fn, ok', [
    # Measured on 2.15: exactly one positional parameter named "op".
    (lambda op: '', True),
    (lambda op=None: '', True),
    (_DeviceChooser(), True),
    (functools.partial(_op_and_x, x=1), True),
    (functools.partial(_op_and_x, 1), False),
    (lambda x: '', False),
    (lambda op, y: '', False),
    (len, False),
])
def test_device_fn_argument_rule(device_fn, ok):
  if ok:
    assert RunConfig(device_fn=device_fn).device_fn is device_fn
  else:
    with pytest.raises(ValueError, match='"op"'):
      RunConfig(device_fn=device_fn)


@pytest.mark.parametrize('value, error', [
    (0, ValueError), (-3, ValueError), (1.0, TypeError), (True, TypeError),
    ('5', TypeError), (None, TypeError), (100.0, TypeError)])
def test_steps_per_loop_must_be_positive_int(value, error):
  with pytest.raises(error, match='steps_per_loop'):
    RunConfig(steps_per_loop=value)


def test_steps_per_loop_is_stored():
  assert RunConfig(steps_per_loop=1).steps_per_loop == 1
  assert RunConfig(steps_per_loop=500).steps_per_loop == 500


# vars(RunConfig()) on 2.15 (measured): what "Using config:" logs.
ATTRIBUTES_2_15 = {
    '_checkpoint_save_graph_def', '_cluster_spec', '_device_fn',
    '_eval_distribute', '_evaluation_master', '_experimental_distribute',
    '_experimental_max_worker_delay_secs', '_global_id_in_cluster',
    '_is_chief', '_keep_checkpoint_every_n_hours', '_keep_checkpoint_max',
    '_log_step_count_steps', '_master', '_model_dir', '_num_ps_replicas',
    '_num_worker_replicas', '_protocol', '_save_checkpoints_secs',
    '_save_checkpoints_steps', '_save_summary_steps', '_service',
    '_session_config', '_session_creation_timeout_secs', '_task_id',
    '_task_type', '_tf_random_seed', '_train_distribute'}


def test_vars_are_2_15s_attributes(caplog):
  assert set(vars(RunConfig())) == ATTRIBUTES_2_15
  assert set(vars(RunConfig(steps_per_loop=7))) == ATTRIBUTES_2_15 | {
      '_steps_per_loop'}
  # Measured on 2.15: a strategy adds the coordinator mode, and its log line.
  caplog.set_level('INFO', logger='tensorflow')
  config = RunConfig(eval_distribute=_FakeStrategy())
  assert vars(config)['_distribute_coordinator_mode'] is None
  assert set(vars(config)) == ATTRIBUTES_2_15 | {
      '_distribute_coordinator_mode'}
  assert 'Not using Distribute Coordinator.' in caplog.messages


def test_model_dir_pathlike_becomes_str():
  config = RunConfig(model_dir=pathlib.Path('/tmp/model'))
  assert config.model_dir == '/tmp/model'
  assert isinstance(config.model_dir, str)
  assert rc.path_to_str(b'/x') == b'/x'  # 2.15 left bytes alone too.


def test_session_config_is_stored_as_given():
  session_config = tf.compat.v1.ConfigProto(log_device_placement=True)
  assert RunConfig(session_config=session_config).session_config is (
      session_config)


def test_parameter_server_strategy_v2_is_taken():
  # 2.15 refused it (ValueError pointing to the v1 strategy); here it
  # drives parameter-server training (test_parameter_servers.py).
  cls = tf.distribute.experimental.ParameterServerStrategy
  strategy = cls.__new__(cls)  # Constructing one connects to a cluster.
  assert RunConfig(train_distribute=strategy).train_distribute is strategy
  assert RunConfig(eval_distribute=strategy).eval_distribute is strategy


def test_default_session_config():
  config = rc.get_default_session_config()
  assert config.allow_soft_placement
  assert config.graph_options.rewrite_options.meta_optimizer_iterations == 1
  assert not config.device_filters


# replace() ------------------------------------------------------------------


@pytest.mark.parametrize('key', ['foo', 'cluster_spec', 'master', 'is_chief'])
def test_replace_rejects_other_keys(key):
  with pytest.raises(ValueError, match=f'Replacing {key} is not supported'):
    RunConfig().replace(**{key: 1})


def test_replace_returns_new_config_and_keeps_original():
  config = RunConfig(tf_random_seed=1)
  new = config.replace(tf_random_seed=2, save_summary_steps=7,
                       session_creation_timeout_secs=5,
                       checkpoint_save_graph_def=False, steps_per_loop=9)
  assert new is not config
  assert (new.tf_random_seed, new.save_summary_steps,
          new.session_creation_timeout_secs, new.checkpoint_save_graph_def,
          new.steps_per_loop) == (2, 7, 5, False, 9)
  assert (config.tf_random_seed, config.save_summary_steps,
          config.steps_per_loop) == (1, 100, 100)
  assert config.replace() is not config


@pytest.mark.parametrize('start, change, steps, secs', [
    # Measured on 2.15: (save_checkpoints_steps, save_checkpoints_secs).
    ({'save_checkpoints_secs': 30}, {'save_checkpoints_steps': 7}, 7, None),
    ({'save_checkpoints_secs': 30}, {'save_checkpoints_steps': None},
     None, 30),
    ({'save_checkpoints_steps': 3}, {'save_checkpoints_secs': 9}, None, 9),
    ({'save_checkpoints_secs': 30},
     {'save_checkpoints_steps': None, 'save_checkpoints_secs': None},
     None, None),
])
def test_replace_checkpoint_cadence(start, change, steps, secs):
  new = RunConfig(**start).replace(**change)
  assert (new.save_checkpoints_steps, new.save_checkpoints_secs) == (
      steps, secs)


def test_replace_validates():
  config = RunConfig()
  # Measured on 2.15.
  with pytest.raises(ValueError, match='cannot be both set'):
    config.replace(save_checkpoints_steps=7, save_checkpoints_secs=8)
  with pytest.raises(ValueError, match='save_summary_steps'):
    config.replace(save_summary_steps=-1)
  with pytest.raises(TypeError, match='log_step_count_steps'):
    config.replace(log_step_count_steps='1')
  with pytest.raises(ValueError, match='model_dir'):
    config.replace(model_dir='')
  with pytest.raises(ValueError, match='model_dir'):
    config.replace(model_dir=0)
  with pytest.raises(ValueError, match='steps_per_loop'):
    config.replace(steps_per_loop=0)
  assert config.replace(model_dir=None).model_dir is None


def test_replace_converts_pathlike_model_dir():
  # 2.15 stored the Path object here; we keep model_dir a str everywhere.
  new = RunConfig().replace(model_dir=pathlib.Path('/tmp/a'))
  assert new.model_dir == '/tmp/a'


def test_replace_copies_session_config_but_shares_strategies():
  session_config = tf.compat.v1.ConfigProto(log_device_placement=True)
  strategy = tf.distribute.get_strategy()  # This one refuses deepcopy.
  config = RunConfig(session_config=session_config,
                     eval_distribute=strategy)
  new = config.replace(tf_random_seed=3)
  # 2.15 deep-copied the session config too (measured: equal, not same).
  assert new.session_config == session_config
  assert new.session_config is not session_config
  assert new.eval_distribute is strategy


def test_replace_keeps_cluster_properties(monkeypatch):
  set_tf_config(monkeypatch,
                {'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 1}})
  config = RunConfig()
  assert cluster_view(config.replace(tf_random_seed=9)) == (
      cluster_view(config))


# TF_CONFIG ------------------------------------------------------------------


@pytest.mark.parametrize('task, expected', [
    # Measured on 2.15 with CLUSTER.
    ({'type': 'chief', 'index': 0},
     {'task_type': 'chief', 'task_id': 0, 'master': 'grpc://host0:2222',
      'is_chief': True, 'global_id_in_cluster': 0}),
    ({'type': 'worker', 'index': 1},
     {'task_type': 'worker', 'task_id': 1, 'master': 'grpc://host4:2222',
      'is_chief': False, 'global_id_in_cluster': 2}),
    ({'type': 'worker', 'index': 2},
     {'task_type': 'worker', 'task_id': 2, 'master': 'grpc://host5:2222',
      'is_chief': False, 'global_id_in_cluster': 3}),
    ({'type': 'ps', 'index': 1},
     {'task_type': 'ps', 'task_id': 1, 'master': 'grpc://host2:2222',
      'is_chief': False, 'global_id_in_cluster': 5}),
    # 2.15 converts the index with int(): '1' and 1.7 both mean 1.
    ({'type': 'worker', 'index': '1'},
     {'task_type': 'worker', 'task_id': 1, 'master': 'grpc://host4:2222',
      'is_chief': False, 'global_id_in_cluster': 2}),
    ({'type': 'worker', 'index': 1.7},
     {'task_type': 'worker', 'task_id': 1, 'master': 'grpc://host4:2222',
      'is_chief': False, 'global_id_in_cluster': 2}),
])
def test_training_cluster_tasks(monkeypatch, task, expected):
  set_tf_config(monkeypatch, {'cluster': CLUSTER, 'task': task})
  expected = dict(expected, cluster_spec=CLUSTER, evaluation_master='',
                  num_ps_replicas=2, num_worker_replicas=4)
  assert cluster_view(RunConfig()) == expected


@pytest.mark.parametrize('task_type, task_id, filters_hex', [
    # Serialized default session_config measured on 2.15 (device filters:
    # ps + own job for chief/worker, every training job for ps).
    ('chief', 0,
     '22072f6a6f623a7073220a2f6a6f623a63686965663801520452026001'),
    ('worker', 1,
     '22072f6a6f623a707322122f6a6f623a776f726b65722f7461736b3a313801520452026001'),
    ('ps', 0,
     '22072f6a6f623a7073220b2f6a6f623a776f726b6572220a2f6a6f623a636869656622'
     '0b2f6a6f623a6d61737465723801520452026001'),
])
def test_cluster_default_session_config(monkeypatch, task_type, task_id,
                                        filters_hex):
  set_tf_config(monkeypatch, {'cluster': CLUSTER,
                              'task': {'type': task_type, 'index': task_id}})
  assert RunConfig().session_config.SerializeToString().hex() == filters_hex


def test_cluster_keeps_user_session_config(monkeypatch):
  set_tf_config(monkeypatch,
                {'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 1}})
  session_config = tf.compat.v1.ConfigProto()
  assert RunConfig(session_config=session_config).session_config is (
      session_config)


def test_evaluator_is_outside_training_cluster(monkeypatch):
  # Measured on 2.15; any non-negative evaluator index is accepted.
  set_tf_config(monkeypatch, {'cluster': CLUSTER,
                              'task': {'type': 'evaluator', 'index': 5},
                              'eval_session_master': 'grpc://e:1'})
  config = RunConfig()
  assert cluster_view(config) == {
      'cluster_spec': {}, 'task_type': 'evaluator', 'task_id': 5,
      'master': '', 'evaluation_master': 'grpc://e:1', 'is_chief': False,
      'num_ps_replicas': 0, 'num_worker_replicas': 0,
      'global_id_in_cluster': None}
  assert config.session_config is None


def test_evaluator_job_in_cluster_counts_for_global_ids(monkeypatch):
  # Measured on 2.15: not an error; the job sorts between chief and worker.
  set_tf_config(monkeypatch, {
      'cluster': {'chief': ['a:1'], 'evaluator': ['e:1'], 'worker': ['w:1']},
      'task': {'type': 'worker', 'index': 0}})
  config = RunConfig()
  assert (config.global_id_in_cluster, config.num_worker_replicas,
          config.master) == (2, 2, 'grpc://w:1')


def test_global_ids_put_other_jobs_by_name_then_ps(monkeypatch):
  cluster = {'chief': ['a:1'], 'aaa': ['x:1', 'y:1'], 'worker': ['w:1'],
             'ps': ['p:1']}
  ids = {}
  for task_type in ('chief', 'aaa', 'worker', 'ps'):
    set_tf_config(monkeypatch, {'cluster': cluster,
                                'task': {'type': task_type, 'index': 0}})
    ids[task_type] = RunConfig().global_id_in_cluster
  assert ids == {'chief': 0, 'aaa': 1, 'worker': 3, 'ps': 4}  # 2.15


def test_single_node_cluster_uses_local_master(monkeypatch):
  set_tf_config(monkeypatch, {'cluster': {'chief': ['a:1']},
                              'task': {'type': 'chief', 'index': 0}})
  config = RunConfig()
  assert (config.master, config.num_worker_replicas, config.is_chief) == (
      '', 1, True)  # Measured on 2.15.


def test_session_master_overrides_cluster_address(monkeypatch):
  set_tf_config(monkeypatch, {'cluster': CLUSTER,
                              'task': {'type': 'worker', 'index': 1},
                              'session_master': 'grpc://sm:1',
                              'eval_session_master': 'grpc://e:1'})
  config = RunConfig()
  # Measured on 2.15: eval_session_master only applies to the evaluator.
  assert (config.master, config.evaluation_master) == ('grpc://sm:1', '')


@pytest.mark.parametrize('task, expected', [
    # Legacy `master` clusters, measured on 2.15.
    ({'type': 'master', 'index': 0},
     {'task_type': 'master', 'task_id': 0, 'master': 'grpc://m:1',
      'is_chief': True, 'global_id_in_cluster': 0}),
    ({'type': 'worker', 'index': 1},
     {'task_type': 'worker', 'task_id': 1, 'master': 'grpc://w:2',
      'is_chief': False, 'global_id_in_cluster': 2}),
    ({'type': 'ps', 'index': 0},
     {'task_type': 'ps', 'task_id': 0, 'master': 'grpc://p:1',
      'is_chief': False, 'global_id_in_cluster': 3}),
])
def test_master_cluster(monkeypatch, task, expected):
  cluster = {'master': ['m:1'], 'ps': ['p:1'], 'worker': ['w:1', 'w:2']}
  set_tf_config(monkeypatch, {'cluster': cluster, 'task': task})
  expected = dict(expected, cluster_spec=cluster, evaluation_master='',
                  num_ps_replicas=1, num_worker_replicas=3)
  assert cluster_view(RunConfig()) == expected


def test_local_tf_config_keys(monkeypatch):
  set_tf_config(monkeypatch, {'task': {'type': 'worker', 'index': '0'},
                              'session_master': 'grpc://m:1',
                              'eval_session_master': 'grpc://e:1',
                              'service': {'name': 'svc'}})
  config = RunConfig()
  # Measured on 2.15.
  assert cluster_view(config) == dict(
      LOCAL_VIEW, master='grpc://m:1', evaluation_master='grpc://e:1')
  assert config.service == {'name': 'svc'}
  assert config.session_config is None


def test_empty_tf_config_object_is_local(monkeypatch):
  set_tf_config(monkeypatch, {})
  assert cluster_view(RunConfig()) == LOCAL_VIEW


def test_model_dir_from_tf_config(monkeypatch):
  set_tf_config(monkeypatch, {'model_dir': '/tmp/md'})
  assert RunConfig().model_dir == '/tmp/md'
  assert RunConfig(model_dir='/tmp/md').model_dir == '/tmp/md'
  with pytest.raises(ValueError, match='must have the same value as the '
                     'model_dir in TF_CONFIG'):
    RunConfig(model_dir='/tmp/other')
  set_tf_config(monkeypatch, {'model_dir': ''})
  with pytest.raises(ValueError, match='model_dir in TF_CONFIG should be '
                     'non-empty'):
    RunConfig()


@pytest.mark.parametrize('tf_config, error, match', [
    # Error types measured on 2.15; the messages begin with 2.15's words.
    ({'cluster': CLUSTER, 'task': {'type': 'foo', 'index': 0}},
     ValueError, 'foo is not a valid task_type'),
    ({'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 3}},
     ValueError, '3 is not a valid task_id for task_type worker'),
    ({'cluster': CLUSTER, 'task': {'type': 'worker', 'index': -1}},
     ValueError, 'Task index must be non-negative number'),
    ({'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 'a'}},
     ValueError, 'must be an integer'),
    ({'cluster': CLUSTER, 'task': {'index': 0}}, ValueError,
     'task type must be set'),
    ({'cluster': CLUSTER, 'task': {'type': '', 'index': 0}},
     ValueError, 'task type must be set'),
    ({'cluster': CLUSTER}, ValueError, 'task type must be set'),
    ({'cluster': CLUSTER, 'task': {'type': 'worker'}},
     ValueError, 'task index must be set'),
    ({'cluster': {'worker': ['a:1']}, 'task': {'type': 'worker', 'index': 0}},
     ValueError, 'it must have one "chief" node'),
    ({'cluster': {'chief': ['a:1', 'b:1']},
      'task': {'type': 'chief', 'index': 0}},
     ValueError, r'only one "chief" node\. Its jobs have these numbers of '
     r'tasks: {.chief.: 2}'),
    ({'cluster': {'master': ['m:1'], 'chief': ['c:1']},
      'task': {'type': 'master', 'index': 0}},
     ValueError, 'If `master` node exists in `cluster`, job `chief`'),
    ({'cluster': {'master': ['m:1'], 'worker': ['w:1']},
      'task': {'type': 'evaluator', 'index': 0}},
     ValueError, 'task_type `evaluator` is not supported'),
    ({'task': {'type': 'ps', 'index': 0}}, ValueError,
     'task type must be WORKER'),
    ({'task': {'type': 'worker', 'index': 1}}, ValueError, 'must be 0'),
    ({'service': [1]}, TypeError, 'If "service" is set in TF_CONFIG, it '
     'must be a dict'),
    ({'cluster': ['a']}, TypeError, r'TF_CONFIG\["cluster"\]'),
    ({'cluster': {'chief': 'a:1'}}, TypeError, r'TF_CONFIG\["cluster"\]'),
])
def test_tf_config_errors(monkeypatch, tf_config, error, match):
  set_tf_config(monkeypatch, tf_config)
  with pytest.raises(error, match=match):
    RunConfig()


@pytest.mark.parametrize('raw', ['', '{cluster', "{'task': {}}"])
def test_invalid_json_names_tf_config(monkeypatch, raw):
  # 2.15 raised json.JSONDecodeError (a ValueError); so do we.
  set_tf_config(monkeypatch, raw)
  with pytest.raises(json.JSONDecodeError, match='TF_CONFIG .*not valid JSON'):
    RunConfig()


@pytest.mark.parametrize('raw', ['[1]', 'null', '"x"', '3'])
def test_non_object_tf_config(monkeypatch, raw):
  # 2.15 failed with an AttributeError here; a ValueError says what is wrong.
  set_tf_config(monkeypatch, raw)
  with pytest.raises(ValueError, match='must hold a JSON object'):
    RunConfig()


def test_task_must_be_an_object(monkeypatch):
  set_tf_config(monkeypatch, {'cluster': CLUSTER, 'task': 'worker'})
  with pytest.raises(TypeError, match=r'TF_CONFIG\["task"\]'):
    RunConfig()


# Distribution strategies ----------------------------------------------------

# The shape of TF's `DistributeConfig`; RunConfig only reads its fields.
DistributeConfig = collections.namedtuple(
    'DistributeConfig', ['train_distribute', 'eval_distribute', 'remote_cluster'],
    defaults=(None, None, None))


class _FakeStrategy:
  """Stands in for a strategy: RunConfig only stores and type-checks it."""


class TPUStrategyFake:
  """Named like a TPU strategy, which takes the plain TF_CONFIG path."""


def test_train_strategy_owns_the_cluster(monkeypatch):
  set_tf_config(monkeypatch,
                {'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 1}})
  config = RunConfig(train_distribute=_FakeStrategy())
  # Measured on 2.15: only cluster_spec is set; the roles stay local.
  assert cluster_view(config) == dict(LOCAL_VIEW, cluster_spec=CLUSTER)
  assert config.session_config is None
  assert config._distribute_coordinator_mode == 'independent_worker'


@pytest.mark.parametrize('kwargs', [
    {'eval_distribute': _FakeStrategy()},
    {'train_distribute': TPUStrategyFake()},
    {'experimental_distribute': DistributeConfig()},
    {'experimental_distribute': DistributeConfig(eval_distribute='E')},
])
def test_strategies_that_keep_tf_config_roles(monkeypatch, kwargs):
  set_tf_config(monkeypatch,
                {'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 1}})
  config = RunConfig(**kwargs)
  # Measured on 2.15: the usual TF_CONFIG roles apply.
  assert (config.task_id, config.master, config.num_worker_replicas) == (
      1, 'grpc://host4:2222', 4)
  assert config.session_config is not None
  assert config._distribute_coordinator_mode is None


def test_train_strategy_with_master_cluster_keeps_roles(monkeypatch):
  set_tf_config(monkeypatch, {'cluster': {'master': ['m:1'], 'worker': ['w:1']},
                              'task': {'type': 'worker', 'index': 0}})
  config = RunConfig(train_distribute=_FakeStrategy())
  # Measured on 2.15.
  assert (config.master, config.global_id_in_cluster, config.is_chief) == (
      'grpc://w:1', 1, False)
  assert config._distribute_coordinator_mode is None


def test_experimental_distribute_strategies_are_used():
  train, evaluate = _FakeStrategy(), _FakeStrategy()
  config = RunConfig(experimental_distribute=DistributeConfig(
      train_distribute=train, eval_distribute=evaluate))
  assert (config.train_distribute, config.eval_distribute) == (
      train, evaluate)
  assert cluster_view(config) == LOCAL_VIEW


@pytest.mark.parametrize('kwargs', [
    # Measured on 2.15: ValueError when a strategy is given both ways.
    {'train_distribute': 'S',
     'experimental_distribute': DistributeConfig(train_distribute='S')},
    {'eval_distribute': 'S',
     'experimental_distribute': DistributeConfig(eval_distribute='S')},
])
def test_strategy_given_twice(kwargs):
  with pytest.raises(ValueError, match='not both'):
    RunConfig(**kwargs)


def test_remote_cluster(monkeypatch):
  remote = {'worker': ['r:1']}
  config = RunConfig(experimental_distribute=DistributeConfig(
      train_distribute='S', remote_cluster=remote))
  # Measured on 2.15: cluster_spec is the remote cluster as given.
  assert config.cluster_spec == remote
  assert (config.task_type, config.is_chief, config.master) == (
      'worker', True, '')
  assert config._distribute_coordinator_mode == 'standalone_client'
  set_tf_config(monkeypatch,
                {'cluster': CLUSTER, 'task': {'type': 'worker', 'index': 1}})
  with pytest.raises(ValueError, match='remote_cluster, not both'):
    RunConfig(experimental_distribute=DistributeConfig(
        train_distribute='S', remote_cluster=remote))
