"""`TPUEstimator`, running TPU programs on CPU and GPU.

BERT-era code (run_classifier-style programs, ALBERT, ELECTRA) builds a
`TPUEstimator` with `use_tpu=False` and trains on CPU/GPU. 2.15 then ran the
plain Estimator underneath, with three differences this class keeps:

* `input_fn` and `model_fn` must take `params`; `params['batch_size']` is the
  mode's batch size (`train_batch_size`, `eval_batch_size`,
  `predict_batch_size`) and the model_fn also sees `params['use_tpu']`.
  When exporting, the model_fn gets no batch size.
* A model_fn may return a `TPUEstimatorSpec`, converted with
  `as_estimator_spec()`.
* The Estimator's step-rate logging is replaced by an
  `ExamplesPerSecondHook`.

On a TPU a `Session.run` ran `TPUConfig.iterations_per_loop` steps; here that
is the length of the compiled training loop. Step rates are logged at 2.15's
CPU steps, but no more often than once per loop, which would stop after each
step otherwise (`_examples_hook_schedule`). No TPU is used: `use_tpu=True` is
an error at the first run that would need one.
"""

import contextlib
import copy
import enum
import math
import time

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.runs import training
from tfcompat_estimator.tpu import inference_export
from tfcompat_estimator.tpu import tpu_config
from tfcompat_estimator.tpu import tpu_context
from tfcompat_estimator.tpu import util as util_lib
# 2.15's tpu_estimator module held these; programs import them from it.
# pylint: disable=unused-import,g-bad-import-order
from tfcompat_estimator.tpu.hooks import ExamplesPerSecondHook
from tfcompat_estimator.tpu.hooks import InstallSignalHandlerHook
from tfcompat_estimator.tpu.inference_export import BatchConfig
from tfcompat_estimator.tpu.inference_export import call_computation
from tfcompat_estimator.tpu.inference_export import inference_on_tpu
from tfcompat_estimator.tpu.inference_export import model_fn_inference_on_tpu
from tfcompat_estimator.tpu.spec import TPUEstimatorSpec
from tfcompat_estimator.tpu.stop_at_step_hook import _create_or_get_iterations_per_loop
from tfcompat_estimator.tpu.stop_at_step_hook import _TPUStopAtStepHook
from tfcompat_estimator.tpu.stopping_signals import _InputsWithStoppingSignals
from tfcompat_estimator.tpu.stopping_signals import _PaddingSignals
from tfcompat_estimator.tpu.stopping_signals import _StopSignals
# pylint: enable=unused-import,g-bad-import-order

ModeKeys = model_fn_lib.ModeKeys
_BATCH_SIZE_KEY = 'batch_size'
_CTX_KEY = 'context'
_USE_TPU_KEY = 'use_tpu'
_RESERVED_PARAMS_KEYS = [_BATCH_SIZE_KEY, _CTX_KEY]
_BATCH_SIZE_ARG = {ModeKeys.TRAIN: 'train_batch_size',
                   ModeKeys.EVAL: 'eval_batch_size',
                   ModeKeys.PREDICT: 'predict_batch_size'}


class PeriodicLogger:
  """Logs a message at most once per `seconds` (later calls are dropped)."""

  def __init__(self, seconds):
    self._seconds = seconds
    self._last = 0

  def log(self, msg, *args, **kw):
    now = time.time()
    if now - self._last > self._seconds:
      self._last = now
      logging.info(msg, *args, **kw)


class ExportSavedModelApiVersion(enum.Enum):
  V1 = 1
  V2 = 2


def _add_item_to_params(params, key, value):
  """Sets `params[key]`; HParams-like objects (`set_hparam`) have no `[]=`."""
  if not hasattr(params, 'set_hparam'):
    params[key] = value
  elif key in params:
    params.set_hparam(key, value)
  else:
    params.add_hparam(key, value)


def _require_params_arg(fn, what, quote="'"):
  if 'params' not in model_fn_lib.fn_args(fn):  # 2.15's words, and quotes
    raise ValueError(f'{what} ({fn}) does not include params argument, '
                     'required by TPUEstimator to pass batch size as '
                     f'params[{quote}batch_size{quote}]')


class TPUEstimator(estimator_lib.Estimator):
  """`tf.compat.v1.estimator.tpu.TPUEstimator`, on CPU and GPU.

  Args:
    model_fn: A model_fn taking `params`; it may return a `TPUEstimatorSpec`.
    model_dir: As in `Estimator`.
    config: A `tf.compat.v1.estimator.tpu.RunConfig` (required).
    params: A dict (or HParams) for `input_fn` and `model_fn`, without the
      reserved keys 'batch_size' and 'context'.
    use_tpu: Must be False to train, evaluate or predict here (see above).
    train_batch_size, eval_batch_size, predict_batch_size: The batch size
      each mode's `params['batch_size']` gets (absent if None).
    batch_axis: TPU sharding of the input; unused without a TPU.
    eval_on_tpu: If False, evaluation runs on CPU even with `use_tpu=True`.
    export_to_tpu: Also export the TPU serving graph (tags `serve`, `tpu`)
      for PREDICT, as 2.15 did.
    export_to_cpu: Export the CPU serving graph.
    warm_start_from: As in `Estimator`.
    embedding_config_spec: An `EmbeddingConfigSpec`; with
      `partition_strategy='mod'` it is rejected, as on CPU in 2.15.
    export_saved_model_api_version: `ExportSavedModelApiVersion` or 1/2.

  Raises:
    ValueError: `config` is not a TPU `RunConfig`, `params` has a reserved
      key, or (with `use_tpu=True`) a batch size check fails.
  """

  def __init__(self, model_fn=None, model_dir=None, config=None, params=None,
               use_tpu=True, train_batch_size=None, eval_batch_size=None,
               predict_batch_size=None, batch_axis=None, eval_on_tpu=True,
               export_to_tpu=True, export_to_cpu=True, warm_start_from=None,
               embedding_config_spec=None,
               export_saved_model_api_version=ExportSavedModelApiVersion.V1):
    del batch_axis  # TPU sharding only
    if config is None or not isinstance(config, tpu_config.RunConfig):
      raise ValueError(
          '`config` must be provided with type `tpu_config.RunConfig`')
    if params is not None and any(k in params for k in _RESERVED_PARAMS_KEYS):
      raise ValueError(f'{_RESERVED_PARAMS_KEYS} are reserved keys but '
                       f'existed in params {params}.')
    if use_tpu:
      _check_tpu_batch_sizes(config, train_batch_size, eval_batch_size,
                             predict_batch_size, embedding_config_spec)
    if (not (use_tpu and eval_on_tpu) and embedding_config_spec and
        embedding_config_spec.partition_strategy == 'mod'):
      raise ValueError('Mod sharding of embedding tables not supported on '
                       'CPU.')
    if model_fn is not None:
      model_fn_lib.verify_model_fn_args(model_fn, params)
    if export_saved_model_api_version not in (
        ExportSavedModelApiVersion.V1, ExportSavedModelApiVersion.V2, 1, 2):
      raise ValueError('export_saved_model_api_version should be 1 or 2; '
                       f'got {export_saved_model_api_version}.')
    self._user_model_fn = model_fn
    self._export_to_cpu = export_to_cpu
    self._export_to_tpu = export_to_tpu
    self._export_saved_model_api_version = export_saved_model_api_version
    loop = util_lib.parse_iterations_per_loop(
        config.tpu_config.iterations_per_loop)
    self._examples_hook_schedule = _examples_hook_schedule(
        config.log_step_count_steps, loop)
    # The Estimator's own step-rate logging gives way to the examples hook.
    changes = {'log_step_count_steps': None}
    if loop.unit == 'count':
      changes['steps_per_loop'] = loop.value
    super().__init__(
        model_fn=self._tpu_model_fn if model_fn is not None else None,
        model_dir=model_dir, config=config.replace(**changes),
        params=params or {}, warm_start_from=warm_start_from)
    # After "Using config:", as 2.15 logged its context's lines.
    self._ctx = tpu_context._get_tpu_context(  # pylint: disable=protected-access
        config, train_batch_size, eval_batch_size, predict_batch_size,
        use_tpu, eval_on_tpu, embedding_config_spec)

  # The model_fn, as each run calls it ----------------------------------------
  def _tpu_model_fn(self, features, labels, mode, config, params):
    """The model_fn train/evaluate/predict run: with the mode's batch size."""
    with self._ctx.with_mode(mode) as ctx:
      batch_size = ctx.batch_size_for_model_fn
    return self._call_user_model_fn(features, labels, mode, config, params,
                                    batch_size)

  def _call_model_fn(self, features, labels, mode, config):
    """The model_fn for exports and `model_fn`, called as an Estimator's
    (with its log lines), but with no batch size, as in 2.15."""
    return model_fn_lib.call_model_fn(self._unbatched_model_fn, features,
                                      labels, mode, self.params, config)

  def _unbatched_model_fn(self, features, labels, mode, config, params):
    return self._call_user_model_fn(features, labels, mode, config, params,
                                    batch_size=None)

  def _call_user_model_fn(self, features, labels, mode, config, params,
                          batch_size, use_tpu=False):
    _require_params_arg(self._user_model_fn, 'model_fn')
    params = copy.deepcopy(params)
    if batch_size is not None:
      _add_item_to_params(params, _BATCH_SIZE_KEY, batch_size)
    _add_item_to_params(params, _USE_TPU_KEY, use_tpu)
    logging.info('Running %s on CPU/GPU', mode)
    spec = model_fn_lib.invoke_model_fn(self._user_model_fn, features, labels,
                                        mode, params, copy.deepcopy(config))
    if isinstance(spec, model_fn_lib._TPUEstimatorSpec):  # pylint: disable=protected-access
      spec = spec.as_estimator_spec()
    if not isinstance(spec, model_fn_lib.EstimatorSpec):
      raise ValueError('model_fn should return an EstimatorSpec or '
                       f'TPUEstimatorSpec, given: {spec!r}')
    if mode == ModeKeys.TRAIN and self._examples_hook_schedule:
      spec = spec._replace(training_hooks=tuple(spec.training_hooks) + (
          ExamplesPerSecondHook(
              batch_size, output_dir=(self.model_dir
                                      if config.save_summary_steps else None),
              **self._examples_hook_schedule),))
    return spec

  # Exports ---------------------------------------------------------------------
  def _export_meta_graphs(self, mode):
    """The CPU graph (`export_to_cpu`) and, for PREDICT, the TPU one."""
    if self._export_to_tpu and mode != ModeKeys.PREDICT:
      logging.warning('TPUEstimator only handles mode PREDICT for exporting '
                      'when `export_to_tpu` is `True`; Mode %s will be '
                      'ignored for TPU.', mode)
    if not self._export_to_cpu and not self._export_to_tpu:
      raise ValueError('One of export_to_cpu and export_to_tpu must be true.')
    graphs = super()._export_meta_graphs(mode) if self._export_to_cpu else []
    if self._export_to_tpu and mode == ModeKeys.PREDICT:
      graphs.append(([tf.saved_model.SERVING, tf.saved_model.TPU],
                     self._call_model_fn_for_tpu_serving))
    return graphs

  def _call_model_fn_for_tpu_serving(self, features, labels, mode, config):
    """The model for the TPU serving graph.

    With export API version 1 the model is rewritten for the TPU here; with
    version 2 the model_fn does that itself and sees `params['use_tpu']`
    True, as in 2.15.
    """
    with inference_export.inference_context():
      if self._export_saved_model_api_version in (
          ExportSavedModelApiVersion.V2, 2):
        return self._call_user_model_fn(features, labels, mode, config,
                                        self.params, batch_size=None,
                                        use_tpu=True)
      return inference_export.rewritten_spec(  # no "Calling model_fn." here
          lambda inputs: self._unbatched_model_fn(
              inputs, labels, mode, config, self.params),
          features)

  # Runs ------------------------------------------------------------------------
  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    input_fn = self._input_fn_for(input_fn, ModeKeys.TRAIN)
    with self._ctx.with_mode(ModeKeys.TRAIN) as ctx:
      if not ctx.is_running_on_cpu():
        _check_tpu_train_steps(steps, max_steps)
    self._require_cpu(ModeKeys.TRAIN)
    with _loop_lines('training_loop'):
      return super().train(input_fn, hooks=hooks, steps=steps,
                           max_steps=max_steps,
                           saving_listeners=saving_listeners)

  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None,
               name=None):
    input_fn = self._input_fn_for(input_fn, ModeKeys.EVAL)
    self._require_cpu(ModeKeys.EVAL)
    with _loop_lines('evaluation_loop'):
      return super().evaluate(input_fn, steps=steps, hooks=hooks,
                              checkpoint_path=checkpoint_path, name=name)

  def predict(self, input_fn, predict_keys=None, hooks=None,
              checkpoint_path=None, yield_single_examples=True):
    input_fn = self._input_fn_for(input_fn, ModeKeys.PREDICT)
    self._require_cpu(ModeKeys.PREDICT)
    return _predicting(super().predict(
        input_fn, predict_keys=predict_keys, hooks=hooks,
        checkpoint_path=checkpoint_path,
        yield_single_examples=yield_single_examples))

  def _require_cpu(self, mode):
    """Raises unless `mode` runs on CPU/GPU (use_tpu=False, eval_on_tpu=False).

    2.15's checks of a TPU run's arguments come first, with its messages:
    they name mistakes the user fixes whatever the hardware.
    """
    with self._ctx.with_mode(mode) as ctx:
      if ctx.is_running_on_cpu():
        return
      _require_params_arg(self._user_model_fn, 'model_fn')
      if mode != ModeKeys.TRAIN and ctx.global_batch_size is None:
        call = 'evaluate' if mode == ModeKeys.EVAL else 'predict'
        raise ValueError(f'{_BATCH_SIZE_ARG[mode]} in TPUEstimator '
                         f'constructor cannot be `None` if .{call} is '
                         'running on TPU.')
      system = ctx.tpu_system()  # 2.15's checks against the TPU found
    found = ''
    if system is not None and not system.num_cores:
      devices = ', '.join(d.name for d in system.devices)
      found = f'No TPU cores were found here (devices: {devices}). '
    raise ValueError(
        f'TPUEstimator(use_tpu=True) would run {mode} on a TPU, and '
        'tfcompat_estimator runs TPUEstimator programs on CPU and GPU only. '
        f'{found}Pass use_tpu=False (e.g. --use_tpu=False): the same '
        'model_fn, input_fn and batch sizes then run as tensorflow-estimator '
        'ran them without a TPU.')

  def _input_fn_for(self, input_fn, mode):
    """`input_fn` called with `params['batch_size']` for `mode`."""
    estimator_lib.check_callable('input_fn', input_fn)
    with self._ctx.with_mode(mode) as ctx:
      batch_size = ctx.batch_size_for_input_fn
      sliced_on_cpu = (ctx.is_running_on_cpu() and
                       ctx.is_input_slice_broadcast_to_all_cores())

    def tpu_input_fn(params, mode, config, input_context=None):
      # Checked here, in the loop, as 2.15 checked it when calling it.
      _require_params_arg(input_fn, 'input_fn', quote='"')
      if sliced_on_cpu:  # 2.15's check, when it called the input_fn
        raise ValueError(
            'Invalid TPUConfig `eval_training_input_configuration` value. '
            'SLICED mode only works on use_tpu = True. Without a TPU, '
            'evaluate() and predict() need InputPipelineConfig.PER_HOST_V1 '
            '(the default).')
      params = copy.deepcopy(params)
      if batch_size is not None:
        _add_item_to_params(params, _BATCH_SIZE_KEY, batch_size)
      try:
        return input_fn(**model_fn_lib.supported_kwargs(
            input_fn, params=params, mode=mode, config=config,
            input_context=input_context))
      except KeyError as e:
        if batch_size is None and e.args == (_BATCH_SIZE_KEY,):
          raise MissingBatchSizeError(
              f"input_fn read params['batch_size'], which TPUEstimator sets "
              f'for {mode} only when given {_BATCH_SIZE_ARG[mode]}: pass '
              f'TPUEstimator({_BATCH_SIZE_ARG[mode]}=...).') from e
        raise

    return tpu_input_fn


class MissingBatchSizeError(KeyError, ValueError):
  """The input_fn read `params['batch_size']`, which this mode was not given.

  2.15 let the input_fn's `KeyError` through (BigBird's `predict()` without
  `predict_batch_size`); it still is one, for programs that catch it.
  """

  def __str__(self):
    return self.args[0]  # KeyError's own would quote the message


def _check_tpu_train_steps(steps, max_steps):
  """2.15's checks of train()'s step counts for a TPU run."""
  estimator_lib.check_number('steps', steps)
  estimator_lib.check_number('max_steps', max_steps)
  training.validate_steps(steps, max_steps)
  if steps is None and max_steps is None:
    raise ValueError('For TPU training, one of `steps` or `max_steps` must be '
                     'set. Cannot be both `None`.')
  for value, name in ((steps, 'Train steps'), (max_steps, 'Train max_steps')):
    if value is not None:
      util_lib.check_positive_integer(value, name)


def _check_tpu_batch_sizes(config, train_batch_size, eval_batch_size,
                           predict_batch_size, embedding_config_spec):
  """2.15's constructor checks for `use_tpu=True`."""
  if train_batch_size is None:
    raise ValueError('`train_batch_size` cannot be `None`')
  util_lib.check_positive_integer(train_batch_size, 'train_batch_size')
  pipeline = config.tpu_config.per_host_input_for_training
  if (pipeline is tpu_config.InputPipelineConfig.PER_SHARD_V1 and
      config.tpu_config.num_cores_per_replica):
    raise ValueError('Model parallelism only supports per host input for '
                     'training. Please adjust '
                     'TPURunconfig.per_host_input_for_training.')
  if eval_batch_size is not None:
    util_lib.check_positive_integer(eval_batch_size, 'eval_batch_size')
  if predict_batch_size is not None:
    util_lib.check_positive_integer(predict_batch_size, 'predict_batch_size')
  if embedding_config_spec and pipeline not in (
      tpu_config.InputPipelineConfig.PER_HOST_V1,
      tpu_config.InputPipelineConfig.PER_HOST_V2):
    raise ValueError('Only PER_HOST_V1 and PER_HOST_V2 is supported when '
                     f'using TPU Embedding; got {pipeline}.')


@contextlib.contextmanager
def _loop_lines(loop):
  """2.15's lines as each loop ended, failed or not (its `ErrorRendezvous`,
  which logs are read by): a failed one's error is then raised again."""
  failed = False
  try:
    yield
  except Exception:  # pylint: disable=broad-except
    failed = True
    raise
  finally:
    logging.info('%s marked as finished', loop)
    if failed:
      logging.warning('Reraising captured error')


def _predicting(predictions):
  """`predictions`, with 2.15's end lines: twice at the end of the input,
  once when the program stops early."""
  with _loop_lines('prediction_loop'):
    yield from predictions
  logging.info('%s marked as finished', 'prediction_loop')


def _examples_hook_schedule(log_step_count_steps, loop):
  """`ExamplesPerSecondHook` timing, in steps or seconds.

  2.15 logged every `ceil(log_step_count_steps / iterations_per_loop)`
  session runs: on CPU, that many steps. So is it here, but at most once
  per loop, which would stop after each step otherwise (BERT's loops of
  1,000 steps and 100 steps per log: every step on 2.15).
  """
  if loop.unit == 'seconds':
    return {'every_n_steps': None, 'every_n_secs': loop.value}
  if log_step_count_steps is None:
    return None
  steps = int(math.ceil(float(log_step_count_steps) / loop.value))
  return {'every_n_steps': max(steps, loop.value), 'every_n_secs': None}


def export_estimator_savedmodel(estimator, export_dir_base,
                                serving_input_receiver_fn, assets_extra=None,
                                as_text=False, checkpoint_path=None):
  """Exports a plain `Estimator`'s model with TPUEstimator's serving graphs.

  The model_fn (which must take `params`) is exported as TPUEstimator
  exports it: the CPU graph and the TPU one (tags `serve`, `tpu`).

  Args:
    estimator: The trained `Estimator`.
    export_dir_base, serving_input_receiver_fn, assets_extra, as_text,
    checkpoint_path: As in `Estimator.export_saved_model`.

  Returns:
    The export directory (bytes).
  """
  tpu_estimator = TPUEstimator(
      estimator._model_fn,  # pylint: disable=protected-access
      config=tpu_config.RunConfig(model_dir=estimator.model_dir),
      params=estimator.params, use_tpu=True,
      # Required with use_tpu=True; exporting uses no batch size.
      train_batch_size=2048, eval_batch_size=2048)
  return tpu_estimator.export_saved_model(
      export_dir_base, serving_input_receiver_fn, assets_extra, as_text,
      checkpoint_path)
