"""Keeps the benchmark script working; timings are never asserted."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_smoke_writes_report(tmp_path):
  """Every workload of the estimator contender, and the report around it."""
  out = tmp_path / 'RESULTS.md'
  subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'run.py'), '--smoke',
                  '--contenders', 'tfcompat_estimator', '--out', str(out)],
                 check=True, timeout=600, capture_output=True)
  text = out.read_text()
  for workload in ('dnn_dense', 'wide_deep_sparse', 'linear_ftrl_hashed', 'rnn_lstm',
                   'custom_model_fn'):
    assert f'## {workload}' in text
  assert '| training steps/s, no per-step hooks |' in text
  assert '| training steps/s, LoggingTensorHook every 100 |' in text
  assert 'TF 2.' in text
  runs = json.loads((tmp_path / 'results.json').read_text())
  assert runs['rnn_lstm']['tfcompat_estimator'][0]['final_step'] == 4 + 40


def test_train_and_evaluate_benchmark_smoke_writes_report(tmp_path):
  out = tmp_path / 'TRAIN_AND_EVALUATE.md'
  subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'train_and_evaluate.py'),
                  '--smoke', '--out', str(out)], check=True, timeout=600,
                 capture_output=True)
  text = out.read_text()
  assert '| train_and_evaluate total wall s |' in text
  assert '| training steps/s, MirroredStrategy() |' in text
  assert 'Rounds per run: 2 ' in text  # 40 steps, a checkpoint every 20
  assert 'TF 2.' in text
