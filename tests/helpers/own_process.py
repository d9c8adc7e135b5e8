"""Runs a test file as a script in a process of its own; returns its JSON.

TF1 switches (`disable_v2_behavior()`) are process-wide, so a test of the
TF1 world runs its own file as a child: the file's `__main__` block sets
the world up, runs the program and prints a JSON object as its last line.
"""

import json
import os
import subprocess
import sys


# The repository root, where the child's `from tests...` imports resolve.
# Run as a script, the child's sys.path starts at the file's own folder;
# the root was on it only by way of a legacy editable install's .pth file
# (pip's default editable install, a fresh venv's, maps the package alone).
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_json(test_file, *args):
  """The last stdout line of `python test_file args...`, parsed as JSON."""
  python_path = os.pathsep.join(
      p for p in (_ROOT, os.environ.get('PYTHONPATH')) if p)
  proc = subprocess.run(
      [sys.executable, os.path.abspath(test_file), *map(str, args)],
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=python_path))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])
