"""The README's demo: it runs, says what it does, and we add no warning to it.

A legacy program's own deprecation warnings (tf.layers, feature columns) are
the user's and stay; a warning that exists only because this package runs the
program (e.g. a TF1 summary op captured in a function) is ours and must not
appear. TensorFlow's warnings about its own internals (raised from TF's
files) are TensorFlow's.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, 'demo', 'legacy_pipeline.py')

# Warnings a TF1 program never saw under 2.15: raised because of how this
# package runs it, whichever file TensorFlow raises them from.
_OURS = ('Cannot activate TF2 compatibility support for TF1 summary ops',)


def _warnings(stderr):
  """Each warning in `stderr` with the file it names, as (file, text)."""
  found = []
  for line in stderr.splitlines():
    python_warning = re.match(r'(\S+\.py):\d+: \w*Warning: (.*)', line)
    tf_warning = re.match(r'WARNING:tensorflow:From (\S+\.py):\d+: (.*)', line)
    match = python_warning or tf_warning
    if match:
      found.append((match.group(1), match.group(2)))
  return found


def test_demo_runs_signposted_and_without_warnings_of_ours(tmp_path):
  model_dir = str(tmp_path / 'model')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  run = subprocess.run(
      [sys.executable, DEMO, '--model_dir', model_dir, '--steps', '60',
       '--wide_deep_max_steps', '300'],
      capture_output=True, text=True, env=env, timeout=600, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  assert f'model_dir: {model_dir}' in run.stdout
  assert 'SavedModel exported to: ' + os.path.join(model_dir, 'export') in run.stdout
  assert 'Best (lowest eval loss) SavedModel: ' in run.stdout
  warnings = _warnings(run.stderr)
  assert warnings, 'the legacy program\'s own deprecation warnings stay'
  ours = [(path, text) for path, text in warnings
          if f'{os.sep}tfcompat_estimator{os.sep}' in path or
          any(mark in text for mark in _OURS)]
  assert not ours, ours
