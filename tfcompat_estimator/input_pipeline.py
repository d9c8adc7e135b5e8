"""From an `input_fn` to a stream of batches.

Two kinds of input_fn exist in legacy code. Most return a `tf.data.Dataset`:
it is iterated eagerly and its iterator can be handed to compiled multi-step
loops. Older ones return tensors (often `make_one_shot_iterator(ds).get_next()`
or placeholders fed by a `FeedFnHook`): each call of such tensors must yield the
next batch, so the input_fn is re-run inside a wrapped graph and that graph is
called once per step, keeping its iterator state between calls.
"""

import weakref

import tensorflow as tf
from tensorflow.python.eager import context as tf_context

from tfcompat_estimator import distribution
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator import one_shot_iterators
from tfcompat_estimator.session_emulation import graph_prune

ModeKeys = model_fn_lib.ModeKeys


def call_input_fn(input_fn, mode, params, config, input_context=None):
  return input_fn(**model_fn_lib.supported_kwargs(
      input_fn, mode=mode, params=params, config=config,
      input_context=input_context))


def _split(element, mode):
  """(features, labels) from an input_fn result or dataset element."""
  if isinstance(element, (tuple, list)) and not hasattr(element, '_fields'):
    if len(element) == 2:
      features, labels = element
    elif len(element) == 1:
      features, labels = element[0], None
    else:
      raise ValueError(f'input_fn must return features or (features, labels); '
                       f'got a tuple of {len(element)} items.')
  else:
    features, labels = element, None
  if mode == ModeKeys.PREDICT:
    labels = None
  if features is None:
    raise ValueError('input_fn returned no features (None).')
  return features, labels


def _as_tensors(value):
  """Python or numpy values in an input_fn result as constants, as 2.15 took them.

  Dicts are entered key by key; anything else that is not yet a tensor is
  converted whole (a nested list is one labels array, not a structure).
  """
  if isinstance(value, dict):
    return {key: _as_tensors(item) for key, item in value.items()}
  if value is None or isinstance(value, (tf.SparseTensor, tf.RaggedTensor)) or tf.is_tensor(value):
    return value
  return tf.convert_to_tensor(value)


class BatchSource:
  """Yields `(features, labels)` batches for one call of train/evaluate/predict.

  `iterator` is set for datasets (compiled loops may consume it directly);
  `next_batch` serves the single-step path and accepts a hook's `feed_dict`.
  Under a training strategy each element holds one batch per local replica;
  `features_spec`/`labels_spec` describe one of them.
  """

  def __init__(self, input_fn, mode, params, config):
    self.mode = mode
    strategy = distribution.strategy_for(mode, config)
    self.iterator = None
    self._producer = None
    self._release = lambda: None
    self._replicas = distribution.local_replicas(strategy)
    result = self._call_eagerly(input_fn, mode, params, config,
                                distribution.input_context(strategy))
    if isinstance(result, tf.data.Dataset):
      dataset = result
      if mode == ModeKeys.PREDICT and _is_pair(dataset.element_spec):
        dataset = dataset.map(lambda *element: element[0])
      self.features_spec, self.labels_spec = _split(dataset.element_spec, mode)
      dataset = distribution.group_for_replicas(dataset, self._replicas)
      if mode == ModeKeys.TRAIN:
        # Reading ahead lets tf.data's threads prepare the next batches while
        # a compiled step runs: the same elements in the same order, with the
        # input pipeline and the model overlapping on the machine's cores. It
        # also costs about 5 ms per iterator, which would lengthen the
        # first-result latency of predict() and every evaluate().
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
      self.iterator = iter(dataset)
    elif self._replicas > 1:
      raise ValueError(
          f'train_distribute has {self._replicas} local replicas, so input_fn '
          'must return a tf.data.Dataset (each replica draws its own batch); '
          f'it returned {type(result).__name__}.')
    else:
      self._build_graph_producer(input_fn, mode, params, config)

  @staticmethod
  def _call_eagerly(input_fn, mode, params, config, input_context):
    try:
      return call_input_fn(input_fn, mode, params, config, input_context)
    except RuntimeError as e:
      # Placeholders and queues cannot run eagerly; the graph path handles them.
      if 'eager' in str(e).lower():
        return None
      raise

  def _build_graph_producer(self, input_fn, mode, params, config):
    # Built in a plain tf.Graph, as 2.15 did: its tensors are hashable, so
    # hooks can key feed_dicts by the placeholders input_fn created.
    graph = tf.Graph()
    with graph.as_default():
      result = call_input_fn(input_fn, mode, params, config)
      if isinstance(result, tf.data.Dataset):
        result = tf.compat.v1.data.make_one_shot_iterator(result).get_next()
      features, labels = map(_as_tensors, _split(result, mode))
    self._graph = graph  # keeps py_func callbacks (from_generator) registered
    placeholders = [op.outputs[0].name for op in graph.get_operations()
                    if op.type == 'Placeholder']
    outputs = [t.name for t in tf.nest.flatten(_present(features, labels),
                                               expand_composites=True)]
    graph_def, detached = one_shot_iterators.detach(graph.as_graph_def())
    context = tf_context.context()
    self._release = weakref.finalize(self, _unregister, [
        f.signature.name for f in graph_def.library.function
        if not context.has_function(f.signature.name)])

    def build():
      tf.graph_util.import_graph_def(graph_def, name='')
      return one_shot_iterators.make_datasets(detached)

    wrapped = tf.compat.v1.wrap_function(build, signature=[])
    self._iterators = one_shot_iterators.eager_iterators(wrapped(), detached)
    self._placeholder_names = placeholders
    self._placeholder_dtypes = [graph.as_graph_element(n).dtype for n in placeholders]
    self.features_spec = tf.nest.map_structure(_spec_of, features)
    self.labels_spec = (None if labels is None
                        else tf.nest.map_structure(_spec_of, labels))
    self._structure = _present(self.features_spec, self.labels_spec)
    self._producer = graph_prune.prune(
        wrapped, [wrapped.graph.as_graph_element(n) for n in
                  placeholders + [d.input_name for d in detached]],
        [wrapped.graph.as_graph_element(n) for n in outputs])

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()

  def close(self):
    """Releases the input graph's functions and iterators now.

    Otherwise they go only when the garbage collector breaks this object's
    reference cycles, which lets memory pile up over repeated calls.
    """
    self._release()
    self._producer = None
    self._iterators = []
    self.iterator = None  # stops its read-ahead thread and frees its buffer

  @property
  def element_spec(self):
    return self.features_spec, self.labels_spec

  def flat_batch(self, feed_dict=None):
    """The next batch as flat tensors; raises StopIteration at end of input."""
    if self.iterator is not None:
      if feed_dict:
        raise ValueError(
            'A hook passed feed_dict, but the input_fn returned a Dataset, '
            'which has no placeholders to feed.')
      element = next(self.iterator)
      replica_elements = element if self._replicas > 1 else (element,)
      flat = []
      for replica_element in replica_elements:
        features, labels = (_split(replica_element, self.mode)
                            if self._has_labels() else (replica_element, None))
        flat += tf.nest.flatten(_present(features, labels), expand_composites=True)
      return flat
    values = []
    feed_dict = {_feed_name(k): v for k, v in (feed_dict or {}).items()}
    for name, dtype in zip(self._placeholder_names, self._placeholder_dtypes):
      if name not in feed_dict:
        raise ValueError(f'input_fn placeholder {name} was not fed; a hook '
                         '(e.g. FeedFnHook) must feed it every step.')
      values.append(tf.convert_to_tensor(feed_dict.pop(name), dtype))
    if feed_dict:
      raise ValueError(f'feed_dict keys {list(feed_dict)} are not placeholders '
                       'created by input_fn.')
    try:
      flat = self._producer(*values, *map(one_shot_iterators.resource,
                                          self._iterators))
    except tf.errors.OutOfRangeError:
      raise StopIteration from None
    return tf.nest.flatten(tf.nest.pack_sequence_as(self._structure, flat,
                                                    expand_composites=True),
                           expand_composites=True)

  def _has_labels(self):
    return self.labels_spec is not None


def _unregister(names):
  """Removes an input graph's own functions from the eager context.

  TF registers a graph's library functions for every function importing the
  graph and never removes them (the dataset factory holds the input's data):
  megabytes per call. Only functions new with the graph are passed here, so
  nothing registered by anyone else is touched.
  """
  context = tf_context.context()
  for name in names:
    while context.has_function(name):
      context.remove_function(name)


def _present(features, labels):
  """The parts of a batch that exist, in the order they are flattened."""
  return [features] + ([labels] if labels is not None else [])


def _feed_name(key):
  """feed_dict keys may be tensor names, tensors or their `.ref()`s."""
  if isinstance(key, str):
    return key if ':' in key else key + ':0'
  key = key.deref() if hasattr(key, 'deref') else key
  return key.name


def _is_pair(spec):
  return isinstance(spec, tuple) and not hasattr(spec, '_fields')


def _spec_of(value):
  if isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
    return tf.type_spec_from_value(value)
  return tf.TensorSpec(value.shape, value.dtype)
