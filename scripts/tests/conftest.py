"""Fixtures of the proxy tests: one moto server per session and a proxy in front of it.

moto is started with ``MOTO_INSTANCE=proxytest scripts/moto.sh start`` (and
stopped again afterwards if the session started it). Run via
``scripts/test-scripts.sh`` or ``.venv-moto/bin/python -m pytest scripts/tests``.
"""

from __future__ import annotations

import signal
import sys

import pytest
from helpers import SCRIPTS, control, moto, start_proxy

#: The shared proxy's configuration between tests (test modules run in any order).
NO_FAULTS = {
    "latency_ms": 0,
    "throttle_rate": 0,
    "throttle_operations": None,
    "fail": [],
    "realism": False,
}

# The proxy package (scripts/proxy), for the tests of its parts.
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture(scope="session")
def moto_url():
    was_running = moto("status").returncode == 0
    started = moto("start")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:")
    yield url
    if not was_running:
        moto("stop")


@pytest.fixture(scope="session")
def proxy(moto_url):
    proc, port, _ = start_proxy(moto_url)
    yield f"http://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(autouse=True)
def clean_proxy(request):
    """Every test that uses the shared proxy starts (and leaves it) with no faults on."""
    if "proxy" not in request.fixturenames:
        yield
        return
    base = request.getfixturevalue("proxy")
    control(base, "config", NO_FAULTS | {"seed": 0})
    control(base, "reset", {})
    yield
    control(base, "config", NO_FAULTS)
