"""One cold call of a hand-written TF 2.21 program: the cold-start bound.

    python bench/hand_cold_call.py WORKLOAD CALL MODEL_DIR

The same first calls as `cold_call.py`, written without any Estimator: the
hand loop's model (`limit_contenders.py`), a `tf.train.Checkpoint` in
MODEL_DIR, and one `tf.function` per call. It pays what a lean TF 2.21
program pays for each call on this machine (tf-keras layers, tracing,
function instantiation, Grappler, checkpoint I/O); its ratio to 2.15 is the
bound column of bench/COLD_START.md. A reference, not a proof: where the
Estimator does less than this program (its export reuses the graph it
captured; the program traces its model again), ours beats it.

CALL is `setup` (trains 200 steps into MODEL_DIR), `train` (a new model
and checkpoint: one step, then a save), `evaluate` (restore, one pass
computing the mean loss and the metrics the workload's Estimator reports),
`predict` (restore, the first batch's logits) or `export` (restore, a
SavedModel whose signature parses serialized tf.Examples). Prints
`{"sec": ...}` for the call alone: from building the model to its result,
as `cold_call.py` times the Estimator's call from its start (data made in
memory first in both).
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

import limit_contenders as hand  # pylint: disable=g-import-not-at-top
from measure import COLD_SETUP_STEPS, print_cold_call  # pylint: disable=g-import-not-at-top
import workloads  # pylint: disable=g-import-not-at-top


def _checkpoint(model, groups):
  optimizers = {f'optimizer_{i}': opt for i, (opt, _) in enumerate(groups)}
  return tf.train.Checkpoint(model=model, **optimizers)


def _train(work, model_dir, steps):
  model, groups = hand.hand_model(work)
  loss_fn, _ = hand.loss_and_accuracy(work)
  run_steps = hand.hand_train_loop(model, groups, loss_fn)
  iterator = iter(hand.read_ahead_training_input(work))
  for n in hand.calls(steps):
    float(run_steps(iterator, tf.constant(n)))
  _checkpoint(model, groups).save(os.path.join(model_dir, 'ckpt'))


def _restoring(work, model_dir):
  """The model, restoring from MODEL_DIR's checkpoint as its variables appear.

  No eager forward pass builds it: its first `tf.function` call creates the
  variables, and the checkpoint's values are their initial values.
  """
  parts, _, _ = hand.MODELS[work.name](work)
  model = hand.SummedParts(parts)
  status = tf.train.Checkpoint(model=model).read(
      tf.train.latest_checkpoint(model_dir)).expect_partial()  # no optimizers
  return model, status


# The metrics each workload's Estimator reports besides its loss, so the
# hand-written evaluation does the same work: a canned binary head's eight,
# a multi-class head's accuracy, the custom model_fns' own.
def _binary_head_metrics():
  m = tf_keras.metrics
  return [m.AUC(from_logits=True), m.AUC(curve='PR', from_logits=True),
          _OnProbabilities(m.Precision()), _OnProbabilities(m.Recall()),
          _OnProbabilities(m.Mean(), labels=False), _OnLabels(m.Mean())]


def _auc():
  return [tf_keras.metrics.AUC(from_logits=True)]


_EXTRA_METRICS = {
    'dnn_dense': list, 'wide_deep_sparse': _binary_head_metrics,
    'linear_ftrl_hashed': _binary_head_metrics,
    'rnn_lstm': _binary_head_metrics, 'custom_model_fn': _auc,
    'keras_model_to_estimator': list, 'tpu_estimator_cpu': _auc,
}


class _OnProbabilities:
  """A metric fed sigmoid(logits) (and the labels, unless `labels=False`)."""

  def __init__(self, metric, labels=True):
    self.metric, self.labels = metric, labels

  def update_state(self, labels, logits):
    probabilities = tf.sigmoid(logits)
    if self.labels:
      self.metric.update_state(labels, probabilities)
    else:
      self.metric.update_state(probabilities)

  def result(self):
    return self.metric.result()


class _OnLabels(_OnProbabilities):
  """A metric of the labels alone (their mean)."""

  def update_state(self, labels, logits):
    del logits
    self.metric.update_state(tf.cast(labels, tf.float32))


def _evaluate(work, model_dir):
  model, status = _restoring(work, model_dir)
  loss_fn, accuracy = hand.loss_and_accuracy(work)
  mean_loss = tf_keras.metrics.Mean()
  metrics = [accuracy] + _EXTRA_METRICS[work.name]()

  @tf.function
  def evaluate(data):
    for features, labels in data:
      logits = model(features)
      for metric in metrics:
        metric.update_state(labels, logits)
      mean_loss.update_state(loss_fn(labels, logits))

  evaluate(work.dataset('eval'))
  status.assert_existing_objects_matched()
  return [float(m.result()) for m in metrics + [mean_loss]]


def _predict(work, model_dir):
  model, status = _restoring(work, model_dir)
  batch = next(iter(work.predict_input_fn()))
  features = batch[0] if isinstance(batch, tuple) else batch
  logits = tf.function(model)(features).numpy()
  status.assert_existing_objects_matched()
  return logits


def _export(work, model_dir):
  """A SavedModel of the serving signature and the variables it reads.

  Saving the Keras model itself would also trace each layer's call for
  Keras' own loading (1.7 s on wide_deep_sparse): work the Estimator's
  export does not do, so not part of the bound.
  """
  model, status = _restoring(work, model_dir)
  spec = work.parse_spec()

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(serialized):
    return {'logits': model(tf.io.parse_example(serialized, spec))}

  serve.get_concrete_function()
  status.assert_existing_objects_matched()
  root = tf.Module()
  # What the signature reads (variables, vocabulary tables), without the
  # Keras layers that hold them.
  root.state = [t for t in tf.train.TrackableView(model).descendants()
                if not isinstance(t, tf_keras.layers.Layer)]
  with tempfile.TemporaryDirectory() as export_dir:
    tf.saved_model.save(root, export_dir, signatures={'serving_default': serve})


def main(name, call, model_dir):
  work = workloads.WORKLOADS[name]()
  for split in ('train', 'eval', 'predict'):
    work.data(split)
  tf_keras.utils.set_random_seed(1)
  calls = {
      'setup': lambda: _train(work, model_dir, COLD_SETUP_STEPS),
      'train': lambda: _train(work, tempfile.mkdtemp(), 1),
      'evaluate': lambda: _evaluate(work, model_dir),
      'predict': lambda: _predict(work, model_dir),
      'export': lambda: _export(work, model_dir),
  }
  print_cold_call(calls[call], tf.__version__)


if __name__ == '__main__':
  main(*sys.argv[1:4])
