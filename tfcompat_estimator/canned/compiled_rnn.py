"""Trains a canned RNN layer through XLA-compiled functions.

Why: a small recurrent cell is a hundred-odd tiny ops per time step, forward
and backward, and the TF executor dispatches each one; XLA fuses a step's
ops, which made the canned LSTM workload's training about twice as fast
(`bench/ANALYSIS.md`). Layers of LSTM cells alone take TF's fused kernel
instead (`fused_lstm`), faster still and with no compile; this path serves
the other built-in cells (SimpleRNN, GRU, and stacks mixing kinds).
Evaluation, prediction and exports are not compiled:
their graphs stay exactly those of the Keras layer. Nor are training runs
too short to pay the compile back (`engine/short_runs.py`).

Two constraints of XLA shape the code:
- It cannot hand the while loop's saved activations (TensorLists) to a
  gradient function compiled apart from the forward one, so the gradient is a
  custom one that recomputes the forward pass inside the compiled backward
  function. That is why only the built-in Keras cells without dropout qualify:
  the recomputation must see the very same forward pass.
- It compiles once per input shape, so the time axis is padded up to a bucket
  (masked steps leave the layer's output unchanged) and a job whose batches
  have many sequence lengths compiles a few shapes, not one per length.

XLA's compiler costs memory (about 100 MB more peak RSS on the benchmark's
LSTM workload when it took this path); `TFCOMPAT_XLA_RNN=0` in the
environment keeps the Keras layer's own graph for training too.
"""

import os

import tensorflow as tf
import tf_keras

from tfcompat_estimator.engine import short_runs

_BUILT_IN_CELLS = (tf_keras.layers.SimpleRNNCell, tf_keras.layers.LSTMCell,
                   tf_keras.layers.GRUCell)
# Lengths are padded to a multiple of max(_MIN_BUCKET, next power of two /
# _OCTAVE_PARTS): four shapes per octave, padding under a quarter of a length.
_MIN_BUCKET = 4
_OCTAVE_PARTS = 8


def cells(layer):
  """`layer`'s cells: its cell, or the cells of its stack."""
  cell = layer.cell
  return list(cell.cells) if isinstance(cell, tf_keras.layers.StackedRNNCells) else [cell]


def plain_forward_pass(layer):
  """Whether `layer` trains as its cells' plain pass, which a faster path
  (this module's, `fused_lstm`'s) can reproduce: forward over batch-major
  time from a zero state that no call carries or returns, no dropout."""
  if (layer.stateful or layer.return_state or layer.go_backwards
      or layer.time_major):
    return False
  return not any(getattr(cell, 'dropout', 0)
                 or getattr(cell, 'recurrent_dropout', 0)
                 for cell in cells(layer))


def compilable(layer):
  """Whether `layer` may train compiled: allowed, and recomputed exactly.

  Exactly: built-in cells in a plain forward pass (`plain_forward_pass`).
  """
  if os.environ.get('TFCOMPAT_XLA_RNN', '1') == '0':
    return False
  if not (plain_forward_pass(layer) and
          all(type(cell) in _BUILT_IN_CELLS for cell in cells(layer))):  # pylint: disable=unidiomatic-typecheck
    return False
  # Asked last: a run too short to pay the compile back gets the plain
  # layer, and a longer run then captures the graph again to compile it.
  return not short_runs.skip_compile()


def _bucket(steps):
  """The padded length for `steps` time steps (a scalar int32 tensor)."""
  octave = tf.cast(tf.math.pow(2.0, tf.math.ceil(
      tf.math.log(tf.cast(steps, tf.float32)) / tf.math.log(2.0))), tf.int32)
  size = tf.maximum(_MIN_BUCKET, octave // _OCTAVE_PARTS)
  return (steps + size - 1) // size * size


def compile_training_calls(layer):
  """Makes `layer` (built-in cells, see `compilable`) train through XLA.

  Replaces the instance's `call`, so Keras still builds the layer, names its
  variables and scopes its ops as before; calls with `training` other than
  True run the original `call`.
  """
  plain_call = layer.call

  def run(inputs, mask):
    return plain_call(inputs, mask=mask, training=True)

  forward = tf.function(run, jit_compile=True, autograph=False)

  @tf.function(jit_compile=True, autograph=False)
  def backward(inputs, mask, output_gradients):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      outputs = run(inputs, mask)
    return tape.gradient(outputs, [inputs] + layer.weights,
                         output_gradients=output_gradients)

  def compiled(inputs, mask):
    @tf.custom_gradient
    def apply(inputs):
      def gradient(output_gradients, variables):
        grads = backward(inputs, mask, output_gradients)
        by_variable = {w.ref(): g for w, g in zip(layer.weights, grads[1:])}
        return grads[0], [by_variable[v.ref()] for v in variables]
      return forward(inputs, mask), gradient
    return apply(inputs)

  @tf.autograph.experimental.do_not_convert
  def call(inputs, mask=None, training=None, initial_state=None):
    if training is not True or initial_state is not None:
      return plain_call(inputs, mask=mask, training=training,
                        initial_state=initial_state)
    steps = tf.shape(inputs)[1]
    padding = _bucket(steps) - steps
    if mask is None:
      mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
    outputs = compiled(tf.pad(inputs, [[0, 0], [0, padding], [0, 0]]),
                       tf.pad(mask, [[0, 0], [0, padding]]))
    return outputs[:, :steps] if layer.return_sequences else outputs

  layer.call = call
  return layer
