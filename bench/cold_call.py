"""One cold call of a fresh process, timed: what a user waits for first.

    python bench/cold_call.py WORKLOAD CALL MODEL_DIR

CALL is `setup` (trains MODEL_DIR for the others to read), `train` (a new
model_dir, to its first step: `train(steps=1)`), `evaluate`, `predict` (to the
first result) or `export`. The same program runs under tensorflow-estimator
2.15 and, after `install()`, under tfcompat_estimator; each contender reads a
model_dir its own stack trained. Prints one JSON line: `{"sec": ...}` for the
call alone (imports, data and the Estimator's construction excluded: they are
the same program's, timed by the demo's wall time instead).
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
except ImportError:  # tensorflow-estimator 2.15's venv
  pass

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position
import workloads  # pylint: disable=g-import-not-at-top,wrong-import-position
from measure import COLD_SETUP_STEPS, print_cold_call  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(name, call, model_dir):
  work = workloads.WORKLOADS[name]()
  for split in ('train', 'eval', 'predict'):
    work.data(split)
  config = tf.estimator.RunConfig(tf_random_seed=1)
  if call == 'train':
    model_dir = tempfile.mkdtemp()
  est = work.estimator(model_dir, config)
  calls = {
      'setup': lambda: est.train(work.train_input_fn, steps=COLD_SETUP_STEPS),
      'train': lambda: est.train(work.train_input_fn, steps=1),
      'evaluate': lambda: est.evaluate(work.eval_input_fn),
      'predict': lambda: next(est.predict(work.predict_input_fn)),
      'export': lambda: est.export_saved_model(
          tempfile.mkdtemp(), work.serving_input_receiver_fn()),
  }
  print_cold_call(calls[call], tf.__version__)


if __name__ == '__main__':
  main(*sys.argv[1:4])
