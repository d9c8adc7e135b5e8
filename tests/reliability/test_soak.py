"""Soak and long-training load tests (issue 6): memory, threads and fds stay flat.

Each workload runs in a fresh child process (soak_child.py) so that resident
memory reflects it alone. Samples taken during warm-up (first calls trace
functions, fill caches, start TF's thread pools) are skipped; later ones are
compared with the baseline at the end of warm-up. The growth (in total, per
round of calls or per training step, and over the last half) is printed
(visible with `pytest -s`) and is part of every assertion message.
"""

import json
import os
import statistics
import subprocess
import sys

import pytest

from tests import helpers

_WINDOW = 5  # samples whose median gives a stable RSS reading
_THREAD_SLACK = 2
_FD_SLACK = 2


def _run_child(tmp_path, mode, *counts, timeout):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, os.path.join(helpers.DIR, 'soak_child.py'), mode,
       str(tmp_path / mode)] + [str(c) for c in counts],
      capture_output=True, text=True, timeout=timeout, env=env, check=False)
  assert result.returncode == 0, (
      f'soak_child.py {mode} failed:\n{result.stderr[-3000:]}')
  return json.loads(result.stdout.strip().splitlines()[-1])


def _rss_mb(samples):
  return statistics.median(s['rss_kb'] for s in samples) / 1024


def _summary(samples, warmup, what, per, window=_WINDOW, **extra):
  """Growth figures of `samples` after `warmup` ones (and `extra`), printed.

  RSS readings are medians of `window` samples: the last ones of warm-up
  (the baseline), the middle of the rest and its end.
  """
  assert window <= warmup and len(samples) >= warmup + 2 * window, (
      what, len(samples))
  base = samples[warmup - 1]
  late = samples[warmup:]
  middle = len(late) // 2
  start = _rss_mb(samples[warmup - window:warmup])
  end = _rss_mb(late[-window:])
  calls = late[-1][per] - base[per]
  report = {
      'what': what,
      'rss_start_mb': round(start, 1),
      'rss_end_mb': round(end, 1),
      'growth_mb': round(end - start, 2),
      f'growth_kb_per_{per}': round((end - start) * 1024 / calls, 3),
      'last_half_growth_mb': round(
          end - _rss_mb(late[middle - window:middle]), 2),
      'os_threads': (base['os_threads'], max(s['os_threads'] for s in late)),
      'py_threads': (base['py_threads'], max(s['py_threads'] for s in late)),
      'fds': (base['fds'], max(s['fds'] for s in late)),
      **extra,
  }
  print(json.dumps(report))
  return report


def _assert_flat(report, max_growth_mb, thread_slack=_THREAD_SLACK):
  """Bounds memory growth (all of it, and the late half's) and handles."""
  assert report['growth_mb'] < max_growth_mb, report
  assert report['last_half_growth_mb'] < max_growth_mb / 2, report
  base, peak = report['os_threads']
  assert peak <= base + thread_slack, report
  assert report['py_threads'][1] == report['py_threads'][0], report
  base, peak = report['fds']
  assert peak <= base + _FD_SLACK, report


def test_repeated_predict_and_evaluate_stay_flat(tmp_path):
  """150 predict and 30 evaluate rounds on a canned and a custom estimator.

  A round calls each estimator once. After warm-up (50 and 10 rounds), 200
  predict and 40 evaluate calls remain: a leak of one thread or fd per call,
  or of 160 KB (predict) or 0.6 MB (evaluate) per call, fails.
  """
  report = _run_child(tmp_path, 'inference', 150, 30, timeout=300)
  _assert_flat(_summary(report['predict'], 50, 'predict', 'round'),
               max_growth_mb=32)
  _assert_flat(_summary(report['evaluate'], 10, 'evaluate', 'round'),
               max_growth_mb=24)


def test_repeated_evaluate_with_one_shot_iterator_input_stays_flat(tmp_path):
  """A TF1 input_fn (make_one_shot_iterator(...).get_next()) over 20,000 rows.

  Keeping the dataset of each call costs megabytes (3.3 MB per call before
  input_pipeline replaced one-shot iterators and released the input graph's
  functions), so 20 calls after 10 warm-up calls are enough to see it.
  Measured now: under 1 MB in all.
  """
  report = _run_child(tmp_path, 'legacy_input', 30, timeout=300)
  _assert_flat(_summary(report['evaluate'], 10, 'evaluate, one-shot iterator',
                        'call'), max_growth_mb=8)


def test_repeated_train_with_a_hook_building_ops_stays_flat(tmp_path):
  """train() calls whose hook builds a read of the global step in begin().

  Each call adds that hook's ops to the model graph, which outlives the
  call; what was compiled to fetch them used to stay too: here 4.7 MB and
  two OS threads a call (183 MB, 54 -> 130 threads over 40 calls after 20
  warm-up calls). Measured now, after a full garbage collection: about
  30 KB a call, the ops themselves.
  """
  report = _run_child(tmp_path, 'hooked_train', 60, timeout=300)
  # Training's tf.data read-ahead starts pool threads as it goes (peaks of
  # +2 to +4 measured after warm-up); a leak of one a call would add 40.
  _assert_flat(_summary(report['train'], 20, 'train, hook building ops',
                        'call'), max_growth_mb=16, thread_slack=8)


@pytest.mark.slow
def test_soak_1000_predict_200_evaluate(tmp_path):
  """1,000 predict and 200 evaluate rounds (two estimators each round).

  Measured: RSS within about 1 MB of its post-warm-up baseline in both
  phases; about a minute on 2 shared cores.
  """
  report = _run_child(tmp_path, 'inference', 1000, 200, timeout=1200)
  _assert_flat(_summary(report['predict'], 50, 'predict', 'round'),
               max_growth_mb=64)
  _assert_flat(_summary(report['evaluate'], 10, 'evaluate', 'round'),
               max_growth_mb=64)


@pytest.mark.slow
def test_million_training_steps_memory_flat(tmp_path):
  """A tiny linear model trains 1,000,000 steps of one example each.

  RunConfig defaults otherwise: compiled loops of 100 steps and a summary
  every 100 steps, i.e. 10,000 loop calls and 10,000 summary writes; a
  checkpoint (and a sample) every 50,000 steps. Measured: 105-125 s on
  2 shared cores, RSS within 1 MB of the baseline.
  """
  report = _run_child(tmp_path, 'train', 1_000_000, 50_000, timeout=900)
  samples = report['samples']
  assert samples[-1]['step'] == 1_000_000, samples[-1]
  # The step-0 sample precedes the first (tracing) loop call; the baseline
  # is the median at steps 50,000 to 150,000.
  _assert_flat(_summary(samples, 4, 'training', 'step', window=3,
                        seconds=round(report['seconds'], 1)),
               max_growth_mb=64)
