"""Writes golden/api_names.json: the public names tensorflow-estimator 2.15.0
offers, read from the REAL package on tensorflow-cpu 2.15.1.

Run with the 2.15 interpreter (make_golden.sh --venv-only provides it):

    env -u TF_USE_LEGACY_KERAS $VENV215/bin/python \
        third_party/tensorflow_estimator_2_15/api_names.py

tests/api/test_api_names.py checks that every name resolves after
`tfcompat_estimator.install()`.

What is recorded
----------------
`namespaces`: `tf.estimator`, `tf.compat.v1.estimator` and
`tf.compat.v2.estimator`, walked through their sub-namespaces (`experimental`,
`export`, `inputs`, `tpu`, `tpu.experimental`). Every name not starting with
`_` is listed by its dotted path below the namespace (`export.PredictOutput`).

`modules`: every module of `tensorflow_estimator.python.estimator` that
pkgutil finds, except the generated `api` packages (recorded as namespaces),
tests, testing utilities and `tools`; keyed by the path below
`tensorflow_estimator.python.estimator`. A module's names are the public
names that the module itself gives a meaning to, read from its source
(ast, top-level statements only, descending into top-level if/try/with):

  1. names bound by `def`, `class` or an assignment (`X = ...`, including
     aliases such as `Foo = other.Foo`, which the module chose to offer);
  2. imported names that the module re-exports on purpose with a top-level
     `estimator_export(...)(Name)` call (e.g. `mode_keys.ModeKeys`);
  3. in a module whose top level is nothing but imports (a re-export module
     such as `estimator_lib`), every public name it imports, except modules.

`typing.TypeVar` placeholders (`estimator_export.T`) are annotations, not
API, and are left out. Any other imported name is the module's own import and is not recorded, so a
module that merely uses `from tensorflow... import math_ops` or `import six`
contributes nothing for it. The source is the ground truth for "defines",
rather than `obj.__module__`, so constants and module-level instances are
covered and a class a module re-binds under a new name counts where the
binding is written.

`classes`: for every recorded name that is a class (in a namespace or a
module), its public members: the names in `dir(cls)` that do not start with
`_`, excluding members that the class only inherits from a built-in type
(`tuple.count`, `Exception.args`, ...). Inherited members of estimator or
TensorFlow base classes are kept: a program calls `DNNClassifier.train`. A
class is keyed by `module:qualname` of its definition, so the many paths to
one class share one entry; namespaces and modules map each class name to
that key.

Output is sorted, so regenerating gives an identical file.
"""

import argparse
import ast
import importlib
import inspect
import json
import os
import pkgutil
import sys
import types
import typing

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_PACKAGE = 'tensorflow_estimator.python.estimator'
NAMESPACES = {
    'tf.estimator': lambda: tf.estimator,
    'tf.compat.v1.estimator': lambda: tf.compat.v1.estimator,
    'tf.compat.v2.estimator': lambda: tf.compat.v2.estimator,
}
# Module paths (below ROOT_PACKAGE) that are not part of the library's API.
SKIPPED_PREFIXES = ('api', 'tools', 'canned.v1')
SKIPPED_MODULES = ('hooks.fake_summary_writer',)
EXPORT_DECORATOR = 'estimator_export'


def is_public(name):
  return not name.startswith('_')


def class_key(cls):
  return f'{cls.__module__}:{cls.__qualname__}'


def class_members(cls):
  """Public members of `cls`, without those only a built-in base provides."""
  members = []
  for name in dir(cls):
    if not is_public(name):
      continue
    owner = next((k for k in cls.__mro__ if name in vars(k)), None)
    if owner is not None and owner.__module__ == 'builtins':
      continue
    members.append(name)
  return sorted(members)


def walk_namespace(module, prefix, names, classes):
  """Adds `prefix`-relative names of `module` (recursively) to `names`."""
  for name in sorted(dir(module)):
    if not is_public(name):
      continue
    value = getattr(module, name)
    path = prefix + name
    if isinstance(value, types.ModuleType):
      names[path] = 'namespace'
      walk_namespace(value, path + '.', names, classes)
    else:
      names[path] = record_value(value, classes)


def record_value(value, classes):
  """What a name holds: a class key (members go to `classes`) or a kind."""
  if inspect.isclass(value):
    key = class_key(value)
    classes.setdefault(key, class_members(value))
    return key
  if callable(value):
    return 'function'
  return 'value'


def _top_level_statements(body):
  for node in body:
    yield node
    if isinstance(node, ast.If):
      yield from _top_level_statements(node.body)
      yield from _top_level_statements(node.orelse)
    elif isinstance(node, ast.Try):
      for block in (node.body, node.orelse, node.finalbody):
        yield from _top_level_statements(block)
      for handler in node.handlers:
        yield from _top_level_statements(handler.body)
    elif isinstance(node, ast.With):
      yield from _top_level_statements(node.body)


def _target_names(target):
  if isinstance(target, ast.Name):
    yield target.id
  elif isinstance(target, (ast.Tuple, ast.List)):
    for element in target.elts:
      yield from _target_names(element)


def _exported_import(node):
  """`Name` for a statement `estimator_export(...)(Name)`, else None."""
  if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
    return None
  call = node.value
  inner = call.func
  if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and
      inner.func.id == EXPORT_DECORATOR and len(call.args) == 1 and
      isinstance(call.args[0], ast.Name)):
    return call.args[0].id
  return None


def defined_names(module):
  """Public names `module` defines, by the rules in this file's docstring."""
  with open(module.__file__, encoding='utf-8') as f:
    tree = ast.parse(f.read())
  defined, exported, imported = set(), set(), set()
  only_imports = True
  for node in _top_level_statements(tree.body):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
      defined.add(node.name)
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      for target in targets:
        defined.update(_target_names(target))
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      if isinstance(node, ast.ImportFrom) and node.module == '__future__':
        continue
      for alias in node.names:
        imported.add((alias.asname or alias.name).split('.')[0])
      continue
    name = _exported_import(node)
    if name is not None:
      exported.add(name)
    is_docstring = (isinstance(node, ast.Expr) and
                    isinstance(node.value, ast.Constant) and
                    isinstance(node.value.value, str))
    if not is_docstring:
      only_imports = False
  names = defined | exported
  if only_imports:
    names |= {name for name in imported
              if not isinstance(getattr(module, name, None), types.ModuleType)}
  return sorted(name for name in names
                if is_public(name) and hasattr(module, name) and
                not isinstance(getattr(module, name), typing.TypeVar))


def module_paths():
  package = importlib.import_module(ROOT_PACKAGE)
  paths = []
  for info in pkgutil.walk_packages(package.__path__, ROOT_PACKAGE + '.'):
    path = info.name[len(ROOT_PACKAGE) + 1:]
    if ('_test' in path or 'testing_util' in path or path in SKIPPED_MODULES or
        any(path == p or path.startswith(p + '.') for p in SKIPPED_PREFIXES)):
      continue
    paths.append(path)
  return sorted(paths)


def collect():
  classes = {}
  namespaces = {}
  for label, get in NAMESPACES.items():
    names = {}
    walk_namespace(get(), '', names, classes)
    namespaces[label] = names
  modules = {}
  for path in module_paths():
    module = importlib.import_module(f'{ROOT_PACKAGE}.{path}')
    names = {name: record_value(getattr(module, name), classes)
             for name in defined_names(module)}
    if names:
      modules[path] = names
  return {
      'about': 'Public names of tensorflow-estimator 2.15.0, written by '
               'api_names.py (its docstring gives the rules). Values: a '
               'class key into `classes`, or function/value/namespace.',
      'versions': {'tensorflow': tf.__version__,
                   'tensorflow_estimator': _estimator_version(),
                   'python': sys.version.split()[0]},
      'root_package': ROOT_PACKAGE,
      'namespaces': namespaces,
      'modules': modules,
      'classes': dict(sorted(classes.items())),
  }


def _estimator_version():
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  return metadata.version('tensorflow-estimator')


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default=os.path.join(HERE, 'golden',
                                                    'api_names.json'))
  args = parser.parse_args()
  data = collect()
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, 'w') as f:
    json.dump(data, f, indent=1, sort_keys=True)
    f.write('\n')
  print(f'wrote {args.out}: {len(data["modules"])} modules, '
        f'{len(data["classes"])} classes')


if __name__ == '__main__':
  main()
