"""KMeansClustering (`tf.compat.v1.estimator.experimental.KMeans`) against 2.15.

The golden numbers come from tensorflow-estimator 2.15 training the same
configurations on the same points (k-means++ and random initialization are
seeded, Lloyd steps deterministic). The slow oracle test trains model_dirs
under both and has each side read and continue the other's.
"""

import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_estimator.python.estimator.canned import kmeans as kmeans_lib

KMeans = kmeans_lib.KMeansClustering
POINTS = (np.random.RandomState(0).rand(100, 3) * 10).astype(np.float32)


def whole():
  return tf.constant(POINTS), None


def once(points):
  """Each point once: predict() reads until the end of input."""
  return lambda: (tf.compat.v1.train.limit_epochs(tf.constant(points), 1), None)


def in_order(points, batch_size, epochs=None):
  return lambda: tf.data.Dataset.from_tensor_slices(points).batch(
      batch_size).repeat(epochs)


# 2.15, KMeansClustering(4, seed=3, initial_clusters=KMEANS_PLUS_PLUS_INIT,
# **kwargs).train(whole, steps=3).
GOLDEN_215 = {
    'full': dict(
        kwargs=dict(use_mini_batch=False),
        names=['clusters', 'global_step', 'initialized'],
        score=1100.1699,
        clusters=[[1.9565300941467285, 5.451305389404297, 3.914210319519043],
                  [6.507201671600342, 6.327309608459473, 8.348609924316406],
                  [7.997794151306152, 6.742798805236816, 2.244096040725708],
                  [6.204190254211426, 1.4930239915847778, 5.8927321434021]]),
    'mini_batch': dict(
        kwargs=dict(use_mini_batch=True),
        names=['Variable', 'clusters', 'global_step', 'initialized'],
        score=1210.0067,
        clusters=[[2.141815423965454, 4.753714561462402, 4.014650821685791],
                  [6.233392715454102, 5.2927937507629395, 8.47819995880127],
                  [8.109833717346191, 6.621630668640137, 2.598405599594116],
                  [8.112244606018066, 1.6525779962539673, 6.212798595428467]],
        Variable=[125, 80, 53, 46]),
    'mini_batch_10_steps_per_iteration': dict(
        kwargs=dict(use_mini_batch=True, mini_batch_steps_per_iteration=10),
        names=['Variable', 'clusters', 'clusters_updated', 'global_step',
               'initialized', 'update_in_steps'],
        score=1409.9055,
        # The k-means++ centers: not synced from clusters_updated before
        # step 10.
        clusters=[[2.0747008323669434, 4.246854782104492, 3.741699695587158],
                  [6.521032810211182, 4.314184188842773, 8.965465545654297],
                  [8.464086532592773, 6.994792938232422, 2.974369525909424],
                  [9.903389930725098, 2.1689698696136475, 6.630782127380371]],
        clusters_updated=[
            [2.1491780281066895, 4.784986972808838, 3.9844753742218018],
            [6.083749771118164, 5.014772891998291, 8.427672386169434],
            [8.07040786743164, 6.533403396606445, 2.644655227661133],
            [8.439876556396484, 1.7679579257965088, 6.215133190155029]],
        Variable=[123, 84, 54, 39],
        update_in_steps=7),
}


@pytest.mark.parametrize('name', sorted(GOLDEN_215))
def test_three_steps_match_2_15(tmp_path, name):
  golden = GOLDEN_215[name]
  est = KMeans(4, model_dir=str(tmp_path), seed=3,
               initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT,
               **golden['kwargs'])
  est.train(whole, steps=3)
  assert est.get_variable_names() == golden['names']
  assert est.get_variable_value('global_step') == 3
  assert est.get_variable_value('initialized')
  np.testing.assert_allclose(est.cluster_centers(), golden['clusters'],
                             rtol=1e-5)
  for key in ('clusters_updated', 'Variable', 'update_in_steps'):
    if key in golden:
      np.testing.assert_allclose(est.get_variable_value(key), golden[key],
                                 rtol=1e-5)
  assert est.score(whole) == pytest.approx(golden['score'], rel=1e-5)
  # Checkpoint 0 holds the centers before any was chosen, as 2.15's did.
  first = tf.train.load_checkpoint(str(tmp_path / 'model.ckpt-0'))
  assert first.get_tensor('clusters').shape == (0,)
  assert not first.get_tensor('initialized')


def test_choosing_the_centers_is_no_training_step(tmp_path, caplog):
  # 2.15 chose them in a hook's after_create_session, from a batch of its
  # own: each of the 9 steps on the other batches logged its loss, none
  # warned that the global step stayed (2.15 counts 10 steps: its last run
  # found the input ended after adding one).
  est = KMeans(4, model_dir=str(tmp_path), seed=3,
               initial_clusters=KMeans.RANDOM_INIT, use_mini_batch=True,
               config=tf.estimator.RunConfig(log_step_count_steps=1))
  with caplog.at_level('INFO', logger='tensorflow'):
    est.train(in_order(POINTS, 10, epochs=1))
  messages = [record.getMessage() for record in caplog.records]
  assert sum(m.startswith('loss = ') for m in messages) == 9
  assert not [m for m in messages if 'has not been increased' in m]
  assert est.get_variable_value('global_step') == 9


def test_predict_transform_score_and_evaluate(tmp_path):
  est = KMeans(4, model_dir=str(tmp_path), seed=3, use_mini_batch=False,
               initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT)
  est.train(whole, steps=3)
  centers = est.cluster_centers()
  squared = ((POINTS[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
  indices = list(est.predict_cluster_index(once(POINTS)))
  assert indices == list(squared.argmin(1))
  # Euclidean, not squared, distances (as scikit-learn's transform).
  transform = np.array(list(est.transform(once(POINTS[:7]))))
  np.testing.assert_allclose(transform, np.sqrt(squared[:7]), rtol=1e-3,
                             atol=1e-3)
  first = next(est.predict(once(POINTS[:1])))
  assert sorted(first) == [KMeans.ALL_DISTANCES, KMeans.CLUSTER_INDEX]
  metrics = est.evaluate(whole, steps=1)
  assert sorted(metrics) == ['global_step', 'loss', 'score']
  assert metrics['score'] == pytest.approx(squared.min(1).sum(), rel=1e-4)
  assert metrics['loss'] == metrics['score']
  assert est.score(whole) == metrics['score']


def test_cosine_distances_are_not_square_rooted(tmp_path):
  est = KMeans(2, model_dir=str(tmp_path), use_mini_batch=False,
               distance_metric=KMeans.COSINE_DISTANCE,
               config=tf.estimator.RunConfig(tf_random_seed=3))
  est.train(whole, steps=4)
  centers = est.cluster_centers()
  # Full-batch cosine k-means keeps its centers normalized.
  np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1, rtol=1e-5)
  unit = POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True)
  expected = 1 - unit[:5] @ centers.T
  transform = np.array(list(est.transform(once(POINTS[:5]))))
  np.testing.assert_allclose(transform, expected, atol=1e-5)


def test_initialization_batches_are_not_training_steps(tmp_path):
  """Batches smaller than num_clusters: each gives all its points as centers.

  2.15 chose them in a hook before the first step; the global step counts
  only the training steps after that, and `steps=1` trains once.
  """
  points = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0]], np.float32)
  est = KMeans(5, model_dir=str(tmp_path), initial_clusters=KMeans.RANDOM_INIT,
               mini_batch_steps_per_iteration=100, seed=24)
  est.train(in_order(points, 1), steps=1)
  np.testing.assert_array_equal(est.cluster_centers(), points)
  assert est.get_variable_value('global_step') == 1
  assert est.get_variable_value('update_in_steps') == 99


def test_kmeans_plus_plus_needs_a_batch_of_num_clusters_points(tmp_path):
  points = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0]], np.float32)
  est = KMeans(5, model_dir=str(tmp_path), seed=24,
               initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT)
  with pytest.raises(tf.errors.InvalidArgumentError):
    est.train(in_order(points, 4), steps=1)


def test_given_initial_clusters_then_one_lloyd_step(tmp_path):
  given = POINTS[:3] + 0.5
  est = KMeans(num_clusters=None, model_dir=str(tmp_path),
               initial_clusters=given, use_mini_batch=False)
  est.train(whole, steps=1)
  nearest = ((POINTS[:, None] - given[None]) ** 2).sum(-1).argmin(1)
  expected = [POINTS[nearest == i].sum(0) / ((nearest == i).sum() + 1e-6)
              for i in range(3)]
  np.testing.assert_allclose(est.cluster_centers(), expected, rtol=1e-5)


def test_callable_initial_clusters_is_called_on_successive_batches(tmp_path):
  calls = []

  def first_two(inputs, k):
    calls.append(k)
    return inputs[0][:2]

  est = KMeans(4, model_dir=str(tmp_path), initial_clusters=first_two,
               mini_batch_steps_per_iteration=2)
  est.train(in_order(POINTS, 10), steps=1)
  assert calls  # called as the graph was built
  np.testing.assert_array_equal(est.cluster_centers(),
                                POINTS[[0, 1, 10, 11]])
  assert est.get_variable_value('global_step') == 1


def test_relative_tolerance_stops_training(tmp_path):
  est = KMeans(4, model_dir=str(tmp_path), seed=3, use_mini_batch=False,
               relative_tolerance=1e-4)
  est.train(whole)  # endless input: only the tolerance stops it
  assert 1 < est.get_variable_value('global_step') < 100


def test_loss_relative_change_hook():
  hook = kmeans_lib._LossRelativeChangeHook(tf.constant(0.), 0.1)

  def step(loss):
    context = tf.compat.v1.train.SessionRunContext(None, None)
    hook.after_run(context, tf.compat.v1.train.SessionRunValues(
        results=loss, options=None, run_metadata=None))
    return context.stop_requested

  assert not step(0.)  # a first (or zero) loss is not compared with
  assert not step(100.)
  assert not step(50.)
  assert step(46.)  # |46 - 50| / 51 < 0.1


def test_parse_features_if_necessary():
  points = tf.constant(POINTS[:4])
  assert kmeans_lib._parse_features_if_necessary(points, None) is points
  features = {'y': POINTS[:4, 1:], 'x': POINTS[:4, :1], 'ignored': 'bar'}
  parsed = kmeans_lib._parse_features_if_necessary(
      {'y': features['y'], 'x': features['x']}, None)
  np.testing.assert_array_equal(parsed, POINTS[:4])  # sorted keys
  columns = [tf.feature_column.numeric_column('y', shape=[2]),
             tf.feature_column.numeric_column('x')]
  parsed = kmeans_lib._parse_features_if_necessary(features, columns)
  np.testing.assert_array_equal(parsed, POINTS[:4])  # columns sort by name


def test_dict_features_with_feature_columns(tmp_path):
  def dict_input():
    return {'b': tf.constant(POINTS[:, 1:]), 'a': tf.constant(POINTS[:, :1]),
            'other': tf.constant(np.zeros([100, 5], np.float32))}, None

  columns = [tf.feature_column.numeric_column('a'),
             tf.feature_column.numeric_column('b', shape=[2])]
  est = KMeans(4, model_dir=str(tmp_path), seed=3, use_mini_batch=False,
               initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT,
               feature_columns=columns)
  est.train(dict_input, steps=3)
  np.testing.assert_allclose(est.cluster_centers(),
                             GOLDEN_215['full']['clusters'], rtol=1e-5)


def test_constructor_checks_and_constants():
  with pytest.raises(ValueError, match="Unsupported initialization algorithm 'kmc2'"):
    KMeans(3, initial_clusters='kmc2')
  with pytest.raises(ValueError, match="Unsupported distance metric 'l1'"):
    KMeans(3, distance_metric='l1')
  assert (KMeans.SQUARED_EUCLIDEAN_DISTANCE, KMeans.COSINE_DISTANCE,
          KMeans.RANDOM_INIT, KMeans.KMEANS_PLUS_PLUS_INIT, KMeans.SCORE,
          KMeans.CLUSTER_INDEX, KMeans.ALL_DISTANCES,
          KMeans.CLUSTER_CENTERS_VAR_NAME) == (
              'squared_euclidean', 'cosine', 'random', 'kmeans_plus_plus',
              'score', 'cluster_index', 'all_distances', 'clusters')
  assert tf.compat.v1.estimator.experimental.KMeans is KMeans
  assert isinstance(KMeans(3), tf.compat.v1.estimator.Estimator)


def test_export_predicts_cluster_indices(tmp_path):
  est = KMeans(4, model_dir=str(tmp_path / 'model'), seed=3,
               use_mini_batch=False)
  est.train(whole, steps=2)

  def receiver():
    x = tf.compat.v1.placeholder(tf.float32, [None, 3], name='x')
    return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})

  path = est.export_saved_model(str(tmp_path / 'export'), receiver)
  loaded = tf.saved_model.load(path)
  assert sorted(loaded.signatures) == ['all_distances', 'cluster_index',
                                       'serving_default']
  expected = list(est.predict_cluster_index(once(POINTS[:6])))
  out = loaded.signatures['serving_default'](x=tf.constant(POINTS[:6]))
  assert list(out['output'].numpy()) == expected


# The oracle: each side reads and continues the other's model_dirs. Only
# configurations whose training 2.15 repeats run after run: with
# mini_batch_steps_per_iteration > 1 its graph lets the sync of the centers
# race with the step's reads (see also _RACY_IN_215).
_SCENARIO = '''
import json, sys, numpy as np, tensorflow as tf
from tensorflow_estimator.python.estimator.canned import kmeans as kmeans_lib
KM = kmeans_lib.KMeansClustering
rng = np.random.RandomState(0)
PTS = np.concatenate([rng.randn(20, 3) * .5 + c for c in
                      ([0, 0, 5], [5, 0, 0], [0, 5, 0], [4, 4, 4])]).astype(np.float32)
rng.shuffle(PTS)

def batches(size, as_dict=False):
  def fn():
    ds = tf.data.Dataset.from_tensor_slices(PTS).batch(size).repeat()
    return ds.map(lambda p: {"a": p[:, :1], "b": p[:, 1:]}) if as_dict else ds
  return fn

def whole():
  return tf.constant(PTS), None

COLUMNS = [tf.feature_column.numeric_column("b", shape=[2]),
           tf.feature_column.numeric_column("a")]
CASES = {
  "full_kpp": (dict(num_clusters=4, use_mini_batch=False, seed=5,
                    initial_clusters=KM.KMEANS_PLUS_PLUS_INIT), whole, 4),
  "full_random_cosine": (dict(num_clusters=4, use_mini_batch=False, seed=7,
                              distance_metric=KM.COSINE_DISTANCE), whole, 4),
  "mini_batch_kpp": (dict(num_clusters=4, seed=1,
                          initial_clusters=KM.KMEANS_PLUS_PLUS_INIT), batches(20), 7),
  "given": (dict(num_clusters=None, initial_clusters=PTS[:4],
                 use_mini_batch=False), whole, 3),
  "columns": (dict(num_clusters=4, use_mini_batch=False, seed=4, feature_columns=COLUMNS,
                   initial_clusters=KM.KMEANS_PLUS_PLUS_INIT), batches(80, True), 3),
}

def describe(est, as_dict):
  eval_fn = batches(80, as_dict) if as_dict else whole
  pred_fn = lambda: batches(80, as_dict)().take(1)
  reader = tf.train.load_checkpoint(est.model_dir)
  return {"vars": {k: np.asarray(reader.get_tensor(k)).tolist()
                   for k in reader.get_variable_to_shape_map()},
          "centers": est.cluster_centers().tolist(),
          "eval": {k: float(v) for k, v in est.evaluate(eval_fn, steps=1).items()},
          "index": [int(i) for i in est.predict_cluster_index(pred_fn)],
          "transform": np.array(list(est.transform(pred_fn))).tolist()}

out = {}
for name, (kwargs, input_fn, steps) in CASES.items():
  est = KM(model_dir=ROOT + "/" + name,
           config=tf.estimator.RunConfig(
               tf_random_seed=11, session_config=tf.compat.v1.ConfigProto(
                   inter_op_parallelism_threads=1)), **kwargs)
  as_dict = "feature_columns" in kwargs
  if MODE == "continue":  # a model_dir the other side trained
    out[name + "/read"] = describe(est, as_dict)
    steps = 2
  est.train(input_fn, steps=steps)
  out[name] = describe(est, as_dict)
json.dump(out, open(sys.argv[1], "w"))
'''


# 2.15 adds a mini-batch's points to the centers' counts and reads the counts
# with no order between the two: it nearly always adds first, as we do, but
# under load not always, and its centers then move a little differently.
_RACY_IN_215 = ('mini_batch_kpp',)


def _assert_same(theirs, ours, path='', atol=1e-5):
  if isinstance(theirs, dict):
    assert sorted(theirs) == sorted(ours), path
    for key in theirs:
      _assert_same(theirs[key], ours[key], f'{path}/{key}', atol)
  else:
    np.testing.assert_allclose(np.asarray(ours, float),
                               np.asarray(theirs, float), rtol=1e-5,
                               atol=atol, err_msg=path)


def _assert_same_results(theirs, ours):
  """Every case alike; a racy case's training: its variables, nearly."""
  assert sorted(theirs) == sorted(ours)
  for name in theirs:
    if name in _RACY_IN_215:  # after training; '<name>/read' is exact
      _assert_same(theirs[name]['vars'], ours[name]['vars'], name, atol=0.05)
    else:
      _assert_same(theirs[name], ours[name], name)


@pytest.mark.slow
def test_model_dirs_cross_between_2_15_and_here(tmp_path, venv215_python):
  """2.15 and we train alike, and each reads and trains on the other's dirs."""
  from tests.helpers import reference_runner  # pylint: disable=g-import-not-at-top
  env = reference_runner.scenario_env()
  env_215 = {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'}

  def run(side, mode, root):
    source = f'MODE = {mode!r}\nROOT = {str(root)!r}\n' + _SCENARIO
    if side == 'ours':
      return reference_runner.run_script(
          sys.executable, reference_runner.OURS_PRELUDE + source, tmp_path,
          f'ours_{mode}_{root.name}', env)
    return reference_runner.run_script(venv215_python, source, tmp_path,
                                       f'tf215_{mode}_{root.name}', env_215)

  trained = {side: tmp_path / f'{side}_trained' for side in ('ours', 'tf215')}
  results = {side: run(side, 'train', trained[side]) for side in trained}
  _assert_same_results(results['tf215'], results['ours'])
  # Each side continues both sides' dirs, from copies.
  for owner in trained:
    continued = {}
    for side in trained:
      root = tmp_path / f'{owner}_continued_by_{side}'
      shutil.copytree(trained[owner], root)
      continued[side] = run(side, 'continue', root)
    _assert_same_results(continued['tf215'], continued['ours'])
    for name in results[owner]:
      _assert_same(results[owner][name], continued['ours'][name + '/read'])
