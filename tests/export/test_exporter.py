"""Exporters: which evaluations export, which exports survive, bad arguments."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfcompat_estimator import exporter as exporter_lib
from tfcompat_estimator.io import summaries

X = np.linspace(-1., 1., 8, dtype=np.float32).reshape(-1, 1)


def _model_fn(features, labels, mode):
  w = tf.compat.v1.get_variable('w', [1, 1], initializer=tf.zeros_initializer())
  pred = tf.matmul(features['x'], w)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={'y': pred})
  loss = tf.compat.v1.losses.mean_squared_error(labels, pred)
  train_op = tf.compat.v1.train.GradientDescentOptimizer(0.2).minimize(
      loss, global_step=tf.compat.v1.train.get_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _input_fn(slope=3.):
  return lambda: tf.data.Dataset.from_tensors(({'x': X}, slope * X)).repeat()


def _receiver_fn():
  x = tf.compat.v1.placeholder(tf.float32, [None, 1], name='x')
  return tf.estimator.export.ServingInputReceiver({'x': x}, {'x': x})


@pytest.fixture(scope='module')
def trained_dir(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
  tf.estimator.Estimator(_model_fn, model_dir=model_dir).train(
      _input_fn(), steps=2)
  return model_dir


@pytest.fixture
def est(trained_dir, tmp_path):
  """A fresh Estimator on a private copy of the trained model_dir."""
  model_dir = str(tmp_path / 'model')
  shutil.copytree(trained_dir, model_dir)
  return tf.estimator.Estimator(_model_fn, model_dir=model_dir)


def _export(exporter, est, path, eval_result=None, final=False):
  result = exporter.export(est, str(path), est.latest_checkpoint(),
                           eval_result or {}, final)
  return None if result is None else os.path.basename(tf.compat.as_str(result))


def _listing(path):
  return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _loss(value, step=2):
  return {'loss': np.float32(value), 'global_step': step}


# ------------------------------------------------------------ LatestExporter
def test_latest_keeps_newest_and_spares_other_entries(est, tmp_path):
  path = tmp_path / 'export' / 'latest'
  for name in ('1000000000', 'temp-1234', 'notes', '123'):
    (path / name).mkdir(parents=True)
  (path / '2000000000').write_text('a file, not an export')
  exporter = tf.estimator.LatestExporter('latest', _receiver_fn,
                                         exports_to_keep=2)
  made = [_export(exporter, est, path) for _ in range(3)]

  assert len(set(made)) == 3 and all(m.isdigit() for m in made)
  assert _listing(path) == sorted(
      made[1:] + ['123', '2000000000', 'notes', 'temp-1234'])


def test_latest_export_serves(est, tmp_path):
  path = tmp_path / 'latest'
  exporter = tf.estimator.LatestExporter('latest', _receiver_fn)
  loaded = tf.saved_model.load(str(path / _export(exporter, est, path)))
  x = np.array([[2.], [-1.]], np.float32)
  got = loaded.signatures['serving_default'](x=tf.constant(x))['y']
  np.testing.assert_allclose(got, x @ est.get_variable_value('w'), rtol=1e-6)


def test_latest_none_keeps_everything_and_passes_export_options(est, tmp_path):
  asset = tmp_path / 'vocab.txt'
  asset.write_text('a\nb\n')
  path = tmp_path / 'latest'
  exporter = tf.estimator.LatestExporter(
      'latest', _receiver_fn, assets_extra={'sub/vocab.txt': str(asset)},
      as_text=True, exports_to_keep=None)
  made = [_export(exporter, est, path) for _ in range(3)]

  assert _listing(path) == sorted(made)
  newest = path / made[-1]
  assert (newest / 'saved_model.pbtxt').exists()
  assert (newest / 'assets.extra' / 'sub' / 'vocab.txt').read_text() == 'a\nb\n'


# -------------------------------------------------------------- BestExporter
def test_best_exports_only_on_improvement(est, tmp_path):
  path = tmp_path / 'best'
  exporter = tf.estimator.BestExporter('best', _receiver_fn,
                                       event_file_pattern=None,
                                       exports_to_keep=2)
  decisions = [_export(exporter, est, path, _loss(v)) is not None
               for v in (1.0, 1.5, 0.9, 0.9, 0.5, 0.7)]

  assert decisions == [True, False, True, False, True, False]
  assert len(_listing(path)) == 2


def test_best_resumes_from_eval_event_files(est, tmp_path, caplog):
  path = tmp_path / 'best'
  good = est.evaluate(_input_fn(), steps=1)
  worse = est.evaluate(_input_fn(-3.), steps=1)  # same step, higher loss
  assert worse['loss'] > good['loss']

  # The earlier run's export of the best result is on disk.
  earlier = tf.estimator.BestExporter('best', _receiver_fn,
                                      event_file_pattern=None)
  assert _export(earlier, est, path, good) is not None
  restarted = tf.estimator.BestExporter('best', _receiver_fn)
  with caplog.at_level('INFO', logger='tensorflow'):
    assert _export(restarted, est, path, worse) is None
  # 2.15's line, which job logs are searched for.
  assert 'Loading best metric from event files.' in [
      record.getMessage() for record in caplog.records]
  assert len(_listing(path)) == 1
  assert _export(restarted, est, path, _loss(good['loss'] * 1.01)) is None
  assert _export(restarted, est, path, _loss(good['loss'] * 0.5)) is not None


def test_best_exports_on_resuming_when_none_of_its_exports_is_on_disk(
    est, tmp_path):
  # 2.15 exported on a restarted exporter's first call; programs look for an
  # export afterwards (BLEURT's fine-tuning asserts it finds one, continued
  # in a model_dir copied without export/).
  path = tmp_path / 'best'
  good = est.evaluate(_input_fn(), steps=1)
  worse = est.evaluate(_input_fn(-3.), steps=1)
  assert worse['loss'] > good['loss']

  restarted = tf.estimator.BestExporter('best', _receiver_fn)
  assert _export(restarted, est, path, worse) is not None
  assert len(_listing(path)) == 1
  assert _export(restarted, est, path, worse) is None  # no better in-run


def test_best_exports_the_evaluation_already_on_file(est, tmp_path):
  """train_and_evaluate evaluates (writing events) before it exports."""
  path = tmp_path / 'best'
  est.evaluate(_input_fn(-3.), steps=1)
  est.train(_input_fn(), steps=3)
  result = est.evaluate(_input_fn(), steps=1)

  exporter = tf.estimator.BestExporter('best', _receiver_fn)
  assert _export(exporter, est, path, result) is not None
  assert _export(exporter, est, path, result) is None  # a tie in-run is not


def test_best_custom_compare_fn(est, tmp_path):
  def higher_accuracy(current_eval_result, best_eval_result):
    return current_eval_result['accuracy'] > best_eval_result['accuracy']

  exporter = tf.estimator.BestExporter('best', _receiver_fn,
                                       compare_fn=higher_accuracy,
                                       event_file_pattern=None)
  decisions = [
      _export(exporter, est, tmp_path, {'accuracy': a}) is not None
      for a in (0.5, 0.4, 0.6, 0.6)]
  assert decisions == [True, False, True, False]


def test_best_default_compare_needs_loss(est, tmp_path):
  exporter = tf.estimator.BestExporter('best', _receiver_fn,
                                       event_file_pattern=None)
  _export(exporter, est, tmp_path, _loss(1.0))
  with pytest.raises(ValueError, match="current_eval_result has no 'loss'"):
    _export(exporter, est, tmp_path, {'accuracy': 1.0})


def test_best_names_event_without_loss(est, tmp_path):
  writer = summaries.EventWriter(os.path.join(est.model_dir, 'eval'))
  writer.write_dict({'loss': 1.0}, step=1)
  writer.write_dict({'accuracy': 0.5}, step=7)
  writer.close()
  exporter = tf.estimator.BestExporter('best', _receiver_fn)
  with pytest.raises(ValueError, match=r"no 'loss'.*step 7 in .*tfevents"):
    _export(exporter, est, tmp_path / 'best', _loss(0.5))


def test_best_reads_events_before_a_truncated_record(est, tmp_path):
  writer = summaries.EventWriter(os.path.join(est.model_dir, 'eval'))
  writer.write_dict({'loss': 0.25}, step=1)
  writer.close()
  (event_file,) = tf.io.gfile.glob(
      os.path.join(est.model_dir, 'eval', '*.tfevents.*'))
  with open(event_file, 'ab') as f:
    f.write(b'\x40\x00\x00\x00\x00\x00\x00\x00partial')  # a cut-off record

  # The earlier run's export of that evaluation is on disk.
  assert _export(tf.estimator.BestExporter('best', _receiver_fn,
                                           event_file_pattern=None),
                 est, tmp_path / 'best', _loss(0.25)) is not None
  exporter = tf.estimator.BestExporter('best', _receiver_fn)
  assert _export(exporter, est, tmp_path / 'best', _loss(0.3)) is None
  assert _export(exporter, est, tmp_path / 'best', _loss(0.2)) is not None


def _compare_positional(a, b):
  return a > b


def _compare_best_only(best_eval_result):
  return best_eval_result


def _compare_extra(best_eval_result, current_eval_result, margin=0.):
  return best_eval_result > current_eval_result + margin


@pytest.mark.parametrize('compare_fn, message', [
    (None, 'must not be None'),
    ('loss', 'must be callable'),
    (_compare_positional, "must take a 'best_eval_result' argument"),
    (_compare_best_only, "must take a 'current_eval_result' argument"),
    (_compare_extra, r"unexpected arguments \['margin'\]"),
])
def test_best_rejects_bad_compare_fn(compare_fn, message):
  with pytest.raises(ValueError, match=message):
    tf.estimator.BestExporter('best', _receiver_fn, compare_fn=compare_fn)


# ------------------------------------------------------------- FinalExporter
def test_final_exports_only_at_the_end(est, tmp_path):
  exporter = tf.estimator.FinalExporter('final', _receiver_fn)
  assert _export(exporter, est, tmp_path / 'final', final=False) is None
  assert _listing(tmp_path / 'final') == []
  made = _export(exporter, est, tmp_path / 'final', final=True)
  assert _listing(tmp_path / 'final') == [made]


# ---------------------------------------------------------- argument checks
@pytest.mark.parametrize('keep', [0, -1, 1.5, True, '3'])
@pytest.mark.parametrize('cls', ['LatestExporter', 'BestExporter'])
def test_bad_exports_to_keep(cls, keep):
  with pytest.raises(ValueError, match='exports_to_keep'):
    getattr(tf.estimator, cls)('e', _receiver_fn, exports_to_keep=keep)


@pytest.mark.parametrize('cls', ['LatestExporter', 'BestExporter',
                                 'FinalExporter'])
def test_bad_name_and_receiver(cls):
  make = getattr(tf.estimator, cls)
  for name in ('', None, b'bytes'):
    with pytest.raises(ValueError, match='name'):
      make(name, _receiver_fn)
  with pytest.raises(ValueError, match='serving_input_receiver_fn'):
    make('e', None)


def test_exporter_base_and_public_names():
  base = tf.estimator.Exporter()
  with pytest.raises(NotImplementedError):
    base.name  # pylint: disable=pointless-statement
  with pytest.raises(NotImplementedError):
    base.export(None, '', '', {}, False)
  for name in ('Exporter', 'LatestExporter', 'BestExporter', 'FinalExporter'):
    assert getattr(tf.estimator, name) is getattr(exporter_lib, name)
    assert getattr(tf.compat.v1.estimator, name) is getattr(exporter_lib, name)
  assert issubclass(tf.estimator.BestExporter, tf.estimator.Exporter)


def test_gc_filters_compose_as_2_15s(tmp_path):
  """`gc` (2.15's export garbage collection), which custom exporters use."""
  from tensorflow_estimator.python.estimator import gc  # pylint: disable=g-import-not-at-top
  for version in (1, 2, 3, 5, 8):
    (tmp_path / str(version)).mkdir()
  (tmp_path / 'not_a_version').mkdir()

  def parser(path):
    name = os.path.basename(path.path)
    return path._replace(export_version=int(name)) if name.isdigit() else None

  paths = gc._get_paths(str(tmp_path), parser)  # pylint: disable=protected-access
  versions = lambda ps: [p.export_version for p in ps]
  assert versions(paths) == [1, 2, 3, 5, 8]
  assert versions(gc._largest_export_versions(2)(paths)) == [5, 8]  # pylint: disable=protected-access
  assert versions(gc._one_of_every_n_export_versions(3)(paths)) == [3, 5, 8]  # pylint: disable=protected-access
  assert versions(gc._union(gc._mod_export_version(4),  # pylint: disable=protected-access
                            gc._largest_export_versions(1))(paths)) == [8]  # pylint: disable=protected-access
  assert versions(gc._negation(gc._mod_export_version(2))(paths)) == [1, 3, 5]  # pylint: disable=protected-access
