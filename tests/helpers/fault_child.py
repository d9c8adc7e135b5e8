"""Child process of the fault tests: trains `custom_dnn` and reports progress.

Prints `step N` after every step, `saved N` after every checkpoint, and at the
end `done N` or `error <type>: <message>`. Optional faults, armed after the
checkpoint of step `--fault-after`: `--file-size-limit` (RLIMIT_FSIZE, a
write limit) or `--fill` (a file grown until its file system is full).
"""

import argparse
import errno
import os
import resource
import signal
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # the repository root: `tests` imports
import tests.conftest  # pylint: disable=unused-import,wrong-import-position  (install() + golden paths)
from programs import custom_dnn  # pylint: disable=g-import-not-at-top,wrong-import-position


class ReportSteps(tf.estimator.SessionRunHook):
  """Also makes training run one step per call: more moments to be killed at."""

  def begin(self):
    self._step = tf.compat.v1.train.get_global_step()

  def before_run(self, run_context):
    return tf.estimator.SessionRunArgs(self._step)

  def after_run(self, run_context, run_values):
    print(f'step {run_values.results + 1}', flush=True)


class ReportSaves(tf.estimator.CheckpointSaverListener):

  def __init__(self, args):
    self._args = args

  def after_save(self, session, global_step_value):
    print(f'saved {global_step_value}', flush=True)
    if global_step_value == self._args.fault_after:
      if self._args.file_size_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (self._args.file_size_limit, resource.RLIM_INFINITY))
      if self._args.fill:
        _fill(self._args.fill)


def _fill(path):
  with open(path, 'wb', buffering=0) as f:
    try:
      while True:
        f.write(b'\0' * 4096)
    except OSError as e:
      if e.errno != errno.ENOSPC:
        raise


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('model_dir')
  parser.add_argument('--max-steps', type=int, default=100000)
  parser.add_argument('--save-steps', type=int, default=10)
  parser.add_argument('--keep', type=int, default=5)
  parser.add_argument('--fault-after', type=int, default=-1)
  parser.add_argument('--file-size-limit', type=int)
  parser.add_argument('--fill')
  args = parser.parse_args()
  config = dict(custom_dnn.RUN_CONFIG_KWARGS, save_checkpoints_steps=args.save_steps,
                keep_checkpoint_max=args.keep)
  est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=args.model_dir,
                               params=custom_dnn.PARAMS,
                               config=tf.estimator.RunConfig(**config))
  try:
    est.train(custom_dnn.train_input_fn, max_steps=args.max_steps,
              hooks=[ReportSteps()], saving_listeners=[ReportSaves(args)])
  except Exception as e:  # pylint: disable=broad-except  (reported to the test)
    print(f'error {type(e).__name__}: {e}', flush=True)
    return
  print(f'done {est.get_variable_value("global_step")}', flush=True)


if __name__ == '__main__':
  main()
