"""AWS-realism mode for scripts/fault_proxy.py (stdlib only).

moto accepts requests AWS refuses and answers at once where AWS takes its
time. This module makes the proxy stricter, in four independently switchable
parts (see the proxy's docstring for how to turn them on):

``rules``
    :data:`RULES` is a table of documented constraints on the requests the
    provisioner sends (lengths, character sets, ranges, combinations), each
    with the AWS reference it comes from. A request that breaks one is
    answered with that service's validation error in its own wire protocol
    and recorded (``realism_rejections`` in the stats).
``eventual_consistency_seconds``
    For that long after a successful EC2 create, mutating EC2 calls that name
    the new id get the ``Invalid...ID.NotFound`` error real EC2 gives while
    the id propagates ("Eventual consistency in the Amazon EC2 API", EC2
    Developer Guide). Describe calls are not affected.
``lifecycle_seconds``
    For that long after a create, describe answers show the pending state
    (NAT ``pending`` / ``deleting``, load balancer ``provisioning``, DB
    ``creating``, ECS deployment ``IN_PROGRESS``).
``image_pulls``
    An ECS service (or RunTask) whose task definition names an image of this
    account's ECR that is not there fails its deployment as AWS does when
    the deployment circuit breaker trips: ``rolloutState`` ``FAILED`` with a
    ``CannotPullContainerError`` reason.

The proxy builds a :class:`Call` for each request, asks
:meth:`Realism.check_request` whether to refuse it, and passes the upstream
answer through :meth:`Realism.on_response`, which records what was created
and may rewrite describe answers.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

DEFAULT_EC_SECONDS = 1.5
DEFAULT_LIFECYCLE_SECONDS = 2.0
MAX_SECONDS = 3600.0

#: callable(method, path, headers, body) -> (status, headers, body), for the
#: proxy's own calls to moto (ECR DescribeImages, ECS DescribeTaskDefinition).
Upstream = Callable[[str, str, list[tuple[str, str]], bytes], tuple[int, Any, bytes]]


# ------------------------------------------------------------------ config --
@dataclass(frozen=True)
class RealismConfig:
    rules: bool = False
    eventual_consistency_seconds: float = 0.0
    lifecycle_seconds: float = 0.0
    image_pulls: bool = False

    @classmethod
    def all_on(
        cls,
        eventual_consistency_seconds: float = DEFAULT_EC_SECONDS,
        lifecycle_seconds: float = DEFAULT_LIFECYCLE_SECONDS,
    ) -> RealismConfig:
        return cls(True, float(eventual_consistency_seconds), float(lifecycle_seconds), True)

    @property
    def active(self) -> bool:
        return (
            self.rules
            or self.image_pulls
            or self.eventual_consistency_seconds > 0
            or self.lifecycle_seconds > 0
        )

    def updated(self, spec: Any) -> RealismConfig:
        """A copy changed by ``spec``: ``true`` (all parts, default durations),
        ``false`` (all off) or an object with any subset of the fields."""
        if spec is True:
            return RealismConfig.all_on()
        if spec is False or spec is None:
            return RealismConfig()
        if not isinstance(spec, dict):
            raise TypeError("realism must be true, false or an object")
        unknown = set(spec) - {
            "rules",
            "eventual_consistency_seconds",
            "lifecycle_seconds",
            "image_pulls",
        }
        if unknown:
            raise ValueError(f"unknown realism keys: {sorted(unknown)}")
        changes: dict[str, Any] = {}
        for key in ("rules", "image_pulls"):
            if key in spec:
                if not isinstance(spec[key], bool):
                    raise ValueError(f"realism.{key} must be true or false")
                changes[key] = spec[key]
        for key in ("eventual_consistency_seconds", "lifecycle_seconds"):
            if key in spec:
                value = spec[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"realism.{key} must be a number of seconds")
                if not 0 <= value <= MAX_SECONDS:
                    raise ValueError(f"realism.{key} must be between 0 and {MAX_SECONDS:g}")
                changes[key] = float(value)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "eventual_consistency_seconds": self.eventual_consistency_seconds,
            "lifecycle_seconds": self.lifecycle_seconds,
            "image_pulls": self.image_pulls,
        }


# -------------------------------------------------------------------- call --
def credential_scope(authorization: str | None) -> tuple[str | None, str | None]:
    """(access key, region) from a SigV4 Authorization header."""
    if not authorization or "Credential=" not in authorization:
        return None, None
    cred = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
    parts = cred.split("/")
    if len(parts) >= 5:
        return parts[0], parts[-3]
    return None, None


def _flat_key(key: str) -> str:
    """``IpPermissions.1.IpRanges.2.Description`` -> ``IpPermissions.IpRanges.Description``
    (list indices and ``member`` dropped), for matching ``IpPermissions[].IpRanges[]...``."""
    return ".".join(s for s in key.split(".") if not s.isdigit() and s != "member")


class Call:
    """One request, its parameters readable whatever the wire protocol.

    ``flat`` holds form parameters (EC2 / query protocols), ``doc`` the JSON
    or CBOR body. Locators name parameters by their wire names with ``[]``
    for lists, e.g. ``containerDefinitions[].stopTimeout`` or
    ``Attributes[].Key``; for form parameters list indices and ``member``
    segments are ignored, so ``AlarmActions[]`` matches ``AlarmActions.member.1``.
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
        access_key, region = credential_scope(headers.get("Authorization"))
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


# ------------------------------------------------------------------- rules --
@dataclass
class RuleState:
    """What stateful rules need to know: topic name -> KMS key it was created with."""

    topic_keys: dict[str, str] = field(default_factory=dict)


Check = Callable[[Call, RuleState], "str | None"]
ValueTest = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Rule:
    id: str
    service: str  # SigV4 signing name
    operations: tuple[str, ...]  # "*" = every operation of the service
    parameter: str
    check: Check
    code: str
    citation: str
    status: int = 400

    def applies(self, call: Call) -> bool:
        return call.service == self.service and (
            "*" in self.operations or call.operation in self.operations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "operations": list(self.operations),
            "parameter": self.parameter,
            "code": self.code,
            "citation": self.citation,
        }


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def max_len(n: int) -> ValueTest:
    return lambda v: None if len(str(v)) <= n else f"must be at most {n} characters"


def length(lo: int, hi: int) -> ValueTest:
    return lambda v: None if lo <= len(str(v)) <= hi else f"must be {lo} to {hi} characters"


def pattern(regex: str, what: str) -> ValueTest:
    rx = re.compile(regex)
    return lambda v: None if rx.fullmatch(str(v)) else what


def no_prefix(prefix: str, what: str | None = None) -> ValueTest:
    problem = what or f"must not start with {prefix!r}"
    return lambda v: problem if str(v).lower().startswith(prefix) else None


def in_range(lo: float, hi: float, step: float | None = None) -> ValueTest:
    def test(v: Any) -> str | None:
        n = _num(v)
        if n is None or not lo <= n <= hi:
            return f"must be between {lo:g} and {hi:g}"
        if step and abs(n / step - round(n / step)) > 1e-9:
            return f"must be a multiple of {step:g}"
        return None

    return test


def one_of(allowed: frozenset[int], what: str) -> ValueTest:
    def test(v: Any) -> str | None:
        n = _num(v)
        return None if n is not None and n.is_integer() and int(n) in allowed else what

    return test


def each(locator: str, *tests: ValueTest) -> Check:
    """Every value at ``locator`` passes every test."""

    def check(call: Call, _state: RuleState) -> str | None:
        for value in call.values(locator):
            for test in tests:
                problem = test(value)
                if problem:
                    shown = str(value) if len(str(value)) <= 80 else f"{str(value)[:77]}..."
                    return f"Invalid value {shown!r} for {locator}: {problem}"
        return None

    return check


def all_of(*checks: Check) -> Check:
    """The first problem any of ``checks`` finds."""

    def check(call: Call, state: RuleState) -> str | None:
        for one in checks:
            problem = one(call, state)
            if problem:
                return problem
        return None

    return check


# Character sets quoted in the references.
EC2_NAME_CHARS = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
EC2_RULE_DESCRIPTION_CHARS = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*"
LETTER_DIGIT_HYPHEN_ID = r"[A-Za-z](?!.*--)[A-Za-z0-9-]*(?<!-)"
ELB_NAME = r"(?!-)[A-Za-z0-9-]+(?<!-)"
IAM_NAME = r"[\w+=,.@-]+"
IAM_PATH = r"/|/[\u0021-\u007e]+/"
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731}
    | {1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
ECS_NAME = r"[A-Za-z0-9_-]+"
S3_BUCKET = r"[a-z0-9][a-z0-9.-]*[a-z0-9]"

# Fargate task size: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4097, 1024)),
    1024: frozenset(range(2048, 8193, 1024)),
    2048: frozenset(range(4096, 16385, 1024)),
    4096: frozenset(range(8192, 30721, 1024)),
    8192: frozenset(range(16384, 61441, 4096)),
    16384: frozenset(range(32768, 122881, 8192)),
}


def _task_size(value: Any, unit: str) -> int | None:
    """ECS accepts ``1024`` or ``1 vCPU`` / ``2 GB``; returns CPU units / MiB."""
    text = str(value).strip()
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{unit}", text, re.IGNORECASE)
    if m:
        return int(float(m.group(1)) * 1024)
    return int(text) if text.isdigit() else None


def _is_fargate(call: Call) -> bool:
    return "FARGATE" in [str(c).upper() for c in call.values("requiresCompatibilities[]")]


def fargate_task_size(call: Call, _state: RuleState) -> str | None:
    if not _is_fargate(call):
        return None
    cpu = _task_size(call.first("cpu"), "vCPU")
    mem = _task_size(call.first("memory"), "GB")
    if cpu not in FARGATE_SIZES:
        return f"Invalid 'cpu' setting for task: {call.first('cpu')!r} is not a Fargate CPU size"
    if mem not in FARGATE_SIZES[cpu]:
        return (
            f"No Fargate configuration exists for given values: cpu {cpu} with memory "
            f"{call.first('memory')!r}"
        )
    return None


def fargate_stop_timeout(call: Call, _state: RuleState) -> str | None:
    if not _is_fargate(call):
        return None
    for value in call.values("containerDefinitions[].stopTimeout"):
        n = _num(value)
        if n is not None and n > 120:
            return f"Invalid stopTimeout {value}: the maximum on Fargate is 120 seconds"
    return None


def single_vpc_attribute(call: Call, _state: RuleState) -> str | None:
    given = sorted(
        name
        for name in ("EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics")
        if call.first(f"{name}.Value") is not None
    )
    if len(given) > 1:
        return f"Fields for multiple attribute types specified: {', '.join(given)}"
    return None


def health_check_timeout_below_interval(call: Call, _state: RuleState) -> str | None:
    timeout = _num(call.first("HealthCheckTimeoutSeconds"))
    interval = _num(call.first("HealthCheckIntervalSeconds"))
    if timeout is not None and interval is not None and timeout >= interval:
        return (
            f"Health check interval ({interval:g}) must be greater than the timeout ({timeout:g})"
        )
    return None


def serverless_min_le_max(call: Call, _state: RuleState) -> str | None:
    lo = _num(call.first("ServerlessV2ScalingConfiguration.MinCapacity"))
    hi = _num(call.first("ServerlessV2ScalingConfiguration.MaxCapacity"))
    if lo is not None and hi is not None and lo > hi:
        return f"MinCapacity ({lo:g}) must not be greater than MaxCapacity ({hi:g})"
    return None


def at_most_items(locator: str, n: int) -> Check:
    def check(call: Call, _state: RuleState) -> str | None:
        count = call.count(locator)
        if count > n:
            return f"{locator} has {count} items; at most {n} are allowed"
        return None

    return check


def scalable_min_le_max(call: Call, _state: RuleState) -> str | None:
    lo, hi = _num(call.first("MinCapacity")), _num(call.first("MaxCapacity"))
    if lo is not None and hi is not None and lo > hi:
        return f"Minimum capacity ({lo:g}) cannot be greater than maximum capacity ({hi:g})"
    return None


def alarm_period(call: Call, _state: RuleState) -> str | None:
    n = _num(call.first("Period"))
    if n is not None and not (n in (10, 20, 30) or (n >= 60 and n % 60 == 0)):
        return f"Period {n:g} is invalid: valid values are 10, 20, 30 and any multiple of 60"
    return None


def bucket_name(call: Call, _state: RuleState) -> str | None:
    bucket = s3_create_bucket_name(call)
    if bucket is None:
        return None
    problems = [
        (not 3 <= len(bucket) <= 63, "must be 3 to 63 characters long"),
        (
            not re.fullmatch(S3_BUCKET, bucket),
            "may contain only lowercase letters, digits, dots and hyphens, and must begin "
            "and end with a letter or digit",
        ),
        (".." in bucket, "must not contain two adjacent periods"),
        (bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket)), "must not look like an IP address"),
        (bucket.startswith(("xn--", "sthree-")), "must not start with xn-- or sthree-"),
        (bucket.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")), "has a reserved suffix"),
    ]
    for bad, why in problems:
        if bad:
            return f"The specified bucket {bucket!r} is not valid: it {why}"
    return None


def s3_create_bucket_name(call: Call) -> str | None:
    """The bucket of a path-style CreateBucket (``PUT /bucket`` without a subresource)."""
    if call.protocol != "s3" or call.method != "PUT":
        return None
    segments = [s for s in call.path.split("/") if s]
    subresources = set(call.query) - {"x-id"}
    if (
        len(segments) != 1
        or subresources
        or call.query.get("x-id", "CreateBucket") != "CreateBucket"
    ):
        return None
    return urllib.parse.unquote(segments[0])


SNS_AWS_MANAGED_KEY = "alias/aws/sns"


def _is_aws_managed_sns_key(key: str) -> bool:
    return key == SNS_AWS_MANAGED_KEY or key.endswith(":" + SNS_AWS_MANAGED_KEY)


def alarm_topic_encryption(call: Call, state: RuleState) -> str | None:
    for locator in ("AlarmActions[]", "OKActions[]", "InsufficientDataActions[]"):
        for action in call.values(locator):
            text = str(action)
            if not text.startswith("arn:") or ":sns:" not in text:
                continue
            key = state.topic_keys.get(text.rsplit(":", 1)[-1])
            if key and _is_aws_managed_sns_key(key):
                return (
                    f"{locator.removesuffix('[]')} names SNS topic {text}, which is encrypted with "
                    f"the AWS managed key {key}: CloudWatch cannot publish to a topic encrypted "
                    "with the AWS managed key (its key policy cannot be changed to let "
                    "cloudwatch.amazonaws.com use it); use a customer managed KMS key. Real AWS "
                    "accepts the alarm and silently drops its notifications; fault_proxy refuses "
                    "it so that the mistake is visible."
                )
    return None


EC2_REF = "Amazon EC2 API Reference"
ECS_REF = "Amazon ECS API Reference"
RDS_REF = "Amazon RDS API Reference"
ELB_REF = "Elastic Load Balancing API Reference (version 2015-12-01)"
IAM_REF = "IAM API Reference"

#: The documented request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    # ---- EC2 ---------------------------------------------------------------
    Rule(
        "ec2.CreateSecurityGroup.GroupName",
        "ec2",
        ("CreateSecurityGroup",),
        "GroupName",
        each(
            "GroupName",
            length(1, 255),
            no_prefix("sg-", "security group names cannot start with sg-"),
            pattern(
                EC2_NAME_CHARS,
                "valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
            ),
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateSecurityGroup: GroupName - Constraints: Up to 255 characters in "
        "length. Cannot start with sg-. Valid characters: a-z, A-Z, 0-9, spaces, and "
        "._-:/()#,@[]+=&;{}!$*",
    ),
    Rule(
        "ec2.CreateSecurityGroup.GroupDescription",
        "ec2",
        ("CreateSecurityGroup",),
        "GroupDescription",
        each(
            "GroupDescription",
            length(1, 255),
            pattern(
                EC2_NAME_CHARS,
                "valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
            ),
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateSecurityGroup: GroupDescription - Constraints: Up to 255 characters "
        "in length. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
    ),
    Rule(
        "ec2.SecurityGroupRule.Description",
        "ec2",
        (
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
        ),
        "IpPermissions.N.{IpRanges,Ipv6Ranges,UserIdGroupPairs,PrefixListIds}.N.Description",
        all_of(
            *(
                each(
                    f"IpPermissions[].{kind}[].Description",
                    max_len(255),
                    pattern(
                        EC2_RULE_DESCRIPTION_CHARS,
                        "allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*",
                    ),
                )
                for kind in ("IpRanges", "Ipv6Ranges", "Groups", "PrefixListIds")
            )
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, IpRange / Ipv6Range / UserIdGroupPair / PrefixListId: Description - "
        "Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, "
        "spaces, and ._-:/()#,@[]+=;{}!$*",
    ),
    Rule(
        "ec2.ClientToken",
        "ec2",
        ("*",),
        "ClientToken",
        each("ClientToken", length(1, 64), pattern(r"[\x20-\x7e]+", "must be ASCII")),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateNatGateway (and every action with one): ClientToken - Constraint: "
        "Maximum 64 ASCII characters (see also 'Ensuring idempotency in Amazon EC2 API "
        "requests')",
    ),
    Rule(
        "ec2.ModifyVpcAttribute.one-attribute",
        "ec2",
        ("ModifyVpcAttribute",),
        "EnableDnsSupport / EnableDnsHostnames / EnableNetworkAddressUsageMetrics",
        single_vpc_attribute,
        "InvalidParameterCombination",
        f"{EC2_REF}, ModifyVpcAttribute: EnableDnsHostnames / EnableDnsSupport - You cannot "
        "modify the DNS resolution and DNS hostnames attributes in the same request. Use "
        "separate requests for each attribute.",
    ),
    Rule(
        "ec2.Tag",
        "ec2",
        ("*",),
        "TagSpecification.N.Tag.N.Key/Value, Tag.N.Key/Value",
        all_of(
            each("TagSpecification[].Tag[].Key", length(1, 127), no_prefix("aws:")),
            each("TagSpecification[].Tag[].Value", max_len(256)),
            each("Tag[].Key", length(1, 127), no_prefix("aws:")),
            each("Tag[].Value", max_len(256)),
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, Tag: Key - Constraints: Tag keys are case-sensitive and accept a maximum "
        "of 127 Unicode characters. May not begin with aws:. Value - Constraints: Tag values "
        "are case-sensitive and accept a maximum of 256 Unicode characters.",
    ),
    Rule(
        "ec2.CreateFlowLogs.MaxAggregationInterval",
        "ec2",
        ("CreateFlowLogs",),
        "MaxAggregationInterval",
        each("MaxAggregationInterval", one_of(frozenset({60, 600}), "must be 60 or 600")),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateFlowLogs: MaxAggregationInterval - Valid Values: 60 | 600",
    ),
    # ---- ECS ---------------------------------------------------------------
    Rule(
        "ecs.CreateService.clientToken",
        "ecs",
        ("CreateService", "UpdateService"),
        "clientToken",
        each(
            "clientToken",
            length(1, 36),
            pattern(r"[\x21-\x7e]+", "must be ASCII characters 33-126"),
        ),
        "InvalidParameterException",
        f"{ECS_REF}, CreateService: clientToken - An identifier that you provide to ensure the "
        "idempotency of the request. It must be unique and is case sensitive. Up to 36 ASCII "
        "characters in the range of 33-126 (inclusive) are allowed. (UpdateService takes no "
        "clientToken; it is checked the same way if one is sent.)",
    ),
    Rule(
        "ecs.RunTask.clientToken",
        "ecs",
        ("RunTask",),
        "clientToken",
        each("clientToken", length(1, 64), pattern(r"[\x21-\x7e]+", "must be ASCII")),
        "InvalidParameterException",
        f"{ECS_REF}, RunTask: clientToken - Up to 64 ASCII characters are allowed.",
    ),
    Rule(
        "ecs.CreateService.serviceName",
        "ecs",
        ("CreateService",),
        "serviceName",
        each(
            "serviceName",
            length(1, 255),
            pattern(ECS_NAME, "only letters, numbers, underscores and hyphens are allowed"),
        ),
        "InvalidParameterException",
        f"{ECS_REF}, CreateService: serviceName - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.CreateCluster.clusterName",
        "ecs",
        ("CreateCluster",),
        "clusterName",
        each(
            "clusterName",
            length(1, 255),
            pattern(ECS_NAME, "only letters, numbers, underscores and hyphens are allowed"),
        ),
        "InvalidParameterException",
        f"{ECS_REF}, CreateCluster: clusterName - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.family",
        "ecs",
        ("RegisterTaskDefinition",),
        "family",
        each(
            "family",
            length(1, 255),
            pattern(ECS_NAME, "only letters, numbers, underscores and hyphens are allowed"),
        ),
        "ClientException",
        f"{ECS_REF}, RegisterTaskDefinition: family - Up to 255 letters (uppercase and "
        "lowercase), numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.containerName",
        "ecs",
        ("RegisterTaskDefinition",),
        "containerDefinitions.N.name",
        each(
            "containerDefinitions[].name",
            length(1, 255),
            pattern(ECS_NAME, "only letters, numbers, underscores and hyphens are allowed"),
        ),
        "ClientException",
        f"{ECS_REF}, ContainerDefinition: name - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.fargate-cpu-memory",
        "ecs",
        ("RegisterTaskDefinition",),
        "cpu / memory (requiresCompatibilities FARGATE)",
        fargate_task_size,
        "ClientException",
        f"{ECS_REF}, RegisterTaskDefinition: cpu / memory - If you use the Fargate launch type, "
        "you must use one of the following values ... 256 (.25 vCPU): 512, 1024, 2048; 512: "
        "1024-4096; 1024: 2048-8192; 2048: 4096-16384 in 1024 steps; 4096: 8192-30720 in 1024 "
        "steps; 8192: 16384-61440 in 4096 steps; 16384: 32768-122880 in 8192 steps (Amazon ECS "
        "Developer Guide, 'Troubleshoot Amazon ECS task definition invalid CPU or memory "
        "errors': ClientException Invalid 'cpu' setting for task)",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.stopTimeout",
        "ecs",
        ("RegisterTaskDefinition",),
        "containerDefinitions.N.stopTimeout (requiresCompatibilities FARGATE)",
        fargate_stop_timeout,
        "ClientException",
        f"{ECS_REF}, ContainerDefinition: stopTimeout - For tasks that use the Fargate launch "
        "type, the max stop timeout value is 120 seconds.",
    ),
    # ---- RDS ---------------------------------------------------------------
    Rule(
        "rds.DBClusterIdentifier",
        "rds",
        ("CreateDBCluster",),
        "DBClusterIdentifier",
        each(
            "DBClusterIdentifier",
            length(1, 63),
            pattern(
                LETTER_DIGIT_HYPHEN_ID,
                "must contain only letters, digits and hyphens, start with a letter, not end "
                "with a hyphen and not contain two consecutive hyphens",
            ),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBCluster: DBClusterIdentifier - Constraints: Must contain from 1 to "
        "63 (for Aurora DB clusters) letters, numbers, or hyphens. First character must be a "
        "letter. Can't end with a hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBInstanceIdentifier",
        "rds",
        ("CreateDBInstance",),
        "DBInstanceIdentifier",
        each(
            "DBInstanceIdentifier",
            length(1, 63),
            pattern(
                LETTER_DIGIT_HYPHEN_ID,
                "must contain only letters, digits and hyphens, start with a letter, not end "
                "with a hyphen and not contain two consecutive hyphens",
            ),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBInstance: DBInstanceIdentifier - Constraints: Must contain from 1 "
        "to 63 letters, numbers, or hyphens. First character must be a letter. Can't end with "
        "a hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBClusterParameterGroupName",
        "rds",
        ("CreateDBClusterParameterGroup",),  # not CreateDBCluster: it may name default.<family>
        "DBClusterParameterGroupName",
        each(
            "DBClusterParameterGroupName",
            length(1, 255),
            pattern(
                LETTER_DIGIT_HYPHEN_ID,
                "must be letters, digits or hyphens, start with a letter, not end with a hyphen "
                "and not contain two consecutive hyphens",
            ),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, DBClusterParameterGroupName (of a new group; stated with the "
        "DBClusterParameterGroup actions and CreateDBCluster) - Constraints: Must be 1 to 255 "
        "letters, numbers, or hyphens. First character must be a letter. Can't end with a "
        "hyphen or contain two consecutive hyphens.",
    ),
    Rule(
        "rds.DBSubnetGroupName",
        "rds",
        ("CreateDBSubnetGroup",),
        "DBSubnetGroupName",
        each(
            "DBSubnetGroupName",
            length(1, 255),
            pattern(
                r"[A-Za-z][A-Za-z0-9._ -]*",
                "must be letters, numbers, periods, "
                "underscores, spaces or hyphens, and start with a letter",
            ),
            lambda v: "must not be default" if str(v).lower() == "default" else None,
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBSubnetGroup: DBSubnetGroupName - Constraints: Must contain no more "
        "than 255 letters, numbers, periods, underscores, spaces, or hyphens. Must not be "
        "default. First character must be a letter.",
    ),
    Rule(
        "rds.ServerlessV2ScalingConfiguration.range",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "ServerlessV2ScalingConfiguration.MinCapacity / MaxCapacity",
        all_of(
            each("ServerlessV2ScalingConfiguration.MinCapacity", in_range(0, 256, 0.5)),
            each("ServerlessV2ScalingConfiguration.MaxCapacity", in_range(1, 256, 0.5)),
        ),
        "InvalidParameterValue",
        f"{RDS_REF}, ServerlessV2ScalingConfiguration: MinCapacity - You can specify ACU values "
        "in half-step increments ... the smallest value that you can use is 0 (0.5 without "
        "auto-pause); MaxCapacity - half-step increments; the largest value is 256 (128 for "
        "older versions); the maximum capacity must be higher than 0.5 ACUs.",
    ),
    Rule(
        "rds.ServerlessV2ScalingConfiguration.min-le-max",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "ServerlessV2ScalingConfiguration.MinCapacity <= MaxCapacity",
        serverless_min_le_max,
        "InvalidParameterCombination",
        f"{RDS_REF}, ServerlessV2ScalingConfiguration (MinCapacity is the minimum and "
        "MaxCapacity the maximum number of ACUs of the capacity range)",
    ),
    Rule(
        "rds.BackupRetentionPeriod",
        "rds",
        ("CreateDBCluster", "ModifyDBCluster"),
        "BackupRetentionPeriod",
        each("BackupRetentionPeriod", in_range(1, 35, 1)),
        "InvalidParameterValue",
        f"{RDS_REF}, CreateDBCluster: BackupRetentionPeriod - Constraints: Must be a value from "
        "1 to 35.",
    ),
    # ---- ELBv2 -------------------------------------------------------------
    Rule(
        "elbv2.CreateLoadBalancer.Name",
        "elasticloadbalancing",
        ("CreateLoadBalancer",),
        "Name",
        each(
            "Name",
            length(1, 32),
            pattern(
                ELB_NAME,
                "must contain only alphanumeric characters or hyphens and must "
                "not begin or end with a hyphen",
            ),
            no_prefix("internal-"),
        ),
        "ValidationError",
        f"{ELB_REF}, CreateLoadBalancer: Name - This name must be unique per region per "
        "account, can have a maximum of 32 characters, must contain only alphanumeric "
        "characters or hyphens, must not begin or end with a hyphen, and must not begin with "
        '"internal-".',
    ),
    Rule(
        "elbv2.CreateTargetGroup.Name",
        "elasticloadbalancing",
        ("CreateTargetGroup",),
        "Name",
        each(
            "Name",
            length(1, 32),
            pattern(
                ELB_NAME,
                "must contain only alphanumeric characters or hyphens and must "
                "not begin or end with a hyphen",
            ),
        ),
        "ValidationError",
        f"{ELB_REF}, CreateTargetGroup: Name - This name must be unique per region per account, "
        "can have a maximum of 32 characters, must contain only alphanumeric characters or "
        "hyphens, and must not begin or end with a hyphen.",
    ),
    Rule(
        "elbv2.HealthCheck.ranges",
        "elasticloadbalancing",
        ("CreateTargetGroup", "ModifyTargetGroup"),
        "HealthCheckIntervalSeconds / HealthCheckTimeoutSeconds / "
        "HealthyThresholdCount / UnhealthyThresholdCount",
        all_of(
            each("HealthCheckIntervalSeconds", in_range(5, 300, 1)),
            each("HealthCheckTimeoutSeconds", in_range(2, 120, 1)),
            each("HealthyThresholdCount", in_range(2, 10, 1)),
            each("UnhealthyThresholdCount", in_range(2, 10, 1)),
        ),
        "ValidationError",
        f"{ELB_REF}, CreateTargetGroup / ModifyTargetGroup: HealthCheckIntervalSeconds - Valid "
        "Range: Minimum value of 5. Maximum value of 300. HealthCheckTimeoutSeconds - Valid "
        "Range: Minimum value of 2. Maximum value of 120. HealthyThresholdCount / "
        "UnhealthyThresholdCount - Valid Range: Minimum value of 2. Maximum value of 10.",
    ),
    Rule(
        "elbv2.HealthCheck.timeout-below-interval",
        "elasticloadbalancing",
        ("CreateTargetGroup", "ModifyTargetGroup"),
        "HealthCheckTimeoutSeconds < HealthCheckIntervalSeconds",
        health_check_timeout_below_interval,
        "ValidationError",
        "Elastic Load Balancing User Guide for Application Load Balancers, 'Health checks for "
        "Application Load Balancer target groups': HealthCheckTimeoutSeconds ... The range is "
        "2-120 seconds ... must be smaller than HealthCheckIntervalSeconds",
    ),
    Rule(
        "elbv2.Attributes.max-20",
        "elasticloadbalancing",
        ("ModifyLoadBalancerAttributes", "ModifyTargetGroupAttributes"),
        "Attributes.member.N",
        at_most_items("Attributes[]", 20),
        "ValidationError",
        f"{ELB_REF}, ModifyLoadBalancerAttributes: Attributes.member.N - Type: Array of "
        "LoadBalancerAttribute objects. Array Members: Maximum number of 20 items. (The same "
        "limit is applied to ModifyTargetGroupAttributes.)",
    ),
    Rule(
        "elbv2.CreateRule.Priority",
        "elasticloadbalancing",
        ("CreateRule", "SetRulePriorities"),
        "Priority",
        all_of(
            each("Priority", in_range(1, 50000, 1)),
            each("RulePriorities[].Priority", in_range(1, 50000, 1)),
        ),
        "ValidationError",
        f"{ELB_REF}, CreateRule: Priority - Valid Range: Minimum value of 1. Maximum value of "
        "50000.",
    ),
    # ---- IAM ---------------------------------------------------------------
    Rule(
        "iam.RoleName",
        "iam",
        (
            "CreateRole",
            "PutRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "UpdateRole",
            "GetRole",
            "DeleteRole",
        ),
        "RoleName",
        each("RoleName", length(1, 64), pattern(IAM_NAME, r"must match [\w+=,.@-]+")),
        "ValidationError",
        f"{IAM_REF}, CreateRole: RoleName - Length Constraints: Minimum length of 1. Maximum "
        r"length of 64. Pattern: [\w+=,.@-]+",
    ),
    Rule(
        "iam.CreateRole.Path",
        "iam",
        ("CreateRole",),
        "Path",
        each(
            "Path",
            length(1, 512),
            pattern(
                IAM_PATH,
                "must be / or begin and end with / and contain only printable ASCII (! through ~)",
            ),
        ),
        "ValidationError",
        f"{IAM_REF}, CreateRole: Path - Length Constraints: Minimum length of 1. Maximum "
        r"length of 512. Pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
    ),
    Rule(
        "iam.PolicyName",
        "iam",
        ("PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy"),
        "PolicyName",
        each("PolicyName", length(1, 128), pattern(IAM_NAME, r"must match [\w+=,.@-]+")),
        "ValidationError",
        f"{IAM_REF}, PutRolePolicy: PolicyName - Length Constraints: Minimum length of 1. "
        r"Maximum length of 128. Pattern: [\w+=,.@-]+",
    ),
    # ---- S3 ----------------------------------------------------------------
    Rule(
        "s3.CreateBucket.Bucket",
        "s3",
        ("S3:PUT",),
        "Bucket (CreateBucket)",
        bucket_name,
        "InvalidBucketName",
        "Amazon S3 User Guide, 'General purpose bucket naming rules': Bucket names must be "
        "between 3 (min) and 63 (max) characters long. Bucket names can consist only of "
        "lowercase letters, numbers, periods (.), and hyphens (-). Bucket names must begin and "
        "end with a letter or number. Bucket names must not contain two adjacent periods, must "
        "not be formatted as an IP address, must not start with xn-- or sthree-, and must not "
        "end with -s3alias, --ol-s3, .mrap or --x-s3.",
    ),
    # ---- SNS ---------------------------------------------------------------
    Rule(
        "sns.CreateTopic.Name",
        "sns",
        ("CreateTopic",),
        "Name",
        each(
            "Name",
            length(1, 256),
            pattern(
                r"[A-Za-z0-9_-]+(\.fifo)?",
                "must be ASCII "
                "letters, numbers, underscores and hyphens (and .fifo for a FIFO topic)",
            ),
        ),
        "InvalidParameter",
        "Amazon SNS API Reference, CreateTopic: Name - Constraints: Topic names must be made up "
        "of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and "
        "must be between 1 and 256 characters long. For a FIFO topic, the name must end with "
        "the .fifo suffix.",
    ),
    # ---- CloudWatch --------------------------------------------------------
    Rule(
        "cloudwatch.PutMetricAlarm.sns-aws-managed-key",
        "monitoring",
        ("PutMetricAlarm",),
        "AlarmActions / OKActions / InsufficientDataActions",
        alarm_topic_encryption,
        "ValidationError",
        "Amazon SNS Developer Guide, 'Managing Amazon SNS encryption keys and costs' / 'Enable "
        "compatibility between event sources from AWS services and encrypted topics': AWS "
        "services that publish to encrypted topics (CloudWatch alarms among them) need a "
        "customer managed key whose key policy lets the service use it; the AWS managed key "
        "alias/aws/sns cannot be given that permission. (AWS itself accepts the alarm and drops "
        "the notifications; the proxy refuses the call to make it visible.)",
    ),
    Rule(
        "cloudwatch.PutMetricAlarm.Period",
        "monitoring",
        ("PutMetricAlarm",),
        "Period",
        alarm_period,
        "ValidationError",
        "Amazon CloudWatch API Reference, PutMetricAlarm: Period - Valid values are 10, 20, 30, "
        "and any multiple of 60.",
    ),
    Rule(
        "cloudwatch.PutMetricAlarm.AlarmName",
        "monitoring",
        ("PutMetricAlarm",),
        "AlarmName",
        each("AlarmName", length(1, 255)),
        "ValidationError",
        "Amazon CloudWatch API Reference, PutMetricAlarm: AlarmName - Length Constraints: "
        "Minimum length of 1. Maximum length of 255.",
    ),
    # ---- CloudWatch Logs ---------------------------------------------------
    Rule(
        "logs.logGroupName",
        "logs",
        ("CreateLogGroup", "PutRetentionPolicy", "DeleteLogGroup"),
        "logGroupName",
        each(
            "logGroupName",
            length(1, 512),
            pattern(
                r"[\.\-_/#A-Za-z0-9]+", "may contain only a-z, A-Z, 0-9, '_', '-', '/', '.' and '#'"
            ),
        ),
        "InvalidParameterException",
        "Amazon CloudWatch Logs API Reference, CreateLogGroup: logGroupName - Length "
        r"Constraints: Minimum length of 1. Maximum length of 512. Pattern: [\.\-_/#A-Za-z0-9]+",
    ),
    Rule(
        "logs.PutRetentionPolicy.retentionInDays",
        "logs",
        ("PutRetentionPolicy",),
        "retentionInDays",
        each(
            "retentionInDays",
            one_of(
                LOG_RETENTION_DAYS,
                "possible values are " + ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS)),
            ),
        ),
        "InvalidParameterException",
        "Amazon CloudWatch Logs API Reference, PutRetentionPolicy: retentionInDays - Possible "
        "values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
        "2192, 2557, 2922, 3288, and 3653.",
    ),
    # ---- Secrets Manager ---------------------------------------------------
    Rule(
        "secretsmanager.CreateSecret.Name",
        "secretsmanager",
        ("CreateSecret",),
        "Name",
        each(
            "Name",
            length(1, 512),
            pattern(
                r"[A-Za-z0-9/_+=.@-]+",
                "The secret name can "
                "contain ASCII letters, numbers, and the following characters: /_+=.@-",
            ),
        ),
        "ValidationException",
        "AWS Secrets Manager API Reference, CreateSecret: Name - The secret name can contain "
        "ASCII letters, numbers, and the following characters: /_+=.@- ... Length Constraints: "
        "Minimum length of 1. Maximum length of 512.",
    ),
    Rule(
        "secretsmanager.ClientRequestToken",
        "secretsmanager",
        ("CreateSecret", "PutSecretValue", "UpdateSecret"),
        "ClientRequestToken",
        each("ClientRequestToken", length(32, 64)),
        "ValidationException",
        "AWS Secrets Manager API Reference, CreateSecret / PutSecretValue: ClientRequestToken - "
        "Length Constraints: Minimum length of 32. Maximum length of 64.",
    ),
    # ---- ECR ---------------------------------------------------------------
    Rule(
        "ecr.CreateRepository.repositoryName",
        "ecr",
        ("CreateRepository",),
        "repositoryName",
        each(
            "repositoryName",
            length(2, 256),
            pattern(
                r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
                "must be lowercase letters, digits and ._-/ separators",
            ),
        ),
        "InvalidParameterException",
        "Amazon ECR API Reference, CreateRepository: repositoryName - Length Constraints: "
        "Minimum length of 2. Maximum length of 256. Pattern: "
        "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
    ),
    # ---- Application Auto Scaling -----------------------------------------
    Rule(
        "application-autoscaling.RegisterScalableTarget.min-le-max",
        "application-autoscaling",
        ("RegisterScalableTarget",),
        "MinCapacity <= MaxCapacity",
        scalable_min_le_max,
        "ValidationException",
        "Application Auto Scaling API Reference, RegisterScalableTarget: MinCapacity - The "
        "minimum value that you plan to scale in to; MaxCapacity - the maximum value that you "
        "plan to scale out to (a range whose minimum exceeds its maximum is rejected).",
    ),
]

# -------------------------------------------------- eventual consistency --
#: EC2 create operation -> the response element that holds the new id
EC2_CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateInternetGateway": "internetGatewayId",
    "CreateRouteTable": "routeTableId",
    "CreateSecurityGroup": "groupId",
    "AllocateAddress": "allocationId",
    "CreateNatGateway": "natGatewayId",
}

#: id prefix -> (NotFound code, message template)
EC2_NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "igw-": (
        "InvalidInternetGatewayID.NotFound",
        "The internetGateway ID '{id}' does not exist",
    ),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "eipalloc-": ("InvalidAllocationID.NotFound", "The allocation ID '{id}' does not exist"),
    "nat-": ("InvalidNatGatewayID.NotFound", "The natGateway ID '{id}' does not exist"),
}

#: EC2 calls that change a resource and so may not see an id created just before.
EC2_MUTATING = frozenset(
    {
        "ModifyVpcAttribute",
        "ModifySubnetAttribute",
        "AttachInternetGateway",
        "CreateRoute",
        "ReplaceRoute",
        "AssociateRouteTable",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateNatGateway",
        "CreateTags",
        "CreateFlowLogs",
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateRouteTable",
    }
)

#: Calls whose answers are recorded even while the realism mode is off, so that
#: turning it on later still knows topic keys and task definitions.
ALWAYS_OBSERVED = frozenset(
    {"CreateTopic", "SetTopicAttributes", "DeleteTopic", "RegisterTaskDefinition"}
)

PULL_ERROR = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
    "resolve ref {image}: {image}: not found"
)
ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?"
)


def _first_tag(body: bytes, tag: str) -> str | None:
    m = re.search(rf"<{tag}>([^<]+)</{tag}>".encode(), body)
    return m.group(1).decode() if m else None


def _children(node: minidom.Element, name: str) -> list[minidom.Element]:
    return [c for c in node.childNodes if isinstance(c, minidom.Element) and c.tagName == name]


def _child(node: minidom.Element, name: str) -> minidom.Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: minidom.Element | None) -> str | None:
    if node is None:
        return None
    return "".join(c.data for c in node.childNodes if isinstance(c, minidom.Text)).strip()


def _set_text(node: minidom.Element, value: str) -> None:
    for c in list(node.childNodes):
        node.removeChild(c)
    node.appendChild(node.ownerDocument.createTextNode(value))


def _arn_account(arn: Any) -> str | None:
    parts = str(arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


# ----------------------------------------------------------------- realism --
def is_conditional_write(method: str, headers: Any) -> bool:
    """An S3 PutObject or DeleteObject with If-None-Match or If-Match.

    S3 evaluates the condition and the write as one step: of concurrent
    conditional writes to one key, one succeeds and the others get
    412 Precondition Failed (S3 user guide, "Add preconditions to S3
    operations with conditional requests"). moto reads the key, compares,
    then writes, without a lock, so two threads can both succeed; the proxy
    lets one such request through at a time.
    """
    if method not in ("PUT", "DELETE"):
        return False
    return bool(headers.get("If-None-Match") or headers.get("If-Match"))


@dataclass
class Rejection:
    code: str
    status: int
    message: str


class Realism:
    """State and hooks of the realism mode (thread-safe)."""

    def __init__(
        self,
        config: RealismConfig | None = None,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lock = threading.Lock()
        self.config = config or RealismConfig()
        self.upstream = upstream
        self.clock = clock
        self.rules = RULES
        self.rule_state = RuleState()
        self.ec2_created: dict[str, float] = {}  # id -> when its create answered
        self.nat_deleted: dict[str, float] = {}
        self.lb_created: dict[str, float] = {}  # LoadBalancerArn
        self.db_instances: dict[str, float] = {}  # lower-case identifier
        self.db_clusters: dict[str, float] = {}
        self.ecs_deployments: dict[str, tuple[float, str]] = {}  # service ARN -> (t, create|update)
        self.pull_failures: dict[str, str] = {}  # service ARN -> image
        self.failed_tasks: dict[str, str] = {}  # task ARN -> image
        self.task_images: dict[str, list[str]] = {}  # task definition ARN -> images
        self.reset_counters()

    # -- configuration / stats --
    def configure(self, config: RealismConfig) -> None:
        with self.lock:
            self.config = config

    def reset_counters(self) -> None:
        with self.lock:
            self.rejections: list[dict[str, Any]] = []
            self.ec_rejections: list[dict[str, Any]] = []
            self.rewrites: dict[str, int] = {}
            self.image_pull_failures: list[dict[str, Any]] = []

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "realism_rejections": list(self.rejections),
                "eventual_consistency_rejections": list(self.ec_rejections),
                "lifecycle_rewrites": dict(self.rewrites),
                "image_pull_failures": list(self.image_pull_failures),
            }

    def violations_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "count": len(self.rejections),
                "violations": list(self.rejections),
                "rules": len(self.rules),
            }

    def rules_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.rules]

    # -- request side --
    def check_request(self, call: Call) -> Rejection | None:
        cfg = self.config
        if cfg.rules:
            for rule in self.rules:
                if not rule.applies(call):
                    continue
                with self.lock:
                    message = rule.check(call, self.rule_state)
                if message:
                    with self.lock:
                        self.rejections.append(
                            {"operation": call.operation, "rule": rule.id, "message": message}
                        )
                    return Rejection(rule.code, rule.status, f"{message} [realism rule {rule.id}]")
        if (
            cfg.eventual_consistency_seconds > 0
            and call.protocol == "ec2"
            and call.operation in EC2_MUTATING
        ):
            return self._not_yet_visible(call, cfg.eventual_consistency_seconds)
        return None

    def _not_yet_visible(self, call: Call, window: float) -> Rejection | None:
        now = self.clock()
        with self.lock:
            for key, value in call.flat.items():
                if key in ("Action", "Version"):
                    continue
                created = self.ec2_created.get(value)
                if created is None or now - created >= window:
                    continue
                prefix = next((p for p in EC2_NOT_FOUND if value.startswith(p)), None)
                if prefix is None:
                    continue
                code, template = EC2_NOT_FOUND[prefix]
                self.ec_rejections.append(
                    {
                        "operation": call.operation,
                        "resource": value,
                        "code": code,
                        "age_seconds": round(now - created, 3),
                    }
                )
                return Rejection(code, 400, template.format(id=value))
        return None

    # -- response side --
    def on_response(self, call: Call, status: int, body: bytes) -> bytes:
        """Record what a successful call created; rewrite describe answers."""
        if not 200 <= status < 300:
            return body
        try:
            if call.protocol == "ec2":
                return self._ec2(call, body)
            if call.service == "elasticloadbalancing":
                return self._elb(call, body)
            if call.service == "rds":
                return self._rds(call, body)
            if call.service == "ecs":
                return self._ecs(call, body)
            if call.service == "sns":
                self._sns(call)
        except (ExpatError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # A body we cannot parse is passed on unchanged.
            sys.stderr.write(f"aws_realism: left {call.operation} answer alone: {exc}\n")
        return body

    def _bump(self, operation: str) -> None:
        with self.lock:
            self.rewrites[operation] = self.rewrites.get(operation, 0) + 1

    def _young(self, table: dict[str, float], key: str | None) -> bool:
        window = self.config.lifecycle_seconds
        if key is None or window <= 0:
            return False
        with self.lock:
            t = table.get(key)
        return t is not None and self.clock() - t < window

    # EC2: record ids; NAT gateway states.
    def _ec2(self, call: Call, body: bytes) -> bytes:
        op = call.operation
        cfg = self.config
        if cfg.eventual_consistency_seconds <= 0 and cfg.lifecycle_seconds <= 0:
            return body
        if op in EC2_CREATES:
            new_id = _first_tag(body, EC2_CREATES[op])
            if new_id:
                with self.lock:
                    self.ec2_created[new_id] = self.clock()
        if op == "DeleteNatGateway":
            nat = _first_tag(body, "natGatewayId") or call.first("NatGatewayId")
            if nat:
                with self.lock:
                    self.nat_deleted[nat] = self.clock()
        if self.config.lifecycle_seconds <= 0 or op not in (
            "CreateNatGateway",
            "DescribeNatGateways",
        ):
            return body
        dom = minidom.parseString(body)
        changed = False
        nodes = dom.getElementsByTagName("natGateway")
        for sets in dom.getElementsByTagName("natGatewaySet"):
            nodes += _children(sets, "item")
        for item in nodes:
            nat = _text(_child(item, "natGatewayId"))
            state = _child(item, "state")
            if state is None:
                continue
            current = _text(state)
            if current == "available" and self._young(self.ec2_created, nat):
                _set_text(state, "pending")
                changed = True
            elif current == "deleted" and self._young(self.nat_deleted, nat):
                _set_text(state, "deleting")
                changed = True
        if not changed:
            return body
        self._bump(op)
        return dom.toxml(encoding="utf-8")

    # ELBv2: load balancer provisioning.
    def _elb(self, call: Call, body: bytes) -> bytes:
        if call.operation == "CreateLoadBalancer":
            arn = _first_tag(body, "LoadBalancerArn")
            if arn:
                with self.lock:
                    self.lb_created[arn] = self.clock()
            return body
        if call.operation != "DescribeLoadBalancers" or self.config.lifecycle_seconds <= 0:
            return body
        dom = minidom.parseString(body)
        changed = False
        for lbs in dom.getElementsByTagName("LoadBalancers"):
            for member in _children(lbs, "member"):
                arn = _text(_child(member, "LoadBalancerArn"))
                code = _child(_child(member, "State") or member, "Code")
                if (
                    code is not None
                    and _text(code) == "active"
                    and self._young(self.lb_created, arn)
                ):
                    _set_text(code, "provisioning")
                    changed = True
        if not changed:
            return body
        self._bump(call.operation)
        return dom.toxml(encoding="utf-8")

    # RDS: instances and clusters creating.
    def _rds(self, call: Call, body: bytes) -> bytes:
        op = call.operation
        if op in ("CreateDBInstance", "CreateDBCluster"):
            ident = call.first(
                "DBInstanceIdentifier" if op == "CreateDBInstance" else "DBClusterIdentifier"
            )
            if ident:
                table = self.db_instances if op == "CreateDBInstance" else self.db_clusters
                with self.lock:
                    table[str(ident).lower()] = self.clock()
        targets = {
            "CreateDBInstance": ("DBInstance", "DBInstanceIdentifier", "DBInstanceStatus"),
            "DescribeDBInstances": ("DBInstance", "DBInstanceIdentifier", "DBInstanceStatus"),
            "CreateDBCluster": ("DBCluster", "DBClusterIdentifier", "Status"),
            "DescribeDBClusters": ("DBCluster", "DBClusterIdentifier", "Status"),
        }
        if op not in targets or self.config.lifecycle_seconds <= 0:
            return body
        element, id_tag, status_tag = targets[op]
        table = self.db_instances if element == "DBInstance" else self.db_clusters
        dom = minidom.parseString(body)
        changed = False
        for node in dom.getElementsByTagName(element):
            ident = (_text(_child(node, id_tag)) or "").lower()
            status = _child(node, status_tag)
            if status is not None and _text(status) == "available" and self._young(table, ident):
                _set_text(status, "creating")
                changed = True
        if not changed:
            return body
        self._bump(op)
        return dom.toxml(encoding="utf-8")

    # SNS: remember which key each topic was created with.
    def _sns(self, call: Call) -> None:
        name = None
        key = None
        if call.operation == "CreateTopic":
            name = call.first("Name")
            key = call.flat_map("Attributes").get("KmsMasterKeyId")
        elif call.operation == "SetTopicAttributes" and call.first("AttributeName") == (
            "KmsMasterKeyId"
        ):
            name = str(call.first("TopicArn") or "").rsplit(":", 1)[-1]
            key = call.first("AttributeValue") or ""
        if name:
            with self.lock:
                if key:
                    self.rule_state.topic_keys[name] = key
                elif call.operation == "SetTopicAttributes":
                    self.rule_state.topic_keys.pop(name, None)
        if call.operation == "DeleteTopic":
            with self.lock:
                self.rule_state.topic_keys.pop(
                    str(call.first("TopicArn") or "").rsplit(":", 1)[-1], None
                )

    # ECS: deployments in progress, image pulls.
    def _ecs(self, call: Call, body: bytes) -> bytes:
        op = call.operation
        try:
            doc = json.loads(body.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            return body
        if not isinstance(doc, dict):
            return body
        if op == "RegisterTaskDefinition":
            td = doc.get("taskDefinition") or {}
            arn = td.get("taskDefinitionArn")
            if arn:
                images = [c.get("image", "") for c in td.get("containerDefinitions") or []]
                with self.lock:
                    self.task_images[arn] = images
            return body
        changed = False
        if op in ("CreateService", "UpdateService"):
            svc = doc.get("service") or {}
            arn = svc.get("serviceArn")
            if arn:
                with self.lock:
                    self.ecs_deployments[arn] = (
                        self.clock(),
                        "create" if op == "CreateService" else "update",
                    )
                self._check_service_images(call, svc)
                changed = self._rewrite_service(svc)
        elif op == "RunTask":
            self._check_task_images(call, doc)
        elif op == "DescribeServices":
            for svc in doc.get("services") or []:
                changed = self._rewrite_service(svc) or changed
        elif op == "DescribeTasks":
            for task in doc.get("tasks") or []:
                changed = self._rewrite_task(task) or changed
        if not changed:
            return body
        self._bump(op)
        return json.dumps(doc).encode()

    def _rewrite_service(self, svc: dict[str, Any]) -> bool:
        arn = svc.get("serviceArn")
        with self.lock:
            deployed = self.ecs_deployments.get(arn)
            failed_image = self.pull_failures.get(arn) if self.config.image_pulls else None
        primary = next(
            (d for d in svc.get("deployments") or [] if d.get("status") == "PRIMARY"), None
        )
        if deployed is None or primary is None:
            return False
        started, kind = deployed
        in_window = self.clock() - started < self.config.lifecycle_seconds
        if in_window:
            primary["rolloutState"] = "IN_PROGRESS"
            primary["rolloutStateReason"] = f"ECS deployment {primary.get('id', '')} in progress."
            primary["runningCount"] = 0
            primary["pendingCount"] = primary.get("desiredCount", svc.get("desiredCount", 0))
            if kind == "create":
                svc["runningCount"] = 0
                svc["pendingCount"] = svc.get("desiredCount", 0)
            return True
        if failed_image:
            reason = PULL_ERROR.format(image=failed_image)
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = (
                f"ECS deployment circuit breaker: tasks failed to start. {reason}"
            )
            primary["runningCount"] = 0
            primary["pendingCount"] = 0
            primary["failedTasks"] = max(int(primary.get("failedTasks") or 0), 1)
            svc["runningCount"] = 0
            svc["pendingCount"] = 0
            name = svc.get("serviceName", "")
            event = {
                "id": str(uuid.uuid4()),
                "createdAt": time.time(),
                "message": f"(service {name}) is unable to consistently start tasks "
                f"successfully. {reason}",
            }
            svc["events"] = [event, *(svc.get("events") or [])]
            return True
        return False

    def _rewrite_task(self, task: dict[str, Any]) -> bool:
        with self.lock:
            image = self.failed_tasks.get(task.get("taskArn", ""))
        if not image or not self.config.image_pulls:
            return False
        reason = PULL_ERROR.format(image=image)
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = "TaskFailedToStart"
        task["stoppedReason"] = reason
        for container in task.get("containers") or []:
            container["lastStatus"] = "STOPPED"
            if container.get("image") == image:
                container["reason"] = reason
        return True

    def _check_service_images(self, call: Call, svc: dict[str, Any]) -> None:
        arn = svc["serviceArn"]
        if not self.config.image_pulls:
            return
        desired = svc.get("desiredCount", call.first("desiredCount")) or 0
        missing = None
        if desired:
            missing = self._missing_image(call, svc.get("taskDefinition"))
        with self.lock:
            if missing:
                self.pull_failures[arn] = missing
                self.image_pull_failures.append(
                    {"operation": call.operation, "service": arn, "image": missing}
                )
            else:
                self.pull_failures.pop(arn, None)

    def _check_task_images(self, call: Call, doc: dict[str, Any]) -> None:
        if not self.config.image_pulls:
            return
        for task in doc.get("tasks") or []:
            missing = self._missing_image(call, task.get("taskDefinitionArn"))
            if missing:
                with self.lock:
                    self.failed_tasks[task.get("taskArn", "")] = missing
                    self.image_pull_failures.append(
                        {"operation": call.operation, "task": task.get("taskArn"), "image": missing}
                    )

    def _missing_image(self, call: Call, task_definition: Any) -> str | None:
        """The first image of the task definition in this account's ECR that is not there."""
        if not task_definition:
            return None
        account = _arn_account(task_definition)
        with self.lock:
            images = self.task_images.get(str(task_definition))
        if images is None:
            images = self._upstream_task_images(call, str(task_definition))
        for image in images:
            m = ECR_IMAGE.fullmatch(image)
            if not m or (account and m.group("account") != account):
                continue
            if self._ecr_has_image(call, m) is False:
                return image
        return None

    def _upstream_json(
        self, call: Call, signing: str, target: str, payload: dict[str, Any], region: str | None
    ) -> tuple[int, dict[str, Any]] | None:
        if self.upstream is None:
            return None
        akid = call.access_key or "testing"
        region = region or call.region or "us-east-1"
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
            ("X-Amz-Date", "20250101T000000Z"),
            (
                "Authorization",
                f"AWS4-HMAC-SHA256 Credential={akid}/20250101/{region}/{signing}/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=0",
            ),
        ]
        try:
            status, _headers, data = self.upstream(
                "POST", "/", headers, json.dumps(payload).encode()
            )
            parsed = json.loads(data.decode() or "{}")
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return status, parsed if isinstance(parsed, dict) else {}

    def _upstream_task_images(self, call: Call, task_definition: str) -> list[str]:
        got = self._upstream_json(
            call,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            {"taskDefinition": task_definition},
            None,
        )
        if not got or got[0] != 200:
            return []
        td = got[1].get("taskDefinition") or {}
        images = [c.get("image", "") for c in td.get("containerDefinitions") or []]
        if td.get("taskDefinitionArn"):
            with self.lock:
                self.task_images[td["taskDefinitionArn"]] = images
        return images

    def _ecr_has_image(self, call: Call, m: re.Match[str]) -> bool | None:
        image_id = (
            {"imageDigest": m.group("digest")}
            if m.group("digest")
            else {"imageTag": m.group("tag") or "latest"}
        )
        got = self._upstream_json(
            call,
            "ecr",
            "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
            {
                "registryId": m.group("account"),
                "repositoryName": m.group("repo"),
                "imageIds": [image_id],
            },
            m.group("region"),
        )
        if got is None:
            return None
        status, doc = got
        if status == 200:
            return bool(doc.get("imageDetails"))
        kind = str(doc.get("__type") or "").rsplit("#", 1)[-1]
        if kind in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        return None
