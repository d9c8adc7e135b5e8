"""`EstimatorSpec(scaffold=...)` is honoured as 2.15's MonitoredSession did.

Its saver decides what checkpoints hold (names, subset, retention, or a TF2
`tf.train.Checkpoint`'s object-based keys), `init_op` with `init_feed_dict`
and `init_fn` start a fresh training, and `local_init_op` runs in every
train, evaluate and predict call and in the exported SavedModel.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

_v1 = tf.compat.v1


def _input_fn():
  return _one_batch().repeat()


def _one_batch():
  return tf.data.Dataset.from_tensors(({'x': [[1.], [2.]]}, [[1.], [2.]]))


def _estimator(tmp_path, scaffold_fn, extra_predictions=None):
  """A one-weight model adding 1 to `w` per step; `scaffold_fn(w)` -> Scaffold."""

  def model_fn(features, labels, mode):
    del labels
    w = _v1.get_variable('w', [], initializer=_v1.zeros_initializer())
    step = _v1.train.get_global_step()
    scaffold = scaffold_fn(w)
    predictions = {'y': features['x'][:, 0] * w}
    predictions.update(extra_predictions() if extra_predictions else {})
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=tf.reduce_sum(w),
        train_op=tf.group(w.assign_add(1.), step.assign_add(1)),
        scaffold=scaffold)

  return tf.estimator.Estimator(model_fn, str(tmp_path),
                                config=tf.estimator.RunConfig(
                                    save_checkpoints_steps=1))


def _keys(path):
  return sorted(name for name, _ in tf.train.list_variables(path))


def test_a_tf2_checkpoint_as_saver_writes_object_based_checkpoints(tmp_path):
  """The checkpoint migration guide's idiom: Scaffold(saver=tf.train.Checkpoint)."""
  est = _estimator(tmp_path, lambda w: _v1.train.Scaffold(
      saver=tf.train.Checkpoint(var_list={'var': w},
                                step=_v1.train.get_global_step())))
  est.train(_input_fn, steps=2)
  latest = est.latest_checkpoint()
  assert _keys(latest) == ['_CHECKPOINTABLE_OBJECT_GRAPH',
                           'step/.ATTRIBUTES/VARIABLE_VALUE',
                           'var_list/var/.ATTRIBUTES/VARIABLE_VALUE']
  # TF2 code reads it back by object.
  var = tf.Variable(0.)
  tf.train.Checkpoint(var_list={'var': var}).read(latest).expect_partial()
  assert float(var) == 2.
  # ...and so do the Estimator's next calls, through the same saver.
  est.train(_input_fn, steps=1)
  assert est.get_variable_value('var_list/var/.ATTRIBUTES/VARIABLE_VALUE') == 3.
  assert [p['y'] for p in est.predict(_one_batch)] == [3., 6.]
  # Export restores through the Saver the Checkpoint stands for.
  export_dir = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_raw_serving_input_receiver_fn(
          {'x': tf.zeros([1, 1])}))
  assert tf.train.load_variable(
      os.path.join(os.fsdecode(export_dir), 'variables', 'variables'),
      'var_list/var/.ATTRIBUTES/VARIABLE_VALUE') == 3.


def test_a_v1_saver_names_and_keeps_the_checkpoints(tmp_path):
  est = _estimator(tmp_path, lambda w: _v1.train.Scaffold(
      saver=_v1.train.Saver(
          {'renamed_w': w, 'global_step': _v1.train.get_global_step()},
          max_to_keep=2)))
  est.train(_input_fn, steps=4)
  assert _keys(est.latest_checkpoint()) == ['global_step', 'renamed_w']
  # The saver's max_to_keep, not RunConfig's 5, as 2.15's saves were its.
  kept = tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths
  assert [os.path.basename(p) for p in kept] == ['model.ckpt-3', 'model.ckpt-4']
  assert est.evaluate(_input_fn, steps=1)['loss'] == 4.


def test_another_saver_object_restores_through_its_restore(tmp_path):
  """Wrappers around a Saver (2.15's tests use a Mock) are asked to restore."""
  restored = []

  class Wrapper:

    def __init__(self):
      self._saver = _v1.train.Saver()

    def restore(self, sess, path):
      restored.append(path)
      return self._saver.restore(sess, path)

  est = _estimator(tmp_path, lambda w: _v1.train.Scaffold(saver=Wrapper()))
  est.train(_input_fn, steps=2)
  assert [p['y'] for p in est.predict(_one_batch)] == [2., 4.]
  assert restored == [est.latest_checkpoint()]


def test_init_op_with_init_feed_dict_feeds_a_placeholder_initial_value(
    tmp_path):
  """A pretrained table through a placeholder, kept out of the graph (TF1)."""
  table = np.arange(6, dtype=np.float32).reshape(3, 2)

  def model_fn(features, labels, mode):
    ph = _v1.placeholder(tf.float32, [3, 2])
    emb = _v1.Variable(ph, name='emb')
    w = _v1.get_variable('w', [2, 1], initializer=_v1.ones_initializer())
    logits = tf.matmul(tf.nn.embedding_lookup(emb, features['id']), w)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'logits': logits})
    loss = tf.reduce_mean(tf.square(logits - labels))
    scaffold = _v1.train.Scaffold(init_op=_v1.global_variables_initializer(),
                                  init_feed_dict={ph: table})
    return tf.estimator.EstimatorSpec(
        mode, predictions={'logits': logits}, loss=loss,
        train_op=_v1.train.GradientDescentOptimizer(0.).minimize(
            loss, _v1.train.get_global_step()), scaffold=scaffold)

  def input_fn():
    return tf.data.Dataset.from_tensors(({'id': [0, 2]}, [[1.], [1.]]))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=1)
  np.testing.assert_array_equal(est.get_variable_value('emb'), table)
  assert [float(p['logits'][0]) for p in est.predict(input_fn)] == [1., 9.]


def test_a_placeholder_initial_value_nothing_feeds_is_an_error(tmp_path):
  def model_fn(features, labels, mode):
    del labels
    emb = _v1.Variable(_v1.placeholder(tf.float32, [3]), name='emb')
    loss = tf.reduce_sum(emb) + tf.reduce_sum(features['x'])
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.assign_add(_v1.train.get_global_step(),
                                                 1))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  with pytest.raises(ValueError, match=r"\['emb'\] take their initial values "
                     'from placeholders.*init_feed_dict'):
    est.train(_input_fn, steps=1)
  assert not os.listdir(tmp_path)  # nothing written


def test_local_init_op_runs_in_every_call_and_in_the_saved_model(tmp_path):
  """2.15's test idiom: a local variable set by local_init_op, after the
  default local initializers (which a model_fn may now group itself)."""

  def scaffold(w):
    del w
    local = _v1.Variable(1, name='my_int',
                         collections=[_v1.GraphKeys.LOCAL_VARIABLES])
    with tf.control_dependencies([_v1.local_variables_initializer(),
                                  _v1.tables_initializer()]):
      assign = _v1.assign(local, 12345)
    return _v1.train.Scaffold(local_init_op=tf.group(assign))

  def my_int():
    return {'my_int': tf.fill([2], _v1.get_collection(
        _v1.GraphKeys.LOCAL_VARIABLES)[0])}

  est = _estimator(tmp_path, scaffold, extra_predictions=my_int)
  est.train(_input_fn, steps=1)
  assert [int(p['my_int']) for p in est.predict(_one_batch)] == [12345, 12345]
  export_dir = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_raw_serving_input_receiver_fn(
          {'x': tf.zeros([1, 1])}))
  with tf.Graph().as_default() as graph, _v1.Session(graph=graph) as sess:
    _v1.saved_model.load(sess, [tf.saved_model.SERVING], export_dir)
    (local,) = graph.get_collection(_v1.GraphKeys.LOCAL_VARIABLES)
    assert sess.run(local) == 12345


def test_variable_initializers_are_ops_of_the_model_graph(tmp_path):
  """`v.initializer` re-runs the initial value, as a TF1 variable's did."""
  seen = {}

  def scaffold(w):
    seen['initializer'] = w.initializer
    seen['group'] = _v1.global_variables_initializer()
    return _v1.train.Scaffold()

  est = _estimator(tmp_path, scaffold)
  est.train(_input_fn, steps=1)
  assert seen['initializer'].type == 'AssignVariableOp'
  assert seen['initializer'].name == 'w/Assign'
  assert seen['group'].type == 'NoOp'


def test_a_ready_op_reporting_something_stops_the_call(tmp_path):
  """2.15's SessionManager checked a Scaffold's ready_op after init."""
  est = _estimator(tmp_path, lambda w: _v1.train.Scaffold(
      ready_op=tf.constant(['embeddings_loaded'])))
  with pytest.raises(RuntimeError, match=r"did not make model ready.*"
                     r"\['embeddings_loaded'\]"):
    est.train(_input_fn, steps=1)
  ready = _estimator(tmp_path / 'ready', lambda w: _v1.train.Scaffold(
      ready_op=_v1.report_uninitialized_variables(),
      ready_for_local_init_op=tf.constant([], tf.string)))
  ready.train(_input_fn, steps=1)
  assert ready.get_variable_value('w') == 1.
