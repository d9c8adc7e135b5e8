"""This package's modules see TensorFlow itself as `tensorflow`, whatever a
program put in its place.

Some TF1 programs, and launchers that run them unedited, write
`sys.modules['tensorflow'] = tf.compat.v1` so that every later
`import tensorflow as tf` gets the v1 API. Most modules of this package are
imported on first use (`lazy_exports`), which may come after such a swap;
their own `import tensorflow as tf` would then bind the v1 API, which lacks
TF2 names (measured: a canned DNNRegressor's evaluate failed on
`tf.__internal__`). 2.15 imported its API modules before a program could
swap. While `tensorflow` names another module, the finder below imports this
package's modules, and whatever they import, with the real one in place; it
steps aside otherwise, so a normal import is not touched.
"""

import importlib.abc
import importlib.machinery
import sys

_PREFIX = 'tfcompat_estimator.'


class _WithRealTensorFlow(importlib.abc.Loader):
  """Runs a module's code while `sys.modules['tensorflow']` is TensorFlow."""

  def __init__(self, loader, tensorflow):
    self._loader = loader
    self._tensorflow = tensorflow

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    program_alias = sys.modules.get('tensorflow')
    sys.modules['tensorflow'] = self._tensorflow
    try:
      self._loader.exec_module(module)
    finally:
      sys.modules['tensorflow'] = program_alias


class _Finder(importlib.abc.MetaPathFinder):

  def __init__(self, tensorflow):
    self._tensorflow = tensorflow

  def find_spec(self, fullname, path, target=None):
    if (not fullname.startswith(_PREFIX) or
        sys.modules.get('tensorflow') is self._tensorflow):
      return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
    if spec is not None and spec.loader is not None:
      spec.loader = _WithRealTensorFlow(spec.loader, self._tensorflow)
    return spec


def guard():
  """Registers the finder (once), with the `tensorflow` module of now."""
  if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Finder(sys.modules['tensorflow']))
