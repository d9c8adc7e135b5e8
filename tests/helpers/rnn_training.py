"""Checks that a canned RNN layer's faster training path trains as Keras does.

`canned/fused_lstm.py` and `canned/compiled_rnn.py` each replace a Keras RNN
layer's training call; both must give the layer's own outputs and gradients.
"""

from google.protobuf import text_format
import numpy as np
import tensorflow as tf


def outputs_and_gradients(layer, inputs, mask):
  """The layer's training outputs, and the gradients of a loss of them with
  respect to the inputs and each of the layer's weights."""
  @tf.function
  def run(inputs):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      outputs = layer(inputs, mask=mask, training=True)
      # Not a plain sum: every output gets its own upstream gradient.
      loss = tf.reduce_sum(outputs * tf.sin(outputs + 1.0))
    return outputs, tape.gradient(loss, [inputs] + layer.weights)
  return run(inputs)


def assert_trains_like(plain, changed, inputs, mask, grad_atol=1e-6):
  """`changed` (same weights as `plain`) trains as the Keras layer `plain`."""
  want, want_grads = outputs_and_gradients(plain, inputs, mask)
  got, got_grads = outputs_and_gradients(changed, inputs, mask)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert len(got_grads) == len(want_grads)
  for g, w in zip(got_grads, want_grads):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=grad_atol)


def tiny_rnn_classifier(model_dir, cell_type):
  """A one-layer canned RNNClassifier of 4 units over a 5-token sequence
  column, with an endless input of two sequences (2 and 1 tokens).

  Returns:
    (the estimator, its input_fn, its feature columns).
  """
  columns = [tf.feature_column.embedding_column(
      tf.feature_column.sequence_categorical_column_with_identity('tok', 5), 3)]
  est = tf.estimator.experimental.RNNClassifier(
      columns, units=[4], cell_type=cell_type, model_dir=str(model_dir))
  tokens = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]],
                                  tf.constant([1, 2, 4], tf.int64), [2, 2])
  input_fn = lambda: tf.data.Dataset.from_tensors(
      ({'tok': tokens}, tf.constant([[1], [0]]))).repeat()
  return est, input_fn, columns


def graph_pbtxt_nodes(model_dir):
  """The nodes of the graph.pbtxt a train() wrote, as 2.15 wrote it: the
  graph that call ran."""
  graph_def = tf.compat.v1.GraphDef()
  with open(f'{model_dir}/graph.pbtxt') as f:
    text_format.Merge(f.read(), graph_def)
  return graph_def.node
