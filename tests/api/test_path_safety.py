"""User-given names cannot write outside the directory they name a part of.

assets_extra destinations are covered in test_export_serving.py.
"""

import os

import pytest
import tensorflow as tf

from programs import custom_dnn

ESCAPES = ['../x', 'a/../../x', '/abs/x', '.', '..']


class _NamedExporter(tf.estimator.Exporter):
  """A user-written exporter: its name does not go through our constructors."""

  def __init__(self, name):
    self._name = name

  @property
  def name(self):
    return self._name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    raise AssertionError('never reached')


@pytest.mark.parametrize('name', ESCAPES)
@pytest.mark.parametrize('make', [
    lambda name: tf.estimator.LatestExporter(name, custom_dnn.serving_input_receiver_fn),
    lambda name: tf.estimator.FinalExporter(name, custom_dnn.serving_input_receiver_fn),
    lambda name: tf.estimator.BestExporter(name, custom_dnn.serving_input_receiver_fn),
    lambda name: tf.estimator.EvalSpec(custom_dnn.eval_input_fn,
                                       exporters=[_NamedExporter(name)]),
], ids=['latest', 'final', 'best', 'custom_in_eval_spec'])
def test_exporter_name_cannot_leave_the_export_dir(make, name):
  with pytest.raises(ValueError, match=f'Exporter name {name!r} must be a relative path'):
    make(name)


def test_exporter_name_may_nest_inside_the_export_dir():
  assert tf.estimator.LatestExporter(
      'serving/v1', custom_dnn.serving_input_receiver_fn).name == 'serving/v1'


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
