#!/usr/bin/env bash
# Benchmark of the product-catalog API (a measurement, not a test).
#
#   scripts/bench-app.sh
#
# 1. Sets up container/.venv (via scripts/test-app.sh --setup-only) and wrk.
# 2. Creates a throwaway database, starts the production server
#    (`python -m app.serve`, the Dockerfile's CMD) and loads 10,000 products
#    through POST /api/products.
# 3. Drives, with wrk, for $DURATION seconds each:
#      baseline   GET /api/products  on Flask's development server returning a
#                 hard-coded two-item list (container/bench/naive_app.py)
#      list       GET /api/products?limit=20      (production server, PostgreSQL)
#      item       GET /api/products/<random id>   (production server, PostgreSQL)
#    and, to show what made the difference, the same list route with the list
#    cache off, on random pages, and on gunicorn (gthread) instead of granian.
# 4. Writes bench/app-results.md and bench/app-results.json.
#
# Knobs: DURATION (15), CONNECTIONS (16), WRK_THREADS (2), PRODUCTS (10000),
#        QUIET_WAIT (seconds to wait for a quiet machine first, 180),
#        PGHOST/PGPORT/PGUSER (127.0.0.1/5432/postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/container"
PY="$APP/.venv/bin/python"
OUT_MD="$ROOT/bench/app-results.md"
OUT_JSON="$ROOT/bench/app-results.json"

DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-16}"
WRK_THREADS="${WRK_THREADS:-2}"
PRODUCTS="${PRODUCTS:-10000}"
QUIET_WAIT="${QUIET_WAIT:-180}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

log() { printf '==> %s\n' "$*" >&2; }

"$ROOT/scripts/test-app.sh" --setup-only

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (Debian package)"
    SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

WORK="$(mktemp -d)"
DB="catalog_bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
SERVER_PID=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    "$PY" - "$DB" <<'PY' || true
import sys, psycopg
with psycopg.connect(dbname="postgres", autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)')
PY
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # url
    for _ in $(seq 1 150); do
        if "$PY" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    log "server at $1 did not come up"; return 1
}

start_server() {  # label, env..., then command
    local label="$1"; shift
    (cd "$APP" && exec env "$@" >"$WORK/$label.log" 2>&1) &
    SERVER_PID=$!
}

cat > "$WORK/bench.lua" <<'LUA'
-- Random item ids when ITEM_MAX is set; one JSON summary line at the end.
local max_id = tonumber(os.getenv("ITEM_MAX") or "")
local pages = tonumber(os.getenv("LIST_PAGES") or "")
math.randomseed(os.time())
request = function()
  if max_id then
    return wrk.format("GET", "/api/products/" .. math.random(1, max_id))
  elseif pages then
    return wrk.format("GET", "/api/products?limit=20&offset=" .. 20 * math.random(0, pages - 1))
  end
  return wrk.format("GET", wrk.path)
end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    '\nRESULT {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    non2xx))
end
LUA

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
run_wrk() {  # name, url, [env for lua]
    local name="$1" url="$2"; shift 2
    env "$@" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s -s "$WORK/bench.lua" "$url" >/dev/null  # warm-up
    local load_before; load_before="$(cut -d' ' -f1 /proc/loadavg)"
    local line
    line="$(env "$@" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/bench.lua" "$url" | sed -n 's/^RESULT //p')"
    echo "{\"name\": \"$name\", \"url\": \"$url\", \"load_before\": $load_before, \"result\": $line}" >> "$RESULTS"
    log "$name: $line"
}

# -- a quiet machine gives comparable numbers ------------------------------------------
waited=0
while awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN{exit !(l >= 1.5)}' && (( waited < QUIET_WAIT )); do
    (( waited == 0 )) && log "waiting up to ${QUIET_WAIT}s for the 1-minute load average to drop below 1.5"
    sleep 10; waited=$((waited + 10))
done
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# -- database, production server, data ---------------------------------------------------
"$PY" - "$DB" <<'PY'
import sys, psycopg
with psycopg.connect(dbname="postgres", autocommit=True) as c:
    c.execute(f'CREATE DATABASE "{sys.argv[1]}"')
PY
PORT="$(free_port)"
APP_ENV=(DB_HOST="$PGHOST" DB_PORT="$PGPORT" DB_NAME="$DB" DB_USERNAME="$PGUSER" DB_SSLMODE=disable
         OTEL_SDK_DISABLED=true HOST=127.0.0.1 PORT="$PORT" PATH="$APP/.venv/bin:$PATH")
start_server granian "${APP_ENV[@]}" python -m app.serve
wait_http "http://127.0.0.1:$PORT/health/ready"
WORKERS="$(grep -o '"workers":[0-9]*' "$WORK/granian.log" | head -1 | cut -d: -f2)"
THREADS="$(grep -o '"threads":[0-9]*' "$WORK/granian.log" | head -1 | cut -d: -f2)"
log "loading $PRODUCTS products through POST /api/products"
LOAD_JSON="$("$PY" "$APP/bench/load_products.py" "http://127.0.0.1:$PORT" "$PRODUCTS" 8)"
log "loaded: $LOAD_JSON"
MAX_ID="$("$PY" -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$PORT/api/products?sort=-id&limit=1'))['products'][0]['id'])")"

run_wrk list "http://127.0.0.1:$PORT/api/products?limit=20"
run_wrk item "http://127.0.0.1:$PORT/api/products/1" ITEM_MAX="$MAX_ID"
run_wrk list_random_pages "http://127.0.0.1:$PORT/api/products?limit=20" LIST_PAGES=$((PRODUCTS / 20))
stop_server

start_server nocache "${APP_ENV[@]}" LIST_CACHE_ENTRIES=0 python -m app.serve
wait_http "http://127.0.0.1:$PORT/health/ready"
run_wrk list_no_cache "http://127.0.0.1:$PORT/api/products?limit=20"
stop_server

start_server gunicorn "${APP_ENV[@]}" WSGI_THREADS=4 \
    gunicorn --worker-class gthread --workers "$WORKERS" --threads 4 \
    --bind "127.0.0.1:$PORT" --log-level warning wsgi:app
wait_http "http://127.0.0.1:$PORT/health/ready"
run_wrk list_gunicorn_gthread "http://127.0.0.1:$PORT/api/products?limit=20"
stop_server

# -- baseline: Flask's development server, hard-coded list -----------------------------------
BPORT="$(free_port)"
start_server baseline PORT="$BPORT" "$PY" bench/naive_app.py
wait_http "http://127.0.0.1:$BPORT/api/products"
run_wrk baseline "http://127.0.0.1:$BPORT/api/products"
stop_server
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# -- report ------------------------------------------------------------------------------------
mkdir -p "$ROOT/bench"
"$PY" - "$RESULTS" "$OUT_JSON" "$OUT_MD" <<PY
import json, sys, datetime, platform, os
results = {r["name"]: {**r["result"], "url": r["url"], "load_before": r["load_before"]}
           for r in map(json.loads, open(sys.argv[1]))}
base, lst, item = results["baseline"], results["list"], results["item"]
ratio = lst["rps"] / base["rps"]
goal = {"list_vs_baseline_min": 3.0, "list_p99_ms_max": 50.0}
met = ratio >= goal["list_vs_baseline_min"] and lst["p99_ms"] < goal["list_p99_ms_max"]
doc = {
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                "load_avg_start": "$LOAD_START", "load_avg_end": "$LOAD_END"},
    "wrk": {"threads": $WRK_THREADS, "connections": $CONNECTIONS, "duration_s": $DURATION},
    "server": {"name": "granian", "workers": $WORKERS, "threads_per_worker": $THREADS},
    "products": $PRODUCTS,
    "load": json.loads('$LOAD_JSON'),
    "results": results,
    "list_vs_baseline": round(ratio, 2),
    "goal": goal,
    "goal_met": met,
}
json.dump(doc, open(sys.argv[2], "w"), indent=2)
open(sys.argv[2], "a").write("\n")

rows = [
    ("baseline", "Flask dev server, hard-coded 2-item list", "GET /api/products"),
    ("list", "granian + PostgreSQL, list cache on", "GET /api/products?limit=20"),
    ("item", "granian + PostgreSQL", "GET /api/products/<random id>"),
    ("list_random_pages", f"granian, {$PRODUCTS // 20} different pages", "GET /api/products?limit=20&offset=<random>"),
    ("list_no_cache", "granian, list cache off", "GET /api/products?limit=20"),
    ("list_gunicorn_gthread", f"gunicorn gthread ({doc['server']['workers']} workers x 4 threads, pool 4), cache on", "GET /api/products?limit=20"),
]
lines = [
    "# Product-catalog API benchmark",
    "",
    "Written by \`scripts/bench-app.sh\` (do not edit by hand). "
    f"{doc['date']}, {doc['machine']['cpus']} CPUs, Python {doc['machine']['python']}; "
    f"wrk and every server on the same machine; wrk -t{$WRK_THREADS} -c{$CONNECTIONS}, "
    f"{$DURATION} s per row after a 2 s warm-up. "
    f"{$PRODUCTS} products loaded through POST /api/products in {doc['load']['seconds']} s "
    f"({doc['load']['rps']} writes/s). Production server: granian, {doc['server']['workers']} "
    f"workers x {doc['server']['threads_per_worker']} threads. "
    f"1-minute load average at start/end: {doc['machine']['load_avg_start']} / {doc['machine']['load_avg_end']} "
    "(other work on the machine shows up in the tail latencies).",
    "",
    "| run | what | request | req/s | p50 ms | p90 ms | p99 ms | errors |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for key, what, req in rows:
    r = results[key]
    lines.append(f"| {key} | {what} | \`{req}\` | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                 f"{r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['socket_errors'] + r['non_2xx']} |")
lines += [
    "",
    f"**List vs baseline: {ratio:.2f}x** (goal >= 3x) with list p99 {lst['p99_ms']:.1f} ms "
    f"(goal < 50 ms): **{'met' if met else 'NOT met'}**. Item: {item['rps']:.0f} req/s, "
    f"p99 {item['p99_ms']:.1f} ms.",
    "",
]
open(sys.argv[3], "w").write("\n".join(lines))
print("\n".join(lines))
PY
log "wrote $OUT_MD and $OUT_JSON"
