"""Caching at the edge: Cache-Control, ETag, If-None-Match and 304 (real PostgreSQL)."""

from __future__ import annotations

import re
import threading

import pytest

from app import products
from app.config import Settings
from app.credentials import CatalogConnection
from app.edge import EdgePolicy
from tests.conftest import build_app, close_app

SHARED = "public, max-age=0, s-maxage=30"
ETAG_RE = re.compile(r'^"v[0-9]+-[0-9a-f]{16}"$')
READS = ("/api/products", "/api/products?limit=2&sort=-price", "/api/categories")


def make(client, sku, **fields):
    resp = client.post(
        "/api/products", json={"name": "Thing", "price": 1, "sku": sku, "category": "c", **fields}
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


@pytest.fixture
def two(client, clean):
    """Two products; the paths of every cacheable read of them."""
    a, b = make(client, "E-1", price=3), make(client, "E-2", price=5, category="d")
    return [*READS, f"/api/products/{a['id']}", f"/api/products/{b['id']}"]


def get(client, path, inm=None, method="get"):
    headers = {} if inm is None else {"If-None-Match": inm}
    return getattr(client, method)(path, headers=headers)


def assert_cacheable(resp, cache_control=SHARED):
    assert resp.status_code == 200, resp.data
    assert resp.headers["Cache-Control"] == cache_control
    assert ETAG_RE.match(resp.headers["ETag"]), resp.headers["ETag"]
    return resp.headers["ETag"]


def assert_not_modified(resp, etag, cache_control=SHARED):
    assert resp.status_code == 304, resp.data
    assert resp.data == b""
    assert resp.headers["ETag"] == etag
    assert resp.headers["Cache-Control"] == cache_control
    assert "Content-Type" not in resp.headers
    assert "Content-Length" not in resp.headers


def assert_no_store(resp):
    assert resp.headers["Cache-Control"] == "no-store", (resp.status_code, resp.headers)
    assert "ETag" not in resp.headers


# -- headers on the cacheable reads -------------------------------------------------
def test_reads_carry_a_short_shared_lifetime_and_a_strong_etag(client, two):
    for path in two:
        etag = assert_cacheable(get(client, path))
        assert get(client, path).headers["ETag"] == etag, path  # stable while unchanged


def test_current_etag_gives_304_without_body(client, two):
    for path in two:
        etag = assert_cacheable(get(client, path))
        assert_not_modified(get(client, path, etag), etag)


def test_etags_agree_across_workers(database, client, two):
    # CloudFront revalidates through any task's worker: the tags must not be per process.
    other = build_app(database)
    try:
        for path in two:
            etag = client.get(path).headers["ETag"]
            assert_not_modified(get(other.test_client(), path, etag), etag)
    finally:
        close_app(other)


@pytest.mark.parametrize("write", ["post", "put", "patch", "delete", "sql"])
def test_any_write_changes_every_etag(client, two, db_conn, write):
    a_path = two[-2]
    before = {path: client.get(path).headers["ETag"] for path in two}
    if write == "post":
        make(client, "E-3")
    elif write == "put":
        resp = client.put(a_path, json={"name": "New", "price": 3, "sku": "E-1", "category": "c"})
        assert resp.status_code == 200
    elif write == "patch":
        assert client.patch(a_path, json={"stock": 9}).status_code == 200
    elif write == "delete":
        assert client.delete(a_path).status_code == 204
    else:  # a write that bypasses the API (the statement trigger)
        db_conn.execute("UPDATE products SET stock = stock + 1")
    for path, old in before.items():
        resp = get(client, path, old)
        if write == "delete" and path == a_path:
            assert resp.status_code == 404
            assert_no_store(resp)
            continue
        new = assert_cacheable(resp)
        assert new != old, path
        assert resp.get_json()  # the full answer
        assert_not_modified(get(client, path, new), new)


def test_different_queries_and_paths_have_different_etags(client, two):
    paths = [
        "/api/products",
        "/api/products?limit=1",
        "/api/products?limit=2",
        "/api/products?sort=-id",
        "/api/products?category=d",
        "/api/products?q=thing",
        "/api/products?limit=1&limit=2",
        "/api/products?limit=2&limit=1",  # the first value counts: another page
        *two[-2:],
        "/api/categories",
    ]
    tags = [client.get(p).headers["ETag"] for p in paths]
    assert len(set(tags)) == len(tags), dict(zip(paths, tags, strict=True))
    # The same arguments in another order are the same answer (and the same tag).
    one = client.get("/api/products?limit=1&sort=-price")
    other = client.get("/api/products?sort=-price&limit=1")
    assert one.data == other.data
    assert one.headers["ETag"] == other.headers["ETag"]


def test_a_tag_validates_only_its_own_path(client, two):
    a, b = two[-2:]
    tag_a = client.get(a).headers["ETag"]
    assert client.get(b, headers={"If-None-Match": tag_a}).status_code == 200
    assert client.get("/api/products", headers={"If-None-Match": tag_a}).status_code == 200
    # Never a 304 where a GET would 404, whatever the client sends.
    for missing in ("/api/products/999999", "/api/products/0"):
        for inm in (tag_a, "*", f"W/{tag_a}"):
            resp = get(client, missing, inm)
            assert resp.status_code == 404
            assert_no_store(resp)


def test_the_stamp_is_part_of_the_tag(client, two, db_conn):
    # Same version number, other contents (a database created again, or restored
    # to an earlier time, then written to): the random stamp still tells them apart.
    old = client.get("/api/products").headers["ETag"]
    db_conn.execute("UPDATE catalog_state SET stamp = gen_random_uuid()")
    resp = get(client, "/api/products", old)
    new = assert_cacheable(resp)
    assert new.split("-")[0] == old.split("-")[0]  # same "v<version>"
    assert new != old


# -- If-None-Match forms ------------------------------------------------------------
def test_if_none_match_forms(client, two):
    for path in two:
        etag = client.get(path).headers["ETag"]
        for inm in (
            etag,
            "*",
            f"W/{etag}",
            f"w/{etag}",
            f'"nope", {etag}',
            f'W/"nope",W/{etag}',
            f'  "a" , "b",{etag}  ',
            f'"nope", "{etag[1:-1]}-x", {etag}',
        ):
            assert_not_modified(get(client, path, inm), etag)
        for inm in ('"nope"', 'W/"nope"', etag[:-2] + '"', f'"{etag}"', "garbage", ",", '"'):
            resp = get(client, path, inm)
            assert resp.status_code == 200, (path, inm)
            assert resp.headers["ETag"] == etag


def test_repeated_if_none_match_headers_are_one_list(client, two):
    path = two[0]
    etag = client.get(path).headers["ETag"]
    resp = client.get(path, headers=[("If-None-Match", '"x"'), ("If-None-Match", etag)])
    assert_not_modified(resp, etag)


def test_head_is_get_without_a_body(client, two):
    for path in two:
        got, head = client.get(path), client.head(path)
        assert head.status_code == 200
        assert head.data == b""
        for name in ("ETag", "Cache-Control", "Content-Type", "Content-Length"):
            assert head.headers[name] == got.headers[name], name
        assert_not_modified(get(client, path, got.headers["ETag"], "head"), got.headers["ETag"])
    resp = client.head("/api/products/999999")
    assert resp.status_code == 404
    assert_no_store(resp)


# -- what must never be stored ------------------------------------------------------
def test_writes_errors_and_metadata_are_no_store(client, two):
    a = two[-2]
    body = {"name": "n", "price": 1, "sku": "E-9"}
    for resp in (
        client.post("/api/products", json=body),  # 201
        client.put(a, json={**body, "sku": "E-1"}),  # 200
        client.patch(a, json={"stock": 1}),  # 200
        client.delete(a),  # 204
        client.get(a),  # 404: gone
        client.get("/api/products?limit=0"),  # 422
        client.get("/api/nowhere"),  # 404
        client.delete("/api/products"),  # 405
        client.post("/api/products", data="x", content_type="text/plain"),  # 415
        client.post("/api/products", json={**body, "sku": "E-2"}),  # 409
        client.get("/health"),
        client.get("/health/ready"),
        client.get("/api/info"),
        client.get("/api/openapi.json"),
        client.options("/api/products"),
    ):
        assert_no_store(resp)


def test_503_is_no_store():
    app = build_app("nowhere", db_port=1, db_pool_timeout=0.5)
    try:
        client = app.test_client()
        for path in (*READS, "/api/products/1", "/health/ready"):
            resp = client.get(path, headers={"If-None-Match": "*"})
            assert resp.status_code == 503
            assert_no_store(resp)
    finally:
        close_app(app)


# -- what a 304 costs ---------------------------------------------------------------
@pytest.fixture
def statements(monkeypatch):
    """The statements this thread's requests run, in order."""
    seen: list[str] = []
    me = threading.get_ident()
    execute = CatalogConnection.execute

    def recording(self, query, *args, **kwargs):
        if threading.get_ident() == me:
            seen.append(query if isinstance(query, str) else repr(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(CatalogConnection, "execute", recording)
    return seen


def test_a_304_costs_one_read_of_the_catalog_state(client, two, statements):
    for path in two:
        etag = client.get(path).headers["ETag"]
        statements.clear()
        assert_not_modified(get(client, path, etag), etag)
        assert statements == [products._STATE], path
        statements.clear()
        assert get(client, path, '"stale"').status_code == 200
        assert len(statements) > 1 or path in READS  # list pages may come from the page cache


@pytest.fixture
def uncached(database):
    """A client of a worker without page cache (its 200s always run the query)."""
    app = build_app(database, list_cache_entries=0)
    app.config["TESTING"] = False  # a failing query answers 500 instead of raising
    yield app.test_client()
    close_app(app)


def test_a_304_never_runs_the_list_or_detail_query(client, two, uncached, monkeypatch):
    tags = {path: client.get(path).headers["ETag"] for path in two}

    def fail(*args, **kwargs):
        raise AssertionError("the list or detail query ran")

    for name in ("list_products", "list_categories", "get_product", "get_product_with_state"):
        monkeypatch.setattr(products, name, fail)
    for path, etag in tags.items():
        assert_not_modified(get(uncached, path, etag), etag)
        assert_not_modified(get(uncached, path, f'W/"x", W/{etag}', "head"), etag)
        # The patch bites: any answer with a body would have run the query.
        assert get(uncached, path).status_code == 500, path
        assert get(uncached, path, '"stale"').status_code == 500, path


# -- no state to pin: not tagged, not stored ----------------------------------------
def test_a_write_during_the_build_leaves_the_answer_untagged(client, two, db_conn, monkeypatch):
    build = products.list_products

    def racing(conn, params):
        body = build(conn, params)
        db_conn.execute("UPDATE products SET stock = stock + 1")  # commits meanwhile
        return body

    monkeypatch.setattr(products, "list_products", racing)
    resp = client.get("/api/products?limit=3")
    assert resp.status_code == 200
    assert resp.get_json()["limit"] == 3
    assert_no_store(resp)
    monkeypatch.setattr(products, "list_products", build)
    assert_cacheable(client.get("/api/products?limit=3"))  # not served from the page cache


def test_without_a_catalog_state_nothing_is_tagged_or_cached(scratch_database):
    app = build_app(scratch_database)
    try:
        assert app.extensions["catalog.db"].wait_schema(30)
        client = app.test_client()
        made = make(client, "S-1")
        with app.extensions["catalog.db"].connection() as conn:
            conn.execute("DELETE FROM catalog_state")
        for path in (*READS, f"/api/products/{made['id']}"):
            for inm in (None, "*"):
                resp = get(client, path, inm)
                assert resp.status_code == 200, path
                assert_no_store(resp)
        # Writes no longer move any version: a page cached now would never expire.
        client.patch(f"/api/products/{made['id']}", json={"name": "Renamed"})
        assert client.get("/api/products").get_json()["products"][0]["name"] == "Renamed"
    finally:
        close_app(app)


# -- configuration ------------------------------------------------------------------
def test_cache_max_age_is_configurable(database, two):
    app = build_app(database, cache_max_age_seconds=5)
    try:
        client = app.test_client()
        etag = assert_cacheable(client.get(two[0]), "public, max-age=0, s-maxage=5")
        assert_not_modified(get(client, two[0], etag), etag, "public, max-age=0, s-maxage=5")
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 30), ("0", 0), ("30", 30), (" 120 ", 120), ("3600", 3600)]
)
def test_cache_max_age_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("CACHE_MAX_AGE_SECONDS", raw)
    assert Settings.from_env().cache_max_age_seconds == expected


@pytest.mark.parametrize("raw", ["-1", "3601", "abc", "1.5", "30s"])
def test_cache_max_age_is_validated(monkeypatch, raw):
    monkeypatch.setenv("CACHE_MAX_AGE_SECONDS", raw)
    with pytest.raises(ValueError, match="CACHE_MAX_AGE_SECONDS"):
        Settings.from_env()


def test_another_representation_has_other_tags(app):
    state = products.CatalogState(7, "00000000-0000-0000-0000-000000000001")
    with app.test_request_context("/api/products?limit=3"):
        from flask import request

        tags = {EdgePolicy(30, v).etag(state, request) for v in ("1.0.0", "1.0.1")}
        tags.add(EdgePolicy(30, "1.0.0").etag(state._replace(stamp="other"), request))
    assert len(tags) == 3
    assert all(t.startswith("v7-") for t in tags)
