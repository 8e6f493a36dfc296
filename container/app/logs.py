"""Structured JSON logs on stdout, with request ids and secret scrubbing."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message",
    "asctime",
    "taskName",
}
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _secrets() -> tuple[str, ...]:
    # Scrub the database password (and anything else secret-looking) from every
    # line, as defence in depth: the code never logs it on purpose.
    values = []
    for name in ("DB_PASSWORD", "PGPASSWORD"):
        value = os.environ.get(name, "")
        if len(value) >= 3:
            values.append(value)
    return tuple(values)


# Secrets read at run time (Secrets Manager passwords, IAM tokens): the last few
# are scrubbed too. Replaced as a whole, so readers need no lock.
_runtime_secrets: tuple[str, ...] = ()
_RUNTIME_SECRETS_KEPT = 16
_redact_lock = threading.Lock()


def redact(value: str) -> None:
    """Scrub ``value`` from every log line written from now on."""
    global _runtime_secrets
    if len(value) < 3:
        return
    with _redact_lock:
        if value not in _runtime_secrets:
            _runtime_secrets = (*_runtime_secrets, value)[-_RUNTIME_SECRETS_KEPT:]


def _scrub(line: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets + _runtime_secrets:
        if secret in line:
            line = line.replace(secret, "[REDACTED]")
    return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._secrets = _secrets()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return _scrub(orjson.dumps(entry, default=str).decode(), self._secrets)


def configure_logging(level: str | None = None) -> None:
    """Route the root logger to stdout as JSON (idempotent)."""
    root = logging.getLogger()
    level = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    root.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    # psycopg_pool logs every checkout at INFO: keep only its warnings.
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # botocore logs request and response bodies at DEBUG (a secret's value among
    # them): never below WARNING, whatever LOG_LEVEL says.
    for name in ("boto3", "botocore", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)


def request_id_from(header_value: str | None) -> str:
    """Echo a sane client-supplied X-Request-Id, otherwise mint one."""
    if header_value and _REQUEST_ID_RE.match(header_value):
        return header_value
    return uuid.uuid4().hex


class AccessLog:
    """One JSON access line per request, in JsonFormatter's shape.

    Written straight to stdout (one write and flush under a lock) instead of going
    through the logging machinery: it is on every request's path, and this halves
    its cost. Honours the ``app.access`` logger's level and scrubs secrets too.
    """

    def __init__(self, name: str = "app.access") -> None:
        self.name = name
        self.logger = logging.getLogger(name)
        self._secrets = _secrets()
        self._lock = threading.Lock()

    def write(self, fields: dict[str, Any]) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        entry = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": self.name,
            "message": "request",
            "pid": os.getpid(),
            **fields,
        }
        line = _scrub(orjson.dumps(entry, default=str).decode(), self._secrets)
        stream = sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
