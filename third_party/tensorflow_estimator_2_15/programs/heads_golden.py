"""Every canned head on fixed logits, through a tiny Estimator.

The model_fn has no weights: its logits are a feature, so the head alone
decides the loss, metrics, predictions and export signatures. The same code
runs on tensorflow-estimator 2.15 (`python heads_golden.py OUT.json` writes
the golden file) and on tfcompat_estimator after `install()` (the tests call
`run_case`). Heads are built inside functions only, through `tf.estimator`
and the v1 head factories each implementation keeps in its own module.
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

BATCH = 4
N_BATCHES = 3
N = BATCH * N_BATCHES


def _rng(seed):
  return np.random.RandomState(seed)


def _v1_factories():
  """(binary-or-multi-class factory, regression factory) of the v1 heads."""
  try:
    from tfcompat_estimator.canned.head import v1_heads  # pylint: disable=g-import-not-at-top
    return (v1_heads.binary_logistic_or_multi_class_head,
            v1_heads.regression_head_v1)
  except ImportError:
    from tensorflow_estimator.python.estimator.canned import head as v1  # pylint: disable=g-import-not-at-top
    return v1._binary_logistic_or_multi_class_head, v1._regression_head  # pylint: disable=protected-access


def _binary_labels(seed):
  return (_rng(seed).rand(N, 1) > 0.5).astype(np.float32)


def _class_ids(seed, n):
  return _rng(seed).randint(0, n, size=(N, 1)).astype(np.int64)


def _vocab_labels(ids, vocab):
  return np.array([[vocab[i]] for i in ids[:, 0]]).astype(bytes)


def _weights():
  return _rng(7).uniform(0.5, 2.0, size=(N, 1)).astype(np.float32)


def _indicator(seed, n):
  return (_rng(seed).rand(N, n) > 0.5).astype(np.int64)


# name -> (head builder, logits dimension, labels, extra model_fn kwargs)
def cases():
  """The head configurations compared against 2.15."""
  est = tf.estimator
  v1_classifier, v1_regressor = _v1_factories()
  reduction_v1 = tf.compat.v1.losses.Reduction
  return {
      'binary': (lambda: est.BinaryClassHead(), 1, _binary_labels(1), {}),
      'binary_weighted_vocab_thresholds': (
          lambda: est.BinaryClassHead(
              weight_column='w', thresholds=[0.3, 0.7],
              label_vocabulary=['neg', 'pos']),
          1, _vocab_labels(_class_ids(2, 2), ['neg', 'pos']), {}),
      'binary_named_sum_regularized': (
          lambda: est.BinaryClassHead(
              name='bin', loss_reduction=tf.losses.Reduction.SUM),
          1, _binary_labels(3), {'regularization': 0.25}),
      'multi_class_weighted': (
          lambda: est.MultiClassHead(3, weight_column='w'), 3,
          _class_ids(4, 3), {}),
      'multi_class_vocab': (
          lambda: est.MultiClassHead(3, label_vocabulary=['a', 'b', 'c']), 3,
          _vocab_labels(_class_ids(5, 3), ['a', 'b', 'c']), {}),
      'multi_label': (
          lambda: est.MultiLabelHead(
              3, weight_column='w', thresholds=[0.5],
              classes_for_class_based_metrics=[0, 2]),
          3, _indicator(6, 3), {}),
      'multi_label_vocab': (
          lambda: est.MultiLabelHead(
              3, label_vocabulary=['x', 'y', 'z'],
              classes_for_class_based_metrics=['y']),
          3, _indicator(7, 3), {}),
      'regression_2d_weighted': (
          lambda: est.RegressionHead(label_dimension=2, weight_column='w'), 2,
          _rng(8).randn(N, 2).astype(np.float32), {}),
      'poisson': (lambda: est.PoissonRegressionHead(), 1,
                  _rng(9).poisson(2.0, size=(N, 1)).astype(np.float32), {}),
      'logistic_regression': (
          lambda: est.LogisticRegressionHead(), 1,
          _rng(10).rand(N, 1).astype(np.float32), {}),
      'multi_head': (
          lambda: est.MultiHead(
              [est.BinaryClassHead(name='b'),
               est.MultiClassHead(3, name='m')], head_weights=[1., 2.]),
          4, {'b': _binary_labels(11), 'm': _class_ids(12, 3)}, {}),
      'v1_binary_weighted': (
          lambda: v1_classifier(2, 'w', None, reduction_v1.SUM), 1,
          _binary_labels(13), {}),
      'v1_multi_class_vocab': (
          lambda: v1_classifier(3, None, ['a', 'b', 'c'], reduction_v1.SUM),
          3, _vocab_labels(_class_ids(14, 3), ['a', 'b', 'c']), {}),
      'v1_regression_weighted': (
          lambda: v1_regressor(weight_column='w', label_dimension=1), 1,
          _rng(15).randn(N, 1).astype(np.float32), {}),
  }


def _model_fn(head_fn, logits_dim, regularization):

  def model_fn(features, labels, mode):
    head = head_fn()
    logits = tf.reshape(features['logits'], [-1, logits_dim])
    global_step = tf.compat.v1.train.get_or_create_global_step()
    kwargs = {}
    if regularization:
      kwargs['regularization_losses'] = [tf.constant(regularization)]
    return head.create_estimator_spec(
        features=features, mode=mode, logits=logits, labels=labels,
        train_op_fn=lambda loss: tf.compat.v1.assign_add(global_step, 1),
        **kwargs)

  return model_fn


def _to_json(value):
  array = np.asarray(value)
  if array.dtype.kind in 'SO':
    return [[v.decode() if isinstance(v, bytes) else v for v in row]
            for row in np.atleast_2d(array).tolist()]
  return array.tolist()


def _signatures(export_dir):
  from tensorflow.python.saved_model import loader_impl  # pylint: disable=g-import-not-at-top
  meta_graph = loader_impl.parse_saved_model(export_dir).meta_graphs[0]

  def describe(tensors):
    return {key: [tf.as_dtype(info.dtype).name,
                  [d.size for d in info.tensor_shape.dim]]
            for key, info in tensors.items()}

  return {key: {'method': sig.method_name, 'inputs': describe(sig.inputs),
                'outputs': describe(sig.outputs)}
          for key, sig in meta_graph.signature_def.items()}


def run_case(name, work_dir):
  """Trains one step, evaluates 3 batches, predicts and exports one case."""
  head_fn, logits_dim, labels, extra = cases()[name]
  logits = _rng(100 + logits_dim).randn(N, logits_dim).astype(np.float32)
  features = {'logits': logits, 'w': _weights()}

  def input_fn():
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(BATCH)

  est = tf.estimator.Estimator(
      _model_fn(head_fn, logits_dim, extra.get('regularization')),
      model_dir=os.path.join(work_dir, name))
  est.train(input_fn, steps=1)
  metrics = est.evaluate(input_fn, steps=N_BATCHES)
  first = next(iter(est.predict(input_fn)))
  predictions = {'/'.join(k) if isinstance(k, tuple) else k:
                 {'value': _to_json(v), 'dtype': np.asarray(v).dtype.kind}
                 for k, v in first.items()}
  receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn({
      'logits': tf.io.FixedLenFeature([logits_dim], tf.float32),
      'w': tf.io.FixedLenFeature([1], tf.float32)})
  export_dir = est.export_saved_model(os.path.join(work_dir, name + '_export'),
                                      receiver)
  if isinstance(export_dir, bytes):
    export_dir = export_dir.decode()
  return {
      'metrics': {k: float(v) for k, v in metrics.items()},
      'predictions': predictions,
      'signatures': _signatures(export_dir),
  }


def main(out_path):
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
  results = {}
  with tempfile.TemporaryDirectory() as work_dir:
    for name in cases():
      results[name] = run_case(name, work_dir)
  with open(out_path, 'w') as f:
    json.dump({'versions': {'tensorflow': tf.__version__},
               'cases': results}, f, indent=1, sort_keys=True)


if __name__ == '__main__':
  main(sys.argv[1])
