"""Settings read from the environment (ECS injects the DB_* values from Secrets Manager)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {raw!r}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


# A plain role name: composed into GRANT statements (as an identifier), so keep it
# simple; pg_* and rds_* names are reserved by PostgreSQL and RDS.
_ROLE_NAME_RE = re.compile(r"^(?!pg_|rds_)[a-z_][a-z0-9_]{0,62}$")
# IAM tokens travel as the password: the connection must be encrypted.
_SSL_REQUIRED = ("require", "verify-ca", "verify-full")
# The longest s-maxage CACHE_MAX_AGE_SECONDS may set: the catalog's answers are
# meant to be briefly shared, not archived (a write is seen only after it).
MAX_CACHE_AGE_SECONDS = 3600
# A DynamoDB table name, or its ARN (both are accepted as TableName).
_TABLE_RE = re.compile(
    r"^(arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/)?[A-Za-z0-9_.-]{3,255}\Z"
)
# The shortest lease of an idempotency key's first request (see idempotency_lease_seconds).
MIN_IDEMPOTENCY_LEASE_SECONDS = 60


def effective_cpu_count() -> int:
    """CPUs this process may really use: affinity mask, capped by a cgroup v2/v1 quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_cpu_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class Settings:
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "catalog"
    db_user: str = "postgres"
    # repr=False: the password never shows up in a repr, a log line or an error.
    db_password: str = field(default="", repr=False)
    db_sslmode: str = "prefer"
    db_sslrootcert: str = ""
    # Secrets Manager secret with the admin (master) login, read at run time.
    db_secret_arn: str = ""
    db_secret_ttl_seconds: float = 300.0
    # Queries log in as db_app_user with RDS IAM tokens.
    db_iam_auth: bool = False
    # The least-privilege role the migrations create (empty: none).
    db_app_user: str = "catalog_app"
    db_connect_timeout: int = 5
    db_statement_timeout_ms: int = 10_000
    db_pool_min: int = 1
    db_pool_max: int = 8
    db_pool_timeout: float = 5.0
    db_reconnect_timeout: float = 10.0
    migrate_on_start: bool = True
    service_name: str = "product-catalog"
    version: str = "1.0.0"
    region: str = "unknown"
    environment: str = "development"
    list_cache_entries: int = 512
    # s-maxage of the cacheable reads: how long CloudFront may serve one unchanged.
    cache_max_age_seconds: int = 30
    max_body_bytes: int = 1024 * 1024
    retry_after_seconds: int = 5
    # DynamoDB table of the Idempotency-Key records (empty: idempotency off).
    idempotency_table: str = ""

    def __post_init__(self) -> None:
        if self.db_app_user and not _ROLE_NAME_RE.match(self.db_app_user):
            raise ValueError(
                "DB_APP_USER must be a lower-case role name (letters, digits, _; not pg_* "
                f"or rds_*), got {self.db_app_user!r}"
            )
        if not 0 <= self.cache_max_age_seconds <= MAX_CACHE_AGE_SECONDS:
            raise ValueError(
                f"CACHE_MAX_AGE_SECONDS must be between 0 and {MAX_CACHE_AGE_SECONDS} (a "
                f"write shows at the edge within it), got {self.cache_max_age_seconds}"
            )
        if self.db_iam_auth and self.db_sslmode not in _SSL_REQUIRED:
            raise ValueError(
                "DB_IAM_AUTH needs an encrypted connection: DB_SSLMODE must be one of "
                f"{', '.join(_SSL_REQUIRED)}, got {self.db_sslmode!r}"
            )
        if self.idempotency_table and not _TABLE_RE.match(self.idempotency_table):
            raise ValueError(
                "IDEMPOTENCY_TABLE must be a DynamoDB table name (3-255 of letters, digits, "
                f"_ . -) or a table ARN, got {self.idempotency_table!r}"
            )

    @property
    def idempotency_lease_seconds(self) -> int:
        """How long a keyed request's claim holds its key before it counts as abandoned.

        Longer than a write can run (waits for a connection and for the schema,
        a reconnect, its statements), so that a retry never runs beside the first
        request: it only takes over from a worker that died mid-request.
        """
        worst = 3 * (self.db_pool_timeout + self.db_connect_timeout) + 2 * (
            self.db_statement_timeout_ms / 1000
        )
        return max(MIN_IDEMPOTENCY_LEASE_SECONDS, math.ceil(worst))

    @classmethod
    def from_env(cls, version: str = "1.0.0") -> Settings:
        threads = _int("WSGI_THREADS", 0)
        pool_max_default = threads if threads else 4
        iam_auth = _bool("DB_IAM_AUTH", False)
        return cls(
            db_host=os.environ.get("DB_HOST", "localhost"),
            db_port=_int("DB_PORT", 5432, minimum=1),
            db_name=os.environ.get("DB_NAME", "catalog"),
            db_user=os.environ.get("DB_USERNAME", "postgres"),
            db_password=os.environ.get("DB_PASSWORD", ""),
            db_sslmode=os.environ.get("DB_SSLMODE") or ("require" if iam_auth else "prefer"),
            db_sslrootcert=os.environ.get("DB_SSLROOTCERT", ""),
            db_secret_arn=os.environ.get("DB_SECRET_ARN", "").strip(),
            db_secret_ttl_seconds=_float("DB_SECRET_TTL_SECONDS", 300.0),
            db_iam_auth=iam_auth,
            db_app_user=os.environ.get("DB_APP_USER", "catalog_app").strip(),
            db_connect_timeout=_int("DB_CONNECT_TIMEOUT", 5, minimum=1),
            db_statement_timeout_ms=_int("DB_STATEMENT_TIMEOUT_MS", 10_000),
            db_pool_min=_int("DB_POOL_MIN", 1),
            db_pool_max=_int("DB_POOL_MAX", pool_max_default, minimum=1),
            db_pool_timeout=_float("DB_POOL_TIMEOUT", 5.0),
            db_reconnect_timeout=_float("DB_RECONNECT_TIMEOUT", 10.0),
            migrate_on_start=os.environ.get("MIGRATE_ON_START", "true").lower()
            not in ("0", "false", "no"),
            service_name=os.environ.get("OTEL_SERVICE_NAME", "product-catalog"),
            version=os.environ.get("APP_VERSION", version),
            region=os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "unknown",
            environment=os.environ.get("APP_ENV", "development"),
            list_cache_entries=_int("LIST_CACHE_ENTRIES", 512),
            cache_max_age_seconds=_int("CACHE_MAX_AGE_SECONDS", 30),
            retry_after_seconds=_int("RETRY_AFTER_SECONDS", 5, minimum=1),
            idempotency_table=os.environ.get("IDEMPOTENCY_TABLE", "").strip(),
        )

    def connection_kwargs(self) -> dict[str, object]:
        """Keyword arguments for psycopg.connect, without the login.

        The user and password come from a credentials provider at each connection
        (``app.credentials``; the ``credentials`` argument of ``CatalogConnection``).
        """
        kwargs: dict[str, object] = {
            "host": self.db_host,
            "port": self.db_port,
            "dbname": self.db_name,
            "sslmode": self.db_sslmode,
            "connect_timeout": self.db_connect_timeout,
            "application_name": self.service_name,
            "options": f"-c statement_timeout={self.db_statement_timeout_ms} -c timezone=UTC",
        }
        if self.db_sslrootcert:
            kwargs["sslrootcert"] = self.db_sslrootcert
        return kwargs
