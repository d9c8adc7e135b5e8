"""The v1 `Session` methods a hook may call on the session it is handed.

2.15 handed hooks a real `tf.compat.v1.Session`; TF1 code evaluates with
`tensor.eval(session=...)`, `with session.as_default(): ... .eval()`,
`variable.eval(session=...)` and `session.make_callable(...)`. Each ran
there (this test passes on 2.15); here `as_default` and `make_callable`
raised AttributeError and a variable's `eval` failed on None.
"""

import numpy as np
import pytest
import tensorflow as tf

_v1 = tf.compat.v1


class _Evaluates(_v1.train.SessionRunHook):
  """After the first step, evaluates the weights' sum every way a TF1 hook
  could, then stops."""

  def __init__(self):
    self.got = {}

  def begin(self):
    graph = _v1.get_default_graph()
    self.weights = [v for v in _v1.global_variables() if v.op.name == 'w'][0]
    self.total = graph.get_tensor_by_name('total:0')
    self.scale = _v1.placeholder(tf.float32, [], name='scale')
    self.scaled = self.total * self.scale

  def after_run(self, run_context, run_values):
    session = run_context.session
    self.got['run'] = session.run(self.total)
    self.got['eval'] = self.total.eval(session=session)
    with session.as_default():
      self.got['default_eval'] = self.total.eval()
      self.got['default_variable_eval'] = self.weights.eval().sum()
    self.got['variable_eval'] = session.run(self.weights).sum()
    self.got['variable_eval_session'] = self.weights.eval(session).sum()
    self.got['callable'] = session.make_callable(self.total)()
    self.got['callable_fed'] = session.make_callable(
        self.scaled, feed_list=[self.scale])(2.0)
    self.got['callable_options'] = session.make_callable(
        self.total, accept_options=True)(options=None, run_metadata=None)
    run_context.request_stop()


def _model_fn(features, labels, mode):
  weights = _v1.get_variable('w', [3, 1],
                             initializer=_v1.constant_initializer(0.5))
  tf.reduce_sum(weights, name='total')
  loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], weights) - labels))
  train_op = _v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, _v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn():
  return tf.data.Dataset.from_tensors(
      ({'x': np.ones((4, 3), np.float32)}, np.ones((4, 1), np.float32))
  ).repeat()


def test_a_hook_evaluates_through_the_session_api_of_a_v1_session(tmp_path):
  hook = _Evaluates()
  tf.estimator.Estimator(_model_fn, str(tmp_path)).train(
      _input_fn, steps=3, hooks=[hook])
  # One step of gradient descent from w = 0.5: each weight moves by
  # -0.1 * 2 * (1.5 - 1) = -0.1, so the sum is 1.2.
  expected = {'run': 1.2, 'eval': 1.2, 'default_eval': 1.2,
              'default_variable_eval': 1.2, 'variable_eval': 1.2,
              'variable_eval_session': 1.2, 'callable': 1.2,
              'callable_fed': 2.4, 'callable_options': 1.2}
  assert hook.got == pytest.approx(expected)
  # Outside a session the variable keeps TF's eager answer.
  with pytest.raises(RuntimeError, match='not supported when eager'):
    tf.Variable(1.0).eval()
