"""Injected faults: ``--fail`` rules and the throttling / failure answers.

A :class:`FailRule` fails a named operation (see :mod:`proxy.protocols` for how
operations are named) N times or always, with the protocol's default internal
error or a code and status of its own. Throttled calls get the service's own
throttling error (:data:`THROTTLE_ERRORS`), which the SDKs retry.
"""

from __future__ import annotations

from typing import Any

# Protocol -> (code, HTTP status, message) used for throttling answers.
THROTTLE_ERRORS = {
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "query": ("Throttling", 400, "Rate exceeded"),
    "json": ("ThrottlingException", 400, "Rate exceeded"),
    "cbor": ("Throttling", 400, "Rate exceeded"),
    "cloudfront": ("Throttling", 400, "Rate exceeded"),
    "s3": ("SlowDown", 503, "Please reduce your request rate."),
}

# Protocol -> (code, HTTP status, message) used by --fail rules without a code:
# InternalFailure, but EC2's and S3's own InternalError (S3 with its own wording).
DEFAULT_FAILURES = {
    protocol: ("InternalFailure", 500, "An internal error has occurred.")
    for protocol in THROTTLE_ERRORS
} | {
    "ec2": ("InternalError", 500, "An internal error has occurred."),
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
    if protocol in ("s3", "cloudfront") and code.startswith(("NoSuch", "EntityNotFound")):
        return 404
    if protocol == "cloudfront":
        return CLOUDFRONT_STATUS.get(code, 400)
    return 400


#: CloudFront error codes whose HTTP status is not 400 (botocore's service model).
CLOUDFRONT_STATUS = {
    "PreconditionFailed": 412,
    "DistributionNotDisabled": 409,
    "DistributionAlreadyExists": 409,
    "EntityAlreadyExists": 409,
    "CannotDeleteEntityWhileInUse": 409,
    "CannotUpdateEntityWhileInUse": 409,
    "MonitoringSubscriptionAlreadyExists": 409,
    "ResourceInUse": 409,
}


def fail_answer(protocol: str, rule: FailRule) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a call that ``rule`` fails."""
    d_code, d_status, d_message = DEFAULT_FAILURES[protocol]
    code = rule.code or d_code
    status = rule.status or (d_status if rule.code is None else status_for_code(protocol, code))
    message = rule.message or (
        d_message if rule.code is None else f"Injected {code} by fault_proxy"
    )
    return code, status, message


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
