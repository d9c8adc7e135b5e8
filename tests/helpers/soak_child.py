"""Child process for the soak tests: repeats work and reports resource samples.

It runs in a fresh interpreter so that resident memory reflects this workload
only, not whatever earlier tests allocated in the pytest process.

  soak_child.py inference MODEL_DIR ROUNDS_PREDICT ROUNDS_EVALUATE
  soak_child.py legacy_input MODEL_DIR EVALUATES
  soak_child.py train MODEL_DIR STEPS SAMPLE_EVERY
  soak_child.py hooked_train MODEL_DIR CALLS

The last stdout line is a JSON object:
  inference: {"predict": [sample], "evaluate": [sample]}, one sample per
    round; a round calls predict() (evaluate()) on a canned DNNClassifier and
    on a custom model_fn Estimator;
  legacy_input: {"evaluate": [sample]}, one per evaluate() of an input_fn
    that returns one-shot-iterator tensors;
  train: {"samples": [sample], "seconds": float}, one sample per checkpoint
    save of a long training run;
  hooked_train: {"train": [sample]}, one per train() call of 2 steps with a
    hook that builds a read of the global step in begin();
A sample is {"rss_kb", "os_threads", "py_threads", "fds"} and its "round",
"call" or "step".
"""

import gc
import json
import os
import sys
import threading
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # the repository root: `tests` imports
import tests.conftest  # pylint: disable=unused-import,wrong-import-position  (install() + golden paths)

_ROWS = 32
_BATCH = 8
_VOCAB = ['red', 'green', 'blue']


def resources():
  """Resident memory, Python and OS threads, open file descriptors."""
  status = {}
  with open('/proc/self/status') as f:
    for line in f:
      key, _, value = line.partition(':')
      status[key] = value.split()
  return {'rss_kb': int(status['VmRSS'][0]),
          'os_threads': int(status['Threads'][0]),
          'py_threads': threading.active_count(),
          'fds': len(os.listdir('/proc/self/fd'))}


def _data():
  rng = np.random.RandomState(0)
  features = {f'x{i}': rng.randn(_ROWS).astype(np.float32) for i in range(4)}
  features['color'] = np.array([_VOCAB[i % 3] for i in range(_ROWS)])
  labels = (features['x0'] + features['x1'] > 0).astype(np.int32)
  return features, labels


def _dataset_input_fn(with_labels, epochs):
  features, labels = _data()

  def input_fn():
    data = (features, labels) if with_labels else features
    return tf.data.Dataset.from_tensor_slices(data).repeat(epochs).batch(_BATCH)

  return input_fn


def _canned(model_dir):
  columns = [tf.feature_column.numeric_column(f'x{i}') for i in range(4)]
  columns.append(tf.feature_column.indicator_column(
      tf.feature_column.categorical_column_with_vocabulary_list('color', _VOCAB)))
  return tf.estimator.DNNClassifier(
      hidden_units=[8, 4], feature_columns=columns,
      model_dir=os.path.join(model_dir, 'canned'),
      config=tf.estimator.RunConfig(tf_random_seed=1))


def _custom_model_fn(features, labels, mode):
  red = tf.cast(tf.equal(features['color'], 'red'), tf.float32)
  inputs = tf.stack([features[f'x{i}'] for i in range(4)] + [red], axis=1)
  hidden = tf.compat.v1.layers.dense(inputs, 8, activation=tf.nn.relu)
  logits = tf.squeeze(tf.compat.v1.layers.dense(hidden, 1), axis=1)
  predictions = {'logit': logits, 'class': tf.cast(logits > 0, tf.int32)}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions=predictions)
  loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
  train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  metrics = {'accuracy': tf.compat.v1.metrics.accuracy(labels,
                                                       predictions['class'])}
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    predictions=predictions,
                                    eval_metric_ops=metrics)


def _custom(model_dir, name='custom'):
  return tf.estimator.Estimator(_custom_model_fn,
                                model_dir=os.path.join(model_dir, name))


def inference(model_dir, predict_rounds, evaluate_rounds):
  """Predicts, then evaluates, round after round on two trained estimators.

  The canned estimator reads a Dataset, so its evaluation runs in the
  compiled loop; the custom one reads numpy_input_fn and evaluates with a
  hook, one step per call. predict() always runs hooked steps.
  """
  features, labels = _data()
  estimators = {'canned': _canned(model_dir), 'custom': _custom(model_dir)}
  predict_fns = {
      'canned': _dataset_input_fn(False, 1),
      'custom': tf.compat.v1.estimator.inputs.numpy_input_fn(
          features, batch_size=_BATCH, num_epochs=1, shuffle=False)}
  evaluate_fns = {
      'canned': _dataset_input_fn(True, None),
      'custom': tf.compat.v1.estimator.inputs.numpy_input_fn(
          features, labels, batch_size=_BATCH, num_epochs=None, shuffle=False)}
  evaluate_hooks = {'canned': [], 'custom': [tf.estimator.SessionRunHook()]}
  for est in estimators.values():
    est.train(_dataset_input_fn(True, None), steps=20)
  report = {'predict': [], 'evaluate': []}
  for round_ in range(predict_rounds):
    for key, est in estimators.items():
      outputs = list(est.predict(predict_fns[key]))
      assert len(outputs) == _ROWS, (key, len(outputs))
    report['predict'].append(dict(resources(), round=round_))
  for round_ in range(evaluate_rounds):
    for key, est in estimators.items():
      metrics = est.evaluate(evaluate_fns[key], steps=2,
                             hooks=evaluate_hooks[key])
      assert metrics['global_step'] == 20, (key, metrics)
    report['evaluate'].append(dict(resources(), round=round_))
  return report


def legacy_input(model_dir, evaluates):
  """Evaluates with a TF1 input_fn: tensors from a one-shot iterator.

  The data (20,000 rows) is large enough that keeping a copy of it per call
  shows as megabytes. It is one float array, split into features in the
  pipeline: TF itself (2.15 too) keeps part of every tf.Graph built from
  several large numpy arrays or string constants, which is not what this
  measures.
  """
  rng = np.random.RandomState(0)
  table = rng.randn(20000, 6).astype(np.float32)  # x0..x3, color id, label

  def to_features(rows):
    features = {f'x{i}': rows[:, i] for i in range(4)}
    color_id = tf.cast(tf.abs(rows[:, 4]) * 10, tf.int32) % len(_VOCAB)
    features['color'] = tf.gather(tf.constant(_VOCAB), color_id)
    return features, tf.cast(rows[:, 5] > 0, tf.int32)

  def input_fn():
    dataset = tf.data.Dataset.from_tensor_slices(table).repeat().batch(_BATCH)
    dataset = dataset.map(to_features)
    return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

  est = _custom(model_dir, 'legacy_input')
  est.train(_dataset_input_fn(True, None), steps=20)
  samples = []
  for call in range(evaluates):
    metrics = est.evaluate(input_fn, steps=2)
    assert metrics['global_step'] == 20, metrics
    # Each call's input tf.Graph is garbage in reference cycles, which only a
    # full collection frees (Python runs one when enough objects pile up);
    # what survives a full collection is what leaks.
    gc.collect()
    samples.append(dict(resources(), call=call))
  return {'evaluate': samples}


class _Sampler(tf.estimator.CheckpointSaverListener):
  """Takes a resource sample at every checkpoint save."""

  def __init__(self):
    self.samples = []

  def after_save(self, session, global_step_value):
    del session  # unused
    self.samples.append(dict(resources(), step=int(global_step_value)))


def _linear_model_fn(features, labels, mode):
  prediction = tf.compat.v1.layers.dense(features, 1)
  loss = tf.compat.v1.losses.mean_squared_error(labels, prediction)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.01).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _linear_input_fn():
  x = np.random.RandomState(0).randn(64, 2).astype(np.float32)
  y = x @ np.array([[1.0], [-2.0]], np.float32) + 0.5
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(1).repeat()


def train(model_dir, steps, sample_every):
  """Trains a tiny linear model one example per step, sampling per save.

  Summaries (every 100 steps) and compiled loops (100 steps) keep their
  defaults, so the run makes one loop call and one summary write per 100
  steps; a LoggingTensorHook logs the loss at each sample.
  """
  config = tf.estimator.RunConfig(
      save_checkpoints_steps=sample_every, log_step_count_steps=sample_every,
      keep_checkpoint_max=2)
  est = tf.estimator.Estimator(_linear_model_fn, model_dir=model_dir,
                               config=config)
  sampler = _Sampler()
  logging_hook = tf.estimator.LoggingTensorHook(
      {'step': 'global_step'}, every_n_iter=sample_every)
  start = time.perf_counter()
  est.train(_linear_input_fn, steps=steps, hooks=[logging_hook],
            saving_listeners=[sampler])
  return {'samples': sampler.samples, 'seconds': time.perf_counter() - start}


class _StepReader(tf.estimator.SessionRunHook):
  """Builds ops in begin(), as many hooks do: a new read every call."""

  def begin(self):
    self._doubled = tf.identity(tf.compat.v1.train.get_global_step()) * 2

  def before_run(self, run_context):
    return tf.estimator.SessionRunArgs(self._doubled)


def hooked_train(model_dir, calls):
  """train() call after call, each with a hook that builds ops in begin()."""
  est = tf.estimator.Estimator(_linear_model_fn, model_dir=model_dir)
  samples = []
  for call in range(calls):
    est.train(_linear_input_fn, steps=2, hooks=[_StepReader()])
    # Each call leaves about 1 MB of reference cycles (graph objects) that
    # the collector's full pass frees, every few dozen calls: sampled
    # between passes, the test failed by chance (a fresh venv's run,
    # 2026-11-27). Collected first, 60 calls grow by about 30 KB a call.
    gc.collect()
    samples.append(dict(resources(), call=call))
  return {'train': samples}


def main(mode, model_dir, *counts):
  modes = {'inference': inference, 'legacy_input': legacy_input,
           'train': train, 'hooked_train': hooked_train}
  if mode not in modes:
    raise ValueError(f'Unknown mode {mode!r}; expected one of {sorted(modes)}.')
  print(json.dumps(modes[mode](model_dir, *map(int, counts))))


if __name__ == '__main__':
  main(*sys.argv[1:])
