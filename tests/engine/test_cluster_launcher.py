"""The TF_CONFIG cluster launcher (tests/helpers/cluster_launcher.py) on a toy program.

The program imports no TensorFlow, so the whole cluster starts and ends in
well under a second per task.
"""

import json

import pytest

from tests.helpers.cluster_launcher import Cluster

# Prints its task; ps tasks block forever, as a TF server's join() does.
_PROGRAM = '''
import json, os, sys, time
config = json.loads(os.environ['TF_CONFIG'])
print(json.dumps({'task': config['task'], 'cluster': config['cluster'],
                  'args': sys.argv[1:],
                  'log_level': os.environ.get('TF_CPP_MIN_LOG_LEVEL'),
                  'legacy_keras': os.environ.get('TF_USE_LEGACY_KERAS')}))
sys.stdout.flush()
if config['task']['type'] == 'ps':
  time.sleep(3600)
sys.exit(3 if config['task']['type'] == 'evaluator' else 0)
'''


def _reported(cluster, task):
  return json.loads(cluster.log(task).strip().splitlines()[-1])


def test_each_task_gets_its_tf_config_and_ps_is_killed(tmp_path, monkeypatch):
  program = tmp_path / 'job.py'
  program.write_text(_PROGRAM)
  monkeypatch.setenv('TF_USE_LEGACY_KERAS', '1')  # never reaches the tasks
  with Cluster(program, workers=2, ps=1, args=['dir', 7],
               log_dir=str(tmp_path / 'logs')) as cluster:
    assert cluster.tasks == ['chief:0', 'worker:0', 'worker:1', 'ps:0',
                             'evaluator:0']
    cluster.start()
    for task in ('worker:0', 'worker:1'):
      assert cluster.wait(task, timeout=30) == 0
    assert cluster.running('ps:0')
    codes = cluster.finish(timeout=30)
  assert codes == {'ps:0': -9, 'worker:0': 0, 'worker:1': 0, 'chief:0': 0,
                   'evaluator:0': 3}
  ports = set()
  for task in cluster.tasks:
    report = _reported(cluster, task)
    job, index = task.split(':')
    assert report['task'] == {'type': job, 'index': int(index)}
    assert report['args'] == ['dir', '7']
    assert report['log_level'] == '2' and report['legacy_keras'] is None
    # One cluster for all; the evaluator is outside it, as 2.15 required.
    assert report['cluster'] == cluster.cluster_spec
    assert sorted(report['cluster']) == ['chief', 'ps', 'worker']
    ports.update(report['cluster']['worker'] + report['cluster']['ps'] +
                 report['cluster']['chief'])
  assert len(ports) == 4


def test_timeout_names_the_task_and_bad_task_names_fail(tmp_path):
  program = tmp_path / 'job.py'
  program.write_text(_PROGRAM)
  with Cluster(program, chief=0, workers=1, ps=1, evaluator=False,
               log_dir=str(tmp_path / 'logs')) as cluster:
    cluster.start(['ps:0'])
    with pytest.raises(TimeoutError, match='Task ps:0 still runs after 0.5s'):
      cluster.wait('ps:0', timeout=0.5)
    with pytest.raises(ValueError, match="Unknown task 'chief:0'"):
      cluster.kill('chief:0')
    with pytest.raises(RuntimeError, match='Task worker:0 was never started'):
      cluster.returncode('worker:0')
    cluster.kill('ps:0')
    assert cluster.returncode('ps:0') == -9
