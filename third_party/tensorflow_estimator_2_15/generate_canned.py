"""Writes golden artifacts for programs/canned_cases.py with the REAL
tensorflow-estimator 2.15.0 on tensorflow-cpu 2.15.1.

Run through make_golden.sh (which provides the right virtualenv):

    bash third_party/tensorflow_estimator_2_15/make_golden.sh --canned [--cases a,b]

Output per case: golden/canned/<case>/{expected.json, model_dir/}
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The custom_dnn generator's JSON helpers are reused as-is.
from generate import metrics_to_json, tensor_info_to_json, to_jsonable, type_name  # pylint: disable=g-import-not-at-top,wrong-import-position
from programs import canned_cases  # pylint: disable=g-import-not-at-top,wrong-import-position

CONTINUE_STEPS = 10
NOTES = [
    'The model is trained for TRAIN_STEPS steps from a fresh model_dir with '
    'RUN_CONFIG_KWARGS; model_dir/ holds only its final checkpoint.',
    'eval_metrics, predictions and serving_outputs were computed from that '
    'checkpoint and are deterministic (dropout is off outside training).',
    'continued holds every variable value and the metrics after '
    'CONTINUE_STEPS more training steps on a copy of model_dir (input_fn '
    'restarts from its first batch); cases with dropout draw different masks '
    'in other implementations.',
]


def describe_variables(est, model_dir):
  reader = tf.train.load_checkpoint(model_dir)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  return {
      'variable_names': sorted(est.get_variable_names()),
      'variables': {name: {'shape': [int(d) for d in shapes[name]],
                           'dtype': dtypes[name].name}
                    for name in sorted(shapes)},
  }


def predictions(case, est):
  preds = list(est.predict(case.predict_input_fn))
  return {
      'predictions': [to_jsonable(p) for p in preds],
      'prediction_dtypes': {str(k): type_name(v) for k, v in preds[0].items()},
  }


def export(case, est, tmp_root):
  """Signatures of a parsing-receiver export and their outputs on examples."""
  path = est.export_saved_model(os.path.join(tmp_root, 'export'),
                                case.serving_input_receiver_fn)
  path = path.decode('utf-8') if isinstance(path, bytes) else path
  examples = case.serialized_examples()
  signatures, outputs = {}, {}
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta_graph = tf.compat.v1.saved_model.load(
          sess, [tf.saved_model.SERVING], path)
      for key in sorted(meta_graph.signature_def):
        sig = meta_graph.signature_def[key]
        signatures[key] = {
            'method_name': sig.method_name,
            'inputs': {k: tensor_info_to_json(v)
                       for k, v in sorted(sig.inputs.items())},
            'outputs': {k: tensor_info_to_json(v)
                        for k, v in sorted(sig.outputs.items())},
        }
        out_keys = sorted(sig.outputs)
        values = sess.run([sig.outputs[k].name for k in out_keys],
                          feed_dict={v.name: examples
                                     for v in sig.inputs.values()})
        outputs[key] = {k: to_jsonable(v) for k, v in zip(out_keys, values)}
  return {'signatures': signatures, 'serving_outputs': outputs}


def continued(case, model_dir, tmp_root):
  cont_dir = os.path.join(tmp_root, 'continued')
  shutil.copytree(model_dir, cont_dir)
  est = case.make(cont_dir)
  est.train(case.train_input_fn, steps=CONTINUE_STEPS)
  values = {name: to_jsonable(est.get_variable_value(name))
            for name in est.get_variable_names()}
  metrics, _ = metrics_to_json(est.evaluate(case.eval_input_fn))
  return {'steps': CONTINUE_STEPS,
          'global_step': int(est.get_variable_value('global_step')),
          'variable_values': values,
          'eval_metrics': metrics}


def keep_final_checkpoint(model_dir, dst):
  """Copies the state file and the .index/.data files of the last checkpoint."""
  os.makedirs(dst)
  prefix = os.path.basename(tf.train.latest_checkpoint(model_dir)) + '.'
  keep = ['checkpoint'] + sorted(
      n for n in os.listdir(model_dir)
      if n.startswith(prefix) and not n.endswith('.meta'))
  for name in keep:
    shutil.copy2(os.path.join(model_dir, name), os.path.join(dst, name))
  return keep


def generate_case(case, out_root):
  out_dir = os.path.join(out_root, case.name)
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)
  tmp_root = tempfile.mkdtemp(prefix='canned215_')
  try:
    model_dir = os.path.join(tmp_root, 'model_dir')
    est = case.make(model_dir)
    est.train(case.train_input_fn, steps=canned_cases.TRAIN_STEPS)
    expected = {'case': case.name, 'estimator': type(est).__module__ + '.' +
                type(est).__name__}
    expected.update(describe_variables(est, model_dir))
    expected['global_step'] = int(est.get_variable_value('global_step'))
    metrics, types = metrics_to_json(est.evaluate(case.eval_input_fn))
    expected['eval_metrics'] = metrics
    expected['eval_metric_types'] = types
    expected.update(predictions(case, est))
    expected.update(export(case, est, tmp_root))
    expected['continued'] = continued(case, model_dir, tmp_root)
    expected['golden_model_dir_files'] = keep_final_checkpoint(
        model_dir, os.path.join(out_dir, 'model_dir'))
  finally:
    shutil.rmtree(tmp_root, ignore_errors=True)
  with open(os.path.join(out_dir, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write('\n')
  print('wrote', out_dir, flush=True)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--out', default=os.path.join(HERE, 'golden', 'canned'))
  parser.add_argument('--cases', default='',
                      help='comma-separated case names (default: all)')
  args = parser.parse_args()
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
  names = ([n for n in args.cases.split(',') if n] or
           list(canned_cases.CASES_BY_NAME))
  out_root = os.path.abspath(args.out)
  os.makedirs(out_root, exist_ok=True)
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  with open(os.path.join(out_root, 'versions.json'), 'w') as f:
    json.dump({'tensorflow': tf.__version__,
               'tensorflow_estimator': metadata.version('tensorflow-estimator'),
               'python': sys.version.split()[0],
               'generator': 'third_party/tensorflow_estimator_2_15/'
                            'generate_canned.py',
               'run_config_kwargs': canned_cases.RUN_CONFIG_KWARGS,
               'train_steps': canned_cases.TRAIN_STEPS,
               'notes': NOTES}, f, indent=1, sort_keys=True)
    f.write('\n')
  for name in names:
    generate_case(canned_cases.CASES_BY_NAME[name], out_root)


if __name__ == '__main__':
  main()
