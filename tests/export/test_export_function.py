"""`tfcompat_estimator.export.function`: 2.15's experimental ModelFunction.

Facts marked "2.15" were measured with TF 2.15.1 + tensorflow-estimator
2.15.0 (`_EstimatorWrappedGraph` outputs, variable and function names,
receiver signatures, error messages). 2.15's `ModelFunction` itself failed on
every call there (train: AttributeError, no global step; evaluate/predict:
TypeError, the whole EstimatorSpec returned from a tf.function), and its
tests (`ModelFunctionTest`) were disabled. Ours does what those tests
expect: the values below for `ModelFunction` are the ones they assert.
"""

import pytest
import tensorflow as tf

from tfcompat_estimator.export import function
from tfcompat_estimator.export import receivers
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator import run_config

ModeKeys = model_fn_lib.ModeKeys


def _model_fn(features, labels, mode):
  v = tf.Variable(lambda: tf.constant(23), name='v')
  if mode == ModeKeys.PREDICT:
    return model_fn_lib.EstimatorSpec(mode, predictions=features + 1)
  if mode == ModeKeys.EVAL:
    return model_fn_lib.EstimatorSpec(mode, loss=tf.constant(5) + v,
                                      predictions=features + labels)
  return model_fn_lib.EstimatorSpec(
      mode, predictions=features * labels, loss=tf.constant(5) + v,
      train_op=tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1))


def _wrap(mode, features, labels=None):
  graph = function._EstimatorWrappedGraph()
  fn = graph.wrap_model_fn(_model_fn, mode=mode, args=[features, labels, mode],
                           kwargs={})
  return graph, fn


class TestEstimatorWrappedGraph:

  def test_train_runs_the_train_op_and_keeps_the_spec(self):
    graph, fn = _wrap(ModeKeys.TRAIN, tf.constant(3), tf.constant(4))
    assert int(graph.global_step) == 0
    out = fn(tf.constant(3), tf.constant(4))
    # 2.15: {'predictions': 12, 'train_op': None}; global step 0 -> 1.
    assert sorted(out) == ['predictions', 'train_op']
    assert int(out['predictions']) == 12 and out['train_op'] is None
    assert int(graph.global_step) == 1
    # 2.15 kept the assign as the spec's train_op.
    assert graph.estimator_spec.train_op.type == 'AssignAddVariableOp'
    assert graph.model_fn is fn
    # 2.15: these variable and function names.
    assert {k: v.name for k, v in graph.variables.items()} == {
        'global_step': 'global_step:0', 'v': 'v:0'}
    assert sorted(graph.functions) == ['_global_step', 'model_fn_train']

  def test_eval_and_predict_return_only_predictions(self):
    _, fn = _wrap(ModeKeys.EVAL, tf.constant(5), tf.constant(6))
    out = fn(tf.constant(5), tf.constant(6))
    assert list(out) == ['predictions'] and int(out['predictions']) == 11
    _, fn = _wrap(ModeKeys.PREDICT, tf.constant(7))
    out = fn(tf.constant(7))
    assert list(out) == ['predictions'] and int(out['predictions']) == 8

  def test_misuse_is_refused_with_2_15_messages(self):
    graph = function._EstimatorWrappedGraph()
    with pytest.raises(ValueError, match='Please wrap a model function first'):
      _ = graph.estimator_spec
    graph, _ = _wrap(ModeKeys.PREDICT, tf.constant(7))
    with pytest.raises(ValueError, match='should be only called once'):
      graph.wrap_model_fn(_model_fn, ModeKeys.PREDICT,
                          args=[tf.constant(1), None, ModeKeys.PREDICT])

  def test_model_fn_must_return_an_estimator_spec(self):
    graph = function._EstimatorWrappedGraph()
    with pytest.raises(ValueError, match='should return an EstimatorSpec'):
      graph.wrap_model_fn(lambda x: x + 1, ModeKeys.PREDICT,
                          args=[tf.TensorSpec([], tf.int32)])


def _supervised_receiver():
  a = tf.compat.v1.placeholder(tf.float32, [None], name='a')
  b = tf.compat.v1.placeholder(tf.float32, [None], name='b')
  return receivers.SupervisedInputReceiver({'x': a * 2}, b + 1,
                                           {'b_in': b, 'a_in': a})


class TestWrapInputReceiverFn:

  def test_supervised_receiver_gives_features_and_labels(self):
    (fn, name), = function._EstimatorWrappedGraph().wrap_input_receiver_fn(
        _supervised_receiver)
    assert name is None
    # 2.15: specs named by key, in the receiver's order; positional
    # arguments in sorted-key order.
    _, kwargs = fn.structured_input_signature
    assert [(k, s.name) for k, s in kwargs.items()] == [('b_in', 'b_in'),
                                                        ('a_in', 'a_in')]
    for features, labels in (fn(tf.constant([1.]), tf.constant([2.])),
                             fn(a_in=tf.constant([1.]), b_in=tf.constant([2.]))):
      assert features['x'].numpy().tolist() == [2.]
      assert labels.numpy().tolist() == [3.]

  def test_one_function_per_alternative_in_receiver_order(self):
    def receiver_fn():
      a = tf.compat.v1.placeholder(tf.float32, [None], name='a')
      return receivers.ServingInputReceiver({'x': a * 2}, a,
                                            {'z': a, 'y': {'q': a}})
    fns = function._EstimatorWrappedGraph().wrap_input_receiver_fn(receiver_fn)
    # 2.15: these names; a lone receiver tensor is keyed 'input'.
    assert [(name, fn.name) for fn, name in fns] == [
        (None, fns[0][0].name), ('z', fns[1][0].name), ('y', fns[2][0].name)]
    assert [b'_input_receiver' in fn.name for fn, _ in fns] == [True] * 3
    assert [list(fn.structured_input_signature[1]) for fn, _ in fns] == [
        ['input'], ['input'], ['q']]
    for fn, _ in fns:
      assert fn(tf.constant([1.5]))['x'].numpy().tolist() == [3.]

  def test_composite_receiver_tensors_are_refused(self):
    def receiver_fn():
      s = tf.compat.v1.sparse_placeholder(tf.float32, name='s')
      return receivers.ServingInputReceiver({'s': s}, {'s': s})
    with pytest.raises(ValueError, match="'s'.*not a dense Tensor"):
      function._EstimatorWrappedGraph().wrap_input_receiver_fn(receiver_fn)


class TestModelFunction:

  def test_modes_share_variables_and_save(self, tmp_path):
    mfn = function.ModelFunction.from_function(_model_fn)
    for _ in range(3):
      out = mfn.train(tf.constant(3), tf.constant(5))
    assert int(out['predictions']) == 15 and out['train_op'] is None
    assert int(mfn.evaluate(tf.constant(7), tf.constant(9))['predictions']) == 16
    assert int(mfn.predict(tf.constant(10))['predictions']) == 11
    # One global step and one `v` for all three modes.
    assert {k: v.name for k, v in mfn.variables.items()} == {
        'global_step': 'global_step:0', 'v': 'v:0'}
    assert int(mfn.variables['global_step']) == 3
    assert isinstance(mfn._functions[ModeKeys.TRAIN],
                      tf.types.experimental.PolymorphicFunction)

    tf.saved_model.save(mfn, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    variables = loaded._variables_by_name
    assert int(variables.global_step) == 3
    out = loaded._functions['train'](tf.constant(3), tf.constant(5))
    assert int(out['predictions']) == 15 and int(variables.global_step) == 4
    assert int(loaded._functions['eval'](
        tf.constant(7), tf.constant(9))['predictions']) == 16
    assert int(loaded._functions['infer'](tf.constant(10))['predictions']) == 11

  def test_mode_errors(self):
    mfn = function.ModelFunction()
    mfn.add_mode(lambda features: model_fn_lib.EstimatorSpec(
        ModeKeys.PREDICT, predictions=features + 1), ModeKeys.PREDICT)
    assert dict(mfn.variables) == {}  # 2.15: no variable before a call
    assert int(mfn.predict(tf.constant(4))['predictions']) == 5
    assert list(mfn.variables) == ['global_step']  # every mode creates it
    with pytest.raises(ValueError, match='Mode eval is not defined'):
      mfn.evaluate(tf.constant(7), tf.constant(9))
    with pytest.raises(ValueError, match='multiple functions with name infer'):
      mfn.add_mode(_model_fn, ModeKeys.PREDICT)
    with pytest.raises(ValueError, match="Unknown mode 'predict'"):
      mfn.add_mode(_model_fn, 'predict')
    with pytest.raises(ValueError, match='must include features argument'):
      mfn.add_mode(lambda x: x, ModeKeys.EVAL)

  def test_params_config_signature_and_composite_features(self):
    def model_fn(features, labels, mode, params, config):
      w = tf.compat.v1.get_variable('w', initializer=tf.constant(2.0))
      total = tf.sparse.reduce_sum(features['s']) * w + features['k']
      assert type(params) is dict  # pylint: disable=unidiomatic-typecheck
      assert labels is None
      return model_fn_lib.EstimatorSpec(mode, predictions={
          'total': total + params['bias'],
          'seed': tf.constant(config.tf_random_seed)})

    mfn = function.ModelFunction(config=run_config.RunConfig(tf_random_seed=7),
                                 params={'bias': 10.0})
    # One spec: called with features only, the model_fn gets labels=None.
    mfn.add_mode(model_fn, ModeKeys.PREDICT, input_signature=[{
        's': tf.SparseTensorSpec([None, 2], tf.float32),
        'k': tf.TensorSpec([], tf.float32)}])
    assert not mfn._functions[ModeKeys.PREDICT].expects_labels
    out = mfn.predict({'s': tf.sparse.from_dense([[1., 0.], [0., 2.]]),
                       'k': 3.0})['predictions']
    assert float(out['total']) == 19.0 and int(out['seed']) == 7
    assert sorted(mfn.variables) == ['global_step', 'w']


def test_estimator_spec_keeps_an_assigns_op_as_train_op():
  """2.15 kept a Variable train_op (an assign's result) as its op."""
  with tf.Graph().as_default():
    step = tf.compat.v1.train.get_or_create_global_step()
    spec = model_fn_lib.EstimatorSpec(
        ModeKeys.TRAIN, loss=tf.constant(1.),
        train_op=tf.compat.v1.assign_add(step, 1))
  assert isinstance(spec.train_op, tf.Operation)
  assert spec.train_op.type == 'AssignAddVariableOp'
