"""`TrainSpec` and `EvalSpec`: what `train_and_evaluate` trains and evaluates.

Both are validated when built, so a bad spec fails where the user wrote it,
not minutes later inside a training or on another task of a cluster.
"""

import collections

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib

# How 2.15's specs began these errors; programs match on them.
_HOOKS_LEAD = 'All hooks must be `SessionRunHook` instances'
_LISTENERS_LEAD = (
    'All saving_listeners must be `CheckpointSaverListener` instances')


# Spec validation ---------------------------------------------------------------
def _check_exporters(exporters):
  """`exporters` as a tuple of `Exporter`s with distinct non-empty names."""
  if not exporters:
    return ()
  # Imported here: only programs that export need the exporter module.
  from tfcompat_estimator import exporter as exporter_lib  # pylint: disable=g-import-not-at-top
  if isinstance(exporters, exporter_lib.Exporter):
    exporters = (exporters,)
  try:
    exporters = tuple(exporters)
  except TypeError:
    exporters = None
  if exporters is None or not all(
      isinstance(e, exporter_lib.Exporter) for e in exporters):
    raise TypeError('`exporters` must be an Exporter, an iterable of Exporter, '
                    f'or `None`, found {exporters}.')
  names = [e.name for e in exporters]
  for name in names:
    if not name:
      raise ValueError('An Exporter cannot have a name that is `None` or empty. '
                       f'All exporter names: {names}')
    if not isinstance(name, str):
      raise ValueError(f'An Exporter must have a string name. Given: {type(name)}')
  if len(set(names)) != len(names):
    raise ValueError('`exporters` must have unique names. Such a name cannot be '
                     f'`None`. All exporter names: {names}')
  return exporters


class TrainSpec(collections.namedtuple(
    'TrainSpec', ['input_fn', 'max_steps', 'hooks', 'saving_listeners'])):
  """What `train_and_evaluate` trains on and for how long.

  Fields (and constructor arguments):
    input_fn: the training input function, as for `Estimator.train`.
    max_steps: global step at which training stops, or None to train until
      the input ends or a hook stops training. Only a `max_steps` tells the
      exporters about the final export and the evaluator task when to end.
    hooks: iterable of `SessionRunHook`s for training (stored as a tuple).
    saving_listeners: iterable of `CheckpointSaverListener`s, called on the
      checkpoint saves of a local run or a cluster's chief (stored as a
      tuple).

  Raises:
    TypeError: `input_fn` is not callable, `max_steps` is not a number, or a
      hook or listener has the wrong type.
    ValueError: `max_steps` is not positive.
  """

  __slots__ = ()

  def __new__(cls, input_fn, max_steps=None, hooks=None, saving_listeners=None):
    estimator_lib.check_callable('input_fn', input_fn)
    estimator_lib.check_number('max_steps', max_steps)
    if max_steps is not None and max_steps <= 0:
      raise ValueError(f'Must specify max_steps > 0, given: {max_steps}')
    return super().__new__(
        cls, input_fn, max_steps, checked_hooks(hooks),
        estimator_lib.checked_saving_listeners(saving_listeners,
                                               _LISTENERS_LEAD))


class EvalSpec(collections.namedtuple('EvalSpec', [
    'input_fn', 'steps', 'name', 'hooks', 'exporters', 'start_delay_secs',
    'throttle_secs'])):
  """How `train_and_evaluate` evaluates and exports checkpoints.

  Fields (and constructor arguments):
    input_fn: the evaluation input function, as for `Estimator.evaluate`.
    steps: evaluation steps per evaluation (default 100), or None to
      evaluate until `input_fn` is exhausted.
    name: name of the evaluation (metrics go to `estimator.eval_dir(name)`),
      or None.
    hooks: iterable of `SessionRunHook`s for each evaluation (stored as a
      tuple).
    exporters: an `Exporter`, an iterable of them with distinct names, or
      None; each is asked to export after every evaluation (stored as a
      tuple).
    start_delay_secs: seconds a separate evaluator task waits before its
      first evaluation; ignored by local runs.
    throttle_secs: least number of seconds between the starts of two
      evaluations. A local run skips checkpoints saved sooner (but evaluates
      the final one); an evaluator task waits.

  Raises:
    TypeError: `input_fn` is not callable, a number argument is not a
      number, `name` is not a string, or a hook or exporter has the wrong
      type.
    ValueError: `steps` is not positive, a delay is negative, or exporter
      names are empty, not strings, repeated or leave `<model_dir>/export`.
  """

  __slots__ = ()

  def __new__(cls, input_fn, steps=100, name=None, hooks=None, exporters=None,
              start_delay_secs=120, throttle_secs=600):
    estimator_lib.check_callable('input_fn', input_fn)
    for arg, value in (('steps', steps), ('start_delay_secs', start_delay_secs),
                       ('throttle_secs', throttle_secs)):
      estimator_lib.check_number(arg, value)
    if steps is not None and steps <= 0:
      raise ValueError(f'Must specify steps > 0, given: {steps}')
    if name is not None and not isinstance(name, str):
      raise TypeError(f'`name` must be string, given: {name}')
    hooks = checked_hooks(hooks)
    exporters = _check_exporters(exporters)
    if start_delay_secs < 0:
      raise ValueError(
          f'Must specify start_delay_secs >= 0, given: {start_delay_secs}')
    if throttle_secs < 0:
      raise ValueError(f'Must specify throttle_secs >= 0, given: {throttle_secs}')
    return super().__new__(cls, input_fn, steps, name, hooks, exporters,
                           start_delay_secs, throttle_secs)


def checked_hooks(hooks, what='hooks'):
  """`hooks` as a tuple; TypeError (2.15's spec wording) naming `what`.

  Args:
    hooks: an iterable of `SessionRunHook`s, or None.
    what: the argument's name, for the error message.

  Returns:
    A tuple of the hooks.

  Raises:
    TypeError: an element is not a `SessionRunHook`, or `hooks` is a single
      hook rather than a list.
  """
  return model_fn_lib.checked_hooks(hooks, what, _HOOKS_LEAD)


def check_eval_spec(eval_spec):
  """TypeError unless `eval_spec` is an `EvalSpec` (what 2.15 asserted)."""
  if not isinstance(eval_spec, EvalSpec):
    raise TypeError('`eval_spec` must have type `tf.estimator.EvalSpec`. '
                    f'Got: {type(eval_spec)}')
