"""Failures of file writes and reads, reported as errors that name the path.

TensorFlow reports a full disk or a damaged file as an `OpError` whose text
starts with the internal function name; users need the file and the cause.
"""

import contextlib
import re

import tensorflow as tf

_NOISE = re.compile(r'\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\](\s*name:\s*)?')


def describe(error):
  """The cause in `error` without TensorFlow's op and function decorations."""
  text = error.message if isinstance(error, tf.errors.OpError) else str(error)
  return ' '.join(_NOISE.sub(' ', text).split())


def write_failed(what, path, error, consequence=''):
  """An OSError saying which `path` could not be written, why, and what holds."""
  message = f'Could not write {what} {path!r}: {describe(error)}.'
  return OSError(f'{message} {consequence}'.strip())


@contextlib.contextmanager
def reporting(what, path, consequence=''):
  """Re-raises file failures inside the block as `write_failed` errors."""
  try:
    yield
  except (tf.errors.OpError, OSError) as e:
    raise write_failed(what, path, e, consequence) from e
