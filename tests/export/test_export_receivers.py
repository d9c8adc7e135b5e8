"""Tests for tfcompat_estimator.export (receivers and re-exported outputs).

Names, shapes, keys and error types were checked against the reference
tensorflow-estimator 2.15 and are hard-coded here as facts.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator import export
from tfcompat_estimator.export import receivers


@pytest.fixture
def graph():
  with tf.Graph().as_default() as g:
    yield g


@pytest.fixture
def ph(graph):
  return tf.compat.v1.placeholder(tf.float32, [None], name='p')


def test_public_names_match_2_15():
  # dir(tf.estimator.export) == dir(tf.compat.v1.estimator.export) in 2.15.
  assert sorted(export.__all__) == [
      'ClassificationOutput', 'EvalOutput', 'ExportOutput', 'PredictOutput',
      'RegressionOutput', 'ServingInputReceiver', 'TensorServingInputReceiver',
      'build_parsing_serving_input_receiver_fn',
      'build_raw_serving_input_receiver_fn']
  from tensorflow.python.saved_model.model_utils import export_output  # pylint: disable=g-import-not-at-top
  assert export.PredictOutput is export_output.PredictOutput
  assert issubclass(export.ClassificationOutput, export.ExportOutput)


# ------------------------------------------------------------------ receivers


def test_serving_receiver_wraps_single_tensors(ph):
  receiver = export.ServingInputReceiver(ph, ph)
  assert receiver._fields == ('features', 'receiver_tensors',
                              'receiver_tensors_alternatives')
  assert receiver.features == {'feature': ph}
  assert receiver.receiver_tensors == {'input': ph}
  assert receiver.receiver_tensors_alternatives is None


def test_serving_receiver_accepts_sparse_ragged_int_feature_keys(ph):
  sparse = tf.sparse.SparseTensor([[0, 0]], [1.0], [2, 2])
  ragged = tf.ragged.constant([[1], [2, 3]])
  features = {'s': sparse, 1: ragged}
  receiver = export.ServingInputReceiver(features, {'p': ph})
  assert receiver.features is features
  assert receiver.receiver_tensors == {'p': ph}


def test_serving_receiver_alternatives_are_wrapped(ph):
  receiver = export.ServingInputReceiver(ph, ph, {'alt': ph, 'alt2': {'x': ph}})
  assert receiver.receiver_tensors_alternatives == {
      'alt': {'input': ph}, 'alt2': {'x': ph}}


@pytest.mark.parametrize('make_args, match', [
    (lambda t: (None, t), 'features must be defined'),
    (lambda t: (t, None), 'receiver_tensors must be defined'),
    (lambda t: ({1.5: t}, t), 'feature keys must be strings or ints: 1.5'),
    (lambda t: (t, {1: t}), 'receiver_tensor keys must be strings: 1'),
    (lambda t: ({'a': np.ones(2)}, t), 'feature a must be a Tensor'),
    (lambda t: ([1.0], t), 'feature feature must be a Tensor'),
    (lambda t: (t, {'r': 3}), 'receiver_tensor r must be a Tensor'),
    (lambda t: (tf.compat.v1.Variable(1.0), t), 'must be a Tensor'),
    (lambda t: (t, t, t), 'receiver_tensors_alternatives must be a dict'),
    (lambda t: (t, t, {'alt': {'x': 1}}),
     'receiver_tensors_alternative x must be a Tensor'),
    (lambda t: (t, t, {'alt': {2: t}}),
     'receiver_tensors_alternative keys must be strings: 2'),
])
def test_serving_receiver_validation(ph, make_args, match):
  with pytest.raises(ValueError, match=match):
    export.ServingInputReceiver(*make_args(ph))


def test_objects_with_a_convertible_tensor_are_accepted(ph):
  """2.15's carve-out for LabeledTensor: a `.tensor` that converts."""

  class Labeled:

    def __init__(self, tensor):
      self.tensor = tensor

  tf.register_tensor_conversion_function(
      Labeled, lambda value, dtype=None, name=None, as_ref=False: value.tensor)
  receiver = export.ServingInputReceiver({"x": Labeled(ph)}, ph)
  assert isinstance(receiver.features['x'], Labeled)

  class NotConvertible:
    tensor = 'text'

  with pytest.raises(ValueError, match='feature x must be a Tensor'):
    export.ServingInputReceiver({"x": NotConvertible()}, ph)


def test_tensor_serving_receiver_keeps_feature_unwrapped(ph):
  receiver = export.TensorServingInputReceiver(ph, ph, {'alt': ph})
  assert receiver.features is ph
  assert receiver.receiver_tensors == {'input': ph}
  assert receiver.receiver_tensors_alternatives == {'alt': {'input': ph}}
  with pytest.raises(ValueError, match='features must be defined'):
    export.TensorServingInputReceiver(None, ph)
  with pytest.raises(ValueError, match='must be a Tensor'):
    export.TensorServingInputReceiver({'a': ph}, ph)


def test_unsupervised_and_supervised_receivers(ph):
  unsupervised = receivers.UnsupervisedInputReceiver(ph, ph)
  assert isinstance(unsupervised, export.ServingInputReceiver)
  assert unsupervised.features == {'feature': ph}
  assert unsupervised.receiver_tensors_alternatives is None

  supervised = receivers.SupervisedInputReceiver(ph, ph, ph)
  assert supervised._fields == ('features', 'labels', 'receiver_tensors')
  assert supervised.features is ph and supervised.labels is ph  # not wrapped
  assert supervised.receiver_tensors == {'input': ph}
  with pytest.raises(ValueError, match='labels must be defined'):
    receivers.SupervisedInputReceiver(ph, None, ph)
  with pytest.raises(ValueError, match='label label must be a Tensor'):
    receivers.SupervisedInputReceiver(ph, 3, ph)


# ------------------------------------------------------------------- builders


_SPEC = {'x': tf.io.FixedLenFeature([2], tf.float32),
         'v': tf.io.VarLenFeature(tf.string)}


def test_parsing_receiver_graph_structure(graph):
  receiver = export.build_parsing_serving_input_receiver_fn(
      _SPEC, default_batch_size=3)()
  examples = receiver.receiver_tensors['examples']
  assert list(receiver.receiver_tensors) == ['examples']
  assert examples.name == 'input_example_tensor:0'
  assert examples.dtype == tf.string
  assert examples.shape.as_list() == [3]
  assert receiver.features['x'].shape.as_list() == [3, 2]
  assert isinstance(receiver.features['v'], tf.SparseTensor)


def test_parsing_receiver_parses_real_examples():
  holder = {}

  def build():
    holder['receiver'] = export.build_parsing_serving_input_receiver_fn(
        _SPEC)()

  wrapped = tf.compat.v1.wrap_function(build, signature=[])
  receiver = holder['receiver']
  parse = wrapped.prune(feeds=receiver.receiver_tensors['examples'],
                        fetches=receiver.features)
  serialized = []
  for x, v in (([1.0, 2.0], [b'a', b'b']), ([3.0, 4.0], [b'c'])):
    example = tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(value=x)),
        'v': tf.train.Feature(bytes_list=tf.train.BytesList(value=v)),
    }))
    serialized.append(example.SerializeToString())
  parsed = parse(tf.constant(serialized))
  np.testing.assert_array_equal(parsed['x'], [[1.0, 2.0], [3.0, 4.0]])
  assert parsed['v'].values.numpy().tolist() == [b'a', b'b', b'c']
  assert parsed['v'].indices.numpy().tolist() == [[0, 0], [0, 1], [1, 0]]


def _source_tensors():
  """Tensors from another graph: only their names, dtypes, shapes matter."""
  with tf.Graph().as_default():
    return {'a': tf.constant([[1.0, 2.0]], name='aa'),
            'b': tf.constant([1, 2], dtype=tf.int64, name='scope/b'),
            'sc': tf.constant(3)}


def test_raw_serving_receiver_mirrors_tensors(graph):
  source = _source_tensors()
  receiver = export.build_raw_serving_input_receiver_fn(source)()
  assert receiver.features is receiver.receiver_tensors
  got = {k: (t.name, t.dtype, t.shape.as_list())
         for k, t in receiver.features.items()}
  # 2.15: op names reused; a scalar source still gets a batch dimension.
  assert got == {'a': ('aa:0', tf.float32, [None, 2]),
                 'b': ('scope/b:0', tf.int64, [None]),
                 'sc': ('Const:0', tf.int32, [None])}
  assert all(t.op.type == 'Placeholder' for t in receiver.features.values())
  sized = export.build_raw_serving_input_receiver_fn(
      {'a': source['a']}, default_batch_size=7)()
  assert sized.features['a'].name == 'aa_1:0'
  assert sized.features['a'].shape.as_list() == [7, 2]


def test_raw_serving_receiver_from_eager_tensors():
  source = {'e': tf.constant([[1, 2]])}  # eager tensors carry no op name
  with tf.Graph().as_default():
    receiver = export.build_raw_serving_input_receiver_fn(source)()
  assert receiver.features['e'].name == 'Placeholder:0'
  assert receiver.features['e'].shape.as_list() == [None, 2]


def test_raw_receivers_need_a_graph():
  with pytest.raises(RuntimeError):
    export.build_raw_serving_input_receiver_fn(
        {'e': tf.constant([[1, 2]])})()


def test_raw_supervised_receiver(graph):
  source = _source_tensors()
  receiver = receivers.build_raw_supervised_input_receiver_fn(
      {'a': source['a']}, {'l': source['b']})()
  assert receiver.features is not receiver.receiver_tensors
  assert sorted(receiver.receiver_tensors) == ['a', 'l']
  assert receiver.labels['l'].name == 'scope/b:0'

  single = receivers.build_raw_supervised_input_receiver_fn(
      source['a'], source['b'], default_batch_size=4)()
  assert single.receiver_tensors == {'input': single.features,
                                     'label': single.labels}
  assert single.features.shape.as_list() == [4, 2]


@pytest.mark.parametrize('features, labels, overlap', [
    ({'a': 1}, {'a': 2}, "{'a'}"),
    ({'label': 1}, 2, "{'label'}"),  # a lone label is keyed 'label'
    (1, {'input': 2}, "{'input'}"),  # a lone feature is keyed 'input'
])
def test_raw_supervised_receiver_overlapping_keys(features, labels, overlap):
  # Checked eagerly, before any placeholder is made.
  with pytest.raises(ValueError, match='overlapping keys: ' + overlap):
    receivers.build_raw_supervised_input_receiver_fn(features, labels)


def test_supervised_receiver_from_dataset_input_fn(graph):
  def input_fn(scale=1):
    return tf.data.Dataset.from_tensor_slices(
        ({'f': np.ones((4, 3), np.float32) * scale, 'g': np.arange(4)},
         np.arange(4))).batch(2)

  receiver_fn = receivers.build_supervised_input_receiver_fn_from_input_fn(
      input_fn, scale=2)
  assert not graph.get_operations()  # input_fn ran in a throwaway graph
  receiver = receiver_fn()
  got = {k: (t.name, t.dtype, t.shape.as_list())
         for k, t in receiver.receiver_tensors.items()}
  # 2.15 names the placeholders after the iterator's get_next op.
  assert got == {'f': ('IteratorGetNext:0', tf.float32, [None, 3]),
                 'g': ('IteratorGetNext_1:0', tf.int64, [None]),
                 'label': ('IteratorGetNext_2:0', tf.int64, [None])}
  assert receiver.labels is receiver.receiver_tensors['label']


def test_supervised_receiver_from_tuple_input_fn(graph):
  receiver = receivers.build_supervised_input_receiver_fn_from_input_fn(
      lambda: ({'f': tf.ones([2, 3])}, tf.zeros([2])))()
  assert receiver.features['f'].name == 'ones:0'
  assert receiver.labels.name == 'zeros:0'
  with pytest.raises(ValueError, match='len 2 tuple'):
    receivers.build_supervised_input_receiver_fn_from_input_fn(
        lambda: (tf.ones([2]),) * 3)


def test_util_parse_input_fn_result_as_2_15():
  """2.15's util: a Dataset gets an initializable iterator and its hook."""
  from tensorflow_estimator.python.estimator import util  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    features, labels, hooks = util.parse_input_fn_result(
        tf.data.Dataset.from_tensors(({'x': [1., 2.]}, [3.])))
    with tf.compat.v1.train.MonitoredSession(hooks=hooks) as sess:
      values = sess.run((features, labels))
  assert values[0]['x'].tolist() == [1., 2.] and values[1].tolist() == [3.]
  with pytest.raises(ValueError, match='input_fn should return'):
    util.parse_iterator_result((1, 2, 3))
