"""ECS deployment alarms: what moto drops of them, and deployments they roll back.

Always (realism mode on or off): moto 5.2.5's CreateService drops the whole
``deploymentConfiguration`` (UpdateService keeps what it is given). The proxy
keeps ``deploymentConfiguration.alarms`` of each CreateService / UpdateService
request and puts it back into Create/Update/DescribeServices answers that lack
it, as ECS answers it (an UpdateService whose ``deploymentConfiguration`` has no
``alarms`` removes them, as moto does with the rest of it).

``deployment_alarm`` (realism setting: an alarm name, ``*`` for the first alarm
the service's deployment configuration names, or null): the next UpdateService
that changes the task definition of a service whose
``deploymentConfiguration.alarms`` has ``enable`` and ``rollback`` true and names
that alarm is rolled back as ECS does when a deployment alarm goes into
``ALARM``. The setting then clears itself (``GET /__proxy/config`` shows null
again); a deployment of a service that does not watch the alarm leaves it set.
Before forwarding the UpdateService the proxy asks moto for the service's task
definition. Until ``lifecycle_seconds`` (as in force then) have passed,
Update/DescribeServices show the new deployment ``PRIMARY`` / ``IN_PROGRESS`` on
the new task definition (its id stays the id of the failed deployment) and the
previous one ``ACTIVE``. Then, on the next call through the proxy, (1) the
alarm is put into ``ALARM`` in moto (CloudWatch SetAlarmState; an alarm that
does not exist is left alone), (2) the service is updated in moto back to the
previous task definition, and (3) DescribeServices shows a ``PRIMARY``
deployment (new id, ``COMPLETED``) on the previous task definition and the
failed one on the new task definition with ``status`` ``INACTIVE``,
``rolloutState`` ``FAILED`` and :data:`REASON` as ``rolloutStateReason``, and a
service event saying the same. A later CreateService / DeleteService, or an
UpdateService that starts another deployment (another task definition, or
``forceNewDeployment``), ends it (before the window is over: no rollback).
Recorded in the stats under ``deployment_alarm_rollbacks``. Not emulated: a
deployment that fails without rolling back (``rollback`` false), the bake time,
and the rollback deployment's own ``IN_PROGRESS`` phase.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, replace
from typing import Any

from proxy.realism.base import RealismBase, upstream_json, upstream_raw
from proxy.realism.call import Call

ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
#: ``rolloutStateReason`` of a deployment a deployment alarm rolled back.
REASON = (
    "ECS deployment {deployment} rolled back: the CloudWatch alarm(s) {alarms} went into "
    "ALARM state during the deployment"
)
ALARM_REASON = (
    "Threshold Crossed: set by the fault proxy (realism deployment_alarm) during ECS "
    "deployment {deployment} of service {service}"
)


def last_segment(value: Any) -> str:
    """``arn:...:service/cluster/name`` or ``name`` -> ``name``."""
    return str(value or "").rsplit("/", 1)[-1]


def arn_region(arn: Any) -> str | None:
    parts = str(arn or "").split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


@dataclass
class AlarmRollback:
    """A deployment a deployment alarm rolls back (``done`` once it did)."""

    service: str  # service ARN
    name: str  # service name
    cluster: str  # cluster name
    region: str
    access_key: str | None
    alarm: str
    previous: str  # task definition ARN before the deployment
    target: str  # task definition ARN of the deployment that fails
    deployment: str  # id of the deployment that fails
    started: float  # clock()
    started_at: float  # time.time()
    window: float
    done: bool = False
    rollback: str = ""  # id of the deployment on ``previous``
    settled_at: float = 0.0
    event: str = ""

    @property
    def reason(self) -> str:
        return REASON.format(deployment=self.deployment, alarms=self.alarm)


class DeploymentAlarmRealism(RealismBase):
    """Keeps ``deploymentConfiguration.alarms``; rolls deployments back on ``deployment_alarm``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_alarms: dict[str, dict[str, Any]] = {}  # service ARN -> alarms
        self.alarm_rollbacks: dict[str, AlarmRollback] = {}  # service ARN -> rollback
        # Held while a rollback is carried out in moto and while a call that may
        # end one is looked at, so neither overtakes the other.
        self.settle_lock = threading.Lock()

    # -- answers (always) --
    def _deployment_alarms(self, call: Call, doc: dict[str, Any]) -> bool:
        """Mend Create/Update/DescribeServices answers; arm a rollback. True if changed."""
        op = call.operation
        if op in ("CreateService", "UpdateService"):
            services = [doc["service"]] if isinstance(doc.get("service"), dict) else []
        elif op == "DescribeServices":
            services = [s for s in doc.get("services") or [] if isinstance(s, dict)]
        else:
            return False
        if op in ("CreateService", "UpdateService") and services:
            self._keep_alarms(call, services[0])
        changed = False
        for svc in services:
            changed = self._put_back_alarms(svc) or changed
        if op == "UpdateService" and services:
            self._arm(call, services[0])
        if op != "CreateService":
            for svc in services:
                changed = self._show_rollback(svc) or changed
        return changed

    def _keep_alarms(self, call: Call, svc: dict[str, Any]) -> None:
        arn = svc.get("serviceArn")
        config = call.doc.get("deploymentConfiguration")
        if not arn or (call.operation == "UpdateService" and config is None):
            return
        alarms = config.get("alarms") if isinstance(config, dict) else None
        with self.lock:
            if isinstance(alarms, dict):
                self.kept_alarms[arn] = alarms
            else:
                self.kept_alarms.pop(arn, None)

    def _put_back_alarms(self, svc: dict[str, Any]) -> bool:
        with self.lock:
            alarms = self.kept_alarms.get(svc.get("serviceArn", ""))
        config = svc.get("deploymentConfiguration")
        if alarms is None or (isinstance(config, dict) and "alarms" in config):
            return False
        if not isinstance(config, dict):
            config = svc["deploymentConfiguration"] = {}
        config["alarms"] = dict(alarms)
        return True

    # -- requests --
    def _before_ecs_forward(self, call: Call) -> None:
        """End rollbacks a call supersedes; note the service's task definition before
        an UpdateService that ``deployment_alarm`` may roll back."""
        op = call.operation
        if op not in ("CreateService", "UpdateService", "DeleteService"):
            return
        cluster = last_segment(call.first("cluster") or "default")
        name = last_segment(call.first("serviceName" if op == "CreateService" else "service"))
        if self.alarm_rollbacks:
            with self.settle_lock:
                with self.lock:
                    found = next(
                        (
                            e
                            for e in self.alarm_rollbacks.values()
                            if (e.cluster, e.name) == (cluster, name)
                        ),
                        None,
                    )
                if found is not None and (
                    op != "UpdateService" or self._starts_deployment(call, found)
                ):
                    with self.lock:
                        if self.alarm_rollbacks.get(found.service) is found:
                            del self.alarm_rollbacks[found.service]
        if op == "UpdateService" and self.config.deployment_alarm and call.first("taskDefinition"):
            got = upstream_json(
                self.upstream,
                call.access_key,
                call.region or "us-east-1",
                "ecs",
                ECS_TARGET + "DescribeServices",
                {"cluster": call.first("cluster") or "default", "services": [name]},
            )
            services = got[1].get("services") if got and got[0] == 200 else None
            if services and isinstance(services[0], dict):
                call.notes["service_before"] = services[0]

    def _starts_deployment(self, call: Call, entry: AlarmRollback) -> bool:
        if call.first("forceNewDeployment") is True:
            return True
        given = call.first("taskDefinition")
        if not given:
            return False
        current = entry.previous if entry.done else entry.target
        return self._task_definition_arn(call.access_key, entry.region, given) != current

    def _task_definition_arn(self, access_key: str | None, region: str, td: Any) -> str:
        """The ARN of ``family``, ``family:revision`` or an ARN (moto keeps what it is given)."""
        td = str(td or "")
        if not td or td.startswith("arn:"):
            return td
        got = upstream_json(
            self.upstream,
            access_key,
            region,
            "ecs",
            ECS_TARGET + "DescribeTaskDefinition",
            {"taskDefinition": td},
        )
        if got and got[0] == 200:
            return str((got[1].get("taskDefinition") or {}).get("taskDefinitionArn") or td)
        return td

    # -- arming --
    def _arm(self, call: Call, svc: dict[str, Any]) -> None:
        before = call.notes.get("service_before")
        wanted = self.config.deployment_alarm
        arn = svc.get("serviceArn")
        if not before or not wanted or not arn:
            return
        alarms = (svc.get("deploymentConfiguration") or {}).get("alarms") or {}
        names = [str(n) for n in alarms.get("alarmNames") or []]
        if not (alarms.get("enable") is True and alarms.get("rollback") is True and names):
            return
        alarm = names[0] if wanted == "*" else wanted
        if alarm not in names:
            return
        region = arn_region(arn) or call.region or "us-east-1"
        target = self._task_definition_arn(call.access_key, region, svc.get("taskDefinition"))
        previous = self._task_definition_arn(call.access_key, region, before.get("taskDefinition"))
        if not target or not previous or target == previous:
            return
        entry = AlarmRollback(
            service=arn,
            name=str(svc.get("serviceName") or last_segment(arn)),
            cluster=last_segment(svc.get("clusterArn") or call.first("cluster") or "default"),
            region=region,
            access_key=call.access_key,
            alarm=alarm,
            previous=previous,
            target=target,
            deployment=deployment_id(),
            started=self.clock(),
            started_at=time.time(),
            window=self.config.lifecycle_seconds,
        )
        with self.lock:
            if self.config.deployment_alarm != wanted:
                return  # a concurrent deployment took it
            self.config = replace(self.config, deployment_alarm=None)
            self.alarm_rollbacks[arn] = entry

    # -- rolling back --
    def _due(self) -> list[AlarmRollback]:
        with self.lock:
            now = self.clock()
            return [
                e
                for e in self.alarm_rollbacks.values()
                if not e.done and now - e.started >= e.window
            ]

    def settle_deployments(self) -> None:
        """Carry out the rollbacks whose window is over (the proxy calls this first for
        every AWS call, so what any later answer shows is already the case in moto)."""
        if not self.alarm_rollbacks or not self._due():
            return
        with self.settle_lock:
            for entry in self._due():
                self._roll_back(entry)

    def _roll_back(self, e: AlarmRollback) -> None:
        alarm_set = self._set_alarm_state(e)
        got = upstream_json(
            self.upstream,
            e.access_key,
            e.region,
            "ecs",
            ECS_TARGET + "UpdateService",
            {"cluster": e.cluster, "service": e.name, "taskDefinition": e.previous},
        )
        rolled_back = got is not None and got[0] == 200
        with self.lock:
            if self.alarm_rollbacks.get(e.service) is not e:
                return
            if not rolled_back:
                del self.alarm_rollbacks[e.service]
            else:
                e.done = True
                e.rollback = deployment_id()
                e.settled_at = time.time()
                e.event = str(uuid.uuid4())
            self.deployment_alarm_rollbacks.append(
                {
                    "service": e.service,
                    "alarm": e.alarm,
                    "alarm_set": alarm_set,
                    "deployment": e.deployment,
                    "task_definition": e.target,
                    "rolled_back_to": e.previous if rolled_back else None,
                }
            )

    def _set_alarm_state(self, e: AlarmRollback) -> bool | None:
        """SetAlarmState ALARM in moto: True if set, False if refused (no such alarm),
        None if the call failed."""
        body = urllib.parse.urlencode(
            {
                "Action": "SetAlarmState",
                "Version": "2010-08-01",
                "AlarmName": e.alarm,
                "StateValue": "ALARM",
                "StateReason": ALARM_REASON.format(deployment=e.deployment, service=e.name),
            }
        ).encode()
        got = upstream_raw(
            self.upstream,
            e.access_key,
            e.region,
            "monitoring",
            "POST",
            "/",
            body,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        return None if got is None else 200 <= got[0] < 300

    # -- what answers show --
    def _show_rollback(self, svc: dict[str, Any]) -> bool:
        with self.lock:
            e = self.alarm_rollbacks.get(svc.get("serviceArn", ""))
        if e is None:
            return False
        deployments = [d for d in svc.get("deployments") or [] if isinstance(d, dict)]
        base = next(
            (d for d in deployments if d.get("status") == "PRIMARY"),
            deployments[0] if deployments else {},
        )
        desired = svc.get("desiredCount", base.get("desiredCount", 0))
        if not e.done:
            new = base | {
                "id": e.deployment,
                "status": "PRIMARY",
                "taskDefinition": e.target,
                "desiredCount": desired,
                "runningCount": 0,
                "pendingCount": desired,
                "failedTasks": 0,
                "createdAt": e.started_at,
                "updatedAt": e.started_at,
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": f"ECS deployment {e.deployment} in progress.",
            }
            old = base | {"status": "ACTIVE", "taskDefinition": e.previous}
            svc["deployments"] = [new, old]
            return True
        primary = base | {
            "id": e.rollback,
            "status": "PRIMARY",
            "taskDefinition": e.previous,
            "createdAt": e.settled_at,
            "updatedAt": e.settled_at,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {e.rollback} completed.",
        }
        failed = base | {
            "id": e.deployment,
            "status": "INACTIVE",
            "taskDefinition": e.target,
            "desiredCount": 0,
            "runningCount": 0,
            "pendingCount": 0,
            "failedTasks": 0,
            "createdAt": e.started_at,
            "updatedAt": e.settled_at,
            "rolloutState": "FAILED",
            "rolloutStateReason": e.reason,
        }
        svc["deployments"] = [primary, failed]
        event = {
            "id": e.event,
            "createdAt": e.settled_at,
            "message": f"(service {e.name}) {e.reason}.",
        }
        others = [ev for ev in svc.get("events") or [] if ev.get("id") != e.event]
        svc["events"] = [event, *others]
        return True
