"""Helpers of the CloudFront proxy tests: a client in us-east-1 and the distribution configs
issue #18 sends (HTTP/2 and 3, a price class, a WAFv2 web ACL, managed cache and origin
request policies, the default certificate, a VPC origin or a custom origin).
"""

from __future__ import annotations

import botocore.config
from helpers import client

GLOBAL = "us-east-1"


def cloudfront(base: str, config: botocore.config.Config | None = None):
    if config is None:
        return client(base, "cloudfront", region=GLOBAL)
    return client(base, "cloudfront", config, region=GLOBAL)


CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = {
    "Quantity": 7,
    "Items": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
    "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
}


def vpc_origin(dns: str, vpc_origin_id: str) -> dict:
    return {
        "Id": "api",
        "DomainName": dns,
        "OriginPath": "",
        "CustomHeaders": {"Quantity": 0},
        "VpcOriginConfig": {
            "VpcOriginId": vpc_origin_id,
            "OriginReadTimeout": 60,
            "OriginKeepaliveTimeout": 5,
        },
        "ConnectionAttempts": 3,
        "ConnectionTimeout": 10,
        "OriginShield": {"Enabled": False},
    }


def custom_origin(domain: str = "origin.example.com") -> dict:
    return {
        "Id": "api",
        "DomainName": domain,
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
        },
    }


def distribution_config(ref: str, origin: dict, **more) -> dict:
    """What issue #18 sends: HTTP/2 and 3, a price class, a WAFv2 web ACL, managed cache and
    origin request policies (no ForwardedValues), the default certificate, no aliases and no
    legacy logging."""
    return {
        "CallerReference": ref,
        "Comment": f"proxy test {ref}",
        "Enabled": True,
        "HttpVersion": "http2and3",
        "PriceClass": "PriceClass_100",
        "IsIPV6Enabled": True,
        "WebACLId": f"arn:aws:wafv2:us-east-1:123456789012:global/webacl/acl-{ref}/"
        "a1b2c3d4-5678-90ab-cdef-000000000001",
        "Aliases": {"Quantity": 0},
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ALL_METHODS,
            "Compress": True,
            "CachePolicyId": CACHING_OPTIMIZED,
        },
        "CacheBehaviors": {
            "Quantity": 1,
            "Items": [
                {
                    "PathPattern": "/api/*",
                    "TargetOriginId": "api",
                    "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ALL_METHODS,
                    "Compress": True,
                    "CachePolicyId": CACHING_DISABLED,
                    "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                }
            ],
        },
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": True,
            "MinimumProtocolVersion": "TLSv1",
        },
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
    } | more


def contains(got, sent, path: str = "") -> list[str]:
    """Where ``got`` differs from what was ``sent`` (fields AWS adds are not differences)."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return [f"{path}: {got!r} is not a structure"]
        return [d for k, v in sent.items() for d in contains(got.get(k), v, f"{path}.{k}")]
    if isinstance(sent, list):
        if not isinstance(got, list) or len(got) != len(sent):
            return [f"{path}: {got!r} != {sent!r}"]
        return [
            d
            for i, (g, s) in enumerate(zip(got, sent, strict=True))
            for d in contains(g, s, f"{path}[{i}]")
        ]
    return [] if got == sent else [f"{path}: {got!r} != {sent!r}"]


def disable_and_delete(cf, dist_id: str) -> None:
    got = cf.get_distribution_config(Id=dist_id)
    config = got["DistributionConfig"] | {"Enabled": False}
    etag = cf.update_distribution(Id=dist_id, IfMatch=got["ETag"], DistributionConfig=config)[
        "ETag"
    ]
    cf.delete_distribution(Id=dist_id, IfMatch=etag)
