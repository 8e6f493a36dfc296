#!/usr/bin/env bash
# Manage a local moto_server (AWS API emulator) for the provision tests.
#
# Usage: scripts/moto.sh start|stop|restart|status|env|url|reset|install|logs
#
#   install   create/refresh the project-local virtualenv <repo>/.venv-moto from
#             scripts/requirements-moto.txt (done automatically by start)
#   start     start moto_server on 127.0.0.1 on a free port (no-op if running)
#   stop      stop the server started by `start` (by its recorded PID)
#   restart   stop, then start
#   status    print state; exit 0 when running, 3 when not
#   env       print `export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=...` for eval
#   url       print the endpoint URL only
#   reset     wipe all moto state (POST /moto-api/reset)
#   logs      print the server log
#
# Environment:
#   MOTO_INSTANCE      instance name (default "default"); each name has its own
#                      pid/port/log files, so several servers can run in parallel
#   PROVISION_RUN_DIR  where pid/port/log files live (default <repo>/.run)
#   MOTO_PORT          port to use instead of a free one (start only)
#   MOTO_VENV          virtualenv path (default <repo>/.venv-moto)
#   MOTO_PYTHON        interpreter used to create the venv (default python3)
#   MOTO_START_TIMEOUT seconds to wait for the server to answer (default 60)
#   AWS_REGION         region printed by `env` (default ap-southeast-2)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd -P)"
REQUIREMENTS="${SCRIPT_DIR}/requirements-moto.txt"
VENV="${MOTO_VENV:-${REPO_ROOT}/.venv-moto}"
PYTHON_BOOTSTRAP="${MOTO_PYTHON:-python3}"
RUN_DIR="${PROVISION_RUN_DIR:-${REPO_ROOT}/.run}"
INSTANCE="${MOTO_INSTANCE:-default}"
START_TIMEOUT="${MOTO_START_TIMEOUT:-60}"
REGION="${AWS_REGION:-ap-southeast-2}"

if [[ ! "${INSTANCE}" =~ ^[A-Za-z0-9_.-]+$ ]]; then
    echo "moto.sh: invalid MOTO_INSTANCE '${INSTANCE}' (use letters, digits, _ . -)" >&2
    exit 2
fi

PID_FILE="${RUN_DIR}/moto-${INSTANCE}.pid"
PORT_FILE="${RUN_DIR}/moto-${INSTANCE}.port"
LOG_FILE="${RUN_DIR}/moto-${INSTANCE}.log"
LOCK_FILE="${RUN_DIR}/moto-${INSTANCE}.lock"

msg() { echo "moto.sh[${INSTANCE}]: $*" >&2; }
die() { msg "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

# What a running server's command line contains (guards against PID reuse).
PROCESS_PATTERN="moto_server"
# shellcheck source=scripts/emulator_common.sh
source "${SCRIPT_DIR}/emulator_common.sh"

# ---------------------------------------------------------------- venv ------
venv_ready() {
    local stamp="${VENV}/.requirements.sha256"
    [[ -x "${VENV}/bin/moto_server" && -f "${stamp}" ]] || return 1
    [[ "$(cat "${stamp}")" == "$(sha256sum "${REQUIREMENTS}" | cut -d' ' -f1)" ]]
}

do_install() {
    [[ -f "${REQUIREMENTS}" ]] || die "missing ${REQUIREMENTS}"
    mkdir -p "$(dirname -- "${VENV}")"
    # Serialise installs across parallel callers (several MOTO_INSTANCEs).
    exec 8>"${VENV}.install.lock"
    flock -w 900 8 || die "timed out waiting for another install of ${VENV}"
    if venv_ready; then
        flock -u 8
        return 0
    fi
    command -v "${PYTHON_BOOTSTRAP}" >/dev/null || die "${PYTHON_BOOTSTRAP} not found"
    msg "installing moto into ${VENV} (pinned by ${REQUIREMENTS#"${REPO_ROOT}/"}) ..."
    if [[ ! -x "${VENV}/bin/python" ]]; then
        "${PYTHON_BOOTSTRAP}" -m venv "${VENV}" || die "could not create virtualenv ${VENV} (is python3-venv installed?)"
    fi
    "${VENV}/bin/python" -m pip install --disable-pip-version-check --quiet \
        -r "${REQUIREMENTS}" || die "pip install -r ${REQUIREMENTS} failed"
    sha256sum "${REQUIREMENTS}" | cut -d' ' -f1 >"${VENV}/.requirements.sha256"
    msg "installed $("${VENV}/bin/python" -c 'import moto; print("moto", moto.__version__)')"
    flock -u 8
}

# -------------------------------------------------------------- helpers -----

# True when something answers HTTP on the port.
answers() {
    local port="$1"
    curl -s -o /dev/null --max-time 5 "http://127.0.0.1:${port}/moto-api/"
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
        port="${MOTO_PORT:-$(free_port)}"
        if ! port_is_free "${port}"; then
            if [[ -n "${MOTO_PORT:-}" ]]; then
                die "MOTO_PORT=${port} is already in use on 127.0.0.1"
            fi
            continue
        fi
        msg "starting moto_server on 127.0.0.1:${port} (log: ${LOG_FILE})"
        # setsid: own session, so the caller's Ctrl-C / job control does not hit it.
        MOTO_IAM_LOAD_MANAGED_POLICIES=true \
        MOTO_ECS_SERVICE_RUNNING="${MOTO_ECS_SERVICE_RUNNING:-2}" \
        AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
        AWS_DEFAULT_REGION="${REGION}" \
            setsid "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${port}" \
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
            die "moto_server did not answer on port ${port} within ${START_TIMEOUT}s; log: ${LOG_FILE}"
        fi
        msg "moto_server exited during start-up (attempt ${attempt}); last log lines:"
        tail -n 5 "${LOG_FILE}" >&2 || true
        clear_state
        if [[ -n "${MOTO_PORT:-}" ]]; then break; fi
    done
    die "could not start moto_server; see ${LOG_FILE}"
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
}

require_running() {
    is_running || die "not running; start it with: MOTO_INSTANCE=${INSTANCE} $0 start"
}

do_env() {
    require_running
    local u
    u="$(url)"
    cat <<EOF
export AWS_ENDPOINT_URL=${u} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=${REGION} AWS_DEFAULT_REGION=${REGION}
export AWS_EC2_METADATA_DISABLED=true MOTO_ENDPOINT_URL=${u}
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SECURITY_TOKEN
EOF
}

do_reset() {
    require_running
    curl -sf -X POST --max-time 30 "$(url)/moto-api/reset" >/dev/null || die "reset failed"
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
