"""Credentials read at run time: a rotated secret is picked up without a restart.

The local server trusts 127.0.0.1, so the tests that need a password to matter
go through ``PasswordCheckingProxy``, which checks it against the role's real
verifier: ``ALTER ROLE ... PASSWORD`` changes what logs in, as on Aurora. The
pool, the connections and the database are the real ones; Secrets Manager is a
stand-in client object (or, for the production server, a stand-in HTTP endpoint
that the real boto3 talks to).
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import psycopg
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from psycopg import sql

from app import credentials as creds
from app.config import Settings
from app.credentials import (
    CatalogConnection,
    CredentialsError,
    CredentialSources,
    IamAuthTokens,
    SecretsManagerCredentials,
    StaticCredentials,
)
from app.db import Database
from app.logs import JsonFormatter
from tests.conftest import (
    APP_ROLE,
    CANARY_PASSWORD,
    CONTAINER_DIR,
    PG_HOST,
    PG_PORT,
    PG_USER,
    admin_conn,
    build_app,
    close_app,
    create_role,
    make_settings,
)
from tests.pgproxy import PasswordCheckingProxy

SECRET_ARN = "arn:aws:secretsmanager:eu-test-1:123456789012:secret:rds!cluster-test-AbCdEf"
FAKE_AWS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "x" * 40}


class FakeSecretsManager:
    """Stands in for a boto3 Secrets Manager client (``get_secret_value`` only).

    ``then`` queues the passwords later reads return (one per read; the last stays).
    """

    def __init__(self, username: str, password: str) -> None:
        self.secret = {"engine": "postgres", "username": username, "password": password}
        self.calls = 0
        self.error: Exception | None = None
        self._next: list[str] = []
        self._lock = threading.Lock()

    def rotate(self, password: str) -> None:
        self.secret["password"] = password

    def then(self, *passwords: str) -> None:
        self._next += passwords

    def get_secret_value(self, *, SecretId: str) -> dict:
        with self._lock:
            self.calls += 1
            if self.error is not None:
                raise self.error
            body = json.dumps(self.secret)
            if self._next:
                self.rotate(self._next.pop(0))
        return {"ARN": SecretId, "Name": "rds!cluster-test", "SecretString": body}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def access_denied() -> ClientError:
    return ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
        "GetSecretValue",
    )


def new_password(tag: str) -> str:
    return f"pw-{tag}-{secrets.token_hex(8)}"


def set_password(role: str, password: str) -> None:
    with admin_conn() as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )


def terminate_backends(role: str) -> int:
    with admin_conn() as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
            (role,),
        ).fetchone()[0]


@pytest.fixture
def auth_proxy():
    proxy = PasswordCheckingProxy(PG_HOST, PG_PORT, admin_user=PG_USER)
    proxy.start()
    yield proxy
    proxy.stop()


# -- rotation -------------------------------------------------------------------------
def test_rotated_password_is_picked_up_without_a_restart(app, database, auth_proxy):
    password = new_password("a")
    role = create_role("rotating", password=password, member_of=APP_ROLE)
    store = FakeSecretsManager(role, password)
    provider = SecretsManagerCredentials(SECRET_ARN, client=store, ttl=3600)
    rotating = build_app(
        database,
        credentials=CredentialSources(queries=provider, migrations=provider),
        db_port=auth_proxy.port,
        db_pool_min=2,
        db_pool_max=2,
        migrate_on_start=False,  # the schema is there (the `app` fixture)
        service_name="catalog-rotation-test",
    )
    try:
        client = rotating.test_client()
        db = rotating.extensions["catalog.db"]
        assert client.get("/health/ready").status_code == 200
        db.pool.wait(timeout=10)
        created = client.post(
            "/api/products", json={"name": "Rot", "price": 1, "sku": f"ROT-{time.time_ns()}"}
        )
        assert created.status_code == 201
        product = created.json["id"]
        # Both pooled connections logged in with the secret, read once.
        assert (provider.reads, store.calls) == (1, 1)
        seen = [password]

        for rotation in (1, 2):  # the secret rotates twice; the app never restarts
            old, password = password, new_password(f"r{rotation}")
            seen.append(password)
            set_password(role, password)
            store.rotate(password)
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(
                    host=PG_HOST, port=auth_proxy.port, user=role, password=old, dbname=database
                )
            rejected_before = auth_proxy.rejected(role)
            # Every pooled connection goes; the replacements must log in anew.
            assert terminate_backends(role) >= 1
            statuses = [client.get("/api/products?limit=1").status_code for _ in range(5)]
            statuses.append(
                client.post(
                    "/api/products",
                    json={"name": "After", "price": 2, "sku": f"ROT-{time.time_ns()}"},
                ).status_code
            )
            statuses.append(client.patch(f"/api/products/{product}", json={"stock": 7}).status_code)
            assert statuses == [200] * 5 + [201, 200]
            # The old (cached) password was rejected, and that made the provider
            # read the secret again at once: one read per rotation, not per connection.
            assert auth_proxy.rejected(role) > rejected_before
            assert (provider.reads, store.calls) == (1 + rotation, 1 + rotation)

        info = client.get("/api/info")
        assert info.status_code == 200
        assert not any(p in info.text for p in seen)
    finally:
        close_app(rotating)


def test_secret_is_read_once_within_its_ttl(app, database, auth_proxy):
    password = new_password("ttl")
    role = create_role("cached", password=password, member_of=APP_ROLE)
    store = FakeSecretsManager(role, password)
    clock = FakeClock()
    provider = SecretsManagerCredentials(SECRET_ARN, client=store, ttl=300, clock=clock)
    settings = make_settings(
        database, db_port=auth_proxy.port, db_pool_min=4, db_pool_max=4, migrate_on_start=False
    )
    db = Database(settings, CredentialSources(queries=provider, migrations=provider))
    db.open()
    try:
        db.pool.wait(timeout=10)  # four connections, opened by the pool's threads at once
        kwargs = settings.connection_kwargs()
        for _ in range(3):
            with CatalogConnection.connect(**kwargs, credentials=provider) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (role,)
        assert store.calls == 1
        assert auth_proxy.attempts.count((role, True)) == 7
        clock.advance(299)
        CatalogConnection.connect(**kwargs, credentials=provider).close()
        assert store.calls == 1
        clock.advance(2)  # past the TTL: read again, then cached again
        CatalogConnection.connect(**kwargs, credentials=provider).close()
        CatalogConnection.connect(**kwargs, credentials=provider).close()
        assert store.calls == 2
        assert provider.reads == 2
    finally:
        db.close(timeout=2)


def test_unreadable_secret_keeps_the_cached_login_and_fails_cleanly_without_one():
    clock = FakeClock()
    store = FakeSecretsManager("u", "pw-cached-1")
    provider = SecretsManagerCredentials(SECRET_ARN, client=store, ttl=300, clock=clock)
    first = provider.get()
    clock.advance(301)
    store.error = access_denied()
    # Secrets Manager unreachable at the TTL: go on with what still works.
    assert provider.get() is first
    assert store.calls == 2
    clock.advance(10)
    assert provider.get() is first
    assert store.calls == 2  # not retried on every connection
    clock.advance(25)
    assert provider.get() is first
    assert store.calls == 3
    # After a rejection nothing cached is worth using: the error surfaces.
    with pytest.raises(CredentialsError, match="AccessDeniedException") as info:
        provider.refresh(first)
    assert "pw-cached-1" not in str(info.value)
    assert SECRET_ARN in str(info.value)


@pytest.mark.parametrize(
    "secret_string",
    ['{"username": "u"}', "not json pw-in-plain-text", '{"username": "u", "password": ""}', "[]"],
)
def test_malformed_secret_is_refused_without_quoting_it(secret_string):
    class Store:
        def get_secret_value(self, SecretId):
            return {"SecretString": secret_string}

    provider = SecretsManagerCredentials(SECRET_ARN, client=Store())
    with pytest.raises(CredentialsError, match="not a JSON object") as info:
        provider.get()
    assert "pw-in-plain-text" not in str(info.value)


def test_secret_store_down_at_start_is_503_then_recovers(database, app):
    store = FakeSecretsManager(PG_USER, "irrelevant-here")
    store.error = access_denied()
    provider = SecretsManagerCredentials(SECRET_ARN, client=store, ttl=300)
    down = build_app(
        database,
        credentials=CredentialSources(queries=provider, migrations=provider),
        migrate_on_start=False,
    )
    try:
        client = down.test_client()
        resp = client.get("/api/products")
        assert resp.status_code == 503
        assert resp.json["error"] == "service_unavailable"
        assert "irrelevant-here" not in resp.text
        store.error = None  # Secrets Manager answers again
        deadline = time.monotonic() + 20
        while client.get("/api/products").status_code != 200:
            assert time.monotonic() < deadline, "never recovered"
            time.sleep(0.3)
    finally:
        close_app(down)


# -- logs -------------------------------------------------------------------------------
def test_passwords_never_reach_the_logs(app, database, auth_proxy, caplog):
    good, bad, wrong_static = new_password("good"), new_password("bad"), new_password("static")
    role = create_role("logged", password=good, member_of=APP_ROLE)
    caplog.set_level(logging.DEBUG)
    for name in ("psycopg", "psycopg.pool", "app"):
        caplog.set_level(logging.DEBUG, logger=name)

    # The secret first holds a wrong password, then (read again) the right one.
    store = FakeSecretsManager(role, bad)
    store.then(good)
    provider = SecretsManagerCredentials(SECRET_ARN, client=store, ttl=3600)
    db = Database(
        make_settings(database, db_port=auth_proxy.port, migrate_on_start=False),
        CredentialSources(queries=provider, migrations=provider),
    )
    db.open()
    try:
        db.pool.wait(timeout=10)
        db.ping(timeout=5)
    finally:
        db.close(timeout=2)
    assert store.calls == 2
    # A wrong static password: every attempt fails, and is logged, for a while.
    failing = build_app(
        database,
        credentials=CredentialSources(*[StaticCredentials(role, wrong_static)] * 2),
        db_port=auth_proxy.port,
        migrate_on_start=False,
        db_pool_timeout=1.0,
    )
    try:
        resp = failing.test_client().get("/api/products")
        assert resp.status_code == 503
        assert wrong_static not in resp.text
        time.sleep(0.5)
    finally:
        close_app(failing)

    text = caplog.text
    assert "rejected the login" in text  # the failures were logged ...
    assert "password authentication failed" in text
    formatter = JsonFormatter()
    for record in caplog.records:
        raw = [record.getMessage(), repr(record.args), repr(vars(record))]
        if record.exc_info:
            raw.append(logging.Formatter().formatException(record.exc_info))
        raw.append(formatter.format(record))
        for password in (good, bad, wrong_static):
            assert not any(password in r for r in raw), record  # ... without the secrets


def test_passwords_read_at_run_time_are_scrubbed_from_log_lines():
    store = FakeSecretsManager("u", new_password("scrub"))
    leaked = SecretsManagerCredentials(SECRET_ARN, client=store).get().password
    record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "oops %s", (leaked,), None)
    line = JsonFormatter().format(record)
    assert leaked not in line
    assert "[REDACTED]" in line


# -- IAM database authentication -----------------------------------------------------
class CountingRds:
    """A real boto3 RDS client (tokens are signed locally), counting its token calls."""

    def __init__(self) -> None:
        session = boto3.session.Session(region_name="eu-test-1", **FAKE_AWS)
        self._client = session.client("rds")
        self.calls: list[dict] = []
        self.tokens: list[str] = []

    @property
    def meta(self):
        return self._client.meta

    def generate_db_auth_token(self, **kwargs) -> str:
        self.calls.append(kwargs)
        token = self._client.generate_db_auth_token(**kwargs)
        self.tokens.append(token)
        return token


def test_iam_auth_runs_the_api_as_the_least_privilege_role(app, database, caplog):
    caplog.set_level(logging.DEBUG)
    rds = CountingRds()
    tokens = IamAuthTokens(PG_HOST, PG_PORT, APP_ROLE, region="eu-test-1", client=rds)
    iam = build_app(
        database,
        credentials=CredentialSources(queries=tokens, migrations=StaticCredentials(PG_USER, "")),
        db_iam_auth=True,
        db_sslmode="require",
        db_pool_min=2,
        db_pool_max=2,
        service_name="catalog-iam-test",
    )
    try:
        assert iam.extensions["catalog.db"].wait_schema(20)
        client = iam.test_client()
        assert client.get("/health/ready").status_code == 200
        sku = f"IAM-{time.time_ns()}"
        resp = client.post(
            "/api/products", json={"name": "Iam", "price": "3.50", "sku": sku, "category": "x"}
        )
        assert resp.status_code == 201, resp.json
        pid = resp.json["id"]
        assert client.get(f"/api/products/{pid}").status_code == 200
        assert client.patch(f"/api/products/{pid}", json={"stock": 2}).status_code == 200
        put = client.put(f"/api/products/{pid}", json={"name": "Iam2", "price": 4, "sku": sku})
        assert put.status_code == 200
        listed = client.get("/api/products?q=iam&sort=-price&limit=5")
        assert listed.status_code == 200
        assert any(p["id"] == pid for p in listed.json["products"])
        assert client.get("/api/categories").status_code == 200
        dup = client.post("/api/products", json={"name": "Dup", "price": 1, "sku": sku})
        assert dup.status_code == 409
        assert client.delete(f"/api/products/{pid}").status_code == 204
        with admin_conn() as conn:
            sessions = conn.execute(
                "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                " WHERE a.application_name = 'catalog-iam-test'"
            ).fetchall()
    finally:
        close_app(iam)
    assert sessions
    assert set(sessions) == {(APP_ROLE, True)}  # every query ran as the app role, over TLS
    assert rds.calls[0] == {
        "DBHostname": PG_HOST,
        "Port": PG_PORT,
        "DBUsername": APP_ROLE,
        "Region": "eu-test-1",
    }
    assert len(rds.calls) == 1  # one token for both pooled connections (cached)
    token = rds.tokens[0]
    assert token.startswith(f"{PG_HOST}:{PG_PORT}/?")
    assert "Action=connect" in token
    assert f"DBUser={APP_ROLE}" in token
    assert "X-Amz-Signature=" in token
    assert token not in caplog.text


def test_iam_tokens_are_cached_for_ten_minutes_and_renewed_after_a_rejection():
    clock = FakeClock()
    rds = CountingRds()
    tokens = IamAuthTokens("db.example", 5432, "catalog_app", client=rds, clock=clock)
    first = tokens.get()
    clock.advance(599)
    assert tokens.get() is first
    clock.advance(2)
    second = tokens.get()
    assert second is not first
    assert tokens.refresh(first) is second  # someone else already renewed it
    assert tokens.refresh(second) is not second
    assert len(rds.calls) == 3
    assert rds.calls[0]["Region"] == "eu-test-1"  # the client's region when none is set


# -- configuration ------------------------------------------------------------------------
def test_environment_selects_the_credentials_sources(monkeypatch):
    for name in ("DB_SECRET_ARN", "DB_IAM_AUTH", "DB_APP_USER", "DB_SSLMODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DB_USERNAME", "master")
    monkeypatch.setenv("DB_PASSWORD", "static-pw")
    sources = creds.from_settings(Settings.from_env())
    assert isinstance(sources.queries, StaticCredentials)
    assert sources.queries is sources.migrations
    assert sources.queries.get().user == "master"
    assert "static-pw" not in repr(sources) + repr(Settings.from_env())

    monkeypatch.setenv("DB_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("DB_SECRET_TTL_SECONDS", "60")
    sources = creds.from_settings(Settings.from_env())
    assert isinstance(sources.queries, SecretsManagerCredentials)
    assert sources.queries is sources.migrations
    assert sources.queries.secret_id == SECRET_ARN

    monkeypatch.setenv("DB_IAM_AUTH", "1")
    monkeypatch.setenv("DB_APP_USER", "catalog_reader")
    monkeypatch.setenv("DB_HOST", "cluster.example")
    settings = Settings.from_env()
    assert settings.db_sslmode == "require"  # the default under IAM auth
    sources = creds.from_settings(settings)
    assert isinstance(sources.queries, IamAuthTokens)
    assert (sources.queries.user, sources.queries.host) == ("catalog_reader", "cluster.example")
    assert isinstance(sources.migrations, SecretsManagerCredentials)  # the admin login

    monkeypatch.setenv("DB_SSLMODE", "prefer")
    with pytest.raises(ValueError, match="DB_SSLMODE"):
        Settings.from_env()
    monkeypatch.setenv("DB_SSLMODE", "verify-full")
    assert Settings.from_env().db_iam_auth
    for bad in ("pg_app", "rds_app", 'x"; DROP TABLE products; --', "App"):
        monkeypatch.setenv("DB_APP_USER", bad)
        with pytest.raises(ValueError, match="DB_APP_USER"):
            Settings.from_env()
    monkeypatch.setenv("DB_APP_USER", "catalog_app")
    monkeypatch.setenv("DB_SECRET_TTL_SECONDS", "0")
    with pytest.raises(ValueError, match="DB_SECRET_TTL_SECONDS"):
        Settings.from_env()


def test_secrets_manager_call_matches_the_real_api():
    # A real boto3 client (parameter validation against the service model), stubbed.
    client = boto3.session.Session(region_name="eu-test-1", **FAKE_AWS).client("secretsmanager")
    stubber = Stubber(client)
    stubber.add_response(
        "get_secret_value",
        {"ARN": SECRET_ARN, "Name": "n", "SecretString": '{"username":"m","password":"p-1x"}'},
        {"SecretId": SECRET_ARN},
    )
    stubber.add_client_error(
        "get_secret_value", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    with stubber:
        provider = SecretsManagerCredentials(SECRET_ARN, client=client)
        login = provider.get()
        assert (login.user, login.password) == ("m", "p-1x")
        assert "p-1x" not in repr(login)
        with pytest.raises(CredentialsError, match="ResourceNotFoundException"):
            provider.refresh(login)
    stubber.assert_no_pending_responses()


def test_boto3_is_not_imported_without_aws_sources():
    code = (
        "import sys\n"
        "from app.config import Settings\n"
        "from app.factory import create_app\n"
        "create_app(Settings(), start_db=False)\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=CONTAINER_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={"OTEL_SDK_DISABLED": "true", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr


# -- the production server ----------------------------------------------------------------
class _SecretsEndpoint(ThreadingHTTPServer):
    """Answers Secrets Manager's GetSecretValue (JSON 1.1 protocol) for the real boto3."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _SecretsHandler)
        self.secret = {"username": username, "password": password}
        self.calls: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SecretsHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = (
            self.headers.get("X-Amz-Target") == "secretsmanager.GetSecretValue"
            and self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
            and body.get("SecretId") == SECRET_ARN
        )
        if ok:
            self.server.calls.append(body["SecretId"])
            status, payload = (
                200,
                {
                    "ARN": SECRET_ARN,
                    "Name": "rds!cluster-test",
                    "VersionId": "v",
                    "SecretString": json.dumps(self.server.secret),
                    "VersionStages": ["AWSCURRENT"],
                },
            )
        else:
            status, payload = 400, {"__type": "InvalidRequestException", "message": "bad request"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_production_server_survives_a_rotation(app, database, auth_proxy, start_server, tmp_path):
    password = new_password("srv")
    role = create_role("srvrot", password=password, member_of=APP_ROLE)
    endpoint = _SecretsEndpoint(role, password)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        srv = start_server(
            database,
            DB_PORT=str(auth_proxy.port),
            DB_SECRET_ARN=SECRET_ARN,
            DB_SECRET_TTL_SECONDS="3600",
            MIGRATE_ON_START="false",
            AWS_ENDPOINT_URL_SECRETS_MANAGER=endpoint.url,
            AWS_ACCESS_KEY_ID=FAKE_AWS["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=FAKE_AWS["aws_secret_access_key"],
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_EC2_METADATA_DISABLED="true",
            LOG_LEVEL="DEBUG",  # botocore logs response bodies at DEBUG: it must not here
        )
        srv.wait_health("/health/ready")
        for _ in range(10):  # new connections each: reach both workers
            assert requests.get(srv.url + "/api/products?limit=1", timeout=10).status_code == 200
        reads_before = len(endpoint.calls)
        assert 1 <= reads_before <= 2  # once per worker process

        old, password = password, new_password("srv2")
        set_password(role, password)
        endpoint.secret["password"] = password
        assert terminate_backends(role) >= 1
        statuses = [
            requests.get(srv.url + "/api/products?limit=1", timeout=10).status_code
            for _ in range(10)
        ]
        statuses.append(
            requests.post(
                srv.url + "/api/products",
                json={"name": "Srv", "price": 1, "sku": f"SRV-{time.time_ns()}"},
                timeout=10,
            ).status_code
        )
        assert statuses == [200] * 10 + [201]
        assert reads_before < len(endpoint.calls) <= reads_before + 2
        info = requests.get(srv.url + "/api/info", timeout=5).text
        assert srv.stop() == 0
        logs = srv.logs()
        assert "rejected the login" in logs
        for secret in (old, password, CANARY_PASSWORD):
            assert secret not in logs
            assert secret not in info
    finally:
        endpoint.shutdown()
        endpoint.server_close()
