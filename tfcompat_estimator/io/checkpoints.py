"""Name-based TF1 checkpoints, written atomically.

Files are `model.ckpt-<step>.index` / `.data-00000-of-00001` keyed by the TF1
variable names, so tensorflow-estimator 2.15 and `tf.train.load_checkpoint`
read them. A checkpoint is written under a temporary prefix, renamed into
place (data first, index last), and only then listed in the `checkpoint` state
file, which is itself replaced atomically. A crash at any moment therefore
leaves the state file naming only complete checkpoints.

Reading is strict where TensorFlow is lenient: a damaged state file, or one
naming a checkpoint whose files are gone, is an error naming the file, not
"no checkpoint" (which would silently restart training from step 0).
"""

import functools
import os
import re
import time
import uuid

from google.protobuf import text_format
import tensorflow as tf

from tfcompat_estimator.io import file_errors
from tfcompat_estimator.io import large_variables
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging

CHECKPOINT_BASENAME = 'model.ckpt'
STATE_FILE = 'checkpoint'
_DATA_SUFFIX = '.data-00000-of-00001'
_TEMP_MARK = '.tmp-'
OBJECT_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'  # a TF2 checkpoint's own entry


class CheckpointError(ValueError):
  """A checkpoint cannot be read or does not fit the model."""


class CheckpointVanishedError(CheckpointError):
  """A checkpoint's files were removed (e.g. by retention) while being read."""


class _RestoreOpError(CheckpointError):
  """A CheckpointError that is also the `tf.errors.OpError` 2.15 raised.

  2.15's Saver re-raised a failed restore as the restore op's own error class
  (`NotFoundError`, `InvalidArgumentError`) with a message starting
  "Restoring from checkpoint failed", and programs catch those classes (a
  retraining script that starts afresh when the model changed). Subclasses
  mix in that class; the message names the variable and the file as well.
  """

  def __init__(self, message):
    # ValueError's __init__ comes first in the MRO and would leave the
    # OpError's fields unset.
    tf.errors.OpError.__init__(self, None, None, message, self._ERROR_CODE)
    self.args = (message,)

  def __reduce__(self):
    return type(self), (self.message,)


class CheckpointMismatchError(_RestoreOpError, tf.errors.InvalidArgumentError):
  """A checkpoint's variable has another shape or dtype than the model's."""
  _ERROR_CODE = tf.errors.INVALID_ARGUMENT


class CheckpointMissingError(_RestoreOpError, tf.errors.NotFoundError):
  """A checkpoint lacks variables (or tables) the model needs."""
  _ERROR_CODE = tf.errors.NOT_FOUND


def _state(model_dir):
  """The `checkpoint` state of `model_dir` with absolute paths, or None."""
  path = os.path.join(model_dir, STATE_FILE)
  try:
    text = tf.io.gfile.GFile(path).read()
  except tf.errors.NotFoundError:
    return None
  except tf.errors.OpError as e:
    raise OSError(f'Cannot read checkpoint state file {path!r}: '
                  f'{file_errors.describe(e)}') from e
  state = tf_internals.CheckpointState()
  try:
    text_format.Merge(text, state)
  except text_format.ParseError as e:
    raise CheckpointError(
        f'Checkpoint state file {path!r} is damaged ({e}). Restore it, or '
        'delete it to train from scratch.') from e
  absolute = lambda p: p if os.path.isabs(p) or '://' in p else os.path.join(model_dir, p)
  state.model_checkpoint_path = absolute(state.model_checkpoint_path)
  paths = [absolute(p) for p in state.all_model_checkpoint_paths]
  del state.all_model_checkpoint_paths[:]
  state.all_model_checkpoint_paths.extend(paths)
  return state


def latest_checkpoint(model_dir):
  """The newest checkpoint listed in `model_dir`, or None if there is none.

  Raises CheckpointError if the state file is damaged or names a checkpoint
  whose files are missing (unless a concurrent save just replaced it).
  """
  path = None
  while True:
    state = _state(model_dir) if model_dir else None
    if state is None or not state.model_checkpoint_path:
      return None
    if exists(state.model_checkpoint_path):
      return state.model_checkpoint_path
    if state.model_checkpoint_path == path:
      raise CheckpointError(
          f'{os.path.join(model_dir, STATE_FILE)!r} names checkpoint {path!r}, '
          'but its .index or .data files are missing. Restore them, or delete '
          'the state file to train from scratch.')
    path = state.model_checkpoint_path  # read again: retention may have raced us


def exists(path):
  """Whether checkpoint `path` has its index and data files."""
  return (tf.io.gfile.exists(path + '.index') and
          bool(tf.io.gfile.glob(path + '.data-*')))


def reading_latest(latest, read):
  """`read(latest())`, moving on to a newer checkpoint if retention removes it.

  A training writing to the model_dir may delete the checkpoint an evaluator
  chose before the evaluator has read it; the evaluator then reads the newer
  one instead of failing.
  """
  while True:
    path = latest()
    try:
      return read(path)
    except CheckpointVanishedError:
      newer = latest()
      if newer == path:
        raise
      logging.warning('Checkpoint %s was removed while being read; reading '
                      'the newer %s instead.', path, newer)


def _reader(path):
  try:
    return tf.train.load_checkpoint(path)
  except (tf.errors.OpError, ValueError) as e:
    raise read_failed(path, e, 'read') from e


def read_failed(path, error, doing):
  """The CheckpointError for a failed read of `path` (by `error`, `doing` it).

  Whether the files are gone, not the error's type, tells a checkpoint that
  retention removed mid-read (the read then fails in various ways) from a
  damaged one.
  """
  cause = file_errors.describe(error)
  if not exists(path):
    return CheckpointVanishedError(
        f'Cannot {doing} checkpoint {path!r}: its files are missing (removed '
        f'while being read?): {cause}')
  return CheckpointError(f'Cannot {doing} checkpoint {path!r}, it is damaged '
                         f'or not a checkpoint: {cause}')


def global_step_of(path):
  """The `global_step` stored in a checkpoint (0 if it has none)."""
  reader = _reader(path)
  key = object_keys(path, reader.get_variable_to_shape_map()).get(
      'global_step', 'global_step')
  return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


def object_keys(path, shapes):
  """Variable name -> key, for an object-based checkpoint; else empty.

  An object-based checkpoint (2.15's Keras estimators by default, Keras
  `save_weights`) keys variables by their place in the object graph, which
  keeps the names they had; they are read by those names, as TF's
  name-based Saver read them. Other checkpoints key them by name.
  `shapes`: the checkpoint's key -> shape map.
  """
  if OBJECT_GRAPH_KEY not in shapes:
    return {}
  return tf_internals.object_graph_key_mapping(path)


def restore(variables, path, loaded=()):
  """Assigns every variable in `variables` (key -> variable) from `path`.

  All are checked against the checkpoint; those whose keys are in `loaded`
  already hold their value from it (see `InitialValues`) and are not read.
  """
  with tf.init_scope():  # callers may be inside a hook's graph context
    _restore(variables, path, loaded)


def _restore(variables, path, loaded):
  saved = _check_fits(path, variables, missing_ok=False)
  keys = list(variables)
  unread = [(key, spec) for key, spec in zip(keys, saved) if key not in loaded]
  if not unread:
    return
  try:
    values = tf.raw_ops.RestoreV2(
        prefix=path, tensor_names=[name for _, (name, _, _) in unread],
        shape_and_slices=[spec for _, (_, spec, _) in unread],
        dtypes=[variables[k].dtype.base_dtype for k, _ in unread])
  except tf.errors.OpError as e:
    raise read_failed(path, e, 'read') from e
  for (key, _), value in zip(unread, values):
    large_variables.assign(variables[key], value)


def check_fits(path, variables):
  """Raises CheckpointMismatchError if a variable has another shape or dtype.

  `variables`: key -> variable, as `restore` takes them; those the
  checkpoint at `path` lacks are left to the caller. A TF1 `Saver` assigns
  a resource variable whatever shape the checkpoint holds, so a graph
  restored by one (an export) is checked first: 2.15 exported such a model
  and it served wrong answers or failed only when called.
  """
  _check_fits(path, variables, missing_ok=True)


def _check_fits(path, variables, missing_ok):
  """(checkpoint key, slice spec, full shape) of each variable, checked."""
  reader = _reader(path)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  renamed = object_keys(path, shapes)

  def key_in_checkpoint(key, variable):
    name, spec, shape = saved_as(key, variable)
    name = renamed.get(name, name)
    if (name not in shapes and OBJECT_GRAPH_KEY not in shapes and
        by_name(variable) in shapes):
      # An object-path key (a Keras estimator's) read from a name-keyed
      # checkpoint, e.g. one this package wrote before it keyed them so.
      name = by_name(variable)
    return name, spec, shape

  saved = [key_in_checkpoint(k, v) for k, v in variables.items()]
  if not missing_ok:
    _check_holds(path, shapes, [name for name, _, _ in saved], 'variables')
  for variable, (name, _, full_shape) in zip(variables.values(), saved):
    if name not in shapes:
      continue
    if (not tf.TensorShape(full_shape).is_compatible_with(shapes[name]) or
        variable.dtype.base_dtype != dtypes[name]):
      raise CheckpointMismatchError(
          'Restoring from checkpoint failed. This is most likely due to a '
          'mismatch between the current graph and the graph from the '
          f'checkpoint: variable {name!r} is {variable.dtype.name}'
          f'{list(full_shape) if full_shape is not None else "[?]"} '
          f'in the model but {dtypes[name].name}{shapes[name]} in checkpoint '
          f'{path!r}. Did the model_fn change since it was written? Train '
          'in a new model_dir (warm-starting from this one if needed).')
  return saved


def read_whole(path, names, dtypes):
  """The tensors saved under `names` (whole, of `dtypes`) in checkpoint `path`.

  Raises:
    CheckpointError: the checkpoint lacks one of them, or cannot be read.
  """
  with tf.init_scope():  # callers may be inside a hook's graph context
    _check_holds(path, _reader(path).get_variable_to_shape_map(), names,
                 'tables')
    try:
      return tf.raw_ops.RestoreV2(prefix=path, tensor_names=list(names),
                                  shape_and_slices=[''] * len(names),
                                  dtypes=list(dtypes))
    except tf.errors.OpError as e:
      raise read_failed(path, e, 'read') from e


def _check_holds(path, shapes, names, what):
  missing = [name for name in names if name not in shapes]
  if missing:
    raise CheckpointMissingError(
        'Restoring from checkpoint failed. This is most likely due to a '
        'Variable name or other graph key that is missing from the '
        f'checkpoint: {path!r} lacks {what} the model needs: {missing[:10]}'
        f'{" ..." if len(missing) > 10 else ""}. Was it written by another model?')


class InitialValues:
  """Initial values for variables being created, read from checkpoint `path`.

  A large variable that starts from its checkpoint value skips running its
  initializer, whose result the restore would overwrite at once: for a big
  embedding table that is a random fill of seconds and a second copy of the
  table. Small variables are left to `restore`'s single read of all the
  rest, since a read of its own costs about 0.4 ms per variable; a model
  without large variables never opens the checkpoint here.
  """

  def __init__(self, path):
    self.path = path
    self._partitions = {}  # a partitioned variable's name -> its parts' shapes

  @functools.cached_property
  def _saved(self):
    """(shapes, dtypes) by key, read when the first large variable is created."""
    reader = _reader(self.path)
    return reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()

  def read(self, key, shape, dtype):
    """The tensor saved as `key`, or None unless large, of this shape, dtype.

    A part `<name>/part_<i>` of a TF1 partitioned variable (the v1 canned
    models' embedding tables are one part each) is its slice of `<name>`,
    as TF1's Saver saved it. Read under its own key, it was never found: each
    table ran its initializer and was then restored, two copies at the peak
    (a predict() of six 51 MB tables, NVIDIA's Wide&Deep idiom, peaked 650
    MB above the import against 2.15's 340).
    """
    name, slice_spec = key, ''
    part = _PARTITION.fullmatch(key)
    if part:
      earlier = self._partitions.setdefault(part[1], [])
      if int(part[2]) != len(earlier):  # not made in order: not placed
        return None
      earlier.append(shape.as_list())
    if not large_variables.is_large(shape, dtype):
      return None
    shapes, dtypes = self._saved
    if part and key not in shapes:
      name = part[1]
      slice_spec = _slice_spec(shapes.get(name), earlier)
      if slice_spec is None:
        return None
    elif shapes.get(key) != shape.as_list():
      return None
    if dtypes.get(name) != dtype:
      return None
    try:
      return tf.raw_ops.RestoreV2(prefix=self.path, tensor_names=[name],
                                  shape_and_slices=[slice_spec],
                                  dtypes=[dtype])[0]
    except tf.errors.OpError as e:
      raise read_failed(self.path, e, 'read') from e


_PARTITION = re.compile(r'(.+)/part_(\d+)')


def _slice_spec(full_shape, parts):
  """The saved slice of the last of `parts` (the shapes of a partitioned
  variable's parts so far, in order) in a variable of `full_shape`, or None.

  TF1 partitions along one axis, the parts in order: the last one's offset
  there is the sum of the others' sizes.
  """
  shape = parts[-1]
  if full_shape is None or len(full_shape) != len(shape) or not shape:
    return None
  axes = [i for i, (f, s) in enumerate(zip(full_shape, shape)) if f != s]
  if len(axes) > 1:
    return None
  axis = axes[0] if axes else 0
  offset = sum(p[axis] for p in parts[:-1])
  if offset + shape[axis] > full_shape[axis]:
    return None
  extents = [f'{offset if i == axis else 0},{size}'
             for i, size in enumerate(shape)]
  return ' '.join(map(str, full_shape)) + ' ' + ':'.join(extents)


def by_name(variable):
  """The key a name-based Saver gave `variable`: its name."""
  return variable.name.split(':')[0]


def is_object_keyed(path):
  """Whether checkpoint `path` keys variables by object path."""
  return OBJECT_GRAPH_KEY in _reader(path).get_variable_to_shape_map()


def saved_as(key, variable):
  """(checkpoint name, slice spec, full shape) of a variable.

  A partition is saved as a slice of its full variable, as TF1's Saver did.
  """
  info = tf_internals.save_slice_info(variable)
  if info is None:
    # None for a variable of no fixed shape (validate_shape=False).
    shape = variable.shape
    return key, '', shape.as_list() if shape.rank is not None else None
  return info.full_name, info.spec, info.full_shape


class CheckpointStore:
  """Saves checkpoints into `model_dir` and applies the retention policy."""

  def __init__(self, model_dir, max_to_keep=5, keep_checkpoint_every_n_hours=10000):
    self._dir = model_dir
    self._max_to_keep = max_to_keep
    self._keep_every_secs = keep_checkpoint_every_n_hours * 3600.0
    with file_errors.reporting('model_dir', model_dir):
      tf.io.gfile.makedirs(model_dir)
    # Files of saves cut short by a crash; never listed, so never read.
    _remove_prefix(os.path.join(model_dir, f'.{CHECKPOINT_BASENAME}-*{_TEMP_MARK}*'))
    state = _state(model_dir)
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

  def save(self, variables, step, meta_graph=None, tensors=None):
    """Writes `variables` as checkpoint `step` and returns its path.

    `meta_graph` (a serialized MetaGraphDef) is written beside it as
    `model.ckpt-<step>.meta`, as 2.15's Saver did. `tensors` (key -> tensor:
    an object graph, tables' contents) are saved too (see
    `checkpoint_layout.Layout.tensors_to_save`).
    """
    with tf.init_scope():  # callers may be inside a hook's graph context
      return self._save(variables, step, meta_graph, tensors or {})

  def _save(self, variables, step, meta_graph, tensors):
    basename = f'{CHECKPOINT_BASENAME}-{int(step)}'
    final = os.path.join(self._dir, basename)
    temp = os.path.join(self._dir, f'.{basename}{_TEMP_MARK}{uuid.uuid4().hex}')
    keys = list(variables)
    saved = [saved_as(k, variables[k]) for k in keys]
    try:
      tf.raw_ops.SaveV2(
          prefix=temp,
          tensor_names=[name for name, _, _ in saved] + list(tensors),
          shape_and_slices=[spec for _, spec, _ in saved] + [''] * len(tensors),
          tensors=[variables[k].read_value() for k in keys] +
          list(tensors.values()))
      if meta_graph is not None:
        with tf.io.gfile.GFile(temp + '.meta', 'wb') as f:
          f.write(meta_graph)
        tf.io.gfile.rename(temp + '.meta', final + '.meta', overwrite=True)
      tf.io.gfile.rename(temp + _DATA_SUFFIX, final + _DATA_SUFFIX, overwrite=True)
      tf.io.gfile.rename(temp + '.index', final + '.index', overwrite=True)
    except (tf.errors.OpError, OSError) as e:
      _remove_prefix(temp)
      raise file_errors.write_failed('checkpoint', final, e, _INTACT) from e
    now = time.time()
    kept = [(b, t) for b, t in self._kept if b != basename] + [(basename, now)]
    kept, expired, last_preserved = self._expire(kept)
    # The state file drops expired checkpoints before their files go away.
    # TF stores a path relative to a relative model_dir as its relpath from
    # there, so such paths must include the directory ('m/model.ckpt-5' ->
    # 'model.ckpt-5'; a bare basename became '../model.ckpt-5').
    in_dir = ((lambda b: os.path.join(self._dir, b))
              if not os.path.isabs(self._dir) and '://' not in self._dir
              else (lambda b: b))
    listed, stamps = [b for b, _ in kept], [t for _, t in kept]
    preserved = last_preserved
    if not self._max_to_keep:
      # Keeping every checkpoint, 2.15's Saver listed none of them and wrote
      # no times: TF's state writer then lists only the latest, logging
      # "<it> is not in all_model_checkpoint_paths. Manually adding it." at
      # each save, as on 2.15. A later run with a limit (of either package)
      # expires only what is listed, so the rest must stay off the list to
      # stay on disk.
      listed, stamps, preserved = [], None, None
    try:
      # What the deprecated `tf.compat.v1.train.update_checkpoint_state`
      # calls, minus the deprecation warning it logs in the user's run.
      tf_internals.update_checkpoint_state(
          self._dir, in_dir(basename), [in_dir(b) for b in listed],
          all_model_checkpoint_timestamps=stamps,
          last_preserved_timestamp=preserved)
    except (tf.errors.OpError, OSError) as e:
      raise file_errors.write_failed(
          'checkpoint state file', os.path.join(self._dir, STATE_FILE), e,
          _INTACT) from e
    self._kept, self._last_preserved = kept, last_preserved
    for old in expired:
      _remove_prefix(os.path.join(self._dir, old))
    return final

  def _expire(self, kept):
    """(kept, expired, last_preserved): retention applied to `kept`.

    Checkpoints beyond `max_to_keep` expire, except hourly keepers.
    """
    kept, expired, last_preserved = list(kept), [], self._last_preserved
    while self._max_to_keep and len(kept) > self._max_to_keep:
      basename, stamp = kept.pop(0)
      if stamp - last_preserved >= self._keep_every_secs:
        last_preserved = stamp
      else:
        expired.append(basename)
    return kept, expired, last_preserved


_INTACT = 'The previous checkpoint is intact and training can resume from it.'


def _remove_prefix(prefix):
  for path in tf.io.gfile.glob(prefix + '.*'):
    try:
      tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
      logging.warning('Checkpoint file %s vanished before removal.', path)
