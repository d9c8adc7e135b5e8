"""Legacy programs in TF1 mode give 2.15's numbers (golden artifacts).

`tf.compat.v1.disable_v2_behavior()` is process-wide, so each program runs in
a process of its own (`tf1_mode_child.py`): after the switch (`v1`), or in
TF2 mode with every call inside `with tf.Graph().as_default():` (`graph`).
2.15 built its own graphs and ran both; its model_dirs and the numbers it
computed from them are in third_party/tensorflow_estimator_2_15/golden/.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests import helpers

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'third_party',
                      'tensorflow_estimator_2_15', 'golden')
RTOL, ATOL = 1e-5, 1e-6
CONTINUED_RTOL = 1e-4  # ten more optimizer steps: float summation order
# One of each family and API generation; the slow tier runs every case.
FAST_CASES = ['v1_dnn_classifier', 'dnn_classifier_binary',
              'v1_linear_classifier', 'dnn_linear_combined_classifier',
              'baseline_regressor', 'rnn_classifier']


def run_child(world, scenario, tmp_path, *args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  proc = subprocess.run(
      [sys.executable, os.path.join(helpers.DIR, 'tf1_mode_child.py'), world,
       scenario, str(tmp_path), *args],
      capture_output=True, text=True, env=env, timeout=900, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  # Every call handed the caller's world back as it found it.
  assert result.pop('executing_eagerly_after') is (world == 'v2')
  if world == 'graph':
    assert result.pop('caller_graph_untouched')
  return result


def close(actual, expected, what, rtol=RTOL):
  expected = np.asarray(expected)
  if expected.dtype.kind in 'USO':
    assert actual == expected.tolist(), what
  else:
    np.testing.assert_allclose(np.asarray(actual, np.float64),
                               expected.astype(np.float64), rtol=rtol,
                               atol=ATOL, err_msg=what)


def assert_dicts_close(actual, expected, what, rtol=RTOL):
  assert sorted(actual) == sorted(expected), what
  for key, value in expected.items():
    close(actual[key], value, f'{what} {key}', rtol)


@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_custom_model_fn_on_2_15_model_dir(world, tmp_path):
  with open(os.path.join(GOLDEN, 'custom_dnn', 'expected.json')) as f:
    golden = json.load(f)
  got = run_child(world, 'custom_golden', tmp_path)
  assert_dicts_close(got['eval_metrics'], golden['eval_metrics'], 'eval')
  assert len(got['predictions']) == len(golden['predictions'])
  for i, (ours, theirs) in enumerate(zip(got['predictions'],
                                         golden['predictions'])):
    assert_dicts_close(ours, theirs, f'prediction {i}')
  assert sorted(got['serving']) == sorted(golden['serving_outputs'])
  for key, want in golden['serving_outputs'].items():
    assert_dicts_close(got['serving'][key], want['outputs'], f'serving {key}')
  # Trained on from step 60 with a one-shot-iterator input_fn (tensors).
  continued = golden['continued_training']
  assert got['global_step'] == continued['global_step']
  assert_dicts_close(got['continued_eval_metrics'], continued['eval_metrics'],
                     'continued eval', rtol=CONTINUED_RTOL)


def _check_canned(name, got):
  with open(os.path.join(GOLDEN, 'canned', name, 'expected.json')) as f:
    golden = json.load(f)
  assert_dicts_close(got['eval_metrics'], golden['eval_metrics'],
                     f'{name} eval')
  assert len(got['predictions']) == len(golden['predictions'])
  for i, (ours, theirs) in enumerate(zip(got['predictions'],
                                         golden['predictions'])):
    assert_dicts_close(ours, theirs, f'{name} prediction {i}')
  for key, want in golden['serving_outputs'].items():
    for output, value in want.items():
      close(got['serving'][key][output], value, f'{name} serving {key}')
  continued = golden['continued']
  assert sorted(got['variable_values']) == sorted(continued['variable_values'])
  assert got['variable_values']['global_step'] == continued['global_step']
  assert_dicts_close(got['variable_values'], continued['variable_values'],
                     f'{name} continued', rtol=CONTINUED_RTOL)


def test_canned_estimators_on_2_15_model_dirs_in_tf1_mode(tmp_path):
  got = run_child('v1', 'canned_golden', tmp_path, *FAST_CASES)
  for name in FAST_CASES:
    _check_canned(name, got[name])


@pytest.mark.slow
@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_every_canned_case_in_tf1_worlds(world, tmp_path):
  names = sorted(os.listdir(os.path.join(GOLDEN, 'canned')))
  names = [n for n in names if os.path.isdir(os.path.join(GOLDEN, 'canned', n))]
  got = run_child(world, 'canned_golden', tmp_path, *names)
  for name in names:
    _check_canned(name, got[name])


def _assert_same_training(got, names):
  first = got[names[0]]
  for name in names[1:]:
    for key, value in first.items():
      np.testing.assert_allclose(got[name][key], value, rtol=1e-6,
                                 err_msg=f'{name} {key}')


@pytest.mark.parametrize('world', ['v1', 'v2'])
def test_tf1_input_pipelines_feed_the_same_batches_as_a_dataset(world,
                                                                tmp_path):
  """Initializable iterators (fed by a hook) and queue runners, as 2.15 ran them.

  The iterator is initialized by a hook's `after_create_session` with a
  `feed_dict` (TF-Ranking's example); the queues are filled by queue runners
  and their end of input (num_epochs) ends training and evaluation.
  """
  got = run_child(world, 'input_pipelines', tmp_path)
  queue_summaries = {name: got[name].pop('queue_summaries')
                     for name in got if name != 'queue_runner_error'}
  _assert_same_training(got, [name for name in got
                              if name != 'queue_runner_error'])
  assert got['dataset']['steps_to_end_of_input'] == 2 * 40 // 8
  assert len(got['queue']['predictions']) == 40
  # numpy_input_fn's tensors as returned run from their Dataset; worked on,
  # they run from its queue, whose fill fraction is then summarized, as in
  # 2.15 (tf.compat.v1.train.batch's queue summarizes itself too).
  assert queue_summaries['numpy'] == []
  assert queue_summaries['queue'] == [
      'batch/fraction_of_16_full',
      'input_producer/input_producer/fraction_of_32_full']
  if world == 'v1':
    assert queue_summaries['numpy_wrapped'] == [
        'enqueue_input/queue/enqueue_input/fifo_queuefraction_over_0_of_1000_full']
  # A queue runner's failure stops the job with the runner's own error.
  assert 'the reader failed' in got['queue_runner_error']


@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_input_fn_runs_once_per_call_in_a_graph_seeded_by_run_config(
    world, tmp_path):
  got = run_child(world, 'input_fn_calls', tmp_path)
  start = got.pop('seeded_start')
  # train, evaluate, predict: one call each, in a graph whose seed is the
  # RunConfig's (a TF1 input_fn's shuffles draw from it), as in 2.15.
  assert got == {'dataset': [5, 5, 5], 'tensors': [5, 5, 5]}
  # The model's unseeded initializers took the op seeds after the input's
  # shuffle, as in 2.15's one graph (values measured there; tf.layers'
  # kernel drew new values at every run there in a TF2 world).
  np.testing.assert_allclose(
      start['w'], [-0.03, -0.02484, 0.01046, -0.00718, 0.01925, -0.03726],
      atol=1e-5)
  if world == 'v1':
    np.testing.assert_allclose(start['dense/kernel'], [1.37974, -0.39012],
                               atol=1e-5)


def test_random_ops_in_tf1_control_flow_take_the_model_graphs_op_seeds(
    tmp_path):
  """2.15 built a TF1 program's cond branches and loop bodies into the model
  graph, so their unseeded random ops took its next op seed, and the
  initializers after them the seeds after that (SimCLR's random blur).
  Values measured on 2.15 (this scenario, `v1`): all four run to run."""
  got = run_child('v1', 'seeded_control_flow', tmp_path)
  after_one_draw = [-0.85701, 0.34275, 0.77864]
  np.testing.assert_allclose(got.pop('none'), [0.8217, 1.01972, -0.01311],
                             atol=1e-5)
  for where in ('outside', 'cond', 'while'):
    np.testing.assert_allclose(got[where], after_one_draw, atol=1e-5,
                               err_msg=where)


def test_numpy_input_fns_take_2_15s_op_seeds(tmp_path):
  """Its shuffling queue one, its FIFO queue none: a seeded model then
  starts from 2.15's weights (TensorFlow-Examples' MNIST programs). The
  one-shot iterator feeding the queue drew one more. Values measured on
  2.15 (this scenario, `v1`)."""
  got = run_child('v1', 'seeded_numpy_inputs', tmp_path)
  np.testing.assert_allclose(got['shuffle=False'], [0.44222, -0.59598, 0.55393],
                             atol=1e-5)
  np.testing.assert_allclose(got['shuffle=True'], [-0.62856, -0.68066, -0.60697],
                             atol=1e-5)


def test_a_seeded_dynamic_rnn_draws_its_cells_initial_values_outside_the_loop(
    tmp_path):
  """A v1 `dynamic_rnn` makes its cell's variables in the loop's body; TF1
  drew their initial values outside it. Drawn in the body graph, the
  kernel's initializer could never run: the first train() of a seeded
  program failed with AttributeError (cloudml-samples' tpu_lstm_estimator).
  Values measured on 2.15 (this scenario, `v1`)."""
  got = run_child('v1', 'seeded_dynamic_rnn', tmp_path)
  np.testing.assert_allclose(
      got['rnn/basic_lstm_cell/kernel'],
      [0.31255, -0.43394, 0.40681, -0.32672, -0.4396, 0.23022], atol=1e-5)
  np.testing.assert_allclose(got['w'], [-0.80523, -1.04336, -0.98825,
                                        -0.60858], atol=1e-5)


def test_a_tf1_programs_canned_lstm_trains_fused_to_2_15s_weights(tmp_path):
  """In TF1 mode a Keras layer has no dtype before it is built; a check
  that read it kept TF1 programs' canned LSTMs off the fused kernel
  (`canned/fused_lstm.py`). Weights after three seeded steps measured on
  2.15 (this scenario, `v1`), where the Keras loop ran."""
  got = run_child('v1', 'canned_lstm', tmp_path)
  assert got.pop('fused_ops') == ['BlockLSTM', 'BlockLSTM', 'BlockLSTMGrad',
                                  'BlockLSTMGrad']
  prefix = 'rnn_model/rnn/stacked_rnn_cells/'
  want = {
      'rnn_model/logits/kernel': [-0.74601, -1.15109, -0.33007],
      prefix + 'lstm_cell/kernel': [-0.49963, -0.54098, -0.48236, -0.2569,
                                    0.17216, 0.09057],
      prefix + 'lstm_cell/recurrent_kernel': [-0.34098, 0.09895, 0.04525,
                                              0.03713, 0.16454, -0.48104],
      prefix + 'lstm_cell_1/kernel': [0.34144, 0.36887, 0.2748, -0.32959,
                                      0.27819, -0.39144],
      prefix + 'lstm_cell_1/recurrent_kernel': [0.36234, 0.42325, -0.55402,
                                                0.02589, -0.13784, -0.1263]}
  assert sorted(got) == sorted(want)
  for name, values in want.items():
    np.testing.assert_allclose(got[name], values, atol=2e-5, err_msg=name)


def test_a_dataset_reading_a_graph_table_in_tf1_mode(tmp_path):
  """A one-shot iterator cannot capture the table; an initializable one can."""
  got = run_child('v1', 'table_dataset', tmp_path)
  assert got['steps'] == 5  # 20 examples in batches of 4: to end of input
  assert np.all(np.isfinite(got['kernel']))


@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_a_tf1_predict_makes_graphs_per_call_not_per_batch(world, tmp_path):
  """A TF1 world's predict() leaves the engine's scope per item it yields.

  Each time it came back, TensorFlow found no global default graph and
  made one (17 us) for the step's function call: one Graph per batch.
  """
  control = run_child('v2', 'predict_graphs', tmp_path / 'v2')
  got = run_child(world, 'predict_graphs', tmp_path / world)
  assert len(got['predictions']) == 40
  np.testing.assert_allclose(got['predictions'], control['predictions'],
                             rtol=1e-6)
  # The input_fn's graph, its iterator's functions and the call's global
  # graph: four, where there were 44.
  assert len(got['graphs_made']) < 10, got['graphs_made']


def test_tf1_programs_train_with_the_loop_tf2_programs_compile(tmp_path):
  """TF1 mode trains as fast as TF2 mode, because it runs the same program.

  Timed side by side (bench/TF1_MODE.md) the two modes differ within the
  machine's noise, one run in favour of either; this pins down why they
  should not differ: the compiled training loop holds the same ops with
  the same attributes (dtypes, shapes, constants, resource variables) in
  every world, for a dataset and for a one-shot iterator's tensors.
  """
  control = run_child('v2', 'train_loop_programs', tmp_path / 'v2')
  assert sorted(control) == ['custom_dnn dataset', 'v1_dnn_classifier dataset']
  for world in ('v1', 'graph'):
    got = run_child(world, 'train_loop_programs', tmp_path / world)
    assert len(got) == 4, sorted(got)
    for name, programs in got.items():
      model = name.split()[0]
      assert len(programs) == 1 and len(programs[0]) > 200, (world, name)
      assert programs == control[f'{model} dataset'], (world, name)


@pytest.mark.slow
def test_tf1_input_pipelines_match_2_15(tmp_path, venv215_python):
  ours = run_child('v1', 'input_pipelines', tmp_path / 'ours')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  env.pop('TF_USE_LEGACY_KERAS', None)  # 2.15 has no tf-keras; tf.keras is Keras 2
  proc = subprocess.run(
      [venv215_python, os.path.join(helpers.DIR, 'tf1_mode_child.py'), 'v1',
       'input_pipelines', str(tmp_path / 'theirs')],
      capture_output=True, text=True, env=env, timeout=900, check=True)
  theirs = json.loads(proc.stdout.strip().splitlines()[-1])
  for name in ('dataset', 'initializable', 'queue', 'one_shot',
               'one_shot_worked', 'numpy', 'numpy_wrapped'):
    theirs[name].pop('queue_summaries')
    ours[name].pop('queue_summaries')
    for key, value in theirs[name].items():
      np.testing.assert_allclose(ours[name][key], value, rtol=1e-6,
                                 err_msg=f'{name} {key}')
  assert ours['queue_runner_error'].split(':')[0] == (
      theirs['queue_runner_error'].split(':')[0])


@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_a_session_the_model_fn_opens_draws_2_15s_values(tmp_path, world):
  """YOTO's model_fn draws its loss weights in a session on its own graph
  (session_emulation/model_fn_sessions.py). Measured on 2.15 with this
  scenario in both worlds: the RunConfig-seeded draw, an assignment the
  session saw and training did not, the weight after three steps."""
  got = run_child(world, 'session_in_model_fn', tmp_path)
  close(got['weights'], [0.7537285089492798, 0.07793760299682617], 'weights')
  assert got['counted'] == 13.0
  assert got['counter'] == 3.0
  close(got['w'], 1.387489914894104, 'w')


def test_tf1_control_flow_is_built_in_the_model_graph(tmp_path):
  """Under TF1's switches a while loop's body is built in the model graph,
  as on 2.15 (engine/graph_capture.py): Sonnet 1 modules refuse to be
  called in two graphs, and learning_to_simulate's rollout failed. 2.15's
  answer with this scenario: [True] and [0.0, 16.0]."""
  got = run_child('v1', 'module_in_while_loop', tmp_path)
  assert got == {'body_in_model_graph': [True], 'predictions': [0.0, 16.0]}


@pytest.mark.parametrize('world', ['v1', 'graph'])
def test_a_variable_handle_is_a_tensor_of_the_model_graph(tmp_path, world):
  """K-FAC keys its layers' parameters by their handles and walks their
  consumers while the model_fn runs (engine/tf1_graph_semantics.py).
  Measured on 2.15 with this scenario in both worlds: a tensor of the
  model graph, which a ReadVariableOp consumes, and 0.8 after one step."""
  got = run_child(world, 'variable_handles', tmp_path)
  assert got['in_model_graph'] is True
  assert 'ReadVariableOp' in got['consumers']
  assert got['keyed'] == 'r'
  close(got['r_after_one_step'], [[0.800000011920929]], 'r')


@pytest.mark.parametrize('world,fetched', [('v1', [1, 2, 3]),
                                           ('v2', [0, 1, 2])])
def test_evaluate_counts_its_runs_in_eval_step(tmp_path, world, fetched):
  """2.15's evaluate() made an `eval_step` variable in GraphKeys.EVAL_STEP
  (runs/evaluation.py). Measured on 2.15 with this scenario: a hook's fetch
  saw the count after each step's add under TF1's switches (a reference
  variable) and before it in TF2; a metric reading it at the end saw 4
  after 3 batches (the run finding the input's end added one too) and 2
  for steps=2."""
  got = run_child(world, 'eval_step_counts', tmp_path)
  assert got['names'] == [['eval_step'], ['eval_step']]
  assert got['fetched'] == fetched * 2
  assert got['runs'] == [4, 4, 2]
