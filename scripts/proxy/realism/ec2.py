"""EC2 in the realism mode: its request rules, eventual consistency and NAT gateway states.

Rules: the documented constraints on security group names, descriptions and
rule descriptions, ClientToken, tags, ModifyVpcAttribute and flow logs (EC2 API
Reference). Eventual consistency: for ``eventual_consistency_seconds`` after a
create, mutating calls naming the new id get ``Invalid...ID.NotFound`` ("Eventual
consistency in the Amazon EC2 API", EC2 Developer Guide). Lifecycle: NAT
gateways show ``pending`` / ``deleting`` for ``lifecycle_seconds``.
"""

from __future__ import annotations

from typing import Any
from xml.dom import minidom

from proxy.realism.base import RealismBase, Rejection, child, children, first_tag, text
from proxy.realism.call import Call
from proxy.realism.checks import (
    Rule,
    RuleState,
    all_of,
    each,
    length,
    max_len,
    no_prefix,
    one_of,
    pattern,
)

EC2_REF = "Amazon EC2 API Reference"

# Character sets quoted in the references.
EC2_NAME_CHARS = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
EC2_RULE_DESCRIPTION_CHARS = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*"
EC2_NAME_TEST = pattern(
    EC2_NAME_CHARS, "valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*"
)


def single_vpc_attribute(call: Call, _state: RuleState) -> str | None:
    given = sorted(
        name
        for name in ("EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics")
        if call.first(f"{name}.Value") is not None
    )
    if len(given) > 1:
        return f"Fields for multiple attribute types specified: {', '.join(given)}"
    return None


#: The documented EC2 request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "ec2.CreateSecurityGroup.GroupName",
        "ec2",
        ("CreateSecurityGroup",),
        "GroupName",
        each(
            "GroupName",
            length(1, 255),
            no_prefix("sg-", "security group names cannot start with sg-"),
            EC2_NAME_TEST,
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateSecurityGroup: GroupName - Constraints: Up to 255 characters in "
        "length. Cannot start with sg-. Valid characters: a-z, A-Z, 0-9, spaces, and "
        "._-:/()#,@[]+=&;{}!$*",
    ),
    Rule(
        "ec2.CreateSecurityGroup.GroupDescription",
        "ec2",
        ("CreateSecurityGroup",),
        "GroupDescription",
        each(
            "GroupDescription",
            length(1, 255),
            EC2_NAME_TEST,
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateSecurityGroup: GroupDescription - Constraints: Up to 255 characters "
        "in length. Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
    ),
    Rule(
        "ec2.SecurityGroupRule.Description",
        "ec2",
        (
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
        ),
        "IpPermissions.N.{IpRanges,Ipv6Ranges,UserIdGroupPairs,PrefixListIds}.N.Description",
        all_of(
            *(
                each(
                    f"IpPermissions[].{kind}[].Description",
                    max_len(255),
                    pattern(
                        EC2_RULE_DESCRIPTION_CHARS,
                        "allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=;{}!$*",
                    ),
                )
                for kind in ("IpRanges", "Ipv6Ranges", "Groups", "PrefixListIds")
            )
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, IpRange / Ipv6Range / UserIdGroupPair / PrefixListId: Description - "
        "Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, "
        "spaces, and ._-:/()#,@[]+=;{}!$*",
    ),
    Rule(
        "ec2.ClientToken",
        "ec2",
        ("*",),
        "ClientToken",
        each("ClientToken", length(1, 64), pattern(r"[\x20-\x7e]+", "must be ASCII")),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateNatGateway (and every action with one): ClientToken - Constraint: "
        "Maximum 64 ASCII characters (see also 'Ensuring idempotency in Amazon EC2 API "
        "requests')",
    ),
    Rule(
        "ec2.ModifyVpcAttribute.one-attribute",
        "ec2",
        ("ModifyVpcAttribute",),
        "EnableDnsSupport / EnableDnsHostnames / EnableNetworkAddressUsageMetrics",
        single_vpc_attribute,
        "InvalidParameterCombination",
        f"{EC2_REF}, ModifyVpcAttribute: EnableDnsHostnames / EnableDnsSupport - You cannot "
        "modify the DNS resolution and DNS hostnames attributes in the same request. Use "
        "separate requests for each attribute.",
    ),
    Rule(
        "ec2.Tag",
        "ec2",
        ("*",),
        "TagSpecification.N.Tag.N.Key/Value, Tag.N.Key/Value",
        all_of(
            each("TagSpecification[].Tag[].Key", length(1, 127), no_prefix("aws:")),
            each("TagSpecification[].Tag[].Value", max_len(256)),
            each("Tag[].Key", length(1, 127), no_prefix("aws:")),
            each("Tag[].Value", max_len(256)),
        ),
        "InvalidParameterValue",
        f"{EC2_REF}, Tag: Key - Constraints: Tag keys are case-sensitive and accept a maximum "
        "of 127 Unicode characters. May not begin with aws:. Value - Constraints: Tag values "
        "are case-sensitive and accept a maximum of 256 Unicode characters.",
    ),
    Rule(
        "ec2.CreateFlowLogs.MaxAggregationInterval",
        "ec2",
        ("CreateFlowLogs",),
        "MaxAggregationInterval",
        each("MaxAggregationInterval", one_of(frozenset({60, 600}), "must be 60 or 600")),
        "InvalidParameterValue",
        f"{EC2_REF}, CreateFlowLogs: MaxAggregationInterval - Valid Values: 60 | 600",
    ),
]

#: EC2 create operation -> the response element that holds the new id
EC2_CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateInternetGateway": "internetGatewayId",
    "CreateRouteTable": "routeTableId",
    "CreateSecurityGroup": "groupId",
    "AllocateAddress": "allocationId",
    "CreateNatGateway": "natGatewayId",
}

#: id prefix -> (NotFound code, message template)
EC2_NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{id}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{id}' does not exist"),
    "igw-": (
        "InvalidInternetGatewayID.NotFound",
        "The internetGateway ID '{id}' does not exist",
    ),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{id}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "eipalloc-": ("InvalidAllocationID.NotFound", "The allocation ID '{id}' does not exist"),
    "nat-": ("InvalidNatGatewayID.NotFound", "The natGateway ID '{id}' does not exist"),
}

#: EC2 calls that change a resource and so may not see an id created just before.
EC2_MUTATING = frozenset(
    {
        "ModifyVpcAttribute",
        "ModifySubnetAttribute",
        "AttachInternetGateway",
        "CreateRoute",
        "ReplaceRoute",
        "AssociateRouteTable",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateNatGateway",
        "CreateTags",
        "CreateFlowLogs",
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateRouteTable",
    }
)


def _nat_states(dom: minidom.Document) -> list[tuple[str | None, minidom.Element | None]]:
    nodes = dom.getElementsByTagName("natGateway")
    for sets in dom.getElementsByTagName("natGatewaySet"):
        nodes += children(sets, "item")
    return [(text(child(item, "natGatewayId")), child(item, "state")) for item in nodes]


class Ec2Realism(RealismBase):
    """Records new EC2 ids; refuses calls that name them too soon; NAT gateway states."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ec2_created: dict[str, float] = {}  # id -> when its create answered
        self.nat_deleted: dict[str, float] = {}

    def _not_yet_visible(self, call: Call, window: float) -> Rejection | None:
        """The NotFound error of a mutating EC2 call naming an id younger than ``window``."""
        if call.protocol != "ec2" or call.operation not in EC2_MUTATING:
            return None
        now = self.clock()
        with self.lock:
            for key, value in call.flat.items():
                if key in ("Action", "Version"):
                    continue
                created = self.ec2_created.get(value)
                if created is None or now - created >= window:
                    continue
                prefix = next((p for p in EC2_NOT_FOUND if value.startswith(p)), None)
                if prefix is None:
                    continue
                code, template = EC2_NOT_FOUND[prefix]
                self.ec_rejections.append(
                    {
                        "operation": call.operation,
                        "resource": value,
                        "code": code,
                        "age_seconds": round(now - created, 3),
                    }
                )
                return Rejection(code, 400, template.format(id=value))
        return None

    def _ec2(self, call: Call, body: bytes) -> bytes:
        """Record created / deleted ids; show young NAT gateways pending or deleting."""
        op = call.operation
        cfg = self.config
        if cfg.eventual_consistency_seconds <= 0 and cfg.lifecycle_seconds <= 0:
            return body
        if op in EC2_CREATES:
            new_id = first_tag(body, EC2_CREATES[op])
            if new_id:
                with self.lock:
                    self.ec2_created[new_id] = self.clock()
        if op == "DeleteNatGateway":
            nat = first_tag(body, "natGatewayId") or call.first("NatGatewayId")
            if nat:
                with self.lock:
                    self.nat_deleted[nat] = self.clock()
        if self.config.lifecycle_seconds <= 0 or op not in (
            "CreateNatGateway",
            "DescribeNatGateways",
        ):
            return body
        return self._rewrite_states(
            op,
            body,
            _nat_states,
            [("available", "pending", self.ec2_created), ("deleted", "deleting", self.nat_deleted)],
        )
