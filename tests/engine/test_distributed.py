"""Training under tf.distribute strategies, each scenario in child processes.

A strategy fixes the devices and the cluster of its process, so the runs
happen in `distributed_child.py`; MultiWorkerMirroredStrategy jobs are real
processes talking over loopback ports.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests import helpers
from tfcompat_estimator.engine import distribution
from tfcompat_estimator import run_config as run_config_lib

CHILD = os.path.join(helpers.DIR, 'distributed_child.py')
_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


def _start(args, tf_config=None, log=None):
  env = dict(_ENV)
  env.pop('TF_CONFIG', None)
  if tf_config is not None:
    env['TF_CONFIG'] = json.dumps(tf_config)
  return subprocess.Popen([sys.executable, CHILD] + [str(a) for a in args],
                          env=env, stdout=subprocess.PIPE, stderr=log,
                          text=True)


def _finish(proc, timeout=300):
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, f'child failed ({proc.returncode}): {out}'
  return out


def _result(proc):
  return json.loads(_finish(proc).strip().splitlines()[-1])


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _cluster(with_evaluator):
  chief, worker, evaluator = _free_ports(3)
  cluster = {'chief': [f'localhost:{chief}'], 'worker': [f'localhost:{worker}']}
  if with_evaluator:  # TF2's MultiWorkerMirroredStrategy wants it listed
    cluster['evaluator'] = [f'localhost:{evaluator}']
  return cluster


def _task(cluster, task_type):
  return {'cluster': cluster, 'task': {'type': task_type, 'index': 0}}


# Three models in the fast tier, the other two (about 30 s each on a slow
# host) in the slow one.
@pytest.mark.parametrize('model', [
    'custom', 'dnn_v2', 'keras', pytest.param('dnn_v1', marks=pytest.mark.slow),
    pytest.param('wide_deep', marks=pytest.mark.slow)])
def test_mirrored_strategy_trains_like_one_device(tmp_path, model):
  results = _result(_start(['local', tmp_path, model, 2, 200],
                           log=subprocess.DEVNULL))
  single, mirrored = results['single'], results['mirrored']
  assert mirrored['global_step'] == single['global_step'] == 200
  # Same checkpoint layout: mirrored variables are saved under their names.
  assert mirrored['variables'] == single['variables']
  assert single['accuracy'] > 0.9
  assert abs(mirrored['accuracy'] - single['accuracy']) < 0.03
  assert mirrored['loss'] < 2 * single['loss'] + 0.02


def test_tf1_program_with_a_strategy_on_a_missing_gpu_trains_on_the_cpu(
    tmp_path):
  """As on 2.15 (soft placement; the strategy's collectives made in a
  graph get the ordering tokens the eager engine needs). A second
  MirroredStrategy's model of other shapes trains too: each strategy
  numbers its collectives from the same key, and the runtime kept the
  first model's shapes for them ("Shape mismatch in the collective
  instance")."""
  results = _result(_start(['tf1_gpu', tmp_path, 200], log=subprocess.DEVNULL))
  if results['gpus']:
    pytest.skip('the host has a GPU')
  for name in ('mirrored', 'one_device', 'mirrored_again'):
    assert results[name]['global_step'] == 200
    assert results[name]['accuracy'] > 0.9


@pytest.mark.slow  # a three-process cluster: 76 s on a slow host
def test_two_worker_job_with_evaluator(tmp_path):
  model_dir = tmp_path / 'job'
  cluster = _cluster(with_evaluator=True)
  procs = {task: _start(['cluster', model_dir, 120], _task(cluster, task),
                        log=open(tmp_path / f'{task}.log', 'w'))
           for task in ('chief', 'worker', 'evaluator')}
  reference = _start(['local', tmp_path / 'one', 'dnn_v2', 1, 120],
                     log=subprocess.DEVNULL)
  evaluated = _result(procs['evaluator'])
  for task in ('chief', 'worker'):
    _finish(procs[task])
  one_worker = _result(reference)['single']

  assert evaluated['global_step'] == 120
  assert abs(evaluated['accuracy'] - one_worker['accuracy']) < 0.03
  # Only the chief wrote checkpoints and train summaries.
  state = tf.train.get_checkpoint_state(str(model_dir))
  assert os.path.basename(state.model_checkpoint_path) == 'model.ckpt-120'
  assert len(glob.glob(str(model_dir / 'events.out.tfevents.*'))) == 1
  steps = [int(p.rsplit('-', 1)[1].split('.')[0])
           for p in glob.glob(str(model_dir / 'model.ckpt-*.index'))]
  assert sorted(steps) == [40, 80, 120] or sorted(steps) == [0, 40, 80, 120]
  # The evaluator's final export serves a tf.Example request.
  exports = sorted(glob.glob(str(model_dir / 'export' / 'latest' / '*')))
  assert exports
  served = tf.saved_model.load(exports[-1]).signatures['classification']
  example = tf.train.Example(features=tf.train.Features(feature={
      'x': tf.train.Feature(float_list=tf.train.FloatList(
          value=[1.0, -1.0, 0.0, 1.0]))}))
  scores = served(inputs=tf.constant([example.SerializeToString()]))['scores']
  assert scores.shape == (1, 2)
  assert scores.numpy()[0, 1] > 0.9  # 1*1 + -2*-1 + 1.5*1 > 0: class 1


def test_two_worker_job_of_a_strategy_made_after_disable_eager_execution(
    tmp_path):
  # TensorFlow's multi-worker Estimator tutorial; the strategy then starts no
  # server, and every step failed: "/job:chief/replica:0/task:0/device:CPU:0
  # unknown device". 2.15 trained.
  model_dir = tmp_path / 'job'
  cluster = _cluster(with_evaluator=False)
  procs = {task: _start(['tf1_cluster', model_dir, 60], _task(cluster, task),
                        log=open(tmp_path / f'{task}.log', 'w'))
           for task in ('chief', 'worker')}
  chief = _result(procs['chief'])
  _finish(procs['worker'])

  assert chief['global_step'] == 60
  assert chief['accuracy'] > 0.9
  assert os.path.basename(tf.train.latest_checkpoint(str(model_dir))) == (
      'model.ckpt-60')


@pytest.mark.parametrize('task_type', ['chief', 'worker'])
def test_one_task_cluster_of_a_strategy_made_after_disable_eager_execution(
    tmp_path, task_type):
  # kubeflow's keras_model_to_estimator example run as a lone chief: the
  # strategy names its devices by job, and with no server started every
  # step failed ("/job:chief/... unknown device"). 2.15 trained (measured
  # with a lone chief and a lone worker).
  port, = _free_ports(1)
  cluster = {task_type: [f'localhost:{port}']}
  result = _result(_start(['tf1_cluster', tmp_path / 'job', 60],
                          _task(cluster, task_type),
                          log=open(tmp_path / 'task.log', 'w')))
  assert result['global_step'] == 60
  assert result['accuracy'] > 0.9


@pytest.mark.slow  # a cluster held to deadlines: 42 s on a slow host
def test_killed_worker_fails_the_job_with_a_clear_error(tmp_path):
  model_dir = tmp_path / 'job'
  cluster = _cluster(with_evaluator=False)
  chief_log = tmp_path / 'chief.log'
  chief = _start(['cluster', model_dir, 10**7], _task(cluster, 'chief'),
                 log=open(chief_log, 'w'))
  worker = _start(['cluster', model_dir, 10**7], _task(cluster, 'worker'),
                  log=subprocess.DEVNULL)
  try:
    deadline = time.time() + 180
    while not glob.glob(str(model_dir / 'model.ckpt-40.index')):
      assert time.time() < deadline, 'training never reached step 40'
      assert chief.poll() is None and worker.poll() is None
      time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    chief.communicate(timeout=180)  # fails, does not hang
  finally:
    for proc in (chief, worker):
      if proc.poll() is None:
        proc.kill()
  assert chief.returncode != 0
  log = chief_log.read_text()
  assert 'WorkerUnavailableError' in log
  assert 'another worker of the TF_CONFIG cluster' in log
  # The checkpoints written before the failure are intact.
  latest = tf.train.latest_checkpoint(str(model_dir))
  assert tf.train.load_checkpoint(latest).get_tensor('global_step') >= 40


@pytest.mark.parametrize('tf_config, match', [
    ('{"cluster": ', 'not valid JSON'),
    (json.dumps({'cluster': {'worker': ['a:1', 'b:1']},
                 'task': {'type': 'trainer', 'index': 0}}),
     'trainer is not a valid task_type in the cluster_spec'),
    (json.dumps({'cluster': {'worker': ['a:1', 'b:1']},
                 'task': {'type': 'worker', 'index': 2}}),
     '2 is not a valid task_id for task_type worker'),
    (json.dumps({'cluster': {'chief': ['a:1', 'c:1'], 'worker': ['b:1']},
                 'task': {'type': 'worker', 'index': 0}}),
     'must have only one "chief" node'),
])
def test_bad_tf_config_for_a_strategy_cluster(monkeypatch, tf_config, match):
  monkeypatch.setenv('TF_CONFIG', tf_config)
  with pytest.raises(ValueError, match=match):
    run_config_lib.strategy_cluster_task()


def test_strategy_cluster_task_without_chief_job(monkeypatch):
  monkeypatch.setenv('TF_CONFIG', json.dumps({
      'cluster': {'worker': ['a:1', 'b:1']},
      'task': {'type': 'worker', 'index': 1}}))
  assert run_config_lib.strategy_cluster_task() == ('worker', 1)


def test_v1_parameter_server_strategy_needs_ps_tasks():
  config = run_config_lib.RunConfig()
  config._train_distribute = (  # pylint: disable=protected-access
      tf.compat.v1.distribute.experimental.ParameterServerStrategy())
  with pytest.raises(ValueError, match='ParameterServerStrategyV1 needs a '
                     'TF_CONFIG cluster with "ps" tasks'):
    distribution.strategy_for('train', config)
  assert distribution.strategy_for('eval', config) is None


def test_worker_of_a_ps_cluster_does_not_train_itself(monkeypatch, tmp_path):
  monkeypatch.setenv('TF_CONFIG', json.dumps({
      'cluster': {'chief': ['a:1'], 'worker': ['b:1'], 'ps': ['c:1']},
      'task': {'type': 'worker', 'index': 0}}))

  def model_fn(features, labels, mode):
    del labels
    loss = tf.reduce_sum(features)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=tf.no_op())

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  with pytest.raises(ValueError, match='Only the chief trains in a '
                     'parameter-server cluster; this task is worker:0'):
    estimator.train(lambda: tf.data.Dataset.from_tensors([1.0]), steps=1)
  assert not os.listdir(tmp_path)


def test_eval_distribute_is_reported_unused_and_evaluation_still_runs(tmp_path, monkeypatch):
  """Evaluation and prediction run on one device; the unused strategy is logged."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  logged = []
  monkeypatch.setattr(distribution.logging, 'log_first_n',
                      lambda level, message, n, *args: logged.append((level, message % args)))

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'x': np.arange(8, dtype=np.float32).reshape(8, 1)},
         np.arange(8, dtype=np.float32).reshape(8, 1))).batch(4)

  columns = [tf.feature_column.numeric_column('x')]
  plain = tf.estimator.LinearRegressor(columns, model_dir=str(tmp_path))
  plain.train(input_fn, steps=2)
  config = tf.estimator.RunConfig(eval_distribute=tf.distribute.MirroredStrategy())
  distributed = tf.estimator.LinearRegressor(columns, model_dir=str(tmp_path), config=config)
  assert distributed.evaluate(input_fn) == plain.evaluate(input_fn)
  assert [p['predictions'] for p in distributed.predict(input_fn)] == [
      p['predictions'] for p in plain.predict(input_fn)]
  assert logged[0] == (tf.compat.v1.logging.WARN, 'RunConfig.eval_distribute is not used: '
                       'eval runs on one device (its results do not depend on it).')
