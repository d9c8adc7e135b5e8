#!/usr/bin/env bash
# Sets up the project and runs the test suite (the fast tier; add --slow for all).
# Times: docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]'
markers='not slow'
# Two workers, a test file each at a time: the fast tier's work is CPU-bound
# Python and TF graph building in one thread, so the second core halves the
# wall time (measured 40:58 -> 21:50; the files' summed time grew 5%).
# A file stays on one worker, so its module fixtures are built once.
workers=(-n 2 --dist loadfile)
if [[ "${1:-}" == "--slow" ]]; then
  markers=''; shift
  # Its clusters, soak and stress tests time processes against deadlines
  # measured on an otherwise idle machine.
  workers=()
  bash scripts/browser_test_deps.sh  # TensorBoard and Chromium
fi
# The slowest files' times at the end.
python3 -m pytest -m "$markers" "${workers[@]}" tests "$@"
