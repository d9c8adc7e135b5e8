"""Benchmark: a model whose embedding table outweighs TensorFlow itself.

The workloads of `run.py` are small, so importing TensorFlow decides their
memory figures. Here a DNNClassifier's hashed embedding column (by default
2M buckets x 32 floats: a 256 MB table, and as much again in its Adagrad
accumulator) dominates, as in the production models where restore time and
memory matter. The same legacy program runs under both stacks, one process
per contender and round, interleaved: train() from scratch, evaluate() and
predict() on that checkpoint, then train() and evaluate() again.

  python bench/large_model.py            # ~4 min on 2 cores
  python bench/large_model.py --smoke    # seconds: a small table, ours only

Writes bench/LARGE_MODEL.md. `--child BUCKETS` is the measured program.
"""

import argparse
import datetime
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position
import train_and_evaluate  # pylint: disable=g-import-not-at-top,wrong-import-position

DIMENSION, BATCH, STEPS, EXAMPLES = 32, 64, 50, 2048

# metric -> label; every figure here is better when lower.
METRICS = {
    'train_sec': 'first train(), 50 steps from scratch s',
    'evaluate_sec': 'first evaluate() s',
    'predict_first_result_sec': 'first predict() first result s',
    'train_again_sec': 'second train(), 50 more steps s',
    'evaluate_again_sec': 'evaluate() of the new checkpoint s',
    'peak_rss_mb': 'peak RSS MB',
    'run_rss_mb': 'peak RSS above import tensorflow MB',
}


def measure(buckets):
  """The measured program: one process, one model_dir."""
  from measure import peak_rss_mb, timed  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not hasattr(tf, 'estimator') or not hasattr(tf.estimator, 'Estimator'):
    sys.path.insert(0, os.path.dirname(HERE))
    import tfcompat_estimator  # pylint: disable=g-import-not-at-top
    tfcompat_estimator.install()
  results = {'tf_version': tf.__version__, 'import_rss_mb': peak_rss_mb()}

  rng = np.random.RandomState(0)
  keys = np.array([b'user%d' % i for i in rng.randint(0, 10 * buckets, EXAMPLES)])
  labels = rng.randint(0, 2, size=(EXAMPLES, 1))
  ids = tf.feature_column.categorical_column_with_hash_bucket('id', buckets)

  def input_fn():
    dataset = tf.data.Dataset.from_tensor_slices(({'id': keys}, labels))
    return dataset.repeat().batch(BATCH)

  def eval_input_fn():
    return input_fn().take(EXAMPLES // BATCH)

  def predict_input_fn():
    return tf.data.Dataset.from_tensor_slices({'id': keys[:BATCH]}).batch(BATCH)

  estimator = tf.estimator.DNNClassifier(
      [16], [tf.feature_column.embedding_column(ids, DIMENSION)],
      model_dir=tempfile.mkdtemp(prefix='bench_large_'),
      config=tf.estimator.RunConfig(tf_random_seed=1))
  results['train_sec'] = timed(lambda: estimator.train(input_fn, steps=STEPS))
  results['evaluate_sec'] = timed(lambda: estimator.evaluate(eval_input_fn))
  results['predict_first_result_sec'] = timed(
      lambda: next(estimator.predict(predict_input_fn)))
  results['train_again_sec'] = timed(lambda: estimator.train(input_fn, steps=STEPS))
  metrics = {}
  results['evaluate_again_sec'] = timed(
      lambda: metrics.update(estimator.evaluate(eval_input_fn)))
  results['peak_rss_mb'] = peak_rss_mb()
  results['run_rss_mb'] = results['peak_rss_mb'] - results['import_rss_mb']
  results['final_step'] = int(metrics['global_step'])
  return results


def report(runs, args):
  """The Markdown report: set-up, then one row per metric with the ratio."""
  ours, ref = runs[bench_run.OURS], runs.get(bench_run.REF, [])
  command = 'python bench/large_model.py' + (
      ' --smoke' if args.smoke else f' --rounds {args.rounds} --buckets {args.buckets}')
  table_mb = args.buckets * DIMENSION * 4 / 2**20
  lines = ['# Benchmark: a large embedding table, tfcompat_estimator vs '
           'tensorflow-estimator 2.15', '',
           f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
           f'- machine: {bench_run.machine()}',
           f'- command: `{command}`',
           f'- program: DNNClassifier([16]) on embedding_column(hash bucket '
           f'{args.buckets}, dimension {DIMENSION}): a {table_mb:.0f} MB table '
           f'(Adagrad keeps an accumulator of the same size); batch {BATCH}; '
           f'{args.rounds} round(s), one process per contender and round, interleaved']
  lines += [f'- {name}: TF {results[0]["tf_version"]}'
            for name, results in runs.items() if results]
  lines += ['', f'| metric | {bench_run.OURS} median (min-max) | {bench_run.REF} '
            'median (min-max) | times better than 2.15 |', '|---|---|---|---|']
  lines += [train_and_evaluate.row(label, [r[metric] for r in ours],
                                   [r[metric] for r in ref], higher=False)
            for metric, label in METRICS.items()]
  lines += ['', 'Times better than > 1 means tfcompat_estimator takes less time '
            'or memory. Every call is timed from its start to its return (for '
            'predict, to the first prediction) and includes building or '
            'reusing the graph and restoring the checkpoint.', '']
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--buckets', type=int, default=2_000_000)
  parser.add_argument('--smoke', action='store_true',
                      help='one round of our contender, a 4 MB table')
  parser.add_argument('--out', default=os.path.join(HERE, 'LARGE_MODEL.md'))
  parser.add_argument('--child', type=int, metavar='BUCKETS', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(args.child)), flush=True)
    return
  contenders = {bench_run.OURS: sys.executable}
  if args.smoke:
    args.rounds, args.buckets = 1, 32_768
  else:
    contenders[bench_run.REF] = bench_run.venv215_python()
  runs = {name: [] for name in contenders}
  for round_index in range(args.rounds):
    for name, python in contenders.items():
      runs[name].append(bench_run.run_once(
          [python, os.path.abspath(__file__), '--child', str(args.buckets)]))
      print(f'round {round_index + 1}: {name} done', flush=True)
  text = report(runs, args)
  with open(args.out, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
