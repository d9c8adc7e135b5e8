"""`Estimator`: the tf.estimator interface over captured model graphs.

Each mode's graph is captured once per input signature and kept; its variables
are reloaded only when the checkpoint to use differs from the one they hold.
That is why a second `evaluate` or `predict` on an unchanged checkpoint costs
only the steps themselves.
"""

import copy
import numbers
import os
import tempfile

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import graph_capture
from tfcompat_estimator.export import export_lib
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import large_variables
from tfcompat_estimator.io import safe_paths
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator import run_config as run_config_lib
from tfcompat_estimator.runs import evaluation
from tfcompat_estimator.runs import exporting
from tfcompat_estimator.runs import prediction
from tfcompat_estimator.runs import training
from tfcompat_estimator.session_emulation import session as session_lib
from tfcompat_estimator import warm_starting

ModeKeys = model_fn_lib.ModeKeys
# Names 2.15's estimator module also held; programs import them from here.
VocabInfo = warm_starting.VocabInfo
WarmStartSettings = warm_starting.WarmStartSettings
_TaskType = run_config_lib.TaskType

_FRESH = 'fresh'  # variables hold their initial values
_DIRTY = 'dirty'  # variables were changed and match no checkpoint


class Estimator:
  """`tf.compat.v1.estimator.Estimator`: trains, evaluates, predicts, exports.

  As in 2.15, the v2 class (`tf.estimator.Estimator`) is `EstimatorV2`, a
  subclass without the deprecated `export_savedmodel`.
  """

  # Subclasses (canned estimators) may override only these members.
  _OVERRIDABLE = frozenset(['__init__', '_call_model_fn', 'model_fn',
                            'export_saved_model', 'export_savedmodel'])

  def __init__(self, model_fn, model_dir=None, config=None, params=None,
               warm_start_from=None):
    self._assert_members_not_overridden()
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
    self._warm_start = warm_starting.settings_from(warm_start_from)
    self._captures = {}
    self._state = {}  # id(captured) -> checkpoint identity or _FRESH/_DIRTY

  def _assert_members_not_overridden(self):
    cls = type(self)
    if cls is Estimator or cls.__module__.startswith('tfcompat_estimator.'):
      return
    for name in dir(Estimator):
      if name.startswith('__') or name in self._OVERRIDABLE:
        continue
      if getattr(cls, name, None) is not getattr(Estimator, name, None):
        raise ValueError(f'Subclasses of Estimator cannot override members of '
                         f'Estimator. {cls} does override {name}')

  # Properties ----------------------------------------------------------------
  @property
  def model_dir(self):
    return self._model_dir

  @property
  def config(self):
    return self._config

  @property
  def _session_config(self):
    """2.15's private attribute; TF-Hub's module exporter opens a session with it."""
    return self._config.session_config

  @property
  def params(self):
    return copy.deepcopy(self._params)

  @property
  def model_fn(self):
    """The `model_fn`, bound to this Estimator's params and config."""

    def public_model_fn(features, labels, mode, config):
      return self._call_model_fn(features, labels, mode, config)

    return public_model_fn

  @property
  def _warm_start_settings(self):
    """2.15's name for the `WarmStartSettings` (code and tests read it)."""
    return self._warm_start

  def _call_model_fn(self, features, labels, mode, config):
    return model_fn_lib.call_model_fn(self._model_fn, features, labels, mode,
                                      self.params, config)

  # Checkpoint inspection -------------------------------------------------------
  def latest_checkpoint(self):
    return checkpoints.latest_checkpoint(self._model_dir)

  def _require_checkpoint(self):
    path = self.latest_checkpoint()
    if not path:
      raise ValueError(f'Could not find trained model in model_dir: '
                       f'{self._model_dir}.')
    return path

  @engine_scope.entry_point
  def get_variable_names(self):
    reader = tf.train.load_checkpoint(self._require_checkpoint())
    return sorted(reader.get_variable_to_shape_map())

  @engine_scope.entry_point
  def get_variable_value(self, name):
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
    return os.path.join(self._model_dir,
                        'eval' if not name else 'eval_' + name)

  # Train / evaluate / predict -----------------------------------------------
  @engine_scope.entry_point
  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
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
    self._release_stale_copies()
    loop = training.TrainLoop(self, input_fn, hooks, max_steps, steps,
                              saving_listeners)
    loop.run()
    return self

  @engine_scope.entry_point
  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    check_callable('input_fn', input_fn)
    check_number('steps', steps)
    if name is not None and not isinstance(name, str):
      raise TypeError(f'Evaluation name must be a string, given: {name!r}')
    if name:
      safe_paths.check_inside(f'eval_{name}', 'Evaluation directory', 'model_dir')
    hooks = model_fn_lib.checked_hooks(hooks)
    run = lambda path: evaluation.run_evaluation(self, input_fn, steps, hooks,
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
    check_callable('input_fn', input_fn)
    hooks = model_fn_lib.checked_hooks(hooks)
    checkpoint_path = self._checkpoint_for_inference(checkpoint_path, 'predict')
    # As in 2.15, an empty predict_keys selects every prediction.
    return engine_scope.generator(prediction.run_prediction(
        self, input_fn, predict_keys or None, hooks, checkpoint_path,
        yield_single_examples))

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
    receiver_fns = {experimental_mode: _checked_receiver_fn(
        'serving_input_receiver_fn', serving_input_receiver_fn)}
    return _export(self, export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs=True)

  @engine_scope.entry_point
  def experimental_export_all_saved_models(self, export_dir_base,
                                           input_receiver_fn_map,
                                           assets_extra=None, as_text=False,
                                           checkpoint_path=None):
    if not isinstance(input_receiver_fn_map, dict):
      raise TypeError(f'input_receiver_fn_map must be a dict of mode -> '
                      f'input receiver fn, given: {input_receiver_fn_map!r}')
    if not input_receiver_fn_map:
      raise ValueError('input_receiver_fn_map is empty: no mode to export.')
    receiver_fns = {
        mode: _checked_receiver_fn(f'input_receiver_fn_map[{mode!r}]', fn)
        for mode, fn in input_receiver_fn_map.items()}
    return _export(self, export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs=True)

  @engine_scope.entry_point
  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn,
                        assets_extra=None, as_text=False, checkpoint_path=None,
                        strip_default_attrs=False):
    """Deprecated alias of `export_saved_model` (v1 API only)."""
    receiver_fns = {ModeKeys.PREDICT: _checked_receiver_fn(
        'serving_input_receiver_fn', serving_input_receiver_fn)}
    return _export(self, export_dir_base, receiver_fns, assets_extra, as_text,
                   checkpoint_path, strip_default_attrs)

  def _export_meta_graphs(self, mode):
    """The MetaGraphs exporting `mode` writes, as `(tags, call_model_fn)` pairs.

    One, with the mode's standard tags; TPUEstimator adds a TPU one.
    """
    return [(export_lib.EXPORT_TAG_MAP[mode], self._call_model_fn)]

  # Captured graphs and the checkpoint their variables hold --------------------
  def _prepare(self, mode, batches, checkpoint_path, variables_from=None):
    """The captured graph for `mode`, its variables loaded for this call.

    `variables_from` (checkpoint key -> variable, e.g. a running training's
    `global_variables`) supplies the values instead of a checkpoint, so an
    in-memory evaluation reuses the cached graph and touches no files.
    """
    key = (mode, repr(batches.element_spec))
    identity = (_checkpoint_identity(checkpoint_path)
                if checkpoint_path is not None and variables_from is None else None)
    captured = self._captures.get(key)
    if captured is not None and checkpoint_path is None and (
        variables_from is None and self._state[id(captured)] != _FRESH):
      captured = None  # its variables were changed; start from a fresh init
    if captured is not None and captured.busy and (
        variables_from is not None or
        identity is not None and self._state[id(captured)] != identity):
      captured = None  # an open predict generator reads these values: keep them
    if captured is None:
      initial_values = (checkpoints.InitialValues(checkpoint_path)
                        if identity is not None else None)
      captured = graph_capture.CapturedModel(
          self._model_fn, mode, batches.features_spec, batches.labels_spec,
          self.params, self._config, initial_values,
          values_overwritten=identity is not None or variables_from is not None)
      self._captures[key] = captured
      self._state[id(captured)] = _FRESH
    if variables_from is not None:
      _copy_variables(captured, variables_from)
      self._mark_unsaved(captured)  # a later checkpoint load must not be skipped
    elif identity is not None:
      if self._state[id(captured)] != identity:
        loaded = (captured.loaded_from(checkpoint_path)
                  if self._state[id(captured)] == _FRESH else ())
        layout = captured.checkpoint_layout
        if layout.restorer is not None:
          with captured.graph.as_default():
            layout.restorer.restore(session_lib.EmulatedSession(captured),
                                    checkpoint_path)
        else:
          checkpoints.restore(
              layout.variables, checkpoint_path,
              # `loaded` holds keys by name: right only for the default layout.
              loaded if layout.variables is captured.global_variables else ())
        self._state[id(captured)] = identity
    elif mode == ModeKeys.TRAIN or not captured.busy:
      # No checkpoint: 2.15 began every call so, warm start included.
      self._initialize(captured)
    if not captured.busy:  # an open predict generator's locals stay as they are
      captured.init_locals()
    return captured

  def _initialize(self, captured):
    """A call with no checkpoint to read, as 2.15's Scaffold began it.

    The variables hold their initial values already. A Scaffold's own
    `init_op` (with its `init_feed_dict`) runs first: 2.15 warm-started by
    replacing initializers, which its init_op then ran, so warm starting
    comes after it here. The Scaffold's `init_fn` runs last, as in
    MonitoredSession.
    """
    scaffold = captured.spec.scaffold
    if captured.fed_variables and scaffold.init_op is None:
      raise ValueError(
          f'Variables {captured.fed_variables} take their initial values '
          'from placeholders, which nothing feeds. As in TF1, return '
          'tf.compat.v1.train.Scaffold(init_op=tf.compat.v1.'
          'global_variables_initializer(), init_feed_dict={placeholder: '
          'value}) in the EstimatorSpec.')
    session = session_lib.EmulatedSession(captured)
    if scaffold.init_op is not None:
      with captured.graph.as_default():
        session.run(scaffold.init_op, feed_dict=scaffold.init_feed_dict)
    if self._warm_start is not None:
      warm_starting.warm_start(captured, self._warm_start)
    if scaffold.init_fn is not None:
      with captured.graph.as_default():
        scaffold.init_fn(session)

  def _release_stale_copies(self):
    """Frees the large variables of the eval and predict graphs not running.

    Called as training starts: its checkpoints will supersede what those
    graphs hold, so their next call reloads anyway. Meanwhile their memory
    (a copy of each embedding table per graph) serves training and its saves.
    """
    for captured in self._captures.values():
      if captured.mode != ModeKeys.TRAIN and not captured.busy and (
          large_variables.release(captured.global_variables)):
        self._mark_unsaved(captured)

  def _mark_unsaved(self, captured):
    self._state[id(captured)] = _DIRTY

  def _mark_saved(self, captured, checkpoint_path):
    if checkpoint_path:
      self._state[id(captured)] = _checkpoint_identity(checkpoint_path)


class EstimatorV2(Estimator):
  """`tf.estimator.Estimator`: the v1 class without `export_savedmodel`."""

  @property
  def export_savedmodel(self):
    raise AttributeError(f"'{type(self).__name__}' object has no attribute "
                         "'export_savedmodel'. Please use `export_saved_model`.")


def _export(estimator, export_dir_base, receiver_fns, assets_extra, as_text,
            checkpoint_path, strip_default_attrs):
  if assets_extra is not None and not isinstance(assets_extra, dict):
    raise TypeError(f'assets_extra must be a dict of destination -> source '
                    f'path, given: {assets_extra!r}')
  return exporting.export_all(
      estimator, _path_arg('export_dir_base', export_dir_base), receiver_fns,
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


def _copy_variables(captured, source):
  """Assigns `captured`'s checkpointed variables from same-keyed `source` ones.

  A custom Scaffold saver or init_fn would decide the values otherwise, so
  they are refused rather than silently bypassed, as 2.15 did.
  """
  scaffold = captured.spec.scaffold
  for what in ('saver', 'init_fn'):
    if getattr(scaffold, what) is not None:
      raise ValueError(f'Evaluating on in-memory variables (InMemoryEvaluatorHook) '
                       f'does not support a custom Scaffold {what} in the '
                       f'{captured.mode} EstimatorSpec.')
  missing = [k for k in captured.global_variables if k not in source]
  if missing:
    raise ValueError(f'The {captured.mode} graph has variables the in-memory '
                     f'source lacks, so they cannot be set: {missing}.')
  with tf.init_scope():  # callers may be inside a hook's graph context
    for key, variable in captured.global_variables.items():
      large_variables.assign(variable, source[key])


def _checkpoint_identity(path):
  """What tells one checkpoint's contents from another's at the same path.

  Local files use os.stat: nanosecond mtime and the inode (our saves replace
  files by rename). gfile reports whole seconds only, which is kept for
  remote file systems.
  """
  index = path + '.index'
  if '://' not in index:
    try:
      stat = os.stat(index)
      return (path, stat.st_mtime_ns, stat.st_ino, stat.st_size)
    except OSError:
      return (path, None, None, None)
  try:
    stat = tf.io.gfile.stat(index)
    return (path, stat.mtime_nsec, None, stat.length)
  except tf.errors.NotFoundError:
    return (path, None, None, None)
