"""TF1-mode programs against TF2-mode ones: the same program, both ways.

A legacy program written the TF1 way starts with
`tf.compat.v1.disable_v2_behavior()`; the engine then calls its input_fn in
a graph, as 2.15 did. The issue's target: such programs train no slower
than the same program in TF2 mode. A third run is the TF1 program as the
tutorials of its time wrote it, its input_fn returning
`make_one_shot_iterator(dataset).get_next()`; a fourth computes on those
tensors before returning them (an op on the labels, as cloudml-samples'
census looks its labels up in a table); a fifth reads through queue
runners (`slice_input_producer` + `tf.train.batch`), as TF1 programs
before tf.data did. Each run is its own process (the switch is
process-wide), the modes interleaved round by round.

  python bench/tf1_mode.py                                  # 3 rounds
  python bench/tf1_mode.py --workloads custom_model_fn --rounds 1
  python bench/tf1_mode.py --smoke         # a tiny run that keeps it working

Writes bench/TF1_MODE.md.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench_run  # pylint: disable=g-import-not-at-top,wrong-import-position

# TF2 behaviour; after disable_v2_behavior(); that and an iterator's tensors;
# those with an op on the labels; a queue runner's batches.
MODES = ('v2', 'v1', 'v1_iterator', 'v1_iterator_ops', 'v1_queue')
# The v1 queue mode run on tensorflow-estimator 2.15 (its venv's python).
REF_QUEUE = 'v1_queue on 2.15'
DEFAULT_WORKLOADS = ('dnn_dense', 'wide_deep_sparse', 'custom_model_fn')


def child(workload, mode, scale):
  """Prints the training and predict() figures of one mode as JSON."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not hasattr(tf, 'estimator'):  # TF 2.21; 2.15's venv has its own
    sys.path.insert(0, os.path.dirname(HERE))
    import tfcompat_estimator  # pylint: disable=g-import-not-at-top
    tfcompat_estimator.install()
  if mode != 'v2':
    tf.compat.v1.disable_v2_behavior()
  import estimator_contender  # pylint: disable=g-import-not-at-top
  import workloads  # pylint: disable=g-import-not-at-top
  work = workloads.WORKLOADS[workload]()
  work.data('train')
  work.data('predict')
  if mode.startswith('v1_iterator'):
    dataset_fn = work.train_input_fn

    def iterator_input_fn():
      features, labels = tf.compat.v1.data.make_one_shot_iterator(
          dataset_fn()).get_next()
      if mode == 'v1_iterator_ops':
        labels = tf.identity(labels)
      return features, labels

    work.train_input_fn = iterator_input_fn
  elif mode == 'v1_queue':
    examples, labels = work.data('train')

    def queue_input_fn():
      example, label = tf.compat.v1.train.slice_input_producer(
          [examples, labels.reshape(-1, 1)], shuffle=False)
      batch = tf.compat.v1.train.batch([example, label], work.batch_size)
      return work._parse(*batch)  # pylint: disable=protected-access

    work.train_input_fn = queue_input_fn
  est = work.estimator(tempfile.mkdtemp(),
                       tf.estimator.RunConfig(tf_random_seed=1))
  start = time.perf_counter()
  est.train(work.train_input_fn, steps=max(int(200 * scale), 1))
  first = time.perf_counter() - start
  rate = estimator_contender.train_rate(est, work, max(int(2000 * scale), 2))
  _, predict_rate = estimator_contender.repeated_predict(est, work)
  result = {'first_train_sec': first, 'train_steps_per_sec': rate,
            'predict_examples_per_sec': predict_rate}
  if mode == 'v1_queue':
    result['input_steps_per_sec'] = _queue_input_rate(
        work.train_input_fn, max(int(2000 * scale), 2))
  print(json.dumps(result))


def _queue_input_rate(input_fn, steps):
  """Batches/s of `input_fn`'s queues alone, drawn by TF's own v1 session.

  The bound of the v1 queue mode: its producer threads enqueue one example
  per op run, so the queues, not the model, set its pace. No Estimator is
  involved: it is what any program on the child's TF reading this input
  could reach.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    batch = input_fn()
    with tf.compat.v1.train.MonitoredSession() as session:
      for _ in range(max(steps // 20, 1)):  # the queues fill, kernels warm
        session.run(batch)
      start = time.perf_counter()
      for _ in range(steps):
        session.run(batch)
      return steps / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--scale', type=float, default=1.0)
  parser.add_argument('--workloads', default=','.join(DEFAULT_WORKLOADS))
  parser.add_argument('--out', default=os.path.join(HERE, 'TF1_MODE.md'))
  parser.add_argument('--smoke', action='store_true',
                      help='1 round, 2%% of the steps, custom_model_fn only, '
                      'no 2.15 run')
  args = parser.parse_args()
  # The queue mode also on tensorflow-estimator 2.15: the same program,
  # the same child, the reference's interpreter.
  reference = None if args.smoke else bench_run.venv215_python()
  if args.smoke:
    args.rounds, args.scale, args.workloads = 1, 0.02, 'custom_model_fn'
  names = args.workloads.split(',')
  runners = [(mode, sys.executable) for mode in MODES]
  if reference:
    runners.append((REF_QUEUE, reference))
  runs = {(name, mode): [] for name in names for mode, _ in runners}
  for i in range(args.rounds):
    for name in names:
      # Alternate which mode goes first, so neither always follows the other.
      for mode, python in runners if i % 2 == 0 else runners[::-1]:
        child_mode = 'v1_queue' if mode == REF_QUEUE else mode
        runs[name, mode].append(bench_run.run_once(
            [python, os.path.abspath(__file__), '--child', name, child_mode,
             str(args.scale)]))
    print(f'round {i + 1} done', flush=True)
  with open(args.out, 'w') as f:
    f.write(_report(runs, names, args))
  print(f'wrote {args.out}')


def _report(runs, names, args):
  lines = [
      '# TF1-mode programs vs TF2-mode programs, tfcompat_estimator',
      '',
      f'- date: {datetime.datetime.now().isoformat(timespec="seconds")}',
      f'- machine: {bench_run.machine()}',
      f'- command: `python bench/tf1_mode.py --rounds {args.rounds}`'
      + (f' --scale {args.scale}' if args.scale != 1.0 else ''),
      f'- rounds (modes interleaved, one process each): {args.rounds}',
      '',
      'v1: the program calls `tf.compat.v1.disable_v2_behavior()` first; v2: '
      'TF2 behaviour; v1 iterator: v1, its input_fn returning '
      '`make_one_shot_iterator(dataset).get_next()`; v1 iterator ops: that, '
      'its labels passed through `tf.identity` first; v1 queue: v1, its '
      'input_fn slicing the examples through `slice_input_producer` and '
      '`tf.train.batch`. Training steps/s: the median of the global_step/sec '
      'values logged during a 2000-step `train()` after a 200-step one '
      '(as in bench/RESULTS.md); first train: that first 200-step call, '
      'graph building included; predict examples/s: three predict() calls '
      'after a first, as in bench/RESULTS.md (the predict input_fn returns '
      'a Dataset in every mode). Medians (min-max) over the rounds. Target: '
      'v1 no slower than v2 (ratio >= 1.0x, within the noise of these '
      'runs).',
      '',
      '| workload | metric | v2 | v1 | v1 iterator | v1 iterator ops | '
      'v1 queue | v1 vs v2 | v1 iterator vs v2 | v1 iterator ops vs v2 | '
      'v1 queue vs v2 |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for name in names:
    for metric, faster_is_larger in (('train_steps_per_sec', True),
                                     ('first_train_sec', False),
                                     ('predict_examples_per_sec', True)):
      values = [[r[metric] for r in runs[name, mode]] for mode in MODES]
      cells = [bench_run.spread_cell(v) for v in values]
      v2, *tf1 = map(statistics.median, values)
      ratios = [f'{(v / v2 if faster_is_larger else v2 / v):.2f}x'
                for v in tf1]
      lines.append(f'| {name} | {metric} | {" | ".join(cells)} | '
                   f'{" | ".join(ratios)} |')
  lines += ['', 'Ratio > 1 means the TF1-mode program is faster.', '']
  lines += _queue_bound_table(runs, names)
  return '\n'.join(lines)


def _queue_bound_table(runs, names):
  """The v1 queue mode against its input alone (the bound), and on 2.15."""
  lines = [
      '## The v1 queue mode against its input alone, and on 2.15',
      '',
      'A queue-runner input is slower than any model here: `tf.train.batch` '
      'enqueues one example per op run. Its bound is the same input_fn\'s '
      'batches drawn in a loop by TF 2.21\'s own v1 `MonitoredSession`, no '
      'model and no Estimator (input alone, batches/s, measured in the same '
      'process after the v1 queue run). Target, as for inputs that limit '
      'training in bench/RESULTS.md: training at least 0.9x of its input '
      'alone. The same child run by tensorflow-estimator 2.15\'s venv (its '
      'input alone drawn by TF 2.15) gives 2.15\'s figures, rounds '
      'interleaved with ours ("-" where not run: `--smoke`).',
      '',
      '| workload | v1 queue train steps/s | input alone batches/s | '
      'train vs input alone | met | 2.15 train steps/s | '
      '2.15 input alone batches/s | train vs 2.15 |',
      '|---|---|---|---|---|---|---|---|',
  ]
  for name in names:
    train, alone = _queue_figures(runs[name, 'v1_queue'])
    ratio = statistics.median(train) / statistics.median(alone)
    cells = [bench_run.spread_cell(train), bench_run.spread_cell(alone),
             f'{ratio:.2f}x', 'yes' if ratio >= 0.9 else 'no']
    ref_train, ref_alone = _queue_figures(runs.get((name, REF_QUEUE), []))
    if ref_train:
      cells += [bench_run.spread_cell(ref_train),
                bench_run.spread_cell(ref_alone),
                f'{statistics.median(train) / statistics.median(ref_train):.2f}x']
    else:
      cells += ['-', '-', '-']
    lines.append(f'| {name} | {" | ".join(cells)} |')
  return lines + ['']


def _queue_figures(runs):
  """Training steps/s and input-alone batches/s of the queue mode's runs."""
  return ([r['train_steps_per_sec'] for r in runs],
          [r['input_steps_per_sec'] for r in runs])


if __name__ == '__main__':
  if len(sys.argv) > 1 and sys.argv[1] == '--child':
    child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
  else:
    main()
