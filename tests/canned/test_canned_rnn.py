"""RNNClassifier / RNNEstimator against facts observed on tensorflow-estimator 2.15.

The golden numbers come from running the same configurations on 2.15 with
every model variable set to the deterministic values `_fixed_value` gives
(Adagrad accumulators 0.1, global step 1): variable names, eval metrics,
predictions, and the logits layer after two more training steps (which
checks gradients, the default Adagrad learning rate 0.05 and clip norm 5).
"""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator.canned import rnn

fc = tf.feature_column
_EMB = 'sequence_features/tok_embedding/embedding_weights'


def _columns():
  sequence = [fc.sequence_numeric_column('price'),
              fc.embedding_column(
                  fc.sequence_categorical_column_with_identity('tok', 5), 3)]
  return sequence, [fc.numeric_column('age')]


def _features():
  """Three sequences of lengths 3, 1 and 2."""
  idx = [[0, 0], [0, 1], [0, 2], [1, 0], [2, 0], [2, 1]]
  return {
      'price': tf.sparse.SparseTensor(idx, [1., 2., .5, 3., -1., .25], [3, 3]),
      'tok': tf.sparse.SparseTensor(
          idx, tf.constant([1, 2, 4, 0, 3, 3], tf.int64), [3, 3]),
      'age': tf.constant([[1.], [2.], [.5]]),
      'w': tf.constant([[1., 2., 1.], [3., 0., 0.], [.5, 1., 0.]]),
  }


_LABELS = {
    'binary_lstm': [[1], [0], [1]],
    'multi_gru': [['b'], ['c'], ['a']],
    'seq_simple': [[1, 0, 1], [0, 0, 0], [1, 1, 0]],
    'reg_stacked': [[50.], [-30.], [80.]],
}


def _make(name, model_dir):
  sequence, context = _columns()
  common = dict(sequence_feature_columns=sequence,
                context_feature_columns=context, model_dir=model_dir)
  if name == 'binary_lstm':
    return rnn.RNNClassifier(units=[4], cell_type='lstm', **common)
  if name == 'multi_gru':
    return rnn.RNNClassifier(units=3, cell_type='gru', n_classes=3,
                             label_vocabulary=['a', 'b', 'c'], **common)
  if name == 'seq_simple':
    return rnn.RNNClassifier(units=[3], return_sequences=True,
                             weight_column='w', **common)
  return rnn.RNNEstimator(tf.estimator.RegressionHead(), units=[3, 2],
                          cell_type='simple_rnn', **common)


def _input_fn(name):
  return lambda: tf.data.Dataset.from_tensors(
      (_features(), tf.constant(_LABELS[name]))).repeat()


def _predict_input_fn():
  return tf.data.Dataset.from_tensors(_features())


# Observed on 2.15: model variable shapes, metrics of evaluate(steps=2),
# the first prediction, every example's logits, and the first values of the
# logits layer after train(steps=2).
_GOLDEN = {
    'binary_lstm': {
        'names': {'rnn_model/logits/bias': (1,),
                  'rnn_model/logits/kernel': (4, 1),
                  'rnn_model/rnn/lstm_cell/bias': (16,),
                  'rnn_model/rnn/lstm_cell/kernel': (5, 16),
                  'rnn_model/rnn/lstm_cell/recurrent_kernel': (4, 16),
                  _EMB: (5, 3)},
        'eval': {'accuracy': 0.6666667, 'accuracy_baseline': 0.6666667,
                 'auc': 0.5, 'auc_precision_recall': 0.7972674,
                 'average_loss': 0.650816, 'global_step': 1.0,
                 'label/mean': 0.6666667, 'loss': 0.650816,
                 'precision': 0.6666667, 'prediction/mean': 0.658594,
                 'recall': 1.0},
        'pred0': {'all_class_ids': [0, 1], 'all_classes': ['0', '1'],
                  'class_ids': [1], 'classes': ['1'],
                  'logistic': [0.6803388], 'logits': [0.7553292],
                  'probabilities': [0.3196612, 0.6803388]},
        'logits': [[0.7553292], [0.6977445], [0.522601]],
        'after_train': {'rnn_model/logits/bias': [0.5074257],
                        'rnn_model/logits/kernel': [0.5490769, 0.2554583,
                                                    -0.1527755]},
    },
    'multi_gru': {
        'names': {'rnn_model/gru/gru_cell/bias': (2, 9),
                  'rnn_model/gru/gru_cell/kernel': (5, 9),
                  'rnn_model/gru/gru_cell/recurrent_kernel': (3, 9),
                  'rnn_model/logits/bias': (3,),
                  'rnn_model/logits/kernel': (3, 3),
                  _EMB: (5, 3)},
        'eval': {'accuracy': 0.3333333, 'average_loss': 1.117893,
                 'global_step': 1.0, 'loss': 1.117893},
        'pred0': {'all_class_ids': [0, 1, 2], 'all_classes': ['a', 'b', 'c'],
                  'class_ids': [0], 'classes': ['a'],
                  'logits': [-0.1729087, -0.6282861, -0.7881708],
                  'probabilities': [0.4598319, 0.2916293, 0.2485388]},
        'logits': [[-0.1729087, -0.6282861, -0.7881708],
                   [-0.3455409, -0.7022388, -0.7286628],
                   [-0.2739258, -0.6138998, -0.6651472]],
        'after_train': {'rnn_model/logits/bias': [-0.4820907, -0.5886588,
                                                  -0.4456774],
                        'rnn_model/logits/kernel': [-0.5817196, -0.3344424,
                                                    0.08026633]},
    },
    'seq_simple': {
        'names': {'rnn_model/logits/bias': (1,),
                  'rnn_model/logits/kernel': (3, 1),
                  'rnn_model/rnn/simple_rnn_cell/bias': (3,),
                  'rnn_model/rnn/simple_rnn_cell/kernel': (5, 3),
                  'rnn_model/rnn/simple_rnn_cell/recurrent_kernel': (3, 3),
                  _EMB: (5, 3)},
        'eval': {'accuracy': 1.0, 'accuracy_baseline': 0.5882353, 'auc': 1.0,
                 'auc_precision_recall': 1.0, 'average_loss': 0.6030958,
                 'global_step': 1.0, 'label/mean': 0.4117647,
                 'loss': 0.8543857, 'precision': 1.0,
                 'prediction/mean': 0.5287673, 'recall': 1.0},
        'pred0': {'all_class_ids': [0, 1], 'all_classes': ['0', '1'],
                  'class_ids': [[1], [0], [1]], 'classes': ['1', '0', '1'],
                  'logistic': [[0.5711697], [0.4985163], [0.6020935]],
                  'logits': [[0.2866251], [-0.005934715], [0.4141957]],
                  'probabilities': [[0.4288303, 0.5711697],
                                    [0.5014837, 0.4985163],
                                    [0.3979065, 0.6020935]],
                  'sequence_mask': [True, True, True]},
        'logits': [[[0.2866251], [-0.005934715], [0.4141957]],
                   [[-0.110726], [-0.110726], [-0.110726]],
                   [[0.774875], [0.2610695], [0.2610695]]],
        'after_train': {'rnn_model/logits/bias': [0.4636585],
                        'rnn_model/logits/kernel': [0.6069821, 0.3182581,
                                                    -0.09544133]},
    },
    'reg_stacked': {
        'names': {
            'rnn_model/logits/bias': (1,),
            'rnn_model/logits/kernel': (2, 1),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell/bias': (3,),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell/kernel': (5, 3),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell/'
            'recurrent_kernel': (3, 3),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell_1/bias': (2,),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell_1/kernel': (3, 2),
            'rnn_model/rnn/stacked_rnn_cells/simple_rnn_cell_1/'
            'recurrent_kernel': (2, 2),
            _EMB: (5, 3)},
        'eval': {'average_loss': 3234.704, 'global_step': 1.0,
                 'label/mean': 33.33333, 'loss': 3234.704,
                 'prediction/mean': 0.243286},
        'pred0': {'predictions': [0.0694173]},
        'logits': [[0.0694173], [0.07441315], [0.5860276]],
        'after_train': {'rnn_model/logits/bias': [0.5901029],
                        'rnn_model/logits/kernel': [0.5251273, 0.3433278]},
    },
}


def _all_names(model_names):
  """2.15's checkpoint: model variables, their Adagrad slots and hypers."""
  names = {'global_step': (), 'training/Adagrad/decay': (),
           'training/Adagrad/learning_rate': ()}
  for name, shape in model_names.items():
    names[name] = shape
    names[f'training/Adagrad/{name}/accumulator'] = shape
  return names


def _fixed_value(index, name, shape):
  if name == 'global_step':
    return np.int64(1)
  if name == 'training/Adagrad/learning_rate':
    return np.float32(0.05)
  if name == 'training/Adagrad/decay':
    return np.float32(0.)
  if name.endswith('/accumulator'):
    return np.full(shape, 0.1, np.float32)
  n = int(np.prod(shape))
  return (0.6 * np.sin(np.arange(n) * 0.7 + index)).reshape(shape).astype(
      np.float32)


def _write_fixed_checkpoint(model_dir, names):
  path = os.path.join(model_dir, 'model.ckpt-1')
  var_list = {name: tf.Variable(_fixed_value(i, name, names[name]))
              for i, name in enumerate(sorted(names))}
  tf.compat.v1.train.Saver(var_list=var_list).save(
      None, path, write_meta_graph=False, write_state=False)
  tf.compat.v1.train.update_checkpoint_state(model_dir, path)


def _as_list(value):
  if value.dtype == object:
    return [v.decode() for v in value.ravel()]
  return value.tolist()


def _check_against_215(name, model_dir):
  golden = _GOLDEN[name]
  names = _all_names(golden['names'])
  _write_fixed_checkpoint(model_dir, names)
  est = _make(name, model_dir)

  metrics = est.evaluate(_input_fn(name), steps=2)
  assert set(metrics) == set(golden['eval'])
  for key, value in golden['eval'].items():
    np.testing.assert_allclose(metrics[key], value, rtol=1e-5, err_msg=key)

  preds = list(est.predict(_predict_input_fn))
  assert set(preds[0]) == set(golden['pred0'])
  for key, value in golden['pred0'].items():
    got = _as_list(preds[0][key])
    if isinstance(value[0], str):
      assert got == value, key
    else:
      np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6,
                                 err_msg=key)
  logits_key = 'predictions' if 'predictions' in preds[0] else 'logits'
  np.testing.assert_allclose([p[logits_key] for p in preds], golden['logits'],
                             rtol=1e-5, atol=1e-6)

  est.train(_input_fn(name), steps=2)
  assert {n: est.get_variable_value(n).shape
          for n in est.get_variable_names()} == names
  for var, value in golden['after_train'].items():
    np.testing.assert_allclose(est.get_variable_value(var).ravel()[:3], value,
                               rtol=1e-5, err_msg=var)


def test_binary_lstm_units_list_matches_215(tmp_path):
  """A units list builds a generic `rnn` layer around an LSTM cell."""
  _check_against_215('binary_lstm', str(tmp_path))


def test_sequences_with_weights_match_215(tmp_path):
  """return_sequences: padded steps are dropped from loss and metrics."""
  _check_against_215('seq_simple', str(tmp_path))


def test_multiclass_int_units_builds_fused_gru_layer_matches_215(tmp_path):
  _check_against_215('multi_gru', str(tmp_path))


def test_rnn_estimator_stacked_cells_regression_clipped_matches_215(tmp_path):
  """Labels far off make gradients big enough for the clip norm 5 to act."""
  _check_against_215('reg_stacked', str(tmp_path))


def test_rnn_cell_fn_and_optimizer_name_variables(tmp_path):
  """Names observed on 2.15 for a custom stacked cell and 'Adam'."""
  sequence, _ = _columns()

  def cell_fn():
    return tf.keras.layers.StackedRNNCells(
        [tf.keras.layers.LSTMCell(3), tf.keras.layers.GRUCell(2)])

  est = rnn.RNNClassifier(sequence, rnn_cell_fn=cell_fn, optimizer='Adam',
                          model_dir=str(tmp_path))
  est.train(_input_fn('binary_lstm'), steps=1)
  stack = 'rnn_model/rnn/stacked_rnn_cells/'
  model = {stack + 'lstm_cell/kernel': (4, 12),
           stack + 'lstm_cell/recurrent_kernel': (3, 12),
           stack + 'lstm_cell/bias': (12,),
           stack + 'gru_cell/kernel': (3, 6),
           stack + 'gru_cell/recurrent_kernel': (2, 6),
           stack + 'gru_cell/bias': (2, 6),
           'rnn_model/logits/kernel': (2, 1), 'rnn_model/logits/bias': (1,),
           _EMB: (5, 3)}
  expected = {'global_step': ()}
  for hyper in ('beta_1', 'beta_2', 'decay', 'learning_rate'):
    expected[f'training/Adam/{hyper}'] = ()
  for name, shape in model.items():
    expected[name] = shape
    expected[f'training/Adam/{name}/m'] = shape
    expected[f'training/Adam/{name}/v'] = shape
  assert {n: est.get_variable_value(n).shape
          for n in est.get_variable_names()} == expected
  # A named optimizer gets the RNN default rate, not Adam's own 0.001.
  assert est.get_variable_value('training/Adam/learning_rate') == (
      pytest.approx(0.05))


def test_provided_sequence_mask_feature_is_used(tmp_path):
  """A `sequence_mask` feature overrides the mask from sequence lengths."""
  sequence, _ = _columns()
  est = rnn.RNNClassifier(sequence, units=[2], return_sequences=True,
                          sequence_mask='my_mask', model_dir=str(tmp_path))
  mask = [[True, False, False], [True, False, False], [True, True, False]]

  def input_fn():
    features = dict(_features(), my_mask=tf.constant(mask))
    return tf.data.Dataset.from_tensors(
        (features, tf.constant(_LABELS['seq_simple'])))

  est.train(input_fn, steps=1)
  preds = list(est.predict(lambda: input_fn().map(lambda f, l: f)))
  assert [p['my_mask'].tolist() for p in preds] == mask
  # label/mean averages only the 4 kept steps' labels: (1 + 0 + 1 + 1) / 4.
  assert est.evaluate(input_fn, steps=1)['label/mean'] == pytest.approx(0.75)


def test_sequence_labels_must_match_mask(tmp_path):
  sequence, _ = _columns()
  est = rnn.RNNClassifier(sequence, units=[2], return_sequences=True,
                          model_dir=str(tmp_path))

  def input_fn():
    return tf.data.Dataset.from_tensors((_features(), tf.constant([[1], [0], [1]])))

  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='Sequential labels must have shape'):
    est.train(input_fn, steps=1)


_SEQ = [fc.sequence_numeric_column('price')]


@pytest.mark.parametrize('make, error, message', [
    (lambda: rnn.RNNClassifier(
        _SEQ, units=[2], rnn_cell_fn=lambda: tf.keras.layers.SimpleRNNCell(2)),
     ValueError, 'units and cell_type must not be specified'),
    (lambda: rnn.RNNClassifier(
        _SEQ, cell_type='lstm',
        rnn_cell_fn=lambda: tf.keras.layers.SimpleRNNCell(2)),
     ValueError, 'units and cell_type must not be specified'),
    (lambda: rnn.RNNEstimator(tf.estimator.RegressionHead(), _SEQ, units=[2],
                              return_sequences=True),
     ValueError, 'must be a `_SequentialHead` object'),
    (lambda: rnn.RNNClassifier(_SEQ, units=[2], return_sequences=True,
                               weight_column=fc.numeric_column('w')),
     TypeError, 'Column must a string'),
    (lambda: rnn.RNNClassifier(_SEQ, units=[2], return_sequences=True,
                               sequence_mask=3),
     TypeError, '`sequence_mask` column must be a string'),
    (lambda: rnn.RNNClassifier(_SEQ, units=[2], n_classes=1),
     ValueError, 'n_classes must be > 2'),
    (lambda: rnn.RNNClassifier(_SEQ, units=[2], cell_type='foo'),
     ValueError, "Supported strings are: \\['simple_rnn', 'lstm', 'gru'\\]"),
    (lambda: rnn.RNNClassifier(_SEQ),
     ValueError, 'Either `units`'),
    (lambda: rnn.RNNClassifier(_SEQ, units=['4']),
     ValueError, 'iterable of ints'),
])
def test_invalid_arguments(make, error, message):
  with pytest.raises(error, match=message):
    make()


def test_model_fn_called_directly_in_eager_mode():
  """A program may call an RNN estimator's model_fn itself, outside train().

  Keras then calls the model eagerly and must see `RNNModel.call`'s
  `training` argument (hiding it behind a wrapper made Keras pass it twice).
  The sequential head passes the sequence mask on to the predictions.
  """
  sequence, _ = _columns()
  est = rnn.RNNEstimator(
      rnn.SequentialHeadWrapper(tf.estimator.RegressionHead(), 'mask'),
      units=[3], sequence_feature_columns=sequence, return_sequences=True)
  spec = est.model_fn(features=_features(), labels=None,
                      mode=tf.estimator.ModeKeys.PREDICT, config=None)
  assert spec.predictions['predictions'].shape == (3, 3, 1)
  # The mask of the sequence lengths (3, 1 and 2) reaches the predictions.
  np.testing.assert_array_equal(spec.predictions['mask'],
                                [[1, 1, 1], [1, 0, 0], [1, 1, 0]])


def test_sequential_head_wrapper_rejects_multi_head():
  heads = [tf.estimator.BinaryClassHead(name='a'),
           tf.estimator.RegressionHead(name='b')]
  with pytest.raises(ValueError, match='`MultiHead` is not supported'):
    rnn.SequentialHeadWrapper(tf.estimator.MultiHead(heads))


def test_sequential_head_wrapper_properties():
  static = tf.estimator.MultiClassHead(3, name='tags')
  head = rnn.SequentialHeadWrapper(static, 'mask', feature_columns='w')
  assert head.name == 'tags_sequential'
  assert head.logits_dimension == 3
  assert head.input_sequence_mask_key == 'mask'
  assert head.static_head is static


def test_dense_token_matrix_feeds_a_sequence_column(tmp_path):
  """2.15's numpy idiom: fixed-length token rows, '' padding dropped."""
  tokens = np.array([['dog', 'sat', ''], ['cat', 'flew', 'away'],
                     ['a', '', '']] * 4)
  column = fc.embedding_column(
      fc.sequence_categorical_column_with_hash_bucket('tokens', 20), 2)
  est = rnn.RNNClassifier([column], units=[3], n_classes=3,
                          model_dir=str(tmp_path))
  input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      {'tokens': tokens}, np.arange(12) % 3, batch_size=6, shuffle=False,
      num_epochs=None)
  est.train(input_fn, steps=3)
  assert est.get_variable_value('global_step') == 3
  # The same rows as SparseTensors without the padding predict the same.
  rows = [[t for t in row if t] for row in tokens[:3]]
  sparse = tf.compat.v1.SparseTensorValue(
      [[i, j] for i, row in enumerate(rows) for j in range(len(row))],
      [t for row in rows for t in row], [3, 3])
  dense_input = lambda: tf.data.Dataset.from_tensors({'tokens': tokens[:3]})
  sparse_input = lambda: tf.data.Dataset.from_tensors(
      {'tokens': tf.SparseTensor(*sparse)})
  dense = [p['probabilities'] for p in est.predict(dense_input)]
  np.testing.assert_allclose(
      dense, [p['probabilities'] for p in est.predict(sparse_input)])
  with pytest.raises(TypeError, match='padded with "" or -1'):
    rnn.RNNClassifier([fc.sequence_numeric_column('p')], units=[3],
                      model_dir=str(tmp_path / 'p')).train(
                          lambda: ({'p': tf.ones([2, 3])}, tf.ones([2, 1])),
                          steps=1)


def test_rnn_model_config_round_trips():
  column = fc.embedding_column(
      fc.sequence_categorical_column_with_hash_bucket('t', 5), 2)
  model = rnn.RNNModel(
      rnn_layer=rnn._make_rnn_layer(units=3, cell_type='gru'),  # pylint: disable=protected-access
      units=4, sequence_feature_columns=[column],
      context_feature_columns=[fc.numeric_column('c')],
      activation=tf.keras.activations.sigmoid, return_sequences=True,
      name='m')
  config = model.get_config()
  restored = rnn.RNNModel.from_config(config)
  assert restored.get_config() == config
  assert restored.name == 'm' and config['units'] == 4
  assert config['rnn_layer']['class_name'] == 'GRU'
  assert config['activation'] == 'sigmoid'


def test_public_names():
  assert tf.estimator.experimental.RNNClassifier is rnn.RNNClassifier
  assert tf.estimator.experimental.RNNEstimator is rnn.RNNEstimator


_EVAL_215 = '''
import json, sys
import tensorflow as tf
fc = tf.feature_column
idx = [[0, 0], [0, 1], [0, 2], [1, 0], [2, 0], [2, 1]]
def input_fn():
  f = {'price': tf.sparse.SparseTensor(idx, [1., 2., .5, 3., -1., .25], [3, 3]),
       'tok': tf.sparse.SparseTensor(
           idx, tf.constant([1, 2, 4, 0, 3, 3], tf.int64), [3, 3]),
       'age': tf.constant([[1.], [2.], [.5]]),
       'w': tf.constant([[1., 2., 1.], [3., 0., 0.], [.5, 1., 0.]])}
  return tf.data.Dataset.from_tensors(
      (f, tf.constant([[1, 0, 1], [0, 0, 0], [1, 1, 0]])))
est = tf.estimator.experimental.RNNClassifier(
    [fc.sequence_numeric_column('price'),
     fc.embedding_column(fc.sequence_categorical_column_with_identity('tok', 5), 3)],
    context_feature_columns=[fc.numeric_column('age')], units=[3],
    return_sequences=True, weight_column='w', model_dir=sys.argv[1])
print(json.dumps({k: float(v) for k, v in est.evaluate(input_fn).items()}))
'''


@pytest.mark.slow
def test_tensorflow_estimator_2_15_evaluates_our_model_dir(tmp_path, venv215_python):
  python = venv215_python
  model_dir = str(tmp_path)
  est = _make('seq_simple', model_dir)
  est.train(_input_fn('seq_simple'), steps=5)
  ours = est.evaluate(_input_fn('seq_simple'), steps=1)
  env = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
  out = subprocess.run([python, '-c', _EVAL_215, model_dir], env=env,
                       capture_output=True, text=True, check=True, timeout=300)
  theirs = json.loads(out.stdout.strip().splitlines()[-1])
  assert set(theirs) == set(ours)
  for key, value in theirs.items():
    np.testing.assert_allclose(ours[key], value, rtol=1e-5, err_msg=key)


def test_sequence_export_signatures_match_215(tmp_path):
  """Per-step outputs in every signature; the mask is not exported (2.15)."""
  model_dir = str(tmp_path / 'model')
  _write_fixed_checkpoint(model_dir, _all_names(_GOLDEN['seq_simple']['names']))
  est = _make('seq_simple', model_dir)
  sequence, context = _columns()
  spec = fc.make_parse_example_spec(sequence + context)
  export_dir = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_parsing_serving_input_receiver_fn(spec))
  signatures = tf.saved_model.load(export_dir).signatures
  outputs = {key: {name: (t.dtype.name, t.shape.as_list())
                   for name, t in fn.structured_outputs.items()}
             for key, fn in signatures.items()}
  scores = {'classes': ('string', [None, 2]),
            'scores': ('float32', [None, None, 2])}
  assert outputs == {
      'serving_default': scores,
      'classification': scores,
      'regression': {'outputs': ('float32', [None, None, 1])},
      'predict': {'all_class_ids': ('int32', [None, 2]),
                  'all_classes': ('string', [None, 2]),
                  'class_ids': ('int64', [None, None, 1]),
                  'classes': ('string', [None, None, 1]),
                  'logistic': ('float32', [None, None, 1]),
                  'logits': ('float32', [None, None, 1]),
                  'probabilities': ('float32', [None, None, 2])},
  }
  example = tf.train.Example(features=tf.train.Features(feature={
      'price': tf.train.Feature(float_list=tf.train.FloatList(value=[1., 2.])),
      'tok': tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 3])),
      'age': tf.train.Feature(float_list=tf.train.FloatList(value=[.5])),
  })).SerializeToString()
  got = signatures['predict'](examples=tf.constant([example]))
  # 2.15 on the same checkpoint and example.
  np.testing.assert_allclose(got['logits'].numpy().ravel(),
                             [0.31729975, -0.02341104], rtol=1e-5)


def test_rnn_estimators_are_the_v1_estimator_class_as_in_2_15():
  """2.15's RNNEstimator subclassed estimator.Estimator: export_savedmodel."""
  assert issubclass(tf.estimator.experimental.RNNClassifier,
                    tf.compat.v1.estimator.Estimator)
  assert callable(getattr(tf.estimator.experimental.RNNEstimator,
                          'export_savedmodel'))


def test_canned_graphs_convert_none_of_our_functions(tmp_path):
  """Autograph converts the user's functions only, not our model or metrics.

  Keras asks autograph to convert a layer's `call` and a metric's
  `update_state`/`result` when the class is not tf_keras' own; converting
  ours changed nothing (no tensor-dependent branches) and cost a process's
  first graph of a canned RNN 0.04 s and a binary head's 0.02 s. A fresh
  process, since autograph converts a function once per process.
  """
  import sys  # pylint: disable=g-import-not-at-top
  program = '''
import tensorflow as tf
import tfcompat_estimator
tfcompat_estimator.install()
from tensorflow.python.autograph.impl import api
converted = []
original = api._convert_actual
def recording(entity, program_ctx):
  converted.append(f'{entity.__module__}.{entity.__qualname__}')
  return original(entity, program_ctx)
api._convert_actual = recording
fc = tf.feature_column
def parse(serialized, label):
  spec = {'tok': tf.io.VarLenFeature(tf.int64)}
  return tf.io.parse_example(serialized, spec), label
def input_fn():
  example = tf.train.Example(features=tf.train.Features(feature={
      'tok': tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 3]))}))
  serialized = [example.SerializeToString()] * 2
  return tf.data.Dataset.from_tensors((serialized, [[1], [0]])).map(parse)
columns = [fc.embedding_column(
    fc.sequence_categorical_column_with_identity('tok', 5), 3)]
est = tf.estimator.experimental.RNNClassifier(
    sequence_feature_columns=columns, units=[4], model_dir=%r)
est.train(input_fn, steps=1)
metrics = est.evaluate(input_fn, steps=1)
print(sorted(metrics))
print(converted)
''' % str(tmp_path / 'model')
  script = tmp_path / 'conversions.py'  # autograph reads the source
  script.write_text(program)
  out = subprocess.run([sys.executable, str(script)], capture_output=True,
                       text=True, check=True)
  metric_names, converted = out.stdout.splitlines()[-2:]
  assert 'accuracy_baseline' in eval(metric_names)  # pylint: disable=eval-used
  converted = eval(converted)  # pylint: disable=eval-used
  assert '__main__.parse' in converted  # the probe sees conversions
  assert [name for name in converted if 'tfcompat_estimator' in name] == []
