"""TPU prediction inputs with end-of-input and padding signals.

The expected batches were printed by tensorflow-estimator 2.15.0 (TF 2.15.1)
for the same dataset: 5 rows, batch size 2, padding, two batches per step.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.tpu import tpu_estimator

_X = np.arange(10, dtype=np.float32).reshape(5, 2)
_Y = np.arange(5, dtype=np.int64)


def _batches(add_padding, num_invocations_per_step=1, with_labels=True):
  """Runs the wrapped dataset to its end: per batch (x, y, stop, mask, kept)."""
  rows = []
  with tf.Graph().as_default():
    element = ({'x': _X}, _Y) if with_labels else {'x': _X}
    dataset = tf.data.Dataset.from_tensor_slices(element).batch(2)
    inputs = tpu_estimator._InputsWithStoppingSignals(
        dataset, 2, add_padding=add_padding,
        num_invocations_per_step=num_invocations_per_step)
    features, labels = inputs.features_and_labels()
    signals = inputs.signals()
    fetches = {'x': features['x'], 'stop': signals['stopping']}
    if with_labels:
      fetches['y'] = labels
    if add_padding:
      fetches['mask'] = signals['padding_mask']
      fetches['kept'] = tpu_estimator._PaddingSignals.slice_tensor_or_dict(
          features['x'], signals)
    with tf.compat.v1.Session() as sess:
      sess.run(inputs.dataset_initializer())
      while True:
        try:
          rows.append(sess.run(fetches))
        except tf.errors.OutOfRangeError:
          return rows, features['x'].shape


def test_user_batches_then_one_stop_batch():
  rows, shape = _batches(add_padding=False, with_labels=False)
  assert shape.as_list() == [None, 2]  # no padding: the batch stays dynamic
  # Signals have batch_size rows even beside the short last batch.
  assert [r['stop'].ravel().tolist() for r in rows] == [
      [False, False], [False, False], [False, False], [True, True]]
  np.testing.assert_array_equal(rows[2]['x'], _X[4:])
  np.testing.assert_array_equal(rows[3]['x'], _X[:2])  # the first batch again


def test_padding_fills_the_last_batch_and_masks_it():
  rows, shape = _batches(add_padding=True)
  assert shape.as_list() == [2, 2]  # padded: static batch size
  assert [r['mask'].tolist() for r in rows] == [[0, 0], [0, 0], [0, 1], [0, 0]]
  np.testing.assert_array_equal(rows[2]['x'], [[8., 9.], [0., 0.]])
  assert rows[2]['y'].tolist() == [4, 0]
  # Slicing keeps the real rows of the short batch, whole batches otherwise.
  np.testing.assert_array_equal(rows[2]['kept'], [[8., 9.]])
  np.testing.assert_array_equal(rows[3]['kept'], _X[:2])
  assert rows[3]['stop'].all() and not rows[2]['stop'].any()


def test_several_batches_per_step_get_masked_stop_batches():
  rows, _ = _batches(add_padding=True, num_invocations_per_step=2)
  assert len(rows) == 3 + 3  # 2 * 2 - 1 stop batches
  for row in rows[3:]:
    assert row['stop'].all() and row['mask'].tolist() == [1, 1]


def test_several_batches_per_step_need_padding():
  dataset = tf.data.Dataset.from_tensor_slices({'x': _X}).batch(2)
  with tf.Graph().as_default(), pytest.raises(ValueError,
                                              match='add_padding=True'):
    tpu_estimator._InputsWithStoppingSignals(dataset, 2,
                                             num_invocations_per_step=2)


def test_signals_follow_features_and_labels():
  with tf.Graph().as_default():
    dataset = tf.data.Dataset.from_tensor_slices({'x': _X}).batch(2)
    inputs = tpu_estimator._InputsWithStoppingSignals(dataset, 2)
    with pytest.raises(RuntimeError, match='First call features_and_labels'):
      inputs.signals()
    inputs.features_and_labels()
    with pytest.raises(RuntimeError, match='not been properly consumed'):
      inputs.features_and_labels()


def test_scalar_stop_signal():
  stop = tpu_estimator._StopSignals(stop=True, batch_size=3).as_dict()
  scalar = tpu_estimator._StopSignals.as_scalar_stopping_signal(stop)
  assert bool(tpu_estimator._StopSignals.should_stop(scalar))
  assert tpu_estimator._StopSignals.should_stop(np.bool_(False)) is False
