"""Runs one scenario script under the 2.15 reference and under ours.

Oracle tests keep their scenario as source text that both interpreters can
run; ours only needs `install()` first. The script writes its results as JSON
to the path given as its only argument.
"""

import json
import os
import subprocess
import sys

OURS_PRELUDE = 'import tfcompat_estimator\ntfcompat_estimator.install()\n'


def run_script(python, source, tmp_path, tag, env):
  """Runs `source` with `python`; returns the JSON it wrote."""
  script = tmp_path / f'{tag}.py'
  script.write_text(source)
  out = tmp_path / f'{tag}.json'
  proc = subprocess.run([python, str(script), str(out)], env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, f'{tag} scenario failed:\n{proc.stderr[-4000:]}'
  return json.loads(out.read_text())


def run_both(venv215_python, scenario, tmp_path, env):
  """(2.15's results, ours) for one scenario; 2.15 runs without tf-keras."""
  theirs = run_script(venv215_python, scenario, tmp_path, 'tf215',
                      env_215(env))
  ours = run_script(sys.executable, OURS_PRELUDE + scenario, tmp_path, 'ours',
                    env)
  return theirs, ours


def env_215(env):
  """`env` for 2.15's interpreter: its Keras is its own, without tf-keras."""
  return {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'}


def scenario_env():
  """The environment for scenario scripts: no TF_CONFIG, quiet TF logs."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  return env
