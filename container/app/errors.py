"""JSON errors: every failure leaves as {"error": <code>, "detail": <text>}."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("app.errors")

# Werkzeug's exception names -> stable, machine-readable codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "service_unavailable",
}


class APIError(Exception):
    """An error the API reports on purpose."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = fields
        self.headers = headers or {}


class ValidationError(APIError):
    def __init__(self, fields: list[dict[str, str]], status: int = 422) -> None:
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        super().__init__(status, "validation_error", detail, fields=fields)


class DatabaseUnavailable(APIError):
    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(
            503,
            "service_unavailable",
            detail,
            headers={"Retry-After": str(retry_after)},
        )


def error_response(
    status: int,
    error: str,
    detail: str,
    *,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": error, "detail": detail}
    if fields:
        body["fields"] = fields
    request_id = request.environ.get("catalog.request_id") if request else None
    if request_id:
        body["request_id"] = request_id
    resp = Response(orjson.dumps(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(exc: APIError) -> Response:
        if exc.status >= 500:
            log.warning("request failed: %s", exc.detail, extra={"status": exc.status})
        return error_response(
            exc.status, exc.error, exc.detail, fields=exc.fields, headers=exc.headers
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        for key, value in exc.get_headers():
            if key.lower() not in ("content-type", "content-length"):
                headers[key] = value
        if status == 413:
            detail = "Request body exceeds the 1 MiB limit."
        elif status == 404:
            detail = "The requested resource was not found."
        elif status == 405:
            detail = "The method is not allowed for the requested URL."
        else:
            detail = exc.description or exc.name
        return error_response(
            status, _HTTP_CODES.get(status, "http_error"), detail, headers=headers
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Full traceback goes to the (JSON) log; the client only gets a generic message.
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
