"""The CloudFront emulator the request handler hands every CloudFront call to.

:meth:`CloudFront.handle` answers what moto lacks itself (VPC origins and
their tags, monitoring subscriptions, ListDistributionsByWebACLId), refuses
what the realism mode refuses, forwards the rest to moto and mends moto's
answer (:mod:`proxy.cloudfront.distributions`). Its timings and switches are
the realism mode's (``rules``, ``lifecycle_seconds``), its clock and the calls
it makes to moto are the realism mode's too.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from proxy.cloudfront.common import Answer, CfRequest, Refusal, error
from proxy.cloudfront.distributions import Distributions, Sent
from proxy.cloudfront.vpc_origins import VpcOrigins
from proxy.realism.base import upstream_raw

if TYPE_CHECKING:
    from proxy.realism.mode import Realism

VPC_ORIGIN_OPS = frozenset(
    {"CreateVpcOrigin", "GetVpcOrigin", "ListVpcOrigins", "UpdateVpcOrigin", "DeleteVpcOrigin"}
)
TAG_OPS = frozenset({"ListTagsForResource", "TagResource", "UntagResource"})
MONITORING_OPS = frozenset(
    {
        "CreateMonitoringSubscription",
        "GetMonitoringSubscription",
        "DeleteMonitoringSubscription",
    }
)
#: The operations the proxy answers itself (never forwarded to moto).
EMULATED = VPC_ORIGIN_OPS | MONITORING_OPS | {"ListDistributionsByWebACLId"}

#: (subnet ids, security group ids, VPC id) of a load balancer; False: moto has none.
LoadBalancer = tuple[list[str], list[str], str | None]


class CloudFront:
    """VPC origins, monitoring subscriptions and mended distribution answers."""

    def __init__(self, realism: Realism):
        self.realism = realism
        self.vpc_origins = VpcOrigins(self)
        self.distributions = Distributions(self)

    # ------------------------------------------- what the parts share --
    def now(self) -> float:
        return self.realism.clock()

    def settles_at(self) -> float:
        """When something that starts changing now settles: now + ``lifecycle_seconds`` (the
        window in force when the change starts, so a later change of it does not move it)."""
        return self.now() + self.realism.config.lifecycle_seconds

    def rules_on(self) -> bool:
        return self.realism.config.rules

    def reject(self, req: CfRequest, rule: str, code: str, status: int, message: str) -> Answer:
        """A realism refusal: recorded like the request rules', answered in CloudFront's form."""
        self.realism.record_rejection(req.operation, rule, message)
        req.realism_refused = True
        return error(code, status, f"{message} [realism rule {rule}]")

    def moto_get(self, path: str, access_key: str | None) -> tuple[int, Any, bytes] | None:
        """A CloudFront GET of the proxy's own to moto."""
        return upstream_raw(
            self.realism.upstream, access_key, "us-east-1", "cloudfront", "GET", path
        )

    def load_balancer(self, arn: str, access_key: str | None) -> LoadBalancer | bool | None:
        """Subnets, groups and VPC of an ELB ARN from moto; False if moto has no such load
        balancer, None if that cannot be told (not an ELB ARN, moto unreachable)."""
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "elasticloadbalancing":
            return None
        form = urllib.parse.urlencode(
            {
                "Action": "DescribeLoadBalancers",
                "Version": "2015-12-01",
                "LoadBalancerArns.member.1": arn,
            }
        ).encode()
        got = upstream_raw(
            self.realism.upstream,
            access_key,
            parts[3],
            "elasticloadbalancing",
            "POST",
            "/",
            form,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        if got is None:
            return None
        status, _headers, body = got
        text = body.decode("utf-8", "replace")
        if status != 200:
            return False if "LoadBalancerNotFound" in text else None
        subnets = re.findall(r"<SubnetId>([^<]+)</SubnetId>", text)
        groups_block = re.search(r"<SecurityGroups>(.*?)</SecurityGroups>", text, re.S)
        groups = re.findall(
            r"<member>([^<]+)</member>", groups_block.group(1) if groups_block else ""
        )
        vpc = re.search(r"<VpcId>([^<]+)</VpcId>", text)
        return subnets, groups, vpc.group(1) if vpc else None

    def vpc_origin_users(self, vpc_origin_id: str, access_key: str | None) -> list[str]:
        """The distributions (that moto still has) whose origins name the VPC origin."""
        users = []
        for dist_id in self.distributions.users_of(vpc_origin_id):
            got = self.moto_get(f"/2020-05-31/distribution/{dist_id}", access_key)
            if got is not None and got[0] == 404:
                self.distributions.forget(dist_id)
            else:
                users.append(dist_id)
        return users

    def _unusable_vpc_origin(self, req: CfRequest, sent: Sent | None) -> Answer | None:
        """A distribution may name only VPC origins that exist and are Deployed (``rules``)."""
        if sent is None or not self.rules_on():
            return None
        for origin_id, config in sent.vpc_configs.items():
            ident = str(config.get("VpcOriginId") or "")
            vo = self.vpc_origins.find(ident)
            status = self.vpc_origins.status(vo) if vo is not None else None
            if status in (None, "Deleting"):
                message = f"Origin {origin_id}: the VPC origin {ident!r} does not exist."
                return self.reject(
                    req, "cloudfront.VpcOriginConfig.deployed", "EntityNotFound", 404, message
                )
            if status != "Deployed":
                message = (
                    f"Origin {origin_id}: the VPC origin {ident} is {status}, not Deployed yet."
                )
                return self.reject(
                    req, "cloudfront.VpcOriginConfig.deployed", "InvalidArgument", 400, message
                )
        return None

    # ------------------------------------------------------ the entry --
    def handle(self, req: CfRequest, forward: Callable[[], Answer | None]) -> Answer:
        """The answer to one CloudFront call; ``forward()`` asks moto (None if it failed)."""
        try:
            return self._handle(req, forward)
        except Refusal as refusal:
            return refusal.answer

    def _handle(self, req: CfRequest, forward: Callable[[], Answer | None]) -> Answer:
        op = req.operation
        if op in VPC_ORIGIN_OPS:
            return self.vpc_origins.handle(req)
        if op in TAG_OPS and ":vpcorigin/" in (req.arg("Resource") or ""):
            resource = req.arg("Resource") or ""
            return self.vpc_origins.tagging(req, self.vpc_origins.by_arn(resource))
        if op in MONITORING_OPS:
            return self.distributions.monitoring_answer(req)
        if op == "ListDistributionsByWebACLId":
            return self.distributions.by_web_acl(req)
        sent = self.distributions.sent(req)
        refused = self._unusable_vpc_origin(req, sent) or self.distributions.refuse(req)
        if refused is not None:
            return refused
        answer = forward()
        if answer is None:
            return error("ServiceUnavailable", 503, "fault_proxy: moto could not be reached")
        return self.distributions.mend(req, answer, sent)
