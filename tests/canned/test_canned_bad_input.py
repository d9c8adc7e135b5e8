"""Bad input to canned estimators fails clearly and leaves model_dir intact.

Each case feeds one mistake (a missing feature, a wrong dtype or size, a label
outside n_classes or the vocabulary, a wrong label shape, a missing weight
column) and checks the error type and that the message names the culprit.
Where 2.15 already named it, the type is 2.15's; where 2.15 failed late or
vaguely (a string fed to a numeric column failed inside the step as
"Cast string to float is not supported"; a feature of the wrong width as a
failed reshape of an unnamed node; an unknown vocabulary label as
"Labels must be >= 0" with the first three ids), ours fails at graph-build
time or names the offending labels.
"""

import os
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

fc = tf.feature_column
v1_estimator = tf.compat.v1.estimator

_AGE = np.array([[1., 2.], [3., 4.], [5., 6.], [7., 8.]], np.float32)
_BINARY = np.array([[0], [1], [0], [1]], np.int64)


def _columns():
  return [fc.numeric_column('age', shape=(2,)),
          fc.indicator_column(fc.categorical_column_with_identity('cid', 3)),
          fc.indicator_column(
              fc.categorical_column_with_vocabulary_list('color', ['r', 'g']))]


def _features(**overrides):
  features = {'age': _AGE,
              'cid': np.array([[0], [1], [2], [1]], np.int64),
              'color': np.array([['r'], ['g'], ['r'], ['g']]),
              'w': np.array([[1.], [1.], [2.], [1.]], np.float32)}
  features.update(overrides)
  return {key: value for key, value in features.items() if value is not None}


def _input_fn(features, labels=_BINARY):
  """One batch of 4 with an unknown batch dimension, as batched data has."""
  data = (features, labels) if labels is not None else features
  return lambda: tf.data.Dataset.from_tensor_slices(data).batch(4).repeat()


def _estimator(family, model_dir, **kwargs):
  columns = _columns()
  if family == 'dnn':
    return tf.estimator.DNNClassifier([3], columns, model_dir=model_dir,
                                      **kwargs)
  if family == 'dnn_v1':
    return v1_estimator.DNNClassifier([3], columns, model_dir=model_dir,
                                      **kwargs)
  if family == 'linear':
    return tf.estimator.LinearClassifier(columns, model_dir=model_dir,
                                         **kwargs)
  if family == 'linear_v1':
    return v1_estimator.LinearClassifier(columns, model_dir=model_dir,
                                         **kwargs)
  if family == 'combined':
    return tf.estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir, linear_feature_columns=columns[1:],
        dnn_feature_columns=columns[:1], dnn_hidden_units=[3], **kwargs)
  if family == 'baseline':
    return tf.estimator.BaselineClassifier(model_dir=model_dir, **kwargs)
  if family == 'dnn_regressor':
    return tf.estimator.DNNRegressor([3], columns, model_dir=model_dir,
                                     **kwargs)
  if family == 'dnn_regressor_v1':
    return v1_estimator.DNNRegressor([3], columns, model_dir=model_dir,
                                     **kwargs)
  raise ValueError(family)


def _train(family, tmp_path, features, labels=_BINARY, **kwargs):
  est = _estimator(family, str(tmp_path), **kwargs)
  est.train(_input_fn(features, labels), steps=1)


# --- features ----------------------------------------------------------------

FEATURE_FAMILIES = ['dnn', 'dnn_v1', 'linear', 'linear_v1', 'combined',
                    'dnn_regressor_v1']


@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_every_non_finite_numeric_input_of_a_dnn_is_named(mode, tmp_path):
  """One finite test per step covers all inputs; a failure names each bad one."""
  est = tf.estimator.DNNClassifier(
      [3], [fc.numeric_column('age', shape=(2,)), fc.numeric_column('w')],
      model_dir=str(tmp_path))
  est.train(_input_fn(_features()), steps=1)
  age, w = _AGE.copy(), np.ones([4, 1], np.float32)
  age[2, 1], w[1, 0] = np.inf, np.nan
  bad = _input_fn(_features(age=age, w=w))
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
      f'which {mode} steps cannot use:] [age w]')):
    if mode == 'train':
      est.train(bad, steps=1)
    else:
      est.evaluate(bad, steps=1)


@pytest.mark.parametrize('family', FEATURE_FAMILIES)
def test_missing_feature_is_named_with_the_needed_keys(family, tmp_path):
  labels = _BINARY.astype(np.float32) if 'regressor' in family else _BINARY
  with pytest.raises(ValueError) as error:
    _train(family, tmp_path, _features(age=None), labels)
  message = str(error.value)
  assert message.startswith('Feature age is not in features dictionary.')
  assert "the input has: ['cid', 'color', 'w']" in message


@pytest.mark.parametrize('family', ['dnn', 'linear_v1', 'combined'])
def test_string_for_a_numeric_column_fails_at_build_time(family, tmp_path):
  # 2.15: UnimplementedError "Cast string to float" inside the first step.
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'age' must be numeric for numeric_column('age'), got "
      'string')):
    _train(family, tmp_path, _features(age=np.array([['a', 'b']] * 4)))


@pytest.mark.parametrize('family', ['dnn', 'linear'])
def test_float_for_an_identity_column_names_key_and_dtype(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'cid' must be integer for categorical_column_with_identity("
      "'cid'), got float32")):
    _train(family, tmp_path,
           _features(cid=np.array([[0.], [1.], [2.], [1.]], np.float32)))


@pytest.mark.parametrize('family', ['dnn_v1', 'combined'])
def test_float_for_a_vocabulary_column_names_key_and_dtype(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'color' must be string for "
      "categorical_column_with_vocabulary_list('color'), got float32")):
    _train(family, tmp_path,
           _features(color=np.array([[0.], [1.], [2.], [1.]], np.float32)))


@pytest.mark.parametrize('family', ['dnn', 'linear', 'dnn_regressor_v1'])
def test_wrong_numeric_size_names_shapes(family, tmp_path):
  # 2.15: "Cannot reshape a tensor with 16 elements to shape [4,2]".
  labels = _BINARY.astype(np.float32) if 'regressor' in family else _BINARY
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'age' has shape [None, 2, 2], 4 value(s) per example, but "
      "numeric_column('age') has shape (2,): it needs 2 value(s)")):
    _train(family, tmp_path, _features(age=np.ones((4, 2, 2), np.float32)),
           labels)


def test_numeric_feature_of_equal_size_but_other_rank_still_trains(tmp_path):
  # [batch, 1, 2] holds 2 values per example: the column reshapes it.
  est = _estimator('dnn', str(tmp_path))
  est.train(_input_fn(_features(age=_AGE.reshape(4, 1, 2))), steps=1)
  assert est.get_variable_value('global_step') == 1


@pytest.mark.parametrize('family', ['dnn', 'dnn_v1'])
def test_rank_3_ids_for_an_indicator_column_name_the_key(family, tmp_path):
  # 2.15: "Input to reshape is a tensor with 24 values" inside the step.
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'cid' has shape [None, 2, 1], but "
      "categorical_column_with_identity('cid') under an indicator or "
      'embedding column takes ids of shape [batch_size] or')):
    _train(family, tmp_path, _features(cid=np.zeros((4, 2, 1), np.int64)))


def test_linear_model_still_pools_rank_3_ids(tmp_path):
  # As in 2.15, a linear model reading the categorical column directly sums
  # the weights of every id, whatever the rank.
  est = tf.estimator.LinearClassifier(
      [fc.categorical_column_with_identity('cid', 3)], model_dir=str(tmp_path))
  ids = np.array([[[0], [1]], [[2], [2]], [[0], [0]], [[1], [2]]], np.int64)
  est.train(_input_fn({'cid': ids}), steps=3)
  rank_3 = next(est.predict(_input_fn({'cid': ids}, labels=None)))
  rank_2 = next(est.predict(_input_fn({'cid': ids[:, :, 0]}, labels=None)))
  assert rank_3['logits'] == pytest.approx(rank_2['logits'])
  assert rank_3['logits'] != pytest.approx(0.)  # the ids were trained


def test_predict_also_checks_features(tmp_path):
  est = _estimator('linear', str(tmp_path))
  est.train(_input_fn(_features()), steps=1)
  with pytest.raises(ValueError,
                     match='Feature cid is not in features dictionary'):
    next(est.predict(_input_fn(_features(cid=None), labels=None)))


# --- sequence features (RNN) ---------------------------------------------------


def _rnn_features(tok=None, ctx=None):
  indices = [[b, t] for b in range(4) for t in range(2)]
  default_tok = tf.SparseTensor(indices, tf.range(8, dtype=tf.float32), [4, 2])
  return {'tok': default_tok if tok is None else tok,
          'ctx': tf.ones([4, 1]) if ctx is None else ctx}


def _train_rnn(tmp_path, features, labels=_BINARY, **kwargs):
  est = tf.estimator.experimental.RNNClassifier(
      [fc.sequence_numeric_column('tok')],
      context_feature_columns=[fc.numeric_column('ctx')], units=[3],
      model_dir=str(tmp_path), **kwargs)
  est.train(lambda: (features(), tf.constant(labels)), steps=1)


def test_rnn_dense_tensor_for_a_sequence_column_names_key(tmp_path):
  # 2.15: TypeError "Input must be a SparseTensor." without the key.
  with pytest.raises(TypeError, match=re.escape(
      "Feature 'tok' must be a SparseTensor for sequence_numeric_column("
      "'tok')")):
    _train_rnn(tmp_path, lambda: _rnn_features(tok=tf.ones([4, 2])))


def test_rnn_string_context_feature_fails_at_build_time(tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "Feature 'ctx' must be numeric for numeric_column('ctx'), got "
      'string')):
    _train_rnn(tmp_path,
               lambda: _rnn_features(ctx=tf.constant([['a']] * 4)))


def test_rnn_label_out_of_range_is_shown(tmp_path):
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
      'Labels must be <= n_classes - 1 (n_classes=2):] [3]')):
    _train_rnn(tmp_path, _rnn_features, labels=[[0], [1], [3], [1]])


# --- labels --------------------------------------------------------------------

LABEL_FAMILIES = ['dnn', 'dnn_v1', 'linear', 'baseline']


@pytest.mark.parametrize('family', LABEL_FAMILIES)
def test_label_outside_n_classes_names_n_classes_and_label(family, tmp_path):
  labels = np.array([[0], [1], [5], [2]], np.int64)
  # 2.15's v1 heads worded it without the "be".
  wording = 'Labels must <=' if family.endswith('_v1') else 'Labels must be <='
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
      f'{wording} n_classes - 1 (n_classes=3):] [5]')):
    _train(family, tmp_path, _features(), labels, n_classes=3)


def test_label_range_check_gathers_labels_only_for_a_failing_batch():
  """Every step checks the range; only a failing one lists the bad labels."""
  from tfcompat_estimator.canned.head import base_head  # pylint: disable=g-import-not-at-top

  @tf.function
  def check(labels):
    return base_head.check_label_range(labels, n_classes=3)

  graph = check.get_concrete_function(tf.TensorSpec([None, 1], tf.int64)).graph
  top_level = {op.type for op in graph.get_operations()}
  assert 'Where' not in top_level  # boolean_mask's op, in the failing branch
  np.testing.assert_array_equal(check(tf.constant([[0], [2]], tf.int64)), [[0], [2]])
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(
      'Labels must be <= n_classes - 1 (n_classes=3):] [5 7]')):
    check(tf.constant([[0], [5], [7]], tf.int64))


@pytest.mark.parametrize('family', ['dnn', 'linear_v1'])
def test_negative_label_is_shown(family, tmp_path):
  labels = np.array([[0], [-1], [1], [2]], np.int64)
  wording = 'Labels must >=' if family.endswith('_v1') else 'Labels must be >='
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=re.escape(f'{wording} 0:] [-1]')):
    _train(family, tmp_path, _features(), labels, n_classes=3)


@pytest.mark.parametrize('family,n_classes', [('dnn', 2), ('dnn_v1', 3),
                                              ('linear', 3), ('baseline', 2)])
def test_label_not_in_vocabulary_is_shown(family, n_classes, tmp_path):
  vocabulary = ['a', 'b', 'c'][:n_classes]
  labels = np.array([['a'], ['zz'], ['b'], ['a']])
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _train(family, tmp_path, _features(), labels, n_classes=n_classes,
           label_vocabulary=vocabulary)
  message = str(error.value)
  # 2.15's wording, kept (its v1 heads' without the "be")
  assert ('Labels must >= 0' if family.endswith('_v1') else
          'Labels must be >= 0') in message
  assert (f'label_vocabulary: [{", ".join(vocabulary)}]; labels not in it:] '
          '[zz]') in message


@pytest.mark.parametrize('family', ['dnn', 'combined'])
def test_string_labels_without_vocabulary(family, tmp_path):
  # 2.15: UnimplementedError "Cast string to float" inside the step.
  with pytest.raises(ValueError, match='no label_vocabulary'):
    _train(family, tmp_path, _features(), np.array([['a'], ['b']] * 2))


def test_string_labels_for_a_regressor(tmp_path):
  with pytest.raises(ValueError, match='labels must be numeric.*string'):
    _train('dnn_regressor_v1', tmp_path, _features(),
           np.array([['1'], ['2']] * 2))


@pytest.mark.parametrize('family', ['dnn', 'linear_v1'])
def test_float_labels_for_multi_class(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "Labels dtype should be integer. Instead got <dtype: 'float32'>")):
    _train(family, tmp_path, _features(),
           np.array([[0.], [1.], [2.], [1.]], np.float32), n_classes=3)


@pytest.mark.parametrize('family', ['dnn', 'linear', 'baseline'])
def test_binary_label_of_width_3(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      'Expected labels dimension=1.  Received 3')):
    _train(family, tmp_path, _features(), np.zeros((4, 3), np.int64))


@pytest.mark.parametrize('family', ['dnn_regressor', 'dnn_regressor_v1'])
def test_label_dimension_mismatch(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      'Expected labels dimension=2.  Received 3')):
    _train(family, tmp_path, _features(), np.zeros((4, 3), np.float32),
           label_dimension=2)


@pytest.mark.parametrize('family', ['dnn', 'linear_v1', 'baseline'])
def test_missing_weight_column_is_named(family, tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "Weight column 'wt' is not in the features. Given feature keys: "
      "['age', 'cid', 'color', 'w']")):
    _train(family, tmp_path, _features(), weight_column='wt')


# --- a failed train leaves the model_dir as it was -----------------------------


def _snapshot(model_dir):
  """{file name: bytes} of the checkpoint files (event files may grow)."""
  return {name: pathlib.Path(model_dir, name).read_bytes()
          for name in sorted(os.listdir(model_dir))
          if name == 'checkpoint' or name.startswith('model.ckpt')}


@pytest.mark.parametrize('bad_input', ['label_out_of_range', 'missing_feature',
                                       'string_feature'])
def test_failed_train_leaves_checkpoints_intact(bad_input, tmp_path):
  model_dir = str(tmp_path)
  est = _estimator('dnn', model_dir, n_classes=3)
  labels = np.array([[0], [1], [2], [1]], np.int64)
  est.train(_input_fn(_features(), labels), steps=2)
  before = _snapshot(model_dir)
  metrics_before = est.evaluate(_input_fn(_features(), labels), steps=1)
  if bad_input == 'label_out_of_range':
    bad = _input_fn(_features(), np.array([[0], [7], [2], [1]], np.int64))
    expected = tf.errors.InvalidArgumentError
  elif bad_input == 'missing_feature':
    bad, expected = _input_fn(_features(color=None), labels), ValueError
  else:
    bad = _input_fn(_features(age=np.array([['x', 'y']] * 4)), labels)
    expected = ValueError
  with pytest.raises(expected):
    est.train(bad, steps=2)
  assert est.latest_checkpoint().endswith('model.ckpt-2')
  after = _snapshot(model_dir)
  assert set(after) == set(before)
  # Checkpoint data is unchanged (a re-save at the restored step, as 2.15's
  # initial save did, must hold the same values).
  for name in before:
    if '.data-' in name:
      assert after[name] == before[name], name
  metrics_after = est.evaluate(_input_fn(_features(), labels), steps=1)
  assert metrics_after['global_step'] == 2
  assert metrics_after['loss'] == pytest.approx(metrics_before['loss'])
