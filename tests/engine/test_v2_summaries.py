"""TF2 summary calls in a model_fn write nothing, as on 2.15.

TensorFlow 2.21 does not install TensorBoard, where `tf.summary.scalar` &
co live (engine/v2_summaries.py); 2.15 had it, and in a model_fn, with no
default TF2 writer, they returned False and wrote nothing (measured: the
events hold 'loss' and the TF1 summary only).
"""

import glob
import importlib.util
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

_v1 = tf.compat.v1


def _model_fn(returned):

  def model_fn(features, labels, mode):
    w = _v1.get_variable('w', [2, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(features, w) - labels))
    returned.append(tf.summary.scalar('v2_loss', loss))
    tf.summary.histogram('v2_weights', w)
    _v1.summary.scalar('v1_loss', loss)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, _v1.train.get_or_create_global_step()))

  return model_fn


def _input_fn():
  return tf.data.Dataset.from_tensors(
      (np.ones((4, 2), np.float32), np.ones((4, 1), np.float32))).repeat()


def test_tf2_summaries_in_a_model_fn_write_nothing(tmp_path):
  returned = []
  est = tf.estimator.Estimator(
      _model_fn(returned), str(tmp_path),
      config=tf.estimator.RunConfig(save_summary_steps=1))
  est.train(_input_fn, steps=3)
  assert returned[0].dtype == tf.bool
  tags = {value.tag
          for path in glob.glob(os.path.join(str(tmp_path), 'events.out.*'))
          for event in _v1.train.summary_iterator(path)
          for value in event.summary.value}
  assert tags == {'loss', 'v1_loss'}
  assert est.get_variable_value('global_step') == 3


def test_summaries_in_a_model_fn_warn_nothing(tmp_path):
  """2.15's tf.Graph built v1 summary ops silently; TF warns outside one.

  ('Cannot activate TF2 compatibility support for TF1 summary ops', a
  UserWarning per call site), which failed programs run with warnings as
  errors.
  """
  est = tf.estimator.Estimator(_model_fn([]), str(tmp_path))
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    est.train(_input_fn, steps=1)
  assert est.get_variable_value('global_step') == 1


@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is not None,
                    reason='TensorBoard is installed')
def test_outside_a_model_fn_tfs_error_names_tensorboard():
  with pytest.raises(Exception, match='TensorBoard is not installed'):
    tf.summary.scalar('x', 1.0, step=0)
