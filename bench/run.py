"""Side-by-side benchmark: tfcompat_estimator (TF 2.21) vs tensorflow-estimator 2.15.

Both contenders run the same legacy program (bench/workload.py) in separate
processes, interleaved round by round so machine drift cancels out. Writes a
Markdown report of medians (min-max) and ratios.

  python bench/run.py                 # full run, sets up the 2.15 venv if needed
  python bench/run.py --smoke         # tiny run of our contender only
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAKE_VENV = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15', 'make_golden.sh')

# metric -> (label, higher is better)
METRICS = {
    'train_steps_per_sec': ('training steps/s, no hooks', True),
    'train_hooked_steps_per_sec': ('training steps/s, LoggingTensorHook every 100', True),
    'first_evaluate_sec': ('first evaluate() s', False),
    'repeat_evaluate_sec': ('repeated evaluate() s, same checkpoint', False),
    'repeat_predict_first_result_sec': ('repeated predict() first result s', False),
    'predict_examples_per_sec': ('predict() examples/s', True),
    'export_sec': ('export_saved_model s', False),
    'peak_rss_mb': ('peak RSS MB', False),
}


def venv215_python():
  venv = os.environ.get('VENV215', os.path.expanduser('~/.cache/tfcompat/venv215'))
  python = os.path.join(venv, 'bin', 'python')
  if not os.path.exists(python):
    subprocess.run(['bash', MAKE_VENV, '--venv-only'], check=True,
                   env=dict(os.environ, VENV215=venv))
  return python


def run_once(python, scale):
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  out = subprocess.run([python, os.path.join(HERE, 'workload.py'), str(scale)],
                       capture_output=True, text=True, env=env, timeout=1800)
  if out.returncode != 0:
    raise RuntimeError(f'{python} failed:\n{out.stderr[-3000:]}')
  return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(runs):
  table = {}
  for metric in METRICS:
    values = [r[metric] for r in runs]
    table[metric] = (statistics.median(values), min(values), max(values))
  return table


def report(results, args):
  names = list(results)
  lines = ['# Benchmark: tfcompat_estimator vs tensorflow-estimator 2.15', '',
           f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
           f'- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}',
           f'- command: `python bench/run.py --rounds {args.rounds} --scale {args.scale}`',
           f'- workload: custom model_fn (tf.compat.v1 layers, Adagrad, v1 metrics), '
           f'batch 64, rounds interleaved: {args.rounds}']
  for name in names:
    lines.append(f'- {name}: TF {results[name][0]["tf_version"]}')
  lines += ['', '| metric | ' + ' | '.join(f'{n} median (min-max)' for n in names) +
            (' | speed-up vs 2.15 |' if 'tf-estimator-2.15' in names and len(names) > 1 else ' |'),
            '|' + '---|' * (len(names) + 1 + (1 if len(names) > 1 else 0))]
  tables = {n: summarize(r) for n, r in results.items()}
  for metric, (label, higher) in METRICS.items():
    cells = [f'{t[metric][0]:.4g} ({t[metric][1]:.4g}-{t[metric][2]:.4g})'
             for t in tables.values()]
    row = f'| {label} | ' + ' | '.join(cells) + ' |'
    if len(names) > 1 and 'tf-estimator-2.15' in tables:
      ours, ref = tables['tfcompat_estimator'][metric][0], tables['tf-estimator-2.15'][metric][0]
      ratio = ours / ref if higher else ref / ours
      row += f' {ratio:.2f}x |'
    lines.append(row)
  lines += ['', 'Speed-up > 1 means tfcompat_estimator is better (for memory: smaller).',
            'Steps/s are differential: (N2 - N1) / (t(N2) - t(N1)), so graph '
            'building and checkpointing at start and end cancel out.', '']
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--scale', type=float, default=1.0)
  parser.add_argument('--smoke', action='store_true',
                      help='one tiny round of our contender only')
  parser.add_argument('--out', default=os.path.join(HERE, 'RESULTS.md'))
  args = parser.parse_args()
  contenders = {'tfcompat_estimator': sys.executable}
  if args.smoke:
    args.rounds, args.scale = 1, 0.05
  else:
    contenders['tf-estimator-2.15'] = venv215_python()
  results = {name: [] for name in contenders}
  for round_index in range(args.rounds):
    for name, python in contenders.items():
      results[name].append(run_once(python, args.scale))
      print(f'round {round_index + 1}: {name} done', flush=True)
  text = report(results, args)
  with open(args.out, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
