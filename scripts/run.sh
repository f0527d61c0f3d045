#!/usr/bin/env bash
# Installs Cercle into .venv (created if missing) and runs `cercle ARGS...`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e . --config-settings editable_mode=strict
exec .venv/bin/cercle "$@"
