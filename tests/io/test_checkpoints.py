"""Checkpoint files: atomic saves, retention, 2.15 readability (faults: test_faults.py)."""

import os
import pickle
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn
from tfcompat_estimator.io import checkpoints

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _variables():
  return {'a': tf.Variable([1.0, 2.0]), 'global_step': tf.Variable(7, dtype=tf.int64)}


def test_save_then_restore_round_trip(tmp_path):
  store = checkpoints.CheckpointStore(str(tmp_path), max_to_keep=2)
  saved = _variables()
  path = store.save(saved, 7)
  assert path == str(tmp_path / 'model.ckpt-7')
  assert checkpoints.global_step_of(path) == 7
  fresh = {'a': tf.Variable([0.0, 0.0]), 'global_step': tf.Variable(0, dtype=tf.int64)}
  checkpoints.restore(fresh, path)
  np.testing.assert_array_equal(fresh['a'].numpy(), [1.0, 2.0])
  assert not [p for p in os.listdir(tmp_path) if 'tmp' in p]


def test_retention_keeps_newest(tmp_path):
  store = checkpoints.CheckpointStore(str(tmp_path), max_to_keep=2)
  for step in (1, 2, 3):
    store.save(_variables(), step)
  state = tf.train.get_checkpoint_state(str(tmp_path))
  assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
      'model.ckpt-2', 'model.ckpt-3']
  assert not tf.io.gfile.glob(str(tmp_path / 'model.ckpt-1.*'))


def test_keeping_all_lists_only_the_latest_so_a_later_limit_spares_them(
    tmp_path, caplog):
  # keep_checkpoint_max=0 (ALBERT's run_squad, YOTO set it): 2.15's Saver
  # kept every file but listed only the latest; a run with a limit then
  # expired only what it listed itself. Measured on 2.15: after 0, 2, 4
  # kept and 6, 8 saved with a limit of 2, files 0, 2, 6, 8 remain. Its
  # state file held the two paths alone, and each save logged that TF's
  # writer added the latest.
  store = checkpoints.CheckpointStore(str(tmp_path), max_to_keep=0)
  with caplog.at_level('INFO', logger='tensorflow'):
    for step in (0, 2, 4):
      store.save(_variables(), step)
  assert [r.getMessage() for r in caplog.records
          if 'Manually' in r.getMessage()] == [
              f'model.ckpt-{step} is not in '
              'all_model_checkpoint_paths. Manually adding it.'
              for step in (0, 2, 4)]
  with open(tmp_path / 'checkpoint') as f:
    assert f.read() == (f'model_checkpoint_path: "model.ckpt-4"\n'
                        f'all_model_checkpoint_paths: "model.ckpt-4"\n')
  limited = checkpoints.CheckpointStore(str(tmp_path), max_to_keep=2)
  for step in (6, 8):
    limited.save(_variables(), step)
  assert sorted(os.path.basename(p)[:-len('.index')] for p in
                tf.io.gfile.glob(str(tmp_path / '*.index'))) == [
                    'model.ckpt-0', 'model.ckpt-2', 'model.ckpt-6',
                    'model.ckpt-8']


def test_restore_names_missing_and_mismatched_variables(tmp_path):
  path = checkpoints.CheckpointStore(str(tmp_path)).save(_variables(), 1)
  with pytest.raises(checkpoints.CheckpointError, match="'b'"):
    checkpoints.restore({'b': tf.Variable(1.0)}, path)
  with pytest.raises(checkpoints.CheckpointError, match="'a'.*float32\\[3\\]"):
    checkpoints.restore({'a': tf.Variable([1.0, 2.0, 3.0])}, path)


def test_missing_and_mismatched_variables_raise_the_op_errors_of_2_15(tmp_path):
  # 2.15's Saver raised these classes with this opening; programs catch them.
  path = checkpoints.CheckpointStore(str(tmp_path)).save(_variables(), 1)
  with pytest.raises(tf.errors.NotFoundError,
                     match='^Restoring from checkpoint failed.*missing from '
                     "the checkpoint: .*lacks variables the model needs: \\['b'\\]"):
    checkpoints.restore({'b': tf.Variable(1.0)}, path)
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    checkpoints.restore({'a': tf.Variable([1.0, 2.0, 3.0])}, path)
  error = raised.value
  assert error.error_code == tf.errors.INVALID_ARGUMENT
  assert error.message == str(error)
  assert 'a mismatch between the current graph and the graph' in error.message
  assert isinstance(error, (checkpoints.CheckpointError, ValueError))
  copy = pickle.loads(pickle.dumps(error))
  assert (type(copy), copy.message) == (type(error), error.message)


def test_corrupt_checkpoint_error_names_file(tmp_path):
  path = checkpoints.CheckpointStore(str(tmp_path)).save(_variables(), 1)
  with open(path + '.index', 'wb') as f:
    f.write(b'garbage')
  with pytest.raises(checkpoints.CheckpointError, match='model.ckpt-1'):
    checkpoints.restore(_variables(), path)


def test_unwritable_model_dir_keeps_previous_checkpoint(tmp_path):
  store = checkpoints.CheckpointStore(str(tmp_path))
  first = store.save(_variables(), 1)
  os.chmod(tmp_path, 0o500)
  try:
    if os.access(tmp_path, os.W_OK):
      pytest.skip('running as a user that ignores directory permissions')
    with pytest.raises(OSError, match=str(tmp_path)):
      store.save(_variables(), 2)
  finally:
    os.chmod(tmp_path, 0o700)
  assert checkpoints.latest_checkpoint(str(tmp_path)) == first


@pytest.mark.slow
def test_tensorflow_estimator_2_15_reads_our_model_dir(tmp_path, venv215_python):
  """The reference package restores and evaluates a model_dir trained here."""
  python = venv215_python
  model_dir = str(tmp_path / 'ours')
  est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=model_dir,
                               params=custom_dnn.PARAMS,
                               config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))
  est.train(custom_dnn.train_input_fn, max_steps=40)
  ours = est.evaluate(custom_dnn.eval_input_fn)
  script = (
      'import json, sys, tensorflow as tf\n'
      'from programs import custom_dnn as p\n'
      'est = tf.estimator.Estimator(p.model_fn, model_dir=sys.argv[1], params=p.PARAMS,'
      ' config=tf.estimator.RunConfig(**p.RUN_CONFIG_KWARGS))\n'
      'm = est.evaluate(p.eval_input_fn)\n'
      'print(json.dumps({k: float(v) for k, v in m.items()}))\n')
  golden_root = os.path.join(os.path.dirname(os.path.dirname(TESTS_DIR)), 'third_party',
                             'tensorflow_estimator_2_15')
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  out = subprocess.run([python, '-c', script, model_dir], cwd=golden_root, env=env,
                       capture_output=True, text=True, check=True, timeout=300)
  import json  # pylint: disable=g-import-not-at-top
  theirs = json.loads(out.stdout.strip().splitlines()[-1])
  for key, value in theirs.items():
    np.testing.assert_allclose(ours[key], value, rtol=1e-5, err_msg=key)


def test_partitioned_variables_are_saved_under_their_full_name(tmp_path):
  """As TF1's Saver wrote them: one name, the parts as slices of it."""

  def model_fn(features, labels, mode):
    emb = tf.compat.v1.get_variable(
        'emb', [10, 4], partitioner=tf.compat.v1.fixed_size_partitioner(3),
        initializer=tf.compat.v1.random_normal_initializer(seed=1))
    logits = tf.reduce_sum(tf.nn.embedding_lookup(emb, features['id']), axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'logits': logits})
    loss = tf.reduce_mean(tf.square(logits - labels))
    train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'id': np.arange(10, dtype=np.int64)}, np.ones(10, np.float32))).batch(5)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=2)
  reader = tf.train.load_checkpoint(est.latest_checkpoint())
  shapes = reader.get_variable_to_shape_map()
  assert shapes['emb'] == [10, 4] and not [n for n in shapes if 'part_' in n]
  assert shapes['emb/Adagrad'] == [10, 4]
  full = reader.get_tensor('emb')
  first = list(est.predict(input_fn))
  np.testing.assert_allclose([p['logits'] for p in first], full.sum(axis=1), rtol=1e-6)
  est.train(input_fn, steps=2)  # restores the slices and keeps training
  assert est.get_variable_value('global_step') == 4


def test_object_based_checkpoints_are_read_by_variable_name(tmp_path):
  """2.15's Keras estimators wrote object-keyed checkpoints by default."""
  kernel = tf.Variable([[1., 2.]], name='dense/kernel')
  step = tf.Variable(7, dtype=tf.int64, name='global_step')
  path = tf.train.Checkpoint(layer=kernel, estimator_global_step=step).write(
      str(tmp_path / 'object'))
  assert 'dense/kernel' not in dict(tf.train.list_variables(path))
  target = {'dense/kernel': tf.Variable([[0., 0.]]),
            'global_step': tf.Variable(0, dtype=tf.int64)}
  checkpoints.restore(target, path)
  assert target['dense/kernel'].numpy().tolist() == [[1., 2.]]
  assert checkpoints.global_step_of(path) == 7
