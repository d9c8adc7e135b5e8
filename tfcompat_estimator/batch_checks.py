"""In-graph checks on the batch a step receives, before the model sees it.

An input_fn's batch sizes are usually unknown until run time (a Dataset's
last batch is short), so these checks are assertions that run in every step.
They gate the batch itself: each feature and label tensor is passed on through
an identity that waits for the assertion, so a step that uses the batch cannot
run without it. Where static shapes already decide, nothing is added.
"""

import collections
import itertools

import tensorflow as tf

from tfcompat_estimator import model_fn as model_fn_lib


def non_empty(features, labels, mode):
  """`(features, labels)`, gated on the batch having at least one example.

  A model trained or evaluated on a batch of zero examples does so silently:
  a mean over nothing, an update with zero gradients, a metric counting
  nothing (2.15 did). Train and evaluate steps refuse it; predict returns
  nothing for nothing, as before. The batch counts as empty only when every
  batched tensor (dense of rank >= 1, or sparse) has leading dimension 0, so
  side tensors of other sizes in a custom model_fn's features do not trip it.
  """
  if mode == model_fn_lib.ModeKeys.PREDICT:
    return features, labels
  named = _batched(features, 'feature') + _batched(labels, 'labels')
  if not named:
    return features, labels
  static = [_static_rows(value) for _, value in named]
  if any(rows for rows in static):
    return features, labels
  names = ', '.join(name for name, _ in named)
  message = (f'input_fn gave an empty batch (no examples) in mode {mode}: '
             f'{names} have batch size 0. Train and evaluate steps need at '
             'least one example per batch.')
  if all(rows == 0 for rows in static):
    raise ValueError(message)
  rows = _batch_sizes([value for _, value in named])
  assertion = tf.debugging.Assert(tf.reduce_any(rows > 0), [message])
  # A supervised step cannot finish without its labels, so gating them is
  # enough and keeps the per-step cost to one op (features may be many).
  if labels is not None:
    return features, _gated(labels, assertion)
  return _gated(features, assertion), labels


def same_batch_size(features, labels, keys):
  """`(features, labels)`, gated on `features[keys]` and labels sharing a size.

  For models that line their inputs up row by row (canned estimators): TF
  would otherwise fail deep inside the step, e.g. as a concat of mismatched
  shapes, naming neither the feature nor the labels.
  """
  read = {key: features[key] for key in keys if key in features}
  named = _batched(read, 'feature') + _batched(labels, 'labels')
  static = [_static_rows(value) for _, value in named]
  known = {rows for rows in static if rows is not None}
  if len(named) < 2 or (len(known) == 1 and None not in static):
    return features, labels
  header = 'Features and labels must have the same batch size, got:'
  if len(known) > 1:
    sizes = ', '.join(f'{name}: {rows}' for (name, _), rows in zip(named, static)
                      if rows is not None)
    raise ValueError(f'{header} {sizes}.')
  rows = _batch_sizes([value for _, value in named])
  names = ', '.join(name for name, _ in named)
  assertion = tf.debugging.Assert(
      tf.reduce_all(tf.equal(rows, rows[0])), [f'{header} ({names}):', rows],
      summarize=len(named))
  return _gated(features, assertion), _gated(labels, assertion)


def _gated(structure, assertion):
  """`structure` (tensors, sparse tensors, nests) waiting for `assertion`."""
  if structure is None:
    return None

  def gate(value):
    with tf.control_dependencies([assertion]):
      return tf.identity(value)

  return tf.nest.map_structure(gate, structure, expand_composites=True)


def _batched(structure, kind):
  """[(display name, tensor)] for the batched tensors in `structure`.

  Names are unquoted: TF escapes quotes in an assertion's message.
  """
  if structure is None:
    return []
  if isinstance(structure, dict):
    items = sorted(structure.items(), key=lambda item: str(item[0]))
    return [(f'{kind} {key}', value) for key, value in items
            if _is_batched(value)]
  if _is_batched(structure):
    return [(kind if kind == 'labels' else 'the features', structure)]
  return []


def _is_batched(value):
  if isinstance(value, tf.SparseTensor):
    return True
  return isinstance(value, tf.Tensor) and value.shape.rank != 0


def _static_rows(value):
  """The static batch size, or None when it is only known at run time."""
  shape = value.shape
  return None if shape.rank is None else shape[0]


def _batch_sizes(values):
  """An int64 vector of the run-time batch sizes of `values`, in order.

  These checks run in every step, so this is a handful of ops whatever the
  number of features: one ShapeN per dtype for the dense tensors, the sparse
  ones' dense_shape, and one gather of each leading dimension from their
  concat.
  """
  vectors = [v.dense_shape if isinstance(v, tf.SparseTensor) else None
             for v in values]
  by_dtype = collections.defaultdict(list)
  for i, value in enumerate(values):
    if vectors[i] is None:
      by_dtype[value.dtype].append(i)
  for indices in by_dtype.values():
    shapes = tf.shape_n([values[i] for i in indices], out_type=tf.int64)
    for i, shape in zip(indices, shapes):
      vectors[i] = shape
  ranks = [vector.shape[0] for vector in vectors]
  if None in ranks:  # a tensor of unknown rank: no static offsets
    return tf.stack([vector[0] for vector in vectors])
  offsets = [0] + list(itertools.accumulate(ranks))[:-1]
  return tf.gather(tf.concat(vectors, 0), offsets)
