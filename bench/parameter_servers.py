"""Benchmark: a parameter-server job, tfcompat_estimator vs tf-estimator 2.15.

The legacy PS program of the tests (`tests/helpers/ps_job_program.py`: a canned wide
& deep classifier with a partitioned embedding, or a custom model_fn, driven
by `train_and_evaluate`) runs as a TF_CONFIG cluster of local processes
(chief, 2 workers, 2 ps, evaluator) under each stack, and alone in one
process for reference, interleaved round by round so machine drift cancels
out. Every run's final checkpoint is evaluated by the same single-process
program here, so the accuracies compare the trained weights only. Writes a
Markdown report of medians (min-max) and ratios.

  python bench/parameter_servers.py            # full run, ~10 min on 2 cores
  python bench/parameter_servers.py --smoke    # about a minute: ours only

Six processes share this machine's cores, so the figures say how the two
runtimes behave on one small host, not how either scales (see the report).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = os.path.join(os.path.dirname(HERE), 'tests', 'helpers')
sys.path.insert(0, HERE)
sys.path.insert(0, HELPERS)
import cluster_launcher  # pylint: disable=g-import-not-at-top,wrong-import-position
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position

PROGRAM = os.path.join(HELPERS, 'ps_job_program.py')
OURS, REFERENCE = 'tfcompat_estimator', 'tf-estimator-2.15'
SIZES = {'full': dict(steps=6000, models=('wide_deep', 'custom')),
         'smoke': dict(steps=600, models=('custom',))}
JOB_TIMEOUT = 600

# metric -> (label, higher is better)
METRICS = {
    'job_wall_sec': ('PS job: launch to chief exit s', False),
    'job_steps_per_sec': ('PS job: global steps/s, first to last save', True),
    'job_late_steps_per_sec': ('PS job: global steps/s, second half', True),
    'job_cpu_sec': ('PS job: CPU s of chief, workers and ps tasks', False),
    'local_steps_per_sec': ('one process, no TF_CONFIG: steps/s, first half',
                            True),
    'job_accuracy': ('PS job: accuracy of the final checkpoint', True),
}


def _saves(log_text):
  """[(global step, time)] of the `SAVED` lines the program prints."""
  saves = []
  for line in log_text.splitlines():
    if line.startswith('SAVED '):
      _, step, stamp = line.split()
      saves.append((int(step), float(stamp)))
  return saves


def _rate(saves):
  (first_step, first_time), (last_step, last_time) = saves[0], saves[-1]
  return (last_step - first_step) / max(last_time - first_time, 1e-9)


def _late_rate(saves, steps):
  """Steps/s from the save at half of `steps` to the one at `steps`.

  Once every worker has joined (2.15 starts them 5 s apart). A 2.15 chief
  may save once more after its last step, a few steps on; that save is left
  out.
  """
  half = next(i for i, (step, _) in enumerate(saves) if step >= steps // 2)
  end = next(i for i, (step, _) in enumerate(saves) if step >= steps)
  return _rate(saves[half:end + 1])


def _cpu_seconds(pid):
  """User + system CPU seconds of a live process so far (None once gone)."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      fields = f.read().rsplit(')', 1)[1].split()
  except OSError:
    return None
  return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _alone(python, model, model_dir, steps):
  """Runs the program in one process; returns its stdout."""
  # Alone: a TF_CONFIG in the caller's environment would make it a task.
  out = subprocess.run([python, PROGRAM, model, model_dir, str(steps)],
                       capture_output=True, text=True,
                       env=bench_run.contender_env(drop=('TF_CONFIG',)),
                       timeout=JOB_TIMEOUT, check=False)
  if out.returncode != 0:
    raise RuntimeError(f'{python} {model} alone failed:\n{out.stderr[-3000:]}')
  return out.stdout


def measure_job(python, model, steps, work):
  """One PS job under `python`; returns its metrics."""
  model_dir = os.path.join(work, 'job')
  with cluster_launcher.Cluster(PROGRAM, python=python, workers=2, ps=2,
                                args=[model, model_dir, steps],
                                log_dir=os.path.join(work, 'logs')) as cluster:
    start = time.time()
    cluster.start()
    trainers = [t for t in cluster.tasks if not t.startswith('evaluator')]
    cpu = {}
    while cluster.running('chief:0') and time.time() - start < JOB_TIMEOUT:
      cpu['chief:0'] = _cpu_seconds(cluster.pid('chief:0')) or cpu.get('chief:0', 0)
      time.sleep(0.2)
    if cluster.wait('chief:0', timeout=JOB_TIMEOUT) != 0:
      raise RuntimeError(f'{python} {model} chief failed:\n'
                         + cluster.log_tail('chief:0', 40))
    wall = time.time() - start
    cpu.update((t, _cpu_seconds(cluster.pid(t)) or 0) for t in trainers
               if t != 'chief:0')
    cluster.wait('evaluator:0', timeout=JOB_TIMEOUT)
    saves = _saves(cluster.log('chief:0'))
  # The same evaluation program (ours) reads both stacks' checkpoints.
  metrics = json.loads(_alone(sys.executable, model, model_dir, 0)
                       .strip().splitlines()[-1])
  return {'job_wall_sec': wall, 'job_cpu_sec': sum(cpu.values()),
          'job_steps_per_sec': _rate(saves),
          'job_late_steps_per_sec': _late_rate(saves, steps),
          'job_accuracy': metrics['accuracy']}


def measure_local(python, model, steps, work):
  """Steps/s of the same program alone, up to its first evaluation.

  Alone, `train_and_evaluate` evaluates each checkpoint but the first
  inside training, so the rate spans the first two saves only.
  """
  saves = _saves(_alone(python, model, os.path.join(work, 'local'), steps))
  return {'local_steps_per_sec': _rate(saves[:2])}


def _measure_all(contenders, rounds, size):
  runs = {(model, name): [] for model in size['models'] for name in contenders}
  for round_index in range(rounds):
    for model in size['models']:
      for name, python in contenders.items():
        with tempfile.TemporaryDirectory() as work:
          result = measure_job(python, model, size['steps'], work)
          result.update(measure_local(python, model, size['steps'], work))
        print(f'round {round_index + 1} {model} {name}: {json.dumps(result)}',
              flush=True)
        runs[(model, name)].append(result)
  return runs


def _cell(values):
  if not values:
    return '-'
  return (f'{statistics.median(values):.4g} '
          f'({min(values):.4g}-{max(values):.4g})')


def _ratio(ours, reference, higher):
  if not ours or not reference:
    return '-'
  a, b = statistics.median(ours), statistics.median(reference)
  return f'{(a / b if higher else b / a):.2f}x'


def report(runs, contenders, args, size):
  lines = [
      '# Benchmark: a parameter-server job, tfcompat_estimator vs '
      'tensorflow-estimator 2.15', '',
      f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
      f'- machine: {bench_run.machine()}',
      f'- command: `python bench/parameter_servers.py --rounds {args.rounds}'
      f'{" --smoke" if args.smoke else ""}`',
      f'- program: `tests/helpers/ps_job_program.py`, `train_and_evaluate` to '
      f'{size["steps"]} steps, a checkpoint every {size["steps"] // 2} '
      'steps, batch 32; the job is a TF_CONFIG cluster of processes on '
      'loopback ports (chief, 2 workers, 2 ps, evaluator); processes '
      f'interleaved, {args.rounds} round(s)',
      f'- contenders: {", ".join(contenders)}', '']
  for model in size['models']:
    lines += [f'## {model}', '',
              f'| metric | {OURS} median (min-max) | {REFERENCE} median '
              '(min-max) | ours vs 2.15 |', '|---|---|---|---|']
    for metric, (label, higher) in METRICS.items():
      ours = [r[metric] for r in runs.get((model, OURS), [])]
      reference = [r[metric] for r in runs.get((model, REFERENCE), [])]
      lines.append(f'| {label} | {_cell(ours)} | {_cell(reference)} | '
                   f'{_ratio(ours, reference, higher)} |')
    lines.append('')
  lines += [
      'Ratios > 1 mean tfcompat_estimator is better (faster, or more '
      'accurate). Steps/s count global steps, from the chief\'s checkpoint '
      'times (a saving listener prints them); the first save is at step 0 '
      'when training starts. Accuracy: the final checkpoint evaluated on '
      'the same 4096 examples by one single-process program (ours) for both.',
      '']
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--smoke', action='store_true',
                      help='a short job, ours only: checks the benchmark runs')
  parser.add_argument('--out', help='default: bench/PARAMETER_SERVERS.md; '
                      'a smoke run prints its report unless given one')
  args = parser.parse_args()
  size = SIZES['smoke' if args.smoke else 'full']
  contenders = {OURS: sys.executable}
  if not args.smoke:
    contenders[REFERENCE] = bench_run.venv215_python()
  runs = _measure_all(contenders, args.rounds, size)
  text = report(runs, contenders, args, size)
  out = args.out or (None if args.smoke else
                     os.path.join(HERE, 'PARAMETER_SERVERS.md'))
  if out is None:
    print(text)
    return
  with open(out, 'w') as f:
    f.write(text)
  print(f'wrote {out}')


if __name__ == '__main__':
  main()
