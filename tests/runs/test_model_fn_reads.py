"""A kept graph is built again when the Python values its model_fn read change.

2.15 called the model_fn at every call. TensorFlow Privacy's MovieLens
tutorial sets a module global before each `train(steps=1)` and its model_fn
reshapes the loss by it; the graph kept from the first call failed, and a
model_fn that only used such a value trained silently with the old one.
"""

import argparse
import functools
import tempfile
import weakref

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.runs import model_fn_reads

_v1 = tf.compat.v1

MICROBATCHES = 10
SCALE = {'factor': 1.0}
HPARAMS = argparse.Namespace(width=4, unused=0)
LARGE_TABLE = list(range(5000))
FLAG_VALUES = flags.FlagValues()
flags.DEFINE_integer('microbatches', 10, 'test flag', flag_values=FLAG_VALUES)
FLAG_VALUES(['test'])
calls = []


def _helper_reading_a_global():
  return MICROBATCHES


def _reads_global():
  return _helper_reading_a_global()


def _reads_dict():
  return SCALE['factor']


def _reads_namespace():
  return HPARAMS.width


def _reads_flag():
  return FLAG_VALUES.microbatches


def _reads_large_table():
  return LARGE_TABLE[0]


def _snapshot_changes(fn, change, undo):
  before = model_fn_reads.snapshot(fn)
  assert model_fn_reads.snapshot(fn) == before
  change()
  try:
    after = model_fn_reads.snapshot(fn)
  finally:
    undo()
  assert model_fn_reads.snapshot(fn) == before
  return model_fn_reads.changed(before, after) if after != before else []


def _set_global(name, value):
  globals()[name] = value


def test_a_global_read_by_a_function_the_model_fn_calls():
  assert _snapshot_changes(
      _reads_global, lambda: _set_global('MICROBATCHES', 7),
      lambda: _set_global('MICROBATCHES', 10)) == [f'{__name__}.MICROBATCHES']


def test_a_dict_an_argparse_namespace_and_an_absl_flag():
  assert _snapshot_changes(
      _reads_dict, lambda: SCALE.update(factor=2.0),
      lambda: SCALE.update(factor=1.0)) == [f'{__name__}.SCALE']
  assert _snapshot_changes(
      _reads_namespace, lambda: setattr(HPARAMS, 'width', 8),
      lambda: setattr(HPARAMS, 'width', 4)) == [f'{__name__}.HPARAMS.width']
  # An attribute the code never names is not read.
  assert not _snapshot_changes(
      _reads_namespace, lambda: setattr(HPARAMS, 'unused', 1),
      lambda: setattr(HPARAMS, 'unused', 0))
  assert _snapshot_changes(
      _reads_flag, lambda: setattr(FLAG_VALUES, 'microbatches', 7),
      lambda: setattr(FLAG_VALUES, 'microbatches', 10)) == [
          f'{__name__}.FLAG_VALUES.microbatches']


def test_large_containers_are_data_not_settings():
  assert not _snapshot_changes(
      _reads_large_table, lambda: LARGE_TABLE.__setitem__(0, -1),
      lambda: LARGE_TABLE.__setitem__(0, 0))


def test_closures_methods_partials_and_callable_objects():
  rate = 0.1

  def closure():
    return rate

  def set_rate(value):
    nonlocal rate
    rate = value

  assert _snapshot_changes(closure, lambda: set_rate(0.2),
                           lambda: set_rate(0.1)) == [
                               f'{closure.__qualname__}: rate']

  class Builder:

    def __init__(self):
      self.depth = 2

    def model_fn(self):
      return self.depth

    def __call__(self):
      return self.depth

    @property
    def broken(self):  # never run: only instance dicts are read
      raise AssertionError('a property ran')

  builder = Builder()
  for fn in (builder.model_fn, builder):
    assert _snapshot_changes(fn, lambda: setattr(builder, 'depth', 3),
                             lambda: setattr(builder, 'depth', 2)) == [
                                 'self.depth']

  def with_settings(units):
    return units

  partial = functools.partial(with_settings, units=3)
  assert _snapshot_changes(
      partial, lambda: partial.keywords.update(units=4),
      lambda: partial.keywords.update(units=3)) == ['partial argument units']


def test_a_library_wrapper_leads_to_the_users_model_fn():
  def model_fn(features, labels, mode, params):
    del features, labels, mode, params
    return MICROBATCHES

  estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
      model_fn, config=tf.compat.v1.estimator.tpu.RunConfig(
          model_dir=tempfile.mkdtemp()), train_batch_size=2, use_tpu=False)
  wrapper = estimator._model_fn  # pylint: disable=protected-access
  assert wrapper is not model_fn
  assert _snapshot_changes(
      wrapper, lambda: _set_global('MICROBATCHES', 7),
      lambda: _set_global('MICROBATCHES', 10)) == [f'{__name__}.MICROBATCHES']


def test_a_canned_estimators_optimizer_function_is_read():
  """2.15 called `optimizer=lambda: ...` at each call, with the global's value."""
  estimator = tf.estimator.DNNRegressor(
      [4], [tf.feature_column.numeric_column('x')],
      optimizer=lambda: tf.keras.optimizers.SGD(SCALE['factor']))
  assert _snapshot_changes(
      estimator._model_fn,  # pylint: disable=protected-access
      lambda: SCALE.update(factor=2.0),
      lambda: SCALE.update(factor=1.0)) == [f'{__name__}.SCALE']


def _reshaping_model_fn(features, labels, mode):
  """TF Privacy's DP optimizers reshape a vector loss by the microbatches."""
  del labels
  calls.append((mode, MICROBATCHES))
  v = _v1.get_variable('v', [], initializer=_v1.zeros_initializer())
  per_batch = tf.reshape(features['x'], [MICROBATCHES, -1])
  loss = tf.reduce_mean(per_batch) * 0.0 + v * 0.0
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions={'m': tf.fill([tf.shape(features['x'])[0]],
                                        float(MICROBATCHES))})
  train_op = tf.group(v.assign(float(MICROBATCHES)),
                      _v1.assign_add(_v1.train.get_global_step(), 1))
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op,
      eval_metric_ops={'m': _v1.metrics.mean(float(MICROBATCHES))})


def _input_fn():
  x = np.ones([60, 1], np.float32)
  return tf.data.Dataset.from_tensor_slices(({'x': x}, x)).batch(60)


@pytest.fixture
def microbatches():
  del calls[:]
  yield lambda value: _set_global('MICROBATCHES', value)
  _set_global('MICROBATCHES', 10)


def test_the_movielens_idiom_trains_evaluates_and_predicts_with_new_values(
    microbatches):
  est = tf.estimator.Estimator(_reshaping_model_fn,
                               model_dir=tempfile.mkdtemp())
  seen = []
  for value in (10, 12, 12, 6):
    microbatches(value)
    est.train(_input_fn, steps=1)
    seen.append((float(est.get_variable_value('v')),
                 est.evaluate(_input_fn)['m'],
                 next(est.predict(_input_fn))['m']))
  assert seen == [(v, v, v) for v in (10.0, 12.0, 12.0, 6.0)]
  # A kept graph still serves calls that read the same values: the model_fn
  # ran once per mode for 12, as for each other value (its own list of
  # calls changed only while it ran).
  assert [value for mode, value in calls if mode == 'train'] == [10, 12, 6]
  assert [value for mode, value in calls if mode == 'eval'] == [10, 12, 6]
  assert [value for mode, value in calls if mode == 'infer'] == [10, 12, 6]


def test_a_replaced_graph_is_freed_before_its_successor_is_built(microbatches):
  """Its functions, graphs and variables hold each other: a cycle."""
  est = tf.estimator.Estimator(_reshaping_model_fn,
                               model_dir=tempfile.mkdtemp())
  est.train(_input_fn, steps=1)
  graphs = est._graphs  # pylint: disable=protected-access
  first = weakref.ref(next(iter(graphs)))
  microbatches(12)
  est.train(_input_fn, steps=1)
  assert first() is None
  assert len(list(graphs)) == 1


def test_graphs_of_a_replaced_model_fn_are_freed_before_the_next_capture(
    microbatches):
  """Libraries replace `_model_fn` after construction (Neural Structured
  Learning); the old model_fn's graphs go as the next call captures."""
  del microbatches
  est = tf.estimator.Estimator(_reshaping_model_fn,
                               model_dir=tempfile.mkdtemp())
  est.train(_input_fn, steps=1)
  est.evaluate(_input_fn, steps=1)
  old = [weakref.ref(graph) for graph in est._graphs]  # pylint: disable=protected-access
  assert len(old) == 2
  est._model_fn = lambda features, labels, mode: _reshaping_model_fn(  # pylint: disable=protected-access
      features, labels, mode)
  est.train(_input_fn, steps=1)
  assert [ref() for ref in old] == [None, None]
  assert len(list(est._graphs)) == 1  # pylint: disable=protected-access
