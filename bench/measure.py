"""Timing and memory helpers shared by every benchmark contender program.

Free of TensorFlow imports, so each contender decides what it loads.
"""

import resource
import time


def timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def steps_per_sec(train, small, big):
  """Differential rate: start-up and end-of-call work cancel out."""
  train(small)  # warm-up: tracing, caches
  t_small = timed(lambda: train(small))
  t_big = timed(lambda: train(big))
  return (big - small) / max(t_big - t_small, 1e-9)
