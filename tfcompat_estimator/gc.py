"""2.15's `gc.py`: which export directories to keep, as composable filters.

A filter takes a sorted list of `Path`s (a path and its export version,
parsed from its name) and returns the ones to keep, sorted. The exporters
delete what `_negation(_largest_export_versions(n))` keeps; custom exporters
of legacy code compose the other filters the same way.
"""

import collections
import heapq
import math
import os

import tensorflow as tf

from tfcompat_estimator.platform.tf_internals import gfile

Path = collections.namedtuple('Path', 'path export_version')


def _largest_export_versions(n):
  """A filter keeping the `n` paths with the largest export versions."""

  def keep(paths):
    versioned = [(p.export_version, i) for i, p in enumerate(paths)
                 if p.export_version is not None]
    return sorted(paths[i] for _, i in heapq.nlargest(n, versioned))

  return keep


def _one_of_every_n_export_versions(n):
  """A filter keeping the largest version of each interval [0, n], (n, 2n], ..."""

  def keep(paths):
    largest = {}  # interval -> its largest path
    for p in paths:
      if p.export_version is None:
        continue
      interval = math.floor((p.export_version - 1) / n) if p.export_version else 0
      if interval not in largest or (
          largest[interval].export_version < p.export_version):
        largest[interval] = p
    return sorted(largest.values())

  return keep


def _mod_export_version(n):
  """A filter keeping the paths whose export version is a multiple of `n`."""

  def keep(paths):
    return sorted(p for p in paths if p.export_version % n == 0)

  return keep


def _union(lf, rf):
  """A filter keeping what either filter keeps."""

  def keep(paths):
    return sorted(set(lf(paths)) | set(rf(paths)))

  return keep


def _negation(f):
  """A filter keeping what `f` does not."""

  def keep(paths):
    return sorted(set(paths) - set(f(paths)))

  return keep


def _get_paths(base_dir, parser):
  """The sorted `Path`s in `base_dir` that `parser` accepts.

  Args:
    base_dir: a directory.
    parser: takes a `Path` with only `path` set and returns it with
      `export_version` set (e.g. from a timestamped directory name), or None
      to leave the entry out.

  Returns:
    A sorted list of `Path`s.
  """
  paths = []
  for raw in gfile.ListDirectory(base_dir):  # 2.15's call, which tests mock
    name = tf.compat.as_str_any(raw).rstrip('/')  # GCS lists 'dir/'
    parsed = parser(Path(os.path.join(tf.compat.as_str_any(base_dir), name),
                         None))
    if parsed:
      paths.append(parsed)
  return sorted(paths)
