"""What the CloudFront emulator's parts share: the request, answers, ids and ETags."""

from __future__ import annotations

import secrets
import string
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from proxy.cloudfront.routes import path_ids
from proxy.cloudfront.xmlcodec import document
from proxy.protocols import build_error, credential_scope

#: (HTTP status, headers, body) of an answer to the SDK.
Answer = tuple[int, list[tuple[str, str]], bytes]

#: The account moto uses when the access key names none.
DEFAULT_ACCOUNT = "123456789012"

_ALNUM_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


@dataclass
class CfRequest:
    """One CloudFront request as the emulator sees it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: Any  # anything with .get(name)
    body: bytes
    operation: str
    access_key: str | None = None
    ids: list[str] = field(default_factory=list)  # the id segments of the path
    realism_refused: bool = False  # answered with a realism refusal (never reached moto)

    @classmethod
    def parse(cls, method: str, raw_path: str, headers: Any, body: bytes, operation: str):
        parsed = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        scope = credential_scope(headers.get("Authorization"))
        ids = [urllib.parse.unquote(i) for i in path_ids(parsed.path)]
        access_key = scope[0] if scope else None
        return cls(method, parsed.path, query, headers, body, operation, access_key, ids)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def if_match(self) -> str | None:
        value = self.headers.get("If-Match")
        return value.strip() if value and value.strip() else None


class Refusal(Exception):
    """An error answer raised out of a handler (CloudFront's ``<ErrorResponse>``)."""

    def __init__(self, code: str, status: int, message: str):
        super().__init__(f"{code}: {message}")
        self.answer = error(code, status, message)


def error(code: str, status: int, message: str) -> Answer:
    """CloudFront's ``<ErrorResponse>`` for ``code``."""
    return build_error("cloudfront", "cloudfront", code, status, message)


def xml_answer(
    status: int,
    root: str,
    value: Any,
    etag: str | None = None,
    location: str | None = None,
) -> Answer:
    headers = [("Content-Type", "text/xml")]
    if etag:
        headers.append(("ETag", etag))
    if location:
        headers.append(("Location", location))
    return status, headers, document(root, value)


def empty_answer(status: int = 204) -> Answer:
    return status, [], b""


def new_etag() -> str:
    """An ETag like CloudFront's (``E2QWRUHAPOMQZL``)."""
    return "E" + "".join(secrets.choice(_ALNUM_UPPER) for _ in range(13))


def new_vpc_origin_id() -> str:
    """A VPC origin id like CloudFront's (``vo_`` and 22 letters and digits)."""
    return "vo_" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def account_of(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else DEFAULT_ACCOUNT


def quantities_match(node: Any) -> bool:
    """Every ``Quantity`` next to ``Items`` (at any depth) counts them."""
    if isinstance(node, list):
        return all(quantities_match(n) for n in node)
    if not isinstance(node, dict):
        return True
    if "Quantity" in node:
        items = node.get("Items")
        count = len(items) if isinstance(items, list) else 0
        if str(node["Quantity"]).strip() != str(count):
            return False
    return all(quantities_match(v) for v in node.values())
