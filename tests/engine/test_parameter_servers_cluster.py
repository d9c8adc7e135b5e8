"""A parameter-server job as real processes: chief, 2 workers, 2 ps, evaluator.

Every task runs `ps_job_program.py` under its own TF_CONFIG, as a legacy job
did; the same job also runs on tensorflow-estimator 2.15, and with a worker
or a ps task killed mid-training. Slow tier: each job takes 20-60 s.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests import helpers
from tests.helpers import cluster_launcher

pytestmark = pytest.mark.slow

_PROGRAM = os.path.join(helpers.DIR, 'ps_job_program.py')
_MAX_STEPS = 600


def _run_job(python, model, model_dir, log_dir, env=None, chief=1,
             evaluator_in_cluster=False):
  """Runs the job; returns each task's exit code (workers wait to exit).

  Without a chief, worker 0 leads (2.15's strategy in the RunConfig).
  """
  with cluster_launcher.Cluster(_PROGRAM, python=python, chief=chief,
                                workers=2, ps=2, log_dir=str(log_dir),
                                args=[model, str(model_dir), str(_MAX_STEPS)],
                                env=env,
                                evaluator_in_cluster=evaluator_in_cluster
                                ) as cluster:
    cluster.start()
    leader = 'chief:0' if chief else 'worker:0'
    codes = {}
    for task in (leader, 'evaluator:0', 'worker:0', 'worker:1'):
      try:
        codes[task] = cluster.wait(task, timeout=240)
      except TimeoutError as e:
        raise AssertionError(f'{task} did not finish: {e}') from e
    for task in (leader, 'evaluator:0'):
      assert 'TASK DONE' in cluster.log(task), cluster.log_tail(task, 30)
    codes.update((t, cluster.running(t)) for t in ('ps:0', 'ps:1'))
  return codes


def _alone(python, model, model_dir, max_steps):
  """Runs the program in a single process (no TF_CONFIG); returns its stdout."""
  env = {k: v for k, v in os.environ.items()
         if k not in ('TF_CONFIG', 'TF_USE_LEGACY_KERAS')}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  proc = subprocess.run([python, _PROGRAM, model, str(model_dir),
                         str(max_steps)],
                        capture_output=True, text=True, env=env, timeout=300,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _evaluate(python, model, model_dir):
  """The latest checkpoint evaluated by a single-process Estimator."""
  return json.loads(_alone(python, model, model_dir, 0).strip().splitlines()[-1])


@pytest.fixture(scope='module')
def start(tmp_path_factory):
  """`start(model)`: a model_dir holding a step-1 checkpoint of `model`.

  Jobs here and on 2.15 resume from the same weights: the same
  `tf_random_seed` draws different initial values on the two (see README),
  and on this small job the initial values decide the metrics more than the
  runtime does.
  """
  made = {}

  def make(model):
    if model not in made:
      made[model] = tmp_path_factory.mktemp('start') / model
      _alone(sys.executable, model, made[model], 1)
    return made[model]

  return make


def _copy_of(model_dir, destination):
  shutil.copytree(model_dir, destination)
  return destination


# The canned wide & deep model trains its linear part with Ftrl (two slots
# per variable) and its DNN with Adagrad; the custom one with Adagrad.
@pytest.fixture(scope='module', params=['custom', 'wide_deep'])
def ours(request, tmp_path_factory, start):
  work = tmp_path_factory.mktemp(request.param)
  model_dir = _copy_of(start(request.param), work / 'model')
  codes = _run_job(sys.executable, request.param, model_dir, work / 'logs')
  return request.param, work / 'model', codes


def test_every_task_plays_its_role(ours):
  _, _, codes = ours
  # Chief, evaluator and workers end by themselves; ps tasks serve on.
  assert codes == {'chief:0': 0, 'evaluator:0': 0, 'worker:0': 0,
                   'worker:1': 0, 'ps:0': True, 'ps:1': True}


def test_checkpoint_restores_alone_here_and_in_2_15(ours, venv215_python):
  model, model_dir, _ = ours
  here = _evaluate(sys.executable, model, model_dir)
  assert here['global_step'] == _MAX_STEPS
  there = _evaluate(venv215_python, model, model_dir)
  assert there == pytest.approx(here, rel=1e-5)


def test_2_15_runs_the_same_job_to_comparable_metrics(ours, venv215_python,
                                                      start, tmp_path):
  model, model_dir, _ = ours
  codes = _run_job(venv215_python, model,
                   _copy_of(start(model), tmp_path / 'model'),
                   tmp_path / 'logs')
  assert codes['chief:0'] == 0 and codes['evaluator:0'] == 0
  reference = _evaluate(venv215_python, model, tmp_path / 'model')
  # 2.15's PS checkpoint (its own part_N slices) evaluates the same here.
  assert _evaluate(sys.executable, model, tmp_path / 'model') == (
      pytest.approx(reference, rel=1e-5))
  here = _evaluate(sys.executable, model, model_dir)
  # Asynchronous training: the two runs interleave their workers' steps
  # differently, so the metrics agree only roughly.
  assert here['accuracy'] == pytest.approx(reference['accuracy'], abs=0.05)


def test_the_v1_strategy_in_runconfig_runs_the_same_job(tmp_path):
  # RunConfig(train_distribute=tf.compat.v1...ParameterServerStrategy())
  # in every task: the same job on TF2's strategy.
  codes = _run_job(sys.executable, 'custom', tmp_path / 'model',
                   tmp_path / 'logs', env={'PS_STRATEGY': 'v1'})
  assert codes == {'chief:0': 0, 'evaluator:0': 0, 'worker:0': 0,
                   'worker:1': 0, 'ps:0': True, 'ps:1': True}
  assert _evaluate(sys.executable, 'custom',
                   tmp_path / 'model')['global_step'] == _MAX_STEPS


def test_without_a_chief_worker_0_leads(tmp_path):
  # 2.15's strategy made worker 0 the chief of a cluster without one.
  codes = _run_job(sys.executable, 'custom', tmp_path / 'model',
                   tmp_path / 'logs', env={'PS_STRATEGY': 'v1'}, chief=0)
  assert codes == {'evaluator:0': 0, 'worker:0': 0, 'worker:1': 0,
                   'ps:0': True, 'ps:1': True}
  assert _evaluate(sys.executable, 'custom',
                   tmp_path / 'model')['global_step'] == _MAX_STEPS


def test_an_evaluator_listed_in_the_cluster_as_kubeflow_writes_it(tmp_path):
  # Kubeflow's TFJob lists every task in TF_CONFIG's cluster; 2.15 ran the
  # job so (measured, a chief, worker, ps and evaluator); here the chief
  # waited forever for an evaluator server to connect to.
  codes = _run_job(sys.executable, 'custom', tmp_path / 'model',
                   tmp_path / 'logs', evaluator_in_cluster=True)
  assert codes == {'chief:0': 0, 'evaluator:0': 0, 'worker:0': 0,
                   'worker:1': 0, 'ps:0': True, 'ps:1': True}
  assert _evaluate(sys.executable, 'custom',
                   tmp_path / 'model')['global_step'] == _MAX_STEPS


def test_training_until_the_input_ends_lets_every_task_exit(tmp_path):
  # No max_steps: each worker's input ends after one epoch of its shard.
  # 2.15's workers returned then; here they served until ended.
  model_dir = tmp_path / 'model'
  with cluster_launcher.Cluster(_PROGRAM, workers=2, ps=2, evaluator=False,
                                log_dir=str(tmp_path / 'logs'),
                                args=['custom', str(model_dir), '100'],
                                env={'PS_EPOCHS': '1'}) as cluster:
    cluster.start()
    for task in ('chief:0', 'worker:0', 'worker:1'):
      assert cluster.wait(task, timeout=240) == 0, cluster.log_tail(task, 30)
    assert 'TASK DONE' in cluster.log('chief:0')
    assert cluster.running('ps:0') and cluster.running('ps:1')
  # Each of the two workers read its half of the 4096 rows once, in
  # batches of 32.
  assert _evaluate(sys.executable, 'custom',
                   model_dir)['global_step'] == 4096 // 32


# Failures: the custom job, long enough that a task can die mid-training.
_LONG_STEPS = 3000


def _checkpoint_steps(model_dir):
  return sorted(int(path.rsplit('-', 1)[1].split('.')[0])
                for path in glob.glob(os.path.join(model_dir, 'model.ckpt-*.index')))


def _start_long_job(model_dir, log_dir):
  """A running job that has saved its first checkpoint past step 0."""
  cluster = cluster_launcher.Cluster(
      _PROGRAM, workers=2, ps=2, log_dir=str(log_dir),
      args=['custom', str(model_dir), str(_LONG_STEPS)])
  cluster.start()
  deadline = time.time() + 240
  while not any(_checkpoint_steps(model_dir)):
    assert cluster.running('chief:0'), cluster.log_tail('chief:0', 30)
    assert time.time() < deadline, 'no checkpoint past step 0 in 240 s'
    time.sleep(0.5)
  return cluster


def test_a_killed_worker_is_trained_around(tmp_path):
  model_dir = tmp_path / 'model'
  with _start_long_job(model_dir, tmp_path / 'logs') as cluster:
    cluster.kill('worker:1')
    for task in ('chief:0', 'evaluator:0', 'worker:0'):
      assert cluster.wait(task, timeout=240) == 0, cluster.log_tail(task, 30)
  assert _checkpoint_steps(model_dir)[-1] == _LONG_STEPS


def test_a_killed_ps_task_ends_the_job_and_a_restart_resumes(tmp_path):
  model_dir = tmp_path / 'model'
  with _start_long_job(model_dir, tmp_path / 'logs') as cluster:
    cluster.kill('ps:1')
    assert cluster.wait('chief:0', timeout=120) != 0
    log = cluster.log('chief:0')
    assert re.search(r'ParameterServerError: Parameter-server training '
                     r'stopped: ps task /job:ps/replica:0/task:1 failed', log)
    saved = _checkpoint_steps(model_dir)
    assert saved[-1] < _LONG_STEPS
    # Nothing in model_dir is damaged: the latest checkpoint evaluates.
    assert _evaluate(sys.executable, 'custom', model_dir)['global_step'] == (
        saved[-1])
    cluster.stop_all()
    cluster.start()  # the same job again, every task up
    for task in ('chief:0', 'evaluator:0', 'worker:0', 'worker:1'):
      assert cluster.wait(task, timeout=240) == 0, cluster.log_tail(task, 30)
    assert 'TASK DONE' in cluster.log('chief:0')
  assert _checkpoint_steps(model_dir)[-1] == _LONG_STEPS
