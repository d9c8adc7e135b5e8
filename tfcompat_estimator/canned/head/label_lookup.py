"""Label vocabulary lookups: string label <-> class id.

Done with plain tensor ops rather than hash tables: the captured model graph
runs as pruned TF2 functions, where a v1 table would need its initializer run
inside every function that reads it. Label vocabularies are small, so a
comparison against the whole vocabulary is cheap.
"""

import tensorflow as tf


def ids_from_strings(labels, label_vocabulary):
  """int64 class id of each string label; -1 for labels not in the vocabulary."""
  with tf.compat.v1.name_scope(None, 'class_id_lookup', (labels,)):
    vocabulary = tf.constant(list(label_vocabulary), dtype=tf.string)
    matches = tf.equal(tf.expand_dims(labels, -1), vocabulary)
    ids = tf.argmax(tf.cast(matches, tf.int32), axis=-1)
    return tf.where(tf.reduce_any(matches, axis=-1), ids,
                    tf.constant(-1, tf.int64))


def strings_from_ids(class_ids, label_vocabulary):
  """Vocabulary entry of each class id (ids must be in range)."""
  with tf.compat.v1.name_scope(None, 'class_string_lookup', (class_ids,)):
    vocabulary = tf.constant(list(label_vocabulary), dtype=tf.string)
    return tf.gather(vocabulary, class_ids)
