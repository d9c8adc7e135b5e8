"""input_fns returning `make_one_shot_iterator(dataset).get_next()`.

The classic TF1 input_fn (tensorflow/models' get_started samples, most
tutorials of its time) returns an iterator's tensors rather than the
dataset. When a step of its graph does nothing but draw the next element,
the engine reads the dataset behind the iterator directly, so training runs
in compiled loops as for an input_fn returning the Dataset; ops computed on
its values (pure, or table lookups) are mapped over that dataset. A graph
with placeholders, variables or queues is still run step by step. Equivalence with a Dataset and with 2.15 on
whole training runs: tests/session_emulation/test_tf1_mode.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.engine import input_pipeline

_v1 = tf.compat.v1
_TRAIN = tf.estimator.ModeKeys.TRAIN
_X = np.arange(40, dtype=np.float32).reshape(20, 2)
_Y = _X.sum(axis=1, keepdims=True)


def _dataset(epochs=1):
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).repeat(
      epochs).batch(4)


def _one_shot():
  return _v1.data.make_one_shot_iterator(_dataset()).get_next()


def _placeholder_fed():
  features, labels = _one_shot()
  scale = _v1.placeholder_with_default(1.0, [])
  return {'x': features['x'] * scale}, labels


def _worked_on():
  features, labels = _one_shot()
  return {'x': features['x'] + 0.0}, labels


def _features_only():
  return _v1.data.make_one_shot_iterator(
      tf.data.Dataset.from_tensor_slices({'x': _X}).batch(4)).get_next()


def _sparse_dataset():
  ids = tf.sparse.from_dense(np.array([[1, 0, 3], [0, 0, 2]] * 10, np.int64))
  return tf.data.Dataset.from_tensor_slices(({'ids': ids, 'x': _X}, _Y)).batch(4)


def _sparse():
  return _v1.data.make_one_shot_iterator(_sparse_dataset()).get_next()


def _sparse_reshaped():
  features, labels = _sparse()
  ids = features['ids']
  wider = tf.SparseTensor(ids.indices, ids.values, [4, 10])
  return {'ids': wider, 'x': features['x']}, labels


@pytest.mark.parametrize('input_fn, reads_dataset', [
    (_one_shot, True),
    (_features_only, True),
    (_sparse, True),
    (_placeholder_fed, False),  # a hook may feed it: run in the graph
    (_worked_on, True),  # the ops after the iterator, mapped over its dataset
    (_sparse_reshaped, True),  # a SparseTensor rebuilt after it: mapped too
])
def test_an_iterator_input_is_read_as_its_dataset_if_nothing_feeds_it(input_fn,
                                                           reads_dataset):
  batches = input_pipeline.BatchSource(input_fn, _TRAIN, {},
                                       tf.estimator.RunConfig())
  try:
    assert (batches.iterator is not None) == reads_dataset
    features, _ = batches.element_spec
    assert features['x'] == tf.TensorSpec([None, 2], tf.float32)
  finally:
    batches.close()


@pytest.mark.parametrize('input_fn', [_sparse, _sparse_reshaped])
def test_sparse_batches_keep_their_values_and_dense_shape(input_fn):
  batches = input_pipeline.BatchSource(input_fn, _TRAIN, {},
                                       tf.estimator.RunConfig())
  try:
    ids = tf.nest.pack_sequence_as(batches.element_spec, batches.flat_batch(),
                                   expand_composites=True)[0]['ids']
    np.testing.assert_array_equal(ids.values, [1, 3, 2, 1, 3, 2])
    np.testing.assert_array_equal(
        ids.dense_shape, [4, 10] if input_fn is _sparse_reshaped else [4, 3])
  finally:
    batches.close()


def _summing_model_fn(features, labels, mode):
  """Adds every batch's features and labels into variables."""
  del mode
  total_x = _v1.get_variable('total_x', [], initializer=_v1.zeros_initializer())
  total_y = _v1.get_variable('total_y', [], initializer=_v1.zeros_initializer())
  loss = tf.reduce_mean(features['x']) * 0.0 + 1.0
  train_op = tf.group(
      total_x.assign_add(tf.reduce_sum(features['x'])),
      total_y.assign_add(tf.reduce_sum(labels)),
      _v1.assign_add(_v1.train.get_global_step(), 1))
  return tf.estimator.EstimatorSpec(tf.estimator.ModeKeys.TRAIN, loss=loss,
                                    train_op=train_op)


@pytest.mark.parametrize('input_fn', [_one_shot, _worked_on])
def test_every_batch_is_read_once_to_the_end_of_input(input_fn, tmp_path):
  estimator = tf.estimator.Estimator(_summing_model_fn, str(tmp_path))
  estimator.train(input_fn, steps=3)  # each call starts the input anew
  assert estimator.get_variable_value('total_x') == _X[:12].sum()
  estimator.train(input_fn)
  assert estimator.get_variable_value('global_step') == 3 + 5
  assert estimator.get_variable_value('total_x') == _X[:12].sum() + _X.sum()
  assert estimator.get_variable_value('total_y') == _Y[:12].sum() + _Y.sum()


def test_predict_and_evaluate_read_each_row_once(tmp_path):
  def model_fn(features, labels, mode):
    w = _v1.get_variable('w', [], initializer=_v1.ones_initializer())
    prediction = tf.reduce_sum(features['x'], axis=1, keepdims=True) * w
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'y': prediction})
    loss = tf.reduce_mean(tf.abs(prediction - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.assign_add(
            _v1.train.get_global_step(), 1),
        eval_metric_ops={'mean_x': _v1.metrics.mean(features['x'])})

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_one_shot, steps=1)
  predictions = [p['y'] for p in estimator.predict(_features_only)]
  np.testing.assert_allclose(np.concatenate(predictions), _Y[:, 0])
  metrics = estimator.evaluate(_one_shot)
  assert metrics['loss'] == 0.0
  assert metrics['mean_x'] == pytest.approx(_X.mean())
