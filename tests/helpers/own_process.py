"""Runs a test file as a script in a process of its own; returns its JSON.

TF1 switches (`disable_v2_behavior()`) are process-wide, so a test of the
TF1 world runs its own file as a child: the file's `__main__` block sets
the world up, runs the program and prints a JSON object as its last line.
"""

import json
import os
import subprocess
import sys


def run_json(test_file, *args):
  """The last stdout line of `python test_file args...`, parsed as JSON."""
  proc = subprocess.run(
      [sys.executable, os.path.abspath(test_file), *map(str, args)],
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])
