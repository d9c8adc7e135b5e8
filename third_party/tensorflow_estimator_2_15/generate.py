"""Writes golden artifacts for programs/custom_dnn.py using the REAL
tensorflow-estimator 2.15.0 on tensorflow-cpu 2.15.1.

Run through make_golden.sh (which provides the right virtualenv):

    bash third_party/tensorflow_estimator_2_15/make_golden.sh

Output: golden/custom_dnn/{expected.json, model_dir/, export/}
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'programs'))
import custom_dnn  # pylint: disable=g-import-not-at-top,wrong-import-position

EVENTS_PREFIX = 'events.out.tfevents.'

NOTES = [
    'after_run:<n> in TRAIN hook sequences reports global_step fetched in '
    'the same Session.run as train_op; it is usually the pre-increment value '
    'but the read races with the increment, so an occasional entry can be '
    'off by one between runs. Compare the structure, not each value.',
    'hook_sequences come from a separate fresh estimator: train max_steps=5, '
    'then evaluate/predict on that 5-step model.',
    'predict_input_fn yields 16 examples = one batch; the fully consumed '
    'predict shows a trailing before_run without after_run (end of input).',
    'model_dir/ keeps only checkpoint + .index/.data of kept checkpoints; '
    'files_after_* list everything 2.15 wrote (events names are host/time '
    'dependent, see *_normalized).',
    'eval_metrics / predictions / export outputs are deterministic for the '
    'golden model_dir; continued_training is only for sanity comparison.',
]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def to_jsonable(value):
  if isinstance(value, bytes):
    return value.decode('utf-8')
  if isinstance(value, np.ndarray):
    if value.dtype.kind in ('S', 'O', 'U'):
      return [to_jsonable(v) for v in value.tolist()]
    return value.tolist()
  if isinstance(value, (list, tuple)):
    return [to_jsonable(v) for v in value]
  if isinstance(value, dict):
    return {str(k): to_jsonable(v) for k, v in value.items()}
  if isinstance(value, np.generic):
    return value.item()
  return value


def type_name(value):
  if isinstance(value, (np.ndarray, np.generic)):
    return value.dtype.name
  return type(value).__name__


def list_files(root):
  out = []
  for dirpath, _, filenames in os.walk(root):
    for name in filenames:
      out.append(os.path.relpath(os.path.join(dirpath, name), root))
  return sorted(out)


def normalize_name(rel_path):
  """Replaces the host/time dependent part of event file names with '*'."""
  head, tail = os.path.split(rel_path)
  if tail.startswith(EVENTS_PREFIX):
    tail = EVENTS_PREFIX + '*'
  return os.path.join(head, tail) if head else tail


def summary_tags(directory):
  """{tag: [steps...]} of all summaries in the events files of `directory`."""
  tags = {}
  kinds = {}
  files = sorted(f for f in os.listdir(directory) if f.startswith(EVENTS_PREFIX))
  for name in files:
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)):
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(int(event.step))
        kinds[value.tag] = value.WhichOneof('value')
  return {'num_event_files': len(files), 'tags': tags, 'value_kinds': kinds}


def metrics_to_json(metrics):
  return ({k: float(v) for k, v in metrics.items()},
          {k: type_name(v) for k, v in metrics.items()})


def make_estimator(model_dir):
  config = tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS)
  return tf.estimator.Estimator(
      model_fn=custom_dnn.model_fn, model_dir=model_dir, config=config,
      params=dict(custom_dnn.PARAMS))


def tensor_info_to_json(info):
  shape = None
  if not info.tensor_shape.unknown_rank:
    shape = [int(d.size) for d in info.tensor_shape.dim]
  return {'dtype': tf.as_dtype(info.dtype).name, 'shape': shape,
          'name': info.name}


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------
def train_main(model_dir, expected):
  hook = custom_dnn.RecordingHook()
  listener = custom_dnn.RecordingListener()
  est = make_estimator(model_dir)
  est.train(custom_dnn.train_input_fn, max_steps=60, hooks=[hook],
            saving_listeners=[listener])
  expected['files_after_train'] = list_files(model_dir)
  expected['files_after_train_normalized'] = sorted(
      set(normalize_name(f) for f in expected['files_after_train']))
  expected['train_summaries'] = summary_tags(model_dir)
  expected['train_hook_sequence_main'] = hook.events
  expected['listener_sequence'] = listener.events
  return est


def describe_checkpoint(est, model_dir, expected):
  expected['variable_names'] = est.get_variable_names()
  reader = tf.train.load_checkpoint(model_dir)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  expected['variables'] = {
      name: {'shape': [int(d) for d in shapes[name]],
             'dtype': dtypes[name].name}
      for name in sorted(shapes)}
  expected['latest_checkpoint'] = os.path.basename(est.latest_checkpoint())
  expected['latest_step'] = int(est.get_variable_value('global_step'))
  with open(os.path.join(model_dir, 'checkpoint')) as f:
    text = f.read()
  expected['checkpoint_state'] = text.replace(model_dir, '<MODEL_DIR>')
  state = tf.train.get_checkpoint_state(model_dir)
  expected['checkpoint_state_paths_relative'] = not any(
      os.path.isabs(line.split(':', 1)[1].strip().strip('"'))
      for line in text.splitlines() if ':' in line)
  expected['kept_checkpoints'] = [
      os.path.basename(p) for p in state.all_model_checkpoint_paths]


def evaluate_and_predict(est, model_dir, expected):
  metrics, types = metrics_to_json(est.evaluate(custom_dnn.eval_input_fn))
  expected['eval_metrics'] = metrics
  expected['eval_metric_types'] = types
  metrics, _ = metrics_to_json(
      est.evaluate(custom_dnn.eval_input_fn, steps=2))
  expected['eval_metrics_steps2'] = metrics

  eval_dirs = sorted(d for d in os.listdir(model_dir)
                     if os.path.isdir(os.path.join(model_dir, d)))
  expected['eval_dirs'] = eval_dirs
  expected['eval_summaries'] = {
      d: summary_tags(os.path.join(model_dir, d)) for d in eval_dirs}
  expected['files_after_evaluate'] = list_files(model_dir)
  expected['files_after_evaluate_normalized'] = sorted(
      set(normalize_name(f) for f in expected['files_after_evaluate']))

  preds = list(est.predict(custom_dnn.predict_input_fn))
  expected['predictions'] = [to_jsonable(p) for p in preds]
  expected['prediction_dtypes'] = {k: type_name(v)
                                   for k, v in preds[0].items()}

  batched = []
  for batch in est.predict(custom_dnn.predict_input_fn,
                           predict_keys=['probability'],
                           yield_single_examples=False):
    batched.append({'keys': sorted(batch.keys()),
                    'shapes': {k: list(v.shape) for k, v in batch.items()}})
  expected['predictions_batched_keys'] = batched


def hook_sequences(tmp_root, expected):
  model_dir = os.path.join(tmp_root, 'hooks_model_dir')
  est = make_estimator(model_dir)
  seqs = {}

  hook = custom_dnn.RecordingHook()
  est.train(custom_dnn.train_input_fn, max_steps=5, hooks=[hook])
  seqs['train_max_steps_5'] = hook.events

  hook = custom_dnn.RecordingHook()
  est.evaluate(custom_dnn.eval_input_fn, steps=3, hooks=[hook])
  seqs['evaluate_steps_3'] = hook.events

  hook = custom_dnn.RecordingHook()
  gen = est.predict(custom_dnn.predict_input_fn, hooks=[hook])
  for _ in range(3):
    next(gen)
  seqs['predict_first_3_consumed'] = list(hook.events)
  gen.close()
  seqs['predict_first_3_then_close'] = list(hook.events)

  hook = custom_dnn.RecordingHook()
  for _ in est.predict(custom_dnn.predict_input_fn, hooks=[hook]):
    pass
  seqs['predict_fully_consumed'] = hook.events

  # Same training through the TF1-style tensor input_fn, fresh model_dir.
  est2 = make_estimator(os.path.join(tmp_root, 'hooks_model_dir_tensor'))
  hook = custom_dnn.RecordingHook()
  est2.train(custom_dnn.tensor_train_input_fn, max_steps=5, hooks=[hook])
  seqs['train_tensor_input_fn_max_steps_5'] = hook.events

  expected['hook_sequence_estimator'] = (
      'fresh estimator (same RunConfig/params); train max_steps=5 first, '
      'then evaluate/predict on that 5-step model')
  expected['hook_sequences'] = seqs


def continued_training(model_dir, tmp_root, expected):
  cont_dir = os.path.join(tmp_root, 'continued_model_dir')
  shutil.copytree(model_dir, cont_dir)
  est = make_estimator(cont_dir)
  listener = custom_dnn.RecordingListener()
  est.train(custom_dnn.train_input_fn, steps=40, saving_listeners=[listener])
  metrics, _ = metrics_to_json(est.evaluate(custom_dnn.eval_input_fn))
  state = tf.train.get_checkpoint_state(cont_dir)
  expected['continued_training'] = {
      'extra_steps': 40,
      'global_step': int(est.get_variable_value('global_step')),
      'eval_metrics': metrics,
      'listener_sequence': listener.events,
      'kept_checkpoints': [os.path.basename(p)
                           for p in state.all_model_checkpoint_paths],
  }


def export(est, tmp_root, out_dir, expected):
  export_base = os.path.join(tmp_root, 'export_base')
  path = est.export_saved_model(export_base,
                                custom_dnn.serving_input_receiver_fn)
  path = path.decode('utf-8') if isinstance(path, bytes) else path
  info = {
      'export_dir_basename_is_timestamp':
          bool(re.fullmatch(r'\d+', os.path.basename(path))),
      'files': list_files(path),
  }

  examples = custom_dnn.make_serialized_examples(
      custom_dnn.make_data(custom_dnn.N_PREDICT, custom_dnn.PREDICT_SEED)[0])
  signatures = {}
  serving_outputs = {}
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta_graph = tf.compat.v1.saved_model.load(
          sess, [tf.saved_model.SERVING], path)
      info['meta_graph_tags'] = list(meta_graph.meta_info_def.tags)
      for key in sorted(meta_graph.signature_def):
        sig = meta_graph.signature_def[key]
        signatures[key] = {
            'method_name': sig.method_name,
            'inputs': {k: tensor_info_to_json(v)
                       for k, v in sorted(sig.inputs.items())},
            'outputs': {k: tensor_info_to_json(v)
                        for k, v in sorted(sig.outputs.items())},
        }
        feed = {v.name: examples for v in sig.inputs.values()}
        out_keys = sorted(sig.outputs)
        values = sess.run([sig.outputs[k].name for k in out_keys],
                          feed_dict=feed)
        serving_outputs[key] = {
            'fed_input_keys': sorted(sig.inputs),
            'outputs': {k: to_jsonable(v) for k, v in zip(out_keys, values)},
        }
  info['signatures'] = signatures
  expected['export'] = info
  expected['serving_outputs'] = serving_outputs

  dst = os.path.join(out_dir, 'export')
  shutil.copytree(path, dst)


def relocate_model_dir(model_dir, out_dir, expected):
  dst = os.path.join(out_dir, 'model_dir')
  os.makedirs(dst)
  keep = ['checkpoint']
  prefixes = tuple(c + '.' for c in expected['kept_checkpoints'])
  for name in sorted(os.listdir(model_dir)):
    if name.startswith(prefixes) and not name.endswith('.meta'):
      keep.append(name)
  for name in keep:
    shutil.copy2(os.path.join(model_dir, name), os.path.join(dst, name))
  if not expected['checkpoint_state_paths_relative']:
    # Make the copied state file point into the relocated directory.
    with open(os.path.join(dst, 'checkpoint')) as f:
      text = f.read()
    with open(os.path.join(dst, 'checkpoint'), 'w') as f:
      f.write(text.replace(model_dir + os.sep, ''))
  expected['golden_model_dir_files'] = sorted(keep)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--out', default=os.path.join(HERE, 'golden',
                                                    'custom_dnn'))
  args = parser.parse_args()
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.WARN)

  out_dir = os.path.abspath(args.out)
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)
  os.makedirs(out_dir)

  import tensorflow_estimator  # pylint: disable=g-import-not-at-top
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  expected = {
      'generator': 'third_party/tensorflow_estimator_2_15/generate.py',
      'program': 'third_party/tensorflow_estimator_2_15/programs/custom_dnn.py',
      'versions': {
          'tensorflow': tf.__version__,
          'tensorflow_estimator': metadata.version('tensorflow-estimator'),
          'tensorflow_estimator_module': tensorflow_estimator.__name__,
          'numpy': np.__version__,
          'python': sys.version.split()[0],
      },
      'run_config_kwargs': custom_dnn.RUN_CONFIG_KWARGS,
      'params': custom_dnn.PARAMS,
      'notes': NOTES,
  }

  tmp_root = tempfile.mkdtemp(prefix='golden215_')
  try:
    model_dir = os.path.join(tmp_root, 'model_dir')
    est = train_main(model_dir, expected)
    describe_checkpoint(est, model_dir, expected)
    evaluate_and_predict(est, model_dir, expected)
    hook_sequences(tmp_root, expected)
    continued_training(model_dir, tmp_root, expected)
    export(est, tmp_root, out_dir, expected)
    relocate_model_dir(model_dir, out_dir, expected)
  finally:
    shutil.rmtree(tmp_root, ignore_errors=True)

  with open(os.path.join(out_dir, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
    f.write('\n')
  print('wrote', out_dir)


if __name__ == '__main__':
  main()
