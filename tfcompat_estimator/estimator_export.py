"""`estimator_export`: the decorator tf.estimator's own modules carried.

Projects that vendored parts of tensorflow-estimator (a patched
`exporter.py`, a forked canned estimator) kept its
`from tensorflow_estimator.python.estimator.estimator_export import
estimator_export` line. TensorFlow 2.16+ dropped the `estimator` API from
its export registry (`tf_export.api_export(api_name='estimator')` now fails
on the unknown name), so the decorator is provided here: it records the API
names on the symbol under 2.15's attribute names and marks the symbol
deprecated with 2.15's message, and registers nothing, as there is no
`tf.estimator` API for TensorFlow to generate any more.
"""

import sys

from tensorflow.python.util import deprecation
from tensorflow.python.util import tf_decorator
from tensorflow.python.util import tf_export

_NAMES = '_estimator_api_names'
_NAMES_V1 = '_estimator_api_names_v1'
_CONSTANTS = '_estimator_api_constants'
_CONSTANTS_V1 = '_estimator_api_constants_v1'


class estimator_export:  # pylint: disable=invalid-name
  """Marks a symbol as part of the Estimator API under the given names.

  Args:
    *args: API names in dotted form, each under `estimator`
      (e.g. `'estimator.Foo'`); the first one is the canonical name.
    v1: The names in the TF1 API; defaults to `args`.

  Raises:
    InvalidSymbolNameError: A name is not under `estimator` (TensorFlow's
      error, as in 2.15).
  """

  def __init__(self, *args, v1=None):
    self._names = args
    self._names_v1 = v1 if v1 is not None else args
    outside = [n for n in set(self._names) | set(self._names_v1)
               if not n.startswith('estimator')]
    if outside:
      raise tf_export.InvalidSymbolNameError(
          'Can only export symbols under package name of component: '
          f'`estimator`; got {sorted(outside)}.')

  def __call__(self, func):
    """Records the names on `func` and marks it deprecated.

    Args:
      func: The function or class.

    Returns:
      `func` wrapped to log 2.15's deprecation notice once, on first use.
    """
    func = deprecation.deprecated(None, 'Use tf.keras instead.')(func)
    _, target = tf_decorator.unwrap(func)
    self.set_attr(target, _NAMES, self._names)
    self.set_attr(target, _NAMES_V1, self._names_v1)
    return func

  def set_attr(self, func, api_names_attr, names):
    """Stores `names` on `func` under `api_names_attr`."""
    del self  # the same for every export
    setattr(func, api_names_attr, names)

  def export_constant(self, module_name, name):
    """Records that `module_name.name`, a constant, has these API names.

    Args:
      module_name: The name of the (imported) module holding the constant.
      name: The constant's name in that module.
    """
    module = sys.modules[module_name]
    for attr, names in ((_CONSTANTS, self._names),
                        (_CONSTANTS_V1, self._names_v1)):
      if not hasattr(module, attr):
        setattr(module, attr, [])
      getattr(module, attr).append((names, name))
