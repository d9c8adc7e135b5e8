"""Keeps the benchmark script working; timings are never asserted."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_smoke_writes_report(tmp_path):
  out = tmp_path / 'RESULTS.md'
  subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'run.py'), '--smoke',
                  '--out', str(out)], check=True, timeout=600, capture_output=True)
  text = out.read_text()
  assert '| training steps/s, no hooks |' in text
  assert 'TF 2.' in text


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
