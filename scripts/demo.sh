#!/usr/bin/env bash
# The main job against the local AWS emulator, from a fresh machine: builds
# provision, starts moto (and the project's proxy, which speaks CloudWatch's
# CBOR protocol to moto), then `plan`, `up`, `status` and `down`.
#
#   scripts/demo.sh [SUFFIX]     (default suffix: demo)
#
# Everything it starts (moto, the proxy) and every file it writes (the
# emulator's pid/port/log files, provision's state) belongs to this run
# alone, under one temporary directory; all of it is stopped and removed
# when the demo ends: on success, on failure and on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provision-target}"
SUFFIX="${1:-demo}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/provision-demo.XXXXXX")"
# moto.sh keeps its pid/port/log files here, so this run's emulator is
# never confused with another one (nor stopped by another demo).
export PROVISION_RUN_DIR="$WORK/run" MOTO_INSTANCE=demo
PROXY_PID=""

say() { printf 'demo: %s\n' "$*" >&2; }

cleanup() {
    local status=$?
    { set +x; } 2>/dev/null
    trap - EXIT INT TERM
    if [[ -n "$PROXY_PID" ]] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    if [[ -d "$PROVISION_RUN_DIR" ]] && ! bash "$ROOT/scripts/moto.sh" stop >/dev/null 2>&1; then
        say "could not stop the emulator; its pid file: $PROVISION_RUN_DIR/moto-$MOTO_INSTANCE.pid"
        status=1
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted; cleaning up"; exit 130' INT TERM

# The emulator's first install (into .venv-moto/, about a minute) mostly
# waits on downloads: it runs beside the build instead of after it.
bash "$ROOT/scripts/moto.sh" install >"$WORK/moto-install.log" 2>&1 &
INSTALL_PID=$!
say "building provision (a first build compiles the AWS SDK: 8 to 12 minutes on 2 cores; later builds take seconds)"
cargo build --locked
BIN="$CARGO_TARGET_DIR/debug/provision"
wait "$INSTALL_PID" || { say "installing the emulator failed:"; cat "$WORK/moto-install.log" >&2; exit 1; }

say "starting the AWS emulator (moto)"
MOTO_URL="$(bash "$ROOT/scripts/moto.sh" start | tail -n 1)"
# The proxy needs cbor2, which `moto.sh start` installed into the venv.
"${MOTO_VENV:-$ROOT/.venv-moto}/bin/python" "$ROOT/scripts/fault_proxy.py" --upstream "$MOTO_URL" \
    --port 0 --port-file "$WORK/proxy.port" >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
for _ in $(seq 1 100); do [[ -s "$WORK/proxy.port" ]] && break; sleep 0.1; done
[[ -s "$WORK/proxy.port" ]] || { say "the proxy did not start:"; cat "$WORK/proxy.log" >&2; exit 1; }
say "emulator ready (moto pid $(cat "$PROVISION_RUN_DIR/moto-$MOTO_INSTANCE.pid"), proxy pid $PROXY_PID)"

PROXY_PORT="$(cat "$WORK/proxy.port")"
export AWS_ENDPOINT_URL="http://127.0.0.1:${PROXY_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-southeast-2
export AWS_EC2_METADATA_DISABLED=true PROVISION_STATE_DIR="$WORK/state"
cd "$WORK"

set -x
# plan exits 3 when `up` has something to do (here: everything).
plan_status=0
"$BIN" plan --suffix "$SUFFIX" >"$WORK/plan.txt" || plan_status=$?
tail -n 5 "$WORK/plan.txt"
((plan_status == 3)) || { say "plan exited $plan_status, not 3 (changes pending)"; exit 1; }
"$BIN" up --suffix "$SUFFIX" | tee "$WORK/outputs.json"
{ set +x; } 2>/dev/null
say "the API's URL (ApiUrl, CloudFront over HTTPS): $("${MOTO_VENV:-$ROOT/.venv-moto}/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ApiUrl"])' "$WORK/outputs.json")"
set -x
"$BIN" status --suffix "$SUFFIX"
"$BIN" down --suffix "$SUFFIX" --yes
