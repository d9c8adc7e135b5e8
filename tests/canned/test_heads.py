"""Heads against tensorflow-estimator 2.15: metrics, predictions, exports.

Each golden case runs `programs/heads_golden.py` here exactly as it ran on
2.15 (a weightless Estimator whose logits are a feature) and compares.
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from programs import heads_golden
from tensorflow.core.protobuf import saved_model_pb2
from tfcompat_estimator.canned.head import v1_heads

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'third_party', 'tensorflow_estimator_2_15', 'golden',
                      'heads', 'expected.json')

with open(GOLDEN) as f:
  EXPECTED = json.load(f)['cases']


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_head_matches_2_15(name, tmp_path):
  got = heads_golden.run_case(name, str(tmp_path))
  want = EXPECTED[name]
  assert sorted(got['metrics']) == sorted(want['metrics'])
  for key, value in want['metrics'].items():
    assert got['metrics'][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
  assert sorted(got['predictions']) == sorted(want['predictions'])
  for key, value in want['predictions'].items():
    assert got['predictions'][key]['dtype'] == value['dtype'], key
    if value['dtype'] in 'SO':
      assert got['predictions'][key]['value'] == value['value'], key
    else:
      np.testing.assert_allclose(got['predictions'][key]['value'],
                                 value['value'], rtol=1e-5, err_msg=key)
  assert got['signatures'] == want['signatures']


def _estimator(head, logits_dim, tmp_path, optimizer=None):
  def model_fn(features, labels, mode):
    logits = tf_keras.layers.Dense(logits_dim, name='logits')(features['x'])
    if optimizer is None:
      step = tf.compat.v1.train.get_or_create_global_step()
      return head.create_estimator_spec(
          features=features, mode=mode, logits=logits, labels=labels,
          train_op_fn=lambda loss: tf.compat.v1.assign_add(step, 1))
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels,
        optimizer=optimizer(),
        trainable_variables=tf.compat.v1.trainable_variables())

  return tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))


def _input_fn(labels):
  x = np.arange(len(labels), dtype=np.float32).reshape(-1, 1)
  return lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, labels)).batch(len(labels))


def test_keras_optimizer_slots_live_under_training_scope(tmp_path):
  est = _estimator(tf.estimator.BinaryClassHead(), 1, tmp_path,
                   optimizer=lambda: tf_keras.optimizers.legacy.Adagrad(0.1))
  est.train(_input_fn(np.array([[0.], [1.]], np.float32)), steps=1)
  names = est.get_variable_names()
  assert 'training/Adagrad/logits/kernel/accumulator' in names
  assert 'training/Adagrad/learning_rate' in names
  # The head counts steps in the global step (2.15 left it at 0), and the
  # optimizer its own in `iter` (2.15's key, which 2.15 needs to resume).
  assert est.get_variable_value('global_step') == 1
  assert est.get_variable_value('training/Adagrad/iter') == 1
  est.train(_input_fn(np.array([[0.], [1.]], np.float32)))  # one batch
  assert est.get_variable_value('global_step') == 2
  assert est.get_variable_value('training/Adagrad/iter') == 2


# 2.15 resumes a model_dir of a head and a Keras optimizer without a step
# counter, trains, and prints the checkpoint's global step and `iter`.
_RESUME_WITH_2_15 = '''
import json, sys
import numpy as np
import tensorflow as tf
def model_fn(features, labels, mode):
  logits = tf.keras.layers.Dense(1, name='logits')(features['x'])
  return tf.estimator.BinaryClassHead().create_estimator_spec(
      features=features, mode=mode, logits=logits, labels=labels,
      optimizer=tf.keras.optimizers.legacy.Adagrad(0.1),
      trainable_variables=tf.compat.v1.trainable_variables())
est = tf.estimator.Estimator(model_fn, model_dir=sys.argv[1])
est.train(lambda: tf.data.Dataset.from_tensors(
    ({'x': np.array([[0.], [1.]], np.float32)},
     np.array([[0.], [1.]], np.float32))))
print(json.dumps({n: int(est.get_variable_value(n))
                  for n in ('global_step', 'training/Adagrad/iter')}))
'''


@pytest.mark.slow
def test_2_15_resumes_a_model_dir_whose_head_counted_the_steps(
    tmp_path, venv215_python):
  """Before, the global step stood in for `iter` and 2.15 could not restore."""
  est = _estimator(tf.estimator.BinaryClassHead(), 1, tmp_path,
                   optimizer=lambda: tf_keras.optimizers.legacy.Adagrad(0.1))
  est.train(_input_fn(np.array([[0.], [1.]], np.float32)), steps=1)
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  proc = subprocess.run([venv215_python, '-c', _RESUME_WITH_2_15,
                         str(tmp_path)], capture_output=True, text=True,
                        env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # It restored both (it raised NotFoundError for `iter` before) and, by its
  # own rule, trained a step it did not save: its global step did not move.
  assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
      'global_step': 1, 'training/Adagrad/iter': 1}


@pytest.mark.parametrize('head,labels,message', [
    (lambda: tf.estimator.MultiClassHead(3), np.array([[0], [3]]),
     'Labels must be <= n_classes - 1'),
    (lambda: tf.estimator.BinaryClassHead(label_vocabulary=['a', 'b']),
     np.array([[b'a'], [b'c']]), 'Labels must be >= 0'),
    (lambda: tf.estimator.BinaryClassHead(), np.array([[0.], [2.]], np.float32),
     'Labels must be <= n_classes - 1'),
])
def test_bad_labels_fail_at_run_time(head, labels, message, tmp_path):
  head = head()
  est = _estimator(head, head.logits_dimension, tmp_path)
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    est.train(_input_fn(labels), steps=1)


def test_label_dimension_mismatch_is_a_clear_error(tmp_path):
  est = _estimator(tf.estimator.RegressionHead(label_dimension=2), 2,
                   tmp_path)
  with pytest.raises(ValueError, match='Expected labels dimension=2'):
    est.train(_input_fn(np.zeros((2, 3), np.float32)), steps=1)


def test_constructor_validation_matches_2_15():
  with pytest.raises(ValueError, match='n_classes must be > 2'):
    tf.estimator.MultiClassHead(2)
  with pytest.raises(ValueError, match='thresholds not in'):
    tf.estimator.BinaryClassHead(thresholds=[1.5])
  with pytest.raises(ValueError, match='Invalid loss_reduction'):
    tf.estimator.RegressionHead(loss_reduction='bogus')
  with pytest.raises(ValueError, match='must have name'):
    tf.estimator.MultiHead([tf.estimator.BinaryClassHead()])
  with pytest.raises(ValueError, match='loss_fn has unexpected args'):
    tf.estimator.BinaryClassHead(loss_fn=lambda labels, logits, mode: labels)


def test_v1_heads_default_to_sum_reduction():
  head = v1_heads.binary_logistic_or_multi_class_head(
      2, None, None, tf.compat.v1.losses.Reduction.SUM)
  assert head.loss_reduction == tf.compat.v1.losses.Reduction.SUM
  assert v1_heads.regression_head_v1().loss_reduction == (
      tf.compat.v1.losses.Reduction.SUM)
  assert v1_heads.binary_logistic_or_multi_class_head(
      4, None, None, tf.compat.v1.losses.Reduction.SUM).logits_dimension == 4


def _train_summary_tags(est, labels):
  est.train(_input_fn(labels), steps=1)
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(est.model_dir, 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags - {'global_step/sec'}


def test_train_summaries_match_2_15(tmp_path):
  # Observed with 2.15: v1 heads add average_loss; one 'loss' tag only.
  v1_head = v1_heads.binary_logistic_or_multi_class_head(
      2, None, None, tf.compat.v1.losses.Reduction.SUM)
  labels = np.array([[0.], [1.]], np.float32)
  assert _train_summary_tags(_estimator(v1_head, 1, tmp_path / 'v1'),
                             labels) == {'loss', 'average_loss'}
  named = tf.estimator.BinaryClassHead(name='bin')
  assert _train_summary_tags(_estimator(named, 1, tmp_path / 'v2'),
                             labels) == {'loss', 'loss/bin'}


# Measured on 2.15: a v1 canned estimator's EVAL SavedModel names its metric
# tensors under the model's scope, as TF1 clients of the eval signature see
# them. The regression head made its metrics in the caller's scope, the
# classification heads under 'metrics'.
_V1_EVAL_METRIC_TENSORS = {
    'regressor': {
        'metrics/average_loss/value': 'linear/mean/value:0',
        'metrics/label/mean/update_op': 'linear/mean_1/update_op:0',
        'metrics/prediction/mean/value': 'linear/prediction/mean/value:0'},
    'classifier': {
        'metrics/accuracy_baseline/value':
            'linear/metrics/accuracy_baseline/value:0',
        'metrics/accuracy_baseline/update_op':
            'linear/metrics/accuracy_baseline/update_op:0',
        'metrics/auc/value': 'linear/metrics/auc/value:0',
        'metrics/label/mean/value': 'linear/metrics/label/mean/value:0'},
}


@pytest.mark.parametrize('kind', sorted(_V1_EVAL_METRIC_TENSORS))
def test_v1_eval_saved_model_names_metric_tensors_as_2_15(kind, tmp_path):
  columns = [tf.feature_column.numeric_column('x')]
  if kind == 'regressor':
    est = tf.compat.v1.estimator.LinearRegressor(columns, str(tmp_path / 'm'))
    labels, label_dtype = np.arange(8, dtype=np.float32), tf.float32
  else:
    est = tf.compat.v1.estimator.LinearClassifier(columns, str(tmp_path / 'm'))
    labels, label_dtype = np.arange(8) % 2, tf.int64
  est.train(lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': np.arange(8, dtype=np.float32)}, labels)).batch(4), steps=1)
  with tf.Graph().as_default():
    receiver_fn = (
        tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
            {'x': tf.compat.v1.placeholder(tf.float32, [None])},
            tf.compat.v1.placeholder(label_dtype, [None])))
  path = est.experimental_export_all_saved_models(
      str(tmp_path / 'export'), {tf.estimator.ModeKeys.EVAL: receiver_fn})
  saved_model = saved_model_pb2.SavedModel()
  with open(os.path.join(os.fsdecode(path), 'saved_model.pb'), 'rb') as f:
    saved_model.ParseFromString(f.read())
  outputs = saved_model.meta_graphs[0].signature_def['eval'].outputs
  assert {key: outputs[key].name for key in _V1_EVAL_METRIC_TENSORS[kind]} == (
      _V1_EVAL_METRIC_TENSORS[kind])


# --- 2.15's private v1 head API (`canned/head.py`), which v1 code calls -------


def _head_lib():
  from tensorflow_estimator.python.estimator.canned import head as head_lib  # pylint: disable=g-import-not-at-top
  return head_lib


def _eval_tpu_spec(logits):
  """A `_TPUEstimatorSpec` whose metric comes as `(metric_fn, tensors)`."""
  from tensorflow_estimator.python.estimator import model_fn  # pylint: disable=g-import-not-at-top
  return model_fn._TPUEstimatorSpec(  # pylint: disable=protected-access
      mode=tf.estimator.ModeKeys.EVAL, loss=tf.reduce_sum(logits),
      eval_metrics=(lambda logits: {'m': tf.compat.v1.metrics.mean(logits)},
                    {'logits': logits}))


def _assert_spec_comes_from_the_tpu_spec(tpu_head, plain_head, match):
  with tf.Graph().as_default():
    spec = tpu_head.create_estimator_spec(
        features={}, mode=tf.estimator.ModeKeys.EVAL,
        logits=tf.constant([[1.], [3.]]))
    assert isinstance(spec, tf.estimator.EstimatorSpec)
    assert sorted(spec.eval_metric_ops) == ['m']
  with pytest.raises(NotImplementedError, match=match):
    plain_head.create_estimator_spec(features={}, mode=None, logits=None)
  with pytest.raises(NotImplementedError, match='not available'):
    plain_head._create_tpu_estimator_spec(  # pylint: disable=protected-access
        features={}, mode=None, logits=None)


def test_v1_head_interface_builds_the_spec_from_a_tpu_spec():
  head_lib = _head_lib()

  class TPUHead(head_lib._Head):  # pylint: disable=protected-access

    def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                   optimizer=None, train_op_fn=None,
                                   regularization_losses=None):
      return _eval_tpu_spec(logits)

  class NoSpecHead(head_lib._Head):  # pylint: disable=protected-access
    pass

  _assert_spec_comes_from_the_tpu_spec(TPUHead(), NoSpecHead(),
                                       'must implement')


def test_v1_head_factories_validate_as_2_15():
  head_lib = _head_lib()
  # pylint: disable=protected-access
  with pytest.raises(ValueError, match='n_classes cannot be None'):
    head_lib._multi_class_head_with_softmax_cross_entropy_loss(None)
  with pytest.raises(ValueError, match='n_classes must be > 2'):
    head_lib._multi_class_head_with_softmax_cross_entropy_loss(2)
  with pytest.raises(ValueError, match='Invalid loss_reduction: none'):
    head_lib._regression_head(loss_reduction='none')
  head = head_lib._binary_logistic_head_with_sigmoid_cross_entropy_loss(
      thresholds=[0.3], name='h')
  assert isinstance(head, head_lib._Head)
  assert (head.name, head.logits_dimension) == ('h', 1)
  assert head_lib._regression_head(label_dimension=3).logits_dimension == 3


def test_v1_heads_are_not_v2_heads_as_in_2_15():
  """TF Constrained Optimization's `HeadV1` refuses a `tf.estimator.Head`.

  Measured on 2.15: its v1 heads (and subclasses of them) are `_Head`s and
  not `tf.estimator.Head`s, and the v2 heads are the other way round.
  """
  head_lib = _head_lib()
  # pylint: disable=protected-access
  v1_made = [
      head_lib._binary_logistic_head_with_sigmoid_cross_entropy_loss(),
      head_lib._multi_class_head_with_softmax_cross_entropy_loss(3),
      head_lib._regression_head(),
  ]

  class PrivateHead(head_lib._BinaryLogisticHeadWithSigmoidCrossEntropyLoss):
    pass

  for head in v1_made + [PrivateHead()]:
    assert isinstance(head, head_lib._Head)
    assert not isinstance(head, tf.estimator.Head), type(head)
    assert not isinstance(head, tf.estimator.BinaryClassHead), type(head)
    assert not issubclass(type(head), tf.estimator.Head), type(head)
  assert isinstance(PrivateHead(),
                    head_lib._BinaryLogisticHeadWithSigmoidCrossEntropyLoss)
  for head in (tf.estimator.BinaryClassHead(), tf.estimator.RegressionHead(),
               tf.estimator.MultiClassHead(3)):
    assert isinstance(head, tf.estimator.Head)
    assert not isinstance(head, head_lib._Head)


def test_v1_heads_as_tf_privacy_subclasses_them(tmp_path):
  """TF Privacy's v1 DP heads: 2.15's private classes, names and methods.

  They subclass the v1 head classes with `loss_reduction=NONE` (which only
  the factories refuse), override `_create_tpu_estimator_spec` with 2.15's
  code (per-example loss for the optimizer, a scalar for the spec) and call
  `_eval_metric_ops` with 2.15's arguments. Before, the module lacked the
  names and `create_estimator_spec` bypassed the override.
  """
  head_lib = _head_lib()
  # pylint: disable=protected-access
  assert (head_lib._DEFAULT_SERVING_KEY, head_lib._CLASSIFY_SERVING_KEY,
          head_lib._PREDICT_SERVING_KEY) == ('serving_default',
                                             'classification', 'predict')
  assert head_lib._summary_key('h', 'loss') == 'loss/h'
  with pytest.raises(ValueError, match='Invalid loss_reduction: none'):
    head_lib._multi_class_head_with_softmax_cross_entropy_loss(
        3, loss_reduction=tf.compat.v1.losses.Reduction.NONE)
  built = []

  class PerExample(head_lib._MultiClassHeadWithSoftmaxCrossEntropyLoss):

    def _create_tpu_estimator_spec(self, features, mode, logits, labels=None,
                                   optimizer=None, train_op_fn=None,
                                   regularization_losses=None):
      built.append(mode)
      loss, unreduced, weights, label_ids = self.create_loss(
          features=features, mode=mode, logits=logits, labels=labels)
      predictions = {'class_ids': tf.argmax(logits, -1)[:, None]}
      from tensorflow_estimator.python.estimator import model_fn  # pylint: disable=g-import-not-at-top
      if mode == tf.estimator.ModeKeys.EVAL:
        return model_fn._TPUEstimatorSpec(
            mode, predictions=predictions, loss=tf.reduce_mean(loss),
            eval_metrics=head_lib._create_eval_metrics_tuple(
                self._eval_metric_ops, {
                    'labels': label_ids,
                    'class_ids': predictions['class_ids'],
                    'weights': weights, 'unreduced_loss': unreduced,
                    'regularization_loss': None}))
      train_op = head_lib._append_update_ops(optimizer.minimize(
          unreduced, global_step=tf.compat.v1.train.get_global_step()))
      return model_fn._TPUEstimatorSpec(mode, predictions=predictions,
                                        loss=tf.reduce_mean(loss),
                                        train_op=train_op)

  head = PerExample(n_classes=3,
                    loss_reduction=tf.compat.v1.losses.Reduction.NONE)

  def model_fn(features, labels, mode):
    return head.create_estimator_spec(
        features=features, mode=mode, labels=labels,
        logits=tf.compat.v1.layers.dense(features['x'], 3),
        optimizer=tf.compat.v1.train.GradientDescentOptimizer(0.1))

  def input_fn():
    x = np.random.RandomState(0).rand(16, 2).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(
        ({'x': x}, (x[:, :1] * 3).astype(np.int64))).batch(4)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=2)
  metrics = est.evaluate(input_fn, steps=1)
  assert built == ['train', 'eval']
  assert {'accuracy', 'average_loss', 'loss'} <= set(metrics)


def test_v1_head_in_a_model_fn_trains(tmp_path):
  """The DNNEstimator-era idiom: a model_fn hands its logits to a `_Head`."""
  head = _head_lib()._regression_head()  # pylint: disable=protected-access

  def model_fn(features, labels, mode):
    logits = tf.compat.v1.layers.dense(features['x'], 1)
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels,
        train_op_fn=lambda loss: tf.compat.v1.train.GradientDescentOptimizer(
            0.05).minimize(loss, tf.compat.v1.train.get_global_step()))

  x = np.arange(8, dtype=np.float32).reshape(8, 1) / 8
  input_fn = lambda: tf.data.Dataset.from_tensors(({'x': x}, 2 * x)).repeat(20)
  est = tf.compat.v1.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  before = est.train(input_fn, steps=1).evaluate(input_fn, steps=1)
  after = est.train(input_fn, steps=19).evaluate(input_fn, steps=1)
  assert after['loss'] < before['loss']
  assert sorted(after) == ['average_loss', 'global_step', 'label/mean',
                           'loss', 'prediction/mean']


def test_labels_known_while_building_fail_at_once():
  """Constant labels out of range: 2.15's folded assertions raised at once."""
  v1_head = _head_lib()._multi_class_head_with_softmax_cross_entropy_loss(3)  # pylint: disable=protected-access
  logits = np.zeros((2, 3), np.float32)
  with tf.Graph().as_default():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'Labels must <= n_classes - 1 .*\[45\]'):
      v1_head.create_loss(features={}, mode=tf.estimator.ModeKeys.EVAL,
                          logits=logits, labels=np.array([[45], [1]]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r'Labels must be <= n_classes - 1 .*\[1.2\]'):
      tf.estimator.BinaryClassHead().loss(
          logits=np.zeros((2, 1), np.float32),
          labels=np.array([[1.2], [0.4]], np.float32))


@pytest.mark.parametrize('call, match', [
    (lambda: tf.estimator.BinaryClassHead().loss(
        logits=np.zeros((2, 1), np.float32),
        labels=np.array([[1.2], [0.4]], np.float32)),
     r'Labels must be <= 2 - 1: \[1.2\]'),
    (lambda: tf.estimator.MultiClassHead(3).loss(
        logits=np.zeros((2, 3), np.float32), labels=np.array([[-1], [1]])),
     r'Labels must be >= 0: \[-1\]'),
    (lambda: tf.estimator.LogisticRegressionHead().loss(
        logits=np.zeros((2, 1), np.float32),
        labels=np.array([[-0.2], [0.5]], np.float32)),
     r'Labels must be in range \[0, 1\]: \[-0.2\]'),
    (lambda: tf.estimator.MultiLabelHead(2).loss(
        logits=np.zeros((1, 2), np.float32),
        labels=tf.SparseTensor([[0, 0]], np.array([2], np.int64), [1, 2])),
     r'integer SparseTensor with values in \[0, 2\): \[2\]'),
    (lambda: tf.estimator.BinaryClassHead(weight_column='w').loss(
        logits=np.zeros((2, 2, 1), np.float32),
        labels=np.zeros((2, 2, 1), np.float32),
        features={'w': np.ones((2, 1), np.float32)}),
     r'weights shape must be .*logits_shape: \(2, 2, 1\). weights_shape: '
     r'\(2, 1\)'),
    (lambda: tf.estimator.RegressionHead(
        loss_fn=lambda labels, logits: tf.constant([1., 2.])).loss(
            logits=np.zeros((2, 1), np.float32),
            labels=np.zeros((2, 1), np.float32)),
     r'loss_fn must return Tensor of shape \[D0, D1, ... DN, 1\]. '
     r'logits_shape: \(2, 1\) loss_shape: \(2,\)'),
    (lambda: tf.estimator.MultiClassHead(3).loss(
        logits=np.zeros((2, 3), np.float32), labels=np.ones((3, 1), np.int64)),
     r'labels shape \(3, 1\), batch shape \(3,\), does not match the '
     r'logits shape \(2, 3\)'),
])
def test_eager_heads_raise_value_errors(call, match):
  """Called eagerly (values known), heads raise ValueError, as 2.15 did."""
  with pytest.raises(ValueError, match=match):
    call()


def test_v2_head_builds_the_spec_from_a_tpu_spec():

  class TPUHead(tf.estimator.RegressionHead):

    def create_estimator_spec(self, *args, **kwargs):  # the base default
      return tf.estimator.Head.create_estimator_spec(self, *args, **kwargs)

    def _create_tpu_estimator_spec(self, features, mode, logits, **kwargs):
      return _eval_tpu_spec(logits)

  class PlainHead(tf.estimator.Head):  # implements neither method
    name = 'plain'
    logits_dimension = 1
    loss_reduction = tf.losses.Reduction.SUM_OVER_BATCH_SIZE
    loss = predictions = metrics = update_metrics = None

  _assert_spec_comes_from_the_tpu_spec(
      TPUHead(), PlainHead(),
      r'create_estimator_spec\(\)` or _create_tpu_estimator_spec\(\)')


@pytest.mark.parametrize('base,kwargs,labels', [
    (tf.estimator.MultiClassHead, {'n_classes': 3}, [[0], [2]]),
    (tf.estimator.BinaryClassHead, {}, [[0], [1]]),
    (tf.estimator.RegressionHead, {}, [[0.], [1.]]),
    (tf.estimator.MultiLabelHead, {'n_classes': 3}, [[1, 0, 1], [0, 1, 0]])])
def test_a_canned_heads_tpu_spec_override_builds_every_spec(base, kwargs,
                                                             labels):
  """TF Privacy's DP heads override `_create_tpu_estimator_spec` only.

  2.15's v2 heads built every spec through it; here it was bypassed.
  """
  modes = []

  class Marked(base):

    def _create_tpu_estimator_spec(self, features, mode, logits, **kwargs):
      modes.append(mode)
      spec = super()._create_tpu_estimator_spec(features, mode, logits,
                                                **kwargs)
      return spec._replace(predictions=dict(spec.predictions, marked=logits))

  head = Marked(**kwargs)
  with tf.Graph().as_default():
    for mode in ('train', 'eval', 'infer'):
      w = tf.compat.v1.get_variable(f'w_{mode}', [1])
      spec = head.create_estimator_spec(
          features={}, mode=mode,
          logits=tf.zeros((2, head.logits_dimension)) * w,
          labels=tf.constant(labels),
          optimizer=tf.keras.optimizers.legacy.SGD(0.1),
          trainable_variables=[w])
      assert isinstance(spec, tf.estimator.EstimatorSpec)
      assert 'marked' in spec.predictions
      assert bool(spec.eval_metric_ops) == (mode == 'eval')
  assert modes == ['train', 'eval', 'infer']


def test_sequential_flatten_keeps_the_unpadded_steps_eagerly():
  from tensorflow_estimator.python.estimator.head import sequential_head  # pylint: disable=g-import-not-at-top
  mask = np.array([[1, 1], [1, 0]])
  flat = sequential_head._flatten_tensor(  # pylint: disable=protected-access
      tf.constant([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]), mask,
      expected_length=3)
  assert flat.numpy().tolist() == [[1, 2], [3, 4], [5, 6]]
  sparse = tf.SparseTensor([[0, 0], [1, 0], [0, 1]], [1, 3, 2], [2, 2])
  assert sequential_head._flatten_tensor(  # pylint: disable=protected-access
      sparse, mask, expected_length=3).numpy().tolist() == [[1], [2], [3]]
  with pytest.raises(ValueError, match='incompatible with provided mask'):
    sequential_head._flatten_tensor(  # pylint: disable=protected-access
        sparse, np.ones((2, 2)), expected_length=4)
  with pytest.raises(ValueError, match='at least 2 dimensions, got 1'):
    sequential_head._flatten_tensor(  # pylint: disable=protected-access
        tf.constant([1., 2.]), mask, expected_length=3)


def test_head_utils_picks_the_classifier_head_as_2_15():
  from tensorflow_estimator.python.estimator.head import head_utils  # pylint: disable=g-import-not-at-top
  binary = head_utils.binary_or_multi_class_head(
      2, None, None, tf.losses.Reduction.SUM_OVER_BATCH_SIZE)
  multi = head_utils.binary_or_multi_class_head(
      4, 'w', None, tf.losses.Reduction.SUM)
  assert isinstance(binary, tf.estimator.BinaryClassHead)
  assert isinstance(multi, tf.estimator.MultiClassHead)
  assert (multi.logits_dimension, multi.loss_reduction) == (
      4, tf.losses.Reduction.SUM)
