"""`tf.compat.v1.summary.FileWriterCache` writers over our events files.

2.15's Estimator wrote its summaries through the v1 `FileWriterCache`, so a
program's hook that asked the cache for the `model_dir`'s writer wrote into
the Estimator's own events file: microsoft/recommenders' evaluation-log
hook does (`FileWriterCache.get(model_dir)` in `begin()`, its RMSE added
every N steps), as do TF's `SummarySaverHook` and `StepCounterHook` given an
`output_dir`. Our runs write through `summaries.writer_for`, so the cache's
own `FileWriter` opened a second events file beside ours, with the
program's scalars in one file and the Estimator's in the other (TensorBoard
then warns of two graphs in one run). After `share_events_files()`, the
cache makes `SharedFileWriter`s, which hand their events to the writer
`summaries.writer_for` keeps for the directory: one events file per
directory again, whoever writes. The writes run under the engine's scope
(eagerly, outside the caller's graph), as our runs write: a TF1 program's
own `MonitoredSession` finalizes its graph, and its `CheckpointSaverHook`
writes through the cache too.
"""

import functools
import weakref

import tensorflow as tf

from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.io import summaries
from tfcompat_estimator.platform import tf_internals


# A captured model graph -> (a weak reference to its `CapturedModel`, the
# function of it giving the writer's `(GraphDef, MetaGraphDef)`).
_GRAPH_EVENTS = weakref.WeakKeyDictionary()


def graph_events_of(captured, graph_events):
  """Makes writers made with `captured.graph` write `graph_events(captured)`.

  The captured graph is the default graph while hooks run. TF's own meta
  graph of it (a function graph, its variables eager) warned "Issue
  encountered when serializing" for each of its collections, about 25
  lines for transformer-xl's step-counting hook, where 2.15 wrote its TF1
  graph; `graph_events` gives that (`engine/tf1_graph.py`). Neither the
  graph nor the model is kept alive by this: a replaced model_fn's graphs
  are freed before the next capture.
  """
  _GRAPH_EVENTS[captured.graph] = (weakref.ref(captured), graph_events)


def _graph_events(graph):
  """A function giving the `(GraphDef, MetaGraphDef)` registered for
  `graph`, or None."""
  captured, graph_events = _GRAPH_EVENTS.get(graph, (lambda: None, None))
  captured = captured()
  return None if captured is None else functools.partial(graph_events,
                                                         captured)


class SharedFileWriter(tf.compat.v1.summary.FileWriter):
  """A v1 `FileWriter` whose events go to the process's file for `logdir`.

  It also works eagerly, where TF's refuses to be made. `close()` only
  flushes: the file stays open for the Estimator and the other writers of
  the directory, as the cache's single writer per directory did in 2.15
  until the program cleared the cache.

  Args:
    logdir: The directory.
    graph, graph_def: Written as a graph event, as `FileWriter` does.
    max_queue, flush_secs, filename_suffix, session: Ignored; the shared
      writer's own settings apply.
  """

  def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120,
               graph_def=None, filename_suffix=None, session=None):
    # pylint: disable=super-init-not-called
    del max_queue, flush_secs, filename_suffix, session
    self._closed = False
    self._meta_graph_replaced = False  # by `add_graph`'s TF1 pair
    make_events = None if graph is None else _graph_events(graph)
    tf_internals.SummaryToEventTransformer.__init__(
        self, _SharedEvents(logdir), None if make_events else graph,
        graph_def)
    if make_events is not None:
      # Once per events file, as the Estimator's own writes (and made only
      # then): a model_fn's SummarySaverHook writing to the eval directory
      # (tensor2robot's) made the graph's events there twice, where 2.15's
      # cache had one writer that wrote them once.
      with engine_scope.scope():
        summaries.writer_for(logdir).add_graph_once(make_events, 'cache')

  def add_graph(self, graph, global_step=None, graph_def=None):
    """Writes a captured model graph as the TF1 graph 2.15 wrote.

    A program's own `CheckpointSaverHook` adds the default graph, then a
    meta graph it made of it, in `after_create_session`: both are replaced
    by the pair the Estimator writes for the call ('training'), once.
    """
    make_events = None if graph is None else _graph_events(graph)
    if make_events is None:
      super().add_graph(graph, global_step, graph_def)
      return
    with engine_scope.scope():
      summaries.writer_for(self.get_logdir()).add_graph_once(make_events,
                                                             'training')
    self._meta_graph_replaced = True

  def add_meta_graph(self, meta_graph_def, global_step=None):
    if self._meta_graph_replaced:
      self._meta_graph_replaced = False
      return
    super().add_meta_graph(meta_graph_def, global_step)

  def close(self):
    self.flush()  # and stays usable: see the class docstring


class _SharedEvents:
  """The event writer interface a `FileWriter` drives, over `writer_for`."""

  def __init__(self, logdir):
    self._logdir = logdir

  def get_logdir(self):
    return self._logdir

  def add_event(self, event):
    with engine_scope.scope():
      summaries.writer_for(self._logdir).write_event(event)

  def flush(self):
    with engine_scope.scope():
      summaries.writer_for(self._logdir).flush()

  def reopen(self):
    pass


def share_events_files():
  """Makes `FileWriterCache.get` hand out `SharedFileWriter`s from now on."""
  tf_internals.make_file_writer_cache_use(SharedFileWriter)
