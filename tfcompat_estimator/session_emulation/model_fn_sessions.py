"""A `tf.compat.v1.Session` that a model_fn opens on its own graph.

Some TF1 model_fns compute a value while they build the model: YOTO's
LinearlyScalarizedOptimizer draws its loss weights with `Session().run`
on the model_fn's graph (google-research/yoto). Under 2.15 that graph was
a `tf.Graph` and the session a separate one: it ran the graph's ops with
variables and random-op kernels of its own. Here the graph is a function
graph whose variables live outside it, captured as resource placeholders,
and TF's session failed on the first variable or random op ("You must feed
a value for placeholder tensor 'v0/resource'"). So while a model_fn is
captured, a session on its graph computes the fetches as a function of the
ops they need, called eagerly on the model's own variables
(`graph_prune`), with the feed_dict's values.

Both stay as separate as 2.15's were from the model's session: each new
session's random ops draw from their seeds' start, as a new session's
kernels did, and the variables its runs used get their values back when
the capture ends, so a session that assigns to one leaves training's
start as it was.
"""

import contextlib
import weakref

import tensorflow as tf

from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import tf1_graph_semantics
from tfcompat_estimator.platform import tf_internals
from tfcompat_estimator.session_emulation import session as session_lib


@contextlib.contextmanager
def answered_while_capturing(variables, restart_random_streams):
  """Within: v1 sessions on the model graph being captured run here.

  Args:
    variables: () -> the model's variables so far.
    restart_random_streams: () -> None; sets the graph's random ops back to
      their seeds' start (`random_streams.RandomStreams.restart`).

  Yields:
    Nothing; on exit the variables the sessions' runs used are restored.
  """
  runs = _SideRuns(variables, restart_random_streams)
  try:
    with tf_internals.session_runs_answered_by(runs.run):
      yield
  finally:
    runs.restore_variables()


class _SideRuns:
  """The runs of the sessions a model_fn opened on its graph."""

  def __init__(self, variables, restart_random_streams):
    self._variables = variables
    self._restart_random_streams = restart_random_streams
    self._sessions = weakref.WeakSet()  # those that have run
    self._saved = {}  # id(handle) -> (variable, value before the first run)

  def run(self, session, fetches, feed_dict):
    """The values of `fetches`, or NotImplemented for another graph's session."""
    graph = session.graph
    if not tf1_graph_semantics.is_model_graph(graph):
      return NotImplemented
    plan = session_lib.FetchPlan(_Fetches(graph), fetches)
    fed = [(graph.as_graph_element(feed_values.feed_name(key)), value)
           for key, value in (feed_dict or {}).items()]
    with tf.init_scope():
      if session not in self._sessions:
        self._sessions.add(session)
        self._restart_random_streams()
      try:
        pruned = graph_prune.prune_graph(graph, [t for t, _ in fed],
                                         plan.elements)
      except tf_internals.UnliftableError:
        at_fault = graph_prune.unfed(plan.elements, [t for t, _ in fed], graph)
        raise ValueError(
            'A tf.compat.v1.Session opened inside the model_fn cannot compute '
            f'{[e.name for e in at_fault or plan.elements]}: they depend on '
            'the features or labels, or on a placeholder its feed_dict does '
            'not feed. Such a session can run what needs no input batch '
            '(variables, constants, random ops).') from None
      self._save(pruned.captured_inputs)
      values = pruned(*(tf.convert_to_tensor(value, tensor.dtype)
                        for tensor, value in fed))
    return plan.pack([feed_values.to_numpy(v) for v in values])

  def _save(self, handles):
    """Keeps the values, before any run, of the variables behind `handles`."""
    unseen = {id(h) for h in handles} - self._saved.keys()
    if not unseen:
      return
    for variable in self._variables():
      handle = getattr(variable, 'handle', None)
      if id(handle) in unseen:
        self._saved[id(handle)] = (variable, tf.identity(variable.value()))

  def restore_variables(self):
    with tf.init_scope():
      for variable, value in self._saved.values():
        variable.assign(value)
    self._saved.clear()


class _Fetches:
  """Resolves fetches in the model graph, a variable to a read of it there.

  As in 2.15's graph, the read has no order with the run's other ops. That
  also covers an assignment's value: `assign_add` returns a variable
  whose reads wait for the assignment.
  """

  def __init__(self, graph):
    self._graph = graph

  def as_graph_element(self, fetch):
    if isinstance(fetch, tf.Variable):
      with self._graph.as_default():
        return fetch.value()
    return self._graph.as_graph_element(fetch)
