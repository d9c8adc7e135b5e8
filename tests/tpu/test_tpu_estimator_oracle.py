"""Oracle: a BERT run_classifier-style TPUEstimator program, here and on 2.15.

The program has the idioms of BERT's `run_classifier.py` with
`use_tpu=False`: TFRecord input batched with `params['batch_size']`
(`map_and_batch`, `drop_remainder` for training), a `scaffold_fn` calling
`init_from_checkpoint` from a "pretrained" checkpoint, a learning rate with
warm-up and polynomial decay, clipped gradients and a global step the
model_fn increments itself (after the update, see below), `eval_metrics` as `(metric_fn, [tensors])` with
weights, prediction, and export of the serving graph. Every variable comes
from the checkpoint and nothing is random, so both runs must agree to float
precision.
"""

import numpy as np
import pytest

from tests.helpers import reference_runner

SCENARIO = r'''
import json, os, sys
import numpy as np
import tensorflow.compat.v1 as tf

out = sys.argv[1]
base = os.path.splitext(out)[0]  # one directory per run
os.makedirs(base)
rng = np.random.RandomState(0)
n, width, classes = 24, 6, 2
x = rng.normal(size=(n, width)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)

data = os.path.join(base, 'train.tf_record')
with tf.io.TFRecordWriter(data) as writer:
  for xi, yi in zip(x, y):
    writer.write(tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(value=xi)),
        'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[yi])),
        'is_real': tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
    })).SerializeToString())

pretrained = os.path.join(base, 'pretrained', 'bert_model.ckpt')
os.makedirs(os.path.dirname(pretrained))
tf.raw_ops.SaveV2(
    prefix=pretrained,
    tensor_names=['bert/dense/kernel', 'bert/dense/bias', 'output_weights',
                  'output_bias'],
    shape_and_slices=[''] * 4,
    tensors=[tf.constant(rng.normal(size=(width, 8)).astype(np.float32)),
             tf.constant(np.zeros(8, np.float32)),
             tf.constant(rng.normal(size=(classes, 8)).astype(np.float32) * .1),
             tf.constant(np.zeros(classes, np.float32))])

name_to_features = {
    'x': tf.io.FixedLenFeature([width], tf.float32),
    'label': tf.io.FixedLenFeature([], tf.int64),
    'is_real': tf.io.FixedLenFeature([], tf.int64),
}
seen = []

def _decode(record):
  example = tf.parse_single_example(record, name_to_features)
  for key in ('label', 'is_real'):
    example[key] = tf.to_int32(example[key])
  return example

def input_fn_builder(is_training, drop_remainder):
  def input_fn(params):
    seen.append(('input_fn', sorted(params), params['batch_size']))
    d = tf.data.TFRecordDataset(data)
    if is_training:
      d = d.repeat()
    return d.apply(tf.data.experimental.map_and_batch(
        _decode, batch_size=params['batch_size'],
        drop_remainder=drop_remainder))
  return input_fn

def model_fn(features, labels, mode, params):
  seen.append(('model_fn', mode, sorted(params), params.get('batch_size'),
               params['use_tpu']))
  with tf.variable_scope('bert'):
    hidden = tf.layers.dense(features['x'], 8, activation=tf.tanh)
  output_weights = tf.get_variable('output_weights', [classes, 8])
  output_bias = tf.get_variable('output_bias', [classes])
  logits = tf.nn.bias_add(tf.matmul(hidden, output_weights, transpose_b=True),
                          output_bias)
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  probabilities = tf.nn.softmax(logits, axis=-1)
  tvars = tf.trainable_variables()
  assignment_map = {v.name.split(':')[0]: v.name.split(':')[0] for v in tvars}

  def tpu_scaffold():
    tf.train.init_from_checkpoint(pretrained, assignment_map)
    return tf.train.Scaffold()

  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode, predictions={'probabilities': probabilities},
        scaffold_fn=tpu_scaffold)
  one_hot = tf.one_hot(features['label'], depth=classes, dtype=tf.float32)
  per_example_loss = -tf.reduce_sum(one_hot * log_probs, axis=-1)
  loss = tf.reduce_mean(per_example_loss)
  if mode == tf.estimator.ModeKeys.TRAIN:
    global_step = tf.train.get_or_create_global_step()
    lr = tf.train.polynomial_decay(tf.constant(0.05), global_step, 12,
                                   end_learning_rate=0.0, power=1.0)
    warmup = tf.cast(global_step, tf.float32) / 3.
    lr = tf.where(global_step < 3, 0.05 * warmup, lr)
    optimizer = tf.train.AdamOptimizer(lr)
    grads = tf.gradients(loss, tvars)
    grads, _ = tf.clip_by_global_norm(grads, clip_norm=1.0)
    train_op = optimizer.apply_gradients(zip(grads, tvars))
    # BERT grouped this increment with the train op, unordered: 2.15's
    # executor then read the step for the learning rate before or after it,
    # by chance (its loss varied run to run). Ordered here, both agree.
    with tf.control_dependencies([train_op]):
      train_op = global_step.assign(global_step + 1).op
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode, loss=loss, train_op=train_op, scaffold_fn=tpu_scaffold)

  def metric_fn(per_example_loss, label_ids, logits, is_real_example):
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return {
        'eval_accuracy': tf.metrics.accuracy(label_ids, predictions,
                                             weights=is_real_example),
        'eval_loss': tf.metrics.mean(per_example_loss,
                                     weights=is_real_example),
    }

  return tf.estimator.tpu.TPUEstimatorSpec(
      mode, loss=loss, scaffold_fn=tpu_scaffold,
      eval_metrics=(metric_fn, [per_example_loss, features['label'], logits,
                                features['is_real']]))

model_dir = os.path.join(base, 'model')
run_config = tf.estimator.tpu.RunConfig(
    cluster=None, master=None, model_dir=model_dir,
    save_checkpoints_steps=4,
    tpu_config=tf.estimator.tpu.TPUConfig(
        iterations_per_loop=4, num_shards=8,
        per_host_input_for_training=(
            tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
estimator = tf.estimator.tpu.TPUEstimator(
    use_tpu=False, model_fn=model_fn, config=run_config,
    train_batch_size=4, eval_batch_size=5, predict_batch_size=3)
estimator.train(input_fn=input_fn_builder(True, True), max_steps=12)
result = estimator.evaluate(input_fn=input_fn_builder(False, False))
predictions = [p['probabilities'].tolist() for p in
               estimator.predict(input_fn=input_fn_builder(False, False))]

def serving_input_fn():
  x_in = tf.placeholder(tf.float32, [None, width], name='x')
  return tf.estimator.export.build_raw_serving_input_receiver_fn(
      {'x': x_in})()

export_dir = estimator.export_saved_model(os.path.join(base, 'export'),
                                          serving_input_fn)
with tf.Graph().as_default(), tf.Session() as session:
  meta_graph = tf.saved_model.loader.load(session, ['serve'], export_dir)
  signature = meta_graph.signature_def['serving_default']
  served = session.run(signature.outputs['probabilities'].name,
                       {signature.inputs['x'].name: x[:2]})
from tensorflow.core.protobuf import saved_model_pb2
saved_model = saved_model_pb2.SavedModel()
with open(os.path.join(export_dir, b'saved_model.pb'), 'rb') as f:
  saved_model.ParseFromString(f.read())
steps = sorted(int(p.split('-')[-1].split('.')[0]) for p in
               tf.io.gfile.glob(os.path.join(model_dir, 'model.ckpt-*.index')))
with open(out, 'w') as f:
  json.dump({
      'eval': {k: float(v) for k, v in result.items()},
      'predictions': predictions,
      'served': served.tolist(),
      'kernel': estimator.get_variable_value('bert/dense/kernel').tolist(),
      'seen': seen,
      'tags': [sorted(g.meta_info_def.tags) for g in saved_model.meta_graphs],
      'checkpoint_steps': steps,
  }, f)
'''


@pytest.mark.slow
def test_bert_style_program_matches_2_15(venv215_python, tmp_path):
  theirs, ours = reference_runner.run_both(
      venv215_python, SCENARIO, tmp_path, reference_runner.scenario_env())
  assert ours['eval'].keys() == theirs['eval'].keys()
  for key, value in theirs['eval'].items():
    np.testing.assert_allclose(ours['eval'][key], value, rtol=1e-5, err_msg=key)
  np.testing.assert_allclose(ours['kernel'], theirs['kernel'], rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(ours['predictions'], theirs['predictions'],
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(ours['served'], theirs['served'], rtol=1e-4,
                             atol=1e-6)
  assert ours['tags'] == theirs['tags'] == [['serve'], ['serve', 'tpu']]
  assert ours['checkpoint_steps'] == theirs['checkpoint_steps']
  # The model_fn runs once per call there and once per graph here (the
  # evaluation's and prediction's graphs are kept), so compare what each
  # distinct call saw.
  assert sorted(set(map(repr, ours['seen']))) == sorted(
      set(map(repr, theirs['seen'])))
