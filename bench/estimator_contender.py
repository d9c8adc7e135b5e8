"""One benchmark run of a legacy Estimator program on one workload.

Runs unchanged under tensorflow-estimator 2.15 (TF 2.15) or under
tfcompat_estimator (TF 2.16+): argv is the workload name and a scale factor
for the step counts. Prints one JSON line of measurements.
"""

import glob
import json
import os
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

from measure import peak_rss_mb, timed  # pylint: disable=g-import-not-at-top
import workloads  # pylint: disable=g-import-not-at-top


def logged_rate(model_dir, after_step):
  """Median of the global_step/sec values the Estimator logged after a step.

  Both implementations write this scalar every log_step_count_steps steps,
  timed between those steps only: the steady-state rate, without the
  checkpoints each train() call writes at its start and end (their disk time
  varies by seconds from run to run and would swamp a differential timing).
  """
  rates = []
  for path in glob.glob(os.path.join(model_dir, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'global_step/sec' and event.step > after_step:
          rates.append(value.simple_value if value.HasField('simple_value')
                       else float(tf.make_ndarray(value.tensor)))
  return statistics.median(rates) if rates else None


def train_rate(est, work, steps, hooks=None):
  start = int(est.get_variable_value('global_step'))
  seconds = timed(lambda: est.train(work.train_input_fn, steps=steps, hooks=hooks))
  # Calls shorter than two logging intervals (smoke runs) log no rate.
  return logged_rate(est.model_dir, start) or steps / seconds


def repeated_predict(est, work):
  """Medians of three predict() calls after a first one.

  Returns:
    (seconds to the first result, examples per second).
  """
  list(est.predict(work.predict_input_fn))
  latencies, rates = [], []
  for _ in range(3):
    start = time.perf_counter()
    generator = est.predict(work.predict_input_fn)
    next(generator)
    latencies.append(time.perf_counter() - start)
    count = 1 + sum(1 for _ in generator)
    rates.append(count / (time.perf_counter() - start))
  return statistics.median(latencies), statistics.median(rates)


def main(name, scale):
  baseline_rss = peak_rss_mb()
  work = workloads.WORKLOADS[name]()
  for split in ('train', 'eval', 'predict'):
    work.data(split)
  est = work.estimator(tempfile.mkdtemp(), tf.estimator.RunConfig(tf_random_seed=1))
  warm_up, steps = max(int(200 * scale), 1), max(int(2000 * scale), 2)
  results = {'tf_version': tf.__version__, 'import_rss_mb': baseline_rss}
  est.train(work.train_input_fn, steps=warm_up)  # graph building, caches
  results['train_steps_per_sec'] = train_rate(est, work, steps)
  if hasattr(work, 'hooks'):
    results['train_hooked_steps_per_sec'] = train_rate(est, work, steps, work.hooks())
    results['train_timed_hook_steps_per_sec'] = train_rate(
        est, work, steps, work.hooks(every_n_secs=1))
    results['train_every_step_hook_steps_per_sec'] = train_rate(
        est, work, steps, work.hooks(every_step=True))

  results['first_evaluate_sec'] = timed(lambda: est.evaluate(work.eval_input_fn))
  results['repeat_evaluate_sec'] = statistics.median(
      timed(lambda: est.evaluate(work.eval_input_fn)) for _ in range(3))

  (results['repeat_predict_first_result_sec'],
   results['predict_examples_per_sec']) = repeated_predict(est, work)

  results['export_sec'] = timed(lambda: est.export_saved_model(
      tempfile.mkdtemp(), work.serving_input_receiver_fn()))
  results['peak_rss_mb'] = peak_rss_mb()
  metrics = est.evaluate(work.eval_input_fn)
  results['final_step'] = int(metrics['global_step'])
  results['eval_accuracy'] = float(metrics['accuracy'])
  print(json.dumps(results))


if __name__ == '__main__':
  main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
