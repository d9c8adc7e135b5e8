"""End-of-input and padding signals riding along a TPU prediction dataset.

A TPU loop cannot see a dataset end (an `OutOfRangeError` inside the loop
would lose the batches in flight) and runs only on full, statically shaped
batches. 2.15 therefore mapped every batch of a prediction input to
`{'features', 'labels', 'signals'}`: `signals['stopping']` is False on the
user's batches and True on extra batches appended after them, and with
padding a short last batch is filled up to `batch_size` and
`signals['padding_mask']` marks the filler rows (1) so they can be sliced
off the predictions.

A CPU/GPU run does not need this (the engine ends at `OutOfRangeError` and
takes any batch size); programs and tests that build TPU inputs themselves
use these classes, under their 2.15 names in `tpu_estimator`.
"""

import tensorflow as tf


def _split_features_labels(element):
  """`(features, labels)` of a dataset element; a 2-tuple holds labels."""
  if isinstance(element, tuple) and len(element) == 2:
    return element
  return element, None


class _StopSignals:
  """The `stopping` signal of a batch: `[batch_size, 1]` booleans.

  Args:
    stop: Whether this batch is an end-of-input batch.
    batch_size: Rows of the batch.
    padding_mask: The batch's `[batch_size]` padding mask, or None.
  """

  NON_STOPPING_SIGNAL = False
  STOPPING_SIGNAL = True

  def __init__(self, stop, batch_size, padding_mask=None):
    self._stop = stop
    self._batch_size = batch_size
    self._padding_mask = padding_mask

  def as_dict(self):
    """The signals: `{'stopping': ..., 'padding_mask': ...}` (mask if any)."""
    fill = tf.ones if self._stop else tf.zeros
    signals = {'stopping': fill([self._batch_size, 1], dtype=tf.bool)}
    if self._padding_mask is not None:
      signals['padding_mask'] = self._padding_mask
    return signals

  @staticmethod
  def as_scalar_stopping_signal(signals):
    """One scalar for the whole batch (all rows agree)."""
    return tf.identity(signals['stopping'][0][0])

  @staticmethod
  def should_stop(scalar_stopping_signal):
    """Whether a scalar signal says stop: a Tensor in a graph, else a bool."""
    if isinstance(scalar_stopping_signal, tf.Tensor):
      return tf.math.logical_and(scalar_stopping_signal,
                                 _StopSignals.STOPPING_SIGNAL)
    return bool(scalar_stopping_signal)


class _PaddingSignals:
  """Filling short batches up to the batch size, and slicing them back."""

  @staticmethod
  def pad_features_and_labels(features, labels, batch_size):
    """Pads every tensor's first dimension to `batch_size` with zeros.

    Args:
      features: A tensor or nest of tensors, all with the same batch rows.
      labels: The same, or None.
      batch_size: The full batch size.

    Returns:
      `(padding_mask, features, labels)`: the mask is int32 `[batch_size]`,
      1 on the added rows; the tensors have static batch dimension
      `batch_size`.

    Raises:
      ValueError: `features` holds no tensor.
      InvalidArgumentError (when run): a batch is larger than `batch_size`.
    """
    tensors = [t for t in tf.nest.flatten(features)
               if isinstance(t, tf.Tensor)]
    if not tensors:
      raise ValueError('Cannot find any Tensor in features dict.')
    real_rows = tf.shape(tensors[0])[0]
    full_rows = tf.constant(batch_size, tf.int32)
    check = tf.debugging.assert_greater_equal(
        full_rows, real_rows,
        message='The real batch size should not be greater than batch_size.')
    with tf.control_dependencies([check]):
      missing = full_rows - real_rows

    def pad(tensor):
      rank = len(tensor.shape)
      padded = tf.pad(tensor, tf.stack([[0, missing]] + [[0, 0]] * (rank - 1)))
      padded.set_shape((batch_size,) + tuple(tensor.shape[1:]))
      return padded

    features = tf.nest.map_structure(pad, features)
    if labels is not None:
      labels = tf.nest.map_structure(pad, labels)
    mask = tf.concat([tf.zeros((real_rows,), tf.int32),
                      tf.ones((missing,), tf.int32)], axis=0)
    mask.set_shape((batch_size,))
    return mask, features, labels

  @staticmethod
  def slice_tensor_or_dict(tensor_or_dict, signals):
    """Drops the padded rows of a (nest of) batch tensor(s).

    Full batches and end-of-input batches are returned whole; a padded
    batch is cut to its real rows, which come first.

    Args:
      tensor_or_dict: Tensors with the batch's rows.
      signals: The batch's signals, with `padding_mask`.

    Returns:
      The same structure, sliced.
    """
    mask = signals['padding_mask']
    real_rows = tf.shape(mask)[0] - tf.reduce_sum(mask)
    keep_whole = tf.math.logical_or(
        _StopSignals.should_stop(_StopSignals.as_scalar_stopping_signal(
            signals)),
        tf.equal(tf.reduce_sum(mask), 0))
    return tf.nest.map_structure(
        lambda t: tf.compat.v1.cond(keep_whole, lambda: tf.identity(t),
                                    lambda: t[:real_rows]),
        tensor_or_dict)


class _InputsWithStoppingSignals:
  """A dataset's batches with signals, then end-of-input batches.

  Args:
    dataset: The input_fn's dataset: features, or `(features, labels)`.
    batch_size: Rows per batch.
    add_padding: Pad short batches to `batch_size` (and add
      `signals['padding_mask']`).
    num_invocations_per_step: How many batches one TPU step consumes; the
      end-of-input batches are enough to finish a partly filled step and
      fill one more (`2 * n - 1`), all masked as padding.
  """

  def __init__(self, dataset, batch_size, add_padding=False,
               num_invocations_per_step=1):
    if dataset is None:
      raise ValueError('_InputsWithStoppingSignals needs a dataset.')
    if num_invocations_per_step > 1 and not add_padding:
      raise ValueError('num_invocations_per_step > 1 masks the end-of-input '
                       'batches as padding: pass add_padding=True.')

    def with_signals(stop):
      def to_dict(*element):
        features, labels = _split_features_labels(
            element[0] if len(element) == 1 else element)
        mask = None
        if add_padding:
          mask, features, labels = _PaddingSignals.pad_features_and_labels(
              features, labels, batch_size)
        inputs = {'features': features}
        if labels is not None:
          inputs['labels'] = labels
        inputs['signals'] = _StopSignals(stop, batch_size, mask).as_dict()
        return inputs
      return to_dict

    # The end-of-input batches reuse the first batch's shapes and values.
    tail = dataset.take(1).map(with_signals(stop=True))
    if num_invocations_per_step > 1:
      tail = tail.repeat(2 * num_invocations_per_step - 1).map(_mask_all)
    self._dataset = dataset.map(with_signals(stop=False)).concatenate(
        tail).prefetch(2)
    self._iterator = tf.compat.v1.data.make_initializable_iterator(
        self._dataset)
    self._current = None

  @property
  def dataset(self):
    return self._dataset

  def dataset_initializer(self):
    """The op that (re)starts the iterator."""
    return self._iterator.initializer

  def features_and_labels(self):
    """The next batch's `(features, labels)`; call `signals()` next."""
    if self._current is not None:
      raise RuntimeError(
          'Internal Error: The previous inputs have not been properly '
          'consumed. First call features_and_labels, then call signals.')
    self._current = self._iterator.get_next()
    return self._current['features'], self._current.get('labels')

  def signals(self):
    """The signals of the batch `features_and_labels()` returned."""
    if self._current is None:
      raise RuntimeError(
          'Internal Error: The current inputs have not been properly '
          'generated. First call features_and_labels, then call signals.')
    signals, self._current = self._current['signals'], None
    return signals


def _mask_all(inputs):
  """Marks every row of an end-of-input batch as padding."""
  signals = dict(inputs['signals'])
  signals['padding_mask'] = tf.ones_like(signals['padding_mask'])
  return dict(inputs, signals=signals)
