"""A parameter-server job whose ps and worker servers live in this process.

    python ps_in_process_child.py WORK_DIR

The process starts two ps and two worker servers on loopback ports, then
trains as the cluster's chief (TF_CONFIG names it so). Connecting to a
cluster changes the process's TensorFlow context for good, so each run is
its own process. The last line printed is a JSON object with what the
case observed (all cases share the cluster: connecting takes seconds).
"""

import json
import os
import sys

import numpy as np
import portpicker
import tensorflow as tf

from tfcompat_estimator.engine import parameter_servers

WORK_DIR = sys.argv[1]
_PORTS = {job: [portpicker.pick_unused_port() for _ in range(n)]
          for job, n in (('chief', 1), ('worker', 2), ('ps', 2))}
CLUSTER = {job: [f'localhost:{p}' for p in ports]
           for job, ports in _PORTS.items()}
# The servers share the chief's process, as worker 0's does when it leads.
_SERVER_CONFIG = parameter_servers.server_config_for_leader(
    tf.train.ClusterSpec(CLUSTER))
SERVERS = [tf.distribute.Server(tf.train.ClusterSpec(CLUSTER), job_name=job,
                                task_index=index, protocol='grpc', start=True,
                                config=_SERVER_CONFIG)
           for job in ('worker', 'ps') for index in range(len(CLUSTER[job]))]
os.environ['TF_CONFIG'] = json.dumps({'cluster': CLUSTER,
                                      'task': {'type': 'chief', 'index': 0}})

import tfcompat_estimator  # pylint: disable=g-import-not-at-top,wrong-import-position
tfcompat_estimator.install()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
v1 = tf.compat.v1

X = np.random.RandomState(0).rand(256, 4).astype(np.float32)
Y = X.sum(axis=1, keepdims=True)
CONTEXTS = []  # (pipelines, id) of each input_fn call
DEVICES = {}


def record_device(next_creator, **kwargs):
  """Sees each training variable as created, before the graph captures it."""
  variable = next_creator(**kwargs)
  DEVICES[kwargs['name'].rstrip('/')] = variable.device
  return variable


def model_fn(features, labels, mode, params):
  record = mode == tf.estimator.ModeKeys.TRAIN
  with tf.variable_creator_scope(record_device if record else
                                 lambda next_creator, **kw: next_creator(**kw)):
    w = v1.get_variable('w', [4, 1], partitioner=v1.fixed_size_partitioner(2))
    b = v1.get_variable('b', [1])
  predictions = tf.matmul(features['x'], w) + b
  loss = tf.reduce_mean(tf.square(predictions - labels)) * params['scale']
  train_op = v1.train.GradientDescentOptimizer(0.05).minimize(
      loss, global_step=v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                    predictions=predictions)


def input_fn(input_context=None):
  dataset = tf.data.Dataset.from_tensor_slices(({'x': X}, Y))
  if input_context is not None:
    CONTEXTS.append([input_context.num_input_pipelines,
                     input_context.input_pipeline_id])
    dataset = dataset.shard(input_context.num_input_pipelines,
                            input_context.input_pipeline_id)
  return dataset.repeat().batch(16)


class StepRecorder(tf.estimator.SessionRunHook):
  """Records the global step each step saw (a hook the loop cannot skip)."""

  def __init__(self):
    self.seen = []

  def before_run(self, run_context):
    del run_context
    return tf.estimator.SessionRunArgs(v1.train.get_global_step())

  def after_run(self, run_context, run_values):
    del run_context
    self.seen.append(int(run_values.results))


def estimator(model_dir, scale=1.0):
  config = tf.estimator.RunConfig(save_checkpoints_steps=100,
                                  log_step_count_steps=None)
  return tf.estimator.Estimator(model_fn, model_dir, config=config,
                                params={'scale': scale})


def train(model_dir):
  est = estimator(model_dir)
  hook = StepRecorder()
  est.train(input_fn, max_steps=60, hooks=[hook])
  reader = tf.train.load_checkpoint(model_dir)
  return {
      'hooked_steps': hook.seen[:3] + hook.seen[-2:],
      'global_step': int(est.get_variable_value('global_step')),
      'devices': dict(DEVICES),
      'contexts': list(CONTEXTS),
      'checkpoint': sorted(reader.get_variable_to_shape_map().items()),
      'loss': float(est.evaluate(lambda: tf.data.Dataset.from_tensor_slices(
          ({'x': X}, Y)).batch(64), name='chief')['loss'])}


def nan_loss(model_dir):
  try:
    estimator(model_dir, scale=float("nan")).train(input_fn, max_steps=5)
  except tf.compat.v1.train.NanLossDuringTrainingError:
    return {'error': 'NanLossDuringTrainingError'}
  return {}


def tensor_input(model_dir):
  os.makedirs(model_dir)
  result = {}
  try:
    estimator(model_dir).train(
        lambda: ({'x': tf.constant(X)}, tf.constant(Y)), max_steps=5)
  except ValueError as e:
    result['error'] = str(e)
  result['model_dir'] = sorted(os.listdir(model_dir))
  return result


def ftrl_slots(model_dir):
  """Ftrl's two slots per variable go where their variable is."""

  def ftrl_model_fn(features, labels, mode):
    with tf.variable_creator_scope(record_device):
      w = v1.get_variable('w', [4, 1],
                          partitioner=v1.fixed_size_partitioner(2))
      loss = tf.reduce_mean(tf.square(tf.matmul(features['x'], w) - labels))
      train_op = v1.train.FtrlOptimizer(0.1).minimize(
          loss, global_step=v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  DEVICES.clear()
  est = tf.estimator.Estimator(ftrl_model_fn, model_dir)
  est.train(input_fn, max_steps=20)
  reader = tf.train.load_checkpoint(model_dir)
  return {'devices': dict(DEVICES),
          'global_step': int(est.get_variable_value('global_step')),
          'checkpoint': sorted(reader.get_variable_to_shape_map())}


def lost_results(model_dir):
  """Every third result is lost with its worker, as a killed worker loses it."""
  fetch, calls = parameter_servers.fetch, []

  def losing_fetch(remote_value):
    calls.append(1)
    value = fetch(remote_value)  # the call itself ran
    return None if len(calls) % 3 == 0 else value

  parameter_servers.fetch = losing_fetch
  try:
    hook = StepRecorder()
    est = estimator(model_dir)
    est.train(input_fn, max_steps=12, hooks=[hook])
  finally:
    parameter_servers.fetch = fetch
  return {'hooked_steps': hook.seen,
          'global_step': int(est.get_variable_value('global_step'))}


def known_hooks(model_dir):
  """Hooks of TF's own classes, on the chief, over the workers' steps."""
  logged = []
  saved_to = os.path.join(model_dir, 'hook_ckpt')
  counted_to = os.path.join(model_dir, 'hook_counter')
  hooks = [
      v1.train.LoggingTensorHook({'step': 'global_step'}, every_n_iter=10,
                                 formatter=lambda v: logged.append(
                                     int(v['step'])) or ''),
      v1.train.StopAtStepHook(num_steps=25),
      v1.train.CheckpointSaverHook(saved_to, save_steps=10),
      v1.train.StepCounterHook(every_n_steps=5, output_dir=counted_to)]
  est = estimator(model_dir)
  est.train(input_fn, hooks=hooks)
  # Given a CheckpointSaverHook, the Estimator adds none of its own (2.15).
  result = {'logged': logged,
            'global_step': int(tf.train.load_variable(saved_to, 'global_step')),
            'hook_checkpoints': sorted(
                int(name.split('-')[1].split('.')[0])
                for name in os.listdir(saved_to) if name.endswith('.index')),
            'counter_events': any(name.startswith('events.')
                                  for name in os.listdir(counted_to))}
  try:  # 2.15 refused it in any distributed RunConfig too
    tf.estimator.experimental.InMemoryEvaluatorHook(est, input_fn)
  except ValueError as e:
    result['in_memory_error'] = str(e)
  try:
    estimator(model_dir + '_waiter').train(
        input_fn, max_steps=5,
        hooks=[v1.train.GlobalStepWaiterHook(wait_until_step=3)])
  except ValueError as e:
    result['waiter_error'] = str(e)
  return result


def user_strategy(model_dir):
  """RunConfig(train_distribute=) a TF2 strategy, no TF_CONFIG (the TF2 way).

  Last: the strategy connects this process to the cluster again.
  """
  del os.environ['TF_CONFIG']
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(CLUSTER), task_type='chief', task_id=0,
      rpc_layer='grpc')
  ps_strategy = tf.distribute.experimental.ParameterServerStrategy
  partitioned = tf.estimator.Estimator(model_fn, model_dir, params={'scale': 1.0},
                                       config=tf.estimator.RunConfig(
      train_distribute=ps_strategy(
          resolver, variable_partitioner=(
              tf.distribute.experimental.partitioners.FixedShardsPartitioner(
                  2)))))
  result = {}
  try:
    partitioned.train(input_fn, max_steps=5)
  except ValueError as e:
    result['partitioner_error'] = str(e)
  DEVICES.clear()
  est = tf.estimator.Estimator(
      model_fn, model_dir, params={'scale': 1.0},
      config=tf.estimator.RunConfig(train_distribute=ps_strategy(resolver)))
  est.train(input_fn, max_steps=30)
  result.update(global_step=int(est.get_variable_value('global_step')),
                devices=dict(DEVICES))
  return result


def training_over(unused_model_dir):
  """The leader's announcement, as each worker's server sees it."""
  workers = SERVERS[:len(CLUSTER['worker'])]
  seen = lambda: [parameter_servers.training_over(server, index)
                  for index, server in enumerate(workers)]
  before = seen()
  parameter_servers.announce_training_over(tf.train.ClusterSpec(CLUSTER))
  return {'before': before, 'after': seen()}


def main():
  cases = (train, nan_loss, tensor_input, ftrl_slots, lost_results,
           known_hooks, user_strategy, training_over)  # the last: it is over
  print(json.dumps({case.__name__: case(os.path.join(WORK_DIR, case.__name__))
                    for case in cases}), flush=True)


if __name__ == '__main__':
  main()
  os._exit(0)  # the in-process servers cannot be stopped
