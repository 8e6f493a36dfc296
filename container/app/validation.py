"""Request parsing and validation, with messages that name the field and the reason.

The rules here and the schemas in ``app.openapi`` describe the same contract; the
schemathesis test fuzzes one against the other.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import orjson

from app.errors import APIError, ValidationError

MAX_PRICE = Decimal("9999999999.99")
MAX_INT32 = 2_147_483_647
MAX_BIGINT = 9_223_372_036_854_775_807
CENT = Decimal("0.01")

# Patterns shared with the OpenAPI document, in ECMA-262 (JSON Schema) semantics;
# the Python regexes used for validation are derived from them below.
# "Blank" spelled out rather than `\s`, whose meaning differs between Python and
# ECMA-262 (JSON Schema) regexes: C0 controls, whitespace and NUL do not count.
_BLANK = r"\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NAME_PATTERN = rf"^[^\u0000]*[^{_BLANK}][^\u0000]*$"
TEXT_PATTERN = r"^[^\u0000]*$"
CATEGORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._&-]*$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
PRICE_STRING_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"


def _python_regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262's `$` only matches at the very end; Python's also before a final
    # newline ("SKU\n" would pass). `\Z` gives the ECMA meaning.
    assert pattern.endswith("$")
    return re.compile(pattern[:-1] + r"\Z", re.DOTALL)


_NAME_RE = _python_regex(NAME_PATTERN)
_TEXT_RE = _python_regex(TEXT_PATTERN)
_CATEGORY_RE = _python_regex(CATEGORY_PATTERN)
_SKU_RE = _python_regex(SKU_PATTERN)
_CURRENCY_RE = _python_regex(CURRENCY_PATTERN)
_PRICE_STRING_RE = _python_regex(PRICE_STRING_PATTERN)
_INT_RE = _python_regex(r"^[0-9]+$")
_NUMBER_RE = _python_regex(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")

SORT_FIELDS = ("id", "name", "price", "stock", "created_at", "updated_at")
SORT_VALUES = tuple(f for field in SORT_FIELDS for f in (field, f"-{field}"))

WRITABLE_FIELDS = ("name", "description", "price", "currency", "category", "sku", "stock")
REQUIRED_FIELDS = ("name", "price", "sku")
DEFAULTS: dict[str, Any] = {
    "description": "",
    "currency": "USD",
    "category": "uncategorized",
    "stock": 0,
}


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


# -- JSON bodies ---------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise APIError(
            415,
            "unsupported_media_type",
            "Request body must be sent with Content-Type: application/json.",
        )
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise APIError(400, "malformed_json", f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValidationError([{"field": "body", "message": "must be a JSON object"}])
    return body


def _check_text(
    errors: _Errors,
    field: str,
    value: Any,
    *,
    min_len: int,
    max_len: int,
    regex: re.Pattern[str],
    rule: str,
) -> str | None:
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return None
    if len(value) < min_len:
        errors.add(field, f"must be at least {min_len} character(s) long")
        return None
    if len(value) > max_len:
        errors.add(field, f"must be at most {max_len} characters long")
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.add(field, "must be valid Unicode (no lone surrogates)")
        return None
    if not regex.search(value):
        errors.add(field, rule)
        return None
    return value


def _check_price(errors: _Errors, field: str, value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        errors.add(field, 'must be a number or a decimal string such as "19.99"')
        return None
    if isinstance(value, str):
        if not _PRICE_STRING_RE.match(value):
            errors.add(field, 'must be a decimal string such as "19.99" (at most 2 decimals)')
            return None
        value = Decimal(value)
    price = Decimal(value)
    if not price.is_finite():
        errors.add(field, "must be a finite number")
        return None
    if price < 0:
        errors.add(field, "must be greater than or equal to 0")
        return None
    if price > MAX_PRICE:
        errors.add(field, f"must be at most {MAX_PRICE}")
        return None
    if price != price.quantize(CENT, rounding=ROUND_FLOOR):
        errors.add(field, "must have at most 2 decimal places")
        return None
    return price.quantize(CENT)


def _check_int(
    errors: _Errors, field: str, value: Any, *, minimum: int, maximum: int
) -> int | None:
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)  # JSON Schema counts 3.0 as an integer
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(field, "must be an integer")
        return None
    if value < minimum:
        errors.add(field, f"must be greater than or equal to {minimum}")
        return None
    if value > maximum:
        errors.add(field, f"must be at most {maximum}")
        return None
    return value


def validate_product(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate a create (POST), replace (PUT) or partial update (PATCH) body."""
    errors = _Errors()
    for key in body:
        if key not in WRITABLE_FIELDS:
            errors.add(str(key), "unknown field (allowed: " + ", ".join(WRITABLE_FIELDS) + ")")
    if not partial:
        for key in REQUIRED_FIELDS:
            if key not in body:
                errors.add(key, "is required")
    out: dict[str, Any] = {}
    checks = {
        "name": lambda v: _check_text(
            errors,
            "name",
            v,
            min_len=1,
            max_len=200,
            regex=_NAME_RE,
            rule="must contain a non-blank character and no NUL characters",
        ),
        "description": lambda v: _check_text(
            errors,
            "description",
            v,
            min_len=0,
            max_len=5000,
            regex=_TEXT_RE,
            rule="must not contain NUL characters",
        ),
        "currency": lambda v: _check_text(
            errors,
            "currency",
            v,
            min_len=3,
            max_len=3,
            regex=_CURRENCY_RE,
            rule="must be a 3-letter upper-case ISO 4217 code such as USD",
        ),
        "category": lambda v: _check_text(
            errors,
            "category",
            v,
            min_len=1,
            max_len=100,
            regex=_CATEGORY_RE,
            rule="must start with a letter or digit and contain only letters, digits, "
            "spaces and . _ & -",
        ),
        "sku": lambda v: _check_text(
            errors,
            "sku",
            v,
            min_len=1,
            max_len=64,
            regex=_SKU_RE,
            rule="must start with a letter or digit and contain only letters, digits and . _ -",
        ),
        "price": lambda v: _check_price(errors, "price", v),
        "stock": lambda v: _check_int(errors, "stock", v, minimum=0, maximum=MAX_INT32),
    }
    for key, check in checks.items():
        if key in body:
            before = len(errors.items)
            value = check(body[key])
            if len(errors.items) == before:
                out[key] = value
    errors.raise_if_any()
    if not partial:
        for key, default in DEFAULTS.items():
            out.setdefault(key, default)
    return out


# -- list query parameters -------------------------------------------------------
@dataclass(frozen=True)
class ListParams:
    limit: int = 20
    offset: int | None = 0
    cursor: tuple[Any, int] | None = None
    raw_cursor: str | None = None
    category: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    sort: str = "id"

    @property
    def sort_field(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def cache_key(self) -> tuple[Any, ...]:
        return (
            self.limit,
            self.offset,
            self.raw_cursor,
            self.category,
            self.q,
            self.min_price,
            self.max_price,
            self.sort,
        )


def _query_int(
    errors: _Errors, args: Any, name: str, default: int | None, minimum: int, maximum: int
) -> int | None:
    raw = args.get(name)
    if raw is None:
        return default
    if not _INT_RE.match(raw) or len(raw) > 19:
        if raw.startswith("-") and _INT_RE.match(raw[1:]):
            errors.add(name, f"must be greater than or equal to {minimum}")
        else:
            errors.add(name, "must be an integer")
        return None
    value = int(raw)
    if value < minimum:
        errors.add(name, f"must be greater than or equal to {minimum}")
        return None
    if value > maximum:
        errors.add(name, f"must be at most {maximum}")
        return None
    return value


def _query_price(errors: _Errors, args: Any, name: str, rounding: str) -> Decimal | None:
    raw = args.get(name)
    if raw is None:
        return None
    if not _NUMBER_RE.match(raw):
        errors.add(name, "must be a number")
        return None
    value = Decimal(raw)
    if not value.is_finite():
        errors.add(name, "must be a finite number")
        return None
    if value < 0:
        errors.add(name, "must be greater than or equal to 0")
        return None
    # Prices are stored with 2 decimals and at most MAX_PRICE, so clamping and
    # rounding towards the inside of the range changes no result.
    value = min(value, MAX_PRICE + 1)
    return value.quantize(CENT, rounding=rounding)


def _query_text(
    errors: _Errors, args: Any, name: str, max_len: int, regex: re.Pattern[str], rule: str
) -> str | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    return _check_text(errors, name, raw, min_len=1, max_len=max_len, regex=regex, rule=rule)


def encode_cursor(sort: str, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    payload = orjson.dumps([sort, value, last_id])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(errors: _Errors, raw: str, sort: str) -> tuple[Any, int] | None:
    bad = "is not a valid cursor (use next_cursor from a previous page)"
    try:
        padded = raw + "=" * (-len(raw) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        errors.add("cursor", bad)
        return None
    if not (isinstance(data, list) and len(data) == 3):
        errors.add("cursor", bad)
        return None
    cursor_sort, value, last_id = data
    if cursor_sort != sort:
        errors.add("cursor", f"was issued for sort={cursor_sort!s:.40}, not sort={sort}")
        return None
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 <= last_id <= MAX_BIGINT:
        errors.add("cursor", bad)
        return None
    field = sort.lstrip("-")
    try:
        if field in ("id", "stock"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError
            if not -MAX_BIGINT <= value <= MAX_BIGINT:
                raise ValueError
        elif field == "price":
            value = Decimal(value)
            if not value.is_finite() or abs(value) > MAX_PRICE:
                raise ValueError
        elif field in ("created_at", "updated_at"):
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError
        elif field == "name":
            if not isinstance(value, str) or "\x00" in value or len(value) > 200:
                raise ValueError
            value.encode("utf-8")
    except (ValueError, TypeError, InvalidOperation, UnicodeEncodeError):
        errors.add("cursor", bad)
        return None
    return value, last_id


def parse_list_params(args: Any) -> ListParams:
    errors = _Errors()
    limit = _query_int(errors, args, "limit", 20, 1, 100)
    sort = args.get("sort", "id")
    if sort not in SORT_VALUES:
        errors.add("sort", "must be one of " + ", ".join(SORT_VALUES))
        sort = "id"
    raw_cursor = args.get("cursor") or None
    offset: int | None
    cursor = None
    if raw_cursor is not None:
        offset = None  # a cursor replaces the offset (documented)
        if len(raw_cursor) > 2048:
            errors.add("cursor", "is too long")
        else:
            cursor = _decode_cursor(errors, raw_cursor, sort)
    else:
        offset = _query_int(errors, args, "offset", 0, 0, MAX_INT32)
    category = _query_text(
        errors,
        args,
        "category",
        100,
        _CATEGORY_RE,
        "must start with a letter or digit and contain only letters, digits, spaces and . _ & -",
    )
    q = _query_text(errors, args, "q", 200, _TEXT_RE, "must not contain NUL characters")
    min_price = _query_price(errors, args, "min_price", ROUND_CEILING)
    max_price = _query_price(errors, args, "max_price", ROUND_FLOOR)
    errors.raise_if_any()
    return ListParams(
        limit=limit or 20,
        offset=offset,
        cursor=cursor,
        raw_cursor=raw_cursor,
        category=category,
        q=q,
        min_price=min_price,
        max_price=max_price,
        sort=sort,
    )
