"""Faults: kills, full disks, damaged checkpoints, an evaluator racing training.

The child process (fault_child.py) trains one step per call and reports each
step and each checkpoint, so a test knows how much progress a fault may cost.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn
from tests import helpers
from tfcompat_estimator import errors
from tfcompat_estimator.io import checkpoints
from tfcompat_estimator.io import summaries

HELPERS_DIR = helpers.DIR
SAVE_STEPS = 10


def _child_command(model_dir, *flags):
  return [sys.executable, os.path.join(HELPERS_DIR, 'fault_child.py'), model_dir,
          '--save-steps', str(SAVE_STEPS), *map(str, flags)]


class _Child:
  """A running fault_child.py whose report lines are collected as they come."""

  def __init__(self, command):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    self.proc = subprocess.Popen(command, cwd=HELPERS_DIR, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    self.last_step = 0
    self.last_saved = None
    self.final = None  # the 'done ...' or 'error ...' line
    self._changed = threading.Condition()
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stdout:
      kind, _, value = line.strip().partition(' ')
      with self._changed:
        if kind == 'step':
          self.last_step = int(value)
        elif kind == 'saved':
          self.last_saved = int(value)
        elif kind in ('done', 'error'):
          self.final = line.strip()
        self._changed.notify_all()
    with self._changed:
      self._changed.notify_all()

  def wait_for_step(self, step, timeout=120):
    with self._changed:
      self._changed.wait_for(lambda: self.last_step >= step or
                             self.proc.poll() is not None, timeout)

  def kill(self):
    self.proc.kill()
    self.proc.wait()
    self._reader.join()

  def finish(self, timeout=300):
    self.proc.wait(timeout)
    self._reader.join()
    return self.final


def _estimator(model_dir):
  return tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=model_dir, params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))


# --- SIGKILL at random moments ------------------------------------------------


def _kill_and_resume(model_dir, trials, seed):
  rng = random.Random(seed)
  for trial in range(trials):
    child = _Child(_child_command(model_dir))
    if trial % 5 == 0:  # sometimes while starting up or restoring
      time.sleep(rng.uniform(0.0, 4.0))
    else:
      child.wait_for_step(child.last_step + rng.randint(1, 120))
      time.sleep(rng.uniform(0.0, 0.05))
    child.kill()
    latest = checkpoints.latest_checkpoint(model_dir)
    if child.last_saved is None:
      continue  # killed before this run's first save; nothing to check yet
    restored = checkpoints.global_step_of(latest)
    assert restored >= child.last_saved, (trial, restored, child.last_saved)
    assert child.last_step - restored <= SAVE_STEPS, (trial, restored, child.last_step)
    for path in tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths:
      assert tf.train.load_checkpoint(path).has_tensor('global_step'), path
  step = checkpoints.global_step_of(checkpoints.latest_checkpoint(model_dir))
  target = step + SAVE_STEPS + 3  # ends between two scheduled saves
  final = _Child(_child_command(model_dir, '--max-steps', target)).finish()
  assert final == f'done {target}'
  assert checkpoints.global_step_of(checkpoints.latest_checkpoint(model_dir)) == target
  # Files of saves cut short by a kill were cleared when training restarted.
  assert not [name for name in os.listdir(model_dir) if '.tmp-' in name]


def test_sigkill_at_random_moments_loses_at_most_one_interval(tmp_path):
  _kill_and_resume(str(tmp_path / 'model'), trials=4, seed=1234)


@pytest.mark.slow
def test_sigkill_stress(tmp_path):
  _kill_and_resume(str(tmp_path / 'model'), trials=30, seed=4321)


# --- a full disk or an unwritable model_dir while saving -------------------------


def test_write_limit_while_saving_names_the_file_and_keeps_the_previous(tmp_path):
  """RLIMIT_FSIZE makes every write past 1000 bytes fail, like a full disk."""
  model_dir = str(tmp_path / 'model')
  final = _Child(_child_command(model_dir, '--max-steps', 40, '--fault-after', 10,
                                '--file-size-limit', 1000)).finish()
  assert final.startswith('error OSError: Could not write'), final
  assert model_dir in final and 'File too large' in final, final
  _assert_resumes_from(model_dir, 10, max_steps=40)


def _assert_resumes_from(model_dir, step, max_steps):
  latest = checkpoints.latest_checkpoint(model_dir)
  assert latest == os.path.join(model_dir, f'model.ckpt-{step}')
  assert not [name for name in os.listdir(model_dir) if '.tmp-' in name]
  child = _Child(_child_command(model_dir, '--max-steps', max_steps))
  assert child.finish() == f'done {max_steps}'


def _can_mount_tmpfs(tmp_path):
  probe = tmp_path / 'probe'
  probe.mkdir()
  try:
    return subprocess.run(['unshare', '-rm', 'mount', '-t', 'tmpfs', 'tmpfs', str(probe)],
                          capture_output=True, timeout=30).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


def test_full_file_system_while_saving(tmp_path):
  """A real ENOSPC: a small tmpfs in a user namespace, filled after step 10."""
  if not _can_mount_tmpfs(tmp_path):
    pytest.skip('cannot mount a tmpfs here (needs unprivileged user namespaces)')
  disk = tmp_path / 'disk'
  disk.mkdir()
  model_dir = str(disk / 'model')
  train = ' '.join(_child_command(model_dir, '--max-steps', 40))
  # The mount lives as long as the namespace: fail, free space, resume, inside it.
  # 2 MB holds graph.pbtxt and a .meta per kept checkpoint (2.15 wrote
  # larger ones) besides the checkpoints; the filler takes the rest.
  script = (f'mount -t tmpfs -o size=2m tmpfs {disk} && '
            f'{train} --fault-after 10 --fill {disk}/filler; '
            f'rm {disk}/filler; echo "latest $(head -1 {model_dir}/checkpoint)"; '
            f'ls -a {model_dir} | grep -c "\\.tmp-" ; {train}')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  out = subprocess.run(['unshare', '-rm', 'sh', '-c', script], cwd=HELPERS_DIR, env=env,
                       capture_output=True, text=True, timeout=600).stdout
  lines = out.splitlines()
  error = next(line for line in lines if line.startswith('error'))
  assert error.startswith('error OSError: Could not write'), error
  assert model_dir in error and 'No space left on device' in error, error
  assert 'latest model_checkpoint_path: "model.ckpt-10"' in lines, out
  assert lines[lines.index('latest model_checkpoint_path: "model.ckpt-10"') + 1] == '0'
  resumed = lines[lines.index('latest model_checkpoint_path: "model.ckpt-10"') + 2:]
  assert resumed[0] == 'saved 10' and resumed[1] == 'step 11', resumed[:2]
  assert resumed[-1] == 'done 40', resumed[-3:]


def test_model_dir_that_cannot_be_created_is_named(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  est = _estimator(str(blocker / 'model'))
  with pytest.raises(OSError, match="'[^']*a_file/model/checkpoint'.*Not a directory"):
    est.train(custom_dnn.train_input_fn, max_steps=2)


def test_export_to_a_full_disk_leaves_no_partial_export(tmp_path, monkeypatch):
  model_dir = str(tmp_path / 'model')
  est = _estimator(model_dir)
  est.train(custom_dnn.train_input_fn, max_steps=5)
  export_base = tmp_path / 'export'
  real_copy = tf.io.gfile.copy

  def full_disk_copy(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')

  monkeypatch.setattr(tf.io.gfile, 'copy', full_disk_copy)
  extra = tmp_path / 'extra.txt'
  extra.write_text('x')
  with pytest.raises(OSError, match='Could not write SavedModel .*No space left'):
    est.export_saved_model(str(export_base), custom_dnn.serving_input_receiver_fn,
                           assets_extra={'extra.txt': str(extra)})
  assert os.listdir(export_base) == []
  monkeypatch.setattr(tf.io.gfile, 'copy', real_copy)
  path = est.export_saved_model(str(export_base), custom_dnn.serving_input_receiver_fn)
  assert os.listdir(export_base) == [os.path.basename(path.decode())]


# --- damaged and half-written checkpoints -----------------------------------------


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
  """A model_dir with checkpoints 0, 20 and 40 (saves every 20 steps)."""
  model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
  _estimator(model_dir).train(custom_dnn.train_input_fn, max_steps=40)
  return model_dir


@pytest.fixture
def model_dir(trained_dir, tmp_path):
  copy = str(tmp_path / 'model')
  shutil.copytree(trained_dir, copy)
  return copy


def _damage(model_dir, how):
  prefix = os.path.join(model_dir, 'model.ckpt-40')
  data, index = prefix + '.data-00000-of-00001', prefix + '.index'
  if how == 'truncated_data':
    os.truncate(data, os.path.getsize(data) // 2)
  elif how == 'flipped_data_bytes':
    raw = bytearray(open(data, 'rb').read())
    raw[len(raw) // 2:len(raw) // 2 + 8] = bytes(b ^ 0xFF for b in raw[len(raw) // 2:len(raw) // 2 + 8])
    open(data, 'wb').write(bytes(raw))
  elif how == 'truncated_index':
    os.truncate(index, os.path.getsize(index) // 2)
  elif how == 'missing_data':
    os.remove(data)
  elif how == 'damaged_state_file':
    with open(os.path.join(model_dir, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "model.ck')
  return 'checkpoint' if how == 'damaged_state_file' else 'model.ckpt-40'


def _run(est, operation):
  if operation == 'train':
    est.train(custom_dnn.train_input_fn, max_steps=60)
  elif operation == 'evaluate':
    est.evaluate(custom_dnn.eval_input_fn)
  elif operation == 'predict':
    next(est.predict(custom_dnn.predict_input_fn))
  else:
    est.export_saved_model(os.path.join(est.model_dir, 'export'),
                           custom_dnn.serving_input_receiver_fn)


@pytest.mark.parametrize('how,operation', [
    ('truncated_data', 'train'), ('truncated_data', 'evaluate'),
    ('truncated_data', 'predict'), ('truncated_data', 'export'),
    ('flipped_data_bytes', 'evaluate'), ('flipped_data_bytes', 'export'),
    ('truncated_index', 'train'), ('truncated_index', 'predict'),
    ('missing_data', 'evaluate'), ('missing_data', 'train'),
    ('damaged_state_file', 'train'), ('damaged_state_file', 'evaluate'),
])
def test_damaged_checkpoint_is_a_clear_error_naming_the_file(model_dir, how, operation):
  name = _damage(model_dir, how)
  before = _checkpoint_files(model_dir)
  # Programs catch it by its public name, and as the ValueError it is.
  with pytest.raises(errors.CheckpointError) as raised:
    _run(_estimator(model_dir), operation)
  assert isinstance(raised.value, ValueError)
  message = str(raised.value)
  assert os.path.join(model_dir, name) in message
  assert 'function_node' not in message and '[Op:' not in message
  # Training never replaced the damaged checkpoint by one from scratch.
  assert _checkpoint_files(model_dir) == before


@pytest.mark.parametrize('operation', ['train', 'evaluate'])
def test_a_changed_model_fn_gets_the_op_error_2_15_raised(model_dir, operation):
  # Retraining scripts catch 2.15's InvalidArgumentError ("Restoring from
  # checkpoint failed ...") to start afresh when the model changed.
  before = _checkpoint_files(model_dir)
  params = dict(custom_dnn.PARAMS, hidden=custom_dnn.PARAMS['hidden'] + 1)
  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=model_dir, params=params,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='^Restoring from checkpoint failed.*a mismatch between') as raised:
    _run(est, operation)
  assert 'model.ckpt-40' in str(raised.value)
  assert _checkpoint_files(model_dir) == before


def _checkpoint_files(model_dir):
  return {name: os.path.getmtime(os.path.join(model_dir, name))
          for name in os.listdir(model_dir)
          if name.startswith('model.ckpt') or name == 'checkpoint'}


def test_half_written_checkpoint_is_never_picked(model_dir):
  """A crash between the renames of a save: step 60's data file without index,
  and the temporary files of another save; the state file still names 40."""
  shutil.copy(os.path.join(model_dir, 'model.ckpt-40.data-00000-of-00001'),
              os.path.join(model_dir, 'model.ckpt-60.data-00000-of-00001'))
  for suffix in ('.index', '.data-00000-of-00001'):
    shutil.copy(os.path.join(model_dir, 'model.ckpt-40' + suffix),
                os.path.join(model_dir, '.model.ckpt-80.tmp-0123abcd' + suffix))
  est = _estimator(model_dir)
  assert est.latest_checkpoint() == os.path.join(model_dir, 'model.ckpt-40')
  assert est.evaluate(custom_dnn.eval_input_fn)['global_step'] == 40
  est.train(custom_dnn.train_input_fn, max_steps=60)
  assert est.get_variable_value('global_step') == 60
  assert checkpoints.global_step_of(os.path.join(model_dir, 'model.ckpt-60')) == 60
  assert not [n for n in os.listdir(model_dir) if '.tmp-' in n]


# --- an evaluator reading while training writes ----------------------------------


def _evaluate_while_training(model_dir, keep, steps):
  est = _estimator(model_dir)
  # Build the evaluation graph first (on the initial values): otherwise the
  # child, a fresh process, can train all its steps while the first
  # evaluation of a long-running test process is still being compiled.
  est.evaluate(custom_dnn.eval_input_fn, steps=1)
  child = _Child(_child_command(model_dir, '--max-steps', steps, '--keep', keep))
  results = []
  while child.proc.poll() is None:
    if est.latest_checkpoint() is None:
      time.sleep(0.1)
      continue
    metrics = est.evaluate(custom_dnn.eval_input_fn, steps=2)
    results.append({k: float(v) for k, v in metrics.items()})
  assert child.finish() == f'done {steps}'
  return est, results


def test_evaluator_never_sees_a_partial_checkpoint(tmp_path):
  model_dir = str(tmp_path / 'model')
  est, results = _evaluate_while_training(model_dir, keep=0, steps=400)
  assert len(results) >= 3, results
  for metrics in results:
    step = int(metrics['global_step'])
    assert step % SAVE_STEPS == 0 or step == 400, step
    again = est.evaluate(custom_dnn.eval_input_fn, steps=2,
                         checkpoint_path=os.path.join(model_dir, f'model.ckpt-{step}'))
    assert json.dumps(metrics, sort_keys=True) == json.dumps(
        {k: float(v) for k, v in again.items()}, sort_keys=True)
  np.testing.assert_array_less(0, [m['loss'] for m in results])


def test_evaluator_outpaced_by_retention_moves_to_the_newer_checkpoint(tmp_path):
  """With keep_checkpoint_max=1 each save deletes the one before, often while
  the evaluator is between choosing it and reading it."""
  _, results = _evaluate_while_training(str(tmp_path / 'model'), keep=1, steps=1500)
  steps = [int(m['global_step']) for m in results]
  assert len(steps) >= 3 and steps == sorted(steps), steps


def test_train_and_evaluate_evaluator_task_keeps_up_with_retention(tmp_path, monkeypatch):
  """The evaluator task of train_and_evaluate, with an exporter, against a
  training that keeps one checkpoint: it ends at the final step, no error."""
  model_dir = str(tmp_path / 'model')
  child = _Child(_child_command(model_dir, '--max-steps', 1500, '--keep', 1))
  monkeypatch.setenv('TF_CONFIG', json.dumps({
      'cluster': {'chief': ['localhost:1']}, 'task': {'type': 'evaluator', 'index': 0}}))
  config = dict(custom_dnn.RUN_CONFIG_KWARGS, keep_checkpoint_max=1)
  est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=model_dir,
                               params=custom_dnn.PARAMS,
                               config=tf.estimator.RunConfig(**config))
  exporter = tf.estimator.LatestExporter('latest', custom_dnn.serving_input_receiver_fn)
  tf.estimator.train_and_evaluate(
      est, tf.estimator.TrainSpec(custom_dnn.train_input_fn, max_steps=1500),
      tf.estimator.EvalSpec(custom_dnn.eval_input_fn, steps=2, exporters=[exporter],
                            start_delay_secs=0, throttle_secs=0))
  assert child.finish() == 'done 1500'
  evaluated = [step for _, step, _ in summaries.read_scalars(
      os.path.join(est.eval_dir(), 'events.*'))]
  assert max(evaluated) == 1500 and len(evaluated) >= 3, evaluated
  assert len(os.listdir(os.path.join(model_dir, 'export', 'latest'))) >= 1
