"""Application factory: wiring of config, logging, pool, tracing, routes and errors."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from multiprocessing import util as mp_util
from typing import Any

import orjson
from flask import Flask, Response, request
from flask.json.provider import JSONProvider

from app import telemetry
from app.cache import VersionedCache
from app.config import Settings
from app.credentials import CredentialSources
from app.db import Database
from app.edge import EdgePolicy
from app.errors import register_error_handlers
from app.idempotency import DynamoStore, Idempotency, dynamodb_client
from app.logs import AccessLog, configure_logging, request_id_from

access_log = AccessLog()


class OrjsonProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=str).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


def create_app(
    settings: Settings | None = None,
    *,
    start_db: bool = True,
    credentials: CredentialSources | None = None,
    idempotency_client: Any = None,
) -> Flask:
    """The app. ``credentials`` replaces the logins ``settings`` configure, and
    ``idempotency_client`` the DynamoDB client of ``settings.idempotency_table``
    (tests: another endpoint)."""
    from app import __version__

    configure_logging()
    settings = settings or Settings.from_env(version=__version__)

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.url_map.strict_slashes = True

    # psycopg instrumentation patches connect(): do it before the pool connects.
    telemetry.instrument_psycopg()
    db = Database(settings, credentials)
    app.extensions["catalog.settings"] = settings
    app.extensions["catalog.db"] = db
    app.extensions["catalog.cache"] = VersionedCache(settings.list_cache_entries)
    app.extensions["catalog.edge"] = EdgePolicy(settings.cache_max_age_seconds, settings.version)
    store = None
    if settings.idempotency_table:
        region = settings.region if settings.region != "unknown" else None
        client = idempotency_client or dynamodb_client(region)
        store = DynamoStore(settings.idempotency_table, client)
    app.extensions["catalog.idempotency"] = Idempotency(
        store,
        lease_seconds=settings.idempotency_lease_seconds,
        retry_after_seconds=settings.retry_after_seconds,
    )

    from app.routes import bp

    app.register_blueprint(bp)
    register_error_handlers(app)
    _install_request_hooks(app)
    telemetry.setup_tracing(app, settings.service_name, settings.version)

    if start_db:
        db.open()
        _close_on_exit(db)
    logging.getLogger("app").info(
        "service configured",
        extra={
            "service": settings.service_name,
            "version": settings.version,
            "region": settings.region,
            "db_host": settings.db_host,
            "db_name": settings.db_name,
            "db_sslmode": settings.db_sslmode,
            "credentials_source": db.credentials.queries.source,
            "migrations_credentials_source": db.credentials.migrations.source,
            "pool_max": settings.db_pool_max,
            "idempotency": app.extensions["catalog.idempotency"].mode,
        },
    )
    return app


def _close_on_exit(db: Database) -> None:
    """Close the pool and flush spans when this (worker) process exits."""
    done = threading.Event()

    def shutdown() -> None:
        if done.is_set():
            return
        done.set()
        db.close(timeout=5.0)
        telemetry.shutdown_tracing()

    atexit.register(shutdown)
    # granian forks its workers with multiprocessing, whose children skip atexit
    # handlers but run multiprocessing finalizers.
    mp_util.Finalize(None, shutdown, exitpriority=10)


def _install_request_hooks(app: Flask) -> None:
    # Per-request state lives in the WSGI environ (plain dict lookups): these hooks
    # run on every request, and each werkzeug proxy access costs microseconds.
    @app.before_request
    def _start() -> None:
        environ = request.environ
        environ["catalog.start"] = time.perf_counter()
        environ["catalog.request_id"] = request_id_from(environ.get("HTTP_X_REQUEST_ID"))

    @app.after_request
    def _finish(response: Response) -> Response:
        environ = request.environ
        request_id = environ.get("catalog.request_id")
        if request_id:
            response.headers["X-Request-Id"] = request_id
        start = environ.get("catalog.start")
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - start) * 1000, 3) if start else None,
            "bytes": response.calculate_content_length(),
            "remote_addr": environ.get("HTTP_X_FORWARDED_FOR") or environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        trace_id = telemetry.current_trace_id()
        if trace_id:
            fields["trace_id"] = trace_id
        idempotency = environ.get("catalog.idempotency")
        if idempotency:
            fields["idempotency"] = idempotency
        query = environ.get("QUERY_STRING")
        if query:
            fields["query"] = query[:512]
        access_log.write(fields)
        return response
