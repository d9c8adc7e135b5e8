"""End-to-end SavedModel export and serving checks against tensorflow-estimator 2.15.

The golden 2.15 model_dir (copied, never written in place) is exported with
our Estimator; the SavedModel must expose the signatures 2.15 wrote and serve
the same numbers 2.15 served, whether it is read by a v1 Session (what TF
Serving does), by `tf.saved_model.load`, by `saved_model_cli`, or through
TF Serving request/response protos. Facts not in expected.json (raw receiver
signatures, export-all tags and signatures) were measured on 2.15 and are
hard-coded below.
"""

import json
import os
import time
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import input_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from programs import custom_dnn
from tfcompat_estimator.runs import exporting

_v1 = tf.compat.v1
_fc = tf.compat.v1.feature_column

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, 'third_party', 'tensorflow_estimator_2_15',
                      'golden', 'custom_dnn')
with open(os.path.join(GOLDEN, 'expected.json')) as _f:
  EXPECTED = json.load(_f)

PREDICT = 'tensorflow/serving/predict'
CLASSIFY = 'tensorflow/serving/classify'
REGRESS = 'tensorflow/serving/regress'
ATOL = 1e-6


# ----------------------------------------------------------------- helpers
def _parse_saved_model(export_dir):
  export_dir = os.fsdecode(export_dir)
  sm = saved_model_pb2.SavedModel()
  pb = os.path.join(export_dir, 'saved_model.pb')
  if os.path.exists(pb):
    with open(pb, 'rb') as f:
      sm.ParseFromString(f.read())
  else:
    with open(os.path.join(export_dir, 'saved_model.pbtxt')) as f:
      text_format.Parse(f.read(), sm)
  return sm


def _tensor_info_summary(info):
  return {
      'dtype': tf.dtypes.as_dtype(info.dtype).name,
      'shape': [d.size for d in info.tensor_shape.dim],
  }


def _signature_summary(signature_defs):
  """key -> method_name, inputs/outputs (key -> dtype/shape); names dropped."""
  return {
      key: {
          'method_name': sig.method_name,
          'inputs': {k: _tensor_info_summary(v) for k, v in sig.inputs.items()},
          'outputs': {k: _tensor_info_summary(v)
                      for k, v in sig.outputs.items()},
      } for key, sig in signature_defs.items()
  }


def _expected_signature_summary():
  out = {}
  for key, sig in EXPECTED['export']['signatures'].items():
    out[key] = {
        'method_name': sig['method_name'],
        'inputs': {k: {'dtype': v['dtype'], 'shape': v['shape']}
                   for k, v in sig['inputs'].items()},
        'outputs': {k: {'dtype': v['dtype'], 'shape': v['shape']}
                    for k, v in sig['outputs'].items()},
    }
  return out


def _files_under(path):
  path = os.fsdecode(path)
  found = []
  for dirpath, _, filenames in os.walk(path):
    for name in filenames:
      found.append(os.path.relpath(os.path.join(dirpath, name), path))
  return sorted(found)


def _assert_equal_outputs(actual, expected_outputs, where):
  assert sorted(actual) == sorted(expected_outputs), where
  for key, want in expected_outputs.items():
    got = np.asarray(actual[key])
    if got.dtype.kind in 'SO':
      got = np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else b,
                         otypes=[object])(got)
      assert got.tolist() == want, (where, key)
    else:
      np.testing.assert_allclose(got, np.asarray(want), atol=ATOL, rtol=0,
                                 err_msg=f'{where}: {key}')


def _make_estimator(model_dir, model_fn=custom_dnn.model_fn, cls=None):
  cls = cls or tf.estimator.Estimator
  return cls(model_fn, model_dir=model_dir,
             config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS),
             params=custom_dnn.PARAMS)


def _predict_features():
  return custom_dnn.make_data(custom_dnn.N_PREDICT, custom_dnn.PREDICT_SEED)[0]


def _raw_features_template():
  return {'x': tf.zeros([2, 4], tf.float32), 'cat': tf.zeros([2, 1], tf.int64)}


def _copy_golden_model_dir(dst):
  shutil.copytree(os.path.join(GOLDEN, 'model_dir'), dst)
  return str(dst)


# ---------------------------------------------------- TF Serving emulation
def _serialized_examples(inp):
  """What TF Serving feeds a classify/regress signature for an `Input`."""
  kind = inp.WhichOneof('kind')
  if kind == 'example_list':
    return [ex.SerializeToString() for ex in inp.example_list.examples]
  if kind == 'example_list_with_context':
    # Serving concatenates the serialized context and example: a proto merge
    # that gives every example the context's features as well.
    ctx = inp.example_list_with_context.context.SerializeToString()
    return [ctx + ex.SerializeToString()
            for ex in inp.example_list_with_context.examples]
  raise ValueError('Input has no examples.')


def serve_request(session, meta_graph, request):
  """Runs a TF Serving request against a loaded v1 MetaGraph; returns response.

  Mirrors TF Serving's translation: a ClassificationRequest/RegressionRequest
  must target a classify/regress signature with a single string input named
  'inputs' fed the serialized Examples; a PredictRequest maps each TensorProto
  input onto the signature input of the same key.
  """
  name = request.model_spec.signature_name or 'serving_default'
  if name not in meta_graph.signature_def:
    raise ValueError(f'Serving signature name: "{name}" not found')
  sig = meta_graph.signature_def[name]

  if isinstance(request, (classification_pb2.ClassificationRequest,
                          regression_pb2.RegressionRequest)):
    is_classify = isinstance(request, classification_pb2.ClassificationRequest)
    method = CLASSIFY if is_classify else REGRESS
    if sig.method_name != method:
      raise ValueError(f'Expected {method} signature, got {sig.method_name}')
    if list(sig.inputs) != ['inputs'] or sig.inputs['inputs'].dtype != (
        tf.string.as_datatype_enum):
      raise ValueError('Expected one string input tensor named "inputs".')
    examples = _serialized_examples(request.input)
    feed = {sig.inputs['inputs'].name: examples}
    keys = sorted(sig.outputs)
    values = dict(zip(keys, session.run([sig.outputs[k].name for k in keys],
                                        feed_dict=feed)))
    if is_classify:
      response = classification_pb2.ClassificationResponse()
      scores = values.get('scores')
      classes = values.get('classes')
      for i in range(len(examples)):
        row = response.result.classifications.add()
        width = (classes if classes is not None else scores).shape[1]
        for j in range(width):
          cls = row.classes.add()
          if classes is not None:
            cls.label = classes[i, j].decode()
          if scores is not None:
            cls.score = float(scores[i, j])
    else:
      response = regression_pb2.RegressionResponse()
      outputs = np.asarray(values['outputs']).reshape(len(examples))
      for v in outputs:
        response.result.regressions.add().value = float(v)
  elif isinstance(request, predict_pb2.PredictRequest):
    if sig.method_name != PREDICT:
      raise ValueError(f'Expected {PREDICT} signature, got {sig.method_name}')
    if set(request.inputs) != set(sig.inputs):
      raise ValueError(f'Input keys {sorted(request.inputs)} do not match '
                       f'signature inputs {sorted(sig.inputs)}')
    feed = {sig.inputs[k].name: tf.make_ndarray(tp)
            for k, tp in request.inputs.items()}
    keys = sorted(request.output_filter or sig.outputs)
    values = session.run([sig.outputs[k].name for k in keys], feed_dict=feed)
    response = predict_pb2.PredictResponse()
    for k, v in zip(keys, values):
      response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
  else:
    raise TypeError(type(request).__name__)
  response.model_spec.CopyFrom(request.model_spec)
  response.model_spec.signature_name = name
  # Round-trip over the wire like a real client would see it.
  return type(response).FromString(response.SerializeToString())


def _examples_input():
  inp = input_pb2.Input()
  for s in custom_dnn.make_serialized_examples(_predict_features()):
    inp.example_list.examples.add().ParseFromString(s)
  return inp


def _examples_with_context_inputs():
  """One `Input` per 'cat' value: 'cat' in the context, 'x' per example.

  Returns (row indices, Input) pairs covering all predict examples.
  """
  feats = _predict_features()
  out = []
  for cat in range(custom_dnn.NUM_CATS):
    rows = [i for i in range(len(feats['x'])) if feats['cat'][i, 0] == cat]
    if not rows:
      continue
    inp = input_pb2.Input()
    lst = inp.example_list_with_context
    lst.context.features.feature['cat'].int64_list.value.append(cat)
    for i in rows:
      ex = lst.examples.add()
      ex.features.feature['x'].float_list.value.extend(
          float(v) for v in feats['x'][i])
    out.append((rows, inp))
  return out


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def golden_est(tmp_path_factory):
  model_dir = _copy_golden_model_dir(
      tmp_path_factory.mktemp('golden_copy') / 'model_dir')
  return _make_estimator(model_dir)


@pytest.fixture(scope='module')
def golden_export(golden_est, tmp_path_factory):
  base = tmp_path_factory.mktemp('export_base')
  path = golden_est.export_saved_model(str(base),
                                       custom_dnn.serving_input_receiver_fn)
  return path


@pytest.fixture(scope='module')
def serving_session(golden_export):
  graph = tf.Graph()
  with graph.as_default():
    sess = _v1.Session(graph=graph)
    meta_graph = _v1.saved_model.load(sess, [tf.saved_model.SERVING],
                                      os.fsdecode(golden_export))
  yield sess, meta_graph
  sess.close()


@pytest.fixture(scope='module')
def examples():
  return custom_dnn.make_serialized_examples(_predict_features())


# ------------------------------------------------- 1. signatures like 2.15
def test_export_signatures_match_2_15(golden_export):
  assert isinstance(golden_export, bytes)
  export_dir = os.fsdecode(golden_export)
  assert re.fullmatch(r'\d+', os.path.basename(export_dir))
  assert EXPECTED['export']['export_dir_basename_is_timestamp']
  assert _files_under(export_dir) == sorted(EXPECTED['export']['files'])

  ours = _parse_saved_model(export_dir)
  golden = _parse_saved_model(os.path.join(GOLDEN, 'export'))
  assert len(ours.meta_graphs) == len(golden.meta_graphs) == 1
  assert list(ours.meta_graphs[0].meta_info_def.tags) == ['serve']
  assert list(ours.meta_graphs[0].meta_info_def.tags) == (
      EXPECTED['export']['meta_graph_tags'])

  our_sigs = _signature_summary(ours.meta_graphs[0].signature_def)
  assert our_sigs == _expected_signature_summary()
  assert our_sigs == _signature_summary(golden.meta_graphs[0].signature_def)
  assert {k: v['method_name'] for k, v in our_sigs.items()} == {
      'classification': CLASSIFY, 'predict': PREDICT, 'regression': REGRESS,
      'serving_default': CLASSIFY}
  # Every signature is fed through the parsing receiver's placeholder.
  for sig in ours.meta_graphs[0].signature_def.values():
    assert [v.name for v in sig.inputs.values()] == ['input_example_tensor:0']


# ---------------------------------------------- 2. serving outputs, 3 ways
def test_serving_outputs_v1_session(serving_session, examples):
  sess, meta_graph = serving_session
  assert sorted(meta_graph.signature_def) == sorted(EXPECTED['serving_outputs'])
  for key, want in EXPECTED['serving_outputs'].items():
    sig = meta_graph.signature_def[key]
    assert sorted(sig.inputs) == want['fed_input_keys']
    feed = {v.name: examples for v in sig.inputs.values()}
    keys = sorted(sig.outputs)
    values = sess.run([sig.outputs[k].name for k in keys], feed_dict=feed)
    _assert_equal_outputs(dict(zip(keys, values)), want['outputs'],
                          f'v1 session {key}')


def test_serving_outputs_tf2_load(golden_export, examples):
  loaded = tf.saved_model.load(os.fsdecode(golden_export))
  assert sorted(loaded.signatures.keys()) == sorted(
      EXPECTED['serving_outputs'])
  for key, want in EXPECTED['serving_outputs'].items():
    fn = loaded.signatures[key]
    feed = {k: tf.constant(examples) for k in want['fed_input_keys']}
    out = {k: v.numpy() for k, v in fn(**feed).items()}
    _assert_equal_outputs(out, want['outputs'], f'tf.saved_model.load {key}')


def _saved_model_cli():
  exe = shutil.which('saved_model_cli')
  if exe:
    return [exe]
  return [sys.executable, '-m', 'tensorflow.python.tools.saved_model_cli']


def test_serving_outputs_saved_model_cli(golden_export, tmp_path):
  feats = _predict_features()
  rows = []
  for x_row, cat_row in zip(feats['x'], feats['cat']):
    xs = ','.join(repr(float(v)) for v in x_row)
    rows.append('{"x":[%s],"cat":[%d]}' % (xs, int(cat_row[0])))
  outdir = tmp_path / 'cli_out'
  cmd = _saved_model_cli() + [
      'run', '--dir', os.fsdecode(golden_export), '--tag_set', 'serve',
      '--signature_def', 'predict',
      '--input_examples', 'examples=[%s]' % ','.join(rows),
      '--outdir', str(outdir)]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=100,
                        env=env, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  want = EXPECTED['serving_outputs']['predict']['outputs']
  out = {k: np.load(outdir / f'{k}.npy') for k in want}
  _assert_equal_outputs(out, want, 'saved_model_cli predict')


def test_serving_outputs_equal_estimator_predict(golden_est):
  preds = list(golden_est.predict(custom_dnn.predict_input_fn))
  assert len(preds) == custom_dnn.N_PREDICT
  stacked = {k: np.stack([p[k] for p in preds]) for k in preds[0]}
  _assert_equal_outputs(stacked,
                        EXPECTED['serving_outputs']['predict']['outputs'],
                        'est.predict vs 2.15 serving')
  for got, want in zip(preds, EXPECTED['predictions']):
    _assert_equal_outputs(got, want, 'est.predict vs 2.15 predict')
  # The regression/classification signatures are functions of probability.
  prob = stacked['probability'][:, 0]
  np.testing.assert_allclose(
      prob, EXPECTED['serving_outputs']['regression']['outputs']['outputs'],
      atol=ATOL, rtol=0)


# ----------------------------------------------- 3. TF Serving requests
@pytest.mark.parametrize('signature_name', ['serving_default', 'classification',
                                            ''])
def test_tf_serving_classify(serving_session, signature_name):
  sess, meta_graph = serving_session
  request = classification_pb2.ClassificationRequest()
  request.model_spec.name = 'custom_dnn'
  request.model_spec.signature_name = signature_name
  request.input.CopyFrom(_examples_input())
  response = serve_request(sess, meta_graph, request)
  want = EXPECTED['serving_outputs'][signature_name or 'serving_default']
  want = want['outputs']
  assert response.model_spec.name == 'custom_dnn'
  assert response.model_spec.signature_name == (signature_name or
                                                'serving_default')
  rows = response.result.classifications
  assert len(rows) == custom_dnn.N_PREDICT
  assert [[c.label for c in r.classes] for r in rows] == want['classes']
  np.testing.assert_allclose([[c.score for c in r.classes] for r in rows],
                             want['scores'], atol=ATOL, rtol=0)


def test_tf_serving_classify_with_context(serving_session):
  sess, meta_graph = serving_session
  want = np.asarray(
      EXPECTED['serving_outputs']['classification']['outputs']['scores'])
  groups = _examples_with_context_inputs()
  assert len(groups) > 1
  covered = []
  for rows, inp in groups:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.signature_name = 'classification'
    request.input.CopyFrom(inp)
    response = serve_request(sess, meta_graph, request)
    np.testing.assert_allclose(
        [[c.score for c in r.classes] for r in response.result.classifications],
        want[rows], atol=ATOL, rtol=0)
    covered += rows
  assert sorted(covered) == list(range(custom_dnn.N_PREDICT))


def test_tf_serving_regress(serving_session):
  sess, meta_graph = serving_session
  request = regression_pb2.RegressionRequest()
  request.model_spec.name = 'custom_dnn'
  request.model_spec.signature_name = 'regression'
  request.input.CopyFrom(_examples_input())
  response = serve_request(sess, meta_graph, request)
  want = EXPECTED['serving_outputs']['regression']['outputs']['outputs']
  np.testing.assert_allclose([r.value for r in response.result.regressions],
                             want, atol=ATOL, rtol=0)


def test_tf_serving_predict(serving_session, examples):
  sess, meta_graph = serving_session
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'custom_dnn'
  request.model_spec.signature_name = 'predict'
  request.inputs['examples'].CopyFrom(
      tf.make_tensor_proto(examples, dtype=tf.string))
  response = serve_request(sess, meta_graph, request)
  want = EXPECTED['serving_outputs']['predict']['outputs']
  out = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
  _assert_equal_outputs(out, want, 'PredictResponse')
  assert out['class_id'].dtype == np.int64

  # output_filter restricts the fetched outputs, as in TF Serving.
  request.output_filter.append('logits')
  response = serve_request(sess, meta_graph, request)
  assert list(response.outputs) == ['logits']
  np.testing.assert_allclose(tf.make_ndarray(response.outputs['logits']),
                             want['logits'], atol=ATOL, rtol=0)


def test_tf_serving_rejects_wrong_method(serving_session):
  sess, meta_graph = serving_session
  request = classification_pb2.ClassificationRequest()
  request.model_spec.signature_name = 'predict'
  request.input.CopyFrom(_examples_input())
  with pytest.raises(ValueError, match='classify'):
    serve_request(sess, meta_graph, request)
  request = regression_pb2.RegressionRequest()
  request.model_spec.signature_name = 'classification'
  request.input.CopyFrom(_examples_input())
  with pytest.raises(ValueError, match='regress'):
    serve_request(sess, meta_graph, request)


# ---------------------------------------------------- 4. export features
def test_assets_extra_copied(golden_est, tmp_path):
  top = tmp_path / 'top.txt'
  top.write_text('top level')
  deep = tmp_path / 'deep.bin'
  deep.write_bytes(b'\x00\x01nested')
  base = tmp_path / 'base'
  path = os.fsdecode(golden_est.export_saved_model(
      str(base), custom_dnn.serving_input_receiver_fn,
      assets_extra={'top.txt': str(top), 'nested/dir/deep.bin': str(deep)}))
  extra = os.path.join(path, 'assets.extra')
  with open(os.path.join(extra, 'top.txt')) as f:
    assert f.read() == 'top level'
  with open(os.path.join(extra, 'nested', 'dir', 'deep.bin'), 'rb') as f:
    assert f.read() == b'\x00\x01nested'
  assert sorted(_files_under(extra)) == ['nested/dir/deep.bin', 'top.txt']
  assert os.listdir(base) == [os.path.basename(path)]


def test_export_versions_always_increase(golden_est, tmp_path):
  # A version freed by an exporter's clean-up (or one ahead of the clock)
  # must never be reused: TF Serving serves the highest number.
  base = tmp_path / 'base'
  ahead = int(time.time()) + 100
  (base / str(ahead)).mkdir(parents=True)
  (base / 'temp-leftover').mkdir()
  versions = [int(os.path.basename(os.fsdecode(golden_est.export_saved_model(
      str(base), custom_dnn.serving_input_receiver_fn)))) for _ in range(2)]
  assert versions == [ahead + 1, ahead + 2]


def test_empty_export_dir_base_is_the_working_directory(golden_est, tmp_path,
                                                        monkeypatch):
  # tensorflow/tpu's resnet_main.py exports to FLAGS.export_dir whenever it
  # is not None: `--export_dir=` exported into the working directory on 2.15.
  monkeypatch.chdir(tmp_path)
  ahead = int(time.time()) + 100
  (tmp_path / str(ahead)).mkdir()
  path = golden_est.export_saved_model('', custom_dnn.serving_input_receiver_fn)
  assert path == str(ahead + 1).encode()
  assert (tmp_path / str(ahead + 1) / 'saved_model.pb').exists()


@pytest.mark.parametrize('kind', ['parent', 'absolute', 'escaping'])
def test_assets_extra_bad_destination(golden_est, tmp_path, kind):
  src = tmp_path / 'src.txt'
  src.write_text('payload')
  # The absolute destination lives under tmp_path so that an engine that
  # failed to reject it could not write outside the test's sandbox.
  dest = {'parent': '../x',
          'absolute': str(tmp_path / 'abs' / 'x'),
          'escaping': 'a/../../x'}[kind]
  base = tmp_path / 'sandbox' / 'base'
  with pytest.raises(ValueError, match=re.escape(dest)):
    golden_est.export_saved_model(str(base),
                                  custom_dnn.serving_input_receiver_fn,
                                  assets_extra={dest: str(src)})
  assert not base.exists() or os.listdir(base) == []
  assert not (tmp_path / 'abs').exists()
  assert sorted(os.listdir(tmp_path)) == (['sandbox', 'src.txt']
                                          if (tmp_path / 'sandbox').exists()
                                          else ['src.txt'])
  if (tmp_path / 'sandbox').exists():
    assert _files_under(tmp_path / 'sandbox') == []


def test_as_text_writes_pbtxt(golden_est, tmp_path, examples):
  path = os.fsdecode(golden_est.export_saved_model(
      str(tmp_path / 'base'), custom_dnn.serving_input_receiver_fn,
      as_text=True))
  names = os.listdir(path)
  assert 'saved_model.pbtxt' in names and 'saved_model.pb' not in names
  sm = _parse_saved_model(path)
  assert _signature_summary(sm.meta_graphs[0].signature_def) == (
      _expected_signature_summary())
  loaded = tf.saved_model.load(path)
  out = loaded.signatures['regression'](inputs=tf.constant(examples))
  np.testing.assert_allclose(
      out['outputs'].numpy(),
      EXPECTED['serving_outputs']['regression']['outputs']['outputs'],
      atol=ATOL, rtol=0)


def test_exports_in_same_second_get_distinct_dirs(golden_est, tmp_path,
                                                  monkeypatch):
  monkeypatch.setattr(exporting.time, 'time', lambda: 1700000000.25)
  base = tmp_path / 'base'
  first = golden_est.export_saved_model(str(base),
                                        custom_dnn.serving_input_receiver_fn)
  second = golden_est.export_saved_model(str(base),
                                         custom_dnn.serving_input_receiver_fn)
  assert isinstance(first, bytes) and isinstance(second, bytes)
  assert first != second
  names = sorted(os.listdir(base))
  assert names == sorted([os.path.basename(os.fsdecode(first)),
                          os.path.basename(os.fsdecode(second))])
  for name in names:  # timestamped dirs only, no temp dirs left behind
    assert re.fullmatch(r'\d+', name), names
    assert int(name) >= 1700000000
    assert os.path.exists(os.path.join(base, name, 'saved_model.pb'))


def test_no_temp_dirs_left_after_failure(golden_est, tmp_path):
  base = tmp_path / 'base'

  def broken_receiver_fn():
    receiver = custom_dnn.serving_input_receiver_fn()
    raise RuntimeError('receiver exploded')
    return receiver  # pylint: disable=unreachable

  with pytest.raises(RuntimeError, match='receiver exploded'):
    golden_est.export_saved_model(str(base), broken_receiver_fn)
  assert not base.exists() or os.listdir(base) == []
  ok = golden_est.export_saved_model(str(base),
                                     custom_dnn.serving_input_receiver_fn)
  assert os.listdir(base) == [os.path.basename(os.fsdecode(ok))]


def test_checkpoint_path_selects_checkpoint(golden_est, tmp_path):
  ckpt20 = os.path.join(golden_est.model_dir, 'model.ckpt-20')
  path = os.fsdecode(golden_est.export_saved_model(
      str(tmp_path / 'base'), custom_dnn.serving_input_receiver_fn,
      checkpoint_path=ckpt20))
  variables = os.path.join(path, 'variables', 'variables')
  for name in ('custom_dnn/hidden/kernel', 'custom_dnn/logits/bias'):
    np.testing.assert_array_equal(tf.train.load_variable(variables, name),
                                  tf.train.load_variable(ckpt20, name))
  assert tf.train.load_variable(variables, 'global_step') == 20


def test_missing_checkpoint_raises(tmp_path):
  est = _make_estimator(str(tmp_path / 'empty_model_dir'))
  base = tmp_path / 'base'
  # 2.15's words, measured (its predict() says "Could not find ...").
  with pytest.raises(ValueError, match="^Couldn't find trained model at "):
    est.export_saved_model(str(base), custom_dnn.serving_input_receiver_fn)
  assert not base.exists()


def test_changed_model_is_refused_before_exporting_wrong_variables(golden_est, tmp_path):
  # A v1 Saver assigns a resource variable whatever shape the checkpoint
  # holds; 2.15 exported such a model, which then served wrong answers.
  est = tf.estimator.Estimator(
      custom_dnn.model_fn, model_dir=golden_est.model_dir,
      config=tf.estimator.RunConfig(**custom_dnn.RUN_CONFIG_KWARGS),
      params=dict(custom_dnn.PARAMS, emb_dim=custom_dnn.PARAMS['emb_dim'] + 1))
  base = tmp_path / 'base'
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"^Restoring from checkpoint failed.*mismatch.*'custom_dnn/"):
    est.export_saved_model(str(base), custom_dnn.serving_input_receiver_fn)
  assert not base.exists() or os.listdir(base) == []


def test_variable_made_only_for_serving_is_2_15s_value_error(golden_est, tmp_path):
  def model_fn(features, labels, mode, params):
    if mode == tf.estimator.ModeKeys.PREDICT:
      tf.compat.v1.get_variable('only_in_predict', [1])
    return custom_dnn.model_fn(features, labels, mode, params)

  est = _make_estimator(golden_est.model_dir, model_fn=model_fn)
  # 2.15's message opening, which its own test matches; the lacking
  # variables are named instead of its full traceback.
  with pytest.raises(ValueError, match=r"^Could not load all requested variables"
                     r"[\w\W]*mode `infer`.*lacks \['only_in_predict'\]\.$"):
    est.export_saved_model(str(tmp_path / 'base'), custom_dnn.serving_input_receiver_fn)


def test_none_receiver_fn_raises(golden_est, tmp_path):
  base = tmp_path / 'base'
  with pytest.raises(ValueError):
    golden_est.export_saved_model(str(base), None)
  assert not base.exists() or os.listdir(base) == []


# ------------------------------ 5. raw / tensor receivers and vocab assets
def test_raw_receiver_exports_predict_signatures_only(golden_est, tmp_path):
  fn = tf.estimator.export.build_raw_serving_input_receiver_fn(
      _raw_features_template())
  path = os.fsdecode(golden_est.export_saved_model(str(tmp_path / 'b'), fn))
  sm = _parse_saved_model(path)
  sigs = _signature_summary(sm.meta_graphs[0].signature_def)
  # 2.15: classify/regress outputs need one string input and are dropped.
  assert {k: v['method_name'] for k, v in sigs.items()} == {'predict': PREDICT}
  assert sigs['predict']['inputs'] == {
      'x': {'dtype': 'float32', 'shape': [-1, 4]},
      'cat': {'dtype': 'int64', 'shape': [-1, 1]}}
  assert sigs['predict']['outputs'] == (
      _expected_signature_summary()['predict']['outputs'])
  feats = _predict_features()
  out = tf.saved_model.load(path).signatures['predict'](
      x=tf.constant(feats['x']), cat=tf.constant(feats['cat']))
  _assert_equal_outputs({k: v.numpy() for k, v in out.items()},
                        EXPECTED['serving_outputs']['predict']['outputs'],
                        'raw receiver')


def _packed_model_fn(features, labels, mode, params):
  """custom_dnn fed one bare [batch, 5] tensor: x (4 cols) then cat."""
  return custom_dnn.model_fn(
      {'x': features[:, :4], 'cat': tf.cast(features[:, 4:5], tf.int64)},
      labels, mode, params)


def test_tensor_serving_input_receiver(tmp_path):
  est = _make_estimator(_copy_golden_model_dir(tmp_path / 'md'),
                        model_fn=_packed_model_fn)

  def receiver_fn():
    packed = _v1.placeholder(tf.float32, [None, 5], name='packed')
    return tf.estimator.export.TensorServingInputReceiver(packed,
                                                          {'packed': packed})

  path = os.fsdecode(est.export_saved_model(str(tmp_path / 'b'), receiver_fn))
  sm = _parse_saved_model(path)
  sigs = sm.meta_graphs[0].signature_def
  assert {k: v.method_name for k, v in sigs.items()} == {'predict': PREDICT}
  assert sigs['predict'].inputs['packed'].name == 'packed:0'
  feats = _predict_features()
  packed = np.concatenate([feats['x'], feats['cat'].astype(np.float32)], 1)
  out = tf.saved_model.load(path).signatures['predict'](
      packed=tf.constant(packed))
  _assert_equal_outputs({k: v.numpy() for k, v in out.items()},
                        EXPECTED['serving_outputs']['predict']['outputs'],
                        'TensorServingInputReceiver')


_VOCAB = ['apple', 'banana', 'cherry']
_EMB_INIT = [[1., 2.], [3., 4.], [5., 6.], [7., 8.]]


def _vocab_model_fn(features, labels, mode, params):
  col = _fc.categorical_column_with_vocabulary_file(
      'word', params['vocab'], vocabulary_size=len(_VOCAB), num_oov_buckets=1)
  onehot = _fc.input_layer(features, [_fc.indicator_column(col)])
  emb = _fc.input_layer(features, [_fc.embedding_column(
      col, 2, initializer=_v1.constant_initializer(_EMB_INIT))])
  logit = _v1.layers.dense(emb, 1, name='out',
                           kernel_initializer=_v1.ones_initializer())
  preds = {'onehot': onehot, 'emb': emb, 'logit': logit}
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=preds,
        export_outputs={'serving_default':
                            tf.estimator.export.PredictOutput(preds)})
  loss = tf.reduce_mean(tf.square(logit - labels))
  train_op = _v1.train.GradientDescentOptimizer(0.01).minimize(
      loss, global_step=_v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_vocabulary_file_exported_as_asset(tmp_path):
  src_dir = tmp_path / 'src'
  src_dir.mkdir()
  vocab = src_dir / 'words.txt'
  vocab.write_text('\n'.join(_VOCAB) + '\n')
  model_dir = tmp_path / 'model_dir'
  est = tf.estimator.Estimator(_vocab_model_fn, model_dir=str(model_dir),
                               params={'vocab': str(vocab)})
  train_words = np.array([['apple'], ['banana'], ['cherry'], ['durian']])

  def train_input_fn():
    return tf.data.Dataset.from_tensor_slices(
        ({'word': train_words}, np.ones((4, 1), np.float32))).repeat().batch(4)

  est.train(train_input_fn, steps=3)
  queries = np.array([['cherry'], ['zzz'], ['apple'], ['banana'], ['apple']])
  preds = list(est.predict(lambda: tf.data.Dataset.from_tensor_slices(
      {'word': queries}).batch(5)))
  want = {k: np.stack([p[k] for p in preds]) for k in preds[0]}
  want_ids = [2, 3, 0, 1, 0]  # 'zzz' is out of vocabulary -> OOV bucket 3
  np.testing.assert_array_equal(want['onehot'], np.eye(4)[want_ids])

  def receiver_fn():
    word = _v1.placeholder(tf.string, [None, 1], name='word')
    return tf.estimator.export.ServingInputReceiver({'word': word},
                                                    {'word': word})

  path = os.fsdecode(est.export_saved_model(str(tmp_path / 'base'),
                                            receiver_fn))
  assets = os.path.join(path, 'assets')
  assert os.listdir(assets) == ['words.txt']
  with open(os.path.join(assets, 'words.txt')) as f:
    assert f.read().split() == _VOCAB

  # Move the export, delete the model_dir and the original vocabulary.
  moved = tmp_path / 'moved' / 'model'
  shutil.move(path, moved)
  shutil.rmtree(model_dir)
  shutil.rmtree(src_dir)

  out = tf.saved_model.load(str(moved)).signatures['serving_default'](
      word=tf.constant(queries))
  np.testing.assert_array_equal(out['onehot'].numpy(), np.eye(4)[want_ids])
  for k in ('emb', 'logit'):
    np.testing.assert_allclose(out[k].numpy(), want[k], atol=ATOL, rtol=0)
  # Embeddings were trained, so they are not the initial table any more.
  assert not np.allclose(out['emb'].numpy(), np.asarray(_EMB_INIT)[want_ids])

  graph = tf.Graph()
  with graph.as_default(), _v1.Session(graph=graph) as sess:
    meta_graph = _v1.saved_model.load(sess, ['serve'], str(moved))
    sig = meta_graph.signature_def['serving_default']
    onehot = sess.run(sig.outputs['onehot'].name,
                      feed_dict={sig.inputs['word'].name: queries})
  np.testing.assert_array_equal(onehot, np.eye(4)[want_ids])


# ------------------------------------------- 6. export-all and legacy alias
def test_export_savedmodel_legacy_alias(tmp_path, examples):
  est = _make_estimator(_copy_golden_model_dir(tmp_path / 'md'),
                        cls=tf.compat.v1.estimator.Estimator)
  path = est.export_savedmodel(str(tmp_path / 'base'),
                               custom_dnn.serving_input_receiver_fn)
  assert isinstance(path, bytes)
  sm = _parse_saved_model(path)
  assert [list(mg.meta_info_def.tags) for mg in sm.meta_graphs] == [['serve']]
  assert _signature_summary(sm.meta_graphs[0].signature_def) == (
      _expected_signature_summary())
  loaded = tf.saved_model.load(os.fsdecode(path))
  out = loaded.signatures['serving_default'](inputs=tf.constant(examples))
  _assert_equal_outputs(
      {k: v.numpy() for k, v in out.items()},
      EXPECTED['serving_outputs']['serving_default']['outputs'],
      'export_savedmodel')


_EXPORT_ALL_SIGNATURES = {  # measured on tensorflow-estimator 2.15
    ('train',): {
        'train': ('tensorflow/supervised/training', ['cat', 'label', 'x'],
                  ['loss', 'predictions/class_id', 'predictions/logits',
                   'predictions/probability'])},
    ('eval',): {
        'eval': ('tensorflow/supervised/eval', ['cat', 'label', 'x'],
                 ['loss', 'metrics/accuracy/update_op',
                  'metrics/accuracy/value', 'metrics/auc/update_op',
                  'metrics/auc/value', 'metrics/mean_probability/update_op',
                  'metrics/mean_probability/value', 'predictions/class_id',
                  'predictions/logits', 'predictions/probability'])},
    ('serve',): {
        'classification': (CLASSIFY, ['inputs'], ['classes', 'scores']),
        'predict': (PREDICT, ['examples'],
                    ['class_id', 'logits', 'probability']),
        'regression': (REGRESS, ['inputs'], ['outputs']),
        'serving_default': (CLASSIFY, ['inputs'], ['classes', 'scores'])},
}


def test_experimental_export_all_saved_models(golden_est, tmp_path, examples):
  modes = tf.estimator.ModeKeys
  supervised = tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
      _raw_features_template(), tf.zeros([2, 1], tf.int32))
  path = golden_est.experimental_export_all_saved_models(
      str(tmp_path / 'base'), {
          modes.TRAIN: supervised,
          modes.EVAL: supervised,
          modes.PREDICT: custom_dnn.serving_input_receiver_fn,
      })
  assert isinstance(path, bytes)
  path = os.fsdecode(path)
  sm = _parse_saved_model(path)
  got = {}
  for mg in sm.meta_graphs:
    got[tuple(mg.meta_info_def.tags)] = {
        k: (s.method_name, sorted(s.inputs), sorted(s.outputs))
        for k, s in mg.signature_def.items()}
  assert got == _EXPORT_ALL_SIGNATURES
  # As in 2.15, the TRAIN MetaGraph records its train op for re-training.
  train_mg = [mg for mg in sm.meta_graphs
              if list(mg.meta_info_def.tags) == ['train']][0]
  assert 'saved_model_train_op' in train_mg.collection_def
  # One set of variables shared by all three MetaGraphs (incl. slots).
  assert sorted(os.listdir(os.path.join(path, 'variables'))) == [
      'variables.data-00000-of-00001', 'variables.index']
  names = [n for n, _ in tf.train.list_variables(
      os.path.join(path, 'variables', 'variables'))]
  assert names == EXPECTED['variable_names']
  for tags in (['train'], ['eval']):
    graph = tf.Graph()
    with graph.as_default(), _v1.Session(graph=graph) as sess:
      _v1.saved_model.load(sess, tags, path)
      assert sess.run(_v1.train.get_global_step(graph)) == 60
  loaded = tf.saved_model.load(path, tags=['serve'])
  out = loaded.signatures['predict'](examples=tf.constant(examples))
  _assert_equal_outputs({k: v.numpy() for k, v in out.items()},
                        EXPECTED['serving_outputs']['predict']['outputs'],
                        'export_all serve')


def _eval_spec_with_a_train_op(features, labels, mode):
  weight = _v1.get_variable('w', [], initializer=_v1.ones_initializer())
  predictions = features['x'] * weight
  # TFMA's example trainers return their train_op in every mode.
  train_op = _v1.assign_add(_v1.train.get_or_create_global_step(), 1)
  return tf.estimator.EstimatorSpec(
      mode, predictions={'p': predictions}, train_op=train_op,
      loss=tf.reduce_mean(tf.square(predictions - labels)),
      eval_metric_ops={'mean': _v1.metrics.mean(predictions)})


def test_export_all_skips_modes_without_a_receiver_fn(tmp_path):
  # TFMA's export_eval_savedmodel maps PREDICT to its optional serving
  # receiver fn, None by default; 2.15 exported the other modes.
  est = tf.estimator.Estimator(_eval_spec_with_a_train_op, str(tmp_path / 'm'))
  est.train(lambda: ({'x': tf.ones([2, 1])}, tf.ones([2, 1])), steps=1)
  receiver_fn = tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
      {'x': tf.zeros([2, 1])}, tf.zeros([2, 1]))
  path = est.experimental_export_all_saved_models(
      str(tmp_path / 'base'), {tf.estimator.ModeKeys.EVAL: receiver_fn,
                               tf.estimator.ModeKeys.PREDICT: None})
  meta_graphs = _parse_saved_model(os.fsdecode(path)).meta_graphs
  assert [list(mg.meta_info_def.tags) for mg in meta_graphs] == [['eval']]
  # As 2.15's builder did in every mode: the spec's train op is recorded.
  train_ops = meta_graphs[0].collection_def['saved_model_train_op']
  assert [name.split('/')[-1] for name in train_ops.node_list.value] == [
      'AssignAddVariableOp']


def test_the_main_op_initializes_the_model_fns_local_resources(tmp_path):
  """A model_fn's `register_resource(..., is_shared=False)` (the TF1 way
  of contrib's stateful ops) is initialized when the export is loaded, as
  2.15's main op (Scaffold.default_local_init_op) did: before, loading
  served FailedPreconditionError (found by a helper, lambdaji/tf_repos)."""
  from tensorflow.python.ops import resources  # pylint: disable=g-import-not-at-top

  def model_fn(features, labels, mode):
    w = _v1.get_variable('w', [1], initializer=_v1.constant_initializer(2.0))
    local = _v1.Variable([10.0], use_resource=True, collections=[],
                         name='local_res')
    resources.register_resource(local.handle, local.initializer,
                                local.is_initialized(), is_shared=False)
    pred = features['x'] * w + local.read_value()
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.estimator.EstimatorSpec(mode, predictions={'y': pred})
    loss = tf.reduce_mean(tf.square(pred - labels))
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=_v1.assign_add(
            _v1.train.get_global_step(), 1))

  est = tf.estimator.Estimator(model_fn, str(tmp_path))
  est.train(lambda: tf.data.Dataset.from_tensors(
      ({'x': [[1.0]]}, [[12.0]])), steps=1)
  export = est.export_saved_model(
      str(tmp_path / 'export'),
      tf.estimator.export.build_raw_serving_input_receiver_fn(
          {'x': tf.zeros([1, 1])})).decode()
  with tf.Graph().as_default(), _v1.Session() as session:
    signature = _v1.saved_model.load(
        session, ['serve'], export).signature_def['serving_default']
    served = session.run(signature.outputs['y'].name,
                         {signature.inputs['x'].name: [[1.5]]})
  np.testing.assert_array_equal(served, [[13.0]])
