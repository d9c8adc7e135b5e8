"""Runs a legacy program the way TF1-era code calls the Estimator.

    python tf1_mode_child.py WORLD SCENARIO WORK_DIR [ARGS...]

WORLD is `v1` (`tf.compat.v1.disable_v2_behavior()` before anything else, the
migration guide's first step), `graph` (TF2 behaviour, every call made inside
`with tf.Graph().as_default():`) or `v2` (plain TF2, the control). The
switches are process-wide, so each run is its own process. The last line
printed is a JSON object with what the scenario observed. Without
tfcompat_estimator installed (tensorflow-estimator 2.15's venv) it runs the
same program on 2.15, for the oracle tests.
"""

import json
import os
import shutil
import sys

from google.protobuf import text_format
import numpy as np

try:
  import tfcompat_estimator
  tfcompat_estimator.install()
except ImportError:  # the 2.15 reference venv runs this program too
  pass
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-order

WORLD, SCENARIO, WORK_DIR = sys.argv[1:4]
ARGS = sys.argv[4:]
if WORLD == 'v1':
  tf.compat.v1.disable_v2_behavior()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN_ROOT = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15')
sys.path.insert(0, GOLDEN_ROOT)
from programs import canned_cases  # pylint: disable=g-import-not-at-top,wrong-import-position
from programs import custom_dnn  # pylint: disable=g-import-not-at-top,wrong-import-position


def _json_default(value):
  """What json.dumps cannot write itself: numpy values and bytes."""
  if isinstance(value, bytes):
    return value.decode('utf-8')
  if isinstance(value, (np.ndarray, np.generic)):
    return value.tolist()
  raise TypeError(f'not JSON: {value!r}')


def _serve(export_dir, examples):
  """{signature: {output: value}}, run by TF's v1 loader in a session."""
  outputs = {}
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta_graph = tf.compat.v1.saved_model.load(
          sess, [tf.saved_model.SERVING], export_dir)
      for key, sig in meta_graph.signature_def.items():
        keys = sorted(sig.outputs)
        values = sess.run([sig.outputs[k].name for k in keys],
                          feed_dict={v.name: examples
                                     for v in sig.inputs.values()})
        outputs[key] = dict(zip(keys, values))
  return outputs


def custom_golden():
  """2.15's custom_dnn model_dir: evaluate, predict, train on, export."""
  model_dir = os.path.join(WORK_DIR, 'model_dir')
  shutil.copytree(os.path.join(GOLDEN_ROOT, 'golden', 'custom_dnn',
                               'model_dir'), model_dir)
  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=model_dir, params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))
  result = {'eval_metrics': est.evaluate(custom_dnn.eval_input_fn),
            'predictions': list(est.predict(custom_dnn.predict_input_fn))}
  export_dir = est.export_saved_model(os.path.join(WORK_DIR, 'export'),
                                      custom_dnn.serving_input_receiver_fn)
  features, _ = custom_dnn.make_data(custom_dnn.N_PREDICT,
                                     custom_dnn.PREDICT_SEED)
  result['serving'] = _serve(export_dir,
                             custom_dnn.make_serialized_examples(features))
  est.train(custom_dnn.tensor_train_input_fn, max_steps=100)
  result['global_step'] = est.get_variable_value('global_step:0')
  result['continued_eval_metrics'] = est.evaluate(custom_dnn.eval_input_fn)
  return result


def canned_golden():
  """Each named canned case on 2.15's model_dir, as test_canned_golden does."""
  result = {}
  for name in ARGS:
    case = canned_cases.CASES_BY_NAME[name]
    runs = {}
    for use in ('eval', 'continued'):
      runs[use] = os.path.join(WORK_DIR, name, use)
      shutil.copytree(os.path.join(GOLDEN_ROOT, 'golden', 'canned', name,
                                   'model_dir'), runs[use])
    with open(os.path.join(GOLDEN_ROOT, 'golden', 'canned', name,
                           'expected.json')) as f:
      steps = json.load(f)['continued']['steps']
    est = case.make(runs['eval'])
    observed = {'eval_metrics': est.evaluate(case.eval_input_fn),
                # str keys, as the golden JSON has them (a multi-head's
                # are (head, key) tuples)
                'predictions': [{str(k): v for k, v in p.items()}
                                for p in est.predict(case.predict_input_fn)]}
    export_dir = est.export_saved_model(os.path.join(WORK_DIR, name, 'export'),
                                        case.serving_input_receiver_fn)
    observed['serving'] = _serve(export_dir, case.serialized_examples())
    continued = case.make(runs['continued'])
    continued.train(case.train_input_fn, steps=steps)
    observed['variable_values'] = {
        n: continued.get_variable_value(n)
        for n in continued.get_variable_names()}
    result[name] = observed
  return result


def _linear_model_fn(features, labels, mode):
  v1 = tf.compat.v1
  logits = v1.layers.dense(features['x'], 1,
                           kernel_initializer=v1.constant_initializer(0.1))
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': logits})
  loss = v1.losses.mean_squared_error(labels, logits)
  train_op = v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


_X = np.random.RandomState(0).rand(40, 3).astype(np.float32)
_Y = _X.sum(1, keepdims=True)


class _IteratorInitializerHook(tf.compat.v1.train.SessionRunHook):
  """TF-Ranking's estimator example: the input_fn sets the function it calls."""

  def __init__(self):
    self.iterator_initializer_fn = None

  def after_create_session(self, session, coord):
    del coord
    self.iterator_initializer_fn(session)


def _initializable_input(batch, epochs):
  v1 = tf.compat.v1
  hook = _IteratorInitializerHook()

  def input_fn():
    x = v1.placeholder(tf.float32, _X.shape)
    y = v1.placeholder(tf.float32, _Y.shape)
    dataset = tf.data.Dataset.from_tensor_slices(({'x': x}, y))
    iterator = v1.data.make_initializable_iterator(
        dataset.repeat(epochs).batch(batch))
    hook.iterator_initializer_fn = lambda session: session.run(
        iterator.initializer, feed_dict={x: _X, y: _Y})
    return iterator.get_next()

  return input_fn, [hook]


def _queue_input(batch, epochs, fail_after=None):
  v1 = tf.compat.v1

  def input_fn():
    x, y = v1.train.slice_input_producer(
        [tf.constant(_X), tf.constant(_Y)], num_epochs=epochs, shuffle=False)
    if fail_after is not None:
      seen = []

      def count(value):
        seen.append(1)
        if len(seen) > fail_after:
          raise ValueError('the reader failed')
        return value

      x = v1.py_func(count, [x], tf.float32)
      x.set_shape([3])
    xs, ys = v1.train.batch([x, y], batch_size=batch, capacity=16)
    return {'x': xs}, ys

  return input_fn, []


def _dataset_input(batch, epochs):
  return (lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': _X}, _Y)).repeat(epochs).batch(batch)), []


def _one_shot_input(batch, epochs):
  """The dataset's one-shot iterator's tensors (tensorflow/models' samples)."""
  return (lambda: tf.compat.v1.data.make_one_shot_iterator(
      _dataset_input(batch, epochs)[0]()).get_next()), []


def _one_shot_worked_input(batch, epochs):
  """An input_fn that works on a one-shot iterator's tensors."""
  def input_fn():
    features, labels = _one_shot_input(batch, epochs)[0]()
    return {'x': features['x'] * 1.0}, labels

  return input_fn, []


def _numpy_input(batch, epochs):
  return tf.compat.v1.estimator.inputs.numpy_input_fn(
      {'x': _X}, _Y, batch_size=batch, num_epochs=epochs, shuffle=False), []


def _numpy_wrapped_input(batch, epochs):
  """An input_fn that works on numpy_input_fn's tensors (2.15: a queue's)."""
  inner, _ = _numpy_input(batch, epochs)

  def input_fn():
    features, labels = inner()
    return {'x': features['x'] * 1.0}, labels

  return input_fn, []


def _summary_tags(model_dir):
  tags = set()
  for name in os.listdir(model_dir):
    if name.startswith('events.'):
      for event in tf.compat.v1.train.summary_iterator(
          os.path.join(model_dir, name)):
        tags.update(v.tag for v in event.summary.value)
  return sorted(tags)


def input_pipelines():
  """The same data through TF1 input machinery and through a Dataset."""
  result = {}
  pipelines = [('initializable', _initializable_input),
               ('queue', _queue_input), ('dataset', _dataset_input),
               ('one_shot', _one_shot_input),
               ('one_shot_worked', _one_shot_worked_input),
               ('numpy', _numpy_input)]
  if WORLD != 'v2':  # a TF2 caller's input_fn is called eagerly: no tensors
    pipelines.append(('numpy_wrapped', _numpy_wrapped_input))
  for name, make in pipelines:
    est = tf.estimator.Estimator(_linear_model_fn,
                                 model_dir=os.path.join(WORK_DIR, name))
    input_fn, hooks = make(8, None)
    est.train(input_fn, hooks=hooks, steps=12)
    input_fn, hooks = make(10, 1)
    result[name] = {
        'kernel': est.get_variable_value('dense/kernel'),
        'eval_loss': est.evaluate(input_fn, hooks=hooks)['loss']}
    input_fn, hooks = make(8, 2)  # 80 examples: ends after 10 steps
    est.train(input_fn, hooks=hooks)
    result[name]['steps_to_end_of_input'] = int(
        est.get_variable_value('global_step')) - 12
    input_fn, hooks = make(10, 1)
    result[name]['predictions'] = [
        p['y'] for p in est.predict(input_fn, hooks=hooks)]
    result[name]['queue_summaries'] = [
        t for t in _summary_tags(est.model_dir) if 'fraction' in t]
  est = tf.estimator.Estimator(_linear_model_fn,
                               model_dir=os.path.join(WORK_DIR, 'failing'))
  try:
    est.train(_queue_input(8, None, fail_after=20)[0], steps=50)
    result['queue_runner_error'] = None
  except Exception as e:  # pylint: disable=broad-except
    result['queue_runner_error'] = f'{type(e).__name__}: {e}'
  return result


def _seeded_start(model_dir):
  """A seeded model's initial values after an unseeded shuffle (2.15's op seeds)."""
  v1 = tf.compat.v1

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).shuffle(
        40).batch(4)

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [3, 2], initializer=(
        v1.truncated_normal_initializer(stddev=0.02)))
    out = v1.layers.dense(tf.matmul(features['x'], w), 1, name='dense')
    loss = v1.losses.mean_squared_error(labels, out)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, model_dir=model_dir,
                               config=tf.estimator.RunConfig(tf_random_seed=42))
  est.train(input_fn, steps=1)
  return {name: np.round(est.get_variable_value(name).ravel(), 5).tolist()
          for name in ('w', 'dense/kernel')}


def seeded_numpy_inputs():
  """A seeded model's first kernel values after `numpy_input_fn`'s queue.

  2.15's shuffling queue drew one op seed of the graph, its FIFO queue
  none; the model's unseeded initializers took the seeds after.
  """
  v1 = tf.compat.v1
  x = np.random.RandomState(0).rand(256, 4).astype(np.float32)
  y = (x.sum(1) > 2).astype(np.int32)

  def model_fn(features, labels, mode):
    logits = v1.layers.dense(v1.layers.dense(features['x'], 8), 2)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  kernels = {}
  for shuffle in (False, True):
    model_dir = os.path.join(WORK_DIR, f'numpy_shuffle_{shuffle}')
    est = tf.estimator.Estimator(
        model_fn, model_dir=model_dir,
        config=tf.estimator.RunConfig(tf_random_seed=1))
    est.train(v1.estimator.inputs.numpy_input_fn(
        {'x': x}, y, batch_size=32, num_epochs=None, shuffle=shuffle),
              steps=1)
    kernels[f'shuffle={shuffle}'] = np.round(tf.train.load_variable(
        os.path.join(model_dir, 'model.ckpt-0'), 'dense/kernel').ravel()[:3],
                                             5).tolist()
  return kernels


def seeded_control_flow():
  """A seeded model's initial kernel after an unseeded random op: none, one
  outside control flow, one in a cond branch, one in a while-loop body."""
  v1 = tf.compat.v1

  def scaled(x, where):
    noise = lambda: v1.random_uniform([], 0.9, 1.1)  # pylint: disable=unnecessary-lambda-assignment
    if where == 'outside':
      return x * noise()
    if where == 'cond':
      return v1.cond(tf.reduce_sum(x) > -1e9, lambda: x * noise(), lambda: x)
    if where == 'while':
      return v1.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, y * noise()),
                           [0, x])[1]
    return x

  def model_fn(features, labels, mode, params):
    out = v1.layers.dense(scaled(features['x'], params['where']), 1,
                          name='dense')
    loss = v1.losses.mean_squared_error(labels, out)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.).minimize(loss, v1.train.get_global_step()))

  kernels = {}
  for where in ('none', 'outside', 'cond', 'while'):
    est = tf.estimator.Estimator(
        model_fn, model_dir=os.path.join(WORK_DIR, 'seeded_' + where),
        config=tf.estimator.RunConfig(tf_random_seed=42),
        params={'where': where})
    est.train(lambda: tf.data.Dataset.from_tensor_slices(
        ({'x': _X}, _Y)).batch(4), steps=1)
    kernels[where] = np.round(
        est.get_variable_value('dense/kernel').ravel(), 5).tolist()
  return kernels


def seeded_dynamic_rnn():
  """A seeded v1 `dynamic_rnn` LSTM (its cell's variables made in the loop
  body) and a variable after it, three steps from their initial values."""
  v1 = tf.compat.v1

  def model_fn(features, labels, mode):
    del labels
    outputs, _ = v1.nn.dynamic_rnn(v1.nn.rnn_cell.BasicLSTMCell(4),
                                   features, dtype=tf.float32)
    w = v1.get_variable('w', [4, 1])
    loss = tf.reduce_mean(tf.matmul(outputs[:, -1], w))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, model_dir=WORK_DIR,
                               config=tf.estimator.RunConfig(tf_random_seed=1))
  est.train(lambda: tf.data.Dataset.from_tensors(
      (tf.ones([2, 5, 3]), tf.ones([2]))).repeat(), steps=3)
  return {name: np.round(est.get_variable_value(name).ravel()[:6], 5).tolist()
          for name in ('rnn/basic_lstm_cell/kernel', 'w')}


def canned_lstm():
  """A seeded canned two-layer LSTM, three steps: its weights, and the
  fused kernels in the graph its train() ran (graph.pbtxt)."""
  columns = [tf.feature_column.embedding_column(
      tf.feature_column.sequence_categorical_column_with_identity('tok', 5), 3)]
  est = tf.estimator.experimental.RNNClassifier(
      columns, units=[4, 3], cell_type='lstm', model_dir=WORK_DIR,
      config=tf.estimator.RunConfig(tf_random_seed=1))

  def input_fn():
    tokens = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]],
                                    tf.constant([1, 2, 4], tf.int64), [2, 2])
    return tf.data.Dataset.from_tensors(
        ({'tok': tokens}, tf.constant([[1], [0]]))).repeat()

  est.train(input_fn, steps=3)
  graph_def = tf.compat.v1.GraphDef()
  with open(os.path.join(WORK_DIR, 'graph.pbtxt')) as f:
    text_format.Merge(f.read(), graph_def)
  result = {name: np.round(est.get_variable_value(name).ravel()[:6],
                           5).tolist()
            for name in est.get_variable_names()
            if 'kernel' in name and 'Adagrad' not in name}
  result['fused_ops'] = sorted(node.op for node in graph_def.node
                               if node.op.startswith('BlockLSTM'))
  return result


def session_in_model_fn():
  """A model_fn that opens a session on its own graph (YOTO draws its loss
  weights so): the values it drew and ran, and what training made of them."""
  seen = {}

  def model_fn(features, labels, mode):
    v1 = tf.compat.v1
    weights = v1.random.uniform([2])  # seeded by the RunConfig
    counter = v1.get_variable('counter', [], trainable=False,
                              initializer=v1.constant_initializer(3.0))
    with v1.Session() as session:
      session.run(counter.initializer)
      seen['weights'] = session.run(weights).tolist()
      seen['counted'] = float(session.run(v1.assign_add(counter, 10.0)))
    w = v1.get_variable('w', [], initializer=v1.ones_initializer())
    error = tf.square(w * features - labels)
    loss = float(seen['weights'][0]) * tf.reduce_mean(error) + 0.0 * counter
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_or_create_global_step()))

  est = tf.estimator.Estimator(
      model_fn, model_dir=WORK_DIR,
      config=tf.estimator.RunConfig(tf_random_seed=7))
  est.train(lambda: tf.data.Dataset.from_tensors((1.0, 2.0)).repeat(),
            steps=3)
  seen['w'] = float(est.get_variable_value('w'))
  seen['counter'] = float(est.get_variable_value('counter'))
  return seen


def eval_step_counts():
  """The `eval_step` variable evaluate() made (GraphKeys.EVAL_STEP): its
  name, what a hook fetched in each step, and the count a metric read at
  the end, with and without hooks, to the input's end and for 2 steps."""
  v1 = tf.compat.v1
  from tensorflow.python.training import evaluation  # pylint: disable=g-import-not-at-top

  def model_fn(features, labels, mode, params):
    w = v1.get_variable('w', [1], initializer=v1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(features * w - labels))
    metrics = None
    if mode == tf.estimator.ModeKeys.EVAL and params['model_fn_makes_it']:
      metrics = {'runs': (tf.identity(evaluation._get_or_create_eval_step()),  # pylint: disable=protected-access
                          tf.no_op())}
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, eval_metric_ops=metrics,
        train_op=v1.assign_add(v1.train.get_global_step(), 1))

  seen = {'names': [], 'fetched': []}

  class EvalStepHook(v1.train.SessionRunHook):

    def begin(self):
      self._steps = v1.get_collection(v1.GraphKeys.EVAL_STEP)
      seen['names'].append([v.op.name for v in self._steps])

    def before_run(self, run_context):
      return v1.train.SessionRunArgs(self._steps)

    def after_run(self, run_context, run_values):
      seen['fetched'].append(int(run_values.results[0]))

  def input_fn():
    return tf.data.Dataset.from_tensors(([[1.0], [2.0]], [[1.0], [0.0]])
                                        ).repeat(3)

  est = tf.estimator.Estimator(model_fn, model_dir=WORK_DIR,
                               params={'model_fn_makes_it': True})
  est.train(input_fn, steps=1)
  seen['runs'] = [int(est.evaluate(input_fn, hooks=[EvalStepHook()])['runs']),
                  int(est.evaluate(input_fn)['runs']),
                  int(est.evaluate(input_fn, steps=2)['runs'])]

  tf.estimator.Estimator(model_fn, model_dir=WORK_DIR,  # the Estimator's own
                         params={'model_fn_makes_it': False}).evaluate(
                             input_fn, hooks=[EvalStepHook()])
  return seen


def variable_handles():
  """What a resource variable's `.handle` is while the model_fn builds its
  graph: K-FAC keys a dict by it and walks its consumers to find the
  layers using each parameter."""
  v1 = tf.compat.v1
  seen = {}

  def model_fn(features, labels, mode):
    r = v1.get_variable('r', [1, 1], use_resource=True,
                        initializer=v1.constant_initializer(0.5))
    loss = tf.reduce_mean(tf.square(tf.matmul(features, r) - labels))
    graph = v1.get_default_graph()
    seen['in_model_graph'] = r.handle.graph is graph
    seen['consumers'] = sorted({op.type for op in r.handle.consumers()})
    seen['keyed'] = {r.handle: 'r'}[r.handle]
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_or_create_global_step()))

  est = tf.estimator.Estimator(model_fn, model_dir=WORK_DIR)
  est.train(lambda: tf.data.Dataset.from_tensors(([[1.0]], [[2.0]])),
            steps=1)
  seen['r_after_one_step'] = est.get_variable_value('r').tolist()
  return seen


def module_in_while_loop():
  """A module called before and inside a `tf.while_loop` body, checking the
  graph of each call as Sonnet 1's modules do (learning_to_simulate's
  rollout): in which graphs the body was built, and the predictions."""
  v1 = tf.compat.v1
  seen = []

  class Module:

    def __init__(self):
      self.graph = None

    def __call__(self, x):
      graph = v1.get_default_graph()
      if self.graph is None:
        self.graph = graph
      elif graph is not self.graph:
        raise RuntimeError('Cannot connect module to multiple Graphs.')
      with v1.variable_scope('m', reuse=v1.AUTO_REUSE):
        w = v1.get_variable('w', [], initializer=v1.constant_initializer(2.0))
      return x * w

  def model_fn(features, labels, mode):
    del labels
    module = Module()
    start = module(features['x'])
    outer = v1.get_default_graph()

    def body(i, y):
      seen.append(v1.get_default_graph() is outer)
      return i + 1, module(y)

    _, y = v1.while_loop(lambda i, y: i < 3, body, (0, start),
                         back_prop=False)
    return tf.estimator.EstimatorSpec(mode, predictions={'y': y})

  est = tf.estimator.Estimator(model_fn, model_dir=WORK_DIR)
  predictions = [float(p['y']) for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices(
          {'x': np.arange(2, dtype=np.float32)}).batch(2))]
  return {'body_in_model_graph': seen, 'predictions': predictions}


def input_fn_calls():
  """How often each call runs the input_fn, in what graph (2.15: once, in
  one seeded by the RunConfig), and what a seeded model starts from."""
  calls = []

  def counted(make):
    def input_fn():
      graph = tf.compat.v1.get_default_graph()
      calls.append(graph.seed)
      return make()
    return input_fn

  dataset = lambda: _dataset_input(8, 1)[0]()
  tensors = lambda: tf.compat.v1.data.make_one_shot_iterator(
      _dataset_input(8, 1)[0]()).get_next()
  result = {}
  for name, make in (('dataset', dataset), ('tensors', tensors)):
    est = tf.estimator.Estimator(
        _linear_model_fn, model_dir=os.path.join(WORK_DIR, name),
        config=tf.estimator.RunConfig(tf_random_seed=5))
    del calls[:]
    est.train(counted(make), steps=2)
    est.evaluate(counted(make), steps=1)
    list(est.predict(counted(make)))
    result[name] = list(calls)
  result['seeded_start'] = _seeded_start(os.path.join(WORK_DIR, 'seeded'))
  return result


def table_dataset():
  """A TF1 input_fn whose Dataset looks words up in a graph table."""

  def input_fn():
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        ['a', 'b', 'c'], [0.5, 1.0, 2.0]), -1.0)
    words = tf.data.Dataset.from_tensor_slices((['a', 'b', 'c', 'b'] * 5,
                                                [[1.], [2.], [4.], [2.]] * 5))
    return words.map(lambda w, y: ({'x': tf.stack([table.lookup(w)] * 3)}, y)
                    ).batch(4)

  est = tf.estimator.Estimator(_linear_model_fn,
                               model_dir=os.path.join(WORK_DIR, 'table'))
  est.train(input_fn)
  return {'steps': int(est.get_variable_value('global_step')),
          'kernel': est.get_variable_value('dense/kernel')}


def predict_graphs():
  """How many tf.Graphs a warm predict() of 40 batches makes, and its values.

  Counted on the second call, so that tracing the model is not in it.
  """
  est = tf.estimator.Estimator(_linear_model_fn,
                               model_dir=os.path.join(WORK_DIR, 'predict'))
  est.train(_dataset_input(8, 1)[0], steps=1)
  input_fn = (_one_shot_input if WORLD != 'v2' else _dataset_input)(1, 1)[0]
  list(est.predict(input_fn))
  made = []
  graph_init = tf.Graph.__init__

  def counting_init(graph, *args, **kwargs):
    made.append(type(graph).__name__)
    graph_init(graph, *args, **kwargs)

  tf.Graph.__init__ = counting_init
  try:
    predictions = [p['y'] for p in est.predict(input_fn)]
  finally:
    tf.Graph.__init__ = graph_init
  return {'graphs_made': made, 'predictions': predictions}


def _loop_program(loop):
  """What a compiled training loop runs: each op with its attributes.

  Names are left out (TF1 mode names a branch `cond_true`, TF2 mode
  `while_cond_true`), as are private attributes and the functions an op
  calls (their ops are counted where they are defined), and the library's
  functions no op calls (a summary's v2 `cond` branches, which a TF2
  program's graph holds and a TF1 program's does not).
  """
  ops = []
  for concrete in loop._list_all_concrete_functions_for_serialization():  # pylint: disable=protected-access
    graph_def = concrete.graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    nodes, pending, called = list(graph_def.node), list(graph_def.node), set()
    while pending:
      for attr in pending.pop().attr.values():
        for name in [attr.func.name] + [f.name for f in attr.list.func]:
          if name in library and name not in called:
            called.add(name)
            nodes.extend(library[name].node_def)
            pending.extend(library[name].node_def)
    for node in nodes:
      attrs = sorted(
          f'{key}={node.attr[key]}'.replace('\n', ' ')
          for key in node.attr
          if not key.startswith('_') and not node.attr[key].HasField('func'))
      ops.append(f'{node.op}({len(node.input)}) {" ".join(attrs)}')
  return sorted(ops)


def train_loop_programs():
  """The compiled training loop of a custom and a canned model, as run here."""
  from tfcompat_estimator.engine import loops  # pylint: disable=g-import-not-at-top
  from tfcompat_estimator.runs import step_rental  # pylint: disable=g-import-not-at-top
  # Quiet steps through the loop from the first: renting the hooked step
  # for a few (a share of measured time) would leave some runs without one.
  step_rental.BUDGET_FRACTION = step_rental.WHOLE_RUN_FRACTION = 0.0
  made = []
  make_loop = loops.make_loop
  loops.make_loop = lambda *args, **kwargs: (
      made.append(make_loop(*args, **kwargs)) or made[-1])
  column = tf.feature_column.numeric_column('x', shape=[4])
  models = {
      'custom_dnn': lambda model_dir: tf.estimator.Estimator(
          custom_dnn.model_fn, model_dir=model_dir, params=custom_dnn.PARAMS,
          config=tf.estimator.RunConfig(tf_random_seed=1)),
      'v1_dnn_classifier': lambda model_dir: (
          tf.compat.v1.estimator.DNNClassifier(
              [8], [column], model_dir=model_dir,
              config=tf.estimator.RunConfig(tf_random_seed=1))),
  }
  inputs = {'dataset': custom_dnn.train_input_fn}
  if WORLD != 'v2':  # a TF2 caller's input_fn is called eagerly: no tensors
    inputs['one_shot'] = custom_dnn.tensor_train_input_fn
  result = {}
  for model, make in models.items():
    for name, input_fn in inputs.items():
      del made[:]
      make(os.path.join(WORK_DIR, model, name)).train(input_fn, steps=3)
      result[f'{model} {name}'] = [_loop_program(loop) for loop in made]
  loops.make_loop = make_loop
  return result


def main():
  scenario = globals()[SCENARIO]
  if WORLD == 'graph':
    with tf.Graph().as_default() as graph:
      ops_before = len(graph.get_operations())
      result = scenario()
      result['caller_graph_untouched'] = (
          tf.compat.v1.get_default_graph() is graph and
          len(graph.get_operations()) == ops_before)
      result['executing_eagerly_after'] = tf.executing_eagerly()
  else:
    result = scenario()
    result['executing_eagerly_after'] = tf.executing_eagerly()
  print(json.dumps(result, default=_json_default))


if __name__ == '__main__':
  main()
