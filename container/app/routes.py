"""HTTP routes."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import migrations, products
from app.cache import VersionedCache
from app.config import Settings
from app.db import Database
from app.edge import NO_STORE, EdgePolicy, if_none_match, matches, not_modified
from app.errors import APIError, DatabaseUnavailable, error_response
from app.idempotency import KEY_HEADER, Idempotency, parse_key
from app.openapi import openapi_document
from app.validation import MAX_BIGINT, parse_json_body, parse_list_params, validate_product

bp = Blueprint("catalog", __name__)


def _db() -> Database:
    return current_app.extensions["catalog.db"]


def _settings() -> Settings:
    return current_app.extensions["catalog.settings"]


def _cache() -> VersionedCache:
    return current_app.extensions["catalog.cache"]


def _edge() -> EdgePolicy:
    return current_app.extensions["catalog.edge"]


def _idempotency() -> Idempotency:
    return current_app.extensions["catalog.idempotency"]


def _idempotency_key() -> str | None:
    """The request's Idempotency-Key (400 if malformed), checked before its body."""
    return parse_key(request.headers.get(KEY_HEADER))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = Response(data, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _cacheable(body: Any, etag: str | None) -> Response:
    """A 200 the edge may keep for s-maxage, with its ETag; without a tag (no
    state could be pinned to the body) it is sent no-store instead."""
    resp = _json(body)
    if etag is not None:
        resp.headers["ETag"] = f'"{etag}"'
        resp.headers["Cache-Control"] = _edge().cache_control
    return resp


@bp.after_app_request
def _no_store_unless_cacheable(response: Response) -> Response:
    # Only a 200 or 304 that a cacheable read marked may be kept by CloudFront or
    # a browser: errors (CloudFront would cache a 404 or 503 for 10 s by default),
    # writes, health, info and the OpenAPI document are never stored.
    if response.status_code not in (200, 304) or "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = NO_STORE
    return response


def _versioned_read(key: tuple[Hashable, ...], build: Callable[[Any], Any]) -> Response:
    """The answer of a list-like read: cached per worker and tagged by catalog state.

    The state is read first, and alone decides a 304: an If-None-Match that matches
    the current tag costs that one single-row read (``products._STATE``), never the
    list query. Reading it before the rows is what makes the tag sound: the rows
    are then at least as new as the state; if the state is still the same when
    they have been read, no write committed in between, so they are exactly that
    state's rows and may be tagged and cached under it. If a write did commit in
    between, the body (fresh, but of no single state) is sent once untagged and
    no-store, and not cached.
    """
    edge, cache = _edge(), _cache()
    tags = if_none_match(request)

    def work(conn: Any) -> tuple[str | None, bytes | None]:
        state = products.catalog_state(conn)
        if state is None:  # no version to trust: neither cached nor tagged
            return None, orjson.dumps(build(conn))
        etag = edge.etag(state, request)
        if matches(tags, etag):  # '*' too: a list always has a representation
            return etag, None
        cache_key = (state.stamp, *key)
        body = cache.get(state.version, cache_key)
        if body is None:
            body = orjson.dumps(build(conn))
            if products.catalog_state(conn) != state:
                return None, body
            cache.put(state.version, cache_key, body)
        return etag, body

    etag, body = _db().read(work)
    if body is None:
        assert etag is not None
        return not_modified(etag, edge.cache_control)
    return _cacheable(body, etag)


def _not_found(product_id: int) -> APIError:
    return APIError(404, "not_found", f"Product {product_id} does not exist.")


def _check_id(product_id: int) -> None:
    if product_id < 1 or product_id > MAX_BIGINT:
        raise _not_found(product_id)


# -- health -----------------------------------------------------------------------
@bp.get("/health")
def health() -> Response:
    s = _settings()
    return _json({"status": "healthy", "service": s.service_name, "version": s.version})


@bp.get("/health/ready")
def ready() -> Response:
    db, s = _db(), _settings()
    try:
        db.ping(timeout=min(2.0, s.db_pool_timeout))
        db.require_schema()
    except DatabaseUnavailable as exc:
        return error_response(
            503,
            "not_ready",
            f"Not ready: {exc.detail}",
            headers={"Retry-After": str(s.retry_after_seconds)},
        )
    return _json({"status": "ready", "database": "ok", "schema_version": migrations.LATEST_VERSION})


# -- metadata ---------------------------------------------------------------------
@bp.get("/api/info")
def info() -> Response:
    s = _settings()
    return _json(
        {
            "service": s.service_name,
            "version": s.version,
            "region": s.region,
            "environment": s.environment,
            "database": {"host": s.db_host, "port": s.db_port, "name": s.db_name},
            "schema_version": migrations.LATEST_VERSION,
            "idempotency": _idempotency().mode,
        }
    )


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return _json(openapi_document(_settings().version))


# -- products ---------------------------------------------------------------------
@bp.get("/api/products")
def list_products() -> Response:
    params = parse_list_params(request.args.to_dict())  # first value of each
    return _versioned_read(
        ("products", *params.cache_key()), lambda conn: products.list_products(conn, params)
    )


# The writes: a request with an Idempotency-Key is checked (key, then body) before
# the key is claimed, so an invalid request never holds a key; what runs after the
# claim, 4xx answers included, is stored and replayed (app/idempotency.py).
@bp.post("/api/products")
def create_product() -> Response:
    key = _idempotency_key()
    data = validate_product(_body(), partial=False)

    def work() -> Response:
        row = _db().write(lambda conn: products.create_product(conn, data))
        return _json(
            products.to_json(row), status=201, headers={"Location": f"/api/products/{row['id']}"}
        )

    return _idempotency().run(key, data, work)


@bp.get("/api/products/<int:product_id>")
def get_product(product_id: int) -> Response:
    _check_id(product_id)
    edge = _edge()
    tags = if_none_match(request)

    # A tag names the catalog state AND the path, and only a 200 hands one out (it
    # hashes the state's random stamp, which no answer shows: it cannot be made
    # up). So a tag that matches the current state was issued for this very
    # product at this very state: it existed then, and with no write since, it
    # still does, unchanged: whether a GET gives 200 or 404 only changes with the
    # state. A 304 is therefore never answered where a GET would 404: a tag of
    # another product (or path) does not match, and a delete changes the state.
    # Only '*' ("any current representation") needs the row itself.
    def work(conn: Any) -> tuple[str | None, dict[str, Any] | None, bool]:
        if tags is not None and not tags.star_tag:
            state = products.catalog_state(conn)  # the one read a 304 costs
            if state is not None and matches(tags, etag := edge.etag(state, request)):
                return etag, None, True
        # Without a conditional, one statement as before: the row and its state.
        state, row = products.get_product_with_state(conn, product_id)
        return (edge.etag(state, request) if state else None), row, False

    etag, row, current = _db().read(work)
    if row is None and not current:
        raise _not_found(product_id)
    if etag is not None and (current or matches(tags, etag)):  # matches: '*' here
        return not_modified(etag, edge.cache_control)
    assert row is not None
    return _cacheable(products.to_json(row), etag)


@bp.route("/api/products/<int:product_id>", methods=["PUT", "PATCH"])
def update_product(product_id: int) -> Response:
    key = _idempotency_key()
    _check_id(product_id)
    data = validate_product(_body(), partial=request.method == "PATCH")

    def work() -> Response:
        row = _db().write(lambda conn: products.update_product(conn, product_id, data))
        if row is None:
            raise _not_found(product_id)
        return _json(products.to_json(row))

    return _idempotency().run(key, data, work)


@bp.delete("/api/products/<int:product_id>")
def delete_product(product_id: int) -> Response:
    key = _idempotency_key()
    _check_id(product_id)

    def work() -> Response:
        if not _db().write(lambda conn: products.delete_product(conn, product_id)):
            raise _not_found(product_id)
        return Response(status=204)

    return _idempotency().run(key, None, work)


@bp.get("/api/categories")
def categories() -> Response:
    return _versioned_read(("categories",), products.list_categories)


def _body() -> dict[str, Any]:
    return parse_json_body(_read_body(), request.content_type)


def _read_body() -> bytes:
    """The request body, 413 if it is larger than MAX_CONTENT_LENGTH.

    With a Content-Length, werkzeug rejects an oversized body before reading it.
    A chunked body has no length: werkzeug would silently truncate it at the
    limit, so read one byte past the limit from the server's (terminated) stream.
    """
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    raw = request.environ["wsgi.input"].read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    return raw
