#!/usr/bin/env bash
# Runs every benchmark in order, each printing its figures (its last line is
# machine-readable). Installs Cercle into .venv first, like scripts/test.sh.
#   scripts/bench.sh            # all of them (~15 min on 2 cores)
# The acceptance runs of issue #12 (not run here; minutes each):
#   .venv/bin/python bench/propagation.py --nodes 10 --rate 200 -n 4000   # delivery= p50_ms= p99_ms=
#   .venv/bin/python bench/propagation.py --nodes 20 --burst 5000 --burst-s 10   # delivery= drain_ms=
# Every benchmark stops the processes it starts and removes its temporary files
# when it ends, fails, or gets SIGTERM/SIGINT/SIGHUP (bench/children.py), so
# `timeout 600 .venv/bin/python bench/propagation.py` leaves nothing behind.
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
