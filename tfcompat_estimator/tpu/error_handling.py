"""`ErrorRendezvous`: one error to report when several threads fail.

A TPU training loop ran on three threads (infeed, outfeed, the main
`Session.run`). When one failed, the others usually failed too, but with a
`CancelledError` caused by the first failure; whichever thread surfaced first
decided what the user saw. The rendezvous collects each thread's outcome and,
once they are all in, re-raises the error that explains the failure.

Programs and tests that drive their own infeed threads use it directly, so it
is kept with 2.15's interface.
"""

import contextlib
import sys
import threading

import tensorflow as tf

# A cancellation is the echo of another thread's failure: reported only when
# no thread has anything better.
_UNINTERESTING_ERRORS = (tf.errors.CancelledError,)
# `MonitoredSession` recovers from these itself (it recreates the session), so
# they are not errors of the run.
_IGNORED_ERRORS = (tf.errors.AbortedError, tf.errors.UnavailableError)
# A NaN/Inf check failed: the loop itself ran to its end, so the other
# threads finish normally and the session must not be closed under them.
_CHECK_NUMERICS_OP_TYPE = 'CheckNumerics'
# How long a failed source lets the others report a more telling error before
# it closes the session, which unblocks threads waiting on infeed/outfeed.
_SESSION_CLOSE_DELAY_SECS = 5


class ErrorRendezvous:
  """Collects the outcome of `num_sources` error sources (threads).

  Each source ends with `record_done(source)` or reports its exception with
  `record_error` (or runs inside `catch_errors`). `raise_errors` then waits for
  the sources and re-raises the most informative error, if any.

  Args:
    num_sources: How many sources `raise_errors` waits for.
  """

  def __init__(self, num_sources):
    self._num_sources = num_sources
    # source -> exc_info of its error, or None when it finished cleanly.
    # Insertion order is report order: the first error reported wins a tie.
    self._errors = {}
    self._reported = threading.Condition()
    self._session_cancel_timer = None

  def record_error(self, source, exc_info, session=None):
    """Records the exception a source raised.

    When `session` is given, it is closed a few seconds later (once per
    rendezvous): a failed infeed or outfeed would otherwise leave the main
    loop blocked forever, and the delay lets another source report a more
    telling error first.

    Args:
      source: `str`, the name of the source.
      exc_info: The exception, as `sys.exc_info()` returns it.
      session: A `tf.compat.v1.Session` to close after the delay, or None.
    """
    error = exc_info[1]
    if isinstance(error, _IGNORED_ERRORS):
      return
    with self._reported:
      self._errors[source] = exc_info
      self._reported.notify_all()
    if _raised_by_check_numerics(error):
      return
    if session is not None and self._session_cancel_timer is None:
      self._session_cancel_timer = threading.Timer(
          _SESSION_CLOSE_DELAY_SECS, _close_session, args=(session, error))
      self._session_cancel_timer.daemon = True
      self._session_cancel_timer.start()

  def record_done(self, source):
    """Marks `source` as finished; an error it recorded before is kept.

    Args:
      source: `str`, the name of the source.
    """
    tf.compat.v1.logging.info('%s marked as finished', source)
    with self._reported:
      self._errors.setdefault(source, None)
      self._reported.notify_all()

  @contextlib.contextmanager
  def catch_errors(self, source, session=None):
    """Context manager recording (not propagating) an exception of its block.

    Args:
      source: `str`, the name of the source.
      session: As in `record_error`.

    Yields:
      Nothing.
    """
    try:
      yield
    except Exception:  # pylint: disable=broad-except
      self.record_error(source, sys.exc_info(), session)

  def raise_errors(self, timeout_sec=0):
    """Re-raises the most informative recorded error, if any.

    Waits up to `timeout_sec` seconds for every source to report, then raises
    the first recorded error that is not a cancellation, else the first
    cancellation. Returns normally when no source recorded an error.

    Args:
      timeout_sec: Seconds to wait for the sources that have not reported.
    """
    with self._reported:
      self._reported.wait_for(
          lambda: len(self._errors) >= self._num_sources, timeout=timeout_sec)
      recorded = [info for info in self._errors.values() if info is not None]
    recorded.sort(key=lambda info: isinstance(info[1], _UNINTERESTING_ERRORS))
    if recorded:
      _, error, traceback = recorded[0]
      tf.compat.v1.logging.warn('Reraising captured error')
      raise error.with_traceback(traceback)


def _raised_by_check_numerics(error):
  op = getattr(error, 'op', None)
  return getattr(op, 'type', None) == _CHECK_NUMERICS_OP_TYPE


def _close_session(session, error):
  tf.compat.v1.logging.error('Closing session due to error %s' % error)
  try:
    session.close()
  except Exception:  # pylint: disable=broad-except
    tf.compat.v1.logging.error(
        '\n\n\nFailed to close session after error.'
        'Other threads may hang.\n\n\n')
