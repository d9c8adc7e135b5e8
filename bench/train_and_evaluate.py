"""Benchmark: a train_and_evaluate program, tfcompat_estimator vs tf-estimator 2.15.

The same legacy program (a canned wide & deep classifier on synthetic data,
driven by `tf.estimator.train_and_evaluate` with a LatestExporter, evaluating
every saved checkpoint) runs under both stacks in separate processes,
interleaved round by round so machine drift cancels out. A second program
measures training steps/s with `RunConfig(train_distribute=MirroredStrategy())`
(one device on a CPU-only machine) against no strategy, on each stack where
it runs. Writes a Markdown report of medians (min-max) and ratios.

  python bench/train_and_evaluate.py           # full run, ~5 min on 2 cores
  python bench/train_and_evaluate.py --smoke   # seconds: tiny sizes, ours only

This file is also the measured program: `--child tae|strategy` runs one
measurement under the current interpreter and prints one JSON line.
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
sys.path.insert(0, HERE)
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position

OURS, REFERENCE = 'tfcompat_estimator', 'tf-estimator-2.15'

# Workload sizes: training steps, checkpoint (= evaluation) interval, eval
# examples, and the two train() lengths of the differential steps/s and how
# often each strategy variant is timed.
SIZES = {
    'full': dict(max_steps=2000, every=500, eval_examples=4096,
                 short_steps=200, long_steps=2000, repeats=3),
    'smoke': dict(max_steps=40, every=20, eval_examples=256,
                  short_steps=20, long_steps=120, repeats=2),
}
BATCH, EVAL_BATCH, DENSE, CATEGORIES = 64, 256, 8, 20

# metric -> (label, higher is better); tae = train_and_evaluate, strategy =
# steps/s. Rows without a 2.15 value are shown with '-'.
TAE_METRICS = {
    'total_sec': ('train_and_evaluate total wall s', False),
    'first_segment_sec': ('start-up + training to the first save s', False),
    'later_steps_per_sec': ('training steps/s between later rounds', True),
    'first_round_sec': ('first evaluation+export round s', False),
    'later_round_sec': ('later evaluation+export rounds s (median)', False),
    'later_export_sec': ('later rounds: their LatestExporter export s (median)', False),
}
STRATEGY_METRICS = {
    'plain_steps_per_sec': ('training steps/s, no strategy', True),
    'mirrored_steps_per_sec': ('training steps/s, MirroredStrategy()', True),
}


# The measured program ----------------------------------------------------------
def _tf():
  """TensorFlow with a tf.estimator: 2.15's own, else ours installed."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not hasattr(tf, 'estimator') or not hasattr(tf.estimator, 'Estimator'):
    sys.path.insert(0, os.path.dirname(HERE))
    import tfcompat_estimator  # pylint: disable=g-import-not-at-top
    tfcompat_estimator.install()
  return tf


def _table(n, seed):
  """Synthetic rows: a dense vector and a category, with a noisy linear label."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  dense = rng.normal(size=(n, DENSE)).astype(np.float32)
  category = rng.randint(0, CATEGORIES, size=(n, 1)).astype(np.int64)
  weights = np.linspace(-1.0, 1.0, DENSE, dtype=np.float32)
  effect = np.linspace(-1.5, 1.5, CATEGORIES, dtype=np.float32)[category[:, 0]]
  score = dense @ weights + effect + rng.normal(0, 0.5, n).astype(np.float32)
  return {'dense': dense, 'category': category}, (score > 0).astype(np.int64)


def _program(tf, model_dir, config, eval_examples):
  """The legacy program's estimator, input_fns and serving input."""
  dense = tf.feature_column.numeric_column('dense', shape=DENSE)
  category = tf.feature_column.categorical_column_with_identity(
      'category', CATEGORIES)
  wide = [category, tf.feature_column.bucketized_column(dense, [-1.0, 0.0, 1.0])]
  deep = [dense, tf.feature_column.embedding_column(category, 4)]
  estimator = tf.estimator.DNNLinearCombinedClassifier(
      linear_feature_columns=wide, dnn_feature_columns=deep,
      dnn_hidden_units=[64, 32], model_dir=model_dir, config=config)
  train_x, train_y = _table(8192, seed=0)
  eval_x, eval_y = _table(eval_examples, seed=1)

  def train_input_fn():
    dataset = tf.data.Dataset.from_tensor_slices((train_x, train_y))
    return dataset.shuffle(1024, seed=1).repeat().batch(BATCH)

  def eval_input_fn():
    return tf.data.Dataset.from_tensor_slices((eval_x, eval_y)).batch(EVAL_BATCH)

  serving_input_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
      tf.feature_column.make_parse_example_spec(wide + deep))
  return estimator, train_input_fn, eval_input_fn, serving_input_fn


def _timeline(start, saves, exports):
  """Splits a run at its rounds: (steps, training s, eval s, export s) each.

  `saves` holds (global step, time) per checkpoint save and `exports` (start,
  end) per exporter call; a round starts at the last save before its export,
  and the training before it runs from the end of the previous round.
  """
  timeline, last_step, last_end = [], 0, start
  for export_start, export_end in exports:
    step, saved = max((s for s in saves if s[1] <= export_start),
                      key=lambda s: s[1])
    timeline.append((step - last_step, saved - last_end, export_start - saved,
                     export_end - export_start))
    last_step, last_end = step, export_end
  return timeline


def measure_train_and_evaluate(size):
  """One train_and_evaluate run, its wall time split into training and rounds.

  A saving listener listed before train_and_evaluate's own one stamps each
  checkpoint save, and a LatestExporter subclass stamps its export.
  """
  tf = _tf()
  saves, exports = [], []

  class SaveClock(tf.compat.v1.train.CheckpointSaverListener):

    def after_save(self, session, global_step_value):
      saves.append((int(global_step_value), time.perf_counter()))

  class TimedLatestExporter(tf.estimator.LatestExporter):

    def export(self, *args, **kwargs):
      start = time.perf_counter()
      path = super().export(*args, **kwargs)
      exports.append((start, time.perf_counter()))
      return path

  config = tf.estimator.RunConfig(tf_random_seed=1,
                                  save_checkpoints_steps=size['every'])
  with tempfile.TemporaryDirectory(prefix='bench_tae_') as model_dir:
    estimator, train_input_fn, eval_input_fn, serving_input_fn = _program(
        tf, model_dir, config, size['eval_examples'])
    start = time.perf_counter()
    metrics, _ = tf.estimator.train_and_evaluate(
        estimator,
        tf.estimator.TrainSpec(train_input_fn, max_steps=size['max_steps'],
                               saving_listeners=[SaveClock()]),
        tf.estimator.EvalSpec(
            eval_input_fn, steps=None, start_delay_secs=0, throttle_secs=0,
            exporters=[TimedLatestExporter('latest', serving_input_fn)]))
    total = time.perf_counter() - start
  timeline = _timeline(start, saves, exports)
  expected = size['max_steps'] // size['every']
  if len(timeline) != expected or int(metrics['global_step']) != size['max_steps']:
    raise RuntimeError(
        f'train_and_evaluate ran {len(timeline)} evaluation+export rounds to '
        f'step {metrics["global_step"]}; the comparison needs {expected} '
        f'rounds to step {size["max_steps"]}.')
  first, later = timeline[0], timeline[1:] or timeline
  return {
      'tf_version': tf.__version__,
      'total_sec': total,
      'rounds': len(timeline),
      'first_segment_sec': first[1],
      'later_steps_per_sec': sum(r[0] for r in later) / sum(r[1] for r in later),
      'first_round_sec': first[2] + first[3],
      'first_export_sec': first[3],
      'later_round_sec': statistics.median(r[2] + r[3] for r in later),
      'later_export_sec': statistics.median(r[3] for r in later),
      'rounds_total_sec': sum(r[2] + r[3] for r in timeline),
      'later_training_sec': sum(r[1] for r in timeline[1:]),
      'accuracy': float(metrics['accuracy']),
  }


def _steps_per_sec_timer(tf, strategy, size, model_dir):
  """A warmed-up estimator's differential steps/s, measured on each call.

  Differential: start-up and the final checkpoint of a train() cancel out.
  """
  config = tf.estimator.RunConfig(tf_random_seed=1, train_distribute=strategy,
                                  save_checkpoints_steps=None,
                                  save_checkpoints_secs=3600)
  estimator, train_input_fn, _, _ = _program(tf, model_dir, config, EVAL_BATCH)
  short, long = size['short_steps'], size['long_steps']
  estimator.train(train_input_fn, steps=short)  # warm-up

  def steps_per_sec():
    timings = []
    for steps in (short, long):
      start = time.perf_counter()
      estimator.train(train_input_fn, steps=steps)
      timings.append(time.perf_counter() - start)
    return (long - short) / max(timings[1] - timings[0], 1e-9)
  return steps_per_sec


def measure_strategy(size):
  """Training steps/s without a strategy and under MirroredStrategy().

  Both estimators live in this process and are timed in A-B-B-A order, so
  load from other processes and warming caches hit both alike; the medians
  are reported.
  """
  tf = _tf()
  mirrored = tf.distribute.MirroredStrategy()
  samples = {'plain': [], 'mirrored': []}
  with tempfile.TemporaryDirectory(prefix='bench_strategy_') as model_dir:
    timers = {name: _steps_per_sec_timer(tf, strategy, size,
                                         os.path.join(model_dir, name))
              for name, strategy in (('plain', None), ('mirrored', mirrored))}
    for repeat in range(size['repeats']):
      for name in (list(timers) if repeat % 2 == 0 else reversed(list(timers))):
        samples[name].append(timers[name]())
  result = {'tf_version': tf.__version__,
            'mirrored_replicas': mirrored.num_replicas_in_sync}
  for name, values in samples.items():
    result[f'{name}_steps_per_sec'] = statistics.median(values)
  return result


# The driver --------------------------------------------------------------------
def run_child(python, kind, size):
  """Runs one measurement under `python`; its JSON result.

  Raises:
    RuntimeError: naming the interpreter and the end of its stderr, if the
      measurement failed.
  """
  env = bench_run.contender_env()
  command = [python, os.path.abspath(__file__), '--child', kind, '--size', size]
  load = os.getloadavg()[0]
  out = subprocess.run(command, capture_output=True, text=True, env=env,
                       timeout=1800)
  if out.returncode != 0:
    raise RuntimeError(f'{kind} measurement under {python} failed:\n'
                       f'{out.stderr[-3000:]}')
  return dict(json.loads(out.stdout.strip().splitlines()[-1]), load_before=load)


def _median(runs, metric):
  values = [r[metric] for r in runs]
  return statistics.median(values) if values else None


def cell(values):
  """`median (min-max)` of `values`, or '-' if there are none."""
  if not values:
    return '-'
  return (f'{statistics.median(values):.4g} '
          f'({min(values):.4g}-{max(values):.4g})')


def row(label, ours, ref, higher=None):
  """A table row: both cells, then how many times better `ours` is (if `higher` is set)."""
  ratio = '-'
  if ours and ref and higher is not None:
    ours_median, ref_median = statistics.median(ours), statistics.median(ref)
    ratio = (f'{ours_median / ref_median if higher else ref_median / ours_median:.2f}x')
  return f'| {label} | {cell(ours)} | {cell(ref)} | {ratio} |'


def _table_rows(results, metrics):
  return [row(label, *([r[metric] for r in results.get(n, [])]
                        for n in (OURS, REFERENCE)), higher)
          for metric, (label, higher) in metrics.items()]


def _slowdowns(runs):
  return [r['plain_steps_per_sec'] / r['mirrored_steps_per_sec'] for r in runs]


def _split(name, runs):
  first, export = _median(runs, 'first_round_sec'), _median(runs, 'first_export_sec')
  later, later_export = _median(runs, 'later_round_sec'), _median(runs, 'later_export_sec')
  return (f'- {name}: first round = evaluation {first - export:.2f} s + export '
          f'{export:.2f} s; later rounds = evaluation {later - later_export:.2f} s '
          f'+ export {later_export:.2f} s.')


def _analysis(tae, size):
  """Where the time goes, computed from the medians."""
  ours, ref = tae[OURS], tae.get(REFERENCE)
  lines = [f'- Rounds per run: {_median(ours, "rounds"):.0f} (a checkpoint '
           f'every {size["every"]} of {size["max_steps"]} steps, each '
           'evaluated and exported); the model reaches accuracy '
           f'{_median(ours, "accuracy"):.3f} here'
           + (f', {_median(ref, "accuracy"):.3f} in 2.15.' if ref else '.')]
  lines += [_split(name, runs) for name, runs in tae.items()]
  if not ref:
    return lines

  def delta(metric):
    return _median(ours, metric) - _median(ref, metric)
  rest = delta('total_sec') - sum(delta(m) for m in (
      'first_segment_sec', 'rounds_total_sec', 'later_training_sec'))
  lines.append(
      f'- Total wall time differs by {delta("total_sec"):+.2f} s (ours minus '
      f'2.15): start-up and first training segment {delta("first_segment_sec"):+.2f} s, '
      f'all evaluation+export rounds {delta("rounds_total_sec"):+.2f} s, '
      f'training between rounds {delta("later_training_sec"):+.2f} s, the '
      f'rest (final bookkeeping, medians not adding up) {rest:+.2f} s.')
  return lines


def report(results, reference_strategy_error, args, size):
  """The Markdown report: set-up, one table, and the breakdown."""
  tae, strategy = results['tae'], results['strategy']
  command = 'python bench/train_and_evaluate.py' + (
      ' --smoke' if args.smoke else f' --rounds {args.rounds}')
  lines = ['# Benchmark: train_and_evaluate and MirroredStrategy, '
           'tfcompat_estimator vs tensorflow-estimator 2.15', '',
           f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
           f'- machine: {bench_run.machine()}',
           f'- command: `{command}`',
           '- program: DNNLinearCombinedClassifier (wide: category + bucketized '
           'dense; deep: dense + embedding, hidden [64, 32]), batch '
           f'{BATCH}, `train_and_evaluate` to {size["max_steps"]} steps, '
           f'save_checkpoints_steps={size["every"]}, EvalSpec(steps=None '
           f'over {size["eval_examples"]} examples, throttle_secs=0, '
           f'exporters=[LatestExporter]); processes interleaved, '
           f'{args.rounds} round(s)']
  loads = [r['load_before'] for by_name in results.values()
           for runs in by_name.values() for r in runs]
  lines.append(f'- 1-minute load average when each measurement started: median '
               f'{statistics.median(loads):.2f}, max {max(loads):.2f}')
  lines += [f'- {name}: TF {runs[0]["tf_version"]}'
            for name, runs in tae.items()]
  lines += [f'- {name}: MirroredStrategy() on this machine has '
            f'{runs[0]["mirrored_replicas"]} replica(s)'
            for name, runs in strategy.items() if runs]
  lines += ['', f'| metric | {OURS} median (min-max) | {REFERENCE} median '
            '(min-max) | speed-up vs 2.15 |', '|---|---|---|---|']
  lines += _table_rows(tae, TAE_METRICS) + _table_rows(strategy, STRATEGY_METRICS)
  lines.append(row('MirroredStrategy slowdown (plain / mirrored steps/s)',
                    _slowdowns(strategy[OURS]),
                    _slowdowns(strategy.get(REFERENCE, []))))
  lines += ['', 'Speed-up > 1 means tfcompat_estimator is faster. A round is '
            'timed from a checkpoint save to the end of the export after its '
            'evaluation (a saving listener and a LatestExporter subclass stamp '
            'the times; both stacks call them the same way); the training between '
            'rounds includes the save that ends it. The first round also '
            'builds the evaluation and export graphs. Strategy steps/s '
            'are differential, (N2 - N1) / (t(N2) - t(N1)) with N1 = '
            f'{size["short_steps"]}, N2 = {size["long_steps"]}, default '
            'summary and step-count logging every 100 steps, no checkpoints '
            'in between.']
  if reference_strategy_error:
    lines += ['', f'{REFERENCE} could not run the MirroredStrategy program: '
              f'`{reference_strategy_error}`']
  lines += ['', '## Breakdown', ''] + _analysis(tae, size) + ['']
  return '\n'.join(lines)


def _measure_all(contenders, rounds, size):
  """All measurements, interleaved by round.

  Returns:
    The results by kind and contender, and the error that stopped 2.15's
    strategy program, if any (the only measurement allowed to fail).
  """
  results = {kind: {name: [] for name in contenders}
             for kind in ('tae', 'strategy')}
  reference_strategy_error = None
  for round_index in range(rounds):
    for kind, by_name in results.items():
      for name, python in contenders.items():
        tolerated = name == REFERENCE and kind == 'strategy'
        if tolerated and reference_strategy_error:
          continue
        try:
          by_name[name].append(run_child(python, kind, size))
        except RuntimeError as error:
          if not tolerated:
            raise
          reference_strategy_error = str(error).strip().splitlines()[-1]
        print(f'round {round_index + 1}: {kind} {name} done', flush=True)
  return results, reference_strategy_error


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--smoke', action='store_true',
                      help='one tiny round of our contender only')
  parser.add_argument('--out', default=os.path.join(HERE, 'TRAIN_AND_EVALUATE.md'))
  parser.add_argument('--child', choices=['tae', 'strategy'], help=argparse.SUPPRESS)
  parser.add_argument('--size', choices=sorted(SIZES), default='full',
                      help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    size = SIZES[args.size]
    result = (measure_train_and_evaluate(size) if args.child == 'tae'
              else measure_strategy(size))
    print(json.dumps(result), flush=True)
    return
  contenders = {OURS: sys.executable}
  if args.smoke:
    args.rounds, args.size = 1, 'smoke'
  else:
    contenders[REFERENCE] = bench_run.venv215_python()
  results, reference_strategy_error = _measure_all(
      contenders, args.rounds, args.size)
  text = report(results, reference_strategy_error, args, SIZES[args.size])
  with open(args.out, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
