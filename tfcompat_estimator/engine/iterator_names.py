"""A batch under the names 2.15 gave it: an iterator's `IteratorGetNext:k`.

2.15 read an input_fn's Dataset in the model's own graph, through
`make_initializable_iterator(dataset).get_next()`: the model_fn's features
and labels were the outputs of one op named `IteratorGetNext`, one output
per component in `tf.nest.flatten` order (dict keys sorted, labels after
features), a sparse or ragged component as one variant output that later
ops decoded. So were they when a TF1 input_fn returned its own iterator's
`get_next()` whole, under that op's name. Programs count on those names:
they restore a checkpoint's `.meta`, or freeze graph.pbtxt with a
checkpoint, and run the model by feeding `IteratorGetNext:0` (BERT
classifiers frozen for serving, CTR models predicting from checkpoints).

Here the batch enters the captured graph as the function's placeholders.
`name_batch` passes it through one function call op of that name, so the
model_fn sees 2.15's tensor names, and `as_tf1_iterator` makes that op an
`IteratorGetNext` reading an `IteratorV2` in the TF1 graph written beside
the checkpoints. (Not an `IdentityN`: graph walkers step through those to
their first input.) As in 2.15, that iterator holds nothing until fed:
programs feed its outputs (2.15 initialized it from a hook, with the
dataset's ops in the graph; here the dataset runs outside it).
"""

import tensorflow as tf

from tfcompat_estimator.platform import tf_internals

_ITERATOR_NAME = 'IteratorV2'
# The dense components' placeholders are named `<op name>/component_<k>`:
# named, they leave `Placeholder` and its successors to the model_fn's own
# placeholders, as in 2.15's graph, where the input held none.
_COMPONENT = '/component_'


def named_signature(signature, op_name):
  """`signature` (a list of specs) with its dense components' names set."""
  flat = tf.nest.flatten(signature)
  named = [
      tf.TensorSpec(spec.shape, spec.dtype, name=f'{op_name}{_COMPONENT}{i}')
      if type(spec) is tf.TensorSpec else spec  # pylint: disable=unidiomatic-typecheck
      for i, spec in enumerate(flat)]
  return tf.nest.pack_sequence_as(signature, named)


def name_batch(features, labels, op_name):
  """`(features, labels)` as the outputs of one op named `op_name`.

  A composite component (sparse, ragged) keeps its own tensors; the op's
  output at its index passes one of its parts along, unused, so that the
  dense components keep 2.15's indices.
  """
  batch = (features,) if labels is None else (features, labels)
  components = tf.nest.flatten(batch)
  if not components:
    return features, labels
  inputs = []
  for component in components:
    if isinstance(component, tf.Tensor):
      inputs.append(component)
    else:
      parts = tf.nest.flatten(component, expand_composites=True)
      if not parts:
        return features, labels
      inputs.append(parts[0])
  outputs = tf_internals.pass_through(inputs, op_name)
  named = [output if isinstance(component, tf.Tensor) else component
           for component, output in zip(components, outputs)]
  batch = tf.nest.pack_sequence_as(batch, named)
  return batch if labels is not None else (batch[0], None)


def as_tf1_iterator(graph_def):
  """Makes `graph_def`'s batch call an iterator's `IteratorGetNext`.

  Its dense components' placeholders go; a composite component's output
  becomes the variant 2.15's iterator gave. Does nothing to a graph whose
  batch `name_batch` did not name.
  """
  nodes = {node.name: node for node in graph_def.node}
  get_next = next((node for node in graph_def.node
                   if node.op == 'PartitionedCall' and
                   any(_is_component(nodes.get(name), node.name)
                       for name in node.input)), None)
  if get_next is None:
    return
  shapes = list(get_next.attr['_output_shapes'].list.shape)
  types = list(get_next.attr['Tout'].list.type)
  passed = get_next.attr['f'].func.name
  dropped = set()
  for i, source in enumerate(get_next.input):
    placeholder = nodes.get(source.split(':')[0])
    if _is_component(placeholder, get_next.name):
      dropped.add(placeholder.name)
    else:
      types[i] = tf.variant.as_datatype_enum
      shapes[i].Clear()
      shapes[i].unknown_rank = True
  iterator_name, n = _ITERATOR_NAME, 0
  while iterator_name in nodes:
    n += 1
    iterator_name = f'{_ITERATOR_NAME}_{n}'
  iterator = tf.compat.v1.NodeDef(name=iterator_name, op='IteratorV2')
  iterator.attr['shared_name'].s = b''
  iterator.attr['container'].s = b''
  iterator.attr['_output_shapes'].list.shape.add()
  get_next.op = 'IteratorGetNext'
  del get_next.input[:]
  get_next.input.append(iterator_name)
  for attr in ('Tin', 'Tout', 'f', 'config', 'config_proto', 'executor_type'):
    del get_next.attr[attr]
  kept_functions = [f for f in graph_def.library.function
                    if f.signature.name != passed]
  del graph_def.library.function[:]
  graph_def.library.function.extend(kept_functions)
  for node in (iterator, get_next):
    node.attr['output_types'].list.type[:] = types
    node.attr['output_shapes'].list.shape.extend(shapes)
  kept = [node for node in graph_def.node if node.name not in dropped]
  del graph_def.node[:]
  graph_def.node.extend([iterator] + kept)


def _is_component(node, op_name):
  """Whether `node` is a dense component's placeholder of batch `op_name`."""
  return (node is not None and node.op == 'Placeholder' and
          node.name.startswith(op_name + _COMPONENT))
