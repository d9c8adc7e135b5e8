"""Quiet steps run by a compiled hooked step until the quiet loop pays.

Quiet steps normally run in the compiled loop (`loops.make_loop`), whose
first call compiles a second copy of the train step beside the hooked
step's own: about as long as the first hooked step took. For a large graph
that is most of a short run. DeepCTR's DeepFEFM on its 200-row sample
(837 variables, a 42,000-op train graph, one batch) compiled its loop for
34 s at the second step, only to find the input at its end there; 2.15 ran
that step with the graph its session had already optimised.

A hooked step whose fetches have no effect beyond the train step's own
(the loss, the global step, v1 summaries: reads and pure ops) computes a
quiet step as well, its extra values dropped. So quiet steps run through
it until what they may have cost over the loop's steps reaches
`BUDGET_FRACTION` of what its first call cost (the estimate of the loop's
compile), and then the loop is compiled. A rented step costs its own call
more than a step of the loop, not its computation: each is charged its
time up to `LOOP_SAVING_BOUND`. A run that ends within that budget never
compiles the loop; a long run pays at most that fraction of the compile in
slower steps. The budget and its use last as long as the captured graph
(one rental per `CapturedModel`), so repeated short train() calls share it.

A run that knows its last step (`steps=`, `max_steps=`) also rents every
step left while renting them all costs no more than the compile: all of
it is then saved. A train(steps=30) of three golden canned models rented
11-26 of its 29 quiet steps and then spent 0.34-1.13 s compiling the
loop for the rest, a third of calls of 1.7-3.6 s; renting all 29, the
calls took 0.95-2.6 s (2026-11-28). Repeated short calls stop renting
once the budget's spending reaches the compile estimate, so they pay at
most one compile's worth before the loop is compiled.

Charged their whole time, the steps of a large model used up the budget at
once: tensorflow/tpu's RetinaNet (ResNet-18, 128x128 images, one step
about 0.7 s, its first call 11 s) compiled the loop at its second step and
then a third copy for the hooked step that ends TPUEstimator's
iterations_per_loop, 48 s before its eighth step against 2.15's 30 s.

A hooked step may also be computed by another one whose fetches hold its
own: when a step without summaries follows steps with them (a hook every
10 steps, summaries every 100), the summary step's copy computes it, its
extra values dropped, instead of a third copy compiled for it. Only while
the budget lasts (each such step is charged as a rented one), and only if
what the lending step computes beyond them is a scalar's work per op (v1
scalar summaries and their merge, small outputs, not histograms or
images).

A train step that holds a random op keeping its own stream per compiled
function, in its graph or in a function it calls (a `cond`'s branches, an
RNN's loop), or that calls a function whose definition is not found, rents
by count, not by time: rented steps draw from the hooked step's stream and
the loop's steps from the loop's, so were the split timed, a seeded
program would train differently from run to run. (The model_fn's dropout
and `tf.random.*` ops share one stream between the copies,
engine/random_streams.py; what remains is `RandomShuffle`, `Multinomial`,
gamma and Poisson draws, and random ops of an imported graph or a hook.)
A run whose last step is known rents all its quiet steps if they fit in
`OWN_STREAMS_STEPS` rented steps over the rental's life, and none
otherwise. Each of its steps then draws from the one copy, as each of
2.15's did from its session's one kernel per random op. MnasNet-A1 on CPU
(tensorflow/tpu's `mnasnet_main.py`, a 10-step train_and_eval with
iterations_per_loop=5), while its drop-connect and dropout counted as
such ops, compiled the loop for its second step: 5.2 s and 155 MB of peak
RSS, in a process 240 MB above 2.15's. Functions are looked into because
the canned models check their inputs are finite, and their heads their
labels' range, in a `cond`:
not looking, 21 of the 25 canned configurations of the 2.15 golden tests
compiled the loop for a train(steps=2), about a quarter of that call.

Hooked steps of such a model are lent whatever the budget, so which copy
computes each is fixed by the hooks' schedule: they all draw from the
first copy's stream, as 2.15's session kept one kernel, one stream, per
random op for all its fetches. TAPAS with a hook every step
(`log_step_count_steps=1`), while its dropout counted as such an op, took
7.7 s instead of 12.3 s for its 20-step train() so.
"""

import time
import weakref

import numpy as np

from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.platform import tf_internals

# The share of the loop's estimated compile time that rented steps may use.
BUDGET_FRACTION = 0.05
# The share of it that renting every step left to a run may cost instead.
WHOLE_RUN_FRACTION = 1.0
# The most a step of the compiled loop saves over a rented one, seconds: the
# rented step's call (Python, dispatch, its extra fetches). A 16-unit DNN's
# step took 0.93 ms rented against 0.30 ms in the loop (2026-11-27); a
# larger step's computation is the same either way.
LOOP_SAVING_BOUND = 0.002
# The quiet steps a train step with random streams of its own may rent over
# the rental's life (module docstring). At the bound above, at most 0.4 s
# over the loop; the first call of a canned model's loop took 0.34-1.13 s.
OWN_STREAMS_STEPS = 200

# Stateful ops that only read: a fetch computed by them changes nothing.
_READS = frozenset(('ReadVariableOp', 'ResourceGather', 'VarIsInitializedOp',
                    'VariableShape'))
# Ops that run functions (not looked into for random ops).
_CALLS = frozenset(('While', 'StatelessWhile', 'If', 'StatelessIf', 'Case',
                    'StatelessCase', 'PartitionedCall',
                    'StatefulPartitionedCall'))
_RANDOM = frozenset(('TruncatedNormal', 'ParameterizedTruncatedNormal',
                     'Multinomial'))
# Elements an output may have for its op to count as a scalar's work.
_SMALL_OUTPUT = 4096
# Summary ops whose scalar result costs work in the size of their input.
_COSTLY_SUMMARIES = frozenset(('HistogramSummary', 'ImageSummary',
                               'AudioSummary', 'AudioSummaryV2',
                               'TensorSummary', 'TensorSummaryV2'))


class StepRental:
  """The compiled hooked step that quiet steps may run through, if any."""

  def __init__(self, captured):
    """Args: captured: the `CapturedModel` of the TRAIN graph."""
    self._captured = captured
    self._base_ops = None  # ids of the ops a quiet step runs anyway
    self._own_streams = False  # whether the step draws per-function randoms
    self._compile_seconds = 0.0
    self._spent = 0.0
    self._charged = 0  # calls charged to the budget
    self._rented = 0  # quiet steps run
    # Each offered step -> (its loss position, or None if it may not run
    # quiet steps; whether it may be lent; its elements; {names it lent
    # for: positions or None}).
    # Weakly: a step the captured graph released drops out, and a new step
    # given its id is not taken for it.
    self._offered = weakref.WeakKeyDictionary()
    self._step = None
    self._loss_index = None

  def offer(self, elements, run_ops, seconds):
    """Takes note of a hooked step computed by `captured.step_for`.

    Args:
      elements, run_ops: the step's fetches, as given to `step_for`.
      seconds: how long its call took; its first call is the estimate of
        the loop's compile.
    """
    step = self._captured.step_for(elements, run_ops)
    if step not in self._offered:  # its first call
      self._compile_seconds = max(self._compile_seconds, seconds)
      lendable = self._changes_nothing_more(elements, run_ops)
      self._offered[step] = (self._loss_position(elements, lendable),
                             lendable, list(elements), {})
    self._loss_index = self._offered[step][0]
    self._step = step if self._loss_index is not None else None

  def lend(self, elements, run_ops):
    """A compiled hooked step that computes `elements` too, if one may.

    For a hooked step whose own copy was never compiled, while the budget
    lasts, or always if the train step draws from per-copy random streams
    (module docstring).

    Args:
      elements, run_ops: the step's fetches, as they would be given to
        `captured.step_for`.

    Returns:
      `step(iterator)` giving the values of `elements` (None at the end of
      the input), or None: the step is to be computed by its own copy.
    """
    if (not (self._own_streams or self._within_budget()) or
        not self._runs_train_op_only(run_ops) or
        self._captured.made_step_for(elements, run_ops) is not None):
      return None
    wanted = tuple(e.name for e in elements)
    for step, lender_elements, lends in self._live_lenders():
      if wanted not in lends:
        lends[wanted] = self._positions_in(lender_elements, elements)
      positions = lends[wanted]
      if positions is not None:
        return lambda iterator, step=step, positions=positions: (
            self._lent_call(step, positions, iterator))
    return None

  def run(self, iterator, n, steps_left=None):
    """Runs up to `n` quiet steps while the budget lasts.

    Or while renting every step left to the run costs no more than the
    loop's compile (module docstring).

    Args:
      iterator: the input's iterator.
      n: the quiet steps wanted.
      steps_left: the steps to the run's last step from the first of them,
        or None if the run has no last step.

    Returns:
      `(steps_run, last loss or None, stopped)`: `stopped` at the end of the
      input or at a non-finite loss, as the loop's.
    """
    ran, loss = 0, None
    while ran < n and self._step is not None and self._may_rent(
        None if steps_left is None else steps_left - ran):
      values = self._charged_call(self._step, iterator)
      if values is None:
        return ran, loss, True
      ran += 1
      self._rented += 1
      loss = values[self._loss_index].numpy()
      if not np.isfinite(loss):
        return ran, loss, True
    return ran, loss, False

  def _live_lenders(self):
    """`(step, elements, lends)` of the lendable steps the graph still keeps.

    A step fetching ops a hook built in an earlier call was released with
    them (`release_ops_built_after`): it is not lent, nor kept alive here
    (kept, one such hook per call grew memory by 1.4 MB a call).
    """
    train_op = [self._captured.train_op]
    return [(step, elements, lends)
            for step, (_, lendable, elements, lends)
            in list(self._offered.items()) if lendable and
            self._captured.made_step_for(elements, train_op) is step]

  def _runs_train_op_only(self, run_ops):
    return [id(op) for op in run_ops] == [id(self._captured.train_op)]

  def _may_rent(self, steps_left):
    """Whether the next quiet step is rented; `steps_left`: to the last."""
    if self._own_streams:
      return (steps_left is not None and
              self._rented + steps_left <= OWN_STREAMS_STEPS)
    return self._within_budget() or self._renting_the_rest_pays(steps_left)

  def _within_budget(self):
    return self._spent < BUDGET_FRACTION * self._compile_seconds

  def _renting_the_rest_pays(self, steps_left):
    """Whether renting `steps_left` more steps costs no more than the compile.

    Each is estimated at the mean charge so far (the bound before any).
    """
    if steps_left is None:
      return False
    per_step = (self._spent / self._charged if self._charged else
                LOOP_SAVING_BOUND)
    return (self._spent + steps_left * per_step <=
            WHOLE_RUN_FRACTION * self._compile_seconds)

  def _charged_call(self, step, iterator):
    start = time.perf_counter()
    values = step(iterator)
    self._spent += min(time.perf_counter() - start, LOOP_SAVING_BOUND)
    self._charged += 1
    return values

  def _lent_call(self, step, positions, iterator):
    values = self._charged_call(step, iterator)
    return None if values is None else [values[i] for i in positions]

  def _positions_in(self, lender_elements, elements):
    """Where `elements` are among a lendable step's, if it may compute them.

    It may if it fetches them all and its further fetches cost a scalar's
    work per op beyond the ops computing them.
    """
    index = {e.name: i for i, e in enumerate(lender_elements)}
    if any(e.name not in index for e in elements):
      return None
    computed = self._base_ops | {
        id(op) for op in graph_prune.upstream_ops(elements, self._base_ops)}
    extra = graph_prune.upstream_ops(lender_elements, computed)
    if not all(map(_scalar_work, extra)):
      return None
    return [index[e.name] for e in elements]

  def _loss_position(self, elements, lendable):
    """Where the loss is among `elements`, if the step may run quiet steps.

    It may if it may be lent.
    """
    loss = self._captured.spec.loss
    position = next((i for i, e in enumerate(elements) if e is loss), None)
    return position if lendable else None

  def _changes_nothing_more(self, elements, run_ops):
    """Whether the step runs the train op only and its further fetches
    change nothing (reads and pure ops): it may compute other steps."""
    if not self._runs_train_op_only(run_ops):
      return False
    if self._base_ops is None:
      captured = self._captured
      base = graph_prune.upstream_ops([captured.spec.loss, captured.train_op])
      self._base_ops = {id(op) for op in base}
      self._own_streams = any(map(_may_draw_own_stream, base))
    extra = graph_prune.upstream_ops(elements, self._base_ops)
    return not any(op.op_def.is_stateful and op.type not in _READS
                   for op in extra)


def _scalar_work(op):
  """Whether `op` does about a scalar's work.

  A constant; an op with small outputs of known shape (a scalar, the stack
  of per-variable norms `global_norm` sums); or the range of a tensor's
  axes, which TF reduces over when it does not know the tensor's rank
  (`reduce_mean` in a scalar summary). EfficientDet's summary step, which
  has all three, had another copy compiled for its other hooked steps: 60 s
  of a 2-step train() of efficientdet-d0.
  """
  if op.type == 'Const':
    return True
  if op.type in _COSTLY_SUMMARIES:
    return False
  if op.type == 'Range' and op.inputs[1].op.type == 'Rank':
    return True
  return all(t.shape.is_fully_defined() and
             t.shape.num_elements() <= _SMALL_OUTPUT for t in op.outputs)


def _may_draw_own_stream(op):
  """Whether `op` may draw random numbers from a stream of its own kernel.

  Such a stream belongs to each compiled function holding the op; ops of a
  `tf.random.Generator` (`Stateful*`) share the generator's state instead.
  An op that calls functions (a control-flow op, or a graph function
  called by name) may if an op of theirs may.
  """
  return _may_draw(op.graph, op.type, lambda: op.node_def, set())


def _may_draw(graph, op_type, node_def, looked_into):
  """`_may_draw_own_stream` of an op of `graph` or of one of its functions.

  `node_def()` gives the op's `NodeDef`, read only for ops that call
  functions: TF serializes a graph op's on each access (about 5 us, 3 ms
  for a canned model's 600-op train step). `looked_into` holds the names of
  the functions already found to draw nothing (or being looked into, for
  recursive ones).
  """
  definition = tf_internals.op_def(op_type)
  if definition is not None and op_type not in _CALLS:
    return (definition.is_stateful and not op_type.startswith('Stateful') and
            ('Random' in op_type or op_type in _RANDOM))
  for name in _called_functions(node_def(), definition):
    if name in looked_into:
      continue
    looked_into.add(name)
    function = tf_internals.graph_function_def(graph, name)
    if function is None or any(
        _may_draw(graph, inner.op, lambda inner=inner: inner, looked_into)
        for inner in function.node_def):
      return True
  return False


def _called_functions(node, definition):
  """Names of the functions `node` calls: by its type, or in its attrs."""
  names = [node.op] if definition is None else []
  for value in node.attr.values():
    if value.HasField('func'):
      names.append(value.func.name)
    elif value.HasField('list'):
      names.extend(function.name for function in value.list.func)
  return names
