"""Idioms of real TF1-era programs that 2.15 ran and a TF2 engine trips on.

Each test is one idiom found in third-party code (TF-Ranking's estimator
example, TensorFlow's linear-model tutorial, the migration guide, hooks that
key fetches by tensors), written the way those programs write it.
"""

import os
import random
import warnings

import numpy as np
import pytest
import tensorflow as tf

v1 = tf.compat.v1


def _xy(n=32, seed=0):
  rs = np.random.RandomState(seed)
  x = rs.rand(n, 3).astype(np.float32)
  return x, x.sum(1, keepdims=True)


def _input_fn(batch_size=8):
  x, y = _xy()
  return lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, y)).repeat().batch(batch_size)


def _regression_spec(mode, features, labels, optimizer=None, hooks=()):
  logits = v1.layers.dense(features['x'], 1,
                           kernel_initializer=v1.constant_initializer(0.1))
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': logits})
  loss = v1.losses.mean_squared_error(labels, logits)
  train_op = (optimizer or v1.train.GradientDescentOptimizer(0.1)).minimize(
      loss, v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    predictions={'y': logits},
                                    training_hooks=list(hooks))


def test_model_fn_graph_has_tf1_semantics(tmp_path):
  """Tensors and variables hash and compare by identity, as in a tf.Graph."""
  seen = {}

  def model_fn(features, labels, mode):
    hidden = v1.layers.dense(features['x'], 4)
    other = tf.identity(hidden)
    by_tensor = {hidden: 'hidden', other: 'other'}
    seen['keys'] = sorted(by_tensor.values())
    seen['in_list'] = (hidden in [other], hidden in [other, hidden])
    seen['equal'] = (hidden == other, hidden != other)
    variables = v1.global_variables()
    seen['variable_set'] = len(set(variables)) == len(variables)
    seen['op_names'] = [v.op.name for v in variables]
    seen['graphs'] = {v.graph is v1.get_default_graph() for v in variables}
    return _regression_spec(mode, {'x': hidden}, labels)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=1)
  assert seen['keys'] == ['hidden', 'other']
  assert seen['in_list'] == (False, True)
  assert seen['equal'] == (False, True)
  assert seen['variable_set']
  assert seen['op_names'] == ['global_step', 'dense/kernel', 'dense/bias']
  assert seen['graphs'] == {True}


def test_eager_tensors_keep_tf2_equality():
  """The model graph's rules do not leak into the user's TF2 code."""
  a = tf.constant([1, 2])
  np.testing.assert_array_equal(a == tf.constant([1, 3]), [True, False])
  with pytest.raises(TypeError, match='unhashable'):
    hash(a)


def test_logging_tensor_hook_with_a_list_of_tensors(tmp_path):
  """LoggingTensorHook(tensors=[...]) keys its fetches by the tensors."""
  logged = []

  def model_fn(features, labels, mode):
    total = tf.reduce_sum(features['x'])
    rows = tf.shape(features['x'])[0]
    hook = v1.train.LoggingTensorHook(
        tensors=[total, rows], every_n_iter=2,
        formatter=lambda values: logged.append(
            [np.asarray(v).tolist() for v in values.values()]) or '')
    return _regression_spec(mode, features, labels, hooks=[hook])

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(batch_size=8), steps=4)
  x, _ = _xy()
  assert logged == [[pytest.approx(float(x[:8].sum()), rel=1e-5), 8],
                    [pytest.approx(float(x[16:24].sum()), rel=1e-5), 8]]


def test_session_run_keeps_a_dict_keyed_by_tensors_in_order(tmp_path):
  results = []

  class Hook(v1.train.SessionRunHook):

    def __init__(self, fetches):
      self._fetches = fetches

    def before_run(self, run_context):
      return v1.train.SessionRunArgs(self._fetches)

    def after_run(self, run_context, run_values):
      results.append([(k.name, v) for k, v in run_values.results.items()])

  def model_fn(features, labels, mode):
    rows = tf.shape(features['x'], name='rows')[0]
    cols = tf.shape(features['x'], name='cols')[1]
    return _regression_spec(mode, features, labels,
                            hooks=[Hook({cols: cols, rows: rows})])

  tf.estimator.Estimator(model_fn, model_dir=str(tmp_path)).train(
      _input_fn(batch_size=4), steps=1)
  assert results == [[('strided_slice_1:0', 3), ('strided_slice:0', 4)]]


def test_model_fn_may_add_to_its_features_dict(tmp_path):
  """TF-Ranking's example model_fn writes transformed features back."""

  def model_fn(features, labels, mode):
    features['x'] = features['x'] * 2.0
    features['extra'] = tf.reduce_sum(features['x'], 1, keepdims=True)
    labels = labels * 2.0
    return _regression_spec(mode, {'x': features['extra']}, labels)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=3)
  assert est.get_variable_value('global_step') == 3


def test_params_is_an_empty_dict_and_graph_seed_follows_run_config(tmp_path):
  seen = []

  def model_fn(features, labels, mode, params):
    seen.append((params, v1.get_default_graph().seed))
    return _regression_spec(mode, features, labels)

  tf.random.set_seed(1234)  # the program's own global seed, for its eager code
  try:
    tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'a')).train(
        _input_fn(), steps=1)
    tf.estimator.Estimator(
        model_fn, model_dir=str(tmp_path / 'b'),
        config=tf.estimator.RunConfig(tf_random_seed=7)).train(
            _input_fn(), steps=1)
  finally:
    tf.random.set_seed(None)
  assert seen == [({}, None), ({}, 7)]


def test_get_variable_value_accepts_tensor_names(tmp_path):
  est = tf.estimator.Estimator(
      lambda features, labels, mode: _regression_spec(mode, features, labels),
      model_dir=str(tmp_path))
  est.train(_input_fn(), steps=2)
  assert est.get_variable_value('global_step:0') == 2
  np.testing.assert_array_equal(est.get_variable_value('dense/kernel:0'),
                                est.get_variable_value('dense/kernel'))


def _train_twice_and_export(model_dir):
  est = tf.estimator.Estimator(
      lambda features, labels, mode: _regression_spec(mode, features, labels),
      model_dir=model_dir)
  est.train(_input_fn(), steps=2)
  est.train(_input_fn(), steps=2)  # resumes: reads the state file written above

  def serving():
    x = v1.placeholder(tf.float32, [None, 3])
    return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})

  export = est.export_saved_model(os.path.join(model_dir, 'export'), serving)
  return est, export


@pytest.mark.parametrize('spelling', ['m', 'a/../m', './m/'])
def test_relative_model_dir_resumes_and_exports(tmp_path, monkeypatch, spelling):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'a').mkdir()
  est, export = _train_twice_and_export(spelling)
  assert est.get_variable_value('global_step') == 4
  state = tf.train.get_checkpoint_state(str(tmp_path / 'm'))
  assert state.model_checkpoint_path == str(tmp_path / 'm' / 'model.ckpt-4')
  with open(tmp_path / 'm' / 'checkpoint') as f:
    assert 'model_checkpoint_path: "model.ckpt-4"' in f.read()
  assert os.path.isdir(export)


def test_symlinked_model_dir_resumes(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'real').mkdir()
  os.symlink('real', 'link')
  est, _ = _train_twice_and_export('link')
  assert est.get_variable_value('global_step') == 4
  assert os.path.exists(tmp_path / 'real' / 'model.ckpt-4.index')


def test_relative_model_dir_written_by_2_15_trains_on(tmp_path, monkeypatch,
                                                      golden_dir):
  """2.15 wrote relative state-file paths; a relative model_dir reads them."""
  from programs import custom_dnn  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(os.path.join(golden_dir, 'model_dir'), tmp_path / 'm')
  monkeypatch.chdir(tmp_path)
  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir='m', params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))
  est.train(custom_dnn.train_input_fn, steps=20)
  assert est.latest_checkpoint() == os.path.join('m', 'model.ckpt-80')
  assert est.get_variable_value('global_step') == 80


def test_float_feature_in_a_crossed_column_is_hashed_as_its_integer(tmp_path):
  """TF casts a numeric raw key to int64 before crossing (as 2.15 trained)."""
  fc = tf.feature_column
  age = [25.2, 25.9, 40.1, 40.8] * 8
  sex = ['m', 'm', 'f', 'f'] * 8
  labels = [[0], [0], [1], [1]] * 8

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'age': age, 'sex': sex}, labels)).repeat().batch(8)

  est = tf.estimator.LinearClassifier(
      [fc.crossed_column(['age', 'sex'], hash_bucket_size=1000)],
      model_dir=str(tmp_path))
  est.train(input_fn, steps=20)
  probs = [p['probabilities'][1] for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices(
          {'age': age[:4], 'sex': sex[:4]}).batch(4))]
  assert probs[0] == probs[1] and probs[2] == probs[3]  # 25.2 and 25.9 -> 25
  assert probs[0] < 0.5 < probs[2]


@pytest.mark.parametrize('make_strategy', [
    v1.distribute.MirroredStrategy, tf.distribute.MirroredStrategy])
def test_v1_and_v2_mirrored_strategy_train_the_same(tmp_path, make_strategy):
  """The migration guide passes the v1 class as train_distribute."""

  def model_fn(features, labels, mode):
    return _regression_spec(mode, features, labels)

  single = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'single'))
  single.train(_input_fn(), steps=5)
  est = tf.estimator.Estimator(
      model_fn, model_dir=str(tmp_path / 'mirrored'),
      config=tf.estimator.RunConfig(train_distribute=make_strategy()))
  est.train(_input_fn(), steps=5)
  np.testing.assert_allclose(est.get_variable_value('dense/kernel'),
                             single.get_variable_value('dense/kernel'),
                             rtol=1e-6)


def test_export_dir_base_may_be_bytes(tmp_path):
  """2.15's own tests and older programs pass `compat.as_bytes(path)`."""
  est, _ = _train_twice_and_export(str(tmp_path / 'm'))

  def serving():
    x = v1.placeholder(tf.float32, [None, 3])
    return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})

  export = est.export_saved_model(os.fsencode(tmp_path / 'bytes_base'), serving)
  assert isinstance(export, bytes)
  assert os.path.dirname(export) == os.fsencode(tmp_path / 'bytes_base')


def _pretrained_checkpoint(path):
  """A TF1 checkpoint with 'pre/w' (3x2) and 'pre/b' (2,), as BERT ships one."""
  with tf.Graph().as_default():
    v1.get_variable('pre/w', initializer=np.arange(6, dtype=np.float32).reshape(3, 2))
    v1.get_variable('pre/b', initializer=np.array([10., 20.], np.float32))
    with v1.Session() as session:
      session.run(v1.global_variables_initializer())
      return v1.train.Saver().save(session, path)


def _fine_tuning_model_fn(pretrained, learning_rate=0.1):

  def model_fn(features, labels, mode):
    w = v1.get_variable('bert/w', [3, 2])
    b = v1.get_variable('bert/b', [2])
    head = v1.get_variable('head/k', [2, 1])
    # BERT's run_classifier: initialize the encoder from the pretrained
    # checkpoint, scope to scope; the new head keeps its own initializer.
    v1.train.init_from_checkpoint(pretrained, {'pre/': 'bert/'})
    logits = tf.matmul(tf.matmul(features['x'], w) + b, head)
    return _regression_spec(
        mode, {'x': logits}, labels,
        optimizer=v1.train.GradientDescentOptimizer(learning_rate))

  return model_fn


def test_init_from_checkpoint_in_model_fn_loads_the_pretrained_values(tmp_path):
  """2.15 ran the replaced initializers; before, they were silently ignored."""
  pretrained = _pretrained_checkpoint(str(tmp_path / 'pre' / 'ckpt'))
  est = tf.estimator.Estimator(_fine_tuning_model_fn(pretrained),
                               model_dir=str(tmp_path / 'm'),
                               config=tf.estimator.RunConfig(
                                   save_checkpoints_steps=1))
  est.train(_input_fn(), steps=1)
  assert est.latest_checkpoint().endswith('model.ckpt-1')
  first = os.path.join(est.model_dir, 'model.ckpt-0')
  reader = tf.train.load_checkpoint(first)  # the values before any step
  np.testing.assert_array_equal(reader.get_tensor('bert/w'),
                                np.arange(6).reshape(3, 2))
  np.testing.assert_array_equal(reader.get_tensor('bert/b'), [10., 20.])
  assert not reader.has_tensor('pre/w')
  # Training on restores model_dir's checkpoint: the pretrained values do
  # not overwrite what was trained since (as 2.15's Scaffold skipped init).
  trained = est.get_variable_value('bert/w')
  assert not np.array_equal(trained, np.arange(6).reshape(3, 2))
  frozen = tf.estimator.Estimator(
      _fine_tuning_model_fn(pretrained, learning_rate=0.0),
      model_dir=str(tmp_path / 'm'))
  frozen.train(_input_fn(), steps=1)
  assert frozen.get_variable_value('global_step') == 2
  np.testing.assert_array_equal(frozen.get_variable_value('bert/w'), trained)


def test_init_from_checkpoint_replaces_a_seeded_initializer(tmp_path):
  """ELECTRA's fine-tuning under a seed: the pretrained values win.

  Under `tf_random_seed` a random initializer is drawn in the model graph
  (to give 2.15's values); init_from_checkpoint then replaces that very op,
  which the capture listed twice and TF refused ("Repeated control output
  name").
  """
  pretrained = _pretrained_checkpoint(str(tmp_path / 'pre' / 'ckpt'))

  def model_fn(features, labels, mode):
    w = v1.get_variable('bert/w', [3, 2],
                        initializer=v1.truncated_normal_initializer(stddev=0.02))
    head = v1.get_variable('head/k', [2, 1],
                           initializer=v1.truncated_normal_initializer(stddev=0.02))
    v1.train.init_from_checkpoint(pretrained, {'pre/w': 'bert/w'})
    return _regression_spec(
        mode, {'x': tf.matmul(tf.matmul(features['x'], w), head)}, labels,
        optimizer=v1.train.GradientDescentOptimizer(0.1))

  est = tf.estimator.Estimator(
      model_fn, model_dir=str(tmp_path / 'm'),
      config=tf.estimator.RunConfig(tf_random_seed=1))
  est.train(_input_fn(), steps=1)
  reader = tf.train.load_checkpoint(os.path.join(est.model_dir, 'model.ckpt-0'))
  np.testing.assert_array_equal(reader.get_tensor('bert/w'),
                                np.arange(6).reshape(3, 2))
  head = reader.get_tensor('head/k')
  assert 0 < np.abs(head).max() < 0.04  # its own seeded draw, not zeros


def test_a_table_initializer_listed_twice_runs_once(tmp_path):
  """TF1 code that adds a table's init op to TABLE_INITIALIZERS itself.

  The lookup op had already added it; 2.15's Scaffold grouped the
  collection, running the op once. Before, the capture refused it
  ("Repeated control output name").
  """

  def model_fn(features, labels, mode):
    table = v1.lookup.StaticHashTable(
        v1.lookup.KeyValueTensorInitializer(['a', 'b'], [1.0, 2.0]), 0.0)
    v1.add_to_collection(v1.GraphKeys.TABLE_INITIALIZERS, table.initializer)
    w = v1.get_variable('w', [], initializer=v1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(table.lookup(features['k']) * w - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_or_create_global_step()))

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(
      ({'k': ['a', 'b']}, [1.0, 2.0])).repeat(), steps=3)
  # Gradient descent on mean((t*w - t)^2), t = (1, 2): w = 0.5, 0.75, 0.875.
  np.testing.assert_allclose(est.get_variable_value('w'), 0.875, rtol=1e-6)


def test_labels_of_unknown_rank_train_a_canned_classifier(tmp_path):
  """Labels from a parser or py_function may have no static rank (2.15 ran)."""

  def input_fn():
    x = np.random.RandomState(0).rand(8, 2).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(({'x': x}, [[0], [1]] * 4))
    unknown = lambda f, y: (f, tf.py_function(lambda v: v, [y], tf.int32))
    return dataset.batch(4).map(unknown).repeat()

  est = tf.estimator.LinearClassifier(
      [tf.feature_column.numeric_column('x', shape=[2])],
      model_dir=str(tmp_path))
  est.train(input_fn, steps=2)
  assert est.evaluate(input_fn, steps=1)['global_step'] == 2


def test_a_hook_assigns_a_variable_through_a_fed_placeholder(tmp_path):
  """The TF1 way to load pretrained embeddings: assign from a placeholder."""
  pretrained = np.arange(6, dtype=np.float32).reshape(3, 2)

  class LoadEmbeddings(v1.train.SessionRunHook):

    def __init__(self, placeholder, assign):
      self._placeholder, self._assign = placeholder, assign

    def after_create_session(self, session, coord):
      del coord
      session.run(self._assign, feed_dict={self._placeholder: pretrained})

  def model_fn(features, labels, mode):
    table = v1.get_variable('table', [3, 2], trainable=False)
    placeholder = v1.placeholder(tf.float32, [3, 2])
    hook = LoadEmbeddings(placeholder, table.assign(placeholder))
    x = tf.matmul(features['x'], table)
    return _regression_spec(mode, {'x': x}, labels, hooks=[hook])

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=2)
  np.testing.assert_array_equal(est.get_variable_value('table'), pretrained)


def test_unnamed_and_repeated_variable_names_as_tf1(tmp_path):
  """`tf.Variable(...)` twice in a model_fn: TF1 named them x and x_1."""

  def model_fn(features, labels, mode):
    del features, labels
    with v1.name_scope('outer'):
      v = tf.Variable(2., name='v')
      u = v1.Variable(3.)
      w = tf.Variable(2., name='v')
    a, b = tf.Variable(1.), v1.Variable(1.)
    return tf.estimator.EstimatorSpec(
        mode, loss=v + u + w + a + b,
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1))

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(({'x': [[1.]]}, [[1.]])),
            steps=1)
  # 2.15, measured: the same names.
  assert est.get_variable_names() == [
      'Variable', 'Variable_1', 'global_step', 'outer/Variable', 'outer/v',
      'outer/v_1']


def test_a_variable_initialized_from_a_tensor_of_the_model_graph(tmp_path):
  """`tf.Variable(tf.random_normal(...))`: TF1 tutorials, TFP's variables.

  The initial value is computed by ops of the model graph, which TF cannot
  lift out to a TF2 variable ("could not be lifted out of a tf.function").
  2.15 ran them in its init_op.
  """

  def model_fn(features, labels, mode):
    shifted = tf.Variable(tf.constant([[1.], [2.], [3.]]) + 1., name='shifted')
    drawn = v1.get_variable('drawn', initializer=tf.random.normal([3, 1]))
    predictions = tf.matmul(features['x'], shifted + drawn)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'y': predictions})
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.reduce_mean(tf.square(predictions - labels)),
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1))

  def values(seed):
    est = tf.estimator.Estimator(
        model_fn, model_dir=str(tmp_path / str(seed) / 'model'),
        config=tf.estimator.RunConfig(tf_random_seed=seed))
    first = next(est.predict(_input_fn()))['y']  # no checkpoint: initialized
    est.train(_input_fn(), steps=1)
    return first, est.get_variable_value('shifted'), est.get_variable_value(
        'drawn')

  first, shifted, drawn = values(seed=1)
  np.testing.assert_array_equal(shifted, [[2.], [3.], [4.]])
  assert np.all(drawn != 0) and len(np.unique(drawn)) == 3
  x = _xy()[0][0]
  np.testing.assert_allclose(first, x @ (shifted + drawn), rtol=1e-5)
  again = values(seed=1)
  np.testing.assert_array_equal(again[2], drawn)  # the graph's seed decides
  assert not np.array_equal(values(seed=2)[2], drawn)


def test_a_hook_saves_and_restores_with_its_own_saver(tmp_path):
  """A save-the-best-model hook: `Saver().save(run_context.session, ...)`.

  TF's v1 Saver refused the emulated session ("'sess' must be a Session");
  AdaNet overwrites its checkpoints this way too. 2.15's files, measured.
  """
  best = str(tmp_path / 'best' / 'model.ckpt')

  class SaveAtEnd(v1.train.SessionRunHook):

    def begin(self):
      self.saver = v1.train.Saver(max_to_keep=2)

    def end(self, session):
      self.path = self.saver.save(session, best,
                                  global_step=v1.train.get_global_step())
      self.saver.restore(session, self.path)

  def model_fn(features, labels, mode):
    return _regression_spec(mode, features, labels)

  hook = SaveAtEnd()
  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'model'))
  est.train(_input_fn(), steps=3, hooks=[hook])
  assert hook.path == best + '-3'
  assert sorted(os.listdir(tmp_path / 'best')) == [
      'checkpoint', 'model.ckpt-3.data-00000-of-00001', 'model.ckpt-3.index',
      'model.ckpt-3.meta']
  saved = tf.train.load_checkpoint(hook.path)
  for name in est.get_variable_names():
    np.testing.assert_array_equal(saved.get_tensor(name),
                                  est.get_variable_value(name))


def test_2_15s_global_step_helpers_build_in_a_graph_of_ones_own():
  """AdaNet builds its candidates' evaluation graph with these."""
  est = tf.estimator.Estimator(lambda features, labels, mode: None)
  with tf.Graph().as_default() as graph:
    step = est._create_and_assert_global_step(graph)  # pylint: disable=protected-access
    assert step.graph is graph and step.op.name == 'global_step'
    assert step is v1.train.get_global_step()


def test_one_seeded_initializer_for_several_variables_as_in_a_graph(tmp_path):
  """AdaNet's tutorials give every layer `glorot_uniform_initializer(seed=42)`.

  In 2.15's graph each variable's draw was an op of its own, starting the
  seeded stream afresh: same-shaped variables start equal, and a smaller
  one holds the first values of a larger one's stream. Drawn eagerly, the
  stream went on from variable to variable. Values measured on 2.15
  (RunConfig(tf_random_seed=42)).
  """

  def model_fn(features, labels, mode):
    del labels
    glorot = v1.glorot_uniform_initializer(seed=42)
    a = v1.get_variable('a', [4, 3], initializer=glorot)
    b = v1.get_variable('b', [3, 1], initializer=glorot)
    c = v1.get_variable('c', [4, 3], initializer=v1.random_normal_initializer(seed=7))
    d = v1.get_variable('d', [4, 3], initializer=v1.random_normal_initializer(seed=7))
    he = tf.keras.initializers.he_normal(seed=42)
    hidden = tf.keras.layers.Dense(4, kernel_initializer=he, name='d1')(features)
    out = tf.keras.layers.Dense(4, kernel_initializer=he, name='d2')(hidden)
    loss = sum(tf.reduce_sum(t) for t in (a, b, c, d, out))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1))

  est = tf.estimator.Estimator(model_fn, str(tmp_path), config=(
      tf.estimator.RunConfig(tf_random_seed=42)))
  est.train(lambda: tf.data.Dataset.from_tensors(
      np.zeros([1, 4], np.float32)).repeat(), steps=1)
  value = est.get_variable_value
  np.testing.assert_allclose(value('a')[0], [-0.155, -0.4285, -0.0376],
                             atol=1e-4)
  np.testing.assert_allclose(value('b')[:, 0], [-0.205, -0.5669, -0.0498],
                             atol=1e-4)
  np.testing.assert_array_equal(value('c'), value('d'))
  np.testing.assert_array_equal(value('d1/kernel'), value('d2/kernel'))


def test_a_local_init_op_over_a_canned_model_fn_with_input_checks(tmp_path):
  """AdaNet's AutoEnsembleEstimator: a canned model_fn inside a model_fn,
  a v1 metric, and a Scaffold whose local_init_op groups
  `default_local_init_op()`. The canned DNN's finite-input check gated the
  metric's initializer too, so the local_init_op needed a batch."""
  columns = [tf.feature_column.numeric_column('x', shape=[3])]

  def model_fn(features, labels, mode, config):
    canned = tf.estimator.DNNEstimator(
        head=tf.estimator.RegressionHead(), feature_columns=columns,
        hidden_units=[4], config=config)
    spec = canned.model_fn(features, labels, mode, config)
    _, update = v1.metrics.mean(labels)
    scaffold = v1.train.Scaffold(local_init_op=tf.group(
        v1.train.Scaffold.default_local_init_op()))
    return tf.estimator.EstimatorSpec(
        mode, loss=spec.loss, train_op=tf.group(spec.train_op, update),
        scaffold=scaffold)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(_input_fn(4), steps=3)
  assert est.get_variable_value('global_step') == 3  # as on 2.15


def test_a_seeded_shuffle_in_the_first_input_fn_call_as_in_2_15(tmp_path):
  """`Dataset.shuffle(seed=42)` under RunConfig(tf_random_seed=42).

  2.15 called every input_fn in a graph seeded by the RunConfig: the same
  order in every call and process. Called eagerly before any model had set
  the global seed, the first call here shuffled otherwise (AdaNet's
  AutoEnsembleEstimator then trained on other batches). Order measured on
  2.15.
  """

  def model_fn(features, labels, mode):
    del labels
    seen = v1.get_variable('seen', [10], tf.int64, trainable=False,
                           initializer=v1.zeros_initializer())
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant(0.), train_op=tf.group(
            seen.assign(features),
            v1.assign_add(v1.train.get_or_create_global_step(), 1)))

  for call in range(2):
    est = tf.estimator.Estimator(
        model_fn, str(tmp_path / str(call)),
        config=tf.estimator.RunConfig(tf_random_seed=42))
    est.train(lambda: tf.data.Dataset.range(10).shuffle(10, seed=42).batch(
        10).map(lambda x: (x, x)), steps=1)
    assert list(est.get_variable_value('seen')) == [5, 3, 7, 1, 4, 0, 2, 8,
                                                    6, 9], call


# Measured on 2.15 (RunConfig(tf_random_seed=42), rounded): the first batch
# and the initial values, with and without an unseeded shuffle before them.
_SEEDED_START_ON_2_15 = {
    0: {'seen': [0, 1, 2, 3], 'default': [0.67092, 0.83259, -0.0107],
        'normal': [-0.03, -0.02484, 0.01046],
        'v2_normal': [0.00597, -0.00507, 0.02646]},
    1: {'seen': [6, 0, 3, 5], 'default': [-0.69974, 0.27985, 0.63576],
        'normal': [0.00239, -0.00203, 0.01058],
        'v2_normal': [0.04011, 0.02528, 0.0906]}}


@pytest.mark.parametrize('world', ['v2', 'graph'])
@pytest.mark.parametrize('shuffles', [0, 1])
def test_a_seeded_program_starts_from_2_15s_values(tmp_path, world, shuffles):
  """TensorFlow's initializers without a seed, under tf_random_seed.

  2.15 built input_fn and model_fn in one seeded graph, where each unseeded
  random op took the next op seed: the input's shuffle 0, the model's
  initializers the ones after. Drawn eagerly here, a seeded TAPAS model
  started from other values than on 2.15 (23 of its 154 variables), and
  an unseeded shuffle in a TF2 world drew another order.
  """

  def model_fn(features, labels, mode):
    del labels
    seen = v1.get_variable('seen', [4], tf.int64, trainable=False,
                           initializer=v1.zeros_initializer())
    v1.get_variable('default', [3])  # glorot_uniform_initializer()
    v1.get_variable('normal', [3],
                    initializer=v1.truncated_normal_initializer(stddev=0.02))
    v1.get_variable('v2_normal', [3],
                    initializer=tf.random_normal_initializer())
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant(0.), train_op=tf.group(
            seen.assign(features),
            v1.assign_add(v1.train.get_or_create_global_step(), 1)))

  def input_fn():
    numbers = tf.data.Dataset.range(8)
    for _ in range(shuffles):
      numbers = numbers.shuffle(8)
    return numbers.batch(4).map(lambda x: (x, x))

  est = tf.estimator.Estimator(model_fn, str(tmp_path), config=(
      tf.estimator.RunConfig(tf_random_seed=42)))
  if world == 'graph':  # the input_fn is called in a graph, as 2.15 did
    with tf.Graph().as_default():
      est.train(input_fn, steps=1)
  else:
    est.train(input_fn, steps=1)
  for name, expected in _SEEDED_START_ON_2_15[shuffles].items():
    np.testing.assert_allclose(est.get_variable_value(name), expected,
                               atol=1e-5, err_msg=name)


def _own_initializer(shape, dtype=None, partition_info=None):
  del partition_info
  return tf.random.normal(shape, stddev=0.5, dtype=dtype)


@pytest.mark.parametrize('world', ['v2', 'graph'])
def test_a_seeded_programs_own_initializer_function_draws_2_15s_values(
    tmp_path, world):
  """A function of the program's own as `get_variable`'s initializer
  (EfficientDet's `conv_kernel_initializer`), under tf_random_seed.

  Its unseeded random op took the graph's next op seed in 2.15, and the
  initializers after it the seeds after that. Values measured there, the
  same in the v1 world and from run to run.
  """

  def model_fn(features, labels, mode):
    del features, labels
    v1.get_variable('own', [3], initializer=_own_initializer)
    v1.get_variable('after', [3],
                    initializer=v1.truncated_normal_initializer(stddev=0.02))
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant(0.),
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1))

  est = tf.estimator.Estimator(model_fn, str(tmp_path), config=(
      tf.estimator.RunConfig(tf_random_seed=42)))
  input_fn = lambda: tf.data.Dataset.from_tensors(({'x': [1.]}, [1.]))
  if world == 'graph':
    with tf.Graph().as_default():
      est.train(input_fn, steps=1)
  else:
    est.train(input_fn, steps=1)
  np.testing.assert_allclose(est.get_variable_value('own'),
                             [-0.15051, 0.2593, -0.07847], atol=1e-5)
  np.testing.assert_allclose(est.get_variable_value('after'),
                             [-0.03, -0.02484, 0.01046], atol=1e-5)


def _moving_averages_model_fn(features, labels, mode):
  """tensorflow/tpu's Inception v3: moving averages applied after the step."""
  seeded = tf.compat.v1.get_variable(
      'seeded', [2, 1],
      initializer=tf.compat.v1.truncated_normal_initializer(seed=3))
  unseeded = tf.compat.v1.get_variable(
      'unseeded', [2, 1],
      initializer=tf.compat.v1.truncated_normal_initializer())
  loss = tf.reduce_mean(tf.matmul(features['x'], seeded + unseeded) - labels)
  step = tf.compat.v1.train.get_or_create_global_step()
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
      loss, global_step=step)
  averages = tf.compat.v1.train.ExponentialMovingAverage(0.995,
                                                         num_updates=step)
  with tf.control_dependencies([train_op]):
    train_op = averages.apply(tf.compat.v1.trainable_variables())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_a_moving_average_starts_at_a_graph_drawn_initial_value(tmp_path):
  """The average's `apply()` reads each variable under `init_scope`, while
  the model_fn runs, before the graph's initializers have run: it read
  zeros, and the shadows began at 0 (TF1 gave the initial value). Values
  measured on 2.15 (the first element of each)."""
  estimator = tf.estimator.Estimator(
      _moving_averages_model_fn, str(tmp_path),
      config=tf.estimator.RunConfig(tf_random_seed=1))
  estimator.train(lambda: tf.data.Dataset.from_tensors(
      ({'x': np.ones([2, 2], np.float32)}, np.ones([2, 1], np.float32))
  ).repeat(), max_steps=1)
  for name, first in (('seeded', -0.67086124), ('unseeded', 0.30520469)):
    shadow = estimator.get_variable_value(name + '/ExponentialMovingAverage')
    np.testing.assert_allclose(shadow, estimator.get_variable_value(name))
    assert shadow[0, 0] == pytest.approx(first, abs=1e-6)


def test_a_seeded_model_of_keras_layers_starts_the_same_every_time(tmp_path):
  """tf_keras' initializers without a seed, under tf_random_seed.

  They draw their seeds from Python's `random` (2.15's Keras too), so two
  runs of one seeded program with Keras layers (the canned RNNs' cells)
  started from other values; here, in a program that does not seed Python's
  `random`, they draw from the RunConfig's seed.
  """

  def model_fn(features, labels, mode):
    del labels
    net = tf.keras.layers.Dense(3, name='dense')(features)
    net = tf.keras.layers.SimpleRNN(2, name='rnn')(tf.expand_dims(net, 1))
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.reduce_mean(net),
        train_op=v1.assign_add(v1.train.get_global_step(), 1))

  def initial_values(seed, name):
    est = tf.estimator.Estimator(model_fn, str(tmp_path / name), config=(
        tf.estimator.RunConfig(tf_random_seed=seed)))
    est.train(lambda: tf.data.Dataset.from_tensors([[1., 2.]]), steps=1)
    return {n: est.get_variable_value(n) for n in est.get_variable_names()
            if 'kernel' in n}

  first = initial_values(42, 'first')
  assert sorted(first) == ['dense/kernel', 'rnn/simple_rnn_cell/kernel',
                           'rnn/simple_rnn_cell/recurrent_kernel']
  for name, value in initial_values(42, 'again').items():
    np.testing.assert_array_equal(value, first[name], err_msg=name)
  other = initial_values(7, 'other')
  assert not np.allclose(other['dense/kernel'], first['dense/kernel'])


def test_keras_layers_draw_from_python_random_the_program_seeded(tmp_path):
  """tensor2tensor's `set_random_seed`: `random.seed(s)`, then Keras layers.

  2.15's unseeded Keras initializers drew from Python's `random`, so a
  program seeding it started from the same values in every run; the
  input_fn's own draw (T2T shuffles its data files) comes first. The values
  are 2.15's; while they drew from the RunConfig's seed, every variable of
  T2T's first checkpoint differed from 2.15's.
  """

  def model_fn(features, labels, mode):
    del labels
    logits = tf.keras.layers.Dense(3, name='dense')(features['x'])
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.reduce_mean(tf.square(logits)),
        train_op=v1.assign_add(v1.train.get_global_step(), 1))

  def input_fn():
    random.shuffle(['a', 'b', 'c'])
    return tf.data.Dataset.from_tensors(
        ({'x': np.ones([2, 4], np.float32)}, np.zeros([2], np.float32)))

  for name in ('first', 'again'):
    random.seed(1)
    est = tf.estimator.Estimator(model_fn, str(tmp_path / name), config=(
        tf.estimator.RunConfig(tf_random_seed=1)))
    est.train(input_fn, steps=1)
    np.testing.assert_allclose(est.get_variable_value('dense/kernel')[0],
                               [0.225415, -0.127161, 0.502658], atol=1e-6)


@pytest.mark.parametrize('op_seed,graph_seed,order', [
    (42, None, [9, 12, 1, 15, 13, 3, 2, 8, 7, 14, 6, 11, 4, 0, 5, 10, 3, 10]),
    (7, 3, [6, 2, 11, 9, 14, 5, 10, 15, 7, 3, 13, 12, 4, 0, 1, 8, 7, 6])])
def test_a_one_shot_iterator_over_a_shuffle_in_the_model_fn(
    tmp_path, op_seed, graph_seed, order):
  """A model_fn reading a shuffled dataset of its own (AdaNet's subestimators).

  In a TF2 world it failed ("Cannot capture a stateful node
  (DummySeedGenerator)"). Orders measured on 2.15, past the first epoch.
  """

  def model_fn(features, mode):
    numbers = tf.data.Dataset.range(16).shuffle(16, seed=op_seed).repeat()
    drawn = v1.data.make_one_shot_iterator(numbers.batch(3)).get_next()
    return tf.estimator.EstimatorSpec(
        mode, predictions={'n': drawn + 0 * tf.cast(features, tf.int64)})

  est = tf.estimator.Estimator(model_fn, str(tmp_path), config=(
      tf.estimator.RunConfig(tf_random_seed=graph_seed)))
  drawn = [p['n'] for p in est.predict(
      lambda: tf.data.Dataset.range(18).batch(3))]
  assert drawn == order

def test_v1_layers_regularize_the_weights_they_create(tmp_path):
  """`v1.layers.dense(..., kernel_regularizer=...)` (TF-GAN's networks).

  It failed with UnboundLocalError in tf_keras. A reused layer adds no
  second regularization loss, as in 2.15; names and loss measured there.
  """
  collected = []

  def model_fn(features, labels, mode):
    reg = tf.keras.regularizers.l2(0.5)
    init = v1.constant_initializer(0.1)
    a = v1.layers.dense(features['x'], 2, kernel_initializer=init,
                        kernel_regularizer=reg, bias_regularizer=reg,
                        name='shared')
    with v1.variable_scope(v1.get_variable_scope(), reuse=True):
      b = v1.layers.dense(features['x'] * 2, 2, kernel_initializer=init,
                          kernel_regularizer=reg, bias_regularizer=reg,
                          name='shared')
    layer = v1.layers.Dense(2, kernel_initializer=init,
                            kernel_regularizer=reg, name='obj')
    out = layer(a) + layer(b)
    collected.append(sorted(
        r.name for r in v1.get_collection(v1.GraphKeys.REGULARIZATION_LOSSES)))
    loss = (tf.reduce_mean(tf.square(out - labels)) +
            v1.losses.get_regularization_loss())
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  def input_fn():
    return tf.data.Dataset.from_tensor_slices(({'x': np.ones(
        (8, 3), np.float32)}, np.ones((8, 2), np.float32))).repeat().batch(4)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=3)
  loss = est.evaluate(input_fn, steps=1)['loss']
  assert collected[0] == ['obj/kernel/Regularizer/mul:0',
                          'shared/bias/Regularizer/mul:0',
                          'shared/kernel/Regularizer/mul:0']
  np.testing.assert_allclose(loss, 0.127283, rtol=1e-5)
  np.testing.assert_allclose(est.get_variable_value('shared/kernel')[0],
                             [0.14082995] * 2, rtol=1e-6)

def test_per_example_gradients_in_a_while_loop_body(tmp_path):
  """TF Privacy's DP optimizers: `compute_gradients` per microbatch in a loop.

  The loss is computed outside the loop; each body differentiates one slice
  of it w.r.t. the variables. In a TF2 world every gradient was None and
  the model never moved. Weights after 20 steps measured on 2.15.
  """

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [2, 1], initializer=v1.zeros_initializer())
    per_example = tf.reshape(tf.square(features @ w - labels), [4, -1])
    optimizer = v1.train.GradientDescentOptimizer(0.05)

    def body(i, total):
      slice_loss = tf.reduce_mean(tf.gather(per_example, [i]))
      (grad, _), = optimizer.compute_gradients(slice_loss, [w])
      return i + 1, total + grad

    _, total = tf.while_loop(lambda i, _: i < 4, body,
                             [tf.constant(0), tf.zeros_like(w)])
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.reduce_mean(per_example),
        train_op=optimizer.apply_gradients(
            [(total / 4, w)], v1.train.get_global_step()))

  def input_fn():
    x = np.array([[1, 2], [2, 1], [3, 0], [0, 3]] * 4, np.float32)
    return tf.data.Dataset.from_tensor_slices(
        (x, x @ np.array([[1.], [2.]], np.float32))).repeat().batch(8)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=20)
  np.testing.assert_allclose(est.get_variable_value('w').ravel(),
                             [1.0015759468078613, 1.9984047412872314],
                             rtol=1e-6)

def test_gradients_stopped_at_the_variables_they_are_taken_for(tmp_path):
  """K-FAC: `tf.gradients(out, params, stop_gradients=params)`.

  Its Jacobian products list a layer's parameters both as sources and as
  stops. A variable's `.op` here is not an op of the graph, and TF failed
  on it ("unhashable type"). Weights after one step measured on 2.15.
  """

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [4, 1], initializer=v1.ones_initializer())
    b = v1.get_variable('b', [1], initializer=v1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(features @ w + b - labels))
    grads = tf.gradients(loss, [w, b], stop_gradients=[w, b])
    (also_w,) = v1.gradients(loss, w, stop_gradients=w)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=v1.train.GradientDescentOptimizer(0.1).apply_gradients(
            [((grads[0] + also_w) / 2, w), (grads[1], b)],
            v1.train.get_global_step()))

  def input_fn():
    x = np.arange(32, dtype=np.float32).reshape(8, 4) / 10
    return tf.data.Dataset.from_tensor_slices(
        (x, np.ones((8, 1), np.float32))).batch(8)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=1)
  np.testing.assert_allclose(est.get_variable_value('w').ravel(),
                             [-1.128, -1.232, -1.336, -1.44], rtol=1e-6)
  np.testing.assert_allclose(est.get_variable_value('b'), [-1.04], rtol=1e-6)

def test_a_hook_running_train_ops_draws_batches_as_a_session_did(tmp_path):
  """TF-GAN's sequential train hooks run train ops from `before_run`.

  Those ops read the input; 2.15's session drew the next batch for each
  such run. Refused here before ("depend on the input batch"). Values
  measured on 2.15: the hook's and the step's runs alternate batches.
  """

  class RunOps(v1.train.SessionRunHook):

    def __init__(self, ops):
      self.ops = ops

    def before_run(self, run_context):
      run_context.session.run(self.ops)

  def model_fn(features, labels, mode):
    variables = [v1.get_variable(name, [1], initializer=v1.zeros_initializer())
                 for name in ('w', 'v')]
    train_ops = [v1.train.GradientDescentOptimizer(0.1).minimize(
        tf.reduce_mean(tf.square(features['x'] * var - labels)),
        var_list=[var]) for var in variables]
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant(0.),
        train_op=v1.assign_add(v1.train.get_global_step(), 1),
        training_hooks=[RunOps(train_ops)])

  def input_fn():
    x = np.arange(1, 9, dtype=np.float32).reshape(8, 1)
    return tf.data.Dataset.from_tensor_slices(
        ({'x': x}, 2 * x)).repeat().batch(2)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(input_fn, steps=4)
  assert est.get_variable_value('global_step') == 4
  for name in ('w', 'v'):
    np.testing.assert_allclose(est.get_variable_value(name),
                               [-11.005000114440918], rtol=1e-6)

@pytest.mark.parametrize('source', ['one-shot iterator', 'constants'])
def test_lists_of_tensors_from_an_input_fn_reach_the_model_fn(tmp_path,
                                                              source):
  """TF-GAN's StarGAN input_fn returns a list of image batches per domain.

  2.15 gave the model_fn those lists. Behind a one-shot iterator, where the
  engine reads the iterator's dataset, tf.data packed them into one tensor;
  constants (read step by step) kept them.
  """
  seen = []

  def input_fn():
    images = [np.full((2, 4), i, np.float32) for i in range(3)]
    labels = [np.eye(3, dtype=np.float32)[[i, i]] for i in range(3)]
    if source == 'constants':
      return [tf.constant(x) for x in images], [tf.constant(y) for y in labels]
    batch = v1.data.make_one_shot_iterator(tf.data.Dataset.from_tensors(
        (tuple(images), tuple(labels))).repeat()).get_next()
    return list(batch[0]), list(batch[1])

  def model_fn(features, labels, mode):
    seen.append((type(features), type(labels),
                 [f.shape.as_list() for f in features]))
    w = v1.get_variable('w', [4, 3])
    loss = tf.reduce_mean(tf.square(
        tf.concat(features, 0) @ w - tf.concat(labels, 0)))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.1).minimize(loss, v1.train.get_global_step()))

  tf.estimator.Estimator(model_fn, str(tmp_path)).train(input_fn, steps=2)
  assert seen == [(list, list, [[2, 4]] * 3)]

def test_predict_features_that_are_a_pair_themselves(tmp_path):
  """A predict Dataset of ((images, domain labels), unused): TF-GAN's StarGAN.

  2.15 took the features as the element's first item, a tuple of two; here
  that tuple was split again into features and labels (the images alone).
  """
  seen = []

  def model_fn(features, labels, mode):
    seen.append((type(features), len(features), labels))
    images, domains = features
    w = v1.get_variable('w', [])
    return tf.estimator.EstimatorSpec(mode, predictions={
        'p': tf.reduce_sum(images, [1, 2]) * w + tf.reduce_sum(domains, 1)})

  def input_fn():
    return tf.data.Dataset.from_tensor_slices((
        (np.ones((3, 2, 2), np.float32), np.eye(3, dtype=np.float32)),
        tf.zeros(3))).batch(3)

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  assert len(list(est.predict(input_fn))) == 3
  assert seen == [(tuple, 2, None)]

def test_iterator_element_with_nested_features(tmp_path):
  """input_fn returning `iterator.get_next()` of ((a, b), labels)."""
  seen = []

  def input_fn():
    features = tf.data.Dataset.from_tensor_slices(
        (tf.ones([4]), tf.ones([4, 100], tf.int32)))
    labels = tf.data.Dataset.from_tensor_slices(tf.ones([4, 10]))
    dataset = tf.data.Dataset.zip((features, labels)).repeat().batch(2)
    return v1.data.make_one_shot_iterator(dataset).get_next()

  def model_fn(features, labels, mode):
    seen.append((features[0].dtype, features[1].dtype, labels.shape))
    w = v1.get_variable('w', [], initializer=v1.zeros_initializer())
    loss = w * tf.reduce_mean(features[0]) + tf.reduce_mean(labels)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1))

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(input_fn, steps=2)
  assert seen[0][:2] == (tf.float32, tf.int32) and seen[0][2][-1] == 10
  assert est.get_variable_value('global_step') == 2


def test_estimator_metric_names_are_reserved(tmp_path):
  def model_fn(features, labels, mode, params):
    del labels
    loss = tf.reduce_mean(features['x'])
    return tf.estimator.EstimatorSpec(
        mode, loss=loss,
        train_op=v1.assign_add(v1.train.get_or_create_global_step(), 1),
        eval_metric_ops={params['name']: v1.metrics.mean(loss)})

  input_fn = lambda: tf.data.Dataset.from_tensors(({'x': [[1.]]}, [[1.]]))
  for name in ('global_step', 'loss'):
    est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / name),
                                 params={'name': name})
    est.train(input_fn, steps=1)
    with pytest.raises(ValueError,
                       match=f'Metric with name `{name}` is not allowed'):
      est.evaluate(input_fn)


def test_predict_on_endless_tensors_warns(tmp_path, monkeypatch):
  """Constant tensors never run out: 2.15 warned that predict yields forever."""
  warnings = []
  monkeypatch.setattr(v1.logging, 'warning',
                      lambda msg, *args: warnings.append(msg % args))

  def model_fn(features, labels, mode):
    del labels
    return tf.estimator.EstimatorSpec(mode, predictions={'y': features['x']})

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  predictions = est.predict(lambda: {'x': tf.constant([[1.], [2.]])})
  assert next(predictions)['y'] == [1.]
  assert any('predict yields forever' in w for w in warnings)
  warnings.clear()
  next(est.predict(lambda: tf.data.Dataset.from_tensors(
      {'x': tf.constant([[1.]])})))
  assert not any('predict yields forever' in w for w in warnings)


def test_hook_making_a_variable_in_begin_runs_in_every_call(tmp_path):
  """2.15 built a new graph per call; a hook's begin() may create variables."""

  class VariableHook(v1.train.SessionRunHook):

    def begin(self):
      self.variable = v1.get_variable('hook_temp', [1])

  est = tf.estimator.Estimator(lambda features, labels, mode: _regression_spec(
      mode, features, labels), model_dir=str(tmp_path))
  hook = VariableHook()
  est.train(_input_fn(), steps=1, hooks=[hook])
  est.train(_input_fn(), steps=1, hooks=[hook])
  assert est.get_variable_value('global_step') == 2


def test_evaluate_and_predict_before_training_are_warm_started(tmp_path):
  """2.15 warm started every call that found no checkpoint in model_dir."""
  model_fn = lambda features, labels, mode: _regression_spec(mode, features,
                                                             labels)
  source = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'source'))
  source.train(_input_fn(), steps=20)
  warm = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'warm'),
                                warm_start_from=str(tmp_path / 'source'))
  fresh = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / 'fresh'))
  one = lambda: tf.data.Dataset.from_tensors({'x': _xy(1)[0]})
  expected = next(source.predict(one))['y']
  np.testing.assert_allclose(next(warm.predict(one))['y'], expected)
  assert next(fresh.predict(one))['y'] != pytest.approx(expected)
  assert warm.evaluate(_input_fn(), steps=2)['loss'] == pytest.approx(
      source.evaluate(_input_fn(), steps=2)['loss'])


def test_2_15_helpers_libraries_import():
  """Two small 2.15 helpers, at the module paths libraries import them from."""
  from tensorflow_estimator.python.estimator import estimator as est_lib  # pylint: disable=g-import-not-at-top
  from tensorflow_estimator.python.estimator import keras_lib  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    tf.compat.v1.get_variable('v', [1])
    scaffold = tf.compat.v1.train.Scaffold()
    ready = est_lib.create_per_replica_ready_for_local_init_op(scaffold)
    # One op per graph, shared by every replica's scaffold.
    assert ready is est_lib.create_per_replica_ready_for_local_init_op(
        tf.compat.v1.train.Scaffold())
    given = tf.constant([], tf.string)
    assert est_lib.create_per_replica_ready_for_local_init_op(
        tf.compat.v1.train.Scaffold(ready_for_local_init_op=given)) is given
  weights = keras_lib.standardize_sample_weights
  assert weights(None, ['a', 'b']) == [None, None]
  assert weights({'b': 2}, ['a', 'b']) == [None, 2]
  with pytest.raises(ValueError, match='Unknown entries'):
    weights({'c': 1}, ['a', 'b'])
  with pytest.raises(ValueError, match='list of 1 elements'):
    weights([1], ['a', 'b'])


def _sequence_input_fn():
  x = np.random.RandomState(0).randint(0, 8, (64, 5)).astype(np.int64)
  return lambda: tf.data.Dataset.from_tensors(
      ({'x': x}, (x[:, 0] % 3).astype(np.int32))).repeat()


@pytest.mark.parametrize('rnn', ['dynamic_rnn', 'static_rnn'])
def test_v1_rnn_functions_train(tmp_path, rnn):
  """v1 `dynamic_rnn`/`static_rnn` give their variables a caching device.

  Found on TensorFlow's TF1 character-RNN text classification example: the
  device function they set made every variable creation fail.
  """

  def model_fn(features, labels, mode):
    steps = v1.one_hot(features['x'], 8)
    if rnn == 'dynamic_rnn':
      _, state = v1.nn.dynamic_rnn(v1.nn.rnn_cell.GRUCell(4), steps,
                                   dtype=tf.float32)
    else:
      _, state = v1.nn.static_rnn(v1.nn.rnn_cell.GRUCell(4),
                                  v1.unstack(steps, axis=1), dtype=tf.float32)
    logits = v1.layers.dense(state, 3)
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = v1.train.AdamOptimizer(0.05).minimize(
        loss, v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  before = est.evaluate(_sequence_input_fn(), steps=1)['loss']
  est.train(_sequence_input_fn(), steps=30)
  assert est.evaluate(_sequence_input_fn(), steps=1)['loss'] < before - 0.1
  assert {'rnn/gru_cell/gates/kernel', 'rnn/gru_cell/candidate/bias'} <= set(
      est.get_variable_names())


def test_a_variable_with_a_caching_device_trains_and_predicts(tmp_path):
  """A device string caches no stale copy: steps and predictions read the variable."""

  def model_fn(features, labels, mode):
    with v1.variable_scope('linear', caching_device='/cpu:0'):
      w = v1.get_variable('w', [3, 1], initializer=v1.zeros_initializer())
    return _regression_spec(mode, {'x': tf.matmul(features['x'], w)}, labels)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=20)
  w = est.get_variable_value('linear/w')
  assert np.abs(w).min() > 0
  x, _ = _xy()
  predicted = [p['y'] for p in est.predict(
      lambda: tf.data.Dataset.from_tensor_slices({'x': x}).batch(8))]
  expected = (np.matmul(np.matmul(x, w), est.get_variable_value('dense/kernel'))
              + est.get_variable_value('dense/bias'))
  np.testing.assert_allclose(predicted, expected, rtol=1e-5)


def test_a_model_fn_warning_is_shown_once_per_process(tmp_path):
  """Python shows a warning once per place; 2.15's model_fn calls kept that.

  A `catch_warnings()` around each capture reset that record, so a
  model_fn's `tf.layers` deprecation warning came again with every
  train(), evaluate() and predict().
  """

  def model_fn(features, labels, mode):
    warnings.warn('a model_fn warning', UserWarning)
    return _regression_spec(mode, features, labels)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  with warnings.catch_warnings(record=True) as shown:
    warnings.simplefilter('default')
    est.train(_input_fn(), steps=1)
    est.evaluate(_input_fn(), steps=1)
    list(est.predict(lambda: tf.data.Dataset.from_tensors({'x': _xy()[0]})))
  assert [str(w.message) for w in shown].count('a model_fn warning') == 1


def test_a_variable_as_a_control_dependency_and_a_metric(tmp_path):
  """`v1.metrics.mean(variable)` puts the variable in control_dependencies.

  TF1 took a variable there as its op; a model graph's variable (which
  lives outside the graph) failed with "Can not convert a SimpleNamespace".
  """

  def model_fn(features, labels, mode):
    spec = _regression_spec(mode, features, labels)
    (kernel,) = [v for v in v1.global_variables() if 'kernel' in v.name]
    with tf.control_dependencies([kernel]):
      loss = tf.identity(spec.loss)
    return spec._replace(loss=loss, eval_metric_ops={
        'kernel_mean': v1.metrics.mean(kernel)})

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=2)
  metrics = est.evaluate(_input_fn(), steps=1)
  np.testing.assert_allclose(
      metrics['kernel_mean'], est.get_variable_value('dense/kernel').mean(),
      rtol=1e-6)


def test_a_variable_tensor_name_names_its_handle_in_a_tf2_world(tmp_path):
  """2.15's resource variable 'dense/kernel' was the graph's op of that
  name: `get_tensor_by_name('dense/kernel:0')` gave its handle (measured);
  the TF1 world's value semantics: tests/session_emulation/
  test_variables_by_name.py."""
  seen = []

  def model_fn(features, labels, mode):
    spec = _regression_spec(mode, features, labels)
    seen.append(v1.get_default_graph().get_tensor_by_name('dense/kernel:0'))
    return spec

  tf.estimator.Estimator(model_fn, str(tmp_path)).train(_input_fn(), steps=1)
  assert seen[0].dtype == tf.resource
  assert seen[0].op.name == 'dense/kernel'


def test_a_summary_named_like_a_variable_gets_2_15s_unique_tag(tmp_path):
  """`optimize_loss`'s idiom: the variable 'OptimizeLoss/learning_rate'
  took the name, so 2.15 tagged the summary 'OptimizeLoss/learning_rate_1'
  (measured on 2.15 in both worlds)."""

  def model_fn(features, labels, mode):
    logits = v1.layers.dense(features['x'], 1)
    loss = v1.losses.mean_squared_error(labels, logits)
    with v1.variable_scope('OptimizeLoss'):
      rate = v1.get_variable('learning_rate', [], trainable=False,
                             initializer=v1.constant_initializer(0.1))
      v1.summary.scalar('learning_rate', rate)
      train_op = v1.train.GradientDescentOptimizer(rate).minimize(
          loss, v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path),
                               config=tf.estimator.RunConfig(
                                   save_summary_steps=1))
  est.train(_input_fn(), steps=2)
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(str(tmp_path), 'events.*')):
    for event in v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  assert {'OptimizeLoss/learning_rate_1', 'loss'} <= tags
  assert 'OptimizeLoss/learning_rate' not in tags


def test_a_model_fn_replaced_after_construction_is_the_one_that_runs(tmp_path):
  """Neural Structured Learning wraps an Estimator by assigning `_model_fn`.

  2.15 called whatever the attribute held when a call built its graph, also
  after earlier calls; measured there: the replacement's train_op ran (the
  weights stayed at their values) and its predictions were served.
  """
  x, y = _xy()
  est = tf.estimator.LinearRegressor(
      [tf.feature_column.numeric_column('x', shape=[3])],
      model_dir=str(tmp_path), optimizer='SGD')
  est.train(_input_fn(), steps=2)
  trained = est.get_variable_value('linear/linear_model/x/weights')
  base = est._model_fn
  modes = []

  def regularized(features, labels, mode, config):
    spec = base(features, labels, mode=mode, config=config)
    modes.append(mode)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return spec._replace(predictions={'doubled': 2. * spec.predictions[
          'predictions']})
    step = v1.train.get_global_step()
    return spec._replace(train_op=v1.assign_add(step, 1))

  est._model_fn = regularized
  est.train(_input_fn(), steps=3)
  assert modes == ['train']
  assert est.get_variable_value('global_step') == 5
  np.testing.assert_array_equal(
      est.get_variable_value('linear/linear_model/x/weights'), trained)
  first = next(est.predict(lambda: tf.data.Dataset.from_tensor_slices(
      {'x': x}).batch(4)))
  assert sorted(first) == ['doubled']
  assert modes == ['train', 'infer']


def test_optimizers_under_auto_reuse_share_slots_as_in_a_graph(tmp_path):
  """Neural Structured Learning's wrappers call the model_fn twice under
  `variable_scope(reuse=AUTO_REUSE)`, then minimize with an optimizer of
  their own. Names and values after one step measured on 2.15: the second
  call's Adagrad reuses the first's slots (re-entering the layer's scope
  frees their names); the wrapper's own gets `Adagrad_1`.
  """
  x = np.array([[1., 2.], [3., -1.]], np.float32)
  y = np.array([[1.], [0.]], np.float32)

  def base(features, labels):
    out = v1.layers.dense(features['x'], 1, name='d',
                          kernel_initializer=v1.constant_initializer(0.5))
    loss = v1.losses.mean_squared_error(labels, out)
    v1.train.AdagradOptimizer(0.1).minimize(loss, v1.train.get_global_step())
    return loss

  def model_fn(features, labels, mode):
    with v1.variable_scope(v1.get_variable_scope(), reuse=v1.AUTO_REUSE,
                           auxiliary_name_scope=False):
      total = base(features, labels) + 0.5 * base(
          {'x': features['x'] + 0.1}, labels)
      train_op = v1.train.AdagradOptimizer(0.1).minimize(
          total, v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=total, train_op=train_op)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, y)).batch(2), steps=1)
  assert est.get_variable_names() == [
      'd/bias', 'd/bias/Adagrad', 'd/bias/Adagrad_1', 'd/kernel',
      'd/kernel/Adagrad', 'd/kernel/Adagrad_1', 'global_step']
  np.testing.assert_allclose(est.get_variable_value('d/kernel/Adagrad_1'),
                             [[30.736223], [0.118225]], rtol=1e-6)
  np.testing.assert_allclose(est.get_variable_value('d/kernel/Adagrad'),
                             [[0.1], [0.1]])
  np.testing.assert_allclose(est.get_variable_value('d/kernel'),
                             [[0.400163], [0.460737]], rtol=1e-5)


def test_init_scope_in_a_model_fn_is_not_eager_as_in_2_15(tmp_path):
  """The Object Detection API tells TF1 graph building from TF2 code by
  `with tf.init_scope(): tf.executing_eagerly()`: its fine-tuning restore
  (`get_global_variables_safely`) raised, and its target-assignment
  summaries were skipped, when told True. In 2.15's tf.Graph: False.
  """
  seen = {}

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [3, 1], initializer=v1.zeros_initializer())
    with tf.init_scope():
      seen['v2'] = tf.executing_eagerly()
      seen['v1'] = v1.executing_eagerly()
      seen['global'] = sorted(v.op.name for v in v1.global_variables())
    return _regression_spec(mode, {'x': tf.matmul(features['x'], w)}, labels)

  tf.estimator.Estimator(model_fn, model_dir=str(tmp_path)).train(
      _input_fn(), steps=1)
  assert seen == {'v2': False, 'v1': False, 'global': ['global_step', 'w']}
  # Elsewhere TF's answer stands: eagerly, and lifted from a tf.function.
  assert tf.executing_eagerly() and v1.executing_eagerly()

  @tf.function
  def lifted():
    with tf.init_scope():
      return tf.constant(tf.executing_eagerly())

  assert bool(lifted())


def test_an_assign_methods_update_op_is_found_by_its_name_scope(tmp_path):
  """TF-GAN and slim collect their update ops by scope,
  `get_collection(UPDATE_OPS, scope)`, and slim's batch_norm adds the read
  `variable.assign_sub()` returns. Named 'UnreadVariable', it fell outside
  every scope: TF-GAN raised "There are unused update ops" and slim-style
  towers trained with their moving averages stuck at 0. 2.15 (measured):
  'Generator/AssignSubVariableOp', one op in scope, moving mean 0.271.
  """
  seen = {}

  def model_fn(features, labels, mode):
    with v1.variable_scope('Generator'):
      mean = v1.get_variable('moving_mean', [1], trainable=False,
                             initializer=v1.zeros_initializer())
      update = mean.assign_sub(0.1 * (mean - 1.0))
      v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, update)
    seen['name'] = update.name
    in_scope = v1.get_collection(v1.GraphKeys.UPDATE_OPS, 'Generator')
    seen['in_scope'] = len(in_scope)
    with tf.control_dependencies(in_scope):
      return _regression_spec(mode, features, labels)

  est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path))
  est.train(_input_fn(), steps=3)
  assert seen == {'name': 'Generator/AssignSubVariableOp', 'in_scope': 1}
  # mean <- mean - 0.1 (mean - 1), three times from 0.
  assert est.get_variable_value('Generator/moving_mean') == pytest.approx(
      [0.271])
  # Eagerly the read keeps TF's name.
  variable = tf.Variable([0.0])
  assert variable.assign_sub([1.0]).name == 'UnreadVariable'


def test_sync_replicas_optimizer_is_refused_before_anything_runs(tmp_path):
  """tensorflow/models' cifar10_estimator --sync: its hook fed the train op
  tokens from a queue-runner thread; it failed deep in TF here. Refused by
  name, telling what to use instead, and the model_dir trains on after.
  """
  def model_fn(sync):
    def fn(features, labels, mode):
      opt = v1.train.GradientDescentOptimizer(0.1)
      hooks = []
      if sync:
        opt = v1.train.SyncReplicasOptimizer(opt, replicas_to_aggregate=1)
        hooks = [opt.make_session_run_hook(is_chief=True)]
      return _regression_spec(mode, features, labels, optimizer=opt,
                              hooks=hooks)
    return fn

  with pytest.raises(ValueError, match=r'SyncReplicasOptimizer .* the '
                     r'optimizer it wraps .*train_distribute'):
    tf.estimator.Estimator(model_fn(True), str(tmp_path)).train(
        _input_fn(), steps=3)
  assert tf.train.latest_checkpoint(str(tmp_path)) is None
  est = tf.estimator.Estimator(model_fn(False), str(tmp_path))
  est.train(_input_fn(), steps=3)
  assert est.get_variable_value('global_step') == 3


def _metric_reading_the_batch_model_fn(features, labels, mode):
  """google-research's idioms: an image summary given as a metric, and a
  metric made under control dependencies on a check of the labels."""
  w = v1.get_variable('w', [], initializer=v1.ones_initializer())
  pred = features * w
  loss = tf.reduce_mean(tf.abs(pred - labels))
  if mode == tf.estimator.ModeKeys.TRAIN:
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.assign_add(v1.train.get_global_step(), 1))
  with tf.control_dependencies([v1.assert_greater_equal(labels, 0.0)]):
    mean = v1.metrics.mean(tf.reduce_mean(pred, [1, 2, 3]))
  image = tf.saturate_cast(pred * 255 + 0.5, tf.uint8)
  return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
      'M': mean,
      'Img': (v1.summary.image('Img', image, max_outputs=1), tf.no_op())})


def test_metric_values_reading_the_batch_see_one_more_batch(tmp_path):
  # 2.15 ran the value ops once more after the evaluation, drawing the
  # next batch (values measured there: M 0.3125, the image of x[4]).
  x = np.arange(24, dtype=np.float32).reshape(6, 2, 2, 1) / 24.
  input_fn = lambda: tf.data.Dataset.from_tensor_slices((x, x)).repeat().batch(2)
  est = tf.estimator.Estimator(_metric_reading_the_batch_model_fn,
                               str(tmp_path))
  est.train(input_fn, steps=1)
  results = est.evaluate(input_fn, steps=2)
  assert results['M'] == 0.3125
  summary = v1.Summary.FromString(results['Img'])
  image = tf.io.decode_png(summary.value[0].image.encoded_image_string)
  np.testing.assert_array_equal(image[..., 0], [[170, 181], [191, 202]])
  # At the end of the input there is none to draw (2.15: OutOfRangeError).
  with pytest.raises(ValueError, match=r"eval_metric_ops \['Img', 'M'\] read "
                     'the input batch.*had none left'):
    est.evaluate(lambda: input_fn().take(3), name='to_the_end')
  assert not os.path.exists(tmp_path / 'eval_to_the_end')


def test_a_tpu_estimator_copy_hooks_its_own_input_fn_calls(tmp_path):
  """Copies of 2.15's TPUEstimator (transformer-xl's) override the private
  `_call_input_fn` to put the batch size in params, and call the estimator
  module's `_verify_model_fn_args`; 2.15 called every input_fn through it."""
  from tensorflow_estimator.python.estimator import estimator as estimator_lib  # pylint: disable=g-import-not-at-top
  calls = []

  class TPUEstimator(tf.compat.v1.estimator.Estimator):  # 2.15's exempt name

    def __init__(self, model_fn, **kwargs):
      estimator_lib._verify_model_fn_args(model_fn, kwargs.get('params'))  # pylint: disable=protected-access
      super().__init__(model_fn, **kwargs)

    def _call_input_fn(self, input_fn, mode, input_context=None):
      calls.append((mode, input_context))
      return input_fn(params=dict(self.params, batch_size=4))

  def input_fn(params):
    x = np.arange(16, dtype=np.float32).reshape(16, 1)
    return tf.data.Dataset.from_tensor_slices((x, 2 * x)).batch(
        params['batch_size'])

  def model_fn(features, labels, mode, params):
    del params
    w = v1.get_variable('w', [1, 1], initializer=v1.zeros_initializer())
    pred = tf.matmul(features, w)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions=pred)
    loss = tf.reduce_mean(tf.square(pred - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.01).minimize(loss, v1.train.get_global_step()))

  est = TPUEstimator(model_fn, model_dir=str(tmp_path), params={})
  est.train(input_fn, steps=3)
  assert est.evaluate(input_fn)['global_step'] == 3
  assert len(list(est.predict(input_fn))) == 16
  assert calls == [('train', None), ('eval', None), ('infer', None)]
  with pytest.raises(ValueError, match='not expected args'):
    estimator_lib._verify_model_fn_args(lambda features, extra: None, None)  # pylint: disable=protected-access


def test_variables_made_under_control_dependencies_on_the_features(tmp_path):
  """CANINE wraps its layers in assertions on the features' shapes.

  Its variables are made inside `tf.control_dependencies([assert])`. TF1
  drew their initial values outside those dependencies (`init_scope`);
  ours waited for the features, and the first train() failed with "take
  their initial values from placeholders". 2.15's values after 10 steps.
  """

  def model_fn(features, labels, mode):
    x = features['x']
    check = tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(x)),
                                [tf.shape(x)])
    with tf.control_dependencies([check]):
      w = v1.get_variable(
          'w', [2, 1], initializer=v1.truncated_normal_initializer(stddev=0.1))
      logits = tf.matmul(x, w)
    loss = v1.losses.sigmoid_cross_entropy(labels, logits)
    train_op = v1.train.GradientDescentOptimizer(0.01).minimize(
        loss, global_step=v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  x = np.arange(16, dtype=np.float32).reshape(8, 2)
  y = (x.sum(1, keepdims=True) > 10).astype(np.float32)
  est = tf.estimator.Estimator(model_fn, str(tmp_path),
                               tf.estimator.RunConfig(tf_random_seed=1))
  est.train(lambda: tf.data.Dataset.from_tensor_slices(
      ({'x': x}, y)).repeat().batch(4), steps=10)
  np.testing.assert_allclose(est.get_variable_value('w').ravel(),
                             [0.09416082, 0.11007629], rtol=1e-6)
