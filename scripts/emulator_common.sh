# shellcheck shell=bash
# Shared by scripts/moto.sh and scripts/ministack.sh (sourced, not run):
# the pid/port files of one emulator instance, free ports, stopping and
# status. The sourcing script sets PID_FILE, PORT_FILE, INSTANCE,
# PYTHON_BOOTSTRAP, PROCESS_PATTERN and defines msg() and answers().

read_pid()  { if [[ -f "${PID_FILE}" ]]; then tr -dc '0-9' <"${PID_FILE}"; fi; }
read_port() { if [[ -f "${PORT_FILE}" ]]; then tr -dc '0-9' <"${PORT_FILE}"; fi; }

# True when PID is alive and really is this emulator (guards against PID reuse).
is_emulator_pid() {
    local pid="$1"
    [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null || return 1
    [[ -r "/proc/${pid}/cmdline" ]] || return 0
    tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q "${PROCESS_PATTERN}"
}

is_running() {
    local pid port
    pid="$(read_pid)"; port="$(read_port)"
    [[ -n "${port}" ]] && is_emulator_pid "${pid}"
}

free_port() {
    "${PYTHON_BOOTSTRAP}" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

port_is_free() {
    "${PYTHON_BOOTSTRAP}" - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

url() { echo "http://127.0.0.1:$(read_port)"; }

clear_state() { rm -f "${PID_FILE}" "${PORT_FILE}"; }

stop_pid() {
    local pid="$1"
    kill -TERM "${pid}" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "${pid}" 2>/dev/null || return 0
        sleep 0.1
    done
    msg "pid ${pid} ignored SIGTERM; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
}

do_status() {
    if is_running; then
        if answers "$(read_port)"; then
            echo "running pid=$(read_pid) url=$(url) instance=${INSTANCE}"
            return 0
        fi
        echo "unresponsive pid=$(read_pid) url=$(url) instance=${INSTANCE}"
        return 1
    fi
    echo "stopped instance=${INSTANCE}"
    return 3
}
