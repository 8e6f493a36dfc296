"""CloudFront's XML as Python values, and back.

CloudFront wraps every list in an ``Items`` element (next to its
``Quantity``), so a generic reading is enough: ``Items`` becomes a list of its
children's values, an element with children a dict, any other element its
text. Writing needs the name of a list's members, which :data:`MEMBERS` gives
by the name of the element that holds the ``Items``.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from typing import Any

NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

#: element holding ``Items`` -> the tag of each member (CloudFront service model)
MEMBERS = {
    "Tags": "Tag",
    "TagKeys": "Key",
    "OriginSslProtocols": "SslProtocol",
    "VpcOriginList": "VpcOriginSummary",
    "DistributionList": "DistributionSummary",
}


class XmlError(ValueError):
    """A request body that is not well-formed XML."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _value(el: ET.Element) -> Any:
    kids = list(el)
    if _local(el.tag) == "Items":
        return [_value(k) for k in kids]
    if not kids:
        return (el.text or "").strip()
    out: dict[str, Any] = {}
    for k in kids:
        out[_local(k.tag)] = _value(k)
    return out


def parse(body: bytes) -> tuple[str, Any]:
    """(root tag, value) of an XML document; ("", {}) for an empty body."""
    if not body.strip():
        return "", {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlError(str(exc)) from exc
    return _local(root.tag), _value(root)


def parse_doc(body: bytes) -> dict[str, Any]:
    """``{root tag: value}``, or ``{}`` for an empty or broken body (for request rules)."""
    try:
        root, value = parse(body)
    except XmlError:
        return {}
    return {root: value} if root else {}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return timestamp(value)
    return escape(str(value))


def timestamp(when: datetime.datetime) -> str:
    """CloudFront's timestamp form, e.g. ``2024-11-21T10:00:00.123Z``."""
    utc = when.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def element(tag: str, value: Any) -> str:
    """One element; dict values become child elements, in their order."""
    if value is None:
        return ""
    if isinstance(value, dict):
        inner = ""
        for key, child in value.items():
            if key == "Items" and isinstance(child, list):
                member = MEMBERS.get(tag, "member")
                items = "".join(element(member, item) for item in child)
                inner += f"<Items>{items}</Items>"
            else:
                inner += element(key, child)
        return f"<{tag}>{inner}</{tag}>"
    return f"<{tag}>{scalar(value)}</{tag}>"


def document(root: str, value: Any) -> bytes:
    """A whole answer body: ``<root xmlns="...2020-05-31/">...</root>``."""
    inner = element(root, value)
    opened = f'<{root} xmlns="{NS}">'
    body = opened + inner[len(root) + 2 :] if inner else f"{opened}</{root}>"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
