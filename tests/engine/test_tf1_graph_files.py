"""What TF1 tools read beside the checkpoints: graph.pbtxt, .meta, graph events.

2.15 wrote `graph.pbtxt`, a `model.ckpt-N.meta` per checkpoint, and graph and
meta-graph events in the train and eval event files (TensorBoard's Graphs
tab). Scripts `import_meta_graph` a training checkpoint and restore it.
"""

import glob
import logging
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

v1 = tf.compat.v1


def _event_kinds(directory):
  kinds = {}
  for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*')):
    for event in v1.train.summary_iterator(path):
      kind = event.WhichOneof('what')
      kinds[kind] = kinds.get(kind, 0) + 1
  return kinds


def _dnn(model_dir, **config):
  """A v1 canned DNN: its variables are partition parts ('.../part_0'), its
  embedding table is split in two."""
  fc = tf.feature_column
  rs = np.random.RandomState(0)
  features = {'x': rs.rand(64, 4).astype(np.float32),
              'c': rs.randint(0, 10, size=(64, 1))}
  y = (features['x'].sum(1) > 2).astype(np.int32)
  est = v1.estimator.DNNClassifier(
      [8], [fc.numeric_column('x', shape=[4]), fc.embedding_column(
          fc.categorical_column_with_identity('c', 10), 4)],
      model_dir=model_dir, input_layer_partitioner=v1.fixed_size_partitioner(2),
      config=tf.estimator.RunConfig(save_checkpoints_steps=5,
                                    keep_checkpoint_max=2, **config))
  input_fn = lambda: tf.data.Dataset.from_tensor_slices(
      (features, y)).repeat().batch(16)
  est.train(input_fn, steps=15)
  est.evaluate(lambda: tf.data.Dataset.from_tensor_slices(
      (features, y)).batch(32))
  return est


def test_graph_files_beside_checkpoints(tmp_path):
  est = _dnn(str(tmp_path))
  names = sorted(os.listdir(tmp_path))
  assert 'graph.pbtxt' in names
  # keep_checkpoint_max=2: each kept checkpoint has its .meta, expired ones none.
  assert [n for n in names if n.endswith('.meta')] == [
      'model.ckpt-10.meta', 'model.ckpt-15.meta']
  graph_def = tf.compat.v1.GraphDef()
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  with open(tmp_path / 'graph.pbtxt') as f:
    text_format.Merge(f.read(), graph_def)
  ops = {node.name: node.op for node in graph_def.node}
  assert ops['dnn/logits/kernel/part_0'] == 'VarHandleOp'
  assert 'dnn/logits/MatMul' in ops
  # The model's own node names, as 2.15's graph had them: the partitioned
  # kernel's read is named like the variable (an import made it 'kernel_1').
  assert ops['dnn/logits/kernel'] == 'Identity'
  assert 'dnn/logits/kernel_1' not in ops
  for directory in (str(tmp_path), est.eval_dir()):
    kinds = _event_kinds(directory)
    assert kinds.get('graph_def') == 1 and kinds.get('meta_graph_def') == 1, (
        directory, kinds)


def test_graph_events_come_before_the_first_checkpoints_log(tmp_path):
  # 2.15's CheckpointSaverHook wrote them before its first save (as did its
  # cached writer, a second copy); a helper's CANINE run found them after.
  _dnn(str(tmp_path))
  (path,) = glob.glob(os.path.join(str(tmp_path), 'events.out.tfevents.*'))
  kinds = []
  for event in v1.train.summary_iterator(path):
    kind = event.WhichOneof('what')
    if kind == 'session_log':
      kind = v1.SessionLog.SessionStatus.Name(event.session_log.status)
    kinds.append((event.step, kind))
  assert kinds[:5] == [(0, 'file_version'), (0, 'graph_def'),
                       (0, 'meta_graph_def'), (0, 'CHECKPOINT'), (1, 'START')]


def test_meta_graph_saver_keeps_the_run_configs_retention(tmp_path):
  """A program that saves with the `.meta`'s Saver keeps what training kept.

  Its SaverDef held TF's defaults (5 and 10000 hours) whatever the
  RunConfig said; 2.15's held the RunConfig's (BigBird's 10 and 2 hours).
  """
  est = _dnn(str(tmp_path), keep_checkpoint_every_n_hours=2)
  meta = v1.MetaGraphDef()
  with open(est.latest_checkpoint() + '.meta', 'rb') as f:
    meta.ParseFromString(f.read())
  assert (meta.saver_def.max_to_keep,
          meta.saver_def.keep_checkpoint_every_n_hours) == (2, 2.0)


def test_meta_graph_restores_the_checkpoint_in_a_v1_session(tmp_path):
  est = _dnn(str(tmp_path))
  path = est.latest_checkpoint()
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    saver = v1.train.import_meta_graph(path + '.meta')
    saver.restore(session, path)
    restored = [(v, session.run(v)) for v in v1.global_variables()]
    assert session.run(v1.train.get_global_step()) == 15
    trainable = sorted(v.op.name for v in v1.trainable_variables())
  assert 'dnn/logits/kernel/part_0' in trainable
  assert [n for n in trainable if 'embedding_weights' in n] == [
      'dnn/input_from_feature_columns/input_layer/c_embedding/'
      f'embedding_weights/part_{i}' for i in range(2)]
  assert not [n for n in trainable if 'Adagrad' in n or n == 'global_step']
  # Partition parts restore as their slices of the checkpoint's tensors
  # (a part's optimizer slot is a tensor of its own, 't_<i>/Adagrad', as
  # 2.15 named it, holding just that slice).
  for variable, value in restored:
    info = variable._save_slice_info  # pylint: disable=protected-access
    expected = tf.raw_ops.RestoreV2(
        prefix=path, tensor_names=[info.full_name if info else
                                   variable.op.name],
        shape_and_slices=[info.spec if info else ''],
        dtypes=[value.dtype])[0]
    np.testing.assert_array_equal(value, expected, err_msg=variable.op.name)
  # Every checkpoint tensor is restored; the table's two parts are one tensor.
  assert len(restored) == len(tf.train.list_variables(path)) + 1


# A batch for programs that run the model of a checkpoint's .meta on
# features they feed at 2.15's `IteratorGetNext:k` (keys sorted: c, x).
_FED = {'c': np.array([[3], [0], [9]]),
        'x': np.array([[0.1, 0.9, 0.3, 0.7], [1, 1, 1, 1], [0, 0.2, 0, 0]],
                      np.float32)}


def _predicted(est):
  return np.array([p['probabilities'] for p in est.predict(
      lambda: tf.data.Dataset.from_tensors(_FED))])


def test_meta_graph_runs_the_model_on_features_fed_at_its_iterator(tmp_path):
  # BERT classifiers frozen for serving and CTR models scored from
  # checkpoints feed 'IteratorGetNext:0'...; the labels are not fed.
  est = _dnn(str(tmp_path))
  path = est.latest_checkpoint()
  fetch = 'dnn/head/predictions/probabilities'
  feed = {'IteratorGetNext:0': _FED['c'], 'IteratorGetNext:1': _FED['x']}
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    v1.train.import_meta_graph(path + '.meta').restore(session, path)
    assert graph.get_operation_by_name('IteratorGetNext').type == (
        'IteratorGetNext')
    fed = session.run(fetch + ':0', feed)
    frozen = v1.graph_util.convert_variables_to_constants(
        session, graph.as_graph_def(), [fetch])
  np.testing.assert_allclose(fed, _predicted(est), atol=1e-6)
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    tf.graph_util.import_graph_def(frozen, name='')
    np.testing.assert_allclose(session.run(fetch + ':0', feed), fed)


def test_meta_graph_variables_of_clashing_names_and_dtypes(tmp_path):
  """Stand-in variables are copies of one per dtype (engine/tf1_graph.py),
  except those whose ops would take another's names: made one by one."""

  def model_fn(features, labels, mode):
    del labels
    # 'w/Assign' is also the name of w's assign op: w is made on its own.
    clash = v1.get_variable('w/Assign', [3], tf.int64,
                            initializer=v1.constant_initializer(7))
    w = v1.get_variable('w', [2], initializer=v1.ones_initializer())
    big = v1.get_variable('big', [300, 10], initializer=v1.ones_initializer())
    loss = (tf.reduce_sum(w * features['x']) + tf.reduce_sum(big) +
            tf.cast(tf.reduce_sum(clash), tf.float32))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(
      ({'x': [1.0, 2.0]}, [0.0])).repeat(3))
  path = est.latest_checkpoint()
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    saver = v1.train.import_meta_graph(path + '.meta')
    session.run(v1.global_variables_initializer())  # the stand-ins' zeros
    assert {v.op.name: session.run(v).sum() for v in v1.global_variables()
            } == {'w': 0, 'w/Assign': 0, 'big': 0, 'global_step': 0}
    saver.restore(session, path)
    values = {v.op.name: session.run(v) for v in v1.global_variables()}
  assert values['global_step'] == 3
  np.testing.assert_array_equal(values['w/Assign'], [7, 7, 7])
  np.testing.assert_allclose(values['w'], est.get_variable_value('w'))
  np.testing.assert_allclose(values['big'], est.get_variable_value('big'))


def test_meta_graph_keeps_the_model_graphs_collections(tmp_path):
  """What a program reading a checkpoint's .meta finds in its collections.

  Counts measured on 2.15 with this model_fn (the idioms of the Object
  Detection API and slim): the train spec's loss joins `losses`, the
  get_variable regularizer's loss `regularization_losses`. 2.15 also kept
  its Scaffold's ops (init_op, ready_op, savers, ...), which are not here.
  """

  def model_fn(features, labels, mode):
    table = v1.lookup.StaticHashTable(
        v1.lookup.KeyValueTensorInitializer(['a', 'b'], [1, 2]), -1)
    x = features * tf.cast(table.lookup(tf.constant('b')), tf.float32)
    w = v1.get_variable('w', [1, 1], initializer=v1.ones_initializer(),
                        regularizer=lambda t: 1e-4 * tf.reduce_sum(t * t))
    v1.add_to_collection(v1.GraphKeys.MODEL_VARIABLES, w)
    h = v1.layers.batch_normalization(tf.matmul(x, w), training=True)
    v1.losses.mean_squared_error(labels, h)
    loss = v1.losses.get_total_loss()
    v1.summary.scalar('my_loss', loss)
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
      train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(
      ([[1.0], [3.0]], [[2.0], [1.0]])).repeat(), steps=2)
  path = est.latest_checkpoint()
  keys = ('update_ops', 'regularization_losses', 'losses', 'summaries',
          'model_variables', 'table_initializer', 'train_op')
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    v1.train.import_meta_graph(path + '.meta').restore(session, path)
    assert {k: len(v1.get_collection(k)) for k in keys} == {
        'update_ops': 2, 'regularization_losses': 1, 'losses': 2,
        'summaries': 2, 'model_variables': 1, 'table_initializer': 1,
        'train_op': 1}
    [weight] = v1.get_collection('model_variables')
    [penalty] = v1.get_collection('regularization_losses')
    w = session.run(weight)
    np.testing.assert_allclose(session.run(penalty), 1e-4 * (w * w).sum(),
                               rtol=1e-6)
    np.testing.assert_allclose(w, est.get_variable_value('w'))


def test_checkpoint_save_graph_def_false_writes_no_graph(tmp_path):
  est = _dnn(str(tmp_path), checkpoint_save_graph_def=False)
  names = os.listdir(tmp_path)
  assert 'graph.pbtxt' not in names
  assert not [n for n in names if n.endswith('.meta')]
  assert 'graph_def' not in _event_kinds(str(tmp_path))
  assert est.latest_checkpoint().endswith('model.ckpt-15')


_RESTORE_WITH_2_15 = '''
import json, sys
import tensorflow.compat.v1 as tf
tf.disable_v2_behavior()
with tf.Session() as session:
  saver = tf.train.import_meta_graph(sys.argv[1] + '.meta')
  saver.restore(session, sys.argv[1])
  values = {v.op.name: session.run(v).tolist() for v in tf.global_variables()}
  values['probabilities'] = session.run(
      'dnn/head/predictions/probabilities:0',
      {f'IteratorGetNext:{i}': x for i, x in enumerate(json.loads(sys.argv[2]))}
  ).tolist()
  print(json.dumps(values))
'''


@pytest.mark.slow
def test_tensorflow_2_15_restores_our_meta_graph(tmp_path, venv215_python):
  est = _dnn(str(tmp_path))
  path = est.latest_checkpoint()
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  import json  # pylint: disable=g-import-not-at-top
  batch = [_FED['c'].tolist(), _FED['x'].tolist()]
  proc = subprocess.run(
      [venv215_python, '-c', _RESTORE_WITH_2_15, path, json.dumps(batch)],
      capture_output=True, text=True, env=env, check=True, timeout=300)
  values = json.loads(proc.stdout.strip().splitlines()[-1])
  assert values['global_step'] == 15
  np.testing.assert_array_equal(values['dnn/logits/kernel/part_0'],
                                est.get_variable_value('dnn/logits/kernel'))
  # The program runs the model on features it feeds, as on 2.15's .meta.
  np.testing.assert_allclose(values['probabilities'], _predicted(est),
                             atol=1e-6)


def test_meta_graph_clears_devices_graph_pbtxt_keeps_them(tmp_path):
  """A .meta imports on any machine; graph.pbtxt shows the graph as built."""

  def model_fn(features, labels, mode):
    with tf.device('/cpu:0'):
      weight = v1.get_variable('w', [1], initializer=v1.zeros_initializer())
      loss = tf.reduce_mean(tf.square(features * weight - labels),
                            name='pinned_loss')
    step = v1.train.get_or_create_global_step()
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=v1.train.GradientDescentOptimizer(0.1).minimize(loss, step))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(([[1.]], [[2.]])).repeat(),
            steps=2)
  meta = v1.MetaGraphDef()
  with open(est.latest_checkpoint() + '.meta', 'rb') as f:
    meta.ParseFromString(f.read())
  assert [n.name for n in meta.graph_def.node if n.device] == []
  graph_def = tf.compat.v1.GraphDef()
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  with open(tmp_path / 'graph.pbtxt') as f:
    text_format.Merge(f.read(), graph_def)
  devices = {n.name: n.device for n in graph_def.node}
  assert 'CPU:0' in devices['pinned_loss']
  assert 'pinned_loss' in {n.name for n in meta.graph_def.node}


@pytest.mark.parametrize('own_saver', [False, True])
def test_programs_checkpoint_saver_hook_writes_2_15s_tf1_files(tmp_path,
                                                                own_saver):
  """A model_fn's own CheckpointSaverHook, with or without its own Saver.

  Mesh TensorFlow (under T5) builds a sharded Saver, adds it to SAVERS and
  gives it to the hook. The hook wrote graph.pbtxt and its graph events
  from the function graph (no VarHandleOp), TF warned once per collection
  it could not serialize, and the program's Saver wrote .meta files whose
  restore failed in a TF1 session. Measured on 2.15 with this model_fn:
  graph.pbtxt with 2 VarHandleOps, 2 graph and 2 meta graph events, no
  warning, and the .meta restores with its Saver's names.
  """
  model_dir = str(tmp_path)

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [3, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
    train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=v1.train.get_or_create_global_step())
    saver = None
    if own_saver:
      saver = v1.train.Saver(v1.global_variables(), sharded=True,
                             max_to_keep=None, save_relative_paths=True)
      v1.add_to_collection(v1.GraphKeys.SAVERS, saver)
    hook = v1.train.CheckpointSaverHook(model_dir, save_steps=5, saver=saver)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      training_chief_hooks=[hook])

  x = np.random.RandomState(0).rand(32, 3).astype(np.float32)
  warnings = []
  handler = logging.Handler()
  handler.emit = lambda record: warnings.append(record.getMessage())
  v1.get_logger().addHandler(handler)
  try:
    est = tf.estimator.Estimator(model_fn, model_dir)
    est.train(lambda: tf.data.Dataset.from_tensor_slices(
        ({'x': x}, x.sum(1, keepdims=True))).repeat().batch(8), steps=10)
  finally:
    v1.get_logger().removeHandler(handler)
  assert not [w for w in warnings if 'Issue encountered' in w]
  graph_def = v1.GraphDef()
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  with open(tmp_path / 'graph.pbtxt') as f:
    text_format.Merge(f.read(), graph_def)
  assert [n.op for n in graph_def.node].count('VarHandleOp') == 2
  kinds = _event_kinds(model_dir)
  assert (kinds['graph_def'], kinds['meta_graph_def']) == (2, 2)
  path = est.latest_checkpoint()
  assert path.endswith('model.ckpt-10')
  with tf.Graph().as_default() as graph, v1.Session(graph=graph) as session:
    saver = v1.train.import_meta_graph(path + '.meta')
    saver.restore(session, path)
    [w] = [v for v in v1.global_variables() if v.op.name == 'w']
    np.testing.assert_array_equal(session.run(w), est.get_variable_value('w'))
    assert session.run(v1.train.get_global_step()) == 10
  assert saver.saver_def.sharded


@pytest.mark.parametrize('update, expected', [
    ('optimizer', ['GradientDescent']), ('by_hand', [])])
def test_meta_graphs_train_op_collection_is_the_model_fns(tmp_path, update,
                                                          expected):
  """2.15 added nothing to `train_op`: a v1 optimizer adds its apply op,
  a train op grouped by hand (BERT's optimizer) leaves it empty (measured
  on 2.15 with this model_fn). Ours named the spec's train op in both."""

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [3, 1])
    loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
    step = v1.train.get_global_step()
    if update == 'optimizer':
      train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=step)
    else:
      grad, = tf.gradients(loss, [w])
      train_op = tf.group(w.assign_sub(0.1 * grad), step.assign(step + 1))
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  x = np.random.RandomState(0).rand(32, 3).astype(np.float32)
  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, x.sum(1, keepdims=True))).repeat().batch(8), steps=3)
  with tf.Graph().as_default():
    v1.train.import_meta_graph(est.latest_checkpoint() + '.meta')
    assert [op.name for op in v1.get_collection('train_op')] == expected
