#!/usr/bin/env bash
# Sets up the project and runs the test suite (the fast tier; add --slow for all).
# About 12-17 minutes on a 2-core machine (the slow tier adds about 22).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]'
markers='not slow'
if [[ "${1:-}" == "--slow" ]]; then
  markers=''; shift
  bash scripts/browser_test_deps.sh  # TensorBoard and Chromium
fi
# One line of progress per test file; the slowest files' times at the end.
python3 -m pytest -m "$markers" tests "$@"
