"""K-means clustering: `tf.compat.v1.estimator.experimental.KMeans`.

The estimator of tensorflow-estimator 2.15 (`KMeansClustering`), on
TensorFlow's own clustering kernels (`tensorflow.python.ops.clustering_ops`,
still in TF 2.21). Checkpoints hold 2.15's variables under 2.15's names:
`clusters` (the centers, empty until chosen), `initialized`, with mini-batch
training `Variable` (the per-center counts) and, when centers are synced every
`mini_batch_steps_per_iteration > 1` steps, `clusters_updated` and
`update_in_steps`; so each version reads the other's model_dir.

Choosing the initial centers. As in 2.15, the chief runs an init op in a
hook's `after_create_session`, once per input batch it pulls (the emulated
session draws one for each run, as 2.15's did), until every center is chosen;
those runs are not training steps. (A train op choosing them in its steps
instead logged a loss of 0 at step 0 and left the global step there, which
2.15's step counter would have warned about.)
"""

import time

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import clustering_ops

from tfcompat_estimator import estimator as estimator_lib
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.export import PredictOutput

_v1 = tf.compat.v1
# The centers' variables change shape (empty, then num_clusters x dims).
_ANY_SHAPE = tf.TensorShape(None)


class _LossRelativeChangeHook(_v1.train.SessionRunHook):
  """Stops when the change in loss goes below a tolerance.

  The relative change between two steps is `|loss - prev| / (1 + |prev|)`;
  a previous loss of 0 (or none yet) is not compared with.
  """

  def __init__(self, loss_tensor, tolerance):
    self._loss_tensor = loss_tensor
    self._tolerance = tolerance
    self._prev_loss = None

  def before_run(self, run_context):
    del run_context  # unused
    return _v1.train.SessionRunArgs(self._loss_tensor)

  def after_run(self, run_context, run_values):
    loss = run_values.results
    assert loss is not None
    if self._prev_loss:
      change = abs(loss - self._prev_loss) / (1 + abs(self._prev_loss))
      if change < self._tolerance:
        run_context.request_stop()
    self._prev_loss = loss


class _InitializeClustersHook(_v1.train.SessionRunHook):
  """Runs an init op until a variable says every cluster center is chosen.

  2.15's hook: in `after_create_session` the chief runs `init_op` (which
  may choose only some centers per run, from the batch each run draws)
  until `is_initialized_var` is true; other tasks wait for it.
  """

  def __init__(self, init_op, is_initialized_var, is_chief):
    self._init_op = init_op
    self._is_initialized_var = is_initialized_var
    self._is_chief = is_chief

  def after_create_session(self, session, coord):
    del coord  # unused
    while True:
      try:
        if session.run(self._is_initialized_var):
          break
        if self._is_chief:
          session.run(self._init_op)
        else:
          time.sleep(1)
      except RuntimeError as e:
        _v1.logging.info(e)


def _parse_features_if_necessary(features, feature_columns):
  """The input points as one `[n, k]` Tensor.

  Args:
    features: a Tensor (returned unchanged) or a dict of `k` features, each
      `n` points by one scalar.
    feature_columns: feature columns for `tf.compat.v1.feature_column.
      input_layer`, which then picks and orders the features; if empty or
      None, every feature is used, in the sorted order of their keys.

  Returns:
    `features` if it is not a dict, else the Tensor of its points.
  """
  if not isinstance(features, dict):
    return features
  if feature_columns:
    return _v1.feature_column.input_layer(features, feature_columns)
  keys = sorted(features.keys())
  return tf.concat([features[k] for k in keys], axis=1)


class _KMeansGraph(clustering_ops.KMeans):
  """2.15's k-means graph with its variables and its init-or-train step.

  TensorFlow's `clustering_ops.KMeans` supplies the distance, assignment,
  update and initialization pieces; this class makes the variables (2.15's
  names and dtypes, with initial values a captured graph can hold) and puts
  initialization and training in one step.
  """

  def __init__(self, inputs, num_clusters, initial_clusters, **kwargs):
    if not (isinstance(initial_clusters, str) or callable(initial_clusters)):
      # Given centers (an array or eager tensor: the constructor's argument
      # cannot be a tensor of the model graph) decide the number.
      initial_clusters = tf.convert_to_tensor(initial_clusters)
      num_clusters = initial_clusters.shape[0]
    super().__init__(inputs, int(num_clusters),
                     initial_clusters=initial_clusters, **kwargs)

  def _create_variables(self, num_clusters):
    """2.15's variables: (clusters, initialized, counts, updated, steps).

    The centers start empty, as 2.15's did (its initial value was a
    `placeholder_with_default([])`, which a captured graph cannot take as an
    initial value; the empty float32 vector is the same value).
    """
    empty = lambda: tf.zeros([0], tf.float32)
    clusters = _v1.Variable(empty, name=clustering_ops.CLUSTERS_VAR_NAME,
                            validate_shape=False, shape=_ANY_SHAPE)
    initialized = _v1.Variable(False, dtype=tf.bool, name='initialized')
    if self._syncs_every_iteration():
      updated = _v1.Variable(empty, name='clusters_updated',
                             validate_shape=False, shape=_ANY_SHAPE)
      update_in_steps = _v1.Variable(self._mini_batch_steps_per_iteration,
                                     dtype=tf.int64, name='update_in_steps')
      counts = _v1.Variable(lambda: tf.zeros([num_clusters], tf.int64))
    else:
      updated, update_in_steps = clusters, None
      counts = (_v1.Variable(lambda: tf.ones([num_clusters], tf.int64))
                if self._use_mini_batch else None)
    return clusters, initialized, counts, updated, update_in_steps

  def _syncs_every_iteration(self):
    return self._use_mini_batch and self._mini_batch_steps_per_iteration > 1

  def _inference_inputs(self):
    if self._distance_metric == clustering_ops.COSINE_DISTANCE:
      return self._l2_normalize_data(self._inputs)
    return self._inputs

  def _inference_centers(self, clusters):
    centers = clusters.read_value()
    if (self._distance_metric == clustering_ops.COSINE_DISTANCE and
        not self._clusters_l2_normalized()):
      centers = tf.nn.l2_normalize(centers, axis=1)
    return centers

  def build(self, train):
    """Returns `(all_distances, cluster_index, loss)`, and more with `train`.

    `all_distances` and `cluster_index` assign the batch to the current
    centers (predictions); `loss` is the sum of each point's distance to its
    center. With `train`, `loss` is instead the step's output: the step runs
    one (mini-)batch of Lloyd's algorithm and increments the global step
    (loss: before the update); `init_op` and `initialized` follow, for
    `_InitializeClustersHook`.
    """
    num_clusters = self._num_clusters
    (clusters, initialized, counts, updated,
     update_in_steps) = self._create_variables(num_clusters)
    inputs = self._inference_inputs()
    all_distances, distances, cluster_index = self._infer_graph(
        inputs, self._inference_centers(clusters))
    loss = tf.math.reduce_sum(distances[0])
    if not train:
      return all_distances[0], cluster_index[0], loss

    def train_step():
      # With mini_batch_steps_per_iteration > 1, 2.15's graph let the sync
      # of the centers race with the read that assigns the batch to them
      # (its results vary from run to run); the sync comes first here, one
      # of the orders 2.15 ran.
      sync = (self._mini_batch_sync_updates_op(update_in_steps, clusters,
                                               updated, counts)
              if self._use_mini_batch else tf.no_op())
      with tf.control_dependencies([sync]):
        _, step_distances, step_index = self._infer_graph(
            inputs, self._inference_centers(clusters))
      step_loss = tf.math.reduce_sum(step_distances[0])
      if self._use_mini_batch:
        with tf.control_dependencies([sync]):
          update = _mini_batch_update(inputs[0], step_index[0], updated,
                                      counts)
      else:
        update = self._full_batch_training_op(
            inputs, tf.constant(num_clusters), step_index, clusters)
      increment = _v1.assign_add(_v1.train.get_global_step(), 1)
      with tf.control_dependencies([update, increment]):
        return tf.identity(step_loss)

    init_op = clustering_ops._InitializeClustersOpFactory(  # pylint: disable=protected-access
        self._inputs, tf.constant(num_clusters), self._initial_clusters,
        self._distance_metric, self._seed,
        self._kmeans_plus_plus_num_retries, self._kmc2_chain_length,
        clusters, updated, initialized).op()
    return (all_distances[0], cluster_index[0], train_step(), init_op,
            initialized)


def _mini_batch_update(points, cluster_index, centers, counts):
  """One mini-batch step: each center moves towards the mean of its points.

  `clustering_ops.KMeans._mini_batch_training_op`, in the order 2.15 ran it.
  That graph adds this batch's `k` points to a center's count `n` and reads
  the count back with no dependency between the two; 2.15's executor ran
  the add first (checked: it alone reproduces 2.15's centers, step for
  step), so a center `x` moves to `x + (sum(d_i) - k x) / (n + 2k)`. The
  order is fixed here, so a model_dir trains on as it did under 2.15.
  """
  unique_ids, unique_index = tf.unique(tf.reshape(cluster_index, [-1]))
  n_unique = tf.size(unique_ids)
  batch_counts = tf.math.unsorted_segment_sum(
      tf.ones_like(unique_index, dtype=counts.dtype), unique_index, n_unique)
  add_counts = _v1.scatter_add(counts, unique_ids, batch_counts)
  with tf.control_dependencies([add_counts]):
    counts_now = tf.gather(counts, unique_ids)
  old_centers = tf.gather(centers, unique_ids)
  # Per-center scalars broadcast over the points' other dimensions.
  shape = tf.concat([tf.reshape(n_unique, [1]),
                     tf.ones(tf.reshape(tf.rank(points) - 1, [1]), tf.int32)], 0)
  sums = tf.math.unsorted_segment_sum(points, unique_index, n_unique)
  updates = sums - tf.cast(tf.reshape(batch_counts, shape),
                           points.dtype) * old_centers
  updates *= tf.reshape(tf.math.reciprocal(
      tf.cast(counts_now + batch_counts, points.dtype)), shape)
  return _v1.scatter_add(centers, unique_ids, updates).op


class _ModelFn:
  """Model function for the estimator (2.15's `_ModelFn`)."""

  def __init__(self, num_clusters, initial_clusters, distance_metric, seed,
               use_mini_batch, mini_batch_steps_per_iteration,
               kmeans_plus_plus_num_retries, relative_tolerance,
               feature_columns):
    self._num_clusters = num_clusters
    self._initial_clusters = initial_clusters
    self._distance_metric = distance_metric
    self._seed = seed
    self._use_mini_batch = use_mini_batch
    self._mini_batch_steps_per_iteration = mini_batch_steps_per_iteration
    self._kmeans_plus_plus_num_retries = kmeans_plus_plus_num_retries
    self._relative_tolerance = relative_tolerance
    self._feature_columns = feature_columns

  def model_fn(self, features, mode, config):
    """The k-means `EstimatorSpec`; the input_fn gives no labels.

    `loss`: the sum of the squared (or cosine) distances from each point to
    its closest center; `train_op`: one (mini-)batch step of Lloyd's
    algorithm, after a hook has chosen the centers;
    `eval_metric_ops`: `SCORE`, the mean of the loss; `predictions`:
    `ALL_DISTANCES` (point to each center) and `CLUSTER_INDEX` (its closest
    center).
    """
    points = _parse_features_if_necessary(features, self._feature_columns)
    graph = _KMeansGraph(
        points, self._num_clusters, self._initial_clusters,
        distance_metric=self._distance_metric,
        use_mini_batch=self._use_mini_batch,
        mini_batch_steps_per_iteration=self._mini_batch_steps_per_iteration,
        random_seed=self._seed,
        kmeans_plus_plus_num_retries=self._kmeans_plus_plus_num_retries)
    train = mode == model_fn_lib.ModeKeys.TRAIN
    built = graph.build(train)
    all_distances, cluster_index, loss = built[:3]
    _v1.summary.scalar('loss/raw', loss)
    training_hooks = []
    if train:
      training_hooks.append(
          _InitializeClustersHook(*built[3:], config.is_chief))
    if self._relative_tolerance is not None:
      training_hooks.append(
          _LossRelativeChangeHook(loss, self._relative_tolerance))
    export_outputs = {
        KMeansClustering.ALL_DISTANCES: PredictOutput(all_distances),
        KMeansClustering.CLUSTER_INDEX: PredictOutput(cluster_index),
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
            PredictOutput(cluster_index),
    }
    return model_fn_lib.EstimatorSpec(
        mode=mode,
        predictions={
            KMeansClustering.ALL_DISTANCES: all_distances,
            KMeansClustering.CLUSTER_INDEX: cluster_index,
        },
        loss=loss,
        train_op=loss if train else None,
        eval_metric_ops={KMeansClustering.SCORE: _v1.metrics.mean(loss)},
        training_hooks=training_hooks,
        export_outputs=export_outputs)


class KMeansClustering(estimator_lib.Estimator):
  """An Estimator for K-Means clustering.

  `tf.compat.v1.estimator.experimental.KMeans`. Full-batch (`use_mini_batch=
  False`: every step is one Lloyd iteration on the whole input, which the
  input_fn must return at once) or mini-batch k-means, where the centers
  move every `mini_batch_steps_per_iteration` steps. The cluster centers are
  the checkpoint variable `CLUSTER_CENTERS_VAR_NAME` (`cluster_centers()`);
  an exported SavedModel predicts cluster indices and distances.
  """

  # Valid values for the distance_metric constructor argument.
  SQUARED_EUCLIDEAN_DISTANCE = clustering_ops.SQUARED_EUCLIDEAN_DISTANCE
  COSINE_DISTANCE = clustering_ops.COSINE_DISTANCE

  # Values for the initial_clusters constructor argument.
  RANDOM_INIT = clustering_ops.RANDOM_INIT
  KMEANS_PLUS_PLUS_INIT = clustering_ops.KMEANS_PLUS_PLUS_INIT

  # Metric returned by evaluate(): the sum of the distances from each input
  # point to its closest center.
  SCORE = 'score'

  # Keys returned by predict().
  CLUSTER_INDEX = 'cluster_index'
  ALL_DISTANCES = 'all_distances'

  # Variable name used by cluster_centers().
  CLUSTER_CENTERS_VAR_NAME = clustering_ops.CLUSTERS_VAR_NAME

  def __init__(self,
               num_clusters,
               model_dir=None,
               initial_clusters=RANDOM_INIT,
               distance_metric=SQUARED_EUCLIDEAN_DISTANCE,
               seed=None,
               use_mini_batch=True,
               mini_batch_steps_per_iteration=1,
               kmeans_plus_plus_num_retries=2,
               relative_tolerance=None,
               config=None,
               feature_columns=None):
    """Creates a k-means Estimator.

    Args:
      num_clusters: the number of clusters (ignored when `initial_clusters`
        is a tensor or array).
      model_dir: where checkpoints and summaries go.
      initial_clusters: how the first centers are chosen: `RANDOM_INIT`
        (random points of a batch; a batch smaller than what remains gives
        all its points, and later batches the rest), `KMEANS_PLUS_PLUS_INIT`
        (k-means++ on one batch, which must hold enough points, else the
        step fails), a tensor or array of the centers, or a callable
        `f(inputs, k)` returning up to `k` centers from a list of input
        batches (called on successive batches until all are chosen).
      distance_metric: `SQUARED_EUCLIDEAN_DISTANCE` or `COSINE_DISTANCE`.
      seed: Python integer, for the random initializations.
      use_mini_batch: mini-batch rather than full-batch k-means.
      mini_batch_steps_per_iteration: with `use_mini_batch`, how many steps
        accumulate into a copy of the centers before it replaces them.
      kmeans_plus_plus_num_retries: for each point k-means++ samples, how
        many more it draws to pick the best of (negative: a heuristic).
      relative_tolerance: stop training once the loss changes by less than
        this (relatively) between two steps; None to never stop so.
      config: a `RunConfig`.
      feature_columns: columns to build the points from with `input_layer`
        when the input_fn returns a dict; None: every feature, by sorted key.

    Raises:
      ValueError: an unsupported `initial_clusters` name or `distance_metric`.
    """
    if isinstance(initial_clusters, str) and initial_clusters not in (
        KMeansClustering.RANDOM_INIT, KMeansClustering.KMEANS_PLUS_PLUS_INIT):
      raise ValueError("Unsupported initialization algorithm '%s'" %
                       initial_clusters)
    if distance_metric not in (KMeansClustering.SQUARED_EUCLIDEAN_DISTANCE,
                               KMeansClustering.COSINE_DISTANCE):
      raise ValueError("Unsupported distance metric '%s'" % distance_metric)
    self._distance_metric = distance_metric
    super().__init__(
        model_fn=_ModelFn(num_clusters, initial_clusters, distance_metric, seed,
                          use_mini_batch, mini_batch_steps_per_iteration,
                          kmeans_plus_plus_num_retries, relative_tolerance,
                          feature_columns).model_fn,
        model_dir=model_dir,
        config=config)

  def _predict_one_key(self, input_fn, predict_key):
    for result in self.predict(input_fn=input_fn, predict_keys=[predict_key]):
      yield result[predict_key]

  def predict_cluster_index(self, input_fn):
    """Yields the index of the closest cluster center of each input point."""
    yield from self._predict_one_key(input_fn, KMeansClustering.CLUSTER_INDEX)

  def score(self, input_fn):
    """The sum of the distances from each point of the first batch to its center.

    Unlike scikit-learn's `score`, not negated. Only one batch is read
    (`evaluate(input_fn, steps=1)`).
    """
    return self.evaluate(input_fn=input_fn, steps=1)[KMeansClustering.SCORE]

  def transform(self, input_fn):
    """Yields each input point's distances to all cluster centers.

    With `SQUARED_EUCLIDEAN_DISTANCE` these are Euclidean distances (the
    square roots), as scikit-learn's `transform` gives.
    """
    for distances in self._predict_one_key(input_fn,
                                           KMeansClustering.ALL_DISTANCES):
      if self._distance_metric == KMeansClustering.SQUARED_EUCLIDEAN_DISTANCE:
        yield np.sqrt(distances)
      else:
        yield distances

  def cluster_centers(self):
    """The cluster centers, from the latest checkpoint."""
    return self.get_variable_value(KMeansClustering.CLUSTER_CENTERS_VAR_NAME)
