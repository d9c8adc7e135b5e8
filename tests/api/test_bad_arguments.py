"""Bad arguments to the public API raise 2.15's exception class, clearly.

Issue 6: each case below is one bad call, kept as source text so that
test_bad_arguments_oracle.py can run the very same table under
tensorflow-estimator 2.15 and compare the exception classes. Here each case
must raise the given class with a message naming the argument (and, where it
helps, the value); `None` cases document calls 2.15 accepts and so must we.
Where 2.15 failed by accident (an AttributeError from inside the export, a
DataLossError from restoring a directory, a process abort for a zero-width
layer), ours raises a clear TypeError or ValueError; the oracle lists those.

Public callables whose bad arguments are tested elsewhere (not repeated here):
  * EstimatorSpec, Estimator model_fn signature, steps/max_steps <= 0, unknown
    predict_keys, model_dir vs config.model_dir, get_variable_* without a
    checkpoint: test_estimator.py.
  * RunConfig and TF_CONFIG: test_run_config.py (only a non-string task
    address is added here); distribution strategies: test_distributed.py.
  * TrainSpec, EvalSpec (values <= 0, hook and exporter types, duplicate
    exporter names), train_and_evaluate spec types: test_train_and_evaluate.py.
  * Exporter, LatestExporter, BestExporter, FinalExporter: test_exporter.py.
  * stop_if_*_hook, make_early_stopping_hook: test_early_stopping.py.
  * InMemoryEvaluatorHook, make_stop_at_checkpoint_step_hook:
    test_evaluation_hooks.py.
  * export.ServingInputReceiver, TensorServingInputReceiver,
    build_*_receiver_fn: test_export_receivers.py; a None receiver fn and
    assets_extra destinations: test_export_serving.py.
  * inputs.numpy_input_fn, inputs.pandas_input_fn: test_inputs.py.
  * Heads: test_heads.py; RNNClassifier/RNNEstimator: test_canned_rnn.py;
    optimizer names and objects: test_canned_optimizers.py and
    test_canned_dnn.py; parse-example specs and add_metrics:
    test_canned_dnn.py; sparse_combiner and empty feature columns:
    test_canned_linear.py, test_canned_dnn_linear_combined.py; bad input
    data to canned estimators: test_canned_bad_input.py.
  * warm_start_from of a wrong type: test_warm_start.py.
  * SessionRunHook and the other hook classes, VocabInfo: TensorFlow's own
    classes. ModeKeys: constants only.
"""

import collections
import re
import shutil

import pytest
import tensorflow as tf

# Runs first in both interpreters; cases see its names. Only public tf.* and
# tf.estimator names, so tensorflow-estimator 2.15 runs it unchanged.
PRELUDE = r'''
import functools
import json
import os
import tempfile

import tensorflow as tf

fc = tf.feature_column
v1 = tf.compat.v1.estimator
PREDICT = tf.estimator.ModeKeys.PREDICT
X = [fc.numeric_column('x')]
BASE = tempfile.mkdtemp(prefix='bad_arguments_')


def new_dir():
  return tempfile.mkdtemp(dir=BASE)


def model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [1, 1],
                                initializer=tf.compat.v1.zeros_initializer())
  y = tf.matmul(features['x'], w)
  if mode == PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': y})
  loss = tf.reduce_mean(tf.square(y - labels))
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def tensor_model_fn(features, labels, mode):
  """Predictions as one tensor rather than a dict."""
  spec = model_fn(features, labels, mode)
  return spec._replace(predictions=spec.predictions['y'])


def input_fn():
  return tf.data.Dataset.from_tensors(({'x': [[1.]]}, [[2.]])).repeat(2)


def estimator(model_dir=None, **kwargs):
  return tf.estimator.Estimator(model_fn, model_dir or new_dir(), **kwargs)


def receiver_fn():
  x = tf.compat.v1.placeholder(tf.float32, [None, 1])
  return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})


def with_tf_config(tf_config, make):
  """make() with TF_CONFIG set to `tf_config`, restored afterwards."""
  old = os.environ.get('TF_CONFIG')
  os.environ['TF_CONFIG'] = json.dumps(tf_config)
  try:
    return make()
  finally:
    if old is None:
      del os.environ['TF_CONFIG']
    else:
      os.environ['TF_CONFIG'] = old


def task_config(task_type):
  return with_tf_config({'cluster': {'chief': ['a:1'], 'ps': ['b:1']},
                         'task': {'type': task_type, 'index': 0}},
                        tf.estimator.RunConfig)


TRAINED = new_dir()
estimator(TRAINED).train(input_fn, steps=1)
MISSING_CKPT = os.path.join(TRAINED, 'model.ckpt-99')
'''

# name, code, exception class name (None: must succeed), regex for our message.
Case = collections.namedtuple('Case', ['name', 'code', 'error', 'match'])

CASES = [
    # Estimator(...)
    Case('estimator_model_fn_none', 'tf.estimator.Estimator(None, new_dir())',
         'ValueError', 'model_fn must be provided'),
    Case('estimator_model_fn_not_callable',
         'tf.estimator.Estimator(3, new_dir())',
         'TypeError', '`model_fn` must be callable, given: 3'),
    Case('estimator_model_fn_partial_binds_features',
         'tf.estimator.Estimator(functools.partial(model_fn, features={}), '
         'new_dir())',
         'ValueError', r'model_fn \(functools.partial.*\) must include '
         'features'),
    Case('estimator_params_any_object',
         'assert tf.estimator.Estimator(lambda features, params: None, '
         'new_dir(), params=[1, 2]).params == [1, 2]', None, None),
    Case('estimator_config_not_a_run_config',
         'tf.estimator.Estimator(model_fn, config={"model_dir": "m"})',
         'ValueError', 'config must be an instance of `RunConfig`, but provided '
         "{'model_dir': 'm'}"),
    Case('estimator_model_dir_not_a_path',  # 2.15 failed in train
         'tf.estimator.Estimator(model_fn, model_dir=3).train(input_fn, '
         'steps=1)',
         'TypeError', r'model_dir must be a path .*, given: 3'),
    # train
    Case('train_input_fn_not_callable',
         'estimator().train(input_fn(), steps=1)',
         'TypeError', '`input_fn` must be callable, given: <.*Dataset'),
    Case('train_steps_not_a_number',
         'estimator().train(input_fn, steps="2")',
         'TypeError', "`steps` must be a number, given: '2'"),
    Case('train_max_steps_not_a_number',
         'estimator().train(input_fn, max_steps=[5])',
         'TypeError', r'`max_steps` must be a number, given: \[5\]'),
    Case('train_hooks_not_session_run_hooks',
         'estimator().train(input_fn, steps=1, hooks=["h"])',
         'TypeError', "hooks must be a SessionRunHook, given: 'h'"),
    Case('train_saving_listeners_not_listeners',
         'estimator().train(input_fn, steps=1, '
         'saving_listeners=[tf.estimator.StopAtStepHook(1)])',
         'TypeError', 'saving_listeners must be a list of '
         'CheckpointSaverListener, given: <.*StopAtStepHook'),
    Case('train_in_evaluator_task',
         'estimator(config=task_config("evaluator")).train(input_fn, steps=1)',
         'ValueError', "cannot run in a 'evaluator' task .*train_and_evaluate"),
    Case('train_in_ps_task',
         'estimator(config=task_config("ps")).train(input_fn, steps=1)',
         'ValueError', "cannot run in a 'ps' task"),
    # evaluate
    Case('evaluate_without_checkpoint_initializes',
         'assert estimator().evaluate(input_fn)["global_step"] == 0',
         None, None),
    Case('evaluate_input_fn_not_callable',
         'estimator(TRAINED).evaluate("data")',
         'TypeError', "`input_fn` must be callable, given: 'data'"),
    Case('evaluate_steps_not_a_number',
         'estimator(TRAINED).evaluate(input_fn, steps="1")',
         'TypeError', "`steps` must be a number, given: '1'"),
    Case('train_single_hook_not_in_a_list',
         'estimator().train(input_fn, steps=1, '
         'hooks=tf.compat.v1.train.StopAtStepHook(last_step=1))',
         'TypeError', 'hooks must be a list of SessionRunHooks, given a single '
         'hook: <.*StopAtStepHook'),
    Case('evaluate_hooks_not_session_run_hooks',
         'estimator(TRAINED).evaluate(input_fn, hooks=[3])',
         'TypeError', 'hooks must be a SessionRunHook, given: 3'),
    Case('evaluate_name_not_a_string',
         'estimator(TRAINED).evaluate(input_fn, name=3)',
         'TypeError', 'name must be a string, given: 3'),
    Case('evaluate_missing_checkpoint_path',
         'estimator(TRAINED).evaluate(input_fn, checkpoint_path=MISSING_CKPT)',
         'ValueError', r"[Cc]heckpoint.*'.*model\.ckpt-99'"),
    Case('evaluate_checkpoint_dir_without_checkpoint',
         'estimator(TRAINED).evaluate(input_fn, checkpoint_path=new_dir())',
         'ValueError', "checkpoint_path '.*' is a directory without "
         'checkpoints'),
    # predict (a generator: errors may wait for the first next())
    Case('predict_without_checkpoint_initializes',
         'assert next(estimator().predict(input_fn))["y"] == 0', None, None),
    Case('predict_empty_keys_select_all',
         'assert list(next(estimator(TRAINED).predict(input_fn, '
         'predict_keys=[]))) == ["y"]', None, None),
    Case('predict_keys_for_tensor_predictions',
         'next(tf.estimator.Estimator(tensor_model_fn, TRAINED).predict('
         'input_fn, predict_keys=["y"]))',
         'ValueError', 'predict_keys argument is not valid in case of '
         'non-dict predictions'),
    Case('predict_input_fn_not_callable',
         'next(estimator(TRAINED).predict(None))',
         'TypeError', '`input_fn` must be callable, given: None'),
    Case('predict_hooks_not_session_run_hooks',
         'next(estimator(TRAINED).predict(input_fn, hooks=[3]))',
         'TypeError', 'hooks must be a SessionRunHook, given: 3'),
    Case('predict_missing_checkpoint_path',
         'next(estimator(TRAINED).predict(input_fn, '
         'checkpoint_path=MISSING_CKPT))',
         'ValueError', r"[Cc]heckpoint.*'.*model\.ckpt-99'"),
    Case('predict_checkpoint_dir_without_checkpoint',
         'next(estimator(TRAINED).predict(input_fn, '
         'checkpoint_path=new_dir()))',
         'ValueError', 'is a directory without checkpoints'),
    # export_saved_model, export_savedmodel, experimental_export_all_...
    Case('export_without_checkpoint_names_model_dir',
         'estimator(os.path.join(BASE, "untrained")).export_saved_model('
         'new_dir(), receiver_fn)',
         'ValueError', "Couldn't find trained model at .*untrained\\."),
    Case('export_receiver_fn_returns_a_function',
         'estimator(TRAINED).export_saved_model(new_dir(), '
         'lambda: receiver_fn)',
         'TypeError', r'serving_input_receiver_fn \(<function .*\) must return '
         'a ServingInputReceiver.*it returned <function receiver_fn'),
    Case('export_receiver_fn_not_callable',
         'estimator(TRAINED).export_saved_model(new_dir(), '
         'tf.estimator.export.ServingInputReceiver({"x": tf.ones([1, 1])}, '
         '{"x": tf.ones([1, 1])}))',
         'TypeError', 'serving_input_receiver_fn must be a function returning '
         'a ServingInputReceiver, given: ServingInputReceiver'),
    Case('export_assets_extra_not_a_dict',
         'estimator(TRAINED).export_saved_model(new_dir(), receiver_fn, '
         'assets_extra=["vocab.txt"])',
         'TypeError', r"assets_extra must be a dict .*given: \['vocab.txt'\]"),
    Case('export_unknown_mode',
         'estimator(TRAINED).export_saved_model(new_dir(), receiver_fn, '
         'experimental_mode="bogus")',
         'ValueError', "Unknown mode 'bogus'"),
    Case('export_missing_checkpoint_path',
         'estimator(TRAINED).export_saved_model(new_dir(), receiver_fn, '
         'checkpoint_path=MISSING_CKPT)',
         'ValueError', r'model\.ckpt-99'),
    Case('export_all_map_not_a_dict',
         'estimator(TRAINED).experimental_export_all_saved_models(new_dir(), '
         '[receiver_fn])',
         'TypeError', r'input_receiver_fn_map must be a dict .*given: '
         r'\[<function receiver_fn'),
    Case('export_all_empty_map',
         'estimator(TRAINED).experimental_export_all_saved_models(new_dir(), '
         '{})',
         'ValueError', 'input_receiver_fn_map is empty'),
    Case('export_all_map_of_nones',
         'estimator(TRAINED).experimental_export_all_saved_models(new_dir(), '
         '{PREDICT: None})',
         'ValueError', r"input_receiver_fn_map is empty: .*'infer': None"),
    Case('export_all_receiver_fn_returns_a_function',
         'estimator(TRAINED).experimental_export_all_saved_models(new_dir(), '
         '{PREDICT: lambda: receiver_fn})',
         'TypeError', r"input_receiver_fn_map\['infer'\] .* must return"),
    Case('v1_export_savedmodel_receiver_fn_returns_a_function',
         'v1.Estimator(model_fn, TRAINED).export_savedmodel(new_dir(), '
         'lambda: receiver_fn)',
         'TypeError', r'serving_input_receiver_fn \(.*\) must return'),
    # get_variable_value
    Case('get_variable_value_unknown_name',
         'estimator(TRAINED).get_variable_value("nope")',
         'NotFoundError', 'Key nope not found in checkpoint'),
    Case('get_variable_value_name_not_a_string',
         'estimator(TRAINED).get_variable_value(3)',
         'TypeError', 'Variable name must be a string, given: 3'),
    # canned estimator constructors
    Case('dnn_classifier_n_classes_1',
         'tf.estimator.DNNClassifier([2], X, n_classes=1)',
         'ValueError', 'n_classes must be > 2: 1'),
    Case('v1_dnn_classifier_n_classes_0',
         'v1.DNNClassifier([2], X, n_classes=0)',
         'ValueError', 'n_classes must be > 2: 0'),
    Case('linear_classifier_n_classes_1',
         'tf.estimator.LinearClassifier(X, n_classes=1)',
         'ValueError', 'n_classes must be > 2: 1'),
    Case('v1_baseline_classifier_n_classes_1',
         'v1.BaselineClassifier(n_classes=1)',
         'ValueError', 'n_classes must be > 2: 1'),
    Case('dnn_linear_combined_classifier_n_classes_1',
         'tf.estimator.DNNLinearCombinedClassifier(linear_feature_columns=X, '
         'n_classes=1)',
         'ValueError', 'n_classes must be > 2: 1'),
    Case('dnn_hidden_units_empty_is_a_linear_model',
         'tf.estimator.DNNRegressor([], X, model_dir=new_dir()).train('
         'input_fn, steps=1)', None, None),
    Case('dnn_hidden_units_zero',  # 2.15: the process aborts in oneDNN
         'tf.estimator.DNNRegressor([0], X, model_dir=new_dir()).train('
         'input_fn, steps=1)',
         'ValueError', r'hidden_units must hold layer widths >= 1, given: '
         r'\[0\]'),
    Case('dnn_hidden_units_negative',  # 2.15 failed in train
         'tf.estimator.DNNRegressor([4, -1], X, model_dir=new_dir()).train('
         'input_fn, steps=1)',
         'ValueError', r'hidden_units must hold layer widths >= 1, given: '
         r'\[4, -1\]'),
    Case('dnn_hidden_units_none',
         'v1.DNNRegressor(None, X, model_dir=new_dir()).train(input_fn, '
         'steps=1)',
         'TypeError', 'hidden_units must be an iterable of layer widths, '
         'given: None'),
    Case('dnn_linear_combined_hidden_units_negative',
         'tf.estimator.DNNLinearCombinedRegressor(dnn_feature_columns=X, '
         'dnn_hidden_units=[-2], model_dir=new_dir()).train(input_fn, '
         'steps=1)',
         'ValueError', r'dnn_hidden_units must hold layer widths >= 1, '
         r'given: \[-2\]'),
    Case('dnn_dropout_above_1',
         'tf.estimator.DNNRegressor([2], X, dropout=1.5, model_dir=new_dir())'
         '.train(input_fn, steps=1)',
         'ValueError', r'dropout must be a probability in \[0, 1\].*given: '
         '1.5'),
    Case('dnn_linear_combined_dropout_negative',
         'v1.DNNLinearCombinedRegressor(dnn_feature_columns=X, '
         'dnn_hidden_units=[2], dnn_dropout=-0.1, model_dir=new_dir())'
         '.train(input_fn, steps=1)',
         'ValueError', r'dnn_dropout must be a probability .*given: -0.1'),
    Case('dnn_activation_fn_not_a_function',
         'tf.estimator.DNNRegressor([2], X, activation_fn=3, '
         'model_dir=new_dir()).train(input_fn, steps=1)',
         'TypeError', 'activation function identifier: 3'),
    Case('v1_dnn_activation_fn_unknown_name',
         'v1.DNNRegressor([2], X, activation_fn="nope", model_dir=new_dir())'
         '.train(input_fn, steps=1)',
         'ValueError', "Unknown activation function 'nope'"),
    Case('dnn_label_vocabulary_wrong_length',
         'tf.estimator.DNNClassifier([2], X, n_classes=3, '
         'label_vocabulary=["a", "b"])',
         'ValueError', r'len\(label_vocabulary\)=2, n_classes=3'),
    Case('v1_dnn_label_vocabulary_wrong_length',
         'v1.DNNClassifier([2], X, n_classes=3, label_vocabulary=["a", "b"])',
         'ValueError', r'len\(label_vocabulary\)=2, n_classes=3'),
    Case('linear_label_vocabulary_not_a_list',
         'tf.estimator.LinearClassifier(X, label_vocabulary="ab")',
         'ValueError', "label_vocabulary should be a list or a tuple. Given "
         "type: <class 'str'>"),
    Case('dnn_loss_reduction_unknown',
         'tf.estimator.DNNClassifier([2], X, loss_reduction="bogus")',
         'ValueError', 'Invalid loss_reduction: bogus'),
    Case('dnn_loss_reduction_none',
         'tf.estimator.DNNRegressor([2], X, '
         'loss_reduction=tf.keras.losses.Reduction.NONE)',
         'ValueError', 'Invalid loss_reduction: none'),
    Case('v1_linear_loss_reduction_unknown',
         'v1.LinearRegressor(X, loss_reduction="bogus")',
         'ValueError', 'Invalid loss_reduction: bogus'),
    Case('baseline_loss_reduction_unknown',
         'tf.estimator.BaselineRegressor(loss_reduction="bogus")',
         'ValueError', 'Invalid loss_reduction: bogus'),
    Case('dnn_regressor_label_dimension_0',
         'tf.estimator.DNNRegressor([2], X, label_dimension=0)',
         'ValueError', 'Invalid label_dimension 0'),
    # TrainSpec, EvalSpec
    Case('train_spec_max_steps_not_a_number',
         'tf.estimator.TrainSpec(input_fn, max_steps="5")',
         'TypeError', "`max_steps` must be a number, given: '5'"),
    Case('eval_spec_steps_not_a_number',
         'tf.estimator.EvalSpec(input_fn, steps="5")',
         'TypeError', "`steps` must be a number, given: '5'"),
    Case('eval_spec_throttle_secs_not_a_number',
         'tf.estimator.EvalSpec(input_fn, throttle_secs="5")',
         'TypeError', "`throttle_secs` must be a number, given: '5'"),
    Case('eval_spec_start_delay_secs_not_a_number',
         'tf.estimator.EvalSpec(input_fn, start_delay_secs=[1])',
         'TypeError', r'`start_delay_secs` must be a number, given: \[1\]'),
    # WarmStartSettings
    Case('warm_start_settings_without_checkpoint',
         'tf.estimator.WarmStartSettings(None)',
         'ValueError', '`ckpt_to_initialize_from` MUST be set'),
    Case('warm_start_settings_vars_not_a_regex_or_list',  # 2.15: in train
         'estimator(warm_start_from=tf.estimator.WarmStartSettings(TRAINED, '
         'vars_to_warm_start=3)).train(input_fn, steps=1)',
         'ValueError', 'vars_to_warm_start must be a regex string, a list of '
         'them or None .*given: 3'),
    Case('warm_start_from_missing_checkpoint',
         'estimator(warm_start_from=os.path.join(TRAINED, "nope")).train('
         'input_fn, steps=1)',
         'NotFoundError', 'nope'),
    # TF_CONFIG (the rest is in test_run_config.py)
    Case('tf_config_task_address_not_a_string',
         'with_tf_config({"cluster": {"chief": ["a:1"], "worker": [1]}, '
         '"task": {"type": "worker", "index": 0}}, tf.estimator.RunConfig)',
         'TypeError', r'TF_CONFIG\["cluster"\] is malformed: Task address 1'),
]

# Bad calls tested in the files named above; the oracle also runs these,
# comparing them with 2.15, but they are not asserted again here.
ORACLE_ONLY_CASES = [
    ('estimator_model_fn_without_features',  # test_estimator.py
     'tf.estimator.Estimator(lambda labels, mode: None, new_dir())'),
    ('estimator_params_without_params_arg',  # test_estimator.py
     'tf.estimator.Estimator(model_fn, new_dir(), params={"a": 1})'),
    ('estimator_model_dir_conflicts_with_config',  # test_estimator.py
     'tf.estimator.Estimator(model_fn, new_dir(), '
     'config=tf.estimator.RunConfig(model_dir=new_dir()))'),
    ('estimator_warm_start_from_int',  # test_warm_start.py
     'estimator(warm_start_from=3)'),
    ('train_steps_zero', 'estimator().train(input_fn, steps=0)'),
    ('train_max_steps_negative', 'estimator().train(input_fn, max_steps=-1)'),
    ('train_steps_and_max_steps',
     'estimator().train(input_fn, steps=1, max_steps=2)'),
    ('evaluate_steps_zero', 'estimator(TRAINED).evaluate(input_fn, steps=0)'),
    ('predict_unknown_keys',  # test_estimator.py
     'next(estimator(TRAINED).predict(input_fn, predict_keys=["nope"]))'),
    ('get_variable_names_without_checkpoint',  # test_estimator.py
     'estimator().get_variable_names()'),
    ('export_receiver_fn_none',  # test_export_serving.py
     'estimator(TRAINED).export_saved_model(new_dir(), None)'),
    ('dnn_optimizer_unknown_name',  # test_canned_dnn.py
     'tf.estimator.DNNRegressor([2], X, optimizer="Nope", '
     'model_dir=new_dir()).train(input_fn, steps=1)'),
    ('train_spec_max_steps_zero',  # test_train_and_evaluate.py
     'tf.estimator.TrainSpec(input_fn, max_steps=0)'),
    ('eval_spec_throttle_secs_negative',  # test_train_and_evaluate.py
     'tf.estimator.EvalSpec(input_fn, throttle_secs=-5)'),
    ('eval_spec_duplicate_exporter_names',  # test_train_and_evaluate.py
     'tf.estimator.EvalSpec(input_fn, exporters=['
     'tf.estimator.LatestExporter("e", receiver_fn), '
     'tf.estimator.FinalExporter("e", receiver_fn)])'),
    ('train_and_evaluate_eval_spec_none',  # test_train_and_evaluate.py
     'tf.estimator.train_and_evaluate(estimator(), '
     'tf.estimator.TrainSpec(input_fn), None)'),
]

_ERRORS = {'ValueError': ValueError, 'TypeError': TypeError,
           'NotFoundError': tf.errors.NotFoundError}


def test_case_names_are_unique():
  names = [c.name for c in CASES] + [name for name, _ in ORACLE_ONLY_CASES]
  assert len(names) == len(set(names))


@pytest.fixture(scope='module')
def namespace():
  names = {}
  exec(PRELUDE, names)  # pylint: disable=exec-used
  yield names
  shutil.rmtree(names['BASE'], ignore_errors=True)


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_bad_argument(case, namespace):
  run = lambda: exec(case.code, dict(namespace))  # pylint: disable=exec-used
  if case.error is None:
    run()
    return
  with pytest.raises(_ERRORS[case.error]) as info:
    run()
  assert re.search(case.match, str(info.value)), (
      f'{case.name}: message does not match {case.match!r}:\n{info.value}')
