"""Accuracy report: canned estimators here vs tensorflow-estimator 2.15.

Both stacks train the same canned estimators with the same settings on three
small real data sets bundled with scikit-learn (breast cancer, wine,
diabetes), once per seed. Seeds change initial weights and shuffling, so the
comparison is of the spread over seeds, not of single numbers. Writes
bench/CANNED_ACCURACY.md.

  python bench/canned_accuracy.py [--seeds 5]
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position

# Metric shown per model family: classifiers by accuracy, regressors by loss.
SHOWN = ('accuracy', 'auc', 'average_loss')


def write_data(path):
  """Standardized 80/20 splits, so every contender sees identical arrays."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  arrays = {}
  loaders = {'breast_cancer': datasets.load_breast_cancer,
             'wine': datasets.load_wine, 'diabetes': datasets.load_diabetes}
  for name, load in loaders.items():
    x, y = load(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    cut = int(0.8 * len(y))
    mean, std = x[:cut].mean(0), x[:cut].std(0) + 1e-6
    x = (x - mean) / std
    if name == 'diabetes':
      y = ((y - y[:cut].mean()) / y[:cut].std()).astype(np.float32)
    else:
      y = y.astype(np.int64)
    arrays.update({f'{name}_x_train': x[:cut], f'{name}_y_train': y[:cut],
                   f'{name}_x_test': x[cut:], f'{name}_y_test': y[cut:]})
  np.savez(path, **arrays)


def run_once(python, data_path, seed):
  out = subprocess.run(
      [python, os.path.join(HERE, 'canned_workload.py'), data_path, str(seed)],
      capture_output=True, text=True, env=bench_run.contender_env(),
      timeout=3600)
  if out.returncode != 0:
    raise RuntimeError(f'{python} failed:\n{out.stderr[-3000:]}')
  return json.loads(out.stdout.strip().splitlines()[-1])


def _spread(values):
  mean = statistics.mean(values)
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return f'{mean:.4f} ± {std:.4f}'


def report(runs, seeds):
  names = list(runs)
  models = list(runs[names[0]][0]['results'])
  lines = ['# Canned estimator accuracy: tfcompat_estimator vs tensorflow-estimator 2.15',
           '', f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
           f'- command: `python bench/canned_accuracy.py --seeds {len(seeds)}`',
           '- data: scikit-learn breast cancer (binary), wine (3 classes), diabetes '
           '(regression, standardized); 80/20 split, features standardized',
           '- settings: 1000 steps, batch 32, same constructor arguments on both; '
           'mean ± std over tf_random_seed ' + ', '.join(map(str, seeds))]
  for name in names:
    lines.append(f'- {name}: TF {runs[name][0]["tf_version"]}')
  lines += ['', '| model | metric | ' + ' | '.join(names) +
            ' | train s (' + ' / '.join(names) + ') |',
            '|---|---|' + '---|' * len(names) + '---|']
  for model in models:
    for metric in SHOWN:
      if metric not in runs[names[0]][0]['results'][model]['metrics']:
        continue
      cells = [_spread([r['results'][model]['metrics'][metric] for r in runs[n]])
               for n in names]
      times = ' / '.join(
          f'{statistics.median(r["results"][model]["train_sec"] for r in runs[n]):.1f}'
          for n in names)
      lines.append(f'| {model} | {metric} | ' + ' | '.join(cells) + f' | {times} |')
  lines.append('')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--seeds', type=int, default=5)
  parser.add_argument('--out', default=os.path.join(HERE, 'CANNED_ACCURACY.md'))
  args = parser.parse_args()
  contenders = {'tfcompat_estimator': sys.executable,
                'tf-estimator-2.15': bench_run.venv215_python()}
  seeds = list(range(1, args.seeds + 1))
  runs = {name: [] for name in contenders}
  with tempfile.TemporaryDirectory() as tmp:
    data_path = os.path.join(tmp, 'data.npz')
    write_data(data_path)
    for seed in seeds:
      for name, python in contenders.items():
        runs[name].append(run_once(python, data_path, seed))
        print(f'seed {seed}: {name} done', flush=True)
  text = report(runs, seeds)
  with open(args.out, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
