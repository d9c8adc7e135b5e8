"""Parsing specs for training canned estimators from serialized tf.Examples.

Canned estimators read features through feature columns; training from
`tf.Example`s also needs the label (and optional weight) parsed. These helpers
extend the columns' parse spec with those entries, so one
`tf.io.parse_example` call yields both `features` and `labels`.
"""

import tensorflow as tf

# The class `tf.feature_column.numeric_column` returns (v1 and v2 alike).
_NUMERIC_COLUMN = type(tf.feature_column.numeric_column('_'))


def _with_label_and_weight(parsing_spec, label_key, label_spec,
                           weight_column=None):
  """Adds the label and weight entries; both must not clash with features."""
  if label_key in parsing_spec:
    raise ValueError('label should not be used as feature. '
                     'label_key: {}, features: {}'.format(
                         label_key, parsing_spec.keys()))
  parsing_spec[label_key] = label_spec
  if weight_column is None:
    return parsing_spec
  if isinstance(weight_column, str):
    weight_column = tf.feature_column.numeric_column(weight_column)
  if not isinstance(weight_column, _NUMERIC_COLUMN):
    raise ValueError('weight_column should be an instance of '
                     'tf.feature_column.numeric_column. '
                     'Given type: {} value: {}'.format(
                         type(weight_column), weight_column))
  if weight_column.key in parsing_spec:
    raise ValueError('weight_column should not be used as feature. '
                     'weight_column: {}, features: {}'.format(
                         weight_column.key, parsing_spec.keys()))
  parsing_spec.update(weight_column.parse_example_spec)
  return parsing_spec


def _classifier_spec(make_spec, feature_columns, label_key, label_dtype,
                     label_default, weight_column):
  label_spec = tf.io.FixedLenFeature((1,), label_dtype, label_default)
  return _with_label_and_weight(make_spec(feature_columns), label_key,
                                label_spec, weight_column)


def _regressor_spec(make_spec, feature_columns, label_key, label_dtype,
                    label_default, label_dimension, weight_column):
  label_spec = tf.io.FixedLenFeature((label_dimension,), label_dtype,
                                     label_default)
  return _with_label_and_weight(make_spec(feature_columns), label_key,
                                label_spec, weight_column)


def classifier_parse_example_spec(feature_columns, label_key,
                                  label_dtype=tf.int64, label_default=None,
                                  weight_column=None):
  """Parse spec for a classifier: the columns' spec plus label and weight.

  The label is a `FixedLenFeature` of shape `[1]` (`label_dtype`, default
  int64; use tf.string with a `label_vocabulary`). `weight_column` is a key
  or a `numeric_column`. Accepts v1 and v2 feature columns.

  Raises:
    ValueError: `label_key` or the weight key is also a feature, or
      `weight_column` is not a numeric column.
  """
  return _classifier_spec(tf.compat.v1.feature_column.make_parse_example_spec,
                          feature_columns, label_key, label_dtype,
                          label_default, weight_column)


def classifier_parse_example_spec_v2(feature_columns, label_key,
                                     label_dtype=tf.int64, label_default=None,
                                     weight_column=None):
  """`classifier_parse_example_spec` for v2 feature columns only."""
  return _classifier_spec(tf.feature_column.make_parse_example_spec,
                          feature_columns, label_key, label_dtype,
                          label_default, weight_column)


def regressor_parse_example_spec(feature_columns, label_key,
                                 label_dtype=tf.float32, label_default=None,
                                 label_dimension=1, weight_column=None):
  """Parse spec for a regressor: the columns' spec plus label and weight.

  The label is a `FixedLenFeature` of shape `[label_dimension]`
  (`label_dtype`, default float32). Accepts v1 and v2 feature columns.

  Raises:
    ValueError: as `classifier_parse_example_spec`.
  """
  return _regressor_spec(tf.compat.v1.feature_column.make_parse_example_spec,
                         feature_columns, label_key, label_dtype,
                         label_default, label_dimension, weight_column)


def regressor_parse_example_spec_v2(feature_columns, label_key,
                                    label_dtype=tf.float32, label_default=None,
                                    label_dimension=1, weight_column=None):
  """`regressor_parse_example_spec` for v2 feature columns only."""
  return _regressor_spec(tf.feature_column.make_parse_example_spec,
                         feature_columns, label_key, label_dtype,
                         label_default, label_dimension, weight_column)
