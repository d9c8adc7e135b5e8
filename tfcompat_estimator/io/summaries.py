"""Event files in the layout 2.15 wrote: train summaries in `model_dir`, eval
metrics in `model_dir/eval` or `eval_<name>`, all as TF1 `Summary` protos.

As in 2.15 (its SummaryWriterCache), a process keeps one events file per
directory open across train() and evaluate() calls, so repeated evaluations
do not fill the eval directory with files.
"""

import collections
import contextlib
import os
import threading
import time

from google.protobuf import message
import numpy as np
import tensorflow as tf

from tfcompat_estimator.io import file_errors
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.platform.tf_internals import tf_logging as logging

# Open writers, least recently used first; a bound keeps file handles in check
# in processes that use many model_dirs.
_MAX_OPEN_WRITERS = 8
_open_writers = collections.OrderedDict()
_open_writers_lock = threading.Lock()


def writer_for(logdir):
  """The process's `EventWriter` for `logdir`, opened on first use.

  A writer whose events file was deleted, or whose last write failed, is
  replaced by a new one.
  """
  key = os.path.realpath(logdir)
  with _open_writers_lock:
    writer = _open_writers.pop(key, None)
    if writer is not None and not writer.usable():
      _close_dropped(writer)
      writer = None
    if writer is None:
      writer = EventWriter(logdir)
    _open_writers[key] = writer
    while len(_open_writers) > _MAX_OPEN_WRITERS:
      _close_dropped(_open_writers.popitem(last=False)[1])
    return writer


class EventWriter:
  """Writes serialized v1 `Summary` protos and scalars at a global step.

  A failed write (full disk, lost permission) raises an OSError naming the
  directory; the writer buffers, so it may surface at a later write or flush.
  """

  def __init__(self, logdir):
    self._logdir = logdir
    self._failed = False
    self._graphs_written = set()  # the `source`s of add_graph_once
    with self._reporting_failures():
      tf.io.gfile.makedirs(logdir)
      before = set(tf.io.gfile.listdir(logdir))
      with tf.init_scope():
        self._writer = tf.summary.create_file_writer(logdir)
      # TF names the file it creates; it is the one that was not there.
      self._files = [os.path.join(logdir, name) for name in
                     set(tf.io.gfile.listdir(logdir)) - before]

  @contextlib.contextmanager
  def _reporting_failures(self):
    try:
      with file_errors.reporting('summaries in', self._logdir):
        yield
    except OSError:
      self._failed = True
      raise

  def usable(self):
    return not self._failed and all(tf.io.gfile.exists(f) for f in self._files)

  def write_serialized(self, summary_bytes, step):
    with self._reporting_failures(), tf.init_scope(), self._writer.as_default():
      # Not a Python int: TF keeps the eager constant of every distinct
      # Python scalar it converts, about 0.7 KB each, forever.
      tf.summary.experimental.write_raw_pb(summary_bytes, step=np.int64(step))

  def add_graph_once(self, make_graphs, source):
    """Writes the graph and meta-graph events, once per events file and source.

    2.15 wrote both at the start of every train() call, twice in the
    process's first (its cached FileWriter, made with the graph, then its
    CheckpointSaverHook; N calls gave N + 1 pairs; two calls of a TFP
    model: 3.3 MB of events against 0.7 MB here); one copy per events file
    and writer of 2.15 serves TensorBoard's Graphs tab the same.

    Args:
      make_graphs: Gives `(GraphDef, MetaGraphDef)`; only called when the
        events are due.
      source: The 2.15 writer this stands for: 'training' (its
        CheckpointSaverHook), or 'cache' (`FileWriterCache`'s one writer per
        directory, which wrote the graph as it was made: the writer of
        evaluate()'s summaries and a program's hook's cached writer were
        the same one, so an eval directory had one copy).
    """
    if source in self._graphs_written:
      return
    graph_def, meta_graph_def = make_graphs()
    events = [tf.compat.v1.Event(graph_def=graph_def.SerializeToString()),
              tf.compat.v1.Event(meta_graph_def=meta_graph_def.SerializeToString())]
    self._write_events(events)
    self._graphs_written.add(source)

  def add_session_log(self, status, step, checkpoint_path=None):
    """Writes a `SessionLog` event, as 2.15's hooks did.

    `START` (SummarySaverHook, after a call's first step) makes TensorBoard
    drop what an earlier run wrote at and past `step` (a run restarted from
    an older checkpoint); `CHECKPOINT` (CheckpointSaverHook, each save)
    names the checkpoint prefix.
    """
    log = tf.compat.v1.SessionLog(status=status,
                                  checkpoint_path=checkpoint_path or '')
    self._write_events([tf.compat.v1.Event(step=int(step), session_log=log)])

  def write_event(self, event):
    """Writes a v1 `Event` as given (session_emulation/file_writer_cache.py)."""
    self._write_events([event])

  def _write_events(self, events):
    with self._reporting_failures(), tf.init_scope(), self._writer.as_default():
      for event in events:
        if not event.wall_time:
          event.wall_time = time.time()
        tf_internals.import_event(tf.constant(event.SerializeToString()))

  def write_dict(self, values, step):
    """Writes `values` by `summary_of`'s rules, as one event."""
    self.write_serialized(summary_of(values).SerializeToString(), step)

  def write_text(self, tag, text, step):
    """Writes `text` as a string tensor summary, as an event of its own."""
    summary = tf.compat.v1.Summary()
    summary.value.add(tag=tag, tensor=tf.make_tensor_proto(text, tf.string))
    self.write_serialized(summary.SerializeToString(), step)

  def flush(self):
    with self._reporting_failures(), tf.init_scope():
      self._writer.flush()

  def close(self):
    with self._reporting_failures(), tf.init_scope():
      self._writer.close()  # flushes first


def summary_of(values):
  """A `Summary` of a results dict, by 2.15's rules for eval results.

  Numbers become scalars. Bytes are taken for a serialized `Summary` (a
  metric whose value is a summary op's output) and add its values tagged
  `<key>/<i>`. Arrays of more than a number, strings among them (an LDA
  model's topics), become tensor summaries (2.15: invisible in
  TensorBoard's scalars, but in the file). None is skipped; anything else
  (an array of objects no tensor holds) is skipped with a warning.
  """
  summary = tf.compat.v1.Summary()
  for key, value in values.items():
    if value is None:
      continue
    if isinstance(value, bytes):
      try:
        parsed = tf.compat.v1.Summary.FromString(value)
      except message.DecodeError:
        logging.warning('Skipping summary for %s, cannot parse string to '
                        'Summary.', key)
        continue
      for i, parsed_value in enumerate(parsed.value):
        parsed_value.tag = f'{key}/{i}'
      summary.value.extend(parsed.value)
      continue
    # A nested metric value (tuple, list, dict) is no array: skipped below.
    array = None if isinstance(value, (tuple, list, dict)) else np.asarray(value)
    if array is not None and array.ndim == 0 and (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool):
      summary.value.add(tag=key, simple_value=float(array))
    elif isinstance(value, np.ndarray) and _add_tensor(summary, key, array):
      logging.info(  # 2.15's words
          'Summary for np.ndarray is not visible in Tensorboard by default. '
          'Consider using a Tensorboard plugin for visualization (see '
          'https://github.com/tensorflow/tensorboard-plugin-example/blob/'
          'master/README.md for more information).')
    else:
      logging.warning(
          'Skipping summary for %s, must be a number, a numeric np.ndarray '
          'or a serialized Summary; got %r.', key, value)
  return summary


def _add_tensor(summary, tag, array):
  """Adds `array` to `summary` as a tensor; False if no tensor holds it."""
  try:
    tensor = tf.make_tensor_proto(array)
  except (TypeError, ValueError):
    return False
  summary.value.add(tag=tag, node_name=tag, tensor=tensor)
  return True


def _close_dropped(writer):
  """Closes a writer leaving the cache; nobody is waiting on its failure."""
  try:
    writer.close()
  except OSError as e:
    logging.warning('%s', e)


def read_scalars(pattern):
  """Yields `(event_file, step, {tag: value})` for each scalar summary event.

  Event files matching `pattern` are read in name order. An evaluation writes
  all its metrics as one event at its global step, so such an event is one
  evaluation result. A file damaged by a crash of its writer (a truncated
  record) is read up to the damage, with a warning.
  """
  for event_file in sorted(tf.io.gfile.glob(pattern)):
    try:
      for event in tf.compat.v1.train.summary_iterator(event_file):
        values = {v.tag: v.simple_value for v in event.summary.value
                  if v.HasField('simple_value')}
        if values:
          yield event_file, event.step, values
    except tf.errors.DataLossError as e:
      logging.warning('Stopped reading damaged event file %s: %s',
                      event_file, e)
