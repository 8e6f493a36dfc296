"""CloudFront's request rules in the realism mode: each refused in CloudFront's own error
shape, while what issue #18 sends passes, and the rules read CloudFront's XML bodies.
"""

from __future__ import annotations

import copy
import functools

import pytest
from cloudfront_helpers import cloudfront, custom_origin, disable_and_delete, distribution_config
from helpers import error_of, internal_alb, realism, violations
from proxy.cloudfront.xmlcodec import document
from proxy.realism.call import Call
from proxy.realism.mode import RULES


def broken(change) -> dict:
    config = copy.deepcopy(distribution_config("rules-x", custom_origin()))
    change(config)
    return config


def _both(config: dict) -> None:
    config["DefaultCacheBehavior"]["ForwardedValues"] = {
        "QueryString": False,
        "Cookies": {"Forward": "none"},
    }


def _neither(config: dict) -> None:
    del config["CacheBehaviors"]["Items"][0]["CachePolicyId"]


def _vpc_timeout(config: dict) -> None:
    config["Origins"]["Items"][0] = {
        "Id": "api",
        "DomainName": "internal-x.elb.amazonaws.com",
        "VpcOriginConfig": {"VpcOriginId": "vo_x", "OriginReadTimeout": 121},
    }


CASES = [
    (lambda c: c.update(Comment="c" * 129), "InvalidArgument", "DistributionConfig.Comment"),
    (
        lambda c: c.update(CallerReference=""),
        "InvalidArgument",
        "DistributionConfig.CallerReference",
    ),
    (
        lambda c: c.update(PriceClass="PriceClass_50"),
        "InvalidArgument",
        "DistributionConfig.PriceClass",
    ),
    (lambda c: c.update(HttpVersion="http4"), "InvalidArgument", "DistributionConfig.HttpVersion"),
    (_both, "InvalidArgument", "CacheBehavior.policy-or-forwarded-values"),
    (_neither, "InvalidArgument", "CacheBehavior.policy-or-forwarded-values"),
    (
        lambda c: c.update(
            WebACLId="arn:aws:wafv2:ap-southeast-2:123456789012:regional/webacl/a/"
            "a1b2c3d4-5678-90ab-cdef-000000000001"
        ),
        "InvalidWebACLId",
        "DistributionConfig.WebACLId",
    ),
    (_vpc_timeout, "InvalidOriginReadTimeout", "VpcOriginConfig.OriginReadTimeout"),
    (lambda c: c["Aliases"].update(Quantity=1), "InconsistentQuantities", "Quantity-matches-Items"),
]


def test_cloudfront_rules_refuse_what_aws_refuses(proxy):
    cf = cloudfront(proxy)
    realism(proxy, rules=True)
    made = []
    try:
        for change, code, rule in CASES:
            create = functools.partial(cf.create_distribution, DistributionConfig=broken(change))
            assert error_of(create) == (code, 400), rule
        assert [v["rule"] for v in violations(proxy)] == [f"cloudfront.{r}" for _, _, r in CASES]
        # What issue #18 sends passes, with tags; so does its update.
        created = cf.create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": distribution_config("rules-ok", custom_origin()),
                "Tags": {"Items": [{"Key": "EnvironmentSuffix", "Value": "ok"}]},
            }
        )
        made.append(created["Distribution"]["Id"])
        long_key = {"Items": [{"Key": "k" * 129, "Value": "v"}]}
        tag = functools.partial(
            cf.tag_resource, Resource=created["Distribution"]["ARN"], Tags=long_key
        )
        assert error_of(tag) == ("InvalidTagging", 400)
        update = functools.partial(cf.update_distribution, Id=made[0], IfMatch=created["ETag"])
        assert error_of(lambda: update(DistributionConfig=broken(_both))) == (
            "InvalidArgument",
            400,
        )
        update(DistributionConfig=distribution_config("rules-ok", custom_origin(), Comment="x"))
    finally:
        realism(proxy)
        for dist_id in made:
            disable_and_delete(cf, dist_id)


def test_vpc_origin_name_rule(proxy):
    cf = cloudfront(proxy)
    realism(proxy, rules=True)
    with internal_alb(proxy, "cf-rules-vo", 74) as alb:

        def create(name: str):
            config = {
                "Name": name,
                "Arn": alb["arn"],
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "http-only",
            }
            return cf.create_vpc_origin(VpcOriginEndpointConfig=config)

        for name in ("n" * 65, "has.dot", "has space"):
            assert error_of(lambda name=name: create(name)) == ("InvalidArgument", 400), name
        made = create("vo-api_ok-" + "n" * 54)  # 64 characters
        realism(proxy)
        cf.delete_vpc_origin(Id=made["VpcOrigin"]["Id"], IfMatch=made["ETag"])
    assert {v["rule"] for v in violations(proxy)} == {"cloudfront.VpcOriginEndpointConfig.Name"}


@pytest.mark.parametrize(
    ("root", "value", "problem"),
    [
        ("DistributionConfig", {"CallerReference": "r", "Comment": "c" * 129}, "Comment"),
        (
            "DistributionConfigWithTags",
            {"DistributionConfig": {"CallerReference": "r", "PriceClass": "x"}, "Tags": {}},
            "PriceClass",
        ),
        ("DistributionConfig", {"Comment": "ok"}, "CallerReference"),
    ],
)
def test_cloudfront_rules_read_the_xml_body(root, value, problem):
    call = Call.parse(
        "cloudfront", "cloudfront", "UpdateDistribution", "PUT", "/", {}, document(root, value)
    )
    found = [
        r.id
        for r in RULES
        if r.applies(call) and r.check(call, None)  # type: ignore[arg-type]
    ]
    assert found == [f"cloudfront.DistributionConfig.{problem}"]
