"""Whether a train graph is captured for a run too short to pay for a compile.

Some model code trades a slow first step for faster later ones: canned RNNs
of built-in cells train through XLA (`canned/compiled_rnn.py`), whose
compile took 0.75-1.3 s of the benchmark LSTM's first step and then saved
about 2.4 ms a step (228 -> 505 steps/s). A `train(steps=1)`, a
tutorial's 100-step call, a test's few steps never earn that back: the
first train(steps=1) of that LSTM took 3.4 s with XLA and 2.1 s without, on
a host where 2.15 took 2.0 s (medians of three fresh processes).

A training run whose length is known and short captures its graph inside
`capturing(True)`; such model code asks `capturing_for_a_short_run()` and
builds its plain graph. A later, longer run captures the graph again
(`runs.model_graphs`), compiled.
"""

import contextlib
import contextvars

# Runs of fewer steps capture their graph without costly compiles: about
# where the LSTM's XLA compile is paid back on the hosts measured.
SHORT_RUN_STEPS = 500

_CAPTURING_SHORT = contextvars.ContextVar('capturing_for_a_short_run',
                                          default=False)


def is_short(steps, max_steps):
  """Whether a train() call of `steps` or `max_steps` runs under SHORT_RUN_STEPS.

  With `max_steps` the run is at most that long (it starts at the restored
  step); with neither it runs until its input ends, of unknown length.
  """
  length = steps if steps is not None else max_steps
  return length is not None and length < SHORT_RUN_STEPS


@contextlib.contextmanager
def capturing(short):
  """Marks the graph captured inside the block as serving a short run, or not."""
  token = _CAPTURING_SHORT.set(bool(short))
  try:
    yield
  finally:
    _CAPTURING_SHORT.reset(token)


def capturing_for_a_short_run():
  """Whether model code now runs for a graph that serves a short run."""
  return _CAPTURING_SHORT.get()
