"""The real production server (the Dockerfile's CMD, run from container/) end to end."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import psycopg
import pytest
import requests

from tests.conftest import CANARY_PASSWORD, PG_HOST, PG_PORT, PG_USER


@pytest.fixture
def server(database, app, start_server):  # `app` makes sure the schema exists
    srv = start_server(database)
    srv.wait_health("/health/ready")
    return srv


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_sigterm_finishes_in_flight_request_then_exits_0(server, database):
    created = requests.post(
        server.url + "/api/products",
        json={"name": "Locked", "price": 1, "sku": f"SIG-{time.time_ns()}"},
        timeout=10,
    ).json()
    # Hold the row lock in another session so the PATCH below is in flight (blocked
    # inside the server) when SIGTERM arrives.
    locker = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database)
    locker.execute("SELECT 1 FROM products WHERE id = %s FOR UPDATE", (created["id"],))
    result: dict = {}

    def slow_request() -> None:
        try:
            result["resp"] = requests.patch(
                f"{server.url}/api/products/{created['id']}", json={"stock": 42}, timeout=60
            )
        except Exception as exc:
            result["error"] = exc

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(1.0)
    assert "resp" not in result, "the request was supposed to be blocked"
    server.proc.terminate()  # SIGTERM
    time.sleep(1.0)
    # Stopped accepting: a new connection is refused (listener closed) ...
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/health", timeout=2)
    # ... but the in-flight request is still running; let it finish.
    assert server.proc.poll() is None
    locker.rollback()
    locker.close()
    t.join(timeout=30)
    assert "error" not in result, result.get("error")
    assert result["resp"].status_code == 200
    assert result["resp"].json()["stock"] == 42
    started = time.monotonic()
    assert server.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 15
    assert "shutdown" in server.logs().lower()


def test_idle_server_exits_promptly_on_sigterm(server):
    requests.get(server.url + "/api/products", timeout=5)  # leave a kept-alive connection
    started = time.monotonic()
    server.proc.terminate()
    assert server.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 10


def test_logs_are_json_with_request_ids_and_no_secrets(server):
    requests.get(
        server.url + "/api/products?limit=2", headers={"X-Request-Id": "req-42"}, timeout=5
    )
    requests.get(server.url + "/missing", timeout=5)
    requests.post(
        server.url + "/api/products",
        data="{oops",
        timeout=5,
        headers={"Content-Type": "application/json"},
    )
    info = requests.get(server.url + "/api/info", timeout=5)
    assert CANARY_PASSWORD not in info.text
    time.sleep(0.5)
    server.stop()
    text = server.logs()
    assert CANARY_PASSWORD not in text
    entries = _json_lines(text)  # every line parses as JSON
    access = [e for e in entries if e.get("logger") == "app.access"]
    mine = [e for e in access if e.get("request_id") == "req-42"]
    assert len(mine) == 1
    assert mine[0]["status"] == 200
    assert mine[0]["path"] == "/api/products"
    assert mine[0]["duration_ms"] >= 0
    assert {e["status"] for e in access} >= {200, 400, 404}
    assert any(e.get("logger") == "_granian" for e in entries)  # the server logs JSON too


def test_password_never_logged_even_when_the_database_refuses(database, start_server):
    # A wrong database name makes every connection attempt fail and get logged.
    srv = start_server(database + "_missing")
    srv.wait_health("/health")
    resp = requests.get(srv.url + "/health/ready", timeout=10)
    assert resp.status_code == 503
    assert CANARY_PASSWORD not in resp.text
    time.sleep(1)
    srv.stop()
    text = srv.logs()
    assert "does not exist" in text  # the failures were logged ...
    assert CANARY_PASSWORD not in text  # ... without the secret


def test_chunked_body_over_one_mib_is_413(server):
    def chunks():
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    resp = requests.post(
        server.url + "/api/products",
        data=chunks(),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"


def test_declared_length_over_one_mib_is_413(server):
    resp = requests.post(
        server.url + "/api/products",
        data=b"x" * (1024 * 1024 + 1),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/json"


def test_garbage_http_never_yields_html(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"GET /api/products HTTP/1.1\r\nHost: x\r\n\r\n")
        head = s.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 200")
    assert "application/json" in head
    resp = requests.request("BREW", server.url + "/api/products", timeout=5)
    assert resp.status_code == 405
    assert resp.json()["error"] == "method_not_allowed"


def test_chunked_body_under_the_limit_is_read_whole(server):
    sku = f"CH-{time.time_ns()}"
    payload = json.dumps({"name": "chunky", "price": 1, "sku": sku, "description": "d" * 900_000})

    def chunks():
        data = payload.encode()
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    resp = requests.post(
        server.url + "/api/products",
        data=chunks(),
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422  # description is over 5000 characters: parsed whole
    assert resp.json()["fields"][0]["field"] == "description"


def test_long_query_strings_reach_the_app_and_get_json(server):
    resp = requests.get(server.url + "/api/products?q=" + "x" * 9000, timeout=5)
    assert resp.status_code == 422
    assert resp.json()["fields"][0]["field"] == "q"


def test_server_stays_up_after_protocol_garbage(server):
    for garbage in (b"GET /health HTTP/1.1\r\nHost x\r\n\r\n", b"\x16\x03\x01garbage\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(garbage)
            with contextlib.suppress(OSError):
                raw = s.recv(65536).decode("latin-1")
                assert not raw or raw.startswith("HTTP/1.1 4")
                assert "<html" not in raw.lower()
    assert requests.get(server.url + "/health", timeout=5).status_code == 200


def test_idle_keepalive_connections_do_not_starve_new_ones(server):
    # A load balancer keeps many idle keep-alive connections open to each target.
    idle = []
    try:
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            idle.append(s)  # left open and idle
        assert requests.get(server.url + "/api/products?limit=1", timeout=5).status_code == 200
    finally:
        for s in idle:
            s.close()
