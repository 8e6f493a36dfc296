"""What the realism mode's per-service hooks share: state, clock, counters, XML helpers.

:class:`RealismBase` holds the configuration, the lock, the clock, the rule
state and the counters reported in the stats. Each service module adds its
hooks as a subclass of it (``Ec2Realism``, ``EcsRealism``, ...), which
:class:`proxy.realism.mode.Realism` combines; each adds the tables it needs in
its ``__init__``. Time windows (:meth:`RealismBase._young`) and the rewriting
of resource states in XML answers (:meth:`RealismBase._rewrite_states`) are
the lifecycle machinery they have in common.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.dom import minidom

from proxy.realism.checks import RuleState
from proxy.realism.config import RealismConfig

#: callable(method, path, headers, body) -> (status, headers, body), for the
#: proxy's own calls to moto (ECR DescribeImages, ECS DescribeTaskDefinition /
#: DescribeServices / UpdateService, CloudWatch SetAlarmState).
Upstream = Callable[[str, str, list[tuple[str, str]], bytes], tuple[int, Any, bytes]]


@dataclass
class Rejection:
    """The error a refused request is answered with."""

    code: str
    status: int
    message: str


# ------------------------------------------------------------------- XML --
def first_tag(body: bytes, tag: str) -> str | None:
    m = re.search(rf"<{tag}>([^<]+)</{tag}>".encode(), body)
    return m.group(1).decode() if m else None


def children(node: minidom.Element, name: str) -> list[minidom.Element]:
    return [c for c in node.childNodes if isinstance(c, minidom.Element) and c.tagName == name]


def child(node: minidom.Element, name: str) -> minidom.Element | None:
    found = children(node, name)
    return found[0] if found else None


def text(node: minidom.Element | None) -> str | None:
    if node is None:
        return None
    return "".join(c.data for c in node.childNodes if isinstance(c, minidom.Text)).strip()


def set_text(node: minidom.Element, value: str) -> None:
    for c in list(node.childNodes):
        node.removeChild(c)
    node.appendChild(node.ownerDocument.createTextNode(value))


#: (resource id, its state element) for each resource of an XML answer.
StateFinder = Callable[[minidom.Document], Iterable[tuple[str | None, minidom.Element | None]]]


class RealismBase:
    """Configuration, lock, clock, rule state and counters of the realism mode."""

    def __init__(
        self,
        config: RealismConfig | None = None,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lock = threading.Lock()
        self.config = config or RealismConfig()
        self.upstream = upstream
        self.clock = clock
        self.rule_state = RuleState()
        self.reset_counters()

    def configure(self, config: RealismConfig) -> None:
        with self.lock:
            self.config = config

    def reset_counters(self) -> None:
        with self.lock:
            self.rejections: list[dict[str, Any]] = []
            self.ec_rejections: list[dict[str, Any]] = []
            self.rewrites: dict[str, int] = {}
            self.image_pull_failures: list[dict[str, Any]] = []
            self.deployment_alarm_rollbacks: list[dict[str, Any]] = []

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "realism_rejections": list(self.rejections),
                "eventual_consistency_rejections": list(self.ec_rejections),
                "lifecycle_rewrites": dict(self.rewrites),
                "image_pull_failures": list(self.image_pull_failures),
                "deployment_alarm_rollbacks": list(self.deployment_alarm_rollbacks),
            }

    def record_rejection(self, operation: str, rule: str, message: str) -> None:
        """Count a refused call in ``realism_rejections`` and the violations list."""
        with self.lock:
            self.rejections.append({"operation": operation, "rule": rule, "message": message})

    def _bump(self, operation: str) -> None:
        """Count an answer of ``operation`` that a hook rewrote."""
        with self.lock:
            self.rewrites[operation] = self.rewrites.get(operation, 0) + 1

    def _young(self, table: dict[str, float], key: str | None) -> bool:
        """``key`` was recorded in ``table`` less than ``lifecycle_seconds`` ago."""
        window = self.config.lifecycle_seconds
        if key is None or window <= 0:
            return False
        with self.lock:
            t = table.get(key)
        return t is not None and self.clock() - t < window

    def _rewrite_states(
        self,
        operation: str,
        body: bytes,
        find: StateFinder,
        transitions: list[tuple[str, str, dict[str, float]]],
    ) -> bytes:
        """Show young resources of an XML answer in their pending state.

        For each (id, state element) that ``find`` yields, the first
        ``(settled, pending, table)`` of ``transitions`` whose ``settled`` state
        it has and whose ``table`` holds the id as young sets it to ``pending``.
        """
        dom = minidom.parseString(body)
        changed = False
        for ident, state in find(dom):
            if state is None:
                continue
            current = text(state)
            for settled, pending, table in transitions:
                if current == settled and self._young(table, ident):
                    set_text(state, pending)
                    changed = True
                    break
        if not changed:
            return body
        self._bump(operation)
        return dom.toxml(encoding="utf-8")


# ------------------------------------------------------- calls to moto --
def signed_headers(access_key: str | None, region: str, signing: str) -> list[tuple[str, str]]:
    """Headers that make moto take a call as ``signing`` in ``region`` (it checks no signature)."""
    akid = access_key or "testing"
    return [
        ("X-Amz-Date", "20250101T000000Z"),
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={akid}/20250101/{region}/{signing}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=0",
        ),
    ]


def upstream_json(
    upstream: Upstream | None,
    access_key: str | None,
    region: str,
    signing: str,
    target: str,
    payload: dict[str, Any],
) -> tuple[int, dict[str, Any]] | None:
    """A JSON 1.1 call of the proxy's own to moto: (status, answer), None if it failed."""
    if upstream is None:
        return None
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target)]
    headers += signed_headers(access_key, region, signing)
    try:
        status, _headers, data = upstream("POST", "/", headers, json.dumps(payload).encode())
        parsed = json.loads(data.decode() or "{}")
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return status, parsed if isinstance(parsed, dict) else {}


def upstream_raw(
    upstream: Upstream | None,
    access_key: str | None,
    region: str,
    signing: str,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
) -> tuple[int, Any, bytes] | None:
    """A REST or query call of the proxy's own to moto; None if it failed."""
    if upstream is None:
        return None
    headers = signed_headers(access_key, region, signing)
    if content_type:
        headers.append(("Content-Type", content_type))
    try:
        return upstream(method, path, headers, body)
    except OSError:
        return None
