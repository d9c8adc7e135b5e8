"""Relative paths given by users that must stay inside a directory of ours.

An evaluation's name becomes `<model_dir>/eval_<name>`, an `assets_extra` key
a file under `assets.extra`; "..", absolute paths or an empty name would
write elsewhere. (An exporter's name is a path under `<model_dir>/export` as
in 2.15, where an absolute one is where the exports go: kubeflow's mnist
example passes its export directory so.)
"""

import os


def check_inside(relative, what, container):
  """Raises ValueError unless `relative` names a path strictly inside `container`."""
  normalized = os.path.normpath(relative)
  if (os.path.isabs(relative) or normalized in ('.', '', '..') or
      normalized.startswith('..' + os.sep)):
    raise ValueError(f'{what} {relative!r} must be a relative path inside '
                     f'{container}; absolute paths, "." and ".." leading out '
                     'of it are not allowed.')
