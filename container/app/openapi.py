"""The OpenAPI 3.0 document served at /api/openapi.json (fuzzed against the app in tests)."""

from __future__ import annotations

from functools import cache
from typing import Any

from app.idempotency import KEY_HEADER, KEY_PATTERN, REPLAYED_HEADER
from app.validation import (
    CATEGORY_PATTERN,
    CURRENCY_PATTERN,
    MAX_INT32,
    MAX_PRICE,
    NAME_PATTERN,
    PRICE_STRING_PATTERN,
    SKU_PATTERN,
    SORT_VALUES,
    TEXT_PATTERN,
)

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Caching at the edge (app/edge.py): what the cacheable reads say, and everything else.
_NO_STORE = {
    "Cache-Control": {
        "description": "`no-store`: neither CloudFront nor a browser keeps this answer.",
        "required": True,
        "schema": {"type": "string", "enum": ["no-store"]},
    }
}
_ETAG_SCHEMA = {"type": "string", "pattern": '^"v[0-9]+-[0-9a-f]{16}"$'}
_ETAG = {
    "description": "Strong validator of this answer: the catalog version and a hash of the "
    "catalog's state, the representation and the request's path and query arguments. "
    "Changes with every write to the catalog. Absent, with Cache-Control `no-store`, "
    "when no single catalog state can be named (a write committed while it was built).",
    "schema": _ETAG_SCHEMA,
}
_SHARED_CACHE_CONTROL = {
    "description": "`public, max-age=0, s-maxage=<CACHE_MAX_AGE_SECONDS>` (30 by default): "
    "browsers revalidate every time, CloudFront serves it for s-maxage seconds, so a "
    "write shows at the edge within s-maxage.",
    "required": True,
    "schema": {"type": "string", "pattern": "^(public, max-age=0, s-maxage=[0-9]+|no-store)$"},
}
_CACHEABLE = {"ETag": _ETAG, "Cache-Control": _SHARED_CACHE_CONTROL}
_NOT_MODIFIED = {
    "description": "Not Modified: the If-None-Match names the current ETag (or is `*`). "
    "No body. Answered from one single-row read of the catalog version.",
    "headers": {
        "ETag": {"description": "The current ETag.", "required": True, "schema": _ETAG_SCHEMA},
        "Cache-Control": {
            **_SHARED_CACHE_CONTROL,
            "schema": {"type": "string", "pattern": "^public, max-age=0, s-maxage=[0-9]+$"},
        },
    },
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags from earlier answers (`W/` tolerated: compared weakly), or `*`. "
    "When one is current, the answer is 304 without body.",
    "schema": {"type": "string"},
}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_JSON: {"schema": _ref("Error")}},
        "headers": dict(_NO_STORE),
    }
    if retry_after:
        response["headers"]["Retry-After"] = {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    return response


_UNAVAILABLE = _error("The database is unavailable; retry after Retry-After seconds.", True)

_PRODUCT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Product id.",
    "schema": {"type": "integer", "minimum": 1, "maximum": 9223372036854775807},
}


def _writable_properties() -> dict[str, Any]:
    return {
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": NAME_PATTERN,
            "description": "1-200 characters, not blank.",
        },
        "description": {"type": "string", "maxLength": 5000, "pattern": TEXT_PATTERN},
        "price": {
            "description": "Decimal price >= 0 with at most two decimal places, as a JSON "
            "number or a decimal string.",
            "anyOf": [
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": float(MAX_PRICE),
                    "multipleOf": 0.01,
                },
                {"type": "string", "pattern": PRICE_STRING_PATTERN},
            ],
        },
        "currency": {
            "type": "string",
            "minLength": 3,
            "maxLength": 3,
            "pattern": CURRENCY_PATTERN,
            "description": "ISO 4217 code; defaults to USD.",
        },
        "category": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "pattern": CATEGORY_PATTERN,
            "description": "Defaults to 'uncategorized'.",
        },
        "sku": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": SKU_PATTERN,
            "description": "Stock-keeping unit, unique across products.",
        },
        "stock": {"type": "integer", "minimum": 0, "maximum": MAX_INT32},
    }


def _schemas() -> dict[str, Any]:
    writable = _writable_properties()
    return {
        "Error": {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "description": "Machine-readable code."},
                "detail": {"type": "string", "description": "What went wrong."},
                "fields": {
                    "type": "array",
                    "description": "Validation errors, one per field.",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
                "request_id": {"type": "string"},
            },
        },
        "Product": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "name",
                "description",
                "price",
                "currency",
                "category",
                "sku",
                "stock",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string"},
                "price": {"type": "number", "minimum": 0, "maximum": float(MAX_PRICE)},
                "currency": {"type": "string", "pattern": CURRENCY_PATTERN},
                "category": {"type": "string"},
                "sku": {"type": "string"},
                "stock": {"type": "integer", "minimum": 0},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
        "ProductCreate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "price", "sku"],
            "properties": writable,
            "description": "Also the body of PUT (a full replacement: omitted optional "
            "fields return to their defaults).",
        },
        "ProductPatch": {
            "type": "object",
            "additionalProperties": False,
            "properties": writable,
            "description": "Only the fields present are changed.",
        },
        "ProductList": {
            "type": "object",
            "required": ["products", "count", "limit", "offset", "next_cursor"],
            "properties": {
                "products": {"type": "array", "items": _ref("Product")},
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Total number of products matching the filters.",
                },
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "offset": {
                    "type": "integer",
                    "minimum": 0,
                    "nullable": True,
                    "description": "Null when the page was selected with a cursor.",
                },
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
            },
        },
        "CategoryList": {
            "type": "object",
            "required": ["categories", "count"],
            "properties": {
                "categories": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "product_count"],
                        "properties": {
                            "name": {"type": "string"},
                            "product_count": {"type": "integer", "minimum": 1},
                        },
                    },
                },
                "count": {"type": "integer", "minimum": 0},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["healthy"]},
                "service": {"type": "string"},
                "version": {"type": "string"},
            },
        },
        "Ready": {
            "type": "object",
            "required": ["status", "database"],
            "properties": {
                "status": {"type": "string", "enum": ["ready"]},
                "database": {"type": "string"},
                "schema_version": {"type": "integer"},
            },
        },
        "Info": {
            "type": "object",
            "required": ["service", "version", "region", "database"],
            "properties": {
                "service": {"type": "string"},
                "version": {"type": "string"},
                "region": {"type": "string"},
                "environment": {"type": "string"},
                "database": {
                    "type": "object",
                    "required": ["host"],
                    "additionalProperties": False,
                    "properties": {
                        "host": {"type": "string"},
                        "port": {"type": "integer"},
                        "name": {"type": "string"},
                    },
                },
                "schema_version": {"type": "integer"},
                "idempotency": {
                    "type": "string",
                    "pattern": "^(off|dynamodb:.+)$",
                    "description": "Where Idempotency-Key records are kept: "
                    "`dynamodb:<table>`, or `off` (no table configured: the header is "
                    "checked, then ignored).",
                },
            },
        },
    }


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": _ref(schema)}}}


def _ok(description: str, schema: str, cacheable: bool = False) -> dict[str, Any]:
    return {
        "description": description,
        "content": {_JSON: {"schema": _ref(schema)}},
        "headers": dict(_CACHEABLE if cacheable else _NO_STORE),
    }


_BODY_ERRORS = {
    "400": _error("Malformed JSON."),
    "413": _error("Body larger than 1 MiB."),
    "415": _error("Content-Type is not application/json."),
    "422": _error("Validation failed; `fields` says which field and why."),
    "503": _UNAVAILABLE,
}


# Idempotency keys (app/idempotency.py): every write takes one.
_IDEMPOTENCY_KEY = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "description": "draft-ietf-httpapi-idempotency-key-header: 1-255 printable ASCII "
    'characters without space, `"` or `\\`, bare or as a structured-field string '
    '(`"..."`). The first request with a key runs and its answer (below 500) is kept '
    "for 24 hours; a retry of the same request (method, path, body) gets that answer "
    f"again with `{REPLAYED_HEADER}: true` and the catalog is not touched. Invalid "
    "requests (400, 413, 415, 422) and answers of 500 and above are not kept.",
    "schema": {"type": "string", "pattern": KEY_PATTERN},
}
_REPLAYED = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the kept answer of an earlier request with the "
        "same Idempotency-Key, replayed.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_STILL_RUNNING = (
    "the first request with this Idempotency-Key is still running (then with Retry-After)"
)
_KEY_REUSED = "this Idempotency-Key was used for a different request (method, path or body)"
_IDEMPOTENT_UNAVAILABLE = _error(
    "The database, or the store of Idempotency-Key records (only requests with a key need "
    "it), is unavailable; nothing was written. Retry after Retry-After seconds.",
    True,
)


def _write(operation: dict[str, Any]) -> dict[str, Any]:
    """A write operation with the Idempotency-Key header and what it may answer."""
    responses = dict(operation["responses"])
    with_body = "requestBody" in operation
    with_sku = "409" in responses
    responses["400"] = _error(
        "Malformed JSON, or an invalid Idempotency-Key."
        if with_body
        else "Invalid Idempotency-Key."
    )
    responses["409"] = _error(
        f"Duplicate sku, or {_STILL_RUNNING}."
        if with_sku
        else f"{_STILL_RUNNING[0].upper()}{_STILL_RUNNING[1:]}.",
        True,
    )
    responses["422"] = _error(
        f"Validation failed (`fields` says which field and why), or {_KEY_REUSED}."
        if with_body
        else f"{_KEY_REUSED[0].upper()}{_KEY_REUSED[1:]}."
    )
    responses["503"] = _IDEMPOTENT_UNAVAILABLE
    # The answers that may be kept, hence replayed (a 409 only for a duplicate sku).
    for status in ("200", "201", "204", "404", *(("409",) if with_sku else ())):
        if status in responses:
            response = dict(responses[status])
            response["headers"] = {**response["headers"], **_REPLAYED}
            responses[status] = response
    return {
        **operation,
        "parameters": [*operation.get("parameters", []), _IDEMPOTENCY_KEY],
        "responses": dict(sorted(responses.items())),
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _paths() -> dict[str, Any]:
    list_params = [
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "Page size (1-100).",
        ),
        _query(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": MAX_INT32, "default": 0},
            "Rows to skip. Ignored when `cursor` is given.",
        ),
        _query(
            "cursor",
            {"type": "string", "maxLength": 2048, "pattern": "^[A-Za-z0-9_-]*$"},
            "Opaque keyset cursor from a previous page's `next_cursor` (same `sort`).",
        ),
        _query(
            "category",
            {"type": "string", "maxLength": 100, "pattern": f"^({CATEGORY_PATTERN[1:-1]})?$"},
            "Exact category (empty: no filter).",
        ),
        _query(
            "q",
            {"type": "string", "maxLength": 200, "pattern": TEXT_PATTERN},
            "Case-insensitive substring of the name (empty: no filter).",
        ),
        _query("min_price", {"type": "number", "minimum": 0}, "Lowest price, inclusive."),
        _query("max_price", {"type": "number", "minimum": 0}, "Highest price, inclusive."),
        _query(
            "sort",
            {"type": "string", "enum": list(SORT_VALUES), "default": "id"},
            "Sort field; a leading '-' sorts descending. Ties break on id.",
        ),
    ]
    return {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness (no database call).",
                "responses": {"200": _ok("Alive.", "Health")},
            }
        },
        "/health/ready": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness: the database answers and the schema is migrated.",
                "responses": {
                    "200": _ok("Ready.", "Ready"),
                    "503": _error("Not ready; the detail says why.", True),
                },
            }
        },
        "/api/info": {
            "get": {
                "operationId": "info",
                "summary": "Service, version, region and database host (no credentials).",
                "responses": {"200": _ok("Service information.", "Info")},
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                    "200": {
                        "description": "OpenAPI document.",
                        "content": {_JSON: {"schema": {"type": "object"}}},
                        "headers": _NO_STORE,
                    }
                },
            }
        },
        "/api/categories": {
            "get": {
                "operationId": "listCategories",
                "summary": "Categories in use, with product counts.",
                "parameters": [_IF_NONE_MATCH],
                "responses": {
                    "200": _ok("Categories.", "CategoryList", cacheable=True),
                    "304": _NOT_MODIFIED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/products": {
            "get": {
                "operationId": "listProducts",
                "summary": "List products (filter, search, sort, paginate).",
                "parameters": [*list_params, _IF_NONE_MATCH],
                "responses": {
                    "200": _ok("A page of products.", "ProductList", cacheable=True),
                    "304": _NOT_MODIFIED,
                    "414": {
                        "description": "Request head too large for the HTTP server (empty body)."
                    },
                    "422": _error("Invalid query parameter."),
                    "503": _UNAVAILABLE,
                },
            },
            "post": _write(
                {
                    "operationId": "createProduct",
                    "summary": "Create a product.",
                    "requestBody": _json_body("ProductCreate"),
                    "responses": {
                        "201": {
                            **_ok("Created.", "Product"),
                            "headers": {
                                **_NO_STORE,
                                "Location": {
                                    "description": "URL of the new product.",
                                    "schema": {"type": "string"},
                                },
                            },
                        },
                        "409": _error("Duplicate sku."),
                        **_BODY_ERRORS,
                    },
                }
            ),
        },
        "/api/products/{id}": {
            "parameters": [_PRODUCT_ID],
            "get": {
                "operationId": "getProduct",
                "summary": "One product.",
                "parameters": [_IF_NONE_MATCH],
                "responses": {
                    "200": _ok("The product.", "Product", cacheable=True),
                    "304": _NOT_MODIFIED,
                    "404": _error("No such product (never a 304, whatever If-None-Match)."),
                    "503": _UNAVAILABLE,
                },
            },
            "put": _write(
                {
                    "operationId": "replaceProduct",
                    "summary": "Replace a product's writable fields.",
                    "requestBody": _json_body("ProductCreate"),
                    "responses": {
                        "200": _ok("Updated.", "Product"),
                        "404": _error("No such product."),
                        "409": _error("Duplicate sku."),
                        **_BODY_ERRORS,
                    },
                }
            ),
            "patch": _write(
                {
                    "operationId": "updateProduct",
                    "summary": "Change some of a product's fields.",
                    "requestBody": _json_body("ProductPatch"),
                    "responses": {
                        "200": _ok("Updated.", "Product"),
                        "404": _error("No such product."),
                        "409": _error("Duplicate sku."),
                        **_BODY_ERRORS,
                    },
                }
            ),
            "delete": _write(
                {
                    "operationId": "deleteProduct",
                    "summary": "Delete a product.",
                    "responses": {
                        "204": {"description": "Deleted.", "headers": _NO_STORE},
                        "404": _error("No such product."),
                        "503": _UNAVAILABLE,
                    },
                }
            ),
        },
    }


@cache
def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Product catalog API",
            "version": version,
            "description": 'Every error is JSON {"error": <code>, "detail": <text>}. '
            "Unknown paths give 404, unsupported methods 405. The successful GETs of "
            "/api/products, /api/products/{id} and /api/categories may be cached by shared "
            "caches (CloudFront) for s-maxage seconds and carry an ETag; If-None-Match with "
            "a current one gives 304. HEAD answers as GET, without the body. Every other "
            "answer is Cache-Control: no-store.",
        },
        "paths": _paths(),
        "components": {"schemas": _schemas()},
    }
