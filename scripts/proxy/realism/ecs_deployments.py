"""ECS deployments in the realism mode: rollouts in progress and failed image pulls.

For ``lifecycle_seconds`` after CreateService / UpdateService the primary
deployment shows ``IN_PROGRESS`` (running count 0). With ``image_pulls`` on, a
service or RunTask whose task definition names an image of this account's ECR
that moto's ECR does not have fails as AWS does when the deployment circuit
breaker trips (``rolloutState`` ``FAILED``, ``CannotPullContainerError``);
its tasks show ``STOPPED`` / ``TaskFailedToStart``. Deployment alarms (the
``deploymentConfiguration.alarms`` moto drops, and deployments rolled back by
``deployment_alarm``) are :mod:`proxy.realism.deployment_alarms`'.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from proxy.realism.base import upstream_json
from proxy.realism.call import Call
from proxy.realism.deployment_alarms import DeploymentAlarmRealism

PULL_ERROR = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
    "resolve ref {image}: {image}: not found"
)
ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]+))?"
)


def arn_account(arn: Any) -> str | None:
    parts = str(arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


class EcsRealism(DeploymentAlarmRealism):
    """Records task definitions and deployments; rewrites DescribeServices / DescribeTasks.

    Deployment alarms (kept whatever the mode, and ``deployment_alarm``) are
    :class:`proxy.realism.deployment_alarms.DeploymentAlarmRealism`'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ecs_deployments: dict[str, tuple[float, str]] = {}  # service ARN -> (t, create|update)
        self.pull_failures: dict[str, str] = {}  # service ARN -> image
        self.failed_tasks: dict[str, str] = {}  # task ARN -> image
        self.task_images: dict[str, list[str]] = {}  # task definition ARN -> images

    def _ecs(self, call: Call, body: bytes) -> bytes:
        op = call.operation
        try:
            doc = json.loads(body.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            return body
        if not isinstance(doc, dict):
            return body
        if op == "RegisterTaskDefinition":
            td = doc.get("taskDefinition") or {}
            arn = td.get("taskDefinitionArn")
            if arn:
                images = [c.get("image", "") for c in td.get("containerDefinitions") or []]
                with self.lock:
                    self.task_images[arn] = images
            return body
        mended = self._deployment_alarms(call, doc)
        if not self.config.active:
            return json.dumps(doc).encode() if mended else body
        changed = False
        if op in ("CreateService", "UpdateService"):
            svc = doc.get("service") or {}
            arn = svc.get("serviceArn")
            if arn:
                with self.lock:
                    self.ecs_deployments[arn] = (
                        self.clock(),
                        "create" if op == "CreateService" else "update",
                    )
                self._check_service_images(call, svc)
                changed = self._rewrite_service(svc)
        elif op == "RunTask":
            self._check_task_images(call, doc)
        elif op == "DescribeServices":
            for svc in doc.get("services") or []:
                changed = self._rewrite_service(svc) or changed
        elif op == "DescribeTasks":
            for task in doc.get("tasks") or []:
                changed = self._rewrite_task(task) or changed
        if changed:
            self._bump(op)
        return json.dumps(doc).encode() if changed or mended else body

    def _rewrite_service(self, svc: dict[str, Any]) -> bool:
        arn = svc.get("serviceArn")
        with self.lock:
            deployed = self.ecs_deployments.get(arn)
            failed_image = self.pull_failures.get(arn) if self.config.image_pulls else None
        primary = next(
            (d for d in svc.get("deployments") or [] if d.get("status") == "PRIMARY"), None
        )
        if deployed is None or primary is None:
            return False
        started, kind = deployed
        in_window = self.clock() - started < self.config.lifecycle_seconds
        if in_window:
            primary["rolloutState"] = "IN_PROGRESS"
            primary["rolloutStateReason"] = f"ECS deployment {primary.get('id', '')} in progress."
            primary["runningCount"] = 0
            primary["pendingCount"] = primary.get("desiredCount", svc.get("desiredCount", 0))
            if kind == "create":
                svc["runningCount"] = 0
                svc["pendingCount"] = svc.get("desiredCount", 0)
            return True
        if failed_image:
            reason = PULL_ERROR.format(image=failed_image)
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = (
                f"ECS deployment circuit breaker: tasks failed to start. {reason}"
            )
            primary["runningCount"] = 0
            primary["pendingCount"] = 0
            primary["failedTasks"] = max(int(primary.get("failedTasks") or 0), 1)
            svc["runningCount"] = 0
            svc["pendingCount"] = 0
            name = svc.get("serviceName", "")
            event = {
                "id": str(uuid.uuid4()),
                "createdAt": time.time(),
                "message": f"(service {name}) is unable to consistently start tasks "
                f"successfully. {reason}",
            }
            svc["events"] = [event, *(svc.get("events") or [])]
            return True
        return False

    def _rewrite_task(self, task: dict[str, Any]) -> bool:
        with self.lock:
            image = self.failed_tasks.get(task.get("taskArn", ""))
        if not image or not self.config.image_pulls:
            return False
        reason = PULL_ERROR.format(image=image)
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = "TaskFailedToStart"
        task["stoppedReason"] = reason
        for container in task.get("containers") or []:
            container["lastStatus"] = "STOPPED"
            if container.get("image") == image:
                container["reason"] = reason
        return True

    def _check_service_images(self, call: Call, svc: dict[str, Any]) -> None:
        arn = svc["serviceArn"]
        if not self.config.image_pulls:
            return
        desired = svc.get("desiredCount", call.first("desiredCount")) or 0
        missing = None
        if desired:
            missing = self._missing_image(call, svc.get("taskDefinition"))
        with self.lock:
            if missing:
                self.pull_failures[arn] = missing
                self.image_pull_failures.append(
                    {"operation": call.operation, "service": arn, "image": missing}
                )
            else:
                self.pull_failures.pop(arn, None)

    def _check_task_images(self, call: Call, doc: dict[str, Any]) -> None:
        if not self.config.image_pulls:
            return
        for task in doc.get("tasks") or []:
            missing = self._missing_image(call, task.get("taskDefinitionArn"))
            if missing:
                with self.lock:
                    self.failed_tasks[task.get("taskArn", "")] = missing
                    self.image_pull_failures.append(
                        {"operation": call.operation, "task": task.get("taskArn"), "image": missing}
                    )

    def _missing_image(self, call: Call, task_definition: Any) -> str | None:
        """The first image of the task definition in this account's ECR that is not there."""
        if not task_definition:
            return None
        account = arn_account(task_definition)
        with self.lock:
            images = self.task_images.get(str(task_definition))
        if images is None:
            images = self._upstream_task_images(call, str(task_definition))
        for image in images:
            m = ECR_IMAGE.fullmatch(image)
            if not m or (account and m.group("account") != account):
                continue
            if self._ecr_has_image(call, m) is False:
                return image
        return None

    def _upstream_json(
        self, call: Call, signing: str, target: str, payload: dict[str, Any], region: str | None
    ) -> tuple[int, dict[str, Any]] | None:
        region = region or call.region or "us-east-1"
        return upstream_json(self.upstream, call.access_key, region, signing, target, payload)

    def _upstream_task_images(self, call: Call, task_definition: str) -> list[str]:
        got = self._upstream_json(
            call,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            {"taskDefinition": task_definition},
            None,
        )
        if not got or got[0] != 200:
            return []
        td = got[1].get("taskDefinition") or {}
        images = [c.get("image", "") for c in td.get("containerDefinitions") or []]
        if td.get("taskDefinitionArn"):
            with self.lock:
                self.task_images[td["taskDefinitionArn"]] = images
        return images

    def _ecr_has_image(self, call: Call, m: re.Match[str]) -> bool | None:
        image_id = (
            {"imageDigest": m.group("digest")}
            if m.group("digest")
            else {"imageTag": m.group("tag") or "latest"}
        )
        got = self._upstream_json(
            call,
            "ecr",
            "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
            {
                "registryId": m.group("account"),
                "repositoryName": m.group("repo"),
                "imageIds": [image_id],
            },
            m.group("region"),
        )
        if got is None:
            return None
        status, doc = got
        if status == 200:
            return bool(doc.get("imageDetails"))
        kind = str(doc.get("__type") or "").rsplit("#", 1)[-1]
        if kind in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        return None
