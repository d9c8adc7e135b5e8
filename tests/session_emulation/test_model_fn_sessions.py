"""A tf.compat.v1.Session a model_fn opens on its own graph runs its ops.

YOTO's LinearlyScalarizedOptimizer draws its loss weights with a session
inside the model_fn. Before `session_emulation/model_fn_sessions.py` every
variable or random op failed there ("You must feed a value for placeholder
tensor 'v/resource'"). The values below were measured on
tensorflow-estimator 2.15 with the same model_fn (TF2 behaviour; the TF1
world is in test_tf1_mode.py): a seeded op's first draws, the next run's,
and a new session's, which start over.
"""

import numpy as np
import pytest
import tensorflow as tf

_v1 = tf.compat.v1

_FIRST_DRAW = [0.838765, 0.5998858, 0.7139039]  # uniform, op seed 17, 2.15
_SECOND_DRAW = [0.7032554, 0.43606687, 0.31127632]


def _train(tmp_path, side_runs, steps=1):
  """Trains a model whose model_fn first calls `side_runs(features)`."""

  def model_fn(features, labels, mode):
    side_runs(features)
    w = _v1.get_variable('w', [], initializer=_v1.ones_initializer())
    loss = tf.reduce_mean(tf.square(w * features - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.train.GradientDescentOptimizer(
            0.01).minimize(loss, _v1.train.get_or_create_global_step()))

  estimator = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  estimator.train(lambda: tf.data.Dataset.from_tensors((1.0, 2.0)).repeat(),
                  steps=steps)
  return estimator


def test_seeded_draws_go_on_in_a_session_and_start_over_in_a_new_one(tmp_path):
  seen = []

  def side_runs(features):
    del features
    draw = _v1.random.uniform([3], seed=17)
    with _v1.Session() as session:
      seen.append(session.run(draw))
      seen.append(session.run(draw))
    with _v1.Session() as session:
      seen.append(session.run(draw))

  _train(tmp_path, side_runs)
  np.testing.assert_allclose(seen, [_FIRST_DRAW, _SECOND_DRAW, _FIRST_DRAW],
                             rtol=1e-6)


def test_what_a_session_assigns_stays_out_of_training(tmp_path):
  # 2.15's session had variables of its own; the model's session started
  # from the initial value again.
  seen = {}

  def side_runs(features):
    del features
    v = _v1.get_variable('v', [], initializer=_v1.constant_initializer(3.0),
                         trainable=False)
    bump = _v1.assign_add(v, 10.0)
    with _v1.Session() as session:
      session.run(v.initializer)
      seen['bumped'] = session.run(bump)
      seen['then'] = session.run(v)
      with session.as_default():
        seen['eval'] = (v * 2.0).eval()

  estimator = _train(tmp_path, side_runs)
  assert seen == {'bumped': 13.0, 'then': 13.0, 'eval': 26.0}
  assert estimator.get_variable_value('v') == 3.0


def test_feeds_structures_and_operations(tmp_path):
  seen = {}

  def side_runs(features):
    del features
    x = _v1.placeholder(tf.float32, [2])
    doubled = x * 2.0
    v = _v1.get_variable('v', [], initializer=_v1.constant_initializer(3.0))
    with _v1.Session() as session:
      seen['run'] = session.run(
          {'doubled': doubled, 'pair': (v, v.initializer)},
          feed_dict={x: [1.0, 2.0]})
      seen['by_name'] = session.run(doubled.name, {x.name: [4.0, 5.0]})

  _train(tmp_path, side_runs)
  np.testing.assert_allclose(seen['run']['doubled'], [2.0, 4.0])
  assert seen['run']['pair'] == (3.0, None)
  np.testing.assert_allclose(seen['by_name'], [8.0, 10.0])


def test_a_session_on_another_graph_runs_as_usual(tmp_path):
  seen = []

  def side_runs(features):
    del features
    with tf.Graph().as_default() as graph:
      counter = _v1.get_variable('counter', [], initializer=_v1.zeros_initializer())
      add = _v1.assign_add(counter, 1.0)
      init = _v1.global_variables_initializer()
    with _v1.Session(graph=graph) as session:
      session.run(init)
      seen.append(session.run(add))

  _train(tmp_path, side_runs)
  assert seen == [1.0]


def test_the_input_batch_is_a_clear_error(tmp_path):

  def side_runs(features):
    with _v1.Session() as session:
      session.run(features * 2.0)

  with pytest.raises(ValueError, match=r"cannot compute \['mul:0'\]: they "
                     'depend on the features or labels'):
    _train(tmp_path, side_runs)


def test_sessions_run_as_usual_after_the_capture(tmp_path):
  _train(tmp_path, lambda features: None)
  with tf.Graph().as_default():
    total = tf.constant(2.0) + 3.0
    with _v1.Session() as session:
      assert session.run(total) == 5.0
