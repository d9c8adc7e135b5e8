"""graph.pbtxt: the text parses back to the GraphDef written."""

import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from tfcompat_estimator.io import graph_text


def _graph_def():
  """A graph with binary tensor content, strings to escape and many attrs."""
  with tf.Graph().as_default() as graph:
    table = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
    words = tf.constant(['a "quoted"\n word', '\xff\x00bytes'], name='words')
    with tf.device('/cpu:0'):
      tf.nn.bias_add(tf.matmul(table, table, transpose_b=True), [1., 2., 3.],
                     name='biased')
    tf.strings.join([words, words], separator='\t')
  return graph.as_graph_def(add_shapes=True)


def test_text_parses_back_to_the_same_graph_def(tmp_path):
  graph_def = _graph_def()
  path = graph_text.write(graph_def, str(tmp_path / 'new_dir'), 'graph.pbtxt')
  assert path == str(tmp_path / 'new_dir' / 'graph.pbtxt')
  with open(path) as f:
    parsed = text_format.Parse(f.read(), tf.compat.v1.GraphDef())
  assert parsed == graph_def
  assert os.listdir(tmp_path / 'new_dir') == ['graph.pbtxt']  # no temp file


def test_overwrites_and_leaves_no_temp_file_on_failure(tmp_path):
  graph_def = _graph_def()
  graph_text.write(tf.compat.v1.GraphDef(), str(tmp_path), 'graph.pbtxt')
  graph_text.write(graph_def, str(tmp_path), 'graph.pbtxt')
  with open(tmp_path / 'graph.pbtxt') as f:
    assert text_format.Parse(f.read(), tf.compat.v1.GraphDef()) == graph_def

  class Unprintable:

    def __str__(self):
      raise RuntimeError('cannot format')

  try:
    graph_text.write(Unprintable(), str(tmp_path), 'graph.pbtxt')
  except RuntimeError:
    pass
  else:
    raise AssertionError('expected the formatting error')
  assert sorted(os.listdir(tmp_path)) == ['graph.pbtxt']
