"""An input graph's one-shot iterators, replaced by eager iterators.

Legacy input_fns often return `make_one_shot_iterator(dataset).get_next()`.
Run inside a function as it is, the OneShotIterator kernel is never released
by TensorFlow: it keeps its dataset, data included, for the life of the
process, megabytes per evaluate() or predict() call. So each one-shot iterator
of the input graph becomes a resource input of that graph instead, fed with an
ordinary eager iterator over the dataset the graph's own factory function
makes; that iterator goes away with the call that made it.
"""

import dataclasses

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals


@dataclasses.dataclass(frozen=True)
class Detached:
  """One replaced iterator: its input's name, factory and element specs."""
  input_name: str
  factory: str
  specs: tuple


def detach(graph_def):
  """`(graph_def without one-shot iterators, [Detached])`.

  Each OneShotIterator node becomes a resource Placeholder of the same name,
  so the ops reading it (IteratorGetNext) now read the fed iterator.
  """
  detached = []
  for node in graph_def.node:
    if node.op != 'OneShotIterator':
      continue
    attrs = node.attr
    specs = tuple(
        tf.TensorSpec(tf.TensorShape(shape), tf.dtypes.as_dtype(dtype))
        for shape, dtype in zip(attrs['output_shapes'].list.shape,
                                attrs['output_types'].list.type))
    detached.append(Detached(node.name + ':0',
                             attrs['dataset_factory'].func.name, specs))
    node.op = 'Placeholder'
    del node.input[:]
    for key in list(attrs):
      del attrs[key]
    attrs['dtype'].type = tf.resource.as_datatype_enum
    attrs['shape'].shape.unknown_rank = False  # a scalar handle
  return graph_def, detached


def make_datasets(detached):
  """In the importing graph: the dataset variant of each factory."""
  return [tf.raw_ops.StatefulPartitionedCall(args=[], Tout=[tf.variant],
                                             f=d.factory)[0]
          for d in detached]


def eager_iterators(variants, detached):
  """Eager iterators over the datasets `variants` hold."""
  return [iter(tf.data.experimental.from_variant(variant, d.specs))
          for variant, d in zip(variants, detached)]


def resource(iterator):
  """What a detached iterator's input is fed: the iterator's resource."""
  return tf_internals.iterator_resource(iterator)
