"""Database credentials, asked for every time a connection is opened.

Aurora rotates its managed master secret (every 7 days by default). A password
read once at start-up would be wrong after a rotation, and every new pool
connection would fail until the task restarted. So the pool asks a provider
for the login of each new connection:

* ``StaticCredentials``: ``DB_USERNAME`` / ``DB_PASSWORD`` from the environment
  (local development and tests).
* ``SecretsManagerCredentials``: the JSON secret ``DB_SECRET_ARN`` (``username``
  and ``password``, which is what RDS keeps for a managed master user), cached
  for ``DB_SECRET_TTL_SECONDS`` and read again at once when the server rejects
  the password. The connection is then retried once with what was read.
* ``IamAuthTokens``: RDS IAM database authentication. boto3 signs a token
  locally for each new connection (valid for 15 minutes; cached for 10). The
  token goes over TLS, so IAM auth requires ``sslmode=require`` or stronger.

``CatalogConnection.connect`` takes the provider as its ``credentials``
argument. boto3 is imported only by the AWS sources, so local and development
use does not need it. No password or token is logged, put in an error message
or returned; each one read is also scrubbed from every log line
(``app.logs.redact``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg

from app.logs import redact

log = logging.getLogger("app.credentials")

SECRET_TTL_SECONDS = 300.0
IAM_TOKEN_TTL_SECONDS = 600.0  # the tokens are valid for 15 minutes
# After a failed read with a cached value still held, try again this much later.
_RETRY_READ_AFTER_SECONDS = 30.0

# Libpq reports a rejected login as text only (psycopg's OperationalError carries
# no SQLSTATE for a failed connection attempt). These are the server's messages
# for 28P01 invalid_password and 28000 invalid_authorization_specification, and
# libpq's own one for a missing password.
_AUTH_FAILURE = re.compile(
    r"authentication failed for user"  # password, md5, scram-sha-256, PAM (RDS IAM)
    r"|no password supplied"
    r"|role \".*\" does not exist"
    r"|pg_hba\.conf rejects connection"
    r"|no pg_hba\.conf entry",
)
_AUTH_SQLSTATES = frozenset({"28P01", "28000"})


class CredentialsError(psycopg.OperationalError):
    """The credentials could not be obtained (the database is unusable: HTTP 503)."""


@dataclass(frozen=True, eq=False)
class Credentials:
    """One login. Compared by identity: a refresh replaces the object."""

    user: str
    password: str = field(repr=False)


class CredentialsProvider:
    """Where a connection's user and password come from."""

    source = "static"
    #: Whether asking again can give a different answer (worth a retry).
    refreshable = False

    def get(self) -> Credentials:
        raise NotImplementedError

    def refresh(self, stale: Credentials) -> Credentials:
        """New credentials after ``stale`` was rejected by the server."""
        return self.get()


class StaticCredentials(CredentialsProvider):
    def __init__(self, user: str, password: str) -> None:
        self._credentials = Credentials(user, password)

    def get(self) -> Credentials:
        return self._credentials

    def __repr__(self) -> str:
        return f"StaticCredentials(user={self._credentials.user!r})"


class _CachedCredentials(CredentialsProvider):
    """Read through ``_read`` and keep the result for ``ttl`` seconds.

    ``reads`` counts the reads (the tests check the cache with it).
    """

    refreshable = True

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: Credentials | None = None
        self._expires = 0.0
        self.reads = 0

    def _read(self) -> Credentials:
        raise NotImplementedError

    def get(self) -> Credentials:
        with self._lock:
            if self._value is None:
                return self._fetch()
            if self._clock() >= self._expires:
                try:
                    return self._fetch()
                except CredentialsError as exc:
                    # Still holding a value the server may well accept: keep using
                    # it for a while rather than fail the connection outright.
                    log.warning(
                        "could not re-read the database credentials; keeping the cached ones",
                        extra={"credentials_source": self.source, "error_detail": str(exc)},
                    )
                    self._expires = self._clock() + min(self._ttl, _RETRY_READ_AFTER_SECONDS)
            return self._value

    def refresh(self, stale: Credentials) -> Credentials:
        with self._lock:
            # When several connections fail with the same stale value at once,
            # only the first one reads again; the others get what it read.
            if self._value is None or self._value is stale:
                return self._fetch()
            return self._value

    def _fetch(self) -> Credentials:
        value = self._read()
        redact(value.password)
        self.reads += 1
        self._value = value
        self._expires = self._clock() + self._ttl
        return value


def _error_text(exc: BaseException) -> str:
    """A short description of an AWS SDK error (its code and message, no payload)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _boto3_client(service: str, region: str | None, timeout: float) -> Any:
    import boto3  # lazy: only the AWS sources need it
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.session.Session().client(service, region_name=region, config=config)


class SecretsManagerCredentials(_CachedCredentials):
    """The JSON secret ``secret_id`` (``username``, ``password``), cached for ``ttl``.

    ``client`` is a boto3 Secrets Manager client (or anything with its
    ``get_secret_value``); made on first use when not given.
    """

    source = "secretsmanager"

    def __init__(
        self,
        secret_id: str,
        *,
        default_user: str = "",
        ttl: float = SECRET_TTL_SECONDS,
        region: str | None = None,
        client: Any = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl, clock)
        self.secret_id = secret_id
        self._default_user = default_user
        self._region = region
        self._client = client
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SecretsManagerCredentials(secret_id={self.secret_id!r})"

    def _read(self) -> Credentials:
        try:
            if self._client is None:
                self._client = _boto3_client("secretsmanager", self._region, self._timeout)
            response = self._client.get_secret_value(SecretId=self.secret_id)
        except Exception as exc:  # any SDK, credentials or network error
            raise CredentialsError(
                f"could not read the database secret {self.secret_id}: {_error_text(exc)}"
            ) from exc
        try:
            data = json.loads(response["SecretString"])
            password = data["password"]
            user = data.get("username") or self._default_user
        except Exception:  # the message must not quote the secret
            data = password = user = None
        if not isinstance(password, str) or not password or not isinstance(user, str) or not user:
            raise CredentialsError(
                f"the database secret {self.secret_id} is not a JSON object with "
                '"username" and "password" strings'
            )
        log.info(
            "read the database credentials",
            extra={"credentials_source": self.source, "secret_id": self.secret_id, "db_user": user},
        )
        return Credentials(user, password)


class IamAuthTokens(_CachedCredentials):
    """RDS IAM authentication tokens for ``user``, made by ``generate_db_auth_token``.

    ``client`` is a boto3 RDS client; made on first use when not given. Making a
    token needs no network call (it is signed locally with the task role's
    credentials), so a refresh is cheap.
    """

    source = "iam"

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        *,
        region: str | None = None,
        client: Any = None,
        ttl: float = IAM_TOKEN_TTL_SECONDS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl, clock)
        self.host, self.port, self.user = host, port, user
        self._region = region
        self._client = client
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"IamAuthTokens(user={self.user!r}, host={self.host!r})"

    def _read(self) -> Credentials:
        try:
            if self._client is None:
                self._client = _boto3_client("rds", self._region, self._timeout)
            region = self._region or self._client.meta.region_name
            token = self._client.generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=region
            )
        except Exception as exc:
            raise CredentialsError(
                f"could not make an IAM authentication token for {self.user}: {_error_text(exc)}"
            ) from exc
        log.debug("made an IAM authentication token", extra={"db_user": self.user})
        return Credentials(self.user, token)


def is_auth_failure(exc: BaseException) -> bool:
    """Whether a failed connection attempt was the server rejecting the login."""
    if getattr(exc, "sqlstate", None) in _AUTH_SQLSTATES:
        return True
    return bool(_AUTH_FAILURE.search(str(exc)))


class CatalogConnection(psycopg.Connection):
    """A psycopg connection whose login comes from a ``CredentialsProvider``.

    The pool calls ``connect`` for every new connection with the provider as
    ``credentials``: a rotated password or an expired token is replaced on the
    spot. A rejected login is refreshed and retried once.
    """

    @classmethod
    def connect(  # type: ignore[override]
        cls,
        conninfo: str = "",
        *,
        credentials: CredentialsProvider | None = None,
        **kwargs: Any,
    ) -> CatalogConnection:
        if credentials is None:
            return super().connect(conninfo, **kwargs)
        login = credentials.get()
        try:
            return super().connect(conninfo, **kwargs, **_login_kwargs(login))
        except psycopg.OperationalError as exc:
            if not (credentials.refreshable and is_auth_failure(exc)):
                raise
            log.warning(
                "the database rejected the login; reading the credentials again",
                extra={"credentials_source": credentials.source, "db_user": login.user},
            )
        login = credentials.refresh(login)
        return super().connect(conninfo, **kwargs, **_login_kwargs(login))


def _login_kwargs(login: Credentials) -> dict[str, str]:
    # Empty values are left out, so libpq's defaults (PGUSER, ~/.pgpass) apply.
    kwargs = {}
    if login.user:
        kwargs["user"] = login.user
    if login.password:
        kwargs["password"] = login.password
    return kwargs


class CredentialSources(NamedTuple):
    """Who the service logs in as, for its queries and for its migrations."""

    queries: CredentialsProvider
    migrations: CredentialsProvider


def from_settings(settings: Any) -> CredentialSources:
    """The providers ``settings`` (an ``app.config.Settings``) configure.

    Migrations run as the admin (master) user: the secret ``DB_SECRET_ARN`` when
    set, otherwise ``DB_USERNAME`` / ``DB_PASSWORD``. Queries run as the same
    user, except with ``DB_IAM_AUTH``: then as ``DB_APP_USER`` (the least-privilege
    role the migrations create) with IAM tokens.
    """
    region = settings.region if settings.region not in ("", "unknown") else None
    admin: CredentialsProvider
    if settings.db_secret_arn:
        admin = SecretsManagerCredentials(
            settings.db_secret_arn,
            default_user=settings.db_user,
            ttl=settings.db_secret_ttl_seconds,
            region=region,
            timeout=settings.db_connect_timeout,
        )
    else:
        admin = StaticCredentials(settings.db_user, settings.db_password)
    if not settings.db_iam_auth:
        return CredentialSources(queries=admin, migrations=admin)
    queries = IamAuthTokens(
        settings.db_host,
        settings.db_port,
        settings.db_app_user or settings.db_user,
        region=region,
        timeout=settings.db_connect_timeout,
    )
    return CredentialSources(queries=queries, migrations=admin)
