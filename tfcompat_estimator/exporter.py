"""Exporters: when `train_and_evaluate` writes a SavedModel, and which it keeps.

An exporter is asked after every evaluation whether to export the evaluated
checkpoint. `LatestExporter` always does, `BestExporter` only when the
evaluation beats the best one so far, `FinalExporter` only at the end of
training. Exports land in `<export_path>/<unix seconds>`; Latest and Best then
delete all but the newest `exports_to_keep` of those timestamped directories.
"""

import numbers
import os
import re

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

from tfcompat_estimator import gc
from tfcompat_estimator.io import summaries
from tfcompat_estimator import model_fn as model_fn_lib

_LOSS = 'loss'
_COMPARE_FN_ARGS = ('best_eval_result', 'current_eval_result')
# Export directories are named by `int(time.time())`: ten digits until 2286.
_EXPORT_DIR_NAME = re.compile(r'[0-9]{10}')


class Exporter:
  """The interface `EvalSpec(exporters=...)` expects.

  Like 2.15's, this base class does not enforce its abstract members at
  construction, so subclasses that override only `export` keep working.
  """

  @property
  def name(self):
    """Directory name of this exporter's exports under `<model_dir>/export`."""
    raise NotImplementedError('Exporter subclasses must define `name`.')

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `checkpoint_path` of `estimator` under `export_path`.

    Args:
      estimator: the `Estimator` that was evaluated.
      export_path: directory under which the timestamped export is written.
      checkpoint_path: the checkpoint that was evaluated.
      eval_result: the dict `Estimator.evaluate` returned for that checkpoint.
      is_the_final_export: whether training has ended (always False when
        `TrainSpec.max_steps` is None).

    Returns:
      The export directory, or None when this exporter chose not to export.
    """
    raise NotImplementedError('Exporter subclasses must define `export`.')


class _SavedModelExporter(Exporter):
  """Holds the export arguments shared by the concrete exporters."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False):
    if not isinstance(name, str) or not name:
      raise ValueError(f'Exporter `name` must be a non-empty string; got '
                       f'{name!r}.')
    if not callable(serving_input_receiver_fn):
      raise ValueError(f'Exporter {name!r}: `serving_input_receiver_fn` must '
                       f'be a function returning a ServingInputReceiver; got '
                       f'{serving_input_receiver_fn!r}.')
    self._name = name
    self._serving_input_receiver_fn = serving_input_receiver_fn
    self._assets_extra = assets_extra
    self._as_text = as_text

  @property
  def name(self):
    return self._name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del eval_result, is_the_final_export  # this base exports unconditionally
    return estimator.export_saved_model(
        export_path, self._serving_input_receiver_fn,
        assets_extra=self._assets_extra, as_text=self._as_text,
        checkpoint_path=checkpoint_path)


def _check_exports_to_keep(exports_to_keep):
  if exports_to_keep is None:
    return
  if (isinstance(exports_to_keep, bool) or
      not isinstance(exports_to_keep, numbers.Integral) or exports_to_keep <= 0):
    raise ValueError(f'`exports_to_keep`, if provided, must be a positive '
                     f'number: an integer, or None to keep every export; got '
                     f'{exports_to_keep!r}.')


def _timestamped_exports(export_path):
  """The export directories directly under `export_path`, as `gc.Path`s.

  Only subdirectories named by a ten-digit timestamp count; anything else
  there (temp dirs of an export in progress, files, other names) is not an
  export.
  """
  if not tf.io.gfile.isdir(export_path):
    return []

  def timestamped(path):
    name = os.path.basename(path.path)
    if _EXPORT_DIR_NAME.fullmatch(name) and tf.io.gfile.isdir(path.path):
      return path._replace(export_version=int(name))
    return None

  return gc._get_paths(export_path, timestamped)  # pylint: disable=protected-access


def _delete_old_exports(export_path, exports_to_keep):
  """Deletes all but the newest `exports_to_keep` timestamped export dirs.

  Anything else in `export_path` is left alone (`_timestamped_exports`).
  """
  if exports_to_keep is None:
    return
  stale = gc._negation(gc._largest_export_versions(exports_to_keep))  # pylint: disable=protected-access
  for path in stale(_timestamped_exports(export_path)):
    try:
      tf.io.gfile.rmtree(path.path)
    except tf.errors.NotFoundError as e:
      logging.warning('Could not delete old export %s: %s', path.path, e)


class LatestExporter(_SavedModelExporter):
  """Exports after every evaluation, keeping the newest `exports_to_keep`."""

  def __init__(self, name, serving_input_receiver_fn, assets_extra=None,
               as_text=False, exports_to_keep=5):
    """Creates a LatestExporter for `tf.estimator.EvalSpec`.

    Args:
      name: directory of the exports, a non-empty path joined to
        `<model_dir>/export` (an absolute one stands for itself).
      serving_input_receiver_fn: no-argument function returning a
        `ServingInputReceiver` (or `TensorServingInputReceiver`).
      assets_extra: dict of `assets.extra` destination -> source file.
      as_text: write `saved_model.pbtxt` instead of `saved_model.pb`.
      exports_to_keep: how many of the newest exports to keep; None keeps all.

    Raises:
      ValueError: `name` is empty or not a string,
        `serving_input_receiver_fn` is not callable, or `exports_to_keep`
        is neither None nor a positive int.
    """
    super().__init__(name, serving_input_receiver_fn, assets_extra, as_text)
    _check_exports_to_keep(exports_to_keep)
    self._exports_to_keep = exports_to_keep

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `checkpoint_path`, then deletes all but the newest exports.

    Only timestamped export directories in `export_path` are counted and
    deleted; other entries there are left alone.

    Args:
      estimator: the `Estimator` that was evaluated.
      export_path: directory under which the timestamped export is written.
      checkpoint_path: the checkpoint that was evaluated.
      eval_result: the evaluation's metrics (unused).
      is_the_final_export: whether training has ended (unused).

    Returns:
      The export directory.
    """
    export_dir = super().export(estimator, export_path, checkpoint_path,
                                eval_result, is_the_final_export)
    _delete_old_exports(export_path, self._exports_to_keep)
    return export_dir


class FinalExporter(_SavedModelExporter):
  """Exports once, when `train_and_evaluate` reports the end of training.

  `FinalExporter(name, serving_input_receiver_fn, assets_extra=None,
  as_text=False)`: the arguments and errors of `LatestExporter`, without
  `exports_to_keep`. Nothing is exported when `TrainSpec.max_steps` is None,
  as training then never reports its end.
  """

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `checkpoint_path` if `is_the_final_export`.

    Args:
      estimator: the `Estimator` that was evaluated.
      export_path: directory under which the timestamped export is written.
      checkpoint_path: the checkpoint that was evaluated.
      eval_result: the evaluation's metrics (unused).
      is_the_final_export: whether training has ended.

    Returns:
      The export directory, or None before the end of training.
    """
    if not is_the_final_export:
      return None
    logging.info('Performing the final export in the end of training.')
    return super().export(estimator, export_path, checkpoint_path, eval_result,
                          is_the_final_export)


def _loss_smaller(best_eval_result, current_eval_result):
  """Default `BestExporter.compare_fn`: True when the current loss is lower."""
  for arg, result in (('best_eval_result', best_eval_result),
                      ('current_eval_result', current_eval_result)):
    if not result or _LOSS not in result:
      raise ValueError(f'The default BestExporter compare_fn compares '
                       f'{_LOSS!r}, but {arg} has no {_LOSS!r} key: {result!r}. '
                       f'Pass a compare_fn for results without a loss.')
  return best_eval_result[_LOSS] > current_eval_result[_LOSS]


def _check_compare_fn(compare_fn):
  """`compare_fn` is called by keyword, so its parameters must match exactly."""
  if compare_fn is None:
    raise ValueError('BestExporter `compare_fn` must not be None.')
  if not callable(compare_fn):
    raise ValueError(f'BestExporter `compare_fn` must be callable; got '
                     f'{compare_fn!r}.')
  args = set(model_fn_lib.fn_args(compare_fn))
  for required in _COMPARE_FN_ARGS:
    if required not in args:
      raise ValueError(f'compare_fn ({compare_fn}) must take a {required!r} '
                       f'argument.')
  unexpected = sorted(args - set(_COMPARE_FN_ARGS))
  if unexpected:
    raise ValueError(f'compare_fn ({compare_fn}) takes unexpected arguments '
                     f'{unexpected}; it must take exactly {_COMPARE_FN_ARGS}.')


class BestExporter(Exporter):
  """Exports only evaluations better than every earlier one.

  The best result survives restarts: the first `export` call (per model_dir)
  reads every evaluation already written to `event_file_pattern`, as
  `Estimator.evaluate` writes them. 2.15 exported unconditionally on that
  first call, so a restarted job could export a worse model; here it exports
  only when the current result is at least as good as the best on file (a tie
  is expected: the evaluation being exported is usually on file already), or
  when none of its exports is on disk: programs then look for one (BLEURT's
  fine-tuning, continued in a model_dir copied without `export/`, asserts
  that it finds one; 2.15 wrote it).
  """

  def __init__(self, name='best_exporter', serving_input_receiver_fn=None,
               event_file_pattern='eval/*.tfevents.*', compare_fn=_loss_smaller,
               assets_extra=None, as_text=False, exports_to_keep=5):
    """Creates a BestExporter for `tf.estimator.EvalSpec`.

    Args:
      name: directory name of the exports under `<model_dir>/export`.
      serving_input_receiver_fn: no-argument function returning a
        `ServingInputReceiver` (or `TensorServingInputReceiver`).
      event_file_pattern: glob relative to `model_dir` of the eval event files
        the best result is resumed from; None forgets earlier runs.
      compare_fn: `compare_fn(best_eval_result, current_eval_result)` returning
        True when the current result is better. The default compares 'loss'.
      assets_extra: dict of `assets.extra` destination -> source file.
      as_text: write `saved_model.pbtxt` instead of `saved_model.pb`.
      exports_to_keep: how many of the newest exports to keep; None keeps all.

    Raises:
      ValueError: `name` is empty or not a string,
        `serving_input_receiver_fn` is not callable, `compare_fn` is None, not callable or does not take exactly
        `best_eval_result` and `current_eval_result`, or `exports_to_keep`
        is neither None nor a positive int.
    """
    _check_compare_fn(compare_fn)
    _check_exports_to_keep(exports_to_keep)
    self._saved_model_exporter = _SavedModelExporter(
        name, serving_input_receiver_fn, assets_extra, as_text)
    self._compare_fn = compare_fn
    self._event_file_pattern = event_file_pattern
    self._exports_to_keep = exports_to_keep
    self._model_dir = None
    self._best_eval_result = None

  @property
  def name(self):
    """Directory name of this exporter's exports under `<model_dir>/export`."""
    return self._saved_model_exporter.name

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    """Exports `checkpoint_path` if `eval_result` is the best so far.

    On the first call for a model_dir, the best result is first resumed from
    the event files matching `event_file_pattern`.

    Args:
      estimator: the `Estimator` that was evaluated.
      export_path: directory under which the timestamped export is written.
      checkpoint_path: the checkpoint that was evaluated.
      eval_result: the evaluation's metrics, passed to `compare_fn`.
      is_the_final_export: whether training has ended (unused).

    Returns:
      The export directory, or None when `eval_result` is not the best.

    Raises:
      ValueError: the default `compare_fn` met a result without 'loss'
        (also one read from the event files).
    """
    resumed = False
    if self._event_file_pattern and self._model_dir != estimator.model_dir:
      self._model_dir = estimator.model_dir
      self._best_eval_result = self._best_on_file(
          os.path.join(self._model_dir, self._event_file_pattern))
      resumed = True
    if not (self._is_best(eval_result, resumed) or
            resumed and not _timestamped_exports(export_path)):
      return None
    logging.info('Performing best model export.')
    export_dir = self._saved_model_exporter.export(
        estimator, export_path, checkpoint_path, eval_result,
        is_the_final_export)
    self._best_eval_result = eval_result
    _delete_old_exports(export_path, self._exports_to_keep)
    return export_dir

  def _is_best(self, eval_result, resumed):
    best = self._best_eval_result
    if best is None:
      return True
    if self._compare_fn(best_eval_result=best, current_eval_result=eval_result):
      return True
    # A result on file that is no better than this one is this one, or a tie.
    return resumed and not self._compare_fn(best_eval_result=eval_result,
                                            current_eval_result=best)

  def _best_on_file(self, pattern):
    """The best evaluation result in the event files matching `pattern`."""
    logging.info('Loading best metric from event files.')  # 2.15's words
    best = None
    for event_file, step, result in summaries.read_scalars(pattern):
      try:
        if best is None or self._compare_fn(best_eval_result=best,
                                            current_eval_result=result):
          best = result
      except ValueError as e:
        raise ValueError(f'{e} (evaluation at step {step} in {event_file})'
                         ) from e
    return best
