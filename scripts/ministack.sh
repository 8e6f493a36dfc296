#!/usr/bin/env bash
# Manage a local MiniStack server (a second, independent AWS API emulator,
# MIT licensed, from PyPI) for the edge family's tests (tests/edge_ministack.rs).
# See scripts/MINISTACK_NOTES.md for what it implements.
#
# Usage: scripts/ministack.sh start|stop|restart|status|env|url|reset|install|logs
#
#   install   create/refresh the project-local virtualenv <repo>/.venv-ministack
#             from scripts/requirements-ministack.txt (done automatically by start)
#   start     start MiniStack on 127.0.0.1 on a free port (no-op if running)
#   stop      stop the server started by `start` (by its recorded PID)
#   restart   stop, then start
#   status    print state; exit 0 when running, 3 when not
#   env       print `export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=...` for eval
#   url       print the endpoint URL only
#   reset     wipe all state (POST /_ministack/reset)
#   logs      print the server log
#
# The server binds 127.0.0.1 only (BIND_HOST; MiniStack's own default is
# 0.0.0.0), has no Docker (DOCKER_HOST names a socket that does not exist, and
# the docker package is not installed), no IoT mTLS or SFTP listener, no init
# scripts, and keeps its temporary files under the run directory.
#
# Environment:
#   MINISTACK_INSTANCE      instance name (default "default"); each name has its
#                           own pid/port/log files, so several servers can run
#   PROVISION_RUN_DIR       where pid/port/log files live (default <repo>/.run)
#   MINISTACK_PORT          port to use instead of a free one (start only)
#   MINISTACK_VENV          virtualenv path (default <repo>/.venv-ministack)
#   MINISTACK_PYTHON        interpreter used to create the venv (default python3)
#   MINISTACK_START_TIMEOUT seconds to wait for the server to answer (default 60)
#   AWS_REGION              region printed by `env` (default ap-southeast-2)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd -P)"
REQUIREMENTS="${SCRIPT_DIR}/requirements-ministack.txt"
VENV="${MINISTACK_VENV:-${REPO_ROOT}/.venv-ministack}"
PYTHON_BOOTSTRAP="${MINISTACK_PYTHON:-python3}"
RUN_DIR="${PROVISION_RUN_DIR:-${REPO_ROOT}/.run}"
INSTANCE="${MINISTACK_INSTANCE:-default}"
START_TIMEOUT="${MINISTACK_START_TIMEOUT:-60}"
REGION="${AWS_REGION:-ap-southeast-2}"

if [[ ! "${INSTANCE}" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    echo "ministack.sh: invalid MINISTACK_INSTANCE '${INSTANCE}' (use letters, digits, _ . -)" >&2
    exit 2
fi

PID_FILE="${RUN_DIR}/ministack-${INSTANCE}.pid"
PORT_FILE="${RUN_DIR}/ministack-${INSTANCE}.port"
LOG_FILE="${RUN_DIR}/ministack-${INSTANCE}.log"
LOCK_FILE="${RUN_DIR}/ministack-${INSTANCE}.lock"
TMP_DIR="${RUN_DIR}/ministack-${INSTANCE}.tmp"

msg() { echo "ministack.sh[${INSTANCE}]: $*" >&2; }
die() { msg "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# What a running server's command line contains (guards against PID reuse).
PROCESS_PATTERN="ministack"
# shellcheck source=scripts/emulator_common.sh
source "${SCRIPT_DIR}/emulator_common.sh"

# ---------------------------------------------------------------- venv ------
venv_ready() {
    local stamp="${VENV}/.requirements.sha256"
    [[ -x "${VENV}/bin/ministack" && -f "${stamp}" ]] || return 1
    [[ "$(cat "${stamp}")" == "$(sha256sum "${REQUIREMENTS}" | cut -d' ' -f1)" ]]
}

do_install() {
    [[ -f "${REQUIREMENTS}" ]] || die "missing ${REQUIREMENTS}"
    mkdir -p "$(dirname -- "${VENV}")"
    # Serialise installs across parallel callers (several instances).
    exec 8>"${VENV}.install.lock"
    flock -w 900 8 || die "timed out waiting for another install of ${VENV}"
    if venv_ready; then
        flock -u 8
        return 0
    fi
    command -v "${PYTHON_BOOTSTRAP}" >/dev/null || die "${PYTHON_BOOTSTRAP} not found"
    msg "installing ministack into ${VENV} (pinned by ${REQUIREMENTS#"${REPO_ROOT}/"}) ..."
    if [[ ! -x "${VENV}/bin/python" ]]; then
        "${PYTHON_BOOTSTRAP}" -m venv "${VENV}" || die "could not create virtualenv ${VENV} (is python3-venv installed?)"
    fi
    # --no-deps: the requirements file is the whole pinned closure.
    "${VENV}/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps \
        -r "${REQUIREMENTS}" || die "pip install -r ${REQUIREMENTS} failed"
    sha256sum "${REQUIREMENTS}" | cut -d' ' -f1 >"${VENV}/.requirements.sha256"
    msg "installed ministack $("${VENV}/bin/python" -c 'import importlib.metadata as m; print(m.version("ministack"))')"
    flock -u 8
}

# -------------------------------------------------------------- helpers -----

# True when MiniStack answers its health check on the port.
answers() {
    local port="$1"
    curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:${port}/_ministack/health"
}

# ---------------------------------------------------------------- start -----
do_start() {
    mkdir -p "${RUN_DIR}"
    exec 9>"${LOCK_FILE}"
    flock -w 300 9 || die "timed out waiting for ${LOCK_FILE}"

    if is_running; then
        if answers "$(read_port)"; then
            msg "already running (pid $(read_pid)) at $(url)"
            url
            return 0
        fi
        msg "process $(read_pid) is alive but not answering; restarting it"
        stop_pid "$(read_pid)"
    fi
    clear_state

    do_install

    local attempt port pid deadline
    for attempt in 1 2 3; do
        port="${MINISTACK_PORT:-$(free_port)}"
        if ! port_is_free "${port}"; then
            if [[ -n "${MINISTACK_PORT:-}" ]]; then
                die "MINISTACK_PORT=${port} is already in use on 127.0.0.1"
            fi
            continue
        fi
        rm -rf "${TMP_DIR}"
        mkdir -p "${TMP_DIR}"
        msg "starting ministack on 127.0.0.1:${port} (log: ${LOG_FILE})"
        # env -i: nothing of the caller's environment (no AWS_ENDPOINT_URL,
        # credentials or DOCKER_HOST of the caller) reaches the server.
        # setsid: own session, so the caller's Ctrl-C / job control does not hit it.
        env -i PATH="${PATH}" HOME="${TMP_DIR}" TMPDIR="${TMP_DIR}" LANG=C.UTF-8 \
            BIND_HOST=127.0.0.1 GATEWAY_PORT="${port}" \
            MINISTACK_HOST=127.0.0.1 \
            MINISTACK_REGION="${REGION}" \
            DOCKER_HOST="unix://${TMP_DIR}/no-docker.sock" \
            IOT_MTLS_ENABLED=0 SFTP_ENABLED=0 \
            PERSIST_STATE=0 S3_PERSIST=0 \
            STATE_DIR="${TMP_DIR}/state" S3_DATA_DIR="${TMP_DIR}/s3" \
            LOG_LEVEL="${MINISTACK_LOG_LEVEL:-INFO}" \
            setsid "${VENV}/bin/ministack" \
            >"${LOG_FILE}" 2>&1 </dev/null 8>&- 9>&- &
        pid=$!
        echo "${pid}" >"${PID_FILE}"
        echo "${port}" >"${PORT_FILE}"

        deadline=$((SECONDS + START_TIMEOUT))
        while ((SECONDS < deadline)); do
            if ! kill -0 "${pid}" 2>/dev/null; then
                break
            fi
            if answers "${port}"; then
                msg "running (pid ${pid}) at http://127.0.0.1:${port}"
                echo "http://127.0.0.1:${port}"
                return 0
            fi
            sleep 0.2
        done
        if kill -0 "${pid}" 2>/dev/null; then
            stop_pid "${pid}"
            clear_state
            die "ministack did not answer on port ${port} within ${START_TIMEOUT}s; log: ${LOG_FILE}"
        fi
        msg "ministack exited during start-up (attempt ${attempt}); last log lines:"
        tail -n 5 "${LOG_FILE}" >&2 || true
        clear_state
        if [[ -n "${MINISTACK_PORT:-}" ]]; then break; fi
    done
    die "could not start ministack; see ${LOG_FILE}"
}

# ----------------------------------------------------------------- stop -----

do_stop() {
    mkdir -p "${RUN_DIR}"
    exec 9>"${LOCK_FILE}"
    flock -w 300 9 || die "timed out waiting for ${LOCK_FILE}"
    local pid
    pid="$(read_pid)"
    if [[ -z "${pid}" ]]; then
        msg "not running (no pid file)"
    elif is_emulator_pid "${pid}"; then
        stop_pid "${pid}"
        msg "stopped (pid ${pid})"
    else
        msg "not running (stale pid file for ${pid} removed)"
    fi
    clear_state
    rm -rf "${TMP_DIR}"
}

require_running() {
    is_running || die "not running; start it with: MINISTACK_INSTANCE=${INSTANCE} $0 start"
}

do_env() {
    require_running
    local u
    u="$(url)"
    cat <<EOF
export AWS_ENDPOINT_URL=${u} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=${REGION} AWS_DEFAULT_REGION=${REGION}
export AWS_EC2_METADATA_DISABLED=true MINISTACK_ENDPOINT_URL=${u}
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SECURITY_TOKEN
EOF
}

do_reset() {
    require_running
    curl -sf -X POST --max-time 30 "$(url)/_ministack/reset" >/dev/null || die "reset failed"
    msg "state reset at $(url)"
}

cmd="${1:-}"
case "${cmd}" in
    start) do_start ;;
    stop) do_stop ;;
    restart) do_stop; do_start ;;
    status) do_status ;;
    env) do_env ;;
    url) require_running; url ;;
    reset) do_reset ;;
    install) mkdir -p "${RUN_DIR}"; do_install; msg "venv ready: ${VENV}" ;;
    logs) if [[ -f "${LOG_FILE}" ]]; then cat "${LOG_FILE}"; else die "no log at ${LOG_FILE}"; fi ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
