"""One benchmark run of a legacy Estimator program on one workload.

Runs unchanged under tensorflow-estimator 2.15 (TF 2.15) or under
tfcompat_estimator (TF 2.16+): argv is the workload name and a scale factor
for the step counts. Prints one JSON line of measurements.
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

if not hasattr(tf, 'estimator') or not hasattr(tf.estimator, 'Estimator'):
  sys.path.insert(0, os.path.join(HERE, '..'))
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()

import workloads  # pylint: disable=g-import-not-at-top


def timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def steps_per_sec(train, small, big):
  """Differential rate: start-up and end-of-call work cancel out."""
  train(small)  # warm-up: graph building, caches
  t_small = timed(lambda: train(small))
  t_big = timed(lambda: train(big))
  return (big - small) / max(t_big - t_small, 1e-9)


def main(name, scale):
  baseline_rss = peak_rss_mb()
  work = workloads.WORKLOADS[name]()
  for split in ('train', 'eval', 'predict'):
    work.data(split)
  est = work.estimator(tempfile.mkdtemp(), tf.estimator.RunConfig(tf_random_seed=1))
  small, big = max(int(200 * scale), 1), max(int(2000 * scale), 2)
  results = {'tf_version': tf.__version__, 'import_rss_mb': baseline_rss}
  results['train_steps_per_sec'] = steps_per_sec(
      lambda n: est.train(work.train_input_fn, steps=n), small, big)
  if hasattr(work, 'hooks'):
    results['train_hooked_steps_per_sec'] = steps_per_sec(
        lambda n: est.train(work.train_input_fn, steps=n, hooks=work.hooks()), small, big)

  results['first_evaluate_sec'] = timed(lambda: est.evaluate(work.eval_input_fn))
  results['repeat_evaluate_sec'] = statistics.median(
      timed(lambda: est.evaluate(work.eval_input_fn)) for _ in range(3))

  list(est.predict(work.predict_input_fn))
  latencies, rates = [], []
  for _ in range(3):
    start = time.perf_counter()
    generator = est.predict(work.predict_input_fn)
    next(generator)
    latencies.append(time.perf_counter() - start)
    count = 1 + sum(1 for _ in generator)
    rates.append(count / (time.perf_counter() - start))
  results['repeat_predict_first_result_sec'] = statistics.median(latencies)
  results['predict_examples_per_sec'] = statistics.median(rates)

  results['export_sec'] = timed(lambda: est.export_saved_model(
      tempfile.mkdtemp(), work.serving_input_receiver_fn()))
  results['peak_rss_mb'] = peak_rss_mb()
  metrics = est.evaluate(work.eval_input_fn)
  results['final_step'] = int(metrics['global_step'])
  results['eval_accuracy'] = float(metrics['accuracy'])
  print(json.dumps(results))


if __name__ == '__main__':
  main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
