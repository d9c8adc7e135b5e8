"""Hooks writing through the v1 `FileWriterCache` share our events file.

2.15 (measured with tensorflow-estimator 2.15.0, the program of the first
test): a hook that takes `FileWriterCache.get(model_dir)` in `begin()` and
adds a scalar after each of 4 steps leaves ONE events file in model_dir,
with the Estimator's `loss` and the hook's scalar at steps 0-3, and two
graph and two meta-graph events (the cache's writer writes the default graph
when made). microsoft/recommenders' evaluation-log hook does this; before,
ours left two files, each with half the scalars.
"""

import os

import numpy as np
import tensorflow as tf

_v1 = tf.compat.v1


def _model_fn(features, labels, mode):
  w = _v1.get_variable('w', [1], initializer=_v1.zeros_initializer())
  loss = tf.reduce_mean(tf.square(features['x'] * w - labels))
  _v1.summary.scalar('w_value', w[0])
  return tf.estimator.EstimatorSpec(
      mode, loss=loss,
      train_op=_v1.train.GradientDescentOptimizer(0.1).minimize(
          loss, global_step=_v1.train.get_global_step()))


def _input_fn():
  x = np.ones([8, 1], np.float32)
  return tf.data.Dataset.from_tensor_slices(({'x': x}, 2 * x)).batch(2)


class _CachedWriterHook(_v1.train.SessionRunHook):
  """recommenders' pattern: the cache's model_dir writer, a scalar a step."""

  def __init__(self, model_dir):
    self._model_dir = model_dir

  def begin(self):
    self._writer = _v1.summary.FileWriterCache.get(self._model_dir)
    self._step = _v1.train.get_global_step()

  def before_run(self, run_context):
    return _v1.train.SessionRunArgs(self._step)

  def after_run(self, run_context, run_values):
    summary = _v1.Summary(value=[_v1.Summary.Value(tag='my_metric',
                                                   simple_value=1.0)])
    self._writer.add_summary(summary, run_values.results)

  def end(self, session):
    self._writer.close()  # the recommenders hook's last call


def _events(model_dir):
  """{events file name: ({tag: [steps]}, {event kind: count})}."""
  found = {}
  for name in os.listdir(model_dir):
    if not name.startswith('events.out.tfevents'):
      continue
    tags, kinds = {}, {}
    for event in _v1.train.summary_iterator(os.path.join(model_dir, name)):
      kind = event.WhichOneof('what')
      kinds[kind] = kinds.get(kind, 0) + 1
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
    found[name] = (tags, kinds)
  return found


def test_hook_with_the_cached_writer_writes_into_the_estimators_file(tmp_path):
  model_dir = str(tmp_path)
  estimator = tf.estimator.Estimator(
      _model_fn, model_dir, config=tf.estimator.RunConfig(save_summary_steps=2))
  estimator.train(_input_fn, hooks=[_CachedWriterHook(model_dir)])

  (tags, kinds), = _events(model_dir).values()
  assert tags['my_metric'] == [0, 1, 2, 3]
  assert tags['loss'] == tags['w_value'] == [1, 3]
  assert (kinds['graph_def'], kinds['meta_graph_def']) == (2, 2)

  # Closed by the hook, the writer still serves the next call and the
  # program; eagerly too, where TF's own FileWriter cannot be made.
  estimator.train(_input_fn, hooks=[_CachedWriterHook(model_dir)])
  writer = _v1.summary.FileWriterCache.get(model_dir)
  writer.add_summary(_v1.Summary(value=[_v1.Summary.Value(
      tag='after', simple_value=2.0)]), 9)
  writer.flush()
  (tags, _), = _events(model_dir).values()
  assert tags['my_metric'] == [0, 1, 2, 3, 4, 5, 6, 7]
  assert tags['after'] == [9]


def test_summary_saver_hook_with_an_output_dir_shares_the_file(tmp_path):
  """TF's own hooks given `output_dir` take their writer from the cache.

  The steps and counts are 2.15's for this program (its per-step hook
  records the first step twice, after the session's first run too).
  """
  model_dir = str(tmp_path)

  def model_fn(features, labels, mode):
    spec = _model_fn(features, labels, mode)
    hook = _v1.train.SummarySaverHook(
        save_steps=1, output_dir=model_dir,
        summary_op=_v1.summary.scalar('per_step_loss', spec.loss))
    return spec._replace(training_hooks=[hook])

  tf.estimator.Estimator(model_fn, model_dir).train(_input_fn)

  (tags, kinds), = _events(model_dir).values()
  assert tags == {'per_step_loss': [1, 1, 2, 3, 4], 'w_value': [1],
                  'loss': [1]}
  assert kinds == {'file_version': 1, 'graph_def': 2, 'meta_graph_def': 2,
                   'session_log': 4, 'summary': 5}


def test_the_cached_writer_writes_the_tf1_graph_without_warnings(tmp_path,
                                                                  caplog):
  """TF's meta graph of the captured graph (a function graph, eager
  variables) warned once per collection (transformer-xl's step-counting
  hook: about 25 lines); 2.15 wrote its TF1 graph, and so do we now."""
  model_dir = str(tmp_path)
  hook = _v1.train.StepCounterHook(every_n_steps=1, output_dir=model_dir)
  with caplog.at_level('WARNING', logger='tensorflow'):
    tf.estimator.Estimator(_model_fn, model_dir).train(_input_fn,
                                                       hooks=[hook])
  assert not [r for r in caplog.records
              if 'Issue encountered when serializing' in r.getMessage() or
              'GraphDef' in r.getMessage()]
  graphs = []
  for name in os.listdir(model_dir):
    if name.startswith('events.out.tfevents'):
      for event in _v1.train.summary_iterator(os.path.join(model_dir, name)):
        if event.WhichOneof('what') == 'meta_graph_def':
          graphs.append(_v1.MetaGraphDef.FromString(event.meta_graph_def))
  assert len(graphs) == 2  # the hook's writer's and the checkpoint's
  for meta_graph in graphs:
    assert 'global_step' in meta_graph.collection_def
    assert {n.op for n in meta_graph.graph_def.node} >= {'VarHandleOp',
                                                         'SaveV2'}


def test_an_evaluation_hooks_cached_writer_shares_the_eval_graph(tmp_path):
  """tensor2robot's eval hook: a SummarySaverHook writing to model_dir/eval.

  2.15's evaluate() wrote its summaries through the cache's writer for the
  eval directory, the hook's writer too: one graph and one meta graph in
  the eval events file over three evaluations (measured on 2.15 with this
  program); ours wrote them twice, once per writer.
  """
  model_dir = str(tmp_path)
  eval_dir = os.path.join(model_dir, 'eval')

  def model_fn(features, labels, mode):
    spec = _model_fn(features, labels, mode)
    if mode != tf.estimator.ModeKeys.EVAL:
      return spec
    hook = _v1.train.SummarySaverHook(
        save_steps=1, output_dir=eval_dir,
        summary_op=_v1.summary.scalar('eval_loss', spec.loss))
    return spec._replace(evaluation_hooks=[hook])

  estimator = tf.estimator.Estimator(model_fn, model_dir)
  for _ in range(3):
    estimator.train(_input_fn, steps=2)
    estimator.evaluate(_input_fn, steps=2)

  (tags, kinds), = _events(eval_dir).values()
  assert (kinds['graph_def'], kinds['meta_graph_def']) == (1, 1)
  assert {'eval_loss', 'loss', 'checkpoint_path'} <= set(tags)
