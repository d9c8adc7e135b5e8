"""Evaluation names cannot write outside model_dir; exporter names are
paths, as in 2.15.

assets_extra destinations are covered in test_export_serving.py.
"""

import os

import pytest
import tensorflow as tf

from programs import custom_dnn


def test_exporter_name_may_nest_inside_the_export_dir():
  assert tf.estimator.LatestExporter(
      'serving/v1', custom_dnn.serving_input_receiver_fn).name == 'serving/v1'


@pytest.mark.parametrize('exporter_class', ['LatestExporter', 'FinalExporter'])
def test_an_absolute_exporter_name_is_where_exports_go(tmp_path, exporter_class):
  """As in 2.15: the name is joined to <model_dir>/export, so an absolute
  one stands for itself (kubeflow's mnist example passes its
  --tf-export-dir so; measured on 2.15 with both exporters)."""
  destination = str(tmp_path / 'serving')
  exporter = getattr(tf.estimator, exporter_class)(
      destination, custom_dnn.serving_input_receiver_fn)
  est = tf.estimator.Estimator(custom_dnn.model_fn, str(tmp_path / 'model'),
                               params=custom_dnn.PARAMS)
  tf.estimator.train_and_evaluate(
      est, tf.estimator.TrainSpec(custom_dnn.train_input_fn, max_steps=2),
      tf.estimator.EvalSpec(custom_dnn.eval_input_fn, steps=1,
                            exporters=exporter, throttle_secs=0))
  exports = os.listdir(destination)
  assert len(exports) == 1 and exports[0].isdigit()
  assert tf.io.gfile.exists(
      os.path.join(destination, exports[0], 'saved_model.pb'))
  assert not tf.io.gfile.exists(os.path.join(est.model_dir, 'export'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  sandbox = tmp_path_factory.mktemp('sandbox')
  est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=str(sandbox / 'model'),
                               params=custom_dnn.PARAMS)
  est.train(custom_dnn.train_input_fn, max_steps=2)
  return est, sandbox


@pytest.mark.parametrize('name', ['x/../../..', '/../../x', 'a/../../../x'])
def test_evaluation_name_cannot_leave_the_model_dir(trained, name):
  est, sandbox = trained
  before = sorted(os.listdir(sandbox))
  with pytest.raises(ValueError, match='Evaluation directory .* must be a relative path'):
    est.evaluate(custom_dnn.eval_input_fn, steps=1, name=name)
  assert sorted(os.listdir(sandbox)) == before


def test_evaluation_name_with_a_subdirectory_stays_inside(trained):
  est, _ = trained
  est.evaluate(custom_dnn.eval_input_fn, steps=1, name='nested/run')
  assert tf.io.gfile.glob(os.path.join(est.model_dir, 'eval_nested', 'run', 'events.*'))
