"""Idempotency-Key through the production server (granian, 2 workers), its own boto3
client built from the environment (``IDEMPOTENCY_TABLE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``), against this run's moto server; and what a replay costs.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable

import pytest
import requests

from app.idempotency import KEY_HEADER, REPLAYED_HEADER
from tests.pgproxy import free_port

pytestmark = pytest.mark.slow


def _product() -> dict:
    return {"name": "Served", "price": 3.5, "sku": "SRV-" + uuid.uuid4().hex[:12]}


def _count(db_conn, sku: str) -> int:
    return db_conn.execute("SELECT count(*) FROM products WHERE sku = %s", (sku,)).fetchone()[0]


@pytest.fixture
def server(database, app, dynamodb, start_server):  # `app` has migrated the schema
    srv = start_server(database, **dynamodb.server_env())
    srv.wait_health("/health/ready")
    return srv


def test_the_server_replays_a_retried_post(server, dynamodb, db_conn):
    info = requests.get(server.url + "/api/info", timeout=10).json()
    assert info["idempotency"] == f"dynamodb:{dynamodb.table}"
    key, body = "order-" + uuid.uuid4().hex, _product()
    first = requests.post(server.url + "/api/products", json=body, headers={KEY_HEADER: key})
    again = requests.post(server.url + "/api/products", json=body, headers={KEY_HEADER: key})
    assert first.status_code == again.status_code == 201
    assert REPLAYED_HEADER not in first.headers
    assert again.headers[REPLAYED_HEADER] == "true"
    assert (again.content, again.headers["Location"]) == (first.content, first.headers["Location"])
    assert _count(db_conn, body["sku"]) == 1
    time.sleep(0.2)  # the access lines are flushed per request; let them land
    outcomes = [
        line.get("idempotency")
        for line in map(json.loads, server.logs().splitlines())
        if line.get("logger") == "app.access" and line.get("method") == "POST"
    ]
    assert outcomes[-2:] == ["stored", "replayed"]


def test_one_key_sent_by_many_connections_at_once_makes_one_product(server, db_conn):
    key, body = uuid.uuid4().hex, _product()
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []

    def send() -> None:
        barrier.wait()
        answers.append(
            requests.post(
                server.url + "/api/products", json=body, headers={KEY_HEADER: key}, timeout=30
            )
        )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 8
    fresh = [a for a in answers if a.status_code == 201 and REPLAYED_HEADER not in a.headers]
    assert len(fresh) == 1
    for a in answers:
        assert a.status_code in (201, 409), a.text
        if a.status_code == 409:
            assert a.json()["error"] == "idempotency_key_in_use"
            assert a.headers["Retry-After"] == "1"
    assert _count(db_conn, body["sku"]) == 1


def test_the_server_answers_503_fast_when_the_store_is_unreachable(
    database, app, dynamodb, start_server, db_conn
):
    dead = f"http://127.0.0.1:{free_port()}"
    srv = start_server(database, **dynamodb.server_env(url=dead))
    srv.wait_health("/health/ready")
    body = _product()
    started = time.monotonic()
    resp = requests.post(
        srv.url + "/api/products", json=body, headers={KEY_HEADER: uuid.uuid4().hex}, timeout=30
    )
    assert time.monotonic() - started < 5
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "3"  # RETRY_AFTER_SECONDS of the tests' servers
    assert _count(db_conn, body["sku"]) == 0
    assert requests.post(srv.url + "/api/products", json=body, timeout=10).status_code == 201


# -- what a replay costs ------------------------------------------------------------
def _timed(n: int, call: Callable[[int], requests.Response], expect: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        resp = call(i)
        times.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == expect, resp.text
    return times


def _row(name: str, times: list[float]) -> str:
    q = statistics.quantiles(times, n=100)
    return (
        f"{name:<44} {statistics.median(times):7.2f} {q[89]:7.2f} {q[98]:7.2f} "
        f"{statistics.fmean(times):7.2f}"
    )


def test_replay_latency_figures(server, dynamodb, capsys):
    """Prints what a keyed write and a replay cost against the local stack (no
    assertion on the figures: they depend on the machine)."""
    n = 300
    http = requests.Session()  # keep-alive, as a client retrying would
    url = server.url + "/api/products"
    replay_body = _product()
    replay_key = uuid.uuid4().hex
    assert http.post(url, json=replay_body, headers={KEY_HEADER: replay_key}).status_code == 201
    product_url = server.url + http.post(url, json=_product()).headers["Location"]
    store = dynamodb.client()
    for _ in range(20):  # warm both workers' pools and clients
        http.post(url, json=_product(), headers={KEY_HEADER: uuid.uuid4().hex})
        http.get(product_url)

    runs = {
        "GET /api/products/<id> (reference)": (lambda i: http.get(product_url), 200),
        "POST without a key": (lambda i: http.post(url, json=_product()), 201),
        "POST with a new key (PutItem + UpdateItem)": (
            lambda i: http.post(url, json=_product(), headers={KEY_HEADER: uuid.uuid4().hex}),
            201,
        ),
        "POST replayed (one PutItem, no SQL)": (
            lambda i: http.post(url, json=replay_body, headers={KEY_HEADER: replay_key}),
            201,
        ),
    }
    figures = {name: _timed(n, call, status) for name, (call, status) in runs.items()}
    raw = []
    for _ in range(n):
        started = time.perf_counter()
        store.get_item(TableName=dynamodb.table, Key={"pk": {"S": replay_key}})
        raw.append((time.perf_counter() - started) * 1000)
    figures["one GetItem from the test (moto, for scale)"] = raw
    with capsys.disabled():
        print(f"\n\nIdempotency-Key latency, ms, {n} sequential requests each (local stack)")
        print(f"{'':<44} {'p50':>7} {'p90':>7} {'p99':>7} {'mean':>7}")
        for name, times in figures.items():
            print(_row(name, times))
