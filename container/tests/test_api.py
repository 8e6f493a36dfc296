"""Every endpoint and every error, in-process (Flask test client) against real PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.conftest import CANARY_PASSWORD, build_app, close_app

WIDGET = {"name": "Widget", "price": "9.99", "sku": "WID-1", "category": "tools"}


def post(client, body, **kw):
    return client.post("/api/products", json=body, **kw)


def make(client, **fields):
    body = {"name": "Thing", "price": 1, "sku": "SKU-x", **fields}
    resp = post(client, body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def assert_error(resp, status, error=None, field=None):
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) >= {"error", "detail"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if error:
        assert body["error"] == error
    if field:
        assert field in [f["field"] for f in body["fields"]], body
    return body


# -- health, info, openapi ------------------------------------------------------------
def test_health_is_liveness_only(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "healthy"


def test_ready_when_database_answers(client):
    resp = client.get("/health/ready")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ready"


def test_health_does_not_touch_the_database():
    # Pointed at a port where nothing listens: liveness still says healthy,
    # readiness says why not, with Retry-After.
    app = build_app("nowhere", db_port=1, db_pool_timeout=0.5)
    try:
        client = app.test_client()
        assert client.get("/health").status_code == 200
        resp = client.get("/health/ready")
        body = assert_error(resp, 503, "not_ready")
        assert "database" in body["detail"].lower()
        assert resp.headers["Retry-After"].isdigit()
    finally:
        close_app(app)


def test_info_reports_service_and_never_credentials(client):
    resp = client.get("/api/info")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["service"] == "product-catalog"
    assert body["version"]
    assert body["region"] == "eu-test-1"
    assert body["database"]["host"] == "127.0.0.1"
    text = resp.get_data(as_text=True)
    assert CANARY_PASSWORD not in text
    assert "password" not in text.lower()


def test_openapi_document(client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/health", "/health/ready", "/api/products", "/api/products/{id}"} <= set(doc["paths"])
    assert set(doc["paths"]["/api/products/{id}"]) >= {"get", "put", "patch", "delete"}


def test_request_id_is_echoed_or_minted(client):
    resp = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    minted = client.get("/health").headers["X-Request-Id"]
    assert len(minted) == 32
    # Garbage (header injection, huge values) is replaced, not echoed.
    resp = client.get("/health", headers={"X-Request-Id": "x" * 500})
    assert resp.headers["X-Request-Id"] != "x" * 500


# -- create / read / update / delete ------------------------------------------------
def test_create_returns_201_with_id_and_location(client, clean):
    resp = post(client, {**WIDGET, "description": "A widget", "stock": 7, "currency": "EUR"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["id"] >= 1
    assert resp.headers["Location"] == f"/api/products/{body['id']}"
    assert body["name"] == "Widget"
    assert body["price"] == 9.99
    assert body["currency"] == "EUR"
    assert body["stock"] == 7
    assert body["sku"] == "WID-1"
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert body["updated_at"] == body["created_at"]


def test_create_applies_defaults(client, clean):
    body = post(client, {"name": "Bare", "price": 0, "sku": "B-1"}).get_json()
    assert body["description"] == ""
    assert body["currency"] == "USD"
    assert body["category"] == "uncategorized"
    assert body["stock"] == 0
    assert body["price"] == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [("19.99", 19.99), (19.99, 19.99), (5, 5.0), ("0.5", 0.5), ("9999999999.99", 9999999999.99)],
)
def test_price_forms(client, clean, given, stored):
    body = post(client, {**WIDGET, "price": given}).get_json()
    assert body["price"] == stored


def test_get_one(client, clean):
    created = make(client, sku="G-1")
    resp = client.get(f"/api/products/{created['id']}")
    assert resp.status_code == 200
    assert resp.get_json() == created


def test_put_replaces(client, clean):
    created = make(client, sku="P-1", description="old", stock=3)
    resp = client.put(
        f"/api/products/{created['id']}", json={"name": "New", "price": "2.50", "sku": "P-1b"}
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["name"] == "New"
    assert body["price"] == 2.5
    assert body["sku"] == "P-1b"
    assert body["description"] == ""  # full replacement: defaults come back
    assert body["stock"] == 0
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] > created["updated_at"]


def test_patch_changes_only_given_fields(client, clean):
    created = make(client, sku="PA-1", description="keep", stock=3)
    resp = client.patch(f"/api/products/{created['id']}", json={"stock": 9})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["stock"] == 9
    assert body["description"] == "keep"
    assert body["name"] == created["name"]
    # An empty patch is a no-op that still answers with the product.
    resp = client.patch(f"/api/products/{created['id']}", json={})
    assert resp.status_code == 200
    assert resp.get_json()["stock"] == 9


def test_delete(client, clean):
    created = make(client, sku="D-1")
    resp = client.delete(f"/api/products/{created['id']}")
    assert resp.status_code == 204
    assert resp.data == b""
    assert_error(client.get(f"/api/products/{created['id']}"), 404, "not_found")
    assert_error(client.delete(f"/api/products/{created['id']}"), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_id_is_404(client, method):
    kwargs = (
        {"json": {"name": "x", "price": 1, "sku": "nope"}} if method in ("put", "patch") else {}
    )
    assert_error(getattr(client, method)("/api/products/987654321", **kwargs), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/api/products/0",
        "/api/products/abc",
        "/api/products/-1",
        "/api/products/99999999999999999999999",
        "/nope",
        "/api/products/",
    ],
)
def test_unknown_path_is_json_404(client, path):
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/products"),
        ("put", "/api/products"),
        ("post", "/api/products/1"),
        ("post", "/health"),
        ("delete", "/api/categories"),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    resp = getattr(client, method)(path)
    assert_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


# -- validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"price": 1, "sku": "a"}, "name", "required"),
        ({"name": "", "price": 1, "sku": "a"}, "name", "at least 1"),
        ({"name": "   ", "price": 1, "sku": "a"}, "name", "non-blank"),
        ({"name": "x" * 201, "price": 1, "sku": "a"}, "name", "at most 200"),
        ({"name": 5, "price": 1, "sku": "a"}, "name", "string"),
        ({"name": "a\u0000b", "price": 1, "sku": "a"}, "name", "NUL"),
        ({"name": "\u001f\u3000", "price": 1, "sku": "a"}, "name", "non-blank"),
        ({"name": "n", "price": 1, "sku": "abc\n"}, "sku", "letters"),
        ({"name": "n", "sku": "a"}, "price", "required"),
        ({"name": "n", "price": -0.01, "sku": "a"}, "price", "greater than or equal to 0"),
        ({"name": "n", "price": 1.234, "sku": "a"}, "price", "2 decimal"),
        ({"name": "n", "price": "1.234", "sku": "a"}, "price", "decimal string"),
        ({"name": "n", "price": "NaN", "sku": "a"}, "price", "decimal string"),
        ({"name": "n", "price": "abc", "sku": "a"}, "price", "decimal string"),
        ({"name": "n", "price": 1e300, "sku": "a"}, "price", "at most"),
        ({"name": "n", "price": True, "sku": "a"}, "price", "number"),
        ({"name": "n", "price": None, "sku": "a"}, "price", "number"),
        ({"name": "n", "price": 1}, "sku", "required"),
        ({"name": "n", "price": 1, "sku": "has space"}, "sku", "letters"),
        ({"name": "n", "price": 1, "sku": "s" * 65}, "sku", "at most 64"),
        ({"name": "n", "price": 1, "sku": "a", "stock": -1}, "stock", "greater than or equal"),
        ({"name": "n", "price": 1, "sku": "a", "stock": 1.5}, "stock", "integer"),
        ({"name": "n", "price": 1, "sku": "a", "stock": "3"}, "stock", "integer"),
        ({"name": "n", "price": 1, "sku": "a", "stock": 2**31}, "stock", "at most"),
        ({"name": "n", "price": 1, "sku": "a", "currency": "usd"}, "currency", "ISO 4217"),
        ({"name": "n", "price": 1, "sku": "a", "currency": "EURO"}, "currency", "at most 3"),
        ({"name": "n", "price": 1, "sku": "a", "category": ""}, "category", "at least 1"),
        ({"name": "n", "price": 1, "sku": "a", "description": 3}, "description", "string"),
        ({"name": "n", "price": 1, "sku": "a", "id": 5}, "id", "unknown field"),
    ],
)
def test_create_validation_names_field_and_reason(client, body, field, why):
    resp = post(client, body)
    err = assert_error(resp, 422, "validation_error", field)
    message = next(f["message"] for f in err["fields"] if f["field"] == field)
    assert why in message
    assert field in err["detail"]


def test_several_invalid_fields_reported_together(client):
    err = assert_error(post(client, {"name": "", "price": -1}), 422, "validation_error")
    assert {f["field"] for f in err["fields"]} == {"name", "price", "sku"}


def test_patch_validates_too(client, clean):
    created = make(client, sku="V-1")
    assert_error(
        client.patch(f"/api/products/{created['id']}", json={"price": -5}), 422, field="price"
    )
    assert_error(client.put(f"/api/products/{created['id']}", json={"name": "x"}), 422, field="sku")


@pytest.mark.parametrize(
    "raw", [b"{bad", b'{"name": ', b"", b"\xff\xfe\x00", b'{"price": NaN}', b"[" * 100000]
)
def test_malformed_json_is_400(client, raw):
    resp = client.post("/api/products", data=raw, content_type="application/json")
    assert_error(resp, 400, "malformed_json")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_422(client, raw):
    resp = client.post("/api/products", data=raw, content_type="application/json")
    assert_error(resp, 422, "validation_error", "body")


def test_wrong_content_type_is_415(client):
    resp = client.post("/api/products", data="name=x", content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type")


def test_body_over_one_mib_is_413(client, db_conn):
    before = db_conn.execute("SELECT count(*) FROM products").fetchone()[0]
    big = json.dumps({"name": "n", "price": 1, "sku": "BIG", "description": "x" * (1 << 20)})
    resp = client.post("/api/products", data=big, content_type="application/json")
    assert_error(resp, 413, "payload_too_large")
    assert db_conn.execute("SELECT count(*) FROM products").fetchone()[0] == before


def test_duplicate_sku_is_409_and_leaves_no_row(client, clean, db_conn):
    make(client, sku="DUP-1")
    assert_error(post(client, {**WIDGET, "sku": "DUP-1"}), 409, "conflict")
    assert db_conn.execute("SELECT count(*) FROM products").fetchone()[0] == 1


def test_failed_update_changes_nothing(client, clean, db_conn):
    make(client, sku="U-1")
    other = make(client, sku="U-2", name="Other", stock=4)
    resp = client.put(
        f"/api/products/{other['id']}", json={"name": "Renamed", "price": 3, "sku": "U-1"}
    )
    assert_error(resp, 409, "conflict")
    assert client.get(f"/api/products/{other['id']}").get_json() == other
    row = db_conn.execute("SELECT name, stock FROM products WHERE id = %s", (other["id"],))
    assert row.fetchone() == ("Other", 4)


def test_unexpected_error_is_json_500_without_traceback(database):
    app = build_app(database)
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals " + CANARY_PASSWORD)

    try:
        resp = app.test_client().get("/boom")
        body = assert_error(resp, 500, "internal_error")
        text = resp.get_data(as_text=True)
        assert "Traceback" not in text
        assert "secret internals" not in text
        assert CANARY_PASSWORD not in text
        assert body["detail"] == "An unexpected error occurred."
    finally:
        close_app(app)


# -- list ---------------------------------------------------------------------------
@pytest.fixture
def catalog(client, clean):
    items = []
    for i in range(1, 31):
        items.append(
            make(
                client,
                name=f"Item {i:02d}" + (" special" if i % 10 == 0 else ""),
                price=f"{i}.50",
                sku=f"L-{i}",
                category="even" if i % 2 == 0 else "odd",
                stock=100 - i,
            )
        )
    items.append(make(client, name="100% cotton_shirt", price="5.00", sku="L-pct", category="odd"))
    return items


def test_list_defaults(client, catalog):
    body = client.get("/api/products").get_json()
    assert body["count"] == 31
    assert body["limit"] == 20
    assert body["offset"] == 0
    assert len(body["products"]) == 20
    assert [p["id"] for p in body["products"]] == sorted(p["id"] for p in body["products"])
    assert body["next_cursor"]


def test_list_limit_and_offset(client, catalog):
    body = client.get("/api/products?limit=5&offset=28").get_json()
    assert len(body["products"]) == 3
    assert body["count"] == 31
    assert body["next_cursor"] is None
    assert len(client.get("/api/products?limit=100").get_json()["products"]) == 31


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("sort=bogus", "sort"),
        ("min_price=-1", "min_price"),
        ("max_price=abc", "max_price"),
        ("min_price=NaN", "min_price"),
        ("cursor=%%%", "cursor"),
        ("cursor=WyJpZCIsNCw0XQ&sort=price", "cursor"),
        ("category=%00", "category"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_list_bad_parameters_are_422(client, query, field):
    assert_error(client.get(f"/api/products?{query}"), 422, "validation_error", field)


def test_list_filters(client, catalog):
    body = client.get("/api/products?category=even&limit=100").get_json()
    assert body["count"] == 15
    assert all(p["category"] == "even" for p in body["products"])

    body = client.get("/api/products?q=SPECIAL").get_json()
    assert body["count"] == 3
    assert {p["name"] for p in body["products"]} == {
        "Item 10 special",
        "Item 20 special",
        "Item 30 special",
    }
    # LIKE wildcards in q are literal characters.
    assert client.get("/api/products?q=100%25").get_json()["count"] == 1
    assert client.get("/api/products?q=n_s").get_json()["count"] == 1
    assert client.get("/api/products?q=%25").get_json()["count"] == 1

    body = client.get("/api/products?min_price=10&max_price=12.5&limit=100").get_json()
    assert sorted(p["price"] for p in body["products"]) == [10.5, 11.5, 12.5]
    assert body["count"] == 3
    assert client.get("/api/products?min_price=20&max_price=10").get_json()["count"] == 0

    body = client.get("/api/products?category=odd&min_price=29&q=item").get_json()
    assert [p["name"] for p in body["products"]] == ["Item 29"]


@pytest.mark.parametrize(
    "sort",
    [
        "price",
        "-price",
        "name",
        "-name",
        "stock",
        "-stock",
        "-id",
        "created_at",
        "-created_at",
        "updated_at",
    ],
)
def test_list_sorting(client, catalog, sort):
    products = client.get(f"/api/products?sort={sort}&limit=100").get_json()["products"]
    field, reverse = sort.lstrip("-"), sort.startswith("-")
    keys = [(p[field], p["id"]) for p in products]
    assert keys == sorted(keys, reverse=reverse)


@pytest.mark.parametrize("sort", ["id", "-price", "name", "created_at", "-stock"])
def test_cursor_pagination_walks_everything_once(client, catalog, sort):
    seen, cursor, pages = [], None, 0
    while True:
        query = f"/api/products?limit=7&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(query).get_json()
        assert body["count"] == 31
        seen += [p["id"] for p in body["products"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
        assert body["offset"] is None or pages == 1
    assert pages == 5
    assert sorted(seen) == sorted(p["id"] for p in catalog)
    assert len(seen) == len(set(seen))


def test_categories(client, catalog):
    body = client.get("/api/categories").get_json()
    assert body == {
        "categories": [{"name": "even", "product_count": 15}, {"name": "odd", "product_count": 16}],
        "count": 2,
    }


# -- caching stays correct ------------------------------------------------------------
def test_list_cache_sees_every_write_at_once(client, clean):
    assert client.get("/api/products").get_json()["count"] == 0
    created = make(client, sku="C-1", name="Before")
    assert client.get("/api/products").get_json()["count"] == 1
    client.patch(f"/api/products/{created['id']}", json={"name": "After"})
    assert client.get("/api/products").get_json()["products"][0]["name"] == "After"
    assert client.get("/api/categories").get_json()["count"] == 1
    client.delete(f"/api/products/{created['id']}")
    assert client.get("/api/products").get_json()["count"] == 0
    assert client.get("/api/categories").get_json()["count"] == 0


def test_list_cache_is_coherent_across_workers(database, client, clean, db_conn):
    # A second app instance = another worker (or task) with its own cache.
    other = build_app(database)
    try:
        other_client = other.test_client()
        assert other_client.get("/api/products").get_json()["count"] == 0  # cached empty page
        make(client, sku="X-1")  # written through the first worker
        assert other_client.get("/api/products").get_json()["count"] == 1
        # Even a write that bypasses the service invalidates (statement trigger).
        db_conn.execute("UPDATE products SET name = 'sql edit'")
        assert other_client.get("/api/products").get_json()["products"][0]["name"] == "sql edit"
    finally:
        close_app(other)
