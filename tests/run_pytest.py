"""The test suite's entry point for build systems (BUILD's `py_test`).

    python3 tests/run_pytest.py [pytest arguments...]

Runs pytest on tests/ with the fast tier's marker (`-m 'not slow'`), as
scripts/test.sh does; arguments are appended (a later `-m ''` runs both
tiers, `-k NAME` selects tests).
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main(argv):
  # Python put this folder first on sys.path: its area packages (tests/keras,
  # tests/io, ...) would shadow real modules. Tests import as `tests.<area>`.
  sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p) != HERE]
  return pytest.main(['--rootdir', ROOT, '-c', os.path.join(ROOT, 'pytest.ini'),
                      '-m', 'not slow', HERE, *argv])


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
