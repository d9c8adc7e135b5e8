"""Every public name of tensorflow-estimator 2.15 resolves after install().

The names come from third_party/tensorflow_estimator_2_15/golden/api_names.json,
written once by api_names.py from the real 2.15 package (its docstring says
which names count). Two tiers:

* the API namespaces (`tf.estimator`, `tf.compat.v1.estimator`,
  `tf.compat.v2.estimator`) must be complete, apart from NAMESPACE_ALLOWLIST;
* the deep module paths `tensorflow_estimator.python.estimator.<path>` must
  offer every name that api_names_missing.txt does not list, and every listed
  name must still be missing, so the list only shrinks.

Regenerate the missing list (and see coverage) with

    python3 tests/api/test_api_names.py --write-missing
"""

import argparse
import collections
import importlib
import json
import os
import sys

import pytest
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'third_party',
                      'tensorflow_estimator_2_15', 'golden', 'api_names.json')
MISSING_FILE = os.path.join(HERE, 'api_names_missing.txt')
WHOLE_MODULE = '*'

# Namespace names we knowingly do not offer: 'namespace:dotted.name' -> why.
NAMESPACE_ALLOWLIST = {}

# Modules of 2.15 that only matter on TPU hardware; the missing list tags
# their names so the report can set them apart.
TPU_PREFIX = 'tpu.'


def load_golden():
  with open(GOLDEN, encoding='utf-8') as f:
    return json.load(f)


def _resolve(obj, dotted):
  for part in dotted.split('.'):
    obj = getattr(obj, part)
  return obj


def _check_names(root, names, classes):
  """Missing entries of one namespace or module.

  Args:
    root: the module the names hang off.
    names: {dotted name: class key or kind} from the golden file.
    classes: {class key: [member names]} from the golden file.

  Returns:
    (missing, total): sorted missing entries ('Name' or 'Class.member'; a
    missing class stands for its members too) and the number of entries.
  """
  missing, total = [], 0
  for name, kind in sorted(names.items()):
    members = classes.get(kind, ())
    total += 1 + len(members)
    try:
      value = _resolve(root, name)
    except AttributeError:
      missing.append(name)
      continue
    missing.extend(f'{name}.{m}' for m in members if not hasattr(value, m))
  return missing, total


def _count(names, classes):
  return sum(1 + len(classes.get(kind, ())) for kind in names.values())


def namespace_report(golden):
  """{namespace: (missing entries, total entries)}."""
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  report = {}
  for label, names in golden['namespaces'].items():
    root = _resolve(tf, label[len('tf.'):])
    report[label] = _check_names(root, names, golden['classes'])
  return report


def module_report(golden):
  """{module path: (missing entries, total entries)}; ['*'] if unbound."""
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  report = {}
  for path, names in golden['modules'].items():
    try:
      module = importlib.import_module(f'{golden["root_package"]}.{path}')
    except ImportError:
      report[path] = ([WHOLE_MODULE], _count(names, golden['classes']))
      continue
    report[path] = _check_names(module, names, golden['classes'])
  return report


def _missing_counts(entries, names, classes):
  """(names, entries) of the golden file that `entries` stand for."""
  if entries == [WHOLE_MODULE]:
    return len(names), _count(names, classes)
  lost_names = [e for e in entries if e in names]
  lost = _count({e: names[e] for e in lost_names}, classes)
  return len(lost_names), lost + len(entries) - len(lost_names)


def coverage_table(report, section, classes):
  """One line per namespace or module: ours/2.15 names and entries.

  Args:
    report: {path: (missing entries, total entries)}.
    section: the golden file's 'namespaces' or 'modules'.
    classes: the golden file's 'classes'.

  Returns:
    The table as text; entries count names plus class members.
  """
  lines = [f'{"":45s} {"names":^9s} {"entries":^11s}']
  sums = [0, 0, 0, 0]
  for path, (missing, total) in sorted(report.items()):
    names = section[path]
    lost_names, lost = _missing_counts(missing, names, classes)
    row = [len(names) - lost_names, len(names), total - lost, total]
    sums = [a + b for a, b in zip(sums, row)]
    lines.append(f'{path:45s} {row[0]:4d}/{row[1]:<4d} {row[2]:5d}/{row[3]:<5d}'
                 f'{"  (not bound)" if missing == [WHOLE_MODULE] else ""}')
  lines.append(f'{"all":45s} {sums[0]:4d}/{sums[1]:<4d} '
               f'{sums[2]:5d}/{sums[3]:<5d}')
  return '\n'.join(lines)


def read_missing_file():
  """{module path: set of entries} from api_names_missing.txt."""
  missing = collections.defaultdict(set)
  with open(MISSING_FILE, encoding='utf-8') as f:
    for line in f:
      line = line.strip()
      if line and not line.startswith('#'):
        path, entry = line.split(':', 1)
        missing[path].add(entry)
  return missing


def _group_comment(path, entries):
  if entries == [WHOLE_MODULE]:
    return f'# {path}: module not bound yet'
  if path.startswith(TPU_PREFIX):
    return f'# {path}: TPU internals'
  return f'# {path}'


def write_missing_file(report):
  lines = [
      '# Names of tensorflow-estimator 2.15 (golden/api_names.json) that the',
      '# deep module paths do not offer yet: one module:name per line;',
      '# module:* = the module is not bound; a missing class stands for its',
      '# members. tests/api/test_api_names.py checks that this list only shrinks:',
      '# delete a line when you add the name. Regenerate:',
      '#   python3 tests/api/test_api_names.py --write-missing',
  ]
  for path, (missing, _) in sorted(report.items()):
    if missing:
      lines += ['', _group_comment(path, missing)]
      lines += [f'{path}:{entry}' for entry in missing]
  with open(MISSING_FILE, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')


@pytest.fixture(scope='module')
def golden():
  return load_golden()


def test_golden_file_comes_from_2_15(golden):
  assert golden['versions']['tensorflow_estimator'] == '2.15.0'
  # v2 and tf.estimator were one module in 2.15; v1 adds `tpu` and v1 names.
  assert golden['namespaces']['tf.estimator'] == (
      golden['namespaces']['tf.compat.v2.estimator'])
  assert 'tpu.TPUEstimator' in golden['namespaces']['tf.compat.v1.estimator']


def test_api_namespaces_are_complete(golden):
  report = namespace_report(golden)
  unexpected = {
      label: [name for name in missing
              if f'{label}:{name}' not in NAMESPACE_ALLOWLIST]
      for label, (missing, _) in report.items()
  }
  unexpected = {k: v for k, v in unexpected.items() if v}
  assert not unexpected, (
      f'2.15 names missing from the API namespaces: {unexpected}\n'
      f'{coverage_table(report, golden["namespaces"], golden["classes"])}')


def test_allowlisted_namespace_names_are_still_missing(golden):
  report = namespace_report(golden)
  stale = [key for key in NAMESPACE_ALLOWLIST
           if key.split(':', 1)[1] not in report[key.split(':', 1)[0]][0]]
  assert not stale, f'now resolved, delete from NAMESPACE_ALLOWLIST: {stale}'


# Levels of each namespace whose dir() must list exactly 2.15's public names
# ('' is the namespace itself).
DIR_CHECKED_LEVELS = ('', 'export', 'inputs', 'experimental', 'tpu')


def _names_below(names, prefix):
  """The names 2.15 lists directly below `prefix` ('' for the namespace)."""
  start = f'{prefix}.' if prefix else ''
  return {name[len(start):].split('.', 1)[0]
          for name in names if name.startswith(start)}


@pytest.mark.parametrize('label', ['tf.estimator', 'tf.compat.v1.estimator',
                                   'tf.compat.v2.estimator'])
def test_dir_of_namespaces_lists_exactly_the_2_15_names(golden, label):
  """dir() (tab completion, pydoc) shows the API, not our internals."""
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  names = golden['namespaces'][label]
  namespace = _resolve(tf, label[len('tf.'):])
  problems = {}
  for level in DIR_CHECKED_LEVELS:
    expected = _names_below(names, level)
    if not expected:  # e.g. `inputs` is v1-only
      continue
    module = _resolve(namespace, level) if level else namespace
    listed = {name for name in dir(module) if not name.startswith('_')}
    if listed != expected:
      problems[level or label] = {'not in 2.15': sorted(listed - expected),
                                  'missing': sorted(expected - listed)}
  assert not problems, problems


def test_names_left_out_of_dir_still_resolve():
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  assert tfcompat_estimator.install() is tfcompat_estimator
  assert tf.estimator is tfcompat_estimator
  assert 'install' not in dir(tf.estimator)
  # Offered beyond 2.15's tf.estimator, for programs that mixed v1 paths in.
  assert tf.estimator.inputs is tf.compat.v1.estimator.inputs
  assert tfcompat_estimator.compat.v1 is tf.compat.v1.estimator
  assert tf.compat.v1.estimator.tpu.TPUEstimator.__name__ == 'TPUEstimator'
  assert callable(tf.estimator.export.build_raw_serving_input_receiver_fn)


# The `tensorflow.python.estimator` modules TensorFlow 2.15 shipped, each
# offering the names of the tensorflow_estimator module of the same path
# (`keras` stands for `keras_lib`).
TF_PYTHON_ESTIMATOR_MODULES = (
    'estimator', 'estimator_lib', 'exporter', 'gc', 'model_fn', 'run_config',
    'training', 'util', 'export.export', 'export.export_lib',
    'export.export_output', 'inputs.inputs', 'inputs.numpy_io',
    'inputs.pandas_io', 'inputs.queues.feeding_functions', 'canned.baseline',
    'canned.dnn', 'canned.dnn_linear_combined', 'canned.head', 'canned.linear',
    'canned.metric_keys', 'canned.optimizers', 'canned.parsing_utils',
    'canned.prediction_keys')


def test_tf_1_x_module_paths_under_tensorflow_python_resolve():
  """TF 1.x programs import `tensorflow.python.estimator.model_fn.ModeKeys`."""
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  from tensorflow.python.estimator.model_fn import ModeKeys  # pylint: disable=g-import-not-at-top
  assert ModeKeys is tf.estimator.ModeKeys
  for name in TF_PYTHON_ESTIMATOR_MODULES + ('keras',):
    ours = importlib.import_module(f'tensorflow.python.estimator.{name}')
    theirs = importlib.import_module('tensorflow_estimator.python.estimator.' +
                                     ('keras_lib' if name == 'keras' else name))
    assert dir(ours) == dir(theirs), name
  from tensorflow.python.estimator.canned import dnn  # pylint: disable=g-import-not-at-top
  assert dnn.DNNClassifier is tf.compat.v1.estimator.DNNClassifier


def test_tf_tpu_stub_paths_resolve_beside_tensorflows_own():
  """Mesh TensorFlow: `from tensorflow.python.tpu import tpu_estimator`.

  2.15's TF kept five stubs under `tensorflow.python.tpu` re-exporting
  TPUEstimator's modules; the rest of that package is TF's own and must
  still import.
  """
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  from tensorflow.python.tpu import tpu_config, tpu_estimator  # pylint: disable=g-import-not-at-top
  assert tpu_estimator.TPUEstimator is tf.compat.v1.estimator.tpu.TPUEstimator
  assert tpu_config.RunConfig is tf.compat.v1.estimator.tpu.RunConfig
  for name in ('tpu_context', 'util', 'error_handling'):
    ours = importlib.import_module(f'tensorflow.python.tpu.{name}')
    theirs = importlib.import_module(
        f'tensorflow_estimator.python.estimator.tpu.{name}')
    assert dir(ours) == dir(theirs), name
  from tensorflow.python.tpu import tpu_function  # pylint: disable=g-import-not-at-top
  assert callable(tpu_function.on_device_training_loop)


def test_deep_modules_offer_every_name_not_listed_missing(golden):
  report = module_report(golden)
  listed = read_missing_file()
  new_missing, now_present = [], []
  for path, (missing, _) in report.items():
    expected = listed.get(path, set())
    new_missing += [f'{path}:{e}' for e in missing if e not in expected]
    now_present += [f'{path}:{e}' for e in sorted(expected - set(missing))]
  unknown = sorted(set(listed) - set(report))
  assert not unknown, f'{MISSING_FILE} names modules 2.15 lacks: {unknown}'
  message = [f'coverage of 2.15 deep modules (ours/2.15 entries):\n'
             f'{coverage_table(report, golden["modules"], golden["classes"])}']
  if new_missing:
    message.append(f'2.15 names that do not resolve and are not in '
                   f'{MISSING_FILE}:\n  ' + '\n  '.join(new_missing))
  if now_present:
    message.append(f'names that resolve now: delete their lines from '
                   f'{MISSING_FILE} (or run `python3 {__file__} '
                   f'--write-missing`):\n  ' + '\n  '.join(now_present))
  assert not new_missing and not now_present, '\n\n'.join(message)


def main():
  parser = argparse.ArgumentParser(description='2.15 name coverage.')
  parser.add_argument('--write-missing', action='store_true',
                      help=f'rewrite {MISSING_FILE} from the current tree')
  args = parser.parse_args()
  golden = load_golden()
  print('API namespaces, ours/2.15:')
  print(coverage_table(namespace_report(golden), golden['namespaces'],
                       golden['classes']))
  report = module_report(golden)
  print('\nDeep modules, ours/2.15:')
  print(coverage_table(report, golden['modules'], golden['classes']))
  if args.write_missing:
    write_missing_file(report)
    print(f'wrote {MISSING_FILE}')


if __name__ == '__main__':
  sys.exit(main())
