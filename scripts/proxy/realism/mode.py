"""The realism mode itself: :class:`Realism`, its rule table and its request / response hooks.

:class:`Realism` combines the per-service hooks (EC2, ECS, ELBv2, RDS, SNS,
and the deletes refused while something uses the resource) on top of
:class:`proxy.realism.base.RealismBase`. The proxy asks
:meth:`Realism.check_request` whether to refuse a call (a broken rule, a
resource still in use, or an EC2 id not visible yet) and passes moto's answer
through :meth:`Realism.on_response`. CloudFront's answers are handled by
:mod:`proxy.cloudfront`, which reads this configuration and clock.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any
from xml.parsers.expat import ExpatError

from proxy.realism import alarms, cloudfront, ec2, ecs, elb, iam, others, rds, s3, wafv2
from proxy.realism.alarms import SnsRealism
from proxy.realism.base import Rejection, Upstream
from proxy.realism.call import Call
from proxy.realism.checks import Rule
from proxy.realism.config import RealismConfig
from proxy.realism.ec2 import Ec2Realism
from proxy.realism.ecs_deployments import EcsRealism
from proxy.realism.elb import ElbRealism
from proxy.realism.in_use import STATE_RULES, InUseRealism
from proxy.realism.rds import RdsRealism

#: The documented request constraints checked in ``rules`` mode, every service's.
RULES: list[Rule] = [
    *ec2.RULES,
    *ecs.RULES,
    *rds.RULES,
    *elb.RULES,
    *iam.RULES,
    *s3.RULES,
    *alarms.RULES,
    *cloudfront.RULES,
    *wafv2.RULES,
    *others.RULES,
]

#: Calls whose answers are recorded even while the realism mode is off, so that
#: turning it on later still knows topic keys and task definitions.
ALWAYS_OBSERVED = frozenset(
    {
        "CreateTopic",
        "SetTopicAttributes",
        "DeleteTopic",
        "RegisterTaskDefinition",
        # moto drops Performance Insights: kept and shown again (RdsRealism).
        "CreateDBInstance",
        "ModifyDBInstance",
        "DescribeDBInstances",
        # moto drops deploymentConfiguration.alarms on create: kept and shown again,
        # and deployments deployment_alarm rolls back (DeploymentAlarmRealism).
        "CreateService",
        "UpdateService",
        "DescribeServices",
        "DeleteService",
    }
)


class Realism(Ec2Realism, EcsRealism, ElbRealism, RdsRealism, SnsRealism, InUseRealism):
    """State and hooks of the realism mode (thread-safe)."""

    def __init__(
        self,
        config: RealismConfig | None = None,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(config, upstream, clock)
        self.rules = RULES

    def violations_json(self) -> dict[str, Any]:
        with self.lock:
            rejections = list(self.rejections)
        return {"count": len(rejections), "violations": rejections, "rules": len(self.rules)}

    def rules_json(self) -> list[dict[str, Any]]:
        """The request rules (``kind`` ``request``), then the refusals that depend on state
        (``kind`` ``state``, :data:`proxy.realism.in_use.STATE_RULES`)."""
        return [r.to_json() | {"kind": "request"} for r in self.rules] + [
            r.to_json() | {"kind": "state"} for r in STATE_RULES
        ]

    # -- request side --
    def check_request(self, call: Call) -> Rejection | None:
        """The refusal of ``call``, if any; for a call that passes, what the answer's
        hooks need to know beforehand is noted on it (``call.notes``)."""
        rejection = self._refusal(call)
        if rejection is None and call.service == "ecs":
            self._before_ecs_forward(call)
        return rejection

    def _refusal(self, call: Call) -> Rejection | None:
        cfg = self.config
        if cfg.rules:
            for rule in self.rules:
                if not rule.applies(call):
                    continue
                with self.lock:
                    message = rule.check(call, self.rule_state)
                if message:
                    self.record_rejection(call.operation, rule.id, message)
                    return Rejection(rule.code, rule.status, f"{message} [realism rule {rule.id}]")
            rejection = self._in_use(call)
            if rejection is not None:
                return rejection
        if cfg.eventual_consistency_seconds > 0:
            return self._not_yet_visible(call, cfg.eventual_consistency_seconds)
        return None

    # -- response side --
    def on_response(self, call: Call, status: int, body: bytes) -> bytes:
        """Record what a successful call created; rewrite describe answers."""
        if not 200 <= status < 300:
            return body
        try:
            if call.protocol == "ec2":
                return self._ec2(call, body)
            if call.service == "elasticloadbalancing":
                return self._elb(call, body)
            if call.service == "rds":
                return self._rds(call, body)
            if call.service == "ecs":
                return self._ecs(call, body)
            if call.service == "sns":
                self._sns(call)
        except (ExpatError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # A body we cannot parse is passed on unchanged.
            sys.stderr.write(f"fault_proxy realism: left {call.operation} answer alone: {exc}\n")
        return body
