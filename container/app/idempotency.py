"""Idempotency keys for the catalog's writes (draft-ietf-httpapi-idempotency-key-header).

A ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` that carries ``Idempotency-Key`` is run
at most once per key: its response is kept in the DynamoDB table
``IDEMPOTENCY_TABLE`` for 24 hours and a retry gets it again, marked
``Idempotent-Replayed: true``, without the catalog being touched.

One item per key (partition key ``pk``, String; TTL attribute ``expires_at``)::

    pk           S  the key, as the client sent it (without the structured-field quotes)
    state        S  "in_progress" while the first request runs, then "done"
    fingerprint  S  SHA-256 of the method, the path and the canonical (validated) body
    request      S  "POST /api/products" (for people reading the table)
    token        S  random, per claim: only its owner completes or releases the item
    created_at   N  epoch seconds of the claim
    expires_at   N  epoch seconds: the claim's lease while in progress, completion +
                    24 h once done. An item past it counts as absent (TTL deletes
                    lazily, up to days later), so the code compares it itself.
    status       N  } done only: the response's status, its Content-Type and
    headers      M  } Location headers, and its body (absent when empty)
    body         B  }

The state machine, per key::

    (absent or expired) --PutItem if absent or expired--> in_progress (lease)
    in_progress --response < 500: UpdateItem if token--> done (24 h)
    in_progress --5xx or exception: DeleteItem if token--> (absent)
    in_progress --lease runs out (worker died)--> counts as absent

and what a request with a key meets: nothing (claims it and runs); ``done`` with
its fingerprint (the stored response, replayed); ``in_progress`` with its
fingerprint (409, Retry-After); either with another fingerprint (422).

Only ``GetItem``, ``PutItem``, ``UpdateItem`` and ``DeleteItem`` are used (what the
task role may do). boto3 is imported only when a table is configured.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, request

from app.errors import APIError, error_response

log = logging.getLogger("app.idempotency")

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RESPONSE_TTL_SECONDS = 24 * 3600
IN_USE_RETRY_AFTER_SECONDS = 1
# Printable ASCII without space, '"' and '\', 1-255 of them; bare or as a
# structured-field string ("..."), the draft's form. Shared with the OpenAPI document.
_KEY_CHARS = r"[!#-\[\]-~]"
KEY_PATTERN = rf'^({_KEY_CHARS}{{1,255}}|"{_KEY_CHARS}{{1,255}}")$'
_KEY_RE = re.compile(KEY_PATTERN[:-1] + r"\Z")
# The response headers a replay gives back (the hooks add X-Request-Id, Cache-Control).
STORED_HEADERS = ("Content-Type", "Location")
IN_PROGRESS, DONE = "in_progress", "done"
# A DynamoDB call gives up after this: a keyed write fails fast (503), it does not hang.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 1.0
MAX_ATTEMPTS = 2  # the first one included


def parse_key(value: str | None) -> str | None:
    """The request's key (None without the header); 400 for a malformed one."""
    if value is None:
        return None
    if not _KEY_RE.match(value):
        raise APIError(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 printable ASCII characters without spaces, "
            'double quotes or backslashes, bare or in double quotes ("...").',
        )
    return value[1:-1] if value.startswith('"') else value


def fingerprint(method: str, path: str, data: Any) -> str:
    """SHA-256 of the request: method, path and canonical body.

    ``data`` is the body as validated (sorted keys, prices as 2-decimal strings),
    so two bodies that ask for the same change (``10`` and ``"10.00"``) match.
    """
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def client_config() -> Any:
    """botocore settings of the store's client: short timeouts, one retry."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


def dynamodb_client(region: str | None) -> Any:
    """A DynamoDB client for the task's region (``AWS_ENDPOINT_URL`` is honoured)."""
    import boto3  # lazy: only a configured table needs it

    return boto3.session.Session().client("dynamodb", region_name=region, config=client_config())


class StoreUnavailable(Exception):
    """DynamoDB did not answer, or refused for a reason other than the condition."""


@dataclass(frozen=True)
class Stored:
    """The item another request holds for the key."""

    state: str
    fingerprint: str
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code", ""))
    return ""


def _describe(exc: BaseException) -> str:
    code = _error_code(exc)
    return (f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}")[:300]


def _stored(item: dict[str, Any]) -> Stored:
    headers = item.get("headers", {}).get("M", {})
    return Stored(
        state=item["state"]["S"],
        fingerprint=item["fingerprint"]["S"],
        status=int(item.get("status", {}).get("N", "0")),
        headers=tuple((name, value["S"]) for name, value in headers.items()),
        body=bytes(item.get("body", {}).get("B", b"")),
    )


class DynamoStore:
    """The keys' items in one DynamoDB table; see the module docstring."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self._client = client

    def claim(
        self, key: str, fp: str, request_line: str, clock: Callable[[], float], lease: int
    ) -> str | Stored:
        """Record ``key`` as in progress for ``lease`` seconds (returns the claim's
        token), or return the item of the request that holds it."""
        for _ in range(3):
            now = int(clock())
            token = secrets.token_hex(16)
            item = {
                "pk": {"S": key},
                "state": {"S": IN_PROGRESS},
                "fingerprint": {"S": fp},
                "request": {"S": request_line},
                "token": {"S": token},
                "created_at": {"N": str(now)},
                "expires_at": {"N": str(now + lease)},
            }
            try:
                self._client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#pk) OR #exp <= :now",
                    ExpressionAttributeNames={"#pk": "pk", "#exp": "expires_at"},
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return token
            except Exception as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise StoreUnavailable(_describe(exc)) from exc
                # ALL_OLD: the holder's item comes with the refusal; read it if not.
                held = exc.response.get("Item") or self._get(key)
            if held is not None and int(held["expires_at"]["N"]) > now:
                return _stored(held)
            # Released (5xx) between the two calls: claim again.
        raise StoreUnavailable("the key kept changing hands")

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True
            )
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        return answer.get("Item")

    def complete(self, key: str, token: str, response: Response, now: int) -> None:
        """Store the response (24 h), if this claim still holds the key."""
        headers = {
            name: {"S": response.headers[name]}
            for name in STORED_HEADERS
            if name in response.headers
        }
        names = {
            "#state": "state",
            "#status": "status",
            "#headers": "headers",
            "#exp": "expires_at",
            "#done_at": "completed_at",
            "#token": "token",
        }
        values: dict[str, Any] = {
            ":done": {"S": DONE},
            ":status": {"N": str(response.status_code)},
            ":headers": {"M": headers},
            ":exp": {"N": str(now + RESPONSE_TTL_SECONDS)},
            ":now": {"N": str(now)},
            ":token": {"S": token},
        }
        update = (
            "SET #state = :done, #status = :status, #headers = :headers, #exp = :exp, "
            "#done_at = :now"
        )
        body = response.get_data()
        if body:
            update += ", #body = :body"
            names["#body"] = "body"
            values[":body"] = {"B": body}
        self._client.update_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression=update,
            ConditionExpression="#token = :token",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def release(self, key: str, token: str) -> None:
        """Forget the key (its request failed), if this claim still holds it."""
        self._client.delete_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            ConditionExpression="#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": {"S": token}},
        )


class Idempotency:
    """Runs a keyed write at most once per key; a pass-through without a store."""

    def __init__(
        self,
        store: DynamoStore | None,
        *,
        lease_seconds: int,
        retry_after_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.retry_after_seconds = retry_after_seconds
        self._clock = clock

    @property
    def mode(self) -> str:
        """What /api/info shows: ``off`` or ``dynamodb:<table>``."""
        return f"dynamodb:{self.store.table}" if self.store else "off"

    def run(self, key: str | None, data: Any, work: Callable[[], Response]) -> Response:
        """``work()``'s response, or the stored one when ``key`` was seen already.

        Without a key (or a store) this is just ``work()``. ``data`` is the
        validated body (None for DELETE), fingerprinted with the method and path.
        """
        if key is None or self.store is None:
            return work()
        environ = request.environ
        method, path = request.method, request.path
        fp = fingerprint(method, path, data)
        try:
            held = self.store.claim(key, fp, f"{method} {path}", self._clock, self.lease_seconds)
        except StoreUnavailable as exc:
            environ["catalog.idempotency"] = "unavailable"
            log.warning("idempotency store unavailable", extra={"error_detail": str(exc)})
            raise APIError(
                503,
                "service_unavailable",
                "The idempotency store is not reachable right now; the request was not run.",
                headers={"Retry-After": str(self.retry_after_seconds)},
            ) from None
        if isinstance(held, Stored):
            return self._answer_held(held, fp)
        return self._run_claimed(key, held, work)

    def _answer_held(self, held: Stored, fp: str) -> Response:
        environ = request.environ
        if held.fingerprint != fp:
            environ["catalog.idempotency"] = "mismatch"
            raise APIError(
                422,
                "idempotency_key_mismatch",
                "This Idempotency-Key was used for a different request (method, path or "
                "body); a new request needs a new key.",
            )
        if held.state != DONE:
            environ["catalog.idempotency"] = "in_progress"
            raise APIError(
                409,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still running; retry after "
                "Retry-After seconds to get its response.",
                headers={"Retry-After": str(IN_USE_RETRY_AFTER_SECONDS)},
            )
        environ["catalog.idempotency"] = "replayed"
        response = Response(held.body, status=held.status)
        del response.headers["Content-Type"]
        for name, value in held.headers:
            response.headers[name] = value
        response.headers[REPLAYED_HEADER] = "true"
        return response

    def _run_claimed(self, key: str, token: str, work: Callable[[], Response]) -> Response:
        assert self.store is not None
        environ = request.environ
        try:
            response = work()
        except APIError as exc:
            if exc.status >= 500:
                self._release(key, token)
                raise
            response = error_response(
                exc.status, exc.error, exc.detail, fields=exc.fields, headers=exc.headers
            )
        except BaseException:
            self._release(key, token)
            raise
        if response.status_code >= 500:
            self._release(key, token)
            return response
        try:
            self.store.complete(key, token, response, int(self._clock()))
            environ["catalog.idempotency"] = "stored"
        except Exception as exc:
            # The write is done: the client gets its answer. A retry meets the key in
            # progress (409) until the lease runs out, and then runs again.
            environ["catalog.idempotency"] = "not_stored"
            log.error(
                "the response of a keyed request could not be stored",
                extra={"error_detail": _describe(exc), "lease_seconds": self.lease_seconds},
            )
        return response

    def _release(self, key: str, token: str) -> None:
        assert self.store is not None
        environ = request.environ
        try:
            self.store.release(key, token)
            environ["catalog.idempotency"] = "released"
        except Exception as exc:
            environ["catalog.idempotency"] = "not_released"
            log.warning(
                "a failed keyed request's key could not be released",
                extra={"error_detail": _describe(exc), "lease_seconds": self.lease_seconds},
            )
