"""The operation a CloudFront request is, from its method, path and query.

Methods and URIs are those of the botocore service model
``cloudfront/2020-05-31`` (REST-XML, signing name ``cloudfront``). A request
signed for CloudFront that matches no route is named ``CloudFront:<METHOD>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

API = "/2020-05-31"
_ID = r"[^/]+"

#: (method, path below /2020-05-31, query key that must be present or None, operation)
#: First match wins, so the routes with a query key come before those without.
ROUTES: list[tuple[str, str, str | None, str]] = [
    ("POST", "/distribution", "WithTags", "CreateDistributionWithTags"),
    ("POST", "/distribution", None, "CreateDistribution"),
    ("GET", "/distribution", None, "ListDistributions"),
    ("GET", f"/distribution/{_ID}", None, "GetDistribution"),
    ("DELETE", f"/distribution/{_ID}", None, "DeleteDistribution"),
    ("GET", f"/distribution/{_ID}/config", None, "GetDistributionConfig"),
    ("PUT", f"/distribution/{_ID}/config", None, "UpdateDistribution"),
    ("POST", f"/distribution/{_ID}/invalidation", None, "CreateInvalidation"),
    ("GET", f"/distribution/{_ID}/invalidation", None, "ListInvalidations"),
    ("GET", f"/distribution/{_ID}/invalidation/{_ID}", None, "GetInvalidation"),
    ("GET", f"/distributionsByWebACLId/{_ID}", None, "ListDistributionsByWebACLId"),
    ("POST", "/tagging", "Operation=Tag", "TagResource"),
    ("POST", "/tagging", "Operation=Untag", "UntagResource"),
    ("GET", "/tagging", None, "ListTagsForResource"),
    ("POST", "/vpc-origin", None, "CreateVpcOrigin"),
    ("GET", "/vpc-origin", None, "ListVpcOrigins"),
    ("GET", f"/vpc-origin/{_ID}", None, "GetVpcOrigin"),
    ("PUT", f"/vpc-origin/{_ID}", None, "UpdateVpcOrigin"),
    ("DELETE", f"/vpc-origin/{_ID}", None, "DeleteVpcOrigin"),
    ("POST", f"/distributions/{_ID}/monitoring-subscription", None, "CreateMonitoringSubscription"),
    ("GET", f"/distributions/{_ID}/monitoring-subscription", None, "GetMonitoringSubscription"),
    (
        "DELETE",
        f"/distributions/{_ID}/monitoring-subscription",
        None,
        "DeleteMonitoringSubscription",
    ),
    ("GET", "/cache-policy", None, "ListCachePolicies"),
    ("GET", f"/cache-policy/{_ID}", None, "GetCachePolicy"),
    ("GET", "/origin-request-policy", None, "ListOriginRequestPolicies"),
    ("GET", f"/origin-request-policy/{_ID}", None, "GetOriginRequestPolicy"),
]

_COMPILED = [
    (method, re.compile(re.escape(API) + path + "/?"), key, op) for method, path, key, op in ROUTES
]


def _has(query: Mapping[str, list[str]], key: str) -> bool:
    name, _, value = key.partition("=")
    if name not in query:
        return False
    return not value or value in query[name]


def cloudfront_operation(method: str, path: str, query: Mapping[str, list[str]]) -> str | None:
    """The operation of a CloudFront request, or None if no route matches."""
    for route_method, rx, key, op in _COMPILED:
        if method == route_method and rx.fullmatch(path) and (key is None or _has(query, key)):
            return op
    return None


def path_ids(path: str) -> list[str]:
    """The id segments of a CloudFront path (``/2020-05-31/vpc-origin/vo_1`` -> ``["vo_1"]``)."""
    segments = [s for s in path.removeprefix(API).split("/") if s]
    return segments[1::2]
