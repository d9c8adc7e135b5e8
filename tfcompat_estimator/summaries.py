"""Event files in the layout 2.15 wrote: train summaries in `model_dir`, eval
metrics in `model_dir/eval` or `eval_<name>`, all as TF1 `Summary` protos."""

import numpy as np
import tensorflow as tf


class EventWriter:
  """Writes serialized v1 `Summary` protos and scalars at a global step."""

  def __init__(self, logdir):
    tf.io.gfile.makedirs(logdir)
    with tf.init_scope():
      self._writer = tf.summary.create_file_writer(logdir)

  def write_serialized(self, summary_bytes, step):
    with tf.init_scope(), self._writer.as_default():
      tf.summary.experimental.write_raw_pb(summary_bytes, step=int(step))

  def write_scalars(self, values, step):
    summary = tf.compat.v1.Summary()
    for tag, value in values.items():
      array = np.asarray(value)
      if array.size == 1 and np.issubdtype(array.dtype, np.number):
        summary.value.add(tag=tag, simple_value=float(array.reshape(())))
      elif array.dtype.kind in 'SUO' and array.size == 1:
        summary.value.add(tag=tag, tensor=tf.make_tensor_proto(array.reshape(())))
    self.write_serialized(summary.SerializeToString(), step)

  def close(self):
    with tf.init_scope():
      self._writer.flush()
      self._writer.close()
