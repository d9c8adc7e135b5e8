"""Mutable tables in a model_fn: kept between calls, checkpointed, exported.

A model_fn that keeps state in a `MutableHashTable` lost it here: the table
was empty again in evaluate() and predict(), checkpoints lacked it and an
export failed to restore it. The expected values were measured on
tensorflow-estimator 2.15 (TF 2.15.1) with the same program, in TF2 and TF1
worlds alike: after 3 steps evaluation sees 3 entries and key 3 missing
(-1.0); after 2 more, 5 entries and key 3 -> 10.5; the checkpoint keys are
`mht-keys` and `mht-values`; the export serves the trained table.
"""

import inspect
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import own_process
from tests.helpers import reference_runner
from tfcompat_estimator.io import checkpoints

_v1 = tf.compat.v1


def _model_fn(features, labels, mode):
  """Inserts `step -> 7.5 + step` at every training step."""
  table = tf.lookup.experimental.MutableHashTable(
      tf.int64, tf.float32, default_value=-1.0, name='mht')
  x = features['x']
  size = tf.fill(tf.shape(x)[:1], table.size())
  at_3 = tf.fill(tf.shape(x)[:1], table.lookup(tf.constant([3], tf.int64))[0])
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions={'size': size, 'at_3': at_3})
  w = _v1.get_variable('w', [1, 1])
  loss = tf.reduce_mean(tf.square(tf.matmul(tf.cast(x, tf.float32), w) - labels))
  step = _v1.train.get_or_create_global_step()
  insert = table.insert(tf.reshape(step, [1]),
                        tf.constant([7.5]) + tf.cast(step, tf.float32))
  with tf.control_dependencies([insert]):
    train_op = _v1.train.GradientDescentOptimizer(0.01).minimize(loss, step)
  return tf.estimator.EstimatorSpec(
      mode, loss=loss, train_op=train_op,
      eval_metric_ops={'size': _v1.metrics.mean(size),
                       'at_3': _v1.metrics.mean(at_3)})


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(
      ({'x': np.ones((8, 1), np.int64)}, np.ones((8, 1), np.float32))
  ).batch(2).repeat()


def _serving_input_receiver_fn():
  x = _v1.placeholder(tf.int64, [None, 1], name='x')
  return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})


def _serve(export_dir):
  with tf.Graph().as_default(), _v1.Session() as session:
    meta_graph = _v1.saved_model.load(session, ['serve'], export_dir)
    signature = meta_graph.signature_def['serving_default']
    out = session.run({k: v.name for k, v in signature.outputs.items()},
                      {signature.inputs['x'].name: [[1]]})
  return {k: v.tolist() for k, v in out.items()}


def _observe(model_dir):
  """What the program above sees on each call (JSON-ready)."""
  est = tf.estimator.Estimator(_model_fn, model_dir)
  est.train(_input_fn, steps=3)
  first = est.evaluate(_input_fn, steps=1)
  est.train(_input_fn, steps=2)
  second = est.evaluate(_input_fn, steps=1)
  reader = tf.train.load_checkpoint(est.latest_checkpoint())
  export_dir = est.export_saved_model(os.path.join(model_dir, 'export'),
                                      _serving_input_receiver_fn)
  prediction = next(est.predict(_input_fn))
  return {
      'first': [float(first['size']), float(first['at_3'])],
      'second': [float(second['size']), float(second['at_3'])],
      'keys': sorted(reader.get_tensor('mht-keys').tolist()),
      'values': sorted(reader.get_tensor('mht-values').tolist()),
      'predicted': [int(prediction['size']), float(prediction['at_3'])],
      'served': _serve(export_dir),
  }


def _assert_as_on_2_15(got):
  assert got['first'] == [3.0, -1.0]
  assert got['second'] == [5.0, 10.5]
  assert got['keys'] == [0, 1, 2, 3, 4]
  assert got['values'] == [7.5, 8.5, 9.5, 10.5, 11.5]
  assert got['predicted'] == [5, 10.5]
  assert got['served'] == {'size': [5], 'at_3': [10.5]}


def test_a_table_is_kept_checkpointed_and_exported_as_on_2_15(tmp_path):
  _assert_as_on_2_15(_observe(str(tmp_path)))


def test_two_estimators_keep_tables_of_their_own(tmp_path):
  """TF1 shared the table by node name within a Session; here within a graph."""
  first = tf.estimator.Estimator(_model_fn, str(tmp_path / 'a'))
  first.train(_input_fn, steps=3)
  second = tf.estimator.Estimator(_model_fn, str(tmp_path / 'b'))
  second.train(_input_fn, steps=1)
  assert second.evaluate(_input_fn, steps=1)['size'] == 1.0
  assert first.evaluate(_input_fn, steps=1)['size'] == 3.0


def test_a_checkpoint_without_the_table_is_refused_by_name(tmp_path):
  def without_table(features, labels, mode):
    del features
    w = _v1.get_variable('w', [1, 1])
    loss = tf.reduce_mean(tf.square(w - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.train.GradientDescentOptimizer(
            0.01).minimize(loss, _v1.train.get_or_create_global_step()))

  tf.estimator.Estimator(without_table, str(tmp_path)).train(_input_fn, steps=1)
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"lacks tables the model needs: \['mht-keys', "
                     r"'mht-values'\]"):
    tf.estimator.Estimator(_model_fn, str(tmp_path)).evaluate(_input_fn, steps=1)


def test_a_variable_among_the_saveables_is_checkpointed_as_on_2_15(tmp_path):
  """TF1's Saver saved SAVEABLE_OBJECTS too; 2.15 evaluated 3.0, then 5.0.

  `v1.metrics.mean(variable)` also puts the variable in a
  `tf.control_dependencies`, which failed on a model graph's variable.
  """

  def model_fn(features, labels, mode):
    counter = _v1.Variable([0.], trainable=False, name='counter',
                           collections=[_v1.GraphKeys.SAVEABLE_OBJECTS])
    w = _v1.get_variable('w', [1])
    loss = tf.reduce_mean(tf.square(w - labels)) + 0 * features['x'][0, 0]
    with tf.control_dependencies([counter.assign_add([1.])]):
      train_op = _v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, _v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op,
        eval_metric_ops={'counter': _v1.metrics.mean(counter)},
        scaffold=_v1.train.Scaffold(init_op=tf.group(
            counter.initializer, _v1.global_variables_initializer())))

  def input_fn():
    return _input_fn().map(lambda f, l: ({'x': tf.cast(f['x'], tf.float32)}, l))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=3)
  assert est.evaluate(input_fn, steps=1)['counter'] == 3.0
  assert 'counter' in [name for name, _ in tf.train.list_variables(str(tmp_path))]
  est.train(input_fn, steps=2)
  assert est.evaluate(input_fn, steps=1)['counter'] == 5.0


def test_an_object_that_cannot_be_saved_is_named(tmp_path):
  """2.15's Saver failed on it with an AttributeError ('name')."""

  def model_fn(features, labels, mode):
    _v1.add_to_collection(_v1.GraphKeys.SAVEABLE_OBJECTS, 'not a saveable')
    return _model_fn(features, labels, mode)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  with pytest.raises(TypeError, match="holds 'not a saveable', which is "
                     'neither a variable nor a SaveableObject'):
    est.train(_input_fn, steps=1)


_CONTINUE = '''
import json
import sys
import numpy as np
import tensorflow as tf
_v1 = tf.compat.v1
{model_fn}
{input_fn}
est = tf.estimator.Estimator(_model_fn, {model_dir!r})
est.train(_input_fn, steps={steps})
metrics = est.evaluate(_input_fn, steps=1)
with open(sys.argv[1], 'w') as f:
  json.dump([float(metrics['size']), float(metrics['at_3'])], f)
'''


@pytest.mark.slow
@pytest.mark.parametrize('first,then', [('2.15', 'ours'), ('ours', '2.15')])
def test_training_continues_across_stacks_with_the_table(
    tmp_path, venv215_python, first, then):
  pythons = {'2.15': venv215_python, 'ours': sys.executable}
  preludes = {'2.15': '', 'ours': reference_runner.OURS_PRELUDE}
  env = reference_runner.scenario_env()
  seen = []
  for stack, steps in ((first, 3), (then, 2)):
    source = preludes[stack] + _CONTINUE.format(
        model_fn=inspect.getsource(_model_fn),
        input_fn=inspect.getsource(_input_fn),
        model_dir=str(tmp_path / 'model'), steps=steps)
    seen.append(reference_runner.run_script(
        pythons[stack], source, tmp_path, f'{stack}_{steps}',
        env if stack == 'ours' else
        {k: v for k, v in env.items() if k != 'TF_USE_LEGACY_KERAS'}))
  assert seen == [[3.0, -1.0], [5.0, 10.5]]


def test_in_a_tf1_world_as_on_2_15(tmp_path):
  """`disable_v2_behavior()` is process-wide: a process of its own."""
  _assert_as_on_2_15(own_process.run_json(__file__, tmp_path))


if __name__ == '__main__':
  import tfcompat_estimator  # pylint: disable=g-import-not-at-top
  tfcompat_estimator.install()
  _v1.disable_v2_behavior()
  print(json.dumps(_observe(sys.argv[1])))
