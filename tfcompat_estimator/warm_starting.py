"""Warm-starting a fresh model from another checkpoint (`warm_start_from`).

Runs once, on the first training of a model_dir without checkpoints, after
variables are initialized: matching variables are copied from the source
checkpoint, and embedding rows are remapped between vocabularies.
"""

import collections
import os
import re

import numpy as np
import tensorflow as tf

from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging

VocabInfo = tf.compat.v1.train.VocabInfo


class WarmStartSettings(collections.namedtuple('WarmStartSettings', [
    'ckpt_to_initialize_from', 'vars_to_warm_start', 'var_name_to_vocab_info',
    'var_name_to_prev_var_name'])):
  """Which checkpoint to warm-start from and which variables to take.

  Fields (and constructor arguments):
    ckpt_to_initialize_from: a checkpoint file prefix, a directory holding
      checkpoints (the latest is used) or a SavedModel directory (its
      variables are used); a str or `os.PathLike`, stored as a str.
    vars_to_warm_start: a regex string selecting trainable variables by name
      (default '.*': all of them), a list of regex strings selecting any
      variables (also non-trainable ones), or None for none. 2.15 also took
      lists of variables; name them instead.
    var_name_to_vocab_info: dict of variable name -> `VocabInfo` for
      embedding-like variables whose rows follow a vocabulary; the rows are
      remapped from the old vocabulary to the new. These variables are warm
      started even if `vars_to_warm_start` does not select them.
    var_name_to_prev_var_name: dict of variable name -> its name in the
      checkpoint, for renamed variables.

  Raises:
    ValueError: `ckpt_to_initialize_from` is empty, or
      `vars_to_warm_start` is not one of the forms above (2.15 found that
      out only when training started).
  """

  def __new__(cls, ckpt_to_initialize_from, vars_to_warm_start='.*',
              var_name_to_vocab_info=None, var_name_to_prev_var_name=None):
    if not ckpt_to_initialize_from:
      raise ValueError('`ckpt_to_initialize_from` MUST be set in '
                       'WarmStartSettings')
    _check_vars_to_warm_start(vars_to_warm_start)
    return super().__new__(cls, os.fspath(ckpt_to_initialize_from),
                           vars_to_warm_start, var_name_to_vocab_info or {},
                           var_name_to_prev_var_name or {})


def _check_vars_to_warm_start(value):
  """2.15's forms, checked when the settings are made rather than at train."""
  if value is None or isinstance(value, str):
    return
  if not isinstance(value, (list, tuple)) or not all(
      isinstance(v, str) for v in value):
    raise ValueError('vars_to_warm_start must be a regex string, a list of '
                     'them or None (lists of variables are not supported: '
                     f'name them), given: {value!r}')


def settings_from(warm_start_from):
  """The `WarmStartSettings` for an Estimator's `warm_start_from` argument.

  Args:
    warm_start_from: None, a `WarmStartSettings`, or a path (str, bytes or
      `os.PathLike`), which warm-starts every trainable variable.

  Returns:
    A `WarmStartSettings`, or None.

  Raises:
    ValueError: `warm_start_from` is of another type, or an empty path.
  """
  if warm_start_from is None:
    return None
  if isinstance(warm_start_from, WarmStartSettings):
    return warm_start_from
  if isinstance(warm_start_from, (str, bytes, os.PathLike)):
    return WarmStartSettings(os.fsdecode(warm_start_from), vars_to_warm_start='.*')
  raise ValueError(f'warm_start_from must be a string or a WarmStartSettings, '
                   f'instead got {type(warm_start_from)}')


def _source_checkpoint(path):
  if tf.io.gfile.isdir(path):
    saved_model_vars = os.path.join(path, 'variables', 'variables')
    if tf.io.gfile.exists(saved_model_vars + '.index'):
      return saved_model_vars
    latest = checkpoints.latest_checkpoint(path)
    if latest is None:
      raise ValueError(f'warm_start_from {path!r} holds no checkpoint.')
    return latest
  return path


def _by_full_name(captured):
  """{checkpoint name: (full shape, [(index, variable)])} of the global variables.

  A partitioned variable's parts ('w/part_0', ...) are one variable to warm
  start, under the full name its checkpoint tensor has, as in 2.15; `index`
  is a part's slice of the full value (`...` for a whole variable).
  """
  groups = collections.OrderedDict()
  for key, variable in captured.global_variables.items():
    name, _, full_shape = checkpoints.saved_as(key, variable)
    info = tf_internals.save_slice_info(variable)
    index = ... if info is None else tuple(
        slice(o, o + n) for o, n in zip(info.var_offset, info.var_shape))
    groups.setdefault(name, (list(full_shape), []))[1].append((index, variable))
  return groups


def _selected(groups, trainable, vars_to_warm_start):
  """A regex string selects trainable variables; a list selects any."""
  if vars_to_warm_start is None:
    return []
  if isinstance(vars_to_warm_start, str):
    pattern = re.compile(vars_to_warm_start)
    return [name for name, (_, parts) in groups.items()
            if pattern.match(name) and all(id(v) in trainable for _, v in parts)]
  patterns = [re.compile(p) for p in vars_to_warm_start]
  return [name for name in groups if any(p.match(name) for p in patterns)]


def warm_start(captured, settings):
  """Copies the selected variables' values from the settings' checkpoint.

  Called once, on the first training of a model_dir without checkpoints,
  after the variables are initialized. A partitioned variable is warm
  started as the one full variable its checkpoint holds.

  Args:
    captured: the captured training graph: its `global_variables` (by
      checkpoint key) and its `graph` (for the trainable collection).
    settings: the `WarmStartSettings`.

  Raises:
    ValueError: the checkpoint directory holds no checkpoint, a selected
      variable is missing from the checkpoint or has another shape there, or
      `var_name_to_vocab_info` names a variable the model does not have.
  """
  # 2.15's lines (its Estimator's, then TF's warm_start's). Like 2.15's
  # (measured), they come once, in the first train() of a new model_dir.
  logging.info('Warm-starting with WarmStartSettings: %s', settings)
  logging.info('Warm-starting from: %s', settings.ckpt_to_initialize_from)
  if settings.vars_to_warm_start is None or isinstance(
      settings.vars_to_warm_start, str):
    logging.info('Warm-starting variables only in TRAINABLE_VARIABLES.')
  path = _source_checkpoint(settings.ckpt_to_initialize_from)
  reader = tf.train.load_checkpoint(path)
  shapes = reader.get_variable_to_shape_map()
  renamed = checkpoints.object_keys(path, shapes)
  groups = _by_full_name(captured)
  trainable = {id(v) for v in captured.graph.get_collection(
      tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)}
  selected = _selected(groups, trainable, settings.vars_to_warm_start)
  for name in settings.var_name_to_vocab_info:
    if name not in groups:
      raise ValueError(f'var_name_to_vocab_info names {name!r}, which the '
                       'model does not have.')
    if name not in selected:
      selected.append(name)
  for name in selected:
    prev = settings.var_name_to_prev_var_name.get(name, name)
    if renamed.get(prev, prev) not in shapes:
      raise ValueError(f'Warm-start variable {name!r} (as {prev!r}) is not in '
                       f'checkpoint {path!r}.')
    _assign_parts(groups[name], reader.get_tensor(renamed.get(prev, prev)),
                  settings.var_name_to_vocab_info.get(name), name, path)
  logging.info('Warm-started %d variables.', len(selected))


def _assign_parts(group, value, vocab_info, name, path):
  """Assigns checkpoint `value` (the whole variable) to the group's parts."""
  full_shape, parts = group
  if vocab_info is not None:
    current = np.zeros(full_shape, parts[0][1].dtype.as_numpy_dtype)
    for index, variable in parts:
      current[index] = variable.numpy()
    value = _remap_rows(value, current, vocab_info)
  elif list(value.shape) != full_shape:
    raise ValueError(f'Warm-start variable {name!r} has shape {full_shape} '
                     f'but {list(value.shape)} in checkpoint {path!r}.')
  for index, variable in parts:
    variable.assign(value[index].astype(variable.dtype.as_numpy_dtype))


def _read_vocab(path, size):
  with tf.io.gfile.GFile(path) as f:
    words = [line.rstrip('\n') for line in f]
  return words[:size] if size is not None and size >= 0 else words


def _remap_rows(old_value, current_value, info):
  """Old rows move to their word's new index; new words keep their init."""
  if info.axis != 0:
    old_value, current_value = old_value.T, current_value.T
  new_words = _read_vocab(info.new_vocab, info.new_vocab_size)
  old_index = {w: i for i, w in enumerate(_read_vocab(info.old_vocab,
                                                      info.old_vocab_size))}
  result = np.array(current_value)
  if info.backup_initializer is not None:
    # A copy: the initializer's eager tensor gives a read-only array.
    result = np.array(info.backup_initializer(result.shape, result.dtype))
  for new_i, word in enumerate(new_words):
    old_i = old_index.get(word)
    if old_i is not None and old_i < old_value.shape[0]:
      result[new_i] = old_value[old_i]
  return result.T if info.axis != 0 else result
