"""A Dataset's batch reaches the model_fn under 2.15's names.

2.15's model_fn read a Dataset through `IteratorGetNext` in its own graph;
the expected names below are what tensorflow-estimator 2.15 printed for the
same programs (TF 2.15.1).
"""

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
_FEATURES = {'x': np.ones((8, 2), np.float32), 'w': np.ones((8, 1), np.float32)}


def _names_seen(tmp_path, input_fn, modes=('train', 'eval')):
  seen = {}

  def model_fn(features, labels, mode):
    seen[mode] = {
        'features': {key: getattr(value, 'name', type(value).__name__)
                     for key, value in features.items()},
        # The model_fn's own ops take the names they took in 2.15's graph,
        # where the input left these free.
        'identity': tf.identity(features['x']).name,
        'placeholder': v1.placeholder(tf.float32, []).name,
        'assert': tf.debugging.Assert(True, ['x']).name,
        'concat': tf.concat([features['x'], features['x']], 1).name,
    }
    logits = v1.layers.dense(features['x'], 1)
    if mode == 'infer':
      return tf.estimator.EstimatorSpec(mode, predictions={'y': logits})
    loss = v1.losses.mean_squared_error(labels, logits)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  if 'train' in modes:
    est.train(input_fn, steps=1)
  if 'eval' in modes:
    est.evaluate(input_fn, steps=1)
  if 'infer' in modes:
    next(est.predict(input_fn))
  return seen


def test_features_are_iterator_outputs_in_sorted_key_order(tmp_path):
  seen = _names_seen(tmp_path, lambda: tf.data.Dataset.from_tensor_slices(
      (_FEATURES, np.ones((8, 1), np.float32))).batch(4))
  for mode in ('train', 'eval'):
    assert seen[mode] == {
        'features': {'x': 'IteratorGetNext:1', 'w': 'IteratorGetNext:0'},
        'identity': 'Identity:0', 'placeholder': 'Placeholder:0',
        'assert': 'Assert/Assert', 'concat': 'concat:0'}, mode


def test_graph_walkers_find_one_op_behind_the_features(tmp_path):
  """K-FAC's layer matcher steps through identity ops to their first input
  and asserted that an `IdentityN`'s inputs were one tensor: the batch's
  op was one here, with a placeholder per component. 2.15's was an
  `IteratorGetNext`, a producer of its own."""
  walked = []

  def model_fn(features, labels, mode):
    op = features['x'].op
    walked.append((op.name, op.type))
    w = v1.get_variable('w', [2, 1])
    loss = v1.losses.mean_squared_error(labels, features['x'] @ w)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensor_slices(
      (_FEATURES, np.ones((8, 1), np.float32))).batch(4), steps=1)
  (name, op_type), = walked
  assert name == 'IteratorGetNext'
  assert op_type not in ('Identity', 'IdentityN', 'ReadVariableOp', 'Enter')
  assert est.get_variable_value('global_step') == 1


def test_an_input_fns_own_iterator_keeps_its_op_name(tmp_path):
  # A TF1 input_fn returning its one-shot iterator's get_next() whole.
  def input_fn():
    iterator = v1.data.make_one_shot_iterator(
        tf.data.Dataset.from_tensor_slices(
            (_FEATURES, np.ones((8, 1), np.float32))).batch(4).repeat())
    with tf.name_scope('reader'):
      return iterator.get_next()

  seen = _names_seen(tmp_path, input_fn)
  for mode in ('train', 'eval'):
    assert seen[mode]['features'] == {'x': 'reader/IteratorGetNext:1',
                                      'w': 'reader/IteratorGetNext:0'}, mode
    assert seen[mode]['identity'] == 'Identity:0', mode


def test_predict_features_alone(tmp_path):
  seen = _names_seen(tmp_path, lambda: tf.data.Dataset.from_tensor_slices(
      _FEATURES).batch(4), modes=('infer',))
  assert seen['infer']['features'] == {'x': 'IteratorGetNext:1',
                                       'w': 'IteratorGetNext:0'}


def test_a_sparse_or_ragged_feature_holds_its_index(tmp_path):
  # 2.15: 'r' and 's' were variant outputs 0 and 1, decoded after.
  def input_fn():
    return tf.data.Dataset.from_tensors(({
        's': tf.sparse.SparseTensor([[0, 0], [3, 1]], ['a', 'b'], [4, 2]),
        'r': tf.ragged.constant([[1], [2, 3], [], [4]]),
        'x': tf.ones((4, 2)),
    }, tf.ones((4, 1)))).repeat()

  seen = _names_seen(tmp_path, input_fn, modes=('train',))
  features = seen['train']['features']
  assert features == {'s': 'SparseTensor', 'r': 'RaggedTensor',
                      'x': 'IteratorGetNext:2'}


def test_tensors_from_an_input_fn_are_not_named_as_an_iterator(tmp_path):
  # 2.15 named them after the input_fn's ops; no IteratorGetNext is made up.
  seen = _names_seen(
      tmp_path, lambda: ({'x': tf.ones((4, 2)), 'w': tf.ones((4, 1))},
                         tf.ones((4, 1))), modes=('train',))
  assert not any(name.startswith('IteratorGetNext')
                 for name in seen['train']['features'].values())
