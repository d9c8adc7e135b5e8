"""Runs one Python program as a TF_CONFIG cluster of local processes.

Legacy parameter-server Estimator jobs run the same program in every task of
a cluster (chief, workers, ps, and an evaluator outside the cluster), each
process told its role by the `TF_CONFIG` environment variable. This module
starts such a job on loopback ports, one process per task, so tests can check
real multi-process behaviour (exits, killed tasks, restarts).

Usage:

    from tests.helpers.cluster_launcher import Cluster

    with Cluster('job.py', workers=2, ps=2, args=[model_dir]) as cluster:
      cluster.start()
      codes = cluster.finish(timeout=300)   # waits for chief and evaluator,
      assert codes['chief:0'] == 0          # then kills ps and workers
      print(cluster.log('evaluator:0'))

Task names are 'chief:0', 'worker:1', 'ps:0', 'evaluator:0'. Each task's
stdout and stderr go to one file, `cluster.log_path(task)`. A task's
`TF_CONFIG` is `cluster.tf_config(task)`; the evaluator gets a task but is
not listed in the cluster, as 2.15's RunConfig required. `ps` tasks serve
forever (2.15's workers exit at max_steps, but a job in trouble may leave them
waiting), so `finish()` waits only for the tasks that end a job and kills the
others; leaving the `with` block kills whatever still runs. `kill(task)` then
`start([task])` restarts one task on its old port (its log is appended to).

From a shell (waits for chief and evaluator, prints exit codes and log dir):

    python3 tests/helpers/cluster_launcher.py [--python PY] [--workers N] [--ps N]
        [--no-evaluator] [--log-dir DIR] [--timeout S] program.py [args...]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import portpicker

# Tasks whose exit ends a job: the chief finishes training, the evaluator
# stops after evaluating the final checkpoint. ps tasks never exit.
JOB_ENDING_TASKS = ('chief', 'evaluator')


class Cluster(object):
  """A TF_CONFIG cluster of processes running one program.

  Args:
    program: path of the Python program every task runs.
    python: the interpreter to run it with (e.g. a 2.15 reference venv's).
    chief: number of chief tasks (0 or 1).
    workers: number of worker tasks.
    ps: number of ps tasks.
    evaluator: whether to add one evaluator task (outside the cluster).
    evaluator_in_cluster: list the evaluator in the cluster too, as
      Kubeflow's TFJob writes TF_CONFIG.
    env: extra environment variables for every task (they win over the
      inherited environment and the launcher's defaults).
    args: command-line arguments passed to the program in every task.
    cwd: working directory of the tasks (default: the current one).
    log_dir: directory for the per-task log files (default: a new temporary
      directory).
    host: the address the tasks listen on.
  """

  def __init__(self, program, python=sys.executable, chief=1, workers=2, ps=2,
               evaluator=True, env=None, args=(), cwd=None, log_dir=None,
               host='localhost', evaluator_in_cluster=False):
    if chief not in (0, 1):
      raise ValueError(f'A TF_CONFIG cluster has at most one chief, got {chief}.')
    if chief + workers < 1:
      raise ValueError('A cluster needs a chief or at least one worker.')
    self.program = os.path.abspath(program)
    self.python = python
    self.args = [str(a) for a in args]
    self.cwd = cwd
    self.log_dir = log_dir or tempfile.mkdtemp(prefix='cluster-')
    os.makedirs(self.log_dir, exist_ok=True)
    self._extra_env = dict(env or {})
    self.cluster_spec = {}
    for job, count in (('chief', chief), ('worker', workers), ('ps', ps)):
      if count:
        self.cluster_spec[job] = [f'{host}:{portpicker.pick_unused_port()}'
                                  for _ in range(count)]
    self.tasks = [f'{job}:{i}' for job, addresses in self.cluster_spec.items()
                  for i in range(len(addresses))]
    if evaluator:
      self.tasks.append('evaluator:0')
      if evaluator_in_cluster:
        self.cluster_spec['evaluator'] = [
            f'{host}:{portpicker.pick_unused_port()}']
    self._procs = {}
    self._logs = {}

  # Configuration ------------------------------------------------------------

  def tf_config(self, task):
    """The TF_CONFIG dict of `task` ('worker:1')."""
    job, index = self._parse(task)
    return {'cluster': self.cluster_spec,
            'task': {'type': job, 'index': index}}

  def environment(self, task):
    """The full environment `task` is started with."""
    env = dict(os.environ)
    # The 2.15 reference venv must not see a TF 2.16+ switch to tf_keras.
    env.pop('TF_USE_LEGACY_KERAS', None)
    env['TF_CPP_MIN_LOG_LEVEL'] = '2'
    env['PYTHONUNBUFFERED'] = '1'  # logs readable while the task runs
    env.update(self._extra_env)
    env['TF_CONFIG'] = json.dumps(self.tf_config(task))
    return env

  def log_path(self, task):
    """The file holding `task`'s stdout and stderr."""
    self._parse(task)
    return os.path.join(self.log_dir, task.replace(':', '-') + '.log')

  # Processes ----------------------------------------------------------------

  def start(self, tasks=None):
    """Starts `tasks` (default: all of them, ps first); returns self.

    A task may be started again once its process has ended (a restart
    appends to its log).
    """
    order = {'ps': 0, 'worker': 1, 'chief': 2, 'evaluator': 3}
    for task in sorted(self.tasks if tasks is None else tasks,
                       key=lambda t: order.get(self._parse(t)[0], 4)):
      if self.running(task):
        raise RuntimeError(f'Task {task} is already running.')
      if task in self._logs:
        self._logs[task].close()
      log = open(self.log_path(task), 'ab')
      self._logs[task] = log
      self._procs[task] = subprocess.Popen(
          [self.python, self.program] + self.args, env=self.environment(task),
          cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=log,
          stderr=subprocess.STDOUT, start_new_session=True)
    return self

  def running(self, task):
    """Whether `task` has a live process."""
    proc = self._procs.get(task)
    return proc is not None and proc.poll() is None

  def pid(self, task):
    """The process id of `task`'s last start."""
    return self._proc(task).pid

  def returncode(self, task):
    """`task`'s exit code, None while it runs (negative: killed by signal)."""
    return self._proc(task).poll()

  def wait(self, task, timeout=None):
    """Waits for `task` to end and returns its exit code.

    Raises:
      TimeoutError: `task` still runs after `timeout` seconds (its log's
        tail is in the message).
    """
    try:
      return self._proc(task).wait(timeout)
    except subprocess.TimeoutExpired:
      raise TimeoutError(f'Task {task} still runs after {timeout}s; log tail:\n'
                         + self.log_tail(task)) from None

  def kill(self, task, sig=signal.SIGKILL):
    """Sends `sig` to `task`'s process group, then reaps it if it was killed."""
    proc = self._proc(task)
    if proc.poll() is None:
      try:
        os.killpg(proc.pid, sig)
      except ProcessLookupError:
        pass
      if sig in (signal.SIGKILL, signal.SIGTERM):
        try:
          proc.wait(10)
        except subprocess.TimeoutExpired:
          os.killpg(proc.pid, signal.SIGKILL)
          proc.wait()

  def finish(self, tasks=None, timeout=None):
    """Waits for the job-ending tasks, kills the others; returns exit codes.

    Args:
      tasks: the tasks to wait for (default: chief and evaluator).
      timeout: seconds allowed for all of them together.

    Returns:
      {task: exit code} for every started task; killed ones have a negative
      code (-9), as `subprocess` reports a signal.
    """
    if tasks is None:
      tasks = [t for t in self._procs if self._parse(t)[0] in JOB_ENDING_TASKS]
    deadline = None if timeout is None else time.time() + timeout
    for task in tasks:
      left = None if deadline is None else max(0.0, deadline - time.time())
      self.wait(task, left)
    self.stop_all()
    return {task: proc.returncode for task, proc in self._procs.items()}

  def stop_all(self):
    """Kills every task still running and closes the logs."""
    for task in list(self._procs):
      self.kill(task)
    for log in self._logs.values():
      log.close()

  # Logs ---------------------------------------------------------------------

  def log(self, task):
    """The text `task` wrote so far (stdout and stderr interleaved)."""
    with open(self.log_path(task), 'rb') as f:
      return f.read().decode('utf-8', 'replace')

  def log_tail(self, task, lines=20):
    """The last `lines` lines of `task`'s log."""
    return '\n'.join(self.log(task).splitlines()[-lines:])

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    self.stop_all()

  # Helpers ------------------------------------------------------------------

  def _parse(self, task):
    job, _, index = task.partition(':')
    if task not in self.tasks or not index.isdigit():
      raise ValueError(f'Unknown task {task!r}; this cluster has {self.tasks}.')
    return job, int(index)

  def _proc(self, task):
    self._parse(task)
    if task not in self._procs:
      raise RuntimeError(f'Task {task} was never started.')
    return self._procs[task]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--python', default=sys.executable)
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--ps', type=int, default=2)
  parser.add_argument('--no-evaluator', action='store_true')
  parser.add_argument('--log-dir')
  parser.add_argument('--timeout', type=float, default=None)
  parser.add_argument('program')
  parser.add_argument('args', nargs=argparse.REMAINDER)
  flags = parser.parse_args(argv)
  with Cluster(flags.program, python=flags.python, workers=flags.workers,
               ps=flags.ps, evaluator=not flags.no_evaluator,
               args=flags.args, log_dir=flags.log_dir) as cluster:
    start = time.time()
    cluster.start()
    codes = cluster.finish(timeout=flags.timeout)
    print(json.dumps({'log_dir': cluster.log_dir, 'seconds': round(
        time.time() - start, 1), 'returncodes': codes}, indent=1))
  return 0 if all(codes[t] == 0 for t in codes
                  if t.split(':')[0] in JOB_ENDING_TASKS) else 1


if __name__ == '__main__':
  sys.exit(main())
