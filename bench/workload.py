"""One benchmark run of a legacy custom-model_fn Estimator program.

Runs unchanged under tensorflow-estimator 2.15 (TF 2.15) or under
tfcompat_estimator (TF 2.16+); prints one JSON line of measurements.
"""

import json
import os
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'third_party', 'tensorflow_estimator_2_15'))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

if not hasattr(tf, 'estimator') or not hasattr(tf.estimator, 'Estimator'):
  sys.path.insert(0, os.path.join(HERE, '..'))
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()

import numpy as np  # pylint: disable=g-import-not-at-top
from programs import custom_dnn  # pylint: disable=g-import-not-at-top


def _data(n, seed):
  features, labels = custom_dnn.make_data(n, seed)
  return features, labels


def _timed(fn):
  start = time.perf_counter()
  result = fn()
  return time.perf_counter() - start, result


def main(scale):
  features, labels = _data(4096, 0)
  eval_features, eval_labels = _data(2048, 1)

  def train_input_fn():
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    return ds.repeat().batch(64)

  def eval_input_fn():
    return tf.data.Dataset.from_tensor_slices((eval_features, eval_labels)).batch(256)

  def predict_input_fn():
    return tf.data.Dataset.from_tensor_slices(
        {k: v[:512] for k, v in eval_features.items()}).batch(64)

  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=tempfile.mkdtemp(), params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(tf_random_seed=1, save_checkpoints_steps=None,
                                    save_checkpoints_secs=600))
  small, big = max(int(200 * scale), 1), max(int(2000 * scale), 2)
  est.train(train_input_fn, steps=small)  # warm-up (graph building, caches)
  t_small, _ = _timed(lambda: est.train(train_input_fn, steps=small))
  t_big, _ = _timed(lambda: est.train(train_input_fn, steps=big))
  steps_per_sec = (big - small) / max(t_big - t_small, 1e-9)

  hook = lambda: [tf.compat.v1.train.LoggingTensorHook(
      {'loss': custom_dnn.LOSS_TENSOR_NAME}, every_n_iter=100)]
  h_small, _ = _timed(lambda: est.train(train_input_fn, steps=small, hooks=hook()))
  h_big, _ = _timed(lambda: est.train(train_input_fn, steps=big, hooks=hook()))
  hooked_steps_per_sec = (big - small) / max(h_big - h_small, 1e-9)

  first_eval, _ = _timed(lambda: est.evaluate(eval_input_fn))
  repeat_eval = min(_timed(lambda: est.evaluate(eval_input_fn))[0] for _ in range(3))

  list(est.predict(predict_input_fn))

  def first_prediction():
    generator = est.predict(predict_input_fn)
    next(generator)
    return generator
  latency, generator = _timed(first_prediction)
  rest, count = _timed(lambda: 1 + sum(1 for _ in generator))
  predict_examples_per_sec = count / (latency + rest)

  feature_spec = custom_dnn.FEATURE_SPEC
  export_time, _ = _timed(lambda: est.export_saved_model(
      tempfile.mkdtemp(),
      tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)))

  print(json.dumps({
      'tf_version': tf.__version__,
      'train_steps_per_sec': steps_per_sec,
      'train_hooked_steps_per_sec': hooked_steps_per_sec,
      'first_evaluate_sec': first_eval,
      'repeat_evaluate_sec': repeat_eval,
      'repeat_predict_first_result_sec': latency,
      'predict_examples_per_sec': predict_examples_per_sec,
      'export_sec': export_time,
      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
      'final_step': int(est.get_variable_value('global_step')),
      'eval_accuracy': float(np.asarray(est.evaluate(eval_input_fn)['accuracy'])),
  }))


if __name__ == '__main__':
  main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
