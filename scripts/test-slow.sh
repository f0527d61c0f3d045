#!/usr/bin/env bash
# Installs Cercle and its dev tools into .venv (created if missing), as scripts/test.sh
# does, then runs the slow tests only (soak, interop; excluded from the default run).
# The interop test installs its js-libp2p peer (tests/interop, npm ci) on first use and
# is skipped when node/npm are missing or the npm registry is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" --config-settings editable_mode=strict
exec .venv/bin/python -m pytest -q -m slow "$@"
