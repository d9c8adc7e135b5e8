#!/usr/bin/env bash
# Regenerates golden/ with the real tensorflow-estimator 2.15.0 stack.
#   VENV215=/path/to/venv bash third_party/tensorflow_estimator_2_15/make_golden.sh
# With --venv-only it only sets up the venv (used by bench/run.py).
# With --canned [--cases a,b] it writes golden/canned/ (generate_canned.py).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV215="${VENV215:-$HOME/.cache/tfcompat/venv215}"
PY="$VENV215/bin/python"

if [ ! -x "$PY" ]; then
  echo "creating venv at $VENV215" >&2
  mkdir -p "$(dirname "$VENV215")"
  python3.11 -m venv "$VENV215"
fi

if ! "$PY" - <<'PYEOF' 2>/dev/null
from importlib import metadata
assert metadata.version("tensorflow-cpu") == "2.15.1"
assert metadata.version("tensorflow-estimator") == "2.15.0"
PYEOF
then
  "$PY" -m pip install --upgrade pip
  "$PY" -m pip install -c "$HERE/constraints.txt" \
    "tensorflow-cpu==2.15.1" "tensorflow-estimator==2.15.0"
fi

if [ "${1:-}" = "--venv-only" ]; then exit 0; fi
unset TF_USE_LEGACY_KERAS  # 2.15 has no tf-keras; its own Keras 2 is tf.keras
export PYTHONHASHSEED=0
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
if [ "${1:-}" = "--canned" ]; then
  shift
  exec "$PY" "$HERE/generate_canned.py" "$@"
fi
exec "$PY" "$HERE/generate.py" "$@"
