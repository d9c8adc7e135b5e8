"""Keras `model_to_estimator`: a compiled Keras model as an Estimator.

2.15's module of this name, which tf-keras imports for
`tf_keras.estimator.model_to_estimator` (and TF for
`tf.compat.v1.keras.estimator`). The Estimator's model_fn clones the Keras
model into the model graph, calls it on the features, and builds from its
compile arguments what 2.15 took from Keras' TF1 training code: the loss
(the outputs' weighted losses plus regularization), one `(value, update_op)`
per compiled metric, and a train op from the model's optimizer, whose
iterations are the global step. Its current weights start the Estimator:
they are written to `model_dir/keras/keras_model.ckpt`, which a new
`model_dir` warm starts from, as 2.15 did.

Keras treats code in a `wrap_function` graph (the model graph) as TF1 code,
choosing v1 layer classes, yet builds functional models from KerasTensors
there; the two do not mix (cloning a functional model recursed until the
stack overflowed). The clone is therefore built and called as TF2 Keras
would in a function (`_tf2_keras_scope`); state updates its call makes (batch
norm moving averages) join the train op, as a function's automatic control
dependencies would have run them.
"""

import contextlib
import os
import re
import warnings

from tensorflow.python.platform import tf_logging as logging
import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras.api._v1 import keras as keras_v1
from tf_keras.src import metrics as keras_metrics
from tf_keras.src.engine import compile_utils
from tf_keras.src.utils import losses_utils

from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import tf1_graph_semantics
from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import export as export_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform import tf_internals

ModeKeys = model_fn_lib.ModeKeys
_DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_STATE_UPDATE_OPS = frozenset(
    ['AssignVariableOp', 'AssignAddVariableOp', 'AssignSubVariableOp'])


class FormattedKeyError(KeyError):
  """A KeyError whose message keeps its newlines (Python quotes KeyErrors).

  Args:
    message: the error message, printed as is by `str()`.
  """

  def __init__(self, message):
    super().__init__(message)
    self.message = message

  def __str__(self):
    return self.message


def model_to_estimator(keras_model=None, keras_model_path=None,
                       custom_objects=None, model_dir=None, config=None,
                       checkpoint_format=None, use_v2_estimator=False,
                       metric_names_map=None, export_outputs=None):
  """An Estimator that trains, evaluates and serves a compiled Keras model.

  Args:
    keras_model: a compiled `tf_keras.Model` (functional, Sequential, or a
      subclass implementing `get_config`/`from_config`).
    keras_model_path: instead of `keras_model`, a saved model to load.
    custom_objects: custom classes and functions the model needs to be cloned
      or loaded.
    model_dir: the Estimator's model directory.
    config: a `RunConfig`.
    checkpoint_format: 'checkpoint' (the default; functional and Sequential
      models only): checkpoints keyed by the model's object graph
      (`layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE`), or 'saver':
      keyed by variable names (`dense/kernel`), both as 2.15 wrote them.
    use_v2_estimator: whether to return a `tf.estimator.Estimator` (True) or
      the v1 class.
    metric_names_map: Keras metric name -> Estimator metric name, covering
      every compiled metric.
    export_outputs: model output name -> an `ExportOutput` class, for
      signatures besides the default `PredictOutput` of all outputs.

  Returns:
    An Estimator.

  Raises:
    ValueError: for no model or two, an uncompiled model, a subclassed model
      without `get_config`/`from_config`, an unknown checkpoint_format, or
      the 'checkpoint' format (the default) with a subclassed model.
  """
  if not (keras_model or keras_model_path):
    raise ValueError(
        'Either `keras_model` or `keras_model_path` needs to be provided.')
  if keras_model and keras_model_path:
    raise ValueError('Please specity either `keras_model` or '
                     '`keras_model_path`, but not both.')
  if keras_model:
    _assert_valid_model(keras_model, custom_objects)
  config = estimator_lib.maybe_overwrite_model_dir_and_session_config(
      config, model_dir)
  if keras_model:
    logging.info('Using the Keras model provided.')  # as 2.15
  else:
    logging.info('Loading models from %s', keras_model_path)
    keras_model = tf_keras.models.load_model(keras_model_path,
                                             custom_objects=custom_objects)
  _check_checkpoint_format(checkpoint_format, keras_model)
  if not getattr(keras_model, 'optimizer', None):
    raise ValueError('The given keras model has not been compiled yet. '
                     'Please compile the model with `model.compile()` '
                     'before calling `model_to_estimator()`.')
  _use_legacy_optimizer(keras_model)
  _share_session_config(keras_model, config)
  model_fn = _KerasModelFn(keras_model, custom_objects, metric_names_map,
                           export_outputs,
                           object_checkpoint=checkpoint_format != 'saver')
  warm_start_from = None
  if _is_graph_network(keras_model) and config.is_chief:
    warm_start_from = _save_first_checkpoint(keras_model, config.model_dir)
  elif keras_model.built:
    logging.warning(
        'You are creating an Estimator from a Keras model manually subclassed '
        'from `Model`, that was already called on some inputs (and thus '
        'already had weights). Its weights are not carried over: the '
        'estimator starts from a freshly initialized copy of the model. (The '
        'model instance passed as `keras_model` is not changed.)')
  estimator_cls = (estimator_lib.EstimatorV2 if use_v2_estimator
                   else estimator_lib.Estimator)
  return estimator_cls(model_fn, config=config, warm_start_from=warm_start_from)


def _check_checkpoint_format(checkpoint_format, keras_model):
  """2.15's checks of `checkpoint_format`."""
  if checkpoint_format in (None, 'checkpoint'):
    if not _is_graph_network(keras_model):
      raise ValueError('Object-based checkpoints are currently not supported '
                       'with subclassed models.')
  elif checkpoint_format != 'saver':
    raise ValueError('Checkpoint format must be one of "checkpoint" or '
                     f'"saver". Got {checkpoint_format}')


def _is_graph_network(model):
  return model._is_graph_network or isinstance(  # pylint: disable=protected-access
      model, tf_keras.models.Sequential)


def _assert_valid_model(model, custom_objects=None):
  if _is_graph_network(model):
    return
  try:
    with tf_keras.utils.custom_object_scope(custom_objects or {}):
      model.__class__.from_config(model.get_config())
  except NotImplementedError:
    raise ValueError('Subclassed `Model`s passed to `model_to_estimator` must '
                     'implement `Model.get_config` and `Model.from_config`.'
                     ) from None


def _use_legacy_optimizer(keras_model):
  """Replaces a new-style Keras optimizer by its legacy twin, as 2.15 did.

  Only legacy optimizers build their updates in a graph (`get_updates`).
  """
  if isinstance(keras_model.optimizer,
                tf_keras.optimizers.experimental.Optimizer):
    logging.warning(
        'You are using `tf_keras.optimizers.experimental.Optimizer` in TF '
        'estimator, which only supports `tf_keras.optimizers.legacy.Optimizer`.'
        ' Automatically converting your optimizer to '
        '`tf_keras.optimizers.legacy.Optimizer`.')
    keras_model.optimizer = (
        tf_keras.__internal__.optimizers.convert_to_legacy_optimizer(
            keras_model.optimizer))


def _share_session_config(keras_model, config):
  """Keras' TF1 session takes the config's session_config, as in 2.15.

  Only for a model built in a TF1 graph whose weights nothing initialized
  yet: an existing Keras session keeps its own config.
  """
  if tf.compat.v1.executing_eagerly_outside_functions() or any(
      hasattr(w, '_keras_initialized') for w in keras_model.weights):
    if config.session_config.HasField('gpu_options'):
      logging.warning('The Keras backend session has already been set. The '
                      '_session_config passed to model_to_estimator will not '
                      'be used.')
    return
  keras_v1.backend.set_session(
      tf.compat.v1.Session(config=config.session_config))


def _save_first_checkpoint(keras_model, model_dir):
  """Writes the model's current weights for a new model_dir to start from.

  Returns:
    `WarmStartSettings` from `model_dir/keras/keras_model.ckpt`, keyed by the
    weights' names, which the clones in the model graph reuse. Every weight
    is warm started; 2.15's default took the trainable ones only, so a
    model's batch-norm statistics were lost.
  """
  names = [checkpoints.by_name(w) for w in keras_model.weights]
  keras_dir = os.path.join(model_dir, 'keras')
  path = tf.train.latest_checkpoint(keras_dir)
  if not path:
    tf.io.gfile.makedirs(keras_dir)
    path = os.path.join(keras_dir, 'keras_model.ckpt')
    # get_weights reads a model built in a TF1 graph too (through Keras'
    # session); the values are then written eagerly, with a global step so
    # that export can restore from this checkpoint alone, as in 2.15.
    values = dict(zip(names, keras_model.get_weights()), global_step=np.int64(0))
    with engine_scope.scope():
      tf.raw_ops.SaveV2(prefix=path, tensor_names=list(values),
                        shape_and_slices=[''] * len(values),
                        tensors=[tf.constant(v) for v in values.values()])
    # The state file 2.15's Saver wrote, without the deprecation warning and
    # the 'Manually adding it' line the public function logs.
    tf_internals.update_checkpoint_state(keras_dir, path, [path])
  return estimator_lib.WarmStartSettings(
      path, vars_to_warm_start=[re.escape(name) + '$' for name in names])


def _in_plain_graph():
  """Whether the model_fn runs in a plain `tf.Graph`: an export's."""
  return getattr(tf.compat.v1.get_default_graph(), 'name', None) is None


@contextlib.contextmanager
def _tf2_keras_scope():
  """Lets Keras build TF2 layers in the model graph (see the module doc).

  Keras takes a graph named `wrapped_function...` for TF1 code, and one
  where `executing_eagerly_outside_functions()` is False (a model graph:
  engine/tf1_graph_semantics.py); both change while the clone is built and
  called.
  """
  graph = tf.compat.v1.get_default_graph()
  if _in_plain_graph():
    yield  # a plain tf.Graph (export): TF1 Keras throughout
    return
  with tf1_graph_semantics.tf2_keras(graph, 'keras_model_to_estimator'):
    yield


class _KerasModelFn:
  """The model_fn of `model_to_estimator`, holding what it needs of the model.

  The optimizer's config is read here, outside the model graph, since its
  hyperparameters may be variables that cannot be read there.
  """

  def __init__(self, keras_model, custom_objects, metric_names_map,
               export_outputs, object_checkpoint):
    self._model = keras_model
    self._object_checkpoint = object_checkpoint
    self._compiled = _CompileArgs(keras_model)
    self._custom_objects = custom_objects
    self._metric_names_map = metric_names_map
    self._export_outputs = export_outputs
    try:
      optimizer = keras_model.optimizer
      self._optimizer_config = (
          [o.get_config() for o in optimizer]
          if isinstance(optimizer, (list, tuple)) else optimizer.get_config())
    except (NotImplementedError, AttributeError):
      self._optimizer_config = None  # a TF optimizer: used as it is

  def __call__(self, features, labels, mode):
    features, sample_weights = _split_sample_weights(features)
    with _tf2_keras_scope():
      inputs = _model_inputs(self._model, features)
      if self._builds_on_inputs(inputs, mode):
        clone = self._clone_on(inputs)
        outputs = list(clone.outputs)
        state_updates = []  # no train op outside TRAIN
      else:
        clone = self._clone()
        before = len(tf.compat.v1.get_default_graph().get_operations())
        outputs = tf.nest.flatten(
            clone(inputs, training=mode == ModeKeys.TRAIN))
        state_updates = _state_updates_since(before)
      output_names = _output_names(self._model, outputs)
      predictions = dict(zip(output_names, outputs))
      loss = train_op = metrics = None
      if mode != ModeKeys.PREDICT:
        targets = _model_targets(self._model, labels, output_names)
        weights = standardize_sample_weights(sample_weights, output_names)
        # 2.15's Keras computed it under this scope, so the Estimator's loss
        # summary was tagged 'loss_1' (measured), which dashboards name.
        with tf.name_scope('loss'):
          loss = self._loss(clone, targets, outputs, weights, output_names)
        metrics = self._metrics(targets, outputs, weights, output_names)
      if mode == ModeKeys.TRAIN:
        train_op = self._train_op(clone, loss, state_updates)
      scaffold = (self._object_keyed_scaffold(clone)
                  if self._object_checkpoint else None)
    return model_fn_lib.EstimatorSpec(
        mode=mode, predictions=predictions, loss=loss, train_op=train_op,
        eval_metric_ops=metrics, scaffold=scaffold,
        export_outputs=self._signatures(predictions, output_names))

  def _object_keyed_scaffold(self, clone):
    """A Scaffold saving the clone by object path, as 2.15's default format.

    2.15 tracked the global step on the model as 'estimator_global_step'
    and saved through a v1 Saver of the model's object graph (its layers,
    its optimizer as `clone.optimizer` with the slots, the serialized graph),
    so that Keras' `load_weights` reads the checkpoints; 2.15 itself resumes
    only from checkpoints with those keys.
    """
    tf_internals.track(clone, tf.compat.v1.train.get_or_create_global_step(),
                       'estimator_global_step')
    return tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver(
        var_list=tf_internals.frozen_saveable_objects(clone), sharded=True))

  def _clone(self):
    with tf_keras.utils.custom_object_scope(self._custom_objects or {}):
      if _is_graph_network(self._model):
        return tf_keras.models.clone_model(self._model)
      return self._model.__class__.from_config(self._model.get_config())

  def _builds_on_inputs(self, inputs, mode):
    """Whether the clone is built on `inputs` themselves, as 2.15 built it.

    So it is in an export's graph, where TF1 Keras builds a layer's ops
    where the layer is first called, for a network of layers whose inputs
    come as a tensor or a list, outside TRAIN. A clone built on Inputs of
    its own and then called left a second, dead copy of the network in the
    SavedModel, with a batch norm's training branch behind a
    `keras_learning_phase` placeholder (199 nodes against 2.15's 122 for a
    Sequential of Dense, BatchNormalization, Dense), and its outputs named
    under the model's scope (`sequential/probabilities/Softmax:0` against
    2.15's `probabilities/Softmax:0`), the names TF1 clients fetch.
    A TRAIN graph (`experimental_mode`) keeps that path: its train op
    gathers the variable writes the call adds, which a clone built in
    place would mix with its variables' initializers.
    """
    return (_in_plain_graph() and mode != ModeKeys.TRAIN and
            _is_graph_network(self._model) and not isinstance(inputs, dict))

  def _clone_on(self, inputs):
    """A clone of the model built on `inputs`, in the inference phase."""
    with tf_keras.utils.custom_object_scope(self._custom_objects or {}), (
        warnings.catch_warnings()):
      # Deprecated in tf-keras, and the one way to build a TF1 batch norm
      # without its training branch (2.15 set the same phase).
      warnings.simplefilter('ignore')
      with tf_keras.backend.learning_phase_scope(0):
        return tf_keras.models.clone_model(self._model, input_tensors=inputs)

  def _loss(self, clone, targets, outputs, weights, output_names):
    """The outputs' weighted losses plus the model's regularization losses.

    Keras' own loss container would also update loss-tracking metrics,
    whose variables a distribution strategy's replicas cannot share here;
    only its per-output loss objects are used.
    """
    compiled = self._compiled
    container = compile_utils.LossesContainer(
        compiled.loss, compiled.loss_weights, output_names=output_names)
    container.build(outputs)
    values = []
    for y_true, y_pred, weight, loss, loss_weight in zip(
        targets, outputs, weights, container._losses,  # pylint: disable=protected-access
        container._loss_weights):  # pylint: disable=protected-access
      if y_true is None or loss is None:
        continue
      y_true, y_pred, weight = compile_utils.match_dtype_and_rank(
          y_true, y_pred, weight)
      weight = losses_utils.apply_mask(y_pred, weight,
                                       losses_utils.get_mask(y_pred))
      value = loss(y_true, y_pred, sample_weight=weight)
      values.append(value if loss_weight is None else value * loss_weight)
    values += list(clone.losses)
    return tf.add_n(losses_utils.cast_losses_to_common_dtype(values))

  def _metrics(self, targets, outputs, weights, output_names):
    """`{name: (value, update_op)}` of the compiled metrics."""
    compiled = self._compiled
    if not (compiled.metrics or compiled.weighted_metrics):
      return None
    # Metric objects given to compile are copied, as 2.15's clone did: their
    # variables belong to the program's graph or eager context.
    container_class = (compile_utils.MetricsContainer
                       if tf.__internal__.tf2.enabled() else _V1NamedMetrics)
    container = container_class(
        keras_metrics.clone_metrics(compiled.metrics),
        keras_metrics.clone_metrics(compiled.weighted_metrics),
        output_names=output_names, from_serialized=compiled.from_serialized)
    container.build(outputs, targets)
    pairs = {}
    for y_true, y_pred, weight, plain, weighted in zip(
        targets, outputs, weights, container._metrics,  # pylint: disable=protected-access
        container._weighted_metrics):  # pylint: disable=protected-access
      y_true, y_pred, weight = compile_utils.match_dtype_and_rank(
          y_true, y_pred, weight)
      mask = losses_utils.get_mask(y_pred)
      for metrics, metric_weight in (
          (plain, mask), (weighted, losses_utils.apply_mask(y_pred, weight, mask))):
        for metric in tf.nest.flatten(metrics):
          if metric is not None:
            update = metric.update_state(y_true, y_pred,
                                         sample_weight=metric_weight)
            model_fn_lib.add_metric_variables(metric.variables)
            pairs[metric.name] = (metric.result(), update)
    return _renamed_metrics(pairs, self._metric_names_map)

  def _train_op(self, clone, loss, state_updates):
    """The optimizer's updates (iterations = the global step) and the state's."""
    global_step = tf.compat.v1.train.get_or_create_global_step()
    optimizer = self._model.optimizer
    # 2.15's v1 Keras built its optimizer under 'training/' (slot names).
    with tf.name_scope('training'):
      if isinstance(optimizer, (list, tuple)):
        update = self._wide_deep_update(clone, loss, optimizer, global_step)
      elif self._optimizer_config is None:
        # A TF optimizer, as Keras wraps it (TFOptimizer) or bare; 2.15's
        # clone wrapped it anew, counting the global step.
        if hasattr(optimizer, 'optimizer'):
          optimizer = type(optimizer)(optimizer.optimizer, global_step)
        update = getattr(optimizer, 'optimizer', optimizer).minimize(
            loss, global_step=global_step, var_list=clone.trainable_weights)
      else:
        optimizer = type(optimizer).from_config(self._optimizer_config)
        optimizer.iterations = global_step
        update = optimizer.get_updates(loss, clone.trainable_weights)[0]
    if self._object_checkpoint:
      # As compile() set it on 2.15's clone: it and its slots join the
      # object graph (a subclassed model, with a list of optimizers, has no
      # object-keyed checkpoints).
      clone.optimizer = optimizer
    return tf.group(update, *state_updates)

  def _wide_deep_update(self, clone, loss, optimizers, global_step):
    """A premade WideDeepModel's two optimizers: linear part, then DNN part."""
    if len(optimizers) != 2 or not hasattr(clone, 'dnn_model'):
      raise ValueError('A list of optimizers is only supported for '
                       'tf.keras.experimental.WideDeepModel (linear, dnn); '
                       f'got {len(optimizers)} for {type(clone).__name__}.')
    updates = []
    for optimizer, config, part in zip(optimizers, self._optimizer_config,
                                       (clone.linear_model, clone.dnn_model)):
      optimizer = type(optimizer).from_config(config)
      updates += optimizer.get_updates(loss, part.trainable_weights)
    with tf.control_dependencies(updates):
      return global_step.assign_add(1)

  def _signatures(self, predictions, output_names):
    signatures = {_DEFAULT_SERVING_KEY: export_lib.PredictOutput(predictions)}
    if self._export_outputs is None:
      return signatures
    unknown = set(self._export_outputs) - set(output_names)
    if unknown:
      raise FormattedKeyError(
          'The list passed into export_outputs does not cover requested keys '
          'defined in the keras model.'
          f'\n\tExpected keys: {set(output_names)}'
          f'\n\texport_outputs keys: {set(self._export_outputs)}'
          f'\n\tMissed keys: {unknown}')
    for key, output_class in self._export_outputs.items():
      signatures[key] = output_class(predictions[key])
    return signatures


class _V1NamedMetrics(compile_utils.MetricsContainer):
  """Compiled metrics under 2.15's TF1 Keras names (TF2 behaviour off).

  There 2.15 compiled the model with Keras' v1 training loop, whose names
  the Estimator's metrics kept (measured on 2.15): 'accuracy' and 'acc'
  became 'acc', 'crossentropy' and 'ce' 'ce', another string the name of
  what it stands for ('mae': 'mean_absolute_error'); a weighted metric
  was always 'weighted_<name>', and with several outputs each name began
  with its output's ('<output>_acc'). Programs read `evaluate()`'s
  results under those keys.
  """

  def _get_metric_object(self, metric, y_t, y_p):
    metric_object = super()._get_metric_object(metric, y_t, y_p)
    # A string naming a Metric class ('AUC') already has that class's name.
    if isinstance(metric, str) and getattr(metric_object, 'name', None) == metric:
      metric_object._name = _v1_metric_name(metric)  # pylint: disable=protected-access
    return metric_object

  def _set_metric_names(self):
    several = len(self._output_names) > 1
    for output_name, plain, weighted in zip(
        self._output_names, self._metrics, self._weighted_metrics):
      for prefix, metrics in (('', plain), ('weighted_', weighted)):
        for metric in metrics:
          if metric is not None:
            metric._name = (f'{output_name}_' if several else '') + prefix + metric._name  # pylint: disable=protected-access


def _v1_metric_name(name):
  """The name Keras' v1 training loop gave a metric passed as a string."""
  if name in ('accuracy', 'acc'):
    return 'acc'
  if name in ('crossentropy', 'ce'):
    return 'ce'
  return getattr(keras_metrics.get(name), '__name__', name)


class _CompileArgs:
  """What `model.compile` was given, whether Keras compiled it for TF2 or
  TF1 (a model built in a `tf.Graph` keeps them elsewhere)."""

  def __init__(self, model):
    losses, metrics = model.compiled_loss, model.compiled_metrics
    if losses is not None:
      self.loss = losses._user_losses  # pylint: disable=protected-access
      self.loss_weights = losses._user_loss_weights  # pylint: disable=protected-access
    else:
      self.loss, self.loss_weights = model.loss, model.loss_weights
    if metrics is not None:
      self.metrics = metrics._user_metrics  # pylint: disable=protected-access
      self.weighted_metrics = metrics._user_weighted_metrics  # pylint: disable=protected-access
      self.from_serialized = metrics._from_serialized  # pylint: disable=protected-access
    else:
      self.metrics = getattr(model, '_compile_metrics', None)
      self.weighted_metrics = getattr(model, '_compile_weighted_metrics', None)
      self.from_serialized = False


def _split_sample_weights(features):
  """`(features, sample_weights)`: 2.15's `{'features', 'sample_weights'}`."""
  if isinstance(features, dict) and set(features) == {'features',
                                                     'sample_weights'}:
    return features['features'], features['sample_weights']
  return features, None


def _ordered(value, names, what, order_what):
  """`value` (a tensor, list or dict) as the list the model's `names` order."""
  if value is None:
    return None
  if isinstance(value, (list, tuple)):
    return [_as_tensor(v) for v in value]
  if isinstance(value, dict):
    missing = set(names) - set(value)
    if missing:
      raise FormattedKeyError(
          f'The dictionary passed into {what} does not cover requested '
          f'{order_what} keys defined in the keras model.'
          f'\n\tExpected keys: {set(names)}'
          f'\n\t{what} keys: {set(value)}'
          f'\n\tMissed keys: {missing}')
    return [_as_tensor(value[name]) for name in names]
  return [_as_tensor(value)]


def _as_tensor(value):
  if tf.is_tensor(value):
    return value
  return tf.compat.v1.convert_to_tensor_or_sparse_tensor(value)


def _model_inputs(model, features):
  """The features in the order (or structure) the model takes its inputs."""
  if isinstance(model.inputs, dict):
    return {k: _as_tensor(features[k]) for k in model.inputs}
  if isinstance(features, dict):
    if not _is_graph_network(model) or model.inputs is None:
      return {k: _as_tensor(v) for k, v in features.items()}
    names = model.input_names
  else:
    names = None
  inputs = _ordered(features, names, 'features', 'inputs')
  return inputs[0] if len(inputs) == 1 else inputs


def _output_names(model, outputs):
  if _is_graph_network(model) and model.output_names:
    return list(model.output_names)
  return [f'output_{i}' for i in range(1, len(outputs) + 1)]


def _model_targets(model, labels, output_names):
  names = output_names
  if isinstance(labels, dict) and not _is_graph_network(model):
    names = [f'output_{i}' for i in range(1, len(labels) + 1)]
  return _ordered(labels, names, 'labels', 'outputs')


def standardize_sample_weights(sample_weights, output_names):
  """One sample weight (or None) per output, from 2.15's forms (its name).

  Args:
    sample_weights: None, one weight, a list with one per output, or a dict
      keyed by output name.
    output_names: The model's output names.

  Returns:
    A list with one entry per output.

  Raises:
    ValueError: A list of the wrong length, or a dict with unknown keys.
    TypeError: Anything else for a model with several outputs.
  """
  if sample_weights is None or (isinstance(sample_weights, (list, tuple)) and
                                not sample_weights):
    return [None] * len(output_names)
  if len(output_names) == 1:
    if isinstance(sample_weights, (list, tuple)) and len(sample_weights) == 1:
      return list(sample_weights)
    if isinstance(sample_weights, dict) and output_names[0] in sample_weights:
      return [sample_weights[output_names[0]]]
    return [sample_weights]
  if isinstance(sample_weights, (list, tuple)):
    if len(sample_weights) != len(output_names):
      raise ValueError(
          f'Provided `sample_weights` was a list of {len(sample_weights)} '
          f'elements, but the model has {len(output_names)} outputs. You '
          'should provide one `sample_weights` array per model output.')
    return list(sample_weights)
  if isinstance(sample_weights, dict):
    unknown = set(sample_weights) - set(output_names)
    if unknown:
      raise ValueError(f'Unknown entries in sample_weights dictionary: '
                       f'{sorted(unknown)}. Only expected following keys: '
                       f'{output_names}')
    return [sample_weights.get(name) for name in output_names]
  raise TypeError('The model has multiple outputs, so `sample_weights` should '
                  'be either a list or a dict. Provided `sample_weights` type '
                  f'not understood: {sample_weights}')


def _renamed_metrics(pairs, metric_names_map):
  if not metric_names_map:
    return pairs
  unknown = set(pairs) - set(metric_names_map)
  if unknown:
    raise ValueError('Invalid `metric_names_map`. The following keras model '
                     f'metric names:"{sorted(unknown)}" do not exist in the '
                     '`metric_names_map` dictionary')
  extra = set(metric_names_map) - set(pairs)
  if extra:
    raise ValueError('Invalid `metric_names_map`. There are unexpected keys in '
                     f'the `metric_names_map` dictionary. Expected keys: '
                     f'{sorted(pairs)}, Received: {sorted(extra)}')
  return {metric_names_map[name]: pair for name, pair in pairs.items()}


def _state_updates_since(n_ops):
  """The variable writes added to the graph after its first `n_ops` ops."""
  ops = tf.compat.v1.get_default_graph().get_operations()[n_ops:]
  return [op for op in ops if op.type in _STATE_UPDATE_OPS]
