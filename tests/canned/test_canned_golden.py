"""Canned estimators against what tensorflow-estimator 2.15 did on the same cases.

Each case of ``programs/canned_cases.py`` was run on the real 2.15 by
``generate_canned.py``; ``golden/canned/<case>/`` holds what it observed and its
final checkpoint. Here the same legacy program runs on tfcompat_estimator:
a fresh model must train to 2.15's checkpoint, and that checkpoint must evaluate,
predict, export and keep training to 2.15's numbers.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from programs import canned_cases  # pylint: disable=g-bad-import-order

GOLDEN_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'third_party', 'tensorflow_estimator_2_15')
CANNED_ROOT = os.path.join(GOLDEN_ROOT, 'golden', 'canned')
RTOL = 1e-5
ATOL = 1e-6
# Ten more steps of the same optimizer math from the same checkpoint; the
# looser tolerance absorbs float summation order, not a different update.
CONTINUED_RTOL = 1e-4
# 2.15's canned RNNs seed their Keras initializers from Python's `random`,
# not from tf_random_seed: two 2.15 runs of these start apart.
UNSEEDED_ON_2_15 = {'rnn_classifier', 'rnn_classifier_sequences',
                    'rnn_estimator'}


def _type_name(value):
  if isinstance(value, (np.ndarray, np.generic)):
    return value.dtype.name
  return type(value).__name__


def _plain(value):
  """numpy/bytes values as the JSON the generator wrote."""
  if isinstance(value, bytes):
    return value.decode('utf-8')
  if isinstance(value, np.ndarray):
    return [_plain(v) for v in value.tolist()]
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


def _assert_close(actual, expected, what):
  actual, expected = _plain(actual), np.asarray(expected)
  if expected.dtype.kind in 'USO':
    assert actual == expected.tolist(), what
  else:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               expected.astype(np.float64), rtol=RTOL,
                               atol=ATOL, err_msg=what)


def _signature_info(sig):
  def tensors(infos):
    return {k: {'dtype': tf.as_dtype(v.dtype).name,
                'shape': None if v.tensor_shape.unknown_rank else
                         [int(d.size) for d in v.tensor_shape.dim]}
            for k, v in infos.items()}
  return {'method_name': sig.method_name, 'inputs': tensors(sig.inputs),
          'outputs': tensors(sig.outputs)}


def _run_signatures(export_dir, examples):
  """{key: signature info}, {key: {output: value}} from the v1 loader."""
  infos, outputs = {}, {}
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta_graph = tf.compat.v1.saved_model.load(
          sess, [tf.saved_model.SERVING], export_dir)
      for key, sig in meta_graph.signature_def.items():
        infos[key] = _signature_info(sig)
        keys = sorted(sig.outputs)
        values = sess.run([sig.outputs[k].name for k in keys],
                          feed_dict={v.name: examples
                                     for v in sig.inputs.values()})
        outputs[key] = dict(zip(keys, values))
  return infos, outputs


class CaseRun(object):
  """One case: its golden record and estimators on copies of 2.15's model_dir."""

  def __init__(self, case, tmp_dir):
    self.case = case
    self.tmp_dir = str(tmp_dir)
    with open(os.path.join(CANNED_ROOT, case.name, 'expected.json')) as f:
      self.golden = json.load(f)
    self._golden_estimator = None

  def golden_copy(self, name):
    """A fresh copy of 2.15's model_dir (estimators write into theirs)."""
    dst = os.path.join(self.tmp_dir, name)
    shutil.copytree(os.path.join(CANNED_ROOT, self.case.name, 'model_dir'),
                    dst)
    return dst

  @property
  def golden_estimator(self):
    if self._golden_estimator is None:
      self._golden_estimator = self.case.make(self.golden_copy('golden'))
    return self._golden_estimator


@pytest.fixture(scope='module', params=list(canned_cases.CASES_BY_NAME))
def run(request, tmp_path_factory):
  return CaseRun(canned_cases.CASES_BY_NAME[request.param],
                 tmp_path_factory.mktemp(request.param))


def test_fresh_model_trains_to_2_15_checkpoint(run):
  """The generator's own run: a fresh model_dir, TRAIN_STEPS steps, seed 7.

  Under tf_random_seed a model starts from 2.15's initial values and so,
  step for step, reaches the checkpoint 2.15 wrote.
  """
  est = run.case.make(os.path.join(run.tmp_dir, 'fresh'))
  est.train(run.case.train_input_fn, steps=canned_cases.TRAIN_STEPS)
  assert sorted(est.get_variable_names()) == run.golden['variable_names']
  for name, spec in run.golden['variables'].items():
    value = est.get_variable_value(name)
    assert (list(np.shape(value)), _type_name(value)) == (
        spec['shape'], spec['dtype']), name
  assert est.get_variable_value('global_step') == canned_cases.TRAIN_STEPS
  if run.case.name in UNSEEDED_ON_2_15:
    return
  golden = tf.train.load_checkpoint(
      os.path.join(CANNED_ROOT, run.case.name, 'model_dir'))
  for name, spec in run.golden['variables'].items():
    if spec['dtype'].startswith('float'):
      np.testing.assert_allclose(est.get_variable_value(name),
                                 golden.get_tensor(name), rtol=CONTINUED_RTOL,
                                 atol=ATOL, err_msg=name)


def test_evaluating_2_15_checkpoint_gives_its_metrics(run):
  metrics = run.golden_estimator.evaluate(run.case.eval_input_fn)
  assert sorted(metrics) == sorted(run.golden['eval_metrics'])
  for key, value in run.golden['eval_metrics'].items():
    _assert_close(metrics[key], value, key)
  assert {k: _type_name(v) for k, v in metrics.items()} == (
      run.golden['eval_metric_types'])


def test_predicting_from_2_15_checkpoint_gives_its_predictions(run):
  preds = list(run.golden_estimator.predict(run.case.predict_input_fn))
  golden = run.golden['predictions']
  assert len(preds) == len(golden)
  assert {str(k): _type_name(v) for k, v in preds[0].items()} == (
      run.golden['prediction_dtypes'])
  for i, (pred, expected) in enumerate(zip(preds, golden)):
    assert sorted(str(k) for k in pred) == sorted(expected)
    for key, value in pred.items():
      _assert_close(value, expected[str(key)], 'row %d %s' % (i, key))


def test_training_continues_from_2_15_checkpoint(run):
  """Same steps from the same checkpoint give 2.15's variables (and slots)."""
  continued = run.golden['continued']
  est = run.case.make(run.golden_copy('continued'))
  est.train(run.case.train_input_fn, steps=continued['steps'])
  assert est.get_variable_value('global_step') == continued['global_step']
  assert sorted(est.get_variable_names()) == sorted(
      continued['variable_values'])
  for name, value in continued['variable_values'].items():
    np.testing.assert_allclose(est.get_variable_value(name), value,
                               rtol=CONTINUED_RTOL, atol=ATOL, err_msg=name)


def test_export_of_2_15_checkpoint_serves_its_outputs(run):
  path = run.golden_estimator.export_saved_model(
      os.path.join(run.tmp_dir, 'export'), run.case.serving_input_receiver_fn)
  path = path.decode('utf-8') if isinstance(path, bytes) else path
  infos, outputs = _run_signatures(path, run.case.serialized_examples())
  expected_infos = {
      key: {'method_name': sig['method_name'],
            'inputs': {k: {'dtype': v['dtype'], 'shape': v['shape']}
                       for k, v in sig['inputs'].items()},
            'outputs': {k: {'dtype': v['dtype'], 'shape': v['shape']}
                        for k, v in sig['outputs'].items()}}
      for key, sig in run.golden['signatures'].items()}
  assert infos == expected_infos
  for key, expected in run.golden['serving_outputs'].items():
    for name, value in expected.items():
      _assert_close(outputs[key][name], value, '%s/%s' % (key, name))


_EVAL_WITH_2_15 = '''
import json, sys
from programs import canned_cases
case = canned_cases.CASES_BY_NAME[sys.argv[1]]
metrics = case.make(sys.argv[2]).evaluate(case.eval_input_fn)
print(json.dumps({k: float(v) for k, v in metrics.items()}))
'''


@pytest.mark.slow
def test_tensorflow_estimator_2_15_evaluates_our_model_dir(run, venv215_python):
  python = venv215_python
  model_dir = os.path.join(run.tmp_dir, 'ours')
  est = run.case.make(model_dir)
  est.train(run.case.train_input_fn, steps=canned_cases.TRAIN_STEPS)
  ours = est.evaluate(run.case.eval_input_fn)
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, '-c', _EVAL_WITH_2_15, run.case.name,
                        model_dir], cwd=GOLDEN_ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  theirs = json.loads(out.stdout.strip().splitlines()[-1])
  assert sorted(theirs) == sorted(ours)
  for key, value in theirs.items():
    np.testing.assert_allclose(ours[key], value, rtol=RTOL, atol=ATOL,
                               err_msg=key)
