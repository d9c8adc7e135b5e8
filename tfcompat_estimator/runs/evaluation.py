"""`Estimator.evaluate`: run metric update ops over the data, then read them.

Metric (local) variables restart from their initial values on each call. With
no hooks, batches are consumed by a compiled multi-step loop.
"""

import os
import time

import tensorflow as tf

from tfcompat_estimator.engine import end_of_input
from tfcompat_estimator.engine import engine_scope
from tfcompat_estimator.engine import graph_prune
from tfcompat_estimator.engine import input_pipeline
from tfcompat_estimator.engine import loops
from tfcompat_estimator.engine import tf1_graph
from tfcompat_estimator.io import summaries
from tfcompat_estimator import model_fn as model_fn_lib
from tfcompat_estimator.platform.tf_internals import tf_logging as logging
from tfcompat_estimator.session_emulation import file_writer_cache
from tfcompat_estimator.session_emulation import hook_runner as hook_runner_lib
from tfcompat_estimator.session_emulation import hooked_step
from tfcompat_estimator.session_emulation import session as session_lib

_BULK_CHUNK = 1000


def eval_dir(model_dir, name=None):
  """The directory of an evaluation's event files, as 2.15 named it."""
  return os.path.join(model_dir, 'eval' if not name else 'eval_' + name)


def run_evaluation(context, input_fn, steps, hooks, checkpoint_path, name,
                   variables_from=None):
  """Evaluates and reports metrics; `variables_from` replaces the checkpoint.

  Args:
    context: The Estimator's `RunContext`.
    input_fn, steps, hooks, checkpoint_path, name: As in
      `Estimator.evaluate`; `checkpoint_path` None evaluates the initial
      values.
    variables_from: None, or checkpoint key -> variable: how
      InMemoryEvaluatorHook evaluates the training variables as they are,
      reading no checkpoint.

  Returns:
    Metric name -> value, with 'global_step'.
  """
  if steps is not None and steps <= 0:
    raise ValueError(f'Must specify steps > 0, given: {steps}')
  hooks = list(hooks or [])
  batches = input_pipeline.BatchSource(
      input_fn, model_fn_lib.ModeKeys.EVAL, context.params, context.config)
  started = []

  def starting(spec):
    del spec
    # 2.15's lines (tf.compat.v1.training.evaluation), which logs are read
    # by; its inference time included restoring the checkpoint.
    logging.info('Starting evaluation at ' +
                 time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime()))
    started.append(time.time())

  captured = context.graphs.for_run(
      model_fn_lib.ModeKeys.EVAL, batches, checkpoint_path, variables_from,
      before_loading=starting)
  session = session_lib.EmulatedSession(captured, batches)
  file_writer_cache.graph_events_of(captured, tf1_graph.event_graphs)
  hooks += list(captured.spec.evaluation_hooks)
  runner = hook_runner_lib.HookRunner(hooks, session)
  start = started[0]
  runner.begin()
  runner.after_create_session()
  with batches:
    done = 0
    if hooks or batches.iterator is None:
      while (steps is None or done < steps) and not runner.stop_requested:
        try:
          _counted(captured, lambda: hooked_step.run(
              session, runner, batches, captured.eval_update_op))
        except end_of_input.ENDS_RUN:
          break
        done += 1
        _log_progress(done, steps)
    else:
      loop = captured.cached('eval_loop', lambda: loops.make_loop(
          captured.pruned_for([], [captured.eval_update_op]), watch_loss=False))
      while steps is None or done < steps:
        # Chunks end where 2.15 logged its progress.
        chunk = _BULK_CHUNK if steps is None else min(
            _BULK_CHUNK, steps - done,
            _progress_every(steps) - done % _progress_every(steps))
        ran, _, stopped = loop(batches.iterator, tf.constant(chunk))
        captured.count_eval_steps(int(ran) + bool(stopped))  # see _counted
        if int(ran):  # a chunk finding the input's end may run none
          done += int(ran)
          _log_progress(done, steps)
        if bool(stopped):
          break
    session.current_batch = None
    if not done and not runner.stop_requested:
      raise ValueError(
          'Evaluation got no batches: the input_fn produced no data, so '
          'every metric would be that of an empty set (2.15 reported 0s). '
          'Nothing was written to the eval directory.')
    results = _metric_values(session, captured.eval_metrics)
  results['global_step'] = captured.global_step.numpy()
  runner.end()
  logging.info('Inference Time : {:0.5f}s'.format(time.time() - start))
  logging.info('Finished evaluation at ' +
               time.strftime('%Y-%m-%d-%H:%M:%S', time.localtime()))
  _report(eval_dir(context.model_dir, name), captured, results,
          checkpoint_path)
  return results


def _counted(captured, run_step):
  """Runs one step, adding it to the `eval_step` variable as 2.15 did.

  2.15 added one in every run, also in the one that found the input's end
  (the add did not wait for the batch: 4 after 3 batches, measured). A
  hook fetching the variable saw the count before the add, or after it
  under TF1's switches.
  """
  before = captured.eval_step_counts_before_step
  if before:
    captured.count_eval_steps(1)
  try:
    run_step()
  finally:
    if not before:
      captured.count_eval_steps(1)


def _progress_every(steps):
  """How often 2.15 logged an evaluation of `steps` (its _StopAfterNEvalsHook)."""
  return 1 if steps < 20 else steps // 10


def _log_progress(done, steps):
  """2.15's 'Evaluation [k/N]' lines: every N/10 steps and at N, if N is given."""
  if steps is not None and done and (done % _progress_every(steps) == 0 or
                                     done == steps):
    logging.info('Evaluation [%d/%d]', done, steps)


def _metric_values(session, eval_metrics):
  """Each metric's value, read in one call; a nested value keeps its nest.

  A value that reads the input batch is computed, as 2.15's final run of
  the value ops computed it, on one more batch of the input: an image
  summary given as a metric with `tf.no_op()` as its update, a metric made
  under `tf.control_dependencies` on a check of the labels
  (google-research's unprocessing and group_agnostic_fairness).

  Raises:
    ValueError: such values, when the input has no batch left (2.15 failed
      there with OutOfRangeError).
  """
  keys = sorted(eval_metrics)
  nests = [eval_metrics[k][0] for k in keys]
  flat = tf.nest.flatten(nests)
  try:
    values = session.compute(flat, draws=True)
  except end_of_input.EndOfInput:
    at_fault = set(id(t) for t in graph_prune.unfed(flat, [], session.graph))
    named = [key for key, nest in zip(keys, nests)
             if any(id(t) in at_fault for t in tf.nest.flatten(nest))]
    raise ValueError(
        f'The values of eval_metric_ops {named} read the input batch, not '
        'only variables: as in 2.15, they are computed on one more batch '
        'after the evaluation, and the input_fn had none left. Give each '
        'metric a value that reads only its variables (an image summary '
        'belongs in EstimatorSpec.evaluation_hooks, and a metric made under '
        'tf.control_dependencies on the labels can be made outside them), '
        'or evaluate fewer steps than the input holds.') from None
  return dict(zip(keys, tf.nest.pack_sequence_as(nests, values)))


def _report(output_dir, captured, results, checkpoint_path):
  step = int(results['global_step'])
  summaries.writer_for(output_dir).add_graph_once(
      lambda: tf1_graph.event_graphs(captured), 'cache')
  write_dict_to_summary(output_dir, results, step)
  if checkpoint_path:
    # 2.15's next event, at the same step.
    logging.info("Saving 'checkpoint_path' summary for global step %d: %s",
                 step, checkpoint_path)
    with engine_scope.scope():
      writer = summaries.writer_for(output_dir)
      writer.write_text('checkpoint_path', checkpoint_path, step)
      writer.flush()


def write_dict_to_summary(output_dir, dictionary, current_global_step):
  """Logs `dictionary` and writes it to `output_dir`'s events, as 2.15 did.

  Args:
    output_dir: the directory of the events file.
    dictionary: name -> value, written by `summaries.summary_of`'s rules;
      'global_step' is left out.
    current_global_step: the step of the event.
  """
  # str(), as 2.15's '%s': a float32 metric prints as 0.96666664; format()
  # (an f-string's {v}) would print its double, 0.9666666388511658. As in
  # 2.15, bytes (a serialized summary: AdaNet's architecture) are left out.
  logging.info('Saving dict for global step %d: %s', current_global_step,
               ', '.join(f'{k} = {v!s}' for k, v in sorted(dictionary.items())
                         if not isinstance(v, bytes)))
  with engine_scope.scope():  # callers may be inside a tf.Graph
    writer = summaries.writer_for(output_dir)
    writer.write_dict({k: v for k, v in dictionary.items()
                       if k != 'global_step'}, current_global_step)
    writer.flush()
