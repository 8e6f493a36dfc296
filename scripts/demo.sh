#!/usr/bin/env bash
# The main job against the local AWS emulator, from a fresh machine: builds
# provision, starts moto (and the project's proxy, which speaks CloudWatch's
# CBOR protocol to moto), then `up`, `status`, `plan` and `down`.
#
#   scripts/demo.sh [SUFFIX]     (default suffix: demo)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provision-target}"
SUFFIX="${1:-demo}"
WORK="$(mktemp -d)"

cargo build --locked --quiet
BIN="$CARGO_TARGET_DIR/debug/provision"

export MOTO_INSTANCE=demo
MOTO_URL="$(bash scripts/moto.sh start | tail -n 1)"
# The proxy needs cbor2, which `moto.sh start` installed into the venv.
"${MOTO_VENV:-$ROOT/.venv-moto}/bin/python" scripts/fault_proxy.py --upstream "$MOTO_URL" --port 0 --port-file "$WORK/proxy.port" >/dev/null 2>&1 &
PROXY_PID=$!
cleanup() {
    kill "$PROXY_PID" 2>/dev/null || true
    bash scripts/moto.sh stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do [[ -s "$WORK/proxy.port" ]] && break; sleep 0.1; done

PROXY_PORT="$(cat "$WORK/proxy.port")"
export AWS_ENDPOINT_URL="http://127.0.0.1:${PROXY_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-southeast-2
export AWS_EC2_METADATA_DISABLED=true PROVISION_STATE_DIR="$WORK/state"
cd "$WORK"

set -x
"$BIN" plan --suffix "$SUFFIX" | tail -n 5
"$BIN" up --suffix "$SUFFIX"
"$BIN" status --suffix "$SUFFIX"
"$BIN" down --suffix "$SUFFIX" --yes
