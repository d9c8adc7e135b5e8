"""TF1 graph semantics for the model graphs we capture as function graphs.

2.15 called the model_fn inside a plain `tf.Graph`. There, tensors and
variables hash by identity and `==` compares identity, so legacy code keys
dicts by tensors (`LoggingTensorHook(tensors=[loss, acc])` builds one), tests
`tensor in some_list`, and reads `variable.op.name` or `variable.graph`. We
capture the model_fn in a function graph with its variables lifted out as
eager resources, where TensorFlow makes all of that fail ("Tensor is
unhashable") because it assumes TF2 code.

This module is the one seam that restores those semantics, and only for what
the capture marks: tensors of a marked graph and the variables lifted out of
it. Every other tensor and variable in the process (the user's own eager
tensors, tf.function graphs) keeps TensorFlow's rules.
"""

import types

from tensorflow.python.framework import ops
from tensorflow.python.ops import resource_variable_ops

_MARK = '_tfcompat_tf1_semantics'


def mark(graph):
  """Gives `graph`'s tensors identity hashing and equality, as in a tf.Graph."""
  setattr(graph, _MARK, True)


def _marked_tensor(tensor):
  return getattr(getattr(tensor, 'graph', None), _MARK, False)


def _marked_variable(variable):
  return getattr(variable, _MARK, None) is not None


def lift(variable, graph, key):
  """Makes a variable lifted out of `graph` answer like one living in it.

  It gets identity hashing (a resource variable; a strategy's mirrored one
  keeps TF's rules) and equality, `.graph` (the capture graph) and an
  `.op` whose `.name` is `key`, its unique checkpoint key. TF's v1 optimizers
  key their slots by `(op.graph, op.name)` when `.op` exists, so the name must
  be unique: a lifted variable's own name need not be.
  """
  setattr(variable, _MARK, (graph, key))
  variable.__class__ = _answering_graph_queries(type(variable))


_CLASSES = {}


def _answering_graph_queries(cls):
  """A subclass of `cls` whose instances answer `.op` and `.graph`."""
  if cls not in _CLASSES:

    def op(self):
      graph, key = getattr(self, _MARK)
      return types.SimpleNamespace(name=key, graph=graph, type='VarHandleOp')

    def graph(self):
      return getattr(self, _MARK)[0]

    _CLASSES[cls] = type(cls.__name__, (cls,), {
        'op': property(op), 'graph': property(graph),
        '__module__': cls.__module__})
  return _CLASSES[cls]


def _identity_for(is_marked, cls):
  """Wraps `cls`'s hash and (in)equality to use identity for marked objects."""
  tf_hash, tf_eq, tf_ne = cls.__hash__, cls.__eq__, cls.__ne__

  def __hash__(self):  # pylint: disable=invalid-name
    return id(self) if is_marked(self) else tf_hash(self)

  def __eq__(self, other):  # pylint: disable=invalid-name
    return self is other if is_marked(self) else tf_eq(self, other)

  def __ne__(self, other):  # pylint: disable=invalid-name
    return self is not other if is_marked(self) else tf_ne(self, other)

  cls.__hash__, cls.__eq__, cls.__ne__ = __hash__, __eq__, __ne__


_identity_for(_marked_tensor, ops.SymbolicTensor)
_identity_for(_marked_variable, resource_variable_ops.BaseResourceVariable)
