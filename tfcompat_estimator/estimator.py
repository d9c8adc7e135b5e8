"""`Estimator`: the tf.estimator interface, a facade over the runs.

The Estimator checks its arguments and hands each call to a run
(`runs.training`, `runs.evaluation`, `runs.prediction`, `runs.exporting`)
with a `RunContext`: model_dir, config, params and the model graphs it keeps
between calls (`runs.model_graphs`).
"""

import copy
import numbers
import os
import tempfile

import tensorflow as tf

from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator.export import export_lib
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import safe_paths
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator import run_config as run_config_lib
from tfcompat_estimator.runs import evaluation
from tfcompat_estimator.runs import exporting
from tfcompat_estimator.runs import model_graphs
from tfcompat_estimator.runs import prediction
from tfcompat_estimator.runs import run_context
from tfcompat_estimator.runs import training
from tfcompat_estimator import warm_starting

ModeKeys = model_fn_lib.ModeKeys
# Names 2.15's estimator module also held; programs import them from here.
VocabInfo = warm_starting.VocabInfo
WarmStartSettings = warm_starting.WarmStartSettings
_TaskType = run_config_lib.TaskType
# Copies of 2.15's TPUEstimator (transformer-xl's) call it from here.
_verify_model_fn_args = model_fn_lib.verify_model_fn_args


class Estimator:
  """`tf.compat.v1.estimator.Estimator`: trains, evaluates, predicts, exports.

  As in 2.15, the v2 class (`tf.estimator.Estimator`) is `EstimatorV2`, a
  subclass without the deprecated `export_savedmodel`.
  """

  def __init__(self, model_fn, model_dir=None, config=None, params=None,
               warm_start_from=None):
    """Creates an Estimator around `model_fn`; builds nothing yet.

    Args:
      model_fn: `model_fn(features, labels, mode, params, config)` returning
        an `EstimatorSpec`; it may take any subset of `labels`, `mode`,
        `params` and `config` by name.
      model_dir: Where checkpoints, event files and evaluations go. A
        temporary directory if neither it nor `config.model_dir` is set.
      config: A `RunConfig`, or None for the default.
      params: Passed to `model_fn` as `params` (a deep copy per graph).
      warm_start_from: A checkpoint path or directory, or
        `WarmStartSettings`: variables start from it when `model_dir` has
        no checkpoint.

    Raises:
      ValueError: for no `model_fn`, a `config` that is not a `RunConfig`,
        two different model_dirs, or `params` given to a `model_fn` that
        does not take them.
      TypeError: for a `model_fn` that is not callable.
    """
    # Called through the class, as 2.15 did: a subclass that overrides
    # members opts out by defining this method, and AdaNet opts out for every
    # subclass by replacing it on Estimator.
    self.__class__._assert_members_are_not_overridden(self)  # pylint: disable=protected-access
    self._config = maybe_overwrite_model_dir_and_session_config(config,
                                                                model_dir)
    self._model_dir = self._config.model_dir
    logging.info('Using config: %s', vars(self._config))  # as 2.15
    if model_fn is None:
      raise ValueError('model_fn must be provided to Estimator.')
    check_callable('model_fn', model_fn)
    model_fn_lib.verify_model_fn_args(model_fn, params)
    self._model_fn = model_fn
    # Any object is accepted, as in 2.15 (e.g. an HParams-like object).
    self._params = copy.deepcopy(params or {})
    # A plain attribute, as in 2.15: AdaNet's Estimator assigns it before
    # calling this constructor.
    self._warm_start_settings = warm_starting.settings_from(warm_start_from)
    self._graphs = model_graphs.ModelGraphs(
        model_fn, self._params, self._config,
        warm_start=_warm_starter(self._warm_start_settings))

  def _assert_members_are_not_overridden(self):
    """Raises ValueError if a subclass overrides a member of Estimator."""
    _assert_members_are_not_overridden(Estimator, self)

  # Properties ----------------------------------------------------------------
  @property
  def model_dir(self):
    """The directory of checkpoints, event files and eval directories."""
    return self._model_dir

  @property
  def config(self):
    """The `RunConfig`, its `model_dir` and `session_config` filled in."""
    return self._config

  @property
  def _session_config(self):
    """2.15's private attribute; TF-Hub's module exporter opens a session with it."""
    return self._config.session_config

  @property
  def params(self):
    """A copy of the `params` given to the constructor."""
    return copy.deepcopy(self._params)

  @property
  def model_fn(self):
    """The `model_fn`, bound to this Estimator's params and config."""

    def public_model_fn(features, labels, mode, config):
      return self._call_model_fn(features, labels, mode, config)

    return public_model_fn

  def _call_model_fn(self, features, labels, mode, config):
    return model_fn_lib.call_model_fn(self._model_fn, features, labels, mode,
                                      self.params, config)

  def _call_input_fn(self, input_fn, mode, input_context=None):
    """Calls `input_fn` with the arguments it declares, as 2.15 did.

    Every call of an input_fn goes through this method (`_input_fn_of`),
    so a subclass that overrides it is heard: copies of 2.15's
    TPUEstimator (transformer-xl's) put the batch size in `params` here.
    """
    return input_pipeline.input_fn_result(input_fn, mode, self.params,
                                          self.config, input_context)

  def _input_fn_of(self, input_fn):
    """`input_fn` as the runs call it: through `_call_input_fn` if a
    subclass overrides it, with 2.15's arguments (no `input_context`
    unless a strategy gives one)."""
    if type(self)._call_input_fn is Estimator._call_input_fn:
      return input_fn

    def through_subclass(mode, input_context=None):
      if input_context is None:
        return self._call_input_fn(input_fn, mode)
      return self._call_input_fn(input_fn, mode, input_context)

    return through_subclass

  # 2.15's helpers for building a model graph, which libraries that build
  # their own graphs call (AdaNet's bookkeeping phase evaluates its
  # candidates in a tf.Graph and Session of its own). The engine makes its
  # global step itself and calls neither.
  def _create_global_step(self, graph):
    """Creates the global step variable in `graph`, and returns it."""
    return tf.compat.v1.train.create_global_step(graph)

  def _create_and_assert_global_step(self, graph):
    """`_create_global_step`, checked to be the graph's integer global step."""
    step = self._create_global_step(graph)
    assert step is tf.compat.v1.train.get_global_step()
    assert step.dtype.is_integer
    return step

  # Checkpoint inspection -------------------------------------------------------
  def latest_checkpoint(self):
    """The path prefix of the newest checkpoint in `model_dir`, or None."""
    return checkpoints.latest_checkpoint(self._model_dir)

  def _require_checkpoint(self):
    path = self.latest_checkpoint()
    if not path:
      raise ValueError(f'Could not find trained model in model_dir: '
                       f'{self._model_dir}.')
    return path

  @engine_scope.entry_point
  def get_variable_names(self):
    """The names of the variables in the latest checkpoint, sorted.

    Raises:
      ValueError: if `model_dir` has no checkpoint.
    """
    reader = tf.train.load_checkpoint(self._require_checkpoint())
    return sorted(reader.get_variable_to_shape_map())

  @engine_scope.entry_point
  def get_variable_value(self, name):
    """The value of variable `name` in the latest checkpoint.

    Args:
      name: A variable name (a tensor name such as 'global_step:0' names its
        variable), or a list of names.

    Returns:
      A numpy array, or a list of them for a list of names.

    Raises:
      ValueError: if `model_dir` has no checkpoint.
      TypeError: for a name that is not a string.
    """
    names = name if isinstance(name, (list, tuple)) else [name]
    for each in names:
      if not isinstance(each, str):
        raise TypeError(f'Variable name must be a string, given: {each!r}')
    reader = tf.train.load_checkpoint(self._require_checkpoint())
    # A tensor name ('global_step:0', what `optimizer.iterations.name` and
    # `variable.name` give) names its variable, as in 2.15.
    values = [reader.get_tensor(n[:-2] if n.endswith(':0') else n)
              for n in names]
    return values if names is name else values[0]

  def eval_dir(self, name=None):
    """The directory `evaluate(name=name)` writes its event files to."""
    return evaluation.eval_dir(self._model_dir, name)

  def _run_context(self):
    # 2.15 called whatever `_model_fn` held as each call built its graph, and
    # libraries replace it after construction (Neural Structured Learning's
    # add_adversarial_regularization and add_graph_regularization).
    self._graphs.use_model_fn(self._model_fn)
    return run_context.RunContext(self._model_dir, self._config, self.params,
                                  self._graphs, self._warm_start_settings,
                                  self.latest_checkpoint)

  # Train / evaluate / predict -----------------------------------------------
  @engine_scope.entry_point
  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    """Trains the model from the latest checkpoint in `model_dir`.

    Args:
      input_fn: Returns a `tf.data.Dataset` of `(features, labels)`, or the
        tuple itself (tensors, in TF1-style programs from queues or
        iterators). It may take `params`, `mode`, `config` and
        `input_context` by name.
      hooks: `SessionRunHook`s, called around each step they need to see.
      steps: Train this many more steps (from the restored global step).
      max_steps: Train until the global step reaches it; a `model_dir`
        already there trains nothing. At most one of `steps`, `max_steps`.
      saving_listeners: `CheckpointSaverListener`s, called around each save.

    Returns:
      `self`, for chaining.

    Raises:
      ValueError: for both `steps` and `max_steps`, a non-positive one, or a
        call from an evaluator or ps task.
      TypeError: for arguments of the wrong type, named in the message.
      NanLossDuringTrainingError: when the loss becomes NaN or infinite; the
        step is not saved.
      CheckpointError: when the latest checkpoint cannot be read or does not
        fit the model; `model_dir` is left as it was.
    """
    if self._config.task_type in (_TaskType.EVALUATOR, _TaskType.PS):
      raise ValueError(
          f'Estimator.train cannot run in a {self._config.task_type!r} task '
          '(from TF_CONFIG); use tf.estimator.train_and_evaluate, which runs '
          'what each task of a cluster should.')
    check_callable('input_fn', input_fn)
    check_number('steps', steps)
    check_number('max_steps', max_steps)
    training.validate_steps(steps, max_steps)
    hooks = model_fn_lib.checked_hooks(hooks)
    saving_listeners = checked_saving_listeners(saving_listeners)
    if max_steps is not None:
      if _load_global_step_from_checkpoint_dir(self._model_dir) >= max_steps:
        logging.info('Skipping training since max_steps has already saved.')
        return self
    self._graphs.release_stale()
    loop = training.TrainLoop(self._run_context(), self._input_fn_of(input_fn),
                              hooks, max_steps, steps, saving_listeners)
    loop.run()
    return self

  @engine_scope.entry_point
  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    """Evaluates the model on `input_fn`'s data; writes the metrics' events.

    Args:
      input_fn: As in `train`; evaluation runs until it ends, or `steps`.
      steps: At most this many batches; None for all of the input.
      hooks: `SessionRunHook`s for the evaluation's steps.
      checkpoint_path: The checkpoint (or a directory, for its latest) to
        evaluate; the latest in `model_dir` if None.
      name: Evaluates into `eval_<name>` instead of `eval`, to keep several
        evaluations (e.g. on different data) apart.

    Returns:
      A dict of the `eval_metric_ops`' values, with `loss` and
      `global_step`.

    Raises:
      ValueError: if the input produced no batch, or `steps` is not positive.
      CheckpointError: when the checkpoint cannot be read or does not fit.
    """
    check_callable('input_fn', input_fn)
    check_number('steps', steps)
    if name is not None and not isinstance(name, str):
      raise TypeError(f'Evaluation name must be a string, given: {name!r}')
    if name:
      safe_paths.check_inside(f'eval_{name}', 'Evaluation directory', 'model_dir')
    hooks = model_fn_lib.checked_hooks(hooks)
    context = self._run_context()
    input_fn = self._input_fn_of(input_fn)
    run = lambda path: evaluation.run_evaluation(context, input_fn, steps, hooks,
                                                 path, name)
    if checkpoint_path:
      return run(self._checkpoint_for_inference(checkpoint_path, 'evaluate'))
    # A training writing to model_dir may delete the latest checkpoint
    # before it is read; the newer one is evaluated then.
    return checkpoints.reading_latest(
        lambda: self._checkpoint_for_inference(None, 'evaluate'), run)

  @engine_scope.entry_point
  def predict(self, input_fn, predict_keys=None, hooks=None,
              checkpoint_path=None, yield_single_examples=True):
    """Yields the model's predictions for `input_fn`'s features.

    Args:
      input_fn: Returns a `Dataset` of features (or `(features, labels)`),
        or features as tensors; prediction runs until it ends.
      predict_keys: The prediction keys to return; all of them if None or
        empty.
      hooks: `SessionRunHook`s for the prediction's steps.
      checkpoint_path: The checkpoint (or a directory, for its latest) to
        predict with; the latest in `model_dir` if None, and the initial
        values if there is none.
      yield_single_examples: Yield one example at a time (a dict of numpy
        values, if predictions are a dict); False yields whole batches.

    Yields:
      Predictions, as numpy values.

    Raises:
      ValueError: for `predict_keys` matching no prediction, or predictions
        of unequal batch sizes split into examples.
    """
    check_callable('input_fn', input_fn)
    hooks = model_fn_lib.checked_hooks(hooks)
    checkpoint_path = self._checkpoint_for_inference(checkpoint_path, 'predict')
    # As in 2.15, an empty predict_keys selects every prediction.
    batches = engine_scope.generator(prediction.run_prediction(
        self._run_context(), self._input_fn_of(input_fn), predict_keys or None,
        hooks, checkpoint_path))
    return prediction.examples(batches) if yield_single_examples else batches

  def _checkpoint_for_inference(self, checkpoint_path, what):
    """The checkpoint to restore: the given one or the latest in model_dir.

    A directory given as `checkpoint_path` stands for its latest checkpoint.
    """
    if checkpoint_path:
      path = _path_arg('checkpoint_path', checkpoint_path)
      if tf.io.gfile.isdir(path):
        path = checkpoints.latest_checkpoint(path)
        if not path:
          raise ValueError(f'checkpoint_path {checkpoint_path!r} is a '
                           'directory without checkpoints.')
      return path
    latest = self.latest_checkpoint()
    if not latest:
      logging.info('Could not find trained model in model_dir: %s, running '
                   'initialization to %s.', self._model_dir, what)
    return latest

  # Exports ---------------------------------------------------------------------
  @engine_scope.entry_point
  def export_saved_model(self, export_dir_base, serving_input_receiver_fn,
                         assets_extra=None, as_text=False, checkpoint_path=None,
                         experimental_mode=ModeKeys.PREDICT):
    """Exports the model as a SavedModel for TensorFlow Serving.

    Writes `export_dir_base/<timestamp>` with the serving graph built by
    `serving_input_receiver_fn` and the checkpoint's variables. The export is
    written to a temporary directory and renamed, so a failed export leaves
    no partial directory behind.

    Args:
      export_dir_base: The directory to create the export in.
      serving_input_receiver_fn: Returns a `ServingInputReceiver` (or
        `TensorServingInputReceiver`) holding the serving placeholders.
      assets_extra: A dict of destination path (under `assets.extra`) ->
        source file path, copied into the export.
      as_text: Write the SavedModel proto as text.
      checkpoint_path: The checkpoint to export; the latest if None.
      experimental_mode: The mode whose graph is exported (`PREDICT`).

    Returns:
      The export directory, as bytes (as in 2.15).

    Raises:
      ValueError: if there is no checkpoint to export.
      TypeError: for a receiver function that does not return a receiver.
    """
    receiver_fns = {experimental_mode: _checked_receiver_fn(
        'serving_input_receiver_fn', serving_input_receiver_fn)}
    return _export(self._run_context(), self._export_meta_graphs,
                   export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs=True)

  @engine_scope.entry_point
  def experimental_export_all_saved_models(self, export_dir_base,
                                           input_receiver_fn_map,
                                           assets_extra=None, as_text=False,
                                           checkpoint_path=None):
    """Exports one SavedModel with a MetaGraph for each mode in the map.

    Args:
      export_dir_base: As in `export_saved_model`.
      input_receiver_fn_map: A dict of `ModeKeys` -> receiver function
        (`SupervisedInputReceiver`s for TRAIN and EVAL).
      assets_extra, as_text, checkpoint_path: As in `export_saved_model`.

    Returns:
      The export directory, as bytes.

    Raises:
      TypeError, ValueError: for a map that is not a non-empty dict of known
        modes to receiver functions.
    """
    if not isinstance(input_receiver_fn_map, dict):
      raise TypeError(f'input_receiver_fn_map must be a dict of mode -> '
                      f'input receiver fn, given: {input_receiver_fn_map!r}')
    # A mode mapped to None is not exported, as in 2.15 (TFMA's
    # export_eval_savedmodel maps PREDICT to its optional serving fn).
    receiver_fns = {
        mode: _checked_receiver_fn(f'input_receiver_fn_map[{mode!r}]', fn)
        for mode, fn in input_receiver_fn_map.items() if fn is not None}
    if not receiver_fns:
      raise ValueError('input_receiver_fn_map is empty: no mode to export'
                       f' (given {input_receiver_fn_map!r}).')
    return _export(self._run_context(), self._export_meta_graphs,
                   export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs=True)

  @engine_scope.entry_point
  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn,
                        assets_extra=None, as_text=False, checkpoint_path=None,
                        strip_default_attrs=False):
    """Deprecated alias of `export_saved_model` (v1 API only)."""
    receiver_fns = {ModeKeys.PREDICT: _checked_receiver_fn(
        'serving_input_receiver_fn', serving_input_receiver_fn)}
    return _export(self._run_context(), self._export_meta_graphs,
                   export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs)

  def _export_meta_graphs(self, mode):
    """The MetaGraphs exporting `mode` writes, as `(tags, call_model_fn)` pairs.

    One, with the mode's standard tags; TPUEstimator adds a TPU one.
    """
    return [(export_lib.EXPORT_TAG_MAP[mode], self._call_model_fn)]


class EstimatorV2(Estimator):
  """`tf.estimator.Estimator`: the v1 class without `export_savedmodel`."""

  def _assert_members_are_not_overridden(self):
    """Raises ValueError if a subclass overrides a member of EstimatorV2."""
    _assert_members_are_not_overridden(EstimatorV2, self)

  @property
  def export_savedmodel(self):
    raise AttributeError(  # 2.15's message
        '`Estimator.export_savedmodel` has been deprecated. Please use '
        '`export_saved_model` instead.')


def _export(context, meta_graphs, export_dir_base, receiver_fns, assets_extra,
            as_text, checkpoint_path, strip_default_attrs):
  if assets_extra is not None and not isinstance(assets_extra, dict):
    raise TypeError(f'assets_extra must be a dict of destination -> source '
                    f'path, given: {assets_extra!r}')
  return exporting.export_all(
      context, meta_graphs, _path_arg('export_dir_base', export_dir_base), receiver_fns,
      assets_extra=assets_extra,
      as_text=as_text, checkpoint_path=checkpoint_path,
      strip_default_attrs=strip_default_attrs)


# Argument checks shared with train_and_evaluate's specs -----------------------
def maybe_overwrite_model_dir_and_session_config(config, model_dir):
  """`config` (a default RunConfig if None) with model_dir and session_config.

  `model_dir` wins if config has none; a temporary directory is used when
  neither has one. As in 2.15, the default session config is filled in (soft
  placement, one meta-optimizer pass); sessions opened for export use it.

  Raises:
    ValueError: for a config that is not a `RunConfig`, or two different
      model_dirs.
  """
  if config is None:
    config = run_config_lib.RunConfig()
    logging.info('Using default config.')  # as 2.15
  elif not isinstance(config, run_config_lib.RunConfig):
    raise ValueError(f'config must be an instance of `RunConfig`, but '
                     f'provided {config}.')
  model_dir = _path_arg('model_dir', model_dir)
  if model_dir is not None and config.model_dir is not None and (
      model_dir != config.model_dir):
    raise ValueError(
        '`model_dir` are set both in constructor and `RunConfig`, but with '
        f"different values. In constructor: '{model_dir}', in RunConfig: "
        f"'{config.model_dir}' ")
  model_dir = model_dir or config.model_dir
  if model_dir is None:
    model_dir = tempfile.mkdtemp()
    logging.warning('Using temporary folder as model directory: %s', model_dir)
  return config.replace(
      model_dir=model_dir, session_config=(
          config.session_config or run_config_lib.get_default_session_config()))


def check_callable(name, value):
  if not callable(value):
    raise TypeError(f'`{name}` must be callable, given: {value!r}')


def check_number(name, value):
  """TypeError naming `name` unless `value` is None or a number.

  2.15 compared such values with 0 and failed there with a TypeError that
  named neither the argument nor the value.
  """
  if value is not None and not isinstance(value, numbers.Real):
    raise TypeError(f'`{name}` must be a number, given: {value!r}')


def create_per_replica_ready_for_local_init_op(scaffold):
  """`scaffold`'s `ready_for_local_init_op`, else the graph's shared default.

  2.15's helper for building a Scaffold per replica: the default reports the
  uninitialized global variables, kept in the graph's collection so every
  replica uses the same op.
  """
  if scaffold.ready_for_local_init_op is not None:
    return scaffold.ready_for_local_init_op
  return tf.compat.v1.train.Scaffold.get_or_default(
      'ready_for_local_init_op',
      tf.compat.v1.GraphKeys.READY_FOR_LOCAL_INIT_OP,
      lambda: tf.compat.v1.report_uninitialized_variables(
          tf.compat.v1.global_variables()))


# 2.15's name, which its tests and early-stopping code call.
_write_dict_to_summary = evaluation.write_dict_to_summary

# 2.15's usage gauge, which libraries set (TF Privacy's DP canned
# estimators: `.get_cell('Classifier').set('DNN')`).
_canned_estimator_api_gauge = tf_internals.StringGauge(
    '/tensorflow/api/estimator', 'estimator api usage', 'method')


def _load_global_step_from_checkpoint_dir(checkpoint_dir):
  """The global step of the latest checkpoint in `checkpoint_dir`, else 0.

  2.15's name for it; its tests and some libraries call it.
  """
  latest = checkpoints.latest_checkpoint(checkpoint_dir)
  return checkpoints.global_step_of(latest) if latest else 0


def checked_saving_listeners(
    listeners, lead='saving_listeners must be a list of CheckpointSaverListener'):
  """`listeners` as a tuple; TypeError unless all are savers' listeners.

  `lead` begins the message (2.15's TrainSpec worded it differently).
  """
  listeners = tuple(listeners or ())
  for listener in listeners:
    if not isinstance(listener, tf.compat.v1.train.CheckpointSaverListener):
      raise TypeError(f'{lead}, given: {listener!r}')
  return listeners


def _path_arg(name, value):
  """`value` as a `str` path (None stays None); TypeError naming `name`."""
  if value is None:
    return None
  if not isinstance(value, (str, bytes, os.PathLike)):
    raise TypeError(f'{name} must be a path (str, bytes or os.PathLike), '
                    f'given: {value!r}')
  return os.fsdecode(value)


# Members a subclass may define anyway (2.15's list).
_OVERRIDABLE = frozenset([
    'model_fn', '_create_and_assert_global_step', '_export_all_saved_models',
    '_tf_api_names', '_tf_api_names_v1', '_estimator_api_names',
    '_estimator_api_names_v1', '_estimator_api_constants',
    '_estimator_api_constants_v1', 'latest_checkpoint'])


def _assert_members_are_not_overridden(cls, estimator):
  """Raises ValueError if `estimator`'s class redefines a member of `cls`.

  As in 2.15, only the members the class itself defines are compared; the
  estimators of this package (canned, Keras, TPU) are exempt.
  """
  subclass = type(estimator)
  if (subclass.__name__ == 'TPUEstimator' or
      subclass.__module__.startswith('tfcompat_estimator.')):
    return
  overridden = sorted(
      name for name in vars(subclass)
      if not name.startswith('__') and name not in _OVERRIDABLE and
      hasattr(cls, name) and getattr(cls, name) != getattr(subclass, name))
  if overridden:
    raise ValueError('Subclasses of Estimator cannot override members of '
                     f'Estimator. {subclass} does override {overridden}')


def _warm_starter(settings):
  """None without settings, else a function warm-starting a captured graph."""
  if settings is None:
    return None
  return lambda captured: warm_starting.warm_start(captured, settings)


def _checked_receiver_fn(name, receiver_fn):
  """`receiver_fn`, checked to be a function returning an input receiver.

  Exporting builds the serving graph by calling it. Without this check, a
  function that returns something else (e.g. the receiver function itself)
  failed with an AttributeError naming neither the argument nor the value.
  """
  if not receiver_fn:
    raise ValueError(f'An input_receiver_fn must be defined ({name} is '
                     f'{receiver_fn!r}).')
  if not callable(receiver_fn):
    raise TypeError(f'{name} must be a function returning a '
                    f'ServingInputReceiver, given: {receiver_fn!r}')

  def checked():
    receiver = receiver_fn()
    if not all(hasattr(receiver, f) for f in ('features', 'receiver_tensors')):
      raise TypeError(f'{name} ({receiver_fn!r}) must return a '
                      'ServingInputReceiver, TensorServingInputReceiver or '
                      f'SupervisedInputReceiver, but it returned {receiver!r}')
    return receiver

  return checked
