#!/usr/bin/env bash
# Installs Cercle and its dev tools into .venv (created if missing), then runs
# the whole default check: ruff, mypy --strict on the four packages, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" --config-settings editable_mode=strict
.venv/bin/ruff check .
.venv/bin/mypy -p cercle.protocol -p cercle.storage -p cercle.node -p cercle.tui
exec .venv/bin/python -m pytest -q "$@"
