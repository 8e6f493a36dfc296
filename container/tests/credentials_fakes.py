"""Stand-ins for the credentials tests: a Secrets Manager client, a clock, passwords.

``FakeSecretsManager`` answers ``get_secret_value`` from a dict the test
rotates; ``set_password`` / ``terminate_backends`` change what logs in on the
real server and drop the connections that logged in before.
"""

from __future__ import annotations

import json
import secrets
import threading

from botocore.exceptions import ClientError
from psycopg import sql

from tests.conftest import admin_conn

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
