"""The INFO lines 2.15 logged around each call, which logs are read by.

Job logs of legacy pipelines are searched for 2.15's lines: which checkpoint
an evaluation read, when it finished, whether checkpoint listeners ran.
The engine logs them with 2.15's wording (facts from its sources:
estimator.py, training/evaluation.py, CheckpointSaverHook, Saver.restore,
MonitoredSession and SessionManager) wherever it does the same thing: a
call's graph is complete and its variables are set ("Graph was finalized.",
"Running local_init_op.") as each 2.15 session began.
"""

import logging
import os
import re

import numpy as np
import tensorflow as tf

_v1 = tf.compat.v1
_X = np.arange(24, dtype=np.float32).reshape(12, 2)
_Y = _X.sum(axis=1, keepdims=True)


def _model_fn(features, labels, mode):
  w = _v1.get_variable('w', [2, 1])
  predictions = tf.matmul(features['x'], w)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': predictions})
  loss = _v1.losses.mean_squared_error(labels, predictions)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=(
      _v1.train.GradientDescentOptimizer(1e-3).minimize(
          loss, _v1.train.get_global_step())))


def _input_fn():
  return tf.data.Dataset.from_tensor_slices(({'x': _X}, _Y)).batch(4)


def _messages(caplog):
  messages = [r.getMessage() for r in caplog.records]
  caplog.clear()
  return messages


def _in_order(messages, expected):
  """Asserts each pattern matches a message after the previous one's."""
  position = 0
  for pattern in expected:
    for i in range(position, len(messages)):
      if re.fullmatch(pattern, messages[i], re.DOTALL):
        position = i + 1
        break
    else:
      raise AssertionError(f'no line {pattern!r} after line {position} of '
                           f'{messages}')


class _Listener(_v1.train.CheckpointSaverListener):
  pass


def test_train_evaluate_and_predict_log_2_15s_lines(tmp_path, caplog):
  model_dir = str(tmp_path)
  ckpt = re.escape(os.path.join(model_dir, 'model.ckpt'))
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    estimator = tf.estimator.Estimator(_model_fn, model_dir)
    _in_order(_messages(caplog),
              [r'Using default config\.', r'Using config: .*'])

    estimator.train(_input_fn, saving_listeners=[_Listener()])
    _in_order(_messages(caplog), [
        r'Calling model_fn\.', r'Done calling model_fn\.',
        r'Create CheckpointSaverHook\.', r'Graph was finalized\.',
        r'Running local_init_op\.', r'Done running local_init_op\.',
        r'Calling checkpoint listeners before saving checkpoint 0\.\.\.',
        rf'Saving checkpoints for 0 into {ckpt}\.',
        r'Calling checkpoint listeners after saving checkpoint 0\.\.\.',
        r'Calling checkpoint listeners before saving checkpoint 3\.\.\.',
        rf'Saving checkpoints for 3 into {ckpt}\.',
        r'Calling checkpoint listeners after saving checkpoint 3\.\.\.',
        r'Loss for final step: .*'])

    estimator.evaluate(_input_fn)
    _in_order(_messages(caplog), [
        r'Calling model_fn\.', r'Done calling model_fn\.',
        r'Starting evaluation at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d',
        r'Graph was finalized\.', rf'Restoring parameters from {ckpt}-3',
        r'Running local_init_op\.', r'Done running local_init_op\.',
        r'Inference Time : \d+\.\d{5}s',
        r'Finished evaluation at \d{4}-\d\d-\d\d-\d\d:\d\d:\d\d',
        r'Saving dict for global step 3: global_step = 3, loss = .*',
        rf"Saving 'checkpoint_path' summary for global step 3: {ckpt}-3"])

    # The graph is kept: no model_fn call, but the checkpoint read is named.
    estimator.evaluate(_input_fn)
    messages = _messages(caplog)
    assert 'Calling model_fn.' not in messages
    _in_order(messages, [r'Starting evaluation at .*',
                         rf'Restoring parameters from {ckpt}-3'])

    next(estimator.predict(_input_fn))
    _in_order(_messages(caplog), [
        r'Calling model_fn\.', r'Done calling model_fn\.',
        r'Graph was finalized\.', rf'Restoring parameters from {ckpt}-3',
        r'Running local_init_op\.', r'Done running local_init_op\.'])


def test_the_checkpoint_saver_line_is_2_15s_hooks(tmp_path, caplog):
  # 2.15 made its CheckpointSaverHook (which logs the line) only when the
  # RunConfig saves and no such hook came with the call or the model_fn.
  def created(config, hooks=()):
    estimator = tf.estimator.Estimator(_model_fn, str(tmp_path), config)
    with caplog.at_level(logging.INFO, logger='tensorflow'):
      estimator.train(_input_fn, hooks=list(hooks), steps=1)
    return _messages(caplog).count('Create CheckpointSaverHook.')

  assert created(tf.estimator.RunConfig()) == 1
  assert created(tf.estimator.RunConfig(save_checkpoints_secs=None)) == 0
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    own = _v1.train.CheckpointSaverHook(str(tmp_path), save_steps=1)
  assert _messages(caplog) == ['Create CheckpointSaverHook.']  # TF's own
  assert created(tf.estimator.RunConfig(), [own]) == 0


def _progress(messages):
  return [m for m in messages if m.startswith('Evaluation [')]


def test_evaluation_progress_lines_as_2_15s(tmp_path, caplog):
  """Every N/10 steps (each step under 20) and at N; none without steps.

  2.15's `_StopAfterNEvalsHook` logged them; measured on 2.15 with 50, 300
  and 7 steps, with and without an evaluation hook.
  """
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=1)

  def endless():
    return _input_fn().repeat()

  with caplog.at_level(logging.INFO, logger='tensorflow'):
    estimator.evaluate(endless, steps=50)
    assert _progress(_messages(caplog)) == [
        f'Evaluation [{k}/50]' for k in range(5, 51, 5)]
    estimator.evaluate(endless, steps=7, hooks=[_v1.train.SessionRunHook()])
    assert _progress(_messages(caplog)) == [
        f'Evaluation [{k}/7]' for k in range(1, 8)]
    estimator.evaluate(_input_fn, steps=25)  # the input ends after 3
    assert _progress(_messages(caplog)) == ['Evaluation [2/25]']
    # The last step's line once (EMQL's evaluations logged it twice).
    estimator.evaluate(_input_fn, steps=5)
    assert _progress(_messages(caplog)) == [
        f'Evaluation [{k}/5]' for k in range(1, 4)]
    estimator.evaluate(_input_fn)
    assert _progress(_messages(caplog)) == []


def test_export_logs_one_saved_model_line_as_2_15(tmp_path, caplog):
  """One 'SavedModel written to' line, naming the temporary directory.

  2.15's builder logged it before the directory was renamed to its
  version and nothing after (measured: '.../export/temp-<version>/
  saved_model.pb', once per export).
  """
  estimator = tf.estimator.Estimator(_model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=1)
  base = os.path.join(str(tmp_path), 'export')
  receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(
      {'x': tf.io.FixedLenFeature([2], tf.float32)})
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    export_dir = estimator.export_saved_model(base, receiver).decode()
  written = [m for m in _messages(caplog)
             if m.startswith('SavedModel written to: ')]
  assert len(written) == 1, written
  path = written[0][len('SavedModel written to: '):]
  assert os.path.dirname(os.path.dirname(path)) == base
  assert os.path.basename(os.path.dirname(path)).startswith('temp-')
  assert os.path.basename(path) == 'saved_model.pb'
  assert os.path.isfile(os.path.join(export_dir, 'saved_model.pb'))
  assert not os.path.exists(os.path.dirname(path))


def test_warm_start_logs_2_15s_lines_once(tmp_path, caplog):
  """Measured on 2.15: the settings, the source, TRAINABLE_VARIABLES for a
  regex (not for a list), and the count, in the first train() only."""
  source = str(tmp_path / 'source')
  tf.estimator.Estimator(_model_fn, source).train(_input_fn, steps=1)
  for settings, lines in (
      (source, [
          "Warm-starting with WarmStartSettings: WarmStartSettings("
          f"ckpt_to_initialize_from={source!r}, vars_to_warm_start='.*', "
          'var_name_to_vocab_info={}, var_name_to_prev_var_name={})',
          f'Warm-starting from: {source}',
          'Warm-starting variables only in TRAINABLE_VARIABLES.',
          'Warm-started 1 variables.']),
      (tf.estimator.WarmStartSettings(source, vars_to_warm_start=['w']), [
          "Warm-starting with WarmStartSettings: WarmStartSettings("
          f"ckpt_to_initialize_from={source!r}, vars_to_warm_start=['w'], "
          'var_name_to_vocab_info={}, var_name_to_prev_var_name={})',
          f'Warm-starting from: {source}',
          'Warm-started 1 variables.'])):
    estimator = tf.estimator.Estimator(
        _model_fn, str(tmp_path / str(len(lines))), warm_start_from=settings)
    with caplog.at_level(logging.INFO, logger='tensorflow'):
      estimator.train(_input_fn, steps=1)
      estimator.train(_input_fn, steps=1)
    assert [m for m in _messages(caplog) if 'Warm' in m] == lines


def test_several_estimators_in_a_process_log_no_retracing_warning(
    tmp_path, caplog):
  """TF Lattice's tutorial trains five Estimators in one process.

  TF counts "frequent retracing" by the Python code a tf.function wraps;
  the engine makes its loops anew per model graph, and the warning named
  them (`make_loop.<locals>.steps`). 2.15 logged none (measured).
  """
  with caplog.at_level(logging.WARNING, logger='tensorflow'):
    for i in range(6):
      estimator = tf.estimator.Estimator(_model_fn, str(tmp_path / str(i)))
      estimator.train(_input_fn, steps=3)
      estimator.evaluate(_input_fn)
  assert not [m for m in _messages(caplog) if 'retracing' in m]


def test_saving_dict_leaves_out_bytes_as_2_15(tmp_path, caplog):
  """A metric whose value is a serialized summary (AdaNet's architecture)
  is written to the events but not printed in 'Saving dict' (2.15's
  `_dict_to_str` skipped bytes)."""

  def model_fn(features, labels, mode):
    spec = _model_fn(features, labels, mode)
    if mode != tf.estimator.ModeKeys.EVAL:
      return spec
    text = _v1.summary.text('architecture', tf.constant('| dnn |'))
    return spec._replace(eval_metric_ops={'architecture': (text, tf.no_op())})

  estimator = tf.estimator.Estimator(model_fn, str(tmp_path))
  estimator.train(_input_fn, steps=1)
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    results = estimator.evaluate(_input_fn)
  assert isinstance(results['architecture'], bytes)
  [line] = [m for m in _messages(caplog) if m.startswith('Saving dict')]
  assert line == (
      'Saving dict for global step 1: global_step = 1, loss = '
      f'{results["loss"]!s}')


def test_train_and_evaluate_announces_its_loop_in_2_15s_words(tmp_path, caplog):
  # The line as 2.15's _TrainingExecutor logged it (taxifare's job logs,
  # training-data-analyst, measured on 2.15 with save_checkpoints_secs=30).
  estimator = tf.estimator.Estimator(
      _model_fn, str(tmp_path),
      config=tf.estimator.RunConfig(save_checkpoints_secs=30))
  with caplog.at_level(logging.INFO, logger='tensorflow'):
    tf.estimator.train_and_evaluate(
        estimator, tf.estimator.TrainSpec(_input_fn, max_steps=2),
        tf.estimator.EvalSpec(_input_fn, steps=1, throttle_secs=600))
  _in_order(_messages(caplog), [
      # 2.15 asked whether a distribute coordinator ran the job.
      re.escape('Not using Distribute Coordinator.'),
      re.escape('Running training and evaluation locally (non-distributed).'),
      re.escape(
          'Start train and evaluate loop. The evaluate will happen after '
          'every checkpoint. Checkpoint frequency is determined based on '
          'RunConfig arguments: save_checkpoints_steps None or '
          'save_checkpoints_secs 30.')])


def test_a_model_fn_taking_params_without_params_warns_as_2_15(
    tmp_path, caplog):
  def model_fn(features, labels, mode, params):
    assert params == {}  # 2.15 passed an empty dict
    return _model_fn(features, labels, mode)

  caplog.set_level(logging.INFO)
  tf.estimator.Estimator(_model_fn, str(tmp_path / 'a'))
  assert not [m for m in _messages(caplog) if 'includes params' in m]
  estimator = tf.estimator.Estimator(model_fn, str(tmp_path / 'b'))
  (line,) = [m for m in _messages(caplog) if 'includes params' in m]
  assert re.fullmatch(r"Estimator's model_fn \(<function .*model_fn at .*>\) "
                      r'includes params argument, but params are not passed '
                      r'to Estimator\.', line)
  estimator.train(_input_fn, steps=1)
  tf.estimator.Estimator(model_fn, str(tmp_path / 'c'), params={'a': 1})
  assert not [m for m in _messages(caplog) if 'includes params' in m]


def test_model_dir_from_tf_config_is_logged_in_2_15s_words(
    tmp_path, caplog, monkeypatch):
  """Model Search gives each trial its model_dir through TF_CONFIG."""
  monkeypatch.setenv('TF_CONFIG', '{"model_dir": "%s"}' % tmp_path)
  caplog.set_level(logging.INFO)
  assert tf.estimator.RunConfig().model_dir == str(tmp_path)
  assert f'Using model_dir in TF_CONFIG: {tmp_path}' in _messages(caplog)
