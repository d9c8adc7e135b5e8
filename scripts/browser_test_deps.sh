#!/usr/bin/env bash
# Installs what the slow tier's TensorBoard browser test needs:
#   TensorBoard 2.21.0 in a venv of its own (its pins stay out of the
#   project's environment): $TENSORBOARD_VENV, default ~/.cache/tfcompat/tensorboard
#   Debian's Chromium (/usr/bin/chromium), when run as root with apt-get.
set -euo pipefail
TENSORBOARD_VENV="${TENSORBOARD_VENV:-$HOME/.cache/tfcompat/tensorboard}"
if [ ! -x "$TENSORBOARD_VENV/bin/tensorboard" ]; then
  python3 -m venv "$TENSORBOARD_VENV"
  "$TENSORBOARD_VENV/bin/pip" install -q "tensorboard==2.21.0"
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q chromium >/dev/null
  else
    echo "browser_test_deps.sh: install Debian's chromium (apt-get install chromium)" >&2
  fi
fi
