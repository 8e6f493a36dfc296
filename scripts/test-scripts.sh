#!/usr/bin/env bash
# Lint and test the Python/shell helpers in scripts/ (moto.sh, fault_proxy.py and
# its package proxy/, with the realism mode in proxy/realism/). Installs the
# pinned tooling into <repo>/.venv-moto first.
# Extra arguments are passed to pytest, e.g. scripts/test-scripts.sh -k throttl
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd -P)"
VENV="${MOTO_VENV:-${REPO_ROOT}/.venv-moto}"
cd "${REPO_ROOT}"

"${SCRIPT_DIR}/moto.sh" install

status=0
echo "== bash -n scripts/*.sh"
for f in "${SCRIPT_DIR}"/*.sh; do
    bash -n "${f}" || status=1
done
if command -v shellcheck >/dev/null 2>&1; then
    echo "== shellcheck"
    shellcheck "${SCRIPT_DIR}"/*.sh || status=1
fi

echo "== ruff check scripts/"
"${VENV}/bin/ruff" check --config "${SCRIPT_DIR}/ruff.toml" "${SCRIPT_DIR}" || status=1
echo "== ruff format --check scripts/"
"${VENV}/bin/ruff" format --config "${SCRIPT_DIR}/ruff.toml" --check "${SCRIPT_DIR}" || status=1

echo "== pytest scripts/tests"
"${VENV}/bin/python" -m pytest -p no:cacheprovider "${SCRIPT_DIR}/tests" "$@" || status=1

if ((status != 0)); then
    echo "test-scripts: FAILED" >&2
else
    echo "test-scripts: all checks passed"
fi
exit "${status}"
