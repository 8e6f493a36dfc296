"""CloudFront's request rules in the realism mode (CloudFront API Reference, 2020-05-31).

Distribution configs (CreateDistribution(WithTags), UpdateDistribution):
``Comment`` at most 128 characters, ``CallerReference`` not empty,
``PriceClass`` and ``HttpVersion`` from their enums, each cache behaviour with
either a ``CachePolicyId`` or ``ForwardedValues`` (not both, not neither),
``WebACLId`` a global WAFv2 web ACL ARN (or a WAF Classic id), the origin
timeouts of a ``VpcOriginConfig`` 1-120 s, every ``Quantity`` equal to the
number of its ``Items``; VPC origin names; tag keys and values. moto accepts
all of these. The request body is CloudFront's XML, read as ``{root element:
value}`` (:mod:`proxy.cloudfront.xmlcodec`), so locators start with the root
element, e.g. ``DistributionConfig.Comment``.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.cloudfront.common import quantities_match
from proxy.realism.call import Call
from proxy.realism.checks import (
    Check,
    Rule,
    RuleState,
    ValueTest,
    all_of,
    each,
    in_range,
    length,
    max_len,
    pattern,
)

CF_REF = "Amazon CloudFront API Reference (API version 2020-05-31)"
DIST_OPS = ("CreateDistribution", "CreateDistributionWithTags", "UpdateDistribution")
#: Where a request's DistributionConfig is: under the WithTags wrapper or the root itself.
CONFIG_ROOTS = ("DistributionConfigWithTags.DistributionConfig", "DistributionConfig")
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All", "None")
HTTP_VERSIONS = ("http1.1", "http2", "http3", "http2and3")
WAFV2_GLOBAL_ACL = re.compile(
    r"arn:aws:wafv2:us-east-1:\d{12}:global/webacl/[\w-]{1,128}/[0-9a-f-]{36}"
)
WAF_CLASSIC_ID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
TAG_CHARS = r"[\w\s.:/=+\-@]*"


def in_config(field: str, *tests: ValueTest) -> Check:
    """Every value of ``field`` (a path inside DistributionConfig) passes ``tests``."""
    return all_of(*(each(f"{root}.{field}", *tests) for root in CONFIG_ROOTS))


def enum(allowed: tuple[str, ...]) -> ValueTest:
    return lambda v: None if str(v) in allowed else "valid values are " + " | ".join(allowed)


def _configs(call: Call) -> list[dict[str, Any]]:
    found = []
    for root in CONFIG_ROOTS:
        found += [c for c in call.values(root) if isinstance(c, dict)]
    return found


def policy_or_forwarded_values(call: Call, _state: RuleState) -> str | None:
    for config in _configs(call):
        behaviours = [("DefaultCacheBehavior", config.get("DefaultCacheBehavior"))]
        behaviours += [
            (f"CacheBehavior {b.get('PathPattern')}", b)
            for b in (config.get("CacheBehaviors") or {}).get("Items") or []
            if isinstance(b, dict)
        ]
        for name, beh in behaviours:
            if not isinstance(beh, dict):
                continue
            policy, legacy = bool(beh.get("CachePolicyId")), "ForwardedValues" in beh
            if policy and legacy:
                return (
                    f"{name}: the parameter ForwardedValues cannot be used when a cache policy "
                    "is associated to the cache behavior"
                )
            if not policy and not legacy:
                return f"{name}: must include either a CachePolicyId or ForwardedValues"
    return None


def caller_reference(call: Call, _state: RuleState) -> str | None:
    for config in _configs(call):
        if not str(config.get("CallerReference") or "").strip():
            return "DistributionConfig.CallerReference is required and must not be empty"
    return None


def web_acl_id(value: Any) -> str | None:
    text = str(value)
    if not text or WAFV2_GLOBAL_ACL.fullmatch(text) or WAF_CLASSIC_ID.fullmatch(text):
        return None
    return (
        "must be the ARN of a WAFv2 web ACL of scope CLOUDFRONT "
        "(arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>) or a WAF Classic id"
    )


def consistent_quantities(call: Call, _state: RuleState) -> str | None:
    for config in _configs(call):
        if not quantities_match(config):
            return "The value of Quantity and the size of Items don't match."
    return None


TAG_LOCATIONS = ("DistributionConfigWithTags.Tags", "CreateVpcOriginRequest.Tags", "Tags")
VPC_ORIGIN_NAMES = (
    "CreateVpcOriginRequest.VpcOriginEndpointConfig.Name",
    "VpcOriginEndpointConfig.Name",
)
ORIGINS = "Origins.Items[].VpcOriginConfig"

#: The documented CloudFront request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "cloudfront.DistributionConfig.Comment",
        "cloudfront",
        DIST_OPS,
        "DistributionConfig.Comment",
        in_config("Comment", max_len(128)),
        "InvalidArgument",
        f"{CF_REF}, DistributionConfig: Comment - A comment to describe the distribution. The "
        "comment cannot be longer than 128 characters. Required: Yes",
    ),
    Rule(
        "cloudfront.DistributionConfig.CallerReference",
        "cloudfront",
        DIST_OPS,
        "DistributionConfig.CallerReference",
        caller_reference,
        "InvalidArgument",
        f"{CF_REF}, DistributionConfig: CallerReference - A unique value (for example, a "
        "date-time stamp) that ensures that the request can't be replayed. Required: Yes",
    ),
    Rule(
        "cloudfront.DistributionConfig.PriceClass",
        "cloudfront",
        DIST_OPS,
        "DistributionConfig.PriceClass",
        in_config("PriceClass", enum(PRICE_CLASSES)),
        "InvalidArgument",
        f"{CF_REF}, DistributionConfig: PriceClass - Valid Values: PriceClass_100 | "
        "PriceClass_200 | PriceClass_All | None",
    ),
    Rule(
        "cloudfront.DistributionConfig.HttpVersion",
        "cloudfront",
        DIST_OPS,
        "DistributionConfig.HttpVersion",
        in_config("HttpVersion", enum(HTTP_VERSIONS)),
        "InvalidArgument",
        f"{CF_REF}, DistributionConfig: HttpVersion - Valid Values: http1.1 | http2 | http3 | "
        "http2and3",
    ),
    Rule(
        "cloudfront.CacheBehavior.policy-or-forwarded-values",
        "cloudfront",
        DIST_OPS,
        "DefaultCacheBehavior / CacheBehaviors.Items[]: CachePolicyId, ForwardedValues",
        policy_or_forwarded_values,
        "InvalidArgument",
        f"{CF_REF}, DefaultCacheBehavior / CacheBehavior: CachePolicyId - A DefaultCacheBehavior "
        "(CacheBehavior) must include either a CachePolicyId or ForwardedValues. We recommend "
        "that you use a CachePolicyId. ForwardedValues - This field is deprecated.",
    ),
    Rule(
        "cloudfront.DistributionConfig.WebACLId",
        "cloudfront",
        DIST_OPS,
        "DistributionConfig.WebACLId",
        in_config("WebACLId", web_acl_id),
        "InvalidWebACLId",
        f"{CF_REF}, DistributionConfig: WebACLId - To specify a web ACL created using the latest "
        "version of WAF, use the ACL ARN, for example arn:aws:wafv2:us-east-1:123456789012:"
        "global/webacl/ExampleWebACL/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111. To specify a web ACL "
        "created using WAF Classic, use the ACL ID. (InvalidWebACLId - A web ACL ID specified is "
        "not valid.)",
    ),
    Rule(
        "cloudfront.VpcOriginConfig.OriginReadTimeout",
        "cloudfront",
        DIST_OPS,
        "Origins.Items[].VpcOriginConfig.OriginReadTimeout",
        in_config(f"{ORIGINS}.OriginReadTimeout", in_range(1, 120, 1)),
        "InvalidOriginReadTimeout",
        f"{CF_REF}, VpcOriginConfig: OriginReadTimeout - The minimum timeout is 1 second, the "
        "maximum is 120 seconds, and the default (if you don't specify otherwise) is 30 seconds.",
    ),
    Rule(
        "cloudfront.VpcOriginConfig.OriginKeepaliveTimeout",
        "cloudfront",
        DIST_OPS,
        "Origins.Items[].VpcOriginConfig.OriginKeepaliveTimeout",
        in_config(f"{ORIGINS}.OriginKeepaliveTimeout", in_range(1, 120, 1)),
        "InvalidOriginKeepaliveTimeout",
        f"{CF_REF}, VpcOriginConfig: OriginKeepaliveTimeout - The minimum timeout is 1 second, "
        "the maximum is 120 seconds, and the default (if you don't specify otherwise) is 5 "
        "seconds.",
    ),
    Rule(
        "cloudfront.Quantity-matches-Items",
        "cloudfront",
        DIST_OPS,
        "every Quantity / Items pair of DistributionConfig",
        consistent_quantities,
        "InconsistentQuantities",
        f"{CF_REF}, Errors: InconsistentQuantities - The value of Quantity and the size of "
        "Items don't match. HTTP Status Code: 400",
    ),
    Rule(
        "cloudfront.VpcOriginEndpointConfig.Name",
        "cloudfront",
        ("CreateVpcOrigin", "UpdateVpcOrigin"),
        "VpcOriginEndpointConfig.Name",
        all_of(
            *(
                each(
                    loc,
                    length(1, 64),
                    pattern(r"[A-Za-z0-9_-]+", "may contain only letters, digits, '-' and '_'"),
                )
                for loc in VPC_ORIGIN_NAMES
            )
        ),
        "InvalidArgument",
        f"{CF_REF}, VpcOriginEndpointConfig: Name - The name of the CloudFront VPC origin "
        "endpoint configuration (the reference gives no constraint; CreateVpcOrigin refuses "
        "a name over 64 characters with InvalidArgument 'The parameter VPC Origin Name is too "
        "big.' and names with characters other than letters, digits, hyphens and underscores, "
        "as users of the API report)",
    ),
    Rule(
        "cloudfront.Tag",
        "cloudfront",
        ("CreateDistributionWithTags", "CreateVpcOrigin", "TagResource"),
        "Tags.Items[].Key / Value",
        all_of(
            *(
                check
                for loc in TAG_LOCATIONS
                for check in (
                    each(
                        f"{loc}.Items[].Key", length(1, 128), pattern(TAG_CHARS, "bad characters")
                    ),
                    each(
                        f"{loc}.Items[].Value", max_len(256), pattern(TAG_CHARS, "bad characters")
                    ),
                )
            )
        ),
        "InvalidTagging",
        f"{CF_REF}, Tag: Key - The string length should be between 1 and 128 characters. Valid "
        "characters include a-z, A-Z, 0-9, space, and the special characters _ - . : / = + @. "
        "Value - The string length should be between 0 and 256 characters. (Same characters.)",
    ),
]
