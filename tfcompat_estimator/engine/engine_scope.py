"""The seam between the caller's TF1 world and the engine's TF2 one.

A legacy program may call the Estimator after
`tf.compat.v1.disable_v2_behavior()` (or `disable_eager_execution()`), or inside
`with tf.Graph().as_default():`. 2.15 built its own graphs and sessions, so it
did not care. Our engine iterates datasets, lifts variables and calls
functions eagerly, which a graph-mode thread refuses ("tf.data.Dataset only
supports Python-style iteration in eager mode"). Every public entry point runs
under `scope()`: eager execution for this thread, and an empty default-graph
stack, so nothing of ours lands in (or reads from) a graph the caller made
default. The caller's graph and mode are back as soon as the call returns, and
around each item a prediction generator yields.

The caller's other v1 switches (v1 `TensorShape`, hashable tensors, ref
variables by default) are process-wide and stay as they are: the user's
`model_fn` and `input_fn` were written for them, and the parts of the engine
that depend on them ask TensorFlow (e.g. `executing_eagerly_outside_functions`)
rather than the switches. One is turned on for good at the first call from
a TF1 world: soft device placement, which eager execution has on by default
and a process started in graph mode has off. 2.15's sessions placed softly
(its default session config), so a model asking for a GPU it does not find
ran on the CPU; without it, `MirroredStrategy(['/gpu:0'])` on a CPU-only
host failed ("Could not satisfy device specification", tensorflow/models'
official r1 programs, whose --num_gpus defaults to 1). It is process-wide:
switching it per call would leave it differently from how it was found.
"""

import contextlib
import functools
import threading

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals


def _in_tf2_world():
  return tf.executing_eagerly() and tf_internals.default_graph_stack_is_empty()


_caller = threading.local()


def caller_builds_graphs():
  """Whether the public call in progress came from a TF1 world.

  Its input_fn is then called in a graph, as 2.15 called every input_fn.
  """
  return getattr(_caller, 'builds_graphs', False)


@contextlib.contextmanager
def scope(call_graph=None):
  """Runs the block eagerly with no caller graph as the default graph.

  Args:
    call_graph: For blocks of one call: see `tf_internals.no_default_graph`.
  """
  if _in_tf2_world():  # the common case costs one check
    yield
    return
  saved_caller = caller_builds_graphs()
  _caller.builds_graphs = True
  try:
    with tf_internals.no_default_graph(call_graph), tf_internals.eager_mode():
      _place_softly()
      yield
  finally:
    _caller.builds_graphs = saved_caller


_soft_placement = []


def _place_softly():
  if not _soft_placement:
    tf.config.set_soft_device_placement(True)
    _soft_placement.append(True)


def entry_point(method):
  """Decorates a public method so that its body runs under `scope()`."""

  @functools.wraps(method)
  def wrapper(*args, **kwargs):
    with scope():
      return method(*args, **kwargs)

  return wrapper


def generator(items):
  """Iterates `items` under `scope()`, leaving it while the caller holds an item."""
  iterator = iter(items)
  call_graph = []  # the blocks of one call share its global default graph
  try:
    while True:
      with scope(call_graph):
        try:
          item = next(iterator)
        except StopIteration:
          return
      yield item
  finally:
    with scope(call_graph):  # a generator closed early runs its cleanup here
      iterator.close()
