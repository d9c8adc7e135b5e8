"""Shared test set-up: legacy import paths and the 2.15 golden programs."""

import collections
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOLDEN_ROOT = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15')
sys.path.insert(0, GOLDEN_ROOT)  # makes `programs.custom_dnn` importable

import tfcompat_estimator  # pylint: disable=wrong-import-position

tfcompat_estimator.install()


# Everything a pytest run puts in the temporary folder goes under one folder
# of its own: Estimators built without a model_dir (as 2.15 does, a fresh
# mkdtemp each), TF's autograph sources, pytest's tmp_path, and the child
# processes (through TMPDIR; those importing this module keep to it). One
# fast-tier run left about 1,000 folders and 800 files in /tmp (2.2 GB after
# a day of runs). A run that passes removes it; a failing run keeps it for
# inspection and says where it is.
_session_tmp = None


def pytest_configure(config):
  global _session_tmp
  config.addinivalue_line('markers', 'slow: long-running tier, run with --slow')
  _session_tmp = tempfile.mkdtemp(prefix='tfcompat-tests-')
  os.environ['TMPDIR'] = _session_tmp
  tempfile.tempdir = _session_tmp


# Seconds spent in each test file (setup, call and teardown of its tests,
# module fixtures included), for the summary at the end of a run: the suite
# has a time budget in CI, and this says where it goes.
_FILE_SECONDS = collections.defaultdict(float)


def pytest_runtest_logreport(report):
  _FILE_SECONDS[report.nodeid.split('::', 1)[0]] += report.duration


def pytest_sessionfinish(session, exitstatus):
  del session  # unused
  if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
    shutil.rmtree(_session_tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus):
  if os.path.exists(_session_tmp):
    terminalreporter.write_line(f'temporary files of this run: {_session_tmp}')
  if not _FILE_SECONDS:
    return
  slowest = sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:15]
  terminalreporter.section(
      f'slowest test files ({sum(_FILE_SECONDS.values()):.0f} s in all '
      f'{len(_FILE_SECONDS)} files)')
  for path, seconds in slowest:
    terminalreporter.write_line(f'{seconds:8.1f} s  {path}')


@pytest.fixture(autouse=True)
def _python_random_unseeded(monkeypatch):
  """Each test is a program that has not called `random.seed` yet.

  Whether one has decides where Keras' unseeded initializers draw from
  (engine/python_seeds.py); the note is process-wide and would otherwise
  carry from a test that seeded (tf_keras.utils.set_random_seed) into the
  next ones of its worker.
  """
  from tfcompat_estimator.engine import python_seeds  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(python_seeds, '_seeded', False)


@pytest.fixture
def golden_dir():
  return os.path.join(GOLDEN_ROOT, 'golden', 'custom_dnn')


@pytest.fixture
def venv215_python():
  """The reference tensorflow-estimator 2.15 interpreter; skips without it."""
  for venv in (os.environ.get('VENV215'),
               os.path.expanduser('~/.cache/tfcompat/venv215'), '/work/venv215'):
    if venv and os.path.exists(os.path.join(venv, 'bin', 'python')):
      return os.path.join(venv, 'bin', 'python')
  pytest.skip('no tensorflow-estimator 2.15 venv: set VENV215, or run '
              'third_party/tensorflow_estimator_2_15/make_golden.sh --venv-only')
