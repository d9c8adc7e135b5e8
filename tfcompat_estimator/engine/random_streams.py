"""Random ops drawing what 2.15's kernels drew: one stream per op and call.

2.15 ran each train() in one session, which made one kernel per op: a
`RandomUniform` (dropout's mask) drew its values from one Philox stream,
started at the op's seeds and advanced by each run, whatever the run
fetched. Here the train step is compiled into several functions (the quiet
loop, a hooked step per fetch set), each instantiating its own kernels, so
the op drew from as many streams, each starting afresh: a program whose
hooks fetch different things on different steps (a summary every 100
steps, a hook's tensors on others) trained with other dropout masks than
2.15's. microsoft/recommenders' Wide & Deep notebook (dropout 0.8, its own
hook every step) ended at rmse 0.8726 against 2.15's 0.8702.

So the train graph's seeded random ops are built as their `Stateful*`
counterparts (`tf.random.Generator`'s), whose Philox state lives in a
resource variable the copies share: one per op, set to the state the op's
kernel started from, `[0, seed2, seed]`, as each call begins (a new 2.15
session). Both kinds advance the state by 256 per value drawn, and fill
their outputs the same way, so the values are 2.15's bit for bit (checked
on TF 2.21 for the four kinds below, consecutive draws included).

The TF1 files (graph.pbtxt, .meta) show the graph as 2.15 wrote it:
`as_tf1` turns the ops back into the kinds the model_fn asked for.

An input_fn called eagerly draws from fresh states the same way
(`eager_draws_start_afresh`), as 2.15's new graph for each call did.
"""

import contextlib
import random

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import tf1_graph_semantics
from tfcompat_estimator.platform import tf_internals

# Philox, the algorithm of the kernels' streams (`tf.random.Algorithm`).
_PHILOX = 1


class RandomStreams:
  """The state variables of the random ops built in `building()`."""

  def __init__(self):
    self._ops = {}  # op name -> (kind, seed, seed2, state variable)
    self._pause = 0

  @contextlib.contextmanager
  def building(self):
    """Random ops the block builds in a model graph draw from shared streams."""
    with tf_internals.random_ops_built_by(self._build):
      yield

  @contextlib.contextmanager
  def paused(self):
    """Random ops built in the block are left as they are (initial values,
    which run once, as 2.15's init op did)."""
    self._pause += 1
    try:
      yield
    finally:
      self._pause -= 1

  def restart(self):
    """Sets each stream to its start, as a new 2.15 session's kernels began."""
    for _, seed, seed2, state in self._ops.values():
      state.assign(_start(seed, seed2))

  def states_in(self, graph):
    """Ids of `graph`'s placeholders for the states (its captured inputs).

    A value computed from them is computed in the graph, not fed (a
    variable's initial value `tf.random.normal(...)`).
    """
    handles = {id(state.handle) for _, _, _, state in self._ops.values()}
    return {id(internal.op) for external, internal in graph.captures
            if id(external) in handles}

  def as_tf1(self, graph_def):
    """Turns the ops back into their TF1 kinds in `graph_def` (in place).

    Those of the graph itself: one inside a function (a v2 `cond`'s branch,
    a `while_loop`'s body) stays as it is, its state's placeholder with it.
    The placeholders of the others' states go, and their algorithm inputs.

    Args:
      graph_def: A `GraphDef` of the captured graph.
    """
    unused = set()  # the states' placeholders and the algorithms' constants
    for node in graph_def.node:
      built = self._ops.get(node.name)
      if built is not None:
        unused.update(name.partition(':')[0] for name in node.input[:2])
        _as_kind(node, *built[:3])
    unused -= {name.partition(':')[0].lstrip('^')
               for node in graph_def.node for name in node.input}
    kept = [node for node in graph_def.node if node.name not in unused]
    del graph_def.node[:]
    graph_def.node.extend(kept)

  def _build(self, kind, original, *args, **kwargs):
    """Builds a random op of `kind` (a `_KINDS` key) called for with `args`.

    `original`: TF's builder, for ops outside a model graph.
    """
    if self._pause or tf1_graph_semantics.model_graph() is None:
      return original(*args, **kwargs)
    seed, seed2, name, arguments = _parsed(kind, args, kwargs)
    with tf.init_scope():
      state = _state(seed, seed2)
    output = _KINDS[kind].stateful(state.handle, name=name, **arguments)
    self._ops[output.op.name] = (kind, seed, seed2, state)
    return output


@contextlib.contextmanager
def eager_draws_start_afresh():
  """Seeded random ops run eagerly in the block draw as a new kernel would.

  For an input_fn called eagerly: 2.15 called it in a new graph each time,
  so its random ops outside the dataset (tensorflow/tpu's DCGAN noise, its
  Inception's fake images) drew the same values in every train() and
  evaluate() under `tf_random_seed`. Eagerly, TF keeps one kernel per
  random op and seeds for the process, so a later call with the same op
  seeds went on drawing from the first call's stream.
  """

  def build(kind, original, *args, **kwargs):
    seed, seed2, name, arguments = _parsed(kind, args, kwargs)
    if not tf_internals.executing_eagerly() or (seed == 0 and seed2 == 0):
      return original(*args, **kwargs)
    return _KINDS[kind].stateful(_state(seed, seed2).handle, name=name,
                                 **arguments)

  with tf_internals.random_ops_built_by(build):
    yield


def _parsed(kind, args, kwargs):
  """`(seed, seed2, name, other arguments)` of a builder's call."""
  arguments = dict(zip(_KINDS[kind].arguments, args), **kwargs)
  # None (no graph seed, none of the op's own) is 0 to the op.
  seed = arguments.pop('seed', None) or 0
  seed2 = arguments.pop('seed2', None) or 0
  name = arguments.pop('name', None) or _KINDS[kind].op_type
  return seed, seed2, name, arguments


def _state(seed, seed2):
  """A new stream's state variable, made eagerly."""
  return tf_internals.variable_unseen_by_creators(
      initial_value=_start(seed, seed2), trainable=False, name='random_stream')


def _start(seed, seed2):
  """The Philox state a kernel of the op began at: `[counter, key]`.

  An op without seeds (no graph seed, none of its own) began at random
  ones, in each session.
  """
  if seed == 0 and seed2 == 0:
    seed, seed2 = random.getrandbits(63), random.getrandbits(63)
  return np.array([0, seed2, seed], np.int64)


class _Kind:

  def __init__(self, op_type, arguments, stateful):
    self.op_type = op_type  # the TF1 op
    self.arguments = arguments  # the builder's positional arguments
    self.stateful = stateful  # (state handle, **arguments) -> its output


def _floats(raw_op):
  def stateful(handle, shape, dtype, name):
    return raw_op(resource=handle, algorithm=_PHILOX, shape=shape, dtype=dtype,
                  name=name)
  return stateful


def _integers(handle, shape, minval, maxval, name):
  # The TF1 op takes its dtype from the bounds (int32 for Python ints); this
  # one defaults to int64, whose values are drawn otherwise.
  minval = tf.convert_to_tensor(minval)
  maxval = tf.convert_to_tensor(maxval, minval.dtype)
  return tf.raw_ops.StatefulUniformInt(
      resource=handle, algorithm=_PHILOX, shape=shape, minval=minval,
      maxval=maxval, name=name)


_KINDS = {
    'random_uniform': _Kind('RandomUniform', ('shape', 'dtype'),
                            _floats(tf.raw_ops.StatefulUniform)),
    'random_standard_normal': _Kind(
        'RandomStandardNormal', ('shape', 'dtype'),
        _floats(tf.raw_ops.StatefulStandardNormalV2)),
    'truncated_normal': _Kind('TruncatedNormal', ('shape', 'dtype'),
                              _floats(tf.raw_ops.StatefulTruncatedNormal)),
    'random_uniform_int': _Kind('RandomUniformInt',
                                ('shape', 'minval', 'maxval'), _integers),
}
assert set(_KINDS) == set(tf_internals.STREAM_RANDOM_OPS)


def _as_kind(node, kind, seed, seed2):
  """Makes a `Stateful*` node `node` the TF1 op of `kind` it stands for."""
  node.op = _KINDS[kind].op_type
  del node.input[:2]  # the state and the algorithm
  shape_dtype = node.attr.pop('shape_dtype')
  node.attr['T'].CopyFrom(shape_dtype)
  if kind == 'random_uniform_int':
    node.attr['Tout'].CopyFrom(node.attr.pop('dtype'))
  node.attr['seed'].i = seed
  node.attr['seed2'].i = seed2
