#!/usr/bin/env bash
# Lint and test the product-catalog API in container/ against the local PostgreSQL.
#
#   scripts/test-app.sh [extra pytest args]
#   scripts/test-app.sh --setup-only     # just create/refresh container/.venv
#
# Creates (or reuses) container/.venv, installs requirements.txt and
# requirements-dev.txt only when they changed, then runs ruff (lint + format
# check) and the pytest suite. Needs Python >= 3.11 and PostgreSQL reachable at
# PGHOST:PGPORT (default 127.0.0.1:5432) as PGUSER (default postgres) with trust
# auth; every run uses its own throwaway database. The idempotency tests also
# need a DynamoDB endpoint: the project's moto server, installed here into
# .venv-moto (scripts/moto.sh install; a no-op once done) and started by the
# suite itself as its own instance. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/container"
VENV="$APP/.venv"
PYTHON="${PYTHON:-python3}"

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
export OTEL_SDK_DISABLED=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '==> %s\n' "$*" >&2; }

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when a requirements file (or the interpreter) changed.
stamp="$VENV/.requirements.sha256"
want="$(cat "$APP/requirements.txt" "$APP/requirements-dev.txt" | sha256sum | cut -d' ' -f1)-$("$VENV/bin/python" -VV | sha256sum | cut -c1-12)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    log "installing requirements"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$APP/requirements-dev.txt"
    echo "$want" > "$stamp"
else
    log "requirements up to date"
fi

if [[ "${1:-}" == "--setup-only" ]]; then
    exit 0
fi

cd "$APP"

log "PostgreSQL at $PGHOST:$PGPORT as $PGUSER"
"$VENV/bin/python" - <<'PY'
import os, sys, time
import psycopg
last = None
for _ in range(20):
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3).close()
        sys.exit(0)
    except psycopg.OperationalError as exc:
        last = exc
        time.sleep(1)
sys.exit(f"PostgreSQL is not reachable: {last}")
PY

log "ruff check"
"$VENV/bin/ruff" check .
log "ruff format --check"
"$VENV/bin/ruff" format --check .

log "moto (the DynamoDB endpoint of the idempotency tests)"
bash "$ROOT/scripts/moto.sh" install

log "pytest"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
