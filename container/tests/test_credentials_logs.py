"""Passwords, whether static, read from Secrets Manager or rejected, never reach a log line."""

from __future__ import annotations

import logging
import time

from app.credentials import (
    CredentialSources,
    SecretsManagerCredentials,
    StaticCredentials,
)
from app.db import Database
from app.logs import JsonFormatter
from tests.conftest import (
    APP_ROLE,
    build_app,
    close_app,
    create_role,
    make_settings,
)
from tests.credentials_fakes import (
    SECRET_ARN,
    FakeSecretsManager,
    new_password,
)


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
