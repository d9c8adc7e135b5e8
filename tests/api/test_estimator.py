"""Estimator behaviour against tensorflow-estimator 2.15 (golden artifacts)."""

import json
import os
import re
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

from programs import custom_dnn

import tfcompat_estimator as te
from tfcompat_estimator.io import summaries


@pytest.fixture
def expected(golden_dir):
  with open(os.path.join(golden_dir, 'expected.json')) as f:
    return json.load(f)


@pytest.fixture
def golden_model_dir(golden_dir, tmp_path):
  """A private copy of the model_dir 2.15 trained (60 steps)."""
  path = tmp_path / 'model_dir'
  shutil.copytree(os.path.join(golden_dir, 'model_dir'), path)
  return str(path)


def make_estimator(model_dir, **config_overrides):
  kwargs = dict(custom_dnn.RUN_CONFIG_KWARGS, **config_overrides)
  return tf.estimator.Estimator(custom_dnn.model_fn, model_dir=model_dir,
                                params=custom_dnn.PARAMS,
                                config=tf.estimator.RunConfig(**kwargs))


def assert_metrics_close(ours, theirs, rtol=1e-5):
  assert set(ours) == set(theirs)
  for key, value in theirs.items():
    np.testing.assert_allclose(ours[key], value, rtol=rtol, err_msg=key)


class TestGoldenModelDir:

  def test_evaluates_to_2_15_metrics(self, golden_model_dir, expected):
    metrics = make_estimator(golden_model_dir).evaluate(custom_dnn.eval_input_fn)
    assert_metrics_close(metrics, expected['eval_metrics'])
    assert metrics['global_step'].dtype == np.int64

  def test_evaluate_with_steps(self, golden_model_dir, expected):
    metrics = make_estimator(golden_model_dir).evaluate(custom_dnn.eval_input_fn,
                                                        steps=2)
    assert_metrics_close(metrics, expected['eval_metrics_steps2'])

  def test_predicts_2_15_outputs(self, golden_model_dir, expected):
    predictions = list(make_estimator(golden_model_dir).predict(
        custom_dnn.predict_input_fn))
    assert len(predictions) == len(expected['predictions'])
    for ours, theirs in zip(predictions, expected['predictions']):
      assert set(ours) == set(theirs)
      for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-6)
    assert predictions[0]['class_id'].dtype == np.int64

  def test_predict_batches_with_keys(self, golden_model_dir, expected):
    batches = list(make_estimator(golden_model_dir).predict(
        custom_dnn.predict_input_fn, predict_keys=['probability'],
        yield_single_examples=False))
    facts = expected['predictions_batched_keys']
    assert [sorted(b) for b in batches] == [f['keys'] for f in facts]
    assert [{k: list(v.shape) for k, v in b.items()} for b in batches] == [
        f['shapes'] for f in facts]

  def test_variable_names_match(self, golden_model_dir, expected):
    est = make_estimator(golden_model_dir)
    assert sorted(est.get_variable_names()) == sorted(expected['variable_names'])
    np.testing.assert_array_equal(est.get_variable_value('global_step'), 60)

  def test_training_continues_from_global_step(self, golden_model_dir, expected):
    est = make_estimator(golden_model_dir)
    listener = custom_dnn.RecordingListener()
    est.train(custom_dnn.train_input_fn, max_steps=100,
              saving_listeners=[listener])
    facts = expected['continued_training']
    assert listener.events == facts['listener_sequence']
    assert est.get_variable_value('global_step') == facts['global_step']
    kept = tf.train.get_checkpoint_state(golden_model_dir).all_model_checkpoint_paths
    assert [os.path.basename(p) for p in kept] == [
        os.path.basename(p) for p in facts['kept_checkpoints']]
    # Same data order and arithmetic as 2.15, so continuing lands on its numbers.
    assert_metrics_close(est.evaluate(custom_dnn.eval_input_fn),
                         facts['eval_metrics'], rtol=1e-4)

  def test_moved_model_dir_still_restores(self, golden_model_dir, tmp_path, expected):
    moved = str(tmp_path / 'moved')
    shutil.move(golden_model_dir, moved)
    metrics = make_estimator(moved).evaluate(custom_dnn.eval_input_fn)
    assert_metrics_close(metrics, expected['eval_metrics'])


class TestTrainingHere:

  def test_fresh_training_reproduces_2_15(self, tmp_path, expected):
    """Same seeds, same data: our 60 steps land on 2.15's checkpoint values."""
    est = make_estimator(str(tmp_path))
    listener = custom_dnn.RecordingListener()
    est.train(custom_dnn.train_input_fn, max_steps=60, saving_listeners=[listener])
    assert listener.events == expected['listener_sequence']
    assert_metrics_close(est.evaluate(custom_dnn.eval_input_fn),
                         expected['eval_metrics'], rtol=1e-4)

  def test_checkpoint_format_is_2_15s(self, tmp_path, expected):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, max_steps=60)
    reader = tf.train.load_checkpoint(est.latest_checkpoint())
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    for name, facts in expected['variables'].items():
      assert list(shapes[name]) == facts['shape'], name
      assert dtypes[name].name == facts['dtype'], name
    with open(tmp_path / 'checkpoint') as f:
      state = f.read()
    assert 'model_checkpoint_path: "model.ckpt-60"' in state
    assert str(tmp_path) not in state  # relative paths
    # Data, index and .meta of each kept checkpoint, and graph.pbtxt: 2.15's files.
    theirs = expected['files_after_train_normalized']
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith('model.ckpt')) == [
        p for p in theirs if p.startswith('model.ckpt')]
    assert 'graph.pbtxt' in theirs and (tmp_path / 'graph.pbtxt').exists()

  def test_train_summaries_have_2_15_tags_and_steps(self, tmp_path, expected):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, max_steps=60)
    seen = {}
    for path in tf.io.gfile.glob(str(tmp_path / 'events.out.tfevents.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          seen.setdefault(value.tag, []).append(event.step)
    for tag, steps in expected['train_summaries']['tags'].items():
      assert sorted(seen.get(tag, [])) == steps, tag

  def test_eval_dir_summaries(self, tmp_path, expected):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, max_steps=20)
    est.evaluate(custom_dnn.eval_input_fn)
    est.evaluate(custom_dnn.eval_input_fn, name='other')
    assert est.eval_dir() == str(tmp_path / 'eval')
    assert est.eval_dir('other') == str(tmp_path / 'eval_other')
    tags = set()
    for path in tf.io.gfile.glob(os.path.join(est.eval_dir(), 'events.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        tags.update((v.tag, event.step) for v in event.summary.value)
    assert {('accuracy', 20), ('auc', 20), ('loss', 20)} <= tags
    assert tf.io.gfile.glob(os.path.join(est.eval_dir('other'), 'events.*'))

  def test_array_metrics_are_tensor_summaries_as_in_2_15(self, tmp_path):
    """An LDA model's topics (strings) and a vector metric, in the file.

    2.15 wrote any numpy array as a tensor summary (TFP's LDA example
    reports its topics so); an array no tensor holds is skipped.
    """
    topics = [b'index=0 alpha=0.70 w1 w2', b'index=1 alpha=0.70 w3 w4']

    def model_fn(features, labels, mode):
      spec = custom_dnn.model_fn(features, labels, mode, custom_dnn.PARAMS)
      if mode != tf.estimator.ModeKeys.EVAL:
        return spec
      metrics = dict(spec.eval_metric_ops, topics=(
          tf.constant(topics), tf.no_op()), vector=(
              tf.constant([1.5, 2.5]), tf.no_op()))
      return spec._replace(eval_metric_ops=metrics)

    est = tf.estimator.Estimator(model_fn, str(tmp_path))
    est.train(custom_dnn.train_input_fn, steps=2)
    results = est.evaluate(custom_dnn.eval_input_fn, steps=1)
    assert list(results['topics']) == topics
    written = {}
    for path in tf.io.gfile.glob(os.path.join(est.eval_dir(), 'events.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          if value.HasField('tensor'):
            written[value.tag] = tf.make_ndarray(value.tensor).tolist()
    assert written['topics'] == topics
    assert written['vector'] == [1.5, 2.5]
    unusual = summaries.summary_of({'objects': np.array([object()])})
    assert not unusual.value

  def test_session_logs_in_the_train_events_as_2_15(self, tmp_path):
    """START after each call's first step, CHECKPOINT at each save.

    TensorBoard drops what a run wrote at and past a START's step (a job
    restarted from an older checkpoint); the START comes before that
    step's summary, which it would drop otherwise. Measured on 2.15 with
    this program: the same sequence.
    """

    def model_fn(features, labels, mode):
      w = tf.compat.v1.get_variable('w', [3, 1])
      loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
      return tf.estimator.EstimatorSpec(
          mode, loss=loss,
          train_op=tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
              loss, tf.compat.v1.train.get_global_step()))

    x = np.random.RandomState(0).rand(32, 3).astype(np.float32)
    input_fn = lambda: tf.data.Dataset.from_tensor_slices(
        ({'x': x}, x[:, :1])).repeat().batch(8)
    est = tf.estimator.Estimator(model_fn, str(tmp_path), config=(
        tf.estimator.RunConfig(save_checkpoints_steps=5, save_summary_steps=3,
                               log_step_count_steps=4)))
    est.train(input_fn, steps=7)
    est.train(input_fn, steps=4)
    sequence, prefixes = [], set()
    for path in tf.io.gfile.glob(str(tmp_path / 'events.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        if event.HasField('session_log'):
          log = event.session_log
          sequence.append(f'{tf.compat.v1.SessionLog.SessionStatus.Name(log.status)}'
                          f'@{event.step}')
          if log.checkpoint_path:
            prefixes.add(log.checkpoint_path)
        elif event.HasField('summary'):
          tags = ','.join(sorted(v.tag for v in event.summary.value))
          sequence.append(f'{tags}@{event.step}')
    assert ' '.join(sequence) == (
        'CHECKPOINT@0 START@1 loss@1 loss@4 CHECKPOINT@5 global_step/sec@5 '
        'loss@7 CHECKPOINT@7 CHECKPOINT@7 START@8 loss@8 loss@11 '
        'CHECKPOINT@11')
    assert prefixes == {str(tmp_path / 'model.ckpt')}

  def test_eval_events_metrics_then_checkpoint_path_as_2_15(self, tmp_path):
    """2.15 wrote an evaluation's metrics, then its checkpoint path as an
    event of its own at the same step."""
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, max_steps=5)
    est.evaluate(custom_dnn.eval_input_fn, steps=1)
    [path] = tf.io.gfile.glob(os.path.join(est.eval_dir(), 'events.*'))
    events = [(sorted(v.tag for v in e.summary.value), e.step)
              for e in tf.compat.v1.train.summary_iterator(path)
              if e.HasField('summary')]
    assert events[-1] == (['checkpoint_path'], 5)
    assert events[-2][1] == 5 and 'loss' in events[-2][0]
    assert 'checkpoint_path' not in events[-2][0]

  def test_initial_save_after_restoring_another_checkpoint_name(
      self, tmp_path):
    """AdaNet restores its `increment.ckpt-N`; 2.15's initial save then
    wrote model.ckpt-<step> from the restored values (measured)."""

    def model_fn(features, labels, mode):
      del labels
      w = tf.compat.v1.get_variable(
          'w', [], initializer=tf.compat.v1.zeros_initializer())
      loss = tf.square(w - 3.0) + 0.0 * tf.reduce_sum(features)
      return tf.estimator.EstimatorSpec(
          mode, loss=loss,
          train_op=tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
              loss, global_step=tf.compat.v1.train.get_global_step()))

    model_dir = str(tmp_path)
    input_fn = lambda: tf.data.Dataset.from_tensors(
        np.zeros([1], np.float32)).repeat()
    est = tf.estimator.Estimator(model_fn, model_dir, config=(
        tf.estimator.RunConfig(save_checkpoints_steps=100)))
    est.train(input_fn, max_steps=2)
    with tf.Graph().as_default():
      step = tf.compat.v1.train.get_or_create_global_step()
      w = tf.compat.v1.get_variable(
          'w', [], initializer=tf.compat.v1.zeros_initializer())
      with tf.compat.v1.Session() as session:
        session.run([step.assign(2), w.assign(100.0)])
        tf.compat.v1.train.Saver().save(
            session, os.path.join(model_dir, 'increment.ckpt'), global_step=1)
    est.train(input_fn, max_steps=4)
    assert tf.train.load_variable(
        os.path.join(model_dir, 'model.ckpt-2'), 'w') == 100.0
    state = tf.train.get_checkpoint_state(model_dir)
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        'increment.ckpt-1', 'model.ckpt-2', 'model.ckpt-4']

  def test_one_events_file_per_directory_per_process(self, tmp_path):
    """Repeated calls append to one file (2.15's writer cache), unless it went."""
    est = make_estimator(str(tmp_path))
    for _ in range(3):
      est.train(custom_dnn.train_input_fn, steps=1)
      est.evaluate(custom_dnn.eval_input_fn, steps=1)
    [train_file] = tf.io.gfile.glob(str(tmp_path / 'events.*'))
    [eval_file] = tf.io.gfile.glob(os.path.join(est.eval_dir(), 'events.*'))
    evaluated = [step for _, step, _ in summaries.read_scalars(eval_file)]
    assert evaluated == [1, 2, 3]
    trained = {e.step for e in tf.compat.v1.train.summary_iterator(train_file)
               if any(v.tag == 'loss' for v in e.summary.value)}
    assert trained == {1, 2, 3}
    # A deleted eval dir (cleaned up between runs) gets a new file.
    shutil.rmtree(est.eval_dir())
    est.evaluate(custom_dnn.eval_input_fn, steps=1)
    assert [step for _, step, _ in summaries.read_scalars(
        os.path.join(est.eval_dir(), 'events.*'))] == [3]

  def test_steps_are_incremental_and_max_steps_absolute(self, tmp_path):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, steps=7)
    est.train(custom_dnn.train_input_fn, steps=5)
    assert est.get_variable_value('global_step') == 12
    est.train(custom_dnn.train_input_fn, max_steps=10)  # already past: no-op
    assert est.get_variable_value('global_step') == 12
    est.train(custom_dnn.train_input_fn, max_steps=30)
    assert est.get_variable_value('global_step') == 30

  def test_training_stops_at_end_of_input(self, tmp_path):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.eval_input_fn)  # 128 examples, batch 32, no repeat
    assert est.get_variable_value('global_step') == 4

  def test_tf1_iterator_input_fn_trains_like_dataset(self, tmp_path):
    a = make_estimator(str(tmp_path / 'a'))
    a.train(custom_dnn.train_input_fn, max_steps=12)
    b = make_estimator(str(tmp_path / 'b'))
    b.train(custom_dnn.tensor_train_input_fn, max_steps=12)
    for name in a.get_variable_names():
      np.testing.assert_allclose(a.get_variable_value(name),
                                 b.get_variable_value(name), rtol=1e-6)

  def test_one_shot_iterators_restart_per_call_and_release_their_data(
      self, tmp_path):
    """Features and labels from two one-shot iterators, evaluated twice.

    Each call reads its data from the start (a new iterator, as 2.15 built a
    new graph per call), and afterwards the input graph's dataset functions
    are no longer registered in the eager context.
    """
    from tensorflow.python.eager import context

    def two_iterators():
      data = custom_dnn.eval_input_fn()
      features = tf.compat.v1.data.make_one_shot_iterator(
          data.map(lambda f, _: f)).get_next()
      labels = tf.compat.v1.data.make_one_shot_iterator(
          data.map(lambda _, l: l)).get_next()
      return features, labels

    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, steps=3)
    before = set(context.context().list_function_names())
    first = est.evaluate(two_iterators)
    second = est.evaluate(two_iterators)
    assert first == second == est.evaluate(custom_dnn.eval_input_fn)
    predictions = [p['probability'] for p in
                   est.predict(lambda: two_iterators()[0])]
    np.testing.assert_array_equal(predictions, [
        p['probability'] for p in est.predict(
            lambda: custom_dnn.eval_input_fn().map(lambda f, _: f))])
    added = set(context.context().list_function_names()) - before
    assert not [name for name in added if 'make_dataset' in name], added

  def test_multi_step_loop_matches_single_steps(self, tmp_path):
    """Compiled loops and hooked single steps give identical weights."""
    bulk = make_estimator(str(tmp_path / 'bulk'))
    bulk.train(custom_dnn.train_input_fn, max_steps=45)
    single = make_estimator(str(tmp_path / 'single'))
    single.train(custom_dnn.train_input_fn, max_steps=45,
                 hooks=[tf.estimator.SessionRunHook()])
    for name in bulk.get_variable_names():
      np.testing.assert_allclose(bulk.get_variable_value(name),
                                 single.get_variable_value(name), rtol=1e-6)

  def test_repeated_evaluate_does_not_recapture(self, golden_model_dir, monkeypatch):
    est = make_estimator(golden_model_dir)
    first = est.evaluate(custom_dnn.eval_input_fn)
    first_predictions = list(est.predict(custom_dnn.predict_input_fn))
    from tfcompat_estimator.engine import graph_capture
    def fail(*args, **kwargs):
      raise AssertionError('graph captured again')
    monkeypatch.setattr(graph_capture, 'CapturedModel', fail)
    restored = []
    from tfcompat_estimator.io import checkpoints
    monkeypatch.setattr(checkpoints, 'restore', lambda *a: restored.append(a))
    assert est.evaluate(custom_dnn.eval_input_fn) == first
    again = list(est.predict(custom_dnn.predict_input_fn))
    np.testing.assert_array_equal([p['logits'] for p in again],
                                  [p['logits'] for p in first_predictions])
    assert not restored

  def test_only_graphs_initialized_from_scratch_set_the_seed(self, tmp_path, monkeypatch):
    """Setting the global seed drops every compiled function's kernels.

    Graphs whose variables a checkpoint overwrites leave it alone, so a
    predict() between two evaluate() calls does not make the second compile
    its loop again; a fresh training still starts from the seeded values.
    """
    seeds = []
    set_seed = tf.random.set_seed
    monkeypatch.setattr(tf.random, 'set_seed', lambda s: (seeds.append(s), set_seed(s)))
    est = make_estimator(str(tmp_path / 'a'))
    est.train(custom_dnn.train_input_fn, max_steps=5)
    assert seeds == [42]
    first = est.evaluate(custom_dnn.eval_input_fn)
    list(est.predict(custom_dnn.predict_input_fn))
    assert est.evaluate(custom_dnn.eval_input_fn) == first
    make_estimator(str(tmp_path / 'a')).train(custom_dnn.train_input_fn, max_steps=10)
    assert seeds == [42]
    again = make_estimator(str(tmp_path / 'b'))
    again.train(custom_dnn.train_input_fn, max_steps=5)
    assert seeds == [42, 42]
    assert again.evaluate(custom_dnn.eval_input_fn) == first

  def test_evaluate_reloads_when_checkpoint_changes(self, tmp_path):
    est = make_estimator(str(tmp_path))
    est.train(custom_dnn.train_input_fn, max_steps=20)
    first = est.evaluate(custom_dnn.eval_input_fn)
    est.train(custom_dnn.train_input_fn, max_steps=40)
    second = est.evaluate(custom_dnn.eval_input_fn)
    assert (first['global_step'], second['global_step']) == (20, 40)
    older = est.evaluate(custom_dnn.eval_input_fn,
                         checkpoint_path=str(tmp_path / 'model.ckpt-20'))
    assert older == first


class TestInputFns:

  def _model_fn(self, features, labels, mode, params):
    x = features['x'] if isinstance(features, dict) else features
    w = tf.compat.v1.get_variable('w', [1, 1], initializer=tf.zeros_initializer())
    pred = tf.matmul(tf.reshape(tf.cast(x, tf.float32), [-1, 1]), w)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'y': pred})
    loss = tf.reduce_mean(tf.square(pred - tf.reshape(tf.cast(labels, tf.float32), [-1, 1])))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  def test_numpy_input_fn_trains_to_solution(self, tmp_path):
    x = np.linspace(-1, 1, 64).astype(np.float32)
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    est.train(tf.compat.v1.estimator.inputs.numpy_input_fn(
        {'x': x}, 3 * x, batch_size=16, num_epochs=None, shuffle=True), steps=300)
    np.testing.assert_allclose(est.get_variable_value('w'), [[3.0]], atol=0.05)
    preds = list(est.predict(tf.compat.v1.estimator.inputs.numpy_input_fn(
        {'x': x[:5]}, shuffle=False)))
    np.testing.assert_allclose([p['y'][0] for p in preds], 3 * x[:5], atol=0.05)

  def test_tuple_of_tensors_and_input_fn_args(self, tmp_path):
    seen = {}

    def input_fn(params, config, mode, input_context=None):
      seen.update(params=params, config=config, mode=mode)
      return {'x': tf.constant([[1.0], [2.0]])}, tf.constant([[2.0], [4.0]])

    est = tf.estimator.Estimator(self._model_fn, str(tmp_path), params={'a': 1})
    est.train(input_fn, steps=3)
    assert seen['params'] == {'a': 1} and seen['mode'] == 'train'
    assert seen['config'].model_dir == str(tmp_path)
    assert est.get_variable_value('global_step') == 3

  def test_python_and_numpy_values_in_input_fn_results(self, tmp_path):
    """2.15 converted them to constants: lists, numpy arrays, dict values."""
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    est.train(lambda: ({'x': tf.constant([[1.0], [2.0]])}, [[3.0], [6.0]]), steps=40)
    est.train(lambda: ({'x': np.array([[1.0], [2.0]], np.float32)},
                       np.array([[3.0], [6.0]], np.float32)), steps=40)
    np.testing.assert_allclose(est.get_variable_value('w'), [[3.0]], atol=0.05)
    metrics = est.evaluate(lambda: ({'x': [[2.0]]}, [[6.0]]), steps=1)
    assert metrics['loss'] < 0.01
    prediction = next(est.predict(lambda: {'x': [[1.0]]}))  # constants never end
    np.testing.assert_allclose(prediction['y'], [3.0], atol=0.05)

  def test_predict_accepts_features_only_and_tuples(self, tmp_path):
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    only = lambda: tf.data.Dataset.from_tensor_slices({'x': [[1.0], [2.0]]}).batch(2)
    pair = lambda: tf.data.Dataset.from_tensor_slices(({'x': [[1.0]]}, [[0.0]])).batch(1)
    assert len(list(est.predict(only))) == 2
    assert len(list(est.predict(pair))) == 1

  def test_generator_input_ends_with_stop_iteration(self, tmp_path):
    def input_fn():
      def gen():
        for i in range(5):
          yield {'x': [[float(i)]]}, [[2.0 * i]]
      return tf.data.Dataset.from_generator(gen, output_signature=(
          {'x': tf.TensorSpec([1, 1], tf.float32)}, tf.TensorSpec([1, 1], tf.float32)))
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    est.train(input_fn)
    assert est.get_variable_value('global_step') == 5

  def test_training_input_is_read_ahead_while_steps_run(self, tmp_path):
    """While a step runs, tf.data prepares the next batches ahead of it.

    The input's last stage is a one-call parallel map, which alone holds one
    element ahead; when a hook pauses at step 20, more must have arrived,
    and still in order.
    """
    produced = []

    def record(i):
      produced.append(int(i))
      return i

    def example(i):
      x = tf.cast(tf.py_function(record, [i], tf.int64), tf.float32)
      return {'x': tf.reshape(x / 40, [1, 1])}, tf.reshape(x / 20, [1, 1])

    def input_fn():
      return tf.data.Dataset.range(40).map(example, num_parallel_calls=1)

    class PauseAtStep20(tf.compat.v1.train.SessionRunHook):
      steps, ahead = 0, None

      def after_run(self, run_context, run_values):
        self.steps += 1
        if self.steps == 20:
          deadline = time.monotonic() + 10
          while len(produced) < 22 and time.monotonic() < deadline:
            time.sleep(0.01)
          self.ahead = len(produced) - self.steps

    hook = PauseAtStep20()
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    est.train(input_fn, hooks=[hook])
    assert hook.ahead >= 2
    assert produced == list(range(40))
    assert est.get_variable_value('global_step') == 40


class TestApiContract:

  def test_model_dir_and_config_disagree(self, tmp_path):
    with pytest.raises(ValueError, match='`model_dir` are set both'):
      tf.estimator.Estimator(custom_dnn.model_fn, model_dir=str(tmp_path / 'a'),
                             config=tf.estimator.RunConfig(model_dir=str(tmp_path / 'b')))

  def test_default_session_config_is_filled_in(self, tmp_path):
    """As 2.15: soft placement and one meta-optimizer pass, unless given."""
    est = tf.estimator.Estimator(custom_dnn.model_fn, model_dir=str(tmp_path))
    config = est.config.session_config
    assert config.allow_soft_placement
    assert config.graph_options.rewrite_options.meta_optimizer_iterations == (
        tf.compat.v1.GraphOptions().rewrite_options.ONE)
    given = tf.compat.v1.ConfigProto(log_device_placement=True)
    est = tf.estimator.Estimator(
        custom_dnn.model_fn, model_dir=str(tmp_path),
        config=tf.estimator.RunConfig(session_config=given))
    assert est.config.session_config is given

  def test_temporary_model_dir(self):
    est = tf.estimator.Estimator(custom_dnn.model_fn, params=custom_dnn.PARAMS)
    assert os.path.isdir(est.model_dir)
    assert est.config.model_dir == est.model_dir

  def test_model_fn_argument_checks(self):
    with pytest.raises(ValueError, match='features'):
      tf.estimator.Estimator(lambda labels, mode: None)
    with pytest.raises(ValueError, match='params'):
      tf.estimator.Estimator(lambda features, labels: None, params={'a': 1})
    with pytest.raises(ValueError, match='not expected args'):
      tf.estimator.Estimator(lambda features, labels, extra: None)

  def test_subclass_may_not_override_members(self):
    class Bad(tf.estimator.Estimator):
      def train(self, *args, **kwargs):
        pass
    # 2.15's message, the names as a list.
    with pytest.raises(ValueError, match=re.escape("does override ['train']")):
      Bad(custom_dnn.model_fn)

  def test_subclass_opts_out_of_the_override_check_as_in_2_15(
      self, monkeypatch, tmp_path):
    class OwnCheck(tf.compat.v1.estimator.Estimator):
      """Defines the check itself, as 2.15's comment told subclasses to."""

      def _assert_members_are_not_overridden(self):
        pass

      def evaluate(self, *args, **kwargs):
        return 'evaluated'

    class Allowed(tf.estimator.Estimator):
      def latest_checkpoint(self):  # on 2.15's list of allowed overrides
        return None

    assert OwnCheck(custom_dnn.model_fn).evaluate(None) == 'evaluated'
    Allowed(custom_dnn.model_fn)

    class Overrides(tf.estimator.Estimator):
      def train(self, *args, **kwargs):
        return 'trained'

    # AdaNet opts out for every subclass by replacing the check on the class.
    monkeypatch.setattr(tf.estimator.Estimator,
                        '_assert_members_are_not_overridden',
                        staticmethod(lambda _: None))
    assert Overrides(custom_dnn.model_fn, str(tmp_path)).train(None) == 'trained'

  def test_warm_start_settings_is_an_attribute(self, tmp_path):
    class SetsItFirst(tf.estimator.Estimator):
      """AdaNet's Estimator assigns it before calling the constructor."""

      def __init__(self, **kwargs):
        self._warm_start_settings = kwargs.get('warm_start_from')
        super().__init__(custom_dnn.model_fn, params=custom_dnn.PARAMS,
                         **kwargs)

    assert SetsItFirst()._warm_start_settings is None
    settings = SetsItFirst(warm_start_from=str(tmp_path))._warm_start_settings
    assert isinstance(settings, tf.estimator.WarmStartSettings)
    assert settings.ckpt_to_initialize_from == str(tmp_path)

  @pytest.mark.parametrize('kwargs,message', [
      (dict(steps=0), 'steps > 0'),
      (dict(max_steps=-1), 'max_steps > 0'),
      (dict(steps=1, max_steps=2), 'both steps and max_steps'),
  ])
  def test_train_argument_errors(self, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
      make_estimator(str(tmp_path)).train(custom_dnn.train_input_fn, **kwargs)

  def test_evaluate_steps_must_be_positive(self, tmp_path):
    with pytest.raises(ValueError, match='steps > 0'):
      make_estimator(str(tmp_path)).evaluate(custom_dnn.eval_input_fn, steps=0)

  def test_inspection_needs_a_checkpoint(self, tmp_path):
    est = make_estimator(str(tmp_path))
    assert est.latest_checkpoint() is None
    with pytest.raises(ValueError, match='Could not find trained model'):
      est.get_variable_names()
    with pytest.raises(ValueError, match='Could not find trained model'):
      est.get_variable_value('global_step')

  def test_unknown_predict_keys(self, golden_model_dir):
    with pytest.raises(ValueError, match='Expected to run at least one output'):
      next(make_estimator(golden_model_dir).predict(custom_dnn.predict_input_fn,
                                                    predict_keys=['nope']))

  def test_saving_listeners_need_checkpoints(self, tmp_path):
    est = make_estimator(str(tmp_path), save_checkpoints_steps=None,
                         save_checkpoints_secs=None)
    with pytest.raises(ValueError, match='CheckpointSaverHook'):
      est.train(custom_dnn.train_input_fn, steps=1,
                saving_listeners=[custom_dnn.RecordingListener()])

  def test_estimator_spec_validation(self):
    with tf.Graph().as_default():
      loss = tf.constant(1.0)
      with pytest.raises(ValueError, match='Missing train_op'):
        te.EstimatorSpec(te.ModeKeys.TRAIN, loss=loss)
      with pytest.raises(ValueError, match='Missing loss'):
        te.EstimatorSpec(te.ModeKeys.EVAL)
      with pytest.raises(ValueError, match='Missing predictions'):
        te.EstimatorSpec(te.ModeKeys.PREDICT)
      with pytest.raises(ValueError, match='Loss must be scalar'):
        te.EstimatorSpec(te.ModeKeys.EVAL, loss=tf.constant([1.0, 2.0]))
      with pytest.raises(TypeError, match='eval_metric_ops'):
        te.EstimatorSpec(te.ModeKeys.EVAL, loss=loss, eval_metric_ops={'a': loss})
      spec = te.EstimatorSpec(te.ModeKeys.PREDICT, predictions={'p': loss})
      assert list(spec.export_outputs) == ['serving_default']

  def test_model_fn_property_binds_params(self):
    est = make_estimator(None)
    with tf.Graph().as_default():
      features, labels = custom_dnn.make_data(4, 0)
      spec = est.model_fn({k: tf.constant(v) for k, v in features.items()},
                          tf.constant(labels), te.ModeKeys.EVAL, est.config)
      assert 'accuracy' in spec.eval_metric_ops


class TestInstall:

  def test_legacy_paths_resolve_here(self):
    import tensorflow_estimator  # pylint: disable=g-import-not-at-top
    from tensorflow_estimator.python.estimator import estimator as legacy_lib
    from tensorflow_estimator.python.estimator.export import export_lib
    # As in 2.15: the module's Estimator is the v1 class, EstimatorV2 the v2
    # one, a subclass that hides the deprecated export_savedmodel.
    assert legacy_lib.Estimator is tf.compat.v1.estimator.Estimator
    assert legacy_lib.EstimatorV2 is te.Estimator is tf.estimator.Estimator
    assert issubclass(tf.estimator.Estimator, tf.compat.v1.estimator.Estimator)
    assert legacy_lib.WarmStartSettings is te.WarmStartSettings
    assert legacy_lib.VocabInfo is te.VocabInfo
    v2 = tf.estimator.Estimator(lambda features, labels, mode: None)
    assert not hasattr(v2, 'export_savedmodel')  # v1 only
    with pytest.raises(AttributeError, match=re.escape(  # 2.15's message
        '`Estimator.export_savedmodel` has been deprecated. Please use '
        '`export_saved_model` instead.')):
      v2.export_savedmodel  # pylint: disable=pointless-statement
    assert hasattr(tf.compat.v1.estimator.Estimator(
        lambda features, labels, mode: None), 'export_savedmodel')
    assert tf.compat.v2.estimator.RunConfig is te.RunConfig
    # tf_upgrade_v2's `tf.compat.v1.estimator` under `import
    # tensorflow.compat.v1 as tf`, and the other nested paths 2.15 had.
    import tensorflow.compat.v1 as tf_v1  # pylint: disable=g-import-not-at-top
    assert tf_v1.compat.v1.estimator is tf.compat.v1.estimator
    assert tf_v1.compat.v2.estimator is tf.estimator
    assert tf.compat.v2.compat.v1.estimator.ModeKeys.PREDICT == 'infer'
    assert tf.compat.v2.compat.v2.estimator.DNNClassifier is te.DNNClassifier
    assert tensorflow_estimator.estimator.ModeKeys.PREDICT == 'infer'
    # `from tensorflow_estimator import estimator` gave 2.15's v1 API, the
    # one with `inputs` and `tpu` that BERT-era programs use.
    from tensorflow_estimator import estimator as legacy_api  # pylint: disable=g-import-not-at-top
    assert legacy_api is tf.compat.v1.estimator
    assert legacy_api.Estimator is tf.compat.v1.estimator.Estimator
    assert legacy_api.inputs.numpy_input_fn is te.inputs.numpy_input_fn
    assert legacy_api.tpu.TPUEstimator.__name__ == 'TPUEstimator'
    assert export_lib.ServingInputReceiver is te.export.ServingInputReceiver
    assert tf.compat.v1.estimator.inputs.numpy_input_fn is te.inputs.numpy_input_fn

  def test_canned_paths_resolve_lazily(self):
    from tensorflow_estimator.python.estimator.canned import dnn  # pylint: disable=g-import-not-at-top
    from tensorflow_estimator.python.estimator.head import binary_class_head  # pylint: disable=g-import-not-at-top
    assert dnn.DNNClassifierV2 is tf.estimator.DNNClassifier
    assert dnn.DNNClassifier is tf.compat.v1.estimator.DNNClassifier
    assert binary_class_head.BinaryClassHead is tf.estimator.BinaryClassHead
    assert tf.estimator.experimental.RNNClassifier.__name__ == 'RNNClassifier'
    with pytest.raises(AttributeError, match='NoSuchEstimator'):
      tf.estimator.NoSuchEstimator  # pylint: disable=pointless-statement

  def test_paths_are_found_as_installed_modules(self):
    # Libraries ask `find_spec` whether tf.estimator is installed; for a
    # module in sys.modules without a spec it raised ValueError.
    import importlib.util  # pylint: disable=g-import-not-at-top
    for name in ('tensorflow_estimator', 'tensorflow_estimator.python',
                 'tensorflow_estimator.python.estimator.canned.dnn',
                 'tensorflow_estimator.python.estimator.estimator'):
      assert importlib.util.find_spec(name) is not None, name
    assert importlib.util.find_spec(
        'tensorflow_estimator').submodule_search_locations == []

  def test_patching_a_lazy_path_patches_the_package(self):
    """Programs patch e.g. `canned.rnn._make_rnn_layer` by its 2.15 path."""
    from unittest import mock  # pylint: disable=g-import-not-at-top
    from tensorflow_estimator.python.estimator.canned import rnn as legacy  # pylint: disable=g-import-not-at-top
    from tfcompat_estimator.canned import rnn  # pylint: disable=g-import-not-at-top
    original = rnn._make_rnn_layer  # pylint: disable=protected-access
    with mock.patch.object(legacy, '_make_rnn_layer', 'patched'):
      assert rnn._make_rnn_layer == 'patched'  # pylint: disable=protected-access
    assert rnn._make_rnn_layer is original  # pylint: disable=protected-access
    assert legacy.__name__.startswith('tensorflow_estimator.')

  def test_train_and_evaluate_paths_resolve_here(self):
    # pylint: disable=g-import-not-at-top
    from tensorflow_estimator.python.estimator import early_stopping
    from tensorflow_estimator.python.estimator import exporter
    from tensorflow_estimator.python.estimator import training
    from tensorflow_estimator.python.estimator.hooks import hooks
    assert training.train_and_evaluate is tf.estimator.train_and_evaluate
    assert training.EvalSpec is tf.compat.v1.estimator.EvalSpec
    assert exporter.BestExporter is tf.estimator.BestExporter
    assert (early_stopping.stop_if_no_decrease_hook is
            tf.estimator.experimental.stop_if_no_decrease_hook)
    assert (hooks.InMemoryEvaluatorHook is
            tf.compat.v1.estimator.experimental.InMemoryEvaluatorHook)

  def test_install_after_tensorflow_was_imported_first(self):
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top
    # `v1` and `v2`: modules the program held before importing us, which
    # tf_keras' import replaced as `tf.compat.v1` and `tf.compat.v2` (it
    # failed: "module 'tensorflow._api.v2.compat.v1' has no attribute
    # 'estimator'").
    program = ('import tensorflow as tf\n'
               'v1, v2 = tf.compat.v1, tf.compat.v2\n'
               'import tfcompat_estimator\n'
               'tfcompat_estimator.install()\n'
               'tf.keras.layers.Dense\n'
               'print(tf.compat.v1.estimator.DNNClassifier.__name__,'
               ' tf.estimator.DNNClassifier.__name__,'
               ' v1.estimator.DNNClassifier.__name__,'
               ' v2.estimator.DNNClassifier.__name__)\n')
    out = subprocess.run([sys.executable, '-c', program], capture_output=True,
                         text=True, check=False,
                         env={k: v for k, v in os.environ.items()
                              if k != 'TF_USE_LEGACY_KERAS'})
    assert out.stdout.split() == ['DNNClassifier', 'DNNClassifierV2'] * 2, (
        out.stderr[-2000:])

  def test_first_autograph_conversion_imports_no_aliased_module(self, tmp_path):
    """Autograph asks every module for `__file__`; aliases answer unimported.

    And install() leaves TensorFlow's startup objects out of the garbage
    collector's full passes. Both are first-call costs, so a fresh process.
    """
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top
    program = (
        'import gc, sys\n'
        'import tensorflow as tf\n'
        'import tfcompat_estimator\n'
        'frozen_before = gc.get_freeze_count()\n'
        'tfcompat_estimator.install()\n'
        'alias = sys.modules["tensorflow_estimator.python.estimator.canned.dnn"]\n'
        'print(alias.__file__)\n'
        'def absolute(x):\n'
        '  return x if x > 0 else -x\n'
        'tf.data.Dataset.range(3).map(absolute)\n'
        'print(sorted(m for m in sys.modules if m.startswith('
        '("tfcompat_estimator.canned", "tfcompat_estimator.keras_lib", '
        '"tfcompat_estimator.tpu"))))\n'
        'frozen = gc.get_freeze_count()\n'
        'made_later = [{} for _ in range(1000)]\n'
        'tfcompat_estimator.install()  # a second call freezes nothing more\n'
        'print(frozen_before, frozen, gc.get_freeze_count())\n'
        'print(alias.DNNClassifier.__module__, alias.__file__)\n')
    script = tmp_path / 'first_conversion.py'  # autograph reads its source
    script.write_text(program)
    out = subprocess.run([sys.executable, str(script)], capture_output=True,
                         text=True, check=True)
    file_before, loaded, frozen, resolved = out.stdout.splitlines()[-4:]
    from tfcompat_estimator.canned import dnn  # pylint: disable=g-import-not-at-top
    assert file_before == dnn.__file__
    assert eval(loaded) == []  # pylint: disable=eval-used
    before, after, after_second_call = map(int, frozen.split())
    assert before == 0 and after > 100_000 and after_second_call == after
    assert resolved.split() == ['tfcompat_estimator.canned.dnn', dnn.__file__]

  def test_v1_layers_available_without_environment_setup(self):
    with tf.Graph().as_default():
      out = tf.compat.v1.layers.dense(tf.zeros([1, 2]), 3)
      cell = tf.compat.v1.nn.rnn_cell.LSTMCell(4)
    assert out.shape.as_list() == [1, 3] and cell.state_size is not None


class TestEvalMetrics:

  @staticmethod
  def _model_fn(features, labels, mode):
    x = features['x']
    w = tf.compat.v1.get_variable('w', [1], initializer=tf.ones_initializer())
    pred = x * w
    loss = tf.reduce_mean(tf.square(pred - labels))
    keras_mean = tf.keras.metrics.Mean(name='keras_mean')
    keras_mean.update_state(pred)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
        loss, tf.compat.v1.train.get_or_create_global_step())
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op,
        eval_metric_ops={'keras_mean': keras_mean,
                         'v1_max': tf.compat.v1.metrics.mean(tf.reduce_max(pred))})

  def test_keras_metric_objects_and_v1_pairs(self, tmp_path):
    data = np.arange(12, dtype=np.float32)
    input_fn = lambda: tf.data.Dataset.from_tensor_slices(
        ({'x': data}, data)).batch(5)
    est = tf.estimator.Estimator(self._model_fn, str(tmp_path))
    est.train(input_fn, steps=1)
    assert 'keras_mean' not in ' '.join(est.get_variable_names())
    for _ in range(2):  # metric state restarts on each call
      metrics = est.evaluate(input_fn)
      np.testing.assert_allclose(metrics['keras_mean'], data.mean(), rtol=1e-6)
      np.testing.assert_allclose(metrics['v1_max'], np.mean([4.0, 9.0, 11.0]))
      assert metrics['loss'] == 0.0 and metrics['global_step'] == 1

  def test_batch_dependent_metric_value_is_a_clear_error(self, tmp_path):
    def model_fn(features, labels, mode):
      loss = tf.reduce_mean(features['x'])
      return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
          'bad': (tf.reduce_max(features['x']), tf.no_op())})
    input_fn = lambda: tf.data.Dataset.from_tensor_slices(({'x': [1.0, 2.0]}, [0.0, 0.0])).batch(2)
    # Read on one more batch, as in 2.15, which the input does not have.
    with pytest.raises(ValueError, match=r"eval_metric_ops \['bad'\] read "
                       'the input batch'):
      tf.estimator.Estimator(model_fn, str(tmp_path)).evaluate(input_fn)


class TestGlobalStepWrites:
  """A train op that is a Tensor, incrementing the step itself (heads' train_op_fn)."""

  @staticmethod
  def _model_fn(features, labels, mode):
    del labels
    global_step = tf.compat.v1.train.get_or_create_global_step()
    loss = tf.reduce_mean(features['x'])
    return te.EstimatorSpec(mode, loss=loss,
                            train_op=tf.compat.v1.assign_add(global_step, 1))

  @staticmethod
  def _input_fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'x': np.ones((12, 1), np.float32)}, np.ones((12, 1)))).batch(2)

  @pytest.mark.parametrize('summary_steps', [1, 100])  # single steps / compiled loop
  def test_every_step_counts(self, tmp_path, summary_steps):
    est = te.Estimator(self._model_fn, str(tmp_path), config=te.RunConfig(
        save_summary_steps=summary_steps))
    est.train(self._input_fn, steps=4)
    assert est.get_variable_value('global_step') == 4

  def test_hooks_see_the_pre_step_value(self, tmp_path):
    seen = []

    class StepHook(tf.compat.v1.train.SessionRunHook):

      def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(
            tf.compat.v1.train.get_global_step())

      def after_run(self, run_context, run_values):
        seen.append(int(run_values.results))

    est = te.Estimator(self._model_fn, str(tmp_path))
    est.train(self._input_fn, steps=3, hooks=[StepHook()])
    assert seen == [0, 1, 2]


def test_write_dict_to_summary_follows_2_15s_rules(tmp_path):
  """Numbers as scalars, serialized Summaries re-tagged `<key>/<i>`, arrays
  as tensors; callable from inside a TF1 graph (early-stopping code does)."""
  from tensorflow_estimator.python.estimator import estimator as estimator_lib  # pylint: disable=g-import-not-at-top
  inner = tf.compat.v1.Summary()
  inner.value.add(tag='ignored', simple_value=7.)
  with tf.Graph().as_default():
    estimator_lib._write_dict_to_summary(  # pylint: disable=protected-access
        str(tmp_path), {'loss': np.float32(0.5), 'n': 3,
                        'proto': inner.SerializeToString(),
                        'matrix': np.eye(2), 'global_step': 9}, 9)
  values = {}
  for path in tf.io.gfile.glob(str(tmp_path / 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        values[value.tag] = (event.step, value.WhichOneof('value'))
  assert values == {'loss': (9, 'simple_value'), 'n': (9, 'simple_value'),
                    'proto/0': (9, 'simple_value'), 'matrix': (9, 'tensor')}


def test_call_logit_fn_passes_what_the_logit_fn_declares():
  def logit_fn(features, mode, config):
    del config
    return features['x'] * (2. if mode == 'train' else 1.)

  logits = tf.estimator.experimental.call_logit_fn(
      logit_fn, {'x': tf.constant([1.])}, 'train', params=None, config=None)
  assert logits.numpy().tolist() == [2.]
  with pytest.raises(ValueError, match='logit_fn should return a Tensor or a '
                     'dictionary mapping strings to Tensors'):
    tf.estimator.experimental.call_logit_fn(
        lambda features: {1: features['x']}, {'x': tf.constant([1.])},
        'train', None, None)


def test_keras_metrics_in_eval_metric_ops_become_tuples_as_in_2_15():
  """EstimatorSpec turns a Keras metric into (result, update op) and adds its
  variables to the metric collections; an unused one is a clear error."""
  with tf.Graph().as_default():
    loss = tf.constant(1.)
    used = tf.keras.metrics.Mean(name='mean_loss')
    used.update_state(loss)
    spec = tf.estimator.EstimatorSpec(tf.estimator.ModeKeys.EVAL, loss=loss,
                                      eval_metric_ops={'m': used})
    value, update = spec.eval_metric_ops['m']
    assert tf.is_tensor(value) and isinstance(update, tf.Operation)
    metric_variables = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.METRIC_VARIABLES)
    assert {id(v) for v in used.variables} <= {id(v) for v in metric_variables}
    with pytest.raises(ValueError, match=r'Please call update_state\(...\) on '
                       'the "unused" metric'):
      tf.estimator.EstimatorSpec(
          tf.estimator.ModeKeys.EVAL, loss=loss,
          eval_metric_ops={'u': tf.keras.metrics.Mean(name='unused')})


def test_the_config_is_logged_by_its_values(tmp_path, caplog):
  # 2.15 logged vars(config), not the object's repr.
  caplog.set_level('INFO', logger='tensorflow')
  tf.estimator.Estimator(lambda features, labels, mode: None, str(tmp_path))
  logged = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith('Using config: ')]
  assert logged and f"'_model_dir': '{tmp_path}'" in logged[0]
  assert 'object at 0x' not in logged[0]
