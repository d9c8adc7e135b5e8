"""The hooks `TPUEstimator` adds to a run, as 2.15 added them."""

import signal

import tensorflow as tf

from tfcompat_estimator.io import summaries


class ExamplesPerSecondHook(tf.compat.v1.train.StepCounterHook):
  """Logs and records `global_step/sec` and `examples/sec`.

  TPUEstimator reports these instead of the Estimator's step rate. The
  schedule is the `StepCounterHook`'s, so the training loop knows in advance
  which steps the hook ignores and runs them compiled.

  Args:
    batch_size: Examples per step (the global batch size), or None to
      report steps only.
    every_n_steps, every_n_secs: As in `tf.compat.v1.train.StepCounterHook`.
    output_dir: Where to record the rates: the process's events file for
      that directory, shared with the Estimator's summaries as 2.15's
      SummaryWriterCache shared it (a v1 `FileWriter` would open a second).
    summary_writer: A `FileWriter`-like object to record to instead.
  """

  # TPUEstimator adds it to the captured spec, which serves every call
  # (runs/model_fn_hooks.py): `begin` starts it as it was made.
  restarts_in_begin = True

  def __init__(self, batch_size, every_n_steps=100, every_n_secs=None,
               output_dir=None, summary_writer=None):
    self._batch_size = batch_size
    self._events_dir = output_dir if summary_writer is None else None
    super().__init__(every_n_steps=every_n_steps, every_n_secs=every_n_secs,
                     summary_writer=summary_writer)

  def begin(self):
    # 2.15 made this hook anew in each train() (its model_fn ran per call);
    # the captured model_fn's hook serves every call, so its timing starts
    # afresh: else the first rate of a later train() spanned the
    # evaluate() between them (0.61 steps/s in ConnorJL's GPT-2).
    self._timer.reset()
    self._last_global_step = None
    super().begin()

  def _log_and_record(self, elapsed_steps, elapsed_time, global_step):
    rates = {'global_step/sec': elapsed_steps / elapsed_time}
    if self._batch_size is not None:  # no train_batch_size: steps only
      rates['examples/sec'] = self._batch_size * rates['global_step/sec']
    if self._events_dir:
      summaries.writer_for(self._events_dir).write_dict(rates, global_step)
    elif self._summary_writer is not None:
      summary = tf.compat.v1.Summary
      for tag, value in rates.items():
        self._summary_writer.add_summary(
            summary(value=[summary.Value(tag=tag, simple_value=value)]),
            global_step)
    for tag, value in rates.items():
      tf.compat.v1.logging.info('%s: %g', tag, value)


class InstallSignalHandlerHook(tf.compat.v1.train.SessionRunHook):
  """Makes Ctrl-C end the process at once while steps run.

  The handler in place before the first step is restored at the end.
  """

  def __init__(self):
    self._signal_fn = signal.getsignal(signal.SIGINT)

  def before_run(self, run_context):
    del run_context
    signal.signal(signal.SIGINT, signal.SIG_DFL)

  def end(self, session):
    del session
    signal.signal(signal.SIGINT, self._signal_fn)
