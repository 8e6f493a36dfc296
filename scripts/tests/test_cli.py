"""The proxy as a process: its command line, signals, ``--exit-with-parent`` and
what it says without cbor2.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers import PROXY, client, error_of, run_proxy, start_proxy


# ---------------------------------------------------------------- process ---
def test_sigterm_exits_cleanly_and_removes_port_file(moto_url):
    proc, port, port_file = start_proxy(moto_url, "--latency-ms", "5")
    client(f"http://127.0.0.1:{port}", "sts").get_caller_identity()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not port_file.exists()
    out = proc.stdout.read() if proc.stdout else ""
    assert f"listening on http://127.0.0.1:{port}" in out


def test_refuses_non_loopback_upstream():
    proc = run_proxy("--upstream", "http://10.1.2.3:5000")
    assert proc.returncode == 2
    assert "loopback" in proc.stderr


def test_cli_fail_rules_and_bad_rules(moto_url):
    proc, port, _ = start_proxy(moto_url, "--fail", "GetCallerIdentity:1:Throttling")
    try:
        sts = client(f"http://127.0.0.1:{port}", "sts")
        assert error_of(sts.get_caller_identity) == ("Throttling", 400)
        sts.get_caller_identity()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    bad = run_proxy("--upstream", moto_url, "--fail", "Nope")
    assert bad.returncode == 2


def test_exit_with_parent_stops_the_proxy(moto_url):
    # A parent shell starts the proxy and exits; the proxy must follow.
    script = (
        f"{sys.executable} {PROXY} --upstream {moto_url} --port 0 --exit-with-parent "
        ">/dev/null 2>&1 & echo $!; sleep 2"
    )
    pid = int(
        subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the proxy outlived its parent")


def test_proxy_without_cbor2_says_so(moto_url):
    # Run the proxy with cbor2 hidden, as a python3 without the venv would.
    code = (
        "import runpy, sys; sys.modules['cbor2'] = None; "
        f"sys.argv = ['fault_proxy.py', '--upstream', {moto_url!r}]; "
        f"sys.exit(runpy.run_path({str(PROXY)!r}, run_name='__main__'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 2
    assert "cbor2" in proc.stderr
    assert ".venv-moto/bin/python" in proc.stderr
