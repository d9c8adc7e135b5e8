"""Name-based TF1 checkpoints, written atomically.

Files are `model.ckpt-<step>.index` / `.data-00000-of-00001` keyed by the TF1
variable names, so tensorflow-estimator 2.15 and `tf.train.load_checkpoint`
read them. A checkpoint is written under a temporary prefix, renamed into
place (data first, index last), and only then listed in the `checkpoint` state
file, which is itself replaced atomically. A crash at any moment therefore
leaves the state file naming only complete checkpoints.
"""

import os
import time
import uuid

from tensorflow.python.platform import tf_logging as logging
import tensorflow as tf

CHECKPOINT_BASENAME = 'model.ckpt'
_DATA_SUFFIX = '.data-00000-of-00001'


class CheckpointError(ValueError):
  """A checkpoint cannot be read or does not fit the model."""


def latest_checkpoint(model_dir):
  """The newest complete checkpoint listed in `model_dir`, or None."""
  if not model_dir or not tf.io.gfile.exists(os.path.join(model_dir, 'checkpoint')):
    return None
  return tf.train.latest_checkpoint(model_dir)


def _reader(path):
  try:
    return tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError(f'Cannot read checkpoint {path!r}: {e}') from e


def global_step_of(path):
  """The `global_step` stored in a checkpoint (0 if it has none)."""
  reader = _reader(path)
  if not reader.has_tensor('global_step'):
    return 0
  return int(reader.get_tensor('global_step'))


def restore(variables, path):
  """Assigns every variable in `variables` (key -> variable) from `path`."""
  with tf.init_scope():  # callers may be inside a hook's graph context
    _restore(variables, path)


def _restore(variables, path):
  reader = _reader(path)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  keys = list(variables)
  saved = [_saved_as(k, variables[k]) for k in keys]
  missing = [name for name, _, _ in saved if name not in shapes]
  if missing:
    raise CheckpointError(
        f'Checkpoint {path!r} lacks variables the model needs: {missing[:10]}'
        f'{" ..." if len(missing) > 10 else ""}. Was it written by another model?')
  for key, (name, _, full_shape) in zip(keys, saved):
    variable = variables[key]
    if (not tf.TensorShape(full_shape).is_compatible_with(shapes[name]) or
        variable.dtype.base_dtype != dtypes[name]):
      raise CheckpointError(
          f'Variable {name!r} is {variable.dtype.name}{list(full_shape)} '
          f'in the model but {dtypes[name].name}{shapes[name]} in checkpoint '
          f'{path!r}.')
  try:
    values = tf.raw_ops.RestoreV2(
        prefix=path, tensor_names=[name for name, _, _ in saved],
        shape_and_slices=[spec for _, spec, _ in saved],
        dtypes=[variables[k].dtype.base_dtype for k in keys])
  except tf.errors.OpError as e:
    raise CheckpointError(f'Cannot read checkpoint {path!r}: {e}') from e
  for key, value in zip(keys, values):
    variables[key].assign(value)


def _saved_as(key, variable):
  """(checkpoint name, slice spec, full shape) of a variable.

  A partition is saved as a slice of its full variable, as TF1's Saver did.
  """
  info = getattr(variable, '_save_slice_info', None)
  if info is None:
    return key, '', variable.shape.as_list()
  return info.full_name, info.spec, info.full_shape


class CheckpointStore:
  """Saves checkpoints into `model_dir` and applies the retention policy."""

  def __init__(self, model_dir, max_to_keep=5, keep_checkpoint_every_n_hours=10000):
    self._dir = model_dir
    self._max_to_keep = max_to_keep
    self._keep_every_secs = keep_checkpoint_every_n_hours * 3600.0
    tf.io.gfile.makedirs(model_dir)
    state = tf.train.get_checkpoint_state(model_dir)
    self._kept = []  # (basename, timestamp), oldest first
    self._last_preserved = time.time()
    if state is not None:
      stamps = list(state.all_model_checkpoint_timestamps)
      paths = list(state.all_model_checkpoint_paths)
      for i, path in enumerate(paths):
        self._kept.append((os.path.basename(path),
                           stamps[i] if i < len(stamps) else time.time()))
      if state.last_preserved_timestamp:
        self._last_preserved = state.last_preserved_timestamp

  @property
  def directory(self):
    return self._dir

  def save(self, variables, step):
    """Writes `variables` as checkpoint `step` and returns its path."""
    with tf.init_scope():  # callers may be inside a hook's graph context
      return self._save(variables, step)

  def _save(self, variables, step):
    basename = f'{CHECKPOINT_BASENAME}-{int(step)}'
    final = os.path.join(self._dir, basename)
    temp = os.path.join(self._dir, f'.{basename}.tmp-{uuid.uuid4().hex}')
    keys = list(variables)
    saved = [_saved_as(k, variables[k]) for k in keys]
    try:
      tf.raw_ops.SaveV2(prefix=temp, tensor_names=[name for name, _, _ in saved],
                        shape_and_slices=[spec for _, spec, _ in saved],
                        tensors=[variables[k].read_value() for k in keys])
      tf.io.gfile.rename(temp + _DATA_SUFFIX, final + _DATA_SUFFIX, overwrite=True)
      tf.io.gfile.rename(temp + '.index', final + '.index', overwrite=True)
    except (tf.errors.OpError, OSError) as e:
      _remove_prefix(temp)
      raise OSError(f'Could not write checkpoint {final!r} in model_dir '
                    f'{self._dir!r}: {e}. The previous checkpoint is intact.') from e
    now = time.time()
    self._kept = [(b, t) for b, t in self._kept if b != basename]
    self._kept.append((basename, now))
    expired = self._expire()
    # The state file drops expired checkpoints before their files go away.
    tf.compat.v1.train.update_checkpoint_state(
        self._dir, basename, [b for b, _ in self._kept],
        all_model_checkpoint_timestamps=[t for _, t in self._kept],
        last_preserved_timestamp=self._last_preserved)
    for old in expired:
      _remove_prefix(os.path.join(self._dir, old))
    return final

  def _expire(self):
    """Drops checkpoints beyond `max_to_keep`, except hourly keepers."""
    expired = []
    while self._max_to_keep and len(self._kept) > self._max_to_keep:
      basename, stamp = self._kept.pop(0)
      if stamp - self._last_preserved >= self._keep_every_secs:
        self._last_preserved = stamp
      else:
        expired.append(basename)
    return expired


def _remove_prefix(prefix):
  for path in tf.io.gfile.glob(prefix + '.*'):
    try:
      tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
      logging.warning('Checkpoint file %s vanished before removal.', path)
