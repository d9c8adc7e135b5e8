"""The public names of the API namespaces; most are resolved on first use.

The canned estimators pull in feature columns, Keras layers and optimizers;
importing them only when a program names one keeps `import tfcompat_estimator`
(and every custom-Estimator program) fast.

The same tables say what `dir()` of a namespace lists: `tf.estimator` is this
package, whose namespace also holds its submodules and its own imports (`os`,
`install`, `engine`, ...). 2.15's generated API modules held only the public
names, so `module_dir` lists only those (the others still resolve).
"""

import importlib
import sys


def module_getattr(module_name, table):
  """A module `__getattr__` serving `table`.

  Args:
    module_name: the module's `__name__`, for error messages.
    table: maps a public name to 'module:attr', or to 'module' for a
      submodule (e.g. `tf.compat.v1.estimator.tpu`).

  Returns:
    A function to bind as the module's `__getattr__`: it imports a name's
    module on first use and raises AttributeError for names not in `table`.
  """

  def __getattr__(name):  # pylint: disable=invalid-name
    target = table.get(name)
    if target is None:
      raise AttributeError(f'module {module_name!r} has no attribute {name!r}')
    path, _, attr = target.partition(':')
    module = importlib.import_module(path)
    return getattr(module, attr) if attr else module

  return __getattr__


def module_dir(module_name, *name_groups):
  """A module `__dir__` listing the public names in `name_groups`.

  Args:
    module_name: the module's `__name__`.
    *name_groups: iterables of public names, e.g. a tuple of eagerly imported
      names and a lazy table (its keys count).

  Returns:
    A function to bind as the module's `__dir__`. It returns the sorted public
    names plus the module's dunders (`__doc__`, `__path__`, ...), so `dir()`,
    tab completion and pydoc show the 2.15 API and not the module's internals.
  """
  public = frozenset(name for group in name_groups for name in group)

  def __dir__():  # pylint: disable=invalid-name
    module = sys.modules[module_name]
    dunders = {name for name in vars(module)
               if name.startswith('__') and name.endswith('__')}
    return sorted(public | dunders)

  return __dir__


# Session-run hooks re-exported from tf.compat.v1.train (`hooks.py`).
HOOKS = (
    'CheckpointSaverHook', 'CheckpointSaverListener', 'FeedFnHook',
    'FinalOpsHook', 'GlobalStepWaiterHook', 'LoggingTensorHook',
    'NanLossDuringTrainingError', 'NanTensorHook', 'ProfilerHook',
    'SecondOrStepTimer', 'SessionRunArgs', 'SessionRunContext',
    'SessionRunHook', 'SessionRunValues', 'StepCounterHook', 'StopAtStepHook',
    'SummarySaverHook')

# Public names the package (`tf.estimator`) and `compat.v1`
# (`tf.compat.v1.estimator`) import eagerly; the lazy ones are V2 and V1.
# `inputs` is v1-only in 2.15: the package still offers it, unlisted.
EAGER_V2 = ('Estimator', 'EstimatorSpec', 'ModeKeys', 'RunConfig', 'VocabInfo',
            'WarmStartSettings', 'experimental', 'export') + HOOKS
EAGER_V1 = EAGER_V2 + ('inputs',)


_CANNED = 'tfcompat_estimator.canned.'
_HEAD = _CANNED + 'head.'

HEADS = {
    'Head': _HEAD + 'base_head:Head',
    'BinaryClassHead': _HEAD + 'binary_class_head:BinaryClassHead',
    'MultiClassHead': _HEAD + 'multi_class_head:MultiClassHead',
    'MultiLabelHead': _HEAD + 'multi_label_head:MultiLabelHead',
    'RegressionHead': _HEAD + 'regression_head:RegressionHead',
    'PoissonRegressionHead': _HEAD + 'regression_head:PoissonRegressionHead',
    'LogisticRegressionHead': _HEAD + 'regression_head:LogisticRegressionHead',
    'MultiHead': _HEAD + 'multi_head:MultiHead',
}

EXPORTERS = {
    name: f'tfcompat_estimator.exporter:{name}'
    for name in ('Exporter', 'LatestExporter', 'BestExporter', 'FinalExporter')
}


TRAIN_EVAL = {
    name: f'tfcompat_estimator.train_eval:{name}'
    for name in ('TrainSpec', 'EvalSpec', 'train_and_evaluate')
}


def parsing(suffix):
  """parse-spec helpers (v2 ones accept only v2 feature columns) and add_metrics."""
  return {
      'classifier_parse_example_spec':
          f'{_CANNED}parsing_utils:classifier_parse_example_spec{suffix}',
      'regressor_parse_example_spec':
          f'{_CANNED}parsing_utils:regressor_parse_example_spec{suffix}',
      'add_metrics': _CANNED + 'extenders:add_metrics',
  }


_FAMILIES = {
    'dnn': ['DNNClassifier', 'DNNRegressor', 'DNNEstimator'],
    'linear': ['LinearClassifier', 'LinearRegressor', 'LinearEstimator'],
    'dnn_linear_combined': ['DNNLinearCombinedClassifier',
                            'DNNLinearCombinedRegressor',
                            'DNNLinearCombinedEstimator'],
    'baseline': ['BaselineClassifier', 'BaselineRegressor',
                 'BaselineEstimator'],
}


def canned(suffix):
  """Canned estimator table: class `<Name><suffix>` of each family module."""
  return {name: f'{_CANNED}{module}:{name}{suffix}'
          for module, names in _FAMILIES.items() for name in names}


V2 = {**canned('V2'), **HEADS, **parsing('_v2'), **EXPORTERS, **TRAIN_EVAL}
V1 = {**canned(''), **HEADS, **parsing(''), **EXPORTERS, **TRAIN_EVAL,
      'tpu': 'tfcompat_estimator.tpu'}
EXPERIMENTAL_V2 = {
    'RNNClassifier': _CANNED + 'rnn:RNNClassifier',
    'RNNEstimator': _CANNED + 'rnn:RNNEstimator',
    'LinearSDCA': _CANNED + 'linear:LinearSDCA',
}
EXPERIMENTAL_V1 = {
    'KMeans': _CANNED + 'kmeans:KMeansClustering',
    'dnn_logit_fn_builder': _CANNED + 'dnn:dnn_logit_fn_builder',
    'linear_logit_fn_builder': _CANNED + 'linear:linear_logit_fn_builder',
    'LinearSDCA': _CANNED + 'linear:LinearSDCA',
}
