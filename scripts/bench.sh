#!/usr/bin/env bash
# Runs every benchmark in order, each printing its figures (its last line is
# machine-readable). Installs Cercle into .venv first, like scripts/test.sh.
#   scripts/bench.sh            # all of them (~15 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e . --config-settings editable_mode=strict

for b in bench/ingest.py bench/trust.py bench/pow.py bench/sync.py bench/propagation.py bench/tui.py; do
    [ -f "$b" ] || continue
    echo "== $b"
    .venv/bin/python "$b"
    echo
done
