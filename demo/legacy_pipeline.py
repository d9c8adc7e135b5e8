"""A legacy tf.estimator pipeline, written as such code was written in 2019.

Only the two marked lines are new: they let the unchanged program run on
TensorFlow 2.16+. It trains a custom model_fn, then the canned wide & deep
estimator under train_and_evaluate with early stopping and a BestExporter, and
queries the best export as TF Serving's Classify would.
The data set (a small synthetic loan-default table) is generated here, so the
demo needs nothing from the network.

Run: bash scripts/demo.sh   (or python demo/legacy_pipeline.py [--model_dir D])
"""

import argparse
import os
import tempfile

import numpy as np

import tfcompat_estimator  # new line 1
tfcompat_estimator.install()  # new line 2

import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

FEATURES = ['income', 'debt_ratio', 'age', 'region']


def make_table(n, seed):
  rng = np.random.RandomState(seed)
  income = rng.lognormal(10.5, 0.5, n).astype(np.float32)
  debt_ratio = rng.beta(2, 5, n).astype(np.float32)
  age = rng.randint(21, 70, n).astype(np.float32)
  region = rng.randint(0, 4, n).astype(np.int64)
  score = 3.0 * debt_ratio - 0.8 * (np.log(income) - 10.5) - 0.02 * (age - 45) + \
      0.4 * (region == 3) + rng.normal(0, 0.4, n)
  label = (score > 1.0).astype(np.int32)
  return {'income': income, 'debt_ratio': debt_ratio, 'age': age, 'region': region}, label


def model_fn(features, labels, mode, params):
  with tf.compat.v1.variable_scope('loan_model'):
    numeric = tf.stack([tf.math.log(features['income']) - 10.5,
                        features['debt_ratio'],
                        (features['age'] - 45.0) / 15.0], axis=1)
    region_emb = tf.compat.v1.get_variable('region_embedding', [4, 2])
    net = tf.concat([numeric, tf.nn.embedding_lookup(region_emb, features['region'])], 1)
    for units in params['hidden_units']:
      net = tf.compat.v1.layers.dense(net, units, activation=tf.nn.relu)
    logits = tf.compat.v1.layers.dense(net, 1, name='logits')
  probability = tf.sigmoid(logits)
  predictions = {'probability': probability,
                 'class_ids': tf.cast(probability > 0.5, tf.int64)}
  if mode == tf.estimator.ModeKeys.PREDICT:
    scores = tf.concat([1.0 - probability, probability], axis=1)
    classes = tf.tile(tf.constant([['repaid', 'default']]), [tf.shape(logits)[0], 1])
    return tf.estimator.EstimatorSpec(mode, predictions=predictions, export_outputs={
        'serving_default': tf.estimator.export.ClassificationOutput(scores=scores,
                                                                    classes=classes),
        'predict': tf.estimator.export.PredictOutput(predictions)})
  labels = tf.cast(tf.reshape(labels, [-1, 1]), tf.float32)
  loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
  tf.compat.v1.summary.scalar('batch_default_rate', tf.reduce_mean(labels))
  metrics = {'accuracy': tf.compat.v1.metrics.accuracy(labels, predictions['class_ids']),
             'auc': tf.compat.v1.metrics.auc(labels, probability)}
  if mode == tf.estimator.ModeKeys.EVAL:
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
  optimizer = tf.compat.v1.train.AdamOptimizer(params['learning_rate'])
  train_op = optimizer.minimize(loss, tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def wide_and_deep(model_dir, train_x, train_y, eval_x, eval_y, max_steps):
  """The canned way, driven as production pipelines drove it.

  train_and_evaluate evaluates every checkpoint, BestExporter exports each one
  that lowers the eval loss, and an early-stopping hook ends training once the
  loss has not fallen for 500 steps, usually long before `max_steps`.
  """
  income = tf.feature_column.numeric_column(
      'income', normalizer_fn=lambda x: tf.math.log(x) - 10.5)
  debt_ratio = tf.feature_column.numeric_column('debt_ratio')
  age = tf.feature_column.bucketized_column(
      tf.feature_column.numeric_column('age'), [30, 40, 50, 60])
  region = tf.feature_column.categorical_column_with_identity('region', 4)
  wide = [age, region, tf.feature_column.crossed_column([age, region], 32)]
  deep = [income, debt_ratio, tf.feature_column.embedding_column(region, 2),
          tf.feature_column.indicator_column(age)]
  estimator = tf.estimator.DNNLinearCombinedClassifier(
      linear_feature_columns=wide, dnn_feature_columns=deep,
      dnn_hidden_units=[32, 16], dnn_optimizer='Adam',
      label_vocabulary=['repaid', 'default'],
      model_dir=model_dir,
      config=tf.estimator.RunConfig(tf_random_seed=7, save_checkpoints_steps=250))

  names = np.array(['repaid', 'default'])
  train_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      train_x, names[train_y], batch_size=128, num_epochs=None, shuffle=True)
  eval_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      eval_x, names[eval_y], batch_size=512, num_epochs=1, shuffle=False)
  serving_input_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
      tf.feature_column.make_parse_example_spec(wide + deep))
  early_stopping = tf.estimator.experimental.stop_if_no_decrease_hook(
      estimator, metric_name='loss', max_steps_without_decrease=500,
      min_steps=500, run_every_secs=None, run_every_steps=250)
  train_spec = tf.estimator.TrainSpec(train_input_fn, max_steps=max_steps,
                                      hooks=[early_stopping])
  eval_spec = tf.estimator.EvalSpec(
      eval_input_fn, steps=None, throttle_secs=0,
      exporters=tf.estimator.BestExporter('best', serving_input_fn,
                                          exports_to_keep=2))
  metrics, _ = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
  print(f'Wide & deep stopped at step {metrics["global_step"]} of {max_steps}; '
        'last evaluation:', {k: round(float(v), 4) for k, v in metrics.items()})

  best_dir = os.path.join(model_dir, 'export', 'best')
  export_path = os.path.join(best_dir, max(
      d for d in tf.io.gfile.listdir(best_dir) if d.isdigit()))
  print('Best (lowest eval loss) SavedModel:', export_path)
  # What TensorFlow Serving's Classify API does: serialized tf.Examples in.
  classify = tf.saved_model.load(export_path).signatures['classification']
  examples = []
  for i in range(3):
    feature = {
        'income': tf.train.Feature(float_list=tf.train.FloatList(value=[eval_x['income'][i]])),
        'debt_ratio': tf.train.Feature(float_list=tf.train.FloatList(value=[eval_x['debt_ratio'][i]])),
        'age': tf.train.Feature(float_list=tf.train.FloatList(value=[eval_x['age'][i]])),
        'region': tf.train.Feature(int64_list=tf.train.Int64List(value=[eval_x['region'][i]]))}
    examples.append(tf.train.Example(features=tf.train.Features(feature=feature))
                    .SerializeToString())
  result = classify(inputs=tf.constant(examples))
  for i in range(3):
    scores = ', '.join(f'{c.decode()}: {p:.3f}' for c, p in zip(
        result['classes'][i].numpy(), result['scores'][i].numpy()))
    print(f'applicant {i}: Classify -> {scores}; label = {names[eval_y[i]]}')


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--model_dir', default=None)
  parser.add_argument('--steps', type=int, default=2000)
  parser.add_argument('--wide_deep_max_steps', type=int, default=10000,
                      help='upper bound; early stopping usually ends sooner')
  args = parser.parse_args()
  model_dir = args.model_dir or tempfile.mkdtemp(prefix='legacy_pipeline_')
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
  print(f'demo/legacy_pipeline.py: a 2019-style tf.estimator program, run '
        f'unchanged but for two lines on TensorFlow {tf.__version__}.\n'
        f'model_dir: {model_dir}\n'
        '1. Custom model_fn: train, evaluate, predict, export_saved_model.')

  train_x, train_y = make_table(20000, seed=0)
  eval_x, eval_y = make_table(4000, seed=1)
  config = tf.estimator.RunConfig(tf_random_seed=7, save_checkpoints_steps=500,
                                  keep_checkpoint_max=3)
  estimator = tf.estimator.Estimator(
      model_fn, model_dir=model_dir, config=config,
      params={'hidden_units': [32, 16], 'learning_rate': 0.01})

  train_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      train_x, train_y, batch_size=128, num_epochs=None, shuffle=True)
  eval_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(
      eval_x, eval_y, batch_size=512, num_epochs=1, shuffle=False)
  estimator.train(train_input_fn, steps=args.steps)
  metrics = estimator.evaluate(eval_input_fn)
  print('Evaluation metrics:', {k: round(float(v), 4) for k, v in metrics.items()})

  sample = {k: v[:5] for k, v in eval_x.items()}
  for i, prediction in enumerate(estimator.predict(
      tf.compat.v1.estimator.inputs.numpy_input_fn(sample, shuffle=False))):
    print(f'applicant {i}: P(default) = {prediction["probability"][0]:.3f}, '
          f'label = {eval_y[i]}')

  feature_spec = {'income': tf.io.FixedLenFeature([], tf.float32),
                  'debt_ratio': tf.io.FixedLenFeature([], tf.float32),
                  'age': tf.io.FixedLenFeature([], tf.float32),
                  'region': tf.io.FixedLenFeature([], tf.int64)}
  export_path = estimator.export_saved_model(
      os.path.join(model_dir, 'export'),
      tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec))
  print('SavedModel exported to:', export_path.decode())

  print('2. Canned wide & deep under train_and_evaluate, with early stopping '
        'and a BestExporter; then TF Serving\'s Classify on the best export.')
  wide_and_deep(os.path.join(model_dir, 'wide_and_deep'), train_x, train_y,
                eval_x, eval_y, args.wide_deep_max_steps)


if __name__ == '__main__':
  main()
