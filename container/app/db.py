"""Connection pool, database-availability errors and the start-up migrator."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from app import migrations
from app.config import Settings
from app.credentials import CatalogConnection, CredentialSources, from_settings
from app.errors import DatabaseUnavailable

log = logging.getLogger("app.db")

T = TypeVar("T")

# Errors that mean "the database is not reachable / not usable right now".
_UNAVAILABLE = (PoolTimeout, PoolClosed, psycopg.OperationalError)


class Database:
    def __init__(self, settings: Settings, credentials: CredentialSources | None = None) -> None:
        self.settings = settings
        # Asked for a login at every new connection: a rotated secret is picked up.
        self.credentials = credentials or from_settings(settings)
        self._schema_ready = threading.Event()
        self._stop = threading.Event()
        self._migrator: threading.Thread | None = None
        self.pool = ConnectionPool(
            conninfo="",
            connection_class=CatalogConnection,
            kwargs={
                **settings.connection_kwargs(),
                "credentials": self.credentials.queries,
                "autocommit": True,
                "row_factory": dict_row,
            },
            min_size=min(settings.db_pool_min, settings.db_pool_max),
            max_size=settings.db_pool_max,
            timeout=settings.db_pool_timeout,
            reconnect_timeout=settings.db_reconnect_timeout,
            max_idle=300,
            name="catalog",
            open=False,
        )

    # -- lifecycle ---------------------------------------------------------
    def open(self) -> None:
        """Open the pool without waiting: the service starts even if the DB is down."""
        self.pool.open(wait=False)
        if self.settings.migrate_on_start:
            self._migrator = threading.Thread(
                target=self._migrate_until_done, name="migrator", daemon=True
            )
            self._migrator.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.pool.close(timeout=timeout)

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready.is_set()

    def _migrate_until_done(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with self._migration_connection() as conn:
                    applied = migrations.migrate(conn, app_user=self.settings.db_app_user)
                self._schema_ready.set()
                log.info(
                    "database schema is up to date",
                    extra={"schema_version": migrations.LATEST_VERSION, "applied": applied},
                )
                return
            except Exception as exc:  # keep trying: the DB may simply not be up yet
                log.warning(
                    "migration attempt failed; will retry",
                    extra={
                        "error_type": type(exc).__name__,
                        "error_detail": str(exc)[:300],
                        "retry_in_s": delay,
                    },
                )
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    @contextmanager
    def _migration_connection(self) -> Iterator[psycopg.Connection]:
        """A connection as the admin user: a pooled one when queries log in as it too."""
        if self.credentials.migrations is self.credentials.queries:
            with self.pool.connection(timeout=self.settings.db_pool_timeout) as conn:
                yield conn
            return
        with CatalogConnection.connect(
            **self.settings.connection_kwargs(),
            credentials=self.credentials.migrations,
            autocommit=True,
        ) as conn:
            yield conn

    def wait_schema(self, timeout: float) -> bool:
        return self._schema_ready.wait(timeout)

    # -- use -----------------------------------------------------------------
    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection; DB trouble becomes DatabaseUnavailable (HTTP 503)."""
        try:
            with self.pool.connection(timeout=timeout) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        if isinstance(exc, PoolTimeout):
            detail = "The database is not reachable right now."
        elif isinstance(exc, PoolClosed):
            detail = "The service is shutting down."
        else:
            detail = "The database connection failed."
        log.warning(
            "database unavailable",
            extra={"error_type": type(exc).__name__, "error_detail": str(exc)[:300]},
        )
        return DatabaseUnavailable(detail, retry_after=self.settings.retry_after_seconds)

    def require_schema(self) -> None:
        """503 until the schema is migrated (checked cheaply once it is)."""
        if self._schema_ready.is_set():
            return
        with self.connection() as conn:
            version = migrations.current_version(conn)
        if version >= migrations.LATEST_VERSION:
            self._schema_ready.set()
            return
        raise DatabaseUnavailable(
            "The database schema is being migrated.",
            retry_after=self.settings.retry_after_seconds,
        )

    def read(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run a read-only unit of work; retried once on a dead pooled connection.

        A connection the database dropped (restart, failover) is only noticed when
        used; reads are idempotent, so one retry on a fresh connection hides that.
        """
        self.require_schema()
        for attempt in (1, 2):
            conn: psycopg.Connection | None = None
            try:
                with self.pool.connection() as conn:
                    return fn(conn)
            except (PoolTimeout, PoolClosed) as exc:
                raise self._unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    # The server dropped this connection, so it likely dropped the
                    # other idle ones too: test them all before the retry.
                    self._check_pool()
                    continue
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    def _check_pool(self) -> None:
        try:
            self.pool.check()
        except Exception:  # best effort; the retry reports what really fails
            log.debug("pool check failed", exc_info=True)

    def write(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run ``fn`` in one transaction: all of it commits, or none of it does.

        Retried once only when the pooled connection turns out dead at BEGIN,
        i.e. before anything of this request reached the database.
        """
        self.require_schema()
        for attempt in (1, 2):
            conn: psycopg.Connection | None = None
            began = False
            try:
                with self.pool.connection() as conn, conn.transaction():
                    began = True
                    return fn(conn)
            except (PoolTimeout, PoolClosed) as exc:
                raise self._unavailable(exc) from exc
            except psycopg.OperationalError as exc:
                if attempt == 1 and not began and conn is not None and conn.broken:
                    self._check_pool()
                    continue
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")

    def ping(self, timeout: float) -> None:
        with self.connection(timeout=timeout) as conn:
            conn.execute("SELECT 1")
