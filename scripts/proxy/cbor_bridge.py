"""CBOR for the smithy rpc-v2-cbor protocol, which moto lacks (codec: ``cbor2``).

Current AWS SDKs (aws-sdk-rust among them) call CloudWatch over rpc-v2-cbor
(``POST /service/GraniteServiceVersion20100801/operation/<Op>``); moto only
speaks query and AWS JSON 1.0 for it. The proxy decodes the CBOR request, sends
it to moto as JSON 1.0, and encodes moto's JSON answer back as CBOR with the
types the SDK's decoder insists on (tag-1 timestamps, doubles, blobs), using the
CloudWatch member names below.

``cbor2`` is pinned in scripts/requirements-moto.txt. Without it this module
still imports (``cbor2`` is then ``None``); the entry point reports
:data:`CBOR2_MISSING` and exits with status 2.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import fractions
import io
import json
import math
import sys
from typing import Any

try:
    import cbor2
except ImportError:  # reported by the entry point; the module stays importable
    cbor2 = None

CBOR2_MISSING = (
    "fault_proxy: the Python package cbor2 is not installed for "
    f"{sys.executable}. Run the proxy with <repo>/.venv-moto/bin/python (created by "
    "`scripts/moto.sh install` from scripts/requirements-moto.txt), or `pip install cbor2`."
)


class CborError(ValueError):
    """A body that is not one CBOR item, or data CBOR cannot encode (or no cbor2)."""


def _require_cbor2() -> None:
    if cbor2 is None:
        raise CborError(CBOR2_MISSING)


def cbor_encode(obj: Any) -> bytes:
    """Encode JSON-like data (plus bytes and ``cbor2.CBORTag``) as definite-length CBOR."""
    _require_cbor2()
    try:
        return cbor2.dumps(obj)
    except cbor2.CBORError as exc:
        raise CborError(f"cannot CBOR-encode: {exc}") from exc


def cbor_decode(data: bytes) -> Any:
    """Decode exactly one CBOR item (definite or indefinite lengths, tags, floats).

    Byte strings become ``bytes``; tag 1 (epoch timestamp) becomes a timezone-aware
    ``datetime`` (``cbor_to_json_compatible`` turns it back into epoch seconds).
    An empty body is an empty map.
    """
    if not data:
        return {}
    _require_cbor2()
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except cbor2.CBORError as exc:
        raise CborError(str(exc)) from exc
    if fp.tell() != len(data):
        raise CborError("trailing bytes after CBOR item")
    return value


# Member names of the CloudWatch (GraniteServiceVersion20100801) model whose
# values need CBOR typing that JSON cannot express. Derived from botocore's
# cloudwatch 2010-08-01 service model (all structures, by member name); a JSON
# string under a DOUBLE name (e.g. Dimension.Value) is left alone.
CW_TIMESTAMP_MEMBERS = frozenset(
    [
        "AlarmConfigurationUpdatedTimestamp",
        "CreatedAt",
        "CreationDate",
        "EndDate",
        "EndTime",
        "ExpireDate",
        "LastModified",
        "LastUpdateDate",
        "LastUpdatedTimestamp",
        "StartDate",
        "StartTime",
        "StateTransitionedTimestamp",
        "StateUpdatedTimestamp",
        "Timestamp",
        "Timestamps",
        "UpdatedAt",
    ]
)
CW_DOUBLE_MEMBERS = frozenset(
    [
        "AggregateValue",
        "ApproximateAggregateValue",
        "ApproximateValue",
        "Average",
        "Counts",
        "ExtendedStatistics",
        "MaxContributorValue",
        "Maximum",
        "Minimum",
        "SampleCount",
        "Sum",
        "Threshold",
        "UniqueContributors",
        "Value",
        "Values",
    ]
)
CW_INTEGER_MEMBERS = frozenset(
    [
        "ActionLogLineCount",
        "ActionsSuppressorExtensionPeriod",
        "ActionsSuppressorWaitPeriod",
        "ApproximateUniqueCount",
        "DatapointsToAlarm",
        "EndTimeOffset",
        "EvaluationInterval",
        "EvaluationPeriods",
        "MaxContributorCount",
        "MaxDatapoints",
        "MaxRecords",
        "MaxResults",
        "PendingPeriod",
        "Period",
        "QueryResultsToAlarm",
        "QueryResultsToEvaluate",
        "RecoveryPeriod",
        "Size",
        "StartTimeOffset",
        "StorageResolution",
        "WarmUpPeriodDurationInMinutes",
    ]
)
CW_BLOB_MEMBERS = frozenset({"MetricWidgetImage"})
CW_MAP_MEMBERS = frozenset(
    [
        "AlarmContributorAttributes",
        "Attributes",
        "ContributorAttributes",
        "ExtendedStatistics",
        "KeyAttributes",
    ]
)


def cbor_timestamp(seconds: float) -> Any:
    """Epoch seconds as CBOR tag 1 (an integer when whole, else a float)."""
    _require_cbor2()
    f = float(seconds)
    return cbor2.CBORTag(1, int(f) if f.is_integer() else f)


def _to_epoch(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return cbor_timestamp(value)
    if isinstance(value, str):
        try:
            dt = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.UTC)
        return cbor_timestamp(dt.timestamp())
    return value


def json_to_cbor_typed(value: Any, member: str | None = None) -> Any:
    """Give JSON data from moto the CBOR types the SDK's decoder insists on."""
    if isinstance(value, dict):
        if member in CW_MAP_MEMBERS:
            return {k: json_to_cbor_typed(v, member) for k, v in value.items()}
        return {k: json_to_cbor_typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [json_to_cbor_typed(v, member) for v in value]
    if member is None or isinstance(value, bool) or value is None:
        return value
    if member in CW_TIMESTAMP_MEMBERS:
        return _to_epoch(value)
    if member in CW_DOUBLE_MEMBERS and isinstance(value, int):
        return float(value)
    if member in CW_INTEGER_MEMBERS and isinstance(value, float) and value.is_integer():
        return int(value)
    if member in CW_BLOB_MEMBERS and isinstance(value, str):
        try:
            return base64.b64decode(value)
        except ValueError:
            return value
    return value


def cbor_to_json_compatible(value: Any) -> Any:
    """What the SDK sent over CBOR, as the AWS JSON 1.0 that moto reads."""
    if isinstance(value, dict):
        return {str(k): cbor_to_json_compatible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [cbor_to_json_compatible(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):  # tag 1 / tag 0 timestamps -> epoch seconds
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        ts = value.timestamp()
        return int(ts) if ts.is_integer() else ts
    if cbor2 is not None and isinstance(value, cbor2.CBORTag):  # other tags: keep the content
        return cbor_to_json_compatible(value.value)
    if cbor2 is not None and value is cbor2.undefined:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (decimal.Decimal, fractions.Fraction)):
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # uuid.UUID, re.Pattern, CBORSimpleValue, ...


# ------------------------------------------------------------------ bridge --
def cbor_request_as_json(body: bytes) -> bytes:
    """The (already decompressed) CBOR request body as the JSON 1.0 body moto reads.

    Raises :class:`CborError` (or ``ValueError``) for a body that is not CBOR.
    """
    return json.dumps(cbor_to_json_compatible(cbor_decode(body) or {})).encode()


def json_answer_as_cbor(status: int, payload: dict[str, Any]) -> bytes:
    """moto's JSON 1.0 answer as the CBOR body of the rpc-v2-cbor answer."""
    if status >= 300:
        code = str(payload.get("__type") or payload.get("code") or "UnknownError")
        code = code.rsplit("#", 1)[-1].split(":", 1)[0]
        message = str(payload.get("message") or payload.get("Message") or "")
        return cbor_encode({"__type": code, "message": message})
    return cbor_encode(json_to_cbor_typed(payload))
