"""Which parts of the realism mode are on (:class:`RealismConfig`) and for how long.

``deployment_alarm`` is not a part ``true`` / ``--aws-realism`` turns on: it names
the alarm that rolls the next deployment back (:mod:`proxy.realism.deployment_alarms`)
and clears itself once it has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_EC_SECONDS = 1.5
DEFAULT_LIFECYCLE_SECONDS = 2.0
MAX_SECONDS = 3600.0
#: The longest CloudWatch alarm name (PutMetricAlarm: AlarmName, 1 to 255 characters).
MAX_ALARM_NAME = 255


@dataclass(frozen=True)
class RealismConfig:
    rules: bool = False
    eventual_consistency_seconds: float = 0.0
    lifecycle_seconds: float = 0.0
    image_pulls: bool = False
    #: An alarm name, ``*`` (the first the service names) or None.
    deployment_alarm: str | None = None

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
        ``false`` (all off, ``deployment_alarm`` cleared) or an object with any
        subset of the fields."""
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
            "deployment_alarm",
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
        if "deployment_alarm" in spec:
            alarm = spec["deployment_alarm"]
            if alarm is not None and (
                not isinstance(alarm, str) or not 1 <= len(alarm) <= MAX_ALARM_NAME
            ):
                raise ValueError(
                    "realism.deployment_alarm must be an alarm name (1 to "
                    f'{MAX_ALARM_NAME} characters), "*" or null'
                )
            changes["deployment_alarm"] = alarm
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
