"""Time-series estimators (2.15's `canned/timeseries`) against 2.15.

The numbers in `_GOLDEN_215` were written by tensorflow-estimator 2.15 (in TF1
mode: its evaluation fails in TF2 mode) running `_SCENARIO` on checkpoints of
fixed values: evaluation over windows longer than the model's, prediction,
the exported serving signatures (one-shot, and the predict / filter /
cold-start filter trio driven through `saved_model_utils`), and every
variable after one more training step (statistics updates and Adam). The
slow tier runs the same scenario under 2.15 live, has 2.15 train model_dirs
that are used here and the other way round, and runs ours in TF1 mode.
"""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfcompat_estimator
from tfcompat_estimator.canned.timeseries import ar_model
from tfcompat_estimator.canned.timeseries import estimators
from tfcompat_estimator.canned.timeseries import feature_keys
from tfcompat_estimator.canned.timeseries import head as ts_head
from tfcompat_estimator.canned.timeseries import math_utils
from tfcompat_estimator.canned.timeseries import model as ts_model
from tfcompat_estimator.canned.timeseries import model_utils
from tfcompat_estimator.canned.timeseries import saved_model_utils
from tfcompat_estimator.canned.timeseries import state_management
from tfcompat_estimator.model_fn import ModeKeys

_TIMES = feature_keys.TrainEvalFeatures.TIMES
_VALUES = feature_keys.TrainEvalFeatures.VALUES
_MODULES = ('ar_model', 'estimators', 'feature_keys', 'head', 'math_utils',
            'model', 'model_utils', 'saved_model_utils', 'state_management')

# Runs under 2.15 (TS_V1=1: TF1 mode) and here (after install()). Phases
# (TS_PHASE): `fixed` writes checkpoints of fixed values, then `use`s them;
# `train` trains both cases into TS_MODEL_ROOT; `use` copies TS_MODEL_ROOT's
# model_dirs and uses them. Results go to the JSON path given as argument.
_SCENARIO = r'''
import functools, json, os, shutil, sys, tempfile
import numpy as np
import tensorflow as tf
from tensorflow_estimator.python.estimator import estimator_lib
from tensorflow_estimator.python.estimator.canned.timeseries import ar_model
from tensorflow_estimator.python.estimator.canned.timeseries import estimators
from tensorflow_estimator.python.estimator.canned.timeseries import feature_keys as fk
from tensorflow_estimator.python.estimator.canned.timeseries import saved_model_utils

# 2.15's module loses `numpy` to its remove_undocumented() call, so its
# filter functions raise NameError; give it back to compare the numbers.
saved_model_utils.numpy = np
TIMES, VALUES = fk.TrainEvalFeatures.TIMES, fk.TrainEvalFeatures.VALUES
CASES = ('lstm', 'squared')
# case: (training window, num_features)
SHAPES = {'lstm': (5, 1), 'squared': (3, 2)}
STATS = {
    'input_statistics/overall_feature_mean': 0.25,
    'input_statistics/overall_feature_var': 1.5,
    'input_statistics/series_start_mean': 0.1,
    'input_statistics/series_start_variance': 0.9,
    'input_statistics/start_time': 0,
    'input_statistics/total_observation_count': 41,
    'input_statistics_auxiliary/chunk_count': 10,
    'input_statistics_auxiliary/example_count': 60,
    'input_statistics_auxiliary/inter_observation_duration_sum': 10.,
    'input_statistics_auxiliary/max_time_seen': 40,
    'input_statistics_auxiliary/overall_feature_sum': 15.,
    'input_statistics_auxiliary/overall_feature_sum_of_squares': 93.75,
    'global_step': 5, 'head/beta1_power': 0.9**5, 'head/beta2_power': 0.999**5,
}


def fixed_value(index, name, shape, dtype):
  if name in STATS:
    return np.full(shape, STATS[name], dtype)
  x = np.sin(np.arange(int(np.prod(shape))) * 0.9 + index).reshape(shape)
  if name.endswith('/Adam_1'):
    return (0.01 + 0.005 * np.abs(x)).astype(dtype)
  if name.endswith('/Adam'):
    return (0.02 * x).astype(dtype)
  return (0.5 * x).astype(dtype)


def series(n, offset=0, features=1):
  t = np.arange(n, dtype=np.int64) * 2 + 1 + offset
  v = np.stack([np.sin(t / 3.) + 0.3 * k for k in range(features)], 1)
  return t, v.astype(np.float32), np.cos(t / 4.)[:, None].astype(np.float32)


def windows_input_fn(window, n, offset=0, features=1):
  def input_fn():
    t, v, exo = series(n, offset, features)
    idx = np.arange(n - window + 1)[:, None] + np.arange(window)[None, :]
    return tf.compat.v1.data.Dataset.from_tensors(
        {TIMES: t[idx], VALUES: v[idx], 'exo': exo[idx]}).repeat()
  return input_fn


def make(case, model_dir):
  exo = [tf.feature_column.numeric_column('exo')]
  config = estimator_lib.RunConfig(tf_random_seed=1)
  if case == 'lstm':
    return estimators.LSTMAutoRegressor(
        periodicities=4, input_window_size=3, output_window_size=2,
        num_features=1, num_units=2, num_timesteps=2,
        extra_feature_columns=exo, model_dir=model_dir, config=config)
  return estimators.TimeSeriesRegressor(
      model=ar_model.ARModel(
          periodicities=3, input_window_size=2, output_window_size=1,
          num_features=2, loss=ar_model.ARModel.SQUARED_LOSS,
          exogenous_feature_columns=exo,
          prediction_model_factory=functools.partial(
              ar_model.LSTMPredictionModel, num_units=2)),
      model_dir=model_dir, config=config)


def train(case, model_dir, steps, offset=0):
  window, features = SHAPES[case]
  make(case, model_dir).train(
      windows_input_fn(window, 8 + offset % 4, offset, features), steps=steps)


def write_fixed_checkpoint(case, model_dir):
  scratch = tempfile.mkdtemp()
  train(case, scratch, 1)
  reader = tf.train.load_checkpoint(scratch)
  dtypes, shapes = reader.get_variable_to_dtype_map(), reader.get_variable_to_shape_map()
  names = sorted(dtypes)
  with tf.Graph().as_default():
    var_list = {name: tf.compat.v1.Variable(fixed_value(
        i, name, shapes[name], dtypes[name].as_numpy_dtype))
                for i, name in enumerate(names)}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      path = os.path.join(model_dir, 'model.ckpt-5')
      tf.compat.v1.train.Saver(var_list=var_list).save(
          sess, path, write_meta_graph=False, write_state=False)
  tf.compat.v1.train.update_checkpoint_state(model_dir, path)
  return names


def as_list(x):
  if isinstance(x, dict):
    return {k: as_list(v) for k, v in sorted(x.items())}
  if isinstance(x, (tuple, list)):
    return [as_list(v) for v in x]
  return np.asarray(x).tolist()


def use(case, model_dir, root):
  """Evaluates, predicts, serves and trains on one more step."""
  r = {}
  est = make(case, model_dir)
  window, features = SHAPES[case]
  # Windows longer than the model's: evaluation walks whole output windows.
  ev = est.evaluate(
      windows_input_fn(window + 3, 10, offset=4, features=features), steps=1)
  r['eval'] = as_list(ev)
  t, v, exo = series(9, offset=30, features=features)
  if case == 'lstm':
    state = (t[None, :3], v[None, :3], exo[None, :3])
    def predict_input_fn():
      return ({TIMES: t[None, 3:], VALUES: v[None, 3:],
               fk.State.STATE_TUPLE: state, 'exo': exo[None, 3:]}, {})
  else:
    state = tuple(np.asarray(s) for s in ev[fk.FilteringResults.STATE_TUPLE])
    def predict_input_fn():
      batch = state[0].shape[0]
      return ({TIMES: np.tile(t[None, 3:], [batch, 1]),
               fk.State.STATE_TUPLE: state,
               'exo': np.tile(exo[None, 3:], [batch, 1, 1])}, {})
  predictions = est.predict(predict_input_fn, yield_single_examples=False)
  r['predict'] = as_list(next(predictions))
  export_dir = est.export_saved_model(os.path.join(root, 'export_' + case),
                                      est.build_raw_serving_input_receiver_fn())
  with tf.Graph().as_default() as graph, tf.compat.v1.Session() as sess:
    meta = tf.compat.v1.saved_model.load(sess, [tf.saved_model.SERVING],
                                         export_dir)
    r['signatures'] = {k: sorted(s.inputs)
                       for k, s in sorted(meta.signature_def.items())}
    if case == 'lstm':
      sig = meta.signature_def['serving_default']
      feed = {TIMES: t[None], VALUES: v[None, :6], 'exo': exo[None]}
      r['serving'] = as_list(sess.run(
          {k: graph.as_graph_element(o.name) for k, o in sig.outputs.items()},
          {graph.as_graph_element(sig.inputs[k].name): x
           for k, x in feed.items()}))
    else:
      cold = saved_model_utils.cold_start_filter(
          meta, sess, {TIMES: t[:4], VALUES: v[:4], 'exo': exo[:4]})
      more = saved_model_utils.filter_continuation(
          cold, meta, sess, {TIMES: t[4:6], VALUES: v[4:6], 'exo': exo[4:6]})
      ahead = saved_model_utils.predict_continuation(
          more, meta, sess, steps=3, exogenous_features={'exo': exo[None, 6:9]})
      after_eval = saved_model_utils.predict_continuation(
          ev, meta, sess, times=ev[TIMES][:, -1:] + np.arange(1, 3)[None],
          exogenous_features={'exo': np.ones([5, 2, 1], np.float32)})
      r['cold_start_filter'] = as_list(cold)
      r['filter_continuation'] = as_list(more)
      r['predict_continuation'] = as_list(ahead)
      r['predict_after_eval'] = as_list(after_eval)
  if case == 'lstm':
    parsing_dir = est.export_saved_model(
        os.path.join(root, 'parsing_' + case),
        est.build_one_shot_parsing_serving_input_receiver_fn(6, 3))
    example = tf.train.Example(features=tf.train.Features(feature={
        TIMES: tf.train.Feature(int64_list=tf.train.Int64List(value=t)),
        VALUES: tf.train.Feature(float_list=tf.train.FloatList(
            value=v[:6].ravel())),
        'exo': tf.train.Feature(float_list=tf.train.FloatList(
            value=exo.ravel()))})).SerializeToString()
    with tf.Graph().as_default() as graph, tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.load(sess, [tf.saved_model.SERVING],
                                           parsing_dir)
      sig = meta.signature_def['serving_default']
      r['parsing_inputs'] = sorted(sig.inputs)
      r['parsing_serving'] = as_list(sess.run(
          {k: graph.as_graph_element(o.name) for k, o in sig.outputs.items()},
          {graph.as_graph_element(sig.inputs['examples'].name): [example]}))
  train(case, model_dir, 1, offset=2)
  r['continued'] = {
      name: [float(np.sum(value)), float(np.sum(np.abs(value)))]
      for name in est.get_variable_names()
      for value in [np.asarray(est.get_variable_value(name), np.float64)]}
  return r


def run(phase, root, model_root=None):
  results = {}
  for case in CASES:
    model_dir = os.path.join(root, case)
    if phase == 'train':
      train(case, os.path.join(model_root, case), 25)
      continue
    if phase == 'fixed':
      os.makedirs(model_dir)
      names = write_fixed_checkpoint(case, model_dir)
    else:
      shutil.copytree(os.path.join(model_root, case), model_dir)
      names = sorted(tf.train.load_checkpoint(model_dir).get_variable_to_dtype_map())
    results[case] = use(case, model_dir, root)
    results[case]['names'] = names
  return results


if __name__ == '__main__':
  if os.environ.get('TS_V1') == '1':
    tf.compat.v1.disable_v2_behavior()
  out = run(os.environ.get('TS_PHASE', 'fixed'), tempfile.mkdtemp(),
            os.environ.get('TS_MODEL_ROOT'))
  with open(sys.argv[1], 'w') as f:
    json.dump(out, f)
'''


def _scenario():
  namespace = {'__name__': 'timeseries_scenario'}
  exec(compile(_SCENARIO, 'timeseries_scenario', 'exec'), namespace)  # pylint: disable=exec-used
  return namespace


def _assert_close(got, want, path='', rtol=1e-5, atol=1e-6):
  """Recursive comparison of JSON-like results (floats with tolerance)."""
  if isinstance(want, dict):
    assert isinstance(got, dict) and set(got) == set(want), (
        path, sorted(set(got) ^ set(want)) if isinstance(got, dict) else got)
    for key in want:
      _assert_close(got[key], want[key], f'{path}/{key}', rtol, atol)
  elif isinstance(want, str) or (isinstance(want, list) and want and
                                  isinstance(want[0], (str, dict))):
    if isinstance(want, list) and isinstance(want[0], dict):
      assert len(got) == len(want), path
      for i, (g, w) in enumerate(zip(got, want)):
        _assert_close(g, w, f'{path}/{i}', rtol, atol)
    else:
      assert got == want, path
  else:
    try:
      want_array = np.asarray(want, np.float64)
    except ValueError:  # a tuple of differently shaped arrays (model state)
      assert len(got) == len(want), path
      for i, (g, w) in enumerate(zip(got, want)):
        _assert_close(g, w, f'{path}/{i}', rtol, atol)
      return
    np.testing.assert_allclose(np.asarray(got, np.float64), want_array,
                               rtol=rtol, atol=atol, err_msg=path)


def _model_fn_for(model, mode, features, labels=None, head_type=None):
  head_type = head_type or ts_head.TimeSeriesRegressionHead
  head = head_type(model=model,
                   state_manager=state_management.PassthroughStateManager(),
                   optimizer=tf.compat.v1.train.AdamOptimizer(0.001))
  return head.create_estimator_spec(features=features, labels=labels,
                                    mode=mode)


class _StubModel:
  num_features = 3
  dtype = tf.float64

  def initialize_graph(self, input_statistics):
    del input_statistics


# ---------------------------------------------------------------- structure


def test_2_15_module_paths_resolve_to_this_package():
  import importlib  # pylint: disable=g-import-not-at-top
  for name in _MODULES:
    legacy = importlib.import_module(
        f'tensorflow_estimator.python.estimator.canned.timeseries.{name}')
    ours = importlib.import_module(f'tfcompat_estimator.canned.timeseries.{name}')
    assert dir(legacy) == dir(ours)
  legacy_estimators = importlib.import_module(
      'tensorflow_estimator.python.estimator.canned.timeseries.estimators')
  assert legacy_estimators.LSTMAutoRegressor is estimators.LSTMAutoRegressor


def test_public_names_of_2_15():
  for name in ('TimeSeriesRegressor', 'LSTMAutoRegressor'):
    assert hasattr(estimators, name)
  for name in ('ARModel', 'LSTMPredictionModel'):
    assert hasattr(ar_model, name)
  assert ar_model.ARModel.SQUARED_LOSS == 'squared_loss'
  assert ar_model.ARModel.NORMAL_LIKELIHOOD_LOSS == 'normal_likelihood_loss'
  for name in ('TimeSeriesRegressionHead', 'OneShotPredictionHead',
               'state_to_dictionary'):
    assert hasattr(ts_head, name)
  for name in ('PassthroughStateManager', 'FilteringOnlyStateManager'):
    assert hasattr(state_management, name)
  for name in ('replicate_state', 'Moments', 'InputStatistics',
               'InputStatisticsFromMiniBatch'):
    assert hasattr(math_utils, name)
  assert saved_model_utils.__all__ == [
      'predict_continuation', 'cold_start_filter', 'filter_continuation']
  assert ts_model.ModelOutputs._fields == (
      'loss', 'end_state', 'predictions', 'prediction_times')
  from tfcompat_estimator import estimator as estimator_lib  # pylint: disable=g-import-not-at-top
  # 2.15 derived them from the v1 Estimator class (with export_savedmodel).
  assert issubclass(estimators.TimeSeriesRegressor, estimator_lib.Estimator)
  assert not issubclass(estimators.TimeSeriesRegressor,
                        estimator_lib.EstimatorV2)


def test_feature_keys_are_2_15s():
  fk = feature_keys
  assert (fk.TrainEvalFeatures.TIMES, fk.TrainEvalFeatures.VALUES) == (
      'times', 'values')
  assert fk.PredictionFeatures.STATE_TUPLE == 'start_tuple'
  assert fk.FilteringFeatures.STATE_PREFIX == 'model_state'
  assert not hasattr(fk.PredictionFeatures, 'VALUES')
  assert fk.FilteringResults.TIMES == fk.PredictionResults.TIMES == 'times'
  assert (fk.SavedModelLabels.PREDICT, fk.SavedModelLabels.FILTER,
          fk.SavedModelLabels.COLD_START_FILTER) == (
              'serving_default', 'filter', 'cold_start_filter')
  assert ts_head.state_to_dictionary((1, (2, 3))) == {
      'model_state_00': 1, 'model_state_01': 2, 'model_state_02': 3}


# ---------------------------------------------------------------- math


def test_replicate_state_adds_a_batch_dimension():
  state = (tf.constant([1, 2]), (tf.constant([[1.]]), tf.constant(3.)))
  times, (values, scalar) = math_utils.replicate_state(state, 3)
  np.testing.assert_array_equal(times, [[1, 2]] * 3)
  assert values.shape == (3, 1, 1)
  np.testing.assert_array_equal(scalar, [3., 3., 3.])


def test_input_statistics_from_mini_batches():
  """Running moments, start time and observation count, as 2.15 kept them."""
  times = np.array([[5, 7, 9, 11], [1, 3, 5, 7]], np.int64)
  values = np.arange(16, dtype=np.float64).reshape(2, 4, 2)
  graph = tf.Graph()
  with graph.as_default():
    stats_object = math_utils.InputStatisticsFromMiniBatch(
        num_features=2, dtype=tf.float64, starting_variance_window_size=3)
    stats = stats_object.initialize_graph(
        {_TIMES: tf.constant(times), _VALUES: tf.constant(values)})
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      read_only = stats_object.initialize_graph({}, update_statistics=False)
    names = sorted(v.op.name for v in tf.compat.v1.global_variables())
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      got = sess.run(stats)
      stored = sess.run(read_only)
  assert names == sorted(
      ['input_statistics/' + n for n in (
          'overall_feature_mean', 'overall_feature_var', 'series_start_mean',
          'series_start_variance', 'start_time', 'total_observation_count')] +
      ['input_statistics_auxiliary/' + n for n in (
          'chunk_count', 'example_count', 'inter_observation_duration_sum',
          'max_time_seen', 'overall_feature_sum',
          'overall_feature_sum_of_squares')])
  flat = values.reshape(-1, 2)
  np.testing.assert_allclose(got.overall_feature_moments.mean, flat.mean(0))
  np.testing.assert_allclose(got.overall_feature_moments.variance,
                             flat.var(0, ddof=1))
  # The chunk that starts earliest (the second) gives the start moments.
  np.testing.assert_allclose(got.series_start_moments.mean,
                             values[1, :3].mean(0))
  np.testing.assert_allclose(got.series_start_moments.variance,
                             values[1, :3].var(0))
  assert got.start_time == 1 and stored.start_time == 1
  # (11 - 1 + 1) / mean spacing 2, rounded half to even: 6.
  assert got.total_observation_count == 6


def test_time_features_bucket_the_position_in_each_period():
  model = ar_model.ARModel(periodicities=[9, 12], input_window_size=1,
                           output_window_size=1, num_features=1,
                           num_time_buckets=3)
  model.initialize_graph()
  _, features = model._compute_time_features(tf.constant([[17, 0]], tf.int64))
  # t=17: 17 % 9 = 8 -> 8/3 buckets: 2/3 into the third bucket;
  # 17 % 12 = 5 -> 5/4 buckets: 1/4 into the second bucket.
  np.testing.assert_allclose(features[0, 0], [[0, 0, 2 / 3], [0, .25, 0]],
                             rtol=1e-6)
  np.testing.assert_allclose(features[0, 1], np.zeros([2, 3]))


@pytest.mark.parametrize('loss', [ar_model.ARModel.NORMAL_LIKELIHOOD_LOSS,
                                  ar_model.ARModel.SQUARED_LOSS])
def test_loss_op(loss):
  model = ar_model.ARModel(periodicities=2, input_window_size=1,
                           output_window_size=2, num_features=1, loss=loss)
  targets = np.array([[[1.], [2.]], [[0.], [-1.]]], np.float32)
  mean = np.array([[[1.5], [1.]], [[0.], [0.5]]], np.float32)
  covariance = np.array([[[0.5], [2.]], [[1e-7], [1.]]], np.float32)
  got = model.loss_op(tf.constant(targets), {
      'mean': tf.constant(mean), 'covariance': tf.constant(covariance)})
  if loss == ar_model.ARModel.SQUARED_LOSS:
    want = np.mean((mean - targets)**2)
  else:
    variance = np.maximum(covariance, 1e-5)
    want = np.mean(0.5 * (mean - targets)**2 / variance +
                   0.5 * np.log(2 * np.pi * variance))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ar_model_checks_its_arguments():
  with pytest.raises(AssertionError):
    ar_model.ARModel(periodicities=None, input_window_size=0,
                     output_window_size=1, num_features=1)
  with pytest.raises(AssertionError):
    ar_model.ARModel(periodicities=2, input_window_size=1,
                     output_window_size=0, num_features=1)
  model = ar_model.ARModel(periodicities=(3, 4), input_window_size=2,
                           output_window_size=1, num_features=2,
                           exogenous_feature_columns=[
                               tf.feature_column.numeric_column('e', (3,))])
  assert (model.window_size, model.exogenous_size) == (3, 3)
  with pytest.raises(ValueError, match='initialize_graph'):
    model.define_loss({_TIMES: [[1, 2, 3]], _VALUES: [[[1.]] * 3]},
                      ModeKeys.TRAIN)


@pytest.mark.parametrize('output_window_size, prediction_times', [
    (1, [[5, 7, 11]]),  # two times go to the first input window
    (2, [[7, 11]]),  # and one more, to leave whole output windows
])
def test_long_evaluation_windows(output_window_size, prediction_times):
  graph = tf.Graph()
  with graph.as_default():
    model = ar_model.ARModel(periodicities=2, num_features=1,
                             input_window_size=2,
                             output_window_size=output_window_size)
    model.initialize_graph()
    outputs = model.define_loss(
        {_TIMES: [[1, 3, 5, 7, 11]], _VALUES: [[[1.], [2.], [3.], [4.], [5.]]]},
        mode=ModeKeys.EVAL)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      got = sess.run(outputs)
  np.testing.assert_array_equal(got.prediction_times, prediction_times)
  width = len(prediction_times[0])
  for prediction in got.predictions.values():
    assert prediction.shape == (1, width, 1)
  end_times, end_values, end_exogenous = got.end_state
  np.testing.assert_array_equal(end_times, [[7, 11]])
  np.testing.assert_array_equal(end_values, [[[4.], [5.]]])
  assert end_exogenous.shape == (1, 2, 0)


def test_window_errors_are_2_15s():
  model = ar_model.ARModel(periodicities=10, input_window_size=10,
                           output_window_size=6, num_features=1)
  with tf.Graph().as_default():
    model.initialize_graph()
    bad = {_TIMES: [[1]], _VALUES: [[[1.]]]}
    with pytest.raises(ValueError, match='set window_size=16'):
      model.define_loss(dict(bad), ModeKeys.TRAIN)
    with pytest.raises(ValueError, match='requires a window of at least'):
      model.define_loss(dict(bad), ModeKeys.EVAL)
    with pytest.raises(ValueError, match="Unknown mode 'infer'"):
      model.get_batch_loss(dict(bad), ModeKeys.PREDICT, None)


def test_predict_walks_output_windows():
  """An LSTM model predicts three times from a two-step state (2.15's test)."""
  graph = tf.Graph()
  with graph.as_default():
    model = ar_model.ARModel(
        periodicities=2, num_features=1, num_time_buckets=10,
        input_window_size=2, output_window_size=2,
        prediction_model_factory=functools.partial(
            ar_model.LSTMPredictionModel, num_units=16))
    predicted = model.predict({
        feature_keys.PredictionFeatures.TIMES: [[4, 6, 10]],
        feature_keys.PredictionFeatures.STATE_TUPLE: (
            [[1, 2]], [[[1.], [2.]]], [[[], []]])})
    names = sorted(v.op.name for v in tf.compat.v1.global_variables())
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      mean, covariance = sess.run([predicted['mean'], predicted['covariance']])
  assert mean.shape == covariance.shape == (1, 3, 1)
  assert (covariance > 0).all()
  assert names == [
      f'model/lstm_prediction_model/{layer}/{weight}'
      for layer, weights in (
          ('covariance_transform', ('bias', 'kernel')),
          ('decoder/lstm_cell', ('bias', 'kernel', 'recurrent_kernel')),
          ('encoder/lstm_cell', ('bias', 'kernel', 'recurrent_kernel')),
          ('mean_transform', ('bias', 'kernel')))
      for weight in weights]


# ---------------------------------------------------------------- heads


@pytest.mark.parametrize('mode', [ModeKeys.TRAIN, ModeKeys.EVAL,
                                  ModeKeys.PREDICT])
def test_labels_are_rejected(mode):
  with tf.Graph().as_default():
    for labels in ({'a': 'b'}, tf.zeros([])):
      with pytest.raises(ValueError, match='received a `labels`'):
        _model_fn_for(_StubModel(), mode, {}, labels)
    with pytest.raises(ValueError, match="Unknown mode 'Not a mode'"):
      _model_fn_for(_StubModel(), 'Not a mode', {}, {})


@pytest.mark.parametrize('features, message', [
    ({_VALUES: [[[1.]]]}, "Expected a 'times' feature"),
    ({_TIMES: [[1]]}, "Expected a 'values' feature"),
    ({_TIMES: [[[1]]], _VALUES: [[[1.]]]},
     "Expected shape.*for feature 'times'"),
    ({_TIMES: [[1]], _VALUES: [[1.]]}, "Expected shape.*for feature 'values'"),
    ({_TIMES: [[1]], _VALUES: [[[1.]]]},
     "Expected shape.*, 3.*for feature 'values'"),
    ({_TIMES: [[1]], _VALUES: [[[1., 2., 3.]]], 'exogenous': [[1], [2]]},
     "Features must have shape.*for feature 'exogenous'"),
])
@pytest.mark.parametrize('mode', [ModeKeys.TRAIN, ModeKeys.EVAL])
def test_train_eval_feature_checks(features, message, mode):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=message):
      _model_fn_for(_StubModel(), mode, features)


@pytest.mark.parametrize('features, message', [
    ({feature_keys.PredictionFeatures.STATE_TUPLE: ([[[1.]]], 1.)},
     "Expected a 'times' feature"),
    ({_TIMES: [[1]]}, "Expected a 'start_tuple' feature"),
    ({_TIMES: 1, feature_keys.PredictionFeatures.STATE_TUPLE: (1, (2, 3.))},
     "Expected shape.*for feature 'times'"),
    ({_TIMES: [[1]], feature_keys.PredictionFeatures.STATE_TUPLE: (1, (2, 3.)),
      'exogenous': 1.}, "Features must have shape.*for feature 'exogenous'"),
])
def test_predict_feature_checks(features, message):
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=message):
      _model_fn_for(_StubModel(), ModeKeys.PREDICT, features)


def test_one_shot_head_needs_values_to_predict():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="Expected a 'values' feature"):
      _model_fn_for(_StubModel(), ModeKeys.PREDICT,
                    {_TIMES: [[1]],
                     feature_keys.PredictionFeatures.STATE_TUPLE: (1,)},
                    head_type=ts_head.OneShotPredictionHead)


class _TickerModel:
  num_features = 1
  dtype = tf.float32

  def initialize_graph(self, input_statistics):
    pass

  def define_loss(self, features, mode):
    del mode
    ticker = features['ticker']
    return ts_model.ModelOutputs(loss=ticker, end_state=(ticker, ticker),
                                 prediction_times=tf.zeros(()),
                                 predictions={'ticker': ticker})


def test_identity_metrics_keep_the_last_batch():
  """In-sample metrics hold the batch the loss mean last saw (2.15's test)."""
  graph = tf.Graph()
  with graph.as_default():
    step = tf.compat.v1.placeholder(tf.float32, [])
    features = {_TIMES: tf.zeros((1, 1)), _VALUES: tf.zeros((1, 1, 1)),
                'ticker': tf.reshape(step, (1, 1, 1))}
    spec = _model_fn_for(_TickerModel(), ModeKeys.EVAL, features)
    assert set(spec.eval_metric_ops) == {
        'ticker', 'times', 'start_tuple', 'average_loss'}
    updates = [update for _, update in spec.eval_metric_ops.values()]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      for value in (3., 5.):
        sess.run(updates, {step: value})
      ticker, (state0, _) = sess.run(
          (spec.eval_metric_ops['ticker'][0],
           spec.eval_metric_ops['start_tuple'][0]))
      average = sess.run(spec.eval_metric_ops['average_loss'][0])
  np.testing.assert_allclose(ticker, [[[5.]]])
  np.testing.assert_allclose(state0, [[[5.]]])
  np.testing.assert_allclose(average, 4.)


def test_state_managers():
  class Recorder:

    def define_loss(self, features, mode):
      return ('define_loss', sorted(features), mode)

    def get_batch_loss(self, features, mode, state):
      return ('get_batch_loss', sorted(features), mode, state)

  key = feature_keys.State.STATE_TUPLE
  passthrough = state_management.PassthroughStateManager()
  assert passthrough.define_loss(Recorder(), {_TIMES: 1}, 'eval')[0] == (
      'define_loss')
  with pytest.raises(ValueError, match='Overriding start state'):
    passthrough.define_loss(Recorder(), {key: 1}, ModeKeys.EVAL)
  filtering = state_management.FilteringOnlyStateManager()
  with pytest.raises(ValueError, match='for training is not supported'):
    filtering.define_loss(Recorder(), {key: 1}, ModeKeys.TRAIN)
  features = {_TIMES: 1, key: (1, 2)}
  assert filtering.define_loss(Recorder(), features, ModeKeys.EVAL) == (
      'get_batch_loss', [_TIMES], ModeKeys.EVAL, (1, 2))


# ---------------------------------------------------------------- numpy helpers


def test_canonicalize_times_or_steps():
  previous = {_TIMES: np.array([[3, 5], [4, 6]])}
  np.testing.assert_array_equal(
      model_utils.canonicalize_times_or_steps_from_output(None, 2, previous),
      [[6, 7], [7, 8]])
  for times, steps, message in (
      (None, None, 'One of `steps` and `times`'),
      ([[7], [8]], 1, 'Only one of'),
      ([7, 8], None, 'batch dimension matching'),
      ([[7], [6]], None, 'must be after')):
    with pytest.raises(ValueError, match=message):
      model_utils.canonicalize_times_or_steps_from_output(times, steps,
                                                          previous)


def test_numpy_features_are_given_batch_and_time_dimensions():
  canonical = saved_model_utils._canonicalize_numpy_data
  one = canonical({_TIMES: 3, _VALUES: 1.5, 'e': 2.}, False)
  assert (one[_TIMES].shape, one[_VALUES].shape, one['e'].shape) == (
      (1, 1), (1, 1, 1), (1, 1))
  series = canonical({_TIMES: [1, 2], _VALUES: [[1., 2.], [3., 4.]]}, True)
  assert series[_VALUES].shape == (1, 2, 2)
  batch = canonical({_TIMES: [[1, 2]] * 3, _VALUES: [[1., 2.]] * 3}, False)
  assert batch[_VALUES].shape == (3, 2)
  for data, message in (
      ({_TIMES: [1]}, 'are required features'),
      ({_TIMES: [1, 2], _VALUES: [1.]}, 'prefixed by the shape'),
      ({_TIMES: 1, _VALUES: [[1.]]}, 'at most 1 dimension'),
      ({_TIMES: [1], _VALUES: [[[1.]]]}, 'at most 2 dimensions'),
      ({_TIMES: [[[1]]], _VALUES: [[[1.]]]}, 'most two'),
  ):
    with pytest.raises(ValueError, match=message):
      canonical(data, False)
  with pytest.raises(ValueError, match='Got batch input'):
    canonical({_TIMES: [[1]] * 2, _VALUES: [[1.]] * 2}, True)


# ---------------------------------------------------------------- estimators


def test_matches_2_15_on_fixed_checkpoints(tmp_path):
  """Evaluation, prediction, serving and a training step: 2.15's numbers."""
  got = _scenario()['run']('fixed', str(tmp_path))
  _assert_close(got, _GOLDEN_215)


def _sine_windows(window, n=40, batch=8):
  def input_fn():
    t = np.arange(n, dtype=np.int64)
    v = np.sin(t / 3.)[:, None].astype(np.float32)
    idx = np.arange(n - window + 1)[:, None] + np.arange(window)[None, :]
    return tf.data.Dataset.from_tensor_slices(
        {_TIMES: t[idx], _VALUES: v[idx]}).shuffle(64, seed=1).batch(
            batch).repeat()
  return input_fn


def test_lstm_auto_regressor_learns_and_serves(tmp_path):
  """Train, evaluate, predict and export in TF2 mode (2.15 only ran TF1)."""
  est = estimators.LSTMAutoRegressor(
      periodicities=12, input_window_size=8, output_window_size=4,
      num_units=8, model_dir=str(tmp_path / 'model'),
      config=tfcompat_estimator.RunConfig(tf_random_seed=2))
  est.train(_sine_windows(12), steps=2)
  before = est.evaluate(_sine_windows(12), steps=1)
  est.train(_sine_windows(12), steps=150)
  after = est.evaluate(_sine_windows(12), steps=1)
  assert after['loss'] < before['loss'] - 0.5
  assert after['loss'] == after['average_loss']
  assert feature_keys.State.STATE_TUPLE not in after  # OneShotPredictionHead
  assert after['mean'].shape == after['observed'].shape == (8, 4, 1)
  np.testing.assert_allclose(after['mean'], after['observed'], atol=0.5)

  t = np.arange(40, 60, dtype=np.int64)
  v = np.sin(t / 3.)[:, None].astype(np.float32)
  # Features as tensors: predict() yields from them until stopped.
  prediction = next(est.predict(lambda: ({
      _TIMES: t[None, 8:], _VALUES: v[None, 8:],
      feature_keys.State.STATE_TUPLE: (t[None, :8], v[None, :8],
                                       np.zeros([1, 8, 0], np.float32))}, {})))
  assert prediction['mean'].shape == (12, 1)
  np.testing.assert_array_equal(prediction['times'], t[8:])
  np.testing.assert_allclose(prediction['mean'][:4], v[8:12], atol=0.5)

  export_dir = est.export_saved_model(
      str(tmp_path / 'export'),
      est.build_one_shot_parsing_serving_input_receiver_fn(
          filtering_length=12, prediction_length=4, truncate_values=True))
  served = tf.saved_model.load(export_dir).signatures['serving_default']
  example = tf.train.Example(features=tf.train.Features(feature={
      _TIMES: tf.train.Feature(int64_list=tf.train.Int64List(value=t[:16])),
      _VALUES: tf.train.Feature(float_list=tf.train.FloatList(
          value=v[:16].ravel())),
  })).SerializeToString()
  out = served(examples=tf.constant([example, example]))
  assert out['mean'].shape == (2, 4, 1)
  np.testing.assert_allclose(out['mean'][0], v[12:16], atol=0.5)


def test_added_metrics_see_values_in_the_models_dtype(tmp_path):
  """numpy float64 values minus float32 predictions worked on 2.15."""
  from tfcompat_estimator.canned import extenders  # pylint: disable=g-import-not-at-top
  est = estimators.LSTMAutoRegressor(
      periodicities=1, input_window_size=1, output_window_size=1,
      num_units=4, model_dir=str(tmp_path))

  def input_fn():
    return {_TIMES: [[1, 2, 3], [7, 8, 9]],
            _VALUES: np.array([[[0.], [1.], [0.]], [[2.], [3.], [2.]]])}

  def metric_fn(predictions, features):
    error = predictions['mean'] - features[_VALUES][:, -1:, :]
    return {'mean_abs_error': tf.compat.v1.metrics.mean(tf.abs(error))}

  evaluation = extenders.add_metrics(est, metric_fn).evaluate(input_fn,
                                                              steps=1)
  np.testing.assert_allclose(
      evaluation['mean_abs_error'],
      np.mean(np.abs(evaluation['mean'] - evaluation['observed'][:, -1:])),
      rtol=1e-6)


def test_time_series_regressor_serves_filter_and_predict(tmp_path):
  """The three signatures of TimeSeriesRegressionHead, through saved_model_utils."""
  est = estimators.TimeSeriesRegressor(
      model=ar_model.ARModel(
          periodicities=12, input_window_size=6, output_window_size=2,
          num_features=1, loss=ar_model.ARModel.SQUARED_LOSS,
          prediction_model_factory=functools.partial(
              ar_model.LSTMPredictionModel, num_units=6)),
      model_dir=str(tmp_path / 'model'))
  est.train(_sine_windows(8), steps=60)
  evaluation = est.evaluate(_sine_windows(20, batch=3), steps=1)
  end_times, end_values, _ = evaluation[feature_keys.State.STATE_TUPLE]
  assert end_times.shape == (3, 6) and end_values.shape == (3, 6, 1)
  export_dir = est.export_saved_model(str(tmp_path / 'export'),
                                      est.build_raw_serving_input_receiver_fn())
  t = np.arange(30, dtype=np.int64)
  v = np.sin(t / 3.)
  with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    meta = tf.compat.v1.saved_model.load(sess, [tf.saved_model.SERVING],
                                         export_dir)
    assert sorted(meta.signature_def) == [
        'cold_start_filter', 'filter', 'serving_default']
    assert sorted(meta.signature_def['cold_start_filter'].inputs) == [
        _TIMES, _VALUES]
    state = saved_model_utils.cold_start_filter(
        meta, sess, {_TIMES: t[:20], _VALUES: v[:20]})
    np.testing.assert_array_equal(state['model_state_00'], [t[14:20]])
    state = saved_model_utils.filter_continuation(
        state, meta, sess, {_TIMES: t[20:22], _VALUES: v[20:22]})
    np.testing.assert_array_equal(state['model_state_00'], [t[16:22]])
    ahead = saved_model_utils.predict_continuation(state, meta, sess, steps=4)
    np.testing.assert_array_equal(ahead[_TIMES], [t[22:26]])
    assert ahead['mean'].shape == (1, 4, 1)
    from_eval = saved_model_utils.predict_continuation(
        evaluation, meta, sess, times=end_times[:, -1:] + [[1, 2, 3]])
    assert from_eval['mean'].shape == (3, 3, 1)
    with pytest.raises(ValueError, match='must be after'):
      saved_model_utils.predict_continuation(state, meta, sess, times=[[3]])


# ---------------------------------------------------------------- 2.15 live


def _run_scenario(python, tmp_path, tag, env_extra, ours):
  from tests.helpers import reference_runner  # pylint: disable=g-import-not-at-top
  env = reference_runner.scenario_env()
  if not ours:
    env.pop('TF_USE_LEGACY_KERAS', None)
  env.update(env_extra)
  source = (reference_runner.OURS_PRELUDE if ours else '') + _SCENARIO
  return reference_runner.run_script(python, source, tmp_path, tag, env)


@pytest.mark.slow
def test_fixed_checkpoints_live_on_2_15_and_in_tf1_mode(tmp_path,
                                                        venv215_python):
  theirs = _run_scenario(venv215_python, tmp_path, 'tf215', {'TS_V1': '1'},
                         ours=False)
  _assert_close(theirs, _GOLDEN_215)
  ours_tf1 = _run_scenario(sys.executable, tmp_path, 'ours_tf1',
                           {'TS_V1': '1'}, ours=True)
  _assert_close(ours_tf1, _GOLDEN_215)


@pytest.mark.slow
@pytest.mark.parametrize('trainer', ['2.15', 'ours'])
def test_trained_model_dirs_are_used_alike(tmp_path, venv215_python, trainer):
  """A model_dir trained by either is evaluated, served and trained alike."""
  models = tmp_path / 'models'
  models.mkdir()
  common = {'TS_MODEL_ROOT': str(models)}
  if trainer == '2.15':
    _run_scenario(venv215_python, tmp_path, 'train215',
                  dict(common, TS_PHASE='train', TS_V1='1'), ours=False)
  else:
    _run_scenario(sys.executable, tmp_path, 'train_ours',
                  dict(common, TS_PHASE='train'), ours=True)
  theirs = _run_scenario(venv215_python, tmp_path, 'use215',
                         dict(common, TS_PHASE='use', TS_V1='1'), ours=False)
  ours = _run_scenario(sys.executable, tmp_path, 'use_ours',
                       dict(common, TS_PHASE='use'), ours=True)
  # Trained weights are not round numbers: float32 round-off, a few ulps
  # amplified by a training step's Adam normalization.
  _assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


# Written by tensorflow-estimator 2.15.0 on TF 2.15.1 (TF1 mode) running
# _SCENARIO's `fixed` phase; floats rounded to 7 significant digits.
_GOLDEN_215 = json.loads(
    '{"lstm":{"continued":{"global_step":[6.0,6.0],"head/beta1_power":[0.5314'
    '41,0.531441],"head/beta2_power":[0.994015,0.994015],"input_statistics/ov'
    'erall_feature_mean":[0.0955724,0.0955724],"input_statistics/overall_feat'
    'ure_var":[1.212982,1.212982],"input_statistics/series_start_mean":[0.1,0'
    '.1],"input_statistics/series_start_variance":[0.9,0.9],"input_statistics'
    '/start_time":[0.0,0.0],"input_statistics/total_observation_count":[30.0,'
    '30.0],"input_statistics_auxiliary/chunk_count":[16.0,16.0],"input_statis'
    'tics_auxiliary/example_count":[90.0,90.0],"input_statistics_auxiliary/in'
    'ter_observation_duration_sum":[22.0,22.0],"input_statistics_auxiliary/ma'
    'x_time_seen":[40.0,40.0],"input_statistics_auxiliary/overall_feature_sum'
    '":[8.601516,8.601516],"input_statistics_auxiliary/overall_feature_sum_of'
    '_squares":[108.7774,108.7774],"model/lstm_prediction_model/covariance_tr'
    'ansform/bias":[0.3250659,0.3250659],"model/lstm_prediction_model/covaria'
    'nce_transform/bias/Adam":[0.005501052,0.005501052],"model/lstm_predictio'
    'n_model/covariance_transform/bias/Adam_1":[0.01480359,0.01480359],"model'
    '/lstm_prediction_model/covariance_transform/kernel":[-0.3505225,0.400510'
    '1],"model/lstm_prediction_model/covariance_transform/kernel/Adam":[0.016'
    '73327,0.01673327],"model/lstm_prediction_model/covariance_transform/kern'
    'el/Adam_1":[0.02897166,0.02897166],"model/lstm_prediction_model/decoder/'
    'lstm_cell/bias":[0.4235071,2.644546],"model/lstm_prediction_model/decode'
    'r/lstm_cell/bias/Adam":[-0.01934288,0.06837163],"model/lstm_prediction_m'
    'odel/decoder/lstm_cell/bias/Adam_1":[0.1065505,0.1065505],"model/lstm_pr'
    'ediction_model/decoder/lstm_cell/kernel":[-0.2327985,7.616256],"model/ls'
    'tm_prediction_model/decoder/lstm_cell/kernel/Adam":[0.03355232,0.2808046'
    '],"model/lstm_prediction_model/decoder/lstm_cell/kernel/Adam_1":[0.31639'
    '62,0.3163962],"model/lstm_prediction_model/decoder/lstm_cell/recurrent_k'
    'ernel":[0.659292,5.102036],"model/lstm_prediction_model/decoder/lstm_cel'
    'l/recurrent_kernel/Adam":[-0.005755379,0.1794164],"model/lstm_prediction'
    '_model/decoder/lstm_cell/recurrent_kernel/Adam_1":[0.2129268,0.2129268],'
    '"model/lstm_prediction_model/encoder/lstm_cell/bias":[-0.5016937,2.71054'
    '8],"model/lstm_prediction_model/encoder/lstm_cell/bias/Adam":[-0.0155561'
    '2,0.09661732],"model/lstm_prediction_model/encoder/lstm_cell/bias/Adam_1'
    '":[0.1050606,0.1050606],"model/lstm_prediction_model/encoder/lstm_cell/k'
    'ernel":[0.1925257,10.37313],"model/lstm_prediction_model/encoder/lstm_ce'
    'll/kernel/Adam":[-0.02722298,0.3705739],"model/lstm_prediction_model/enc'
    'oder/lstm_cell/kernel/Adam_1":[0.4188549,0.4188549],"model/lstm_predicti'
    'on_model/encoder/lstm_cell/recurrent_kernel":[-0.8604507,5.308665],"mode'
    'l/lstm_prediction_model/encoder/lstm_cell/recurrent_kernel/Adam":[-0.007'
    '534986,0.1760427],"model/lstm_prediction_model/encoder/lstm_cell/recurre'
    'nt_kernel/Adam_1":[0.2107774,0.2107774],"model/lstm_prediction_model/mea'
    'n_transform/bias":[0.480561,0.480561],"model/lstm_prediction_model/mean_'
    'transform/bias/Adam":[0.08221404,0.08221404],"model/lstm_prediction_mode'
    'l/mean_transform/bias/Adam_1":[0.01125569,0.01125569],"model/lstm_predic'
    'tion_model/mean_transform/kernel":[-0.8995288,0.8995288],"model/lstm_pre'
    'diction_model/mean_transform/kernel/Adam":[-0.01458581,0.01493432],"mode'
    'l/lstm_prediction_model/mean_transform/kernel/Adam_1":[0.02403577,0.0240'
    '3577]},"eval":{"average_loss":1.446724,"covariance":[[[2.009073],[2.0269'
    '84],[2.108802],[2.116657]],[[2.104356],[2.033524],[2.194225],[2.150378]]'
    ',[[2.108802],[2.116657],[2.137557],[2.225301]]],"global_step":5,"loss":1'
    '.446724,"mean":[[[0.7591687],[0.7389119],[0.9003791],[0.870536]],[[0.898'
    '528],[0.7807357],[0.999954],[0.923883]],[[0.9003791],[0.870536],[0.90592'
    '58],[1.01607]]],"observed":[[[-0.9290145],[-0.9589243],[-0.5781983],[0.0'
    '5012701]],[[-0.9589243],[-0.5781983],[0.05012701],[0.6569866]],[[-0.5781'
    '983],[0.05012701],[0.6569866],[0.9825078]]],"times":[[13,15,17,19],[15,1'
    '7,19,21],[17,19,21,23]]},"names":["global_step","head/beta1_power","head'
    '/beta2_power","input_statistics/overall_feature_mean","input_statistics/'
    'overall_feature_var","input_statistics/series_start_mean","input_statist'
    'ics/series_start_variance","input_statistics/start_time","input_statisti'
    'cs/total_observation_count","input_statistics_auxiliary/chunk_count","in'
    'put_statistics_auxiliary/example_count","input_statistics_auxiliary/inte'
    'r_observation_duration_sum","input_statistics_auxiliary/max_time_seen","'
    'input_statistics_auxiliary/overall_feature_sum","input_statistics_auxili'
    'ary/overall_feature_sum_of_squares","model/lstm_prediction_model/covaria'
    'nce_transform/bias","model/lstm_prediction_model/covariance_transform/bi'
    'as/Adam","model/lstm_prediction_model/covariance_transform/bias/Adam_1",'
    '"model/lstm_prediction_model/covariance_transform/kernel","model/lstm_pr'
    'ediction_model/covariance_transform/kernel/Adam","model/lstm_prediction_'
    'model/covariance_transform/kernel/Adam_1","model/lstm_prediction_model/d'
    'ecoder/lstm_cell/bias","model/lstm_prediction_model/decoder/lstm_cell/bi'
    'as/Adam","model/lstm_prediction_model/decoder/lstm_cell/bias/Adam_1","mo'
    'del/lstm_prediction_model/decoder/lstm_cell/kernel","model/lstm_predicti'
    'on_model/decoder/lstm_cell/kernel/Adam","model/lstm_prediction_model/dec'
    'oder/lstm_cell/kernel/Adam_1","model/lstm_prediction_model/decoder/lstm_'
    'cell/recurrent_kernel","model/lstm_prediction_model/decoder/lstm_cell/re'
    'current_kernel/Adam","model/lstm_prediction_model/decoder/lstm_cell/recu'
    'rrent_kernel/Adam_1","model/lstm_prediction_model/encoder/lstm_cell/bias'
    '","model/lstm_prediction_model/encoder/lstm_cell/bias/Adam","model/lstm_'
    'prediction_model/encoder/lstm_cell/bias/Adam_1","model/lstm_prediction_m'
    'odel/encoder/lstm_cell/kernel","model/lstm_prediction_model/encoder/lstm'
    '_cell/kernel/Adam","model/lstm_prediction_model/encoder/lstm_cell/kernel'
    '/Adam_1","model/lstm_prediction_model/encoder/lstm_cell/recurrent_kernel'
    '","model/lstm_prediction_model/encoder/lstm_cell/recurrent_kernel/Adam",'
    '"model/lstm_prediction_model/encoder/lstm_cell/recurrent_kernel/Adam_1",'
    '"model/lstm_prediction_model/mean_transform/bias","model/lstm_prediction'
    '_model/mean_transform/bias/Adam","model/lstm_prediction_model/mean_trans'
    'form/bias/Adam_1","model/lstm_prediction_model/mean_transform/kernel","m'
    'odel/lstm_prediction_model/mean_transform/kernel/Adam","model/lstm_predi'
    'ction_model/mean_transform/kernel/Adam_1"],"parsing_inputs":["examples"]'
    ',"parsing_serving":{"covariance":[[[2.143233],[2.150794],[2.183062]]],"m'
    'ean":[[[0.8831133],[0.8888389],[0.9588372]]]},"predict":{"covariance":[['
    '[2.050209],[2.044019],[2.04781],[2.120918],[2.106392],[2.23249]]],"mean"'
    ':[[[0.8303723],[0.7761996],[0.7720336],[0.8321471],[0.8327791],[1.009829'
    ']]],"times":[[37,39,41,43,45,47]]},"serving":{"covariance":[[[2.143233],'
    '[2.150794],[2.183062]]],"mean":[[[0.8831133],[0.8888389],[0.9588372]]]},'
    '"signatures":{"serving_default":["exo","times","values"]}},"squared":{"c'
    'old_start_filter":{"model_state_00":[[35,37]],"model_state_01":[[[-0.843'
    '5575,-0.5986086],[-0.3926808,-0.1477318]]],"model_state_02":[[[-0.780845'
    '7],[-0.9847652]]],"times":[[31,33,35,37]]},"continued":{"global_step":[6'
    '.0,6.0],"head/beta1_power":[0.531441,0.531441],"head/beta2_power":[0.994'
    '015,0.994015],"input_statistics/overall_feature_mean":[0.3780929,0.37809'
    '29],"input_statistics/overall_feature_var":[2.475107,2.475107],"input_st'
    'atistics/series_start_mean":[0.2,0.2],"input_statistics/series_start_var'
    'iance":[1.8,1.8],"input_statistics/start_time":[0.0,0.0],"input_statisti'
    'cs/total_observation_count":[28.0,28.0],"input_statistics_auxiliary/chun'
    'k_count":[18.0,18.0],"input_statistics_auxiliary/example_count":[84.0,84'
    '.0],"input_statistics_auxiliary/inter_observation_duration_sum":[26.0,26'
    '.0],"input_statistics_auxiliary/max_time_seen":[40.0,40.0],"input_statis'
    'tics_auxiliary/overall_feature_sum":[31.75981,31.75981],"input_statistic'
    's_auxiliary/overall_feature_sum_of_squares":[211.7465,211.7465],"model/l'
    'stm_prediction_model/covariance_transform/bias":[0.2297146,0.4205732],"m'
    'odel/lstm_prediction_model/covariance_transform/kernel":[-1.116614,1.116'
    '614],"model/lstm_prediction_model/decoder/lstm_cell/bias":[-0.4897359,2.'
    '695929],"model/lstm_prediction_model/decoder/lstm_cell/bias/Adam":[-0.01'
    '389618,0.09119969],"model/lstm_prediction_model/decoder/lstm_cell/bias/A'
    'dam_1":[0.1030918,0.1030918],"model/lstm_prediction_model/decoder/lstm_c'
    'ell/kernel":[0.5597853,27.98929],"model/lstm_prediction_model/decoder/ls'
    'tm_cell/kernel/Adam":[-0.02103361,1.005188],"model/lstm_prediction_model'
    '/decoder/lstm_cell/kernel/Adam_1":[1.156728,1.156728],"model/lstm_predic'
    'tion_model/decoder/lstm_cell/recurrent_kernel":[-0.907547,5.37026],"mode'
    'l/lstm_prediction_model/decoder/lstm_cell/recurrent_kernel/Adam":[-0.018'
    '89978,0.180514],"model/lstm_prediction_model/decoder/lstm_cell/recurrent'
    '_kernel/Adam_1":[0.2085962,0.2085962],"model/lstm_prediction_model/encod'
    'er/lstm_cell/bias":[0.3900799,2.581085],"model/lstm_prediction_model/enc'
    'oder/lstm_cell/bias/Adam":[0.01795165,0.100603],"model/lstm_prediction_m'
    'odel/encoder/lstm_cell/bias/Adam_1":[0.103643,0.103643],"model/lstm_pred'
    'iction_model/encoder/lstm_cell/kernel":[-0.01781407,33.16687],"model/lst'
    'm_prediction_model/encoder/lstm_cell/kernel/Adam":[0.003553638,1.183124]'
    ',"model/lstm_prediction_model/encoder/lstm_cell/kernel/Adam_1":[1.370031'
    ',1.370031],"model/lstm_prediction_model/encoder/lstm_cell/recurrent_kern'
    'el":[0.790917,5.254549],"model/lstm_prediction_model/encoder/lstm_cell/r'
    'ecurrent_kernel/Adam":[0.02916419,0.1892636],"model/lstm_prediction_mode'
    'l/encoder/lstm_cell/recurrent_kernel/Adam_1":[0.2086888,0.2086888],"mode'
    'l/lstm_prediction_model/mean_transform/bias":[-0.6989302,0.6989302],"mod'
    'el/lstm_prediction_model/mean_transform/bias/Adam":[-0.06806037,0.068060'
    '37],"model/lstm_prediction_model/mean_transform/bias/Adam_1":[0.02436007'
    ',0.02436007],"model/lstm_prediction_model/mean_transform/kernel":[1.1149'
    '49,1.114949],"model/lstm_prediction_model/mean_transform/kernel/Adam":[0'
    '.02783957,0.0495736],"model/lstm_prediction_model/mean_transform/kernel/'
    'Adam_1":[0.05285932,0.05285932]},"eval":{"average_loss":0.4612231,"covar'
    'iance":[[[2.29601,1.518633],[2.392155,1.508925],[2.092085,1.341962],[2.0'
    '90211,1.327748]],[[2.392155,1.508925],[2.092085,1.341962],[2.090211,1.32'
    '7748],[2.120466,1.33187]],[[2.092085,1.341962],[2.090211,1.327748],[2.12'
    '0466,1.33187],[1.983427,1.281405]],[[2.090211,1.327748],[2.120466,1.3318'
    '7],[1.983427,1.281405],[2.074232,1.344313]],[[2.120466,1.33187],[1.98342'
    '7,1.281405],[2.074232,1.344313],[2.159077,1.419332]]],"global_step":5,"l'
    'oss":0.4612231,"mean":[[[-0.135994,-0.4780076],[-0.1857916,-0.4695303],['
    '-0.02117118,-0.3267625],[-0.0199343,-0.313643]],[[-0.1857916,-0.4695303]'
    ',[-0.02117118,-0.3267625],[-0.0199343,-0.313643],[-0.03745323,-0.3172665'
    ']],[[-0.02117118,-0.3267625],[-0.0199343,-0.313643],[-0.03745323,-0.3172'
    '665],[0.04432829,-0.2705531]],[[-0.0199343,-0.313643],[-0.03745323,-0.31'
    '72665],[0.04432829,-0.2705531],[-0.01077324,-0.3290401]],[[-0.03745323,-'
    '0.3172665],[0.0443283,-0.2705531],[-0.01077324,-0.3290401],[-0.06027764,'
    '-0.3954575]]],"observed":[[[0.14112,0.44112],[-0.501277,-0.201277],[-0.9'
    '290145,-0.6290145],[-0.9589243,-0.6589243]],[[-0.501277,-0.201277],[-0.9'
    '290145,-0.6290145],[-0.9589243,-0.6589243],[-0.5781983,-0.2781982]],[[-0'
    '.9290145,-0.6290145],[-0.9589243,-0.6589243],[-0.5781983,-0.2781982],[0.'
    '05012701,0.350127]],[[-0.9589243,-0.6589243],[-0.5781983,-0.2781982],[0.'
    '05012701,0.350127],[0.6569866,0.9569866]],[[-0.5781983,-0.2781982],[0.05'
    '012701,0.350127],[0.6569866,0.9569866],[0.9825078,1.282508]]],"start_tup'
    'le":[[[13,15],[15,17],[17,19],[19,21],[21,23]],[[[-0.9626612,-0.7177123]'
    ',[-0.9870825,-0.7421336]],[[-0.9870825,-0.7421336],[-0.676221,-0.431272]'
    '],[[-0.676221,-0.431272],[-0.1631956,0.08175336]],[[-0.1631956,0.0817533'
    '6],[0.3323031,0.5772521]],[[0.3323031,0.5772521],[0.5980901,0.843039]]],'
    '[[[-0.9941297],[-0.8205594]],[[-0.8205594],[-0.4460875]],[[-0.4460875],['
    '0.03760215]],[[0.03760215],[0.5120855]],[[0.5120855],[0.8611924]]]],"tim'
    'es":[[9,11,13,15],[11,13,15,17],[13,15,17,19],[15,17,19,21],[17,19,21,23'
    ']]},"filter_continuation":{"model_state_00":[[39,41]],"model_state_01":['
    '[[0.1389408,0.3838898],[0.5236532,0.7686022]]],"model_state_02":[[[-0.94'
    '75798],[-0.6783938]]],"times":[[39,41]]},"names":["global_step","head/be'
    'ta1_power","head/beta2_power","input_statistics/overall_feature_mean","i'
    'nput_statistics/overall_feature_var","input_statistics/series_start_mean'
    '","input_statistics/series_start_variance","input_statistics/start_time"'
    ',"input_statistics/total_observation_count","input_statistics_auxiliary/'
    'chunk_count","input_statistics_auxiliary/example_count","input_statistic'
    's_auxiliary/inter_observation_duration_sum","input_statistics_auxiliary/'
    'max_time_seen","input_statistics_auxiliary/overall_feature_sum","input_s'
    'tatistics_auxiliary/overall_feature_sum_of_squares","model/lstm_predicti'
    'on_model/covariance_transform/bias","model/lstm_prediction_model/covaria'
    'nce_transform/kernel","model/lstm_prediction_model/decoder/lstm_cell/bia'
    's","model/lstm_prediction_model/decoder/lstm_cell/bias/Adam","model/lstm'
    '_prediction_model/decoder/lstm_cell/bias/Adam_1","model/lstm_prediction_'
    'model/decoder/lstm_cell/kernel","model/lstm_prediction_model/decoder/lst'
    'm_cell/kernel/Adam","model/lstm_prediction_model/decoder/lstm_cell/kerne'
    'l/Adam_1","model/lstm_prediction_model/decoder/lstm_cell/recurrent_kerne'
    'l","model/lstm_prediction_model/decoder/lstm_cell/recurrent_kernel/Adam"'
    ',"model/lstm_prediction_model/decoder/lstm_cell/recurrent_kernel/Adam_1"'
    ',"model/lstm_prediction_model/encoder/lstm_cell/bias","model/lstm_predic'
    'tion_model/encoder/lstm_cell/bias/Adam","model/lstm_prediction_model/enc'
    'oder/lstm_cell/bias/Adam_1","model/lstm_prediction_model/encoder/lstm_ce'
    'll/kernel","model/lstm_prediction_model/encoder/lstm_cell/kernel/Adam","'
    'model/lstm_prediction_model/encoder/lstm_cell/kernel/Adam_1","model/lstm'
    '_prediction_model/encoder/lstm_cell/recurrent_kernel","model/lstm_predic'
    'tion_model/encoder/lstm_cell/recurrent_kernel/Adam","model/lstm_predicti'
    'on_model/encoder/lstm_cell/recurrent_kernel/Adam_1","model/lstm_predicti'
    'on_model/mean_transform/bias","model/lstm_prediction_model/mean_transfor'
    'm/bias/Adam","model/lstm_prediction_model/mean_transform/bias/Adam_1","m'
    'odel/lstm_prediction_model/mean_transform/kernel","model/lstm_prediction'
    '_model/mean_transform/kernel/Adam","model/lstm_prediction_model/mean_tra'
    'nsform/kernel/Adam_1"],"predict":{"covariance":[[[1.5,1.5],[1.5,1.5],[1.'
    '5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.'
    '5,1.5],[1.5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.'
    '5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.'
    '5,1.5]],[[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5],[1.5,1.5]]],"'
    'mean":[[[-0.000690937,-0.2963578],[-0.0723266,-0.3540915],[-0.117833,-0.'
    '3778898],[0.0156213,-0.286561],[-0.00686425,-0.311157],[-0.01349384,-0.3'
    '24845]],[[0.0158792,-0.2997439],[-0.06906417,-0.359837],[-0.118125,-0.37'
    '80213],[0.01562893,-0.2865251],[-0.006861567,-0.3111548],[-0.01349431,-0'
    '.3248456]],[[-0.06419596,-0.3883535],[-0.09967035,-0.3923147],[-0.113487'
    '8,-0.3733737],[0.01612405,-0.2861861],[-0.00695914,-0.311261],[-0.013496'
    '99,-0.3248461]],[[-0.1088819,-0.4572638],[-0.1036644,-0.4064726],[-0.111'
    '2524,-0.3710388],[0.01619545,-0.2861248],[-0.006998777,-0.3113056],[-0.0'
    '1349598,-0.3248445]],[[-0.09580848,-0.4715434],[-0.09345067,-0.4113929],'
    '[-0.1116253,-0.3711731],[0.01610129,-0.2861483],[-0.006990433,-0.3112981'
    '],[-0.01349512,-0.3248441]]],"times":[[37,39,41,43,45,47],[37,39,41,43,4'
    '5,47],[37,39,41,43,45,47],[37,39,41,43,45,47],[37,39,41,43,45,47]]},"pre'
    'dict_after_eval":{"covariance":[[[1.5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.'
    '5]],[[1.5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.5]],[[1.5,1.5],[1.5,1.5]]],"'
    'mean":[[[0.03018053,-0.2661846],[-0.001760602,-0.329445]],[[0.04269156,-'
    '0.2703983],[0.02531119,-0.3086475]],[[-0.02196905,-0.3376635],[0.0331296'
    ',-0.3029147]],[[-0.02557454,-0.3577974],[-0.009768426,-0.3466839]],[[-0.'
    '01613194,-0.3803097],[0.02305886,-0.3187411]]],"times":[[16,17],[18,19],'
    '[20,21],[22,23],[24,25]]},"predict_continuation":{"covariance":[[[1.5,1.'
    '5],[1.5,1.5],[1.5,1.5]]],"mean":[[[-0.08663496,-0.4075633],[-0.003400028'
    ',-0.3122796],[-0.02158058,-0.3316656]]],"times":[[42,43,44]]},"signature'
    's":{"cold_start_filter":["exo","times","values"],"filter":["exo","model_'
    'state_00","model_state_01","model_state_02","times","values"],"serving_d'
    'efault":["exo","model_state_00","model_state_01","model_state_02","times'
    '","values"]}}}')
