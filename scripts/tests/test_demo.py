"""scripts/demo.sh leaves nothing behind: no emulator, no proxy, no files.

The demo is run for real (it builds provision if needed, starts moto and the
proxy, runs plan/up/status/down); the pids it reports are then checked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"emulator ready \(moto pid (\d+), proxy pid (\d+)\)")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def start(tmp_path: Path, suffix: str) -> subprocess.Popen[str]:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.Popen(
        ["bash", str(ROOT / "scripts/demo.sh"), suffix],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen[str], lines: list[str]) -> tuple[int, int]:
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        m = READY.search(line)
        if m:
            return int(m.group(1)), int(m.group(2))
    pytest.fail("the demo never said the emulator was ready:\n" + "".join(lines[-40:]))


def assert_nothing_left(tmp_path: Path, pids: tuple[int, int]) -> None:
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "emulator or proxy still running"
    assert list(tmp_path.iterdir()) == [], "temporary files left behind"


def test_a_demo_run_stops_what_it_started_and_removes_its_files(tmp_path: Path) -> None:
    proc = start(tmp_path, "demot1")
    lines: list[str] = []
    pids = wait_ready(proc, lines)
    assert all(alive(p) for p in pids)
    assert proc.stderr is not None
    lines.extend(proc.stderr)
    assert proc.wait(timeout=600) == 0, "".join(lines[-40:])
    assert_nothing_left(tmp_path, pids)


def test_ctrl_c_during_the_demo_still_cleans_up(tmp_path: Path) -> None:
    proc = start(tmp_path, "demot2")
    pids = wait_ready(proc, [])
    # Ctrl-C on a terminal signals the whole foreground process group.
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) != 0
    assert_nothing_left(tmp_path, pids)
