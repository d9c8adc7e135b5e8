"""End of input: the one exception the engine raises when data runs out."""


class EndOfInput(Exception):
  """The input_fn's data ran out (where 2.15's session raised OutOfRangeError).

  Raised by whatever reads a batch (the input pipeline, a compiled step, the
  captured input graph) and caught by the train, evaluate and predict loops.
  Not `StopIteration`, which a generator turns into a `RuntimeError` (PEP
  479) and which any stray `next()` can raise.
  """


# What ends a train, evaluate or predict run quietly: the end of input, and
# a `StopIteration` from user code such as a hook, which 2.15's
# MonitoredSession suppressed on exit as it did OutOfRangeError (measured:
# a hook raising it in its third before_run ended training at step 2 and
# predict after 2 of 4 batches, with no error).
ENDS_RUN = (EndOfInput, StopIteration)
