#!/usr/bin/env bash
# Engine benchmark (a script, not a test): builds provision, starts moto and
# the fault proxy, and writes bench/engine-results.{md,json} with AWS calls
# per resource kind, the parallel speed-up under 30 ms of API latency,
# simulated up/down times with AWS's typical durations, and a 20 % throttling
# storm's outcome.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provision-target}"
cargo build --locked --quiet --bin provision --example simulate
export MOTO_INSTANCE=bench
MOTO_URL="$(bash scripts/moto.sh start | tail -n 1)"
trap 'bash scripts/moto.sh stop >/dev/null 2>&1 || true' EXIT
"$CARGO_TARGET_DIR/debug/examples/simulate" >"$ROOT/.run/simulate.json"
"${MOTO_VENV:-$ROOT/.venv-moto}/bin/python" scripts/bench_engine.py \
    --binary "$CARGO_TARGET_DIR/debug/provision" \
    --moto "$MOTO_URL" \
    --simulation "$ROOT/.run/simulate.json" \
    --out "$ROOT/bench/engine-results"
