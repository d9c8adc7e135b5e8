"""Parameter-server training (a TF_CONFIG cluster with ps tasks) on TF2.

The cases run in `ps_in_process_child.py`, in a process of their own: two
ps and two worker servers in that process, the process itself the chief. The
multi-process job, with an evaluator and 2.15 on the same cluster, is in
`test_parameter_servers_cluster.py` (slow tier).
"""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tests import helpers
from tfcompat_estimator.engine import parameter_servers

_CHILD = os.path.join(helpers.DIR, 'ps_in_process_child.py')


@pytest.fixture(scope='module')
def cases(tmp_path_factory):
  work_dir = tmp_path_factory.mktemp('ps')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_CONFIG', None)
  proc = subprocess.run([sys.executable, _CHILD, str(work_dir)],
                        capture_output=True, text=True, timeout=600, env=env,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1]), work_dir


@pytest.fixture(scope='module')
def trained(cases):
  results, work_dir = cases
  return results['train'], work_dir / 'train'


def test_variables_go_to_the_ps_tasks_in_turn(trained):
  result, _ = trained
  # As 2.15's replica_device_setter: global_step on ps 0, then in turn; the
  # two parts of the partitioned `w` on different ps tasks.
  assert result['devices'] == {
      'w/part_0': '/job:ps/replica:0/task:1/device:CPU:0',
      'w/part_1': '/job:ps/replica:0/task:0/device:CPU:0',
      'b': '/job:ps/replica:0/task:1/device:CPU:0'}


def test_each_worker_reads_its_own_input(trained):
  result, _ = trained
  # The chief's call (for the batch's shape), then one per worker.
  assert result['contexts'] == [[2, 0], [2, 0], [2, 1]]


def test_trains_to_max_steps_with_hooks_on_the_chief(trained):
  result, _ = trained
  assert result['global_step'] == 60
  # A hook fetching every step sees the steps one by one.
  assert result['hooked_steps'] == [0, 1, 2, 58, 59]
  assert result['loss'] < 0.5  # y = sum(x) is being learnt


def test_checkpoint_has_tf1_names_and_loads_alone(trained):
  result, model_dir = trained
  # The partitioned variable is saved whole-named with its slices, as 2.15
  # saved it; a single-process Estimator reads it back.
  assert result['checkpoint'] == [['b', [1]], ['global_step', []],
                                  ['w', [4, 1]]]
  reader = tf.train.load_checkpoint(str(model_dir))
  assert reader.get_tensor('w').shape == (4, 1)
  assert int(reader.get_tensor('global_step')) == 60


def test_each_worker_server_learns_that_training_is_over(cases):
  assert cases[0]['training_over'] == {'before': [False, False],
                                       'after': [True, True]}


def test_nan_loss_stops_training(cases):
  assert cases[0]['nan_loss'] == {'error': 'NanLossDuringTrainingError'}


def test_input_fn_returning_tensors_is_refused(cases):
  result = cases[0]['tensor_input']
  assert 'must return a tf.data.Dataset' in result['error']
  assert result['model_dir'] == []  # nothing written


def test_optimizer_slots_sit_beside_their_variables(cases):
  # Ftrl's accumulators take no turn: each goes to its variable's ps task
  # (ResourceApplyFtrl needs them together), so the job trains.
  result = cases[0]['ftrl_slots']
  devices = result['devices']
  for part in ('w/part_0', 'w/part_1'):
    assert devices[part + '/Ftrl'] == devices[part]
    assert devices[part + '/Ftrl_1'] == devices[part]
  assert devices['w/part_0'] != devices['w/part_1']
  assert result['global_step'] == 20
  assert result['checkpoint'] == ['global_step', 'w', 'w/Ftrl', 'w/Ftrl_1']


def test_a_step_lost_with_its_worker_runs_again_for_the_hooks(cases):
  # Each step here is a hooked one: a lost result is run again (one more
  # step on the ps tasks), so the hook's steps skip the lost one, and a
  # lost last step ends one past max_steps (as async 2.15 jobs overshot).
  result = cases[0]['lost_results']
  assert result['global_step'] in (12, 13)
  seen = result['hooked_steps']
  assert seen == sorted(set(seen)) and seen[0] == 0
  assert seen[-1] == result['global_step'] - 1
  assert 6 <= len(seen) < 12


def test_tfs_own_hooks_run_on_the_chief_over_all_steps(cases):
  result = cases[0]['known_hooks']
  # One hook instance sees the global steps of both workers (2.15 ran a
  # copy on each trainer, over its own steps).
  assert result['logged'] == [0, 10, 20]
  assert result['global_step'] == 25  # StopAtStepHook(num_steps=25)
  assert result['hook_checkpoints'] == [0, 10, 20, 25]
  assert result['counter_events']
  assert 'supports only single machine' in result['in_memory_error']


def test_a_global_step_waiter_is_refused_rather_than_waiting_forever(cases):
  error = cases[0]['known_hooks']['waiter_error']
  assert 'GlobalStepWaiterHook(wait_until_step=3)' in error
  assert 'would wait forever' in error


def test_runconfig_takes_a_tf2_strategy_without_tf_config(cases):
  # 2.15 refused TF2's ParameterServerStrategy in RunConfig.
  result = cases[0]['user_strategy']
  assert result['global_step'] == 30
  assert sorted(set(result['devices'].values())) == [
      '/job:ps/replica:0/task:0/device:CPU:0',
      '/job:ps/replica:0/task:1/device:CPU:0']
  # Its variable_partitioner would make TF1 variables TF2 ShardedVariables.
  assert 'without variable_partitioner' in result['partitioner_error']


class _Finished:
  """A scheduled call's `RemoteValue` whose fetch fails as TF's did."""

  def __init__(self, error):
    self._error = error

  def fetch(self):
    raise self._error


def _remote_error(job_task):
  # The shape of the errors measured when a task of a real cluster died.
  return tf.errors.UnavailableError(None, None, (
      'Graph execution error:\n\n2 root error(s) found.\n'
      '  (0) UNAVAILABLE:  failed to connect to all addresses\n'
      'Additional GRPC error information from remote target '
      f'/job:{job_task}/device:CPU:0 while calling RecvTensor'))


def test_a_lost_ps_task_is_named_in_the_error():
  with pytest.raises(parameter_servers.ParameterServerError,
                     match=r'stopped: ps task /job:ps/replica:0/task:1 failed '
                     r'\(UnavailableError: UNAVAILABLE: failed to connect to '
                     r'all addresses\)\. Restart the job'):
    parameter_servers.fetch(_Finished(_remote_error('ps/replica:0/task:1')))


def test_a_result_lost_with_its_worker_is_none():
  # The coordinator reruns calls of a failed worker, but not a finished
  # call's result that was still on it.
  lost = _Finished(_remote_error('worker/replica:0/task:1'))
  assert parameter_servers.fetch(lost) is None
