"""The fused (`BlockLSTM`) training path of canned LSTM layers (`fused_lstm`).

Its outputs and gradients must be the Keras layer's own, on ragged (masked)
batches, including an empty sequence, for every way Keras fills the outputs
of masked steps.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests.helpers import rnn_training
from tfcompat_estimator.canned import fused_lstm

_BATCH, _STEPS, _DEPTH, _UNITS = 5, 7, 3, 4


def _layer(kind, return_sequences, **kwargs):
  if kind == 'lstm_layer':
    return tf_keras.layers.LSTM(_UNITS, return_sequences=return_sequences,
                                **kwargs)
  cells = {'lstm': [tf_keras.layers.LSTMCell(_UNITS)],
           'no_bias': [tf_keras.layers.LSTMCell(_UNITS, use_bias=False)],
           'stacked': [tf_keras.layers.LSTMCell(_UNITS),
                       tf_keras.layers.LSTMCell(2)]}[kind]
  return tf_keras.layers.RNN(cells if len(cells) > 1 else cells[0],
                             return_sequences=return_sequences, **kwargs)


@pytest.mark.parametrize('zero_output_for_mask', [False, True])
@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('kind', ['lstm', 'no_bias', 'stacked', 'lstm_layer'])
def test_fused_training_matches_the_keras_layer(kind, return_sequences,
                                                zero_output_for_mask):
  rng = np.random.RandomState(0)
  inputs = tf.constant(rng.normal(size=(_BATCH, _STEPS, _DEPTH)), tf.float32)
  mask = tf.sequence_mask([7, 1, 4, 0, 6], _STEPS)
  plain = _layer(kind, return_sequences,
                 zero_output_for_mask=zero_output_for_mask)
  fused = _layer(kind, return_sequences,
                 zero_output_for_mask=zero_output_for_mask)
  assert fused_lstm.fusable(fused)
  fused_lstm.fuse_training_calls(fused)
  plain(inputs, mask=mask)
  fused(inputs, mask=mask)
  # Random biases: the kernel must get each gate's own, in its own order.
  fused.set_weights([rng.normal(size=w.shape) for w in plain.get_weights()])
  plain.set_weights(fused.get_weights())

  rnn_training.assert_trains_like(plain, fused, inputs, mask, grad_atol=1e-5)


def test_without_a_mask_every_step_counts():
  inputs = tf.constant(np.random.RandomState(1).normal(
      size=(_BATCH, _STEPS, _DEPTH)), tf.float32)
  plain, fused = _layer('lstm', True), _layer('lstm', True)
  fused_lstm.fuse_training_calls(fused)
  plain(inputs)
  fused(inputs)
  fused.set_weights(plain.get_weights())
  np.testing.assert_allclose(fused(inputs, training=True),
                             plain(inputs, training=True), rtol=1e-5, atol=1e-6)


def _kernel_ops(layer, training, dtype=tf.float32):
  inputs = tf.TensorSpec([None, None, _DEPTH], dtype)
  mask = tf.TensorSpec([None, None], tf.bool)
  graph = tf.function(lambda x, m: layer(x, mask=m, training=training)
                      ).get_concrete_function(inputs, mask).graph
  return [op.type for op in graph.get_operations() if op.type == 'BlockLSTM']


def test_training_runs_the_kernel_and_inference_the_keras_graph():
  layer = fused_lstm.fuse_training_calls(_layer('stacked', False))
  layer(tf.zeros([1, 2, _DEPTH]))
  assert _kernel_ops(layer, True) == ['BlockLSTM', 'BlockLSTM']
  assert not _kernel_ops(layer, False)


def test_float64_inputs_train_through_the_keras_graph():
  layer = fused_lstm.fuse_training_calls(
      tf_keras.layers.LSTM(_UNITS, dtype='float64'))
  layer(tf.zeros([1, 2, _DEPTH], tf.float64))
  assert not _kernel_ops(layer, True, tf.float64)


@pytest.mark.parametrize('make, why', [
    (lambda: tf_keras.layers.RNN(tf_keras.layers.LSTMCell(3, dropout=0.5)),
     'dropout'),
    (lambda: tf_keras.layers.LSTM(3, recurrent_dropout=0.2), 'recurrent dropout'),
    (lambda: tf_keras.layers.LSTM(3, activation='relu'), 'another activation'),
    (lambda: tf_keras.layers.LSTM(3, recurrent_activation='hard_sigmoid'),
     'another gate activation'),
    (lambda: tf_keras.layers.RNN(type('MyCell', (tf_keras.layers.LSTMCell,), {})(3)),
     'a user cell class'),
    (lambda: tf_keras.layers.RNN([tf_keras.layers.LSTMCell(3),
                                  tf_keras.layers.GRUCell(3)]), 'a GRU cell'),
    (lambda: tf_keras.layers.RNN(tf_keras.layers.LSTMCell(3), return_state=True),
     'returned states'),
    (lambda: tf_keras.layers.LSTM(3, go_backwards=True), 'reversed time'),
    (lambda: tf_keras.layers.LSTM(3, time_major=True), 'time-major input'),
])
def test_layers_the_kernel_does_not_compute_exactly_are_not_fused(make, why):
  assert not fused_lstm.fusable(make()), why


def test_a_canned_lstm_trains_fused_from_its_first_step_without_xla(tmp_path):
  """No compile to pay back, so even a one-step train() runs the kernel.

  graph.pbtxt, written by each train() as 2.15 wrote it, shows the graph
  the call ran; the exported model keeps the Keras layer's graph.
  """
  est, input_fn, columns = rnn_training.tiny_rnn_classifier(tmp_path, 'lstm')
  est.train(input_fn, steps=1)
  ops = {node.op for node in rnn_training.graph_pbtxt_nodes(tmp_path)}
  assert 'BlockLSTM' in ops and 'BlockLSTMGrad' in ops
  assert not any('Xla' in op for op in ops)
  spec = tf.feature_column.make_parse_example_spec(columns)
  export = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_parsing_serving_input_receiver_fn(spec))
  exported = tf.saved_model.load(export.decode())
  graph_ops = {node.op for node in exported.signatures[
      'serving_default'].graph.as_graph_def().node}
  functions = exported.signatures['serving_default'].graph.as_graph_def().library.function
  graph_ops |= {node.op for f in functions for node in f.node_def}
  assert 'BlockLSTM' not in graph_ops
  assert graph_ops & {'While', 'StatelessWhile'}  # the Keras layer's loop

