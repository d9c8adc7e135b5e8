"""`TPUEstimatorSpec`: a model_fn's result in TPUEstimator's form.

It differs from `EstimatorSpec` in three fields, each a function the TPU host
ran on CPU anyway: `eval_metrics=(metric_fn, tensors)` instead of
`eval_metric_ops`, `scaffold_fn` instead of `scaffold` (so the Scaffold's ops,
e.g. `init_from_checkpoint`'s, were built outside the TPU computation), and
`host_call=(fn, tensors)`, ops to run after every step. Without a TPU,
`as_estimator_spec` calls the three functions in the model graph and gives the
`EstimatorSpec` the CPU/GPU loops run, as 2.15 did with `use_tpu=False`.
"""

import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals


def validate_host_calls(host_calls):
  """Checks `eval_metrics` and `host_call`: `(fn, tensors)` pairs.

  Args:
    host_calls: dict of field name -> the field's value.

  Raises:
    ValueError: A value is not a pair, or its tensors not a list/tuple/dict.
    TypeError: The function is not callable.
    RuntimeError: A tensor list's length differs from the function's
      argument count (a function with `*args` takes any).
  """
  for name, host_call in host_calls.items():
    if not isinstance(host_call, (tuple, list)):
      raise ValueError(f'{name} should be tuple or list')
    if len(host_call) != 2:
      raise ValueError(f'{name} should have two elements.')
    fn, tensors = host_call
    if not callable(fn):
      raise TypeError(f'{name}[0] should be callable.')
    if not isinstance(tensors, (tuple, list, dict)):
      raise ValueError(f'{name}[1] should be tuple or list, or dict.')
    if isinstance(tensors, (tuple, list)) and not model_fn_lib.takes_varargs(fn):
      args = model_fn_lib.fn_args(fn)
      if len(tensors) != len(args):
        raise RuntimeError(
            f'In TPUEstimatorSpec.{name}, length of tensors {len(tensors)} '
            f'does not match method args of the function, which takes '
            f'{len(args)}.')


def call_host_fn(name, host_call):
  """Calls a `(fn, tensors)` pair: a list as positional, a dict as keywords."""
  fn, tensors = host_call
  if isinstance(tensors, dict):
    try:
      return fn(**tensors)
    except TypeError as e:
      raise TypeError(
          f'TPUEstimatorSpec.{name}: calling {fn!r} with the keyword '
          f'arguments {sorted(tensors)} failed ({e}); the keys of {name}[1] '
          "must be the function's argument names.") from e
  return fn(*tensors)


class TPUEstimatorSpec(model_fn_lib._TPUEstimatorSpec):  # pylint: disable=protected-access
  """Ops and objects a `model_fn` returns to `TPUEstimator`.

  `mode`, `predictions`, `loss`, `train_op`, `export_outputs` and the hooks
  are as in `EstimatorSpec`. `eval_metrics` is `(metric_fn, tensors)`:
  `metric_fn` gets `tensors` (a list as positional arguments, a dict as
  keyword arguments) and returns a dict of metric name -> `(value, update_op)`.
  `scaffold_fn` returns the `Scaffold`. `host_call` is `(fn, tensors)` like
  `eval_metrics`; the ops `fn` returns run after every train and eval step
  (typically writing `tf.summary` values with `create_file_writer`).
  """

  def __new__(cls, mode, predictions=None, loss=None, train_op=None,
              eval_metrics=None, export_outputs=None, scaffold_fn=None,
              host_call=None, training_hooks=None, evaluation_hooks=None,
              prediction_hooks=None):
    validate_host_calls(_host_calls(eval_metrics, host_call))
    hooks = [tuple(h or ()) for h in (training_hooks, evaluation_hooks,
                                      prediction_hooks)]
    for hook in sum(hooks, ()):
      if not isinstance(hook, tf.compat.v1.train.SessionRunHook):
        raise TypeError(
            f'All hooks must be SessionRunHook instances, given: {hook}')
    return super().__new__(
        cls, mode=mode, predictions=predictions, loss=loss, train_op=train_op,
        eval_metrics=eval_metrics, export_outputs=export_outputs,
        scaffold_fn=scaffold_fn, host_call=host_call,
        training_hooks=hooks[0], evaluation_hooks=hooks[1],
        prediction_hooks=hooks[2])

  def as_estimator_spec(self):
    """The equivalent `EstimatorSpec`, for running on CPU/GPU."""
    eval_metric_ops = None
    if self.eval_metrics is not None:
      eval_metric_ops = call_host_fn('eval_metrics', self.eval_metrics)
    hooks = ()
    if self.host_call is not None:
      writers = []
      with tf_internals.summary_writers_made(writers):
        ops = call_host_fn('host_call', self.host_call)
      hooks = (_HostCallHook(ops, writers),)
    return model_fn_lib.EstimatorSpec(
        mode=self.mode, predictions=self.predictions, loss=self.loss,
        train_op=self.train_op, eval_metric_ops=eval_metric_ops,
        export_outputs=self.export_outputs,
        scaffold=self.scaffold_fn() if self.scaffold_fn else None,
        training_hooks=self.training_hooks + hooks,
        evaluation_hooks=self.evaluation_hooks + hooks,
        prediction_hooks=self.prediction_hooks + hooks)


def _host_calls(eval_metrics, host_call):
  calls = {}
  if eval_metrics is not None:
    calls['eval_metrics'] = eval_metrics
  if host_call is not None:
    calls['host_call'] = host_call
  return calls


class _HostCallHook(tf.compat.v1.train.SessionRunHook):
  """Runs a `host_call`'s ops after every step, as a TPU host did.

  A host call usually writes summaries through writers it creates with
  `tf.summary.create_file_writer`. In the model graph (a function graph,
  in TF1 mode too) they are created eagerly and initialized at once; they
  are flushed when the run ends, so the last steps' values reach the
  event file. tf.contrib.summary's writers (`summary_ops_v2`'s graph-mode
  `create_file_writer`: XLNet's and UDA's host calls) are ops of the
  graph instead, created by init ops the hook runs first, as 2.15's did
  (without them the first step failed: the writer resource did not exist).

  Args:
    ops: What the host_call function returned, fetched after every step.
    writers: The summary writers it created, kept alive here.
  """

  # Part of the captured spec, which serves every call (runs/
  # model_fn_hooks.py); `begin` finds the legacy writers afresh.
  restarts_in_begin = True

  def __init__(self, ops, writers):
    self._ops = ops
    self._writers = writers
    self._legacy_writers = ([], [])

  def begin(self):
    self._legacy_writers = tf_internals.legacy_summary_writers()

  def after_create_session(self, session, coord):
    del coord
    init_ops, _ = self._legacy_writers
    if init_ops:
      session.run(init_ops)

  def before_run(self, run_context):
    del run_context
    return tf.compat.v1.train.SessionRunArgs(self._ops)

  def end(self, session):
    _, flush_ops = self._legacy_writers
    if flush_ops:
      session.run(flush_ops)
    with tf.init_scope():  # hooks run in the model graph; the writers are eager
      for writer in self._writers:
        writer.flush()
