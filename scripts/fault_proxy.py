#!/usr/bin/env python3
"""Loopback fault-injection reverse proxy for AWS API calls (stdlib + cbor2).

Sits between an AWS SDK and a local moto_server::

    SDK --AWS_ENDPOINT_URL--> fault_proxy (127.0.0.1:P) --> moto (127.0.0.1:U)

and can add latency, answer a seeded fraction of calls with the service's own
throttling error, or fail named operations N times, each in the wire protocol
the SDK expects:

========  ===========================================  ==============================
protocol  how it is recognised                         throttling answer
========  ===========================================  ==============================
ec2       ``Action=`` + signing service ``ec2``        503 ``<Response><Errors><Error>``
          (or ``Version=2016-11-15``)                  ``RequestLimitExceeded``
query     ``Action=`` (RDS, ELBv2, IAM, SNS, STS, ...)  400 ``<ErrorResponse>`` ``Throttling``
json      ``X-Amz-Target`` header (ECS, ECR, Logs,     400 ``{"__type":"ThrottlingException"}``
          Secrets Manager, App Auto Scaling, ...)
cbor      ``/service/<svc>/operation/<Op>`` path with   400 CBOR ``{"__type": ...}`` plus
          ``Smithy-Protocol: rpc-v2-cbor`` (CloudWatch  ``x-amzn-query-error: Throttling;Sender``
          in current SDKs)
s3        anything else (REST-XML)                     503 ``<Error><Code>SlowDown``
========  ===========================================  ==============================

Operation names used for counters and ``--fail`` rules: the ``Action`` form
field (query protocols), the part of ``X-Amz-Target`` after the last dot (JSON),
the last path segment (rpc-v2-cbor) and ``S3:<METHOD>`` for S3.  A rule may also
be written ``<service>:<Operation>`` (service = SigV4 signing name, e.g.
``ec2:CreateVpc``) or ``*`` for every operation.

AWS-realism mode (``scripts/aws_realism.py``) makes the emulator as strict and
as slow to settle as AWS, in four parts that can be switched on one by one:

``rules`` (bool)
    Requests are checked against a table of documented constraints of the calls
    the provisioner makes (``aws_realism.RULES``: service, operations, parameter,
    check and the AWS reference it comes from; ``GET /__proxy/realism/rules``
    lists them). Covered: EC2 security group name/description/rule descriptions,
    ClientToken, tags, ModifyVpcAttribute (one attribute per call), flow-log
    aggregation interval; ECS clientToken (36 ASCII on CreateService), service /
    cluster / family / container names, Fargate cpu-memory pairs and stopTimeout;
    RDS cluster / instance / parameter group / subnet group names, Serverless v2
    capacity range, backup retention; ELBv2 load balancer and target group names,
    health check ranges (timeout below interval), at most 20 attributes, rule
    priority; IAM role name, path and policy name; S3 bucket names; SNS topic
    names; CloudWatch alarm name and period; Logs group names and retention
    days; Secrets Manager names and request tokens; ECR repository names; App
    Auto Scaling min <= max. A broken rule is answered with that service's own
    validation error (EC2 ``InvalidParameterValue`` / ``...Combination``, RDS
    ``InvalidParameterValue``, ELBv2 / IAM / CloudWatch ``ValidationError``, SNS
    ``InvalidParameter``, ECS ``InvalidParameterException`` / ``ClientException``,
    Logs ``InvalidParameterException``, Secrets Manager ``ValidationException``,
    S3 ``InvalidBucketName``) in its wire protocol, and recorded in the stats
    under ``realism_rejections`` ({operation, rule, message}) and in
    ``GET /__proxy/realism/violations``. One rule is stricter than AWS on
    purpose: ``PutMetricAlarm`` whose actions name a topic the proxy saw created
    (or set) with ``KmsMasterKeyId`` ``alias/aws/sns`` gets ``ValidationError``.
    CloudWatch cannot publish to a topic encrypted with the AWS managed key (SNS
    Developer Guide, key management / compatibility with AWS services); real AWS
    accepts such an alarm and silently drops its notifications, so the proxy
    refuses it to make the mistake visible in a test.
``eventual_consistency_seconds`` (number, 0 = off)
    For that long after a successful EC2 CreateVpc, CreateSubnet,
    CreateInternetGateway, CreateRouteTable, CreateSecurityGroup,
    AllocateAddress or CreateNatGateway, a mutating EC2 call that names the new
    id (ModifyVpcAttribute, ModifySubnetAttribute, AttachInternetGateway,
    Create/ReplaceRoute, AssociateRouteTable, Authorize/RevokeSecurityGroup
    Ingress/Egress, CreateNatGateway, CreateTags, CreateFlowLogs, and
    CreateSubnet / CreateSecurityGroup / CreateRouteTable in a new VPC) gets the
    400 NotFound error of that id type (``InvalidVpcID.NotFound``,
    ``InvalidSubnetID.NotFound``, ``InvalidGroup.NotFound``,
    ``InvalidRouteTableID.NotFound``, ``InvalidInternetGatewayID.NotFound``,
    ``InvalidAllocationID.NotFound``, ``InvalidNatGatewayID.NotFound``), as real
    EC2 does ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide).
    Describe calls are not affected. Counted in ``eventual_consistency_rejections``.
``lifecycle_seconds`` (number, 0 = off)
    For that long after a create, answers show the pending state: NAT gateways
    ``pending`` (``deleting`` after DeleteNatGateway) in CreateNatGateway /
    DescribeNatGateways, load balancers ``provisioning`` in
    DescribeLoadBalancers, DB instances and clusters ``creating`` in
    Create/DescribeDBInstances and Create/DescribeDBClusters, and the primary
    ECS deployment ``IN_PROGRESS`` (running count 0) in Create/UpdateService and
    DescribeServices. Afterwards moto's own answer passes. Counted in
    ``lifecycle_rewrites``.
``image_pulls`` (bool)
    On CreateService / UpdateService / RunTask the proxy looks up the task
    definition (from the RegisterTaskDefinition answers it saw, else with its own
    DescribeTaskDefinition call to moto) and, for each image in this account's
    ECR (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` or
    ``@sha256:...``), asks moto's ECR DescribeImages whether it exists. If not,
    and the service's desiredCount is above 0, later DescribeServices answers
    show the primary deployment ``rolloutState`` ``FAILED`` with a
    ``CannotPullContainerError`` reason, runningCount 0 and a service event, as
    when the deployment circuit breaker trips; tasks started by RunTask show
    ``STOPPED`` / ``TaskFailedToStart`` with that reason in DescribeTasks
    (ListTasks is not rewritten). A later UpdateService with a good image (or
    desiredCount 0) clears it. Recorded in ``image_pull_failures``.

``--aws-realism`` turns on all four (eventual consistency 1.5 s, lifecycles
2.0 s); ``--realism-ec-seconds S`` and ``--realism-lifecycle-seconds S`` change
those durations (alone, they turn on just that part). At run time use the
``realism`` key of ``POST /__proxy/config``: ``true`` (all on, defaults),
``false`` (all off) or any subset of ``{"rules": true,
"eventual_consistency_seconds": 2, "lifecycle_seconds": 0, "image_pulls": true}``.

Control endpoints (never forwarded)::

    GET  /__proxy/stats    counters as JSON (with realism_rejections,
                           eventual_consistency_rejections, lifecycle_rewrites,
                           image_pull_failures)
    POST /__proxy/reset    zero the counters
    GET  /__proxy/config   current configuration
    POST /__proxy/config   change configuration, JSON body, any subset of:
        {"latency_ms": 50, "throttle_rate": 0.3, "seed": 7,
         "throttle_operations": ["CreateVpc"] | null,
         "fail": ["CreateVpc:2", {"operation": "S3:PUT", "count": -1,
                                  "code": "AccessDenied", "status": 403}],
         "add_fail": [...],          # "fail" replaces the rules, "add_fail" appends
         "realism": {"rules": true, "eventual_consistency_seconds": 2,
                     "lifecycle_seconds": 0, "image_pulls": true} | true | false}
    GET  /__proxy/realism/violations  {"count": N, "violations": [...], "rules": R}
    GET  /__proxy/realism/rules       the rule table (id, service, operations,
                                      parameter, code, citation)
    GET  /__proxy/health   {"ok": true}

Fault injection (latency, throttling, ``--fail``) is decided first; a call it
lets through is then checked by the realism mode before it reaches moto.

Example::

    scripts/fault_proxy.py --upstream http://127.0.0.1:5000 --port 0 \\
        --port-file .run/proxy.port --throttle-rate 0.2 --seed 1 \\
        --fail CreateNatGateway:2 --fail PutMetricAlarm:-1:LimitExceeded:400 \\
        --aws-realism --realism-ec-seconds 2

The CBOR codec is the ``cbor2`` package (pinned in scripts/requirements-moto.txt):
run the proxy with ``.venv-moto/bin/python``; without cbor2 it exits with status 2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import decimal
import fractions
import gzip
import http.client
import io
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import cbor2
except ImportError:  # reported by main(); the module stays importable
    cbor2 = None

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import aws_realism  # noqa: E402  (sibling module, found through the line above)

CBOR2_MISSING = (
    "fault_proxy: the Python package cbor2 is not installed for "
    f"{sys.executable}. Run the proxy with <repo>/.venv-moto/bin/python (created by "
    "`scripts/moto.sh install` from scripts/requirements-moto.txt), or `pip install cbor2`."
)

CONTROL_PREFIX = "/__proxy/"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}

# Headers that describe one hop and must not be forwarded verbatim.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

EC2_API_VERSION = "2016-11-15"

# Protocol -> (code, HTTP status, message) used for throttling answers.
THROTTLE_ERRORS = {
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "query": ("Throttling", 400, "Rate exceeded"),
    "json": ("ThrottlingException", 400, "Rate exceeded"),
    "cbor": ("Throttling", 400, "Rate exceeded"),
    "s3": ("SlowDown", 503, "Please reduce your request rate."),
}

# Protocol -> (code, HTTP status, message) used by --fail rules without a code.
DEFAULT_FAILURES = {
    "ec2": ("InternalError", 500, "An internal error has occurred."),
    "query": ("InternalFailure", 500, "An internal error has occurred."),
    "json": ("InternalFailure", 500, "An internal error has occurred."),
    "cbor": ("InternalFailure", 500, "An internal error has occurred."),
    "s3": ("InternalError", 500, "We encountered an internal error. Please try again."),
}

KNOWN_THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
}


def status_for_code(protocol: str, code: str) -> int:
    """Best-guess HTTP status for an error code when the rule gives none."""
    if code in KNOWN_THROTTLE_CODES:
        return 503 if code in ("RequestLimitExceeded", "SlowDown") else 400
    if code in ("ServiceUnavailable", "ServiceUnavailableException", "Unavailable"):
        return 503
    if code.startswith("Internal") or code in ("ServerException", "ServiceFailure"):
        return 500
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return 403
    if protocol == "s3" and code.startswith("NoSuch"):
        return 404
    return 400


# --------------------------------------------------------------------- CBOR --
class CborError(ValueError):
    pass


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


# ------------------------------------------------------------------- rules --
class FailRule:
    """Fail ``operation`` ``count`` times (-1: always) with ``code``/``status``."""

    def __init__(
        self,
        operation: str,
        count: int,
        code: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ):
        if not operation:
            raise ValueError("fail rule needs an operation")
        if count < -1:
            raise ValueError("fail count must be -1 (always) or >= 0")
        if status is not None and not 100 <= int(status) <= 599:
            raise ValueError(f"bad HTTP status {status}")
        self.operation = operation
        self.remaining = count
        self.initial = count
        self.code = code or None
        self.status = int(status) if status is not None else None
        self.message = message

    @classmethod
    def parse(cls, spec: Any) -> FailRule:
        if isinstance(spec, FailRule):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {"operation", "count", "code", "status", "message"}
            if unknown:
                raise ValueError(f"unknown fail rule keys: {sorted(unknown)}")
            return cls(
                str(spec.get("operation", "")),
                int(spec.get("count", -1)),
                spec.get("code"),
                spec.get("status"),
                spec.get("message"),
            )
        if isinstance(spec, str):
            # OPERATION:N[:CODE[:STATUS]]; OPERATION may itself be service:Op.
            parts = spec.split(":")
            idx = next((i for i, p in enumerate(parts) if i > 0 and p.lstrip("-").isdigit()), None)
            if idx is None:
                raise ValueError(f"fail rule {spec!r} must look like OPERATION:N[:CODE[:STATUS]]")
            operation = ":".join(parts[:idx])
            count = int(parts[idx])
            rest = parts[idx + 1 :]
            code = rest[0] if len(rest) > 0 and rest[0] else None
            status = int(rest[1]) if len(rest) > 1 and rest[1] else None
            if len(rest) > 2:
                raise ValueError(f"fail rule {spec!r} has too many fields")
            return cls(operation, count, code, status)
        raise ValueError(f"cannot parse fail rule {spec!r}")

    def matches(self, service: str, operation: str) -> bool:
        return self.operation in ("*", operation, f"{service}:{operation}")

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "count": self.initial,
            "remaining": self.remaining,
            "code": self.code,
            "status": self.status,
            "message": self.message,
        }


class ProxyState:
    """Configuration plus counters, shared by all handler threads."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        throttle_rate: float = 0.0,
        seed: int | None = 0,
        fail: list[Any] | None = None,
        throttle_operations: list[str] | None = None,
        realism: aws_realism.RealismConfig | None = None,
    ):
        self.lock = threading.Lock()
        self.realism = aws_realism.Realism(realism)
        self.latency_ms = 0.0
        self.throttle_rate = 0.0
        self.seed = seed
        self.rng = random.Random(seed)
        self.fail_rules: list[FailRule] = []
        self.throttle_operations: set[str] | None = None
        self.update(
            {
                "latency_ms": latency_ms,
                "throttle_rate": throttle_rate,
                "fail": fail or [],
                "throttle_operations": throttle_operations,
            }
        )
        self.reset_counters()

    # -- configuration --
    def update(self, cfg: dict[str, Any]) -> None:
        if not isinstance(cfg, dict):
            raise TypeError("config must be a JSON object")
        allowed = {
            "latency_ms",
            "throttle_rate",
            "seed",
            "fail",
            "add_fail",
            "throttle_operations",
            "realism",
        }
        unknown = set(cfg) - allowed
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        # Validate everything before applying anything.
        latency = float(cfg["latency_ms"]) if "latency_ms" in cfg else None
        if latency is not None and not 0 <= latency <= 600_000:
            raise ValueError("latency_ms must be between 0 and 600000")
        rate = float(cfg["throttle_rate"]) if "throttle_rate" in cfg else None
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("throttle_rate must be between 0 and 1")
        rules = [FailRule.parse(r) for r in cfg["fail"]] if "fail" in cfg else None
        extra = [FailRule.parse(r) for r in cfg.get("add_fail") or []]
        ops = cfg.get("throttle_operations")
        if ops is not None and not isinstance(ops, list):
            raise ValueError("throttle_operations must be a list or null")
        realism = self.realism.config.updated(cfg["realism"]) if "realism" in cfg else None
        with self.lock:
            if latency is not None:
                self.latency_ms = latency
            if rate is not None:
                self.throttle_rate = rate
            if "seed" in cfg:
                self.seed = None if cfg["seed"] is None else int(cfg["seed"])
                self.rng = random.Random(self.seed)
            if rules is not None:
                self.fail_rules = rules
            self.fail_rules.extend(extra)
            if "throttle_operations" in cfg:
                self.throttle_operations = None if ops is None else {str(o) for o in ops}
        if realism is not None:
            self.realism.configure(realism)

    def config_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "latency_ms": self.latency_ms,
                "throttle_rate": self.throttle_rate,
                "seed": self.seed,
                "throttle_operations": (
                    None if self.throttle_operations is None else sorted(self.throttle_operations)
                ),
                "fail": [r.to_json() for r in self.fail_rules],
                "realism": self.realism.config.to_json(),
            }

    # -- counters --
    def reset_counters(self) -> None:
        with self.lock:
            self.total = 0
            self.calls: dict[str, int] = {}
            self.by_service: dict[str, int] = {}
            self.throttled: dict[str, int] = {}
            self.failed: dict[str, int] = {}
            self.forwarded: dict[str, int] = {}
            self.upstream_errors: dict[str, int] = {}
            self.upstream_status: dict[str, int] = {}
        self.realism.reset_counters()

    @staticmethod
    def _bump(d: dict[str, int], key: str) -> None:
        d[key] = d.get(key, 0) + 1

    def decide(self, service: str, operation: str) -> tuple[str, FailRule | None, float]:
        """Count the call and decide: ('fail', rule) / ('throttle', None) / ('forward', None)."""
        with self.lock:
            self.total += 1
            self._bump(self.calls, operation)
            self._bump(self.by_service, f"{service}:{operation}")
            latency = self.latency_ms
            for rule in self.fail_rules:
                if rule.remaining != 0 and rule.matches(service, operation):
                    if rule.remaining > 0:
                        rule.remaining -= 1
                    self._bump(self.failed, operation)
                    return "fail", rule, latency
            may_throttle = self.throttle_rate > 0 and (
                self.throttle_operations is None
                or operation in self.throttle_operations
                or f"{service}:{operation}" in self.throttle_operations
            )
            if may_throttle and self.rng.random() < self.throttle_rate:
                self._bump(self.throttled, operation)
                return "throttle", None, latency
            self._bump(self.forwarded, operation)
            return "forward", None, latency

    def unforward(self, operation: str) -> None:
        """A call counted as forwarded was answered by the realism mode instead."""
        with self.lock:
            left = self.forwarded.get(operation, 0) - 1
            if left > 0:
                self.forwarded[operation] = left
            else:
                self.forwarded.pop(operation, None)

    def record_upstream(self, operation: str, status: int | None) -> None:
        with self.lock:
            if status is None:
                self._bump(self.upstream_errors, operation)
            else:
                self._bump(self.upstream_status, str(status))

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "calls": dict(self.calls),
                "by_service": dict(self.by_service),
                "forwarded": dict(self.forwarded),
                "throttled": dict(self.throttled),
                "failed": dict(self.failed),
                "upstream_errors": dict(self.upstream_errors),
                "upstream_status": dict(self.upstream_status),
            } | self.realism.stats_json()


# ------------------------------------------------------------- gap fillers --
# Operations moto does not implement (HTTP 500) that the provisioner needs,
# answered here the way AWS answers them. Kept deliberately tiny.

#: The Aurora PostgreSQL versions the emulated region "offers" (newest 16.x: 16.6).
AURORA_POSTGRES_VERSIONS = [
    ("15.10", "available"),
    ("16.2", "available"),
    ("16.4", "available"),
    ("16.6", "available"),
    ("16.8", "deprecated"),
    ("17.2", "available"),
]


def describe_db_engine_versions() -> bytes:
    entries = "".join(
        "<DBEngineVersion><Engine>aurora-postgresql</Engine>"
        f"<EngineVersion>{v}</EngineVersion>"
        f"<MajorEngineVersion>{v.split('.')[0]}</MajorEngineVersion>"
        f"<DBParameterGroupFamily>aurora-postgresql{v.split('.')[0]}</DBParameterGroupFamily>"
        f"<Status>{status}</Status></DBEngineVersion>"
        for v, status in AURORA_POSTGRES_VERSIONS
    )
    return (
        '<DescribeDBEngineVersionsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">'
        f"<DescribeDBEngineVersionsResult><DBEngineVersions>{entries}</DBEngineVersions>"
        "</DescribeDBEngineVersionsResult><ResponseMetadata>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</DescribeDBEngineVersionsResponse>"
    ).encode()


GAP_FILLERS = {"DescribeDBEngineVersions": describe_db_engine_versions}


# ---------------------------------------------------------- classification --
def signing_service(headers: Any, query: dict[str, list[str]]) -> str | None:
    """SigV4 signing name from Authorization (or presigned X-Amz-Credential)."""
    cred = None
    auth = headers.get("Authorization") or ""
    if "Credential=" in auth:
        cred = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in query:
        cred = query["X-Amz-Credential"][0]
    if cred:
        parts = cred.split("/")
        if len(parts) >= 5:
            return parts[-2]
    return None


def decode_body_for_parsing(headers: Any, body: bytes) -> bytes:
    enc = (headers.get("Content-Encoding") or "").lower()
    try:
        if "gzip" in enc:
            return gzip.decompress(body)
        if "deflate" in enc:
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return b""
    return body


def classify(method: str, path: str, headers: Any, body: bytes) -> tuple[str, str, str]:
    """Return (protocol, service, operation) for a request."""
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    service = signing_service(headers, query)

    segments = [s for s in parsed.path.split("/") if s]
    smithy_proto = (headers.get("Smithy-Protocol") or "").lower()
    ctype = (headers.get("Content-Type") or "").lower()
    if (
        len(segments) >= 4
        and segments[0] == "service"
        and segments[-2] == "operation"
        and (smithy_proto.startswith("rpc-v2") or "cbor" in ctype or method == "POST")
    ):
        svc = service or segments[1]
        return "cbor", svc, segments[-1]

    target = headers.get("X-Amz-Target")
    if target:
        prefix, _, op = target.rpartition(".")
        return "json", service or prefix or "unknown", op or target

    action = query.get("Action", [None])[0]
    version = query.get("Version", [None])[0]
    if action is None and method == "POST" and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(
            decode_body_for_parsing(headers, body).decode("utf-8", "replace"),
            keep_blank_values=True,
        )
        action = form.get("Action", [None])[0]
        version = version or form.get("Version", [None])[0]
    if action:
        is_ec2 = service == "ec2" or (service is None and version == EC2_API_VERSION)
        return ("ec2" if is_ec2 else "query"), service or ("ec2" if is_ec2 else "unknown"), action

    return "s3", service or "s3", f"S3:{method}"


# ---------------------------------------------------------------- errors ---
def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def build_error(
    protocol: str, service: str, code: str, status: int, message: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Error response (status, headers, body) in the wire protocol of the call."""
    rid = str(uuid.uuid4())
    fault = "Sender" if status < 500 else "Receiver"
    code_x, msg_x = _xml_escape(code), _xml_escape(message)
    headers = [("x-amzn-RequestId", rid)]
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code_x}</Code><Message>{msg_x}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif protocol == "query":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code_x}</Code>"
            f"<Message>{msg_x}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "cbor":
        # CloudWatch is awsQueryCompatible: SDKs take the error code from
        # x-amzn-query-error ("Code;Sender|Receiver"), falling back to __type.
        body_code = "ThrottlingException" if code == "Throttling" else code
        body = cbor_encode({"__type": body_code, "message": message})
        headers += [
            ("Content-Type", "application/cbor"),
            ("Smithy-Protocol", "rpc-v2-cbor"),
            ("x-amzn-query-error", f"{code};{fault}"),
        ]
    else:  # s3
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code_x}</Code><Message>{msg_x}</Message>"
            f"<RequestId>{rid}</RequestId><HostId>fault-proxy</HostId></Error>"
        ).encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
    return status, headers, body


# --------------------------------------------------------------- handler ---
class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy/1.0"
    timeout = 300  # idle keep-alive connections are dropped after this

    # Set on the server instance.
    server: FaultProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"fault_proxy: {self.address_string()} {format % args}\n")

    # Every method goes through the same path.
    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed during chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        return b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
            self.send_header(name, value)
        if not has_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304) and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, data: Any) -> None:
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        self._send(status, [("Content-Type", "application/json")], body)

    def _control(self, body: bytes) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        name = path[len(CONTROL_PREFIX) :].strip("/")
        try:
            if name == "stats" and self.command == "GET":
                self._send_json(200, state.stats_json())
            elif name == "reset" and self.command == "POST":
                state.reset_counters()
                self._send_json(200, {"ok": True})
            elif name == "config" and self.command == "GET":
                self._send_json(200, state.config_json())
            elif name == "config" and self.command in ("POST", "PUT"):
                cfg = json.loads(body.decode() or "{}")
                state.update(cfg)
                self._send_json(200, state.config_json())
            elif name == "realism/violations" and self.command == "GET":
                self._send_json(200, state.realism.violations_json())
            elif name == "realism/rules" and self.command == "GET":
                self._send_json(200, state.realism.rules_json())
            elif name == "health":
                self._send_json(200, {"ok": True, "upstream": self.server.upstream_url})
            else:
                self._send_json(404, {"error": f"unknown control endpoint {self.command} {path}"})
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            self._send_json(400, {"error": str(exc)})

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        if self.path.startswith(CONTROL_PREFIX):
            self._control(body)
            return

        protocol, service, operation = classify(self.command, self.path, self.headers, body)
        action, rule, latency_ms = self.server.state.decide(service, operation)
        if latency_ms > 0:
            time.sleep(latency_ms / 1000.0)

        if action == "throttle":
            code, status, message = THROTTLE_ERRORS[protocol]
            self._send(*build_error(protocol, service, code, status, message))
            return
        if action == "fail" and rule is not None:
            d_code, d_status, d_message = DEFAULT_FAILURES[protocol]
            code = rule.code or d_code
            status = rule.status or (
                d_status if rule.code is None else status_for_code(protocol, code)
            )
            message = rule.message or (
                d_message if rule.code is None else f"Injected {code} by fault_proxy"
            )
            self._send(*build_error(protocol, service, code, status, message))
            return
        call = None
        realism = self.server.state.realism
        if realism.config.active or operation in aws_realism.ALWAYS_OBSERVED:
            call = self._realism_call(protocol, service, operation, body)
            rejection = realism.check_request(call)
            if rejection is not None:
                self.server.state.unforward(operation)
                self._send(
                    *build_error(
                        protocol, service, rejection.code, rejection.status, rejection.message
                    )
                )
                return
        if protocol == "cbor" and self.server.cbor_bridge:
            self._forward_cbor_as_json(body, operation)
            return
        if operation in GAP_FILLERS and self.server.cbor_bridge:
            self._send(200, [("Content-Type", "text/xml")], GAP_FILLERS[operation]())
            return
        if realism.config.active and aws_realism.is_conditional_write(self.command, self.headers):
            with self.server.conditional_writes:
                self._forward(body, operation, call)
            return
        self._forward(body, operation, call)

    def _realism_call(
        self, protocol: str, service: str, operation: str, body: bytes
    ) -> aws_realism.Call:
        decoded = decode_body_for_parsing(self.headers, body)
        doc = None
        if protocol == "cbor":
            try:
                doc = cbor_to_json_compatible(cbor_decode(decoded))
            except CborError:
                doc = {}
        return aws_realism.Call.parse(
            protocol, service, operation, self.command, self.path, self.headers, decoded, doc
        )

    def _upstream_call(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.server.upstream_call(method, path, headers, body)

    def _forward_cbor_as_json(self, body: bytes, operation: str) -> None:
        """Bridge smithy-rpc-v2-cbor -> AWS JSON 1.0 (moto has no CBOR support)."""
        path = urllib.parse.urlsplit(self.path).path
        segments = [seg for seg in path.split("/") if seg]
        target_prefix = segments[1]
        try:
            request_obj = cbor_decode(decode_body_for_parsing(self.headers, body))
            json_body = json.dumps(cbor_to_json_compatible(request_obj or {})).encode()
        except (CborError, ValueError, UnicodeDecodeError) as exc:
            self._send(*build_error("cbor", "", "SerializationException", 400, f"bad CBOR: {exc}"))
            return
        skip = HOP_BY_HOP | {
            "content-length",
            "content-type",
            "content-encoding",
            "smithy-protocol",
            "accept",
            "x-amz-target",
        }
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in skip]
        headers += [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", f"{target_prefix}.{operation}"),
        ]
        try:
            status, up_headers, data = self._upstream_call("POST", "/", headers, json_body)
        except (OSError, http.client.HTTPException) as exc:
            self.server.state.record_upstream(operation, None)
            msg = f"fault_proxy: upstream failed: {exc}"
            self._send(*build_error("cbor", "", "ServiceUnavailable", 503, msg))
            return
        self.server.state.record_upstream(operation, status)
        try:
            payload = json.loads(data.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            payload = None
        keep = [
            (k, v)
            for k, v in up_headers
            if k.lower() in ("x-amzn-requestid", "x-amzn-query-error", "x-amzn-errortype")
        ]
        out_headers = [*keep, ("Content-Type", "application/cbor")]
        out_headers.append(("Smithy-Protocol", "rpc-v2-cbor"))
        if not isinstance(payload, dict):
            # Not JSON (e.g. a moto 404 page): pass it on as it came.
            self._send(
                status,
                [
                    (k, v)
                    for k, v in up_headers
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                ],
                data,
            )
            return
        if status >= 300:
            code = str(payload.get("__type") or payload.get("code") or "UnknownError")
            code = code.rsplit("#", 1)[-1].split(":", 1)[0]
            message = str(payload.get("message") or payload.get("Message") or "")
            out = cbor_encode({"__type": code, "message": message})
        else:
            out = cbor_encode(json_to_cbor_typed(payload))
        self._send(status, out_headers, out)

    def _forward(self, body: bytes, operation: str, call: aws_realism.Call | None = None) -> None:
        host, port = self.server.upstream
        conn = http.client.HTTPConnection(host, port, timeout=self.server.upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            sent_length = False
            for name, value in self.headers.items():
                lname = name.lower()
                if lname in HOP_BY_HOP:
                    continue
                if lname == "content-length":
                    continue
                conn.putheader(name, value)
            if (
                body
                or self.headers.get("Content-Length") is not None
                or ("chunked" in (self.headers.get("Transfer-Encoding") or "").lower())
            ):
                conn.putheader("Content-Length", str(len(body)))
                sent_length = True
            if "host" not in {k.lower() for k in self.headers}:
                conn.putheader("Host", f"{host}:{port}")
            conn.endheaders(body if sent_length else None)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            headers = []
            for name, value in resp.getheaders():
                lname = name.lower()
                if lname in HOP_BY_HOP:
                    continue
                # Keep the upstream Content-Length for HEAD (e.g. S3 HeadObject sizes).
                if lname == "content-length" and self.command != "HEAD":
                    continue
                headers.append((name, value))
        except (OSError, http.client.HTTPException) as exc:
            self.server.state.record_upstream(operation, None)
            msg = f"fault_proxy: upstream {host}:{port} failed: {exc}".encode()
            self._send(502, [("Content-Type", "text/plain")], msg)
            return
        finally:
            conn.close()
        self.server.state.record_upstream(operation, status)
        encoded = any(k.lower() == "content-encoding" for k, _ in headers)
        if call is not None and not encoded and self.command != "HEAD":
            data = self.server.state.realism.on_response(call, status, data)
        self._send(status, headers, data)


class FaultProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        upstream: tuple[str, int],
        state: ProxyState,
        upstream_timeout: float = 120.0,
        verbose: bool = False,
        cbor_bridge: bool = True,
    ):
        self.cbor_bridge = cbor_bridge
        self.upstream = upstream
        self.upstream_url = f"http://{upstream[0]}:{upstream[1]}"
        self.state = state
        self.upstream_timeout = upstream_timeout
        self.verbose = verbose
        # One conditional S3 write at a time (see aws_realism.is_conditional_write).
        self.conditional_writes = threading.Lock()
        state.realism.upstream = self.upstream_call
        super().__init__(("127.0.0.1", port), ProxyHandler)

    def upstream_call(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request to moto (used by the CBOR bridge and the realism mode)."""
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if not any(name.lower() == "host" for name, _ in headers):
                conn.putheader("Host", f"{host}:{port}")
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, BrokenPipeError)):
            return  # client went away; nothing to report
        super().handle_error(request, client_address)


def parse_upstream(value: str) -> tuple[str, int]:
    if value.isdigit():
        return "127.0.0.1", int(value)
    parsed = urllib.parse.urlsplit(value if "//" in value else f"http://{value}")
    if parsed.scheme != "http":
        raise argparse.ArgumentTypeError("upstream must be plain http://")
    if parsed.hostname not in LOOPBACK_HOSTS:
        raise argparse.ArgumentTypeError("upstream must be on 127.0.0.1 (loopback only)")
    if not parsed.port:
        raise argparse.ArgumentTypeError("upstream needs an explicit port")
    return "127.0.0.1", parsed.port


def main(argv: list[str] | None = None) -> int:
    parent = os.getppid()
    ap = argparse.ArgumentParser(
        description="Loopback fault-injection proxy in front of moto_server.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Control endpoints" + __doc__.split("Control endpoints", 1)[1],
    )
    ap.add_argument(
        "--upstream",
        required=True,
        type=parse_upstream,
        help="upstream moto URL or port, e.g. http://127.0.0.1:5000 (loopback only)",
    )
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0 = free port)")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every call")
    ap.add_argument(
        "--throttle-rate", type=float, default=0.0, help="fraction (0-1) of calls throttled"
    )
    ap.add_argument("--seed", type=int, default=0, help="RNG seed for throttling")
    ap.add_argument(
        "--throttle-operations",
        help="comma-separated operations that may be throttled (default: all)",
    )
    ap.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="OPERATION:N[:CODE[:STATUS]]",
        help="fail OPERATION the next N times (-1 = always); repeatable",
    )
    ap.add_argument("--upstream-timeout", type=float, default=120.0)
    ap.add_argument(
        "--no-cbor-bridge",
        dest="cbor_bridge",
        action="store_false",
        help="forward everything unchanged: no CBOR translation (by default smithy-rpc-v2-cbor "
        "calls are translated to AWS JSON 1.0 for moto, which has no CBOR support, and the "
        "answer back to CBOR) and no answers for operations moto lacks "
        "(DescribeDBEngineVersions)",
    )
    ap.add_argument(
        "--aws-realism",
        action="store_true",
        help="turn on every part of the AWS-realism mode (request rules, EC2 eventual "
        f"consistency {aws_realism.DEFAULT_EC_SECONDS:g}s, lifecycles "
        f"{aws_realism.DEFAULT_LIFECYCLE_SECONDS:g}s, image pulls); see the docstring",
    )
    ap.add_argument(
        "--realism-ec-seconds",
        type=float,
        metavar="S",
        help="EC2 eventual-consistency window (with --aws-realism: instead of the default; "
        "alone: turns on only that part)",
    )
    ap.add_argument(
        "--realism-lifecycle-seconds",
        type=float,
        metavar="S",
        help="how long resources show pending states (with --aws-realism: instead of the "
        "default; alone: turns on only that part)",
    )
    ap.add_argument("--verbose", "-v", action="store_true", help="log every request to stderr")
    ap.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started the proxy exits (for test harnesses)",
    )
    args = ap.parse_args(argv)
    if cbor2 is None:
        print(CBOR2_MISSING, file=sys.stderr)
        return 2

    realism = aws_realism.RealismConfig.all_on() if args.aws_realism else None
    try:
        spec: dict[str, Any] = {}
        if args.realism_ec_seconds is not None:
            spec["eventual_consistency_seconds"] = args.realism_ec_seconds
        if args.realism_lifecycle_seconds is not None:
            spec["lifecycle_seconds"] = args.realism_lifecycle_seconds
        if spec:
            realism = (realism or aws_realism.RealismConfig()).updated(spec)
        state = ProxyState(
            latency_ms=args.latency_ms,
            throttle_rate=args.throttle_rate,
            seed=args.seed,
            fail=args.fail,
            throttle_operations=(
                [o for o in args.throttle_operations.split(",") if o]
                if args.throttle_operations
                else None
            ),
            realism=realism,
        )
    except ValueError as exc:
        ap.error(str(exc))

    server = FaultProxyServer(
        args.port,
        args.upstream,
        state,
        upstream_timeout=args.upstream_timeout,
        verbose=args.verbose,
        cbor_bridge=args.cbor_bridge,
    )
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(f"{server.port}\n")
        os.replace(tmp, args.port_file)

    def stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.exit_with_parent:

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            server.shutdown()

        threading.Thread(target=watch_parent, daemon=True).start()

    url = f"http://127.0.0.1:{server.port}"
    print(f"fault_proxy: listening on {url} -> upstream {server.upstream_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.port_file:
            with contextlib.suppress(OSError):
                os.unlink(args.port_file)
    print("fault_proxy: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
