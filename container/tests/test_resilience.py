"""The database goes away and comes back (for real, through a TCP proxy): 503s, then recovery."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import (
    CANARY_PASSWORD,
    PG_HOST,
    PG_PORT,
    create_database,
    drop_database,
    new_db_name,
)
from tests.pgproxy import PgProxy


def wait_for(fn, timeout=30.0, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


def assert_unavailable(resp):
    assert resp.status_code == 503, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Retry-After"].isdigit()
    body = resp.json()
    assert body["error"] in ("service_unavailable", "not_ready")
    assert body["detail"]
    assert CANARY_PASSWORD not in resp.text


@pytest.fixture
def proxy():
    p = PgProxy(PG_HOST, PG_PORT)
    yield p
    p.stop()


def test_starts_without_database_then_recovers(scratch_database, start_server, proxy):
    # The proxy is not listening yet: the database is "down" at start-up.
    srv = start_server(scratch_database, DB_HOST="127.0.0.1", DB_PORT=str(proxy.port))
    srv.wait_health("/health")
    assert_unavailable(requests.get(srv.url + "/health/ready", timeout=10))
    assert_unavailable(requests.get(srv.url + "/api/products", timeout=10))
    assert_unavailable(
        requests.post(
            srv.url + "/api/products", json={"name": "n", "price": 1, "sku": "s"}, timeout=10
        )
    )
    assert requests.get(srv.url + "/health", timeout=5).status_code == 200

    proxy.start()  # the database comes up
    srv.wait_health("/health/ready", timeout=30)
    resp = requests.post(
        srv.url + "/api/products", json={"name": "After", "price": 1, "sku": "UP-1"}, timeout=10
    )
    assert resp.status_code == 201
    assert requests.get(srv.url + "/api/products", timeout=10).json()["count"] == 1

    # It goes away again (connections cut) ...
    proxy.stop()
    assert_unavailable(requests.get(srv.url + "/api/products", timeout=10))
    assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    # ... and comes back: recovery without a restart.
    proxy.start()
    wait_for(lambda: requests.get(srv.url + "/api/products", timeout=10).status_code == 200)
    assert srv.stop() == 0


def test_database_restart_is_invisible_to_reads_and_writes(database, app, start_server, proxy):
    proxy.start()
    srv = start_server(database, DB_HOST="127.0.0.1", DB_PORT=str(proxy.port))
    srv.wait_health("/health/ready")
    session = requests.Session()
    for _ in range(20):  # warm every worker's pool
        assert session.get(srv.url + "/api/products?limit=1", timeout=10).status_code == 200
    # A quick restart: every pooled connection dies, the server is back at once.
    proxy.stop()
    proxy.start()
    statuses = [
        session.get(srv.url + "/api/products?limit=1", timeout=10).status_code for _ in range(10)
    ]
    assert statuses == [200] * 10
    proxy.stop()
    proxy.start()
    resp = session.post(
        srv.url + "/api/products",
        timeout=10,
        json={"name": "w", "price": 1, "sku": f"RS-{time.time_ns()}"},
    )
    assert resp.status_code == 201
    assert srv.stop() == 0


def test_database_created_after_start(start_server):
    name = new_db_name("late")
    srv = start_server(name)
    try:
        srv.wait_health("/health")
        assert_unavailable(requests.get(srv.url + "/health/ready", timeout=10))
        create_database(name)
        srv.wait_health("/health/ready", timeout=30)
        assert requests.get(srv.url + "/api/products", timeout=10).status_code == 200
        assert srv.stop() == 0
    finally:
        srv.stop()
        drop_database(name)
