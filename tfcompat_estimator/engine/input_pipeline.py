"""From an `input_fn` to a stream of batches.

Two kinds of input_fn exist in legacy code. Most return a `tf.data.Dataset`:
it is iterated eagerly and its iterator can be handed to compiled multi-step
loops. Older ones return tensors (often `make_one_shot_iterator(ds).get_next()`,
an initializable iterator, queues, or placeholders fed by a `FeedFnHook`):
each run of such tensors must yield the next batch, so the input_fn is re-run
inside a plain `tf.Graph`, which `engine/input_graph.py` runs as
its session did, keeping its state between steps.
"""

import time

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import distribution
from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import feature_keys
from tfcompat_estimator.engine import feed_values
from tfcompat_estimator.engine import input_graph as input_graph_lib
from tfcompat_estimator.engine import iterator_release
from tfcompat_estimator.engine import keras_names
from tfcompat_estimator.engine import parameter_servers
from tfcompat_estimator.engine import random_streams
from tfcompat_estimator.inputs import graph_queue
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform import tf_internals

ModeKeys = model_fn_lib.ModeKeys


def input_fn_result(input_fn, mode, params, config, input_context=None):
  """What `input_fn` returns, called with the arguments it declares."""
  return input_fn(**model_fn_lib.supported_kwargs(
      input_fn, mode=mode, params=params, config=config,
      input_context=input_context))


def call_input_fn(input_fn, mode, params, config, input_context=None):
  return feature_keys.encode_result(input_fn_result(input_fn, mode, params,
                                                    config, input_context))


def _split(element, mode):
  """(features, labels) from an input_fn result or dataset element."""
  if isinstance(element, (tuple, list)) and not hasattr(element, '_fields'):
    if len(element) == 2:
      features, labels = element
    elif len(element) == 1:
      features, labels = element[0], None
    else:
      raise ValueError(f'input_fn must return features or a len 2 tuple '
                       f'(features, labels); got a tuple of {len(element)} '
                       'items.')
  else:
    features, labels = element, None
  if mode == ModeKeys.PREDICT:
    labels = None
  if features is None:
    raise ValueError('input_fn returned no features (None).')
  return features, labels


def _as_tensors(value):
  """Python or numpy values in an input_fn result as constants, as 2.15 took them.

  Dicts, and tuples or lists holding tensors or arrays (an iterator's nested
  element, a multi-input Keras model's list of inputs), are entered item by
  item; anything else that is not yet a tensor is converted whole (a nested
  list of numbers is one labels array, not a structure).
  """
  if isinstance(value, dict):
    return {key: _as_tensors(item) for key, item in value.items()}
  if value is None or isinstance(value, (tf.SparseTensor, tf.RaggedTensor)) or tf.is_tensor(value):
    return value
  if isinstance(value, (tuple, list)) and any(
      tf.is_tensor(leaf) or isinstance(leaf, np.ndarray)
      for leaf in tf.nest.flatten(value)):
    return type(value)(_as_tensors(item) for item in value)
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
    # Under parameter servers the iterator's batches are read on the workers.
    self.on_workers = parameter_servers.is_strategy(strategy)
    self.input_graph = None  # an InputGraph, for input_fns returning tensors
    self._listed = None  # (features, labels) with lists tf.data cannot keep
    self._replicas = distribution.local_replicas(strategy)
    # The tf_keras names and op seeds the input_fn took, for the model graph
    # to go on after (2.15 built both in one graph).
    self.keras_names_taken = {}
    self.op_seeds_drawn = 0
    # The op whose outputs the batch was in 2.15's graph, if one op's:
    # `iterator_names`.
    self.batch_op_name = None
    args = (input_fn, mode, params, config, distribution.input_context(strategy))
    # A TF1 caller's input_fn is written for a graph and, as in 2.15, called
    # once, in one. A TF2 caller's is called eagerly, where a Dataset needs
    # no graph; only one returning tensors is then called again in a graph.
    if engine_scope.caller_builds_graphs():
      result = self._call_in_graph(*args)
    else:
      result = self._call_eagerly(*args)
      if not isinstance(result, tf.data.Dataset):
        result = self._call_in_graph(*args)
    if self.on_workers:
      self._iterate_on_workers(strategy, result, args)
    elif result is not None:
      self._iterate(result)

  def _iterate_on_workers(self, strategy, dataset, args):
    """Each worker calls the input_fn with its own input context."""
    if not isinstance(dataset, tf.data.Dataset):
      # (None: it returned tensors, now read through `input_graph`.)
      self.close()
      raise ValueError(
          'Under parameter-server training each worker reads its own input, '
          'so input_fn must return a tf.data.Dataset; it returned tensors '
          '(features and labels), which only this process could read.')
    self.features_spec, self.labels_spec = _split(dataset.element_spec,
                                                  self.mode)
    input_fn, mode, params, config, _ = args

    def worker_dataset(input_context):
      return call_input_fn(input_fn, mode, params, config,
                           input_context).prefetch(tf.data.AUTOTUNE)

    self.iterator = parameter_servers.per_worker_iterator(strategy,
                                                          worker_dataset)

  def _iterate(self, dataset):
    if self.mode == ModeKeys.PREDICT and _is_pair(dataset.element_spec):
      # The features are the pair's first item, whatever it holds: a
      # tuple of two there (TF-GAN's StarGAN predicts on (images,
      # domain labels)) is not split again.
      dataset = dataset.map(lambda *element: element[0])
      self.features_spec, self.labels_spec = dataset.element_spec, None
    else:
      self.features_spec, self.labels_spec = _split(dataset.element_spec,
                                                    self.mode)
    if self._listed is not None:  # the input_fn's lists, as specs
      self.features_spec, self.labels_spec = (
          None if spec is None else
          tf.nest.pack_sequence_as(value, tf.nest.flatten(spec))
          for value, spec in zip(self._listed, self.element_spec))
    dataset = distribution.group_for_replicas(dataset, self._replicas)
    if self.mode == ModeKeys.TRAIN:
      # Reading ahead lets tf.data's threads prepare the next batches while
      # a compiled step runs: the same elements in the same order, with the
      # input pipeline and the model overlapping on the machine's cores. It
      # also costs about 5 ms per iterator, which would lengthen the
      # first-result latency of predict() and every evaluate().
      dataset = dataset.prefetch(tf.data.AUTOTUNE)
    self.iterator = iter(dataset)
    self._iterator_created = time.monotonic()

  def _call_input_fn(self, *args):
    result, self.keras_names_taken = keras_names.call(
        lambda: call_input_fn(*args))
    self.op_seeds_drawn = tf_internals.op_seeds_drawn()
    # 2.15 read a Dataset through an iterator of the model's graph.
    self.batch_op_name = ('IteratorGetNext'
                          if isinstance(result, tf.data.Dataset) else None)
    return result

  def _call_eagerly(self, input_fn, mode, params, config, input_context):
    try:
      with tf_internals.graph_seed(config.tf_random_seed), (
          random_streams.eager_draws_start_afresh()):
        return self._call_input_fn(input_fn, mode, params, config,
                                   input_context)
    except RuntimeError as e:
      # Placeholders and queues cannot run eagerly; the graph path handles them.
      if 'eager' in str(e).lower():
        return None
      raise

  def _call_in_graph(self, input_fn, mode, params, config, input_context):
    """Calls input_fn in a plain tf.Graph, as 2.15 did.

    Returns an eager Dataset if input_fn returned a Dataset (the graph's
    dataset, run eagerly), else None, having set up `input_graph` to run the
    tensors it returned. Its tensors are hashable, so hooks can key
    feed_dicts by the placeholders input_fn created.
    """
    graph = tf.Graph()
    with graph.as_default():
      graph.seed = config.tf_random_seed
      result = self._call_input_fn(input_fn, mode, params, config,
                                   input_context)
      # numpy_input_fn's queued batch, as returned: read its rows eagerly.
      eager_batches = graph_queue.batches_behind(graph, result)
      if eager_batches is None:
        if mode == ModeKeys.PREDICT and not _ends(result, graph):
          # tf.compat.v1.logging, as 2.15 logged it (its tests patch that).
          tf.compat.v1.logging.warning(
              'Input graph does not use tf.data.Dataset or contain a '
              'QueueRunner. That means predict yields forever. This is '
              'probably a mistake.')
        if isinstance(result, tf.data.Dataset):
          # Read eagerly, as an eager dataset.
          if input_graph_lib.stands_alone(result):
            eager_batches = lambda: self.input_graph.dataset(result)
          elif input_graph_lib.reads_only_tables(result):
            eager_batches = lambda: self.input_graph.table_dataset(result)
    if eager_batches is not None:
      # The graph stays, for hooks that run its other tensors.
      self.input_graph = input_graph_lib.InputGraph(graph, [])
      return eager_batches()
    with graph.as_default():
      initializer = None
      if isinstance(result, tf.data.Dataset):
        # It reads a table or variable of the graph, which must be run in
        # the graph; 2.15 used an initializable iterator throughout.
        iterator = tf.compat.v1.data.make_initializable_iterator(result)
        initializer = iterator.initializer
        result = iterator.get_next()
      elif self._replicas > 1:
        raise ValueError(
            f'train_distribute has {self._replicas} local replicas, so '
            'input_fn must return a tf.data.Dataset (each replica draws its '
            f'own batch); it returned {type(result).__name__}.')
      features, labels = map(_as_tensors, _split(result, mode))
      # The input_fn's own iterator, its get_next() returned whole.
      self.batch_op_name = input_graph_lib.get_next_of(
          _present(features, labels))
    self.input_graph = input_graph_lib.InputGraph(graph, tf.nest.flatten(
        _present(features, labels), expand_composites=True))
    if initializer is None and (labels is not None or
                                not isinstance(features, (tuple, list))):
      # tf.data would pack a Python list of tensors into one tensor; the
      # model_fn gets the lists (TF-GAN's StarGAN input_fn returns a list
      # of images per domain), as in 2.15 (`_iterate`).
      batches = self.input_graph.iterator_dataset(_lists_as_tuples(
          features if labels is None else (features, labels)))
      if batches is not None:
        self._listed = (features, labels)
        return batches
    if initializer is not None:
      self.input_graph.run(initializer)
    self.features_spec = tf.nest.map_structure(_spec_of, features)
    self.labels_spec = (None if labels is None
                        else tf.nest.map_structure(_spec_of, labels))
    self.input_graph.start_queue_runners(tf.compat.v1.train.Coordinator())
    return None

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()

  def close(self):
    """Stops the input graph's queue runners, releases its functions and iterators.

    Otherwise they go only when the garbage collector breaks this object's
    reference cycles, which lets memory pile up over repeated calls.
    """
    if self.input_graph is not None:
      self.input_graph, input_graph = None, self.input_graph
      input_graph.close()
    # Stops its read-ahead thread and frees its buffer; off this thread,
    # since TF may take seconds to destroy it (`iterator_release`). A
    # parameter-server iterator lives on the workers and goes at once.
    self.iterator, iterator = None, self.iterator
    if iterator is not None and not self.on_workers:
      iterator_release.release(iterator, self._iterator_created)
    del iterator

  @property
  def element_spec(self):
    return self.features_spec, self.labels_spec

  def flat_batch(self, feed_dict=None):
    """The next batch as flat tensors; raises `EndOfInput` at its end."""
    if self.on_workers:
      raise RuntimeError('Under parameter-server training the batches are '
                         'read on the workers, not here.')
    if self.iterator is not None:
      if feed_dict:
        raise ValueError(
            'A hook passed feed_dict, but the input_fn returned a Dataset, '
            'which has no placeholders to feed.')
      try:
        element = next(self.iterator)
      except StopIteration:
        raise end_of_input.EndOfInput from None
      replica_elements = element if self._replicas > 1 else (element,)
      flat = []
      for replica_element in replica_elements:
        features, labels = (_split(replica_element, self.mode)
                            if self._has_labels() else (replica_element, None))
        flat += tf.nest.flatten(_present(features, labels), expand_composites=True)
      return flat
    feed_dict = {feed_values.feed_name(k): v for k, v in (feed_dict or {}).items()}
    for name in self.input_graph.per_step_placeholders:
      if name not in feed_dict:
        raise ValueError(f'input_fn placeholder {name} was not fed; a hook '
                         '(e.g. FeedFnHook) must feed it every step.')
    strangers = [k for k in feed_dict if not self.input_graph.is_placeholder(k)]
    if strangers:
      raise ValueError(f'feed_dict keys {strangers} are not placeholders '
                       'created by input_fn.')
    # The input graph's outputs are the batch flattened, composites
    # expanded, in `element_spec` order: as the steps take it. (Packed into
    # SparseTensors and flattened again, it cost wide_deep_sparse's TF1
    # queue input 1.5 ms a step.)
    return self.input_graph.next_batch(feed_dict)

  def _has_labels(self):
    return self.labels_spec is not None


def _ends(result, graph):
  """Whether input_fn's `result` can run out: a Dataset, an iterator's or a
  queue's tensors (2.15 looked at the top-level tensors only)."""
  if isinstance(result, tf.data.Dataset):
    return True
  if any(isinstance(t, tf.Tensor) and t.op.type == 'IteratorGetNext'
         for t in tf.nest.flatten(result)):
    return True
  return bool(graph.get_collection(tf.compat.v1.GraphKeys.QUEUE_RUNNERS))


def _lists_as_tuples(value):
  """`value` with its lists made tuples, which tf.data keeps as structure."""
  if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
    return tuple(_lists_as_tuples(item) for item in value)
  if isinstance(value, dict):
    return type(value)((k, _lists_as_tuples(v)) for k, v in value.items())
  return value


def _present(features, labels):
  """The parts of a batch that exist, in the order they are flattened."""
  return [features] + ([labels] if labels is not None else [])


def _is_pair(spec):
  return isinstance(spec, tuple) and not hasattr(spec, '_fields')


def _spec_of(value):
  if isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
    return tf.type_spec_from_value(value)
  return tf.TensorSpec(value.shape, value.dtype)
