#!/usr/bin/env bash
# Sets up the project and runs the end-to-end legacy pipeline demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e .
# As a user of TensorFlow would: hide the C++ runtime's start-up messages
# (oneDNN, CUDA probing). Python warnings and tf.estimator's INFO log stay.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
python3 demo/legacy_pipeline.py "$@"
