"""Tests for tfcompat_estimator.inputs.

Expected batches were produced by the reference tensorflow-estimator 2.15
(queue-based) implementation on the same inputs with shuffle=False; they are
hard-coded here as facts.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.inputs import graph_queue
from tfcompat_estimator.inputs import numpy_input_fn
from tfcompat_estimator.inputs import pandas_input_fn


def _batches(dataset, limit=100):
  """Every element of `dataset` (at most `limit`) as nested numpy values."""
  return [tf.nest.map_structure(lambda t: t.numpy(), element)
          for element in dataset.take(limit)]


def _tolist(structure):
  return tf.nest.map_structure(lambda a: a.tolist(), structure)


# ---------------------------------------------------------------- numpy_input_fn


def test_numpy_dict_batches_span_epochs_and_keep_dtypes():
  x = {'b': np.arange(5.0), 'a': np.arange(10, 15)}
  y = np.arange(-5, 0)
  dataset = numpy_input_fn(x, y, batch_size=2, num_epochs=2, shuffle=False)()
  batches = _batches(dataset)
  # 2.15: 5 batches, the third spans the epoch boundary; no short batch here.
  assert [_tolist(b) for b in batches] == [
      ({'a': [10, 11], 'b': [0.0, 1.0]}, [-5, -4]),
      ({'a': [12, 13], 'b': [2.0, 3.0]}, [-3, -2]),
      ({'a': [14, 10], 'b': [4.0, 0.0]}, [-1, -5]),
      ({'a': [11, 12], 'b': [1.0, 2.0]}, [-4, -3]),
      ({'a': [13, 14], 'b': [3.0, 4.0]}, [-2, -1]),
  ]
  features_spec, labels_spec = dataset.element_spec
  assert features_spec['a'].dtype == tf.int64
  assert features_spec['b'].dtype == tf.float64
  assert labels_spec.dtype == tf.int64
  # Like dequeue_up_to: the batch dimension is unknown for finite epochs.
  assert labels_spec.shape.as_list() == [None]


def test_numpy_final_partial_batch_and_dict_labels():
  dataset = numpy_input_fn({'a': np.arange(3)},
                           {'t': np.arange(3) * 2, 's': np.arange(3) * 3},
                           batch_size=2, shuffle=False)()
  # 2.15 emits the short last batch when num_epochs is set.
  assert [_tolist(b) for b in _batches(dataset)] == [
      ({'a': [0, 1]}, {'s': [0, 3], 't': [0, 2]}),
      ({'a': [2]}, {'s': [6], 't': [4]}),
  ]


def test_numpy_array_x_forever_gives_full_static_batches():
  x = np.arange(5).reshape(5, 1) * 1.0
  dataset = numpy_input_fn(x, batch_size=2, num_epochs=None, shuffle=False)()
  assert dataset.element_spec.shape.as_list() == [2, 1]  # dequeue_many
  assert dataset.element_spec.dtype == tf.float64
  assert [b.tolist() for b in _batches(dataset, limit=4)] == [
      [[0.0], [1.0]], [[2.0], [3.0]], [[4.0], [0.0]], [[1.0], [2.0]]]


def test_numpy_multidim_features():
  dataset = numpy_input_fn({'a': np.arange(6).reshape(3, 2)}, np.arange(3),
                           batch_size=2, shuffle=False)()
  assert [_tolist(b) for b in _batches(dataset)] == [
      ({'a': [[0, 1], [2, 3]]}, [0, 1]), ({'a': [[4, 5]]}, [2])]


def test_numpy_dtypes_preserved_and_strings_become_tf_string():
  x = {'i32': np.arange(3, dtype=np.int32),
       'bool': np.array([True, False, True]),
       'f16': np.ones(3, np.float16),
       'unicode': np.array(['x', 'yy', 'z']),
       'bytes': np.array([b'x', b'yy', b'z']),
       'object': np.array(['x', 'yy', 'z'], dtype=object)}
  dataset = numpy_input_fn(x, batch_size=2, shuffle=False)()
  dtypes = {k: s.dtype for k, s in dataset.element_spec.items()}
  assert dtypes == {'i32': tf.int32, 'bool': tf.bool, 'f16': tf.float16,
                    'unicode': tf.string, 'bytes': tf.string,
                    'object': tf.string}
  first = _batches(dataset)[0]
  for key in ('unicode', 'bytes', 'object'):
    assert first[key].tolist() == [b'x', b'yy']


def test_numpy_num_threads_multiplies_epochs():
  # 2.15: every reader thread walks the data num_epochs times.
  dataset = numpy_input_fn({'a': np.arange(3)}, batch_size=10, shuffle=False,
                           num_threads=2)()
  assert [b['a'].tolist() for b in _batches(dataset)] == [[0, 1, 2, 0, 1, 2]]


def test_numpy_zero_epochs_is_empty():
  dataset = numpy_input_fn({'a': np.arange(3)}, num_epochs=0, shuffle=False)()
  assert _batches(dataset) == []


def test_numpy_shuffle_keeps_every_row_per_epoch_count():
  dataset = numpy_input_fn({'a': np.arange(7)}, np.arange(7) * 10,
                           batch_size=3, num_epochs=3, shuffle=True)()
  batches = _batches(dataset)
  rows = np.concatenate([f['a'] for f, _ in batches])
  labels = np.concatenate([l for _, l in batches])
  assert sorted(rows.tolist()) == sorted(list(range(7)) * 3)
  np.testing.assert_array_equal(labels, rows * 10)  # rows stay aligned


@pytest.mark.parametrize('shuffle', [None, 1, 'yes'])
def test_numpy_shuffle_must_be_bool(shuffle):
  with pytest.raises(ValueError, match='shuffle'):
    numpy_input_fn({'a': np.arange(3)}, shuffle=shuffle)


@pytest.mark.parametrize('x, y, error, match', [
    ({}, None, ValueError, 'x cannot be an empty dict'),
    (np.array([]), None, ValueError, 'x cannot be an empty array'),
    ([1, 2], None, TypeError, 'x must be a dict or array; got list'),
    ({'a': np.arange(3)}, {}, ValueError, 'y cannot be empty dict'),
    ({'a': np.arange(3)}, {'a': np.arange(3)}, ValueError, "duplicate.*'a'"),
    ({'a': np.arange(3), 'b': np.arange(4)}, None, ValueError,
     r"x\['b'\]: 4"),
    ({'a': np.arange(3)}, np.arange(4), ValueError, 'y: 4'),
    ({'a': np.arange(3)}, {'t': np.arange(2)}, ValueError, r"y\['t'\]: 2"),
])
def test_numpy_invalid_data_raises_when_input_fn_is_called(x, y, error, match):
  input_fn = numpy_input_fn(x, y, shuffle=False)  # 2.15 checks data lazily
  with pytest.raises(error, match=match):
    input_fn()


def _run_queued(input_fn):
  """Every batch a graph-mode input_fn gives in its own session, as 2.15 ran it.

  Returns the batches and the graph's summary tags.
  """
  with tf.Graph().as_default() as graph:
    batch = input_fn()
    tags = [t.op.name for t in graph.get_collection(
        tf.compat.v1.GraphKeys.SUMMARIES)]
    batches = []
    with tf.compat.v1.Session() as sess:
      coord = tf.compat.v1.train.Coordinator()
      threads = tf.compat.v1.train.start_queue_runners(sess, coord=coord)
      try:
        while True:
          batches.append(_tolist(sess.run(batch)))
      except tf.errors.OutOfRangeError:
        pass
      coord.request_stop()
      coord.join(threads)
  return batches, tags


def test_numpy_input_fn_in_graph_mode_reads_a_queue():
  # 2.15 returned tensors of a queue that a queue runner fills, and an
  # OutOfRangeError after the last (short) batch; epochs run across batches.
  input_fn = numpy_input_fn({'a': np.arange(3)}, np.arange(10, 13),
                            batch_size=2, num_epochs=2, shuffle=False)
  batches, tags = _run_queued(input_fn)
  assert batches == [({'a': [0, 1]}, [10, 11]), ({'a': [2, 0]}, [12, 10]),
                     ({'a': [1, 2]}, [11, 12])]
  assert tags == ['enqueue_input/queue/enqueue_input/'
                  'fifo_queuefraction_over_0_of_1000_full']


def test_numpy_input_fn_in_graph_mode_shuffles_in_a_shuffle_queue():
  input_fn = numpy_input_fn(np.arange(40), batch_size=8, num_epochs=1,
                            shuffle=True, queue_capacity=1000)
  batches, tags = _run_queued(input_fn)
  rows = [row for batch in batches for row in batch]
  assert sorted(rows) == list(range(40)) and rows != list(range(40))
  # The tag 2.15 wrote (a quarter of the capacity stays for shuffling).
  assert tags == ['enqueue_input/queue/enqueue_input/'
                  'random_shuffle_queuefraction_over_250_of_750_full']


def test_numpy_input_fn_in_graph_mode_keeps_the_arrays_out_of_the_graph():
  # As constants, 55,000 MNIST-sized rows cost a TF1 program 14 s and 4.4 GB
  # before its first step (copied into the queue's iterator, the serialized
  # graph and the rebuilt Dataset).
  x = np.arange(200000, dtype=np.float32).reshape(20000, 10)
  input_fn = numpy_input_fn({'x': x}, x[:, 0], batch_size=4, num_epochs=1,
                            shuffle=False)
  with tf.Graph().as_default() as graph:
    input_fn()
    assert graph.as_graph_def().ByteSize() < x.nbytes / 20
  batches, _ = _run_queued(input_fn)
  assert len(batches) == 5000
  assert batches[-1] == ({'x': x[-4:].tolist()}, x[-4:, 0].tolist())


def test_numpy_input_fn_called_in_a_graph_trains_on_its_rows(tmp_path):
  x = np.random.RandomState(0).rand(64, 2).astype(np.float32)
  y = x.sum(1, keepdims=True)

  def model_fn(features, labels, mode):
    logits = tf.compat.v1.layers.dense(
        features['x'], 1, use_bias=False,
        kernel_initializer=tf.compat.v1.zeros_initializer())
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  with tf.Graph().as_default():  # a TF1-style caller
    est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
    est.train(numpy_input_fn({'x': x}, y, batch_size=8, num_epochs=None,
                             shuffle=False), steps=10)
  expected = np.zeros((2, 1), np.float32)
  for step in range(10):  # the same 10 steps of gradient descent by hand
    rows = np.arange(step * 8, step * 8 + 8) % 64  # epochs run on
    error = x[rows] @ expected - y[rows]
    expected -= 0.1 * 2 * x[rows].T @ error / 8
  np.testing.assert_allclose(est.get_variable_value('dense/kernel'), expected,
                             rtol=1e-4)


def test_numpy_input_fn_in_a_graph_gives_the_estimator_its_rows_shuffled():
  input_fn = numpy_input_fn(np.arange(40), batch_size=8, num_epochs=2,
                            shuffle=True, queue_capacity=1000)
  with tf.Graph().as_default() as graph:
    graph.seed = 7
    queued = input_fn()
    eager_batches = graph_queue.batches_behind(graph, queued)
  assert not graph.get_collection(tf.compat.v1.GraphKeys.QUEUE_RUNNERS)
  rows = [row for batch in _batches(eager_batches()) for row in batch]
  assert sorted(rows) == sorted(list(range(40)) * 2)
  assert rows != list(range(40)) * 2


# --------------------------------------------------------------- pandas_input_fn


@pytest.fixture
def pd():
  return pytest.importorskip('pandas')


@pytest.fixture
def frame(pd):
  return pd.DataFrame(
      {'b': np.arange(5.0), 'a': np.arange(10, 15),
       's': ['p', 'q', 'r', 's', 't']},
      index=np.arange(100, 105))


def test_pandas_series_labels(pd, frame):
  y = pd.Series(np.arange(-5, 0), index=frame.index, name='ignored')
  dataset = pandas_input_fn(frame, y, batch_size=2, num_epochs=2,
                            shuffle=False)()
  batches = [_tolist(b) for b in _batches(dataset)]
  # 2.15 batches, string column decoded from bytes only for readability here.
  assert [(f['a'], f['b'], l) for f, l in batches] == [
      ([10, 11], [0.0, 1.0], [-5, -4]),
      ([12, 13], [2.0, 3.0], [-3, -2]),
      ([14, 10], [4.0, 0.0], [-1, -5]),
      ([11, 12], [1.0, 2.0], [-4, -3]),
      ([13, 14], [3.0, 4.0], [-2, -1]),
  ]
  assert batches[2][0]['s'] == [b't', b'p']
  features_spec, labels_spec = dataset.element_spec
  assert set(features_spec) == {'a', 'b', 's'}
  assert features_spec['s'].dtype == tf.string
  assert features_spec['b'].dtype == tf.float64
  assert labels_spec.dtype == tf.int64


def test_pandas_no_labels_short_last_batch(frame):
  dataset = pandas_input_fn(frame, batch_size=3, shuffle=False)()
  assert [b['a'].tolist() for b in _batches(dataset)] == [[10, 11, 12],
                                                          [13, 14]]


def test_pandas_dataframe_labels_may_reuse_feature_names(pd, frame):
  y = pd.DataFrame({'a': np.arange(5) * 2, 'z': np.arange(5) * 3.0},
                   index=frame.index)
  dataset = pandas_input_fn(frame, y, batch_size=3, shuffle=False)()
  batches = [_tolist(b) for b in _batches(dataset)]
  # 2.15: labels keyed by y's columns; x's 'a' is untouched.
  assert [(f['a'], l) for f, l in batches] == [
      ([10, 11, 12], {'a': [0, 2, 4], 'z': [0.0, 3.0, 6.0]}),
      ([13, 14], {'a': [6, 8], 'z': [9.0, 12.0]}),
  ]


def test_pandas_dtypes_int_column_labels_and_threads(pd):
  x = pd.DataFrame({'i32': np.arange(2, dtype=np.int32),
                    'f32': np.ones(2, np.float32), 'bo': [True, False]})
  spec = pandas_input_fn(x, shuffle=False)().element_spec
  assert {k: s.dtype for k, s in spec.items()} == {
      'i32': tf.int32, 'f32': tf.float32, 'bo': tf.bool}
  x = pd.DataFrame({0: [1, 2], 1: [3.0, 4.0]})
  batches = _batches(pandas_input_fn(x, shuffle=False, num_threads=2)())
  assert [_tolist(b) for b in batches] == [{0: [1, 2, 1, 2],
                                            1: [3.0, 4.0, 3.0, 4.0]}]


def test_pandas_snapshot_taken_at_creation(pd, frame):
  input_fn = pandas_input_fn(frame, batch_size=5, shuffle=False)
  frame['a'] = 0
  assert _batches(input_fn())[0]['a'].tolist() == [10, 11, 12, 13, 14]


def test_pandas_target_column_collision(pd, frame):
  x = frame.assign(target=1)
  y = pd.Series(np.arange(5), index=frame.index)
  with pytest.raises(ValueError, match="'target'"):
    pandas_input_fn(x, y, shuffle=False)
  with pytest.raises(ValueError, match="'target'"):  # even for DataFrame y
    pandas_input_fn(x, pd.DataFrame({'l': y}), shuffle=False)
  # Without y the column is an ordinary feature; another name also works.
  assert 'target' in pandas_input_fn(x, shuffle=False)().element_spec
  pandas_input_fn(x, y, shuffle=False, target_column='label')


def test_pandas_validation(pd, frame):
  with pytest.raises(ValueError, match='Index for x and y are mismatched'):
    pandas_input_fn(frame, pd.Series(np.arange(5)), shuffle=False)
  with pytest.raises(ValueError, match='Index for x and y are mismatched'):
    pandas_input_fn(frame, pd.Series(np.arange(3), index=frame.index[:3]),
                    shuffle=False)
  with pytest.raises(ValueError, match='shuffle'):
    pandas_input_fn(frame)
  with pytest.raises(TypeError, match='target_column'):
    pandas_input_fn(frame, shuffle=False, target_column=1)
  with pytest.raises(TypeError, match='DataFrame'):
    pandas_input_fn(np.arange(3), shuffle=False)
  with pytest.raises(TypeError, match='Series or DataFrame'):
    pandas_input_fn(frame, np.arange(5), shuffle=False)


def test_pandas_input_fn_in_graph_mode_queues_string_columns(frame):
  input_fn = pandas_input_fn(frame, batch_size=2, num_epochs=1, shuffle=False)
  batches, _ = _run_queued(input_fn)
  assert [batch['s'] for batch in batches] == [
      [b'p', b'q'], [b'r', b's'], [b't']]
  assert [batch['a'] for batch in batches] == [[10, 11], [12, 13], [14]]


def test_pandas_missing_raises_import_and_type_error(monkeypatch):
  import builtins  # pylint: disable=g-import-not-at-top
  real_import = builtins.__import__

  def fake_import(name, *args, **kwargs):
    if name == 'pandas':
      raise ImportError('no pandas here')
    return real_import(name, *args, **kwargs)

  monkeypatch.setattr(builtins, '__import__', fake_import)
  for error in (ImportError, TypeError):
    with pytest.raises(error, match='pip install pandas'):
      pandas_input_fn(None, shuffle=False)
