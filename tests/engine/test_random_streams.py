"""A train graph's random ops draw one stream each, shared by all its copies."""

import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

_SEED, _SEED2 = 87654321, 1234567


@pytest.mark.parametrize('one_kernel,shared_state,arguments', [
    (tf.raw_ops.RandomUniform, tf.raw_ops.StatefulUniform,
     {'dtype': tf.float32}),
    (tf.raw_ops.RandomStandardNormal, tf.raw_ops.StatefulStandardNormalV2,
     {'dtype': tf.float32}),
    (tf.raw_ops.TruncatedNormal, tf.raw_ops.StatefulTruncatedNormal,
     {'dtype': tf.float64}),
    (tf.raw_ops.RandomUniformInt, tf.raw_ops.StatefulUniformInt,
     {'minval': tf.constant(0), 'maxval': tf.constant(10)}),
])
def test_a_state_at_an_ops_seeds_draws_what_its_kernel_drew(
    one_kernel, shared_state, arguments):
  """What engine/random_streams.py stands on, consecutive draws included."""
  shape = [300, 7]
  kernel = tf.function(lambda: one_kernel(
      shape=shape, seed=_SEED, seed2=_SEED2, **arguments))
  state = tf.Variable(np.array([0, _SEED2, _SEED], np.int64))
  for _ in range(3):
    np.testing.assert_array_equal(
        shared_state(resource=state.handle, algorithm=1, shape=shape,
                     **arguments), kernel())


def _regressor(model_dir, **config):
  return tf.estimator.DNNRegressor(
      hidden_units=[16, 16],
      feature_columns=[tf.feature_column.numeric_column('x', shape=[4])],
      dropout=0.5, model_dir=str(model_dir),
      config=tf.estimator.RunConfig(**config))


def _data():
  rng = np.random.RandomState(0)
  x = rng.rand(512, 4).astype(np.float32)
  return {'x': x}, (x.sum(1) + rng.rand(512)).astype(np.float32)


def _train_input_fn():
  return tf.data.Dataset.from_tensor_slices(_data()).repeat().batch(32)


def _eval_input_fn():
  return tf.data.Dataset.from_tensor_slices(_data()).batch(128)


class _LossEveryStep(tf.compat.v1.train.SessionRunHook):

  def __init__(self):
    self.losses = []

  def before_run(self, run_context):
    return tf.compat.v1.train.SessionRunArgs(
        tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)[-1])

  def after_run(self, run_context, run_values):
    self.losses.append(run_values.results)


def test_a_hook_every_step_beside_summaries_sees_2_15s_dropout(tmp_path):
  """microsoft/recommenders' Wide & Deep notebook, reduced: a hook of the
  program's every step, summaries at step 0 only. Step 0 and the others
  ran in two compiled copies, each with its own stream, and from step 1 on
  the losses were not 2.15's (10.1923, 11.2053, ...). Values measured on
  2.15."""
  hook = _LossEveryStep()
  estimator = _regressor(tmp_path, tf_random_seed=42, log_step_count_steps=1000)
  estimator.train(_train_input_fn, steps=6, hooks=[hook])
  np.testing.assert_allclose(
      hook.losses, [9.8372, 11.1590, 13.1553, 12.8612, 12.2360, 11.4621],
      atol=1e-4)
  np.testing.assert_allclose(
      estimator.evaluate(_eval_input_fn)['average_loss'], 10.974066,
      atol=1e-5)


def _graph_pbtxt(model_dir):
  with open(os.path.join(model_dir, 'graph.pbtxt')) as f:
    return text_format.Parse(f.read(), tf.compat.v1.GraphDef())


def test_the_tf1_files_hold_2_15s_random_ops_and_no_stream_state(tmp_path):
  """graph.pbtxt and the .meta show the ops the model_fn asked for, with
  their seeds, as 2.15 wrote them; the checkpoint holds the model alone."""
  estimator = _regressor(tmp_path, tf_random_seed=42)
  estimator.train(_train_input_fn, steps=2)
  graph_def = _graph_pbtxt(tmp_path)
  assert not [node for node in graph_def.node if 'Stateful' in node.op and
              node.op != 'StatefulPartitionedCall']
  random_ops = {node.name: node for node in graph_def.node
                if 'Random' in node.op and 'dropout' in node.name}
  assert sorted(random_ops) == [
      'dnn/dropout/dropout/random_uniform/RandomUniform',
      'dnn/dropout_1/dropout/random_uniform/RandomUniform']
  for node, seed2 in zip(sorted(random_ops.values(), key=lambda n: n.name),
                         (1, 3)):
    assert node.op == 'RandomUniform'
    assert [node.attr[key] for key in ('T', 'dtype')] == [
        tf.compat.v1.AttrValue(type=tf.int32.as_datatype_enum),
        tf.compat.v1.AttrValue(type=tf.float32.as_datatype_enum)]
    assert (node.attr['seed'].i, node.attr['seed2'].i) == (42, seed2)
    assert [name.split(':')[0] for name in node.input] == [
        node.name.rsplit('/', 2)[0] + '/Shape']
  placeholders = [node for node in graph_def.node if node.op == 'Placeholder'
                  and node.attr['dtype'].type == tf.int64.as_datatype_enum]
  assert not placeholders
  with tf.Graph().as_default():
    tf.compat.v1.train.import_meta_graph(
        tf.train.latest_checkpoint(str(tmp_path)) + '.meta')
  assert not [name for name in estimator.get_variable_names()
              if 'random' in name]


def _noisy_model_fn(features, labels, mode):
  """Noise of the four kinds, with and without seeds of the ops' own."""
  x = features['x']
  noise = (tf.random.normal(tf.shape(x), seed=1) +
           tf.random.truncated_normal(tf.shape(x)) +
           tf.cast(tf.random.uniform(tf.shape(x), 0, 3, dtype=tf.int32),
                   tf.float32) +
           tf.cast(tf.compat.v1.random_uniform(tf.shape(x), dtype=tf.float64,
                                               seed=5), tf.float32))
  predictions = tf.compat.v1.layers.dense(
      x + 0.1 * noise, 1, kernel_initializer=tf.compat.v1.zeros_initializer())
  loss = tf.compat.v1.losses.mean_squared_error(labels, predictions)
  tf.compat.v1.summary.scalar('mean', tf.reduce_mean(predictions))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _small_input_fn():
  x = np.arange(64, dtype=np.float32).reshape(32, 2) / 64
  return tf.data.Dataset.from_tensor_slices(
      ({'x': x}, x.sum(1, keepdims=True))).repeat().batch(4)


def test_each_kind_trains_and_is_written_as_on_2_15(tmp_path):
  """Hooked steps with and without summaries, then the loop. Values and
  graph.pbtxt's nodes as 2.15 wrote them (measured)."""
  estimator = tf.estimator.Estimator(
      _noisy_model_fn, str(tmp_path),
      config=tf.estimator.RunConfig(tf_random_seed=7, save_summary_steps=3))
  estimator.train(_small_input_fn, steps=5, hooks=[_LossEveryStep()])
  estimator.train(_small_input_fn, steps=20)
  np.testing.assert_allclose(
      estimator.get_variable_value('dense/kernel').ravel(),
      [0.45424145, 0.44145933], atol=1e-6)
  np.testing.assert_allclose(estimator.get_variable_value('dense/bias'),
                             [0.29795727], atol=1e-6)
  graph_def = _graph_pbtxt(tmp_path)
  written = {node.name: (node.op, list(node.input), node.attr['T'].type,
                         node.attr['seed'].i, node.attr['seed2'].i)
             for node in graph_def.node if node.attr['seed'].i}
  int32 = tf.int32.as_datatype_enum
  assert written == {
      'random_normal/RandomStandardNormal': (
          'RandomStandardNormal', ['Shape'], int32, 7, 1),
      'truncated_normal/TruncatedNormal': (
          'TruncatedNormal', ['Shape_1'], int32, 7, 0),
      'random_uniform': ('RandomUniformInt', [
          'Shape_2', 'random_uniform/min', 'random_uniform/max'], int32, 7, 1),
      'random_uniform_1/RandomUniform': (
          'RandomUniform', ['Shape_3'], int32, 7, 5)}
  assert graph_def.node[[n.name for n in graph_def.node].index(
      'random_uniform')].attr['Tout'].type == int32


def _unseeded_dropout_model_fn(features, labels, mode):
  x = tf.nn.dropout(features['x'], rate=0.5)
  predictions = tf.compat.v1.layers.dense(
      x, 1, kernel_initializer=tf.compat.v1.zeros_initializer())
  loss = tf.compat.v1.losses.mean_squared_error(labels[:, None], predictions)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_unseeded_dropout_begins_each_train_at_a_new_stream(tmp_path):
  """As 2.15's kernels without seeds began at random ones in each session
  (the model starts from zeros: only the masks differ)."""
  estimator = tf.estimator.Estimator(_unseeded_dropout_model_fn, str(tmp_path))
  kernels = []
  for _ in range(2):
    estimator.train(_train_input_fn, steps=1)
    kernels.append(estimator.get_variable_value('dense/kernel'))
    estimator = tf.estimator.Estimator(_unseeded_dropout_model_fn,
                                       str(tmp_path / str(len(kernels))))
  assert not np.array_equal(*kernels)


def _variable_from_a_random_op_model_fn(features, labels, mode):
  """`tf.Variable(tf.random_normal(...))`: a value the train graph computes."""
  del labels
  v = tf.Variable(tf.compat.v1.random_normal([2], seed=1), name='v')
  loss = tf.reduce_sum(features * v)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


@pytest.mark.parametrize('tf_random_seed,value', [
    (None, [-0.81131822, 1.48459876]), (1, [0.28183395, 2.38782835])])
def test_a_variable_starts_at_2_15s_draw_of_a_random_op(tmp_path,
                                                        tf_random_seed, value):
  """Its value reads the stream's state, a captured input of the graph, not
  a placeholder to feed (that error stopped tensorflow/tpu's programs'
  idiom). Values measured on 2.15."""
  estimator = tf.estimator.Estimator(
      _variable_from_a_random_op_model_fn, str(tmp_path),
      config=tf.estimator.RunConfig(tf_random_seed=tf_random_seed))
  estimator.train(lambda: tf.data.Dataset.from_tensors(
      (np.ones([2, 2], np.float32), np.ones([2], np.float32))).repeat(),
                  max_steps=1)
  np.testing.assert_allclose(estimator.get_variable_value('v'), value,
                             atol=1e-6)


def _noise_input_fn():
  """tensorflow/tpu's DCGAN idiom: a random op outside the dataset."""
  noise = tf.random.uniform([4], minval=-1, maxval=1)
  return tf.data.Dataset.range(1).repeat().map(
      lambda _: (noise, noise[0])).batch(2, drop_remainder=True)


def _mean_model_fn(features, labels, mode):
  del labels
  w = tf.compat.v1.get_variable('w', [4, 1],
                                initializer=tf.compat.v1.ones_initializer())
  loss = tf.reduce_mean(tf.matmul(features, w))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_an_input_fns_seeded_draws_are_the_same_in_every_call(tmp_path):
  """2.15 called the input_fn in a new graph each time: under
  `tf_random_seed` each call drew the same noise. Eagerly, TF kept the op's
  kernel for the process and the next call went on with its stream
  (-1.2232 at the third train()). Value measured on 2.15."""
  estimator = tf.estimator.Estimator(
      _mean_model_fn, str(tmp_path),
      config=tf.estimator.RunConfig(tf_random_seed=1))
  losses = []
  for _ in range(2):
    hook = _LossEveryStep()
    estimator.train(_noise_input_fn, steps=1, hooks=[hook])
    losses += hook.losses
    losses.append(estimator.evaluate(_noise_input_fn, steps=1)['loss'])
  np.testing.assert_allclose(losses, [-0.0955765] * 4, atol=1e-6)
