"""Trains and evaluates canned estimators on small real data sets.

Runs unchanged under tensorflow-estimator 2.15 (TF 2.15) or tfcompat_estimator
(TF 2.16+). argv: the .npz written by canned_accuracy.py, the tf_random_seed,
optionally a comma-separated list of model names to run.
Prints one JSON line: per model, its eval metrics and train/eval seconds.
"""

import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

if not hasattr(tf, 'estimator') or not hasattr(tf.estimator, 'Estimator'):
  sys.path.insert(0, os.path.join(HERE, '..'))
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()

import numpy as np  # pylint: disable=g-import-not-at-top

BATCH = 32
STEPS = 1000


def _columns(n):
  return [tf.feature_column.numeric_column(f'f{i}') for i in range(n)]


def _input_fn(x, y, train, seed):
  features = {f'f{i}': x[:, i] for i in range(x.shape[1])}

  def input_fn():
    ds = tf.data.Dataset.from_tensor_slices((features, y))
    if train:
      ds = ds.shuffle(len(y), seed=seed).repeat()
    return ds.batch(BATCH)

  return input_fn


def _adam():
  return tf.keras.optimizers.legacy.Adam(learning_rate=0.01)


# name -> (data set, builder(model_dir, config, feature_columns))
MODELS = {
    'DNNClassifier': ('breast_cancer', lambda d, c, cols: tf.estimator.DNNClassifier(
        [32, 16], cols, model_dir=d, config=c, optimizer=_adam)),
    'LinearClassifier': ('breast_cancer', lambda d, c, cols: tf.estimator.LinearClassifier(
        cols, model_dir=d, config=c)),
    'DNNLinearCombinedClassifier': (
        'breast_cancer', lambda d, c, cols: tf.estimator.DNNLinearCombinedClassifier(
            linear_feature_columns=cols, dnn_feature_columns=cols,
            dnn_hidden_units=[32, 16], dnn_optimizer=_adam, model_dir=d, config=c)),
    'v1.DNNClassifier, 3 classes': ('wine', lambda d, c, cols: tf.compat.v1.estimator.DNNClassifier(
        [32], cols, n_classes=3, model_dir=d, config=c)),
    'DNNRegressor': ('diabetes', lambda d, c, cols: tf.estimator.DNNRegressor(
        [32, 16], cols, model_dir=d, config=c, optimizer=_adam)),
    'LinearRegressor': ('diabetes', lambda d, c, cols: tf.estimator.LinearRegressor(
        cols, model_dir=d, config=c)),
}


def main(data_path, seed, only=None):
  data = np.load(data_path)
  results = {}
  for name, (dataset, build) in MODELS.items():
    if only and name not in only:
      continue
    x_train, y_train = data[dataset + '_x_train'], data[dataset + '_y_train']
    x_test, y_test = data[dataset + '_x_test'], data[dataset + '_y_test']
    config = tf.estimator.RunConfig(
        tf_random_seed=seed, save_checkpoints_steps=STEPS,
        save_summary_steps=STEPS, log_step_count_steps=STEPS)
    estimator = build(tempfile.mkdtemp(), config, _columns(x_train.shape[1]))
    print(f'training {name}', file=sys.stderr, flush=True)
    start = time.perf_counter()
    estimator.train(_input_fn(x_train, y_train, True, seed), steps=STEPS)
    train_sec = time.perf_counter() - start
    start = time.perf_counter()
    metrics = estimator.evaluate(_input_fn(x_test, y_test, False, seed))
    eval_sec = time.perf_counter() - start
    results[name] = {
        'metrics': {k: float(v) for k, v in metrics.items()},
        'train_sec': train_sec, 'eval_sec': eval_sec}
  print(json.dumps({'tf_version': tf.__version__, 'results': results}))


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), sys.argv[3].split(',') if len(sys.argv) > 3 else None)
