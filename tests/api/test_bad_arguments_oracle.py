"""test_bad_arguments.py's table of bad calls against tensorflow-estimator 2.15.

Each interpreter runs every case in one subprocess and records the class of
what it raised (or that nothing was). A case passes when ours raises 2.15's
class or a subclass of it (so `except` clauses written for 2.15 still catch
it), or when neither raises. The deliberate differences are listed below.
"""

import json

import pytest
from tests.helpers import reference_runner
from . import test_bad_arguments as table

# name -> (2.15's exception class, ours, why). Checked exactly, so an entry
# goes stale (and fails) if either side changes.
ALLOWED_DIFFERENCES = {
    # 2.15 called the result `.features` and failed with an AttributeError
    # naming neither the argument nor the value; ours is a TypeError saying so.
    'export_receiver_fn_returns_a_function': (
        'AttributeError', 'TypeError', 'receiver fn returned a function'),
    'export_all_receiver_fn_returns_a_function': (
        'AttributeError', 'TypeError', 'receiver fn returned a function'),
    'v1_export_savedmodel_receiver_fn_returns_a_function': (
        'AttributeError', 'TypeError', 'receiver fn returned a function'),
    # 2.15 failed calling `.items()` / `.get()` / `.endswith()` on the value.
    'export_assets_extra_not_a_dict': (
        'AttributeError', 'TypeError', 'list has no .items()'),
    'export_all_map_not_a_dict': (
        'AttributeError', 'TypeError', 'list has no .get()'),
    'get_variable_value_name_not_a_string': (
        'AttributeError', 'TypeError', 'int has no .endswith()'),
    # 2.15 handed the directory to Saver.restore, which failed reading it as
    # a checkpoint; ours names checkpoint_path and the missing checkpoints.
    'evaluate_checkpoint_dir_without_checkpoint': (
        'DataLossError', 'ValueError', 'directory restored as a checkpoint'),
    'predict_checkpoint_dir_without_checkpoint': (
        'DataLossError', 'ValueError', 'directory restored as a checkpoint'),
    # 2.15's v1 multi-class head did not compare label_vocabulary with
    # n_classes (its v2 head did); ours checks both generations.
    'v1_dnn_label_vocabulary_wrong_length': (
        None, 'ValueError', 'v1 head did not check the length'),
}

# Cases not run under 2.15 at all, because they end its process.
NOT_RUN_ON_2_15 = {
    # A zero-width layer reaches oneDNN's matmul, which aborts the process
    # ("terminate called after throwing an instance of 'dnnl::error'").
    'dnn_hidden_units_zero',
}

_RUNNER = r'''
import shutil
import sys


def outcome(code):
  """[exception class names, most derived first] or None, and the message."""
  try:
    exec(code, dict(globals()))
  except Exception as e:  # pylint: disable=broad-except
    return [c.__name__ for c in type(e).__mro__], str(e)[:500]
  return None, ''


results = {name: outcome(code) for name, code in CASES_TO_RUN}
shutil.rmtree(BASE, ignore_errors=True)
with open(sys.argv[1], 'w') as f:
  json.dump(results, f)
'''


def _cases_to_run():
  cases = [(c.name, c.code) for c in table.CASES] + table.ORACLE_ONLY_CASES
  return [(name, code) for name, code in cases if name not in NOT_RUN_ON_2_15]


def _mismatch(name, theirs, ours):
  """Why `name` differs unexpectedly, or None."""
  (their_mro, their_message), (our_mro, our_message) = theirs, ours
  their_class = their_mro[0] if their_mro else None
  our_class = our_mro[0] if our_mro else None
  if name in ALLOWED_DIFFERENCES:
    expected = ALLOWED_DIFFERENCES[name][:2]
    if (their_class, our_class) == expected:
      return None
    return (f'{name}: allow-listed as 2.15 {expected[0]} / ours {expected[1]}, '
            f'but got 2.15 {their_class} / ours {our_class}')
  if their_class is None and our_class is None:
    return None
  if their_class is not None and our_mro and their_class in our_mro:
    return None
  return (f'{name}: 2.15 raised {their_class} ({their_message!r}), ours '
          f'{our_class} ({our_message!r})')


def test_allow_lists_name_table_cases():
  names = {name for name, _ in
           [(c.name, c.code) for c in table.CASES] + table.ORACLE_ONLY_CASES}
  assert set(ALLOWED_DIFFERENCES) <= names
  assert NOT_RUN_ON_2_15 <= names


@pytest.mark.slow
def test_same_exception_classes_as_2_15(venv215_python, tmp_path):
  script = (table.PRELUDE + f'\nCASES_TO_RUN = {_cases_to_run()!r}\n' +
            _RUNNER)
  theirs, ours = reference_runner.run_both(
      venv215_python, script, tmp_path, reference_runner.scenario_env())
  assert set(theirs) == set(ours) == {name for name, _ in _cases_to_run()}
  mismatches = [m for m in (_mismatch(name, theirs[name], ours[name])
                            for name in sorted(theirs)) if m]
  assert not mismatches, '\n'.join(mismatches)
