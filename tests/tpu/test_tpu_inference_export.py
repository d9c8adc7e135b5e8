"""TPU serving graphs a model_fn builds itself (export API version 2).

With `export_saved_model_api_version=ExportSavedModelApiVersion.V2`, 2.15
left the TPU placement to the model_fn: seeing `params['use_tpu']` True it
calls `model_fn_inference_on_tpu` or `inference_on_tpu`. The op sets and the
served values below are the ones 2.15 wrote for the same program (measured
with tensorflow-estimator 2.15.0 on TF 2.15.1).
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import tfcompat_estimator
from tfcompat_estimator.tpu import tpu_estimator

v1 = tf.compat.v1
tpu = tfcompat_estimator.compat.v1.tpu

# 2.15's TPU serving graph, both ways of building it.
_TPU_OPS = {'BatchFunction', 'TPUCompilationResult', 'TPUOrdinalSelector',
            'TPUPartitionedCall', 'TPUReplicateMetadata',
            'TPUReplicatedOutput', 'MatMul'}


def _weights():
  return v1.get_variable('w', [2, 1],
                         initializer=v1.constant_initializer([[1.], [2.]]))


def _inner_model_fn(features, mode, params):
  del params
  y = tf.matmul(features['x'], _weights())
  if mode == tfcompat_estimator.ModeKeys.PREDICT:
    return tpu.TPUEstimatorSpec(mode, predictions={'y': y})
  return tpu.TPUEstimatorSpec(
      mode, loss=tf.reduce_mean(tf.square(y)),
      train_op=v1.assign_add(v1.train.get_global_step(), 1))


def _model_fn_for(kind):
  def model_fn(features, labels, mode, params):
    del labels
    if mode != tfcompat_estimator.ModeKeys.PREDICT or not params['use_tpu']:
      return _inner_model_fn(features, mode, params)
    if kind == 'model_fn_inference_on_tpu':
      return tpu_estimator.model_fn_inference_on_tpu(
          _inner_model_fn, features, params=params,
          batch_config=tpu_estimator.BatchConfig(2, 8, 1000, [8]))
    w = _weights()
    y, = tpu_estimator.inference_on_tpu(
        lambda x: [tf.matmul(x, w)], [features['x']], num_batch_threads=2,
        max_batch_size=8, batch_timeout_micros=1000, allowed_batch_sizes=[8])
    return tpu.TPUEstimatorSpec(mode, predictions={'y': y})
  return model_fn


def _input_fn(params):
  return tf.data.Dataset.from_tensor_slices(
      ({'x': np.ones((8, 2), np.float32)}, np.ones((8, 1), np.float32))
  ).repeat().batch(params['batch_size'])


def _serving_input_fn():
  x = v1.placeholder(tf.float32, [None, 2], name='x')
  return tfcompat_estimator.export.ServingInputReceiver({'x': x}, {'x': x})


@pytest.mark.parametrize('kind', ['model_fn_inference_on_tpu',
                                  'inference_on_tpu'])
def test_api_v2_model_fn_places_its_tpu_part(tmp_path, kind):
  estimator = tpu.TPUEstimator(
      _model_fn_for(kind), model_dir=str(tmp_path / 'model'),
      config=tpu.RunConfig(), use_tpu=False, train_batch_size=4,
      predict_batch_size=4,
      export_saved_model_api_version=(
          tpu_estimator.ExportSavedModelApiVersion.V2))
  estimator.train(_input_fn, steps=2)
  path = estimator.export_saved_model(str(tmp_path / 'export'),
                                      _serving_input_fn)
  saved_model = saved_model_pb2.SavedModel()
  with open(os.path.join(path, b'saved_model.pb'), 'rb') as f:
    saved_model.ParseFromString(f.read())
  cpu, on_tpu = saved_model.meta_graphs
  assert list(cpu.meta_info_def.tags) == ['serve']
  assert sorted(on_tpu.meta_info_def.tags) == ['serve', 'tpu']

  def ops(meta_graph):
    graph = meta_graph.graph_def
    return ({n.op for n in graph.node} |
            {n.op for f in graph.library.function for n in f.node_def})

  assert _TPU_OPS <= ops(on_tpu)
  assert not {'BatchFunction', 'TPUPartitionedCall'} & ops(cpu)
  assert set(on_tpu.signature_def['serving_default'].outputs) == {'y'}
  with tf.Graph().as_default(), v1.Session() as session:
    meta_graph = v1.saved_model.loader.load(session, ['serve'], path)
    signature = meta_graph.signature_def['serving_default']
    served = session.run(signature.outputs['y'].name,
                         {signature.inputs['x'].name: [[1., 1.], [2., 0.]]})
  np.testing.assert_allclose(served, [[3.], [2.]])  # 2.15 served the same
