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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
import requests

from app.credentials import (
    CatalogConnection,
    CredentialsError,
    CredentialSources,
    SecretsManagerCredentials,
)
from app.db import Database
from tests.conftest import (
    APP_ROLE,
    CANARY_PASSWORD,
    PG_HOST,
    PG_USER,
    build_app,
    close_app,
    create_role,
    make_settings,
)
from tests.credentials_fakes import (
    FAKE_AWS,
    SECRET_ARN,
    FakeClock,
    FakeSecretsManager,
    access_denied,
    new_password,
    set_password,
    terminate_backends,
)


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
