"""The TF1-graph form of `numpy_input_fn` and `pandas_input_fn`: a queue.

Called in a plain `tf.Graph` (a TF1 program, or a test driving its own
`tf.compat.v1.Session`), 2.15's input functions returned tensors dequeued from
a FIFO queue (a shuffling queue with `shuffle=True`) that a queue runner kept
filled, and summarized how full the queue was. Code written for that graph
runs `start_queue_runners`, expects `OutOfRangeError` after the last batch and
reads the fill-fraction summary in TensorBoard, so the graph form keeps all
three. The rows are those of the eager form, in the same order: a queue
runner enqueues chunks of them and closes the queue at the end of the data,
and `dequeue_up_to` then hands out the rest before raising `OutOfRangeError`.

The Estimator skips the queue when an input_fn returns these tensors as they
are (`batches_behind`): it reads the eager form's Dataset instead, which its
compiled loops run several steps per call, while queued tensors cost a
function call per batch and per enqueue. Measured on a DNNClassifier in TF1
mode, 2,000 steps of 32 rows took 0.7 s from the Dataset, 1.9 s through the
queue and 0.9 s on 2.15. The price: with no queue running, the Estimator's
events have no fill-fraction summary.
"""

import importlib

import tensorflow as tf

_v1 = tf.compat.v1


def __getattr__(name):  # pylint: disable=invalid-name
  # This module stands at 2.15's `inputs/queues/feeding_functions` path,
  # whose one public name was this flag.
  if name == 'HAS_PANDAS':
    return importlib.import_module(
        'tfcompat_estimator.inputs.pandas_io').HAS_PANDAS
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
# Graph collection of `_Queued` records, one per `dequeue_batch`.
_QUEUED = 'tfcompat_queued_batches'


class _Queued:
  """A dequeued batch's flat tensors, their Dataset's maker, the queue's graph parts."""

  def __init__(self, tensors, eager_batches, runner, summary):
    self.tensors = tensors
    self.eager_batches = eager_batches
    self.runner = runner
    self.summary = summary


def wanted():
  """Whether the caller builds a TF1 graph (not eager, not a tf.function)."""
  return (not tf.executing_eagerly() and
          not _v1.get_default_graph().building_function)


def shuffle_seed():
  """A shuffle seed drawn from the graph's seed, as its own ops draw theirs.

  The one op seed 2.15's shuffling queue drew; `dequeue_batch` gives it
  that queue. None when the graph has no seed (a RunConfig without
  `tf_random_seed`).
  """
  return _v1.get_seed(None)[1]


def batches_behind(graph, result):
  """What makes the eager Dataset of the batches `result` dequeues, if untouched.

  The queue is then taken out of service: its runner and its summary leave
  the graph's collections, so nothing starts the one or writes the other.

  Args:
    graph: the graph the input_fn built.
    result: what it returned.

  Returns:
    A function of no arguments that, called eagerly, returns a
    `tf.data.Dataset` giving the same batches as `result`, or None if
    `result` is anything else (e.g. the tensors transformed).
  """
  flat = tf.nest.flatten(result)
  for queued in graph.get_collection(_QUEUED):
    if len(flat) == len(queued.tensors) and all(
        a is b for a, b in zip(flat, queued.tensors)):
      graph.get_collection_ref(_v1.GraphKeys.QUEUE_RUNNERS).remove(
          queued.runner)
      graph.get_collection_ref(_v1.GraphKeys.SUMMARIES).remove(queued.summary)
      return queued.eager_batches
  return None


def dequeue_batch(chunks, eager_batches, batch_size, num_epochs, shuffle,
                  queue_capacity, num_threads, seed=None):
  """One batch of rows, dequeued from a queue that the graph fills.

  Args:
    chunks: `tf.data.Dataset` of the rows in reading order, in chunks of
      `batch_size` (2.15's feeders enqueued that many rows at a time).
    eager_batches: a function of no arguments that, called eagerly, returns
      the `tf.data.Dataset` giving the same batches, for the Estimator.
    batch_size, num_epochs, shuffle, queue_capacity, num_threads: as in
      `numpy_input_fn`; `chunks` already repeats for `num_epochs`.
    seed: the shuffling queue's op seed (`shuffle_seed()`).

  Returns:
    A nest of tensors like an element of `chunks`; each evaluation gives the
    next batch.
  """
  flat_specs = tf.nest.flatten(chunks.element_spec)
  dtypes = [spec.dtype for spec in flat_specs]
  shapes = [spec.shape[1:] for spec in flat_specs]
  with tf.name_scope('enqueue_input'):
    if shuffle:
      min_after_dequeue = int(queue_capacity / 4)
      queue = tf.queue.RandomShuffleQueue(queue_capacity, min_after_dequeue,
                                          dtypes=dtypes, shapes=shapes,
                                          seed=seed)
    else:
      min_after_dequeue = 0
      queue = tf.queue.FIFOQueue(queue_capacity, dtypes=dtypes, shapes=shapes)
    graph = _v1.get_default_graph()
    graph_seed, graph.seed = graph.seed, None
    try:
      # Without the graph's seed, the iterator draws no op seed from it:
      # 2.15's feeders drew none, and the model's unseeded initializers
      # then drew 2.15's (the weights of a seeded RunConfig).
      iterator = _v1.data.make_one_shot_iterator(chunks)
    finally:
      graph.seed = graph_seed
    chunk = tf.nest.flatten(iterator.get_next())
    enqueue = queue.enqueue_many(chunk)
    runner = _v1.train.QueueRunner(queue, [enqueue] * max(num_threads, 1))
    _v1.train.add_queue_runner(runner)
    # The tag 2.15 wrote, e.g.
    # 'enqueue_input/queue/enqueue_input/fifo_queuefraction_over_0_of_1000_full'.
    room = queue_capacity - min_after_dequeue
    full = tf.cast(tf.maximum(0, queue.size() - min_after_dequeue),
                   tf.float32) * (1. / room)
    summary = _v1.summary.scalar(
        f'queue/{queue.name}fraction_over_{min_after_dequeue}_of_{room}_full',
        full)
  # An endless stream always has a full batch, which gives a static size.
  batch = (queue.dequeue_many(batch_size) if num_epochs is None
           else queue.dequeue_up_to(batch_size))
  if not isinstance(batch, (list, tuple)):
    batch = [batch]
  _v1.add_to_collection(_QUEUED, _Queued(list(batch), eager_batches, runner,
                                         summary))
  return tf.nest.pack_sequence_as(chunks.element_spec, list(batch))
