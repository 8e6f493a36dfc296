"""ECS request rules of the realism mode (Amazon ECS API Reference).

Client tokens, service / cluster / family / container names, Fargate task
sizes (cpu-memory pairs) and stop timeouts. The deployment and image-pull
behaviour of ECS is in :mod:`proxy.realism.ecs_deployments`.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.realism.call import Call
from proxy.realism.checks import Check, Rule, RuleState, each, length, number, pattern

ECS_REF = "Amazon ECS API Reference"
ECS_NAME = r"[A-Za-z0-9_-]+"


# Fargate task size: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4097, 1024)),
    1024: frozenset(range(2048, 8193, 1024)),
    2048: frozenset(range(4096, 16385, 1024)),
    4096: frozenset(range(8192, 30721, 1024)),
    8192: frozenset(range(16384, 61441, 4096)),
    16384: frozenset(range(32768, 122881, 8192)),
}


def _task_size(value: Any, unit: str) -> int | None:
    """ECS accepts ``1024`` or ``1 vCPU`` / ``2 GB``; returns CPU units / MiB."""
    text = str(value).strip()
    m = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{unit}", text, re.IGNORECASE)
    if m:
        return int(float(m.group(1)) * 1024)
    return int(text) if text.isdigit() else None


def _is_fargate(call: Call) -> bool:
    return "FARGATE" in [str(c).upper() for c in call.values("requiresCompatibilities[]")]


def fargate_task_size(call: Call, _state: RuleState) -> str | None:
    if not _is_fargate(call):
        return None
    cpu = _task_size(call.first("cpu"), "vCPU")
    mem = _task_size(call.first("memory"), "GB")
    if cpu not in FARGATE_SIZES:
        return f"Invalid 'cpu' setting for task: {call.first('cpu')!r} is not a Fargate CPU size"
    if mem not in FARGATE_SIZES[cpu]:
        return (
            f"No Fargate configuration exists for given values: cpu {cpu} with memory "
            f"{call.first('memory')!r}"
        )
    return None


def fargate_stop_timeout(call: Call, _state: RuleState) -> str | None:
    if not _is_fargate(call):
        return None
    for value in call.values("containerDefinitions[].stopTimeout"):
        n = number(value)
        if n is not None and n > 120:
            return f"Invalid stopTimeout {value}: the maximum on Fargate is 120 seconds"
    return None


def ecs_name(locator: str) -> Check:
    """Up to 255 letters, numbers, underscores and hyphens (ECS resource names)."""
    return each(
        locator,
        length(1, 255),
        pattern(ECS_NAME, "only letters, numbers, underscores and hyphens are allowed"),
    )


#: The documented ECS request constraints checked in ``rules`` mode.
RULES: list[Rule] = [
    Rule(
        "ecs.CreateService.clientToken",
        "ecs",
        ("CreateService", "UpdateService"),
        "clientToken",
        each(
            "clientToken",
            length(1, 36),
            pattern(r"[\x21-\x7e]+", "must be ASCII characters 33-126"),
        ),
        "InvalidParameterException",
        f"{ECS_REF}, CreateService: clientToken - An identifier that you provide to ensure the "
        "idempotency of the request. It must be unique and is case sensitive. Up to 36 ASCII "
        "characters in the range of 33-126 (inclusive) are allowed. (UpdateService takes no "
        "clientToken; it is checked the same way if one is sent.)",
    ),
    Rule(
        "ecs.RunTask.clientToken",
        "ecs",
        ("RunTask",),
        "clientToken",
        each("clientToken", length(1, 64), pattern(r"[\x21-\x7e]+", "must be ASCII")),
        "InvalidParameterException",
        f"{ECS_REF}, RunTask: clientToken - Up to 64 ASCII characters are allowed.",
    ),
    Rule(
        "ecs.CreateService.serviceName",
        "ecs",
        ("CreateService",),
        "serviceName",
        ecs_name("serviceName"),
        "InvalidParameterException",
        f"{ECS_REF}, CreateService: serviceName - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.CreateCluster.clusterName",
        "ecs",
        ("CreateCluster",),
        "clusterName",
        ecs_name("clusterName"),
        "InvalidParameterException",
        f"{ECS_REF}, CreateCluster: clusterName - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.family",
        "ecs",
        ("RegisterTaskDefinition",),
        "family",
        ecs_name("family"),
        "ClientException",
        f"{ECS_REF}, RegisterTaskDefinition: family - Up to 255 letters (uppercase and "
        "lowercase), numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.containerName",
        "ecs",
        ("RegisterTaskDefinition",),
        "containerDefinitions.N.name",
        ecs_name("containerDefinitions[].name"),
        "ClientException",
        f"{ECS_REF}, ContainerDefinition: name - Up to 255 letters (uppercase and lowercase), "
        "numbers, underscores, and hyphens are allowed.",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.fargate-cpu-memory",
        "ecs",
        ("RegisterTaskDefinition",),
        "cpu / memory (requiresCompatibilities FARGATE)",
        fargate_task_size,
        "ClientException",
        f"{ECS_REF}, RegisterTaskDefinition: cpu / memory - If you use the Fargate launch type, "
        "you must use one of the following values ... 256 (.25 vCPU): 512, 1024, 2048; 512: "
        "1024-4096; 1024: 2048-8192; 2048: 4096-16384 in 1024 steps; 4096: 8192-30720 in 1024 "
        "steps; 8192: 16384-61440 in 4096 steps; 16384: 32768-122880 in 8192 steps (Amazon ECS "
        "Developer Guide, 'Troubleshoot Amazon ECS task definition invalid CPU or memory "
        "errors': ClientException Invalid 'cpu' setting for task)",
    ),
    Rule(
        "ecs.RegisterTaskDefinition.stopTimeout",
        "ecs",
        ("RegisterTaskDefinition",),
        "containerDefinitions.N.stopTimeout (requiresCompatibilities FARGATE)",
        fargate_stop_timeout,
        "ClientException",
        f"{ECS_REF}, ContainerDefinition: stopTimeout - For tasks that use the Fargate launch "
        "type, the max stop timeout value is 120 seconds.",
    ),
]
