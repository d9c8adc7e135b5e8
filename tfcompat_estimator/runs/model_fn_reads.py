"""The plain Python values a model_fn reads as it builds its graph.

2.15 called the model_fn at every train(), evaluate() and predict(); the
engine keeps each mode's graph between calls (`runs.model_graphs`), which
is what makes a repeated call cost only its steps. A model_fn that reads
Python state changed between calls saw the new values on 2.15 and would
see its first graph's here. TensorFlow Privacy's MovieLens tutorial sets a
module global (`microbatches = len(subsampling)`) before each
`train(steps=1)`; its DP optimizer reshapes the loss by it, and the kept
graph failed with "Input to reshape is a tensor with 9940 values"; a
model_fn that only multiplied by such a value trained silently with the
old one.

`snapshot(model_fn)` records what the model_fn's own code (and the user
code it reaches) reads: module globals, closure variables, the attributes
of the objects those name (argparse and HParams-style objects, `self` of a
method) and absl flags, where they hold plain values (numbers, strings,
None, and lists, tuples, dicts and sets of them), and which functions those
names hold. A kept graph serves a call only while its snapshot, taken right
after its model_fn ran, is unchanged. Only names the code uses are looked
up, through instance and module dicts (no properties run). Library code
(installed packages, the standard library, this package) is not read for
values: its model_fns (canned estimators, TPUEstimator's wrapper) only
lead to the user's functions they hold. What a snapshot cannot see keeps
the first graph: values two attribute lookups away from a name, numpy
arrays, draws of Python's random number generators.
"""

import functools
import os
import sys
import sysconfig
import types

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(sorted(
    {sysconfig.get_paths()[key] for key in ('stdlib', 'platstdlib',
                                            'purelib', 'platlib')} |
    {os.path.join(_PACKAGE_DIR, '')}))
_SCALARS = (type(None), bool, int, float, complex, str, bytes, np.generic)
_CONTAINERS = (list, tuple, set, frozenset, dict)
# Containers larger than this are data, not settings: not recorded.
_MAX_ITEMS = 1000
# Enough for any model_fn's own code; bounds the walk through user code.
_MAX_FUNCTIONS = 500


def snapshot(model_fn):
  """What `model_fn` reads: comparable with `==`, and `changed` describes it.

  Args:
    model_fn: The Estimator's model_fn: a function, a bound method, a
      `functools.partial` or a callable object.

  Returns:
    A tuple of `(where, value)` pairs: the repr of each plain value read,
    and for each callable one equal only to the same callable.
  """
  walk = _Walk()
  walk.callable(model_fn)
  walk.objects_read()
  return tuple(walk.reads)


def changed(before, after):
  """The names whose values differ between two snapshots, for the log."""
  old, new = dict(before), dict(after)
  return sorted(name for name in old.keys() | new.keys()
                if old.get(name, _MISSING) != new.get(name, _MISSING))


_MISSING = object()


class Same:
  """Equal to another only for the same object (a class's `==` may not be)."""

  __slots__ = ('value',)

  def __init__(self, value):
    self.value = value

  def __eq__(self, other):
    return isinstance(other, Same) and other.value is self.value

  def __hash__(self):
    return id(self.value)

  def __repr__(self):
    return repr(self.value)


def plain(value, budget=None):
  """Whether `value` is a setting: a scalar, or a small container of them."""
  budget = budget if budget is not None else [_MAX_ITEMS]
  if isinstance(value, _SCALARS):
    return True
  if type(value) not in _CONTAINERS:
    return False
  budget[0] -= len(value)
  if budget[0] < 0:
    return False
  items = value.items() if isinstance(value, dict) else ((v, None) for v in value)
  return all(plain(k, budget) and plain(v, budget) for k, v in items)


def _codes(code):
  """A code object and those nested in it (inner functions, comprehensions)."""
  yield code
  for const in code.co_consts:
    if isinstance(const, types.CodeType):
      yield from _codes(const)


class _Walk:
  """Follows a model_fn through the user code it reaches, noting reads."""

  def __init__(self):
    self.reads = []
    self._functions = set()
    # id -> (where, object, whether it is the `self` of a method we call)
    self._objects = {}
    self._names = set()  # the attribute and global names user code uses

  def callable(self, value):
    """Walks whatever code `value` runs when called."""
    if isinstance(value, functools.partial):
      self.callable(value.func)
      for i, arg in enumerate(value.args):
        self._read(f'partial argument {i}', arg, user=True)
      for key, arg in value.keywords.items():
        self._read(f'partial argument {key}', arg, user=True)
    elif isinstance(value, types.MethodType):
      self._object('self', value.__self__, is_self=True)
      self.callable(value.__func__)
    elif isinstance(value, types.FunctionType):
      self._function(value)
    elif isinstance(value, type):
      if not _is_library_class(value):  # the methods of a user's class
        for attribute in list(vars(value).values()):
          attribute = getattr(attribute, '__func__', attribute)  # static, class
          if isinstance(attribute, types.FunctionType):
            self._function(attribute)
    elif callable(value):
      call = getattr(type(value), '__call__', None)
      if isinstance(call, types.FunctionType):
        self._object('self', value, is_self=True)
        self._function(call)

  def _function(self, function):
    if function in self._functions or len(self._functions) >= _MAX_FUNCTIONS:
      return
    self._functions.add(function)
    user = not _is_library(function.__code__)
    for name, cell in zip(function.__code__.co_freevars,
                          function.__closure__ or ()):
      try:
        value = cell.cell_contents
      except ValueError:  # not bound yet
        continue
      self._read(f'{function.__qualname__}: {name}', value, user)
    if not user:
      return
    names = {name for code in _codes(function.__code__)
             for name in code.co_names}
    self._names |= names
    for name in sorted(names):
      if name in function.__globals__:
        self._read(f'{function.__module__}.{name}',
                   function.__globals__[name], user)

  def _read(self, where, value, user):
    """A value user code reads (noted), or library code holds (followed)."""
    if user:
      if plain(value):  # never callable: nothing to follow
        self.reads.append((where, repr(value)))
        return
      if isinstance(value, types.MethodType):  # equal: same function, self
        self.reads.append((where, value))
      elif callable(value):  # functions, classes, callable objects
        self.reads.append((where, Same(value)))
      if not (isinstance(value, _CODE_HOLDERS) or
              isinstance(value, types.ModuleType) and _is_library(value)):
        self._object(where, value)
    if callable(value):
      self.callable(value)

  def _object(self, where, value, is_self=False):
    if id(value) not in self._objects:
      self._objects[id(value)] = (where, value, is_self)

  def objects_read(self):
    """Notes the attributes user code names on the objects it reached.

    Their functions may name more attributes, so this goes on until no new
    object turns up.
    """
    done = set()
    while len(done) < len(self._objects):
      for key, (where, value, is_self) in list(self._objects.items()):
        if key in done:
          continue
        done.add(key)
        library = _is_library(value)
        if library and is_self:
          # TPUEstimator's bound model_fn: its object holds the user's.
          for attribute in instance_dict(value).values():
            if isinstance(attribute, _FUNCTIONS):
              self.callable(attribute)
        if library and type(value).__name__ not in _SETTINGS_TYPES:
          continue
        for name, attribute in _attributes(value, self._names):
          self._read(f'{where}.{name}', attribute, user=True)


_FUNCTIONS = (types.FunctionType, types.MethodType, functools.partial)
_CODE_HOLDERS = _FUNCTIONS + (types.BuiltinFunctionType, type)
# Library objects whose attributes are settings: argparse's, absl's flags,
# tf.contrib's and tensor2tensor's HParams.
_SETTINGS_TYPES = ('Namespace', 'SimpleNamespace', 'FlagValues', 'HParams')


def instance_dict(value):
  """`value`'s own attributes, read without running its code ({} if none)."""
  try:
    return vars(value)
  except Exception:  # pylint: disable=broad-except
    return {}  # no __dict__, or a proxy's that fails


def _attributes(value, names):
  """The attributes in `names` that `value` holds, read without running code."""
  if type(value).__name__ == 'FlagValues':
    for name in sorted(names):
      if name in value:
        yield name, value[name].value
    return
  attributes = instance_dict(value)
  for name in sorted(names & attributes.keys()):
    yield name, attributes[name]


def _is_library(value):
  """Whether a code object, module or object's class comes from a library.

  Code typed into a notebook or `python -c` has no file of its own: user
  code. So has a class defined in `__main__`.
  """
  if isinstance(value, types.CodeType):
    return value.co_filename.startswith(_LIBRARY_DIRS)
  if not isinstance(value, types.ModuleType):
    return _is_library_class(type(value))
  path = getattr(value, '__file__', None)
  return path is None or path.startswith(_LIBRARY_DIRS)


def _is_library_class(cls):
  if cls.__module__ == 'builtins':
    return True
  module = sys.modules.get(cls.__module__)
  path = getattr(module, '__file__', None)
  return path is not None and path.startswith(_LIBRARY_DIRS)
