"""Runs a legacy program the way TF1-era code calls the Estimator.

    python tf1_mode_child.py WORLD SCENARIO WORK_DIR [ARGS...]

WORLD is `v1` (`tf.compat.v1.disable_v2_behavior()` before anything else, the
migration guide's first step), `graph` (TF2 behaviour, every call made inside
`with tf.Graph().as_default():`) or `v2` (plain TF2, the control). The
switches are process-wide, so each run is its own process. The last line
printed is a JSON object with what the scenario observed. Without
tfcompat_estimator installed (tensorflow-estimator 2.15's venv) it runs the
same program on 2.15, for the oracle tests.
"""

import json
import os
import shutil
import sys

import numpy as np

try:
  import tfcompat_estimator
  tfcompat_estimator.install()
except ImportError:  # the 2.15 reference venv runs this program too
  pass
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-order

WORLD, SCENARIO, WORK_DIR = sys.argv[1:4]
ARGS = sys.argv[4:]
if WORLD == 'v1':
  tf.compat.v1.disable_v2_behavior()
tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_ROOT = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15')
sys.path.insert(0, GOLDEN_ROOT)
from programs import canned_cases  # pylint: disable=g-import-not-at-top,wrong-import-position
from programs import custom_dnn  # pylint: disable=g-import-not-at-top,wrong-import-position


def _plain(value):
  if isinstance(value, bytes):
    return value.decode('utf-8')
  if isinstance(value, np.ndarray):
    return [_plain(v) for v in value.tolist()]
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, np.generic):
    return value.item()
  return value


def _serve(export_dir, examples):
  """{signature: {output: value}}, run by TF's v1 loader in a session."""
  outputs = {}
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta_graph = tf.compat.v1.saved_model.load(
          sess, [tf.saved_model.SERVING], export_dir)
      for key, sig in meta_graph.signature_def.items():
        keys = sorted(sig.outputs)
        values = sess.run([sig.outputs[k].name for k in keys],
                          feed_dict={v.name: examples
                                     for v in sig.inputs.values()})
        outputs[key] = dict(zip(keys, values))
  return outputs


def custom_golden():
  """2.15's custom_dnn model_dir: evaluate, predict, train on, export."""
  model_dir = os.path.join(WORK_DIR, 'model_dir')
  shutil.copytree(os.path.join(GOLDEN_ROOT, 'golden', 'custom_dnn',
                               'model_dir'), model_dir)
  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=model_dir, params=custom_dnn.PARAMS,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS))
  result = {'eval_metrics': est.evaluate(custom_dnn.eval_input_fn),
            'predictions': list(est.predict(custom_dnn.predict_input_fn))}
  export_dir = est.export_saved_model(os.path.join(WORK_DIR, 'export'),
                                      custom_dnn.serving_input_receiver_fn)
  features, _ = custom_dnn.make_data(custom_dnn.N_PREDICT,
                                     custom_dnn.PREDICT_SEED)
  result['serving'] = _serve(export_dir,
                             custom_dnn.make_serialized_examples(features))
  est.train(custom_dnn.tensor_train_input_fn, max_steps=100)
  result['global_step'] = est.get_variable_value('global_step:0')
  result['continued_eval_metrics'] = est.evaluate(custom_dnn.eval_input_fn)
  return result


def canned_golden():
  """Each named canned case on 2.15's model_dir, as test_canned_golden does."""
  result = {}
  for name in ARGS:
    case = canned_cases.CASES_BY_NAME[name]
    runs = {}
    for use in ('eval', 'continued'):
      runs[use] = os.path.join(WORK_DIR, name, use)
      shutil.copytree(os.path.join(GOLDEN_ROOT, 'golden', 'canned', name,
                                   'model_dir'), runs[use])
    with open(os.path.join(GOLDEN_ROOT, 'golden', 'canned', name,
                           'expected.json')) as f:
      steps = json.load(f)['continued']['steps']
    est = case.make(runs['eval'])
    observed = {'eval_metrics': est.evaluate(case.eval_input_fn),
                'predictions': list(est.predict(case.predict_input_fn))}
    export_dir = est.export_saved_model(os.path.join(WORK_DIR, name, 'export'),
                                        case.serving_input_receiver_fn)
    observed['serving'] = _serve(export_dir, case.serialized_examples())
    continued = case.make(runs['continued'])
    continued.train(case.train_input_fn, steps=steps)
    observed['variable_values'] = {
        n: continued.get_variable_value(n)
        for n in continued.get_variable_names()}
    result[name] = observed
  return result


def main():
  scenario = globals()[SCENARIO]
  if WORLD == 'graph':
    with tf.Graph().as_default() as graph:
      ops_before = len(graph.get_operations())
      result = scenario()
      result['caller_graph_untouched'] = (
          tf.compat.v1.get_default_graph() is graph and
          len(graph.get_operations()) == ops_before)
      result['executing_eagerly_after'] = tf.executing_eagerly()
  else:
    result = scenario()
    result['executing_eagerly_after'] = tf.executing_eagerly()
  print(json.dumps(_plain(result)))


if __name__ == '__main__':
  main()
