"""Deletes AWS refuses while something still uses the resource (realism ``rules``).

moto lets these through; with ``rules`` on, the proxy refuses them the way AWS
does, each recorded in ``realism_rejections`` under the rule id listed here
(:data:`STATE_RULES`, shown with the request rules by ``GET
/__proxy/realism/rules``):

* EC2 ``DeleteSubnet`` / ``DeleteSecurityGroup`` / ``DeleteVpc`` while a
  CloudFront VPC origin (any status, ``Deleting`` included) has its network
  interfaces in the load balancer's subnets: ``DependencyViolation``. The
  CloudFront emulator (:mod:`proxy.cloudfront.vpc_origins`) registers what each
  VPC origin holds with :meth:`InUseRealism.hold_network`.
* WAFv2 ``DeleteWebACL`` of a web ACL that a distribution's ``WebACLId`` names
  (asked of moto's ListDistributions): ``WAFAssociatedItemException``.
* CloudWatch Logs ``DeleteDeliverySource`` / ``DeleteDeliveryDestination``
  while a delivery uses it (asked of moto's DescribeDeliveries):
  ``ConflictException``.

The CloudFront distribution refusals (stale ``If-Match``,
``DistributionNotDisabled``, updating a VPC origin in use) are decided by
:mod:`proxy.cloudfront.emulator` and listed here as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proxy.realism.base import RealismBase, Rejection, upstream_json, upstream_raw
from proxy.realism.call import Call
from proxy.realism.checks import Rule

CF_REF = "Amazon CloudFront API Reference (API version 2020-05-31)"


def _documented(_call: Call, _state: Any) -> None:
    """The check of a :data:`STATE_RULES` entry lives in code that knows the state."""
    return None


def _state_rule(
    rule_id: str, service: str, ops: tuple[str, ...], what: str, code: str, cite: str, status: int
) -> Rule:
    return Rule(rule_id, service, ops, what, _documented, code, cite, status)


#: The refusals that depend on state, documented like the request rules.
STATE_RULES: list[Rule] = [
    _state_rule(
        "ec2.DependencyViolation.vpc-origin",
        "ec2",
        ("DeleteSubnet", "DeleteSecurityGroup", "DeleteVpc"),
        "SubnetId / GroupId / VpcId of a load balancer a CloudFront VPC origin points at",
        "DependencyViolation",
        "Amazon EC2 API Reference, 'Error codes': DependencyViolation - The specified object has "
        "dependent resources. A number of resources in a VPC may have dependent resources, which "
        "prevent you from deleting or detaching them. CloudFront Developer Guide, 'Restrict "
        "access with VPC origins': CloudFront creates elastic network interfaces in the private "
        "subnets of the origin, with a CloudFront-managed security group.",
        400,
    ),
    _state_rule(
        "wafv2.DeleteWebACL.associated",
        "wafv2",
        ("DeleteWebACL",),
        "a web ACL that a CloudFront distribution's WebACLId names",
        "WAFAssociatedItemException",
        "AWS WAFV2 API Reference, DeleteWebACL: Before deleting any web ACL, first disassociate "
        "it from all resources ... For Amazon CloudFront distributions, provide an empty web ACL "
        "ID in the CloudFront call UpdateDistribution. WAFAssociatedItemException - WAF couldn't "
        "perform the operation because your resource is being used by another resource or it's "
        "associated with another resource.",
        400,
    ),
    _state_rule(
        "logs.DeleteDeliverySource.in-use",
        "logs",
        ("DeleteDeliverySource",),
        "name of a delivery source a delivery uses",
        "ConflictException",
        "Amazon CloudWatch Logs API Reference, DeleteDeliverySource: You can't delete a delivery "
        "source if any current deliveries are associated with it.",
        400,
    ),
    _state_rule(
        "logs.DeleteDeliveryDestination.in-use",
        "logs",
        ("DeleteDeliveryDestination",),
        "name of a delivery destination a delivery uses",
        "ConflictException",
        "Amazon CloudWatch Logs API Reference, DeleteDeliveryDestination: You can't delete a "
        "delivery destination if any current deliveries are associated with it.",
        400,
    ),
    _state_rule(
        "cloudfront.IfMatch.current",
        "cloudfront",
        ("UpdateDistribution", "DeleteDistribution"),
        "If-Match",
        "PreconditionFailed",
        f"{CF_REF}, UpdateDistribution / DeleteDistribution: If-Match - The value of the ETag "
        "header that you received when retrieving the distribution's configuration. "
        "PreconditionFailed - The precondition in one or more of the request fields evaluated "
        "to false. HTTP Status Code: 412",
        412,
    ),
    _state_rule(
        "cloudfront.DeleteDistribution.disabled-and-deployed",
        "cloudfront",
        ("DeleteDistribution",),
        "Enabled = false and Status = Deployed",
        "DistributionNotDisabled",
        f"{CF_REF}, DeleteDistribution: Before you can delete a distribution, you must disable "
        "it ... Submit a GET Distribution request to confirm that your changes have propagated. "
        "When propagation is complete, the value of Status is Deployed. DistributionNotDisabled "
        "- The specified CloudFront distribution is not disabled. HTTP Status Code: 409",
        409,
    ),
    _state_rule(
        "cloudfront.VpcOriginConfig.deployed",
        "cloudfront",
        ("CreateDistribution", "CreateDistributionWithTags", "UpdateDistribution"),
        "Origins.Items[].VpcOriginConfig.VpcOriginId",
        "EntityNotFound",
        f"{CF_REF}, CreateDistributionWithTags / UpdateDistribution: EntityNotFound - The entity "
        "was not found. HTTP Status Code: 404 (a VPC origin that does not exist or is being "
        "deleted). CloudFront Developer Guide, 'Restrict access with VPC origins': wait for the "
        "VPC origin to be Deployed before a distribution uses it (one that is still Deploying "
        "is refused with InvalidArgument 400; the reference names no code for that case)",
        404,
    ),
    _state_rule(
        "cloudfront.UpdateVpcOrigin.not-in-use",
        "cloudfront",
        ("UpdateVpcOrigin",),
        "a VPC origin that no distribution uses",
        "CannotUpdateEntityWhileInUse",
        f"{CF_REF}, UpdateVpcOrigin: CannotUpdateEntityWhileInUse - The entity cannot be updated "
        "while it is in use. HTTP Status Code: 409 (AWS refuses UpdateVpcOrigin while a "
        "distribution uses the VPC origin, as users of the API report)",
        409,
    ),
]


@dataclass
class NetworkHold:
    """Network interfaces an AWS service keeps in a VPC (a CloudFront VPC origin's)."""

    what: str
    subnets: frozenset[str]
    groups: frozenset[str]
    vpc: str | None
    until: float | None = None  # clock time it ends; None while the holder exists


class InUseRealism(RealismBase):
    """Refuses deletes of what a VPC origin, a distribution or a delivery still uses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network_holds: dict[str, NetworkHold] = {}

    def hold_network(
        self, key: str, what: str, subnets: list[str], groups: list[str], vpc: str | None
    ) -> None:
        with self.lock:
            self.network_holds[key] = NetworkHold(what, frozenset(subnets), frozenset(groups), vpc)

    def release_network(self, key: str, at: float) -> None:
        """The interfaces of ``key`` are gone from clock time ``at`` on."""
        with self.lock:
            hold = self.network_holds.get(key)
            if hold is not None:
                hold.until = at

    def _held_by(self, kind: str, ident: str) -> str | None:
        now = self.clock()
        with self.lock:
            for key, hold in list(self.network_holds.items()):
                if hold.until is not None and now >= hold.until:
                    del self.network_holds[key]
                    continue
                if ident in {"subnet": hold.subnets, "group": hold.groups}.get(kind, ()):
                    return hold.what
                if kind == "vpc" and ident == hold.vpc:
                    return hold.what
        return None

    def _in_use(self, call: Call) -> Rejection | None:
        found: tuple[str, str, str] | None = None
        if call.protocol == "ec2":
            found = self._network_in_use(call)
        elif call.service == "wafv2" and call.operation == "DeleteWebACL":
            found = self._web_acl_in_use(call)
        elif call.service == "logs" and call.operation in (
            "DeleteDeliverySource",
            "DeleteDeliveryDestination",
        ):
            found = self._delivery_in_use(call)
        if found is None:
            return None
        rule_id, code, message = found
        self.record_rejection(call.operation, rule_id, message)
        status = next(r.status for r in STATE_RULES if r.id == rule_id)
        return Rejection(code, status, f"{message} [realism rule {rule_id}]")

    def _network_in_use(self, call: Call) -> tuple[str, str, str] | None:
        rule = "ec2.DependencyViolation.vpc-origin"
        op = call.operation
        if op == "DeleteSubnet":
            subnet = call.first("SubnetId")
            holder = subnet and self._held_by("subnet", subnet)
            if holder:
                message = f"The subnet '{subnet}' has dependencies and cannot be deleted."
                return rule, "DependencyViolation", f"{message} ({holder})"
        elif op == "DeleteSecurityGroup":
            group = call.first("GroupId")
            holder = group and self._held_by("group", group)
            if holder:
                return rule, "DependencyViolation", f"resource {group} has a dependent object"
        elif op == "DeleteVpc":
            vpc = call.first("VpcId")
            holder = vpc and self._held_by("vpc", vpc)
            if holder:
                message = f"The vpc '{vpc}' has dependencies and cannot be deleted."
                return rule, "DependencyViolation", f"{message} ({holder})"
        return None

    def _web_acl_in_use(self, call: Call) -> tuple[str, str, str] | None:
        name, ident = call.doc.get("Name"), call.doc.get("Id")
        if call.doc.get("Scope") != "CLOUDFRONT" or not name or not ident:
            return None
        suffix = f":global/webacl/{name}/{ident}"
        marker = ""
        while True:
            path = "/2020-05-31/distribution" + (f"?Marker={marker}" if marker else "")
            got = upstream_raw(
                self.upstream, call.access_key, "us-east-1", "cloudfront", "GET", path
            )
            if got is None or got[0] != 200:
                return None
            body = got[2].decode("utf-8", "replace")
            for summary in re.findall(
                r"<DistributionSummary>.*?</DistributionSummary>", body, re.S
            ):
                acl = re.search(r"<WebACLId>([^<]*)</WebACLId>", summary)
                dist = re.search(r"<Id>([^<]*)</Id>", summary)
                if acl and acl.group(1).endswith(suffix):
                    who = dist.group(1) if dist else "a distribution"
                    return (
                        "wafv2.DeleteWebACL.associated",
                        "WAFAssociatedItemException",
                        "AWS WAF couldn't perform the operation because your resource is being "
                        f"used by another resource or it's associated with another resource "
                        f"(CloudFront distribution {who}).",
                    )
            nxt = re.search(r"<NextMarker>([^<]+)</NextMarker>", body)
            if not nxt or not re.search(r"<IsTruncated>true</IsTruncated>", body):
                return None
            marker = nxt.group(1)

    def _delivery_in_use(self, call: Call) -> tuple[str, str, str] | None:
        name = call.doc.get("name")
        if not name:
            return None
        deliveries: list[dict[str, Any]] = []
        token = None
        while True:
            got = upstream_json(
                self.upstream,
                call.access_key,
                call.region or "us-east-1",
                "logs",
                "Logs_20140328.DescribeDeliveries",
                {"nextToken": token} if token else {},
            )
            if got is None or got[0] != 200:
                return None
            deliveries += got[1].get("deliveries") or []
            token = got[1].get("nextToken")
            if not token:
                break
        source = call.operation == "DeleteDeliverySource"
        for delivery in deliveries:
            if source and delivery.get("deliverySourceName") == name:
                used = True
            else:
                arn = str(delivery.get("deliveryDestinationArn") or "")
                used = not source and arn.endswith(f":delivery-destination:{name}")
            if used:
                kind = "source" if source else "destination"
                return (
                    f"logs.DeleteDelivery{'Source' if source else 'Destination'}.in-use",
                    "ConflictException",
                    f"The delivery {kind} {name} is used by delivery {delivery.get('id')}; "
                    "delete the delivery first.",
                )
        return None
