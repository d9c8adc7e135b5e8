"""`install()`: make legacy import paths resolve to this package.

Legacy programs reach the Estimator through `tf.estimator`,
`tf.compat.v1.estimator` or `import tensorflow_estimator...`; libraries often
import deep module paths such as
`tensorflow_estimator.python.estimator.estimator`. Each of those names is bound
to the module of ours that holds the same things.
"""

import functools
import gc
import sys
import types

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_PREFIX = 'tensorflow_estimator'
_EST = _PREFIX + '.python.estimator'

# Legacy module path -> our module (imported lazily by name).
_MODULE_MAP = {
    # As in 2.15, `tensorflow_estimator.estimator` is the v1 API (with
    # `inputs` and `tpu`); `tf.estimator` is the v2 one.
    _PREFIX + '.estimator': 'tfcompat_estimator.compat.v1',
    _PREFIX + '.compat.v1.estimator': 'tfcompat_estimator.compat.v1',
    _EST + '.estimator': 'tfcompat_estimator.estimator',
    _EST + '.estimator_lib': 'tfcompat_estimator.estimator_lib',
    _EST + '.hooks.session_run_hook': 'tfcompat_estimator.hooks',
    _EST + '.model_fn': 'tfcompat_estimator.model_fn',
    _EST + '.run_config': 'tfcompat_estimator.run_config',
    _EST + '.mode_keys': 'tfcompat_estimator.model_fn',
    _EST + '.warm_starting_util': 'tfcompat_estimator.warm_starting',
    _EST + '.hooks.basic_session_run_hooks': 'tfcompat_estimator.hooks',
    _EST + '.export.export': 'tfcompat_estimator.export.receivers',
    _EST + '.export.export_lib': 'tfcompat_estimator.export.export_lib',
    _EST + '.export.export_output': 'tfcompat_estimator.export',
    _EST + '.inputs.numpy_io': 'tfcompat_estimator.inputs.numpy_io',
    _EST + '.inputs.pandas_io': 'tfcompat_estimator.inputs.pandas_io',
    _EST + '.inputs.inputs': 'tfcompat_estimator.inputs',
    _EST + '.inputs.queues.feeding_functions': (
        'tfcompat_estimator.inputs.graph_queue'),
    _EST + '.training': 'tfcompat_estimator.train_eval',
    _EST + '.exporter': 'tfcompat_estimator.exporter',
    _EST + '.gc': 'tfcompat_estimator.gc',
    _EST + '.util': 'tfcompat_estimator.util',
    _EST + '.early_stopping': 'tfcompat_estimator.early_stopping',
    _EST + '.estimator_export': 'tfcompat_estimator.estimator_export',
    _EST + '.hooks.hooks': 'tfcompat_estimator.evaluation_hooks',
}

# Canned modules are bound as lazy aliases: importing them pulls in feature
# columns and Keras, which most custom-Estimator programs never need.
_CANNED = 'tfcompat_estimator.canned.'
_LAZY_MODULE_MAP = {
    _EST + '.canned.' + name: _CANNED + name
    for name in ('dnn', 'linear', 'dnn_linear_combined', 'baseline', 'rnn',
                 'optimizers', 'metric_keys', 'prediction_keys',
                 'parsing_utils')
}
_LAZY_MODULE_MAP.update({
    _EST + '.keras_lib': 'tfcompat_estimator.keras_lib',
    _EST + '.canned.head': _CANNED + 'head.v1_heads',
    _EST + '.extenders': _CANNED + 'extenders',
    _EST + '.export.function': 'tfcompat_estimator.export.function',
    _EST + '.head.sequential_head': _CANNED + 'rnn',
})
# The families below are large and rarely used; each is bound lazily under
# its 2.15 path.
_LAZY_MODULE_MAP.update({
    _EST + '.canned.kmeans': _CANNED + 'kmeans',
    _EST + '.canned.saved_model_estimator': _CANNED + 'saved_model_estimator',
})
_LAZY_MODULE_MAP.update({
    f'{_EST}.canned.linear_optimizer.python.utils.{name}':
        f'{_CANNED}linear_optimizer.{name}'
    for name in ('sdca_ops', 'sharded_mutable_dense_hashtable')
})
_LAZY_MODULE_MAP.update({
    f'{_EST}.canned.timeseries.{name}': f'{_CANNED}timeseries.{name}'
    for name in ('ar_model', 'estimators', 'feature_keys', 'head',
                 'math_utils', 'model', 'model_utils', 'saved_model_utils',
                 'state_management')
})
_LAZY_MODULE_MAP.update({
    f'{_EST}.tpu.{name}': f'tfcompat_estimator.tpu.{name}'
    for name in ('tpu_estimator', 'tpu_config', 'util',
                 '_tpu_estimator_embedding', 'tpu_context', 'error_handling',
                 'iteration_count_estimator')
})
_LAZY_MODULE_MAP.update({
    f'{_EST}.head.{name}': f'{_CANNED}head.{name}'
    for name in ('base_head', 'binary_class_head', 'multi_class_head',
                 'multi_label_head', 'regression_head', 'multi_head',
                 'head_utils')
})

# TensorFlow 2.15 still shipped TF 1.x's `tensorflow.python.estimator.<module>`
# paths, each a copy of the names of the tensorflow_estimator module (TF 1.x
# programs import from there: cloudml-samples' census estimator takes
# `ModeKeys` from `tensorflow.python.estimator.model_fn`). They are bound
# lazily to the modules of the same tensorflow_estimator paths.
_TF_PATH = 'tensorflow.python.estimator'
_TF_PATH_MODULES = (
    'estimator', 'estimator_lib', 'exporter', 'gc', 'model_fn', 'run_config',
    'training', 'util', 'export.export', 'export.export_lib',
    'export.export_output', 'inputs.inputs', 'inputs.numpy_io',
    'inputs.pandas_io', 'inputs.queues.feeding_functions', 'canned.baseline',
    'canned.dnn', 'canned.dnn_linear_combined', 'canned.head', 'canned.linear',
    'canned.metric_keys', 'canned.optimizers', 'canned.parsing_utils',
    'canned.prediction_keys')
_LAZY_MODULE_MAP.update({
    f'{_TF_PATH}.{name}': {**_MODULE_MAP, **_LAZY_MODULE_MAP}[f'{_EST}.{name}']
    for name in _TF_PATH_MODULES})
_LAZY_MODULE_MAP[_TF_PATH + '.keras'] = 'tfcompat_estimator.keras_lib'
# And `tensorflow.python.tpu.<module>` for TPUEstimator's modules: 2.15's TF
# kept stubs there that re-exported them, and TPU-era programs import from
# them (Mesh TensorFlow, under T5: `from tensorflow.python.tpu import
# tpu_config, tpu_estimator`). TF 2.21's real `tensorflow.python.tpu`
# package stays; the aliases join it (`_bind` imports it first).
_TF_TPU_PATH = 'tensorflow.python.tpu'
_TF_TPU_MODULES = ('tpu_estimator', 'tpu_config', 'tpu_context', 'util',
                   'error_handling')
_LAZY_MODULE_MAP.update({
    f'{_TF_TPU_PATH}.{name}': f'tfcompat_estimator.tpu.{name}'
    for name in _TF_TPU_MODULES})


class _LazyAlias(types.ModuleType):
  """A module that imports its target on first attribute access.

  Setting or deleting an attribute reaches the target too, so a program that
  patches a function of `tensorflow_estimator...canned.dnn` (e.g. with
  `mock.patch.object`) patches the one the package calls.
  """

  _OWN = ('_LazyAlias__target', '__name__', '__doc__', '__package__',
          '__loader__', '__spec__')

  def __init__(self, name, target):
    super().__init__(name, f'Alias of {target}, created by install().')
    self.__target = target
    self.__spec__ = _alias_spec(name)

  def __getattr__(self, attr):
    if attr == '__file__' and self.__target not in sys.modules:
      # Tools that walk sys.modules ask every module for its file: autograph
      # does, on the first function it converts (a Dataset.map's). Importing
      # all our aliased modules then cost that first call 0.07 s (measured,
      # custom_model_fn's first predict()); the file is known without it.
      return _source_file(self.__target)
    return getattr(self.__module(), attr)

  def __setattr__(self, attr, value):
    if attr in self._OWN:
      super().__setattr__(attr, value)
    else:
      setattr(self.__module(), attr, value)

  def __delattr__(self, attr):
    delattr(self.__module(), attr)

  def __dir__(self):
    return dir(self.__module())

  def __module(self):
    import importlib  # pylint: disable=g-import-not-at-top
    return importlib.import_module(self.__target)


@functools.lru_cache(maxsize=None)
def _source_file(module_name):
  """The file of a module of this package, found without importing it.

  Nor its parent packages: `importlib.util.find_spec` would run them, and
  `tfcompat_estimator.tpu`'s imports the whole TPUEstimator. Cached:
  autograph asks again for every function it converts, and looking up all
  the aliases' files costs about 1 ms each time (measured).
  """
  import importlib.machinery  # pylint: disable=g-import-not-at-top
  *packages, leaf = module_name.split('.')[1:]
  search_path = sys.modules['tfcompat_estimator'].__path__
  for package in packages:
    search_path = importlib.machinery.PathFinder.find_spec(
        package, search_path).submodule_search_locations
  return importlib.machinery.PathFinder.find_spec(leaf, search_path).origin


def _alias_spec(name, is_package=False):
  """A spec for a module made here, so that it is found as installed.

  Libraries test for tf.estimator with `importlib.util.find_spec(
  'tensorflow_estimator')`, which raises ValueError for a module in
  sys.modules whose `__spec__` is None (measured: TF Model Analysis's
  EvalSavedModel path).
  """
  import importlib.machinery  # pylint: disable=g-import-not-at-top
  return importlib.machinery.ModuleSpec(name, None, is_package=is_package)


def _package(name):
  module = sys.modules.get(name)
  if module is None and name.startswith('tensorflow.python.'):
    # A real TensorFlow package (`tensorflow.python.tpu`) that `import
    # tensorflow` did not load: an empty stand-in would hide its modules.
    module = _real_package(name)
  if module is None:
    module = types.ModuleType(name, 'Alias created by tfcompat_estimator.install().')
    module.__path__ = []
    module.__spec__ = _alias_spec(name, is_package=True)
    sys.modules[name] = module
  return module


def _real_package(name):
  import importlib  # pylint: disable=g-import-not-at-top
  try:
    return importlib.import_module(name)
  except ImportError:  # `tensorflow.python.estimator`: gone since TF 2.16
    return None


def _bind(path, module):
  """Registers `module` at `path`, creating parent packages as needed."""
  sys.modules[path] = module
  parts = path.split('.')
  for i in range(1, len(parts)):
    parent = _package('.'.join(parts[:i]))
    child = sys.modules.get('.'.join(parts[:i + 1]))
    if child is not None:
      setattr(parent, parts[i], child)


def install():
  """Binds `tf.estimator`, `tf.compat.v*.estimator` and `tensorflow_estimator`.

  `tf.estimator` and `tf.compat.v2.estimator` become this package,
  `tf.compat.v1.estimator` becomes `tfcompat_estimator.compat.v1` (also
  as `tf.compat.v1.compat.v1.estimator` and the other nested paths), and the
  2.15 module paths under `tensorflow_estimator` are registered in
  `sys.modules` (the core ones bound to our modules, the canned, TPU and
  other heavy ones as lazy aliases), so
  `import tensorflow_estimator.python.estimator.<path>` finds our modules.
  Idempotent: calling it again rebinds the same objects. The first call
  also spares the objects alive at that point (mostly TensorFlow's, from
  its import) the garbage collector's full passes (`gc.freeze()`), which
  otherwise cost the first call of a process about 0.16 s.

  Returns:
    The `tfcompat_estimator` package, so `estimator = install()` also works.
  """
  import importlib  # pylint: disable=g-import-not-at-top
  root = importlib.import_module('tfcompat_estimator')
  for path, target in _MODULE_MAP.items():
    _bind(path, importlib.import_module(target))
  for path, target in _LAZY_MODULE_MAP.items():
    if not isinstance(sys.modules.get(path), _LazyAlias):
      _bind(path, _LazyAlias(path, target))
  v1 = importlib.import_module('tfcompat_estimator.compat.v1')
  # First: resolving TF's lazy Keras attributes replaces the tf.compat.v1
  # module object, which would drop an `estimator` attribute set before.
  _check_legacy_keras()
  tf.estimator = root
  # A program may hold the module `tf.compat.v1` was before tf_keras' import
  # replaced it (`v1 = tf.compat.v1` ahead of `import tfcompat_estimator`).
  for name, module in (('tensorflow._api.v2.compat.v1', v1),
                       ('tensorflow._api.v2.compat.v2', root)):
    if name in sys.modules:
      sys.modules[name].estimator = module
  for compat in (tf.compat, tf.compat.v1.compat, tf.compat.v2.compat):
    # The nested ones too: code converted by tf_upgrade_v2 writes
    # `tf.compat.v1.estimator` and may `import tensorflow.compat.v1 as tf`.
    compat.v2.estimator = root
    compat.v1.estimator = v1
  # 2.15's writers came from the v1 FileWriterCache; a program's hooks that
  # ask it for the model_dir's writer share the Estimator's events file.
  importlib.import_module('tfcompat_estimator.session_emulation.'
                          'file_writer_cache').share_events_files()
  tf_internals.decide_numpy_version_once()  # generator input_fns' speed
  tf_internals.find_keras_named_modules_as_named()  # keras-tuner's objects
  # A program that seeds Python's `random` gets 2.15's Keras initial values.
  importlib.import_module('tfcompat_estimator.engine.python_seeds').watch()
  _spare_startup_objects_from_gc()
  return root


_startup_objects_spared = False  # set by the first call of the function below


def _spare_startup_objects_from_gc():
  """Takes the objects alive now out of the collector's full passes.

  Importing TensorFlow leaves about 310,000 tracked objects (modules,
  classes, functions, op definitions) that live as long as the process.
  Python's full collection walks all of them each time; the first train(),
  evaluate() or predict() of a process builds enough graph objects to
  trigger one, measured at 0.15-0.18 s of the call (2.15's first call pays
  the same pass). `gc.freeze()` moves them to a generation the collector
  never walks, so that pass, and every later one, only looks at what the
  program made after `install()`. The cost: a reference cycle among those
  startup objects that becomes garbage later is not freed. Only the first
  call freezes: by a later one the program's own objects are alive too.
  """
  global _startup_objects_spared
  if not _startup_objects_spared:
    gc.freeze()
    _startup_objects_spared = True


def _check_legacy_keras():
  try:
    tf.compat.v1.layers.Dense  # pylint: disable=pointless-statement
  except (ImportError, AttributeError, ValueError) as e:
    logging.warning(
        'tf.compat.v1.layers is unavailable (%s). Import tfcompat_estimator '
        'before tf.keras is first used, or set TF_USE_LEGACY_KERAS=1.', e)
