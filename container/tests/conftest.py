"""Fixtures: a throwaway PostgreSQL database per run, in-process apps, real servers."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

# Tests run with tracing off (test_tracing.py turns it on in its own server process).
os.environ["OTEL_SDK_DISABLED"] = "true"

from app.config import Settings
from app.factory import create_app
from tests.dynamodb import DynamoEndpoint, create_table, start_moto, stop_moto
from tests.pgproxy import PasswordCheckingProxy, free_port

CONTAINER_DIR = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PGPORT", "5432"))
PG_USER = os.environ.get("PGUSER", "postgres")
# A canary: must never show up in a log line or a response.
CANARY_PASSWORD = "canary-" + secrets.token_hex(8)
# This run's least-privilege application role (roles are per cluster: a run of its
# own must not share one with another run against the same server).
APP_ROLE = "catalog_app_test_" + secrets.token_hex(4)
# Roles the tests created, dropped once every test database is gone.
_CREATED_ROLES: list[str] = [APP_ROLE]


def admin_conn() -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    )


def create_database(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_db_name(tag: str = "") -> str:
    return f"catalog_test_{tag}{secrets.token_hex(4)}"


def create_role(prefix: str, password: str | None = None, member_of: str | None = None) -> str:
    """A login role, dropped at the end of the run."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    query = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
    if password is not None:
        query += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
    if member_of:
        query += sql.SQL(" IN ROLE {}").format(sql.Identifier(member_of))
    with admin_conn() as conn:
        conn.execute(query)
    _CREATED_ROLES.append(name)
    return name


def forget_role(name: str) -> None:
    """Drop a role at the end of the run (one a test had the migrations create)."""
    _CREATED_ROLES.append(name)


@pytest.fixture(scope="session", autouse=True)
def _drop_created_roles() -> Iterator[None]:
    # Session-scoped and autouse: torn down after the databases, which hold grants.
    yield
    with admin_conn() as conn:
        for name in dict.fromkeys(_CREATED_ROLES):
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.Error as exc:  # still granted something in a leftover database
                print(f"could not drop role {name}: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """This run's own database, dropped at the end."""
    name = new_db_name()
    create_database(name)
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database for one test (migration races, late databases)."""
    name = new_db_name("s")
    create_database(name)
    try:
        yield name
    finally:
        drop_database(name)


def make_settings(dbname: str, **overrides) -> Settings:
    base = {
        "db_host": PG_HOST,
        "db_port": PG_PORT,
        "db_name": dbname,
        "db_user": PG_USER,
        "db_password": CANARY_PASSWORD,
        "db_sslmode": "disable",
        "db_pool_min": 1,
        "db_pool_max": 4,
        "db_pool_timeout": 2.0,
        "db_connect_timeout": 2,
        "db_reconnect_timeout": 3.0,
        "retry_after_seconds": 3,
        "region": "eu-test-1",
        "db_app_user": APP_ROLE,
    }
    base.update(overrides)
    return Settings(**base)


def build_app(dbname: str, credentials=None, **overrides):
    app = create_app(make_settings(dbname, **overrides), credentials=credentials)
    app.config["TESTING"] = True
    return app


def close_app(app) -> None:
    app.extensions["catalog.db"].close(timeout=2)


@pytest.fixture(scope="session")
def app(database):
    app = build_app(database)
    assert app.extensions["catalog.db"].wait_schema(30), "migrations did not finish"
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def dynamodb() -> Iterator[DynamoEndpoint]:
    """This run's moto server and idempotency table (tests/dynamodb.py)."""
    instance = f"apptest-{os.getpid()}"
    url, started = start_moto(instance)
    try:
        yield create_table(url)
    finally:
        if started:
            stop_moto(instance)


@pytest.fixture(scope="session")
def idem_app(database, dynamodb):
    """An in-process app whose writes take Idempotency-Key (the ``dynamodb`` table)."""
    app = create_app(
        make_settings(database, idempotency_table=dynamodb.table),
        idempotency_client=dynamodb.client(),
    )
    app.config["TESTING"] = True
    assert app.extensions["catalog.db"].wait_schema(30), "migrations did not finish"
    yield app
    close_app(app)


@pytest.fixture
def db_conn(database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, autocommit=True
    ) as conn:
        yield conn


@pytest.fixture
def clean(app, db_conn) -> None:
    """An empty products table for tests that count rows."""
    db_conn.execute("TRUNCATE products RESTART IDENTITY")


@pytest.fixture
def auth_proxy() -> Iterator[PasswordCheckingProxy]:
    """A proxy in front of the server that checks passwords (it trusts 127.0.0.1)."""
    proxy = PasswordCheckingProxy(PG_HOST, PG_PORT, admin_user=PG_USER)
    proxy.start()
    yield proxy
    proxy.stop()


# -- real production servers ---------------------------------------------------------
def dockerfile_cmd() -> list[str]:
    """The exec-form CMD of the Dockerfile: tests run the very same command."""
    for line in (CONTAINER_DIR / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            return json.loads(line[4:])
    raise AssertionError("Dockerfile has no CMD")


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_health(self, path: str = "/health", timeout: float = 30.0, status: int = 200):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.logs()}")
            with contextlib.suppress(requests.RequestException):
                last = requests.get(self.url + path, timeout=5)
                if last.status_code == status:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"{path} never returned {status} (last: {last}):\n{self.logs()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def server_env(dbname: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DB_", "GUNICORN_"))}
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "DB_HOST": PG_HOST,
            "DB_PORT": str(PG_PORT),
            "DB_NAME": dbname,
            "DB_USERNAME": PG_USER,
            "DB_PASSWORD": CANARY_PASSWORD,
            "DB_SSLMODE": "disable",
            "DB_APP_USER": APP_ROLE,
            "DB_POOL_TIMEOUT": "2",
            "DB_CONNECT_TIMEOUT": "2",
            "DB_RECONNECT_TIMEOUT": "3",
            "RETRY_AFTER_SECONDS": "3",
            "WEB_CONCURRENCY": "2",
            "GRACEFUL_TIMEOUT": "30",
            "OTEL_SDK_DISABLED": "true",
            "AWS_REGION": "eu-test-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def start_server(tmp_path) -> Iterator:
    servers: list[Server] = []

    def _start(dbname: str, **extra: str) -> Server:
        port = free_port()
        env = server_env(dbname, port, **extra)
        log_path = tmp_path / f"server-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                dockerfile_cmd(),
                cwd=CONTAINER_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(proc, port, log_path, env)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()
