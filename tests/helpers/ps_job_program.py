"""A legacy parameter-server job: every task of a TF_CONFIG cluster runs this.

    python ps_job_program.py MODEL {wide_deep|custom} MODEL_DIR MAX_STEPS

`train_and_evaluate` gives each task its role (chief, worker, ps,
evaluator). The models have a partitioned embedding, as large PS jobs did:
the canned wide & deep model through `input_layer_partitioner`, the custom
one through `get_variable(partitioner=...)`. Input is deterministic; each
worker reads its own shard when the input_fn is given an input context
(ours), else the shard of its task (2.15 gave none). Without
tfcompat_estimator installed (the 2.15 reference venv) the same program runs
on tensorflow-estimator 2.15. `evaluate` mode (no TF_CONFIG) evaluates
MODEL_DIR's latest checkpoint and prints the metrics as JSON; without
TF_CONFIG, MAX_STEPS=1 writes a starting checkpoint for jobs to share.
With PS_EPOCHS set, training runs until the input ends (no max_steps).
"""

import json
import os
import sys
import time

import numpy as np

try:
  import tfcompat_estimator
  tfcompat_estimator.install()
except ImportError:  # the 2.15 reference venv
  pass
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-order

v1 = tf.compat.v1
_VOCAB = 2000
_ROWS = 4096


def _data():
  rng = np.random.RandomState(7)
  x = rng.normal(size=(_ROWS, 4)).astype(np.float32)
  cat = rng.randint(0, 300, size=_ROWS)
  label = ((x[:, 0] + x[:, 1] * 0.5 + (cat % 3 == 0)) > 0.5).astype(np.int64)
  return {'x': x, 'cat': np.array([b'c%d' % c for c in cat])}, label[:, None]


def input_fn(training, input_context=None):
  features, labels = _data()
  dataset = tf.data.Dataset.from_tensor_slices((features, labels))
  if not training:
    return dataset.batch(256)
  shards, shard = 1, 0
  if input_context is not None:
    shards, shard = (input_context.num_input_pipelines,
                     input_context.input_pipeline_id)
  else:
    task = json.loads(os.environ.get('TF_CONFIG', '{}')).get('task', {})
    if task.get('type') in ('chief', 'worker'):
      shards, shard = 3, (0 if task['type'] == 'chief' else
                          1 + task['index'])
  # PS_EPOCHS=n: each worker's input ends after n epochs of its shard.
  epochs = int(os.environ.get('PS_EPOCHS', 0)) or None
  return dataset.shard(shards, shard).shuffle(512, seed=shard).repeat(
      epochs).batch(32)


def _columns():
  x = tf.feature_column.numeric_column('x', shape=[4])
  cat = tf.feature_column.categorical_column_with_hash_bucket('cat', _VOCAB)
  return x, cat


def wide_deep(model_dir, config):
  x, cat = _columns()
  return tf.compat.v1.estimator.DNNLinearCombinedClassifier(
      model_dir=model_dir, config=config,
      linear_feature_columns=[cat],
      dnn_feature_columns=[x, tf.feature_column.embedding_column(cat, 16)],
      dnn_hidden_units=[16],
      input_layer_partitioner=v1.min_max_variable_partitioner(
          max_partitions=2, min_slice_size=32 << 10))


def _custom_model_fn(features, labels, mode):
  ids = tf.strings.to_hash_bucket_fast(features['cat'], _VOCAB)
  table = v1.get_variable('embedding', [_VOCAB, 8],
                          initializer=v1.truncated_normal_initializer(0.1),
                          partitioner=v1.fixed_size_partitioner(2))
  net = tf.concat([features['x'], tf.nn.embedding_lookup(table, ids)], 1)
  hidden = v1.layers.dense(net, 16, tf.nn.relu, name='hidden')
  logits = v1.layers.dense(hidden, 1, name='logits')
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'logits': logits})
  loss = v1.losses.sigmoid_cross_entropy(labels, logits)
  metrics = {'accuracy': v1.metrics.accuracy(labels,
                                             tf.cast(logits > 0, tf.int64))}
  train_op = v1.train.AdagradOptimizer(0.1).minimize(
      loss, global_step=v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    eval_metric_ops=metrics)


def custom(model_dir, config):
  return tf.estimator.Estimator(_custom_model_fn, model_dir, config=config)


class _SaveStamps(tf.estimator.CheckpointSaverListener):
  """Prints `SAVED <global step> <time>` at each checkpoint (bench/ reads it)."""

  def after_save(self, session, global_step_value):
    del session
    print(f'SAVED {global_step_value} {time.time():.3f}', flush=True)


def main(model, model_dir, max_steps):
  # PS_STRATEGY=v1: every task names 2.15's strategy, as some jobs did.
  strategy = (tf.compat.v1.distribute.experimental.ParameterServerStrategy()
              if os.environ.get('PS_STRATEGY') == 'v1' else None)
  config = tf.estimator.RunConfig(save_checkpoints_steps=max(1, max_steps // 2),
                                  log_step_count_steps=100, tf_random_seed=42,
                                  train_distribute=strategy)
  estimator = {'wide_deep': wide_deep, 'custom': custom}[model](model_dir,
                                                                 config)
  if max_steps == 0:  # evaluate the latest checkpoint, here, alone
    metrics = estimator.evaluate(lambda: input_fn(False))
    print(json.dumps({k: float(v) for k, v in metrics.items()}))
    return
  tf.estimator.train_and_evaluate(
      estimator,
      tf.estimator.TrainSpec(
          lambda input_context=None: input_fn(True, input_context),
          max_steps=None if os.environ.get('PS_EPOCHS') else max_steps,
          saving_listeners=[_SaveStamps()]),
      tf.estimator.EvalSpec(lambda: input_fn(False), steps=None,
                            start_delay_secs=0, throttle_secs=1))
  print('TASK DONE', flush=True)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
