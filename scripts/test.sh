#!/usr/bin/env bash
# The whole test suite, from a fresh machine: formatting and lints, the Rust
# unit and integration tests (against the moto AWS emulator, which this
# script's helpers install into .venv-moto/, and the edge family's also
# against MiniStack, installed into .venv-ministack/), the fault-proxy tests,
# and the product-catalog API's tests against the local PostgreSQL.
#
#   scripts/test.sh            everything
#   scripts/test.sh rust       only the Rust side
#   scripts/test.sh app        only the API in container/
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Keep the (large) AWS SDK build between runs, outside the clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/provision-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
what="${1:-all}"

log() { printf '\n==> %s\n' "$*" >&2; }

stop_emulators() {
    for pidfile in "$ROOT"/.run/moto-*.pid; do
        [[ -e "$pidfile" ]] || continue
        name="$(basename "$pidfile" .pid)"
        MOTO_INSTANCE="${name#moto-}" bash scripts/moto.sh stop >/dev/null 2>&1 || true
    done
    # A MiniStack test binary stops its own server; one that was killed
    # leaves its pid file behind.
    for pidfile in "$ROOT"/.run/ministack-*.pid; do
        [[ -e "$pidfile" ]] || continue
        name="$(basename "$pidfile" .pid)"
        MINISTACK_INSTANCE="${name#ministack-}" bash scripts/ministack.sh stop >/dev/null 2>&1 || true
    done
}

# Clippy runs as the compiler of this crate while the tests are built
# (RUSTC_WORKSPACE_WRAPPER applies to this crate only, as in `cargo clippy`
# itself), so the lints and the tests share one build of the AWS SDK crates
# instead of a second, check-only one: about 4 minutes less on a cold 2-core
# machine. CLIPPY_ARGS is how `cargo clippy` hands its flags to
# clippy-driver. PROVISION_LINT=clippy runs plain `cargo clippy` instead.
cargo_linted() {
    if [[ "${PROVISION_LINT:-driver}" == clippy ]]; then
        cargo "$@"
    else
        RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver" \
            CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" cargo "$@"
    fi
}

mkdir -p "$ROOT/.run"
app_pid=""
if [[ "$what" == all || "$what" == rust ]]; then
    log "rustfmt"
    cargo fmt --all -- --check

    # The second emulator (MiniStack, for tests/edge_ministack.rs) installs
    # while the tests build.
    bash scripts/ministack.sh install >"$ROOT/.run/ministack-install.log" 2>&1 &
    ministack_install=$!

    log "clippy -D warnings while the tests build (a first build takes about 8 minutes on 2 cores)"
    if [[ "${PROVISION_LINT:-driver}" == clippy ]]; then
        cargo clippy --all-targets --locked -- -D warnings
    fi
    cargo_linted test --locked --no-run --message-format=json-render-diagnostics >"$ROOT/.run/test-build.json"

    log "moto emulator (pinned, project-local virtualenv)"
    bash scripts/moto.sh install
    trap stop_emulators EXIT
    log "MiniStack emulator (pinned, project-local virtualenv; installed beside the build)"
    wait "$ministack_install" || {
        cat "$ROOT/.run/ministack-install.log" >&2
        log "FAILED: installing MiniStack (scripts/ministack.sh install)"
        exit 1
    }

    if [[ "$what" == all ]]; then
        # The API's tests need only PostgreSQL: they run beside the Rust
        # tests, which mostly wait on the emulator.
        log "product-catalog API tests (PostgreSQL on 127.0.0.1:5432), in the background"
        bash scripts/test-app.sh >"$ROOT/.run/test-app.log" 2>&1 &
        app_pid=$!
    fi

    log "Rust unit and integration tests (${PROVISION_TEST_JOBS:-3} test binaries at a time)"
    rust_status=0
    bash scripts/run-test-binaries.sh "$ROOT/.run/test-build.json" || rust_status=1

    log "fault proxy tests"
    scripts_status=0
    bash scripts/test-scripts.sh || scripts_status=1
    ((rust_status == 0 && scripts_status == 0)) || {
        [[ -n "$app_pid" ]] && wait "$app_pid"
        log "FAILED: the Rust tests or the fault proxy tests (above)"
        exit 1
    }
fi

if [[ -n "$app_pid" ]]; then
    app_status=0
    wait "$app_pid" || app_status=1
    log "product-catalog API tests"
    tail -n 25 "$ROOT/.run/test-app.log" >&2
    ((app_status == 0)) || {
        cat "$ROOT/.run/test-app.log" >&2
        exit 1
    }
elif [[ "$what" == app ]]; then
    log "product-catalog API tests (PostgreSQL on 127.0.0.1:5432)"
    bash scripts/test-app.sh
fi
log "all tests passed"
