"""CloudFront through the proxy: operation names, CloudFront's own errors for throttling and
``--fail`` rules, distributions (config round trip, ETags, If-Match, InProgress,
DistributionNotDisabled), monitoring subscriptions, and the request classification on its own.
"""

from __future__ import annotations

import functools
import time

import botocore.config
from cloudfront_helpers import (
    cloudfront,
    contains,
    custom_origin,
    disable_and_delete,
    distribution_config,
    vpc_origin,
)
from helpers import THROTTLE_CODES, control, error_of, internal_alb, realism, violations
from proxy.faults import status_for_code
from proxy.protocols import build_error, classify


def test_cloudfront_operations_are_named_and_throttled(proxy):
    cf = cloudfront(proxy)
    cf.list_distributions()
    cf.list_tags_for_resource(Resource="arn:aws:cloudfront::123456789012:distribution/EXAMPLE")
    stats = control(proxy, "stats")
    assert stats["calls"] == {"ListDistributions": 1, "ListTagsForResource": 1}
    assert stats["by_service"]["cloudfront:ListDistributions"] == 1

    control(proxy, "config", {"throttle_rate": 1, "throttle_operations": ["ListDistributions"]})
    code, status = error_of(cf.list_distributions)
    assert (code, status) == ("Throttling", 400)
    assert code in THROTTLE_CODES  # boto3 (like aws-sdk-rust) retries it
    retrying = cloudfront(proxy, botocore.config.Config(retries={"total_max_attempts": 3}))
    assert error_of(retrying.list_distributions) == ("Throttling", 400)
    assert control(proxy, "stats")["throttled"]["ListDistributions"] == 4

    control(
        proxy,
        "config",
        {
            "throttle_rate": 0,
            "fail": [
                "GetDistributionConfig:1",
                {
                    "operation": "cloudfront:GetDistribution",
                    "count": 1,
                    "code": "NoSuchDistribution",
                },
            ],
        },
    )
    assert error_of(lambda: cf.get_distribution_config(Id="E1")) == ("InternalFailure", 500)
    assert error_of(lambda: cf.get_distribution(Id="E1")) == ("NoSuchDistribution", 404)
    assert control(proxy, "stats")["failed"] == {"GetDistributionConfig": 1, "GetDistribution": 1}


def test_classify_cloudfront():
    def auth(service: str) -> dict[str, str]:
        cred = f"AK/20250101/us-east-1/{service}/aws4_request"
        return {"Authorization": f"AWS4-HMAC-SHA256 Credential={cred}, Signature=x"}

    cf = auth("cloudfront")
    for method, path, want in [
        ("POST", "/2020-05-31/distribution?WithTags", "CreateDistributionWithTags"),
        ("GET", "/2020-05-31/distribution", "ListDistributions"),
        ("GET", "/2020-05-31/distribution/E1", "GetDistribution"),
        ("GET", "/2020-05-31/distribution/E1/config", "GetDistributionConfig"),
        ("PUT", "/2020-05-31/distribution/E1/config", "UpdateDistribution"),
        ("DELETE", "/2020-05-31/distribution/E1", "DeleteDistribution"),
        ("GET", "/2020-05-31/tagging?Resource=arn%3Ax", "ListTagsForResource"),
        ("POST", "/2020-05-31/tagging?Operation=Tag&Resource=arn%3Ax", "TagResource"),
        ("POST", "/2020-05-31/tagging?Operation=Untag&Resource=arn%3Ax", "UntagResource"),
        ("POST", "/2020-05-31/vpc-origin", "CreateVpcOrigin"),
        ("GET", "/2020-05-31/vpc-origin", "ListVpcOrigins"),
        ("GET", "/2020-05-31/vpc-origin/vo_1", "GetVpcOrigin"),
        ("PUT", "/2020-05-31/vpc-origin/vo_1", "UpdateVpcOrigin"),
        ("DELETE", "/2020-05-31/vpc-origin/vo_1", "DeleteVpcOrigin"),
        (
            "POST",
            "/2020-05-31/distributions/E1/monitoring-subscription",
            "CreateMonitoringSubscription",
        ),
        (
            "GET",
            "/2020-05-31/distributions/E1/monitoring-subscription",
            "GetMonitoringSubscription",
        ),
        (
            "DELETE",
            "/2020-05-31/distributions/E1/monitoring-subscription",
            "DeleteMonitoringSubscription",
        ),
        ("PATCH", "/2020-05-31/distribution", "CloudFront:PATCH"),
    ]:
        assert classify(method, path, cf, b"") == ("cloudfront", "cloudfront", want), path
    # An S3 bucket that happens to be called 2020-05-31 stays S3.
    assert classify("GET", "/2020-05-31/distribution", auth("s3"), b"")[0] == "s3"

    status, headers, body = build_error("cloudfront", "cloudfront", "Throttling", 400, "slow")
    assert status == 400
    assert dict(headers)["Content-Type"] == "text/xml"
    assert body.decode().endswith(
        '<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error>'
        "<Type>Sender</Type><Code>Throttling</Code><Message>slow</Message></Error>"
        f"<RequestId>{dict(headers)['x-amzn-RequestId']}</RequestId></ErrorResponse>"
    )
    assert status_for_code("cloudfront", "PreconditionFailed") == 412
    assert status_for_code("cloudfront", "EntityNotFound") == 404
    assert status_for_code("cloudfront", "DistributionNotDisabled") == 409


# ------------------------------------------------------------ distributions --
def test_distribution_config_round_trips_with_a_vpc_origin(proxy):
    cf = cloudfront(proxy)
    with internal_alb(proxy, "cf-dist-rt", 73) as alb:
        vo = cf.create_vpc_origin(
            VpcOriginEndpointConfig={
                "Name": "vo-round-trip",
                "Arn": alb["arn"],
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "http-only",
            }
        )
        vo_id = vo["VpcOrigin"]["Id"]
        sent = distribution_config("rt-1", vpc_origin(alb["dns"], vo_id))
        created = cf.create_distribution_with_tags(
            DistributionConfigWithTags={
                "DistributionConfig": sent,
                "Tags": {"Items": [{"Key": "EnvironmentSuffix", "Value": "rt"}]},
            }
        )
        dist = created["Distribution"]
        dist_id = dist["Id"]
        assert contains(dist["DistributionConfig"], sent) == []
        got = cf.get_distribution_config(Id=dist_id)
        assert contains(got["DistributionConfig"], sent) == []
        assert got["ETag"] == created["ETag"]
        behaviours = [
            got["DistributionConfig"]["DefaultCacheBehavior"],
            *got["DistributionConfig"]["CacheBehaviors"]["Items"],
        ]
        for beh in behaviours:  # moto adds these to a behaviour that uses a cache policy
            assert not {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(beh), beh
        assert "OriginRequestPolicyId" not in behaviours[0]  # moto answers "" for the unset id
        assert "CustomOriginConfig" not in got["DistributionConfig"]["Origins"]["Items"][0]
        certificate = got["DistributionConfig"]["ViewerCertificate"]
        empty = {"ACMCertificateArn", "IAMCertificateId", "Certificate", "SSLSupportMethod"}
        assert not empty & set(certificate), certificate  # moto: "" and sni-only
        summaries = cf.list_distributions()["DistributionList"]["Items"]
        (summary,) = [s for s in summaries if s["Id"] == dist_id]
        assert summary["Origins"]["Items"][0]["VpcOriginConfig"]["VpcOriginId"] == vo_id
        assert (
            cf.get_distribution(Id=dist_id)["Distribution"]["DistributionConfig"]["Origins"][
                "Items"
            ][0]["VpcOriginConfig"]
            == sent["Origins"]["Items"][0]["VpcOriginConfig"]
        )
        tags = cf.list_tags_for_resource(Resource=dist["ARN"])["Tags"]["Items"]
        assert tags == [{"Key": "EnvironmentSuffix", "Value": "rt"}]

        # The VPC origin is in use: it cannot be deleted ...
        delete_vo = functools.partial(cf.delete_vpc_origin, Id=vo_id, IfMatch=vo["ETag"])
        assert error_of(delete_vo) == ("CannotDeleteEntityWhileInUse", 409)
        # ... until the distribution no longer names it (a new ETag each update).
        updated = cf.update_distribution(
            Id=dist_id,
            IfMatch=got["ETag"],
            DistributionConfig=distribution_config("rt-1", custom_origin(), Comment="moved"),
        )
        assert updated["ETag"] != got["ETag"]
        assert cf.get_distribution_config(Id=dist_id)["ETag"] == updated["ETag"]
        origin = updated["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]
        assert "VpcOriginConfig" not in origin
        assert delete_vo()["VpcOrigin"]["Status"] == "Deleting"
        disable_and_delete(cf, dist_id)
    assert error_of(lambda: cf.get_distribution(Id=dist_id)) == ("NoSuchDistribution", 404)


def test_distribution_realism_if_match_status_and_not_disabled(proxy):
    cf = cloudfront(proxy)
    # moto alone deletes an enabled distribution, whatever the If-Match.
    plain = cf.create_distribution(DistributionConfig=distribution_config("dr-0", custom_origin()))
    cf.delete_distribution(Id=plain["Distribution"]["Id"], IfMatch="anything")

    realism(proxy, rules=True, lifecycle_seconds=1.5)
    created = cf.create_distribution(
        DistributionConfig=distribution_config("dr-1", custom_origin())
    )
    dist_id, first = created["Distribution"]["Id"], created["ETag"]
    assert created["Distribution"]["Status"] == "InProgress"
    assert cf.get_distribution(Id=dist_id)["Distribution"]["Status"] == "InProgress"

    update = functools.partial(
        cf.update_distribution,
        Id=dist_id,
        DistributionConfig=distribution_config("dr-1", custom_origin(), Enabled=False),
    )
    assert error_of(lambda: update(IfMatch="E0STALE0000000")) == ("PreconditionFailed", 412)
    assert error_of(lambda: update(IfMatch="")) == ("InvalidIfMatchVersion", 400)
    disabled = update(IfMatch=first)
    second = disabled["ETag"]
    assert second != first
    assert disabled["Distribution"]["Status"] == "InProgress"
    delete = functools.partial(cf.delete_distribution, Id=dist_id)
    assert error_of(lambda: delete(IfMatch=second)) == ("DistributionNotDisabled", 409)
    time.sleep(1.6)
    assert cf.get_distribution(Id=dist_id)["Distribution"]["Status"] == "Deployed"
    summaries = cf.list_distributions()["DistributionList"]["Items"]
    assert [s["Status"] for s in summaries if s["Id"] == dist_id] == ["Deployed"]
    assert error_of(lambda: delete(IfMatch=first)) == ("PreconditionFailed", 412)
    delete(IfMatch=second)

    enabled = cf.create_distribution(
        DistributionConfig=distribution_config("dr-2", custom_origin())
    )
    other = enabled["Distribution"]["Id"]
    time.sleep(1.6)
    assert error_of(lambda: cf.delete_distribution(Id=other, IfMatch=enabled["ETag"])) == (
        "DistributionNotDisabled",
        409,
    )
    assert [v["rule"] for v in violations(proxy)] == [
        "cloudfront.IfMatch.current",
        "cloudfront.DeleteDistribution.disabled-and-deployed",
        "cloudfront.IfMatch.current",
        "cloudfront.DeleteDistribution.disabled-and-deployed",
    ]
    stats = control(proxy, "stats")
    assert stats["lifecycle_rewrites"]["GetDistribution"] == 1
    assert "DeleteDistribution" not in stats["upstream_errors"]
    realism(proxy)
    disable_and_delete(cf, other)


def test_monitoring_subscriptions_and_distributions_by_web_acl(proxy):
    cf = cloudfront(proxy)
    config = distribution_config("mon-1", custom_origin())
    dist_id = cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    enabled = {
        "RealtimeMetricsSubscriptionConfig": {"RealtimeMetricsSubscriptionStatus": "Enabled"}
    }
    try:
        missing = functools.partial(
            cf.create_monitoring_subscription,
            DistributionId="ENOSUCH",
            MonitoringSubscription=enabled,
        )
        assert error_of(missing) == ("NoSuchDistribution", 404)
        get = functools.partial(cf.get_monitoring_subscription, DistributionId=dist_id)
        assert error_of(get) == ("NoSuchMonitoringSubscription", 404)
        made = cf.create_monitoring_subscription(
            DistributionId=dist_id, MonitoringSubscription=enabled
        )
        assert made["MonitoringSubscription"] == enabled
        assert get()["MonitoringSubscription"] == enabled
        disabled = {
            "RealtimeMetricsSubscriptionConfig": {"RealtimeMetricsSubscriptionStatus": "Disabled"}
        }
        cf.create_monitoring_subscription(DistributionId=dist_id, MonitoringSubscription=disabled)
        assert get()["MonitoringSubscription"] == disabled
        cf.delete_monitoring_subscription(DistributionId=dist_id)
        assert error_of(get) == ("NoSuchMonitoringSubscription", 404)
        delete = functools.partial(cf.delete_monitoring_subscription, DistributionId=dist_id)
        assert error_of(delete) == ("NoSuchMonitoringSubscription", 404)

        by_acl = cf.list_distributions_by_web_acl_id(WebACLId=config["WebACLId"])
        assert [d["Id"] for d in by_acl["DistributionList"]["Items"]] == [dist_id]
        none = cf.list_distributions_by_web_acl_id(WebACLId="a1b2c3d4-5678-90ab-cdef-00000000dead")
        assert none["DistributionList"]["Quantity"] == 0
    finally:
        disable_and_delete(cf, dist_id)
    stats = control(proxy, "stats")
    assert stats["calls"]["CreateMonitoringSubscription"] == 3
    assert stats["calls"]["ListDistributionsByWebACLId"] == 2
