"""Timing and memory helpers shared by every benchmark contender program.

Free of TensorFlow imports, so each contender decides what it loads.
"""

import json
import resource
import time

# Steps the cold-start benchmark trains a model_dir for before the first
# evaluate, predict and export of a fresh process read it.
COLD_SETUP_STEPS = 200


def timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def print_cold_call(fn, tf_version):
  """Times `fn()` and prints a cold call's JSON line: its seconds, the TF."""
  print(json.dumps({'sec': timed(fn), 'tf_version': tf_version}))


def peak_rss_mb():
  """Peak resident memory of this process image.

  Linux's VmHWM, not ru_maxrss: ru_maxrss survives exec, so a contender
  started by a driver that had imported TensorFlow would report the driver's
  peak as its own.
  """
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def steps_per_sec(train, small, big):
  """Differential rate: start-up and end-of-call work cancel out."""
  train(small)  # warm-up: tracing, caches
  t_small = timed(lambda: train(small))
  t_big = timed(lambda: train(big))
  return (big - small) / max(t_big - t_small, 1e-9)
