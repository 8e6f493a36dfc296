#!/usr/bin/env bash
# Runs the crate's already-built test binaries side by side, as many at once
# as PROVISION_TEST_JOBS (default 3), longest first, and reports each one:
# the integration tests spend most of their time waiting on the emulator
# (the proxy's AWS-realism mode holds new resources pending), so on 2 cores
# three binaries at a time take about half as long as one after another.
# Each binary keeps its own moto instance (edge_ministack its own MiniStack,
# which it starts and stops); within a binary cargo's usual test threads
# apply. Every binary runs to the end; the exit code is 1 if any failed, and
# the failed ones' output is printed.
#
#   scripts/run-test-binaries.sh FILE    FILE: `cargo test --no-run --message-format=json` output
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
jobs_max="${PROVISION_TEST_JOBS:-3}"
logs="$ROOT/.run/test-logs"
rm -rf "$logs"
mkdir -p "$logs"

# name<TAB>executable for every test harness cargo built, longest first.
mapfile -t bins < <(python3 - "$1" <<'EOF'
import json, sys
order = ["stress", "network", "team", "data_layer", "day2", "compute_layer", "simulated_clock", "edge_ministack"]
found = []
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    t = m["target"]
    name = t["name"] if "test" in t["kind"] else f"{t['kind'][0]}-{t['name']}"
    found.append((name, m["executable"]))
found.sort(key=lambda nb: order.index(nb[0]) if nb[0] in order else len(order))
for name, exe in found:
    print(f"{name}\t{exe}")
EOF
)

run_one() {
    local name="$1" exe="$2" start
    start=$(date +%s)
    set +e
    "$exe" >"$logs/$name.log" 2>&1
    echo "$? $(($(date +%s) - start))" >"$logs/$name.rc"
}

for entry in "${bins[@]}"; do
    name="${entry%%$'\t'*}"
    exe="${entry#*$'\t'}"
    while (($(jobs -rp | wc -l) >= jobs_max)); do
        wait -n || true
    done
    printf '    started %s\n' "$name" >&2
    run_one "$name" "$exe" &
done
wait || true

failed=0
for entry in "${bins[@]}"; do
    name="${entry%%$'\t'*}"
    read -r rc secs <"$logs/$name.rc"
    result="$(grep -E '^test result:' "$logs/$name.log" | tail -1 || true)"
    printf '    %-22s %4ss  %s\n' "$name" "$secs" "${result:-no result (exit $rc)}" >&2
    if [[ "$rc" != 0 ]]; then
        failed=1
        printf '\n---- %s (exit %s): failures\n' "$name" "$rc" >&2
        sed -n '/^failures:/,$p' "$logs/$name.log" | head -200 >&2
    fi
done
exit "$failed"
