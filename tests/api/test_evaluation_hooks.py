"""InMemoryEvaluatorHook and make_stop_at_checkpoint_step_hook in real training."""

import collections
import inspect
import json
import types

import numpy as np
import pytest
import tensorflow as tf

from .test_early_stopping import eval_input_fn
from .test_early_stopping import model_fn
from .test_early_stopping import run_oracle
from .test_early_stopping import StepCounter
from .test_early_stopping import train_input_fn
from tfcompat_estimator import early_stopping
from tfcompat_estimator.engine import graph_capture
from tfcompat_estimator import evaluation_hooks
from tfcompat_estimator.io import checkpoints

_exp = tf.estimator.experimental
_EVAL = tf.estimator.ModeKeys.EVAL


def make_estimator(model_dir, fn=model_fn, **config):
  return tf.estimator.Estimator(fn, model_dir=str(model_dir),
                                config=tf.estimator.RunConfig(**config))


def eval_events(eval_dir):
  """(step, {tag: value}) of each evaluation in `eval_dir`, by step."""
  events = []
  for path in tf.io.gfile.glob(f'{eval_dir}/events.out.tfevents.*'):
    events += [(e.step, {v.tag: v.simple_value for v in e.summary.value})
               for e in tf.compat.v1.train.summary_iterator(path)
               if e.HasField('summary')]
  return sorted(events, key=lambda e: e[0])


def evaluation_steps(eval_dir):
  """Global step of every evaluation written to `eval_dir`, with repeats."""
  return collections.Counter(step for step, _ in eval_events(eval_dir))


def set_tf_config(monkeypatch, task_type, cluster=None):
  cluster = cluster or {'chief': ['localhost:1'], 'worker': ['localhost:2']}
  monkeypatch.setenv('TF_CONFIG', json.dumps(
      {'cluster': cluster, 'task': {'type': task_type, 'index': 0}}))


class TestInMemoryEvaluatorHook:

  def test_evaluates_at_start_every_n_iter_and_end(self, tmp_path):
    est = make_estimator(tmp_path)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, every_n_iter=3)
    est.train(train_input_fn, hooks=[hook], steps=7)
    assert evaluation_steps(est.eval_dir()) == {0: 1, 3: 1, 6: 1, 7: 1}
    # Reused: counts restart with the call; a last step just evaluated is
    # evaluated again at the end, as in 2.15.
    est.train(train_input_fn, hooks=[hook], steps=6)
    assert evaluation_steps(est.eval_dir()) == {
        0: 1, 3: 1, 6: 1, 7: 2, 10: 1, 13: 2}

  def test_results_equal_evaluate_of_the_checkpoint_at_that_step(self, tmp_path):
    est = make_estimator(tmp_path, save_checkpoints_steps=3,
                         keep_checkpoint_max=10)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, every_n_iter=3,
                                      name='mem')
    est.train(train_input_fn, hooks=[hook], steps=7)
    in_memory = early_stopping.read_eval_metrics(est.eval_dir('mem'))
    assert list(in_memory) == [0, 3, 6, 7]
    assert in_memory[0]['loss'] != in_memory[7]['loss']
    for step, metrics in in_memory.items():
      on_disk = est.evaluate(eval_input_fn, name='disk', checkpoint_path=str(
          tmp_path / f'model.ckpt-{step}'))
      assert on_disk['global_step'] == step
      assert metrics == {k: float(on_disk[k]) for k in ('loss', 'mae')}

  def test_reads_and_writes_no_checkpoint(self, tmp_path, monkeypatch):
    files = collections.Counter()
    restore, save = checkpoints.restore, checkpoints.CheckpointStore.save

    def counting_restore(*args):
      files['restore'] += 1
      return restore(*args)

    def counting_save(*args):
      files['save'] += 1
      return save(*args)

    monkeypatch.setattr(checkpoints, 'restore', counting_restore)
    monkeypatch.setattr(checkpoints.CheckpointStore, 'save', counting_save)
    est = make_estimator(tmp_path, save_checkpoints_steps=None,
                         save_checkpoints_secs=None)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, every_n_iter=2)
    est.train(train_input_fn, hooks=[hook], steps=5)
    assert evaluation_steps(est.eval_dir()) == {0: 1, 2: 1, 4: 1, 5: 1}
    assert files == {}
    assert est.latest_checkpoint() is None

  def test_eval_graph_is_captured_once(self, tmp_path, monkeypatch):
    modes = []

    class CountingCapture(graph_capture.CapturedModel):

      def __init__(self, model_fn_, mode, *args, **kwargs):
        modes.append(mode)
        super().__init__(model_fn_, mode, *args, **kwargs)

    monkeypatch.setattr(graph_capture, 'CapturedModel', CountingCapture)
    est = make_estimator(tmp_path)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, every_n_iter=2)
    est.train(train_input_fn, hooks=[hook], steps=6)
    last = early_stopping.read_eval_metrics(est.eval_dir())[6]
    results = est.evaluate(eval_input_fn)  # same graph, from the checkpoint
    assert modes.count(_EVAL) == 1
    assert last == {k: float(results[k]) for k in ('loss', 'mae')}

  def test_later_evaluate_reloads_its_checkpoint(self, tmp_path):
    est = make_estimator(tmp_path / 'a')
    est.train(train_input_fn, steps=6)
    before = est.evaluate(eval_input_fn)
    # Another model's training overwrites est's eval variables in memory.
    other = make_estimator(tmp_path / 'b')
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, name='other')
    other.train(train_input_fn, hooks=[hook], steps=2)
    in_memory = early_stopping.read_eval_metrics(est.eval_dir('other'))
    assert list(in_memory) == [0, 2]
    assert in_memory[2]['loss'] != float(before['loss'])
    after = est.evaluate(eval_input_fn)
    assert after == before

  def test_runs_eval_hooks_for_steps_each_time(self, tmp_path):

    class Counter(tf.estimator.SessionRunHook):

      def __init__(self):
        self.calls = collections.Counter()

      def begin(self):
        self.calls['begin'] += 1

      def after_run(self, run_context, run_values):
        self.calls['after_run'] += 1

    counter = Counter()
    est = make_estimator(tmp_path, save_checkpoints_steps=2)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, steps=2,
                                      hooks=[counter], every_n_iter=2)
    est.train(train_input_fn, hooks=[hook], steps=3)
    assert counter.calls == {'begin': 3, 'after_run': 6}  # steps 0, 2, 3
    on_disk = est.evaluate(eval_input_fn, steps=2, name='disk',
                           checkpoint_path=str(tmp_path / 'model.ckpt-2'))
    assert early_stopping.read_eval_metrics(est.eval_dir())[2] == {
        k: float(on_disk[k]) for k in ('loss', 'mae')}

  @pytest.mark.parametrize('every_n_iter', [0, -1, None])
  def test_every_n_iter_must_be_positive(self, tmp_path, every_n_iter):
    with pytest.raises(ValueError, match='every_n_iter'):
      _exp.InMemoryEvaluatorHook(make_estimator(tmp_path), eval_input_fn,
                                 every_n_iter=every_n_iter)

  def test_bad_steps_and_hooks(self, tmp_path):
    est = make_estimator(tmp_path)
    with pytest.raises(ValueError, match='steps > 0'):
      _exp.InMemoryEvaluatorHook(est, eval_input_fn, steps=0)
    with pytest.raises(TypeError, match='SessionRunHook'):
      _exp.InMemoryEvaluatorHook(est, eval_input_fn, hooks=[object()])

  def test_local_training_only(self, tmp_path, monkeypatch):
    set_tf_config(monkeypatch, 'chief')
    with pytest.raises(ValueError, match='single machine'):
      _exp.InMemoryEvaluatorHook(make_estimator(tmp_path), eval_input_fn)

  def test_custom_eval_init_fn_is_refused(self, tmp_path):

    def with_eval_init_fn(features, labels, mode):
      spec = model_fn(features, labels, mode)
      if mode != _EVAL:
        return spec
      return spec._replace(scaffold=tf.compat.v1.train.Scaffold(
          init_fn=lambda scaffold, session: None))

    est = make_estimator(tmp_path, fn=with_eval_init_fn)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn)
    with pytest.raises(ValueError, match='init_fn'):
      est.train(train_input_fn, hooks=[hook], steps=1)

  def test_other_saveables_are_refused(self, tmp_path):

    def with_saveable(features, labels, mode):
      # A graph's table puts its saveable in SAVEABLE_OBJECTS; 2.15 refused
      # it with a ValueError too.
      tf.lookup.experimental.MutableHashTable(tf.int64, tf.float32, -1.)
      assert tf.compat.v1.get_collection(
          tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS)
      return model_fn(features, labels, mode)

    est = make_estimator(tmp_path, fn=with_saveable)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn)
    with pytest.raises(ValueError, match='saveable'):
      est.train(train_input_fn, hooks=[hook], steps=1)

  def test_eval_only_variable_is_named(self, tmp_path):

    def with_eval_variable(features, labels, mode):
      if mode == _EVAL:
        tf.compat.v1.get_variable('eval_only', [], trainable=False)
      return model_fn(features, labels, mode)

    est = make_estimator(tmp_path, fn=with_eval_variable)
    hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn)
    with pytest.raises(ValueError, match='eval_only'):
      est.train(train_input_fn, hooks=[hook], steps=1)


class TestStopAtCheckpointStep:

  def test_chief_gets_a_stop_at_step_hook(self, tmp_path):
    est = make_estimator(tmp_path)
    hook = _exp.make_stop_at_checkpoint_step_hook(est, 4)
    assert isinstance(hook, tf.compat.v1.train.StopAtStepHook)
    est.train(train_input_fn, hooks=[hook], steps=100)
    assert est.get_variable_value('global_step') == 4

  def test_worker_waits_for_the_chiefs_checkpoint(self, tmp_path, monkeypatch):
    chief = make_estimator(tmp_path)
    chief.train(train_input_fn, steps=4)
    set_tf_config(monkeypatch, 'worker')
    worker = make_estimator(tmp_path)
    assert not worker.config.is_chief
    sleeps = []
    monkeypatch.setattr(evaluation_hooks, 'time',
                        types.SimpleNamespace(sleep=sleeps.append))
    hook = _exp.make_stop_at_checkpoint_step_hook(worker, 6,
                                                  wait_after_file_check_secs=7)
    counter = StepCounter()
    worker.train(train_input_fn, hooks=[hook, counter], steps=5)
    assert counter.steps == 5  # the checkpoint stayed at step 4
    assert sleeps == [7] * 4  # after the steps ending at 6, 7, 8 and 9
    chief.train(train_input_fn, steps=4)
    counter = StepCounter()
    worker.train(train_input_fn, hooks=[hook, counter], steps=5)
    assert counter.steps == 1
    assert len(sleeps) == 4

  def test_worker_needs_last_step(self, tmp_path, monkeypatch):
    set_tf_config(monkeypatch, 'worker')
    with pytest.raises(ValueError, match='last_step'):
      _exp.make_stop_at_checkpoint_step_hook(make_estimator(tmp_path), None)


def test_compat_v1_exports_the_same_objects():
  for name in ('InMemoryEvaluatorHook', 'make_stop_at_checkpoint_step_hook'):
    assert getattr(tf.compat.v1.estimator.experimental, name) is getattr(
        evaluation_hooks, name)
    assert getattr(tf.estimator.experimental, name) is getattr(
        evaluation_hooks, name)


_ORACLE_BODY = """
est = tf.estimator.Estimator(model_fn, model_dir=sys.argv[1])
hook = tf.estimator.experimental.InMemoryEvaluatorHook(est, eval_input_fn,
                                                       every_n_iter=3)
est.train(train_input_fn, hooks=[hook], steps=7)
est.train(train_input_fn, hooks=[hook], steps=6)
print(json.dumps(eval_events(est.eval_dir())))
"""


@pytest.mark.slow
def test_2_15_evaluates_at_the_same_steps_to_the_same_values(tmp_path,
                                                            venv215_python):
  theirs = run_oracle(venv215_python,
                      inspect.getsource(eval_events) + _ORACLE_BODY,
                      tmp_path / 'theirs')
  est = make_estimator(tmp_path / 'ours')
  hook = _exp.InMemoryEvaluatorHook(est, eval_input_fn, every_n_iter=3)
  est.train(train_input_fn, hooks=[hook], steps=7)
  est.train(train_input_fn, hooks=[hook], steps=6)
  ours = eval_events(est.eval_dir())
  assert [step for step, _ in ours] == [step for step, _ in theirs]
  for (_, mine), (_, reference) in zip(ours, theirs):
    assert mine.keys() == reference.keys()
    np.testing.assert_allclose([mine[k] for k in sorted(mine)],
                               [reference[k] for k in sorted(mine)], rtol=1e-6)
