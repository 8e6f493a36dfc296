"""The AWS Price List Query API (``AWSPriceListService``), which moto lacks.

``GetProducts`` and ``DescribeServices`` are answered from a catalog of real-shaped
products (``price_list_catalog.json`` beside this file) in AWS JSON 1.1, as the API
reference documents them: ``FormatVersion`` ``aws_v1``, ``PriceList`` an array of
JSON documents *as strings* (``product`` with ``sku``, ``productFamily`` and
``attributes``; ``terms.OnDemand`` with its price dimensions; ``publicationDate``),
``NextToken`` paging at ``MaxResults`` (1-100, 100 by default). Filters are evaluated
against each product (``ServiceCode``, ``productFamily``, ``sku`` or any attribute):
``TERM_MATCH`` and ``EQUALS`` (the value exactly), ``CONTAINS`` (a substring),
``ANY_OF`` / ``NONE_OF`` (comma-separated values). A bad request gets the error AWS
sends (``InvalidParameterException``, ``InvalidNextTokenException``,
``NotFoundException`` for an unknown service code, ``UnknownOperationException``).

To make the API unavailable (the embedded rate card's path), fail its operations
with the proxy's ``fail`` rules, e.g. ``{"fail": [{"operation": "GetProducts",
"count": -1, "code": "AccessDeniedException", "status": 400}]}``; with
``--no-cbor-bridge`` the calls go to moto, which does not know them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).with_name("price_list_catalog.json")
#: The JSON 1.1 target prefix of the Price List Query API.
TARGET_PREFIX = "AWSPriceListService."
CONTENT_TYPE = "application/x-amz-json-1.1"
FORMAT_VERSION = "aws_v1"
#: The on-demand offer term code of every price list product.
ON_DEMAND = "JRTCKXETXF"
MAX_RESULTS = 100
FILTER_TYPES = ("TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF")
SERVICE_CODE_RE = re.compile(r"^[A-Za-z0-9]+$")

Answer = tuple[int, list[tuple[str, str]], bytes]


class ApiError(Exception):
    """An error answer: the code AWS sends and its message (HTTP 400)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def handles(target: str | None) -> bool:
    """Whether a call's ``X-Amz-Target`` is the Price List Query API's."""
    return bool(target) and str(target).startswith(TARGET_PREFIX)


@cache
def catalog() -> dict[str, Any]:
    with CATALOG.open() as fh:
        return json.load(fh)


def products(service_code: str | None = None) -> list[dict[str, Any]]:
    """The catalog's products (of one service)."""
    every = catalog()["products"]
    return [p for p in every if service_code is None or p["serviceCode"] == service_code]


def price_list_item(p: dict[str, Any]) -> dict[str, Any]:
    """A catalog product as ``GetProducts`` returns it (before it is made a string)."""
    doc = catalog()
    offer = f"{p['sku']}.{ON_DEMAND}"
    dimensions = {}
    for i, d in enumerate(p["dimensions"]):
        rate = f"{offer}.{_rate_code(p['sku'], i)}"
        dimensions[rate] = {
            "unit": d["unit"],
            "endRange": d["endRange"],
            "description": d["description"],
            "appliesTo": [],
            "rateCode": rate,
            "beginRange": d["beginRange"],
            "pricePerUnit": {"USD": d["USD"]},
        }
    return {
        "product": {
            "productFamily": p["productFamily"],
            "attributes": p["attributes"],
            "sku": p["sku"],
        },
        "serviceCode": p["serviceCode"],
        "terms": {
            "OnDemand": {
                offer: {
                    "priceDimensions": dimensions,
                    "sku": p["sku"],
                    "effectiveDate": doc["publicationDate"],
                    "offerTermCode": ON_DEMAND,
                    "termAttributes": {},
                }
            }
        },
        "version": doc["version"],
        "publicationDate": doc["publicationDate"],
    }


def _rate_code(sku: str, i: int) -> str:
    """A rate code in AWS's form (the first dimension's is the usual ``6YS6EN2CT7``)."""
    if i == 0:
        return "6YS6EN2CT7"
    digest = hashlib.sha256(f"{sku}:{i}".encode()).hexdigest().upper()
    return digest[:10]


# ------------------------------------------------------------------ filters --
def _field(p: dict[str, Any], name: str) -> str | None:
    if name == "ServiceCode":
        return p["serviceCode"]
    if name in ("productFamily", "sku"):
        return p[name]
    return p["attributes"].get(name)


def matches(p: dict[str, Any], flt: dict[str, str]) -> bool:
    """Whether product ``p`` passes one (validated) filter."""
    value, want, kind = _field(p, flt["Field"]), flt["Value"], flt["Type"]
    if kind == "NONE_OF":
        return value not in _values(want)
    if value is None:
        return False
    if kind in ("TERM_MATCH", "EQUALS"):
        return value == want
    if kind == "CONTAINS":
        return want in value
    return value in _values(want)  # ANY_OF


def _values(v: str) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()]


# --------------------------------------------------------------- operations --
def _service_code(body: dict[str, Any], required: bool) -> str | None:
    code = body.get("ServiceCode")
    if code is None or code == "":
        if required:
            raise ApiError(
                "InvalidParameterException",
                "Input Parameters are invalid. serviceCode cannot be null or empty",
            )
        return None
    if not isinstance(code, str) or not SERVICE_CODE_RE.match(code):
        raise ApiError("InvalidParameterException", "ServiceCode can only contain a-z, A-Z, 0-9")
    if not products(code):
        raise ApiError("NotFoundException", f"Service code {code} is not found.")
    return code


def _paging(body: dict[str, Any]) -> int:
    fmt = body.get("FormatVersion", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise ApiError(
            "InvalidParameterException",
            f"Input Parameters are invalid. FormatVersion {fmt} is not supported; use aws_v1",
        )
    size = body.get("MaxResults", MAX_RESULTS)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_RESULTS:
        raise ApiError(
            "InvalidParameterException",
            f"Input Parameters are invalid. MaxResults must be between 1 and {MAX_RESULTS}",
        )
    return size


def _filters(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("Filters") or []
    if not isinstance(raw, list):
        raise ApiError("InvalidParameterException", "Input Parameters are invalid. Filters")
    out = []
    for f in raw:
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("Type", "Field")):
            raise ApiError(
                "InvalidParameterException",
                "Input Parameters are invalid. A filter needs a Type, a Field and a Value",
            )
        if f["Type"] not in FILTER_TYPES:
            raise ApiError(
                "InvalidParameterException",
                f"Input Parameters are invalid. Filter type {f['Type']} is not one of "
                + ", ".join(FILTER_TYPES),
            )
        if not isinstance(f.get("Value"), str) or not f["Field"]:
            raise ApiError(
                "InvalidParameterException",
                "Input Parameters are invalid. A filter needs a Type, a Field and a Value",
            )
        out.append({"Type": f["Type"], "Field": f["Field"], "Value": f["Value"]})
    return out


def _token(request_key: str, offset: int) -> str:
    raw = json.dumps({"k": request_key, "o": offset}).encode()
    return base64.b64encode(raw).decode()


def _offset(body: dict[str, Any], request_key: str) -> int:
    token = body.get("NextToken")
    if token is None:
        return 0
    try:
        doc = json.loads(base64.b64decode(str(token), validate=True))
        if doc["k"] == request_key and isinstance(doc["o"], int) and doc["o"] >= 0:
            return int(doc["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(
        "InvalidNextTokenException",
        "The pagination token is invalid. Try again without a pagination token.",
    )


def _page(
    items: list[Any], body: dict[str, Any], request_key: str, size: int
) -> tuple[list[Any], str | None]:
    start = _offset(body, request_key)
    end = start + size
    return items[start:end], (_token(request_key, end) if end < len(items) else None)


def get_products(body: dict[str, Any]) -> dict[str, Any]:
    code = _service_code(body, required=True)
    size = _paging(body)
    filters = _filters(body)
    key = hashlib.sha256(json.dumps([code, filters], sort_keys=True).encode()).hexdigest()[:16]
    found = [p for p in products(code) if all(matches(p, f) for f in filters)]
    page, token = _page(found, body, key, size)
    out: dict[str, Any] = {
        "FormatVersion": FORMAT_VERSION,
        "PriceList": [json.dumps(price_list_item(p), separators=(",", ":")) for p in page],
    }
    if token:
        out["NextToken"] = token
    return out


def describe_services(body: dict[str, Any]) -> dict[str, Any]:
    code = _service_code(body, required=False)
    size = _paging(body)
    codes = sorted({p["serviceCode"] for p in products()} if code is None else {code})
    services = [
        {
            "ServiceCode": c,
            "AttributeNames": sorted(
                {"productFamily"} | {a for p in products(c) for a in p["attributes"]}
            ),
        }
        for c in codes
    ]
    page, token = _page(services, body, f"services:{code}", size)
    out: dict[str, Any] = {"FormatVersion": FORMAT_VERSION, "Services": page}
    if token:
        out["NextToken"] = token
    return out


OPERATIONS = {"GetProducts": get_products, "DescribeServices": describe_services}


def _dispatch(operation: str, body: bytes) -> dict[str, Any]:
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise ApiError("UnknownOperationException", f"Unknown operation {operation}")
    try:
        doc = json.loads(body.decode() or "{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("SerializationException", f"Malformed JSON request: {exc}") from exc
    if not isinstance(doc, dict):
        raise ApiError("SerializationException", "The request body must be a JSON object")
    return handler(doc)


def answer(operation: str, body: bytes) -> Answer:
    """The answer (status, headers, body) to one call of the Price List Query API."""
    rid = str(uuid.uuid4())
    try:
        data = json.dumps(_dispatch(operation, body)).encode()
    except ApiError as err:
        data = json.dumps({"__type": err.code, "Message": err.message}).encode()
        headers = [
            ("Content-Type", CONTENT_TYPE),
            ("x-amzn-RequestId", rid),
            ("x-amzn-ErrorType", err.code),
        ]
        return 400, headers, data
    return 200, [("Content-Type", CONTENT_TYPE), ("x-amzn-RequestId", rid)], data
