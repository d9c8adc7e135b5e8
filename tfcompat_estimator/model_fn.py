"""The `model_fn` contract: `ModeKeys`, `EstimatorSpec` and how a model_fn is called.

`EstimatorSpec` is validated when it is built, as in tf.estimator 2.15, so a
model_fn that returns something unusable fails at graph-capture time with a
message naming the offending field, not later inside a step function.
"""

import collections
import functools
import inspect

import tensorflow as tf

from tfcompat_estimator.platform.tf_internals import EstimatorModeKeys
from tfcompat_estimator.platform.tf_internals import export_output as export_output_lib
from tfcompat_estimator.platform.tf_internals import tf_logging as logging


class ModeKeys(EstimatorModeKeys):
  """Standard names for model modes: `TRAIN`, `EVAL` and `PREDICT` ('infer')."""


# The eval metric keys 2.15's Estimator added: the mean loss over batches,
# and the heads' mean loss over examples.
LOSS_METRIC_KEY = 'loss'
AVERAGE_LOSS_METRIC_KEY = 'average_loss'

_SPEC_FIELDS = ('mode', 'predictions', 'loss', 'train_op', 'eval_metric_ops',
                'export_outputs', 'training_chief_hooks', 'training_hooks',
                'scaffold', 'evaluation_hooks', 'prediction_hooks')

_VALID_MODEL_FN_ARGS = frozenset(
    ['features', 'labels', 'mode', 'params', 'self', 'config'])


class EstimatorSpec(collections.namedtuple('EstimatorSpec', _SPEC_FIELDS)):
  """Ops and objects a `model_fn` returns to the Estimator for one mode."""

  def __new__(cls, mode, predictions=None, loss=None, train_op=None,
              eval_metric_ops=None, export_outputs=None,
              training_chief_hooks=None, training_hooks=None, scaffold=None,
              evaluation_hooks=None, prediction_hooks=None):
    # None makes a placeholder spec (2.15 accepted it; tests and mocks use
    # it); `call_model_fn` checks such a spec against the mode it ran in.
    if mode is not None and mode not in (ModeKeys.TRAIN, ModeKeys.EVAL,
                                         ModeKeys.PREDICT):
      raise ValueError(f'EstimatorSpec: unknown mode {mode!r}; expected one '
                       'of ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT.')
    graph = tf.compat.v1.get_default_graph()
    if train_op is None and mode == ModeKeys.TRAIN:
      raise ValueError('Missing train_op: a TRAIN mode EstimatorSpec needs one.')
    if train_op is not None:
      train_op = _as_graph_element(_op_of_variable(train_op, graph),
                                   'train_op', graph)
    if loss is None:
      if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
        raise ValueError(f'Missing loss: a {mode!r} mode EstimatorSpec needs one.')
    else:
      loss = _check_tensor(loss, 'loss', graph)
      if loss.shape.num_elements() not in (None, 1):
        raise ValueError(f'Loss must be scalar, given: {loss}')
      if not loss.shape.is_compatible_with([]):
        loss = tf.reshape(loss, [])
    if predictions is None:
      if mode == ModeKeys.PREDICT:
        raise ValueError('Missing predictions: a PREDICT mode EstimatorSpec '
                         'needs them.')
      predictions = {}
    elif isinstance(predictions, dict):
      predictions = {k: _check_tensor(v, f'predictions[{k}]', graph)
                     for k, v in predictions.items()}
    else:
      predictions = _check_tensor(predictions, 'predictions', graph)
    eval_metric_ops = _validate_metric_ops(
        {} if eval_metric_ops is None else eval_metric_ops, graph)
    if mode == ModeKeys.PREDICT:
      # Only there, as 2.15: a TRAIN or EVAL spec's outputs are never
      # exported, and a model_fn may leave them as it likes
      # (google-research's explaining_risk_increase passes `{}`).
      export_outputs = _validate_export_outputs(export_outputs, predictions)
    hooks = {}
    for name, value in (('training_chief_hooks', training_chief_hooks),
                        ('training_hooks', training_hooks),
                        ('evaluation_hooks', evaluation_hooks),
                        ('prediction_hooks', prediction_hooks)):
      hooks[name] = checked_hooks(value, f'hooks in {name}')
    scaffold = scaffold or tf.compat.v1.train.Scaffold()
    if not isinstance(scaffold, tf.compat.v1.train.Scaffold):
      raise TypeError(f'scaffold must be tf.train.Scaffold (in TF2: '
                      f'tf.compat.v1.train.Scaffold), given: {scaffold!r}')
    return super().__new__(
        cls, mode=mode, predictions=predictions, loss=loss, train_op=train_op,
        eval_metric_ops=eval_metric_ops, export_outputs=export_outputs,
        scaffold=scaffold, **hooks)

  def _replace(self, **kwds):
    if 'mode' in kwds and self.mode != kwds['mode']:
      raise ValueError('mode of EstimatorSpec cannot be changed.')
    return EstimatorSpec(**{**self._asdict(), **kwds})


_TPU_SPEC_FIELDS = ('mode', 'predictions', 'loss', 'train_op', 'eval_metrics',
                    'export_outputs', 'scaffold_fn', 'host_call',
                    'training_hooks', 'evaluation_hooks', 'prediction_hooks')


class _TPUEstimatorSpec(
    collections.namedtuple('TPUEstimatorSpec', _TPU_SPEC_FIELDS)):
  """A model_fn's result in TPUEstimator's form, as 2.15's v1 heads make it.

  Metrics come as `eval_metrics=(metric_fn, tensors)` instead of
  `eval_metric_ops`; `as_estimator_spec()` calls `metric_fn(**tensors)` and
  gives the `EstimatorSpec` the CPU loops run (which validates the rest).
  """

  def __new__(cls, mode, predictions=None, loss=None, train_op=None,
              eval_metrics=None, export_outputs=None, scaffold_fn=None,
              host_call=None, training_hooks=None, evaluation_hooks=None,
              prediction_hooks=None):
    if mode not in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
      raise ValueError(f'TPUEstimatorSpec: unknown mode {mode!r}; expected one '
                       'of ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT.')
    # Checked as the spec is made, as 2.15 did (`as_estimator_spec` comes
    # later, far from the model_fn's code).
    if train_op is None and mode == ModeKeys.TRAIN:
      raise ValueError(
          'Missing train_op: a TRAIN mode TPUEstimatorSpec needs one.')
    if loss is None and mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
      raise ValueError(
          f'Missing loss: a {mode!r} mode TPUEstimatorSpec needs one.')
    # As EstimatorSpec: a PREDICT spec gets its default serving output now
    # (programs add outputs to `spec.export_outputs['serving_default']`).
    if predictions is None and mode != ModeKeys.PREDICT:
      predictions = {}
    if mode == ModeKeys.PREDICT:
      export_outputs = _validate_export_outputs(export_outputs, predictions)
    return super().__new__(
        cls, mode=mode, predictions=predictions, loss=loss, train_op=train_op,
        eval_metrics=eval_metrics, export_outputs=export_outputs,
        scaffold_fn=scaffold_fn, host_call=host_call,
        training_hooks=checked_hooks(training_hooks, 'training_hooks'),
        evaluation_hooks=checked_hooks(evaluation_hooks, 'evaluation_hooks'),
        prediction_hooks=checked_hooks(prediction_hooks, 'prediction_hooks'))

  def as_estimator_spec(self):
    """The equivalent `EstimatorSpec` for CPU train, evaluate and predict."""
    eval_metric_ops = None
    if self.eval_metrics:
      metric_fn, tensors = self.eval_metrics
      eval_metric_ops = metric_fn(**tensors)
    return EstimatorSpec(
        mode=self.mode, predictions=self.predictions, loss=self.loss,
        train_op=self.train_op, eval_metric_ops=eval_metric_ops,
        export_outputs=self.export_outputs,
        training_hooks=self.training_hooks,
        evaluation_hooks=self.evaluation_hooks,
        prediction_hooks=self.prediction_hooks)


def checked_hooks(hooks, what='hooks',
                  lead='All hooks must be SessionRunHook instances'):
  """`hooks` as a tuple; TypeError naming `what` unless all are hooks.

  `lead` begins the message: 2.15's EstimatorSpec and Estimator methods
  wrote `SessionRunHook` bare, its TrainSpec/EvalSpec in backquotes.
  """
  if isinstance(hooks, tf.compat.v1.train.SessionRunHook):
    raise TypeError(f'{what} must be a list of SessionRunHooks, given a single '
                    f'hook: {hooks!r}. Pass [{type(hooks).__name__}(...)].')
  hooks = tuple(hooks or ())
  for hook in hooks:
    if not isinstance(hook, tf.compat.v1.train.SessionRunHook):
      raise TypeError(f'{lead}: each of {what} must be a SessionRunHook, '
                      f'given: {hook!r}')
  return hooks


def _as_graph_element(value, name, graph):
  """`value`, an Operation or Tensor of `graph` (a Variable gives its value)."""
  if isinstance(value, tf.Variable):
    value = value.value() if hasattr(value, 'value') else value
  if not isinstance(value, tf.Operation) and not tf.is_tensor(value):
    raise TypeError(f'{name} must be Operation or Tensor, given: {value!r}')
  _check_graph(value, name, graph)
  return value


def _op_of_variable(value, graph):
  """A Variable's op if it is in `graph`, else `value` itself.

  2.15 kept a Variable train_op as its op: for the result of an assign
  (`tf.compat.v1.assign_add(global_step, 1)`), the assign itself. A
  variable made outside the graph has no op there and stays as it is.
  """
  if isinstance(value, tf.Variable):
    op = getattr(value, 'op', None)  # eager variables raise AttributeError
    if isinstance(op, tf.Operation) and op.graph is graph:
      return op
  return value


def _check_tensor(value, name, graph):
  """`value`, a dense Tensor of `graph` (a Variable gives its value)."""
  if isinstance(value, tf.Variable):
    value = value.value()
  if not tf.is_tensor(value) or isinstance(value, (tf.SparseTensor,
                                                   tf.RaggedTensor)):
    raise TypeError(f'{name} must be Tensor, given: {value!r}')
  _check_graph(value, name, graph)
  return value


def _check_graph(value, name, graph):
  if getattr(value, 'graph', graph) is not graph:
    raise ValueError(f'{name} must be from the default graph; {value} is not. '
                     'Create every tensor and op inside model_fn.')


def _validate_metric_ops(eval_metric_ops, graph):
  """Checks `(value, update_op)` pairs and turns Keras metrics into them.

  As 2.15 did: a value or update op may be a nest of Tensors and Operations,
  all of the model graph (evaluate returns a nested value as such, and None
  for an Operation). A Keras metric becomes `(result, its updates grouped)`,
  and its variables join the LOCAL_VARIABLES and METRIC_VARIABLES
  collections (code reading those, e.g. to reset metrics, finds them).
  """
  if not isinstance(eval_metric_ops, dict):
    raise TypeError(f'eval_metric_ops must be a dict, given: {eval_metric_ops!r}')
  eval_metric_ops = dict(eval_metric_ops)
  for key, metric in eval_metric_ops.items():
    if hasattr(metric, 'result') and hasattr(metric, 'update_state'):
      eval_metric_ops[key] = _keras_metric_pair(key, metric, graph)
      continue
    if not isinstance(metric, tuple) or len(metric) != 2:
      raise TypeError(f'Values of eval_metric_ops must be (metric_value, '
                      f'update_op) tuples or Keras metrics, given: {metric!r} '
                      f'for key: {key}')
    for element in tf.nest.flatten(metric):
      if element is not None:
        _as_graph_element(element, f'eval_metric_ops[{key!r}]', graph)
  return eval_metric_ops


def _keras_metric_pair(key, metric, graph):
  if not metric.updates:
    raise ValueError(f'Please call update_state(...) on the '
                     f'"{metric.name}" metric (eval_metric_ops[{key!r}]) '
                     'in the model_fn, so it has an update op.')
  for update in metric.updates:
    _check_graph(update, f'eval_metric_ops[{key!r}] update', graph)
  add_metric_variables(metric.variables)
  return (metric.result(), tf.group(*metric.updates))


def add_metric_variables(variables):
  """Lists a metric's variables in LOCAL_VARIABLES and METRIC_VARIABLES.

  Where 2.15 listed a Keras metric's: code that resets metrics finds them,
  and so does the main op of an exported EVAL graph, which initializes the
  local variables (TF Model Analysis runs a loaded graph's metric updates).
  """
  for collection in (tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
                     tf.compat.v1.GraphKeys.METRIC_VARIABLES):
    known = {id(v) for v in tf.compat.v1.get_collection(collection)}
    for variable in variables:
      if id(variable) not in known:
        tf.compat.v1.add_to_collection(collection, variable)


def _validate_export_outputs(export_outputs, predictions):
  """Fills the default serving signature and checks every entry's type."""
  serving_key = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
  if export_outputs is None:
    return {serving_key: export_output_lib.PredictOutput(predictions)}
  if not isinstance(export_outputs, dict):
    raise TypeError(f'export_outputs must be dict, given: {export_outputs!r}')
  for key, value in export_outputs.items():
    if not isinstance(value, export_output_lib.ExportOutput):
      raise TypeError(f'Values in export_outputs must be ExportOutput objects, '
                      f'given: {value!r} for key {key!r}')
  export_outputs = dict(export_outputs)
  if len(export_outputs) == 1 and serving_key not in export_outputs:
    (only,) = export_outputs.values()
    export_outputs[serving_key] = only
  if serving_key not in export_outputs:
    raise ValueError(f'Multiple export_outputs were provided, but none of them '
                     f'is specified as the default. Use {serving_key!r} as the '
                     'key of one of them.')
  return export_outputs


def fn_args(fn):
  """Names of the arguments `fn` takes, seeing through partials and objects."""
  if isinstance(fn, functools.partial):
    bound = set(fn.keywords or ())
    args = fn_args(fn.func)
    return tuple(a for a in args[len(fn.args):] if a not in bound)
  return tuple(name for name, p in _parameters(fn).items()
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def takes_varargs(fn):
  """Whether `fn` (a function or callable object) takes `*args`."""
  return any(p.kind == p.VAR_POSITIONAL for p in _parameters(fn).values())


def _parameters(fn):
  target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else getattr(
      fn, '__call__', fn)
  return inspect.signature(target).parameters


def verify_model_fn_args(model_fn, params):
  args = set(fn_args(model_fn))
  if 'features' not in args:
    raise ValueError(f'model_fn ({model_fn}) must include features argument.')
  if params is not None and 'params' not in args:
    raise ValueError(f'model_fn ({model_fn}) does not include params argument, '
                     f'but params ({params}) is passed to Estimator.')
  if params is None and 'params' in args:
    # 2.15's warning, word for word: the model_fn will get `{}`.
    logging.warning("Estimator's model_fn (%s) includes params argument, but "
                    'params are not passed to Estimator.', model_fn)
  unexpected = sorted(args - _VALID_MODEL_FN_ARGS)
  if unexpected:
    raise ValueError(f'model_fn ({model_fn}) has following not expected '
                     f'args: {unexpected}')


def supported_kwargs(fn, **candidates):
  """The candidate keyword arguments that `fn` declares."""
  args = fn_args(fn)
  return {name: value for name, value in candidates.items() if name in args}


def call_logit_fn(logit_fn, features, mode, params, config):
  """Calls `logit_fn` with the arguments it declares; checks its logits.

  `tf.estimator.experimental.call_logit_fn`, as in 2.15.

  Args:
    logit_fn: a function of `features` and optionally `mode`, `params` and
      `config`.
    features, mode, params, config: what a model_fn received.

  Returns:
    The logits: a Tensor, or a dict of string to Tensor (multi-head).

  Raises:
    ValueError: the logit_fn returned anything else.
  """
  logits = logit_fn(features=features, **supported_kwargs(
      logit_fn, mode=mode, params=params, config=config))
  if not (tf.is_tensor(logits) or isinstance(logits, dict) and all(
      isinstance(k, str) and tf.is_tensor(v) for k, v in logits.items())):
    raise ValueError('logit_fn should return a Tensor or a dictionary mapping '
                     f'strings to Tensors.  logit_fn returned: {logits}')
  return logits


def invoke_model_fn(model_fn, features, labels, mode, params, config):
  """`model_fn`'s result, called with the subset of arguments it declares."""
  if labels is not None and 'labels' not in fn_args(model_fn):
    raise ValueError('model_fn does not take labels, but input_fn returns labels.')
  return model_fn(features=features, **supported_kwargs(
      model_fn, labels=labels, mode=mode, params=params, config=config))


def call_model_fn(model_fn, features, labels, mode, params, config):
  """Calls `model_fn` as `invoke_model_fn`; checks it gave an EstimatorSpec."""
  logging.info('Calling model_fn.')  # 2.15's lines, which logs are read by
  spec = invoke_model_fn(model_fn, features, labels, mode, params, config)
  logging.info('Done calling model_fn.')
  if not isinstance(spec, EstimatorSpec):
    raise ValueError(f'model_fn should return an EstimatorSpec, given: {spec!r}')
  if spec.mode is None and mode is not None:
    # What the run needs of a spec is checked as if the model_fn had said.
    return EstimatorSpec(**{**spec._asdict(), 'mode': mode})
  return spec
