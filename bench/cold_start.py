"""Cold start: each call type's first call in a fresh process, and the demo.

What a user waits for before anything happens: the first `train()` to its
first step, the first `evaluate()`, the first `predict()` result and the
first `export_saved_model()` of a fresh process (`cold_call.py`), under this
package (TF 2.21) and under tensorflow-estimator 2.15 (TF 2.15), interleaved
round by round. Also the README demo's whole wall time, process start to
exit, with the same program run on 2.15 (its two added lines made no-ops).

Each call's bound comes from a third contender, the same first call
written by hand on TF 2.21 with no Estimator (`hand_cold_call.py`): its
ratio to 2.15 is what a lean TF 2.21 program of that shape reaches here.
A bound under the target says that reaching it means doing less than
that program does.

  python bench/cold_start.py                       # 3 rounds, every workload
  python bench/cold_start.py --workloads dnn_dense --rounds 1
  python bench/cold_start.py --smoke              # tiny run without the 2.15 venv

Writes bench/COLD_START.md; the target (issue: at least 1.2x faster than
2.15 for each) is in the table.
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
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position

OURS, REF, LOOP = bench_run.OURS, bench_run.REF, bench_run.LOOP
CALLS = ('train', 'evaluate', 'predict', 'export')
TARGET = 1.2
DEMO = os.path.join(ROOT, 'demo', 'legacy_pipeline.py')
# The demo's two added lines, as no-ops: the same program as 2.15 ran it.
_NO_OP_PACKAGE = 'def install():\n  return None\n'


def _python(contender):
  return bench_run.venv215_python() if contender == REF else sys.executable


def _cold_call(contender, workload, call, model_dir):
  program = 'hand_cold_call.py' if contender == LOOP else 'cold_call.py'
  argv = [_python(contender), os.path.join(HERE, program), workload, call,
          model_dir]
  return bench_run.run_once(argv)['sec']


def _demo_seconds(contender, stub_dir):
  env = bench_run.contender_env()
  if contender == REF:
    env['PYTHONPATH'] = stub_dir
  with tempfile.TemporaryDirectory() as model_dir:
    start = time.perf_counter()
    out = subprocess.run([_python(contender), DEMO, '--model_dir', model_dir],
                         capture_output=True, text=True, env=env, timeout=1800)
    seconds = time.perf_counter() - start
  if out.returncode != 0:
    raise RuntimeError(f'demo under {contender} failed:\n{out.stderr[-3000:]}')
  return seconds


def measure(workloads, contenders, rounds, with_demo):
  """{workload or 'demo': {call: {contender: [seconds per round]}}}."""
  with tempfile.TemporaryDirectory(prefix='cold_start_') as scratch:
    return _measure_in(scratch, workloads, contenders, rounds, with_demo)


def _measure_in(scratch, workloads, contenders, rounds, with_demo):
  """measure(), with every model_dir and the stub package under `scratch`."""
  results = {w: {c: {k: [] for k in contenders} for c in CALLS}
             for w in workloads}
  model_dirs = {(w, k): tempfile.mkdtemp(prefix=f'{w}_{k}_', dir=scratch)
                for w in workloads for k in contenders}
  for (workload, contender), model_dir in model_dirs.items():
    _cold_call(contender, workload, 'setup', model_dir)
  stub_dir = os.path.join(scratch, 'noop_package')
  os.makedirs(os.path.join(stub_dir, 'tfcompat_estimator'))
  with open(os.path.join(stub_dir, 'tfcompat_estimator', '__init__.py'), 'w') as f:
    f.write(_NO_OP_PACKAGE)
  demo_contenders = [k for k in contenders if k != LOOP]
  if with_demo:
    results['demo'] = {'wall': {k: [] for k in demo_contenders}}
  for round_index in range(rounds):
    for workload in workloads:
      for call in CALLS:
        for contender in contenders:
          results[workload][call][contender].append(_cold_call(
              contender, workload, call, model_dirs[(workload, contender)]))
      print(f'round {round_index + 1}: {workload} done', flush=True)
    if with_demo:
      for contender in demo_contenders:
        results['demo']['wall'][contender].append(
            _demo_seconds(contender, stub_dir))
      print(f'round {round_index + 1}: demo done', flush=True)
  return results


def report(results, args):
  lines = [
      '# Cold start: first call of a fresh process, tfcompat_estimator vs '
      'tensorflow-estimator 2.15', '',
      f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
      f'- machine: {bench_run.machine()}',
      f'- command: `{args.command}`',
      f'- rounds (contenders interleaved per call): {args.rounds}', '',
      'Seconds of the call alone, median (min-max); imports, data and the '
      'Estimator\'s construction are not in them (the demo\'s wall time has '
      f'everything). Ratio: 2.15\'s median / ours; target >= {TARGET}x. '
      f'{LOOP}: the same call written by hand on TF 2.21, no Estimator '
      '(bench/hand_cold_call.py); bound: 2.15\'s median / its median, the '
      'ratio a lean TF 2.21 program of that shape reaches. vs hand: its '
      'median / ours.', '',
      f'| workload | call | {OURS} | {REF} | {LOOP} | ratio | bound | '
      'vs hand | met |',
      '|---|---|---|---|---|---|---|---|---|']
  for workload, calls in results.items():
    for call, per in calls.items():
      ours, ref, hand = per.get(OURS), per.get(REF), per.get(LOOP)
      cells = [_cell(ours), _cell(ref), _cell(hand), _ratio(ref, ours),
               _ratio(ref, hand), _ratio(hand, ours)]
      met = '-' if not ref else (
          'yes' if _median_ratio(ref, ours) >= TARGET else 'NO')
      lines.append(f'| {workload} | {call} | {" | ".join(cells)} | {met} |')
  lines += ['', 'train: `train(steps=1)` into a new model_dir (graph building, '
            'initialization, the first checkpoint, one step). evaluate, '
            'predict (to its first result) and export read a model_dir the '
            'same stack trained for 200 steps. demo: `demo/legacy_pipeline.py`, '
            'process start to exit. Profiles: bench/ANALYSIS.md.', '']
  return '\n'.join(lines)


def _cell(values):
  return bench_run.spread_cell(values, '.3f') if values else '-'


def _median_ratio(numerator, denominator):
  return statistics.median(numerator) / statistics.median(denominator)


def _ratio(numerator, denominator):
  if not numerator or not denominator:
    return '-'
  return f'{_median_ratio(numerator, denominator):.2f}x'


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--workloads', help='comma-separated; default: all')
  parser.add_argument('--no-demo', action='store_true')
  parser.add_argument('--smoke', action='store_true',
                      help='one round of one workload, ours only, no demo')
  parser.add_argument('--out', default=os.path.join(HERE, 'COLD_START.md'))
  args = parser.parse_args()
  args.command = 'python ' + ' '.join(['bench/cold_start.py'] + sys.argv[1:])
  import workloads  # pylint: disable=g-import-not-at-top
  names = args.workloads.split(',') if args.workloads else list(workloads.WORKLOADS)
  contenders = (OURS, REF, LOOP)
  if args.smoke:
    names, contenders, args.rounds, args.no_demo = names[:1], (OURS, LOOP), 1, True
  results = measure(names, contenders, args.rounds, not args.no_demo)
  with open(os.path.join(os.path.dirname(args.out), 'cold_start.json'), 'w') as f:
    json.dump(results, f, indent=1)
  text = report(results, args)
  with open(args.out, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
