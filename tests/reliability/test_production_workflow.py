"""A production workflow end to end: train_and_evaluate, early stop, exports.

A canned LinearClassifier trains under `tf.estimator.train_and_evaluate` with
a `stop_if_no_decrease_hook` on the eval loss and three exporters. Its eval
data has every fifth label flipped, so the eval loss falls, bottoms out and
then rises while training keeps fitting the clean training data: the hook
must stop training long before `max_steps`. The exports must load with
`tf.saved_model.load` and serve tf.Example requests with the scores
`Estimator.predict` gives for the same checkpoint.

`WORKFLOW` is one program text: the fast test runs it in this process, the
slow test runs it under tensorflow-estimator 2.15 and under ours and compares
what each wrote. Everything it reports is read back with TensorFlow's own
APIs (event files, checkpoints, SavedModels), not with the code under test.
"""

import os
import types

import numpy as np
import pytest
from tests.helpers import reference_runner

WORKFLOW = r'''
import json
import os
import sys

import numpy as np
import tensorflow as tf

MAX_STEPS = 1000
SAVE_EVERY = 10  # checkpoint (hence evaluation) every SAVE_EVERY steps
CHECK_EVERY = 10  # the early-stopping hook reads the evals this often
PATIENCE = 30  # max_steps_without_decrease of the eval loss
LATEST_KEPT = 2
BEST_KEPT = 5
EXPORTERS = ('latest', 'best', 'final')
COLORS = ['red', 'green', 'blue']


def make_data(seed, size, flip_every=None):
  """Points labelled by a linear rule; `flip_every` inverts some labels."""
  rng = np.random.RandomState(seed)
  x = rng.uniform(-1., 1., (size, 2)).astype(np.float32)
  color = rng.choice(COLORS, size)
  bonus = np.select([color == 'red', color == 'blue'], [0.3, -0.3], 0.)
  label = (x[:, 0] + 0.5 * x[:, 1] + bonus > 0).astype(np.int64)
  if flip_every:
    label[::flip_every] = 1 - label[::flip_every]
  return {'x': x, 'color': color}, label.reshape(-1, 1)


TRAIN = make_data(0, 96)
EVAL = make_data(1, 60, flip_every=5)
REQUEST = make_data(2, 6)[0]  # features of the serving requests
COLUMNS = [
    tf.feature_column.numeric_column('x', shape=[2]),
    tf.feature_column.categorical_column_with_vocabulary_list('color', COLORS),
]


def serving_input_receiver_fn():
  spec = tf.feature_column.make_parse_example_spec(COLUMNS)
  return tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)()


def serialized_request():
  examples = []
  for x, color in zip(REQUEST['x'], REQUEST['color']):
    examples.append(tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(value=x)),
        'color': tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[color.encode()])),
    })).SerializeToString())
  return examples


def run_workflow(model_dir):
  """Runs train_and_evaluate; returns the estimator and what it returned."""
  est = tf.estimator.LinearClassifier(
      COLUMNS, model_dir=model_dir,
      optimizer=lambda: tf.keras.optimizers.legacy.SGD(learning_rate=0.3),
      config=tf.estimator.RunConfig(save_checkpoints_steps=SAVE_EVERY,
                                    keep_checkpoint_max=1000,
                                    tf_random_seed=7))
  stop = tf.estimator.experimental.stop_if_no_decrease_hook(
      est, 'loss', max_steps_without_decrease=PATIENCE, run_every_secs=None,
      run_every_steps=CHECK_EVERY)
  train_spec = tf.estimator.TrainSpec(
      lambda: tf.data.Dataset.from_tensor_slices(TRAIN).repeat().batch(32),
      max_steps=MAX_STEPS, hooks=[stop])
  eval_spec = tf.estimator.EvalSpec(
      lambda: tf.data.Dataset.from_tensor_slices(EVAL).batch(len(EVAL[1])),
      steps=None, throttle_secs=0, exporters=[
          tf.estimator.LatestExporter('latest', serving_input_receiver_fn,
                                      exports_to_keep=LATEST_KEPT),
          tf.estimator.BestExporter('best', serving_input_receiver_fn,
                                    exports_to_keep=BEST_KEPT),
          tf.estimator.FinalExporter('final', serving_input_receiver_fn),
      ])
  metrics, export_results = tf.estimator.train_and_evaluate(
      est, train_spec, eval_spec)
  return est, metrics, export_results


def eval_losses(model_dir):
  """[[global_step, loss]] of every evaluation, from the eval event files."""
  losses = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'eval', 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'loss':
          losses[int(event.step)] = float(value.simple_value)
  return sorted([step, loss] for step, loss in losses.items())


def plain(value):
  """`value` as JSON: arrays become lists, bytes become str."""
  value = np.asarray(value)
  if value.dtype.kind in 'SO':
    return np.vectorize(lambda b: b.decode())(value).tolist()
  return value.tolist()


def describe_signature(function):
  _, inputs = function.structured_input_signature
  return {
      'inputs': {k: [v.dtype.name, v.shape.as_list()]
                 for k, v in sorted(inputs.items())},
      'outputs': {k: [v.dtype.name, v.shape.as_list()]
                  for k, v in sorted(function.structured_outputs.items())},
  }


def describe_export(est, export_dir):
  """The checkpoint step an export holds, its signatures and their answers."""
  variables = os.path.join(export_dir, 'variables', 'variables')
  step = int(tf.train.load_checkpoint(variables).get_tensor('global_step'))
  loaded = tf.saved_model.load(export_dir)
  request = tf.constant(serialized_request())
  signatures, served = {}, {}
  for name, function in sorted(loaded.signatures.items()):
    signatures[name] = describe_signature(function)
    arguments = {k: request for k in signatures[name]['inputs']}
    served[name] = {k: plain(v) for k, v in function(**arguments).items()}
  predicted = list(est.predict(
      lambda: tf.data.Dataset.from_tensor_slices(REQUEST).batch(6),
      checkpoint_path=os.path.join(est.model_dir, 'model.ckpt-%d' % step)))
  return {
      'dir': os.path.basename(export_dir), 'step': step,
      'signatures': signatures, 'served': served,
      'predicted': {k: plain([p[k] for p in predicted])
                    for k in sorted(predicted[0])},
  }


def summarize(est, metrics, export_results):
  """What the run did, as a JSON-ready dict."""
  exports = {}
  for name in EXPORTERS:
    base = os.path.join(est.model_dir, 'export', name)
    names = tf.io.gfile.listdir(base) if tf.io.gfile.exists(base) else []
    exports[name] = [describe_export(est, os.path.join(base, n.rstrip('/')))
                     for n in sorted(names)]
  return {
      'final_step': int(est.get_variable_value('global_step')),
      'eval_losses': eval_losses(est.model_dir),
      'metrics': {k: float(v) for k, v in sorted(metrics.items())},
      'export_results': [
          None if r is None else os.path.relpath(
              os.fsdecode(r), os.path.join(est.model_dir, 'export'))
          for r in export_results],
      'exports': exports,
  }


if __name__ == '__main__':
  with open(sys.argv[1], 'w') as out:
    json.dump(summarize(*run_workflow(sys.argv[1] + '_model')), out)
'''

PREDICT_KEYS = ['all_class_ids', 'all_classes', 'class_ids', 'classes',
                'logistic', 'logits', 'probabilities']


def _load_workflow():
  module = types.ModuleType('production_workflow')
  code = compile(WORKFLOW, 'production_workflow', 'exec')
  exec(code, module.__dict__)  # pylint: disable=exec-used
  return module


def _stop_check_step(wf, losses):
  """The first check step at which the patience rule holds, by its definition.

  The hook checks at global steps 0, CHECK_EVERY, ...; each check sees the
  evaluations of the checkpoints saved up to that step.
  """
  for check in range(0, wf.MAX_STEPS, wf.CHECK_EVERY):
    seen = [(step, loss) for step, loss in losses if step <= check]
    best_step = best_loss = None
    for step, loss in seen:
      if best_loss is None or loss < best_loss:
        best_step, best_loss = step, loss
      if step - best_step >= wf.PATIENCE:
        return check
  return None


def _improving_steps(losses):
  """Steps whose eval loss beat every earlier one (the first always does)."""
  steps, best = [], None
  for step, loss in losses:
    if best is None or loss < best:
      steps.append(step)
      best = loss
  return steps


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  wf = _load_workflow()
  est, metrics, export_results = wf.run_workflow(
      str(tmp_path_factory.mktemp('model')))
  return wf, wf.summarize(est, metrics, export_results)


def test_early_stopping_stops_by_its_rule_well_before_max_steps(run):
  wf, out = run
  losses = out['eval_losses']
  check = _stop_check_step(wf, losses)
  assert check is not None, f'no stop was due over {losses}'
  # The hook stops after the step it checked at: one more step runs.
  assert out['final_step'] == check + 1
  assert out['final_step'] < wf.MAX_STEPS // 4
  # Every saved checkpoint was evaluated (throttle_secs=0), then the final one.
  steps = [step for step, _ in losses]
  assert steps == list(range(wf.SAVE_EVERY, check + 1, wf.SAVE_EVERY)) + [
      out['final_step']]
  # The loss really rose after its minimum: a stop for a genuine plateau.
  best = min(losses, key=lambda s: s[1])
  assert best[0] < check and losses[-2][1] > best[1]


def test_returned_metrics_and_export_results(run):
  _, out = run
  final_step, final_loss = out['eval_losses'][-1]
  assert out['metrics']['global_step'] == final_step == out['final_step']
  assert out['metrics']['loss'] == pytest.approx(final_loss, rel=1e-6)
  assert {'accuracy', 'auc', 'average_loss'} <= set(out['metrics'])
  latest, best, final = out['export_results']
  # The returned export must be the newest one kept (TF Serving serves the
  # highest version), not a directory garbage collection already removed.
  assert latest == os.path.join('latest', out['exports']['latest'][-1]['dir'])
  final_improved = final_step in _improving_steps(out['eval_losses'])
  if final_improved:
    assert best == os.path.join('best', out['exports']['best'][-1]['dir'])
  else:
    assert best is None
  assert final is None  # stopped early: never the final export


def test_exporters_kept_the_expected_checkpoints(run):
  wf, out = run
  exports = out['exports']
  eval_steps = [step for step, _ in out['eval_losses']]
  assert [e['step'] for e in exports['latest']] == eval_steps[-wf.LATEST_KEPT:]
  improving = _improving_steps(out['eval_losses'])
  assert len(improving) >= 2  # the loss did improve before stopping
  assert [e['step'] for e in exports['best']] == improving[-wf.BEST_KEPT:]
  assert not exports['final']


def test_exports_serve_estimator_predictions(run):
  _, out = run
  exports = out['exports']['latest'] + out['exports']['best']
  for export in exports:
    signatures, served = export['signatures'], export['served']
    predicted = export['predicted']
    assert {'classification', 'predict', 'serving_default'} <= set(signatures)
    for name in ('classification', 'serving_default'):
      assert signatures[name]['inputs'] == {'inputs': ['string', [None]]}
      assert signatures[name]['outputs'] == {
          'classes': ['string', [None, 2]], 'scores': ['float32', [None, 2]]}
      np.testing.assert_allclose(served[name]['scores'],
                                 predicted['probabilities'], rtol=1e-6)
      assert served[name]['classes'] == [['0', '1']] * 6
    assert signatures['predict']['inputs'] == {'examples': ['string', [None]]}
    assert sorted(served['predict']) == PREDICT_KEYS
    for key in PREDICT_KEYS:
      value = served['predict'][key]
      assert np.shape(value) == np.shape(predicted[key]), key
      if key in ('all_classes', 'classes'):
        assert value == predicted[key], key
      else:
        np.testing.assert_allclose(value, predicted[key], rtol=1e-6,
                                   err_msg=key)
  # Exports of different checkpoints answer differently: the weights moved.
  logits = {e['step']: e['served']['predict']['logits'] for e in exports}
  assert len(logits) >= 2
  assert not np.allclose(logits[min(logits)], logits[max(logits)])


# -------------------------------------------------------------- 2.15 oracle
def _numbers_close(ours, theirs, path='', tol=1e-5):
  """Asserts two JSON trees have one structure and numbers within `tol`."""
  if isinstance(theirs, dict):
    assert isinstance(ours, dict) and sorted(ours) == sorted(theirs), path
    for key in theirs:
      _numbers_close(ours[key], theirs[key], f'{path}/{key}', tol)
  elif isinstance(theirs, list):
    assert isinstance(ours, list) and len(ours) == len(theirs), path
    for i, (a, b) in enumerate(zip(ours, theirs)):
      _numbers_close(a, b, f'{path}[{i}]', tol)
  elif isinstance(theirs, float):
    assert ours == pytest.approx(theirs, abs=tol), path
  else:
    assert ours == theirs, path


@pytest.mark.slow
def test_workflow_matches_2_15(venv215_python, tmp_path):
  theirs, ours = reference_runner.run_both(
      venv215_python, WORKFLOW, tmp_path, reference_runner.scenario_env())
  assert theirs['final_step'] < 1000  # sanity: 2.15 stopped early too
  assert ours['final_step'] == theirs['final_step']
  assert ([s for s, _ in ours['eval_losses']] ==
          [s for s, _ in theirs['eval_losses']])
  for name in ('latest', 'best', 'final'):
    assert ([e['step'] for e in ours['exports'][name]] ==
            [e['step'] for e in theirs['exports'][name]]), name
  # Directory names are timestamps: compare where each result points instead.
  for out in (ours, theirs):
    for export_list in out['exports'].values():
      for i, export in enumerate(export_list):
        export['dir'] = i
    out['export_results'] = [r and os.path.dirname(r)
                             for r in out['export_results']]
  _numbers_close(ours, theirs)
