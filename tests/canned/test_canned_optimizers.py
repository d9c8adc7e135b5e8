"""Canned optimizer lookup: names, default rates and errors as in 2.15."""

import pytest
import tensorflow as tf
import tf_keras

from tfcompat_estimator.canned import optimizers

# Observed on tensorflow-estimator 2.15: class and default rate per v2 name.
V2_DEFAULTS = {
    'Adagrad': ('Adagrad', 0.001),
    'Adam': ('Adam', 0.001),
    'Ftrl': ('Ftrl', 0.001),
    'RMSProp': ('RMSprop', 0.001),
    'SGD': ('SGD', 0.01),
}
V1_CLASSES = {
    'Adagrad': tf.compat.v1.train.AdagradOptimizer,
    'Adam': tf.compat.v1.train.AdamOptimizer,
    'Ftrl': tf.compat.v1.train.FtrlOptimizer,
    'RMSProp': tf.compat.v1.train.RMSPropOptimizer,
    'SGD': tf.compat.v1.train.GradientDescentOptimizer,
}
UNSUPPORTED = ('Unsupported optimizer name: Foo. Supported names are: '
               "('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD')")


@pytest.mark.parametrize('name', sorted(V2_DEFAULTS))
def test_v2_name_uses_legacy_keras_class_and_its_default_rate(name):
  opt = optimizers.get_optimizer_instance_v2(name)
  cls_name, rate = V2_DEFAULTS[name]
  assert isinstance(opt, tf_keras.optimizers.legacy.Optimizer)
  assert type(opt).__name__ == cls_name
  assert opt.get_config()['learning_rate'] == pytest.approx(rate)


def test_v2_name_with_rate():
  opt = optimizers.get_optimizer_instance_v2('Adam', learning_rate=0.3)
  assert opt.get_config()['learning_rate'] == pytest.approx(0.3)


@pytest.mark.parametrize('name', sorted(V1_CLASSES))
def test_v1_name_builds_compat_v1_optimizer(name):
  opt = optimizers.get_optimizer_instance(name, learning_rate=0.05)
  assert type(opt) is V1_CLASSES[name]  # pylint: disable=unidiomatic-typecheck
  # Adam keeps its rate as `_lr`, the others as `_learning_rate`.
  rate = getattr(opt, '_learning_rate', getattr(opt, '_lr', None))
  assert rate == 0.05


def test_instances_and_callables_pass_through():
  v1 = tf.compat.v1.train.AdagradOptimizer(0.1)
  assert optimizers.get_optimizer_instance(v1) is v1
  assert optimizers.get_optimizer_instance(lambda: v1) is v1
  v2 = tf_keras.optimizers.legacy.SGD(0.2)
  assert optimizers.get_optimizer_instance_v2(v2) is v2
  assert optimizers.get_optimizer_instance_v2(lambda: v2) is v2


@pytest.mark.parametrize('call, message', [
    (lambda: optimizers.get_optimizer_instance('Foo', 0.1), UNSUPPORTED),
    (lambda: optimizers.get_optimizer_instance_v2('Foo'), UNSUPPORTED),
    (lambda: optimizers.get_optimizer_instance('SGD'),
     'learning_rate must be specified when opt is string.'),
    (lambda: optimizers.get_optimizer_instance(3),
     'The given object is not an Optimizer instance. Given: 3'),
    (lambda: optimizers.get_optimizer_instance_v2(3),
     'The given object is not a tf.keras.optimizers.Optimizer instance. '
     'Given: 3'),
])
def test_errors_match_2_15(call, message):
  with pytest.raises(ValueError) as info:
    call()
  assert str(info.value) == message


def test_v2_rejects_v1_optimizer():
  with pytest.raises(ValueError, match='not a tf.keras.optimizers.Optimizer'):
    optimizers.get_optimizer_instance_v2(
        tf.compat.v1.train.AdagradOptimizer(0.1))


def test_v2_new_style_keras_optimizer_converted_eagerly_rejected_in_graph():
  opt = optimizers.get_optimizer_instance_v2(tf_keras.optimizers.Adam(0.3))
  assert isinstance(opt, tf_keras.optimizers.legacy.Adam)
  assert opt.get_config()['learning_rate'] == pytest.approx(0.3)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=r'tf\.keras\.optimizers\.legacy\.Adam'):
      optimizers.get_optimizer_instance_v2(tf_keras.optimizers.Adam())
