"""One request as the realism mode sees it (:class:`Call`), whatever its wire protocol."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from proxy.cloudfront.xmlcodec import parse_doc
from proxy.protocols import credential_scope


def _flat_key(key: str) -> str:
    """``IpPermissions.1.IpRanges.2.Description`` -> ``IpPermissions.IpRanges.Description``
    (list indices and ``member`` dropped), for matching ``IpPermissions[].IpRanges[]...``."""
    return ".".join(s for s in key.split(".") if not s.isdigit() and s != "member")


class Call:
    """One request, its parameters readable whatever the wire protocol.

    ``flat`` holds form parameters (EC2 / query protocols), ``doc`` the JSON
    or CBOR body, or CloudFront's XML body as ``{root element: value}``.
    Locators name parameters by their wire names with ``[]`` for lists, e.g.
    ``containerDefinitions[].stopTimeout``, ``Attributes[].Key`` or
    ``DistributionConfig.CacheBehaviors.Items[].PathPattern``; for form
    parameters list indices and ``member`` segments are ignored, so
    ``AlarmActions[]`` matches ``AlarmActions.member.1``.
    """

    def __init__(
        self,
        protocol: str,
        service: str,
        operation: str,
        *,
        flat: dict[str, str] | None = None,
        doc: Any = None,
        method: str = "POST",
        path: str = "/",
        region: str | None = None,
        access_key: str | None = None,
        query: dict[str, str] | None = None,
    ):
        self.protocol = protocol
        self.service = service
        self.operation = operation
        self.flat = flat or {}
        self.doc = doc if isinstance(doc, dict) else {}
        self.method = method
        self.path = path
        self.region = region
        self.access_key = access_key
        self.query = query or {}  # the URL's query string (S3 subresources)
        # What the request-side hooks noted for the response-side ones.
        self.notes: dict[str, Any] = {}

    @classmethod
    def parse(
        cls,
        protocol: str,
        service: str,
        operation: str,
        method: str,
        path: str,
        headers: Any,
        body: bytes,
        doc: Any = None,
    ) -> Call:
        """Build from a request; ``body`` already decompressed, ``doc`` the
        decoded CBOR body for rpc-v2-cbor calls."""
        scope = credential_scope(headers.get("Authorization"))
        access_key, region = scope[:2] if scope else (None, None)
        parsed = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        flat: dict[str, str] = {}
        if protocol in ("ec2", "query"):
            for part in (parsed.query, body.decode("utf-8", "replace")):
                for key, value in urllib.parse.parse_qsl(part, keep_blank_values=True):
                    flat.setdefault(key, value)
        elif protocol == "json":
            try:
                doc = json.loads(body.decode("utf-8") or "{}")
            except (ValueError, UnicodeDecodeError):
                doc = {}
        elif protocol == "cloudfront":
            doc = parse_doc(body)  # {root element: value}, lists from their Items
        return cls(
            protocol,
            service,
            operation,
            flat=flat,
            doc=doc,
            method=method,
            path=parsed.path,
            region=region,
            access_key=access_key,
            query=query,
        )

    def values(self, locator: str) -> list[Any]:
        if self.flat:
            target = locator.replace("[]", "")
            return [v for k, v in self.flat.items() if _flat_key(k) == target]
        return list(_walk(self.doc, locator.split(".")))

    def first(self, locator: str) -> Any:
        found = self.values(locator)
        return found[0] if found else None

    def count(self, locator: str) -> int:
        """Number of entries of a list parameter (``Attributes[]``)."""
        name = locator.removesuffix("[]")
        if self.flat:
            seen = set()
            for key in self.flat:
                segs = key.split(".")
                if segs[0] != name:
                    continue
                idx = next((s for s in segs[1:3] if s.isdigit()), None)
                if idx is not None:
                    seen.add(idx)
            return len(seen)
        node = self.doc.get(name)
        return len(node) if isinstance(node, list) else 0

    def flat_map(self, name: str) -> dict[str, str]:
        """A query-protocol map (``Attributes.entry.N.key`` / ``.value``)."""
        keys: dict[str, str] = {}
        vals: dict[str, str] = {}
        for key, value in self.flat.items():
            segs = key.split(".")
            if len(segs) == 4 and segs[0] == name and segs[1] == "entry":
                (keys if segs[3] == "key" else vals)[segs[2]] = value
        return {keys[i]: vals.get(i, "") for i in keys}


def _walk(node: Any, segs: list[str]) -> Iterator[Any]:
    if not segs:
        if isinstance(node, list):
            yield from node
        elif node is not None:
            yield node
        return
    seg, rest = segs[0], segs[1:]
    is_list = seg.endswith("[]")
    name = seg.removesuffix("[]")
    if not isinstance(node, dict) or node.get(name) is None:
        return
    child = node[name]
    if is_list and isinstance(child, list):
        for item in child:
            yield from _walk(item, rest)
    elif not is_list:
        yield from _walk(child, rest)
