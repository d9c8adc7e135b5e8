"""Trains a canned LSTM layer through TF's fused `BlockLSTM` kernel.

Why: a Keras LSTM's recurrent loop is a hundred-odd tiny ops per time step,
forward and backward, each dispatched by the TF executor. `BlockLSTM` runs
the whole sequence, and its gradient op the whole backward pass, in one
kernel each. On the benchmark's LSTM (batch 32, up to 20 steps, 32 units) a
forward and backward pass took 1.7 ms against the Keras loop's 5.0 ms, and
training ran at 1.5x-1.65x the steps/s of the XLA-compiled layer
(`compiled_rnn`), without XLA's compile (about a second of the first step)
or its compiler's memory (about 150 MB of peak RSS; `bench/ANALYSIS.md`).
Evaluation, prediction and exports are not fused: their graphs stay exactly
those of the Keras layer.

Exactly the Keras layer's outputs and gradients, under two conditions:
- The cells are built-in `LSTMCell`s with the kernel's fixed activations
  (tanh, and sigmoid for the gates), no dropout, no carried or returned
  state, and float32 inputs (asked at each call: a TF1-mode layer has no
  dtype before it is built).
- The mask covers a prefix of each sequence, as the canned models' mask made
  from the sequence lengths does. A masked Keras step carries the previous
  output (or zeros, with `zero_output_for_mask`) and leaves the state, so an
  output at a valid step never depends on the padded steps after it; the
  kernel, which knows no mask, runs through the padding and its outputs
  there are replaced as Keras replaces them.
"""

import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import compiled_rnn


def _fixed_activations(cell):
  serialize = tf_keras.activations.serialize
  return (serialize(cell.activation) == 'tanh'
          and serialize(cell.recurrent_activation) == 'sigmoid')


def fusable(layer):
  """Whether `layer`'s training calls may run as `BlockLSTM` kernels."""
  return compiled_rnn.plain_forward_pass(layer) and all(
      type(cell) is tf_keras.layers.LSTMCell  # pylint: disable=unidiomatic-typecheck
      and _fixed_activations(cell) for cell in compiled_rnn.cells(layer))


def _block_gates(weights):
  """Keras' gate columns (input, forget, cell, output) in the kernel's order
  (input, cell, forget, output)."""
  i, f, c, o = tf.split(weights, 4, axis=-1)
  return tf.concat([i, c, f, o], axis=-1)


def _run_cell(cell, time_major_inputs):
  """The cell's outputs at every step, `[time, batch, units]`, from zeros."""
  units = cell.units
  batch = tf.shape(time_major_inputs)[1]
  zero_state = tf.zeros([batch, units])
  no_peephole = tf.zeros([units])
  bias = cell.bias if cell.use_bias else tf.zeros([4 * units])
  # BlockLSTM, not BlockLSTMV2: TF registers V1's gradient op for both, and
  # V1's gate order is the one it computes (V2's outputs then get wrong
  # gradients; measured against the Keras layer).
  outputs = tf.raw_ops.BlockLSTM(
      seq_len_max=tf.cast(tf.shape(time_major_inputs)[0], tf.int64),
      x=time_major_inputs, cs_prev=zero_state, h_prev=zero_state,
      w=_block_gates(tf.concat([cell.kernel, cell.recurrent_kernel], 0)),
      wci=no_peephole, wcf=no_peephole, wco=no_peephole,
      b=_block_gates(bias), forget_bias=0.0, cell_clip=-1.0,
      use_peephole=False)
  return outputs[-1]


def _masked_as_keras(layer, outputs, mask):
  """The layer's result from the cells' unmasked `[batch, time, units]` outputs."""
  lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
  last = tf.gather(outputs, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
  # An empty sequence's output is the initial one, zeros.
  last = tf.where(lengths[:, tf.newaxis] > 0, last, tf.zeros_like(last))
  if not layer.return_sequences and not layer.zero_output_for_mask:
    return last
  fill = (tf.zeros_like(outputs) if layer.zero_output_for_mask
          else tf.broadcast_to(last[:, tf.newaxis], tf.shape(outputs)))
  sequences = tf.where(mask[:, :, tf.newaxis], outputs, fill)
  return sequences if layer.return_sequences else sequences[:, -1]


def fuse_training_calls(layer):
  """Makes `layer` (see `fusable`) train through `BlockLSTM` kernels.

  Replaces the instance's `call`, so Keras still builds the layer, names its
  variables and scopes its ops as before; calls with `training` other than
  True, with an initial state or with inputs other than float32 run the
  original `call`.
  """
  plain_call = layer.call

  @tf.autograph.experimental.do_not_convert
  def call(inputs, mask=None, training=None, initial_state=None):
    if (training is not True or initial_state is not None
        or inputs.dtype != tf.float32):
      return plain_call(inputs, mask=mask, training=training,
                        initial_state=initial_state)
    sequence = tf.transpose(inputs, [1, 0, 2])
    for cell in compiled_rnn.cells(layer):
      sequence = _run_cell(cell, sequence)
    outputs = tf.transpose(sequence, [1, 0, 2])
    if mask is None:
      mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
    return _masked_as_keras(layer, outputs, mask)

  layer.call = call
  return layer
