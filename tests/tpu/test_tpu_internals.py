"""TPUEstimator's host-side helpers: error rendezvous, loop sizing, stop hook.

Expected values were measured on tensorflow-estimator 2.15.0 (TF 2.15.1)
by running the same calls there.
"""

import threading
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.tpu import error_handling
from tfcompat_estimator.tpu import iteration_count_estimator
from tfcompat_estimator.tpu import stop_at_step_hook
from tfcompat_estimator.tpu import tpu_estimator
from tfcompat_estimator.tpu import util as util_lib

Counter = util_lib.IterationsPerLoopCounter
_CANCELLED = tf.errors.CancelledError(None, None, 'cancelled')
_INTERNAL = tf.errors.InternalError(None, None, 'internal')
_END_OF_INPUT = tf.errors.OutOfRangeError(None, None, 'end of input')
_ABORTED = tf.errors.AbortedError(None, None, 'aborted')
_UNAVAILABLE = tf.errors.UnavailableError(None, None, 'unavailable')


def _raised(errors, done=()):
  """The error a rendezvous of `errors` (in report order) re-raises."""
  rendezvous = error_handling.ErrorRendezvous(len(errors) + len(done))
  for i, error in enumerate(errors):
    with rendezvous.catch_errors(f'source{i}'):
      raise error
  for source in done:
    rendezvous.record_done(source)
  try:
    rendezvous.raise_errors()
  except Exception as e:  # pylint: disable=broad-except
    return e
  return None


@pytest.mark.parametrize('errors, expected', [
    ([_CANCELLED, _INTERNAL], _INTERNAL),  # the root cause beats its echo
    ([_CANCELLED], _CANCELLED),  # only a cancellation: still reported
    ([_END_OF_INPUT, _INTERNAL], _END_OF_INPUT),  # else first reported wins
    ([_CANCELLED, _END_OF_INPUT], _END_OF_INPUT),
    ([_ABORTED, _UNAVAILABLE], None),  # MonitoredSession recovers these
    ([_ABORTED, _CANCELLED], _CANCELLED),
])
def test_rendezvous_reraises_the_most_informative_error(errors, expected):
  assert _raised(errors) is expected


def test_rendezvous_without_errors_returns():
  assert _raised([], done=['infeed', 'outfeed']) is None


def test_rendezvous_keeps_an_error_recorded_before_done():
  rendezvous = error_handling.ErrorRendezvous(1)
  with rendezvous.catch_errors('infeed'):
    raise ValueError('bad file')
  rendezvous.record_done('infeed')
  with pytest.raises(ValueError, match='bad file') as info:
    rendezvous.raise_errors()
  # The traceback is the original one, down to the failing block.
  assert 'test_rendezvous_keeps_an_error' in str(info.traceback[-1])


def test_rendezvous_waits_for_threads_to_report():
  rendezvous = error_handling.ErrorRendezvous(3)
  release = threading.Event()

  def source(name, error):
    release.wait()
    with rendezvous.catch_errors(name):
      if error is not None:
        raise error
    rendezvous.record_done(name)

  threads = [threading.Thread(target=source, args=args)
             for args in (('outfeed', _CANCELLED), ('infeed', _INTERNAL),
                          ('main', None))]
  for thread in threads:
    thread.start()
  release.set()
  with pytest.raises(tf.errors.InternalError):
    rendezvous.raise_errors(timeout_sec=10)
  for thread in threads:
    thread.join()


def test_rendezvous_gives_up_waiting_after_the_timeout():
  rendezvous = error_handling.ErrorRendezvous(2)
  rendezvous.record_done('infeed')
  start = time.monotonic()
  rendezvous.raise_errors(timeout_sec=0.2)  # 'outfeed' never reports
  assert 0.15 < time.monotonic() - start < 5


class _Session:

  def __init__(self):
    self.closed = threading.Event()
    self.closes = 0

  def close(self):
    self.closes += 1
    self.closed.set()


def test_rendezvous_closes_the_session_once(monkeypatch):
  monkeypatch.setattr(error_handling, '_SESSION_CLOSE_DELAY_SECS', 0)
  rendezvous = error_handling.ErrorRendezvous(2)
  session = _Session()
  with rendezvous.catch_errors('infeed', session=session):
    raise _INTERNAL
  with rendezvous.catch_errors('outfeed', session=session):
    raise _CANCELLED
  assert session.closed.wait(5)
  rendezvous._session_cancel_timer.join()  # pylint: disable=protected-access
  assert session.closes == 1


def test_rendezvous_leaves_the_session_open_after_a_nan_check():
  """A CheckNumerics failure ends the loop normally: no forced close."""
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    checked = tf.debugging.check_numerics(tf.constant(np.nan), 'loss')
    rendezvous = error_handling.ErrorRendezvous(1)
    session = _Session()
    with rendezvous.catch_errors('main', session=session):
      sess.run(checked)
  assert rendezvous._session_cancel_timer is None  # pylint: disable=protected-access
  with pytest.raises(tf.errors.InvalidArgumentError, match='loss'):
    rendezvous.raise_errors()


def test_iteration_count_estimates_follow_runtimes():
  estimator = iteration_count_estimator.IterationCountEstimator(capacity=3)
  estimates = []
  for runtime_secs, steps in [(2.0, 4), (1.0, 1), (3.0, 10), (0.5, 1),
                              (6.0, 12), (6.1, 12), (5.9, 12), (6.0, 12),
                              (6.0, 12)]:
    estimator.update(runtime_secs, steps)
    estimates.append(estimator.get(6))
  # 2.15: the mean step time of the last 3 loops projects the count until
  # loops are on target with a steady step time; then the count holds.
  assert estimates == [12, 8, 10, 10, 14, 14, 14, 14, 14]
  assert len(estimator._buffer_wheel) == 3  # pylint: disable=protected-access
  assert estimator._buffer_wheel[-1] == (  # pylint: disable=protected-access
      iteration_count_estimator.RuntimeCounter(6.0, 12, 0.5))
  np.testing.assert_allclose(estimator._std_step_time_secs(),  # pylint: disable=protected-access
                             0.003928371006591917)


def test_iteration_count_estimator_ignores_empty_loops_and_checks_input():
  estimator = iteration_count_estimator.IterationCountEstimator()
  estimator.update(0, 5)
  estimator.update(2.0, 0)
  assert estimator.get(60) == 1  # no sample: one iteration
  with pytest.raises(ValueError, match='Invalid `total_secs`.*Actual:0'):
    estimator.get(0)
  with pytest.raises(ValueError, match='`capacity` must be positive'):
    iteration_count_estimator.IterationCountEstimator(capacity=0)


def _fake_clock(monkeypatch):
  now = [100.0]
  monkeypatch.setattr(stop_at_step_hook, 'time',
                      types.SimpleNamespace(time=lambda: now[0]))
  return now


class _RunContext:

  def __init__(self, session):
    self.session = session
    self.stop_requested = False

  def request_stop(self):
    self.stop_requested = True


def _loop_sizes(hook, start_step, step_secs, now):
  """Runs TPU-like loops in a graph session; returns each loop's size."""
  with tf.Graph().as_default() as graph:
    global_step = tf.compat.v1.train.get_or_create_global_step()
    hook.begin()
    variable = graph.get_collection('tpu_estimator_iterations_per_loop')[0]
    assert variable.name == 'tpu_estimator/iterations_per_loop:0'
    assert variable.dtype == tf.int32 and not variable.trainable
    assert graph.get_collection(tf.compat.v1.GraphKeys.LOCAL_VARIABLES) == [
        variable]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      global_step.load(start_step, sess)
      hook.after_create_session(sess, None)
      sizes = []
      context = _RunContext(sess)
      while not context.stop_requested and len(sizes) < 20:
        size = int(sess.run(variable))
        sizes.append(size)
        hook.before_run(context)
        now[0] += step_secs * size  # the loop's runtime
        global_step.load(sess.run(global_step) + size, sess)
        hook.after_run(context, None)
      return sizes, int(sess.run(global_step))


def test_stop_hook_cuts_the_last_loop_to_the_final_step(monkeypatch):
  now = _fake_clock(monkeypatch)
  hook = tpu_estimator._TPUStopAtStepHook(Counter(4, 'count'), num_steps=10)  # pylint: disable=protected-access
  assert _loop_sizes(hook, 2, 0.5, now) == ([4, 4, 2], 12)


def test_stop_hook_sizes_loops_from_their_runtime(monkeypatch):
  now = _fake_clock(monkeypatch)
  hook = tpu_estimator._TPUStopAtStepHook(Counter(3, 'seconds'), final_step=20)  # pylint: disable=protected-access
  # 2.15: one step first; at 0.5 s a step, 3 s loops hold 6 steps.
  assert _loop_sizes(hook, 2, 0.5, now) == ([1, 6, 6, 5], 20)


@pytest.mark.parametrize('counter, kwargs, message', [
    (Counter(1, 'count'), {}, 'One of `num_steps` or `final_step` must be'),
    (Counter(1, 'count'), {'num_steps': 1, 'final_step': 2},
     'Only one of `num_steps` or `final_step` can be specified'),
    (Counter(1, 'secs'), {'num_steps': 1},
     'Only `count` or `seconds` are accepted'),
])
def test_stop_hook_rejects_bad_arguments(counter, kwargs, message):
  with pytest.raises(ValueError, match=message):
    tpu_estimator._TPUStopAtStepHook(counter, **kwargs)  # pylint: disable=protected-access


def test_stop_hook_needs_a_global_step():
  hook = tpu_estimator._TPUStopAtStepHook(Counter(1, 'count'), num_steps=1)  # pylint: disable=protected-access
  with tf.Graph().as_default():
    with pytest.raises(RuntimeError, match='Global step should be created'):
      hook.begin()


def test_iterations_variable_survives_a_meta_graph_round_trip():
  with tf.Graph().as_default():
    tf.compat.v1.train.get_or_create_global_step()
    stop_at_step_hook._create_or_get_iterations_per_loop()  # pylint: disable=protected-access
    assert len(tf.compat.v1.get_collection(
        'tpu_estimator_iterations_per_loop')) == 1
    meta_graph = tf.compat.v1.train.export_meta_graph()
  with tf.Graph().as_default():
    tf.compat.v1.train.import_meta_graph(meta_graph)
    variable = stop_at_step_hook._create_or_get_iterations_per_loop()  # pylint: disable=protected-access
    assert isinstance(variable, tf.Variable)
    assert variable.name == 'tpu_estimator/iterations_per_loop:0'


def test_stop_hook_ends_estimator_training(tmp_path):
  def input_fn():
    return tf.data.Dataset.from_tensors(({'x': [[1.0]]}, [[2.0]])).repeat()

  def model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable('w', [1, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  estimator = tf.compat.v1.estimator.Estimator(model_fn, str(tmp_path))
  hook = tpu_estimator._TPUStopAtStepHook(Counter(4, 'count'), num_steps=7)  # pylint: disable=protected-access
  estimator.train(input_fn, hooks=[hook])
  assert estimator.get_variable_value('global_step') == 7
  # A local variable, as in 2.15: not in the checkpoint.
  assert estimator.get_variable_names() == ['global_step', 'w']


def test_stop_hook_in_a_monitored_session():
  """The graph is finalized after `begin`; loops still get resized."""
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    iterations = stop_at_step_hook._create_or_get_iterations_per_loop()  # pylint: disable=protected-access
    with tf.control_dependencies([global_step.assign_add(
        tf.cast(iterations, tf.int64))]):
      loop = tf.identity(iterations)  # a "loop" of `iterations` steps
    hook = tpu_estimator._TPUStopAtStepHook(Counter(4, 'count'), num_steps=10)  # pylint: disable=protected-access
    sizes = []
    with tf.compat.v1.train.MonitoredSession(hooks=[hook]) as sess:
      while not sess.should_stop():
        sizes.append(int(sess.run(loop)))
  assert sizes == [4, 4, 2]
