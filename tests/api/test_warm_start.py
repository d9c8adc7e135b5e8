"""warm_start_from: paths, WarmStartSettings, VocabInfo row remapping."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn


def _estimator(model_dir, warm_start_from=None):
  return tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=model_dir, params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS),
      warm_start_from=warm_start_from)


@pytest.fixture
def source_dir(golden_dir, tmp_path):
  path = str(tmp_path / 'source')
  shutil.copytree(os.path.join(golden_dir, 'model_dir'), path)
  return path


def test_path_warm_starts_all_trainable_variables(source_dir, tmp_path):
  est = _estimator(str(tmp_path / 'new'), warm_start_from=source_dir)
  est.train(custom_dnn.train_input_fn, steps=1)
  source = _estimator(source_dir)
  # One Adagrad step moves weights a little from the warm-started values.
  for name in ('custom_dnn/hidden/kernel', 'custom_dnn/cat_embedding'):
    np.testing.assert_allclose(est.get_variable_value(name),
                               source.get_variable_value(name), atol=0.2)
  assert est.get_variable_value('global_step') == 1  # not warm-started


def test_settings_select_variables_by_regex(source_dir, tmp_path):
  settings = tf.estimator.WarmStartSettings(source_dir,
                                            vars_to_warm_start='.*cat_embedding.*')
  est = _estimator(str(tmp_path / 'new'), warm_start_from=settings)
  cold = _estimator(str(tmp_path / 'cold'))
  est.train(custom_dnn.train_input_fn, steps=1)
  cold.train(custom_dnn.train_input_fn, steps=1)
  source = _estimator(source_dir)
  assert np.abs(est.get_variable_value('custom_dnn/cat_embedding') -
                source.get_variable_value('custom_dnn/cat_embedding')).max() < 0.2
  # Not selected: starts from the same fresh init as a cold model; one step
  # (lr 0.1) moves it by less than 0.2 either way.
  np.testing.assert_allclose(est.get_variable_value('custom_dnn/hidden/kernel'),
                             cold.get_variable_value('custom_dnn/hidden/kernel'),
                             atol=0.2)
  assert np.abs(cold.get_variable_value('custom_dnn/hidden/kernel') -
                source.get_variable_value('custom_dnn/hidden/kernel')).max() > 0.2


def test_vocab_info_moves_rows_to_new_indices(tmp_path):
  from tfcompat_estimator import warm_starting
  old_vocab, new_vocab = tmp_path / 'old.txt', tmp_path / 'new.txt'
  old_vocab.write_text('a\nb\nc\n')
  new_vocab.write_text('c\nz\na\n')
  info = tf.estimator.VocabInfo(str(new_vocab), 3, 0, str(old_vocab))
  old = np.array([[1.0], [2.0], [3.0]])
  current = np.full((3, 1), -1.0)
  np.testing.assert_array_equal(warm_starting._remap_rows(old, current, info),
                                [[3.0], [-1.0], [1.0]])


def test_bad_warm_start_argument():
  with pytest.raises(ValueError, match='warm_start_from'):
    _estimator(None, warm_start_from=3)


def _v1_linear(model_dir, vocabulary_file, warm_start_from=None, seed=1):
  """A v1 LinearRegressor: its weights are partitioned ('.../part_<i>')."""
  fc = tf.feature_column
  words = fc.categorical_column_with_vocabulary_file('w', vocabulary_file)
  return tf.compat.v1.estimator.LinearRegressor(
      [words], model_dir=model_dir, warm_start_from=warm_start_from,
      partitioner=tf.compat.v1.fixed_size_partitioner(2),
      config=tf.estimator.RunConfig(tf_random_seed=seed))


def _words_input(words, targets):
  return lambda: tf.data.Dataset.from_tensor_slices(
      ({'w': words}, targets)).repeat().batch(4)


def test_partitioned_variables_warm_start_under_their_full_names(tmp_path):
  """2.15 warm-started a partitioned variable as one, sliced per part."""
  vocab = tmp_path / 'vocab.txt'
  vocab.write_text('a\nb\nc\nd\n')
  source = _v1_linear(str(tmp_path / 'src'), str(vocab))
  source.train(_words_input(['a', 'b', 'c', 'd'], [1., 2., 3., 4.]), steps=20)
  name = 'linear/linear_model/w/weights'
  trained = source.get_variable_value(name)  # the whole [4, 1] variable
  target = _v1_linear(
      str(tmp_path / 'dst'), str(vocab), seed=2,
      warm_start_from=tf.estimator.WarmStartSettings(
          str(tmp_path / 'src'), vars_to_warm_start='.*weights.*'))
  target.train(_words_input(['a'], [0.]), steps=1)
  start = tf.train.load_checkpoint(str(tmp_path / 'dst' / 'model.ckpt-0'))
  np.testing.assert_array_equal(start.get_tensor(name), trained)


def test_vocab_info_with_a_backup_initializer_and_partitions(tmp_path):
  """New words take the backup initializer's rows; moved words keep theirs."""
  old_vocab, new_vocab = tmp_path / 'old.txt', tmp_path / 'new.txt'
  old_vocab.write_text('a\nb\nc\nd\n')
  new_vocab.write_text('d\nz\nb\ny\n')
  source = _v1_linear(str(tmp_path / 'src'), str(old_vocab))
  source.train(_words_input(['a', 'b', 'c', 'd'], [1., 2., 3., 4.]), steps=20)
  name = 'linear/linear_model/w/weights'
  old = source.get_variable_value(name)
  info = tf.estimator.VocabInfo(
      str(new_vocab), 4, 0, str(old_vocab),
      backup_initializer=tf.compat.v1.constant_initializer(-7.))
  target = _v1_linear(
      str(tmp_path / 'dst'), str(new_vocab),
      warm_start_from=tf.estimator.WarmStartSettings(
          str(tmp_path / 'src'), vars_to_warm_start=None,
          var_name_to_vocab_info={name: info}))
  target.train(_words_input(['d'], [0.]), steps=1)
  start = tf.train.load_checkpoint(str(tmp_path / 'dst' / 'model.ckpt-0'))
  np.testing.assert_array_equal(start.get_tensor(name),
                                [old[3], [-7.], old[1], [-7.]])
