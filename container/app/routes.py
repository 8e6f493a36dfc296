"""HTTP routes."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import migrations, products
from app.cache import VersionedCache
from app.config import Settings
from app.db import Database
from app.errors import APIError, DatabaseUnavailable, error_response
from app.openapi import openapi_document
from app.validation import MAX_BIGINT, parse_json_body, parse_list_params, validate_product

bp = Blueprint("catalog", __name__)


def _db() -> Database:
    return current_app.extensions["catalog.db"]


def _settings() -> Settings:
    return current_app.extensions["catalog.settings"]


def _cache() -> VersionedCache:
    return current_app.extensions["catalog.cache"]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = Response(data, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


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
        }
    )


@bp.get("/api/openapi.json")
def openapi() -> Response:
    return _json(openapi_document(_settings().version))


# -- products ---------------------------------------------------------------------
@bp.get("/api/products")
def list_products() -> Response:
    params = parse_list_params(request.args.to_dict())  # first value of each
    key = ("products", *params.cache_key())
    cache = _cache()

    def work(conn: Any) -> bytes:
        version = products.catalog_version(conn)
        body = cache.get(version, key)
        if body is None:
            body = orjson.dumps(products.list_products(conn, params))
            cache.put(version, key, body)
        return body

    return _json(_db().read(work))


@bp.post("/api/products")
def create_product() -> Response:
    data = validate_product(_body(), partial=False)
    row = _db().write(lambda conn: products.create_product(conn, data))
    return _json(
        products.to_json(row), status=201, headers={"Location": f"/api/products/{row['id']}"}
    )


@bp.get("/api/products/<int:product_id>")
def get_product(product_id: int) -> Response:
    _check_id(product_id)
    row = _db().read(lambda conn: products.get_product(conn, product_id))
    if row is None:
        raise _not_found(product_id)
    return _json(products.to_json(row))


@bp.route("/api/products/<int:product_id>", methods=["PUT", "PATCH"])
def update_product(product_id: int) -> Response:
    _check_id(product_id)
    data = validate_product(_body(), partial=request.method == "PATCH")
    row = _db().write(lambda conn: products.update_product(conn, product_id, data))
    if row is None:
        raise _not_found(product_id)
    return _json(products.to_json(row))


@bp.delete("/api/products/<int:product_id>")
def delete_product(product_id: int) -> Response:
    _check_id(product_id)
    if not _db().write(lambda conn: products.delete_product(conn, product_id)):
        raise _not_found(product_id)
    return Response(status=204)


@bp.get("/api/categories")
def categories() -> Response:
    cache = _cache()

    def work(conn: Any) -> bytes:
        version = products.catalog_version(conn)
        body = cache.get(version, ("categories",))
        if body is None:
            body = orjson.dumps(products.list_categories(conn))
            cache.put(version, ("categories",), body)
        return body

    return _json(_db().read(work))


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
