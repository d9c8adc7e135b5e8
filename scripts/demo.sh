#!/usr/bin/env bash
# Sets up the project and runs the end-to-end legacy pipeline demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e .
python3 demo/legacy_pipeline.py "$@"
