"""Building blocks of the realism rule table: :class:`Rule` and the checks it runs.

A rule names a service (SigV4 signing name), the operations it applies to, the
parameter it constrains, a check, the error code AWS answers with and the
reference the constraint comes from. A check is ``check(call, state) -> problem
| None``; most are built from value tests with :func:`each`, e.g.
``each("GroupName", length(1, 255), no_prefix("sg-"))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.realism.call import Call


@dataclass
class RuleState:
    """What stateful rules need to know: topic name -> KMS key it was created with."""

    topic_keys: dict[str, str] = field(default_factory=dict)


Check = Callable[[Call, RuleState], "str | None"]
ValueTest = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Rule:
    id: str
    service: str  # SigV4 signing name
    operations: tuple[str, ...]  # "*" = every operation of the service
    parameter: str
    check: Check
    code: str
    citation: str
    status: int = 400

    def applies(self, call: Call) -> bool:
        return call.service == self.service and (
            "*" in self.operations or call.operation in self.operations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "operations": list(self.operations),
            "parameter": self.parameter,
            "code": self.code,
            "citation": self.citation,
        }


def number(value: Any) -> float | None:
    """A parameter as a number (None for booleans and what is not numeric)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def max_len(n: int) -> ValueTest:
    return lambda v: None if len(str(v)) <= n else f"must be at most {n} characters"


def length(lo: int, hi: int) -> ValueTest:
    return lambda v: None if lo <= len(str(v)) <= hi else f"must be {lo} to {hi} characters"


def pattern(regex: str, what: str) -> ValueTest:
    rx = re.compile(regex)
    return lambda v: None if rx.fullmatch(str(v)) else what


def no_prefix(prefix: str, what: str | None = None) -> ValueTest:
    problem = what or f"must not start with {prefix!r}"
    return lambda v: problem if str(v).lower().startswith(prefix) else None


def in_range(lo: float, hi: float, step: float | None = None) -> ValueTest:
    def test(v: Any) -> str | None:
        n = number(v)
        if n is None or not lo <= n <= hi:
            return f"must be between {lo:g} and {hi:g}"
        if step and abs(n / step - round(n / step)) > 1e-9:
            return f"must be a multiple of {step:g}"
        return None

    return test


def one_of(allowed: frozenset[int], what: str) -> ValueTest:
    def test(v: Any) -> str | None:
        n = number(v)
        return None if n is not None and n.is_integer() and int(n) in allowed else what

    return test


def each(locator: str, *tests: ValueTest) -> Check:
    """Every value at ``locator`` passes every test."""

    def check(call: Call, _state: RuleState) -> str | None:
        for value in call.values(locator):
            for test in tests:
                problem = test(value)
                if problem:
                    shown = str(value) if len(str(value)) <= 80 else f"{str(value)[:77]}..."
                    return f"Invalid value {shown!r} for {locator}: {problem}"
        return None

    return check


def all_of(*checks: Check) -> Check:
    """The first problem any of ``checks`` finds."""

    def check(call: Call, state: RuleState) -> str | None:
        for one in checks:
            problem = one(call, state)
            if problem:
                return problem
        return None

    return check


def at_most_items(locator: str, n: int) -> Check:
    """A list parameter has at most ``n`` entries."""

    def check(call: Call, _state: RuleState) -> str | None:
        count = call.count(locator)
        if count > n:
            return f"{locator} has {count} items; at most {n} are allowed"
        return None

    return check


def min_le_max(low: str, high: str, message: str) -> Check:
    """The number at ``low`` is not above the one at ``high`` (where both are given).

    ``message`` is formatted with ``lo`` and ``hi``, e.g. ``"{lo:g} > {hi:g}"``.
    """

    def check(call: Call, _state: RuleState) -> str | None:
        lo, hi = number(call.first(low)), number(call.first(high))
        if lo is not None and hi is not None and lo > hi:
            return message.format(lo=lo, hi=hi)
        return None

    return check
