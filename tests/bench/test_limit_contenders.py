"""The Keras-fit and hand-loop benchmark contenders train and report every figure.

Tiny scale and smaller data splits keep this quick; timings are never asserted.
"""

import json
import math
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'bench')
sys.path.insert(0, BENCH)

import limit_contenders  # pylint: disable=g-import-not-at-top,wrong-import-position
import workloads  # pylint: disable=g-import-not-at-top,wrong-import-position

SCALE = 0.05  # warm-up and small calls of 10 steps, big call of 100
# estimator_contender's keys, except the hooked training rate (no hooks here).
ESTIMATOR_KEYS = {'tf_version', 'import_rss_mb', 'tensorflow_rss_mb', 'train_steps_per_sec',
                  'first_evaluate_sec', 'repeat_evaluate_sec',
                  'repeat_predict_first_result_sec', 'predict_examples_per_sec',
                  'export_sec', 'peak_rss_mb', 'final_step', 'eval_accuracy'}
# Plus the floors of the input pipelines alone, which bound the targets.
HAND_LOOP_KEYS = {'tf_version', 'import_rss_mb', 'tensorflow_rss_mb', 'train_steps_per_sec',
                  'peak_rss_mb', 'final_step', 'eval_accuracy', 'input_batches_per_sec',
                  'predict_input_first_batch_sec'}
LOSS_KEYS = {'train_loss_first', 'train_loss_last'}


@pytest.fixture
def small_splits(monkeypatch):
  monkeypatch.setattr(workloads, 'N_TRAIN', 512)
  monkeypatch.setattr(workloads, 'N_EVAL', 256)
  monkeypatch.setattr(workloads, 'N_PREDICT', 128)


def _one_per_model():
  """Every workload; those whose model another one's builds, in the slow tier.

  The contenders' code differs per model builder, not per workload: a
  second workload of the same builder (12-25 s on a slow host) exercises
  nothing new in the fast tier.
  """
  seen, params = set(), []
  for name in sorted(workloads.WORKLOADS):
    builder = limit_contenders.MODELS[name]
    marks = [pytest.mark.slow] if builder in seen else []
    seen.add(builder)
    params.append(pytest.param(name, marks=marks))
  return params


@pytest.mark.parametrize('workload', _one_per_model())
@pytest.mark.parametrize('contender', limit_contenders.CONTENDERS)
def test_contender_trains_and_reports_all_figures(contender, workload, small_splits):
  del small_splits
  results = limit_contenders.run(contender, workload, SCALE)
  expected = (ESTIMATOR_KEYS if contender == 'keras_fit' else HAND_LOOP_KEYS) | LOSS_KEYS
  assert set(results) == expected
  assert results['tf_version'].startswith('2.')
  assert results['final_step'] == 10 + 10 + 100  # warm-up, small, big calls
  assert results['train_loss_last'] < 0.97 * results['train_loss_first']  # it learns
  assert 0.0 <= results['eval_accuracy'] <= 1.0
  for key in expected - {'tf_version', 'final_step', 'eval_accuracy'}:
    assert math.isfinite(results[key]) and results[key] > 0, key


def test_command_line_prints_one_json_line():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  out = subprocess.run(
      [sys.executable, os.path.join(BENCH, 'limit_contenders.py'), 'hand_loop',
       'custom_model_fn', '0.01'], capture_output=True, text=True, env=env,
      timeout=300, check=True)
  results = json.loads(out.stdout.strip().splitlines()[-1])
  assert results['final_step'] == 2 + 2 + 20


@pytest.mark.parametrize('contender,workload,bad', [
    ('estimator', 'dnn_dense', 'estimator'), ('hand_loop', 'nope', 'nope')])
def test_unknown_names_are_rejected(contender, workload, bad):
  with pytest.raises(ValueError, match=bad):
    limit_contenders.run(contender, workload, SCALE)
