"""`Estimator.predict`: a generator over prediction batches or examples."""

import contextlib

from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.session_emulation import hook_runner as hook_runner_lib
from tfcompat_estimator.session_emulation import hooked_step
from tfcompat_estimator.session_emulation import session as session_lib


def _select(predictions, predict_keys):
  if predict_keys is None:
    return predictions
  if not isinstance(predictions, dict):
    raise ValueError('predict_keys argument is not valid in case of non-dict '
                     'predictions.')
  selected = {k: v for k, v in predictions.items() if k in predict_keys}
  if not selected:
    raise ValueError(f'Expected to run at least one output from '
                     f'{sorted(predictions)}, provided {predict_keys}.')
  return selected


def run_prediction(context, input_fn, predict_keys, hooks, checkpoint_path):
  """Yields batches of predictions; hooks end when the input is exhausted.

  Args:
    context: The Estimator's `RunContext`.
    input_fn, predict_keys, hooks, checkpoint_path: As in
      `Estimator.predict`; `checkpoint_path` None predicts with the initial
      values.
  """
  hooks = list(hooks or [])
  batches = input_pipeline.BatchSource(
      input_fn, model_fn_lib.ModeKeys.PREDICT, context.params, context.config)
  captured = context.graphs.for_run(
      model_fn_lib.ModeKeys.PREDICT, batches, checkpoint_path)
  predictions = _select(captured.spec.predictions, predict_keys)
  session = session_lib.EmulatedSession(captured, batches)
  runner = hook_runner_lib.HookRunner(
      hooks + list(captured.spec.prediction_hooks), session)
  runner.begin()
  runner.after_create_session()
  # While the caller holds this generator, train() must not release the
  # graph's variables.
  with captured.in_use(), batches:
    while not runner.stop_requested:
      try:
        values = hooked_step.run(session, runner, batches, predictions)
      except end_of_input.ENDS_RUN:
        break
      yield values
  session.current_batch = None
  runner.end()


def examples(batches):
  """Yields each batch of predictions example by example.

  Numpy only: the caller iterates it outside the engine's scope, which a
  TF1 world enters and leaves per item it yields (8 us each, against a
  predict's 70 us an example on a dense DNN).

  Args:
    batches: An iterator of prediction batches, closed when this one is.
  """
  with contextlib.closing(batches):
    for values in batches:
      if not isinstance(values, dict):
        yield from values
      else:
        for i in range(_batch_length(values)):
          yield {key: value[i] for key, value in values.items()}


def _batch_length(values):
  length = None
  for key, value in values.items():
    if getattr(value, 'ndim', 0) == 0:
      raise ValueError(f'Prediction {key!r} is a scalar, so it cannot be split '
                       'into examples. Use yield_single_examples=False.')
    if length is None:
      length = value.shape[0]
    elif value.shape[0] != length:
      raise ValueError(f'Batch length of predictions should be same. {key} has '
                       'different batch length than others.')
  return length or 0
