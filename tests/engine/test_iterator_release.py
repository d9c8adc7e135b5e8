"""A finished call's iterator is dropped off the caller's thread.

TF 2.21 can take up to a minute to destroy a tf.data iterator (its
autotuning thread sleeping out a missed stop; `engine/iterator_release.py`),
which held train() that long after its last step. The race itself cannot be
provoked on demand, so these tests stand in a slow destructor for it.
"""

import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator.engine import iterator_release


class _SlowToDestroy:
  """Takes `seconds` to be destroyed, as a TF iterator may."""

  def __init__(self, seconds, destroyed, threads=None):
    self._seconds = seconds
    self._destroyed = destroyed
    self._threads = threads if threads is not None else []

  def __del__(self):
    self._threads.append(threading.current_thread().name)
    time.sleep(self._seconds)
    self._destroyed.set()


def test_an_old_iterator_is_dropped_without_waiting_for_it():
  destroyed = threading.Event()
  start = time.perf_counter()
  iterator_release.release(_SlowToDestroy(1.0, destroyed),
                           created=time.monotonic() - 5)
  assert time.perf_counter() - start < 0.5
  assert not destroyed.is_set()
  assert destroyed.wait(timeout=10)  # ... and it does end, on the other thread


def test_the_release_thread_waits_for_a_caller_that_lets_go_late():
  # The thread can take the iterator before release() has returned; had it
  # dropped its reference then, the caller's would be the last one and the
  # destructor's wait would run on the caller's thread after all.
  destroyed = threading.Event()
  threads = []
  iterator = _SlowToDestroy(0, destroyed, threads)
  iterator_release.release(iterator, created=time.monotonic() - 5)
  time.sleep(0.2)  # long enough for the thread to have taken it
  del iterator
  assert destroyed.wait(timeout=10)
  assert threads == ['tfcompat_iterator_release']


def test_a_young_iterator_is_dropped_at_once():
  # Its wait can last no longer than it lived; handing every predict()'s
  # iterator to the thread would keep several iterators' threads alive.
  destroyed = threading.Event()
  iterator_release.release(_SlowToDestroy(0, destroyed),
                           created=time.monotonic())
  assert destroyed.is_set()


@pytest.fixture
def released(monkeypatch):
  """Weak references to the iterators handed to `iterator_release`."""
  handed = []
  release = iterator_release.release
  monkeypatch.setattr(
      iterator_release, 'release',
      lambda it, created: (handed.append(weakref.ref(it)),
                           release(it, created)))
  return handed


def _assert_dropped_soon(reference):
  deadline = time.monotonic() + 10
  while reference() is not None and time.monotonic() < deadline:
    time.sleep(0.01)
  assert reference() is None


def test_closing_a_batch_source_releases_its_iterator(released):
  batches = input_pipeline.BatchSource(
      lambda: tf.data.Dataset.from_tensor_slices(
          ({'x': np.arange(8.)}, np.arange(8.))).batch(2),
      tf.estimator.ModeKeys.TRAIN, {}, tf.estimator.RunConfig())
  next(batches.iterator)
  dropped = weakref.ref(batches.iterator)
  batches.close()
  assert batches.iterator is None
  assert released == [dropped]
  _assert_dropped_soon(dropped)


def test_closing_an_input_graph_releases_its_one_shot_iterators(released):
  """A graph run step by step (a placeholder_with_default stops the mapping)."""

  def input_fn():
    dataset = tf.data.Dataset.from_tensor_slices(
        ({'x': np.arange(8.)}, np.arange(8.))).batch(2)
    features, labels = tf.compat.v1.data.make_one_shot_iterator(
        dataset).get_next()
    scale = tf.compat.v1.placeholder_with_default(
        tf.constant(1.0, tf.float64), [])
    return {'x': features['x'] * scale}, labels

  with tf.Graph().as_default():  # a TF1 caller: input_fn runs in a graph
    batches = input_pipeline.BatchSource(
        input_fn, tf.estimator.ModeKeys.TRAIN, {}, tf.estimator.RunConfig())
  assert batches.iterator is None  # drawn step by step in the graph
  np.testing.assert_array_equal(batches.flat_batch()[0], [0., 1.])
  batches.close()
  assert len(released) == 1
  _assert_dropped_soon(released[0])


_ABANDONED_PREDICT = textwrap.dedent("""
    import tempfile, time
    import tensorflow as tf
    import tfcompat_estimator
    tfcompat_estimator.install()

    def model_fn(features, labels, mode):
      w = tf.compat.v1.get_variable('w', [1, 1])
      return tf.estimator.EstimatorSpec(
          mode, predictions={'y': tf.matmul(features['x'], w)})

    def main():
      est = tf.estimator.Estimator(model_fn, tempfile.mkdtemp())
      results = est.predict(
          lambda: tf.data.Dataset.from_tensors({'x': [[1.0]]}).repeat())
      for i, _ in enumerate(results):
        if i == 3:
          time.sleep(0.3)  # an iterator old enough to hand off
          break
      raise ValueError('the program failed')

    main()
""")


def test_a_predict_left_open_by_a_failed_program_does_not_hang_its_exit():
  """The uncaught error keeps the generator's frame alive until the
  interpreter finalizes; closed then, its iterator was handed to a thread
  that could not start, and the process hung (NVIDIA's Wide&Deep)."""
  proc = subprocess.run(
      [sys.executable, '-c', _ABANDONED_PREDICT], capture_output=True,
      text=True, timeout=60, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'ValueError: the program failed' in proc.stderr
