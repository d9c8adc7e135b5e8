"""The XLA-compiled training path of canned RNN layers (`compiled_rnn`).

Its outputs and gradients must be the Keras layer's own, on ragged (masked)
batches whose padding to a bucket the compiled path adds itself.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests.helpers import rnn_training
from tfcompat_estimator.canned import compiled_rnn
from tfcompat_estimator.engine import short_runs

_BATCH, _STEPS, _DEPTH, _UNITS = 5, 7, 3, 4


def _layer(kind, return_sequences):
  if kind == 'lstm_layer':
    return tf_keras.layers.LSTM(_UNITS, return_sequences=return_sequences)
  if kind == 'gru_layer':
    return tf_keras.layers.GRU(_UNITS, return_sequences=return_sequences)
  cells = {'simple_rnn': [tf_keras.layers.SimpleRNNCell(_UNITS)],
           'lstm': [tf_keras.layers.LSTMCell(_UNITS)],
           'stacked_gru': [tf_keras.layers.GRUCell(_UNITS),
                           tf_keras.layers.GRUCell(2)]}[kind]
  return tf_keras.layers.RNN(cells if len(cells) > 1 else cells[0],
                             return_sequences=return_sequences)


@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('kind', ['simple_rnn', 'lstm', 'stacked_gru',
                                  'lstm_layer', 'gru_layer'])
def test_compiled_training_matches_the_keras_layer(kind, return_sequences):
  rng = np.random.RandomState(0)
  inputs = tf.constant(rng.normal(size=(_BATCH, _STEPS, _DEPTH)), tf.float32)
  lengths = [7, 1, 4, 0, 6]
  mask = tf.sequence_mask(lengths, _STEPS)
  plain = _layer(kind, return_sequences)
  compiled = _layer(kind, return_sequences)
  assert compiled_rnn.compilable(compiled)
  compiled_rnn.compile_training_calls(compiled)
  plain(inputs, mask=mask)
  compiled(inputs, mask=mask)
  compiled.set_weights(plain.get_weights())

  rnn_training.assert_trains_like(plain, compiled, inputs, mask)


def test_the_training_graph_holds_an_xla_call_and_inference_does_not():
  layer = compiled_rnn.compile_training_calls(_layer('lstm', False))
  inputs = tf.TensorSpec([None, None, _DEPTH], tf.float32)
  mask = tf.TensorSpec([None, None], tf.bool)
  layer(tf.zeros([1, 2, _DEPTH]))

  def compiled_calls(training):
    graph = tf.function(lambda x, m: layer(x, mask=m, training=training)
                        ).get_concrete_function(inputs, mask).graph
    return [op.name for op in graph.get_operations()
            if '_XlaMustCompile' in op.node_def.attr
            and op.get_attr('_XlaMustCompile')]

  assert compiled_calls(True)
  assert not compiled_calls(False)


@pytest.mark.parametrize('make, why', [
    (lambda: tf_keras.layers.RNN(tf_keras.layers.LSTMCell(3, dropout=0.5)),
     'dropout'),
    (lambda: tf_keras.layers.GRU(3, recurrent_dropout=0.2), 'recurrent dropout'),
    (lambda: tf_keras.layers.RNN(type('MyCell', (tf_keras.layers.LSTMCell,), {})(3)),
     'a user cell class'),
    (lambda: tf_keras.layers.RNN(tf_keras.layers.LSTMCell(3), return_state=True),
     'returned states'),
    (lambda: tf_keras.layers.LSTM(3, go_backwards=True), 'reversed time'),
    (lambda: tf_keras.layers.GRU(3, time_major=True), 'time-major input'),
])
def test_layers_a_recomputation_could_not_reproduce_are_not_compiled(make, why):
  assert not compiled_rnn.compilable(make()), why


def test_the_environment_can_turn_compilation_off(monkeypatch):
  layer = _layer('lstm', False)
  assert compiled_rnn.compilable(layer)
  monkeypatch.setenv('TFCOMPAT_XLA_RNN', '0')
  assert not compiled_rnn.compilable(layer)


def test_buckets_cover_every_length_with_little_padding_and_few_shapes():
  steps = np.arange(1, 1025)
  buckets = compiled_rnn._bucket(tf.constant(steps, tf.int32)).numpy()  # pylint: disable=protected-access
  assert (buckets >= steps).all()
  # Under one bucket width of padding: 4 steps, or 1/8 of the next power of
  # two (so under a quarter of the sequence).
  assert (buckets - steps < np.maximum(4, steps / 4)).all()
  assert len(set(buckets)) == 28  # 4..32 by 4, then four per octave


def _xla_calls_in_graph_pbtxt(model_dir):
  return [node.name for node in rnn_training.graph_pbtxt_nodes(model_dir)
          if node.attr['_XlaMustCompile'].b]


def test_short_training_runs_skip_the_compile_longer_ones_pay_for_it(
    tmp_path, monkeypatch):
  """A short train() captures the plain graph; a longer one compiles.

  XLA's compile is paid back after some hundreds of steps (`short_runs`):
  an LSTM's train(steps=1) took 3.4 s with it against 2.1 s without (LSTMs
  now run a fused kernel instead, `test_fused_lstm.py`). graph.pbtxt,
  written by each train() as 2.15 wrote it, shows the graph the call ran.
  """
  monkeypatch.setattr(short_runs, 'SHORT_RUN_STEPS', 5)
  est, input_fn, _ = rnn_training.tiny_rnn_classifier(tmp_path, 'gru')

  est.train(input_fn, steps=2)
  assert not _xla_calls_in_graph_pbtxt(tmp_path)
  est.train(input_fn, steps=2)  # still short: the plain graph serves it
  assert not _xla_calls_in_graph_pbtxt(tmp_path)
  est.train(input_fn, steps=5)
  assert _xla_calls_in_graph_pbtxt(tmp_path)
  # Captured again, it went on from the checkpoint the short runs left.
  assert est.get_variable_value('global_step') == 9
