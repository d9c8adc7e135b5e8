"""Child processes of the distributed-training tests.

Strategies configure the process's devices and cluster once, so every
scenario runs in its own interpreter and prints one JSON line of results:

  distributed_child.py local <model_dir> <model> <replicas> <steps>
    <model> trained without a strategy, then with MirroredStrategy over
    <replicas> logical CPUs.
  distributed_child.py tf1_gpu <model_dir> <steps>
    A TF1 program (`disable_v2_behavior()`) training the custom model under
    MirroredStrategy(['/gpu:0']) and OneDeviceStrategy('/gpu:0') on a host
    without a GPU, as tensorflow/models' official r1 programs do by default,
    then a DNNClassifier of other shapes under a new MirroredStrategy.
  distributed_child.py cluster <model_dir> <max_steps>
    One task of the TF_CONFIG job in the environment: train_and_evaluate of a
    canned DNNClassifier under MultiWorkerMirroredStrategy.
  distributed_child.py tf1_cluster <model_dir> <max_steps>
    The same job as TensorFlow's multi-worker Estimator tutorial writes it:
    `disable_eager_execution()`, then the strategy, then train_and_evaluate
    of the custom model; the chief evaluates the result.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # the repository root: `tests` imports
import tests.conftest  # pylint: disable=unused-import,wrong-import-position  (install())
import tf_keras  # pylint: disable=wrong-import-position

_FEATURES = 4
_BATCH = 32


def _data(seed, n):
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(n, _FEATURES)).astype(np.float32)
  y = (x @ np.array([1.0, -2.0, 0.5, 1.5], np.float32) > 0).astype(np.int64)
  sign = np.where(x[:, 3] > 0, b'up', b'down')  # a categorical view of x[3]
  return {'x': x, 'sign': sign}, y.reshape(-1, 1)


def train_input_fn(input_context=None):
  dataset = tf.data.Dataset.from_tensor_slices(_data(0, 2048))
  if input_context is not None:  # each worker reads its own part, as in 2.15
    dataset = dataset.shard(input_context.num_input_pipelines,
                            input_context.input_pipeline_id)
  return dataset.shuffle(256, seed=1).repeat().batch(_BATCH)


def eval_input_fn():
  return tf.data.Dataset.from_tensor_slices(_data(1, 512)).batch(128)


def custom_model_fn(features, labels, mode):
  v1 = tf.compat.v1
  hidden = v1.layers.dense(features['x'], 8, activation=tf.nn.relu)
  logits = v1.layers.dense(hidden, 1)
  loss = v1.losses.sigmoid_cross_entropy(labels, logits)
  if mode == tf.estimator.ModeKeys.EVAL:
    predicted = tf.cast(logits > 0, tf.int64)
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
        'accuracy': v1.metrics.accuracy(labels, predicted)})
  train_op = v1.train.AdagradOptimizer(0.3).minimize(
      loss, global_step=v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def make_estimator(model, model_dir, config):
  columns = [tf.feature_column.numeric_column('x', shape=_FEATURES)]
  if model == 'custom':
    return tf.estimator.Estimator(custom_model_fn, model_dir, config)
  if model == 'wide_deep':
    sign = tf.feature_column.categorical_column_with_vocabulary_list(
        'sign', [b'up', b'down'])
    crossed = tf.feature_column.crossed_column(
        ['sign', tf.feature_column.bucketized_column(columns[0], [0.0])], 16)
    return tf.estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir, config=config, linear_feature_columns=[crossed],
        dnn_feature_columns=columns + [tf.feature_column.embedding_column(sign, 2)],
        dnn_hidden_units=[8],
        dnn_optimizer=lambda: tf.keras.optimizers.legacy.Adagrad(0.3))
  if model == 'keras':
    # model_to_estimator's default format keys checkpoints by object path;
    # under the strategy each replica builds its clone in the same graph.
    inputs = tf_keras.layers.Input(shape=(_FEATURES,), name='x')
    hidden = tf_keras.layers.Dense(8, activation='relu')(inputs)
    model = tf_keras.Model(
        inputs, tf_keras.layers.Dense(1, activation='sigmoid')(hidden))
    model.compile(optimizer=tf_keras.optimizers.legacy.Adagrad(0.3),
                  loss='binary_crossentropy', metrics=['accuracy'])
    return tf_keras.estimator.model_to_estimator(
        keras_model=model, model_dir=model_dir, config=config)
  if model == 'dnn_v1':
    return tf.compat.v1.estimator.DNNClassifier(
        [8], columns, model_dir=model_dir, config=config,
        optimizer=lambda: tf.compat.v1.train.AdagradOptimizer(0.3))
  return tf.estimator.DNNClassifier(
      [8], columns, model_dir=model_dir, config=config,
      optimizer=lambda: tf.keras.optimizers.legacy.Adagrad(learning_rate=0.3))


def _results(estimator):
  metrics = estimator.evaluate(eval_input_fn)
  return dict(accuracy=float(metrics['accuracy']), loss=float(metrics['loss']),
              global_step=int(metrics['global_step']),
              variables=estimator.get_variable_names())


def run_local(model_dir, model, replicas, steps):
  """Trains `model` without a strategy and with `replicas` mirrored CPUs."""
  replicas = int(replicas)
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
  results = {}
  for name, strategy in (('single', None), ('mirrored', tf.distribute.MirroredStrategy(
      [f'/cpu:{i}' for i in range(replicas)]))):
    config = tf.estimator.RunConfig(train_distribute=strategy, tf_random_seed=7,
                                    save_checkpoints_steps=50)
    estimator = make_estimator(model, os.path.join(model_dir, name), config)
    estimator.train(train_input_fn, steps=int(steps))
    results[name] = _results(estimator)
  print(json.dumps(results), flush=True)


def run_tf1_gpu(model_dir, steps):
  """2.15's sessions placed softly: a missing GPU meant the CPU."""
  tf.compat.v1.disable_v2_behavior()
  results = {'gpus': len(tf.config.list_physical_devices('GPU'))}
  for name, strategy in (
      ('mirrored', tf.compat.v1.distribute.MirroredStrategy(['/gpu:0'])),
      ('one_device', tf.compat.v1.distribute.OneDeviceStrategy('/gpu:0')),
      # A model of other shapes under a strategy of its own, in the same
      # process (tensorflow/models' ResNet tests train two ResNets so).
      ('mirrored_again', tf.compat.v1.distribute.MirroredStrategy(['/gpu:0']))):
    config = tf.estimator.RunConfig(train_distribute=strategy, tf_random_seed=7)
    path = os.path.join(model_dir, name)
    if name == 'mirrored_again':
      estimator = tf.compat.v1.estimator.DNNClassifier(
          [16, 8], [tf.feature_column.numeric_column('x', shape=_FEATURES)],
          model_dir=path, config=config,
          optimizer=lambda: tf.compat.v1.train.AdagradOptimizer(0.3))
    else:
      estimator = make_estimator('custom', path, config)
    estimator.train(train_input_fn, steps=int(steps))
    results[name] = _results(estimator)
  print(json.dumps(results), flush=True)


def run_cluster(model_dir, max_steps):
  task = json.loads(os.environ['TF_CONFIG'])['task']
  strategy = tf.distribute.MultiWorkerMirroredStrategy()
  config = tf.estimator.RunConfig(train_distribute=strategy, tf_random_seed=7,
                                  save_checkpoints_steps=40)
  estimator = make_estimator('dnn_v2', model_dir, config)
  columns = [tf.feature_column.numeric_column('x', shape=_FEATURES)]
  serving_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
      tf.feature_column.make_parse_example_spec(columns))
  tf.estimator.train_and_evaluate(
      estimator,
      tf.estimator.TrainSpec(train_input_fn, max_steps=int(max_steps)),
      tf.estimator.EvalSpec(
          eval_input_fn, steps=None, start_delay_secs=0, throttle_secs=1,
          exporters=[tf.estimator.LatestExporter('latest', serving_fn)]))
  if task['type'] == 'evaluator':
    print(json.dumps(_results(estimator)), flush=True)


def run_tf1_cluster(model_dir, max_steps):
  tf.compat.v1.disable_eager_execution()
  strategy = tf.distribute.MultiWorkerMirroredStrategy()
  config = tf.estimator.RunConfig(train_distribute=strategy, tf_random_seed=7)
  estimator = make_estimator('custom', model_dir, config)
  tf.estimator.train_and_evaluate(
      estimator,
      tf.estimator.TrainSpec(train_input_fn, max_steps=int(max_steps)),
      tf.estimator.EvalSpec(eval_input_fn))
  if config.is_chief:
    print(json.dumps(_results(estimator)), flush=True)


if __name__ == '__main__':
  tf.get_logger().setLevel('INFO')
  {'local': run_local, 'tf1_gpu': run_tf1_gpu, 'cluster': run_cluster,
   'tf1_cluster': run_tf1_cluster}[sys.argv[1]](*sys.argv[2:])
