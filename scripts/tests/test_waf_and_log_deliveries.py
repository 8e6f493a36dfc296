"""WAFv2 web ACLs for CloudFront and CloudWatch Logs deliveries (CloudFront standard logging
v2) through the proxy: what moto does on its own, and what the realism mode adds (request
rules, a web ACL a distribution uses, a delivery source or destination a delivery uses).
"""

from __future__ import annotations

import contextlib
import copy
import functools

import botocore.config
from botocore.exceptions import ClientError
from cloudfront_helpers import (
    GLOBAL,
    cloudfront,
    custom_origin,
    disable_and_delete,
    distribution_config,
)
from helpers import NO_RETRY, client, error_of, realism, violations

UNCHECKED = NO_RETRY.merge(botocore.config.Config(parameter_validation=False))
VISIBLE = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}


def managed(name: str, priority: int) -> dict:
    return {
        "Name": name,
        "Priority": priority,
        "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
        "OverrideAction": {"None": {}},
        "VisibilityConfig": VISIBLE | {"MetricName": name},
    }


RULES = [
    managed("AWSManagedRulesCommonRuleSet", 1),
    managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
    managed("AWSManagedRulesAmazonIpReputationList", 3),
    {
        "Name": "rate-per-ip",
        "Priority": 4,
        "Statement": {
            "RateBasedStatement": {
                "Limit": 2000,
                "AggregateKeyType": "IP",
                "EvaluationWindowSec": 300,
            }
        },
        "Action": {"Block": {}},
        "VisibilityConfig": VISIBLE | {"MetricName": "rate-per-ip"},
    },
]


def web_acl(name: str, rules: list[dict] = RULES, metric: str | None = None) -> dict:
    return {
        "Name": name,
        "Scope": "CLOUDFRONT",
        "DefaultAction": {"Allow": {}},
        "Rules": rules,
        "VisibilityConfig": VISIBLE | {"MetricName": metric or name},
    }


def test_web_acl_for_cloudfront_lock_tokens_and_rules(proxy):
    waf = client(proxy, "wafv2", region=GLOBAL)
    tags = [{"Key": "EnvironmentSuffix", "Value": "waf"}]
    summary = waf.create_web_acl(**web_acl("acl-waf-1"), Tags=tags)["Summary"]
    ids = {"Name": "acl-waf-1", "Scope": "CLOUDFRONT", "Id": summary["Id"]}
    got = waf.get_web_acl(**ids)
    assert [r["Name"] for r in got["WebACL"]["Rules"]] == [r["Name"] for r in RULES]
    assert got["WebACL"]["Rules"][3]["Statement"] == RULES[3]["Statement"]
    first = got["LockToken"]
    listed = waf.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
    assert [a["Name"] for a in listed] == ["acl-waf-1"]
    arn = got["WebACL"]["ARN"]
    assert arn.startswith("arn:aws:wafv2:us-east-1:") and ":global/webacl/acl-waf-1/" in arn
    assert waf.list_tags_for_resource(ResourceARN=arn)["TagInfoForResource"]["TagList"] == tags

    body = {k: v for k, v in web_acl("acl-waf-1").items() if k != "Name"}
    second = waf.update_web_acl(
        **ids, LockToken=first, **{k: body[k] for k in body if k != "Scope"}
    )
    stale_update = functools.partial(
        waf.update_web_acl,
        **ids,
        LockToken=first,
        DefaultAction={"Block": {}},
        VisibilityConfig=body["VisibilityConfig"],
    )
    assert error_of(stale_update) == ("WAFOptimisticLockException", 400)  # moto checks these
    stale_delete = functools.partial(waf.delete_web_acl, **ids, LockToken=first)
    assert error_of(stale_delete) == ("WAFOptimisticLockException", 400)

    realism(proxy, rules=True)
    # Without boto3's own checks (aws-sdk-rust checks no lengths or ranges).
    waf = client(proxy, "wafv2", UNCHECKED, region=GLOBAL)
    bad_rate = copy.deepcopy(RULES)
    bad_rate[3]["Statement"]["RateBasedStatement"] |= {"Limit": 5, "EvaluationWindowSec": 90}
    duplicate = copy.deepcopy(RULES)
    duplicate[1]["Priority"] = 1
    cases = [
        (web_acl("acl with spaces"), "wafv2.Name"),
        (web_acl("acl-waf-2", metric="All"), "wafv2.VisibilityConfig.MetricName"),
        (web_acl("acl-waf-2", metric="has space"), "wafv2.VisibilityConfig.MetricName"),
        (web_acl("acl-waf-2", rules=duplicate), "wafv2.Rule.Priority"),
        (web_acl("acl-waf-2", rules=bad_rate), "wafv2.RateBasedStatement.Limit"),
    ]
    for request, _rule in cases:
        assert error_of(lambda r=request: waf.create_web_acl(**r)) == (
            "WAFInvalidParameterException",
            400,
        )
    sydney = client(proxy, "wafv2")
    assert error_of(lambda: sydney.list_web_acls(Scope="CLOUDFRONT")) == (
        "WAFInvalidParameterException",
        400,
    )
    bad_rate[3]["Statement"]["RateBasedStatement"]["Limit"] = 100
    assert error_of(lambda: waf.create_web_acl(**web_acl("acl-waf-2", rules=bad_rate))) == (
        "WAFInvalidParameterException",
        400,
    )
    assert [v["rule"] for v in violations(proxy)] == [
        *(rule for _, rule in cases),
        "wafv2.Scope.CLOUDFRONT-us-east-1",
        "wafv2.RateBasedStatement.EvaluationWindowSec",
    ]

    # A web ACL that a distribution names cannot be deleted (moto would delete it).
    cf = cloudfront(proxy)
    config = distribution_config("waf-assoc", custom_origin(), WebACLId=arn)
    created = cf.create_distribution(DistributionConfig=config)
    dist_id = created["Distribution"]["Id"]
    try:
        delete = functools.partial(waf.delete_web_acl, **ids, LockToken=second["NextLockToken"])
        assert error_of(delete) == ("WAFAssociatedItemException", 400)
        cf.update_distribution(
            Id=dist_id, IfMatch=created["ETag"], DistributionConfig=config | {"WebACLId": ""}
        )
        delete()
    finally:
        realism(proxy)
        disable_and_delete(cf, dist_id)
    assert violations(proxy)[-1]["rule"] == "wafv2.DeleteWebACL.associated"


def test_log_deliveries_for_a_distribution(proxy):
    logs = client(proxy, "logs", region=GLOBAL)
    logs.create_log_group(logGroupName="/proxy/cf-access")
    group = logs.describe_log_groups(logGroupNamePrefix="/proxy/cf-access")["logGroups"][0]
    dist = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
    tags = {"EnvironmentSuffix": "logs"}
    try:
        source = logs.put_delivery_source(
            name="cf-src-logs", resourceArn=dist, logType="ACCESS_LOGS", tags=tags
        )["deliverySource"]
        assert (source["service"], source["resourceArns"]) == ("cloudfront", [dist])
        destination = logs.put_delivery_destination(
            name="cf-dst-logs",
            outputFormat="json",
            deliveryDestinationConfiguration={"destinationResourceArn": group["logGroupArn"]},
            tags=tags,
        )["deliveryDestination"]
        assert destination["deliveryDestinationType"] == "CWL"
        delivery = logs.create_delivery(
            deliverySourceName="cf-src-logs",
            deliveryDestinationArn=destination["arn"],
            tags=tags,
        )["delivery"]
        assert [d["id"] for d in logs.describe_deliveries()["deliveries"]] == [delivery["id"]]
        assert logs.get_delivery_source(name="cf-src-logs")["deliverySource"]["logType"] == (
            "ACCESS_LOGS"
        )
        for arn in (source["arn"], destination["arn"], delivery["arn"]):
            assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == tags

        realism(proxy, rules=True)
        bad = functools.partial(
            logs.put_delivery_source, name="cf src", resourceArn=dist, logType="ACCESS_LOGS"
        )
        assert error_of(bad) == ("ValidationException", 400)
        in_use = [
            functools.partial(logs.delete_delivery_source, name="cf-src-logs"),
            functools.partial(logs.delete_delivery_destination, name="cf-dst-logs"),
        ]
        assert [error_of(c) for c in in_use] == [("ConflictException", 400)] * 2
        logs.delete_delivery(id=delivery["id"])
        for call in in_use:
            call()
        assert [v["rule"] for v in violations(proxy)] == [
            "logs.delivery.names",
            "logs.DeleteDeliverySource.in-use",
            "logs.DeleteDeliveryDestination.in-use",
        ]
    finally:
        realism(proxy)
        for cleanup in (
            lambda: logs.delete_delivery(id=delivery["id"]),
            lambda: logs.delete_delivery_source(name="cf-src-logs"),
            lambda: logs.delete_delivery_destination(name="cf-dst-logs"),
        ):
            with contextlib.suppress(ClientError, NameError):
                cleanup()
        logs.delete_log_group(logGroupName="/proxy/cf-access")


def test_moto_deletes_a_delivery_source_in_use_without_the_realism_mode(proxy):
    logs = client(proxy, "logs", region=GLOBAL)
    dist = "arn:aws:cloudfront::123456789012:distribution/EMOTO0000000"
    logs.put_delivery_source(name="cf-src-moto", resourceArn=dist, logType="ACCESS_LOGS")
    destination = logs.put_delivery_destination(
        name="cf-dst-moto",
        deliveryDestinationConfiguration={
            "destinationResourceArn": "arn:aws:logs:us-east-1:123456789012:log-group:/x"
        },
    )["deliveryDestination"]
    delivery = logs.create_delivery(
        deliverySourceName="cf-src-moto", deliveryDestinationArn=destination["arn"]
    )["delivery"]
    logs.delete_delivery_source(name="cf-src-moto")  # AWS: ConflictException
    logs.delete_delivery_destination(name="cf-dst-moto")
    logs.delete_delivery(id=delivery["id"])
