"""CloudFront through the proxy: operation names, CloudFront's own errors for throttling and
``--fail`` rules, and the request classification on its own.
"""

from __future__ import annotations

import botocore.config
from helpers import THROTTLE_CODES, client, control, error_of
from proxy.faults import status_for_code
from proxy.protocols import build_error, classify

GLOBAL = "us-east-1"


def cloudfront(base: str, config: botocore.config.Config | None = None):
    if config is None:
        return client(base, "cloudfront", region=GLOBAL)
    return client(base, "cloudfront", config, region=GLOBAL)


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
