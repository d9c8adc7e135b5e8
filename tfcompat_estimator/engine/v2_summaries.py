"""TF2 summary calls in a model_fn when TensorBoard is not installed.

`tf.summary.scalar`, `histogram`, `image`, `text` and `audio` live in
TensorBoard, which TensorFlow stopped installing in 2.16; without it they
raise `TBNotInstalledError`. 2.15 came with TensorBoard, and such a call in
a model_fn wrote nothing: the Estimator set no default TF2 summary writer,
so the call returned `tf.summary.write`'s False (the model's summaries were
the TF1 ones, `tf.compat.v1.summary.*`). In a model graph with no default
writer they do the same here. Anywhere else, and with a writer, TF's error
stands: it names what to install.
"""

import functools
import importlib.util

import tensorflow as tf

from tfcompat_estimator.engine import tf1_graph_semantics
from tfcompat_estimator.platform import tf_internals


def _tensorboard_installed():
  # Looked up, not imported: importing TensorBoard would add to the start-up
  # of every process; TF imports it on the first summary call.
  return importlib.util.find_spec('tensorboard') is not None


def _writing_nothing_in_a_model_graph(summary):
  """`summary`, or in a model graph without a writer, 2.15's no-op."""

  @functools.wraps(summary)
  def call(name, data, *args, **kwargs):
    if (tf1_graph_semantics.model_graph() is None or
        tf_internals.has_default_summary_writer()):
      return summary(name, data, *args, **kwargs)
    with tf.name_scope(name):
      return tf.summary.write(name, data, step=0)

  return call


if not _tensorboard_installed():
  for _summary in tf_internals.tensorboard_summaries:
    tf_internals.replace_public_function(
        _summary, _writing_nothing_in_a_model_graph(_summary))
