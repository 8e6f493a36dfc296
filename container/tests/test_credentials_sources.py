"""Where the API's database logins come from: IAM auth tokens for the least-privilege
role, and the environment choosing between static, Secrets Manager and IAM sources.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import boto3
import pytest
from botocore.stub import Stubber

from app import credentials as creds
from app.config import Settings
from app.credentials import (
    CredentialsError,
    CredentialSources,
    IamAuthTokens,
    SecretsManagerCredentials,
    StaticCredentials,
)
from tests.conftest import (
    APP_ROLE,
    CONTAINER_DIR,
    PG_HOST,
    PG_PORT,
    PG_USER,
    admin_conn,
    build_app,
    close_app,
)
from tests.credentials_fakes import (
    FAKE_AWS,
    SECRET_ARN,
    FakeClock,
)


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
