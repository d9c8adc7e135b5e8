"""batch_checks on run-time shapes: mixed dtypes, sparse and unknown-rank tensors."""

import pytest
import tensorflow as tf

from tfcompat_estimator import batch_checks
from tfcompat_estimator.model_fn import ModeKeys

SPECS = {
    'price': tf.TensorSpec([None, 2], tf.float32),
    'tint': tf.TensorSpec([None], tf.string),
    'shop': tf.SparseTensorSpec([None, 3], tf.int64),
    'blob': tf.TensorSpec(None, tf.int32),  # rank unknown until run time
}


def _batch(rows):
  return {
      'price': tf.zeros([rows['price'], 2]),
      'tint': tf.fill([rows['tint']], 'a'),
      'shop': tf.sparse.from_dense(tf.ones([rows['shop'], 3], tf.int64)),
      'blob': tf.zeros([rows['blob'], 4], tf.int32),
  }


def _same_batch_size(features, labels, keys):
  run = tf.function(
      lambda f, l: batch_checks.same_batch_size(f, l, keys)[1],
      input_signature=[SPECS, tf.TensorSpec([None, 1], tf.float32)])
  return run(features, labels)


# With 'blob' the sizes are stacked one by one (no static offsets).
KEYS = {'known ranks': ['price', 'shop', 'tint'], 'an unknown rank': sorted(SPECS)}


@pytest.mark.parametrize('keys', KEYS.values(), ids=KEYS.keys())
def test_equal_sizes_pass_and_the_batch_comes_through(keys):
  labels = _same_batch_size(_batch(dict.fromkeys(SPECS, 3)), tf.ones([3, 1]), keys)
  assert labels.shape == (3, 1)


@pytest.mark.parametrize('keys', KEYS.values(), ids=KEYS.keys())
def test_a_different_size_fails_listing_sizes_in_key_order(keys):
  rows = dict.fromkeys(SPECS, 3)
  rows['shop'] = 2
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    _same_batch_size(_batch(rows), tf.ones([3, 1]), keys)
  names = ', '.join([f'feature {key}' for key in keys] + ['labels'])
  sizes = ' '.join('2' if key == 'shop' else '3' for key in keys + ['labels'])
  assert f'({names}):] [{sizes}]' in str(raised.value)


def test_an_empty_batch_fails_and_a_side_tensor_does_not_count():
  empty = tf.function(
      lambda f: batch_checks.non_empty(f, None, ModeKeys.TRAIN)[0]['price'],
      input_signature=[SPECS])
  rows = dict.fromkeys(SPECS, 0)
  with pytest.raises(tf.errors.InvalidArgumentError, match='empty batch'):
    empty(_batch(rows))
  rows['blob'] = 5  # one batched tensor with rows: not an empty batch
  assert empty(_batch(rows)).shape == (0, 2)
