"""Idempotency-Key on the writes, against the real PostgreSQL and a DynamoDB endpoint.

The store is this run's moto server (the ``dynamodb`` fixture); the apps run in
process. tests/test_idempotency_server.py has the production server's side.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import EndpointConnectionError

from app import products
from app.errors import DatabaseUnavailable
from app.factory import create_app
from app.idempotency import KEY_HEADER, REPLAYED_HEADER, RESPONSE_TTL_SECONDS
from tests.conftest import close_app, make_settings
from tests.pgproxy import free_port

REPLAYED = REPLAYED_HEADER


def new_key() -> str:
    return "k-" + uuid.uuid4().hex


def new_product(**fields) -> dict:
    return {"name": "Retried", "price": 12.5, "sku": "IDEM-" + uuid.uuid4().hex[:12], **fields}


def keyed(key: str) -> dict[str, str]:
    return {KEY_HEADER: key}


def count(db_conn, sku: str) -> int:
    return db_conn.execute("SELECT count(*) FROM products WHERE sku = %s", (sku,)).fetchone()[0]


def catalog_version(db_conn) -> int:
    return db_conn.execute("SELECT version FROM catalog_state WHERE id = 1").fetchone()[0]


@pytest.fixture
def client(idem_app):
    return idem_app.test_client()


@pytest.fixture
def product(client) -> dict:
    made = client.post("/api/products", json=new_product())
    assert made.status_code == 201
    return made.json


@pytest.fixture
def other_app(database, dynamodb) -> Iterator:
    """More apps on the same database, each with its own DynamoDB client."""
    apps = []

    def _make(idempotency_client):
        app = create_app(
            make_settings(database, idempotency_table=dynamodb.table),
            idempotency_client=idempotency_client,
        )
        app.config["TESTING"] = True
        assert app.extensions["catalog.db"].wait_schema(30)
        apps.append(app)
        return app.test_client()

    yield _make
    for app in apps:
        close_app(app)


# -- what the service says ------------------------------------------------------------
def test_info_names_the_table_and_says_off_without_one(client, dynamodb, app):
    assert client.get("/api/info").json["idempotency"] == f"dynamodb:{dynamodb.table}"
    assert app.test_client().get("/api/info").json["idempotency"] == "off"


def test_without_a_table_a_valid_key_is_ignored_and_a_bad_one_refused(app, db_conn):
    plain = app.test_client()  # no IDEMPOTENCY_TABLE: local development
    body = new_product()
    assert plain.post("/api/products", json=body, headers=keyed("k1")).status_code == 201
    again = plain.post("/api/products", json=body, headers=keyed("k1"))
    assert again.status_code == 409
    assert again.json["error"] == "conflict"
    assert REPLAYED not in again.headers
    bad = plain.post("/api/products", json=new_product(), headers=keyed("a b"))
    assert bad.status_code == 400
    assert bad.json["error"] == "invalid_idempotency_key"


# -- replay -----------------------------------------------------------------------------
def test_a_retried_post_gets_the_stored_answer_and_makes_one_product(client, db_conn, dynamodb):
    key, body = new_key(), new_product()
    first = client.post("/api/products", json=body, headers=keyed(key))
    assert first.status_code == 201
    assert REPLAYED not in first.headers
    version = catalog_version(db_conn)

    for _ in range(3):
        again = client.post("/api/products", json=body, headers=keyed(key))
        assert again.status_code == 201
        assert again.headers[REPLAYED] == "true"
        assert again.data == first.data
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Content-Type"] == first.headers["Content-Type"] == "application/json"
        assert again.headers["Cache-Control"] == "no-store"
        assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert count(db_conn, body["sku"]) == 1
    assert catalog_version(db_conn) == version  # the replays did not touch the catalog

    item = dynamodb.item(key)
    assert item["state"]["S"] == "done"
    assert item["status"]["N"] == "201"
    assert item["request"]["S"] == "POST /api/products"
    assert len(item["fingerprint"]["S"]) == 64
    assert item["headers"]["M"]["Location"]["S"] == first.headers["Location"]
    assert bytes(item["body"]["B"]) == first.data
    expires = int(item["expires_at"]["N"])
    assert abs(expires - (time.time() + RESPONSE_TTL_SECONDS)) < 60


def test_the_quoted_and_the_bare_form_are_one_key(client, db_conn):
    key, body = new_key(), new_product()
    assert client.post("/api/products", json=body, headers=keyed(f'"{key}"')).status_code == 201
    again = client.post("/api/products", json=body, headers=keyed(key))
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert count(db_conn, body["sku"]) == 1


def test_equivalent_bodies_are_the_same_request(client, db_conn):
    key, body = new_key(), new_product(price=10)
    assert client.post("/api/products", json=body, headers=keyed(key)).status_code == 201
    # Another key order, the price as a decimal string, a default spelled out.
    same = {"currency": "USD", "sku": body["sku"], "price": "10.00", "name": body["name"]}
    again = client.post("/api/products", json=same, headers=keyed(key))
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert count(db_conn, body["sku"]) == 1


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [("PUT", new_product(), 200), ("PATCH", {"stock": 7}, 200), ("DELETE", None, 204)],
)
def test_put_patch_and_delete_replay(client, product, db_conn, method, body, status):
    path, key = f"/api/products/{product['id']}", new_key()
    first = client.open(path, method=method, json=body, headers=keyed(key))
    assert first.status_code == status
    version = catalog_version(db_conn)
    again = client.open(path, method=method, json=body, headers=keyed(key))
    assert again.status_code == status  # a DELETE without a key would now be a 404
    assert again.headers[REPLAYED] == "true"
    assert again.data == first.data
    assert again.headers.get("Content-Type") == first.headers.get("Content-Type")
    assert catalog_version(db_conn) == version
    if method == "DELETE":
        assert client.delete(path).status_code == 404


def test_answers_below_500_after_the_claim_are_kept_too(client, product, db_conn):
    # 404: no such product. Replayed as such, even once the id would exist.
    key = new_key()
    missing = client.patch("/api/products/999999999", json={"stock": 1}, headers=keyed(key))
    assert missing.status_code == 404
    again = client.patch("/api/products/999999999", json={"stock": 1}, headers=keyed(key))
    assert (again.status_code, again.headers[REPLAYED]) == (404, "true")
    assert again.json["error"] == "not_found"
    # 409: duplicate sku.
    key, dup = new_key(), new_product(sku=product["sku"])
    assert client.post("/api/products", json=dup, headers=keyed(key)).status_code == 409
    again = client.post("/api/products", json=dup, headers=keyed(key))
    assert (again.status_code, again.headers[REPLAYED]) == (409, "true")
    assert again.json["error"] == "conflict"
    assert count(db_conn, product["sku"]) == 1


# -- refusals ---------------------------------------------------------------------------
def test_the_same_key_for_another_request_is_422(client, product, db_conn, dynamodb):
    key, body = new_key(), new_product()
    first = client.post("/api/products", json=body, headers=keyed(key))
    assert first.status_code == 201
    stored = dynamodb.item(key)
    version = catalog_version(db_conn)
    others = [
        ("POST", "/api/products", {**body, "stock": 3}),  # another body
        ("PUT", f"/api/products/{product['id']}", body),  # another method and path
        ("PATCH", f"/api/products/{first.json['id']}", {"stock": 3}),
        ("DELETE", f"/api/products/{first.json['id']}", None),
    ]
    for method, path, other in others:
        resp = client.open(path, method=method, json=other, headers=keyed(key))
        assert resp.status_code == 422, (method, path)
        assert resp.json["error"] == "idempotency_key_mismatch"
        assert REPLAYED not in resp.headers
        assert str(first.json["id"]) not in resp.get_data(as_text=True)  # nothing leaks
    assert catalog_version(db_conn) == version
    assert dynamodb.item(key) == stored
    assert client.get(f"/api/products/{first.json['id']}").json["stock"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "with space",
        "a" * 256,
        '"a' + "b" * 255 + '"',  # 256 inside the quotes
        '"unterminated',
        'quote"inside',
        "back\\slash",
        "tab\there",
        "caf\u00e9",
        '""',
    ],
)
def test_a_malformed_key_is_400_and_runs_nothing(client, product, db_conn, bad):
    version = catalog_version(db_conn)
    body = new_product()
    for method, path, data in [
        ("POST", "/api/products", body),
        ("PATCH", f"/api/products/{product['id']}", {"stock": 9}),
        ("DELETE", f"/api/products/{product['id']}", None),
    ]:
        resp = client.open(path, method=method, json=data, headers={KEY_HEADER: bad})
        assert resp.status_code == 400, (method, bad)
        assert resp.json["error"] == "invalid_idempotency_key"
        assert "Idempotency-Key" in resp.json["detail"]
    assert catalog_version(db_conn) == version


def test_the_longest_keys_are_accepted(client):
    for key in ("x" * 255, '"' + "y" * 255 + '"', "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"):
        assert (
            client.post("/api/products", json=new_product(), headers=keyed(key)).status_code == 201
        )


def test_an_invalid_request_does_not_keep_its_key(client, db_conn, dynamodb):
    key, body = new_key(), new_product()
    bad = client.post("/api/products", json={**body, "price": -1}, headers=keyed(key))
    assert bad.status_code == 422
    assert bad.json["error"] == "validation_error"
    text = client.post("/api/products", data="{}", content_type="text/plain", headers=keyed(key))
    assert text.status_code == 415
    assert dynamodb.item(key) is None
    assert client.post("/api/products", json=body, headers=keyed(key)).status_code == 201


# -- failures ---------------------------------------------------------------------------
def test_a_500_releases_the_key_so_the_retry_runs(client, db_conn, dynamodb, monkeypatch):
    key, body = new_key(), new_product()
    real = products.create_product

    def boom(conn, data):
        raise RuntimeError("the write failed")

    monkeypatch.setattr(products, "create_product", boom)
    failed = client.post("/api/products", json=body, headers=keyed(key))
    assert failed.status_code == 500
    assert failed.json["error"] == "internal_error"
    assert dynamodb.item(key) is None
    assert count(db_conn, body["sku"]) == 0

    monkeypatch.setattr(products, "create_product", real)
    retried = client.post("/api/products", json=body, headers=keyed(key))
    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert count(db_conn, body["sku"]) == 1


def test_a_503_from_the_database_releases_the_key(client, product, dynamodb, monkeypatch):
    key = new_key()

    def down(conn, product_id, data):
        raise DatabaseUnavailable("The database connection failed.", retry_after=3)

    monkeypatch.setattr(products, "update_product", down)
    path = f"/api/products/{product['id']}"
    failed = client.patch(path, json={"stock": 4}, headers=keyed(key))
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "3"
    assert dynamodb.item(key) is None
    monkeypatch.undo()
    retried = client.patch(path, json={"stock": 4}, headers=keyed(key))
    assert retried.status_code == 200
    assert retried.json["stock"] == 4


def _dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_an_unreachable_store_is_503_and_nothing_is_written(other_app, dynamodb, db_conn, product):
    down = other_app(dynamodb.client(_dead_endpoint()))
    version = catalog_version(db_conn)
    path = f"/api/products/{product['id']}"
    body = new_product()
    for method, url, data in [
        ("POST", "/api/products", body),
        ("PUT", path, new_product()),
        ("PATCH", path, {"stock": 5}),
        ("DELETE", path, None),
    ]:
        started = time.monotonic()
        resp = down.open(url, method=method, json=data, headers=keyed(new_key()))
        assert time.monotonic() - started < 5, "a keyed write must fail fast"
        assert resp.status_code == 503, method
        assert resp.json["error"] == "service_unavailable"
        assert "idempotency store" in resp.json["detail"]
        assert int(resp.headers["Retry-After"]) > 0
    assert catalog_version(db_conn) == version
    assert count(db_conn, body["sku"]) == 0
    # Without a key the store is never asked: the writes work as before.
    assert down.post("/api/products", json=body).status_code == 201
    assert down.get("/api/info").json["idempotency"] == f"dynamodb:{dynamodb.table}"


def test_a_store_that_never_answers_fails_fast(other_app, dynamodb, db_conn):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        stalled = other_app(dynamodb.client(f"http://127.0.0.1:{silent.getsockname()[1]}"))
        body = new_product()
        started = time.monotonic()
        resp = stalled.post("/api/products", json=body, headers=keyed(new_key()))
        elapsed = time.monotonic() - started
    assert resp.status_code == 503
    assert "Retry-After" in resp.headers
    # Two attempts of a 1 s read timeout and a backoff below 1 s, not a minute.
    assert elapsed < 6, elapsed
    assert count(db_conn, body["sku"]) == 0


class _UpdatesFail:
    """A real client whose UpdateItem (storing the answer) cannot reach DynamoDB."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def update_item(self, **kwargs):
        raise EndpointConnectionError(endpoint_url="http://dynamodb.invalid")


def test_an_answer_that_cannot_be_stored_is_sent_and_its_lease_protects_the_key(
    other_app, dynamodb, product, db_conn
):
    flaky = other_app(_UpdatesFail(dynamodb.client()))
    key, path = new_key(), f"/api/products/{product['id']}"
    first = flaky.patch(path, json={"stock": 11}, headers=keyed(key))
    assert first.status_code == 200
    assert first.json["stock"] == 11
    held = dynamodb.item(key)
    assert held["state"]["S"] == "in_progress"
    lease = int(held["expires_at"]["N"]) - int(held["created_at"]["N"])
    assert lease >= 60
    # Within the lease a retry is told to wait ...
    busy = flaky.patch(path, json={"stock": 11}, headers=keyed(key))
    assert busy.status_code == 409
    assert busy.json["error"] == "idempotency_key_in_use"
    assert busy.headers["Retry-After"] == "1"
    # ... and once it has run out (a worker that died mid-request), the key is free.
    dynamodb.set_expiry(key, int(time.time()) - 1)
    healthy = other_app(dynamodb.client())
    again = healthy.patch(path, json={"stock": 11}, headers=keyed(key))
    assert again.status_code == 200
    assert REPLAYED not in again.headers
    assert dynamodb.item(key)["state"]["S"] == "done"


# -- expiry -----------------------------------------------------------------------------
def test_an_expired_item_counts_as_absent(client, dynamodb, db_conn):
    key, body = new_key(), new_product()
    assert client.post("/api/products", json=body, headers=keyed(key)).status_code == 201
    # TTL deletion is lazy: the item is still there a while after expires_at.
    dynamodb.set_expiry(key, int(time.time()) - 1)
    assert dynamodb.item(key) is not None
    again = client.post("/api/products", json=body, headers=keyed(key))
    # Run again, not replayed: this time the sku exists (what a key older than 24 h risks).
    assert again.status_code == 409
    assert again.json["error"] == "conflict"
    assert REPLAYED not in again.headers
    assert count(db_conn, body["sku"]) == 1
    item = dynamodb.item(key)
    assert item["status"]["N"] == "409"
    assert int(item["expires_at"]["N"]) > time.time() + RESPONSE_TTL_SECONDS - 60
    # An expired key may also be taken by another request (it is a new one).
    dynamodb.set_expiry(key, int(time.time()) - 1)
    other = new_product()
    assert client.post("/api/products", json=other, headers=keyed(key)).status_code == 201


# -- concurrency ----------------------------------------------------------------------
def test_two_requests_with_one_key_at_once_run_once(client, db_conn, dynamodb):
    key, body = new_key(), new_product()
    answers: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = client.post("/api/products", json=body, headers=keyed(key))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    # Every write to products bumps catalog_state's row: holding it makes the
    # request that claimed the key wait inside its transaction.
    with db_conn.transaction():
        db_conn.execute("SELECT 1 FROM catalog_state WHERE id = 1 FOR UPDATE")
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while not answers and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(answers) == 1, "the second request should not wait for the first"
        (early,) = answers.values()
        assert early.status_code == 409
        assert early.json["error"] == "idempotency_key_in_use"
        assert early.headers["Retry-After"] == "1"
        assert dynamodb.item(key)["state"]["S"] == "in_progress"
    for t in threads:
        t.join(30)
    assert sorted(a.status_code for a in answers.values()) == [201, 409]
    assert count(db_conn, body["sku"]) == 1
    later = client.post("/api/products", json=body, headers=keyed(key))
    assert later.status_code == 201
    assert later.headers[REPLAYED] == "true"


def test_many_requests_with_one_key_make_one_product(client, db_conn):
    key, body = new_key(), new_product()
    barrier = threading.Barrier(8)
    answers = []

    def send() -> None:
        barrier.wait()
        answers.append(client.post("/api/products", json=body, headers=keyed(key)))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    fresh = [a for a in answers if a.status_code == 201 and REPLAYED not in a.headers]
    assert len(fresh) == 1
    for a in answers:
        assert a.status_code in (201, 409), a.data
        if a.status_code == 409:
            assert a.json["error"] == "idempotency_key_in_use"
        else:
            assert a.data == fresh[0].data
    assert count(db_conn, body["sku"]) == 1
