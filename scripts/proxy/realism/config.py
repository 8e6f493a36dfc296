"""Which parts of the realism mode are on (:class:`RealismConfig`) and for how long."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_EC_SECONDS = 1.5
DEFAULT_LIFECYCLE_SECONDS = 2.0
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class RealismConfig:
    rules: bool = False
    eventual_consistency_seconds: float = 0.0
    lifecycle_seconds: float = 0.0
    image_pulls: bool = False

    @classmethod
    def all_on(
        cls,
        eventual_consistency_seconds: float = DEFAULT_EC_SECONDS,
        lifecycle_seconds: float = DEFAULT_LIFECYCLE_SECONDS,
    ) -> RealismConfig:
        return cls(True, float(eventual_consistency_seconds), float(lifecycle_seconds), True)

    @property
    def active(self) -> bool:
        return (
            self.rules
            or self.image_pulls
            or self.eventual_consistency_seconds > 0
            or self.lifecycle_seconds > 0
        )

    def updated(self, spec: Any) -> RealismConfig:
        """A copy changed by ``spec``: ``true`` (all parts, default durations),
        ``false`` (all off) or an object with any subset of the fields."""
        if spec is True:
            return RealismConfig.all_on()
        if spec is False or spec is None:
            return RealismConfig()
        if not isinstance(spec, dict):
            raise TypeError("realism must be true, false or an object")
        unknown = set(spec) - {
            "rules",
            "eventual_consistency_seconds",
            "lifecycle_seconds",
            "image_pulls",
        }
        if unknown:
            raise ValueError(f"unknown realism keys: {sorted(unknown)}")
        changes: dict[str, Any] = {}
        for key in ("rules", "image_pulls"):
            if key in spec:
                if not isinstance(spec[key], bool):
                    raise ValueError(f"realism.{key} must be true or false")
                changes[key] = spec[key]
        for key in ("eventual_consistency_seconds", "lifecycle_seconds"):
            if key in spec:
                value = spec[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"realism.{key} must be a number of seconds")
                if not 0 <= value <= MAX_SECONDS:
                    raise ValueError(f"realism.{key} must be between 0 and {MAX_SECONDS:g}")
                changes[key] = float(value)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
