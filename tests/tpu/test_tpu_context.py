"""TPUEstimator's per-mode context (`estimator._ctx`), as 2.15 answered.

Expected job names and messages are tensorflow-estimator 2.15.0's (its
`TPUConfigTest` checks the same cases).
"""

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import cluster_pb2

import tfcompat_estimator

tpu = tfcompat_estimator.compat.v1.tpu
ModeKeys = tfcompat_estimator.ModeKeys


def _model_fn(features, labels, mode, params):
  del features, labels, mode, params
  raise AssertionError('not called')


def _ctx(config, **kwargs):
  kwargs.setdefault('train_batch_size', 16)
  kwargs.setdefault('use_tpu', False)
  return tpu.TPUEstimator(model_fn=_model_fn, config=config, **kwargs)._ctx


def _session_config(*jobs):
  cluster = cluster_pb2.ClusterDef()
  for name in jobs:
    cluster.job.add(name=name).tasks[0] = 'grpc://10.2.3.4:8470'
  return tf.compat.v1.ConfigProto(cluster_def=cluster)


@pytest.mark.parametrize('kwargs, expected', [
    ({}, None),  # local master: no job
    ({'master': 'grpc://10.4.5.7:8470'}, 'tpu_worker'),
    ({'master': 'grpc://10.2.3.4:8470',
      'session_config': _session_config('worker')}, 'worker'),
    ({'master': 'grpc://10.2.3.4:8470',
      'session_config': _session_config('worker', 'coordinator')}, 'worker'),
    ({'tpu_config': tpu.TPUConfig(tpu_job_name='my_job')}, 'my_job'),
])
def test_master_job(kwargs, expected):
  ctx = _ctx(tpu.RunConfig(**kwargs))
  for mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
    with ctx.with_mode(mode) as mode_ctx:
      assert mode_ctx.master_job == expected


def test_master_job_that_cannot_be_inferred_asks_for_a_job_name():
  ctx = _ctx(tpu.RunConfig(master='grpc://10.2.3.4:8470',
                           session_config=_session_config('worker', 'other')))
  with ctx.with_mode(ModeKeys.TRAIN) as mode_ctx:
    with pytest.raises(ValueError, match='specify a tpu_job_name'):
      mode_ctx.master_job  # pylint: disable=pointless-statement


def test_mode_is_required():
  ctx = _ctx(tpu.RunConfig())
  with pytest.raises(RuntimeError, match='with_mode'):
    ctx.global_batch_size  # pylint: disable=pointless-statement


def test_batch_sizes_and_placement_per_mode():
  ctx = _ctx(tpu.RunConfig(), eval_batch_size=8, use_tpu=True,
             eval_on_tpu=False)
  with ctx.with_mode(ModeKeys.TRAIN) as train:
    assert not train.is_running_on_cpu()
    assert train.is_running_on_cpu(is_export_mode=True)
    assert train.batch_size_for_input_fn == 16
  with ctx.with_mode(ModeKeys.EVAL) as evaluation:
    assert evaluation.is_running_on_cpu()  # eval_on_tpu=False
    assert evaluation.batch_size_for_model_fn == 8
  with ctx.with_mode(ModeKeys.PREDICT) as predict:
    assert predict.global_batch_size is None


def test_user_context_is_one_replica_without_device_assignment():
  context = tpu.tpu_context.TPUContext(_ctx(tpu.RunConfig()),
                                       input_device='/device:CPU:0',
                                       invocation_index=0, host_id=0)
  assert (context.num_replicas, context.num_hosts,
          context.num_of_replicas_per_host) == (1, 1, 1)
  assert context.current_input_fn_deployment() == ('/device:CPU:0', 0, 1, 1)
  assert context.current_host == 0
  with pytest.raises(RuntimeError, match='called from input_fn'):
    context.device_assignment  # pylint: disable=pointless-statement
  model_context = tpu.tpu_context.TPUContext(_ctx(tpu.RunConfig()),
                                             call_from_input_fn=False)
  with pytest.raises(RuntimeError, match='CPU and GPU only'):
    model_context.device_assignment  # pylint: disable=pointless-statement
  with pytest.raises(RuntimeError, match='called from model_fn'):
    model_context.current_host  # pylint: disable=pointless-statement


def test_one_shard_with_embeddings_is_refused():
  config = tpu.RunConfig(tpu_config=tpu.TPUConfig(num_shards=1))
  spec = tpu.experimental.EmbeddingConfigSpec(feature_columns=['c'])
  with pytest.raises(ValueError, match='num_shards==1 is unsupported'):
    _ctx(config, embedding_config_spec=spec)


def _fake_tpu_system(monkeypatch, num_cores=32, num_hosts=4):
  """Makes TensorFlow's TPU query report a TPU system of this size."""
  from tensorflow.python.tpu import tpu_system_metadata  # pylint: disable=g-import-not-at-top
  system = tpu_system_metadata.TPUSystemMetadata(
      num_cores=num_cores, num_hosts=num_hosts,
      num_of_cores_per_host=num_cores // num_hosts, topology=None,
      devices=[])
  monkeypatch.setattr(tpu_system_metadata, '_query_tpu_system_metadata',
                      lambda *args, **kwargs: system)


def _train_with(config, **kwargs):
  def input_fn(params):
    del params
    raise AssertionError('not called')
  tpu.TPUEstimator(model_fn=_model_fn, config=config, use_tpu=True,
                   **kwargs).train(input_fn, steps=1)


@pytest.mark.parametrize('tpu_config_kwargs, batch_size, message', [
    # 2.15's messages, for a system of 32 cores on 4 hosts.
    ({'num_shards': 8}, 32, r'num_replicas should be \(32\), got \(8\)'),
    ({'num_shards': 2, 'num_cores_per_replica': 16}, 32,
     'num_cores_per_replica: 16, num_cores_per_host: 8'),
    ({}, 48, 'train batch size 48 must be divisible by number of replicas 32'),
    ({}, 64, 'CPU and GPU only. Pass use_tpu=False'),  # fits: our refusal
])
def test_tpu_run_checks_the_configuration_against_the_tpu(
    monkeypatch, tpu_config_kwargs, batch_size, message):
  _fake_tpu_system(monkeypatch)
  config = tpu.RunConfig(tpu_config=tpu.TPUConfig(**tpu_config_kwargs))
  with pytest.raises(ValueError, match=message):
    _train_with(config, train_batch_size=batch_size)


def test_tpu_run_without_a_tpu_lists_the_devices_found():
  with pytest.raises(ValueError, match=r'No TPU cores were found here '
                     r'\(devices: .*CPU:0\)\. Pass use_tpu=False'):
    _train_with(tpu.RunConfig(), train_batch_size=8)


def test_remote_tpu_master_is_not_contacted(monkeypatch):
  def fail(*args, **kwargs):
    raise AssertionError('a remote master was contacted')
  from tensorflow.python.tpu import tpu_system_metadata  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(tpu_system_metadata, '_query_tpu_system_metadata', fail)
  with pytest.raises(ValueError, match='CPU and GPU only. Pass use_tpu'):
    _train_with(tpu.RunConfig(master='grpc://10.1.2.3:8470'),
                train_batch_size=8)
