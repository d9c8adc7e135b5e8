"""Keras' generated object names go on from the input_fn into the model_fn.

2.15 called the input_fn and then the model_fn in one `tf.Graph`, and
tf_keras numbers the names it generates (`dense`, `dense_1`, ...) per graph.
A Keras object the input_fn made therefore moved the model_fn's names on.
The Object Detection API's input functions build a detection model to use
its `preprocess()`, so 2.15's checkpoints held the model_fn's feature
extractor as `ssd_mobile_net_v1_keras_feature_extractor_1/...`, and so did
its exports, whose serving input function builds one too. Here the input_fn
runs eagerly or in an input graph of its own, and the model_fn in a function
graph: its checkpoints lacked the `_1`, 2.15 could not read them, and the
export (a `tf.Graph` as in 2.15) could not restore them either.

`call` runs an input_fn and returns the names it took, which it gives back to
the graph it ran in (2.15's input_fn took them in its call's own graph, not
in the program's); `continue_after` makes a model graph's names go on after
them.
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals


def call(fn):
  """Calls `fn()` and returns `(its result, the tf_keras names it took)`.

  The names are those it generated in the default graph, as a dict of
  tf_keras' name keys to counts; the default graph gets them back.
  """
  graph = tf.compat.v1.get_default_graph()
  counts = tf_internals.keras_name_counts(graph)
  before = dict(counts or {})
  try:
    result = fn()
  finally:
    # tf_keras may have been imported by `fn`.
    counts = tf_internals.keras_name_counts(graph)
    taken = {key: count - before.get(key, 0)
             for key, count in (counts or {}).items()
             if count > before.get(key, 0)}
    if taken:
      counts.clear()
      counts.update(before)
  return result, taken


def continue_after(graph, taken):
  """Makes the names tf_keras generates in `graph` go on after `taken`'s."""
  if taken:
    counts = tf_internals.keras_name_counts(graph)
    for key, count in taken.items():
      counts[key] += count
