"""Whether a train graph is captured for a run too short to pay for a compile.

Some model code trades a slow first step for faster later ones: canned RNNs
of built-in SimpleRNN and GRU cells train through XLA
(`canned/compiled_rnn.py`), whose compile took 0.75-1.3 s of the benchmark
LSTM's first step when LSTMs took that path, and then saved about 2.4 ms a
step (228 -> 505 steps/s). A `train(steps=1)`, a
tutorial's 100-step call, a test's few steps never earn that back: the
first train(steps=1) of that LSTM took 3.4 s with XLA and 2.1 s without, on
a host where 2.15 took 2.0 s (medians of three fresh processes).

A training run whose length is known and short captures its graph inside
`capturing(True)`; model code about to build such a compile asks
`skip_compile()` and builds its plain graph instead. The capture records
that it did: a later, longer run captures that graph again, compiled
(`runs.model_graphs`). A graph whose code asked nothing serves every run.
"""

import contextlib
import contextvars

# Runs of fewer steps capture their graph without costly compiles: about
# where the LSTM's XLA compile is paid back on the hosts measured.
SHORT_RUN_STEPS = 500

_CURRENT = contextvars.ContextVar('short_runs_capture', default=None)


def is_short(steps, max_steps):
  """Whether a train() call of `steps` or `max_steps` runs under SHORT_RUN_STEPS.

  With `max_steps` the run is at most that long (it starts at the restored
  step); with neither it runs until its input ends, of unknown length.
  """
  length = steps if steps is not None else max_steps
  return length is not None and length < SHORT_RUN_STEPS


class Capture:
  """What a graph's capture was for, and whether its code skipped a compile."""

  def __init__(self, short):
    self.short = short
    self.skipped_compiles = False


@contextlib.contextmanager
def capturing(short):
  """Model code run in the block builds a graph for a short run, or not.

  Yields:
    The `Capture`, whose `skipped_compiles` says, once the block ends,
    whether its code built plain what a longer run compiles.
  """
  capture = Capture(bool(short))
  token = _CURRENT.set(capture)
  try:
    yield capture
  finally:
    _CURRENT.reset(token)


def skip_compile():
  """Whether model code about to build a costly compile should build it plain.

  True inside `capturing(True)`, and recorded there. Outside any capture
  (model code run by itself) it is False.
  """
  capture = _CURRENT.get()
  if capture is None or not capture.short:
    return False
  capture.skipped_compiles = True
  return True
