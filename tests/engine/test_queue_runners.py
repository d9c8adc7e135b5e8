"""TF1 queue-runner input: readers, `tf.train.batch`, their threads.

The engine runs the input_fn's graph with its queue runners in threads of
their own, as 2.15's MonitoredSession did; each runner's enqueue op runs
many times per call of its thread (`input_graph.make_callable`).
"""

import numpy as np
import tensorflow as tf

from tfcompat_estimator.engine import input_graph

v1 = tf.compat.v1


def _csv(tmp_path):
  path = str(tmp_path / 'data.csv')
  with open(path, 'w') as f:
    for i in range(1000):
      a, b = np.sin(i), np.cos(3 * i)
      f.write(f'{a:.6f},{b:.6f},{int(a + b > 0)}\n')
  return path


def test_a_reader_and_batch_queue_train_and_evaluate_as_on_2_15(tmp_path):
  csv = _csv(tmp_path)

  def input_fn():
    files = v1.train.string_input_producer([csv], num_epochs=2, shuffle=False)
    _, line = v1.TextLineReader().read(files)
    a, b, y = v1.decode_csv(line, record_defaults=[[0.0], [0.0], [0]])
    batch = v1.train.batch({'a': a, 'b': b, 'y': y}, 64,
                           allow_smaller_final_batch=True)
    return ({'x': tf.stack([batch['a'], batch['b']], 1)},
            tf.cast(batch['y'], tf.float32))

  def model_fn(features, labels, mode):
    w = v1.get_variable('w', [2, 1], initializer=v1.zeros_initializer())
    logits = tf.squeeze(tf.matmul(features['x'], w), 1)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=labels, logits=logits))
    if mode == tf.estimator.ModeKeys.EVAL:
      return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
          'examples': v1.metrics.mean(tf.cast(tf.size(labels), tf.float32))})
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=v1.train.GradientDescentOptimizer(
            0.5).minimize(loss, v1.train.get_global_step()))

  est = tf.estimator.Estimator(model_fn, str(tmp_path / 'model'))
  est.train(input_fn)
  # 2.15's values: two epochs of 1,000 lines in order, the last batch short.
  assert est.get_variable_value('global_step') == 32
  np.testing.assert_allclose(est.get_variable_value('w').ravel(),
                             [1.5872620344161987, 1.738464593887329],
                             rtol=1e-6)
  results = est.evaluate(input_fn)
  assert results['examples'] == 62.5
  np.testing.assert_allclose(results['loss'], 0.30356935, rtol=1e-6)


def test_a_queue_runners_call_runs_its_enqueue_op_many_times(tmp_path):
  graph = tf.Graph()
  with graph.as_default():
    queue = v1.FIFOQueue(100, tf.int32, shapes=[[]])
    counter = v1.Variable(0, use_resource=True)
    enqueue = queue.enqueue(v1.assign_add(counter, 1))
    runner = v1.train.QueueRunner(queue, [enqueue])
    size = queue.size()
    dequeued = queue.dequeue_many(40)
  inputs = input_graph.InputGraph(graph, [dequeued])
  inputs.make_callable(runner.enqueue_ops[0])()
  assert inputs.run(size) == input_graph._ENQUEUES_PER_CALL  # pylint: disable=protected-access
  inputs.make_callable(runner.enqueue_ops[0])()
  # In order: the values the counter took, one enqueue after the other.
  np.testing.assert_array_equal(inputs.next_batch({})[0], np.arange(1, 41))
  inputs.close()
