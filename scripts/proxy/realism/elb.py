"""Elastic Load Balancing (v2) in the realism mode: request rules, load balancers provisioning.

Rules: load balancer and target group names, health check ranges (timeout
below interval), at most 20 attributes, rule priorities (Elastic Load Balancing
API Reference, version 2015-12-01). Lifecycle: for ``lifecycle_seconds`` after
CreateLoadBalancer, DescribeLoadBalancers shows it ``provisioning``.
"""

from __future__ import annotations

from typing import Any
from xml.dom import minidom

from proxy.realism.base import RealismBase, child, children, first_tag, text
from proxy.realism.call import Call
from proxy.realism.checks import (
    Check,
    Rule,
    RuleState,
    ValueTest,
    all_of,
    at_most_items,
    each,
    in_range,
    length,
    no_prefix,
    number,
    pattern,
)

ELB_REF = "Elastic Load Balancing API Reference (version 2015-12-01)"
ELB_NAME = r"(?!-)[A-Za-z0-9-]+(?<!-)"


def elb_name(*more: ValueTest) -> Check:
    """``Name``: at most 32 alphanumeric characters or hyphens, no hyphen at either end."""
    return each(
        "Name",
        length(1, 32),
        pattern(
            ELB_NAME,
            "must contain only alphanumeric characters or hyphens and must "
            "not begin or end with a hyphen",
        ),
        *more,
    )


def health_check_timeout_below_interval(call: Call, _state: RuleState) -> str | None:
    timeout = number(call.first("HealthCheckTimeoutSeconds"))
    interval = number(call.first("HealthCheckIntervalSeconds"))
    if timeout is not None and interval is not None and timeout >= interval:
        return (
            f"Health check interval ({interval:g}) must be greater than the timeout ({timeout:g})"
        )
    return None


#: The documented ELBv2 request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "elbv2.CreateLoadBalancer.Name",
        "elasticloadbalancing",
        ("CreateLoadBalancer",),
        "Name",
        elb_name(no_prefix("internal-")),
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
        elb_name(),
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
]


def _load_balancer_states(
    dom: minidom.Document,
) -> list[tuple[str | None, minidom.Element | None]]:
    return [
        (text(child(member, "LoadBalancerArn")), child(child(member, "State") or member, "Code"))
        for lbs in dom.getElementsByTagName("LoadBalancers")
        for member in children(lbs, "member")
    ]


class ElbRealism(RealismBase):
    """Records created load balancers; shows young ones ``provisioning``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lb_created: dict[str, float] = {}  # LoadBalancerArn

    def _elb(self, call: Call, body: bytes) -> bytes:
        if call.operation == "CreateLoadBalancer":
            arn = first_tag(body, "LoadBalancerArn")
            if arn:
                with self.lock:
                    self.lb_created[arn] = self.clock()
            return body
        if call.operation != "DescribeLoadBalancers" or self.config.lifecycle_seconds <= 0:
            return body
        return self._rewrite_states(
            call.operation,
            body,
            _load_balancer_states,
            [("active", "provisioning", self.lb_created)],
        )
