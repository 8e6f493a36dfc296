"""Configuration and counters of the proxy, shared by all request threads."""

from __future__ import annotations

import random
import threading
from typing import Any

from proxy.cloudfront.emulator import CloudFront
from proxy.faults import FailRule
from proxy.realism.config import RealismConfig
from proxy.realism.mode import Realism


class ProxyState:
    """Configuration plus counters, shared by all handler threads."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        throttle_rate: float = 0.0,
        seed: int | None = 0,
        fail: list[Any] | None = None,
        throttle_operations: list[str] | None = None,
        realism: RealismConfig | None = None,
    ):
        self.lock = threading.Lock()
        self.realism = Realism(realism)
        self.cloudfront = CloudFront(self.realism)
        self.latency_ms = 0.0
        self.throttle_rate = 0.0
        self.seed = seed
        self.rng = random.Random(seed)
        self.fail_rules: list[FailRule] = []
        self.throttle_operations: set[str] | None = None
        self.update(
            {
                "latency_ms": latency_ms,
                "throttle_rate": throttle_rate,
                "fail": fail or [],
                "throttle_operations": throttle_operations,
            }
        )
        self.reset_counters()

    # -- configuration --
    def update(self, cfg: dict[str, Any]) -> None:
        if not isinstance(cfg, dict):
            raise TypeError("config must be a JSON object")
        allowed = {
            "latency_ms",
            "throttle_rate",
            "seed",
            "fail",
            "add_fail",
            "throttle_operations",
            "realism",
        }
        unknown = set(cfg) - allowed
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        # Validate everything before applying anything.
        latency = float(cfg["latency_ms"]) if "latency_ms" in cfg else None
        if latency is not None and not 0 <= latency <= 600_000:
            raise ValueError("latency_ms must be between 0 and 600000")
        rate = float(cfg["throttle_rate"]) if "throttle_rate" in cfg else None
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("throttle_rate must be between 0 and 1")
        rules = [FailRule.parse(r) for r in cfg["fail"]] if "fail" in cfg else None
        extra = [FailRule.parse(r) for r in cfg.get("add_fail") or []]
        ops = cfg.get("throttle_operations")
        if ops is not None and not isinstance(ops, list):
            raise ValueError("throttle_operations must be a list or null")
        realism = self.realism.config.updated(cfg["realism"]) if "realism" in cfg else None
        with self.lock:
            if latency is not None:
                self.latency_ms = latency
            if rate is not None:
                self.throttle_rate = rate
            if "seed" in cfg:
                self.seed = None if cfg["seed"] is None else int(cfg["seed"])
                self.rng = random.Random(self.seed)
            if rules is not None:
                self.fail_rules = rules
            self.fail_rules.extend(extra)
            if "throttle_operations" in cfg:
                self.throttle_operations = None if ops is None else {str(o) for o in ops}
        if realism is not None:
            self.realism.configure(realism)

    def config_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "latency_ms": self.latency_ms,
                "throttle_rate": self.throttle_rate,
                "seed": self.seed,
                "throttle_operations": (
                    None if self.throttle_operations is None else sorted(self.throttle_operations)
                ),
                "fail": [r.to_json() for r in self.fail_rules],
                "realism": self.realism.config.to_json(),
            }

    # -- counters --
    def reset_counters(self) -> None:
        with self.lock:
            self.total = 0
            self.calls: dict[str, int] = {}
            self.by_service: dict[str, int] = {}
            self.throttled: dict[str, int] = {}
            self.failed: dict[str, int] = {}
            self.forwarded: dict[str, int] = {}
            self.upstream_errors: dict[str, int] = {}
            self.upstream_status: dict[str, int] = {}
        self.realism.reset_counters()

    @staticmethod
    def _bump(d: dict[str, int], key: str) -> None:
        d[key] = d.get(key, 0) + 1

    def decide(self, service: str, operation: str) -> tuple[str, FailRule | None, float]:
        """Count the call and decide: ('fail', rule) / ('throttle', None) / ('forward', None)."""
        with self.lock:
            self.total += 1
            self._bump(self.calls, operation)
            self._bump(self.by_service, f"{service}:{operation}")
            latency = self.latency_ms
            for rule in self.fail_rules:
                if rule.remaining != 0 and rule.matches(service, operation):
                    if rule.remaining > 0:
                        rule.remaining -= 1
                    self._bump(self.failed, operation)
                    return "fail", rule, latency
            may_throttle = self.throttle_rate > 0 and (
                self.throttle_operations is None
                or operation in self.throttle_operations
                or f"{service}:{operation}" in self.throttle_operations
            )
            if may_throttle and self.rng.random() < self.throttle_rate:
                self._bump(self.throttled, operation)
                return "throttle", None, latency
            self._bump(self.forwarded, operation)
            return "forward", None, latency

    def unforward(self, operation: str) -> None:
        """A call counted as forwarded was answered by the realism mode instead."""
        with self.lock:
            left = self.forwarded.get(operation, 0) - 1
            if left > 0:
                self.forwarded[operation] = left
            else:
                self.forwarded.pop(operation, None)

    def record_upstream(self, operation: str, status: int | None) -> None:
        with self.lock:
            if status is None:
                self._bump(self.upstream_errors, operation)
            else:
                self._bump(self.upstream_status, str(status))

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "calls": dict(self.calls),
                "by_service": dict(self.by_service),
                "forwarded": dict(self.forwarded),
                "throttled": dict(self.throttled),
                "failed": dict(self.failed),
                "upstream_errors": dict(self.upstream_errors),
                "upstream_status": dict(self.upstream_status),
            } | self.realism.stats_json()
