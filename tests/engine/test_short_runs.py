"""Graphs captured for training runs too short to pay for a compile.

`engine/short_runs.py`: model code that would compile (canned RNNs through
XLA, `tests/canned/test_compiled_rnn.py`) builds its plain graph for a short
run; a longer run captures such a graph again. A graph whose code skipped
nothing serves every run, as before.
"""

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import short_runs

v1 = tf.compat.v1


def test_a_run_is_short_when_its_known_length_is_under_the_bound(monkeypatch):
  monkeypatch.setattr(short_runs, 'SHORT_RUN_STEPS', 5)
  assert short_runs.is_short(4, None) and short_runs.is_short(None, 4)
  assert not short_runs.is_short(5, None)
  assert not short_runs.is_short(None, None)  # until the input ends


def test_skip_compile_answers_and_records_only_inside_a_short_capture():
  assert not short_runs.skip_compile()  # model code run by itself
  with short_runs.capturing(False) as capture:
    assert not short_runs.skip_compile()
  assert not capture.skipped_compiles
  with short_runs.capturing(True) as capture:
    assert not capture.skipped_compiles
    assert short_runs.skip_compile()
  assert capture.skipped_compiles


def test_a_graph_that_skipped_nothing_serves_a_longer_run(tmp_path, monkeypatch):
  """A model without such code is captured once, short run or long."""
  monkeypatch.setattr(short_runs, 'SHORT_RUN_STEPS', 5)
  calls = []

  def model_fn(features, labels, mode):
    calls.append(mode)
    w = v1.get_variable('w', [], initializer=v1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_or_create_global_step()))

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  input_fn = lambda: tf.data.Dataset.from_tensors(
      ({'x': np.float32([1, 2])}, np.float32([1, 2]))).repeat()
  est.train(input_fn, steps=2)
  est.train(input_fn, steps=6)
  assert calls == ['train']
  assert est.get_variable_value('global_step') == 8
