"""WAFv2's request rules in the realism mode (AWS WAFV2 API Reference, 2019-07-29).

CreateWebACL / UpdateWebACL: web ACL and rule names, metric names (pattern,
and not the reserved ``All`` / ``Default_Action``), rule priorities all
different, rate-based statements' ``Limit`` (10 - 2,000,000,000) and
``EvaluationWindowSec`` (60, 120, 300, 600); every call with
``Scope=CLOUDFRONT``: the us-east-1 endpoint. moto checks none of these (it
does enforce lock tokens: a stale ``LockToken`` gets
``WAFOptimisticLockException``). A broken rule is answered with
``WAFInvalidParameterException``.
"""

from __future__ import annotations

from typing import Any

from proxy.realism.call import Call
from proxy.realism.checks import Rule, RuleState, all_of, each, in_range, length, one_of, pattern

WAF_REF = "AWS WAFV2 API Reference (version 2019-07-29)"
ACL_OPS = ("CreateWebACL", "UpdateWebACL")
ENTITY_NAME = pattern(r"[\w\-]+", r"must match ^[\w\-]+$")
RESERVED_METRIC_NAMES = ("All", "Default_Action")


def metric_name(value: Any) -> str | None:
    text = str(value)
    if text in RESERVED_METRIC_NAMES:
        return f"{text!r} is a metric name reserved for WAF"
    return None


def distinct_priorities(call: Call, _state: RuleState) -> str | None:
    seen: set[Any] = set()
    for priority in call.values("Rules[].Priority"):
        if priority in seen:
            return f"Rules: priority {priority} is used by more than one rule"
        seen.add(priority)
    return None


def cloudfront_in_us_east_1(call: Call, _state: RuleState) -> str | None:
    if call.doc.get("Scope") == "CLOUDFRONT" and call.region and call.region != "us-east-1":
        return (
            f"Scope CLOUDFRONT must be called in us-east-1 (this call was signed for {call.region})"
        )
    return None


RATE = "Rules[].Statement.RateBasedStatement"
METRIC_NAMES = ("VisibilityConfig.MetricName", "Rules[].VisibilityConfig.MetricName")

#: The documented WAFv2 request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "wafv2.Name",
        "wafv2",
        ACL_OPS,
        "Name, Rules[].Name",
        all_of(
            each("Name", length(1, 128), ENTITY_NAME),
            each("Rules[].Name", length(1, 128), ENTITY_NAME),
        ),
        "WAFInvalidParameterException",
        f"{WAF_REF}, CreateWebACL: Name - Length Constraints: Minimum length of 1. Maximum "
        r"length of 128. Pattern: ^[\w\-]+$ (Rule: Name - the same)",
    ),
    Rule(
        "wafv2.VisibilityConfig.MetricName",
        "wafv2",
        ACL_OPS,
        "VisibilityConfig.MetricName, Rules[].VisibilityConfig.MetricName",
        all_of(
            *(
                each(
                    loc,
                    length(1, 255),
                    pattern(r"[\w#:\.\-/]+", r"must match ^[\w#:\.\-/]+$ (no whitespace)"),
                    metric_name,
                )
                for loc in METRIC_NAMES
            )
        ),
        "WAFInvalidParameterException",
        f"{WAF_REF}, VisibilityConfig: MetricName - The name can contain only the characters: "
        "A-Z, a-z, 0-9, - (hyphen), and _ (underscore) ... It can't contain whitespace or metric "
        "names that are reserved for WAF, for example All and Default_Action. Length "
        r"Constraints: Minimum length of 1. Maximum length of 255. Pattern: ^[\w#:\.\-/]+$",
    ),
    Rule(
        "wafv2.Rule.Priority",
        "wafv2",
        ACL_OPS,
        "Rules[].Priority",
        all_of(each("Rules[].Priority", in_range(0, 2**31 - 1, 1)), distinct_priorities),
        "WAFInvalidParameterException",
        f"{WAF_REF}, Rule: Priority - If you define more than one Rule in a WebACL, WAF evaluates "
        "each request against the Rules in order based on the value of Priority ... The "
        "priorities don't need to be consecutive, but they must all be different. Valid Range: "
        "Minimum value of 0.",
    ),
    Rule(
        "wafv2.RateBasedStatement.Limit",
        "wafv2",
        ACL_OPS,
        f"{RATE}.Limit",
        each(f"{RATE}.Limit", in_range(10, 2_000_000_000, 1)),
        "WAFInvalidParameterException",
        f"{WAF_REF}, RateBasedStatement: Limit - Valid Range: Minimum value of 10. Maximum value "
        "of 2000000000.",
    ),
    Rule(
        "wafv2.RateBasedStatement.EvaluationWindowSec",
        "wafv2",
        ACL_OPS,
        f"{RATE}.EvaluationWindowSec",
        each(
            f"{RATE}.EvaluationWindowSec",
            one_of(frozenset({60, 120, 300, 600}), "valid settings are 60, 120, 300, and 600"),
        ),
        "WAFInvalidParameterException",
        f"{WAF_REF}, RateBasedStatement: EvaluationWindowSec - The amount of time, in seconds, "
        "that WAF should include in its request counts ... Valid settings are 60, 120, 300, and "
        "600.",
    ),
    Rule(
        "wafv2.Scope.CLOUDFRONT-us-east-1",
        "wafv2",
        ("*",),
        "Scope (CLOUDFRONT) and the endpoint's Region",
        cloudfront_in_us_east_1,
        "WAFInvalidParameterException",
        f"{WAF_REF}, CreateWebACL (and every call with a Scope): Scope - To work with "
        "CloudFront, you must also specify the Region US East (N. Virginia) as follows: ... API "
        "and SDKs - For all calls, use the Region endpoint us-east-1.",
    ),
]
