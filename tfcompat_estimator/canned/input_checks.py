"""Checks that the features fed to a canned estimator fit its feature columns.

TensorFlow's feature-column code reports a bad feature late and vaguely: a
string fed to a numeric column fails inside the training step as "Cast string
to float is not supported", a feature of the wrong width as a failed reshape of
an anonymous node. The canned `model_fn`s call `checked` once, before
building the model, so such mistakes fail at graph-build time (no run-time
cost) with a message naming the feature key, the column that reads it, and
what was expected.

Static dtypes, ranks and sizes are checked when the graph is built. Two
checks run in every step, because the values are unknown until then: the
features read and the labels have one batch size, and (for DNN towers)
numeric inputs are finite. `batch_checks` places them so the model need not
wait for them.
"""

import collections
import functools
import math

import tensorflow as tf
from tensorflow.python.feature_column import feature_column as fc_v1
from tensorflow.python.feature_column import feature_column_v2 as fc_v2
from tensorflow.python.feature_column import sequence_feature_column as fc_seq

from tfcompat_estimator.engine import batch_checks
from tfcompat_estimator.model_fn import ModeKeys
from tfcompat_estimator.platform import tf_internals

_NUMERIC = (fc_v2.NumericColumn, fc_seq.SequenceNumericColumn,
            fc_v1._NumericColumn)  # pylint: disable=protected-access
_CATEGORICAL = (
    fc_v2.IdentityCategoricalColumn, fc_v2.VocabularyListCategoricalColumn,
    fc_v2.VocabularyFileCategoricalColumn, fc_v2.HashedCategoricalColumn,
    fc_v1._IdentityCategoricalColumn, fc_v1._VocabularyListCategoricalColumn,  # pylint: disable=protected-access
    fc_v1._VocabularyFileCategoricalColumn, fc_v1._HashedCategoricalColumn)  # pylint: disable=protected-access
_IDENTITY = (fc_v2.IdentityCategoricalColumn,
             fc_v1._IdentityCategoricalColumn)  # pylint: disable=protected-access
_CROSSED = (fc_v2.CrossedColumn, fc_v1._CrossedColumn)  # pylint: disable=protected-access
_WEIGHTED = (fc_v2.WeightedCategoricalColumn,
             fc_v1._WeightedCategoricalColumn)  # pylint: disable=protected-access
# Dense columns that turn a categorical column's ids into one row per example.
_DENSE_WRAPPERS = (fc_v2.IndicatorColumn, fc_v2.EmbeddingColumn,
                   fc_v2.SharedEmbeddingColumn, fc_v1._IndicatorColumn,  # pylint: disable=protected-access
                   fc_v1._EmbeddingColumn, fc_v1._SharedEmbeddingColumn)  # pylint: disable=protected-access
# Columns whose raw inputs are variable-length sequences (SparseTensors).
_SEQUENCE = (fc_seq.SequenceNumericColumn, fc_v2.SequenceCategoricalColumn,
             fc_v1._SequenceCategoricalColumn)  # pylint: disable=protected-access

# Constructor names, so messages read like the user's own code.
_CONSTRUCTORS = {
    'NumericColumn': 'numeric_column',
    'SequenceNumericColumn': 'sequence_numeric_column',
    'IdentityCategoricalColumn': 'categorical_column_with_identity',
    'VocabularyListCategoricalColumn':
        'categorical_column_with_vocabulary_list',
    'VocabularyFileCategoricalColumn':
        'categorical_column_with_vocabulary_file',
    'HashedCategoricalColumn': 'categorical_column_with_hash_bucket',
    'CrossedColumn': 'crossed_column',
    'WeightedCategoricalColumn': 'weighted_categorical_column',
}


def checked(features, labels, feature_columns):
  """Checks `features` statically; registers a per-step batch-size assertion.

  Args:
    features: the dict of feature tensors the `model_fn` received.
    labels: its labels, or None.
    feature_columns: every feature column the model reads (v1 or v2).

  Raises:
    ValueError: a needed feature is missing, or its dtype or static shape
      does not fit the column reading it, or static batch sizes differ.
    TypeError: a sequence column is fed a dense Tensor.
  """
  reads = _reads(feature_columns)
  needed = sorted({key for key, _, _ in reads})
  for key, column, context in reads:
    if key not in features:
      # 2.15's wording first, for anyone matching it; then the details.
      raise ValueError(
          f'Feature {key} is not in features dictionary. The feature columns '
          f'need: {needed}; the input has: {sorted(features)}.')
    _check_one(key, features[key], column, context)
  batch_checks.same_batch_size(features, labels, needed)


def finite_dense_inputs(features, feature_columns, mode):
  """Makes a step fail if a float `numeric_column` input is not finite.

  For the DNN towers: once TF fuses MatMul, BiasAdd and ReLU, a NaN input
  comes out of the hidden layer as 0, so the loss stays finite while the
  kernel's gradient is NaN, and NaN weights would be trained and saved
  silently. The checks run in training and evaluation only, before the
  step writes any variable or summary; predictions and exports answer as
  2.15 did.

  Every step pays one test per dtype over all such inputs side by side
  instead of one CheckNumerics per feature (32 kernels a step for a canned
  DNN on 32 features); only a failing batch works out which features to name.
  """
  if mode == ModeKeys.PREDICT:
    return
  by_dtype, seen = collections.defaultdict(list), set()
  for key, column, context in sorted(_reads(feature_columns),
                                     key=lambda read: read[0]):
    value = features.get(key)
    if (isinstance(column, _NUMERIC) and context != 'sequence' and
        isinstance(value, tf.Tensor) and value.dtype.is_floating and
        key not in seen):
      seen.add(key)
      by_dtype[value.dtype].append((key, tf.reshape(
          value, [-1, math.prod(column.shape)])))
  for named in by_dtype.values():
    batch_checks.before_writes(functools.partial(_all_finite, named, mode))


def _all_finite(named, mode):
  """An op failing if a `(key, [batch, n] tensor)` of `named` has NaN or Inf."""
  side_by_side = tf.concat([value for _, value in named], 1)
  finite = tf.reduce_all(tf.math.is_finite(side_by_side))

  def name_them():
    keys = tf.constant([key for key, _ in named])
    owner = [i for i, (_, value) in enumerate(named)
             for _ in range(tf.compat.dimension_value(value.shape[1]))]
    bad = tf.reduce_any(tf.logical_not(tf.math.is_finite(side_by_side)), 0)
    shown = tf.gather(keys, tf.unique(tf.gather(owner, tf.where(bad)[:, 0])).y)
    return tf.debugging.Assert(False, [
        'numeric_column features with NaN or Inf values, which '
        f'{mode} steps cannot use:', shown])

  return tf_internals.cond_v2(finite, tf.no_op, name_them)


def _reads(feature_columns):
  """[(raw feature key, column reading it, context)] for `feature_columns`."""
  reads = []
  for column in feature_columns:
    _collect_reads(column, context=None, reads=reads)
  return reads


def _collect_reads(column, context, reads):
  """Appends (raw feature key, column reading it, context) to `reads`.

  The context is 'sequence' under a sequence column, 'dense' under an
  indicator or embedding column, else None.
  """
  if isinstance(column, _SEQUENCE):
    context = 'sequence'
  elif isinstance(column, _DENSE_WRAPPERS) and context is None:
    context = 'dense'
  for parent in _parents(column):
    if isinstance(parent, str):
      reads.append((parent, column, context))
    else:
      _collect_reads(parent, context, reads)


def _parents(column):
  """The columns and raw feature keys `column` is computed from."""
  parents = getattr(column, 'parents', None)
  if parents is not None:
    return list(parents)
  # Pure v1 columns (namedtuples) have no `parents`: read their fields.
  found = [getattr(column, name) for name in
           ('categorical_column', 'source_column', 'key', 'weight_feature_key')
           if hasattr(column, name)]
  return found + list(getattr(column, 'keys', ()) if isinstance(
      column, _CROSSED) else ())


def _describe(column, in_sequence):
  """E.g. "numeric_column('age')"."""
  name = type(column).__name__.lstrip('_')
  constructor = _CONSTRUCTORS.get(name, name)
  if in_sequence and constructor.startswith('categorical_column'):
    constructor = 'sequence_' + constructor
  return f'{constructor}({column.name!r})'


def _check_one(key, value, column, context):
  """Checks the raw feature `key` (`value`) read by `column`."""
  in_sequence = context == 'sequence'
  dtype = getattr(value, 'dtype', None)
  if dtype is None:
    return
  dtype = tf.as_dtype(dtype)
  what = _describe(column, in_sequence)
  if isinstance(value, tf.RaggedTensor):
    raise TypeError(f'Feature {key!r} is a RaggedTensor, which {what} cannot '
                    'read: pass a dense Tensor, or a SparseTensor (e.g. '
                    '`ragged.to_sparse()`) for a categorical or sequence column.')
  if in_sequence and isinstance(value, tf.Tensor) and not (
      isinstance(column, _CATEGORICAL) and (value.shape.rank or 0) >= 2):
    # A dense [batch, T] of categorical values becomes a SparseTensor without
    # the padding ('' or -1), as in 2.15; numeric sequences have no padding
    # value to drop.
    raise TypeError(
        f'Feature {key!r} must be a SparseTensor for {what} (sequence '
        f'columns read variable-length sequences), got a dense Tensor of '
        f'shape {value.shape}. Categorical sequence columns also take a '
        'dense [batch_size, max_length] Tensor padded with "" or -1.')
  expected = _expected_kind(key, column)
  if expected and not _is_kind(dtype, expected):
    raise ValueError(f'Feature {key!r} must be {expected} for {what}, got '
                     f'{dtype.name}.')
  if isinstance(column, _NUMERIC) and not in_sequence:
    if isinstance(value, tf.SparseTensor):
      raise ValueError(f'Feature {key!r} must be a dense Tensor for {what}, '
                       'got a SparseTensor.')
    _check_numeric_size(key, value, column, what)
  if (context == 'dense' and isinstance(column, _CATEGORICAL) and
      isinstance(value, tf.Tensor)):
    _check_categorical_rank(key, value, what)


def _expected_kind(key, column):
  """'numeric', 'integer', 'string', 'string or numeric', or None (unknown)."""
  if isinstance(column, _NUMERIC):
    return 'numeric'
  if isinstance(column, _WEIGHTED):
    return 'numeric' if key == column.weight_feature_key else None
  if isinstance(column, _CROSSED):
    # TF casts a numeric raw key to int64 before hashing the cross, so a
    # float feature crosses too (TensorFlow's linear-model tutorial does it).
    return 'string or numeric'
  if isinstance(column, _IDENTITY):
    return 'integer'
  if isinstance(column, _CATEGORICAL):
    return 'string' if column.dtype == tf.string else 'integer'
  return None


def _is_kind(dtype, kind):
  if kind == 'numeric':
    return dtype.is_floating or dtype.is_integer or dtype.is_bool
  if kind == 'integer':
    return dtype.is_integer
  if kind == 'string':
    return dtype == tf.string
  return dtype == tf.string or _is_kind(dtype, 'numeric')  # 'string or numeric'


def _check_numeric_size(key, value, column, what):
  """A numeric column reshapes each example to `column.shape`: sizes must match.

  A rank-1 feature is one value per example; higher ranks give the product of
  their non-batch dimensions. Unknown sizes are left to run time.
  """
  shape = value.shape
  if shape.rank is None or shape.rank == 0:
    return
  per_example = shape[1:]
  if not per_example.is_fully_defined():
    return
  got = per_example.num_elements() if shape.rank > 1 else 1
  want = math.prod(column.shape)
  if got != want:
    raise ValueError(
        f'Feature {key!r} has shape {shape.as_list()}, {got} value(s) per '
        f'example, but {what} has shape {tuple(column.shape)}: it needs '
        f'{want} value(s) per example, e.g. a [batch_size, '
        f'{", ".join(str(d) for d in column.shape)}] Tensor.')


def _check_categorical_rank(key, value, what):
  """Ids for an indicator or embedding: [batch_size] or [batch_size, n].

  Higher ranks with more than one id per inner row fail inside the step as
  a bare reshape error, so they are refused here. (A linear model reading
  the categorical column directly pools any rank, as 2.15 did.)
  """
  shape = value.shape
  if shape.rank is None or shape.rank <= 2:
    return
  inner = shape[1:-1]
  if inner.is_fully_defined() and inner.num_elements() > 1:
    raise ValueError(
        f'Feature {key!r} has shape {shape.as_list()}, but {what} under an '
        'indicator or embedding column takes ids of shape [batch_size] or '
        '[batch_size, ids_per_example].')
