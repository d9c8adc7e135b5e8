"""Whether the program seeded Python's `random` itself.

tf_keras' initializers without a seed (a Keras layer's default
`glorot_uniform`, an RNN cell's `orthogonal`) draw one from Python's
`random` when they first run; 2.15's Keras did the same. So on 2.15 a
model_fn of unseeded Keras layers started from the same values in every
run only if the program seeded `random` (tensor2tensor's
`set_random_seed` calls `random.seed`, as research programs commonly
do), and from other values at every run otherwise.

The capture (`engine/graph_capture.py`) keeps both: if the program has
called `random.seed`, the initializers draw from Python's `random` as on
2.15, and start from 2.15's values (T2T's transformer: every variable of
`model.ckpt-0` differed while they drew from the RunConfig's seed); if it
has not, they draw from a generator seeded by `RunConfig.tf_random_seed`,
the same in every run. `install()` starts watching; a seed set before it
is not seen.
"""

import functools
import random

_seeded = False
_watching_seed = None  # the `random.seed` that notes its calls, once made


def watch():
  """Makes `random.seed` note that it was called (idempotent)."""
  global _watching_seed
  if random.seed is _watching_seed:
    return
  original = random.seed

  @functools.wraps(original)
  def seed(*args, **kwargs):
    global _seeded
    _seeded = True
    return original(*args, **kwargs)

  _watching_seed = random.seed = seed


def program_seeded():
  """Whether `random.seed` was called since `watch()`."""
  return _seeded
